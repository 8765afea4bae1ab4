//! Members of the tenant: users with a role (owner, admin, viewer). Owners manage members.

use axum::Json as Out;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use junction_store::{MemberRole, Secret, User, secrets};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ts;
use crate::auth::Principal;
use crate::error::{ApiError, Problem, Violations};
use crate::extract::{Json, List, ListParams, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_members, add_member))
        .routes(routes!(remove_member))
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Viewer,
}

impl From<Role> for MemberRole {
    fn from(r: Role) -> Self {
        match r {
            Role::Owner => MemberRole::Owner,
            Role::Admin => MemberRole::Admin,
            Role::Viewer => MemberRole::Viewer,
        }
    }
}

/// A new user of the tenant, with the password they will log in with.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    pub email: String,
    #[schema(value_type = String)]
    pub password: Secret,
    pub role: Role,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberOut {
    pub user_id: String,
    pub email: String,
    pub role: String,
    pub created_at: String,
}

fn member_out(user: User, role: MemberRole) -> MemberOut {
    MemberOut {
        user_id: user.id,
        email: user.email,
        role: role.as_str().into(),
        created_at: ts(user.created_at),
    }
}

/// Lists the tenant's members.
#[utoipa::path(get, path = "/v1/members", tag = "members", params(ListParams),
    responses((status = 200, body = List<MemberOut>), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn list_members(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<ListParams>,
) -> Result<List<MemberOut>, ApiError> {
    p.require_member(MemberRole::Viewer)?;
    let page = state.store.list_members(&p.tenant_id, &q.page()?).await?;
    Ok(List::from_page(page, |(u, r)| member_out(u, r)))
}

/// Adds a user to the tenant (owners only).
#[utoipa::path(post, path = "/v1/members", tag = "members", request_body = AddMember,
    responses((status = 201, body = MemberOut), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn add_member(
    State(state): State<AppState>,
    p: Principal,
    Json(req): Json<AddMember>,
) -> Result<(StatusCode, Out<MemberOut>), ApiError> {
    p.require_member(MemberRole::Owner)?;
    let email = req.email.trim().to_lowercase();
    let mut v = Violations::new();
    if email.len() > 254
        || email.chars().any(char::is_whitespace)
        || !email
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
    {
        v.add("email", "must be an e-mail address");
    }
    if !(10..=1024).contains(&req.password.expose().chars().count()) {
        v.add("password", "must be 10 to 1024 characters");
    }
    v.finish()?;
    let hash = secrets::hash(req.password, state.hash_params()).await?;
    let role = MemberRole::from(req.role);
    let user = state
        .store
        .add_member(&p.actor, &p.tenant_id, &email, &hash, role)
        .await?;
    Ok((StatusCode::CREATED, Out(member_out(user, role))))
}

/// Removes a member from the tenant (owners only; not the last owner).
#[utoipa::path(delete, path = "/v1/members/{user_id}", tag = "members", params(("user_id" = String, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn remove_member(
    State(state): State<AppState>,
    p: Principal,
    Path(user_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    p.require_member(MemberRole::Owner)?;
    state
        .store
        .remove_member(&p.actor, &p.tenant_id, &user_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
