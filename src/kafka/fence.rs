//! Whether this process may send a Kafka write now, and for how long. The Kafka client is handed
//! one when it is built and takes a [`WritePermit`] before every write: the write is sent only
//! while the fence is open, and the client stops waiting for its answer by the time the fence
//! closes, so no write of this process outlives the period it was allowed to write in. What
//! opens and closes the fence (leader election, src/leader.rs) is not this layer's business.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

#[derive(Clone)]
pub struct WriteFence(Option<Arc<Fence>>);

struct Fence {
    state: Mutex<State>,
    /// Signalled whenever a write ends.
    ended: Notify,
}

#[derive(Default)]
struct State {
    /// Writes may start until this moment (None: closed).
    open_until: Option<Instant>,
    /// ...and not before this one (a writer that must wait out someone else's period first).
    not_before: Option<Instant>,
    in_flight: usize,
    /// A write ended without an answer since the fence was last closed: its bytes may still be
    /// on their way to Kafka.
    unanswered: bool,
}

/// One write under way. Dropped when the write ends; [`WritePermit::answered`] says Kafka's
/// answer arrived (the write did, or did not, happen: either way it is over).
pub struct WritePermit {
    fence: Option<Arc<Fence>>,
    deadline: Option<Instant>,
    answered: bool,
}

impl WritePermit {
    /// How long this write may still take (None: no limit).
    pub fn time_left(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    pub fn answered(&mut self) {
        self.answered = true;
    }
}

impl Drop for WritePermit {
    fn drop(&mut self) {
        if let Some(fence) = &self.fence {
            let mut state = fence.lock();
            state.in_flight -= 1;
            state.unanswered |= !self.answered;
            drop(state);
            fence.ended.notify_waiters();
        }
    }
}

impl Fence {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl WriteFence {
    /// Always open, writes unbounded: a process that is the only writer (no leader election),
    /// or a client that never writes (`plan`, `import`).
    pub fn always_open() -> Self {
        WriteFence(None)
    }

    /// Closed until [`WriteFence::open_until`].
    pub fn closed() -> Self {
        WriteFence(Some(Arc::new(Fence {
            state: Mutex::new(State::default()),
            ended: Notify::new(),
        })))
    }

    /// Writes may start until `until` (and end by then), not before `not_before` if given.
    pub fn open_until(&self, until: Instant, not_before: Option<Instant>) {
        if let Some(fence) = &self.0 {
            let mut state = fence.lock();
            state.open_until = Some(until);
            if not_before.is_some() {
                state.not_before = not_before;
            }
        }
    }

    /// No write starts from now on (writes under way go on until their deadline).
    pub fn close(&self) {
        if let Some(fence) = &self.0 {
            fence.lock().open_until = None;
        }
    }

    pub fn is_open(&self) -> bool {
        self.0.as_ref().is_none_or(|fence| {
            let state = fence.lock();
            let now = Instant::now();
            state.open_until.is_some_and(|until| now < until)
                && state.not_before.is_none_or(|from| now >= from)
        })
    }

    /// A permit for one write, or None while the fence is closed.
    pub fn enter(&self) -> Option<WritePermit> {
        let Some(fence) = &self.0 else {
            return Some(WritePermit {
                fence: None,
                deadline: None,
                answered: false,
            });
        };
        if !self.is_open() {
            return None;
        }
        let mut state = fence.lock();
        state.in_flight += 1;
        Some(WritePermit {
            fence: Some(fence.clone()),
            deadline: state.open_until,
            answered: false,
        })
    }

    /// Closes the fence and waits until no write is under way (each ends by its deadline, so
    /// this ends by the last moment the fence was open). Returns true when every write that
    /// ended since the fence was last closed got Kafka's answer: none can still reach Kafka
    /// later, and another writer may start at once.
    pub async fn close_and_drain(&self) -> bool {
        let Some(fence) = &self.0 else {
            return true;
        };
        let last_deadline = {
            let mut state = fence.lock();
            state.open_until.take()
        };
        loop {
            let ended = fence.ended.notified();
            {
                let state = fence.lock();
                if state.in_flight == 0 {
                    let clean = !state.unanswered;
                    drop(state);
                    fence.lock().unanswered = false;
                    return clean;
                }
            }
            let limit = last_deadline.unwrap_or_else(Instant::now) + Duration::from_secs(1);
            if tokio::time::timeout_at(limit, ended).await.is_err() {
                // A write outlived its deadline (the client gives up on it then): treat it as
                // unanswered.
                return false;
            }
        }
    }
}

impl fmt::Debug for WriteFence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("WriteFence(always open)"),
            Some(_) => write!(f, "WriteFence(open: {})", self.is_open()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unbounded_fence_gives_permits_without_a_deadline() {
        let fence = WriteFence::always_open();
        assert!(fence.is_open());
        assert_eq!(fence.enter().unwrap().time_left(), None);
    }

    #[tokio::test]
    async fn a_write_may_start_only_while_open_and_must_end_by_the_fence_deadline() {
        let fence = WriteFence::closed();
        assert!(fence.enter().is_none(), "closed until opened");
        let until = Instant::now() + Duration::from_secs(5);
        fence.open_until(until, None);
        let permit = fence.enter().expect("open");
        assert!(permit.time_left().unwrap() <= Duration::from_secs(5));
        fence.close();
        assert!(fence.enter().is_none());
    }

    #[tokio::test]
    async fn a_writer_that_must_wait_out_another_ones_period_does_not_write_before_it_ends() {
        let fence = WriteFence::closed();
        let now = Instant::now();
        fence.open_until(
            now + Duration::from_secs(60),
            Some(now + Duration::from_secs(30)),
        );
        assert!(!fence.is_open());
        assert!(fence.enter().is_none());
    }

    #[tokio::test]
    async fn draining_waits_for_writes_under_way_and_says_whether_each_was_answered() {
        let fence = WriteFence::closed();
        fence.open_until(Instant::now() + Duration::from_secs(30), None);
        let mut answered = fence.enter().unwrap();
        let drained = {
            let fence = fence.clone();
            tokio::spawn(async move { fence.close_and_drain().await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!drained.is_finished(), "a write is still under way");
        assert!(fence.enter().is_none(), "no new write once draining");
        answered.answered();
        drop(answered);
        assert!(drained.await.unwrap(), "every write was answered");

        fence.open_until(Instant::now() + Duration::from_secs(30), None);
        let lost = fence.enter().unwrap();
        drop(lost); // ended without an answer (a timeout, a broken connection)
        assert!(
            !fence.close_and_drain().await,
            "one write may still reach Kafka"
        );
        fence.open_until(Instant::now() + Duration::from_secs(30), None);
        assert!(fence.close_and_drain().await, "forgotten once reported");
    }
}
