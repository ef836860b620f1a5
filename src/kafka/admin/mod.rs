//! [`KafkaAdmin`] over the Kafka protocol: one connection to a bootstrap server at a time,
//! requests serialized on it, reconnecting (to the next bootstrap server) when it breaks.
//!
//! Every request is one operation with an overall deadline ([`operation_limit`]): waiting for the
//! connection, connecting (to as many bootstrap servers as it takes) and the answer all share it,
//! so per-phase timeouts never add up past it.
//!
//! mod.rs: the client, its connections and the one way a request is sent (`call`,
//! `call_broker`); pool.rs: the capped per-broker connections; read.rs: the reads a snapshot is
//! made of; usage.rs: whether a topic is in use (before its deletion); write.rs: the write
//! requests; operations.rs: the [`KafkaAdmin`] trait over them.

mod operations;
mod pool;
mod read;
mod usage;
mod write;

#[cfg(test)]
mod tests;

use crate::util::sync::lock;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex as SyncMutex;
use std::time::Duration;

use base64::Engine;
use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::{Request, StrBytes};
use tokio::sync::Mutex;
use tokio::time::{Instant, timeout_at};
use tracing::debug;

use super::connection::{CallError, Connection};
use super::error::{KafkaError, check, seconds};
use super::fence::{WriteFence, WritePermit};
use super::security::Security;
use super::{BROKER_CONFIG_WRITES, TopicResults};
use pool::{BROKER_CONNECTIONS, BrokerPool};

/// Kafka's resource type codes in config APIs.
pub(super) const RESOURCE_TOPIC: i8 = 2;
pub(super) const RESOURCE_BROKER: i8 = 4;
/// DescribeConfigs config_source: a dynamic override on the topic, on one broker.
pub(super) const SOURCE_DYNAMIC_TOPIC: i8 = 1;
pub(super) const SOURCE_DYNAMIC_BROKER: i8 = 2;
/// ElectLeaders election_type: the preferred (first) replica.
pub(super) const ELECTION_PREFERRED: i8 = 0;
/// IncrementalAlterConfigs operations.
pub(super) const OP_SET: i8 = 0;
pub(super) const OP_DELETE: i8 = 1;
/// Topics per CreateTopics request (as Kafka's own tools batch them).
pub(super) const CREATE_TOPICS_BATCH: usize = 100;
/// Topics per CreatePartitions or IncrementalAlterConfigs request.
pub(super) const WRITE_BATCH: usize = 100;
/// Topics per DescribeConfigs request: keeps each response a few MB at most.
pub(super) const DESCRIBE_CONFIGS_BATCH: usize = 500;
/// How long Kafka may take to finish a topic operation before answering.
pub(super) const OPERATION_TIMEOUT_MS: i32 = 30_000;
/// The least time left in the write fence for which a write is still sent: less than a round
/// trip would end the wait for the answer before it could come.
pub(super) const MIN_WRITE_WINDOW: Duration = Duration::from_millis(500);
/// How much longer than the operation timeout the client waits for a write's answer.
pub(super) const WRITE_ANSWER_MARGIN: Duration = Duration::from_secs(10);

/// How long one operation may take in all, from "I need a connection" to "I have the answer":
/// the time to open one connection at the request timeout, plus the wait for the answer (a
/// read's request timeout; a write's longer one, which outlasts the time it grants Kafka). With
/// the default `--kafka-timeout` of 15 s that is 30 s for a read and 55 s for a write. A healthy
/// server needs a fraction of it; every bootstrap server tried shares it, so 64 servers that
/// never answer cost one limit, not 64 connect timeouts.
pub fn operation_limit(request_timeout: Duration, kind: Kind) -> Duration {
    request_timeout + answer_wait(request_timeout, kind)
}

