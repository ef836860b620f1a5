//! KafkaCluster reconcile, top to bottom:
//!
//! 1. deleted: stop the cluster's observe loop (the registry in src/cluster/);
//! 2. connect: resolve `spec.security` from its Secrets (read again only when due:
//!    credential_cache.rs) and ensure an observe loop runs with them, and read what it last
//!    observed;
//! 3. act (Enforce only): remove broker throttle rates no move needs any more;
//! 4. a changed spec: every topic of the cluster is looked at again;
//! 5. status (pure `cluster_status`), metrics, and the status written with an event per
//!    condition transition only when it changed;
//! 6. when to look again: when the observation or the declared topics change (the triggers in
//!    controller/mod.rs), with a slow safety net.

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
use super::deletion_guard::Hold;
use super::error::{Error, FIELD_MANAGER};
use super::unmanaged::Unmanaged;
use super::{credential_cache, credentials};
use crate::api::condition::{Condition, find, merge_conditions, settling};
use crate::api::{
    AutoCreatePolicy, BrokerStatus, KafkaCluster, KafkaClusterStatus, PolicyMode, Reason,
    UnmanagedPolicy,
};
use crate::cluster::{ClusterHandle, ClusterKey, Observation, throttles};
use crate::kafka::KafkaError;
use crate::metrics::{ClusterGauges, ClusterLabels};
use crate::model::ClusterSnapshot;

