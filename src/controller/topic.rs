//! KafkaTopic reconcile: read the topic from the cluster's snapshot, plan, apply (Enforce mode),
//! re-read what changed, and write the status only when it changed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use kafka_protocol::ResponseError;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action as Requeue;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde_json::json;
use tokio::time::Instant;
use tracing::{info, warn};

use super::context::Context;
use super::ownership::{cluster_key, owner};
use super::report::{TopicReport, Verdict, describe, status_changed, topic_status};
use super::tenancy;
use super::{Error, FIELD_MANAGER};
use crate::api::condition::find;
use crate::api::{
    AdoptedOverridesPolicy, DeletionPolicy, KafkaCluster, KafkaTopic, KafkaTopicStatus, PolicyMode,
    ReassignmentStatus,
};
use crate::kafka::KafkaError;
use crate::metrics::{TopicGauges, TopicLabels};
use crate::model::ValueSource;
use crate::model::{
    BROKER_THROTTLE_CONFIGS, ConfigChanges, DesiredTopic, ObservedTopic, TopicTarget,
};
use crate::observer::{ClusterObserver, TopicView};
use crate::plan::desired::desired_topic;
use crate::plan::warnings::warnings;
use crate::plan::{Action, ClusterView, Drift, Memory, TopicPlan, plan_topic};
use crate::writer::{self, TopicWrite, WriteError, WriteOutcome};

/// Added to KafkaTopics with deletionPolicy Delete, so the topic is deleted before the resource.
pub const DELETE_FINALIZER: &str = "kafka.topic-operator.dev/delete-topic";

/// What the controller does after a reconcile that wrote its status: look again later (or on
/// a change), or, for a Kafka failure that retrying can help, fail so it retries with backoff.
type Next = Result<Requeue, KafkaError>;

/// The reason while the cluster's connection or first snapshot is not there yet.
const CONNECTING: &str = "Connecting";

/// How soon to look again while Kafka is still settling (a topic just created, a first snapshot).
const SETTLING: Duration = Duration::from_secs(1);

pub async fn reconcile(topic: Arc<KafkaTopic>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let namespace = topic.namespace().unwrap_or_default();
    let api: Api<KafkaTopic> = Api::namespaced(ctx.client.clone(), &namespace);
    let cluster = ctx.cluster(&cluster_key(&topic));
    let (policy, settled) = deletion_policy(&topic, cluster.as_deref());

    if topic.meta().deletion_timestamp.is_some() {
        // A policy not yet settled (the operator never recorded creating the topic) deletes
        // nothing: the topic may be one that existed before its KafkaTopic.
        let policy = if settled {
            policy
        } else {
            DeletionPolicy::Retain
        };
        return finalize(&topic, cluster.as_deref(), policy, &api, &ctx).await;
    }
    let has_finalizer = topic.finalizers().iter().any(|f| f == DELETE_FINALIZER);
    if (policy == DeletionPolicy::Delete) != has_finalizer {
        set_finalizer(&topic, &api, policy == DeletionPolicy::Delete).await?;
        // The patch triggers another reconcile with the new metadata.
        return Ok(Requeue::await_change());
    }

    let (report, next) = match cluster {
        // At start-up the KafkaCluster cache may not be filled yet: not finding the cluster
        // means nothing then, and must not be written over the status.
        None if !caches_synced(&ctx) => return Ok(Requeue::requeue(SETTLING)),
        None => (
            not_synced(
                &topic,
                Verdict::not_ready(
                    "ClusterNotFound",
                    format!(
                        "KafkaCluster {}/{} not found",
                        cluster_key(&topic).0,
                        cluster_key(&topic).1
                    ),
                ),
            ),
            Ok(Requeue::requeue(ctx.settings.resync)),
        ),
        Some(cluster) => sync(&topic, &cluster, &ctx).await,
    };
    if report.verdict.reason == CONNECTING && topic.status.is_some() {
        // The operator just started and has not looked at the cluster yet: the status keeps
        // what was last seen. Writing CONNECTING (and then the same status as before) for
        // every topic would cost two apiserver writes per KafkaTopic on every restart.
        return next.map_err(Error::Kafka);
    }
    write_status(&topic, &report, &api, &ctx).await?;
    next.map_err(Error::Kafka)
}

/// Whether the KafkaCluster cache has its first full list.
fn caches_synced(ctx: &Context) -> bool {
    use futures::FutureExt;
    ctx.clusters.wait_until_ready().now_or_never().is_some()
}

/// Whether the cluster's tenancy rules let this KafkaTopic manage its topic.
pub fn allowed(cluster: &KafkaCluster, topic: &KafkaTopic) -> bool {
    tenancy::check(
        cluster,
        &topic.namespace().unwrap_or_default(),
        &topic.kafka_topic_name(),
    )
    .is_ok()
}

