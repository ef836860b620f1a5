//! The observe loop of one cluster: a snapshot of the whole cluster every resync interval (sooner
//! when asked) in a few batched calls, published into its [`ClusterState`], with what changed
//! sent to the topic controller. Kafka unreachable: backoff; Kafka slow: the last good snapshot
//! stays. A snapshot holds its turn no longer than [`snapshot_limit`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

use super::diff::{Change, Changed, diff};
use super::key::ClusterKey;
use super::state::{ClusterState, Kafkas, Observation};
use crate::kafka::admin::{Kind, operation_limit};
use crate::kafka::error::seconds;
use crate::kafka::{KafkaAdmin, KafkaError};
use crate::model::ClusterSnapshot;
use crate::util::sync::lock;

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

/// After a failed look: the backoff, but at least three times as long as the look held its turn
/// (at most 5 minutes). A look that fails at once changes nothing; one that ends at a deadline (a
/// blackholed address) makes its cluster hold a turn at most a quarter of the time, so a few
/// such clusters cannot keep the turns from the clusters that answer.
pub fn retry_after(failures: u32, resync: Duration, held: Duration) -> Duration {
    backoff(failures, resync)
        .max(held.saturating_mul(3))
        .min(Duration::from_secs(300))
}

/// How long one snapshot may hold its turn: two reads' operation limits (60 s with the default
/// 15 s `--kafka-timeout`). The first read may spend a whole limit connecting; a snapshot of
/// thousands of topics takes a few seconds on a healthy cluster (1000 topics: under 2 s here),
/// so only a cluster that answers each request just in time runs into it. Passed, the snapshot
/// is given up (Kafka is slow: the last good snapshot stays) and the turn goes to the next.
pub fn snapshot_limit(request_timeout: Duration) -> Duration {
    operation_limit(request_timeout, Kind::Read).saturating_mul(2)
}

/// How many clusters may take a snapshot at the same time, per operator. A snapshot decodes
/// every topic's full config list (defaults included) before keeping it, so its peak memory is
/// several times what it keeps; a restart that finds a hundred KafkaClusters (one per team
/// namespace, all on the same Kafka) would otherwise decode a hundred such answers at once and
/// break the Pod's memory limit. Found by the node stage: 160 KafkaClusters on one 1500-topic
/// Kafka took the operator past 256 MiB within 6 s of starting. A cluster whose look waits on
/// a timeout (a blackholed address) holds its turn meanwhile, never past [`snapshot_limit`]
/// (its first request fails at its own deadline sooner), then waits [`retry_after`].
pub const CONCURRENT_SNAPSHOTS: usize = 8;

/// Takes a snapshot once one of `turns` is free, giving it up (and the turn) after `limit`;
/// returns when its requests started (after the wait: anything written before that is in it),
/// how long it held the turn, and the result.
async fn snapshot_in_turn(
    admin: &dyn KafkaAdmin,
    turns: &tokio::sync::Semaphore,
    limit: Duration,
) -> (Instant, Duration, Result<ClusterSnapshot, KafkaError>) {
    let _turn = turns
        .acquire()
        .await
        .expect("the semaphore is never closed");
    let started = Instant::now();
    let result = tokio::time::timeout(limit, admin.snapshot())
        .await
        .unwrap_or_else(|_| {
            Err(KafkaError::Slow {
                api: "snapshot",
                detail: format!("the snapshot was not complete within {}", seconds(limit)),
            })
        });
    (started, started.elapsed(), result)
}

/// How long a panicked observer waits before it starts again.
pub const RESTART_PAUSE: Duration = Duration::from_secs(1);

