//! Step 4: the idle window with nothing changing.

use super::*;

/// Nothing changes for KTO_BENCH_IDLE_SECS: what the operator costs meanwhile. Returns the
/// sample at the end of the window (the window starts at `s1`).
pub async fn idle(
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
