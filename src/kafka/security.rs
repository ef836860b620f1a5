//! How to talk to Kafka securely: TLS (with a CA and optionally a client certificate) and SASL
//! (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), resolved from the KafkaCluster's Secrets. Secret
//! material never appears in Debug output or logs, and neither does the SASL user.

use std::fmt;
use std::sync::Arc;

use ring::digest;

use super::error::KafkaError;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl SaslMechanism {
    pub fn kafka_name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

#[derive(Clone, Default)]
pub struct TlsSettings {
    /// PEM CA certificates to trust; None: the system's roots.
    pub ca_pem: Option<Vec<u8>>,
    /// PEM client certificate chain and key, for mutual TLS.
    pub client_cert_pem: Option<Vec<u8>>,
    pub client_key_pem: Option<Vec<u8>>,
}

#[derive(Clone)]
pub struct SaslSettings {
    pub mechanism: SaslMechanism,
    pub username: String,
    pub password: String,
    /// PLAIN without TLS is allowed: the KafkaCluster accepts that its password crosses the
    /// network as is (`spec.security.sasl.allowPlaintextPassword`).
    pub allow_plaintext_password: bool,
}

/// Everything about a connection besides the addresses.
#[derive(Clone, Default)]
pub struct Security {
    pub tls: Option<TlsSettings>,
    pub sasl: Option<SaslSettings>,
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Security")
            .field(
                "tls",
                &self
                    .tls
                    .as_ref()
                    .map(|t| (t.ca_pem.is_some(), t.client_cert_pem.is_some())),
            )
            .field(
                "sasl",
                &self
                    .sasl
                    .as_ref()
                    .map(|s| (s.mechanism, "<user and password redacted>")),
            )
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("the CA certificate is not valid PEM")]
    BadCa,
    #[error("the client certificate or key is not valid PEM")]
    BadClientCert,
    #[error("TLS set-up failed: {0}")]
    Rustls(String),
}

impl Security {
    pub fn plaintext() -> Self {
        Security::default()
    }

    /// SASL PLAIN sends the password itself; without TLS anyone on the path reads it. Refused
    /// unless the KafkaCluster says it accepts that (a lab, or a network encrypted below TCP).
    pub fn refuse_plaintext_password(&self) -> Result<(), KafkaError> {
        match &self.sasl {
            Some(sasl)
                if sasl.mechanism == SaslMechanism::Plain
                    && self.tls.is_none()
                    && !sasl.allow_plaintext_password =>
            {
                Err(KafkaError::PlaintextPassword)
            }
            _ => Ok(()),
        }
    }

    /// A digest of the settings (secrets included, never shown): a change restarts the client.
    pub fn fingerprint(&self) -> String {
        let mut ctx = digest::Context::new(&digest::SHA256);
        if let Some(t) = &self.tls {
            ctx.update(b"tls");
            for part in [&t.ca_pem, &t.client_cert_pem, &t.client_key_pem] {
                ctx.update(part.as_deref().unwrap_or(b"-"));
                ctx.update(b"\0");
            }
        }
        if let Some(s) = &self.sasl {
            ctx.update(s.mechanism.kafka_name().as_bytes());
            ctx.update(b"\0");
            ctx.update(s.username.as_bytes());
            ctx.update(b"\0");
            ctx.update(s.password.as_bytes());
        }
        ctx.finish()
            .as_ref()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The rustls client config, when TLS is on.
    pub fn tls_connector(&self) -> Result<Option<tokio_rustls::TlsConnector>, TlsSetupError> {
        let Some(tls) = &self.tls else {
            return Ok(None);
        };
        let mut roots = rustls::RootCertStore::empty();
        match &tls.ca_pem {
            Some(pem) => {
                let certs: Vec<CertificateDer> = CertificateDer::pem_slice_iter(pem)
                    .collect::<Result<_, _>>()
                    .map_err(|_| TlsSetupError::BadCa)?;
                if certs.is_empty() {
                    return Err(TlsSetupError::BadCa);
                }
                for c in certs {
                    roots.add(c).map_err(|_| TlsSetupError::BadCa)?;
                }
            }
            None => {
                for c in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(c);
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsSetupError::Rustls(e.to_string()))?
            .with_root_certificates(roots);
        let config = match (&tls.client_cert_pem, &tls.client_key_pem) {
            (Some(cert), Some(key)) => {
                let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
                    .collect::<Result<_, _>>()
                    .map_err(|_| TlsSetupError::BadClientCert)?;
                let key =
                    PrivateKeyDer::from_pem_slice(key).map_err(|_| TlsSetupError::BadClientCert)?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| TlsSetupError::Rustls(e.to_string()))?
            }
            _ => builder.with_no_client_auth(),
        };
        Ok(Some(tokio_rustls::TlsConnector::from(Arc::new(config))))
    }
}

/// The TLS server name for `host:port` (an IP address or a DNS name).
pub fn server_name(addr: &str) -> Option<ServerName<'static>> {
    let (host, _) = super::address::split_host_port(addr)?;
    ServerName::try_from(host.to_string()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_password() {
        let s = Security {
            tls: None,
            sasl: Some(SaslSettings {
                mechanism: SaslMechanism::ScramSha512,
                username: "kto-user".into(),
                password: "hunter2-secret".into(),
                allow_plaintext_password: false,
            }),
        };
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("hunter2-secret")
                && !shown.contains("kto-user")
                && shown.contains("ScramSha512"),
            "{shown}"
        );
        let other = Security {
            sasl: Some(SaslSettings {
                password: "other".into(),
                ..s.sasl.clone().unwrap()
            }),
            ..s.clone()
        };
        assert_ne!(s.fingerprint(), other.fingerprint());
        assert!(!s.fingerprint().contains("hunter2"));
    }

    #[test]
    fn a_plain_password_without_tls_is_refused_unless_allowed() {
        let plain = |tls: Option<TlsSettings>, mechanism, allowed| Security {
            tls,
            sasl: Some(SaslSettings {
                mechanism,
                username: "u".into(),
                password: "p".into(),
                allow_plaintext_password: allowed,
            }),
        };
        let refused = plain(None, SaslMechanism::Plain, false)
            .refuse_plaintext_password()
            .unwrap_err();
        assert_eq!(
            refused.reason(),
            crate::api::Reason::PlaintextPasswordRefused
        );
        assert!(
            refused.to_string().contains("allowPlaintextPassword"),
            "{refused}"
        );
        assert!(!refused.is_retriable());
        for fine in [
            plain(None, SaslMechanism::Plain, true),
            plain(Some(TlsSettings::default()), SaslMechanism::Plain, false),
            plain(None, SaslMechanism::ScramSha256, false),
            Security::plaintext(),
        ] {
            assert!(fine.refuse_plaintext_password().is_ok(), "{fine:?}");
        }
    }

    #[test]
    fn server_names_from_addresses() {
        assert!(matches!(
            server_name("127.0.0.1:9093"),
            Some(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            server_name("kafka-0.kafka:9093"),
            Some(ServerName::DnsName(_))
        ));
        assert!(matches!(
            server_name("[fd00::1]:9093"),
            Some(ServerName::IpAddress(_))
        ));
    }
}
