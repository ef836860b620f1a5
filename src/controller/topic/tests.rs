//! The whole topic reconcile (steps 1-6), in the style of kube-rs's controller-rs: a recording
//! apiserver (every request kept; a status patch answered with the object) and the in-memory
//! Kafka. What reaches Kafka and what the status says are asserted; the same scenarios run
//! against the real apiserver and Kafka in tests/defaults.rs, tests/topics.rs and others.

use std::sync::Mutex;

use kube::client::Body;
use kube::runtime::watcher;
use prometheus_client::metrics::family::Family;

use super::*;
use crate::cluster::{ClusterKey, Observation, Observers};
use crate::controller::context::Settings;
use crate::fixtures;
use crate::kafka::KafkaAdmin;
use crate::kafka::fake::FakeKafka;
use crate::kafka::security::Security;
use crate::metrics::Metrics;

/// (method, path, body) of every request the apiserver received.
type Requests = Arc<Mutex<Vec<(String, String, serde_json::Value)>>>;

/// An apiserver that answers every request at once: a patch with the object it was sent
/// (status patches are server-side applies of the whole status), anything else with `{}`.
fn recording_apiserver(topic: &KafkaTopic) -> (kube::Client, Requests) {
    let requests: Requests = Arc::default();
    let seen = requests.clone();
    let object = serde_json::to_value(topic).unwrap();
    let service = tower::service_fn(move |request: http::Request<Body>| {
        let (seen, mut object) = (seen.clone(), object.clone());
        async move {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.unwrap_or_default();
            let sent: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            if let Some(status) = sent.get("status") {
                object["status"] = status.clone();
            }
            seen.lock().unwrap().push((
                parts.method.to_string(),
                parts.uri.path().to_string(),
                sent,
            ));
            let answer = serde_json::to_vec(&object).unwrap();
            Ok::<_, std::convert::Infallible>(
                http::Response::builder()
                    .status(200)
                    .body(Body::from(answer))
                    .unwrap(),
            )
        }
    });
    (kube::Client::new(service, "ns"), requests)
}

/// A context whose caches hold `cluster` (and are synced), whose cluster `ns/kafka` is `kafka`
/// and already observed.
async fn context(client: kube::Client, kafka: Arc<FakeKafka>) -> Arc<Context> {
    context_with(client, kafka, true).await
}

/// The same, with the KafkaCluster cache still filling (an operator that just started) unless
/// `synced`.
async fn context_with(client: kube::Client, kafka: Arc<FakeKafka>, synced: bool) -> Arc<Context> {
    let (clusters, mut writer) = kube::runtime::reflector::store::<KafkaCluster>();
    if synced {
        writer.apply_watcher_event(&watcher::Event::InitApply(fixtures::kafka_cluster()));
        writer.apply_watcher_event(&watcher::Event::InitDone);
    }
    std::mem::forget(writer); // the store stays as it is for the test's life
    let observers = Observers::new(
        Duration::from_secs(3600),
        Duration::from_secs(5),
        move |_: &ClusterKey, _: &[String], _: &Security, _: Duration| -> Arc<dyn KafkaAdmin> {
            kafka.clone()
        },
        Family::default(),
    );
    let key: ClusterKey = ("ns".into(), "kafka".into());
    let cluster = observers.ensure(&key, &["kafka:9092".into()], &Security::default());
    while matches!(cluster.state.observation(), Observation::Pending) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Arc::new(Context::new(
        client,
        clusters,
        kube::runtime::reflector::store().0,
        Arc::default(),
        Arc::new(observers),
        Arc::new(Metrics::new()),
        Settings::for_tests(),
    ))
}

/// The status the reconcile wrote (the last status patch).
fn written_status(requests: &Requests) -> crate::api::KafkaTopicStatus {
    let requests = requests.lock().unwrap();
    let (_, _, body) = requests
        .iter()
        .rev()
        .find(|(method, path, _)| method == "PATCH" && path.ends_with("/status"))
        .expect("a status patch");
    serde_json::from_value(body["status"].clone()).unwrap()
}

