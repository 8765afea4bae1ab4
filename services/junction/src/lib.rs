//! The `junction` binary's library. `main.rs` only parses the command line and calls
//! [`cli::run`], so tests start exactly what the binary starts.
//!
//! - [`cli`]: the command line (`dev`, `router`, `admin`, `migrate`, `bench`);
//! - [`config`]: the TOML file and `JUNCTION_*` variables (through the [`config::Env`] trait);
//! - [`app`]: [`app::Application`], the store, router, admin API and dashboard wired together
//!   and served until shutdown;
//! - [`commands`]: one function per subcommand, and the announce lines;
//! - [`seams`]: the router's realms / authentication / authorization: the control store
//!   through `junction-gate`, then the static config;
//! - [`directory`]: the admin API's session directory over a router in the process (every pod's sessions);
//! - [`telemetry`]: `GET /metrics` (Prometheus), read at scrape time;
//! - [`dashboard`]: the dashboard's files (embedded in release builds, from disk in debug).
#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod dashboard;
pub mod directory;
pub mod seams;
pub mod telemetry;

pub use app::{AppConfig, Application};
