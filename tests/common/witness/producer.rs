//! The acks=all producer that counts every send, acknowledgement and failure.

#[allow(unused_imports)]
use super::super::*;
use super::*;

/// One acknowledged record: where Kafka says it wrote it, and what it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acked {
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub value: String,
}

#[derive(Default)]
pub(super) struct Tally {
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
    pub(super) fn keep(list: &Mutex<Vec<String>>, e: String) {
        let mut list = list.lock().unwrap();
        if list.len() < KEEP_ERRORS {
            list.push(e);
        }
    }
}

pub(super) struct WitnessContext(Arc<Tally>);

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

pub(super) fn client_config() -> ClientConfig {
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

pub(super) fn send_loop(
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
