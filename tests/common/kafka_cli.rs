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

/// The topic's dynamic overrides, per `kafka-configs --describe`.
pub fn overrides(name: &str) -> BTreeMap<String, String> {
    let out = cli(
        "configs",
        &[
            "--describe",
            "--entity-type",
            "topics",
            "--entity-name",
            name,
        ],
    );
    out.lines()
        .skip(1)
        .filter_map(|l| {
            let kv = l.trim().split(' ').next()?;
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

pub fn create(name: &str, extra: &[&str]) {
    let mut args = vec!["--create", "--topic", name];
    args.extend_from_slice(extra);
    cli("topics", &args);
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