/// Every KafkaTopic that names the same Kafka topic in the same cluster (this one included).
fn declaring(ctx: &Context, topic: &KafkaTopic) -> Vec<Arc<KafkaTopic>> {
    ctx.index
        .declaring(&cluster_key(topic), &topic.kafka_topic_name())
        .iter()
        .filter_map(|r| ctx.topics.get(r))
        .collect()
}

/// The deletion policy in effect, and whether it is settled: declared, or recorded in the
/// status by a reconcile that created or adopted the topic. Before that, the KafkaCluster's
/// default stands in (so a Delete finalizer is in place before the operator creates the topic),
/// but is never enough to delete.
fn deletion_policy(topic: &KafkaTopic, cluster: Option<&KafkaCluster>) -> (DeletionPolicy, bool) {
    if let Some(declared) = topic.spec.deletion_policy {
        return (declared, true);
    }
    if let Some(recorded) = topic.status.as_ref().and_then(|s| s.deletion_policy) {
        return (recorded, true);
    }
    let default = cluster
        .map(|c| c.spec.topic_defaults.deletion_policy)
        .unwrap_or_default();
    (default, false)
}

/// The deletion policy a sync records: declared; the topicDefaults' when this reconcile created
/// the topic (or an earlier one did, as the status says); otherwise Retain, for a topic that
/// existed before the operator managed it.
fn deletion_in_effect(
    topic: &KafkaTopic,
    cluster: &KafkaCluster,
    created_now: bool,
) -> (DeletionPolicy, ValueSource) {
    if let Some(declared) = topic.spec.deletion_policy {
        return (declared, ValueSource::Spec);
    }
    if created_now {
        return (
            cluster.spec.topic_defaults.deletion_policy,
            ValueSource::TopicDefaults,
        );
    }
    let status = topic.status.as_ref();
    let recorded = status.and_then(|s| s.deletion_policy);
    let source = status
        .and_then(|s| s.value_sources)
        .and_then(|v| v.deletion_policy);
    match (recorded, source) {
        (Some(policy), Some(crate::api::ValueSource::TopicDefaults)) => {
            (policy, ValueSource::TopicDefaults)
        }
        _ => (DeletionPolicy::Retain, ValueSource::Kafka),
    }
}

fn not_synced(topic: &KafkaTopic, verdict: Verdict) -> TopicReport {
    TopicReport {
        topic_name: topic.kafka_topic_name(),
        verdict,
        observed: None,
        drift: vec![],
        reverted: vec![],
        warnings: vec![],
        reassignment: None,
        mode: None,
        kept: BTreeMap::new(),
        held: vec![],
        sources: None,
        deletion: None,
    }
}

