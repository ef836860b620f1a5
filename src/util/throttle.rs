//! A stream of keys passed on at most once per period per key: the first at once, the repeats
//! within the period as one at its end.
//!
//! Unlike a debounce, which waits for a pause in the triggers, a throttle never starves: a key
//! triggered without pause (a KafkaCluster whose declared topics change with every object of a
//! long `kubectl apply`) still comes out once a period.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::time::Instant;

/// `input` throttled per key to once per `period` (see the module). The keys are passed on by a
/// task of their own, which ends with `input` or when the returned stream is dropped.
pub fn throttled<K>(
    input: impl Stream<Item = K> + Send + 'static,
    period: Duration,
) -> impl Stream<Item = K> + Send + 'static
where
    K: Hash + Eq + Clone + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut input = std::pin::pin!(input);
        let mut gate = Gate::new(period);
        let mut tick = tokio::time::interval(period / 4);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let due = tokio::select! {
                key = input.next() => match key {
                    Some(key) => gate.offer(key, Instant::now()).into_iter().collect(),
                    None => break,
                },
                _ = tick.tick() => gate.due(Instant::now()),
            };
            for key in due {
                if tx.send(key).is_err() {
                    return;
                }
            }
        }
        for key in gate.due(Instant::now() + period) {
            let _ = tx.send(key);
        }
    });
    futures::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|key| (key, rx)) },
    )
}

/// When each key last went out, and the keys waiting for their period to end.
struct Gate<K> {
    period: Duration,
    sent: HashMap<K, Instant>,
    waiting: HashMap<K, Instant>,
}

impl<K: Hash + Eq + Clone> Gate<K> {
    fn new(period: Duration) -> Self {
        Gate {
            period,
            sent: HashMap::new(),
            waiting: HashMap::new(),
        }
    }

    /// The key to pass on now, if its period is over; otherwise it waits.
    fn offer(&mut self, key: K, now: Instant) -> Option<K> {
        match self.sent.get(&key) {
            Some(at) if now.duration_since(*at) < self.period => {
                let due = *at + self.period;
                self.waiting.insert(key, due);
                None
            }
            _ => {
                self.sent.insert(key.clone(), now);
                Some(key)
            }
        }
    }

    /// The waiting keys whose period is over; forgets keys quiet for a whole period.
    fn due(&mut self, now: Instant) -> Vec<K> {
        let due: Vec<K> = self
            .waiting
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for key in &due {
            self.waiting.remove(key);
            self.sent.insert(key.clone(), now);
        }
        let period = self.period;
        self.sent.retain(|_, at| now.duration_since(*at) < period);
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERIOD: Duration = Duration::from_secs(1);

    #[test]
    fn the_first_goes_at_once_and_repeats_once_at_the_end_of_the_period() {
        let mut gate = Gate::new(PERIOD);
        let t0 = Instant::now();
        assert_eq!(gate.offer("a", t0), Some("a"));
        assert_eq!(gate.offer("b", t0), Some("b"), "keys are throttled apart");
        for ms in [10, 200, 900] {
            assert_eq!(gate.offer("a", t0 + Duration::from_millis(ms)), None);
        }
        assert!(gate.due(t0 + Duration::from_millis(999)).is_empty());
        assert_eq!(gate.due(t0 + PERIOD), vec!["a"]);
        assert!(gate.due(t0 + PERIOD * 3).is_empty(), "once");
    }

    #[test]
    fn triggers_without_pause_still_come_out_once_a_period() {
        let mut gate = Gate::new(PERIOD);
        let t0 = Instant::now();
        let mut out = 0;
        // Every 20 ms for 10 s, looking every 250 ms: a debounce would never have fired.
        for step in 0..500u32 {
            let now = t0 + Duration::from_millis(20) * step;
            out += gate.offer("a", now).into_iter().count();
            if step % 12 == 0 {
                out += gate.due(now).len();
            }
        }
        assert!((9..=11).contains(&out), "{out} in 10 s");
    }

    #[test]
    fn a_key_quiet_for_a_period_goes_at_once_again() {
        let mut gate = Gate::new(PERIOD);
        let t0 = Instant::now();
        assert_eq!(gate.offer("a", t0), Some("a"));
        gate.due(t0 + PERIOD * 2);
        assert_eq!(gate.offer("a", t0 + PERIOD * 2), Some("a"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_stream_passes_repeats_on_after_the_period() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let input =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|k| (k, rx)) });
        let mut out = Box::pin(throttled(input, PERIOD));
        tx.send(1).unwrap();
        assert_eq!(out.next().await, Some(1));
        tx.send(1).unwrap();
        tx.send(1).unwrap();
        let started = Instant::now();
        assert_eq!(out.next().await, Some(1));
        assert!(started.elapsed() <= PERIOD + PERIOD / 4);
        drop(tx);
        assert_eq!(out.next().await, None);
    }
}