pub async fn reconcile(cluster: Arc<KafkaCluster>, ctx: Arc<Context>) -> Result<Action, Error> {
    prune_observers(&ctx);
    let cluster = match ctx.written.clusters.newer_than(&cluster.metadata) {
        Some(status) => Arc::new(KafkaCluster {
            status: Some(status),
            ..(*cluster).clone()
        }),
        None => cluster,
    };
    let key: ClusterKey = (cluster.namespace().unwrap_or_default(), cluster.name_any());
    // 1. Deleted.
    if cluster.meta().deletion_timestamp.is_some() {
        ctx.observers.remove(&key);
        return Ok(Action::await_change());
    }
    // 2. Connect.
    let security = security(&cluster, &key, &ctx).await;
    let (observer, observation) = match &security {
        Ok(security) => {
            let observer = ctx
                .observers
                .ensure(&key, &cluster.spec.bootstrap_servers, security);
            let observation = observer.state.observation();
            (Some(observer), observation)
        }
        Err(error) => {
            if matches!(error, credentials::CredentialsError::NotOptedIn { .. }) {
                // The label taken off a Secret withdraws the owner's consent: a connection
                // opened with it earlier is closed too, not kept until the operator restarts.
                ctx.observers.remove(&key);
            }
            (
                None,
                Observation::Failed {
                    reason: error.reason(),
                    message: error.to_string(),
                    retry_in: ctx.settings.resync,
                },
            )
        }
    };
    if matches!(observation, Observation::Pending)
        && cluster.status.as_ref().is_some_and(|s| s.is_written())
    {
        // The first look after a (re)start is a moment away: the status keeps what was last
        // seen rather than flipping Ready to Connecting and back (two status writes and two
        // events for every restart of the operator).
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    // 3. Act.
    if cluster.spec.policy.mode == PolicyMode::Enforce
        && let Some(observer) = &observer
        && let Observation::Observed { snapshot, .. } = &observation
        && let Err(error) = remove_idle_throttles(observer, snapshot, cluster.as_ref(), &ctx).await
    {
        warn!(cluster = %key.1, %error, "removing replication throttles failed; retrying at the next resync");
    }
    // 4. A changed spec.
    let previous = cluster.status.as_ref();
    if previous.and_then(|p| p.observed_generation) != cluster.metadata.generation {
        // The spec changed (policy, defaults, reassignment settings): every topic of the
        // cluster is looked at again, not only those whose Kafka topic changed.
        ctx.observers.touch_all(&key);
    }
    // 5. Status.
    let declared = declared(&key, &observation, &ctx);
    let mut status = cluster_status(&cluster, &declared, &observation, previous);
    let held = ctx.deletion_guard.held(Hold::Bulk, &key);
    super::deletion_guard::show_held(&mut status, held, &cluster, previous);
    record_metrics(&key, &status, &ctx);

    let changed = previous.is_none_or(|p| {
        let mut p = p.clone();
        p.last_sync_time = status.last_sync_time;
        p != status
    });
    if changed {
        let mut status = status;
        status.last_sync_time = Some(Utc::now());
        for type_ in ["Ready", "AutoCreateDisabled", "DeletionsHeld"] {
            announce_transition(&cluster, previous, &status, type_, &ctx).await;
        }
        let api: Api<KafkaCluster> = Api::namespaced(ctx.client.clone(), &key.0);
        let patch = json!({ "apiVersion": KafkaCluster::api_version(&()), "kind": KafkaCluster::kind(&()), "status": status });
        let _turn = ctx.write_turn().await;
        let written = api
            .patch_status(
                &key.1,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await?;
        ctx.written
            .clusters
            .record(&cluster.metadata, written.metadata.resource_version, status);
    }
    // 6. When to look again.
    Ok(match observation {
        Observation::Pending => Action::requeue(Duration::from_secs(1)),
        // No observer for a cluster whose credentials could not be resolved, and Secrets are
        // not watched: a Secret created, fixed or labelled is seen at the next resync.
        Observation::Failed { retry_in, .. } if observer.is_none() => Action::requeue(retry_in),
        // What the status shows re-triggers the reconcile when it changes; this is a safety
        // net, and when the credentials are read again.
        _ => Action::requeue(credential_cache::REREAD),
    })
}

/// The KafkaCluster's credentials: the ones resolved before while they are current, else read
/// from its Secrets.
async fn security(
    cluster: &KafkaCluster,
    key: &ClusterKey,
    ctx: &Context,
) -> Result<crate::kafka::security::Security, credentials::CredentialsError> {
    let failing = ctx
        .observers
        .get(key)
        .is_some_and(|h| matches!(h.state.observation(), Observation::Failed { .. }));
    let version = cluster.metadata.resource_version.as_deref();
    if let Some(security) = ctx.credentials.get(key, version, failing) {
        return Ok(security);
    }
    let resolved = credentials::resolve(&ctx.client, &key.0, cluster.spec.security.as_ref()).await;
    if let Ok(security) = &resolved {
        ctx.credentials.put(key, version, security);
    }
    resolved
}

/// The Kafka topics KafkaTopics may manage through the KafkaCluster `key` (tenancy allowing).
fn declared_topics(key: &ClusterKey, ctx: &Context) -> BTreeSet<String> {
    let Some(cluster) = ctx.cluster(key) else {
        return BTreeSet::new();
    };
    ctx.index
        .of_cluster(key)
        .iter()
        .filter_map(|r| ctx.topics.get(r))
        .filter(|t| super::topic::admit::allowed(&cluster, t))
        .map(|t| t.kafka_topic_name())
        .collect()
}

/// What this KafkaCluster manages, and the topics of its Kafka no KafkaTopic declares through
/// any KafkaCluster for that Kafka (a topic declared, even by a KafkaTopic its tenancy rules
/// forbid, is that KafkaTopic's to report, not unmanaged).
fn declared(key: &ClusterKey, observation: &Observation, ctx: &Context) -> Declared {
    let unmanaged = match observation {
        Observation::Observed { snapshot, .. } => {
            let clusters = ctx.observers.same_kafka(key);
            ctx.unmanaged
                .get(snapshot, &clusters, ctx.index.generation(), || {
                    clusters
                        .iter()
                        .flat_map(|k| ctx.index.topic_names(k))
                        .collect()
                })
        }
        _ => Unmanaged::default(),
    };
    Declared {
        own: declared_topics(key, ctx).len(),
        unmanaged,
    }
}

/// The Kafka topics KafkaTopics declare (see [`declared`]).
struct Declared {
    /// How many this KafkaCluster's KafkaTopics may manage.
    own: usize,
    unmanaged: Unmanaged,
}

#[cfg(test)]
impl Declared {
    fn none() -> Self {
        Declared {
            own: 0,
            unmanaged: Unmanaged::default(),
        }
    }
}

/// Pure: the KafkaCluster's status from what its loop observed and the topics declared for it.
fn cluster_status(
    cluster: &KafkaCluster,
    declared: &Declared,
    observation: &Observation,
    previous: Option<&KafkaClusterStatus>,
) -> KafkaClusterStatus {
    let mut status = previous.cloned().unwrap_or_default();
    status.observed_generation = cluster.metadata.generation;
    status.ignored_config_keys = cluster.spec.policy.ignored_config_keys.clone();
    let ready = match observation {
        Observation::Pending => Condition::new(
            "Ready",
            false,
            Reason::Connecting,
            "waiting for the first look at the cluster",
        ),
        Observation::Failed {
            reason,
            message,
            retry_in,
        } => Condition::new(
            "Ready",
            false,
            *reason,
            format!("{message} (next attempt in {}s)", retry_in.as_secs()),
        ),
        Observation::Observed {
            snapshot, stale, ..
        } => {
            status.cluster_id = snapshot.cluster_id.clone();
            status.broker_count = Some(snapshot.brokers.len() as i32);
            status.brokers = snapshot
                .brokers
                .iter()
                .map(|b| BrokerStatus {
                    id: b.id,
                    host: b.host.clone(),
                    port: b.port,
                    rack: b.rack.clone(),
                    unreadable: snapshot.broker_errors.get(&b.id).cloned(),
                })
                .collect();
            status.managed_topics = Some(declared.own as i32);
            if cluster.spec.policy.unmanaged_topics == UnmanagedPolicy::Report {
                status.unmanaged_topics = Some(declared.unmanaged.count as i32);
                status.unmanaged_topic_names = declared.unmanaged.names.clone();
            } else {
                status.unmanaged_topics = None;
                status.unmanaged_topic_names = vec![];
            }
            status.auto_create_brokers = snapshot.auto_create_brokers.clone();
            status.auto_create = Some(if snapshot.auto_create_brokers.is_empty() {
                "Disabled".to_string()
            } else {
                format!("Enabled on {}", join_ids(&snapshot.auto_create_brokers))
            });
            let summary = format!(
                "{} brokers, {} topics",
                snapshot.brokers.len(),
                snapshot.topics.len()
            );
            match stale {
                // Still connected and still managing topics, from the last good view.
                Some(why) => Condition::new("Ready", true, Reason::KafkaSlow, why.clone()),
                None if snapshot.broker_errors.is_empty() => {
                    Condition::new("Ready", true, Reason::Connected, summary)
                }
                // Still managing topics (brokers answer for their own configs only), but
                // `kubectl get kc` should show at a glance that a broker is out of reach.
                None => Condition::new(
                    "Ready",
                    true,
                    Reason::BrokerUnreadable,
                    format!(
                        "{summary}; {}",
                        snapshot
                            .broker_errors
                            .iter()
                            .map(|(b, e)| format!("broker {b} unreadable: {e}"))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                ),
            }
        }
    };
    let mut conditions = vec![ready];
    conditions.extend(settling(&conditions[0]));
    if let Observation::Observed { snapshot, .. } = observation {
        let brokers = &snapshot.auto_create_brokers;
        conditions.push(match (brokers.is_empty(), cluster.spec.policy.auto_create_topics) {
            (true, _) => Condition::new("AutoCreateDisabled", true, Reason::Disabled, "no broker auto-creates topics"),
            (false, AutoCreatePolicy::Forbid) => Condition::new(
                "AutoCreateDisabled",
                false,
                Reason::AutoCreateEnabled,
                format!(
                    "brokers {} have auto.create.topics.enable=true: a client's first write to (or read of) a missing topic creates it with broker defaults. Set it to false on these brokers",
                    join_ids(brokers)
                ),
            ),
            (false, AutoCreatePolicy::Allow) => Condition::new(
                "AutoCreateDisabled",
                false,
                Reason::AllowedByPolicy,
                format!("brokers {} auto-create topics; allowed by policy.autoCreateTopics", join_ids(brokers)),
            ),
        });
    } else if let Some(old) = previous.and_then(|p| find(&p.conditions, "AutoCreateDisabled")) {
        conditions.push(old.clone());
    }
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

/// Removes the operator's own throttle rates (those of the declared move throttle) of a cluster
/// where nothing moves (src/cluster/throttles.rs says why no other rate is touched), with an
/// event naming the brokers.
async fn remove_idle_throttles(
    handle: &ClusterHandle,
    snapshot: &ClusterSnapshot,
    cluster: &KafkaCluster,
    ctx: &Context,
) -> Result<(), KafkaError> {
    let rate = cluster.spec.reassignment.throttle_bytes_per_second;
    let removed = throttles::remove_idle_throttles(&handle.state, snapshot, rate).await?;
    if !removed.is_empty() {
        ctx.event(cluster, EventType::Normal, "ThrottlesRemoved", "Reassign", format!(
            "no replica moves under way: the operator's replication throttle rates ({rate} bytes/s) removed from brokers {removed:?}"));
        handle.refresh_now();
    }
    Ok(())
}

fn join_ids(ids: &[i32]) -> String {
    ids.iter()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// One event per change of a condition (not per resync). An AutoCreateDisabled=False allowed by
/// policy is no warning.
async fn announce_transition(
    cluster: &KafkaCluster,
    previous: Option<&KafkaClusterStatus>,
    status: &KafkaClusterStatus,
    type_: &str,
    ctx: &Context,
) {
    let before = previous
        .and_then(|p| find(&p.conditions, type_))
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()));
    let Some(now) = find(&status.conditions, type_) else {
        return;
    };
    if before == Some((now.status.clone(), now.reason.clone(), now.message.clone())) {
        return;
    }
    if type_ == "AutoCreateDisabled" && before.is_none() && now.is_true() {
        return; // nothing to say about a healthy first look
    }
    let fine = now.is_true() != (type_ == "DeletionsHeld");
    let kind = if fine || now.reason == "AllowedByPolicy" {
        EventType::Normal
    } else {
        EventType::Warning
    };
    if type_ != "AutoCreateDisabled"
        && before.as_ref().map(|b| (&b.0, &b.1)) == Some((&now.status, &now.reason))
    {
        return; // only the message changed (e.g. the next retry time)
    }
    info!(cluster = %cluster.name_any(), condition = type_, status = %now.status, reason = %now.reason, "cluster condition changed");
    ctx.event(cluster, kind, &now.reason, "Observe", now.message.clone());
}

fn record_metrics(key: &ClusterKey, status: &KafkaClusterStatus, ctx: &Context) {
    let labels = ClusterLabels {
        namespace: key.0.clone(),
        cluster: key.1.clone(),
    };
    let ready = find(&status.conditions, "Ready").is_some_and(|c| c.is_true());
    ctx.metrics.set_cluster(
        labels,
        ClusterGauges {
            ready,
            brokers: status.broker_count.unwrap_or(0) as i64,
            managed_topics: status.managed_topics.unwrap_or(0) as i64,
            unmanaged_topics: status.unmanaged_topics.unwrap_or(0) as i64,
            auto_create_brokers: status.auto_create_brokers.len() as i64,
            unreadable_brokers: status
                .brokers
                .iter()
                .filter(|b| b.unreadable.is_some())
                .count() as i64,
            deletions_held: ctx.deletion_guard.held(Hold::Bulk, key) as i64,
            deletions_in_use_held: ctx.deletion_guard.held(Hold::InUse, key) as i64,
        },
    );
}

/// Stops observers of clusters that no longer exist (deleted KafkaClusters are not reconciled).
pub fn prune_observers(ctx: &Context) {
    let existing: BTreeSet<ClusterKey> = ctx
        .clusters
        .state()
        .iter()
        .map(|c| (c.namespace().unwrap_or_default(), c.name_any()))
        .collect();
    ctx.credentials.retain(|key| existing.contains(key));
    ctx.observers.retain(|key| {
        let keep = existing.contains(key);
        if !keep {
            warn!(cluster = %key.1, "KafkaCluster gone; stopping its observer");
        }
        keep
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::model::Broker;
    use tokio::time::Instant;

    fn observed(snapshot: ClusterSnapshot, stale: Option<&str>) -> Observation {
        Observation::Observed {
            started: Instant::now(),
            snapshot: Arc::new(snapshot),
            stale: stale.map(String::from),
        }
    }

    fn snapshot(topics: &[&str], auto_create_brokers: Vec<i32>) -> ClusterSnapshot {
        ClusterSnapshot {
            brokers: (1..=3)
                .map(|id| Broker {
                    id,
                    host: format!("kafka-{id}"),
                    port: 9092,
                    rack: None,
                })
                .collect(),
            topics: topics
                .iter()
                .map(|t| (t.to_string(), fixtures::observed_on(t, 1, &[1])))
                .collect(),
            auto_create_brokers,
            ..Default::default()
        }
    }

    fn condition(status: &KafkaClusterStatus, type_: &str) -> (bool, String) {
        let c = find(&status.conditions, type_).expect("the condition");
        (c.is_true(), c.reason.clone())
    }

    #[test]
    fn a_look_at_kafka_gives_brokers_counts_and_the_unmanaged_topics_not_kafkas_own() {
        let cluster = fixtures::kafka_cluster();
        let kafka = snapshot(
            &["orders", "team-b.events", "stray", "__consumer_offsets"],
            vec![],
        );
        let declared = Declared {
            own: 1,
            // team-b.events: declared through another KafkaCluster for the same Kafka.
            unmanaged: super::super::unmanaged::unmanaged(
                &kafka,
                &["orders".to_string(), "team-b.events".to_string()].into(),
            ),
        };
        let look = observed(kafka, None);
        let status = cluster_status(&cluster, &declared, &look, None);
        assert_eq!(condition(&status, "Ready"), (true, "Connected".into()));
        assert_eq!(status.brokers.len(), 3);
        assert_eq!(status.managed_topics, Some(1));
        assert_eq!(status.unmanaged_topic_names, vec!["stray".to_string()]);
        assert_eq!(
            condition(&status, "AutoCreateDisabled"),
            (true, "Disabled".into())
        );
    }

    #[test]
    fn brokers_that_auto_create_topics_are_named_and_the_policy_decides_if_that_is_a_warning() {
        let mut cluster = fixtures::kafka_cluster();
        let look = observed(snapshot(&[], vec![2]), None);
        let status = cluster_status(&cluster, &Declared::none(), &look, None);
        assert_eq!(
            condition(&status, "AutoCreateDisabled"),
            (false, "AutoCreateEnabled".into())
        );
        assert_eq!(status.auto_create.as_deref(), Some("Enabled on 2"));
        cluster.spec.policy.auto_create_topics = AutoCreatePolicy::Allow;
        let status = cluster_status(&cluster, &Declared::none(), &look, None);
        assert_eq!(
            condition(&status, "AutoCreateDisabled"),
            (false, "AllowedByPolicy".into())
        );
    }

    #[test]
    fn a_slow_kafka_keeps_the_cluster_ready_and_an_unreachable_one_does_not() {
        let cluster = fixtures::kafka_cluster();
        let slow = observed(snapshot(&[], vec![]), Some("Kafka is slow"));
        let status = cluster_status(&cluster, &Declared::none(), &slow, None);
        assert_eq!(condition(&status, "Ready"), (true, "KafkaSlow".into()));
        let gone = Observation::Failed {
            reason: Reason::ClusterUnreachable,
            message: "connection refused".into(),
            retry_in: Duration::from_secs(4),
        };
        let status = cluster_status(&cluster, &Declared::none(), &gone, Some(&status));
        let ready = find(&status.conditions, "Ready").unwrap();
        assert_eq!(
            (ready.is_true(), ready.reason.as_str()),
            (false, "ClusterUnreachable")
        );
        assert!(
            ready.message.contains("next attempt in 4s"),
            "{}",
            ready.message
        );
        // What the last look found about auto-creation is kept while Kafka cannot be asked.
        assert!(find(&status.conditions, "AutoCreateDisabled").is_some());
    }

    #[test]
    fn an_unreachable_cluster_is_reconciling_and_refused_credentials_are_stalled() {
        let cluster = fixtures::kafka_cluster();
        let failed = |reason| Observation::Failed {
            reason,
            message: "m".into(),
            retry_in: Duration::from_secs(4),
        };
        let beside_ready = |look: &Observation| {
            let status = cluster_status(&cluster, &Declared::none(), look, None);
            ["Reconciling", "Stalled"]
                .into_iter()
                .filter_map(|t| find(&status.conditions, t))
                .map(|c| (c.type_.clone(), c.reason.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            beside_ready(&failed(Reason::ClusterUnreachable)),
            vec![("Reconciling".into(), "ClusterUnreachable".into())]
        );
        assert_eq!(
            beside_ready(&failed(Reason::AuthenticationFailed)),
            vec![("Stalled".into(), "AuthenticationFailed".into())]
        );
        assert_eq!(beside_ready(&observed(snapshot(&[], vec![]), None)), vec![]);
    }
}
