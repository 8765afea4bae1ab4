//! Who is calling: dashboard / CLI users (JWT access tokens, as a bearer token or the
//! `junction_session` cookie) and automation (API keys `jk_<prefix>_<secret>` with scopes).
//!
//! Every request re-reads the caller's membership (or key) from the store, so removing a member
//! or revoking a key takes effect at once, not when a token expires.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use junction_store::{Actor, ActorKind, MemberRole, Secret, now_millis, secrets};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "junction_session";
pub const REFRESH_COOKIE: &str = "junction_refresh";
const ISSUER: &str = "junction-admin";

/// What an API key may do. Users' rights come from their [`MemberRole`] instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    RealmsRead,
    RealmsWrite,
    CredentialsRead,
    CredentialsWrite,
    TokensCreate,
    AuditRead,
    /// List a realm's live sessions, read its counters.
    SessionsRead,
    /// Kill a realm's live sessions.
    SessionsWrite,
}

impl Scope {
    pub const ALL: [Scope; 8] = [
        Scope::RealmsRead,
        Scope::RealmsWrite,
        Scope::CredentialsRead,
        Scope::CredentialsWrite,
        Scope::TokensCreate,
        Scope::AuditRead,
        Scope::SessionsRead,
        Scope::SessionsWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::RealmsRead => "realms:read",
            Scope::RealmsWrite => "realms:write",
            Scope::CredentialsRead => "credentials:read",
            Scope::CredentialsWrite => "credentials:write",
            Scope::TokensCreate => "tokens:create",
            Scope::AuditRead => "audit:read",
            Scope::SessionsRead => "sessions:read",
            Scope::SessionsWrite => "sessions:write",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    /// The least member role that has this right.
    fn min_member_role(self) -> MemberRole {
        match self {
            Scope::RealmsRead | Scope::CredentialsRead | Scope::AuditRead | Scope::SessionsRead => {
                MemberRole::Viewer
            }
            Scope::RealmsWrite
            | Scope::CredentialsWrite
            | Scope::TokensCreate
            | Scope::SessionsWrite => MemberRole::Admin,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Access {
    Member(MemberRole),
    ApiKey(Vec<Scope>),
}

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub struct Principal {
    pub tenant_id: String,
    pub actor: Actor,
    pub access: Access,
}

impl Principal {
    /// Refuses (403) a caller without this right.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        let ok = match &self.access {
            Access::Member(role) => *role >= scope.min_member_role(),
            Access::ApiKey(scopes) => scopes.contains(&scope),
        };
        if ok {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "requires the {} scope or a member role that has it",
                scope.as_str()
            )))
        }
    }

    /// Refuses (403) anything but a user with at least this member role (API keys cannot
    /// manage API keys or members).
    pub fn require_member(&self, least: MemberRole) -> Result<MemberRole, ApiError> {
        match &self.access {
            Access::Member(role) if *role >= least => Ok(*role),
            Access::Member(_) => Err(ApiError::Forbidden(format!(
                "requires the {} member role",
                least.as_str()
            ))),
            Access::ApiKey(_) => Err(ApiError::Forbidden(
                "API keys cannot do this: log in as a user".into(),
            )),
        }
    }
}

/// Claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    /// Tenant id.
    pub tid: String,
    pub email: String,
    pub iss: String,
    pub iat: u64,
    pub exp: u64,
}

/// Signs and verifies access tokens.
pub struct SessionKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl SessionKeys {
    pub fn new(secret: &Secret) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.leeway = 5;
        SessionKeys {
            encoding: EncodingKey::from_secret(secret.expose().as_bytes()),
            decoding: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
        }
    }

    pub fn issue(
        &self,
        user_id: &str,
        tenant_id: &str,
        email: &str,
        ttl: Duration,
    ) -> Result<(String, u64), ApiError> {
        let now = (now_millis() / 1000) as u64;
        let claims = AccessClaims {
            sub: user_id.to_string(),
            tid: tenant_id.to_string(),
            email: email.to_string(),
            iss: ISSUER.to_string(),
            iat: now,
            exp: now + ttl.as_secs(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)?;
        Ok((token, claims.exp))
    }

    pub fn verify(&self, token: &str) -> Option<AccessClaims> {
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|d| d.claims)
    }
}

/// Remembers, per API key id, the SHA-256 of the last key that passed argon2 verification, so
/// that a script's every request does not cost an argon2 run. The store is still read on every
/// request (revocation and rotation act at once); a changed secret misses the cache.
#[derive(Default)]
pub struct ApiKeyCache {
    // std Mutex: held for a map look-up or insert only, never across an await.
    verified: Mutex<HashMap<String, Sha256Hex>>,
}

const API_KEY_CACHE_MAX: usize = 10_000;

impl ApiKeyCache {
    fn hit(&self, key_id: &str, digest: &Sha256Hex) -> bool {
        self.verified
            .lock()
            .map(|m| m.get(key_id) == Some(digest))
            .unwrap_or(false)
    }
    fn remember(&self, key_id: &str, digest: Sha256Hex) {
        if let Ok(mut m) = self.verified.lock() {
            if m.len() >= API_KEY_CACHE_MAX {
                m.clear();
            }
            m.insert(key_id.to_string(), digest);
        }
    }
}

/// Hex SHA-256 of a whole API key.
#[derive(Clone, PartialEq, Eq, Debug)]
struct Sha256Hex(String);

