//! `plan` against the real apiserver and Kafka, as a CI job runs it on a pull request: the
//! KafkaCluster read from the apiserver (`--cluster-ref`, `--kubeconfig`, `--context`), the
//! live KafkaTopics compared with the directory, the JSON report and the exit code.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::kafka_cli;
use common::*;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_kafka-topic-operator");

/// A KafkaTopic manifest `name` (no namespace: `-n` gives it) for KafkaCluster `cluster`.
fn manifest(name: &str, cluster: &str, spec: &str) -> String {
    format!(
        "apiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaTopic\nmetadata:\n  name: {name}\nspec:\n  clusterRef: {{name: {cluster}}}\n{spec}---\n"
    )
}

fn write_dir(files: &[(&str, String)]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(unique("kto-cli-plan"));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir
}

fn plan(ns: &str, dir: &Path, extra: &[&str]) -> Output {
    plan_in_context("kto-test", ns, dir, extra)
}

/// `plan` against KafkaCluster `ns/kafka` read through the environment's kubeconfig, `context`.
fn plan_in_context(context: &str, ns: &str, dir: &Path, extra: &[&str]) -> Output {
    let kubeconfig = env_var("KUBECONFIG");
    let cluster = format!("{ns}/kafka");
    let mut args = vec![
        "plan",
        "--cluster-ref",
        &cluster,
        "-f",
        dir.to_str().unwrap(),
        "-n",
        ns,
        "--kubeconfig",
        &kubeconfig,
        "--context",
        context,
    ];
    args.extend(extra);
    Command::new(BIN).args(&args).output().unwrap()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn entry<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {list:#}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_shows_a_deletion_a_cluster_ref_mismatch_and_an_ownership_conflict() {
    let env = TestEnv::start("cli-plan").await;
    let ns = env.ns.clone();
    let prefix = unique("cliplan");
    let [doomed, retained, same, shared, fresh] =
        ["doomed", "retained", "same", "shared", "fresh"].map(|n| format!("{prefix}.{n}"));
    let specs = [
        ("doomed", &doomed, "  deletionPolicy: Delete\n"),
        ("retained", &retained, "  deletionPolicy: Retain\n"),
        ("same", &same, ""),
    ]
    .map(|(name, topic, extra)| {
        (
            name,
            format!("  topicName: {topic}\n  partitions: 1\n  replicationFactor: 1\n  minInSyncReplicas: 1\n{extra}"),
        )
    });
    for (name, spec) in &specs {
        kubectl_apply(&ns, &manifest(name, "kafka", spec)).unwrap();
    }
    for (name, _) in &specs {
        env.wait_ready(name).await;
    }
    // Another team's namespace, which the KafkaCluster lets use it: its KafkaTopic (older than
    // anything in the pull request) owns `shared`.
    let team = format!("{ns}-team");
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(env.client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": team}})).unwrap(),
        )
        .await
        .unwrap();
    env.clusters()
        .patch(
            "kafka",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"policy": {"tenants": [{"namespace": team}]}}})),
        )
        .await
        .unwrap();
    kubectl_apply(
        &team,
        &format!(
            "apiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaTopic\nmetadata:\n  name: owner\nspec:\n  clusterRef: {{name: kafka, namespace: {ns}}}\n  topicName: {shared}\n"
        ),
    )
    .unwrap();

    // The pull request: `doomed` and `retained` removed, `same` unchanged, a new topic, a
    // second declaration of `shared`, and a manifest for another KafkaCluster.
    let same_spec = &specs[2].1;
    let dir = write_dir(&[
        ("same.yaml", manifest("same", "kafka", same_spec)),
        (
            "new.yaml",
            manifest(
                "fresh",
                "kafka",
                &format!("  topicName: {fresh}\n  partitions: 2\n"),
            ) + &manifest("usurper", "kafka", &format!("  topicName: {shared}\n")),
        ),
        (
            "other.yaml",
            manifest("elsewhere", "kafka-eu", "  partitions: 1\n"),
        ),
    ]);
    let out = plan(&ns, &dir, &["-o", "json"]);
    let report = json_of(&out);
    assert_eq!(out.status.code(), Some(3), "{report:#}");
    assert_eq!(report["exitCode"], 3);
    assert_eq!(
        (
            &report["destructive"],
            &report["refused"],
            &report["changes"]
        ),
        (&json!(true), &json!(true), &json!(true))
    );
    assert_eq!(report["cluster"]["source"], "apiserver");
    assert_eq!(report["live"], json!({"read": true, "scope": [ns]}));
    let removals = &report["removals"];
    assert_eq!(removals.as_array().unwrap().len(), 2, "{removals:#}");
    let deletion = entry(removals, "doomed");
    assert_eq!(
        (
            &deletion["topicName"],
            &deletion["deletionPolicy"],
            &deletion["deletesTopic"]
        ),
        (&json!(doomed), &json!("Delete"), &json!(true))
    );
    let unmanaged = entry(removals, "retained");
    assert_eq!(unmanaged["deletesTopic"], false);
    assert!(
        unmanaged["message"]
            .as_str()
            .unwrap()
            .contains("no longer managed, kept in Kafka"),
        "{unmanaged:#}"
    );
    let topics = &report["topics"];
    let mismatch = entry(topics, "elsewhere");
    assert_eq!(mismatch["outcome"], "refused");
    assert_eq!(mismatch["refusal"]["kind"], "clusterRefMismatch");
    assert!(
        mismatch["refusal"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!(
                "KafkaCluster {ns}/kafka-eu, and this plan is against {ns}/kafka"
            )),
        "{mismatch:#}"
    );
    let conflict = entry(topics, "usurper");
    assert_eq!(
        (&conflict["refusal"]["kind"], &conflict["refusal"]["reason"]),
        (&json!("conflict"), &json!("Conflict"))
    );
    assert!(
        conflict["refusal"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!(
                "KafkaTopic {team}/owner (live, older) already manages topic {shared}"
            )),
        "{conflict:#}"
    );
    assert_eq!(entry(topics, "same")["outcome"], "noChange");
    assert_eq!(entry(topics, "fresh")["outcome"], "create");

    // The text output puts the deletion first, where a reviewer cannot miss it.
    let text = plan(&ns, &dir, &[]);
    assert_eq!(text.status.code(), Some(3));
    let text = String::from_utf8_lossy(&text.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[1], "!!! 1 KAFKA TOPIC(S) WILL BE DELETED:", "{text}");
    assert!(
        lines[2].starts_with(&format!("!!! DELETE {doomed}: ")),
        "{text}"
    );
    assert!(
        text.ends_with("plan DELETES topics and has refusals (exit 3)\n"),
        "{text}"
    );

    // Nothing was written: the topic to delete is there, the new one is not, and the
    // KafkaTopics are as they were.
    assert!(kafka_cli::exists(&doomed) && !kafka_cli::exists(&fresh));
    for name in ["doomed", "retained", "same"] {
        env.get_topic(name).await;
    }

    // The directory as the cluster has it: no changes, exit 0; one new topic: exit 2.
    let in_sync: String = specs
        .iter()
        .map(|(name, spec)| manifest(name, "kafka", spec))
        .collect();
    let dir = write_dir(&[("topics.yaml", in_sync.clone())]);
    let out = plan(&ns, &dir, &["-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{:#}", json_of(&out));
    assert_eq!(json_of(&out)["changes"], false);
    let dir = write_dir(&[(
        "topics.yaml",
        in_sync + &manifest("fresh", "kafka", &format!("  topicName: {fresh}\n")),
    )]);
    let out = plan(&ns, &dir, &["-o", "json"]);
    assert_eq!(out.status.code(), Some(2), "{:#}", json_of(&out));

    // A context the kubeconfig does not have: an error (exit 1) naming it, nothing planned.
    let out = plan_in_context("no-such-context", &ns, &dir, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: --context no-such-context: "),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    let _ = namespaces.delete(&team, &DeleteParams::default()).await;
}
