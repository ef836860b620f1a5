//! `kafka-topic-operator plan`: what reconcile would do for some KafkaTopic manifests against
//! the live cluster, printed for a review. The same validation and planning code as the
//! controller; nothing is written to Kafka.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::api::{AdoptedOverridesPolicy, KafkaCluster, KafkaTopic};
use crate::kafka::KafkaAdmin;
use crate::model::{ClusterSnapshot, ObservedTopic, TopicTarget, ValueSource};
use crate::plan::desired::{desired_topic, validate_names};
use crate::plan::warnings::warnings;
use crate::plan::{Action, ClusterView, Memory, plan_topic};

/// The printed plan and whether every manifest is valid and can be carried out.
pub struct PlanReport {
    pub text: String,
    pub ok: bool,
}

pub async fn plan(
    cluster: &KafkaCluster,
    topics: &[(String, KafkaTopic)],
    admin: &dyn KafkaAdmin,
) -> Result<PlanReport, crate::kafka::KafkaError> {
    let snapshot = admin.snapshot().await?;
    Ok(plan_against(cluster, topics, &snapshot))
}

/// Pure: the plan of `topics` against a snapshot.
pub fn plan_against(
    cluster: &KafkaCluster,
    topics: &[(String, KafkaTopic)],
    snapshot: &ClusterSnapshot,
) -> PlanReport {
    let observed: Vec<_> = snapshot.topics.values().cloned().collect();
    let policy = &cluster.spec.reassignment;
    let view = ClusterView::new(
        snapshot,
        &observed,
        policy.max_concurrent_moves as usize,
        policy.throttle_bytes_per_second,
    );
    let mut text = String::new();
    let mut ok = true;
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (source, topic) in topics {
        let name = topic.kafka_topic_name();
        let _ = writeln!(text, "{name} ({source}):");
        if let Some(first) = seen.insert(name.clone(), source.clone()) {
            ok = false;
            let _ = writeln!(text, "  INVALID: {first} declares the same topic");
            continue;
        }
        if let Err(e) = validate_names(&name, topic)
            .and_then(|_| desired_topic(&name, &topic.spec, &cluster.spec.topic_defaults))
        {
            ok = false;
            let _ = writeln!(text, "  INVALID: {e}");
            continue;
        }
        let desired = desired_topic(&name, &topic.spec, &cluster.spec.topic_defaults)
            .expect("validated above");
        let current = snapshot.topics.get(&name);
        // As at the operator's first look at the topic (manifests carry no status).
        let memory = Memory {
            keep_adopted: cluster.spec.policy.adopted_overrides == AdoptedOverridesPolicy::Keep,
            ..Memory::default()
        };
        let plan = plan_topic(&desired, current, &view, &memory);
        if let Some(b) = &plan.blocker {
            ok = false;
            let _ = writeln!(text, "  BLOCKED ({}): {}", b.reason, b.message);
        }
        for d in &plan.drift {
            let _ = writeln!(
                text,
                "  differs: {} declared {}, in Kafka {}",
                d.field, d.desired, d.observed
            );
        }
        for action in &plan.actions {
            let _ = writeln!(
                text,
                "  {}",
                describe(
                    action,
                    current.map(|t| t.partitions.len()).unwrap_or(0),
                    view.throttle
                )
            );
        }
        for (k, v) in &plan.kept {
            let _ = writeln!(
                text,
                "  keeps: {k}={v} (in Kafka, not declared: left as it is)"
            );
        }
        if let (Some(target), Some(current)) = (&plan.target, current) {
            for line in kept_as_found(target, current) {
                let _ = writeln!(text, "  {line}");
            }
        }
        if let Some(w) = &plan.min_isr_waiting {
            let _ = writeln!(text, "  waits ({}): {}", w.reason, w.message);
        }
        let advice = plan
            .target
            .as_ref()
            .map(|t| warnings(t, current, &plan.kept))
            .unwrap_or_default();
        for w in advice {
            let _ = writeln!(text, "  warning: {w}");
        }
        if plan.actions.is_empty() && plan.blocker.is_none() {
            let _ = writeln!(text, "  no changes");
        }
    }
    let _ = writeln!(text, "{}", if ok { "plan OK" } else { "plan has errors" });
    PlanReport { text, ok }
}

/// The fields the spec leaves out of a topic that exists: kept as Kafka has them.
fn kept_as_found(target: &TopicTarget, current: &ObservedTopic) -> Vec<String> {
    let mut lines = Vec::new();
    let sources = target.sources;
    if sources.partitions != ValueSource::Spec {
        let n = target.partitions;
        let noun = if n == 1 { "partition" } else { "partitions" };
        lines.push(format!("keeps {n} {noun} (not declared)"));
    }
    if sources.replication_factor != ValueSource::Spec {
        lines.push(format!(
            "keeps replication factor {} (not declared)",
            target.replication_factor
        ));
    }
    if sources.min_in_sync_replicas != ValueSource::Spec {
        let in_effect = current
            .min_in_sync_replicas()
            .map_or("Kafka's default".to_string(), |m| m.to_string());
        lines.push(format!(
            "keeps min.insync.replicas {in_effect} (not declared)"
        ));
    }
    lines
}

fn sets<'a>(items: impl Iterator<Item = (usize, &'a Vec<i32>)>) -> String {
    items
        .map(|(p, s)| format!("p{p} {s:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe(action: &Action, existing: usize, throttle: i64) -> String {
    match action {
        Action::CreateTopic { topic, assignments } => format!(
            "create: {} partitions, replication factor {}, min.insync.replicas {}, configs {:?}; replicas {}",
            topic.partitions,
            topic.replication_factor,
            topic.min_in_sync_replicas.unwrap_or(1),
            topic.configs,
            sets(assignments.iter().enumerate())
        ),
        Action::CreatePartitions { total, assignments } => format!(
            "grow partitions {existing} -> {total} (new {}); keys will map to other partitions",
            sets(
                assignments
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (i + existing, s))
            )
        ),
        Action::AlterConfigs(c) => format!("configs: set {:?}; delete {:?}", c.set, c.delete),
        Action::Throttle { brokers, .. } => {
            format!("throttle replication at {throttle} B/s on brokers {brokers:?}")
        }
        Action::Reassign { moves } => format!(
            "move replicas: {}",
            sets(moves.iter().map(|(p, s)| (*p as usize, s)))
        ),
        Action::Unthrottle(c) => format!("remove throttled-replica lists {:?}", c.delete),
        Action::ElectLeaders { partitions } => {
            format!("elect preferred leaders of partitions {partitions:?}")
        }
    }
}
