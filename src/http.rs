//! The operator's HTTP endpoints: `/metrics` (Prometheus), `/healthz` (the process serves and
//! its controllers run), `/readyz` (the controllers' caches are synced). A minimal HTTP/1.1
//! responder: these three GETs are all it serves, so a web framework would only add weight.
//!
//! The server is reachable by anything in the cluster, so it is bounded: at most
//! [`Limits::max_connections`] connections are served at once (more are closed at once, before
//! anything is read), each connection gets [`Limits::per_connection`] to send its request and
//! take the answer, and a failed accept (e.g. out of file descriptors) pauses the loop instead
//! of ending it: a dead HTTP server fails the liveness probe and restarts a working operator.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::metrics::Metrics;

/// What the endpoints answer from.
#[derive(Clone)]
pub struct Endpoints {
    pub metrics: Arc<Metrics>,
    /// `/readyz`: the controllers' caches are synced (or this replica stands by).
    pub ready: Arc<AtomicBool>,
    /// `/healthz`: false once the controllers ended without being asked to, so the kubelet
    /// restarts the process.
    pub healthy: Arc<AtomicBool>,
}

/// How much the server takes on.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_connections: usize,
    /// From accept to the last byte of the answer.
    pub per_connection: Duration,
}

impl Default for Limits {
    /// 64 connections: a kubelet's probes and a few Prometheus scrapers need a handful, and 64
    /// answers of /metrics being written at once stay a few MiB. 10 s per connection: what
    /// Prometheus gives a scrape by default (it has given up by then), and ten times a kubelet
    /// probe's default timeout.
    fn default() -> Self {
        Limits {
            max_connections: 64,
            per_connection: Duration::from_secs(10),
        }
    }
}

/// The pause after a failed accept: doubled while accepts keep failing, up to a second.
const FIRST_ACCEPT_PAUSE: Duration = Duration::from_millis(50);
const MAX_ACCEPT_PAUSE: Duration = Duration::from_secs(1);

pub async fn serve(
    addr: SocketAddr,
    endpoints: Endpoints,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    info!(addr = %listener.local_addr()?, "serving /metrics, /healthz, /readyz");
    serve_on(|| listener.accept(), endpoints, Limits::default(), shutdown).await;
    Ok(())
}

/// Serves the connections `accept` yields until `shutdown`.
pub async fn serve_on<A, F>(
    mut accept: A,
    endpoints: Endpoints,
    limits: Limits,
    shutdown: CancellationToken,
) where
    A: FnMut() -> F,
    F: Future<Output = std::io::Result<(TcpStream, SocketAddr)>>,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut pause = FIRST_ACCEPT_PAUSE;
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => {
                pause = FIRST_ACCEPT_PAUSE;
                stream
            }
            Err(error) => {
                warn!(%error, pause_ms = pause.as_millis() as u64, "accepting an HTTP connection failed; pausing");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(MAX_ACCEPT_PAUSE);
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            debug!(
                max = limits.max_connections,
                "too many HTTP connections; closing a new one"
            );
            drop(stream);
            continue;
        };
        let endpoints = endpoints.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match tokio::time::timeout(limits.per_connection, respond(stream, &endpoints)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => warn!(error = %e, "HTTP request failed"),
                Err(_) => debug!(
                    timeout_s = limits.per_connection.as_secs_f32(),
                    "HTTP connection too slow; dropped"
                ),
            }
        });
    }
}

async fn respond(mut stream: TcpStream, endpoints: &Endpoints) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() > 16 * 1024 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let is = |flag: &AtomicBool| flag.load(Ordering::Relaxed);
    let (status, content_type, body) = match (method, path.split('?').next().unwrap_or("")) {
        ("GET", "/metrics") => (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            endpoints.metrics.encode(),
        ),
        ("GET", "/healthz") if is(&endpoints.healthy) => {
            ("200 OK", "text/plain", "ok\n".to_string())
        }
        ("GET", "/healthz") => (
            "503 Service Unavailable",
            "text/plain",
            "the controllers stopped; restart the process\n".to_string(),
        ),
        ("GET", "/readyz") if is(&endpoints.ready) => {
            ("200 OK", "text/plain", "ready\n".to_string())
        }
        ("GET", "/readyz") => (
            "503 Service Unavailable",
            "text/plain",
            "caches not synced yet\n".to_string(),
        ),
        _ => ("404 Not Found", "text/plain", "not found\n".to_string()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests;
