//! The subcommands. Each builds an [`Application`] (or runs to completion), announces what
//! it serves on stdout, and serves until SIGTERM / ctrl-c.
//!
//! Scripts and tests parse these stdout lines (flushed as soon as the listeners are bound), in
//! this order, each when the command serves it: `junction: router listening on ws://ADDR/ws`,
//! `junction: admin listening on http://ADDR` and (always) `junction: metrics listening on
//! http://ADDR/metrics`. Match on the listener's name, not on the first `http://` URL.

use std::future::Future;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use junction_admin::AdminConfig;
use junction_store::Secret;

use crate::app::{AppConfig, Application, absolute, open_store, redact_url};
use crate::cli::{AdminArgs, DevArgs, MigrateArgs, RouterArgs};
use crate::config::Config;

fn announce(text: &str) {
    let mut out = std::io::stdout().lock();
    // Tests and scripts parse these lines: flush so they see them at once.
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

fn announce_listeners(app: &Application) {
    if let Some(url) = app.router_url() {
        announce(&format!("junction: router listening on {url}"));
    }
    if let Some(url) = app.admin_url() {
        announce(&format!("junction: admin listening on {url}"));
    }
    announce(&format!("junction: metrics listening on {}", app.metrics_url()));
}

/// `junction dev`: everything on embedded defaults, URLs printed.
pub async fn dev(config: Config, args: DevArgs) -> anyhow::Result<()> {
    let shutdown = shutdown_signal();
    let data_dir = absolute(&args.data_dir);
    let admin = dev_admin_config(args.admin, &data_dir, args.database_url.is_none())?;
    let store_shown = match &args.database_url {
        Some(url) => redact_url(url),
        None => format!("SQLite in {}", data_dir.display()),
    };
    let realms: Vec<String> = config
        .router
        .realms
        .iter()
        .map(|r| match &r.anonymous_role {
            Some(role) => format!("{} (anonymous, role {role})", r.uri),
            None => r.uri.clone(),
        })
        .collect();
    let app = Application::build(AppConfig::dev(config, &data_dir, args.database_url, admin)?).await?;
    announce_listeners(&app);

    let router_url = app.router_url().unwrap_or_default().to_owned();
    let admin_url = app.admin_url().unwrap_or_default().to_owned();
    let metrics_url = app.metrics_url().to_owned();
    let dashboard = match app.dashboard() {
        Some((_, true)) => format!("{admin_url}/"),
        Some((from, false)) => {
            format!("not built ({from}): run `cd dashboard && npm ci && npm run build` and reload {admin_url}/")
        }
        None => "-".into(),
    };
    let feed_shown = app.feed().describe();
    let mut realm_lines = realms.join(", ");
    if app.uses_store_realms() {
        realm_lines.push_str(", and every realm you create in the dashboard");
    }
    announce(&format!(
        "
  Junction dev server is up.
    Dashboard       {dashboard}
    Admin API       {admin_url}/v1   (OpenAPI: {admin_url}/v1/openapi.json)
    WAMP router     {router_url}
    Metrics         {metrics_url}
    Realms          {realm_lines}
    Control store   {store_shown}
    Change feed     {feed_shown}
  Sign up in the dashboard to create realms, roles and credentials. Press ctrl-c to stop.
"
    ));
    app.run_until(shutdown).await
}

/// `junction dev` keeps its admin token key in the data directory, so that a restart does not
/// log everyone out; an explicit `--admin-jwt-secret` wins.
fn dev_admin_config(admin: AdminConfig, data_dir: &Path, own_store: bool) -> anyhow::Result<AdminConfig> {
    if admin.jwt_secret.is_some() || !own_store {
        return Ok(admin);
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let path = data_dir.join("admin-jwt-secret");
    let secret = match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= 32 => s.trim().to_owned(),
        _ => {
            let s = junction_store::secrets::random_alnum(48);
            write_private(&path, &s).with_context(|| format!("cannot write {}", path.display()))?;
            s
        }
    };
    Ok(AdminConfig { jwt_secret: Some(Secret::new(secret)), ..admin })
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

/// `junction router`: a router pod alone.
pub async fn router(config: Config, args: RouterArgs) -> anyhow::Result<()> {
    let shutdown = shutdown_signal();
    let app = Application::build(AppConfig::router(config, args.database_url)).await?;
    announce_listeners(&app);
    app.run_until(shutdown).await
}

/// `junction admin`: the admin API and the dashboard alone.
pub async fn admin(config: Config, args: AdminArgs) -> anyhow::Result<()> {
    let shutdown = shutdown_signal();
    let app = Application::build(AppConfig::admin(config, args.database_url, args.migrate, args.admin)).await?;
    announce_listeners(&app);
    app.run_until(shutdown).await
}

/// `junction migrate`: apply the pending migrations, then exit.
pub async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let store = open_store(&args.database_url, true).await?;
    store.close().await;
    announce(&format!("junction: control store migrated ({})", redact_url(&args.database_url)));
    Ok(())
}

/// `junction bench ...`: the report is printed by the bench itself.
pub async fn bench(args: junction_bench::BenchArgs) -> anyhow::Result<()> {
    junction_bench::run(args).await.map(|_| ())
}

/// Resolves on SIGTERM or ctrl-c (SIGINT). The handlers are installed when this is called
/// (not when the future is first polled), so call it before announcing anything: a signal
/// right after the announce lines still shuts down gracefully.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        async fn recv(s: Option<Signal>) {
            match s {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            tokio::select! {
                _ = recv(term) => {}
                _ = recv(int) => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
