//! What a mass creation cost per new topic (issue 21's figures): the operator's status writes,
//! events and topic reconciles, the apiserver's own count and time for the operator's writes,
//! and the events left in the run's namespace by reason.

use super::*;

/// The per-topic table for the creation window (`s0` at the start of the apply, `s1` at all
/// Ready) and, when there was one, what followed until the end of the idle window.
pub async fn per_topic(cx: &mut Ctx, s0: &Sample, s1: &Sample, after: Option<&(Sample, Sample)>) {
    let n = cx.settings.topics as f64;
    // The operator's requests from all Ready until the end of the idle window.
    let log_after_creation: BTreeMap<String, f64> = after
        .into_iter()
        .flat_map(|(settled, idle)| settled.kube_log.iter().chain(idle.kube_log.iter()))
        .fold(BTreeMap::new(), |mut m, (k, v)| {
            *m.entry(k.clone()).or_default() += v;
            m
        });
    let counters = delta_of(&s1.counters, &s0.counters).unwrap_or_default();
    let apiserver = delta_of(&s1.apiserver, &s0.apiserver).unwrap_or_default();
    let from_log = |m: &BTreeMap<String, f64>, key: &str| m.get(key).copied().unwrap_or(0.0);
    let status_writes = from_log(&s1.kube_log, "PATCH kafkatopics/status");
    let events = from_log(&s1.kube_log, "POST events") + from_log(&s1.kube_log, "PATCH events");
    let reconciles: f64 = counters
        .iter()
        .filter(|(k, _)| k.starts_with("kto_reconcile_total") && k.contains("controller=topic"))
        .map(|(_, v)| v)
        .sum();
    let per = |x: f64| format!("{x:.0} ({:.2} per topic)", x / n);
    cx.out("## Per new topic (start of the apply to all Ready)");
    cx.out("");
    cx.out("| what | value |");
    cx.out("|---|---|");
    cx.out(format!(
        "| **status writes** (the operator's log: PATCH kafkatopics/status) | **{}** |",
        per(status_writes)
    ));
    cx.out(format!(
        "| **events posted** (the operator's log: POST/PATCH events) | **{}** |",
        per(events)
    ));
    cx.out(format!(
        "| **topic reconciles** (kto_reconcile_total, controller topic) | **{}** |",
        per(reconciles)
    ));
    if after.is_some() {
        cx.out(format!(
            "| status writes / events after all Ready, until settled and through the idle window | {} / {} |",
            from_log(&log_after_creation, "PATCH kafkatopics/status"),
            from_log(&log_after_creation, "POST events")
                + from_log(&log_after_creation, "PATCH events")
        ));
    }
    // The apiserver's view: only the operator writes statuses and events here (the benchmark's
    // apply writes kafkatopics itself, not their status).
    for (what, verb_resource) in [
        ("status writes", "APPLY kafkatopics/status"),
        ("event creations", "POST events"),
        ("event updates", "PATCH events"),
        ("the apply's writes (the benchmark)", "APPLY kafkatopics"),
    ] {
        let count = apiserver.get(verb_resource).copied().unwrap_or(0.0);
        let seconds = apiserver
            .get(&format!("seconds {verb_resource}"))
            .copied()
            .unwrap_or(0.0);
        cx.out(format!(
            "| apiserver_request_total {{{verb_resource}}}: {what} | {count:.0}; {seconds:.1} s served in all (apiserver_request_duration_seconds_sum), {:.0} ms each |",
            if count > 0.0 { 1000.0 * seconds / count } else { 0.0 }
        ));
    }
    match events_by_reason(cx).await {
        Ok(reasons) => cx.out(format!(
            "| events in the run's namespace after all Ready, by reason (occurrences) | {} |",
            reasons
                .iter()
                .map(|(r, c)| format!("{r} {c}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Err(e) => cx.out(format!("| events by reason | n/a ({e}) |")),
    }
    cx.out("");
}

/// Occurrences of each event reason in the run's namespace (an event's count when it was
/// repeated).
async fn events_by_reason(cx: &Ctx) -> Result<BTreeMap<String, u64>> {
    let text = cx
        .kubectl(
            &["get", "events", "-n", &cx.ns, "-o", "json"],
            Duration::from_secs(120),
        )
        .await?;
    let list: Value = serde_json::from_str(&text)?;
    let mut out = BTreeMap::new();
    for event in list["items"].as_array().into_iter().flatten() {
        let reason = event["reason"].as_str().unwrap_or("?").to_string();
        let count = event["series"]["count"]
            .as_u64()
            .or(event["count"].as_u64())
            .unwrap_or(1)
            .max(1);
        *out.entry(reason).or_default() += count;
    }
    Ok(out)
}
