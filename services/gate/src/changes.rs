//! The change-feed follower: what each change drops, and which sessions it closes.
//!
//! | change | caches dropped | sessions closed (GOODBYE reason) |
//! |---|---|---|
//! | `RealmUpdated` | the realm's settings and JWT keys | - |
//! | `RealmDeleted` | everything of the realm | all of the realm's ([`REASON_REALM_DELETED`]) |
//! | `RoleUpdated` | the role's rules and dynamic decisions | - |
//! | `RoleDeleted` | the same | the role's ([`REASON_ROLE_DELETED`]) |
//! | `CredentialUpdated` | the authid's ticket successes, the realm's JWT keys | - |
//! | `CredentialRevoked` | the same | the authid's ([`REASON_CREDENTIAL_REVOKED`]) |
//! | `TenantDeleted` | everything of its realms | all of its realms' ([`REASON_REALM_DELETED`]) |
//! | `Lagged` / `Closed` | everything | - |

use std::sync::Arc;

use junction_changefeed::{Change, ChangeReceiver, Received};
use junction_router::Router;

use crate::Inner;

pub const REASON_CREDENTIAL_REVOKED: &str = "junction.close.credential_revoked";
pub const REASON_ROLE_DELETED: &str = "junction.close.role_deleted";
pub const REASON_REALM_DELETED: &str = "junction.close.realm_deleted";

pub(crate) async fn follow(inner: Arc<Inner>, router: Router, mut rx: ChangeReceiver) {
    loop {
        let received = rx.recv().await;
        inner.apply(&received, &router);
        if received == Received::Closed {
            tracing::warn!("change feed closed: router caches are no longer invalidated");
            return;
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
            return;
        };
        tracing::debug!(?change, "control-plane change");
        match change {
            Change::RealmUpdated { realm } => self.realms.invalidate(realm),
            Change::RealmDeleted { realm } => self.drop_realm(realm, router),
            Change::RoleUpdated { realm, role } => self.decisions.invalidate_role(realm, role),
            Change::RoleDeleted { realm, role } => {
                self.decisions.invalidate_role(realm, role);
                router.kill_by_authrole(realm, role, REASON_ROLE_DELETED);
            }
            Change::CredentialUpdated { realm, .. } => self.realms.invalidate(realm),
            Change::CredentialRevoked { realm, authid } => {
                self.realms.invalidate(realm);
                router.kill_by_authid(realm, authid, REASON_CREDENTIAL_REVOKED);
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
        router.kill_sessions(realm, |_| true, REASON_REALM_DELETED);
    }
}
