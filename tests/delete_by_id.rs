//! Topics are deleted by Kafka's topic id, never by name: a topic deleted and created again under
//! the same name behind the operator's back is another topic, and a deletion meant for the old
//! one leaves it in place (checked with Kafka's own CLI).

mod common;

use std::time::Duration;

use common::*;
use kafka_topic_operator::kafka::{Deletion, KafkaAdmin, KafkaProtocolAdmin};
use serde_json::json;

/// Deletes `name` with Kafka's CLI and creates it again, once Kafka has let go of the old one;
/// returns the new topic's id.
async fn recreate_behind_the_operators_back(name: &str) -> String {
    kafka_cli::delete_matching(name);
    let deadline = tokio::time::Instant::now() + WAIT;
    while kafka_cli::exists(name) {
        assert!(tokio::time::Instant::now() < deadline, "{name} not deleted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    kafka_cli::create(name, &["--partitions", "1", "--replication-factor", "1"]);
    kafka_cli::topic_ids(name)
        .remove(name)
        .expect("the new topic's id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_by_an_old_topic_id_leaves_the_topic_created_again_under_its_name() {
    let admin = KafkaProtocolAdmin::new(bootstrap_list(), Duration::from_secs(10));
    let name = unique("by-id");
    kafka_cli::create(&name, &["--partitions", "1", "--replication-factor", "1"]);
    let observed = admin
        .describe_topics(std::slice::from_ref(&name))
        .await
        .unwrap();
    let old_id = observed[&name].topic_id.clone().expect("a topic id");
    assert_eq!(kafka_cli::topic_ids(&name).get(&name), Some(&old_id));

    let new_id = recreate_behind_the_operators_back(&name).await;
    assert_ne!(new_id, old_id);

    assert_eq!(
        admin.delete_topic(&name, &old_id).await.unwrap(),
        Deletion::UnknownId
    );
    assert_eq!(
        kafka_cli::topic_ids(&name).get(&name),
        Some(&new_id),
        "the topic created again was touched"
    );

    // Its own id deletes it.
    assert_eq!(
        admin.delete_topic(&name, &new_id).await.unwrap(),
        Deletion::Deleted
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    while kafka_cli::exists(&name) {
        assert!(tokio::time::Instant::now() < deadline, "{name} not deleted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The operator's finalizer deletes the topic its KafkaTopic knew (`status.topicId`), not
/// whatever has that name by the time the KafkaTopic goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafkatopic_deleted_after_its_topic_was_replaced_leaves_the_new_topic() {
    let mut env = TestEnv::start("delete-by-id").await;
    let name = unique("replaced");
    env.apply_topic(
        "replaced",
        json!({"topicName": name, "partitions": 1, "replicationFactor": 1, "minInSyncReplicas": 1, "deletionPolicy": "Delete"}),
    )
    .await;
    let known_id = env
        .wait_ready("replaced")
        .await
        .status
        .and_then(|s| s.topic_id)
        .expect("status.topicId");

    // With the operator stopped, so that it cannot adopt the new topic before its KafkaTopic
    // goes.
    env.stop_operator().await;
    let new_id = recreate_behind_the_operators_back(&name).await;
    assert_ne!(new_id, known_id);
    env.delete_topic_resource("replaced").await;
    env.restart_operator().await;

    let event = env.wait_event("replaced", "TopicNotDeleted").await;
    assert!(
        event.contains(&new_id) && event.contains(&known_id),
        "{event}"
    );
    env.wait_topic_gone("replaced").await;
    assert_eq!(
        kafka_cli::topic_ids(&name).get(&name),
        Some(&new_id),
        "the topic created again was deleted"
    );
    kafka_cli::delete_matching(&name);
}
