//! The router seams backed by the control store: where realms come from, who a peer is, what
//! it may do, and what happens to connected sessions when the control plane changes.
//!
//! ```no_run
//! # async fn f(store: junction_store::Store, feed: std::sync::Arc<dyn junction_changefeed::ChangeFeed>) {
//! use junction_gate::{Gate, GateConfig};
//! let gate = Gate::new(store, feed, GateConfig::default());
//! let router = junction_router::Router::builder()
//!     .realm_provider(gate.realm_provider())
//!     .authenticator(gate.authenticator())
//!     .authorizer(gate.authorizer())
//!     .build();
//! let follower = gate.follow_changes(router.clone()); // invalidation + session kills
//! # }
//! ```
//!
//! Modules, by what they own:
//! - [`realms`]: realm settings and JWT verifiers per realm, cached per pod, and the
//!   [`RealmProvider`](junction_router::RealmProvider).
//! - [`authn`]: the [`Authenticator`](junction_router::auth::Authenticator): anonymous, ticket
//!   (argon2 in `spawn_blocking`, [`TicketCache`](junction_auth::ticket::TicketCache)), JWT
//!   (as a ticket, or authmethod `jwt`), WAMP-CRA (plain, salted, derived), cryptosign, and the
//!   dynamic authenticator; failed log-ins rate limited per authid and per IP (successes are
//!   never limited).
//! - [`authz`]: the [`Authorizer`](junction_router::authz::Authorizer): the role's compiled
//!   rules ([`AuthzCache`](junction_auth::AuthzCache): `Ready` on a hit, `Pending` on a miss),
//!   or the role's dynamic authorizer with its `cache` flag honoured.
//! - [`dynamic`]: calling tenant procedures (dynamic authenticator / authorizer) through the
//!   router, in the same realm or another realm of the same tenant, with a timeout.
//! - `changes`: the change-feed follower ([`Gate::follow_changes`]), and the re-check of live
//!   sessions after missed changes (`Lagged`).
//! - `sessions`: what the follower needs to know about live sessions that the router does not
//!   show it (the JWT key each token session joined with, the realms it opened), bounded.
//! - `admission`: the join-time check: every identity the gate accepts carries a
//!   [`Grant`](junction_router::auth::Grant) that refuses the session at join (ABORT) if its
//!   credential, role or realm was revoked after authentication began, and closes it
//!   (GOODBYE) if that happened while it joined, so no revocation misses a joining session.
//!
//! # Isolation
//! Realm URIs are globally unique and every realm belongs to one tenant; a session is bound
//! to its realm, rules are cached per (realm, role), and a dynamic procedure may only live in
//! a realm of the same tenant. The meta API is answered per realm by the router.
//!
//! # Failures
//! A client only ever learns `wamp.error.authentication_failed` ("authentication failed"),
//! `wamp.error.not_authorized` (none of its authentication methods is available on the
//! realm) or `wamp.error.no_such_realm`; the reason is logged at debug level. Refused at join
//! (see `admission`), the message says what went away after the client proved its credential:
//! "credential revoked", "role deleted" or "realm deleted".
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use junction_auth::AuthzCache;
use junction_auth::limiter::{LimiterConfig, LoginLimiter};
use junction_auth::ticket::{TicketCache, TicketCacheConfig};
use junction_changefeed::{ChangeFeed, ChangeReceiver};
use junction_router::Router;
use junction_router::auth::Authenticator;
use junction_router::authz::Authorizer;
use junction_router::realm::RealmProvider;
use junction_store::Store;
use parking_lot::Mutex;
use tokio::task::JoinHandle;

mod admission;
pub mod authn;
pub mod authz;
mod changes;
pub mod dynamic;
pub mod realms;
mod sessions;

pub use changes::{REASON_CREDENTIAL_REVOKED, REASON_REALM_DELETED, REASON_ROLE_DELETED};

/// `authprovider` of sessions authenticated against the store.
pub const PROVIDER: &str = "junction";
/// `authprovider` of sessions admitted by a tenant's dynamic authenticator.
pub const PROVIDER_DYNAMIC: &str = "dynamic";

/// A tenant procedure the router calls (dynamic authenticator or authorizer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicProcedure {
    pub procedure: String,
    /// The realm the procedure is registered in: `None` = the session's own realm. Must be a
    /// realm of the same tenant (checked on every call; otherwise the call fails closed).
    pub realm: Option<String>,
}

impl DynamicProcedure {
    pub fn new(procedure: impl Into<String>) -> Self {
        DynamicProcedure { procedure: procedure.into(), realm: None }
    }

    pub fn in_realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }
}

