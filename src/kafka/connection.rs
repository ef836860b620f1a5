//! One TCP connection to a Kafka broker, speaking the Kafka protocol with the `kafka-protocol`
//! crate: size-prefixed frames, request headers with correlation ids, and the ApiVersions
//! handshake that tells which versions of each API the broker supports.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
    SaslAuthenticateRequest, SaslHandshakeRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::error::KafkaError;
use super::scram::{ScramClient, ScramHash};
use super::security::{SaslMechanism, SaslSettings, Security, server_name};

/// A plain or TLS stream.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Responses larger than this are refused before anything is allocated for them (a garbled
/// length prefix, or a peer that is not Kafka). The largest answers the operator asks for are
/// the snapshot's Metadata of every topic and a DescribeConfigs of 500 topics: at the 10 000
/// topics of 3 partitions (replication factor 3) the documentation claims, Metadata encodes to
/// about 2 MiB (`the_cap_leaves_headroom_over_the_documented_scale` measures it), and a
/// DescribeConfigs of 500 topics is bounded by the batch, not the cluster. 32 MiB leaves ten
/// times that scale's headroom (about 300 000 partitions) and stays an eighth of the chart's
/// 256 MiB memory limit, which the decoded answer (several times the bytes) must also fit in.
pub const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

pub const CLIENT_ID: &str = "kafka-topic-operator";

/// Why a call on a connection failed: the connection is broken (reconnect and maybe retry), or
/// the answer could not be used (the connection is fine).
#[derive(Debug)]
pub enum CallError {
    Io(String),
    /// No answer within the timeout: the broker is slow (or the path to it is).
    TimedOut(String),
    Kafka(KafkaError),
}

pub struct Connection {
    addr: String,
    /// Set when an exchange failed midway: whatever the broker sends next would be read as the
    /// answer to the next request, so no further request is sent on this connection.
    broken: bool,
    stream: BufReader<Box<dyn Stream>>,
    next_correlation_id: i32,
    /// Per API key: the (min, max) versions the broker supports.
    versions: HashMap<i16, (i16, i16)>,
    timeout: Duration,
}

