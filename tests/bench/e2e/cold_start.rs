//! Step 6: the operator restarted, timed until every topic is Ready again.

use super::*;

/// Restarts the operator with every topic in sync and times until it has confirmed them all
/// (every topic's `kto_topic_ready` gauge is 1), counting its writes (there should be none).
pub async fn cold_start(cx: &mut Ctx, op_slot: &mut Option<Operator>) -> Result<()> {
    let n = cx.settings.topics;
    let stopped = match op_slot.as_mut() {
        Some(op) => op.stop().await,
        None => "not running".into(),
    };
    let started = Instant::now();
    let resync = cx.settings.resync.clone();
    *op_slot = Some(Operator::start(
        &cx.operator_scope(),
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
