//! What a run is asked to do: environment variables and arguments, and the defaults.

use super::*;

/// The operator binary built with this benchmark (release profile), unless KTO_BENCH_OPERATOR
/// names another build (for example one of an older commit, to compare).
pub fn operator_bin() -> String {
    std::env::var("KTO_BENCH_OPERATOR")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_kafka-topic-operator").to_string())
}
pub const GROUP: &str = "kafka.topic-operator.dev";
pub const VERSION: &str = "v1alpha1";
/// The label on the run's namespaces, KafkaClusters and KafkaTopics (its value: the run's prefix).
pub const RUN_LABEL: &str = "kto-bench-run";
/// How often progress goes to stderr.
pub const PROGRESS: Duration = Duration::from_secs(10);
/// How long the brokers' CPU is watched after the floor's topics are in place.
pub const FLOOR_AFTER: Duration = Duration::from_secs(30);

/// Topics per CreateTopics request of the floor (see where it is used).
pub const FLOOR_BATCH: usize = 1000;
/// kube_client logs one "requesting" event per HTTP request (method and URL in its span) at
/// debug level: the operator's own apiserver requests, counted exactly.
pub const RUST_LOG: &str =
    "info,kube_runtime=warn,kube_client=warn,kube_client::client::builder=debug";

// ---------------------------------------------------------------- settings

pub struct Settings {
    pub topics: usize,
    pub partitions: i32,
    pub replication_factor: i32,
    pub min_isr: i32,
    pub idle: Duration,
    pub deadline: Duration,
    pub resync: Option<String>,
    pub cleanup: Option<String>,
    /// `--clusters C`: the many-KafkaClusters mode (many.rs): C namespaces, each with a
    /// KafkaCluster for the same Kafka and topics / C of the KafkaTopics.
    pub clusters: Option<usize>,
    /// `--paced-floor S`: no operator; the topics go to Kafka in CreateTopics of 100 spread over
    /// S seconds (an apply's pace), and the time until the brokers show them all is reported.
    pub paced_floor: Option<Duration>,
}

impl Settings {
    pub fn from_env_and_args() -> Result<Settings> {
        let mut vars: HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("KTO_BENCH_"))
            .collect();
        // `cargo bench --bench e2e -- --topics 5000`: cargo adds --bench; flags override env.
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut i = 0;
        while i < args.len() {
            let key = match args[i].as_str() {
                "--topics" => "KTO_BENCH_TOPICS",
                "--shape" => "KTO_BENCH_SHAPE",
                "--idle" => "KTO_BENCH_IDLE_SECS",
                "--deadline" => "KTO_BENCH_DEADLINE_SECS",
                "--resync" => "KTO_BENCH_RESYNC",
                "--cleanup" => "KTO_BENCH_CLEANUP",
                "--paced-floor" => "KTO_BENCH_PACED_FLOOR",
                "--clusters" => "KTO_BENCH_CLUSTERS",
                _ => {
                    i += 1;
                    continue;
                }
            };
            let value = args
                .get(i + 1)
                .with_context(|| format!("{} needs a value", args[i]))?;
            vars.insert(key.into(), value.clone());
            i += 2;
        }
        let num = |key: &str, default: u64| -> Result<u64> {
            match vars.get(key).filter(|v| !v.is_empty()) {
                Some(v) => v.parse().with_context(|| format!("{key}={v}")),
                None => Ok(default),
            }
        };
        let topics = num("KTO_BENCH_TOPICS", 1000)? as usize;
        if topics == 0 {
            bail!("KTO_BENCH_TOPICS must be at least 1");
        }
        let clusters = match vars.get("KTO_BENCH_CLUSTERS").filter(|v| !v.is_empty()) {
            None => None,
            Some(_) => Some(num("KTO_BENCH_CLUSTERS", 1)? as usize),
        };
        if let Some(c) = clusters
            && (c == 0 || !topics.is_multiple_of(c))
        {
            bail!(
                "KTO_BENCH_CLUSTERS={c}: expected at least 1, dividing KTO_BENCH_TOPICS={topics}"
            );
        }
        let default_shape = if topics >= 5000 { "1/3/2" } else { "3/3/2" };
        let shape = vars
            .get("KTO_BENCH_SHAPE")
            .filter(|v| !v.is_empty())
            .map(String::as_str)
            .unwrap_or(default_shape);
        let parts: Vec<i32> = shape
            .split('/')
            .map(|p| p.trim().parse())
            .collect::<Result<_, _>>()
            .with_context(|| format!("shape {shape}: expected PARTITIONS/RF/MINISR"))?;
        let [partitions, replication_factor, min_isr] = parts[..] else {
            bail!("shape {shape}: expected PARTITIONS/RF/MINISR");
        };
        Ok(Settings {
            topics,
            partitions,
            replication_factor,
            min_isr,
            idle: Duration::from_secs(num("KTO_BENCH_IDLE_SECS", 120)?),
            deadline: Duration::from_secs(num("KTO_BENCH_DEADLINE_SECS", 1800)?),
            resync: vars
                .get("KTO_BENCH_RESYNC")
                .filter(|v| !v.is_empty())
                .cloned(),
            clusters,
            cleanup: vars
                .get("KTO_BENCH_CLEANUP")
                .filter(|v| !v.is_empty())
                .cloned(),
            paced_floor: vars
                .get("KTO_BENCH_PACED_FLOOR")
                .filter(|v| !v.is_empty())
                .map(|v| v.parse::<f64>().map(Duration::from_secs_f64))
                .transpose()
                .context("KTO_BENCH_PACED_FLOOR: expected seconds")?,
        })
    }

    pub fn shape(&self) -> String {
        format!(
            "{} partition{}, replication factor {}, min ISR {}",
            self.partitions,
            if self.partitions == 1 { "" } else { "s" },
            self.replication_factor,
            self.min_isr
        )
    }
}

pub fn env_var(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| {
        format!("{name} is not set: run `make bench`, or `source /tmp/kto-env/env.sh` first")
    })
}

/// The operator's default --resync-interval, from its --help.
/// `30s`, `2m`, `500ms` (the forms the operator's --resync-interval takes).
pub fn seconds_of(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    Some(match unit {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number * 60),
        _ => return None,
    })
}

pub fn default_resync() -> String {
    let help = std::process::Command::new(operator_bin())
        .args(["run", "--help"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let mut in_flag = false;
    for line in help.lines() {
        if line.contains("--resync-interval") {
            in_flag = true;
        }
        if in_flag && let Some(i) = line.find("[default: ") {
            let rest = &line[i + 10..];
            return rest.split(']').next().unwrap_or("?").to_string();
        }
    }
    "?".into()
}
