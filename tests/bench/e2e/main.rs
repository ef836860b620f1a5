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
//! 7. The apply's share (apply_share.rs), the operator stopped: the same N objects applied into
//!    a namespace nothing reconciles while rdkafka creates N topics at the run's pace, and once
//!    more with nothing else running; the difference to the run's apply is the operator's own.
//!    Then the floor: the operator stopped, N other topics of the same shape created by one batched
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
//! With `--clusters C` (KTO_BENCH_CLUSTERS, `make bench CLUSTERS=C`), the many-KafkaClusters
//! mode (many.rs): C namespaces, each with a KafkaCluster for the same Kafka and N/C of the
//! KafkaTopics, the operator watching all namespaces limited to the run's label (--selector);
//! steps 1-5 only (clusters Ready, all topics Ready, idle with KafkaCluster reconciles and Kafka
//! snapshots per resync, drift), then the cleanup. `--clusters 1` is its comparison: one
//! KafkaCluster holding all N topics, run the same way.
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
//!
//! One module per job: settings, context, operator, watch, procfs, prom, and one per step
//! (apply, idle, drift, cold_start, floor, cleanup), many for the many-clusters mode, with
//! report's tables.

mod apply;
mod apply_share;
mod cleanup;
mod cold_start;
mod context;
mod drift;
mod floor;
mod idle;
mod many;
mod operator;
mod per_topic;
mod procfs;
mod prom;
mod report;
mod settings;
mod watch;

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

use apply::*;
use apply_share::*;
use cleanup::*;
use cold_start::*;
use context::*;
use drift::*;
use floor::*;
use idle::*;
use many::*;
use operator::*;
use per_topic::*;
use procfs::*;
use prom::*;
use report::*;
use settings::*;
use watch::*;

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
        "run {run_id}: {} topics ({}), {} namespace(s) {}*, files in {}",
        cx.settings.topics,
        cx.settings.shape(),
        cx.namespaces().len(),
        cx.ns,
        cx.dir.display()
    ));
    let mut op: Option<Operator> = None;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let result = tokio::select! {
        r = async {
            match (cx.settings.paced_floor, cx.settings.clusters) {
                (Some(over), _) => paced_floor(&mut cx, over).await,
                (None, Some(_)) => many_clusters(&mut cx, &mut op).await,
                (None, None) => run(&mut cx, &mut op).await,
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
