//! What a plan is made of: actions, drift, blockers, progress, and what the status remembers.
use super::ignored::IgnoredKeys;
use crate::api::Reason;
use std::collections::{BTreeMap, BTreeSet};

use crate::model::{
    ConfigChanges, FOLLOWER_THROTTLED_REPLICAS, LEADER_THROTTLED_REPLICAS, MIN_INSYNC_REPLICAS,
    ObservedTopic, TopicTarget, ValueSources,
};

/// Topic configs the operator itself sets while it works (replication throttles during replica
/// moves). They are never drift and never removed by config alignment.
pub const OPERATOR_OWNED_CONFIGS: [&str; 2] =
    [LEADER_THROTTLED_REPLICAS, FOLLOWER_THROTTLED_REPLICAS];

pub const UNSET: &str = "<unset>";

/// One change to Kafka, in the order they are applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Create the topic with every declared config and our replica placement in one request.
    CreateTopic {
        topic: TopicTarget,
        assignments: Vec<Vec<i32>>,
    },
    /// Grow to `total` partitions; the new ones get `assignments`.
    CreatePartitions {
        total: i32,
        assignments: Vec<Vec<i32>>,
    },
    /// Set and remove overrides in one atomic request.
    AlterConfigs(ConfigChanges),
    /// Before moving replicas: throttle replication on the brokers involved (`rate` bytes/s,
    /// set only where it is not set already) and list the throttled replicas on the topic.
    Throttle {
        rate: i64,
        brokers: Vec<i32>,
        replicas: ConfigChanges,
    },
    /// Move partitions to new replica sets (preferred leader first).
    Reassign { moves: BTreeMap<i32, Vec<i32>> },
    /// After the topic's moves: remove its throttled-replica lists.
    Unthrottle(ConfigChanges),
    /// After the topic's moves: give leadership back to each partition's first replica.
    ElectLeaders { partitions: Vec<i32> },
}

/// One difference between the declaration and Kafka.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drift {
    pub field: String,
    pub desired: String,
    pub observed: String,
}

/// Why the plan cannot be carried out; nothing is applied while a blocker stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocker {
    pub reason: Reason,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TopicPlan {
    pub actions: Vec<Action>,
    pub drift: Vec<Drift>,
    pub blocker: Option<Blocker>,
    /// Present while replicas must move (or are moving) to reach the declared replication factor.
    pub reassignment: Option<Progress>,
    /// Set while a declared min.insync.replicas raise waits for the ISR to reach it.
    pub min_isr_waiting: Option<Blocker>,
    /// Declared configs Kafka did not take after the operator's own write: not rewritten until
    /// the declaration or Kafka's value changes.
    pub held: Vec<Drift>,
    /// Undeclared overrides kept from before the operator managed the topic (name -> value).
    pub kept: BTreeMap<String, String>,
    /// Overrides of keys the cluster leaves to other tools (name -> value): never drift.
    pub ignored: BTreeMap<String, String>,
    /// What the topic should be now, with where each value came from (None when the plan stopped
    /// before working it out: an internal topic).
    pub target: Option<TopicTarget>,
}

/// What the status remembers from earlier reconciles of the topic: the plan's only input besides
/// the declaration and the observation.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Memory {
    /// A replica move of this topic was under way at the last look: when nothing moves any
    /// more, throttles come off and leaders are elected again.
    pub finishing: bool,
    /// The topic id the status last recorded (None: the operator has not seen the topic yet).
    pub topic_id: Option<String>,
    /// Undeclared overrides the topic had when the operator first saw it, left alone.
    pub kept: BTreeSet<String>,
    /// Whether the cluster keeps undeclared overrides found at adoption (policy Keep) or
    /// removes them like any other drift (policy Remove).
    pub keep_adopted: bool,
    /// Declared configs Kafka did not take the last time the operator wrote them, with the
    /// value Kafka reported then.
    pub held: Vec<Drift>,
    /// Where the status said the topic's values came from; trusted for the topic with
    /// `topic_id` only (a topic deleted and created again behind the operator's back is new).
    pub sources: Option<ValueSources>,
    /// Config keys other tools own (the KafkaCluster's policy.ignoredConfigKeys).
    pub ignored: IgnoredKeys,
}

impl Memory {
    /// The undeclared overrides left alone now: those remembered for this very topic (same
    /// topic id), or, at the first look at a topic (or one deleted and created again behind the
    /// operator's back), every undeclared override it has.
    pub(super) fn kept_overrides(
        &self,
        desired: &TopicTarget,
        observed: &ObservedTopic,
    ) -> BTreeMap<String, String> {
        if !self.keep_adopted {
            return BTreeMap::new();
        }
        let first_look = self.topic_id.is_none() || self.topic_id != observed.topic_id;
        observed
            .overrides()
            .into_iter()
            .filter(|(k, _)| is_undeclared(desired, k) && self.ignored.matching(k).is_none())
            .filter(|(k, _)| first_look || self.kept.contains(*k))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The sources remembered for this very topic.
    pub(super) fn sources_of(&self, observed: &ObservedTopic) -> Option<ValueSources> {
        self.sources
            .filter(|_| self.topic_id.is_some() && self.topic_id == observed.topic_id)
    }
}

/// An override the declaration does not name and the operator does not own. An undeclared
/// min.insync.replicas is not one: spec.minInSyncReplicas left out means "as Kafka has it".
pub(super) fn is_undeclared(desired: &TopicTarget, key: &str) -> bool {
    !desired.all_configs().contains_key(key)
        && !OPERATOR_OWNED_CONFIGS.contains(&key)
        && key != MIN_INSYNC_REPLICAS
}

/// How far a replication-factor change has come.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    pub target_replication_factor: i32,
    /// Partitions at the target with a full ISR and no move under way.
    pub done: usize,
    pub remaining: usize,
    /// Partitions moving now (including those this plan starts).
    pub moving: usize,
    /// Partitions waiting for a free slot (maxConcurrentMoves).
    pub waiting: usize,
}

pub fn not_enough_brokers(replication_factor: i32, live_brokers: &[i32]) -> Blocker {
    let ids: Vec<String> = live_brokers.iter().map(|b| b.to_string()).collect();
    Blocker {
        reason: Reason::NotEnoughBrokers,
        message: format!(
            "replication factor {replication_factor} needs {replication_factor} live brokers; the cluster has {} ({})",
            live_brokers.len(),
            if ids.is_empty() {
                "none".to_string()
            } else {
                format!("ids {}", ids.join(", "))
            }
        ),
    }
}

pub fn internal_topic(name: &str) -> Blocker {
    Blocker {
        reason: Reason::InternalTopic,
        message: format!(
            "{name} is one of Kafka's internal topics: the operator never manages or changes it"
        ),
    }
}
