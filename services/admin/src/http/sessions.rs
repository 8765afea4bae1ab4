//! Live WAMP sessions of a realm, through the [`SessionDirectory`] seam: list, kill, counters.
//!
//! The realm is read with the caller's tenant first, so another tenant's realm is a 404 and the
//! directory is only ever asked about the caller's own realms. Without a directory (none given
//! to `App::build`), or when it cannot answer, the endpoints answer 503 `unavailable`.

use std::future::Future;

use axum::Json as Out;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use junction_store::{ActionRecord, Realm, now_millis};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ts;
use super::uris::check_uri;
use crate::auth::{Principal, Scope};
use crate::error::{ApiError, Problem};
use crate::extract::Query;
use crate::sessions::{DIRECTORY_TIMEOUT, DirectoryError, KillOutcome, SessionInfo};
use crate::state::AppState;

/// Most sessions one list returns.
pub const MAX_SESSIONS: usize = 1000;

/// The close reason of a kill when the caller names none.
pub const DEFAULT_KILL_REASON: &str = "wamp.close.killed";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sessions))
        .routes(routes!(kill_session))
        .routes(routes!(realm_stats))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SessionListParams {
    /// Most sessions to return, 1 to 1000 (default 1000).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

impl SessionListParams {
    fn limit(&self) -> Result<usize, ApiError> {
        match &self.limit {
            None => Ok(MAX_SESSIONS),
            Some(s) => match s.parse::<usize>() {
                Ok(n) if (1..=MAX_SESSIONS).contains(&n) => Ok(n),
                _ => Err(ApiError::field(
                    "limit",
                    "must be an integer from 1 to 1000",
                )),
            },
        }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct KillParams {
    /// The WAMP close reason the client receives in its GOODBYE (default `wamp.close.killed`).
    pub reason: Option<String>,
}

/// A realm's live sessions: a bounded list, not paginated (sessions come and go).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionList {
    /// Oldest first (by `joined_at`, then `session_id`), at most `limit`.
    pub items: Vec<SessionInfo>,
    /// How many live sessions the realm has (may be more than `items`).
    pub total: u64,
    /// Whether `items` stops short of `total`.
    pub truncated: bool,
}

/// A kill the session's pod had not carried out yet (202).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KillPending {
    pub session_id: u64,
    /// Always `closing`: the session was asked to close and may still be listed for a while.
    pub state: String,
}

/// A realm's counters, across router pods.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RealmStatsOut {
    /// Live sessions now.
    pub sessions: u64,
    /// WAMP messages received from the realm's clients since the counters started.
    pub messages_in: u64,
    /// WAMP messages sent to the realm's clients since the counters started.
    pub messages_out: u64,
    /// When the counters were read (RFC 3339): two readings give rates.
    pub at: String,
}

async fn realm_of(state: &AppState, p: &Principal, realm_id: &str) -> Result<Realm, ApiError> {
    Ok(state.store.get_realm(&p.tenant_id, realm_id).await?)
}

fn unavailable() -> ApiError {
    ApiError::Unavailable("session directory unavailable".into())
}

/// Asks the directory, within [`DIRECTORY_TIMEOUT`]; its failures become 503 / 500 problems
/// (details go to the log only).
async fn ask<T>(
    what: &'static str,
    call: impl Future<Output = Result<T, DirectoryError>>,
) -> Result<T, ApiError> {
    match tokio::time::timeout(DIRECTORY_TIMEOUT, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(DirectoryError::Unavailable(why))) => {
            tracing::warn!(%why, what, "session directory unavailable");
            Err(unavailable())
        }
        Ok(Err(e)) => Err(ApiError::internal(e)),
        Err(_) => {
            tracing::warn!(what, timeout = ?DIRECTORY_TIMEOUT, "session directory timed out");
            Err(unavailable())
        }
    }
}

/// A WAMP session id: 1 to 2^53, decimal.
fn parse_session_id(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 16 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>()
        .ok()
        .filter(|id| (1..=junction_protocol::MAX_ID).contains(id))
}

