//! [`KafkaAdmin`] over the Kafka protocol: each operation as the requests it takes, batched.

use crate::util::sync::lock;
use std::collections::BTreeMap;

use async_trait::async_trait;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::elect_leaders_request::TopicPartitions as ElectTopicPartitions;
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, BrokerId, CreatePartitionsRequest, CreateTopicsRequest,
    ElectLeadersRequest,
};
use tracing::info;

use crate::kafka::error::{KafkaError, check};
use crate::kafka::{
    Deletion, Described, KafkaAdmin, PartitionGrowth, TopicResults, TopicToCreate, TopicUse,
};
use crate::model::{Broker, ClusterSnapshot, ConfigChanges, ObservedTopic};

use super::write::creatable_topic;
use super::*;

#[async_trait]
impl KafkaAdmin for KafkaProtocolAdmin {
    async fn snapshot(&self) -> Result<ClusterSnapshot, KafkaError> {
        let metadata = self.metadata(None).await?;
        let mut brokers: Vec<_> = metadata
            .brokers
            .iter()
            .map(|b| Broker {
                id: b.node_id.0,
                host: b.host.to_string(),
                port: b.port,
                rack: b.rack.as_ref().map(|r| r.to_string()),
            })
            .collect();
        brokers.sort_by_key(|b| b.id);
        let (topics, topic_errors) = self.observe_topics(&metadata, true).await?;
        let mut broker_overrides = BTreeMap::new();
        let mut auto_create_brokers = Vec::new();
        let mut broker_errors = BTreeMap::new();
        // Each broker answers for its own configs, all at once; one that cannot be read (down,
        // unreachable address, not authorized) is named, and the rest of the snapshot stands.
        let answers =
            futures::future::join_all(brokers.iter().map(|b| self.broker_configs(b.id))).await;
        for (b, answer) in brokers.iter().zip(answers) {
            match answer {
                Ok((throttles, auto_create)) => {
                    broker_overrides.insert(b.id, throttles);
                    if auto_create {
                        auto_create_brokers.push(b.id);
                    }
                }
                Err(error) => {
                    broker_errors.insert(b.id, error.to_string());
                }
            }
        }
        Ok(ClusterSnapshot {
            cluster_id: metadata.cluster_id.as_ref().map(|c| c.to_string()),
            brokers,
            topics,
            broker_overrides,
            auto_create_brokers,
            broker_errors,
            topic_errors: topic_errors
                .into_iter()
                .map(|(name, e)| (name, (e.reason(), e.to_string())))
                .collect(),
        })
    }

    async fn describe_topics_each(&self, names: &[String]) -> Result<Described, KafkaError> {
        let metadata = self.metadata(Some(names)).await?;
        let (topics, errors) = self.observe_topics(&metadata, false).await?;
        Ok(Described { topics, errors })
    }

    async fn create_topics(
        &self,
        topics: &[TopicToCreate],
        validate_only: bool,
    ) -> Result<TopicResults, KafkaError> {
        let mut results = BTreeMap::new();
        let mut creatable = Vec::new();
        for t in topics {
            match creatable_topic(t) {
                Ok(c) => creatable.push(c),
                Err(e) => {
                    results.insert(t.topic.name.clone(), Err(e));
                }
            }
        }
        for chunk in creatable.chunks(CREATE_TOPICS_BATCH) {
            if !validate_only {
                let names: Vec<&str> = chunk.iter().map(|c| c.name.0.as_str()).collect();
                info!(count = chunk.len(), topics = ?names, "kafka write: create topics");
            }
            let (response, _) = self
                .call("CreateTopics", (5, 7), Kind::of(validate_only), |_| {
                    CreateTopicsRequest::default()
                        .with_topics(chunk.to_vec())
                        .with_timeout_ms(OPERATION_TIMEOUT_MS)
                        .with_validate_only(validate_only)
                })
                .await?;
            results.extend(per_topic(
                "CreateTopics",
                response
                    .topics
                    .iter()
                    .map(|r| (r.name.0.to_string(), r.error_code, r.error_message.as_ref())),
            ));
        }
        Ok(results)
    }

    async fn grow_topics(&self, growths: &[PartitionGrowth]) -> Result<TopicResults, KafkaError> {
        let mut results = TopicResults::new();
        let topics: Vec<CreatePartitionsTopic> = growths
            .iter()
            .map(|g| {
                let assignments = (!g.assignments.is_empty()).then(|| {
                    g.assignments
                        .iter()
                        .map(|set| {
                            CreatePartitionsAssignment::default()
                                .with_broker_ids(set.iter().map(|b| BrokerId(*b)).collect())
                        })
                        .collect::<Vec<_>>()
                });
                CreatePartitionsTopic::default()
                    .with_name(topic_name(&g.topic))
                    .with_count(g.total)
                    .with_assignments(assignments)
            })
            .collect();
        for chunk in topics.chunks(WRITE_BATCH) {
            let grown: Vec<(&str, i32)> =
                chunk.iter().map(|t| (t.name.0.as_str(), t.count)).collect();
            info!(count = chunk.len(), topics = ?grown, "kafka write: create partitions");
            let (response, _) = self
                .call("CreatePartitions", (1, 3), Kind::Write, |_| {
                    CreatePartitionsRequest::default()
                        .with_topics(chunk.to_vec())
                        .with_timeout_ms(OPERATION_TIMEOUT_MS)
                })
                .await?;
            results.extend(per_topic(
                "CreatePartitions",
                response
                    .results
                    .iter()
                    .map(|r| (r.name.0.to_string(), r.error_code, r.error_message.as_ref())),
            ));
        }
        Ok(results)
    }

