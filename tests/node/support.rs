//! What the node-stage tests share: helm and kubectl, the releases they install, the Pods, the
//! Lease, the apiserver's audit log, and a clean-up that runs also when a test fails.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use crate::common::{env_var, kubectl, run};
use serde_json::Value;

/// Pods start within seconds once the image is on the node; this leaves room for a busy machine.
pub const WAIT: Duration = Duration::from_secs(180);
/// The chart's name, which a release's objects are named after (templates/_helpers.tpl).
pub const CHART_NAME: &str = "kafka-topic-operator";

/// The tests share two nodes, whose host ports and CRDs they use: one at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    static NODES: Mutex<()> = Mutex::new(());
    NODES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn helm(args: &[&str]) -> String {
    run(&env_var("KTO_HELM"), args)
}

/// The chart as it is now.
pub fn chart() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/helm/kafka-topic-operator"
    )
    .to_string()
}

/// The chart before this one (tests/node/previous-chart/README.md says which).
pub fn previous_chart() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node/previous-chart").to_string()
}

/// The archive `make image` writes (the image `localhost/kafka-topic-operator:dev`).
fn image_archive() -> String {
    std::env::var("KTO_IMAGE_ARCHIVE").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/target/image/kafka-topic-operator.oci.tar"
        )
        .to_string()
    })
}

/// The image as `make image` built it, into every node's containerd (no registry involved), once
/// per test binary; returns its image id (its config's digest, as the kubelet reports it).
pub fn import_image() -> String {
    static IMPORT: Once = Once::new();
    let archive = image_archive();
    assert!(
        std::path::Path::new(&archive).is_file(),
        "{archive} is missing: run `make image` first"
    );
    IMPORT.call_once(|| {
        run(
            &format!("{}/node-image.sh", env_var("KTO_ENV_SRC")),
            &[&archive],
        );
    });
    let member = |path: &str| -> Value {
        serde_json::from_str(&run("tar", &["-xOf", &archive, path])).expect("OCI JSON")
    };
    let manifest = member("index.json")["manifests"][0]["digest"]
        .as_str()
        .expect("a manifest in index.json")
        .replace("sha256:", "blobs/sha256/");
    member(&manifest)["config"]["digest"]
        .as_str()
        .expect("the manifest's config")
        .to_string()
}

/// The node stage's HTTP port plus `offset`: two releases' replicas share the nodes' network.
pub fn http_port(offset: u16) -> u16 {
    let base: u16 = env_var("KTO_NODE_HTTP_PORT").parse().expect("a port");
    base + offset
}

/// One Helm release of the operator in the node stage.
#[derive(Debug, Clone)]
pub struct Release {
    pub name: String,
    pub ns: String,
    /// Where its replicas serve /metrics, /healthz and /readyz.
    pub port: u16,
}

impl Release {
    pub fn new(name: &str, ns: &str, port: u16) -> Release {
        Release {
            name: name.to_string(),
            ns: ns.to_string(),
            port,
        }
    }

    /// Its objects' name (kto.fullname): the release's own when it contains the chart's name.
    pub fn fullname(&self) -> String {
        if self.name.contains(CHART_NAME) {
            self.name.clone()
        } else {
            format!("{}-{CHART_NAME}", self.name)
        }
    }

    pub fn service_account_user(&self) -> String {
        format!("system:serviceaccount:{}:{}", self.ns, self.fullname())
    }

    /// The values every node-stage install needs: the imported image (pullPolicy Never: there is
    /// no registry to fall back on), the hosts' network and the apiserver at 127.0.0.1 (no
    /// kube-proxy routes the `kubernetes` Service), a short resync.
    fn node_values(&self) -> Vec<String> {
        let apiserver_port = env_var("KTO_APISERVER_PORT");
        [
            "--set-string=image.repository=localhost/kafka-topic-operator".to_string(),
            "--set-string=image.tag=dev".into(),
            "--set-string=image.pullPolicy=Never".into(),
            "--set=hostNetwork=true".into(),
            format!("--set=metrics.port={}", self.port),
            "--set-string=resyncInterval=5s".into(),
            "--set-string=extraEnv[0].name=KUBERNETES_SERVICE_HOST".into(),
            "--set-string=extraEnv[0].value=127.0.0.1".into(),
            "--set-string=extraEnv[1].name=KUBERNETES_SERVICE_PORT".into(),
            format!("--set-string=extraEnv[1].value={apiserver_port}"),
        ]
        .into()
    }

    /// `helm <verb> <release> <chart> --wait` with the node values and `extra` arguments.
    pub fn helm(&self, verb: &str, chart: &str, extra: &[&str]) -> String {
        let values = self.node_values();
        let mut args: Vec<&str> = vec![
            verb,
            &self.name,
            chart,
            "-n",
            &self.ns,
            "--wait",
            "--timeout=240s",
        ];
        args.extend(values.iter().map(String::as_str));
        args.extend_from_slice(extra);
        helm(&args)
    }

