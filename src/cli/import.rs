//! `kafka-topic-operator import`: KafkaTopic YAML for topics that already exist, with their
//! observed values. Applied unchanged it changes nothing in Kafka, except one thing a comment
//! warns about: a partition with more replicas than the fewest any partition has loses the extra
//! ones (one replicationFactor is declared for all). Comments also mark each topic that falls
//! short of the cluster's topicDefaults.

use std::collections::BTreeSet;

use serde_json::json;

use crate::api::KafkaCluster;
use crate::model::{ClusterSnapshot, MIN_INSYNC_REPLICAS, ObservedTopic};
use crate::plan::{IgnoredKeys, OPERATOR_OWNED_CONFIGS};

/// Which topics to import: all (none given), these names, or names matching these patterns
/// (`*` matches any run of characters).
#[derive(Default)]
pub struct Selection {
    pub names: Vec<String>,
    pub patterns: Vec<String>,
}

impl Selection {
    fn selects(&self, name: &str) -> bool {
        (self.names.is_empty() && self.patterns.is_empty())
            || self.names.iter().any(|n| n == name)
            || self.patterns.iter().any(|p| glob(p, name))
    }
}

fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, rest)) => {
            name.starts_with(head)
                && (0..=name.len() - head.len()).any(|i| glob(rest, &name[head.len() + i..]))
        }
    }
}

