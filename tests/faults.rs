//! Faults converge. Each test breaks one part while the operator works, lets it come back, and
//! checks with Kafka's own CLI and kubectl that everything ends as declared:
//!
//! * the operator SIGKILLed in the middle of creating 200 topics is restarted; every topic ends
//!   Ready, exists once in Kafka, and none is created twice (the creator re-reads before it
//!   creates, so a topic the killed process created is adopted);
//! * the control plane (kube-apiserver and etcd) killed and restarted in the middle of 200
//!   creations: the same end, without a single CreateTopics sent twice;
//! * the active KRaft controller SIGKILLed during 200 creations, and during a throttled replica
//!   move with acks=all traffic (the witness: writes keep succeeding, no acknowledged record lost;
//!   the move completes and its throttles go);
//! * the operator's KafkaTopic watch expiring (410 Gone) while it is cut off from the apiserver:
//!   it re-lists, and a creation, a deletion and a config change made meanwhile all take effect.
//!
//! These faults stop parts every test shares (the apiserver, a Kafka node), so the tests of this
//! binary run one at a time ([`ONE_AT_A_TIME`]).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::proxy::StallingProxy;
use common::witness::{DeleteTopicOnDrop, MoveWatch, RATE, Witness};
use common::*;
use futures::StreamExt;
use kafka_topic_operator::api::KafkaTopic;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams, WatchEvent, WatchParams};
use serde_json::json;

const COUNT: usize = 200;

/// Held for the whole of each test: the faults of one would break the others' scenarios.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn operator(ns: &str, log: &str) -> OperatorProcess {
    OperatorProcess::start(
        &[
            "run",
            "--namespace",
            ns,
            "--resync-interval",
            "2s",
            "--http-addr",
            "off",
        ],
        &[],
        &std::env::temp_dir().join(format!("{ns}-{log}.log")),
    )
}

/// The operator binary with its log in JSON lines at `log` (read by [`create_sends`] and
/// [`log_lines`]), reaching the apiserver through `kubeconfig` if given.
fn json_operator(ns: &str, log: &Path, kubeconfig: Option<&Path>) -> OperatorProcess {
    let env: Vec<(&str, &str)> = kubeconfig
        .map(|k| vec![("KUBECONFIG", k.to_str().unwrap())])
        .unwrap_or_default();
    OperatorProcess::start(
        &[
            "run",
            "--namespace",
            ns,
            "--resync-interval",
            "2s",
            "--http-addr",
            "off",
            "--log-format",
            "json",
        ],
        &env,
        log,
    )
}

fn log_path(ns: &str, name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{ns}-{name}.log"))
}

