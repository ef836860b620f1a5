//! kstatus itself (sigs.k8s.io/cli-utils v0.37.2 `status.Compute`, what Flux's `wait` and
//! `healthChecks` use; built from tests/env/kstatus) judging live KafkaTopics and KafkaClusters,
//! written by the operator binary, in each state: a stuck one must read Failed at once, with its
//! reason, and one on its way InProgress (docs/api.md, "Waiting tools").

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::witness::DeleteTopicOnDrop;
use common::*;
use kafka_topic_operator::api::{KafkaCluster, KafkaTopic};
use kube::api::{Api, ApiResource, DynamicObject};
use serde_json::{Value, json};

/// The kstatus helper: `KTO_KSTATUS` (env.sh), else where tests/env/install.sh caches it.
fn kstatus_bin() -> String {
    let path = std::env::var("KTO_KSTATUS").unwrap_or_else(|_| {
        let env_src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/env");
        run(
            "bash",
            &[
                "-c",
                "source \"$0/common.sh\" && echo \"$KSTATUS_BIN\"",
                env_src,
            ],
        )
        .trim()
        .to_string()
    });
    assert!(
        std::path::Path::new(&path).exists(),
        "no kstatus helper at {path}: run tests/env/install.sh"
    );
    path
}

/// What kstatus computes for one object: (status, message).
fn kstatus(object: &Value) -> (String, String) {
    let mut child = Command::new(kstatus_bin())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the kstatus helper");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(object.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kstatus: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        result["status"].as_str().unwrap().to_string(),
        result["message"].as_str().unwrap().to_string(),
    )
}

fn ready_reason(object: &Value) -> Option<&str> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?["reason"]
        .as_str()
}

/// The status describes the current spec.
fn observed(object: &Value) -> bool {
    object["status"]["observedGeneration"] == object["metadata"]["generation"]
}

/// The object as the apiserver serves it (not through the operator's types).
async fn raw(api: &Api<DynamicObject>, name: &str) -> Value {
    serde_json::to_value(api.get(name).await.expect("get")).unwrap()
}

