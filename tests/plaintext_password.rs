//! SASL PLAIN without TLS sends the password as is: a KafkaCluster that asks for it without
//! `spec.security.sasl.allowPlaintextPassword` is refused before anything connects, with a reason
//! and a message on its status, and the SASL user is named neither there nor in the log.

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_over_sasl_plaintext_is_refused_before_connecting_and_the_user_is_not_shown() {
    // The "broker": a listener nothing may connect to.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let user = unique("someone");
    let password = unique("plain-password");
    let env = TestEnv::without_operator(
        "plain",
        ClusterOptions {
            bootstrap: vec![addr.clone()],
            security: serde_json::json!({
                "protocol": "SASL_PLAINTEXT",
                "sasl": {"mechanism": "PLAIN", "credentialsSecretRef": {"name": "plain-user"}}
            }),
            ..Default::default()
        },
    )
    .await;
    secret(
        &env.ns,
        "plain-user",
        &[("username", &user), ("password", &password)],
    );
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
        &[("RUST_LOG", "info")],
        &log_path,
    );

    let cluster = env
        .wait_cluster("Ready=False/PlaintextPasswordRefused", |c| {
            cluster_condition(c, "Ready")
                .is_some_and(|r| r.0 == "False" && r.1 == "PlaintextPasswordRefused")
        })
        .await;
    let (_, _, message) = cluster_condition(&cluster, "Ready").unwrap();
    assert!(
        message.contains("allowPlaintextPassword") && message.contains("SASL_SSL"),
        "{message}"
    );
    let status = serde_json::to_string(&cluster.status).unwrap();
    assert!(
        !status.contains(&user),
        "the user is in the status: {status}"
    );
    assert!(
        listener
            .accept()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
        "the operator connected to {addr}"
    );
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("PlaintextPassword"),
        "the refusal is not logged"
    );
    for secret in [&user, &password] {
        let hits: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(secret.as_str()))
            .collect();
        assert!(hits.is_empty(), "{secret} appears in the log: {hits:#?}");
    }
}
