//! Calling a tenant's procedure as the router (dynamic authenticator / authorizer).
//!
//! The procedure lives in the session's realm or in another realm of the same tenant
//! ([`DynamicProcedure::realm`]); a realm of another tenant is refused on every call (so is
//! a realm that no longer exists). The call goes through [`junction_router::Realm::call`] with
//! [`crate::GateConfig::dynamic_timeout`]; it needs the router, which
//! [`crate::Gate::follow_changes`] hands over (before that, every dynamic call fails closed).
//!
//! Where the procedures come from: the store (set by tenants through the admin API:
//! `realms.authenticator_*`, `roles.authorizer_*`) wins when set; otherwise
//! [`crate::GateConfig::authenticators`] / [`crate::GateConfig::authorizers`], an operator
//! override.

use junction_protocol::Payload;
use junction_router::CallError;

use junction_store::ProcedureRef;

use crate::realms::RealmInfo;
use crate::{DynamicProcedure, Inner};

impl From<&ProcedureRef> for DynamicProcedure {
    fn from(p: &ProcedureRef) -> Self {
        DynamicProcedure { procedure: p.procedure.clone(), realm: p.realm.clone() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DynamicError {
    #[error("no router yet (Gate::follow_changes not called)")]
    NoRouter,
    #[error("procedure realm refused: {0}")]
    Realm(String),
    #[error("call failed: {0}")]
    Call(CallError),
}

impl Inner {
    /// The realm's dynamic authenticator: the store's, else the operator's (GateConfig).
    pub(crate) fn dynamic_authenticator(&self, realm: &RealmInfo) -> Option<DynamicProcedure> {
        match &realm.auth.realm.authenticator {
            Some(p) => Some(p.into()),
            None => self.config.authenticators.get(realm.uri()).cloned(),
        }
    }

    /// A role's dynamic authorizer, read from the store: the store's, else the operator's
    /// (GateConfig). `None` = the role's rules apply.
    pub(crate) async fn load_authorizer(&self, realm: &str, role: &str) -> Result<Option<DynamicProcedure>, junction_store::StoreError> {
        let stored = self.store.role_authorizer(realm, role).await?;
        Ok(match stored {
            Some(p) => Some((&p).into()),
            None => self.config.authorizers.get(realm).and_then(|roles| roles.get(role)).cloned(),
        })
    }

    /// Call `procedure` for a session of `session_realm`.
    pub(crate) async fn call_dynamic(&self, session_realm: &str, procedure: &DynamicProcedure, payload: Payload) -> Result<Payload, DynamicError> {
        let router = self.router.get().ok_or(DynamicError::NoRouter)?;
        let target = procedure.realm.as_deref().unwrap_or(session_realm);
        if target != session_realm {
            let own = self.realms.get(&self.store, session_realm).await.map_err(|e| DynamicError::Realm(e.to_string()))?;
            let other = self.realms.get(&self.store, target).await.map_err(|e| DynamicError::Realm(e.to_string()))?;
            match (own, other) {
                (Some(a), Some(b)) if a.tenant() == b.tenant() => {}
                _ => return Err(DynamicError::Realm(format!("{target} is not a realm of the same tenant"))),
            }
        }
        let realm = router
            .open_realm(target)
            .await
            .map_err(|e| DynamicError::Realm(e.to_string()))?
            .ok_or_else(|| DynamicError::Realm(format!("no realm {target}")))?;
        realm.call(&procedure.procedure, payload, self.config.dynamic_timeout).await.map_err(DynamicError::Call)
    }
}
