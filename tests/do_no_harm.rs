//! Do no harm (issue 8): through every change the operator makes, an idempotent `acks=all`
//! producer keeps writing (zero failed sends), every acknowledged record is read back, and every
//! config the spec does not name is left as it was. The witness (tests/common/witness.rs) runs
//! from before the operator acts until after it is done; moves last many seconds (data under
//! the shared replication throttle), and "during the move" samples are confirmed by Kafka
//! listing the move before and after them.
//!
//! The tests run in parallel on the one Kafka cluster: each uses its own topic, and every
//! cluster uses the same throttle ([`MOVE_THROTTLE`]), since broker throttle rates are shared.
//! The broker-kill scenario is in do_no_harm_broker_kill.rs (a binary of its own).

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::http::{http_get, metric_sum};
use common::kafka_cli;
use common::witness::{MetaPartition, MetadataHistory, MoveWatch, RATE, TopicConfigs, Witness};
use common::*;
use kafka_topic_operator::api::KafkaTopic;
use serde_json::json;

/// Deadline of a replica move under the throttle (other tests' moves share it).
const MOVE_DEADLINE: Duration = Duration::from_secs(360);
/// Deadline of an operator action that moves no data, as Kafka's CLI sees it (generous: on a
/// loaded 2-core machine one CLI call can take seconds).
const ACTION_DEADLINE: Duration = Duration::from_secs(180);

fn throttled() -> ClusterOptions {
    ClusterOptions {
        reassignment: json!({"throttleBytesPerSecond": MOVE_THROTTLE}),
        ..Default::default()
    }
}

fn ready(t: &KafkaTopic) -> bool {
    condition(t, "Ready").is_some_and(|c| c.0 == "True")
}

fn observed_rf(t: &KafkaTopic) -> Option<i32> {
    t.status.as_ref().and_then(|s| s.replication_factor)
}

fn min_isr_override(name: &str) -> Option<String> {
    kafka_cli::overrides(name)
        .get("min.insync.replicas")
        .cloned()
}

