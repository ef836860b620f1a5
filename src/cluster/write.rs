//! Config changes and partition growth of one cluster, batched: when a GitOps sync changes
//! hundreds of KafkaTopics at once (a new retention for every topic, more partitions for a
//! team's topics), their writes go to Kafka in a few IncrementalAlterConfigs and
//! CreatePartitions requests with per-topic results, between one batched re-read and one batched
//! read-back, instead of a locked re-read, write and read-back per topic.
//!
//! The safety rules are those of a single topic's write (src/controller/topic.rs):
//! - under the cluster's write lock, every topic is read again and planned again on what Kafka
//!   shows now; the plan the reconcile made on the snapshot is only the reason to come here;
//! - config changes are validated by Kafka first: a topic whose new values Kafka refuses gets
//!   nothing applied (no partitions added, no config half-set), with Kafka's message, alone;
//! - a topic's actions keep their order (partitions, then configs), one round per step;
//! - a request whose answer was lost is never resent: every topic in it gets WriteUnconfirmed
//!   and its reconcile reads Kafka again;
//! - plans that move replicas are not batched: they go back to the single-topic path, which
//!   counts them against maxConcurrentMoves one at a time.

use std::collections::BTreeMap;
use std::sync::Weak;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::debug;

use super::state::ClusterState;
use crate::kafka::{KafkaError, PartitionGrowth, TopicResults};
use crate::model::{ConfigChanges, DesiredTopic, ObservedTopic};
use crate::plan::{Action, ClusterView, Memory, TopicPlan, plan_topic};
use crate::util::batch;

/// Read-backs while a value just set still shows the old one (the broker answering has not
/// applied the change yet).
const SETTLE_TRIES: usize = 4;
const SETTLE_PAUSE: Duration = Duration::from_millis(500);

/// One topic's write request: what the reconcile knows to plan it again under the lock.
#[derive(Clone, Debug)]
pub struct TopicWrite {
    pub desired: DesiredTopic,
    pub memory: Memory,
    pub max_concurrent_moves: usize,
    pub throttle: i64,
}

/// What became of one topic's request.
#[derive(Debug)]
pub enum WriteOutcome {
    /// Planned again on a fresh read: nothing to write now (in sync, or blocked).
    Replanned(Box<Replanned>),
    /// The fresh plan needs more than config changes and partition growth (a creation, a move):
    /// the reconcile does it on the single-topic path.
    Alone,
    /// Written: the plan made on the fresh read, the actions that took effect, and the read-back.
    Written(Box<Written>),
}

#[derive(Debug)]
pub struct Replanned {
    pub observed: Option<ObservedTopic>,
    pub plan: TopicPlan,
}

#[derive(Debug)]
pub struct Written {
    pub observed: Option<ObservedTopic>,
    pub plan: TopicPlan,
    pub applied: Vec<Action>,
    /// The topic read back after the write, planned again (an error: the read-back failed).
    pub read_back: Result<(Option<ObservedTopic>, TopicPlan), KafkaError>,
}

/// Why a request failed: the re-read before writing, or the write itself.
#[derive(Debug, Clone)]
pub enum WriteError {
    Read(KafkaError),
    Write(KafkaError),
}

/// Whether an action can go to Kafka in a batch with other topics' actions.
pub fn is_batchable(action: &Action) -> bool {
    matches!(
        action,
        Action::AlterConfigs(_) | Action::CreatePartitions { .. }
    )
}

struct Request {
    write: TopicWrite,
    reply: oneshot::Sender<Result<WriteOutcome, WriteError>>,
}

/// The handle reconciles submit writes to.
pub struct Writer {
    tx: mpsc::UnboundedSender<Request>,
}

