//! How the cluster's write batchers (src/creator.rs, src/writer.rs) gather requests: a GitOps
//! sync applies hundreds of objects over a few seconds, so their reconciles arrive a few
//! milliseconds apart. A batch takes requests as long as they keep coming (each within
//! [`GAP`] of the last), up to [`MAX_WAIT`] after the first and [`MAX_BATCH`] requests; a
//! single change waits only [`GAP`].

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

/// The longest pause between two requests of one batch.
pub const GAP: Duration = Duration::from_millis(20);
/// The longest the first request of a batch waits for others.
pub const MAX_WAIT: Duration = Duration::from_millis(250);
/// Requests in one batch at most (Kafka gets them in requests of 100).
pub const MAX_BATCH: usize = 1000;

/// The next batch: `None` once every sender is gone.
pub async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> Option<Vec<T>> {
    let first = rx.recv().await?;
    let mut batch = vec![first];
    let last_chance = Instant::now() + MAX_WAIT;
    while batch.len() < MAX_BATCH {
        let until = (Instant::now() + GAP).min(last_chance);
        match tokio::time::timeout_at(until, rx.recv()).await {
            Ok(Some(request)) => batch.push(request),
            _ => break,
        }
    }
    Some(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_one_batch_and_a_pause_ends_it() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let sender = tokio::spawn(async move {
            for i in 0..10 {
                tx.send(i).unwrap();
                tokio::time::sleep(GAP / 2).await;
            }
            tokio::time::sleep(GAP * 3).await;
            tx.send(10).unwrap();
        });
        assert_eq!(next(&mut rx).await.unwrap(), (0..10).collect::<Vec<_>>());
        assert_eq!(next(&mut rx).await.unwrap(), vec![10]);
        sender.await.unwrap();
        assert_eq!(next(&mut rx).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_stream_is_cut_after_the_longest_wait() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            for i in 0.. {
                if tx.send(i).is_err() {
                    break;
                }
                tokio::time::sleep(GAP / 4).await;
            }
        });
        let first = next(&mut rx).await.unwrap();
        let expected = (MAX_WAIT.as_millis() / (GAP / 4).as_millis()) as usize;
        assert!(
            first.len() <= expected + 1 && first.len() >= expected - 1,
            "{} requests in the first batch, about {expected} expected",
            first.len()
        );
    }
}
