//! Sign-up, log-in, refresh, log-out, and who am I.
//!
//! Log-in answers with a short-lived access token (JWT) and a refresh token, both in the body
//! (for scripts: `Authorization: Bearer`) and as `HttpOnly; SameSite=Strict` cookies (for the
//! dashboard). The refresh token is single-use: each refresh returns a new one.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use junction_store::{
    MemberRole, Membership, NewSignup, Secret, Tenant, TenantLimits, User, now_millis, secrets,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{check_name, ts};
use crate::auth::{Access, Principal, REFRESH_COOKIE, SESSION_COOKIE, cookie_value};
use crate::error::{ApiError, Problem, Violations};
use crate::extract::{Json, parse_json};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    pub email: String,
    /// 10 to 1024 characters.
    #[schema(value_type = String)]
    pub password: Secret,
    /// The organisation's display name.
    pub tenant_name: String,
    /// URL-friendly unique name (3-40 of `a-z 0-9 -`); derived from `tenant_name` when absent.
    #[serde(default)]
    pub tenant_slug: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    #[schema(value_type = String)]
    pub password: Secret,
    /// Slug or id of the tenant to log in to, for users of several tenants (default: the first).
    #[serde(default)]
    pub tenant: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token; the `junction_refresh` cookie is used when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub refresh_token: Option<Secret>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TenantOut {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub plan: String,
    pub limits: LimitsOut,
    pub created_at: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LimitsOut {
    pub max_realms: i64,
    pub max_connections: i64,
    pub max_messages_per_sec: i64,
    pub max_message_size: i64,
}

impl From<Tenant> for TenantOut {
    fn from(t: Tenant) -> Self {
        TenantOut {
            id: t.id,
            slug: t.slug,
            name: t.name,
            plan: t.plan,
            limits: LimitsOut {
                max_realms: t.limits.max_realms,
                max_connections: t.limits.max_connections,
                max_messages_per_sec: t.limits.max_messages_per_sec,
                max_message_size: t.limits.max_message_size,
            },
            created_at: ts(t.created_at),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserOut {
    pub id: String,
    pub email: String,
    pub created_at: String,
}

impl From<User> for UserOut {
    fn from(u: User) -> Self {
        UserOut {
            id: u.id,
            email: u.email,
            created_at: ts(u.created_at),
        }
    }
}

/// A logged-in session.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionOut {
    /// Send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Single-use: exchange at `POST /v1/auth/refresh` for a new session.
    pub refresh_token: String,
    pub user: UserOut,
    pub tenant: TenantOut,
    /// `owner`, `admin` or `viewer`.
    pub role: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MeOut {
    pub tenant: TenantOut,
    /// `user` or `api_key`.
    pub actor_kind: String,
    pub actor_id: String,
    pub actor_label: String,
    /// The member role, for users.
    pub role: Option<String>,
    /// The scopes, for API keys.
    pub scopes: Option<Vec<String>>,
}

fn validate_email(v: &mut Violations, email: &str) {
    let ok = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
    if !ok {
        v.add("email", "must be an e-mail address");
    }
}

fn slug_from(name: &str) -> String {
    let mut slug = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let mut slug: String = slug.trim_matches('-').chars().take(32).collect();
    slug = slug.trim_end_matches('-').to_string();
    if slug.len() < 3 {
        slug = format!("t-{}", secrets::random_alnum(6));
    }
    slug
}

fn check_slug(slug: &str) -> Result<(), &'static str> {
    let ok = (3..=40).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err("must be 3 to 40 of a-z, 0-9 and '-', not starting or ending with '-'")
    }
}

/// Creates a tenant and its owner, and logs the owner in.
#[utoipa::path(post, path = "/v1/signup", tag = "session", request_body = SignupRequest,
    responses(
        (status = 201, body = SessionOut),
        (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)
    ))]
