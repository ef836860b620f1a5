//! KafkaTopics indexed by the cluster they reference and the Kafka topic they name, kept by the
//! KafkaTopic watch. Reconciles ask "who else declares this topic?" (ownership) and the observer
//! asks "which objects declare these changed topics?" (what to reconcile): with the index both
//! cost the answer's size, not a scan of every KafkaTopic, which at thousands of topics made
//! every reconcile and every snapshot work proportional to the number of topics.

use std::collections::{BTreeSet, HashMap};
use std::sync::RwLock;

use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher::Event;

use super::ownership::cluster_key;
use crate::api::KafkaTopic;
use crate::cluster::ClusterKey;
use crate::util::sync::{read, write};

/// A KafkaTopic's namespace and name.
type ObjectKey = (String, String);

#[derive(Default)]
struct Entries {
    /// cluster -> Kafka topic name -> the KafkaTopics declaring it.
    by_topic: HashMap<ClusterKey, HashMap<String, BTreeSet<ObjectKey>>>,
    /// What each KafkaTopic was indexed under (to move it when its spec changes).
    of_object: HashMap<ObjectKey, (ClusterKey, String)>,
}

impl Entries {
    /// Indexes `topic`; returns the clusters whose declared topics changed (none when the
    /// object still names the same topic in the same cluster).
    fn apply(&mut self, topic: &KafkaTopic) -> Vec<ClusterKey> {
        let key = (topic.namespace().unwrap_or_default(), topic.name_any());
        let (cluster, name) = (cluster_key(topic), topic.kafka_topic_name());
        if self.of_object.get(&key) == Some(&(cluster.clone(), name.clone())) {
            return vec![];
        }
        let mut changed: Vec<ClusterKey> = self.remove(&key).into_iter().collect();
        changed.push(cluster.clone());
        self.by_topic
            .entry(cluster.clone())
            .or_default()
            .entry(name.clone())
            .or_default()
            .insert(key.clone());
        self.of_object.insert(key, (cluster, name));
        changed
    }

    /// Forgets a KafkaTopic; returns the cluster it was declared in.
    fn remove(&mut self, key: &ObjectKey) -> Option<ClusterKey> {
        let (cluster, name) = self.of_object.remove(key)?;
        if let Some(topics) = self.by_topic.get_mut(&cluster) {
            if let Some(objects) = topics.get_mut(&name) {
                objects.remove(key);
                if objects.is_empty() {
                    topics.remove(&name);
                }
            }
            if topics.is_empty() {
                self.by_topic.remove(&cluster);
            }
        }
        Some(cluster)
    }
}

#[derive(Default)]
pub struct TopicIndex {
    entries: RwLock<Entries>,
    /// Filled during a re-list; replaces `entries` when the list is complete (objects deleted
    /// while the watch was down are not in it).
    relisting: RwLock<Option<Entries>>,
    /// Bumped whenever the declared topics of some cluster change: what was worked out from
    /// them (the unmanaged topics, unmanaged.rs) is current while this is unchanged.
    generation: std::sync::atomic::AtomicU64,
}

