//! Peers the operator must not trust, on the real apiserver with the operator process:
//! SASL PLAIN without TLS sends the password as is, so a KafkaCluster that asks for it without
//! `spec.security.sasl.allowPlaintextPassword` is refused before anything connects; a "broker"
//! (a listener in this test) offering one SCRAM iteration gets no proof. Each shows on the
//! KafkaCluster's status with a reason and a message, and the SASL user is named neither there
//! nor in the log.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Buf, Bytes, BytesMut};
use common::*;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, RequestHeader, ResponseHeader, SaslAuthenticateRequest,
    SaslAuthenticateResponse, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn operator_args(ns: &str) -> [&str; 9] {
    [
        "run",
        "--namespace",
        ns,
        "--resync-interval",
        "2s",
        "--http-addr",
        "off",
        "--log-format",
        "json",
    ]
}

fn assert_not_in_log(log_path: &std::path::Path, secrets: &[&str]) {
    let log = std::fs::read_to_string(log_path).unwrap();
    for secret in secrets {
        let hits: Vec<&str> = log.lines().filter(|l| l.contains(secret)).collect();
        assert!(hits.is_empty(), "{secret} appears in the log: {hits:#?}");
    }
}

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
    credentials_secret(
        &env.ns,
        "plain-user",
        &[("username", &user), ("password", &password)],
    );
    let log_path = std::env::temp_dir().join(format!("{}.log", env.ns));
    let _operator =
        OperatorProcess::start(&operator_args(&env.ns), &[("RUST_LOG", "info")], &log_path);

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
    assert_not_in_log(&log_path, &[&user, &password]);
}

/// What the SCRAM "broker" received: SaslAuthenticate requests, and client-final messages (the
/// proof, which must never come).
#[derive(Default)]
struct ScramPeerLog {
    authenticate: AtomicUsize,
    proofs: AtomicUsize,
}

async fn reply<R: Encodable + HeaderVersion>(
    stream: &mut TcpStream,
    correlation_id: i32,
    version: i16,
    response: &R,
) -> std::io::Result<()> {
    let mut frame = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut frame, R::header_version(version))
        .unwrap();
    response.encode(&mut frame, version).unwrap();
    stream
        .write_all(&(frame.len() as i32).to_be_bytes())
        .await?;
    stream.write_all(&frame).await
}

/// Speaks ApiVersions, SaslHandshake and SaslAuthenticate on one connection, offering
/// `iterations` to every client-first.
async fn serve_scram(stream: &mut TcpStream, iterations: u32, log: &ScramPeerLog) -> Option<()> {
    loop {
        let size = stream.read_i32().await.ok()?;
        let mut body = vec![0u8; size as usize];
        stream.read_exact(&mut body).await.ok()?;
        let mut body = Bytes::from(body);
        let key = ApiKey::try_from((&body[0..2]).get_i16()).ok()?;
        let version = (&body[2..4]).get_i16();
        let header = RequestHeader::decode(&mut body, key.request_header_version(version)).ok()?;
        let id = header.correlation_id;
        match key {
            ApiKey::ApiVersions => {
                let api = |k: ApiKey, max| {
                    ApiVersion::default()
                        .with_api_key(k as i16)
                        .with_max_version(max)
                };
                let response = ApiVersionsResponse::default().with_api_keys(vec![
                    api(ApiKey::ApiVersions, 3),
                    api(ApiKey::SaslHandshake, 1),
                    api(ApiKey::SaslAuthenticate, 2),
                ]);
                reply(stream, id, version, &response).await.ok()?;
            }
            ApiKey::SaslHandshake => {
                let response = SaslHandshakeResponse::default()
                    .with_mechanisms(vec![StrBytes::from_static_str("SCRAM-SHA-512")]);
                reply(stream, id, version, &response).await.ok()?;
            }
            ApiKey::SaslAuthenticate => {
                log.authenticate.fetch_add(1, Ordering::SeqCst);
                let request = SaslAuthenticateRequest::decode(&mut body, version).ok()?;
                let message = String::from_utf8_lossy(&request.auth_bytes).to_string();
                if message.starts_with("c=") {
                    log.proofs.fetch_add(1, Ordering::SeqCst);
                    return None;
                }
                let nonce = message.split(',').find_map(|p| p.strip_prefix("r="))?;
                let server_first = format!("r={nonce}peer,s=c2FsdA==,i={iterations}");
                let response =
                    SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(server_first));
                reply(stream, id, version, &response).await.ok()?;
            }
            _ => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_offering_one_scram_iteration_gets_no_proof_and_the_cluster_says_why() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let log = Arc::new(ScramPeerLog::default());
    let peer = tokio::spawn({
        let log = log.clone();
        async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move { serve_scram(&mut stream, 1, &log).await });
            }
        }
    });
    let user = unique("someone");
    let env = TestEnv::without_operator(
        "scram-peer",
        ClusterOptions {
            bootstrap: vec![addr],
            security: serde_json::json!({
                "protocol": "SASL_PLAINTEXT",
                "sasl": {"mechanism": "SCRAM-SHA-512", "credentialsSecretRef": {"name": "scram-user"}}
            }),
            ..Default::default()
        },
    )
    .await;
    credentials_secret(
        &env.ns,
        "scram-user",
        &[("username", &user), ("password", "scram-password")],
    );
    let log_path = std::env::temp_dir().join(format!("{}.log", env.ns));
    let _operator =
        OperatorProcess::start(&operator_args(&env.ns), &[("RUST_LOG", "info")], &log_path);

    let cluster = env
        .wait_cluster("Ready=False/AuthenticationFailed", |c| {
            cluster_condition(c, "Ready")
                .is_some_and(|r| r.0 == "False" && r.1 == "AuthenticationFailed")
        })
        .await;
    let (_, _, message) = cluster_condition(&cluster, "Ready").unwrap();
    assert!(
        message.contains("asked for 1 SCRAM iterations") && message.contains("4096..=16384"),
        "{message}"
    );
    let status = serde_json::to_string(&cluster.status).unwrap();
    assert!(
        !status.contains(&user),
        "the user is in the status: {status}"
    );
    assert!(log.authenticate.load(Ordering::SeqCst) >= 1);
    assert_eq!(log.proofs.load(Ordering::SeqCst), 0, "a proof was sent");
    assert_not_in_log(&log_path, &[&user, "scram-password"]);
    peer.abort();
}
