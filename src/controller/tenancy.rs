//! Tenancy: which namespaces may reference a KafkaCluster, and with which topic names. Pure.

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
}
