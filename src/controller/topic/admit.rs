//! Step 2 of the topic reconcile: may this KafkaTopic manage its topic, and what does the
//! cluster show of it. Reads the operator's caches and the cluster's snapshot, writes nothing.

use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::controller::Action as Requeue;

use super::outcome::{CONNECTING, Next, SETTLING, not_synced};
use crate::api::{KafkaCluster, KafkaTopic, Reason};
use crate::cluster::{ClusterHandle, TopicView};
use crate::controller::context::Context;
use crate::controller::ownership::{cluster_key, owner};
use crate::controller::report::{TopicReport, Verdict};
use crate::controller::tenancy;
use crate::model::{DesiredTopic, ObservedTopic};
use crate::plan::desired::desired_topic;

/// A KafkaTopic that may manage its topic, with what its cluster shows.
pub struct Admitted {
    pub desired: DesiredTopic,
    pub cluster: Arc<ClusterHandle>,
    /// The topic in the cluster's snapshot (patches included); None: Kafka does not have it.
    pub observed: Option<ObservedTopic>,
}

/// Admits `topic`, or says why not (the report to write and when to look again).
pub fn admit(
    topic: &KafkaTopic,
    cluster: &KafkaCluster,
    ctx: &Context,
) -> Result<Admitted, Box<(TopicReport, Next)>> {
    let idle = || Ok(Requeue::await_change());
    let refuse = |reason: Reason, message: String, next: Next| {
        Err(Box::new((
            not_synced(topic, Verdict::not_ready(reason, message)),
            next,
        )))
    };
    let name = topic.kafka_topic_name();
    let desired = match desired_topic(&name, &topic.spec, &cluster.spec.topic_defaults) {
        Ok(d) => d,
        Err(e) => return refuse(e.reason(), e.to_string(), idle()),
    };
    if let Err(message) = tenancy::check(cluster, &topic.namespace().unwrap_or_default(), &name) {
        return refuse(Reason::Forbidden, message, idle());
    }
    let same_kafka = ctx.observers.same_kafka(&cluster_key(topic));
    let declaring = declaring(ctx, topic, &same_kafka);
    let owner = owner(topic, &declaring, &same_kafka, |t| eligible(ctx, t));
    if owner.uid() != topic.uid() {
        let message = format!(
            "KafkaTopic {}/{} (older) already manages topic {name} in this cluster; this one changes nothing and deleting it leaves the topic alone",
            owner.namespace().unwrap_or_default(),
            owner.name_any()
        );
        // Looked at again every resync: when the owner goes, this one takes over.
        return refuse(
            Reason::Conflict,
            message,
            Ok(Requeue::requeue(ctx.settings.resync)),
        );
    }
    // The KafkaCluster reconcile opens the connection (it resolves the credentials).
    let Some(handle) = ctx.observers.get(&cluster_key(topic)) else {
        return refuse(
            CONNECTING,
            "waiting for the KafkaCluster's connection to Kafka".into(),
            Ok(Requeue::requeue(SETTLING)),
        );
    };
    let observed = match handle.state.topic(&name) {
        TopicView::Pending => {
            return refuse(
                CONNECTING,
                "waiting for the first look at the cluster".into(),
                Ok(Requeue::requeue(SETTLING)),
            );
        }
        TopicView::Failed { reason, message } => return refuse(reason, message, idle()),
        TopicView::Observed { topic, .. } => topic,
    };
    // Known only once the cluster was observed: which Kafka this is, and who governs it. Looked
    // at again every resync: the platform's rules live in another KafkaCluster.
    if let Err(message) = governed(ctx, topic) {
        return refuse(
            Reason::Forbidden,
            message,
            Ok(Requeue::requeue(ctx.settings.resync)),
        );
    }
    Ok(Admitted {
        desired,
        cluster: handle,
        observed,
    })
}

/// Whether the cluster's tenancy rules let this KafkaTopic manage its topic.
pub fn allowed(cluster: &KafkaCluster, topic: &KafkaTopic) -> bool {
    tenancy::check(
        cluster,
        &topic.namespace().unwrap_or_default(),
        &topic.kafka_topic_name(),
    )
    .is_ok()
}

/// Ok, or why the KafkaClusters governing `topic`'s Kafka from a platform namespace refuse it.
fn governed(ctx: &Context, topic: &KafkaTopic) -> Result<(), String> {
    let governing = ctx.governing(&cluster_key(topic));
    let governing: Vec<&KafkaCluster> = governing.iter().map(Arc::as_ref).collect();
    tenancy::check_governed(
        &governing,
        &topic.namespace().unwrap_or_default(),
        &topic.kafka_topic_name(),
    )
}

/// Whether `topic` may own its Kafka topic: its own KafkaCluster exists and allows it, and so
/// do the platform's rules for its Kafka.
pub fn eligible(ctx: &Context, topic: &KafkaTopic) -> bool {
    ctx.cluster(&cluster_key(topic))
        .is_some_and(|cluster| allowed(&cluster, topic))
        && governed(ctx, topic).is_ok()
}

/// Every KafkaTopic that names the same Kafka topic through one of `same_kafka` (the
/// KafkaClusters that reach the topic's Kafka), this one included.
pub fn declaring(
    ctx: &Context,
    topic: &KafkaTopic,
    same_kafka: &[crate::cluster::ClusterKey],
) -> Vec<Arc<KafkaTopic>> {
    let name = topic.kafka_topic_name();
    same_kafka
        .iter()
        .flat_map(|cluster| ctx.index.declaring(cluster, &name))
        .filter_map(|r| ctx.topics.get(&r))
        .collect()
}
