//! Secrets: a wrapper that never prints, argon2id hashing run off the async runtime, and
//! random tokens.
//!
//! Passwords, API-key secrets and WAMP tickets are stored as argon2id PHC strings (the
//! parameters travel inside the string, so verification works whatever cost was used to
//! hash). Hashing and verifying take tens of milliseconds of CPU at the default cost, so both
//! run in `spawn_blocking`.

use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use rand::RngCore;
use sha2::Digest;

use crate::{Result, StoreError};

/// A secret string: `Debug` and `Display` never show it; read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn into_exposed(self) -> String {
        self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// The argon2id cost. The default is OWASP's recommendation (19 MiB, 2 passes); tests use a
/// tiny cost to stay fast.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
}

impl Default for HashParams {
    fn default() -> Self {
        HashParams {
            memory_kib: 19 * 1024,
            iterations: 2,
        }
    }
}

impl HashParams {
    /// The cheapest cost argon2 accepts: for tests only.
    pub fn insecure_fast() -> Self {
        HashParams {
            memory_kib: 8,
            iterations: 1,
        }
    }
}

fn hasher(params: HashParams) -> Result<Argon2<'static>> {
    let params = Params::new(params.memory_kib, params.iterations, 1, None)
        .map_err(|e| StoreError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes a secret to an argon2id PHC string, on the blocking pool.
pub async fn hash(secret: Secret, params: HashParams) -> Result<String> {
    tokio::task::spawn_blocking(move || hash_blocking(&secret, params))
        .await
        .map_err(|e| StoreError::Hash(e.to_string()))?
}

/// Verifies a secret against an argon2id PHC string, on the blocking pool. A malformed hash
/// verifies nothing.
pub async fn verify(secret: Secret, phc: String) -> Result<bool> {
    tokio::task::spawn_blocking(move || verify_blocking(&secret, &phc))
        .await
        .map_err(|e| StoreError::Hash(e.to_string()))
}

/// [`hash`] for callers that already run on a blocking thread.
pub fn hash_blocking(secret: &Secret, params: HashParams) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| StoreError::Hash(e.to_string()))?;
    let phc = hasher(params)?
        .hash_password(secret.expose().as_bytes(), &salt)
        .map_err(|e| StoreError::Hash(e.to_string()))?;
    Ok(phc.to_string())
}

/// [`verify`] for callers that already run on a blocking thread.
pub fn verify_blocking(secret: &Secret, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    // The parameters come from the PHC string; `Argon2::default()` only supplies the algorithm
    // implementation.
    Argon2::default()
        .verify_password(secret.expose().as_bytes(), &parsed)
        .is_ok()
}

/// A PHC string to verify against when there is nothing to verify (unknown user), so that
/// "no such user" costs as much time as "wrong password".
pub fn dummy_hash(params: HashParams) -> String {
    hash_blocking(&Secret::new("junction-dummy-password"), params).unwrap_or_default()
}

/// `n` random bytes from the OS, URL-safe base64 without padding.
pub fn random_token(n: usize) -> Secret {
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Secret(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// `n` random characters from `[a-z0-9]`: for the public prefixes of API keys.
pub fn random_alnum(n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect()
}

/// Hex SHA-256: for high-entropy tokens (refresh tokens), where a slow hash adds nothing.
pub fn sha256_hex(s: &str) -> String {
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hashed_secret_verifies_and_others_do_not() {
        let phc = hash(Secret::new("hunter2"), HashParams::insecure_fast())
            .await
            .unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify(Secret::new("hunter2"), phc.clone()).await.unwrap());
        assert!(!verify(Secret::new("hunter3"), phc).await.unwrap());
        assert!(!verify(Secret::new("x"), "not a hash".into()).await.unwrap());
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("top-secret");
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
    }

    #[test]
    fn random_tokens_are_long_and_distinct() {
        let a = random_token(32);
        assert_eq!(a.expose().len(), 43);
        assert_ne!(a, random_token(32));
        assert_eq!(random_alnum(8).len(), 8);
    }
}
