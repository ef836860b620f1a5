//! The KafkaCluster resource: how to reach one Kafka cluster, the defaults its topics inherit,
//! and the policy the operator follows there.
// kube's printcolumn(...) attributes repeat keys like `type_`, which clippy mistakes for
// duplicated attributes.
#![allow(clippy::duplicated_attributes)]

use chrono::{DateTime, Utc};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::condition::Condition;
use super::deletion_policy::{BulkDeletionPolicy, InUseDeletionPolicy};
use super::topic::DeletionPolicy;

/// How to reach a Kafka cluster and the policy the operator applies to its topics.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "kafka.topic-operator.dev",
    version = "v1alpha1",
    kind = "KafkaCluster",
    namespaced,
    status = "KafkaClusterStatus",
    // `kc` is Strimzi's KafkaConnect: see KafkaTopic for the names chosen (docs/api.md).
    shortname = "ktocluster",
    category = "kto",
    doc = "A Kafka cluster the operator manages topics in: how to reach it, the defaults its topics inherit, and the policy the operator follows there.",
    printcolumn(
        name = "BROKERS",
        type_ = "integer",
        json_path = ".status.brokerCount",
        description = "Brokers seen in the cluster's metadata"
    ),
    printcolumn(
        name = "AUTO-CREATE",
        type_ = "string",
        json_path = ".status.autoCreate",
        description = "Disabled, or the brokers that allow auto-creation of topics"
    ),
    printcolumn(
        name = "MANAGED",
        type_ = "integer",
        json_path = ".status.managedTopics",
        description = "Topics declared by a KafkaTopic"
    ),
    printcolumn(
        name = "UNMANAGED",
        type_ = "integer",
        json_path = ".status.unmanagedTopics",
        description = "Topics in Kafka that no KafkaTopic declares (internal topics excepted)"
    ),
    printcolumn(
        name = "READY",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "STATUS",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "AGE",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct KafkaClusterSpec {
    /// Kafka bootstrap servers as host:port, an IPv6 address in brackets ([fd00::1]:9092). The
    /// operator talks to these addresses only.
    #[schemars(
        length(min = 1, max = 64),
        inner(
            length(max = 255),
            regex(pattern = r"^([^:\s\[\]]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$")
        )
    )]
    // The pattern's refusal quotes only the regex: say what to write for the common mistake.
    #[x_kube(validation = Rule::new("self.all(s, s.startsWith('[') || s.indexOf(':') == s.lastIndexOf(':'))").message("an IPv6 address goes in brackets, as in [fd00::1]:9092: without them the port cannot be told apart"))]
    pub bootstrap_servers: Vec<String>,

    /// How to connect: PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL, with credentials and
    /// CA certificates from Secrets in the KafkaCluster's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<SecuritySpec>,

    /// Values the operator gives the fields a KafkaTopic leaves out when it creates the topic
    /// (broker defaults are never used). Creation only: for a topic that exists, a field left out
    /// is what Kafka has, and changing these changes no existing topic.
    #[serde(default)]
    pub topic_defaults: TopicDefaults,

    /// What the operator may do in this cluster.
    #[serde(default)]
    pub policy: ClusterPolicy,

    /// How replicas are moved when a topic's replication factor changes.
    #[serde(default)]
    pub reassignment: ReassignmentPolicy,
}

/// How replicas are moved when a topic's replication factor changes.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReassignmentPolicy {
    /// Replication throttle while replicas move, in bytes per second, set as
    /// leader/follower.replication.throttled.rate on the brokers involved and removed when the
    /// moves are done. 0 means unthrottled. Default 52428800 (50 MiB/s).
    #[serde(default = "default_throttle")]
    #[schemars(range(min = 0))]
    pub throttle_bytes_per_second: i64,
    /// At most this many partitions move at once in the whole cluster. Default 10.
    #[serde(default = "default_max_moves")]
    #[schemars(range(min = 1, max = 10000))]
    pub max_concurrent_moves: i32,
}

fn default_throttle() -> i64 {
    50 * 1024 * 1024
}
fn default_max_moves() -> i32 {
    10
}

impl Default for ReassignmentPolicy {
    fn default() -> Self {
        ReassignmentPolicy {
            throttle_bytes_per_second: default_throttle(),
            max_concurrent_moves: default_max_moves(),
        }
    }
}

/// How the operator connects to Kafka.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(self.protocol == 'SASL_PLAINTEXT' || self.protocol == 'SASL_SSL') == has(self.sasl)").message("sasl is required with SASL_PLAINTEXT and SASL_SSL, and only allowed with them"))]
pub struct SecuritySpec {
    /// PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, as in Kafka's security.protocol.
    pub protocol: SecurityProtocol,
    /// TLS settings for SSL and SASL_SSL (default: trust the system's CA certificates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSpec>,
    /// SASL settings for SASL_PLAINTEXT and SASL_SSL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl: Option<SaslSpec>,
}

