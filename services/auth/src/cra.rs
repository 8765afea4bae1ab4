//! WAMP-CRA (spec: advanced profile, "Challenge Response Authentication").
//!
//! The router sends `CHALLENGE("wampcra", {"challenge": <json string>, [salt, iterations,
//! keylen]})`; the challenge is a JSON object with authid, authrole, authmethod,
//! authprovider, nonce, timestamp (ISO-8601 UTC, milliseconds) and session. The client
//! answers `AUTHENTICATE(base64(HMAC-SHA256(key, challenge)))`, where `key` is the secret's
//! UTF-8 bytes, or for a salted secret the ASCII bytes of
//! `base64(PBKDF2-HMAC-SHA256(secret, salt, iterations, keylen))` (the salt used as its UTF-8
//! bytes, not decoded): exactly what autobahn-python's `AuthWampCra.on_challenge` computes.
//!
//! Secrets come in three shapes ([`CraSecret`]): plain; salted with the password kept (our
//! store today: the router derives the key, PBKDF2 per log-in); or salted with only the
//! derived key kept (Crossbar.io's config style, and the cheaper one to verify).

use std::time::SystemTime;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, Mac};
use junction_protocol::{Dict, Value};
use rand::RngCore;
use serde::Serialize;
use sha2::Sha256;

use crate::secret::Secret;

pub const AUTHMETHOD: &str = "wampcra";

/// PBKDF2 iterations we accept in a credential: the lower bound is the spec's example and
/// Crossbar's default; the upper bound keeps one log-in under a second of CPU.
pub const MIN_ITERATIONS: u32 = 1;
pub const MAX_ITERATIONS: u32 = 1_000_000;
/// Derived key length in bytes.
pub const MAX_KEYLEN: u32 = 256;

/// Client signatures are standard base64; accept them with or without padding.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CraError {
    #[error("PBKDF2 iterations must be in {MIN_ITERATIONS}..={MAX_ITERATIONS}, got {0}")]
    Iterations(u32),
    #[error("PBKDF2 key length must be in 1..={MAX_KEYLEN} bytes, got {0}")]
    Keylen(u32),
    #[error("the salt must not be empty")]
    EmptySalt,
}

/// PBKDF2 parameters of a salted secret. Public: the CHALLENGE carries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaltParams {
    salt: String,
    iterations: u32,
    keylen: u32,
}

impl SaltParams {
    pub fn new(salt: impl Into<String>, iterations: u32, keylen: u32) -> Result<Self, CraError> {
        let salt = salt.into();
        if salt.is_empty() {
            return Err(CraError::EmptySalt);
        }
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(CraError::Iterations(iterations));
        }
        if !(1..=MAX_KEYLEN).contains(&keylen) {
            return Err(CraError::Keylen(keylen));
        }
        Ok(SaltParams { salt, iterations, keylen })
    }

    /// Crossbar's defaults when a config gives a salt only: 1000 iterations, 32 bytes.
    pub fn with_defaults(salt: impl Into<String>) -> Result<Self, CraError> {
        Self::new(salt, 1000, 32)
    }

    pub fn salt(&self) -> &str {
        &self.salt
    }

    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    pub fn keylen(&self) -> u32 {
        self.keylen
    }
}

/// A principal's WAMP-CRA secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CraSecret {
    /// The HMAC key is the secret itself.
    Plain(Secret),
    /// The password is kept; the HMAC key is derived per log-in (PBKDF2: CPU heavy).
    Salted { password: Secret, params: SaltParams },
    /// Only the derived key (`base64(PBKDF2(...))`, as [`derive_key`] returns) is kept, as in
    /// a Crossbar.io config's `secret` next to its `salt`.
    Derived { key: Secret, params: SaltParams },
}

impl CraSecret {
    pub fn salt_params(&self) -> Option<&SaltParams> {
        match self {
            CraSecret::Plain(_) => None,
            CraSecret::Salted { params, .. } | CraSecret::Derived { params, .. } => Some(params),
        }
    }

    /// Whether [`CraSecret::hmac_key`] runs PBKDF2 (then verify in `spawn_blocking`).
    pub fn is_expensive(&self) -> bool {
        matches!(self, CraSecret::Salted { .. })
    }

