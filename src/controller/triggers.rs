//! What wakes a reconcile from the apiserver's side: a lean watch into the controller's cache,
//! and the objects it triggers. A change of spec or metadata triggers its object; a change of
//! status alone does not: the operator writes every status itself, and reconciling each of its
//! own writes again doubled the reconciles of a mass creation for nothing (the echo finds what
//! the write just said). Kafka-side changes wake reconciles through the observers instead
//! (`changed_topics`, `changed_clusters`).

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use futures::StreamExt;
use kube::runtime::watcher;
use kube::{Api, Resource, ResourceExt};

use super::written::Written;

/// A watch of `api` into the cache `writer`, keeping only what the operator reads: managed
/// fields and kubectl's last-applied annotation (a second copy of the whole spec) are dropped, so
/// thousands of KafkaTopics cost their spec and status only.
pub fn lean_watch<K>(
    api: Api<K>,
    config: watcher::Config,
    writer: kube::runtime::reflector::store::Writer<K>,
    on_event: impl Fn(&watcher::Event<K>) + Send + 'static,
) -> impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    use futures::TryStreamExt;
    use kube::runtime::WatchStreamExt;
    let events = watcher(api, config)
        .default_backoff()
        .modify(|obj: &mut K| {
            obj.managed_fields_mut().clear();
            obj.annotations_mut()
                .remove("kubectl.kubernetes.io/last-applied-configuration");
        })
        .reflect(writer)
        // After the cache: whoever reads the index finds the object in the cache too.
        .inspect_ok(on_event);
    triggered_after_lists(events, identity)
}

/// Wakes the sweep (prune.rs) on what may mean objects went: a deletion, or the end of a
/// (re-)list, which replaces the cache without a deletion event for what it no longer holds.
pub fn notify_if_gone<K>(event: &watcher::Event<K>, gone: &tokio::sync::Notify) {
    if matches!(event, watcher::Event::Delete(_) | watcher::Event::InitDone) {
        gone.notify_one();
    }
}

/// Keeps [`Written`] small: what the cache now shows of an object, or that it is gone.
pub fn echoed<K: Resource, S: Clone>(event: &watcher::Event<K>, written: &Written<S>) {
    match event {
        watcher::Event::Apply(obj) | watcher::Event::InitApply(obj) => written.seen(obj.meta()),
        watcher::Event::Delete(obj) => written.forget(obj.meta()),
        _ => {}
    }
}

/// An object's key (its uid, else namespace/name) and a hash of what a reconcile acts on: the
/// generation (the spec), labels, annotations, finalizers, owners and the deletion timestamp.
/// The status and the resource version are left out.
fn identity<K: Resource>(obj: &K) -> (String, u64) {
    let meta = obj.meta();
    let key = meta.uid.clone().unwrap_or_else(|| {
        format!(
            "{}/{}",
            meta.namespace.as_deref().unwrap_or_default(),
            meta.name.as_deref().unwrap_or_default()
        )
    });
    let mut hasher = DefaultHasher::new();
    meta.generation.hash(&mut hasher);
    meta.labels.hash(&mut hasher);
    meta.annotations.hash(&mut hasher);
    meta.finalizers.hash(&mut hasher);
    meta.deletion_timestamp
        .as_ref()
        .map(|t| t.0.as_microsecond())
        .hash(&mut hasher);
    for owner in meta.owner_references.iter().flatten() {
        owner.uid.hash(&mut hasher);
    }
    (key, hasher.finish())
}

