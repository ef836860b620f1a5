//! Turns what a topic reconcile found and did into the KafkaTopic status. Pure: the controller
//! decides whether to write it (only when it differs from the stored one).

use crate::api::Reason;
use crate::api::condition::{Condition, find, merge_conditions, settling};
use std::collections::BTreeMap;

use crate::api::{DeletionPolicy, DriftEntry, KafkaTopicStatus, KeptOverride, ReassignmentStatus};
use crate::model::{ObservedTopic, ValueSource, ValueSources};
use crate::plan::Drift;
use crate::plan::health::health;

/// The Ready verdict of one reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub ready: bool,
    pub reason: Reason,
    pub message: String,
}

impl Verdict {
    pub fn ready(message: impl Into<String>) -> Self {
        Verdict {
            ready: true,
            reason: Reason::InSync,
            message: message.into(),
        }
    }
    pub fn not_ready(reason: Reason, message: impl Into<String>) -> Self {
        Verdict {
            ready: false,
            reason,
            message: message.into(),
        }
    }
}

/// Everything a reconcile learned about one topic.
#[derive(Clone, Debug, PartialEq)]
pub struct TopicReport {
    pub topic_name: String,
    pub verdict: Verdict,
    /// The topic in Kafka after any change (None: missing, or unknown because Kafka was not read).
    pub observed: Option<ObservedTopic>,
    /// Differences left after any change.
    pub drift: Vec<Drift>,
    /// Differences found behind the operator's back and corrected in this reconcile.
    pub reverted: Vec<Drift>,
    pub warnings: Vec<String>,
    /// Progress of a replication-factor change under way.
    pub reassignment: Option<ReassignmentStatus>,
    /// The cluster's policy mode (None when the cluster is unknown).
    pub mode: Option<String>,
    /// Undeclared overrides kept from before the operator managed the topic.
    pub kept: BTreeMap<String, String>,
    /// Overrides of keys the cluster leaves to other tools.
    pub ignored: BTreeMap<String, String>,
    /// Declared configs Kafka did not take after the operator's write.
    pub held: Vec<Drift>,
    /// Where the values in effect came from (None: not worked out this time; the status keeps
    /// what it said).
    pub sources: Option<ValueSources>,
    /// The deletion policy in effect and where it came from (None: as the status says).
    pub deletion: Option<(DeletionPolicy, ValueSource)>,
}

fn source_to_status(source: ValueSource) -> crate::api::ValueSource {
    match source {
        ValueSource::Spec => crate::api::ValueSource::Spec,
        ValueSource::TopicDefaults => crate::api::ValueSource::TopicDefaults,
        ValueSource::Kafka => crate::api::ValueSource::Kafka,
    }
}

fn source_from_status(source: crate::api::ValueSource) -> ValueSource {
    match source {
        crate::api::ValueSource::Spec => ValueSource::Spec,
        crate::api::ValueSource::TopicDefaults => ValueSource::TopicDefaults,
        crate::api::ValueSource::Kafka => ValueSource::Kafka,
    }
}

/// What the status remembers of where the values came from, for the plan.
pub fn sources_from_status(status: &crate::api::ValueSources) -> ValueSources {
    ValueSources {
        partitions: source_from_status(status.partitions),
        replication_factor: source_from_status(status.replication_factor),
        min_in_sync_replicas: source_from_status(status.min_in_sync_replicas),
    }
}

/// The status's account of where the values came from: this reconcile's, else the previous one.
fn value_sources(
    report: &TopicReport,
    previous: Option<&KafkaTopicStatus>,
) -> Option<crate::api::ValueSources> {
    let previous = previous.and_then(|p| p.value_sources);
    let sources = match report.sources {
        Some(s) => crate::api::ValueSources {
            partitions: source_to_status(s.partitions),
            replication_factor: source_to_status(s.replication_factor),
            min_in_sync_replicas: source_to_status(s.min_in_sync_replicas),
            deletion_policy: previous.and_then(|p| p.deletion_policy),
        },
        None => previous?,
    };
    Some(crate::api::ValueSources {
        deletion_policy: report
            .deletion
            .map(|(_, source)| source_to_status(source))
            .or(sources.deletion_policy),
        ..sources
    })
}

impl TopicReport {
    /// A report that says only `verdict`: nothing observed, nothing planned.
    pub fn new(topic_name: String, verdict: Verdict) -> Self {
        TopicReport {
            topic_name,
            verdict,
            observed: None,
            drift: vec![],
            reverted: vec![],
            warnings: vec![],
            reassignment: None,
            mode: None,
            kept: BTreeMap::new(),
            ignored: BTreeMap::new(),
            held: vec![],
            sources: None,
            deletion: None,
        }
    }
}

