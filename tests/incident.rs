//! The incident, replayed on the real 3-broker cluster: `account_event` was auto-created with
//! one partition and replication factor 1 on broker 1, and sign-ups were lost when broker 1
//! died. Declaring it fixes it: after the operator is done, broker 1 can die and nothing is
//! lost. Alone in its test binary because it kills a broker.

mod common;

use std::collections::BTreeSet;

use common::kafka_cli;
use common::*;
use serde_json::json;

fn records(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|i| format!("user-{i}:signed-up-{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_event_incident_cannot_happen_again() {
    let env = TestEnv::start("incident").await;
    // As auto-creation made it: 1 partition, replication factor 1, on broker 1.
    let name = unique("account_event");
    kafka_cli::create(&name, &["--replica-assignment", "1"]);
    kafka_cli::produce_keyed(&name, &records(0..1000));

    env.apply_topic(
        "account-event",
        json!({"topicName": name, "partitions": 2, "replicationFactor": 3, "minInSyncReplicas": 2}),
    )
    .await;
    env.wait_ready("account-event").await;

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

    // Broker 1 dies, as in the incident. acks=all writes still succeed.
    let down = BrokerDown::kill("1");
    kafka_cli::produce_keyed(&name, &records(1000..1100));
    let read = kafka_cli::consume_all(&name, 1100);
    let expected: BTreeSet<String> = records(0..1100).into_iter().collect();
    let got: BTreeSet<String> = read.into_iter().collect();
    assert_eq!(
        got.len(),
        1100,
        "records lost: {} of 1100 read back",
        got.len()
    );
    assert_eq!(got, expected);

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
