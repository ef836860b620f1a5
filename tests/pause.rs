//! Pause per topic (issue 20): a KafkaTopic annotated `kafka.topic-operator.dev/paused` is
//! observed and reported, nothing is written to Kafka for it, its deletion keeps the Kafka
//! topic, and lifting the pause applies the declaration from a fresh read, with an acks=all
//! producer writing through it and every acknowledged record read back.

mod common;

use std::time::Duration;

use common::kafka_cli;
use common::witness::{self, RATE, Witness};
use common::*;
use kafka_topic_operator::api::KafkaTopic;
use kube::api::{Patch, PatchParams};
use serde_json::json;

const PAUSED: &str = "kafka.topic-operator.dev/paused";

async fn set_pause(env: &TestEnv, name: &str, value: Option<&str>) {
    let patch = json!({"metadata": {"annotations": {PAUSED: value}}});
    env.topics()
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap_or_else(|e| panic!("annotating KafkaTopic {name}: {e}"));
}

fn drift_fields(t: &KafkaTopic) -> Vec<(String, String)> {
    t.status
        .as_ref()
        .map(|s| {
            s.drift
                .iter()
                .map(|d| (d.field.clone(), d.observed.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn ready_message(t: &KafkaTopic) -> String {
    condition(t, "Ready").map(|c| c.2).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_topic_is_reported_not_written_not_deleted_and_resumes_from_a_fresh_look() {
    let data = unique("paused");
    let doomed = unique("paused-del");
    let _cleanup = (
        witness::DeleteTopicOnDrop(data.clone()),
        witness::DeleteTopicOnDrop(doomed.clone()),
    );
    // A throttle rate no other test declares: the cluster's clean-up of idle broker rates (a
    // Kafka write, not of this topic) then never acts on another test's moves here.
    let env = TestEnv::start_with(
        "pause",
        ClusterOptions {
            reassignment: json!({"throttleBytesPerSecond": 1_234_567}),
            ..ClusterOptions::default()
        },
    )
    .await;
    let declared = json!({"topicName": data, "partitions": 3, "replicationFactor": 3,
        "minInSyncReplicas": 2, "config": {"retention.ms": 604800000}});
    env.apply_topic("data", declared.clone()).await;
    env.apply_topic(
        "doomed",
        json!({"topicName": doomed, "partitions": 1, "replicationFactor": 3,
               "minInSyncReplicas": 2, "deletionPolicy": "Delete"}),
    )
    .await;
    env.wait_ready("data").await;
    env.wait_ready("doomed").await;

    let witness = Witness::start("pause-unpause", &data);
    witness
        .wait_acked_more(4 * RATE, Duration::from_secs(60), "before the pause")
        .await;

    // Paused, with a note.
    set_pause(&env, "data", Some("moving to cluster B, ask #kafka")).await;
    set_pause(&env, "doomed", Some("true")).await;
    let paused = env.wait_reason("data", "Paused").await;
    assert!(
        ready_message(&paused).contains("\"moving to cluster B, ask #kafka\""),
        "{}",
        ready_message(&paused)
    );
    assert_eq!(
        condition(&paused, "Stalled").map(|c| c.1).as_deref(),
        Some("Paused")
    );
    env.wait_reason("doomed", "Paused").await;
    let writes_when_paused = env.kafka_writes();

    // Drift made with Kafka's CLI is reported, not reverted.
    kafka_cli::alter_config(&data, "retention.ms=1000000");
    let drifted = env
        .wait_topic("data", "the drift listed while paused", |t| {
            drift_fields(t).contains(&("config.retention.ms".into(), "1000000".into()))
        })
        .await;
    assert_eq!(
        condition(&drifted, "Drifted").map(|c| (c.0, c.1)),
        Some(("True".into(), "DriftDetected".into()))
    );
    assert!(
        ready_message(&drifted).contains("config.retention.ms: declared 604800000, found 1000000"),
        "{}",
        ready_message(&drifted)
    );

    // A spec change while paused is not applied.
    let mut grown = declared.clone();
    grown["partitions"] = json!(4);
    grown["config"]["max.message.bytes"] = json!(2097152);
    env.apply_topic("data", grown).await;
    env.wait_topic("data", "the spec change listed as drift", |t| {
        drift_fields(t).contains(&("partitions".into(), "3".into()))
    })
    .await;

    // Deleting a paused Delete-policy KafkaTopic keeps the Kafka topic and the KafkaTopic.
    env.delete_topic_resource("doomed").await;
    let event = env.wait_event("doomed", "DeletionPaused").await;
    assert!(
        event.contains("not deleted from Kafka while paused"),
        "{event}"
    );

    // Several looks at Kafka later, nothing was written.
    env.wait_resyncs(3).await;
    assert_eq!(
        kafka_cli::overrides(&data)
            .get("retention.ms")
            .map(String::as_str),
        Some("1000000"),
        "the drift stays while paused"
    );
    assert!(!kafka_cli::overrides(&data).contains_key("max.message.bytes"));
    assert_eq!(kafka_cli::describe(&data).unwrap().partition_count, 3);
    assert!(kafka_cli::exists(&doomed), "a paused topic is not deleted");
    let held = env.get_topic("doomed").await;
    assert!(held.metadata.deletion_timestamp.is_some());
    assert_eq!(
        condition(&held, "Ready").map(|c| c.1).as_deref(),
        Some("Paused")
    );
    assert_eq!(
        env.kafka_writes(),
        writes_when_paused,
        "no Kafka write while paused"
    );

    // Lifting the pause: the spec as it is now applied, the drift reverted, all from a fresh read.
    set_pause(&env, "data", None).await;
    let unpaused = std::time::Instant::now();
    env.wait_for(
        "retention.ms reverted, max.message.bytes set, 4 partitions in Kafka",
        || {
            let o = kafka_cli::overrides(&data);
            o.get("retention.ms").map(String::as_str) == Some("604800000")
                && o.get("max.message.bytes").map(String::as_str) == Some("2097152")
                && kafka_cli::describe(&data).is_some_and(|t| t.partition_count == 4)
        },
    )
    .await;
    println!(
        "pause: the declaration in Kafka {:.1} s after the pause was lifted",
        unpaused.elapsed().as_secs_f64()
    );
    let resumed = env.wait_ready("data").await;
    assert!(
        drift_fields(&resumed).is_empty(),
        "{:?}",
        drift_fields(&resumed)
    );
    witness
        .wait_acked_more(4 * RATE, Duration::from_secs(60), "after the pause")
        .await;
    // Checks zero failed sends and every acknowledged record read back, and prints the counts.
    let report = witness.finish(None).await;
    assert!(report.acked >= 8 * RATE, "acked {}", report.acked);

    // Lifting the pause on the KafkaTopic being deleted lets the deletion go on.
    set_pause(&env, "doomed", None).await;
    env.wait_topic_gone("doomed").await;
    env.wait_for("the Kafka topic deleted after the pause", || {
        !kafka_cli::exists(&doomed)
    })
    .await;
}