pub fn topic_status(
    report: &TopicReport,
    generation: Option<i64>,
    previous: Option<&KafkaTopicStatus>,
) -> KafkaTopicStatus {
    let previous_conditions = previous
        .map(|p| p.conditions.as_slice())
        .unwrap_or_default();
    let observed = report.observed.as_ref();
    let health = observed.map(health);

    let mut conditions = vec![Condition::new(
        "Ready",
        report.verdict.ready,
        report.verdict.reason,
        report.verdict.message.clone(),
    )];
    conditions.extend(settling(&conditions[0]));
    conditions.push(drifted_condition(report, previous_conditions));
    if let Some(h) = health {
        conditions.push(if h.offline > 0 {
            Condition::new("Degraded", true, Reason::OfflinePartitions, format!(
                "{} partition(s) have no leader: neither readable nor writable", h.offline))
        } else if h.under_min_isr > 0 {
            Condition::new("Degraded", true, Reason::UnderMinIsr, format!(
                "{} partition(s) have fewer in-sync replicas than min.insync.replicas: acks=all writes fail", h.under_min_isr))
        } else if h.under_replicated > 0 {
            Condition::new("Degraded", true, Reason::UnderReplicated, format!(
                "{} partition(s) have fewer in-sync replicas than replicas", h.under_replicated))
        } else {
            Condition::new("Degraded", false, Reason::Healthy, "every partition has a leader and a full ISR")
        });
    }
    for c in &mut conditions {
        c.observed_generation = generation;
    }
    let conditions = merge_conditions(previous_conditions, conditions);

    let degraded = health.is_some_and(|h| !h.is_healthy());
    let state = if !report.verdict.ready {
        report.verdict.reason.to_string()
    } else if degraded {
        "Degraded".to_string()
    } else {
        "InSync".to_string()
    };

    KafkaTopicStatus {
        observed_generation: generation,
        topic_name: Some(report.topic_name.clone()),
        topic_id: observed.and_then(|t| t.topic_id.clone()),
        partitions: observed.map(|t| t.partitions.len() as i32),
        replication_factor: observed.and_then(|t| t.replication_factor()),
        min_in_sync_replicas: observed.and_then(|t| t.min_in_sync_replicas()),
        under_replicated_partitions: health.map(|h| h.under_replicated),
        offline_partitions: health.map(|h| h.offline),
        under_min_isr_partitions: health.map(|h| h.under_min_isr),
        drift: drift_entries(&report.drift),
        kept_overrides: name_values(&report.kept),
        ignored_configs: name_values(&report.ignored),
        unapplied_configs: drift_entries(&report.held),
        value_sources: value_sources(report, previous),
        deletion_policy: report
            .deletion
            .map(|(policy, _)| policy)
            .or(previous.and_then(|p| p.deletion_policy)),
        warnings: report.warnings.clone(),
        minimums_exemption: None,
        reassignment: report.reassignment.clone(),
        mode: report.mode.clone(),
        state: Some(state),
        conditions,
        last_sync_time: previous.and_then(|p| p.last_sync_time),
    }
}

