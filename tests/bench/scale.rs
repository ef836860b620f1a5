//! `make bench`: what thousands of topics cost. Prints figures recorded in docs/benchmarks.md.
//!
//! 1. planning (pure): ClusterView + plan_topic for every topic of a large synthetic cluster;
//! 2. observing (live, needs the environment of `make env-up`): one snapshot of a cluster with
//!    many topics: wall time, Kafka requests per snapshot, memory.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kafka_topic_operator::kafka::{KafkaAdmin, KafkaProtocolAdmin};
use kafka_topic_operator::model::{
    Broker, ClusterSnapshot, CreationDefaults, DesiredTopic, ObservedConfig, ObservedPartition,
    ObservedTopic, TopicTarget,
};
use kafka_topic_operator::plan::{ClusterView, Memory, plan_topic};

fn synthetic(topics: usize, partitions: i32, brokers: i32) -> ClusterSnapshot {
    let mut snapshot = ClusterSnapshot {
        brokers: (1..=brokers)
            .map(|id| Broker {
                id,
                host: "h".into(),
                port: 9092,
                rack: Some(format!("r{}", id % 3)),
            })
            .collect(),
        ..Default::default()
    };
    for t in 0..topics {
        let name = format!("topic-{t:05}");
        let parts = (0..partitions)
            .map(|p| {
                let first = (t as i32 + p) % brokers;
                let replicas: Vec<i32> = (0..3).map(|i| (first + i) % brokers + 1).collect();
                ObservedPartition {
                    id: p,
                    leader: replicas[0],
                    isr: replicas.clone(),
                    replicas,
                    adding: vec![],
                    removing: vec![],
                }
            })
            .collect();
        let configs: BTreeMap<String, ObservedConfig> = [
            ("min.insync.replicas", "2", true),
            ("retention.ms", "604800000", true),
            ("cleanup.policy", "delete", false),
            ("segment.bytes", "1073741824", false),
        ]
        .into_iter()
        .map(|(k, v, o)| {
            (
                k.to_string(),
                ObservedConfig {
                    value: Some(v.into()),
                    is_topic_override: o,
                    kind: Default::default(),
                },
            )
        })
        .collect();
        snapshot.topics.insert(
            name.clone(),
            ObservedTopic {
                defaults: Default::default(),
                name,
                topic_id: None,
                is_internal: false,
                partitions: parts,
                configs,
            },
        );
    }
    snapshot
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}

fn bench_planning() {
    println!("## planning (pure, no I/O)");
    println!("| topics | partitions each | ClusterView | plan all topics | per topic |");
    println!("|---|---|---|---|---|");
    for topics in [1_000, 10_000] {
        let snapshot = synthetic(topics, 6, 9);
        let observed: Vec<ObservedTopic> = snapshot.topics.values().cloned().collect();
        let start = Instant::now();
        let view = ClusterView::new(&snapshot, &observed, 10, 50 << 20);
        let view_time = start.elapsed();
        let start = Instant::now();
        let mut actions = 0;
        for (i, t) in observed.iter().enumerate() {
            let desired = DesiredTopic {
                name: t.name.clone(),
                partitions: Some(6),
                // every tenth topic differs (another retention): the plan has work to do
                replication_factor: Some(3),
                min_in_sync_replicas: Some(2),
                configs: [(
                    "retention.ms".to_string(),
                    if i % 10 == 0 { "1000" } else { "604800000" }.to_string(),
                )]
                .into(),
                creation_defaults: CREATION_DEFAULTS,
            };
            actions += plan_topic(&desired, Some(t), &view, &Memory::default())
                .actions
                .len();
        }
        let plan_time = start.elapsed();
        assert_eq!(actions, topics.div_ceil(10));
        println!(
            "| {topics} | 6 | {:.1} ms | {:.1} ms | {:.1} µs |",
            view_time.as_secs_f64() * 1e3,
            plan_time.as_secs_f64() * 1e3,
            plan_time.as_secs_f64() * 1e6 / topics as f64
        );
    }
}