/// Kafka's security.protocol.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SecurityProtocol {
    #[serde(rename = "PLAINTEXT")]
    Plaintext,
    #[serde(rename = "SSL")]
    Ssl,
    #[serde(rename = "SASL_PLAINTEXT")]
    SaslPlaintext,
    #[serde(rename = "SASL_SSL")]
    SaslSsl,
}

/// TLS trust and client identity.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TlsSpec {
    /// A Secret key holding the PEM CA certificate(s) that signed the brokers' certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<SecretKeyRef>,
    /// A kubernetes.io/tls Secret (keys tls.crt and tls.key) with a client certificate, for
    /// brokers that require mutual TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert_secret_ref: Option<SecretRef>,
}

/// SASL mechanism and credentials.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SaslSpec {
    /// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    pub mechanism: SaslMechanismName,
    /// A Secret with the keys `username` and `password`.
    pub credentials_secret_ref: SecretRef,
    /// PLAIN without TLS (protocol SASL_PLAINTEXT) sends the password as is, readable by anyone
    /// on the network path, so it is refused unless this is true. Default false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_plaintext_password: bool,
}

/// A SASL mechanism.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SaslMechanismName {
    #[serde(rename = "PLAIN")]
    Plain,
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

/// A Secret in the KafkaCluster's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SecretRef {
    /// The Secret's name.
    #[schemars(length(min = 1))]
    pub name: String,
}

/// One key of a Secret in the KafkaCluster's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SecretKeyRef {
    /// The Secret's name.
    #[schemars(length(min = 1))]
    pub name: String,
    /// The key within the Secret. Default ca.crt.
    #[serde(default = "default_ca_key")]
    pub key: String,
}

fn default_ca_key() -> String {
    "ca.crt".into()
}

/// Defaults for the topics the operator creates in this cluster. The topic's own fields win;
/// existing topics never take them.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.minInSyncReplicas <= self.replicationFactor").message("minInSyncReplicas must not exceed replicationFactor"))]
pub struct TopicDefaults {
    /// Partitions of a new topic. Default 3.
    #[serde(default = "default_partitions")]
    #[schemars(range(min = 1))]
    pub partitions: i32,
    /// Replication factor of a new topic. Default 3.
    #[serde(default = "default_replication_factor")]
    #[schemars(range(min = 1, max = 32767))]
    pub replication_factor: i32,
    /// min.insync.replicas of a new topic. Default 2: with acks=all, one broker may fail without
    /// losing writes or availability.
    #[serde(default = "default_min_isr")]
    #[schemars(range(min = 1, max = 32767))]
    pub min_in_sync_replicas: i32,
    /// What happens to a topic the operator created when its KafkaTopic is deleted. Default
    /// Retain. A topic that existed before its KafkaTopic is deleted only if the KafkaTopic itself
    /// says deletionPolicy: Delete.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

fn default_partitions() -> i32 {
    3
}
fn default_replication_factor() -> i32 {
    3
}
fn default_min_isr() -> i32 {
    2
}

impl Default for TopicDefaults {
    fn default() -> Self {
        TopicDefaults {
            partitions: default_partitions(),
            replication_factor: default_replication_factor(),
            min_in_sync_replicas: default_min_isr(),
            deletion_policy: DeletionPolicy::default(),
        }
    }
}

/// What the operator may do in this cluster.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClusterPolicy {
    /// Enforce (default): make Kafka match the declarations. Observe: compute and report drift
    /// and health, change nothing in Kafka.
    #[serde(default)]
    pub mode: PolicyMode,
    /// Forbid (default): brokers that allow auto.create.topics.enable are reported with
    /// AutoCreateDisabled=False, a Warning event and a metric. Allow: reported, not warned about.
    /// The operator itself never auto-creates a topic either way.
    #[serde(default)]
    pub auto_create_topics: AutoCreatePolicy,
    /// Report (default): topics in Kafka without a KafkaTopic are counted and listed in the
    /// status and exported as a metric. Ignore: not reported.
    #[serde(default)]
    pub unmanaged_topics: UnmanagedPolicy,
    /// What happens to a topic's overrides that its KafkaTopic does not declare when the
    /// operator first manages an existing topic. Keep (default): they stay as they are, listed
    /// in the topic's status.keptOverrides with a warning (a compacted topic stays compacted).
    /// Remove: they are removed like any other drift. Either way, overrides added later behind
    /// the operator's back are drift.
    #[serde(default)]
    pub adopted_overrides: AdoptedOverridesPolicy,
    /// Which other namespaces may reference this cluster, and with which topic names.
    /// KafkaTopics in the KafkaCluster's own namespace may always use it. Empty (default): no
    /// other namespace may. A KafkaTopic outside these rules gets Ready=False/Forbidden and
    /// nothing happens in Kafka.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1000))]
    pub tenants: Vec<TenantRule>,
    /// Topic config keys other tools own (a balancer's or a tiering tool's): on every topic of
    /// this cluster they are never drift, never set and never removed, and they are listed in
    /// the topic's status.ignoredConfigs. An exact key, or a prefix ending in `*`
    /// (`confluent.tier.*`). A KafkaTopic that declares one gets Ready=False/InvalidSpec.
    /// min.insync.replicas (spec.minInSyncReplicas) and the throttled-replica lists (the
    /// operator's only while it moves replicas) cannot be listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 100),
        inner(length(min = 2, max = 255), regex(pattern = r"^[A-Za-z0-9._-]+\*?$"))
    )]
    #[x_kube(validation = Rule::new("self.all(k, ['min.insync.replicas', 'leader.replication.throttled.replicas', 'follower.replication.throttled.replicas'].all(o, k.endsWith('*') ? !o.startsWith(k.substring(0, size(k) - 1)) : k != o))").message("min.insync.replicas and the throttled-replica lists cannot be ignored: the first is spec.minInSyncReplicas, and the operator sets the others only while it moves replicas and leaves them alone otherwise"))]
    pub ignored_config_keys: Vec<String>,
    /// How many of this cluster's topics may be deleted within a window before every further
    /// deletion is held for a person to confirm (a namespace deleted, a prune, a kustomize
    /// mistake): docs/deletion.md.
    #[serde(default)]
    pub bulk_deletion: BulkDeletionPolicy,
    /// What makes a topic in use, which holds its deletion until its KafkaTopic names it in a
    /// confirmation: committed offsets of a consumer group, records written recently
    /// (docs/deletion.md).
    #[serde(default)]
    pub in_use_deletion: InUseDeletionPolicy,
}

