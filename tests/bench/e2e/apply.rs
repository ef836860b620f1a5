//! Steps 1-3: the apply of N KafkaTopics, timed until all are Ready.

use super::*;

pub async fn run(cx: &mut Ctx, op_slot: &mut Option<Operator>) -> Result<()> {
    let n = cx.settings.topics;
    let commit = build_commit();
    let before = cx.metadata().await.context("Kafka metadata")?;

    setup_cluster(cx).await?;
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
    let watch = spawn_watch(cx, state.clone());
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
    per_topic(cx, &s0, &s1, s2.as_ref()).await;

    // ---- drift on one topic, then a cold start: only from a settled state
    if let Some((_, s2)) = &s2 {
        drift(cx, op, s2).await?;
        cold_start(cx, op_slot).await?;
    }

    // ---- the floor: the operator stopped, one batched CreateTopics of N other topics
    let op = op_slot.as_mut().unwrap();
    let stopped = op.stop().await;
    if all_ready {
        apply_share(
            cx,
            apply_end - apply_start,
            delta_of(&s1.apiserver, &s0.apiserver),
        )
        .await?;
    }
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
