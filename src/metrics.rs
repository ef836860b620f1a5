//! Prometheus metrics (prometheus-client). docs/monitoring.md lists each one with alert rules.
//!
//! Every series about a KafkaCluster names it by `namespace` and `cluster` (a KafkaTopic's series
//! by `cluster_namespace` and `cluster`, `namespace` being the KafkaTopic's own): two
//! KafkaClusters of one name in two namespaces are never summed together.

use crate::util::sync::lock;
use std::collections::HashSet;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabels {
    pub namespace: String,
    pub name: String,
    pub topic: String,
    /// The KafkaCluster's namespace (a KafkaTopic may reference one in another namespace).
    pub cluster_namespace: String,
    pub cluster: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterLabels {
    pub namespace: String,
    pub cluster: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReconcileLabels {
    pub controller: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    pub controller: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AdminLabels {
    pub namespace: String,
    pub cluster: String,
    pub operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AdminResultLabels {
    pub namespace: String,
    pub cluster: String,
    pub operation: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
}

impl BuildLabels {
    /// This binary's.
    pub fn current() -> Self {
        BuildLabels {
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 1ms .. ~16s
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// One KafkaCluster's gauges, as its status shows them.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClusterGauges {
    pub ready: bool,
    pub brokers: i64,
    pub managed_topics: i64,
    pub unmanaged_topics: i64,
    pub auto_create_brokers: i64,
    pub unreadable_brokers: i64,
    pub deletions_held: i64,
    pub deletions_in_use_held: i64,
}

/// One KafkaTopic's gauges, as its status shows them.
#[derive(Clone, Copy, Debug, Default)]
pub struct TopicGauges {
    pub under_replicated: i64,
    pub offline: i64,
    pub under_min_isr: i64,
    pub ready: bool,
    pub drifted: bool,
    pub reassigning: bool,
}

pub struct Metrics {
    registry: Registry,
    pub topic_under_replicated: Family<TopicLabels, Gauge>,
    pub topic_offline: Family<TopicLabels, Gauge>,
    pub topic_under_min_isr: Family<TopicLabels, Gauge>,
    pub topic_ready: Family<TopicLabels, Gauge>,
    pub topic_drifted: Family<TopicLabels, Gauge>,
    pub topic_reassigning: Family<TopicLabels, Gauge>,
    pub reconciles: Family<ReconcileLabels, Counter>,
    pub observer_restarts: Family<ClusterLabels, Counter>,
    pub reconcile_duration: HistogramFamily<ControllerLabels>,
    pub kafka_requests: Family<AdminResultLabels, Counter>,
    pub kafka_request_duration: HistogramFamily<AdminLabels>,
    pub cluster_ready: Family<ClusterLabels, Gauge>,
    pub cluster_brokers: Family<ClusterLabels, Gauge>,
    pub cluster_managed_topics: Family<ClusterLabels, Gauge>,
    pub cluster_unmanaged_topics: Family<ClusterLabels, Gauge>,
    pub cluster_auto_create_brokers: Family<ClusterLabels, Gauge>,
    pub cluster_unreadable_brokers: Family<ClusterLabels, Gauge>,
    pub cluster_deletions_held: Family<ClusterLabels, Gauge>,
    pub cluster_deletions_in_use_held: Family<ClusterLabels, Gauge>,
    /// 1, labelled with the version: present as long as the operator is scraped, so its
    /// absence is the alert that the operator is gone.
    pub build_info: Family<BuildLabels, Gauge>,
    /// 1 while this replica runs the controllers (holds the Lease, or runs without leader
    /// election), 0 while it stands by.
    pub leader: Gauge,
    /// Status writes held while a bulk apply of KafkaTopics arrived (controller/bulk_apply.rs).
    pub status_writes_held: Counter,
    /// Topic series written so far, so those of deleted KafkaTopics can be dropped.
    topics_seen: Mutex<HashSet<TopicLabels>>,
    /// The same for KafkaClusters: their gauges, and their Kafka request series by operation.
    clusters_seen: Mutex<HashSet<ClusterLabels>>,
    admin_seen: Mutex<HashSet<AdminLabels>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("kto");
        let m = Metrics {
            topic_under_replicated: Family::default(),
            topic_offline: Family::default(),
            topic_under_min_isr: Family::default(),
            topic_ready: Family::default(),
            topic_drifted: Family::default(),
            topic_reassigning: Family::default(),
            reconciles: Family::default(),
            observer_restarts: Family::default(),
            reconcile_duration: Family::new_with_constructor(latency_histogram),
            kafka_requests: Family::default(),
            kafka_request_duration: Family::new_with_constructor(latency_histogram),
            cluster_ready: Family::default(),
            cluster_brokers: Family::default(),
            cluster_managed_topics: Family::default(),
            cluster_unmanaged_topics: Family::default(),
            cluster_auto_create_brokers: Family::default(),
            cluster_unreadable_brokers: Family::default(),
            cluster_deletions_held: Family::default(),
            cluster_deletions_in_use_held: Family::default(),
            build_info: Family::default(),
            leader: Gauge::default(),
            status_writes_held: Counter::default(),
            topics_seen: Mutex::new(HashSet::new()),
            clusters_seen: Mutex::new(HashSet::new()),
            admin_seen: Mutex::new(HashSet::new()),
            registry: Registry::default(),
        };
        registry.register(
            "topic_under_replicated_partitions",
            "Partitions with fewer in-sync replicas than replicas",
            m.topic_under_replicated.clone(),
        );
        registry.register(
            "topic_offline_partitions",
            "Partitions without a leader",
            m.topic_offline.clone(),
        );
        registry.register(
            "topic_under_min_isr_partitions",
            "Partitions whose ISR is below min.insync.replicas (acks=all writes fail)",
            m.topic_under_min_isr.clone(),
        );
        registry.register(
            "topic_ready",
            "1 when the KafkaTopic is Ready",
            m.topic_ready.clone(),
        );
        registry.register(
            "topic_drifted",
            "1 when Kafka differs from the declaration and the difference stands",
            m.topic_drifted.clone(),
        );
        registry.register(
            "topic_reassigning",
            "1 while the operator moves the topic's replicas to its declared replication factor",
            m.topic_reassigning.clone(),
        );
        registry.register(
            "reconcile",
            "Reconciles by controller and result (ok, error)",
            m.reconciles.clone(),
        );
        registry.register(
            "observer_restarts",
            "Cluster observers started again after a panic (a bug: see the operator's log)",
            m.observer_restarts.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time of one reconcile",
            m.reconcile_duration.clone(),
        );
        registry.register(
            "kafka_requests",
            "Kafka admin operations by cluster, operation and result (ok, error)",
            m.kafka_requests.clone(),
        );
        registry.register(
            "kafka_request_duration_seconds",
            "Time of one Kafka admin operation",
            m.kafka_request_duration.clone(),
        );
        registry.register(
            "cluster_ready",
            "1 when the operator reaches the KafkaCluster",
            m.cluster_ready.clone(),
        );
        registry.register(
            "cluster_brokers",
            "Brokers in the cluster's metadata",
            m.cluster_brokers.clone(),
        );
        registry.register(
            "cluster_managed_topics",
            "Topics declared by KafkaTopics",
            m.cluster_managed_topics.clone(),
        );
        registry.register(
            "cluster_unmanaged_topics",
            "Topics in Kafka that no KafkaTopic declares (internal topics excepted)",
            m.cluster_unmanaged_topics.clone(),
        );
        registry.register(
            "cluster_auto_create_brokers",
            "Brokers with auto.create.topics.enable=true",
            m.cluster_auto_create_brokers.clone(),
        );
        registry.register(
            "cluster_unreadable_brokers",
            "Brokers whose own configs the last look could not read (unreachable, slow, not authorized)",
            m.cluster_unreadable_brokers.clone(),
        );
        registry.register(
            "cluster_deletions_held",
            "KafkaTopic deletions held for a bulk deletion to be confirmed (policy.bulkDeletion)",
            m.cluster_deletions_held.clone(),
        );
        registry.register(
            "cluster_deletions_in_use_held",
            "KafkaTopic deletions held because the topic is in use, until its KafkaTopic confirms (policy.inUseDeletion)",
            m.cluster_deletions_in_use_held.clone(),
        );
        m.build_info.get_or_create(&BuildLabels::current()).set(1);
        registry.register(
            "build_info",
            "1, labelled with the operator's version",
            m.build_info.clone(),
        );
        registry.register(
            "leader",
            "1 on the replica that runs the controllers (holds the leader Lease), 0 on standbys",
            m.leader.clone(),
        );
        registry.register(
            "status_writes_held",
            "KafkaTopic status writes held while a bulk apply of KafkaTopics arrived, written once it ended",
            m.status_writes_held.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    pub fn set_topic(&self, labels: TopicLabels, g: TopicGauges) {
        self.topic_under_replicated
            .get_or_create(&labels)
            .set(g.under_replicated);
        self.topic_offline.get_or_create(&labels).set(g.offline);
        self.topic_under_min_isr
            .get_or_create(&labels)
            .set(g.under_min_isr);
        self.topic_ready.get_or_create(&labels).set(g.ready as i64);
        self.topic_drifted
            .get_or_create(&labels)
            .set(g.drifted as i64);
        self.topic_reassigning
            .get_or_create(&labels)
            .set(g.reassigning as i64);
        lock(&self.topics_seen).insert(labels);
    }

    /// Drops the series of KafkaTopics for which `exists` is false.
    pub fn retain_topics(&self, exists: impl Fn(&TopicLabels) -> bool) {
        let mut seen = lock(&self.topics_seen);
        seen.retain(|labels| {
            if exists(labels) {
                return true;
            }
            for family in [
                &self.topic_under_replicated,
                &self.topic_offline,
                &self.topic_under_min_isr,
                &self.topic_ready,
                &self.topic_drifted,
                &self.topic_reassigning,
            ] {
                family.remove(labels);
            }
            false
        });
    }

    pub fn set_cluster(&self, labels: ClusterLabels, g: ClusterGauges) {
        self.cluster_ready
            .get_or_create(&labels)
            .set(g.ready as i64);
        self.cluster_brokers.get_or_create(&labels).set(g.brokers);
        self.cluster_managed_topics
            .get_or_create(&labels)
            .set(g.managed_topics);
        self.cluster_unmanaged_topics
            .get_or_create(&labels)
            .set(g.unmanaged_topics);
        self.cluster_auto_create_brokers
            .get_or_create(&labels)
            .set(g.auto_create_brokers);
        self.cluster_unreadable_brokers
            .get_or_create(&labels)
            .set(g.unreadable_brokers);
        self.cluster_deletions_held
            .get_or_create(&labels)
            .set(g.deletions_held);
        self.cluster_deletions_in_use_held
            .get_or_create(&labels)
            .set(g.deletions_in_use_held);
        lock(&self.clusters_seen).insert(labels);
    }

    /// Counts and times one Kafka admin operation through the KafkaCluster `cluster`.
    pub fn kafka_request(&self, cluster: &ClusterLabels, operation: &str, ok: bool, seconds: f64) {
        let labels = AdminLabels {
            namespace: cluster.namespace.clone(),
            cluster: cluster.cluster.clone(),
            operation: operation.into(),
        };
        self.kafka_request_duration
            .get_or_create(&labels)
            .observe(seconds);
        self.kafka_requests
            .get_or_create(&AdminResultLabels {
                namespace: cluster.namespace.clone(),
                cluster: cluster.cluster.clone(),
                operation: operation.into(),
                result: if ok { "ok" } else { "error" }.into(),
            })
            .inc();
        lock(&self.admin_seen).insert(labels);
    }

    /// Drops every series of KafkaClusters for which `exists` is false: their gauges, observer
    /// restarts and Kafka requests.
    pub fn retain_clusters(&self, exists: impl Fn(&ClusterLabels) -> bool) {
        let mut gone = HashSet::new();
        lock(&self.clusters_seen).retain(|labels| {
            if exists(labels) {
                return true;
            }
            gone.insert(labels.clone());
            for family in [
                &self.cluster_ready,
                &self.cluster_brokers,
                &self.cluster_managed_topics,
                &self.cluster_unmanaged_topics,
                &self.cluster_auto_create_brokers,
                &self.cluster_unreadable_brokers,
                &self.cluster_deletions_held,
                &self.cluster_deletions_in_use_held,
            ] {
                family.remove(labels);
            }
            self.observer_restarts.remove(labels);
            false
        });
        lock(&self.admin_seen).retain(|labels| {
            let cluster = ClusterLabels {
                namespace: labels.namespace.clone(),
                cluster: labels.cluster.clone(),
            };
            if !gone.contains(&cluster) {
                return true;
            }
            self.kafka_request_duration.remove(labels);
            for result in ["ok", "error"] {
                self.kafka_requests.remove(&AdminResultLabels {
                    namespace: labels.namespace.clone(),
                    cluster: labels.cluster.clone(),
                    operation: labels.operation.clone(),
                    result: result.into(),
                });
            }
            false
        });
    }

    pub fn reconciled(&self, controller: &str, ok: bool, seconds: f64) {
        let result = if ok { "ok" } else { "error" };
        self.reconciles
            .get_or_create(&ReconcileLabels {
                controller: controller.into(),
                result: result.into(),
            })
            .inc();
        self.reconcile_duration
            .get_or_create(&ControllerLabels {
                controller: controller.into(),
            })
            .observe(seconds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_series_are_written_and_dropped() {
        let m = Metrics::new();
        let labels = TopicLabels {
            namespace: "ns".into(),
            name: "t".into(),
            topic: "t".into(),
            cluster_namespace: "kafka".into(),
            cluster: "c".into(),
        };
        m.set_topic(
            labels.clone(),
            TopicGauges {
                under_replicated: 2,
                offline: 1,
                under_min_isr: 1,
                ..TopicGauges::default()
            },
        );
        let text = m.encode();
        assert!(
            text.contains(
                r#"kto_topic_offline_partitions{namespace="ns",name="t",topic="t",cluster_namespace="kafka",cluster="c"} 1"#
            ),
            "{text}"
        );
        m.retain_topics(|_| false);
        assert!(!m.encode().contains(r#"name="t""#));
    }

    #[test]
    fn the_series_of_a_cluster_that_is_gone_are_dropped_and_the_others_kept() {
        let m = Metrics::new();
        for name in ["gone", "kept"] {
            let labels = ClusterLabels {
                namespace: "ns".into(),
                cluster: name.into(),
            };
            m.set_cluster(
                labels.clone(),
                ClusterGauges {
                    ready: true,
                    brokers: 3,
                    ..ClusterGauges::default()
                },
            );
            m.observer_restarts.get_or_create(&labels).inc();
            m.kafka_request(&labels, "snapshot", true, 0.1);
            m.kafka_request(&labels, "snapshot", false, 0.1);
        }
        let text = m.encode();
        assert!(
            text.contains(r#"kto_cluster_brokers{namespace="ns",cluster="gone"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(r#"namespace="ns",cluster="gone",operation="snapshot",result="error""#),
            "{text}"
        );

        m.retain_clusters(|l| l.cluster != "gone");
        let text = m.encode();
        assert!(!text.contains(r#"cluster="gone""#), "{text}");
        for kept in [
            r#"kto_cluster_brokers{namespace="ns",cluster="kept"} 3"#,
            r#"kto_observer_restarts_total{namespace="ns",cluster="kept"} 1"#,
            r#"kto_kafka_requests_total{namespace="ns",cluster="kept",operation="snapshot",result="ok"} 1"#,
            r#"kto_kafka_request_duration_seconds_count{namespace="ns",cluster="kept",operation="snapshot"} 2"#,
        ] {
            assert!(text.contains(kept), "{kept} missing from {text}");
        }
    }

    /// Two KafkaClusters of one name in two namespaces: their Kafka request series stay apart,
    /// and dropping one keeps the other's.
    #[test]
    fn kafka_requests_of_same_named_clusters_in_two_namespaces_stay_apart() {
        let m = Metrics::new();
        let (a, b) = (
            ClusterLabels {
                namespace: "team-a".into(),
                cluster: "kafka".into(),
            },
            ClusterLabels {
                namespace: "team-b".into(),
                cluster: "kafka".into(),
            },
        );
        m.kafka_request(&a, "snapshot", true, 0.1);
        m.kafka_request(&b, "snapshot", false, 0.1);
        m.set_cluster(a.clone(), ClusterGauges::default());
        m.set_cluster(b.clone(), ClusterGauges::default());
        let text = m.encode();
        for line in [
            r#"kto_kafka_requests_total{namespace="team-a",cluster="kafka",operation="snapshot",result="ok"} 1"#,
            r#"kto_kafka_requests_total{namespace="team-b",cluster="kafka",operation="snapshot",result="error"} 1"#,
        ] {
            assert!(text.contains(line), "{line} missing from {text}");
        }
        m.retain_clusters(|l| *l == b);
        let text = m.encode();
        assert!(!text.contains(r#"namespace="team-a""#), "{text}");
        assert!(
            text.contains(r#"kto_kafka_request_duration_seconds_count{namespace="team-b",cluster="kafka",operation="snapshot"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn build_info_is_one_with_the_version_and_leader_starts_at_zero() {
        let m = Metrics::new();
        let text = m.encode();
        let build = format!(
            r#"kto_build_info{{version="{}"}} 1"#,
            env!("CARGO_PKG_VERSION")
        );
        assert!(text.lines().any(|l| l == build), "no {build} in {text}");
        assert!(text.lines().any(|l| l == "kto_leader 0"), "{text}");
        m.leader.set(1);
        assert!(m.encode().lines().any(|l| l == "kto_leader 1"));
    }
}