    /// The HMAC key a client signs with.
    pub fn hmac_key(&self) -> Secret {
        match self {
            CraSecret::Plain(s) | CraSecret::Derived { key: s, .. } => s.clone(),
            CraSecret::Salted { password, params } => derive_key(password, params),
        }
    }
}

/// `base64(PBKDF2-HMAC-SHA256(password, salt, iterations, keylen))`, autobahn's `derive_key`.
/// CPU heavy for large iteration counts.
pub fn derive_key(password: &Secret, params: &SaltParams) -> Secret {
    let mut out = zeroize::Zeroizing::new(vec![0u8; params.keylen as usize]);
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), params.salt.as_bytes(), params.iterations, &mut out);
    Secret::new(base64::engine::general_purpose::STANDARD.encode(&*out))
}

/// The client's computation: `base64(HMAC-SHA256(key, challenge))`, autobahn's `compute_wcs`.
pub fn compute_signature(key: &Secret, challenge: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(challenge.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Who the challenge is for: what WELCOME will announce if the signature is right.
#[derive(Debug, Clone, Copy)]
pub struct ChallengeInfo<'a> {
    pub authid: &'a str,
    pub authrole: &'a str,
    pub authprovider: &'a str,
    /// The session id WELCOME will carry.
    pub session: u64,
}

/// The challenge JSON. Field order as in the spec's example; the client signs the string as
/// sent, so the exact formatting does not matter to it.
#[derive(Serialize)]
struct ChallengeJson<'a> {
    authid: &'a str,
    authrole: &'a str,
    authmethod: &'a str,
    authprovider: &'a str,
    nonce: &'a str,
    timestamp: &'a str,
    session: u64,
}

/// One issued WAMP-CRA challenge; keep it until AUTHENTICATE arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CraChallenge {
    challenge: String,
    salt: Option<SaltParams>,
}

impl CraChallenge {
    /// A fresh challenge: 48 random bytes of nonce (base64), the current time. `salt` is the
    /// principal's [`CraSecret::salt_params`] (or [`decoy_salt`] for an unknown authid).
    pub fn new(info: ChallengeInfo<'_>, salt: Option<&SaltParams>) -> Self {
        let mut nonce = [0u8; 48];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let nonce = base64::engine::general_purpose::STANDARD.encode(nonce);
        Self::with(info, salt, &nonce, SystemTime::now())
    }

    /// A challenge with a given nonce and time (tests, vectors).
    pub fn with(info: ChallengeInfo<'_>, salt: Option<&SaltParams>, nonce: &str, at: SystemTime) -> Self {
        let timestamp = humantime::format_rfc3339_millis(at).to_string();
        let json = ChallengeJson {
            authid: info.authid,
            authrole: info.authrole,
            authmethod: AUTHMETHOD,
            authprovider: info.authprovider,
            nonce,
            timestamp: &timestamp,
            session: info.session,
        };
        let challenge = serde_json::to_string(&json).expect("a struct of strings and an integer serializes");
        CraChallenge { challenge, salt: salt.cloned() }
    }

    /// The string the client signs.
    pub fn challenge(&self) -> &str {
        &self.challenge
    }

    /// `CHALLENGE.Extra`: `challenge`, plus `salt`, `iterations`, `keylen` for a salted secret.
    pub fn extra(&self) -> Dict {
        let mut extra = Dict::new();
        extra.insert("challenge".into(), Value::String(self.challenge.clone()));
        if let Some(p) = &self.salt {
            extra.insert("salt".into(), Value::String(p.salt.clone()));
            extra.insert("iterations".into(), Value::from(p.iterations));
            extra.insert("keylen".into(), Value::from(p.keylen));
        }
        extra
    }

    /// Check the AUTHENTICATE signature in constant time. False when the secret's salt is not
    /// the one this challenge announced. Runs PBKDF2 for [`CraSecret::Salted`]
    /// ([`CraSecret::is_expensive`]): then call it from `spawn_blocking`.
    pub fn verify(&self, secret: &CraSecret, signature: &str) -> bool {
        if secret.salt_params() != self.salt.as_ref() {
            return false;
        }
        // An HMAC-SHA256 in base64 is 44 characters; refuse to decode anything much longer.
        if signature.len() > 64 {
            return false;
        }
        let Ok(given) = BASE64_LENIENT.decode(signature.trim()) else { return false };
        let key = secret.hmac_key();
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
        mac.update(self.challenge.as_bytes());
        // `verify_slice` compares in constant time.
        mac.verify_slice(&given).is_ok()
    }
}

