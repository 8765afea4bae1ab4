//! WAMP-cryptosign (spec: advanced profile, "Cryptosign-based Authentication"), client
//! authentication with Ed25519.
//!
//! - HELLO: `authmethods` has `"cryptosign"`, `authextra.pubkey` is the client's public key
//!   (64 hex characters); `authid` is optional (without it, the store finds the principal by
//!   public key).
//! - CHALLENGE: `{"challenge": hex(32 random bytes), "channel_binding": null}`.
//! - AUTHENTICATE: `hex(signature(64 bytes) || message(32 bytes))`, where the message is the
//!   challenge, or `challenge XOR channel_id` under TLS channel binding (autobahn-python's
//!   `CryptosignKey.sign_challenge`). The router checks the message is the one it expects and
//!   the signature with one of the principal's registered public keys.
//!
//! Channel binding: the router answers `channel_binding: null` (the spec lets a router that
//! does not support the requested binding continue without it). TLS is terminated by the
//! ingress in most deployments, so the pod has no TLS channel id to bind to; and `tls-unique`
//! does not exist in TLS 1.3. [`CryptosignChallenge::verify`] takes the channel id anyway, so
//! a pod that terminates TLS itself can add `tls-exporter` later without touching this module.
//! Router authentication, trustroots and certificates (optional in the spec) are not done.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use junction_protocol::{Dict, Value};
use rand::RngCore;

use crate::constant_time_eq;

pub const AUTHMETHOD: &str = "cryptosign";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptosignError {
    #[error("HELLO.Details.authextra.pubkey is missing")]
    MissingPubkey,
    #[error("a public key must be 64 hex characters (32 bytes)")]
    BadHex,
    #[error("not a valid Ed25519 public key")]
    BadKey,
}

/// An Ed25519 public key of a principal (or the one a client announced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// From 64 hex characters, either case (the store and HELLO both use hex).
    pub fn from_hex(s: &str) -> Result<Self, CryptosignError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut bytes).map_err(|_| CryptosignError::BadHex)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| CryptosignError::BadKey)?;
        // A small-order key verifies signatures nobody made; refuse it outright.
        if key.is_weak() {
            return Err(CryptosignError::BadKey);
        }
        Ok(PublicKey(key))
    }

    /// Lowercase hex, the form the store keeps and autobahn sends.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }
}

impl From<VerifyingKey> for PublicKey {
    fn from(k: VerifyingKey) -> Self {
        PublicKey(k)
    }
}

/// The public key a client announced in `HELLO.Details.authextra.pubkey`.
pub fn hello_pubkey(authextra: &Dict) -> Result<PublicKey, CryptosignError> {
    match authextra.get("pubkey") {
        Some(Value::String(s)) => PublicKey::from_hex(s),
        Some(_) => Err(CryptosignError::BadHex),
        None => Err(CryptosignError::MissingPubkey),
    }
}

/// One issued cryptosign challenge; keep it until AUTHENTICATE arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptosignChallenge {
    challenge: [u8; 32],
}

impl Default for CryptosignChallenge {
    fn default() -> Self {
        Self::new()
    }
}

impl CryptosignChallenge {
    /// 32 bytes from the OS random source.
    pub fn new() -> Self {
        let mut challenge = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut challenge);
        CryptosignChallenge { challenge }
    }

    pub fn from_bytes(challenge: [u8; 32]) -> Self {
        CryptosignChallenge { challenge }
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.challenge)
    }

    /// `CHALLENGE.Extra`: the challenge in hex, and no channel binding.
    pub fn extra(&self) -> Dict {
        let mut extra = Dict::new();
        extra.insert("challenge".into(), Value::String(self.to_hex()));
        extra.insert("channel_binding".into(), Value::Null);
        extra
    }

    /// The 32 bytes the client must have signed.
    fn message(&self, channel_id: Option<&[u8; 32]>) -> [u8; 32] {
        let mut m = self.challenge;
        if let Some(cid) = channel_id {
            m.iter_mut().zip(cid).for_each(|(b, c)| *b ^= c);
        }
        m
    }

    /// Check an AUTHENTICATE signature (`hex(signature || message)`, 192 hex characters) with
    /// `key`. `channel_id`: the TLS channel id when channel binding is in use (never today).
    /// ~35 µs per key (Ed25519 verification): fine on the runtime for one log-in behind the
    /// limiter; `spawn_blocking` for [`CryptosignChallenge::verify_any`] over many keys.
    pub fn verify(&self, key: &PublicKey, signature: &str, channel_id: Option<&[u8; 32]>) -> bool {
        self.verify_any(std::slice::from_ref(key), signature, channel_id).is_some()
    }

    /// [`CryptosignChallenge::verify`] against each of a principal's keys (for a HELLO without
    /// `pubkey`); the index of the key that verifies.
    pub fn verify_any(&self, keys: &[PublicKey], signature: &str, channel_id: Option<&[u8; 32]>) -> Option<usize> {
        let mut signed = [0u8; 96];
        hex::decode_to_slice(signature.trim(), &mut signed).ok()?;
        let (sig, message) = signed.split_at(64);
        let expected = self.message(channel_id);
        if !constant_time_eq(message, &expected) {
            return None;
        }
        let sig = Signature::from_slice(sig).ok()?;
        // `verify_strict`: no malleable signatures, no small-order keys (as libsodium).
        keys.iter().position(|k| k.0.verify_strict(&expected, &sig).is_ok())
    }
}

