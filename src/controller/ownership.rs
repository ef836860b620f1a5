//! Which KafkaTopic owns a Kafka topic when several name the same one on the same Kafka
//! (through one KafkaCluster or several for that Kafka): the oldest (by creationTimestamp, then
//! namespace/name so the answer never flips).

use kube::ResourceExt;

use crate::api::KafkaTopic;
use crate::cluster::ClusterKey;

/// The KafkaCluster a topic references, as namespace/name.
pub fn cluster_key(topic: &KafkaTopic) -> ClusterKey {
    let namespace = topic
        .spec
        .cluster_ref
        .namespace
        .clone()
        .or_else(|| topic.namespace())
        .unwrap_or_default();
    (namespace, topic.spec.cluster_ref.name.clone())
}

fn age_key(topic: &KafkaTopic) -> (Option<k8s_openapi::jiff::Timestamp>, String, String) {
    (
        topic.metadata.creation_timestamp.as_ref().map(|t| t.0),
        topic.namespace().unwrap_or_default(),
        topic.name_any(),
    )
}

/// The owner among every KafkaTopic in `all` that names the same Kafka topic as `topic` through
/// one of `same_kafka` (the KafkaClusters that reach `topic`'s Kafka), `topic` included, and is
/// `eligible` (allowed by its cluster's tenancy rules: a forbidden declaration owns nothing).
pub fn owner<'a>(
    topic: &'a KafkaTopic,
    all: &'a [std::sync::Arc<KafkaTopic>],
    same_kafka: &[ClusterKey],
    eligible: impl Fn(&KafkaTopic) -> bool,
) -> &'a KafkaTopic {
    let name = topic.kafka_topic_name();
    all.iter()
        .map(|t| t.as_ref())
        .filter(|t| {
            same_kafka.contains(&cluster_key(t)) && t.kafka_topic_name() == name && eligible(t)
        })
        .chain(std::iter::once(topic))
        .min_by_key(|t| age_key(t))
        .expect("the topic itself is a candidate")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ClusterRef, KafkaTopicSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use std::sync::Arc;

    fn topic(ns: &str, name: &str, topic_name: Option<&str>, created_s: i64) -> Arc<KafkaTopic> {
        let mut t = KafkaTopic::new(
            name,
            KafkaTopicSpec {
                cluster_ref: ClusterRef {
                    name: "main".into(),
                    namespace: Some("kafka".into()),
                },
                topic_name: topic_name.map(String::from),
                partitions: None,
                replication_factor: None,
                min_in_sync_replicas: None,
                config: Default::default(),
                deletion_policy: None,
            },
        );
        t.metadata.namespace = Some(ns.into());
        t.metadata.creation_timestamp = Some(Time(
            k8s_openapi::jiff::Timestamp::from_second(created_s).unwrap(),
        ));
        Arc::new(t)
    }

    #[test]
    fn the_oldest_declaration_owns_the_topic_across_namespaces() {
        let older = topic("team-a", "orders", None, 100);
        let newer = topic("team-b", "orders-copy", Some("orders"), 200);
        let unrelated = topic("team-b", "payments", None, 1);
        let all = vec![older.clone(), newer.clone(), unrelated];
        let main = [cluster_key(&older)];
        assert_eq!(owner(&newer, &all, &main, |_| true).name_any(), "orders");
        assert_eq!(owner(&older, &all, &main, |_| true).name_any(), "orders");
    }

    #[test]
    fn the_oldest_declaration_owns_the_topic_across_kafkaclusters_for_one_kafka() {
        let older = topic("team-a", "orders", None, 100);
        let mut newer = (*topic("team-b", "orders", None, 200)).clone();
        newer.spec.cluster_ref = ClusterRef {
            name: "kafka".into(),
            namespace: None,
        };
        let newer = Arc::new(newer);
        let all = vec![older.clone(), newer.clone()];
        let both = [cluster_key(&older), cluster_key(&newer)];
        assert_eq!(
            owner(&newer, &all, &both, |_| true).namespace().unwrap(),
            "team-a"
        );
        // Until the operator knows both KafkaClusters reach one Kafka, each owns its own.
        let own = [cluster_key(&newer)];
        assert_eq!(
            owner(&newer, &all, &own, |_| true).namespace().unwrap(),
            "team-b"
        );
    }

    #[test]
    fn an_ineligible_older_declaration_owns_nothing() {
        let older = topic("team-a", "orders", None, 100);
        let newer = topic("team-b", "orders", None, 200);
        let all = vec![older.clone(), newer.clone()];
        assert_eq!(
            owner(&newer, &all, &[cluster_key(&older)], |t| t
                .namespace()
                .as_deref()
                != Some("team-a"))
            .namespace()
            .unwrap(),
            "team-b"
        );
    }

    #[test]
    fn equal_ages_are_broken_by_namespace_and_name() {
        let a = topic("a", "orders", None, 100);
        let b = topic("b", "orders", None, 100);
        let all = vec![b.clone(), a.clone()];
        assert_eq!(
            owner(&b, &all, &[cluster_key(&a)], |_| true)
                .namespace()
                .unwrap(),
            "a"
        );
    }
}
