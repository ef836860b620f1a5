//! Topic creations of one cluster, batched: creations that arrive together (a GitOps sync
//! applying hundreds of KafkaTopics) go to Kafka in a few CreateTopics requests with per-topic
//! results, and are read back together, instead of one create and one read per topic.
//!
//! Safety is the same as for a single creation: the batch's topics are read again first (one
//! batched read) and those that exist by now are not sent; CreateTopics never creates a topic
//! that exists anyway (Kafka answers TopicAlreadyExists for that topic alone, which means "read
//! it and plan again"), every topic is validated whole by Kafka (an invalid config fails that topic alone,
//! with Kafka's message), replicas are placed by our placement with the load of the whole batch
//! counted, and a request whose answer was lost is never resent: every topic in it gets
//! WriteUnconfirmed and its reconcile reads Kafka again.
//!
//! The re-check and the CreateTopics requests hold the cluster's write lock; the read-back does
//! not: it waits (up to 30 s) until Kafka's metadata shows the new topics, which takes seconds
//! when brokers are busy creating thousands of replicas, while the next batch is re-checked,
//! placed (counting the replicas still being read back) and sent. Each reconcile gets its
//! answer once its own topic is read back (not when the whole batch is), so its first status
//! is the real one, not "Creating", and comes as soon as Kafka shows the topic.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use kafka_protocol::ResponseError;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::debug;

use super::state::ClusterState;
use crate::kafka::{KafkaError, TopicToCreate};
use crate::model::{ObservedTopic, TopicTarget};
use crate::plan::placement::{self, Brokers, Load};
use crate::util::batch;
use crate::util::sync::lock;

/// How long created topics are read back while Kafka's metadata does not show them yet (a
/// broker busy creating thousands of replicas lags seconds behind), and the pauses between.
const READ_BACK_FOR: Duration = Duration::from_secs(30);
const READ_BACK_PAUSE: Duration = Duration::from_millis(300);
const READ_BACK_MAX_PAUSE: Duration = Duration::from_secs(2);

/// What a creation did.
#[derive(Debug)]
pub struct Created {
    /// The replica sets sent (empty when the topic already existed).
    pub assignments: Vec<Vec<i32>>,
    /// The topic existed already: nothing was created (the snapshot was older than it).
    pub existed: bool,
    /// The topic as read back (None: not in Kafka's metadata yet).
    pub observed: Option<ObservedTopic>,
}

struct Request {
    topic: TopicTarget,
    reply: oneshot::Sender<Result<Created, KafkaError>>,
}

/// The handle reconciles submit creations to.
pub struct Creator {
    tx: mpsc::UnboundedSender<Request>,
}

