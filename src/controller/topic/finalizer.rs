//! I/O: the Delete finalizer, added and removed to match the deletion policy, and the deletion
//! of the Kafka topic when a KafkaTopic that owns it goes.

use crate::api::Reason;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action as Requeue;
use kube::runtime::events::EventType;
use serde_json::json;
use tokio::time::Instant;
use tracing::info;

use std::sync::Arc;

use chrono::Utc;

use super::admit::{allowed, declaring, eligible};
use super::deletion::{DeletionTarget, deletion_target, kept_on_deletion};
use super::in_use::{hold_message, in_use};
use super::outcome::SETTLING;
use super::outcome::not_synced;
use super::outcome::ready_reason;
use super::pause::{PAUSED_ANNOTATION, Pause, pause};
use super::status::write_status;
use crate::api::{DeletionPolicy, InUseDeletionPolicy, KafkaCluster, KafkaTopic};
use crate::controller::context::Context;
use crate::controller::deletion_guard::{Decision, Facts, Hold, confirmed, decide, pending};
use crate::controller::error::Error;
use crate::controller::ownership::{cluster_key, owner};
use crate::controller::report::Verdict;
use crate::kafka::{Deletion, KafkaAdmin, KafkaError};
use crate::model::ObservedTopic;

/// Added to KafkaTopics with deletionPolicy Delete, so the topic is deleted before the resource.
pub const DELETE_FINALIZER: &str = "kafka.topic-operator.dev/delete-topic";

