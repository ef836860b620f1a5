//! Two releases of the chart in one namespace of one cluster, each with its own selector: their
//! objects (namespaced and cluster-scoped) and Leases apart, each reconciling only the
//! KafkaClusters and KafkaTopics its selector matches (docs/deployment.md, "Several operators").

use crate::common::{kafka_cli, kubectl, kubectl_apply, unique};
use crate::support::*;

const CRDS: [&str; 2] = [
    "kafkatopics.kafka.topic-operator.dev",
    "kafkaclusters.kafka.topic-operator.dev",
];

#[test]
#[ignore = "needs the node stage: tests/env/node-up.sh (make test runs it after the main run)"]
fn two_releases_share_a_cluster_each_reconciling_only_what_its_selector_matches() {
    let _serial = serial();
    import_image();
    let ns = unique("kto-node-shared");
    let topics_ns = unique("kto-node-shared-topics");
    // The replicas use the nodes' network: each release its own port.
    let a = Release::new("kto-a", &ns, http_port(0));
    let b = Release::new("kto-b", &ns, http_port(1));
    let mut cleanup = Cleanup {
        releases: vec![a.clone(), b.clone()],
        topic_namespaces: vec![topics_ns.clone()],
        namespaces: vec![ns.clone(), topics_ns.clone()],
        ..Default::default()
    };
    let chart = chart();

    // ---- A installs the CRDs (taking them over: the main run applied them unowned); B does not,
    // and installs without --take-ownership, so Helm would refuse any object of B's that A (or
    // anything else) already has: the names are apart.
    a.helm(
        "install",
        &chart,
        &[
            "--create-namespace",
            "--take-ownership",
            "--set-string=selector=shard=a",
        ],
    );
    b.helm(
        "install",
        &chart,
        &["--set-string=selector=shard=b", "--set=crds.install=false"],
    );
    let pods_a = wait_two_ready(&a, "release A's replicas Running and Ready");
    let pods_b = wait_two_ready(&b, "release B's replicas Running and Ready");

    for (release, selector) in [(&a, "shard=a"), (&b, "shard=b")] {
        let name = release.fullname();
        let args =
            get_json(&["deployment", "-n", &ns, &name])["spec"]["template"]["spec"]["containers"]
                [0]["args"]
                .to_string();
        assert!(args.contains(&format!("--selector={selector}")), "{args}");
        assert!(args.contains(&format!("--lease-name={name}")), "{args}");
        for (kind, object) in [
            ("clusterrole", name.clone()),
            ("clusterrolebinding", name.clone()),
            ("flowschema", format!("{name}-leader-election")),
        ] {
            let o = get_opt(&[kind, &object]).unwrap_or_else(|| panic!("no {kind} {object}"));
            assert_eq!(
                o["metadata"]["annotations"]["meta.helm.sh/release-name"],
                release.name.as_str(),
                "{kind} {object}"
            );
        }
    }
    // A Lease each, held by one of its own release's replicas.
    let leader_a = wait_lease_held_by(&ns, &a.fullname(), &pods_a);
    let leader_b = wait_lease_held_by(&ns, &b.fullname(), &pods_b);
    assert_ne!(leader_a, leader_b);
    for crd in CRDS {
        assert_eq!(
            get_json(&["crd", crd])["metadata"]["annotations"]["meta.helm.sh/release-name"],
            "kto-a",
            "{crd}: installed by the release with crds.install=true"
        );
    }

    // ---- one KafkaCluster and one KafkaTopic per selector, both for the same Kafka, and a
    // KafkaTopic that neither selector matches, declared first.
    kubectl(&["create", "namespace", &topics_ns]);
    kubectl_apply(&topics_ns, &kafka_cluster_yaml("kafka-a", "shard: a")).unwrap();
    kubectl_apply(&topics_ns, &kafka_cluster_yaml("kafka-b", "shard: b")).unwrap();
    let nobody = unique("node-nobody");
    kubectl_apply(&topics_ns, &topic_yaml("nobody", &nobody, "kafka-a", "")).unwrap();
    let topic_a = unique("node-a");
    let topic_b = unique("node-b");
    kubectl_apply(
        &topics_ns,
        &topic_yaml("topic-a", &topic_a, "kafka-a", "shard: a"),
    )
    .unwrap();
    kubectl_apply(
        &topics_ns,
        &topic_yaml("topic-b", &topic_b, "kafka-b", "shard: b"),
    )
    .unwrap();
    wait_topic_ready(&topics_ns, "topic-a");
    wait_topic_ready(&topics_ns, "topic-b");
    assert!(
        kafka_cli::describe(&topic_a).is_some(),
        "{topic_a} not in Kafka"
    );
    assert!(
        kafka_cli::describe(&topic_b).is_some(),
        "{topic_b} not in Kafka"
    );

    // Each status written by its own release's ServiceAccount only (the audit log), through its
    // own ClusterRoleBinding.
    for (release, cluster, topic) in [(&a, "kafka-a", "topic-a"), (&b, "kafka-b", "topic-b")] {
        let user = release.service_account_user();
        let reason = wait_status_write_by(&user, "kafkatopics", &topics_ns, topic);
        assert!(
            reason.contains(&format!("ClusterRoleBinding \"{}\"", release.fullname())),
            "{topic} allowed by: {reason}"
        );
        wait_status_write_by(&user, "kafkaclusters", &topics_ns, cluster);
    }
    // The unlabelled KafkaTopic, declared before the others, is nobody's: no status, no topic.
    assert!(
        status_writes("kafkatopics", &topics_ns, "nobody").is_empty(),
        "{:?}",
        status_writes("kafkatopics", &topics_ns, "nobody")
    );
    assert!(
        kafka_cli::describe(&nobody).is_none(),
        "{nobody} created in Kafka"
    );
    kubectl(&["delete", "kafkatopic", "-n", &topics_ns, "nobody"]);

    // ---- A uninstalled: the CRDs it installed stay, and B goes on alone.
    kubectl(&[
        "delete",
        "kafkatopic",
        "-n",
        &topics_ns,
        "topic-a",
        "--timeout=120s",
    ]);
    a.uninstall();
    cleanup.releases.retain(|r| r.name != a.name);
    wait_for("release A's Pods to be gone", WAIT, || {
        let left = pods(&a);
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("{left:?}"))
        }
    });
    for crd in CRDS {
        assert!(get_opt(&["crd", crd]).is_some(), "{crd} deleted with A");
    }
    assert!(get_opt(&["clusterrole", &a.fullname()]).is_none());
    assert!(get_opt(&["clusterrole", &b.fullname()]).is_some());
    let topic_b2 = unique("node-b2");
    kubectl_apply(
        &topics_ns,
        &topic_yaml("topic-b2", &topic_b2, "kafka-b", "shard: b"),
    )
    .unwrap();
    wait_topic_ready(&topics_ns, "topic-b2");
    assert!(
        kafka_cli::describe(&topic_b2).is_some(),
        "{topic_b2} not in Kafka"
    );
    wait_status_write_by(
        &b.service_account_user(),
        "kafkatopics",
        &topics_ns,
        "topic-b2",
    );
}