impl Connection {
    /// Connects (TLS when configured), performs the ApiVersions handshake, and authenticates
    /// (SASL when configured).
    pub async fn open(
        addr: &str,
        timeout: Duration,
        security: &Security,
    ) -> Result<Self, CallError> {
        // Before any connection: a refused password is never sent, not even to a listener.
        security
            .refuse_plaintext_password()
            .map_err(CallError::Kafka)?;
        let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| CallError::Io(format!("connect to {addr} timed out")))?
            .map_err(|e| CallError::Io(format!("connect to {addr}: {e}")))?;
        tcp.set_nodelay(true).ok();
        let tls_error = |detail: String| {
            CallError::Kafka(KafkaError::Tls {
                addr: addr.to_string(),
                detail,
            })
        };
        let stream: Box<dyn Stream> = match security
            .tls_connector()
            .map_err(|e| tls_error(e.to_string()))?
        {
            None => Box::new(tcp),
            Some(connector) => {
                let name = server_name(addr)
                    .ok_or_else(|| tls_error("not a valid TLS server name".into()))?;
                let tls = tokio::time::timeout(timeout, connector.connect(name, tcp))
                    .await
                    .map_err(|_| CallError::Io(format!("TLS handshake with {addr} timed out")))?
                    .map_err(|e| tls_error(e.to_string()))?;
                Box::new(tls)
            }
        };
        let mut conn = Connection {
            addr: addr.to_string(),
            broken: false,
            stream: BufReader::new(stream),
            next_correlation_id: 1,
            versions: HashMap::new(),
            timeout,
        };
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str(CLIENT_ID))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let response: ApiVersionsResponse = conn.call_raw(&request, 3, "ApiVersions").await?;
        super::error::check("ApiVersions", addr, response.error_code, None)
            .map_err(CallError::Kafka)?;
        conn.versions = response
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        if let Some(sasl) = &security.sasl {
            conn.authenticate(sasl).await?;
        }
        Ok(conn)
    }

    /// SaslHandshake, then SaslAuthenticate rounds (KIP-152 framing).
    async fn authenticate(&mut self, sasl: &SaslSettings) -> Result<(), CallError> {
        let mechanism = sasl.mechanism.kafka_name();
        let handshake =
            SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism));
        let response = self.call_raw(&handshake, 1, "SaslHandshake").await?;
        super::error::check("SaslHandshake", mechanism, response.error_code, None)
            .map_err(CallError::Kafka)?;
        // The user is not named: the message reaches the KafkaCluster's status.
        let failed = |message: String| {
            CallError::Kafka(KafkaError::Api {
                api: "SaslAuthenticate",
                resource: format!("{mechanism} credentials"),
                code: kafka_protocol::ResponseError::SaslAuthenticationFailed,
                message: Some(message),
            })
        };
        match sasl.mechanism {
            SaslMechanism::Plain => {
                let token = format!("\0{}\0{}", sasl.username, sasl.password);
                self.sasl_round(token.into_bytes()).await?;
            }
            SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
                let hash = if sasl.mechanism == SaslMechanism::ScramSha256 {
                    ScramHash::Sha256
                } else {
                    ScramHash::Sha512
                };
                let mut scram =
                    ScramClient::with_random_nonce(hash, &sasl.username, &sasl.password);
                let server_first = self.sasl_round(scram.client_first().into_bytes()).await?;
                let client_final = scram
                    .client_final(&String::from_utf8_lossy(&server_first))
                    .await
                    .map_err(|e| failed(e.to_string()))?;
                let server_final = self.sasl_round(client_final.into_bytes()).await?;
                scram
                    .verify_server_final(&String::from_utf8_lossy(&server_final))
                    .map_err(|e| failed(e.to_string()))?;
            }
        }
        Ok(())
    }

    async fn sasl_round(&mut self, bytes: Vec<u8>) -> Result<Bytes, CallError> {
        let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(bytes));
        let response = self.call_raw(&request, 2, "SaslAuthenticate").await?;
        super::error::check(
            "SaslAuthenticate",
            "SASL",
            response.error_code,
            response.error_message.as_ref(),
        )
        .map_err(CallError::Kafka)?;
        Ok(response.auth_bytes)
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The highest version of `R` both sides support within `wanted` (inclusive).
    pub fn pick_version<R: Request>(
        &self,
        api: &'static str,
        wanted: (i16, i16),
    ) -> Result<i16, KafkaError> {
        let offered = self.versions.get(&R::KEY).copied();
        let unsupported = || KafkaError::UnsupportedVersion {
            api,
            wanted: format!("{}..{}", wanted.0, wanted.1),
            offered: offered
                .map(|(a, b)| format!("{a}..{b}"))
                .unwrap_or("none".into()),
        };
        let (min, max) = offered.ok_or_else(unsupported)?;
        let version = wanted.1.min(max);
        if version < wanted.0.max(min) {
            return Err(unsupported());
        }
        Ok(version)
    }

    /// Sends one request and reads its response, waiting at most `timeout` for it. After a
    /// timeout the connection must be dropped: a late answer would arrive for the next request.
    pub async fn call<R: Request>(
        &mut self,
        request: &R,
        version: i16,
        api: &'static str,
        timeout: Duration,
    ) -> Result<R::Response, CallError> {
        self.call_timed(request, version, api, timeout).await
    }

    async fn call_raw<R: Request>(
        &mut self,
        request: &R,
        version: i16,
        api: &'static str,
    ) -> Result<R::Response, CallError> {
        self.call_timed(request, version, api, self.timeout).await
    }

    async fn call_timed<R: Request>(
        &mut self,
        request: &R,
        version: i16,
        api: &'static str,
        timeout: Duration,
    ) -> Result<R::Response, CallError> {
        if self.broken {
            return Err(CallError::Io(format!(
                "{api} to {}: not sent, an earlier exchange on this connection failed midway",
                self.addr
            )));
        }
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
        let protocol = |detail: String| CallError::Kafka(KafkaError::Protocol { api, detail });

        let mut frame = BytesMut::with_capacity(256);
        frame.extend_from_slice(&[0, 0, 0, 0]);
        header
            .encode(&mut frame, R::header_version(version))
            .map_err(|e| protocol(format!("encode header: {e}")))?;
        request
            .encode(&mut frame, version)
            .map_err(|e| protocol(format!("encode request: {e}")))?;
        let len = (frame.len() - 4) as i32;
        frame[0..4].copy_from_slice(&len.to_be_bytes());

        let io = |e: std::io::Error| CallError::Io(format!("{api} to {}: {e}", self.addr));
        self.broken = true;
        let exchange = async {
            self.stream.get_mut().write_all(&frame).await?;
            let size = self.stream.read_i32().await?;
            let size = response_size(size).map_err(std::io::Error::other)?;
            let mut body = vec![0u8; size];
            self.stream.read_exact(&mut body).await?;
            Ok(Bytes::from(body))
        };
        let mut body = match tokio::time::timeout(timeout, exchange).await {
            Err(_) => {
                return Err(CallError::TimedOut(format!(
                    "{api} to {} got no answer within {}",
                    self.addr,
                    super::error::seconds(timeout)
                )));
            }
            Ok(result) => result.map_err(io)?,
        };
        // The whole frame was read: the next request's answer starts cleanly.
        self.broken = false;
        let response_header =
            ResponseHeader::decode(&mut body, R::Response::header_version(version))
                .map_err(|e| protocol(format!("decode response header: {e}")))?;
        if response_header.correlation_id != correlation_id {
            return Err(CallError::Io(format!(
                "{api} to {}: response for request {} arrived for request {correlation_id}",
                self.addr, response_header.correlation_id
            )));
        }
        R::Response::decode(&mut body, version)
            .map_err(|e| protocol(format!("decode response: {e}")))
    }
}

/// The size a response's length prefix announces, if this client accepts it.
pub(super) fn response_size(announced: i32) -> Result<usize, String> {
    match usize::try_from(announced) {
        Ok(size) if size <= MAX_RESPONSE_BYTES => Ok(size),
        Ok(size) => Err(format!(
            "the response announces {size} bytes, more than the {} MiB this client accepts; the connection is dropped",
            MAX_RESPONSE_BYTES / (1024 * 1024)
        )),
        Err(_) => Err(format!(
            "the response announces a negative size ({announced}); the connection is dropped"
        )),
    }
}