impl Creator {
    /// Starts the batching task over `state`; it ends when the cluster's state is dropped.
    pub fn start(state: Weak<ClusterState>) -> Creator {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(state, rx));
        Creator { tx }
    }

    /// Creates `topic` (with others that arrive at the same moment) and reads it back.
    pub async fn create(&self, topic: TopicTarget) -> Result<Created, KafkaError> {
        let (reply, answer) = oneshot::channel();
        let gone = || KafkaError::Unreachable {
            servers: "cluster observer".into(),
            detail: "stopped (the KafkaCluster changed or was deleted)".into(),
        };
        self.tx.send(Request { topic, reply }).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn run(state: Weak<ClusterState>, mut rx: mpsc::UnboundedReceiver<Request>) {
    // Replicas sent to Kafka whose topics are not read back yet: the snapshot does not count
    // them, so placement adds them (the next batch is placed while the last is read back).
    let in_flight = Arc::new(Mutex::new(Load::default()));
    while let Some(batch) = batch::next(&mut rx).await {
        let Some(state) = state.upgrade() else {
            return;
        };
        let sent = create_batch(&state, batch, &in_flight).await;
        // Reading back waits for Kafka's metadata to show the new topics, which takes seconds
        // when brokers are busy creating thousands of replicas: the next batch goes meanwhile.
        if !sent.is_empty() {
            tokio::spawn(read_back(state, sent, in_flight.clone()));
        }
    }
}

/// A topic sent to Kafka (created, or found to exist by Kafka's answer), waiting for its read-back.
struct Sent {
    request: Request,
    assignments: Vec<Vec<i32>>,
    existed: bool,
}

/// Re-checks, places and creates one batch under the cluster's write lock; returns the topics
/// to read back.
async fn create_batch(
    state: &ClusterState,
    batch: Vec<Request>,
    in_flight: &Mutex<Load>,
) -> Vec<Sent> {
    // Under the cluster's write lock, like every other write: nothing else plans meanwhile.
    let write_lock = state.write_lock();
    let _guard = write_lock.lock().await;
    // Re-check before writing: the reconciles planned these creations on a snapshot up to one
    // resync old, and someone may have created some of the topics since. Those are read, not
    // created (their reconciles plan again from what Kafka shows).
    let names: Vec<String> = batch.iter().map(|r| r.topic.name.clone()).collect();
    let read_at = Instant::now();
    let mut existing = match state.admin.describe_topics_each(&names).await {
        Ok(existing) => existing,
        Err(error) => {
            for request in batch {
                let _ = request.reply.send(Err(error.clone()));
            }
            return vec![];
        }
    };
    let mut fresh = Vec::new();
    for request in batch {
        let name = &request.topic.name;
        if let Some(topic) = existing.topics.remove(name) {
            state.patch(name, read_at, Some(topic.clone()));
            let _ = request.reply.send(Ok(Created {
                assignments: vec![],
                existed: true,
                observed: Some(topic),
            }));
        } else if let Some(error) = existing.errors.remove(name) {
            // Kafka knows the topic but cannot describe it yet (no leader right after its
            // creation): it exists, nothing is sent. Any other error is that topic's alone.
            let _ = request.reply.send(if is_being_created(&error) {
                Ok(Created {
                    assignments: vec![],
                    existed: true,
                    observed: None,
                })
            } else {
                Err(error)
            });
        } else {
            fresh.push(request);
        }
    }
    let batch = fresh;
    let view = state.view(0, 0);
    let brokers = Brokers::new(&view.live);
    let mut load = view.load.clone();
    load.add_load(&lock(in_flight));
    let mut pending = Vec::new();
    for request in batch {
        let rf = request.topic.replication_factor as usize;
        match placement::place_new(request.topic.partitions as usize, rf, &brokers, &mut load) {
            Ok(assignments) => pending.push((request, assignments)),
            Err(_) => {
                let error = KafkaError::Api {
                    api: "CreateTopics",
                    resource: request.topic.name.clone(),
                    code: ResponseError::InvalidReplicationFactor,
                    message: Some(
                        crate::plan::not_enough_brokers(
                            request.topic.replication_factor,
                            &view.live_ids(),
                        )
                        .message,
                    ),
                };
                let _ = request.reply.send(Err(error));
            }
        }
    }
    if pending.is_empty() {
        return vec![];
    }
    let to_create: Vec<TopicToCreate> = pending
        .iter()
        .map(|(r, assignments)| TopicToCreate {
            topic: r.topic.clone(),
            assignments: assignments.clone(),
        })
        .collect();
    debug!(count = to_create.len(), "creating topics in a batch");
    let mut results = match state.admin.create_topics(&to_create, false).await {
        Ok(results) => results,
        Err(error) => {
            for (request, _) in pending {
                let _ = request.reply.send(Err(error.clone()));
            }
            return vec![];
        }
    };
    // Which topics exist now (created, or already there): read back together, after the lock.
    let mut sent = Vec::new();
    for (request, assignments) in pending {
        match results.remove(&request.topic.name).unwrap_or(Ok(())) {
            Ok(()) => {
                lock(in_flight).add(assignments.iter().map(Vec::as_slice));
                sent.push(Sent {
                    request,
                    assignments,
                    existed: false,
                });
            }
            Err(e) if e.code() == Some(ResponseError::TopicAlreadyExists) => sent.push(Sent {
                request,
                assignments: vec![],
                existed: true,
            }),
            Err(e) => {
                let _ = request.reply.send(Err(e));
            }
        }
    }
    sent
}

/// Reads the sent topics back until Kafka's metadata shows them (or [`READ_BACK_FOR`] passed:
/// their reconciles then report Creating and look again), patches them into the snapshot and
/// answers each reconcile as soon as its own topic is read back: a batch of hundreds shows up on
/// busy brokers over tens of seconds, and each topic's status should follow its own.
async fn read_back(state: Arc<ClusterState>, sent: Vec<Sent>, in_flight: Arc<Mutex<Load>>) {
    let mut waiting: HashMap<String, Sent> = sent
        .into_iter()
        .map(|s| (s.request.topic.name.clone(), s))
        .collect();
    let deadline = Instant::now() + READ_BACK_FOR;
    let mut pause = READ_BACK_PAUSE;
    let mut attempt = 0;
    while !waiting.is_empty() {
        if attempt > 0 {
            if Instant::now() + pause > deadline {
                break;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 3 / 2).min(READ_BACK_MAX_PAUSE);
        }
        attempt += 1;
        let names: Vec<String> = waiting.keys().cloned().collect();
        let read_at = Instant::now();
        let mut fresh = match state.admin.describe_topics_each(&names).await {
            Ok(fresh) => fresh,
            Err(error) => {
                debug!(%error, topics = names.len(), "reading created topics back failed");
                break; // the reconciles report Creating and look again
            }
        };
        debug!(
            attempt,
            asked = names.len(),
            found = fresh.topics.len(),
            errors = fresh.errors.len(),
            "reading created topics back"
        );
        for name in names {
            if let Some(topic) = fresh.topics.remove(&name) {
                state.patch(&name, read_at, Some(topic.clone()));
                if let Some(sent) = waiting.remove(&name) {
                    answer(sent, Some(topic), &in_flight);
                }
            } else if fresh
                .errors
                .get(&name)
                .is_some_and(|e| !is_being_created(e))
            {
                // Kafka refuses to describe it: left to its reconcile, which reports the
                // reason from the next snapshot. (Not described yet, or no leader yet: asked
                // for again.)
                if let Some(sent) = waiting.remove(&name) {
                    let observed = observed(&state, &name);
                    answer(sent, observed, &in_flight);
                }
            }
        }
    }
    for (name, sent) in waiting {
        let observed = observed(&state, &name);
        answer(sent, observed, &in_flight);
    }
}

/// The topic as the cluster's snapshot (with patches) shows it.
fn observed(state: &ClusterState, name: &str) -> Option<ObservedTopic> {
    match state.topic(name) {
        super::state::TopicView::Observed { topic, .. } => topic,
        _ => None,
    }
}

/// Answers one creation's reconcile; its replicas are counted by the snapshot from now on
/// (patched), or no longer expected to be.
fn answer(sent: Sent, observed: Option<ObservedTopic>, in_flight: &Mutex<Load>) {
    lock(in_flight).remove(sent.assignments.iter().map(Vec::as_slice));
    let _ = sent.request.reply.send(Ok(Created {
        assignments: sent.assignments,
        existed: sent.existed,
        observed,
    }));
}

/// A topic Kafka has but cannot describe yet: its partitions have no leader so soon after the
/// creation.
fn is_being_created(error: &KafkaError) -> bool {
    error.code() == Some(ResponseError::LeaderNotAvailable)
}
