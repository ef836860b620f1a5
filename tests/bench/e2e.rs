//! `make bench` (end to end): N KafkaTopics applied at once to the operator's release build,
//! running as its own process against the live environment (`source /tmp/kto-env/env.sh`).
//!
//! 1. A fresh namespace, a KafkaCluster `kafka` in it (the environment's 3-node Kafka), the CRDs,
//!    and the operator binary (`run --namespace NS`, default resync unless KTO_BENCH_RESYNC).
//! 2. N KafkaTopics in ONE `kubectl apply --server-side -f FILE`; a watch records when each object
//!    appears and first becomes Ready=True (and any Ready -> not Ready regression).
//! 3. Until all N are Ready (deadline KTO_BENCH_DEADLINE_SECS, default 1800): time from the start
//!    of the apply and from the last object applied, Ready per 10 s beside the topics Kafka's
//!    metadata shows (polled every 500 ms: the brokers' part), operator CPU and peak RSS,
//!    the operator's counters (/metrics: Kafka operations, reconciles), the operator's apiserver
//!    requests (its kube client's request log) and apiserver writes by all clients.
//! 4. Once no topic is Degraded any more (followers have joined the ISR), idle for
//!    KTO_BENCH_IDLE_SECS (default 120) with nothing changing: the same figures.
//! 5. Drift: one topic's min.insync.replicas changed behind the operator's back (rdkafka
//!    AlterConfigs); the time until Kafka shows the declared value again, and what was written.
//! 6. Cold start: the operator restarted; the time until every topic's kto_topic_ready gauge is
//!    1, and its writes (Kafka and apiserver) meanwhile.
//! 7. The floor: the operator stopped, N other topics of the same shape created by one batched
//!    CreateTopics (rdkafka AdminClient), timed until the call returns and until metadata shows
//!    every partition with a leader; the ratio operator / floor.
//! 8. Cleanup (also after a failure, Ctrl-C or SIGTERM): operator stopped, the KafkaTopics, the cluster
//!    and the namespace deleted, every topic of the run deleted from Kafka.
//!
//! With `--paced-floor S` (KTO_BENCH_PACED_FLOOR) none of the above runs: no operator, the N
//! topics go to Kafka in CreateTopics of 100 spread over S seconds (the pace at which an apply
//! hands the operator its objects), and the time until the brokers' metadata shows them all is
//! the floor for an apply that takes S seconds. Run it on a fresh environment, like the
//! operator's run it is compared with.
//!
//! Settings (environment or arguments): KTO_BENCH_TOPICS / `--topics N` (default 1000),
//! KTO_BENCH_SHAPE / `--shape P/RF/MINISR` (default 3/3/2, and 1/3/2 from 5000 topics up),
//! KTO_BENCH_IDLE_SECS / `--idle S`, KTO_BENCH_DEADLINE_SECS / `--deadline S`,
//! KTO_BENCH_RESYNC / `--resync 30s` (passed to the operator's --resync-interval),
//! KTO_BENCH_OPERATOR (another operator binary, e.g. an older commit's; KTO_BENCH_COMMIT names
//! it in the report), KTO_BENCH_CLEANUP / `--cleanup RUN` (only remove what run RUN left behind),
//! KTO_BENCH_RUST_LOG (the operator's RUST_LOG, e.g. to add `kafka_topic_operator=debug`).
//! The report (markdown) goes to stdout, progress every 10 s to stderr; nothing is written to
//! the repository. The operator's log and the applied YAML stay in /tmp/kto-bench-<run>/.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use futures::StreamExt;
use kube::Client;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, PostParams,
};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use serde_json::{Value, json};

/// The operator binary built with this benchmark (release profile), unless KTO_BENCH_OPERATOR
/// names another build (for example one of an older commit, to compare).
fn operator_bin() -> String {
    std::env::var("KTO_BENCH_OPERATOR")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_kafka-topic-operator").to_string())
}
const GROUP: &str = "kafka.topic-operator.dev";
const VERSION: &str = "v1alpha1";
/// How often progress goes to stderr.
const PROGRESS: Duration = Duration::from_secs(10);
/// How long the brokers' CPU is watched after the floor's topics are in place.
const FLOOR_AFTER: Duration = Duration::from_secs(30);

/// Topics per CreateTopics request of the floor (see where it is used).
const FLOOR_BATCH: usize = 1000;
/// kube_client logs one "requesting" event per HTTP request (method and URL in its span) at
/// debug level: the operator's own apiserver requests, counted exactly.
const RUST_LOG: &str = "info,kube_runtime=warn,kube_client=warn,kube_client::client::builder=debug";

// ---------------------------------------------------------------- settings

struct Settings {
    topics: usize,
    partitions: i32,
    replication_factor: i32,
    min_isr: i32,
    idle: Duration,
    deadline: Duration,
    resync: Option<String>,
    cleanup: Option<String>,
    /// `--paced-floor S`: no operator; the topics go to Kafka in CreateTopics of 100 spread over
    /// S seconds (an apply's pace), and the time until the brokers show them all is reported.
    paced_floor: Option<Duration>,
}

impl Settings {
    fn from_env_and_args() -> Result<Settings> {
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

    fn shape(&self) -> String {
        format!(
            "{} partition{}, replication factor {}, min ISR {}",
            self.partitions,
            if self.partitions == 1 { "" } else { "s" },
            self.replication_factor,
            self.min_isr
        )
    }
}

fn env_var(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| {
        format!("{name} is not set: run `make bench`, or `source /tmp/kto-env/env.sh` first")
    })
}

fn progress(msg: impl AsRef<str>) {
    eprintln!(
        "[e2e {}] {}",
        chrono::Utc::now().format("%H:%M:%S"),
        msg.as_ref()
    );
}

/// Prints `msg()` to stderr at most every PROGRESS.
struct Ticker(Instant);

impl Ticker {
    fn new() -> Ticker {
        Ticker(Instant::now())
    }
    fn tick(&mut self, msg: impl FnOnce() -> String) {
        if self.0.elapsed() >= PROGRESS {
            self.0 = Instant::now();
            progress(msg());
        }
    }
}

// ---------------------------------------------------------------- processes (/proc)

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime 15.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// A `/proc/<pid>/status` value in MiB (VmRSS, VmHWM).
fn status_mib(pid: u32, key: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map(|kib| kib / 1024.0)
}

/// The environment's processes whose CPU the report shows beside the operator's.
const ENV_PROCESSES: [(&str, &[&str]); 3] = [
    ("Kafka brokers (3)", &["kafka-1", "kafka-2", "kafka-3"]),
    ("kube-apiserver", &["kube-apiserver"]),
    ("etcd", &["etcd"]),
];