/// A Kubernetes name for a Kafka topic name (lowercase, `_` becomes `-`).
fn resource_name(topic: &str, taken: &mut BTreeSet<String>) -> String {
    let mut base: String = topic
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    base = base
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .chars()
        .take(240)
        .collect();
    if base.is_empty() {
        base = "topic".into();
    }
    let mut name = base.clone();
    let mut n = 2;
    while !taken.insert(name.clone()) {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

/// The YAML stream for the selected topics (internal topics never).
pub fn import(
    cluster: &KafkaCluster,
    namespace: Option<&str>,
    snapshot: &ClusterSnapshot,
    selection: &Selection,
) -> String {
    let defaults = &cluster.spec.topic_defaults;
    let ignored = IgnoredKeys::new(&cluster.spec.policy.ignored_config_keys);
    let cluster_name = cluster.metadata.name.clone().unwrap_or_default();
    let cluster_ns = cluster.metadata.namespace.clone();
    let mut taken = BTreeSet::new();
    let mut out = String::new();
    for topic in snapshot
        .topics
        .values()
        .filter(|t| !t.is_internal && !t.name.starts_with("__") && selection.selects(&t.name))
    {
        let rf = topic.replication_factor().unwrap_or(0);
        let in_effect = topic.min_in_sync_replicas().unwrap_or(1);
        // The CRD (rightly) refuses minInSyncReplicas above replicationFactor; a topic can be
        // in that state (replication factor 1 under a broker default of 2). Left out of the
        // declaration, it stays as Kafka has it: importing never changes a topic.
        let declare_min_isr = in_effect <= rf;
        out.push_str("---\n");
        if !declare_min_isr {
            out.push_str(&format!(
                "# NOTE: {}: min.insync.replicas in effect is {in_effect}, above its replication factor {rf}: every acks=all write to it fails today. minInSyncReplicas is left out, so the operator keeps Kafka's value; declare replicationFactor and minInSyncReplicas together to fix it.\n",
                topic.name
            ));
        }
        let min_isr = in_effect;
        for note in shortfalls(
            topic,
            rf,
            min_isr,
            defaults.replication_factor,
            defaults.min_in_sync_replicas,
        ) {
            out.push_str(&format!("# WARNING: {note}\n"));
        }
        // Keys the cluster leaves to other tools are not declared: a KafkaTopic naming one is
        // refused (InvalidSpec).
        let config: serde_json::Map<String, serde_json::Value> = topic
            .overrides()
            .into_iter()
            .filter(|(k, _)| *k != MIN_INSYNC_REPLICAS && !OPERATOR_OWNED_CONFIGS.contains(k))
            .filter(|(k, _)| ignored.matching(k).is_none())
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let mut cluster_ref = json!({"name": cluster_name});
        if let Some(ns) = &cluster_ns
            && Some(ns.as_str()) != namespace
        {
            cluster_ref["namespace"] = json!(ns);
        }
        let mut metadata = json!({"name": resource_name(&topic.name, &mut taken)});
        if let Some(ns) = namespace {
            metadata["namespace"] = json!(ns);
        }
        let mut spec = json!({
            "clusterRef": cluster_ref,
            "topicName": topic.name,
            "partitions": topic.partitions.len(),
            "replicationFactor": rf,
        });
        if declare_min_isr {
            spec["minInSyncReplicas"] = json!(min_isr);
        }
        if !config.is_empty() {
            spec["config"] = serde_json::Value::Object(config);
        }
        let doc = json!({"apiVersion": "kafka.topic-operator.dev/v1alpha1", "kind": "KafkaTopic", "metadata": metadata, "spec": spec});
        out.push_str(&serde_norway::to_string(&doc).expect("JSON values serialize"));
    }
    out
}

fn shortfalls(
    topic: &ObservedTopic,
    rf: i32,
    min_isr: i32,
    default_rf: i32,
    default_min_isr: i32,
) -> Vec<String> {
    let mut notes = Vec::new();
    let larger: Vec<i32> = topic
        .partitions
        .iter()
        .filter(|p| p.replicas.len() as i32 > rf)
        .map(|p| p.id)
        .collect();
    if !larger.is_empty() {
        notes.push(format!(
            "{}: partitions {larger:?} have more than {rf} replicas, the fewest any partition has; applied as it is, this declaration removes their extra replicas (declare a higher replicationFactor to keep them)",
            topic.name
        ));
    }
    if rf < default_rf {
        notes.push(format!(
            "{}: replication factor {rf} is below the cluster default {default_rf}{}; raise replicationFactor to move replicas",
            topic.name,
            if rf == 1 { " (no redundancy: one broker failure loses it)" } else { "" }
        ));
    }
    if min_isr < default_min_isr {
        notes.push(format!(
            "{}: minInSyncReplicas {min_isr} is below the cluster default {default_min_isr}{}",
            topic.name,
            if min_isr == 1 {
                " (an acks=all write may live on one replica only)"
            } else {
                ""
            }
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_and_names() {
        assert!(glob("orders.*", "orders.eu"));
        assert!(glob("*_event", "account_event"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("orders.*", "payments"));
        let s = Selection {
            names: vec!["x".into()],
            patterns: vec![],
        };
        assert!(s.selects("x") && !s.selects("y"));
        assert!(Selection::default().selects("anything"));
    }

    #[test]
    fn resource_names_are_kubernetes_names_and_unique() {
        let mut taken = BTreeSet::new();
        assert_eq!(resource_name("account_event", &mut taken), "account-event");
        assert_eq!(
            resource_name("Account-Event", &mut taken),
            "account-event-2"
        );
        assert_eq!(resource_name("__x", &mut taken), "x");
    }

    #[test]
    fn min_isr_above_the_replication_factor_is_left_out_with_a_note() {
        use crate::model::{ClusterSnapshot, ObservedConfig, ObservedPartition, ObservedTopic};
        let topic = ObservedTopic {
            defaults: Default::default(),
            name: "account_event".into(),
            topic_id: None,
            is_internal: false,
            partitions: vec![ObservedPartition {
                id: 0,
                leader: 1,
                replicas: vec![1],
                isr: vec![1],
                adding: vec![],
                removing: vec![],
            }],
            configs: [(
                "min.insync.replicas".to_string(),
                ObservedConfig {
                    value: Some("2".into()),
                    is_topic_override: false,
                    kind: Default::default(),
                },
            )]
            .into(),
        };
        let snapshot = ClusterSnapshot {
            topics: [("account_event".to_string(), topic)].into(),
            ..Default::default()
        };
        let cluster: crate::api::KafkaCluster = serde_json::from_value(serde_json::json!({
            "apiVersion": "kafka.topic-operator.dev/v1alpha1", "kind": "KafkaCluster",
            "metadata": {"name": "kafka"}, "spec": {"bootstrapServers": ["k:9092"]}
        }))
        .unwrap();
        let yaml = import(&cluster, None, &snapshot, &Selection::default());
        assert!(
            yaml.contains("# NOTE: account_event: min.insync.replicas in effect is 2"),
            "{yaml}"
        );
        assert!(!yaml.contains("minInSyncReplicas:"), "{yaml}");
        assert!(yaml.contains("replicationFactor: 1"), "{yaml}");
    }

    #[test]
    fn keys_the_cluster_ignores_are_not_declared() {
        let mut topic = crate::fixtures::observed_on("tiered", 1, &[1, 2, 3]);
        for (k, v) in [
            ("retention.ms", "1000"),
            ("message.timestamp.type", "LogAppendTime"),
        ] {
            topic.configs.insert(
                k.into(),
                crate::model::ObservedConfig {
                    value: Some(v.into()),
                    is_topic_override: true,
                    kind: Default::default(),
                },
            );
        }
        let snapshot = crate::model::ClusterSnapshot {
            topics: [("tiered".to_string(), topic)].into(),
            ..Default::default()
        };
        let cluster: crate::api::KafkaCluster = serde_json::from_value(serde_json::json!({
            "apiVersion": "kafka.topic-operator.dev/v1alpha1", "kind": "KafkaCluster",
            "metadata": {"name": "kafka"}, "spec": {"bootstrapServers": ["k:9092"],
                "policy": {"ignoredConfigKeys": ["message.timestamp.*"]}}
        }))
        .unwrap();
        let yaml = import(&cluster, None, &snapshot, &Selection::default());
        assert!(yaml.contains("retention.ms"), "{yaml}");
        assert!(!yaml.contains("message.timestamp.type"), "{yaml}");
    }

    #[test]
    fn uneven_replica_counts_declare_the_fewest_with_a_warning() {
        use crate::model::{ClusterSnapshot, ObservedPartition, ObservedTopic};
        let partition = |id, replicas: Vec<i32>| ObservedPartition {
            id,
            leader: 1,
            isr: replicas.clone(),
            replicas,
            adding: vec![],
            removing: vec![],
        };
        let topic = ObservedTopic {
            defaults: Default::default(),
            name: "ledger".into(),
            topic_id: None,
            is_internal: false,
            partitions: vec![partition(0, vec![1, 2, 3]), partition(1, vec![1, 2])],
            configs: Default::default(),
        };
        let snapshot = ClusterSnapshot {
            topics: [("ledger".to_string(), topic)].into(),
            ..Default::default()
        };
        let cluster: crate::api::KafkaCluster = serde_json::from_value(serde_json::json!({
            "apiVersion": "kafka.topic-operator.dev/v1alpha1", "kind": "KafkaCluster",
            "metadata": {"name": "kafka"}, "spec": {"bootstrapServers": ["k:9092"]}
        }))
        .unwrap();
        let yaml = import(&cluster, None, &snapshot, &Selection::default());
        assert!(yaml.contains("replicationFactor: 2"), "{yaml}");
        assert!(
            yaml.contains("# WARNING: ledger: partitions [0] have more than 2 replicas"),
            "{yaml}"
        );
    }
}