/// Creates one setup topic. A broker busy with a previous run (the e2e benchmark's clean-up
/// deletes thousands of topics just before) may drop the connection: the answer is then lost,
/// so the topic is asked for again, and "already exists" means the lost request did create it.
async fn create_with_retries(admin: &KafkaProtocolAdmin, topic: &TopicTarget) {
    const ATTEMPTS: u32 = 5;
    for attempt in 1..=ATTEMPTS {
        match admin.create_topic(topic, &[], false).await {
            Ok(()) => return,
            Err(e) if e.code() == Some(kafka_protocol::ResponseError::TopicAlreadyExists) => {
                return;
            }
            Err(e) if attempt < ATTEMPTS => {
                eprintln!("create {}: {e}; trying again", topic.name);
                tokio::time::sleep(Duration::from_secs(attempt.into())).await;
            }
            Err(e) => panic!("create bench topic {}: {e}", topic.name),
        }
    }
}

/// The KafkaCluster defaults (unused here: every field is declared).
const CREATION_DEFAULTS: CreationDefaults = CreationDefaults {
    partitions: 3,
    replication_factor: 3,
    min_in_sync_replicas: 2,
};

async fn bench_snapshot(bootstrap: Vec<String>) {
    let topics = 1_000;
    println!("\n## observing a live cluster (3 KRaft nodes on this machine)");
    let admin = KafkaProtocolAdmin::new(bootstrap, Duration::from_secs(30));
    let prefix = format!("bench-{:06x}", rand::random::<u32>() & 0xffffff);
    let start = Instant::now();
    for i in 0..topics {
        let t = DesiredTopic {
            name: format!("{prefix}-{i:04}"),
            partitions: Some(1),
            replication_factor: Some(1),
            min_in_sync_replicas: Some(1),
            configs: Default::default(),
            creation_defaults: CREATION_DEFAULTS,
        }
        .for_creation()
        .expect("min ISR within the replication factor");
        create_with_retries(&admin, &t).await;
    }
    println!(
        "(created {topics} topics in {:.1}s)",
        start.elapsed().as_secs_f64()
    );
    // Let every broker's metadata catch up.
    loop {
        let s = admin.snapshot().await.unwrap();
        if s.topics.keys().filter(|k| k.starts_with(&prefix)).count() == topics {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let before = admin.request_counts();
    let runs = 5;
    let mut times = Vec::new();
    let mut total_topics = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let s = admin.snapshot().await.unwrap();
        times.push(start.elapsed().as_secs_f64() * 1e3);
        total_topics = s.topics.len();
    }
    let after = admin.request_counts();
    let per_snapshot: BTreeMap<&str, f64> = after
        .iter()
        .map(|(k, v)| {
            (
                *k,
                (v - before.get(k).copied().unwrap_or(0)) as f64 / runs as f64,
            )
        })
        .filter(|(_, v)| *v > 0.0)
        .collect();
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "| topics in cluster | snapshot median | snapshot max | requests per snapshot | peak RSS of this process |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| {total_topics} | {:.0} ms | {:.0} ms | {} | {:.0} MiB |",
        times[runs / 2],
        times[runs - 1],
        per_snapshot
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        peak_rss_mib()
    );
    let names: Vec<String> = (0..topics).map(|i| format!("{prefix}-{i:04}")).collect();
    let created = admin
        .describe_topics(&names)
        .await
        .expect("read bench topics");
    for (name, topic) in &created {
        let id = topic.topic_id.as_deref().expect("a topic id");
        admin
            .delete_topic(name, id)
            .await
            .expect("delete bench topic");
    }
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes --bench; nothing else is expected.
    bench_planning();
    match std::env::var("KTO_KAFKA_BOOTSTRAP") {
        Ok(bs) => bench_snapshot(bs.split(',').map(String::from).collect()).await,
        Err(_) => println!(
            "\n(KTO_KAFKA_BOOTSTRAP not set: live snapshot benchmark skipped; run `make bench`)"
        ),
    }
}
