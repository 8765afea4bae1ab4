//! The view of a realm's live sessions and its message counters, for the admin API's session
//! directory (and anything else that watches a router from inside the process):
//! [`Realm::sessions`] (this pod's), [`Realm::realm_sessions`] (every pod's, from the
//! backplane's replicated registry), [`Realm::stats`], [`Realm::kill_session`] (on whichever
//! pod the session is: the path of `wamp.session.kill`), and the same by realm URI on
//! [`Router`]; [`Router::realm_sessions`] opens the realm on demand, so a router with no
//! sessions of its own (one serving only the admin API) sees the realm's sessions.
//!
//! Counters are per realm, relaxed atomics on the realm (each on its own cache line), counted
//! where the realm handles traffic:
//! - `messages_in`: every message an established session hands its realm (PUBLISH,
//!   SUBSCRIBE, UNSUBSCRIBE, CALL, CANCEL, REGISTER, UNREGISTER, YIELD, ERROR). Requests the
//!   authorizer refuses, and GOODBYE / ABORT, never reach the realm and are not counted.
//! - `messages_out`: every message the realm queues for its sessions (WELCOME, EVENT, RESULT,
//!   INVOCATION, INTERRUPT, the acknowledgements and their ERRORs, router GOODBYE). A publish
//!   counts once per delivered EVENT with a single atomic add. The session's own answers that
//!   bypass the realm (`wamp.error.not_authorized`, GOODBYE `wamp.close.goodbye_and_out`) are
//!   not counted.
//!
//! They start when the realm opens on this router (realms stay open for the router's life).
//! Every [`COUNTERS_INTERVAL`] a serving router adds what its realms counted since the last
//! time to the realm-wide totals on the backplane ([`Router::flush_counters`]);
//! [`Realm::realm_wide_stats`] reads those totals plus this router's part not added yet, so a
//! realm's figures cover every pod (another pod's traffic shows within the interval).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use junction_backplane::{BackplaneError, MessageCounts, PodId};
use junction_protocol::{Id, Message, Value};

use crate::realm::{ProviderError, Realm};
use crate::router::Router;
use crate::session::SessionHandle;

/// A joined session, as [`Realm::sessions`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    pub session: Id,
    pub authid: String,
    pub authrole: String,
    pub authmethod: String,
    pub authprovider: String,
    /// The client's address (`0.0.0.0:0` when its pod did not say).
    pub peer: SocketAddr,
    /// When the session joined (its WELCOME was queued; millisecond precision for sessions
    /// of other pods).
    pub joined_at: SystemTime,
    /// The pod that holds the connection (its backplane id).
    pub pod: PodId,
    /// That pod's name ([`crate::RouterBuilder::pod_name`]); empty when it has none.
    pub pod_name: String,
}

/// A realm's counters (see the module docs for what they count).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RealmStats {
    /// Joined sessions now.
    pub sessions: u64,
    /// WAMP messages received from the realm's sessions since the realm opened.
    pub messages_in: u64,
    /// WAMP messages queued for the realm's sessions since the realm opened.
    pub messages_out: u64,
}

#[derive(Debug, Default)]
#[repr(align(64))]
struct Padded(AtomicU64);

/// How often a serving router adds its realms' message counts to the realm-wide totals.
pub const COUNTERS_INTERVAL: Duration = Duration::from_secs(1);

/// The per-realm message counters.
#[derive(Debug, Default)]
pub(crate) struct RealmCounters {
    messages_in: Padded,
    messages_out: Padded,
    /// What was added to the realm-wide totals so far (only the flusher writes these).
    flushed_in: AtomicU64,
    flushed_out: AtomicU64,
    /// Held while counts move to the totals and while both are read, so that a reader on
    /// this router never sees them in both places or in neither.
    sharing: tokio::sync::Mutex<()>,
}

impl RealmCounters {
    /// Counted here and not yet added to the realm-wide totals.
    fn unflushed(&self) -> MessageCounts {
        MessageCounts {
            messages_in: self.messages_in.0.load(Ordering::Relaxed).saturating_sub(self.flushed_in.load(Ordering::Relaxed)),
            messages_out: self.messages_out.0.load(Ordering::Relaxed).saturating_sub(self.flushed_out.load(Ordering::Relaxed)),
        }
    }

