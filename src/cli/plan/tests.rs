use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

use super::report::{EXIT_CHANGES, EXIT_DESTRUCTIVE_OR_REFUSED, EXIT_NO_CHANGES, Outcome};
use super::*;
use crate::api::{KafkaCluster, KafkaTopic, TenantRule};
use crate::fixtures::{kafka_cluster, observed_on};
use crate::model::{Broker, ClusterSnapshot};

fn at(second: i64) -> Time {
    Time(k8s_openapi::jiff::Timestamp::from_second(second).unwrap())
}

/// A KafkaTopic `ns/name` for KafkaCluster `ns/kafka` with `spec` merged in.
fn topic(ns: &str, name: &str, spec: serde_json::Value) -> KafkaTopic {
    let mut t: KafkaTopic = serde_json::from_value(json!({
        "apiVersion": "kafka.topic-operator.dev/v1alpha1", "kind": "KafkaTopic",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"clusterRef": {"name": "kafka", "namespace": "ns"}}
    }))
    .unwrap();
    let mut value = serde_json::to_value(&t.spec).unwrap();
    for (k, v) in spec.as_object().unwrap() {
        value[k] = v.clone();
    }
    t.spec = serde_json::from_value(value).unwrap();
    t
}

/// `file` as the apiserver has it: created at `created`, with a uid and the status of a
/// reconcile that created topic id `id` with deletion policy `policy`.
fn live(mut file: KafkaTopic, created: i64, id: &str, policy: &str) -> KafkaTopic {
    file.metadata.uid = Some(format!("uid-{}", file.metadata.name.as_deref().unwrap()));
    file.metadata.creation_timestamp = Some(at(created));
    file.status =
        Some(serde_json::from_value(json!({"topicId": id, "deletionPolicy": policy})).unwrap());
    file
}

fn snapshot(topics: &[(&str, &str)]) -> ClusterSnapshot {
    ClusterSnapshot {
        brokers: (1..=3)
            .map(|id| Broker {
                id,
                host: "k".into(),
                port: 9092,
                rack: None,
            })
            .collect(),
        topics: topics
            .iter()
            .map(|(name, id)| {
                let mut t = observed_on(name, 1, &[1, 2, 3]);
                t.topic_id = Some(id.to_string());
                (name.to_string(), t)
            })
            .collect(),
        ..Default::default()
    }
}

fn files(topics: &[KafkaTopic]) -> Vec<(String, KafkaTopic)> {
    topics
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("topics.yaml#{}", i + 1), t.clone()))
        .collect()
}

fn plan(
    cluster: &KafkaCluster,
    files: &[(String, KafkaTopic)],
    snapshot: &ClusterSnapshot,
    live: Option<(&[KafkaTopic], Scope)>,
) -> PlanReport {
    plan_against(&Inputs {
        cluster,
        cluster_source: "cluster.yaml".into(),
        files,
        snapshot,
        live,
        now: at(1_000_000),
    })
}

fn scope(namespaces: &[&str]) -> Scope {
    Scope::Namespaces(namespaces.iter().map(|s| s.to_string()).collect())
}

