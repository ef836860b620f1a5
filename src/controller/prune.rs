//! What the operator keeps per object, dropped once the object is gone: the retry backoff of a
//! failing reconcile, the metric series of KafkaTopics and KafkaClusters, and the observer of a
//! KafkaCluster. A deleted object is not reconciled again (a KafkaTopic without a finalizer is
//! not reconciled at its deletion at all), so nothing else would ever remove them: a namespace
//! of thousands of topics deleted would leave thousands of series on /metrics, and their alerts
//! firing, for good.

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::context::Context;
use crate::api::{KafkaCluster, KafkaTopic};
use crate::metrics::TopicLabels;

/// At most one sweep a second: a mass deletion notifies once per object, and each sweep looks
/// at every series and entry kept.
const SWEEP_GAP: Duration = Duration::from_secs(1);

/// Drops the backoff entries and the series of KafkaTopics and KafkaClusters that are no longer
/// in the caches, and topic series whose labels the KafkaTopic no longer has (its Kafka topic
/// or cluster changed).
pub fn forget_gone(ctx: &Context) {
    use futures::FutureExt;
    let synced = |ready: Option<Result<(), _>>| matches!(ready, Some(Ok(())));
    if !synced(ctx.topics.wait_until_ready().now_or_never())
        || !synced(ctx.clusters.wait_until_ready().now_or_never())
    {
        return; // a cache still filling says nothing about what is gone
    }
    // First the observers of deleted clusters: one still running would write its Kafka request
    // series again (the last KafkaCluster of a namespace leaves no other cluster's reconcile to
    // stop it).
    super::cluster::prune_observers(ctx);
    ctx.metrics.retain_topics(|labels| {
        ctx.topics
            .get(&ObjectRef::new(&labels.name).within(&labels.namespace))
            .is_some_and(|topic| *labels == topic_labels(&topic))
    });
    ctx.metrics.retain_clusters(|labels| {
        ctx.clusters
            .get(&ObjectRef::new(&labels.cluster).within(&labels.namespace))
            .is_some()
    });
    ctx.deletion_guard.retain(|(namespace, name)| {
        ctx.clusters
            .get(&ObjectRef::new(name).within(namespace))
            .is_some()
    });
    ctx.backoff.retain(|key| {
        // Keys are `Kind/namespace/name` (object_key in controller/mod.rs); no part holds a '/'.
        let mut parts = key.splitn(3, '/');
        let (Some(kind), Some(namespace), Some(name)) = (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        match kind {
            "KafkaTopic" => ctx
                .topics
                .get(&ObjectRef::<KafkaTopic>::new(name).within(namespace))
                .is_some(),
            "KafkaCluster" => ctx
                .clusters
                .get(&ObjectRef::<KafkaCluster>::new(name).within(namespace))
                .is_some(),
            _ => true,
        }
    });
}

/// The labels of a KafkaTopic's series.
pub fn topic_labels(topic: &KafkaTopic) -> TopicLabels {
    TopicLabels {
        namespace: topic.namespace().unwrap_or_default(),
        name: topic.name_any(),
        topic: topic.kafka_topic_name(),
        cluster_namespace: super::ownership::cluster_key(topic).0,
        cluster: topic.spec.cluster_ref.name.clone(),
    }
}

/// Sweeps ([`forget_gone`]) when a watch saw objects go (`gone` notified: a deletion, or a
/// re-list that may have dropped some) and every `every` (a reconcile still running when its
/// object went may write its series or backoff again after the sweep), until `shutdown`.
pub async fn keep_forgetting(
    ctx: Arc<Context>,
    gone: Arc<Notify>,
    every: Duration,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = gone.notified() => {}
            _ = tokio::time::sleep(every) => {}
        }
        forget_gone(&ctx);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(SWEEP_GAP) => {}
        }
    }
}

#[cfg(test)]
mod tests;
