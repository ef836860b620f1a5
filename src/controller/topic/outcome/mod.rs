//! Step 5 of the topic reconcile, pure: what the reconcile found and did -> the report (verdict,
//! drift, held, kept, reverted, where values came from), the events a person would act on, and
//! when to look again. No I/O and no clock (the time is passed in), so every path is unit-tested.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::runtime::controller::Action as Requeue;

use super::deletion::deletion_in_effect;
use super::events::{Event, applied_events};
use crate::api::condition::find;
use crate::api::{
    AdoptedOverridesPolicy, KafkaCluster, KafkaTopic, PolicyMode, Reason, ReassignmentStatus,
};
use crate::cluster::apply::Applied;
use crate::cluster::write::{Written, configs_set};
use crate::controller::report::{TopicReport, Verdict, describe, sources_from_status};
use crate::kafka::KafkaError;
use crate::model::ObservedTopic;
use crate::plan::warnings::warnings;
use crate::plan::{Action, Drift, IgnoredKeys, Memory, TopicPlan};

/// The reason while the cluster's connection or first snapshot is not there yet.
pub const CONNECTING: Reason = Reason::Connecting;

/// How soon to look again while Kafka is still settling (a topic just created, a first snapshot).
pub const SETTLING: Duration = Duration::from_secs(1);

/// How soon to look again while replicas move.
fn reassigning_requeue(resync: Duration) -> Requeue {
    Requeue::requeue(resync.min(Duration::from_secs(5)))
}

/// What the controller does after a reconcile that wrote its status: look again later (or on
/// a change), or, for a Kafka failure that retrying can help, fail so it retries with backoff.
pub type Next = Result<Requeue, KafkaError>;

/// The report to write, the events to post, and when to look again.
#[derive(Debug)]
pub struct Outcome {
    pub report: TopicReport,
    pub events: Vec<Event>,
    pub next: Next,
}

impl Outcome {
    fn new(report: TopicReport, next: Next) -> Self {
        Outcome {
            report,
            events: vec![],
            next,
        }
    }
}

/// Everything the pure steps need besides the plan: the objects and the moment.
pub struct Facts<'a> {
    pub topic: &'a KafkaTopic,
    pub cluster: &'a KafkaCluster,
    pub resync: Duration,
    pub now: DateTime<Utc>,
}

impl Facts<'_> {
    fn enforce(&self) -> bool {
        self.cluster.spec.policy.mode == PolicyMode::Enforce
    }

    fn mode(&self) -> Option<String> {
        Some(format!("{:?}", self.cluster.spec.policy.mode))
    }

    /// Whether this reconcile carries a new declaration (the status describes an older one).
    fn spec_changed(&self) -> bool {
        self.topic.metadata.generation
            != self
                .topic
                .status
                .as_ref()
                .and_then(|s| s.observed_generation)
    }
}

pub fn not_synced(topic: &KafkaTopic, verdict: Verdict) -> TopicReport {
    TopicReport::new(topic.kafka_topic_name(), verdict)
}

/// The report of a look that wrote nothing: Observe mode, a blocker, nothing to do, or a fresh
/// plan that found nothing to write.
pub fn planned(facts: &Facts, observed: Option<ObservedTopic>, plan: TopicPlan) -> Outcome {
    let topic = facts.topic;
    let mut report = base_report(facts, observed, &plan);
    let idle = || Ok(Requeue::await_change());
    if let Some(blocker) = &plan.blocker {
        report.verdict = Verdict::not_ready(blocker.reason, blocker.message.clone());
        return Outcome::new(report, idle());
    }
    if !facts.enforce() {
        report.verdict = observe_only_verdict(&plan, report.observed.is_some());
        let mut outcome = Outcome::new(report, idle());
        if !plan.drift.is_empty() && drift_changed(topic, &plan.drift) {
            outcome.events.push(Event::warning(
                "DriftDetected",
                "Observe",
                format!("Observe mode, not corrected: {}", describe(&plan.drift)),
            ));
        }
        return outcome;
    }
    report.reassignment = reassignment_status(topic, &plan, facts.cluster, facts.now);
    report.verdict = verdict(&plan, &plan.held);
    let next = if plan.reassignment.is_some() {
        Ok(reassigning_requeue(facts.resync))
    } else {
        idle()
    };
    Outcome::new(report, next)
}

