//! The shipped alert rules refer only to metrics the operator exports, the chart's rules and
//! deploy/prometheus/ agree, every alert has a runbook section, every series naming a
//! KafkaCluster names its namespace, and docs/monitoring.md lists every metric.

use std::collections::BTreeSet;

use kafka_topic_operator::metrics::{Metrics, TopicGauges, TopicLabels};
use serde_norway::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The runbook URLs' base in the rules files (the chart may replace it: runbookBaseUrl).
const RUNBOOK_BASE: &str = "https://github.com/example/kafka-topic-operator/blob/main/docs/";

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every series the operator can export, one of each family.
fn exported_exposition() -> String {
    let m = Metrics::new();
    m.set_topic(
        TopicLabels {
            namespace: "n".into(),
            name: "t".into(),
            topic: "t".into(),
            cluster_namespace: "k".into(),
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
        &m.cluster_deletions_held,
        &m.cluster_deletions_in_use_held,
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
    m.kafka_request(
        &kafka_topic_operator::metrics::ClusterLabels {
            namespace: "n".into(),
            cluster: "c".into(),
        },
        "snapshot",
        true,
        0.1,
    );
    m.encode()
}

fn exported_metric_names() -> BTreeSet<String> {
    exported_exposition()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect()
}

#[test]
fn alert_expressions_use_exported_metrics() {
    let exported = exported_metric_names();
    let rules = read("deploy/prometheus/alerts.yaml");
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
        // The namespace variable holds KafkaClusters' namespaces: a query narrowed to a cluster
        // narrows to its namespace too (`cluster_namespace` on a KafkaTopic's series).
        if expr.contains(r#"cluster=~"$cluster""#) {
            let by_namespace = if expr.contains("kto_topic_") {
                r#"cluster_namespace=~"$namespace""#
            } else {
                r#"{namespace=~"$namespace""#
            };
            assert!(
                expr.contains(by_namespace),
                "narrowed to a cluster without its namespace: {expr}"
            );
        }
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

/// The alert rules: the chart's file (its `groups`), which templates/prometheusrule.yaml installs.
fn chart_rules() -> Vec<Value> {
    let file: Value =
        serde_norway::from_str(&read("deploy/helm/kafka-topic-operator/rules/alerts.yaml"))
            .expect("the chart's rules file is YAML");
    file["groups"]
        .as_sequence()
        .expect("groups")
        .iter()
        .flat_map(|group| group["rules"].as_sequence().expect("rules").clone())
        .collect()
}

fn text<'a>(rule: &'a Value, field: &str) -> &'a str {
    rule[field].as_str().unwrap_or("")
}

#[test]
fn the_chart_installs_the_same_rules_as_deploy_prometheus() {
    let chart: Value =
        serde_norway::from_str(&read("deploy/helm/kafka-topic-operator/rules/alerts.yaml"))
            .unwrap();
    let static_rule: Value =
        serde_norway::from_str(&read("deploy/prometheus/alerts.yaml")).unwrap();
    assert_eq!(static_rule["kind"].as_str(), Some("PrometheusRule"));
    assert!(
        chart["groups"].as_sequence().is_some_and(|g| !g.is_empty()),
        "the chart's rules file has no groups"
    );
    assert_eq!(
        chart["groups"], static_rule["spec"]["groups"],
        "deploy/prometheus/alerts.yaml and the chart's rules/alerts.yaml differ: edit both"
    );
    let template = read("deploy/helm/kafka-topic-operator/templates/prometheusrule.yaml");
    assert!(
        template.contains(r#".Files.Get "rules/alerts.yaml""#)
            && template.contains(".Values.prometheusRule.enabled"),
        "templates/prometheusrule.yaml must install rules/alerts.yaml behind prometheusRule.enabled"
    );
}

/// GitHub's anchors of a Markdown file's headings: lower case, punctuation dropped, spaces to '-'.
fn heading_anchors(doc: &str) -> BTreeSet<String> {
    doc.lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| {
            l.trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect()
}

#[test]
fn every_alert_has_a_runbook_url_whose_section_exists() {
    let rules = chart_rules();
    let mut checked = 0;
    for rule in &rules {
        let alert = text(rule, "alert");
        let url = rule["annotations"]["runbook_url"]
            .as_str()
            .unwrap_or_else(|| panic!("{alert} has no runbook_url"));
        let (doc, anchor) = url
            .strip_prefix(RUNBOOK_BASE)
            .and_then(|rest| rest.split_once('#'))
            .unwrap_or_else(|| panic!("{alert}: {url} is not {RUNBOOK_BASE}<doc>#<section>"));
        let anchors = heading_anchors(&read(&format!("docs/{doc}")));
        assert!(
            anchors.contains(anchor),
            "{alert}: docs/{doc} has no section #{anchor}; its sections: {anchors:?}"
        );
        checked += 1;
    }
    assert!(checked >= 11, "only {checked} alerts checked");
}

#[test]
fn an_alert_fires_when_the_operator_is_gone_or_no_replica_leads() {
    let rules = chart_rules();
    let exported = exported_metric_names();
    for metric in ["kto_build_info", "kto_leader"] {
        assert!(exported.contains(metric), "{metric} is not exported");
    }
    let absent = rules
        .iter()
        .find(|r| text(r, "expr").replace(' ', "").contains("absent(kto_build_info"))
        .expect("no alert on absent(kto_build_info): when the operator is gone every other alert resolves");
    assert!(
        !text(absent, "for").is_empty(),
        "the absence alert needs a `for:` (a rollout replaces Pods)"
    );
    assert_eq!(absent["labels"]["severity"].as_str(), Some("critical"));
    let leader = rules
        .iter()
        .find(|r| text(r, "expr").contains("kto_leader"))
        .expect("no alert on kto_leader");
    assert!(text(leader, "expr").contains("!= 1"), "{leader:?}");
    assert!(!text(leader, "for").is_empty());
}

/// Labels of one exposition line: `name{a="x",b="y"} 1` -> [a, b].
fn label_names(line: &str) -> Vec<&str> {
    let Some((_, rest)) = line.split_once('{') else {
        return Vec::new();
    };
    let labels = rest.split_once('}').map_or("", |(l, _)| l);
    labels
        .split(',')
        .filter_map(|kv| kv.split_once('=').map(|(k, _)| k))
        .collect()
}

/// A series that names a KafkaCluster (`cluster`) names its namespace too: `namespace` on the
/// KafkaCluster's own series, `cluster_namespace` on a KafkaTopic's (whose `namespace` is its
/// own); and the alerts keep them when they aggregate.
#[test]
fn every_series_naming_a_kafkacluster_names_its_namespace() {
    let exposition = exported_exposition();
    let mut naming = 0;
    for line in exposition.lines().filter(|l| !l.starts_with('#')) {
        let labels = label_names(line);
        if !labels.contains(&"cluster") {
            continue;
        }
        naming += 1;
        let topic_series = labels.contains(&"topic");
        assert!(
            if topic_series {
                labels.contains(&"cluster_namespace")
            } else {
                labels.contains(&"namespace")
            },
            "{line}: a KafkaCluster named without its namespace"
        );
    }
    assert!(naming >= 15, "only {naming} series name a KafkaCluster");
    for rule in chart_rules() {
        let expr = text(&rule, "expr");
        for clause in expr.split("by (").skip(1).chain(expr.split("on (").skip(1)) {
            let labels: Vec<&str> = clause
                .split(')')
                .next()
                .unwrap()
                .split(',')
                .map(str::trim)
                .collect();
            if labels.contains(&"cluster") {
                assert!(
                    labels.contains(&"namespace")
                        && (!labels.contains(&"topic") || labels.contains(&"cluster_namespace")),
                    "{}: `{clause}` groups KafkaClusters without their namespace",
                    text(&rule, "alert")
                );
            }
        }
    }
}

/// The ServiceMonitor keeps the series' `namespace` (the KafkaTopic's) instead of renaming it
/// `exported_namespace` under the operator's own.
#[test]
fn the_service_monitor_honors_the_series_labels() {
    let template = read("deploy/helm/kafka-topic-operator/templates/servicemonitor.yaml");
    assert!(
        template.lines().any(|l| l.trim() == "honorLabels: true"),
        "{template}"
    );
}
