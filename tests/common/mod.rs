//! Harness for integration tests against the real environment started by tests/env/up.sh
//! (`make test` starts it; `source /tmp/kto-env/env.sh` for a manual `cargo test`).
//!
//! Each test gets its own namespace, a KafkaCluster in it and an operator scoped to that
//! namespace running in-process, so tests run in parallel without seeing each other. Kafka's
//! state is checked with Kafka's own CLI (the kafka-tools jar), never only through our code.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod clients;
pub mod http;
pub mod kafka_cli;
pub mod kafka_proxy;
pub mod kafka_user;
pub mod manifests;
pub mod proxy;
pub mod witness;

use std::process::Command;
use std::sync::{Arc, Once};
use std::time::Duration;

use kafka_topic_operator::api::{KafkaCluster, KafkaTopic};
use kafka_topic_operator::cluster::Observers;
use kafka_topic_operator::controller::{self, Runtime, Settings};
use kafka_topic_operator::kafka::fence::WriteFence;
use kafka_topic_operator::kafka::write_count;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// The operator's resync interval in tests: short, so drift is reverted within seconds.
pub const RESYNC: Duration = Duration::from_secs(2);
pub const WAIT: Duration = Duration::from_secs(90);

/// With KTO_TEST_LOG set, the in-process operator logs to stderr (filtered by RUST_LOG): run
/// the test with `-- --nocapture` to see why it waits.
pub fn log_if_asked() {
    if std::env::var_os("KTO_TEST_LOG").is_some() {
        kafka_topic_operator::telemetry::init(kafka_topic_operator::telemetry::LogFormat::Text);
    }
}

/// A generic Secret in `ns` with `data` (values given literally, never printed).
pub fn secret(ns: &str, name: &str, data: &[(&str, &str)]) {
    let mut args = vec![
        "create".to_string(),
        "secret".into(),
        "generic".into(),
        name.into(),
        "-n".into(),
        ns.into(),
    ];
    for (k, v) in data {
        args.push(format!("--from-literal={k}={v}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    kubectl(&args);
}

/// The label by which a Secret's owner lets KafkaClusters use it (src/controller/credentials.rs).
pub const CREDENTIALS_LABEL: &str = "kafka.topic-operator.dev/credentials";

/// A Secret that KafkaClusters may use for their connections: `secret` with the opt-in label.
pub fn credentials_secret(ns: &str, name: &str, data: &[(&str, &str)]) {
    secret(ns, name, data);
    kubectl(&[
        "label",
        "secret",
        name,
        "-n",
        ns,
        &format!("{CREDENTIALS_LABEL}=true"),
    ]);
}

pub fn env_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: integration tests run against the real environment; use `make test`, or `make env-up && source /tmp/kto-env/env.sh` first")
    })
}

pub fn bootstrap() -> String {
    env_var("KTO_KAFKA_BOOTSTRAP")
}

pub fn bootstrap_list() -> Vec<String> {
    bootstrap().split(',').map(String::from).collect()
}