#[test]
fn a_live_delete_topic_left_out_of_the_files_is_a_deletion_and_exit_3() {
    let cluster = kafka_cluster();
    let kept = topic("ns", "kept", json!({}));
    let doomed = live(
        topic("ns", "doomed", json!({"deletionPolicy": "Delete"})),
        1,
        "id-d",
        "Delete",
    );
    let retained = live(topic("ns", "retained", json!({})), 1, "id-r", "Retain");
    let live_topics = [live(kept.clone(), 1, "id-k", "Retain"), doomed, retained];
    let snap = snapshot(&[("kept", "id-k"), ("doomed", "id-d"), ("retained", "id-r")]);
    let report = plan(
        &cluster,
        &files(&[kept]),
        &snap,
        Some((&live_topics, scope(&["ns"]))),
    );
    assert_eq!(report.exit_code, EXIT_DESTRUCTIVE_OR_REFUSED);
    assert!(report.destructive && !report.refused && report.changes);
    let removal = |name: &str| report.removals.iter().find(|r| r.name == name).unwrap();
    assert!(removal("doomed").deletes_topic);
    assert!(
        removal("doomed")
            .message
            .contains("DELETES Kafka topic doomed")
    );
    assert!(!removal("retained").deletes_topic);
    assert!(
        removal("retained")
            .message
            .contains("no longer managed, kept in Kafka (deletionPolicy is Retain)"),
        "{}",
        removal("retained").message
    );
    assert_eq!(report.topics[0].outcome, Outcome::NoChange);
    let text = render_text(&report);
    assert!(
        text.contains("!!! 1 KAFKA TOPIC(S) WILL BE DELETED:\n!!! DELETE doomed: "),
        "{text}"
    );
    assert!(text.ends_with("plan DELETES topics (exit 3)\n"), "{text}");
    // Only Retain left out: a change, not destructive.
    let live_topics = &live_topics[..1];
    let retained = live(topic("ns", "retained", json!({})), 1, "id-r", "Retain");
    let live_topics = [live_topics[0].clone(), retained];
    let report = plan(
        &cluster,
        &files(&[topic("ns", "kept", json!({}))]),
        &snap,
        Some((&live_topics, scope(&["ns"]))),
    );
    assert_eq!(report.exit_code, EXIT_CHANGES);
}

#[test]
fn a_left_out_delete_topic_keeps_its_topic_where_the_operator_would() {
    let delete = |name: &str| {
        live(
            topic("ns", name, json!({"deletionPolicy": "Delete"})),
            10,
            &format!("id-{name}"),
            "Delete",
        )
    };
    let snap = snapshot(&[
        ("observed", "id-observed"),
        ("replaced", "id-new"),
        ("loser", "id-loser"),
    ]);
    let cases = [
        // Observe mode deletes nothing.
        (delete("observed"), true, "the cluster is in Observe mode"),
        // Not in Kafka any more.
        (delete("gone"), false, "topic gone is not in Kafka"),
        // Deleted and created again behind the operator's back: not its topic.
        (
            delete("replaced"),
            false,
            "has id id-new, not the id-replaced",
        ),
    ];
    for (t, observe, why) in cases {
        let mut cluster = kafka_cluster();
        if observe {
            cluster.spec.policy.mode = crate::api::PolicyMode::Observe;
        }
        let live_topics = [t];
        let report = plan(&cluster, &[], &snap, Some((&live_topics, scope(&["ns"]))));
        let r = &report.removals[0];
        assert!(!r.deletes_topic && r.message.contains(why), "{}", r.message);
        assert_eq!(report.exit_code, EXIT_CHANGES);
    }
    // A newer declaration of a topic another KafkaTopic owns deletes nothing.
    let cluster = kafka_cluster();
    let owner = live(
        topic("ns", "owner", json!({"topicName": "loser"})),
        1,
        "id-loser",
        "Retain",
    );
    let loser = live(
        topic("ns", "loser", json!({"deletionPolicy": "Delete"})),
        5,
        "id-loser",
        "Delete",
    );
    let live_topics = [owner.clone(), loser];
    let report = plan(
        &cluster,
        &files(&[topic("ns", "owner", json!({"topicName": "loser"}))]),
        &snap,
        Some((&live_topics, scope(&["ns"]))),
    );
    assert!(
        report.removals[0]
            .message
            .contains("another KafkaTopic owns it"),
        "{:?}",
        report.removals
    );
    // deletionPolicy left out and never settled by the operator: Retain.
    let mut unsettled = delete("loser");
    unsettled.spec.deletion_policy = None;
    unsettled.status = None;
    let mut cluster = kafka_cluster();
    cluster.spec.topic_defaults.deletion_policy = crate::api::DeletionPolicy::Delete;
    let live_topics = [unsettled];
    let report = plan(&cluster, &[], &snap, Some((&live_topics, scope(&["ns"]))));
    assert!(!report.removals[0].deletes_topic);
    assert!(
        report.removals[0].message.contains("left out"),
        "{}",
        report.removals[0].message
    );
}

