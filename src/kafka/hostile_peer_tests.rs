//! The Kafka client against peers that are not the Kafka it expects: a "broker" played by a
//! TcpListener in the test, speaking just enough of the Kafka protocol (ApiVersions,
//! SaslHandshake, SaslAuthenticate, Metadata) to offer absurd SCRAM iteration counts, announce a
//! response larger than the cap, or receive a PLAIN password.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::{
    MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, MetadataRequest, MetadataResponse, RequestHeader,
    ResponseHeader, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeResponse,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::connection::{CallError, Connection, MAX_RESPONSE_BYTES, response_size};
use super::error::KafkaError;
use super::security::{SaslMechanism, SaslSettings, Security};
use crate::api::Reason;

const TIMEOUT: Duration = Duration::from_secs(5);
const USER: &str = "peer-test-user";
const PASSWORD: &str = "peer-test-password";

#[derive(Clone, Copy)]
enum Peer {
    /// Answers SCRAM's client-first with a server-first offering this many iterations.
    ScramIterations(u32),
    /// Accepts any PLAIN token.
    PlainAccepted,
    /// Answers Metadata with this length prefix and a few bytes that must never be read.
    AnnouncesResponseOf(i32),
}

/// What the peer received, once the client has gone.
#[derive(Debug, Default)]
struct Received {
    sasl_authenticate: usize,
    metadata: usize,
    plain_token: Option<String>,
}

async fn read_request(stream: &mut TcpStream) -> Option<(ApiKey, i16, i32, Bytes)> {
    let size = stream.read_i32().await.ok()?;
    let mut body = vec![0u8; size as usize];
    stream.read_exact(&mut body).await.ok()?;
    let mut body = Bytes::from(body);
    let key = ApiKey::try_from((&body[0..2]).get_i16()).ok()?;
    let version = (&body[2..4]).get_i16();
    let header = RequestHeader::decode(&mut body, key.request_header_version(version)).ok()?;
    Some((key, version, header.correlation_id, body))
}

async fn reply<R: Encodable + HeaderVersion>(
    stream: &mut TcpStream,
    correlation_id: i32,
    version: i16,
    response: &R,
) {
    let mut frame = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut frame, R::header_version(version))
        .unwrap();
    response.encode(&mut frame, version).unwrap();
    stream
        .write_all(&(frame.len() as i32).to_be_bytes())
        .await
        .unwrap();
    stream.write_all(&frame).await.unwrap();
}

fn api_versions() -> ApiVersionsResponse {
    let key = |k: ApiKey, max| {
        ApiVersion::default()
            .with_api_key(k as i16)
            .with_min_version(0)
            .with_max_version(max)
    };
    ApiVersionsResponse::default().with_api_keys(vec![
        key(ApiKey::ApiVersions, 3),
        key(ApiKey::SaslHandshake, 1),
        key(ApiKey::SaslAuthenticate, 2),
        key(ApiKey::Metadata, 12),
    ])
}

/// Serves one connection as `peer`, until the client goes; returns what it received.
async fn start(peer: Peer) -> (String, tokio::task::JoinHandle<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let served = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut received = Received::default();
        while let Some((key, version, correlation_id, mut body)) = read_request(&mut stream).await {
            match key {
                ApiKey::ApiVersions => {
                    reply(&mut stream, correlation_id, version, &api_versions()).await
                }
                ApiKey::SaslHandshake => {
                    let mechanism = match peer {
                        Peer::PlainAccepted => "PLAIN",
                        _ => "SCRAM-SHA-512",
                    };
                    let response = SaslHandshakeResponse::default()
                        .with_mechanisms(vec![StrBytes::from_static_str(mechanism)]);
                    reply(&mut stream, correlation_id, version, &response).await
                }
                ApiKey::SaslAuthenticate => {
                    received.sasl_authenticate += 1;
                    let request = SaslAuthenticateRequest::decode(&mut body, version).unwrap();
                    let token = String::from_utf8_lossy(&request.auth_bytes).to_string();
                    let answer = match peer {
                        Peer::ScramIterations(iterations) => {
                            let nonce =
                                token.split(',').find_map(|p| p.strip_prefix("r=")).unwrap();
                            format!("r={nonce}peer,s=c2FsdA==,i={iterations}")
                        }
                        _ => {
                            received.plain_token = Some(token);
                            String::new()
                        }
                    };
                    let response =
                        SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(answer));
                    reply(&mut stream, correlation_id, version, &response).await
                }
                ApiKey::Metadata => {
                    received.metadata += 1;
                    if let Peer::AnnouncesResponseOf(size) = peer {
                        stream.write_all(&size.to_be_bytes()).await.unwrap();
                        // Would be the start of the "next answer" to a client that kept
                        // using the connection.
                        stream
                            .write_all(b"\0\0\0\x10not an answer...")
                            .await
                            .unwrap();
                    }
                }
                other => panic!("the peer does not speak {other:?}"),
            }
        }
        received
    });
    (addr, served)
}

