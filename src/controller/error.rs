//! How a reconcile fails, and the name its writes go under.

use crate::kafka::KafkaError;

/// The field manager of every write the operator makes to the apiserver.
pub const FIELD_MANAGER: &str = "kafka-topic-operator";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("Kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("reconcile panicked: {0}")]
    Panicked(String),
}
