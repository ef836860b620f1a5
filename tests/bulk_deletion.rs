//! A bulk deletion is held (docs/deletion.md): with the KafkaCluster's default
//! `policy.bulkDeletion` (5 topics within 10 minutes), two KafkaTopics deleted go with their
//! topics; eighteen more deleted at once, as a namespace deletion or a prune deletes them (the
//! namespace controller deletes a namespace's objects one by one, as `kubectl delete -l` does
//! here), are all held: every topic stays in Kafka (its own CLI says so) through several looks
//! at Kafka, each KafkaTopic says `DeletionHeld`, the KafkaCluster `DeletionsHeld=True` with the
//! count, the metric counts them. Once the KafkaCluster is annotated with a time to allow
//! deletions until, all eighteen go, topics included.

mod common;

use std::collections::BTreeSet;

use common::*;
use kafka_topic_operator::controller::deletion_guard::ALLOW_BULK_DELETION_ANNOTATION;
use kube::api::ListParams;

const COUNT: usize = 20;

fn in_kafka(prefix: &str) -> BTreeSet<String> {
    kafka_cli::list()
        .into_iter()
        .filter(|t| t.starts_with(&format!("{prefix}-")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_deletion_is_held_until_confirmed_on_the_kafkacluster() {
    let env = TestEnv::start("bulk-delete").await;
    let prefix = unique("bulkdel");
    let yaml: String = (0..COUNT)
        .map(|i| format!("---\napiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaTopic\nmetadata:\n  name: d{i}\n  labels:\n    batch: bulk\nspec:\n  clusterRef:\n    name: kafka\n  topicName: {prefix}-{i}\n  partitions: 1\n  deletionPolicy: Delete\n"))
        .collect();
    kubectl_apply(&env.ns, &yaml).expect("kubectl apply of the batch");
    for i in 0..COUNT {
        env.wait_ready(&format!("d{i}")).await;
    }
    assert_eq!(in_kafka(&prefix).len(), COUNT);

    // Within the limit: deleted, topics included.
    for i in 0..2 {
        env.delete_topic_resource(&format!("d{i}")).await;
    }
    for i in 0..2 {
        env.wait_topic_gone(&format!("d{i}")).await;
    }
    assert_eq!(in_kafka(&prefix).len(), COUNT - 2);

    // Eighteen more at once: more than 5 within 10 minutes. All held.
    kubectl(&[
        "delete",
        "kafkatopics.kafka.topic-operator.dev",
        "-n",
        &env.ns,
        "-l",
        "batch=bulk",
        "--wait=false",
    ]);
    for i in 2..COUNT {
        let held = env.wait_reason(&format!("d{i}"), "DeletionHeld").await;
        assert!(held.metadata.deletion_timestamp.is_some());
    }
    let cluster = env
        .wait_cluster("DeletionsHeld=True with the count", |c| {
            cluster_condition(c, "DeletionsHeld").is_some_and(|(status, reason, message)| {
                status == "True"
                    && reason == "BulkDeletion"
                    && message.starts_with(&format!("{} KafkaTopic deletions held", COUNT - 2))
            })
        })
        .await;
    let (_, _, message) = cluster_condition(&cluster, "DeletionsHeld").unwrap();
    assert!(
        message.contains(ALLOW_BULK_DELETION_ANNOTATION),
        "{message}"
    );
    env.wait_for("kto_cluster_deletions_held 18", || {
        env.metric("kto_cluster_deletions_held", &[("cluster", "kafka")])
            == Some((COUNT - 2) as f64)
    })
    .await;
    let said = env.wait_event("d10", "DeletionHeld").await;
    assert!(said.contains("bulk deletion held"), "{said}");
    // Held, not slow: several looks at Kafka later, nothing deleted.
    env.wait_resyncs(3).await;
    assert_eq!(
        in_kafka(&prefix).len(),
        COUNT - 2,
        "a held topic was deleted"
    );
    let left = env
        .topics()
        .list(&ListParams::default().labels("batch=bulk"))
        .await
        .unwrap();
    assert_eq!(left.items.len(), COUNT - 2);

    // Confirmed on the KafkaCluster: they all go, topics included.
    let until = (chrono::Utc::now() + chrono::Duration::minutes(10))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    kubectl(&[
        "annotate",
        "kafkaclusters.kafka.topic-operator.dev",
        "kafka",
        "-n",
        &env.ns,
        &format!("{ALLOW_BULK_DELETION_ANNOTATION}={until}"),
    ]);
    for i in 2..COUNT {
        env.wait_topic_gone(&format!("d{i}")).await;
    }
    assert!(
        in_kafka(&prefix).is_empty(),
        "left: {:?}",
        in_kafka(&prefix)
    );
    env.wait_cluster("DeletionsHeld=False", |c| {
        cluster_condition(c, "DeletionsHeld").is_some_and(|(status, ..)| status == "False")
    })
    .await;
    assert_eq!(
        env.metric("kto_cluster_deletions_held", &[("cluster", "kafka")]),
        Some(0.0)
    );
}
