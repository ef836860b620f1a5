//! The Kafka ACLs of docs/deployment.md, proven against the environment's authorizer
//! (StandardAuthorizer, no ACL means denied): a SCRAM user holding exactly those ACLs, on a topic
//! prefix of its own, does the operator's whole job over SASL_SSL (create, grow, configure,
//! revert drift, move replicas, adopt, delete), each result checked with Kafka's own CLI. A
//! topic it may not Alter, and one it may not Describe, get their own `NotAuthorized` and
//! change nothing, while the others stay Ready. Without `Describe` on groups (which the table
//! asks for with deletionPolicy Delete) a deletion is refused: whether the topic is in use
//! cannot be read.

mod common;

use std::time::Duration;

use common::clients::{consume_and_commit, produce_stamped};
use common::kafka_user::ScramUser;
use common::witness::DeleteTopicOnDrop;
use common::*;
use serde_json::json;

fn ready(t: &kafka_topic_operator::api::KafkaTopic) -> bool {
    condition(t, "Ready").is_some_and(|c| c.0 == "True")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_with_exactly_the_documented_acls_does_the_whole_job() {
    // Everything this user may touch starts with `prefix`; the names are unique per run.
    let prefix = format!("{}.", unique("acl"));
    let topic = |suffix: &str| format!("{prefix}{suffix}");
    let (created, adopted, deleted) = (topic("created"), topic("adopted"), topic("deleted"));
    let (no_alter, hidden) = (topic("no-alter"), topic("hidden"));
    let _drop_topics: Vec<DeleteTopicOnDrop> = [&created, &adopted, &deleted, &no_alter, &hidden]
        .into_iter()
        .map(|t| DeleteTopicOnDrop(t.clone()))
        .collect();

    // The user: SCRAM-SHA-512 with a random password, created by the super user.
    let (mut user, password) = ScramUser::create("kto-acl");

    // Exactly the ACLs of docs/deployment.md's table, nothing more.
    user.add_acls(
        "--allow-principal",
        &["Describe", "DescribeConfigs", "AlterConfigs", "Alter"],
        &["--cluster"],
    );
    user.add_acls(
        "--allow-principal",
        &[
            "Describe",
            "DescribeConfigs",
            "Create",
            "Alter",
            "AlterConfigs",
            "Delete",
        ],
        &["--topic", &prefix, "--resource-pattern-type", "prefixed"],
    );
    // Two exceptions inside the prefix (DENY wins over ALLOW): one topic the user may not
    // Alter (so not grow), one it may not even Describe.
    user.add_acls("--deny-principal", &["Alter"], &["--topic", &no_alter]);
    user.add_acls("--deny-principal", &["Describe"], &["--topic", &hidden]);

    // Topics that exist before the operator: one to adopt, one the user cannot see.
    kafka_cli::create(
        &adopted,
        &[
            "--partitions",
            "2",
            "--replication-factor",
            "3",
            "--config",
            "min.insync.replicas=2",
        ],
    );
    kafka_cli::create(&hidden, &["--partitions", "1", "--replication-factor", "2"]);
    let adopted_before = kafka_cli::describe(&adopted).unwrap();

    // The operator as that user, over SASL_SSL with the environment's CA.
    let sasl_bootstrap: Vec<String> = env_var("KTO_KAFKA_SASL_BOOTSTRAP")
        .split(',')
        .map(String::from)
        .collect();
    let env = TestEnv::without_operator(
        "acls",
        ClusterOptions {
            bootstrap: sasl_bootstrap,
            security: json!({
                "protocol": "SASL_SSL",
                "tls": {"caSecretRef": {"name": "kafka-ca"}},
                "sasl": {"mechanism": "SCRAM-SHA-512", "credentialsSecretRef": {"name": "kafka-user"}}
            }),
            reassignment: json!({"throttleBytesPerSecond": MOVE_THROTTLE}),
            ..Default::default()
        },
    )
    .await;
    credentials_secret(
        &env.ns,
        "kafka-user",
        &[("username", &user.name), ("password", &password)],
    );
    let ca = std::fs::read_to_string(env_var("KTO_KAFKA_CA")).unwrap();
    credentials_secret(&env.ns, "kafka-ca", &[("ca.crt", &ca)]);
    let env = env.start_operator();
    // Metadata, ListPartitionReassignments and every broker's DescribeConfigs: the cluster ACLs.
    env.wait_cluster("Ready as the restricted user", |c| {
        cluster_condition(c, "Ready").is_some_and(|r| r.0 == "True")
    })
    .await;

    // Create, adopt, and the two topics it may not fully touch.
    let spec = |name: &str, partitions: i32, rf: i32, config: serde_json::Value| {
        json!({"topicName": name, "partitions": partitions, "replicationFactor": rf,
               "minInSyncReplicas": 1, "config": config})
    };
    env.apply_topic(
        "created",
        spec(&created, 1, 2, json!({"retention.ms": 3600000})),
    )
    .await;
    env.apply_topic(
        "adopted",
        json!({"topicName": adopted, "partitions": 2, "replicationFactor": 3, "minInSyncReplicas": 2}),
    )
    .await;
    env.apply_topic("no-alter", spec(&no_alter, 1, 2, json!({})))
        .await;
    let mut deleted_spec = spec(&deleted, 1, 2, json!({}));
    deleted_spec["deletionPolicy"] = json!("Delete");
    env.apply_topic("deleted", deleted_spec).await;
    env.apply_topic("hidden", spec(&hidden, 1, 2, json!({})))
        .await;
    for name in ["created", "adopted", "no-alter", "deleted"] {
        env.wait_ready(name).await;
    }
    let c = kafka_cli::describe(&created).unwrap();
    assert_eq!((c.partition_count, c.replication_factor), (1, 2), "{c:?}");
    assert_eq!(
        kafka_cli::overrides(&created)
            .get("retention.ms")
            .map(String::as_str),
        Some("3600000")
    );
    assert_eq!(
        kafka_cli::describe(&adopted).unwrap().topic_id,
        adopted_before.topic_id,
        "the adopted topic was recreated"
    );
    assert!(kafka_cli::exists(&no_alter) && kafka_cli::exists(&deleted));

    // The topic it may not Describe: its own NotAuthorized, and nothing done to it.
    let t = env.wait_reason("hidden", "NotAuthorized").await;
    let (_, _, message) = condition(&t, "Ready").unwrap();
    assert!(
        message.contains("TopicAuthorizationFailed"),
        "hidden: {message}"
    );
    eprintln!("hidden: Ready=False/NotAuthorized: {message}");
    let h = kafka_cli::describe(&hidden).unwrap();
    assert_eq!((h.partition_count, h.replication_factor), (1, 2), "{h:?}");

    // Grow (CreatePartitions: Alter on the topic), and the same on the topic without Alter.
    env.apply_topic(
        "created",
        spec(&created, 3, 2, json!({"retention.ms": 3600000})),
    )
    .await;
    env.apply_topic("no-alter", spec(&no_alter, 2, 2, json!({})))
        .await;
    env.wait_topic("created", "3 partitions and Ready", |t| {
        ready(t) && t.status.as_ref().and_then(|s| s.partitions) == Some(3)
    })
    .await;
    assert_eq!(kafka_cli::describe(&created).unwrap().partition_count, 3);
    let t = env.wait_reason("no-alter", "NotAuthorized").await;
    let (status, _, message) = condition(&t, "Ready").unwrap();
    assert_eq!(status, "False");
    assert!(
        message.contains("CreatePartitions") && message.contains("TopicAuthorizationFailed"),
        "no-alter: {message}"
    );
    eprintln!("no-alter: Ready=False/NotAuthorized: {message}");
    // Nothing half-applied: still one partition, no override appeared.
    assert_eq!(kafka_cli::describe(&no_alter).unwrap().partition_count, 1);
    assert_eq!(
        kafka_cli::overrides(&no_alter).get("min.insync.replicas"),
        Some(&"1".to_string())
    );

    // A config changed in the spec, then drift made behind the operator's back and reverted
    // (IncrementalAlterConfigs: AlterConfigs on the topic).
    env.apply_topic(
        "created",
        spec(&created, 3, 2, json!({"retention.ms": 7200000})),
    )
    .await;
    env.wait_for("retention.ms=7200000 on the created topic", || {
        kafka_cli::overrides(&created).get("retention.ms") == Some(&"7200000".to_string())
    })
    .await;
    env.wait_ready("created").await;
    kafka_cli::alter_config(&created, "retention.ms=1000");
    env.wait_for("the drifted retention.ms reverted", || {
        kafka_cli::overrides(&created).get("retention.ms") == Some(&"7200000".to_string())
    })
    .await;

    // Move replicas, RF 2 -> 3: broker throttle rates (AlterConfigs on the cluster), the
    // throttled-replica lists (AlterConfigs on the topic), AlterPartitionReassignments (Alter on
    // the cluster), and the throttles removed afterwards.
    env.apply_topic(
        "created",
        spec(&created, 3, 3, json!({"retention.ms": 7200000})),
    )
    .await;
    env.wait_topic("created", "RF 3 and Ready", |t| {
        ready(t) && t.status.as_ref().and_then(|s| s.replication_factor) == Some(3)
    })
    .await;
    let c = kafka_cli::describe(&created).unwrap();
    assert_eq!((c.partition_count, c.replication_factor), (3, 3), "{c:?}");
    for p in &c.partitions {
        assert_eq!(p.isr.len(), 3, "ISR of {p:?}");
    }
    env.wait_for("the throttled-replica lists removed", || {
        !kafka_cli::overrides(&created)
            .keys()
            .any(|k| k.ends_with("replication.throttled.replicas"))
    })
    .await;

    // Delete (deletionPolicy Delete: Delete on the topic). Before deleting, the operator reads
    // whether any consumer group has offsets on the topic; a group it may not describe (one
    // with offsets elsewhere, committed by the super user) leaves that unknown, so the topic is
    // not deleted until the user may describe groups.
    let group = unique("acl-reader");
    produce_stamped(&created, 1, Duration::from_secs(3 * 3600));
    consume_and_commit(&group, &created, 1);
    env.delete_topic_resource("deleted").await;
    let refused = env.wait_reason("deleted", "DeleteFailed").await;
    let message = condition(&refused, "Ready").unwrap().2;
    assert!(
        message.contains("whether it is in use could not be read")
            && message.contains("GroupAuthorizationFailed"),
        "{message}"
    );
    assert!(
        kafka_cli::exists(&deleted),
        "deleted without knowing its use"
    );
    user.add_acls("--allow-principal", &["Describe"], &["--group", "*"]);
    env.wait_topic_gone("deleted").await;
    env.wait_for("the Delete-policy topic deleted from Kafka", || {
        !kafka_cli::exists(&deleted)
    })
    .await;

    // The refused topics stay refused on their own; the rest is Ready, and so is the cluster.
    env.wait_resyncs(2).await;
    for name in ["created", "adopted"] {
        assert!(ready(&env.get_topic(name).await), "{name} is not Ready");
    }
    for name in ["no-alter", "hidden"] {
        let t = env.get_topic(name).await;
        assert_eq!(
            condition(&t, "Ready").map(|c| c.1),
            Some("NotAuthorized".to_string()),
            "{name}"
        );
    }
    assert_eq!(kafka_cli::describe(&no_alter).unwrap().partition_count, 1);
    let c = env.clusters().get("kafka").await.unwrap();
    assert!(
        cluster_condition(&c, "Ready").is_some_and(|r| r.0 == "True"),
        "{:?}",
        c.status
    );
}
