//! Whether a topic is in use, asked before it is deleted: when its newest record was written
//! (each partition's leader answers for its own log) and which consumer groups committed offsets
//! on it (each broker answers for the groups it coordinates, so every broker is asked).

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::{
    BrokerId, GroupId, ListGroupsRequest, ListOffsetsRequest, OffsetFetchRequest,
};

use crate::kafka::TopicUse;
use crate::kafka::error::{KafkaError, check};
use crate::model::ObservedTopic;
use crate::util::sync::lock;

use super::*;

/// ListOffsets' timestamp that asks for the record with the largest timestamp (KIP-734,
/// ListOffsets v7, Kafka 3.0).
const MAX_TIMESTAMP: i64 = -3;
/// ListOffsets' timestamps for the high watermark and the log start offset.
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
/// Groups per OffsetFetch request.
const GROUPS_PER_FETCH: usize = 100;
/// ListGroups' group type of share groups (KIP-932): they keep no committed offsets.
const SHARE_GROUP: &str = "share";

impl KafkaProtocolAdmin {
    pub(super) async fn usage(
        &self,
        topic: &ObservedTopic,
        groups: bool,
    ) -> Result<TopicUse, KafkaError> {
        let last_write_ms = self.last_write(topic).await?;
        let groups = if groups {
            self.groups_with_offsets(topic).await?
        } else {
            Vec::new()
        };
        Ok(TopicUse {
            groups,
            last_write_ms,
        })
    }

    /// When `topic` was last written: the largest record timestamp of any partition, asked of
    /// each partition's leader.
    async fn last_write(&self, topic: &ObservedTopic) -> Result<Option<i64>, KafkaError> {
        let name = &topic.name;
        let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
        for p in &topic.partitions {
            if p.leader < 0 {
                return Err(KafkaError::Api {
                    api: "ListOffsets",
                    resource: format!("{name}-{}", p.id),
                    code: ResponseError::LeaderNotAvailable,
                    message: Some("no leader: when it was last written cannot be read".into()),
                });
            }
            by_leader.entry(p.leader).or_default().push(p.id);
        }
        let mut newest: Option<i64> = None;
        for (leader, partitions) in by_leader {
            let max = self
                .list_offsets(leader, name, &partitions, MAX_TIMESTAMP)
                .await?;
            // No answer: the partition is empty, or its newest record is above the high
            // watermark (not yet on every in-sync replica): being written right now. Its
            // committed offsets tell which.
            let unanswered: Vec<i32> = partitions
                .iter()
                .copied()
                .filter(|p| max.get(p).is_none_or(|(_, ts)| *ts < 0))
                .collect();
            let holds_records = if unanswered.is_empty() {
                false
            } else {
                let end = self.list_offsets(leader, name, &unanswered, LATEST).await?;
                let start = self
                    .list_offsets(leader, name, &unanswered, EARLIEST)
                    .await?;
                unanswered.iter().any(|p| {
                    let offset = |answers: &BTreeMap<i32, (i64, i64)>| answers.get(p).map(|a| a.0);
                    offset(&end) > offset(&start)
                })
            };
            let answered = max.values().map(|(_, ts)| *ts).filter(|ts| *ts >= 0).max();
            newest = newest.max(newest_write(answered, holds_records, now_ms()));
        }
        Ok(newest)
    }

    /// One ListOffsets request to `leader` for `partitions` of `topic` at `timestamp` (or one
    /// of the special values): partition -> (offset, timestamp), -1 where Kafka has none.
    async fn list_offsets(
        &self,
        leader: i32,
        topic: &str,
        partitions: &[i32],
        timestamp: i64,
    ) -> Result<BTreeMap<i32, (i64, i64)>, KafkaError> {
        let request_topic = ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(
                partitions
                    .iter()
                    .map(|p| {
                        ListOffsetsPartition::default()
                            .with_partition_index(*p)
                            .with_timestamp(timestamp)
                    })
                    .collect(),
            );
        let response = self
            .call_broker(leader, "ListOffsets", (7, 10), Kind::Read, |_| {
                ListOffsetsRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_topics(vec![request_topic.clone()])
                    .with_timeout_ms(self.request_timeout.as_millis() as i32)
            })
            .await?;
        let mut answers = BTreeMap::new();
        for p in response.topics.iter().flat_map(|t| &t.partitions) {
            check(
                "ListOffsets",
                &format!("{topic}-{}", p.partition_index),
                p.error_code,
                None,
            )?;
            answers.insert(p.partition_index, (p.offset, p.timestamp));
        }
        Ok(answers)
    }

