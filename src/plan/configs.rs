//! A topic's config drift and the one atomic change that aligns it, with the min.insync.replicas
//! raise held back until the ISR can meet it.
use crate::api::Reason;
use std::collections::BTreeMap;

use super::types::{Blocker, Drift, UNSET, is_undeclared};
use crate::model::{ConfigChanges, MIN_INSYNC_REPLICAS, ObservedTopic, TopicTarget};

/// A raise of min.insync.replicas waits until every partition has at least that many in-sync
/// replicas and none is moving: raised earlier, partitions short of it refuse every acks=all
/// write (lowering it is always safe and goes first, before any shrinking move). Takes the
/// raise out of `changes` and says why, or leaves it in.
pub(super) fn hold_min_isr_raise(
    desired: &TopicTarget,
    observed: &ObservedTopic,
    changes: &mut ConfigChanges,
) -> Option<Blocker> {
    let wanted = desired.min_in_sync_replicas?;
    changes.set.get(MIN_INSYNC_REPLICAS)?;
    let current = observed.min_in_sync_replicas().unwrap_or(1);
    if wanted <= current {
        return None;
    }
    let short = observed.partitions_short_of_isr(wanted);
    if short.is_empty() {
        return None;
    }
    changes.set.remove(MIN_INSYNC_REPLICAS);
    Some(Blocker {
        reason: Reason::MinIsrRaiseWaiting,
        message: format!(
            "min.insync.replicas stays {current} until every partition has {wanted} in-sync replicas \
             (partitions {short:?} have fewer or are moving): raised now, acks=all writes to them would fail"
        ),
    })
}

pub(super) fn config_key(drift: &Drift) -> &str {
    drift.field.strip_prefix("config.").unwrap_or(&drift.field)
}

/// Overrides to set and to remove so that Kafka matches the config drift: declared values are
/// set, undeclared overrides (declared <unset>) removed.
pub(super) fn config_changes(drift: &[Drift]) -> ConfigChanges {
    let mut changes = ConfigChanges::default();
    for d in drift {
        if d.desired == UNSET {
            changes.delete.push(config_key(d).to_string());
        } else {
            changes
                .set
                .insert(config_key(d).to_string(), d.desired.clone());
        }
    }
    changes
}

/// Declared configs not in effect (with the value in effect, or <unset>) and undeclared
/// overrides other than the kept ones. A declared value already in effect through a broker
/// default needs no override (so importing a topic as it is writes nothing); if that default
/// changes later, the difference shows and the override is set. Values compare by the config's
/// type (`1` and `1.0` are the same double).
pub(super) fn config_drift(
    desired: &TopicTarget,
    observed: &ObservedTopic,
    kept: &BTreeMap<String, String>,
) -> Vec<Drift> {
    let overrides = observed.overrides();
    let mut drift: Vec<Drift> = desired
        .all_configs()
        .into_iter()
        .filter(|(k, v)| !observed.has_value(k, v))
        .map(|(k, v)| Drift {
            observed: overrides
                .get(k.as_str())
                .copied()
                .or(observed.effective(&k))
                .unwrap_or(UNSET)
                .to_string(),
            field: format!("config.{k}"),
            desired: v,
        })
        .collect();
    drift.extend(
        overrides
            .iter()
            .filter(|(k, _)| is_undeclared(desired, k) && !kept.contains_key(**k))
            .map(|(k, v)| Drift {
                field: format!("config.{k}"),
                desired: UNSET.into(),
                observed: v.to_string(),
            }),
    );
    drift.sort_by(|a, b| a.field.cmp(&b.field));
    drift
}
