use std::pin::Pin;
use std::sync::atomic::AtomicUsize;
use std::time::Instant;

use super::*;

fn endpoints() -> Endpoints {
    Endpoints {
        metrics: Arc::new(Metrics::new()),
        ready: Arc::new(AtomicBool::new(true)),
        healthy: Arc::new(AtomicBool::new(true)),
    }
}

const TEST_LIMITS: Limits = Limits {
    max_connections: 8,
    per_connection: Duration::from_millis(500),
};

/// A server on a free port with `limits`; its address.
async fn start(endpoints: Endpoints, limits: Limits) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        serve_on(
            || listener.accept(),
            endpoints,
            limits,
            CancellationToken::new(),
        )
        .await
    });
    addr
}

/// One GET: the status code and body.
async fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    let code = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status in {answer:?}")))?;
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    Ok((code, body))
}

/// Whether the server closed `stream` (end of stream or reset) within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(within, stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

/// GETs `path` until it answers, for at most `deadline`.
async fn get_until_answered(addr: SocketAddr, path: &str, deadline: Duration) -> (u16, String) {
    let until = Instant::now() + deadline;
    loop {
        match get(addr, path).await {
            Ok(answer) => return answer,
            Err(e) => assert!(Instant::now() < until, "{path} never answered: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn healthz_answers_503_once_the_controllers_stopped() {
    let endpoints = endpoints();
    let addr = start(endpoints.clone(), TEST_LIMITS).await;
    assert_eq!(get(addr, "/healthz").await.unwrap().0, 200);
    endpoints.healthy.store(false, Ordering::Relaxed);
    let (code, body) = get(addr, "/healthz").await.unwrap();
    assert_eq!(code, 503);
    assert!(body.contains("controllers stopped"), "{body}");
}

#[tokio::test]
async fn more_idle_connections_than_the_cap_do_not_stop_healthz_from_answering() {
    let addr = start(endpoints(), TEST_LIMITS).await;
    let mut idle = Vec::new();
    for _ in 0..TEST_LIMITS.max_connections * 4 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // The server takes the first `max_connections`; every one after is closed at once.
    let mut closed_at_once = 0;
    for stream in &mut idle[TEST_LIMITS.max_connections..] {
        closed_at_once += closed_within(stream, Duration::from_millis(200)).await as usize;
    }
    assert_eq!(closed_at_once, TEST_LIMITS.max_connections * 3);
    // Those it took are dropped after the per-connection timeout, and /healthz answers then.
    let started = Instant::now();
    let (code, _) = get_until_answered(addr, "/healthz", TEST_LIMITS.per_connection * 4).await;
    assert_eq!(code, 200);
    assert!(started.elapsed() < TEST_LIMITS.per_connection * 4);
    for stream in &mut idle[..TEST_LIMITS.max_connections] {
        assert!(closed_within(stream, Duration::from_millis(100)).await);
    }
}

#[tokio::test]
async fn a_client_that_trickles_its_request_is_dropped_after_the_timeout() {
    let addr = start(endpoints(), TEST_LIMITS).await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    // One byte every 100 ms, never the end of the head: each read succeeds, so only a timeout
    // over the whole connection ends it.
    let trickle = async {
        for byte in b"GET /healthz HTTP/1.1\r\nHost: slow-loris-".iter().cycle() {
            if slow.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let deadline = TEST_LIMITS.per_connection * 6;
    assert!(
        tokio::time::timeout(deadline, trickle).await.is_ok(),
        "still connected after {deadline:?}"
    );
    let held = started.elapsed();
    assert!(held >= TEST_LIMITS.per_connection, "dropped after {held:?}");
}

type Accepted = Pin<Box<dyn Future<Output = std::io::Result<(TcpStream, SocketAddr)>> + Send>>;

#[tokio::test]
async fn failed_accepts_pause_the_server_and_it_goes_on() {
    let listener = Arc::new(TcpListener::bind("127.0.0.1:0").await.unwrap());
    let addr = listener.local_addr().unwrap();
    let attempts = Arc::new(AtomicUsize::new(0));
    let counted = attempts.clone();
    let accept = move || -> Accepted {
        let listener = listener.clone();
        // The first three accepts fail, as when the process is out of file descriptors.
        if counted.fetch_add(1, Ordering::SeqCst) < 3 {
            Box::pin(async { Err(std::io::Error::other("too many open files")) })
        } else {
            Box::pin(async move { listener.accept().await })
        }
    };
    tokio::spawn(serve_on(
        accept,
        endpoints(),
        TEST_LIMITS,
        CancellationToken::new(),
    ));
    let (code, _) = get_until_answered(addr, "/healthz", Duration::from_secs(5)).await;
    assert_eq!(code, 200);
    assert!(attempts.load(Ordering::SeqCst) > 3);
}
