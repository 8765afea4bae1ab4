//! The change-feed follower: what each change drops, and which sessions it closes.
//!
//! | change | caches dropped | sessions closed (GOODBYE reason) |
//! |---|---|---|
//! | `RealmUpdated` | the realm's settings and JWT keys | - |
//! | `RealmDeleted` | everything of the realm | all of the realm's ([`REASON_REALM_DELETED`]) |
//! | `RoleUpdated` | the role's rules and dynamic decisions | - |
//! | `RoleDeleted` | the same | the role's ([`REASON_ROLE_DELETED`]) |
//! | `CredentialUpdated` | the authid's ticket successes, the realm's JWT keys | - |
//! | `CredentialRevoked` | the same | the authid's, and those that joined with a token signed by a JWT key (credential) of the realm that is no longer live ([`REASON_CREDENTIAL_REVOKED`]) |
//! | `TenantDeleted` | everything of its realms | all of its realms' ([`REASON_REALM_DELETED`]) |
//! | `Lagged` | everything | after the re-check below |
//! | `Closed` | everything | - |
//!
//! Sessions still between authentication and join are not shown by the router: the changes
//! that close sessions are recorded first (`admission`), after the caches were dropped and
//! before the sweep, and those sessions are refused or closed by the grant they join with.
//!
//! # Re-check after `Lagged`
//! Changes were missed, so any of the closes above may have been missed too. The follower
//! re-reads the store for every realm this gate opened on the router, and closes:
//! - every session of a realm that no longer exists ([`REASON_REALM_DELETED`]);
//! - sessions whose role does not exist in the store ([`REASON_ROLE_DELETED`]), except roles
//!   with an operator-configured authorizer ([`crate::GateConfig::authorizers`]). A session
//!   whose role never existed (an anonymous role or a JWT `role` claim nobody created) is
//!   closed too: the gate cannot tell it from a deleted one, and such a session is denied
//!   every action anyway;
//! - sessions that authenticated with a store credential (ticket, WAMP-CRA, cryptosign)
//!   whose authid no longer has a live credential of that kind, and sessions whose token was
//!   verified by a JWT credential that is no longer live ([`REASON_CREDENTIAL_REVOKED`]).
//!
//! The re-check runs inside the follower, before the next change is applied (changes that
//! arrive meanwhile wait in the feed's channel); a store error skips that realm (logged).

use std::collections::HashSet;
use std::sync::Arc;

use junction_changefeed::{Change, ChangeReceiver, Received};
use junction_protocol::Id;
use junction_router::Router;
use junction_store::CredentialMaterial;

use crate::admission::Revoked;
use crate::{Inner, PROVIDER};

pub const REASON_CREDENTIAL_REVOKED: &str = "junction.close.credential_revoked";
pub const REASON_ROLE_DELETED: &str = "junction.close.role_deleted";
pub const REASON_REALM_DELETED: &str = "junction.close.realm_deleted";

pub(crate) async fn follow(inner: Arc<Inner>, router: Router, mut rx: ChangeReceiver) {
    loop {
        let received = rx.recv().await;
        inner.apply(&received, &router);
        match &received {
            Received::Closed => {
                tracing::warn!("change feed closed: router caches are no longer invalidated");
                return;
            }
            Received::Lagged => {
                tracing::warn!("control-plane changes missed: caches dropped, re-checking live sessions");
                inner.recheck_sessions(&router).await;
            }
            Received::Change(Change::CredentialRevoked { realm, authid }) => inner.close_revoked(realm, authid, &router).await,
            Received::Change(_) => {}
        }
    }
}

