//! What the plan needs to know about the rest of the cluster, built once per snapshot.
use std::collections::BTreeMap;

use super::placement::{LiveBroker, Load};
use crate::model::{ClusterSnapshot, ObservedTopic};

/// What the plan needs to know about the rest of the cluster.
#[derive(Clone, Debug, Default)]
pub struct ClusterView {
    /// Brokers in the metadata (live); others are offline and never receive replicas.
    pub live: Vec<LiveBroker>,
    /// Replicas and preferred leaders per broker across all topics.
    pub load: Load,
    /// Dynamic throttle-rate overrides per broker.
    pub broker_overrides: BTreeMap<i32, BTreeMap<String, String>>,
    /// Partitions that may start moving now in this cluster (maxConcurrentMoves minus moves under way).
    pub move_budget: usize,
    /// Replication throttle for moves, bytes/s (0: unthrottled).
    pub throttle: i64,
    /// Partitions moving now in the whole cluster.
    pub moving: usize,
}

impl ClusterView {
    /// The view from a snapshot's brokers and a set of observed topics (the snapshot's own, or
    /// with the controller's fresher per-topic reads patched in).
    pub fn new(
        snapshot: &ClusterSnapshot,
        topics: &[ObservedTopic],
        max_concurrent_moves: usize,
        throttle: i64,
    ) -> Self {
        let sets: Vec<Vec<i32>> = topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.target_replicas()))
            .collect();
        let moving = topics
            .iter()
            .flat_map(|t| &t.partitions)
            .filter(|p| p.is_moving())
            .count();
        ClusterView {
            live: snapshot
                .brokers
                .iter()
                .map(|b| LiveBroker {
                    id: b.id,
                    rack: b.rack.clone(),
                })
                .collect(),
            load: Load::from_assignments(sets.iter().map(Vec::as_slice)),
            broker_overrides: snapshot.broker_overrides.clone(),
            move_budget: max_concurrent_moves.max(1).saturating_sub(moving),
            throttle,
            moving,
        }
    }

    /// The same view under a cluster's reassignment policy. The budget counts the moves under
    /// way, which the view keeps from when it was built.
    pub fn with_policy(&self, max_concurrent_moves: usize, throttle: i64) -> ClusterView {
        ClusterView {
            move_budget: max_concurrent_moves.max(1).saturating_sub(self.moving),
            throttle,
            ..self.clone()
        }
    }

    pub fn live_ids(&self) -> Vec<i32> {
        self.live.iter().map(|b| b.id).collect()
    }
}