    fn flushed(&self, counts: MessageCounts) {
        self.flushed_in.fetch_add(counts.messages_in, Ordering::Relaxed);
        self.flushed_out.fetch_add(counts.messages_out, Ordering::Relaxed);
    }

    /// One message received from a session.
    #[inline]
    pub(crate) fn received(&self) {
        self.messages_in.0.fetch_add(1, Ordering::Relaxed);
    }

    /// `n` messages queued for sessions.
    #[inline]
    pub(crate) fn sent(&self, n: usize) {
        if n > 0 {
            self.messages_out.0.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    /// One message queued if `queued`; returns `queued`.
    #[inline]
    pub(crate) fn sent_if(&self, queued: bool) -> bool {
        if queued {
            self.messages_out.0.fetch_add(1, Ordering::Relaxed);
        }
        queued
    }
}

impl Realm {
    /// Queue `msg` for `session` (one of this realm's) and count it; false if the session is
    /// closing.
    #[inline]
    pub(crate) fn send_to(&self, session: &SessionHandle, msg: &Message) -> bool {
        self.counters.sent_if(session.send(msg))
    }

    /// The realm's joined sessions on this pod, in no particular order.
    pub fn sessions(&self) -> Vec<SessionSummary> {
        let (pod, name) = self.pod_and_name();
        self.sessions.lock().values().map(|e| summary(&e.handle, e.joined_at, pod, name)).collect()
    }

    /// One joined session of the realm on this pod.
    pub fn session(&self, id: Id) -> Option<SessionSummary> {
        let (pod, name) = self.pod_and_name();
        self.sessions.lock().get(&id).map(|e| summary(&e.handle, e.joined_at, pod, name))
    }

    /// The realm's sessions on every pod, in no particular order, as the backplane's
    /// replicated registry knows them (this pod's own as soon as they joined, the others'
    /// once their join reached this pod).
    pub fn realm_sessions(&self) -> Vec<SessionSummary> {
        let Some(replica) = self.replica.get() else { return self.sessions() };
        replica.read().sessions().map(remote_summary).collect()
    }

    fn pod_and_name(&self) -> (PodId, &str) {
        (self.replica.get().map_or(0, |r| r.pod()), &self.pod_name)
    }

    /// Sessions now, and the message counters since the realm opened.
    pub fn stats(&self) -> RealmStats {
        RealmStats {
            sessions: self.session_count() as u64,
            messages_in: self.counters.messages_in.0.load(Ordering::Relaxed),
            messages_out: self.counters.messages_out.0.load(Ordering::Relaxed),
        }
    }

    /// Sessions on every pod, and the realm-wide message totals (see the module docs).
    pub async fn realm_wide_stats(&self) -> Result<RealmStats, BackplaneError> {
        let Some(replica) = self.replica.get() else { return Ok(self.stats()) };
        let _sharing = self.counters.sharing.lock().await;
        let totals = replica.backplane().counters(self.uri()).await?;
        let mine = self.counters.unflushed();
        Ok(RealmStats {
            sessions: replica.read().session_count() as u64,
            messages_in: totals.messages_in + mine.messages_in,
            messages_out: totals.messages_out + mine.messages_out,
        })
    }

    /// Add what this router counted since the last call to the realm-wide totals.
    pub(crate) async fn flush_counters(&self) {
        let Some(replica) = self.replica.get() else { return };
        let _sharing = self.counters.sharing.lock().await;
        let counts = self.counters.unflushed();
        if counts.is_zero() {
            return;
        }
        match replica.backplane().add_counters(self.uri(), counts).await {
            Ok(()) => self.counters.flushed(counts),
            // Kept for the next flush.
            Err(e) => tracing::debug!(realm = self.uri(), error = %e, "message counters not shared yet"),
        }
    }

    /// Close one session with GOODBYE(`reason`) (and `message` in its details), on whichever
    /// pod it is (as `wamp.session.kill` does); false when the realm has no such session (or
    /// it is already closing here). A session of another pod is asked to close, at most once.
    pub fn kill_session(&self, id: Id, reason: &str, message: Option<&str>) -> bool {
        if self.replica.get().is_none() {
            return !self.kill_sessions(|s| s.id() == id, reason, message).is_empty();
        }
        self.kill_realm_wide(|s| s.id == id, reason, message.map(str::to_owned)).0 > 0
    }

    /// [`Realm::kill_session`], then wait up to `wait` for the session to leave the realm
    /// registry, i.e. for its pod (this one or another) to have closed it. The session's
    /// peer has the router's goodbye timeout to answer the GOODBYE, so `wait` should exceed it.
    pub async fn close_session(&self, id: Id, reason: &str, message: Option<&str>, wait: Duration) -> Closed {
        let deadline = tokio::time::Instant::now() + wait;
        let mut asked = false;
        loop {
            // Registered before the registry is read, so a departure in between still wakes us.
            let departed = self.departures.notified();
            tokio::pin!(departed);
            departed.as_mut().enable();
            let present = match self.replica.get() {
                Some(replica) => replica.read().session(id).is_some(),
                None => self.sessions.lock().contains_key(&id),
            };
            if !present {
                return if asked { Closed::Left } else { Closed::NoSuchSession };
            }
            if !asked {
                if !self.kill_session(id, reason, message) {
                    return Closed::NoSuchSession;
                }
                asked = true;
            }
            if tokio::time::timeout_at(deadline, departed).await.is_err() {
                return Closed::Asked;
            }
        }
    }
}

/// What [`Realm::close_session`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The realm has no such session.
    NoSuchSession,
    /// The session was closed and has left the realm.
    Left,
    /// Its pod was asked to close it, which it had not done when the wait ended (a peer slow
    /// to answer GOODBYE, or a pod that stopped: the reaper then removes its sessions).
    Asked,
}

fn summary(handle: &SessionHandle, joined_at: SystemTime, pod: PodId, pod_name: &str) -> SessionSummary {
    let identity = handle.identity();
    SessionSummary {
        session: identity.session,
        authid: identity.authid.clone(),
        authrole: identity.authrole.clone(),
        authmethod: identity.authmethod.clone(),
        authprovider: handle.authprovider.clone(),
        peer: handle.peer(),
        joined_at,
        pod,
        pod_name: pod_name.to_owned(),
    }
}

/// A session of the realm registry (any pod): what its pod shared when it joined.
fn remote_summary(s: &junction_backplane::SessionInfo) -> SessionSummary {
    let details = s.details.dict();
    let detail = |k: &str| details.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let peer = details.get("transport").and_then(|t| t.get("peer")).and_then(Value::as_str).and_then(|p| p.parse().ok());
    SessionSummary {
        session: s.id,
        authid: s.authid.clone(),
        authrole: s.authrole.clone(),
        authmethod: detail("authmethod"),
        authprovider: detail("authprovider"),
        peer: peer.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))),
        joined_at: SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(s.joined_at),
        pod: s.pod,
        pod_name: s.pod_name.clone(),
    }
}

