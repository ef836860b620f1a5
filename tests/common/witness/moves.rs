//! Whether Kafka moves a topic's replicas, asked directly over the Kafka protocol.

#[allow(unused_imports)]
use super::super::*;
use super::*;

/// One request over the Kafka protocol to `addr` (plain TCP, blocking): milliseconds.
pub(super) fn kafka_call_to<R: Request>(
    addr: &str,
    request: &R,
    version: i16,
) -> Result<R::Response, String> {
    use std::io::{Read, Write};
    let socket: std::net::SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    let mut stream = std::net::TcpStream::connect_timeout(&socket, Duration::from_secs(5))
        .map_err(|e| format!("{addr}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .and_then(|_| stream.set_write_timeout(Some(Duration::from_secs(30))))
        .map_err(|e| format!("{addr}: {e}"))?;
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .with_client_id(Some(StrBytes::from_static_str("kto-test-witness")));
    let mut frame = BytesMut::with_capacity(64);
    frame.extend_from_slice(&[0, 0, 0, 0]);
    header
        .encode(&mut frame, R::header_version(version))
        .and_then(|_| request.encode(&mut frame, version))
        .map_err(|e| format!("encode: {e}"))?;
    let len = (frame.len() - 4) as i32;
    frame[0..4].copy_from_slice(&len.to_be_bytes());
    stream
        .write_all(&frame)
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut size = [0u8; 4];
    stream
        .read_exact(&mut size)
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut body = vec![0u8; i32::from_be_bytes(size).max(0) as usize];
    stream
        .read_exact(&mut body)
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut body = Bytes::from(body);
    ResponseHeader::decode(&mut body, R::Response::header_version(version))
        .and_then(|_| R::Response::decode(&mut body, version))
        .map_err(|e| format!("decode: {e}"))
}

/// Partitions of `topic` that Kafka is moving now: ListPartitionReassignments (v0, the request
/// `kafka-reassign-partitions --list` sends) to the first bootstrap server that answers.
/// Retries for 30 seconds (a broker or the controller may just have been killed).
pub fn moving_partitions_of(topic: &str) -> usize {
    let request = ListPartitionReassignmentsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(None);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut errors = vec![];
    loop {
        for addr in bootstrap_list() {
            match kafka_call_to(&addr, &request, 0) {
                Ok(r) if r.error_code == 0 => {
                    return r
                        .topics
                        .iter()
                        .filter(|t| t.name.0.to_string() == topic)
                        .map(|t| t.partitions.len())
                        .sum();
                }
                Ok(r) => errors.push(format!(
                    "{addr}: error {} {:?}",
                    r.error_code, r.error_message
                )),
                Err(e) => errors.push(e),
            }
        }
        assert!(
            Instant::now() < deadline,
            "ListPartitionReassignments failed for 30 s: {:?}",
            &errors[errors.len().saturating_sub(6)..]
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Follows a topic's replica move as Kafka reports it. A sample taken between two looks that
/// both saw the move is "during the move"; the acknowledged counts at the first and last look
/// that saw it bound the traffic that overlapped it.
pub struct MoveWatch<S> {
    topic: String,
    moving_now: bool,
    pending: Vec<S>,
    /// Samples taken while Kafka moved the topic's replicas (confirmed by the next look).
    pub during: Vec<S>,
    /// Witness acknowledgements at the first and the last look that saw the move.
    pub first_seen: Option<(Instant, u64)>,
    pub last_seen: Option<(Instant, u64)>,
    /// Most partitions seen moving at once.
    pub max_moving: usize,
    /// The move was seen and then seen finished.
    pub ended: bool,
}

impl<S> MoveWatch<S> {
    pub fn new(topic: &str) -> Self {
        MoveWatch {
            topic: topic.to_string(),
            moving_now: false,
            pending: vec![],
            during: vec![],
            first_seen: None,
            last_seen: None,
            max_moving: 0,
            ended: false,
        }
    }

    /// Looks whether Kafka moves the topic's replicas now; returns how many partitions move.
    pub fn look(&mut self, acked: u64) -> usize {
        let moving = moving_partitions_of(&self.topic);
        self.max_moving = self.max_moving.max(moving);
        if moving > 0 {
            let now = (Instant::now(), acked);
            self.first_seen.get_or_insert(now);
            self.last_seen = Some(now);
            if self.moving_now {
                self.during.append(&mut self.pending);
            }
            self.pending.clear();
            self.moving_now = true;
        } else {
            self.pending.clear();
            self.moving_now = false;
            if self.first_seen.is_some() {
                self.ended = true;
            }
        }
        moving
    }

    /// Whether the last look saw the move.
    pub fn look_saw_move(&self) -> bool {
        self.moving_now
    }

    /// Records a sample; it counts as taken during the move if the looks before and after it
    /// both saw the move. Returns whether the last look saw the move.
    pub fn sample(&mut self, s: S) -> bool {
        if self.moving_now {
            self.pending.push(s);
        }
        self.moving_now
    }

    /// Records acknowledged between the first and the last look that saw the move.
    pub fn acked_during(&self) -> u64 {
        match (self.first_seen, self.last_seen) {
            (Some((_, a)), Some((_, b))) => b - a,
            _ => 0,
        }
    }

    /// How long the move was seen in progress.
    pub fn seen_for(&self) -> Duration {
        match (self.first_seen, self.last_seen) {
            (Some((a, _)), Some((b, _))) => b - a,
            _ => Duration::ZERO,
        }
    }

    /// Asserts that the move was seen in progress long enough to overlap the traffic, with
    /// `min_samples` samples taken during it.
    pub fn assert_overlapped(&self, min_samples: usize) {
        assert!(
            self.first_seen.is_some(),
            "{}: Kafka was never seen moving the topic's replicas",
            self.topic
        );
        assert!(
            self.acked_during() >= MIN_DURING_MOVE,
            "{}: only {} records were acknowledged while the move was seen in progress ({:?}); the move must overlap at least {MIN_DURING_MOVE}",
            self.topic,
            self.acked_during(),
            self.seen_for()
        );
        assert!(
            self.during.len() >= min_samples,
            "{}: {} samples were taken during the move, {min_samples} needed",
            self.topic,
            self.during.len()
        );
    }
}
