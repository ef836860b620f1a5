//! Yielding the apiserver to a user's bulk apply of KafkaTopics.
//!
//! A GitOps sync or a `kubectl apply` of thousands of KafkaTopics sends one request at a time;
//! every status write and event of the operator's that lands meanwhile is queued beside it on
//! the same apiserver and etcd, and at 5000 topics those writes made the user's apply four times
//! slower than the same apply beside the same broker work (docs/benchmarks.md). Nobody reads a
//! status before their apply has returned, so while new KafkaTopics arrive faster than
//! [`BULK_ARRIVALS`] a second, the operator keeps creating their topics in Kafka but holds its
//! status writes and events, and writes them once the arrivals stop. A hold never lasts longer
//! than [`MAX_HOLD`]: a sync that never ends still gets its statuses.
//!
//! Arrivals are KafkaTopics that reach the watch with no status yet (a new object); the
//! initial list and the operator's own status writes are not arrivals.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use kube::runtime::reflector::ObjectRef;
use tokio::time::Instant;

use crate::api::KafkaTopic;
use crate::util::sync::lock;

/// New KafkaTopics within [`WINDOW`] that make an arrival a bulk apply. A person applying a
/// directory of a dozen topics is not held; `kubectl apply` of hundreds sends 40-250 a second.
pub const BULK_ARRIVALS: usize = 20;

/// How far back arrivals count: the hold ends this long after the last burst of arrivals.
pub const WINDOW: Duration = Duration::from_secs(1);

/// The longest the operator's writes are held, from the start of a bulk apply.
pub const MAX_HOLD: Duration = Duration::from_secs(60);

/// How often a held write looks again.
const POLL: Duration = Duration::from_millis(250);

#[derive(Default)]
pub struct BulkApply {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// When each KafkaTopic within the last [`WINDOW`] arrived.
    arrivals: VecDeque<Instant>,
    /// When the current bulk apply began (None: no bulk apply under way).
    since: Option<Instant>,
    /// KafkaTopics whose status write was held, to reconcile once the hold ends.
    deferred: HashSet<ObjectRef<KafkaTopic>>,
}

impl State {
    fn holding(&mut self, now: Instant) -> bool {
        while self
            .arrivals
            .front()
            .is_some_and(|at| now.duration_since(*at) > WINDOW)
        {
            self.arrivals.pop_front();
        }
        if self.arrivals.len() < BULK_ARRIVALS {
            self.since = None;
            return false;
        }
        let since = *self.since.get_or_insert(now);
        now.duration_since(since) < MAX_HOLD
    }
}

impl BulkApply {
    /// A new KafkaTopic reached the watch.
    pub fn arrived(&self, now: Instant) {
        let mut state = lock(&self.state);
        state.arrivals.push_back(now);
        state.holding(now);
    }

    /// Whether the operator's writes are held now.
    pub fn holding(&self, now: Instant) -> bool {
        lock(&self.state).holding(now)
    }

    /// Holds `topic`'s status write if a bulk apply is under way: true if held (the KafkaTopic is
    /// handed back by [`BulkApply::released`] when the hold ends), false to write now.
    pub fn defer(&self, topic: ObjectRef<KafkaTopic>, now: Instant) -> bool {
        let mut state = lock(&self.state);
        if !state.holding(now) {
            return false;
        }
        state.deferred.insert(topic);
        true
    }

    /// The held KafkaTopics, once the hold has ended (and nothing while it lasts).
    pub fn released(&self, now: Instant) -> Vec<ObjectRef<KafkaTopic>> {
        let mut state = lock(&self.state);
        if state.holding(now) {
            return vec![];
        }
        state.deferred.drain().collect()
    }

    /// Waits out a hold (for an event: posted after the bulk apply, in the background).
    pub async fn wait_out(&self) {
        while self.holding(Instant::now()) {
            tokio::time::sleep(POLL).await;
        }
    }

    /// The KafkaTopics whose held status writes are due, as a stream for the controller:
    /// polled every [`POLL`].
    pub fn releases(
        self: std::sync::Arc<Self>,
    ) -> impl futures::Stream<Item = ObjectRef<KafkaTopic>> + Send + 'static {
        use futures::StreamExt;
        futures::stream::unfold(self, |gate| async move {
            tokio::time::sleep(POLL).await;
            let released = gate.released(Instant::now());
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
    fn a_few_new_topics_are_not_held() {
        let gate = BulkApply::default();
        let now = Instant::now();
        let last = arrive(&gate, now, BULK_ARRIVALS - 1, Duration::from_millis(500));
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
        let after = last + WINDOW + Duration::from_millis(1);
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
        let last = arrive(&gate, now, 100 * MAX_HOLD.as_secs() as usize, MAX_HOLD);
        assert!(gate.holding(last), "still within the longest hold");
        let beyond = arrive(&gate, now + MAX_HOLD, 100, Duration::from_millis(999));
        assert!(
            !gate.holding(beyond),
            "arrivals go on, but the hold is over"
        );
        assert!(!gate.defer(topic("a"), beyond));
    }

    #[test]
    fn a_later_bulk_apply_holds_again() {
        let gate = BulkApply::default();
        let now = Instant::now();
        let first = arrive(&gate, now, 100 * MAX_HOLD.as_secs() as usize, MAX_HOLD);
        let quiet = first + WINDOW + Duration::from_millis(1);
        assert!(!gate.holding(quiet));
        let second = arrive(&gate, quiet, 50, Duration::from_millis(500));
        assert!(gate.holding(second), "a new bulk apply starts a new hold");
    }
}
