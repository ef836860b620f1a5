//! Builds the desired topic from a KafkaTopic spec and its cluster's defaults, and rejects
//! declarations that Kubernetes admission cannot judge (config values that are not scalars).

use crate::api::Reason;
use crate::api::{ConfigValue, KafkaTopicSpec, TopicDefaults};
use crate::model::{CreationDefaults, DesiredTopic, MIN_INSYNC_REPLICAS};
use crate::plan::OPERATOR_OWNED_CONFIGS;

/// Kafka's own topics (consumer offsets, transactions, share groups, the KRaft log, tiered
/// storage metadata). The operator refuses to manage them, whatever they hold; Kafka also marks
/// them internal in its metadata, which the plan checks too.
pub const KAFKA_INTERNAL_TOPICS: [&str; 5] = [
    "__consumer_offsets",
    "__transaction_state",
    "__share_group_state",
    "__cluster_metadata",
    "__remote_log_metadata",
];

impl SpecError {
    /// The condition reason for this error.
    pub fn reason(&self) -> Reason {
        match self {
            SpecError::InternalTopic { .. } => Reason::InternalTopic,
            _ => Reason::InvalidSpec,
        }
    }
}

/// A declaration the operator refuses; shown as Ready=False/InvalidSpec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("{0}")]
    Invalid(String),
    #[error(
        "spec.config.{key}: must be a string, number or boolean, not a list or an object (a list config is one string: \"compact,delete\")"
    )]
    NotAScalar { key: String },
    #[error(
        "spec.config.{key}: null is not a value; remove the key to leave the config to Kafka, or write a value"
    )]
    NullConfig { key: String },
    #[error("spec.config: a key is empty; write the config's name, for example retention.ms")]
    EmptyConfigKey,
    #[error("spec.config.min.insync.replicas: set spec.minInSyncReplicas instead")]
    MinIsrInConfig,
    #[error(
        "spec.config.{key}: owned by the operator, which sets it while it moves replicas and removes it after"
    )]
    OperatorOwnedConfig { key: String },
    #[error("{name} is one of Kafka's internal topics: the operator never manages it")]
    InternalTopic { name: String },
    #[error("minInSyncReplicas {min_isr} exceeds replicationFactor {replication_factor}")]
    MinIsrAboveReplicationFactor {
        min_isr: i32,
        replication_factor: i32,
    },
}

/// The checks the CRD's schema and CEL rules make at admission, for manifests read from files
/// (`plan`): Kafka's topic-name rules, ranges, minInSyncReplicas <= replicationFactor.
pub fn validate_names(name: &str, topic: &crate::api::KafkaTopic) -> Result<(), SpecError> {
    let bad = |reason: &str| Err(SpecError::Invalid(format!("topic name {name:?}: {reason}")));
    if name.is_empty() || name.len() > 249 {
        return bad("must be 1 to 249 characters");
    }
    if name == "." || name == ".." {
        return bad("must not be '.' or '..'");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return bad("only letters, digits, '.', '_' and '-' are allowed");
    }
    let spec = &topic.spec;
    if spec
        .partitions
        .is_some_and(|p| !(1..=1_000_000).contains(&p))
    {
        return Err(SpecError::Invalid("partitions must be 1..1000000".into()));
    }
    if spec
        .replication_factor
        .is_some_and(|r| !(1..=32767).contains(&r))
    {
        return Err(SpecError::Invalid(
            "replicationFactor must be 1..32767".into(),
        ));
    }
    if let (Some(m), Some(r)) = (spec.min_in_sync_replicas, spec.replication_factor)
        && m > r
    {
        return Err(SpecError::MinIsrAboveReplicationFactor {
            min_isr: m,
            replication_factor: r,
        });
    }
    Ok(())
}

