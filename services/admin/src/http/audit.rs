//! The audit log: every change, who made it, and the object before and after (no secrets).

use axum::extract::State;
use junction_store::AuditEntry;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ts;
use crate::auth::{Principal, Scope};
use crate::error::{ApiError, Problem};
use crate::extract::{List, ListParams, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditOut {
    pub id: String,
    pub at: String,
    /// `user` or `api_key`.
    pub actor_kind: String,
    pub actor_id: String,
    pub actor_label: String,
    /// `<target>.<verb>`, e.g. `realm.create`, `credential.revoke`.
    pub action: String,
    pub target_kind: String,
    pub target_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl From<AuditEntry> for AuditOut {
    fn from(e: AuditEntry) -> Self {
        AuditOut {
            id: e.id,
            at: ts(e.at),
            actor_kind: e.actor_kind,
            actor_id: e.actor_id,
            actor_label: e.actor_label,
            action: e.action,
            target_kind: e.target_kind,
            target_id: e.target_id,
            before: e.before,
            after: e.after,
        }
    }
}

/// Reads the tenant's audit log, oldest first.
#[utoipa::path(get, path = "/v1/audit-log", tag = "audit", params(ListParams),
    responses((status = 200, body = List<AuditOut>), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn list_audit(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<ListParams>,
) -> Result<List<AuditOut>, ApiError> {
    p.require(Scope::AuditRead)?;
    Ok(List::from_page(
        state.store.list_audit(&p.tenant_id, &q.page()?).await?,
        AuditOut::from,
    ))
}
