//! An in-memory Kafka behind [`KafkaAdmin`], for the unit tests of everything above the Kafka
//! client (observe loop, batchers, the apply of one topic). Writes take effect at once (a move
//! completes immediately); a few knobs make it behave like a busy or broken cluster. The real
//! client is proven against real Kafka by the integration tests, never by this.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use kafka_protocol::ResponseError;

use super::{
    Deletion, Described, KafkaAdmin, KafkaError, PartitionGrowth, TopicResults, TopicToCreate,
    TopicUse,
};
use crate::fixtures::partition;
use crate::model::{Broker, ClusterSnapshot, ConfigChanges, ObservedConfig, ObservedTopic};
use crate::util::sync::lock;

#[derive(Default)]
struct Cluster {
    brokers: Vec<Broker>,
    topics: BTreeMap<String, ObservedTopic>,
    broker_overrides: BTreeMap<i32, BTreeMap<String, String>>,
    /// Created, but not in the metadata yet (a broker busy creating earlier replicas).
    not_shown: BTreeSet<String>,
}

/// Snapshots running at once, and the most ever (shared by several fakes: one per cluster).
#[derive(Clone, Default)]
pub struct Concurrency {
    pub running: Arc<AtomicUsize>,
    pub most: Arc<AtomicUsize>,
}

#[derive(Default)]
pub struct FakeKafka {
    cluster: Mutex<Cluster>,
    counts: Mutex<BTreeMap<&'static str, u64>>,
    /// The first snapshot hits a bug (a panic); later ones work.
    panics_once: AtomicBool,
    /// Topics whose creation is not shown in the metadata until [`FakeKafka::show`].
    lagging: Mutex<BTreeSet<String>>,
    /// Config values Kafka refuses (key -> value).
    refused: Mutex<BTreeMap<String, String>>,
    snapshot_takes: Duration,
    concurrency: Concurrency,
    /// What [`KafkaAdmin::topic_use`] answers, by topic (absent: not in use).
    uses: Mutex<BTreeMap<String, TopicUse>>,
    /// Numbers the topics the fake creates: as in Kafka, a topic created again under the same
    /// name has another id.
    creations: AtomicU64,
}

impl FakeKafka {
    /// A cluster of brokers 1..=n, racks r1..rn, no topics.
    pub fn with_brokers(n: i32) -> Self {
        let fake = FakeKafka::default();
        lock(&fake.cluster).brokers = (1..=n)
            .map(|id| Broker {
                id,
                host: format!("kafka-{id}"),
                port: 9092,
                rack: Some(format!("r{id}")),
            })
            .collect();
        fake
    }

    /// The first snapshot panics (a bug in decoding, say); the next ones work.
    pub fn panicking_once(self) -> Self {
        self.panics_once.store(true, Ordering::SeqCst);
        self
    }

    /// Each snapshot takes `takes`, counted in `concurrency` while it runs.
    pub fn slow_snapshots(self, takes: Duration, concurrency: Concurrency) -> Self {
        FakeKafka {
            snapshot_takes: takes,
            concurrency,
            ..self
        }
    }

    pub fn add_topic(&self, topic: ObservedTopic) {
        lock(&self.cluster).topics.insert(topic.name.clone(), topic);
    }

    pub fn topic(&self, name: &str) -> Option<ObservedTopic> {
        lock(&self.cluster).topics.get(name).cloned()
    }

    /// `topic` is in use as `usage` says.
    pub fn set_use(&self, topic: &str, usage: TopicUse) {
        lock(&self.uses).insert(topic.to_string(), usage);
    }

    /// Sets (or, with None, removes) a topic override behind the operator's back.
    pub fn set_override(&self, topic: &str, key: &str, value: Option<&str>) {
        let mut cluster = lock(&self.cluster);
        let topic = cluster.topics.get_mut(topic).expect("a topic of the fake");
        set_override(topic, key, value);
    }

    /// A creation of `name` is not shown in the metadata until [`FakeKafka::show`].
    pub fn lag(&self, name: &str) {
        lock(&self.lagging).insert(name.to_string());
    }

    pub fn show(&self, name: &str) {
        lock(&self.lagging).remove(name);
        lock(&self.cluster).not_shown.remove(name);
    }

    /// Kafka refuses `key=value` (InvalidConfig), as it does an unknown cleanup.policy.
    pub fn refuse(&self, key: &str, value: &str) {
        lock(&self.refused).insert(key.into(), value.into());
    }

    /// Requests of `api` received so far.
    pub fn requests(&self, api: &'static str) -> u64 {
        lock(&self.counts).get(api).copied().unwrap_or(0)
    }

    fn count(&self, api: &'static str) {
        *lock(&self.counts).entry(api).or_default() += 1;
    }

