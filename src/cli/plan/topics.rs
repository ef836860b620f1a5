//! One manifest of the files, through the operator's own checks and planning.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::ResourceExt;

use super::describe::{describe, kept_as_found, kind};
use super::report::{ActionEntry, DriftEntry, Outcome, Refusal, RefusalKind, TopicEntry};
use crate::api::{KafkaCluster, KafkaTopic, Reason};
use crate::cluster::ClusterKey;
use crate::controller::ownership::{cluster_key, owner};
use crate::controller::tenancy;
use crate::controller::topic::admit::allowed;
use crate::controller::topic::outcome::{advice, memory};
use crate::model::ClusterSnapshot;
use crate::plan::desired::{desired_topic, validate_names};
use crate::plan::{ClusterView, plan_topic};

/// A KafkaTopic's namespace and name.
pub(super) type ObjectKey = (String, String);

pub(super) struct Context<'a> {
    pub cluster: &'a KafkaCluster,
    pub key: ClusterKey,
    pub snapshot: &'a ClusterSnapshot,
    pub view: &'a ClusterView,
    /// Every KafkaTopic for this KafkaCluster after the merge.
    pub declarations: &'a [Arc<KafkaTopic>],
    /// Where each of them comes from: a file#document, or `live`.
    pub origins: &'a BTreeMap<ObjectKey, String>,
}

fn refused(kind: RefusalKind, reason: Option<Reason>, message: String) -> Refusal {
    Refusal {
        kind,
        reason: reason.map(|r| r.as_str().to_string()),
        message,
    }
}

/// Why the operator would refuse `topic` before planning it, if it would.
fn refusal(ctx: &Context, topic: &KafkaTopic, duplicate_of: Option<String>) -> Option<Refusal> {
    let name = topic.kafka_topic_name();
    let namespace = topic.namespace().unwrap_or_default();
    let (cluster_ns, cluster_name) = cluster_key(topic);
    if (cluster_ns.clone(), cluster_name.clone()) != ctx.key {
        return Some(refused(
            RefusalKind::ClusterRefMismatch,
            None,
            format!(
                "its clusterRef names KafkaCluster {cluster_ns}/{cluster_name}, and this plan is against {}/{}: plan it with its own KafkaCluster",
                ctx.key.0, ctx.key.1
            ),
        ));
    }
    if let Some(first) = duplicate_of {
        return Some(refused(
            RefusalKind::Invalid,
            Some(Reason::InvalidSpec),
            format!(
                "KafkaTopic {namespace}/{} is declared again in {first}",
                topic.name_any()
            ),
        ));
    }
    if let Err(e) = validate_names(&name, topic)
        .and_then(|_| desired_topic(&name, &topic.spec, &ctx.cluster.spec.topic_defaults))
    {
        return Some(refused(
            RefusalKind::Invalid,
            Some(e.reason()),
            e.to_string(),
        ));
    }
    if let Err(message) = tenancy::check(ctx.cluster, &namespace, &name) {
        return Some(refused(
            RefusalKind::Forbidden,
            Some(Reason::Forbidden),
            message,
        ));
    }
    let same_kafka = [ctx.key.clone()];
    let owner = owner(topic, ctx.declarations, &same_kafka, |t| {
        allowed(ctx.cluster, t)
    });
    let owner_key = (owner.namespace().unwrap_or_default(), owner.name_any());
    if owner_key != (namespace, topic.name_any()) {
        let origin = ctx.origins.get(&owner_key).map_or("live", String::as_str);
        let whence = if origin == "live" {
            "live, older".to_string()
        } else {
            format!("in {origin}, older")
        };
        return Some(refused(
            RefusalKind::Conflict,
            Some(Reason::Conflict),
            format!(
                "KafkaTopic {}/{} ({whence}) already manages topic {name} in this cluster; this one would change nothing",
                owner_key.0, owner_key.1
            ),
        ));
    }
    None
}

pub(super) fn plan_one(
    ctx: &Context,
    source: &str,
    topic: &KafkaTopic,
    duplicate_of: Option<String>,
) -> TopicEntry {
    let name = topic.kafka_topic_name();
    let mut entry = TopicEntry {
        namespace: topic.namespace().unwrap_or_default(),
        name: topic.name_any(),
        source: source.to_string(),
        topic_name: name.clone(),
        outcome: Outcome::Refused,
        refusal: None,
        actions: vec![],
        drift: vec![],
        notes: vec![],
        warnings: vec![],
    };
    if let Some(refusal) = refusal(ctx, topic, duplicate_of) {
        entry.refusal = Some(refusal);
        return entry;
    }
    let desired = desired_topic(&name, &topic.spec, &ctx.cluster.spec.topic_defaults)
        .expect("validated by refusal()");
    let current = ctx.snapshot.topics.get(&name);
    // The status of the live object, if there is one: what the operator remembers of the topic.
    let plan = plan_topic(&desired, current, ctx.view, &memory(topic, ctx.cluster));
    let existing = current.map(|t| t.partitions.len()).unwrap_or(0);
    entry.actions = plan
        .actions
        .iter()
        .map(|action| ActionEntry {
            kind: kind(action),
            description: describe(action, existing, ctx.view.throttle),
        })
        .collect();
    entry.drift = plan
        .drift
        .iter()
        .map(|d| DriftEntry {
            field: d.field.clone(),
            declared: d.desired.clone(),
            in_kafka: d.observed.clone(),
        })
        .collect();
    for (k, v) in &plan.kept {
        entry.notes.push(format!(
            "keeps: {k}={v} (in Kafka, not declared: left as it is)"
        ));
    }
    if let (Some(target), Some(current)) = (&plan.target, current) {
        entry.notes.extend(kept_as_found(target, current));
    }
    if let Some(w) = &plan.min_isr_waiting {
        entry
            .notes
            .push(format!("waits ({}): {}", w.reason, w.message));
    }
    entry.warnings = advice(&plan, current);
    entry.outcome = if let Some(b) = &plan.blocker {
        entry.refusal = Some(refused(
            RefusalKind::Blocked,
            Some(b.reason),
            b.message.clone(),
        ));
        Outcome::Refused
    } else if current.is_none() {
        Outcome::Create
    } else if plan.actions.is_empty() {
        Outcome::NoChange
    } else {
        Outcome::Update
    };
    entry
}