fn name_values(configs: &BTreeMap<String, String>) -> Vec<KeptOverride> {
    configs
        .iter()
        .map(|(name, value)| KeptOverride {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

fn drift_entries(drift: &[Drift]) -> Vec<DriftEntry> {
    drift
        .iter()
        .map(|d| DriftEntry {
            field: d.field.clone(),
            desired: d.desired.clone(),
            observed: d.observed.clone(),
        })
        .collect()
}

fn drifted_condition(report: &TopicReport, previous: &[Condition]) -> Condition {
    if !report.drift.is_empty() {
        return Condition::new(
            "Drifted",
            true,
            Reason::DriftDetected,
            describe(&report.drift),
        );
    }
    if !report.reverted.is_empty() {
        return Condition::new(
            "Drifted",
            false,
            Reason::Reverted,
            format!(
                "reverted changes made outside the operator: {}",
                describe(&report.reverted)
            ),
        );
    }
    // Keep the account of the last revert until the next drift: it says what happened and when.
    match find(previous, "Drifted") {
        Some(old) if !old.is_true() => old.clone(),
        _ => Condition::new(
            "Drifted",
            false,
            Reason::NoDrift,
            "Kafka matches the declaration",
        ),
    }
}

/// `field: desired X, observed Y; ...`
pub fn describe(drift: &[Drift]) -> String {
    drift
        .iter()
        .map(|d| format!("{}: declared {}, found {}", d.field, d.desired, d.observed))
        .collect::<Vec<_>>()
        .join("; ")
}

/// True when `next` says something `previous` did not (ignoring lastSyncTime).
pub fn status_changed(previous: Option<&KafkaTopicStatus>, next: &KafkaTopicStatus) -> bool {
    match previous {
        None => true,
        Some(p) => {
            let mut p = p.clone();
            p.last_sync_time = next.last_sync_time;
            p != *next
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ObservedConfig, ObservedPartition};

    fn observed(isr: &[i32]) -> ObservedTopic {
        ObservedTopic {
            defaults: Default::default(),
            name: "t".into(),
            topic_id: Some("abc".into()),
            is_internal: false,
            partitions: vec![ObservedPartition {
                id: 0,
                leader: 1,
                replicas: vec![1, 2, 3],
                isr: isr.to_vec(),
                adding: vec![],
                removing: vec![],
            }],
            configs: [(
                "min.insync.replicas".to_string(),
                ObservedConfig {
                    value: Some("2".into()),
                    is_topic_override: true,
                    kind: Default::default(),
                },
            )]
            .into(),
        }
    }

    fn report(isr: &[i32]) -> TopicReport {
        TopicReport {
            observed: Some(observed(isr)),
            ..TopicReport::new("t".into(), Verdict::ready("in sync"))
        }
    }

    #[test]
    fn an_in_sync_healthy_topic_reads_in_sync() {
        let s = topic_status(&report(&[1, 2, 3]), Some(1), None);
        assert_eq!(s.state.as_deref(), Some("InSync"));
        assert_eq!(
            (s.partitions, s.replication_factor, s.min_in_sync_replicas),
            (Some(1), Some(3), Some(2))
        );
        assert_eq!(s.under_replicated_partitions, Some(0));
        assert!(!find(&s.conditions, "Degraded").unwrap().is_true());
    }

    #[test]
    fn lost_replicas_show_as_degraded() {
        let s = topic_status(&report(&[1]), Some(1), None);
        assert_eq!(s.state.as_deref(), Some("Degraded"));
        assert_eq!(s.under_min_isr_partitions, Some(1));
        assert_eq!(
            find(&s.conditions, "Degraded").unwrap().reason,
            "UnderMinIsr"
        );
    }

    #[test]
    fn the_same_report_twice_is_not_a_change() {
        let first = topic_status(&report(&[1, 2, 3]), Some(1), None);
        let second = topic_status(&report(&[1, 2, 3]), Some(1), Some(&first));
        assert!(!status_changed(Some(&first), &second));
        let third = topic_status(&report(&[1, 2]), Some(1), Some(&second));
        assert!(status_changed(Some(&second), &third));
    }

    #[test]
    fn a_revert_is_remembered_until_the_next_drift() {
        let mut r = report(&[1, 2, 3]);
        r.reverted = vec![Drift {
            field: "config.retention.ms".into(),
            desired: "1".into(),
            observed: "2".into(),
        }];
        let s1 = topic_status(&r, Some(1), None);
        let c = find(&s1.conditions, "Drifted").unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("False", "Reverted")
        );
        assert!(c.message.contains("config.retention.ms"));
        let s2 = topic_status(&report(&[1, 2, 3]), Some(1), Some(&s1));
        assert_eq!(find(&s2.conditions, "Drifted").unwrap().reason, "Reverted");
        assert!(!status_changed(Some(&s1), &s2));
    }

    #[test]
    fn a_topic_that_cannot_succeed_is_stalled_and_one_on_its_way_is_reconciling() {
        let kstatus = |s: &KafkaTopicStatus| {
            ["Reconciling", "Stalled"]
                .into_iter()
                .filter_map(|t| find(&s.conditions, t))
                .map(|c| (c.type_.clone(), c.status.clone(), c.reason.clone()))
                .collect::<Vec<_>>()
        };
        let invalid = TopicReport::new(
            "t".into(),
            Verdict::not_ready(
                Reason::InvalidSpec,
                "minInSyncReplicas 4 > replicationFactor 3",
            ),
        );
        let stalled = topic_status(&invalid, Some(2), None);
        assert_eq!(
            kstatus(&stalled),
            vec![("Stalled".into(), "True".into(), "InvalidSpec".into())]
        );
        let c = find(&stalled.conditions, "Stalled").unwrap();
        assert_eq!(c.message, "minInSyncReplicas 4 > replicationFactor 3");
        assert_eq!(c.observed_generation, Some(2));
        // Computed again from the same report: equal, so nothing is written.
        let again = topic_status(&invalid, Some(2), Some(&stalled));
        assert!(!status_changed(Some(&stalled), &again));

        let mut moving = report(&[1, 2, 3]);
        moving.verdict = Verdict::not_ready(Reason::Reassigning, "moving replicas");
        let reconciling = topic_status(&moving, Some(3), Some(&stalled));
        assert_eq!(
            kstatus(&reconciling),
            vec![("Reconciling".into(), "True".into(), "Reassigning".into())]
        );
        let ready = topic_status(&report(&[1, 2, 3]), Some(3), Some(&reconciling));
        assert_eq!(kstatus(&ready), vec![]);
    }
}
