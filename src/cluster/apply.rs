//! The apply of one topic's plan, the one entry every write of a topic goes through. I/O.
//!
//! The plan a reconcile made on the snapshot is only the reason to come here: the snapshot may
//! be up to one resync old (someone may have created or fixed the topic meanwhile), so every
//! path plans again on a fresh read under the cluster's write lock before it writes:
//! - a creation goes to the cluster's creation batcher (create.rs);
//! - config changes and partition growth go to the write batcher (write.rs), many topics at once;
//! - anything else (replica moves, throttles, leader elections) is done here, one topic at a time
//!   under the write lock, so that concurrent moves never exceed maxConcurrentMoves.
//!
//! Whatever happens comes back as plain data ([`Applied`]); the controller turns it into a
//! status and events.

use std::time::Duration;

use kafka_protocol::ResponseError;
use tokio::time::Instant;

use super::ClusterHandle;
use super::create::Created;
use super::state::ClusterState;
use super::write::{self, TopicWrite, WriteError, WriteOutcome, Written};
use crate::kafka::KafkaError;
use crate::model::{
    BROKER_THROTTLE_CONFIGS, ConfigChanges, DesiredTopic, ObservedTopic, TopicTarget,
};
use crate::plan::{Action, Memory, TopicPlan, plan_topic};

/// What the reconcile knows, for planning again on a fresh read.
pub struct ApplyRequest<'a> {
    pub desired: &'a DesiredTopic,
    pub memory: &'a Memory,
    /// The plan made on the snapshot (with actions: there is something to write).
    pub plan: &'a TopicPlan,
    pub max_concurrent_moves: usize,
    pub throttle: i64,
}

/// What became of a topic's apply.
#[derive(Debug)]
pub enum Applied {
    /// The creation batcher created the topic, or found that it exists by now (`existed`).
    /// `after` is the plan on the topic as read back (None: not in Kafka's metadata yet).
    Created {
        target: TopicTarget,
        created: Created,
        after: Option<TopicPlan>,
    },
    /// Planned again on a fresh read: nothing to write now (in sync, or blocked).
    Replanned {
        observed: Option<ObservedTopic>,
        plan: TopicPlan,
    },
    /// Written: the fresh plan, the actions that took effect, and the read-back.
    Written(Box<Written>),
    /// The re-read before writing failed: nothing was written.
    ReadFailed(KafkaError),
    /// A write was refused, or its answer lost; `fresh` is the re-read and its plan when the
    /// write was made here.
    WriteFailed {
        error: KafkaError,
        fresh: Option<(Option<ObservedTopic>, TopicPlan)>,
    },
}

/// Carries out `request.plan` the way its actions call for (see the module's comment).
pub async fn apply_topic(cluster: &ClusterHandle, request: ApplyRequest<'_>) -> Applied {
    if let [Action::CreateTopic { topic: target, .. }] = request.plan.actions.as_slice() {
        return create(cluster, &request, target).await;
    }
    if request.plan.actions.iter().all(write::is_batchable) {
        let write = TopicWrite {
            desired: request.desired.clone(),
            memory: request.memory.clone(),
            max_concurrent_moves: request.max_concurrent_moves,
            throttle: request.throttle,
        };
        match cluster.writer.write(write).await {
            Ok(WriteOutcome::Replanned(fresh)) => {
                return Applied::Replanned {
                    observed: fresh.observed,
                    plan: fresh.plan,
                };
            }
            Ok(WriteOutcome::Written(written)) => return Applied::Written(written),
            Ok(WriteOutcome::Alone) => {}
            Err(WriteError::Read(error)) => return Applied::ReadFailed(error),
            Err(WriteError::Write(error)) => return Applied::WriteFailed { error, fresh: None },
        }
    }
    alone(&cluster.state, &request).await
}

async fn create(
    cluster: &ClusterHandle,
    request: &ApplyRequest<'_>,
    target: &TopicTarget,
) -> Applied {
    let created = match cluster.creator.create(target.clone()).await {
        Ok(created) => created,
        Err(error) => return Applied::WriteFailed { error, fresh: None },
    };
    // Planned from here on as a topic that exists: a field the spec leaves out is what Kafka
    // has. Values this creation filled from topicDefaults are remembered as such.
    let mut memory = request.memory.clone();
    if !created.existed {
        memory.sources = Some(target.sources);
        memory.topic_id = created.observed.as_ref().and_then(|t| t.topic_id.clone());
    }
    let view = cluster
        .state
        .view(request.max_concurrent_moves, request.throttle);
    let after = created
        .observed
        .as_ref()
        .map(|fresh| plan_topic(request.desired, Some(fresh), &view, &memory));
    Applied::Created {
        target: target.clone(),
        created,
        after,
    }
}

