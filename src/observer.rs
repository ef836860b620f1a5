//! One observer per KafkaCluster: refreshes a snapshot of the whole cluster every resync
//! interval in a few batched calls, so per-topic reconciles read memory, not Kafka. Thousands
//! of topics cost a handful of requests per resync.
//!
//! After the operator changes a topic it re-reads that one topic and patches it into the
//! snapshot, so the next reconcile sees its own write instead of re-applying it.

use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::creator::Creator;
use crate::kafka::security::Security;
use crate::kafka::{KafkaAdmin, KafkaError};
use crate::metrics::ClusterLabels;
use crate::model::{ClusterSnapshot, ObservedTopic};
use crate::plan::ClusterView;
use crate::sync::lock;
use crate::writer::Writer;

/// The latest result of observing a cluster.
#[derive(Clone, Debug)]
pub enum Observation {
    /// No snapshot yet.
    Pending,
    Observed {
        /// When the snapshot's requests started: anything written before this is in it.
        started: Instant,
        snapshot: Arc<ClusterSnapshot>,
        /// Set while newer snapshots time out: Kafka is slow, and this is the last good view,
        /// kept rather than calling the cluster unreachable. Says since when and why.
        stale: Option<String>,
    },
    Failed {
        reason: &'static str,
        message: String,
        /// When the next attempt is due (backoff).
        retry_in: Duration,
    },
}

/// What a reconcile sees of one topic.
pub enum TopicView {
    Pending,
    Failed {
        reason: &'static str,
        message: String,
    },
    Observed {
        snapshot: Arc<ClusterSnapshot>,
        topic: Option<ObservedTopic>,
    },
}

/// Identifies a KafkaCluster resource: namespace/name.
pub type ClusterKey = (String, String);

/// What a new look at a cluster changed, for the topic controller to re-run only the
/// reconciles that can have something new to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Changed {
    /// Everything about the cluster may have changed (first snapshot, brokers, reachability,
    /// the KafkaCluster's spec): every topic of the cluster is reconciled.
    All,
    /// Only these Kafka topics look different from the previous snapshot.
    Topics(Vec<String>),
}

/// One cluster's change.
#[derive(Clone, Debug)]
pub struct Change {
    pub cluster: ClusterKey,
    pub changed: Changed,
}

/// What changed between two snapshots of a cluster.
pub fn diff(previous: Option<&ClusterSnapshot>, next: &ClusterSnapshot) -> Changed {
    let Some(previous) = previous else {
        return Changed::All;
    };
    if previous.brokers != next.brokers
        || previous.broker_overrides != next.broker_overrides
        || previous.cluster_id != next.cluster_id
    {
        return Changed::All;
    }
    let mut names: Vec<String> = next
        .topics
        .iter()
        .filter(|(name, t)| previous.topics.get(*name) != Some(*t))
        .map(|(name, _)| name.clone())
        .collect();
    names.extend(
        previous
            .topics
            .keys()
            .filter(|name| !next.topics.contains_key(*name))
            .cloned(),
    );
    for (name, error) in &next.topic_errors {
        if previous.topic_errors.get(name) != Some(error) {
            names.push(name.clone());
        }
    }
    names.sort();
    names.dedup();
    Changed::Topics(names)
}

pub struct ClusterObserver {
    pub admin: Arc<dyn KafkaAdmin>,
    /// What the observer was started for (bootstrap servers); a change means a new observer.
    pub connection_key: String,
    observation: watch::Receiver<Observation>,
    /// Topics re-read after a write, newer than the snapshot: (when read, topic or None if gone).
    patches: Mutex<BTreeMap<String, (Instant, Option<ObservedTopic>)>>,
    refresh_now: Arc<Notify>,
    cancel: CancellationToken,
    /// Held while a topic plans and applies changes, so that moves started by concurrent
    /// reconciles never exceed the cluster's maxConcurrentMoves.
    pub write_lock: tokio::sync::Mutex<()>,
    /// Bumped by every snapshot and every patch: the cluster view below is valid for one value.
    version: AtomicU64,
    /// The cluster view (brokers, load, moves under way), built once per version instead of
    /// once per topic reconcile.
    view: Mutex<Option<(u64, Arc<ClusterView>)>>,
    /// Batches the topic creations of this cluster.
    pub creator: Creator,
    /// Batches the cluster's config changes and partition growth (src/writer.rs).
    pub writer: Writer,
}

