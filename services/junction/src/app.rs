//! [`Application`]: what every long-running command starts, built from an [`AppConfig`], so
//! that tests start exactly what `main` starts.
//!
//! ```text
//!   control store (SQLite / Postgres) --- change feed (in process) ---+
//!        |                                    |                       |
//!   admin API /v1 + dashboard  <-- session directory --  router (ws://.../ws)
//!   (axum, admin listener)          (in-process)         realms: store (gate), then static
//! ```
//! `junction dev` has all of it; `junction router` the router (with the store when given a
//! database URL); `junction admin` the admin API and the dashboard. With `[redis] url` (or
//! `--redis-url`, `JUNCTION_REDIS_URL`) the change feed goes over Redis instead, so that the
//! admin API and every router pod share it, and the router runs on the Redis backplane: every
//! router pod on the same Redis and prefix serves the same realms as one router. `junction
//! admin` with Redis also runs a headless router (no listener, no sessions of its own) on the
//! backplane, with the seams the router pods use, only for the session directory: it follows
//! the realms' replicated registries, so the admin API lists and kills every pod's sessions.
//!
//! Every command that serves also binds the metrics listener (`[metrics] listen`,
//! `JUNCTION_METRICS_LISTEN`, default `127.0.0.1:0`): `GET /metrics` (Prometheus, see
//! [`crate::telemetry`]) and `GET /healthz`, nothing else. `/metrics` is on no other listener:
//! the router's and the admin API's are public, and the exposition names every tenant on the
//! pod with its traffic.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::get;
use junction_admin::{AdminConfig, App, SessionDirectory};
use junction_backplane_redis::{BackplaneConfig, RedisBackplane, RedisFeed};
use junction_changefeed::{ChangeFeed, InProcessFeed};
use junction_router::{Router, Server};
use junction_store::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::config::Config;
use crate::dashboard::Dashboard;
use crate::directory::RouterDirectory;
use crate::seams::router_seams;
use crate::telemetry::{self, Telemetry};

/// How long the admin (and metrics) listener waits for in-flight requests at shutdown.
const ADMIN_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// What to start.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// File + environment: listeners, router limits, static realms, pod name.
    pub config: Config,
    /// The control store; `None`: none (a router on static realms only).
    pub store: Option<StoreConfig>,
    /// Serve the router on `config.router.listen`.
    pub router: bool,
    /// Serve the admin API and the dashboard on `config.admin.listen` (needs a store).
    pub admin: Option<AdminConfig>,
    /// This process in session listings.
    pub pod: String,
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `postgres://...`, `sqlite://PATH` (created when missing) or `sqlite::memory:`.
    pub url: String,
    /// Apply pending migrations at start.
    pub migrate: bool,
}

impl AppConfig {
    /// `junction dev`: router + admin API + dashboard over a SQLite store in `data_dir`
    /// (or `database_url`), migrated at start; plain-HTTP cookies; the dashboard's console
    /// pointed at this router (unless `admin.router_url` says otherwise).
    pub fn dev(config: Config, data_dir: &Path, database_url: Option<String>, admin: AdminConfig) -> anyhow::Result<AppConfig> {
        let url = match database_url {
            Some(url) => url,
            None => {
                std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
                sqlite_url(&data_dir.join("junction.db"))
            }
        };
        let admin = AdminConfig { cookie_secure: false, ..admin };
        let pod = config.pod_name.clone().unwrap_or_else(|| "local".into());
        Ok(AppConfig { config, store: Some(StoreConfig { url, migrate: true }), router: true, admin: Some(admin), pod })
    }

    /// `junction router`: the router alone; with a database URL it also serves the store's
    /// realms (not migrated: that is `junction migrate`'s job).
    pub fn router(config: Config, database_url: Option<String>) -> AppConfig {
        let pod = crate::directory::pod_name(config.pod_name.as_deref());
        AppConfig { config, store: database_url.map(|url| StoreConfig { url, migrate: false }), router: true, admin: None, pod }
    }

    /// `junction admin`: the admin API and the dashboard alone. Its session directory needs
    /// Redis (the routers are other processes): with it, a headless router on the backplane;
    /// without, none (the session endpoints answer 503).
    pub fn admin(config: Config, database_url: String, migrate: bool, admin: AdminConfig) -> AppConfig {
        let pod = crate::directory::pod_name(config.pod_name.as_deref());
        AppConfig { config, store: Some(StoreConfig { url: database_url, migrate }), router: false, admin: Some(admin), pod }
    }
}

