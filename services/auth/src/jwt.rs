//! JWTs as WAMP credentials: authmethod `ticket` whose ticket is a JWT, or authmethod `jwt`
//! (the token travels as the AUTHENTICATE signature either way).
//!
//! A realm has keys ([`JwtKey`]): HS256 shared secrets, RS256 and EdDSA public keys (PEM).
//! A token is checked with:
//! - the key named by its `kid` header when present (the store uses the credential's authid as
//!   `kid`); otherwise each key of the token's algorithm, in order (at most
//!   [`MAX_KEYS_TRIED`], RSA verification is not free);
//! - the algorithm fixed by the key, never taken from the token: an `HS256` token is only
//!   ever checked against HS256 secrets, so the classic confusion (HMAC keyed with an RSA
//!   public key) cannot verify;
//! - `exp` required, `nbf` checked when present, both with [`DEFAULT_LEEWAY`] of clock skew;
//! - `aud` required and containing the realm URI (a token for one realm does not open
//!   another, even with a shared key);
//! - `sub` -> authid; `role` (or `authrole`) -> authrole, else the key's default role;
//!   optional `extra` (an object) -> authextra.
//!
//! Errors are detailed for logs; a client only ever learns "authentication failed".

use std::collections::HashSet;
use std::fmt;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use junction_protocol::{Dict, Value};
use serde::Deserialize;

use crate::secret::Secret;

/// Seconds of clock skew tolerated on `exp` and `nbf`.
pub const DEFAULT_LEEWAY: u64 = 30;
/// Longest token we parse: bounds the work (base64, JSON) a client can ask for.
pub const MAX_TOKEN_LEN: usize = 8192;
/// Most keys one token is tried against when it has no `kid`.
pub const MAX_KEYS_TRIED: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtKeyError {
    #[error("an HS256 secret must not be empty")]
    EmptySecret,
    #[error("not a valid {0} public key PEM")]
    BadPem(&'static str),
}

/// One verification key of a realm.
#[derive(Clone)]
pub struct JwtKey {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
    /// The role a token gets when it names none (the credential's role in the store).
    default_role: Option<String>,
    /// Where the key comes from (the store's credential id), reported with each identity it
    /// verifies so that a router can close the sessions of a key that is revoked.
    source: Option<String>,
}

impl fmt::Debug for JwtKey {
    // No key material: HS256 keys are secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("default_role", &self.default_role)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl JwtKey {
    pub fn hs256(kid: Option<String>, secret: &Secret) -> Result<Self, JwtKeyError> {
        if secret.is_empty() {
            return Err(JwtKeyError::EmptySecret);
        }
        Ok(JwtKey {
            kid,
            algorithm: Algorithm::HS256,
            key: DecodingKey::from_secret(secret.as_bytes()),
            default_role: None,
            source: None,
        })
    }

    /// An RSA public key (`BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`), for RS256.
    pub fn rs256_pem(kid: Option<String>, pem: &str) -> Result<Self, JwtKeyError> {
        let key = DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| JwtKeyError::BadPem("RSA"))?;
        Ok(JwtKey { kid, algorithm: Algorithm::RS256, key, default_role: None, source: None })
    }

    /// An Ed25519 public key (`BEGIN PUBLIC KEY`), for EdDSA.
    pub fn eddsa_pem(kid: Option<String>, pem: &str) -> Result<Self, JwtKeyError> {
        let key = DecodingKey::from_ed_pem(pem.as_bytes()).map_err(|_| JwtKeyError::BadPem("Ed25519"))?;
        Ok(JwtKey { kid, algorithm: Algorithm::EdDSA, key, default_role: None, source: None })
    }

    pub fn with_default_role(mut self, role: impl Into<String>) -> Self {
        self.default_role = Some(role.into());
        self
    }

    /// Tag the key with where it comes from (e.g. the store's credential id): verified
    /// identities carry it in [`JwtIdentity::source`].
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

/// Why a token was refused (for logs; the client is told nothing more than "failed").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("token longer than {MAX_TOKEN_LEN} bytes")]
    TooLong,
    #[error("not a JWT (or an unsupported algorithm)")]
    Malformed,
    #[error("no key of the realm matches the token's kid / algorithm")]
    NoKey,
    #[error("signature does not verify with any candidate key")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token not valid yet (nbf)")]
    NotYetValid,
    #[error("token audience does not include this realm")]
    WrongAudience,
    #[error("required claim missing: {0}")]
    MissingClaim(String),
    #[error("invalid claims: {0}")]
    BadClaims(String),
    #[error("token names no role and its key has no default role")]
    NoRole,
    #[error("token subject is not the authid of HELLO")]
    AuthidMismatch,
}

