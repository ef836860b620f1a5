//! Yielding the apiserver to a user's bulk apply of KafkaTopics.
//!
//! A GitOps sync or a `kubectl apply` of thousands of KafkaTopics sends one request at a time;
//! every status write and event of the operator's that lands meanwhile is queued beside it on
//! the same apiserver and etcd, and at 5000 topics those writes made the user's apply four times
//! slower than the same apply beside the same broker work (docs/benchmarks.md). Nobody reads a
//! status before their apply has returned, so while new KafkaTopics arrive faster than
//! [`Limits::arrivals`] a second, the operator keeps creating their topics in Kafka but holds its
//! status writes and events, and writes them once the arrivals stop. A hold never lasts longer
//! than [`Limits::max_hold`]: a sync that never ends still gets its statuses.
//!
//! Arrivals are KafkaTopics that reach the watch with no status of the operator's yet (a new
//! object, see [`is_new`]); the initial list and the operator's own status writes are not
//! arrivals.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use kube::runtime::reflector::ObjectRef;
use tokio::time::Instant;

use crate::api::KafkaTopic;
use crate::util::sync::lock;

/// When arrivals make a bulk apply, and how long it may hold the operator's writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// New KafkaTopics within `window` that make a bulk apply (0: never hold). A person applying
    /// a directory of a dozen topics is not held; `kubectl apply` of hundreds sends 40-250 a
    /// second.
    pub arrivals: usize,
    /// How far back arrivals count: the hold ends this long after the arrivals thin out.
    pub window: Duration,
    /// The longest the operator's writes are held, from the start of a bulk apply.
    pub max_hold: Duration,
}

/// 20 new KafkaTopics a second hold writes, for at most 60 s.
pub const DEFAULT_LIMITS: Limits = Limits {
    arrivals: 20,
    window: Duration::from_secs(1),
    max_hold: Duration::from_secs(60),
};

impl Default for Limits {
    fn default() -> Self {
        DEFAULT_LIMITS
    }
}

/// How often a held write looks again.
const POLL: Duration = Duration::from_millis(250);

/// A KafkaTopic the operator has written no status for: none at all, or only the CRD's default
/// (`observedGeneration: -1`, which the apiserver fills in before the first write).
pub fn is_new(topic: &KafkaTopic) -> bool {
    topic.metadata.deletion_timestamp.is_none()
        && topic
            .status
            .as_ref()
            .is_none_or(|s| s.observed_generation.is_none_or(|g| g < 0) && s.conditions.is_empty())
}

#[derive(Default)]
pub struct BulkApply {
    limits: Limits,
    state: Mutex<State>,
    /// Wakes the events waiting out a hold, once [`BulkApply::releases`] sees it end.
    opened: tokio::sync::Notify,
}

#[derive(Default)]
struct State {
    /// When each KafkaTopic within the last [`Limits::window`] arrived.
    arrivals: VecDeque<Instant>,
    /// When the current bulk apply began (None: no bulk apply under way).
    since: Option<Instant>,
    /// KafkaTopics whose status write was held, to reconcile once the hold ends.
    deferred: HashSet<ObjectRef<KafkaTopic>>,
}

impl State {
    fn holding(&mut self, limits: &Limits, now: Instant) -> bool {
        while self
            .arrivals
            .front()
            .is_some_and(|at| now.duration_since(*at) > limits.window)
        {
            self.arrivals.pop_front();
        }
        if limits.arrivals == 0 || self.arrivals.len() < limits.arrivals {
            self.since = None;
            return false;
        }
        let since = *self.since.get_or_insert(now);
        now.duration_since(since) < limits.max_hold
    }
}

impl BulkApply {
    pub fn new(limits: Limits) -> Self {
        BulkApply {
            limits,
            ..BulkApply::default()
        }
    }

    /// A new KafkaTopic reached the watch.
    pub fn arrived(&self, now: Instant) {
        let mut state = lock(&self.state);
        state.arrivals.push_back(now);
        state.holding(&self.limits, now);
    }

    /// Whether the operator's writes are held now.
    pub fn holding(&self, now: Instant) -> bool {
        lock(&self.state).holding(&self.limits, now)
    }

    /// Holds `topic`'s status write if a bulk apply is under way: true if held (the KafkaTopic is
    /// handed back by [`BulkApply::released`] when the hold ends), false to write now.
    pub fn defer(&self, topic: ObjectRef<KafkaTopic>, now: Instant) -> bool {
        let mut state = lock(&self.state);
        if !state.holding(&self.limits, now) {
            return false;
        }
        state.deferred.insert(topic);
        true
    }

    /// The held KafkaTopics, once the hold has ended (and nothing while it lasts).
    pub fn released(&self, now: Instant) -> Vec<ObjectRef<KafkaTopic>> {
        let mut state = lock(&self.state);
        if state.holding(&self.limits, now) {
            return vec![];
        }
        state.deferred.drain().collect()
    }

    /// Waits out a hold (for an event: posted after the bulk apply, in the background). Thousands
    /// of events may wait at once: each sleeps until the hold ends, woken by
    /// [`BulkApply::releases`], rather than looking again and again.
    pub async fn wait_out(&self) {
        loop {
            let opened = self.opened.notified();
            if !self.holding(Instant::now()) {
                return;
            }
            // Bounded even if nothing polls the releases: no hold outlasts max_hold.
            let _ = tokio::time::timeout(self.limits.max_hold, opened).await;
        }
    }

