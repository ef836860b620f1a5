//! The controllers: watch KafkaTopics and KafkaClusters, reconcile each against the cluster's
//! snapshot, and report in their status.

pub mod cluster;
pub mod context;
pub mod ownership;
pub mod report;
pub mod topic;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::api::{KafkaCluster, KafkaTopic};
use crate::kafka::{KafkaAdmin, KafkaError, KafkaProtocolAdmin};
use crate::observer::Observers;
pub use context::{Context, Settings};

/// Server-side apply field manager for everything the operator writes.
pub const FIELD_MANAGER: &str = "kafka-topic-operator";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("Kafka: {0}")]
    Kafka(#[from] KafkaError),
}

/// Runs both controllers until `shutdown` is cancelled. Returns the shared observers (tests read
/// the Kafka request counts through them).
pub async fn run(client: Client, settings: Settings, shutdown: CancellationToken) {
    let connect = |bootstrap: &[String], timeout: Duration| -> Arc<dyn KafkaAdmin> {
        Arc::new(KafkaProtocolAdmin::new(bootstrap.to_vec(), timeout))
    };
    let observers = Arc::new(Observers::new(
        settings.resync,
        settings.kafka_timeout,
        connect,
    ));
    run_with(client, settings, observers, shutdown).await
}

pub async fn run_with(
    client: Client,
    settings: Settings,
    observers: Arc<Observers>,
    shutdown: CancellationToken,
) {
    let (topics_api, clusters_api): (Api<KafkaTopic>, Api<KafkaCluster>) = match &settings.namespace
    {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    let topic_controller = Controller::new(topics_api, watcher::Config::default())
        .with_config(ControllerConfig::default().debounce(Duration::from_millis(200)));
    let cluster_controller = Controller::new(clusters_api, watcher::Config::default());
    let ctx = Arc::new(Context::new(
        client,
        cluster_controller.store(),
        topic_controller.store(),
        observers.clone(),
        settings,
    ));
    info!(namespace = ?ctx.settings.namespace, resync_s = ctx.settings.resync.as_secs_f32(), "controllers starting");

    let ticks = |observers: &Observers| {
        futures::stream::unfold(observers.updates(), |mut rx| async move {
            rx.changed().await.ok().map(|_| ((), rx))
        })
    };
    let stop_topics = shutdown.clone();
    let topics = topic_controller
        .reconcile_all_on(ticks(&observers))
        .graceful_shutdown_on(async move { stop_topics.cancelled().await })
        .run(topic::reconcile, error_policy, ctx.clone())
        .for_each(|result| async move {
            if let Err(e) = result {
                warn!(error = %e, "topic reconcile failed");
            }
        });
    let stop_clusters = shutdown.clone();
    let clusters = cluster_controller
        .reconcile_all_on(ticks(&observers))
        .graceful_shutdown_on(async move { stop_clusters.cancelled().await })
        .run(cluster::reconcile, error_policy, ctx.clone())
        .for_each(|result| async move {
            if let Err(e) = result {
                warn!(error = %e, "cluster reconcile failed");
            }
        });
    tokio::join!(topics, clusters);
    info!("controllers stopped");
}

fn error_policy<K: ResourceExt>(obj: Arc<K>, error: &Error, _ctx: Arc<Context>) -> Action {
    warn!(name = %obj.name_any(), %error, "reconcile error; retrying");
    Action::requeue(Duration::from_secs(5))
}
