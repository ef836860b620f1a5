//! The deployment as shipped: the rendered manifests apply server-side on a real apiserver,
//! and the operator, running with its ServiceAccount's identity and nothing else, does its whole
//! job (watch, status, events, finalizers, lease), while what it must not do is denied.

mod common;

use std::process::Command;

use common::*;
use serde_json::json;

const OPERATOR_NS: &str = "kafka-topic-operator";
const SA: &str = "system:serviceaccount:kafka-topic-operator:kafka-topic-operator";

/// A kubeconfig that authenticates as the operator's ServiceAccount (a bound token).
fn service_account_kubeconfig() -> std::path::PathBuf {
    let token = kubectl(&[
        "create",
        "token",
        "kafka-topic-operator",
        "-n",
        OPERATOR_NS,
        "--duration",
        "1h",
    ]);
    let server = kubectl(&[
        "config",
        "view",
        "--raw",
        "-o",
        "jsonpath={.clusters[0].cluster.server}",
    ]);
    let ca = kubectl(&[
        "config",
        "view",
        "--raw",
        "-o",
        "jsonpath={.clusters[0].cluster.certificate-authority-data}",
    ]);
    let path = std::env::temp_dir().join(format!("{}.kubeconfig", unique("kto-sa")));
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: {server}, certificate-authority-data: {ca}}}\n\
users:\n- name: sa\n  user: {{token: {}}}\ncontexts:\n- name: sa\n  context: {{cluster: c, user: sa}}\ncurrent-context: sa\n",
            token.trim()
        ),
    )
    .unwrap();
    path
}

fn can_i(args: &[&str]) -> bool {
    let mut all = vec!["auth", "can-i", "--as", SA];
    all.extend_from_slice(args);
    let out = Command::new(env_var("KTO_KUBECTL"))
        .args(&all)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "yes"
}

/// Removes what the manifests installed besides the CRDs (which every other test uses): the
/// cluster-scoped RBAC, FlowSchema and organisation minimums, whose fixed names a later `helm install` (tests/node.rs) would otherwise
/// find taken, and the Deployment, which would be scheduled once the node stage adds nodes. The
/// namespace stays: without a controller manager a deleted namespace never finishes terminating,
/// and a second run of this test could not install into it.
struct RemoveInstallation;

impl Drop for RemoveInstallation {
    fn drop(&mut self) {
        for args in [
            &[
                "delete",
                "clusterrolebinding,clusterrole",
                "kafka-topic-operator",
                "--ignore-not-found",
            ][..],
            // The organisation minimums bind every namespace: other tests declare what they
            // would refuse (replication factor 1, retention of seconds).
            &[
                "delete",
                "validatingadmissionpolicybinding,validatingadmissionpolicy",
                "kafka-topic-operator-minimums",
                "--ignore-not-found",
            ][..],
            &[
                "delete",
                "flowschema",
                "kafka-topic-operator-leader-election",
                "--ignore-not-found",
            ][..],
            &[
                "delete",
                "deployment",
                "kafka-topic-operator",
                "-n",
                OPERATOR_NS,
                "--ignore-not-found",
            ][..],
        ] {
            let _ = Command::new(env_var("KTO_KUBECTL")).args(args).output();
        }
        // The apiserver stops enforcing a deleted policy a moment later: wait for that, or the
        // next test binary's KafkaTopics of replication factor 1 are refused.
        let probe = "apiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaTopic\nmetadata:\n  name: minimums-probe\nspec:\n  clusterRef:\n    name: kafka\n  replicationFactor: 1\n";
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while kubectl_stdin("default", &["create", "--dry-run=server", "-f", "-"], probe)
            .is_err_and(|e| e.contains("minimum replication factor"))
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_runs_with_its_own_least_privilege_rbac() {
    let _cleanup = RemoveInstallation;
    let _ = Command::new(env_var("KTO_KUBECTL"))
        .args(["create", "namespace", OPERATOR_NS])
        .output();
    let manifests = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/manifests/kafka-topic-operator.yaml"
    );
    let out = kubectl(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        manifests,
    ]);
    for kind in [
        "customresourcedefinition",
        "serviceaccount",
        "clusterrole",
        "clusterrolebinding",
        "role",
        "rolebinding",
        "service",
        "deployment",
        "flowschema",
    ] {
        assert!(
            out.contains(&format!("{kind}/")) || out.contains(&format!("{kind}.")),
            "{kind} not applied: {out}"
        );
    }

