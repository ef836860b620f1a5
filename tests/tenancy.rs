//! Tenancy: a KafkaCluster's policy says which other namespaces may reference it and which
//! topic names each may use. Outside the policy: Ready=False/Forbidden and nothing in Kafka. A
//! platform namespace's KafkaCluster governs its Kafka: a team's own KafkaCluster for the same
//! Kafka does not escape its rules, shares its observer and cannot take over its topics.

mod common;

use std::time::Duration;

use common::kafka_cli;
use common::*;
use kafka_topic_operator::api::KafkaTopic;
use kafka_topic_operator::controller::{self, Runtime, Settings};
use kafka_topic_operator::kafka::fence::WriteFence;
use kube::Api;
use tokio_util::sync::CancellationToken;

fn topic_yaml(name: &str, label: &str, cluster_ns: &str, topic: &str) -> String {
    common::manifests::kafka_topic_yaml(
        name,
        &format!("  labels: {{kto-test: {label}}}\n"),
        &format!(
            "  clusterRef: {{name: kafka, namespace: {cluster_ns}}}\n  topicName: {topic}\n  replicationFactor: 3\n"
        ),
    )
}

async fn wait_reason(api: &Api<KafkaTopic>, name: &str, reason: &str) -> KafkaTopic {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(t) = api.get_opt(name).await.unwrap()
            && condition(&t, "Ready").is_some_and(|c| c.1 == reason)
        {
            return t;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name}: no Ready reason {reason}: {:?}",
            api.get_opt(name).await.unwrap().and_then(|t| t.status)
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Three namespaces (a platform's, team-a's, team-b's) and the environment's bootstrap servers
/// as a YAML list, for one test labelled `label`.
struct Tenants {
    label: String,
    platform: String,
    team_a: String,
    team_b: String,
    servers: String,
}

impl Tenants {
    fn set_up(label: &str) -> Tenants {
        install_crds();
        let tenants = Tenants {
            label: unique(label),
            platform: unique("kto-platform"),
            team_a: unique("kto-team-a"),
            team_b: unique("kto-team-b"),
            servers: bootstrap_list()
                .iter()
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(", "),
        };
        for ns in tenants.namespaces() {
            kubectl(&["create", "namespace", ns]);
        }
        tenants
    }

    fn namespaces(&self) -> [&String; 3] {
        [&self.platform, &self.team_a, &self.team_b]
    }

    /// The platform's KafkaCluster: team-a may use topic names starting with `team-a.`.
    fn platform_cluster_yaml(&self) -> String {
        cluster_yaml(
            &self.label,
            &self.servers,
            &format!(
                "  policy:\n    tenants:\n    - namespace: {}\n      topicPrefixes: [\"team-a.\"]\n",
                self.team_a
            ),
        )
    }

    fn tear_down(&self) {
        for ns in self.namespaces() {
            let _ = std::process::Command::new(env_var("KTO_KUBECTL"))
                .args(["delete", "namespace", ns, "--wait=false"])
                .output();
        }
    }
}

/// One operator for all namespaces, limited to the test's objects by a label selector.
struct Operator {
    client: kube::Client,
    runtime: Runtime,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Operator {
    async fn start(label: &str, platform_namespaces: Vec<String>) -> Operator {
        let client = kube::Client::try_default().await.unwrap();
        let settings = Settings {
            namespace: None,
            selector: Some(format!("kto-test={label}")),
            resync: RESYNC,
            kafka_timeout: Duration::from_secs(10),
            http_addr: None,
            write_fence: WriteFence::always_open(),
            platform_namespaces,
            max_concurrent_reconciles: controller::DEFAULT_MAX_CONCURRENT_RECONCILES,
            bulk_apply: Default::default(),
        };
        let shutdown = CancellationToken::new();
        let runtime = Runtime::new(&settings);
        let task = tokio::spawn(controller::run_with(
            client.clone(),
            settings,
            runtime.clone(),
            shutdown.clone(),
        ));
        Operator {
            client,
            runtime,
            shutdown,
            task,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(20), self.task).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_outside_the_cluster_policy_are_forbidden_and_touch_nothing() {
    let tenants = Tenants::set_up("tenancy");
    let (label, platform, team_a, team_b) = (
        &tenants.label,
        &tenants.platform,
        &tenants.team_a,
        &tenants.team_b,
    );
    kubectl_apply(platform, &tenants.platform_cluster_yaml()).unwrap();
    let operator = Operator::start(label, vec![]).await;
    let (client, runtime) = (operator.client.clone(), &operator.runtime);

    let allowed = format!("team-a.{}", unique("orders"));
    let wrong_prefix = unique("orders");
    let other_team = format!("team-a.{}", unique("stolen"));
    kubectl_apply(team_a, &topic_yaml("allowed", label, platform, &allowed)).unwrap();
    kubectl_apply(
        team_a,
        &topic_yaml("wrong-prefix", label, platform, &wrong_prefix),
    )
    .unwrap();
    kubectl_apply(
        team_b,
        &topic_yaml("other-team", label, platform, &other_team),
    )
    .unwrap();

    let a: Api<KafkaTopic> = Api::namespaced(client.clone(), team_a);
    let b: Api<KafkaTopic> = Api::namespaced(client.clone(), team_b);
    wait_reason(&a, "allowed", "InSync").await;
    let t = wait_reason(&a, "wrong-prefix", "Forbidden").await;
    assert!(
        condition(&t, "Ready").unwrap().2.contains("[\"team-a.\"]"),
        "{:?}",
        condition(&t, "Ready")
    );
    let t = wait_reason(&b, "other-team", "Forbidden").await;
    assert!(
        condition(&t, "Ready").unwrap().2.contains("no rule"),
        "{:?}",
        condition(&t, "Ready")
    );

    wait_resyncs(&runtime.observers, 2).await;
    assert!(kafka_cli::exists(&allowed));
    assert!(
        !kafka_cli::exists(&wrong_prefix),
        "a forbidden topic was created"
    );
    assert!(
        !kafka_cli::exists(&other_team),
        "a forbidden topic was created"
    );

    operator.stop().await;
    tenants.tear_down();
}

fn cluster_yaml(label: &str, servers: &str, tenants: &str) -> String {
    format!(
        "apiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: kafka\n  labels: {{kto-test: {label}}}\n\
spec:\n  bootstrapServers: [{servers}]\n{tenants}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teams_own_kafkacluster_for_the_platforms_kafka_does_not_escape_its_rules() {
    let tenants = Tenants::set_up("governed");
    let (label, platform, team_a, team_b) = (
        &tenants.label,
        &tenants.platform,
        &tenants.team_a,
        &tenants.team_b,
    );
    // The platform's KafkaCluster allows team-a the prefix team-a. and team-b nothing; each team
    // declares a KafkaCluster of its own for the same Kafka (the same bootstrap servers, listed
    // in another order by team-b), which on its own would let its namespace use any name.
    kubectl_apply(platform, &tenants.platform_cluster_yaml()).unwrap();
    kubectl_apply(team_a, &cluster_yaml(label, &tenants.servers, "")).unwrap();
    let mut reversed: Vec<&str> = tenants.servers.split(", ").collect();
    reversed.reverse();
    kubectl_apply(team_b, &cluster_yaml(label, &reversed.join(", "), "")).unwrap();
    let operator = Operator::start(label, vec![platform.clone()]).await;
    let (client, runtime) = (operator.client.clone(), &operator.runtime);

    let own = format!("team-a.{}", unique("own"));
    let escaped = unique("escaped");
    let shared = format!("team-a.{}", unique("shared"));
    // team-a, through the platform's KafkaCluster first (older), then through its own.
    kubectl_apply(team_a, &topic_yaml("first", label, platform, &shared)).unwrap();
    wait_reason(&Api::namespaced(client.clone(), team_a), "first", "InSync").await;
    kubectl_apply(team_a, &topic_yaml("own", label, team_a, &own)).unwrap();
    kubectl_apply(team_a, &topic_yaml("second", label, team_a, &shared)).unwrap();
    kubectl_apply(team_b, &topic_yaml("escaped", label, team_b, &escaped)).unwrap();

    let a: Api<KafkaTopic> = Api::namespaced(client.clone(), team_a);
    let b: Api<KafkaTopic> = Api::namespaced(client.clone(), team_b);
    wait_reason(&a, "own", "InSync").await;
    let t = wait_reason(&b, "escaped", "Forbidden").await;
    let message = condition(&t, "Ready").unwrap().2;
    assert!(
        message.contains("governed") && message.contains("no rule"),
        "{message}"
    );
    // One Kafka, one owner: the declaration through team-a's own KafkaCluster is the newer.
    let t = wait_reason(&a, "second", "Conflict").await;
    assert!(
        condition(&t, "Ready").unwrap().2.contains("first"),
        "{:?}",
        condition(&t, "Ready")
    );

    // One observer for the KafkaClusters with the same connection (bootstrap servers in any
    // order, no credentials), one write lock for the Kafka.
    let handles: Vec<_> = [&platform, &team_a, &team_b]
        .iter()
        .map(|ns| {
            runtime
                .observers
                .get(&(ns.to_string(), "kafka".into()))
                .unwrap()
        })
        .collect();
    assert!(std::sync::Arc::ptr_eq(&handles[0], &handles[1]));
    assert!(std::sync::Arc::ptr_eq(&handles[0], &handles[2]));
    assert_eq!(
        runtime
            .observers
            .same_kafka(&(team_b.clone(), "kafka".into()))
            .len(),
        3
    );

    wait_resyncs(&runtime.observers, 2).await;
    assert!(kafka_cli::exists(&own));
    assert!(kafka_cli::exists(&shared));
    assert!(
        !kafka_cli::exists(&escaped),
        "a topic the platform's rules forbid was created"
    );

    operator.stop().await;
    tenants.tear_down();
}