#[test]
fn live_kafkatopics_outside_the_scope_or_for_other_clusters_are_not_removals() {
    let cluster = kafka_cluster();
    let elsewhere = live(
        topic("team-b", "b", json!({"deletionPolicy": "Delete"})),
        1,
        "id-b",
        "Delete",
    );
    let mut other_cluster = live(
        topic("ns", "o", json!({"deletionPolicy": "Delete"})),
        1,
        "id-o",
        "Delete",
    );
    other_cluster.spec.cluster_ref.name = "other".into();
    let live_topics = [elsewhere, other_cluster];
    let snap = snapshot(&[("b", "id-b"), ("o", "id-o")]);
    let report = plan(&cluster, &[], &snap, Some((&live_topics, scope(&["ns"]))));
    assert!(report.removals.is_empty(), "{:?}", report.removals);
    assert_eq!(report.exit_code, EXIT_NO_CHANGES);
    // With every namespace in scope, team-b's is a removal (its own namespace may not use the
    // cluster, so it owns nothing: kept).
    let report = plan(&cluster, &[], &snap, Some((&live_topics, Scope::All)));
    assert_eq!(report.removals.len(), 1);
    assert_eq!(report.removals[0].namespace, "team-b");
    // Without the live KafkaTopics nothing is known of them, and the report says so.
    let report = plan(&cluster, &[], &snap, None);
    assert!(!report.live.read);
    assert!(render_text(&report).contains("live KafkaTopics not read"));
}

#[test]
fn refusals_the_operator_would_make_are_shown_and_exit_3() {
    let mut cluster = kafka_cluster();
    cluster.spec.policy.tenants = vec![TenantRule {
        namespace: "team-a".into(),
        topic_prefixes: vec!["a.".into()],
    }];
    let mut mismatch = topic("ns", "m", json!({}));
    mismatch.spec.cluster_ref.name = "other".into();
    let manifests = files(&[
        mismatch,
        topic("team-a", "b-orders", json!({"topicName": "b.orders"})),
        topic(
            "ns",
            "bad",
            json!({"replicationFactor": 2, "minInSyncReplicas": 3}),
        ),
        topic("ns", "shrink", json!({"partitions": 1})),
        topic("ns", "ok", json!({"partitions": 1})),
    ]);
    let mut snap = snapshot(&[]);
    snap.topics
        .insert("shrink".into(), observed_on("shrink", 3, &[1, 2, 3]));
    let report = plan(&cluster, &manifests, &snap, None);
    let refusal = |name: &str| {
        let t = report.topics.iter().find(|t| t.name == name).unwrap();
        let r = t
            .refusal
            .clone()
            .unwrap_or_else(|| panic!("{name} not refused: {t:?}"));
        assert_eq!(t.outcome, Outcome::Refused);
        (serde_json::to_value(r.kind).unwrap(), r.reason, r.message)
    };
    let (kind, reason, message) = refusal("m");
    assert_eq!((kind, reason), (json!("clusterRefMismatch"), None));
    assert!(
        message.contains("KafkaCluster ns/other, and this plan is against ns/kafka"),
        "{message}"
    );
    let (kind, reason, message) = refusal("b-orders");
    assert_eq!(
        (kind, reason.as_deref()),
        (json!("forbidden"), Some("Forbidden"))
    );
    assert!(message.contains("\"a.\""), "{message}");
    let (kind, reason, _) = refusal("bad");
    assert_eq!(
        (kind, reason.as_deref()),
        (json!("invalid"), Some("InvalidSpec"))
    );
    let (kind, reason, _) = refusal("shrink");
    assert_eq!(
        (kind, reason.as_deref()),
        (json!("blocked"), Some("PartitionDecreaseNotAllowed"))
    );
    assert_eq!(
        report
            .topics
            .iter()
            .find(|t| t.name == "ok")
            .unwrap()
            .outcome,
        Outcome::Create
    );
    assert_eq!(report.exit_code, EXIT_DESTRUCTIVE_OR_REFUSED);
    assert!(report.refused && !report.destructive);
}