/// Polls `ok` every 300ms until it holds; panics saying `what` after `timeout`.
async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut ok: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !ok().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The KafkaTopic as the API server stores it, as JSON (status fields this build's types may
/// not know yet included).
fn topic_json(ns: &str, name: &str) -> serde_json::Value {
    serde_json::from_str(&kubectl(&[
        "get",
        "kafkatopic",
        name,
        "-n",
        ns,
        "-o",
        "json",
    ]))
    .expect("KafkaTopic JSON")
}

/// Every partition has `rf` replicas, all in sync, per Kafka's CLI.
fn assert_fully_replicated(name: &str, partitions: i32, rf: usize) {
    let cli = kafka_cli::describe(name).expect("topic exists");
    assert_eq!(cli.partition_count, partitions, "{cli:?}");
    for p in &cli.partitions {
        assert_eq!(p.replicas.len(), rf, "{p:?}");
        assert_eq!(p.isr.len(), rf, "ISR of {p:?}");
    }
}

/// Kafka's metadata log: no min.insync.replicas value was ever set above a partition's ISR.
fn assert_min_isr_never_above_isr(name: &str) -> MetadataHistory {
    let history = MetadataHistory::load(name);
    let violations = history.min_isr_above_isr();
    assert!(
        violations.is_empty(),
        "{name}: the operator made partitions refuse acks=all writes (Kafka's metadata log): {violations:?}"
    );
    history
}

/// One sample taken while replicas move.
#[derive(Debug)]
struct MoveSample {
    min_isr: Option<String>,
    partitions: Vec<MetaPartition>,
    ready: Option<(String, String, String)>,
    degraded: Option<(String, String, String)>,
}

/// What went wrong in samples taken during a replication-factor increase with `min_isr`
/// declared: min.insync.replicas must not reach the declared value while Kafka still lists the
/// move (so before every partition has all its replicas in sync), must never exceed a
/// partition's ISR, and a healthy move is not Degraded.
fn move_violations(name: &str, min_isr: &str, during: &[MoveSample]) -> Vec<String> {
    let mut found = vec![];
    for s in during {
        if s.min_isr.as_deref() == Some(min_isr) {
            found.push(format!(
                "{name}: min.insync.replicas was raised to {min_isr} while replicas were still being added (the ISR cannot meet it yet): {s:?}"
            ));
        }
        // min.insync.replicas was read before the ISR, which only grows during the move.
        let floor: usize = s.min_isr.as_deref().map_or(1, |v| v.parse().unwrap_or(1));
        if s.partitions.iter().any(|p| p.isr.len() < floor) {
            found.push(format!(
                "{name}: min.insync.replicas above a partition's ISR during the move: {s:?}"
            ));
        }
        if s.degraded.as_ref().is_some_and(|d| d.0 == "True") {
            found.push(format!(
                "{name}: a healthy move is reported Degraded: {s:?}"
            ));
        }
    }
    found
}

/// Follows a replication-factor increase to `rf`, sampling min.insync.replicas, the ISR and the
/// status while Kafka moves the replicas (checked by [`move_violations`]). Returns when the move
/// is over and the KafkaTopic is Ready with `rf`.
async fn follow_rf_increase(
    env: &TestEnv,
    kt: &str,
    name: &str,
    witness: &Witness,
    rf: i32,
) -> MoveWatch<MoveSample> {
    let mut watch: MoveWatch<MoveSample> = MoveWatch::new(name);
    let configs = TopicConfigs::new();
    let deadline = Instant::now() + MOVE_DEADLINE;
    loop {
        let moving = watch.look(witness.acked());
        let t = env.get_topic(kt).await;
        // Ready with the new replication factor and nothing listed: done (if the move was
        // never seen, the caller's assert_overlapped says so).
        if moving == 0 && ready(&t) && observed_rf(&t) == Some(rf) {
            return watch;
        }
        if watch.look_saw_move() {
            watch.sample(MoveSample {
                min_isr: configs.get(name, "min.insync.replicas").await,
                partitions: witness.partitions(),
                ready: condition(&t, "Ready"),
                degraded: condition(&t, "Degraded"),
            });
        }
        assert!(
            Instant::now() < deadline,
            "{name}: the move to replication factor {rf} did not finish within {MOVE_DEADLINE:?} (seen moving: {:?}); status: {}",
            watch.first_seen.map(|f| f.0.elapsed()),
            serde_json::to_string(&t.status).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// 1. Creation: the producer starts before the topic exists and waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creation_loses_nothing() {
    let name = unique("dnh-create");
    let _cleanup = witness::DeleteTopicOnDrop(name.clone());
    let env = TestEnv::start_with("dnh-create", throttled()).await;
    env.apply_topic(
        "created",
        json!({"topicName": name, "partitions": 3, "replicationFactor": 3, "minInSyncReplicas": 2,
               "config": {"retention.ms": 604800000}}),
    )
    .await;
    // The first records wait for the operator to create the topic.
    let witness = Witness::start_with_stall_limit("creation", &name, Duration::from_secs(60));
    env.wait_ready("created").await;
    witness
        .wait_acked_more(
            4 * RATE,
            Duration::from_secs(150),
            "after the topic was created",
        )
        .await;
    assert_fully_replicated(&name, 3, 3);
    // Nothing existed before: every override is a declared one.
    witness::assert_undeclared_unchanged(
        &name,
        &BTreeMap::new(),
        &["min.insync.replicas", "retention.ms"],
    );
    assert_min_isr_never_above_isr(&name);
    witness.finish(None).await;
}

// 2. Partition growth 3 -> 6: writes go on, and reach the new partitions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_growth_loses_nothing() {
    let name = unique("dnh-grow");
    let _cleanup = witness::DeleteTopicOnDrop(name.clone());
    let env = TestEnv::start_with("dnh-grow", throttled()).await;
    let spec = |partitions: i32| json!({"topicName": name, "partitions": partitions, "replicationFactor": 3, "minInSyncReplicas": 2});
    env.apply_topic("grown", spec(3)).await;
    env.wait_ready("grown").await;
    let witness = Witness::start("partitions-3-to-6", &name);
    witness
        .wait_acked_more(4 * RATE, Duration::from_secs(60), "before the growth")
        .await;
    let before = kafka_cli::overrides(&name);

    env.apply_topic("grown", spec(6)).await;
    env.wait_topic("grown", "6 partitions and Ready", |t| {
        ready(t) && t.status.as_ref().and_then(|s| s.partitions) == Some(6)
    })
    .await;
    wait_until(
        ACTION_DEADLINE,
        "acknowledged records on the new partitions 3..5",
        || async { witness.acked_partitions().iter().any(|p| *p >= 3) },
    )
    .await;
    assert_fully_replicated(&name, 6, 3);
    witness::assert_undeclared_unchanged(&name, &before, &["min.insync.replicas"]);
    witness.finish(None).await;
}

// 3. The incident's fix: replication factor 1 -> 3 and minInSyncReplicas 2 on a topic holding
//    data, under a low throttle, while acks=all writes flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_incident_fix_keeps_acks_all_writes_flowing() {
    let name = unique("signups");
    let _cleanup = witness::DeleteTopicOnDrop(name.clone());
    let env = TestEnv::start_with("dnh-incident", throttled()).await;
    // As auto-creation left it: replication factor 1, here on two partitions.
    kafka_cli::create(&name, &["--replica-assignment", "1,2"]);
    // 30 MB: each partition's data is copied to two new replicas under the throttle, so the
    // move lasts tens of seconds.
    kafka_cli::produce_bulk(&name, 30_000, 1000);
    let before = kafka_cli::overrides(&name);
    let witness = Witness::start("incident-rf1-to-3", &name);
    witness
        .wait_acked_more(4 * RATE, Duration::from_secs(60), "before the KafkaTopic")
        .await;

    env.apply_topic(
        "signups",
        json!({"topicName": name, "partitions": 2, "replicationFactor": 3, "minInSyncReplicas": 2}),
    )
    .await;
    let watch = follow_rf_increase(&env, "signups", &name, &witness, 3).await;
    wait_until(
        ACTION_DEADLINE,
        "min.insync.replicas=2 in Kafka",
        || async { min_isr_override(&name).as_deref() == Some("2") },
    )
    .await;
    witness
        .wait_acked_more(
            4 * RATE,
            Duration::from_secs(60),
            "with min.insync.replicas=2",
        )
        .await;
    // The witness line first, whatever fails below.
    let (report, read) = witness.stop_and_log(Some(watch.acked_during())).await;

    let violations = move_violations(&name, "2", &watch.during);
    assert!(violations.is_empty(), "{violations:#?}");
    watch.assert_overlapped(2);
    assert!(
        watch.during.iter().any(|s| s
            .ready
            .as_ref()
            .is_some_and(|r| r.0 == "False" && r.1 == "Reassigning")),
        "{name}: the status never said Reassigning during the move: {:?}",
        watch.during.iter().map(|s| &s.ready).collect::<Vec<_>>()
    );
    // The end state: 3 in-sync replicas everywhere, min.insync.replicas=2.
    assert_fully_replicated(&name, 2, 3);
    witness::assert_undeclared_unchanged(&name, &before, &["min.insync.replicas"]);

    // Kafka's own record of the order: min.insync.replicas=2 came after every partition had
    // its three replicas in sync.
    let history = assert_min_isr_never_above_isr(&name);
    let raised = history
        .first_set("min.insync.replicas", "2")
        .expect("min.insync.replicas=2 in the metadata log");
    let (partitions, _) = history.state_before(raised);
    assert_eq!(partitions.len(), 2, "{partitions:?}");
    for (id, p) in &partitions {
        assert!(
            p.replicas.len() == 3 && p.isr.len() == 3 && p.adding.is_empty(),
            "{name}: min.insync.replicas=2 was set while partition {id} was {p:?}"
        );
    }
    report.assert_nothing_lost(&read);
}

// 4. Replication factor 3 -> 2 with minInSyncReplicas 2 -> 1: min ISR goes down first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shrinking_lowers_min_isr_first() {
    let name = unique("dnh-shrink");
    let _cleanup = witness::DeleteTopicOnDrop(name.clone());
    let env = TestEnv::start_with("dnh-shrink", throttled()).await;
    env.apply_topic(
        "shrunk",
        json!({"topicName": name, "partitions": 2, "replicationFactor": 3, "minInSyncReplicas": 2}),
    )
    .await;
    env.wait_ready("shrunk").await;
    let witness = Witness::start("rf3-to-2", &name);
    witness
        .wait_acked_more(4 * RATE, Duration::from_secs(60), "before the shrink")
        .await;
    let before = kafka_cli::overrides(&name);

    env.apply_topic(
        "shrunk",
        json!({"topicName": name, "partitions": 2, "replicationFactor": 2, "minInSyncReplicas": 1}),
    )
    .await;
    env.wait_topic("shrunk", "replication factor 2 and Ready", |t| {
        ready(t) && observed_rf(t) == Some(2)
    })
    .await;
    wait_until(
        ACTION_DEADLINE,
        "min.insync.replicas=1 in Kafka",
        || async { min_isr_override(&name).as_deref() == Some("1") },
    )
    .await;
    assert_fully_replicated(&name, 2, 2);
    witness
        .wait_acked_more(4 * RATE, Duration::from_secs(60), "after the shrink")
        .await;
    witness::assert_undeclared_unchanged(&name, &before, &["min.insync.replicas"]);

    // A shrink takes Kafka milliseconds, so no sample can show the order: Kafka's metadata log
    // does. min.insync.replicas=1 must come before the first replica is removed.
    let history = assert_min_isr_never_above_isr(&name);
    let lowered = history.first_set("min.insync.replicas", "1");
    let shrink = history
        .first_shrink()
        .expect("a shrink in the metadata log");
    assert!(
        lowered.is_some_and(|l| l < shrink),
        "{name}: the shrink started (metadata record {shrink}) before min.insync.replicas=1 (record {lowered:?}): {:?}",
        history.events
    );
    witness.finish(None).await;
}

