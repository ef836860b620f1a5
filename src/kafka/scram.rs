//! SCRAM client (RFC 5802 / RFC 7677) for Kafka's SCRAM-SHA-256 and SCRAM-SHA-512, on ring's
//! HMAC and PBKDF2.
//!
//! The server chooses the PBKDF2 iteration count, so a hostile or misconfigured peer chooses how
//! much work the client does and how hard the client's proof is to crack. The count is checked
//! against [`MIN_ITERATIONS`]..=[`MAX_ITERATIONS`] before any work, and the derivation runs on
//! tokio's blocking pool: the async workers also renew the leader's Lease.

use std::num::NonZeroU32;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::{digest, hmac, pbkdf2};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScramHash {
    Sha256,
    Sha512,
}

impl ScramHash {
    fn hmac(self) -> hmac::Algorithm {
        match self {
            ScramHash::Sha256 => hmac::HMAC_SHA256,
            ScramHash::Sha512 => hmac::HMAC_SHA512,
        }
    }
    fn pbkdf2(self) -> pbkdf2::Algorithm {
        match self {
            ScramHash::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            ScramHash::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }
    fn digest(self) -> &'static digest::Algorithm {
        match self {
            ScramHash::Sha256 => &digest::SHA256,
            ScramHash::Sha512 => &digest::SHA512,
        }
    }
    fn len(self) -> usize {
        self.digest().output_len()
    }
}

/// RFC 7677's minimum. Fewer iterations make the proof a listener on a SASL_PLAINTEXT
/// connection captures cheap to crack offline (i=1 is one HMAC per password guess).
pub const MIN_ITERATIONS: u32 = 4096;
/// Kafka itself refuses to store SCRAM credentials with more than 16384 iterations, so no Kafka
/// broker offers more: a higher count comes from something that is not Kafka. At this count one
/// derivation takes milliseconds; at the 2^32-1 a peer could ask for, hours of a CPU.
pub const MAX_ITERATIONS: u32 = 16384;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScramError {
    #[error("malformed SCRAM server message")]
    Malformed,
    #[error("the server's nonce does not extend ours")]
    NonceMismatch,
    #[error(
        "the server's signature is wrong: it does not know the password (or is not the server)"
    )]
    BadServerSignature,
    #[error("the server refused: {0}")]
    ServerError(String),
    #[error(
        "the server asked for {count} SCRAM iterations; only {min}..={max} are accepted (fewer make the proof easy to crack, more cost the operator's CPU; Kafka itself allows at most {max})",
        min = MIN_ITERATIONS,
        max = MAX_ITERATIONS
    )]
    IterationsOutOfBounds { count: u32 },
    #[error("the SCRAM key derivation did not finish: {0}")]
    Derivation(String),
}

/// One SCRAM exchange: client-first, then client-final from the server-first, then a check of
/// the server-final.
pub struct ScramClient {
    hash: ScramHash,
    username: String,
    password: String,
    nonce: String,
    auth_message: String,
    server_signature: Vec<u8>,
}