/// One topic under the cluster's write lock: read, plan, write, read back.
async fn alone(state: &ClusterState, request: &ApplyRequest<'_>) -> Applied {
    let name = &request.desired.name;
    let write_lock = state.write_lock();
    let _guard = write_lock.lock().await;
    let read_at = Instant::now();
    let observed = match state
        .admin
        .describe_topics(std::slice::from_ref(name))
        .await
    {
        Ok(mut fresh) => fresh.remove(name),
        Err(error) => return Applied::ReadFailed(error),
    };
    state.patch(name, read_at, observed.clone());
    let replan = |fresh: Option<&ObservedTopic>| {
        let view = state.view(request.max_concurrent_moves, request.throttle);
        plan_topic(request.desired, fresh, &view, request.memory)
    };
    let plan = replan(observed.as_ref());
    if plan.blocker.is_some() || plan.actions.is_empty() {
        return Applied::Replanned { observed, plan };
    }
    let applied = match apply_plan(state, name, &plan).await {
        Ok(applied) => applied,
        Err(error) => {
            return Applied::WriteFailed {
                error,
                fresh: Some((observed, plan)),
            };
        }
    };
    let read_back = read_back_settled(state, name, &applied, replan).await;
    Applied::Written(Box::new(Written {
        observed,
        plan,
        applied,
        read_back,
    }))
}

/// Carries out the plan and returns the actions that took effect. Config changes are validated
/// by Kafka before anything is applied, so an invalid value leaves the topic untouched (no
/// partitions added, no config half-set).
async fn apply_plan(
    state: &ClusterState,
    name: &str,
    plan: &TopicPlan,
) -> Result<Vec<Action>, KafkaError> {
    let admin = &state.admin;
    for action in &plan.actions {
        if let Action::AlterConfigs(changes) = action {
            admin.alter_topic_configs(name, changes, true).await?;
        }
    }
    let mut applied = Vec::new();
    for action in &plan.actions {
        match action {
            Action::CreateTopic { topic, assignments } => {
                match admin.create_topic(topic, assignments, false).await {
                    // The snapshot was older than the topic: nothing was created; the read-back
                    // shows the topic and the next reconcile aligns it.
                    Err(e) if e.code() == Some(ResponseError::TopicAlreadyExists) => continue,
                    other => other?,
                }
            }
            Action::CreatePartitions { total, assignments } => {
                admin.create_partitions(name, *total, assignments).await?
            }
            Action::Throttle {
                rate,
                brokers,
                replicas,
            } => {
                let rates = ConfigChanges {
                    set: BROKER_THROTTLE_CONFIGS
                        .iter()
                        .map(|k| (k.to_string(), rate.to_string()))
                        .collect(),
                    delete: vec![],
                };
                // The lists first: while a topic lists throttled replicas, the cluster
                // reconcile never removes broker rates.
                if !replicas.is_empty() {
                    admin.alter_topic_configs(name, replicas, false).await?;
                }
                for broker in brokers {
                    admin.alter_broker_configs(*broker, &rates).await?;
                }
            }
            Action::Reassign { moves } => admin.alter_reassignments(name, moves).await?,
            Action::Unthrottle(changes) | Action::AlterConfigs(changes) => {
                admin.alter_topic_configs(name, changes, false).await?
            }
            Action::ElectLeaders { partitions } => {
                admin.elect_preferred_leaders(name, partitions).await?
            }
        }
        applied.push(action.clone());
    }
    Ok(applied)
}

/// Reads the topic back after a write and plans again. A config Kafka has just accepted may
/// show its old value for a moment (the broker answering has not applied the change yet), so
/// while a value just set still differs, the read is repeated a few times before that value
/// is taken as Kafka's answer.
async fn read_back_settled(
    state: &ClusterState,
    name: &str,
    applied: &[Action],
    plan: impl Fn(Option<&ObservedTopic>) -> TopicPlan,
) -> Result<(Option<ObservedTopic>, TopicPlan), KafkaError> {
    let mut attempt = 0;
    loop {
        let read_at = Instant::now();
        let fresh = read_back(state, name).await?;
        state.patch(name, read_at, fresh.clone());
        let after = plan(fresh.as_ref());
        attempt += 1;
        if !write::still_unsettled(applied, &after) || attempt >= 4 {
            return Ok((fresh, after));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Re-reads one topic after a write. Kafka answers CreateTopics before every broker's metadata
/// has the topic, so a missing topic is asked for a few more times before we believe it.
async fn read_back(state: &ClusterState, name: &str) -> Result<Option<ObservedTopic>, KafkaError> {
    for _ in 0..10 {
        if let Some(topic) = state
            .admin
            .describe_topics(&[name.to_string()])
            .await?
            .remove(name)
        {
            return Ok(Some(topic));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Ok(None)
}