impl Router {
    /// The joined sessions of realm `uri` on this router (none when it is not open).
    pub fn sessions(&self, uri: &str) -> Vec<SessionSummary> {
        self.realm(uri).map(|r| r.sessions()).unwrap_or_default()
    }

    /// The counters of realm `uri` on this router (zero when it is not open).
    pub fn realm_stats(&self, uri: &str) -> RealmStats {
        self.realm(uri).map(|r| r.stats()).unwrap_or_default()
    }

    /// [`Realm::realm_wide_stats`] of realm `uri`, the realm opened from the provider if needed
    /// (zero when the provider knows no such realm).
    pub async fn realm_wide_stats(&self, uri: &str) -> Result<RealmStats, ProviderError> {
        match self.open_realm(uri).await? {
            Some(realm) => realm.realm_wide_stats().await.map_err(|e| ProviderError(e.to_string())),
            None => Ok(RealmStats::default()),
        }
    }

    /// [`Realm::flush_counters`] for every open realm, concurrently (a pod with many realms
    /// does not wait for each in turn); every [`COUNTERS_INTERVAL`] while serving.
    pub async fn flush_counters(&self) {
        let realms = self.realms();
        futures_util::future::join_all(realms.iter().map(|r| r.flush_counters())).await;
    }

    /// The sessions of realm `uri` on every pod ([`Realm::realm_sessions`]), the realm opened
    /// from the provider if this router has not yet (none when the provider knows no such
    /// realm).
    pub async fn realm_sessions(&self, uri: &str) -> Result<Vec<SessionSummary>, ProviderError> {
        Ok(self.open_realm(uri).await?.map(|r| r.realm_sessions()).unwrap_or_default())
    }

