//! Realms: where they come from (the [`RealmProvider`] seam) and their live state.
//!
//! A [`Realm`] owns its sessions, its broker and its dealer, each under its own short
//! mutex. Locks are `parking_lot` mutexes held only for synchronous bookkeeping and frame
//! queueing (queueing never blocks: a full queue closes that session), never across an
//! `.await`, so a task can never sleep while holding one. When two are needed they are
//! taken one after the other, never nested, except the outbox lock, which is a leaf.
//! Meta events are published after the lock that produced them is released.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use junction_protocol::{Dict, Id, List, Message, Payload, Value};
use parking_lot::Mutex;

use junction_backplane::{Backplane, BackplaneError, Departure, Op, Outcome, PodId, Replica, ReplicaObserver};

use crate::broker::Broker;
use crate::config::RealmEntry;
use crate::dealer::Dealer;
use crate::directory::RealmCounters;
use crate::ids::IdMap;
use crate::metrics::Metrics;
use crate::session::SessionHandle;

/// A realm's settings, as the provider hands them out.
#[derive(Debug, Clone, PartialEq)]
pub struct RealmConfig {
    pub uri: String,
    /// Isolation key: every realm belongs to exactly one tenant.
    pub tenant: String,
    /// Role of anonymous sessions; `None` = anonymous refused.
    pub anonymous_role: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("realm provider failed: {0}")]
pub struct ProviderError(pub String);

/// Where realms come from. Called on the first HELLO naming a realm that is not open yet.
#[async_trait]
pub trait RealmProvider: Send + Sync + 'static {
    /// `Ok(None)`: no such realm (ABORT `wamp.error.no_such_realm`).
    async fn realm(&self, uri: &str) -> Result<Option<RealmConfig>, ProviderError>;
}

/// Realms from the static config file (or built in memory by tests).
#[derive(Debug, Default, Clone)]
pub struct StaticRealmProvider {
    realms: HashMap<String, RealmConfig>,
}

impl StaticRealmProvider {
    pub fn new(entries: &[RealmEntry]) -> Self {
        let realms = entries
            .iter()
            .map(|e| {
                (e.uri.clone(), RealmConfig { uri: e.uri.clone(), tenant: e.tenant.clone(), anonymous_role: e.anonymous_role.clone() })
            })
            .collect();
        StaticRealmProvider { realms }
    }

    pub fn with_realm(mut self, config: RealmConfig) -> Self {
        self.realms.insert(config.uri.clone(), config);
        self
    }
}

#[async_trait]
impl RealmProvider for StaticRealmProvider {
    async fn realm(&self, uri: &str) -> Result<Option<RealmConfig>, ProviderError> {
        Ok(self.realms.get(uri).cloned())
    }
}

/// A testament: published when its session goes away (by its pod, or by the pod that
/// reaps a dead one: testaments are kept in the realm registry).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Testament {
    pub topic: String,
    pub args: Option<List>,
    pub kwargs: Option<Dict>,
    pub options: Dict,
}

pub(crate) struct SessionEntry {
    pub handle: Arc<SessionHandle>,
    /// [detached, destroyed] buckets, in the order added.
    pub testaments: [Vec<Testament>; 2],
    pub joined_at: SystemTime,
}

/// Why a router-internal call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    #[error("no procedure registered for {0}")]
    NoSuchProcedure(String),
    #[error("call timed out")]
    Timeout,
    /// The callee left, or the call was canceled.
    #[error("call canceled")]
    Canceled,
    /// The callee answered with an ERROR; payload unchanged.
    #[error("callee error {error}")]
    Application { error: String, payload: Payload },
}

/// One open realm.
pub struct Realm {
    pub(crate) config: RealmConfig,
    pub(crate) sessions: Mutex<IdMap<Id, SessionEntry>>,
    pub(crate) broker: Mutex<Broker>,
    pub(crate) dealer: Mutex<Dealer>,
    pub(crate) metrics: Arc<Metrics>,
    /// Messages in / out (see [`crate::directory`]).
    pub(crate) counters: RealmCounters,
    /// The realm-wide registry, shared with the other pods through the backplane. Set
    /// before the realm is handed to any session.
    pub(crate) replica: tokio::sync::OnceCell<Arc<Replica>>,
    /// Sessions a meta procedure just closed, retired before it answers.
    pub(crate) killed_by_meta: Mutex<Vec<Id>>,
    /// This pod's name, shared with the realm's other pods in each session's registry entry.
    pub(crate) pod_name: Arc<str>,
    /// Woken whenever sessions leave the realm registry (on any pod), for whoever waits
    /// for a kill to take effect ([`Realm::close_session`]).
    pub(crate) departures: tokio::sync::Notify,
}