/// The SQLite URL of a file, created when missing.
pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

/// `sqlite://PATH` without a `mode`: add `mode=rwc`, so that a new file is created (as
/// `junction migrate` and `junction dev` expect). Anything else is left alone.
pub fn normalize_database_url(url: &str) -> String {
    let url = url.trim();
    if url.starts_with("sqlite:") && !url.contains(":memory:") && !url.contains("mode=") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}mode=rwc")
    } else {
        url.to_owned()
    }
}

/// A URL fit for logs and error messages (database or Redis): the password replaced by `***`.
pub use junction_backplane_redis::conn::redact_url;

/// Connect to the control store (and migrate it when asked).
pub async fn open_store(url: &str, migrate: bool) -> anyhow::Result<Store> {
    let url = normalize_database_url(url);
    let store = Store::connect(&url).await.with_context(|| format!("cannot open the control store at {}", redact_url(&url)))?;
    if migrate {
        store.migrate().await.with_context(|| format!("cannot migrate the control store at {}", redact_url(&url)))?;
    }
    Ok(store)
}

/// The running parts, listeners bound. [`Application::run_until`] serves them.
pub struct Application {
    store: Option<Store>,
    router: Option<Router>,
    server: Option<Server>,
    follower: Option<JoinHandle<()>>,
    /// `junction admin` on Redis: the headless router behind the session directory, and its
    /// dead-pod reaper.
    headless: Option<(Router, JoinHandle<()>)>,
    admin: Option<(TcpListener, axum::Router)>,
    /// The metrics listener: `/metrics` and `/healthz` (never on the public listeners).
    metrics: (TcpListener, axum::Router),
    router_url: Option<String>,
    admin_url: Option<String>,
    metrics_url: String,
    uses_store_realms: bool,
    dashboard: Option<Dashboard>,
    shutdown_grace: Duration,
    feed: FeedKind,
    /// Kept for the application's lifetime: a Redis feed's connections end with it.
    _feed: Arc<dyn ChangeFeed>,
    /// What the metrics listener's `/metrics` reads.
    telemetry: Arc<Telemetry>,
}

/// The Redis backplane of this pod when Redis is configured (connecting in the background).
fn redis_backplane_for(config: &Config, pod: &str) -> anyhow::Result<Option<Arc<RedisBackplane>>> {
    let Some(redis) = config.redis.config(pod)? else { return Ok(None) };
    let backplane = RedisBackplane::start(&redis, BackplaneConfig::default())
        .with_context(|| format!("cannot start the backplane on Redis {}", redis.redacted_urls()))?;
    Ok(Some(backplane))
}

/// Which change feed the application runs on.
#[derive(Debug, Clone)]
pub enum FeedKind {
    InProcess,
    /// Over Redis: where (redacted), and whether it is connected right now.
    Redis { shown: String, health: watch::Receiver<bool> },
}

impl FeedKind {
    /// For the dev banner and logs.
    pub fn describe(&self) -> String {
        match self {
            FeedKind::InProcess => "in process".into(),
            FeedKind::Redis { shown, .. } => format!("Redis {shown}"),
        }
    }
}

/// The change feed: over Redis when configured (connecting in the background: a Redis that is
/// down at start delays nothing, publishes fail until it is back), else in process.
fn change_feed(config: &Config, pod: &str) -> anyhow::Result<(Arc<dyn ChangeFeed>, FeedKind)> {
    match config.redis.config(pod)? {
        Some(redis) => {
            let shown = format!("{}{} (prefix {})", redis.redacted_urls(), if redis.cluster { ", cluster" } else { "" }, redis.prefix);
            let feed = RedisFeed::start(&redis).with_context(|| format!("cannot start the change feed on Redis {shown}"))?;
            tracing::info!(redis = %shown, channel = feed.channel(), "change feed over Redis");
            let health = feed.health();
            Ok((Arc::new(feed), FeedKind::Redis { shown, health }))
        }
        None => Ok((Arc::new(InProcessFeed::new()), FeedKind::InProcess)),
    }
}

