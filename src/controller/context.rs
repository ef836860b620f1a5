//! What every reconcile shares: the Kubernetes client, the caches of KafkaClusters and
//! KafkaTopics, the per-cluster observers, the event recorder and the settings.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};

use super::index::TopicIndex;
use kube::{Client, Resource};
use tokio::sync::Semaphore;
use tracing::warn;

use crate::api::{KafkaCluster, KafkaTopic};
use crate::cluster::{ClusterKey, Observers};
use crate::kafka::fence::WriteFence;
use crate::metrics::Metrics;

#[derive(Clone, Debug)]
pub struct Settings {
    /// Only this namespace, or all namespaces.
    pub namespace: Option<String>,
    /// Only KafkaTopics and KafkaClusters with these labels (a label selector), e.g. to run
    /// several operators side by side on one apiserver.
    pub selector: Option<String>,
    /// How often each cluster's snapshot is refreshed (and drift reverted).
    pub resync: Duration,
    /// Timeout of each step of a Kafka request; a whole request takes at most
    /// `kafka::admin::operation_limit` of it (twice this for a read).
    pub kafka_timeout: Duration,
    /// Where to serve /metrics, /healthz and /readyz (None: not served).
    pub http_addr: Option<std::net::SocketAddr>,
    /// Handed to every Kafka client the operator builds: writes go out only while it is open
    /// (with leader election, while the lease is surely this replica's).
    pub write_fence: WriteFence,
    /// Namespaces whose KafkaClusters govern the Kafkas they reach: their tenancy rules apply
    /// to every KafkaTopic on that Kafka, whichever KafkaCluster it names (docs/deployment.md).
    pub platform_namespaces: Vec<String>,
    /// Reconciles running at once, per controller (see [`DEFAULT_MAX_CONCURRENT_RECONCILES`]).
    pub max_concurrent_reconciles: u16,
    /// When a user's bulk apply holds the operator's status writes and events.
    pub bulk_apply: super::bulk_apply::Limits,
}

/// 256: a mass creation is sent to Kafka in batches of whatever creations are waiting at that
/// moment (src/cluster/create.rs), and each reconcile holds its place until its topic is read
/// back (5-8 s measured under load). 256 in flight fill more than two CreateTopics requests of
/// 100 per batch and, at the apiserver's measured pace of 41-47 new objects a second, hold about
/// five seconds of arrivals; fewer would cut batches short and serialise a GitOps sync. The
/// bound keeps a re-list of tens of thousands of KafkaTopics from starting them all at once.
pub const DEFAULT_MAX_CONCURRENT_RECONCILES: u16 = 256;

/// The apiserver clients of the controllers: one for watches, which stay open and silent for
/// minutes, and one with timeouts for every other call (src/apiserver.rs says which).
#[derive(Clone)]
pub struct ApiClients {
    pub watch: Client,
    pub call: Client,
}

impl From<Client> for ApiClients {
    /// One client for both (tests).
    fn from(client: Client) -> Self {
        ApiClients {
            watch: client.clone(),
            call: client,
        }
    }
}

#[cfg(test)]
impl Settings {
    /// Every namespace, resync 30 s, Kafka timeout 5 s, no HTTP, writes unfenced.
    pub fn for_tests() -> Self {
        Settings {
            namespace: None,
            selector: None,
            resync: Duration::from_secs(30),
            kafka_timeout: Duration::from_secs(5),
            http_addr: None,
            write_fence: WriteFence::always_open(),
            platform_namespaces: vec![],
            max_concurrent_reconciles: DEFAULT_MAX_CONCURRENT_RECONCILES,
            bulk_apply: Default::default(),
        }
    }
}

