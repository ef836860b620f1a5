//! The review and migration commands against the live cluster: `plan` prints what reconcile
//! would do (and writes nothing), `import` prints YAML that, applied unchanged, changes nothing.

mod common;

use std::process::Command;

use common::kafka_cli;
use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_kafka-topic-operator");

fn cluster_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("cluster.yaml");
    let servers = bootstrap_list()
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ");
    std::fs::write(
        &path,
        format!("apiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: kafka\nspec:\n  bootstrapServers: [{servers}]\n"),
    )
    .unwrap();
    path
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(unique("kto-cli"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_yaml_applied_unchanged_changes_nothing_in_kafka() {
    let prefix = unique("imp");
    let weak = format!("{prefix}_weak");
    let tuned = format!("{prefix}.tuned");
    kafka_cli::create(&weak, &["--partitions", "2", "--replication-factor", "1"]);
    kafka_cli::create(
        &tuned,
        &[
            "--partitions",
            "3",
            "--replication-factor",
            "3",
            "--config",
            "min.insync.replicas=2",
            "--config",
            "retention.ms=3600000",
            "--config",
            "cleanup.policy=compact",
        ],
    );
    let before = [
        kafka_cli::describe(&weak).unwrap(),
        kafka_cli::describe(&tuned).unwrap(),
    ];
    let overrides_before = [kafka_cli::overrides(&weak), kafka_cli::overrides(&tuned)];

    let env = TestEnv::start("import").await;
    let dir = tempdir();
    let yaml = run(
        BIN,
        &[
            "import",
            "--cluster",
            cluster_file(&dir).to_str().unwrap(),
            "--match",
            &format!("{prefix}*"),
            "--namespace",
            &env.ns,
        ],
    );
    assert_eq!(yaml.matches("kind: KafkaTopic").count(), 2, "{yaml}");
    assert!(
        yaml.contains(&format!(
            "# WARNING: {weak}: replication factor 1 is below the cluster default 3"
        )),
        "{yaml}"
    );
    assert!(!yaml.contains(&format!("# WARNING: {tuned}")), "{yaml}");

    kubectl_apply(&env.ns, &yaml).unwrap();
    let weak_name = weak.replace('_', "-");
    env.wait_ready(&weak_name).await;
    env.wait_ready(&tuned).await;
    env.wait_resyncs(2).await;
    assert_eq!(
        env.kafka_writes(),
        0,
        "applying imported YAML wrote to Kafka"
    );
    let after = [
        kafka_cli::describe(&weak).unwrap(),
        kafka_cli::describe(&tuned).unwrap(),
    ];
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(
            (&b.topic_id, b.partition_count, b.replication_factor),
            (&a.topic_id, a.partition_count, a.replication_factor)
        );
        assert_eq!(b.partitions, a.partitions);
    }
    assert_eq!(
        [kafka_cli::overrides(&weak), kafka_cli::overrides(&tuned)],
        overrides_before
    );
}

#[test]
fn plan_prints_what_reconcile_would_do_and_writes_nothing() {
    let dir = tempdir();
    let cluster = cluster_file(&dir);
    let existing = unique("planned");
    kafka_cli::create(
        &existing,
        &[
            "--partitions",
            "2",
            "--replication-factor",
            "1",
            "--config",
            "retention.ms=1000",
        ],
    );
    let new = unique("brand-new");
    let manifests = dir.join("topics.yaml");
    std::fs::write(
        &manifests,
        format!(
            "apiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaTopic\nmetadata: {{name: a}}\nspec:\n  clusterRef: {{name: kafka}}\n  topicName: {new}\n  partitions: 2\n\
---\napiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaTopic\nmetadata: {{name: b}}\nspec:\n  clusterRef: {{name: kafka}}\n  topicName: {existing}\n  partitions: 4\n  replicationFactor: 3\n  minInSyncReplicas: 2\n  config: {{retention.ms: 2000}}\n"
        ),
    )
    .unwrap();
    let out = run(
        BIN,
        &[
            "plan",
            "--cluster",
            cluster.to_str().unwrap(),
            "-f",
            manifests.to_str().unwrap(),
        ],
    );
    assert!(
        out.contains(&format!("{new} ("))
            && out.contains("create: 2 partitions, replication factor 3"),
        "{out}"
    );
    assert!(
        out.contains("differs: replicationFactor declared 3, in Kafka 1"),
        "{out}"
    );
    assert!(out.contains("move replicas: p0 ["), "{out}");
    // min.insync.replicas 2 waits until the move has given every partition 2 in-sync replicas.
    assert!(
        out.contains(r#"configs: set {"retention.ms": "2000"}"#),
        "{out}"
    );
    assert!(
        out.contains("waits (MinIsrRaiseWaiting): min.insync.replicas stays 1"),
        "{out}"
    );
    assert!(out.ends_with("plan OK\n"), "{out}");
    // Partitions are added once the existing ones have the new replication factor.
    assert!(!out.contains("grow partitions"), "{out}");
    assert!(!kafka_cli::exists(&new), "plan created a topic");
    assert_eq!(
        kafka_cli::describe(&existing).unwrap().replication_factor,
        1
    );
    assert_eq!(
        kafka_cli::overrides(&existing)
            .get("retention.ms")
            .map(String::as_str),
        Some("1000")
    );

    // Invalid input: non-zero exit, the reason printed.
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaTopic\nmetadata: {name: c}\nspec:\n  clusterRef: {name: kafka}\n  topicName: \"bad name\"\n---\napiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaTopic\nmetadata: {name: d}\nspec:\n  clusterRef: {name: kafka}\n  replicationFactor: 2\n  minInSyncReplicas: 3\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args([
            "plan",
            "--cluster",
            cluster.to_str().unwrap(),
            "-f",
            bad.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("INVALID: topic name \"bad name\""), "{text}");
    assert!(
        text.contains("INVALID: minInSyncReplicas 3 exceeds replicationFactor 2"),
        "{text}"
    );
    assert!(text.contains("plan has errors"), "{text}");

    // Unreadable input: exit 2.
    let out = Command::new(BIN)
        .args([
            "plan",
            "--cluster",
            "/nonexistent.yaml",
            "-f",
            bad.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
