//! Broker replication throttles left after every move of a cluster ended: removed, under the
//! write lock so that no topic starts a move while the decision is made. I/O.
//!
//! Only the rates the operator set are removed. A broker's rate may also be an administrator's
//! (a cap set by hand) or a balancer's (set before its own moves start): removing those would
//! let someone else's replication run unthrottled. The operator sets the rate its KafkaCluster
//! declares (`spec.reassignment.throttleBytesPerSecond`), so a rate of exactly that value is
//! taken as its own and any other value as someone else's. The declaration is the durable
//! marker: it survives restarts of the operator, unlike a record in memory, and needs no status
//! write in the apply path. What it cannot tell apart: a hand-set rate of the very same value
//! (removed), and the operator's own rate after the declared value changed once every move had
//! ended (kept; docs/operations.md says how to remove it).

use std::collections::BTreeMap;

use super::state::ClusterState;
use crate::kafka::KafkaError;
use crate::model::{BROKER_THROTTLE_CONFIGS, ClusterSnapshot, ConfigChanges, ObservedTopic};
use crate::plan::OPERATOR_OWNED_CONFIGS;

/// Pure: per broker, the throttle-rate keys whose value is the operator's `rate` (compared as
/// numbers). A rate of 0 means the operator sets none, so none is its own.
pub fn operator_rates(snapshot: &ClusterSnapshot, rate: i64) -> BTreeMap<i32, Vec<String>> {
    if rate <= 0 {
        return BTreeMap::new();
    }
    snapshot
        .broker_overrides
        .iter()
        .filter_map(|(broker, overrides)| {
            let own: Vec<String> = BROKER_THROTTLE_CONFIGS
                .iter()
                .filter(|k| {
                    overrides
                        .get(**k)
                        .is_some_and(|v| v.trim().parse::<i64>() == Ok(rate))
                })
                .map(|k| k.to_string())
                .collect();
            (!own.is_empty()).then_some((*broker, own))
        })
        .collect()
}

/// Pure: whether a move is under way or a topic still lists throttled replicas (the broker
/// rates are still needed).
pub fn moving_or_throttled<'a>(mut topics: impl Iterator<Item = &'a ObservedTopic>) -> bool {
    topics.any(|t| {
        t.partitions.iter().any(|p| p.is_moving())
            || OPERATOR_OWNED_CONFIGS
                .iter()
                .any(|k| t.overrides().contains_key(*k))
    })
}

/// Removes the operator's throttle rates (`rate`, the declared one) from the brokers that carry
/// them when nothing of the cluster moves and no topic lists throttled replicas; rates of any
/// other value stay. Returns the brokers it removed them from (empty: none of its own, or a move
/// still under way).
pub async fn remove_idle_throttles(
    state: &ClusterState,
    snapshot: &ClusterSnapshot,
    rate: i64,
) -> Result<Vec<i32>, KafkaError> {
    let own = operator_rates(snapshot, rate);
    if own.is_empty() {
        return Ok(vec![]);
    }
    let write_lock = state.write_lock();
    let _guard = write_lock.lock().await;
    if moving_or_throttled(state.topics().iter()) {
        return Ok(vec![]);
    }
    // The values were read with the snapshot (at most one resync ago); Kafka has no delete
    // conditional on the value, so a rate changed by hand since then would go too.
    for (broker, keys) in &own {
        let delete = ConfigChanges {
            set: Default::default(),
            delete: keys.clone(),
        };
        state.admin.alter_broker_configs(*broker, &delete).await?;
    }
    Ok(own.into_keys().collect())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::watch;
    use tokio::time::Instant;

    use super::*;
    use crate::cluster::state::Observation;
    use crate::kafka::KafkaAdmin;
    use crate::kafka::fake::FakeKafka;

    const OPERATOR_RATE: i64 = 52428800;
    const LEADER_RATE: &str = "leader.replication.throttled.rate";
    const FOLLOWER_RATE: &str = "follower.replication.throttled.rate";

    async fn set_rates(fake: &FakeKafka, broker: i32, rates: &[(&str, &str)]) {
        let set = rates
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let changes = ConfigChanges {
            set,
            delete: vec![],
        };
        fake.alter_broker_configs(broker, &changes).await.unwrap();
    }

    /// The cluster's state over `fake` as its observer would hold it after one look.
    async fn observed(fake: &Arc<FakeKafka>) -> (ClusterState, ClusterSnapshot) {
        let snapshot = fake.snapshot().await.unwrap();
        let (_tx, rx) = watch::channel(Observation::Observed {
            started: Instant::now(),
            snapshot: Arc::new(snapshot.clone()),
            stale: None,
        });
        (ClusterState::new(fake.clone(), rx), snapshot)
    }

    #[tokio::test]
    async fn a_hand_set_rate_stays_and_only_the_operators_own_rate_is_removed() {
        let fake = Arc::new(FakeKafka::with_brokers(3));
        let own = OPERATOR_RATE.to_string();
        // Broker 1: the operator's rate on both keys (a move of its own just ended).
        set_rates(&fake, 1, &[(LEADER_RATE, &own), (FOLLOWER_RATE, &own)]).await;
        // Broker 2: an administrator's cap of 10 MB/s on both.
        set_rates(
            &fake,
            2,
            &[(LEADER_RATE, "10000000"), (FOLLOWER_RATE, "10000000")],
        )
        .await;
        // Broker 3: the operator's leader rate, a hand-set follower rate.
        set_rates(
            &fake,
            3,
            &[(LEADER_RATE, &own), (FOLLOWER_RATE, "20000000")],
        )
        .await;
        let (state, snapshot) = observed(&fake).await;

        let removed = remove_idle_throttles(&state, &snapshot, OPERATOR_RATE)
            .await
            .unwrap();

        assert_eq!(removed, vec![1, 3]);
        let after = fake.snapshot().await.unwrap().broker_overrides;
        assert_eq!(after.get(&1), None, "the operator's own rates go");
        let hand_set = |v: &str| {
            [(LEADER_RATE, v), (FOLLOWER_RATE, v)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        assert_eq!(after.get(&2), Some(&hand_set("10000000")));
        assert_eq!(
            after.get(&3),
            Some(&[(FOLLOWER_RATE.to_string(), "20000000".to_string())].into()),
            "the hand-set follower rate stays beside the removed leader rate"
        );
    }

    #[tokio::test]
    async fn with_no_declared_throttle_no_rate_is_the_operators() {
        let fake = Arc::new(FakeKafka::with_brokers(1));
        set_rates(&fake, 1, &[(LEADER_RATE, "0"), (FOLLOWER_RATE, "0")]).await;
        let (state, snapshot) = observed(&fake).await;
        assert!(
            remove_idle_throttles(&state, &snapshot, 0)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(fake.snapshot().await.unwrap().broker_overrides[&1].len(), 2);
        assert_eq!(fake.requests(crate::kafka::BROKER_CONFIG_WRITES), 1);
    }

    #[test]
    fn rates_are_compared_as_numbers() {
        let snapshot = ClusterSnapshot {
            broker_overrides: [(
                1,
                [(LEADER_RATE.to_string(), format!(" {OPERATOR_RATE}"))].into(),
            )]
            .into(),
            ..Default::default()
        };
        assert_eq!(
            operator_rates(&snapshot, OPERATOR_RATE),
            [(1, vec![LEADER_RATE.to_string()])].into()
        );
        assert!(operator_rates(&snapshot, OPERATOR_RATE + 1).is_empty());
    }
}
