//! TLS and SASL for `plan` and `import`: the same [`Security`] the operator builds from a
//! KafkaCluster's `spec.security` and its Secrets, built here from flags and files instead (the
//! CLI reads no Secrets). A password is never taken on the command line: it comes from a file
//! (`--sasl-password-file`) or from the environment (`KTO_SASL_PASSWORD`). Every setting is
//! checked before anything connects, and no error names a secret's value.

use std::path::{Path, PathBuf};

use crate::api::{SaslMechanismName, SecurityProtocol, SecuritySpec};
use crate::kafka::KafkaError;
use crate::kafka::security::{SaslMechanism, SaslSettings, Security, TlsSettings, TlsSetupError};

/// The environment variable a SASL password may come from (when no `--sasl-password-file`).
pub const PASSWORD_ENV: &str = "KTO_SASL_PASSWORD";

/// Connection security flags shared by `plan` and `import`. Where a flag is left out, the
/// protocol and SASL mechanism of the KafkaCluster file's `spec.security` apply.
#[derive(clap::Args, Clone, Debug, Default)]
#[command(next_help_heading = "Kafka security (TLS, SASL)")]
pub struct SecurityArgs {
    /// PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL (default: the KafkaCluster file's
    /// spec.security.protocol, else PLAINTEXT).
    #[arg(long, value_name = "PROTOCOL", value_parser = parse_protocol)]
    pub security_protocol: Option<SecurityProtocol>,
    /// PEM file with the CA certificate(s) that signed the brokers' certificates (SSL,
    /// SASL_SSL; default: the system's CA certificates).
    #[arg(long, value_name = "FILE")]
    pub tls_ca_file: Option<PathBuf>,
    /// PEM client certificate (chain), for brokers that require mutual TLS; with --tls-key-file.
    #[arg(long, value_name = "FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of --tls-cert-file.
    #[arg(long, value_name = "FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL_PLAINTEXT, SASL_SSL; default: the
    /// KafkaCluster file's spec.security.sasl.mechanism).
    #[arg(long, value_name = "MECHANISM", value_parser = parse_mechanism)]
    pub sasl_mechanism: Option<SaslMechanismName>,
    /// SASL username.
    #[arg(long, value_name = "USER")]
    pub sasl_username: Option<String>,
    /// File whose content is the SASL password (a trailing newline is ignored). Without it the
    /// password comes from $KTO_SASL_PASSWORD. There is no flag taking the password itself.
    #[arg(long, value_name = "FILE")]
    pub sasl_password_file: Option<PathBuf>,
}

fn parse_protocol(s: &str) -> Result<SecurityProtocol, String> {
    match s.to_ascii_uppercase().as_str() {
        "PLAINTEXT" => Ok(SecurityProtocol::Plaintext),
        "SSL" => Ok(SecurityProtocol::Ssl),
        "SASL_PLAINTEXT" => Ok(SecurityProtocol::SaslPlaintext),
        "SASL_SSL" => Ok(SecurityProtocol::SaslSsl),
        _ => {
            Err("unknown security protocol: use PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL".into())
        }
    }
}

fn parse_mechanism(s: &str) -> Result<SaslMechanismName, String> {
    match s.to_ascii_uppercase().as_str() {
        "PLAIN" => Ok(SaslMechanismName::Plain),
        "SCRAM-SHA-256" => Ok(SaslMechanismName::ScramSha256),
        "SCRAM-SHA-512" => Ok(SaslMechanismName::ScramSha512),
        _ => Err("unknown SASL mechanism: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512".into()),
    }
}

fn protocol_name(p: SecurityProtocol) -> &'static str {
    match p {
        SecurityProtocol::Plaintext => "PLAINTEXT",
        SecurityProtocol::Ssl => "SSL",
        SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
        SecurityProtocol::SaslSsl => "SASL_SSL",
    }
}

fn to_mechanism(m: SaslMechanismName) -> SaslMechanism {
    match m {
        SaslMechanismName::Plain => SaslMechanism::Plain,
        SaslMechanismName::ScramSha256 => SaslMechanism::ScramSha256,
        SaslMechanismName::ScramSha512 => SaslMechanism::ScramSha512,
    }
}

