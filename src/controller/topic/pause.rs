//! Pure: whether a KafkaTopic is paused by its annotation, and the note a person left with it.
//!
//! A paused topic is observed and planned as usual (drift and health are reported), but nothing
//! is written to Kafka for it and its Delete finalizer does not delete the Kafka topic.

use kube::ResourceExt;

use crate::api::KafkaTopic;

/// The annotation that pauses a topic. Any value pauses except `false`: `true` (or empty), or a
/// note saying why, shown in the status message.
pub const PAUSED_ANNOTATION: &str = "kafka.topic-operator.dev/paused";

/// The longest note carried into the status message; longer ones are cut (a status message is
/// read in `kubectl get -o wide` and events, not a document).
const MAX_NOTE: usize = 200;

/// A pause in effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pause {
    /// What the person who paused the topic wrote, if more than `true`.
    pub note: Option<String>,
}

impl Pause {
    /// `paused by annotation kafka.topic-operator.dev/paused ("note")`.
    pub fn describe(&self) -> String {
        match &self.note {
            Some(note) => format!("paused by annotation {PAUSED_ANNOTATION} ({note:?})"),
            None => format!("paused by annotation {PAUSED_ANNOTATION}"),
        }
    }
}

/// The pause `topic` is under, if any.
pub fn pause(topic: &KafkaTopic) -> Option<Pause> {
    pause_from(
        topic
            .annotations()
            .get(PAUSED_ANNOTATION)
            .map(String::as_str),
    )
}

/// The pause an annotation value means. Present means paused, whatever it says, unless it says
/// `false`: a typo in a note must not resume writes someone meant to hold.
fn pause_from(value: Option<&str>) -> Option<Pause> {
    let value = value?.trim();
    if value.eq_ignore_ascii_case("false") {
        return None;
    }
    let note = (!value.is_empty() && !value.eq_ignore_ascii_case("true")).then(|| {
        let mut note: String = value.chars().take(MAX_NOTE).collect();
        if note.len() < value.len() {
            note.push('…');
        }
        note
    });
    Some(Pause { note })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_value_but_false_pauses_and_a_note_is_kept() {
        assert_eq!(pause_from(None), None);
        assert_eq!(pause_from(Some("false")), None);
        assert_eq!(pause_from(Some(" False ")), None);
        assert_eq!(pause_from(Some("true")), Some(Pause { note: None }));
        assert_eq!(pause_from(Some("TRUE")), Some(Pause { note: None }));
        assert_eq!(pause_from(Some("")), Some(Pause { note: None }));
        // A typo pauses: resuming writes is never the result of a mistake.
        assert_eq!(
            pause_from(Some("ture")).unwrap().note.as_deref(),
            Some("ture")
        );
        let pause = pause_from(Some("migrating to cluster B, ask #kafka")).unwrap();
        assert_eq!(
            pause.note.as_deref(),
            Some("migrating to cluster B, ask #kafka")
        );
        assert!(
            pause
                .describe()
                .contains("\"migrating to cluster B, ask #kafka\"")
        );
    }

    #[test]
    fn a_long_note_is_cut() {
        let long = "x".repeat(1000);
        let note = pause_from(Some(&long)).unwrap().note.unwrap();
        assert_eq!(note.chars().count(), MAX_NOTE + 1);
        assert!(note.ends_with('…'));
    }

    #[test]
    fn the_annotation_on_a_kafkatopic_pauses_it() {
        let mut topic = crate::fixtures::kafka_topic("t");
        assert_eq!(pause(&topic), None);
        topic
            .annotations_mut()
            .insert(PAUSED_ANNOTATION.into(), "true".into());
        assert_eq!(pause(&topic), Some(Pause { note: None }));
    }
}