impl Inner {
    pub(crate) fn apply(&self, received: &Received, router: &Router) {
        self.authz.apply(received);
        self.tickets.apply(received);
        let Received::Change(change) = received else {
            self.realms.clear();
            self.decisions.clear();
            if matches!(received, Received::Lagged) {
                // Sessions joining now are re-checked once joined (`admission`).
                self.admissions.record(Revoked::Everything);
            }
            return;
        };
        tracing::debug!(?change, "control-plane change");
        match change {
            Change::RealmUpdated { realm } => self.realms.invalidate(realm),
            Change::RealmDeleted { realm } => self.drop_realm(realm, router),
            Change::RoleUpdated { realm, role } => self.decisions.invalidate_role(realm, role),
            Change::RoleDeleted { realm, role } => {
                self.decisions.invalidate_role(realm, role);
                self.admissions.record(Revoked::Role { realm: realm.clone(), role: role.clone() });
                router.kill_by_authrole(realm, role, REASON_ROLE_DELETED);
            }
            Change::CredentialUpdated { realm, .. } => self.realms.invalidate(realm),
            // Sessions are closed by `close_revoked`, which the follower awaits next; sessions
            // still joining are refused by their grant (`admission`).
            Change::CredentialRevoked { realm, authid } => {
                self.realms.invalidate(realm);
                self.admissions.record(Revoked::Credential { realm: realm.clone(), authid: authid.clone() });
            }
            Change::TenantDeleted { realms, .. } => {
                for realm in realms {
                    self.drop_realm(realm, router);
                }
            }
        }
    }

    fn drop_realm(&self, realm: &str, router: &Router) {
        self.realms.invalidate(realm);
        self.decisions.invalidate_realm(realm);
        self.sessions.forget_realm(realm);
        self.admissions.record(Revoked::Realm(realm.to_owned()));
        router.kill_sessions(realm, |_| true, REASON_REALM_DELETED);
    }

    /// `CredentialRevoked`: close the authid's sessions, and those whose token was verified by
    /// a JWT credential of the realm that is no longer live (the revoked one, if it was a JWT
    /// key: its authid is the key's `kid`, not the authid of the sessions it signed for).
    /// Both are closed after the store was read, together.
    async fn close_revoked(&self, realm: &str, authid: &str, router: &Router) {
        self.sessions.prune(router, Some(realm));
        let of_keys = self.revoked_key_sessions(realm, Some(authid)).await;
        self.sessions.unbind(&of_keys);
        let closed = router.kill_sessions(realm, |h| h.identity().authid == authid || of_keys.contains(&h.id()), REASON_CREDENTIAL_REVOKED);
        tracing::debug!(realm, closed = closed.len(), of_jwt_keys = of_keys.len(), "closed the sessions of a revoked credential");
    }

    /// Close the sessions of `realm` whose token was verified by a JWT credential that is no
    /// longer live.
    async fn close_revoked_key_sessions(&self, realm: &str, router: &Router) -> usize {
        let victims = self.revoked_key_sessions(realm, None).await;
        if victims.is_empty() {
            return 0;
        }
        self.sessions.unbind(&victims);
        router.kill_sessions(realm, |h| victims.contains(&h.id()), REASON_CREDENTIAL_REVOKED).len()
    }

    /// The sessions of `realm` whose JWT key (store credential) is no longer live.
    /// `revoked_authid`: the authid (= key `kid`) a `CredentialRevoked` named, used when the
    /// store cannot be read (fail closed on the keys it names).
    async fn revoked_key_sessions(&self, realm: &str, revoked_authid: Option<&str>) -> HashSet<Id> {
        let bound = self.sessions.key_bindings(realm);
        if bound.is_empty() {
            return HashSet::new();
        }
        match self.store.jwt_keys(realm).await {
            Ok(keys) => {
                let live: HashSet<String> = keys.into_iter().map(|c| c.id).collect();
                bound.into_iter().filter(|(_, b)| !live.contains(&b.credential)).map(|(id, _)| id).collect()
            }
            Err(e) => {
                tracing::warn!(realm, error = %e, "store unavailable: closing the sessions of the JWT keys named by the revocation");
                let Some(kid) = revoked_authid else { return HashSet::new() };
                bound.into_iter().filter(|(_, b)| b.kid.as_deref() == Some(kid)).map(|(id, _)| id).collect()
            }
        }
    }