pub async fn set_finalizer(
    topic: &KafkaTopic,
    api: &Api<KafkaTopic>,
    present: bool,
    ctx: &Context,
) -> Result<(), Error> {
    let mut finalizers: Vec<String> = topic
        .finalizers()
        .iter()
        .filter(|f| *f != DELETE_FINALIZER)
        .cloned()
        .collect();
    if present {
        finalizers.push(DELETE_FINALIZER.to_string());
    }
    // resourceVersion makes this a compare-and-swap: never clobber someone else's finalizer.
    let patch = json!({ "metadata": { "finalizers": finalizers, "resourceVersion": topic.resource_version() } });
    let _turn = ctx.write_turn().await;
    api.patch(
        &topic.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

/// A KafkaTopic being deleted. Only deletionPolicy Delete has a finalizer; the topic is deleted
/// from Kafka when this resource owns it and the cluster is in Enforce mode. When the
/// KafkaCluster itself is gone there is nothing to delete from, and the finalizer is released so
/// that namespace deletion never hangs.
pub async fn finalize(
    topic: &KafkaTopic,
    cluster: Option<&KafkaCluster>,
    policy: DeletionPolicy,
    api: &Api<KafkaTopic>,
    ctx: &Context,
) -> Result<Requeue, Error> {
    if !topic.finalizers().iter().any(|f| f == DELETE_FINALIZER) {
        return Ok(Requeue::await_change());
    }
    let name = topic.kafka_topic_name();
    match cluster {
        None => {
            ctx.event(
                topic,
                EventType::Warning,
                "TopicNotDeleted",
                "Delete",
                format!(
                    "KafkaCluster {} is gone: topic {name} was not deleted from Kafka",
                    topic.spec.cluster_ref.name
                ),
            );
        }
        Some(cluster) => {
            let same_kafka = ctx.observers.same_kafka(&cluster_key(topic));
            let declaring = declaring(ctx, topic, &same_kafka);
            let is_owner = allowed(cluster, topic)
                && owner(topic, &declaring, &same_kafka, |t| eligible(ctx, t)).uid() == topic.uid();
            let kept = kept_on_deletion(policy, is_owner, cluster.spec.policy.mode);
            if let Some(why) = kept {
                info!(topic = %name, why, "leaving the Kafka topic in place");
            } else if let Some(pause) = pause(topic) {
                return hold_while_paused(topic, cluster, &pause, api, ctx).await;
            } else if let Some(waiting) = delete_from_kafka(topic, cluster, &name, api, ctx).await?
            {
                return Ok(waiting);
            }
        }
    }
    set_finalizer(topic, api, false, ctx).await?;
    release_hold(Hold::Bulk, topic, ctx);
    release_hold(Hold::InUse, topic, ctx);
    Ok(Requeue::await_change())
}

/// The deletion of the topic this KafkaTopic owns, past its holds (a bulk deletion, the topic in
/// use). None once it is done with (deleted, already gone, or left in place as replaced): the
/// finalizer may go. Some(when to look again) while it waits.
async fn delete_from_kafka(
    topic: &KafkaTopic,
    cluster: &KafkaCluster,
    name: &str,
    api: &Api<KafkaTopic>,
    ctx: &Context,
) -> Result<Option<Requeue>, Error> {
    let held_in_use = ready_reason(topic).as_deref() == Some(Reason::TopicInUse.as_str());
    let in_use_confirmed = super::in_use::confirmed(topic, name);
    // A deletion held for its topic in use and not confirmed stays held for that:
    // no other hold replaces it.
    let stays_held_in_use = held_in_use && !in_use_confirmed;
    if !stays_held_in_use {
        match bulk_deletion(topic, cluster, ctx) {
            Decision::Go => release_hold(Hold::Bulk, topic, ctx),
            Decision::Wait(after) => return Ok(Some(Requeue::requeue(after))),
            Decision::Held(why) => {
                return hold_deletion(topic, cluster, Hold::Bulk, why, api, ctx)
                    .await
                    .map(Some);
            }
        }
    }
    let Some(handle) = ctx.observers.get(&cluster_key(topic)) else {
        // Not connected yet (operator just started): try again shortly.
        return Ok(Some(Requeue::requeue(SETTLING)));
    };
    let guard = UseGuard {
        topic,
        policy: &cluster.spec.policy.in_use_deletion,
        confirmed: in_use_confirmed,
        held_before: held_in_use,
    };
    let known_id = topic.status.as_ref().and_then(|s| s.topic_id.as_deref());
    match delete_known_topic(&handle.state.admin, name, known_id, &guard).await {
        Ok(Some(said)) => {
            ctx.deletion_guard
                .record_deleted(&cluster_key(topic), Utc::now());
            handle.state.patch(name, Instant::now(), None);
            ctx.topic_event(
                topic,
                cluster,
                EventType::Normal,
                "TopicDeleted",
                "Delete",
                said,
            );
        }
        // The id is unknown to Kafka: gone, or replaced since the read. Read again.
        Ok(None) => return Ok(Some(Requeue::requeue(SETTLING))),
        Err(Refusal::Replaced(said)) => {
            ctx.topic_event(
                topic,
                cluster,
                EventType::Warning,
                "TopicNotDeleted",
                "Delete",
                said,
            );
        }
        Err(Refusal::InUse(why)) => {
            return hold_deletion(topic, cluster, Hold::InUse, why, api, ctx)
                .await
                .map(Some);
        }
        Err(Refusal::UseUnknown(error)) => {
            let message = format!(
                "topic {name} is not deleted: whether it is in use could not be read: {error}"
            );
            return not_deleted(topic, error, message, held_in_use, api, ctx)
                .await
                .map(Some);
        }
        Err(Refusal::Failed(error)) => {
            let message = format!("deleting topic {name} from Kafka failed: {error}");
            return not_deleted(topic, error, message, held_in_use, api, ctx)
                .await
                .map(Some);
        }
    }
    Ok(None)
}

/// Kafka could not answer: `Ready=False/DeleteFailed` says why, and the controller's backoff tries
/// again. A deletion held for its topic in use keeps that status: the hold stands meanwhile.
async fn not_deleted(
    topic: &KafkaTopic,
    error: KafkaError,
    message: String,
    held_in_use: bool,
    api: &Api<KafkaTopic>,
    ctx: &Context,
) -> Result<Requeue, Error> {
    if !held_in_use {
        let report = not_synced(topic, Verdict::not_ready(Reason::DeleteFailed, message));
        write_status(topic, &report, api, ctx).await?;
    }
    Err(Error::Kafka(error))
}

/// Whether this deletion may go now, by the KafkaCluster's bulk-deletion policy.
fn bulk_deletion(topic: &KafkaTopic, cluster: &KafkaCluster, ctx: &Context) -> Decision {
    let key = cluster_key(topic);
    let now = Utc::now();
    let policy = &cluster.spec.policy.bulk_deletion;
    // The cluster's KafkaTopics by the index, not a scan of every KafkaTopic.
    let declared = ctx.index.of_cluster(&key);
    let topics = declared.iter().filter_map(|r| ctx.topics.get(r));
    let (pending, quiet_for) = pending(topics, DELETE_FINALIZER, now);
    decide(&Facts {
        pending,
        quiet_for,
        done: ctx.deletion_guard.done_within(&key, policy.window(), now),
        max_topics: policy.max_topics,
        window: policy.window(),
        confirmed: confirmed(cluster, now),
    })
}

/// How often a deletion held for a bulk deletion looks again.
const HELD_RECHECK: std::time::Duration = std::time::Duration::from_secs(10);

/// A deletion held: the topic stays and the KafkaTopic says why. For a bulk deletion its
/// KafkaCluster shows the count (`DeletionsHeld`) and the deletion looks again every
/// [`HELD_RECHECK`] (for a confirmation there, or fewer deletions pending); for a topic in use
/// only a change of the KafkaTopic (the confirmation, or Retain) lets it go on. A deletion is
/// counted under one hold at a time: the one that holds it now.
async fn hold_deletion(
    topic: &KafkaTopic,
    cluster: &KafkaCluster,
    hold: Hold,
    why: String,
    api: &Api<KafkaTopic>,
    ctx: &Context,
) -> Result<Requeue, Error> {
    let (reason, event, next) = match hold {
        Hold::Bulk => (
            Reason::DeletionHeld,
            "DeletionHeld",
            Requeue::requeue(HELD_RECHECK),
        ),
        Hold::InUse => (
            Reason::TopicInUse,
            "DeletionHeldInUse",
            Requeue::await_change(),
        ),
    };
    let key = cluster_key(topic);
    for each in [Hold::Bulk, Hold::InUse] {
        let counted = ctx
            .deletion_guard
            .set_held(each, &key, &object_key(topic), each == hold);
        if counted {
            ctx.observers.cluster_changed(&key);
        }
    }
    if ready_reason(topic).as_deref() != Some(reason.as_str()) {
        info!(topic = %topic.kafka_topic_name(), %reason, "deletion held");
        ctx.topic_event(
            topic,
            cluster,
            EventType::Warning,
            event,
            "Delete",
            why.clone(),
        );
    }
    let report = not_synced(topic, Verdict::not_ready(reason, why));
    write_status(topic, &report, api, ctx).await?;
    Ok(next)
}

fn release_hold(hold: Hold, topic: &KafkaTopic, ctx: &Context) {
    let key = cluster_key(topic);
    if ctx
        .deletion_guard
        .set_held(hold, &key, &object_key(topic), false)
    {
        ctx.observers.cluster_changed(&key);
    }
}

fn object_key(topic: &KafkaTopic) -> String {
    format!(
        "{}/{}",
        topic.namespace().unwrap_or_default(),
        topic.name_any()
    )
}

/// A paused KafkaTopic being deleted whose topic would be deleted: the finalizer holds (the
/// Kafka topic stays) until the pause is lifted, or deletionPolicy becomes Retain. Either change
/// is a change of the object, which triggers the next look.
async fn hold_while_paused(
    topic: &KafkaTopic,
    cluster: &KafkaCluster,
    pause: &Pause,
    api: &Api<KafkaTopic>,
    ctx: &Context,
) -> Result<Requeue, Error> {
    let name = topic.kafka_topic_name();
    let message = format!(
        "{}: topic {name} is not deleted from Kafka while paused; remove the annotation {PAUSED_ANNOTATION} to delete it, or set deletionPolicy: Retain to keep it and let the KafkaTopic go",
        pause.describe()
    );
    info!(topic = %name, "deletion held: the KafkaTopic is paused");
    let before = topic
        .status
        .as_ref()
        .and_then(|s| crate::api::condition::find(&s.conditions, "Ready"))
        .map(|c| c.message.clone());
    if before.as_deref() != Some(message.as_str()) {
        ctx.topic_event(
            topic,
            cluster,
            EventType::Warning,
            "DeletionPaused",
            "Delete",
            message.clone(),
        );
    }
    let report = not_synced(topic, Verdict::not_ready(Reason::Paused, message));
    write_status(topic, &report, api, ctx).await?;
    Ok(Requeue::await_change())
}

enum Refusal {
    /// The topic of that name is not the one the KafkaTopic knew: left in place.
    Replaced(String),
    /// The topic is in use and its deletion is not confirmed: why, for the status.
    InUse(String),
    /// Whether the topic is in use could not be read: not deleted.
    UseUnknown(KafkaError),
    Failed(KafkaError),
}

/// What decides whether a topic in use may be deleted (topic/in_use.rs).
struct UseGuard<'a> {
    topic: &'a KafkaTopic,
    policy: &'a InUseDeletionPolicy,
    /// The KafkaTopic's confirmation names the topic: its use is not even read.
    confirmed: bool,
    /// An earlier look held it for its use.
    held_before: bool,
}

impl UseGuard<'_> {
    /// Why deleting `observed` is held, or None.
    async fn judge(
        &self,
        admin: &Arc<dyn KafkaAdmin>,
        observed: &ObservedTopic,
    ) -> Result<Option<String>, KafkaError> {
        if self.confirmed {
            return Ok(None);
        }
        let usage = admin
            .topic_use(observed, self.policy.committed_offsets)
            .await?;
        let use_now = in_use(&usage, self.policy.recent_writes(), Utc::now());
        Ok(hold_message(
            self.topic,
            &observed.name,
            use_now,
            self.held_before,
        ))
    }
}