impl Application {
    /// Open the store, build the router and the admin API, bind their listeners and the
    /// metrics listener.
    pub async fn build(cfg: AppConfig) -> anyhow::Result<Application> {
        let AppConfig { config, store, router: serve_router, admin, pod } = cfg;
        if admin.is_some() && store.is_none() {
            bail!("the admin API needs a control store (--database-url)");
        }
        let store = match &store {
            Some(s) => Some(open_store(&s.url, s.migrate).await?),
            None => None,
        };
        let (feed, feed_kind) = change_feed(&config, &pod)?;

        let (mut router, mut server, mut follower, mut router_url, mut uses_store_realms) = (None, None, None, None, false);
        let mut redis_backplane = None;
        if serve_router {
            let seams = router_seams(&config.router.realms, store.clone().map(|s| (s, feed.clone())));
            let mut builder = Router::builder().config(config.router.clone()).pod_name(pod.clone());
            if let Some(backplane) = redis_backplane_for(&config, &pod)? {
                // Pods on one Redis (and prefix) serve their realms as one router.
                redis_backplane = Some(backplane.clone());
                builder = builder.backplane(backplane);
            }
            let r = seams.apply(builder).build();
            let s = r.bind(None).await.with_context(|| format!("cannot listen on {} (router)", config.router.listen))?;
            follower = seams.follow_changes(&r);
            uses_store_realms = seams.uses_store();
            router_url = Some(s.ws_url());
            router = Some(r);
            server = Some(s);
        }
        // `junction admin` on Redis: a router with no listener, for the session directory.
        let mut headless = None;
        if !serve_router
            && admin.is_some()
            && let Some(backplane) = redis_backplane_for(&config, &pod)?
        {
            let seams = router_seams(&config.router.realms, store.clone().map(|s| (s, feed.clone())));
            let r = seams.apply(Router::builder().config(config.router.clone()).pod_name(pod.clone()).backplane(backplane)).build();
            follower = seams.follow_changes(&r);
            let reaper = r.spawn_reaper();
            headless = Some((r, reaper));
        }

        let feed_health = match &feed_kind {
            FeedKind::Redis { health, .. } => Some(health.clone()),
            FeedKind::InProcess => None,
        };
        let telemetry = Arc::new(Telemetry::new(router.clone(), redis_backplane, feed_health));
        // Its own listener, whatever the command: the exposition names tenants.
        let metrics_listener = TcpListener::bind(config.metrics.listen)
            .await
            .with_context(|| format!("cannot listen on {} (metrics)", config.metrics.listen))?;
        let metrics_url = format!("http://{}/metrics", metrics_listener.local_addr()?);
        let metrics = (metrics_listener, metrics_routes(telemetry.clone()));

        let (mut admin_listener, mut dashboard, mut admin_url) = (None, None, None);
        if let (Some(admin), Some(store)) = (admin, &store) {
            // The URL browsers reach the router at: as configured, else this router's own
            // (unless it listens on every interface, where the dashboard guesses from its host).
            let router_url = admin.router_url.clone().or_else(|| {
                server.as_ref().filter(|s| !s.local_addr().ip().is_unspecified()).map(Server::ws_url)
            });
            let directory = router
                .clone()
                .or_else(|| headless.as_ref().map(|(r, _)| r.clone()))
                .map(|r| Arc::new(RouterDirectory::new(r, pod.clone())) as Arc<dyn SessionDirectory>);
            let app = App::build(AdminConfig { router_url, ..admin }, store.clone(), feed.clone(), directory);
            let board = Dashboard::locate(config.admin.dashboard_dir.as_deref());
            let http = admin_routes(&app, store.clone(), board.clone(), &feed_kind);
            let listener = TcpListener::bind(config.admin.listen)
                .await
                .with_context(|| format!("cannot listen on {} (admin API)", config.admin.listen))?;
            admin_url = Some(format!("http://{}", listener.local_addr()?));
            admin_listener = Some((listener, http));
            dashboard = Some(board);
        }

        Ok(Application {
            store,
            router,
            server,
            follower,
            headless,
            admin: admin_listener,
            metrics,
            router_url,
            admin_url,
            metrics_url,
            uses_store_realms,
            dashboard,
            shutdown_grace: config.router.shutdown_grace(),
            feed: feed_kind,
            _feed: feed,
            telemetry,
        })
    }

    /// The change feed this application runs on.
    pub fn feed(&self) -> &FeedKind {
        &self.feed
    }

    /// `ws://ADDR/ws` of the router listener.
    pub fn router_url(&self) -> Option<&str> {
        self.router_url.as_deref()
    }

