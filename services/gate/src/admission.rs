//! The join-time check: a session whose credential, role or realm went away between its
//! authentication and its join is refused (ABORT) or closed (GOODBYE), never left open.
//!
//! The change-feed follower closes the sessions a revocation concerns among those the router
//! shows it (joined in their realm). A session still between authentication and join is not
//! shown, so the gate hands the router a [`Grant`] with every identity it accepts
//! ([`junction_router::auth::JoinCheck`]), which the router checks right before the join
//! (`admit`: ABORT) and once the session is in its realm (`joined`: GOODBYE).
//!
//! # Epochs
//! Every revocation the follower applies gets the next number of a per-pod counter (the
//! epoch). A [`Stamp`] taken at the very start of a HELLO, before the realm, its keys or any
//! credential is read, holds the epoch then; its grant refuses the session when a revocation
//! of its realm, its role, its authid or the JWT key (`kid`) that verified its token was
//! recorded with a later epoch. Only revocations recorded after the stamp count, so a client
//! that authenticates with a rotated credential of the same authid after the old one's
//! revocation was applied joins normally; this is the follower's own rule (it closes a
//! revoked authid's sessions, whatever credential they used), applied at join.
//!
//! # Why no revocation is missed
//! The follower drops its caches, records the revocation, then sweeps the router, in that
//! order, each under the locks involved. For a session whose credential was read before the
//! revocation took effect (so it authenticated with it), the stamp came first and holds a
//! lower epoch. Then: recorded before `admit` -> ABORT; between `admit` and `joined` ->
//! `joined` sees it, GOODBYE; after `joined` -> the session was in the realm before the
//! sweep started, and the sweep closes it.
//!
//! A `Lagged` feed (changes missed) is recorded too: the sessions in flight then are let in
//! and their realm is re-checked against the store as the follower does for joined sessions
//! (`joined` starts it, once the session can be seen).
//!
//! # Cost and bounds
//! `admit` and `joined` take one short lock and compare a few integers (a map lookup when a
//! revocation happened during the handshake). Revocations are recorded only while a stamp
//! older than them is alive (a handshake in progress, bounded by the router's hello timeout);
//! dropping the last stamp older than a record forgets the record.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use junction_protocol::Id;
use junction_router::auth::{AuthFailure, Grant, Identity, JoinCheck};
use parking_lot::Mutex;

use crate::authn::{FAILED, NO_SUCH_REALM};
use crate::{Inner, REASON_CREDENTIAL_REVOKED, REASON_REALM_DELETED, REASON_ROLE_DELETED};

/// What the follower applies that must refuse sessions still joining.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Revoked {
    /// A credential of this authid (or a JWT key with this `kid`) was revoked.
    Credential { realm: String, authid: String },
    Role { realm: String, role: String },
    Realm(String),
    /// Changes were missed: anything may have gone.
    Everything,
}

/// The revocations recorded for one realm, each with its epoch.
#[derive(Default)]
struct RealmRecords {
    deleted: u64,
    authids: HashMap<String, u64>,
    roles: HashMap<String, u64>,
}

#[derive(Default)]
struct State {
    epoch: u64,
    lagged: u64,
    realms: HashMap<String, RealmRecords>,
    /// epoch -> what was recorded then (to forget records in order).
    order: BTreeMap<u64, Revoked>,
    /// Live stamps: epoch taken -> how many.
    stamps: BTreeMap<u64, usize>,
}

impl State {
    /// Forget the records no live stamp predates.
    fn forget(&mut self) {
        let oldest = self.stamps.first_key_value().map_or(u64::MAX, |(e, _)| *e);
        while let Some(entry) = self.order.first_entry() {
            if *entry.key() > oldest {
                break;
            }
            let (epoch, what) = entry.remove_entry();
            let realm = match &what {
                Revoked::Credential { realm, .. } | Revoked::Role { realm, .. } | Revoked::Realm(realm) => realm,
                Revoked::Everything => continue,
            };
            let Some(records) = self.realms.get_mut(realm) else { continue };
            // Only if no later revocation of the same thing replaced it.
            match &what {
                Revoked::Credential { authid, .. } => {
                    records.authids.remove_if_at(authid, epoch);
                }
                Revoked::Role { role, .. } => {
                    records.roles.remove_if_at(role, epoch);
                }
                _ if records.deleted == epoch => records.deleted = 0,
                _ => {}
            }
            if records.deleted == 0 && records.authids.is_empty() && records.roles.is_empty() {
                self.realms.remove(realm);
            }
        }
    }
}

