//! Which Kafka cluster a piece of per-cluster state belongs to.

/// Identifies a KafkaCluster resource: namespace/name. Every per-cluster thing (snapshot, write
/// lock, batchers) is keyed by it; keying them by Kafka's own cluster id instead is a change of
/// this type and of how the registry computes it, nothing else.
pub type ClusterKey = (String, String);
