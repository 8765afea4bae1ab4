//! The router: shared state, the builder, and the listener lifecycle.

use indexmap::IndexMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};

use junction_backplane::{Backplane, InProcessHub};

use crate::auth::{Authenticator, StaticAuthenticator};
use crate::authz::{AllowAll, Authorizer};
use crate::config::RouterConfig;
use crate::metrics::Metrics;
use crate::realm::{ProviderError, Realm, RealmProvider, StaticRealmProvider};
use crate::session::SessionHandle;

/// How often a pod looks for pods whose heartbeat expired.
pub const REAP_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// State shared by every connection of a router.
pub(crate) struct Shared {
    pub config: RouterConfig,
    pub provider: Arc<dyn RealmProvider>,
    pub authenticator: Arc<dyn Authenticator>,
    pub authorizer: Arc<dyn Authorizer>,
    pub metrics: Arc<Metrics>,
    pub backplane: Arc<dyn Backplane>,
    /// This pod's name in session listings (see [`RouterBuilder::pod_name`]).
    pub pod_name: Arc<str>,
    /// Open realms, in the order they opened (they stay open for the router's life). A short
    /// std-style lock: the provider is awaited outside it.
    realms: Mutex<IndexMap<String, Arc<Realm>>>,
    /// Set once shutdown starts (`/readyz` turns 503, the accept loop stops).
    shutting_down: AtomicBool,
    shutdown_tx: watch::Sender<bool>,
}

impl Shared {
    /// The realm named `uri`, opened from the provider on first use.
    pub async fn open_realm(&self, uri: &str) -> Result<Option<Arc<Realm>>, ProviderError> {
        let open = self.realms.lock().get(uri).cloned();
        if let Some(realm) = open {
            realm.share(&self.backplane).await.map_err(|e| ProviderError(e.to_string()))?;
            return Ok(Some(realm));
        }
        let Some(config) = self.provider.realm(uri).await? else { return Ok(None) };
        // Two first HELLOs may race here: the first insert wins, both use it.
        let realm = self.realms.lock().entry(uri.to_owned()).or_insert_with(|| Arc::new(Realm::new(config, self.metrics.clone(), self.pod_name.clone()))).clone();
        realm.share(&self.backplane).await.map_err(|e| ProviderError(e.to_string()))?;
        Ok(Some(realm))
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    pub fn is_ready(&self) -> bool {
        !self.is_shutting_down() && self.backplane.ready()
    }
}

/// A WAMP router. Cheap to clone (a handle to shared state).
#[derive(Clone)]
pub struct Router {
    shared: Arc<Shared>,
}

/// Builds a [`Router`]. Defaults: config defaults, the static provider and authenticator
/// over `config.realms`, and the allow-all authorizer.
#[derive(Default)]
pub struct RouterBuilder {
    config: RouterConfig,
    provider: Option<Arc<dyn RealmProvider>>,
    authenticator: Option<Arc<dyn Authenticator>>,
    authorizer: Option<Arc<dyn Authorizer>>,
    backplane: Option<Arc<dyn Backplane>>,
    pod_name: Option<String>,
}

impl RouterBuilder {
    /// How this pod shares realms with others; default: a hub of its own (one node).
    pub fn backplane(mut self, backplane: Arc<dyn Backplane>) -> Self {
        self.backplane = Some(backplane);
        self
    }

    /// The name this pod goes by in session listings (`JUNCTION_POD_NAME`): shared with the
    /// other pods along with each session; default: none (listings show the pod id).
    pub fn pod_name(mut self, name: impl Into<String>) -> Self {
        self.pod_name = Some(name.into());
        self
    }

    pub fn config(mut self, config: RouterConfig) -> Self {
        self.config = config;
        self
    }
    pub fn realm_provider(mut self, provider: Arc<dyn RealmProvider>) -> Self {
        self.provider = Some(provider);
        self
    }
    pub fn authenticator(mut self, authenticator: Arc<dyn Authenticator>) -> Self {
        self.authenticator = Some(authenticator);
        self
    }
    pub fn authorizer(mut self, authorizer: Arc<dyn Authorizer>) -> Self {
        self.authorizer = Some(authorizer);
        self
    }

    pub fn build(self) -> Router {
        let provider = self.provider.unwrap_or_else(|| Arc::new(StaticRealmProvider::new(&self.config.realms)));
        let authenticator = self.authenticator.unwrap_or_else(|| Arc::new(StaticAuthenticator::new(&self.config.realms)));
        let authorizer = self.authorizer.unwrap_or_else(|| Arc::new(AllowAll));
        let backplane = self.backplane.unwrap_or_else(|| InProcessHub::new().pod());
        let (shutdown_tx, _) = watch::channel(false);
        Router {
            shared: Arc::new(Shared {
                config: self.config,
                provider,
                authenticator,
                authorizer,
                metrics: Arc::new(Metrics::default()),
                backplane,
                pod_name: self.pod_name.unwrap_or_default().into(),
                realms: Mutex::new(IndexMap::new()),
                shutting_down: AtomicBool::new(false),
                shutdown_tx,
            }),
        }
    }
}

impl Router {
    pub fn builder() -> RouterBuilder {
        RouterBuilder::default()
    }

    pub fn config(&self) -> &RouterConfig {
        &self.shared.config
    }

    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Bind the listener (`config.listen` when `addr` is `None`; port 0 picks a free port).
    pub async fn bind(&self, addr: Option<SocketAddr>) -> io::Result<Server> {
        let listener = TcpListener::bind(addr.unwrap_or(self.shared.config.listen)).await?;
        let local_addr = listener.local_addr()?;
        Ok(Server { listener, local_addr, router: self.clone() })
    }

