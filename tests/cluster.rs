//! KafkaCluster: what it reports about the real cluster, and how it and its topics behave when
//! Kafka cannot be reached and comes back.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_status_reports_id_brokers_and_racks() {
    let env = TestEnv::start("cluster").await;
    let c = env
        .wait_cluster("Ready", |c| {
            cluster_condition(c, "Ready").is_some_and(|r| r.0 == "True")
        })
        .await;
    let s = c.status.unwrap();

    // Independent witnesses: Kafka's own tools.
    let cli = env_var("KTO_KAFKA_CLI");
    let bs = bootstrap();
    let cluster_id = run(&cli, &["cluster", "cluster-id", "--bootstrap-server", &bs]);
    assert!(
        cluster_id.contains(s.cluster_id.as_deref().unwrap()),
        "CLI says {cluster_id}, status {:?}",
        s.cluster_id
    );
    let cli_brokers: Vec<(i32, String)> = common::kafka_cli::racks().into_iter().collect();
    let ours: Vec<(i32, String)> = s
        .brokers
        .iter()
        .map(|b| (b.id, b.rack.clone().unwrap_or_default()))
        .collect();
    assert_eq!(ours, cli_brokers);
    assert_eq!(s.broker_count, Some(3));

    // Managed and unmanaged topics: one declared, one not.
    let declared = unique("declared");
    let undeclared = unique("undeclared");
    common::kafka_cli::create(
        &undeclared,
        &["--partitions", "1", "--replication-factor", "1"],
    );
    env.apply_topic("declared", json!({"topicName": declared}))
        .await;
    env.wait_ready("declared").await;
    let c = env
        .wait_cluster("unmanaged topic listed", |c| {
            c.status.as_ref().is_some_and(|s| {
                s.managed_topics == Some(1)
                    && s.unmanaged_topic_names.len() <= 20
                    && s.unmanaged_topics.unwrap_or(0) >= 1
            })
        })
        .await;
    let s = c.status.unwrap();
    assert!(
        !s.unmanaged_topic_names.iter().any(|n| n.starts_with("__")),
        "internal topics listed: {:?}",
        s.unmanaged_topic_names
    );
    assert!(!s.unmanaged_topic_names.contains(&declared));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_cluster_is_reported_and_both_recover_when_kafka_comes_back() {
    // A port where nothing listens yet; later a proxy to the real Kafka opens on it.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    let env = TestEnv::start_with(
        "unreachable",
        ClusterOptions {
            bootstrap: vec![addr.clone()],
            ..Default::default()
        },
    )
    .await;
    let name = unique("patient");
    env.apply_topic("patient", json!({"topicName": name})).await;

    let c = env
        .wait_cluster("ClusterUnreachable", |c| {
            cluster_condition(c, "Ready").is_some_and(|r| r.1 == "ClusterUnreachable")
        })
        .await;
    let message = cluster_condition(&c, "Ready").unwrap().2;
    assert!(
        message.contains(&addr) && message.contains("next attempt in"),
        "{message}"
    );
    let t = env.wait_reason("patient", "ClusterUnreachable").await;
    assert_eq!(condition(&t, "Ready").unwrap().0, "False");
    // Backoff: attempts are spaced out, not a tight loop.
    let before = env
        .observers
        .get(&(env.ns.clone(), "kafka".into()))
        .unwrap()
        .state
        .admin
        .request_counts()
        .get("Metadata")
        .copied()
        .unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after = env
        .observers
        .get(&(env.ns.clone(), "kafka".into()))
        .unwrap()
        .state
        .admin
        .request_counts()
        .get("Metadata")
        .copied()
        .unwrap_or(0);
    assert!(
        after - before <= 4,
        "{} attempts in 4s: no backoff",
        after - before
    );
    assert!(!common::kafka_cli::exists(&name));

    // Kafka "comes back" on that address.
    let _forwarder =
        common::proxy::StallingProxy::start_on(&addr, bootstrap_list()[0].clone()).await;
    env.wait_cluster("Ready again", |c| {
        cluster_condition(c, "Ready").is_some_and(|r| r.0 == "True")
    })
    .await;
    env.wait_ready("patient").await;
    assert!(common::kafka_cli::exists(&name));
}