async fn signup(
    State(state): State<AppState>,
    Json(req): Json<SignupRequest>,
) -> Result<Response, ApiError> {
    if !state.config.public_signup {
        return Err(ApiError::Forbidden(
            "sign-up is closed on this installation".into(),
        ));
    }
    let email = req.email.trim().to_lowercase();
    let mut v = Violations::new();
    validate_email(&mut v, &email);
    let plen = req.password.expose().chars().count();
    if !(10..=1024).contains(&plen) {
        v.add("password", "must be 10 to 1024 characters");
    }
    v.check("tenant_name", check_name(&req.tenant_name, 100));
    let slug = match &req.tenant_slug {
        Some(s) => {
            v.check("tenant_slug", check_slug(s));
            s.clone()
        }
        None => slug_from(&req.tenant_name),
    };
    v.finish()?;
    let password_hash = secrets::hash(req.password, state.hash_params()).await?;
    let (tenant, user) = state
        .store
        .signup(NewSignup {
            tenant_slug: slug,
            tenant_name: req.tenant_name.trim().to_string(),
            plan: "free".into(),
            limits: TenantLimits::free(),
            email,
            password_hash,
        })
        .await?;
    tracing::info!(tenant = %tenant.id, user = %user.id, "tenant signed up");
    let membership = Membership {
        tenant,
        user_id: user.id.clone(),
        role: MemberRole::Owner,
    };
    start_session(&state, user, membership, StatusCode::CREATED).await
}

/// Logs in with e-mail and password. Rate-limited per e-mail and per client address.
#[utoipa::path(post, path = "/v1/auth/login", tag = "session", request_body = LoginRequest,
    responses(
        (status = 200, body = SessionOut),
        (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 422, body = Problem), (status = 429, body = Problem)
    ))]
async fn login(
    State(state): State<AppState>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    const INVALID: &str = "invalid e-mail or password";
    let email = req.email.trim().to_lowercase();
    let limit = state.config.login_attempts_per_minute;
    state
        .login_limiter
        .check(&format!("email:{email}"), limit)
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
    if let Some(Extension(ConnectInfo(addr))) = connect {
        state
            .login_limiter
            .check(&format!("ip:{}", addr.ip()), limit.saturating_mul(10))
            .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
    }
    let found = state.store.user_for_login(&email).await?;
    let (user, hash) = match found {
        Some(login) => (Some(login.user), login.password_hash),
        None => (None, state.dummy_hash.clone()),
    };
    let ok = secrets::verify(req.password, hash).await?;
    let user = match (user, ok) {
        (Some(user), true) => user,
        _ => return Err(ApiError::Unauthorized(INVALID)),
    };
    let memberships = state.store.memberships(&user.id).await?;
    let membership = match &req.tenant {
        Some(t) => memberships
            .into_iter()
            .find(|m| &m.tenant.slug == t || &m.tenant.id == t),
        None => memberships.into_iter().next(),
    }
    .ok_or(ApiError::Unauthorized("not a member of that tenant"))?;
    start_session(&state, user, membership, StatusCode::OK).await
}

/// Exchanges a refresh token (body or cookie) for a new session.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "session", request_body(content = Option<RefreshRequest>),
    responses(
        (status = 200, body = SessionOut),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 422, body = Problem)
    ))]
async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token =
        refresh_token_of(&headers, &body)?.ok_or(ApiError::Unauthorized("no refresh token"))?;
    let new = secrets::random_token(32);
    let expires = now_millis() + (state.config.refresh_token_ttl_secs as i64) * 1000;
    let (user_id, tenant_id) = state
        .store
        .rotate_refresh_token(
            &secrets::sha256_hex(token.expose()),
            &secrets::sha256_hex(new.expose()),
            expires,
        )
        .await
        .map_err(|e| match e {
            junction_store::StoreError::NotFound => {
                ApiError::Unauthorized("invalid, used or expired refresh token")
            }
            other => other.into(),
        })?;
    let user = state.store.user(&user_id).await?;
    let memberships = state.store.memberships(&user_id).await?;
    let membership = memberships
        .into_iter()
        .find(|m| m.tenant.id == tenant_id)
        .ok_or(ApiError::Unauthorized("no longer a member of this tenant"))?;
    session_response(&state, user, membership, new, StatusCode::OK)
}

