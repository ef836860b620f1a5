//! The operator run the way users run it (issue 11): the image `make image` builds, imported into
//! the nodes' containerd, installed with `helm install` from deploy/helm, running as two Pods on
//! real kubelets (tests/env/node-up.sh), reaching the apiserver with its ServiceAccount's token.
//!
//! It needs the node stage, which `make test` starts after the main run (the controller manager
//! would change what the other tests see), so it is ignored in the main run:
//!   tests/env/node-up.sh && cargo test --test node -- --ignored
//! The Pods use the host's network (node-up.sh says why): the operator reaches the apiserver at
//! 127.0.0.1 (KUBERNETES_SERVICE_HOST/PORT through the chart's extraEnv, since no kube-proxy routes
//! the `kubernetes` Service) and Kafka at the environment's 127.0.0.1 listeners.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{env_var, kafka_cli, kubectl, kubectl_apply, run, unique};
use serde_json::Value;

const RELEASE: &str = "kto";
/// The chart's resource names (ServiceAccount, ClusterRole, Deployment) and the Lease's.
const NAME: &str = "kafka-topic-operator";
const SELECTOR: &str = "app.kubernetes.io/instance=kto";
/// Pods start within seconds once the image is on the node; this leaves room for a busy machine.
const WAIT: Duration = Duration::from_secs(180);

fn helm(args: &[&str]) -> String {
    run(&env_var("KTO_HELM"), args)
}

fn chart() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/helm/kafka-topic-operator"
    )
    .to_string()
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