/// Compares the declaration with Kafka and, in Enforce mode, makes Kafka match.
async fn sync(topic: &KafkaTopic, cluster: &KafkaCluster, ctx: &Context) -> (TopicReport, Next) {
    let settle = Ok(Requeue::requeue(SETTLING));
    let idle = Ok(Requeue::await_change());
    let name = topic.kafka_topic_name();

    let desired = match desired_topic(&name, &topic.spec, &cluster.spec.topic_defaults) {
        Ok(d) => d,
        Err(e) => {
            return (
                not_synced(topic, Verdict::not_ready(e.reason(), e.to_string())),
                idle,
            );
        }
    };
    if let Err(message) = tenancy::check(cluster, &topic.namespace().unwrap_or_default(), &name) {
        return (
            not_synced(topic, Verdict::not_ready("Forbidden", message)),
            idle,
        );
    }
    let declaring = declaring(ctx, topic);
    let owner = owner(topic, &declaring, |t| allowed(cluster, t));
    if owner.uid() != topic.uid() {
        let message = format!(
            "KafkaTopic {}/{} (older) already manages topic {name} in this cluster; this one changes nothing and deleting it leaves the topic alone",
            owner.namespace().unwrap_or_default(),
            owner.name_any()
        );
        // Looked at again every resync: when the owner goes, this one takes over.
        return (
            not_synced(topic, Verdict::not_ready("Conflict", message)),
            Ok(Requeue::requeue(ctx.settings.resync)),
        );
    }

    let key = cluster_key(topic);
    // The KafkaCluster reconcile opens the connection (it resolves the credentials).
    let Some(observer) = ctx.observers.get(&key) else {
        return (
            not_synced(
                topic,
                Verdict::not_ready(
                    CONNECTING,
                    "waiting for the KafkaCluster's connection to Kafka",
                ),
            ),
            settle,
        );
    };
    let observed = match observer.topic(&name) {
        TopicView::Pending => {
            return (
                not_synced(
                    topic,
                    Verdict::not_ready(CONNECTING, "waiting for the first look at the cluster"),
                ),
                settle,
            );
        }
        TopicView::Failed { reason, message } => {
            return (not_synced(topic, Verdict::not_ready(reason, message)), idle);
        }
        TopicView::Observed { topic, .. } => topic,
    };
    let enforce = cluster.spec.policy.mode == PolicyMode::Enforce;
    let memory = memory(topic, cluster);
    let finishing = memory.finishing;
    let mut observed = observed;
    let mut plan = plan_topic(
        &desired,
        observed.as_ref(),
        &cluster_view(&observer, cluster),
        &memory,
    );
    if enforce
        && plan.blocker.is_none()
        && let [Action::CreateTopic { topic: target, .. }] = plan.actions.as_slice()
    {
        return create(topic, ctx, &observer, cluster, &desired, target, &memory).await;
    }
    // Writes are planned again on a fresh read of the topic, under the cluster's write lock: the
    // snapshot may be up to one resync old (someone may have created or fixed the topic
    // meanwhile), and concurrent reconciles must not exceed maxConcurrentMoves together. Config
    // changes and partition growth go through the cluster's writer, which does this for many
    // topics at once (src/writer.rs); anything else (moves) is done here, one topic at a time.
    let mut written = None;
    let batchable = enforce
        && plan.blocker.is_none()
        && !plan.actions.is_empty()
        && plan.actions.iter().all(writer::is_batchable);
    if batchable {
        let policy = &cluster.spec.reassignment;
        let request = TopicWrite {
            desired: desired.clone(),
            memory: memory.clone(),
            max_concurrent_moves: policy.max_concurrent_moves as usize,
            throttle: policy.throttle_bytes_per_second,
        };
        match observer.writer.write(request).await {
            Ok(WriteOutcome::Replanned(fresh)) => {
                (observed, plan) = (fresh.observed, fresh.plan);
            }
            Ok(WriteOutcome::Written(w)) => {
                (observed, plan) = (w.observed.clone(), w.plan.clone());
                written = Some(w);
            }
            Ok(WriteOutcome::Alone) => {}
            Err(WriteError::Read(error)) => return read_failed(topic, error),
            Err(WriteError::Write(error)) => {
                warn!(topic = %name, %error, "applying the plan failed");
                let mut report = not_synced(topic, Verdict::ready(""));
                report.mode = Some(format!("{:?}", cluster.spec.policy.mode));
                return apply_failed(topic, ctx, report, &error).await;
            }
        }
    }
    let alone = enforce && written.is_none() && !plan.actions.is_empty();
    let _write_guard = if alone {
        let guard = observer.write_lock.lock().await;
        let read_at = Instant::now();
        match observer
            .admin
            .describe_topics(std::slice::from_ref(&name))
            .await
        {
            Ok(mut fresh) => {
                observed = fresh.remove(&name);
                observer.patch(&name, read_at, observed.clone());
                plan = plan_topic(
                    &desired,
                    observed.as_ref(),
                    &cluster_view(&observer, cluster),
                    &memory,
                );
            }
            Err(error) => return read_failed(topic, error),
        }
        Some(guard)
    } else {
        None
    };
    let mut report = TopicReport {
        topic_name: name.clone(),
        verdict: Verdict::ready(""),
        observed: observed.clone(),
        drift: plan.drift.clone(),
        reverted: vec![],
        warnings: advice(&plan, observed.as_ref()),
        reassignment: None,
        mode: Some(format!("{:?}", cluster.spec.policy.mode)),
        kept: plan.kept.clone(),
        held: plan.held.clone(),
        sources: plan.target.as_ref().map(|t| t.sources),
        deletion: observed
            .is_some()
            .then(|| deletion_in_effect(topic, cluster, false)),
    };

    if let Some(blocker) = &plan.blocker {
        report.verdict = Verdict::not_ready(blocker.reason, blocker.message.clone());
        return (report, idle);
    }
    if !enforce {
        report.verdict = observe_only_verdict(&plan, observed.is_some());
        if !plan.drift.is_empty() && drift_changed(topic, &plan.drift) {
            ctx.event(
                topic,
                EventType::Warning,
                "DriftDetected",
                "Observe",
                format!("Observe mode, not corrected: {}", describe(&plan.drift)),
            );
        }
        return (report, idle);
    }
    let reassigning = Ok(Requeue::requeue(
        ctx.settings.resync.min(Duration::from_secs(5)),
    ));
    if plan.actions.is_empty() {
        report.reassignment = reassignment_status(topic, &plan, cluster);
        report.verdict = verdict(&plan, &plan.held);
        return (
            report,
            if plan.reassignment.is_some() {
                reassigning
            } else {
                idle
            },
        );
    }

    // Enforce: apply, then re-read the topic so the status shows Kafka's state, not our intent.
    let spec_changed =
        topic.metadata.generation != topic.status.as_ref().and_then(|s| s.observed_generation);
    let (applied, read) = match written {
        Some(w) => (w.applied, w.read_back),
        None => {
            let applied = match apply(&observer, &desired, &plan).await {
                Ok(applied) => applied,
                Err(error) => {
                    warn!(topic = %name, %error, "applying the plan failed");
                    return apply_failed(topic, ctx, report, &error).await;
                }
            };
            let replan = |fresh: Option<&ObservedTopic>| {
                plan_topic(&desired, fresh, &cluster_view(&observer, cluster), &memory)
            };
            let read = read_back_settled(&observer, &name, &applied, replan).await;
            (applied, read)
        }
    };
    announce(topic, ctx, &plan, &applied, observed.as_ref(), spec_changed).await;
    let set_configs = writer::configs_set(&applied);
    let (fresh, after) = match read {
        Ok(read) => read,
        Err(error) => {
            report.verdict = Verdict::not_ready(error.reason(), error.to_string());
            return (report, Ok(Requeue::requeue(ctx.settings.resync)));
        }
    };
    // Declared values Kafka did not take: remembered, so they are not written again and again.
    report.held = after
        .drift
        .iter()
        .filter(|d| {
            set_configs
                .get(d.field.strip_prefix("config.").unwrap_or_default())
                .is_some_and(|v| *v == d.desired)
        })
        .chain(after.held.iter())
        .cloned()
        .collect();
    report.held.dedup();
    report.kept = after.kept.clone();
    report.warnings = advice(&after, fresh.as_ref());
    report.sources = after.target.as_ref().map(|t| t.sources).or(report.sources);
    if observed.is_none() {
        // The topic was missing and this reconcile created it.
        report.deletion = Some(deletion_in_effect(topic, cluster, true));
    }
    if observed.is_some() && !spec_changed {
        report.reverted = plan
            .drift
            .iter()
            .filter(|d| !after.drift.contains(d) && d.field.starts_with("config."))
            .cloned()
            .collect();
    }
    report.drift = after.drift.clone();
    report.observed = fresh.clone();
    if fresh.is_none() {
        // Kafka answers CreateTopics before every broker's metadata has the topic.
        report.verdict = Verdict::not_ready(
            "Creating",
            format!("topic {name} created; waiting for it to appear in Kafka's metadata"),
        );
        return (report, settle);
    }
    if finishing
        && after.reassignment.is_none()
        && applied
            .iter()
            .any(|a| matches!(a, Action::ElectLeaders { .. } | Action::Unthrottle(_)))
    {
        let rf = after.target.as_ref().map_or(0, |t| t.replication_factor);
        ctx.event(topic, EventType::Normal, "ReassignmentCompleted", "Apply", format!(
            "every partition has {rf} replicas with a full ISR; throttles removed, preferred leaders elected"));
    }
    report.reassignment = reassignment_status(topic, &after, cluster);
    report.verdict = verdict(&after, &report.held);
    let requeue = if after.reassignment.is_some() {
        reassigning
    } else if after.actions.is_empty() {
        idle
    } else {
        settle
    };
    (report, requeue)
}

