//! One broker out of the operator's reach while Kafka itself is healthy: slowed past the request
//! timeout, then blackholed (bytes stop, connections stay open). Only what that broker alone
//! answers (its own configs) degrades: the KafkaCluster says `BrokerUnreadable` and names the
//! broker in its status, while every topic stays Ready and the operator keeps creating topics
//! and changing configs through the other brokers. Healed, the status clears.
//!
//! The operator reaches Kafka through the environment's VIA_PROXY listener, which advertises one
//! address per broker where this test runs a proxy (tests/env/common.sh), so the fault is on the
//! operator's path only: Kafka's replication and the CLI checks go around it.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::proxy::StallingProxy;
use common::*;
use kafka_topic_operator::api::{KafkaCluster, KafkaTopic};
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use serde_json::json;

/// The broker the test cuts off (node 3 of the environment).
const BROKER: i32 = 3;
/// Topics that must stay Ready throughout.
const TOPICS: usize = 6;
/// Longer than the operator's Kafka request timeout in tests (10 s): a slow broker, not a late one.
const PAST_TIMEOUT: Duration = Duration::from_secs(12);

/// A proxy per broker on the address its VIA_PROXY listener advertises; index i is node i+1.
async fn broker_proxies() -> Vec<StallingProxy> {
    let targets = env_var("KTO_KAFKA_PROXIED_BOOTSTRAP");
    let listens = env_var("KTO_KAFKA_VIA_PROXY_BOOTSTRAP");
    let mut proxies = vec![];
    for (listen, target) in listens.split(',').zip(targets.split(',')) {
        proxies.push(StallingProxy::start_on(listen, target.to_string()).await);
    }
    proxies
}

fn broker_error(c: &KafkaCluster, id: i32) -> Option<String> {
    c.status
        .as_ref()?
        .brokers
        .iter()
        .find(|b| b.id == id)?
        .unreadable
        .clone()
}

/// Waits until the KafkaCluster names exactly `broker` as unreadable (or, with None, none).
async fn wait_unreadable(env: &TestEnv, broker: Option<i32>) -> KafkaCluster {
    let what = match broker {
        Some(b) => format!("BrokerUnreadable naming broker {b} alone"),
        None => "Connected with every broker readable".to_string(),
    };
    env.wait_cluster(&what, |c| {
        let reason = cluster_condition(c, "Ready").map(|r| (r.0, r.1));
        let named: Vec<i32> = c
            .status
            .as_ref()
            .map(|s| {
                s.brokers
                    .iter()
                    .filter(|b| b.unreadable.is_some())
                    .map(|b| b.id)
                    .collect()
            })
            .unwrap_or_default();
        match broker {
            Some(b) => {
                reason == Some(("True".into(), "BrokerUnreadable".into())) && named == vec![b]
            }
            None => reason == Some(("True".into(), "Connected".into())) && named.is_empty(),
        }
    })
    .await
}

