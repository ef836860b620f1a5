//! The reads a snapshot is made of: metadata, topic and broker configs, ongoing reassignments.

use crate::util::sync::lock;
use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    DescribeConfigsRequest, ListPartitionReassignmentsRequest, MetadataRequest, MetadataResponse,
};
use kafka_protocol::protocol::StrBytes;
use tracing::debug;

use crate::kafka::address::join_host_port;
use crate::kafka::error::{KafkaError, check};
use crate::model::{
    AUTO_CREATE_TOPICS, BROKER_THROTTLE_CONFIGS, ConfigKind, ObservedConfig, ObservedPartition,
    ObservedTopic,
};

use super::*;

impl KafkaProtocolAdmin {
    pub(super) async fn metadata(
        &self,
        names: Option<&[String]>,
    ) -> Result<MetadataResponse, KafkaError> {
        let topics = names.map(|names| {
            names
                .iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(topic_name(n))))
                .collect::<Vec<_>>()
        });
        let (response, _) = self
            .call("Metadata", (10, 12), Kind::Read, |_| {
                MetadataRequest::default()
                    .with_topics(topics.clone())
                    // Never let a look at a missing topic create it.
                    .with_allow_auto_topic_creation(false)
            })
            .await?;
        let addrs = response
            .brokers
            .iter()
            .map(|b| (b.node_id.0, join_host_port(&b.host, b.port)))
            .collect();
        *lock(&self.broker_addrs) = addrs;
        Ok(response)
    }

    /// Configs of the given topics, in batches. Topics that vanished meanwhile are left out.
    pub(super) async fn topic_configs(
        &self,
        names: &[String],
    ) -> Result<
        (
            BTreeMap<String, BTreeMap<String, ObservedConfig>>,
            TopicErrors,
        ),
        KafkaError,
    > {
        let mut out = BTreeMap::new();
        let mut errors = TopicErrors::new();
        for chunk in names.chunks(DESCRIBE_CONFIGS_BATCH) {
            let resources: Vec<_> = chunk
                .iter()
                .map(|n| {
                    DescribeConfigsResource::default()
                        .with_resource_type(RESOURCE_TOPIC)
                        .with_resource_name(StrBytes::from_string(n.clone()))
                        .with_configuration_keys(None)
                })
                .collect();
            let (response, _) = self
                .call("DescribeConfigs", (1, 4), Kind::Read, |_| {
                    DescribeConfigsRequest::default().with_resources(resources.clone())
                })
                .await?;
            for result in response.results {
                let name = result.resource_name.to_string();
                if result.error_code == ResponseError::UnknownTopicOrPartition.code() {
                    continue;
                }
                // One topic Kafka refuses to describe (not authorized, ...) stays that topic's
                // problem: the rest of the snapshot stands.
                if let Err(error) = check(
                    "DescribeConfigs",
                    &name,
                    result.error_code,
                    result.error_message.as_ref(),
                ) {
                    errors.insert(name, error);
                    continue;
                }
                let configs = result
                    .configs
                    .into_iter()
                    .map(|c| {
                        (
                            c.name.to_string(),
                            ObservedConfig {
                                value: c.value.map(|v| v.to_string()),
                                is_topic_override: c.config_source == SOURCE_DYNAMIC_TOPIC,
                                kind: ConfigKind::from_kafka(c.config_type),
                            },
                        )
                    })
                    .collect();
                out.insert(name, configs);
            }
        }
        Ok((out, errors))
    }

    /// Topics of a metadata response joined with their configs.
    pub(super) async fn observe_topics(
        &self,
        metadata: &MetadataResponse,
        all: bool,
    ) -> Result<(BTreeMap<String, ObservedTopic>, TopicErrors), KafkaError> {
        let mut topics = BTreeMap::new();
        let mut errors = TopicErrors::new();
        for t in &metadata.topics {
            let Some(name) = t.name.as_ref().map(|n| n.0.to_string()) else {
                continue;
            };
            if t.error_code == ResponseError::UnknownTopicOrPartition.code() {
                continue;
            }
            if let Err(error) = check("Metadata", &name, t.error_code, None) {
                errors.insert(name, error);
                continue;
            }
            let mut partitions: Vec<_> = t
                .partitions
                .iter()
                .map(|p| ObservedPartition {
                    id: p.partition_index,
                    leader: p.leader_id.0,
                    replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                    // A set: its order changes with shrinks and expands and means nothing, and
                    // would make an idle topic look changed from one snapshot to the next.
                    isr: sorted(p.isr_nodes.iter().map(|b| b.0).collect()),
                    adding: vec![],
                    removing: vec![],
                })
                .collect();
            partitions.sort_by_key(|p| p.id);
            topics.insert(
                name.clone(),
                ObservedTopic {
                    defaults: Default::default(),
                    name,
                    topic_id: (!t.topic_id.is_nil()).then(|| kafka_uuid(&t.topic_id)),
                    is_internal: t.is_internal,
                    partitions,
                    configs: BTreeMap::new(),
                },
            );
        }
        let names: Vec<String> = topics.keys().cloned().collect();
        let partitions: Vec<(String, Vec<i32>)> = topics
            .values()
            .map(|t| (t.name.clone(), t.partitions.iter().map(|p| p.id).collect()))
            .collect();
        let listed = if all {
            None
        } else {
            Some(partitions.as_slice())
        };
        for (topic, moves) in self.reassignments(listed).await? {
            let Some(t) = topics.get_mut(&topic) else {
                continue;
            };
            for (partition, (adding, removing)) in moves {
                if let Some(p) = t.partitions.iter_mut().find(|p| p.id == partition) {
                    p.adding = adding;
                    p.removing = removing;
                }
            }
        }
        let (mut configs, config_errors) = self.topic_configs(&names).await?;
        errors.extend(config_errors);
        if !all {
            let unconfigured: Vec<&String> =
                names.iter().filter(|n| !configs.contains_key(*n)).collect();
            debug!(
                described = configs.len(),
                ?unconfigured,
                errors = ?errors.iter().map(|(t, e)| (t, e.reason())).collect::<Vec<_>>(),
                "topics read by name"
            );
        }
        // A topic deleted between the two calls has no configs: leave it out rather than show
        // it half (and so is one whose configs Kafka refused: its error says why).
        topics.retain(|name, _| configs.contains_key(name));
        // Defaults are the same for almost every topic: keep one shared copy, and per topic only
        // its overrides and whatever differs from it.
        let defaults: BTreeMap<String, ObservedConfig> = configs
            .values()
            .next()
            .map(|first| {
                first
                    .iter()
                    .filter(|(_, c)| !c.is_topic_override)
                    .map(|(k, c)| (k.clone(), c.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let defaults = Arc::new(defaults);
        for (name, topic) in topics.iter_mut() {
            let mut own = configs.remove(name).unwrap_or_default();
            own.retain(|k, c| c.is_topic_override || defaults.get(k) != Some(c));
            topic.configs = own;
            topic.defaults = defaults.clone();
        }
        Ok((topics, errors))
    }
}

impl KafkaProtocolAdmin {
    /// Ongoing reassignments (all topics, or the named ones): topic -> partition -> (adding, removing).
    /// `names`: the topics to ask about, with their partition ids (Kafka lists none for an
    /// empty array, so every partition is named).
    pub(super) async fn reassignments(
        &self,
        names: Option<&[(String, Vec<i32>)]>,
    ) -> Result<BTreeMap<String, TopicMoves>, KafkaError> {
        let topics = names.map(|names| {
            names
                .iter()
                .map(|(n, partitions)| {
                    ListPartitionReassignmentsTopics::default()
                        .with_name(topic_name(n))
                        .with_partition_indexes(partitions.clone())
                })
                .collect::<Vec<_>>()
        });
        let (response, _) = self
            .call("ListPartitionReassignments", (0, 0), Kind::Read, |_| {
                ListPartitionReassignmentsRequest::default()
                    .with_timeout_ms(OPERATION_TIMEOUT_MS)
                    .with_topics(topics.clone())
            })
            .await?;
        check(
            "ListPartitionReassignments",
            "cluster",
            response.error_code,
            response.error_message.as_ref(),
        )?;
        let mut out: BTreeMap<String, TopicMoves> = BTreeMap::new();
        for t in response.topics {
            let entry = out.entry(t.name.0.to_string()).or_default();
            for p in t.partitions {
                entry.insert(
                    p.partition_index,
                    (
                        p.adding_replicas.iter().map(|b| b.0).collect(),
                        p.removing_replicas.iter().map(|b| b.0).collect(),
                    ),
                );
            }
        }
        Ok(out)
    }

    /// A broker's dynamic throttle-rate overrides, and whether it allows auto-creation.
    pub(super) async fn broker_configs(
        &self,
        broker: i32,
    ) -> Result<(BTreeMap<String, String>, bool), KafkaError> {
        let keys = BROKER_THROTTLE_CONFIGS
            .iter()
            .chain(std::iter::once(&AUTO_CREATE_TOPICS));
        let resource = DescribeConfigsResource::default()
            .with_resource_type(RESOURCE_BROKER)
            .with_resource_name(StrBytes::from_string(broker.to_string()))
            .with_configuration_keys(Some(keys.map(|k| StrBytes::from_static_str(k)).collect()));
        let response = self
            .call_broker(broker, "DescribeConfigs", (1, 4), Kind::Read, |_| {
                DescribeConfigsRequest::default().with_resources(vec![resource.clone()])
            })
            .await?;
        let mut throttles = BTreeMap::new();
        let mut auto_create = false;
        for result in response.results {
            check(
                "DescribeConfigs",
                &format!("broker {broker}"),
                result.error_code,
                result.error_message.as_ref(),
            )?;
            for c in result.configs {
                let Some(value) = c.value else { continue };
                if c.name.as_str() == AUTO_CREATE_TOPICS {
                    // Whatever its source (Kafka's default is true): what the broker does.
                    auto_create = value.as_str() == "true";
                } else if c.config_source == SOURCE_DYNAMIC_BROKER {
                    throttles.insert(c.name.to_string(), value.to_string());
                }
            }
        }
        Ok((throttles, auto_create))
    }
}
