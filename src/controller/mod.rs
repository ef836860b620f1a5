//! The controllers: watch KafkaTopics and KafkaClusters, reconcile each against the cluster's
//! snapshot, and report in their status.

pub mod backoff;
pub mod bulk_apply;
pub mod cluster;
pub mod context;
pub mod credential_cache;
pub mod credentials;
pub mod deletion_guard;
pub mod error;
pub mod index;
pub mod ownership;
pub mod prune;
pub mod report;
pub mod tenancy;
pub mod topic;
mod triggers;
pub mod unmanaged;
pub mod written;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::api::{KafkaCluster, KafkaTopic};
use crate::cluster::{Change, Changed, ClusterKey, Observers};
use crate::http;
use crate::kafka::instrumented::InstrumentedAdmin;
use crate::kafka::security::Security;
use crate::kafka::{KafkaAdmin, KafkaProtocolAdmin};
use crate::metrics::Metrics;
use crate::util::throttle::throttled;
pub use context::{ApiClients, Context, DEFAULT_MAX_CONCURRENT_RECONCILES, Settings};
use index::TopicIndex;
use std::sync::atomic::{AtomicBool, Ordering};
use triggers::{echoed, lean_watch, notify_if_gone};

/// Server-side apply field manager for everything the operator writes.
pub use error::{Error, FIELD_MANAGER};

/// What the controllers share with whoever runs them: the per-cluster observers (and their
/// Kafka clients) and the metrics.
#[derive(Clone)]
pub struct Runtime {
    pub observers: Arc<Observers>,
    pub metrics: Arc<Metrics>,
    /// What /readyz answers: the controllers' caches are synced (or this replica stands by).
    pub ready: Arc<AtomicBool>,
    /// What /healthz answers: false once the controllers ended unasked (the process must be
    /// restarted).
    pub healthy: Arc<AtomicBool>,
}