/// The report of an apply (src/cluster/apply.rs), whichever path it took. `observed` is what the
/// snapshot showed and `plan` the plan made on it.
pub fn applied(
    facts: &Facts,
    observed: Option<ObservedTopic>,
    plan: TopicPlan,
    applied: Applied,
) -> Outcome {
    match applied {
        Applied::Replanned { observed, plan } => planned(facts, observed, plan),
        Applied::Written(written) => after_write(facts, *written),
        Applied::Created {
            target,
            created,
            after,
        } => {
            let mut report = not_synced(facts.topic, Verdict::ready(""));
            report.mode = facts.mode();
            report.deletion = Some(deletion_in_effect(
                facts.topic,
                facts.cluster,
                !created.existed,
            ));
            let mut events = vec![];
            if !created.existed {
                let action = Action::CreateTopic {
                    topic: target.clone(),
                    assignments: created.assignments.clone(),
                };
                events = applied_events(&TopicPlan::default(), &[action], None, true);
            }
            let (Some(fresh), Some(after)) = (created.observed, after) else {
                report.sources = Some(target.sources);
                report.warnings = warnings(&target, None, &BTreeMap::new());
                report.verdict = creating(&target.name);
                return Outcome {
                    report,
                    events,
                    next: Ok(Requeue::requeue(SETTLING)),
                };
            };
            report.drift = after.drift.clone();
            report.kept = after.kept.clone();
            report.ignored = after.ignored.clone();
            report.warnings = advice(&after, Some(&fresh));
            report.sources = after.target.as_ref().map(|t| t.sources);
            report.reassignment =
                reassignment_status(facts.topic, &after, facts.cluster, facts.now);
            report.verdict = verdict(&after, &after.held);
            report.observed = Some(fresh);
            Outcome {
                report,
                events,
                next: look_again(&after, facts.resync),
            }
        }
        Applied::ReadFailed(error) => Outcome::new(
            not_synced(
                facts.topic,
                Verdict::not_ready(error.reason(), error.to_string()),
            ),
            Err(error),
        ),
        Applied::WriteFailed { error, fresh } => {
            let report = match fresh {
                Some((observed, plan)) => base_report(facts, observed, &plan),
                None => {
                    let mut report = base_report(facts, observed, &plan);
                    // Nothing of this reconcile's view is confirmed: only the failure is said.
                    report.observed = None;
                    report.drift = vec![];
                    report
                }
            };
            write_failed(facts.topic, report, error)
        }
    }
}

/// The report after a write: Kafka's state as read back, what was reverted, and the declared
/// values Kafka did not take (remembered, so they are not written again and again).
fn after_write(facts: &Facts, written: Written) -> Outcome {
    let Written {
        observed,
        plan,
        applied,
        read_back,
    } = written;
    let topic = facts.topic;
    let spec_changed = facts.spec_changed();
    let mut report = base_report(facts, observed.clone(), &plan);
    let mut events = applied_events(&plan, &applied, observed.as_ref(), spec_changed);
    let (fresh, after) = match read_back {
        Ok(read) => read,
        Err(error) => {
            report.verdict = Verdict::not_ready(error.reason(), error.to_string());
            return Outcome {
                report,
                events,
                next: Ok(Requeue::requeue(facts.resync)),
            };
        }
    };
    let set_configs = configs_set(&applied);
    report.held = after
        .drift
        .iter()
        .filter(|d| {
            set_configs
                .get(d.field.strip_prefix("config.").unwrap_or_default())
                .is_some_and(|v| *v == d.desired)
        })
        .chain(after.held.iter())
        .cloned()
        .collect();
    report.held.dedup();
    report.kept = after.kept.clone();
    report.ignored = after.ignored.clone();
    report.warnings = advice(&after, fresh.as_ref());
    report.sources = after.target.as_ref().map(|t| t.sources).or(report.sources);
    if observed.is_none() {
        // The topic was missing and this reconcile created it.
        report.deletion = Some(deletion_in_effect(topic, facts.cluster, true));
    }
    if observed.is_some() && !spec_changed {
        report.reverted = plan
            .drift
            .iter()
            .filter(|d| !after.drift.contains(d) && d.field.starts_with("config."))
            .cloned()
            .collect();
    }
    report.drift = after.drift.clone();
    report.observed = fresh.clone();
    if fresh.is_none() {
        // Kafka answers CreateTopics before every broker's metadata has the topic.
        report.verdict = creating(&topic.kafka_topic_name());
        return Outcome {
            report,
            events,
            next: Ok(Requeue::requeue(SETTLING)),
        };
    }
    let finishing = topic
        .status
        .as_ref()
        .is_some_and(|s| s.reassignment.is_some());
    if finishing
        && after.reassignment.is_none()
        && applied
            .iter()
            .any(|a| matches!(a, Action::ElectLeaders { .. } | Action::Unthrottle(_)))
    {
        let rf = after.target.as_ref().map_or(0, |t| t.replication_factor);
        events.push(Event::normal("ReassignmentCompleted", "Apply", format!(
            "every partition has {rf} replicas with a full ISR; throttles removed, preferred leaders elected")));
    }
    report.reassignment = reassignment_status(topic, &after, facts.cluster, facts.now);
    report.verdict = verdict(&after, &report.held);
    Outcome {
        report,
        events,
        next: look_again(&after, facts.resync),
    }
}

