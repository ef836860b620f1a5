//! Guardrails against the incident's other causes: the operator never creates a topic by
//! looking at it, finds brokers that auto-create topics, and lists topics nobody declared.
//! Uses the environment's second Kafka cluster, where auto.create.topics.enable=true.

mod common;

use std::time::Duration;

use common::kafka_cli;
use common::*;
use kafka_topic_operator::kafka::{KafkaAdmin, KafkaProtocolAdmin};
use serde_json::json;

fn autocreate_bootstrap() -> String {
    env_var("KTO_KAFKA_AUTOCREATE_BOOTSTRAP")
}

fn on_autocreate(mode: &'static str) -> ClusterOptions {
    ClusterOptions {
        bootstrap: vec![autocreate_bootstrap()],
        mode,
        defaults: json!({"replicationFactor": 1, "minInSyncReplicas": 1}),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observing_and_reconciling_a_missing_topic_never_creates_it() {
    // Observe mode: the operator looks (snapshot, per-topic reads) but must not create.
    let env = TestEnv::start_with("no-autocreate", on_autocreate("Observe")).await;
    let missing = unique("looked-at");
    env.apply_topic("looked-at", json!({"topicName": missing}))
        .await;
    env.wait_reason("looked-at", "NotCreated").await;
    env.wait_resyncs(3).await;
    assert!(
        !kafka_cli::topics_on(&autocreate_bootstrap()).contains(&missing),
        "looking at the topic created it"
    );

    // The client itself, asked directly for a missing topic, creates nothing either.
    let admin = KafkaProtocolAdmin::new(vec![autocreate_bootstrap()], Duration::from_secs(10));
    let other = unique("described");
    assert!(
        admin
            .describe_topics(std::slice::from_ref(&other))
            .await
            .unwrap()
            .is_empty()
    );
    admin.snapshot().await.unwrap();
    assert!(!kafka_cli::topics_on(&autocreate_bootstrap()).contains(&other));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brokers_that_auto_create_are_reported_once_and_policy_allow_silences_them() {
    let env = TestEnv::start_with("autocreate", on_autocreate("Enforce")).await;
    let c = env
        .wait_cluster("AutoCreateDisabled=False", |c| {
            cluster_condition(c, "AutoCreateDisabled").is_some_and(|x| x.0 == "False")
        })
        .await;
    let s = c.status.clone().unwrap();
    assert_eq!(s.auto_create_brokers, vec![1]);
    let (_, reason, message) = cluster_condition(&c, "AutoCreateDisabled").unwrap();
    assert_eq!(reason, "AutoCreateEnabled");
    assert!(
        message.contains("brokers 1 have auto.create.topics.enable=true"),
        "{message}"
    );
    let out = kubectl(&[
        "get",
        "kafkaclusters.kafka.topic-operator.dev",
        "kafka",
        "-n",
        &env.ns,
    ]);
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(&header[..3], ["NAME", "BROKERS", "AUTO-CREATE"]);
    assert!(
        out.lines().nth(1).unwrap().contains("Enabled on 1"),
        "{out}"
    );
    assert_eq!(
        env.metric("kto_cluster_auto_create_brokers", &[("namespace", &env.ns)]),
        Some(1.0)
    );

    // Once per change, not every resync.
    env.wait_resyncs(4).await;
    let warnings = env
        .events_for("kafka")
        .into_iter()
        .filter(|e| e.starts_with("Warning AutoCreateEnabled"))
        .count();
    assert_eq!(warnings, 1, "{:?}", env.events_for("kafka"));

    // Allowed by policy: still reported, no new warning.
    kubectl(&[
        "patch",
        "kafkaclusters.kafka.topic-operator.dev",
        "kafka",
        "-n",
        &env.ns,
        "--type=merge",
        "-p",
        r#"{"spec":{"policy":{"autoCreateTopics":"Allow"}}}"#,
    ]);
    env.wait_cluster("AllowedByPolicy", |c| {
        cluster_condition(c, "AutoCreateDisabled").is_some_and(|x| x.1 == "AllowedByPolicy")
    })
    .await;
    env.wait_resyncs(2).await;
    let events = env.events_for("kafka");
    assert_eq!(
        events
            .iter()
            .filter(|e| e.starts_with("Warning AutoCreateEnabled"))
            .count(),
        1,
        "{events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| e.starts_with("Warning AllowedByPolicy")),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_cluster_has_auto_creation_off() {
    let env = TestEnv::start("no-autocreate-main").await;
    let c = env
        .wait_cluster("AutoCreateDisabled=True", |c| {
            cluster_condition(c, "AutoCreateDisabled").is_some_and(|x| x.0 == "True")
        })
        .await;
    assert_eq!(c.status.unwrap().auto_create.as_deref(), Some("Disabled"));
    assert_eq!(
        env.metric("kto_cluster_auto_create_brokers", &[("namespace", &env.ns)]),
        Some(0.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_created_by_a_producer_shows_as_unmanaged_within_one_resync() {
    let env = TestEnv::start_with("unmanaged", on_autocreate("Enforce")).await;
    env.wait_cluster("Ready", |c| {
        cluster_condition(c, "Ready").is_some_and(|x| x.0 == "True")
    })
    .await;
    let name = unique("by-producer");
    kafka_cli::produce_one_on(&autocreate_bootstrap(), &name);
    assert!(
        kafka_cli::topics_on(&autocreate_bootstrap()).contains(&name),
        "the broker did not auto-create the topic"
    );
    let looks_before = *env.observers.updates().borrow();
    env.wait_cluster("the topic listed as unmanaged", |c| {
        c.status
            .as_ref()
            .is_some_and(|s| s.unmanaged_topic_names.contains(&name))
    })
    .await;
    // Counted in looks at Kafka, not seconds: the first look after the topic appeared lists it
    // (one more may pass while its status is written).
    let looks = env.observers.updates().borrow().wrapping_sub(looks_before);
    assert!(looks <= 3, "listed only after {looks} looks at Kafka");
    let count = env
        .metric("kto_cluster_unmanaged_topics", &[("namespace", &env.ns)])
        .unwrap();
    assert!(count >= 1.0, "{count}");

    // Ignore: not reported.
    kubectl(&[
        "patch",
        "kafkaclusters.kafka.topic-operator.dev",
        "kafka",
        "-n",
        &env.ns,
        "--type=merge",
        "-p",
        r#"{"spec":{"policy":{"unmanagedTopics":"Ignore"}}}"#,
    ]);
    env.wait_cluster("unmanaged not reported", |c| {
        c.status
            .as_ref()
            .is_some_and(|s| s.unmanaged_topics.is_none() && s.unmanaged_topic_names.is_empty())
    })
    .await;
}