pub struct Context {
    /// For calls (patches, reads, events): the client with timeouts, never a watch's.
    pub client: Client,
    pub clusters: Store<KafkaCluster>,
    pub topics: Store<KafkaTopic>,
    /// The KafkaTopics by cluster and Kafka topic name (kept by the watch).
    pub index: Arc<TopicIndex>,
    pub observers: Arc<Observers>,
    pub metrics: Arc<Metrics>,
    pub recorder: Recorder,
    /// Events being posted (see [`Context::event`]).
    events_in_flight: Arc<Semaphore>,
    /// Status and metadata writes under way (see [`Context::write_turn`]).
    writes_in_flight: Arc<Semaphore>,
    pub settings: Settings,
    /// Retry delays of failing reconciles.
    pub backoff: super::backoff::Backoff,
    /// Credentials resolved from each KafkaCluster's Secrets.
    pub credentials: super::credential_cache::CredentialCache,
    /// The unmanaged topics of each Kafka, worked out once per snapshot.
    pub unmanaged: super::unmanaged::UnmanagedCache,
    /// Statuses written that the cache may not show yet (written.rs).
    pub written: Arc<super::written::WrittenStatuses>,
    /// Holds status writes and events while a user's bulk apply arrives (bulk_apply.rs).
    pub bulk_apply: Arc<super::bulk_apply::BulkApply>,
    /// Deletions done and held per KafkaCluster (deletion_guard.rs).
    pub deletion_guard: super::deletion_guard::DeletionGuard,
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
            credentials: Default::default(),
            unmanaged: Default::default(),
            written: Default::default(),
            bulk_apply: Default::default(),
            deletion_guard: Default::default(),
            recorder: Recorder::new(client.clone(), reporter),
            events_in_flight: Arc::new(Semaphore::new(EVENTS_IN_FLIGHT)),
            writes_in_flight: Arc::new(Semaphore::new(WRITES_IN_FLIGHT)),
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

    /// The KafkaClusters in platform namespaces that reach the same Kafka as `key` (by cluster
    /// id: as observed now, else as their status last recorded it), unless `key` is one of them.
    pub fn governing(&self, key: &ClusterKey) -> Vec<Arc<KafkaCluster>> {
        let platform = &self.settings.platform_namespaces;
        if platform.is_empty() || platform.contains(&key.0) {
            return vec![];
        }
        let Some(id) = self.observers.cluster_id(key) else {
            return vec![];
        };
        self.clusters
            .state()
            .into_iter()
            .filter(|c| {
                let namespace = c.metadata.namespace.clone().unwrap_or_default();
                let other = (
                    namespace.clone(),
                    c.metadata.name.clone().unwrap_or_default(),
                );
                platform.contains(&namespace)
                    && self
                        .observers
                        .cluster_id(&other)
                        .or_else(|| c.status.as_ref().and_then(|s| s.cluster_id.clone()))
                        .as_deref()
                        == Some(id.as_str())
            })
            .collect()
    }

    /// How many partitions may move at once on the Kafka `key` reaches: the smallest
    /// maxConcurrentMoves among the KafkaClusters that reach it (the most careful wins; two
    /// KafkaClusters for one Kafka never add up their budgets).
    pub fn max_concurrent_moves(&self, key: &ClusterKey) -> usize {
        self.observers
            .same_kafka(key)
            .iter()
            .filter_map(|k| self.cluster(k))
            .map(|c| c.spec.reassignment.max_concurrent_moves.max(1) as usize)
            .min()
            .unwrap_or(1)
    }

    /// A turn to write a status or metadata to the apiserver; hold it for the write.
    ///
    /// Hundreds of reconciles finish together in a mass creation. Sent at once, their status
    /// writes filled the apiserver's mutating requests in flight (their answers took 3.3 s on
    /// average at 3000 topics) and a user's `kubectl apply` queued behind them. On an apiserver
    /// short of CPU each request in flight gets its share: [`WRITES_IN_FLIGHT`] at a time, and
    /// [`EVENTS_IN_FLIGHT`] events, leave most of it to a user's apply, which sends one request
    /// at a time.
    pub async fn write_turn(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.writes_in_flight
            .acquire()
            .await
            .expect("the semaphore is never closed")
    }