    /// Close one session of realm `uri` with GOODBYE(`reason`), on whichever pod it is; false
    /// when there is none (or the realm is not open on this router).
    pub fn kill_session(&self, uri: &str, id: Id, reason: &str, message: Option<&str>) -> bool {
        self.realm(uri).is_some_and(|r| r.kill_session(id, reason, message))
    }

    /// [`Realm::close_session`] in realm `uri`, the realm opened from the provider if needed.
    pub async fn close_realm_session(&self, uri: &str, id: Id, reason: &str, message: Option<&str>, wait: Duration) -> Result<Closed, ProviderError> {
        Ok(match self.open_realm(uri).await? {
            Some(realm) => realm.close_session(id, reason, message, wait).await,
            None => Closed::NoSuchSession,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::metrics::Metrics;
    use crate::realm::RealmConfig;
    use crate::session::test_session;

    async fn realm() -> Arc<Realm> {
        let config = RealmConfig { uri: "realm1".into(), tenant: "t".into(), anonymous_role: Some("anonymous".into()) };
        let realm = Arc::new(Realm::new(config, Arc::new(Metrics::default()), "pod-a".into()));
        let backplane: Arc<dyn junction_backplane::Backplane> = junction_backplane::InProcessHub::new().pod();
        realm.share(&backplane).await.unwrap();
        realm
    }

    #[tokio::test]
    async fn lists_counts_and_kills() {
        let realm = realm().await;
        let before = SystemTime::now();
        let (alice, alice_rx) = test_session(11, "alice", "user");
        let (bob, _bob_rx) = test_session(22, "bob", "admin");
        assert!(realm.join(alice.clone(), bytes::Bytes::from_static(b"[2,11,{}]")).await.unwrap());
        assert!(realm.join(bob.clone(), bytes::Bytes::from_static(b"[2,22,{}]")).await.unwrap());

        let mut list = realm.sessions();
        list.sort_by_key(|s| s.session);
        assert_eq!(list.len(), 2);
        assert_eq!((list[0].session, list[0].authid.as_str(), list[0].authrole.as_str()), (11, "alice", "user"));
        assert_eq!(list[1].authmethod, "anonymous");
        assert!(list[0].joined_at >= before && list[0].joined_at <= SystemTime::now());
        assert_eq!(realm.session(22).map(|s| s.authid), Some("bob".into()));
        assert_eq!(realm.session(33), None);
        // Two WELCOMEs out.
        assert_eq!(realm.stats(), RealmStats { sessions: 2, messages_in: 0, messages_out: 2 });

        // alice subscribes, bob publishes: 2 in; SUBSCRIBED + EVENT out.
        realm.handle_subscribe(&alice, 1, &Default::default(), "com.x").await;
        let payload = junction_protocol::Payload::args(vec![1.into()]);
        realm.handle_publish(&bob, 2, &Default::default(), "com.x", &payload, false).await;
        let stats = realm.stats();
        assert_eq!((stats.messages_in, stats.messages_out), (2, 4));
        assert_eq!(alice_rx.messages().len(), 3); // WELCOME, SUBSCRIBED, EVENT

        assert!(realm.kill_session(22, "wamp.close.killed", Some("bye")));
        assert!(!realm.kill_session(22, "wamp.close.killed", None), "already closing");
        assert!(!realm.kill_session(99, "wamp.close.killed", None));
        assert_eq!(realm.stats().messages_out, 5);
    }
}
