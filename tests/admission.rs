//! Validation the kube-apiserver enforces from the CRD's schema and CEL rules: bad input is
//! rejected at `kubectl apply`, before the operator ever sees it.

mod common;

use common::*;

fn topic_yaml(name: &str, spec: &str) -> String {
    common::manifests::kafka_topic_yaml(
        name,
        "",
        &format!("  clusterRef:\n    name: kafka\n{spec}"),
    )
}

struct Ns(String);

impl Ns {
    fn new(prefix: &str) -> Ns {
        install_crds();
        let ns = unique(prefix);
        kubectl(&["create", "namespace", &ns]);
        Ns(ns)
    }
    fn apply(&self, name: &str, spec: &str) -> Result<String, String> {
        kubectl_apply(&self.0, &topic_yaml(name, spec))
    }
    fn rejected(&self, name: &str, spec: &str, expected: &str) {
        let err = self
            .apply(name, spec)
            .expect_err(&format!("accepted: {spec}"));
        assert!(err.contains(expected), "expected {expected:?} in: {err}");
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = std::process::Command::new(env_var("KTO_KUBECTL"))
            .args(["delete", "namespace", &self.0, "--wait=false"])
            .output();
    }
}

#[test]
fn partitions_can_only_grow() {
    let ns = Ns::new("adm-partitions");
    ns.apply("t", "  partitions: 3\n").unwrap();
    ns.apply("t", "  partitions: 6\n").unwrap();
    ns.rejected("t", "  partitions: 2\n", "partitions can only grow");
    ns.rejected("t", "", "partitions can only grow");
}

#[test]
fn topic_name_and_cluster_ref_are_immutable() {
    let ns = Ns::new("adm-immutable");
    ns.apply("t", "  topicName: account_event\n").unwrap();
    ns.rejected(
        "t",
        "  topicName: account_events\n",
        "topicName is immutable",
    );
    ns.rejected("t", "", "topicName is immutable");
    let moved = "apiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaTopic\nmetadata:\n  name: t\nspec:\n  clusterRef:\n    name: other\n  topicName: account_event\n";
    let err = kubectl_apply(&ns.0, moved).unwrap_err();
    assert!(err.contains("clusterRef is immutable"), "{err}");
}

#[test]
fn min_insync_replicas_must_not_exceed_replication_factor() {
    let ns = Ns::new("adm-minisr");
    ns.rejected(
        "t",
        "  replicationFactor: 2\n  minInSyncReplicas: 3\n",
        "minInSyncReplicas must not exceed replicationFactor",
    );
    ns.apply("t", "  replicationFactor: 3\n  minInSyncReplicas: 3\n")
        .unwrap();
}

#[test]
fn kafka_topic_name_rules_are_enforced() {
    let ns = Ns::new("adm-names");
    ns.rejected("a", "  topicName: \"bad name\"\n", "spec.topicName");
    ns.rejected("b", "  topicName: \"caf\u{e9}\"\n", "spec.topicName");
    ns.rejected("c", "  topicName: \".\"\n", "must not be '.' or '..'");
    ns.rejected("d", "  topicName: \"..\"\n", "must not be '.' or '..'");
    ns.rejected(
        "e",
        &format!("  topicName: {}\n", "x".repeat(250)),
        "spec.topicName",
    );
    ns.apply("f", &format!("  topicName: {}\n", "x".repeat(249)))
        .unwrap();
    ns.apply("g", "  topicName: Orders.v1_EU-west\n").unwrap();
}

#[test]
fn replication_factor_and_partitions_have_bounds() {
    let ns = Ns::new("adm-bounds");
    ns.rejected("a", "  replicationFactor: 0\n", "spec.replicationFactor");
    ns.rejected(
        "b",
        "  replicationFactor: 32768\n",
        "spec.replicationFactor",
    );
    ns.rejected("c", "  partitions: 0\n", "spec.partitions");
    ns.rejected("d", "  deletionPolicy: Sometimes\n", "spec.deletionPolicy");
}

