//! The KafkaTopic resource: one Kafka topic, declared.
// kube's printcolumn(...) attributes repeat keys like `type_`, which clippy mistakes for
// duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kube::{CustomResource, KubeSchema};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use super::condition::Condition;

/// One Kafka topic, declared. The operator creates it explicitly, grows its partitions, keeps
/// its configs as declared and reports drift and health in the status.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "kafka.topic-operator.dev",
    version = "v1alpha1",
    kind = "KafkaTopic",
    namespaced,
    status = "KafkaTopicStatus",
    // Strimzi (which many clusters run beside this) owns `kt` and the category `strimzi`; a
    // category named `kafka` would take `kubectl get kafka` from Strimzi's Kafka (docs/api.md).
    shortname = "ktotopic",
    category = "kto",
    doc = "One Kafka topic, declared: the operator creates it, grows its partitions, keeps its configs as declared and reports drift and health in the status.",
    validation = Rule::new("has(self.spec.topicName) || size(self.metadata.name) <= 249").message("metadata.name is longer than Kafka's 249-character limit: set spec.topicName"),
    printcolumn(name = "CLUSTER", type_ = "string", json_path = ".spec.clusterRef.name"),
    printcolumn(name = "TOPIC", type_ = "string", json_path = ".status.topicName"),
    printcolumn(name = "PARTITIONS", type_ = "integer", json_path = ".status.partitions", description = "Partitions observed in Kafka"),
    printcolumn(name = "RF", type_ = "integer", json_path = ".status.replicationFactor", description = "Replication factor observed in Kafka (the lowest of any partition)"),
    printcolumn(name = "MIN-ISR", type_ = "integer", json_path = ".status.minInSyncReplicas", description = "min.insync.replicas in effect"),
    printcolumn(name = "READY", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "STATUS", type_ = "string", json_path = ".status.state", description = "One word: InSync, Creating, Drifted, Degraded, or why the topic is not Ready"),
    printcolumn(name = "URP", type_ = "integer", json_path = ".status.underReplicatedPartitions", priority = 1, description = "Under-replicated partitions"),
    printcolumn(name = "OFFLINE", type_ = "integer", json_path = ".status.offlinePartitions", priority = 1, description = "Partitions without a leader"),
    printcolumn(name = "UNDER-MIN-ISR", type_ = "integer", json_path = ".status.underMinIsrPartitions", priority = 1, description = "Partitions whose ISR is below min.insync.replicas (acks=all writes fail)"),
    printcolumn(name = "LAST-SYNC", type_ = "date", json_path = ".status.lastSyncTime", priority = 1),
    printcolumn(name = "AGE", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.minInSyncReplicas) || !has(self.replicationFactor) || self.minInSyncReplicas <= self.replicationFactor").message("minInSyncReplicas must not exceed replicationFactor"))]
#[x_kube(validation = Rule::new("has(self.topicName) == has(oldSelf.topicName) && (!has(self.topicName) || self.topicName == oldSelf.topicName)").message("topicName is immutable"))]
#[x_kube(validation = Rule::new("!has(oldSelf.partitions) || (has(self.partitions) && self.partitions >= oldSelf.partitions)").message("partitions can only grow: Kafka cannot remove partitions"))]
pub struct KafkaTopicSpec {
    /// The KafkaCluster this topic lives in. Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("clusterRef is immutable"))]
    pub cluster_ref: ClusterRef,

    /// The topic's name in Kafka. Defaults to metadata.name; set it for names Kubernetes does not
    /// allow, such as `account_event`. Immutable. Kafka's rules: letters, digits, '.', '_', '-';
    /// at most 249 characters; not '.' or '..'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 249), regex(pattern = r"^[a-zA-Z0-9._-]+$"))]
    #[x_kube(validation = Rule::new("self != '.' && self != '..'").message("topic name must not be '.' or '..'"))]
    #[x_kube(validation = Rule::new("!(self in ['__consumer_offsets', '__transaction_state', '__share_group_state', '__cluster_metadata', '__remote_log_metadata'])").message("this is one of Kafka's internal topics: the operator never manages it"))]
    pub topic_name: Option<String>,

    /// Number of partitions. Can only grow: Kafka cannot remove partitions. Growing moves keys to
    /// other partitions. Default: the KafkaCluster's topicDefaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000000))]
    pub partitions: Option<i32>,

