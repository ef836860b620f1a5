//! Scenarios of the pure outcome step: each path a reconcile can take, from real plans.

use super::*;
use crate::api::{DeletionPolicy, PolicyMode};
use crate::cluster::create::Created;
use crate::fixtures;
use crate::model::{DesiredTopic, ObservedTopic, ValueSource};
use crate::plan::placement::LiveBroker;
use crate::plan::{ClusterView, plan_topic};

fn view() -> ClusterView {
    ClusterView {
        live: (1..=3)
            .map(|id| LiveBroker {
                id,
                rack: Some(format!("r{id}")),
            })
            .collect(),
        move_budget: 10,
        ..ClusterView::default()
    }
}

fn facts<'a>(topic: &'a KafkaTopic, cluster: &'a KafkaCluster) -> Facts<'a> {
    Facts {
        topic,
        cluster,
        resync: Duration::from_secs(30),
        now: DateTime::UNIX_EPOCH,
    }
}

/// `orders` on brokers 1-3 with retention.ms=`retention` and min ISR 2.
fn in_kafka(retention: &str) -> ObservedTopic {
    let mut topic = fixtures::observed_on("orders", 1, &[1, 2, 3]);
    topic.topic_id = Some("id".into());
    let fake = crate::kafka::fake::FakeKafka::default();
    fake.add_topic(topic);
    fake.set_override("orders", "retention.ms", Some(retention));
    fake.set_override("orders", "min.insync.replicas", Some("2"));
    fake.topic("orders").unwrap()
}

fn declared(retention: &str) -> DesiredTopic {
    let mut d = fixtures::desired("orders", 1, 3, 2);
    d.configs = [("retention.ms".to_string(), retention.to_string())].into();
    d
}

/// A KafkaTopic whose status was written for its current generation (no spec change).
fn synced_topic() -> KafkaTopic {
    let mut topic = fixtures::kafka_topic("orders");
    topic.status = Some(crate::api::KafkaTopicStatus {
        observed_generation: topic.metadata.generation,
        ..Default::default()
    });
    topic
}

fn plan(desired: &DesiredTopic, observed: Option<&ObservedTopic>) -> TopicPlan {
    let memory = Memory {
        keep_adopted: true,
        topic_id: observed.and_then(|t| t.topic_id.clone()),
        ..Memory::default()
    };
    plan_topic(desired, observed, &view(), &memory)
}

#[test]
fn a_blocked_plan_says_why_and_waits_for_a_change() {
    let (topic, cluster) = (synced_topic(), fixtures::kafka_cluster());
    let mut desired = declared("1000");
    desired.partitions = Some(1);
    let kafka = fixtures::observed_on("orders", 2, &[1, 2, 3]);
    let plan = plan(&desired, Some(&kafka));
    let outcome = planned(&facts(&topic, &cluster), Some(kafka), plan);
    assert_eq!(outcome.report.verdict.reason, "PartitionDecreaseNotAllowed");
    assert!(!outcome.report.verdict.ready);
    assert!(outcome.events.is_empty());
    assert!(matches!(outcome.next, Ok(ref r) if *r == Requeue::await_change()));
}

#[test]
fn observe_mode_reports_drift_with_one_event_per_new_drift() {
    let mut cluster = fixtures::kafka_cluster();
    cluster.spec.policy.mode = PolicyMode::Observe;
    let mut topic = synced_topic();
    let kafka = in_kafka("5");
    let plan = plan(&declared("1000"), Some(&kafka));
    let outcome = planned(&facts(&topic, &cluster), Some(kafka.clone()), plan.clone());
    assert_eq!(outcome.report.verdict.reason, "Drifted");
    assert_eq!(outcome.events.len(), 1);
    assert_eq!(outcome.events[0].reason, "DriftDetected");
    // The status already lists this drift: no second event.
    let status = crate::controller::report::topic_status(&outcome.report, Some(1), None);
    topic.status = Some(status);
    let again = planned(&facts(&topic, &cluster), Some(kafka), plan);
    assert!(again.events.is_empty(), "{:?}", again.events);
}

