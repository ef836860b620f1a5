//! Two operator processes with leader election: only the leader reconciles; when it is killed
//! (SIGKILL, no chance to release its lease) the other takes over within the lease time. Each
//! says on /metrics whether it leads (`kto_leader`), and a standby answers /readyz.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const LEASE: Duration = Duration::from_secs(6);
const RENEW: Duration = Duration::from_secs(2);

fn start(ns: &str, identity: &str, http: std::net::SocketAddr) -> OperatorProcess {
    let http = http.to_string();
    OperatorProcess::start(
        &[
            "run",
            "--namespace",
            ns,
            "--resync-interval",
            "2s",
            "--http-addr",
            &http,
            "--leader-election",
            "--lease-namespace",
            ns,
            "--lease-duration",
            "6s",
            "--lease-renew",
            "2s",
        ],
        &[("POD_NAME", identity)],
        &std::env::temp_dir().join(format!("{ns}-{identity}.log")),
    )
}

/// `kto_leader` as the replica at `http` reports it; None while it does not answer.
fn leader_gauge(http: std::net::SocketAddr) -> Option<f64> {
    let (_, body) = http::http_get(&http.to_string(), "/metrics")?;
    http::metric_samples(&body, "kto_leader", &[]).next()
}

/// Waits until the replica at `http` reports `kto_leader` = `value`.
async fn wait_leader_gauge(http: std::net::SocketAddr, value: f64, what: &str) {
    let deadline = Instant::now() + WAIT;
    while leader_gauge(http) != Some(value) {
        assert!(
            Instant::now() < deadline,
            "{what}: kto_leader is {:?}, not {value}",
            leader_gauge(http)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_takes_over_when_the_leader_dies() {
    let env = TestEnv::without_operator("leader", ClusterOptions::default()).await;
    let (http_a, http_b) = (free_addr(), free_addr());
    let mut a = start(&env.ns, "replica-a", http_a);
    let deadline = Instant::now() + WAIT;
    while kubectl(&["get", "lease", "-n", &env.ns, "-o", "name"])
        .trim()
        .is_empty()
        || lease_holder(&env.ns) != "replica-a"
    {
        assert!(Instant::now() < deadline, "replica-a never became leader");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let _b = start(&env.ns, "replica-b", http_b);
    let first = unique("led-by-a");
    env.apply_topic("first", json!({"topicName": first})).await;
    env.wait_ready("first").await;
    // The standby has had two renewals' worth of chances to take a lease that is alive.
    let mut seen = lease_field(&env.ns, "renewTime");
    let deadline = Instant::now() + WAIT;
    for renewal in 1..=2 {
        while lease_field(&env.ns, "renewTime") == seen {
            assert!(
                Instant::now() < deadline,
                "renewal {renewal} of the live leader's lease did not happen"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        seen = lease_field(&env.ns, "renewTime");
    }
    assert_eq!(
        lease_holder(&env.ns),
        "replica-a",
        "the standby took the lease from a live leader"
    );
    // Each replica says whether it leads; the standby is ready to take over.
    wait_leader_gauge(http_a, 1.0, "the leader").await;
    wait_leader_gauge(http_b, 0.0, "the standby").await;
    assert_eq!(
        http::http_get(&http_b.to_string(), "/readyz").map(|r| r.0),
        Some(200),
        "a standby answers /readyz 200"
    );

    // Kill the leader without letting it release the lease.
    a.0.kill().unwrap();
    a.0.wait().unwrap();
    let killed = Instant::now();
    while lease_holder(&env.ns) != "replica-b" {
        assert!(
            killed.elapsed() < LEASE + RENEW * 2 + Duration::from_secs(10),
            "replica-b did not take over"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The standby judges expiry on its own clock: from when it saw the last renewal (up to one
    // poll after it), the lease's duration, then up to one more poll. Never sooner than LEASE.
    let took_over = killed.elapsed();
    assert!(
        took_over <= LEASE + RENEW * 2 + Duration::from_secs(1),
        "takeover took {took_over:?}, lease is {LEASE:?}"
    );
    wait_leader_gauge(http_b, 1.0, "the replica that took over").await;

    // The new leader carries on.
    let second = unique("led-by-b");
    env.apply_topic("second", json!({"topicName": second}))
        .await;
    env.wait_ready("second").await;
    assert!(common::kafka_cli::exists(&second));
    let log =
        std::fs::read_to_string(std::env::temp_dir().join(format!("{}-replica-b.log", env.ns)))
            .unwrap();
    assert!(
        log.contains("another replica leads; standing by") && log.contains("became the leader"),
        "{log}"
    );
}
