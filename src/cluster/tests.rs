//! Unit tests of the per-cluster layer over the in-memory Kafka (src/kafka/fake.rs): the observe
//! loop's supervision and snapshot turns, the batchers, and the apply of one topic.

use std::sync::atomic::Ordering;
use std::time::Duration;

use prometheus_client::metrics::family::Family;
use tokio::time::Instant;

use super::apply::{Applied, ApplyRequest, apply_topic};
use super::observe::CONCURRENT_SNAPSHOTS;
use super::*;
use crate::fixtures;
use crate::kafka::fake::{Concurrency, FakeKafka};
use crate::plan::{Action, Memory, plan_topic};

/// A registry whose every cluster is `fake`.
fn observers_of(fake: Arc<FakeKafka>) -> Observers {
    Observers::new(
        Duration::from_secs(3600),
        Duration::from_secs(5),
        move |_: &ClusterKey, _: &[String], _: &Security, _: Duration| -> Arc<dyn KafkaAdmin> {
            fake.clone()
        },
        Family::default(),
    )
}

fn key(namespace: &str) -> ClusterKey {
    (namespace.into(), "kafka".into())
}

/// The cluster of `key`, once its first snapshot is in.
async fn observed(observers: &Observers, key: &ClusterKey) -> Arc<ClusterHandle> {
    let cluster = observers.ensure(key, &["kafka:9092".into()], &Security::default());
    let deadline = Instant::now() + Duration::from_secs(10);
    while matches!(cluster.state.observation(), Observation::Pending) {
        assert!(Instant::now() < deadline, "the cluster was never observed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cluster
}

#[tokio::test]
async fn an_observer_that_panics_is_started_again_and_counted() {
    let fake = FakeKafka::with_brokers(1).panicking_once();
    fake.add_topic(fixtures::observed_on("orders", 1, &[1]));
    let restarts: Family<ClusterLabels, Counter> = Family::default();
    let fake = Arc::new(fake);
    let observers = Observers::new(
        Duration::from_secs(3600),
        Duration::from_secs(5),
        move |_: &ClusterKey, _: &[String], _: &Security, _: Duration| -> Arc<dyn KafkaAdmin> {
            fake.clone()
        },
        restarts.clone(),
    );
    let cluster = observed(&observers, &key("ns")).await;
    assert!(matches!(
        cluster.state.topic("orders"),
        TopicView::Observed { topic: Some(_), .. }
    ));
    let labels = ClusterLabels {
        namespace: "ns".into(),
        cluster: "kafka".into(),
    };
    assert_eq!(restarts.get_or_create(&labels).get(), 1);
}

#[tokio::test]
async fn many_clusters_take_their_snapshots_a_few_at_a_time() {
    let concurrency = Concurrency::default();
    let fake = Arc::new(
        FakeKafka::with_brokers(1).slow_snapshots(Duration::from_millis(50), concurrency.clone()),
    );
    let observers = observers_of(fake);
    let mut clusters = Vec::new();
    // Each with a connection of its own (KafkaClusters with the same one share an observer).
    for i in 0..4 * CONCURRENT_SNAPSHOTS {
        clusters.push(observers.ensure(
            &key(&format!("team-{i}")),
            &[format!("kafka-{i}:9092")],
            &Security::default(),
        ));
    }
    for cluster in &clusters {
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(cluster.state.observation(), Observation::Pending) {
            assert!(Instant::now() < deadline, "not every cluster was observed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    // Every cluster got its look, never more than the turns allow at once (and the turns were
    // used: the limit is what held them back).
    assert_eq!(
        concurrency.most.load(Ordering::SeqCst),
        CONCURRENT_SNAPSHOTS
    );
}

#[tokio::test]
async fn kafkaclusters_with_the_same_connection_share_one_observer_and_one_look() {
    let fake = Arc::new(FakeKafka::with_brokers(1));
    let observers = observers_of(fake.clone());
    let servers = |order: &[&str]| order.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let first = observers.ensure(
        &key("team-a"),
        &servers(&["k1:9092", "k2:9092"]),
        &Security::default(),
    );
    let second = observers.ensure(
        &key("team-b"),
        &servers(&["k2:9092", "k1:9092"]),
        &Security::default(),
    );
    assert!(
        Arc::ptr_eq(&first, &second),
        "same servers in another order: one observer"
    );
    assert_eq!(first.attached(), [key("team-a"), key("team-b")].into());
    let mut changes = observers.changes();
    let deadline = Instant::now() + Duration::from_secs(10);
    while matches!(first.state.observation(), Observation::Pending) {
        assert!(Instant::now() < deadline, "never observed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // One look at Kafka, its changes sent for both KafkaClusters.
    assert_eq!(fake.requests("Metadata"), 1);
    let mut told = std::collections::BTreeSet::new();
    while told.len() < 2 {
        let change = tokio::time::timeout(Duration::from_secs(5), changes.recv())
            .await
            .expect("a change for each KafkaCluster")
            .unwrap();
        told.insert(change.cluster);
    }
    assert_eq!(told, [key("team-a"), key("team-b")].into());
    // A KafkaCluster whose connection changes moves to an observer of its own; the shared one
    // stops with its last user.
    let moved = observers.ensure(&key("team-b"), &servers(&["k3:9092"]), &Security::default());
    assert!(!Arc::ptr_eq(&first, &moved));
    assert_eq!(first.attached(), [key("team-a")].into());
    observers.remove(&key("team-a"));
    assert!(first.attached().is_empty());
}

#[tokio::test]
async fn connections_to_one_kafka_share_its_write_lock_and_see_each_others_writes() {
    let fake = Arc::new(FakeKafka::with_brokers(1));
    let observers = observers_of(fake.clone());
    // Two connections (other servers, as with other credentials) to the same Kafka.
    let a = observers.ensure(&key("team-a"), &["k1:9092".into()], &Security::default());
    let b = observers.ensure(&key("team-b"), &["k2:9092".into()], &Security::default());
    assert!(!Arc::ptr_eq(&a, &b));
    for handle in [&a, &b] {
        let deadline = Instant::now() + Duration::from_secs(10);
        while handle.state.cluster_id().is_none() {
            assert!(Instant::now() < deadline, "never observed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    assert!(Arc::ptr_eq(&a.state.write_lock(), &b.state.write_lock()));
    assert_eq!(
        observers.same_kafka(&key("team-a")),
        vec![key("team-a"), key("team-b")]
    );
    // A write through one (read back and patched in) counts in the other's view at once: a
    // move started by team-a's KafkaCluster uses the budget team-b's plans see.
    let mut moving = fixtures::observed_on("orders", 1, &[1]);
    moving.partitions[0].adding = vec![2];
    a.state
        .patch("orders", tokio::time::Instant::now(), Some(moving));
    assert_eq!(b.state.view(2, 0).moving, 1);
    assert_eq!(b.state.view(2, 0).move_budget, 1);
}

#[tokio::test]
async fn clusters_whose_snapshots_never_end_give_up_their_turns_to_one_that_answers() {
    // Every turn taken by a cluster whose snapshot would take an hour; one healthy cluster.
    let hung = Arc::new(
        FakeKafka::with_brokers(1).slow_snapshots(Duration::from_secs(3600), Default::default()),
    );
    let healthy = Arc::new(FakeKafka::with_brokers(1));
    healthy.add_topic(fixtures::observed_on("orders", 1, &[1]));
    let request_timeout = Duration::from_millis(25);
    let observers = Observers::new(
        Duration::from_secs(3600),
        request_timeout,
        move |key: &ClusterKey, _: &[String], _: &Security, _: Duration| -> Arc<dyn KafkaAdmin> {
            if key.0 == "healthy" {
                healthy.clone()
            } else {
                hung.clone()
            }
        },
        Family::default(),
    );
    let stuck: Vec<_> = (0..CONCURRENT_SNAPSHOTS)
        .map(|i| {
            // Servers of its own: KafkaClusters with the same servers share one observer.
            observers.ensure(
                &key(&format!("hung-{i}")),
                &[format!("hung-{i}:9092")],
                &Security::default(),
            )
        })
        .collect();
    tokio::task::yield_now().await;
    let cluster = observed(&observers, &key("healthy")).await;
    assert!(matches!(
        cluster.state.topic("orders"),
        TopicView::Observed { topic: Some(_), .. }
    ));
    // The hung ones report why, once their snapshot's limit passed.
    for c in &stuck {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Observation::Failed {
                reason, message, ..
            } = c.state.observation()
            {
                assert_eq!(reason, crate::api::Reason::KafkaSlow);
                assert!(message.contains("not complete within"), "{message}");
                break;
            }
            assert!(Instant::now() < deadline, "a hung cluster never reported");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[tokio::test]
async fn each_creation_is_answered_when_its_own_topic_shows_not_when_the_whole_batch_does() {
    let fake = Arc::new(FakeKafka::with_brokers(1));
    fake.lag("slow");
    let observers = observers_of(fake.clone());
    let cluster = observed(&observers, &key("ns")).await;
    // Both arrive together, so they go to Kafka in one batch and are read back together.
    let (fast, slow) = (cluster.clone(), cluster.clone());
    let fast = tokio::spawn(async move {
        let target = fixtures::target("fast", 1, 1, 1);
        fast.creator.create(target).await
    });
    let slow = tokio::spawn(async move {
        let target = fixtures::target("slow", 1, 1, 1);
        slow.creator.create(target).await
    });
    let fast = tokio::time::timeout(Duration::from_secs(5), fast)
        .await
        .expect("the topic Kafka shows was answered while the other was still missing")
        .unwrap()
        .unwrap();
    assert!(fast.observed.is_some() && !fast.existed);
    assert!(!slow.is_finished(), "the slow topic is not shown yet");
    assert_eq!(fake.requests("CreateTopics"), 1, "sent in the same batch");
    assert!(fake.topic("slow").is_some());
    fake.show("slow");
    let slow = tokio::time::timeout(Duration::from_secs(10), slow)
        .await
        .expect("answered once shown")
        .unwrap()
        .unwrap();
    assert_eq!(slow.observed.map(|t| t.name), Some("slow".to_string()));
}

/// A topic `name` on brokers 1-3 with retention.ms=1000 and min ISR 2, declared so.
fn in_sync(fake: &FakeKafka, name: &str) -> crate::model::DesiredTopic {
    let mut topic = fixtures::observed_on(name, 1, &[1, 2, 3]);
    topic.topic_id = Some(format!("id-{name}"));
    fake.add_topic(topic);
    fake.set_override(name, "retention.ms", Some("1000"));
    fake.set_override(name, "min.insync.replicas", Some("2"));
    let mut desired = fixtures::desired(name, 1, 3, 2);
    desired.configs = [("retention.ms".to_string(), "1000".to_string())].into();
    desired
}

/// The plan of `desired` on the cluster's snapshot, and its apply.
async fn apply(cluster: &ClusterHandle, desired: &crate::model::DesiredTopic) -> Applied {
    let view = cluster.state.view(10, 0);
    let observed = match cluster.state.topic(&desired.name) {
        TopicView::Observed { topic, .. } => topic,
        _ => panic!("not observed"),
    };
    let memory = Memory {
        keep_adopted: true,
        ..Memory::default()
    };
    let plan = plan_topic(desired, observed.as_ref(), &view, &memory);
    assert!(!plan.actions.is_empty(), "nothing to apply: {plan:?}");
    apply_topic(
        cluster,
        ApplyRequest {
            desired,
            memory: &memory,
            plan: &plan,
            max_concurrent_moves: 10,
            throttle: 0,
        },
    )
    .await
}

#[tokio::test]
async fn config_changes_of_topics_that_arrive_together_go_in_one_request_each_with_its_result() {
    let fake = Arc::new(FakeKafka::with_brokers(3));
    let (mut a, mut b) = (in_sync(&fake, "a"), in_sync(&fake, "b"));
    let observers = observers_of(fake.clone());
    let cluster = observed(&observers, &key("ns")).await;
    a.configs.insert("retention.ms".into(), "2000".into());
    b.configs.insert("cleanup.policy".into(), "sideways".into());
    fake.refuse("cleanup.policy", "sideways");
    let (ca, cb) = (cluster.clone(), cluster.clone());
    let (ra, rb) = tokio::join!(async move { apply(&ca, &a).await }, async move {
        apply(&cb, &b).await
    });
    // One validation and one write request for both topics.
    assert_eq!(fake.requests("IncrementalAlterConfigs"), 2);
    assert!(
        matches!(&ra, Applied::Written(w) if w.read_back.is_ok()),
        "{ra:?}"
    );
    let overrides = fake
        .topic("a")
        .unwrap()
        .overrides()
        .get("retention.ms")
        .map(|v| v.to_string());
    assert_eq!(overrides.as_deref(), Some("2000"));
    // The refused value fails its topic alone, and nothing of it is applied.
    assert!(
        matches!(&rb, Applied::WriteFailed { error, .. } if error.reason() == "InvalidConfig"),
        "{rb:?}"
    );
    assert!(
        !fake
            .topic("b")
            .unwrap()
            .overrides()
            .contains_key("cleanup.policy")
    );
}

#[tokio::test]
async fn a_change_someone_already_made_is_planned_again_and_not_written() {
    let fake = Arc::new(FakeKafka::with_brokers(3));
    let mut desired = in_sync(&fake, "t");
    let observers = observers_of(fake.clone());
    let cluster = observed(&observers, &key("ns")).await;
    // The snapshot says 1000; Kafka has 2000 by now, as declared: nothing to write.
    desired.configs.insert("retention.ms".into(), "2000".into());
    fake.set_override("t", "retention.ms", Some("2000"));
    let applied = apply(&cluster, &desired).await;
    assert!(
        matches!(&applied, Applied::Replanned { plan, .. } if plan.actions.is_empty()),
        "{applied:?}"
    );
    assert_eq!(crate::kafka::write_count(fake.as_ref()), 0);
}

#[tokio::test]
async fn a_replica_move_is_applied_alone_under_the_write_lock_and_read_back() {
    let fake = Arc::new(FakeKafka::with_brokers(3));
    let mut topic = fixtures::observed_on("t", 2, &[1]);
    topic.topic_id = Some("id-t".into());
    fake.add_topic(topic);
    let observers = observers_of(fake.clone());
    let cluster = observed(&observers, &key("ns")).await;
    let mut desired = fixtures::undeclared("t");
    desired.replication_factor = Some(2);
    let applied = apply(&cluster, &desired).await;
    let Applied::Written(written) = applied else {
        panic!("{applied:?}")
    };
    assert!(
        written
            .applied
            .iter()
            .any(|a| matches!(a, Action::Reassign { .. }))
    );
    let moved = fake.topic("t").unwrap();
    assert!(moved.partitions.iter().all(|p| p.replicas.len() == 2));
    // Read back and patched in: the reconcile's next look sees the move, not the old snapshot.
    let TopicView::Observed {
        topic: Some(seen), ..
    } = cluster.state.topic("t")
    else {
        panic!("not observed")
    };
    assert_eq!(seen.replication_factor(), Some(2));
}

#[tokio::test]
async fn a_snapshot_names_only_topics_that_differ_from_what_the_reconciles_last_saw() {
    let fake = Arc::new(FakeKafka::with_brokers(1));
    let observers = observers_of(fake.clone());
    let cluster = observed(&observers, &key("ns")).await;
    let mut changes = observers.changes();
    // Created by the operator and read back: the next snapshot shows it exactly so.
    let created = fixtures::observed_on("created", 1, &[1]);
    fake.add_topic(created.clone());
    cluster
        .state
        .patch("created", Instant::now(), Some(created));
    // Read back after a write, then changed behind the operator's back.
    let mut read_back = fixtures::observed_on("altered", 1, &[1]);
    fake.add_topic(read_back.clone());
    read_back.partitions[0].isr = vec![];
    cluster
        .state
        .patch("altered", Instant::now(), Some(read_back));
    // Created by someone else: never read back.
    fake.add_topic(fixtures::observed_on("outside", 1, &[1]));
    cluster.refresh_now();
    let change = tokio::time::timeout(Duration::from_secs(10), changes.recv())
        .await
        .expect("a change after the snapshot")
        .unwrap();
    assert_eq!(
        change.changed,
        Changed::Topics(vec!["altered".into(), "outside".into()])
    );
}