/// Lists a realm's live sessions, on every router pod, oldest first.
#[utoipa::path(get, path = "/v1/realms/{realm_id}/sessions", tag = "sessions",
    params(("realm_id" = String, Path), SessionListParams),
    responses((status = 200, body = SessionList), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn list_sessions(
    State(state): State<AppState>,
    p: Principal,
    Path(realm_id): Path<String>,
    Query(q): Query<SessionListParams>,
) -> Result<Out<SessionList>, ApiError> {
    p.require(Scope::SessionsRead)?;
    let limit = q.limit()?;
    let realm = realm_of(&state, &p, &realm_id).await?;
    let directory = state.directory()?;
    let mut items = ask("list", directory.list(&realm.uri)).await?;
    items.sort_by(|a, b| {
        (a.joined_at.as_str(), a.session_id).cmp(&(b.joined_at.as_str(), b.session_id))
    });
    let total = items.len();
    items.truncate(limit);
    Ok(Out(SessionList {
        truncated: items.len() < total,
        total: total as u64,
        items,
    }))
}

/// Kills a live session of the realm: the router closes it with `GOODBYE(reason)`. 204 once the
/// session has left the realm; 202 when its pod was asked but had not closed it within a few
/// seconds (a client slow to answer GOODBYE, or a pod that stopped, whose sessions go when its
/// heartbeat lapses). Recorded in the audit log (`session.kill`) either way.
#[utoipa::path(delete, path = "/v1/realms/{realm_id}/sessions/{session_id}", tag = "sessions",
    params(("realm_id" = String, Path), ("session_id" = u64, Path, description = "WAMP session id"), KillParams),
    responses((status = 204, description = "Closed: the session has left the realm"),
        (status = 202, body = KillPending, description = "Asked: the session's pod had not closed it yet"), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn kill_session(
    State(state): State<AppState>,
    p: Principal,
    Path((realm_id, session_id)): Path<(String, String)>,
    Query(q): Query<KillParams>,
) -> Result<Response, ApiError> {
    p.require(Scope::SessionsWrite)?;
    let reason = q.reason.as_deref().unwrap_or(DEFAULT_KILL_REASON);
    if let Err(message) = check_uri(reason) {
        return Err(ApiError::field("reason", message));
    }
    let realm = realm_of(&state, &p, &realm_id).await?;
    // Not an id: no such session.
    let session_id = parse_session_id(&session_id).ok_or(ApiError::NotFound)?;
    let directory = state.directory()?;
    let response = match ask("kill", directory.kill(&realm.uri, session_id, reason)).await? {
        KillOutcome::NotFound => return Err(ApiError::NotFound),
        KillOutcome::Closed => StatusCode::NO_CONTENT.into_response(),
        KillOutcome::Requested => (StatusCode::ACCEPTED, Out(KillPending { session_id, state: "closing".into() })).into_response(),
    };
    // After the fact: the kill is not a store change, there is no transaction to share.
    let target = session_id.to_string();
    let recorded = state
        .store
        .record_action(
            &p.actor,
            ActionRecord {
                tenant_id: &realm.tenant_id,
                action: "session.kill",
                target_kind: "session",
                target_id: &target,
                details: serde_json::json!({
                    "realm_id": realm.id,
                    "realm_uri": realm.uri,
                    "session_id": session_id,
                    "reason": reason,
                }),
            },
        )
        .await;
    if let Err(e) = recorded {
        tracing::error!(error = %e, realm = %realm.uri, session_id, actor = %p.actor.id,
            "a session was killed but the audit-log entry could not be written");
        return Err(e.into());
    }
    Ok(response)
}

/// Reads a realm's counters: live sessions, and messages in and out since the counters started.
#[utoipa::path(get, path = "/v1/realms/{realm_id}/stats", tag = "sessions", params(("realm_id" = String, Path)),
    responses((status = 200, body = RealmStatsOut), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 503, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn realm_stats(
    State(state): State<AppState>,
    p: Principal,
    Path(realm_id): Path<String>,
) -> Result<Out<RealmStatsOut>, ApiError> {
    p.require(Scope::SessionsRead)?;
    let realm = realm_of(&state, &p, &realm_id).await?;
    let directory = state.directory()?;
    let stats = ask("stats", directory.stats(&realm.uri)).await?;
    Ok(Out(RealmStatsOut {
        sessions: stats.sessions,
        messages_in: stats.messages_in,
        messages_out: stats.messages_out,
        at: ts(now_millis()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_wamp_ids() {
        assert_eq!(parse_session_id("1"), Some(1));
        assert_eq!(parse_session_id("9007199254740992"), Some(1 << 53));
        for bad in [
            "",
            "0",
            "9007199254740993",
            "-1",
            "+1",
            "1.0",
            "x",
            "99999999999999999999",
        ] {
            assert_eq!(parse_session_id(bad), None, "{bad}");
        }
    }
}
