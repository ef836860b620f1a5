//! Changing the replication factor by moving replicas: throttled, limited in concurrency,
//! resumable after a restart, refused when the brokers are too few. Kafka's own CLI is the
//! witness for where replicas are and which throttles are set.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::kafka_cli;
use common::witness::{self, MoveWatch};
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
    let throttle = MOVE_THROTTLE;
    let name = unique("grows");
    let _cleanup = witness::DeleteTopicOnDrop(name.clone());
    let env = TestEnv::start_with(
        "rf-up-down",
        ClusterOptions {
            reassignment: json!({"throttleBytesPerSecond": throttle, "maxConcurrentMoves": 1}),
            ..Default::default()
        },
    )
    .await;
    env.apply_topic(
        "grows",
        json!({"topicName": name, "partitions": 2, "replicationFactor": 1, "minInSyncReplicas": 1}),
    )
    .await;
    env.wait_ready("grows").await;
    // 24 MB: each partition's 12 MB goes to two new replicas under the throttle, so each of the
    // two moves lasts over twenty seconds (more while the other tests' moves share the
    // throttle): several looks of Kafka's CLI, which take seconds each, fall inside each move.
    kafka_cli::produce_bulk(&name, 24_000, 1000);

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

    // While it moves: never more than one partition at once, throttles in place. A sample
    // counts only if Kafka listed the move both before and after it (MoveWatch).
    let mut watch: MoveWatch<bool> = MoveWatch::new(&name);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let moving = watch.look(0);
        let t = env.get_topic("grows").await;
        if let Some(r) = reassignment(&t) {
            assert!(
                r.partitions_moving <= 1,
                "maxConcurrentMoves 1 exceeded: {r:?}"
            );
        }
        if moving == 0 && condition(&t, "Ready").is_some_and(|c| c.0 == "True") {
            break;
        }
        if watch.look_saw_move() && !watch.during.iter().any(|seen| *seen) {
            let o = kafka_cli::overrides(&name);
            // One throttled broker is enough (and each look costs a JVM start).
            let broker_throttled = (1..=3).any(|b| {
                kafka_cli::broker_overrides(b).get("follower.replication.throttled.rate")
                    == Some(&throttle.to_string())
            });
            watch.sample(
                o.contains_key("leader.replication.throttled.replicas")
                    && o.contains_key("follower.replication.throttled.replicas")
                    && broker_throttled,
            );
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the move did not finish; status: {}",
            serde_json::to_string(&t.status).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        watch.first_seen.is_some(),
        "Kafka was never seen moving the replicas"
    );
    assert!(
        watch.max_moving <= 1,
        "Kafka saw {} partitions moving at once",
        watch.max_moving
    );
    assert!(
        watch.during.iter().any(|seen| *seen),
        "no throttle seen on the topic and brokers during the move ({} samples during the move, move seen for {:?})",
        watch.during.len(),
        watch.seen_for()
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
    // Broker throttles go once nothing moves anywhere (at the cluster's next resync): after
    // the other tests' moves too, which share the throttle.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
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
        reassignment: json!({"throttleBytesPerSecond": MOVE_THROTTLE}),
        ..Default::default()
    };
    let name = unique("resume");
    let _cleanup = witness::DeleteTopicOnDrop(name.clone());
    let mut env = TestEnv::start_with("resume", env_options).await;
    env.apply_topic(
        "resume",
        json!({"topicName": name, "partitions": 1, "replicationFactor": 1, "minInSyncReplicas": 1}),
    )
    .await;
    env.wait_ready("resume").await;
    // 12 MB copied to two new replicas under the throttle: the move lasts over twenty seconds.
    kafka_cli::produce_bulk(&name, 12_000, 1000);

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
    // The new operator has looked at Kafka's moves, and Kafka still moves the partition: it
    // restarted in the middle of the move.
    let deadline = tokio::time::Instant::now() + WAIT;
    while env.kafka_requests("ListPartitionReassignments") == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the restarted operator never listed the reassignments"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        witness::moving_partitions_of(&name),
        1,
        "the move was over before the restarted operator looked; the test proves nothing"
    );
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
    env.wait_resyncs(2).await;
    assert_eq!(env.kafka_requests("AlterPartitionReassignments"), 0);
    assert_eq!(kafka_cli::describe(&name).unwrap().replication_factor, 3);
}
