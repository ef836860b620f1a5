//! Resolves a KafkaCluster's `spec.security` into connection settings, reading the Secrets it
//! names from the KafkaCluster's namespace. Errors name Secrets and keys, never their values.
//!
//! Only Secrets labelled [`CREDENTIALS_LABEL`]`: "true"` are used. Whoever may create a
//! KafkaCluster may name any Secret of its namespace, and need not be allowed to read Secrets:
//! without the label, a KafkaCluster pointing at a listener of its author's own would have the
//! operator send that listener another application's password. The label is the consent of the
//! Secret's owner; Kubernetes RBAC cannot select Secrets by label, so the operator checks it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};

use crate::api::{Reason, SaslMechanismName, SecurityProtocol, SecuritySpec};
use crate::kafka::security::{SaslMechanism, SaslSettings, Security, TlsSettings};

/// The label, with the value `"true"`, by which a Secret's owner lets KafkaClusters of its
/// namespace use it for their connections to Kafka.
pub const CREDENTIALS_LABEL: &str = "kafka.topic-operator.dev/credentials";

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("Secret {namespace}/{name} not found")]
    SecretNotFound { namespace: String, name: String },
    #[error(
        "Secret {namespace}/{name} is not labelled {label}=\"true\", so the operator does not use it: the label says that the Secret's owner lets KafkaClusters use it. If so, label it: kubectl label secret {name} -n {namespace} {label}=true",
        label = CREDENTIALS_LABEL
    )]
    NotOptedIn { namespace: String, name: String },
    #[error("Secret {namespace}/{name} has no key {key}")]
    KeyMissing {
        namespace: String,
        name: String,
        key: String,
    },
    #[error("Secret {namespace}/{name} key {key} is not UTF-8 text")]
    NotText {
        namespace: String,
        name: String,
        key: String,
    },
    #[error("security.sasl is required with protocol {0:?}")]
    SaslMissing(SecurityProtocol),
    #[error("reading Secret {namespace}/{name}: {source}")]
    Kube {
        namespace: String,
        name: String,
        source: kube::Error,
    },
}

impl CredentialsError {
    /// The reason the KafkaCluster's Ready condition gives.
    pub fn reason(&self) -> Reason {
        match self {
            CredentialsError::NotOptedIn { .. } => Reason::SecretNotOptedIn,
            _ => Reason::InvalidSecurity,
        }
    }
}

/// Whether a Secret's owner lets KafkaClusters use it (its labels carry the opt-in).
pub fn opted_in(labels: Option<&BTreeMap<String, String>>) -> bool {
    labels
        .and_then(|l| l.get(CREDENTIALS_LABEL))
        .is_some_and(|v| v == "true")
}

struct Secrets<'a> {
    api: Api<Secret>,
    namespace: &'a str,
    cache: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
}

impl Secrets<'_> {
    async fn key(&mut self, name: &str, key: &str) -> Result<Vec<u8>, CredentialsError> {
        if !self.cache.contains_key(name) {
            let secret = self
                .api
                .get_opt(name)
                .await
                .map_err(|source| CredentialsError::Kube {
                    namespace: self.namespace.into(),
                    name: name.into(),
                    source,
                })?
                .ok_or_else(|| CredentialsError::SecretNotFound {
                    namespace: self.namespace.into(),
                    name: name.into(),
                })?;
            // Checked before any of its data is taken: an unlabelled Secret's values reach
            // nothing, not even the cache.
            if !opted_in(secret.metadata.labels.as_ref()) {
                return Err(CredentialsError::NotOptedIn {
                    namespace: self.namespace.into(),
                    name: name.into(),
                });
            }
            let data = secret
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect();
            self.cache.insert(name.to_string(), data);
        }
        self.cache[name]
            .get(key)
            .cloned()
            .ok_or_else(|| CredentialsError::KeyMissing {
                namespace: self.namespace.into(),
                name: name.into(),
                key: key.into(),
            })
    }

    async fn text(&mut self, name: &str, key: &str) -> Result<String, CredentialsError> {
        String::from_utf8(self.key(name, key).await?)
            .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
            .map_err(|_| CredentialsError::NotText {
                namespace: self.namespace.into(),
                name: name.into(),
                key: key.into(),
            })
    }
}

pub async fn resolve(
    client: &Client,
    namespace: &str,
    spec: Option<&SecuritySpec>,
) -> Result<Security, CredentialsError> {
    let Some(spec) = spec else {
        return Ok(Security::plaintext());
    };
    let mut secrets = Secrets {
        api: Api::namespaced(client.clone(), namespace),
        namespace,
        cache: BTreeMap::new(),
    };
    let tls = match spec.protocol {
        SecurityProtocol::Ssl | SecurityProtocol::SaslSsl => {
            let mut tls = TlsSettings::default();
            if let Some(t) = &spec.tls {
                if let Some(ca) = &t.ca_secret_ref {
                    tls.ca_pem = Some(secrets.key(&ca.name, &ca.key).await?);
                }
                if let Some(cert) = &t.client_cert_secret_ref {
                    tls.client_cert_pem = Some(secrets.key(&cert.name, "tls.crt").await?);
                    tls.client_key_pem = Some(secrets.key(&cert.name, "tls.key").await?);
                }
            }
            Some(tls)
        }
        _ => None,
    };
    let sasl = match spec.protocol {
        SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl => {
            let s = spec
                .sasl
                .as_ref()
                .ok_or(CredentialsError::SaslMissing(spec.protocol))?;
            Some(SaslSettings {
                mechanism: match s.mechanism {
                    SaslMechanismName::Plain => SaslMechanism::Plain,
                    SaslMechanismName::ScramSha256 => SaslMechanism::ScramSha256,
                    SaslMechanismName::ScramSha512 => SaslMechanism::ScramSha512,
                },
                username: secrets
                    .text(&s.credentials_secret_ref.name, "username")
                    .await?,
                password: secrets
                    .text(&s.credentials_secret_ref.name, "password")
                    .await?,
                allow_plaintext_password: s.allow_plaintext_password,
            })
        }
        _ => None,
    };
    Ok(Security { tls, sasl })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn only_a_secret_labelled_true_is_opted_in() {
        assert!(opted_in(Some(&labels(&[(CREDENTIALS_LABEL, "true")]))));
        assert!(!opted_in(None));
        assert!(!opted_in(Some(&labels(&[]))));
        assert!(!opted_in(Some(&labels(&[(CREDENTIALS_LABEL, "false")]))));
        assert!(!opted_in(Some(&labels(&[(CREDENTIALS_LABEL, "")]))));
        assert!(!opted_in(Some(&labels(&[("app", "true")]))));
    }

    #[test]
    fn an_unlabelled_secret_is_refused_by_its_own_reason_naming_the_secret_and_the_label() {
        let error = CredentialsError::NotOptedIn {
            namespace: "team-a".into(),
            name: "payments-db".into(),
        };
        assert_eq!(error.reason(), Reason::SecretNotOptedIn);
        let message = error.to_string();
        assert!(message.contains("Secret team-a/payments-db"), "{message}");
        assert!(
            message.contains(&format!(
                "kubectl label secret payments-db -n team-a {CREDENTIALS_LABEL}=true"
            )),
            "{message}"
        );
        let missing = CredentialsError::SecretNotFound {
            namespace: "team-a".into(),
            name: "x".into(),
        };
        assert_eq!(missing.reason(), Reason::InvalidSecurity);
    }
}
