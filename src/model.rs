//! Plain data that `plan` reads and the Kafka client produces: what is desired (a KafkaTopic with
//! its cluster's defaults applied) and what was observed (a snapshot of the cluster). No I/O here,
//! so `plan` never reaches the network and both sides can be built freely in tests.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::api::Reason;

/// A broker as Kafka's metadata lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broker {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

/// One partition as observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedPartition {
    pub id: i32,
    /// -1 when the partition has no leader (offline).
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// While a reassignment moves the partition: replicas being added and removed. During the
    /// move `replicas` holds both the old and the new ones.
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

impl ObservedPartition {
    pub fn is_moving(&self) -> bool {
        !self.adding.is_empty() || !self.removing.is_empty()
    }

    /// In-sync replicas that stay in the partition (those being removed do not count).
    pub fn target_isr(&self) -> usize {
        self.isr
            .iter()
            .filter(|b| !self.removing.contains(b))
            .count()
    }

    /// Replicas that must be in sync for the partition to be fully replicated: the ones it has
    /// and keeps. Replicas being added are still catching up and replicas being removed are on
    /// their way out; neither makes a healthy move look under-replicated.
    pub fn is_under_replicated(&self) -> bool {
        self.replicas
            .iter()
            .filter(|b| !self.adding.contains(b) && !self.removing.contains(b))
            .any(|b| !self.isr.contains(b))
    }

    /// The replica set the partition ends with (the current one when it is not moving).
    pub fn target_replicas(&self) -> Vec<i32> {
        self.replicas
            .iter()
            .copied()
            .filter(|b| !self.removing.contains(b))
            .collect()
    }
}

/// A config of a topic as Kafka reports it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ObservedConfig {
    pub value: Option<String>,
    /// True when the value is a dynamic override on the topic itself (not a broker or Kafka default).
    pub is_topic_override: bool,
    /// The config's type, as DescribeConfigs reports it: how its values compare.
    pub kind: ConfigKind,
}

/// A config's type in Kafka's ConfigDef. Kafka parses what it is given (`1` for a double,
/// `True` for a boolean, `compact, delete` for a list) and prints its own canonical form, so
/// values are compared by meaning, not by spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ConfigKind {
    Boolean,
    Integer,
    Double,
    List,
    /// Strings, class names, passwords, and configs whose type Kafka did not say.
    #[default]
    Text,
}

impl ConfigKind {
    /// From DescribeConfigs' config_type (BOOLEAN 1, STRING 2, INT 3, SHORT 4, LONG 5,
    /// DOUBLE 6, LIST 7, CLASS 8, PASSWORD 9; 0 unknown).
    pub fn from_kafka(code: i8) -> Self {
        match code {
            1 => ConfigKind::Boolean,
            3..=5 => ConfigKind::Integer,
            6 => ConfigKind::Double,
            7 => ConfigKind::List,
            _ => ConfigKind::Text,
        }
    }

    /// True when Kafka reads `a` and `b` as the same value.
    pub fn same(self, a: &str, b: &str) -> bool {
        if a == b {
            return true;
        }
        let (a, b) = (a.trim(), b.trim());
        match self {
            ConfigKind::Boolean => a.eq_ignore_ascii_case(b),
            ConfigKind::Integer => match (a.parse::<i64>(), b.parse::<i64>()) {
                (Ok(x), Ok(y)) => x == y,
                _ => a == b,
            },
            ConfigKind::Double => match (a.parse::<f64>(), b.parse::<f64>()) {
                (Ok(x), Ok(y)) => x == y,
                _ => a == b,
            },
            // Kafka splits lists on commas and trims each item (an empty string is an empty list).
            ConfigKind::List => list_items(a) == list_items(b),
            ConfigKind::Text => a == b,
        }
    }
}

fn list_items(value: &str) -> Vec<&str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .collect()
}

/// One topic as observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObservedTopic {
    pub name: String,
    pub topic_id: Option<String>,
    /// Kafka's own topics (__consumer_offsets, __transaction_state, ...).
    pub is_internal: bool,
    pub partitions: Vec<ObservedPartition>,
    /// The topic's configs: its overrides, and any other value that differs from `defaults`.
    pub configs: BTreeMap<String, ObservedConfig>,
    /// Config values in effect for topics without their own (Kafka's and the brokers'
    /// defaults), shared by every topic of one read: thousands of topics hold one copy.
    pub defaults: Arc<BTreeMap<String, ObservedConfig>>,
}

impl ObservedTopic {
    /// The topic's own dynamic overrides (what `kafka-configs --describe` lists).
    pub fn overrides(&self) -> BTreeMap<&str, &str> {
        self.configs
            .iter()
            .filter(|(_, c)| c.is_topic_override)
            .filter_map(|(k, c)| c.value.as_deref().map(|v| (k.as_str(), v)))
            .collect()
    }

    fn config(&self, key: &str) -> Option<&ObservedConfig> {
        self.configs.get(key).or_else(|| self.defaults.get(key))
    }

