//! A namespace deleted with twenty KafkaTopics of `deletionPolicy: Delete` in it, by the real
//! namespace controller (kube-controller-manager's, run for this test: the main environment
//! runs none). The KafkaCluster lives in another namespace and lets the tenant's in
//! (`policy.tenants`). With its default `policy.bulkDeletion`, all twenty deletions are held:
//! every topic stays in Kafka (its own CLI says so) while the namespace waits on the finalizers,
//! the KafkaCluster says `DeletionsHeld=True`, and a producer keeps writing to one topic
//! (acks=all, nothing lost). Confirmed on the KafkaCluster, nineteen go; the twentieth, in use
//! (written within the hour), stays held until its KafkaTopic names it; then the namespace is
//! gone and so are its topics. The apiserver accepts no events in a namespace being deleted,
//! so the deletion events are on the KafkaCluster, naming the KafkaTopic.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::witness::{DeleteTopicOnDrop, Witness};
use common::*;
use k8s_openapi::api::core::v1::Namespace;
use kafka_topic_operator::api::KafkaTopic;
use kafka_topic_operator::controller::deletion_guard::ALLOW_BULK_DELETION_ANNOTATION;
use kafka_topic_operator::controller::topic::in_use::CONFIRM_DELETION_ANNOTATION;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;

const COUNT: usize = 20;
/// The namespace controller backs off up to a minute between looks at a namespace whose
/// content is still there; the namespace goes within one more look after its last KafkaTopic.
const NAMESPACE_GONE: Duration = Duration::from_secs(180);

/// kube-controller-manager running only its namespace controller, stopped when dropped.
struct NamespaceController(Child);

