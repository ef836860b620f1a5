//! The `kafka-topic-operator` binary itself: `crd` prints the CRDs, `run` reconciles with JSON
//! logs and exits cleanly on SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_kafka-topic-operator");

#[test]
fn crd_prints_both_crds() {
    let out = run(BIN, &["crd"]);
    assert_eq!(out, kafka_topic_operator::api::crds_yaml().unwrap());
    assert!(out.contains("name: kafkatopics.kafka.topic-operator.dev"));
    assert!(out.contains("name: kafkaclusters.kafka.topic-operator.dev"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_reconciles_logs_json_and_stops_cleanly_on_sigterm() {
    let env = TestEnv::without_operator("binary", ClusterOptions::default()).await;
    let mut child = Command::new(BIN)
        .args([
            "run",
            "--namespace",
            &env.ns,
            "--resync-interval",
            "2s",
            "--log-format",
            "json",
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start the operator binary");
    let stderr = child.stderr.take().unwrap();
    let lines = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });

    let name = unique("from-binary");
    env.apply_topic("from-binary", json!({"topicName": name}))
        .await;
    env.wait_ready("from-binary").await;
    assert!(common::kafka_cli::exists(&name));

    let started = Instant::now();
    let pid = child.id().to_string();
    run("kill", &["-TERM", &pid]);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the operator did not stop within 20s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "exit status {status}");

    let lines = lines.join().unwrap();
    assert!(lines.len() >= 3, "too few log lines: {lines:?}");
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v.get("level").is_some() && v.get("timestamp").is_some(),
            "{line}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("kafka write: create topic") && l.contains(&name))
    );
    assert!(lines.iter().any(|l| l.contains("SIGTERM received")));
}

/// `run --kubeconfig FILE --context NAME` uses that file and that context, whatever
/// $KUBECONFIG and the file's current-context say; a context the file lacks stops it at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_uses_the_kubeconfig_and_context_given() {
    let env = TestEnv::without_operator("binary-ctx", ClusterOptions::default()).await;
    // The environment's kubeconfig with a current-context that reaches nothing.
    let kubeconfig = std::fs::read_to_string(env_var("KUBECONFIG"))
        .unwrap()
        .replacen(
            "clusters:\n",
            "clusters:\n- name: nowhere\n  cluster:\n    server: https://127.0.0.1:1\n",
            1,
        )
        .replacen(
            "contexts:\n",
            "contexts:\n- name: nowhere\n  context: { cluster: nowhere, user: kto-admin }\n",
            1,
        )
        .replace("current-context: kto-test", "current-context: nowhere");
    assert!(
        kubeconfig.contains("current-context: nowhere"),
        "{kubeconfig}"
    );
    let path = std::env::temp_dir().join(unique("kto-kubeconfig"));
    std::fs::write(&path, kubeconfig).unwrap();
    let path = path.to_str().unwrap();

    let out = Command::new(BIN)
        .args(["run", "--kubeconfig", path, "--context", "no-such-context"])
        .args(["--http-addr", "off"])
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--context no-such-context: "), "{err}");

    let mut child = Command::new(BIN)
        .args(["run", "--kubeconfig", path, "--context", "kto-test"])
        .args([
            "--namespace",
            &env.ns,
            "--resync-interval",
            "2s",
            "--http-addr",
            "off",
        ])
        .env_remove("KUBECONFIG")
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("start the operator binary");
    let name = unique("from-context");
    env.apply_topic("from-context", json!({"topicName": name}))
        .await;
    env.wait_ready("from-context").await;
    assert!(common::kafka_cli::exists(&name));
    run("kill", &["-TERM", &child.id().to_string()]);
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::fs::remove_file(path);
}
