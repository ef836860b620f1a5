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

use super::admit::{allowed, declaring, eligible};
use super::outcome::SETTLING;
use super::outcome::not_synced;
use super::status::write_status;
use crate::api::{DeletionPolicy, KafkaCluster, KafkaTopic, PolicyMode};
use crate::controller::context::Context;
use crate::controller::error::Error;
use crate::controller::ownership::{cluster_key, owner};
use crate::controller::report::Verdict;

/// Added to KafkaTopics with deletionPolicy Delete, so the topic is deleted before the resource.
pub const DELETE_FINALIZER: &str = "kafka.topic-operator.dev/delete-topic";

pub async fn set_finalizer(
    topic: &KafkaTopic,
    api: &Api<KafkaTopic>,
    present: bool,
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
            let enforce = cluster.spec.policy.mode == PolicyMode::Enforce;
            if policy == DeletionPolicy::Delete && is_owner && enforce {
                let Some(handle) = ctx.observers.get(&cluster_key(topic)) else {
                    // Not connected yet (operator just started): try again shortly.
                    return Ok(Requeue::requeue(SETTLING));
                };
                if let Err(error) = handle.state.admin.delete_topic(&name).await {
                    let report = not_synced(
                        topic,
                        Verdict::not_ready(
                            Reason::DeleteFailed,
                            format!("deleting topic {name} from Kafka failed: {error}"),
                        ),
                    );
                    write_status(topic, &report, api, ctx).await?;
                    return Err(Error::Kafka(error));
                }
                handle.state.patch(&name, Instant::now(), None);
                ctx.event(
                    topic,
                    EventType::Normal,
                    "TopicDeleted",
                    "Delete",
                    format!("deleted topic {name} from Kafka"),
                );
            } else {
                let why = if !is_owner {
                    "another KafkaTopic owns it"
                } else if !enforce {
                    "the cluster is in Observe mode"
                } else {
                    "deletionPolicy is Retain"
                };
                info!(topic = %name, why, "leaving the Kafka topic in place");
            }
        }
    }
    set_finalizer(topic, api, false).await?;
    Ok(Requeue::await_change())
}
