//! The container image itself, as built from the Dockerfile by `make image` (tests/env/image.sh;
//! `make test` builds it before the tests), run with podman the way a cluster runs it: as the
//! image's own non-root user, with a read-only root filesystem, host networking, and the test
//! environment's kubeconfig mounted read-only. What is checked is the image, not the binary
//! `cargo` built: `crd` prints the CRDs, `run` makes a KafkaTopic Ready in Kafka.

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const IMAGE: &str = "localhost/kafka-topic-operator:dev";
/// The user the Dockerfile's runtime stage runs as ("nonroot" in the base image).
const NONROOT: u32 = 65532;
/// A bound that a slip (a shell, a package manager, a debug build) would cross: the image is
/// about 26 MB, the binary most of it (docs/deployment.md).
const MAX_IMAGE_BYTES: u64 = 60_000_000;

/// podman on the project's container storage, with the settings this machine needs.
const CONTAINERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/env/containers.sh");

fn podman(args: &[&str]) -> Output {
    Command::new(CONTAINERS)
        .arg("podman")
        .args(args)
        .output()
        .expect("running tests/env/containers.sh podman")
}

/// podman, asserting success, returning stdout.
fn podman_ok(args: &[&str]) -> String {
    run(CONTAINERS, &[&["podman"], args].concat())
}

fn require_image() {
    assert!(
        podman(&["image", "exists", IMAGE]).status.success(),
        "the image {IMAGE} is missing: build it with `make image` (make test does it first)"
    );
}

/// A container started by a test, removed when dropped, also when an assertion failed.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman(&["rm", "--force", "--time", "5", &self.0]);
    }
}

/// A copy of the environment's kubeconfig that only the image's user (and root) may read, in a
/// folder removed when dropped.
struct Kubeconfig(std::path::PathBuf);

impl Kubeconfig {
    fn for_image_user() -> Kubeconfig {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(unique("kto-image-kubeconfig"));
        std::fs::create_dir(&dir).unwrap();
        let file = dir.join("kubeconfig");
        std::fs::copy(env_var("KUBECONFIG"), &file).expect("copy the environment's kubeconfig");
        std::os::unix::fs::chown(&file, Some(NONROOT), Some(NONROOT))
            .expect("chown the kubeconfig copy (podman runs as root here)");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o400)).unwrap();
        Kubeconfig(dir)
    }

    fn file(&self) -> String {
        self.0.join("kubeconfig").display().to_string()
    }
}

impl Drop for Kubeconfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_image_is_small_and_runs_as_nonroot_by_default() {
    require_image();
    let size: u64 = podman_ok(&["image", "inspect", "--format", "{{.Size}}", IMAGE])
        .trim()
        .parse()
        .expect("image size");
    eprintln!("image {IMAGE}: {size} bytes");
    assert!(
        size < MAX_IMAGE_BYTES,
        "the image is {size} bytes, over {MAX_IMAGE_BYTES}"
    );
    let config = podman_ok(&[
        "image",
        "inspect",
        "--format",
        "{{.Config.User}} {{json .Config.Entrypoint}}",
        IMAGE,
    ]);
    assert_eq!(
        config.trim(),
        format!("{NONROOT}:{NONROOT} [\"/usr/local/bin/kafka-topic-operator\"]")
    );
}

#[test]
fn crd_prints_the_crds() {
    require_image();
    let out = podman_ok(&[
        "run",
        "--rm",
        "--read-only",
        "--network",
        "none",
        IMAGE,
        "crd",
    ]);
    assert_eq!(out, kafka_topic_operator::api::crds_yaml().unwrap());
}