/// Creates the topic with the cluster's creation batcher (src/creator.rs) and reports what
/// Kafka shows afterwards.
async fn create(
    topic: &KafkaTopic,
    ctx: &Context,
    observer: &ClusterObserver,
    cluster: &KafkaCluster,
    desired: &DesiredTopic,
    target: &TopicTarget,
    memory: &Memory,
) -> (TopicReport, Next) {
    let name = &desired.name;
    let mut report = not_synced(topic, Verdict::ready(""));
    report.mode = Some(format!("{:?}", cluster.spec.policy.mode));
    report.warnings = warnings(target, None, &Default::default());
    report.sources = Some(target.sources);
    let created = match observer.creator.create(target.clone()).await {
        Ok(created) => created,
        Err(error) => {
            warn!(topic = %name, %error, "creating the topic failed");
            return apply_failed(topic, ctx, report, &error).await;
        }
    };
    report.deletion = Some(deletion_in_effect(topic, cluster, !created.existed));
    // Planned from here on as a topic that exists: a field the spec leaves out is what Kafka
    // has. Values this reconcile filled from topicDefaults are remembered as such.
    let mut memory = memory.clone();
    if !created.existed {
        let action = Action::CreateTopic {
            topic: target.clone(),
            assignments: created.assignments.clone(),
        };
        announce(topic, ctx, &TopicPlan::default(), &[action], None, true).await;
        memory.sources = Some(target.sources);
        memory.topic_id = created.observed.as_ref().and_then(|t| t.topic_id.clone());
    }
    let Some(fresh) = created.observed else {
        report.verdict = Verdict::not_ready(
            "Creating",
            format!("topic {name} created; waiting for it to appear in Kafka's metadata"),
        );
        return (report, Ok(Requeue::requeue(SETTLING)));
    };
    let after = plan_topic(
        desired,
        Some(&fresh),
        &cluster_view(observer, cluster),
        &memory,
    );
    report.drift = after.drift.clone();
    report.kept = after.kept.clone();
    report.warnings = advice(&after, Some(&fresh));
    report.sources = after.target.as_ref().map(|t| t.sources);
    report.reassignment = reassignment_status(topic, &after, cluster);
    report.verdict = verdict(&after, &after.held);
    report.observed = Some(fresh);
    let requeue = if after.actions.is_empty() && after.reassignment.is_none() {
        Ok(Requeue::await_change())
    } else {
        Ok(Requeue::requeue(SETTLING))
    };
    (report, requeue)
}

