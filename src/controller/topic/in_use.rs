//! Pure: whether a topic in use may be deleted. Consumer groups with committed offsets on it, or
//! a record written within the KafkaCluster's `policy.inUseDeletion.recentWrites`, hold its
//! deletion until its KafkaTopic carries a confirmation that names the topic. Naming it (not
//! `true`) keeps one annotation copied across many objects (a kustomize `commonAnnotations`)
//! from confirming them all.
//!
//! Once held, a deletion stays held until confirmed, even if the topic falls out of use
//! meanwhile: a hold that lapsed by itself days later would delete data nobody looked at again.

use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::ResourceExt;

use crate::api::KafkaTopic;
use crate::kafka::TopicUse;
use crate::util::duration::format_duration;

/// The KafkaTopic annotation that confirms deleting its topic while in use; its value is the
/// Kafka topic's name.
pub const CONFIRM_DELETION_ANNOTATION: &str = "kafka.topic-operator.dev/confirm-deletion";

/// Groups named in a message, at most; the rest are counted.
const GROUPS_SHOWN: usize = 10;

/// Whether `topic`'s confirmation names `name`, its Kafka topic.
pub fn confirmed(topic: &KafkaTopic, name: &str) -> bool {
    confirmation(topic) == Some(name)
}

fn confirmation(topic: &KafkaTopic) -> Option<&str> {
    topic
        .annotations()
        .get(CONFIRM_DELETION_ANNOTATION)
        .map(|v| v.trim())
}

/// What makes the topic in use now, or None: the groups with offsets on it, and its newest
/// record when it is within `recent_writes` of `now` (a window of zero: writes do not count).
pub fn in_use(usage: &TopicUse, recent_writes: Duration, now: DateTime<Utc>) -> Option<String> {
    let mut uses = Vec::new();
    if !usage.groups.is_empty() {
        let shown: Vec<&str> = usage
            .groups
            .iter()
            .take(GROUPS_SHOWN)
            .map(String::as_str)
            .collect();
        let more = usage.groups.len().saturating_sub(GROUPS_SHOWN);
        let list = if more > 0 {
            format!("{} and {more} more", shown.join(", "))
        } else {
            shown.join(", ")
        };
        let (noun, verb) = if usage.groups.len() == 1 {
            ("consumer group", "has")
        } else {
            ("consumer groups", "have")
        };
        uses.push(format!("{noun} {list} {verb} committed offsets on it"));
    }
    let window = chrono::Duration::from_std(recent_writes).unwrap_or(chrono::Duration::MAX);
    if let Some(at) = usage
        .last_write_ms
        .and_then(DateTime::from_timestamp_millis)
        .filter(|at| !recent_writes.is_zero() && *at + window > now)
    {
        uses.push(format!(
            "its newest record was written at {} (within recentWrites, {})",
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            format_duration(recent_writes)
        ));
    }
    (!uses.is_empty()).then(|| uses.join("; "))
}

/// Why the deletion of `name` is held, or None when it goes: `use_now` is what [`in_use`] found,
/// `held_before` whether an earlier look held it already (it stays held).
pub fn hold_message(
    topic: &KafkaTopic,
    name: &str,
    use_now: Option<String>,
    held_before: bool,
) -> Option<String> {
    let why = match (use_now, held_before) {
        (Some(why), _) => format!("topic {name} is in use: {why}"),
        (None, true) => format!(
            "topic {name} was in use when its deletion was held, and a held deletion waits for its confirmation (no group has offsets on it now and nothing was written recently)"
        ),
        (None, false) => return None,
    };
    let object = topic.name_any();
    let namespace = topic.namespace().unwrap_or_default();
    let mut message = format!(
        "{why}. It is not deleted until confirmed: kubectl annotate ktotopic {object} -n {namespace} {CONFIRM_DELETION_ANNOTATION}={name}; or set deletionPolicy: Retain to keep the topic and let the KafkaTopic go"
    );
    if let Some(other) = confirmation(topic).filter(|v| *v != name) {
        message.push_str(&format!(
            " (the annotation names '{other}', not this topic '{name}')"
        ));
    }
    Some(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::kafka_topic;

    const HOUR: Duration = Duration::from_secs(3600);

    fn usage(groups: &[&str], last_write: Option<DateTime<Utc>>) -> TopicUse {
        TopicUse {
            groups: groups.iter().map(|g| g.to_string()).collect(),
            last_write_ms: last_write.map(|t| t.timestamp_millis()),
        }
    }

    #[test]
    fn committed_offsets_hold_and_the_message_names_the_groups() {
        let now = Utc::now();
        let why = in_use(&usage(&["billing", "audit"], None), HOUR, now).expect("in use");
        assert!(
            why.contains("consumer groups billing, audit have committed offsets"),
            "{why}"
        );
        let many: Vec<String> = (0..12).map(|i| format!("g{i:02}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let why = in_use(&usage(&many, None), HOUR, now).unwrap();
        assert!(why.contains("g09 and 2 more"), "{why}");
        assert!(!why.contains("g10"), "{why}");
    }

    #[test]
    fn a_write_within_the_window_holds_and_the_message_gives_its_time() {
        let now = Utc::now();
        let written = now - chrono::Duration::minutes(20);
        let why = in_use(&usage(&[], Some(written)), HOUR, now).expect("in use");
        let at = written.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        assert!(why.contains(&at), "{why}");
        assert!(why.contains("1h"), "{why}");
    }

    #[test]
    fn an_old_write_an_empty_topic_or_a_zero_window_does_not_hold() {
        let now = Utc::now();
        let old = now - chrono::Duration::minutes(61);
        assert_eq!(in_use(&usage(&[], Some(old)), HOUR, now), None);
        assert_eq!(in_use(&usage(&[], None), HOUR, now), None);
        let recent = now - chrono::Duration::seconds(5);
        assert_eq!(in_use(&usage(&[], Some(recent)), Duration::ZERO, now), None);
        // A producer's clock ahead of ours still counts as recent.
        let ahead = now + chrono::Duration::minutes(5);
        assert!(in_use(&usage(&[], Some(ahead)), HOUR, now).is_some());
    }

    #[test]
    fn only_a_confirmation_naming_the_topic_confirms() {
        let mut topic = kafka_topic("orders");
        assert!(!confirmed(&topic, "orders"));
        topic
            .annotations_mut()
            .insert(CONFIRM_DELETION_ANNOTATION.into(), "true".into());
        assert!(!confirmed(&topic, "orders"));
        let held = hold_message(&topic, "orders", Some("x".into()), false).unwrap();
        assert!(
            held.contains("the annotation names 'true', not this topic 'orders'"),
            "{held}"
        );
        topic
            .annotations_mut()
            .insert(CONFIRM_DELETION_ANNOTATION.into(), " orders ".into());
        assert!(confirmed(&topic, "orders"));
    }

    #[test]
    fn a_held_deletion_stays_held_when_the_use_ends() {
        let topic = kafka_topic("orders");
        assert_eq!(hold_message(&topic, "orders", None, false), None);
        let held = hold_message(&topic, "orders", None, true).expect("still held");
        assert!(
            held.contains("was in use when its deletion was held"),
            "{held}"
        );
        assert!(
            held.contains(&format!("{CONFIRM_DELETION_ANNOTATION}=orders")),
            "{held}"
        );
        let held = hold_message(&topic, "orders", Some("busy".into()), false).unwrap();
        assert!(held.starts_with("topic orders is in use: busy."), "{held}");
    }
}