/// Polls `name` until its status describes the current spec with Ready reason `reason`, and
/// returns that very object (kstatus then judges exactly what was waited for).
async fn wait_reason(api: &Api<DynamicObject>, name: &str, reason: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let object = raw(api, name).await;
        if observed(&object) && ready_reason(&object) == Some(reason) {
            return object;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name}: timed out waiting for Ready reason {reason}; status: {}",
            object["status"]
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Waits for `reason` and asserts what kstatus reads; returns kstatus's message.
async fn assert_kstatus(api: &Api<DynamicObject>, name: &str, reason: &str, want: &str) -> String {
    let object = wait_reason(api, name, reason).await;
    let (status, message) = kstatus(&object);
    assert_eq!(
        status, want,
        "{name} at {reason}: kstatus says {status} ({message}); status: {}",
        object["status"]
    );
    message
}

fn cluster_yaml(name: &str, spec: Value) -> String {
    serde_json::to_string(&json!({
        "apiVersion": "kafka.topic-operator.dev/v1alpha1",
        "kind": "KafkaCluster",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kstatus_reads_stuck_objects_as_failed_and_slow_ones_as_in_progress() {
    let env = TestEnv::without_operator(
        "kstatus",
        ClusterOptions {
            reassignment: json!({"throttleBytesPerSecond": MOVE_THROTTLE}),
            ..Default::default()
        },
    )
    .await;
    let topics: Api<DynamicObject> = Api::namespaced_with(
        env.client.clone(),
        &env.ns,
        &ApiResource::erase::<KafkaTopic>(&()),
    );
    let clusters: Api<DynamicObject> = Api::namespaced_with(
        env.client.clone(),
        &env.ns,
        &ApiResource::erase::<KafkaCluster>(&()),
    );
    let kafka_names: Vec<String> = ["fresh", "moving", "observed", "invalid"]
        .iter()
        .map(|n| unique(n))
        .collect();
    let _cleanup: Vec<DeleteTopicOnDrop> = kafka_names
        .iter()
        .map(|n| DeleteTopicOnDrop(n.clone()))
        .collect();
    let [fresh, moving, observed_topic, invalid] = &kafka_names[..] else {
        unreachable!()
    };

    // More KafkaClusters: one in Observe mode on the same Kafka, one where nothing listens, one
    // whose credentials Secret does not exist.
    let nowhere = free_addr().to_string();
    for (name, spec) in [
        (
            "legacy",
            json!({"bootstrapServers": bootstrap_list(), "policy": {"mode": "Observe"}}),
        ),
        ("nowhere", json!({"bootstrapServers": [nowhere]})),
        (
            "locked",
            json!({"bootstrapServers": bootstrap_list(), "security": {
                "protocol": "SASL_SSL",
                "sasl": {"mechanism": "SCRAM-SHA-512", "credentialsSecretRef": {"name": "absent"}}
            }}),
        ),
    ] {
        kubectl_apply(&env.ns, &cluster_yaml(name, spec)).unwrap();
    }

    // Topics in Kafka already: one to move from 1 replica to 3 (6 MB under a 1 MB/s throttle:
    // seconds of Reassigning), one for the Observe-mode cluster to find in sync.
    kafka_cli::create(moving, &["--partitions", "1", "--replication-factor", "1"]);
    kafka_cli::produce_bulk(moving, 6_000, 1_000);
    kafka_cli::create(
        observed_topic,
        &["--partitions", "1", "--replication-factor", "1"],
    );

    env.apply_topic("fresh", json!({"topicName": fresh})).await;
    env.apply_topic(
        "moving",
        json!({"topicName": moving, "partitions": 1, "replicationFactor": 3}),
    )
    .await;
    // minInSyncReplicas above the replication factor the topicDefaults give it: refused by the
    // operator, not by admission (replicationFactor is left out).
    env.apply_topic(
        "invalid",
        json!({"topicName": invalid, "minInSyncReplicas": 4}),
    )
    .await;
    env.apply_topic(
        "too-many-replicas",
        json!({"topicName": unique("rf5"), "replicationFactor": 5, "minInSyncReplicas": 1}),
    )
    .await;
    env.apply_topic(
        "orphan",
        json!({"topicName": unique("orphan"), "clusterRef": {"name": "absent"}}),
    )
    .await;
    env.apply_topic(
        "far",
        json!({"topicName": unique("far"), "clusterRef": {"name": "nowhere"}}),
    )
    .await;
    env.apply_topic(
        "observed",
        json!({"topicName": observed_topic, "clusterRef": {"name": "legacy"}}),
    )
    .await;
    env.apply_topic(
        "observed-missing",
        json!({"topicName": unique("missing"), "clusterRef": {"name": "legacy"}}),
    )
    .await;
    env.apply_topic(
        "observed-invalid",
        json!({"topicName": unique("obs-invalid"), "clusterRef": {"name": "legacy"}, "minInSyncReplicas": 4}),
    )
    .await;

    // Before the operator has written anything: the CRDs' default status (observedGeneration
    // -1) reads InProgress, not Current, so nothing waiting on a new object passes too early.
    for (api, name) in [(&topics, "fresh"), (&clusters, "kafka")] {
        let object = raw(api, name).await;
        assert_eq!(object["status"]["observedGeneration"], -1, "{object}");
        let (status, message) = kstatus(&object);
        assert_eq!(
            status, "InProgress",
            "{name} before the operator: {message}"
        );
        assert!(
            message.contains("latest observed generation is -1"),
            "{message}"
        );
    }

    let log = std::env::temp_dir().join(format!("{}.log", env.ns));
    let _operator = OperatorProcess::start(
        &[
            "run",
            "--namespace",
            &env.ns,
            "--resync-interval",
            "2s",
            "--http-addr",
            "off",
        ],
        &[("RUST_LOG", "info")],
        &log,
    );

    // On its way: InProgress.
    assert_kstatus(&topics, "moving", "Reassigning", "InProgress").await;
    let message = assert_kstatus(&topics, "far", "ClusterUnreachable", "InProgress").await;
    assert!(message.contains(&nowhere), "{message}");
    assert_kstatus(&clusters, "nowhere", "ClusterUnreachable", "InProgress").await;

    // Stuck until someone acts: Failed at once, with the reason's message.
    let message = assert_kstatus(&topics, "invalid", "InvalidSpec", "Failed").await;
    assert!(message.contains("minInSyncReplicas 4 exceeds"), "{message}");
    let message = assert_kstatus(&topics, "too-many-replicas", "NotEnoughBrokers", "Failed").await;
    assert!(
        message.contains("replication factor 5 needs 5 live brokers"),
        "{message}"
    );
    let message = assert_kstatus(&topics, "orphan", "ClusterNotFound", "Failed").await;
    assert!(message.contains("absent"), "{message}");
    let message = assert_kstatus(&clusters, "locked", "InvalidSecurity", "Failed").await;
    assert!(message.contains("absent"), "{message}");

    // Observe mode: in sync is Current; a missing topic (Observe mode does not create it) and
    // an invalid declaration are Failed, not hidden.
    assert_kstatus(&topics, "observed", "InSync", "Current").await;
    assert_kstatus(&topics, "observed-missing", "NotCreated", "Failed").await;
    assert_kstatus(&topics, "observed-invalid", "InvalidSpec", "Failed").await;
    assert_kstatus(&clusters, "legacy", "Connected", "Current").await;

    // Done: Current.
    assert_kstatus(&clusters, "kafka", "Connected", "Current").await;
    assert_kstatus(&topics, "fresh", "InSync", "Current").await;
    assert_kstatus(&topics, "moving", "InSync", "Current").await;

    // A spec change the operator has not yet seen is InProgress whatever the conditions say
    // (judged on the object the update returned, before the operator can have written), and a
    // stuck topic that someone fixes goes on by itself to Current.
    let updated = env
        .apply_topic(
            "invalid",
            json!({"topicName": invalid, "minInSyncReplicas": 2}),
        )
        .await;
    let (status, message) = kstatus(&serde_json::to_value(&updated).unwrap());
    assert_eq!(status, "InProgress", "{message}");
    assert!(
        message.contains("generation is 2, but latest observed generation is 1"),
        "{message}"
    );
    assert_kstatus(&topics, "invalid", "InSync", "Current").await;
}
