//! The write requests: IncrementalAlterConfigs, DeleteTopics by topic id, and the bodies of
//! CreateTopics and IncrementalAlterConfigs.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{BrokerId, DeleteTopicsRequest, IncrementalAlterConfigsRequest};
use kafka_protocol::protocol::StrBytes;
use tracing::info;

use crate::kafka::error::{KafkaError, check};
use crate::kafka::{Deletion, TopicResults, TopicToCreate};
use crate::model::ConfigChanges;

use super::*;

impl KafkaProtocolAdmin {
    /// One IncrementalAlterConfigs request for `resources` (type, name, changes), sent to any
    /// broker (topics) or to `broker` itself (its own configs). The answer holds each resource's
    /// own result; the outer error is for the request.
    pub(super) async fn incremental_alter(
        &self,
        broker: Option<i32>,
        resources: &[(i8, String, &ConfigChanges)],
        validate_only: bool,
    ) -> Result<TopicResults, KafkaError> {
        let resources: Vec<AlterConfigsResource> = resources
            .iter()
            .map(|(resource_type, name, changes)| {
                AlterConfigsResource::default()
                    .with_resource_type(*resource_type)
                    .with_resource_name(StrBytes::from_string(name.clone()))
                    .with_configs(alterable_configs(changes))
            })
            .collect();
        let build = |_| {
            IncrementalAlterConfigsRequest::default()
                .with_resources(resources.clone())
                .with_validate_only(validate_only)
        };
        let response = match broker {
            None => {
                self.call(
                    "IncrementalAlterConfigs",
                    (0, 1),
                    Kind::of(validate_only),
                    build,
                )
                .await?
                .0
            }
            Some(b) => {
                self.call_broker(b, "IncrementalAlterConfigs", (0, 1), Kind::Write, build)
                    .await?
            }
        };
        Ok(per_topic(
            "IncrementalAlterConfigs",
            response.responses.iter().map(|r| {
                (
                    r.resource_name.to_string(),
                    r.error_code,
                    r.error_message.as_ref(),
                )
            }),
        ))
    }
}

impl KafkaProtocolAdmin {
    /// DeleteTopics v6 names the topic by id only (Kafka 2.8 and later; the Metadata versions
    /// the snapshot needs are as recent). Kafka's UNKNOWN_TOPIC_ID means this topic is gone:
    /// nothing is deleted and nothing is sent by name instead.
    pub(super) async fn delete_topic_by_id(
        &self,
        topic: &str,
        topic_id: &str,
    ) -> Result<Deletion, KafkaError> {
        let id = parse_kafka_uuid(topic_id).ok_or_else(|| KafkaError::Protocol {
            api: "DeleteTopics",
            detail: format!("{topic_id:?} is not a Kafka topic id (topic {topic})"),
        })?;
        info!(%topic, %topic_id, "kafka write: delete topic");
        let (response, _) = self
            .call("DeleteTopics", (6, 6), Kind::Write, |_| {
                DeleteTopicsRequest::default()
                    .with_timeout_ms(OPERATION_TIMEOUT_MS)
                    .with_topics(vec![DeleteTopicState::default().with_topic_id(id)])
            })
            .await?;
        for result in &response.responses {
            let code = ResponseError::try_from_code(result.error_code);
            if matches!(
                code,
                Some(ResponseError::UnknownTopicId | ResponseError::UnknownTopicOrPartition)
            ) {
                return Ok(Deletion::UnknownId);
            }
            check(
                "DeleteTopics",
                topic,
                result.error_code,
                result.error_message.as_ref(),
            )?;
        }
        Ok(Deletion::Deleted)
    }
}

/// A topic id as Kafka prints it (and `kafka_uuid` writes it): URL-safe base64 of 16 bytes.
pub(super) fn parse_kafka_uuid(id: &str) -> Option<uuid::Uuid> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id)
        .ok()?;
    let id = uuid::Uuid::from_slice(&bytes).ok()?;
    (!id.is_nil()).then_some(id)
}

/// The set and delete operations of `changes`, as IncrementalAlterConfigs wants them.
pub(super) fn alterable_configs(changes: &ConfigChanges) -> Vec<AlterableConfig> {
    let mut configs: Vec<_> = changes
        .set
        .iter()
        .map(|(k, v)| {
            AlterableConfig::default()
                .with_name(StrBytes::from_string(k.clone()))
                .with_config_operation(OP_SET)
                .with_value(Some(StrBytes::from_string(v.clone())))
        })
        .collect();
    configs.extend(changes.delete.iter().map(|k| {
        AlterableConfig::default()
            .with_name(StrBytes::from_string(k.clone()))
            .with_config_operation(OP_DELETE)
            .with_value(None)
    }));
    configs
}

/// One topic of a CreateTopics request: every declared config, and our placement when given.
pub(super) fn creatable_topic(t: &TopicToCreate) -> Result<CreatableTopic, KafkaError> {
    let topic = &t.topic;
    let replication_factor =
        i16::try_from(topic.replication_factor).map_err(|_| KafkaError::Api {
            api: "CreateTopics",
            resource: topic.name.clone(),
            code: ResponseError::InvalidReplicationFactor,
            message: Some(format!(
                "replication factor {} is too large",
                topic.replication_factor
            )),
        })?;
    let configs: Vec<_> = topic
        .all_configs()
        .into_iter()
        .map(|(k, v)| {
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(k))
                .with_value(Some(StrBytes::from_string(v)))
        })
        .collect();
    let creatable = CreatableTopic::default()
        .with_name(topic_name(&topic.name))
        .with_configs(configs);
    if t.assignments.is_empty() {
        return Ok(creatable
            .with_num_partitions(topic.partitions)
            .with_replication_factor(replication_factor));
    }
    // Our placement: Kafka requires -1 for both counts when replicas are assigned.
    Ok(creatable
        .with_num_partitions(-1)
        .with_replication_factor(-1)
        .with_assignments(
            t.assignments
                .iter()
                .enumerate()
                .map(|(i, set)| {
                    CreatableReplicaAssignment::default()
                        .with_partition_index(i as i32)
                        .with_broker_ids(set.iter().map(|b| BrokerId(*b)).collect())
                })
                .collect(),
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_ids_read_back_as_kafka_prints_them() {
        let id = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0011_2233_4455_6677);
        assert_eq!(parse_kafka_uuid(&kafka_uuid(&id)), Some(id));
        assert_eq!(parse_kafka_uuid("not an id"), None);
        assert_eq!(parse_kafka_uuid(&kafka_uuid(&uuid::Uuid::nil())), None);
    }
}
