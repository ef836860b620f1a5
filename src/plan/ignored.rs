//! Topic config keys other tools own (the KafkaCluster's policy.ignoredConfigKeys): never drift,
//! never set, never removed, and a declaration that names one is refused.

use std::collections::BTreeMap;

use crate::model::{DesiredTopic, ObservedTopic};

/// The keys the operator leaves alone: exact names, or prefixes written with a trailing `*`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct IgnoredKeys(Vec<String>);

impl IgnoredKeys {
    pub fn new(entries: &[String]) -> Self {
        IgnoredKeys(entries.to_vec())
    }

    /// The entry that covers `key`, if any.
    pub fn matching(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|entry| match entry.strip_suffix('*') {
                Some(prefix) => key.starts_with(prefix),
                None => key == entry.as_str(),
            })
            .map(String::as_str)
    }

    /// The topic's overrides of ignored keys (name -> value), for the status.
    pub fn overrides_of(&self, observed: &ObservedTopic) -> BTreeMap<String, String> {
        if self.0.is_empty() {
            return BTreeMap::new();
        }
        observed
            .overrides()
            .into_iter()
            .filter(|(k, _)| self.matching(k).is_some())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Why a declaration that names an ignored key is refused as a whole (InvalidSpec): the
    /// operator would either fight the tool that owns the key or silently not do what the
    /// KafkaTopic says.
    pub fn refuse_declared(&self, desired: &DesiredTopic) -> Option<String> {
        let named: Vec<String> = desired
            .configs
            .keys()
            .filter_map(|k| {
                self.matching(k)
                    .map(|entry| format!("{k} (ignored as {entry})"))
            })
            .collect();
        (!named.is_empty()).then(|| {
            format!(
                "spec.config declares keys the KafkaCluster's policy.ignoredConfigKeys leaves to other tools: {}; the operator neither sets nor removes them. Remove them from spec.config, or from the list to manage them here",
                named.join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_names_and_prefixes_match_and_nothing_else() {
        let ignored = IgnoredKeys::new(&["retention.ms".into(), "confluent.tier.*".into()]);
        assert_eq!(ignored.matching("retention.ms"), Some("retention.ms"));
        assert_eq!(ignored.matching("retention.msx"), None);
        assert_eq!(ignored.matching("retention.bytes"), None);
        assert_eq!(
            ignored.matching("confluent.tier.enable"),
            Some("confluent.tier.*")
        );
        assert_eq!(ignored.matching("confluent.tiering"), None);
        assert_eq!(IgnoredKeys::default().matching("retention.ms"), None);
    }

    #[test]
    fn a_declaration_naming_an_ignored_key_is_refused_with_the_key_and_the_entry() {
        let ignored = IgnoredKeys::new(&["confluent.tier.*".into()]);
        let mut desired = crate::fixtures::desired("t", 1, 3, 2);
        assert_eq!(ignored.refuse_declared(&desired), None);
        desired
            .configs
            .insert("confluent.tier.enable".into(), "true".into());
        let message = ignored.refuse_declared(&desired).unwrap();
        assert!(
            message.contains("confluent.tier.enable (ignored as confluent.tier.*)"),
            "{message}"
        );
    }
}
