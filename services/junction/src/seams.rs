//! Which realms a router serves, and how it authenticates and authorizes their sessions.
//!
//! Two sources, in this order:
//! 1. the control store, through `junction-gate` (realms, credentials and rules created with
//!    the admin API / dashboard), when the process has a store (`junction dev`, or
//!    `junction router --database-url`);
//! 2. the static config (`[[realms]]` in `--config`; `junction dev` adds `realm1`, anonymous
//!    sessions welcome with role `anonymous`): allow-all authorization, anonymous and ticket
//!    authentication as configured.
//!
//! The store is asked first: a realm created in the store under the URI of a static realm
//! takes its place (for realms opened after it was created). A static realm is recognised
//! later by its exact settings (URI and tenant), so its sessions keep the static
//! authenticator and the allow-all authorizer, and the store's realms get the gate's. When
//! the store cannot answer, the static realms still open.
//!
//! [`router_seams`] is the one place where the gate plugs into the router.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use junction_changefeed::ChangeFeed;
use junction_gate::{Gate, GateConfig};
use junction_router::auth::{AuthStart, Authenticator, HelloInfo, StaticAuthenticator};
use junction_router::authz::{Action, AllowAll, Authorization, Authorizer, SessionIdentity};
use junction_router::config::RealmEntry;
use junction_router::realm::{ProviderError, RealmConfig, RealmProvider, StaticRealmProvider};
use junction_router::{Router, RouterBuilder};
use junction_store::Store;
use tokio::task::JoinHandle;

/// The router's seams, ready for [`RouterBuilder`].
pub struct Seams {
    pub provider: Arc<dyn RealmProvider>,
    pub authenticator: Arc<dyn Authenticator>,
    pub authorizer: Arc<dyn Authorizer>,
    gate: Option<Gate>,
}

impl Seams {
    pub fn apply(&self, builder: RouterBuilder) -> RouterBuilder {
        builder.realm_provider(self.provider.clone()).authenticator(self.authenticator.clone()).authorizer(self.authorizer.clone())
    }

    /// Whether the store's realms are served (the gate is plugged in).
    pub fn uses_store(&self) -> bool {
        self.gate.is_some()
    }

    /// Start following the change feed (cache invalidation, closing the sessions whose
    /// realm, role or credential went away). Call once, with the router built over these
    /// seams.
    pub fn follow_changes(&self, router: &Router) -> Option<JoinHandle<()>> {
        self.gate.as_ref().map(|g| g.follow_changes(router.clone()))
    }
}

/// The seams for `static_realms`, plus the store's realms when there is a store.
pub fn router_seams(static_realms: &[RealmEntry], store: Option<(Store, Arc<dyn ChangeFeed>)>) -> Seams {
    let statics = Statics::new(static_realms);
    // ---- junction-gate plugs in here ----
    let Some((store, feed)) = store else {
        return Seams {
            provider: Arc::new(StaticRealmProvider::new(static_realms)),
            authenticator: Arc::new(StaticAuthenticator::new(static_realms)),
            authorizer: Arc::new(AllowAll),
            gate: None,
        };
    };
    let gate = Gate::new(store, feed, GateConfig::default());
    Seams {
        provider: Arc::new(Composite {
            statics: statics.clone(),
            store: gate.realm_provider(),
            fallback: StaticRealmProvider::new(static_realms),
        }),
        authenticator: Arc::new(Composite {
            statics: statics.clone(),
            store: gate.authenticator(),
            fallback: StaticAuthenticator::new(static_realms),
        }),
        authorizer: Arc::new(Composite { statics, store: gate.authorizer(), fallback: AllowAll }),
        gate: Some(gate),
    }
}

/// The static realms' settings, by URI.
#[derive(Clone, Default)]
struct Statics(Arc<HashMap<String, RealmConfig>>);

impl Statics {
    fn new(entries: &[RealmEntry]) -> Self {
        Statics(Arc::new(
            entries
                .iter()
                .map(|e| {
                    let config =
                        RealmConfig { uri: e.uri.clone(), tenant: e.tenant.clone(), anonymous_role: e.anonymous_role.clone() };
                    (e.uri.clone(), config)
                })
                .collect(),
        ))
    }

    /// Whether a realm the router opened is the static one of that URI.
    fn is_static(&self, uri: &str, tenant: &str) -> bool {
        self.0.get(uri).is_some_and(|c| c.tenant == tenant)
    }
}

/// The store's seam first, the static one as the fallback.
struct Composite<S: ?Sized, F> {
    statics: Statics,
    store: Arc<S>,
    fallback: F,
}

#[async_trait]
impl RealmProvider for Composite<dyn RealmProvider, StaticRealmProvider> {
    async fn realm(&self, uri: &str) -> Result<Option<RealmConfig>, ProviderError> {
        match self.store.realm(uri).await {
            Ok(Some(config)) => Ok(Some(config)),
            Ok(None) => self.fallback.realm(uri).await,
            Err(e) => match self.fallback.realm(uri).await? {
                Some(config) => {
                    tracing::warn!(realm = uri, error = %e, "control store unavailable: opening the static realm");
                    Ok(Some(config))
                }
                None => Err(e),
            },
        }
    }
}

#[async_trait]
impl Authenticator for Composite<dyn Authenticator, StaticAuthenticator> {
    async fn hello(&self, realm: &RealmConfig, hello: &HelloInfo) -> AuthStart {
        if self.statics.is_static(&realm.uri, &realm.tenant) {
            self.fallback.hello(realm, hello).await
        } else {
            self.store.hello(realm, hello).await
        }
    }
}

impl Authorizer for Composite<dyn Authorizer, AllowAll> {
    fn authorize<'a>(&'a self, session: &'a SessionIdentity, uri: &'a str, action: Action) -> Authorization<'a> {
        if self.statics.is_static(&session.realm, &session.tenant) {
            self.fallback.authorize(session, uri, action)
        } else {
            self.store.authorize(session, uri, action)
        }
    }
}
