//! What every reconcile shares: the Kubernetes client, the caches of KafkaClusters and
//! KafkaTopics, the per-cluster observers, the event recorder and the settings.

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};

use super::index::TopicIndex;
use kube::{Client, Resource};
use tracing::warn;

use crate::api::{KafkaCluster, KafkaTopic};
use crate::metrics::Metrics;
use crate::observer::{ClusterKey, Observers};

#[derive(Clone, Debug)]
pub struct Settings {
    /// Only this namespace, or all namespaces.
    pub namespace: Option<String>,
    /// Only KafkaTopics and KafkaClusters with these labels (a label selector), e.g. to run
    /// several operators side by side on one apiserver.
    pub selector: Option<String>,
    /// How often each cluster's snapshot is refreshed (and drift reverted).
    pub resync: Duration,
    /// Timeout of one Kafka request.
    pub kafka_timeout: Duration,
    /// Where to serve /metrics, /healthz and /readyz (None: not served).
    pub http_addr: Option<std::net::SocketAddr>,
}

pub struct Context {
    pub client: Client,
    pub clusters: Store<KafkaCluster>,
    pub topics: Store<KafkaTopic>,
    /// The KafkaTopics by cluster and Kafka topic name (kept by the watch).
    pub index: Arc<TopicIndex>,
    pub observers: Arc<Observers>,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    pub settings: Settings,
    /// Retry delays of failing reconciles.
    pub backoff: super::backoff::Backoff,
}

impl Context {
    pub fn new(
        client: Client,
        clusters: Store<KafkaCluster>,
        topics: Store<KafkaTopic>,
        index: Arc<TopicIndex>,
        observers: Arc<Observers>,
        metrics: Arc<Metrics>,
        settings: Settings,
    ) -> Self {
        let reporter = Reporter {
            controller: "kafka-topic-operator".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Context {
            backoff: Default::default(),
            recorder: Recorder::new(client.clone(), reporter),
            client,
            clusters,
            topics,
            index,
            observers,
            metrics,
            settings,
        }
    }

    pub fn cluster(&self, key: &ClusterKey) -> Option<Arc<KafkaCluster>> {
        self.clusters.get(&ObjectRef::new(&key.1).within(&key.0))
    }

    /// Publishes an event; failing to is logged, never fatal.
    pub async fn event<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(truncate(note, 1000)),
            action: action.into(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &obj.object_ref(&())).await {
            warn!(%error, reason, "could not publish event");
        }
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}
