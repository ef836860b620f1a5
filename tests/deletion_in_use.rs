//! A topic in use is not deleted (docs/deletion.md): with the KafkaCluster's default
//! `policy.inUseDeletion` (committed offsets hold; records written within the last hour hold),
//! deleting a KafkaTopic with `deletionPolicy: Delete` whose topic a real rdkafka consumer group
//! has committed offsets on, or an rdkafka producer is writing to, leaves the topic in Kafka (its
//! own CLI says so) with `Ready=False/TopicInUse` naming the group or the last write, a Warning
//! event and the metric, until the KafkaTopic is annotated with a confirmation that names the
//! topic. A held deletion stays held once the use ends; an unused topic, or one confirmed in
//! advance, goes at once.

mod common;

use std::time::Duration;

use common::clients::{consume_and_commit, produce_stamped};
use common::witness::{DeleteTopicOnDrop, Witness};
use common::*;
use kafka_topic_operator::controller::topic::in_use::CONFIRM_DELETION_ANNOTATION;
use serde_json::json;

fn delete_topic_spec(topic: &str, partitions: i32) -> serde_json::Value {
    json!({"topicName": topic, "partitions": partitions, "replicationFactor": 3, "deletionPolicy": "Delete"})
}

fn in_use_message(t: &kafka_topic_operator::api::KafkaTopic) -> String {
    condition(t, "Ready").expect("Ready").2
}

/// Still there after several looks: the hold is not a slow deletion.
async fn stays_held(env: &TestEnv, name: &str, topic: &str) {
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(kafka_cli::exists(topic), "{topic} was deleted while held");
        let t = env.get_topic(name).await;
        assert_eq!(condition(&t, "Ready").unwrap().1, "TopicInUse");
    }
}

