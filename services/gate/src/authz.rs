//! Authorization: every SUBSCRIBE, PUBLISH, REGISTER and CALL (meta procedures included).
//!
//! - A role with a dynamic authorizer (the role's `authorizer` in the store, set through the
//!   admin API, else [`crate::GateConfig::authorizers`]; read once per (realm, role) per pod
//!   and kept until the role changes, `Pending` on that first read): its decisions
//!   answered with `cache: true` are kept per (realm, role, uri, action) (`Ready`); otherwise
//!   the procedure is called (`Pending`), Crossbar.io style, with
//!   `(session details, uri, action, options)`, and may answer a bool or
//!   `{allow, disclose, cache}`. A failure, a timeout or anything else denies.
//! - Otherwise the role's rules: [`AuthzCache`](junction_auth::AuthzCache) over
//!   `Store::role_rules` (`Ready` on a hit, `Pending` on a miss, deny on a store error).
//!
//! Both caches are dropped by the change feed for the role (`RoleUpdated` / `RoleDeleted`),
//! its realm, or everything (`Lagged`), so a rule change is enforced on a connected
//! session's next action.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use junction_auth::cache::{LoadError, RuleLoader};
use junction_auth::rules::{Action as AuthAction, Allow, Disclose, Permission as AuthPermission, Rule};
use junction_protocol::uri::MatchPolicy;
use junction_protocol::{Dict, Payload, Value, dict};
use junction_router::authz::{Action, Authorization, Authorizer, Permission, SessionIdentity};
use junction_store::Store;
use parking_lot::{Mutex, RwLock};

use crate::{DynamicProcedure, Gate, Inner};

/// Reads a role's rules from the store for the [`AuthzCache`](junction_auth::AuthzCache).
pub(crate) struct StoreRules(pub Store);

#[async_trait]
impl RuleLoader for StoreRules {
    async fn load(&self, realm: &str, role: &str) -> Result<Option<Vec<Rule>>, LoadError> {
        let rules = self.0.role_rules(realm, role).await.map_err(|e| LoadError(e.to_string()))?;
        Ok(rules.map(|rules| rules.into_iter().map(rule_of).collect()))
    }
}

fn rule_of(r: junction_store::PermissionRule) -> Rule {
    let policy = match r.match_policy {
        junction_store::MatchPolicy::Exact => MatchPolicy::Exact,
        junction_store::MatchPolicy::Prefix => MatchPolicy::Prefix,
        junction_store::MatchPolicy::Wildcard => MatchPolicy::Wildcard,
    };
    Rule::new(r.uri, policy)
        .allow(Allow { call: r.allow.call, register: r.allow.register, publish: r.allow.publish, subscribe: r.allow.subscribe })
        .disclose(Disclose { caller: r.disclose.caller, publisher: r.disclose.publisher })
}

pub(crate) fn auth_action(a: Action) -> AuthAction {
    match a {
        Action::Call => AuthAction::Call,
        Action::Register => AuthAction::Register,
        Action::Publish => AuthAction::Publish,
        Action::Subscribe => AuthAction::Subscribe,
    }
}

fn permission(p: AuthPermission) -> Permission {
    Permission { allow: p.allow, disclose: p.disclose }
}

type DecisionKey = (String, String, String, Action);

/// Dynamic-authorizer decisions the authorizer allowed us to cache, and which roles have a
/// dynamic authorizer (realm -> role -> procedure or none).
pub(crate) struct DecisionCache {
    map: Mutex<HashMap<DecisionKey, Permission>>,
    authorizers: RwLock<HashMap<String, HashMap<String, Option<DynamicProcedure>>>>,
    generation: AtomicU64,
    max: usize,
}

impl DecisionCache {
    pub fn new(max: usize) -> Self {
        DecisionCache { map: Mutex::new(HashMap::new()), authorizers: RwLock::new(HashMap::new()), generation: AtomicU64::new(0), max: max.max(1) }
    }

    /// `None`: not known yet; `Some(None)`: the role has no dynamic authorizer.
    fn authorizer(&self, s: &SessionIdentity) -> Option<Option<DynamicProcedure>> {
        self.authorizers.read().get(&s.realm)?.get(&s.authrole).cloned()
    }

    fn insert_authorizer(&self, s: &SessionIdentity, p: Option<DynamicProcedure>, generation: u64) {
        let mut map = self.authorizers.write();
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if map.len() >= self.max {
            map.clear();
        }
        map.entry(s.realm.clone()).or_default().insert(s.authrole.clone(), p);
    }