/// What is wrong with the security settings; found before connecting. Names flags and files,
/// never a secret's value.
#[derive(Debug, thiserror::Error)]
pub enum SecurityArgsError {
    #[error("reading {flag} {path}: {source}")]
    Read {
        flag: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{flag} {path} is empty")]
    Empty { flag: &'static str, path: String },
    #[error("{flag} {path}: {problem}")]
    Invalid {
        flag: &'static str,
        path: String,
        problem: String,
    },
    #[error(
        "{flag} is for SASL: it needs --security-protocol SASL_PLAINTEXT or SASL_SSL (the protocol is {protocol})"
    )]
    SaslNotUsed {
        flag: &'static str,
        protocol: &'static str,
    },
    #[error(
        "{flag} is for TLS: it needs --security-protocol SSL or SASL_SSL (the protocol is {protocol})"
    )]
    TlsNotUsed {
        flag: &'static str,
        protocol: &'static str,
    },
    #[error(
        "protocol {protocol} needs a SASL mechanism: give --sasl-mechanism PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
    )]
    NoMechanism { protocol: &'static str },
    #[error("SASL {mechanism} needs a username: give --sasl-username")]
    NoUsername { mechanism: &'static str },
    #[error(
        "SASL {mechanism} needs a password: give --sasl-password-file FILE or set {PASSWORD_ENV} (a password is never taken on the command line)"
    )]
    NoPassword { mechanism: &'static str },
    #[error("{PASSWORD_ENV} is not UTF-8 text")]
    PasswordEnvNotText,
    #[error("--tls-cert-file and --tls-key-file go together: give both or neither")]
    CertWithoutKey,
}