/// When to look again after a write: soon while replicas move or something is left to do;
/// otherwise on the next change.
fn look_again(after: &TopicPlan, resync: Duration) -> Next {
    Ok(if after.reassignment.is_some() {
        reassigning_requeue(resync)
    } else if after.actions.is_empty() {
        Requeue::await_change()
    } else {
        Requeue::requeue(SETTLING)
    })
}

/// A write Kafka refused, or whose answer was lost: the reason in the status (with a Warning
/// event when it is new). When retrying can help, the reconcile fails, so the controller
/// retries it with exponential backoff (src/controller/backoff.rs: 1 s doubling to 5 minutes,
/// forgotten on success); otherwise it waits for the declaration to change.
fn write_failed(topic: &KafkaTopic, mut report: TopicReport, error: KafkaError) -> Outcome {
    let verdict = Verdict::not_ready(error.reason(), error.to_string());
    let mut events = vec![];
    if ready_reason(topic).as_deref() != Some(verdict.reason.as_str()) {
        events.push(Event::warning(
            verdict.reason.as_str(),
            "Apply",
            verdict.message.clone(),
        ));
    }
    report.verdict = verdict;
    let next = if error.is_retriable() {
        Err(error)
    } else {
        Ok(Requeue::await_change())
    };
    Outcome {
        report,
        events,
        next,
    }
}

fn creating(name: &str) -> Verdict {
    Verdict::not_ready(
        Reason::Creating,
        format!("topic {name} created; waiting for it to appear in Kafka's metadata"),
    )
}

/// The report from what was observed and planned, before any verdict.
fn base_report(facts: &Facts, observed: Option<ObservedTopic>, plan: &TopicPlan) -> TopicReport {
    TopicReport {
        topic_name: facts.topic.kafka_topic_name(),
        verdict: Verdict::ready(""),
        warnings: advice(plan, observed.as_ref()),
        deletion: observed
            .is_some()
            .then(|| deletion_in_effect(facts.topic, facts.cluster, false)),
        observed,
        drift: plan.drift.clone(),
        reverted: vec![],
        reassignment: None,
        mode: facts.mode(),
        kept: plan.kept.clone(),
        ignored: plan.ignored.clone(),
        held: plan.held.clone(),
        sources: plan.target.as_ref().map(|t| t.sources),
    }
}

/// Advice about what the topic is to be (nothing when the plan stopped before working it out).
pub fn advice(plan: &TopicPlan, observed: Option<&ObservedTopic>) -> Vec<String> {
    plan.target
        .as_ref()
        .map(|target| warnings(target, observed, &plan.kept))
        .unwrap_or_default()
}

