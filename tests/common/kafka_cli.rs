//! Kafka's own CLI (kafka-topics, kafka-configs) as an independent witness of Kafka's state.

use std::collections::BTreeMap;

use super::{bootstrap, env_var, run};

fn cli(tool: &str, args: &[&str]) -> String {
    let bs = bootstrap();
    let mut all = vec![tool, "--bootstrap-server", bs.as_str()];
    all.extend_from_slice(args);
    run(&env_var("KTO_KAFKA_CLI"), &all)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliPartition {
    pub id: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

#[derive(Debug, Clone)]
pub struct CliTopic {
    pub topic_id: String,
    pub partition_count: i32,
    pub replication_factor: i32,
    pub partitions: Vec<CliPartition>,
}

fn ids(s: &str) -> Vec<i32> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(|x| x.trim().parse().unwrap())
        .collect()
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split('\t')
        .find_map(|part| part.trim().strip_prefix(&format!("{key}: ")))
}

/// `kafka-topics --describe --topic NAME`, parsed; None when the topic does not exist.
pub fn describe(name: &str) -> Option<CliTopic> {
    let list = cli("topics", &["--list"]);
    if !list.lines().any(|l| l.trim() == name) {
        return None;
    }
    let out = cli("topics", &["--describe", "--topic", name]);
    let mut lines = out.lines().filter(|l| !l.trim().is_empty());
    let head = lines.next()?;
    let mut topic = CliTopic {
        topic_id: field(head, "TopicId")?.to_string(),
        partition_count: field(head, "PartitionCount")?.parse().ok()?,
        replication_factor: field(head, "ReplicationFactor")?.parse().ok()?,
        partitions: vec![],
    };
    for line in lines {
        topic.partitions.push(CliPartition {
            id: field(line, "Partition").unwrap().parse().unwrap(),
            leader: field(line, "Leader").unwrap().parse().unwrap_or(-1),
            replicas: ids(field(line, "Replicas").unwrap_or("")),
            isr: ids(field(line, "Isr").unwrap_or("")),
        });
    }
    Some(topic)
}

/// `key=value sensitive=... synonyms=...` lines of `kafka-configs --describe`, as a map.
fn parse_configs(out: &str) -> BTreeMap<String, String> {
    out.lines()
        .skip(1)
        .filter_map(|l| {
            let kv = l.trim().split(' ').next()?;
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

/// The topic's dynamic overrides, per `kafka-configs --describe`.
pub fn overrides(name: &str) -> BTreeMap<String, String> {
    parse_configs(&cli(
        "configs",
        &[
            "--describe",
            "--entity-type",
            "topics",
            "--entity-name",
            name,
        ],
    ))
}

/// Every topic's dynamic overrides, from one `kafka-configs --describe --entity-type topics`.
pub fn all_overrides() -> BTreeMap<String, BTreeMap<String, String>> {
    let out = cli("configs", &["--describe", "--entity-type", "topics"]);
    let mut all = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("Dynamic configs for topic ") {
            let name = rest.trim_end_matches(" are:").to_string();
            all.insert(name.clone(), BTreeMap::new());
            current = Some(name);
        } else if let (Some(name), Some((k, v))) = (
            &current,
            line.trim()
                .split(' ')
                .next()
                .and_then(|kv| kv.split_once('=')),
        ) {
            all.get_mut(name)
                .unwrap()
                .insert(k.to_string(), v.to_string());
        }
    }
    all
}

/// Partition counts of the topics whose names match `regex`, from one `kafka-topics --describe`.
pub fn partition_counts(regex: &str) -> BTreeMap<String, i32> {
    cli("topics", &["--describe", "--topic", regex])
        .lines()
        .filter_map(|l| {
            let name = field(l, "Topic")?;
            let count = field(l, "PartitionCount")?.parse().ok()?;
            Some((name.to_string(), count))
        })
        .collect()
}

/// Creates a topic and returns once a describe of it succeeds: Kafka answers the creation when
/// its controller has it, and a broker whose metadata is a moment behind (under load) would
/// otherwise answer the next command "does not exist".
pub fn create(name: &str, extra: &[&str]) {
    let mut args = vec!["--create", "--topic", name];
    args.extend_from_slice(extra);
    cli("topics", &args);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let bs = bootstrap();
    loop {
        let described = std::process::Command::new(env_var("KTO_KAFKA_CLI"))
            .args([
                "topics",
                "--bootstrap-server",
                &bs,
                "--describe",
                "--topic",
                name,
            ])
            .output()
            .is_ok_and(|out| out.status.success());
        if described {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} created but not described within 30 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

pub fn alter_config(name: &str, add: &str) {
    cli(
        "configs",
        &[
            "--alter",
            "--entity-type",
            "topics",
            "--entity-name",
            name,
            "--add-config",
            add,
        ],
    );
}

pub fn exists(name: &str) -> bool {
    cli("topics", &["--list"]).lines().any(|l| l.trim() == name)
}

/// Partitions listed by `kafka-topics --describe` with one of its health filters
/// (--under-replicated-partitions, --unavailable-partitions, --under-min-isr-partitions).
pub fn count_filtered(name: &str, filter: &str) -> usize {
    cli("topics", &["--describe", "--topic", name, filter])
        .lines()
        .filter(|l| l.contains("Partition:"))
        .count()
}

/// Writes `records` records of `size` bytes with acks=all (Kafka's producer-perf-test).
pub fn produce_bulk(name: &str, records: u32, size: u32) {
    let bs = bootstrap();
    run(
        &env_var("KTO_KAFKA_CLI"),
        &[
            "producer-perf-test",
            "--topic",
            name,
            "--num-records",
            &records.to_string(),
            "--record-size",
            &size.to_string(),
            "--throughput",
            "-1",
            "--producer-props",
            &format!("bootstrap.servers={bs}"),
            "acks=all",
        ],
    );
}

/// Writes keyed records `key:value` (one a line) with acks=all through Kafka's console producer.
pub fn produce_keyed(name: &str, lines: &[String]) {
    use std::io::Write;
    let bs = bootstrap();
    let mut child = std::process::Command::new(env_var("KTO_KAFKA_CLI"))
        .args([
            "console-producer",
            "--bootstrap-server",
            &bs,
            "--topic",
            name,
            "--producer-property",
            "acks=all",
            "--producer-property",
            "delivery.timeout.ms=60000",
            "--property",
            "parse.key=true",
            "--property",
            "key.separator=:",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("console producer");
    let mut stdin = child.stdin.take().unwrap();
    for line in lines {
        writeln!(stdin, "{line}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("ERROR"),
        "producing to {name} failed: {stderr}"
    );
}

/// Reads `expected` records from the beginning; returns them as `key:value` lines.
pub fn consume_all(name: &str, expected: usize) -> Vec<String> {
    let bs = bootstrap();
    let out = run(
        &env_var("KTO_KAFKA_CLI"),
        &[
            "console-consumer",
            "--bootstrap-server",
            &bs,
            "--topic",
            name,
            "--from-beginning",
            "--max-messages",
            &expected.to_string(),
            "--timeout-ms",
            "30000",
            "--property",
            "print.key=true",
            "--property",
            "key.separator=:",
        ],
    );
    out.lines().map(String::from).collect()
}

/// Partitions under reassignment per `kafka-reassign-partitions --list`.
pub fn moving_partitions() -> Vec<String> {
    let out = cli("reassign-partitions", &["--list"]);
    out.lines()
        .filter(|l| l.contains(": replicas:"))
        .map(String::from)
        .collect()
}

/// A broker's dynamic configs per `kafka-configs --describe --entity-type brokers`.
pub fn broker_overrides(broker: i32) -> BTreeMap<String, String> {
    parse_configs(&cli(
        "configs",
        &[
            "--describe",
            "--entity-type",
            "brokers",
            "--entity-name",
            &broker.to_string(),
        ],
    ))
}

/// `kafka-configs --alter --entity-type brokers`: `--add-config` or `--delete-config` with `configs`.
pub fn alter_broker_config(broker: i32, action: &str, configs: &str) {
    cli(
        "configs",
        &[
            "--alter",
            "--entity-type",
            "brokers",
            "--entity-name",
            &broker.to_string(),
            action,
            configs,
        ],
    );
}

/// The rack of each broker per `kafka-broker-api-versions`.
pub fn racks() -> BTreeMap<i32, String> {
    let out = cli("broker-api-versions", &[]);
    out.lines()
        .filter_map(|l| {
            let rest = l.split("(id: ").nth(1)?;
            let id: i32 = rest.split_whitespace().next()?.parse().ok()?;
            let rack = rest
                .split("rack: ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .to_string();
            Some((id, rack))
        })
        .collect()
}

/// Topic names on the cluster at `bootstrap` (`kafka-topics --list`).
pub fn topics_on(bootstrap: &str) -> Vec<String> {
    run(
        &env_var("KTO_KAFKA_CLI"),
        &["topics", "--bootstrap-server", bootstrap, "--list"],
    )
    .lines()
    .map(|l| l.trim().to_string())
    .filter(|l| !l.is_empty())
    .collect()
}

/// Writes one record to `topic` on the cluster at `bootstrap` with Kafka's console producer
/// (which, on a broker that allows it, auto-creates a missing topic: the incident's cause).
pub fn produce_one_on(bootstrap: &str, topic: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new(env_var("KTO_KAFKA_CLI"))
        .args([
            "console-producer",
            "--bootstrap-server",
            bootstrap,
            "--topic",
            topic,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("console producer");
    writeln!(child.stdin.take().unwrap(), "hello").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every topic name (`kafka-topics --list`).
pub fn list() -> Vec<String> {
    cli("topics", &["--list"])
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Deletes the topics whose names match `regex` (`kafka-topics --delete --topic REGEX`).
pub fn delete_matching(regex: &str) {
    cli("topics", &["--delete", "--topic", regex]);
}

/// The active KRaft controller and its epoch: `LeaderId` and `LeaderEpoch` of
/// `kafka-metadata-quorum describe --status`. None while the quorum cannot answer (its leader
/// just died).
pub fn quorum_leader() -> Option<(i32, i64)> {
    let bs = bootstrap();
    let out = std::process::Command::new(env_var("KTO_KAFKA_CLI"))
        .args([
            "metadata-quorum",
            "--bootstrap-server",
            &bs,
            "describe",
            "--status",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let out = String::from_utf8_lossy(&out.stdout);
    let value = |key: &str| -> Option<i64> {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(key)?.trim().parse().ok())
    };
    Some((value("LeaderId:")? as i32, value("LeaderEpoch:")?))
}

/// Topic ids of the topics whose names match `regex`, from one `kafka-topics --describe`.
pub fn topic_ids(regex: &str) -> BTreeMap<String, String> {
    cli("topics", &["--describe", "--topic", regex])
        .lines()
        .filter_map(|l| {
            let name = field(l, "Topic")?;
            let id = field(l, "TopicId")?;
            Some((name.to_string(), id.to_string()))
        })
        .collect()
}

/// The offsets `group` has committed on `topic`, by partition, as
/// `kafka-consumer-groups --describe` shows them (partitions without one are left out).
pub fn committed_offsets(group: &str, topic: &str) -> BTreeMap<i32, i64> {
    cli("consumer-groups", &["--describe", "--group", group])
        .lines()
        .filter_map(|line| {
            // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 4 || cols[0] != group || cols[1] != topic {
                return None;
            }
            Some((cols[2].parse().ok()?, cols[3].parse().ok()?))
        })
        .collect()
}
