//! The data-path witness: proof, measured on the real cluster, that no acknowledged record is
//! lost and no `acks=all` write fails while the operator acts.
//!
//! * [`Witness`]: an idempotent `acks=all` rdkafka producer sending keyed records (unique keys,
//!   so compaction cannot remove one) at [`RATE`] records/s on its own thread until stopped. It
//!   counts sends, acknowledgements (remembering partition, offset, key and value of each) and
//!   failures (keeping the first error messages). [`Witness::acked`] is live, so a test can show
//!   records were acknowledged *while* a move was in progress. Its deliveries may retry for two
//!   minutes (so that retries through a leader change succeed), which would turn an outage into
//!   mere delay; so it also measures each record's time from send to acknowledgement, and the
//!   check bounds the longest ([`STALL_LIMIT`], more only where the scenario itself holds
//!   writes back: a topic not created yet, a broker killed).
//! * [`WitnessReport::check`]: reads the topic back with an rdkafka consumer (every partition
//!   from the beginning) and asserts zero failed sends and every acknowledged record found at
//!   its partition and offset with its key and value. It prints one line per scenario:
//!   `witness[incident-rf1-to-3]: sent 9000 acked 9000 failed 0 read back 9000 during-move 4200`.
//! * [`MoveWatch`]: whether Kafka moves a topic's replicas (ListPartitionReassignments, the
//!   request behind `kafka-reassign-partitions --list`, sent directly: milliseconds where the
//!   CLI takes seconds, so the looks are dense), and which samples were taken while it did
//!   (seen moving before and after the sample).
//! * [`TopicConfigs`]: a topic's overrides as Kafka's DescribeConfigs answers them now, quickly
//!   enough to sample during a move (the before/after checks use Kafka's CLI).
//! * [`MetadataHistory`]: the topic's records in Kafka's own metadata log (`__cluster_metadata`,
//!   read with Kafka's DumpLogSegments), in the order the controller applied them: the exact
//!   proof of what came first, a `min.insync.replicas` change or the ISR/replica change, which
//!   no sampling can give.
//!
//! Clients never auto-create topics (`allow.auto.create.topics=false`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ListPartitionReassignmentsRequest, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, ConfigSource, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::{bootstrap, bootstrap_list, env_var, kafka_cli, run};

/// Records per second the witness sends (the issue asks for at least 200).
pub const RATE: u64 = 250;
/// Error messages kept per witness (the counts are complete).
const KEEP_ERRORS: usize = 5;
/// Acknowledged records that must fall inside a move for it to count as overlapping the
/// traffic: four seconds of the witness's rate.
pub const MIN_DURING_MOVE: u64 = 4 * RATE;
/// The longest a record may wait for its acknowledgement when no broker is lost. A partition
/// refusing acks=all writes (min.insync.replicas above its ISR) holds its records back until
/// the ISR recovers: 40-50 s in the incident scenario with the operator before issue 8. A
/// healthy cluster answers within a second; on a loaded 2-core machine (four scenarios at once
/// and a benchmark beside them) the longest waits seen were 11-12 s.
pub const STALL_LIMIT: Duration = Duration::from_secs(30);
/// How long the read-back may take to find every acknowledged record.
const READ_BACK: Duration = Duration::from_secs(120);
/// Configs the operator sets on a topic while it moves replicas (never a user's config).
pub const OPERATOR_OWNED: [&str; 2] = [
    "leader.replication.throttled.replicas",
    "follower.replication.throttled.replicas",
];

/// One acknowledged record: where Kafka says it wrote it, and what it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acked {
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub value: String,
}

#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    acked: AtomicU64,
    failed: AtomicU64,
    /// Longest time from send to acknowledgement, in milliseconds.
    max_latency_ms: AtomicU64,
    records: Mutex<Vec<Acked>>,
    errors: Mutex<Vec<String>>,
    /// Errors the client reported outside deliveries (brokers going away, fatal idempotence
    /// errors): kept for the diagnosis of a failure, not counted as failed sends.
    client_errors: Mutex<Vec<String>>,
}

impl Tally {
    fn keep(list: &Mutex<Vec<String>>, e: String) {
        let mut list = list.lock().unwrap();
        if list.len() < KEEP_ERRORS {
            list.push(e);
        }
    }
}

struct WitnessContext(Arc<Tally>);

impl ClientContext for WitnessContext {
    fn error(&self, error: KafkaError, reason: &str) {
        Tally::keep(&self.0.client_errors, format!("{error}: {reason}"));
    }
}

