//! The bulk-deletion hold: a namespace deleted, an Argo CD prune or a kustomize mistake deletes
//! many KafkaTopics at once, and with `deletionPolicy: Delete` each would take its topic's data
//! with it. More deletions on one KafkaCluster than its `policy.bulkDeletion` allows (those under
//! way plus those done within the window) hold every further deletion there until a person
//! confirms on the KafkaCluster (docs/deletion.md).
//!
//! A deletion waits until the KafkaCluster's deletions have been quiet for [`SETTLE`]: the
//! namespace controller and `kubectl delete` mark objects one after another, and judging the
//! first before the others are marked would let it through.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::ResourceExt;

use crate::api::condition::{Condition, find, merge_conditions};
use crate::api::{KafkaCluster, KafkaClusterStatus, KafkaTopic, Reason};
use crate::cluster::ClusterKey;
use crate::util::duration::format_duration;
use crate::util::sync::lock;

/// The KafkaCluster annotation that confirms a bulk deletion: deletions go on until this time
/// (RFC 3339).
pub const ALLOW_BULK_DELETION_ANNOTATION: &str =
    "kafka.topic-operator.dev/allow-bulk-deletion-until";

/// How long a KafkaCluster's deletions must have been quiet before one is judged.
pub const SETTLE: Duration = Duration::from_secs(3);

/// What the finalizer of a KafkaTopic being deleted may do now.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Delete the topic.
    Go,
    /// Look again after this long (deletions are still being marked).
    Wait(Duration),
    /// Held until confirmed: why, for the status and the event.
    Held(String),
}

/// The facts a decision is made on, for one KafkaCluster.
pub struct Facts {
    /// KafkaTopics with the Delete finalizer being deleted now, this one included.
    pub pending: usize,
    /// Since when the newest of them has been marked for deletion.
    pub quiet_for: Duration,
    /// Topics deleted within the window.
    pub done: usize,
    pub max_topics: u32,
    pub window: Duration,
    /// The confirmation annotation holds a time still to come.
    pub confirmed: bool,
}

pub fn decide(facts: &Facts) -> Decision {
    if facts.quiet_for < SETTLE {
        return Decision::Wait(SETTLE - facts.quiet_for);
    }
    if facts.confirmed
        || facts.max_topics == 0
        || facts.pending + facts.done <= facts.max_topics as usize
    {
        return Decision::Go;
    }
    Decision::Held(format!(
        "bulk deletion held: {} KafkaTopics with deletionPolicy Delete are being deleted and {} topics were deleted in the last {}, more than policy.bulkDeletion.maxTopics ({}) allows; nothing is deleted until someone confirms on the KafkaCluster (annotation {ALLOW_BULK_DELETION_ANNOTATION} with a time to allow deletions until), or sets deletionPolicy: Retain on the KafkaTopics to keep their topics",
        facts.pending,
        facts.done,
        format_duration(facts.window),
        facts.max_topics
    ))
}

/// Whether `cluster`'s confirmation annotation allows deletions at `now`.
pub fn confirmed(cluster: &KafkaCluster, now: DateTime<Utc>) -> bool {
    cluster
        .annotations()
        .get(ALLOW_BULK_DELETION_ANNOTATION)
        .and_then(|until| DateTime::parse_from_rfc3339(until.trim()).ok())
        .is_some_and(|until| until > now)
}

/// Why a deletion is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hold {
    /// For a bulk deletion to be confirmed on the KafkaCluster.
    Bulk,
    /// For its KafkaTopic to confirm deleting a topic in use (topic/in_use.rs).
    InUse,
}

/// What this process remembers per KafkaCluster: the topics it deleted (when), and the
/// KafkaTopics whose deletion it holds, by why.
#[derive(Default)]
pub struct DeletionGuard {
    deleted: Mutex<HashMap<ClusterKey, VecDeque<DateTime<Utc>>>>,
    held: Mutex<HashMap<(ClusterKey, Hold), BTreeSet<String>>>,
}