impl ClusterObserver {
    /// Every topic as last observed, patches included.
    pub fn topics(&self) -> Vec<ObservedTopic> {
        let Observation::Observed {
            started, snapshot, ..
        } = self.observation()
        else {
            return vec![];
        };
        let patches = lock(&self.patches);
        let mut out: BTreeMap<String, ObservedTopic> = snapshot.topics.clone();
        for (name, (at, topic)) in patches.iter().filter(|(_, (at, _))| *at > started) {
            let _ = at;
            match topic {
                Some(t) => {
                    out.insert(name.clone(), t.clone());
                }
                None => {
                    out.remove(name);
                }
            }
        }
        out.into_values().collect()
    }

    pub fn observation(&self) -> Observation {
        self.observation.borrow().clone()
    }

    /// The topic as last observed, patches included.
    pub fn topic(&self, name: &str) -> TopicView {
        match self.observation() {
            Observation::Pending => TopicView::Pending,
            Observation::Failed {
                reason, message, ..
            } => TopicView::Failed { reason, message },
            Observation::Observed {
                started, snapshot, ..
            } => {
                let patched = lock(&self.patches)
                    .get(name)
                    .filter(|(at, _)| *at > started)
                    .map(|(_, t)| t.clone());
                if patched.is_none()
                    && let Some((reason, message)) = snapshot.topic_errors.get(name)
                {
                    return TopicView::Failed {
                        reason,
                        message: message.clone(),
                    };
                }
                let topic = patched.unwrap_or_else(|| snapshot.topics.get(name).cloned());
                TopicView::Observed { snapshot, topic }
            }
        }
    }

    /// Records a fresh read of one topic (None: it does not exist).
    pub fn patch(&self, name: &str, read_at: Instant, topic: Option<ObservedTopic>) {
        lock(&self.patches).insert(name.to_string(), (read_at, topic));
        self.version.fetch_add(1, Ordering::Relaxed);
    }

    /// The cluster as the plan sees it, from the latest snapshot with patches. Built once per
    /// snapshot or patch and shared, so a reconcile costs nothing proportional to the cluster.
    /// `max_concurrent_moves` and `throttle` come from the KafkaCluster's spec.
    pub fn view(&self, max_concurrent_moves: usize, throttle: i64) -> ClusterView {
        let version = self.version.load(Ordering::Relaxed);
        let cached = lock(&self.view)
            .as_ref()
            .filter(|(v, _)| *v == version)
            .map(|(_, view)| view.clone());
        let base = match cached {
            Some(view) => view,
            None => {
                let snapshot = match self.observation() {
                    Observation::Observed { snapshot, .. } => snapshot,
                    _ => Arc::new(ClusterSnapshot::default()),
                };
                let view = Arc::new(ClusterView::new(&snapshot, &self.topics(), 0, 0));
                *lock(&self.view) = Some((version, view.clone()));
                view
            }
        };
        base.with_policy(max_concurrent_moves, throttle)
    }

    /// Asks for a new snapshot now instead of at the next interval.
    pub fn refresh_now(&self) {
        self.refresh_now.notify_one();
    }

    pub async fn changed(&self) -> Observation {
        let mut rx = self.observation.clone();
        let _ = rx.changed().await;
        self.observation()
    }
}

impl Drop for ClusterObserver {
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
    observers: Mutex<HashMap<ClusterKey, Arc<ClusterObserver>>>,
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

    pub fn get(&self, key: &ClusterKey) -> Option<Arc<ClusterObserver>> {
        lock(&self.observers).get(key).cloned()
    }

