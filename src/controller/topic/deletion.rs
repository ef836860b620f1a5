//! Pure: which deletion policy a KafkaTopic has. A left-out deletionPolicy is the KafkaCluster's
//! default only for a topic the operator created (docs/do-no-harm.md).

use crate::api::{self, DeletionPolicy, KafkaCluster, KafkaTopic, PolicyMode};
use crate::model::{ObservedTopic, ValueSource};

/// The deletion policy in effect, and whether it is settled: declared, or recorded in the
/// status by a reconcile that created or adopted the topic. Before that, the KafkaCluster's
/// default stands in (so a Delete finalizer is in place before the operator creates the topic),
/// but is never enough to delete.
pub fn deletion_policy(
    topic: &KafkaTopic,
    cluster: Option<&KafkaCluster>,
) -> (DeletionPolicy, bool) {
    if let Some(declared) = topic.spec.deletion_policy {
        return (declared, true);
    }
    if let Some(recorded) = topic.status.as_ref().and_then(|s| s.deletion_policy) {
        return (recorded, true);
    }
    let default = cluster
        .map(|c| c.spec.topic_defaults.deletion_policy)
        .unwrap_or_default();
    (default, false)
}

/// Why deleting a KafkaTopic leaves its Kafka topic in place, or None when it deletes it:
/// only the owner deletes, only in Enforce mode, only with `policy` (the policy in effect, a
/// settled one: see [`deletion_policy`]) Delete.
pub fn kept_on_deletion(
    policy: DeletionPolicy,
    is_owner: bool,
    mode: PolicyMode,
) -> Option<&'static str> {
    let enforce = mode == PolicyMode::Enforce;
    if policy == DeletionPolicy::Delete && is_owner && enforce {
        None
    } else if !is_owner {
        Some("another KafkaTopic owns it")
    } else if !enforce {
        Some("the cluster is in Observe mode")
    } else {
        Some("deletionPolicy is Retain")
    }
}

/// The deletion policy a sync records: declared; the topicDefaults' when this reconcile created
/// the topic (or an earlier one did, as the status says); otherwise Retain, for a topic that
/// existed before the operator managed it.
pub fn deletion_in_effect(
    topic: &KafkaTopic,
    cluster: &KafkaCluster,
    created_now: bool,
) -> (DeletionPolicy, ValueSource) {
    if let Some(declared) = topic.spec.deletion_policy {
        return (declared, ValueSource::Spec);
    }
    if created_now {
        return (
            cluster.spec.topic_defaults.deletion_policy,
            ValueSource::TopicDefaults,
        );
    }
    let status = topic.status.as_ref();
    let recorded = status.and_then(|s| s.deletion_policy);
    let source = status
        .and_then(|s| s.value_sources)
        .and_then(|v| v.deletion_policy);
    match (recorded, source) {
        (Some(policy), Some(api::ValueSource::TopicDefaults)) => {
            (policy, ValueSource::TopicDefaults)
        }
        _ => (DeletionPolicy::Retain, ValueSource::Kafka),
    }
}

/// Which Kafka topic the finalizer of a KafkaTopic may delete, from a fresh read of its name.
#[derive(Debug, PartialEq, Eq)]
pub enum DeletionTarget {
    /// No topic of that name: nothing to delete.
    Gone,
    /// The topic with this id: the one the KafkaTopic knew, or the only one there is when it
    /// never recorded an id.
    Id(String),
    /// The topic of that name has another id than the one the KafkaTopic knew: someone
    /// deleted it and created it again since. Not this KafkaTopic's topic: never deleted.
    Replaced { known: String, found: String },
    /// Kafka shows no id for it (older than 2.8): a deletion by id is not possible.
    NoId,
}

