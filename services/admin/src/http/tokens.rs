//! Client tokens: a tenant's backend asks for a short-lived JWT for one authid and role and
//! hands it to a browser, which joins the realm with it (WAMP ticket auth with the token as
//! ticket). Like Ably token requests: the browser never holds a long-lived secret.
//!
//! Token format (for the router's authenticator): HS256 signed with the realm's token key
//! (`junction_store::RealmAuth::token_key`), header `kid = "junction"`, claims
//! `iss = "junction"`, `aud = <realm URI>`, `sub = <authid>`, `role`, `iat`, `exp`, `jti`.

use axum::Json as Out;
use axum::extract::{Path, State};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use junction_store::{ids, now_millis};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{check_ident, ts};
use crate::auth::{Principal, Scope};
use crate::error::{ApiError, Problem, Violations};
use crate::extract::Json;
use crate::state::AppState;

pub const TOKEN_ISSUER: &str = "junction";
pub const TOKEN_KID: &str = "junction";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_token))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// The authid the session will have.
    pub authid: String,
    /// A role of the realm.
    pub role: String,
    /// Lifetime in seconds (default 3600, at most the server's maximum, 86400 by default).
    #[serde(default)]
    pub ttl_seconds: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenOut {
    /// Pass as the WAMP ticket when joining the realm.
    pub token: String,
    pub expires_at: String,
    pub realm: String,
    pub authid: String,
    pub role: String,
}

/// The claims of a client token.
#[derive(Debug, Serialize, Deserialize)]
pub struct ClientClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub role: String,
    pub iat: u64,
    pub exp: u64,
    pub jti: String,
}

/// Mints a short-lived client token for an authid and role.
#[utoipa::path(post, path = "/v1/realms/{realm_id}/tokens", tag = "tokens", params(("realm_id" = String, Path)), request_body = CreateToken,
    responses((status = 200, body = TokenOut), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn create_token(
    State(state): State<AppState>,
    p: Principal,
    Path(realm_id): Path<String>,
    Json(req): Json<CreateToken>,
) -> Result<Out<TokenOut>, ApiError> {
    p.require(Scope::TokensCreate)?;
    let max = state.config.client_token_max_ttl_secs;
    let ttl = req.ttl_seconds.unwrap_or(3600.min(max));
    let mut v = Violations::new();
    if req.authid.is_empty()
        || req.authid.len() > 255
        || req
            .authid
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        v.add(
            "authid",
            "must be 1 to 255 bytes without whitespace or control characters",
        );
    }
    v.check("role", check_ident(&req.role, 64));
    if !(1..=max).contains(&ttl) {
        v.add("ttl_seconds", format!("must be from 1 to {max}"));
    }
    v.finish()?;
    let realm = state.store.get_realm_auth(&p.tenant_id, &realm_id).await?;
    if !state.store.role_exists(&realm.realm, &req.role).await? {
        return Err(ApiError::field(
            "role",
            "no role with this name in the realm",
        ));
    }
    let now = (now_millis() / 1000) as u64;
    let claims = ClientClaims {
        iss: TOKEN_ISSUER.into(),
        aud: realm.realm.uri.clone(),
        sub: req.authid.clone(),
        role: req.role.clone(),
        iat: now,
        exp: now + ttl,
        jti: ids::new_id("tok"),
    };
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(TOKEN_KID.into());
    let token = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_secret(realm.token_key.expose().as_bytes()),
    )
    .map_err(ApiError::internal)?;
    Ok(Out(TokenOut {
        token,
        expires_at: ts((claims.exp * 1000) as i64),
        realm: realm.realm.uri,
        authid: req.authid,
        role: req.role,
    }))
}
