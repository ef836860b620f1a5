//! A [`KafkaAdmin`] that counts and times every operation of another one (Prometheus metrics).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use super::{
    Deletion, Described, KafkaAdmin, KafkaError, PartitionGrowth, TopicResults, TopicToCreate,
    TopicUse,
};
use crate::metrics::{ClusterLabels, Metrics};
use crate::model::{ClusterSnapshot, ConfigChanges, ObservedTopic};

pub struct InstrumentedAdmin {
    inner: Arc<dyn KafkaAdmin>,
    metrics: Arc<Metrics>,
    cluster: ClusterLabels,
}

impl InstrumentedAdmin {
    pub fn new(inner: Arc<dyn KafkaAdmin>, metrics: Arc<Metrics>, cluster: ClusterLabels) -> Self {
        InstrumentedAdmin {
            inner,
            metrics,
            cluster,
        }
    }

    fn record<T>(&self, operation: &str, started: Instant, result: &Result<T, KafkaError>) {
        self.metrics.kafka_request(
            &self.cluster,
            operation,
            result.is_ok(),
            started.elapsed().as_secs_f64(),
        );
    }
}

macro_rules! timed {
    ($self:ident, $op:literal, $call:expr) => {{
        let started = Instant::now();
        let result = $call.await;
        $self.record($op, started, &result);
        result
    }};
}

#[async_trait]
impl KafkaAdmin for InstrumentedAdmin {
    async fn snapshot(&self) -> Result<ClusterSnapshot, KafkaError> {
        timed!(self, "snapshot", self.inner.snapshot())
    }
    async fn describe_topics_each(&self, names: &[String]) -> Result<Described, KafkaError> {
        timed!(
            self,
            "describe_topics",
            self.inner.describe_topics_each(names)
        )
    }
    async fn create_topics(
        &self,
        topics: &[TopicToCreate],
        validate_only: bool,
    ) -> Result<TopicResults, KafkaError> {
        timed!(
            self,
            "create_topics",
            self.inner.create_topics(topics, validate_only)
        )
    }
    async fn grow_topics(&self, growths: &[PartitionGrowth]) -> Result<TopicResults, KafkaError> {
        timed!(self, "create_partitions", self.inner.grow_topics(growths))
    }
    async fn alter_topics_configs(
        &self,
        changes: &[(String, ConfigChanges)],
        validate_only: bool,
    ) -> Result<TopicResults, KafkaError> {
        timed!(
            self,
            "alter_topic_configs",
            self.inner.alter_topics_configs(changes, validate_only)
        )
    }
    async fn alter_broker_configs(
        &self,
        broker: i32,
        changes: &ConfigChanges,
    ) -> Result<(), KafkaError> {
        timed!(
            self,
            "alter_broker_configs",
            self.inner.alter_broker_configs(broker, changes)
        )
    }
    async fn alter_reassignments(
        &self,
        topic: &str,
        moves: &BTreeMap<i32, Vec<i32>>,
    ) -> Result<(), KafkaError> {
        timed!(
            self,
            "alter_reassignments",
            self.inner.alter_reassignments(topic, moves)
        )
    }
    async fn elect_preferred_leaders(
        &self,
        topic: &str,
        partitions: &[i32],
    ) -> Result<(), KafkaError> {
        timed!(
            self,
            "elect_preferred_leaders",
            self.inner.elect_preferred_leaders(topic, partitions)
        )
    }
    async fn delete_topic(&self, topic: &str, topic_id: &str) -> Result<Deletion, KafkaError> {
        timed!(
            self,
            "delete_topic",
            self.inner.delete_topic(topic, topic_id)
        )
    }
    async fn topic_use(&self, topic: &ObservedTopic, groups: bool) -> Result<TopicUse, KafkaError> {
        timed!(self, "topic_use", self.inner.topic_use(topic, groups))
    }
    fn request_counts(&self) -> BTreeMap<&'static str, u64> {
        self.inner.request_counts()
    }
}
