//! The statuses this process wrote that its cache may not show yet.
//!
//! A status-only change wakes no reconcile (triggers.rs), so a reconcile can run on a cached
//! object older than the status the previous reconcile just wrote: the snapshot that woke it
//! came before the write's echo. Compared with that older status, a new one equal to it looks
//! like "nothing to write" while the stored status says something else (a topic that recovered
//! kept the Degraded status written a moment before). Each reconcile therefore starts from the
//! status it last wrote for as long as the cache holds a version of the object from before
//! that write.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::api::{KafkaClusterStatus, KafkaTopicStatus};
use crate::util::sync::lock;

/// Both kinds' written statuses, shared by the watches (which see the echoes) and the
/// reconciles.
#[derive(Default)]
pub struct WrittenStatuses {
    pub topics: Written<KafkaTopicStatus>,
    pub clusters: Written<KafkaClusterStatus>,
    /// Per KafkaTopic (by uid): the start of the Degraded episode whose event was posted.
    pub degraded_announced: Mutex<HashMap<String, DateTime<Utc>>>,
}

/// Versions of one object the cache may still show, and the status written after them.
struct Entry<S> {
    /// Resource versions that do not hold `status` yet (written over, or produced by an
    /// earlier write); a few at most.
    before: Vec<String>,
    /// The resource version the last write produced: once the cache shows it, it is current.
    written: Option<String>,
    status: S,
}

/// The last status written per object (by uid) while the cache may lag behind it.
pub struct Written<S> {
    by_uid: Mutex<HashMap<String, Entry<S>>>,
}

impl<S> Default for Written<S> {
    fn default() -> Self {
        Written {
            by_uid: Mutex::new(HashMap::new()),
        }
    }
}

/// Versions remembered per object: a reconcile writes once per cached version at most, so a
/// cache that lags by more writes than this is far behind anyway (its next event wakes one).
const VERSIONS_KEPT: usize = 8;

impl<S: Clone> Written<S> {
    /// `status` was written over the object version `over` and produced version `written`.
    pub fn record(&self, over: &ObjectMeta, written: Option<String>, status: S) {
        let (Some(uid), Some(version)) = (&over.uid, &over.resource_version) else {
            return;
        };
        let mut by_uid = lock(&self.by_uid);
        let entry = by_uid.entry(uid.clone()).or_insert_with(|| Entry {
            before: vec![],
            written: None,
            status: status.clone(),
        });
        entry.before.push(version.clone());
        entry.before.extend(entry.written.take());
        entry.before.dedup();
        if entry.before.len() > VERSIONS_KEPT {
            entry.before.remove(0);
        }
        entry.written = written;
        entry.status = status;
    }

    /// The status to reconcile from when the cached object `meta` predates the last write;
    /// None when the cache is current (and the entry is dropped).
    pub fn newer_than(&self, meta: &ObjectMeta) -> Option<S> {
        let uid = meta.uid.as_ref()?;
        let mut by_uid = lock(&self.by_uid);
        let entry = by_uid.get(uid)?;
        match &meta.resource_version {
            Some(version) if entry.before.contains(version) => Some(entry.status.clone()),
            _ => {
                by_uid.remove(uid);
                None
            }
        }
    }

    /// The cache now shows `meta`: nothing to remember if it holds the last write.
    pub fn seen(&self, meta: &ObjectMeta) {
        let Some(uid) = &meta.uid else { return };
        let mut by_uid = lock(&self.by_uid);
        if by_uid
            .get(uid)
            .is_some_and(|e| e.written.is_some() && e.written == meta.resource_version)
        {
            by_uid.remove(uid);
        }
    }

    /// The object is gone.
    pub fn forget(&self, meta: &ObjectMeta) {
        if let Some(uid) = &meta.uid {
            lock(&self.by_uid).remove(uid);
        }
    }

    /// Objects whose last write the cache may not show yet.
    pub fn pending(&self) -> usize {
        lock(&self.by_uid).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(version: &str) -> ObjectMeta {
        ObjectMeta {
            uid: Some("u".into()),
            resource_version: Some(version.into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_cache_behind_the_last_write_is_read_with_the_written_status() {
        let written = Written::default();
        assert_eq!(written.newer_than(&meta("10")), None);
        written.record(&meta("10"), Some("11".into()), "degraded");
        // The next reconcile still sees version 10: it starts from what was written.
        assert_eq!(written.newer_than(&meta("10")), Some("degraded"));
        // A second write over the same stale version, then the cache catches up step by step.
        written.record(&meta("10"), Some("12".into()), "healthy");
        assert_eq!(written.newer_than(&meta("10")), Some("healthy"));
        assert_eq!(written.newer_than(&meta("11")), Some("healthy"));
        written.seen(&meta("11"));
        assert_eq!(written.pending(), 1);
        written.seen(&meta("12"));
        assert_eq!(written.pending(), 0);
        assert_eq!(written.newer_than(&meta("12")), None);
    }

    #[test]
    fn a_version_it_did_not_write_over_is_current() {
        let written = Written::default();
        written.record(&meta("10"), Some("11".into()), "degraded");
        // Someone changed the object after the write (a new spec): the cache holds the write.
        assert_eq!(written.newer_than(&meta("13")), None);
        assert_eq!(written.pending(), 0);
        written.record(&meta("13"), Some("14".into()), "x");
        written.forget(&meta("14"));
        assert_eq!(written.pending(), 0);
    }
}
