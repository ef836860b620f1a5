//! Fencing: two operator replicas never write to Kafka in the same period, also when a write
//! is in flight as leadership changes hands. The leader is cut off
//! from the apiserver (a TCP proxy that stalls: requests hang, nothing errors) while it keeps
//! reverting drift; it must stop sending Kafka writes before its lease can expire, and the
//! standby, which judges expiry on its own clock, takes over only after that. Each replica's
//! own Kafka request counters are the witness.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::http;
use common::proxy::StallingProxy;
use common::*;
use serde_json::json;

const LEASE: Duration = Duration::from_secs(6);
const RENEW: Duration = Duration::from_secs(2);

fn start(ns: &str, identity: &str, http: SocketAddr, kubeconfig: &str) -> OperatorProcess {
    let http = http.to_string();
    OperatorProcess::start(
        &[
            "run",
            "--namespace",
            ns,
            "--resync-interval",
            "1s",
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
        &[("POD_NAME", identity), ("KUBECONFIG", kubeconfig)],
        &std::env::temp_dir().join(format!("{ns}-{identity}.log")),
    )
}

/// Topic config writes Kafka accepted from one replica, from its /metrics.
fn config_writes(http: SocketAddr) -> f64 {
    let body = http::http_get(&http.to_string(), "/metrics")
        .map(|(_, body)| body)
        .unwrap_or_default();
    http::metric_sum(
        &body,
        "kto_kafka_requests_total",
        &[("operation", "alter_topic_configs"), ("result", "ok")],
    )
}

/// Two replicas: replica-a leading through an apiserver proxy a test can stall, replica-b
/// standing by; and a topic someone keeps changing behind the operator's back, so the leader
/// keeps writing (reverting) and there is always a write to fence.
struct Drifting {
    proxy: StallingProxy,
    http_a: SocketAddr,
    http_b: SocketAddr,
    name: String,
    stop: Arc<AtomicBool>,
    drifter: Option<std::thread::JoinHandle<()>>,
    _replicas: (OperatorProcess, OperatorProcess),
    _cleanup: witness::DeleteTopicOnDrop,
}

impl Drifting {
    fn stop_drift(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(drifter) = self.drifter.take() {
            drifter.join().unwrap();
        }
    }
}

impl Drop for Drifting {
    fn drop(&mut self) {
        self.stop_drift();
    }
}

/// [`Drifting`], once replica-a has reverted the drift twice.
async fn leader_reverting_drift(env: &TestEnv, prefix: &str) -> Drifting {
    let (proxy, proxied) = StallingProxy::to_apiserver(
        std::env::temp_dir().join(format!("{}-proxied.kubeconfig", env.ns)),
    )
    .await;
    let (http_a, http_b) = (free_addr(), free_addr());
    let a = start(&env.ns, "replica-a", http_a, proxied.to_str().unwrap());
    let deadline = Instant::now() + WAIT;
    while lease_holder(&env.ns) != "replica-a" {
        assert!(Instant::now() < deadline, "replica-a never became leader");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let b = start(&env.ns, "replica-b", http_b, &env_var("KUBECONFIG"));
    let name = unique(prefix);
    env.apply_topic(
        "drifting",
        json!({"topicName": name, "partitions": 1, "config": {"retention.ms": 86400000}}),
    )
    .await;
    env.wait_ready("drifting").await;
    let stop = Arc::new(AtomicBool::new(false));
    let drifter = {
        let (stop, name) = (stop.clone(), name.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                kafka_cli::alter_config(&name, "retention.ms=1000");
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    let deadline = Instant::now() + WAIT;
    while config_writes(http_a) < 2.0 {
        assert!(
            Instant::now() < deadline,
            "replica-a never reverted the drift"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Drifting {
        proxy,
        http_a,
        http_b,
        _cleanup: witness::DeleteTopicOnDrop(name.clone()),
        name,
        stop,
        drifter: Some(drifter),
        _replicas: (a, b),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_the_apiserver_stops_writing_before_the_standby_starts() {
    let env = TestEnv::without_operator("fencing", ClusterOptions::default()).await;
    let mut drifting = leader_reverting_drift(&env, "fenced").await;
    let (proxy, http_a, http_b) = (&drifting.proxy, drifting.http_a, drifting.http_b);
    let name = drifting.name.clone();

    // Partition replica-a from the apiserver. Watch both replicas' writes.
    proxy.stall();
    let cut_at = Instant::now();
    let (mut a_writes, mut a_last) = (config_writes(http_a), cut_at);
    let mut b_first: Option<Instant> = None;
    let deadline = cut_at + WAIT;
    loop {
        let now = Instant::now();
        let a = config_writes(http_a);
        if a > a_writes {
            a_writes = a;
            a_last = now;
        }
        if b_first.is_none() && config_writes(http_b) > 0.0 {
            b_first = Some(now);
        }
        if let Some(first) = b_first
            && config_writes(http_b) >= 2.0
            && now.duration_since(first) > RENEW
        {
            break;
        }
        assert!(
            now < deadline,
            "replica-b never took over writing (holder {})",
            lease_holder(&env.ns)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drifting.stop_drift();
    let b_first = b_first.unwrap();

    eprintln!(
        "fencing: replica-a's last write {:?} after the cut, replica-b's first {:?} after it",
        a_last - cut_at,
        b_first - cut_at
    );
    assert_eq!(lease_holder(&env.ns), "replica-b");
    assert!(
        a_last < b_first,
        "replica-a wrote {:?} after the cut, replica-b's first write {:?} after it",
        a_last - cut_at,
        b_first - cut_at
    );
    // replica-a stopped within its lease (it could not renew), well before replica-b began.
    assert!(
        a_last - cut_at <= LEASE,
        "replica-a kept writing {:?} after the cut",
        a_last - cut_at
    );
    assert!(
        b_first - cut_at >= LEASE - RENEW,
        "replica-b started {:?} after the cut, before the lease could expire",
        b_first - cut_at
    );
    let log_a =
        std::fs::read_to_string(std::env::temp_dir().join(format!("{}-replica-a.log", env.ns)))
            .unwrap();
    assert!(log_a.contains("could not renew the lease"), "{log_a}");
    // Since the cut, nothing replica-a wrote reached Kafka's topic after replica-b took over:
    // the topic ends with the declared value.
    env.wait_for("the declared retention.ms back", || {
        kafka_cli::overrides(&name)
            .get("retention.ms")
            .map(String::as_str)
            == Some("86400000")
    })
    .await;
}

/// How long the proxy holds the stopping leader's writes in transit.
const HOLD: Duration = Duration::from_secs(4);

/// A rolling update while a write is in flight: the leader is SIGTERMed while its Kafka write
/// is held in transit (a slow network or controller). It must not hand over until that write is
/// over, so the new leader's first write lands after it; Kafka keeps the newest declaration,
/// and records flow throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_in_flight_when_the_leader_stops_lands_before_the_new_leaders_first() {
    let proxy = common::kafka_proxy::KafkaProxy::start(bootstrap_list()[0].clone()).await;
    let env = TestEnv::without_operator(
        "midwrite",
        ClusterOptions {
            bootstrap: vec![proxy.addr.to_string()],
            ..Default::default()
        },
    )
    .await;
    let kubeconfig = env_var("KUBECONFIG");
    let (http_a, http_b) = (free_addr(), free_addr());
    let a = start(&env.ns, "replica-a", http_a, &kubeconfig);
    let deadline = Instant::now() + WAIT;
    while lease_holder(&env.ns) != "replica-a" {
        assert!(Instant::now() < deadline, "replica-a never became leader");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let _b = start(&env.ns, "replica-b", http_b, &kubeconfig);
    let name = unique("midwrite");
    let _cleanup = witness::DeleteTopicOnDrop(name.clone());
    let retention =
        |ms: u64| json!({"topicName": name, "partitions": 1, "config": {"retention.ms": ms}});
    env.apply_topic("midwrite", retention(1_000_000)).await;
    env.wait_ready("midwrite").await;
    let witness = witness::Witness::start("midwrite", &name);
    witness
        .wait_acked_more(
            2 * witness::RATE,
            Duration::from_secs(60),
            "before the change",
        )
        .await;

    // replica-a's writes (its connections are open now) are held in transit from here on.
    let first_of_b = proxy.hold_open_connections(HOLD);
    env.apply_topic("midwrite", retention(2_000_000)).await;
    let deadline = Instant::now() + WAIT;
    while proxy.held_now() == 0 {
        assert!(Instant::now() < deadline, "replica-a never sent its write");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.terminate();
    let deadline = Instant::now() + WAIT;
    while lease_holder(&env.ns) != "replica-b" {
        assert!(Instant::now() < deadline, "replica-b never took over");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    env.apply_topic("midwrite", retention(3_000_000)).await;
    let newest = || {
        kafka_cli::overrides(&name)
            .get("retention.ms")
            .map(String::as_str)
            == Some("3000000")
    };
    env.wait_for("retention.ms=3000000 in Kafka", newest).await;
    // Longer than any write of replica-a could still be held: Kafka keeps the newest value.
    tokio::time::sleep(HOLD + Duration::from_secs(2)).await;
    assert!(newest(), "an older write landed after the newer one");

    // The proxy's log: every write of replica-a went on to Kafka before replica-b's first.
    let log = proxy.log();
    let of_a: Vec<_> = log.iter().filter(|f| f.connection < first_of_b).collect();
    let of_b: Vec<_> = log.iter().filter(|f| f.connection >= first_of_b).collect();
    eprintln!("midwrite: replica-a's writes {of_a:?}; replica-b's {of_b:?}");
    assert!(
        of_a.iter()
            .any(|f| f.sets.contains(&"retention.ms=2000000".to_string())),
        "replica-a's held write is not in the log: {log:?}"
    );
    let b_first = of_b.iter().map(|f| f.at).min().expect("replica-b wrote");
    assert!(
        of_a.iter().all(|f| f.at < b_first),
        "a write of the old leader reached Kafka after the new leader's first: {log:?}"
    );
    let report = witness.finish(None).await;
    eprintln!("midwrite: {report:?}");
}

/// The Lease is deleted while the leader, cut off from the apiserver, still writes (its fence
/// is open until its last renewal's deadline). The standby creates a new Lease at once, but
/// starts writing only after a whole lease duration: the two replicas' writes, from each one's
/// own counters, never interleave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_lease_does_not_let_the_standby_write_while_the_old_leader_may() {
    // Both replicas reach Kafka through a proxy that logs the writes it passes on.
    let kafka = common::kafka_proxy::KafkaProxy::start(bootstrap_list()[0].clone()).await;
    let env = TestEnv::without_operator(
        "lease-deleted",
        ClusterOptions {
            bootstrap: vec![kafka.addr.to_string()],
            ..Default::default()
        },
    )
    .await;
    let mut drifting = leader_reverting_drift(&env, "lease-deleted").await;
    let proxy = &drifting.proxy;

    // replica-a cut off from the apiserver (its fence closes at its last renewal's deadline),
    // the Lease deleted. The standby never connected to Kafka: its connections come after.
    proxy.stall();
    let first_of_b = kafka.hold_open_connections(Duration::ZERO);
    kubectl(&["delete", "lease", "kafka-topic-operator", "-n", &env.ns]);
    let deleted_at = Instant::now();
    let b_writes = || {
        kafka
            .log()
            .into_iter()
            .filter(|f| f.connection >= first_of_b)
            .collect::<Vec<_>>()
    };
    let deadline = deleted_at + WAIT;
    while b_writes().is_empty() {
        assert!(
            Instant::now() < deadline,
            "replica-b never wrote (holder {})",
            lease_holder(&env.ns)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drifting.stop_drift();
    let b_first = b_writes().iter().map(|f| f.at).min().unwrap();
    let a_last = kafka
        .log()
        .iter()
        .filter(|f| f.connection < first_of_b && f.at > deleted_at)
        .map(|f| f.at)
        .max();
    eprintln!(
        "lease deleted: replica-a's last write {:?} after, replica-b's first {:?} after",
        a_last.map(|t| t - deleted_at),
        b_first - deleted_at
    );
    assert_eq!(lease_holder(&env.ns), "replica-b");
    assert!(
        a_last.is_none_or(|a| a < b_first),
        "replica-a's write reached Kafka after replica-b's first"
    );
    assert!(
        b_first - deleted_at >= LEASE - RENEW,
        "replica-b wrote {:?} after the deletion, before the old lease could have ended",
        b_first - deleted_at
    );
}
