//! The command line: `junction [--config FILE] [dev|router|admin|migrate|bench] ...`.
//! `main.rs` parses [`Cli`] and hands it to [`run`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use junction_admin::AdminConfig;
use tracing_subscriber::EnvFilter;

use crate::commands;
use crate::config::{Config, Mode, ProcessEnv};

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
}

#[derive(Args, Debug, Clone)]
pub struct RouterArgs {
    /// Also serve the realms, credentials and rules of this control store (postgres://...,
    /// sqlite://...). Not migrated here: run `junction migrate` first.
    #[arg(long, env = "JUNCTION_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
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
    let config = Config::load(cli.config.as_deref(), &ProcessEnv, mode)?;
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
        let cli = Cli::try_parse_from(["junction", "bench", "rpc", "--in-flight", "4", "--duration", "1"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Bench(_))));
    }
}
