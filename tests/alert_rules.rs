//! The shipped alert rules refer only to metrics the operator exports, and docs/monitoring.md
//! lists every metric.

use std::collections::BTreeSet;

use kafka_topic_operator::metrics::{Metrics, TopicGauges, TopicLabels};

fn exported_metric_names() -> BTreeSet<String> {
    let m = Metrics::new();
    m.set_topic(
        TopicLabels {
            namespace: "n".into(),
            name: "t".into(),
            topic: "t".into(),
            cluster: "c".into(),
        },
        TopicGauges::default(),
    );
    m.reconciled("topic", true, 0.1);
    for family in [
        &m.cluster_ready,
        &m.cluster_brokers,
        &m.cluster_managed_topics,
        &m.cluster_unmanaged_topics,
        &m.cluster_auto_create_brokers,
        &m.cluster_unreadable_brokers,
    ] {
        family
            .get_or_create(&kafka_topic_operator::metrics::ClusterLabels {
                namespace: "n".into(),
                cluster: "c".into(),
            })
            .set(0);
    }
    m.observer_restarts
        .get_or_create(&kafka_topic_operator::metrics::ClusterLabels {
            namespace: "n".into(),
            cluster: "c".into(),
        })
        .inc();
    m.kafka_requests
        .get_or_create(&kafka_topic_operator::metrics::AdminResultLabels {
            cluster: "c".into(),
            operation: "snapshot".into(),
            result: "ok".into(),
        })
        .inc();
    m.kafka_request_duration
        .get_or_create(&kafka_topic_operator::metrics::AdminLabels {
            cluster: "c".into(),
            operation: "snapshot".into(),
        })
        .observe(0.1);
    m.encode()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect()
}

#[test]
fn alert_expressions_use_exported_metrics() {
    let exported = exported_metric_names();
    let rules = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/prometheus/alerts.yaml"
    ))
    .unwrap();
    let mut used = 0;
    for line in rules
        .lines()
        .filter(|l| l.trim_start().starts_with("expr:"))
    {
        for word in line
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("kto_"))
        {
            assert!(
                exported.contains(word),
                "alert uses {word}, which the operator does not export: {exported:?}"
            );
            used += 1;
        }
    }
    assert!(
        used >= 8,
        "only {used} metric references found in the alert rules"
    );
}

#[test]
fn monitoring_doc_lists_every_metric() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/monitoring.md"))
        .unwrap();
    for name in exported_metric_names() {
        let family = name
            .trim_end_matches("_bucket")
            .trim_end_matches("_sum")
            .trim_end_matches("_count")
            .trim_end_matches("_total");
        assert!(
            doc.contains(family),
            "docs/monitoring.md does not mention {family}"
        );
    }
}

/// Every query of the shipped Grafana dashboard names only metrics the operator exports, and
/// the dashboard covers what the operator reports.
#[test]
fn dashboard_queries_use_exported_metrics() {
    let exported = exported_metric_names();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/helm/kafka-topic-operator/dashboards/kafka-topic-operator.json"
    ))
    .unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("dashboard is JSON");
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(target["expr"].as_str().unwrap().to_string());
        }
    }
    let mut used = std::collections::BTreeSet::new();
    for expr in &exprs {
        let words: Vec<&str> = expr
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("kto_"))
            .collect();
        assert!(
            !words.is_empty(),
            "a query names no operator metric: {expr}"
        );
        for word in words {
            assert!(
                exported.contains(word),
                "the dashboard uses {word}, which the operator does not export: {expr}"
            );
            used.insert(word.to_string());
        }
    }
    for family in [
        "kto_cluster_brokers",
        "kto_cluster_auto_create_brokers",
        "kto_cluster_managed_topics",
        "kto_cluster_unmanaged_topics",
        "kto_topic_ready",
        "kto_topic_drifted",
        "kto_topic_under_replicated_partitions",
        "kto_topic_offline_partitions",
        "kto_topic_under_min_isr_partitions",
        "kto_topic_reassigning",
        "kto_reconcile_total",
        "kto_reconcile_duration_seconds_bucket",
        "kto_kafka_request_duration_seconds_bucket",
    ] {
        assert!(
            used.contains(family),
            "the dashboard does not show {family}"
        );
    }
}