/// Runs a command, asserting success, returning stdout.
pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command that is expected to fail; returns stderr.
pub fn run_failing(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {cmd}: {e}"));
    assert!(
        !out.status.success(),
        "{cmd} {args:?} succeeded but should have failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn kubectl(args: &[&str]) -> String {
    run(&env_var("KTO_KUBECTL"), args)
}

/// The name of the replica holding the operator's Lease in `ns` (empty: none).
pub fn lease_holder(ns: &str) -> String {
    lease_field(ns, "holderIdentity")
}

/// One field of the operator's Lease's spec in `ns` (empty: no Lease, or no such field).
pub fn lease_field(ns: &str, field: &str) -> String {
    kubectl(&[
        "get",
        "lease",
        "kafka-topic-operator",
        "-n",
        ns,
        "-o",
        &format!("jsonpath={{.spec.{field}}}"),
        "--ignore-not-found",
    ])
}

pub fn kubectl_failing(args: &[&str]) -> String {
    run_failing(&env_var("KTO_KUBECTL"), args)
}

/// kubectl apply of a YAML document given as a string.
pub fn kubectl_apply(ns: &str, yaml: &str) -> Result<String, String> {
    kubectl_stdin(ns, &["apply", "-f", "-"], yaml)
}

/// kubectl `args` in namespace `ns`, with `yaml` on its standard input.
pub fn kubectl_stdin(ns: &str, args: &[&str], yaml: &str) -> Result<String, String> {
    use std::io::Write;
    let mut child = Command::new(env_var("KTO_KUBECTL"))
        .args(["-n", ns])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

static CRDS: Once = Once::new();

/// Installs the committed CRDs (crds/) once per test binary and waits until they serve.
pub fn install_crds() {
    CRDS.call_once(|| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/");
        kubectl(&["apply", "--server-side", "--force-conflicts", "-f", dir]);
        kubectl(&[
            "wait",
            "--for",
            "condition=established",
            "--timeout=60s",
            "-f",
            concat!(env!("CARGO_MANIFEST_DIR"), "/crds/kafka.topic-operator.dev.yaml"),
        ]);
        // The admission policy beside the CRDs takes effect a moment after it is created: wait
        // until a server-side dry run of a refused value is refused.
        let probe = "apiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaTopic\nmetadata:\n  name: policy-probe\nspec:\n  clusterRef:\n    name: kafka\n  config:\n    retention.ms: null\n";
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while kubectl_stdin("default", &["create", "--dry-run=server", "-f", "-"], probe)
            .is_ok_and(|_| std::time::Instant::now() < deadline)
        {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    });
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}", rand::random::<u32>())
}

/// One test's world: a namespace, a KafkaCluster named `kafka` in it, and an operator watching
/// only that namespace. Dropping it stops the operator and deletes the namespace.
pub struct TestEnv {
    pub client: Client,
    pub ns: String,
    pub observers: Arc<Observers>,
    runtime: Runtime,
    /// Where this test's operator serves /metrics, /healthz, /readyz.
    pub http_addr: std::net::SocketAddr,
    shutdown: CancellationToken,
    operator: Option<tokio::task::JoinHandle<()>>,
}

pub struct ClusterOptions {
    pub bootstrap: Vec<String>,
    pub mode: &'static str,
    pub defaults: serde_json::Value,
    pub reassignment: serde_json::Value,
    pub security: serde_json::Value,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            bootstrap: bootstrap_list(),
            mode: "Enforce",
            defaults: json!({}),
            reassignment: json!({}),
            security: serde_json::Value::Null,
        }
    }
}

impl TestEnv {
    pub async fn start(name: &str) -> TestEnv {
        Self::start_with(name, ClusterOptions::default()).await
    }

    pub async fn start_with(name: &str, cluster: ClusterOptions) -> TestEnv {
        let env = Self::without_operator(name, cluster).await;
        env.start_operator()
    }

