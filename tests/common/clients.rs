//! Plain rdkafka clients for tests that need records of a given age or a consumer group with
//! committed offsets (the witness is for data that must not be lost).

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::{WAIT, bootstrap};

/// Writes `n` records stamped `age` ago (acks=all) and waits until they are all delivered.
pub fn produce_stamped(topic: &str, n: usize, age: Duration) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("allow.auto.create.topics", "false")
        .set("acks", "all")
        .create()
        .expect("producer");
    let stamp = chrono::Utc::now().timestamp_millis() - age.as_millis() as i64;
    for i in 0..n {
        let key = format!("k{i}");
        producer
            .send(
                BaseRecord::to(topic)
                    .key(&key)
                    .payload("in use")
                    .timestamp(stamp),
            )
            .expect("queued");
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("every record delivered");
}

/// An rdkafka consumer in `group` reads `n` records of `topic` and commits its offsets.
pub fn consume_and_commit(group: &str, topic: &str, n: usize) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("allow.auto.create.topics", "false")
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + WAIT;
    let mut read = 0;
    while read < n {
        assert!(Instant::now() < deadline, "read {read} of {n} records");
        if let Some(message) = consumer.poll(Duration::from_secs(1)) {
            let message = message.expect("a record");
            assert_eq!(message.topic(), topic);
            read += 1;
        }
    }
    consumer
        .commit_consumer_state(CommitMode::Sync)
        .expect("offsets committed");
}