fn read_file(flag: &'static str, path: &Path) -> Result<Vec<u8>, SecurityArgsError> {
    let bytes = std::fs::read(path).map_err(|source| SecurityArgsError::Read {
        flag,
        path: path.display().to_string(),
        source,
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(SecurityArgsError::Empty {
            flag,
            path: path.display().to_string(),
        });
    }
    Ok(bytes)
}

/// The connection settings from the flags, the KafkaCluster file's `spec.security` (protocol and
/// mechanism where no flag names them) and the value of $KTO_SASL_PASSWORD (`env_password`).
/// Files are read and PEM is parsed here, so every mistake shows before anything connects.
pub fn resolve(
    args: &SecurityArgs,
    cluster: Option<&SecuritySpec>,
    env_password: Option<std::ffi::OsString>,
) -> Result<Security, SecurityArgsError> {
    let protocol = args
        .security_protocol
        .or(cluster.map(|s| s.protocol))
        .unwrap_or(SecurityProtocol::Plaintext);
    let name = protocol_name(protocol);
    let uses_tls = matches!(protocol, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl);
    let uses_sasl = matches!(
        protocol,
        SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
    );

    let tls_flags = [
        ("--tls-ca-file", args.tls_ca_file.is_some()),
        ("--tls-cert-file", args.tls_cert_file.is_some()),
        ("--tls-key-file", args.tls_key_file.is_some()),
    ];
    let sasl_flags = [
        ("--sasl-mechanism", args.sasl_mechanism.is_some()),
        ("--sasl-username", args.sasl_username.is_some()),
        ("--sasl-password-file", args.sasl_password_file.is_some()),
    ];
    if !uses_tls && let Some((flag, _)) = tls_flags.iter().find(|(_, given)| *given) {
        return Err(SecurityArgsError::TlsNotUsed {
            flag,
            protocol: name,
        });
    }
    if !uses_sasl && let Some((flag, _)) = sasl_flags.iter().find(|(_, given)| *given) {
        return Err(SecurityArgsError::SaslNotUsed {
            flag,
            protocol: name,
        });
    }

    let tls = if uses_tls {
        let mut tls = TlsSettings::default();
        if let Some(path) = &args.tls_ca_file {
            tls.ca_pem = Some(read_file("--tls-ca-file", path)?);
        }
        match (&args.tls_cert_file, &args.tls_key_file) {
            (Some(cert), Some(key)) => {
                tls.client_cert_pem = Some(read_file("--tls-cert-file", cert)?);
                tls.client_key_pem = Some(read_file("--tls-key-file", key)?);
            }
            (None, None) => {}
            _ => return Err(SecurityArgsError::CertWithoutKey),
        }
        Some(tls)
    } else {
        None
    };

    let sasl = if uses_sasl {
        let mechanism_name = args
            .sasl_mechanism
            .or(cluster.and_then(|s| s.sasl.as_ref()).map(|s| s.mechanism))
            .ok_or(SecurityArgsError::NoMechanism { protocol: name })?;
        let mechanism = to_mechanism(mechanism_name);
        let username = args.sasl_username.clone().filter(|u| !u.is_empty()).ok_or(
            SecurityArgsError::NoUsername {
                mechanism: mechanism.kafka_name(),
            },
        )?;
        let password = match &args.sasl_password_file {
            Some(path) => {
                let bytes = read_file("--sasl-password-file", path)?;
                let text = String::from_utf8(bytes).map_err(|_| SecurityArgsError::Invalid {
                    flag: "--sasl-password-file",
                    path: path.display().to_string(),
                    problem: "not UTF-8 text".into(),
                })?;
                text.trim_end_matches(['\n', '\r']).to_string()
            }
            None => env_password
                .filter(|p| !p.is_empty())
                .ok_or(SecurityArgsError::NoPassword {
                    mechanism: mechanism.kafka_name(),
                })?
                .into_string()
                .map_err(|_| SecurityArgsError::PasswordEnvNotText)?,
        };
        Some(SaslSettings {
            mechanism,
            username,
            password,
            allow_plaintext_password: cluster
                .and_then(|s| s.sasl.as_ref())
                .is_some_and(|s| s.allow_plaintext_password),
        })
    } else {
        None
    };

    let security = Security { tls, sasl };
    // Parse the PEM now (the same code the connection uses), not at the first connect.
    if let Err(e) = security.tls_connector() {
        let path = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        return Err(match e {
            TlsSetupError::BadCa => SecurityArgsError::Invalid {
                flag: "--tls-ca-file",
                path: path(&args.tls_ca_file),
                problem: "no valid PEM CA certificate in it".into(),
            },
            TlsSetupError::BadClientCert => SecurityArgsError::Invalid {
                flag: "--tls-cert-file/--tls-key-file",
                path: format!("{} {}", path(&args.tls_cert_file), path(&args.tls_key_file)),
                problem: "not a valid PEM certificate and private key".into(),
            },
            TlsSetupError::Rustls(problem) => SecurityArgsError::Invalid {
                flag: "--tls-cert-file/--tls-key-file",
                path: format!("{} {}", path(&args.tls_cert_file), path(&args.tls_key_file)),
                problem,
            },
        });
    }
    Ok(security)
}

/// A Kafka error as the CLI prints it: an authentication or TLS failure says which settings to
/// check. Never shows the password.
pub fn explain(error: &KafkaError, security: &Security) -> String {
    match (error.reason(), &security.sasl) {
        (crate::api::Reason::AuthenticationFailed, Some(sasl)) => format!(
            "authentication failed for SASL user {:?} with {}: {error} (check --sasl-username, --sasl-mechanism and the password from --sasl-password-file or {PASSWORD_ENV})",
            sasl.username,
            sasl.mechanism.kafka_name()
        ),
        (crate::api::Reason::TLSFailed, _) => {
            let ca = security.tls.as_ref().and_then(|t| t.ca_pem.as_ref());
            format!(
                "{error} ({})",
                if ca.is_some() {
                    "check that --tls-ca-file holds the CA that signed the brokers' certificates"
                } else {
                    "the system's CA certificates were used: give the brokers' CA with --tls-ca-file"
                }
            )
        }
        _ => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "kto-cli-security-{}-{}",
            std::process::id(),
            std::thread::current()
                .name()
                .unwrap_or("t")
                .replace("::", "-")
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn file(name: &str, content: &str) -> PathBuf {
        let path = dir().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    fn sasl_ssl() -> SecurityArgs {
        SecurityArgs {
            security_protocol: Some(SecurityProtocol::SaslSsl),
            sasl_mechanism: Some(SaslMechanismName::ScramSha512),
            sasl_username: Some("kto".into()),
            ..Default::default()
        }
    }

    #[test]
    fn plaintext_by_default() {
        let s = resolve(&SecurityArgs::default(), None, Some("ignored".into())).unwrap();
        assert!(s.tls.is_none() && s.sasl.is_none());
    }

    #[test]
    fn password_from_file_without_its_newline_or_from_the_environment() {
        let args = SecurityArgs {
            sasl_password_file: Some(file("pw", "s3cret\n")),
            ..sasl_ssl()
        };
        let s = resolve(&args, None, Some("from-env".into())).unwrap();
        let sasl = s.sasl.unwrap();
        assert_eq!(
            (
                sasl.mechanism,
                sasl.username.as_str(),
                sasl.password.as_str()
            ),
            (SaslMechanism::ScramSha512, "kto", "s3cret")
        );
        assert!(s.tls.is_some());
        let s = resolve(&sasl_ssl(), None, Some("from-env".into())).unwrap();
        assert_eq!(s.sasl.unwrap().password, "from-env");
    }

    #[test]
    fn protocol_and_mechanism_default_to_the_cluster_files() {
        let spec: SecuritySpec = serde_json::from_value(serde_json::json!({
            "protocol": "SASL_PLAINTEXT",
            "sasl": {"mechanism": "SCRAM-SHA-256", "credentialsSecretRef": {"name": "u"}}
        }))
        .unwrap();
        let args = SecurityArgs {
            sasl_username: Some("kto".into()),
            ..Default::default()
        };
        let s = resolve(&args, Some(&spec), Some("pw".into())).unwrap();
        assert!(s.tls.is_none());
        assert_eq!(s.sasl.unwrap().mechanism, SaslMechanism::ScramSha256);
        // A flag overrides the file.
        let args = SecurityArgs {
            security_protocol: Some(SecurityProtocol::Plaintext),
            ..Default::default()
        };
        assert!(resolve(&args, Some(&spec), None).unwrap().sasl.is_none());
    }

    #[test]
    fn bad_combinations_are_refused_by_name() {
        let err = |args: SecurityArgs, env: Option<&str>| {
            resolve(&args, None, env.map(Into::into))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(sasl_ssl(), None),
            "SASL SCRAM-SHA-512 needs a password: give --sasl-password-file FILE or set KTO_SASL_PASSWORD (a password is never taken on the command line)"
        );
        assert!(
            err(
                SecurityArgs {
                    sasl_username: None,
                    ..sasl_ssl()
                },
                Some("pw")
            )
            .contains("needs a username: give --sasl-username")
        );
        assert!(
            err(
                SecurityArgs {
                    sasl_mechanism: None,
                    ..sasl_ssl()
                },
                Some("pw")
            )
            .contains("protocol SASL_SSL needs a SASL mechanism")
        );
        assert!(
            err(
                SecurityArgs {
                    sasl_mechanism: Some(SaslMechanismName::Plain),
                    ..Default::default()
                },
                None
            )
            .starts_with("--sasl-mechanism is for SASL")
        );
        assert!(
            err(
                SecurityArgs {
                    security_protocol: Some(SecurityProtocol::SaslPlaintext),
                    tls_ca_file: Some("/ca.pem".into()),
                    ..sasl_ssl()
                },
                Some("pw")
            )
            .starts_with("--tls-ca-file is for TLS")
        );
        let missing = err(
            SecurityArgs {
                sasl_password_file: Some("/nonexistent/pw".into()),
                ..sasl_ssl()
            },
            None,
        );
        assert!(
            missing.starts_with("reading --sasl-password-file /nonexistent/pw: "),
            "{missing}"
        );
        assert!(
            err(
                SecurityArgs {
                    tls_ca_file: Some(file("ca.pem", "not a certificate")),
                    ..sasl_ssl()
                },
                Some("pw")
            )
            .contains("no valid PEM CA certificate")
        );
        assert!(
            err(
                SecurityArgs {
                    security_protocol: Some(SecurityProtocol::Ssl),
                    tls_cert_file: Some("/c.pem".into()),
                    ..Default::default()
                },
                None
            )
            .contains("go together")
        );
        assert!(
            err(
                SecurityArgs {
                    sasl_password_file: Some(file("empty", "\n")),
                    ..sasl_ssl()
                },
                None
            )
            .ends_with("is empty")
        );
        assert!(parse_protocol("SASL_TLS").is_err());
        assert_eq!(parse_protocol("sasl_ssl"), Ok(SecurityProtocol::SaslSsl));
        assert!(parse_mechanism("GSSAPI").is_err());
    }

    #[test]
    fn an_authentication_failure_names_the_user_not_the_password() {
        let security = Security {
            tls: None,
            sasl: Some(SaslSettings {
                mechanism: SaslMechanism::ScramSha512,
                username: "kto".into(),
                password: "hunter2".into(),
                allow_plaintext_password: false,
            }),
        };
        let error = KafkaError::Api {
            api: "SaslAuthenticate",
            resource: "SASL".into(),
            code: kafka_protocol::ResponseError::SaslAuthenticationFailed,
            message: Some("invalid credentials".into()),
        };
        let text = explain(&error, &security);
        assert!(
            text.starts_with("authentication failed for SASL user \"kto\" with SCRAM-SHA-512"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
    }
}