/// Who a valid token says the client is.
#[derive(Debug, Clone, PartialEq)]
pub struct JwtIdentity {
    pub authid: String,
    pub authrole: String,
    /// The token's `extra` object, for WELCOME.Details.authextra.
    pub authextra: Dict,
    /// `exp`, seconds since the epoch: a router may end the session then.
    pub expires_at: u64,
    /// The `kid` of the key that verified it.
    pub kid: Option<String>,
    /// The [`JwtKey::source`] of the key that verified it.
    pub source: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    authrole: Option<String>,
    #[serde(default)]
    extra: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A realm's JWT verifier: its URI (the required audience) and keys.
#[derive(Debug, Clone)]
pub struct JwtVerifier {
    audience: String,
    leeway: u64,
    keys: Vec<JwtKey>,
}

impl JwtVerifier {
    pub fn new(realm_uri: impl Into<String>, keys: Vec<JwtKey>) -> Self {
        JwtVerifier { audience: realm_uri.into(), leeway: DEFAULT_LEEWAY, keys }
    }

    pub fn with_leeway(mut self, seconds: u64) -> Self {
        self.leeway = seconds;
        self
    }

    pub fn keys(&self) -> &[JwtKey] {
        &self.keys
    }

    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut v = Validation::new(algorithm);
        v.leeway = self.leeway;
        v.validate_nbf = true;
        v.set_audience(&[&self.audience]);
        v.required_spec_claims = HashSet::from(["exp".to_owned(), "sub".to_owned(), "aud".to_owned()]);
        v
    }

    /// Verify `token`; `hello_authid` is HELLO's authid, which must then equal `sub`.
    /// Cost per key tried (benches/authz.rs, release): HS256 ~2 µs, EdDSA ~40 µs, RS256
    /// ~150 µs. Call it from `spawn_blocking` when the realm has asymmetric keys.
    pub fn verify(&self, token: &str, hello_authid: Option<&str>) -> Result<JwtIdentity, JwtError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(JwtError::TooLong);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
        let candidates = self
            .keys
            .iter()
            .filter(|k| k.algorithm == header.alg)
            .filter(|k| header.kid.is_none() || k.kid == header.kid)
            .take(MAX_KEYS_TRIED);
        let mut tried = false;
        for key in candidates {
            tried = true;
            match jsonwebtoken::decode::<Claims>(token, &key.key, &self.validation(key.algorithm)) {
                Ok(data) => return identity(data.claims, key, hello_authid),
                Err(e) => match e.kind() {
                    // Not this key: try the next one.
                    ErrorKind::InvalidSignature => continue,
                    // The signature verified (claims are checked after it): final answer.
                    ErrorKind::ExpiredSignature => return Err(JwtError::Expired),
                    ErrorKind::ImmatureSignature => return Err(JwtError::NotYetValid),
                    ErrorKind::InvalidAudience => return Err(JwtError::WrongAudience),
                    ErrorKind::MissingRequiredClaim(c) => return Err(JwtError::MissingClaim(c.clone())),
                    ErrorKind::Json(e) => return Err(JwtError::BadClaims(e.to_string())),
                    ErrorKind::InvalidClaimFormat(c) => return Err(JwtError::BadClaims(c.clone())),
                    _ => return Err(JwtError::Malformed),
                },
            }
        }
        Err(if tried { JwtError::BadSignature } else { JwtError::NoKey })
    }
}

