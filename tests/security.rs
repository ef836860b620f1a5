//! Kafka security for real: the environment's SASL_SSL listener (TLS with the environment's CA,
//! SCRAM-SHA-512 users). Credentials and the CA come from Secrets; a wrong password gives
//! Ready=False/AuthenticationFailed; no secret appears in any log line.

mod common;

use common::kafka_user::ScramUser;
use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_ssl_with_credentials_from_secrets_and_no_secret_in_the_logs() {
    // A user of this test's own, allowed everything. The environment's long-lived `kto` user is
    // shared with the whole suite, and in two whole-suite runs every broker refused it to this
    // test for 90 s, ten minutes after tests/cli.rs had authenticated as kto; running the same
    // test binaries one by one never reproduced it, so the cause is not known. A fresh user
    // keeps this test about what it proves (TLS, SCRAM and Secrets); tests/acls.rs proves ACLs.
    let (mut user, password) = ScramUser::create("kto-sec");
    user.add_acls("--allow-principal", &["All"], &["--cluster"]);
    user.add_acls("--allow-principal", &["All"], &["--topic", "*"]);
    let wrong_password = unique("definitely-wrong");
    let sasl_bootstrap: Vec<String> = env_var("KTO_KAFKA_SASL_BOOTSTRAP")
        .split(',')
        .map(String::from)
        .collect();
    let security = json!({
        "protocol": "SASL_SSL",
        "tls": {"caSecretRef": {"name": "kafka-ca"}},
        "sasl": {"mechanism": "SCRAM-SHA-512", "credentialsSecretRef": {"name": "kafka-user"}}
    });
    let env = TestEnv::without_operator(
        "sasl",
        ClusterOptions {
            bootstrap: sasl_bootstrap.clone(),
            security,
            ..Default::default()
        },
    )
    .await;
    credentials_secret(
        &env.ns,
        "kafka-user",
        &[("username", &user.name), ("password", &password)],
    );
    credentials_secret(
        &env.ns,
        "bad-user",
        &[("username", &user.name), ("password", &wrong_password)],
    );
    let ca = std::fs::read_to_string(env_var("KTO_KAFKA_CA")).unwrap();
    credentials_secret(&env.ns, "kafka-ca", &[("ca.crt", &ca)]);
    let servers = sasl_bootstrap
        .iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ");
    kubectl_apply(
        &env.ns,
        &format!(
            "apiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: wrong\nspec:\n  bootstrapServers: [{servers}]\n  security:\n    protocol: SASL_SSL\n    tls: {{caSecretRef: {{name: kafka-ca}}}}\n    sasl: {{mechanism: SCRAM-SHA-512, credentialsSecretRef: {{name: bad-user}}}}\n"
        ),
    )
    .unwrap();

    let log_path = std::env::temp_dir().join(format!("{}.log", env.ns));
    let _operator = OperatorProcess::start(
        &[
            "run",
            "--namespace",
            &env.ns,
            "--resync-interval",
            "2s",
            "--http-addr",
            "off",
            "--log-format",
            "json",
        ],
        &[("RUST_LOG", "debug")],
        &log_path,
    );

    // Over SASL_SSL: connect, create, and move replicas (the reassignment RPCs).
    env.wait_cluster("Ready over SASL_SSL", |c| {
        cluster_condition(c, "Ready").is_some_and(|r| r.0 == "True")
    })
    .await;
    let name = unique("secure");
    env.apply_topic(
        "secure",
        json!({"topicName": name, "partitions": 1, "replicationFactor": 1, "minInSyncReplicas": 1}),
    )
    .await;
    env.wait_ready("secure").await;
    env.apply_topic(
        "secure",
        json!({"topicName": name, "partitions": 1, "replicationFactor": 2, "minInSyncReplicas": 1}),
    )
    .await;
    env.wait_topic("secure", "RF 2 and Ready", |t| {
        condition(t, "Ready").is_some_and(|c| c.0 == "True")
            && t.status.as_ref().and_then(|s| s.replication_factor) == Some(2)
    })
    .await;
    assert_eq!(
        common::kafka_cli::describe(&name)
            .unwrap()
            .replication_factor,
        2
    );

    // The wrong password: an authentication reason on the cluster and on its topics.
    env.apply_topic(
        "wrong",
        json!({"clusterRef": {"name": "wrong"}, "topicName": unique("never")}),
    )
    .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let reason = kubectl(&[
            "get",
            "kafkaclusters.kafka.topic-operator.dev",
            "wrong",
            "-n",
            &env.ns,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}",
        ]);
        if reason == "AuthenticationFailed" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "KafkaCluster wrong: Ready reason {reason:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let t = env.wait_reason("wrong", "AuthenticationFailed").await;
    assert!(
        condition(&t, "Ready")
            .unwrap()
            .2
            .contains("SaslAuthenticationFailed"),
        "{:?}",
        condition(&t, "Ready")
    );

    // A missing Secret: said plainly, by name.
    kubectl(&[
        "patch",
        "kafkaclusters.kafka.topic-operator.dev",
        "wrong",
        "-n",
        &env.ns,
        "--type=merge",
        "-p",
        r#"{"spec":{"security":{"sasl":{"credentialsSecretRef":{"name":"no-such-secret"}}}}}"#,
    ]);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let msg = kubectl(&[
            "get",
            "kafkaclusters.kafka.topic-operator.dev",
            "wrong",
            "-n",
            &env.ns,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].message}",
        ]);
        if msg.contains("no-such-secret") {
            assert!(msg.contains("not found"), "{msg}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no InvalidSecurity message: {msg}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }

    // No secret in any log line, even at debug level.
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.lines().count() > 20, "suspiciously few log lines");
    use base64::Engine;
    for secret in [&password, &wrong_password] {
        for form in [
            secret.clone(),
            base64::engine::general_purpose::STANDARD.encode(secret),
        ] {
            let hits: Vec<&str> = log.lines().filter(|l| l.contains(&form)).collect();
            assert!(hits.is_empty(), "a secret appears in the logs: {hits:#?}");
        }
    }
    assert!(!log.contains("BEGIN PRIVATE KEY"));
}