#[test]
fn two_declarations_of_one_topic_the_newer_is_a_conflict() {
    let mut cluster = kafka_cluster();
    cluster.spec.policy.tenants = vec![TenantRule {
        namespace: "*".into(),
        topic_prefixes: vec![],
    }];
    // In the files twice, both new: the first by namespace/name owns it.
    let manifests = files(&[
        topic("ns", "z-orders", json!({"topicName": "orders"})),
        topic("ns", "a-orders", json!({"topicName": "orders"})),
    ]);
    let report = plan(
        &cluster,
        &manifests,
        &snapshot(&[]),
        Some((&[], scope(&["ns"]))),
    );
    let loser = &report.topics[0];
    assert_eq!(loser.name, "z-orders");
    let message = &loser.refusal.as_ref().unwrap().message;
    assert!(
        message.contains(
            "KafkaTopic ns/a-orders (in topics.yaml#2, older) already manages topic orders"
        ),
        "{message}"
    );
    assert_eq!(report.topics[1].outcome, Outcome::Create);
    assert_eq!(report.exit_code, EXIT_DESTRUCTIVE_OR_REFUSED);
    // Owned by a live KafkaTopic outside the files (and outside the scope): this one is newer.
    let owner = live(topic("team-b", "orders", json!({})), 1, "id-o", "Retain");
    let report = plan(
        &cluster,
        &files(&[topic("ns", "mine", json!({"topicName": "orders"}))]),
        &snapshot(&[("orders", "id-o")]),
        Some((&[owner], scope(&["ns"]))),
    );
    let message = &report.topics[0].refusal.as_ref().unwrap().message;
    assert!(
        message.contains("KafkaTopic team-b/orders (live, older)"),
        "{message}"
    );
    // An object declared twice in the files is invalid the second time.
    let twice = files(&[topic("ns", "x", json!({})), topic("ns", "x", json!({}))]);
    let report = plan(&cluster, &twice, &snapshot(&[]), None);
    let message = &report.topics[1].refusal.as_ref().unwrap().message;
    assert!(
        message.contains("declared again in topics.yaml#1"),
        "{message}"
    );
}

#[test]
fn the_json_report_has_the_documented_shape() {
    let cluster = kafka_cluster();
    let report = plan(
        &cluster,
        &files(&[topic("ns", "new", json!({"partitions": 2}))]),
        &snapshot(&[]),
        None,
    );
    assert_eq!(report.exit_code, EXIT_CHANGES);
    let value = serde_json::to_value(&report).unwrap();
    assert_eq!(value["schemaVersion"], 1);
    assert_eq!(value["exitCode"], 2);
    assert_eq!(
        (&value["changes"], &value["destructive"], &value["refused"]),
        (&json!(true), &json!(false), &json!(false))
    );
    assert_eq!(
        value["cluster"],
        json!({"namespace": "ns", "name": "kafka", "source": "cluster.yaml", "mode": "Enforce"})
    );
    assert_eq!(value["live"], json!({"read": false, "scope": []}));
    let t = &value["topics"][0];
    assert_eq!(
        (
            &t["namespace"],
            &t["name"],
            &t["source"],
            &t["topicName"],
            &t["outcome"],
            &t["refusal"]
        ),
        (
            &json!("ns"),
            &json!("new"),
            &json!("topics.yaml#1"),
            &json!("new"),
            &json!("create"),
            &json!(null)
        )
    );
    assert_eq!(t["actions"][0]["kind"], "createTopic");
    assert!(
        t["actions"][0]["description"]
            .as_str()
            .unwrap()
            .starts_with("create: 2 partitions")
    );
    for key in ["drift", "notes", "warnings"] {
        assert!(t[key].is_array(), "{key}");
    }
    assert_eq!(value["removals"], json!([]));
}
