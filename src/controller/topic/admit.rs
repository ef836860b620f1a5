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
    let declaring = declaring(ctx, topic);
    let owner = owner(topic, &declaring, |t| allowed(cluster, t));
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

/// Every KafkaTopic that names the same Kafka topic in the same cluster (this one included).
pub fn declaring(ctx: &Context, topic: &KafkaTopic) -> Vec<Arc<KafkaTopic>> {
    ctx.index
        .declaring(&cluster_key(topic), &topic.kafka_topic_name())
        .iter()
        .filter_map(|r| ctx.topics.get(r))
        .collect()
}