impl DeletionGuard {
    /// Topics deleted on `key` within `window` of `now`.
    pub fn done_within(&self, key: &ClusterKey, window: Duration, now: DateTime<Utc>) -> usize {
        let mut deleted = lock(&self.deleted);
        let Some(times) = deleted.get_mut(key) else {
            return 0;
        };
        let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
        while times.front().is_some_and(|at| *at + window < now) {
            times.pop_front();
        }
        times.len()
    }

    pub fn record_deleted(&self, key: &ClusterKey, now: DateTime<Utc>) {
        lock(&self.deleted)
            .entry(key.clone())
            .or_default()
            .push_back(now);
    }

    /// Marks `topic` (namespace/name) held for `hold` or not; true if that changed the count.
    pub fn set_held(&self, hold: Hold, key: &ClusterKey, topic: &str, held: bool) -> bool {
        let key = (key.clone(), hold);
        let mut all = lock(&self.held);
        let set = all.entry(key.clone()).or_default();
        let changed = if held {
            set.insert(topic.to_string())
        } else {
            set.remove(topic)
        };
        if set.is_empty() {
            all.remove(&key);
        }
        changed
    }

    /// The KafkaTopics whose deletion is held for `hold` on `key`.
    pub fn held(&self, hold: Hold, key: &ClusterKey) -> usize {
        lock(&self.held)
            .get(&(key.clone(), hold))
            .map_or(0, BTreeSet::len)
    }

    /// Keeps what is remembered of the KafkaClusters for which `exists` holds, and forgets the
    /// rest.
    pub fn retain(&self, exists: impl Fn(&ClusterKey) -> bool) {
        lock(&self.held).retain(|(key, _), _| exists(key));
        lock(&self.deleted).retain(|key, _| exists(key));
    }
}

/// Shows the held deletions in the KafkaCluster's status: `DeletionsHeld=True` while any is held,
/// `False` once an episode is over (absent before the first).
pub fn show_held(
    status: &mut KafkaClusterStatus,
    held: usize,
    cluster: &KafkaCluster,
    previous: Option<&KafkaClusterStatus>,
) {
    let before = previous.and_then(|p| find(&p.conditions, "DeletionsHeld"));
    let mut condition = if held > 0 {
        let name = cluster.metadata.name.clone().unwrap_or_default();
        Condition::new(
            "DeletionsHeld",
            true,
            Reason::BulkDeletion,
            format!(
                "{held} KafkaTopic deletions held: more than policy.bulkDeletion.maxTopics ({}) within {}; nothing is deleted until confirmed: kubectl annotate ktocluster {name} {ALLOW_BULK_DELETION_ANNOTATION}=<RFC 3339 time to allow deletions until>",
                cluster.spec.policy.bulk_deletion.max_topics,
                format_duration(cluster.spec.policy.bulk_deletion.window())
            ),
        )
    } else if before.is_some() {
        Condition::new(
            "DeletionsHeld",
            false,
            Reason::NoBulkDeletion,
            "no deletion held",
        )
    } else {
        return;
    };
    condition.observed_generation = cluster.metadata.generation;
    let mut conditions = status.conditions.clone();
    conditions.retain(|c| c.type_ != "DeletionsHeld");
    conditions.push(condition);
    status.conditions = merge_conditions(
        previous
            .map(|p| p.conditions.as_slice())
            .unwrap_or_default(),
        conditions,
    );
}

