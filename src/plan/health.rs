//! Partition health of an observed topic.

use crate::model::ObservedTopic;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Health {
    /// Partitions with fewer in-sync replicas than replicas.
    pub under_replicated: i32,
    /// Partitions without a leader.
    pub offline: i32,
    /// Partitions whose in-sync replicas are fewer than min.insync.replicas.
    pub under_min_isr: i32,
}

impl Health {
    pub fn is_healthy(&self) -> bool {
        *self == Health::default()
    }
}

pub fn health(topic: &ObservedTopic) -> Health {
    let min_isr = topic.min_in_sync_replicas().unwrap_or(1) as usize;
    let mut h = Health::default();
    for p in &topic.partitions {
        if p.leader < 0 {
            h.offline += 1;
        }
        // A move in progress is not under-replication: replicas being added catch up and
        // replicas being removed leave; only the ones the partition keeps must be in sync.
        if p.is_under_replicated() {
            h.under_replicated += 1;
        }
        // An offline partition accepts no write at all, whatever its last ISR says.
        if p.isr.len() < min_isr || p.leader < 0 {
            h.under_min_isr += 1;
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ObservedConfig, ObservedPartition};

    fn topic(min_isr: &str, parts: &[(i32, &[i32], &[i32])]) -> ObservedTopic {
        ObservedTopic {
            defaults: Default::default(),
            name: "t".into(),
            topic_id: None,
            is_internal: false,
            partitions: parts
                .iter()
                .enumerate()
                .map(|(i, (leader, replicas, isr))| ObservedPartition {
                    id: i as i32,
                    leader: *leader,
                    replicas: replicas.to_vec(),
                    isr: isr.to_vec(),
                    adding: vec![],
                    removing: vec![],
                })
                .collect(),
            configs: [(
                "min.insync.replicas".to_string(),
                ObservedConfig {
                    value: Some(min_isr.into()),
                    is_topic_override: true,
                    kind: Default::default(),
                },
            )]
            .into(),
        }
    }

    #[test]
    fn counts_each_kind_of_unhealthy_partition() {
        let t = topic(
            "2",
            &[
                (1, &[1, 2, 3], &[1, 2, 3]), // healthy
                (1, &[1, 2, 3], &[1, 2]),    // under-replicated
                (1, &[1, 2, 3], &[1]),       // under-replicated and under min ISR
                (-1, &[3], &[3]),            // offline
            ],
        );
        assert_eq!(
            health(&t),
            Health {
                under_replicated: 2,
                offline: 1,
                under_min_isr: 2
            }
        );
    }

    #[test]
    fn a_fully_replicated_topic_is_healthy() {
        assert!(health(&topic("2", &[(1, &[1, 2, 3], &[3, 2, 1])])).is_healthy());
    }

    #[test]
    fn a_healthy_move_is_not_under_replicated() {
        let mut t = topic("1", &[(1, &[1, 2, 3], &[1])]);
        // Replication factor 1 -> 3: replicas 2 and 3 are being added and catch up.
        t.partitions[0].adding = vec![2, 3];
        assert!(health(&t).is_healthy(), "{:?}", health(&t));
        // A kept replica out of the ISR during a move is under-replicated.
        let mut t = topic("1", &[(1, &[1, 2, 3], &[1])]);
        t.partitions[0].adding = vec![3];
        assert_eq!(health(&t).under_replicated, 1);
        // Shrinking: the replica being removed may leave the ISR first.
        let mut t = topic("1", &[(1, &[1, 2, 3], &[1, 2])]);
        t.partitions[0].removing = vec![3];
        assert!(health(&t).is_healthy());
    }
}
