//! Status conditions shared by KafkaCluster and KafkaTopic, shaped like `metav1.Condition` so
//! that kubectl, Argo CD and other tools read them the usual way.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::reason::{Reason, Settling};

/// One aspect of the resource's state, as `metav1.Condition`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Type of the condition: Ready, Reconciling, Stalled, Drifted, Degraded (topics); Ready,
    /// Reconciling, Stalled, AutoCreateDisabled (clusters).
    #[serde(rename = "type")]
    pub type_: String,
    /// "True", "False" or "Unknown".
    pub status: String,
    /// One CamelCase word saying why, for machines and at-a-glance reading.
    pub reason: String,
    /// What happened and what to do about it, for people.
    #[serde(default)]
    pub message: String,
    /// When the status last changed (not the reason or message).
    pub last_transition_time: DateTime<Utc>,
    /// The metadata.generation this condition was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl Condition {
    pub fn new(type_: &str, status: bool, reason: Reason, message: impl Into<String>) -> Self {
        Condition {
            type_: type_.to_string(),
            status: if status { "True" } else { "False" }.to_string(),
            reason: reason.as_str().to_string(),
            message: message.into(),
            // Replaced by `merge_conditions` with the previous time when the status is unchanged.
            last_transition_time: Utc::now(),
            observed_generation: None,
        }
    }

    pub fn is_true(&self) -> bool {
        self.status == "True"
    }
}

/// Finds a condition by type.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// The condition kstatus (Flux's health checks) reads beside `ready`: while Ready is not True,
/// `Reconciling=True` or `Stalled=True` with Ready's reason and message, as the reason's
/// [`Reason::settling`] says; none while Ready is True (kstatus's abnormal-true convention: an
/// absent condition means nothing is abnormal). Built with Ready, so it costs no write of its own.
pub fn settling(ready: &Condition) -> Option<Condition> {
    if ready.is_true() {
        return None;
    }
    let type_ = match Reason::parse(&ready.reason).map(Reason::settling) {
        Some(Settling::Stalled) => "Stalled",
        // An unknown reason is not declared hopeless: waiting tools keep waiting, up to their
        // own timeout.
        _ => "Reconciling",
    };
    Some(Condition {
        type_: type_.to_string(),
        status: "True".to_string(),
        ..ready.clone()
    })
}

/// Keeps the previous `lastTransitionTime` of every condition whose status did not change, so
/// that a status computed afresh compares equal to the stored one when nothing happened.
pub fn merge_conditions(previous: &[Condition], mut next: Vec<Condition>) -> Vec<Condition> {
    for c in &mut next {
        if let Some(old) = find(previous, &c.type_)
            && old.status == c.status
        {
            c.last_transition_time = old.last_transition_time;
        }
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_status_keeps_its_transition_time() {
        let mut old = Condition::new("Ready", true, Reason::InSync, "");
        old.last_transition_time = DateTime::from_timestamp(1_000, 0).unwrap();
        let merged = merge_conditions(
            std::slice::from_ref(&old),
            vec![Condition::new(
                "Ready",
                true,
                Reason::InSync,
                "other message",
            )],
        );
        assert_eq!(merged[0].last_transition_time, old.last_transition_time);
        assert_eq!(merged[0].message, "other message");
    }

    #[test]
    fn a_ready_condition_gets_reconciling_or_stalled_beside_it_as_its_reason_says() {
        let kinds = |ready: &Condition| settling(ready).map(|c| (c.type_, c.status, c.reason));
        let ready = Condition::new("Ready", true, Reason::InSync, "in sync");
        assert_eq!(kinds(&ready), None);
        let creating = Condition::new("Ready", false, Reason::Creating, "created");
        assert_eq!(
            kinds(&creating),
            Some(("Reconciling".into(), "True".into(), "Creating".into()))
        );
        let invalid = Condition::new(
            "Ready",
            false,
            Reason::InvalidSpec,
            "minInSyncReplicas 4 > 3",
        );
        let stalled = settling(&invalid).unwrap();
        assert_eq!(
            (
                stalled.type_.as_str(),
                stalled.status.as_str(),
                stalled.reason.as_str()
            ),
            ("Stalled", "True", "InvalidSpec")
        );
        assert_eq!(stalled.message, "minInSyncReplicas 4 > 3");
    }

    #[test]
    fn a_stalled_condition_keeps_its_transition_time_while_the_reason_changes() {
        let mut old = settling(&Condition::new("Ready", false, Reason::InvalidSpec, "a")).unwrap();
        old.last_transition_time = DateTime::from_timestamp(1_000, 0).unwrap();
        let next = settling(&Condition::new("Ready", false, Reason::Conflict, "b")).unwrap();
        let merged = merge_conditions(std::slice::from_ref(&old), vec![next]);
        assert_eq!(merged[0].last_transition_time, old.last_transition_time);
        assert_eq!(merged[0].reason, "Conflict");
    }

    #[test]
    fn changed_status_gets_a_new_transition_time() {
        let mut old = Condition::new("Ready", true, Reason::InSync, "");
        old.last_transition_time = DateTime::from_timestamp(1_000, 0).unwrap();
        let merged = merge_conditions(
            &[old.clone()],
            vec![Condition::new("Ready", false, Reason::Conflict, "")],
        );
        assert!(merged[0].last_transition_time > old.last_transition_time);
    }
}