/// The image id (its config's digest, as the kubelet reports it) of the one image in an OCI archive.
fn archive_image_id(archive: &str) -> String {
    let member = |path: &str| -> Value {
        serde_json::from_str(&run("tar", &["-xOf", archive, path])).expect("OCI JSON")
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

/// Polls `probe` until it returns Ok, or panics after `limit` with what it last reported.
fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Result<T, String>) -> T {
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

fn get_json(args: &[&str]) -> Value {
    let mut all = vec!["get", "-o", "json"];
    all.extend_from_slice(args);
    serde_json::from_str(&kubectl(&all)).expect("kubectl -o json")
}

/// kubectl get that may find nothing: None on NotFound.
fn get_opt(args: &[&str]) -> Option<Value> {
    let mut all = vec!["get", "--ignore-not-found", "-o", "json"];
    all.extend_from_slice(args);
    let out = kubectl(&all);
    (!out.trim().is_empty()).then(|| serde_json::from_str(&out).expect("kubectl -o json"))
}

#[derive(Debug, Clone)]
struct Pod {
    name: String,
    node: String,
    ip: String,
    phase: String,
    ready: bool,
    deleting: bool,
}

fn pods(ns: &str) -> Vec<Pod> {
    let list = get_json(&["pods", "-n", ns, "-l", SELECTOR]);
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

/// Waits for exactly two Pods, both Running and Ready, on two different nodes, none terminating.
fn wait_two_ready(ns: &str, what: &str) -> Vec<Pod> {
    wait_for(what, WAIT, || {
        let pods = pods(ns);
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

fn lease_holder(ns: &str) -> Option<String> {
    get_opt(&["lease", "-n", ns, NAME])?["spec"]["holderIdentity"]
        .as_str()
        .filter(|h| !h.is_empty())
        .map(String::from)
}

/// GET http://ip:port/path straight to a Pod, as the kubelet's probes do; returns the status code.
fn http_status(ip: &str, path: &str) -> Result<u16, String> {
    let port = env_var("KTO_NODE_HTTP_PORT");
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

/// apiserver_flowcontrol_dispatched_requests_total for one FlowSchema and priority level.
fn dispatched_by_flow_schema(flow_schema: &str, priority_level: &str) -> f64 {
    let wanted = [
        format!("flow_schema=\"{flow_schema}\""),
        format!("priority_level=\"{priority_level}\""),
    ];
    kubectl(&["get", "--raw", "/metrics"])
        .lines()
        .filter(|l| l.starts_with("apiserver_flowcontrol_dispatched_requests_total{"))
        .filter(|l| wanted.iter().all(|w| l.contains(w.as_str())))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn logs(ns: &str, pod: &str) -> String {
    kubectl(&["logs", "-n", ns, pod])
}

/// The audit log's records (tests/env/node-up.sh audits KafkaTopic and Lease requests).
fn audit_events() -> Vec<Value> {
    std::fs::read_to_string(env_var("KTO_AUDIT_LOG"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Waits until the audit log shows a successful status write to KafkaTopic `name` by `user`, and
/// returns the authorizer's reason (which RBAC binding allowed it).
fn wait_status_write_by(user: &str, ns: &str, name: &str) -> String {
    wait_for(
        &format!("{user} to write the status of {ns}/{name}"),
        WAIT,
        || {
            let events = audit_events();
            let writes: Vec<&Value> = events
                .iter()
                .filter(|e| {
                    e["objectRef"]["resource"] == "kafkatopics"
                        && e["objectRef"]["subresource"] == "status"
                        && e["objectRef"]["namespace"] == ns
                        && e["objectRef"]["name"] == name
                        && e["stage"] == "ResponseComplete"
                        && e["verb"] != "get"
                })
                .collect();
            let others: Vec<&str> = writes
                .iter()
                .filter_map(|e| e["user"]["username"].as_str())
                .filter(|u| *u != user)
                .collect();
            // Only the operator writes status: a write by anyone else would mean the test measured the
            // wrong thing.
            assert!(others.is_empty(), "status of {name} written by {others:?}");
            writes
                .iter()
                .find(|e| {
                    e["user"]["username"] == user
                        && e["responseStatus"]["code"]
                            .as_u64()
                            .is_some_and(|c| c < 300)
                })
                .map(|e| {
                    e["annotations"]["authorization.k8s.io/reason"]
                        .as_str()
                        .unwrap_or("")
                        .to_string()
                })
                .ok_or_else(|| format!("{} status writes, none successful by {user}", writes.len()))
        },
    )
}

fn topic_yaml(name: &str, topic: &str) -> String {
    common::manifests::kafka_topic_yaml(
        name,
        "",
        &format!(
            "  clusterRef: {{ name: kafka }}\n  topicName: {topic}\n  partitions: 2\n  replicationFactor: 3\n  minInSyncReplicas: 2\n  deletionPolicy: Delete\n"
        ),
    )
}

fn wait_topic_ready(ns: &str, name: &str) {
    wait_for(&format!("KafkaTopic {ns}/{name} Ready"), WAIT, || {
        let t = get_json(&["kafkatopic", "-n", ns, name]);
        let ready = t["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Ready")
            .cloned();
        match ready {
            Some(c) if c["status"] == "True" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
}

fn kubectl_out(args: &[&str]) -> String {
    std::process::Command::new(env_var("KTO_KUBECTL"))
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Uninstalls the release and deletes the namespaces even when the test fails; on failure it
/// first prints what the Pods and their nodes said.
struct Cleanup {
    namespaces: Vec<String>,
    installed: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let kubectl = env_var("KTO_KUBECTL");
        let sh = |cmd: &str, args: &[&str]| {
            let _ = std::process::Command::new(cmd).args(args).status();
        };
        if std::thread::panicking() {
            for ns in &self.namespaces {
                sh(&kubectl, &["get", "pods,events", "-n", ns, "-o", "wide"]);
                for p in pods(ns) {
                    sh(&kubectl, &["logs", "-n", ns, &p.name, "--tail=40"]);
                    // A container that restarted: why its previous run ended.
                    sh(
                        &kubectl,
                        &["logs", "-n", ns, &p.name, "--previous", "--tail=40"],
                    );
                }
            }
            sh(&kubectl, &["get", "nodes", "-o", "wide"]);
        }
        // A failure between cordon and uncordon must not leave a node unschedulable.
        for node in kubectl_out(&["get", "nodes", "-o", "name"]).lines() {
            sh(&kubectl, &["uncordon", node]);
        }
        // Topics first, while the operator still runs to remove their Kafka topics.
        for ns in self.namespaces.iter().skip(1) {
            sh(
                &kubectl,
                &["delete", "kafkatopics", "--all", "-n", ns, "--timeout=60s"],
            );
        }
        if self.installed {
            sh(
                &env_var("KTO_HELM"),
                &[
                    "uninstall",
                    RELEASE,
                    "-n",
                    &self.namespaces[0],
                    "--wait",
                    "--timeout=120s",
                ],
            );
        }
        for ns in &self.namespaces {
            sh(&kubectl, &["delete", "namespace", ns, "--wait=false"]);
        }
    }
}

#[test]
#[ignore = "needs the node stage: tests/env/node-up.sh (make test runs it after the main run)"]
fn helm_install_runs_two_replicas_on_real_nodes_with_failover_upgrade_and_uninstall() {
    let archive = image_archive();
    assert!(
        std::path::Path::new(&archive).is_file(),
        "{archive} is missing: run `make image` first"
    );
    let image_id = archive_image_id(&archive);
    let ns = unique("kto-node");
    let topics_ns = unique("kto-node-topics");
    let mut cleanup = Cleanup {
        namespaces: vec![ns.clone(), topics_ns.clone()],
        installed: false,
    };
    let sa_user = format!("system:serviceaccount:{ns}:{NAME}");

    // The image as `make image` built it, into every node's containerd: no registry involved.
    run(
        &format!("{}/node-image.sh", env_var("KTO_ENV_SRC")),
        &[&archive],
    );

    // ---- helm install, as a user would; --wait returns once the Deployment is available.
    let port = env_var("KTO_NODE_HTTP_PORT");
    let apiserver_port = env_var("KTO_APISERVER_PORT");
    let values = [
        "image.repository=localhost/kafka-topic-operator".to_string(),
        "image.tag=dev".into(),
        // Never: the kubelet must run the imported image; there is no registry to fall back on.
        "image.pullPolicy=Never".into(),
        "hostNetwork=true".into(),
        format!("metrics.port={port}"),
        "resyncInterval=5s".into(),
        "extraEnv[0].name=KUBERNETES_SERVICE_HOST".into(),
        "extraEnv[0].value=127.0.0.1".into(),
        "extraEnv[1].name=KUBERNETES_SERVICE_PORT".into(),
        format!("extraEnv[1].value={apiserver_port}"),
    ];
    let mut install: Vec<&str> = vec![
        "install",
        RELEASE,
        "-n",
        &ns,
        "--create-namespace",
        "--wait",
        "--timeout=240s",
    ];
    let chart = chart();
    install.push(&chart);
    for v in &values {
        install.extend(["--set-string", v.as_str()]);
    }
    cleanup.installed = true;
    helm(&install);

    // ---- both replicas Running and Ready, one per node, probes on /healthz and /readyz
    let first = wait_two_ready(&ns, "both replicas Running and Ready");
    let deployment = get_json(&["deployment", "-n", &ns, NAME]);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "localhost/kafka-topic-operator:dev");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    for p in &first {
        // What the kubelet's probes ask, asked directly: the Pod's address is its node's.
        // Waited for, not asserted once: a replica that has just won the lease answers 503 on
        // /readyz until its caches are synced (a second or so), by design (src/main.rs).
        wait_for(
            &format!("{} to answer 200 on /healthz and /readyz", p.name),
            WAIT,
            || match (
                http_status(&p.ip, "/healthz"),
                http_status(&p.ip, "/readyz"),
            ) {
                (Ok(200), Ok(200)) => Ok(()),
                other => Err(format!("{other:?}")),
            },
        );
        let pod = get_json(&["pod", "-n", &ns, &p.name]);
        let status = &pod["status"]["containerStatuses"][0];
        assert_eq!(status["restartCount"], 0, "{p:?} restarted: {status}");
        // The very image `make image` built, not an older one under the same name.
        assert_eq!(status["imageID"], image_id.as_str(), "{p:?}");
        // The projected ServiceAccount token is what in-cluster config reads.
        let mounts = pod["spec"]["containers"][0]["volumeMounts"].to_string();
        assert!(
            mounts.contains("/var/run/secrets/kubernetes.io/serviceaccount"),
            "{mounts}"
        );
        assert_eq!(pod["spec"]["serviceAccountName"], NAME);
    }

    // ---- exactly one leader: the Lease names one replica, and only that one says it leads
    let leader = wait_for("a Lease holder", WAIT, || {
        lease_holder(&ns).ok_or_else(|| "no holder".to_string())
    });
    let names: BTreeSet<String> = first.iter().map(|p| p.name.clone()).collect();
    assert!(
        names.contains(&leader),
        "lease held by {leader}, not one of {names:?}"
    );
    let standby = first.iter().find(|p| p.name != leader).unwrap().clone();
    wait_for("the standby to say it stands by", WAIT, || {
        let l = logs(&ns, &standby.name);
        if l.contains("another replica leads") {
            Ok(())
        } else {
            Err(l)
        }
    });
    // The Lease is written a moment before the leader logs it: waited for, not assumed.
    wait_for("the leader to say it leads", WAIT, || {
        let l = logs(&ns, &leader);
        if l.contains("became the leader") {
            Ok(())
        } else {
            Err(l)
        }
    });
    assert!(!logs(&ns, &standby.name).contains("became the leader"));

    // ---- the Lease calls go through the chart's FlowSchema to the leader-election priority
    // level (the apiserver's own count of what it dispatched there), not the workload level the
    // operator's other traffic crowds.
    wait_for(
        "Lease requests dispatched through the chart's FlowSchema",
        WAIT,
        || {
            let n =
                dispatched_by_flow_schema(&format!("{NAME}-leader-election"), "leader-election");
            if n > 0.0 { Ok(()) } else { Err(format!("{n}")) }
        },
    );

    // ---- a KafkaTopic reconciled by the in-cluster operator, with its ServiceAccount's rights
    let brokers = env_var("KTO_KAFKA_BOOTSTRAP")
        .split(',')
        .map(|b| format!("\"{b}\""))
        .collect::<Vec<_>>()
        .join(", ");
    kubectl(&["create", "namespace", &topics_ns]);
    kubectl_apply(
        &topics_ns,
        &format!(
            "apiVersion: kafka.topic-operator.dev/v1alpha1
kind: KafkaCluster
metadata: {{ name: kafka }}
spec:
  bootstrapServers: [{brokers}]
"
        ),
    )
    .unwrap();
    let topic1 = unique("node-one");
    kubectl_apply(&topics_ns, &topic_yaml("one", &topic1)).unwrap();
    wait_topic_ready(&topics_ns, "one");
    let described = kafka_cli::describe(&topic1).expect("topic created in Kafka");
    assert_eq!(described.partitions.len(), 2);
    let reason = wait_status_write_by(&sa_user, &topics_ns, "one");
    assert!(
        reason.contains(&format!("ServiceAccount \"{NAME}/{ns}\"")),
        "allowed by: {reason}"
    );

    // ---- the leader's Pod deleted: the standby takes over and reconciles a new KafkaTopic.
    // The leader's node is cordoned first, as a drain does: else the Deployment's replacement Pod
    // may start there before the standby's next attempt and win the Lease instead.
    let leader_node = first
        .iter()
        .find(|p| p.name == leader)
        .unwrap()
        .node
        .clone();
    kubectl(&["cordon", &leader_node]);
    kubectl(&["delete", "pod", "-n", &ns, &leader, "--wait=false"]);
    wait_for(
        "the standby to take the Lease",
        WAIT,
        || match lease_holder(&ns) {
            Some(h) if h == standby.name => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    let topic2 = unique("node-two");
    kubectl_apply(&topics_ns, &topic_yaml("two", &topic2)).unwrap();
    wait_topic_ready(&topics_ns, "two");
    assert!(
        kafka_cli::describe(&topic2).is_some(),
        "{topic2} not in Kafka"
    );
    wait_status_write_by(&sa_user, &topics_ns, "two");
    assert!(logs(&ns, &standby.name).contains("became the leader"));
    kubectl(&["uncordon", &leader_node]);
    let after_failover = wait_two_ready(&ns, "the Deployment to replace the deleted Pod");
    assert!(after_failover.iter().all(|p| p.name != leader));
    assert_eq!(lease_holder(&ns).as_deref(), Some(standby.name.as_str()));

    // ---- helm upgrade: a changed value rolls both Pods, one at a time, and the new ones lead
    let upgrade: Vec<&str> = vec![
        "upgrade",
        RELEASE,
        "-n",
        &ns,
        "--reuse-values",
        "--wait",
        "--timeout=240s",
        "--set-string",
        "resyncInterval=7s",
        &chart,
    ];
    helm(&upgrade);
    let upgraded = wait_two_ready(&ns, "both upgraded replicas Running and Ready");
    let before: BTreeSet<&str> = after_failover.iter().map(|p| p.name.as_str()).collect();
    assert!(
        upgraded.iter().all(|p| !before.contains(p.name.as_str())),
        "{upgraded:?}"
    );
    let args = get_json(&["deployment", "-n", &ns, NAME])["spec"]["template"]["spec"]["containers"]
        [0]["args"]
        .to_string();
    assert!(args.contains("--resync-interval=7s"), "{args}");
    let new_names: BTreeSet<String> = upgraded.iter().map(|p| p.name.clone()).collect();
    wait_for(
        "an upgraded replica to hold the Lease",
        WAIT,
        || match lease_holder(&ns) {
            Some(h) if new_names.contains(&h) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    // The new leader works: growing a topic's partitions reaches Kafka.
    kubectl(&[
        "patch",
        "kafkatopic",
        "-n",
        &topics_ns,
        "one",
        "--type=merge",
        "-p",
        r#"{"spec":{"partitions":3}}"#,
    ]);
    wait_for(
        "partitions grown to 3 by the upgraded operator",
        WAIT,
        || match kafka_cli::describe(&topic1) {
            Some(t) if t.partitions.len() == 3 => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );

    // ---- helm uninstall: the release's objects and Pods are gone
    kubectl(&[
        "delete",
        "kafkatopics",
        "--all",
        "-n",
        &topics_ns,
        "--timeout=120s",
    ]);
    helm(&["uninstall", RELEASE, "-n", &ns, "--wait", "--timeout=120s"]);
    cleanup.installed = false;
    wait_for("the operator's Pods to be gone", WAIT, || {
        let left = pods(&ns);
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("{left:?}"))
        }
    });
    for kind in ["deployment", "serviceaccount", "service"] {
        assert!(
            get_opt(&[kind, "-n", &ns, NAME]).is_none(),
            "{kind} {NAME} left behind"
        );
    }
    for (kind, name) in [
        ("clusterrole", NAME.to_string()),
        ("clusterrolebinding", NAME.to_string()),
        ("flowschema", format!("{NAME}-leader-election")),
    ] {
        assert!(
            get_opt(&[kind, &name]).is_none(),
            "{kind} {name} left behind"
        );
    }
    assert!(helm(&["list", "-n", &ns, "-q"]).trim().is_empty());
    // helm deletes the RBAC objects while the Pods are still stopping, so the last leader's
    // release of its Lease is forbidden (docs/deployment.md): the Lease, which the operator and
    // not the chart made, stays behind naming a Pod that no longer runs, and a new installation
    // takes over once it expires.
    let holder = lease_holder(&ns);
    assert!(
        holder.as_ref().is_none_or(|h| new_names.contains(h)),
        "Lease held by {holder:?} after uninstall"
    );
}
