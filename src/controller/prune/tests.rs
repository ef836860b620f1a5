use std::time::Instant;

use kube::client::Body;
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher::Event;
use prometheus_client::metrics::family::Family;

use super::*;
use crate::cluster::{ClusterKey, Observers};
use crate::controller::context::Settings;
use crate::controller::object_key;
use crate::fixtures;
use crate::kafka::fake::FakeKafka;
use crate::metrics::{ClusterGauges, ClusterLabels, Metrics, TopicGauges};

/// A context over synced caches the test fills and empties through the writers; its
/// apiserver is never called, its clusters' Kafka is in memory.
fn context() -> (Arc<Context>, Writer<KafkaTopic>, Writer<KafkaCluster>) {
    let (ctx, mut topics, mut clusters) = filling_context();
    topics.apply_watcher_event(&Event::InitDone);
    clusters.apply_watcher_event(&Event::InitDone);
    (ctx, topics, clusters)
}

/// The same, with the caches still waiting for their first list.
fn filling_context() -> (Arc<Context>, Writer<KafkaTopic>, Writer<KafkaCluster>) {
    let (topics, topic_writer) = reflector::store();
    let (clusters, cluster_writer) = reflector::store();
    let never = tower::service_fn(|_: http::Request<Body>| {
        std::future::pending::<Result<http::Response<Body>, std::convert::Infallible>>()
    });
    let observers = Observers::new(
        Duration::from_secs(30),
        Duration::from_secs(5),
        |_: &ClusterKey,
         _: &[String],
         _: &crate::kafka::security::Security,
         _: Duration|
         -> Arc<dyn crate::kafka::KafkaAdmin> { Arc::new(FakeKafka::with_brokers(1)) },
        Family::default(),
    );
    let ctx = Context::new(
        kube::Client::new(never, "ns"),
        clusters,
        topics,
        Arc::default(),
        Arc::new(observers),
        Arc::new(Metrics::new()),
        Settings::for_tests(),
    );
    (Arc::new(ctx), topic_writer, cluster_writer)
}

fn cluster(name: &str) -> KafkaCluster {
    let mut cluster = fixtures::kafka_cluster();
    cluster.metadata.name = Some(name.into());
    cluster
}

/// What a reconcile leaves behind: series, a failure count, Kafka request series.
fn remember_topic(ctx: &Context, topic: &KafkaTopic) {
    ctx.metrics
        .set_topic(topic_labels(topic), TopicGauges::default());
    ctx.backoff.failed(&object_key(topic));
}

fn remember_cluster(ctx: &Context, cluster: &KafkaCluster) {
    let labels = ClusterLabels {
        namespace: cluster.namespace().unwrap(),
        cluster: cluster.name_any(),
    };
    ctx.metrics
        .set_cluster(labels.clone(), ClusterGauges::default());
    ctx.metrics.kafka_request(&labels, "snapshot", true, 0.1);
    ctx.backoff.failed(&object_key(cluster));
}

fn sorted(mut keys: Vec<String>) -> Vec<String> {
    keys.sort();
    keys
}

