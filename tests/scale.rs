//! A few hundred KafkaTopics applied at once, as a GitOps sync does: all become Ready, each topic
//! is created once (creations go to Kafka in batches), one invalid declaration in the batch fails
//! alone with Kafka's own message, and once in sync nothing more is written. Then one sync
//! changes them all (configs, partitions): the writes go in batches, and one refused value
//! leaves its topic untouched while the others change. Behaviour only:
//! speed is measured by `make bench` (docs/benchmarks.md), never asserted here.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use kafka_topic_operator::api::KafkaTopic;
use kube::api::ListParams;

const COUNT: usize = 300;
/// The declaration Kafka refuses at creation.
const BAD: usize = COUNT / 2;
/// The one whose later change Kafka refuses.
const BAD_CHANGE: usize = 1;

/// COUNT KafkaTopics `t0..`, each with the partitions and `config:` lines `shape` gives it.
fn manifests(prefix: &str, shape: impl Fn(usize) -> (i32, String)) -> String {
    let mut yaml = String::new();
    for i in 0..COUNT {
        let (partitions, config) = shape(i);
        let config = if config.is_empty() {
            String::new()
        } else {
            format!("\n  config:\n    {config}")
        };
        yaml.push_str(&format!(
            "---\napiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaTopic\nmetadata:\n  name: t{i}\nspec:\n  clusterRef:\n    name: kafka\n  topicName: {prefix}-{i}\n  partitions: {partitions}{config}\n"
        ));
    }
    yaml
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_topics_applied_at_once_are_created_in_batches_and_fail_alone() {
    let env = TestEnv::start("scale").await;
    let prefix = unique("scale");
    // One declaration Kafka refuses, in the middle of the batch.
    let yaml = manifests(&prefix, |i| {
        let config = if i == BAD {
            "cleanup.policy: sideways"
        } else {
            ""
        };
        (1, config.to_string())
    });
    kubectl_apply(&env.ns, &yaml).expect("kubectl apply of the batch");

    let topics = env.topics();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    let bad = format!("t{BAD}");
    loop {
        let list = topics.list(&ListParams::default()).await.unwrap();
        let ready = list
            .items
            .iter()
            .filter(|t| condition(t, "Ready").is_some_and(|c| c.0 == "True"))
            .count();
        let bad_reason = list
            .items
            .iter()
            .find(|t| t.metadata.name.as_deref() == Some(bad.as_str()))
            .and_then(|t| condition(t, "Ready"));
        if ready == COUNT - 1 && bad_reason.as_ref().is_some_and(|c| c.1 == "InvalidConfig") {
            let (_, _, message) = bad_reason.unwrap();
            assert!(message.contains("sideways"), "Kafka's message: {message}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waiting for {} Ready and {bad} InvalidConfig: {ready} Ready, {bad} {bad_reason:?}",
            COUNT - 1
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // Kafka's own view: every valid topic exists, the invalid one does not.
    let listed: BTreeSet<String> = kafka_cli::list()
        .into_iter()
        .filter(|t| t.starts_with(&prefix))
        .collect();
    let expected: BTreeSet<String> = (0..COUNT)
        .filter(|i| *i != BAD)
        .map(|i| format!("{prefix}-{i}"))
        .collect();
    assert_eq!(listed, expected);

    // Batched: far fewer CreateTopics requests than topics.
    let creates = env.kafka_requests("CreateTopics");
    assert!(
        creates <= (COUNT / 10) as u64,
        "{creates} CreateTopics requests for {COUNT} topics"
    );
    // Each topic created once: one TopicCreated event per valid KafkaTopic, none twice. Events
    // are posted in the background, a few at a time after the statuses, so the last ones may
    // arrive after all Ready: wait for them (created_once fails on a repeat at every look).
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut names = env.created_once();
    while names.len() < COUNT - 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        names = env.created_once();
    }
    assert_eq!(names.len(), COUNT - 1, "TopicCreated events: {names:?}");

    // In sync: several resyncs write nothing to Kafka.
    let writes = env.kafka_writes();
    let reads = env.kafka_requests("Metadata");
    env.wait_for("three resyncs", || {
        env.kafka_requests("Metadata") >= reads + 3
    })
    .await;
    assert_eq!(env.kafka_writes(), writes, "a write with nothing to change");

    // One sync changes them all: a new retention everywhere, a partition more for every third
    // topic, and one value Kafka refuses on a topic that also grows (it must get neither).
    let alters = env.kafka_requests("IncrementalAlterConfigs");
    let grows = env.kafka_requests("CreatePartitions");
    let partitions = |i: usize| {
        if i.is_multiple_of(3) || i == BAD_CHANGE {
            2
        } else {
            1
        }
    };
    let yaml = manifests(&prefix, |i| {
        let config = match i {
            BAD => "cleanup.policy: sideways",
            BAD_CHANGE => "retention.ms: \"abc\"",
            _ => "retention.ms: \"3600000\"",
        };
        (partitions(i), config.to_string())
    });
    kubectl_apply(&env.ns, &yaml).expect("kubectl apply of the change");
    let bad_change = format!("t{BAD_CHANGE}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let list = topics.list(&ListParams::default()).await.unwrap();
        let current = |t: &&KafkaTopic| {
            t.status.as_ref().and_then(|s| s.observed_generation) == t.metadata.generation
        };
        let ready = list
            .items
            .iter()
            .filter(current)
            .filter(|t| condition(t, "Ready").is_some_and(|c| c.0 == "True"))
            .count();
        let refused = list
            .items
            .iter()
            .filter(current)
            .find(|t| t.metadata.name.as_deref() == Some(bad_change.as_str()))
            .and_then(|t| condition(t, "Ready"));
        if ready == COUNT - 2 && refused.as_ref().is_some_and(|c| c.1 == "InvalidConfig") {
            let (_, _, message) = refused.unwrap();
            assert!(message.contains("abc"), "Kafka's message: {message}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waiting for {} Ready at the new generation and {bad_change} InvalidConfig: {ready} Ready, {bad_change} {refused:?}",
            COUNT - 2
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // Kafka's own view of every topic.
    let overrides = kafka_cli::all_overrides();
    let counts = kafka_cli::partition_counts(&format!("{prefix}-.*"));
    for i in (0..COUNT).filter(|i| *i != BAD) {
        let name = format!("{prefix}-{i}");
        let retention = overrides.get(&name).and_then(|o| o.get("retention.ms"));
        if i == BAD_CHANGE {
            assert_eq!(retention, None, "{name}: the refused value is not set");
            assert_eq!(
                counts.get(&name),
                Some(&1),
                "{name}: not grown, nothing half-applied"
            );
        } else {
            assert_eq!(retention.map(String::as_str), Some("3600000"), "{name}");
            assert_eq!(counts.get(&name), Some(&partitions(i)), "{name}");
        }
    }
    // Batched: one topic alone costs two IncrementalAlterConfigs (validate, then set); the
    // batch sends far fewer requests than topics.
    let alters = env.kafka_requests("IncrementalAlterConfigs") - alters;
    let grows = env.kafka_requests("CreatePartitions") - grows;
    println!("the change: {alters} IncrementalAlterConfigs, {grows} CreatePartitions requests");
    assert!(
        alters <= (COUNT / 2) as u64,
        "{alters} IncrementalAlterConfigs requests for {} topics",
        COUNT - 1
    );
    assert!(
        grows <= (COUNT / 6) as u64,
        "{grows} CreatePartitions requests for {} growing topics",
        COUNT / 3
    );

    // Leave Kafka as small as it was for the test binaries that follow.
    kafka_cli::delete_matching(&format!("{prefix}-.*"));
}