#[test]
fn a_drift_reverted_behind_the_operators_back_is_reported_as_reverted() {
    let (topic, cluster) = (synced_topic(), fixtures::kafka_cluster());
    let before = in_kafka("5");
    let desired = declared("1000");
    let plan = plan(&desired, Some(&before));
    let [Action::AlterConfigs(changes)] = plan.actions.as_slice() else {
        panic!("{:?}", plan.actions)
    };
    let after = in_kafka("1000");
    let after_plan = self::plan(&desired, Some(&after));
    let written = Written {
        observed: Some(before.clone()),
        plan: plan.clone(),
        applied: vec![Action::AlterConfigs(changes.clone())],
        read_back: Ok((Some(after), after_plan)),
    };
    let outcome = applied(
        &facts(&topic, &cluster),
        Some(before),
        plan,
        Applied::Written(Box::new(written)),
    );
    assert!(outcome.report.verdict.ready, "{:?}", outcome.report.verdict);
    assert_eq!(outcome.report.reverted.len(), 1);
    assert!(outcome.report.drift.is_empty());
    assert_eq!(outcome.events.len(), 1);
    assert_eq!(outcome.events[0].reason, "DriftReverted");
    assert!(matches!(outcome.next, Ok(ref r) if *r == Requeue::await_change()));
}

#[test]
fn a_value_kafka_still_shows_differently_after_the_write_is_held_not_rewritten() {
    let (topic, cluster) = (synced_topic(), fixtures::kafka_cluster());
    let before = in_kafka("5");
    let desired = declared("1000");
    let plan = plan(&desired, Some(&before));
    let applied_actions = plan.actions.clone();
    let after_plan = self::plan(&desired, Some(&before));
    let written = Written {
        observed: Some(before.clone()),
        plan: plan.clone(),
        applied: applied_actions,
        read_back: Ok((Some(before.clone()), after_plan)),
    };
    let outcome = applied(
        &facts(&topic, &cluster),
        Some(before),
        plan,
        Applied::Written(Box::new(written)),
    );
    assert_eq!(outcome.report.verdict.reason, "ConfigNotApplied");
    assert_eq!(outcome.report.held.len(), 1);
}

#[test]
fn a_creation_with_defaults_records_where_each_value_came_from() {
    let mut cluster = fixtures::kafka_cluster();
    cluster.spec.topic_defaults.deletion_policy = DeletionPolicy::Delete;
    let topic = fixtures::kafka_topic("orders");
    let desired = fixtures::undeclared("orders");
    let target = desired.for_creation().unwrap();
    let mut created_topic = fixtures::observed_on("orders", 3, &[1, 2, 3]);
    created_topic.topic_id = Some("id".into());
    let mut memory = Memory {
        keep_adopted: true,
        sources: Some(target.sources),
        ..Memory::default()
    };
    memory.topic_id = created_topic.topic_id.clone();
    let after = plan_topic(&desired, Some(&created_topic), &view(), &memory);
    let outcome = applied(
        &facts(&topic, &cluster),
        None,
        self::plan(&desired, None),
        Applied::Created {
            target,
            created: Created {
                assignments: vec![vec![1, 2, 3]; 3],
                existed: false,
                observed: Some(created_topic),
            },
            after: Some(after),
        },
    );
    assert_eq!(outcome.events[0].reason, "TopicCreated");
    let sources = outcome.report.sources.unwrap();
    assert_eq!(sources.partitions, ValueSource::TopicDefaults);
    assert_eq!(
        outcome.report.deletion,
        Some((DeletionPolicy::Delete, ValueSource::TopicDefaults))
    );
}

#[test]
fn a_lost_write_answer_is_retried_with_backoff_and_said_once() {
    let (mut topic, cluster) = (synced_topic(), fixtures::kafka_cluster());
    let kafka = in_kafka("5");
    let plan = plan(&declared("1000"), Some(&kafka));
    let lost = || Applied::WriteFailed {
        error: KafkaError::WriteUnconfirmed {
            api: "IncrementalAlterConfigs",
            detail: "connection reset".into(),
        },
        fresh: None,
    };
    let outcome = applied(
        &facts(&topic, &cluster),
        Some(kafka.clone()),
        plan.clone(),
        lost(),
    );
    assert_eq!(outcome.report.verdict.reason, "WriteUnconfirmed");
    assert!(outcome.next.is_err(), "retried with backoff");
    assert_eq!(outcome.events.len(), 1);
    // Nothing of the failed attempt's view is reported as Kafka's state.
    assert!(outcome.report.observed.is_none());
    let status = crate::controller::report::topic_status(&outcome.report, Some(1), None);
    topic.status = Some(status);
    let again = applied(&facts(&topic, &cluster), Some(kafka), plan, lost());
    assert!(
        again.events.is_empty(),
        "the same failure again: no new event"
    );
}

