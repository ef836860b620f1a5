//! The client's connections to individual brokers (for what only that broker answers: its own
//! configs), at most [`BROKER_CONNECTIONS`] of them open at once.
//!
//! Why a cap: a snapshot asks every broker the metadata lists for its configs, all at once. With
//! one connection kept per broker, a KafkaCluster of 500 brokers would hold 500 sockets (and
//! their TLS state) for as long as the operator runs, per KafkaCluster. With the cap, a cluster
//! up to the cap's size keeps a connection to every broker as before, and a larger one reuses
//! the slots: the least recently used idle connection is closed to make room, and a request that
//! finds every slot busy waits for one (within its operation's deadline).

use std::collections::HashMap;
use std::sync::{Arc, Mutex as SyncMutex};

use tokio::sync::{Mutex, Notify};

use crate::util::sync::lock;

/// Open broker connections per client. Above a typical cluster's broker count, so those keep
/// one connection per broker; small enough that a 500-broker cluster costs 16 sockets, not 500.
pub(super) const BROKER_CONNECTIONS: usize = 16;

/// One broker's connection (None until connected, or after it broke).
pub(super) type Slot<C> = Arc<Mutex<Option<C>>>;

pub(super) struct BrokerPool<C> {
    cap: usize,
    state: SyncMutex<State<C>>,
    /// Signalled whenever a checkout ends (a slot may have become idle).
    released: Notify,
}

struct State<C> {
    slots: HashMap<i32, Entry<C>>,
    /// Ticks at every checkout: orders the slots by last use.
    clock: u64,
}

struct Entry<C> {
    slot: Slot<C>,
    last_used: u64,
    /// Checkouts under way: a slot in use is never closed.
    users: usize,
}

/// The use of one broker's slot; the slot stays open while this lives.
pub(super) struct Checkout<'a, C> {
    pool: &'a BrokerPool<C>,
    broker: i32,
    /// Always Some until dropped.
    slot: Option<Slot<C>>,
}

impl<C> Checkout<'_, C> {
    pub(super) fn slot(&self) -> &Slot<C> {
        self.slot
            .as_ref()
            .expect("a checkout holds its slot until dropped")
    }
}

impl<C> Drop for Checkout<'_, C> {
    fn drop(&mut self) {
        let Some(slot) = self.slot.take() else { return };
        let mut state = lock(&self.pool.state);
        let ours = state
            .slots
            .get(&self.broker)
            .is_some_and(|entry| Arc::ptr_eq(&entry.slot, &slot));
        // Let go of the connection before the slot counts as idle: closing an idle slot then
        // drops the last reference, so no connection outlives its place in the pool.
        drop(slot);
        if ours && let Some(entry) = state.slots.get_mut(&self.broker) {
            entry.users -= 1;
        }
        drop(state);
        self.pool.released.notify_waiters();
    }
}

impl<C> BrokerPool<C> {
    pub(super) fn new(cap: usize) -> Self {
        BrokerPool {
            cap: cap.max(1),
            state: SyncMutex::new(State {
                slots: HashMap::new(),
                clock: 0,
            }),
            released: Notify::new(),
        }
    }

    /// The slot of `broker`: its own if it has one, else a new one, made room for by closing the
    /// least recently used idle slot; waits while every slot is in use.
    pub(super) async fn checkout(&self, broker: i32) -> Checkout<'_, C> {
        loop {
            // Registered before looking, so a release between the look and the wait is not missed.
            let released = self.released.notified();
            if let Some(slot) = self.try_checkout(broker) {
                return Checkout {
                    pool: self,
                    broker,
                    slot: Some(slot),
                };
            }
            released.await;
        }
    }

    fn try_checkout(&self, broker: i32) -> Option<Slot<C>> {
        let mut state = lock(&self.state);
        state.clock += 1;
        let now = state.clock;
        if let Some(entry) = state.slots.get_mut(&broker) {
            entry.last_used = now;
            entry.users += 1;
            return Some(entry.slot.clone());
        }
        if state.slots.len() >= self.cap {
            let idle = state
                .slots
                .iter()
                .filter(|(_, e)| e.users == 0)
                .min_by_key(|(_, e)| e.last_used)
                .map(|(b, _)| *b)?;
            // Dropping the entry closes its connection (no checkout holds it).
            state.slots.remove(&idle);
        }
        let slot = Slot::default();
        state.slots.insert(
            broker,
            Entry {
                slot: slot.clone(),
                last_used: now,
                users: 1,
            },
        );
        Some(slot)
    }

    #[cfg(test)]
    fn brokers(&self) -> Vec<i32> {
        let mut brokers: Vec<i32> = lock(&self.state).slots.keys().copied().collect();
        brokers.sort_unstable();
        brokers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Counts itself while alive, as an open socket would be.
    struct Counted(Arc<AtomicUsize>);

    impl Counted {
        fn open(live: &Arc<AtomicUsize>, most: &AtomicUsize) -> Self {
            let now = live.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            Counted(live.clone())
        }
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_to_more_brokers_than_the_cap_never_hold_more_connections_than_the_cap() {
        let pool = Arc::new(BrokerPool::<Counted>::new(4));
        let live = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        // Each of 40 brokers asked three times, all at once, as a snapshot of a big cluster does.
        let requests = (0..120).map(|i| {
            let (pool, live, most) = (pool.clone(), live.clone(), most.clone());
            tokio::spawn(async move {
                let checkout = pool.checkout(i % 40).await;
                let mut conn = checkout.slot().lock().await;
                if conn.is_none() {
                    *conn = Some(Counted::open(&live, &most));
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            })
        });
        let done =
            tokio::time::timeout(Duration::from_secs(10), futures::future::join_all(requests))
                .await
                .expect("every request got a connection in time");
        assert!(done.iter().all(Result::is_ok));
        assert_eq!(
            most.load(Ordering::SeqCst),
            4,
            "the cap was reached, never passed"
        );
        assert!(live.load(Ordering::SeqCst) <= 4);
        assert_eq!(pool.brokers().len(), 4);
    }

    #[tokio::test]
    async fn the_least_recently_used_idle_connection_is_closed_first() {
        let pool = BrokerPool::<()>::new(2);
        drop(pool.checkout(1).await);
        drop(pool.checkout(2).await);
        drop(pool.checkout(1).await);
        drop(pool.checkout(3).await);
        assert_eq!(pool.brokers(), vec![1, 3]);
    }

    #[tokio::test]
    async fn a_connection_in_use_is_not_closed_and_a_new_broker_waits_for_a_free_slot() {
        let pool = Arc::new(BrokerPool::<()>::new(1));
        let busy = pool.checkout(1).await;
        assert!(
            pool.try_checkout(2).is_none(),
            "broker 2 got a slot while the only one was in use"
        );
        assert_eq!(pool.brokers(), vec![1]);
        let waiting = tokio::spawn({
            let pool = pool.clone();
            async move { drop(pool.checkout(2).await) }
        });
        tokio::task::yield_now().await;
        drop(busy);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the slot freed by broker 1 went to the waiting broker 2")
            .unwrap();
        assert_eq!(pool.brokers(), vec![2]);
    }

    #[tokio::test]
    async fn the_same_broker_shares_its_slot() {
        let pool = BrokerPool::<()>::new(1);
        let first = pool.checkout(7).await;
        let second = tokio::time::timeout(Duration::from_secs(5), pool.checkout(7))
            .await
            .expect("a second request to the same broker is not held back by the cap");
        assert!(Arc::ptr_eq(first.slot(), second.slot()));
    }
}