fn identity(claims: Claims, key: &JwtKey, hello_authid: Option<&str>) -> Result<JwtIdentity, JwtError> {
    if claims.sub.is_empty() {
        return Err(JwtError::BadClaims("sub is empty".into()));
    }
    if hello_authid.is_some_and(|a| a != claims.sub) {
        return Err(JwtError::AuthidMismatch);
    }
    let authrole = match (claims.role, claims.authrole) {
        (Some(a), Some(b)) if a != b => return Err(JwtError::BadClaims("role and authrole differ".into())),
        (Some(r), _) | (None, Some(r)) if !r.is_empty() => r,
        (Some(_), _) | (None, Some(_)) => return Err(JwtError::BadClaims("role is empty".into())),
        (None, None) => key.default_role.clone().ok_or(JwtError::NoRole)?,
    };
    let authextra =
        claims.extra.map(|m| m.into_iter().map(|(k, v)| (k, json_to_value(v))).collect()).unwrap_or_default();
    Ok(JwtIdentity { authid: claims.sub, authrole, authextra, expires_at: claims.exp, kid: key.kid.clone(), source: key.source.clone() })
}

/// Does `s` look like a compact JWS (three base64url parts)? For authmethod `ticket`: a
/// ticket that looks like a JWT is checked as one when the realm has JWT keys.
pub fn looks_like_jwt(s: &str) -> bool {
    let mut parts = 0;
    for part in s.split('.') {
        parts += 1;
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return false;
        }
    }
    parts == 3 && s.starts_with("eyJ")
}