pub fn deletion_target(known_id: Option<&str>, now: Option<&ObservedTopic>) -> DeletionTarget {
    let Some(now) = now else {
        return DeletionTarget::Gone;
    };
    match (known_id, now.topic_id.as_deref()) {
        (_, None) => DeletionTarget::NoId,
        (Some(known), Some(found)) if known != found => DeletionTarget::Replaced {
            known: known.to_string(),
            found: found.to_string(),
        },
        (_, Some(found)) => DeletionTarget::Id(found.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::kafka_topic;

    fn cluster_with_default(policy: DeletionPolicy) -> KafkaCluster {
        let mut cluster = crate::fixtures::kafka_cluster();
        cluster.spec.topic_defaults.deletion_policy = policy;
        cluster
    }

    #[test]
    fn only_the_owner_deletes_only_in_enforce_mode_only_with_delete() {
        use DeletionPolicy::{Delete, Retain};
        use PolicyMode::{Enforce, Observe};
        assert_eq!(kept_on_deletion(Delete, true, Enforce), None);
        assert_eq!(
            kept_on_deletion(Delete, false, Enforce),
            Some("another KafkaTopic owns it")
        );
        assert_eq!(
            kept_on_deletion(Delete, true, Observe),
            Some("the cluster is in Observe mode")
        );
        assert_eq!(
            kept_on_deletion(Retain, true, Enforce),
            Some("deletionPolicy is Retain")
        );
    }

    #[test]
    fn a_default_delete_is_settled_only_once_a_reconcile_recorded_creating_the_topic() {
        let cluster = cluster_with_default(DeletionPolicy::Delete);
        let mut topic = kafka_topic("t");
        // Never synced: the default stands in for the finalizer, but is not settled.
        assert_eq!(
            deletion_policy(&topic, Some(&cluster)),
            (DeletionPolicy::Delete, false)
        );
        // This reconcile created the topic: the default, recorded.
        assert_eq!(
            deletion_in_effect(&topic, &cluster, true),
            (DeletionPolicy::Delete, ValueSource::TopicDefaults)
        );
        // Found existing, with nothing recorded: Retain.
        assert_eq!(
            deletion_in_effect(&topic, &cluster, false),
            (DeletionPolicy::Retain, ValueSource::Kafka)
        );
        // Recorded earlier as the default: kept, whatever the default says now.
        let mut status = crate::api::KafkaTopicStatus {
            deletion_policy: Some(DeletionPolicy::Delete),
            value_sources: Some(api::ValueSources {
                partitions: api::ValueSource::TopicDefaults,
                replication_factor: api::ValueSource::TopicDefaults,
                min_in_sync_replicas: api::ValueSource::TopicDefaults,
                deletion_policy: Some(api::ValueSource::TopicDefaults),
            }),
            ..Default::default()
        };
        topic.status = Some(status.clone());
        let retain_now = cluster_with_default(DeletionPolicy::Retain);
        assert_eq!(
            deletion_in_effect(&topic, &retain_now, false),
            (DeletionPolicy::Delete, ValueSource::TopicDefaults)
        );
        assert_eq!(
            deletion_policy(&topic, Some(&retain_now)),
            (DeletionPolicy::Delete, true)
        );
        // Declared wins.
        topic.spec.deletion_policy = Some(DeletionPolicy::Retain);
        assert_eq!(
            deletion_policy(&topic, Some(&cluster)),
            (DeletionPolicy::Retain, true)
        );
        status.deletion_policy = None;
    }

    #[test]
    fn the_finalizer_deletes_only_the_topic_its_kafkatopic_knew() {
        let mut now = crate::fixtures::observed_on("t", 1, &[1]);
        assert_eq!(deletion_target(Some("a"), None), DeletionTarget::Gone);
        assert_eq!(deletion_target(Some("a"), Some(&now)), DeletionTarget::NoId);
        now.topic_id = Some("a".into());
        assert_eq!(
            deletion_target(Some("a"), Some(&now)),
            DeletionTarget::Id("a".into())
        );
        assert_eq!(
            deletion_target(None, Some(&now)),
            DeletionTarget::Id("a".into())
        );
        now.topic_id = Some("b".into());
        assert_eq!(
            deletion_target(Some("a"), Some(&now)),
            DeletionTarget::Replaced {
                known: "a".into(),
                found: "b".into()
            }
        );
    }
}
