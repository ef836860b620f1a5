//! Health under a real broker failure: broker 3 is killed (SIGKILL) and restarted. This test
//! binary holds one test only, and test binaries run one after another, so no other test sees
//! the cluster with a broker down.

mod common;

use common::kafka_cli;
use common::*;
use serde_json::json;

fn health(t: &kafka_topic_operator::api::KafkaTopic) -> (i32, i32, i32) {
    let s = t.status.as_ref().unwrap();
    (
        s.under_replicated_partitions.unwrap_or(-1),
        s.offline_partitions.unwrap_or(-1),
        s.under_min_isr_partitions.unwrap_or(-1),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_counts_under_replicated_offline_and_under_min_isr_partitions() {
    let env = TestEnv::start("health").await;
    // Placed by hand so that losing broker 3 hurts each topic in one way.
    let urp = unique("urp");
    let offline = unique("offline");
    let min_isr = unique("minisr");
    kafka_cli::create(
        &urp,
        &[
            "--replica-assignment",
            "1:2:3,2:3:1",
            "--config",
            "min.insync.replicas=2",
        ],
    );
    kafka_cli::create(
        &offline,
        &[
            "--replica-assignment",
            "3",
            "--config",
            "min.insync.replicas=1",
        ],
    );
    kafka_cli::create(
        &min_isr,
        &[
            "--replica-assignment",
            "3:1",
            "--config",
            "min.insync.replicas=2",
        ],
    );
    env.apply_topic(
        "urp",
        json!({"topicName": urp, "partitions": 2, "replicationFactor": 3, "minInSyncReplicas": 2}),
    )
    .await;
    env.apply_topic("offline", json!({"topicName": offline, "partitions": 1, "replicationFactor": 1, "minInSyncReplicas": 1})).await;
    env.apply_topic("minisr", json!({"topicName": min_isr, "partitions": 1, "replicationFactor": 2, "minInSyncReplicas": 2})).await;
    for name in ["urp", "offline", "minisr"] {
        let t = env.wait_ready(name).await;
        assert_eq!(health(&t), (0, 0, 0), "{name} before the failure");
        assert_eq!(condition(&t, "Degraded").unwrap().0, "False");
    }

    assert_eq!(env.http_get("/healthz").0, 200);
    assert_eq!(env.http_get("/readyz").0, 200);
    let gauge = |metric: &str, name: &str| {
        env.metric(metric, &[("namespace", env.ns.as_str()), ("name", name)])
    };
    assert_eq!(
        gauge("kto_topic_under_replicated_partitions", "urp"),
        Some(0.0)
    );

    let down = BrokerDown::kill("3");
    let t = env
        .wait_topic("urp", "2 under-replicated partitions", |t| {
            health(t) == (2, 0, 0)
        })
        .await;
    assert_eq!(condition(&t, "Degraded").unwrap().1, "UnderReplicated");
    assert_eq!(
        t.status.as_ref().unwrap().state.as_deref(),
        Some("Degraded")
    );
    assert_eq!(
        kafka_cli::count_filtered(&urp, "--under-replicated-partitions"),
        2
    );

    let t = env
        .wait_topic("offline", "1 offline partition", |t| health(t).1 == 1)
        .await;
    assert_eq!(condition(&t, "Degraded").unwrap().1, "OfflinePartitions");
    assert_eq!(
        kafka_cli::count_filtered(&offline, "--unavailable-partitions"),
        1
    );

    let t = env
        .wait_topic("minisr", "1 partition under min ISR", |t| {
            health(t) == (1, 0, 1)
        })
        .await;
    assert_eq!(condition(&t, "Degraded").unwrap().1, "UnderMinIsr");
    assert_eq!(
        kafka_cli::count_filtered(&min_isr, "--under-min-isr-partitions"),
        1
    );

    // Prometheus sees the same, scraped while the broker is down.
    assert_eq!(
        gauge("kto_topic_under_replicated_partitions", "urp"),
        Some(2.0)
    );
    assert_eq!(gauge("kto_topic_offline_partitions", "offline"), Some(1.0));
    assert_eq!(
        gauge("kto_topic_under_min_isr_partitions", "minisr"),
        Some(1.0)
    );
    assert_eq!(
        gauge("kto_topic_under_min_isr_partitions", "urp"),
        Some(0.0)
    );
    let snapshots = env
        .metric(
            "kto_kafka_requests_total",
            &[("operation", "snapshot"), ("result", "ok")],
        )
        .unwrap_or(0.0);
    assert!(snapshots >= 1.0, "no Kafka request counted");
    assert!(
        env.metric(
            "kto_reconcile_total",
            &[("controller", "topic"), ("result", "ok")]
        )
        .unwrap_or(0.0)
            >= 3.0
    );
    // One Warning event per transition into Degraded.
    let warning = env.wait_event("offline", "OfflinePartitions").await;
    assert!(warning.starts_with("Warning"), "{warning}");

    drop(down); // restart broker 3
    for name in ["urp", "offline", "minisr"] {
        let t = env
            .wait_topic(name, "healthy again", |t| {
                health(t) == (0, 0, 0) && condition(t, "Degraded").is_some_and(|c| c.0 == "False")
            })
            .await;
        assert_eq!(t.status.unwrap().state.as_deref(), Some("InSync"));
    }
    assert_eq!(
        kafka_cli::count_filtered(&urp, "--under-replicated-partitions"),
        0
    );
}
