//! Kafka access behind one narrow interface, [`KafkaAdmin`]. The reconcile logic only ever sees
//! this trait and the plain data of [`crate::model`]; the real implementation speaks the Kafka
//! protocol directly (see docs/architecture.md for why not librdkafka's admin API).

pub mod address;
pub mod admin;
pub mod connection;
pub mod error;
#[cfg(test)]
pub mod fake;
pub mod fence;
#[cfg(test)]
mod hostile_peer_tests;
pub mod instrumented;
pub mod scram;
pub mod security;

use std::collections::BTreeMap;

use async_trait::async_trait;

pub use admin::KafkaProtocolAdmin;
pub use error::KafkaError;

use crate::model::{ClusterSnapshot, ConfigChanges, ObservedTopic, TopicTarget};

/// A topic to create: the declaration with defaults applied and the replica sets of partitions
/// 0.. (empty: Kafka places them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicToCreate {
    pub topic: TopicTarget,
    pub assignments: Vec<Vec<i32>>,
}

/// Partitions to add to one topic: the new total and the new partitions' replica sets (empty:
/// Kafka places them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionGrowth {
    pub topic: String,
    pub total: i32,
    pub assignments: Vec<Vec<i32>>,
}

/// What a read of named topics found: the topics described, and those Kafka answered with an
/// error for (each with its own).
#[derive(Debug, Default)]
pub struct Described {
    pub topics: BTreeMap<String, ObservedTopic>,
    pub errors: BTreeMap<String, KafkaError>,
}

/// What a deletion by topic id did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deletion {
    Deleted,
    /// Kafka knows no topic with that id: it is gone already, or its name now belongs to a topic
    /// created again since (another id). Nothing was deleted; Kafka is read again before
    /// anything else is decided.
    UnknownId,
}

/// What a topic's deletion would take away from its users: the consumer groups with committed
/// offsets on it, and when its newest record was written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicUse {
    /// Groups with a committed offset on any of its partitions, sorted.
    pub groups: Vec<String>,
    /// The largest record timestamp of any partition (milliseconds since the epoch), None when
    /// it holds no record.
    pub last_write_ms: Option<i64>,
}

/// Each topic's own result of a batched write, by topic name.
pub type TopicResults = BTreeMap<String, Result<(), KafkaError>>;

/// What the operator needs from a Kafka cluster. No call here ever creates a topic implicitly:
/// metadata requests are sent with `allow_auto_topic_creation = false`.
#[async_trait]
pub trait KafkaAdmin: Send + Sync {
    /// The whole cluster (brokers, every topic with its partitions and configs) in a handful of
    /// batched requests, whatever the number of topics.
    async fn snapshot(&self) -> Result<ClusterSnapshot, KafkaError>;

    /// The named topics only, with each topic's own error apart: topics that do not exist are
    /// in neither map; a topic Kafka would not describe (not authorized, no leader yet right
    /// after its creation) is in the errors. The outer error is for the requests themselves.
    async fn describe_topics_each(&self, names: &[String]) -> Result<Described, KafkaError>;

    /// The named topics only; topics that do not exist are absent from the result. A topic Kafka
    /// refused to describe fails the call (for reads of one topic; batches use
    /// [`KafkaAdmin::describe_topics_each`]).
    async fn describe_topics(
        &self,
        names: &[String],
    ) -> Result<BTreeMap<String, ObservedTopic>, KafkaError> {
        let mut described = self.describe_topics_each(names).await?;
        match names.iter().find_map(|n| described.errors.remove(n)) {
            Some(error) => Err(error),
            None => Ok(described.topics),
        }
    }

    /// Creates topics, each with all its configs, in as few requests as Kafka allows. Kafka
    /// validates each topic whole, so an invalid config creates nothing of that topic and
    /// fails that topic alone: the answer holds each topic's own result (Kafka's message
    /// included). The outer error is for the request itself (unreachable, answer lost). With
    /// `validate_only`, Kafka only checks.
    async fn create_topics(
        &self,
        topics: &[TopicToCreate],
        validate_only: bool,
    ) -> Result<TopicResults, KafkaError>;

    /// One topic: [`KafkaAdmin::create_topics`] with a single entry.
    async fn create_topic(
        &self,
        topic: &TopicTarget,
        assignments: &[Vec<i32>],
        validate_only: bool,
    ) -> Result<(), KafkaError> {
        let one = [TopicToCreate {
            topic: topic.clone(),
            assignments: assignments.to_vec(),
        }];
        self.create_topics(&one, validate_only)
            .await?
            .remove(&topic.name)
            .unwrap_or(Ok(()))
    }

