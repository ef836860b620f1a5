//! KafkaTopic reconcile: read the topic from the cluster's snapshot, plan, apply (Enforce mode),
//! re-read what changed, and write the status only when it changed.

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
use super::{Error, FIELD_MANAGER};
use crate::api::condition::find;
use crate::api::{DeletionPolicy, KafkaCluster, KafkaTopic, PolicyMode};
use crate::kafka::KafkaError;
use crate::model::{DesiredTopic, ObservedTopic};
use crate::observer::{ClusterObserver, TopicView};
use crate::plan::desired::desired_topic;
use crate::plan::warnings::warnings;
use crate::plan::{Action, Drift, TopicPlan, plan_topic};

/// Added to KafkaTopics with deletionPolicy Delete, so the topic is deleted before the resource.
pub const DELETE_FINALIZER: &str = "kafka.topic-operator.dev/delete-topic";

/// How soon to look again while Kafka is still settling (a topic just created, a first snapshot).
const SETTLING: Duration = Duration::from_secs(1);

pub async fn reconcile(topic: Arc<KafkaTopic>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let namespace = topic.namespace().unwrap_or_default();
    let api: Api<KafkaTopic> = Api::namespaced(ctx.client.clone(), &namespace);
    let cluster = ctx.cluster(&cluster_key(&topic));
    let policy = deletion_policy(&topic, cluster.as_deref());

    if topic.meta().deletion_timestamp.is_some() {
        return finalize(&topic, cluster.as_deref(), policy, &api, &ctx).await;
    }
    let has_finalizer = topic.finalizers().iter().any(|f| f == DELETE_FINALIZER);
    if (policy == DeletionPolicy::Delete) != has_finalizer {
        set_finalizer(&topic, &api, policy == DeletionPolicy::Delete).await?;
        // The patch triggers another reconcile with the new metadata.
        return Ok(Requeue::await_change());
    }

    let (report, requeue) = match cluster {
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
            Requeue::requeue(ctx.settings.resync),
        ),
        Some(cluster) => sync(&topic, &cluster, &ctx).await,
    };
    write_status(&topic, &report, &api, &ctx).await?;
    Ok(requeue)
}

fn deletion_policy(topic: &KafkaTopic, cluster: Option<&KafkaCluster>) -> DeletionPolicy {
    topic
        .spec
        .deletion_policy
        .or(cluster.map(|c| c.spec.topic_defaults.deletion_policy))
        .unwrap_or_default()
}

fn not_synced(topic: &KafkaTopic, verdict: Verdict) -> TopicReport {
    TopicReport {
        topic_name: topic.kafka_topic_name(),
        verdict,
        observed: None,
        drift: vec![],
        reverted: vec![],
        warnings: vec![],
    }
}