/// JSON into the protocol's dynamic value (for authextra).
pub fn json_to_value(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Int(i)
            } else if let Some(u) = n.as_u64() {
                Value::UInt(u)
            } else {
                Value::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::String(s),
        serde_json::Value::Array(a) => Value::List(a.into_iter().map(json_to_value).collect()),
        serde_json::Value::Object(o) => Value::Dict(o.into_iter().map(|(k, v)| (k, json_to_value(v))).collect()),
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
    use serde_json::json;

    use super::*;

    // PEM fixtures generated once with openssl (see tests/fixtures/README.md).
    const RSA_PRIVATE: &str = include_str!("../tests/fixtures/rsa_private.pem");
    const RSA_PUBLIC: &str = include_str!("../tests/fixtures/rsa_public.pem");
    const RSA2_PRIVATE: &str = include_str!("../tests/fixtures/rsa2_private.pem");
    const ED_PRIVATE: &str = include_str!("../tests/fixtures/ed25519_private.pem");
    const ED_PUBLIC: &str = include_str!("../tests/fixtures/ed25519_public.pem");
    const ED2_PRIVATE: &str = include_str!("../tests/fixtures/ed25519_2_private.pem");
    const ED2_PUBLIC: &str = include_str!("../tests/fixtures/ed25519_2_public.pem");

    const REALM: &str = "com.acme.shop";
    const HS_SECRET: &str = "a-32-byte-long-shared-secret-xyz";

    fn now() -> u64 {
        get_current_timestamp()
    }

    fn claims(sub: &str) -> serde_json::Value {
        json!({"sub": sub, "aud": REALM, "exp": now() + 600, "role": "backend"})
    }

    fn header(alg: Algorithm, kid: Option<&str>) -> Header {
        let mut h = Header::new(alg);
        h.kid = kid.map(Into::into);
        h
    }

    fn hs(claims: &serde_json::Value, kid: Option<&str>, secret: &[u8]) -> String {
        encode(&header(Algorithm::HS256, kid), claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    fn rs(claims: &serde_json::Value, kid: Option<&str>, pem: &str) -> String {
        encode(&header(Algorithm::RS256, kid), claims, &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()).unwrap()
    }

    fn ed(claims: &serde_json::Value, kid: Option<&str>, pem: &str) -> String {
        encode(&header(Algorithm::EdDSA, kid), claims, &EncodingKey::from_ed_pem(pem.as_bytes()).unwrap()).unwrap()
    }

    fn verifier() -> JwtVerifier {
        JwtVerifier::new(
            REALM,
            vec![
                JwtKey::hs256(Some("app-hs".into()), &Secret::new(HS_SECRET)).unwrap(),
                JwtKey::rs256_pem(Some("app-rs".into()), RSA_PUBLIC).unwrap(),
                JwtKey::eddsa_pem(Some("app-ed".into()), ED_PUBLIC).unwrap().with_default_role("device"),
            ],
        )
    }

    #[test]
    fn each_algorithm_verifies_with_and_without_kid() {
        let v = verifier();
        for (token, kid) in [
            (hs(&claims("alice"), Some("app-hs"), HS_SECRET.as_bytes()), "app-hs"),
            (hs(&claims("alice"), None, HS_SECRET.as_bytes()), "app-hs"),
            (rs(&claims("alice"), Some("app-rs"), RSA_PRIVATE), "app-rs"),
            (rs(&claims("alice"), None, RSA_PRIVATE), "app-rs"),
            (ed(&claims("alice"), Some("app-ed"), ED_PRIVATE), "app-ed"),
            (ed(&claims("alice"), None, ED_PRIVATE), "app-ed"),
        ] {
            assert!(looks_like_jwt(&token));
            let id = v.verify(&token, None).unwrap_or_else(|e| panic!("{kid}: {e}"));
            assert_eq!((id.authid.as_str(), id.authrole.as_str()), ("alice", "backend"));
            assert_eq!(id.kid.as_deref(), Some(kid));
            assert!(id.expires_at > now());
        }
    }

    #[test]
    fn the_identity_names_the_source_of_the_key_that_verified_it() {
        let v = JwtVerifier::new(
            REALM,
            vec![
                JwtKey::hs256(Some("a".into()), &Secret::new("first-key-first-key-first-key-123")).unwrap().with_source("cred_a"),
                JwtKey::hs256(Some("b".into()), &Secret::new(HS_SECRET)).unwrap().with_source("cred_b"),
                JwtKey::hs256(None, &Secret::new("untagged-untagged-untagged-12345")).unwrap(),
            ],
        );
        assert_eq!(v.keys()[1].source(), Some("cred_b"));
        // Found by kid, and by trying each key (no kid): the source is the verifying key's.
        for kid in [Some("b"), None] {
            let id = v.verify(&hs(&claims("alice"), kid, HS_SECRET.as_bytes()), None).unwrap();
            assert_eq!(id.source.as_deref(), Some("cred_b"));
        }
        let id = v.verify(&hs(&claims("alice"), None, b"untagged-untagged-untagged-12345"), None).unwrap();
        assert_eq!(id.source, None);
    }

    #[test]
    fn claims_map_onto_the_identity() {
        let v = verifier();
        let c = json!({"sub": "dev-7", "aud": [REALM, "other"], "exp": now() + 60, "authrole": "sensor",
                       "extra": {"site": "lyon", "floor": 3, "tags": ["a"]}});
        let id = v.verify(&ed(&c, None, ED_PRIVATE), Some("dev-7")).unwrap();
        assert_eq!(id.authrole, "sensor");
        assert_eq!(id.authextra["site"], Value::from("lyon"));
        assert_eq!(id.authextra["floor"], Value::Int(3));
        assert_eq!(id.authextra["tags"], Value::List(vec![Value::from("a")]));
        // No role claim: the key's default role; none there either: refused.
        let c = json!({"sub": "dev-7", "aud": REALM, "exp": now() + 60});
        assert_eq!(v.verify(&ed(&c, None, ED_PRIVATE), None).unwrap().authrole, "device");
        assert_eq!(v.verify(&hs(&c, None, HS_SECRET.as_bytes()), None), Err(JwtError::NoRole));
        let c = json!({"sub": "x", "aud": REALM, "exp": now() + 60, "role": "a", "authrole": "b"});
        assert!(matches!(v.verify(&hs(&c, None, HS_SECRET.as_bytes()), None), Err(JwtError::BadClaims(_))));
        let c = json!({"sub": "", "aud": REALM, "exp": now() + 60, "role": "a"});
        assert!(matches!(v.verify(&hs(&c, None, HS_SECRET.as_bytes()), None), Err(JwtError::BadClaims(_))));
        let c = json!({"sub": "x", "aud": REALM, "exp": now() + 60, "role": 5});
        assert!(matches!(v.verify(&hs(&c, None, HS_SECRET.as_bytes()), None), Err(JwtError::BadClaims(_))));
    }

    #[test]
    fn admin_client_tokens_verify() {
        // The shape `POST /v1/realms/{id}/tokens` mints (services/admin/src/http/tokens.rs):
        // HS256 with the realm's token key, kid "junction", iss/iat/jti extra claims.
        let token_key = Secret::new("realm-token-key-from-the-store-0123456789");
        let c = json!({"iss": "junction", "aud": REALM, "sub": "browser-1", "role": "frontend",
                       "iat": now(), "exp": now() + 300, "jti": "tok_123"});
        let t = hs(&c, Some("junction"), token_key.as_bytes());
        let realm_keys = vec![
            JwtKey::hs256(Some("junction".into()), &token_key).unwrap(),
            JwtKey::eddsa_pem(Some("app-ed".into()), ED_PUBLIC).unwrap(),
        ];
        let id = JwtVerifier::new(REALM, realm_keys).verify(&t, Some("browser-1")).unwrap();
        assert_eq!(
            (id.authid.as_str(), id.authrole.as_str(), id.kid.as_deref()),
            ("browser-1", "frontend", Some("junction"))
        );
    }

    #[test]
    fn hello_authid_must_match_sub() {
        let t = hs(&claims("alice"), None, HS_SECRET.as_bytes());
        assert_eq!(verifier().verify(&t, Some("bob")), Err(JwtError::AuthidMismatch));
        assert!(verifier().verify(&t, Some("alice")).is_ok());
    }

    #[test]
    fn expiry_and_not_before_with_leeway() {
        let v = verifier();
        let mut c = claims("alice");
        c["exp"] = json!(now() - 3600);
        assert_eq!(v.verify(&hs(&c, None, HS_SECRET.as_bytes()), None), Err(JwtError::Expired));
        c["exp"] = json!(now() - 10);
        assert!(v.verify(&hs(&c, None, HS_SECRET.as_bytes()), None).is_ok(), "within leeway");
        let mut c = claims("alice");
        c["nbf"] = json!(now() + 3600);
        assert_eq!(v.verify(&rs(&c, None, RSA_PRIVATE), None), Err(JwtError::NotYetValid));
        c["nbf"] = json!(now() + 10);
        assert!(v.verify(&rs(&c, None, RSA_PRIVATE), None).is_ok(), "within leeway");
        let strict = verifier().with_leeway(0);
        c["nbf"] = json!(now() + 10);
        assert_eq!(strict.verify(&rs(&c, None, RSA_PRIVATE), None), Err(JwtError::NotYetValid));
    }

    #[test]
    fn audience_is_the_realm() {
        let v = verifier();
        let mut c = claims("alice");
        c["aud"] = json!("com.acme.other");
        assert_eq!(v.verify(&hs(&c, None, HS_SECRET.as_bytes()), None), Err(JwtError::WrongAudience));
        c.as_object_mut().unwrap().remove("aud");
        assert_eq!(v.verify(&hs(&c, None, HS_SECRET.as_bytes()), None), Err(JwtError::MissingClaim("aud".into())));
        let mut c = claims("alice");
        c.as_object_mut().unwrap().remove("exp");
        assert!(v.verify(&hs(&c, None, HS_SECRET.as_bytes()), None).is_err(), "exp is required");
        let mut c = claims("alice");
        c.as_object_mut().unwrap().remove("sub");
        assert!(v.verify(&hs(&c, None, HS_SECRET.as_bytes()), None).is_err(), "sub is required");
    }

    #[test]
    fn wrong_keys_fail() {
        let v = verifier();
        assert_eq!(v.verify(&hs(&claims("a"), None, b"another-secret"), None), Err(JwtError::BadSignature));
        assert_eq!(v.verify(&rs(&claims("a"), None, RSA2_PRIVATE), None), Err(JwtError::BadSignature));
        assert_eq!(v.verify(&ed(&claims("a"), None, ED2_PRIVATE), None), Err(JwtError::BadSignature));
        // A kid no key has: not tried against the others.
        assert_eq!(v.verify(&ed(&claims("a"), Some("nope"), ED_PRIVATE), None), Err(JwtError::NoKey));
        // A right signature under the wrong kid fails too.
        let both = JwtVerifier::new(
            REALM,
            vec![
                JwtKey::eddsa_pem(Some("k1".into()), ED_PUBLIC).unwrap(),
                JwtKey::eddsa_pem(Some("k2".into()), ED2_PUBLIC).unwrap(),
            ],
        );
        assert_eq!(both.verify(&ed(&claims("a"), Some("k2"), ED_PRIVATE), None), Err(JwtError::BadSignature));
        assert!(both.verify(&ed(&claims("a"), Some("k1"), ED_PRIVATE), None).is_ok());
        // Without kid, every key of the algorithm is tried.
        assert_eq!(both.verify(&ed(&claims("a"), None, ED2_PRIVATE), None).unwrap().kid.as_deref(), Some("k2"));
    }

    #[test]
    fn algorithm_confusion_fails() {
        // HS256 signed with the RSA public key PEM as HMAC secret: the classic attack on
        // verifiers that take the algorithm from the token.
        let forged = hs(&claims("admin"), None, RSA_PUBLIC.as_bytes());
        let rsa_only = JwtVerifier::new(REALM, vec![JwtKey::rs256_pem(None, RSA_PUBLIC).unwrap()]);
        assert_eq!(rsa_only.verify(&forged, None), Err(JwtError::NoKey));
        assert_eq!(verifier().verify(&forged, None), Err(JwtError::BadSignature));
        let forged_kid = hs(&claims("admin"), Some("app-rs"), RSA_PUBLIC.as_bytes());
        assert_eq!(verifier().verify(&forged_kid, None), Err(JwtError::NoKey));
        // An RS256 token never reaches an HS256 key, and `alg: none` is not a JWT here.
        let rs_only_hs = JwtVerifier::new(REALM, vec![JwtKey::hs256(None, &Secret::new(HS_SECRET)).unwrap()]);
        assert_eq!(rs_only_hs.verify(&rs(&claims("a"), None, RSA_PRIVATE), None), Err(JwtError::NoKey));
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", base64_url(&claims("admin").to_string()));
        assert_eq!(verifier().verify(&none, None), Err(JwtError::Malformed));
    }

    fn base64_url(s: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn garbage_and_limits() {
        let v = verifier();
        for bad in ["", "abc", "a.b.c", "eyJ.eyJ.x", "ticket-not-jwt"] {
            assert!(v.verify(bad, None).is_err(), "{bad}");
            assert!(!looks_like_jwt(bad) || bad.starts_with("eyJ"), "{bad}");
        }
        assert_eq!(v.verify(&"a".repeat(MAX_TOKEN_LEN + 1), None), Err(JwtError::TooLong));
        // Tampered payload, same signature.
        let t = hs(&claims("alice"), None, HS_SECRET.as_bytes());
        let mut parts: Vec<&str> = t.split('.').collect();
        let evil = base64_url(&json!({"sub": "root", "aud": REALM, "exp": now() + 600, "role": "admin"}).to_string());
        parts[1] = &evil;
        assert_eq!(v.verify(&parts.join("."), None), Err(JwtError::BadSignature));
    }

    #[test]
    fn key_construction() {
        assert_eq!(JwtKey::hs256(None, &Secret::new("")).unwrap_err(), JwtKeyError::EmptySecret);
        assert_eq!(JwtKey::rs256_pem(None, "not pem").unwrap_err(), JwtKeyError::BadPem("RSA"));
        assert_eq!(JwtKey::eddsa_pem(None, "not pem").unwrap_err(), JwtKeyError::BadPem("Ed25519"));
        let k = JwtKey::hs256(Some("k".into()), &Secret::new(HS_SECRET)).unwrap();
        assert!(!format!("{k:?}").contains(HS_SECRET));
        assert_eq!((k.kid(), k.algorithm()), (Some("k"), Algorithm::HS256));
    }

    #[test]
    fn json_values_convert() {
        let v = json_to_value(json!({"a": [1, -2, 1.5, u64::MAX, null, true, "s"]}));
        let Value::Dict(d) = v else { panic!() };
        assert_eq!(
            d["a"],
            Value::List(vec![
                Value::Int(1),
                Value::Int(-2),
                Value::Float(1.5),
                Value::UInt(u64::MAX),
                Value::Null,
                Value::Bool(true),
                Value::from("s")
            ])
        );
    }
}
