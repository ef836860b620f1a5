//! The operation deadline against real sockets that never answer: no Kafka needed to show that
//! an operation ends at its limit however many bootstrap servers it could try.

use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::time::Instant;

use super::*;
use crate::kafka::KafkaAdmin;

/// Accepts connections and never answers a byte; keeps them open while the task lives.
async fn silent_server() -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (addr, task)
}

/// A listener whose accept queue is full (backlog 0, one connection queued, never accepted):
/// the kernel drops further SYNs, so a connect hangs. Both are kept open by the caller.
async fn full_backlog() -> (String, TcpListener, TcpStream) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    let listener = socket.listen(0).unwrap();
    let queued = TcpStream::connect(addr).await.unwrap();
    (addr.to_string(), listener, queued)
}

#[tokio::test]
async fn an_operation_ends_at_its_limit_however_many_silent_servers_it_could_try() {
    let mut bootstrap = Vec::new();
    let mut keep = Vec::new();
    for _ in 0..6 {
        let (addr, task) = silent_server().await;
        bootstrap.push(addr);
        keep.push(task);
    }
    let mut backlogs = Vec::new();
    for _ in 0..6 {
        let (addr, listener, queued) = full_backlog().await;
        bootstrap.push(addr);
        backlogs.push((listener, queued));
    }
    // Alternate the two kinds: 12 servers, each worth a whole request timeout.
    let bootstrap: Vec<String> = (0..6)
        .flat_map(|i| [bootstrap[i].clone(), bootstrap[6 + i].clone()])
        .collect();
    let timeout = Duration::from_millis(500);
    let limit = operation_limit(timeout, Kind::Read);
    let admin = KafkaProtocolAdmin::new(bootstrap.clone(), timeout);

    let started = Instant::now();
    let first = admin.snapshot().await.expect_err("nothing answers");
    let took = started.elapsed();
    // 12 servers x 500 ms would be 6 s; the operation stops at its 1 s limit.
    assert!(
        took >= limit && took < limit + Duration::from_millis(1500),
        "took {took:?}, limit {limit:?}"
    );
    assert_eq!(first.reason(), crate::api::Reason::ClusterUnreachable);
    let message = first.to_string();
    assert!(
        message.starts_with("no answer from Kafka within 1 s (tried "),
        "{message}"
    );
    let tried = |message: &str, addr: &str| {
        message.contains(&format!("to {addr} got no answer"))
            || message.contains(&format!("{addr}: no answer"))
    };
    // From the first server on (the silent one: its handshake timed out), in order, as many as
    // the limit had time for (two, unless this machine is too busy to keep the timers).
    let reached = bootstrap.iter().take_while(|a| tried(&message, a)).count();
    assert!(reached >= 1, "{message}");

    // The next operation starts after the server the last one was still waiting for.
    let second = admin
        .snapshot()
        .await
        .expect_err("nothing answers")
        .to_string();
    assert!(!tried(&second, &bootstrap[0]), "{second}");
    assert!(tried(&second, &bootstrap[reached]), "{second}");
}