    /// After `Lagged`: close the sessions whose realm, role or credential went away while
    /// changes were missed (see the module docs).
    pub(crate) async fn recheck_sessions(&self, router: &Router) {
        for uri in self.sessions.opened_realms() {
            self.recheck_realm(&uri, router).await;
        }
    }

    /// The re-check of one realm's sessions (see the module docs).
    pub(crate) async fn recheck_realm(&self, uri: &str, router: &Router) {
        let Some(realm) = router.realm(uri) else { return };
        let sessions = realm.sessions();
        if sessions.is_empty() {
            return;
        }
        match self.store.realm_by_uri(uri).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                self.drop_realm(uri, router);
                return;
            }
            Err(e) => {
                tracing::warn!(realm = %uri, error = %e, "store unavailable: sessions not re-checked");
                return;
            }
        }
        let mut gone_roles = HashSet::new();
        let roles: HashSet<&str> = sessions.iter().map(|s| s.authrole.as_str()).collect();
        for role in roles {
            if self.config.authorizers.get(uri).is_some_and(|r| r.contains_key(role)) {
                continue;
            }
            match self.store.role_rules(uri, role).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    gone_roles.insert(role.to_owned());
                }
                Err(e) => tracing::warn!(realm = %uri, role, error = %e, "store unavailable: role not re-checked"),
            }
        }
        // (authid, authmethod) of sessions authenticated with a store credential.
        let mut gone_credentials = HashSet::new();
        let logins: HashSet<(&str, &str)> = sessions
            .iter()
            .filter(|s| s.authprovider == PROVIDER && matches!(s.authmethod.as_str(), "ticket" | "wampcra" | "cryptosign"))
            .map(|s| (s.authid.as_str(), s.authmethod.as_str()))
            .collect();
        for (authid, method) in logins {
            match self.store.credentials_for_authid(uri, authid).await {
                Ok(credentials) => {
                    let live = credentials.iter().any(|c| credential_method(&c.material) == Some(method));
                    if !live {
                        gone_credentials.insert((authid.to_owned(), method.to_owned()));
                    }
                }
                Err(e) => tracing::warn!(realm = %uri, error = %e, "store unavailable: credential not re-checked"),
            }
        }
        let of_gone_roles: HashSet<Id> = sessions.iter().filter(|s| gone_roles.contains(&s.authrole)).map(|s| s.session).collect();
        let of_gone_credentials: HashSet<Id> = sessions
            .iter()
            .filter(|s| s.authprovider == PROVIDER && gone_credentials.contains(&(s.authid.clone(), s.authmethod.clone())))
            .map(|s| s.session)
            .collect();
        if !of_gone_roles.is_empty() {
            router.kill_sessions(uri, |h| of_gone_roles.contains(&h.id()), REASON_ROLE_DELETED);
        }
        if !of_gone_credentials.is_empty() {
            router.kill_sessions(uri, |h| of_gone_credentials.contains(&h.id()), REASON_CREDENTIAL_REVOKED);
        }
        let of_gone_keys = self.close_revoked_key_sessions(uri, router).await;
        tracing::info!(
            realm = %uri,
            role_deleted = of_gone_roles.len(),
            credential_revoked = of_gone_credentials.len() + of_gone_keys,
            "sessions re-checked"
        );
    }
}

/// The authmethod a credential of this kind authenticates (JWT keys are checked separately).
fn credential_method(material: &CredentialMaterial) -> Option<&'static str> {
    match material {
        CredentialMaterial::Ticket { .. } => Some("ticket"),
        CredentialMaterial::Wampcra { .. } => Some("wampcra"),
        CredentialMaterial::Cryptosign { .. } => Some("cryptosign"),
        _ => None,
    }
}
