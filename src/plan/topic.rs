//! Plans one topic: its creation, or the changes that make an existing topic match what it
//! should be now (its target: declared values, and Kafka's for the fields left out).
use super::configs::{config_changes, config_drift, config_key, hold_min_isr_raise};
use super::placement::{self, Brokers};
use super::replicas::plan_replicas;
use super::types::{Action, Blocker, Drift, Memory, TopicPlan, internal_topic, not_enough_brokers};
use super::view::ClusterView;
use crate::api::Reason;
use crate::model::{DesiredTopic, MinIsrTooHigh, ObservedTopic, TopicTarget, ValueSource};

/// Plans one topic from its declaration, what Kafka shows, the rest of the cluster and what the
/// status remembers.
pub fn plan_topic(
    desired: &DesiredTopic,
    observed: Option<&ObservedTopic>,
    cluster: &ClusterView,
    memory: &Memory,
) -> TopicPlan {
    if let Some(message) = memory.ignored.refuse_declared(desired) {
        return TopicPlan {
            blocker: Some(Blocker {
                reason: Reason::InvalidSpec,
                message,
            }),
            ..TopicPlan::default()
        };
    }
    let Some(observed) = observed else {
        return match desired.for_creation() {
            Ok(target) => plan_creation(target, cluster),
            Err(too_high) => min_isr_too_high(too_high),
        };
    };
    if observed.is_internal {
        return TopicPlan {
            blocker: Some(internal_topic(&desired.name)),
            ..TopicPlan::default()
        };
    }
    let desired = match desired.for_existing(observed, memory.sources_of(observed)) {
        Ok(target) => target,
        Err(too_high) => return min_isr_too_high(too_high),
    };
    let mut plan = plan_existing(&desired, observed, cluster, memory);
    plan.target = Some(desired);
    plan
}

/// The plan for a topic that exists, towards `desired` (its undeclared fields already as Kafka
/// has them).
fn plan_existing(
    desired: &TopicTarget,
    observed: &ObservedTopic,
    cluster: &ClusterView,
    memory: &Memory,
) -> TopicPlan {
    let mut plan = TopicPlan::default();
    let mut load = cluster.load.clone();
    let brokers = Brokers::new(&cluster.live);

    let observed_partitions = observed.partitions.len() as i32;
    if observed_partitions != desired.partitions {
        plan.drift.push(Drift {
            field: "partitions".into(),
            desired: desired.partitions.to_string(),
            observed: observed_partitions.to_string(),
        });
    }
    let rf = desired.replication_factor as usize;
    if observed_partitions > desired.partitions {
        plan.blocker = Some(Blocker {
            reason: Reason::PartitionDecreaseNotAllowed,
            message: format!(
                "Kafka has {observed_partitions} partitions and the declaration {}: Kafka cannot remove partitions. \
                 Declare partitions: {observed_partitions} (or more); nothing is changed until then",
                desired.partitions
            ),
        });
    } else if observed_partitions < desired.partitions
        // Kafka wants new partitions with as many replicas as the existing ones: when the
        // replication factor changes too, the existing partitions move first and the new ones
        // are added at the declared factor afterwards.
        && observed.partitions.iter().all(|p| !p.is_moving() && p.replicas.len() == rf)
    {
        let count = (desired.partitions - observed_partitions) as usize;
        match placement::place_new(count, rf, &brokers, &mut load) {
            Ok(assignments) => plan.actions.push(Action::CreatePartitions {
                total: desired.partitions,
                assignments,
            }),
            Err(_) => {
                plan.blocker = Some(not_enough_brokers(
                    desired.replication_factor,
                    &cluster.live_ids(),
                ))
            }
        }
    }

    if let Some(observed_rf) = observed.replication_factor()
        && observed_rf != desired.replication_factor
    {
        plan.drift.push(Drift {
            field: "replicationFactor".into(),
            desired: desired.replication_factor.to_string(),
            observed: observed_rf.to_string(),
        });
    }

    plan.kept = memory.kept_overrides(desired, observed);
    plan.ignored = memory.ignored.overrides_of(observed);
    let mut left_alone = plan.kept.clone();
    left_alone.extend(plan.ignored.clone());
    let config_drift = config_drift(desired, observed, &left_alone);
    let mut changes = config_changes(&config_drift);
    // Kafka did not take these the last time: writing them again would loop for ever.
    plan.held = config_drift
        .iter()
        .filter(|d| memory.held.contains(d))
        .cloned()
        .collect();
    for d in &plan.held {
        changes.set.remove(config_key(d));
    }
    plan.min_isr_waiting = hold_min_isr_raise(desired, observed, &mut changes);
    plan.drift.extend(config_drift);
    if !changes.is_empty() {
        plan.actions.push(Action::AlterConfigs(changes));
    }

    if plan.blocker.is_none() {
        plan_replicas(
            &mut plan,
            desired,
            observed,
            cluster,
            &mut load,
            memory.finishing,
        );
    }
    if plan.blocker.is_some() {
        plan.actions.clear();
    }
    plan
}

/// A declaration whose minInSyncReplicas exceeds the replication factor the topic would have:
/// nothing is done (every acks=all write would fail).
fn min_isr_too_high(too_high: MinIsrTooHigh) -> TopicPlan {
    let rf = too_high.target.replication_factor;
    let whose = match too_high.target.sources.replication_factor {
        ValueSource::Spec => "declared".to_string(),
        ValueSource::TopicDefaults => "from the KafkaCluster's topicDefaults".to_string(),
        ValueSource::Kafka => "as Kafka has it (replicationFactor is not declared)".to_string(),
    };
    TopicPlan {
        blocker: Some(Blocker {
            reason: Reason::InvalidSpec,
            message: format!(
                "minInSyncReplicas {} exceeds the replication factor {rf} ({whose}): every acks=all write would fail; declare replicationFactor {} or more, or a lower minInSyncReplicas",
                too_high.min_isr, too_high.min_isr
            ),
        }),
        target: Some(too_high.target),
        ..TopicPlan::default()
    }
}

fn plan_creation(desired: TopicTarget, cluster: &ClusterView) -> TopicPlan {
    let mut plan = TopicPlan::default();
    let brokers = Brokers::new(&cluster.live);
    let mut load = cluster.load.clone();
    match placement::place_new(
        desired.partitions as usize,
        desired.replication_factor as usize,
        &brokers,
        &mut load,
    ) {
        Ok(assignments) => plan.actions.push(Action::CreateTopic {
            topic: desired.clone(),
            assignments,
        }),
        Err(_) => {
            plan.blocker = Some(not_enough_brokers(
                desired.replication_factor,
                &cluster.live_ids(),
            ))
        }
    }
    plan.target = Some(desired);
    plan
}
