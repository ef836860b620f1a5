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
    // Each server tried is named, followed by a space or a colon.
    let tried = |message: &str, addr: &str| {
        message.contains(&format!("{addr} ")) || message.contains(&format!("{addr}:"))
    };
    // From the first server on, in order, as many as were started by the deadline (one at once,
    // one more after each failure or stagger), each with what it did.
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

/// Answers ApiVersions, as a Kafka broker would before any other request, then nothing more.
async fn handshake_only_server() -> (String, tokio::task::JoinHandle<()>) {
    use bytes::{Buf, BytesMut};
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    use kafka_protocol::messages::{ApiVersionsResponse, ResponseHeader};
    use kafka_protocol::protocol::Encodable;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            let size = socket.read_i32().await.unwrap() as usize;
            let mut request = vec![0u8; size];
            socket.read_exact(&mut request).await.unwrap();
            // Request header: api key (2 bytes), version (2), correlation id (4).
            let correlation_id = (&request[4..8]).get_i32();
            let mut body = BytesMut::new();
            ResponseHeader::default()
                .with_correlation_id(correlation_id)
                .encode(&mut body, 0)
                .unwrap();
            ApiVersionsResponse::default()
                .with_api_keys(vec![
                    ApiVersion::default()
                        .with_api_key(3)
                        .with_min_version(0)
                        .with_max_version(12),
                ])
                .encode(&mut body, 3)
                .unwrap();
            socket.write_i32(body.len() as i32).await.unwrap();
            socket.write_all(&body).await.unwrap();
            held.push(socket);
        }
    });
    (addr, task)
}

#[tokio::test]
async fn a_server_that_answers_behind_silent_ones_is_reached_within_one_operation() {
    let mut bootstrap = Vec::new();
    let mut keep = Vec::new();
    let mut backlogs = Vec::new();
    for i in 0..3 {
        if i % 2 == 0 {
            let (addr, task) = silent_server().await;
            bootstrap.push(addr);
            keep.push(task);
        } else {
            let (addr, listener, queued) = full_backlog().await;
            bootstrap.push(addr);
            backlogs.push((listener, queued));
        }
    }
    let (good, task) = handshake_only_server().await;
    bootstrap.push(good.clone());
    keep.push(task);
    // One after the other, the three silent servers would take 1.5 s, past the 1 s limit.
    let timeout = Duration::from_millis(500);
    let limit = operation_limit(timeout, Kind::Read);
    let admin = KafkaProtocolAdmin::new(bootstrap, timeout);
    let started = Instant::now();
    let conn = admin
        .connect(started + limit, limit)
        .await
        .expect("the fourth server answers");
    assert_eq!(conn.addr(), good);
    assert!(started.elapsed() < limit, "took {:?}", started.elapsed());
    // ...and the next connection starts with it.
    assert_eq!(*lock(&admin.next_server), 3);
}
