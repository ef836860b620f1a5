//! The events a person would act on, as plain data (pure), and their posting (I/O, in the
//! background: a reconcile never waits for an event).

use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::runtime::events::EventType;
use tracing::info;

use crate::api::condition::find;
use crate::api::{KafkaTopic, KafkaTopicStatus, Reason};
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

/// How long a topic is under-replicated before an event says so. A follower that falls behind
/// for a moment (brokers busy creating thousands of replicas, a broker restarted in a rolling
/// upgrade) is in the status and the metrics, not worth an event per topic; one that stays
/// behind is. Below the KafkaTopicUnderReplicated alert's 10 minutes.
pub const UNDER_REPLICATED_NOTICE: Duration = Duration::from_secs(300);

/// What a look at the Degraded condition tells people.
#[derive(Debug, PartialEq)]
pub struct HealthNotice {
    pub events: Vec<Event>,
    /// The episode (Degraded since this moment) has had its event.
    pub announced: Option<DateTime<Utc>>,
    /// When to look again for an event not due yet.
    pub due_in: Option<Duration>,
}

/// The events for the Degraded condition: at once when partitions are offline or below
/// min.insync.replicas (writes fail: someone acts now); for under-replication only once it
/// lasted [`UNDER_REPLICATED_NOTICE`]; `Recovered` only after an episode that had its event.
/// `announced` is the start of the episode whose event was posted, if any.
pub fn health_notice(
    previous: Option<&KafkaTopicStatus>,
    status: &KafkaTopicStatus,
    announced: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> HealthNotice {
    let quiet = |announced| HealthNotice {
        events: vec![],
        announced,
        due_in: None,
    };
    let Some(degraded) = find(&status.conditions, "Degraded") else {
        return quiet(announced);
    };
    let since = degraded.last_transition_time;
    // While Degraded, only this episode's event counts; once recovered, the last one's does.
    let announced = if degraded.is_true() {
        announced.filter(|t| *t == since)
    } else {
        announced
    };
    if !degraded.is_true() {
        return match announced {
            Some(_) => HealthNotice {
                events: vec![Event::normal(
                    "Recovered",
                    "Observe",
                    degraded.message.clone(),
                )],
                announced: None,
                due_in: None,
            },
            None => quiet(None),
        };
    }
    let reason_before = previous
        .and_then(|p| find(&p.conditions, "Degraded"))
        .filter(|c| c.is_true())
        .map(|c| c.reason.clone());
    let urgent = degraded.reason != Reason::UnderReplicated.as_str();
    let warning = || {
        vec![Event::warning(
            &degraded.reason,
            "Observe",
            degraded.message.clone(),
        )]
    };
    if urgent {
        // A new urgent reason is news, even within an episode already announced; the same one
        // the stored status already showed was told when it was written (by this process or the
        // one before a restart).
        if reason_before.as_deref() != Some(degraded.reason.as_str()) {
            return HealthNotice {
                events: warning(),
                announced: Some(since),
                due_in: None,
            };
        }
        return quiet(Some(since));
    }
    if announced.is_some() {
        return quiet(announced);
    }
    let lasted = (now - since).to_std().unwrap_or_default();
    match UNDER_REPLICATED_NOTICE.checked_sub(lasted) {
        Some(left) if !left.is_zero() => HealthNotice {
            events: vec![],
            announced: None,
            due_in: Some(left),
        },
        _ => HealthNotice {
            events: warning(),
            announced: Some(since),
            due_in: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::condition::Condition;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_000_000 + s, 0).unwrap()
    }

    /// A status whose Degraded condition is `degraded` with `reason`, since `since`.
    fn status(degraded: bool, reason: Reason, since: i64) -> KafkaTopicStatus {
        let mut condition = Condition::new("Degraded", degraded, reason, "1 of 3 partitions");
        condition.last_transition_time = at(since);
        KafkaTopicStatus {
            conditions: vec![condition],
            ..Default::default()
        }
    }

    fn reasons(notice: &HealthNotice) -> Vec<&str> {
        notice.events.iter().map(|e| e.reason.as_str()).collect()
    }

    #[test]
    fn under_replication_is_told_only_once_it_lasted_and_its_recovery_only_then() {
        let healthy = status(false, Reason::Healthy, 0);
        let lagging = status(true, Reason::UnderReplicated, 10);
        // A follower fell behind a moment ago: the status says so, no event yet.
        let notice = health_notice(Some(&healthy), &lagging, None, at(10));
        assert!(notice.events.is_empty());
        assert_eq!(notice.due_in, Some(UNDER_REPLICATED_NOTICE));
        // It caught up within the notice time: no Recovered for an episode never told.
        let recovered = status(false, Reason::Healthy, 100);
        let notice = health_notice(Some(&lagging), &recovered, None, at(100));
        assert!(notice.events.is_empty());
        // Still behind when the notice is due: one warning, then nothing more.
        let due = at(10) + UNDER_REPLICATED_NOTICE;
        let notice = health_notice(Some(&lagging), &lagging, None, due);
        assert_eq!(reasons(&notice), ["UnderReplicated"]);
        assert_eq!(notice.announced, Some(at(10)));
        let again = health_notice(Some(&lagging), &lagging, notice.announced, due);
        assert!(again.events.is_empty());
        assert_eq!(again.due_in, None);
        // Its recovery is told.
        let notice = health_notice(Some(&lagging), &recovered, Some(at(10)), at(900));
        assert_eq!(reasons(&notice), ["Recovered"]);
        assert_eq!(notice.announced, None);
    }

    #[test]
    fn offline_or_below_min_isr_is_told_at_once_and_a_new_episode_waits_again() {
        let healthy = status(false, Reason::Healthy, 0);
        let below = status(true, Reason::UnderMinIsr, 10);
        let notice = health_notice(Some(&healthy), &below, None, at(10));
        assert_eq!(reasons(&notice), ["UnderMinIsr"]);
        // The same reason again (or after a restart, from the stored status): not told twice.
        let again = health_notice(Some(&below), &below, None, at(20));
        assert!(again.events.is_empty());
        assert_eq!(again.announced, Some(at(10)));
        // Worse within the episode: told.
        let offline = status(true, Reason::OfflinePartitions, 10);
        let notice = health_notice(Some(&below), &offline, Some(at(10)), at(30));
        assert_eq!(reasons(&notice), ["OfflinePartitions"]);
        // Better within the episode (only under-replicated now): the episode was told already.
        let lagging = status(true, Reason::UnderReplicated, 10);
        let notice = health_notice(Some(&offline), &lagging, Some(at(10)), at(40));
        assert!(notice.events.is_empty());
        // A later episode of under-replication waits for its own notice time.
        let notice = health_notice(
            Some(&healthy),
            &status(true, Reason::UnderReplicated, 500),
            Some(at(10)),
            at(500),
        );
        assert!(notice.events.is_empty());
        assert_eq!(notice.due_in, Some(UNDER_REPLICATED_NOTICE));
    }
}
