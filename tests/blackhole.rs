//! Eight KafkaClusters whose bootstrap servers never answer, beside one healthy KafkaCluster on
//! the real Kafka, all in one operator process. Every Kafka operation has an overall deadline
//! and a snapshot gives up its turn when it passes, so the blackholed clusters cannot keep the
//! healthy one from being observed: drift made behind the operator's back on the healthy
//! cluster (with Kafka's CLI) is reverted within one resync plus a few seconds, while each
//! blackholed KafkaCluster says `ClusterUnreachable` with "no answer from Kafka within 4 s".
//!
//! The blackholes run in this test: listeners that accept and never send a byte, and listeners
//! whose accept queue is full, so a connect hangs (the kernel drops the SYN). A non-routable
//! address is no blackhole on this machine: 10.255.255.1:9092 is answered at once by something
//! on the path, and 192.0.2.x fails with "no route to host" after 3 s.

mod common;

use std::time::Duration;

use common::*;
use kafka_topic_operator::api::KafkaCluster;
use kube::api::{Api, PostParams};
use serde_json::json;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::time::Instant;

const BLACKHOLED: usize = 8;
/// Bootstrap servers of each blackholed cluster, half silent, half never accepting: without an
/// overall deadline, one request could try them all, 2 s each.
const SERVERS_EACH: usize = 16;
const RESYNC: Duration = Duration::from_secs(5);
/// The operator's `--kafka-timeout`: a read's operation limit is twice that (4 s).
const KAFKA_TIMEOUT: &str = "2s";

/// Listening sockets that never answer, open while this lives.
struct Blackholes {
    silent: Vec<tokio::task::JoinHandle<()>>,
    /// Listeners with a full accept queue, and the connection that fills each.
    full: Vec<(TcpListener, TcpStream)>,
}

impl Blackholes {
    /// `n` addresses, alternating a silent listener and one that never accepts.
    async fn start(n: usize) -> (Blackholes, Vec<String>) {
        let mut holes = Blackholes {
            silent: vec![],
            full: vec![],
        };
        let mut addrs = vec![];
        for i in 0..n {
            if i % 2 == 0 {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                addrs.push(listener.local_addr().unwrap().to_string());
                holes.silent.push(tokio::spawn(async move {
                    let mut held = vec![];
                    while let Ok((socket, _)) = listener.accept().await {
                        held.push(socket);
                    }
                }));
            } else {
                let socket = TcpSocket::new_v4().unwrap();
                socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
                let addr = socket.local_addr().unwrap();
                let listener = socket.listen(0).unwrap();
                let queued = TcpStream::connect(addr).await.unwrap();
                addrs.push(addr.to_string());
                holes.full.push((listener, queued));
            }
        }
        (holes, addrs)
    }
}

impl Drop for Blackholes {
    fn drop(&mut self) {
        for task in &self.silent {
            task.abort();
        }
    }
}

/// Waits until every blackholed KafkaCluster says Ready=False/ClusterUnreachable with the
/// operation deadline's message; returns the messages.
async fn wait_all_unreachable(clusters: &Api<KafkaCluster>) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut messages = vec![];
        for i in 0..BLACKHOLED {
            let c = clusters.get(&format!("blackhole-{i}")).await.unwrap();
            if let Some((status, reason, message)) = cluster_condition(&c, "Ready")
                && status == "False"
                && reason == "ClusterUnreachable"
                && message.contains("no answer from Kafka within 4 s")
            {
                messages.push(message);
            }
        }
        if messages.len() == BLACKHOLED {
            return messages;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {BLACKHOLED} blackholed clusters report the deadline: {messages:?}",
            messages.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackholed_clusters_do_not_keep_drift_on_a_healthy_one_from_being_reverted() {
    let (_holes, addrs) = Blackholes::start(BLACKHOLED * SERVERS_EACH).await;
    let env = TestEnv::without_operator("blackhole", ClusterOptions::default()).await;
    let clusters = env.clusters();
    for (i, servers) in addrs.chunks(SERVERS_EACH).enumerate() {
        let kc: KafkaCluster = serde_json::from_value(json!({
            "apiVersion": "kafka.topic-operator.dev/v1alpha1",
            "kind": "KafkaCluster",
            "metadata": {"name": format!("blackhole-{i}")},
            "spec": {"bootstrapServers": servers}
        }))
        .unwrap();
        clusters.create(&PostParams::default(), &kc).await.unwrap();
    }
    let log = std::env::temp_dir().join(format!("{}-operator.log", env.ns));
    let _operator = OperatorProcess::start(
        &[
            "run",
            "--namespace",
            &env.ns,
            "--resync-interval",
            &format!("{}s", RESYNC.as_secs()),
            "--kafka-timeout",
            KAFKA_TIMEOUT,
            "--http-addr",
            "off",
        ],
        &[],
        &log,
    );

    let name = unique("beside-blackholes");
    env.apply_topic(
        "healthy",
        json!({"topicName": name, "config": {"retention.ms": 3600000}}),
    )
    .await;
    env.wait_ready("healthy").await;
    let messages = wait_all_unreachable(&clusters).await;
    eprintln!("a blackholed cluster says: {}", messages[0]);
    env.wait_cluster("the healthy cluster Ready", |c| {
        cluster_condition(c, "Ready").is_some_and(|r| r.0 == "True")
    })
    .await;

    // Drift behind the operator's back, while the blackholed clusters keep trying.
    common::kafka_cli::alter_config(&name, "retention.ms=60000");
    let changed = Instant::now();
    let within = RESYNC + Duration::from_secs(10);
    loop {
        let value = common::kafka_cli::overrides(&name)
            .get("retention.ms")
            .cloned();
        if value.as_deref() == Some("3600000") {
            break;
        }
        assert!(
            changed.elapsed() < within,
            "drift not reverted within {within:?} (Kafka shows retention.ms={value:?}); log: {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = changed.elapsed();
    eprintln!(
        "drift reverted {:.1} s after the change (resync {} s, CLI polling included)",
        took.as_secs_f64(),
        RESYNC.as_secs()
    );
    // ...and the blackholed clusters still say why they are not observed.
    wait_all_unreachable(&clusters).await;
}