fn sasl(mechanism: SaslMechanism, allow_plaintext_password: bool) -> Security {
    Security {
        tls: None,
        sasl: Some(SaslSettings {
            mechanism,
            username: USER.into(),
            password: PASSWORD.into(),
            allow_plaintext_password,
        }),
    }
}

fn refusal(result: Result<Connection, CallError>) -> KafkaError {
    match result {
        Err(CallError::Kafka(e)) => e,
        Err(CallError::Io(e) | CallError::TimedOut(e)) => panic!("not refused but broken: {e}"),
        Ok(_) => panic!("the connection was accepted"),
    }
}

#[tokio::test]
async fn one_scram_iteration_is_refused_before_a_proof_is_sent() {
    let (addr, peer) = start(Peer::ScramIterations(1)).await;
    let security = sasl(SaslMechanism::ScramSha512, false);
    let refused = refusal(Connection::open(&addr, TIMEOUT, &security).await);
    assert_eq!(refused.reason(), Reason::AuthenticationFailed);
    let text = refused.to_string();
    assert!(
        text.contains("asked for 1 SCRAM iterations") && text.contains("4096..=16384"),
        "{text}"
    );
    assert!(!text.contains(USER), "the user is named: {text}");
    // Only the client-first went out: no proof to crack.
    let received = tokio::time::timeout(TIMEOUT, peer).await.unwrap().unwrap();
    assert_eq!(received.sasl_authenticate, 1, "{received:?}");
}