impl NamespaceController {
    fn start(log: &std::path::Path) -> NamespaceController {
        let binary = env_var("KTO_KUBE_CONTROLLER_MANAGER");
        assert!(
            std::path::Path::new(&binary).exists(),
            "{binary} is missing: tests/env/node-install.sh builds it (make test runs it)"
        );
        let child = Command::new(binary)
            .args([
                &format!("--kubeconfig={}", env_var("KUBECONFIG")),
                "--controllers=namespace-controller",
                "--leader-elect=false",
                "--secure-port=0",
                // Earlier tests left their namespaces being deleted: clear them quickly.
                "--kube-api-qps=500",
                "--kube-api-burst=1000",
                "--concurrent-namespace-syncs=20",
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("log file"))
            .spawn()
            .expect("start kube-controller-manager");
        NamespaceController(child)
    }
}

impl Drop for NamespaceController {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ready_reason(t: &KafkaTopic) -> Option<String> {
    condition(t, "Ready").map(|c| c.1)
}

/// Polls `what` every 500 ms until it holds, for at most `within`; a failure shows what the
/// last look saw.
async fn eventually<T>(
    what: &str,
    within: Duration,
    mut look: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match look().await {
            Ok(found) => return found,
            Err(seen) => assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; the last look saw: {seen}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Each KafkaTopic's name, Ready reason and message, for a failure's message.
fn describe(topics: &[KafkaTopic]) -> String {
    topics
        .iter()
        .map(|t| {
            format!(
                "{}: {:?}",
                t.metadata.name.as_deref().unwrap_or("?"),
                condition(t, "Ready")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_deleted_with_twenty_delete_topics_loses_no_topic_until_confirmed() {
    log_if_asked();
    let prefix = unique("nsdel");
    let topic = |i: usize| format!("{prefix}-{i}");
    let _drop: Vec<DeleteTopicOnDrop> = (0..COUNT).map(|i| DeleteTopicOnDrop(topic(i))).collect();
    let log = std::env::temp_dir().join(format!("{prefix}-kube-controller-manager.log"));
    // Started first: it clears the namespaces earlier tests left behind while this one sets up.
    let _controller = NamespaceController::start(&log);

    let env = TestEnv::without_operator("nsdel", ClusterOptions::default()).await;
    let tenant = unique("kto-nsdel-tenant");
    let label = format!("kto-test={prefix}");
    let namespaces: Api<Namespace> = Api::all(env.client.clone());
    create_namespace(&env.client, &tenant).await;
    env.clusters()
        .patch(
            "kafka",
            &PatchParams::default(),
            &Patch::Merge(json!({
                "metadata": {"labels": {"kto-test": prefix}},
                "spec": {"policy": {"tenants": [{"namespace": tenant}]}}
            })),
        )
        .await
        .expect("label the KafkaCluster and let the tenant in");
    let selector = label.clone();
    let env = env.start_operator_with(move |s| {
        s.namespace = None;
        s.selector = Some(selector);
    });

    let yaml: String = (0..COUNT)
        .map(|i| format!("---\napiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaTopic\nmetadata:\n  name: t{i}\n  labels:\n    kto-test: {prefix}\nspec:\n  clusterRef:\n    name: kafka\n    namespace: {}\n  topicName: {}\n  partitions: 1\n  deletionPolicy: Delete\n", env.ns, topic(i)))
        .collect();
    kubectl_apply(&tenant, &yaml).expect("kubectl apply of the tenant's topics");
    let topics: Api<KafkaTopic> = Api::namespaced(env.client.clone(), &tenant);
    let listed = ListParams::default().labels(&label);
    eventually("all twenty Ready", WAIT, async || {
        let all = topics.list(&listed).await.map_err(|e| e.to_string())?;
        let ready = all.items.len() == COUNT
            && all
                .items
                .iter()
                .all(|t| ready_reason(t).as_deref() == Some("InSync"));
        ready.then_some(()).ok_or_else(|| describe(&all.items))
    })
    .await;
    let in_kafka = |all: bool| {
        let there = kafka_cli::list();
        (0..COUNT).filter(|i| there.contains(&topic(*i))).count() == if all { COUNT } else { 0 }
    };
    assert!(in_kafka(true), "every topic created");

    // Topic 0 is in use: a producer writes to it throughout.
    let witness = Witness::start("namespace-deletion", &topic(0));
    witness
        .wait_acked_more(250, WAIT, "records before the deletion")
        .await;

    kubectl(&["delete", "namespace", &tenant, "--wait=false"]);
    eventually("all twenty DeletionHeld", WAIT, async || {
        let all = topics.list(&listed).await.map_err(|e| e.to_string())?;
        let held = all
            .items
            .iter()
            .filter(|t| t.metadata.deletion_timestamp.is_some())
            .filter(|t| ready_reason(t).as_deref() == Some("DeletionHeld"))
            .count();
        (held == COUNT)
            .then_some(())
            .ok_or_else(|| describe(&all.items))
    })
    .await;
    env.wait_cluster("DeletionsHeld=True for 20", |c| {
        cluster_condition(c, "DeletionsHeld")
            .is_some_and(|d| d.0 == "True" && d.2.starts_with("20 KafkaTopic deletions held"))
    })
    .await;
    // The namespace controller got to the KafkaTopics and waits on their finalizers; nothing is
    // deleted meanwhile, over several looks.
    eventually(
        "the namespace to wait on the finalizers",
        WAIT,
        async || {
            let ns = namespaces.get(&tenant).await.map_err(|e| e.to_string())?;
            let conditions = ns.status.and_then(|s| s.conditions).unwrap_or_default();
            conditions
                .iter()
                .any(|c| {
                    c.type_ == "NamespaceFinalizersRemaining"
                        && c.status == "True"
                        && c.message
                            .as_deref()
                            .unwrap_or("")
                            .contains("kafka.topic-operator.dev/delete-topic")
                })
                .then_some(())
                .ok_or_else(|| format!("{conditions:?}"))
        },
    )
    .await;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(in_kafka(true), "a topic went while the deletion was held");
    }
    witness
        .wait_acked_more(250, WAIT, "records while held")
        .await;

    // Confirmed on the KafkaCluster: nineteen go; the one in use is held on its own.
    let until = (chrono::Utc::now() + chrono::Duration::minutes(30)).to_rfc3339();
    kubectl(&[
        "annotate",
        "ktocluster",
        "kafka",
        "-n",
        &env.ns,
        &format!("{ALLOW_BULK_DELETION_ANNOTATION}={until}"),
    ]);
    eventually("nineteen topics gone from Kafka", WAIT, async || {
        let there = kafka_cli::list();
        let left: Vec<String> = (1..COUNT)
            .map(topic)
            .filter(|t| there.contains(t))
            .collect();
        left.is_empty()
            .then_some(())
            .ok_or_else(|| format!("{left:?}"))
    })
    .await;
    let held = eventually("t0 held for its use", WAIT, async || {
        let t = topics.get("t0").await.map_err(|e| e.to_string())?;
        if ready_reason(&t).as_deref() == Some("TopicInUse") {
            Ok(t)
        } else {
            Err(format!("{:?}", t.status))
        }
    })
    .await;
    let message = condition(&held, "Ready").unwrap().2;
    assert!(
        message.contains("its newest record was written at"),
        "{message}"
    );
    assert!(kafka_cli::exists(&topic(0)), "the topic in use went");
    assert!(
        namespaces.get_opt(&tenant).await.unwrap().is_some(),
        "the namespace waits for its last KafkaTopic"
    );
    witness.finish(None).await;

    kubectl(&[
        "annotate",
        "kafkatopics.kafka.topic-operator.dev",
        "t0",
        "-n",
        &tenant,
        &format!("{CONFIRM_DELETION_ANNOTATION}={}", topic(0)),
    ]);
    eventually(
        "the namespace gone",
        NAMESPACE_GONE,
        async || match namespaces.get_opt(&tenant).await {
            Ok(None) => Ok(()),
            Ok(Some(ns)) => Err(format!("{:?}", ns.status)),
            Err(e) => Err(e.to_string()),
        },
    )
    .await;
    assert!(in_kafka(false), "every topic of the namespace deleted");
}