    // What it must not be able to do.
    let denied: &[&[&str]] = &[
        &["get", "secrets", "-n", "default"],
        &["list", "secrets", "--all-namespaces"],
        &["list", "secrets", "-n", OPERATOR_NS],
        &["watch", "secrets", "-n", OPERATOR_NS],
        &["delete", "customresourcedefinitions"],
        &["create", "kafkatopics", "-n", "default"],
        &["delete", "kafkatopics", "-n", "default"],
        &["update", "kafkaclusters", "-n", "default"],
        &["create", "pods", "-n", OPERATOR_NS],
        &["update", "leases", "-n", "default"],
        &["create", "clusterrolebindings"],
    ];
    for args in denied {
        assert!(!can_i(args), "the operator may {args:?}");
    }
    // What it needs.
    let allowed: &[&[&str]] = &[
        &["watch", "kafkatopics", "--all-namespaces"],
        &["list", "kafkaclusters", "--all-namespaces"],
        &[
            "patch",
            "kafkatopics",
            "--subresource=status",
            "-n",
            "default",
        ],
        &["patch", "kafkatopics", "-n", "default"],
        &["create", "events.events.k8s.io", "-n", "default"],
        &["update", "leases", "-n", OPERATOR_NS],
        &["get", "secrets", "-n", OPERATOR_NS],
    ];
    for args in allowed {
        assert!(can_i(args), "the operator may not {args:?}");
    }

    // The real thing: the operator authenticated as its ServiceAccount.
    let kubeconfig = service_account_kubeconfig();
    let err = Command::new(env_var("KTO_KUBECTL"))
        .args([
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "get",
            "secrets",
            "-n",
            "default",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&err.stderr).contains("Forbidden"),
        "{}",
        String::from_utf8_lossy(&err.stderr)
    );

    let env = TestEnv::without_operator("rbac", ClusterOptions::default()).await;
    let lease = unique("kto-rbac");
    let _operator = OperatorProcess::start(
        &[
            "run",
            "--namespace",
            &env.ns,
            "--resync-interval",
            "2s",
            "--http-addr",
            "off",
            "--leader-election",
            "--lease-namespace",
            OPERATOR_NS,
            "--lease-name",
            &lease,
        ],
        &[
            ("KUBECONFIG", kubeconfig.to_str().unwrap()),
            ("POD_NAME", "rbac-test"),
        ],
        &std::env::temp_dir().join(format!("{lease}.log")),
    );
    let name = unique("rbac");
    env.apply_topic(
        "rbac",
        json!({"topicName": name, "deletionPolicy": "Delete", "config": {"retention.ms": 3_600_000}}),
    )
    .await;
    let t = env.wait_ready("rbac").await;
    assert_eq!(
        t.metadata.finalizers.unwrap_or_default(),
        vec!["kafka.topic-operator.dev/delete-topic".to_string()]
    );
    env.wait_cluster("cluster status", |c| {
        cluster_condition(c, "Ready").is_some_and(|r| r.0 == "True")
    })
    .await;
    env.wait_event("rbac", "TopicCreated").await;
    assert!(common::kafka_cli::exists(&name));
    assert_eq!(
        kubectl(&[
            "get",
            "lease",
            &lease,
            "-n",
            OPERATOR_NS,
            "-o",
            "jsonpath={.spec.holderIdentity}"
        ]),
        "rbac-test"
    );

    // Update and delete: the spec change is applied, the finalizer released.
    env.apply_topic(
        "rbac",
        json!({"topicName": name, "deletionPolicy": "Delete", "config": {"retention.ms": 7_200_000}}),
    )
    .await;
    env.wait_topic("rbac", "retention.ms 7200000 applied", |_| {
        common::kafka_cli::overrides(&name)
            .get("retention.ms")
            .map(String::as_str)
            == Some("7200000")
    })
    .await;
    env.delete_topic_resource("rbac").await;
    env.wait_topic_gone("rbac").await;
    assert!(!common::kafka_cli::exists(&name));
    let log = std::fs::read_to_string(std::env::temp_dir().join(format!("{lease}.log"))).unwrap();
    let denied: Vec<&str> = log
        .lines()
        .filter(|l| l.to_lowercase().contains("forbidden"))
        .collect();
    assert!(
        denied.is_empty(),
        "the operator hit permission errors: {denied:#?}"
    );
}
