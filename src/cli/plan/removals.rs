//! A live KafkaTopic the files leave out: what removing it does to its Kafka topic. The
//! operator's own rules (controller/topic/deletion.rs): only a settled Delete policy deletes,
//! only the owner, only in Enforce mode, only the topic the KafkaTopic knew.

use std::sync::Arc;

use kube::ResourceExt;

use super::report::Removal;
use crate::api::{DeletionPolicy, KafkaCluster, KafkaTopic};
use crate::controller::ownership::cluster_key;
use crate::controller::ownership::owner;
use crate::controller::topic::admit::allowed;
use crate::controller::topic::deletion::{
    DeletionTarget, deletion_policy, deletion_target, kept_on_deletion,
};
use crate::model::ClusterSnapshot;

pub(super) fn removal(
    cluster: &KafkaCluster,
    topic: &KafkaTopic,
    live: &[Arc<KafkaTopic>],
    snapshot: &ClusterSnapshot,
) -> Removal {
    let name = topic.kafka_topic_name();
    let (declared, settled) = deletion_policy(topic, Some(cluster));
    let policy = if settled {
        declared
    } else {
        DeletionPolicy::Retain
    };
    let same_kafka = [cluster_key(topic)];
    let is_owner = allowed(cluster, topic)
        && owner(topic, live, &same_kafka, |t| allowed(cluster, t)).uid() == topic.uid();
    let known_id = topic.status.as_ref().and_then(|s| s.topic_id.as_deref());
    let kept = match kept_on_deletion(policy, is_owner, cluster.spec.policy.mode) {
        Some(_) if declared == DeletionPolicy::Delete && !settled => Some(
            "deletionPolicy is left out and the operator did not create the topic, so Retain applies"
                .to_string(),
        ),
        Some(why) => Some(why.to_string()),
        None => match deletion_target(known_id, snapshot.topics.get(&name)) {
            DeletionTarget::Id(_) => None,
            DeletionTarget::Gone => Some(format!("topic {name} is not in Kafka")),
            DeletionTarget::Replaced { known, found } => Some(format!(
                "topic {name} has id {found}, not the {known} this KafkaTopic managed"
            )),
            DeletionTarget::NoId => {
                Some("Kafka shows no topic id, so the deletion would fail (DeleteFailed)".into())
            }
        },
    };
    let what = format!(
        "KafkaTopic {}/{} is not in the files",
        topic.namespace().unwrap_or_default(),
        topic.name_any()
    );
    Removal {
        namespace: topic.namespace().unwrap_or_default(),
        name: topic.name_any(),
        topic_name: name.clone(),
        deletion_policy: format!("{policy:?}"),
        deletes_topic: kept.is_none(),
        message: match kept {
            None => format!(
                "{what}: removing it DELETES Kafka topic {name} and all its data (deletionPolicy Delete)"
            ),
            Some(why) => format!("{what}: no longer managed, kept in Kafka ({why})"),
        },
    }
}
