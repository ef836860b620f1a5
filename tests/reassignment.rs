//! Changing the replication factor by moving replicas: throttled, limited in concurrency,
//! resumable after a restart, refused when the brokers are too few. Kafka's own CLI is the
//! witness for where replicas are and which throttles are set.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::kafka_cli;
use common::*;
use serde_json::json;

fn reassignment(
    t: &kafka_topic_operator::api::KafkaTopic,
) -> Option<kafka_topic_operator::api::ReassignmentStatus> {
    t.status.as_ref().and_then(|s| s.reassignment.clone())
}

/// Every partition on `rf` distinct brokers in `rf` distinct racks, with a full ISR and led by
/// its first replica.
fn assert_placed(name: &str, rf: usize) -> kafka_cli::CliTopic {
    let racks = kafka_cli::racks();
    let cli = kafka_cli::describe(name).unwrap();
    assert_eq!(cli.replication_factor as usize, rf, "{cli:?}");
    for p in &cli.partitions {
        assert_eq!(
            p.replicas.iter().collect::<BTreeSet<_>>().len(),
            rf,
            "{p:?}"
        );
        assert_eq!(
            p.replicas
                .iter()
                .map(|b| &racks[b])
                .collect::<BTreeSet<_>>()
                .len(),
            rf,
            "racks of {p:?}"
        );
        assert_eq!(
            p.isr.iter().collect::<BTreeSet<_>>(),
            p.replicas.iter().collect::<BTreeSet<_>>(),
            "ISR of {p:?}"
        );
        assert_eq!(p.leader, p.replicas[0], "preferred leader of {p:?}");
    }
    cli
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_factor_goes_up_and_down_with_throttled_moves_one_at_a_time() {
    let throttle = 400_000;
    let env = TestEnv::start_with(
        "rf-up-down",
        ClusterOptions {
            reassignment: json!({"throttleBytesPerSecond": throttle, "maxConcurrentMoves": 1}),
            ..Default::default()
        },
    )
    .await;
    let name = unique("grows");
    env.apply_topic(
        "grows",
        json!({"topicName": name, "partitions": 2, "replicationFactor": 1, "minInSyncReplicas": 1}),
    )
    .await;
    env.wait_ready("grows").await;
    // Enough data that each move takes seconds under the throttle.
    kafka_cli::produce_bulk(&name, 4000, 1000);

    env.apply_topic(
        "grows",
        json!({"topicName": name, "partitions": 2, "replicationFactor": 3, "minInSyncReplicas": 2}),
    )
    .await;
    let t = env.wait_reason("grows", "Reassigning").await;
    let r = reassignment(&t).expect("status.reassignment while moving");
    assert_eq!(
        (r.target_replication_factor, r.throttle_bytes_per_second),
        (3, throttle)
    );

    // While it moves: never more than one partition at once, throttles in place.
    let mut saw_throttles = false;
    let mut max_moving = 0;
    loop {
        // Other tests move their own topics meanwhile: count this topic's partitions only.
        let moving: Vec<String> = kafka_cli::moving_partitions()
            .into_iter()
            .filter(|l| l.contains(&name))
            .collect();
        max_moving = max_moving.max(moving.len());
        if !moving.is_empty() && !saw_throttles {
            let o = kafka_cli::overrides(&name);
            let throttled_brokers = (1..=3)
                .filter(|b| {
                    kafka_cli::broker_overrides(*b).get("follower.replication.throttled.rate")
                        == Some(&throttle.to_string())
                })
                .count();
            saw_throttles = o.contains_key("leader.replication.throttled.replicas")
                && o.contains_key("follower.replication.throttled.replicas")
                && throttled_brokers > 0;
        }
        let t = env.get_topic("grows").await;
        if let Some(r) = reassignment(&t) {
            assert!(
                r.partitions_moving <= 1,
                "maxConcurrentMoves 1 exceeded: {r:?}"
            );
        }
        if condition(&t, "Ready").is_some_and(|c| c.0 == "True") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        max_moving <= 1,
        "Kafka saw {max_moving} partitions moving at once"
    );
    assert!(
        saw_throttles,
        "no throttle seen on the topic and brokers during the move"
    );

    let before_shrink = assert_placed(&name, 3);
    let t = env.get_topic("grows").await;
    assert!(reassignment(&t).is_none());
    assert_eq!(t.status.as_ref().unwrap().replication_factor, Some(3));
    let o = kafka_cli::overrides(&name);
    assert!(
        !o.contains_key("leader.replication.throttled.replicas")
            && !o.contains_key("follower.replication.throttled.replicas"),
        "{o:?}"
    );
    env.wait_event("grows", "ReassignmentStarted").await;
    env.wait_event("grows", "ReassignmentCompleted").await;
    // Broker throttles go once nothing moves anywhere (at the cluster's next resync).
    let deadline = tokio::time::Instant::now() + WAIT;
    while (1..=3)
        .any(|b| kafka_cli::broker_overrides(b).contains_key("follower.replication.throttled.rate"))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "broker throttles were not removed"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Throttles the operator set and removed were never drift.
    assert!(t.status.as_ref().unwrap().drift.is_empty());

    // Down to 2: the leaders stay.
    env.apply_topic(
        "grows",
        json!({"topicName": name, "partitions": 2, "replicationFactor": 2, "minInSyncReplicas": 1}),
    )
    .await;
    env.wait_topic("grows", "RF 2 and Ready", |t| {
        condition(t, "Ready").is_some_and(|c| c.0 == "True")
            && t.status.as_ref().and_then(|s| s.replication_factor) == Some(2)
    })
    .await;
    let after_shrink = assert_placed(&name, 2);
    for (b, a) in before_shrink
        .partitions
        .iter()
        .zip(&after_shrink.partitions)
    {
        assert_eq!(
            a.leader, b.leader,
            "shrinking moved the leader of partition {}",
            a.id
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_operator_finds_the_ongoing_move_and_waits_instead_of_resending() {
    let env_options = ClusterOptions {
        reassignment: json!({"throttleBytesPerSecond": 150_000}),
        ..Default::default()
    };
    let mut env = TestEnv::start_with("resume", env_options).await;
    let name = unique("resume");
    env.apply_topic(
        "resume",
        json!({"topicName": name, "partitions": 1, "replicationFactor": 1, "minInSyncReplicas": 1}),
    )
    .await;
    env.wait_ready("resume").await;
    kafka_cli::produce_bulk(&name, 3000, 1000);

    env.apply_topic(
        "resume",
        json!({"topicName": name, "partitions": 1, "replicationFactor": 3, "minInSyncReplicas": 2}),
    )
    .await;
    env.wait_reason("resume", "Reassigning").await;
    assert_eq!(env.kafka_requests("AlterPartitionReassignments"), 1);
    assert_eq!(
        kafka_cli::moving_partitions()
            .iter()
            .filter(|l| l.contains(&name))
            .count(),
        1,
        "Kafka is not moving the partition"
    );

    env.restart_operator().await;
    let t = env.wait_ready("resume").await;
    assert_eq!(
        env.kafka_requests("AlterPartitionReassignments"),
        0,
        "the restarted operator re-sent a move already under way"
    );
    assert_placed(&name, 3);
    assert!(reassignment(&t).is_none());
    env.wait_event("resume", "ReassignmentCompleted").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replication_factor_above_the_live_brokers_sends_nothing() {
    let env = TestEnv::start("rf-too-high").await;
    let name = unique("rf-too-high");
    env.apply_topic(
        "too-high",
        json!({"topicName": name, "partitions": 1, "replicationFactor": 3}),
    )
    .await;
    env.wait_ready("too-high").await;
    env.apply_topic(
        "too-high",
        json!({"topicName": name, "partitions": 1, "replicationFactor": 4}),
    )
    .await;
    let t = env.wait_reason("too-high", "NotEnoughBrokers").await;
    let message = condition(&t, "Ready").unwrap().2;
    assert!(message.contains("ids 1, 2, 3"), "{message}");
    tokio::time::sleep(RESYNC * 2).await;
    assert_eq!(env.kafka_requests("AlterPartitionReassignments"), 0);
    assert_eq!(kafka_cli::describe(&name).unwrap().replication_factor, 3);
}
