//! The topics of a Kafka that no KafkaTopic declares, through any KafkaCluster for that Kafka:
//! the same answer for every one of its KafkaClusters, so it is worked out once per snapshot and
//! change of the declared topics, not once per KafkaCluster. With hundreds of KafkaClusters for
//! one Kafka, a topic created by another client reconciles each of them (its status counts the
//! topics), and each working it out again cost KafkaClusters x topics.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use crate::cluster::ClusterKey;
use crate::model::ClusterSnapshot;
use crate::util::sync::lock;

/// How many unmanaged topic names the status lists.
pub const NAMES_SHOWN: usize = 20;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Unmanaged {
    pub count: usize,
    /// The first [`NAMES_SHOWN`], by name.
    pub names: Vec<String>,
}

/// Pure: the topics of `snapshot` that are neither Kafka's own nor `declared`.
pub fn unmanaged(snapshot: &ClusterSnapshot, declared: &BTreeSet<String>) -> Unmanaged {
    let mut names = snapshot
        .topics
        .values()
        .filter(|t| !t.is_internal && !t.name.starts_with("__") && !declared.contains(&t.name))
        .map(|t| &t.name);
    let shown: Vec<String> = names.by_ref().take(NAMES_SHOWN).cloned().collect();
    Unmanaged {
        count: shown.len() + names.count(),
        names: shown,
    }
}

struct Entry {
    /// Held so that the snapshot's address is not reused while the entry is kept.
    snapshot: Arc<ClusterSnapshot>,
    clusters: Vec<ClusterKey>,
    index_generation: u64,
    unmanaged: Unmanaged,
}

/// The last answer per snapshot (one per connection observed).
#[derive(Default)]
pub struct UnmanagedCache {
    entries: Mutex<Vec<Entry>>,
}

impl UnmanagedCache {
    /// The unmanaged topics of `snapshot`, where `clusters` are the KafkaClusters for its Kafka
    /// and `index_generation` the topic index's generation; `declared` (the topics they declare)
    /// is called only when that answer is not known yet.
    pub fn get(
        &self,
        snapshot: &Arc<ClusterSnapshot>,
        clusters: &[ClusterKey],
        index_generation: u64,
        declared: impl FnOnce() -> BTreeSet<String>,
    ) -> Unmanaged {
        let mut entries = lock(&self.entries);
        if let Some(entry) = entries.iter().find(|e| {
            Arc::ptr_eq(&e.snapshot, snapshot)
                && e.clusters == clusters
                && e.index_generation == index_generation
        }) {
            return entry.unmanaged.clone();
        }
        let answer = unmanaged(snapshot, &declared());
        // Only snapshots someone else still holds (an observer's current one) are worth keeping.
        entries
            .retain(|e| Arc::strong_count(&e.snapshot) > 1 && !Arc::ptr_eq(&e.snapshot, snapshot));
        entries.push(Entry {
            snapshot: snapshot.clone(),
            clusters: clusters.to_vec(),
            index_generation,
            unmanaged: answer.clone(),
        });
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    fn snapshot(names: &[&str]) -> Arc<ClusterSnapshot> {
        Arc::new(ClusterSnapshot {
            topics: names
                .iter()
                .map(|n| (n.to_string(), fixtures::observed_on(n, 1, &[1])))
                .collect(),
            ..Default::default()
        })
    }

    #[test]
    fn kafkas_own_and_declared_topics_are_not_unmanaged_and_names_are_capped() {
        let mut names: Vec<String> = (0..25).map(|i| format!("stray-{i:02}")).collect();
        names.extend(["orders".into(), "__consumer_offsets".into()]);
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let found = unmanaged(&snapshot(&refs), &["orders".to_string()].into());
        assert_eq!(found.count, 25);
        assert_eq!(found.names.len(), NAMES_SHOWN);
        assert_eq!(found.names[0], "stray-00");
    }

    #[test]
    fn worked_out_once_per_snapshot_clusters_and_index_generation() {
        let cache = UnmanagedCache::default();
        let look = snapshot(&["a", "b"]);
        let clusters: Vec<ClusterKey> = vec![("ns".into(), "kafka".into())];
        let calls = std::cell::Cell::new(0);
        let declared = || {
            calls.set(calls.get() + 1);
            BTreeSet::from(["a".to_string()])
        };
        assert_eq!(cache.get(&look, &clusters, 1, declared).count, 1);
        assert_eq!(cache.get(&look, &clusters, 1, declared).names, vec!["b"]);
        assert_eq!(calls.get(), 1, "the same question answered from the cache");
        cache.get(&look, &clusters, 2, declared);
        assert_eq!(calls.get(), 2, "the declared topics changed");
        cache.get(&snapshot(&["a", "b"]), &clusters, 2, declared);
        assert_eq!(calls.get(), 3, "a new snapshot");
    }
}