/// Compares the declaration with Kafka and, in Enforce mode, makes Kafka match.
async fn sync(topic: &KafkaTopic, cluster: &KafkaCluster, ctx: &Context) -> (TopicReport, Requeue) {
    let settle = Requeue::requeue(SETTLING);
    let idle = Requeue::await_change();
    let name = topic.kafka_topic_name();

    let desired = match desired_topic(&name, &topic.spec, &cluster.spec.topic_defaults) {
        Ok(d) => d,
        Err(e) => {
            return (
                not_synced(topic, Verdict::not_ready("InvalidSpec", e.to_string())),
                idle,
            );
        }
    };
    let all_topics = ctx.topics.state();
    let owner = owner(topic, &all_topics);
    if owner.uid() != topic.uid() {
        let message = format!(
            "KafkaTopic {}/{} (older) already manages topic {name} in this cluster; this one changes nothing and deleting it leaves the topic alone",
            owner.namespace().unwrap_or_default(),
            owner.name_any()
        );
        return (
            not_synced(topic, Verdict::not_ready("Conflict", message)),
            idle,
        );
    }

    let key = cluster_key(topic);
    let observer = ctx.observers.ensure(&key, &cluster.spec.bootstrap_servers);
    let (snapshot, observed) = match observer.topic(&name) {
        TopicView::Pending => {
            return (
                not_synced(
                    topic,
                    Verdict::not_ready("Connecting", "waiting for the first look at the cluster"),
                ),
                settle,
            );
        }
        TopicView::Failed { reason, message } => {
            return (not_synced(topic, Verdict::not_ready(reason, message)), idle);
        }
        TopicView::Observed { snapshot, topic } => (snapshot, topic),
    };
    let live_brokers: Vec<i32> = snapshot.brokers.iter().map(|b| b.id).collect();
    let mut observed = observed;
    let mut plan = plan_topic(&desired, observed.as_ref(), &live_brokers);
    if !plan.actions.is_empty() && cluster.spec.policy.mode == PolicyMode::Enforce {
        // The snapshot may be up to one resync old: never write on a stale view. Re-read this
        // one topic and plan again (someone may have created or fixed it meanwhile).
        let read_at = Instant::now();
        match observer
            .admin
            .describe_topics(std::slice::from_ref(&name))
            .await
        {
            Ok(mut fresh) => {
                observed = fresh.remove(&name);
                observer.patch(&name, read_at, observed.clone());
                plan = plan_topic(&desired, observed.as_ref(), &live_brokers);
            }
            Err(error) => {
                return (
                    not_synced(topic, Verdict::not_ready(error.reason(), error.to_string())),
                    Requeue::requeue(ctx.settings.resync),
                );
            }
        }
    }
    let growing = observed.is_some()
        && plan
            .actions
            .iter()
            .any(|a| matches!(a, Action::CreatePartitions { .. }));
    let mut report = TopicReport {
        topic_name: name.clone(),
        verdict: Verdict::ready(""),
        observed: observed.clone(),
        drift: plan.drift.clone(),
        reverted: vec![],
        warnings: warnings(&desired, growing),
    };

    if let Some(blocker) = &plan.blocker {
        report.verdict = Verdict::not_ready(blocker.reason, blocker.message.clone());
        return (report, idle);
    }
    if cluster.spec.policy.mode == PolicyMode::Observe {
        report.verdict = observe_only_verdict(&plan, observed.is_some());
        if !plan.drift.is_empty() && drift_changed(topic, &plan.drift) {
            ctx.event(
                topic,
                EventType::Warning,
                "DriftDetected",
                "Observe",
                format!("Observe mode, not corrected: {}", describe(&plan.drift)),
            )
            .await;
        }
        return (report, idle);
    }
    if plan.actions.is_empty() {
        report.verdict = final_verdict(&plan);
        return (report, idle);
    }

    // Enforce: apply, then re-read the topic so the status shows Kafka's state, not our intent.
    let spec_changed =
        topic.metadata.generation != topic.status.as_ref().and_then(|s| s.observed_generation);
    let applied = match apply(&observer, &desired, &plan).await {
        Ok(applied) => applied,
        Err(error) => {
            warn!(topic = %name, %error, "applying the plan failed");
            let verdict = Verdict::not_ready(error.reason(), error.to_string());
            if ready_reason(topic) != Some(verdict.reason.clone()) {
                ctx.event(
                    topic,
                    EventType::Warning,
                    &verdict.reason,
                    "Apply",
                    verdict.message.clone(),
                )
                .await;
            }
            report.verdict = verdict;
            let retry = if error.is_retriable() {
                Requeue::requeue(ctx.settings.resync)
            } else {
                idle
            };
            return (report, retry);
        }
    };
    announce(topic, ctx, &plan, &applied, observed.as_ref(), spec_changed).await;

    let read_at = Instant::now();
    let fresh = match read_back(&observer, &name).await {
        Ok(fresh) => fresh,
        Err(error) => {
            report.verdict = Verdict::not_ready(error.reason(), error.to_string());
            return (report, Requeue::requeue(ctx.settings.resync));
        }
    };
    observer.patch(&name, read_at, fresh.clone());
    let after = plan_topic(&desired, fresh.as_ref(), &live_brokers);
    if observed.is_some() && !spec_changed {
        report.reverted = plan
            .drift
            .iter()
            .filter(|d| !after.drift.contains(d))
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
    report.verdict = final_verdict(&after);
    let requeue = if after.actions.is_empty() {
        idle
    } else {
        settle
    };
    (report, requeue)
}

/// Carries out the plan and returns the actions that took effect. Config changes are validated
/// by Kafka before anything is applied, so an invalid value leaves the topic untouched (no
/// partitions added, no config half-set).
async fn apply<'p>(
    observer: &ClusterObserver,
    desired: &DesiredTopic,
    plan: &'p TopicPlan,
) -> Result<Vec<&'p Action>, KafkaError> {
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
            Action::CreateTopic(topic) => match admin.create_topic(topic, false).await {
                // The snapshot was older than the topic: nothing was created; the read-back
                // shows the topic and the next reconcile aligns it.
                Err(e) if e.code() == Some(ResponseError::TopicAlreadyExists) => continue,
                other => other?,
            },
            Action::CreatePartitions { total } => {
                admin.create_partitions(&desired.name, *total).await?
            }
            Action::AlterConfigs(changes) => {
                admin
                    .alter_topic_configs(&desired.name, changes, false)
                    .await?
            }
        }
        applied.push(action);
    }
    Ok(applied)
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

