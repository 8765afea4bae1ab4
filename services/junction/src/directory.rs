//! The admin API's session directory over a router in this process: the one serving clients
//! (`junction dev`), or a headless one on the Redis backplane (`junction admin` with Redis).
//! The live sessions of a realm on every pod, from the backplane's replicated registry (the
//! realm opened on demand), each with the name its pod goes by; killing one wherever it is;
//! and the realm's counters: live sessions and message totals of every pod
//! (`junction_router::directory`).

use std::time::Duration;

use async_trait::async_trait;
use junction_admin::{DirectoryError, KillOutcome, RealmStats, SessionDirectory, SessionInfo};
use junction_router::realm::ProviderError;
use junction_router::{Closed, Router, SessionSummary};

/// How long a kill waits for the session to leave: past the peer's time to answer GOODBYE
/// (the router's goodbye timeout, 1 s by default), within the admin API's directory timeout.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// [`SessionDirectory`] over an in-process [`Router`].
#[derive(Clone)]
pub struct RouterDirectory {
    router: Router,
    pod: String,
}

impl RouterDirectory {
    /// `pod` names this process in session listings (`JUNCTION_POD_NAME`, the host name, or
    /// `local` in `junction dev`) when a session's pod shared no name.
    pub fn new(router: Router, pod: impl Into<String>) -> Self {
        RouterDirectory { router, pod: pod.into() }
    }

    fn info(&self, s: SessionSummary) -> SessionInfo {
        SessionInfo {
            session_id: s.session,
            authid: s.authid,
            authrole: s.authrole,
            authmethod: s.authmethod,
            pod: if !s.pod_name.is_empty() {
                s.pod_name
            } else if s.pod == self.router.pod() {
                self.pod.clone()
            } else {
                format!("pod-{}", s.pod)
            },
            joined_at: humantime::format_rfc3339_millis(s.joined_at).to_string(),
        }
    }
}

#[async_trait]
impl SessionDirectory for RouterDirectory {
    async fn list(&self, realm_uri: &str) -> Result<Vec<SessionInfo>, DirectoryError> {
        let sessions = self.router.realm_sessions(realm_uri).await.map_err(unavailable)?;
        Ok(sessions.into_iter().map(|s| self.info(s)).collect())
    }

    async fn kill(&self, realm_uri: &str, session_id: u64, reason: &str) -> Result<KillOutcome, DirectoryError> {
        let closed = self.router.close_realm_session(realm_uri, session_id, reason, Some("closed from the admin API"), KILL_WAIT).await;
        Ok(match closed.map_err(unavailable)? {
            Closed::NoSuchSession => KillOutcome::NotFound,
            Closed::Left => KillOutcome::Closed,
            Closed::Asked => KillOutcome::Requested,
        })
    }

    /// Live sessions and message totals of every pod (a headless router has none of its own).
    async fn stats(&self, realm_uri: &str) -> Result<RealmStats, DirectoryError> {
        let s = self.router.realm_wide_stats(realm_uri).await.map_err(unavailable)?;
        Ok(RealmStats { sessions: s.sessions, messages_in: s.messages_in, messages_out: s.messages_out })
    }
}

/// The realm could not be opened (store or backplane down): "cannot answer now".
fn unavailable(e: ProviderError) -> DirectoryError {
    DirectoryError::Unavailable(e.0)
}

/// This process's name in session listings: `JUNCTION_POD_NAME` (config `pod_name`), else
/// the host name, else `local`.
pub fn pod_name(configured: Option<&str>) -> String {
    if let Some(name) = configured.map(str::trim).filter(|n| !n.is_empty()) {
        return name.to_owned();
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "local".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_name_prefers_the_configured_one() {
        assert_eq!(pod_name(Some("router-7")), "router-7");
        assert!(!pod_name(None).is_empty());
        assert_eq!(pod_name(Some("  ")), pod_name(None));
    }

    #[tokio::test]
    async fn an_unopened_realm_is_empty() {
        let dir = RouterDirectory::new(Router::builder().build(), "local");
        assert!(dir.list("realm1").await.unwrap().is_empty());
        assert_eq!(dir.kill("realm1", 1, "wamp.close.killed").await.unwrap(), KillOutcome::NotFound);
        assert_eq!(dir.stats("realm1").await.unwrap(), RealmStats::default());
    }
}
