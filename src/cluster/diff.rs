//! Pure: what changed between two snapshots of a cluster, so that only the topics that can have
//! something new to do are reconciled.

use crate::model::ClusterSnapshot;

use super::key::ClusterKey;

/// What a new look at a cluster changed, for the topic controller to re-run only the
/// reconciles that can have something new to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Changed {
    /// Everything about the cluster may have changed (first snapshot, brokers, reachability,
    /// the KafkaCluster's spec): every topic of the cluster is reconciled.
    All,
    /// Only these Kafka topics look different from the previous snapshot.
    Topics(Vec<String>),
}

/// One cluster's change.
#[derive(Clone, Debug)]
pub struct Change {
    pub cluster: ClusterKey,
    pub changed: Changed,
}

/// What changed between two snapshots of a cluster.
pub fn diff(previous: Option<&ClusterSnapshot>, next: &ClusterSnapshot) -> Changed {
    let Some(previous) = previous else {
        return Changed::All;
    };
    if previous.brokers != next.brokers
        || previous.broker_overrides != next.broker_overrides
        || previous.cluster_id != next.cluster_id
    {
        return Changed::All;
    }
    let mut names: Vec<String> = next
        .topics
        .iter()
        .filter(|(name, t)| previous.topics.get(*name) != Some(*t))
        .map(|(name, _)| name.clone())
        .collect();
    names.extend(
        previous
            .topics
            .keys()
            .filter(|name| !next.topics.contains_key(*name))
            .cloned(),
    );
    for (name, error) in &next.topic_errors {
        if previous.topic_errors.get(name) != Some(error) {
            names.push(name.clone());
        }
    }
    names.sort();
    names.dedup();
    Changed::Topics(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(topics: &[(&str, usize)]) -> ClusterSnapshot {
        ClusterSnapshot {
            topics: topics
                .iter()
                .map(|(name, partitions)| {
                    (
                        name.to_string(),
                        crate::fixtures::observed_on(name, *partitions, &[1]),
                    )
                })
                .collect(),
            ..Default::default()
        }
    }
    #[test]
    fn only_topics_that_changed_are_named() {
        let a = snapshot(&[("same", 1), ("grows", 1), ("goes", 1)]);
        let b = snapshot(&[("same", 1), ("grows", 2), ("new", 1)]);
        assert_eq!(diff(None, &a), Changed::All);
        assert_eq!(diff(Some(&a), &a), Changed::Topics(vec![]));
        assert_eq!(
            diff(Some(&a), &b),
            Changed::Topics(vec!["goes".into(), "grows".into(), "new".into()])
        );
        let mut c = a.clone();
        c.brokers.push(crate::model::Broker {
            id: 4,
            host: "h".into(),
            port: 1,
            rack: None,
        });
        assert_eq!(diff(Some(&a), &c), Changed::All);
    }
}