impl ProducerContext for WitnessContext {
    /// When the record was handed to the producer.
    type DeliveryOpaque = Box<Instant>;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_at: Box<Instant>) {
        let text = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
        match result {
            Ok(m) => {
                let latency = sent_at.elapsed().as_millis() as u64;
                self.0.max_latency_ms.fetch_max(latency, Ordering::SeqCst);
                self.0.records.lock().unwrap().push(Acked {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: text(m.key()),
                    value: text(m.payload()),
                });
                self.0.acked.fetch_add(1, Ordering::SeqCst);
            }
            Err((e, m)) => {
                self.0.failed.fetch_add(1, Ordering::SeqCst);
                Tally::keep(
                    &self.0.errors,
                    format!(
                        "{e} (record {}, partition {})",
                        text(m.payload()),
                        m.partition()
                    ),
                );
            }
        }
    }
}

fn client_config() -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap())
        .set("allow.auto.create.topics", "false");
    c
}

/// The producer side of the witness; see the module documentation.
pub struct Witness {
    scenario: String,
    topic: String,
    producer: ThreadedProducer<WitnessContext>,
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
    sender: Option<JoinHandle<()>>,
    started: Instant,
    stall_limit: Duration,
}

impl Witness {
    /// Starts sending to `topic`; no record may wait longer than [`STALL_LIMIT`] for its
    /// acknowledgement.
    pub fn start(scenario: &str, topic: &str) -> Witness {
        Self::start_with_stall_limit(scenario, topic, STALL_LIMIT)
    }

    /// Starts sending to `topic` (which may not exist yet: the producer waits up to two minutes
    /// for it to appear, and never creates it); no record may wait longer than `stall_limit`
    /// for its acknowledgement (longer than [`STALL_LIMIT`] only where the scenario itself
    /// stops writes for a while: a topic not created yet, a broker killed).
    pub fn start_with_stall_limit(scenario: &str, topic: &str, stall_limit: Duration) -> Witness {
        let tally = Arc::new(Tally::default());
        let producer: ThreadedProducer<WitnessContext> = client_config()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            // Long enough that retries through a leader change or a broker restart succeed; a
            // record that still fails is a real failure.
            .set("message.timeout.ms", "120000")
            // A topic the operator is about to create is not "unknown" for two minutes.
            .set("topic.metadata.propagation.max.ms", "120000")
            // See partitions added by the operator within seconds.
            .set("topic.metadata.refresh.interval.ms", "5000")
            .set("linger.ms", "5")
            .create_with_context(WitnessContext(tally.clone()))
            .expect("witness producer");
        let stop = Arc::new(AtomicBool::new(false));
        let sender = {
            let (producer, tally, stop) = (producer.clone(), tally.clone(), stop.clone());
            let (scenario, topic) = (scenario.to_string(), topic.to_string());
            std::thread::Builder::new()
                .name(format!("witness-{scenario}"))
                .spawn(move || send_loop(&producer, &tally, &stop, &scenario, &topic))
                .expect("witness sender thread")
        };
        Witness {
            scenario: scenario.to_string(),
            topic: topic.to_string(),
            producer,
            tally,
            stop,
            sender: Some(sender),
            started: Instant::now(),
            stall_limit,
        }
    }

    /// Records acknowledged so far (live).
    pub fn acked(&self) -> u64 {
        self.tally.acked.load(Ordering::SeqCst)
    }

    /// Failed deliveries so far (live).
    pub fn failed(&self) -> u64 {
        self.tally.failed.load(Ordering::SeqCst)
    }