/// Salt parameters to announce for an authid that has no WAMP-CRA credential, so that a probe
/// cannot tell unknown principals by a missing salt (for realms whose secrets are salted).
/// Stable per authid within a process, so repeated probes see the same salt.
pub fn decoy_salt(authid: &str) -> SaltParams {
    use std::sync::OnceLock;
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    let key = KEY.get_or_init(|| {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        k
    });
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(authid.as_bytes());
    let salt = base64::engine::general_purpose::STANDARD.encode(&mac.finalize().into_bytes()[..12]);
    SaltParams { salt, iterations: 1000, keylen: 32 }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    // Vectors generated once with autobahn-python 26.10.2 (the reference client), in a venv
    // (`pip install autobahn[encryption]`):
    //   from autobahn.wamp import auth
    //   auth.compute_wcs(b"secret123", CHALLENGE.encode())
    //   dk = auth.derive_key("secret123", "salt123", 1000, 32); auth.compute_wcs(dk, CHALLENGE.encode())
    //   dk2 = auth.derive_key("pässwörd", "sälz", 100, 16); auth.compute_wcs(dk2, CHALLENGE.encode())
    // and cross-checked through `AuthWampCra(authid="peter", secret="secret123").on_challenge(...)`
    // with and without salt/iterations/keylen in the challenge extra (same results).
    const CHALLENGE: &str = r#"{"authid":"peter","authrole":"user","authmethod":"wampcra","authprovider":"junction","nonce":"LHRTC9zeOIrt_9U3","timestamp":"2014-06-22T16:36:25.448Z","session":3251278072152162}"#;
    const PLAIN_SIG: &str = "+4lPluGocVu/AT/HHQm802DjK5Qvm86RxG01QZiMYUk=";
    const DERIVED_KEY: &str = "Eu7CQLfR+/Ffb+275A4s9/6H/RGKYxM4s6IMrsNKzC8=";
    const SALTED_SIG: &str = "GicPfN110RdVlrTXaKiFSdHcl9zRHKClaPx048/nGzI=";
    const DERIVED_KEY_UTF8: &str = "k5bEH+zVwz9RcQAqcT8itg==";
    const SALTED_SIG_UTF8: &str = "WIOmFnkCBtU8PUsMjGrj78HKm79VSxujv91hKnsTePU=";

    fn info() -> ChallengeInfo<'static> {
        ChallengeInfo { authid: "peter", authrole: "user", authprovider: "junction", session: 3251278072152162 }
    }

    fn vector_challenge(salt: Option<&SaltParams>) -> CraChallenge {
        // 2014-06-22T16:36:25.448Z
        let at = UNIX_EPOCH + Duration::from_millis(1_403_454_985_448);
        CraChallenge::with(info(), salt, "LHRTC9zeOIrt_9U3", at)
    }

    fn salt123() -> SaltParams {
        SaltParams::new("salt123", 1000, 32).unwrap()
    }

    #[test]
    fn the_challenge_string_is_the_specs_shape() {
        let c = vector_challenge(None);
        assert_eq!(c.challenge(), CHALLENGE);
        let parsed: serde_json::Value = serde_json::from_str(c.challenge()).unwrap();
        assert_eq!(parsed["authmethod"], "wampcra");
        assert_eq!(parsed["session"], 3251278072152162u64);
        let extra = c.extra();
        assert_eq!(extra.len(), 1);
        assert_eq!(extra["challenge"], Value::String(CHALLENGE.into()));
    }

    #[test]
    fn fresh_challenges_differ_and_carry_a_utc_timestamp() {
        let a = CraChallenge::new(info(), None);
        let b = CraChallenge::new(info(), None);
        assert_ne!(a.challenge(), b.challenge());
        let parsed: serde_json::Value = serde_json::from_str(a.challenge()).unwrap();
        let ts = parsed["timestamp"].as_str().unwrap();
        assert!(ts.ends_with('Z') && ts.len() == "2014-06-22T16:36:25.448Z".len(), "{ts}");
        assert_eq!(parsed["nonce"].as_str().unwrap().len(), 64);
    }

    #[test]
    fn autobahn_vectors_plain() {
        let secret = CraSecret::Plain(Secret::new("secret123"));
        assert_eq!(compute_signature(&secret.hmac_key(), CHALLENGE), PLAIN_SIG);
        let c = vector_challenge(None);
        assert!(c.verify(&secret, PLAIN_SIG));
        assert!(c.verify(&secret, PLAIN_SIG.trim_end_matches('=')), "padding is optional");
        assert!(!c.verify(&CraSecret::Plain(Secret::new("secret124")), PLAIN_SIG));
        assert!(!c.verify(&secret, SALTED_SIG));
    }

    #[test]
    fn autobahn_vectors_salted() {
        let params = salt123();
        assert_eq!(derive_key(&Secret::new("secret123"), &params).expose(), DERIVED_KEY);
        let c = vector_challenge(Some(&params));
        let extra = c.extra();
        assert_eq!(extra["salt"], Value::from("salt123"));
        assert_eq!(extra["iterations"], Value::Int(1000));
        assert_eq!(extra["keylen"], Value::Int(32));

        let salted = CraSecret::Salted { password: Secret::new("secret123"), params: params.clone() };
        assert!(salted.is_expensive());
        assert!(c.verify(&salted, SALTED_SIG));
        let derived = CraSecret::Derived { key: Secret::new(DERIVED_KEY), params: params.clone() };
        assert!(!derived.is_expensive());
        assert!(c.verify(&derived, SALTED_SIG));
        // The unsalted signature of the same secret does not pass a salted challenge.
        assert!(!c.verify(&salted, PLAIN_SIG));

        let p2 = SaltParams::new("sälz", 100, 16).unwrap();
        assert_eq!(derive_key(&Secret::new("pässwörd"), &p2).expose(), DERIVED_KEY_UTF8);
        let c2 = vector_challenge(Some(&p2));
        assert!(c2.verify(&CraSecret::Salted { password: Secret::new("pässwörd"), params: p2 }, SALTED_SIG_UTF8));
    }

    #[test]
    fn salt_mismatch_between_challenge_and_secret_fails() {
        let salted = CraSecret::Salted { password: Secret::new("secret123"), params: salt123() };
        assert!(!vector_challenge(None).verify(&salted, SALTED_SIG), "challenge announced no salt");
        let other = SaltParams::new("salt123", 1001, 32).unwrap();
        assert!(!vector_challenge(Some(&other)).verify(&salted, SALTED_SIG));
        let plain = CraSecret::Plain(Secret::new("secret123"));
        assert!(!vector_challenge(Some(&salt123())).verify(&plain, PLAIN_SIG));
    }

    #[test]
    fn garbage_signatures_fail() {
        let c = vector_challenge(None);
        let s = CraSecret::Plain(Secret::new("secret123"));
        for sig in
            ["", "not base64!", "+4lP", &"A".repeat(10_000), &PLAIN_SIG.replace('+', "-"), &format!("{PLAIN_SIG}AAAA")]
        {
            assert!(!c.verify(&s, sig), "{sig:?}");
        }
    }

    #[test]
    fn salt_params_are_bounded() {
        assert_eq!(SaltParams::new("", 1000, 32), Err(CraError::EmptySalt));
        assert_eq!(SaltParams::new("s", 0, 32), Err(CraError::Iterations(0)));
        assert_eq!(SaltParams::new("s", MAX_ITERATIONS + 1, 32), Err(CraError::Iterations(MAX_ITERATIONS + 1)));
        assert_eq!(SaltParams::new("s", 1000, 0), Err(CraError::Keylen(0)));
        assert_eq!(SaltParams::with_defaults("s").unwrap(), SaltParams::new("s", 1000, 32).unwrap());
    }

    #[test]
    fn decoy_salts_are_stable_per_authid() {
        assert_eq!(decoy_salt("nobody"), decoy_salt("nobody"));
        assert_ne!(decoy_salt("nobody").salt(), decoy_salt("somebody").salt());
        let c = CraChallenge::new(info(), Some(&decoy_salt("nobody")));
        assert!(c.extra().contains_key("salt"));
        assert!(!c.verify(&CraSecret::Plain(Secret::new("x")), "x"));
    }

    #[test]
    fn secrets_do_not_leak_through_debug() {
        let s = CraSecret::Salted { password: Secret::new("hunter2"), params: salt123() };
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