impl TopicIndex {
    /// Follows one event of the KafkaTopic watch, as the reflector's store does.
    /// Returns the clusters whose set of declared topics changed (their status counts them).
    pub fn observe(&self, event: &Event<KafkaTopic>) -> Vec<ClusterKey> {
        let changed = self.follow(event);
        if !changed.is_empty() {
            self.generation
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        changed
    }

    /// See [`TopicIndex::generation`].
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn follow(&self, event: &Event<KafkaTopic>) -> Vec<ClusterKey> {
        match event {
            Event::Apply(topic) => write(&self.entries).apply(topic),
            Event::Delete(topic) => {
                let key = (topic.namespace().unwrap_or_default(), topic.name_any());
                write(&self.entries).remove(&key).into_iter().collect()
            }
            Event::Init => {
                *write(&self.relisting) = Some(Entries::default());
                vec![]
            }
            Event::InitApply(topic) => {
                if let Some(entries) = write(&self.relisting).as_mut() {
                    entries.apply(topic);
                }
                vec![]
            }
            Event::InitDone => {
                let Some(entries) = write(&self.relisting).take() else {
                    return vec![];
                };
                let mut current = write(&self.entries);
                let mut clusters: BTreeSet<ClusterKey> = current.by_topic.keys().cloned().collect();
                clusters.extend(entries.by_topic.keys().cloned());
                *current = entries;
                clusters.into_iter().collect()
            }
        }
    }

    /// The KafkaTopics that name `topic` in `cluster`.
    pub fn declaring(&self, cluster: &ClusterKey, topic: &str) -> Vec<ObjectRef<KafkaTopic>> {
        read(&self.entries)
            .by_topic
            .get(cluster)
            .and_then(|topics| topics.get(topic))
            .map(|objects| objects.iter().map(object_ref).collect())
            .unwrap_or_default()
    }

    /// Every KafkaTopic that references `cluster`.
    pub fn of_cluster(&self, cluster: &ClusterKey) -> Vec<ObjectRef<KafkaTopic>> {
        read(&self.entries)
            .by_topic
            .get(cluster)
            .map(|topics| topics.values().flatten().map(object_ref).collect())
            .unwrap_or_default()
    }

    /// The Kafka topic names declared in `cluster` (by any KafkaTopic, allowed or not).
    pub fn topic_names(&self, cluster: &ClusterKey) -> Vec<String> {
        read(&self.entries)
            .by_topic
            .get(cluster)
            .map(|topics| topics.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Every indexed KafkaTopic.
    pub fn all(&self) -> Vec<ObjectRef<KafkaTopic>> {
        read(&self.entries)
            .of_object
            .keys()
            .map(object_ref)
            .collect()
    }
}

fn object_ref((namespace, name): &ObjectKey) -> ObjectRef<KafkaTopic> {
    ObjectRef::new(name).within(namespace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ClusterRef, KafkaTopicSpec};

    fn topic(ns: &str, name: &str, cluster: &str, topic_name: &str) -> KafkaTopic {
        let mut t = KafkaTopic::new(
            name,
            KafkaTopicSpec {
                cluster_ref: ClusterRef {
                    name: cluster.into(),
                    namespace: None,
                },
                topic_name: Some(topic_name.into()),
                partitions: None,
                replication_factor: None,
                min_in_sync_replicas: None,
                config: Default::default(),
                deletion_policy: None,
            },
        );
        t.metadata.namespace = Some(ns.into());
        t
    }

    fn names(refs: Vec<ObjectRef<KafkaTopic>>) -> Vec<String> {
        refs.into_iter().map(|r| r.name).collect()
    }

    #[test]
    fn finds_declarations_by_cluster_and_topic_and_follows_changes() {
        let index = TopicIndex::default();
        let main = ("a".to_string(), "main".to_string());
        index.observe(&Event::Apply(topic("a", "one", "main", "orders")));
        index.observe(&Event::Apply(topic("a", "two", "main", "orders")));
        index.observe(&Event::Apply(topic("a", "three", "other", "orders")));
        assert_eq!(names(index.declaring(&main, "orders")), ["one", "two"]);
        assert_eq!(index.of_cluster(&main).len(), 2);

        // A changed topicName moves the object; a deletion removes it.
        index.observe(&Event::Apply(topic("a", "two", "main", "payments")));
        assert_eq!(names(index.declaring(&main, "orders")), ["one"]);
        assert_eq!(names(index.declaring(&main, "payments")), ["two"]);
        index.observe(&Event::Delete(topic("a", "one", "main", "orders")));
        assert!(index.declaring(&main, "orders").is_empty());
        assert_eq!(index.topic_names(&main), ["payments"]);
    }

    #[test]
    fn a_relist_forgets_objects_deleted_while_the_watch_was_down() {
        let index = TopicIndex::default();
        let main = ("a".to_string(), "main".to_string());
        index.observe(&Event::Apply(topic("a", "gone", "main", "old")));
        index.observe(&Event::Init);
        // Until the list is complete, the old entries still answer.
        assert_eq!(names(index.declaring(&main, "old")), ["gone"]);
        index.observe(&Event::InitApply(topic("a", "kept", "main", "new")));
        index.observe(&Event::InitDone);
        assert!(index.declaring(&main, "old").is_empty());
        assert_eq!(names(index.all()), ["kept"]);
    }
}