impl Runtime {
    /// Observers whose Kafka clients speak the Kafka protocol and report to `metrics`.
    pub fn new(settings: &Settings) -> Runtime {
        let metrics = Arc::new(Metrics::new());
        let m = metrics.clone();
        let fence = settings.write_fence.clone();
        let connect = move |key: &ClusterKey,
                            bootstrap: &[String],
                            security: &Security,
                            timeout: Duration|
              -> Arc<dyn KafkaAdmin> {
            let admin = Arc::new(
                KafkaProtocolAdmin::with_security(bootstrap.to_vec(), security.clone(), timeout)
                    .with_fence(fence.clone()),
            );
            Arc::new(InstrumentedAdmin::new(
                admin,
                m.clone(),
                crate::metrics::ClusterLabels {
                    namespace: key.0.clone(),
                    cluster: key.1.clone(),
                },
            ))
        };
        let observers = Arc::new(Observers::new(
            settings.resync,
            settings.kafka_timeout,
            connect,
            metrics.observer_restarts.clone(),
        ));
        Runtime {
            observers,
            metrics,
            ready: Arc::new(AtomicBool::new(false)),
            healthy: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Serves /metrics, /healthz and /readyz until `shutdown`.
    pub fn serve_http(&self, addr: std::net::SocketAddr, shutdown: CancellationToken) {
        let endpoints = http::Endpoints {
            metrics: self.metrics.clone(),
            ready: self.ready.clone(),
            healthy: self.healthy.clone(),
        };
        tokio::spawn(async move {
            if let Err(e) = http::serve(addr, endpoints, shutdown).await {
                error!(error = %e, %addr, "HTTP endpoints failed");
            }
        });
    }
}

/// Runs both controllers (and the HTTP endpoints, when `settings.http_addr` is set) until
/// `shutdown` is cancelled.
pub async fn run_with(
    clients: impl Into<ApiClients>,
    settings: Settings,
    runtime: Runtime,
    shutdown: CancellationToken,
) {
    if let Some(addr) = settings.http_addr {
        runtime.serve_http(addr, shutdown.clone());
    }
    let Runtime {
        observers,
        metrics,
        ready,
        ..
    } = runtime;
    ready.store(false, Ordering::Relaxed);
    let ApiClients {
        watch: client,
        call,
    } = clients.into();
    let (topics_api, clusters_api): (Api<KafkaTopic>, Api<KafkaCluster>) = match &settings.namespace
    {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    let (topics_reader, topics_writer) = kube::runtime::reflector::store();
    let (clusters_reader, clusters_writer) = kube::runtime::reflector::store();
    let watch = match &settings.selector {
        Some(selector) => watcher::Config::default().labels(selector),
        None => watcher::Config::default(),
    };
    let index = Arc::new(TopicIndex::default());
    let (indexing, counting) = (index.clone(), observers.clone());
    let written = Arc::new(written::WrittenStatuses::default());
    let (topic_echoes, cluster_echoes) = (written.clone(), written.clone());
    let bulk_apply = Arc::new(bulk_apply::BulkApply::new(settings.bulk_apply));
    let arrivals = bulk_apply.clone();
    // Deletions (and re-lists, which may drop objects) wake the sweep of what the operator
    // keeps per object (prune.rs).
    let gone = Arc::new(tokio::sync::Notify::new());
    let (topic_gone, cluster_gone) = (gone.clone(), gone.clone());
    let topic_controller = Controller::for_stream(
        lean_watch(topics_api, watch.clone(), topics_writer, move |event| {
            // A KafkaCluster's status counts the topics declared for it.
            for cluster in indexing.observe(event) {
                counting.cluster_changed(&cluster);
            }
            echoed(event, &topic_echoes.topics);
            if let watcher::Event::Apply(topic) = event
                && bulk_apply::is_new(topic)
            {
                arrivals.arrived(tokio::time::Instant::now());
            }
            if let watcher::Event::Delete(topic) = event
                && let Some(uid) = &topic.metadata.uid
            {
                crate::util::sync::lock(&topic_echoes.degraded_announced).remove(uid);
            }
            notify_if_gone(event, &topic_gone);
        }),
        topics_reader,
    )
    .with_config(
        ControllerConfig::default()
            .debounce(Duration::from_millis(200))
            .concurrency(settings.max_concurrent_reconciles),
    );
    // Not debounced: a debounce waits for a pause, and a long bulk apply of KafkaTopics (each
    // changing the cluster's declared topics) left none, so a new KafkaCluster's first reconcile,
    // which starts its observer, waited for the whole apply before any topic was created. The
    // Kafka-side triggers are throttled instead (`changed_clusters`).
    let cluster_controller = Controller::for_stream(
        lean_watch(clusters_api, watch, clusters_writer, move |event| {
            echoed(event, &cluster_echoes.clusters);
            notify_if_gone(event, &cluster_gone)
        }),
        clusters_reader,
    )
    .with_config(ControllerConfig::default().concurrency(settings.max_concurrent_reconciles));
    let mut context = Context::new(
        call,
        cluster_controller.store(),
        topic_controller.store(),
        index.clone(),
        observers.clone(),
        metrics,
        settings,
    );
    context.written = written;
    context.bulk_apply = bulk_apply.clone();
    let ctx = Arc::new(context);
    let (topic_store, cluster_store, ready_flag) =
        (ctx.topics.clone(), ctx.clusters.clone(), ready.clone());
    tokio::spawn(async move {
        // Store::wait_until_ready wakes only its last poller (the controller polls it too), so
        // poll again every half second instead of waiting for a wake-up that may not come.
        for store_ready in [
            Box::pin(async {
                while tokio::time::timeout(
                    Duration::from_millis(500),
                    topic_store.wait_until_ready(),
                )
                .await
                .is_err()
                {}
            }) as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
            Box::pin(async {
                while tokio::time::timeout(
                    Duration::from_millis(500),
                    cluster_store.wait_until_ready(),
                )
                .await
                .is_err()
                {}
            }),
        ] {
            store_ready.await;
        }
        info!("caches synced: ready");
        ready_flag.store(true, Ordering::Relaxed);
    });
    tokio::spawn(prune::keep_forgetting(
        ctx.clone(),
        gone,
        ctx.settings.resync,
        shutdown.clone(),
    ));
    info!(namespace = ?ctx.settings.namespace, resync_s = ctx.settings.resync.as_secs_f32(), "controllers starting");

    let stop_topics = shutdown.clone();
    let topics = topic_controller
        .reconcile_on(changed_topics(&observers, ctx.index.clone()))
        .reconcile_on(bulk_apply.releases())
        .graceful_shutdown_on(async move { stop_topics.cancelled().await })
        .run(
            |obj, ctx: Arc<Context>| {
                measured(
                    "topic",
                    object_key(&*obj),
                    ctx.clone(),
                    topic::reconcile(obj, ctx),
                )
            },
            error_policy,
            ctx.clone(),
        )
        .for_each(|result| log_failure("topic", result));
    let stop_clusters = shutdown.clone();
    let clusters = cluster_controller
        .reconcile_on(throttled(
            changed_clusters(&observers, ctx.clusters.clone()),
            CLUSTER_TRIGGER_PERIOD,
        ))
        .graceful_shutdown_on(async move { stop_clusters.cancelled().await })
        .run(
            |obj, ctx: Arc<Context>| {
                measured(
                    "cluster",
                    object_key(&*obj),
                    ctx.clone(),
                    cluster::reconcile(obj, ctx),
                )
            },
            error_policy,
            ctx.clone(),
        )
        .for_each(|result| log_failure("cluster", result));
    tokio::join!(topics, clusters);
    info!("controllers stopped");
}

/// The KafkaTopics to reconcile after each new look at a cluster: only those whose Kafka topic
/// changed (or all of the cluster's, when the cluster itself changed). An idle cluster of
/// thousands of topics costs no reconcile at all.
fn changed_topics(
    observers: &Observers,
    index: Arc<TopicIndex>,
) -> impl futures::Stream<Item = kube::runtime::reflector::ObjectRef<KafkaTopic>> + Send + 'static {
    use tokio::sync::broadcast::error::RecvError;
    let changes = futures::stream::unfold(observers.changes(), |mut rx| async move {
        match rx.recv().await {
            Ok(change) => Some((Some(change), rx)),
            // Fell behind: treat it as "everything changed" rather than miss something.
            Err(RecvError::Lagged(_)) => Some((None, rx)),
            Err(RecvError::Closed) => None,
        }
    });
    changes.flat_map(move |change| {
        let refs = match &change {
            Some(Change {
                cluster,
                changed: Changed::Topics(names),
            }) => names
                .iter()
                .flat_map(|name| index.declaring(cluster, name))
                .collect(),
            Some(Change { cluster, .. }) => index.of_cluster(cluster),
            None => index.all(),
        };
        futures::stream::iter(refs)
    })
}

/// A KafkaCluster is reconciled at most once this often for what its observer and its declared
/// topics show (a mass creation changes its declared topics a thousand times); its own changes
/// are reconciled at once.
const CLUSTER_TRIGGER_PERIOD: Duration = Duration::from_secs(1);

/// The KafkaClusters to reconcile: those whose observation changed in a way their status shows,
/// or whose declared topics changed; every one when the receiver fell behind. An idle cluster
/// costs no reconcile.
fn changed_clusters(
    observers: &Observers,
    clusters: kube::runtime::reflector::Store<KafkaCluster>,
) -> impl futures::Stream<Item = kube::runtime::reflector::ObjectRef<KafkaCluster>> + Send + 'static
{
    use kube::runtime::reflector::ObjectRef;
    use tokio::sync::broadcast::error::RecvError;
    futures::stream::unfold(observers.cluster_updates(), |mut rx| async move {
        match rx.recv().await {
            Ok(key) => Some((Some(key), rx)),
            Err(RecvError::Lagged(_)) => Some((None, rx)),
            Err(RecvError::Closed) => None,
        }
    })
    .flat_map(move |key| {
        let refs: Vec<ObjectRef<KafkaCluster>> = match key {
            Some((namespace, name)) => vec![ObjectRef::new(&name).within(&namespace)],
            None => clusters
                .state()
                .iter()
                .map(|c| ObjectRef::from_obj(c.as_ref()))
                .collect(),
        };
        futures::stream::iter(refs)
    })
}

/// Runs one reconcile and records its result and duration in the metrics. A panic (a bug) is
/// turned into an error for this object, retried with backoff, instead of stopping the
/// controller for every object.
async fn measured(
    controller: &'static str,
    key: String,
    ctx: Arc<Context>,
    reconcile: impl std::future::Future<Output = Result<Action, Error>>,
) -> Result<Action, Error> {
    use futures::FutureExt;
    let started = std::time::Instant::now();
    let result = match std::panic::AssertUnwindSafe(reconcile).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            let message = crate::util::supervise::panic_message(panic.as_ref());
            error!(controller, %message, "reconcile panicked");
            Err(Error::Panicked(message))
        }
    };
    ctx.metrics
        .reconciled(controller, result.is_ok(), started.elapsed().as_secs_f64());
    if result.is_ok() {
        ctx.backoff.succeeded(&key);
    }
    result
}

