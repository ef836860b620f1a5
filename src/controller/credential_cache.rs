//! The credentials each KafkaCluster resolved from its Secrets, kept between reconciles. A
//! KafkaCluster's Secrets are read again when the KafkaCluster object changes (any change: its
//! spec, an annotation, its status), when its connection fails (a rotated password shows as a
//! failed login, and the observer's backoff bounds how often), and at least every [`REREAD`];
//! not on every reconcile, which with a hundred KafkaClusters read Secrets hundreds of times a
//! minute. Secrets are not watched (that would take list and watch on every Secret).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::cluster::ClusterKey;
use crate::kafka::security::Security;
use crate::util::sync::lock;

/// How long resolved credentials are used before the Secrets are read again regardless.
pub const REREAD: Duration = Duration::from_secs(600);

struct Entry {
    version: Option<String>,
    read_at: Instant,
    security: Security,
}

#[derive(Default)]
pub struct CredentialCache {
    entries: Mutex<HashMap<ClusterKey, Entry>>,
}

impl CredentialCache {
    /// The credentials resolved for `key` at this `version` of the KafkaCluster (its
    /// resourceVersion), unless they are due a re-read (too old, or the connection made with
    /// them is failing).
    pub fn get(
        &self,
        key: &ClusterKey,
        version: Option<&str>,
        connection_failing: bool,
    ) -> Option<Security> {
        if connection_failing {
            return None;
        }
        lock(&self.entries)
            .get(key)
            .filter(|e| e.version.as_deref() == version && e.read_at.elapsed() < REREAD)
            .map(|e| e.security.clone())
    }

    pub fn put(&self, key: &ClusterKey, version: Option<&str>, security: &Security) {
        lock(&self.entries).insert(
            key.clone(),
            Entry {
                version: version.map(String::from),
                read_at: Instant::now(),
                security: security.clone(),
            },
        );
    }

    /// Keeps only the KafkaClusters that pass `keep`.
    pub fn retain(&self, keep: impl Fn(&ClusterKey) -> bool) {
        lock(&self.entries).retain(|k, _| keep(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ClusterKey {
        ("ns".into(), "kafka".into())
    }

    #[tokio::test(start_paused = true)]
    async fn kept_for_the_same_object_until_reread_or_a_failing_connection() {
        let cache = CredentialCache::default();
        assert!(cache.get(&key(), Some("1"), false).is_none());
        cache.put(&key(), Some("1"), &Security::plaintext());
        assert!(cache.get(&key(), Some("1"), false).is_some());
        assert!(
            cache.get(&key(), Some("2"), false).is_none(),
            "object changed"
        );
        assert!(
            cache.get(&key(), Some("1"), true).is_none(),
            "login failing"
        );
        tokio::time::advance(REREAD).await;
        assert!(cache.get(&key(), Some("1"), false).is_none(), "too old");
    }
}
