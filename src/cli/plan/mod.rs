//! `kafka-topic-operator plan`: what merging a directory of KafkaTopic manifests would do,
//! for a review in CI. The operator's own checks, in the operator's order (the clusterRef, the
//! manifest's validity, tenancy, ownership, then the plan against a live Kafka snapshot), and,
//! when the live KafkaTopics are read, what removing the ones the files leave out would do.
//! Nothing is written to Kafka or to the apiserver.

pub mod command;
mod describe;
mod live;
mod removals;
pub mod report;
mod text;
mod topics;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;

use crate::api::{KafkaCluster, KafkaTopic};
use crate::cluster::ClusterKey;
use crate::controller::ownership::cluster_key;
use crate::model::ClusterSnapshot;
use crate::plan::ClusterView;
pub use report::PlanReport;
use report::{ClusterEntry, LiveEntry, SCHEMA_VERSION};
pub use text::render as render_text;
use topics::ObjectKey;

/// The namespaces whose KafkaTopics (for the planned KafkaCluster) the files hold in full.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    All,
    Namespaces(BTreeSet<String>),
}

impl Scope {
    fn contains(&self, namespace: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Namespaces(set) => set.contains(namespace),
        }
    }

    fn names(&self) -> Vec<String> {
        match self {
            Scope::All => vec!["*".into()],
            Scope::Namespaces(set) => set.iter().cloned().collect(),
        }
    }
}

/// Everything a plan is made from, read beforehand.
pub struct Inputs<'a> {
    /// The KafkaCluster planned against, its namespace filled in.
    pub cluster: &'a KafkaCluster,
    /// `apiserver`, or the file the KafkaCluster came from.
    pub cluster_source: String,
    /// The files' KafkaTopics with where each came from, their namespaces filled in.
    pub files: &'a [(String, KafkaTopic)],
    pub snapshot: &'a ClusterSnapshot,
    /// Every live KafkaTopic, and where the files are the whole truth; None: not read.
    pub live: Option<(&'a [KafkaTopic], Scope)>,
    /// When the files' new KafkaTopics would be created (the newest declarations).
    pub now: Time,
}

/// Pure: the plan of the files against the snapshot and the live KafkaTopics.
pub fn plan_against(inputs: &Inputs) -> PlanReport {
    let cluster = inputs.cluster;
    let key: ClusterKey = (cluster.namespace().unwrap_or_default(), cluster.name_any());
    let id = |t: &KafkaTopic| -> ObjectKey { (t.namespace().unwrap_or_default(), t.name_any()) };
    let live: BTreeMap<ObjectKey, &KafkaTopic> = inputs
        .live
        .iter()
        .flat_map(|(topics, _)| topics.iter())
        .map(|t| (id(t), t))
        .collect();
    let in_files: BTreeSet<ObjectKey> = inputs.files.iter().map(|(_, t)| id(t)).collect();
    let removed = |t: &KafkaTopic| {
        !in_files.contains(&id(t))
            && inputs
                .live
                .as_ref()
                .is_some_and(|(_, scope)| scope.contains(&id(t).0))
    };
    // The declarations as they would be after the merge: the files' (a live object keeps its
    // identity, age and status), and the live ones the merge leaves alone.
    let declared: Vec<(String, KafkaTopic)> = inputs
        .files
        .iter()
        .map(|(source, file)| {
            let mut topic = file.clone();
            match live.get(&id(file)) {
                Some(existing) => {
                    topic.metadata.uid = existing.metadata.uid.clone();
                    topic.metadata.creation_timestamp =
                        existing.metadata.creation_timestamp.clone();
                    topic.status = existing.status.clone();
                }
                None => topic.metadata.creation_timestamp = Some(inputs.now.clone()),
            }
            (source.clone(), topic)
        })
        .collect();
    let mut origins: BTreeMap<ObjectKey, String> = BTreeMap::new();
    let mut after_merge: Vec<Arc<KafkaTopic>> = Vec::new();
    for (source, topic) in &declared {
        if cluster_key(topic) == key && !origins.contains_key(&id(topic)) {
            origins.insert(id(topic), source.clone());
            after_merge.push(Arc::new(topic.clone()));
        }
    }
    for topic in live.values() {
        if cluster_key(topic) == key && !in_files.contains(&id(topic)) && !removed(topic) {
            origins.insert(id(topic), "live".into());
            after_merge.push(Arc::new((*topic).clone()));
        }
    }
    let observed: Vec<_> = inputs.snapshot.topics.values().cloned().collect();
    let policy = &cluster.spec.reassignment;
    let view = ClusterView::new(
        inputs.snapshot,
        &observed,
        policy.max_concurrent_moves as usize,
        policy.throttle_bytes_per_second,
    );
    let context = topics::Context {
        cluster,
        key: key.clone(),
        snapshot: inputs.snapshot,
        view: &view,
        declarations: &after_merge,
        origins: &origins,
    };
    let mut seen = BTreeMap::new();
    let topics = declared
        .iter()
        .map(|(source, topic)| {
            let first = seen.entry(id(topic)).or_insert_with(|| source.clone());
            let duplicate_of = (first != source).then(|| first.clone());
            topics::plan_one(&context, source, topic, duplicate_of)
        })
        .collect();
    let now_live: Vec<Arc<KafkaTopic>> = live
        .values()
        .filter(|t| cluster_key(t) == key)
        .map(|t| Arc::new((*t).clone()))
        .collect();
    let removals = now_live
        .iter()
        .filter(|t| removed(t))
        .map(|t| removals::removal(cluster, t, &now_live, inputs.snapshot))
        .collect();
    PlanReport {
        schema_version: SCHEMA_VERSION,
        exit_code: 0,
        changes: false,
        destructive: false,
        refused: false,
        cluster: ClusterEntry {
            namespace: key.0,
            name: key.1,
            source: inputs.cluster_source.clone(),
            mode: format!("{:?}", cluster.spec.policy.mode),
        },
        live: LiveEntry {
            read: inputs.live.is_some(),
            scope: inputs
                .live
                .as_ref()
                .map(|(_, scope)| scope.names())
                .unwrap_or_default(),
        },
        topics,
        removals,
    }
    .conclude()
}

#[cfg(test)]
mod tests;