/// `Kind/namespace/name`: the key of an object's failure count.
fn object_key<K: Resource<DynamicType = ()>>(obj: &K) -> String {
    format!(
        "{}/{}/{}",
        K::kind(&()),
        obj.namespace().unwrap_or_default(),
        obj.name_any()
    )
}

/// Logs what the controller's output stream reports: failed reconciles, and failures of the
/// watch that feeds it (which are not reconcile failures, and used to be logged as such).
async fn log_failure<T, E: std::fmt::Display>(
    controller: &'static str,
    result: Result<T, kube::runtime::controller::Error<E, watcher::Error>>,
) {
    use kube::runtime::controller::Error as ControllerError;
    match result {
        Ok(_) => {}
        // The apiserver no longer has the history the watch would resume from (its watch cache
        // moved on, or it restarted): the watcher lists everything again, the cache and the
        // index (index.rs) are replaced by the list, and every listed object is reconciled, so
        // changes made meanwhile, deletions included, are not missed.
        Err(ControllerError::QueueError(watcher::Error::WatchError(status)))
            if status.code == 410 =>
        {
            warn!(controller, error = %status, "watch expired (410 Gone, resource version too old): re-listing and reconciling every object");
        }
        Err(ControllerError::QueueError(e)) => {
            warn!(controller, error = %e, "watch failed; retrying with backoff");
        }
        Err(e) => warn!(error = %e, controller, "reconcile failed"),
    }
}

/// A failed reconcile is retried after an exponential, capped delay (src/controller/backoff.rs).
fn error_policy<K: Resource<DynamicType = ()>>(
    obj: Arc<K>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    let wait = ctx.backoff.failed(&object_key(&*obj));
    warn!(name = %obj.name_any(), %error, retry_in_s = wait.as_secs(), "reconcile error; retrying");
    Action::requeue(wait)
}
