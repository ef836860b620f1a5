//! Broker replication throttle rates the operator did not set are never removed: an
//! administrator's cap (or a balancer's rate) stays through the operator's moves and its idle
//! clean-up. Alone in its test binary because broker rates are shared by every test: the
//! other binaries' moves set and remove rates of their own on every broker.

mod common;

use common::kafka_cli;
use common::witness::DeleteTopicOnDrop;
use common::*;
use serde_json::json;

const RATE_KEYS: [&str; 2] = [
    "leader.replication.throttled.rate",
    "follower.replication.throttled.rate",
];

/// Rates set by hand on one broker with Kafka's CLI, removed when the test ends, pass or fail.
struct HandSetRates(i32);

impl HandSetRates {
    fn set(broker: i32, rate: i64) -> HandSetRates {
        let configs = RATE_KEYS.map(|k| format!("{k}={rate}")).join(",");
        kafka_cli::alter_broker_config(broker, "--add-config", &configs);
        HandSetRates(broker)
    }
}

impl Drop for HandSetRates {
    fn drop(&mut self) {
        // Kafka's CLI refuses to delete a config that is not set (as when the test failed
        // because something removed them), and a panic in a drop aborts the test binary.
        let _ = std::panic::catch_unwind(|| {
            let set = kafka_cli::broker_overrides(self.0);
            let present: Vec<&str> = RATE_KEYS
                .into_iter()
                .filter(|k| set.contains_key(*k))
                .collect();
            if !present.is_empty() {
                kafka_cli::alter_broker_config(self.0, "--delete-config", &present.join(","));
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_set_by_hand_stays_through_a_move_and_the_idle_clean_up() {
    // An administrator's 7 MiB/s cap on broker 3, which the move below does not involve.
    let hand_set: i64 = 7 * 1024 * 1024;
    assert_ne!(hand_set, MOVE_THROTTLE);
    let _rates = HandSetRates::set(3, hand_set);
    // An empty topic on brokers 1 and 2, declared with one replica: a move of brokers 1 and 2
    // only, throttled at MOVE_THROTTLE, over in moments.
    let name = unique("hand-set");
    let _cleanup = DeleteTopicOnDrop(name.clone());
    kafka_cli::create(&name, &["--replica-assignment", "1:2"]);
    let env = TestEnv::start_with(
        "hand-set",
        ClusterOptions {
            reassignment: json!({"throttleBytesPerSecond": MOVE_THROTTLE}),
            ..Default::default()
        },
    )
    .await;
    env.apply_topic(
        "hand-set",
        json!({"topicName": name, "partitions": 1, "replicationFactor": 1, "minInSyncReplicas": 1}),
    )
    .await;
    env.wait_topic("hand-set", "RF 1 and Ready", |t| {
        condition(t, "Ready").is_some_and(|c| c.0 == "True")
            && t.status.as_ref().and_then(|s| s.replication_factor) == Some(1)
    })
    .await;
    assert_eq!(kafka_cli::describe(&name).unwrap().replication_factor, 1);

    // The clean-up ran (it removed the rates of the move from the brokers it throttled)...
    let event = env.wait_event("kafka", "ThrottlesRemoved").await;
    let brokers = event
        .split("brokers [")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .unwrap_or_default()
        .to_string();
    assert!(
        !brokers.is_empty() && !brokers.split(", ").any(|b| b == "3"),
        "{event}"
    );
    // ...and the hand-set rates are still there, per kafka-configs --describe.
    let on_3 = kafka_cli::broker_overrides(3);
    for key in RATE_KEYS {
        assert_eq!(
            on_3.get(key),
            Some(&hand_set.to_string()),
            "{key} on broker 3: {on_3:?}"
        );
    }
}
