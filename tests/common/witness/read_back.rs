//! Reading a topic back: every acknowledged record at its partition and offset.

#[allow(unused_imports)]
use super::super::*;
use super::*;

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