    /// Publishes an event in the background; failing to is logged, never fatal.
    ///
    /// A reconcile never waits for its events: the status is what people and tools read, and
    /// under a mass creation the apiserver answered writes tens of seconds late, so a status
    /// written after its event reached the apiserver that much later. At most
    /// [`EVENTS_IN_FLIGHT`] events are posted at once; the rest wait here, behind the status
    /// writes instead of ahead of them, and none while a user's bulk apply arrives
    /// (bulk_apply.rs). An event still waiting when the operator exits is lost.
    pub fn event<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        self.post_event(obj.object_ref(&()), None, type_, reason, action, note);
    }

    /// An event about a KafkaTopic that, if its namespace is being deleted (the apiserver
    /// creates nothing there then, events included), is posted about its KafkaCluster instead,
    /// the note naming the KafkaTopic: a namespace deletion is when deletion events matter most.
    pub fn topic_event(
        &self,
        topic: &KafkaTopic,
        cluster: &KafkaCluster,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let named = format!(
            "KafkaTopic {}/{}: {note}",
            topic.metadata.namespace.as_deref().unwrap_or_default(),
            topic.metadata.name.as_deref().unwrap_or_default()
        );
        let fallback = (cluster.object_ref(&()), named);
        self.post_event(
            topic.object_ref(&()),
            Some(fallback),
            type_,
            reason,
            action,
            note,
        );
    }

    fn post_event(
        &self,
        reference: ObjectReference,
        fallback: Option<(ObjectReference, String)>,
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
        let recorder = self.recorder.clone();
        let in_flight = self.events_in_flight.clone();
        let bulk_apply = self.bulk_apply.clone();
        tokio::spawn(async move {
            bulk_apply.wait_out().await;
            let Ok(_permit) = in_flight.acquire_owned().await else {
                return;
            };
            let error = match recorder.publish(&event, &reference).await {
                Ok(()) => return,
                Err(error) => error,
            };
            match fallback {
                Some((elsewhere, note)) if namespace_terminating(&error) => {
                    let event = Event {
                        note: Some(truncate(note, 1000)),
                        ..event
                    };
                    if let Err(error) = recorder.publish(&event, &elsewhere).await {
                        warn!(%error, reason = %event.reason, "could not publish event");
                    }
                }
                _ => warn!(%error, reason = %event.reason, "could not publish event"),
            }
        });
    }
}

/// The apiserver refused to create an object because its namespace is being deleted.
fn namespace_terminating(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(response)
        if response.code == 403 && response.message.contains("because it is being terminated"))
}

/// Events posted to the apiserver at once, at most (see [`Context::event`]).
const EVENTS_IN_FLIGHT: usize = 2;

/// Status and metadata writes sent to the apiserver at once, at most (see
/// [`Context::write_turn`]).
const WRITES_IN_FLIGHT: usize = 4;

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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use kube::client::Body;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family;

    use super::*;
    use crate::api::{ClusterRef, KafkaTopicSpec};

    /// An apiserver that takes every request and never answers, counting what reached it.
    fn stuck_apiserver() -> (Client, Arc<AtomicUsize>) {
        let reached = Arc::new(AtomicUsize::new(0));
        let counter = reached.clone();
        let service = tower::service_fn(move |_: http::Request<Body>| {
            counter.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<Result<http::Response<Body>, std::convert::Infallible>>()
        });
        (Client::new(service, "default"), reached)
    }

    #[tokio::test]
    async fn a_reconcile_never_waits_for_its_events_and_only_a_few_are_posted_at_once() {
        let (client, reached) = stuck_apiserver();
        let observers = Observers::new(
            Duration::from_secs(30),
            Duration::from_secs(5),
            |_: &ClusterKey,
             _: &[String],
             _: &crate::kafka::security::Security,
             _: Duration|
             -> Arc<dyn crate::kafka::KafkaAdmin> {
                unreachable!("no cluster is observed")
            },
            Family::<crate::metrics::ClusterLabels, Counter>::default(),
        );
        let ctx = Context::new(
            client,
            kube::runtime::reflector::store().0,
            kube::runtime::reflector::store().0,
            Arc::default(),
            Arc::new(observers),
            Arc::new(Metrics::new()),
            Settings::for_tests(),
        );
        let mut topic = KafkaTopic::new(
            "orders",
            KafkaTopicSpec {
                cluster_ref: ClusterRef {
                    name: "kafka".into(),
                    namespace: None,
                },
                topic_name: None,
                partitions: None,
                replication_factor: None,
                min_in_sync_replicas: None,
                config: Default::default(),
                deletion_policy: None,
            },
        );
        topic.metadata.namespace = Some("team".into());
        // 50 events to an apiserver that never answers: each call returns at once.
        for i in 0..50 {
            let started = std::time::Instant::now();
            ctx.event(
                &topic,
                EventType::Normal,
                "TopicCreated",
                "Apply",
                format!("event {i}"),
            );
            assert!(started.elapsed() < Duration::from_millis(100));
        }
        // ... and only EVENTS_IN_FLIGHT of them reach the apiserver; the rest wait their turn.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while reached.load(Ordering::SeqCst) < EVENTS_IN_FLIGHT {
            assert!(std::time::Instant::now() < deadline, "events never posted");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(reached.load(Ordering::SeqCst), EVENTS_IN_FLIGHT);
    }
}