    /// Partitions that have acknowledged records so far (live).
    pub fn acked_partitions(&self) -> BTreeSet<i32> {
        self.tally
            .records
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.partition)
            .collect()
    }

    /// Waits (up to `timeout`) until `n` more records than now are acknowledged: proof that
    /// writes succeed at this moment. Panics saying `what` otherwise.
    pub async fn wait_acked_more(&self, n: u64, timeout: Duration, what: &str) -> u64 {
        let from = self.acked();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let now = self.acked();
            if now >= from + n {
                return now;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "witness[{}]: only {} of {n} records acknowledged within {timeout:?} {what}; failed {}: {:?}; client errors: {:?}",
                self.scenario,
                now - from,
                self.failed(),
                self.tally.errors.lock().unwrap(),
                self.tally.client_errors.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Partitions of the topic as a broker's metadata shows them now (replicas, ISR), through
    /// the witness's own client: fast enough to sample often.
    pub fn partitions(&self) -> Vec<MetaPartition> {
        let md = match self
            .producer
            .client()
            .fetch_metadata(Some(&self.topic), Duration::from_secs(10))
        {
            Ok(md) => md,
            Err(_) => return vec![],
        };
        md.topics()
            .iter()
            .filter(|t| t.name() == self.topic && t.error().is_none())
            .flat_map(|t| t.partitions())
            .map(|p| MetaPartition {
                id: p.id(),
                leader: p.leader(),
                replicas: p.replicas().to_vec(),
                isr: p.isr().to_vec(),
            })
            .collect()
    }

    /// Stops sending, waits for every outstanding delivery, returns the counts.
    pub fn stop(mut self) -> WitnessReport {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(sender) = self.sender.take() {
            sender.join().expect("witness sender thread");
        }
        let elapsed = self.started.elapsed();
        // Every delivery resolves within message.timeout.ms; a little more for the callbacks.
        let _ = self.producer.flush(Duration::from_secs(150));
        let t = &self.tally;
        WitnessReport {
            scenario: self.scenario.clone(),
            topic: self.topic.clone(),
            sent: t.sent.load(Ordering::SeqCst),
            acked: t.acked.load(Ordering::SeqCst),
            failed: t.failed.load(Ordering::SeqCst),
            unresolved: self.producer.in_flight_count().max(0) as u64,
            max_latency: Duration::from_millis(t.max_latency_ms.load(Ordering::SeqCst)),
            stall_limit: self.stall_limit,
            records: std::mem::take(&mut *t.records.lock().unwrap()),
            errors: t.errors.lock().unwrap().clone(),
            client_errors: t.client_errors.lock().unwrap().clone(),
            elapsed,
        }
    }

    /// [`Witness::stop`] then [`WitnessReport::read_back_and_log`], off the async runtime's
    /// threads: the witness line is printed before a test asserts anything else, and
    /// [`WitnessReport::assert_nothing_lost`] is left to the caller.
    pub async fn stop_and_log(self, during_move: Option<u64>) -> (WitnessReport, ReadBack) {
        tokio::task::spawn_blocking(move || {
            let report = self.stop();
            let read = report.read_back_and_log(during_move);
            (report, read)
        })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }

    /// [`Witness::stop`] then [`WitnessReport::check`], off the async runtime's threads.
    /// `during_move`: records acknowledged while the move was seen in progress, for the log line.
    pub async fn finish(self, during_move: Option<u64>) -> WitnessReport {
        tokio::task::spawn_blocking(move || {
            let report = self.stop();
            report.check(during_move);
            report
        })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        // A test that panics mid-way: stop the sender thread (the producer purges on drop).
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn send_loop(
    producer: &ThreadedProducer<WitnessContext>,
    tally: &Tally,
    stop: &AtomicBool,
    scenario: &str,
    topic: &str,
) {
    let started = Instant::now();
    let mut i: u64 = 0;
    while !stop.load(Ordering::SeqCst) {
        // Paced by the clock: after a stall the sender catches up, so the rate holds on average.
        let due = started.elapsed().as_millis() as u64 * RATE / 1000;
        while i < due && !stop.load(Ordering::SeqCst) {
            let key = format!("key-{i}");
            let value = format!("{scenario}-{i}");
            loop {
                let record = BaseRecord::with_opaque_to(topic, Box::new(Instant::now()))
                    .key(&key)
                    .payload(&value);
                match producer.send(record) {
                    Ok(()) => {
                        tally.sent.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err((e, _)) => {
                        // Refused before it was even queued: a failed send all the same.
                        tally.sent.fetch_add(1, Ordering::SeqCst);
                        tally.failed.fetch_add(1, Ordering::SeqCst);
                        Tally::keep(&tally.errors, format!("{e} (record {value}, not queued)"));
                        break;
                    }
                }
            }
            i += 1;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Deletes a test's topic from Kafka (with Kafka's CLI) when dropped, after a failed assertion
/// too: a topic abandoned mid-move keeps its throttled-replica lists, and while any topic has
/// them the operators keep the brokers' throttle rates (so a later test waiting for their
/// removal would fail); and the tests' topics hold tens of megabytes. Create it before the
/// TestEnv, so that it is dropped after the test's operator was told to stop.
pub struct DeleteTopicOnDrop(pub String);

impl Drop for DeleteTopicOnDrop {
    fn drop(&mut self) {
        let (Ok(cli), Ok(bootstrap)) = (
            std::env::var("KTO_KAFKA_CLI"),
            std::env::var("KTO_KAFKA_BOOTSTRAP"),
        ) else {
            return;
        };
        let _ = std::process::Command::new(cli)
            .args([
                "topics",
                "--bootstrap-server",
                &bootstrap,
                "--delete",
                "--topic",
                &self.0,
            ])
            .output();
    }
}

/// A partition as the metadata shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaPartition {
    pub id: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// What the witness saw: counts of a stopped witness, and every acknowledged record.
#[derive(Debug)]
pub struct WitnessReport {
    pub scenario: String,
    pub topic: String,
    pub sent: u64,
    pub acked: u64,
    pub failed: u64,
    /// Deliveries still unresolved after waiting for them (must be none).
    pub unresolved: u64,
    /// Longest wait of a record for its acknowledgement, and the bound on it.
    pub max_latency: Duration,
    pub stall_limit: Duration,
    pub records: Vec<Acked>,
    pub errors: Vec<String>,
    pub client_errors: Vec<String>,
    pub elapsed: Duration,
}

/// The result of reading the topic back.
#[derive(Debug, Default)]
pub struct ReadBack {
    /// Acknowledged records found at their partition and offset with their key and value.
    pub found: u64,
    /// Offsets holding a different record than the one acknowledged there.
    pub mismatched: Vec<String>,
    /// Of those, records acknowledged without an offset (an idempotent retry of a batch Kafka
    /// already had), found in their partition by value.
    pub found_without_offset: u64,
    /// Witness records read at another place than where they were acknowledged.
    pub duplicates: u64,
    /// Acknowledged records not found before the deadline (the first few).
    pub missing: Vec<Acked>,
    pub consumer_errors: Vec<String>,
}

impl WitnessReport {
    /// Reads every partition from the beginning until each acknowledged record is found, or
    /// [`READ_BACK`] passes.
    pub fn read_back(&self) -> ReadBack {
        let consumer: BaseConsumer = client_config()
            .set(
                "group.id",
                format!("kto-witness-{:08x}", rand::random::<u32>()),
            )
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .create()
            .expect("witness consumer");
        let md = consumer
            .fetch_metadata(Some(&self.topic), Duration::from_secs(30))
            .expect("metadata of the witness topic");
        let mut partitions: BTreeSet<i32> = md
            .topics()
            .iter()
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        partitions.extend(self.records.iter().map(|r| r.partition));
        let mut tpl = TopicPartitionList::new();
        for p in &partitions {
            tpl.add_partition_offset(&self.topic, *p, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&tpl).expect("assign the witness topic");

        // librdkafka acknowledges a record without an offset (-1001) when an idempotent
        // producer's retry finds the batch already written (Kafka answers DuplicateSequence,
        // seen while a broker died): such a record is looked for by its value instead.
        let (located, unlocated): (Vec<&Acked>, Vec<&Acked>) =
            self.records.iter().partition(|r| r.offset >= 0);
        let mut expected: HashMap<(i32, i64), &Acked> = located
            .into_iter()
            .map(|r| ((r.partition, r.offset), r))
            .collect();
        let mut expected_anywhere: HashMap<&str, &Acked> = unlocated
            .into_iter()
            .map(|r| (r.value.as_str(), r))
            .collect();
        let by_value: HashMap<&str, (i32, i64)> = self
            .records
            .iter()
            .map(|r| (r.value.as_str(), (r.partition, r.offset)))
            .collect();
        let prefix = format!("{}-", self.scenario);
        let mut out = ReadBack::default();
        let deadline = Instant::now() + READ_BACK;
        while !(expected.is_empty() && expected_anywhere.is_empty()) && Instant::now() < deadline {
            match consumer.poll(Duration::from_millis(500)) {
                None => {}
                Some(Err(e)) if out.consumer_errors.len() < KEEP_ERRORS => {
                    out.consumer_errors.push(e.to_string());
                }
                Some(Err(_)) => {}
                Some(Ok(m)) => {
                    let key = String::from_utf8_lossy(m.key().unwrap_or_default());
                    let value = String::from_utf8_lossy(m.payload().unwrap_or_default());
                    let at = (m.partition(), m.offset());
                    if let Some(a) = expected.remove(&at) {
                        if a.key == key && a.value == value {
                            out.found += 1;
                        } else {
                            out.mismatched.push(format!(
                                "partition {} offset {}: acknowledged {}={}, read {key}={value}",
                                at.0, at.1, a.key, a.value
                            ));
                        }
                    } else if let Some(a) = expected_anywhere.remove(value.as_ref()) {
                        if a.key == key && a.partition == at.0 {
                            out.found += 1;
                            out.found_without_offset += 1;
                        } else {
                            out.mismatched.push(format!(
                                "acknowledged without an offset {}={} in partition {}, read as {key} in partition {}",
                                a.key, a.value, a.partition, at.0
                            ));
                        }
                    } else if value.starts_with(&prefix)
                        && by_value.get(value.as_ref()).is_some_and(|p| *p != at)
                    {
                        out.duplicates += 1;
                    }
                }
            }
        }
        let mut missing: Vec<Acked> = expected
            .into_values()
            .chain(expected_anywhere.into_values())
            .cloned()
            .collect();
        missing.sort_by_key(|a| (a.partition, a.offset));
        missing.truncate(KEEP_ERRORS);
        out.missing = missing;
        out
    }

    /// Reads the topic back and asserts: every send acknowledged (zero failed, none
    /// unresolved), at least [`RATE`]-ish records a second, and every acknowledged record read
    /// back where Kafka said it wrote it. Prints the witness line.
    pub fn check(&self, during_move: Option<u64>) -> ReadBack {
        let read = self.read_back_and_log(during_move);
        self.assert_nothing_lost(&read);
        read
    }

    /// Reads the topic back and prints the witness line; asserts nothing.
    pub fn read_back_and_log(&self, during_move: Option<u64>) -> ReadBack {
        let read = self.read_back();
        let secs = self.elapsed.as_secs_f64().max(0.001);
        eprintln!(
            "witness[{}]: sent {} acked {} failed {} read back {} during-move {} ({:.0} records/s over {:.0}s, longest wait for an ack {:.1}s, unresolved {}, mismatched {}, duplicates {}, acked without offset {})",
            self.scenario,
            self.sent,
            self.acked,
            self.failed,
            read.found,
            during_move.map_or("-".to_string(), |d| d.to_string()),
            self.sent as f64 / secs,
            secs,
            self.max_latency.as_secs_f64(),
            self.unresolved,
            read.mismatched.len(),
            read.duplicates,
            read.found_without_offset,
        );
        read
    }

    /// The witness's assertions on a read-back (see [`WitnessReport::check`]).
    pub fn assert_nothing_lost(&self, read: &ReadBack) {
        let secs = self.elapsed.as_secs_f64().max(0.001);
        assert!(
            self.failed == 0 && self.unresolved == 0,
            "witness[{}]: {} of {} sends failed, {} unresolved; first errors: {:?}; client errors: {:?}",
            self.scenario,
            self.failed,
            self.sent,
            self.unresolved,
            self.errors,
            self.client_errors
        );
        assert_eq!(
            self.acked, self.sent,
            "witness[{}]: sends not acknowledged",
            self.scenario
        );
        assert!(
            self.max_latency <= self.stall_limit,
            "witness[{}]: a record waited {:.1}s for its acknowledgement (limit {:?}): writes stalled",
            self.scenario,
            self.max_latency.as_secs_f64(),
            self.stall_limit
        );
        assert!(
            self.sent as f64 / secs >= 200.0,
            "witness[{}]: only {:.0} records/s were sent",
            self.scenario,
            self.sent as f64 / secs
        );
        assert!(
            read.mismatched.is_empty(),
            "witness[{}]: offsets hold other records than the acknowledged ones: {:?}",
            self.scenario,
            read.mismatched
        );
        assert_eq!(
            read.found, self.acked,
            "witness[{}]: acknowledged records lost: {} of {} read back; first missing: {:?}; consumer errors: {:?}",
            self.scenario, read.found, self.acked, read.missing, read.consumer_errors
        );
    }
}

/// Asserts that every topic config the spec does not name (`declared`) is as it was `before`
/// the operator acted (the operator's own throttle lists aside), per Kafka's own CLI.
pub fn assert_undeclared_unchanged(
    topic: &str,
    before: &BTreeMap<String, String>,
    declared: &[&str],
) -> BTreeMap<String, String> {
    let after = kafka_cli::overrides(topic);
    let undeclared = |m: &BTreeMap<String, String>| -> BTreeMap<String, String> {
        m.iter()
            .filter(|(k, _)| {
                !declared.contains(&k.as_str()) && !OPERATOR_OWNED.contains(&k.as_str())
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    assert_eq!(
        undeclared(&after),
        undeclared(before),
        "configs the spec does not name changed on {topic} (declared: {declared:?}); before {before:?}, after {after:?}"
    );
    after
}

/// One request over the Kafka protocol to `addr` (plain TCP, blocking): milliseconds.
fn kafka_call_to<R: Request>(addr: &str, request: &R, version: i16) -> Result<R::Response, String> {
    use std::io::{Read, Write};
    let socket: std::net::SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    let mut stream = std::net::TcpStream::connect_timeout(&socket, Duration::from_secs(5))
        .map_err(|e| format!("{addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .and_then(|_| stream.set_write_timeout(Some(Duration::from_secs(30))))
        .map_err(|e| format!("{addr}: {e}"))?;
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_static_str("kto-test-witness")));
    let mut frame = BytesMut::with_capacity(64);
    frame.extend_from_slice(&[0, 0, 0, 0]);
    header
        .encode(&mut frame, R::header_version(version))
        .and_then(|_| request.encode(&mut frame, version))
        .map_err(|e| format!("encode: {e}"))?;
    let len = (frame.len() - 4) as i32;
    frame[0..4].copy_from_slice(&len.to_be_bytes());
    stream
        .write_all(&frame)
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut size = [0u8; 4];
    stream
        .read_exact(&mut size)
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut body = vec![0u8; i32::from_be_bytes(size).max(0) as usize];
    stream
        .read_exact(&mut body)
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut body = Bytes::from(body);
    ResponseHeader::decode(&mut body, R::Response::header_version(version))
        .and_then(|_| R::Response::decode(&mut body, version))
        .map_err(|e| format!("decode: {e}"))
}

/// Partitions of `topic` that Kafka is moving now: ListPartitionReassignments (v0, the request
/// `kafka-reassign-partitions --list` sends) to the first bootstrap server that answers.
/// Retries for 30 seconds (a broker or the controller may just have been killed).
pub fn moving_partitions_of(topic: &str) -> usize {
    let request = ListPartitionReassignmentsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(None);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut errors = vec![];
    loop {
        for addr in bootstrap_list() {
            match kafka_call_to(&addr, &request, 0) {
                Ok(r) if r.error_code == 0 => {
                    return r
                        .topics
                        .iter()
                        .filter(|t| t.name.0.to_string() == topic)
                        .map(|t| t.partitions.len())
                        .sum();
                }
                Ok(r) => errors.push(format!(
                    "{addr}: error {} {:?}",
                    r.error_code, r.error_message
                )),
                Err(e) => errors.push(e),
            }
        }
        assert!(
            Instant::now() < deadline,
            "ListPartitionReassignments failed for 30 s: {:?}",
            &errors[errors.len().saturating_sub(6)..]
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A topic's dynamic overrides as Kafka's DescribeConfigs answers them now (through an rdkafka
/// admin client, which never creates topics here): fast enough to sample during a move.
pub struct TopicConfigs {
    admin: AdminClient<DefaultClientContext>,
}

impl Default for TopicConfigs {
    fn default() -> Self {
        Self::new()
    }
}

impl TopicConfigs {
    pub fn new() -> Self {
        TopicConfigs {
            admin: client_config().create().expect("rdkafka admin client"),
        }
    }

    /// The topic's override of `key` (None when the topic has none), per DescribeConfigs.
    pub async fn get(&self, topic: &str, key: &str) -> Option<String> {
        let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(30)));
        let results = self
            .admin
            .describe_configs(&[ResourceSpecifier::Topic(topic)], &options)
            .await
            .unwrap_or_else(|e| panic!("DescribeConfigs of {topic}: {e}"));
        let resource = results
            .into_iter()
            .next()
            .expect("one DescribeConfigs result")
            .unwrap_or_else(|e| panic!("DescribeConfigs of {topic}: {e:?}"));
        resource
            .get(key)
            .filter(|e| e.source == ConfigSource::DynamicTopic)
            .and_then(|e| e.value.clone())
    }
}

/// Follows a topic's replica move as Kafka reports it. A sample taken between two looks that
/// both saw the move is "during the move"; the acknowledged counts at the first and last look
/// that saw it bound the traffic that overlapped it.
pub struct MoveWatch<S> {
    topic: String,
    moving_now: bool,
    pending: Vec<S>,
    /// Samples taken while Kafka moved the topic's replicas (confirmed by the next look).
    pub during: Vec<S>,
    /// Witness acknowledgements at the first and the last look that saw the move.
    pub first_seen: Option<(Instant, u64)>,
    pub last_seen: Option<(Instant, u64)>,
    /// Most partitions seen moving at once.
    pub max_moving: usize,
    /// The move was seen and then seen finished.
    pub ended: bool,
}

impl<S> MoveWatch<S> {
    pub fn new(topic: &str) -> Self {
        MoveWatch {
            topic: topic.to_string(),
            moving_now: false,
            pending: vec![],
            during: vec![],
            first_seen: None,
            last_seen: None,
            max_moving: 0,
            ended: false,
        }
    }

    /// Looks whether Kafka moves the topic's replicas now; returns how many partitions move.
    pub fn look(&mut self, acked: u64) -> usize {
        let moving = moving_partitions_of(&self.topic);
        self.max_moving = self.max_moving.max(moving);
        if moving > 0 {
            let now = (Instant::now(), acked);
            self.first_seen.get_or_insert(now);
            self.last_seen = Some(now);
            if self.moving_now {
                self.during.append(&mut self.pending);
            }
            self.pending.clear();
            self.moving_now = true;
        } else {
            self.pending.clear();
            self.moving_now = false;
            if self.first_seen.is_some() {
                self.ended = true;
            }
        }
        moving
    }

    /// Whether the last look saw the move.
    pub fn look_saw_move(&self) -> bool {
        self.moving_now
    }

    /// Records a sample; it counts as taken during the move if the looks before and after it
    /// both saw the move. Returns whether the last look saw the move.
    pub fn sample(&mut self, s: S) -> bool {
        if self.moving_now {
            self.pending.push(s);
        }
        self.moving_now
    }

    /// Records acknowledged between the first and the last look that saw the move.
    pub fn acked_during(&self) -> u64 {
        match (self.first_seen, self.last_seen) {
            (Some((_, a)), Some((_, b))) => b - a,
            _ => 0,
        }
    }

    /// How long the move was seen in progress.
    pub fn seen_for(&self) -> Duration {
        match (self.first_seen, self.last_seen) {
            (Some((a, _)), Some((b, _))) => b - a,
            _ => Duration::ZERO,
        }
    }

    /// Asserts that the move was seen in progress long enough to overlap the traffic, with
    /// `min_samples` samples taken during it.
    pub fn assert_overlapped(&self, min_samples: usize) {
        assert!(
            self.first_seen.is_some(),
            "{}: Kafka was never seen moving the topic's replicas",
            self.topic
        );
        assert!(
            self.acked_during() >= MIN_DURING_MOVE,
            "{}: only {} records were acknowledged while the move was seen in progress ({:?}); the move must overlap at least {MIN_DURING_MOVE}",
            self.topic,
            self.acked_during(),
            self.seen_for()
        );
        assert!(
            self.during.len() >= min_samples,
            "{}: {} samples were taken during the move, {min_samples} needed",
            self.topic,
            self.during.len()
        );
    }
}

/// A partition's state as Kafka's metadata log records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionState {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

/// One record about the topic in Kafka's metadata log, in log order.
#[derive(Debug, Clone)]
pub enum MetaEvent {
    /// A topic config set (Some) or removed (None).
    Config { name: String, value: Option<String> },
    /// A partition created or changed; its whole state after the record.
    Partition { id: i32, state: PartitionState },
}

/// A topic's history in Kafka's metadata log (`__cluster_metadata`), read with Kafka's own
/// DumpLogSegments from a node's log directory. The controller applies records in this order,
/// so it proves the order of a config change and a replica or ISR change exactly.
#[derive(Debug)]
pub struct MetadataHistory {
    pub topic: String,
    pub events: Vec<MetaEvent>,
}

fn json_ids(v: &serde_json::Value) -> Option<Vec<i32>> {
    v.as_array().map(|a| {
        a.iter()
            .filter_map(|x| x.as_i64())
            .map(|x| x as i32)
            .collect()
    })
}

impl MetadataHistory {
    /// Reads the metadata log of the first Kafka node whose log holds the topic.
    pub fn load(topic: &str) -> MetadataHistory {
        let env_dir = env_var("KTO_ENV_DIR");
        let mut last = String::new();
        for node in 1..=3 {
            let dir = format!("{env_dir}/kafka-{node}/data/__cluster_metadata-0");
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut files: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.path().to_string_lossy().into_owned())
                .filter(|p| p.ends_with(".log"))
                .collect();
            files.sort();
            if files.is_empty() {
                continue;
            }
            // Kafka's DumpLogSegments, from the jars the environment's kafka-cli.sh uses.
            let script = r#"source "$KTO_ENV_SRC/common.sh" && exec java -Xmx384m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Dlog4j2.level=ERROR -cp "$KAFKA_LIBS/*" kafka.tools.DumpLogSegments --cluster-metadata-decoder --files "$1""#;
            let out = run("bash", &["-c", script, "dump-log", &files.join(",")]);
            if let Some(h) = Self::parse(topic, &out) {
                return h;
            }
            last = dir;
        }
        panic!("topic {topic} not found in Kafka's metadata log (last read {last})");
    }

    fn parse(topic: &str, dump: &str) -> Option<MetadataHistory> {
        let mut topic_id: Option<String> = None;
        let mut partitions: BTreeMap<i32, PartitionState> = BTreeMap::new();
        let mut events = vec![];
        for line in dump.lines() {
            let Some(payload) = line.split_once("payload: ").map(|(_, p)| p) else {
                continue;
            };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(payload.trim()) else {
                continue;
            };
            let data = &v["data"];
            match v["type"].as_str().unwrap_or_default() {
                "TOPIC_RECORD" if data["name"] == topic => {
                    // A topic of this name created again starts a new history.
                    topic_id = data["topicId"].as_str().map(String::from);
                    partitions.clear();
                    events.clear();
                }
                "CONFIG_RECORD" if data["resourceType"] == 2 && data["resourceName"] == topic => {
                    events.push(MetaEvent::Config {
                        name: data["name"].as_str().unwrap_or_default().to_string(),
                        value: data["value"].as_str().map(String::from),
                    });
                }
                kind @ ("PARTITION_RECORD" | "PARTITION_CHANGE_RECORD")
                    if topic_id.is_some() && data["topicId"].as_str() == topic_id.as_deref() =>
                {
                    let id = data["partitionId"].as_i64().unwrap_or(-1) as i32;
                    let state = partitions.entry(id).or_default();
                    if kind == "PARTITION_RECORD" {
                        *state = PartitionState::default();
                    }
                    // Absent or null in a change record: unchanged.
                    if let Some(r) = json_ids(&data["replicas"]) {
                        state.replicas = r;
                    }
                    if let Some(r) = json_ids(&data["isr"]) {
                        state.isr = r;
                    }
                    if let Some(r) = json_ids(&data["addingReplicas"]) {
                        state.adding = r;
                    }
                    if let Some(r) = json_ids(&data["removingReplicas"]) {
                        state.removing = r;
                    }
                    events.push(MetaEvent::Partition {
                        id,
                        state: state.clone(),
                    });
                }
                _ => {}
            }
        }
        topic_id.map(|_| MetadataHistory {
            topic: topic.to_string(),
            events,
        })
    }

    /// Every partition's state and the topic's overrides just before event `index`.
    pub fn state_before(
        &self,
        index: usize,
    ) -> (BTreeMap<i32, PartitionState>, BTreeMap<String, String>) {
        let mut partitions = BTreeMap::new();
        let mut configs = BTreeMap::new();
        for e in &self.events[..index] {
            match e {
                MetaEvent::Config { name, value } => match value {
                    Some(v) => {
                        configs.insert(name.clone(), v.clone());
                    }
                    None => {
                        configs.remove(name);
                    }
                },
                MetaEvent::Partition { id, state } => {
                    partitions.insert(*id, state.clone());
                }
            }
        }
        (partitions, configs)
    }

    /// Index of the first record setting `config` to `value`.
    pub fn first_set(&self, config: &str, value: &str) -> Option<usize> {
        self.events.iter().position(|e| {
            matches!(e, MetaEvent::Config { name, value: Some(v) } if name == config && v == value)
        })
    }

    /// Index of the first record that removes replicas from a partition (a shrink starting).
    pub fn first_shrink(&self) -> Option<usize> {
        let mut replicas: BTreeMap<i32, usize> = BTreeMap::new();
        self.events.iter().position(|e| match e {
            MetaEvent::Partition { id, state } => {
                let before = replicas.insert(*id, state.replicas.len());
                !state.removing.is_empty() || before.is_some_and(|b| state.replicas.len() < b)
            }
            _ => false,
        })
    }

    /// Every time `min.insync.replicas` was set on the topic, a partition whose ISR was
    /// smaller than the new value (acks=all writes to it would fail): one line each.
    pub fn min_isr_above_isr(&self) -> Vec<String> {
        let mut violations = vec![];
        for (i, e) in self.events.iter().enumerate() {
            if let MetaEvent::Config {
                name,
                value: Some(v),
            } = e
                && name == "min.insync.replicas"
            {
                let n: usize = v.parse().unwrap_or(0);
                let (partitions, _) = self.state_before(i);
                for (id, p) in partitions {
                    if p.isr.len() < n {
                        violations.push(format!(
                            "min.insync.replicas={v} set while partition {id} had ISR {:?} (replicas {:?}, adding {:?})",
                            p.isr, p.replicas, p.adding
                        ));
                    }
                }
            }
        }
        violations
    }
}