// 5. minInSyncReplicas 2 -> 1 -> 2 on replication factor 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_isr_changes_lose_nothing() {
    let name = unique("dnh-minisr");
    let _cleanup = witness::DeleteTopicOnDrop(name.clone());
    let env = TestEnv::start_with("dnh-minisr", throttled()).await;
    let spec = |min_isr: i32| json!({"topicName": name, "partitions": 3, "replicationFactor": 3, "minInSyncReplicas": min_isr});
    env.apply_topic("minisr", spec(2)).await;
    env.wait_ready("minisr").await;
    let witness = Witness::start("min-isr-2-1-2", &name);
    witness
        .wait_acked_more(4 * RATE, Duration::from_secs(60), "before the change")
        .await;
    let before = kafka_cli::overrides(&name);

    for min_isr in ["1", "2"] {
        env.apply_topic("minisr", spec(min_isr.parse().unwrap()))
            .await;
        wait_until(
            ACTION_DEADLINE,
            &format!("min.insync.replicas={min_isr} in Kafka"),
            || async { min_isr_override(&name).as_deref() == Some(min_isr) },
        )
        .await;
        env.wait_ready("minisr").await;
        witness
            .wait_acked_more(
                4 * RATE,
                Duration::from_secs(60),
                &format!("with min.insync.replicas={min_isr}"),
            )
            .await;
    }
    assert_fully_replicated(&name, 3, 3);
    witness::assert_undeclared_unchanged(&name, &before, &["min.insync.replicas"]);
    assert_min_isr_never_above_isr(&name);
    witness.finish(None).await;
}