/// The operator's log lines (JSON), parsed.
fn log_lines(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// How many CreateTopics requests named each topic, per the operator's `kafka write: create
/// topics` log lines (one per request, listing its topics).
fn create_sends(log: &Path) -> BTreeMap<String, usize> {
    let mut sends = BTreeMap::new();
    for line in log_lines(log) {
        if line["message"] != "kafka write: create topics" {
            continue;
        }
        let topics = line["topics"].as_str().unwrap_or_default();
        for name in topics
            .trim_matches(|c| c == '[' || c == ']')
            .split(", ")
            .map(|t| t.trim_matches('"'))
            .filter(|t| !t.is_empty())
        {
            *sends.entry(name.to_string()).or_insert(0) += 1;
        }
    }
    sends
}

/// Lines of the operator's log saying a watch expired and was re-listed (src/controller/mod.rs).
fn watch_expiries(log: &Path, controller: &str) -> usize {
    log_lines(log)
        .iter()
        .filter(|l| {
            l["controller"] == controller
                && l["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("watch expired (410 Gone"))
        })
        .count()
}

/// `count` KafkaTopics t0.. naming `{prefix}-0..`, one partition each, the cluster's defaults
/// otherwise (replication factor 3).
fn topics_yaml(prefix: &str, count: usize) -> String {
    let mut yaml = String::new();
    for i in 0..count {
        yaml.push_str(&format!(
            "---\napiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaTopic\nmetadata:\n  name: t{i}\nspec:\n  clusterRef:\n    name: kafka\n  topicName: {prefix}-{i}\n  partitions: 1\n"
        ));
    }
    yaml
}

fn is_ready(t: &KafkaTopic) -> bool {
    condition(t, "Ready").is_some_and(|c| c.0 == "True")
}

/// KafkaTopics Ready now; None while the apiserver does not answer.
async fn ready_count(env: &TestEnv) -> Option<usize> {
    let list = env.topics().list(&ListParams::default()).await.ok()?;
    Some(list.items.iter().filter(|t| is_ready(t)).count())
}

/// Waits until some KafkaTopics are Ready and others not: the operator is in the middle of the
/// creations (CreateTopics sent for some, status writes under way). Returns how many are Ready.
async fn wait_mid_creation(env: &TestEnv, count: usize) -> usize {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(n) = ready_count(env).await
            && n > 0
        {
            assert!(
                n < count,
                "all {count} KafkaTopics were Ready before the fault: it missed the creations"
            );
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "no KafkaTopic became Ready: the operator created nothing"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the operator's log shows a CreateTopics request going out; returns how many
/// topics it has sent so far.
async fn wait_first_create(log: &Path) -> usize {
    let deadline = Instant::now() + WAIT;
    loop {
        let sent = create_sends(log).len();
        if sent > 0 {
            return sent;
        }
        assert!(
            Instant::now() < deadline,
            "the operator sent no CreateTopics request"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until all `count` KafkaTopics are Ready (the apiserver may still be coming back).
async fn wait_all_ready(env: &TestEnv, count: usize, after: &str) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let ready = ready_count(env).await;
        if ready == Some(count) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{ready:?} of {count} KafkaTopics Ready 300 s after {after}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Every `{prefix}-i` exists in Kafka, once (Kafka's CLI), and each KafkaTopic's status names the
/// topic id Kafka has: the topic the operator reports is the one that exists, not an earlier one
/// replaced by a second creation.
async fn assert_created_once_in_kafka(env: &TestEnv, prefix: &str, count: usize) {
    let ids = kafka_cli::topic_ids(&format!("{prefix}-.*"));
    let expected: BTreeSet<String> = (0..count).map(|i| format!("{prefix}-{i}")).collect();
    assert_eq!(
        ids.keys().cloned().collect::<BTreeSet<_>>(),
        expected,
        "every topic exists in Kafka, and no other"
    );
    let list = env.topics().list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), count);
    for t in &list.items {
        let name = t.kafka_topic_name();
        assert_eq!(
            t.status.as_ref().and_then(|s| s.topic_id.as_deref()),
            Some(ids[&name].as_str()),
            "KafkaTopic {}: its status names another topic id than Kafka's {name}",
            t.name_any()
        );
    }
    // At most one TopicCreated event per KafkaTopic, none repeated.
    env.created_once();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_killed_while_creating_200_topics_converges_without_creating_twice() {
    let _one = ONE_AT_A_TIME.lock().await;
    let env = TestEnv::without_operator("kill-create", ClusterOptions::default()).await;
    let prefix = unique("killed");
    kubectl_apply(&env.ns, &topics_yaml(&prefix, COUNT)).expect("kubectl apply");
    let mut first = operator(&env.ns, "first");
    // Kill it once some, not all, topics exist.
    let deadline = Instant::now() + WAIT;
    let created_before_kill = loop {
        let n = kafka_cli::list()
            .iter()
            .filter(|t| t.starts_with(&prefix))
            .count();
        if n > 0 {
            break n;
        }
        assert!(
            Instant::now() < deadline,
            "the first operator created nothing"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    eprintln!(
        "faults: operator SIGKILLed once {created_before_kill} of {COUNT} topics were in Kafka (statuses not yet written)"
    );

    let _second = operator(&env.ns, "second");
    let topics = env.topics();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let list = topics.list(&ListParams::default()).await.unwrap();
        let ready = list
            .items
            .iter()
            .filter(|t| condition(t, "Ready").is_some_and(|c| c.0 == "True"))
            .count();
        if ready == COUNT {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{ready} of {COUNT} Ready after the restart"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let listed: BTreeSet<String> = kafka_cli::list()
        .into_iter()
        .filter(|t| t.starts_with(&prefix))
        .collect();
    assert_eq!(listed.len(), COUNT, "every topic exists in Kafka");
    // None created twice: at most one TopicCreated per KafkaTopic, and no CreateTopics answered
    // TopicAlreadyExists (the restarted operator read before it created).
    env.created_once();
    let second_log =
        std::fs::read_to_string(std::env::temp_dir().join(format!("{}-second.log", env.ns)))
            .unwrap();
    assert!(
        !second_log.contains("TopicAlreadyExists"),
        "the restarted operator sent a creation for a topic that existed"
    );
    kafka_cli::delete_matching(&format!("{prefix}-.*"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_plane_restarted_while_creating_200_topics_converges_without_creating_twice() {
    let _one = ONE_AT_A_TIME.lock().await;
    let prefix = unique("cp-restart");
    let _cleanup = DeleteTopicOnDrop(format!("{prefix}-.*"));
    let env = TestEnv::without_operator("cp-restart", ClusterOptions::default()).await;
    kubectl_apply(&env.ns, &topics_yaml(&prefix, COUNT)).expect("kubectl apply");
    let log = log_path(&env.ns, "operator");
    let _operator = json_operator(&env.ns, &log, None);

    // Kill etcd and the apiserver together once some KafkaTopics are Ready and others are not:
    // CreateTopics sent for some, status writes and events under way.
    let ready_at_kill = wait_mid_creation(&env, COUNT).await;
    let down = ControlPlaneDown::kill();
    let in_kafka = kafka_cli::list()
        .iter()
        .filter(|t| t.starts_with(&prefix))
        .count();
    eprintln!(
        "faults: control plane SIGKILLed with {ready_at_kill} of {COUNT} KafkaTopics Ready; {in_kafka} topics in Kafka while it was down"
    );
    assert!(
        kubectl_failing_quietly(&["get", "kafkatopics.kafka.topic-operator.dev", "-n", &env.ns]),
        "the apiserver still answers after being killed"
    );
    drop(down); // etcd and kube-apiserver again, same flags and data; returns once ready

    wait_all_ready(&env, COUNT, "the control plane came back").await;
    assert_created_once_in_kafka(&env, &prefix, COUNT).await;
    // Kafka never went away: the operator sent no topic twice (it re-reads Kafka before it
    // creates, whatever the apiserver still shows), and none was answered TopicAlreadyExists.
    let sends = create_sends(&log);
    let twice: Vec<_> = sends.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "topics sent to CreateTopics more than once: {twice:?}"
    );
    assert_eq!(sends.len(), COUNT, "each topic sent to CreateTopics once");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        !text.contains("TopicAlreadyExists"),
        "the operator sent a creation for a topic that existed"
    );
    eprintln!(
        "faults: after the control-plane restart the KafkaTopic watch re-listed {} time(s) (410 Gone)",
        watch_expiries(&log, "topic")
    );
}

/// kubectl ARGS fails (the apiserver is down); its output is not shown.
fn kubectl_failing_quietly(args: &[&str]) -> bool {
    !std::process::Command::new(env_var("KTO_KUBECTL"))
        .args(args)
        .args(["--request-timeout", "5s"])
        .output()
        .expect("kubectl")
        .status
        .success()
}

/// The active KRaft controller's node id and epoch, waiting while the quorum elects one.
async fn wait_quorum_leader(what: &str, ok: impl Fn(i32, i64) -> bool) -> (i32, i64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let leader = tokio::task::spawn_blocking(kafka_cli::quorum_leader)
            .await
            .unwrap();
        if let Some((id, epoch)) = leader
            && ok(id, epoch)
        {
            return (id, epoch);
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what} (last LeaderId, LeaderEpoch {leader:?})"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The active KRaft controller, looked up ahead of the fault (the lookup starts a JVM: seconds).
async fn active_controller() -> (i32, i64) {
    wait_quorum_leader("a KRaft quorum leader", |_, _| true).await
}

/// Kills the active KRaft controller `(id, epoch)` (a combined broker+controller node) and waits
/// until the quorum has elected another one: a later epoch led by another node. Returns the
/// node killed, restarted when dropped, and the new controller's id.
async fn kill_controller((victim, epoch): (i32, i64)) -> (BrokerDown, i32) {
    let down = BrokerDown::kill(&victim.to_string());
    let (successor, _) =
        wait_quorum_leader("a new KRaft controller", |id, e| id != victim && e > epoch).await;
    (down, successor)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_active_controller_killed_while_creating_200_topics_converges_without_creating_twice() {
    let _one = ONE_AT_A_TIME.lock().await;
    let prefix = unique("ctl-create");
    let _cleanup = DeleteTopicOnDrop(format!("{prefix}-.*"));
    let env = TestEnv::without_operator("ctl-create", ClusterOptions::default()).await;
    let controller = active_controller().await;
    kubectl_apply(&env.ns, &topics_yaml(&prefix, COUNT)).expect("kubectl apply");
    let log = log_path(&env.ns, "operator");
    let _operator = json_operator(&env.ns, &log, None);

    // Kill the controller as the first CreateTopics request goes out: Kafka's controller is the
    // one that creates topics, so it dies with creations in flight.
    let sent_at_kill = wait_first_create(&log).await;
    let ready_at_kill = ready_count(&env).await.unwrap_or(0);
    // The quorum elects another controller: the fault is the controller's death, not only a
    // broker's.
    let (down, successor) = kill_controller(controller).await;
    let victim = controller.0;
    assert!(
        ready_at_kill < COUNT,
        "all {COUNT} KafkaTopics were Ready before the fault: it missed the creations"
    );
    eprintln!(
        "faults: active controller {victim} SIGKILLed once {sent_at_kill} of {COUNT} topics were sent to CreateTopics ({ready_at_kill} KafkaTopics Ready); node {successor} took over"
    );
    drop(down); // node back: the topics declared with replication factor 3 need all three

    wait_all_ready(&env, COUNT, "the controller was killed").await;
    assert_created_once_in_kafka(&env, &prefix, COUNT).await;
    // A creation whose answer was lost with the controller is re-read, never blindly resent: a
    // topic is sent again only when Kafka's metadata did not show it. Either way Kafka holds one
    // topic per name, the one whose id the status names (checked above).
    let sends = create_sends(&log);
    let again = sends.values().filter(|n| **n > 1).count();
    let already = std::fs::read_to_string(&log)
        .unwrap()
        .matches("TopicAlreadyExists")
        .count();
    eprintln!(
        "faults: {again} of {COUNT} topics sent to CreateTopics again after the controller's death (their first request's answer was lost and a re-read did not find them); TopicAlreadyExists answers: {already}"
    );
    assert_eq!(sends.len(), COUNT, "each topic sent to CreateTopics");
    wait_all_brokers(&env).await;
}

/// Waits until the three Kafka nodes answer as brokers again (the next test needs them all).
async fn wait_all_brokers(env: &TestEnv) {
    env.wait_for("the three Kafka brokers back", || {
        kafka_cli::racks().len() == 3
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_active_controller_killed_during_a_replica_move_loses_nothing() {
    let _one = ONE_AT_A_TIME.lock().await;
    let name = unique("ctl-move");
    let _cleanup = DeleteTopicOnDrop(name.clone());
    let env = TestEnv::start_with(
        "ctl-move",
        ClusterOptions {
            reassignment: json!({"throttleBytesPerSecond": MOVE_THROTTLE}),
            ..Default::default()
        },
    )
    .await;
    // Replication factor 2 -> 3 with minInSyncReplicas 1: the controller is also a broker, and
    // every partition keeps an in-sync replica on a live one when it dies.
    let spec = |rf: i32| json!({"topicName": name, "partitions": 2, "replicationFactor": rf, "minInSyncReplicas": 1});
    env.apply_topic("moved", spec(2)).await;
    env.wait_ready("moved").await;
    // 40 MB: each partition's 20 MB copied to its new replica at 1 MB/s, so the move outlasts
    // the controller's death, the election of the next one and the node's return by far.
    kafka_cli::produce_bulk(&name, 40_000, 1000);
    let before = kafka_cli::overrides(&name);
    // Records to partitions led by the killed node wait for their leaders to fail over (the
    // new controller fences the node after its 9 s session timeout).
    let witness = Witness::start_with_stall_limit(
        "controller-killed-mid-move",
        &name,
        Duration::from_secs(60),
    );
    witness
        .wait_acked_more(4 * RATE, Duration::from_secs(60), "before the move")
        .await;

    let controller = active_controller().await;
    env.apply_topic("moved", spec(3)).await;
    let mut watch: MoveWatch<()> = MoveWatch::new(&name);
    let deadline = Instant::now() + WAIT;
    while watch.look(witness.acked()) == 0 {
        assert!(
            Instant::now() < deadline,
            "{name}: Kafka never moved the replicas"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let (down, successor) = kill_controller(controller).await;
    let victim = controller.0;
    // With the controller gone, acks=all writes still succeed...
    witness
        .wait_acked_more(
            4 * RATE,
            Duration::from_secs(90),
            &format!("while the controller (node {victim}) is down"),
        )
        .await;
    // ... and Kafka still moves the replicas, under the new controller: the controller died in
    // the middle of the move.
    assert!(
        watch.look(witness.acked()) > 0,
        "{name}: the move was over before the controller died; the scenario proves nothing"
    );
    eprintln!("faults: active controller {victim} SIGKILLed mid-move; node {successor} took over");
    drop(down); // restart the node

    let deadline = Instant::now() + Duration::from_secs(360);
    loop {
        let moving = watch.look(witness.acked());
        let t = env.get_topic("moved").await;
        if moving == 0
            && is_ready(&t)
            && t.status.as_ref().and_then(|s| s.replication_factor) == Some(3)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: the move did not complete after the controller was killed; status: {}",
            serde_json::to_string(&t.status).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    watch.assert_overlapped(0);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let cli = kafka_cli::describe(&name).unwrap();
        if cli
            .partitions
            .iter()
            .all(|p| p.replicas.len() == 3 && p.isr.len() == 3)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: not every partition has 3 in-sync replicas: {cli:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The throttles go: the topic's throttled-replica lists with the move, the brokers' rates
    // once nothing moves anywhere (the cluster's next resync).
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let topic = kafka_cli::overrides(&name);
        let throttled_brokers: Vec<i32> = (1..=3)
            .filter(|b| {
                kafka_cli::broker_overrides(*b)
                    .keys()
                    .any(|k| k.ends_with(".replication.throttled.rate"))
            })
            .collect();
        if !topic
            .keys()
            .any(|k| k.ends_with(".replication.throttled.replicas"))
            && throttled_brokers.is_empty()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: throttles left after the move: topic {topic:?}, brokers {throttled_brokers:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    witness
        .wait_acked_more(4 * RATE, Duration::from_secs(60), "after the move")
        .await;
    witness::assert_undeclared_unchanged(&name, &before, &["min.insync.replicas"]);
    witness.finish(Some(watch.acked_during())).await;
}

/// The apiserver's watch cache keeps every event of at least this long, however many
/// (kube-apiserver's DefaultEventsHistoryWindow, 75 s): only older events can be pushed out of it.
const WATCH_HISTORY: Duration = Duration::from_secs(75);

/// A namespace of KafkaTopics that no operator watches, patched over and over to push old events
/// out of the apiserver's KafkaTopic watch cache. Deleted (objects first: no namespace controller
/// runs here) when dropped.
struct Churn {
    api: Api<KafkaTopic>,
    ns: String,
    objects: usize,
    patches: usize,
}

impl Churn {
    async fn start(client: &kube::Client, objects: usize) -> Churn {
        let ns = unique("kto-churn");
        kubectl(&["create", "namespace", &ns]);
        let mut yaml = String::new();
        for i in 0..objects {
            yaml.push_str(&format!(
                "---\napiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaTopic\nmetadata:\n  name: c{i}\nspec:\n  clusterRef:\n    name: nowhere\n"
            ));
        }
        kubectl_apply(&ns, &yaml).expect("kubectl apply");
        Churn {
            api: Api::namespaced(client.clone(), &ns),
            ns,
            objects,
            patches: 0,
        }
    }

    /// `n` more KafkaTopic changes (annotation patches, 8 at a time).
    async fn patch(&mut self, n: usize) {
        let from = self.patches;
        futures::stream::iter(from..from + n)
            .map(|i| {
                let api = self.api.clone();
                let name = format!("c{}", i % self.objects);
                async move {
                    let patch = json!({"metadata": {"annotations": {"kto-churn": i.to_string()}}});
                    api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                }
            })
            .buffer_unordered(8)
            .for_each(|r| async move {
                r.expect("churn patch");
            })
            .await;
        self.patches += n;
    }
}

impl Drop for Churn {
    fn drop(&mut self) {
        let kubectl = env_var("KTO_KUBECTL");
        for args in [
            vec![
                "delete",
                "kafkatopics.kafka.topic-operator.dev",
                "--all",
                "-n",
                &self.ns,
                "--wait=false",
            ],
            vec!["delete", "namespace", &self.ns, "--wait=false"],
        ] {
            let _ = std::process::Command::new(&kubectl).args(args).output();
        }
    }
}

/// Whether a watch of `api` from `rv` is refused with 410 Gone now: the apiserver no longer
/// holds the events after `rv`, so a watcher that saw nothing later must re-list.
async fn watch_expired(api: &Api<KafkaTopic>, rv: &str) -> bool {
    let Ok(stream) = api.watch(&WatchParams::default().timeout(1), rv).await else {
        return false;
    };
    let events: Vec<_> = tokio::time::timeout(Duration::from_secs(10), stream.collect::<Vec<_>>())
        .await
        .unwrap_or_default();
    events
        .iter()
        .any(|e| matches!(e, Ok(WatchEvent::Error(s)) if s.code == 410))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_watch_relists_and_misses_no_change() {
    let _one = ONE_AT_A_TIME.lock().await;
    let prefix = unique("expired");
    let _cleanup = DeleteTopicOnDrop(format!("{prefix}-.*"));
    let env = TestEnv::without_operator("expired", ClusterOptions::default()).await;
    let (proxy, kubeconfig) =
        StallingProxy::to_apiserver(log_path(&env.ns, "proxied").with_extension("kubeconfig"))
            .await;
    let log = log_path(&env.ns, "operator");
    let _operator = json_operator(&env.ns, &log, Some(kubeconfig.as_path()));
    let (changed, deleted, created) = (
        format!("{prefix}-changed"),
        format!("{prefix}-deleted"),
        format!("{prefix}-created"),
    );
    let config = |retention: i64| json!({"topicName": changed, "partitions": 1, "config": {"retention.ms": retention}});
    env.apply_topic("changed", config(86_400_000)).await;
    env.apply_topic(
        "deleted",
        json!({"topicName": deleted, "partitions": 1, "deletionPolicy": "Delete"}),
    )
    .await;
    env.wait_ready("changed").await;
    env.wait_topic("deleted", "Ready=True with the delete finalizer", |t| {
        is_ready(t) && !t.finalizers().is_empty()
    })
    .await;

    // Cut the operator off: every connection to the apiserver stalls, its watch included, and
    // from here it sees nothing newer than `cut`.
    proxy.stall();
    let all: Api<KafkaTopic> = Api::all(env.client.clone());
    let cut = all
        .list_metadata(&ListParams::default().limit(1))
        .await
        .unwrap()
        .metadata
        .resource_version
        .expect("a list's resourceVersion");
    // Meanwhile: one KafkaTopic created, one deleted (its topic must go: deletionPolicy Delete),
    // one changed.
    env.apply_topic("created", json!({"topicName": created, "partitions": 1}))
        .await;
    env.delete_topic_resource("deleted").await;
    env.apply_topic("changed", config(3_600_000)).await;
    let changes_done = tokio::time::Instant::now();

    // Make the operator's resource version too old. The apiserver answers watches from its
    // watch cache, not from etcd (compacting etcd changes nothing there), and the cache keeps at
    // least WATCH_HISTORY of events: once the cut and the changes are older than that, other
    // KafkaTopic changes push them out. Churn until a watch from `cut` is refused with 410 Gone,
    // the answer the operator's watch will get.
    tokio::time::sleep_until(changes_done + WATCH_HISTORY + Duration::from_secs(5)).await;
    let mut churn = Churn::start(&env.client, 20).await;
    let deadline = Instant::now() + Duration::from_secs(240);
    while !watch_expired(&env.topics(), &cut).await {
        assert!(
            Instant::now() < deadline,
            "a watch from resourceVersion {cut} is still served after {} KafkaTopic changes",
            churn.patches
        );
        churn.patch(200).await;
    }
    // The operator saw none of the three changes while cut off.
    assert!(
        !kafka_cli::exists(&created),
        "{created} created while cut off"
    );
    assert!(
        kafka_cli::exists(&deleted),
        "{deleted} deleted while cut off"
    );
    assert_eq!(
        kafka_cli::overrides(&changed)
            .get("retention.ms")
            .map(String::as_str),
        Some("86400000"),
        "{changed} changed while cut off"
    );
    eprintln!(
        "faults: a watch from resourceVersion {cut} gets 410 Gone after {} churned KafkaTopic changes; reconnecting the operator",
        churn.patches
    );

    // Reconnect: the stalled connections are closed and new ones flow. The watch resumes from
    // `cut`, gets 410 Gone, and must re-list.
    proxy.sever();
    env.wait_for(
        "the operator's log to say its KafkaTopic watch expired",
        || watch_expiries(&log, "topic") > 0,
    )
    .await;
    env.wait_ready("created").await;
    env.wait_for(&format!("{created} in Kafka"), || {
        kafka_cli::exists(&created)
    })
    .await;
    env.wait_topic_gone("deleted").await;
    env.wait_for(&format!("{deleted} deleted from Kafka"), || {
        !kafka_cli::exists(&deleted)
    })
    .await;
    env.wait_for(&format!("retention.ms=3600000 on {changed}"), || {
        kafka_cli::overrides(&changed)
            .get("retention.ms")
            .map(String::as_str)
            == Some("3600000")
    })
    .await;
    env.wait_ready("changed").await;
    // The cluster counts what is declared now: the deleted KafkaTopic is gone from the index too.
    env.wait_cluster("2 managed topics", |c| {
        c.status.as_ref().and_then(|s| s.managed_topics) == Some(2)
    })
    .await;
}
