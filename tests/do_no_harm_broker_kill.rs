//! Do no harm when a broker dies during a move (issue 8): replication factor 2 -> 3 with
//! minInSyncReplicas 1, so every partition keeps an in-sync replica on a live broker and Kafka's
//! guarantees survive the loss. A broker is SIGKILLed while Kafka moves the replicas and brought
//! back; the move completes, no acks=all write fails and every acknowledged record is read back.
//! Alone in its test binary because it kills a broker (binaries run one after another).

mod common;

use std::time::{Duration, Instant};

use common::kafka_cli;
use common::witness::{MoveWatch, RATE, Witness};
use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_killed_during_a_move_loses_nothing() {
    let name = unique("dnh-broker-kill");
    let _cleanup = witness::DeleteTopicOnDrop(name.clone());
    let env = TestEnv::start_with(
        "dnh-broker-kill",
        ClusterOptions {
            reassignment: json!({"throttleBytesPerSecond": MOVE_THROTTLE}),
            ..Default::default()
        },
    )
    .await;
    let spec = |rf: i32| json!({"topicName": name, "partitions": 2, "replicationFactor": rf, "minInSyncReplicas": 1});
    env.apply_topic("survivor", spec(2)).await;
    env.wait_ready("survivor").await;
    // 40 MB: each partition's 20 MB is copied to its new replica under the throttle, so the move
    // outlasts the broker's death and return by far.
    kafka_cli::produce_bulk(&name, 40_000, 1000);
    let placed = kafka_cli::describe(&name).unwrap();
    for p in &placed.partitions {
        assert_eq!(
            p.isr.len(),
            2,
            "every partition has two in-sync replicas: {p:?}"
        );
    }
    // The leader of partition 0 dies: its partitions fail over to their other in-sync replica.
    let victim: &'static str = match placed.partitions[0].leader {
        1 => "1",
        2 => "2",
        3 => "3",
        other => panic!("unexpected leader {other}"),
    };
    let before = kafka_cli::overrides(&name);
    // Records to the killed broker's partitions wait for their leaders to fail over (Kafka
    // fences a broker after its 9 s session timeout).
    let witness =
        Witness::start_with_stall_limit("broker-killed-mid-move", &name, Duration::from_secs(60));
    witness
        .wait_acked_more(4 * RATE, Duration::from_secs(60), "before the move")
        .await;

    env.apply_topic("survivor", spec(3)).await;
    let mut watch: MoveWatch<()> = MoveWatch::new(&name);
    let deadline = Instant::now() + WAIT;
    while watch.look(witness.acked()) == 0 {
        assert!(
            Instant::now() < deadline,
            "{name}: Kafka never moved the replicas"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let down = BrokerDown::kill(victim);
    // With the broker gone, acks=all writes still succeed (after the leaders fail over)...
    witness
        .wait_acked_more(
            4 * RATE,
            Duration::from_secs(90),
            &format!("while broker {victim} is down"),
        )
        .await;
    // ... and Kafka still moves the replicas: the broker died in the middle of the move.
    assert!(
        watch.look(witness.acked()) > 0,
        "{name}: the move was over before the broker died; the scenario proves nothing"
    );
    drop(down); // restart the broker

    let deadline = Instant::now() + Duration::from_secs(360);
    loop {
        let moving = watch.look(witness.acked());
        let t = env.get_topic("survivor").await;
        if moving == 0
            && condition(&t, "Ready").is_some_and(|c| c.0 == "True")
            && t.status.as_ref().and_then(|s| s.replication_factor) == Some(3)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: the move did not complete after broker {victim} came back; status: {}",
            serde_json::to_string(&t.status).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    watch.assert_overlapped(0);
    // Every partition ends with three in-sync replicas (the restarted broker caught up).
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let cli = kafka_cli::describe(&name).unwrap();
        if cli
            .partitions
            .iter()
            .all(|p| p.replicas.len() == 3 && p.isr.len() == 3)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: not every partition has 3 in-sync replicas: {cli:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    witness
        .wait_acked_more(4 * RATE, Duration::from_secs(60), "after the move")
        .await;
    witness::assert_undeclared_unchanged(&name, &before, &["min.insync.replicas"]);
    witness.finish(Some(watch.acked_during())).await;
}
