//! A bulk apply of KafkaTopics is not crowded by the operator's own writes: while the objects
//! arrive, the topics are created in Kafka but no status and no event is written; once the
//! apply has ended every topic gets its one status and its one `TopicCreated` event. A single
//! KafkaTopic applied afterwards is not held. Judged by Kafka's own CLI (the first batch's
//! topics exist while objects still arrive) and the apiserver's own record (the status write's
//! time in `managedFields`, the events' `eventTime`) against the objects' creation times. The
//! machine's speed does not decide it: objects keep arriving, one `kubectl apply` after another,
//! until Kafka shows the first batch, and the hold is set to 2 arrivals in 10 s, which that
//! keeps up however slow the apiserver is.

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kafka_topic_operator::api::KafkaTopic;
use kafka_topic_operator::controller::bulk_apply::Limits;
use kafka_topic_operator::controller::error::FIELD_MANAGER;
use kube::api::ListParams;

const FIRST: usize = 30;
/// At most this many KafkaTopics trickle in after the first batch.
const TRICKLE_MAX: usize = 300;

fn manifests(prefix: &str, range: std::ops::Range<usize>) -> String {
    range
        .map(|i| format!("---\napiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaTopic\nmetadata:\n  name: b{i}\nspec:\n  clusterRef:\n    name: kafka\n  topicName: {prefix}-{i}\n  partitions: 1\n"))
        .collect()
}

fn labelled(yaml: String, batch: &str) -> String {
    yaml.replace(
        "metadata:\n",
        &format!("metadata:\n  labels:\n    batch: {batch}\n"),
    )
}

/// When the operator last wrote the KafkaTopic's status, by the apiserver's clock.
fn status_written(topic: &KafkaTopic) -> Option<Time> {
    topic
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .find(|f| {
            f.manager.as_deref() == Some(FIELD_MANAGER)
                && f.subresource.as_deref() == Some("status")
        })
        .and_then(|f| f.time.clone())
}

async fn wait_all_ready(env: &TestEnv, selector: &str, count: usize) -> Vec<KafkaTopic> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let list = env
            .topics()
            .list(&ListParams::default().labels(selector))
            .await
            .unwrap();
        let ready = list
            .items
            .iter()
            .filter(|t| condition(t, "Ready").is_some_and(|c| c.0 == "True"))
            .count();
        if list.items.len() == count && ready == count {
            return list.items;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{ready} of {count} Ready"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_apply_gets_its_statuses_and_events_after_it_ends() {
    log_if_asked();
    let env = TestEnv::without_operator("bulk", ClusterOptions::default())
        .await
        .start_operator_with(|settings| {
            settings.bulk_apply = Limits {
                arrivals: 2,
                window: Duration::from_secs(10),
                max_hold: Duration::from_secs(600),
            }
        });
    let prefix = unique("bulk");
    kubectl_apply(&env.ns, &labelled(manifests(&prefix, 0..FIRST), "bulk"))
        .expect("kubectl apply of the first batch");

    // More arrive, one at a time, until Kafka shows every topic of the first batch.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let trickle = {
        let (ns, prefix, stop) = (env.ns.clone(), prefix.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut next = FIRST;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) && next < FIRST + TRICKLE_MAX {
                let one = labelled(manifests(&prefix, next..next + 1), "bulk");
                kubectl_apply(&ns, &one).expect("kubectl apply of one more");
                next += 1;
            }
            next
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let listed = kafka_cli::list();
        if (0..FIRST).all(|i| listed.contains(&format!("{prefix}-{i}"))) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first batch's topics in Kafka"
        );
        assert!(
            !trickle.is_finished(),
            "the trickle ran out before Kafka showed the first batch"
        );
    }
    // While objects were still arriving, none of the first batch had a status.
    let early = env
        .topics()
        .list(&ListParams::default().labels("batch=bulk"))
        .await
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let count = trickle.join().expect("the trickle");
    eprintln!(
        "{} KafkaTopics arrived one at a time after the first {FIRST}",
        count - FIRST
    );
    let first: Vec<String> = (0..FIRST).map(|i| format!("b{i}")).collect();
    let early_first: Vec<&KafkaTopic> = early
        .items
        .iter()
        .filter(|t| t.metadata.name.as_ref().is_some_and(|n| first.contains(n)))
        .collect();
    assert_eq!(early_first.len(), FIRST);
    for topic in early_first {
        assert!(
            status_written(topic).is_none(),
            "{:?} has a status while the apply goes on",
            topic.metadata.name
        );
    }
    let topics = wait_all_ready(&env, "batch=bulk", count).await;

    // The apply ended when its last object was created; no status was written before that.
    let last_created = topics
        .iter()
        .filter_map(|t| t.metadata.creation_timestamp.clone())
        .max()
        .expect("creation timestamps");
    for topic in &topics {
        let written = status_written(topic).expect("a status written by the operator");
        assert!(
            written >= last_created,
            "{:?}: status written at {written:?}, before the apply's last object ({last_created:?})",
            topic.metadata.name
        );
    }
    let held = env
        .metric("kto_status_writes_held_total", &[])
        .expect("kto_status_writes_held_total");
    assert!(held >= FIRST as f64, "statuses held: {held}");

    // One TopicCreated each, none posted before the apply ended. An event's eventTime is set by
    // the operator when it posts it (to the microsecond), a creation time by the apiserver (to
    // the second): both UTC on this one machine, compared to the second.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut names = env.created_once();
    while names.len() < count && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        names = env.created_once();
    }
    assert_eq!(names.len(), count, "TopicCreated events: {names:?}");
    let event_times = kubectl(&[
        "get",
        "events.events.k8s.io",
        "-n",
        &env.ns,
        "--field-selector",
        "reason=TopicCreated",
        "-o",
        "jsonpath={range .items[*]}{.eventTime}{\"\\n\"}{end}",
    ]);
    let last_created_second = last_created.0.to_string();
    for time in event_times.lines() {
        assert!(
            time[..19] >= last_created_second[..19],
            "TopicCreated posted at {time}, before the apply's last object ({last_created_second})"
        );
    }

    // One KafkaTopic on its own is not a bulk apply: its status is written without a hold.
    let held_before = env.metric("kto_status_writes_held_total", &[]).unwrap();
    kubectl_apply(
        &env.ns,
        &labelled(manifests(&prefix, count..count + 1), "single"),
    )
    .expect("kubectl apply of one more");
    wait_all_ready(&env, "batch=single", 1).await;
    assert_eq!(
        env.metric("kto_status_writes_held_total", &[]),
        Some(held_before),
        "a single new KafkaTopic held a status write"
    );
}
