//! KafkaTopic reconcile against the real Kafka and kube-apiserver. Kafka's state is read back
//! with Kafka's own CLI.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::kafka_cli;
use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_topic_is_created_as_declared_with_cluster_defaults_not_broker_defaults() {
    // Broker defaults in the test cluster are 1 partition, RF 1, min ISR 1: anything else
    // comes from the declaration or the KafkaCluster's topicDefaults.
    let env = TestEnv::start_with(
        "create",
        ClusterOptions {
            defaults: json!({"partitions": 4, "replicationFactor": 3, "minInSyncReplicas": 2}),
            ..Default::default()
        },
    )
    .await;
    let name = unique("created");
    env.apply_topic(
        "created",
        json!({"topicName": name, "config": {"retention.ms": 7200000, "cleanup.policy": "delete"}}),
    )
    .await;
    let t = env.wait_ready("created").await;

    let cli = kafka_cli::describe(&name).expect("topic exists in Kafka");
    assert_eq!(cli.partition_count, 4);
    assert_eq!(cli.replication_factor, 3);
    for p in &cli.partitions {
        let distinct: BTreeSet<_> = p.replicas.iter().collect();
        assert_eq!(
            distinct.len(),
            3,
            "partition {} has replicas {:?}",
            p.id,
            p.replicas
        );
    }
    let overrides = kafka_cli::overrides(&name);
    assert_eq!(
        overrides.get("min.insync.replicas").map(String::as_str),
        Some("2")
    );
    assert_eq!(
        overrides.get("retention.ms").map(String::as_str),
        Some("7200000")
    );
    assert_eq!(
        overrides.get("cleanup.policy").map(String::as_str),
        Some("delete")
    );

    let s = t.status.unwrap();
    assert_eq!(
        (s.partitions, s.replication_factor, s.min_in_sync_replicas),
        (Some(4), Some(3), Some(2))
    );
    assert_eq!(s.topic_id.as_deref(), Some(cli.topic_id.as_str()));
    assert_eq!(s.state.as_deref(), Some("InSync"));
    env.wait_event("created", "TopicCreated").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_topic_is_adopted_not_recreated_then_aligned() {
    let env = TestEnv::start("adopt").await;
    let name = unique("adopted");
    kafka_cli::create(
        &name,
        &[
            "--partitions",
            "1",
            "--replication-factor",
            "3",
            "--config",
            "retention.ms=1000",
        ],
    );
    let before = kafka_cli::describe(&name).unwrap();

    env.apply_topic("adopted", json!({"topicName": name, "partitions": 3, "replicationFactor": 3, "minInSyncReplicas": 2, "config": {"retention.ms": 5000}})).await;
    let t = env
        .wait_topic("adopted", "3 partitions and Ready", |t| {
            condition(t, "Ready").is_some_and(|c| c.0 == "True")
                && t.status.as_ref().and_then(|s| s.partitions) == Some(3)
        })
        .await;

    let after = kafka_cli::describe(&name).unwrap();
    assert_eq!(after.topic_id, before.topic_id, "the topic was recreated");
    assert_eq!(after.partition_count, 3);
    let overrides = kafka_cli::overrides(&name);
    assert_eq!(
        overrides.get("retention.ms").map(String::as_str),
        Some("5000")
    );
    assert_eq!(
        overrides.get("min.insync.replicas").map(String::as_str),
        Some("2")
    );
    assert_eq!(
        t.status.unwrap().topic_id.as_deref(),
        Some(before.topic_id.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_grow_and_a_decrease_is_rejected_at_admission() {
    let env = TestEnv::start("grow").await;
    let name = unique("grow");
    env.apply_topic("grow", json!({"topicName": name, "partitions": 2}))
        .await;
    env.wait_ready("grow").await;
    assert_eq!(kafka_cli::describe(&name).unwrap().partition_count, 2);

    env.apply_topic("grow", json!({"topicName": name, "partitions": 5}))
        .await;
    let t = env
        .wait_topic("grow", "5 partitions", |t| {
            t.status.as_ref().and_then(|s| s.partitions) == Some(5)
        })
        .await;
    assert_eq!(kafka_cli::describe(&name).unwrap().partition_count, 5);
    assert_eq!(t.status.unwrap().partitions, Some(5));
    let event = env.wait_event("grow", "PartitionsIncreased").await;
    assert!(
        event.contains("2 -> 5") && event.contains("keys now map to other partitions"),
        "{event}"
    );

    let err = kubectl_failing(&[
        "patch",
        "kafkatopic",
        "grow",
        "-n",
        &env.ns,
        "--type=merge",
        "-p",
        r#"{"spec":{"partitions":3}}"#,
    ]);
    assert!(err.contains("partitions can only grow"), "{err}");
    assert_eq!(kafka_cli::describe(&name).unwrap().partition_count, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_partitions_in_kafka_than_declared_blocks_and_changes_nothing() {
    let env = TestEnv::start("decrease").await;
    let name = unique("wide");
    kafka_cli::create(
        &name,
        &[
            "--partitions",
            "5",
            "--replication-factor",
            "3",
            "--config",
            "retention.ms=1000",
        ],
    );
    env.apply_topic(
        "wide",
        json!({"topicName": name, "partitions": 3, "config": {"retention.ms": 9999}}),
    )
    .await;
    let t = env.wait_reason("wide", "PartitionDecreaseNotAllowed").await;
    let (_, _, message) = condition(&t, "Ready").unwrap();
    assert!(message.contains("Kafka has 5 partitions"), "{message}");
    // Give the operator a few resyncs to (wrongly) change something.
    let reads = env.kafka_requests("Metadata");
    env.wait_for("three more snapshots", || {
        env.kafka_requests("Metadata") >= reads + 3
    })
    .await;
    assert_eq!(kafka_cli::describe(&name).unwrap().partition_count, 5);
    assert_eq!(
        kafka_cli::overrides(&name)
            .get("retention.ms")
            .map(String::as_str),
        Some("1000")
    );
    assert_eq!(env.kafka_writes(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configs_are_set_changed_and_removed() {
    let env = TestEnv::start("configs").await;
    let name = unique("cfg");
    env.apply_topic("cfg", json!({"topicName": name, "minInSyncReplicas": 2, "config": {"retention.ms": 1000, "segment.ms": 600000, "preallocate": true}})).await;
    env.wait_ready("cfg").await;
    let o = kafka_cli::overrides(&name);
    assert_eq!(o.get("retention.ms").map(String::as_str), Some("1000"));
    assert_eq!(o.get("segment.ms").map(String::as_str), Some("600000"));
    assert_eq!(o.get("preallocate").map(String::as_str), Some("true"));
    assert_eq!(o.get("min.insync.replicas").map(String::as_str), Some("2"));

    // Change one, remove one (server-side apply drops the field), change min ISR.
    env.apply_topic("cfg", json!({"topicName": name, "minInSyncReplicas": 1, "config": {"retention.ms": 2000, "preallocate": true}})).await;
    env.wait_topic("cfg", "min ISR 1", |t| {
        t.status.as_ref().and_then(|s| s.min_in_sync_replicas) == Some(1)
    })
    .await;
    let o = kafka_cli::overrides(&name);
    assert_eq!(o.get("retention.ms").map(String::as_str), Some("2000"));
    assert_eq!(
        o.get("segment.ms"),
        None,
        "removed from the spec, so its override must be gone: {o:?}"
    );
    assert_eq!(o.get("min.insync.replicas").map(String::as_str), Some("1"));
    env.wait_event("cfg", "ConfigUpdated").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_made_with_kafkas_cli_is_reported_and_reverted() {
    let env = TestEnv::start("drift").await;
    let name = unique("drift");
    env.apply_topic(
        "drift",
        json!({"topicName": name, "config": {"retention.ms": 86400000}}),
    )
    .await;
    env.wait_ready("drift").await;

    kafka_cli::alter_config(&name, "retention.ms=1000,segment.ms=60000");
    let t = env
        .wait_topic("drift", "the revert to be reported", |t| {
            condition(t, "Drifted").is_some_and(|c| c.1 == "Reverted")
        })
        .await;
    let o = kafka_cli::overrides(&name);
    assert_eq!(o.get("retention.ms").map(String::as_str), Some("86400000"));
    assert_eq!(
        o.get("segment.ms"),
        None,
        "an override set behind the operator's back is removed"
    );
    let (status, _, message) = condition(&t, "Drifted").unwrap();
    assert_eq!(status, "False");
    assert!(
        message.contains("config.retention.ms: declared 86400000, found 1000"),
        "{message}"
    );
    let event = env.wait_event("drift", "DriftReverted").await;
    assert!(event.contains("config.segment.ms"), "{event}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_in_observe_mode_is_reported_and_left_alone() {
    let env = TestEnv::start_with(
        "observe",
        ClusterOptions {
            mode: "Observe",
            ..Default::default()
        },
    )
    .await;
    let name = unique("observed");
    kafka_cli::create(
        &name,
        &[
            "--partitions",
            "3",
            "--replication-factor",
            "3",
            "--config",
            "min.insync.replicas=2",
        ],
    );
    env.apply_topic("observed", json!({"topicName": name}))
        .await;
    env.wait_ready("observed").await;

    kafka_cli::alter_config(&name, "retention.ms=1000");
    let t = env
        .wait_topic("observed", "drift in status", |t| {
            t.status.as_ref().is_some_and(|s| !s.drift.is_empty())
        })
        .await;
    let s = t.status.clone().unwrap();
    assert_eq!(s.drift.len(), 1);
    assert_eq!(
        (
            s.drift[0].field.as_str(),
            s.drift[0].desired.as_str(),
            s.drift[0].observed.as_str()
        ),
        ("config.retention.ms", "<unset>", "1000")
    );
    assert_eq!(condition(&t, "Drifted").unwrap().0, "True");
    env.wait_event("observed", "DriftDetected").await;
    env.wait_resyncs(3).await;
    assert_eq!(
        kafka_cli::overrides(&name)
            .get("retention.ms")
            .map(String::as_str),
        Some("1000")
    );
    assert_eq!(env.kafka_writes(), 0, "Observe mode sent a write");

    // A missing topic is reported, not created.
    let missing = unique("not-created");
    env.apply_topic("missing", json!({"topicName": missing}))
        .await;
    env.wait_reason("missing", "NotCreated").await;
    assert!(!kafka_cli::exists(&missing));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_declarations_of_one_topic_the_older_owns_it() {
    let env = TestEnv::start("conflict").await;
    let name = unique("shared");
    env.apply_topic(
        "first",
        json!({"topicName": name, "config": {"retention.ms": 1000}}),
    )
    .await;
    env.wait_ready("first").await;
    tokio::time::sleep(Duration::from_millis(1100)).await; // creationTimestamp has 1s resolution
    env.apply_topic(
        "second",
        json!({"topicName": name, "deletionPolicy": "Delete", "config": {"retention.ms": 2000}}),
    )
    .await;
    let t = env.wait_reason("second", "Conflict").await;
    assert!(condition(&t, "Ready").unwrap().2.contains("/first"));
    env.wait_resyncs(2).await;
    assert_eq!(
        kafka_cli::overrides(&name)
            .get("retention.ms")
            .map(String::as_str),
        Some("1000"),
        "the newer declaration changed the topic"
    );
    assert_eq!(
        condition(&env.get_topic("first").await, "Ready").unwrap().0,
        "True"
    );

    env.delete_topic_resource("second").await;
    env.wait_topic_gone("second").await;
    assert!(
        kafka_cli::exists(&name),
        "deleting the conflicting declaration deleted the topic"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_policy_retain_keeps_the_topic_and_delete_removes_it() {
    let env = TestEnv::start("deletion").await;
    let kept = unique("kept");
    let doomed = unique("doomed");
    env.apply_topic("kept", json!({"topicName": kept})).await;
    env.apply_topic(
        "doomed",
        json!({"topicName": doomed, "deletionPolicy": "Delete"}),
    )
    .await;
    env.wait_ready("kept").await;
    let d = env.wait_ready("doomed").await;
    assert!(
        env.get_topic("kept")
            .await
            .metadata
            .finalizers
            .unwrap_or_default()
            .is_empty()
    );
    assert_eq!(
        d.metadata.finalizers.unwrap_or_default(),
        vec!["kafka.topic-operator.dev/delete-topic".to_string()]
    );

    env.delete_topic_resource("kept").await;
    env.wait_topic_gone("kept").await;
    assert!(kafka_cli::exists(&kept));

    env.delete_topic_resource("doomed").await;
    env.wait_topic_gone("doomed").await;
    assert!(
        !kafka_cli::exists(&doomed),
        "deletionPolicy Delete must delete the topic"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_written_when_nothing_changed() {
    let env = TestEnv::start("idle").await;
    let name = unique("idle");
    env.apply_topic(
        "idle",
        json!({"topicName": name, "config": {"retention.ms": 1000}}),
    )
    .await;
    env.wait_ready("idle").await;
    // Let the first read-back settle, then watch several resyncs.
    env.wait_resyncs(2).await;
    let before = env.get_topic("idle").await;
    let writes_before = env.kafka_writes();
    let reads_before = env
        .observers
        .get(&(env.ns.clone(), "kafka".into()))
        .unwrap()
        .state
        .admin
        .request_counts()["Metadata"];
    // Several resyncs: counted, not timed (a loaded machine takes longer per snapshot).
    env.wait_for("four more snapshots", || {
        env.kafka_requests("Metadata") >= reads_before + 4
    })
    .await;
    let after = env.get_topic("idle").await;
    assert_eq!(
        resource_version(&after),
        resource_version(&before),
        "status was rewritten with nothing changed"
    );
    assert_eq!(
        env.kafka_writes(),
        writes_before,
        "a Kafka write was sent with nothing changed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_config_value_is_reported_with_kafkas_message_and_nothing_is_applied() {
    let env = TestEnv::start("invalid").await;
    let name = unique("sideways");
    env.apply_topic(
        "sideways",
        json!({"topicName": name, "config": {"cleanup.policy": "sideways", "retention.ms": 1000}}),
    )
    .await;
    let t = env.wait_reason("sideways", "InvalidConfig").await;
    let message = condition(&t, "Ready").unwrap().2;
    assert!(
        message.contains("sideways") && message.contains("cleanup.policy"),
        "Kafka's message expected: {message}"
    );
    assert!(
        !kafka_cli::exists(&name),
        "the topic was created despite an invalid config"
    );

    // On an existing topic: a partition increase declared with an invalid config changes nothing.
    let existing = unique("existing");
    env.apply_topic(
        "existing",
        json!({"topicName": existing, "partitions": 2, "config": {"retention.ms": 1000}}),
    )
    .await;
    env.wait_ready("existing").await;
    env.apply_topic("existing", json!({"topicName": existing, "partitions": 4, "config": {"retention.ms": 2000, "cleanup.policy": "sideways"}})).await;
    env.wait_reason("existing", "InvalidConfig").await;
    assert_eq!(kafka_cli::describe(&existing).unwrap().partition_count, 2);
    assert_eq!(
        kafka_cli::overrides(&existing)
            .get("retention.ms")
            .map(String::as_str),
        Some("1000")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_factor_above_the_broker_count_is_not_enough_brokers() {
    let env = TestEnv::start("brokers").await;
    let name = unique("rf4");
    env.apply_topic("rf4", json!({"topicName": name, "replicationFactor": 4}))
        .await;
    let t = env.wait_reason("rf4", "NotEnoughBrokers").await;
    assert!(condition(&t, "Ready").unwrap().2.contains("ids 1, 2, 3"));
    assert!(!kafka_cli::exists(&name));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_shows_the_columns() {
    let env = TestEnv::start("columns").await;
    let name = unique("columns");
    env.apply_topic(
        "columns",
        json!({"topicName": name, "partitions": 2, "replicationFactor": 3, "minInSyncReplicas": 2}),
    )
    .await;
    env.wait_ready("columns").await;
    let out = kubectl(&["get", "kafkatopics.kafka.topic-operator.dev", "-n", &env.ns]);
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "CLUSTER",
            "TOPIC",
            "PARTITIONS",
            "RF",
            "MIN-ISR",
            "READY",
            "STATUS",
            "AGE"
        ]
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        &row[..8],
        [
            "columns",
            "kafka",
            name.as_str(),
            "2",
            "3",
            "2",
            "True",
            "InSync"
        ]
    );

    let wide = kubectl(&[
        "get",
        "kafkatopics.kafka.topic-operator.dev",
        "-n",
        &env.ns,
        "-o",
        "wide",
    ]);
    let mut lines = wide.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "CLUSTER",
            "TOPIC",
            "PARTITIONS",
            "RF",
            "MIN-ISR",
            "READY",
            "STATUS",
            "URP",
            "OFFLINE",
            "UNDER-MIN-ISR",
            "LAST-SYNC",
            "AGE"
        ]
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[8..11], ["0", "0", "0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reapplying_the_same_manifest_after_reconcile_changes_nothing() {
    // What Argo CD does on every sync: server-side apply of the same manifest. The operator
    // writes only status and its own finalizer, so nothing the manifest owns ever differs.
    let env = TestEnv::start("reapply").await;
    let name = unique("gitops");
    let yaml = format!(
        "apiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaTopic\nmetadata:\n  name: gitops\nspec:\n  clusterRef: {{name: kafka}}\n  topicName: {name}\n  partitions: 2\n  deletionPolicy: Delete\n  config: {{retention.ms: 3600000, cleanup.policy: delete}}\n"
    );
    let apply = |yaml: &str| {
        let path = std::env::temp_dir().join(format!("{}.yaml", unique("gitops")));
        std::fs::write(&path, yaml).unwrap();
        kubectl(&[
            "apply",
            "--server-side",
            "--field-manager=argocd-controller",
            "-n",
            &env.ns,
            "-f",
            path.to_str().unwrap(),
        ])
    };
    apply(&yaml);
    env.wait_ready("gitops").await;
    env.wait_resyncs(2).await;
    let before = env.get_topic("gitops").await;
    let out = apply(&yaml);
    assert!(out.contains("serverside-applied"), "{out}");
    let after = env.get_topic("gitops").await;
    assert_eq!(
        after.metadata.generation, before.metadata.generation,
        "the re-apply changed the spec"
    );
    assert_eq!(
        resource_version(&after),
        resource_version(&before),
        "the re-apply changed the object"
    );
    assert_eq!(
        serde_json::to_value(&after.metadata.managed_fields).unwrap(),
        serde_json::to_value(&before.metadata.managed_fields).unwrap()
    );
    assert_eq!(after.metadata.finalizers, before.metadata.finalizers);
    let managers: Vec<String> = after
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(
        managers.contains(&"argocd-controller".to_string())
            && managers.contains(&"kafka-topic-operator".to_string()),
        "{managers:?}"
    );
}

/// Values written the way people write them, not the way Kafka prints them, are no drift:
/// after the first write, resyncs write nothing and send no DriftReverted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_equal_in_meaning_are_written_once_and_never_again() {
    let env = TestEnv::start("typed").await;
    let name = unique("typed");
    env.apply_topic(
        "typed",
        json!({"topicName": name, "config": {
            "min.cleanable.dirty.ratio": 1,
            "cleanup.policy": "compact, delete",
            "preallocate": "True",
            "retention.ms": "86400000"
        }}),
    )
    .await;
    env.wait_ready("typed").await;
    // Kafka stores them in its own spelling.
    let o = kafka_cli::overrides(&name);
    assert_eq!(
        o.get("min.cleanable.dirty.ratio").map(String::as_str),
        Some("1.0"),
        "{o:?}"
    );
    assert_eq!(
        o.get("cleanup.policy").map(String::as_str),
        Some("compact,delete"),
        "{o:?}"
    );
    // Several resyncs later: no write, no status change, no drift event.
    let before = env.get_topic("typed").await;
    let writes = env.kafka_writes();
    let reads = env.kafka_requests("Metadata");
    env.wait_for("four resyncs", || {
        env.kafka_requests("Metadata") >= reads + 4
    })
    .await;
    assert_eq!(
        env.kafka_writes(),
        writes,
        "a value equal in meaning was rewritten"
    );
    let after = env.get_topic("typed").await;
    assert_eq!(resource_version(&after), resource_version(&before));
    assert!(after.status.unwrap().drift.is_empty());
    assert!(
        !env.events_for("typed")
            .iter()
            .any(|e| e.contains("DriftReverted")),
        "{:?}",
        env.events_for("typed")
    );
}

/// With the cluster's adoptedOverrides policy Remove, an adopted topic's undeclared overrides
/// are removed like any other drift (the opt-in for a clean slate); with the default, Keep, they
/// are listed in the status and left alone (tests/do_no_harm.rs proves that with data flowing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopted_overrides_are_kept_by_default_and_removed_only_with_policy_remove() {
    let env = TestEnv::start("adopt-keep").await;
    let kept = unique("kept");
    let removed = unique("removed");
    for name in [&kept, &removed] {
        kafka_cli::create(
            name,
            &[
                "--partitions",
                "1",
                "--replication-factor",
                "3",
                "--config",
                "segment.ms=3600000",
            ],
        );
    }
    env.apply_topic("kept", json!({"topicName": kept, "partitions": 1}))
        .await;
    let t = env.wait_ready("kept").await;
    let status = t.status.unwrap();
    assert_eq!(
        status
            .kept_overrides
            .iter()
            .map(|k| (k.name.as_str(), k.value.as_str()))
            .collect::<Vec<_>>(),
        vec![("segment.ms", "3600000")]
    );
    assert!(
        status
            .warnings
            .iter()
            .any(|w| w.contains("segment.ms=3600000")),
        "{:?}",
        status.warnings
    );
    assert_eq!(
        kafka_cli::overrides(&kept)
            .get("segment.ms")
            .map(String::as_str),
        Some("3600000")
    );
    // An override added later behind the operator's back is drift, and removed.
    kafka_cli::alter_config(&kept, "retention.ms=1000");
    env.wait_event("kept", "DriftReverted").await;
    let o = kafka_cli::overrides(&kept);
    assert_eq!(o.get("retention.ms"), None, "{o:?}");
    assert_eq!(o.get("segment.ms").map(String::as_str), Some("3600000"));

    env.clusters()
        .patch(
            "kafka",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"policy": {"adoptedOverrides": "Remove"}}})),
        )
        .await
        .unwrap();
    // The topic adopted under Remove loses its undeclared override.
    env.apply_topic("removed", json!({"topicName": removed, "partitions": 1}))
        .await;
    env.wait_ready("removed").await;
    env.wait_for("segment.ms removed from the adopted topic", || {
        !kafka_cli::overrides(&removed).contains_key("segment.ms")
    })
    .await;
}