/// The KafkaCluster `name` of `env`'s namespace, once `ok` holds (deadline: WAIT).
async fn wait_cluster_named(
    env: &TestEnv,
    name: &str,
    what: &str,
    ok: impl Fn(&kafka_topic_operator::api::KafkaCluster) -> bool,
) -> kafka_topic_operator::api::KafkaCluster {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let c = env.clusters().get(name).await.expect("get KafkaCluster");
        if ok(&c) {
            return c;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "KafkaCluster {name}: timed out waiting for {what}; status: {:?}",
            c.status
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

fn ready_reason(c: &kafka_topic_operator::api::KafkaCluster) -> Option<(String, String, String)> {
    cluster_condition(c, "Ready")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_come_only_from_secrets_labelled_for_kafka_clusters() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let (mut user, password) = ScramUser::create("kto-optin");
    user.add_acls("--allow-principal", &["All"], &["--cluster"]);
    user.add_acls("--allow-principal", &["All"], &["--topic", "*"]);
    let sasl_bootstrap: Vec<String> = env_var("KTO_KAFKA_SASL_BOOTSTRAP")
        .split(',')
        .map(String::from)
        .collect();
    let env = TestEnv::without_operator(
        "optin",
        ClusterOptions {
            bootstrap: sasl_bootstrap,
            security: json!({
                "protocol": "SASL_SSL",
                "tls": {"caSecretRef": {"name": "kafka-ca"}},
                "sasl": {"mechanism": "SCRAM-SHA-512", "credentialsSecretRef": {"name": "app-user"}}
            }),
            ..Default::default()
        },
    )
    .await;
    // Another application's credentials, in a Secret its owner has not labelled.
    secret(
        &env.ns,
        "app-user",
        &[("username", &user.name), ("password", &password)],
    );
    let ca = std::fs::read_to_string(env_var("KTO_KAFKA_CA")).unwrap();
    credentials_secret(&env.ns, "kafka-ca", &[("ca.crt", &ca)]);

    // A listener of the KafkaCluster author's own, counting who connects to it.
    let trap = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let trap_addr = trap.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    tokio::spawn(async move {
        while trap.accept().await.is_ok() {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    kubectl_apply(
        &env.ns,
        &format!(
            "apiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaCluster\nmetadata:\n  name: elsewhere\nspec:\n  bootstrapServers: [\"{trap_addr}\"]\n  security:\n    protocol: SASL_PLAINTEXT\n    sasl: {{mechanism: SCRAM-SHA-512, credentialsSecretRef: {{name: app-user}}}}\n"
        ),
    )
    .unwrap();
    let env = env.start_operator();

    // Refused, saying which Secret and which label, on both clusters; nothing connected.
    for cluster in ["kafka", "elsewhere"] {
        let c = wait_cluster_named(&env, cluster, "Ready=False/SecretNotOptedIn", |c| {
            ready_reason(c).is_some_and(|r| r.0 == "False" && r.1 == "SecretNotOptedIn")
        })
        .await;
        let message = ready_reason(&c).unwrap().2;
        assert!(
            message.contains(&format!("Secret {}/app-user", env.ns))
                && message.contains(&format!("{CREDENTIALS_LABEL}=true")),
            "{message}"
        );
        assert!(
            env.observers
                .get(&(env.ns.clone(), cluster.to_string()))
                .is_none(),
            "{cluster}: a connection was opened with the unlabelled Secret"
        );
    }
    assert_eq!(connections.load(Ordering::SeqCst), 0, "the trap was called");

    // The owner labels it: the KafkaCluster connects with it, and so does the other one (which
    // is what the label consents to, and shows that the trap would have counted a connection).
    kubectl(&[
        "label",
        "secret",
        "app-user",
        "-n",
        &env.ns,
        &format!("{CREDENTIALS_LABEL}=true"),
    ]);
    wait_cluster_named(&env, "kafka", "Ready=True over SASL_SSL", |c| {
        ready_reason(c).is_some_and(|r| r.0 == "True")
    })
    .await;
    env.wait_for("a connection to the trap", || {
        connections.load(Ordering::SeqCst) > 0
    })
    .await;

    // The label taken off withdraws the consent: refused again, and the connection closed.
    // Secrets are not watched: the change is seen at the next read of the KafkaCluster's
    // Secrets, within 10 minutes or at once when the KafkaCluster changes, as
    // docs/operations.md tells the user to make it (an annotation).
    kubectl(&[
        "label",
        "secret",
        "app-user",
        "-n",
        &env.ns,
        &format!("{CREDENTIALS_LABEL}-"),
    ]);
    kubectl(&[
        "annotate",
        "kafkacluster",
        "kafka",
        "-n",
        &env.ns,
        "--overwrite",
        "kafka.topic-operator.dev/credentials-changed=now",
    ]);
    wait_cluster_named(&env, "kafka", "Ready=False/SecretNotOptedIn again", |c| {
        ready_reason(c).is_some_and(|r| r.1 == "SecretNotOptedIn")
    })
    .await;
    assert!(
        env.observers
            .get(&(env.ns.clone(), "kafka".to_string()))
            .is_none(),
        "the connection made with the Secret was kept after its label was taken off"
    );
}
