//! The incident, replayed on the real 3-broker cluster: `account_event` was auto-created with
//! one partition and replication factor 1 on broker 1, and sign-ups were lost when broker 1
//! died. Declaring it fixes it: after the operator is done, broker 1 can die and nothing is
//! lost. The witness (an idempotent acks=all producer) writes sign-ups from before the fix until
//! broker 1 is down, and every acknowledged one is read back while broker 1 is still down.
//! Alone in its test binary because it kills a broker.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::kafka_cli;
use common::witness::{RATE, Witness};
use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_event_incident_cannot_happen_again() {
    let name = unique("account_event");
    let _cleanup = witness::DeleteTopicOnDrop(name.clone());
    let env = TestEnv::start_with(
        "incident",
        ClusterOptions {
            reassignment: json!({"throttleBytesPerSecond": MOVE_THROTTLE}),
            ..Default::default()
        },
    )
    .await;
    // As auto-creation made it: 1 partition, replication factor 1, on broker 1.
    kafka_cli::create(&name, &["--replica-assignment", "1"]);
    // Sign-ups flow from before the fix to the end.
    // Records to broker 1's partitions wait for their leaders to fail over when it dies (Kafka
    // fences a broker after its 9 s session timeout).
    let witness =
        Witness::start_with_stall_limit("incident-account-event", &name, Duration::from_secs(60));
    witness
        .wait_acked_more(4 * RATE, Duration::from_secs(60), "before the fix")
        .await;
    let before = kafka_cli::overrides(&name);

    env.apply_topic(
        "account-event",
        json!({"topicName": name, "partitions": 2, "replicationFactor": 3, "minInSyncReplicas": 2}),
    )
    .await;
    env.wait_topic(
        "account-event",
        "2 partitions, replication factor 3 and Ready",
        |t| {
            condition(t, "Ready").is_some_and(|c| c.0 == "True")
                && t.status.as_ref().and_then(|s| s.replication_factor) == Some(3)
                && t.status.as_ref().and_then(|s| s.partitions) == Some(2)
        },
    )
    .await;
    witness
        .wait_acked_more(4 * RATE, Duration::from_secs(60), "after the fix")
        .await;

    // Kafka's own view: every partition on 3 distinct brokers and racks, full ISR.
    let racks = kafka_cli::racks();
    let cli = kafka_cli::describe(&name).unwrap();
    assert_eq!((cli.partition_count, cli.replication_factor), (2, 3));
    for p in &cli.partitions {
        assert_eq!(p.replicas.iter().collect::<BTreeSet<_>>().len(), 3, "{p:?}");
        assert_eq!(
            p.replicas
                .iter()
                .map(|b| &racks[b])
                .collect::<BTreeSet<_>>()
                .len(),
            3,
            "{p:?}"
        );
        assert_eq!(p.isr.len(), 3, "{p:?}");
    }
    assert_eq!(
        kafka_cli::overrides(&name)
            .get("min.insync.replicas")
            .map(String::as_str),
        Some("2")
    );

    // Nothing the declaration does not name was changed.
    witness::assert_undeclared_unchanged(&name, &before, &["min.insync.replicas"]);
    // Kafka's metadata log: min.insync.replicas=2 never outran a partition's ISR.
    let violations = witness::MetadataHistory::load(&name).min_isr_above_isr();
    assert!(violations.is_empty(), "{violations:?}");

    // Broker 1 dies, as in the incident. acks=all writes still succeed.
    let down = BrokerDown::kill("1");
    witness
        .wait_acked_more(4 * RATE, Duration::from_secs(90), "while broker 1 is down")
        .await;

    let t = env
        .wait_topic("account-event", "under-replicated and Degraded", |t| {
            t.status
                .as_ref()
                .and_then(|s| s.under_replicated_partitions)
                == Some(2)
                && condition(t, "Degraded").is_some_and(|c| c.0 == "True")
        })
        .await;
    assert_eq!(t.status.as_ref().unwrap().offline_partitions, Some(0));
    assert_eq!(
        kafka_cli::count_filtered(&name, "--under-replicated-partitions"),
        2
    );

    // Every acknowledged sign-up, from before the fix to now, is readable without broker 1.
    witness.finish(None).await;

    // Broker 1 comes back: the ISR fills up again and Degraded clears.
    drop(down);
    env.wait_topic("account-event", "healthy again", |t| {
        t.status
            .as_ref()
            .and_then(|s| s.under_replicated_partitions)
            == Some(0)
            && condition(t, "Degraded").is_some_and(|c| c.0 == "False")
    })
    .await;
    for p in kafka_cli::describe(&name).unwrap().partitions {
        assert_eq!(p.isr.len(), 3, "{p:?}");
    }
}