trait RemoveIfAt {
    fn remove_if_at(&mut self, key: &str, epoch: u64);
}

impl RemoveIfAt for HashMap<String, u64> {
    fn remove_if_at(&mut self, key: &str, epoch: u64) {
        if self.get(key) == Some(&epoch) {
            self.remove(key);
        }
    }
}

/// The revocations of one pod, as the join-time check sees them.
#[derive(Default)]
pub(crate) struct Admissions {
    state: Mutex<State>,
}

impl Admissions {
    /// Record a revocation the follower applies. Call after the caches it concerns were
    /// dropped and before sessions are swept.
    pub fn record(&self, what: Revoked) {
        let mut state = self.state.lock();
        state.epoch += 1;
        let epoch = state.epoch;
        if state.stamps.is_empty() {
            // No handshake in progress (each started before it): nothing to refuse.
            return;
        }
        let records = match &what {
            Revoked::Everything => {
                state.lagged = epoch;
                return;
            }
            Revoked::Credential { realm, .. } | Revoked::Role { realm, .. } | Revoked::Realm(realm) => {
                state.realms.entry(realm.clone()).or_default()
            }
        };
        match &what {
            Revoked::Credential { authid, .. } => {
                records.authids.insert(authid.clone(), epoch);
            }
            Revoked::Role { role, .. } => {
                records.roles.insert(role.clone(), epoch);
            }
            _ => records.deleted = epoch,
        }
        state.order.insert(epoch, what);
    }

    /// How many revocations are remembered (for tests).
    #[cfg(test)]
    fn recorded(&self) -> usize {
        self.state.lock().order.len()
    }
}

/// The epoch at the start of a handshake, registered while alive; becomes a [`Grant`].
pub(crate) struct Stamp {
    gate: Arc<Inner>,
    epoch: u64,
}

impl Stamp {
    /// Take one: before the realm, its keys or credentials are read for this handshake.
    pub fn take(gate: &Arc<Inner>) -> Stamp {
        let mut state = gate.admissions.state.lock();
        let epoch = state.epoch;
        *state.stamps.entry(epoch).or_default() += 1;
        Stamp { gate: gate.clone(), epoch }
    }

    /// `identity`, with the grant the router checks at join. `kid`: the JWT key (store
    /// credential authid) that verified the session's token, if any.
    pub fn grant(self, realm: &str, mut identity: Identity, kid: Option<String>) -> Identity {
        let check = GateGrant { realm: realm.to_owned(), authid: identity.authid.clone(), role: identity.authrole.clone(), kid, stamp: self };
        identity.grant = Some(Grant::new(check));
        identity
    }
}

