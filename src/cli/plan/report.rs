//! What `plan` found, as `-o json` prints it (schema version 1, docs/cli.md), and the exit code
//! a CI job acts on. A field is only ever added to this schema; a change of meaning or a removal
//! takes a new `schemaVersion`.

use serde::Serialize;

/// Nothing would change.
pub const EXIT_NO_CHANGES: i32 = 0;
/// The plan could not be made: unreadable files, bad flags, Kafka or the apiserver unreachable.
pub const EXIT_ERROR: i32 = 1;
/// Changes to review, none destructive, none refused.
pub const EXIT_CHANGES: i32 = 2;
/// A Kafka topic would be deleted, or a manifest would be refused (invalid, forbidden, in
/// conflict, blocked, or naming another KafkaCluster).
pub const EXIT_DESTRUCTIVE_OR_REFUSED: i32 = 3;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct PlanReport {
    pub schema_version: u32,
    pub exit_code: i32,
    /// Something would change (a topic created or changed, a KafkaTopic removed).
    pub changes: bool,
    /// A Kafka topic would be deleted.
    pub destructive: bool,
    /// A manifest would be refused.
    pub refused: bool,
    pub cluster: ClusterEntry,
    pub live: LiveEntry,
    pub topics: Vec<TopicEntry>,
    /// Live KafkaTopics the files leave out.
    pub removals: Vec<Removal>,
}

#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ClusterEntry {
    pub namespace: String,
    pub name: String,
    /// `apiserver`, or the file it was read from.
    pub source: String,
    /// Enforce or Observe.
    pub mode: String,
}

#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct LiveEntry {
    /// Whether the live KafkaTopics were read (without them, no removal and no conflict with a
    /// KafkaTopic outside the files can be shown).
    pub read: bool,
    /// The namespaces whose KafkaTopics the files hold in full (`*`: every namespace).
    pub scope: Vec<String>,
}

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    Create,
    Update,
    NoChange,
    Refused,
}

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum RefusalKind {
    /// The manifest names another KafkaCluster than the one planned against: not planned.
    ClusterRefMismatch,
    /// Declared twice in the files, or invalid (the operator's `Ready=False/InvalidSpec`).
    Invalid,
    /// The KafkaCluster's tenancy rules do not allow it (`Forbidden`).
    Forbidden,
    /// Another KafkaTopic owns the Kafka topic (`Conflict`).
    Conflict,
    /// Valid, but the plan cannot be carried out (e.g. `PartitionDecreaseNotAllowed`).
    Blocked,
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Refusal {
    pub kind: RefusalKind,
    /// The Ready reason the operator would report (none for a clusterRef mismatch).
    pub reason: Option<String>,
    pub message: String,
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ActionEntry {
    pub kind: &'static str,
    pub description: String,
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DriftEntry {
    pub field: String,
    pub declared: String,
    pub in_kafka: String,
}

#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct TopicEntry {
    pub namespace: String,
    pub name: String,
    /// file#document
    pub source: String,
    pub topic_name: String,
    pub outcome: Outcome,
    pub refusal: Option<Refusal>,
    pub actions: Vec<ActionEntry>,
    pub drift: Vec<DriftEntry>,
    /// What stays as Kafka has it, and what waits.
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
}

#[derive(Serialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Removal {
    pub namespace: String,
    pub name: String,
    pub topic_name: String,
    /// The deletion policy the operator would act on: Delete or Retain.
    pub deletion_policy: String,
    /// Whether removing the KafkaTopic deletes the Kafka topic and its data.
    pub deletes_topic: bool,
    pub message: String,
}

impl PlanReport {
    /// Sets the verdict and exit code from the topics and removals.
    pub fn conclude(mut self) -> Self {
        self.refused = self.topics.iter().any(|t| t.outcome == Outcome::Refused);
        self.destructive = self.removals.iter().any(|r| r.deletes_topic);
        self.changes = !self.removals.is_empty()
            || self
                .topics
                .iter()
                .any(|t| matches!(t.outcome, Outcome::Create | Outcome::Update));
        self.exit_code = if self.refused || self.destructive {
            EXIT_DESTRUCTIVE_OR_REFUSED
        } else if self.changes {
            EXIT_CHANGES
        } else {
            EXIT_NO_CHANGES
        };
        self
    }
}
