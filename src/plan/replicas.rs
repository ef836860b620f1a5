//! Replica moves towards the target replication factor, their throttles, and the clean-up
//! (throttles off, preferred leaders back) once nothing of the topic moves any more.
use std::collections::{BTreeMap, BTreeSet};

use super::placement::{self, Brokers, Load};
use super::types::{Action, OPERATOR_OWNED_CONFIGS, Progress, TopicPlan, not_enough_brokers};
use super::view::ClusterView;
use crate::model::{
    BROKER_THROTTLE_CONFIGS, ConfigChanges, FOLLOWER_THROTTLED_REPLICAS, LEADER_THROTTLED_REPLICAS,
    ObservedTopic, TopicTarget,
};

/// Replica moves towards the declared replication factor, with their throttles, and the
/// clean-up (throttles off, leaders back) once nothing of the topic moves any more.
pub(super) fn plan_replicas(
    plan: &mut TopicPlan,
    desired: &TopicTarget,
    observed: &ObservedTopic,
    cluster: &ClusterView,
    load: &mut Load,
    finishing: bool,
) {
    let rf = desired.replication_factor as usize;
    let brokers = Brokers::new(&cluster.live);
    let needs_move: Vec<_> = observed
        .partitions
        .iter()
        .filter(|p| !p.is_moving() && p.replicas.len() != rf)
        .collect();
    if needs_move.iter().any(|p| {
        rf > p.replicas.len()
            + cluster
                .live
                .iter()
                .filter(|b| !p.replicas.contains(&b.id))
                .count()
    }) {
        plan.blocker = Some(not_enough_brokers(
            desired.replication_factor,
            &cluster.live_ids(),
        ));
        return;
    }
    let moving_now = observed.partitions.iter().filter(|p| p.is_moving()).count();
    // A shrink starts only once min.insync.replicas in effect fits the smaller replica set
    // (this plan lowers it first; the moves follow at the next look).
    let shrink_allowed = observed.min_in_sync_replicas().unwrap_or(1) <= desired.replication_factor;
    let mut moves = BTreeMap::new();
    for p in needs_move
        .iter()
        .filter(|p| shrink_allowed || p.replicas.len() < rf)
        .take(cluster.move_budget)
    {
        match placement::resize(&p.replicas, p.leader, rf, &brokers, load) {
            Ok(set) => {
                moves.insert(p.id, set);
            }
            Err(_) => {
                plan.blocker = Some(not_enough_brokers(
                    desired.replication_factor,
                    &cluster.live_ids(),
                ));
                return;
            }
        }
    }
    let incomplete = observed
        .partitions
        .iter()
        .filter(|p| p.is_moving() || p.replicas.len() != rf || p.isr.len() < p.replicas.len())
        .count();
    let under_way = moving_now + moves.len() + (needs_move.len() - moves.len());
    if under_way > 0 || (finishing && incomplete > 0) {
        plan.reassignment = Some(Progress {
            target_replication_factor: desired.replication_factor,
            done: observed.partitions.len() - incomplete,
            remaining: incomplete,
            moving: moving_now + moves.len(),
            waiting: needs_move.len() - moves.len(),
        });
    }

    let overrides = observed.overrides();
    // Throttled replicas: the current ones (sources) lead, the new ones follow; for moves
    // already under way too, since the lists are replaced whole.
    let mut leaders = BTreeSet::new();
    let mut followers = BTreeSet::new();
    let mut involved = BTreeSet::new();
    for p in &observed.partitions {
        let (current, new): (Vec<i32>, Vec<i32>) = match moves.get(&p.id) {
            Some(target) => (
                p.replicas.clone(),
                target
                    .iter()
                    .copied()
                    .filter(|b| !p.replicas.contains(b))
                    .collect(),
            ),
            None if p.is_moving() => (
                p.replicas
                    .iter()
                    .copied()
                    .filter(|b| !p.adding.contains(b))
                    .collect(),
                p.adding.clone(),
            ),
            None => continue,
        };
        for b in &current {
            leaders.insert(format!("{}:{b}", p.id));
            involved.insert(*b);
        }
        for b in &new {
            followers.insert(format!("{}:{b}", p.id));
            involved.insert(*b);
        }
    }
    // Brokers of this topic's moves without the declared rate (never set, or removed meanwhile,
    // for example by another operator instance that saw no move): a move is never left to run
    // unthrottled.
    let rate = cluster.throttle.to_string();
    let unthrottled: Vec<i32> = involved
        .into_iter()
        .filter(|b| {
            let set = cluster.broker_overrides.get(b);
            !BROKER_THROTTLE_CONFIGS
                .iter()
                .all(|k| set.and_then(|s| s.get(*k)) == Some(&rate))
        })
        .collect();
    if !moves.is_empty() {
        if cluster.throttle > 0 {
            let mut replicas = ConfigChanges::default();
            replicas
                .set
                .insert(LEADER_THROTTLED_REPLICAS.to_string(), join(&leaders));
            replicas
                .set
                .insert(FOLLOWER_THROTTLED_REPLICAS.to_string(), join(&followers));
            plan.actions.push(Action::Throttle {
                rate: cluster.throttle,
                brokers: unthrottled,
                replicas,
            });
        }
        plan.actions.push(Action::Reassign { moves });
        return;
    }
    if moving_now > 0 && cluster.throttle > 0 && !unthrottled.is_empty() {
        plan.actions.push(Action::Throttle {
            rate: cluster.throttle,
            brokers: unthrottled,
            replicas: ConfigChanges::default(),
        });
    }
    if moving_now > 0 || incomplete > 0 {
        return; // wait for Kafka to finish (or for a free move slot)
    }
    // Nothing of this topic moves: take its throttles off and, after a move, lead as placed.
    let throttled: Vec<String> = OPERATOR_OWNED_CONFIGS
        .iter()
        .filter(|k| overrides.contains_key(**k))
        .map(|k| k.to_string())
        .collect();
    if !throttled.is_empty() {
        plan.actions.push(Action::Unthrottle(ConfigChanges {
            set: BTreeMap::new(),
            delete: throttled,
        }));
    }
    if finishing {
        let misled: Vec<i32> = observed
            .partitions
            .iter()
            .filter(|p| p.replicas.first() != Some(&p.leader))
            .map(|p| p.id)
            .collect();
        if !misled.is_empty() {
            plan.actions
                .push(Action::ElectLeaders { partitions: misled });
        }
    }
}

fn join(items: &BTreeSet<String>) -> String {
    items.iter().cloned().collect::<Vec<_>>().join(",")
}
