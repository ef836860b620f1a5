//! Faults during mass creation converge: the operator SIGKILLed in the middle of creating 200
//! topics is restarted; every topic ends Ready, exists once in Kafka, and none is created twice
//! (the creator re-reads before it creates, so a topic the killed process created is adopted).

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use kube::api::ListParams;

const COUNT: usize = 200;

fn operator(ns: &str, log: &str) -> OperatorProcess {
    OperatorProcess::start(
        &[
            "run",
            "--namespace",
            ns,
            "--resync-interval",
            "2s",
            "--http-addr",
            "off",
        ],
        &[],
        &std::env::temp_dir().join(format!("{ns}-{log}.log")),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_killed_while_creating_200_topics_converges_without_creating_twice() {
    let env = TestEnv::without_operator("kill-create", ClusterOptions::default()).await;
    let prefix = unique("killed");
    let mut yaml = String::new();
    for i in 0..COUNT {
        yaml.push_str(&format!(
            "---\napiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaTopic\nmetadata:\n  name: t{i}\nspec:\n  clusterRef:\n    name: kafka\n  topicName: {prefix}-{i}\n  partitions: 1\n"
        ));
    }
    kubectl_apply(&env.ns, &yaml).expect("kubectl apply");
    let mut first = operator(&env.ns, "first");
    // Kill it once some, not all, topics exist.
    let deadline = Instant::now() + WAIT;
    let created_before_kill = loop {
        let n = kafka_cli::list()
            .iter()
            .filter(|t| t.starts_with(&prefix))
            .count();
        if n > 0 {
            break n;
        }
        assert!(
            Instant::now() < deadline,
            "the first operator created nothing"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    eprintln!(
        "faults: operator SIGKILLed once {created_before_kill} of {COUNT} topics were in Kafka (statuses not yet written)"
    );

    let _second = operator(&env.ns, "second");
    let topics = env.topics();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let list = topics.list(&ListParams::default()).await.unwrap();
        let ready = list
            .items
            .iter()
            .filter(|t| condition(t, "Ready").is_some_and(|c| c.0 == "True"))
            .count();
        if ready == COUNT {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{ready} of {COUNT} Ready after the restart"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let listed: BTreeSet<String> = kafka_cli::list()
        .into_iter()
        .filter(|t| t.starts_with(&prefix))
        .collect();
    assert_eq!(listed.len(), COUNT, "every topic exists in Kafka");
    // None created twice: at most one TopicCreated per KafkaTopic, and no CreateTopics answered
    // TopicAlreadyExists (the restarted operator read before it created).
    env.created_once();
    let second_log =
        std::fs::read_to_string(std::env::temp_dir().join(format!("{}-second.log", env.ns)))
            .unwrap();
    assert!(
        !second_log.contains("TopicAlreadyExists"),
        "the restarted operator sent a creation for a topic that existed"
    );
    kafka_cli::delete_matching(&format!("{prefix}-.*"));
}