#[tokio::test]
async fn deleted_topics_and_clusters_leave_no_backoff_entry_and_no_series() {
    let (ctx, mut topics, mut clusters) = context();
    let (kept, gone) = (fixtures::kafka_topic("kept"), fixtures::kafka_topic("gone"));
    let (main, old) = (cluster("kafka"), cluster("old"));
    for topic in [&kept, &gone] {
        topics.apply_watcher_event(&Event::Apply(topic.clone()));
        remember_topic(&ctx, topic);
    }
    for cluster in [&main, &old] {
        clusters.apply_watcher_event(&Event::Apply(cluster.clone()));
        remember_cluster(&ctx, cluster);
    }
    forget_gone(&ctx);
    let text = ctx.metrics.encode();
    for present in [
        r#"name="gone""#,
        r#"cluster="old""#,
        r#"cluster="old",operation="snapshot""#,
    ] {
        assert!(
            text.contains(present),
            "{present} missing while it exists: {text}"
        );
    }

    topics.apply_watcher_event(&Event::Delete(gone));
    clusters.apply_watcher_event(&Event::Delete(old));
    forget_gone(&ctx);
    let text = ctx.metrics.encode();
    for absent in [
        r#"name="gone""#,
        r#"cluster="old""#,
        r#"cluster="old",operation="snapshot""#,
    ] {
        assert!(!text.contains(absent), "{absent} still on /metrics: {text}");
    }
    for present in [
        r#"name="kept""#,
        r#"cluster="kafka""#,
        r#"cluster="kafka",operation="snapshot""#,
    ] {
        assert!(text.contains(present), "{present} missing: {text}");
    }
    assert_eq!(
        sorted(ctx.backoff.keys()),
        ["KafkaCluster/ns/kafka", "KafkaTopic/ns/kept"]
    );
}

#[tokio::test]
async fn a_topic_that_now_names_another_kafka_topic_loses_its_old_series() {
    let (ctx, mut topics, _clusters) = context();
    let before = fixtures::kafka_topic("orders");
    remember_topic(&ctx, &before);
    let mut after = before.clone();
    after.spec.topic_name = Some("orders-v2".into());
    topics.apply_watcher_event(&Event::Apply(after.clone()));
    remember_topic(&ctx, &after);
    forget_gone(&ctx);
    let text = ctx.metrics.encode();
    assert!(!text.contains(r#"topic="orders","#), "{text}");
    assert!(text.contains(r#"topic="orders-v2","#), "{text}");
}

#[tokio::test]
async fn a_deletion_seen_by_the_watch_is_swept_at_once() {
    let (ctx, mut topics, _clusters) = context();
    let topic = fixtures::kafka_topic("orders");
    topics.apply_watcher_event(&Event::Apply(topic.clone()));
    remember_topic(&ctx, &topic);
    let gone = Arc::new(Notify::new());
    let shutdown = CancellationToken::new();
    // Without the notification the next sweep would be an hour away.
    tokio::spawn(keep_forgetting(
        ctx.clone(),
        gone.clone(),
        Duration::from_secs(3600),
        shutdown.clone(),
    ));
    topics.apply_watcher_event(&Event::Delete(topic));
    gone.notify_one();
    let deadline = Instant::now() + Duration::from_secs(5);
    while ctx.metrics.encode().contains(r#"name="orders""#) || !ctx.backoff.keys().is_empty() {
        assert!(Instant::now() < deadline, "not swept within 5 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.cancel();
}

#[tokio::test]
async fn the_observer_of_a_deleted_cluster_is_stopped() {
    let (ctx, _topics, mut clusters) = context();
    let old = cluster("old");
    let key: ClusterKey = ("ns".into(), "old".into());
    clusters.apply_watcher_event(&Event::Apply(old.clone()));
    ctx.observers
        .ensure(&key, &["kafka:9092".into()], &Default::default());
    forget_gone(&ctx);
    assert!(ctx.observers.get(&key).is_some());
    clusters.apply_watcher_event(&Event::Delete(old));
    forget_gone(&ctx);
    assert!(ctx.observers.get(&key).is_none());
}

#[tokio::test]
async fn nothing_is_dropped_while_the_caches_are_still_filling() {
    let (ctx, _topics, _clusters) = filling_context();
    let topic = fixtures::kafka_topic("orders");
    remember_topic(&ctx, &topic);
    remember_cluster(&ctx, &cluster("kafka"));
    forget_gone(&ctx);
    let text = ctx.metrics.encode();
    assert!(text.contains(r#"name="orders""#), "{text}");
    assert!(
        text.contains(r#"cluster="kafka",operation="snapshot""#),
        "{text}"
    );
    assert_eq!(ctx.backoff.keys().len(), 2);
}
