//! `plan`'s text output: deletions first, where a reviewer cannot miss them, then each
//! manifest, then the verdict.

use std::fmt::Write as _;

use super::report::{Outcome, PlanReport, RefusalKind};

pub fn render(report: &PlanReport) -> String {
    let mut out = String::new();
    let c = &report.cluster;
    let _ = writeln!(
        out,
        "KafkaCluster {}/{} ({}, {} mode)",
        c.namespace, c.name, c.source, c.mode
    );
    if !report.live.read {
        let _ = writeln!(
            out,
            "live KafkaTopics not read (give --cluster-ref, --live, --kubeconfig or --context): removals and conflicts with KafkaTopics outside the files are not shown"
        );
    }
    let deleting: Vec<_> = report.removals.iter().filter(|r| r.deletes_topic).collect();
    if !deleting.is_empty() {
        let _ = writeln!(
            out,
            "!!! {} KAFKA TOPIC(S) WILL BE DELETED:",
            deleting.len()
        );
        for r in &deleting {
            let _ = writeln!(out, "!!! DELETE {}: {}", r.topic_name, r.message);
        }
    }
    for r in report.removals.iter().filter(|r| !r.deletes_topic) {
        let _ = writeln!(out, "unmanaged {}: {}", r.topic_name, r.message);
    }
    for t in &report.topics {
        let _ = writeln!(
            out,
            "{} ({}/{}, {}):",
            t.topic_name, t.namespace, t.name, t.source
        );
        if let Some(r) = &t.refusal {
            let label = match r.kind {
                RefusalKind::ClusterRefMismatch => "CLUSTERREF MISMATCH".to_string(),
                RefusalKind::Invalid => "INVALID".to_string(),
                RefusalKind::Forbidden => "FORBIDDEN".to_string(),
                RefusalKind::Conflict => "CONFLICT".to_string(),
                RefusalKind::Blocked => {
                    format!("BLOCKED ({})", r.reason.as_deref().unwrap_or_default())
                }
            };
            let _ = writeln!(out, "  {label}: {}", r.message);
        }
        for d in &t.drift {
            let _ = writeln!(
                out,
                "  differs: {} declared {}, in Kafka {}",
                d.field, d.declared, d.in_kafka
            );
        }
        for a in &t.actions {
            let _ = writeln!(out, "  {}", a.description);
        }
        for n in &t.notes {
            let _ = writeln!(out, "  {n}");
        }
        for w in &t.warnings {
            let _ = writeln!(out, "  warning: {w}");
        }
        if t.outcome == Outcome::NoChange {
            let _ = writeln!(out, "  no changes");
        }
    }
    let verdict = match (report.destructive, report.refused, report.changes) {
        (true, true, _) => "plan DELETES topics and has refusals",
        (true, false, _) => "plan DELETES topics",
        (false, true, _) => "plan has refusals",
        (false, false, true) => "plan has changes",
        (false, false, false) => "plan has no changes",
    };
    let _ = writeln!(out, "{verdict} (exit {})", report.exit_code);
    out
}