impl Drop for Stamp {
    fn drop(&mut self) {
        let mut state = self.gate.admissions.state.lock();
        if let Some(n) = state.stamps.get_mut(&self.epoch) {
            *n -= 1;
            if *n == 0 {
                state.stamps.remove(&self.epoch);
                state.forget();
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Realm,
    Role,
    Credential,
    Lagged,
}

struct GateGrant {
    realm: String,
    authid: String,
    role: String,
    kid: Option<String>,
    stamp: Stamp,
}

impl GateGrant {
    /// What was recorded since the stamp that concerns this session, if anything.
    fn verdict(&self) -> Option<Verdict> {
        let since = self.stamp.epoch;
        let state = self.stamp.gate.admissions.state.lock();
        if state.epoch == since {
            return None;
        }
        if let Some(r) = state.realms.get(&self.realm) {
            let after = |epoch: Option<&u64>| epoch.is_some_and(|e| *e > since);
            if r.deleted > since {
                return Some(Verdict::Realm);
            }
            if after(r.roles.get(&self.role)) {
                return Some(Verdict::Role);
            }
            if after(r.authids.get(&self.authid)) || after(self.kid.as_ref().and_then(|k| r.authids.get(k))) {
                return Some(Verdict::Credential);
            }
        }
        (state.lagged > since).then_some(Verdict::Lagged)
    }
}

impl JoinCheck for GateGrant {
    fn admit(&self) -> Result<(), AuthFailure> {
        let failure = match self.verdict() {
            None | Some(Verdict::Lagged) => return Ok(()),
            Some(Verdict::Realm) => AuthFailure::new(NO_SUCH_REALM, "realm deleted"),
            Some(Verdict::Role) => AuthFailure::new(FAILED, "role deleted"),
            Some(Verdict::Credential) => AuthFailure::new(FAILED, "credential revoked"),
        };
        tracing::debug!(realm = %self.realm, authid = %self.authid, reason = %failure.message, "refused at join: revoked during authentication");
        Err(failure)
    }

    fn joined(&self, session: Id) -> Option<String> {
        let reason = match self.verdict()? {
            Verdict::Realm => REASON_REALM_DELETED,
            Verdict::Role => REASON_ROLE_DELETED,
            Verdict::Credential => REASON_CREDENTIAL_REVOKED,
            Verdict::Lagged => {
                // The session is in its realm now: the re-check sees it.
                let gate = self.stamp.gate.clone();
                if let Some(router) = gate.router.get().cloned() {
                    let realm = self.realm.clone();
                    tokio::spawn(async move { gate.recheck_realm(&realm, &router).await });
                }
                return None;
            }
        };
        tracing::debug!(realm = %self.realm, session, reason, "closed at join: revoked during the join");
        Some(reason.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(authid: &str, role: &str) -> Identity {
        Identity {
            authid: authid.into(),
            authrole: role.into(),
            authmethod: "ticket".into(),
            authprovider: "junction".into(),
            authextra: Default::default(),
            grant: None,
        }
    }

    async fn gate() -> Arc<Inner> {
        let store = junction_store::Store::connect("sqlite::memory:").await.expect("store");
        let feed = Arc::new(junction_changefeed::InProcessFeed::new());
        crate::Gate::new(store, feed, crate::GateConfig::default()).inner
    }

    fn credential(realm: &str, authid: &str) -> Revoked {
        Revoked::Credential { realm: realm.into(), authid: authid.into() }
    }

    #[tokio::test]
    async fn only_revocations_after_the_stamp_of_its_realm_and_principal_refuse() {
        let gate = gate().await;
        let a = &gate.admissions;
        a.record(credential("r", "alice")); // before the handshake: not remembered
        assert_eq!(a.recorded(), 0);
        let alice = Stamp::take(&gate).grant("r", identity("alice", "user"), None).grant.unwrap();
        let jwt = Stamp::take(&gate).grant("r", identity("partner-1", "user"), Some("idp".into())).grant.unwrap();
        let bob = Stamp::take(&gate).grant("r", identity("bob", "admin"), None).grant.unwrap();
        assert_eq!(alice.admit(), Ok(()));
        a.record(credential("other-realm", "alice"));
        a.record(credential("r", "carol"));
        a.record(credential("r", "idp"));
        a.record(Revoked::Role { realm: "r".into(), role: "admin".into() });
        assert_eq!(alice.admit(), Ok(()));
        assert_eq!(alice.joined(1), None);
        assert_eq!(jwt.admit().unwrap_err().message, "credential revoked");
        assert_eq!(jwt.joined(2).as_deref(), Some(REASON_CREDENTIAL_REVOKED));
        assert_eq!(bob.admit().unwrap_err().message, "role deleted");
        a.record(credential("r", "alice"));
        assert_eq!(alice.admit().unwrap_err().reason, FAILED);
        assert_eq!(alice.joined(1).as_deref(), Some(REASON_CREDENTIAL_REVOKED));
        a.record(Revoked::Realm("r".into()));
        assert_eq!(bob.joined(3).as_deref(), Some(REASON_REALM_DELETED));

        // A handshake that starts after the revocations is not refused by them.
        let later = Stamp::take(&gate).grant("r2", identity("alice", "admin"), Some("idp".into())).grant.unwrap();
        assert_eq!(later.admit(), Ok(()));
        // Records are forgotten once no older handshake is in progress.
        assert_eq!(a.recorded(), 6);
        drop((alice, jwt, bob));
        assert_eq!(a.recorded(), 0);
        assert!(gate.admissions.state.lock().realms.is_empty());
        drop(later);
        assert!(gate.admissions.state.lock().stamps.is_empty());
    }

    #[tokio::test]
    async fn lagged_lets_in_and_rechecks() {
        let gate = gate().await;
        let grant = Stamp::take(&gate).grant("r", identity("alice", "user"), None).grant.unwrap();
        gate.admissions.record(Revoked::Everything);
        assert_eq!(grant.admit(), Ok(()));
        assert_eq!(grant.joined(1), None, "no router yet: nothing to re-check, nothing closed");
    }
}