    /// The open realms, in the order they opened.
    pub fn realms(&self) -> Vec<Arc<Realm>> {
        self.shared.realms.lock().values().cloned().collect()
    }

    /// An open realm (realms open on the first HELLO naming them).
    pub fn realm(&self, uri: &str) -> Option<Arc<Realm>> {
        self.shared.realms.lock().get(uri).cloned()
    }

    /// The realm, opened from the provider if needed (publish/call into a realm nobody
    /// joined yet).
    pub async fn open_realm(&self, uri: &str) -> Result<Option<Arc<Realm>>, ProviderError> {
        self.shared.open_realm(uri).await
    }

    /// Close the sessions of `realm` the predicate selects, with GOODBYE(`reason`)
    /// (credential revoked, realm deleted, ...). Returns the session ids closed.
    pub fn kill_sessions(&self, realm: &str, predicate: impl Fn(&SessionHandle) -> bool, reason: &str) -> Vec<junction_protocol::Id> {
        self.realm(realm).map(|r| r.kill_sessions(predicate, reason, None)).unwrap_or_default()
    }

    pub fn kill_by_authid(&self, realm: &str, authid: &str, reason: &str) -> Vec<junction_protocol::Id> {
        self.kill_sessions(realm, |s| s.identity().authid == authid, reason)
    }

    pub fn kill_by_authrole(&self, realm: &str, authrole: &str, reason: &str) -> Vec<junction_protocol::Id> {
        self.kill_sessions(realm, |s| s.identity().authrole == authrole, reason)
    }

    /// Start graceful shutdown: stop accepting, GOODBYE(`wamp.close.system_shutdown`) to
    /// every session. [`Server::run`] returns once sessions closed or the grace period ran out.
    pub fn shutdown(&self) {
        self.shared.shutting_down.store(true, Ordering::Relaxed);
        self.shared.shutdown_tx.send_replace(true);
    }

    /// This pod's id on the backplane.
    pub fn pod(&self) -> junction_backplane::PodId {
        self.shared.backplane.pod()
    }

    /// Whether the router can take traffic: not shutting down, backplane reachable.
    pub fn is_ready(&self) -> bool {
        self.shared.is_ready()
    }

    /// [`Router::reap_dead_pods`] every [`REAP_INTERVAL`], until the handle is aborted (a
    /// serving router runs it; so does a router without a listener that keeps realms open).
    pub fn spawn_reaper(&self) -> tokio::task::JoinHandle<()> {
        self.every(REAP_INTERVAL, |r| async move { r.reap_dead_pods().await })
    }

    /// Runs `job` on this router every `period` (a late tick delays the next) until the
    /// handle is aborted.
    fn every<F>(&self, period: std::time::Duration, job: impl Fn(Router) -> F + Send + 'static) -> tokio::task::JoinHandle<()>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let router = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                job(router.clone()).await;
            }
        })
    }

    /// Remove the sessions of pods whose heartbeat expired, from every open realm, and
    /// publish what they left behind. Runs every [`REAP_INTERVAL`] while serving.
    pub async fn reap_dead_pods(&self) {
        let realms = self.realms();
        if realms.is_empty() {
            return;
        }
        let live = match self.shared.backplane.live_pods().await {
            Ok(live) => live,
            Err(e) => {
                tracing::debug!(error = %e, "pod liveness unknown: not reaping");
                return;
            }
        };
        for realm in realms {
            let Some(replica) = realm.replica.get() else { continue };
            for departure in replica.reap(&live).await {
                realm.departed(&departure);
            }
        }
    }

    fn goodbye_everyone(&self) {
        for realm in self.realms() {
            realm.kill_sessions(|_| true, "wamp.close.system_shutdown", None);
        }
    }
}

/// A bound listener; [`Server::run`] serves it until [`Router::shutdown`].
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    router: Router,
}

impl Server {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `ws://ADDR/ws`
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.local_addr)
    }

    /// Accept connections until shutdown, then drain: GOODBYE to every session and wait
    /// (at most `shutdown_grace_ms`) for the connections to close.
    pub async fn run(self) -> io::Result<()> {
        let shared = self.router.shared.clone();
        let mut shutdown = shared.shutdown_tx.subscribe();
        // Each connection task holds a clone; `recv()` yields `None` once all are gone.
        let (drain_tx, mut drain_rx) = mpsc::channel::<()>(1);
        let limit = Arc::new(Semaphore::new(shared.config.max_connections));
        let reaper = self.router.spawn_reaper();
        let counters = self.router.every(crate::directory::COUNTERS_INTERVAL, |r| async move { r.flush_counters().await });
        loop {
            if *shutdown.borrow_and_update() {
                break;
            }
            // Back-pressure: past max_connections, new connections wait in the backlog.
            let permit = tokio::select! {
                p = limit.clone().acquire_owned() => p.map_err(io::Error::other)?,
                _ = shutdown.changed() => break,
            };
            let (stream, peer) = tokio::select! {
                r = self.listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        // EMFILE and friends: keep serving the connections we have.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = shutdown.changed() => break,
            };
            let shared = shared.clone();
            let drain = drain_tx.clone();
            tokio::spawn(async move {
                crate::transport::serve_connection(stream, peer, shared, drain).await;
                drop(permit);
            });
        }
        drop(self.listener);
        reaper.abort();
        self.router.goodbye_everyone();
        drop(drain_tx);
        if tokio::time::timeout(shared.config.shutdown_grace(), drain_rx.recv()).await.is_err() {
            tracing::warn!("shutdown grace period over with connections still open");
        }
        counters.abort();
        // What the last second counted, so that the realm-wide totals keep it.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), self.router.flush_counters()).await;
        Ok(())
    }
}
