//! A TCP proxy between the operator and the apiserver (or one Kafka broker) that a test can
//! stall, slow down and heal.
//!
//! Stalled, bytes stop flowing both ways on every connection, old and new: a network partition,
//! not a refused connection (requests hang, nothing errors). Healed with [`StallingProxy::sever`],
//! the connections that were open are closed (what a client sees once a partition outlasts its
//! TCP connections) and new ones flow, so clients reconnect: a watch resumes from the last
//! resource version it saw.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::env_var;

pub struct StallingProxy {
    pub addr: SocketAddr,
    cut: Arc<AtomicBool>,
    /// Added before every chunk of bytes is passed on, both ways (milliseconds).
    delay_ms: Arc<AtomicU64>,
    /// Connections opened before the last [`StallingProxy::sever`] are closed.
    epoch: Arc<AtomicU64>,
}

impl StallingProxy {
    pub async fn start(target: String) -> StallingProxy {
        Self::start_on("127.0.0.1:0", target).await
    }

    /// A proxy listening on `listen` (a fixed address, e.g. one that Kafka advertises).
    pub async fn start_on(listen: &str, target: String) -> StallingProxy {
        let listener = TcpListener::bind(listen)
            .await
            .unwrap_or_else(|e| panic!("proxy cannot listen on {listen}: {e}"));
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let epoch = Arc::new(AtomicU64::new(0));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let (flag, generation, delay) = (cut.clone(), epoch.clone(), delay_ms.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (target, flag, generation, delay) = (
                    target.clone(),
                    flag.clone(),
                    generation.clone(),
                    delay.clone(),
                );
                tokio::spawn(async move {
                    let born = generation.load(Ordering::SeqCst);
                    let Ok(server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    let stall = Stall {
                        cut: flag,
                        delay_ms: delay,
                        epoch: generation.clone(),
                        born,
                    };
                    let severed = async {
                        while generation.load(Ordering::SeqCst) == born {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    };
                    // Severed: both sockets are dropped (closed), with whatever bytes they held.
                    tokio::select! {
                        _ = async { tokio::join!(pump(cr, sw, &stall), pump(sr, cw, &stall)) } => {}
                        _ = severed => {}
                    }
                });
            }
        });
        StallingProxy {
            addr,
            cut,
            delay_ms,
            epoch,
        }
    }

    /// The proxy to the apiserver of $KUBECONFIG, and a copy of that kubeconfig pointing at it
    /// (written to `path`).
    pub async fn to_apiserver(path: PathBuf) -> (StallingProxy, PathBuf) {
        let kubeconfig = std::fs::read_to_string(env_var("KUBECONFIG")).unwrap();
        let apiserver = kubeconfig
            .lines()
            .find_map(|l| l.trim().strip_prefix("server: https://"))
            .expect("server in the kubeconfig")
            .to_string();
        let proxy = StallingProxy::start(apiserver.clone()).await;
        std::fs::write(
            &path,
            kubeconfig.replace(&apiserver, &proxy.addr.to_string()),
        )
        .unwrap();
        (proxy, path)
    }

    /// Holds every chunk of bytes for `delay` before passing it on (zero: no delay).
    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Stops bytes on every connection, old and new.
    pub fn stall(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }

    /// Closes every connection open now (dropping the bytes they held) and lets new ones flow.
    pub fn sever(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// What one connection's pumps look at.
struct Stall {
    cut: Arc<AtomicBool>,
    delay_ms: Arc<AtomicU64>,
    epoch: Arc<AtomicU64>,
    born: u64,
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    stall: &Stall,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Stalled: hold the bytes (the connection stays open, silent).
        while stall.cut.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let delay = stall.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        // Severed while stalled: the held bytes are lost with the connection, never delivered
        // late (a watch must not receive the events it missed through its old connection).
        if stall.epoch.load(Ordering::SeqCst) != stall.born {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