    /// Copies of each partition. Default: the KafkaCluster's topicDefaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 32767))]
    pub replication_factor: Option<i32>,

    /// min.insync.replicas: how many replicas must have a write before an acks=all producer is
    /// answered. Must not exceed replicationFactor. Default: the KafkaCluster's topicDefaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 32767))]
    pub min_in_sync_replicas: Option<i32>,

    /// Any other topic config (retention.ms, cleanup.policy, ...). Values may be strings,
    /// integers, numbers or booleans. This is the whole truth for the topic's dynamic configs:
    /// an override set in Kafka but absent here is drift, and is removed in Enforce mode.
    /// `min.insync.replicas` belongs in spec.minInSyncReplicas, not here; the replication
    /// throttle lists (`leader/follower.replication.throttled.replicas`) belong to the operator,
    /// which sets them while it moves replicas.
    ///
    /// Refused at admission (crds/kafkatopic-config-policy.yaml), each with the key named: an
    /// empty key, a null, a list or an object value, min.insync.replicas and the two throttle
    /// lists.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, ConfigValue>,

    /// Retain (default) leaves the Kafka topic in place when this resource is deleted. Delete
    /// deletes the topic and its data (the operator adds a finalizer for that).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
}

/// A reference to a KafkaCluster.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRef {
    /// Name of the KafkaCluster.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Namespace of the KafkaCluster. Default: the KafkaTopic's own namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// What happens to the Kafka topic when its KafkaTopic is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum DeletionPolicy {
    /// Leave the topic and its data in Kafka.
    #[default]
    Retain,
    /// Delete the topic and its data from Kafka.
    Delete,
}

/// A topic config value as written in YAML: a string, an integer, a number or a boolean.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(untagged)]
pub enum ConfigValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    /// Anything else (a list, a map): kept so it can be reported as invalid, never sent to Kafka.
    Other(serde_json::Value),
}

impl ConfigValue {
    /// The value as Kafka expects it, or None for a value that is not a scalar.
    pub fn to_kafka_string(&self) -> Option<String> {
        match self {
            ConfigValue::Bool(b) => Some(b.to_string()),
            ConfigValue::Int(i) => Some(i.to_string()),
            ConfigValue::Float(f) => Some(f.to_string()),
            ConfigValue::Text(s) => Some(s.clone()),
            ConfigValue::Other(_) => None,
        }
    }
}

impl JsonSchema for ConfigValue {
    fn schema_name() -> Cow<'static, str> {
        "ConfigValue".into()
    }

    fn inline_schema() -> bool {
        true
    }

    // A structural schema cannot say "string or integer or boolean"; the operator rejects other
    // values with Ready=False/InvalidSpec.
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // Nullable so that a null reaches admission, which refuses it with the key named,
        // instead of being dropped without a word.
        json_schema!({
            "description": "A topic config value: string, integer, number or boolean.",
            "nullable": true,
            "x-kubernetes-preserve-unknown-fields": true
        })
    }
}

