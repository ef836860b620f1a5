//! Adoption and topicDefaults change nothing the spec does not name (docs/do-no-harm.md, "What a
//! field left out means"): a topic that exists keeps, for every field its KafkaTopic leaves out,
//! what Kafka has; topicDefaults fill a field only when the operator creates the topic. Proven
//! with data flowing (the rdkafka witness: zero failed sends, every acknowledged record read
//! back) and with Kafka's own CLI as the judge of partitions, replica sets and configs.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::kafka_cli::{self, CliTopic};
use common::witness::{RATE, Witness};
use common::*;
use kafka_topic_operator::api::KafkaCluster;
use kube::api::{Patch, PatchParams};
use serde_json::json;

/// Partition -> replica set, as Kafka's CLI shows them.
fn replica_sets(topic: &CliTopic) -> BTreeMap<i32, Vec<i32>> {
    topic
        .partitions
        .iter()
        .map(|p| (p.id, p.replicas.clone()))
        .collect()
}

fn describe(name: &str) -> CliTopic {
    kafka_cli::describe(name).unwrap_or_else(|| panic!("topic {name} not in Kafka"))
}

/// status.valueSources of a KafkaTopic, as the apiserver stores it.
fn value_sources(ns: &str, name: &str) -> serde_json::Value {
    let out = kubectl(&["get", "kafkatopic", name, "-n", ns, "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("kubectl JSON");
    v["status"]["valueSources"].clone()
}

async fn wait_sources(env: &TestEnv, name: &str, expected: serde_json::Value) {
    let ns = env.ns.clone();
    env.wait_for(
        &format!("status.valueSources of {name} = {expected}"),
        || value_sources(&ns, name) == expected,
    )
    .await;
}

/// A topic made with Kafka's CLI (`create` are its arguments) with an acks=all witness writing
/// to it before the operator sees it; and Kafka's own view of it then (partitions, overrides).
async fn existing_with_traffic(
    scenario: &str,
    name: &str,
    create: &[&str],
) -> (Witness, CliTopic, BTreeMap<String, String>) {
    kafka_cli::create(name, create);
    let witness = Witness::start(scenario, name);
    witness
        .wait_acked_more(4 * RATE, Duration::from_secs(60), "before the adoption")
        .await;
    (witness, describe(name), kafka_cli::overrides(name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopting_with_a_spec_naming_only_the_cluster_changes_nothing() {
    let name = unique("adopt-bare");
    let _cleanup = witness::DeleteTopicOnDrop(name.clone());
    // Defaults that would change all three fields if they were applied.
    let defaults = json!({"partitions": 3, "replicationFactor": 3, "minInSyncReplicas": 2});
    let env = TestEnv::start_with(
        "adopt-bare",
        ClusterOptions {
            defaults,
            ..Default::default()
        },
    )
    .await;
    let (witness, before, overrides_before) = existing_with_traffic(
        "adopt-bare",
        &name,
        &["--partitions", "1", "--replication-factor", "2"],
    )
    .await;

    env.apply_topic("bare", json!({"topicName": name})).await;
    env.wait_ready("bare").await;
    wait_sources(
        &env,
        "bare",
        json!({"partitions": "Kafka", "replicationFactor": "Kafka", "minInSyncReplicas": "Kafka",
               "deletionPolicy": "Kafka"}),
    )
    .await;
    let status = env.get_topic("bare").await.status.unwrap();
    assert_eq!(
        (status.partitions, status.replication_factor),
        (Some(1), Some(2))
    );
    assert!(status.drift.is_empty(), "drift: {:?}", status.drift);
    // Two full looks at the cluster after the adoption, and data flowing all along.
    env.wait_resyncs(2).await;
    witness
        .wait_acked_more(4 * RATE, Duration::from_secs(60), "after the adoption")
        .await;
    let after = describe(&name);
    assert_eq!(after.partition_count, 1, "partitions grew");
    assert_eq!(
        replica_sets(&after),
        replica_sets(&before),
        "replicas moved"
    );
    witness::assert_undeclared_unchanged(&name, &overrides_before, &[]);
    witness.finish(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopting_with_some_fields_changes_only_those() {
    let name = unique("adopt-some");
    let _cleanup = witness::DeleteTopicOnDrop(name.clone());
    let env = TestEnv::start("adopt-some").await;
    let (witness, before, overrides_before) = existing_with_traffic(
        "adopt-some",
        &name,
        &[
            "--partitions",
            "1",
            "--replication-factor",
            "2",
            "--config",
            "retention.ms=3600000",
        ],
    )
    .await;

    // Partitions declared (2), nothing else.
    env.apply_topic("some", json!({"topicName": name, "partitions": 2}))
        .await;
    env.wait_for("2 partitions in Kafka", || {
        kafka_cli::describe(&name).is_some_and(|t| t.partition_count == 2)
    })
    .await;
    env.wait_ready("some").await;
    wait_sources(
        &env,
        "some",
        json!({"partitions": "Spec", "replicationFactor": "Kafka", "minInSyncReplicas": "Kafka",
               "deletionPolicy": "Kafka"}),
    )
    .await;
    env.wait_resyncs(2).await;
    witness
        .wait_acked_more(4 * RATE, Duration::from_secs(60), "after the growth")
        .await;
    let after = describe(&name);
    assert_eq!(
        after.partitions[0].replicas, before.partitions[0].replicas,
        "partition 0 moved"
    );
    assert!(
        after.partitions.iter().all(|p| p.replicas.len() == 2),
        "the replication factor changed: {after:?}"
    );
    // retention.ms was there before and is kept; no min.insync.replicas override appears.
    witness::assert_undeclared_unchanged(&name, &overrides_before, &[]);
    witness.finish(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_of_topic_defaults_changes_no_existing_topic_and_new_ones_get_it() {
    let old = unique("defaults-old");
    let new = unique("defaults-new");
    let _cleanup = (
        witness::DeleteTopicOnDrop(old.clone()),
        witness::DeleteTopicOnDrop(new.clone()),
    );
    let env = TestEnv::start_with(
        "defaults",
        ClusterOptions {
            defaults: json!({"partitions": 2, "replicationFactor": 3, "minInSyncReplicas": 2}),
            ..Default::default()
        },
    )
    .await;
    env.apply_topic("old", json!({"topicName": old})).await;
    // The first records wait for the operator to create the topic.
    let witness = Witness::start_with_stall_limit("defaults", &old, Duration::from_secs(60));
    env.wait_ready("old").await;
    wait_sources(
        &env,
        "old",
        json!({"partitions": "TopicDefaults", "replicationFactor": "TopicDefaults",
               "minInSyncReplicas": "TopicDefaults", "deletionPolicy": "TopicDefaults"}),
    )
    .await;
    witness
        .wait_acked_more(4 * RATE, Duration::from_secs(120), "after the creation")
        .await;
    let before = describe(&old);
    assert_eq!((before.partition_count, before.replication_factor), (2, 3));
    let overrides_before = kafka_cli::overrides(&old);
    assert_eq!(
        overrides_before
            .get("min.insync.replicas")
            .map(String::as_str),
        Some("2")
    );

    // The platform team lowers every default, for future topics.
    let clusters: kube::Api<KafkaCluster> = env.clusters();
    clusters
        .patch(
            "kafka",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"topicDefaults":
                {"partitions": 1, "replicationFactor": 2, "minInSyncReplicas": 1}}})),
        )
        .await
        .expect("patch topicDefaults");
    env.apply_topic("new", json!({"topicName": new})).await;
    env.wait_ready("new").await;
    let created = describe(&new);
    assert_eq!(
        (created.partition_count, created.replication_factor),
        (1, 2)
    );
    assert_eq!(
        kafka_cli::overrides(&new)
            .get("min.insync.replicas")
            .map(String::as_str),
        Some("1")
    );

    // The cluster's spec changed: every topic is looked at again. The old one stays as created.
    env.wait_resyncs(2).await;
    witness
        .wait_acked_more(
            4 * RATE,
            Duration::from_secs(60),
            "after the defaults changed",
        )
        .await;
    let after = describe(&old);
    assert_eq!(after.partition_count, 2);
    assert_eq!(
        replica_sets(&after),
        replica_sets(&before),
        "replicas moved"
    );
    witness::assert_undeclared_unchanged(&old, &overrides_before, &[]);
    let status = env.get_topic("old").await.status.unwrap();
    assert!(status.drift.is_empty(), "drift: {:?}", status.drift);
    witness.finish(None).await;
}