/// The re-read before a write failed: nothing was written. The reason goes in the status and
/// the reconcile fails, to be retried with backoff.
fn read_failed(topic: &KafkaTopic, error: KafkaError) -> (TopicReport, Next) {
    (
        not_synced(topic, Verdict::not_ready(error.reason(), error.to_string())),
        Err(error),
    )
}

/// A write Kafka refused, or whose answer was lost: the reason in the status (with a Warning
/// event when it is new). When retrying can help, the reconcile fails, so the controller
/// retries it with exponential backoff (src/controller/backoff.rs: 1 s doubling to 5 minutes,
/// forgotten on success); otherwise it waits for the declaration to change.
async fn apply_failed(
    topic: &KafkaTopic,
    ctx: &Context,
    mut report: TopicReport,
    error: &KafkaError,
) -> (TopicReport, Next) {
    let verdict = Verdict::not_ready(error.reason(), error.to_string());
    if ready_reason(topic) != Some(verdict.reason.clone()) {
        ctx.event(
            topic,
            EventType::Warning,
            &verdict.reason,
            "Apply",
            verdict.message.clone(),
        );
    }
    report.verdict = verdict;
    let next = if error.is_retriable() {
        Err(error.clone())
    } else {
        Ok(Requeue::await_change())
    };
    (report, next)
}

/// What the plan needs to know about the rest of the cluster: built once per snapshot (or
/// patch) by the observer, shared by every topic's reconcile.
fn cluster_view(observer: &ClusterObserver, cluster: &KafkaCluster) -> ClusterView {
    let policy = &cluster.spec.reassignment;
    observer.view(
        policy.max_concurrent_moves as usize,
        policy.throttle_bytes_per_second,
    )
}

fn reassignment_status(
    topic: &KafkaTopic,
    plan: &TopicPlan,
    cluster: &KafkaCluster,
) -> Option<ReassignmentStatus> {
    let progress = plan.reassignment.as_ref()?;
    let started = topic
        .status
        .as_ref()
        .and_then(|s| s.reassignment.as_ref())
        .map(|r| r.started)
        .unwrap_or_else(Utc::now);
    Some(ReassignmentStatus {
        target_replication_factor: progress.target_replication_factor,
        partitions_done: progress.done as i32,
        partitions_remaining: progress.remaining as i32,
        partitions_moving: progress.moving as i32,
        partitions_waiting: progress.waiting as i32,
        throttle_bytes_per_second: cluster.spec.reassignment.throttle_bytes_per_second,
        started,
    })
}

/// Carries out the plan and returns the actions that took effect. Config changes are validated
/// by Kafka before anything is applied, so an invalid value leaves the topic untouched (no
/// partitions added, no config half-set).
async fn apply(
    observer: &ClusterObserver,
    desired: &DesiredTopic,
    plan: &TopicPlan,
) -> Result<Vec<Action>, KafkaError> {
    let admin = &observer.admin;
    for action in &plan.actions {
        if let Action::AlterConfigs(changes) = action {
            admin
                .alter_topic_configs(&desired.name, changes, true)
                .await?;
        }
    }
    let mut applied = Vec::new();
    for action in &plan.actions {
        match action {
            Action::CreateTopic { topic, assignments } => {
                match admin.create_topic(topic, assignments, false).await {
                    // The snapshot was older than the topic: nothing was created; the read-back
                    // shows the topic and the next reconcile aligns it.
                    Err(e) if e.code() == Some(ResponseError::TopicAlreadyExists) => continue,
                    other => other?,
                }
            }
            Action::CreatePartitions { total, assignments } => {
                admin
                    .create_partitions(&desired.name, *total, assignments)
                    .await?
            }
            Action::Throttle {
                rate,
                brokers,
                replicas,
            } => {
                let rates = ConfigChanges {
                    set: BROKER_THROTTLE_CONFIGS
                        .iter()
                        .map(|k| (k.to_string(), rate.to_string()))
                        .collect(),
                    delete: vec![],
                };
                // The lists first: while a topic lists throttled replicas, the cluster
                // reconcile never removes broker rates.
                if !replicas.is_empty() {
                    admin
                        .alter_topic_configs(&desired.name, replicas, false)
                        .await?;
                }
                for broker in brokers {
                    admin.alter_broker_configs(*broker, &rates).await?;
                }
            }
            Action::Reassign { moves } => admin.alter_reassignments(&desired.name, moves).await?,
            Action::Unthrottle(changes) => {
                admin
                    .alter_topic_configs(&desired.name, changes, false)
                    .await?
            }
            Action::ElectLeaders { partitions } => {
                admin
                    .elect_preferred_leaders(&desired.name, partitions)
                    .await?
            }
            Action::AlterConfigs(changes) => {
                admin
                    .alter_topic_configs(&desired.name, changes, false)
                    .await?
            }
        }
        applied.push(action.clone());
    }
    Ok(applied)
}