/// How many of `topics` (a KafkaCluster's) are being deleted with the Delete finalizer, and since
/// when the newest of them was marked.
pub fn pending(
    topics: impl IntoIterator<Item = std::sync::Arc<KafkaTopic>>,
    finalizer: &str,
    now: DateTime<Utc>,
) -> (usize, Duration) {
    let marked: Vec<DateTime<Utc>> = topics
        .into_iter()
        .filter(|t| t.finalizers().iter().any(|f| f == finalizer))
        .filter_map(|t| {
            let ts = t.metadata.deletion_timestamp.as_ref()?;
            DateTime::from_timestamp(ts.0.as_second(), ts.0.subsec_nanosecond() as u32)
        })
        .collect();
    let newest = marked.iter().max().copied().unwrap_or(now);
    let quiet = (now - newest).to_std().unwrap_or_default();
    (marked.len(), quiet)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(pending: usize, done: usize) -> Facts {
        Facts {
            pending,
            quiet_for: Duration::from_secs(10),
            done,
            max_topics: 5,
            window: Duration::from_secs(600),
            confirmed: false,
        }
    }

    #[test]
    fn deletions_within_the_limit_go() {
        assert_eq!(decide(&facts(1, 0)), Decision::Go);
        assert_eq!(decide(&facts(3, 2)), Decision::Go);
    }

    #[test]
    fn more_than_the_limit_is_held_and_says_how_to_confirm() {
        let Decision::Held(why) = decide(&facts(20, 0)) else {
            panic!("not held");
        };
        assert!(why.contains("20 KafkaTopics"), "{why}");
        assert!(why.contains("in the last 10m"), "{why}");
        assert!(why.contains(ALLOW_BULK_DELETION_ANNOTATION), "{why}");
        assert!(
            matches!(decide(&facts(1, 5)), Decision::Held(_)),
            "done count too"
        );
    }

    #[test]
    fn a_confirmation_or_no_limit_lets_them_go() {
        let mut f = facts(20, 0);
        f.confirmed = true;
        assert_eq!(decide(&f), Decision::Go);
        let mut f = facts(20, 0);
        f.max_topics = 0;
        assert_eq!(decide(&f), Decision::Go);
    }

    #[test]
    fn deletions_still_being_marked_wait() {
        let mut f = facts(1, 0);
        f.quiet_for = Duration::from_secs(1);
        assert_eq!(decide(&f), Decision::Wait(Duration::from_secs(2)));
    }

    #[test]
    fn the_confirmation_is_a_time_still_to_come() {
        let now = Utc::now();
        let cluster = |value: &str| -> KafkaCluster {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "kafka.topic-operator.dev/v1alpha1",
                "kind": "KafkaCluster",
                "metadata": {"name": "k", "annotations": {ALLOW_BULK_DELETION_ANNOTATION: value}},
                "spec": {"bootstrapServers": ["k:9092"]},
            }))
            .unwrap()
        };
        let later = (now + chrono::Duration::minutes(30)).to_rfc3339();
        let earlier = (now - chrono::Duration::minutes(1)).to_rfc3339();
        assert!(confirmed(&cluster(&later), now));
        assert!(!confirmed(&cluster(&earlier), now));
        assert!(!confirmed(&cluster("yes"), now));
    }

    #[test]
    fn deletions_are_counted_within_the_window() {
        let guard = DeletionGuard::default();
        let key: ClusterKey = ("ns".into(), "k".into());
        let now = Utc::now();
        guard.record_deleted(&key, now - chrono::Duration::minutes(20));
        guard.record_deleted(&key, now - chrono::Duration::minutes(5));
        guard.record_deleted(&key, now);
        assert_eq!(guard.done_within(&key, Duration::from_secs(600), now), 2);
        assert!(guard.set_held(Hold::Bulk, &key, "ns/a", true));
        assert!(!guard.set_held(Hold::Bulk, &key, "ns/a", true));
        assert_eq!(guard.held(Hold::Bulk, &key), 1);
        assert_eq!(guard.held(Hold::InUse, &key), 0, "counted by why");
        assert!(guard.set_held(Hold::Bulk, &key, "ns/a", false));
        assert_eq!(guard.held(Hold::Bulk, &key), 0);
        guard.set_held(Hold::Bulk, &key, "ns/b", true);
        guard.set_held(Hold::InUse, &key, "ns/c", true);
        guard.retain(|_| true);
        assert_eq!(
            guard.held(Hold::Bulk, &key),
            1,
            "kept while the KafkaCluster exists"
        );
        assert_eq!(guard.held(Hold::InUse, &key), 1);
        guard.retain(|_| false);
        assert_eq!(guard.held(Hold::Bulk, &key), 0, "forgotten once it is gone");
        assert_eq!(guard.held(Hold::InUse, &key), 0);
        assert_eq!(guard.done_within(&key, Duration::from_secs(600), now), 0);
    }
}
