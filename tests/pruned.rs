//! What the operator keeps per object goes with the object, against the real apiserver and
//! Kafka: a deleted KafkaTopic's series leave /metrics, and a deleted KafkaCluster's series
//! (its gauges and Kafka request series) leave with its observer.

mod common;

use std::time::Instant;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_kafkatopic_and_kafkacluster_leave_no_series_behind() {
    let env = TestEnv::start("pruned").await;
    let name = unique("pruned");
    env.apply_topic(
        "pruned",
        json!({"topicName": name, "deletionPolicy": "Delete"}),
    )
    .await;
    env.wait_ready("pruned").await;
    let ns = env.ns.clone();
    let topic = [("namespace", ns.as_str()), ("name", "pruned")];
    let cluster = [("namespace", ns.as_str()), ("cluster", "kafka")];
    let admin = [("namespace", ns.as_str()), ("cluster", "kafka")];
    // The KafkaCluster's gauge follows its own reconcile (debounced), a moment after the topic's.
    env.wait_for("the topic's and the cluster's series", || {
        env.metric("kto_topic_ready", &topic) == Some(1.0)
            && env.metric("kto_cluster_ready", &cluster) == Some(1.0)
    })
    .await;
    assert!(env.metric("kto_kafka_requests_total", &admin).is_some());

    env.delete_topic_resource("pruned").await;
    env.wait_topic_gone("pruned").await;
    let deleted = Instant::now();
    env.wait_for("the deleted KafkaTopic's series to go", || {
        env.metric("kto_topic_ready", &topic).is_none()
    })
    .await;
    let topic_took = deleted.elapsed();

    env.clusters()
        .delete("kafka", &Default::default())
        .await
        .expect("delete KafkaCluster");
    let deleted = Instant::now();
    let key = (ns.clone(), "kafka".to_string());
    env.wait_for(
        "the deleted KafkaCluster's series and observer to go",
        || {
            env.metric("kto_cluster_ready", &cluster).is_none()
                && env.metric("kto_kafka_requests_total", &admin).is_none()
                && env.observers.get(&key).is_none()
        },
    )
    .await;
    eprintln!(
        "series gone {topic_took:?} after the KafkaTopic, {:?} after the KafkaCluster",
        deleted.elapsed()
    );
    // The observer is stopped: nothing records for that cluster any more.
    assert!(
        env.metric("kto_kafka_request_duration_seconds_count", &admin)
            .is_none()
    );
}
