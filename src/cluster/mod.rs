//! The per-Kafka-cluster layer: for each cluster the operator works with, one observe loop
//! (observe.rs) filling one state (state.rs: snapshot, patches, cluster view, client, write
//! lock), and the batchers of creations (create.rs) and writes (write.rs) over that state; the
//! apply of one topic (apply.rs) and the broker throttles (throttles.rs) use it too. The
//! registry here starts, restarts and stops them. Controllers sit above this layer; nothing here
//! knows about Kubernetes objects.

pub mod apply;
pub mod create;
pub mod diff;
pub mod key;
pub mod observe;
pub mod state;
pub mod throttles;
pub mod write;

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::kafka::KafkaAdmin;
use crate::kafka::security::Security;
use crate::metrics::ClusterLabels;
use crate::util::supervise::panic_message;
use crate::util::sync::lock;
use create::Creator;
pub use diff::{Change, Changed};
pub use key::ClusterKey;
use observe::{CONCURRENT_SNAPSHOTS, ObserveLoop, RESTART_PAUSE};
pub use state::{ClusterState, Observation, TopicView};
use write::Writer;

/// One cluster as the controllers hold it: its state, and the handles of its batchers. Dropping
/// the last handle stops the observe loop and the batchers.
pub struct ClusterHandle {
    pub state: Arc<ClusterState>,
    /// What the loop was started for (bootstrap servers, credentials); a change means a new one.
    pub connection_key: String,
    refresh_now: Arc<Notify>,
    cancel: CancellationToken,
    /// Batches the topic creations of this cluster.
    pub creator: Creator,
    /// Batches the cluster's config changes and partition growth.
    pub writer: Writer,
}

impl ClusterHandle {
    /// Asks for a new snapshot now instead of at the next interval.
    pub fn refresh_now(&self) {
        self.refresh_now.notify_one();
    }
}

impl Drop for ClusterHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Opens a Kafka client for a cluster's bootstrap servers with a request timeout.
pub type Connector =
    dyn Fn(&ClusterKey, &[String], &Security, Duration) -> Arc<dyn KafkaAdmin> + Send + Sync;

/// All observers, keyed by KafkaCluster. `updates` ticks after every refresh of any cluster,
/// which makes the controllers re-run their reconciles against the new snapshot.
pub struct Observers {
    observers: Mutex<HashMap<ClusterKey, Arc<ClusterHandle>>>,
    updates: watch::Sender<u64>,
    changes: tokio::sync::broadcast::Sender<Change>,
    resync: Duration,
    request_timeout: Duration,
    connect: Box<Connector>,
    /// Observers started again after a panic, per cluster (`kto_observer_restarts_total`).
    restarts: Family<ClusterLabels, Counter>,
    snapshot_turns: Arc<tokio::sync::Semaphore>,
}

impl Observers {
    pub fn new(
        resync: Duration,
        request_timeout: Duration,
        connect: impl Fn(&ClusterKey, &[String], &Security, Duration) -> Arc<dyn KafkaAdmin>
        + Send
        + Sync
        + 'static,
        restarts: Family<ClusterLabels, Counter>,
    ) -> Self {
        Observers {
            restarts,
            observers: Mutex::new(HashMap::new()),
            updates: watch::channel(0).0,
            changes: tokio::sync::broadcast::channel(1024).0,
            resync,
            request_timeout,
            connect: Box::new(connect),
            snapshot_turns: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_SNAPSHOTS)),
        }
    }

    /// A stream that yields after every refresh of any cluster.
    pub fn updates(&self) -> watch::Receiver<u64> {
        self.updates.subscribe()
    }

    /// What each new look at a cluster changed (see [`Changed`]). A receiver that falls behind
    /// gets a `Lagged` error and should treat it as "everything changed".
    pub fn changes(&self) -> tokio::sync::broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Every topic of `cluster` should be looked at again (its KafkaCluster changed).
    pub fn touch_all(&self, cluster: &ClusterKey) {
        let _ = self.changes.send(Change {
            cluster: cluster.clone(),
            changed: Changed::All,
        });
    }

    pub fn get(&self, key: &ClusterKey) -> Option<Arc<ClusterHandle>> {
        lock(&self.observers).get(key).cloned()
    }

    /// The observer for a cluster reached at `bootstrap` with `security`, started if needed,
    /// restarted if either changed.
    pub fn ensure(
        &self,
        key: &ClusterKey,
        bootstrap: &[String],
        security: &Security,
    ) -> Arc<ClusterHandle> {
        let connection_key = format!("{} {}", bootstrap.join(","), security.fingerprint());
        let mut map = lock(&self.observers);
        if let Some(existing) = map.get(key)
            && existing.connection_key == connection_key
        {
            return existing.clone();
        }
        info!(cluster = %format!("{}/{}", key.0, key.1), bootstrap = %bootstrap.join(","), ?security, "starting cluster observer");
        let admin = (self.connect)(key, bootstrap, security, self.request_timeout);
        let observer = self.spawn(key.clone(), admin, connection_key);
        map.insert(key.clone(), observer.clone());
        observer
    }

    /// Keeps only the observers whose key passes `keep`.
    pub fn retain(&self, keep: impl Fn(&ClusterKey) -> bool) {
        lock(&self.observers).retain(|k, _| keep(k));
    }

    /// Stops observing a cluster (its KafkaCluster was deleted).
    pub fn remove(&self, key: &ClusterKey) {
        if lock(&self.observers).remove(key).is_some() {
            info!(cluster = %format!("{}/{}", key.0, key.1), "stopped cluster observer");
        }
    }

    fn spawn(
        &self,
        key: ClusterKey,
        admin: Arc<dyn KafkaAdmin>,
        connection_key: String,
    ) -> Arc<ClusterHandle> {
        let (tx, rx) = watch::channel(Observation::Pending);
        let refresh_now = Arc::new(Notify::new());
        let cancel = CancellationToken::new();
        let state = Arc::new(ClusterState::new(admin.clone(), rx));
        let handle = Arc::new(ClusterHandle {
            state: state.clone(),
            connection_key,
            refresh_now: refresh_now.clone(),
            cancel: cancel.clone(),
            creator: Creator::start(Arc::downgrade(&state)),
            writer: Writer::start(Arc::downgrade(&state)),
        });
        let looper = ObserveLoop {
            key,
            admin,
            state: Arc::downgrade(&state),
            tx,
            updates: self.updates.clone(),
            changes: self.changes.clone(),
            resync: self.resync,
            cancel,
            refresh_now,
            snapshot_turns: self.snapshot_turns.clone(),
        };
        let restarts = self.restarts.clone();
        tokio::spawn(async move {
            // Supervised: a panic in a look at the cluster (a bug) must not freeze the snapshot
            // of every topic of the cluster; the loop starts again from scratch.
            loop {
                match AssertUnwindSafe(looper.run()).catch_unwind().await {
                    Ok(()) => return, // cancelled
                    Err(panic) => {
                        let message = panic_message(panic.as_ref());
                        error!(namespace = %looper.key.0, cluster = %looper.key.1, %message, "the cluster observer panicked; starting it again");
                        restarts
                            .get_or_create(&ClusterLabels {
                                namespace: looper.key.0.clone(),
                                cluster: looper.key.1.clone(),
                            })
                            .inc();
                        tokio::select! {
                            _ = looper.cancel.cancelled() => return,
                            _ = tokio::time::sleep(RESTART_PAUSE) => {}
                        }
                    }
                }
            }
        });
        handle
    }
}

#[cfg(test)]
mod tests;