    /// The groups with a committed offset on any partition of `topic`, from every broker.
    async fn groups_with_offsets(&self, topic: &ObservedTopic) -> Result<Vec<String>, KafkaError> {
        let brokers: Vec<i32> = sorted(lock(&self.broker_addrs).keys().copied().collect());
        let mut found = BTreeSet::new();
        for broker in brokers {
            let listed = self
                .call_broker(broker, "ListGroups", (0, 5), Kind::Read, |_| {
                    ListGroupsRequest::default()
                })
                .await?;
            check(
                "ListGroups",
                &format!("broker {broker}"),
                listed.error_code,
                None,
            )?;
            let groups: Vec<GroupId> = listed
                .groups
                .into_iter()
                .filter(|g| g.group_type.as_str() != SHARE_GROUP)
                .map(|g| g.group_id)
                .collect();
            for chunk in groups.chunks(GROUPS_PER_FETCH) {
                found.extend(self.committed_on(broker, chunk, topic).await?);
            }
        }
        Ok(found.into_iter().collect())
    }

    /// Which of `groups` (coordinated by `broker`) have a committed offset on `topic`.
    async fn committed_on(
        &self,
        broker: i32,
        groups: &[GroupId],
        topic: &ObservedTopic,
    ) -> Result<Vec<String>, KafkaError> {
        let partitions: Vec<i32> = topic.partitions.iter().map(|p| p.id).collect();
        let wanted = OffsetFetchRequestTopics::default()
            .with_name(topic_name(&topic.name))
            .with_partition_indexes(partitions);
        let request_groups: Vec<OffsetFetchRequestGroup> = groups
            .iter()
            .map(|g| {
                OffsetFetchRequestGroup::default()
                    .with_group_id(g.clone())
                    .with_topics(Some(vec![wanted.clone()]))
            })
            .collect();
        let response = self
            .call_broker(broker, "OffsetFetch", (8, 9), Kind::Read, |_| {
                OffsetFetchRequest::default().with_groups(request_groups.clone())
            })
            .await?;
        let mut committed = Vec::new();
        for group in response.groups {
            let id = group.group_id.0.to_string();
            // Deleted since it was listed: it has no offsets any more.
            if group.error_code == ResponseError::GroupIdNotFound.code() {
                continue;
            }
            check(
                "OffsetFetch",
                &format!("group {id}"),
                group.error_code,
                None,
            )?;
            let has_offset = group
                .topics
                .iter()
                .flat_map(|t| &t.partitions)
                .any(|p| p.committed_offset >= 0);
            if has_offset {
                committed.push(id);
            }
        }
        Ok(committed)
    }
}

/// When a leader's partitions were last written: the largest timestamp Kafka gave (`answered`),
/// or `now` when some partition holds committed records but gave none: Kafka leaves out a
/// largest-timestamp record above the high watermark, which is a record being written now.
/// Taking that for "no record" would delete a topic in the middle of its writes.
fn newest_write(answered: Option<i64>, holds_records: bool, now: i64) -> Option<i64> {
    if holds_records {
        Some(answered.map_or(now, |ts| ts.max(now)))
    } else {
        answered
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::newest_write;

    #[test]
    fn a_partition_with_records_but_no_largest_timestamp_is_being_written_now() {
        let now = 1_000_000;
        assert_eq!(newest_write(None, false, now), None, "empty");
        assert_eq!(newest_write(Some(5), false, now), Some(5));
        assert_eq!(newest_write(None, true, now), Some(now));
        assert_eq!(newest_write(Some(5), true, now), Some(now));
    }
}
