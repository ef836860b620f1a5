//! Keys other tools own (issue 20): a KafkaCluster's `policy.ignoredConfigKeys` are never drift
//! and never removed, the topic's status lists them, and a KafkaTopic declaring one is refused.

mod common;

use common::kafka_cli;
use common::witness;
use common::*;
use kafka_topic_operator::api::KafkaTopic;
use kube::api::{Patch, PatchParams};
use serde_json::json;

fn ignored_configs(t: &KafkaTopic) -> Vec<(String, String)> {
    t.status
        .as_ref()
        .map(|s| {
            s.ignored_configs
                .iter()
                .map(|c| (c.name.clone(), c.value.clone()))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignored_keys_are_neither_drift_nor_removed_and_are_listed() {
    let name = unique("ignored");
    let _cleanup = witness::DeleteTopicOnDrop(name.clone());
    let env = TestEnv::start("ignored").await;
    let patch = json!({"spec": {"policy": {"ignoredConfigKeys":
        ["message.timestamp.*", "max.compaction.lag.ms"]}}});
    env.clusters()
        .patch("kafka", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch the KafkaCluster");
    env.wait_cluster("status.ignoredConfigKeys", |c| {
        c.status.as_ref().is_some_and(|s| {
            s.ignored_config_keys == ["message.timestamp.*", "max.compaction.lag.ms"]
        })
    })
    .await;
    env.apply_topic(
        "tiered",
        json!({"topicName": name, "partitions": 1, "replicationFactor": 3,
               "minInSyncReplicas": 2, "config": {"retention.ms": 604800000}}),
    )
    .await;
    env.wait_ready("tiered").await;

    // Another tool sets an ignored key; someone else adds an override that is drift.
    kafka_cli::alter_config(
        &name,
        "message.timestamp.after.max.ms=3600000,segment.ms=3600000",
    );
    // The operator acted on the topic after both were set: the drift is gone...
    env.wait_for("segment.ms removed as drift", || {
        !kafka_cli::overrides(&name).contains_key("segment.ms")
    })
    .await;
    // ...and the ignored key is still there, listed, not drift.
    let t = env
        .wait_topic("tiered", "status.ignoredConfigs", |t| {
            !ignored_configs(t).is_empty()
        })
        .await;
    assert_eq!(
        ignored_configs(&t),
        vec![("message.timestamp.after.max.ms".into(), "3600000".into())]
    );
    env.wait_resyncs(2).await;
    let t = env.wait_ready("tiered").await;
    assert!(t.status.as_ref().unwrap().drift.is_empty());
    assert_eq!(
        kafka_cli::overrides(&name)
            .get("message.timestamp.after.max.ms")
            .map(String::as_str),
        Some("3600000"),
        "an ignored key is never removed"
    );

    // A KafkaTopic that declares an ignored key is refused, and nothing of it is created.
    let declared = unique("ignored-decl");
    let _cleanup_declared = witness::DeleteTopicOnDrop(declared.clone());
    env.apply_topic(
        "declares",
        json!({"topicName": declared, "partitions": 1, "replicationFactor": 3,
               "config": {"max.compaction.lag.ms": 86400000}}),
    )
    .await;
    let refused = env.wait_reason("declares", "InvalidSpec").await;
    let message = condition(&refused, "Ready").unwrap().2;
    assert!(
        message.contains("max.compaction.lag.ms (ignored as max.compaction.lag.ms)"),
        "{message}"
    );
    assert!(!kafka_cli::exists(&declared));

    // Keys the operator must manage cannot be ignored: refused at admission with the reason.
    for entry in [
        "min.insync.replicas",
        "min.*",
        "leader.replication.throttled.replicas",
    ] {
        let bad = json!({"spec": {"policy": {"ignoredConfigKeys": [entry]}}});
        let error = env
            .clusters()
            .patch("kafka", &PatchParams::default(), &Patch::Merge(&bad))
            .await
            .expect_err(entry)
            .to_string();
        assert!(error.contains("cannot be ignored"), "{entry}: {error}");
    }
    let bad = json!({"spec": {"policy": {"ignoredConfigKeys": ["retention ms"]}}});
    let refused = env
        .clusters()
        .patch("kafka", &PatchParams::default(), &Patch::Merge(&bad))
        .await;
    assert!(refused.is_err(), "a key with a space is refused");
}