/// Of a principal's registered keys, the one the client announced, if registered.
pub fn select<'a>(registered: &'a [PublicKey], announced: &PublicKey) -> Option<&'a PublicKey> {
    registered.iter().find(|k| *k == announced)
}

/// The client's computation (tests, benches, the load generator): `hex(sig || message)`.
pub fn sign(key: &SigningKey, challenge: &CryptosignChallenge, channel_id: Option<&[u8; 32]>) -> String {
    let message = challenge.message(channel_id);
    let sig = key.sign(&message);
    let mut out = hex::encode(sig.to_bytes());
    out.push_str(&hex::encode(message));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Generated once with autobahn-python 26.10.2 (`pip install autobahn[encryption]`):
    //   key = CryptosignKey.from_bytes(bytes(range(1, 33)))
    //   await key.sign_challenge(Challenge("cryptosign", {"challenge": CHALLENGE}))
    //   await key.sign_challenge(Challenge("cryptosign", {"challenge": CHALLENGE, "channel_binding": "tls-unique"}),
    //                            channel_id=bytes.fromhex(CHANNEL_ID), channel_id_type="tls-unique")
    const SEED: &str = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";
    const PUBKEY: &str = "79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664";
    const CHALLENGE: &str = "a3f1c2d4e5b60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00";
    const SIG: &str = "2f2fdb65a3555dac98cc10015b09186d364c5ada312273c2a96115b61afe6e9e2756693c5f9cdb1ff2d10f4256c4b5e5dea418175c34707b3e8ab656f095e801a3f1c2d4e5b60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00";
    const CHANNEL_ID: &str = "62e935ae755f3d48f80d4d59f6121358c435722a67e859cc0caa8b539027f2ff";
    const SIG_TLS_UNIQUE: &str = "c975e97cb1c0fe40df56319102480ad3be18786ab8cdfc1f8aefeaf282a37ad79109f102b906600c90909f22108affd4a3e10c73e5e31290f2463021670bf303c118f77a90e93a50d13706059b6c9cc8d517416e328e2e449500309f4dc90dff";

    fn bytes32(h: &str) -> [u8; 32] {
        let mut b = [0u8; 32];
        hex::decode_to_slice(h, &mut b).unwrap();
        b
    }

    fn challenge() -> CryptosignChallenge {
        CryptosignChallenge::from_bytes(bytes32(CHALLENGE))
    }

    #[test]
    fn autobahn_vector_verifies() {
        let key = PublicKey::from_hex(PUBKEY).unwrap();
        assert_eq!(SigningKey::from_bytes(&bytes32(SEED)).verifying_key().as_bytes(), key.as_bytes());
        assert!(challenge().verify(&key, SIG, None));
        assert!(challenge().verify(&key, &SIG.to_uppercase(), None), "hex is case-insensitive");
        // Ed25519 is deterministic: our client computation gives the same bytes.
        assert_eq!(sign(&SigningKey::from_bytes(&bytes32(SEED)), &challenge(), None), SIG);
    }

    #[test]
    fn autobahn_channel_binding_vector() {
        let key = PublicKey::from_hex(PUBKEY).unwrap();
        let cid = bytes32(CHANNEL_ID);
        assert!(challenge().verify(&key, SIG_TLS_UNIQUE, Some(&cid)));
        assert!(!challenge().verify(&key, SIG_TLS_UNIQUE, None));
        assert!(!challenge().verify(&key, SIG, Some(&cid)));
    }

    #[test]
    fn spec_test_vectors() {
        // From the spec's "Test Vectors" (no channel id): private key, challenge, signature.
        let vectors = [
            (
                "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510",
                "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                "b32675b221f08593213737bef8240e7c15228b07028e19595294678c90d11c0cae80a357331bfc5cc9fb71081464e6e75013517c2cf067ad566a6b7b728e5d03ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            ),
            (
                "d511fe78e23934b3dadb52fcd022974b80bd92bccc7c5cf404e46cc0a8a2f5cd",
                "b26c1f87c13fc1da14997f1b5a71995dff8fbe0a62fae8473c7bdbd05bfb607d",
                "d4209ad10d5aff6bfbc009d7e924795de138a63515efc7afc6b01b7fe5201372190374886a70207b042294af5bd64ce725cd8dceb344e6d11c09d1aaaf4d660fb26c1f87c13fc1da14997f1b5a71995dff8fbe0a62fae8473c7bdbd05bfb607d",
            ),
        ];
        for (seed, ch, sig) in vectors {
            let sk = SigningKey::from_bytes(&bytes32(seed));
            let c = CryptosignChallenge::from_bytes(bytes32(ch));
            assert!(c.verify(&PublicKey::from(sk.verifying_key()), sig, None));
            assert_eq!(sign(&sk, &c, None), sig);
        }
    }

    #[test]
    fn generated_keys_and_wrong_answers() {
        let mut rng = rand::rngs::OsRng;
        let alice = SigningKey::generate(&mut rng);
        let mallory = SigningKey::generate(&mut rng);
        let alice_pub = PublicKey::from(alice.verifying_key());
        let c = CryptosignChallenge::new();
        let good = sign(&alice, &c, None);
        assert!(c.verify(&alice_pub, &good, None));
        // Signed by another key.
        assert!(!c.verify(&alice_pub, &sign(&mallory, &c, None), None));
        // Replay of a signature over another challenge.
        let other = CryptosignChallenge::new();
        assert!(!c.verify(&alice_pub, &sign(&alice, &other, None), None));
        // Right signature, tampered message part.
        let mut tampered = good.clone();
        tampered.replace_range(190..192, if &good[190..192] == "00" { "01" } else { "00" });
        assert!(!c.verify(&alice_pub, &tampered, None));
        // Signature alone (64 bytes), truncated, garbage.
        for bad in [&good[..128], &good[..190], "", "zz", &"0".repeat(192)] {
            assert!(!c.verify(&alice_pub, bad, None), "{bad}");
        }
    }

    #[test]
    fn verify_any_picks_the_registered_key_that_signed() {
        let mut rng = rand::rngs::OsRng;
        let keys: Vec<SigningKey> = (0..3).map(|_| SigningKey::generate(&mut rng)).collect();
        let registered: Vec<PublicKey> = keys.iter().map(|k| k.verifying_key().into()).collect();
        let c = CryptosignChallenge::new();
        assert_eq!(c.verify_any(&registered, &sign(&keys[2], &c, None), None), Some(2));
        let stranger = SigningKey::generate(&mut rng);
        assert_eq!(c.verify_any(&registered, &sign(&stranger, &c, None), None), None);
        assert_eq!(select(&registered, &registered[1]), Some(&registered[1]));
        assert_eq!(select(&registered, &stranger.verifying_key().into()), None);
    }

    #[test]
    fn hello_pubkey_and_key_parsing() {
        let mut extra = Dict::new();
        assert_eq!(hello_pubkey(&extra), Err(CryptosignError::MissingPubkey));
        extra.insert("pubkey".into(), Value::Int(1));
        assert_eq!(hello_pubkey(&extra), Err(CryptosignError::BadHex));
        extra.insert("pubkey".into(), Value::String(PUBKEY.to_uppercase()));
        assert_eq!(hello_pubkey(&extra).unwrap().to_hex(), PUBKEY);
        assert_eq!(PublicKey::from_hex(&PUBKEY[..62]), Err(CryptosignError::BadHex));
        assert_eq!(PublicKey::from_hex(&format!("{PUBKEY}00")), Err(CryptosignError::BadHex));
        // The identity point: small order, refused.
        let identity = format!("01{}", "0".repeat(62));
        assert_eq!(PublicKey::from_hex(&identity), Err(CryptosignError::BadKey));
    }

    #[test]
    fn challenge_extra_shape() {
        let c = challenge();
        let extra = c.extra();
        assert_eq!(extra["challenge"], Value::String(CHALLENGE.into()));
        assert_eq!(extra["channel_binding"], Value::Null);
        assert_ne!(CryptosignChallenge::new(), CryptosignChallenge::new());
    }
}