/// Events for what was applied: created, grown, configs updated (spec change) or drift reverted.
async fn announce(
    topic: &KafkaTopic,
    ctx: &Context,
    plan: &TopicPlan,
    applied: &[&Action],
    before: Option<&ObservedTopic>,
    spec_changed: bool,
) {
    for action in applied {
        let (reason, note) = match action {
            Action::CreateTopic(d) => (
                "TopicCreated",
                format!(
                    "created topic {}: {} partitions, replication factor {}, minInSyncReplicas {}",
                    d.name, d.partitions, d.replication_factor, d.min_in_sync_replicas
                ),
            ),
            Action::CreatePartitions { total } => (
                "PartitionsIncreased",
                format!(
                    "partitions {} -> {total}",
                    before.map(|t| t.partitions.len()).unwrap_or(0)
                ),
            ),
            Action::AlterConfigs(_) => {
                let config_drift: Vec<Drift> = plan
                    .drift
                    .iter()
                    .filter(|d| d.field.starts_with("config."))
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
        ctx.event(topic, EventType::Normal, reason, "Apply", note)
            .await;
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

fn final_verdict(plan: &TopicPlan) -> Verdict {
    match plan.unresolved.first() {
        Some(u) => Verdict::not_ready(u.reason, u.message.clone()),
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
    if !status_changed(previous, &status) {
        return Ok(());
    }
    let was = ready_reason(topic);
    if was.as_deref() != Some(report.verdict.reason.as_str())
        && !report.verdict.ready
        && !matches!(report.verdict.reason.as_str(), "Creating" | "Connecting")
    {
        // Failures found while applying already sent their own event.
        if !is_apply_failure(&report.verdict.reason) {
            ctx.event(
                topic,
                EventType::Warning,
                &report.verdict.reason,
                "Reconcile",
                report.verdict.message.clone(),
            )
            .await;
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

fn is_apply_failure(reason: &str) -> bool {
    matches!(
        reason,
        "InvalidConfig" | "InvalidPartitions" | "InvalidTopicName" | "NotAuthorized" | "KafkaError"
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
            )
            .await;
        }
        Some(cluster) => {
            let all_topics = ctx.topics.state();
            let is_owner = owner(topic, &all_topics).uid() == topic.uid();
            let enforce = cluster.spec.policy.mode == PolicyMode::Enforce;
            if policy == DeletionPolicy::Delete && is_owner && enforce {
                let observer = ctx
                    .observers
                    .ensure(&cluster_key(topic), &cluster.spec.bootstrap_servers);
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
                )
                .await;
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
