//! Pure planning: desired topic + observed topic -> actions, drift, warnings. No I/O, no clock,
//! no randomness: the same inputs always give the same plan, so it is tested exhaustively here
//! and the controller only carries it out.

pub mod desired;
pub mod health;
pub mod placement;
pub mod warnings;

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{
    BROKER_THROTTLE_CONFIGS, ClusterSnapshot, ConfigChanges, DesiredTopic,
    FOLLOWER_THROTTLED_REPLICAS, LEADER_THROTTLED_REPLICAS, MIN_INSYNC_REPLICAS, MinIsrTooHigh,
    ObservedTopic, TopicTarget, ValueSource, ValueSources,
};
use placement::{Brokers, LiveBroker, Load};

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
    /// Condition reason.
    pub reason: &'static str,
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
}

impl Memory {
    /// The undeclared overrides left alone now: those remembered for this very topic (same
    /// topic id), or, at the first look at a topic (or one deleted and created again behind the
    /// operator's back), every undeclared override it has.
    fn kept_overrides(
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
            .filter(|(k, _)| is_undeclared(desired, k))
            .filter(|(k, _)| first_look || self.kept.contains(*k))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The sources remembered for this very topic.
    fn sources_of(&self, observed: &ObservedTopic) -> Option<ValueSources> {
        self.sources
            .filter(|_| self.topic_id.is_some() && self.topic_id == observed.topic_id)
    }
}

/// An override the declaration does not name and the operator does not own. An undeclared
/// min.insync.replicas is not one: spec.minInSyncReplicas left out means "as Kafka has it".
fn is_undeclared(desired: &TopicTarget, key: &str) -> bool {
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

/// Plans one topic from its declaration, what Kafka shows, the rest of the cluster and what the
/// status remembers.
pub fn plan_topic(
    desired: &DesiredTopic,
    observed: Option<&ObservedTopic>,
    cluster: &ClusterView,
    memory: &Memory,
) -> TopicPlan {
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
            reason: "PartitionDecreaseNotAllowed",
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
    let config_drift = config_drift(desired, observed, &plan.kept);
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

/// Replica moves towards the declared replication factor, with their throttles, and the
/// clean-up (throttles off, leaders back) once nothing of the topic moves any more.
fn plan_replicas(
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
            reason: "InvalidSpec",
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

pub fn internal_topic(name: &str) -> Blocker {
    Blocker {
        reason: "InternalTopic",
        message: format!(
            "{name} is one of Kafka's internal topics: the operator never manages or changes it"
        ),
    }
}

/// A raise of min.insync.replicas waits until every partition has at least that many in-sync
/// replicas and none is moving: raised earlier, partitions short of it refuse every acks=all
/// write (lowering it is always safe and goes first, before any shrinking move). Takes the
/// raise out of `changes` and says why, or leaves it in.
fn hold_min_isr_raise(
    desired: &TopicTarget,
    observed: &ObservedTopic,
    changes: &mut ConfigChanges,
) -> Option<Blocker> {
    let wanted = desired.min_in_sync_replicas?;
    changes.set.get(MIN_INSYNC_REPLICAS)?;
    let current = observed.min_in_sync_replicas().unwrap_or(1);
    if wanted <= current {
        return None;
    }
    let short = observed.partitions_short_of_isr(wanted);
    if short.is_empty() {
        return None;
    }
    changes.set.remove(MIN_INSYNC_REPLICAS);
    Some(Blocker {
        reason: "MinIsrRaiseWaiting",
        message: format!(
            "min.insync.replicas stays {current} until every partition has {wanted} in-sync replicas \
             (partitions {short:?} have fewer or are moving): raised now, acks=all writes to them would fail"
        ),
    })
}

fn config_key(drift: &Drift) -> &str {
    drift.field.strip_prefix("config.").unwrap_or(&drift.field)
}

/// Overrides to set and to remove so that Kafka matches the config drift: declared values are
/// set, undeclared overrides (declared <unset>) removed.
fn config_changes(drift: &[Drift]) -> ConfigChanges {
    let mut changes = ConfigChanges::default();
    for d in drift {
        if d.desired == UNSET {
            changes.delete.push(config_key(d).to_string());
        } else {
            changes
                .set
                .insert(config_key(d).to_string(), d.desired.clone());
        }
    }
    changes
}

/// Declared configs not in effect (with the value in effect, or <unset>) and undeclared
/// overrides other than the kept ones. A declared value already in effect through a broker
/// default needs no override (so importing a topic as it is writes nothing); if that default
/// changes later, the difference shows and the override is set. Values compare by the config's
/// type (`1` and `1.0` are the same double).
fn config_drift(
    desired: &TopicTarget,
    observed: &ObservedTopic,
    kept: &BTreeMap<String, String>,
) -> Vec<Drift> {
    let overrides = observed.overrides();
    let mut drift: Vec<Drift> = desired
        .all_configs()
        .into_iter()
        .filter(|(k, v)| !observed.has_value(k, v))
        .map(|(k, v)| Drift {
            observed: overrides
                .get(k.as_str())
                .copied()
                .or(observed.effective(&k))
                .unwrap_or(UNSET)
                .to_string(),
            field: format!("config.{k}"),
            desired: v,
        })
        .collect();
    drift.extend(
        overrides
            .iter()
            .filter(|(k, _)| is_undeclared(desired, k) && !kept.contains_key(**k))
            .map(|(k, v)| Drift {
                field: format!("config.{k}"),
                desired: UNSET.into(),
                observed: v.to_string(),
            }),
    );
    drift.sort_by(|a, b| a.field.cmp(&b.field));
    drift
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ConfigKind, ObservedConfig, ObservedPartition};

    impl TopicPlan {
        /// The plan that does nothing, with its target.
        fn towards(self, target: TopicTarget) -> TopicPlan {
            TopicPlan {
                target: Some(target),
                ..self
            }
        }
    }

    /// The plan with nothing remembered but whether a move was under way.
    fn plan_with(
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

    fn desired() -> DesiredTopic {
        let mut d = crate::fixtures::desired("orders", 3, 3, 2);
        d.configs = [("retention.ms".to_string(), "1000".to_string())].into();
        d
    }

    fn cluster(n: i32) -> ClusterView {
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

    fn partition(id: i32, replicas: &[i32]) -> ObservedPartition {
        ObservedPartition {
            id,
            leader: replicas[0],
            replicas: replicas.to_vec(),
            isr: replicas.to_vec(),
            adding: vec![],
            removing: vec![],
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

    const IN_SYNC: &[(&str, &str)] = &[("retention.ms", "1000"), ("min.insync.replicas", "2")];

    #[test]
    fn a_missing_topic_is_created_with_everything_declared_and_our_placement() {
        let plan = plan_with(&desired(), None, &cluster(3), false);
        let [Action::CreateTopic { topic, assignments }] = plan.actions.as_slice() else {
            panic!("{:?}", plan.actions)
        };
        assert_eq!(topic, &desired().for_creation().unwrap());
        assert_eq!(assignments.len(), 3);
        let leaders: BTreeSet<i32> = assignments.iter().map(|a| a[0]).collect();
        assert_eq!(leaders.len(), 3, "leaders spread: {assignments:?}");
        assert!(plan.drift.is_empty() && plan.blocker.is_none());
    }

    #[test]
    fn a_missing_topic_with_too_few_brokers_is_blocked() {
        let plan = plan_with(&desired(), None, &cluster(2), false);
        assert!(plan.actions.is_empty());
        let b = plan.blocker.unwrap();
        assert_eq!(b.reason, "NotEnoughBrokers");
        assert!(b.message.contains("ids 1, 2"), "{}", b.message);
    }

    #[test]
    fn an_in_sync_topic_needs_nothing() {
        assert_eq!(
            plan_with(
                &desired(),
                Some(&observed(3, 3, IN_SYNC)),
                &cluster(3),
                false
            ),
            TopicPlan::default().towards(desired().for_creation().unwrap())
        );
    }

    #[test]
    fn partitions_grow_with_our_placement() {
        let plan = plan_with(
            &desired(),
            Some(&observed(2, 3, IN_SYNC)),
            &cluster(3),
            false,
        );
        let [
            Action::CreatePartitions {
                total: 3,
                assignments,
            },
        ] = plan.actions.as_slice()
        else {
            panic!("{:?}", plan.actions)
        };
        assert_eq!(assignments.len(), 1);
        assert_eq!(assignments[0].iter().collect::<BTreeSet<_>>().len(), 3);
        assert_eq!(plan.drift[0].field, "partitions");
    }

    #[test]
    fn more_partitions_in_kafka_blocks_everything() {
        let plan = plan_with(
            &desired(),
            Some(&observed(5, 1, &[("retention.ms", "9")])),
            &cluster(3),
            false,
        );
        assert!(plan.actions.is_empty(), "{:?}", plan.actions);
        assert_eq!(plan.blocker.unwrap().reason, "PartitionDecreaseNotAllowed");
        assert!(plan.drift.iter().any(|d| d.field == "config.retention.ms"));
    }

    #[test]
    fn configs_are_set_changed_and_removed_in_one_change() {
        let plan = plan_with(
            &desired(),
            Some(&observed(
                3,
                3,
                &[("retention.ms", "5"), ("cleanup.policy", "compact")],
            )),
            &cluster(3),
            false,
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
    fn a_declared_value_in_effect_through_a_broker_default_needs_no_override() {
        let mut topic = observed(3, 3, &[("retention.ms", "1000")]);
        topic.configs.insert(
            "min.insync.replicas".into(),
            ObservedConfig {
                value: Some("2".into()),
                is_topic_override: false,
                kind: Default::default(),
            },
        );
        assert_eq!(
            plan_with(&desired(), Some(&topic), &cluster(3), false),
            TopicPlan::default().towards(desired().for_creation().unwrap())
        );
        // The default changes: now it is drift, and the override is set.
        topic.configs.insert(
            "min.insync.replicas".into(),
            ObservedConfig {
                value: Some("1".into()),
                is_topic_override: false,
                kind: Default::default(),
            },
        );
        let plan = plan_with(&desired(), Some(&topic), &cluster(3), false);
        assert_eq!(
            plan.drift,
            vec![Drift {
                field: "config.min.insync.replicas".into(),
                desired: "2".into(),
                observed: "1".into()
            }]
        );
        assert_eq!(
            plan.actions,
            vec![Action::AlterConfigs(ConfigChanges {
                set: [("min.insync.replicas".to_string(), "2".to_string())].into(),
                delete: vec![]
            })]
        );
    }

    #[test]
    fn operator_owned_throttle_configs_are_not_drift_but_are_removed_when_nothing_moves() {
        let mut overrides = IN_SYNC.to_vec();
        overrides.push(("leader.replication.throttled.replicas", "0:1"));
        let plan = plan_with(
            &desired(),
            Some(&observed(3, 3, &overrides)),
            &cluster(3),
            false,
        );
        assert!(plan.drift.is_empty());
        assert_eq!(
            plan.actions,
            vec![Action::Unthrottle(ConfigChanges {
                set: BTreeMap::new(),
                delete: vec!["leader.replication.throttled.replicas".into()]
            })]
        );
    }

    #[test]
    fn a_lower_replication_factor_in_kafka_moves_replicas_with_throttles() {
        let plan = plan_with(
            &desired(),
            Some(&observed(3, 1, IN_SYNC)),
            &cluster(3),
            false,
        );
        assert_eq!(
            plan.drift,
            vec![Drift {
                field: "replicationFactor".into(),
                desired: "3".into(),
                observed: "1".into()
            }]
        );
        let [
            Action::Throttle {
                rate: 1000,
                brokers,
                replicas,
            },
            Action::Reassign { moves },
        ] = plan.actions.as_slice()
        else {
            panic!("{:?}", plan.actions)
        };
        assert_eq!(brokers, &vec![1, 2, 3]);
        assert_eq!(replicas.set[LEADER_THROTTLED_REPLICAS], "0:1,1:1,2:1");
        assert_eq!(moves.len(), 3);
        for set in moves.values() {
            assert_eq!(set[0], 1, "the leader stays first");
            assert_eq!(set.len(), 3);
        }
        let p = plan.reassignment.unwrap();
        assert_eq!((p.done, p.remaining, p.moving, p.waiting), (0, 3, 3, 0));
    }

    #[test]
    fn partitions_are_added_after_the_existing_ones_reach_the_new_replication_factor() {
        // The incident's topic: 1 partition, RF 1 -> 2 partitions, RF 3.
        let mut d = desired();
        d.partitions = Some(2);
        let plan = plan_with(&d, Some(&observed(1, 1, IN_SYNC)), &cluster(3), false);
        assert!(
            plan.actions
                .iter()
                .all(|a| !matches!(a, Action::CreatePartitions { .. })),
            "{:?}",
            plan.actions
        );
        assert!(
            plan.actions
                .iter()
                .any(|a| matches!(a, Action::Reassign { .. }))
        );
        let plan = plan_with(&d, Some(&observed(1, 3, IN_SYNC)), &cluster(3), true);
        let Some(Action::CreatePartitions {
            total: 2,
            assignments,
        }) = plan.actions.first()
        else {
            panic!("{:?}", plan.actions)
        };
        assert_eq!(assignments[0].len(), 3);
    }

    #[test]
    fn moves_respect_the_budget_and_skip_partitions_already_moving() {
        let mut topic = observed(3, 1, IN_SYNC);
        topic.partitions[0].replicas = vec![1, 2, 3];
        topic.partitions[0].adding = vec![2, 3];
        let mut view = cluster(3);
        view.move_budget = 1;
        let plan = plan_with(&desired(), Some(&topic), &view, false);
        let moves = plan
            .actions
            .iter()
            .find_map(|a| match a {
                Action::Reassign { moves } => Some(moves),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            moves.keys().collect::<Vec<_>>(),
            vec![&1],
            "partition 0 is moving; budget allows one more"
        );
        let p = plan.reassignment.unwrap();
        assert_eq!((p.moving, p.waiting), (2, 1));

        view.move_budget = 0;
        // The move under way lost its broker rates (removed by someone else): they come back.
        let plan = plan_with(&desired(), Some(&topic), &view, false);
        assert_eq!(
            plan.actions,
            vec![Action::Throttle {
                rate: 1000,
                brokers: vec![1, 2, 3],
                replicas: ConfigChanges::default()
            }]
        );
        for b in 1..=3 {
            view.broker_overrides.insert(
                b,
                BROKER_THROTTLE_CONFIGS
                    .iter()
                    .map(|k| (k.to_string(), "1000".to_string()))
                    .collect(),
            );
        }
        let plan = plan_with(&desired(), Some(&topic), &view, false);
        assert!(
            plan.actions.is_empty(),
            "no budget, nothing sent: {:?}",
            plan.actions
        );
        assert!(plan.reassignment.is_some());
    }

    #[test]
    fn a_finished_move_unthrottles_and_elects_preferred_leaders() {
        let mut topic = observed(3, 3, IN_SYNC);
        topic.configs.insert(
            "follower.replication.throttled.replicas".into(),
            ObservedConfig {
                value: Some("0:2".into()),
                is_topic_override: true,
                kind: Default::default(),
            },
        );
        topic.partitions[1].leader = 3;
        let plan = plan_with(&desired(), Some(&topic), &cluster(3), true);
        assert_eq!(
            plan.actions,
            vec![
                Action::Unthrottle(ConfigChanges {
                    set: BTreeMap::new(),
                    delete: vec!["follower.replication.throttled.replicas".into()]
                }),
                Action::ElectLeaders {
                    partitions: vec![1]
                },
            ]
        );
        assert!(plan.reassignment.is_none());
        // Without a move behind it, a leader elsewhere is left to Kafka's own balancing.
        topic
            .configs
            .remove("follower.replication.throttled.replicas");
        assert!(
            plan_with(&desired(), Some(&topic), &cluster(3), false)
                .actions
                .is_empty()
        );
    }

    #[test]
    fn a_replication_factor_above_the_live_brokers_sends_nothing() {
        let mut d = desired();
        d.replication_factor = Some(4);
        let plan = plan_with(&d, Some(&observed(3, 3, IN_SYNC)), &cluster(3), false);
        assert!(plan.actions.is_empty());
        assert_eq!(
            plan.blocker.unwrap().message,
            "replication factor 4 needs 4 live brokers; the cluster has 3 (ids 1, 2, 3)"
        );
    }

    #[test]
    fn shrinking_keeps_the_leader() {
        let mut d = desired();
        d.replication_factor = Some(2);
        d.min_in_sync_replicas = Some(1);
        let mut topic = observed(
            1,
            3,
            &[("retention.ms", "1000"), ("min.insync.replicas", "1")],
        );
        topic.partitions[0].leader = 2;
        let plan = plan_with(&d, Some(&topic), &cluster(3), false);
        let moves = plan
            .actions
            .iter()
            .find_map(|a| match a {
                Action::Reassign { moves } => Some(moves),
                _ => None,
            })
            .unwrap();
        assert_eq!(moves[&0][0], 2);
        assert_eq!(moves[&0].len(), 2);
    }

    fn min_isr_set(plan: &TopicPlan) -> Option<&String> {
        plan.actions.iter().find_map(|a| match a {
            Action::AlterConfigs(c) => c.set.get(MIN_INSYNC_REPLICAS),
            _ => None,
        })
    }

    #[test]
    fn min_isr_is_raised_only_once_every_partition_has_that_many_in_sync_replicas() {
        // The incident's fix: replication factor 1 -> 3 and min.insync.replicas 1 -> 2.
        let one = &[("retention.ms", "1000"), ("min.insync.replicas", "1")];
        let plan = plan_with(&desired(), Some(&observed(3, 1, one)), &cluster(3), false);
        assert_eq!(min_isr_set(&plan), None, "{:?}", plan.actions);
        assert!(
            plan.actions
                .iter()
                .any(|a| matches!(a, Action::Reassign { .. }))
        );
        let waiting = plan.min_isr_waiting.expect("the raise waits");
        assert_eq!(waiting.reason, "MinIsrRaiseWaiting");
        assert!(waiting.message.contains("stays 1"), "{}", waiting.message);
        assert!(
            plan.drift
                .iter()
                .any(|d| d.field == "config.min.insync.replicas")
        );

        // Moving: replicas added but not yet in sync. Still waits.
        let mut moving = observed(3, 3, one);
        for p in &mut moving.partitions {
            p.isr = vec![1];
            p.adding = vec![2, 3];
        }
        let plan = plan_with(&desired(), Some(&moving), &cluster(3), true);
        assert_eq!(min_isr_set(&plan), None, "{:?}", plan.actions);
        // One partition behind after the move: still waits.
        let mut behind = observed(3, 3, one);
        behind.partitions[2].isr = vec![1];
        let plan = plan_with(&desired(), Some(&behind), &cluster(3), true);
        assert_eq!(min_isr_set(&plan), None);
        assert!(plan.min_isr_waiting.unwrap().message.contains("[2]"));
        // Every partition has 3 in sync: now it is raised.
        let plan = plan_with(&desired(), Some(&observed(3, 3, one)), &cluster(3), true);
        assert_eq!(min_isr_set(&plan).map(String::as_str), Some("2"));
        assert!(plan.min_isr_waiting.is_none());
    }

    #[test]
    fn min_isr_is_lowered_before_a_shrink_starts() {
        let mut d = desired();
        d.replication_factor = Some(2);
        d.min_in_sync_replicas = Some(1);
        let three = &[("retention.ms", "1000"), ("min.insync.replicas", "3")];
        let plan = plan_with(&d, Some(&observed(3, 3, three)), &cluster(3), false);
        assert_eq!(min_isr_set(&plan).map(String::as_str), Some("1"));
        assert!(
            !plan
                .actions
                .iter()
                .any(|a| matches!(a, Action::Reassign { .. })),
            "no shrink while min.insync.replicas 3 is in effect: {:?}",
            plan.actions
        );
        assert_eq!(plan.reassignment.as_ref().unwrap().waiting, 3);
        let one = &[("retention.ms", "1000"), ("min.insync.replicas", "1")];
        let plan = plan_with(&d, Some(&observed(3, 3, one)), &cluster(3), false);
        assert!(
            plan.actions
                .iter()
                .any(|a| matches!(a, Action::Reassign { .. }))
        );
    }

    fn typed(topic: &mut ObservedTopic, key: &str, value: &str, kind: ConfigKind) {
        topic.configs.insert(
            key.into(),
            ObservedConfig {
                value: Some(value.into()),
                is_topic_override: true,
                kind,
            },
        );
    }

    #[test]
    fn values_equal_in_meaning_are_not_drift() {
        let mut d = desired();
        d.configs
            .insert("min.cleanable.dirty.ratio".into(), "1".into());
        d.configs
            .insert("cleanup.policy".into(), "compact, delete".into());
        d.configs.insert("preallocate".into(), "True".into());
        d.configs.insert("retention.ms".into(), "01000".into());
        let mut topic = observed(3, 3, IN_SYNC);
        typed(
            &mut topic,
            "min.cleanable.dirty.ratio",
            "1.0",
            ConfigKind::Double,
        );
        typed(
            &mut topic,
            "cleanup.policy",
            "compact,delete",
            ConfigKind::List,
        );
        typed(&mut topic, "preallocate", "true", ConfigKind::Boolean);
        typed(&mut topic, "retention.ms", "1000", ConfigKind::Integer);
        typed(&mut topic, "min.insync.replicas", "2", ConfigKind::Integer);
        let plan = plan_with(&d, Some(&topic), &cluster(3), false);
        assert_eq!(
            plan,
            TopicPlan::default().towards(d.for_creation().unwrap())
        );
        // A different value is still drift.
        typed(
            &mut topic,
            "min.cleanable.dirty.ratio",
            "0.5",
            ConfigKind::Double,
        );
        let plan = plan_with(&d, Some(&topic), &cluster(3), false);
        assert_eq!(plan.drift.len(), 1, "{:?}", plan.drift);
    }

    #[test]
    fn adoption_keeps_undeclared_overrides_and_later_ones_are_drift() {
        let mut topic = observed(3, 3, IN_SYNC);
        typed(&mut topic, "cleanup.policy", "compact", ConfigKind::List);
        let first_look = Memory {
            keep_adopted: true,
            ..Memory::default()
        };
        let plan = plan_topic(&desired(), Some(&topic), &cluster(3), &first_look);
        assert!(plan.actions.is_empty(), "{:?}", plan.actions);
        assert!(plan.drift.is_empty(), "{:?}", plan.drift);
        assert_eq!(plan.kept["cleanup.policy"], "compact");

        // Remembered for this topic id: still kept; an override added later is drift.
        let remembered = Memory {
            keep_adopted: true,
            topic_id: topic.topic_id.clone(),
            kept: ["cleanup.policy".to_string()].into(),
            ..Memory::default()
        };
        typed(&mut topic, "segment.ms", "100000", ConfigKind::Integer);
        let plan = plan_topic(&desired(), Some(&topic), &cluster(3), &remembered);
        assert_eq!(
            plan.actions,
            vec![Action::AlterConfigs(ConfigChanges {
                set: BTreeMap::new(),
                delete: vec!["segment.ms".into()]
            })]
        );
        assert!(plan.kept.contains_key("cleanup.policy"));

        // Policy Remove: undeclared overrides are drift from the start.
        let plan = plan_topic(&desired(), Some(&topic), &cluster(3), &Memory::default());
        let Some(Action::AlterConfigs(c)) = plan.actions.first() else {
            panic!("{:?}", plan.actions)
        };
        assert_eq!(c.delete, vec!["cleanup.policy", "segment.ms"]);
    }

    #[test]
    fn a_value_kafka_did_not_take_is_not_written_again_until_something_changes() {
        let mut topic = observed(3, 3, IN_SYNC);
        typed(&mut topic, "retention.ms", "5", ConfigKind::Integer);
        let held = Drift {
            field: "config.retention.ms".into(),
            desired: "1000".into(),
            observed: "5".into(),
        };
        let memory = Memory {
            held: vec![held.clone()],
            ..Memory::default()
        };
        let plan = plan_topic(&desired(), Some(&topic), &cluster(3), &memory);
        assert!(plan.actions.is_empty(), "{:?}", plan.actions);
        assert_eq!(plan.held, vec![held]);
        assert_eq!(plan.drift.len(), 1);
        // Kafka's value changed: written again.
        typed(&mut topic, "retention.ms", "6", ConfigKind::Integer);
        let plan = plan_topic(&desired(), Some(&topic), &cluster(3), &memory);
        assert_eq!(plan.actions.len(), 1);
        assert!(plan.held.is_empty());
    }

    #[test]
    fn kafkas_internal_topics_are_never_planned() {
        let mut topic = observed(3, 3, &[("cleanup.policy", "compact")]);
        topic.is_internal = true;
        let plan = plan_with(&desired(), Some(&topic), &cluster(3), false);
        assert!(plan.actions.is_empty());
        assert_eq!(plan.blocker.unwrap().reason, "InternalTopic");
    }

    #[test]
    fn adopting_with_a_spec_naming_only_the_cluster_changes_nothing() {
        let spec_only_cluster = crate::fixtures::undeclared("orders");
        let mut topic = observed(1, 2, &[("min.insync.replicas", "2"), ("retention.ms", "5")]);
        topic.topic_id = Some("id".into());
        for keep_adopted in [true, false] {
            let memory = Memory {
                keep_adopted,
                ..Memory::default()
            };
            let plan = plan_topic(&spec_only_cluster, Some(&topic), &cluster(3), &memory);
            let target = plan.target.as_ref().unwrap();
            assert_eq!((target.partitions, target.replication_factor), (1, 2));
            assert_eq!(target.sources.partitions, ValueSource::Kafka);
            assert_eq!(target.sources.min_in_sync_replicas, ValueSource::Kafka);
            assert!(plan.blocker.is_none());
            assert!(
                plan.drift
                    .iter()
                    .all(|d| d.field != "partitions" && d.field != "replicationFactor"),
                "{:?}",
                plan.drift
            );
            // min.insync.replicas is never drift while undeclared, whatever the adoption policy.
            assert!(
                plan.drift
                    .iter()
                    .all(|d| d.field != "config.min.insync.replicas"),
                "{:?}",
                plan.drift
            );
            if keep_adopted {
                assert!(plan.actions.is_empty(), "{:?}", plan.actions);
            }
        }
    }

    #[test]
    fn adopting_with_some_fields_changes_only_those() {
        let mut some = crate::fixtures::undeclared("orders");
        some.partitions = Some(2);
        let topic = observed(1, 2, &[]);
        let plan = plan_with(&some, Some(&topic), &cluster(3), false);
        assert!(
            matches!(plan.actions.as_slice(), [Action::CreatePartitions { total: 2, assignments }] if assignments[0].len() == 2),
            "{:?}",
            plan.actions
        );
        let mut rf_only = crate::fixtures::undeclared("orders");
        rf_only.replication_factor = Some(3);
        let plan = plan_with(&rf_only, Some(&topic), &cluster(3), false);
        assert!(
            plan.actions
                .iter()
                .all(|a| !matches!(a, Action::CreatePartitions { .. } | Action::AlterConfigs(_))),
            "{:?}",
            plan.actions
        );
        assert!(
            plan.actions
                .iter()
                .any(|a| matches!(a, Action::Reassign { .. }))
        );
    }

    #[test]
    fn a_change_of_topic_defaults_changes_no_topic_created_with_the_old_ones() {
        let mut d = crate::fixtures::undeclared("orders");
        // Created with 3 / 3 / 2; the KafkaCluster now says 6 / 2 / 1.
        d.creation_defaults = crate::model::CreationDefaults {
            partitions: 6,
            replication_factor: 2,
            min_in_sync_replicas: 1,
        };
        let mut topic = observed(3, 3, &[("min.insync.replicas", "2")]);
        topic.topic_id = Some("id".into());
        let created_with_defaults = ValueSources {
            partitions: ValueSource::TopicDefaults,
            replication_factor: ValueSource::TopicDefaults,
            min_in_sync_replicas: ValueSource::TopicDefaults,
        };
        let memory = Memory {
            topic_id: Some("id".into()),
            sources: Some(created_with_defaults),
            keep_adopted: true,
            ..Memory::default()
        };
        let plan = plan_topic(&d, Some(&topic), &cluster(3), &memory);
        assert!(plan.actions.is_empty(), "{:?}", plan.actions);
        assert!(plan.drift.is_empty(), "{:?}", plan.drift);
        assert_eq!(plan.target.unwrap().sources, created_with_defaults);
        // A topic created now gets the new defaults.
        let plan = plan_topic(&d, None, &cluster(3), &Memory::default());
        let Some(Action::CreateTopic { topic, assignments }) = plan.actions.first() else {
            panic!("{:?}", plan.actions)
        };
        assert_eq!(
            (
                topic.partitions,
                topic.replication_factor,
                topic.min_in_sync_replicas
            ),
            (6, 2, Some(1))
        );
        assert!(assignments.iter().all(|set| set.len() == 2));
    }

    #[test]
    fn a_declared_min_isr_above_the_replication_factor_kafka_has_blocks_everything() {
        let mut d = crate::fixtures::undeclared("orders");
        d.min_in_sync_replicas = Some(2);
        d.partitions = Some(4);
        let plan = plan_with(&d, Some(&observed(1, 1, &[])), &cluster(3), false);
        assert!(plan.actions.is_empty());
        let blocker = plan.blocker.unwrap();
        assert_eq!(blocker.reason, "InvalidSpec");
        assert!(
            blocker
                .message
                .contains("replicationFactor is not declared"),
            "{}",
            blocker.message
        );
    }
}
