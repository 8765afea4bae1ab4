//! Realms: create, list, read, change settings, delete.

use axum::Json as Out;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use junction_changefeed::Change;
use junction_store::{NewRealm, Realm, RealmPatch, secrets};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::procedures::{self, Procedure, double_option};
use super::uris::check_uri;
use super::{check_ident, ts};
use crate::auth::{Principal, Scope};
use crate::error::{ApiError, Problem, Violations};
use crate::extract::{Json, List, ListParams, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_realms, create_realm))
        .routes(routes!(get_realm, update_realm, delete_realm))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRealm {
    /// Globally unique WAMP URI, e.g. `com.acme.shop`.
    pub uri: String,
    /// Whether clients may join without credentials (default false).
    #[serde(default)]
    pub allow_anonymous: bool,
    /// Role of anonymous sessions (default `anonymous`).
    #[serde(default)]
    pub anonymous_role: Option<String>,
    /// Dynamic authenticator: the procedure the router calls for `ticket` log-ins no
    /// credential matches (default none).
    #[serde(default)]
    pub authenticator: Option<Procedure>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRealm {
    pub allow_anonymous: Option<bool>,
    pub anonymous_role: Option<String>,
    /// Sets the dynamic authenticator; `null` removes it; absent leaves it unchanged.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Procedure>, nullable)]
    pub authenticator: Option<Option<Procedure>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RealmOut {
    pub id: String,
    pub uri: String,
    pub allow_anonymous: bool,
    pub anonymous_role: String,
    /// The dynamic authenticator, or null.
    pub authenticator: Option<Procedure>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Realm> for RealmOut {
    fn from(r: Realm) -> Self {
        RealmOut {
            id: r.id,
            uri: r.uri,
            allow_anonymous: r.allow_anonymous,
            anonymous_role: r.anonymous_role,
            authenticator: r.authenticator.map(Procedure::from),
            created_at: ts(r.created_at),
            updated_at: ts(r.updated_at),
        }
    }
}

/// Lists the tenant's realms, oldest first.
#[utoipa::path(get, path = "/v1/realms", tag = "realms", params(ListParams),
    responses((status = 200, body = List<RealmOut>), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn list_realms(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<ListParams>,
) -> Result<List<RealmOut>, ApiError> {
    p.require(Scope::RealmsRead)?;
    let page = state.store.list_realms(&p.tenant_id, &q.page()?).await?;
    Ok(List::from_page(page, RealmOut::from))
}

/// Creates a realm.
#[utoipa::path(post, path = "/v1/realms", tag = "realms", request_body = CreateRealm,
    responses((status = 201, body = RealmOut), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn create_realm(
    State(state): State<AppState>,
    p: Principal,
    Json(req): Json<CreateRealm>,
) -> Result<(StatusCode, Out<RealmOut>), ApiError> {
    p.require(Scope::RealmsWrite)?;
    let mut v = Violations::new();
    v.check("uri", check_uri(&req.uri));
    if let Some(role) = &req.anonymous_role {
        v.check("anonymous_role", check_ident(role, 64));
    }
    procedures::check(&mut v, "authenticator", req.authenticator.as_ref());
    v.finish()?;
    // The realm being created may itself be named (it is the tenant's once created, but a
    // reference to it is the default: `realm` absent).
    if req.authenticator.as_ref().and_then(|a| a.realm.as_deref()) != Some(req.uri.as_str()) {
        procedures::check_realm(&state, &p.tenant_id, "authenticator", req.authenticator.as_ref()).await?;
    }
    let realm = state
        .store
        .create_realm(
            &p.actor,
            &p.tenant_id,
            NewRealm {
                uri: req.uri,
                allow_anonymous: req.allow_anonymous,
                anonymous_role: req.anonymous_role.unwrap_or_else(|| "anonymous".into()),
                token_key: secrets::random_token(32),
                authenticator: req.authenticator.map(Into::into),
            },
        )
        .await?;
    // A router may have cached "no such realm".
    state
        .announce(Change::RealmUpdated {
            realm: realm.uri.clone(),
        })
        .await;
    Ok((StatusCode::CREATED, Out(realm.into())))
}

/// Reads a realm.
#[utoipa::path(get, path = "/v1/realms/{realm_id}", tag = "realms", params(("realm_id" = String, Path)),
    responses((status = 200, body = RealmOut), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn get_realm(
    State(state): State<AppState>,
    p: Principal,
    Path(realm_id): Path<String>,
) -> Result<Out<RealmOut>, ApiError> {
    p.require(Scope::RealmsRead)?;
    Ok(Out(state
        .store
        .get_realm(&p.tenant_id, &realm_id)
        .await?
        .into()))
}

/// Changes a realm's settings.
#[utoipa::path(patch, path = "/v1/realms/{realm_id}", tag = "realms", params(("realm_id" = String, Path)), request_body = UpdateRealm,
    responses((status = 200, body = RealmOut), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn update_realm(
    State(state): State<AppState>,
    p: Principal,
    Path(realm_id): Path<String>,
    Json(req): Json<UpdateRealm>,
) -> Result<Out<RealmOut>, ApiError> {
    p.require(Scope::RealmsWrite)?;
    let mut v = Violations::new();
    if let Some(role) = &req.anonymous_role {
        v.check("anonymous_role", check_ident(role, 64));
    }
    procedures::check(&mut v, "authenticator", req.authenticator.as_ref().and_then(Option::as_ref));
    v.finish()?;
    let realm = state.store.get_realm(&p.tenant_id, &realm_id).await?;
    procedures::check_realm(&state, &p.tenant_id, "authenticator", req.authenticator.as_ref().and_then(Option::as_ref)).await?;
    let patch = RealmPatch {
        allow_anonymous: req.allow_anonymous,
        anonymous_role: req.anonymous_role,
        authenticator: req.authenticator.map(|a| a.map(Into::into)),
    };
    let realm = state.store.update_realm(&p.actor, &realm, patch).await?;
    state
        .announce(Change::RealmUpdated {
            realm: realm.uri.clone(),
        })
        .await;
    Ok(Out(realm.into()))
}

/// Deletes a realm with its roles, rules and credentials; its sessions are closed.
#[utoipa::path(delete, path = "/v1/realms/{realm_id}", tag = "realms", params(("realm_id" = String, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn delete_realm(
    State(state): State<AppState>,
    p: Principal,
    Path(realm_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    p.require(Scope::RealmsWrite)?;
    let realm = state.store.get_realm(&p.tenant_id, &realm_id).await?;
    state.store.delete_realm(&p.actor, &realm).await?;
    state
        .announce(Change::RealmDeleted { realm: realm.uri })
        .await;
    Ok(StatusCode::NO_CONTENT)
}