fn env_pid(name: &str) -> Option<u32> {
    let dir = std::env::var("KTO_ENV_DIR").unwrap_or_else(|_| "/tmp/kto-env".into());
    std::fs::read_to_string(format!("{dir}/pids/{name}.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The `-Xmx` of Kafka node 1, from its command line.
fn kafka_heap() -> String {
    kafka_jvm_arg("-Xmx").unwrap_or_else(|| "?".into())
}

/// The brokers' JIT: "C1 only" when the environment stops tiered compilation at level 1
/// (tests/env/up.sh, KAFKA_JVM_EXTRA), else the JVM's default (C1 then C2).
fn kafka_jit() -> &'static str {
    match kafka_jvm_arg("-XX:TieredStopAtLevel=").as_deref() {
        Some("1") => "C1 only (-XX:TieredStopAtLevel=1)",
        _ => "the JVM's default (C1 then C2)",
    }
}

/// The value of the first argument of kafka-1's command line that starts with `prefix`.
fn kafka_jvm_arg(prefix: &str) -> Option<String> {
    env_pid("kafka-1")
        .and_then(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
        .and_then(|cmdline| {
            cmdline
                .split(|b| *b == 0)
                .filter_map(|arg| std::str::from_utf8(arg).ok())
                .find_map(|arg| arg.strip_prefix(prefix).map(String::from))
        })
}

// ---------------------------------------------------------------- metrics texts

/// Parses one Prometheus text line `name{a="x",b="y"} value` into (name, labels, value).
/// One sample of a Prometheus text exposition: name, labels, value.
type PromSample = (String, Vec<(String, String)>, f64);

fn parse_sample(line: &str) -> Option<PromSample> {
    if line.starts_with('#') || line.is_empty() {
        return None;
    }
    let (head, value) = line.rsplit_once(' ')?;
    let value: f64 = value.parse().ok()?;
    let Some((name, labels)) = head.split_once('{') else {
        return Some((head.to_string(), vec![], value));
    };
    let labels = labels.strip_suffix('}')?;
    let mut out = Vec::new();
    let mut rest = labels;
    while let Some((key, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        value.push(n);
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        out.push((key.trim_start_matches(',').trim().to_string(), value));
        rest = &after[end..];
    }
    Some((name.to_string(), out, value))
}

/// The operator's counters (`kto_*_total`), keyed by name and labels other than the
/// cluster's and namespace's.
fn operator_counters(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some((name, labels, value)) = parse_sample(line) else {
            continue;
        };
        if !name.starts_with("kto_") || !name.ends_with("_total") {
            continue;
        }
        let labels: Vec<String> = labels
            .into_iter()
            .filter(|(k, _)| k != "cluster" && k != "namespace")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        *out.entry(format!("{name} {}", labels.join(" ")).trim().to_string())
            .or_default() += value;
    }
    out
}

/// Write requests the apiserver served, for the resources the operator writes, by verb and
/// resource (all clients: the benchmark's own apply and anything else running count too).
fn apiserver_writes(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if !line.starts_with("apiserver_request_total{") {
            continue;
        }
        let Some((_, labels, value)) = parse_sample(line) else {
            continue;
        };
        let get = |k: &str| {
            labels
                .iter()
                .find(|(l, _)| l == k)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        let verb = get("verb");
        let resource = get("resource");
        if !matches!(
            verb,
            "POST" | "PUT" | "PATCH" | "APPLY" | "DELETE" | "DELETECOLLECTION"
        ) || !matches!(resource, "kafkatopics" | "kafkaclusters" | "events")
        {
            continue;
        }
        let sub = get("subresource");
        let key = if sub.is_empty() {
            format!("{verb} {resource}")
        } else {
            format!("{verb} {resource}/{sub}")
        };
        *out.entry(key).or_default() += value;
    }
    out
}

/// The difference of two scrapes; None when either failed.
fn delta_of(
    after: &Option<BTreeMap<String, f64>>,
    before: &Option<BTreeMap<String, f64>>,
) -> Option<BTreeMap<String, f64>> {
    Some(delta(after.as_ref()?, before.as_ref()?))
}

fn delta(after: &BTreeMap<String, f64>, before: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, v)| *v != 0.0)
        .collect()
}

/// The operator's apiserver requests in its log since `from` (a byte offset): counts by
/// "METHOD resource" (watches apart), and the new offset.
fn kube_requests(log: &Path, from: u64) -> (BTreeMap<String, f64>, u64) {
    let Ok(bytes) = std::fs::read(log) else {
        return (BTreeMap::new(), from);
    };
    let end = bytes[..]
        .iter()
        .rposition(|b| *b == b'\n')
        .map(|p| p as u64 + 1)
        .unwrap_or(0)
        .max(from);
    let mut out = BTreeMap::new();
    for line in String::from_utf8_lossy(&bytes[from as usize..end as usize]).lines() {
        if !line.contains("\"requesting\"") {
            continue;
        }
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(span) = v["spans"]
            .as_array()
            .and_then(|s| s.iter().rev().find(|s| s["name"] == "HTTP"))
        else {
            continue;
        };
        let method = span["http.method"].as_str().unwrap_or("?");
        let url = span["http.url"].as_str().unwrap_or("");
        *out.entry(request_key(method, url)).or_default() += 1.0;
    }
    (out, end)
}

/// "PATCH kafkatopics/status", "GET kafkatopics (watch)", "POST events" from a request URL.
fn request_key(method: &str, url: &str) -> String {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let path = path
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let path = path.find('/').map(|i| &path[i..]).unwrap_or(path);
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // /api/v1/... or /apis/group/version/...
    let rest = match segs.first() {
        Some(&"api") => segs.get(2..).unwrap_or_default(),
        Some(&"apis") => segs.get(3..).unwrap_or_default(),
        _ => &segs[..],
    };
    let rest = if rest.first() == Some(&"namespaces") && rest.len() > 2 {
        &rest[2..]
    } else {
        rest
    };
    let mut resource = rest.first().copied().unwrap_or("?").to_string();
    if let Some(sub) = rest.get(2) {
        resource = format!("{resource}/{sub}");
    }
    let kind = if query.split('&').any(|q| q == "watch=true") {
        " (watch)"
    } else if method == "GET" && rest.len() == 1 {
        " (list)"
    } else {
        ""
    };
    format!("{method} {resource}{kind}")
}

fn is_write(key: &str) -> bool {
    ["POST ", "PUT ", "PATCH ", "DELETE "]
        .iter()
        .any(|m| key.starts_with(m))
}

// ---------------------------------------------------------------- watch of the KafkaTopics

#[derive(Default)]
struct TopicState {
    seen: Option<Instant>,
    ready: bool,
    first_ready: Option<Instant>,
    reason: String,
    /// Degraded=True (under-replicated, under min ISR or offline).
    degraded: bool,
}

#[derive(Default)]
struct Watched {
    topics: HashMap<String, TopicState>,
    /// Ready=True -> anything else, after the first Ready.
    regressions: u64,
    /// Every not-Ready reason a topic showed, with the topics that showed it.
    reasons_seen: BTreeMap<String, std::collections::BTreeSet<String>>,
}

impl Watched {
    fn apply(&mut self, obj: &DynamicObject) {
        let Some(name) = obj.metadata.name.clone() else {
            return;
        };
        let cond = obj.data["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
        let ready = cond.is_some_and(|c| c["status"] == "True");
        let reason = cond
            .and_then(|c| c["reason"].as_str())
            .unwrap_or("(no status)")
            .to_string();
        let now = Instant::now();
        if !ready {
            self.reasons_seen
                .entry(reason.clone())
                .or_default()
                .insert(name.clone());
        }
        let t = self.topics.entry(name).or_default();
        t.seen.get_or_insert(now);
        if t.ready && !ready {
            self.regressions += 1;
        }
        if ready && t.first_ready.is_none() {
            t.first_ready = Some(now);
        }
        t.ready = ready;
        t.reason = if ready { "Ready".into() } else { reason };
        t.degraded = obj.data["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Degraded"))
            .is_some_and(|c| c["status"] == "True");
    }

    fn counts(&self) -> (usize, usize) {
        (
            self.topics.len(),
            self.topics.values().filter(|t| t.ready).count(),
        )
    }

    fn degraded(&self) -> usize {
        self.topics.values().filter(|t| t.degraded).count()
    }

    fn reasons(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for t in self.topics.values().filter(|t| !t.ready) {
            *out.entry(t.reason.clone()).or_default() += 1;
        }
        out
    }
}

fn spawn_watch(api: Api<DynamicObject>, state: Arc<Mutex<Watched>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut stream = watcher::watcher(api, watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(event) = stream.next().await {
            match event {
                Ok(Event::Apply(o)) | Ok(Event::InitApply(o)) => state.lock().unwrap().apply(&o),
                Ok(Event::Delete(o)) => {
                    if let Some(n) = o.metadata.name {
                        state.lock().unwrap().topics.remove(&n);
                    }
                }
                Ok(_) => {}
                Err(e) => progress(format!("watch error (retrying): {e}")),
            }
        }
    })
}

// ---------------------------------------------------------------- the operator process

struct Operator {
    child: tokio::process::Child,
    pid: u32,
    http: SocketAddr,
    log: PathBuf,
}

impl Operator {
    fn start(ns: &str, resync: Option<&str>, log: PathBuf) -> Result<Operator> {
        let http = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let bin = operator_bin();
        let mut cmd = tokio::process::Command::new(&bin);
        cmd.args(["run", "--namespace", ns, "--log-format", "json"])
            .args(["--http-addr", &http.to_string()])
            .env(
                "RUST_LOG",
                std::env::var("KTO_BENCH_RUST_LOG").unwrap_or_else(|_| RUST_LOG.into()),
            )
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .kill_on_drop(true);
        // Only our flags decide how it runs.
        for var in [
            "KTO_NAMESPACE",
            "KTO_SELECTOR",
            "KTO_RESYNC_INTERVAL",
            "KTO_KAFKA_TIMEOUT",
            "KTO_HTTP_ADDR",
            "KTO_LEADER_ELECTION",
            "KTO_LOG_FORMAT",
        ] {
            cmd.env_remove(var);
        }
        if let Some(r) = resync {
            cmd.args(["--resync-interval", r]);
        }
        let child = cmd.spawn().with_context(|| format!("starting {bin}"))?;
        let pid = child.id().context("operator pid")?;
        Ok(Operator {
            child,
            pid,
            http,
            log,
        })
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    async fn http_get(&self, path: &str) -> Result<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(self.http).await?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
        let mut response = String::new();
        tokio::time::timeout(Duration::from_secs(30), s.read_to_string(&mut response))
            .await
            .context("timed out reading the operator's HTTP answer")??;
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
            bail!("GET {path}: {}", head.lines().next().unwrap_or(""));
        }
        Ok(body.to_string())
    }

    fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// SIGTERM, then SIGKILL after 30 s; says which it took.
    async fn stop(&mut self) -> String {
        if !self.alive() {
            return "had already exited".into();
        }
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        let started = Instant::now();
        let what = match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(_) => format!("exited {} after SIGTERM", secs(started.elapsed())),
            Err(_) => {
                let _ = self.child.kill().await;
                "did not exit within 30 s of SIGTERM; killed".to_string()
            }
        };
        progress(format!("operator {what}"));
        what
    }
}

