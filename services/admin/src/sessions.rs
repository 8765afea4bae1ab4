//! The session directory: the seam through which the admin API sees and ends routers' live
//! WAMP sessions.
//!
//! The admin process cannot see router sessions by itself: in production, routers are other
//! pods. The binary hands [`crate::App::build`] an implementation (`junction dev`: the
//! in-process router; production: one over the backplane's realm-wide session registry), or
//! `None`, in which case the session endpoints answer 503 `unavailable`.
//!
//! Contract for implementations:
//! - `realm_uri` is always a realm the calling tenant owns: the API checks ownership before it
//!   asks, so an implementation answers for exactly the realm it is given and nothing else.
//! - [`SessionDirectory::list`] returns every live session of the realm, on every pod (the API
//!   sorts and bounds the list); an unknown or idle realm has none (`Ok(vec![])`).
//! - [`SessionDirectory::kill`] closes the session with `GOODBYE(reason)` (a WAMP URI, e.g.
//!   `wamp.close.killed`), wherever it lives, and says whether the session has left the realm
//!   ([`KillOutcome::Closed`]) or its pod was asked and had not confirmed yet
//!   ([`KillOutcome::Requested`]); it waits less than [`DIRECTORY_TIMEOUT`] for that.
//! - [`SessionDirectory::stats`] counts since the router (or the counters) started.
//! - [`DirectoryError::Unavailable`] for "cannot answer now" (backplane down, a pod timing out):
//!   the API answers 503; anything else is a 500. The API also gives up after
//!   [`DIRECTORY_TIMEOUT`] and answers 503.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How long the API waits for the directory before answering 503.
pub const DIRECTORY_TIMEOUT: Duration = Duration::from_secs(10);

/// What [`SessionDirectory::kill`] achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillOutcome {
    /// The realm has no such session (the API answers 404).
    NotFound,
    /// The session was closed and has left the realm (204).
    Closed,
    /// The session's pod was asked to close it and had not done so when the directory
    /// stopped waiting: a peer slow to answer GOODBYE, or a pod that stopped (its sessions
    /// are then removed when its heartbeat lapses) (202).
    Requested,
}

/// One live WAMP session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SessionInfo {
    /// The WAMP session id (1 to 2^53).
    pub session_id: u64,
    pub authid: String,
    pub authrole: String,
    /// `anonymous`, `ticket`, `wampcra`, `cryptosign`, ...
    pub authmethod: String,
    /// The router pod that holds the connection.
    pub pod: String,
    /// When the session joined (WELCOME), RFC 3339 UTC.
    pub joined_at: String,
}

/// Counters of a realm, across pods, since they started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RealmStats {
    /// Live sessions now.
    pub sessions: u64,
    /// WAMP messages received from the realm's clients.
    pub messages_in: u64,
    /// WAMP messages sent to the realm's clients.
    pub messages_out: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The directory cannot answer now (the API answers 503). The text goes to the log only.
    #[error("session directory unavailable: {0}")]
    Unavailable(String),
    /// Anything else (the API answers 500). The error goes to the log only.
    #[error("session directory failed")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Where the live sessions of realms are (see the module docs for the contract).
#[async_trait::async_trait]
pub trait SessionDirectory: Send + Sync {
    /// Every live session of the realm.
    async fn list(&self, realm_uri: &str) -> Result<Vec<SessionInfo>, DirectoryError>;
    /// Closes a session of the realm and waits (bounded) for it to leave.
    async fn kill(
        &self,
        realm_uri: &str,
        session_id: u64,
        reason: &str,
    ) -> Result<KillOutcome, DirectoryError>;
    /// The realm's counters.
    async fn stats(&self, realm_uri: &str) -> Result<RealmStats, DirectoryError>;
}
