//! KafkaCluster reconcile: keep an observer running for the cluster and report what it sees.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::{info, warn};

use super::context::Context;
use super::ownership::cluster_key;
use super::{Error, FIELD_MANAGER};
use crate::api::condition::{Condition, find, merge_conditions};
use crate::api::{BrokerStatus, KafkaCluster, KafkaClusterStatus, PolicyMode};
use crate::kafka::KafkaError;
use crate::model::{BROKER_THROTTLE_CONFIGS, ClusterSnapshot, ConfigChanges};
use crate::observer::{ClusterKey, ClusterObserver, Observation};
use crate::plan::OPERATOR_OWNED_CONFIGS;

/// How many unmanaged topic names the status lists.
const UNMANAGED_NAMES_SHOWN: usize = 20;

pub async fn reconcile(cluster: Arc<KafkaCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    prune_observers(&ctx);
    let key: ClusterKey = (cluster.namespace().unwrap_or_default(), cluster.name_any());
    if cluster.meta().deletion_timestamp.is_some() {
        ctx.observers.remove(&key);
        return Ok(Action::await_change());
    }
    let observer = ctx.observers.ensure(&key, &cluster.spec.bootstrap_servers);
    let observation = observer.observation();
    if cluster.spec.policy.mode == PolicyMode::Enforce
        && let Observation::Observed { snapshot, .. } = &observation
        && let Err(error) = remove_idle_throttles(&observer, snapshot, cluster.as_ref(), &ctx).await
    {
        warn!(cluster = %key.1, %error, "removing replication throttles failed; retrying at the next resync");
    }
    let previous = cluster.status.as_ref();
    let status = cluster_status(&cluster, &key, &observation, previous, &ctx);

    let changed = previous.is_none_or(|p| {
        let mut p = p.clone();
        p.last_sync_time = status.last_sync_time;
        p != status
    });
    if changed {
        let mut status = status;
        status.last_sync_time = Some(Utc::now());
        let old_ready = previous
            .and_then(|p| find(&p.conditions, "Ready"))
            .map(|c| (c.status.clone(), c.reason.clone()));
        let new_ready =
            find(&status.conditions, "Ready").map(|c| (c.status.clone(), c.reason.clone()));
        if old_ready != new_ready
            && let Some(c) = find(&status.conditions, "Ready")
        {
            let type_ = if c.is_true() {
                EventType::Normal
            } else {
                EventType::Warning
            };
            ctx.event(
                cluster.as_ref(),
                type_,
                &c.reason,
                "Observe",
                c.message.clone(),
            )
            .await;
            info!(cluster = %key.1, ready = %c.status, reason = %c.reason, "cluster readiness changed");
        }
        let api: Api<KafkaCluster> = Api::namespaced(ctx.client.clone(), &key.0);
        let patch = json!({ "apiVersion": KafkaCluster::api_version(&()), "kind": KafkaCluster::kind(&()), "status": status });
        api.patch_status(
            &key.1,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
    }
    Ok(match observation {
        Observation::Pending => Action::requeue(Duration::from_secs(1)),
        // Observer refreshes re-trigger every reconcile; this is a safety net.
        _ => Action::requeue(ctx.settings.resync * 4),
    })
}

fn cluster_status(
    cluster: &KafkaCluster,
    key: &ClusterKey,
    observation: &Observation,
    previous: Option<&KafkaClusterStatus>,
    ctx: &Context,
) -> KafkaClusterStatus {
    let mut status = previous.cloned().unwrap_or_default();
    status.observed_generation = cluster.metadata.generation;
    let ready = match observation {
        Observation::Pending => Condition::new(
            "Ready",
            false,
            "Connecting",
            "waiting for the first look at the cluster",
        ),
        Observation::Failed {
            reason,
            message,
            retry_in,
        } => Condition::new(
            "Ready",
            false,
            reason,
            format!("{message} (next attempt in {}s)", retry_in.as_secs()),
        ),
        Observation::Observed { snapshot, .. } => {
            status.cluster_id = snapshot.cluster_id.clone();
            status.controller = snapshot.controller_id;
            status.broker_count = Some(snapshot.brokers.len() as i32);
            status.brokers = snapshot
                .brokers
                .iter()
                .map(|b| BrokerStatus {
                    id: b.id,
                    host: b.host.clone(),
                    port: b.port,
                    rack: b.rack.clone(),
                })
                .collect();
            let declared: BTreeSet<String> = ctx
                .topics
                .state()
                .iter()
                .filter(|t| cluster_key(t) == *key)
                .map(|t| t.kafka_topic_name())
                .collect();
            let unmanaged: Vec<&String> = snapshot
                .topics
                .values()
                .filter(|t| {
                    !t.is_internal && !t.name.starts_with("__") && !declared.contains(&t.name)
                })
                .map(|t| &t.name)
                .collect();
            status.managed_topics = Some(declared.len() as i32);
            status.unmanaged_topics = Some(unmanaged.len() as i32);
            status.unmanaged_topic_names = unmanaged
                .into_iter()
                .take(UNMANAGED_NAMES_SHOWN)
                .cloned()
                .collect();
            Condition::new(
                "Ready",
                true,
                "Connected",
                format!(
                    "{} brokers, {} topics",
                    snapshot.brokers.len(),
                    snapshot.topics.len()
                ),
            )
        }
    };
    let mut conditions = vec![ready];
    for c in &mut conditions {
        c.observed_generation = cluster.metadata.generation;
    }
    status.conditions = merge_conditions(
        previous
            .map(|p| p.conditions.as_slice())
            .unwrap_or_default(),
        conditions,
    );
    status
}

/// Once no partition moves anywhere in the cluster, the throttle rates set on brokers for the
/// moves are removed (the topics' throttled-replica lists go when each topic's moves finish).
async fn remove_idle_throttles(
    observer: &ClusterObserver,
    snapshot: &ClusterSnapshot,
    cluster: &KafkaCluster,
    ctx: &Context,
) -> Result<(), KafkaError> {
    let throttled: Vec<i32> = snapshot
        .broker_overrides
        .iter()
        .filter(|(_, o)| BROKER_THROTTLE_CONFIGS.iter().any(|k| o.contains_key(*k)))
        .map(|(b, _)| *b)
        .collect();
    if throttled.is_empty() {
        return Ok(());
    }
    // Under the write lock: no topic starts a move while we decide nothing moves.
    let _guard = observer.write_lock.lock().await;
    let busy = observer.topics().iter().any(|t| {
        t.partitions.iter().any(|p| p.is_moving())
            || OPERATOR_OWNED_CONFIGS
                .iter()
                .any(|k| t.overrides().contains_key(*k))
    });
    if busy {
        return Ok(());
    }
    let delete = ConfigChanges {
        set: Default::default(),
        delete: BROKER_THROTTLE_CONFIGS
            .iter()
            .map(|k| k.to_string())
            .collect(),
    };
    for broker in &throttled {
        observer
            .admin
            .alter_broker_configs(*broker, &delete)
            .await?;
    }
    ctx.event(cluster, EventType::Normal, "ThrottlesRemoved", "Reassign", format!(
        "no replica moves under way: replication throttle rates removed from brokers {throttled:?}")).await;
    observer.refresh_now();
    Ok(())
}

/// Stops observers of clusters that no longer exist (deleted KafkaClusters are not reconciled).
fn prune_observers(ctx: &Context) {
    let existing: BTreeSet<ClusterKey> = ctx
        .clusters
        .state()
        .iter()
        .map(|c| (c.namespace().unwrap_or_default(), c.name_any()))
        .collect();
    ctx.observers.retain(|key| {
        let keep = existing.contains(key);
        if !keep {
            warn!(cluster = %key.1, "KafkaCluster gone; stopping its observer");
        }
        keep
    });
}
