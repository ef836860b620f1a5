//! The events a person would act on, as plain data (pure), and their posting (I/O, in the
//! background: a reconcile never waits for an event).

use kube::runtime::events::EventType;
use tracing::info;

use crate::api::condition::find;
use crate::api::{KafkaTopic, KafkaTopicStatus};
use crate::controller::context::Context;
use crate::controller::report::describe;
use crate::model::ObservedTopic;
use crate::plan::{Action, Drift, TopicPlan};

/// One Kubernetes event about a KafkaTopic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub warning: bool,
    pub reason: String,
    /// What the operator was doing: Apply, Observe, Reconcile, Delete.
    pub action: &'static str,
    pub note: String,
}

impl Event {
    pub fn normal(reason: &str, action: &'static str, note: String) -> Self {
        Event {
            warning: false,
            reason: reason.into(),
            action,
            note,
        }
    }

    pub fn warning(reason: &str, action: &'static str, note: String) -> Self {
        Event {
            warning: true,
            ..Event::normal(reason, action, note)
        }
    }
}

/// Posts `events` about `topic` (logged too).
pub fn post(ctx: &Context, topic: &KafkaTopic, events: Vec<Event>) {
    for event in events {
        let kind = if event.warning {
            EventType::Warning
        } else {
            info!(topic = %topic.kafka_topic_name(), reason = %event.reason, "{}", event.note);
            EventType::Normal
        };
        ctx.event(topic, kind, &event.reason, event.action, event.note);
    }
}

/// `p0 [1,2,3], p1 [2,3,1]`
fn sets<'a>(items: impl Iterator<Item = (usize, &'a Vec<i32>)>) -> String {
    items
        .map(|(p, set)| format!("p{p} {set:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Events for what was applied: created, grown, configs updated (spec change) or drift reverted.
pub fn applied_events(
    plan: &TopicPlan,
    applied: &[Action],
    before: Option<&ObservedTopic>,
    spec_changed: bool,
) -> Vec<Event> {
    let mut events = Vec::new();
    for action in applied {
        let (reason, note) = match action {
            Action::CreateTopic {
                topic: d,
                assignments,
            } => (
                "TopicCreated",
                format!(
                    "created topic {}: {} partitions, replication factor {}, minInSyncReplicas {}; replicas {}",
                    d.name,
                    d.partitions,
                    d.replication_factor,
                    d.min_in_sync_replicas.unwrap_or(1),
                    sets(assignments.iter().enumerate())
                ),
            ),
            Action::CreatePartitions { total, assignments } => {
                let first = before.map(|t| t.partitions.len()).unwrap_or(0);
                (
                    "PartitionsIncreased",
                    format!(
                        "partitions {first} -> {total} (new replicas {}); keys now map to other partitions: ordering per key is not kept across the change",
                        sets(assignments.iter().enumerate().map(|(i, s)| (i + first, s)))
                    ),
                )
            }
            Action::Reassign { moves } => (
                "ReassignmentStarted",
                format!(
                    "moving {} partition(s): {}",
                    moves.len(),
                    sets(moves.iter().map(|(p, s)| (*p as usize, s)))
                ),
            ),
            Action::ElectLeaders { partitions } => (
                "PreferredLeadersElected",
                format!("partitions {partitions:?} led by their first replica again"),
            ),
            Action::Throttle { .. } | Action::Unthrottle(_) => continue,
            Action::AlterConfigs(changes) => {
                // The drift this change corrects (a held key or a waiting raise is not in it).
                let config_drift: Vec<Drift> = plan
                    .drift
                    .iter()
                    .filter(|d| {
                        d.field.strip_prefix("config.").is_some_and(|k| {
                            changes.set.contains_key(k) || changes.delete.iter().any(|x| x == k)
                        })
                    })
                    .cloned()
                    .collect();
                if spec_changed {
                    (
                        "ConfigUpdated",
                        format!("applied declared configs: {}", describe(&config_drift)),
                    )
                } else {
                    (
                        "DriftReverted",
                        format!(
                            "reverted changes made outside the operator: {}",
                            describe(&config_drift)
                        ),
                    )
                }
            }
        };
        events.push(Event::normal(reason, "Apply", note));
    }
    events
}

/// An event on each Degraded transition: a partition lost its leader or replicas, or recovered.
pub fn health_events(previous: Option<&KafkaTopicStatus>, status: &KafkaTopicStatus) -> Vec<Event> {
    let before = previous
        .and_then(|p| find(&p.conditions, "Degraded"))
        .map(|c| (c.is_true(), c.reason.clone()));
    let Some(now) = find(&status.conditions, "Degraded") else {
        return vec![];
    };
    if before == Some((now.is_true(), now.reason.clone())) {
        return vec![];
    }
    if now.is_true() {
        vec![Event::warning(&now.reason, "Observe", now.message.clone())]
    } else if before.is_some_and(|(was_degraded, _)| was_degraded) {
        vec![Event::normal("Recovered", "Observe", now.message.clone())]
    } else {
        vec![]
    }
}
