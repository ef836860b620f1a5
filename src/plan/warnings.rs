//! Advice about a declaration: legal, but likely to hurt.

use std::collections::BTreeMap;

use crate::model::{ObservedTopic, TopicTarget};

/// `kept` are the undeclared overrides kept from before the operator managed the topic. An
/// undeclared min.insync.replicas is judged as Kafka has it (`observed`).
pub fn warnings(
    desired: &TopicTarget,
    observed: Option<&ObservedTopic>,
    kept: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    if !kept.is_empty() {
        let list: Vec<String> = kept.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push(format!(
            "overrides not in spec.config, kept as found when the operator adopted the topic: {}; declare them in spec.config to manage them",
            list.join(", ")
        ));
    }
    let rf = desired.replication_factor;
    let min_isr = desired
        .min_in_sync_replicas
        .or(observed.and_then(ObservedTopic::min_in_sync_replicas))
        .unwrap_or(1);
    if rf == 1 {
        out.push("replicationFactor 1 has no redundancy: when its broker fails, the partition is offline and its data may be lost".to_string());
    } else if min_isr == rf {
        out.push(format!(
            "minInSyncReplicas equals replicationFactor ({rf}): acks=all producers fail whenever one broker is down"
        ));
    } else if min_isr == 1 {
        out.push("minInSyncReplicas 1: an acks=all write may be acknowledged by one replica and lost with it".to_string());
    }
    if desired
        .configs
        .get("unclean.leader.election.enable")
        .map(String::as_str)
        == Some("true")
    {
        out.push("unclean.leader.election.enable=true lets an out-of-sync replica become leader and lose acknowledged writes".to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::fixtures;

    fn topic(rf: i32, min_isr: i32) -> TopicTarget {
        fixtures::target("t", 1, rf, min_isr)
    }

    #[test]
    fn warns_about_weak_durability_settings() {
        let none = BTreeMap::new();
        assert!(warnings(&topic(1, 1), None, &none)[0].contains("no redundancy"));
        assert!(warnings(&topic(3, 3), None, &none)[0].contains("acks=all producers fail"));
        assert!(warnings(&topic(3, 1), None, &none)[0].contains("minInSyncReplicas 1"));
        assert!(warnings(&topic(3, 2), None, &none).is_empty());
        let kept = [("cleanup.policy".to_string(), "compact".to_string())].into();
        assert!(warnings(&topic(3, 2), None, &kept)[0].contains("cleanup.policy=compact"));
    }
}