pub fn desired_topic(
    name: &str,
    spec: &KafkaTopicSpec,
    defaults: &TopicDefaults,
) -> Result<DesiredTopic, SpecError> {
    if KAFKA_INTERNAL_TOPICS.contains(&name) {
        return Err(SpecError::InternalTopic {
            name: name.to_string(),
        });
    }
    let mut configs = std::collections::BTreeMap::new();
    for (key, value) in &spec.config {
        if key.is_empty() {
            return Err(SpecError::EmptyConfigKey);
        }
        if matches!(value, ConfigValue::Other(serde_json::Value::Null)) {
            return Err(SpecError::NullConfig { key: key.clone() });
        }
        if key == MIN_INSYNC_REPLICAS {
            return Err(SpecError::MinIsrInConfig);
        }
        if OPERATOR_OWNED_CONFIGS.contains(&key.as_str()) {
            return Err(SpecError::OperatorOwnedConfig { key: key.clone() });
        }
        let value = value
            .to_kafka_string()
            .ok_or_else(|| SpecError::NotAScalar { key: key.clone() })?;
        configs.insert(key.clone(), value);
    }
    if let (Some(min_isr), Some(replication_factor)) =
        (spec.min_in_sync_replicas, spec.replication_factor)
        && min_isr > replication_factor
    {
        return Err(SpecError::MinIsrAboveReplicationFactor {
            min_isr,
            replication_factor,
        });
    }
    Ok(DesiredTopic {
        name: name.to_string(),
        partitions: spec.partitions,
        replication_factor: spec.replication_factor,
        min_in_sync_replicas: spec.min_in_sync_replicas,
        configs,
        creation_defaults: CreationDefaults {
            partitions: defaults.partitions,
            replication_factor: defaults.replication_factor,
            min_in_sync_replicas: defaults.min_in_sync_replicas,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ClusterRef;

    fn spec() -> KafkaTopicSpec {
        KafkaTopicSpec {
            cluster_ref: ClusterRef {
                name: "c".into(),
                namespace: None,
            },
            topic_name: None,
            partitions: None,
            replication_factor: None,
            min_in_sync_replicas: None,
            config: Default::default(),
            deletion_policy: None,
        }
    }

    #[test]
    fn fields_left_out_get_the_cluster_defaults_at_creation_and_kafkas_values_after() {
        use crate::model::ValueSource;
        let defaults = TopicDefaults {
            partitions: 6,
            replication_factor: 3,
            min_in_sync_replicas: 2,
            ..Default::default()
        };
        let d = desired_topic("t", &spec(), &defaults).unwrap();
        let created = d.for_creation().unwrap();
        assert_eq!(
            (
                created.partitions,
                created.replication_factor,
                created.min_in_sync_replicas
            ),
            (6, 3, Some(2))
        );
        assert_eq!(created.sources.partitions, ValueSource::TopicDefaults);
        // The same declaration on a topic that exists with 1 partition on 2 brokers: Kafka's.
        let existing = crate::fixtures::observed_on("t", 1, &[1, 2]);
        let adopted = d.for_existing(&existing, None).unwrap();
        assert_eq!(
            (
                adopted.partitions,
                adopted.replication_factor,
                adopted.min_in_sync_replicas
            ),
            (1, 2, None)
        );
        assert_eq!(adopted.sources.replication_factor, ValueSource::Kafka);
        let mut s = spec();
        s.partitions = Some(2);
        s.replication_factor = Some(2);
        s.min_in_sync_replicas = Some(1);
        let d = desired_topic("t", &s, &defaults).unwrap();
        let adopted = d.for_existing(&existing, None).unwrap();
        assert_eq!(
            (
                adopted.partitions,
                adopted.replication_factor,
                adopted.min_in_sync_replicas
            ),
            (2, 2, Some(1))
        );
        assert_eq!(adopted.sources.min_in_sync_replicas, ValueSource::Spec);
    }

    #[test]
    fn config_values_render_as_kafka_strings() {
        let mut s = spec();
        s.config
            .insert("retention.ms".into(), ConfigValue::Int(604800000));
        s.config
            .insert("preallocate".into(), ConfigValue::Bool(true));
        s.config
            .insert("min.cleanable.dirty.ratio".into(), ConfigValue::Float(0.5));
        s.config
            .insert("cleanup.policy".into(), ConfigValue::Text("compact".into()));
        let d = desired_topic("t", &s, &TopicDefaults::default()).unwrap();
        assert_eq!(d.configs["retention.ms"], "604800000");
        assert_eq!(d.configs["preallocate"], "true");
        assert_eq!(d.configs["min.cleanable.dirty.ratio"], "0.5");
        assert_eq!(d.configs["cleanup.policy"], "compact");
        assert_eq!(
            d.for_creation().unwrap().all_configs()["min.insync.replicas"],
            "2"
        );
    }

    #[test]
    fn non_scalar_config_and_min_isr_in_config_are_rejected() {
        let mut s = spec();
        s.config.insert(
            "retention.ms".into(),
            ConfigValue::Other(serde_json::json!([1])),
        );
        assert_eq!(
            desired_topic("t", &s, &TopicDefaults::default()),
            Err(SpecError::NotAScalar {
                key: "retention.ms".into()
            })
        );
        let mut s = spec();
        s.config
            .insert("min.insync.replicas".into(), ConfigValue::Int(2));
        assert_eq!(
            desired_topic("t", &s, &TopicDefaults::default()),
            Err(SpecError::MinIsrInConfig)
        );
    }

    #[test]
    fn operator_owned_configs_and_internal_topics_are_refused() {
        let mut s = spec();
        s.config.insert(
            "leader.replication.throttled.replicas".into(),
            ConfigValue::Text("*".into()),
        );
        let err = desired_topic("t", &s, &TopicDefaults::default()).unwrap_err();
        assert_eq!(err.reason(), "InvalidSpec");
        assert!(err.to_string().contains("owned by the operator"), "{err}");
        let err =
            desired_topic("__consumer_offsets", &spec(), &TopicDefaults::default()).unwrap_err();
        assert_eq!(err.reason(), "InternalTopic");
    }

    #[test]
    fn min_isr_above_the_replication_factor_the_topic_would_have_is_refused() {
        let mut s = spec();
        s.min_in_sync_replicas = Some(3);
        let defaults = TopicDefaults {
            replication_factor: 2,
            min_in_sync_replicas: 1,
            ..Default::default()
        };
        let d = desired_topic("t", &s, &defaults).unwrap();
        // Created: the default replication factor 2 is too low.
        assert_eq!(d.for_creation().unwrap_err().min_isr, 3);
        // Existing with 3 replicas: fine; with 2: refused.
        let three = crate::fixtures::observed_on("t", 1, &[1, 2, 3]);
        assert!(d.for_existing(&three, None).is_ok());
        let two = crate::fixtures::observed_on("t", 1, &[1, 2]);
        assert!(d.for_existing(&two, None).is_err());
        s.replication_factor = Some(2);
        assert!(matches!(
            desired_topic("t", &s, &defaults),
            Err(SpecError::MinIsrAboveReplicationFactor {
                min_isr: 3,
                replication_factor: 2
            })
        ));
    }

    #[test]
    fn a_null_value_and_an_empty_key_are_refused_with_the_key_named() {
        let mut s = spec();
        s.config.insert(
            "retention.ms".into(),
            ConfigValue::Other(serde_json::Value::Null),
        );
        let err = desired_topic("t", &s, &TopicDefaults::default()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("spec.config.retention.ms: null"),
            "{err}"
        );
        let mut s = spec();
        s.config.insert(String::new(), ConfigValue::Int(1));
        assert_eq!(
            desired_topic("t", &s, &TopicDefaults::default()),
            Err(SpecError::EmptyConfigKey)
        );
    }
}