    /// Namespace and KafkaCluster, but no operator yet (call `start_operator`).
    pub async fn without_operator(name: &str, cluster: ClusterOptions) -> TestEnv {
        install_crds();
        let client = Client::try_default()
            .await
            .expect("kube client from KUBECONFIG");
        let ns = unique(&format!("kto-{name}"));
        create_namespace(&client, &ns).await;
        let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), &ns);
        let kc: KafkaCluster = serde_json::from_value(json!({
            "apiVersion": "kafka.topic-operator.dev/v1alpha1",
            "kind": "KafkaCluster",
            "metadata": {"name": "kafka"},
            "spec": {
                "bootstrapServers": cluster.bootstrap,
                "topicDefaults": cluster.defaults,
                "policy": {"mode": cluster.mode},
                "reassignment": cluster.reassignment,
                "security": cluster.security
            }
        }))
        .unwrap();
        clusters
            .create(&PostParams::default(), &kc)
            .await
            .expect("create KafkaCluster");
        let http_addr = free_addr();
        let runtime = Runtime::new(&settings(&ns, http_addr));
        TestEnv {
            client,
            ns,
            observers: runtime.observers.clone(),
            runtime,
            http_addr,
            shutdown: CancellationToken::new(),
            operator: None,
        }
    }

    pub fn start_operator(self) -> TestEnv {
        self.start_operator_with(|_| {})
    }

    /// The operator with the test's settings changed by `tune`.
    pub fn start_operator_with(mut self, tune: impl FnOnce(&mut Settings)) -> TestEnv {
        let mut settings = settings(&self.ns, self.http_addr);
        tune(&mut settings);
        self.operator = Some(tokio::spawn(controller::run_with(
            self.client.clone(),
            settings,
            self.runtime.clone(),
            self.shutdown.clone(),
        )));
        self
    }

    /// GET one of the operator's HTTP endpoints: (status code, body).
    pub fn http_get(&self, path: &str) -> (u16, String) {
        http::http_get(&self.http_addr.to_string(), path)
            .expect("the operator's HTTP endpoint answers")
    }

    /// The value of one sample in /metrics: the first line of `metric` carrying every
    /// `label="value"` given.
    pub fn metric(&self, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let (_, body) = self.http_get("/metrics");
        http::metric_samples(&body, metric, labels).next()
    }

    pub fn topics(&self) -> Api<KafkaTopic> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub fn clusters(&self) -> Api<KafkaCluster> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// Applies a KafkaTopic given as JSON (metadata.name and spec), referencing this test's cluster
    /// unless the spec names another.
    pub async fn apply_topic(&self, name: &str, mut spec: serde_json::Value) -> KafkaTopic {
        if spec.get("clusterRef").is_none() {
            spec["clusterRef"] = json!({"name": "kafka"});
        }
        let obj = json!({
            "apiVersion": "kafka.topic-operator.dev/v1alpha1",
            "kind": "KafkaTopic",
            "metadata": {"name": name},
            "spec": spec,
        });
        self.topics()
            .patch(
                name,
                &PatchParams::apply("kto-tests").force(),
                &Patch::Apply(&obj),
            )
            .await
            .unwrap_or_else(|e| panic!("applying KafkaTopic {name}: {e}"))
    }

    pub async fn get_topic(&self, name: &str) -> KafkaTopic {
        self.topics().get(name).await.expect("get KafkaTopic")
    }

    /// Polls the KafkaTopic until `ok` holds; panics with its last status after WAIT.
    pub async fn wait_topic(
        &self,
        name: &str,
        what: &str,
        ok: impl Fn(&KafkaTopic) -> bool,
    ) -> KafkaTopic {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let t = self.get_topic(name).await;
            if ok(&t) {
                return t;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "KafkaTopic {name}: timed out waiting for {what}; status: {}",
                    serde_json::to_string_pretty(&t.status).unwrap()
                );
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    pub async fn wait_ready(&self, name: &str) -> KafkaTopic {
        self.wait_topic(name, "Ready=True", |t| {
            condition(t, "Ready").is_some_and(|c| c.0 == "True")
        })
        .await
    }

    pub async fn wait_reason(&self, name: &str, reason: &str) -> KafkaTopic {
        self.wait_topic(name, &format!("Ready reason {reason}"), |t| {
            condition(t, "Ready").is_some_and(|c| c.1 == reason)
        })
        .await
    }

    pub async fn wait_cluster(
        &self,
        what: &str,
        ok: impl Fn(&KafkaCluster) -> bool,
    ) -> KafkaCluster {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let c = self
                .clusters()
                .get("kafka")
                .await
                .expect("get KafkaCluster");
            if ok(&c) {
                return c;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "KafkaCluster: timed out waiting for {what}; status: {}",
                    serde_json::to_string_pretty(&c.status).unwrap()
                );
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    pub async fn delete_topic_resource(&self, name: &str) {
        self.topics()
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete KafkaTopic");
    }

    pub async fn wait_topic_gone(&self, name: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.topics().get_opt(name).await.expect("get").is_some() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "KafkaTopic {name} was not deleted"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Kafka write requests the operator has sent to this test's cluster.
    pub fn kafka_writes(&self) -> u64 {
        self.observers
            .get(&(self.ns.clone(), "kafka".into()))
            .map(|o| write_count(o.state.admin.as_ref()))
            .unwrap_or(0)
    }

    /// Events about one object, as "Type Reason: message" lines (via kubectl).
    pub fn events_for(&self, name: &str) -> Vec<String> {
        let out = kubectl(&[
            "get",
            "events.events.k8s.io",
            "-n",
            &self.ns,
            "--field-selector",
            &format!("regarding.name={name}"),
            "-o",
            "jsonpath={range .items[*]}{.type} {.reason}: {.note}{\"\\n\"}{end}",
        ]);
        out.lines().map(String::from).collect()
    }

    pub async fn wait_event(&self, name: &str, reason: &str) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(e) = self
                .events_for(name)
                .into_iter()
                .find(|e| e.contains(&format!(" {reason}:")))
            {
                return e;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no {reason} event for {name}: {:?}",
                self.events_for(name)
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Stops the operator and starts a new one with no memory of the old (fresh Kafka clients
    /// and caches), as after a crash or a rolling update.
    pub async fn restart_operator(&mut self) {
        self.stop_operator().await;
        self.http_addr = free_addr();
        self.runtime = Runtime::new(&settings(&self.ns, self.http_addr));
        self.observers = self.runtime.observers.clone();
        self.shutdown = CancellationToken::new();
        self.operator = Some(tokio::spawn(controller::run_with(
            self.client.clone(),
            settings(&self.ns, self.http_addr),
            self.runtime.clone(),
            self.shutdown.clone(),
        )));
    }

    /// The KafkaTopics with a TopicCreated event, asserting that none has two (or a repeated one).
    pub fn created_once(&self) -> std::collections::BTreeSet<String> {
        let created = kubectl(&[
            "get",
            "events.events.k8s.io",
            "-n",
            &self.ns,
            "--field-selector",
            "reason=TopicCreated",
            "-o",
            "jsonpath={range .items[*]}{.regarding.name} {.series.count}{\"\\n\"}{end}",
        ]);
        let mut names = std::collections::BTreeSet::new();
        for line in created.lines() {
            let (name, series) = line.split_once(' ').unwrap_or((line, ""));
            assert!(series.trim().is_empty(), "TopicCreated repeated: {line}");
            assert!(names.insert(name.to_string()), "created twice: {name}");
        }
        names
    }

    /// Waits until the operator has looked at Kafka `n` more times (full snapshots). For "nothing
    /// happens" assertions: they hold over a counted number of resyncs, whatever the machine's
    /// speed, instead of over a guessed time.
    pub async fn wait_resyncs(&self, n: usize) {
        wait_resyncs(&self.observers, n).await
    }

    /// Waits until `done` holds, failing with `what` after the deadline.
    pub async fn wait_for(&self, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !done() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Requests of one API the current operator has sent to this test's cluster.
    pub fn kafka_requests(&self, api: &str) -> u64 {
        self.observers
            .get(&(self.ns.clone(), "kafka".into()))
            .and_then(|o| o.state.admin.request_counts().get(api).copied())
            .unwrap_or(0)
    }

    /// Stops the operator and waits until it has.
    pub async fn stop_operator(&mut self) {
        self.shutdown.cancel();
        if let Some(handle) = self.operator.take() {
            let _ = tokio::time::timeout(Duration::from_secs(20), handle).await;
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        self.shutdown.cancel();
        // Leave nothing behind; the finalizers of Delete-policy topics are released by the
        // operator when it runs, so strip them here as it is stopping.
        let kubectl = env_var("KTO_KUBECTL");
        let _ = Command::new(&kubectl)
            .args([
                "patch",
                "kafkatopics",
                "--all",
                "-n",
                &self.ns,
                "--type=merge",
                "-p",
                r#"{"metadata":{"finalizers":null}}"#,
            ])
            .output();
        let _ = Command::new(&kubectl)
            .args(["delete", "namespace", &self.ns, "--wait=false"])
            .output();
    }
}

fn settings(ns: &str, http_addr: std::net::SocketAddr) -> Settings {
    Settings {
        namespace: Some(ns.to_string()),
        selector: None,
        resync: RESYNC,
        kafka_timeout: Duration::from_secs(10),
        http_addr: Some(http_addr),
        write_fence: WriteFence::always_open(),
        platform_namespaces: vec![],
        max_concurrent_reconciles: controller::DEFAULT_MAX_CONCURRENT_RECONCILES,
        bulk_apply: Default::default(),
    }
}

/// Creates the namespace `name`.
pub async fn create_namespace(client: &Client, name: &str) {
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
        )
        .await
        .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
}

/// Waits until `observers` have refreshed `n` more times (see [`TestEnv::wait_resyncs`]).
pub async fn wait_resyncs(observers: &Observers, n: usize) {
    let mut updates = observers.updates();
    for i in 1..=n {
        tokio::time::timeout(WAIT, updates.changed())
            .await
            .unwrap_or_else(|_| panic!("resync {i} of {n} did not happen within {WAIT:?}"))
            .expect("the observers are gone");
    }
}

/// A free local port (bound and released; the operator binds it right after).
pub fn free_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A Kafka node killed with SIGKILL (like a crash), restarted when dropped, so later tests find
/// every broker even when an assertion fails.
pub struct BrokerDown(String);

impl BrokerDown {
    pub fn kill(node: &str) -> BrokerDown {
        run(
            &format!("{}/kafka-node.sh", env_var("KTO_ENV_SRC")),
            &["kill", node],
        );
        BrokerDown(node.to_string())
    }
}

impl Drop for BrokerDown {
    fn drop(&mut self) {
        run(
            &format!("{}/kafka-node.sh", env_var("KTO_ENV_SRC")),
            &["start", &self.0],
        );
    }
}

/// The control plane, etcd and kube-apiserver, killed with SIGKILL (like a crash) and restarted
/// when dropped with the same flags and data (tests/env/control-plane.sh), so later tests find
/// it even when an assertion fails. Dropping it returns once the apiserver is ready again.
pub struct ControlPlaneDown(());

impl ControlPlaneDown {
    pub fn kill() -> ControlPlaneDown {
        run(
            &format!("{}/control-plane.sh", env_var("KTO_ENV_SRC")),
            &["kill"],
        );
        ControlPlaneDown(())
    }
}

impl Drop for ControlPlaneDown {
    fn drop(&mut self) {
        // Not `run`: a panic here, while a failed assertion unwinds, would abort the whole binary.
        let out = Command::new(format!("{}/control-plane.sh", env_var("KTO_ENV_SRC")))
            .arg("start")
            .output();
        match out {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "restarting the control plane failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("restarting the control plane failed: {e}"),
        }
    }
}

/// The operator binary running as a separate process, killed when dropped.
pub struct OperatorProcess(pub std::process::Child);

impl OperatorProcess {
    /// Starts `kafka-topic-operator ARGS` with `env`, its stderr (the log) going to `log`.
    pub fn start(args: &[&str], env: &[(&str, &str)], log: &std::path::Path) -> OperatorProcess {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kafka-topic-operator"));
        cmd.args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(log).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        OperatorProcess(cmd.spawn().expect("start the operator binary"))
    }

    /// SIGTERM: what Kubernetes sends a Pod it stops (a rolling update, a drain).
    pub fn terminate(&self) {
        // SAFETY: kill(2) on the pid of a child this process started and has not reaped.
        let sent = unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(sent, 0, "SIGTERM to the operator process");
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// (status, reason, message) of a condition.
pub fn condition(t: &KafkaTopic, type_: &str) -> Option<(String, String, String)> {
    t.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

pub fn cluster_condition(c: &KafkaCluster, type_: &str) -> Option<(String, String, String)> {
    c.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

pub fn resource_version(t: &KafkaTopic) -> String {
    t.resource_version().unwrap_or_default()
}

/// The replication throttle (bytes/s) of every test that moves replicas. Broker throttle rates
/// are per broker, shared by every test on the one Kafka cluster: a test that set another rate
/// would change the speed, and what Kafka's CLI shows, of the other tests' moves.
pub const MOVE_THROTTLE: i64 = 1_000_000;