/// What the observing loop of one cluster works with.
pub struct ObserveLoop {
    /// The KafkaCluster that started it, for logs.
    pub label: String,
    /// The KafkaClusters using it (shared with the registry).
    pub attached: Arc<Mutex<BTreeSet<ClusterKey>>>,
    pub admin: Arc<dyn KafkaAdmin>,
    pub state: std::sync::Weak<ClusterState>,
    pub kafkas: Arc<Kafkas>,
    pub tx: watch::Sender<Observation>,
    pub updates: watch::Sender<u64>,
    pub cluster_updates: tokio::sync::broadcast::Sender<ClusterKey>,
    pub changes: tokio::sync::broadcast::Sender<Change>,
    pub resync: Duration,
    pub cancel: CancellationToken,
    pub refresh_now: Arc<Notify>,
    /// Shared by every cluster of the operator ([`CONCURRENT_SNAPSHOTS`]).
    pub snapshot_turns: Arc<tokio::sync::Semaphore>,
    /// How long one snapshot may hold its turn ([`snapshot_limit`]).
    pub snapshot_limit: Duration,
}

impl ObserveLoop {
    /// Looks at the cluster every resync (sooner when asked) until cancelled. A fresh start
    /// (also after a panic) has no previous snapshot, so its first look reconciles every topic.
    pub async fn run(&self) {
        let (key, admin, tx, cancel) = (&self.label, &self.admin, &self.tx, &self.cancel);
        let (weak, updates, resync) = (&self.state, &self.updates, self.resync);
        let refresh_now = &self.refresh_now;
        let mut failures: u32 = 0;
        let mut last: Option<Arc<ClusterSnapshot>> = None;
        let mut last_summary = None;
        loop {
            let (started, held, result) = tokio::select! {
                _ = cancel.cancelled() => return,
                r = snapshot_in_turn(admin.as_ref(), &self.snapshot_turns, self.snapshot_limit) => r,
            };
            let failures_before = failures;
            let wait = match result {
                Ok(snapshot) => {
                    if failures > 0 {
                        info!(cluster = %key, "Kafka reachable again");
                    }
                    failures = 0;
                    debug!(cluster = %key, topics = snapshot.topics.len(), "snapshot");
                    // Topics the operator re-read after a write are compared with that
                    // read, not with the previous snapshot: a change made behind its back
                    // between the two would otherwise look like no change at all.
                    let repatched = weak
                        .upgrade()
                        .map(|state| {
                            if let Some(id) = &snapshot.cluster_id {
                                self.kafkas.join(&state, id);
                            }
                            state.absorb_snapshot(started, &snapshot)
                        })
                        .unwrap_or_default();
                    let snapshot = Arc::new(snapshot);
                    let changed = if failures_before > 0 {
                        Changed::All
                    } else {
                        match diff(last.as_deref(), &snapshot) {
                            Changed::Topics(mut names) => {
                                let unchanged: std::collections::HashSet<&String> =
                                    repatched.unchanged.iter().collect();
                                names.retain(|name| !unchanged.contains(name));
                                names.extend(repatched.changed);
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
                    crate::util::memory::release_free_memory();
                    if changed != Changed::Topics(vec![]) {
                        self.send_change(changed);
                    }
                    resync
                }
                Err(KafkaError::Slow { api, detail }) if last.is_some() => {
                    // A slow answer is not an unreachable cluster: keep the last good view.
                    failures += 1;
                    let retry_in = retry_after(failures, resync, held);
                    let last_good = match &*tx.borrow() {
                        Observation::Observed { started, .. } => Some(*started),
                        _ => None,
                    };
                    let age = last_good.map(|t| t.elapsed().as_secs()).unwrap_or(0);
                    warn!(cluster = %key, api, %detail, "Kafka is slow; keeping the last good snapshot");
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
                    let retry_in = retry_after(failures, resync, held);
                    warn!(cluster = %key, %error, retry_in_s = retry_in.as_secs_f32(), "observing Kafka failed");
                    tx.send_replace(failed(&error, retry_in));
                    if failures == 1 {
                        self.send_change(Changed::All);
                    }
                    retry_in
                }
            };
            updates.send_modify(|n| *n = n.wrapping_add(1));
            let summary = summary(&tx.borrow());
            if last_summary != Some(summary) {
                last_summary = Some(summary);
                for cluster in lock(&self.attached).iter() {
                    let _ = self.cluster_updates.send(cluster.clone());
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
                _ = refresh_now.notified() => {}
            }
        }
    }
}

impl ObserveLoop {
    /// Sends what a look changed to every KafkaCluster using this observer.
    fn send_change(&self, changed: Changed) {
        for cluster in lock(&self.attached).iter() {
            let _ = self.changes.send(Change {
                cluster: cluster.clone(),
                changed: changed.clone(),
            });
        }
    }
}

/// What a KafkaCluster's status shows of an observation, as a hash: its status is looked at
/// again only when this changes, not after every look (with a hundred KafkaClusters, every look
/// of every one used to reconcile every one).
fn summary(observation: &Observation) -> u64 {
    let mut h = DefaultHasher::new();
    match observation {
        Observation::Pending => 0u8.hash(&mut h),
        Observation::Observed {
            snapshot, stale, ..
        } => {
            1u8.hash(&mut h);
            snapshot.cluster_id.hash(&mut h);
            format!("{:?}", snapshot.brokers).hash(&mut h);
            snapshot.broker_errors.hash(&mut h);
            snapshot.auto_create_brokers.hash(&mut h);
            snapshot.topics.keys().for_each(|name| name.hash(&mut h));
            stale.is_some().hash(&mut h);
            // What the KafkaCluster reconcile's throttle clean-up acts on: the last move ending
            // (or a broker's rate changing) must reconcile it, or the rates stay until the
            // safety net.
            snapshot.broker_overrides.hash(&mut h);
            super::throttles::moving_or_throttled(snapshot.topics.values()).hash(&mut h);
        }
        Observation::Failed {
            reason,
            message,
            retry_in,
        } => {
            2u8.hash(&mut h);
            reason.to_string().hash(&mut h);
            message.hash(&mut h);
            retry_in.hash(&mut h);
        }
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(snapshot: ClusterSnapshot) -> Observation {
        Observation::Observed {
            started: Instant::now(),
            snapshot: Arc::new(snapshot),
            stale: None,
        }
    }

    #[test]
    fn the_last_move_ending_changes_what_the_cluster_reconcile_acts_on() {
        let mut moving = crate::fixtures::observed_on("orders", 1, &[1, 2]);
        moving.partitions[0].adding = vec![2];
        let done = crate::fixtures::observed_on("orders", 1, &[1, 2]);
        let with = |t: &crate::model::ObservedTopic| ClusterSnapshot {
            topics: [("orders".to_string(), t.clone())].into(),
            ..Default::default()
        };
        // Same topics, same brokers: only the move ended. The throttle clean-up needs it.
        assert_ne!(
            summary(&observed(with(&moving))),
            summary(&observed(with(&done)))
        );
        assert_eq!(
            summary(&observed(with(&done))),
            summary(&observed(with(&done)))
        );
        // A config change of a topic is the topic controller's, not the cluster's.
        let mut retention = done.clone();
        retention.configs.insert(
            "retention.ms".into(),
            crate::model::ObservedConfig {
                value: Some("1000".into()),
                is_topic_override: true,
                kind: Default::default(),
            },
        );
        assert_eq!(
            summary(&observed(with(&done))),
            summary(&observed(with(&retention)))
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_resync_interval() {
        let resync = Duration::from_secs(30);
        let waits: Vec<u64> = (1..=7).map(|n| backoff(n, resync).as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 30, 30]);
    }

    #[test]
    fn a_look_that_held_its_turn_long_waits_three_times_as_long_before_the_next() {
        let resync = Duration::from_secs(30);
        let secs = |held: u64| retry_after(1, resync, Duration::from_secs(held)).as_secs();
        // A quick failure keeps the backoff; a look that ran into its deadline waits 3x its
        // length, capped at 5 minutes.
        assert_eq!(secs(0), 1);
        assert_eq!(secs(30), 90);
        assert_eq!(secs(200), 300);
    }
}