// ---------------------------------------------------------------- samples

/// Everything measured at one moment, so phases are differences of two samples.
struct Sample {
    at: Instant,
    operator_cpu: f64,
    operator_rss: f64,
    operator_hwm: f64,
    /// CPU seconds by process id, per group of the environment's processes.
    env_cpu: BTreeMap<&'static str, Vec<(u32, f64)>>,
    /// None when the scrape failed.
    counters: Option<BTreeMap<String, f64>>,
    apiserver: Option<BTreeMap<String, f64>>,
    kube_log: BTreeMap<String, f64>,
    log_offset: u64,
}

struct Ctx {
    settings: Settings,
    kubectl: String,
    tck: f64,
    dir: PathBuf,
    ns: String,
    prefix: String,
    client: Client,
    admin: Arc<AdminClient<DefaultClientContext>>,
}

impl Ctx {
    fn out(&mut self, line: impl AsRef<str>) {
        println!("{}", line.as_ref());
    }

    async fn kubectl(&self, args: &[&str], timeout: Duration) -> Result<String> {
        let fut = tokio::process::Command::new(&self.kubectl)
            .args(args)
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(timeout, fut)
            .await
            .with_context(|| format!("kubectl {args:?} timed out after {timeout:?}"))??;
        if !out.status.success() {
            bail!(
                "kubectl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn topic_api(&self) -> Api<DynamicObject> {
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(GROUP, VERSION, "KafkaTopic"),
            "kafkatopics",
        );
        Api::namespaced_with(self.client.clone(), &self.ns, &ar)
    }

    fn cluster_api(&self) -> Api<DynamicObject> {
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(GROUP, VERSION, "KafkaCluster"),
            "kafkaclusters",
        );
        Api::namespaced_with(self.client.clone(), &self.ns, &ar)
    }

    /// The moment's figures first (CPU, memory, the request log), then the slower scrapes.
    async fn sample(&self, op: &Operator, log_offset: u64) -> Sample {
        let at = Instant::now();
        let operator_cpu = cpu_ticks(op.pid).unwrap_or(0) as f64 / self.tck;
        let (kube_log, log_offset) = kube_requests(&op.log, log_offset);
        let mut env_cpu = BTreeMap::new();
        for (label, names) in ENV_PROCESSES {
            let cpus: Vec<(u32, f64)> = names
                .iter()
                .filter_map(|n| env_pid(n))
                .filter_map(|p| Some((p, cpu_ticks(p)? as f64 / self.tck)))
                .collect();
            env_cpu.insert(label, cpus);
        }
        let mut counters = None;
        for attempt in 1..=3 {
            match op.http_get("/metrics").await {
                Ok(text) => {
                    counters = Some(operator_counters(&text));
                    break;
                }
                Err(e) => progress(format!("operator /metrics (attempt {attempt}): {e}")),
            }
        }
        let apiserver = match self
            .kubectl(&["get", "--raw", "/metrics"], Duration::from_secs(60))
            .await
        {
            Ok(text) => Some(apiserver_writes(&text)),
            Err(e) => {
                progress(format!("apiserver /metrics: {e}"));
                None
            }
        };
        Sample {
            at,
            operator_cpu,
            operator_rss: status_mib(op.pid, "VmRSS:").unwrap_or(0.0),
            operator_hwm: status_mib(op.pid, "VmHWM:").unwrap_or(0.0),
            env_cpu,
            counters,
            apiserver,
            kube_log,
            log_offset,
        }
    }

    /// Kafka metadata of every topic.
    async fn metadata(&self) -> Result<BTreeMap<String, TopicMeta>> {
        kafka_metadata(self.admin.clone()).await
    }
}

/// Kafka metadata of every topic (a blocking call, on a worker thread).
async fn kafka_metadata(
    admin: Arc<AdminClient<DefaultClientContext>>,
) -> Result<BTreeMap<String, TopicMeta>> {
    tokio::task::spawn_blocking(move || -> Result<BTreeMap<String, TopicMeta>> {
        let md = admin
            .inner()
            .fetch_metadata(None, Duration::from_secs(30))?;
        Ok(md
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| {
                let parts = t.partitions();
                let meta = TopicMeta {
                    partitions: parts.len(),
                    led: parts.iter().all(|p| p.leader() >= 0),
                };
                (t.name().to_string(), meta)
            })
            .collect())
    })
    .await?
}