impl Realm {
    pub(crate) fn new(config: RealmConfig, metrics: Arc<Metrics>, pod_name: Arc<str>) -> Self {
        Realm {
            config,
            sessions: Mutex::new(IdMap::default()),
            broker: Mutex::new(Broker::default()),
            dealer: Mutex::new(Dealer::default()),
            metrics,
            counters: RealmCounters::default(),
            replica: tokio::sync::OnceCell::new(),
            killed_by_meta: Mutex::new(Vec::new()),
            pod_name,
            departures: tokio::sync::Notify::new(),
        }
    }

    /// Open the realm on the backplane (once).
    pub(crate) async fn share(self: &Arc<Self>, backplane: &Arc<dyn Backplane>) -> Result<(), BackplaneError> {
        let observer: Weak<dyn ReplicaObserver> = Arc::downgrade(self) as Weak<dyn ReplicaObserver>;
        self.replica.get_or_try_init(|| Replica::open(backplane.clone(), self.uri(), observer)).await.map(|_| ())
    }

    pub(crate) fn replica(&self) -> &Arc<Replica> {
        self.replica.get().expect("a realm is shared before any session sees it")
    }

    pub(crate) fn pod(&self) -> PodId {
        self.replica().pod()
    }

    pub fn config(&self) -> &RealmConfig {
        &self.config
    }

    pub fn uri(&self) -> &str {
        &self.config.uri
    }

    pub fn session_count(&self) -> usize {
        self.sessions.lock().len()
    }

    /// Add a session realm-wide and queue its WELCOME; false if the id is taken (the
    /// caller draws again). WELCOME is queued when the join is applied, under the sessions
    /// lock, so nothing addressed to the new session (a kill, say) can overtake it.
    pub(crate) async fn join(self: &Arc<Self>, handle: Arc<SessionHandle>, welcome: bytes::Bytes) -> Result<bool, BackplaneError> {
        let joined_at = SystemTime::now();
        let op = Op::Join { session: crate::cluster::session_info(&handle, self.pod(), &self.pod_name, joined_at) };
        let realm = Arc::downgrade(self);
        let on_applied = move |outcome: &Outcome| {
            if let (Outcome::Joined(true), Some(realm)) = (outcome, realm.upgrade()) {
                let mut sessions = realm.sessions.lock();
                if realm.counters.sent_if(handle.send_frame(welcome)) {
                    sessions.insert(handle.id(), SessionEntry { handle, testaments: [Vec::new(), Vec::new()], joined_at });
                }
            }
        };
        match self.replica().submit_with(op, Box::new(on_applied)).await? {
            Outcome::Joined(joined) => Ok(joined),
            _ => Ok(false),
        }
    }

    /// Announce a joined session (`wamp.session.on_join`).
    pub(crate) fn announce_join(&self, handle: &SessionHandle) {
        self.publish_from_router("wamp.session.on_join", Payload::args(vec![Value::Dict(handle.details())]), &Dict::new());
    }

    /// Remove a session and everything it owned: subscriptions, registrations, pending
    /// calls (its callers get `wamp.error.canceled` at once), then, realm-wide, publish its
    /// testaments and the meta events.
    pub(crate) async fn leave(self: &Arc<Self>, handle: &Arc<SessionHandle>, subscriptions: &[Id]) {
        self.sessions.lock().remove(&handle.id());
        self.broker_leave(handle, subscriptions);
        // Registrations go first, so that a caller told its call was canceled finds the
        // procedure gone when it calls again.
        let left = self.replica().submit(Op::Leave { session: handle.id() }).await;
        self.dealer_leave(handle);
        match left {
            Ok(Outcome::Left(Some(departure))) => self.departed(&departure),
            Ok(_) => {}
            Err(e) => tracing::warn!(realm = self.uri(), session = handle.id(), error = %e, "leave not shared with the other pods"),
        }
    }

    /// Take closed sessions out of the realm registry now rather than when their connection
    /// ends (their own leave then finds them gone and publishes nothing).
    /// Returns what they left, for [`Realm::departed`].
    pub(crate) async fn retire(&self, sessions: Vec<Id>) -> Vec<Departure> {
        let mut departed = Vec::new();
        for session in sessions {
            if let Ok(Outcome::Left(Some(departure))) = self.replica().submit(Op::Leave { session }).await {
                departed.push(departure);
            }
        }
        departed
    }

