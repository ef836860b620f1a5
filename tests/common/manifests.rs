//! KafkaTopic manifests as a user writes them, for the tests that send YAML through kubectl.

/// A KafkaTopic `name` with `metadata` lines (indented by two, e.g. labels; may be empty) and
/// `spec` lines (indented by two; the clusterRef is the caller's).
pub fn kafka_topic_yaml(name: &str, metadata: &str, spec: &str) -> String {
    format!(
        "apiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaTopic\nmetadata:\n  name: {name}\n{metadata}spec:\n{spec}"
    )
}