    /// Grows topics, in as few CreatePartitions requests as Kafka allows, with each topic's own
    /// result (one refused topic fails alone). The outer error is for the request itself.
    async fn grow_topics(&self, growths: &[PartitionGrowth]) -> Result<TopicResults, KafkaError>;

    /// One topic: [`KafkaAdmin::grow_topics`] with a single entry.
    async fn create_partitions(
        &self,
        topic: &str,
        total: i32,
        assignments: &[Vec<i32>],
    ) -> Result<(), KafkaError> {
        let one = [PartitionGrowth {
            topic: topic.to_string(),
            total,
            assignments: assignments.to_vec(),
        }];
        self.grow_topics(&one)
            .await?
            .remove(topic)
            .unwrap_or(Ok(()))
    }

    /// Sets and removes dynamic overrides of one broker (replication throttle rates).
    async fn alter_broker_configs(
        &self,
        broker: i32,
        changes: &ConfigChanges,
    ) -> Result<(), KafkaError>;

    /// Starts moving partitions to new replica sets (partition -> replicas, preferred leader first).
    async fn alter_reassignments(
        &self,
        topic: &str,
        moves: &BTreeMap<i32, Vec<i32>>,
    ) -> Result<(), KafkaError>;

    /// Makes the first replica of each partition its leader again.
    async fn elect_preferred_leaders(
        &self,
        topic: &str,
        partitions: &[i32],
    ) -> Result<(), KafkaError>;

    /// Sets and removes dynamic overrides of topics, in as few IncrementalAlterConfigs requests
    /// as Kafka allows; each topic's changes are atomic and have their own result (an invalid
    /// value fails that topic alone, with Kafka's message). With `validate_only`, Kafka only
    /// checks.
    async fn alter_topics_configs(
        &self,
        changes: &[(String, ConfigChanges)],
        validate_only: bool,
    ) -> Result<TopicResults, KafkaError>;

    /// One topic: [`KafkaAdmin::alter_topics_configs`] with a single entry.
    async fn alter_topic_configs(
        &self,
        topic: &str,
        changes: &ConfigChanges,
        validate_only: bool,
    ) -> Result<(), KafkaError> {
        let one = [(topic.to_string(), changes.clone())];
        self.alter_topics_configs(&one, validate_only)
            .await?
            .remove(topic)
            .unwrap_or(Ok(()))
    }

    /// Deletes the topic with Kafka's topic id `topic_id` (as observed) and its data; `topic` is
    /// its name, for messages. By id, never by name: a topic someone deleted and created again
    /// under the same name since the id was observed is another topic, and this never deletes it.
    async fn delete_topic(&self, topic: &str, topic_id: &str) -> Result<Deletion, KafkaError>;

    /// Whether `topic` (as just described) is in use: when its newest record was written, from
    /// each partition's leader (ListOffsets for the largest timestamp), and, with `groups`, the
    /// consumer groups with committed offsets on it, from every broker's own groups
    /// (ListGroups, OffsetFetch). A partition without a leader or a broker that does not answer
    /// fails the call: silence is never taken for "not in use".
    async fn topic_use(&self, topic: &ObservedTopic, groups: bool) -> Result<TopicUse, KafkaError>;

    /// Requests sent so far, by API name (for metrics and for tests that prove no write was sent).
    fn request_counts(&self) -> BTreeMap<&'static str, u64>;
}

/// The APIs that change Kafka. Everything else only reads.
pub const WRITE_APIS: [&str; 6] = [
    "CreateTopics",
    "CreatePartitions",
    "IncrementalAlterConfigs",
    "DeleteTopics",
    "AlterPartitionReassignments",
    "ElectLeaders",
];

/// Writes to one broker's own configs (replication throttle rates), counted apart from the
/// topic writes above.
pub const BROKER_CONFIG_WRITES: &str = "IncrementalAlterConfigs(broker)";

/// How many write requests about topics `admin` has sent (validate-only requests included: they
/// are sent). Broker throttle-rate writes are not in it: see [`BROKER_CONFIG_WRITES`].
pub fn write_count(admin: &dyn KafkaAdmin) -> u64 {
    let counts = admin.request_counts();
    WRITE_APIS
        .iter()
        .map(|api| counts.get(api).copied().unwrap_or(0))
        .sum()
}
