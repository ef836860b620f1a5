//! What the operator knows of one Kafka cluster at the moment: the latest observation, the
//! topics re-read after writes (patches), the cluster view built once per change, and the two
//! things every write to the cluster shares: its Kafka client and its write lock. The observe
//! loop fills it; reconciles and the batchers read it. No I/O here.
//!
//! One state per connection (bootstrap servers and credentials); the states of every connection
//! to the same Kafka (by cluster id) join one [`KafkaShared`]: one write lock, and each write's
//! read-back patched into all of them, so the moves under way count once against one budget
//! whichever KafkaCluster started them.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
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
    /// reconciles never exceed the cluster's maxConcurrentMoves; replaced by the Kafka's shared
    /// lock once the first snapshot says which Kafka this is (nothing writes before that).
    own_write_lock: Arc<tokio::sync::Mutex<()>>,
    /// The Kafka this connection reaches, once a snapshot said which.
    kafka: Mutex<Option<Arc<KafkaShared>>>,
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

    /// Records a fresh read of one topic (None: it does not exist), here and in every other
    /// connection to the same Kafka.
    pub fn patch(&self, name: &str, read_at: Instant, topic: Option<ObservedTopic>) {
        let siblings = lock(&self.kafka)
            .as_ref()
            .map(|k| k.members())
            .unwrap_or_default();
        for sibling in siblings.iter().filter(|s| !std::ptr::eq(s.as_ref(), self)) {
            sibling.patch_here(name, read_at, topic.clone());
        }
        self.patch_here(name, read_at, topic);
    }

    fn patch_here(&self, name: &str, read_at: Instant, topic: Option<ObservedTopic>) {
        lock(&self.patches).insert(name.to_string(), (read_at, topic));
        self.version.fetch_add(1, Ordering::Relaxed);
    }

    /// The lock every write to this Kafka takes, whichever KafkaCluster it comes from.
    pub fn write_lock(&self) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.kafka)
            .as_ref()
            .map(|k| k.write_lock.clone())
            .unwrap_or_else(|| self.own_write_lock.clone())
    }

    /// Kafka's cluster id, once a snapshot said it.
    pub fn cluster_id(&self) -> Option<String> {
        lock(&self.kafka).as_ref().map(|k| k.cluster_id.clone())
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
            own_write_lock: Arc::new(tokio::sync::Mutex::new(())),
            kafka: Mutex::new(None),
            version: AtomicU64::new(0),
            view: Mutex::new(None),
        }
    }

    /// A new snapshot whose requests started at `started` arrived: patches older than it are
    /// superseded. Returns how it compares with the topics re-read after a write, which the
    /// reconciles saw last: those whose patch differs from it (a change made behind the
    /// operator's back between its read and this snapshot would otherwise look like no change),
    /// and those it shows exactly as patched (nothing new for their reconciles, though they
    /// differ from the previous snapshot: a topic just created).
    pub fn absorb_snapshot(&self, started: Instant, snapshot: &ClusterSnapshot) -> Repatched {
        let mut patches = lock(&self.patches);
        let mut compared = Repatched::default();
        for (name, (_, patched)) in patches.iter() {
            if snapshot.topics.get(name) == patched.as_ref() {
                compared.unchanged.push(name.clone());
            } else {
                compared.changed.push(name.clone());
            }
        }
        patches.retain(|_, (at, _)| *at > started);
        self.version.fetch_add(1, Ordering::Relaxed);
        compared
    }
}

/// How a new snapshot compares with the topics re-read after writes (`absorb_snapshot`).
#[derive(Debug, Default, PartialEq)]
pub struct Repatched {
    /// The snapshot shows these differently from their re-read.
    pub changed: Vec<String>,
    /// The snapshot shows these exactly as re-read.
    pub unchanged: Vec<String>,
}

/// What every connection to one Kafka shares, whichever KafkaClusters and credentials they
/// come from: a KafkaCluster per team namespace for the same Kafka must not add up move budgets
/// or write concurrently.
pub struct KafkaShared {
    pub cluster_id: String,
    write_lock: Arc<tokio::sync::Mutex<()>>,
    members: Mutex<Vec<Weak<ClusterState>>>,
}

impl KafkaShared {
    fn members(&self) -> Vec<Arc<ClusterState>> {
        lock(&self.members)
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }
}

/// The Kafkas the operator reaches, by cluster id.
#[derive(Default)]
pub struct Kafkas {
    by_id: Mutex<HashMap<String, Weak<KafkaShared>>>,
}

impl Kafkas {
    /// Joins `state` to the Kafka a snapshot of it reported (`cluster_id`); a no-op when it
    /// already belongs to it. A connection whose Kafka changed identity (a new cluster behind
    /// the same addresses) moves to the new one.
    pub fn join(&self, state: &Arc<ClusterState>, cluster_id: &str) {
        let mut current = lock(&state.kafka);
        if current.as_ref().is_some_and(|k| k.cluster_id == cluster_id) {
            return;
        }
        let mut by_id = lock(&self.by_id);
        by_id.retain(|_, k| k.strong_count() > 0);
        let shared = by_id
            .get(cluster_id)
            .and_then(Weak::upgrade)
            .unwrap_or_else(|| {
                let shared = Arc::new(KafkaShared {
                    cluster_id: cluster_id.to_string(),
                    write_lock: Arc::new(tokio::sync::Mutex::new(())),
                    members: Mutex::new(vec![]),
                });
                by_id.insert(cluster_id.to_string(), Arc::downgrade(&shared));
                shared
            });
        let mut members = lock(&shared.members);
        members.retain(|m| m.strong_count() > 0);
        members.push(Arc::downgrade(state));
        drop(members);
        *current = Some(shared);
    }
}