/// Ends the session: revokes the refresh token and clears the cookies.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "session", request_body(content = Option<RefreshRequest>),
    responses((status = 204), (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if let Some(token) = refresh_token_of(&headers, &body)? {
        state
            .store
            .revoke_refresh_token(&secrets::sha256_hex(token.expose()))
            .await?;
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    for name in [SESSION_COOKIE, REFRESH_COOKIE] {
        let path = if name == SESSION_COOKIE {
            "/v1"
        } else {
            "/v1/auth"
        };
        let c = format!(
            "{name}=; Path={path}; HttpOnly; SameSite=Strict; Max-Age=0{}",
            secure(&state)
        );
        if let Ok(v) = HeaderValue::from_str(&c) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(res)
}

/// Who is calling: the tenant, and the user's role or the API key's scopes.
#[utoipa::path(get, path = "/v1/me", tag = "session",
    responses((status = 200, body = MeOut), (status = 401, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn me(State(state): State<AppState>, p: Principal) -> Result<axum::Json<MeOut>, ApiError> {
    let tenant = state.store.tenant(&p.tenant_id).await?;
    let (role, scopes) = match &p.access {
        Access::Member(r) => (Some(r.as_str().to_string()), None),
        Access::ApiKey(s) => (
            None,
            Some(s.iter().map(|s| s.as_str().to_string()).collect()),
        ),
    };
    Ok(axum::Json(MeOut {
        tenant: tenant.into(),
        actor_kind: p.actor.kind.as_str().to_string(),
        actor_id: p.actor.id,
        actor_label: p.actor.label,
        role,
        scopes,
    }))
}

fn refresh_token_of(headers: &HeaderMap, body: &[u8]) -> Result<Option<Secret>, ApiError> {
    if !body.iter().all(u8::is_ascii_whitespace) {
        let req: RefreshRequest = parse_json(body)?;
        if req.refresh_token.is_some() {
            return Ok(req.refresh_token);
        }
    }
    Ok(cookie_value(headers, REFRESH_COOKIE).map(Secret::new))
}

fn secure(state: &AppState) -> &'static str {
    if state.config.cookie_secure {
        "; Secure"
    } else {
        ""
    }
}

async fn start_session(
    state: &AppState,
    user: User,
    membership: Membership,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let refresh = secrets::random_token(32);
    let expires = now_millis() + (state.config.refresh_token_ttl_secs as i64) * 1000;
    state
        .store
        .create_refresh_token(
            &user.id,
            &membership.tenant.id,
            &secrets::sha256_hex(refresh.expose()),
            expires,
        )
        .await?;
    session_response(state, user, membership, refresh, status)
}

fn session_response(
    state: &AppState,
    user: User,
    membership: Membership,
    refresh: Secret,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let ttl = Duration::from_secs(state.config.access_token_ttl_secs);
    let (access, _exp) = state
        .sessions
        .issue(&user.id, &membership.tenant.id, &user.email, ttl)?;
    let cookies = [
        format!(
            "{SESSION_COOKIE}={access}; Path=/v1; HttpOnly; SameSite=Strict; Max-Age={}{}",
            ttl.as_secs(),
            secure(state)
        ),
        format!(
            "{REFRESH_COOKIE}={}; Path=/v1/auth; HttpOnly; SameSite=Strict; Max-Age={}{}",
            refresh.expose(),
            state.config.refresh_token_ttl_secs,
            secure(state)
        ),
    ];
    let body = SessionOut {
        access_token: access,
        token_type: "Bearer".into(),
        expires_in: ttl.as_secs(),
        refresh_token: refresh.into_exposed(),
        user: user.into(),
        tenant: membership.tenant.into(),
        role: membership.role.as_str().into(),
    };
    let mut res = (status, axum::Json(body)).into_response();
    for c in cookies {
        let v = HeaderValue::from_str(&c).map_err(ApiError::internal)?;
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_derive_from_names() {
        assert_eq!(slug_from("Acme Shop, Inc."), "acme-shop-inc");
        assert!(check_slug(&slug_from("Ü")).is_ok());
        assert!(check_slug("acme").is_ok());
        assert!(check_slug("-acme").is_err());
        assert!(check_slug("ac").is_err());
        assert!(check_slug("Acme").is_err());
    }
}
