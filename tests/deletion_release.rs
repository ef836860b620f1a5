//! A Delete finalizer never holds a KafkaTopic (and so its namespace's deletion) for ever
//! (docs/deletion.md): when its KafkaCluster is gone the finalizer is released and the Kafka
//! topic left in place, said in an event; when Kafka cannot be reached the deletion waits
//! (`Ready=False/DeleteFailed`, retried) until the user sets `deletionPolicy: Retain` on the
//! KafkaTopic being deleted, which releases it and keeps the topic. Kafka's own CLI confirms the
//! topic stays.

mod common;

use common::*;
use kafka_topic_operator::api::KafkaCluster;
use kube::api::{Patch, PatchParams};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafkatopic_whose_kafkacluster_is_gone_is_released_and_its_topic_kept() {
    let env = TestEnv::start("release-gone").await;
    let name = unique("orphan");
    env.apply_topic(
        "orphan",
        json!({"topicName": name, "deletionPolicy": "Delete"}),
    )
    .await;
    env.wait_ready("orphan").await;
    assert!(kafka_cli::exists(&name));

    env.clusters()
        .delete("kafka", &Default::default())
        .await
        .expect("delete the KafkaCluster");
    env.delete_topic_resource("orphan").await;
    env.wait_topic_gone("orphan").await;
    let said = env.wait_event("orphan", "TopicNotDeleted").await;
    assert!(said.contains("KafkaCluster kafka is gone"), "{said}");
    assert!(
        kafka_cli::exists(&name),
        "the topic must stay when its KafkaCluster is gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_kafka_cannot_take_waits_until_retain_releases_it() {
    let env = TestEnv::start("release-unreachable").await;
    let name = unique("stuck");
    env.apply_topic(
        "stuck",
        json!({"topicName": name, "deletionPolicy": "Delete"}),
    )
    .await;
    env.wait_ready("stuck").await;

    // Kafka out of reach: the KafkaCluster now points at a port nobody listens on.
    let clusters: kube::Api<KafkaCluster> = env.clusters();
    clusters
        .patch(
            "kafka",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"bootstrapServers": ["127.0.0.1:1"]}})),
        )
        .await
        .expect("point the KafkaCluster nowhere");
    env.wait_cluster("cluster unreachable", |c| {
        cluster_condition(c, "Ready").is_some_and(|r| r.0 == "False")
    })
    .await;

    env.delete_topic_resource("stuck").await;
    let held = env.wait_reason("stuck", "DeleteFailed").await;
    assert!(
        held.metadata.deletion_timestamp.is_some(),
        "held by its finalizer"
    );
    assert!(kafka_cli::exists(&name));

    // The user's way out: keep the topic. A change of the object being deleted releases it.
    env.topics()
        .patch(
            "stuck",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"deletionPolicy": "Retain"}})),
        )
        .await
        .expect("set deletionPolicy Retain");
    env.wait_topic_gone("stuck").await;
    assert!(kafka_cli::exists(&name), "Retain keeps the topic in Kafka");
}