/// When each of the run's topics first showed in Kafka's metadata with every partition led:
/// polled every 500 ms while the operator creates them, so that the time to all Ready splits
/// into the brokers' part (until the last topic shows) and the operator's (Ready after that).
fn spawn_kafka_watch(
    admin: Arc<AdminClient<DefaultClientContext>>,
    prefix: String,
    partitions: usize,
    shown: Arc<Mutex<HashMap<String, Instant>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Ok(md) = kafka_metadata(admin.clone()).await {
                let now = Instant::now();
                let mut shown = shown.lock().unwrap();
                for (name, meta) in md {
                    if name.starts_with(&prefix) && meta.partitions == partitions && meta.led {
                        shown.entry(name).or_insert(now);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}

/// One topic in Kafka's metadata, as the floor and the clean-up look at it.
struct TopicMeta {
    partitions: usize,
    /// Every partition has a leader.
    led: bool,
}

/// CPU seconds the three Kafka brokers have used so far.
fn brokers_cpu(tck: f64) -> f64 {
    ["kafka-1", "kafka-2", "kafka-3"]
        .iter()
        .filter_map(|n| cpu_ticks(env_pid(n)?))
        .sum::<u64>() as f64
        / tck
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

// ---------------------------------------------------------------- the run

async fn setup_cluster(cx: &Ctx) -> Result<()> {
    let crds = concat!(env!("CARGO_MANIFEST_DIR"), "/crds/");
    cx.kubectl(
        &["apply", "--server-side", "--force-conflicts", "-f", crds],
        Duration::from_secs(120),
    )
    .await?;
    cx.kubectl(
        &[
            "wait",
            "--for",
            "condition=established",
            "--timeout=60s",
            "-f",
            crds,
        ],
        Duration::from_secs(90),
    )
    .await?;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(cx.client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": cx.ns}}))?,
        )
        .await
        .context("creating the namespace")?;
    let bootstrap: Vec<String> = env_var("KTO_KAFKA_BOOTSTRAP")?
        .split(',')
        .map(String::from)
        .collect();
    let kc: DynamicObject = serde_json::from_value(json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": "KafkaCluster",
        "metadata": {"name": "kafka", "namespace": cx.ns},
        "spec": {"bootstrapServers": bootstrap, "policy": {"mode": "Enforce"}}
    }))?;
    cx.cluster_api()
        .create(&PostParams::default(), &kc)
        .await
        .context("creating the KafkaCluster")?;
    Ok(())
}

async fn wait_operator_ready(cx: &Ctx, op: &mut Operator) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut ticker = Ticker::new();
    loop {
        if !op.alive() {
            bail!("the operator exited:\n{}", op.log_tail(30));
        }
        let kc = cx.cluster_api().get("kafka").await?;
        let ready = kc.data["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
            .map(|c| c["status"] == "True")
            .unwrap_or(false);
        if ready && op.http_get("/readyz").await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "the KafkaCluster was not Ready within 120 s; status {}\n{}",
                kc.data["status"],
                op.log_tail(30)
            );
        }
        ticker.tick(|| "waiting for the operator and KafkaCluster Ready".into());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn topics_yaml(cx: &Ctx) -> String {
    let s = &cx.settings;
    let mut yaml = String::with_capacity(s.topics * 260);
    for i in 0..s.topics {
        let _ = write!(
            yaml,
            "apiVersion: {GROUP}/{VERSION}\nkind: KafkaTopic\nmetadata:\n  name: {}-{i:05}\n  namespace: {}\nspec:\n  clusterRef:\n    name: kafka\n  partitions: {}\n  replicationFactor: {}\n  minInSyncReplicas: {}\n---\n",
            cx.prefix, cx.ns, s.partitions, s.replication_factor, s.min_isr
        );
    }
    yaml
}

async fn run(cx: &mut Ctx, op_slot: &mut Option<Operator>) -> Result<()> {
    let n = cx.settings.topics;
    // What was built: KTO_BENCH_COMMIT when the binary comes from elsewhere, else this tree.
    let commit = match std::env::var("KTO_BENCH_COMMIT") {
        Ok(c) if !c.is_empty() => c,
        _ => {
            let git = |args: &[&str]| {
                std::process::Command::new("git")
                    .args(["-C", env!("CARGO_MANIFEST_DIR")])
                    .args(args)
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                    .unwrap_or_default()
            };
            let dirty = !git(&["status", "--porcelain", "src"]).is_empty();
            format!(
                "{}{}",
                git(&["rev-parse", "--short", "HEAD"]),
                if dirty {
                    " (plus uncommitted changes in src/)"
                } else {
                    ""
                }
            )
        }
    };
    let before = cx.metadata().await.context("Kafka metadata")?;

    setup_cluster(cx).await?;
    let resync = cx.settings.resync.clone();
    *op_slot = Some(Operator::start(
        &cx.ns,
        resync.as_deref(),
        cx.dir.join("operator.log"),
    )?);
    let op = op_slot.as_mut().unwrap();
    progress(format!(
        "operator pid {} (metrics on {}, log {})",
        op.pid,
        op.http,
        op.log.display()
    ));
    let started = Instant::now();
    wait_operator_ready(cx, op).await?;
    let startup = started.elapsed();

    cx.out(format!("# End-to-end: {n} KafkaTopics applied at once"));
    cx.out("");
    cx.out("| setting | value |");
    cx.out("|---|---|");
    cx.out(format!(
        "| date | {} |",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    ));
    cx.out(format!(
        "| operator build | {commit} ({}) |",
        operator_bin()
    ));
    cx.out(format!(
        "| machine | {} cores, {:.0} GiB |",
        std::thread::available_parallelism().map_or(0, |p| p.get()),
        status_mem_gib()
    ));
    cx.out(format!("| topics | {n}, {} |", cx.settings.shape()));
    cx.out(format!(
        "| Kafka heap per node / JIT | {} / {} |",
        kafka_heap(),
        kafka_jit()
    ));
    cx.out(format!(
        "| resync | {} |",
        resync.unwrap_or_else(|| format!("operator default ({})", default_resync()))
    ));
    cx.out(format!(
        "| topics in Kafka before the run | {} (other tests' and leftovers) |",
        before.len()
    ));
    cx.out(format!(
        "| operator start to KafkaCluster Ready | {} |",
        secs(startup)
    ));
    cx.out("");

    // ---- mass creation
    let state = Arc::new(Mutex::new(Watched::default()));
    let watch = spawn_watch(cx.topic_api(), state.clone());
    let shown_in_kafka = Arc::new(Mutex::new(HashMap::new()));
    let kafka_watch = spawn_kafka_watch(
        cx.admin.clone(),
        format!("{}-", cx.prefix),
        cx.settings.partitions as usize,
        shown_in_kafka.clone(),
    );
    let yaml_path = cx.dir.join("topics.yaml");
    std::fs::write(&yaml_path, topics_yaml(cx))?;
    let s0 = cx.sample(op, 0).await;
    progress(format!("applying {n} KafkaTopics in one kubectl apply"));
    let apply_start = Instant::now();
    let mut apply = tokio::process::Command::new(&cx.kubectl)
        .args(["apply", "--server-side", "--field-manager=kto-bench", "-f"])
        .arg(&yaml_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(cx.dir.join("apply.err"))?)
        .kill_on_drop(true)
        .spawn()?;
    let mut ticker = Ticker::new();
    let apply_deadline = apply_start + Duration::from_secs(900);
    let status = loop {
        if let Some(status) = apply.try_wait()? {
            break status;
        }
        if Instant::now() > apply_deadline {
            bail!("kubectl apply did not finish within 900 s");
        }
        ticker.tick(|| {
            let (seen, ready) = state.lock().unwrap().counts();
            format!(
                "t={:.0}s applying: {seen}/{n} applied, {ready} Ready",
                apply_start.elapsed().as_secs_f64()
            )
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let apply_end = Instant::now();
    if !status.success() {
        let err = std::fs::read_to_string(cx.dir.join("apply.err")).unwrap_or_default();
        bail!("kubectl apply failed: {}", err.trim());
    }
    progress(format!(
        "kubectl apply took {}",
        secs(apply_end - apply_start)
    ));

    let deadline = apply_start + cx.settings.deadline;
    let mut all_ready_seen = Instant::now();
    let all_ready = loop {
        let (seen, ready) = state.lock().unwrap().counts();
        if seen == n && ready == n {
            all_ready_seen = Instant::now();
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        if !op.alive() {
            bail!("the operator exited:\n{}", op.log_tail(30));
        }
        ticker.tick(|| {
            format!(
                "t={:.0}s {seen}/{n} applied, {ready} Ready (not Ready: {:?}); operator CPU {:.1} s, RSS {:.0} MiB",
                apply_start.elapsed().as_secs_f64(),
                state.lock().unwrap().reasons(),
                cpu_ticks(op.pid).unwrap_or(0) as f64 / cx.tck,
                status_mib(op.pid, "VmRSS:").unwrap_or(0.0)
            )
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let s1 = cx.sample(op, s0.log_offset).await;
    kafka_watch.abort();
    let ready_at = s1.at;
    let (first_ready, last_seen, reasons, regressions_creation, reasons_seen) = {
        let st = state.lock().unwrap();
        let mut first: Vec<Instant> = st.topics.values().filter_map(|t| t.first_ready).collect();
        first.sort();
        let last_seen = st.topics.values().filter_map(|t| t.seen).max();
        let reasons_seen: Vec<String> = st
            .reasons_seen
            .iter()
            .map(|(r, topics)| format!("{r} {}", topics.len()))
            .collect();
        (
            first,
            last_seen,
            st.reasons(),
            st.regressions,
            reasons_seen.join(", "),
        )
    };
    // The moment the last topic became Ready (exact from the watch when none fell back; else
    // when the poll saw all Ready, within 200 ms).
    let all_ready_at = match (all_ready, regressions_creation) {
        (true, 0) => first_ready.last().copied().unwrap_or(all_ready_seen),
        (true, _) => all_ready_seen,
        (false, _) => ready_at,
    };

    cx.out("## Mass creation");
    cx.out("");
    cx.out("| what | value |");
    cx.out("|---|---|");
    cx.out(format!(
        "| one `kubectl apply --server-side` of {n} objects | {} |",
        secs(apply_end - apply_start)
    ));
    if let Some(ls) = last_seen {
        cx.out(format!(
            "| last object seen by the watch, from the start of the apply | {} |",
            secs(ls - apply_start)
        ));
    }
    if all_ready {
        cx.out(format!(
            "| **all {n} Ready, from the start of the apply** | **{}** |",
            secs(all_ready_at - apply_start)
        ));
        cx.out(format!(
            "| **all {n} Ready, from the last object applied (kubectl returned)** | **{}** |",
            secs(all_ready_at.saturating_duration_since(apply_end))
        ));
        cx.out(format!(
            "| mean rate, from the start of the apply | {:.1} topics/s |",
            n as f64 / (all_ready_at - apply_start).as_secs_f64()
        ));
    } else {
        let ready = first_ready.len();
        cx.out(format!(
            "| **NOT all Ready after {}** | {ready}/{n} were Ready at least once; not Ready now: {} |",
            secs(cx.settings.deadline),
            reasons
                .iter()
                .map(|(r, c)| format!("{r} {c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let shown_times: Vec<Instant> = shown_in_kafka.lock().unwrap().values().copied().collect();
    match shown_times.iter().max() {
        Some(last) if shown_times.len() == n => {
            cx.out(format!(
                "| the brokers' metadata showed all {n} (every partition led; polled every 500 ms), from the start of the apply | {} |",
                secs(*last - apply_start)
            ));
            if all_ready {
                cx.out(format!(
                    "| **all Ready after the brokers showed the last topic (the operator's and the apiserver's share)** | **{}** |",
                    secs(all_ready_at.saturating_duration_since(*last))
                ));
            }
        }
        _ => cx.out(format!(
            "| the brokers' metadata showed (every partition led) | {} of {n} |",
            shown_times.len()
        )),
    }
    cx.out(format!(
        "| Ready -> not Ready regressions while creating | {regressions_creation} |"
    ));
    cx.out(format!(
        "| not-Ready reasons shown on the way (topics that showed each) | {reasons_seen} |"
    ));
    cx.out(format!(
        "| operator CPU, from the start of the apply to all Ready | {:.1} s |",
        s1.operator_cpu - s0.operator_cpu
    ));
    cx.out(format!(
        "| operator peak RSS (VmHWM) | {:.0} MiB |",
        s1.operator_hwm
    ));
    for (label, cpu) in env_cpu_delta(&s0, &s1) {
        cx.out(format!("| {label} CPU, same interval | {cpu} |"));
    }
    cx.out("");

    // Ready over time, from the first Ready times.
    let span = (all_ready_at - apply_start).as_secs_f64();
    let bucket = ((span / 60.0 / 10.0).ceil() as u64 * 10).max(10) as f64;
    cx.out(format!(
        "Ready over time ({bucket:.0} s steps, from the start of the apply):"
    ));
    cx.out("");
    cx.out("| t | applied | shown by the brokers | Ready | new Ready | topics/s |");
    cx.out("|---|---|---|---|---|---|");
    let shown_times: Vec<f64> = shown_times
        .iter()
        .map(|s| s.saturating_duration_since(apply_start).as_secs_f64())
        .collect();
    let seen_times: Vec<f64> = {
        let st = state.lock().unwrap();
        st.topics
            .values()
            .filter_map(|t| t.seen)
            .map(|s| s.saturating_duration_since(apply_start).as_secs_f64())
            .collect()
    };
    let ready_times: Vec<f64> = first_ready
        .iter()
        .map(|r| r.saturating_duration_since(apply_start).as_secs_f64())
        .collect();
    let (mut prev, mut prev_t, mut t) = (0, 0.0, bucket);
    loop {
        // The last row ends when the last topic became Ready (or at the deadline).
        let end = t.min(span);
        let applied = seen_times.iter().filter(|s| **s <= end).count();
        let ready = ready_times.iter().filter(|s| **s <= end).count();
        let shown = shown_times.iter().filter(|s| **s <= end).count();
        cx.out(format!(
            "| {end:.0} s | {applied} | {shown} | {ready} | {} | {:.1} |",
            ready - prev,
            (ready - prev) as f64 / (end - prev_t).max(0.1)
        ));
        (prev, prev_t) = (ready, end);
        if t >= span {
            break;
        }
        t += bucket;
    }
    cx.out("");
    // ---- idle: only once every topic is Ready (else something is still changing)
    let s2 = if all_ready {
        Some(idle(cx, op, &state, &s1, regressions_creation).await?)
    } else {
        cx.out("(the idle phase is skipped: not every topic became Ready)");
        cx.out("");
        None
    };
    watch.abort();
    requests(cx, &s0, &s1, s2.as_ref());

    // ---- drift on one topic, then a cold start: only from a settled state
    if let Some((_, s2)) = &s2 {
        drift(cx, op, s2).await?;
        cold_start(cx, op_slot).await?;
    }

    // ---- the floor: the operator stopped, one batched CreateTopics of N other topics
    let op = op_slot.as_mut().unwrap();
    let stopped = op.stop().await;
    let floor_prefix = format!("{}-floor", cx.prefix);
    let names: Vec<String> = (0..n).map(|i| format!("{floor_prefix}-{i:05}")).collect();
    let (p, rf, min_isr) = (
        cx.settings.partitions,
        cx.settings.replication_factor,
        cx.settings.min_isr.to_string(),
    );
    let new_topics: Vec<NewTopic> = names
        .iter()
        .map(|name| {
            NewTopic::new(name, p, TopicReplication::Fixed(rf)).set("min.insync.replicas", &min_isr)
        })
        .collect();
    let opts = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(300)))
        .request_timeout(Some(Duration::from_secs(300)));
    progress(format!(
        "floor: CreateTopics of {n} topics ({}), at most {FLOOR_BATCH} per request",
        cx.settings.shape()
    ));
    let floor_start = Instant::now();
    let floor_brokers_cpu = brokers_cpu(cx.tck);
    // Kafka's controller refuses a request that would commit more than 10 000 metadata records
    // at once (PolicyViolation), which a few thousand topics with a config each do: above
    // FLOOR_BATCH topics the floor is several such requests, sent at the same time.
    let requests = new_topics
        .chunks(FLOOR_BATCH)
        .map(|chunk| cx.admin.create_topics(chunk.iter(), &opts));
    let answers = tokio::time::timeout(
        Duration::from_secs(600),
        futures::future::join_all(requests),
    )
    .await
    .context("CreateTopics did not return within 600 s")?;
    let mut results = Vec::new();
    for answer in answers {
        results.extend(answer?);
    }
    let call_done = floor_start.elapsed();
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(|(t, e)| format!("{t}: {e}"))
        .collect();
    let floor_deadline = floor_start + Duration::from_secs(600);
    let expected = n - failed.len();
    let floor_all = wait_until_shown(
        cx,
        "floor",
        &floor_prefix,
        p as usize,
        expected,
        floor_start,
        floor_deadline,
        floor_brokers_cpu,
        &mut Vec::new(),
    )
    .await?;
    // What the brokers spend after that, with the floor's topics added to the operator's: to
    // compare with the idle window's brokers' CPU (the same topics less the floor's) and with
    // their CPU while the operator created its topics. Kafka creates the replicas' logs after
    // the metadata shows the topics (a new partition's ISR is all its replicas from the start,
    // so the ISR cannot time this work).
    let after_start = brokers_cpu(cx.tck);
    progress(format!(
        "floor: the brokers' CPU over the next {}",
        secs(FLOOR_AFTER)
    ));
    tokio::time::sleep(FLOOR_AFTER).await;
    let floor_after_row = format!(
        "| the brokers' CPU in the {} after that (all {} topics in place, nothing else sent) | {:.1} s |",
        secs(FLOOR_AFTER),
        2 * n,
        brokers_cpu(cx.tck) - after_start
    );

    cx.out(format!(
        "## The floor: {n} other topics in {} concurrent CreateTopics of at most {FLOOR_BATCH} (rdkafka AdminClient, operator stopped)",
        n.div_ceil(FLOOR_BATCH)
    ));
    cx.out("");
    cx.out("| what | value |");
    cx.out("|---|---|");
    cx.out(format!("| the operator, stopped before | {stopped} |"));
    cx.out(format!(
        "| CreateTopics call returned | {} |",
        secs(call_done)
    ));
    if let Some(row) = failed_row(&failed) {
        cx.out(row);
    }
    match floor_all {
        Some((d, cpu)) => {
            cx.out(format!(
                "| **all {n} in metadata, every partition with a leader** | **{}** (the brokers' CPU until then: {cpu:.1} s) |",
                secs(d)
            ));
            cx.out(floor_after_row);
            if !all_ready {
                cx.out("| operator / floor | (the operator did not finish) |");
                cx.out("");
                return Ok(());
            }
            let op_total = (all_ready_at - apply_start).as_secs_f64();
            let op_own = all_ready_at
                .saturating_duration_since(apply_end)
                .as_secs_f64();
            cx.out(format!(
                "| operator / floor, from the start of the apply | {:.1}x |",
                op_total / d.as_secs_f64()
            ));
            cx.out(format!(
                "| operator / floor, from the last object applied | {:.1}x |",
                op_own / d.as_secs_f64()
            ));
        }
        None => {
            cx.out("| all in metadata | not within 600 s |");
            cx.out(floor_after_row);
        }
    }
    cx.out("");
    Ok(())
}

/// Polls Kafka's metadata until `expected` topics named `prefix`* show with `partitions`
/// partitions, each with a leader, or `deadline` passes. Returns the time since `start` and the
/// brokers' CPU since `brokers_cpu_start`, and (to `per_10s`) how many showed at every 10 s.
#[allow(clippy::too_many_arguments)]
async fn wait_until_shown(
    cx: &Ctx,
    what: &str,
    prefix: &str,
    partitions: usize,
    expected: usize,
    start: Instant,
    deadline: Instant,
    brokers_cpu_start: f64,
    per_10s: &mut Vec<usize>,
) -> Result<Option<(Duration, f64)>> {
    let mut ticker = Ticker::new();
    loop {
        let md = cx.metadata().await?;
        let visible = md
            .iter()
            .filter(|(k, t)| k.starts_with(prefix) && t.partitions == partitions && t.led)
            .count();
        while start.elapsed() >= Duration::from_secs(10 * (per_10s.len() as u64 + 1)) {
            per_10s.push(visible);
        }
        if visible == expected {
            return Ok(Some((
                start.elapsed(),
                brokers_cpu(cx.tck) - brokers_cpu_start,
            )));
        }
        if Instant::now() > deadline {
            return Ok(None);
        }
        ticker.tick(|| format!("{what}: {visible}/{expected} topics in metadata with leaders"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The report row for topics Kafka refused to create (None when there are none).
fn failed_row(failed: &[String]) -> Option<String> {
    (!failed.is_empty()).then(|| {
        format!(
            "| topics that failed | {}: {} |",
            failed.len(),
            failed
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        )
    })
}

/// Topics per CreateTopics request of the paced floor: the operator's request size
/// (src/kafka/admin.rs sends a batch in requests of 100).
const PACED_BATCH: usize = 100;

/// The paced floor (`--paced-floor S`, no operator, run on a fresh environment): what the brokers
/// alone need when N topics arrive at an apply's pace rather than in one request. The topics go
/// to Kafka in CreateTopics of [`PACED_BATCH`], one request every S / (N / 100) seconds (each
/// sent on time, not after the last one's answer), and the time until Kafka's metadata shows
/// every partition with a leader is reported from the first request and from the last one.
/// Compare with the operator's time to all Ready from the start of the apply and from the last
/// object applied, in a run on an environment as fresh as this one.
async fn paced_floor(cx: &mut Ctx, over: Duration) -> Result<()> {
    let n = cx.settings.topics;
    let (p, rf, min_isr) = (
        cx.settings.partitions,
        cx.settings.replication_factor,
        cx.settings.min_isr.to_string(),
    );
    let prefix = format!("{}-paced", cx.prefix);
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}-{i:05}")).collect();
    let requests = n.div_ceil(PACED_BATCH);
    let interval = over / (requests.max(2) - 1) as u32;
    progress(format!(
        "paced floor: {n} topics ({}) in {requests} CreateTopics of {PACED_BATCH}, one every {}",
        cx.settings.shape(),
        secs(interval)
    ));
    let start = Instant::now();
    let brokers_cpu_start = brokers_cpu(cx.tck);
    let mut sends = Vec::new();
    for (k, chunk) in names.chunks(PACED_BATCH).enumerate() {
        tokio::time::sleep_until((start + interval * k as u32).into()).await;
        let admin = cx.admin.clone();
        let topics: Vec<(String, String)> = chunk
            .iter()
            .map(|name| (name.clone(), min_isr.clone()))
            .collect();
        sends.push(tokio::spawn(async move {
            let new_topics: Vec<NewTopic> = topics
                .iter()
                .map(|(name, min_isr)| {
                    NewTopic::new(name, p, TopicReplication::Fixed(rf))
                        .set("min.insync.replicas", min_isr)
                })
                .collect();
            let opts = AdminOptions::new()
                .operation_timeout(Some(Duration::from_secs(300)))
                .request_timeout(Some(Duration::from_secs(300)));
            let answer = admin.create_topics(new_topics.iter(), &opts).await;
            (Instant::now(), answer)
        }));
    }
    let last_sent = Instant::now();
    let mut last_answer = start;
    let mut failed = Vec::new();
    for send in sends {
        let (at, answer) = send.await?;
        last_answer = last_answer.max(at);
        for result in answer? {
            if let Err((topic, e)) = result {
                failed.push(format!("{topic}: {e}"));
            }
        }
    }
    let expected = n - failed.len();
    let mut per_10s = Vec::new();
    let deadline = start + Duration::from_secs(900);
    let all = wait_until_shown(
        cx,
        "paced floor",
        &prefix,
        p as usize,
        expected,
        start,
        deadline,
        brokers_cpu_start,
        &mut per_10s,
    )
    .await?;
    cx.out(format!(
        "## The paced floor: {n} topics ({}) in {requests} CreateTopics of {PACED_BATCH} spread over {} (rdkafka AdminClient, no operator)",
        cx.settings.shape(),
        secs(over)
    ));
    cx.out("");
    cx.out("| what | value |");
    cx.out("|---|---|");
    cx.out(format!(
        "| Kafka heap / JIT | {} / {} |",
        kafka_heap(),
        kafka_jit()
    ));
    cx.out(format!(
        "| last request sent / last answer | {} / {} |",
        secs(last_sent - start),
        secs(last_answer - start)
    ));
    if let Some(row) = failed_row(&failed) {
        cx.out(row);
    }
    match all {
        Some((d, cpu)) => {
            cx.out(format!(
                "| **all in metadata, every partition with a leader: from the first request / from the last** | **{} / {}** |",
                secs(d),
                secs(d.saturating_sub(last_sent - start))
            ));
            cx.out(format!("| the brokers' CPU until then | {cpu:.1} s |"));
        }
        None => cx.out("| all in metadata | not within 900 s |"),
    }
    cx.out(format!(
        "| in metadata after 10, 20, 30 ... s | {} |",
        per_10s
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    cx.out("");
    Ok(())
}

/// The sum of the counts whose key satisfies `pick`.
fn total(m: &BTreeMap<String, f64>, pick: impl Fn(&str) -> bool) -> u64 {
    m.iter()
        .filter(|(k, _)| pick(k))
        .map(|(_, v)| *v as u64)
        .sum()
}

/// "create_topic result=ok 20, snapshot result=ok 4" from the keys that start with `prefix`.
fn breakdown(m: &BTreeMap<String, f64>, prefix: &str) -> String {
    let parts: Vec<String> = m
        .iter()
        .filter_map(|(k, v)| Some(format!("{} {v}", k.strip_prefix(prefix)?)))
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

/// Nothing changes for KTO_BENCH_IDLE_SECS: what the operator costs meanwhile. Returns the
/// sample at the end of the window (the window starts at `s1`).
async fn idle(
    cx: &mut Ctx,
    op: &mut Operator,
    state: &Mutex<Watched>,
    s1: &Sample,
    regressions_creation: u64,
) -> Result<(Sample, Sample)> {
    let n = cx.settings.topics;
    // In sync means settled too: right after creation, followers are still joining the ISR
    // and topics show Degraded for a moment (each such change is a status write).
    let settling = Instant::now();
    let mut ticker = Ticker::new();
    let settled = loop {
        let degraded = state.lock().unwrap().degraded();
        if degraded == 0 {
            break Some(settling.elapsed());
        }
        if settling.elapsed() > Duration::from_secs(300) {
            break None;
        }
        ticker.tick(|| format!("waiting for {degraded} Degraded topics to settle"));
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // ... and the operator's writes done: events are posted in the background, a few at a time
    // behind the status writes (src/controller/context.rs), so a mass creation's last events
    // reach the apiserver after all Ready. Quiet means no write for 5 s.
    let draining = Instant::now();
    let (mut offset, mut drained_writes, mut last_write) = (s1.log_offset, 0u64, s1.at);
    let drained = loop {
        let (requests, next) = kube_requests(&op.log, offset);
        offset = next;
        let writes = total(&requests, is_write);
        if writes > 0 {
            drained_writes += writes;
            last_write = Instant::now();
        }
        if last_write.elapsed() >= Duration::from_secs(5) {
            break Some(last_write.saturating_duration_since(s1.at));
        }
        if draining.elapsed() > Duration::from_secs(300) {
            break None;
        }
        ticker.tick(|| {
            format!("waiting for the operator's writes to stop ({drained_writes} so far)")
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let idle_start_sample = cx.sample(op, s1.log_offset).await;
    let s1_ready = s1;
    let s1 = &idle_start_sample;
    progress(format!(
        "all {n} Ready and healthy; idle for {}",
        secs(cx.settings.idle)
    ));
    let idle_start = Instant::now();
    let mut ticker = Ticker::new();
    while idle_start.elapsed() < cx.settings.idle {
        if !op.alive() {
            bail!("the operator exited:\n{}", op.log_tail(30));
        }
        ticker.tick(|| {
            let (_, ready) = state.lock().unwrap().counts();
            format!(
                "idle {:.0}/{:.0} s: {ready}/{n} Ready; operator CPU {:.1} s",
                idle_start.elapsed().as_secs_f64(),
                cx.settings.idle.as_secs_f64(),
                cpu_ticks(op.pid).unwrap_or(0) as f64 / cx.tck
            )
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The idle window runs from sample s1 to sample s2; serving one /metrics scrape is part of
    // the operator CPU it shows (small next to a resync).
    let s2 = cx.sample(op, s1.log_offset).await;
    let idle_secs = (s2.at - s1.at).as_secs_f64();
    let (ready_now, regressions_idle) = {
        let st = state.lock().unwrap();
        (st.counts().1, st.regressions - regressions_creation)
    };
    let idle_cpu = s2.operator_cpu - s1.operator_cpu;

    cx.out(format!(
        "## Idle ({idle_secs:.0} s, nothing changing, {n} topics in sync)"
    ));
    cx.out("");
    cx.out("| what | value |");
    cx.out("|---|---|");
    cx.out(format!(
        "| from all Ready to no topic Degraded (followers joining the ISR), before the idle window | {} |",
        settled.map_or("not within 300 s (idle measured anyway)".into(), secs)
    ));
    cx.out(format!(
        "| the operator's writes after all Ready, before the idle window (events queued behind the statuses, health changes) | {drained_writes}, the last {} after all Ready (then 5 s without any) |",
        drained.map_or("not within 300 s (idle measured anyway)".into(), secs)
    ));
    for (label, cpu) in env_cpu_delta(s1_ready, s1) {
        cx.out(format!(
            "| {label} CPU, from all Ready to no topic Degraded | {cpu} |"
        ));
    }
    cx.out(format!(
        "| **operator CPU** | **{idle_cpu:.2} s ({:.1}% of one core)** |",
        idle_cpu / idle_secs * 100.0
    ));
    cx.out(format!(
        "| operator RSS at the end / peak | {:.0} MiB / {:.0} MiB |",
        s2.operator_rss, s2.operator_hwm
    ));
    cx.out(format!(
        "| Ready at the end / regressions during idle | {ready_now}/{n} / {regressions_idle} |"
    ));
    cx.out(format!(
        "| **apiserver writes by the operator** | **{}** |",
        total(&s2.kube_log, is_write)
    ));
    match delta_of(&s2.counters, &s1.counters) {
        Some(idle_counters) => {
            cx.out(format!(
                "| Kafka admin operations by the operator | {} ({}) |",
                total(&idle_counters, |k| k
                    .starts_with("kto_kafka_requests_total")),
                breakdown(&idle_counters, "kto_kafka_requests_total operation=")
            ));
            cx.out(format!(
                "| reconciles | {} ({}) |",
                total(&idle_counters, |k| k.starts_with("kto_reconcile_total")),
                breakdown(&idle_counters, "kto_reconcile_total controller=")
            ));
        }
        None => cx.out("| Kafka admin operations, reconciles | n/a (/metrics scrape failed) |"),
    }
    for (label, cpu) in env_cpu_delta(s1, &s2) {
        cx.out(format!("| {label} CPU, same interval | {cpu} |"));
    }
    cx.out("");

    Ok((idle_start_sample, s2))
}

/// Kafka write operations in a counters delta (every `kto_kafka_requests_total` operation
/// that changes Kafka).
fn kafka_write_ops(counters: &BTreeMap<String, f64>) -> u64 {
    const WRITES: [&str; 7] = [
        "create_topics",
        "create_partitions",
        "alter_topic_configs",
        "alter_broker_configs",
        "alter_reassignments",
        "elect_preferred_leaders",
        "delete_topic",
    ];
    total(counters, |k| {
        WRITES
            .iter()
            .any(|w| k.starts_with(&format!("kto_kafka_requests_total operation={w} ")))
    })
}

/// The operator's `kafka write:` log lines after `from`, as "message: topics" texts.
fn kafka_write_lines(log: &Path, from: u64) -> Vec<String> {
    let bytes = std::fs::read(log).unwrap_or_default();
    let from = (from as usize).min(bytes.len());
    String::from_utf8_lossy(&bytes[from..])
        .lines()
        .filter(|l| l.contains("kafka write:"))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| {
            let what = v["topics"].as_str().or(v["topic"].as_str()).unwrap_or("");
            format!("{}: {what}", v["message"].as_str().unwrap_or(""))
        })
        .collect()
}

/// Changes a declared config of one topic behind the operator's back (rdkafka's AlterConfigs)
/// and times until Kafka shows the declared value again; says which topics the operator wrote.
async fn drift(cx: &mut Ctx, op: &mut Operator, s2: &Sample) -> Result<()> {
    use rdkafka::admin::{AlterConfig, ResourceSpecifier};
    let name = format!("{}-{:05}", cx.prefix, cx.settings.topics / 2);
    let declared = cx.settings.min_isr.to_string();
    let changed = if cx.settings.min_isr == 1 { "2" } else { "1" };
    let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(30)));
    progress(format!(
        "drift: min.insync.replicas of {name} set to {changed} behind the operator's back"
    ));
    // AlterConfigs replaces the topic's overrides: the bench's topics have this one only.
    let alter =
        AlterConfig::new(ResourceSpecifier::Topic(&name)).set("min.insync.replicas", changed);
    let answer = cx.admin.alter_configs([&alter], &opts).await?;
    if let Some(Err((_, e))) = answer.first() {
        bail!("altering {name}: {e}");
    }
    let changed_at = Instant::now();
    let resync = seconds_of(&cx.settings.resync.clone().unwrap_or_else(default_resync))
        .unwrap_or(Duration::from_secs(30));
    let deadline = changed_at + resync * 3 + Duration::from_secs(30);
    let reverted = loop {
        let described = cx
            .admin
            .describe_configs([&ResourceSpecifier::Topic(&name)], &opts)
            .await?;
        let value = described
            .first()
            .and_then(|r| r.as_ref().ok())
            .and_then(|r| r.get("min.insync.replicas"))
            .and_then(|e| e.value.clone());
        if value.as_deref() == Some(declared.as_str()) {
            break Some(changed_at.elapsed());
        }
        if Instant::now() > deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Let the operator finish its read-back before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s3 = cx.sample(op, s2.log_offset).await;
    let writes = kafka_write_lines(&op.log, s2.log_offset);
    cx.out(format!(
        "## Drift: one topic's config changed behind the operator's back ({} topics in sync)",
        cx.settings.topics
    ));
    cx.out("");
    cx.out("| what | value |");
    cx.out("|---|---|");
    cx.out(format!(
        "| change | `min.insync.replicas` of {name}: {declared} -> {changed} (rdkafka AlterConfigs) |"
    ));
    cx.out(format!(
        "| **reverted (Kafka shows {declared} again), from the change** | **{}** (resync {}; goal: within resync + 2 s) |",
        reverted.map_or("not within the deadline".into(), secs),
        secs(resync)
    ));
    match delta_of(&s3.counters, &s2.counters) {
        Some(d) => cx.out(format!(
            "| Kafka write operations by the operator | {} (all its operations: {}) |",
            kafka_write_ops(&d),
            breakdown(&d, "kto_kafka_requests_total operation=")
        )),
        None => cx.out("| Kafka write operations by the operator | n/a (/metrics scrape failed) |"),
    }
    cx.out(format!(
        "| the operator's `kafka write` log lines | {} |",
        if writes.is_empty() {
            "none".to_string()
        } else {
            writes.join("; ")
        }
    ));
    cx.out(format!(
        "| apiserver writes by the operator | {} |",
        total(&s3.kube_log, is_write)
    ));
    cx.out("");
    Ok(())
}

/// Restarts the operator with every topic in sync and times until it has confirmed them all
/// (every topic's `kto_topic_ready` gauge is 1), counting its writes (there should be none).
async fn cold_start(cx: &mut Ctx, op_slot: &mut Option<Operator>) -> Result<()> {
    let n = cx.settings.topics;
    let stopped = match op_slot.as_mut() {
        Some(op) => op.stop().await,
        None => "not running".into(),
    };
    let started = Instant::now();
    let resync = cx.settings.resync.clone();
    *op_slot = Some(Operator::start(
        &cx.ns,
        resync.as_deref(),
        cx.dir.join("operator-restarted.log"),
    )?);
    let op = op_slot.as_mut().unwrap();
    progress(format!("cold start: operator restarted (pid {})", op.pid));
    let deadline = started + cx.settings.deadline;
    let mut ticker = Ticker::new();
    let confirmed = loop {
        if !op.alive() {
            bail!("the restarted operator exited:\n{}", op.log_tail(30));
        }
        let ready = match op.http_get("/metrics").await {
            Ok(text) => text
                .lines()
                .filter(|l| l.starts_with("kto_topic_ready{") && l.ends_with(" 1"))
                .count(),
            Err(_) => 0,
        };
        if ready >= n {
            break Some(started.elapsed());
        }
        if Instant::now() > deadline {
            break None;
        }
        ticker.tick(|| format!("cold start: {ready}/{n} topics confirmed Ready"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let s = cx.sample(op, 0).await;
    cx.out(format!(
        "## Cold start: the operator restarted with {n} in-sync KafkaTopics"
    ));
    cx.out("");
    cx.out("| what | value |");
    cx.out("|---|---|");
    cx.out(format!("| the operator before | {stopped} |"));
    cx.out(format!(
        "| **every topic confirmed Ready (its gauge set), from the start of the process** | **{}** |",
        confirmed.map_or("not within the deadline".into(), secs)
    ));
    cx.out(format!(
        "| operator CPU / peak RSS by then | {:.1} s / {:.0} MiB |",
        s.operator_cpu, s.operator_hwm
    ));
    cx.out(format!(
        "| apiserver writes by the operator | {} |",
        total(&s.kube_log, is_write)
    ));
    match &s.counters {
        Some(c) => {
            cx.out(format!(
                "| Kafka write operations by the operator | {} |",
                kafka_write_ops(c)
            ));
            cx.out(format!(
                "| Kafka admin operations by the operator | {} ({}) |",
                total(c, |k| k.starts_with("kto_kafka_requests_total")),
                breakdown(c, "kto_kafka_requests_total operation=")
            ));
        }
        None => cx.out("| Kafka operations | n/a (/metrics scrape failed) |"),
    }
    cx.out("");
    Ok(())
}

/// One phase's counts, or why there are none ("-": phase skipped; "n/a": scrape failed).
type Phase = Result<BTreeMap<String, f64>, &'static str>;

/// The counters of both phases, side by side.
fn requests(cx: &mut Ctx, s0: &Sample, s1: &Sample, idle: Option<&(Sample, Sample)>) {
    cx.out("## Requests (creation = start of the apply to all Ready; idle as above)");
    cx.out("");
    cx.out("| source | request | creation | idle |");
    cx.out("|---|---|---|---|");
    let failed = "n/a (scrape failed)";
    let scraped = |d: Option<BTreeMap<String, f64>>| d.ok_or(failed);
    let idle_or = |f: &dyn Fn(&Sample, &Sample) -> Phase| idle.map_or(Err("-"), |(a, b)| f(a, b));
    let sources: [(&str, Phase, Phase); 3] = [
        (
            "operator /metrics",
            scraped(delta_of(&s1.counters, &s0.counters)),
            idle_or(&|s1, s2| scraped(delta_of(&s2.counters, &s1.counters))),
        ),
        (
            "operator's apiserver requests (its log)",
            Ok(s1.kube_log.clone()),
            idle_or(&|_, s2| Ok(s2.kube_log.clone())),
        ),
        (
            "apiserver_request_total writes, all clients (incl. the bench's apply)",
            scraped(delta_of(&s1.apiserver, &s0.apiserver)),
            idle_or(&|s1, s2| scraped(delta_of(&s2.apiserver, &s1.apiserver))),
        ),
    ];
    let cell = |phase: &Phase, key: &str| match phase {
        Ok(m) => m.get(key).copied().unwrap_or(0.0).to_string(),
        Err(why) => why.to_string(),
    };
    for (source, creation, idle) in &sources {
        let mut keys: Vec<&String> = [creation, idle]
            .into_iter()
            .filter_map(|p| p.as_ref().ok())
            .flat_map(|m| m.keys())
            .collect();
        keys.sort();
        keys.dedup();
        if keys.is_empty() {
            cx.out(format!(
                "| {source} | (none) | {} | {} |",
                cell(creation, ""),
                cell(idle, "")
            ));
        }
        for k in keys {
            cx.out(format!(
                "| {source} | {k} | {} | {} |",
                cell(creation, k),
                cell(idle, k)
            ));
        }
        if source.contains("its log") {
            let writes = |p: &Phase| match p {
                Ok(m) => total(m, is_write).to_string(),
                Err(why) => why.to_string(),
            };
            cx.out(format!(
                "| {source} | **writes, total** | **{}** | **{}** |",
                writes(creation),
                writes(idle)
            ));
        }
    }
    cx.out("");
}

/// CPU seconds of each group of the environment's processes between two samples, over the
/// processes alive at both (a broker restarted meanwhile, by a test that kills one, is left out
/// and named).
fn env_cpu_delta(a: &Sample, b: &Sample) -> Vec<(&'static str, String)> {
    a.env_cpu
        .iter()
        .map(|(label, before)| {
            let after = b.env_cpu.get(label).cloned().unwrap_or_default();
            let both: Vec<f64> = before
                .iter()
                .filter_map(|(pid, cpu)| Some(after.iter().find(|(p, _)| p == pid)?.1 - cpu))
                .collect();
            let value = if both.is_empty() {
                "n/a (not found or restarted)".to_string()
            } else if both.len() < before.len().max(after.len()) {
                format!(
                    "{:.1} s ({} of {} alive throughout; others restarted)",
                    both.iter().sum::<f64>(),
                    both.len(),
                    before.len().max(after.len())
                )
            } else {
                format!("{:.1} s", both.iter().sum::<f64>())
            };
            (*label, value)
        })
        .collect()
}

fn status_mem_gib() -> f64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0 / 1024.0)
        .unwrap_or(0.0)
}

/// The operator's default --resync-interval, from its --help.
/// `30s`, `2m`, `500ms` (the forms the operator's --resync-interval takes).
fn seconds_of(text: &str) -> Option<Duration> {
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

fn default_resync() -> String {
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

/// Stops the operator, deletes the KafkaTopics, the cluster and the namespace, and every Kafka
/// topic of this run. Errors are reported, not returned: cleanup goes as far as it can.
async fn cleanup(cx: &Ctx, op: Option<&mut Operator>) {
    progress("cleanup");
    if let Some(op) = op {
        op.stop().await;
    }
    if let Err(e) = cx
        .topic_api()
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
    {
        progress(format!("deleting the KafkaTopics: {e}"));
    }
    if let Err(e) = cx
        .cluster_api()
        .delete("kafka", &DeleteParams::default())
        .await
    {
        progress(format!("deleting the KafkaCluster: {e}"));
    }
    // Without a namespace controller (no controller-manager in the environment), the namespace
    // stays Terminating; it is empty of KafkaTopics, and its name is never reused.
    if let Err(e) = cx
        .kubectl(
            &[
                "delete",
                "namespace",
                &cx.ns,
                "--wait=false",
                "--ignore-not-found",
            ],
            Duration::from_secs(60),
        )
        .await
    {
        progress(format!("deleting the namespace: {e}"));
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut ticker = Ticker::new();
    let mut last_delete: Option<Instant> = None;
    loop {
        let names: Vec<String> = match cx.metadata().await {
            Ok(md) => md
                .into_keys()
                .filter(|k| k.starts_with(&cx.prefix))
                .collect(),
            Err(e) => {
                progress(format!("Kafka metadata: {e}"));
                vec![]
            }
        };
        if names.is_empty() {
            progress("cleanup done");
            return;
        }
        if Instant::now() > deadline {
            progress(format!(
                "{} topics of this run ({}-*) are still in Kafka after 600 s",
                names.len(),
                cx.prefix
            ));
            return;
        }
        // Metadata lags behind a deletion for a moment: delete again only what stays 30 s.
        if last_delete.is_none_or(|t| t.elapsed() > Duration::from_secs(30)) {
            progress(format!("deleting {} Kafka topics", names.len()));
            let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(120)));
            for batch in names.chunks(500) {
                let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
                if let Err(e) = cx.admin.delete_topics(&refs, &opts).await {
                    progress(format!("DeleteTopics: {e}"));
                }
            }
            last_delete = Some(Instant::now());
        }
        ticker.tick(|| format!("{} topics of this run still in Kafka", names.len()));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let settings = Settings::from_env_and_args()?;
    let bootstrap = match std::env::var("KTO_KAFKA_BOOTSTRAP") {
        Ok(b) => b,
        Err(_) => {
            println!(
                "(KTO_KAFKA_BOOTSTRAP not set: the end-to-end benchmark needs the environment; run `make bench`)"
            );
            return Ok(());
        }
    };
    // `--cleanup ID` (KTO_BENCH_CLEANUP=ID): only remove what run ID left behind (a run killed
    // with SIGKILL cannot clean up after itself).
    let leftover = settings.cleanup.clone();
    let run_id = leftover
        .clone()
        .unwrap_or_else(|| format!("{:06x}", rand::random::<u32>() & 0xffffff));
    let dir = std::env::temp_dir().join(format!("kto-bench-{run_id}"));
    std::fs::create_dir_all(&dir)?;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("allow.auto.create.topics", "false")
        .create()
        .context("rdkafka AdminClient")?;
    let mut cx = Ctx {
        settings,
        kubectl: env_var("KTO_KUBECTL")?,
        tck: clock_ticks(),
        dir,
        ns: format!("kto-bench-{run_id}"),
        prefix: format!("e2e-{run_id}"),
        client: Client::try_default()
            .await
            .map_err(|e| anyhow!("kube client from KUBECONFIG: {e}"))?,
        admin: Arc::new(admin),
    };
    if leftover.is_some() {
        cleanup(&cx, None).await;
        return Ok(());
    }
    progress(format!(
        "run {run_id}: {} topics ({}), namespace {}, files in {}",
        cx.settings.topics,
        cx.settings.shape(),
        cx.ns,
        cx.dir.display()
    ));
    let mut op: Option<Operator> = None;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let result = tokio::select! {
        r = async {
            match cx.settings.paced_floor {
                Some(over) => paced_floor(&mut cx, over).await,
                None => run(&mut cx, &mut op).await,
            }
        } => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted (SIGINT)")),
        _ = sigterm.recv() => Err(anyhow!("interrupted (SIGTERM)")),
    };
    if let Err(e) = &result {
        progress(format!("FAILED: {e:#}"));
    }
    cleanup(&cx, op.as_mut()).await;
    result
}