// 6. A config changed and a config added.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_changes_lose_nothing() {
    let name = unique("dnh-config");
    let _cleanup = witness::DeleteTopicOnDrop(name.clone());
    let env = TestEnv::start_with("dnh-config", throttled()).await;
    env.apply_topic(
        "configured",
        json!({"topicName": name, "partitions": 3, "replicationFactor": 3, "minInSyncReplicas": 2,
               "config": {"retention.ms": 604800000}}),
    )
    .await;
    env.wait_ready("configured").await;
    let witness = Witness::start("config-change", &name);
    witness
        .wait_acked_more(4 * RATE, Duration::from_secs(60), "before the change")
        .await;
    let before = kafka_cli::overrides(&name);

    env.apply_topic(
        "configured",
        json!({"topicName": name, "partitions": 3, "replicationFactor": 3, "minInSyncReplicas": 2,
               "config": {"retention.ms": 259200000, "max.message.bytes": 2097152}}),
    )
    .await;
    wait_until(
        ACTION_DEADLINE,
        "retention.ms=259200000 and max.message.bytes=2097152 in Kafka",
        || async {
            let o = kafka_cli::overrides(&name);
            o.get("retention.ms").map(String::as_str) == Some("259200000")
                && o.get("max.message.bytes").map(String::as_str) == Some("2097152")
        },
    )
    .await;
    env.wait_ready("configured").await;
    witness
        .wait_acked_more(4 * RATE, Duration::from_secs(60), "after the change")
        .await;
    witness::assert_undeclared_unchanged(
        &name,
        &before,
        &["min.insync.replicas", "retention.ms", "max.message.bytes"],
    );
    witness.finish(None).await;
}

