//! A topic's overrides, as DescribeConfigs and as Kafka's CLI answer them.

#[allow(unused_imports)]
use super::super::*;
use super::*;

/// Asserts that every topic config the spec does not name (`declared`) is as it was `before`
/// the operator acted (the operator's own throttle lists aside), per Kafka's own CLI.
pub fn assert_undeclared_unchanged(
    topic: &str,
    before: &BTreeMap<String, String>,
    declared: &[&str],
) -> BTreeMap<String, String> {
    let after = kafka_cli::overrides(topic);
    let undeclared = |m: &BTreeMap<String, String>| -> BTreeMap<String, String> {
        m.iter()
            .filter(|(k, _)| {
                !declared.contains(&k.as_str()) && !OPERATOR_OWNED.contains(&k.as_str())
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    assert_eq!(
        undeclared(&after),
        undeclared(before),
        "configs the spec does not name changed on {topic} (declared: {declared:?}); before {before:?}, after {after:?}"
    );
    after
}

/// A topic's dynamic overrides as Kafka's DescribeConfigs answers them now (through an rdkafka
/// admin client, which never creates topics here): fast enough to sample during a move.
pub struct TopicConfigs {
    admin: AdminClient<DefaultClientContext>,
}

impl Default for TopicConfigs {
    fn default() -> Self {
        Self::new()
    }
}

impl TopicConfigs {
    pub fn new() -> Self {
        TopicConfigs {
            admin: client_config().create().expect("rdkafka admin client"),
        }
    }

    /// The topic's override of `key` (None when the topic has none), per DescribeConfigs.
    pub async fn get(&self, topic: &str, key: &str) -> Option<String> {
        let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(30)));
        let results = self
            .admin
            .describe_configs(&[ResourceSpecifier::Topic(topic)], &options)
            .await
            .unwrap_or_else(|e| panic!("DescribeConfigs of {topic}: {e}"));
        let resource = results
            .into_iter()
            .next()
            .expect("one DescribeConfigs result")
            .unwrap_or_else(|e| panic!("DescribeConfigs of {topic}: {e:?}"));
        resource
            .get(key)
            .filter(|e| e.source == ConfigSource::DynamicTopic)
            .and_then(|e| e.value.clone())
    }
}