    /// Publish what a departed session leaves behind: its testaments, then the meta events.
    /// Called once realm-wide: by the session's pod, or by the pod that reaped a dead one.
    pub(crate) fn departed(&self, d: &Departure) {
        let sid = d.session.id;
        if !d.testaments.is_empty() {
            match rmp_serde::from_slice::<Vec<Testament>>(&d.testaments) {
                Ok(testaments) => {
                    for t in testaments {
                        self.publish_from_router(&t.topic, Payload::new(t.args, t.kwargs), &t.options);
                    }
                }
                Err(e) => tracing::warn!(realm = self.uri(), session = sid, error = %e, "undecodable testaments dropped"),
            }
        }
        for &(sub, deleted) in &d.subscriptions {
            self.publish_meta("wamp.subscription.on_unsubscribe", vec![sid.into(), sub.into()]);
            if deleted {
                self.publish_meta("wamp.subscription.on_delete", vec![sid.into(), sub.into()]);
            }
        }
        for &(reg, deleted) in &d.registrations {
            self.publish_meta("wamp.registration.on_unregister", vec![sid.into(), reg.into()]);
            if deleted {
                self.publish_meta("wamp.registration.on_delete", vec![sid.into(), reg.into()]);
            }
        }
        self.publish_meta("wamp.session.on_leave", vec![sid.into(), d.session.authid.as_str().into(), d.session.authrole.as_str().into()]);
    }

    /// Share a session's testaments realm-wide (both scopes: this router does not resume
    /// sessions, so detached and destroyed both end at leave).
    pub(crate) fn share_testaments(self: &Arc<Self>, session: Id) {
        let testaments: Vec<Testament> = self.sessions.lock().get(&session).map(|e| e.testaments.iter().flatten().cloned().collect()).unwrap_or_default();
        let bytes = if testaments.is_empty() { Vec::new() } else { rmp_serde::to_vec_named(&testaments).expect("testaments serialize") };
        let replica = self.replica().clone();
        tokio::spawn(async move {
            if let Err(e) = replica.submit(Op::Testaments { session, testaments: bytes }).await {
                tracing::warn!(session, error = %e, "testaments not shared with the other pods");
            }
        });
    }

    /// Close every session the predicate selects with GOODBYE(`reason`), e.g. after a
    /// credential was revoked. The sessions leave the realm once their connection ends
    /// (after the peer's GOODBYE or the goodbye timeout). Returns the ids closed.
    pub fn kill_sessions(&self, predicate: impl Fn(&SessionHandle) -> bool, reason: &str, message: Option<&str>) -> Vec<Id> {
        let victims: Vec<Arc<SessionHandle>> =
            self.sessions.lock().values().filter(|e| predicate(&e.handle)).map(|e| e.handle.clone()).collect();
        let mut details = Dict::new();
        if let Some(m) = message {
            details.insert("message".into(), m.into());
        }
        let goodbye = Message::Goodbye { details, reason: reason.to_owned() };
        let closed: Vec<Id> = victims.iter().filter(|h| h.send_goodbye(&goodbye)).map(|h| h.id()).collect();
        self.counters.sent(closed.len());
        closed
    }

    pub fn kill_by_authid(&self, authid: &str, reason: &str) -> Vec<Id> {
        self.kill_sessions(|s| s.identity.authid == authid, reason, None)
    }

    pub fn kill_by_authrole(&self, authrole: &str, reason: &str) -> Vec<Id> {
        self.kill_sessions(|s| s.identity.authrole == authrole, reason, None)
    }

    /// Publish an event as the router (meta events, testaments, internal users) to every
    /// matching subscriber of this realm. Returns the publication id.
    pub fn publish(&self, topic: &str, args: List, kwargs: Dict) -> Id {
        self.publish_from_router(topic, Payload::new(Some(args), Some(kwargs)), &Dict::new())
    }

    /// [`Realm::publish`] with PUBLISH options (`retain`, `exclude`, `eligible`, ...).
    pub fn publish_with(&self, topic: &str, payload: Payload, options: &Dict) -> Id {
        self.publish_from_router(topic, payload, options)
    }

    /// Call a procedure registered in this realm as the router and wait for its result
    /// (dynamic authenticators/authorizers are tenant procedures). Progressive results are
    /// not requested. On timeout the callee gets an INTERRUPT.
    pub async fn call(self: &Arc<Self>, procedure: &str, payload: Payload, timeout: Duration) -> Result<Payload, CallError> {
        let (rx, key) = self.internal_call(procedure, payload)?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(CallError::Canceled),
            Err(_) => {
                self.cancel_internal_call(key);
                Err(CallError::Timeout)
            }
        }
    }
}