    /// The KafkaTopics whose held status writes are due, as a stream for the controller:
    /// polled every [`POLL`], which also wakes the events waiting out the hold once it ends.
    pub fn releases(
        self: std::sync::Arc<Self>,
    ) -> impl futures::Stream<Item = ObjectRef<KafkaTopic>> + Send + 'static {
        use futures::StreamExt;
        futures::stream::unfold(self, |gate| async move {
            tokio::time::sleep(POLL).await;
            let released = gate.released(Instant::now());
            if !gate.holding(Instant::now()) {
                gate.opened.notify_waiters();
            }
            Some((futures::stream::iter(released), gate))
        })
        .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str) -> ObjectRef<KafkaTopic> {
        ObjectRef::new(name).within("team")
    }

    /// `n` arrivals spread evenly over `over`, starting at `start`; returns the last one's time.
    fn arrive(gate: &BulkApply, start: Instant, n: usize, over: Duration) -> Instant {
        let mut at = start;
        for i in 0..n {
            at = start + over.mul_f64(i as f64 / n as f64);
            gate.arrived(at);
        }
        at
    }

    #[test]
    fn new_is_without_a_status_of_the_operators() {
        let mut topic: KafkaTopic = serde_json::from_value(serde_json::json!({
            "apiVersion": "kafka.topic-operator.dev/v1alpha1",
            "kind": "KafkaTopic",
            "metadata": {"name": "a", "namespace": "team"},
            "spec": {"clusterRef": {"name": "kafka"}, "partitions": 1},
        }))
        .unwrap();
        assert!(is_new(&topic), "no status");
        topic.status =
            serde_json::from_value(serde_json::json!({"observedGeneration": -1})).unwrap();
        assert!(is_new(&topic), "the CRD's default status");
        topic.status =
            serde_json::from_value(serde_json::json!({"observedGeneration": 1})).unwrap();
        assert!(!is_new(&topic), "a status the operator wrote");
    }

    #[test]
    fn a_few_new_topics_are_not_held() {
        let gate = BulkApply::default();
        let now = Instant::now();
        let last = arrive(
            &gate,
            now,
            DEFAULT_LIMITS.arrivals - 1,
            Duration::from_millis(500),
        );
        assert!(!gate.holding(last));
        assert!(!gate.defer(topic("a"), last));
        assert!(gate.released(last).is_empty());
    }

    #[test]
    fn a_bulk_apply_holds_writes_until_arrivals_stop() {
        let gate = BulkApply::default();
        let now = Instant::now();
        let last = arrive(&gate, now, 200, Duration::from_secs(4));
        assert!(gate.holding(last));
        assert!(gate.defer(topic("a"), last));
        assert!(gate.defer(topic("b"), last));
        assert!(
            gate.released(last).is_empty(),
            "nothing released while held"
        );
        let after = last + DEFAULT_LIMITS.window + Duration::from_millis(1);
        assert!(!gate.holding(after));
        let mut released = gate.released(after);
        released.sort_by_key(|r| r.name.clone());
        assert_eq!(released, vec![topic("a"), topic("b")]);
        assert!(gate.released(after).is_empty(), "released once");
    }

    #[test]
    fn a_hold_ends_after_max_hold_even_while_arrivals_go_on() {
        let gate = BulkApply::default();
        let now = Instant::now();
        let last = arrive(
            &gate,
            now,
            100 * DEFAULT_LIMITS.max_hold.as_secs() as usize,
            DEFAULT_LIMITS.max_hold,
        );
        assert!(gate.holding(last), "still within the longest hold");
        let beyond = arrive(
            &gate,
            now + DEFAULT_LIMITS.max_hold,
            100,
            Duration::from_millis(999),
        );
        assert!(
            !gate.holding(beyond),
            "arrivals go on, but the hold is over"
        );
        assert!(!gate.defer(topic("a"), beyond));
    }

    #[tokio::test(start_paused = true)]
    async fn held_events_are_woken_when_the_hold_ends() {
        use futures::StreamExt;
        let gate = std::sync::Arc::new(BulkApply::default());
        let start = Instant::now();
        let last = arrive(&gate, start, 100, Duration::from_millis(500));
        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { gate.wait_out().await }
        });
        let mut releases = Box::pin(gate.clone().releases());
        tokio::spawn(async move { while releases.next().await.is_some() {} });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!waiting.is_finished(), "held while the arrivals are recent");
        waiting.await.unwrap();
        // The hold ends at the latest a window after the last arrival; woken within a poll of
        // that, not at max_hold.
        let woken = Instant::now();
        assert!(
            woken <= last + DEFAULT_LIMITS.window + POLL,
            "woken {:?} after the last arrival",
            woken - last
        );
    }

    #[test]
    fn zero_arrivals_never_holds() {
        let gate = BulkApply::new(Limits {
            arrivals: 0,
            ..DEFAULT_LIMITS
        });
        let last = arrive(&gate, Instant::now(), 500, Duration::from_millis(500));
        assert!(!gate.holding(last));
    }

    #[test]
    fn a_later_bulk_apply_holds_again() {
        let gate = BulkApply::default();
        let now = Instant::now();
        let first = arrive(
            &gate,
            now,
            100 * DEFAULT_LIMITS.max_hold.as_secs() as usize,
            DEFAULT_LIMITS.max_hold,
        );
        let quiet = first + DEFAULT_LIMITS.window + Duration::from_millis(1);
        assert!(!gate.holding(quiet));
        let second = arrive(&gate, quiet, 50, Duration::from_millis(500));
        assert!(gate.holding(second), "a new bulk apply starts a new hold");
    }
}
