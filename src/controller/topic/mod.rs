//! KafkaTopic reconcile, top to bottom:
//!
//! 1. deletion (finalizer.rs, I/O): a KafkaTopic being deleted is finalized; otherwise the
//!    Delete finalizer is added or removed to match its deletion policy (deletion.rs, pure);
//! 2. admit (admit.rs, reads caches only): the declaration as a desired topic, tenancy,
//!    ownership, which cluster, and what the cluster's snapshot shows of the topic;
//! 3. plan (`crate::plan::plan_topic`, pure), on the snapshot;
//! 4. apply (`crate::cluster::apply`, I/O), in Enforce mode when there is something to write:
//!    planned again on a fresh read under the cluster's write lock and written; plain data back
//!    on every path (created, batched, alone);
//! 5. outcome (outcome.rs, pure): the report, the events and when to look again;
//! 6. events (events.rs) and status (status.rs), I/O: the status only when it changed.

pub mod admit;
pub mod deletion;
mod events;
mod finalizer;
pub mod in_use;
pub mod outcome;
pub mod pause;
mod status;
#[cfg(test)]
mod tests;

use crate::api::Reason;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use kube::api::Api;
use kube::runtime::controller::Action as Requeue;
use kube::{Resource, ResourceExt};

use outcome::{CONNECTING, Facts, Outcome, SETTLING};

use super::Error;
use super::context::Context;
use super::ownership::cluster_key;
use crate::api::{DeletionPolicy, KafkaCluster, KafkaTopic};
use crate::cluster::apply::{ApplyRequest, apply_topic};
use crate::controller::report::Verdict;
use crate::plan::plan_topic;

pub use finalizer::DELETE_FINALIZER;

pub async fn reconcile(topic: Arc<KafkaTopic>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    // The status this process last wrote, when the cache does not show it yet (written.rs).
    let topic = match ctx.written.topics.newer_than(&topic.metadata) {
        Some(status) => Arc::new(KafkaTopic {
            status: Some(status),
            ..(*topic).clone()
        }),
        None => topic,
    };
    let namespace = topic.namespace().unwrap_or_default();
    let api: Api<KafkaTopic> = Api::namespaced(ctx.client.clone(), &namespace);
    let cluster = ctx.cluster(&cluster_key(&topic));
    // At start-up the KafkaCluster cache may not be filled yet: not finding the cluster means
    // nothing then. Deciding anything on it (a deletion policy, "the KafkaCluster is gone", a
    // status) would be deciding on a cache that is still filling.
    if cluster.is_none() && !caches_synced(&ctx) {
        return Ok(Requeue::requeue(SETTLING));
    }

    // 1. Deletion and the finalizer.
    let (policy, settled) = deletion::deletion_policy(&topic, cluster.as_deref());
    if topic.meta().deletion_timestamp.is_some() {
        // A policy not yet settled (the operator never recorded creating the topic) deletes
        // nothing: the topic may be one that existed before its KafkaTopic.
        let policy = if settled {
            policy
        } else {
            DeletionPolicy::Retain
        };
        return finalizer::finalize(&topic, cluster.as_deref(), policy, &api, &ctx).await;
    }
    let has_finalizer = topic.finalizers().iter().any(|f| f == DELETE_FINALIZER);
    if (policy == DeletionPolicy::Delete) != has_finalizer {
        finalizer::set_finalizer(&topic, &api, policy == DeletionPolicy::Delete, &ctx).await?;
        // The patch triggers another reconcile with the new metadata.
        return Ok(Requeue::await_change());
    }

    // 2-5. Admit, plan, apply, outcome.
    let Outcome {
        report,
        events,
        next,
    } = match cluster {
        None => cluster_not_found(&topic, ctx.settings.resync),
        Some(cluster) => sync(&topic, &cluster, &ctx).await,
    };
    if report.verdict.reason == CONNECTING && topic.status.as_ref().is_some_and(|s| s.is_written())
    {
        // The operator just started and has not looked at the cluster yet: the status keeps
        // what was last seen. Writing CONNECTING (and then the same status as before) for
        // every topic would cost two apiserver writes per KafkaTopic on every restart.
        return next.map_err(Error::Kafka);
    }

    // 6. Events and status.
    events::post(&ctx, &topic, events);
    let notice_due = status::write_status(&topic, &report, &api, &ctx).await?;
    match (next, notice_due) {
        // Nothing else would wake this topic before its health event is due.
        (Ok(next), Some(due)) if next == Requeue::await_change() => Ok(Requeue::requeue(due)),
        (next, _) => next.map_err(Error::Kafka),
    }
}

/// Steps 2 to 5 for a KafkaTopic whose KafkaCluster is known.
async fn sync(topic: &KafkaTopic, cluster: &KafkaCluster, ctx: &Context) -> Outcome {
    let admitted = match admit::admit(topic, cluster, ctx) {
        Ok(admitted) => admitted,
        Err(refused) => {
            let (report, next) = *refused;
            return Outcome {
                report,
                events: vec![],
                next,
            };
        }
    };
    let facts = Facts {
        topic,
        cluster,
        resync: ctx.settings.resync,
        now: Utc::now(),
    };
    let memory = outcome::memory(topic, cluster);
    let max_concurrent_moves = ctx.max_concurrent_moves(&cluster_key(topic));
    let throttle = cluster.spec.reassignment.throttle_bytes_per_second;
    let plan = plan_topic(
        &admitted.desired,
        admitted.observed.as_ref(),
        &admitted.cluster.state.view(max_concurrent_moves, throttle),
        &memory,
    );
    // Paused: looked at and reported, never written. Lifting the pause triggers a reconcile
    // that plans from the snapshot, and apply plans again on a fresh read before any write.
    if let Some(pause) = pause::pause(topic) {
        return outcome::paused(&facts, admitted.observed, plan, &pause);
    }
    let enforce = cluster.spec.policy.mode == crate::api::PolicyMode::Enforce;
    if !enforce || plan.blocker.is_some() || plan.actions.is_empty() {
        return outcome::planned(&facts, admitted.observed, plan);
    }
    let applied = apply_topic(
        &admitted.cluster,
        ApplyRequest {
            desired: &admitted.desired,
            memory: &memory,
            plan: &plan,
            max_concurrent_moves,
            throttle,
        },
    )
    .await;
    if let crate::cluster::apply::Applied::WriteFailed { error, .. } = &applied {
        tracing::warn!(topic = %admitted.desired.name, %error, "applying the plan failed");
    }
    outcome::applied(&facts, admitted.observed, plan, applied)
}

/// The KafkaCluster the topic names does not exist (the cache is complete).
fn cluster_not_found(topic: &KafkaTopic, resync: Duration) -> Outcome {
    let (namespace, name) = cluster_key(topic);
    Outcome {
        report: outcome::not_synced(
            topic,
            Verdict::not_ready(
                Reason::ClusterNotFound,
                format!("KafkaCluster {namespace}/{name} not found"),
            ),
        ),
        events: vec![],
        next: Ok(Requeue::requeue(resync)),
    }
}

/// Whether the KafkaCluster cache has its first full list.
fn caches_synced(ctx: &Context) -> bool {
    use futures::FutureExt;
    ctx.clusters.wait_until_ready().now_or_never().is_some()
}