/// Lets KafkaTopics in one namespace (or every namespace) reference the cluster.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantRule {
    /// A namespace name, or "*" for every namespace.
    #[schemars(length(min = 1, max = 63))]
    pub namespace: String,
    /// Kafka topic names must start with one of these (for example "team-a."). Empty: any name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topic_prefixes: Vec<String>,
}

/// Whether brokers may auto-create topics.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum AutoCreatePolicy {
    #[default]
    Forbid,
    Allow,
}

/// Whether undeclared overrides of an adopted topic are kept.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum AdoptedOverridesPolicy {
    #[default]
    Keep,
    Remove,
}

/// Whether topics without a KafkaTopic are reported.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum UnmanagedPolicy {
    #[default]
    Report,
    Ignore,
}

/// Enforce changes Kafka; Observe only reports.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum PolicyMode {
    #[default]
    Enforce,
    Observe,
}

/// What the operator last saw of the cluster.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
// Until the operator writes the first status, the apiserver shows observedGeneration -1 (a
// default applies on read): kstatus, and so Flux, read a new or unwatched object as InProgress,
// not as Current (what it reads an object without status or conditions as).
#[schemars(extend("default" = {"observedGeneration": -1}))]
pub struct KafkaClusterStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Kafka's cluster id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// Number of brokers in the metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker_count: Option<i32>,
    /// Brokers as Kafka's metadata lists them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub brokers: Vec<BrokerStatus>,
    /// Brokers with auto.create.topics.enable=true.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub auto_create_brokers: Vec<i32>,
    /// "Disabled", or "Enabled on 1,2" (the AUTO-CREATE column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_create: Option<String>,
    /// Topics declared by KafkaTopics referencing this cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_topics: Option<i32>,
    /// Topics in Kafka that no KafkaTopic declares (internal topics such as __consumer_offsets excepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmanaged_topics: Option<i32>,
    /// The first unmanaged topic names, sorted (at most 20).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmanaged_topic_names: Vec<String>,
    /// The topic config keys the operator leaves alone on every topic (policy.ignoredConfigKeys).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored_config_keys: Vec<String>,
    /// Ready: the operator reaches the cluster. AutoCreateDisabled: no broker auto-creates topics.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// When this status last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<DateTime<Utc>>,
}

impl KafkaClusterStatus {
    /// Whether the operator has written this status: a new object shows only the apiserver's
    /// default (`observedGeneration: -1`) until then.
    pub fn is_written(&self) -> bool {
        !self.conditions.is_empty()
    }
}

/// One broker of the cluster.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BrokerStatus {
    /// Broker (node) id.
    pub id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// broker.rack, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rack: Option<String>,
    /// Why the operator could not read what only this broker answers (its own configs: throttle
    /// rates, auto.create.topics.enable) in the last look: unreachable, slow or not authorized.
    /// The rest of the cluster is managed as usual.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}
