//! Broker replication throttles left after every move of a cluster ended: removed, under the
//! write lock so that no topic starts a move while the decision is made. I/O.

use super::state::ClusterState;
use crate::kafka::KafkaError;
use crate::model::{BROKER_THROTTLE_CONFIGS, ClusterSnapshot, ConfigChanges};
use crate::plan::OPERATOR_OWNED_CONFIGS;

/// Removes the throttle rates from the brokers that carry them when nothing of the cluster moves
/// and no topic lists throttled replicas. Returns the brokers it removed them from (empty: none
/// to remove, or a move still under way).
pub async fn remove_idle_throttles(
    state: &ClusterState,
    snapshot: &ClusterSnapshot,
) -> Result<Vec<i32>, KafkaError> {
    let throttled: Vec<i32> = snapshot
        .broker_overrides
        .iter()
        .filter(|(_, o)| BROKER_THROTTLE_CONFIGS.iter().any(|k| o.contains_key(*k)))
        .map(|(b, _)| *b)
        .collect();
    if throttled.is_empty() {
        return Ok(vec![]);
    }
    let write_lock = state.write_lock();
    let _guard = write_lock.lock().await;
    let busy = state.topics().iter().any(|t| {
        t.partitions.iter().any(|p| p.is_moving())
            || OPERATOR_OWNED_CONFIGS
                .iter()
                .any(|k| t.overrides().contains_key(*k))
    });
    if busy {
        return Ok(vec![]);
    }
    let delete = ConfigChanges {
        set: Default::default(),
        delete: BROKER_THROTTLE_CONFIGS
            .iter()
            .map(|k| k.to_string())
            .collect(),
    };
    for broker in &throttled {
        state.admin.alter_broker_configs(*broker, &delete).await?;
    }
    Ok(throttled)
}