/// Records every moment one of `names` is seen not Ready, until stopped.
struct ReadyWatch {
    stop: Arc<AtomicBool>,
    lapses: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ReadyWatch {
    fn start(topics: Api<KafkaTopic>, names: Vec<String>) -> ReadyWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let lapses = Arc::new(Mutex::new(vec![]));
        let (flag, seen) = (stop.clone(), lapses.clone());
        let task = tokio::spawn(async move {
            while !flag.load(Ordering::SeqCst) {
                if let Ok(list) = topics.list(&ListParams::default()).await {
                    for t in list.items.iter().filter(|t| names.contains(&t.name_any())) {
                        if let Some((status, reason, message)) = condition(t, "Ready")
                            && status != "True"
                        {
                            seen.lock().unwrap().push(format!(
                                "{}: Ready={status} {reason}: {message}",
                                t.name_any()
                            ));
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
        ReadyWatch { stop, lapses, task }
    }

    async fn lapses(self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap();
        self.lapses.lock().unwrap().clone()
    }
}

/// A new topic declared while the broker is out of reach is created as declared.
async fn create_while_cut_off(env: &TestEnv, object: &str) {
    let name = unique(object);
    env.apply_topic(
        object,
        json!({"topicName": name, "partitions": 3, "replicationFactor": 3, "minInSyncReplicas": 2}),
    )
    .await;
    env.wait_ready(object).await;
    let described = kafka_cli::describe(&name).expect("created in Kafka");
    assert_eq!(
        (described.partition_count, described.replication_factor),
        (3, 3)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_broker_slow_or_blackholed_degrades_only_what_it_answers() {
    log_if_asked();
    let proxies = broker_proxies().await;
    let cut_off = &proxies[(BROKER - 1) as usize];
    let env = TestEnv::start_with(
        "unreach",
        ClusterOptions {
            bootstrap: env_var("KTO_KAFKA_VIA_PROXY_BOOTSTRAP")
                .split(',')
                .map(String::from)
                .collect(),
            ..Default::default()
        },
    )
    .await;

    // Replicated on every broker, so broker 3 leads some of their partitions.
    let mut objects = BTreeMap::new();
    for i in 0..TOPICS {
        let object = format!("steady-{i}");
        let name = unique(&object);
        env.apply_topic(
            &object,
            json!({"topicName": name, "partitions": 3, "replicationFactor": 3, "minInSyncReplicas": 2}),
        )
        .await;
        objects.insert(object, name);
    }
    for object in objects.keys() {
        env.wait_ready(object).await;
    }
    let c = wait_unreadable(&env, None).await;
    assert_eq!(c.status.unwrap().broker_count, Some(3));
    let leaders: Vec<i32> = objects
        .values()
        .flat_map(|n| kafka_cli::describe(n).unwrap().partitions)
        .map(|p| p.leader)
        .collect();
    assert!(
        leaders.contains(&BROKER),
        "broker {BROKER} leads none of {leaders:?}: the test would not cover its topics"
    );

    // The first topic gets a config change during the blackhole; the others must never leave
    // Ready at all.
    let watched: Vec<String> = objects.keys().skip(1).cloned().collect();
    let watch = ReadyWatch::start(env.topics(), watched);

    // Slow: every answer of broker 3 arrives after the request timeout.
    cut_off.set_delay(PAST_TIMEOUT);
    let c = wait_unreadable(&env, Some(BROKER)).await;
    let why = broker_error(&c, BROKER).unwrap();
    assert!(
        why.contains("slow") && why.contains("no answer within"),
        "broker {BROKER}'s status should say it does not answer in time: {why}"
    );
    let ready = cluster_condition(&c, "Ready").unwrap();
    assert!(
        ready.2.contains(&format!("broker {BROKER} unreadable")),
        "the Ready message names the broker: {}",
        ready.2
    );
    let table = kubectl(&[
        "get",
        "kafkaclusters.kafka.topic-operator.dev",
        "-n",
        &env.ns,
    ]);
    assert!(
        table.contains("BrokerUnreadable"),
        "kubectl get ktocluster shows it at a glance:\n{table}"
    );
    assert_eq!(
        env.metric(
            "kto_cluster_unreadable_brokers",
            &[("namespace", env.ns.as_str())]
        ),
        Some(1.0)
    );
    create_while_cut_off(&env, "while-slow").await;
    // Healed: connections holding late bytes are dropped, new ones flow at full speed.
    cut_off.set_delay(Duration::ZERO);
    cut_off.sever();
    wait_unreadable(&env, None).await;

    // Blackholed: connections stay open and silent.
    cut_off.stall();
    let c = wait_unreadable(&env, Some(BROKER)).await;
    assert!(
        broker_error(&c, BROKER)
            .unwrap()
            .contains("no answer within")
    );
    create_while_cut_off(&env, "while-dark").await;
    let (first_object, first_name) = objects.iter().next().unwrap();
    env.apply_topic(
        first_object,
        json!({"topicName": first_name, "partitions": 3, "replicationFactor": 3, "minInSyncReplicas": 2, "config": {"retention.ms": 3600000}}),
    )
    .await;
    env.wait_for("the config change to reach Kafka", || {
        kafka_cli::overrides(first_name).get("retention.ms") == Some(&"3600000".to_string())
    })
    .await;
    env.wait_ready(first_object).await;
    cut_off.sever();
    wait_unreadable(&env, None).await;
    assert_eq!(
        env.metric(
            "kto_cluster_unreadable_brokers",
            &[("namespace", env.ns.as_str())]
        ),
        Some(0.0)
    );

    let lapses = watch.lapses().await;
    assert!(
        lapses.is_empty(),
        "topics left Ready while broker {BROKER} was out of the operator's reach: {lapses:#?}"
    );
}