/// Fixed-window rate limiter keyed by strings (e-mail, client IP).
pub struct RateLimiter {
    window: Duration,
    // std Mutex: held for a map update only, never across an await.
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

const RATE_LIMITER_MAX_KEYS: usize = 100_000;

impl RateLimiter {
    pub fn new(window: Duration) -> Self {
        RateLimiter {
            window,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one attempt for `key`; refuses with the seconds to wait past `limit` attempts
    /// per window.
    pub fn check(&self, key: &str, limit: u32) -> Result<(), u64> {
        let now = Instant::now();
        let Ok(mut windows) = self.windows.lock() else {
            return Ok(());
        };
        if windows.len() >= RATE_LIMITER_MAX_KEYS {
            let window = self.window;
            windows.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = windows.entry(key.to_string()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 += 1;
        if entry.1 > limit {
            let left = self.window.saturating_sub(now.duration_since(entry.0));
            Err(left.as_secs().max(1))
        } else {
            Ok(())
        }
    }
}

/// The value of a cookie in the request.
pub fn cookie_value<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Splits `jk_<prefix>_<secret>`.
pub fn split_api_key(key: &str) -> Option<(&str, &str)> {
    let (prefix, secret) = key.strip_prefix("jk_")?.split_once('_')?;
    (!prefix.is_empty() && !secret.is_empty()).then_some((prefix, secret))
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = match bearer(parts) {
            Some(t) => t.to_string(),
            None => cookie_value(&parts.headers, SESSION_COOKIE)
                .map(str::to_string)
                .ok_or(ApiError::Unauthorized(
                    "log in, or send an API key as a bearer token",
                ))?,
        };
        if token.starts_with("jk_") {
            api_key_principal(state, &token).await
        } else {
            user_principal(state, &token).await
        }
    }
}

async fn user_principal(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let claims = state
        .sessions
        .verify(token)
        .ok_or(ApiError::Unauthorized("invalid or expired access token"))?;
    let role = state
        .store
        .member_role(&claims.tid, &claims.sub)
        .await?
        .ok_or(ApiError::Unauthorized("no longer a member of this tenant"))?;
    Ok(Principal {
        tenant_id: claims.tid,
        actor: Actor {
            kind: ActorKind::User,
            id: claims.sub,
            label: claims.email,
        },
        access: Access::Member(role),
    })
}

async fn api_key_principal(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    const INVALID: &str = "invalid or revoked API key";
    let (prefix, secret) = split_api_key(token).ok_or(ApiError::Unauthorized(INVALID))?;
    let found = state
        .store
        .api_key_by_prefix(prefix)
        .await?
        .ok_or(ApiError::Unauthorized(INVALID))?;
    if found.key.revoked_at.is_some() {
        return Err(ApiError::Unauthorized(INVALID));
    }
    let digest = Sha256Hex(secrets::sha256_hex(token));
    if !state.key_cache.hit(&found.key.id, &digest) {
        let ok = secrets::verify(Secret::new(secret), found.secret_hash.clone()).await?;
        if !ok {
            return Err(ApiError::Unauthorized(INVALID));
        }
        state.key_cache.remember(&found.key.id, digest);
    }
    let now = now_millis();
    if found.key.last_used_at.is_none_or(|t| now - t > 60_000) {
        state.store.touch_api_key(&found.key.id, now).await?;
    }
    let scopes = found
        .key
        .scopes
        .iter()
        .filter_map(|s| Scope::parse(s))
        .collect();
    Ok(Principal {
        tenant_id: found.key.tenant_id.clone(),
        actor: Actor {
            kind: ActorKind::ApiKey,
            id: found.key.id.clone(),
            label: format!("{} (jk_{})", found.key.name, found.key.prefix),
        },
        access: Access::ApiKey(scopes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_split_on_the_first_separator_after_the_prefix() {
        assert_eq!(
            split_api_key("jk_abc123_se_cr-et"),
            Some(("abc123", "se_cr-et"))
        );
        assert_eq!(split_api_key("jk__x"), None);
        assert_eq!(split_api_key("nope"), None);
    }

    #[test]
    fn the_rate_limiter_refuses_past_the_limit() {
        let l = RateLimiter::new(Duration::from_secs(60));
        for _ in 0..3 {
            assert!(l.check("a", 3).is_ok());
        }
        let wait = l.check("a", 3).unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(l.check("b", 3).is_ok());
    }

    #[test]
    fn access_tokens_verify_and_tampered_ones_do_not() {
        let keys = SessionKeys::new(&Secret::new("k".repeat(32)));
        let (t, _) = keys
            .issue("usr_1", "ten_1", "a@b.c", Duration::from_secs(60))
            .unwrap();
        assert_eq!(keys.verify(&t).unwrap().tid, "ten_1");
        let other = SessionKeys::new(&Secret::new("x".repeat(32)));
        assert!(other.verify(&t).is_none());
    }

    #[test]
    fn scopes_round_trip_and_member_roles_rank() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
        let viewer = Principal {
            tenant_id: "t".into(),
            actor: Actor {
                kind: ActorKind::User,
                id: "u".into(),
                label: "u".into(),
            },
            access: Access::Member(MemberRole::Viewer),
        };
        assert!(viewer.require(Scope::RealmsRead).is_ok());
        assert!(viewer.require(Scope::RealmsWrite).is_err());
        assert!(viewer.require_member(MemberRole::Admin).is_err());
    }
}
