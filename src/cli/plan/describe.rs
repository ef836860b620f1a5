//! How `plan` words what reconcile would do: each action, and the fields a manifest leaves out
//! of a topic that exists.

use crate::model::{ObservedTopic, TopicTarget, ValueSource};
use crate::plan::Action;

/// The action's name in `plan -o json` (docs/cli.md).
pub fn kind(action: &Action) -> &'static str {
    match action {
        Action::CreateTopic { .. } => "createTopic",
        Action::CreatePartitions { .. } => "createPartitions",
        Action::AlterConfigs(_) => "alterConfigs",
        Action::Throttle { .. } => "throttle",
        Action::Reassign { .. } => "reassign",
        Action::Unthrottle(_) => "unthrottle",
        Action::ElectLeaders { .. } => "electLeaders",
    }
}

/// The fields the spec leaves out of a topic that exists: kept as Kafka has them.
pub fn kept_as_found(target: &TopicTarget, current: &ObservedTopic) -> Vec<String> {
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

pub fn describe(action: &Action, existing: usize, throttle: i64) -> String {
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
