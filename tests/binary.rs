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