/// How long to wait for an answer: a write carries the operation timeout it grants Kafka, and
/// the client waits longer than that, so Kafka's own answer (done, or timed out) arrives.
fn answer_wait(request_timeout: Duration, kind: Kind) -> Duration {
    match kind {
        Kind::Read => request_timeout,
        Kind::Write => request_timeout
            .max(Duration::from_millis(OPERATION_TIMEOUT_MS as u64) + WRITE_ANSWER_MARGIN),
    }
}

/// Bootstrap servers connecting at once, at most, in one operation.
pub(super) const PARALLEL_CONNECTS: usize = 8;

/// How long a connection attempt has before the next bootstrap server is tried beside it: a
/// healthy server connects (TLS and SASL included) well within a second; half the request
/// timeout when that is shorter.
pub(super) fn connect_stagger(request_timeout: Duration) -> Duration {
    (request_timeout / 2).min(Duration::from_secs(1))
}

/// Whether a request changes Kafka. A read whose connection broke is sent again; a write is not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Read,
    Write,
}

impl Kind {
    /// Validate-only requests change nothing.
    pub(super) fn of(validate_only: bool) -> Self {
        if validate_only {
            Kind::Read
        } else {
            Kind::Write
        }
    }
}

pub struct KafkaProtocolAdmin {
    bootstrap: Vec<String>,
    security: Security,
    request_timeout: Duration,
    /// Connections to any broker (a bootstrap server), for requests any broker answers: one for
    /// reads (snapshots), one for writes, so a write waiting on Kafka's controller never holds
    /// up a snapshot and a large snapshot never delays a write.
    read_connection: Mutex<Option<Connection>>,
    write_connection: Mutex<Option<Connection>>,
    /// Connections to specific brokers, for requests only that broker answers (its configs), at
    /// most [`BROKER_CONNECTIONS`] open. One slot per broker, each with its own lock: a broker
    /// that is slow to connect or answer holds up requests to itself only.
    broker_connections: BrokerPool<Connection>,
    /// Advertised address of each broker, from the last metadata.
    broker_addrs: SyncMutex<HashMap<i32, String>>,
    /// Index of the bootstrap server to try first on the next connect.
    next_server: SyncMutex<usize>,
    counts: SyncMutex<BTreeMap<&'static str, u64>>,
    /// Asked before every write (not validate-only requests): closed, the write is not sent.
    fence: WriteFence,
}

impl KafkaProtocolAdmin {
    /// A PLAINTEXT client.
    pub fn new(bootstrap: Vec<String>, request_timeout: Duration) -> Self {
        Self::with_security(bootstrap, Security::plaintext(), request_timeout)
    }

    pub fn with_security(
        bootstrap: Vec<String>,
        security: Security,
        request_timeout: Duration,
    ) -> Self {
        KafkaProtocolAdmin {
            bootstrap,
            security,
            request_timeout,
            read_connection: Mutex::new(None),
            write_connection: Mutex::new(None),
            broker_connections: BrokerPool::new(BROKER_CONNECTIONS),
            broker_addrs: SyncMutex::new(HashMap::new()),
            next_server: SyncMutex::new(0),
            counts: SyncMutex::new(BTreeMap::new()),
            fence: WriteFence::always_open(),
        }
    }

    /// The same client, writing only while `fence` is open.
    pub fn with_fence(self, fence: WriteFence) -> Self {
        KafkaProtocolAdmin { fence, ..self }
    }