/// Settings of a [`Gate`]. Dynamic authenticators and authorizers are set by tenants in the
/// store (admin API); those configured here, by realm URI (and role name), are an operator
/// override used where the store has none.
#[derive(Debug, Clone)]
pub struct GateConfig {
    /// Log-in attempts per (realm, authid) and per client IP.
    pub limiter: LimiterConfig,
    /// Recent ticket successes, so that a reconnect storm does not cost one argon2 each.
    pub ticket_cache: TicketCacheConfig,
    /// Clock skew tolerated on JWT `exp` / `nbf`, seconds.
    pub jwt_leeway_secs: u64,
    /// How long the router waits for a dynamic authenticator or authorizer.
    pub dynamic_timeout: Duration,
    /// realm URI -> the procedure that authenticates `ticket` log-ins the store has no
    /// credential for.
    pub authenticators: HashMap<String, DynamicProcedure>,
    /// realm URI -> role -> the procedure that authorizes that role's actions (instead of the
    /// role's rules).
    pub authorizers: HashMap<String, HashMap<String, DynamicProcedure>>,
    /// Most realms (present or absent) whose settings are cached per pod.
    pub max_cached_realms: usize,
    /// Most dynamic-authorizer decisions cached (those answered with `cache: true`).
    pub max_cached_decisions: usize,
    /// How long after authenticating a session's JWT-key binding is kept even though the
    /// router does not show the session (it may still be joining); see the `sessions` module.
    pub session_grace: Duration,
}

impl Default for GateConfig {
    fn default() -> Self {
        GateConfig {
            limiter: LimiterConfig::default(),
            ticket_cache: TicketCacheConfig::default(),
            jwt_leeway_secs: junction_auth::jwt::DEFAULT_LEEWAY,
            dynamic_timeout: Duration::from_secs(5),
            authenticators: HashMap::new(),
            authorizers: HashMap::new(),
            max_cached_realms: 100_000,
            max_cached_decisions: 100_000,
            session_grace: Duration::from_secs(60),
        }
    }
}

impl GateConfig {
    /// Set a realm's dynamic authenticator.
    pub fn with_authenticator(mut self, realm: impl Into<String>, procedure: DynamicProcedure) -> Self {
        self.authenticators.insert(realm.into(), procedure);
        self
    }

    /// Set a role's dynamic authorizer.
    pub fn with_authorizer(mut self, realm: impl Into<String>, role: impl Into<String>, procedure: DynamicProcedure) -> Self {
        self.authorizers.entry(realm.into()).or_default().insert(role.into(), procedure);
        self
    }
}

pub(crate) struct Inner {
    pub store: Store,
    pub feed: Arc<dyn ChangeFeed>,
    pub config: GateConfig,
    pub realms: realms::RealmCache,
    pub authz: AuthzCache,
    pub tickets: TicketCache,
    pub limiter: LoginLimiter,
    pub decisions: authz::DecisionCache,
    pub sessions: sessions::SessionTracker,
    /// Revocations applied while sessions were between authentication and join.
    pub admissions: admission::Admissions,
    /// Set by [`Gate::follow_changes`]: dynamic procedures are called through it.
    pub router: OnceLock<Router>,
    /// Subscribed at construction so that no change is missed before `follow_changes`.
    pub rx: Mutex<Option<ChangeReceiver>>,
}

/// The router seams over the control store. Cheap to clone (a handle on shared state).
#[derive(Clone)]
pub struct Gate {
    pub(crate) inner: Arc<Inner>,
}

impl Gate {
    pub fn new(store: Store, feed: Arc<dyn ChangeFeed>, config: GateConfig) -> Gate {
        let rx = feed.subscribe();
        let loader = Arc::new(authz::StoreRules(store.clone()));
        Gate {
            inner: Arc::new(Inner {
                authz: AuthzCache::new(loader),
                tickets: TicketCache::new(config.ticket_cache),
                limiter: LoginLimiter::new(config.limiter),
                realms: realms::RealmCache::new(config.max_cached_realms),
                decisions: authz::DecisionCache::new(config.max_cached_decisions),
                sessions: sessions::SessionTracker::new(config.session_grace),
                admissions: admission::Admissions::default(),
                router: OnceLock::new(),
                rx: Mutex::new(Some(rx)),
                store,
                feed,
                config,
            }),
        }
    }

    pub fn realm_provider(&self) -> Arc<dyn RealmProvider> {
        Arc::new(self.clone())
    }

    pub fn authenticator(&self) -> Arc<dyn Authenticator> {
        Arc::new(self.clone())
    }

    pub fn authorizer(&self) -> Arc<dyn Authorizer> {
        Arc::new(self.clone())
    }

    /// Follow the change feed until it closes: drop cached realm settings, rules, tickets and
    /// dynamic decisions, and close the sessions whose realm, role or credential went away.
    /// Also hands the gate the router it calls dynamic procedures through. Call once, with
    /// the router built over this gate's seams.
    pub fn follow_changes(&self, router: Router) -> JoinHandle<()> {
        let _ = self.inner.router.set(router.clone());
        let rx = self.inner.rx.lock().take().unwrap_or_else(|| self.inner.feed.subscribe());
        tokio::spawn(changes::follow(self.inner.clone(), router, rx))
    }

    /// How many sessions are remembered with the JWT key (store credential) their token was
    /// verified with (for metrics and tests; bounded, see the `sessions` module).
    pub fn jwt_key_sessions(&self) -> usize {
        self.inner.sessions.key_binding_count()
    }

    /// The per-pod authorization cache (for metrics and tests).
    pub fn authz_cache(&self) -> &AuthzCache {
        &self.inner.authz
    }
}
