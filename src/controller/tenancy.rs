//! Tenancy: which namespaces may reference a KafkaCluster, and with which topic names; and,
//! for a Kafka that KafkaClusters in a platform namespace govern, which namespaces may use it at
//! all, through whichever KafkaCluster. Pure.

use crate::api::KafkaCluster;

/// Ok, or why a KafkaTopic in `namespace` may not manage topic `topic` in `cluster`.
pub fn check(cluster: &KafkaCluster, namespace: &str, topic: &str) -> Result<(), String> {
    if cluster.metadata.namespace.as_deref() == Some(namespace) {
        return Ok(());
    }
    let cluster_name = format!(
        "{}/{}",
        cluster.metadata.namespace.as_deref().unwrap_or_default(),
        cluster.metadata.name.as_deref().unwrap_or_default()
    );
    let rules: Vec<_> = cluster
        .spec
        .policy
        .tenants
        .iter()
        .filter(|r| r.namespace == namespace || r.namespace == "*")
        .collect();
    if rules.is_empty() {
        return Err(format!(
            "namespace {namespace} may not use KafkaCluster {cluster_name}: its spec.policy.tenants has no rule for it"
        ));
    }
    if rules.iter().any(|r| {
        r.topic_prefixes.is_empty()
            || r.topic_prefixes
                .iter()
                .any(|p| topic.starts_with(p.as_str()))
    }) {
        return Ok(());
    }
    let prefixes: Vec<&str> = rules
        .iter()
        .flat_map(|r| r.topic_prefixes.iter().map(String::as_str))
        .collect();
    Err(format!(
        "namespace {namespace} may only use topic names starting with {prefixes:?} in KafkaCluster {cluster_name}; {topic:?} does not"
    ))
}

/// Ok, or why a KafkaTopic in `namespace` may not manage `topic` on a Kafka that `governing`
/// (the KafkaClusters in platform namespaces that reach the same Kafka) govern. Without it, a
/// team could declare a KafkaCluster of its own for the shared Kafka (its own namespace may
/// always use it) and escape the platform's rules. Allowed when any governing cluster's rules
/// allow it; no governing cluster: nothing to check.
pub fn check_governed(
    governing: &[&KafkaCluster],
    namespace: &str,
    topic: &str,
) -> Result<(), String> {
    if governing.is_empty() {
        return Ok(());
    }
    let mut refusals = vec![];
    for cluster in governing {
        match check(cluster, namespace, topic) {
            Ok(()) => return Ok(()),
            Err(why) => refusals.push(why),
        }
    }
    Err(format!(
        "the Kafka this KafkaCluster reaches is governed by a platform namespace's KafkaCluster, whose rules apply through any KafkaCluster: {}",
        refusals.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{KafkaClusterSpec, TenantRule};

    fn cluster(tenants: Vec<TenantRule>) -> KafkaCluster {
        let mut c = KafkaCluster::new(
            "main",
            KafkaClusterSpec {
                bootstrap_servers: vec!["k:9092".into()],
                security: None,
                topic_defaults: Default::default(),
                policy: Default::default(),
                reassignment: Default::default(),
            },
        );
        c.metadata.namespace = Some("kafka".into());
        c.spec.policy.tenants = tenants;
        c
    }

    fn rule(ns: &str, prefixes: &[&str]) -> TenantRule {
        TenantRule {
            namespace: ns.into(),
            topic_prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn own_namespace_always_other_namespaces_only_by_rule() {
        let c = cluster(vec![]);
        assert!(check(&c, "kafka", "anything").is_ok());
        assert!(
            check(&c, "team-a", "orders")
                .unwrap_err()
                .contains("no rule")
        );
    }

    #[test]
    fn prefixes_restrict_names() {
        let c = cluster(vec![rule("team-a", &["a."]), rule("*", &["shared."])]);
        assert!(check(&c, "team-a", "a.orders").is_ok());
        assert!(check(&c, "team-a", "shared.x").is_ok());
        assert!(check(&c, "team-b", "shared.x").is_ok());
        let err = check(&c, "team-b", "a.orders").unwrap_err();
        assert!(
            err.contains("\"shared.\"") && err.contains("a.orders"),
            "{err}"
        );
        assert!(check(&cluster(vec![rule("team-a", &[])]), "team-a", "x").is_ok());
    }

    #[test]
    fn a_governed_kafka_applies_the_platform_rules_through_any_kafkacluster() {
        let platform = cluster(vec![rule("team-a", &["a."])]);
        assert!(check_governed(&[], "team-b", "anything").is_ok());
        assert!(check_governed(&[&platform], "team-a", "a.orders").is_ok());
        // The platform's own namespace may use its Kafka.
        assert!(check_governed(&[&platform], "kafka", "x").is_ok());
        let err = check_governed(&[&platform], "team-a", "b.orders").unwrap_err();
        assert!(
            err.contains("platform") && err.contains("b.orders"),
            "{err}"
        );
        let err = check_governed(&[&platform], "team-b", "b.orders").unwrap_err();
        assert!(err.contains("no rule"), "{err}");
        // Two governing clusters: allowed by either.
        let other = cluster(vec![rule("team-b", &["b."])]);
        assert!(check_governed(&[&platform, &other], "team-b", "b.orders").is_ok());
    }
}
