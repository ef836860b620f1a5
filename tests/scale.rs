//! A few hundred KafkaTopics applied at once, as a GitOps sync does: all become Ready, each topic
//! is created once (creations go to Kafka in batches), one invalid declaration in the batch fails
//! alone with Kafka's own message, and once in sync nothing more is written. Behaviour only:
//! speed is measured by `make bench` (docs/benchmarks.md), never asserted here.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use kube::api::ListParams;

const COUNT: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_topics_applied_at_once_are_created_in_batches_and_fail_alone() {
    let env = TestEnv::start("scale").await;
    let prefix = unique("scale");
    let mut yaml = String::new();
    for i in 0..COUNT {
        // One declaration Kafka refuses, in the middle of the batch.
        let config = if i == COUNT / 2 {
            "\n  config:\n    cleanup.policy: sideways"
        } else {
            ""
        };
        yaml.push_str(&format!(
            "---\napiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaTopic\nmetadata:\n  name: t{i}\nspec:\n  clusterRef:\n    name: kafka\n  topicName: {prefix}-{i}\n  partitions: 1{config}\n"
        ));
    }
    kubectl_apply(&env.ns, &yaml).expect("kubectl apply of the batch");

    let topics = env.topics();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    let bad = format!("t{}", COUNT / 2);
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
        .filter(|i| *i != COUNT / 2)
        .map(|i| format!("{prefix}-{i}"))
        .collect();
    assert_eq!(listed, expected);

    // Batched: far fewer CreateTopics requests than topics.
    let creates = env.kafka_requests("CreateTopics");
    assert!(
        creates <= (COUNT / 10) as u64,
        "{creates} CreateTopics requests for {COUNT} topics"
    );
    // Each topic created once: one TopicCreated event per valid KafkaTopic, none twice.
    let names = env.created_once();
    assert_eq!(names.len(), COUNT - 1, "TopicCreated events: {names:?}");

    // In sync: several resyncs write nothing to Kafka.
    let writes = env.kafka_writes();
    let reads = env.kafka_requests("Metadata");
    env.wait_for("three resyncs", || {
        env.kafka_requests("Metadata") >= reads + 3
    })
    .await;
    assert_eq!(env.kafka_writes(), writes, "a write with nothing to change");

    // Leave Kafka as small as it was for the test binaries that follow.
    kafka_cli::delete_matching(&format!("{prefix}-.*"));
}