    /// `http://ADDR` of the admin listener.
    pub fn admin_url(&self) -> Option<&str> {
        self.admin_url.as_deref()
    }

    /// `http://ADDR/metrics` of the metrics listener (every command that serves has one).
    pub fn metrics_url(&self) -> &str {
        &self.metrics_url
    }

    /// What `/metrics` serves (on the metrics listener only).
    pub fn telemetry(&self) -> &Arc<Telemetry> {
        &self.telemetry
    }

    /// The router serving WebSocket clients (none in `junction admin`).
    pub fn router(&self) -> Option<&Router> {
        self.router.as_ref()
    }

    /// `junction admin` on Redis: the headless router behind the session directory.
    pub fn directory_router(&self) -> Option<&Router> {
        self.headless.as_ref().map(|(r, _)| r)
    }

    pub fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    /// Whether the router serves the store's realms (junction-gate plugged in).
    pub fn uses_store_realms(&self) -> bool {
        self.uses_store_realms
    }

    /// Where the dashboard is served from, and whether it is built there.
    pub fn dashboard(&self) -> Option<(String, bool)> {
        self.dashboard.as_ref().map(Dashboard::describe)
    }

    /// Serve until `shutdown` completes (or a listener fails), then shut down gracefully: the
    /// router sends GOODBYE to every session and waits for them (at most
    /// `router.shutdown_grace_ms`), the admin and metrics listeners finish their in-flight
    /// requests.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut tasks: JoinSet<(&'static str, anyhow::Result<()>)> = JoinSet::new();
        if let Some(server) = self.server {
            tasks.spawn(async move { ("router", server.run().await.map_err(anyhow::Error::from)) });
        }
        if let Some((listener, http)) = self.admin {
            let mut stop = stop_rx.clone();
            tasks.spawn(async move {
                let serving = axum::serve(listener, http.into_make_service_with_connect_info::<SocketAddr>())
                    .with_graceful_shutdown(async move {
                        let _ = stop.wait_for(|s| *s).await;
                    })
                    .await;
                ("admin", serving.map_err(anyhow::Error::from))
            });
        }
        {
            let (listener, http) = self.metrics;
            let mut stop = stop_rx.clone();
            tasks.spawn(async move {
                let serving = axum::serve(listener, http)
                    .with_graceful_shutdown(async move {
                        let _ = stop.wait_for(|s| *s).await;
                    })
                    .await;
                ("metrics", serving.map_err(anyhow::Error::from))
            });
        }

        let mut failure = None;
        tokio::select! {
            _ = shutdown => tracing::info!("shutting down: GOODBYE to every session"),
            Some(ended) = tasks.join_next() => {
                let (name, result) = ended.unwrap_or(("listener", Err(anyhow::anyhow!("listener task failed"))));
                failure = Some(result.err().unwrap_or_else(|| anyhow::anyhow!("the {name} listener stopped")).context(format!("{name} listener")));
            }
        }

