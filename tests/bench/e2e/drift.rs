//! Step 5: a drift made behind the operator's back, timed until reverted.

use super::*;

/// Changes a declared config of one topic behind the operator's back (rdkafka's AlterConfigs)
/// and times until Kafka shows the declared value again; says which topics the operator wrote.
pub async fn drift(cx: &mut Ctx, op: &mut Operator, s2: &Sample) -> Result<()> {
    use rdkafka::admin::{AlterConfig, ResourceSpecifier};
    let name = cx.topic_name(cx.settings.topics / 2);
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
        // A failed read is retried until the deadline: on a shared Kafka, other tests restart
        // brokers and move listeners.
        let value = match cx
            .admin
            .describe_configs([&ResourceSpecifier::Topic(&name)], &opts)
            .await
        {
            Ok(described) => described
                .first()
                .and_then(|r| r.as_ref().ok())
                .and_then(|r| r.get("min.insync.replicas"))
                .and_then(|e| e.value.clone()),
            Err(e) => {
                progress(format!("drift: reading {name}'s configs (retrying): {e}"));
                None
            }
        };
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