/// What the status remembers, for the plan.
pub fn memory(topic: &KafkaTopic, cluster: &KafkaCluster) -> Memory {
    let status = topic.status.as_ref();
    Memory {
        sources: status
            .and_then(|s| s.value_sources)
            .map(|v| sources_from_status(&v)),
        finishing: status.is_some_and(|s| s.reassignment.is_some()),
        topic_id: status.and_then(|s| s.topic_id.clone()),
        kept: status
            .map(|s| s.kept_overrides.iter().map(|k| k.name.clone()).collect())
            .unwrap_or_default(),
        keep_adopted: cluster.spec.policy.adopted_overrides == AdoptedOverridesPolicy::Keep,
        ignored: IgnoredKeys::new(&cluster.spec.policy.ignored_config_keys),
        held: status
            .map(|s| {
                s.unapplied_configs
                    .iter()
                    .map(|d| Drift {
                        field: d.field.clone(),
                        desired: d.desired.clone(),
                        observed: d.observed.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

pub fn reassignment_status(
    topic: &KafkaTopic,
    plan: &TopicPlan,
    cluster: &KafkaCluster,
    now: DateTime<Utc>,
) -> Option<ReassignmentStatus> {
    let progress = plan.reassignment.as_ref()?;
    let started = topic
        .status
        .as_ref()
        .and_then(|s| s.reassignment.as_ref())
        .map(|r| r.started)
        .unwrap_or(now);
    Some(ReassignmentStatus {
        target_replication_factor: progress.target_replication_factor,
        partitions_done: progress.done as i32,
        partitions_remaining: progress.remaining as i32,
        partitions_moving: progress.moving as i32,
        partitions_waiting: progress.waiting as i32,
        throttle_bytes_per_second: cluster.spec.reassignment.throttle_bytes_per_second,
        started,
    })
}

fn observe_only_verdict(plan: &TopicPlan, exists: bool) -> Verdict {
    if !exists {
        Verdict::not_ready(
            Reason::NotCreated,
            "the topic does not exist in Kafka; Observe mode does not create it",
        )
    } else if !plan.drift.is_empty() {
        Verdict::not_ready(
            Reason::Drifted,
            format!("Observe mode, not corrected: {}", describe(&plan.drift)),
        )
    } else {
        Verdict::ready("Kafka matches the declaration (Observe mode)")
    }
}

/// Ready, or the first reason it is not: replicas moving, declared configs Kafka did not take,
/// a min.insync.replicas raise waiting for the ISR.
pub fn verdict(plan: &TopicPlan, held: &[Drift]) -> Verdict {
    if plan.reassignment.is_none() && !held.is_empty() {
        return Verdict::not_ready(
            Reason::ConfigNotApplied,
            format!(
                "Kafka reports a different value right after the operator set it, so it is not written again until the declaration or Kafka's value changes: {}",
                describe(held)
            ),
        );
    }
    if let (None, Some(waiting)) = (&plan.reassignment, &plan.min_isr_waiting) {
        return Verdict::not_ready(waiting.reason, waiting.message.clone());
    }
    match &plan.reassignment {
        Some(p) => Verdict::not_ready(
            Reason::Reassigning,
            format!(
                "moving replicas to replication factor {}: {} of {} partitions done, {} moving, {} waiting for a free slot",
                p.target_replication_factor,
                p.done,
                p.done + p.remaining,
                p.moving,
                p.waiting
            ),
        ),
        None => Verdict::ready("Kafka matches the declaration"),
    }
}

pub fn ready_reason(topic: &KafkaTopic) -> Option<String> {
    topic
        .status
        .as_ref()
        .and_then(|s| find(&s.conditions, "Ready"))
        .map(|c| c.reason.clone())
}

fn drift_changed(topic: &KafkaTopic, drift: &[Drift]) -> bool {
    let previous: Vec<(String, String, String)> = topic
        .status
        .as_ref()
        .map(|s| {
            s.drift
                .iter()
                .map(|d| (d.field.clone(), d.desired.clone(), d.observed.clone()))
                .collect()
        })
        .unwrap_or_default();
    let now: Vec<(String, String, String)> = drift
        .iter()
        .map(|d| (d.field.clone(), d.desired.clone(), d.observed.clone()))
        .collect();
    previous != now
}

mod paused;
pub use paused::paused;

#[cfg(test)]
mod tests;
