//! The report's tables of requests and CPU.

use super::*;

/// One phase's counts, or why there are none ("-": phase skipped; "n/a": scrape failed).
pub type Phase = Result<BTreeMap<String, f64>, &'static str>;

/// The counters of both phases, side by side.
pub fn requests(cx: &mut Ctx, s0: &Sample, s1: &Sample, idle: Option<&(Sample, Sample)>) {
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
pub fn env_cpu_delta(a: &Sample, b: &Sample) -> Vec<(&'static str, String)> {
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