    /// A config's value in effect, override or default.
    pub fn effective(&self, key: &str) -> Option<&str> {
        self.config(key).and_then(|c| c.value.as_deref())
    }

    /// True when `declared` is, as Kafka reads it, the value in effect for `key`.
    pub fn has_value(&self, key: &str, declared: &str) -> bool {
        match self.config(key) {
            Some(c) => c.value.as_deref().is_some_and(|v| c.kind.same(v, declared)),
            None => false,
        }
    }

    /// The lowest committed replica count of any partition (what "the replication factor" means for
    /// durability), or None for a topic without partitions.
    pub fn replication_factor(&self) -> Option<i32> {
        self.partitions
            .iter()
            // While a partition moves, its added replicas do not count yet. (Counted, not
            // subtracted: metadata and the reassignment list are read at different moments.)
            .map(|p| p.replicas.iter().filter(|b| !p.adding.contains(b)).count() as i32)
            .min()
    }

    /// Partitions whose in-sync replicas are fewer than `needed`, or that are moving (their ISR
    /// is about to change): raising min.insync.replicas to `needed` now would make those refuse
    /// acks=all writes.
    pub fn partitions_short_of_isr(&self, needed: i32) -> Vec<i32> {
        self.partitions
            .iter()
            .filter(|p| p.is_moving() || (p.target_isr() as i32) < needed)
            .map(|p| p.id)
            .collect()
    }

    pub fn min_in_sync_replicas(&self) -> Option<i32> {
        self.effective(MIN_INSYNC_REPLICAS)
            .and_then(|v| v.parse().ok())
    }
}

pub const MIN_INSYNC_REPLICAS: &str = "min.insync.replicas";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_move_listed_before_the_metadata_shows_it_does_not_break_the_replication_factor() {
        // Metadata read just before the move started ([1]); the reassignment list just after.
        let topic = ObservedTopic {
            defaults: Default::default(),
            name: "t".into(),
            topic_id: None,
            is_internal: false,
            partitions: vec![ObservedPartition {
                id: 0,
                leader: 1,
                replicas: vec![1],
                isr: vec![1],
                adding: vec![2, 3],
                removing: vec![],
            }],
            configs: Default::default(),
        };
        assert_eq!(topic.replication_factor(), Some(1));
        assert!(topic.partitions[0].is_moving());
    }
}

/// Everything the operator knows about one cluster at one moment, read in a few batched calls.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ClusterSnapshot {
    pub cluster_id: Option<String>,
    pub brokers: Vec<Broker>,
    pub topics: BTreeMap<String, ObservedTopic>,
    /// Dynamic per-broker overrides of the configs the operator manages (replication throttle
    /// rates), by broker id.
    pub broker_overrides: BTreeMap<i32, BTreeMap<String, String>>,
    /// Brokers with auto.create.topics.enable=true: a producer's or consumer's first look at a
    /// missing topic creates it there with the broker's defaults.
    pub auto_create_brokers: Vec<i32>,
    /// Brokers whose own configs could not be read this time, with why.
    pub broker_errors: BTreeMap<i32, String>,
    /// Topics Kafka refused to describe (not authorized, ...): (condition reason, message).
    /// They are absent from `topics`; their KafkaTopics show this reason, the rest go on.
    pub topic_errors: BTreeMap<String, (Reason, String)>,
}

pub const AUTO_CREATE_TOPICS: &str = "auto.create.topics.enable";

/// Broker configs the operator sets while replicas move, and removes afterwards.
pub const BROKER_THROTTLE_CONFIGS: [&str; 2] = [
    "leader.replication.throttled.rate",
    "follower.replication.throttled.rate",
];
/// Topic configs listing the throttled replicas of a move (`partition:broker,...`).
pub const LEADER_THROTTLED_REPLICAS: &str = "leader.replication.throttled.replicas";
pub const FOLLOWER_THROTTLED_REPLICAS: &str = "follower.replication.throttled.replicas";

/// A KafkaTopic as declared, with the values its KafkaCluster's topicDefaults give the fields it
/// leaves out. Those defaults are for creation only: for a topic that exists, a field left out is
/// whatever Kafka has (`for_existing`), so neither adopting a topic with a short spec nor editing
/// topicDefaults later changes anything the spec does not name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredTopic {
    pub name: String,
    /// Declared in the spec; None when left out.
    pub partitions: Option<i32>,
    pub replication_factor: Option<i32>,
    pub min_in_sync_replicas: Option<i32>,
    /// spec.config rendered as Kafka strings; min.insync.replicas is not in here.
    pub configs: BTreeMap<String, String>,
    /// What a field left out gets when the operator creates the topic.
    pub creation_defaults: CreationDefaults,
}

/// A KafkaCluster's topicDefaults for the three fields a topic cannot be created without.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreationDefaults {
    pub partitions: i32,
    pub replication_factor: i32,
    pub min_in_sync_replicas: i32,
}