    fn refusal(&self, topic: &str, configs: &BTreeMap<String, String>) -> Option<KafkaError> {
        let refused = lock(&self.refused);
        configs
            .iter()
            .find(|(k, v)| refused.get(*k) == Some(*v))
            .map(|(k, v)| KafkaError::Api {
                api: "IncrementalAlterConfigs",
                resource: topic.to_string(),
                code: ResponseError::InvalidConfig,
                message: Some(format!("Invalid value {v} for configuration {k}")),
            })
    }
}

fn set_override(topic: &mut ObservedTopic, key: &str, value: Option<&str>) {
    match value {
        Some(v) => {
            topic.configs.insert(
                key.to_string(),
                ObservedConfig {
                    value: Some(v.to_string()),
                    is_topic_override: true,
                    kind: Default::default(),
                },
            );
        }
        None => {
            topic.configs.remove(key);
        }
    }
}

/// The cluster id every fake Kafka reports.
pub const FAKE_CLUSTER_ID: &str = "fake-kafka-cluster-id";

#[async_trait]
impl KafkaAdmin for FakeKafka {
    async fn snapshot(&self) -> Result<ClusterSnapshot, KafkaError> {
        self.count("Metadata");
        if self.panics_once.swap(false, Ordering::SeqCst) {
            panic!("a bug while reading the snapshot");
        }
        let now = self.concurrency.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.concurrency.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.snapshot_takes).await;
        self.concurrency.running.fetch_sub(1, Ordering::SeqCst);
        let cluster = lock(&self.cluster);
        Ok(ClusterSnapshot {
            brokers: cluster.brokers.clone(),
            topics: cluster
                .topics
                .iter()
                .filter(|(name, _)| !cluster.not_shown.contains(*name))
                .map(|(name, topic)| (name.clone(), topic.clone()))
                .collect(),
            broker_overrides: cluster.broker_overrides.clone(),
            cluster_id: Some(FAKE_CLUSTER_ID.into()),
            ..Default::default()
        })
    }

    async fn describe_topics_each(&self, names: &[String]) -> Result<Described, KafkaError> {
        self.count("Metadata");
        let cluster = lock(&self.cluster);
        Ok(Described {
            topics: names
                .iter()
                .filter(|n| !cluster.not_shown.contains(*n))
                .filter_map(|n| cluster.topics.get(n).map(|t| (n.clone(), t.clone())))
                .collect(),
            errors: BTreeMap::new(),
        })
    }

    async fn create_topics(
        &self,
        topics: &[TopicToCreate],
        validate_only: bool,
    ) -> Result<TopicResults, KafkaError> {
        self.count("CreateTopics");
        let lagging = lock(&self.lagging).clone();
        let mut cluster = lock(&self.cluster);
        let mut results = TopicResults::new();
        for t in topics {
            let name = t.topic.name.clone();
            let result = if cluster.topics.contains_key(&name) {
                Err(KafkaError::Api {
                    api: "CreateTopics",
                    resource: name.clone(),
                    code: ResponseError::TopicAlreadyExists,
                    message: None,
                })
            } else if let Some(refused) = self.refusal(&name, &t.topic.all_configs()) {
                Err(refused)
            } else {
                if !validate_only {
                    let default_set: Vec<i32> = (1..=t.topic.replication_factor).collect();
                    let sets: Vec<Vec<i32>> = if t.assignments.is_empty() {
                        vec![default_set; t.topic.partitions as usize]
                    } else {
                        t.assignments.clone()
                    };
                    let mut topic = ObservedTopic {
                        name: name.clone(),
                        topic_id: Some(format!(
                            "id-{name}-{}",
                            self.creations.fetch_add(1, Ordering::Relaxed)
                        )),
                        is_internal: false,
                        partitions: sets
                            .iter()
                            .enumerate()
                            .map(|(i, set)| partition(i as i32, set))
                            .collect(),
                        configs: BTreeMap::new(),
                        defaults: Default::default(),
                    };
                    for (k, v) in t.topic.all_configs() {
                        set_override(&mut topic, &k, Some(&v));
                    }
                    cluster.topics.insert(name.clone(), topic);
                    if lagging.contains(&name) {
                        cluster.not_shown.insert(name.clone());
                    }
                }
                Ok(())
            };
            results.insert(name, result);
        }
        Ok(results)
    }

    async fn grow_topics(&self, growths: &[PartitionGrowth]) -> Result<TopicResults, KafkaError> {
        self.count("CreatePartitions");
        let mut cluster = lock(&self.cluster);
        let mut results = TopicResults::new();
        for g in growths {
            let Some(topic) = cluster.topics.get_mut(&g.topic) else {
                continue;
            };
            let first = topic.partitions.len() as i32;
            for (i, set) in g.assignments.iter().enumerate() {
                topic.partitions.push(partition(first + i as i32, set));
            }
            results.insert(g.topic.clone(), Ok(()));
        }
        Ok(results)
    }

    async fn alter_broker_configs(
        &self,
        broker: i32,
        changes: &ConfigChanges,
    ) -> Result<(), KafkaError> {
        self.count(super::BROKER_CONFIG_WRITES);
        let mut cluster = lock(&self.cluster);
        let overrides = cluster.broker_overrides.entry(broker).or_default();
        overrides.extend(changes.set.clone());
        for k in &changes.delete {
            overrides.remove(k);
        }
        cluster.broker_overrides.retain(|_, o| !o.is_empty());
        Ok(())
    }

    async fn alter_reassignments(
        &self,
        topic: &str,
        moves: &BTreeMap<i32, Vec<i32>>,
    ) -> Result<(), KafkaError> {
        self.count("AlterPartitionReassignments");
        let mut cluster = lock(&self.cluster);
        if let Some(topic) = cluster.topics.get_mut(topic) {
            for (id, set) in moves {
                if let Some(p) = topic.partitions.iter_mut().find(|p| p.id == *id) {
                    let leader = p.leader;
                    *p = partition(*id, set);
                    if set.contains(&leader) {
                        p.leader = leader;
                    }
                }
            }
        }
        Ok(())
    }

    async fn elect_preferred_leaders(
        &self,
        topic: &str,
        partitions: &[i32],
    ) -> Result<(), KafkaError> {
        self.count("ElectLeaders");
        let mut cluster = lock(&self.cluster);
        if let Some(topic) = cluster.topics.get_mut(topic) {
            for p in topic
                .partitions
                .iter_mut()
                .filter(|p| partitions.contains(&p.id))
            {
                p.leader = p.replicas[0];
            }
        }
        Ok(())
    }

    async fn alter_topics_configs(
        &self,
        changes: &[(String, ConfigChanges)],
        validate_only: bool,
    ) -> Result<TopicResults, KafkaError> {
        self.count("IncrementalAlterConfigs");
        let mut cluster = lock(&self.cluster);
        let mut results = TopicResults::new();
        for (name, change) in changes {
            let result = match self.refusal(name, &change.set) {
                Some(refused) => Err(refused),
                None => {
                    if !validate_only && let Some(topic) = cluster.topics.get_mut(name) {
                        for (k, v) in &change.set {
                            set_override(topic, k, Some(v));
                        }
                        for k in &change.delete {
                            set_override(topic, k, None);
                        }
                    }
                    Ok(())
                }
            };
            results.insert(name.clone(), result);
        }
        Ok(results)
    }

    /// As Kafka: the topic with that id goes, whatever its name; no topic has it, nothing goes.
    async fn delete_topic(&self, _topic: &str, topic_id: &str) -> Result<Deletion, KafkaError> {
        self.count("DeleteTopics");
        let mut cluster = lock(&self.cluster);
        let name = cluster
            .topics
            .values()
            .find(|t| t.topic_id.as_deref() == Some(topic_id))
            .map(|t| t.name.clone());
        Ok(match name {
            Some(name) => {
                cluster.topics.remove(&name);
                Deletion::Deleted
            }
            None => Deletion::UnknownId,
        })
    }

    async fn topic_use(&self, topic: &ObservedTopic, groups: bool) -> Result<TopicUse, KafkaError> {
        self.count("ListOffsets");
        let mut usage = lock(&self.uses)
            .get(&topic.name)
            .cloned()
            .unwrap_or_default();
        if !groups {
            usage.groups.clear();
        }
        Ok(usage)
    }

    fn request_counts(&self) -> BTreeMap<&'static str, u64> {
        lock(&self.counts).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    fn id_of(fake: &FakeKafka, name: &str) -> String {
        fake.topic(name).and_then(|t| t.topic_id).expect("an id")
    }

    #[tokio::test]
    async fn a_deletion_by_an_old_id_leaves_the_topic_created_again_under_that_name() {
        let fake = FakeKafka::with_brokers(3);
        let target = fixtures::target("t", 1, 3, 2);
        fake.create_topic(&target, &[], false).await.unwrap();
        let old = id_of(&fake, "t");
        assert_eq!(
            fake.delete_topic("t", &old).await.unwrap(),
            Deletion::Deleted
        );
        fake.create_topic(&target, &[], false).await.unwrap();
        let new = id_of(&fake, "t");
        assert_ne!(old, new);
        assert_eq!(
            fake.delete_topic("t", &old).await.unwrap(),
            Deletion::UnknownId
        );
        assert_eq!(id_of(&fake, "t"), new);
        assert_eq!(
            fake.delete_topic("t", &new).await.unwrap(),
            Deletion::Deleted
        );
        assert!(fake.topic("t").is_none());
    }
}