fn ready_reason(status: &crate::api::KafkaTopicStatus) -> String {
    crate::api::condition::find(&status.conditions, "Ready")
        .map(|c| c.reason.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_new_topic_is_created_with_the_defaults_and_its_status_says_so() {
    let kafka = Arc::new(FakeKafka::with_brokers(3));
    let topic = fixtures::kafka_topic("orders");
    let (client, requests) = recording_apiserver(&topic);
    let ctx = context(client, kafka.clone()).await;
    reconcile(Arc::new(topic), ctx).await.unwrap();
    let created = kafka.topic("orders").expect("created in Kafka");
    assert_eq!(
        (created.partitions.len(), created.replication_factor()),
        (3, Some(3))
    );
    assert_eq!(created.overrides().get("min.insync.replicas"), Some(&"2"));
    let status = written_status(&requests);
    assert_eq!(ready_reason(&status), "InSync");
    let sources = status.value_sources.unwrap();
    assert_eq!(sources.partitions, crate::api::ValueSource::TopicDefaults);
}

#[tokio::test]
async fn adopting_with_a_bare_spec_writes_nothing_to_kafka() {
    let kafka = Arc::new(FakeKafka::with_brokers(3));
    let mut existing = fixtures::observed_on("orders", 1, &[1, 2]);
    existing.topic_id = Some("id".into());
    kafka.add_topic(existing);
    let topic = fixtures::kafka_topic("orders");
    let (client, requests) = recording_apiserver(&topic);
    let ctx = context(client, kafka.clone()).await;
    reconcile(Arc::new(topic), ctx).await.unwrap();
    assert_eq!(crate::kafka::write_count(kafka.as_ref()), 0);
    let status = written_status(&requests);
    assert_eq!(ready_reason(&status), "InSync");
    assert_eq!(
        (status.partitions, status.replication_factor),
        (Some(1), Some(2))
    );
    assert_eq!(
        status.value_sources.unwrap().replication_factor,
        crate::api::ValueSource::Kafka
    );
}

#[tokio::test]
async fn drift_made_behind_the_operators_back_is_reverted_and_reported() {
    let kafka = Arc::new(FakeKafka::with_brokers(3));
    let mut existing = fixtures::observed_on("orders", 1, &[1, 2, 3]);
    existing.topic_id = Some("id".into());
    kafka.add_topic(existing);
    kafka.set_override("orders", "retention.ms", Some("5"));
    let mut topic = fixtures::kafka_topic("orders");
    topic
        .spec
        .config
        .insert("retention.ms".into(), crate::api::ConfigValue::Int(1000));
    // The status describes this generation: what Kafka shows differently is drift.
    topic.status = Some(crate::api::KafkaTopicStatus {
        observed_generation: topic.metadata.generation,
        topic_id: Some("id".into()),
        ..Default::default()
    });
    let (client, requests) = recording_apiserver(&topic);
    let ctx = context(client, kafka.clone()).await;
    reconcile(Arc::new(topic), ctx).await.unwrap();
    assert_eq!(
        kafka
            .topic("orders")
            .unwrap()
            .overrides()
            .get("retention.ms"),
        Some(&"1000")
    );
    let status = written_status(&requests);
    let drifted = crate::api::condition::find(&status.conditions, "Drifted").unwrap();
    assert_eq!(
        (drifted.is_true(), drifted.reason.as_str()),
        (false, "Reverted")
    );
}

#[tokio::test]
async fn nothing_is_decided_while_the_cluster_cache_is_still_filling() {
    let kafka = Arc::new(FakeKafka::with_brokers(3));
    let mut existing = fixtures::observed_on("orders", 1, &[1, 2, 3]);
    existing.topic_id = Some("id".into());
    kafka.add_topic(existing);
    // A KafkaTopic being deleted, its Delete finalizer on: with no KafkaCluster in the cache
    // yet, "the cluster is gone" would release the finalizer and leave the topic behind.
    let mut topic = fixtures::kafka_topic("orders");
    topic.spec.deletion_policy = Some(crate::api::DeletionPolicy::Delete);
    topic.metadata.finalizers = Some(vec![DELETE_FINALIZER.to_string()]);
    topic.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::now(),
    ));
    let (client, requests) = recording_apiserver(&topic);
    let ctx = context_with(client, kafka.clone(), false).await;
    let next = reconcile(Arc::new(topic), ctx).await.unwrap();
    assert_eq!(next, Requeue::requeue(SETTLING));
    assert!(
        requests.lock().unwrap().is_empty(),
        "wrote to the apiserver: {:?}",
        requests.lock().unwrap()
    );
    assert!(kafka.topic("orders").is_some());
    assert_eq!(crate::kafka::write_count(kafka.as_ref()), 0);
}
