//! Pure planning: desired topic + observed topic -> actions, drift, warnings. No I/O, no clock,
//! no randomness: the same inputs always give the same plan, so it is tested exhaustively here
//! and the controller only carries it out.

pub mod desired;
pub mod health;
pub mod warnings;

use std::collections::BTreeMap;

use crate::model::{ConfigChanges, DesiredTopic, ObservedTopic};

/// Topic configs the operator itself sets while it works (replication throttles during replica
/// moves). They are never drift and never removed by config alignment.
pub const OPERATOR_OWNED_CONFIGS: [&str; 2] = [
    "leader.replication.throttled.replicas",
    "follower.replication.throttled.replicas",
];

pub const UNSET: &str = "<unset>";

/// One change to Kafka, in the order they are applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Create the topic with every declared config in one request.
    CreateTopic(DesiredTopic),
    /// Grow to `total` partitions.
    CreatePartitions { total: i32 },
    /// Set and remove overrides in one atomic request.
    AlterConfigs(ConfigChanges),
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
    /// Condition reason.
    pub reason: &'static str,
    pub message: String,
}

/// A difference the operator sees but does not correct (yet); the topic is not Ready while it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unresolved {
    pub reason: &'static str,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TopicPlan {
    pub actions: Vec<Action>,
    pub drift: Vec<Drift>,
    pub blocker: Option<Blocker>,
    pub unresolved: Vec<Unresolved>,
}

/// Plans one topic. `live_brokers` are the ids of brokers in the cluster's metadata.
pub fn plan_topic(
    desired: &DesiredTopic,
    observed: Option<&ObservedTopic>,
    live_brokers: &[i32],
) -> TopicPlan {
    let Some(observed) = observed else {
        return plan_creation(desired, live_brokers);
    };
    let mut plan = TopicPlan::default();

    let observed_partitions = observed.partitions.len() as i32;
    if observed_partitions != desired.partitions {
        plan.drift.push(Drift {
            field: "partitions".into(),
            desired: desired.partitions.to_string(),
            observed: observed_partitions.to_string(),
        });
    }
    if observed_partitions > desired.partitions {
        plan.blocker = Some(Blocker {
            reason: "PartitionDecreaseNotAllowed",
            message: format!(
                "Kafka has {observed_partitions} partitions and the declaration {}: Kafka cannot remove partitions. \
                 Declare partitions: {observed_partitions} (or more); nothing is changed until then",
                desired.partitions
            ),
        });
    } else if observed_partitions < desired.partitions {
        plan.actions.push(Action::CreatePartitions {
            total: desired.partitions,
        });
    }

    if let Some(observed_rf) = observed.replication_factor()
        && observed_rf != desired.replication_factor
    {
        plan.drift.push(Drift {
            field: "replicationFactor".into(),
            desired: desired.replication_factor.to_string(),
            observed: observed_rf.to_string(),
        });
        plan.unresolved.push(Unresolved {
            reason: "ReplicationFactorMismatch",
            message: format!(
                "Kafka has replication factor {observed_rf}, the declaration {}: changing the replication factor \
                 of an existing topic (moving replicas) is not implemented yet; the operator leaves replicas where they are",
                desired.replication_factor
            ),
        });
    }

    let changes = config_changes(&desired.all_configs(), &observed.overrides());
    plan.drift
        .extend(config_drift(&desired.all_configs(), &observed.overrides()));
    if !changes.is_empty() {
        plan.actions.push(Action::AlterConfigs(changes));
    }

    if plan.blocker.is_some() {
        plan.actions.clear();
    }
    plan
}

fn plan_creation(desired: &DesiredTopic, live_brokers: &[i32]) -> TopicPlan {
    let mut plan = TopicPlan::default();
    if desired.replication_factor as usize > live_brokers.len() {
        plan.blocker = Some(not_enough_brokers(desired.replication_factor, live_brokers));
    } else {
        plan.actions.push(Action::CreateTopic(desired.clone()));
    }
    plan
}

