//! The command line: `junction [--config FILE] [dev|router|admin|migrate|bench] ...`.
//! `main.rs` parses [`Cli`] and hands it to [`run`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use junction_admin::AdminConfig;
use tracing_subscriber::EnvFilter;

use crate::commands;
use crate::config::{Config, Mode, ProcessEnv, RedisSection};

#[derive(Parser, Debug)]
#[command(name = "junction", version, about = "Managed multi-tenant WAMP router", long_about = None)]
pub struct Cli {
    /// TOML config file (see services/junction/junction.example.toml).
    #[arg(long, env = "JUNCTION_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Everything in one process on embedded defaults: router, admin API, dashboard, SQLite
    /// control store (the default command).
    Dev(DevArgs),
    /// A router pod alone: static config realms, plus the control store's with --database-url.
    Router(RouterArgs),
    /// The admin API (/v1) and the dashboard alone, on --database-url.
    Admin(AdminArgs),
    /// Apply the control store's pending migrations on --database-url, then exit.
    Migrate(MigrateArgs),
    /// The WAMP load generator (prints a JSON report).
    Bench(junction_bench::BenchArgs),
}

#[derive(Parser, Debug, Clone)]
pub struct DevArgs {
    /// Where `junction dev` keeps its state: the SQLite control store (`junction.db`) and the
    /// admin token key.
    #[arg(long, env = "JUNCTION_DATA_DIR", default_value = "./junction-data")]
    pub data_dir: PathBuf,
    /// Use this control store instead of SQLite in --data-dir (postgres://..., sqlite://...).
    #[arg(long, env = "JUNCTION_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    #[command(flatten)]
    pub admin: AdminConfig,
    #[command(flatten)]
    pub redis: RedisArgs,
}

#[derive(Args, Debug, Clone)]
pub struct RouterArgs {
    /// Also serve the realms, credentials and rules of this control store (postgres://...,
    /// sqlite://...). Not migrated here: run `junction migrate` first.
    #[arg(long, env = "JUNCTION_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    #[command(flatten)]
    pub redis: RedisArgs,
}

/// Redis for the backplane and the change feed. The variables are read with the
/// config file (`crate::config`); these flags override both.
#[derive(Args, Clone, Default)]
pub struct RedisArgs {
    /// Share realms (the backplane) and the change feed through this Redis
    /// (redis://[user:password@]host:port; for a cluster, seed nodes separated by commas)
    /// [env: JUNCTION_REDIS_URL]. Without it both stay in this process.
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<String>,
    /// The Redis URLs are a Redis Cluster (sharded pub/sub) [env: JUNCTION_REDIS_CLUSTER].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub redis_cluster: Option<bool>,
    /// Prefix of every Redis key and channel (default: junction) [env: JUNCTION_REDIS_PREFIX].
    #[arg(long, value_name = "PREFIX")]
    pub redis_prefix: Option<String>,
}

impl std::fmt::Debug for RedisArgs {
    // The URL may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = self.redis_url.as_deref().map(junction_backplane_redis::conn::redact_url);
        f.debug_struct("RedisArgs").field("redis_url", &url).field("redis_cluster", &self.redis_cluster).field("redis_prefix", &self.redis_prefix).finish()
    }
}