impl Writer {
    /// Starts the batching task over `state`; it ends when the cluster's state is dropped.
    pub fn start(state: Weak<ClusterState>) -> Writer {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(state, rx));
        Writer { tx }
    }

    /// Plans `write` again on a fresh read and carries it out (with others that arrive at the
    /// same moment).
    pub async fn write(&self, write: TopicWrite) -> Result<WriteOutcome, WriteError> {
        let (reply, answer) = oneshot::channel();
        let gone = || {
            WriteError::Read(KafkaError::Unreachable {
                servers: "cluster observer".into(),
                detail: "stopped (the KafkaCluster changed or was deleted)".into(),
            })
        };
        self.tx.send(Request { write, reply }).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn run(state: Weak<ClusterState>, mut rx: mpsc::UnboundedReceiver<Request>) {
    while let Some(batch) = batch::next(&mut rx).await {
        let Some(state) = state.upgrade() else {
            return;
        };
        write_batch(&state, batch).await;
    }
}

/// A topic of the batch on its way through the phases.
struct Pending {
    request: Request,
    observed: Option<ObservedTopic>,
    plan: TopicPlan,
    applied: Vec<Action>,
}

async fn write_batch(state: &ClusterState, batch: Vec<Request>) {
    let write_lock = state.write_lock();
    let _guard = write_lock.lock().await;
    let pending = replan(state, batch).await;
    let pending = validate(state, pending).await;
    let pending = carry_out(state, pending).await;
    read_back(state, pending).await;
}

/// Reads every topic of the batch again and plans it on what Kafka shows now. Topics with
/// nothing to write, or with more than batchable writes, are answered here.
async fn replan(state: &ClusterState, batch: Vec<Request>) -> Vec<Pending> {
    let names: Vec<String> = batch.iter().map(|r| r.write.desired.name.clone()).collect();
    let read_at = Instant::now();
    let mut fresh = match state.admin.describe_topics_each(&names).await {
        Ok(fresh) => fresh,
        Err(error) => {
            for request in batch {
                let _ = request.reply.send(Err(WriteError::Read(error.clone())));
            }
            return vec![];
        }
    };
    let mut pending = Vec::new();
    for request in &batch {
        let name = &request.write.desired.name;
        if !fresh.errors.contains_key(name) {
            state.patch(name, read_at, fresh.topics.get(name).cloned());
        }
    }
    // One view for the batch, with the partitions it adds counted as they are planned, so the
    // batch's new replicas spread like those of one topic.
    let mut view: Option<ClusterView> = None;
    for request in batch {
        let name = request.write.desired.name.clone();
        if let Some(error) = fresh.errors.remove(&name) {
            let _ = request.reply.send(Err(WriteError::Read(error)));
            continue;
        }
        let w = &request.write;
        let view = view.get_or_insert_with(|| state.view(w.max_concurrent_moves, w.throttle));
        let observed = fresh.topics.remove(&name);
        let plan = plan_topic(&w.desired, observed.as_ref(), view, &w.memory);
        if plan.blocker.is_some() || plan.actions.is_empty() {
            let _ = request
                .reply
                .send(Ok(WriteOutcome::Replanned(Box::new(Replanned {
                    observed,
                    plan,
                }))));
            continue;
        }
        if !plan.actions.iter().all(is_batchable) {
            let _ = request.reply.send(Ok(WriteOutcome::Alone));
            continue;
        }
        for action in &plan.actions {
            if let Action::CreatePartitions { assignments, .. } = action {
                view.load.add(assignments.iter().map(Vec::as_slice));
            }
        }
        pending.push(Pending {
            request,
            observed,
            plan,
            applied: vec![],
        });
    }
    pending
}

/// Kafka checks every config change of the batch before anything is applied: a topic whose
/// values it refuses gets nothing at all (its partitions are not added either).
async fn validate(state: &ClusterState, pending: Vec<Pending>) -> Vec<Pending> {
    let changes: Vec<(String, ConfigChanges)> = pending
        .iter()
        .flat_map(|p| {
            p.plan.actions.iter().filter_map(|a| match a {
                Action::AlterConfigs(c) => Some((p.request.write.desired.name.clone(), c.clone())),
                _ => None,
            })
        })
        .collect();
    if changes.is_empty() {
        return pending;
    }
    let mut results = TopicResults::new();
    let answer = state.admin.alter_topics_configs(&changes, true).await;
    collect(&mut results, changes.iter().map(|(t, _)| t), answer);
    keep_succeeded(pending, |p| {
        results
            .remove(&p.request.write.desired.name)
            .unwrap_or(Ok(()))
    })
}

/// The plans' actions, step by step: in each round every topic's next action, partitions and
/// configs each in batched requests. A topic whose action fails stops there, with its error.
async fn carry_out(state: &ClusterState, mut pending: Vec<Pending>) -> Vec<Pending> {
    let rounds = pending
        .iter()
        .map(|p| p.plan.actions.len())
        .max()
        .unwrap_or(0);
    for round in 0..rounds {
        let step = |p: &Pending| p.plan.actions.get(round).cloned();
        let growths: Vec<PartitionGrowth> = pending
            .iter()
            .filter_map(|p| match step(p) {
                Some(Action::CreatePartitions { total, assignments }) => Some(PartitionGrowth {
                    topic: p.request.write.desired.name.clone(),
                    total,
                    assignments,
                }),
                _ => None,
            })
            .collect();
        let changes: Vec<(String, ConfigChanges)> = pending
            .iter()
            .filter_map(|p| match step(p) {
                Some(Action::AlterConfigs(c)) => Some((p.request.write.desired.name.clone(), c)),
                _ => None,
            })
            .collect();
        debug!(
            round,
            growths = growths.len(),
            config_changes = changes.len(),
            "batched topic writes"
        );
        let mut results = TopicResults::new();
        if !growths.is_empty() {
            let answer = state.admin.grow_topics(&growths).await;
            collect(&mut results, growths.iter().map(|g| &g.topic), answer);
        }
        if !changes.is_empty() {
            let answer = state.admin.alter_topics_configs(&changes, false).await;
            collect(&mut results, changes.iter().map(|(t, _)| t), answer);
        }
        pending = keep_succeeded(pending, |p| match step(p) {
            Some(_) => results
                .remove(&p.request.write.desired.name)
                .unwrap_or(Ok(())),
            None => Ok(()),
        });
        for p in &mut pending {
            if let Some(action) = step(p) {
                p.applied.push(action);
            }
        }
    }
    pending
}

/// Reads the written topics back together and plans them again; a value just set that still
/// shows the old one is read again a few times before it is taken as Kafka's answer.
async fn read_back(state: &ClusterState, pending: Vec<Pending>) {
    let mut settled: BTreeMap<String, Result<(Option<ObservedTopic>, TopicPlan), KafkaError>> =
        BTreeMap::new();
    let mut unsettled: Vec<&Pending> = pending.iter().collect();
    for attempt in 0..SETTLE_TRIES {
        if unsettled.is_empty() {
            break;
        }
        if attempt > 0 {
            tokio::time::sleep(SETTLE_PAUSE).await;
        }
        let names: Vec<String> = unsettled
            .iter()
            .map(|p| p.request.write.desired.name.clone())
            .collect();
        let read_at = Instant::now();
        let mut fresh = match state.admin.describe_topics_each(&names).await {
            Ok(fresh) => fresh,
            Err(error) => {
                for name in names {
                    settled.insert(name, Err(error.clone()));
                }
                break;
            }
        };
        let last = attempt + 1 == SETTLE_TRIES;
        let mut still = Vec::new();
        for p in unsettled {
            let w = &p.request.write;
            let name = &w.desired.name;
            if let Some(error) = fresh.errors.remove(name) {
                settled.insert(name.clone(), Err(error));
                continue;
            }
            let topic = fresh.topics.remove(name);
            state.patch(name, read_at, topic.clone());
            let view = state.view(w.max_concurrent_moves, w.throttle);
            let after = plan_topic(&w.desired, topic.as_ref(), &view, &w.memory);
            if !last && still_unsettled(&p.applied, &after) {
                still.push(p);
            } else {
                settled.insert(name.clone(), Ok((topic, after)));
            }
        }
        unsettled = still;
    }
    for p in pending {
        let name = p.request.write.desired.name.clone();
        let read_back = settled.remove(&name).unwrap_or_else(|| {
            Err(KafkaError::Unreachable {
                servers: "cluster observer".into(),
                detail: "the read-back did not finish".into(),
            })
        });
        let _ = p
            .request
            .reply
            .send(Ok(WriteOutcome::Written(Box::new(Written {
                observed: p.observed,
                plan: p.plan,
                applied: p.applied,
                read_back,
            }))));
    }
}

/// A config the write set still shows another value in Kafka.
pub fn still_unsettled(applied: &[Action], after: &TopicPlan) -> bool {
    let set = configs_set(applied);
    after.drift.iter().any(|d| {
        set.get(d.field.strip_prefix("config.").unwrap_or_default())
            .is_some_and(|v| *v == d.desired)
    })
}

/// The config values a write set (declared configs; not the throttle lists).
pub fn configs_set(applied: &[Action]) -> BTreeMap<String, String> {
    applied
        .iter()
        .filter_map(|a| match a {
            Action::AlterConfigs(c) => Some(c.set.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Answers the topics whose result is an error (with it) and returns the others.
fn keep_succeeded(
    pending: Vec<Pending>,
    mut result: impl FnMut(&Pending) -> Result<(), KafkaError>,
) -> Vec<Pending> {
    let mut kept = Vec::new();
    for p in pending {
        match result(&p) {
            Ok(()) => kept.push(p),
            Err(error) => {
                let _ = p.request.reply.send(Err(WriteError::Write(error)));
            }
        }
    }
    kept
}

/// Each topic's result of a batched request; when the request itself failed (refused whole, or
/// its answer lost), every topic in it gets that error: never resent, WriteUnconfirmed says
/// "read Kafka again".
fn collect<'a>(
    results: &mut TopicResults,
    topics: impl Iterator<Item = &'a String>,
    answer: Result<TopicResults, KafkaError>,
) {
    match answer {
        Ok(answer) => results.extend(answer),
        Err(error) => {
            for topic in topics {
                results.insert(topic.clone(), Err(error.clone()));
            }
        }
    }
}
