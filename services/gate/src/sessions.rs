//! What the gate remembers about this router's sessions beyond what the router shows it.
//!
//! The router's kill predicate sees a session's realm, id, authid, authrole and authmethod.
//! The change-feed follower needs two more things:
//! - **which JWT signing key verified the token a session joined with** (the store credential
//!   of kind `jwt`, named by its id): revoking that credential must close those sessions, and
//!   their authid is the token's `sub`, not the credential's authid. Tokens signed with the
//!   realm's own token key (`POST /v1/realms/{id}/tokens`) come from no credential and are not
//!   tracked.
//! - **which realms this gate handed to the router**, to re-check their sessions after the
//!   feed reported `Lagged` (changes missed).
//!
//! # Bounds
//! A key binding is recorded when the token verifies, just before the router adds the session
//! to its realm; the gate does not see sessions leave. So bindings are pruned: whenever the map
//! doubles since the last prune (and at least [`MIN_PRUNE_AT`] entries), and for one realm on
//! every credential revocation there, every binding whose session is not joined in its realm
//! on the router is dropped, unless it was recorded less than [`crate::GateConfig::session_grace`]
//! ago (its session may still be joining). The map therefore holds at most about twice the live
//! JWT-key sessions plus those that authenticated during the last grace period. The realm set
//! holds the realms the router opened from this gate (the router keeps a realm open for its
//! life, so it is never larger than the router's own realm map); deleted realms leave it.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use junction_protocol::Id;
use junction_router::Router;
use parking_lot::Mutex;

/// Smallest map size that triggers a prune.
pub const MIN_PRUNE_AT: usize = 1024;

/// The JWT key (store credential) a session's token was verified with.
#[derive(Debug, Clone)]
pub(crate) struct KeyBinding {
    pub realm: String,
    /// The credential id.
    pub credential: String,
    /// The key's `kid` (the credential's authid), what a `CredentialRevoked` names.
    pub kid: Option<String>,
    at: Instant,
}

struct Keys {
    map: HashMap<Id, KeyBinding>,
    prune_at: usize,
}

pub(crate) struct SessionTracker {
    keys: Mutex<Keys>,
    opened: Mutex<HashSet<String>>,
    grace: Duration,
}

impl SessionTracker {
    pub fn new(grace: Duration) -> Self {
        SessionTracker {
            keys: Mutex::new(Keys { map: HashMap::new(), prune_at: MIN_PRUNE_AT }),
            opened: Mutex::new(HashSet::new()),
            grace,
        }
    }

    /// The router opens (or re-reads) a store realm.
    pub fn realm_opened(&self, uri: &str) {
        let mut opened = self.opened.lock();
        if !opened.contains(uri) {
            opened.insert(uri.to_owned());
        }
    }

    pub fn opened_realms(&self) -> Vec<String> {
        self.opened.lock().iter().cloned().collect()
    }

    /// The realm is gone: forget it and its bindings.
    pub fn forget_realm(&self, uri: &str) {
        self.opened.lock().remove(uri);
        self.keys.lock().map.retain(|_, b| b.realm != uri);
    }

    /// Record that `session` (the id WELCOME will carry) joins `realm` with a token verified by
    /// the JWT credential `credential`. Prunes first when the map reached its threshold.
    pub fn bind_key(&self, router: Option<&Router>, session: Id, realm: &str, credential: &str, kid: Option<&str>) {
        let due = {
            let mut keys = self.keys.lock();
            let due = keys.map.len() >= keys.prune_at;
            if due {
                // One pruner at a time: the next one is due only after the map grows again.
                keys.prune_at = keys.map.len().saturating_mul(2);
            }
            due
        };
        if let (true, Some(router)) = (due, router) {
            self.prune(router, None);
        }
        let binding = KeyBinding { realm: realm.to_owned(), credential: credential.to_owned(), kid: kid.map(str::to_owned), at: Instant::now() };
        self.keys.lock().map.insert(session, binding);
    }

    /// The bindings of `realm`'s sessions.
    pub fn key_bindings(&self, realm: &str) -> Vec<(Id, KeyBinding)> {
        self.keys.lock().map.iter().filter(|(_, b)| b.realm == realm).map(|(id, b)| (*id, b.clone())).collect()
    }

    pub fn unbind(&self, sessions: &HashSet<Id>) {
        let mut keys = self.keys.lock();
        keys.map.retain(|id, _| !sessions.contains(id));
    }

    /// How many sessions have a key binding (for tests and metrics).
    pub fn key_binding_count(&self) -> usize {
        self.keys.lock().map.len()
    }

    /// Drop the bindings (of `realm`, or all) whose session the router does not have (it left,
    /// or never joined) and that are older than the grace period. The map lock is not held
    /// while the router is asked (the router's kill predicates must never wait on it).
    pub fn prune(&self, router: &Router, realm: Option<&str>) {
        let candidates: Vec<(Id, String)> = {
            let keys = self.keys.lock();
            keys.map
                .iter()
                .filter(|(_, b)| realm.is_none_or(|r| b.realm == r) && b.at.elapsed() >= self.grace)
                .map(|(id, b)| (*id, b.realm.clone()))
                .collect()
        };
        let mut open = HashMap::new();
        let gone: HashSet<Id> = candidates
            .into_iter()
            .filter(|(id, uri)| {
                let realm = open.entry(uri.clone()).or_insert_with(|| router.realm(uri));
                realm.as_ref().is_none_or(|r| r.session(*id).is_none())
            })
            .map(|(id, _)| id)
            .collect();
        let mut keys = self.keys.lock();
        keys.map.retain(|id, _| !gone.contains(id));
        if realm.is_none() {
            keys.prune_at = keys.map.len().saturating_mul(2).max(MIN_PRUNE_AT);
        }
    }
}