fn escape(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

fn attribute(message: &str, key: char) -> Option<&str> {
    message
        .split(',')
        .find_map(|part| part.strip_prefix(key)?.strip_prefix('='))
}

impl ScramClient {
    pub fn new(hash: ScramHash, username: &str, password: &str, nonce: String) -> Self {
        ScramClient {
            hash,
            username: username.into(),
            password: password.into(),
            nonce,
            auth_message: String::new(),
            server_signature: vec![],
        }
    }

    /// A client with a random nonce.
    pub fn with_random_nonce(hash: ScramHash, username: &str, password: &str) -> Self {
        use ring::rand::SecureRandom;
        let mut bytes = [0u8; 24];
        ring::rand::SystemRandom::new()
            .fill(&mut bytes)
            .expect("the system RNG works");
        Self::new(hash, username, password, B64.encode(bytes))
    }

    fn client_first_bare(&self) -> String {
        format!("n={},r={}", escape(&self.username), self.nonce)
    }

    pub fn client_first(&self) -> String {
        format!("n,,{}", self.client_first_bare())
    }

    /// The client-final message for the server-first one. The iteration count is checked first;
    /// PBKDF2 then runs on the blocking pool, never on an async worker.
    pub async fn client_final(&mut self, server_first: &str) -> Result<String, ScramError> {
        let nonce = attribute(server_first, 'r').ok_or(ScramError::Malformed)?;
        if !nonce.starts_with(&self.nonce) {
            return Err(ScramError::NonceMismatch);
        }
        let salt = B64
            .decode(attribute(server_first, 's').ok_or(ScramError::Malformed)?)
            .map_err(|_| ScramError::Malformed)?;
        let count: u32 = attribute(server_first, 'i')
            .and_then(|i| i.parse().ok())
            .ok_or(ScramError::Malformed)?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&count) {
            return Err(ScramError::IterationsOutOfBounds { count });
        }
        let iterations = NonZeroU32::new(count).ok_or(ScramError::Malformed)?;
        let (hash, password) = (self.hash, self.password.clone());
        let salted = tokio::task::spawn_blocking(move || {
            let mut salted = vec![0u8; hash.len()];
            pbkdf2::derive(
                hash.pbkdf2(),
                iterations,
                &salt,
                password.as_bytes(),
                &mut salted,
            );
            salted
        })
        .await
        .map_err(|e| ScramError::Derivation(e.to_string()))?;
        let salted_key = hmac::Key::new(self.hash.hmac(), &salted);
        let client_key = hmac::sign(&salted_key, b"Client Key");
        let stored_key = digest::digest(self.hash.digest(), client_key.as_ref());
        let without_proof = format!("c=biws,r={nonce}");
        self.auth_message = format!(
            "{},{server_first},{without_proof}",
            self.client_first_bare()
        );
        let client_signature = hmac::sign(
            &hmac::Key::new(self.hash.hmac(), stored_key.as_ref()),
            self.auth_message.as_bytes(),
        );
        let proof: Vec<u8> = client_key
            .as_ref()
            .iter()
            .zip(client_signature.as_ref())
            .map(|(a, b)| a ^ b)
            .collect();
        let server_key = hmac::sign(&salted_key, b"Server Key");
        self.server_signature = hmac::sign(
            &hmac::Key::new(self.hash.hmac(), server_key.as_ref()),
            self.auth_message.as_bytes(),
        )
        .as_ref()
        .to_vec();
        Ok(format!("{without_proof},p={}", B64.encode(proof)))
    }

    pub fn verify_server_final(&self, server_final: &str) -> Result<(), ScramError> {
        if let Some(e) = attribute(server_final, 'e') {
            return Err(ScramError::ServerError(e.to_string()));
        }
        let v = B64
            .decode(attribute(server_final, 'v').ok_or(ScramError::Malformed)?)
            .map_err(|_| ScramError::Malformed)?;
        if v != self.server_signature {
            return Err(ScramError::BadServerSignature);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7677, section 3: the SCRAM-SHA-256 example exchange.
    #[tokio::test]
    async fn rfc_7677_example() {
        let mut c = ScramClient::new(
            ScramHash::Sha256,
            "user",
            "pencil",
            "rOprNGfwEbeRWgbNEkqO".into(),
        );
        assert_eq!(c.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        assert_eq!(
            c.client_final(server_first).await.unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert!(
            c.verify_server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
                .is_ok()
        );
        assert_eq!(
            c.verify_server_final("v=AAAA"),
            Err(ScramError::BadServerSignature)
        );
    }

    #[tokio::test]
    async fn a_foreign_nonce_is_refused() {
        let mut c = ScramClient::new(ScramHash::Sha512, "u", "p", "abc".into());
        assert_eq!(
            c.client_final("r=xyz,s=AAAA,i=4096").await,
            Err(ScramError::NonceMismatch)
        );
    }

    #[tokio::test]
    async fn iteration_counts_outside_the_bounds_are_refused_with_the_count_and_the_bounds() {
        for count in [0u64, 1, 4095, 16385, 1 << 31, u32::MAX as u64] {
            let mut c = ScramClient::new(ScramHash::Sha512, "u", "p", "abc".into());
            let refused = c
                .client_final(&format!("r=abcdef,s=AAAA,i={count}"))
                .await
                .unwrap_err();
            assert_eq!(
                refused,
                ScramError::IterationsOutOfBounds {
                    count: count as u32
                }
            );
            let text = refused.to_string();
            assert!(
                text.contains(&count.to_string()) && text.contains("4096..=16384"),
                "{text}"
            );
        }
        for count in [MIN_ITERATIONS, MAX_ITERATIONS] {
            let mut c = ScramClient::new(ScramHash::Sha512, "u", "p", "abc".into());
            let accepted = c.client_final(&format!("r=abcdef,s=AAAA,i={count}")).await;
            assert!(accepted.is_ok(), "{count}: {accepted:?}");
        }
    }

    /// On a single-threaded runtime a derivation on the runtime's thread would run start to end
    /// without letting any other task in; on the blocking pool the other task keeps running.
    #[tokio::test(flavor = "current_thread")]
    async fn the_derivation_leaves_the_runtime_free() {
        let mut c = ScramClient::new(ScramHash::Sha512, "u", "p", "abc".into());
        let derivation = tokio::spawn(async move {
            c.client_final(&format!("r=abcdef,s=AAAA,i={MAX_ITERATIONS}"))
                .await
        });
        let mut turns_meanwhile = 0u64;
        while !derivation.is_finished() {
            turns_meanwhile += 1;
            tokio::task::yield_now().await;
        }
        assert!(derivation.await.unwrap().is_ok());
        assert!(
            turns_meanwhile > 10,
            "another task ran only {turns_meanwhile} times during the derivation"
        );
    }
}