fn pause() -> crate::controller::topic::pause::Pause {
    crate::controller::topic::pause::Pause {
        note: Some("migration".into()),
    }
}

#[test]
fn a_paused_topic_reports_its_drift_as_paused_and_writes_nothing() {
    let (mut topic, cluster) = (synced_topic(), fixtures::kafka_cluster());
    let kafka = in_kafka("5");
    let plan = plan(&declared("1000"), Some(&kafka));
    assert!(!plan.actions.is_empty(), "there is something to write");
    let outcome = paused(
        &facts(&topic, &cluster),
        Some(kafka.clone()),
        plan.clone(),
        &pause(),
    );
    let verdict = &outcome.report.verdict;
    assert_eq!((verdict.ready, verdict.reason), (false, Reason::Paused));
    assert!(
        verdict.message.contains("\"migration\""),
        "{}",
        verdict.message
    );
    assert!(
        verdict
            .message
            .contains("config.retention.ms: declared 1000, found 5"),
        "{}",
        verdict.message
    );
    assert_eq!(outcome.report.drift, plan.drift);
    assert_eq!(outcome.events.len(), 1);
    assert_eq!(outcome.events[0].reason, "DriftDetected");
    assert!(matches!(outcome.next, Ok(ref r) if *r == Requeue::await_change()));
    // The status lists the drift (Drifted=True) and says Stalled: a person must lift the pause.
    let status = crate::controller::report::topic_status(&outcome.report, Some(1), None);
    assert_eq!(status.drift.len(), 1);
    let conditions = |t: &str| find(&status.conditions, t).map(|c| c.reason.clone());
    assert_eq!(conditions("Drifted").as_deref(), Some("DriftDetected"));
    assert_eq!(conditions("Stalled").as_deref(), Some("Paused"));
    // The same drift again: no second event.
    topic.status = Some(status);
    let again = paused(&facts(&topic, &cluster), Some(kafka), plan, &pause());
    assert!(again.events.is_empty(), "{:?}", again.events);
}

#[test]
fn a_paused_topic_that_does_not_exist_is_not_created_and_says_so() {
    let (topic, cluster) = (synced_topic(), fixtures::kafka_cluster());
    let plan = plan(&declared("1000"), None);
    let outcome = paused(&facts(&topic, &cluster), None, plan, &pause());
    assert_eq!(outcome.report.verdict.reason, Reason::Paused);
    assert!(
        outcome.report.verdict.message.contains("not created"),
        "{}",
        outcome.report.verdict.message
    );
}

#[test]
fn a_move_remembered_by_the_status_is_kept_while_paused_so_its_throttles_come_off_later() {
    let (mut topic, cluster) = (synced_topic(), fixtures::kafka_cluster());
    let move_status = crate::api::ReassignmentStatus {
        target_replication_factor: 3,
        partitions_done: 0,
        partitions_remaining: 1,
        partitions_moving: 1,
        partitions_waiting: 0,
        throttle_bytes_per_second: 1,
        started: DateTime::UNIX_EPOCH,
    };
    topic.status.as_mut().unwrap().reassignment = Some(move_status.clone());
    // Kafka finished the move while the topic was paused: the plan sees nothing moving.
    let kafka = in_kafka("1000");
    let plan = plan(&declared("1000"), Some(&kafka));
    assert!(plan.reassignment.is_none());
    let outcome = paused(&facts(&topic, &cluster), Some(kafka), plan, &pause());
    assert_eq!(outcome.report.reassignment, Some(move_status));
    assert!(
        outcome.report.verdict.message.contains("throttles stay"),
        "{}",
        outcome.report.verdict.message
    );
}
