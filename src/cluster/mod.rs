//! The per-Kafka-cluster layer: for each connection the operator works with (bootstrap servers
//! and credentials), one observe loop (observe.rs) filling one state (state.rs: snapshot,
//! patches, cluster view, client, write lock), and the batchers of creations (create.rs) and
//! writes (write.rs) over that state; the apply of one topic (apply.rs) and the broker
//! throttles (throttles.rs) use it too. The registry here starts, shares, restarts and stops
//! them. Controllers sit above this layer; nothing here knows about Kubernetes objects.
//!
//! KafkaClusters with the same connection share one observer (a KafkaCluster per team
//! namespace for one Kafka costs one snapshot per resync, not one each); connections with other
//! credentials get their own observer, because a snapshot is what one principal may see, but
//! every connection to the same Kafka shares its write lock and move budget (state.rs).

pub mod apply;
pub mod create;
pub mod diff;
pub mod key;
pub mod observe;
pub mod state;
pub mod throttles;
pub mod write;

use std::collections::{BTreeSet, HashMap};
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
use observe::{CONCURRENT_SNAPSHOTS, ObserveLoop, RESTART_PAUSE, snapshot_limit};
pub use state::{ClusterState, Kafkas, Observation, TopicView};
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
    /// The KafkaClusters using this observer; its changes are sent to each.
    attached: Arc<Mutex<BTreeSet<ClusterKey>>>,
}

impl ClusterHandle {
    /// The KafkaClusters using this observer.
    pub fn attached(&self) -> BTreeSet<ClusterKey> {
        lock(&self.attached).clone()
    }

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

/// All observers, by the KafkaClusters using them. `updates` ticks after every look at any
/// cluster (tests count looks with it); `cluster_updates` names the KafkaClusters whose
/// observation changed in a way their status shows, and `changes` the topics to look at again.
pub struct Observers {
    observers: Mutex<HashMap<ClusterKey, Arc<ClusterHandle>>>,
    kafkas: Arc<Kafkas>,
    updates: watch::Sender<u64>,
    cluster_updates: tokio::sync::broadcast::Sender<ClusterKey>,
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
            kafkas: Arc::new(Kafkas::default()),
            updates: watch::channel(0).0,
            cluster_updates: tokio::sync::broadcast::channel(4096).0,
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

    /// The KafkaClusters whose observation changed (reachability, brokers, the set of topics,
    /// auto-creation): only they need their status looked at again. A receiver that falls
    /// behind gets `Lagged` and should look at every KafkaCluster.
    pub fn cluster_updates(&self) -> tokio::sync::broadcast::Receiver<ClusterKey> {
        self.cluster_updates.subscribe()
    }

    /// Asks for `cluster`'s status to be looked at again (something it shows changed outside
    /// the observer, e.g. the KafkaTopics declared for it).
    pub fn cluster_changed(&self, cluster: &ClusterKey) {
        let _ = self.cluster_updates.send(cluster.clone());
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

    /// The observer for a KafkaCluster reached at `bootstrap` with `security`: the one another
    /// KafkaCluster with the same connection already uses, else a new one; a KafkaCluster whose
    /// connection changed moves to another.
    pub fn ensure(
        &self,
        key: &ClusterKey,
        bootstrap: &[String],
        security: &Security,
    ) -> Arc<ClusterHandle> {
        let connection_key = connection_key(bootstrap, security);
        let mut map = lock(&self.observers);
        if let Some(existing) = map.get(key)
            && existing.connection_key == connection_key
        {
            return existing.clone();
        }
        if let Some(previous) = map.remove(key) {
            lock(&previous.attached).remove(key);
        }
        let shared = map
            .values()
            .find(|h| h.connection_key == connection_key)
            .cloned();
        let handle = match shared {
            Some(handle) => {
                info!(cluster = %format!("{}/{}", key.0, key.1), bootstrap = %bootstrap.join(","), "sharing the observer of another KafkaCluster with the same connection");
                handle
            }
            None => {
                info!(cluster = %format!("{}/{}", key.0, key.1), bootstrap = %bootstrap.join(","), ?security, "starting cluster observer");
                let admin = (self.connect)(key, bootstrap, security, self.request_timeout);
                self.spawn(key, admin, connection_key)
            }
        };
        lock(&handle.attached).insert(key.clone());
        map.insert(key.clone(), handle.clone());
        drop(map);
        // A KafkaCluster joining a running observer: its topics have not seen its snapshot yet.
        self.touch_all(key);
        handle
    }

    /// Every KafkaCluster whose connection reaches the same Kafka (by cluster id) as `key`'s,
    /// `key` included; just `key` until a snapshot said which Kafka it is.
    pub fn same_kafka(&self, key: &ClusterKey) -> Vec<ClusterKey> {
        let map = lock(&self.observers);
        let Some(id) = map.get(key).and_then(|h| h.state.cluster_id()) else {
            return vec![key.clone()];
        };
        let mut keys: Vec<ClusterKey> = map
            .iter()
            .filter(|(_, h)| h.state.cluster_id().as_deref() == Some(id.as_str()))
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        keys
    }

    /// Kafka's cluster id as `key`'s connection last saw it.
    pub fn cluster_id(&self, key: &ClusterKey) -> Option<String> {
        self.get(key).and_then(|h| h.state.cluster_id())
    }

    /// Keeps only the KafkaClusters that pass `keep`; an observer no KafkaCluster uses stops.
    pub fn retain(&self, keep: impl Fn(&ClusterKey) -> bool) {
        lock(&self.observers).retain(|k, handle| {
            let kept = keep(k);
            if !kept {
                lock(&handle.attached).remove(k);
            }
            kept
        });
    }

    /// Stops observing for a KafkaCluster (it was deleted); the observer stops with its last user.
    pub fn remove(&self, key: &ClusterKey) {
        if let Some(handle) = lock(&self.observers).remove(key) {
            lock(&handle.attached).remove(key);
            info!(cluster = %format!("{}/{}", key.0, key.1), "stopped cluster observer");
        }
    }

    fn spawn(
        &self,
        key: &ClusterKey,
        admin: Arc<dyn KafkaAdmin>,
        connection_key: String,
    ) -> Arc<ClusterHandle> {
        let attached = Arc::new(Mutex::new(BTreeSet::new()));
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
            attached: attached.clone(),
        });
        let looper = ObserveLoop {
            label: format!("{}/{}", key.0, key.1),
            attached,
            admin,
            state: Arc::downgrade(&state),
            kafkas: self.kafkas.clone(),
            tx,
            updates: self.updates.clone(),
            cluster_updates: self.cluster_updates.clone(),
            changes: self.changes.clone(),
            resync: self.resync,
            cancel,
            refresh_now,
            snapshot_turns: self.snapshot_turns.clone(),
            snapshot_limit: snapshot_limit(self.request_timeout),
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
                        error!(cluster = %looper.label, %message, "the cluster observer panicked; starting it again");
                        for key in lock(&looper.attached).iter() {
                            restarts
                                .get_or_create(&ClusterLabels {
                                    namespace: key.0.clone(),
                                    cluster: key.1.clone(),
                                })
                                .inc();
                        }
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

/// What makes two KafkaClusters' connections the same: the bootstrap servers (in any order)
/// and the credentials.
fn connection_key(bootstrap: &[String], security: &Security) -> String {
    let servers: BTreeSet<&str> = bootstrap.iter().map(|s| s.trim()).collect();
    format!(
        "{} {}",
        servers.into_iter().collect::<Vec<_>>().join(","),
        security.fingerprint()
    )
}

#[cfg(test)]
mod tests;