    async fn alter_topics_configs(
        &self,
        changes: &[(String, ConfigChanges)],
        validate_only: bool,
    ) -> Result<TopicResults, KafkaError> {
        let mut results = TopicResults::new();
        for chunk in changes.chunks(WRITE_BATCH) {
            if !validate_only {
                // Keys only: keep logs free of anything that could be sensitive.
                let keys: Vec<(&str, Vec<&String>, &Vec<String>)> = chunk
                    .iter()
                    .map(|(t, c)| (t.as_str(), c.set.keys().collect(), &c.delete))
                    .collect();
                info!(count = chunk.len(), topics = ?keys, "kafka write: alter topic configs (topic, set, delete)");
            }
            let resources: Vec<(i8, String, &ConfigChanges)> = chunk
                .iter()
                .map(|(topic, c)| (RESOURCE_TOPIC, topic.clone(), c))
                .collect();
            results.extend(
                self.incremental_alter(None, &resources, validate_only)
                    .await?,
            );
        }
        Ok(results)
    }

    async fn alter_broker_configs(
        &self,
        broker: i32,
        changes: &ConfigChanges,
    ) -> Result<(), KafkaError> {
        info!(broker, set = ?changes.set, delete = ?changes.delete, "kafka write: alter broker configs");
        let name = broker.to_string();
        self.incremental_alter(
            Some(broker),
            &[(RESOURCE_BROKER, name.clone(), changes)],
            false,
        )
        .await?
        .remove(&name)
        .unwrap_or(Ok(()))
    }

    async fn alter_reassignments(
        &self,
        topic: &str,
        moves: &BTreeMap<i32, Vec<i32>>,
    ) -> Result<(), KafkaError> {
        info!(%topic, ?moves, "kafka write: reassign partitions");
        let partitions: Vec<_> = moves
            .iter()
            .map(|(p, replicas)| {
                ReassignablePartition::default()
                    .with_partition_index(*p)
                    .with_replicas(Some(replicas.iter().map(|b| BrokerId(*b)).collect()))
            })
            .collect();
        let request_topic = ReassignableTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(partitions);
        let (response, _) = self
            .call("AlterPartitionReassignments", (0, 1), Kind::Write, |_| {
                AlterPartitionReassignmentsRequest::default()
                    .with_timeout_ms(OPERATION_TIMEOUT_MS)
                    .with_topics(vec![request_topic.clone()])
            })
            .await?;
        check(
            "AlterPartitionReassignments",
            topic,
            response.error_code,
            response.error_message.as_ref(),
        )?;
        for t in &response.responses {
            for p in &t.partitions {
                check(
                    "AlterPartitionReassignments",
                    &format!("{topic}-{}", p.partition_index),
                    p.error_code,
                    p.error_message.as_ref(),
                )?;
            }
        }
        Ok(())
    }

    async fn elect_preferred_leaders(
        &self,
        topic: &str,
        partitions: &[i32],
    ) -> Result<(), KafkaError> {
        info!(%topic, ?partitions, "kafka write: elect preferred leaders");
        let tp = ElectTopicPartitions::default()
            .with_topic(topic_name(topic))
            .with_partitions(partitions.to_vec());
        let (response, _) = self
            .call("ElectLeaders", (1, 2), Kind::Write, |_| {
                ElectLeadersRequest::default()
                    .with_election_type(ELECTION_PREFERRED)
                    .with_topic_partitions(Some(vec![tp.clone()]))
                    .with_timeout_ms(OPERATION_TIMEOUT_MS)
            })
            .await?;
        check("ElectLeaders", topic, response.error_code, None)?;
        for r in &response.replica_election_results {
            for p in &r.partition_result {
                // Already led by its preferred replica: nothing to do, not an error.
                if p.error_code == ResponseError::ElectionNotNeeded.code() {
                    continue;
                }
                check(
                    "ElectLeaders",
                    &format!("{topic}-{}", p.partition_id),
                    p.error_code,
                    p.error_message.as_ref(),
                )?;
            }
        }
        Ok(())
    }

    async fn delete_topic(&self, topic: &str, topic_id: &str) -> Result<Deletion, KafkaError> {
        self.delete_topic_by_id(topic, topic_id).await
    }

    async fn topic_use(&self, topic: &ObservedTopic, groups: bool) -> Result<TopicUse, KafkaError> {
        self.usage(topic, groups).await
    }

    fn request_counts(&self) -> BTreeMap<&'static str, u64> {
        lock(&self.counts).clone()
    }
}