/// Where a value in effect came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueSource {
    /// Declared in the spec: the operator keeps Kafka at it.
    Spec,
    /// Left out of the spec and filled from the KafkaCluster's topicDefaults when the operator
    /// created the topic; never changed since (a later change of topicDefaults changes nothing).
    TopicDefaults,
    /// Left out of the spec on a topic that existed: what Kafka has, never changed.
    Kafka,
}

/// Where each of a topic's three main values came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValueSources {
    pub partitions: ValueSource,
    pub replication_factor: ValueSource,
    pub min_in_sync_replicas: ValueSource,
}

/// What one topic should be now: the declared values, and for the fields left out, the creation
/// defaults (a topic to create) or Kafka's values (a topic that exists).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicTarget {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i32,
    /// None: not declared on an existing topic, so whatever Kafka has stays (override or not).
    pub min_in_sync_replicas: Option<i32>,
    pub configs: BTreeMap<String, String>,
    pub sources: ValueSources,
}

/// minInSyncReplicas above the replication factor the topic would have: every acks=all write
/// would fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MinIsrTooHigh {
    pub target: TopicTarget,
    pub min_isr: i32,
}

impl DesiredTopic {
    fn source(declared: Option<i32>, otherwise: ValueSource) -> ValueSource {
        if declared.is_some() {
            ValueSource::Spec
        } else {
            otherwise
        }
    }

    /// The topic the operator creates: declared values, the rest from topicDefaults.
    pub fn for_creation(&self) -> Result<TopicTarget, MinIsrTooHigh> {
        let d = self.creation_defaults;
        let defaults = ValueSource::TopicDefaults;
        let target = TopicTarget {
            name: self.name.clone(),
            partitions: self.partitions.unwrap_or(d.partitions),
            replication_factor: self.replication_factor.unwrap_or(d.replication_factor),
            min_in_sync_replicas: Some(self.min_in_sync_replicas.unwrap_or(d.min_in_sync_replicas)),
            configs: self.configs.clone(),
            sources: ValueSources {
                partitions: Self::source(self.partitions, defaults),
                replication_factor: Self::source(self.replication_factor, defaults),
                min_in_sync_replicas: Self::source(self.min_in_sync_replicas, defaults),
            },
        };
        target.checked()
    }

    /// The topic as it should be now that it exists: declared values; the rest as Kafka has
    /// them. `created_with_defaults` are the sources the status remembers for this very topic
    /// (same topic id), so a value the operator once filled from topicDefaults is reported so.
    pub fn for_existing(
        &self,
        observed: &ObservedTopic,
        created_with_defaults: Option<ValueSources>,
    ) -> Result<TopicTarget, MinIsrTooHigh> {
        let undeclared = |remembered: Option<ValueSource>| match remembered {
            Some(ValueSource::TopicDefaults) => ValueSource::TopicDefaults,
            _ => ValueSource::Kafka,
        };
        let remembered = created_with_defaults;
        let target = TopicTarget {
            name: self.name.clone(),
            partitions: self.partitions.unwrap_or(observed.partitions.len() as i32),
            replication_factor: self
                .replication_factor
                .or(observed.replication_factor())
                .unwrap_or(0),
            min_in_sync_replicas: self.min_in_sync_replicas,
            configs: self.configs.clone(),
            sources: ValueSources {
                partitions: Self::source(
                    self.partitions,
                    undeclared(remembered.map(|s| s.partitions)),
                ),
                replication_factor: Self::source(
                    self.replication_factor,
                    undeclared(remembered.map(|s| s.replication_factor)),
                ),
                min_in_sync_replicas: Self::source(
                    self.min_in_sync_replicas,
                    undeclared(remembered.map(|s| s.min_in_sync_replicas)),
                ),
            },
        };
        target.checked()
    }
}

impl TopicTarget {
    fn checked(self) -> Result<TopicTarget, MinIsrTooHigh> {
        match self.min_in_sync_replicas {
            Some(min_isr) if min_isr > self.replication_factor => Err(MinIsrTooHigh {
                target: self,
                min_isr,
            }),
            _ => Ok(self),
        }
    }

    /// Every dynamic override the topic should carry, min.insync.replicas included when it is
    /// declared (or is a creation default).
    pub fn all_configs(&self) -> BTreeMap<String, String> {
        let mut all = self.configs.clone();
        if let Some(min_isr) = self.min_in_sync_replicas {
            all.insert(MIN_INSYNC_REPLICAS.to_string(), min_isr.to_string());
        }
        all
    }
}

/// Changes to a topic's dynamic overrides, applied in one atomic IncrementalAlterConfigs call.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ConfigChanges {
    /// Overrides to set (added or changed).
    pub set: BTreeMap<String, String>,
    /// Overrides to remove (the topic falls back to the broker default).
    pub delete: Vec<String>,
}

impl ConfigChanges {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.delete.is_empty()
    }
}
