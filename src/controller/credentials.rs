//! Resolves a KafkaCluster's `spec.security` into connection settings, reading the Secrets it
//! names from the KafkaCluster's namespace. Errors name Secrets and keys, never their values.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};

use crate::api::{SaslMechanismName, SecurityProtocol, SecuritySpec};
use crate::kafka::security::{SaslMechanism, SaslSettings, Security, TlsSettings};

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("Secret {namespace}/{name} not found")]
    SecretNotFound { namespace: String, name: String },
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
