//! `helm upgrade` from the previous chart (tests/node/previous-chart: CRDs in crds/, which Helm
//! never upgrades) to this one (CRDs as templates): the upgraded CRD has the field the previous
//! one lacked (spec.security.sasl.allowPlaintextPassword), the Deployment and the Lease keep their
//! names, and the operator goes on reconciling (docs/upgrading.md).

use serde_json::Value;

use crate::common::{kafka_cli, kubectl, kubectl_apply, kubectl_stdin, unique};
use crate::support::*;

const KAFKACLUSTERS: &str = "kafkaclusters.kafka.topic-operator.dev";

/// The KafkaCluster schema's SASL properties.
fn sasl_properties(crd: &Value) -> Value {
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        ["security"]["properties"]["sasl"]["properties"]
        .clone()
}

fn crd_has_new_field() -> bool {
    sasl_properties(&get_json(&["crd", KAFKACLUSTERS]))
        .get("allowPlaintextPassword")
        .is_some()
}

/// The CRDs and admission policy in the cluster set to the previous chart's files, with no Helm
/// metadata, as its crds/ left them (an update, not a delete: deleting a CRD deletes its objects).
/// The CRDs of the CRD-owning release are then taken over with `--take-ownership`.
fn set_previous_crds() {
    for file in [
        "kafka.topic-operator.dev.yaml",
        "kafkatopic-config-policy.yaml",
    ] {
        let path = format!("{}/crds/{file}", previous_chart());
        // One JSON object per document, one after another (not a List).
        let json = kubectl(&["create", "--dry-run=client", "-o", "json", "-f", &path]);
        let items: Vec<Value> = serde_json::Deserializer::from_str(&json)
            .into_iter::<Value>()
            .collect::<Result<_, _>>()
            .expect("kubectl -o json");
        for mut item in items {
            let kind = item["kind"].as_str().unwrap().to_lowercase();
            let name = item["metadata"]["name"].as_str().unwrap().to_string();
            // Replaced where they exist (the main test run installed them), created where the
            // node stage runs on a fresh apiserver.
            let verb = match get_opt(&[&kind, &name]) {
                Some(live) => {
                    item["metadata"]["resourceVersion"] =
                        live["metadata"]["resourceVersion"].clone();
                    "replace"
                }
                None => "create",
            };
            kubectl_stdin("", &[verb, "-f", "-"], &item.to_string())
                .unwrap_or_else(|e| panic!("{verb} {kind} {name}: {e}"));
        }
    }
}

/// A KafkaCluster that sets the new field, sent as a strict server-side dry run.
fn dry_run_cluster_with_new_field(ns: &str) -> Result<String, String> {
    let yaml = "apiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaCluster\nmetadata: { name: plain }\nspec:\n  bootstrapServers: [\"kafka:9092\"]\n  security:\n    protocol: SASL_PLAINTEXT\n    sasl:\n      mechanism: PLAIN\n      credentialsSecretRef: { name: creds }\n      allowPlaintextPassword: true\n";
    kubectl_stdin(
        ns,
        &[
            "create",
            "--dry-run=server",
            "--validate=strict",
            "-o",
            "json",
            "-f",
            "-",
        ],
        yaml,
    )
}

#[test]
#[ignore = "needs the node stage: tests/env/node-up.sh (make test runs it after the main run)"]
fn helm_upgrade_from_the_previous_chart_upgrades_the_crds_and_keeps_the_names() {
    let _serial = serial();
    import_image();
    let ns = unique("kto-node-upgrade");
    let topics_ns = unique("kto-node-upgrade-topics");
    // The release name docs/deployment.md uses: its objects keep the previous chart's names.
    let release = Release::new("kafka-topic-operator", &ns, http_port(0));
    let name = release.fullname();
    assert_eq!(name, "kafka-topic-operator");
    let mut cleanup = Cleanup {
        releases: vec![release.clone()],
        topic_namespaces: vec![topics_ns.clone()],
        namespaces: vec![ns.clone(), topics_ns.clone()],
        restore_crds: true,
    };

    // ---- the previous chart, as installed before: its CRDs lack the new field.
    set_previous_crds();
    assert!(!crd_has_new_field(), "the previous CRD has the field");
    release.helm("install", &previous_chart(), &["--create-namespace"]);
    let before = wait_two_ready(&release, "the previous chart's replicas Running and Ready");
    let leader = wait_lease_held_by(&ns, &name, &before);
    kubectl(&["create", "namespace", &topics_ns]);
    // The apiserver serves a changed CRD's schema a moment after the change: waited for.
    wait_for("the previous CRD to refuse the new field", WAIT, || {
        match dry_run_cluster_with_new_field(&topics_ns) {
            Err(e) if e.contains("unknown field") && e.contains("allowPlaintextPassword") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    kubectl_apply(&topics_ns, &kafka_cluster_yaml("kafka", "")).unwrap();
    let topic1 = unique("node-upgrade-one");
    kubectl_apply(&topics_ns, &topic_yaml("one", &topic1, "kafka", "")).unwrap();
    wait_topic_ready(&topics_ns, "one");
    let deployment_uid = get_json(&["deployment", "-n", &ns, &name])["metadata"]["uid"].clone();

    // ---- helm upgrade to this chart. --take-ownership, once: the previous chart's crds/ made the
    // CRDs without the Helm metadata a template's object carries (docs/upgrading.md).
    release.helm("upgrade", &chart(), &["--take-ownership"]);
    assert!(
        crd_has_new_field(),
        "the CRD lacks allowPlaintextPassword after helm upgrade"
    );
    let crd = get_json(&["crd", KAFKACLUSTERS]);
    assert_eq!(
        crd["metadata"]["annotations"]["helm.sh/resource-policy"],
        "keep"
    );
    assert_eq!(
        crd["metadata"]["annotations"]["meta.helm.sh/release-name"],
        name.as_str()
    );
    // The apiserver now takes the field and keeps it (not pruned).
    let accepted: Value = wait_for("the upgraded CRD to take the new field", WAIT, || {
        dry_run_cluster_with_new_field(&topics_ns)
            .map(|json| serde_json::from_str(&json).expect("kubectl -o json"))
    });
    assert_eq!(
        accepted["spec"]["security"]["sasl"]["allowPlaintextPassword"],
        true
    );

    // The same Deployment, upgraded in place; its new Pods take over the same Lease.
    let deployment = get_json(&["deployment", "-n", &ns, &name]);
    assert_eq!(deployment["metadata"]["uid"], deployment_uid);
    let after = wait_two_ready(&release, "the upgraded replicas Running and Ready");
    assert!(
        after
            .iter()
            .all(|p| before.iter().all(|q| q.name != p.name))
    );
    let new_leader = wait_lease_held_by(&ns, &name, &after);
    assert_ne!(new_leader, leader);
    let topic2 = unique("node-upgrade-two");
    kubectl_apply(&topics_ns, &topic_yaml("two", &topic2, "kafka", "")).unwrap();
    wait_topic_ready(&topics_ns, "two");
    assert!(
        kafka_cli::describe(&topic2).is_some(),
        "{topic2} not in Kafka"
    );
    wait_status_write_by(
        &release.service_account_user(),
        "kafkatopics",
        &topics_ns,
        "two",
    );

    // ---- uninstalled: the CRDs stay, with the new field.
    kubectl(&[
        "delete",
        "kafkatopics.kafka.topic-operator.dev",
        "--all",
        "-n",
        &topics_ns,
        "--timeout=120s",
    ]);
    release.uninstall();
    cleanup.releases.clear();
    assert!(crd_has_new_field(), "the CRD went with the release");
}
