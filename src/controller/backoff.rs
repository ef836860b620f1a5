//! Retry delays of failing reconciles: exponential per object, capped, and forgotten on the
//! object's first success, so a persistent failure costs little and a transient one recovers fast.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::util::sync::lock;
use std::time::Duration;

/// First retry after a failure.
pub const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Longest wait between retries.
pub const MAX_RETRY: Duration = Duration::from_secs(300);

/// Consecutive failures per object (kind/namespace/name).
#[derive(Default)]
pub struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    /// Records a failure of `key` and returns how long to wait before the next try:
    /// 1 s, 2 s, 4 s, ... up to 5 minutes.
    pub fn failed(&self, key: &str) -> Duration {
        let mut failures = lock(&self.failures);
        let n = failures.entry(key.to_string()).or_default();
        *n = n.saturating_add(1);
        delay(*n)
    }

    /// Forgets the failures of `key`.
    pub fn succeeded(&self, key: &str) {
        let mut failures = lock(&self.failures);
        failures.remove(key);
    }

    /// Forgets the failures of every object for which `exists` is false: an object deleted
    /// while failing is never reconciled again, so its entry would stay for good.
    pub fn retain(&self, exists: impl Fn(&str) -> bool) {
        lock(&self.failures).retain(|key, _| exists(key));
    }

    /// The objects whose failures are remembered.
    pub fn keys(&self) -> Vec<String> {
        lock(&self.failures).keys().cloned().collect()
    }
}

/// The wait after `failures` consecutive failures.
pub fn delay(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    (FIRST_RETRY * 2u32.pow(doublings)).min(MAX_RETRY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets_on_success() {
        let b = Backoff::default();
        let waits: Vec<u64> = (0..11).map(|_| b.failed("kt/ns/a").as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(b.failed("kt/ns/b"), FIRST_RETRY, "per object");
        b.succeeded("kt/ns/a");
        assert_eq!(b.failed("kt/ns/a"), FIRST_RETRY);
        assert_eq!(delay(u32::MAX), MAX_RETRY);
    }

    #[test]
    fn entries_of_objects_that_are_gone_are_dropped() {
        let b = Backoff::default();
        b.failed("kt/ns/gone");
        b.failed("kt/ns/gone");
        b.failed("kt/ns/kept");
        b.retain(|key| key != "kt/ns/gone");
        assert_eq!(b.keys(), vec!["kt/ns/kept".to_string()]);
        assert_eq!(b.failed("kt/ns/gone"), FIRST_RETRY);
    }
}