    fn get(&self, s: &SessionIdentity, uri: &str, action: Action) -> Option<Permission> {
        let map = self.map.lock();
        if map.is_empty() {
            return None;
        }
        map.get(&(s.realm.clone(), s.authrole.clone(), uri.to_owned(), action)).copied()
    }

    fn insert(&self, key: DecisionKey, p: Permission, generation: u64) {
        let mut map = self.map.lock();
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if map.len() >= self.max {
            map.clear();
        }
        map.insert(key, p);
    }

    pub fn invalidate_role(&self, realm: &str, role: &str) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.map.lock().retain(|(r, ro, _, _), _| !(r == realm && ro == role));
        if let Some(roles) = self.authorizers.write().get_mut(realm) {
            roles.remove(role);
        }
    }

    pub fn invalidate_realm(&self, realm: &str) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.map.lock().retain(|(r, _, _, _), _| r != realm);
        self.authorizers.write().remove(realm);
    }

    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.map.lock().clear();
        self.authorizers.write().clear();
    }
}

impl Authorizer for Gate {
    fn authorize<'a>(&'a self, session: &'a SessionIdentity, uri: &'a str, action: Action) -> Authorization<'a> {
        let inner = &*self.inner;
        match inner.decisions.authorizer(session) {
            Some(Some(procedure)) => {
                if let Some(p) = inner.decisions.get(session, uri, action) {
                    return Authorization::Ready(p);
                }
                Authorization::Pending(Box::pin(async move { inner.authorize_dynamic(&procedure, session, uri, action).await }))
            }
            Some(None) => {
                let a = auth_action(action);
                match inner.authz.try_decide(&session.realm, &session.authrole, uri, a) {
                    Some(p) => Authorization::Ready(permission(p)),
                    None => Authorization::Pending(Box::pin(async move {
                        permission(inner.authz.decide(&session.realm, &session.authrole, uri, a).await)
                    })),
                }
            }
            // First action of the role on this pod: read its dynamic authorizer.
            None => Authorization::Pending(Box::pin(async move {
                let generation = inner.decisions.generation.load(Ordering::SeqCst);
                let procedure = match inner.load_authorizer(&session.realm, &session.authrole).await {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::debug!(realm = %session.realm, role = %session.authrole, error = %e, "role authorizer unreadable: denying");
                        return Permission::DENY;
                    }
                };
                inner.decisions.insert_authorizer(session, procedure.clone(), generation);
                match procedure {
                    Some(procedure) => match inner.decisions.get(session, uri, action) {
                        Some(p) => p,
                        None => inner.authorize_dynamic(&procedure, session, uri, action).await,
                    },
                    None => permission(inner.authz.decide(&session.realm, &session.authrole, uri, auth_action(action)).await),
                }
            })),
        }
    }
}

impl Inner {
    async fn authorize_dynamic(&self, procedure: &DynamicProcedure, s: &SessionIdentity, uri: &str, action: Action) -> Permission {
        let generation = self.decisions.generation.load(Ordering::SeqCst);
        let details = dict([
            ("session", Value::from(s.session)),
            ("realm", s.realm.as_str().into()),
            ("authid", s.authid.as_str().into()),
            ("authrole", s.authrole.as_str().into()),
            ("authmethod", s.authmethod.as_str().into()),
        ]);
        let args = vec![Value::Dict(details), uri.into(), action.as_str().into(), Value::Dict(Dict::new())];
        let result = match self.call_dynamic(&s.realm, procedure, Payload::args(args)).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(realm = %s.realm, role = %s.authrole, uri, action = action.as_str(), error = %e, "dynamic authorizer failed: denying");
                return Permission::DENY;
            }
        };
        let (p, cache) = match result.args.as_ref().and_then(|a| a.first()) {
            Some(Value::Bool(allow)) => (Permission { allow: *allow, disclose: false }, false),
            Some(Value::Dict(d)) => {
                let flag = |k: &str| d.get(k).and_then(Value::as_bool).unwrap_or(false);
                let allow = flag("allow");
                (Permission { allow, disclose: allow && flag("disclose") }, flag("cache"))
            }
            other => {
                tracing::debug!(realm = %s.realm, procedure = %procedure.procedure, answer = ?other, "dynamic authorizer answered neither a bool nor a dict: denying");
                (Permission::DENY, false)
            }
        };
        if cache {
            self.decisions.insert((s.realm.clone(), s.authrole.clone(), uri.to_owned(), action), p, generation);
        }
        p
    }
}
