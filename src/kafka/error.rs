//! Errors of the Kafka client, each mapped to a condition reason a person can act on.

use crate::api::Reason;
use kafka_protocol::ResponseError;

#[derive(Clone, Debug, thiserror::Error)]
pub enum KafkaError {
    /// No bootstrap server answered (refused, timed out, closed the connection).
    #[error("cannot reach Kafka at {servers}: {detail}")]
    Unreachable { servers: String, detail: String },

    /// The operation's deadline passed before any server answered: `tried` names each server
    /// tried, with what it did.
    #[error("no answer from Kafka within {} (tried {tried})", seconds(*within))]
    NoAnswer {
        within: std::time::Duration,
        tried: String,
    },

    /// A write was sent and its answer never came (timeout, broken connection): it may or may
    /// not have taken effect. Never resent as is; Kafka's state is read again first.
    #[error(
        "the answer to {api} was lost ({detail}); Kafka's state is read again before anything is sent"
    )]
    WriteUnconfirmed { api: &'static str, detail: String },

    /// Kafka is connected but did not answer a read in time (overloaded, or a slow network).
    /// Not the same as unreachable: the operator keeps its last good view meanwhile.
    #[error("Kafka is slow: {detail} ({api})")]
    Slow { api: &'static str, detail: String },

    /// This replica is not (or may no longer be) the leader: it sends no Kafka write.
    #[error("not sent: {api} is a write and this replica's lease may have lapsed")]
    NotLeader { api: &'static str },

    /// The TLS handshake failed (untrusted certificate, wrong name, ...).
    #[error("TLS with {addr} failed: {detail}")]
    Tls { addr: String, detail: String },

    /// The brokers do not speak a version of an API we need.
    #[error("Kafka does not support {api} version {wanted} (it offers {offered})")]
    UnsupportedVersion {
        api: &'static str,
        wanted: String,
        offered: String,
    },

    /// Kafka answered with an error code for one resource.
    #[error("{api} for {resource} failed: {code}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Api {
        api: &'static str,
        resource: String,
        code: ResponseError,
        /// Kafka's own message, when it sent one.
        message: Option<String>,
    },

    /// SASL PLAIN without TLS, which the KafkaCluster does not allow: refused before connecting.
    #[error(
        "refused to send the SASL PLAIN password without TLS, where anyone on the network path can read it: use SASL_SSL, or set spec.security.sasl.allowPlaintextPassword: true in the KafkaCluster to accept that"
    )]
    PlaintextPassword,

    /// Kafka sent something we could not encode or decode.
    #[error("Kafka protocol error in {api}: {detail}")]
    Protocol { api: &'static str, detail: String },
}

impl KafkaError {
    /// The condition reason shown to users for this error.
    pub fn reason(&self) -> Reason {
        match self {
            KafkaError::Unreachable { .. } | KafkaError::NoAnswer { .. } => {
                Reason::ClusterUnreachable
            }
            KafkaError::WriteUnconfirmed { .. } => Reason::WriteUnconfirmed,
            KafkaError::Slow { .. } => Reason::KafkaSlow,
            KafkaError::NotLeader { .. } => Reason::NotLeader,
            KafkaError::UnsupportedVersion { .. } => Reason::UnsupportedKafkaVersion,
            KafkaError::Tls { .. } => Reason::TLSFailed,
            KafkaError::PlaintextPassword => Reason::PlaintextPasswordRefused,
            KafkaError::Protocol { .. } => Reason::KafkaError,
            KafkaError::Api { code, .. } => match code {
                ResponseError::InvalidConfig | ResponseError::PolicyViolation => {
                    Reason::InvalidConfig
                }
                ResponseError::InvalidReplicationFactor
                | ResponseError::InvalidReplicaAssignment => Reason::NotEnoughBrokers,
                ResponseError::InvalidPartitions => Reason::InvalidPartitions,
                ResponseError::InvalidTopicException => Reason::InvalidTopicName,
                ResponseError::TopicAuthorizationFailed
                | ResponseError::ClusterAuthorizationFailed => Reason::NotAuthorized,
                ResponseError::SaslAuthenticationFailed
                | ResponseError::UnsupportedSaslMechanism
                | ResponseError::IllegalSaslState => Reason::AuthenticationFailed,
                _ => Reason::KafkaError,
            },
        }
    }

    /// The Kafka error code, for errors Kafka answered with.
    pub fn code(&self) -> Option<ResponseError> {
        match self {
            KafkaError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// True when retrying later may succeed without anyone changing the declaration.
    pub fn is_retriable(&self) -> bool {
        match self {
            KafkaError::Unreachable { .. }
            | KafkaError::NoAnswer { .. }
            | KafkaError::Protocol { .. }
            | KafkaError::WriteUnconfirmed { .. }
            | KafkaError::Slow { .. }
            | KafkaError::NotLeader { .. } => true,
            KafkaError::UnsupportedVersion { .. }
            | KafkaError::Tls { .. }
            | KafkaError::PlaintextPassword => false,
            KafkaError::Api { code, .. } => code.is_retriable(),
        }
    }
}

/// "30 s", "1.5 s": whole seconds unless the duration is not.
pub(crate) fn seconds(d: std::time::Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Turns a response's error code and message into a result.
pub fn check(
    api: &'static str,
    resource: &str,
    code: i16,
    message: Option<&kafka_protocol::protocol::StrBytes>,
) -> Result<(), KafkaError> {
    match ResponseError::try_from_code(code) {
        None => Ok(()),
        Some(code) => Err(KafkaError::Api {
            api,
            resource: resource.to_string(),
            code,
            message: message.map(|m| m.to_string()).filter(|m| !m.is_empty()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_config_keeps_kafkas_message_and_maps_to_invalid_config() {
        let msg = kafka_protocol::protocol::StrBytes::from_string(
            "Invalid value sideways for configuration cleanup.policy".into(),
        );
        let err = check("CreateTopics", "t", 40, Some(&msg)).unwrap_err();
        assert_eq!(err.reason(), "InvalidConfig");
        assert!(err.to_string().contains("Invalid value sideways"), "{err}");
        assert!(!err.is_retriable());
    }

    #[test]
    fn zero_code_is_success() {
        assert!(check("CreateTopics", "t", 0, None).is_ok());
    }
}