impl RedisArgs {
    /// Flags over file and environment.
    pub fn apply(&self, section: &mut RedisSection) {
        if let Some(url) = &self.redis_url {
            section.url = Some(url.clone());
        }
        if let Some(cluster) = self.redis_cluster {
            section.cluster = cluster;
        }
        if let Some(prefix) = &self.redis_prefix {
            section.prefix = Some(prefix.clone());
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct AdminArgs {
    /// The control store (postgres://..., sqlite://...).
    #[arg(long, env = "JUNCTION_DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Apply pending migrations at start (otherwise run `junction migrate` first).
    #[arg(long, env = "JUNCTION_MIGRATE", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub migrate: bool,
    #[command(flatten)]
    pub admin: AdminConfig,
    #[command(flatten)]
    pub redis: RedisArgs,
}

#[derive(Args, Debug, Clone)]
pub struct MigrateArgs {
    /// The control store (postgres://..., sqlite://PATH; a new SQLite file is created).
    #[arg(long, env = "JUNCTION_DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
}

/// Run the parsed command line to its end.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = match cli.command {
        Some(c) => c,
        // `junction` alone is `junction dev`, flags from the environment and defaults.
        None => Command::Dev(DevArgs::try_parse_from(["junction dev"])?),
    };
    if let Command::Bench(args) = command {
        init_logging(std::env::var("JUNCTION_LOG").ok().as_deref().or(Some("warn")));
        return commands::bench(args).await;
    }
    let mode = if matches!(command, Command::Dev(_)) { Mode::Dev } else { Mode::Router };
    let mut config = Config::load(cli.config.as_deref(), &ProcessEnv, mode)?;
    let redis = match &command {
        Command::Dev(a) => Some(&a.redis),
        Command::Router(a) => Some(&a.redis),
        Command::Admin(a) => Some(&a.redis),
        Command::Migrate(_) | Command::Bench(_) => None,
    };
    if let Some(flags) = redis {
        flags.apply(&mut config.redis);
        config.redis.config("check")?;
    }
    init_logging(config.log.as_deref());
    if matches!(command, Command::Dev(_) | Command::Router(_)) {
        // Every session is a socket: lift the soft open-files limit to the hard one.
        match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(n) => tracing::debug!(open_files = n, "open files limit"),
            Err(e) => tracing::warn!(error = %e, "cannot raise the open files limit"),
        }
    }
    match command {
        Command::Dev(args) => commands::dev(config, args).await,
        Command::Router(args) => commands::router(config, args).await,
        Command::Admin(args) => commands::admin(config, args).await,
        Command::Migrate(args) => commands::migrate(args).await,
        Command::Bench(_) => unreachable!("handled above"),
    }
}

/// Logs go to stderr: stdout carries the lines scripts parse.
fn init_logging(filter: Option<&str>) {
    let filter = EnvFilter::try_new(filter.unwrap_or("info")).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn subcommands_parse() {
        let cli = Cli::try_parse_from(["junction", "dev", "--data-dir", "/tmp/x", "--router-url", "wss://w.example/ws"]).unwrap();
        let Some(Command::Dev(dev)) = cli.command else { panic!("dev") };
        assert_eq!(dev.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(dev.admin.router_url.as_deref(), Some("wss://w.example/ws"));

        let cli = Cli::try_parse_from(["junction", "admin", "--database-url", "postgres://h/db", "--migrate"]).unwrap();
        let Some(Command::Admin(admin)) = cli.command else { panic!("admin") };
        assert!(admin.migrate);
        assert!(Cli::try_parse_from(["junction", "migrate", "--database-url", "sqlite://x.db"]).is_ok());
        assert!(Cli::try_parse_from(["junction", "--config", "x.toml", "router"]).is_ok());
        let cli = Cli::try_parse_from(["junction", "router", "--redis-url", "redis://:pw@r:6379", "--redis-cluster", "--redis-prefix", "p"]).unwrap();
        let Some(Command::Router(router)) = cli.command else { panic!("router") };
        let mut section = RedisSection::default();
        router.redis.apply(&mut section);
        assert_eq!((section.url.as_deref(), section.cluster, section.prefix.as_deref()), (Some("redis://:pw@r:6379"), true, Some("p")));
        assert!(!format!("{:?}", router.redis).contains("pw"));
        let cli = Cli::try_parse_from(["junction", "admin", "--database-url", "sqlite://x", "--redis-cluster", "false"]).unwrap();
        let Some(Command::Admin(admin)) = cli.command else { panic!("admin") };
        assert_eq!(admin.redis.redis_cluster, Some(false));
        let cli = Cli::try_parse_from(["junction", "bench", "rpc", "--in-flight", "4", "--duration", "1"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Bench(_))));
    }
}
