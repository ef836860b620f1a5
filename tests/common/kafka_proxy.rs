//! A TCP proxy in front of one Kafka broker that reads the requests passing through it. It keeps
//! a log of every write request (which connection, when it went on to Kafka, the topic configs it
//! sets) and can hold the writes of the connections open at a given moment for a while before
//! passing them on: a slow network, or a slow broker, between one operator process and Kafka.
//! The log is the Kafka-side evidence of who wrote what, in which order.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, IncrementalAlterConfigsRequest, RequestHeader};
use kafka_protocol::protocol::Decodable;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One write request passed on to Kafka.
#[derive(Clone, Debug)]
pub struct Forwarded {
    /// Connections are numbered in the order the proxy accepted them.
    pub connection: u64,
    pub api: ApiKey,
    /// When the proxy passed it on (after any hold).
    pub at: Instant,
    /// IncrementalAlterConfigs: the `key=value` pairs it sets (empty for other writes).
    pub sets: Vec<String>,
}

/// Requests that change Kafka (IncrementalAlterConfigs only when not validate-only).
const WRITES: [ApiKey; 6] = [
    ApiKey::CreateTopics,
    ApiKey::CreatePartitions,
    ApiKey::IncrementalAlterConfigs,
    ApiKey::DeleteTopics,
    ApiKey::AlterPartitionReassignments,
    ApiKey::ElectLeaders,
];

#[derive(Default)]
struct Shared {
    log: Mutex<Vec<Forwarded>>,
    next_connection: AtomicU64,
    /// Writes of connections numbered below the first are held for the second.
    hold: Mutex<Option<(u64, Duration)>>,
    held_now: AtomicUsize,
}

pub struct KafkaProxy {
    pub addr: std::net::SocketAddr,
    shared: Arc<Shared>,
}

impl KafkaProxy {
    pub async fn start(target: String) -> KafkaProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let accepting = shared.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let connection = accepting.next_connection.fetch_add(1, Ordering::SeqCst);
                let (shared, target) = (accepting.clone(), target.clone());
                tokio::spawn(async move {
                    if let Ok(outbound) = TcpStream::connect(&target).await {
                        relay(connection, inbound, outbound, shared).await;
                    }
                });
            }
        });
        KafkaProxy { addr, shared }
    }

    /// From now on, the writes of every connection open now are held `hold` before they go on.
    /// Returns the first connection number that is not held.
    pub fn hold_open_connections(&self, hold: Duration) -> u64 {
        let first_free = self.shared.next_connection.load(Ordering::SeqCst);
        *self.shared.hold.lock().unwrap() = Some((first_free, hold));
        first_free
    }

    /// Writes being held right now.
    pub fn held_now(&self) -> usize {
        self.shared.held_now.load(Ordering::SeqCst)
    }

    pub fn log(&self) -> Vec<Forwarded> {
        self.shared.log.lock().unwrap().clone()
    }

    /// The connections that sent writes.
    pub fn writers(&self) -> BTreeSet<u64> {
        self.log().iter().map(|f| f.connection).collect()
    }
}

/// Client to Kafka frame by frame (reading each request's header), Kafka to client as it comes.
async fn relay(connection: u64, inbound: TcpStream, outbound: TcpStream, shared: Arc<Shared>) {
    let (mut from_client, mut to_client) = inbound.into_split();
    let (mut from_kafka, mut to_kafka) = outbound.into_split();
    let answers = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_kafka, &mut to_client).await;
    });
    loop {
        let mut size = [0u8; 4];
        if from_client.read_exact(&mut size).await.is_err() {
            break;
        }
        let mut frame = vec![0u8; i32::from_be_bytes(size).max(0) as usize];
        if from_client.read_exact(&mut frame).await.is_err() {
            break;
        }
        if let Some((api, sets)) = write_request(&frame) {
            let hold = *shared.hold.lock().unwrap();
            if let Some((first_free, hold)) = hold
                && connection < first_free
            {
                shared.held_now.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(hold).await;
                shared.held_now.fetch_sub(1, Ordering::SeqCst);
            }
            shared.log.lock().unwrap().push(Forwarded {
                connection,
                api,
                at: Instant::now(),
                sets,
            });
        }
        if to_kafka.write_all(&size).await.is_err() || to_kafka.write_all(&frame).await.is_err() {
            break;
        }
    }
    answers.abort();
}

/// The API of a request that changes Kafka, with the configs an IncrementalAlterConfigs sets;
/// None for reads (and validate-only requests).
fn write_request(frame: &[u8]) -> Option<(ApiKey, Vec<String>)> {
    let key = i16::from_be_bytes([*frame.first()?, *frame.get(1)?]);
    let version = i16::from_be_bytes([*frame.get(2)?, *frame.get(3)?]);
    let api = ApiKey::try_from(key).ok()?;
    if !WRITES.contains(&api) {
        return None;
    }
    if api != ApiKey::IncrementalAlterConfigs {
        return Some((api, vec![]));
    }
    let mut body = Bytes::copy_from_slice(frame);
    RequestHeader::decode(&mut body, api.request_header_version(version)).ok()?;
    let request = IncrementalAlterConfigsRequest::decode(&mut body, version).ok()?;
    if request.validate_only {
        return None;
    }
    let sets = request
        .resources
        .iter()
        .flat_map(|r| &r.configs)
        .filter_map(|c| {
            Some(format!(
                "{}={}",
                c.name.as_str(),
                c.value.as_ref()?.as_str()
            ))
        })
        .collect();
    Some((api, sets))
}
