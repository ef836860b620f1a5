//! Failing reconciles are retried with exponential, capped backoff that starts over after a
//! success (src/controller/backoff.rs), measured from outside: the apiserver refuses one
//! KafkaTopic's status writes (a ValidatingAdmissionPolicy, so the failure is real and nothing
//! else is touched), and the test times the operator's failed reconciles on its own metrics.
//!
//! Waits are asserted by lower bounds where load could stretch them (a loaded machine makes
//! retries later, never earlier); a change Kafka shows for the topic may trigger a reconcile
//! earlier than its backoff, so early gaps can be short, but every failure still counts, so
//! the waits only grow. The one upper bound (three retries after a success within 30 s, where
//! no start-over would take 32 s before the first) leaves room for load.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// Status writes refused by the apiserver for one object: the policy and its binding, and a
/// probe object of the same name in a namespace no operator watches, to tell when the policy
/// is in force (the apiserver loads new policies asynchronously).
struct StatusWritesRefused {
    name: String,
    probe_ns: String,
}

impl StatusWritesRefused {
    async fn install(ns: &str, object: &str) -> StatusWritesRefused {
        let name = unique("kto-refuse-status");
        let probe_ns = unique("kto-backoff-probe");
        let manifest = json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "List",
            "items": [
                {
                    "apiVersion": "admissionregistration.k8s.io/v1",
                    "kind": "ValidatingAdmissionPolicy",
                    "metadata": {"name": name},
                    "spec": {
                        "failurePolicy": "Fail",
                        "matchConstraints": {"resourceRules": [{
                            "apiGroups": ["kafka.topic-operator.dev"],
                            "apiVersions": ["*"],
                            "operations": ["UPDATE"],
                            "resources": ["kafkatopics/status"]
                        }]},
                        "validations": [{
                            "expression": format!(
                                "!(object.metadata.name == '{object}' && object.metadata.namespace in ['{ns}', '{probe_ns}'])"
                            ),
                            "message": "status writes refused by the backoff test"
                        }]
                    }
                },
                {
                    "apiVersion": "admissionregistration.k8s.io/v1",
                    "kind": "ValidatingAdmissionPolicyBinding",
                    "metadata": {"name": name},
                    "spec": {"policyName": name, "validationActions": ["Deny"]}
                }
            ]
        });
        let path = std::env::temp_dir().join(format!("{name}.json"));
        std::fs::write(&path, manifest.to_string()).unwrap();
        kubectl(&["apply", "-f", path.to_str().unwrap()]);
        kubectl(&["create", "namespace", &probe_ns]);
        kubectl_apply(
            &probe_ns,
            &format!(
                "apiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaTopic\nmetadata: {{name: {object}}}\nspec: {{clusterRef: {{name: none}}}}\n"
            ),
        )
        .expect("probe KafkaTopic");
        let deadline = Instant::now() + WAIT;
        loop {
            let out = std::process::Command::new(env_var("KTO_KUBECTL"))
                .args(["patch", "kafkatopic", object, "-n", &probe_ns])
                .args(["--subresource=status", "--type=merge"])
                .args(["-p", r#"{"status":{"observedGeneration":1}}"#])
                .output()
                .unwrap();
            if String::from_utf8_lossy(&out.stderr).contains("refused by the backoff test") {
                break;
            }
            assert!(Instant::now() < deadline, "the policy never took effect");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        StatusWritesRefused { name, probe_ns }
    }
}

impl Drop for StatusWritesRefused {
    fn drop(&mut self) {
        for kind in [
            "validatingadmissionpolicybinding",
            "validatingadmissionpolicy",
        ] {
            let _ = std::process::Command::new(env_var("KTO_KUBECTL"))
                .args(["delete", kind, &self.name, "--ignore-not-found", "--wait"])
                .output();
        }
        let _ = std::process::Command::new(env_var("KTO_KUBECTL"))
            .args(["delete", "namespace", &self.probe_ns, "--wait=false"])
            .output();
    }
}

/// Times of the operator's failed topic reconciles, read from its metrics.
struct FailedReconciles {
    seen: f64,
    at: Vec<Instant>,
}

impl FailedReconciles {
    fn start(env: &TestEnv) -> FailedReconciles {
        FailedReconciles {
            seen: errors(env),
            at: vec![],
        }
    }

    /// Polls until `n` failures have been seen since the start.
    async fn wait(&mut self, env: &TestEnv, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.at.len() < n {
            let now = errors(env);
            // Several failures between two polls (100 ms apart) would mean no backoff at all.
            for _ in 0..(now - self.seen) as usize {
                self.at.push(Instant::now());
            }
            self.seen = now;
            assert!(
                Instant::now() < deadline,
                "only {} failed reconciles within 120 s, waiting for {n}",
                self.at.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn gaps(&self) -> Vec<Duration> {
        self.at.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

fn errors(env: &TestEnv) -> f64 {
    env.metric(
        "kto_reconcile_total",
        &[("controller", "topic"), ("result", "error")],
    )
    .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failing_reconciles_back_off_exponentially_and_start_over_after_success() {
    log_if_asked();
    let env = TestEnv::start("backoff").await;
    let topic = unique("backoff");
    let refused = StatusWritesRefused::install(&env.ns, "refused").await;

    // Kafka gets the topic; the status write fails, again and again.
    let mut failures = FailedReconciles::start(&env);
    env.apply_topic("refused", json!({"topicName": topic, "partitions": 1}))
        .await;
    failures.wait(&env, 6).await;
    let gaps = failures.gaps();
    println!("gaps between failed reconciles: {gaps:?}");
    // Backoff 1, 2, 4, 8, 16 s: the fifth wait alone is at least 16 s (load only adds), and the
    // waits grow: the last is more than 4 times the first (flat retries would keep them equal).
    assert!(
        gaps[4] >= Duration::from_secs(16),
        "fifth retry after {:?}: {gaps:?}",
        gaps[4]
    );
    assert!(gaps[3] >= Duration::from_secs(8), "{gaps:?}");
    assert!(gaps[4] > gaps[0] * 4, "waits do not grow: {gaps:?}");
    assert!(
        kafka_cli::exists(&topic),
        "the Kafka write itself went through"
    );

    // The apiserver accepts the status again: the next retry succeeds.
    drop(refused);
    env.wait_ready("refused").await;

    // Success forgot the failures: a new failure is retried after 1 s again, not after 32 s.
    let _refused = StatusWritesRefused::install(&env.ns, "refused").await;
    let mut failures = FailedReconciles::start(&env);
    env.apply_topic(
        "refused",
        json!({"topicName": topic, "partitions": 1, "config": {"retention.ms": 3600000}}),
    )
    .await;
    failures.wait(&env, 4).await;
    let gaps = failures.gaps();
    println!("after a success, gaps between failed reconciles: {gaps:?}");
    // Started over: 1 + 2 + 4 s (plus whatever the snapshot triggers earlier), where carrying
    // on from the first run would have waited 32 s before the first of them.
    let took: Duration = gaps.iter().sum();
    assert!(
        took < Duration::from_secs(30),
        "three retries after a success took {took:?} ({gaps:?}): the backoff did not start over"
    );
}