pub fn not_enough_brokers(replication_factor: i32, live_brokers: &[i32]) -> Blocker {
    let ids: Vec<String> = live_brokers.iter().map(|b| b.to_string()).collect();
    Blocker {
        reason: "NotEnoughBrokers",
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

/// Overrides to set and to remove so that Kafka's overrides equal `desired` exactly.
fn config_changes(
    desired: &BTreeMap<String, String>,
    observed: &BTreeMap<&str, &str>,
) -> ConfigChanges {
    let set = desired
        .iter()
        .filter(|(k, v)| observed.get(k.as_str()) != Some(&v.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let delete = observed
        .keys()
        .filter(|k| !desired.contains_key(**k) && !OPERATOR_OWNED_CONFIGS.contains(k))
        .map(|k| k.to_string())
        .collect();
    ConfigChanges { set, delete }
}

fn config_drift(desired: &BTreeMap<String, String>, observed: &BTreeMap<&str, &str>) -> Vec<Drift> {
    let mut keys: Vec<&str> = desired.keys().map(String::as_str).collect();
    keys.extend(
        observed
            .keys()
            .filter(|k| !OPERATOR_OWNED_CONFIGS.contains(k)),
    );
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let d = desired.get(k).map(String::as_str);
            let o = observed.get(k).copied();
            (d != o).then(|| Drift {
                field: format!("config.{k}"),
                desired: d.unwrap_or(UNSET).to_string(),
                observed: o.unwrap_or(UNSET).to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ObservedConfig, ObservedPartition};

    fn desired() -> DesiredTopic {
        DesiredTopic {
            name: "orders".into(),
            partitions: 3,
            replication_factor: 3,
            min_in_sync_replicas: 2,
            configs: [("retention.ms".to_string(), "1000".to_string())].into(),
        }
    }

    fn observed(partitions: i32, rf: usize, overrides: &[(&str, &str)]) -> ObservedTopic {
        let mut configs: BTreeMap<String, ObservedConfig> = overrides
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    ObservedConfig {
                        value: Some(v.to_string()),
                        is_topic_override: true,
                    },
                )
            })
            .collect();
        configs.insert(
            "segment.bytes".into(),
            ObservedConfig {
                value: Some("1".into()),
                is_topic_override: false,
            },
        );
        ObservedTopic {
            name: "orders".into(),
            topic_id: Some("id".into()),
            is_internal: false,
            partitions: (0..partitions)
                .map(|id| {
                    let replicas: Vec<i32> = (1..=rf as i32).collect();
                    ObservedPartition {
                        id,
                        leader: 1,
                        isr: replicas.clone(),
                        replicas,
                    }
                })
                .collect(),
            configs,
        }
    }

    const IN_SYNC: &[(&str, &str)] = &[("retention.ms", "1000"), ("min.insync.replicas", "2")];

    #[test]
    fn a_missing_topic_is_created_with_everything_declared() {
        let plan = plan_topic(&desired(), None, &[1, 2, 3]);
        assert_eq!(plan.actions, vec![Action::CreateTopic(desired())]);
        assert!(plan.drift.is_empty() && plan.blocker.is_none());
    }

    #[test]
    fn a_missing_topic_with_too_few_brokers_is_blocked() {
        let plan = plan_topic(&desired(), None, &[1, 2]);
        assert!(plan.actions.is_empty());
        let b = plan.blocker.unwrap();
        assert_eq!(b.reason, "NotEnoughBrokers");
        assert!(b.message.contains("ids 1, 2"), "{}", b.message);
    }

    #[test]
    fn an_in_sync_topic_needs_nothing() {
        assert_eq!(
            plan_topic(&desired(), Some(&observed(3, 3, IN_SYNC)), &[1, 2, 3]),
            TopicPlan::default()
        );
    }

    #[test]
    fn partitions_grow() {
        let plan = plan_topic(&desired(), Some(&observed(2, 3, IN_SYNC)), &[1, 2, 3]);
        assert_eq!(plan.actions, vec![Action::CreatePartitions { total: 3 }]);
        assert_eq!(plan.drift[0].field, "partitions");
    }

    #[test]
    fn more_partitions_in_kafka_blocks_everything() {
        let plan = plan_topic(
            &desired(),
            Some(&observed(5, 3, &[("retention.ms", "9")])),
            &[1, 2, 3],
        );
        assert!(plan.actions.is_empty(), "{:?}", plan.actions);
        assert_eq!(plan.blocker.unwrap().reason, "PartitionDecreaseNotAllowed");
        assert!(plan.drift.iter().any(|d| d.field == "config.retention.ms"));
    }

    #[test]
    fn configs_are_set_changed_and_removed_in_one_change() {
        let plan = plan_topic(
            &desired(),
            Some(&observed(
                3,
                3,
                &[("retention.ms", "5"), ("cleanup.policy", "compact")],
            )),
            &[1, 2, 3],
        );
        let expected = ConfigChanges {
            set: [
                ("min.insync.replicas".to_string(), "2".to_string()),
                ("retention.ms".to_string(), "1000".to_string()),
            ]
            .into(),
            delete: vec!["cleanup.policy".into()],
        };
        assert_eq!(plan.actions, vec![Action::AlterConfigs(expected)]);
        let fields: Vec<_> = plan
            .drift
            .iter()
            .map(|d| (d.field.as_str(), d.desired.as_str(), d.observed.as_str()))
            .collect();
        assert_eq!(
            fields,
            vec![
                ("config.cleanup.policy", UNSET, "compact"),
                ("config.min.insync.replicas", "2", UNSET),
                ("config.retention.ms", "1000", "5"),
            ]
        );
    }

    #[test]
    fn operator_owned_throttle_configs_are_not_drift() {
        let mut overrides = IN_SYNC.to_vec();
        overrides.push(("leader.replication.throttled.replicas", "0:1"));
        assert_eq!(
            plan_topic(&desired(), Some(&observed(3, 3, &overrides)), &[1, 2, 3]),
            TopicPlan::default()
        );
    }

    #[test]
    fn replication_factor_difference_is_drift_left_unresolved() {
        let plan = plan_topic(&desired(), Some(&observed(3, 1, IN_SYNC)), &[1, 2, 3]);
        assert!(plan.actions.is_empty());
        assert_eq!(
            plan.drift,
            vec![Drift {
                field: "replicationFactor".into(),
                desired: "3".into(),
                observed: "1".into()
            }]
        );
        assert_eq!(plan.unresolved[0].reason, "ReplicationFactorMismatch");
    }
}