    /// A connection to the first bootstrap server that takes one, by `deadline`. Servers are
    /// tried from the one that last worked, the next one as soon as one fails, and also every
    /// [`connect_stagger`] while the earlier ones are still connecting (at most
    /// [`PARALLEL_CONNECTS`] at once), so a good
    /// server behind a few silent ones is reached within one operation instead of after each of
    /// them has used its whole timeout. The first to connect wins; the others are dropped.
    /// Servers still connecting at the deadline count as tried: the next operation starts after
    /// the last one started, with servers this one had no time for.
    async fn connect(&self, deadline: Instant, limit: Duration) -> Result<Connection, KafkaError> {
        let servers = self.bootstrap.len();
        let first = *lock(&self.next_server);
        let order: Vec<usize> = (0..servers).map(|i| (first + i) % servers).collect();
        let mut started = 0;
        let mut attempts = futures::stream::FuturesUnordered::new();
        let mut connecting: Vec<usize> = Vec::new();
        let mut failures = Vec::new();
        let mut refused = None;
        let stagger = connect_stagger(self.request_timeout);
        // When the next server is due: a stagger after the last start, at once after a failure.
        let mut next_start = Instant::now();
        loop {
            let may_start = started < servers && connecting.len() < PARALLEL_CONNECTS;
            if connecting.is_empty() && !may_start {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(next_start), if may_start => {
                    let idx = order[started];
                    started += 1;
                    next_start = Instant::now() + stagger;
                    connecting.push(idx);
                    let addr = self.bootstrap[idx].as_str();
                    attempts.push(async move {
                        (idx, Connection::open(addr, self.request_timeout, &self.security).await)
                    });
                }
                Some((idx, result)) = futures::StreamExt::next(&mut attempts) => {
                    connecting.retain(|i| *i != idx);
                    next_start = Instant::now();
                    let addr = &self.bootstrap[idx];
                    match result {
                        Ok(conn) => {
                            debug!(%addr, "connected to Kafka");
                            *lock(&self.next_server) = idx;
                            return Ok(conn);
                        }
                        Err(CallError::Io(e) | CallError::TimedOut(e)) => failures.push(e),
                        // An authentication failure is usually the same on every server, but
                        // not always: SCRAM credentials reach each broker asynchronously through
                        // the metadata log, so a broker that is behind (just restarted) refuses
                        // a user the others accept. Try them all; say what the servers refused
                        // if none took us.
                        Err(CallError::Kafka(e)) => {
                            debug!(%addr, error = %e, "Kafka server refused the connection");
                            failures.push(format!("{addr}: {e}"));
                            refused.get_or_insert(e);
                        }
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    if let Some(last) = started.checked_sub(1) {
                        *lock(&self.next_server) = (order[last] + 1) % servers;
                    }
                    // What a server refused says more than that others did not answer.
                    if let Some(e) = refused {
                        return Err(e);
                    }
                    let silent = connecting.iter().map(|i| format!("{}: no answer", self.bootstrap[*i]));
                    failures.extend(silent);
                    return Err(KafkaError::NoAnswer {
                        within: limit,
                        tried: failures.join("; "),
                    });
                }
            }
        }
        if let Some(e) = refused {
            return Err(e);
        }
        Err(KafkaError::Unreachable {
            servers: self.bootstrap.join(","),
            detail: failures.join("; "),
        })
    }

    /// How long to wait for an answer (see [`answer_wait`]).
    fn timeout(&self, kind: Kind) -> Duration {
        answer_wait(self.request_timeout, kind)
    }

    /// For a write, the fence's permit (the write is not sent while the fence is closed).
    fn write_permit(
        &self,
        api: &'static str,
        kind: Kind,
    ) -> Result<Option<WritePermit>, KafkaError> {
        match kind {
            Kind::Read => Ok(None),
            Kind::Write => self
                .fence
                .enter()
                .map(Some)
                .ok_or(KafkaError::NotLeader { api }),
        }
    }

    /// How long to wait for the answer: no longer than the operation's deadline, and for a write
    /// no longer than the fence stays open either (the smaller of the two); a write is not sent
    /// at all when too little is left for a round trip.
    fn answer_timeout(
        &self,
        api: &'static str,
        kind: Kind,
        permit: Option<&WritePermit>,
        deadline: (Instant, Duration),
        addr: &str,
    ) -> Result<Duration, KafkaError> {
        let (deadline, limit) = deadline;
        let timeout = self.timeout(kind);
        let timeout = match permit.and_then(WritePermit::time_left) {
            Some(left) if left < MIN_WRITE_WINDOW => return Err(KafkaError::NotLeader { api }),
            Some(left) => timeout.min(left),
            None => timeout,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let least = match kind {
            Kind::Read => Duration::from_millis(1),
            Kind::Write => MIN_WRITE_WINDOW,
        };
        if left < least {
            return Err(KafkaError::NoAnswer {
                within: limit,
                tried: format!("{addr}: connected, no time left to send {api}"),
            });
        }
        Ok(timeout.min(left))
    }

    /// The connection lock, waited for no later than `deadline`.
    async fn wait_turn<T>(
        &self,
        api: &'static str,
        lock: impl std::future::Future<Output = T>,
        deadline: (Instant, Duration),
    ) -> Result<T, KafkaError> {
        timeout_at(deadline.0, lock)
            .await
            .map_err(|_| KafkaError::Slow {
                api,
                detail: format!(
                    "waited {} for a connection busy with earlier requests",
                    seconds(deadline.1)
                ),
            })
    }

    /// Sends `request` built for the negotiated version. A broken connection is replaced; a read
    /// is then tried once more on the next bootstrap server, a write never is: its answer was
    /// lost, not necessarily the write, so the caller reads Kafka's state and plans again.
    pub(super) async fn call<R, F>(
        &self,
        api: &'static str,
        versions: (i16, i16),
        kind: Kind,
        build: F,
    ) -> Result<(R::Response, i16), KafkaError>
    where
        R: Request,
        F: Fn(i16) -> R,
    {
        let limit = operation_limit(self.request_timeout, kind);
        let deadline = (Instant::now() + limit, limit);
        let mut permit = self.write_permit(api, kind)?;
        *lock(&self.counts).entry(api).or_default() += 1;
        let connection = match kind {
            Kind::Read => &self.read_connection,
            Kind::Write => &self.write_connection,
        };
        let mut guard = self.wait_turn(api, connection.lock(), deadline).await?;
        let mut last_io = String::new();
        let mut timed_out = false;
        for _attempt in 0..2 {
            if guard.is_none() {
                *guard = Some(self.connect(deadline.0, limit).await?);
            }
            let conn = guard.as_mut().expect("connection was just set");
            let version = conn.pick_version::<R>(api, versions)?;
            // Decided now, after any wait for the connection: a write is sent only if its
            // answer is due before the fence closes and the operation's deadline.
            let addr = conn.addr().to_string();
            let timeout = self.answer_timeout(api, kind, permit.as_ref(), deadline, &addr)?;
            let failure = match conn.call(&build(version), version, api, timeout).await {
                Ok(response) => {
                    permit.as_mut().map(WritePermit::answered);
                    return Ok((response, version));
                }
                Err(CallError::Kafka(e)) => {
                    permit.as_mut().map(WritePermit::answered);
                    return Err(e);
                }
                Err(CallError::Io(e)) => e,
                Err(CallError::TimedOut(e)) => {
                    timed_out = true;
                    e
                }
            };
            // The connection is unusable either way (a late answer would be read as the next
            // request's): drop it and try the next bootstrap server.
            debug!(error = %failure, "Kafka connection broken; reconnecting");
            *guard = None;
            let mut next = lock(&self.next_server);
            *next = (*next + 1) % self.bootstrap.len().max(1);
            if kind == Kind::Write {
                return Err(KafkaError::WriteUnconfirmed {
                    api,
                    detail: failure,
                });
            }
            last_io = failure;
            if Instant::now() >= deadline.0 {
                break;
            }
        }
        if timed_out {
            return Err(KafkaError::Slow {
                api,
                detail: last_io,
            });
        }
        Err(KafkaError::Unreachable {
            servers: self.bootstrap.join(","),
            detail: last_io,
        })
    }

    /// Like `call`, on the connection to one broker (reconnecting once if it broke; a broker
    /// that does not answer in time is reported slow at once).
    pub(super) async fn call_broker<R, F>(
        &self,
        broker: i32,
        api: &'static str,
        versions: (i16, i16),
        kind: Kind,
        build: F,
    ) -> Result<R::Response, KafkaError>
    where
        R: Request,
        F: Fn(i16) -> R,
    {
        let mut permit = self.write_permit(api, kind)?;
        // Counted apart from topic writes: broker throttle rates are the cluster's business.
        let counted = if kind == Kind::Write {
            BROKER_CONFIG_WRITES
        } else {
            api
        };
        *lock(&self.counts).entry(counted).or_default() += 1;
        let addr = lock(&self.broker_addrs)
            .get(&broker)
            .cloned()
            .ok_or_else(|| KafkaError::Unreachable {
                servers: format!("broker {broker}"),
                detail: "not in the cluster's metadata".into(),
            })?;
        let limit = operation_limit(self.request_timeout, kind);
        let deadline = (Instant::now() + limit, limit);
        let checkout = self
            .wait_turn(api, self.broker_connections.checkout(broker), deadline)
            .await?;
        let mut conn_slot = self
            .wait_turn(api, checkout.slot().lock(), deadline)
            .await?;
        let mut last_io = String::new();
        for _attempt in 0..2 {
            if conn_slot.is_none() {
                let attempt = Connection::open(&addr, self.request_timeout, &self.security);
                match timeout_at(deadline.0, attempt).await {
                    Ok(Ok(c)) => *conn_slot = Some(c),
                    Ok(Err(CallError::Io(detail))) => {
                        return Err(KafkaError::Unreachable {
                            servers: addr,
                            detail,
                        });
                    }
                    Ok(Err(CallError::TimedOut(detail))) => {
                        return Err(KafkaError::Slow { api, detail });
                    }
                    Ok(Err(CallError::Kafka(err))) => return Err(err),
                    Err(_) => {
                        return Err(KafkaError::NoAnswer {
                            within: limit,
                            tried: format!("{addr}: no answer"),
                        });
                    }
                }
            }
            let conn = conn_slot.as_mut().expect("connection was just set");
            let version = conn.pick_version::<R>(api, versions)?;
            let timeout = self.answer_timeout(api, kind, permit.as_ref(), deadline, &addr)?;
            match conn.call(&build(version), version, api, timeout).await {
                Ok(response) => {
                    permit.as_mut().map(WritePermit::answered);
                    return Ok(response);
                }
                Err(CallError::Kafka(e)) => {
                    permit.as_mut().map(WritePermit::answered);
                    return Err(e);
                }
                Err(CallError::Io(e) | CallError::TimedOut(e)) if kind == Kind::Write => {
                    *conn_slot = None;
                    return Err(KafkaError::WriteUnconfirmed { api, detail: e });
                }
                // Asking the same broker again would only wait as long once more.
                Err(CallError::TimedOut(detail)) => {
                    *conn_slot = None;
                    return Err(KafkaError::Slow { api, detail });
                }
                // A connection the broker closed (idle) is worth one more try on a new one.
                Err(CallError::Io(e)) => {
                    *conn_slot = None;
                    last_io = e;
                }
            }
        }
        Err(KafkaError::Unreachable {
            servers: addr,
            detail: last_io,
        })
    }
}

/// Each resource's own result in a batched answer: (name, error code, Kafka's message).
pub(super) fn per_topic<'a>(
    api: &'static str,
    answers: impl Iterator<Item = (String, i16, Option<&'a StrBytes>)>,
) -> TopicResults {
    answers
        .map(|(name, code, message)| {
            let outcome = check(api, &name, code, message);
            (name, outcome)
        })
        .collect()
}

pub(super) fn sorted(mut ids: Vec<i32>) -> Vec<i32> {
    ids.sort_unstable();
    ids
}

/// Topics Kafka answered with an error for, by name.
pub(super) type TopicErrors = BTreeMap<String, KafkaError>;

/// A topic's ongoing moves: partition -> (replicas being added, replicas being removed).
pub(super) type TopicMoves = BTreeMap<i32, (Vec<i32>, Vec<i32>)>;

pub(super) fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// Kafka prints topic ids as URL-safe base64 without padding (`kafka-topics --describe`).
pub(super) fn kafka_uuid(id: &uuid::Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}