fn annotate(env: &TestEnv, name: &str, key: &str, value: &str) {
    kubectl(&[
        "annotate",
        "--overwrite",
        "kafkatopics.kafka.topic-operator.dev",
        name,
        "-n",
        &env.ns,
        &format!("{key}={value}"),
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_of_a_consumer_group_hold_the_deletion_until_the_topic_is_named() {
    let topic = unique("inuse-groups");
    let _drop = DeleteTopicOnDrop(topic.clone());
    let env = TestEnv::start("inuse-groups").await;
    env.apply_topic("orders", delete_topic_spec(&topic, 3))
        .await;
    env.wait_ready("orders").await;

    // Records stamped three hours ago: only the group's offsets make the topic in use.
    produce_stamped(&topic, 30, Duration::from_secs(3 * 3600));
    let group = unique("billing");
    consume_and_commit(&group, &topic, 30);
    let committed = kafka_cli::committed_offsets(&group, &topic);
    assert_eq!(
        committed.values().sum::<i64>(),
        30,
        "Kafka's CLI shows the group's offsets: {committed:?}"
    );

    env.delete_topic_resource("orders").await;
    let held = env.wait_reason("orders", "TopicInUse").await;
    let message = in_use_message(&held);
    assert!(
        message.contains(&format!("consumer group {group} has committed offsets")),
        "{message}"
    );
    assert!(
        !message.contains("newest record"),
        "old records do not hold: {message}"
    );
    assert!(
        message.contains(&format!("{CONFIRM_DELETION_ANNOTATION}={topic}")),
        "{message}"
    );
    assert!(held.metadata.deletion_timestamp.is_some());
    let event = env.wait_event("orders", "DeletionHeldInUse").await;
    assert!(event.starts_with("Warning"), "{event}");
    assert!(event.contains(&group), "{event}");
    env.wait_for("kto_cluster_deletions_in_use_held 1", || {
        env.metric("kto_cluster_deletions_in_use_held", &[("cluster", "kafka")]) == Some(1.0)
    })
    .await;
    stays_held(&env, "orders", &topic).await;

    // A confirmation that does not name the topic confirms nothing, and says so.
    annotate(&env, "orders", CONFIRM_DELETION_ANNOTATION, "true");
    env.wait_topic("orders", "the wrong confirmation named", |t| {
        in_use_message(t).contains(&format!(
            "the annotation names 'true', not this topic '{topic}'"
        ))
    })
    .await;
    stays_held(&env, "orders", &topic).await;

    // Naming it: the topic goes, then the KafkaTopic.
    annotate(&env, "orders", CONFIRM_DELETION_ANNOTATION, &topic);
    env.wait_topic_gone("orders").await;
    assert!(!kafka_cli::exists(&topic), "{topic} is still in Kafka");
    env.wait_for("kto_cluster_deletions_in_use_held 0", || {
        env.metric("kto_cluster_deletions_in_use_held", &[("cluster", "kafka")]) == Some(0.0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_written_within_the_window_hold_the_deletion_and_it_stays_held_when_writes_stop() {
    let topic = unique("inuse-writes");
    let _drop = DeleteTopicOnDrop(topic.clone());
    let env = TestEnv::start("inuse-writes").await;
    env.apply_topic("events", delete_topic_spec(&topic, 2))
        .await;
    env.wait_ready("events").await;
    let witness = Witness::start("deletion-in-use", &topic);
    witness
        .wait_acked_more(500, WAIT, "records before the deletion")
        .await;

    env.delete_topic_resource("events").await;
    let held = env.wait_reason("events", "TopicInUse").await;
    let message = in_use_message(&held);
    assert!(
        message.contains("its newest record was written at"),
        "{message}"
    );
    assert!(message.contains("within recentWrites, 1h"), "{message}");
    assert!(!message.contains("consumer group"), "{message}");
    env.wait_event("events", "DeletionHeldInUse").await;
    // The producer is untouched while the deletion is held: acks=all writes keep succeeding and
    // every acknowledged record is there to read back.
    witness
        .wait_acked_more(500, WAIT, "records while the deletion is held")
        .await;
    witness.finish(None).await;

    // The writes stopped and the window is now a second: no longer in use by the rules, but a
    // held deletion waits for its confirmation all the same.
    env.clusters()
        .patch(
            "kafka",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(
                json!({"spec": {"policy": {"inUseDeletion": {"recentWrites": "1s"}}}}),
            ),
        )
        .await
        .expect("patch KafkaCluster");
    tokio::time::sleep(Duration::from_secs(2)).await;
    annotate(&env, "events", "example.com/touched", "yes");
    env.wait_topic("events", "the hold to say the use ended", |t| {
        in_use_message(t).contains("was in use when its deletion was held")
    })
    .await;
    stays_held(&env, "events", &topic).await;

    annotate(&env, "events", CONFIRM_DELETION_ANNOTATION, &topic);
    env.wait_topic_gone("events").await;
    assert!(!kafka_cli::exists(&topic), "{topic} is still in Kafka");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unused_topic_goes_without_confirmation_and_one_confirmed_in_advance_goes_at_once() {
    let (unused, confirmed) = (unique("unused"), unique("confirmed"));
    let _drop = [
        DeleteTopicOnDrop(unused.clone()),
        DeleteTopicOnDrop(confirmed.clone()),
    ];
    let env = TestEnv::start("inuse-none").await;
    env.apply_topic("unused", delete_topic_spec(&unused, 1))
        .await;
    env.apply_topic("confirmed", delete_topic_spec(&confirmed, 1))
        .await;
    env.wait_ready("unused").await;
    env.wait_ready("confirmed").await;
    produce_stamped(&confirmed, 10, Duration::ZERO);
    annotate(&env, "confirmed", CONFIRM_DELETION_ANNOTATION, &confirmed);

    env.delete_topic_resource("unused").await;
    env.delete_topic_resource("confirmed").await;
    env.wait_topic_gone("unused").await;
    env.wait_topic_gone("confirmed").await;
    assert!(!kafka_cli::exists(&unused));
    assert!(!kafka_cli::exists(&confirmed));
    for name in ["unused", "confirmed"] {
        let events = env.events_for(name);
        assert!(
            !events.iter().any(|e| e.contains("DeletionHeldInUse")),
            "{name} was held: {events:?}"
        );
        assert!(
            events.iter().any(|e| e.contains("TopicDeleted")),
            "{name}: {events:?}"
        );
    }
}