// 7. Adopting a compacted topic: a KafkaTopic without `config` keeps cleanup.policy=compact
//    (and the other overrides it found), and lists them in status.keptOverrides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopting_a_compacted_topic_keeps_its_configs() {
    let name = unique("ledger");
    let _cleanup = witness::DeleteTopicOnDrop(name.clone());
    let env = TestEnv::start_with("dnh-adopt", throttled()).await;
    kafka_cli::create(
        &name,
        &[
            "--partitions",
            "3",
            "--replication-factor",
            "3",
            "--config",
            "cleanup.policy=compact",
            "--config",
            "segment.ms=3600000",
        ],
    );
    let witness = Witness::start("adopt-compacted", &name);
    witness
        .wait_acked_more(4 * RATE, Duration::from_secs(60), "before the adoption")
        .await;
    let before = kafka_cli::overrides(&name);
    assert_eq!(
        before.get("cleanup.policy").map(String::as_str),
        Some("compact"),
        "{before:?}"
    );

    env.apply_topic(
        "ledger",
        json!({"topicName": name, "partitions": 3, "replicationFactor": 3, "minInSyncReplicas": 2}),
    )
    .await;
    env.wait_ready("ledger").await;
    wait_until(
        ACTION_DEADLINE,
        "min.insync.replicas=2 (declared) in Kafka",
        || async { min_isr_override(&name).as_deref() == Some("2") },
    )
    .await;
    witness::assert_undeclared_unchanged(&name, &before, &["min.insync.replicas"]);

    // The status lists what was kept (read as JSON: the field is newer than some builds).
    let kept = |v: &serde_json::Value| -> Vec<(String, String)> {
        v["status"]["keptOverrides"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|o| {
                        (
                            o["name"].as_str().unwrap_or_default().to_string(),
                            o["value"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let deadline = Instant::now() + ACTION_DEADLINE;
    loop {
        let v = topic_json(&env.ns, "ledger");
        let kept = kept(&v);
        if kept.contains(&("cleanup.policy".into(), "compact".into())) {
            assert!(
                kept.contains(&("segment.ms".into(), "3600000".into())),
                "status.keptOverrides: {kept:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "status.keptOverrides does not list cleanup.policy=compact; status: {}",
            v["status"]
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    witness
        .wait_acked_more(4 * RATE, Duration::from_secs(60), "after the adoption")
        .await;
    // Still kept after more resyncs.
    witness::assert_undeclared_unchanged(&name, &before, &["min.insync.replicas"]);
    assert_min_isr_never_above_isr(&name);
    witness.finish(None).await;
}

fn start_operator_process(ns: &str, addr: &str, n: u32) -> OperatorProcess {
    OperatorProcess::start(
        &[
            "run",
            "--namespace",
            ns,
            "--resync-interval",
            "2s",
            "--http-addr",
            addr,
        ],
        &[],
        &std::env::temp_dir().join(format!("{ns}-operator-{n}.log")),
    )
}

// 8. The operator SIGKILLed during a move (replication factor 1 -> 3, minInSyncReplicas 2): the
//    restarted operator finds the move, does not send it again, and finishes the job; writes
//    never stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_killed_during_a_move_loses_nothing() {
    let name = unique("dnh-opkill");
    let _cleanup = witness::DeleteTopicOnDrop(name.clone());
    let env = TestEnv::without_operator("dnh-opkill", throttled()).await;
    let first_addr = free_addr().to_string();
    let mut first = start_operator_process(&env.ns, &first_addr, 1);
    let spec = |rf: i32, min_isr: i32| json!({"topicName": name, "partitions": 2, "replicationFactor": rf, "minInSyncReplicas": min_isr});
    env.apply_topic("killed", spec(1, 1)).await;
    env.wait_ready("killed").await;
    // 30 MB: each partition's data is copied to two new replicas under the throttle, so the
    // move outlasts the kill, the restart and the new operator's first look by far.
    kafka_cli::produce_bulk(&name, 30_000, 1000);
    let before = kafka_cli::overrides(&name);
    let witness = Witness::start("operator-killed-mid-move", &name);
    witness
        .wait_acked_more(4 * RATE, Duration::from_secs(60), "before the move")
        .await;

    env.apply_topic("killed", spec(3, 2)).await;
    // Kill it once Kafka moves every partition: the whole move has been sent.
    let mut watch: MoveWatch<MoveSample> = MoveWatch::new(&name);
    let configs = TopicConfigs::new();
    let deadline = Instant::now() + ACTION_DEADLINE;
    while watch.look(witness.acked()) < 2 {
        assert!(
            Instant::now() < deadline,
            "{name}: Kafka never moved both partitions (most seen at once: {})",
            watch.max_moving
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    first.0.kill().expect("SIGKILL the operator");
    first.0.wait().unwrap();
    drop(first);
    let second_addr = free_addr().to_string();
    let _second = start_operator_process(&env.ns, &second_addr, 2);
    // The restarted operator has read the cluster (its metrics count a snapshot) while Kafka
    // still moves the replicas: it restarted in the middle of the move.
    let metrics = |addr: &str| http_get(addr, "/metrics").map(|r| r.1).unwrap_or_default();
    wait_until(
        ACTION_DEADLINE,
        "a snapshot by the restarted operator",
        || async {
            metric_sum(
                &metrics(&second_addr),
                "kto_kafka_requests_total",
                &[("operation", "snapshot"), ("result", "ok")],
            ) >= 1.0
        },
    )
    .await;
    assert!(
        watch.look(witness.acked()) > 0,
        "{name}: the move was over before the restarted operator looked; the scenario proves nothing"
    );

    let deadline = Instant::now() + MOVE_DEADLINE;
    loop {
        let moving = watch.look(witness.acked());
        let t = env.get_topic("killed").await;
        if moving == 0 && ready(&t) && observed_rf(&t) == Some(3) {
            break;
        }
        if watch.look_saw_move() {
            watch.sample(MoveSample {
                min_isr: configs.get(&name, "min.insync.replicas").await,
                partitions: witness.partitions(),
                ready: condition(&t, "Ready"),
                degraded: condition(&t, "Degraded"),
            });
        }
        assert!(
            Instant::now() < deadline,
            "{name}: the move did not finish after the restart; status: {}",
            serde_json::to_string(&t.status).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_until(
        ACTION_DEADLINE,
        "min.insync.replicas=2 in Kafka",
        || async { min_isr_override(&name).as_deref() == Some("2") },
    )
    .await;
    witness
        .wait_acked_more(4 * RATE, Duration::from_secs(60), "after the move")
        .await;
    // The witness line first, whatever fails below.
    let (report, read) = witness.stop_and_log(Some(watch.acked_during())).await;

    let violations = move_violations(&name, "2", &watch.during);
    assert!(violations.is_empty(), "{violations:#?}");
    watch.assert_overlapped(1);
    let resent = metric_sum(
        &metrics(&second_addr),
        "kto_kafka_requests_total",
        &[("operation", "alter_reassignments")],
    );
    assert_eq!(
        resent, 0.0,
        "the restarted operator sent AlterPartitionReassignments for partitions already moving"
    );
    assert_fully_replicated(&name, 2, 3);
    witness::assert_undeclared_unchanged(&name, &before, &["min.insync.replicas"]);
    assert_min_isr_never_above_isr(&name);
    report.assert_nothing_lost(&read);
}