/// The objects to reconcile from a reflected watch: each change of what `identity` hashes as it
/// comes (a status-only change is skipped), and the objects of a (re-)list only once the whole
/// list is in the cache, every one of them.
///
/// `applied_objects()` triggered each listed object as soon as its page arrived. A re-list (after
/// a watch expired with 410 Gone, or the apiserver restarted) fills a new cache that replaces the
/// old one only when the list is complete, and a reconcile reads the cache, not the event: when a
/// list of several pages (500 objects each) took longer than the controller's debounce, the
/// reconciles of the first pages ran against the old cache, with the spec from before the watch
/// broke (a change made meanwhile, or a deletion's timestamp, not seen) or not at all for an
/// object created meanwhile ("not found in local store"); and an idle object is not triggered
/// again, so the change was missed until the object next changed. Triggering the listed objects
/// at InitDone, after the cache swapped in the list, is what kube's own shared-store dispatcher
/// does.
fn triggered_after_lists<K: Send + 'static>(
    events: impl futures::Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
    identity: impl Fn(&K) -> (String, u64) + Send + 'static,
) -> impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static {
    let mut listed: Vec<K> = Vec::new();
    // What each object looked like when it last triggered (or was listed).
    let mut seen: HashMap<String, u64> = HashMap::new();
    events
        .map(move |event| {
            let triggered = match event {
                Ok(watcher::Event::Apply(obj)) => {
                    let (key, fingerprint) = identity(&obj);
                    if seen.insert(key, fingerprint) == Some(fingerprint) {
                        vec![]
                    } else {
                        vec![Ok(obj)]
                    }
                }
                Ok(watcher::Event::Delete(obj)) => {
                    seen.remove(&identity(&obj).0);
                    vec![]
                }
                Ok(watcher::Event::Init) => {
                    listed.clear();
                    seen.clear();
                    vec![]
                }
                Ok(watcher::Event::InitApply(obj)) => {
                    let (key, fingerprint) = identity(&obj);
                    seen.insert(key, fingerprint);
                    listed.push(obj);
                    vec![]
                }
                Ok(watcher::Event::InitDone) => {
                    std::mem::take(&mut listed).into_iter().map(Ok).collect()
                }
                Err(e) => vec![Err(e)],
            };
            futures::stream::iter(triggered)
        })
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::watcher::Event;

    /// Test objects: (name, what a reconcile acts on); the status is not part of them.
    fn by_name(obj: &(&'static str, u64)) -> (String, u64) {
        (obj.0.to_string(), obj.1)
    }

    async fn triggered(events: Vec<Event<(&'static str, u64)>>) -> Vec<&'static str> {
        let stream =
            triggered_after_lists(futures::stream::iter(events.into_iter().map(Ok)), by_name);
        let mut stream = std::pin::pin!(stream);
        let mut names = vec![];
        while let Some(t) = stream.next().await {
            names.push(t.unwrap().0);
        }
        names
    }

    #[tokio::test]
    async fn listed_objects_are_triggered_once_the_whole_list_is_in_the_cache() {
        let events = vec![
            Event::Apply(("changed before the watch broke", 1)),
            // A re-list of two pages: nothing is triggered until it is complete (the cache
            // swaps the list in at InitDone, just before this stream sees it).
            Event::Init,
            Event::InitApply(("a", 1)),
            Event::InitApply(("b", 1)),
            Event::InitDone,
            Event::Delete(("gone", 1)),
            Event::Apply(("c", 1)),
            // A re-list that broke off before InitDone, then one that completed.
            Event::Init,
            Event::InitApply(("lost", 1)),
            Event::Init,
            Event::InitApply(("d", 1)),
            Event::InitDone,
        ];
        assert_eq!(
            triggered(events).await,
            ["changed before the watch broke", "a", "b", "c", "d"]
        );
    }

    #[tokio::test]
    async fn a_status_only_change_triggers_nothing_a_spec_or_metadata_change_does() {
        let events = vec![
            Event::Apply(("t", 1)),
            // The operator's own status write comes back: same generation and metadata.
            Event::Apply(("t", 1)),
            // A new spec (or a label, finalizer, deletion timestamp): a new fingerprint.
            Event::Apply(("t", 2)),
            Event::Apply(("t", 2)),
            // Deleted and created again under the same key: triggered again.
            Event::Delete(("t", 2)),
            Event::Apply(("t", 2)),
            // A re-list triggers every object, changed or not, and remembers them.
            Event::Init,
            Event::InitApply(("t", 2)),
            Event::InitDone,
            Event::Apply(("t", 2)),
        ];
        assert_eq!(triggered(events).await, ["t", "t", "t", "t"]);
    }

    #[test]
    fn the_fingerprint_ignores_status_and_resource_version_but_not_metadata() {
        use crate::api::{KafkaTopic, KafkaTopicStatus};
        let topic: KafkaTopic = serde_json::from_value(serde_json::json!({
            "apiVersion": "kafka.topic-operator.dev/v1alpha1", "kind": "KafkaTopic",
            "metadata": {"name": "t", "namespace": "ns", "uid": "u1", "generation": 1,
                          "resourceVersion": "10"},
            "spec": {"clusterRef": {"name": "c"}, "partitions": 1}
        }))
        .unwrap();
        let base = identity(&topic);
        let mut written = topic.clone();
        written.status = Some(KafkaTopicStatus::default());
        written.metadata.resource_version = Some("11".into());
        assert_eq!(identity(&written), base);
        for change in [
            |t: &mut KafkaTopic| t.metadata.generation = Some(2),
            |t: &mut KafkaTopic| {
                t.labels_mut().insert("team".into(), "a".into());
            },
            |t: &mut KafkaTopic| {
                t.annotations_mut().insert("a".into(), "b".into());
            },
            |t: &mut KafkaTopic| t.finalizers_mut().push("f".into()),
            |t: &mut KafkaTopic| {
                t.metadata.deletion_timestamp =
                    Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                        k8s_openapi::jiff::Timestamp::now(),
                    ))
            },
        ] {
            let mut changed = topic.clone();
            change(&mut changed);
            assert_eq!(identity(&changed).0, base.0);
            assert_ne!(identity(&changed).1, base.1);
        }
    }
}