        if let Some(router) = &self.router {
            router.shutdown();
        }
        let _ = stop_tx.send(true);
        let deadline = self.shutdown_grace.max(ADMIN_SHUTDOWN_GRACE) + Duration::from_secs(1);
        let drained = tokio::time::timeout(deadline, async {
            while let Some(ended) = tasks.join_next().await {
                match ended {
                    Ok((_, Ok(()))) => {}
                    Ok((name, Err(e))) => tracing::warn!(listener = name, error = %e, "listener ended with an error"),
                    Err(e) => tracing::warn!(error = %e, "listener task failed"),
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!("shutdown: listeners still busy after the grace period; stopping anyway");
            tasks.abort_all();
        }
        if let Some(f) = self.follower {
            f.abort();
        }
        if let Some((router, reaper)) = self.headless {
            reaper.abort();
            router.shutdown();
        }
        if let Some(store) = &self.store {
            store.close().await;
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[derive(Clone)]
struct AdminState {
    store: Store,
    dashboard: Arc<Dashboard>,
    /// The Redis change feed's connection state; `None`: in process (always there).
    feed_health: Option<watch::Receiver<bool>>,
}

/// The admin listener: `/v1` (the admin API), `/healthz`, `/readyz`, and the dashboard for
/// every other path. No `/metrics`: this listener is public (see [`metrics_routes`]).
fn admin_routes(app: &App, store: Store, dashboard: Dashboard, feed: &FeedKind) -> axum::Router {
    let feed_health = match feed {
        FeedKind::Redis { health, .. } => Some(health.clone()),
        FeedKind::InProcess => None,
    };
    let state = AdminState { store, dashboard: Arc::new(dashboard), feed_health };
    let own = axum::Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .fallback(serve_dashboard)
        .with_state(state);
    app.router().merge(own)
}

/// Ready when the control store answers and, with a Redis change feed, Redis is connected
/// (otherwise changes would be committed that no router hears about).
async fn readyz(State(state): State<AdminState>) -> impl IntoResponse {
    if let Some(health) = &state.feed_health
        && !*health.borrow()
    {
        return (StatusCode::SERVICE_UNAVAILABLE, "change feed (Redis) unavailable\n");
    }
    match tokio::time::timeout(Duration::from_secs(5), state.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready\n"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "control store unavailable\n"),
    }
}

/// The metrics listener: `GET /metrics` (Prometheus text format 0.0.4, read now) and
/// `GET /healthz`; 404 for anything else.
fn metrics_routes(telemetry: Arc<Telemetry>) -> axum::Router {
    axum::Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(telemetry)
}

async fn metrics(State(telemetry): State<Arc<Telemetry>>) -> impl IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, telemetry::CONTENT_TYPE)], telemetry.render())
}

async fn serve_dashboard(State(state): State<AdminState>, method: Method, uri: Uri, headers: HeaderMap) -> axum::response::Response {
    state.dashboard.serve(&method, &uri, &headers).await
}

/// `./junction-data` and the like, as an absolute path for messages.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(normalize_database_url("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db?mode=rwc");
        assert_eq!(normalize_database_url("sqlite://x.db?cache=shared"), "sqlite://x.db?cache=shared&mode=rwc");
        assert_eq!(normalize_database_url("sqlite://x.db?mode=ro"), "sqlite://x.db?mode=ro");
        assert_eq!(normalize_database_url("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(normalize_database_url(" postgres://u@h/db "), "postgres://u@h/db");
        assert_eq!(redact_url("postgres://app:s3cret@db:5432/junction?sslmode=require"), "postgres://app:***@db:5432/junction?sslmode=require");
        assert_eq!(redact_url("postgres://postgres@127.0.0.1/x"), "postgres://postgres@127.0.0.1/x");
        assert_eq!(redact_url("sqlite:///tmp/x.db?mode=rwc"), "sqlite:///tmp/x.db?mode=rwc");
        assert_eq!(sqlite_url(Path::new("/d/junction.db")), "sqlite:///d/junction.db?mode=rwc");
    }

    fn router_only(redis_url: Option<String>) -> AppConfig {
        let mut config = Config::default();
        config.router.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.redis.url = redis_url;
        config.redis.prefix = Some(format!("test-app-{}-{}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)));
        AppConfig { config, store: None, router: true, admin: None, pod: "p".into() }
    }

    #[tokio::test]
    async fn without_redis_the_feed_stays_in_process() {
        let app = Application::build(router_only(None)).await.expect("build");
        assert!(matches!(app.feed(), FeedKind::InProcess));
    }

    #[tokio::test]
    async fn with_a_redis_url_the_feed_goes_over_redis() {
        let app = Application::build(router_only(Some("redis://127.0.0.1:6379".into()))).await.expect("build");
        let FeedKind::Redis { mut health, .. } = app.feed().clone() else { panic!("Redis feed") };
        tokio::time::timeout(Duration::from_secs(15), health.wait_for(|up| *up)).await.expect("in time").expect("connected");
        // A Redis that is down at start does not stop the application from starting, and its
        // password never shows.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let app = Application::build(router_only(Some(format!("redis://app:sekrit@127.0.0.1:{port}")))).await.expect("build without Redis");
        let FeedKind::Redis { health, shown } = app.feed().clone() else { panic!("Redis feed") };
        assert!(!*health.borrow());
        assert!(!shown.contains("sekrit") && shown.contains("app:***@"), "{shown}");
    }

    #[tokio::test]
    async fn the_admin_api_needs_a_store() {
        let cfg = AppConfig { config: Config::default(), store: None, router: false, admin: Some(AdminConfig::default()), pod: "p".into() };
        let err = Application::build(cfg).await.err().expect("refused");
        assert!(err.to_string().contains("--database-url"), "{err}");
    }
}
