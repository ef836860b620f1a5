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
mod tests {
    use super::*;
    use crate::kafka::KafkaError;
    use crate::kafka::{Described, PartitionGrowth, TopicResults, TopicToCreate};
    use crate::model::{ClusterSnapshot, ConfigChanges, ObservedTopic};
    use std::collections::BTreeMap;
    use std::sync::atomic::AtomicUsize;
    use std::sync::atomic::Ordering;
    use std::time::Duration;
    use tokio::time::Instant;

    /// A cluster as the observer sees it: snapshots only, so nothing else is ever called.
    #[derive(Default)]
    struct FakeCluster {
        /// The first snapshot hits a bug (a panic); later ones work.
        panics_once: bool,
        calls: AtomicUsize,
        /// How long a snapshot takes.
        takes: Duration,
        /// Snapshots being taken right now, and the most ever at once (shared by clusters).
        running: Arc<AtomicUsize>,
        most: Arc<AtomicUsize>,
    }

    #[async_trait::async_trait]
    impl KafkaAdmin for FakeCluster {
        async fn snapshot(&self) -> Result<ClusterSnapshot, KafkaError> {
            if self.calls.fetch_add(1, Ordering::SeqCst) == 0 && self.panics_once {
                panic!("a bug while reading the snapshot");
            }
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(self.takes).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            Ok(snapshot(&[("orders", 1)]))
        }
        async fn describe_topics_each(&self, _: &[String]) -> Result<Described, KafkaError> {
            unreachable!("not used by the observer")
        }
        async fn create_topics(
            &self,
            _: &[TopicToCreate],
            _: bool,
        ) -> Result<TopicResults, KafkaError> {
            unreachable!("not used by the observer")
        }
        async fn grow_topics(&self, _: &[PartitionGrowth]) -> Result<TopicResults, KafkaError> {
            unreachable!("not used by the observer")
        }
        async fn alter_broker_configs(&self, _: i32, _: &ConfigChanges) -> Result<(), KafkaError> {
            unreachable!("not used by the observer")
        }
        async fn alter_reassignments(
            &self,
            _: &str,
            _: &BTreeMap<i32, Vec<i32>>,
        ) -> Result<(), KafkaError> {
            unreachable!("not used by the observer")
        }
        async fn elect_preferred_leaders(&self, _: &str, _: &[i32]) -> Result<(), KafkaError> {
            unreachable!("not used by the observer")
        }
        async fn alter_topics_configs(
            &self,
            _: &[(String, ConfigChanges)],
            _: bool,
        ) -> Result<TopicResults, KafkaError> {
            unreachable!("not used by the observer")
        }
        async fn delete_topic(&self, _: &str) -> Result<(), KafkaError> {
            unreachable!("not used by the observer")
        }
        fn request_counts(&self) -> BTreeMap<&'static str, u64> {
            BTreeMap::new()
        }
    }

    #[tokio::test]
    async fn an_observer_that_panics_is_started_again_and_counted() {
        let restarts: Family<ClusterLabels, Counter> = Family::default();
        let observers = Observers::new(
            Duration::from_secs(3600),
            Duration::from_secs(5),
            |_: &ClusterKey, _: &[String], _: &Security, _: Duration| -> Arc<dyn KafkaAdmin> {
                Arc::new(FakeCluster {
                    panics_once: true,
                    ..Default::default()
                })
            },
            restarts.clone(),
        );
        let key: ClusterKey = ("ns".into(), "kafka".into());
        let observer = observers.ensure(&key, &["kafka:9092".into()], &Security::default());
        let deadline = Instant::now() + Duration::from_secs(10);
        while !matches!(
            observer.state.topic("orders"),
            TopicView::Observed { topic: Some(_), .. }
        ) {
            assert!(
                Instant::now() < deadline,
                "the observer did not recover from its panic"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let labels = ClusterLabels {
            namespace: "ns".into(),
            cluster: "kafka".into(),
        };
        assert_eq!(restarts.get_or_create(&labels).get(), 1);
    }

    #[tokio::test]
    async fn many_clusters_take_their_snapshots_a_few_at_a_time() {
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (r, m) = (running.clone(), most.clone());
        let observers = Observers::new(
            Duration::from_secs(3600),
            Duration::from_secs(5),
            move |_: &ClusterKey, _: &[String], _: &Security, _: Duration| -> Arc<dyn KafkaAdmin> {
                Arc::new(FakeCluster {
                    takes: Duration::from_millis(50),
                    running: r.clone(),
                    most: m.clone(),
                    ..Default::default()
                })
            },
            Family::default(),
        );
        let clusters: Vec<Arc<ClusterHandle>> = (0..4 * super::observe::CONCURRENT_SNAPSHOTS)
            .map(|i| {
                let key: ClusterKey = (format!("team-{i}"), "kafka".into());
                observers.ensure(&key, &["kafka:9092".into()], &Security::default())
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        for observer in &clusters {
            while !matches!(observer.state.topic("orders"), TopicView::Observed { .. }) {
                assert!(Instant::now() < deadline, "not every cluster was observed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        // Every cluster got its look, never more than the turns allow at once (and the turns
        // were used: the limit is what held them back).
        assert_eq!(
            most.load(Ordering::SeqCst),
            super::observe::CONCURRENT_SNAPSHOTS
        );
    }

    fn snapshot(topics: &[(&str, usize)]) -> ClusterSnapshot {
        ClusterSnapshot {
            topics: topics
                .iter()
                .map(|(name, partitions)| {
                    (
                        name.to_string(),
                        ObservedTopic::on_one_broker(name, *partitions),
                    )
                })
                .collect(),
            ..Default::default()
        }
    }
}
