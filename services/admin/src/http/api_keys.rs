//! API keys for automation: `jk_<prefix>_<secret>`, with scopes. The whole key is shown once,
//! when created or rotated; lists show the prefix. Managed by users with the admin role (an API
//! key cannot mint API keys).

use axum::Json as Out;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use junction_store::{ApiKey, MemberRole, NewApiKey, Secret, secrets};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{check_name, ts};
use crate::auth::{Principal, Scope};
use crate::error::{ApiError, Problem, Violations};
use crate::extract::{Json, List, ListParams, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(get_key, revoke_key))
        .routes(routes!(rotate_key))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    pub name: String,
    /// Any of `realms:read`, `realms:write`, `credentials:read`, `credentials:write`,
    /// `tokens:create`, `audit:read`.
    pub scopes: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyOut {
    pub id: String,
    pub name: String,
    /// The key reads `jk_<prefix>_<secret>`.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl From<ApiKey> for ApiKeyOut {
    fn from(k: ApiKey) -> Self {
        ApiKeyOut {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            scopes: k.scopes,
            created_at: ts(k.created_at),
            last_used_at: k.last_used_at.map(ts),
            revoked_at: k.revoked_at.map(ts),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IssuedApiKey {
    pub api_key: ApiKeyOut,
    /// The whole key, shown this once: send it as `Authorization: Bearer <key>`.
    pub key: String,
}

/// A fresh key: its public prefix, the whole key, and the hash of the secret part.
async fn mint(state: &AppState) -> Result<(String, Secret, String), ApiError> {
    let prefix = secrets::random_alnum(12);
    let secret = secrets::random_token(32);
    let key = Secret::new(format!("jk_{prefix}_{}", secret.expose()));
    let hash = secrets::hash(secret, state.hash_params()).await?;
    Ok((prefix, key, hash))
}

/// Lists the tenant's API keys (prefixes only).
#[utoipa::path(get, path = "/v1/api-keys", tag = "api-keys", params(ListParams),
    responses((status = 200, body = List<ApiKeyOut>), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn list_keys(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<ListParams>,
) -> Result<List<ApiKeyOut>, ApiError> {
    p.require_member(MemberRole::Admin)?;
    Ok(List::from_page(
        state.store.list_api_keys(&p.tenant_id, &q.page()?).await?,
        ApiKeyOut::from,
    ))
}

/// Creates an API key. The answer holds the whole key, this once.
#[utoipa::path(post, path = "/v1/api-keys", tag = "api-keys", request_body = CreateApiKey,
    responses((status = 201, body = IssuedApiKey), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn create_key(
    State(state): State<AppState>,
    p: Principal,
    Json(req): Json<CreateApiKey>,
) -> Result<(StatusCode, Out<IssuedApiKey>), ApiError> {
    p.require_member(MemberRole::Admin)?;
    let mut v = Violations::new();
    v.check("name", check_name(&req.name, 100));
    if req.scopes.is_empty() {
        v.add("scopes", "must name at least one scope");
    }
    for (i, s) in req.scopes.iter().enumerate() {
        if Scope::parse(s).is_none() {
            let all: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
            v.add(
                format!("scopes[{i}]"),
                format!("unknown scope; expected one of {}", all.join(", ")),
            );
        }
    }
    v.finish()?;
    let mut scopes = req.scopes;
    scopes.sort();
    scopes.dedup();
    let (prefix, key, secret_hash) = mint(&state).await?;
    let api_key = state
        .store
        .create_api_key(
            &p.actor,
            &p.tenant_id,
            NewApiKey {
                name: req.name.trim().to_string(),
                prefix,
                secret_hash,
                scopes,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Out(IssuedApiKey {
            api_key: api_key.into(),
            key: key.into_exposed(),
        }),
    ))
}

/// Reads an API key (prefix only).
#[utoipa::path(get, path = "/v1/api-keys/{key_id}", tag = "api-keys", params(("key_id" = String, Path)),
    responses((status = 200, body = ApiKeyOut), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn get_key(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Out<ApiKeyOut>, ApiError> {
    p.require_member(MemberRole::Admin)?;
    Ok(Out(state
        .store
        .get_api_key(&p.tenant_id, &id)
        .await?
        .into()))
}

/// Revokes an API key at once. It stays listed.
#[utoipa::path(delete, path = "/v1/api-keys/{key_id}", tag = "api-keys", params(("key_id" = String, Path)),
    responses((status = 200, body = ApiKeyOut), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn revoke_key(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Out<ApiKeyOut>, ApiError> {
    p.require_member(MemberRole::Admin)?;
    Ok(Out(state
        .store
        .revoke_api_key(&p.actor, &p.tenant_id, &id)
        .await?
        .into()))
}

/// Replaces an API key's prefix and secret; the old key stops working at once. The answer
/// holds the new key, this once.
#[utoipa::path(post, path = "/v1/api-keys/{key_id}/rotate", tag = "api-keys", params(("key_id" = String, Path)),
    responses((status = 200, body = IssuedApiKey), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn rotate_key(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Out<IssuedApiKey>, ApiError> {
    p.require_member(MemberRole::Admin)?;
    // 404 before spending an argon2 run on another tenant's id.
    state.store.get_api_key(&p.tenant_id, &id).await?;
    let (prefix, key, secret_hash) = mint(&state).await?;
    let api_key = state
        .store
        .rotate_api_key(&p.actor, &p.tenant_id, &id, &prefix, &secret_hash)
        .await?;
    Ok(Out(IssuedApiKey {
        api_key: api_key.into(),
        key: key.into_exposed(),
    }))
}