/// What the operator last saw of the topic in Kafka and what it did about it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
// Until the operator writes the first status, the apiserver shows observedGeneration -1 (a
// default applies on read): kstatus, and so Flux, read a new or unwatched object as InProgress,
// not as Current (what it reads an object without status or conditions as).
#[schemars(extend("default" = {"observedGeneration": -1}))]
pub struct KafkaTopicStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The topic's name in Kafka.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_name: Option<String>,
    /// Kafka's topic id: changes only if the topic was deleted and created again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_id: Option<String>,
    /// Partitions observed in Kafka.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<i32>,
    /// Replication factor observed in Kafka (the lowest of any partition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_factor: Option<i32>,
    /// min.insync.replicas in effect (the topic's override, else the broker's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_in_sync_replicas: Option<i32>,
    /// Partitions with fewer in-sync replicas than replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub under_replicated_partitions: Option<i32>,
    /// Partitions without a leader: neither readable nor writable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline_partitions: Option<i32>,
    /// Partitions whose in-sync replicas are fewer than min.insync.replicas: acks=all writes fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub under_min_isr_partitions: Option<i32>,
    /// Differences between the declaration and Kafka, as last observed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<DriftEntry>,
    /// Progress of a replication-factor change (replicas being moved); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reassignment: Option<ReassignmentStatus>,
    /// Overrides the topic had when the operator first saw it that the spec does not declare:
    /// kept as they are, never drift (with the KafkaCluster's policy.adoptedOverrides Keep, the
    /// default). Declare one in spec.config to manage it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept_overrides: Vec<KeptOverride>,
    /// Overrides the topic has of keys the KafkaCluster's policy.ignoredConfigKeys names: other
    /// tools own them; never drift, never set or removed by the operator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored_configs: Vec<KeptOverride>,
    /// Declared configs Kafka still reported differently right after the operator wrote them.
    /// They are not written again until the declaration or Kafka's value changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unapplied_configs: Vec<DriftEntry>,
    /// Where the values in effect came from. A field the spec leaves out is filled from the
    /// KafkaCluster's topicDefaults only when the operator creates the topic (TopicDefaults); on a
    /// topic that existed it is what Kafka has (Kafka). Either way it is never changed: a later
    /// change of topicDefaults changes no existing topic. Spec: declared, and kept so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_sources: Option<ValueSources>,
    /// The deletion policy in effect: spec.deletionPolicy, else the topicDefaults' when the
    /// operator created the topic, else Retain (a topic that existed is not the operator's to
    /// delete unless the spec says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// Advice about the declaration (for example: replication factor 1 has no redundancy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The reason given in the annotation kafka.topic-operator.dev/minimums-exemption: this
    /// KafkaTopic may be below the organisation's minimums the admission policy enforces
    /// (docs/deployment.md, "Organisation minimums").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimums_exemption: Option<String>,
    /// The cluster's policy mode when this status was written: Enforce, or Observe (nothing is
    /// changed; Argo CD shows the topic as Suspended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// One word for `kubectl get`: InSync, Creating, Drifted, Degraded, or the reason the topic is not Ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Ready, Drifted, Degraded.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// When this status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<DateTime<Utc>>,
}

/// The annotation that exempts a KafkaTopic from the organisation's minimums at admission; its
/// value is the reason, shown in the status.
pub const MINIMUMS_EXEMPTION_ANNOTATION: &str = "kafka.topic-operator.dev/minimums-exemption";

impl KafkaTopicStatus {
    /// Whether the operator has written this status: a new object shows only the apiserver's
    /// default (`observedGeneration: -1`) until then.
    pub fn is_written(&self) -> bool {
        !self.conditions.is_empty()
    }
}

/// Where each value in effect came from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValueSources {
    pub partitions: ValueSource,
    pub replication_factor: ValueSource,
    pub min_in_sync_replicas: ValueSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<ValueSource>,
}

/// Where a value came from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ValueSource {
    /// Declared in the spec; the operator keeps Kafka at it.
    Spec,
    /// Left out of the spec; filled from the KafkaCluster's topicDefaults when the operator
    /// created the topic, and never changed since.
    TopicDefaults,
    /// Left out of the spec on a topic that already existed: as Kafka has it, never changed.
    Kafka,
}

/// Progress of a replication-factor change.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReassignmentStatus {
    /// The replication factor the partitions are moving to.
    pub target_replication_factor: i32,
    /// Partitions at the target with a full ISR.
    pub partitions_done: i32,
    /// Partitions still to move or catch up.
    pub partitions_remaining: i32,
    /// Partitions moving now.
    pub partitions_moving: i32,
    /// Partitions waiting for a free slot (the cluster's maxConcurrentMoves).
    pub partitions_waiting: i32,
    /// Replication throttle in bytes/s while moving (0: unthrottled).
    pub throttle_bytes_per_second: i64,
    /// When the operator started this change.
    pub started: DateTime<Utc>,
}

/// A topic config override and its value: one kept from before the operator managed the topic,
/// or one of a key the KafkaCluster ignores.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeptOverride {
    /// The config's name.
    pub name: String,
    /// Its value in Kafka.
    pub value: String,
}

/// One difference between the declaration and Kafka.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriftEntry {
    /// partitions, replicationFactor, or config.<name>.
    pub field: String,
    /// The declared value ("<unset>" when the declaration has none).
    pub desired: String,
    /// The value in Kafka ("<unset>" when Kafka has none).
    pub observed: String,
}

impl KafkaTopic {
    /// The topic's name in Kafka: spec.topicName, else metadata.name.
    pub fn kafka_topic_name(&self) -> String {
        self.spec
            .topic_name
            .clone()
            .unwrap_or_else(|| self.metadata.name.clone().unwrap_or_default())
    }
}
