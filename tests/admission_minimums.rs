//! The organisation minimums the chart ships (templates/admission-minimums.yaml), rendered by
//! helm from the chart with its default values and applied to the real apiserver: KafkaTopics
//! and KafkaClusters below them are refused at `kubectl apply` with a message naming the rule and
//! the value; a field a KafkaTopic leaves out is judged by its KafkaCluster's topicDefaults; an
//! exemption must carry a reason, and the operator shows it in the status; a namespace's topic
//! prefixes hold with or without an exemption; objects admitted before keep getting the
//! operator's metadata writes. The binding is limited, through the chart's namespaceSelector
//! value, to namespaces this test labels, so the other tests' KafkaTopics are not judged.

mod common;

use std::time::Duration;

use common::*;
use kafka_topic_operator::api::topic::MINIMUMS_EXEMPTION_ANNOTATION;

const CHART: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/deploy/helm/kafka-topic-operator"
);

/// The chart's policy and binding, for release `release`, bound to namespaces labelled
/// `kto-minimums=<release>`.
struct Minimums {
    release: String,
}

impl Minimums {
    fn install() -> Minimums {
        install_crds();
        let release = unique("min");
        let selector = format!(r#"{{"matchLabels":{{"kto-minimums":"{release}"}}}}"#);
        let out = std::process::Command::new(env_var("KTO_HELM"))
            .args([
                "template",
                &release,
                CHART,
                "--kube-version",
                "1.30.0",
                "--show-only",
                "templates/admission-minimums.yaml",
                "--set-json",
                &format!("admission.minimums.namespaceSelector={selector}"),
            ])
            .output()
            .expect("helm template");
        assert!(
            out.status.success(),
            "helm template: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rendered = String::from_utf8(out.stdout).unwrap();
        assert!(rendered.contains("kind: ValidatingAdmissionPolicyBinding"));
        kubectl_apply("default", &rendered).expect("apply the chart's admission policy");
        Minimums { release }
    }

    /// A namespace the policy judges, whose topics' Kafka names must start with one of `prefixes`
    /// (none: no prefix rule).
    fn namespace(&self, prefixes: Option<&str>) -> String {
        let ns = unique("kto-minimums");
        kubectl(&["create", "namespace", &ns]);
        self.judge(&ns, prefixes);
        ns
    }

    fn judge(&self, ns: &str, prefixes: Option<&str>) {
        if let Some(prefixes) = prefixes {
            kubectl(&[
                "annotate",
                "namespace",
                ns,
                &format!("kafka.topic-operator.dev/topic-prefixes={prefixes}"),
            ]);
        }
        kubectl(&[
            "label",
            "namespace",
            ns,
            &format!("kto-minimums={}", self.release),
        ]);
    }

    /// Waits until the apiserver enforces the policy in `ns` (it compiles a new policy in the
    /// background): a KafkaTopic with replication factor 1 is refused.
    async fn wait_enforced(&self, ns: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        loop {
            let probe = topic("probe", "orders.probe", "  replicationFactor: 1\n");
            match kubectl_stdin(ns, &["create", "--dry-run=server", "-f", "-"], &probe) {
                Err(e) if e.contains("minimum replication factor") => return,
                Err(e) => panic!("unexpected refusal while waiting for the policy: {e}"),
                Ok(_) => {}
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the admission policy is not enforced after 90 s"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

impl Drop for Minimums {
    fn drop(&mut self) {
        let name = format!("{}-kafka-topic-operator-minimums", self.release);
        for kind in [
            "validatingadmissionpolicybinding",
            "validatingadmissionpolicy",
        ] {
            let _ = kubectl_try(&["delete", kind, &name, "--ignore-not-found"]);
        }
    }
}

fn kubectl_try(args: &[&str]) -> Result<String, String> {
    let out = std::process::Command::new(env_var("KTO_KUBECTL"))
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn topic(name: &str, topic_name: &str, spec: &str) -> String {
    common::manifests::kafka_topic_yaml(
        name,
        "",
        &format!("  clusterRef:\n    name: kafka\n  topicName: {topic_name}\n{spec}"),
    )
}

fn refused(ns: &str, yaml: &str, expected: &str) {
    let err = kubectl_apply(ns, yaml).expect_err(&format!("admitted: {yaml}"));
    assert!(err.contains(expected), "expected {expected:?} in: {err}");
}

#[tokio::test]
async fn topics_below_the_organisation_minimums_are_refused_with_the_rule_and_the_value() {
    let minimums = Minimums::install();
    let ns = minimums.namespace(Some("orders., payments."));
    minimums.wait_enforced(&ns).await;

    refused(
        &ns,
        &topic("rf", "orders.rf", "  replicationFactor: 1\n"),
        "minimum replication factor: spec.replicationFactor is 1, the organisation minimum is 3",
    );
    refused(
        &ns,
        &topic("isr", "orders.isr", "  minInSyncReplicas: 1\n"),
        "minimum min.insync.replicas: spec.minInSyncReplicas is 1, the organisation minimum is 2",
    );
    refused(
        &ns,
        &topic("wide", "orders.wide", "  partitions: 5000\n"),
        "maximum partitions: spec.partitions is 5000, the organisation maximum is 1000",
    );
    refused(
        &ns,
        &topic(
            "brief",
            "orders.brief",
            "  config:\n    retention.ms: \"1000\"\n",
        ),
        "minimum retention: spec.config.retention.ms is 1000, the organisation minimum is 3600000",
    );
    refused(
        &ns,
        &topic("elsewhere", "billing.invoices", ""),
        &format!(
            "topic name prefix: billing.invoices does not start with a prefix namespace {ns} allows (orders., payments.;"
        ),
    );
    // The prefix rule reads metadata.name when spec.topicName is left out.
    refused(
        &ns,
        &common::manifests::kafka_topic_yaml("invoices", "", "  clusterRef:\n    name: kafka\n"),
        "topic name prefix: invoices does not start",
    );
    // Within the minimums, and with the fields left out (the KafkaCluster's topicDefaults
    // stand in: judged below): admitted.
    kubectl_apply(
        &ns,
        &topic(
            "ok",
            "payments.ok",
            "  replicationFactor: 3\n  minInSyncReplicas: 2\n  partitions: 12\n  config:\n    retention.ms: \"-1\"\n",
        ),
    )
    .expect("within the minimums");
    kubectl_apply(&ns, &topic("omitted", "orders.omitted", "")).expect("fields left out");

    // An exemption must say why; one that does admits the topic (but not another prefix).
    let exempt = |reason: &str, topic_name: &str| {
        topic("exempt", topic_name, "  replicationFactor: 1\n").replace(
            "metadata:\n",
            &format!(
                "metadata:\n  annotations:\n    {MINIMUMS_EXEMPTION_ANNOTATION}: \"{reason}\"\n"
            ),
        )
    };
    refused(
        &ns,
        &exempt("yes", "orders.scratch"),
        "an exemption from the organisation minimums must say why (at least 10 characters), got \"yes\"",
    );
    refused(
        &ns,
        &exempt("load test data, re-creatable", "billing.scratch"),
        "topic name prefix: billing.scratch",
    );
    kubectl_apply(
        &ns,
        &exempt("load test data, re-creatable", "orders.scratch"),
    )
    .expect("exempt, with a reason");
}

#[tokio::test]
async fn a_kafkacluster_whose_topic_defaults_are_below_the_minimums_is_refused() {
    let minimums = Minimums::install();
    let ns = minimums.namespace(None);
    minimums.wait_enforced(&ns).await;
    let cluster = |defaults: &str| {
        format!(
            "apiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: kafka\nspec:\n  bootstrapServers: [\"127.0.0.1:1\"]\n  topicDefaults:\n{defaults}"
        )
    };
    refused(
        &ns,
        &cluster("    replicationFactor: 1\n    minInSyncReplicas: 1\n"),
        "minimum replication factor: spec.topicDefaults.replicationFactor is 1, the organisation minimum is 3",
    );
    refused(
        &ns,
        &cluster("    partitions: 2000\n"),
        "maximum partitions: spec.topicDefaults.partitions is 2000, the organisation maximum is 1000",
    );
    // Defaults left out are the CRD's (3 partitions, replication factor 3, min ISR 2): admitted.
    kubectl_apply(&ns, &cluster("    deletionPolicy: Retain\n")).expect("the CRD's defaults");
}

#[tokio::test]
async fn objects_admitted_before_keep_their_metadata_writes_and_a_spec_change_is_judged() {
    let minimums = Minimums::install();
    // Admitted before the namespace was judged.
    let ns = unique("kto-minimums-before");
    kubectl(&["create", "namespace", &ns]);
    kubectl_apply(&ns, &topic("old", "old", "  replicationFactor: 1\n")).expect("not judged yet");
    minimums.judge(&ns, None);
    minimums.wait_enforced(&ns).await;
    // Metadata (a label, as the operator's finalizer is) is not judged again...
    kubectl(&["label", "kafkatopic", "old", "-n", &ns, "team=a"]);
    for finalizers in [r#"["kafka.topic-operator.dev/test"]"#, "null"] {
        let patch = format!(r#"{{"metadata":{{"finalizers":{finalizers}}}}}"#);
        kubectl(&[
            "patch",
            "kafkatopic",
            "old",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            &patch,
        ]);
    }
    // ... a change of its spec is.
    refused(
        &ns,
        &topic("old", "old", "  replicationFactor: 1\n  partitions: 2\n"),
        "minimum replication factor: spec.replicationFactor is 1",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_shows_the_exemption_and_its_reason() {
    let minimums = Minimums::install();
    let env = TestEnv::start("minimums").await;
    minimums.judge(&env.ns, None);
    minimums.wait_enforced(&env.ns).await;
    let reason = "replay topic, rebuilt from orders; INC-1234";
    let spec = "  replicationFactor: 1\n  minInSyncReplicas: 1\n";
    let yaml = topic("exempt", &unique("exempt"), spec).replace(
        "metadata:\n",
        &format!("metadata:\n  annotations:\n    {MINIMUMS_EXEMPTION_ANNOTATION}: \"{reason}\"\n"),
    );
    kubectl_apply(&env.ns, &yaml).expect("exempt, with a reason");
    let topic = env.wait_ready("exempt").await;
    assert_eq!(
        topic.status.unwrap().minimums_exemption.as_deref(),
        Some(reason)
    );
}
