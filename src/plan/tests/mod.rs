//! Unit tests of the plan, by theme, with the builders they share.

mod adoption;
mod configs;
mod creation;
mod replicas;

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::model::{
    BROKER_THROTTLE_CONFIGS, ConfigChanges, ConfigKind, DesiredTopic, LEADER_THROTTLED_REPLICAS,
    MIN_INSYNC_REPLICAS, ObservedConfig, ObservedTopic, TopicTarget, ValueSource, ValueSources,
};
use placement::{LiveBroker, Load};

impl TopicPlan {
    /// The plan that does nothing, with its target.
    pub fn towards(self, target: TopicTarget) -> TopicPlan {
        TopicPlan {
            target: Some(target),
            ..self
        }
    }
}

/// The plan with nothing remembered but whether a move was under way.
pub fn plan_with(
    desired: &DesiredTopic,
    observed: Option<&ObservedTopic>,
    cluster: &ClusterView,
    finishing: bool,
) -> TopicPlan {
    let memory = Memory {
        finishing,
        ..Memory::default()
    };
    plan_topic(desired, observed, cluster, &memory)
}

pub fn desired() -> DesiredTopic {
    let mut d = crate::fixtures::desired("orders", 3, 3, 2);
    d.configs = [("retention.ms".to_string(), "1000".to_string())].into();
    d
}

pub fn cluster(n: i32) -> ClusterView {
    ClusterView {
        live: (1..=n)
            .map(|id| LiveBroker {
                id,
                rack: Some(format!("r{id}")),
            })
            .collect(),
        load: Load::default(),
        broker_overrides: BTreeMap::new(),
        move_budget: 10,
        throttle: 1000,
        moving: 0,
    }
}

pub use crate::fixtures::partition;

pub fn observed(partitions: i32, rf: usize, overrides: &[(&str, &str)]) -> ObservedTopic {
    let mut configs: BTreeMap<String, ObservedConfig> = overrides
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                ObservedConfig {
                    value: Some(v.to_string()),
                    is_topic_override: true,
                    kind: Default::default(),
                },
            )
        })
        .collect();
    configs.insert(
        "segment.bytes".into(),
        ObservedConfig {
            value: Some("1".into()),
            is_topic_override: false,
            kind: Default::default(),
        },
    );
    ObservedTopic {
        defaults: Default::default(),
        name: "orders".into(),
        topic_id: Some("id".into()),
        is_internal: false,
        partitions: (0..partitions)
            .map(|id| partition(id, &(1..=rf as i32).collect::<Vec<_>>()))
            .collect(),
        configs,
    }
}

pub const IN_SYNC: &[(&str, &str)] = &[("retention.ms", "1000"), ("min.insync.replicas", "2")];

pub fn min_isr_set(plan: &TopicPlan) -> Option<&String> {
    plan.actions.iter().find_map(|a| match a {
        Action::AlterConfigs(c) => c.set.get(MIN_INSYNC_REPLICAS),
        _ => None,
    })
}

pub fn typed(topic: &mut ObservedTopic, key: &str, value: &str, kind: ConfigKind) {
    topic.configs.insert(
        key.into(),
        ObservedConfig {
            value: Some(value.into()),
            is_topic_override: true,
            kind,
        },
    );
}

/// The replica sets the plan's reassignment moves partitions to (the plan must have one).
pub fn reassignment(plan: &TopicPlan) -> &BTreeMap<i32, Vec<i32>> {
    plan.actions
        .iter()
        .find_map(|a| match a {
            Action::Reassign { moves } => Some(moves),
            _ => None,
        })
        .expect("a reassignment")
}
