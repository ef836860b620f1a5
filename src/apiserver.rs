//! The operator's apiserver clients. kube's client has no read timeout by default: a call on a
//! connection that stopped answering (a half-open TCP connection, an apiserver that hangs) would
//! wait forever, and with it the reconcile, the status write or the Lease release behind it. So
//! every call goes through a client with timeouts; only the watches keep a client without one
//! (a watch is silent for as long as nothing changes, and kube's watcher has its own idle
//! timeout, 290 s + a margin).
//!
//! Three clients, each with connections of its own:
//! - watches: kube's defaults;
//! - calls (status and finalizer patches, Secret reads, events): [`Timeouts::CALLS`];
//! - the Lease elector: [`Timeouts::lease`], so renewals never queue behind the controllers'
//!   traffic and a stalled connection is closed within one renew interval.

use std::time::Duration;

use anyhow::Context as _;
use kube::Client;

use crate::controller::ApiClients;

/// The transport timeouts of one client. The read timeout counts from when the request was
/// written (not from when its pooled connection went idle) and ends the connection when the
/// apiserver sends nothing for that long.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub connect: Duration,
    pub read: Duration,
    pub write: Duration,
}

impl Timeouts {
    /// 70 s: the apiserver answers or fails every call within its own request timeout (60 s by
    /// default, then 504), and under a mass creation it answered writes tens of seconds late, so
    /// a shorter timeout would cut calls it was still going to answer; 70 s of silence means
    /// the connection is gone, not the apiserver busy. Connecting (TCP and TLS) gets 10 s.
    pub const CALLS: Timeouts = Timeouts {
        connect: Duration::from_secs(10),
        read: Duration::from_secs(70),
        write: Duration::from_secs(70),
    };

    /// One renew interval for everything: each election attempt is given `renew` anyway
    /// (src/leader.rs), and a leader that cannot reach the apiserver for longer must give up
    /// before its lease lapses. The timeout also ends the stalled connection itself, so the
    /// next attempt opens a new one, and bounds the Lease release on shutdown.
    pub fn lease(renew: Duration) -> Timeouts {
        Timeouts {
            connect: renew,
            read: renew,
            write: renew,
        }
    }
}

/// A client for `config` with `timeouts`.
pub fn client_with(mut config: kube::Config, timeouts: Timeouts) -> kube::Result<Client> {
    config.connect_timeout = Some(timeouts.connect);
    config.read_timeout = Some(timeouts.read);
    config.write_timeout = Some(timeouts.write);
    // Count from the request, not from when the pooled connection last carried one.
    config.reset_reader_on_write = true;
    Client::try_from(config)
}

/// A client for watches: kube's defaults, no read timeout.
pub fn watch_client(config: kube::Config) -> kube::Result<Client> {
    Client::try_from(config)
}

/// The controllers' clients (watches, calls) and the Lease elector's, for `config`.
pub fn connect(
    config: kube::Config,
    lease_renew: Duration,
) -> anyhow::Result<(ApiClients, Client)> {
    let clients = ApiClients {
        watch: watch_client(config.clone()).context("connecting to Kubernetes")?,
        call: client_with(config.clone(), Timeouts::CALLS).context("connecting to Kubernetes")?,
    };
    let lease =
        client_with(config, Timeouts::lease(lease_renew)).context("connecting to Kubernetes")?;
    Ok((clients, lease))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::Lease;
    use kube::Api;

    /// An apiserver that accepts connections and never answers (a hung apiserver, or a
    /// connection whose peer is gone).
    async fn silent_apiserver() -> (kube::Config, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                open.push(stream);
            }
        });
        (kube::Config::new(url.parse().unwrap()), held)
    }

    #[tokio::test]
    async fn a_call_to_an_apiserver_that_stopped_answering_gives_up_after_the_read_timeout() {
        let (config, _apiserver) = silent_apiserver().await;
        let timeouts = Timeouts::lease(Duration::from_millis(500));
        let call: Api<Lease> = Api::namespaced(client_with(config, timeouts).unwrap(), "default");
        let started = std::time::Instant::now();
        let answer = tokio::time::timeout(Duration::from_secs(5), call.get_opt("lease")).await;
        let waited = started.elapsed();
        let error = answer
            .expect("still waiting after 5 s: the call has no read timeout")
            .expect_err("a silent apiserver cannot answer");
        assert!(waited >= timeouts.read, "gave up after {waited:?}: {error}");
        assert!(waited < timeouts.read * 4, "gave up after {waited:?}");
    }

    #[tokio::test]
    async fn the_watch_client_keeps_no_read_timeout() {
        let (config, _apiserver) = silent_apiserver().await;
        let watch: Api<Lease> = Api::namespaced(watch_client(config).unwrap(), "default");
        // A watch may be silent for minutes: its client must not end it after seconds.
        assert!(
            tokio::time::timeout(Duration::from_secs(2), watch.get_opt("lease"))
                .await
                .is_err()
        );
    }
}