/// Deletes the topic `name` by the id a fresh read finds, if it is the one the KafkaTopic knew
/// (`known_id`). Some(what happened), or None when Kafka no longer knew the id by the time the
/// deletion reached it: nothing was deleted, and the caller reads again.
async fn delete_known_topic(
    admin: &Arc<dyn KafkaAdmin>,
    name: &str,
    known_id: Option<&str>,
    guard: &UseGuard<'_>,
) -> Result<Option<String>, Refusal> {
    let now = admin
        .describe_topics(&[name.to_string()])
        .await
        .map_err(Refusal::Failed)?;
    let id = match deletion_target(known_id, now.get(name)) {
        DeletionTarget::Gone => {
            return Ok(Some(format!("topic {name} was already gone from Kafka")));
        }
        DeletionTarget::Replaced { known, found } => {
            return Err(Refusal::Replaced(format!(
                "topic {name} was not deleted from Kafka: it has id {found}, not the {known} this KafkaTopic managed (deleted and created again outside the operator); delete it by hand if it should go"
            )));
        }
        DeletionTarget::NoId => {
            return Err(Refusal::Failed(KafkaError::UnsupportedVersion {
                api: "DeleteTopics",
                wanted: "6 (by topic id)".into(),
                offered: "no topic ids in Metadata".into(),
            }));
        }
        DeletionTarget::Id(id) => id,
    };
    let observed = now.get(name).expect("a topic with an id was read");
    let held = guard
        .judge(admin, observed)
        .await
        .map_err(Refusal::UseUnknown)?;
    if let Some(why) = held {
        return Err(Refusal::InUse(why));
    }
    match admin.delete_topic(name, &id).await {
        Ok(Deletion::Deleted) => Ok(Some(format!("deleted topic {name} (id {id}) from Kafka"))),
        Ok(Deletion::UnknownId) => {
            info!(topic = %name, %id, "Kafka no longer knows the topic id; reading again");
            Ok(None)
        }
        Err(error) => Err(Refusal::Failed(error)),
    }
}
