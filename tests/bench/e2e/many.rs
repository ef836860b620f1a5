//! The many-KafkaClusters mode (KTO_BENCH_CLUSTERS=C): C namespaces, each with a KafkaCluster
//! for the environment's Kafka and N/C of the KafkaTopics; one operator watching all namespaces,
//! limited to the run's label (--selector). Steps: the clusters Ready, the apply timed until all
//! topics are Ready, idle (idle.rs) with what the shared observer should keep flat, drift
//! (drift.rs). C=1 is the comparison: one KafkaCluster holding all N topics.

use super::*;

pub async fn many_clusters(cx: &mut Ctx, op_slot: &mut Option<Operator>) -> Result<()> {
    let n = cx.settings.topics;
    let c = cx.namespaces().len();
    let commit = build_commit();
    let load_at_start = loadavg();
    let setting_up = Instant::now();
    setup_cluster(cx).await?;
    let created = setting_up.elapsed();
    let resync = cx.settings.resync.clone();
    *op_slot = Some(Operator::start(
        &cx.operator_scope(),
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
    let resync_every = seconds_of(&resync.clone().unwrap_or_else(default_resync))
        .unwrap_or(Duration::from_secs(30));

    cx.out(format!(
        "# Many KafkaClusters for one Kafka: {c} KafkaClusters x {} KafkaTopics",
        n / c
    ));
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
        "| machine / load average (1, 5, 15 min) at the start | {} cores, {:.0} GiB / {load_at_start} |",
        std::thread::available_parallelism().map_or(0, |p| p.get()),
        status_mem_gib()
    ));
    cx.out(format!(
        "| KafkaClusters | {c}, one per namespace, all for the environment's 3-node Kafka |"
    ));
    cx.out(format!(
        "| topics | {n} ({} per KafkaCluster), {} |",
        n / c,
        cx.settings.shape()
    ));
    cx.out(format!(
        "| operator | `run {}`, resync {}, all namespaces |",
        cx.operator_scope().join(" "),
        secs(resync_every)
    ));
    cx.out(format!(
        "| namespaces and KafkaClusters created | {} |",
        secs(created)
    ));
    cx.out(format!(
        "| operator start to all {c} KafkaClusters Ready | {} |",
        secs(startup)
    ));
    cx.out("");

    let state = Arc::new(Mutex::new(Watched::default()));
    let watch = spawn_watch(cx, state.clone());
    let yaml_path = cx.dir.join("topics.yaml");
    std::fs::write(&yaml_path, topics_yaml(cx))?;
    let s0 = cx.sample(op, 0).await;
    progress(format!(
        "applying {n} KafkaTopics in {c} namespaces in one kubectl apply"
    ));
    let apply_start = Instant::now();
    cx.apply_file(&yaml_path).await?;
    let apply_end = Instant::now();
    let deadline = apply_start + cx.settings.deadline;
    let mut ticker = Ticker::new();
    let all_ready_at = loop {
        let (seen, ready) = state.lock().unwrap().counts();
        if seen == n && ready == n {
            break Instant::now();
        }
        if Instant::now() > deadline {
            bail!(
                "{ready}/{n} KafkaTopics Ready after {}; not Ready: {:?}",
                secs(cx.settings.deadline),
                state.lock().unwrap().reasons()
            );
        }
        if !op.alive() {
            bail!("the operator exited:\n{}", op.log_tail(30));
        }
        ticker.tick(|| {
            format!(
                "t={:.0}s {seen}/{n} applied, {ready} Ready; operator CPU {:.1} s, RSS {:.0} MiB",
                apply_start.elapsed().as_secs_f64(),
                cpu_ticks(op.pid).unwrap_or(0) as f64 / cx.tck,
                status_mib(op.pid, "VmRSS:").unwrap_or(0.0)
            )
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let s1 = cx.sample(op, s0.log_offset).await;
    let regressions = state.lock().unwrap().regressions;
    cx.out("## Creation");
    cx.out("");
    cx.out("| what | value |");
    cx.out("|---|---|");
    cx.out(format!(
        "| one `kubectl apply --server-side` of {n} objects | {} |",
        secs(apply_end - apply_start)
    ));
    cx.out(format!(
        "| **all {n} Ready, from the start of the apply** (polled every 200 ms) | **{}** |",
        secs(all_ready_at - apply_start)
    ));
    cx.out(format!(
        "| operator CPU, from the start of the apply to all Ready / peak RSS | {:.1} s / {:.0} MiB |",
        s1.operator_cpu - s0.operator_cpu,
        s1.operator_hwm
    ));
    cx.out(format!(
        "| Ready -> not Ready regressions while creating | {regressions} |"
    ));
    cx.out("");

    // The operator sees the last topics of the creation at its next snapshot, and every
    // KafkaCluster's status (it shows how many topics Kafka has) changes then: idle starts once
    // two snapshots have ended since all Ready (the second began after it).
    let settling = Instant::now();
    wait_for_snapshots(op, 2, resync_every * 3).await?;
    cx.out(format!(
        "Idle starts after two more snapshots since all Ready ({}), and the checks below.",
        secs(settling.elapsed())
    ));
    cx.out("");
    let churn = Arc::new(Mutex::new(Churn::default()));
    let churn_watch = spawn_churn_watch(cx, churn.clone());
    let (idle_start, idle_end) = idle(cx, op, &state, &s1, regressions).await?;
    churn_watch.abort();
    watch.abort();
    let idle_secs = (idle_end.at - idle_start.at).as_secs_f64();
    let cpu = idle_end.operator_cpu - idle_start.operator_cpu;
    let counters = delta_of(&idle_end.counters, &idle_start.counters)
        .context("the operator's /metrics could not be scraped around the idle window")?;
    let count = |prefix: &str| total(&counters, |k| k.starts_with(prefix));
    let snapshots = count("kto_kafka_requests_total operation=snapshot ");
    let resyncs = idle_secs / resync_every.as_secs_f64();
    let cluster_reconciles = count("kto_reconcile_total controller=cluster ");
    cx.out(format!(
        "## The shared observer, idle ({idle_secs:.0} s = {resyncs:.1} resyncs; load average at the end {})",
        loadavg()
    ));
    cx.out("");
    cx.out("| what | value | goal |");
    cx.out("|---|---|---|");
    cx.out(format!(
        "| operator CPU | {cpu:.2} s ({:.2}% of one core) | under 1% of a core |",
        cpu / idle_secs * 100.0
    ));
    cx.out(format!(
        "| KafkaCluster reconciles | {cluster_reconciles} | 0 (nothing changed) |"
    ));
    let (window, per) = (idle_start.at..=idle_end.at, resync_every.as_secs_f64());
    let resync_of = |at: &Instant| ((*at - idle_start.at).as_secs_f64() / per) as u64;
    let (topic_changes, topic_resyncs, throttle_changes, throttle_resyncs) = {
        let churn = churn.lock().unwrap();
        let topics: Vec<&(Instant, usize)> = churn
            .topics
            .iter()
            .filter(|(at, _)| window.contains(at))
            .collect();
        let throttles: Vec<&Instant> = churn
            .throttles
            .iter()
            .filter(|at| window.contains(at))
            .collect();
        let distinct = |mut v: Vec<u64>| {
            v.dedup();
            v.len()
        };
        (
            topics.iter().map(|(_, n)| n).sum::<usize>(),
            distinct(topics.iter().map(|(at, _)| resync_of(at)).collect()),
            throttles.len(),
            distinct(throttles.iter().map(|at| resync_of(at)).collect()),
        )
    };
    cx.out(format!(
        "| other clients' topics created or deleted in Kafka meanwhile (metadata polled every 2 s) | {topic_changes}, in {topic_resyncs} of the {:.0} resync intervals | - (a KafkaCluster's status shows the topics in Kafka) |",
        resyncs.ceil()
    ));
    cx.out(format!(
        "| changes of the brokers' replication throttle rates by other clients (polled every 2 s) | {throttle_changes}, in {throttle_resyncs} of the {:.0} resync intervals | - (each makes every topic be looked at again) |",
        resyncs.ceil()
    ));
    cx.out(format!(
        "| KafkaTopic reconciles | {} | - |",
        count("kto_reconcile_total controller=topic ")
    ));
    cx.out(format!(
        "| Kafka snapshots (`kto_kafka_requests_total{{operation=\"snapshot\"}}`) | {snapshots}, {:.2} per resync | 1 per resync (one Kafka) |",
        snapshots as f64 / resyncs
    ));
    cx.out(format!(
        "| operator RSS at the end / peak (VmHWM, the whole run) | {:.0} MiB / {:.0} MiB | within 1.5x of one KafkaCluster holding the {n} topics (`--clusters 1`) |",
        idle_end.operator_rss, idle_end.operator_hwm
    ));
    cx.out("");

    drift(cx, op, &idle_end).await
}

/// Waits until `count` more snapshots have ended (`kto_kafka_requests_total{operation="snapshot"}`).
async fn wait_for_snapshots(op: &mut Operator, count: u64, within: Duration) -> Result<()> {
    let snapshots = |text: &str| {
        total(&operator_counters(text), |k| {
            k.starts_with("kto_kafka_requests_total operation=snapshot ")
        })
    };
    let start = snapshots(&op.http_get("/metrics").await?);
    let deadline = Instant::now() + within;
    loop {
        if snapshots(&op.http_get("/metrics").await?) >= start + count {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("fewer than {count} snapshots in {}", secs(within));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What other clients change in Kafka while the run is idle: topics (not the run's) appearing
/// or leaving the metadata, and the brokers' replication throttle rates, polled every 2 s. On a
/// shared Kafka they change what the operator's snapshot holds (a KafkaCluster's status shows
/// the topics in Kafka; a broker throttle change makes every topic be looked at again), so they
/// explain reconciles in an otherwise idle window.
#[derive(Default)]
pub struct Churn {
    /// When, and how many topics appeared or left.
    pub topics: Vec<(Instant, usize)>,
    /// When a broker's throttle rates changed.
    pub throttles: Vec<Instant>,
}

fn spawn_churn_watch(cx: &Ctx, churn: Arc<Mutex<Churn>>) -> tokio::task::JoinHandle<()> {
    use rdkafka::admin::ResourceSpecifier;
    let (admin, prefix) = (cx.admin.clone(), cx.prefix.clone());
    tokio::spawn(async move {
        let mut last: Option<std::collections::BTreeSet<String>> = None;
        let mut last_throttles: Option<Vec<(String, Option<String>)>> = None;
        let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
        loop {
            if let Ok(md) = kafka_metadata(admin.clone()).await {
                let names: std::collections::BTreeSet<String> =
                    md.into_keys().filter(|n| !n.starts_with(&prefix)).collect();
                if let Some(last) = &last {
                    let changed = names.symmetric_difference(last).count();
                    if changed > 0 {
                        churn.lock().unwrap().topics.push((Instant::now(), changed));
                    }
                }
                last = Some(names);
            }
            let brokers: Vec<ResourceSpecifier> = (1..=3).map(ResourceSpecifier::Broker).collect();
            if let Ok(answers) = admin.describe_configs(brokers.iter(), &opts).await {
                let throttles: Vec<(String, Option<String>)> = answers
                    .into_iter()
                    .flatten()
                    .flat_map(|r| r.entries)
                    .filter(|e| e.name.contains("replication.throttled.rate"))
                    .map(|e| (e.name, e.value))
                    .collect();
                if last_throttles.as_ref().is_some_and(|l| *l != throttles) {
                    churn.lock().unwrap().throttles.push(Instant::now());
                }
                last_throttles = Some(throttles);
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    })
}

/// The machine's load average (1, 5, 15 min): other work on a shared machine beside the run.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(", "))
        .unwrap_or_else(|_| "?".into())
}
