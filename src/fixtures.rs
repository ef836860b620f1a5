//! Builders of test objects, for every unit test in the crate: one place to change when a type
//! grows a field.

use crate::model::{
    CreationDefaults, DesiredTopic, ObservedPartition, ObservedTopic, TopicTarget, ValueSource,
    ValueSources,
};

/// topicDefaults 3 / 3 / 2, the KafkaCluster's own defaults.
pub const DEFAULTS: CreationDefaults = CreationDefaults {
    partitions: 3,
    replication_factor: 3,
    min_in_sync_replicas: 2,
};

/// `name` declaring partitions, replication factor and min ISR, no configs.
pub fn desired(name: &str, partitions: i32, rf: i32, min_isr: i32) -> DesiredTopic {
    DesiredTopic {
        name: name.into(),
        partitions: Some(partitions),
        replication_factor: Some(rf),
        min_in_sync_replicas: Some(min_isr),
        configs: Default::default(),
        creation_defaults: DEFAULTS,
    }
}

/// `name` declaring nothing but itself (every field left out).
pub fn undeclared(name: &str) -> DesiredTopic {
    DesiredTopic {
        name: name.into(),
        partitions: None,
        replication_factor: None,
        min_in_sync_replicas: None,
        configs: Default::default(),
        creation_defaults: DEFAULTS,
    }
}

/// A target with every value declared.
pub fn target(name: &str, partitions: i32, rf: i32, min_isr: i32) -> TopicTarget {
    desired(name, partitions, rf, min_isr)
        .for_creation()
        .expect("min ISR within the replication factor")
}

pub const ALL_DECLARED: ValueSources = ValueSources {
    partitions: ValueSource::Spec,
    replication_factor: ValueSource::Spec,
    min_in_sync_replicas: ValueSource::Spec,
};

/// Partition `id` on `replicas`, led by the first, all in sync, not moving.
pub fn partition(id: i32, replicas: &[i32]) -> ObservedPartition {
    ObservedPartition {
        id,
        leader: replicas.first().copied().unwrap_or(-1),
        replicas: replicas.to_vec(),
        isr: replicas.to_vec(),
        adding: vec![],
        removing: vec![],
    }
}

/// `name` with `partitions` partitions, each on `replicas` (leader first), all in sync.
pub fn observed_on(name: &str, partitions: usize, replicas: &[i32]) -> ObservedTopic {
    ObservedTopic {
        name: name.into(),
        topic_id: None,
        is_internal: false,
        partitions: (0..partitions as i32)
            .map(|id| partition(id, replicas))
            .collect(),
        configs: Default::default(),
        defaults: Default::default(),
    }
}

/// A KafkaTopic `name` in namespace `ns` for cluster `kafka`, declaring nothing else.
pub fn kafka_topic(name: &str) -> crate::api::KafkaTopic {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "kafka.topic-operator.dev/v1alpha1", "kind": "KafkaTopic",
        "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"), "generation": 1},
        "spec": {"clusterRef": {"name": "kafka"}}
    }))
    .expect("a valid KafkaTopic")
}

/// The KafkaCluster `ns/kafka` with every default.
pub fn kafka_cluster() -> crate::api::KafkaCluster {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "kafka.topic-operator.dev/v1alpha1", "kind": "KafkaCluster",
        "metadata": {"name": "kafka", "namespace": "ns"},
        "spec": {"bootstrapServers": ["kafka:9092"]}
    }))
    .expect("a valid KafkaCluster")
}