/// The kernel's view of a container's main process: (uid, whether `/` is mounted read-only).
fn process_facts(container: &str) -> (u32, bool) {
    let pid = podman_ok(&["inspect", "--format", "{{.State.Pid}}", container]);
    let pid = pid.trim();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|u| u.parse().ok())
        .expect("Uid in /proc/PID/status");
    // mountinfo: id parent major:minor root mount-point options ...; of mounts stacked on the same
    // point, the last one listed is the one the process sees.
    let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let root_ro = mounts
        .lines()
        .map(|l| l.split(' ').collect::<Vec<_>>())
        .rfind(|f| f.len() > 5 && f[4] == "/")
        .map(|f| f[5].split(',').any(|o| o == "ro"))
        .expect("the root mount in /proc/PID/mountinfo");
    (uid, root_ro)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_in_the_image_makes_a_topic_ready_as_nonroot_on_a_read_only_root() {
    require_image();
    let env = TestEnv::without_operator("image", ClusterOptions::default()).await;
    let kubeconfig = Kubeconfig::for_image_user();
    let name = unique("kto-image");
    let http_addr = env.http_addr.to_string();
    let mount = format!("{}:/etc/kto/kubeconfig:ro", kubeconfig.file());
    // Run as the image says (its user, entrypoint and leader election), scoped to the test's
    // namespace; no --user flag, so the image's own USER is what is tested.
    let id = podman_ok(&[
        "run",
        "--detach",
        "--name",
        &name,
        "--read-only",
        "--network",
        "host",
        "--volume",
        &mount,
        "--env",
        "KUBECONFIG=/etc/kto/kubeconfig",
        "--env",
        &format!("POD_NAMESPACE={}", env.ns),
        "--env",
        "POD_NAME=image-test",
        IMAGE,
        "run",
        "--log-format=json",
        "--leader-election",
        "--namespace",
        &env.ns,
        "--resync-interval",
        "2s",
        "--http-addr",
        &http_addr,
    ]);
    let container = Container(id.trim().to_string());

    let (uid, root_read_only) = process_facts(&container.0);
    assert_eq!(uid, NONROOT, "the operator's process runs as uid {uid}");
    assert!(root_read_only, "the container's / is not mounted read-only");
    assert_eq!(
        podman_ok(&[
            "inspect",
            "--format",
            "{{.HostConfig.ReadonlyRootfs}}",
            &container.0
        ])
        .trim(),
        "true"
    );

    let topic = unique("from-image");
    env.apply_topic(
        "from-image",
        json!({
            "topicName": topic,
            "partitions": 3,
            "replicationFactor": 3,
            "minInSyncReplicas": 2,
            "config": {"retention.ms": 3600000}
        }),
    )
    .await;
    let wait = env.wait_topic("from-image", "Ready=True", |t| {
        condition(t, "Ready").is_some_and(|c| c.0 == "True")
    });
    let logs = || String::from_utf8_lossy(&podman(&["logs", &container.0]).stderr).into_owned();
    if tokio::time::timeout(WAIT, wait).await.is_err() {
        panic!(
            "the topic did not become Ready; the operator's log:\n{}",
            logs()
        );
    }

    // kubectl and Kafka's own CLI, not our client, say it is done.
    let ready = kubectl(&[
        "get",
        "kafkatopic",
        "from-image",
        "-n",
        &env.ns,
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
    ]);
    assert_eq!(ready, "True");
    let described = kafka_cli::describe(&topic).expect("kafka-topics --describe finds the topic");
    assert_eq!(described.partition_count, 3);
    assert_eq!(described.replication_factor, 3);
    let overrides = kafka_cli::overrides(&topic);
    assert_eq!(
        overrides.get("min.insync.replicas").map(String::as_str),
        Some("2")
    );
    assert_eq!(
        overrides.get("retention.ms").map(String::as_str),
        Some("3600000")
    );

    // The leader election the image's default command turns on, and the probes' endpoints.
    let holder = kubectl(&[
        "get",
        "lease",
        "kafka-topic-operator",
        "-n",
        &env.ns,
        "-o",
        "jsonpath={.spec.holderIdentity}",
    ]);
    assert_eq!(holder, "image-test");
    assert_eq!(env.http_get("/healthz").0, 200);
    assert_eq!(env.http_get("/readyz").0, 200);

    // Stopped as a kubelet stops it: SIGTERM to the process, which is PID 1 in the container.
    let started = Instant::now();
    podman_ok(&["stop", "--time", "20", &container.0]);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "SIGTERM was not enough"
    );
    let exit = podman_ok(&["inspect", "--format", "{{.State.ExitCode}}", &container.0]);
    assert_eq!(exit.trim(), "0", "exit code; the log:\n{}", logs());

    let log = logs();
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines.len() >= 3, "too few log lines: {log}");
    for line in &lines {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("kafka write: create topic") && l.contains(&topic)),
        "{log}"
    );
}