#[test]
fn cluster_bootstrap_servers_must_be_host_and_port() {
    let ns = Ns::new("adm-cluster");
    let cluster = |servers: &str| {
        format!(
            "apiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: c\nspec:\n  bootstrapServers: {servers}\n"
        )
    };
    let err = kubectl_apply(&ns.0, &cluster("[]")).unwrap_err();
    assert!(err.contains("spec.bootstrapServers"), "{err}");
    let err = kubectl_apply(&ns.0, &cluster("[\"kafka-without-port\"]")).unwrap_err();
    assert!(err.contains("spec.bootstrapServers"), "{err}");
    kubectl_apply(&ns.0, &cluster("[\"kafka-0.kafka:9092\"]")).unwrap();
    // IPv6 addresses in brackets, as Kafka's own clients write them.
    kubectl_apply(
        &ns.0,
        &cluster("[\"[fd00::1]:9092\", \"[::ffff:10.0.0.7]:9093\", \"10.0.0.7:9092\"]"),
    )
    .unwrap();
    let err = kubectl_apply(&ns.0, &cluster("[\"k:9092\", \"fd00::1:9092\"]")).unwrap_err();
    assert!(err.contains("an IPv6 address goes in brackets"), "{err}");
    for garbage in [
        "fd00::1:9092", // without brackets the port cannot be told apart
        "[fd00::1]",
        "[kafka-0]:9092",
        "[fd00::1]:port",
        "kafka 0:9092",
        "[fd00::1]]:9092",
    ] {
        let err = kubectl_apply(&ns.0, &cluster(&format!("[\"{garbage}\"]"))).unwrap_err();
        assert!(
            err.contains("spec.bootstrapServers"),
            "{garbage} accepted or refused for another reason: {err}"
        );
    }
    let defaults = "apiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: d\nspec:\n  bootstrapServers: [\"k:9092\"]\n  topicDefaults:\n    replicationFactor: 2\n    minInSyncReplicas: 3\n";
    let err = kubectl_apply(&ns.0, defaults).unwrap_err();
    assert!(
        err.contains("minInSyncReplicas must not exceed replicationFactor"),
        "{err}"
    );
}

#[test]
fn kafkas_internal_topics_are_refused() {
    let ns = Ns::new("adm-internal");
    for internal in [
        "__consumer_offsets",
        "__transaction_state",
        "__share_group_state",
        "__cluster_metadata",
    ] {
        ns.rejected(
            "t",
            &format!("  topicName: {internal}\n"),
            "one of Kafka's internal topics",
        );
    }
    // Only Kafka's own names: a user topic may still start with underscores.
    ns.apply("u", "  topicName: __app_heartbeat\n").unwrap();
}

/// Every bad spec.config value is refused at admission (crds/kafkatopic-config-policy.yaml), with
/// the key named and why, whichever way the manifest is sent: `kubectl create`, server-side apply
/// and client-side `kubectl apply` (which drops a null key before sending; the policy finds it in
/// the manifest kubectl records).
#[test]
fn every_bad_config_value_is_refused_with_its_key_named() {
    let ns = Ns::new("adm-config");
    let cases = [
        (
            "  config:\n    retention.ms: null\n",
            "spec.config.retention.ms: null is not a value",
        ),
        (
            "  config:\n    cleanup.policy: [compact, delete]\n",
            "spec.config.cleanup.policy: must be a string, number or boolean, not a list",
        ),
        (
            "  config:\n    retention.ms: {value: 1}\n",
            "spec.config.retention.ms: must be a string, number or boolean",
        ),
        ("  config:\n    \"\": 1\n", "spec.config: a key is empty"),
        (
            "  config:\n    min.insync.replicas: 2\n",
            "spec.config.min.insync.replicas: set spec.minInSyncReplicas instead",
        ),
        (
            "  config:\n    leader.replication.throttled.replicas: \"*\"\n",
            "spec.config.leader.replication.throttled.replicas: owned by the operator",
        ),
        (
            "  config:\n    follower.replication.throttled.replicas: \"0:1\"\n",
            "spec.config.follower.replication.throttled.replicas: owned by the operator",
        ),
    ];
    for (i, (spec, expected)) in cases.iter().enumerate() {
        let name = format!("bad-{i}");
        // Client-side apply (kubectl_apply), server-side apply and create.
        ns.rejected(&name, spec, expected);
        for verb in [
            &["apply", "--server-side", "-f", "-"][..],
            &["create", "-f", "-"][..],
        ] {
            let out = kubectl_stdin(&ns.0, verb, &topic_yaml(&name, spec));
            let err = out.expect_err(&format!("{verb:?} accepted: {spec}"));
            assert!(
                err.contains(expected),
                "{verb:?}: expected {expected:?} in: {err}"
            );
        }
    }
    // Nothing of the refused objects was stored.
    let listed = kubectl(&[
        "get",
        "kafkatopics.kafka.topic-operator.dev",
        "-n",
        &ns.0,
        "-o",
        "name",
    ]);
    assert!(listed.trim().is_empty(), "stored: {listed}");
    // Scalars of every kind pass, and a null written next to good values is still refused when
    // the object already exists (an update).
    ns.apply(
        "good",
        "  config:\n    retention.ms: 1000\n    preallocate: true\n    min.cleanable.dirty.ratio: 0.5\n    cleanup.policy: compact,delete\n",
    )
    .unwrap();
    ns.rejected(
        "good",
        "  config:\n    retention.ms: null\n    preallocate: true\n",
        "spec.config.retention.ms: null is not a value",
    );
}