    /// The observer for a cluster reached at `bootstrap` with `security`, started if needed,
    /// restarted if either changed.
    pub fn ensure(
        &self,
        key: &ClusterKey,
        bootstrap: &[String],
        security: &Security,
    ) -> Arc<ClusterObserver> {
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
    ) -> Arc<ClusterObserver> {
        let (tx, rx) = watch::channel(Observation::Pending);
        let refresh_now = Arc::new(Notify::new());
        let cancel = CancellationToken::new();
        let observer = Arc::new_cyclic(|weak| ClusterObserver {
            admin: admin.clone(),
            connection_key,
            observation: rx,
            patches: Mutex::new(BTreeMap::new()),
            refresh_now: refresh_now.clone(),
            cancel: cancel.clone(),
            write_lock: tokio::sync::Mutex::new(()),
            version: AtomicU64::new(0),
            view: Mutex::new(None),
            creator: Creator::start(weak.clone()),
            writer: Writer::start(weak.clone()),
        });
        let looper = ObserveLoop {
            key,
            admin,
            observer: Arc::downgrade(&observer),
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
                        let message = crate::controller::panic_message(panic.as_ref());
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
        observer
    }
}

fn failed(error: &KafkaError, retry_in: Duration) -> Observation {
    Observation::Failed {
        reason: error.reason(),
        message: error.to_string(),
        retry_in,
    }
}

/// 1s, 2s, 4s, ... capped at the resync interval (and at 5 minutes).
pub fn backoff(failures: u32, resync: Duration) -> Duration {
    let exp = Duration::from_secs(1u64 << failures.saturating_sub(1).min(16));
    exp.min(resync.max(Duration::from_secs(1)))
        .min(Duration::from_secs(300))
}

/// How many clusters may take a snapshot at the same time, per operator. A snapshot decodes
/// every topic's full config list (defaults included) before keeping it, so its peak memory is
/// several times what it keeps; a restart that finds a hundred KafkaClusters (one per team
/// namespace, all on the same Kafka) would otherwise decode a hundred such answers at once and
/// break the Pod's memory limit. Found by the node stage: 160 KafkaClusters on one 1500-topic
/// Kafka took the operator past 256 MiB within 6 s of starting. A cluster whose look waits on
/// a timeout (a blackholed address) holds its turn meanwhile, at most once per backoff period:
/// it takes many such clusters to keep the others waiting.
const CONCURRENT_SNAPSHOTS: usize = 8;

/// Takes a snapshot once one of `turns` is free; returns when its requests started (after the
/// wait: anything written before that is in it) with the result.
async fn snapshot_in_turn(
    admin: &dyn KafkaAdmin,
    turns: &tokio::sync::Semaphore,
) -> (Instant, Result<ClusterSnapshot, KafkaError>) {
    let _turn = turns
        .acquire()
        .await
        .expect("the semaphore is never closed");
    let started = Instant::now();
    (started, admin.snapshot().await)
}

/// How long a panicked observer waits before it starts again.
const RESTART_PAUSE: Duration = Duration::from_secs(1);

/// What the observing loop of one cluster works with.
struct ObserveLoop {
    key: ClusterKey,
    admin: Arc<dyn KafkaAdmin>,
    observer: std::sync::Weak<ClusterObserver>,
    tx: watch::Sender<Observation>,
    updates: watch::Sender<u64>,
    changes: tokio::sync::broadcast::Sender<Change>,
    resync: Duration,
    cancel: CancellationToken,
    refresh_now: Arc<Notify>,
    /// Shared by every cluster of the operator ([`CONCURRENT_SNAPSHOTS`]).
    snapshot_turns: Arc<tokio::sync::Semaphore>,
}

impl ObserveLoop {
    /// Looks at the cluster every resync (sooner when asked) until cancelled. A fresh start
    /// (also after a panic) has no previous snapshot, so its first look reconciles every topic.
    async fn run(&self) {
        let (key, admin, tx, cancel) = (&self.key, &self.admin, &self.tx, &self.cancel);
        let (weak, updates, changes, resync) =
            (&self.observer, &self.updates, &self.changes, self.resync);
        let refresh_now = &self.refresh_now;
        let mut failures: u32 = 0;
        let mut last: Option<Arc<ClusterSnapshot>> = None;
        loop {
            let (started, result) = tokio::select! {
                _ = cancel.cancelled() => return,
                r = snapshot_in_turn(admin.as_ref(), &self.snapshot_turns) => r,
            };
            let failures_before = failures;
            let wait = match result {
                Ok(snapshot) => {
                    if failures > 0 {
                        info!(namespace = %key.0, cluster = %key.1, "Kafka reachable again");
                    }
                    failures = 0;
                    debug!(namespace = %key.0, cluster = %key.1, topics = snapshot.topics.len(), "snapshot");
                    // Topics the operator re-read after a write are compared with that
                    // read, not with the previous snapshot: a change made behind its back
                    // between the two would otherwise look like no change at all.
                    let mut repatched = Vec::new();
                    if let Some(observer) = weak.upgrade() {
                        let mut patches = lock(&observer.patches);
                        repatched = patches
                            .iter()
                            .filter(|(name, (_, t))| snapshot.topics.get(*name) != t.as_ref())
                            .map(|(name, _)| name.clone())
                            .collect();
                        // Patches older than this snapshot are superseded by it.
                        patches.retain(|_, (at, _)| *at > started);
                        observer.version.fetch_add(1, Ordering::Relaxed);
                    }
                    let snapshot = Arc::new(snapshot);
                    let changed = if failures_before > 0 {
                        Changed::All
                    } else {
                        match diff(last.as_deref(), &snapshot) {
                            Changed::Topics(mut names) => {
                                names.extend(repatched);
                                names.sort();
                                names.dedup();
                                Changed::Topics(names)
                            }
                            all => all,
                        }
                    };
                    last = Some(snapshot.clone());
                    tx.send_replace(Observation::Observed {
                        started,
                        snapshot,
                        stale: None,
                    });
                    // The previous snapshot and this one's decoded answers are gone now.
                    crate::memory::release_free_memory();
                    if changed != Changed::Topics(vec![]) {
                        let _ = changes.send(Change {
                            cluster: key.clone(),
                            changed,
                        });
                    }
                    resync
                }
                Err(KafkaError::Slow { api, detail }) if last.is_some() => {
                    // A slow answer is not an unreachable cluster: keep the last good view.
                    failures += 1;
                    let retry_in = backoff(failures, resync);
                    let last_good = match &*tx.borrow() {
                        Observation::Observed { started, .. } => Some(*started),
                        _ => None,
                    };
                    let age = last_good.map(|t| t.elapsed().as_secs()).unwrap_or(0);
                    warn!(namespace = %key.0, cluster = %key.1, api, %detail, "Kafka is slow; keeping the last good snapshot");
                    tx.send_modify(|o| {
                    if let Observation::Observed { stale, .. } = o {
                        *stale = Some(format!(
                            "Kafka is slow: {detail} ({api}); showing the snapshot from {age} s ago, next attempt in {} s",
                            retry_in.as_secs()
                        ));
                    }
                });
                    retry_in
                }
                Err(error) => {
                    failures += 1;
                    let retry_in = backoff(failures, resync);
                    warn!(namespace = %key.0, cluster = %key.1, %error, retry_in_s = retry_in.as_secs_f32(), "observing Kafka failed");
                    tx.send_replace(failed(&error, retry_in));
                    if failures == 1 {
                        let _ = changes.send(Change {
                            cluster: key.clone(),
                            changed: Changed::All,
                        });
                    }
                    retry_in
                }
            };
            updates.send_modify(|n| *n = n.wrapping_add(1));
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
                _ = refresh_now.notified() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::{Described, PartitionGrowth, TopicResults, TopicToCreate};
    use crate::model::ConfigChanges;
    use std::sync::atomic::AtomicUsize;

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
            observer.topic("orders"),
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
        let clusters: Vec<Arc<ClusterObserver>> = (0..4 * CONCURRENT_SNAPSHOTS)
            .map(|i| {
                let key: ClusterKey = (format!("team-{i}"), "kafka".into());
                observers.ensure(&key, &["kafka:9092".into()], &Security::default())
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        for observer in &clusters {
            while !matches!(observer.topic("orders"), TopicView::Observed { .. }) {
                assert!(Instant::now() < deadline, "not every cluster was observed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        // Every cluster got its look, never more than the turns allow at once (and the turns
        // were used: the limit is what held them back).
        assert_eq!(most.load(Ordering::SeqCst), CONCURRENT_SNAPSHOTS);
    }

    #[test]
    fn backoff_doubles_up_to_the_resync_interval() {
        let resync = Duration::from_secs(30);
        let waits: Vec<u64> = (1..=7).map(|n| backoff(n, resync).as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 30, 30]);
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

    #[test]
    fn only_topics_that_changed_are_named() {
        let a = snapshot(&[("same", 1), ("grows", 1), ("goes", 1)]);
        let b = snapshot(&[("same", 1), ("grows", 2), ("new", 1)]);
        assert_eq!(diff(None, &a), Changed::All);
        assert_eq!(diff(Some(&a), &a), Changed::Topics(vec![]));
        assert_eq!(
            diff(Some(&a), &b),
            Changed::Topics(vec!["goes".into(), "grows".into(), "new".into()])
        );
        let mut c = a.clone();
        c.brokers.push(crate::model::Broker {
            id: 4,
            host: "h".into(),
            port: 1,
            rack: None,
        });
        assert_eq!(diff(Some(&a), &c), Changed::All);
    }
}