    pub fn uninstall(&self) {
        helm(&[
            "uninstall",
            &self.name,
            "-n",
            &self.ns,
            "--wait",
            "--timeout=120s",
        ]);
    }
}

/// Polls `probe` until it returns Ok, or panics after `limit` with what it last reported.
pub fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match probe() {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => {
                panic!("timed out after {limit:?} waiting for {what}; last seen: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

pub fn get_json(args: &[&str]) -> Value {
    let mut all = vec!["get", "-o", "json"];
    all.extend_from_slice(args);
    serde_json::from_str(&kubectl(&all)).expect("kubectl -o json")
}

/// kubectl get that may find nothing: None on NotFound.
pub fn get_opt(args: &[&str]) -> Option<Value> {
    let mut all = vec!["get", "--ignore-not-found", "-o", "json"];
    all.extend_from_slice(args);
    let out = kubectl(&all);
    (!out.trim().is_empty()).then(|| serde_json::from_str(&out).expect("kubectl -o json"))
}

#[derive(Debug, Clone)]
pub struct Pod {
    pub name: String,
    pub node: String,
    pub ip: String,
    pub phase: String,
    pub ready: bool,
    pub deleting: bool,
}

/// The Pods of one release.
pub fn pods(release: &Release) -> Vec<Pod> {
    let selector = format!("app.kubernetes.io/instance={}", release.name);
    let list = get_json(&["pods", "-n", &release.ns, "-l", &selector]);
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| Pod {
            name: p["metadata"]["name"].as_str().unwrap().to_string(),
            node: p["spec"]["nodeName"].as_str().unwrap_or("").to_string(),
            ip: p["status"]["podIP"].as_str().unwrap_or("").to_string(),
            phase: p["status"]["phase"].as_str().unwrap_or("").to_string(),
            ready: p["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True"),
            deleting: p["metadata"]["deletionTimestamp"].is_string(),
        })
        .collect()
}

/// Waits for exactly two Pods of the release, both Running and Ready, on two different nodes,
/// none terminating.
pub fn wait_two_ready(release: &Release, what: &str) -> Vec<Pod> {
    wait_for(what, WAIT, || {
        let pods = pods(release);
        let ok = pods.len() == 2
            && pods
                .iter()
                .all(|p| p.phase == "Running" && p.ready && !p.deleting)
            && pods[0].node != pods[1].node;
        if ok {
            Ok(pods)
        } else {
            Err(format!("{pods:?}"))
        }
    })
}

pub fn lease_holder(ns: &str, lease: &str) -> Option<String> {
    get_opt(&["lease", "-n", ns, lease])?["spec"]["holderIdentity"]
        .as_str()
        .filter(|h| !h.is_empty())
        .map(String::from)
}

/// Waits until one of `pods` holds the Lease; returns the holder.
pub fn wait_lease_held_by(ns: &str, lease: &str, pods: &[Pod]) -> String {
    let names: BTreeSet<&str> = pods.iter().map(|p| p.name.as_str()).collect();
    wait_for(
        &format!("one of {names:?} to hold Lease {lease}"),
        WAIT,
        || match lease_holder(ns, lease) {
            Some(h) if names.contains(h.as_str()) => Ok(h),
            other => Err(format!("{other:?}")),
        },
    )
}

/// GET http://ip:port/path straight to a Pod, as the kubelet's probes do; returns the status code.
pub fn http_status(ip: &str, port: u16, path: &str) -> Result<u16, String> {
    let addr = format!("{ip}:{port}").parse().map_err(|e| format!("{e}"))?;
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {ip}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut response = String::new();
    s.read_to_string(&mut response).map_err(|e| e.to_string())?;
    response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status line in {response:?}"))
}

pub fn logs(ns: &str, pod: &str) -> String {
    kubectl(&["logs", "-n", ns, pod])
}

/// The audit log's records (tests/env/node-up.sh audits the kafka.topic-operator.dev group and
/// Leases).
fn audit_events() -> Vec<Value> {
    std::fs::read_to_string(env_var("KTO_AUDIT_LOG"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The successful status writes to `resource` (kafkatopics, kafkaclusters) `ns/name`, as
/// (user, the authorizer's reason: which RBAC binding allowed it).
pub fn status_writes(resource: &str, ns: &str, name: &str) -> Vec<(String, String)> {
    audit_events()
        .iter()
        .filter(|e| {
            e["objectRef"]["resource"] == resource
                && e["objectRef"]["subresource"] == "status"
                && e["objectRef"]["namespace"] == ns
                && e["objectRef"]["name"] == name
                && e["stage"] == "ResponseComplete"
                && e["verb"] != "get"
                && e["responseStatus"]["code"]
                    .as_u64()
                    .is_some_and(|c| c < 300)
        })
        .map(|e| {
            (
                e["user"]["username"].as_str().unwrap_or("").to_string(),
                e["annotations"]["authorization.k8s.io/reason"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect()
}

/// Waits until the audit log shows a status write to `resource` `ns/name` by `user`, asserting
/// on every look that nobody else wrote it; returns the authorizer's reason.
pub fn wait_status_write_by(user: &str, resource: &str, ns: &str, name: &str) -> String {
    wait_for(
        &format!("{user} to write the status of {resource} {ns}/{name}"),
        WAIT,
        || {
            let writes = status_writes(resource, ns, name);
            let others: BTreeSet<&str> = writes
                .iter()
                .map(|(u, _)| u.as_str())
                .filter(|u| *u != user)
                .collect();
            // Only this operator writes this status: a write by anyone else would mean the test
            // measured the wrong thing, or another operator reconciles what is not its own.
            assert!(others.is_empty(), "status of {name} written by {others:?}");
            writes
                .into_iter()
                .map(|(_, reason)| reason)
                .next()
                .ok_or_else(|| "no successful status write yet".to_string())
        },
    )
}

/// A KafkaCluster for the environment's Kafka, with `labels` (YAML flow mapping, may be empty).
pub fn kafka_cluster_yaml(name: &str, labels: &str) -> String {
    let brokers = env_var("KTO_KAFKA_BOOTSTRAP")
        .split(',')
        .map(|b| format!("\"{b}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "apiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaCluster\nmetadata: {{ name: {name}, labels: {{ {labels} }} }}\nspec:\n  bootstrapServers: [{brokers}]\n"
    )
}

/// A KafkaTopic for `topic` on KafkaCluster `cluster`, with `labels` (YAML flow mapping).
pub fn topic_yaml(name: &str, topic: &str, cluster: &str, labels: &str) -> String {
    crate::common::manifests::kafka_topic_yaml(
        name,
        &format!("  labels: {{ {labels} }}\n"),
        &format!(
            "  clusterRef: {{ name: {cluster} }}\n  topicName: {topic}\n  partitions: 2\n  replicationFactor: 3\n  minInSyncReplicas: 2\n  deletionPolicy: Delete\n"
        ),
    )
}

pub fn ready_condition(kind: &str, ns: &str, name: &str) -> Option<Value> {
    get_opt(&[kind, "-n", ns, name])?["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .cloned()
}

pub fn wait_topic_ready(ns: &str, name: &str) {
    wait_for(
        &format!("KafkaTopic {ns}/{name} Ready"),
        WAIT,
        || match ready_condition("kafkatopic", ns, name) {
            Some(c) if c["status"] == "True" => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
}

fn kubectl_out(args: &[&str]) -> String {
    std::process::Command::new(env_var("KTO_KUBECTL"))
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Uninstalls the releases and deletes the namespaces even when the test fails; on failure it
/// first prints what the Pods and their nodes said.
#[derive(Default)]
pub struct Cleanup {
    pub releases: Vec<Release>,
    /// Namespaces whose KafkaTopics are deleted first, while an operator still runs.
    pub topic_namespaces: Vec<String>,
    pub namespaces: Vec<String>,
    /// Apply the repository's crds/ again (a test that set the CRDs back to an older version).
    pub restore_crds: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let kubectl = env_var("KTO_KUBECTL");
        let sh = |cmd: &str, args: &[&str]| {
            let _ = std::process::Command::new(cmd).args(args).status();
        };
        if std::thread::panicking() {
            for release in &self.releases {
                sh(
                    &kubectl,
                    &["get", "pods,events", "-n", &release.ns, "-o", "wide"],
                );
                for p in pods(release) {
                    sh(&kubectl, &["logs", "-n", &release.ns, &p.name, "--tail=40"]);
                    // A container that restarted: why its previous run ended.
                    sh(
                        &kubectl,
                        &[
                            "logs",
                            "-n",
                            &release.ns,
                            &p.name,
                            "--previous",
                            "--tail=40",
                        ],
                    );
                }
            }
            sh(&kubectl, &["get", "nodes", "-o", "wide"]);
        }
        // A failure between cordon and uncordon must not leave a node unschedulable.
        for node in kubectl_out(&["get", "nodes", "-o", "name"]).lines() {
            sh(&kubectl, &["uncordon", node]);
        }
        for ns in &self.topic_namespaces {
            sh(
                &kubectl,
                &[
                    "delete",
                    "kafkatopics.kafka.topic-operator.dev",
                    "--all",
                    "-n",
                    ns,
                    "--timeout=60s",
                ],
            );
        }
        for release in &self.releases {
            // A release the test uninstalled already: helm says so, nothing else happens.
            sh(
                &env_var("KTO_HELM"),
                &[
                    "uninstall",
                    &release.name,
                    "-n",
                    &release.ns,
                    "--wait",
                    "--timeout=120s",
                ],
            );
        }
        if self.restore_crds {
            sh(
                &kubectl,
                &[
                    "apply",
                    "--server-side",
                    "--force-conflicts",
                    "-f",
                    concat!(env!("CARGO_MANIFEST_DIR"), "/crds/"),
                ],
            );
        }
        for ns in &self.namespaces {
            sh(&kubectl, &["delete", "namespace", ns, "--wait=false"]);
        }
    }
}
