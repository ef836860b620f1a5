//! Step 6 of the topic reconcile, I/O: the status, written only when it says something new
//! (server-side apply of the status subresource), the health and failure events that go with a
//! change, and the topic's metrics.

use chrono::Utc;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};
use serde_json::json;

use std::time::Duration;

use super::events::{Event, HealthNotice, health_notice, post};
use super::outcome::CONNECTING;
use super::outcome::ready_reason;
use crate::api::Reason;
use crate::api::condition::find;
use crate::api::topic::MINIMUMS_EXEMPTION_ANNOTATION;
use crate::api::{KafkaTopic, KafkaTopicStatus};
use crate::controller::context::Context;
use crate::controller::error::{Error, FIELD_MANAGER};
use crate::controller::report::{TopicReport, status_changed, topic_status};
use crate::metrics::TopicGauges;
use crate::util::sync::lock;

/// Writes the status when it says something new; otherwise writes nothing at all. Returns when
/// to look again for a health event not due yet (events.rs, `health_notice`).
pub async fn write_status(
    topic: &KafkaTopic,
    report: &TopicReport,
    api: &Api<KafkaTopic>,
    ctx: &Context,
) -> Result<Option<Duration>, Error> {
    let previous = topic.status.as_ref();
    let mut status = topic_status(report, topic.metadata.generation, previous);
    status.minimums_exemption = topic
        .annotations()
        .get(MINIMUMS_EXEMPTION_ANNOTATION)
        .map(|reason| reason.trim().to_string());
    record_metrics(topic, &status, ctx);
    let notice = degraded_notice(topic, previous, &status, ctx);
    post(ctx, topic, notice.events);
    if !status_changed(previous, &status) {
        return Ok(notice.due_in);
    }
    // During a user's bulk apply the write (and any warning with it) waits for the apply to end;
    // the hold hands this KafkaTopic back to the controller then.
    if ctx
        .bulk_apply
        .defer(ObjectRef::from_obj(topic), tokio::time::Instant::now())
    {
        ctx.metrics.status_writes_held.inc();
        return Ok(notice.due_in);
    }
    let mut events = vec![];
    let was = ready_reason(topic);
    if was.as_deref() != Some(report.verdict.reason.as_str())
        && !report.verdict.ready
        && !matches!(report.verdict.reason, Reason::Creating | CONNECTING)
        // Failures found while applying already sent their own event.
        && !report.verdict.reason.is_apply_failure()
    {
        events.push(Event::warning(
            report.verdict.reason.as_str(),
            "Reconcile",
            report.verdict.message.clone(),
        ));
    }
    post(ctx, topic, events);
    status.last_sync_time = Some(Utc::now());
    let patch = json!({ "apiVersion": KafkaTopic::api_version(&()), "kind": KafkaTopic::kind(&()), "status": status });
    let _turn = ctx.write_turn().await;
    let written = api
        .patch_status(
            &topic.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    ctx.written
        .topics
        .record(&topic.metadata, written.metadata.resource_version, status);
    Ok(notice.due_in)
}

/// The Degraded condition's events, with what was announced remembered per KafkaTopic.
fn degraded_notice(
    topic: &KafkaTopic,
    previous: Option<&KafkaTopicStatus>,
    status: &KafkaTopicStatus,
    ctx: &Context,
) -> HealthNotice {
    let Some(uid) = &topic.metadata.uid else {
        return health_notice(previous, status, None, Utc::now());
    };
    let mut announced = lock(&ctx.written.degraded_announced);
    let notice = health_notice(previous, status, announced.get(uid).copied(), Utc::now());
    match notice.announced {
        Some(since) => announced.insert(uid.clone(), since),
        None => announced.remove(uid),
    };
    notice
}

fn record_metrics(topic: &KafkaTopic, status: &KafkaTopicStatus, ctx: &Context) {
    let labels = crate::controller::prune::topic_labels(topic);
    let is_true = |t: &str| find(&status.conditions, t).is_some_and(|c| c.is_true());
    ctx.metrics.set_topic(
        labels,
        TopicGauges {
            under_replicated: status.under_replicated_partitions.unwrap_or(0) as i64,
            offline: status.offline_partitions.unwrap_or(0) as i64,
            under_min_isr: status.under_min_isr_partitions.unwrap_or(0) as i64,
            ready: is_true("Ready"),
            drifted: is_true("Drifted"),
            reassigning: status.reassignment.is_some(),
        },
    );
}
