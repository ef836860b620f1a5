//! What the operator knows of one Kafka cluster at the moment: the latest observation, the
//! topics re-read after writes (patches), the cluster view built once per change, and the two
//! things every write to the cluster shares: its Kafka client and its write lock. The observe
//! loop fills it; reconciles and the batchers read it. No I/O here.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::api::Reason;
use crate::kafka::KafkaAdmin;
use crate::model::{ClusterSnapshot, ObservedTopic};
use crate::plan::ClusterView;
use crate::util::sync::lock;

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
        reason: Reason,
        message: String,
        /// When the next attempt is due (backoff).
        retry_in: Duration,
    },
}

/// What a reconcile sees of one topic.
pub enum TopicView {
    Pending,
    Failed {
        reason: Reason,
        message: String,
    },
    Observed {
        snapshot: Arc<ClusterSnapshot>,
        topic: Option<ObservedTopic>,
    },
}

pub struct ClusterState {
    pub admin: Arc<dyn KafkaAdmin>,
    observation: watch::Receiver<Observation>,
    /// Topics re-read after a write, newer than the snapshot: (when read, topic or None if gone).
    patches: Mutex<BTreeMap<String, (Instant, Option<ObservedTopic>)>>,
    /// Held while a topic plans and applies changes, so that moves started by concurrent
    /// reconciles never exceed the cluster's maxConcurrentMoves.
    pub write_lock: tokio::sync::Mutex<()>,
    /// Bumped by every snapshot and every patch: the cluster view below is valid for one value.
    version: AtomicU64,
    /// The cluster view (brokers, load, moves under way), built once per version instead of
    /// once per topic reconcile.
    view: Mutex<Option<(u64, Arc<ClusterView>)>>,
}

impl ClusterState {
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
                        reason: *reason,
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

    pub async fn changed(&self) -> Observation {
        let mut rx = self.observation.clone();
        let _ = rx.changed().await;
        self.observation()
    }

    pub fn new(admin: Arc<dyn KafkaAdmin>, observation: watch::Receiver<Observation>) -> Self {
        ClusterState {
            admin,
            observation,
            patches: Mutex::new(BTreeMap::new()),
            write_lock: tokio::sync::Mutex::new(()),
            version: AtomicU64::new(0),
            view: Mutex::new(None),
        }
    }

    /// A new snapshot whose requests started at `started` arrived: patches older than it are
    /// superseded. Returns the topics whose patch differs from it (a change made behind the
    /// operator's back between its read and this snapshot would otherwise look like no change).
    pub fn absorb_snapshot(&self, started: Instant, snapshot: &ClusterSnapshot) -> Vec<String> {
        let mut patches = lock(&self.patches);
        let repatched = patches
            .iter()
            .filter(|(name, (_, t))| snapshot.topics.get(*name) != t.as_ref())
            .map(|(name, _)| name.clone())
            .collect();
        patches.retain(|_, (at, _)| *at > started);
        self.version.fetch_add(1, Ordering::Relaxed);
        repatched
    }
}