/// 2^31 iterations of PBKDF2 are hours of a CPU: refused at once, and the runtime (one thread
/// here, the Lease renewals' in the operator) is never held meanwhile.
#[tokio::test(flavor = "current_thread")]
async fn two_to_the_31_scram_iterations_are_refused_at_once_and_the_runtime_keeps_running() {
    let ticks = Arc::new(AtomicU64::new(0));
    let ticker = tokio::spawn({
        let ticks = ticks.clone();
        async move {
            let mut every = tokio::time::interval(Duration::from_millis(1));
            loop {
                every.tick().await;
                ticks.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let (addr, peer) = start(Peer::ScramIterations(1 << 31)).await;
    let security = sasl(SaslMechanism::ScramSha256, false);
    let started = Instant::now();
    let opened = tokio::time::timeout(TIMEOUT, Connection::open(&addr, TIMEOUT, &security))
        .await
        .expect("the client is still deriving a key from 2^31 iterations");
    let took = started.elapsed();
    let refused = refusal(opened);
    assert!(
        refused
            .to_string()
            .contains("asked for 2147483648 SCRAM iterations"),
        "{refused}"
    );
    assert!(took < Duration::from_secs(2), "refused after {took:?}");
    let ticks_before = ticks.load(Ordering::Relaxed);
    tokio::time::timeout(TIMEOUT, async {
        while ticks.load(Ordering::Relaxed) <= ticks_before {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the other task stopped running");
    ticker.abort();
    let received = tokio::time::timeout(TIMEOUT, peer).await.unwrap().unwrap();
    assert_eq!(received.sasl_authenticate, 1, "{received:?}");
}

#[tokio::test]
async fn a_response_over_the_cap_is_refused_unread_and_the_connection_is_not_used_again() {
    for announced in [1 << 30, i32::MAX, -5] {
        let (addr, peer) = start(Peer::AnnouncesResponseOf(announced)).await;
        let mut conn = Connection::open(&addr, TIMEOUT, &Security::plaintext())
            .await
            .unwrap_or_else(|_| panic!("connect to the peer"));
        let metadata = MetadataRequest::default();
        let started = Instant::now();
        let refused = match conn.call(&metadata, 12, "Metadata", TIMEOUT).await {
            Err(CallError::Io(e)) => e,
            other => panic!("{announced}: not refused as a broken connection: {other:?}"),
        };
        // Refused on the length prefix: the body it announces never arrives, and waiting
        // for it would have run into the timeout.
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!(
            refused.contains(&announced.to_string()) && refused.contains("dropped"),
            "{refused}"
        );
        if announced > 0 {
            assert!(refused.contains("32 MiB"), "{refused}");
        }
        // The bytes after the refused prefix are never taken for the next answer.
        match conn.call(&metadata, 12, "Metadata", TIMEOUT).await {
            Err(CallError::Io(e)) => assert!(e.contains("not sent"), "{e}"),
            other => panic!("the broken connection was used again: {other:?}"),
        }
        drop(conn);
        let received = tokio::time::timeout(TIMEOUT, peer).await.unwrap().unwrap();
        assert_eq!(received.metadata, 1, "{received:?}");
    }
}

#[test]
fn the_cap_is_inclusive_and_refuses_one_byte_more() {
    let cap = MAX_RESPONSE_BYTES as i32;
    assert_eq!(response_size(cap), Ok(MAX_RESPONSE_BYTES));
    assert_eq!(response_size(0), Ok(0));
    assert!(response_size(cap + 1).is_err());
    assert!(response_size(-1).is_err());
}

/// The snapshot's Metadata of every topic is the largest answer that grows with the cluster:
/// at the documented 10 000 topics of 3 partitions (replication factor 3, 64-character names)
/// it must leave the cap ten times over.
#[test]
fn the_cap_leaves_headroom_over_the_documented_scale() {
    let replicas = || vec![BrokerId(1), BrokerId(2), BrokerId(3)];
    let topics: Vec<MetadataResponseTopic> = (0..10_000)
        .map(|i| {
            MetadataResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(format!("{i:0>64}")))))
                .with_topic_id(uuid::Uuid::from_u128(i as u128 + 1))
                .with_partitions(
                    (0..3)
                        .map(|p| {
                            MetadataResponsePartition::default()
                                .with_partition_index(p)
                                .with_leader_id(BrokerId(1))
                                .with_replica_nodes(replicas())
                                .with_isr_nodes(replicas())
                        })
                        .collect(),
                )
        })
        .collect();
    let mut bytes = BytesMut::new();
    MetadataResponse::default()
        .with_topics(topics)
        .encode(&mut bytes, 12)
        .unwrap();
    let size = bytes.len();
    assert!(
        size * 10 < MAX_RESPONSE_BYTES,
        "{size} bytes for 10 000 topics"
    );
    assert!(
        size > 1024 * 1024,
        "{size}: the estimate in the docs is off"
    );
}

#[tokio::test]
async fn a_plain_password_without_tls_is_refused_before_connecting() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let refused =
        refusal(Connection::open(&addr, TIMEOUT, &sasl(SaslMechanism::Plain, false)).await);
    assert_eq!(refused.reason(), Reason::PlaintextPasswordRefused);
    // A client that had connected would be in the listener's queue by now (loopback
    // connections are established before connect returns).
    assert_eq!(
        listener.accept().map(|_| ()).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock,
        "the client connected"
    );
}

#[tokio::test]
async fn a_plain_password_without_tls_goes_out_as_is_when_the_cluster_allows_it() {
    let (addr, peer) = start(Peer::PlainAccepted).await;
    let conn = Connection::open(&addr, TIMEOUT, &sasl(SaslMechanism::Plain, true)).await;
    assert!(conn.is_ok(), "not connected");
    drop(conn);
    let received = tokio::time::timeout(TIMEOUT, peer).await.unwrap().unwrap();
    // Why it is refused by default: the listener reads the password.
    assert_eq!(
        received.plain_token.as_deref(),
        Some(format!("\0{USER}\0{PASSWORD}").as_str())
    );
}