/// Advice about what the topic is to be (nothing when the plan stopped before working it out).
fn advice(plan: &TopicPlan, observed: Option<&ObservedTopic>) -> Vec<String> {
    plan.target
        .as_ref()
        .map(|target| warnings(target, observed, &plan.kept))
        .unwrap_or_default()
}

/// What the status remembers, for the plan.
fn memory(topic: &KafkaTopic, cluster: &KafkaCluster) -> Memory {
    let status = topic.status.as_ref();
    Memory {
        sources: status
            .and_then(|s| s.value_sources)
            .map(|v| super::report::sources_from_status(&v)),
        finishing: status.is_some_and(|s| s.reassignment.is_some()),
        topic_id: status.and_then(|s| s.topic_id.clone()),
        kept: status
            .map(|s| s.kept_overrides.iter().map(|k| k.name.clone()).collect())
            .unwrap_or_default(),
        keep_adopted: cluster.spec.policy.adopted_overrides == AdoptedOverridesPolicy::Keep,
        held: status
            .map(|s| {
                s.unapplied_configs
                    .iter()
                    .map(|d| Drift {
                        field: d.field.clone(),
                        desired: d.desired.clone(),
                        observed: d.observed.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Reads the topic back after a write and plans again. A config Kafka has just accepted may
/// show its old value for a moment (the broker answering has not applied the change yet), so
/// while a value just set still differs, the read is repeated a few times before that value
/// is taken as Kafka's answer.
async fn read_back_settled(
    observer: &ClusterObserver,
    name: &str,
    applied: &[Action],
    plan: impl Fn(Option<&ObservedTopic>) -> TopicPlan,
) -> Result<(Option<ObservedTopic>, TopicPlan), KafkaError> {
    let mut attempt = 0;
    loop {
        let read_at = Instant::now();
        let fresh = read_back(observer, name).await?;
        observer.patch(name, read_at, fresh.clone());
        let after = plan(fresh.as_ref());
        attempt += 1;
        if !writer::still_unsettled(applied, &after) || attempt >= 4 {
            return Ok((fresh, after));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Re-reads one topic after a write. Kafka answers CreateTopics before every broker's metadata
/// has the topic, so a missing topic is asked for a few more times before we believe it.
async fn read_back(
    observer: &ClusterObserver,
    name: &str,
) -> Result<Option<ObservedTopic>, KafkaError> {
    for _ in 0..10 {
        if let Some(topic) = observer
            .admin
            .describe_topics(&[name.to_string()])
            .await?
            .remove(name)
        {
            return Ok(Some(topic));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Ok(None)
}

/// `p0 [1,2,3], p1 [2,3,1]`
fn sets<'a>(items: impl Iterator<Item = (usize, &'a Vec<i32>)>) -> String {
    items
        .map(|(p, set)| format!("p{p} {set:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Events for what was applied: created, grown, configs updated (spec change) or drift reverted.
async fn announce(
    topic: &KafkaTopic,
    ctx: &Context,
    plan: &TopicPlan,
    applied: &[Action],
    before: Option<&ObservedTopic>,
    spec_changed: bool,
) {
    for action in applied {
        let (reason, note) = match action {
            Action::CreateTopic {
                topic: d,
                assignments,
            } => (
                "TopicCreated",
                format!(
                    "created topic {}: {} partitions, replication factor {}, minInSyncReplicas {}; replicas {}",
                    d.name,
                    d.partitions,
                    d.replication_factor,
                    d.min_in_sync_replicas.unwrap_or(1),
                    sets(assignments.iter().enumerate())
                ),
            ),
            Action::CreatePartitions { total, assignments } => {
                let first = before.map(|t| t.partitions.len()).unwrap_or(0);
                (
                    "PartitionsIncreased",
                    format!(
                        "partitions {first} -> {total} (new replicas {}); keys now map to other partitions: ordering per key is not kept across the change",
                        sets(assignments.iter().enumerate().map(|(i, s)| (i + first, s)))
                    ),
                )
            }
            Action::Reassign { moves } => (
                "ReassignmentStarted",
                format!(
                    "moving {} partition(s): {}",
                    moves.len(),
                    sets(moves.iter().map(|(p, s)| (*p as usize, s)))
                ),
            ),
            Action::ElectLeaders { partitions } => (
                "PreferredLeadersElected",
                format!("partitions {partitions:?} led by their first replica again"),
            ),
            Action::Throttle { .. } | Action::Unthrottle(_) => continue,
            Action::AlterConfigs(changes) => {
                // The drift this change corrects (a held key or a waiting raise is not in it).
                let config_drift: Vec<Drift> = plan
                    .drift
                    .iter()
                    .filter(|d| {
                        d.field.strip_prefix("config.").is_some_and(|k| {
                            changes.set.contains_key(k) || changes.delete.iter().any(|x| x == k)
                        })
                    })
                    .cloned()
                    .collect();
                if spec_changed {
                    (
                        "ConfigUpdated",
                        format!("applied declared configs: {}", describe(&config_drift)),
                    )
                } else {
                    (
                        "DriftReverted",
                        format!(
                            "reverted changes made outside the operator: {}",
                            describe(&config_drift)
                        ),
                    )
                }
            }
        };
        info!(topic = %topic.kafka_topic_name(), reason, "{note}");
        ctx.event(topic, EventType::Normal, reason, "Apply", note);
    }
}

fn observe_only_verdict(plan: &TopicPlan, exists: bool) -> Verdict {
    if !exists {
        Verdict::not_ready(
            "NotCreated",
            "the topic does not exist in Kafka; Observe mode does not create it",
        )
    } else if !plan.drift.is_empty() {
        Verdict::not_ready(
            "Drifted",
            format!("Observe mode, not corrected: {}", describe(&plan.drift)),
        )
    } else {
        Verdict::ready("Kafka matches the declaration (Observe mode)")
    }
}

/// Ready, or the first reason it is not: replicas moving, declared configs Kafka did not take,
/// a min.insync.replicas raise waiting for the ISR.
fn verdict(plan: &TopicPlan, held: &[Drift]) -> Verdict {
    if plan.reassignment.is_none() && !held.is_empty() {
        return Verdict::not_ready(
            "ConfigNotApplied",
            format!(
                "Kafka reports a different value right after the operator set it, so it is not written again until the declaration or Kafka's value changes: {}",
                describe(held)
            ),
        );
    }
    if let (None, Some(waiting)) = (&plan.reassignment, &plan.min_isr_waiting) {
        return Verdict::not_ready(waiting.reason, waiting.message.clone());
    }
    match &plan.reassignment {
        Some(p) => Verdict::not_ready(
            "Reassigning",
            format!(
                "moving replicas to replication factor {}: {} of {} partitions done, {} moving, {} waiting for a free slot",
                p.target_replication_factor,
                p.done,
                p.done + p.remaining,
                p.moving,
                p.waiting
            ),
        ),
        None => Verdict::ready("Kafka matches the declaration"),
    }
}

fn ready_reason(topic: &KafkaTopic) -> Option<String> {
    topic
        .status
        .as_ref()
        .and_then(|s| find(&s.conditions, "Ready"))
        .map(|c| c.reason.clone())
}

fn drift_changed(topic: &KafkaTopic, drift: &[Drift]) -> bool {
    let previous: Vec<(String, String, String)> = topic
        .status
        .as_ref()
        .map(|s| {
            s.drift
                .iter()
                .map(|d| (d.field.clone(), d.desired.clone(), d.observed.clone()))
                .collect()
        })
        .unwrap_or_default();
    let now: Vec<(String, String, String)> = drift
        .iter()
        .map(|d| (d.field.clone(), d.desired.clone(), d.observed.clone()))
        .collect();
    previous != now
}

/// Writes the status when it says something new; otherwise writes nothing at all.
async fn write_status(
    topic: &KafkaTopic,
    report: &TopicReport,
    api: &Api<KafkaTopic>,
    ctx: &Context,
) -> Result<(), Error> {
    let previous = topic.status.as_ref();
    let mut status = topic_status(report, topic.metadata.generation, previous);
    record_metrics(topic, &status, ctx);
    if !status_changed(previous, &status) {
        return Ok(());
    }
    announce_health(topic, previous, &status, ctx).await;
    let was = ready_reason(topic);
    if was.as_deref() != Some(report.verdict.reason.as_str())
        && !report.verdict.ready
        && !matches!(report.verdict.reason.as_str(), "Creating" | CONNECTING)
    {
        // Failures found while applying already sent their own event.
        if !is_apply_failure(&report.verdict.reason) {
            ctx.event(
                topic,
                EventType::Warning,
                &report.verdict.reason,
                "Reconcile",
                report.verdict.message.clone(),
            );
        }
    }
    status.last_sync_time = Some(Utc::now());
    let patch = json!({ "apiVersion": KafkaTopic::api_version(&()), "kind": KafkaTopic::kind(&()), "status": status });
    api.patch_status(
        &topic.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

fn record_metrics(topic: &KafkaTopic, status: &KafkaTopicStatus, ctx: &Context) {
    let labels = TopicLabels {
        namespace: topic.namespace().unwrap_or_default(),
        name: topic.name_any(),
        topic: topic.kafka_topic_name(),
        cluster: topic.spec.cluster_ref.name.clone(),
    };
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

/// An event on each Degraded transition: a partition lost its leader or replicas, or recovered.
async fn announce_health(
    topic: &KafkaTopic,
    previous: Option<&KafkaTopicStatus>,
    status: &KafkaTopicStatus,
    ctx: &Context,
) {
    let before = previous
        .and_then(|p| find(&p.conditions, "Degraded"))
        .map(|c| (c.is_true(), c.reason.clone()));
    let Some(now) = find(&status.conditions, "Degraded") else {
        return;
    };
    if before == Some((now.is_true(), now.reason.clone())) {
        return;
    }
    if now.is_true() {
        ctx.event(
            topic,
            EventType::Warning,
            &now.reason,
            "Observe",
            now.message.clone(),
        );
    } else if before.is_some_and(|(was_degraded, _)| was_degraded) {
        ctx.event(
            topic,
            EventType::Normal,
            "Recovered",
            "Observe",
            now.message.clone(),
        );
    }
}

fn is_apply_failure(reason: &str) -> bool {
    matches!(
        reason,
        "InvalidConfig"
            | "InvalidPartitions"
            | "InvalidTopicName"
            | "NotAuthorized"
            | "KafkaError"
            | "WriteUnconfirmed"
    )
}

async fn set_finalizer(
    topic: &KafkaTopic,
    api: &Api<KafkaTopic>,
    present: bool,
) -> Result<(), Error> {
    let mut finalizers: Vec<String> = topic
        .finalizers()
        .iter()
        .filter(|f| *f != DELETE_FINALIZER)
        .cloned()
        .collect();
    if present {
        finalizers.push(DELETE_FINALIZER.to_string());
    }
    // resourceVersion makes this a compare-and-swap: never clobber someone else's finalizer.
    let patch = json!({ "metadata": { "finalizers": finalizers, "resourceVersion": topic.resource_version() } });
    api.patch(
        &topic.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    Ok(())
}

/// A KafkaTopic being deleted. Only deletionPolicy Delete has a finalizer; the topic is deleted
/// from Kafka when this resource owns it and the cluster is in Enforce mode. When the
/// KafkaCluster itself is gone there is nothing to delete from, and the finalizer is released so
/// that namespace deletion never hangs.
async fn finalize(
    topic: &KafkaTopic,
    cluster: Option<&KafkaCluster>,
    policy: DeletionPolicy,
    api: &Api<KafkaTopic>,
    ctx: &Context,
) -> Result<Requeue, Error> {
    if !topic.finalizers().iter().any(|f| f == DELETE_FINALIZER) {
        return Ok(Requeue::await_change());
    }
    let name = topic.kafka_topic_name();
    match cluster {
        None => {
            ctx.event(
                topic,
                EventType::Warning,
                "TopicNotDeleted",
                "Delete",
                format!(
                    "KafkaCluster {} is gone: topic {name} was not deleted from Kafka",
                    topic.spec.cluster_ref.name
                ),
            );
        }
        Some(cluster) => {
            let declaring = declaring(ctx, topic);
            let is_owner = allowed(cluster, topic)
                && owner(topic, &declaring, |t| allowed(cluster, t)).uid() == topic.uid();
            let enforce = cluster.spec.policy.mode == PolicyMode::Enforce;
            if policy == DeletionPolicy::Delete && is_owner && enforce {
                let Some(observer) = ctx.observers.get(&cluster_key(topic)) else {
                    // Not connected yet (operator just started): try again shortly.
                    return Ok(Requeue::requeue(SETTLING));
                };
                if let Err(error) = observer.admin.delete_topic(&name).await {
                    let report = not_synced(
                        topic,
                        Verdict::not_ready(
                            "DeleteFailed",
                            format!("deleting topic {name} from Kafka failed: {error}"),
                        ),
                    );
                    write_status(topic, &report, api, ctx).await?;
                    return Err(Error::Kafka(error));
                }
                observer.patch(&name, Instant::now(), None);
                ctx.event(
                    topic,
                    EventType::Normal,
                    "TopicDeleted",
                    "Delete",
                    format!("deleted topic {name} from Kafka"),
                );
            } else {
                let why = if !is_owner {
                    "another KafkaTopic owns it"
                } else if !enforce {
                    "the cluster is in Observe mode"
                } else {
                    "deletionPolicy is Retain"
                };
                info!(topic = %name, why, "leaving the Kafka topic in place");
            }
        }
    }
    set_finalizer(topic, api, false).await?;
    Ok(Requeue::await_change())
}
