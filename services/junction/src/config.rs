//! The `junction` config: a TOML file plus `JUNCTION_*` environment overrides.
//!
//! Precedence: defaults < file < environment. The environment is read through [`Env`], so
//! parsing is unit-tested without touching the process environment.
//!
//! Command-line flags and their variables are the CLI's (`crate::cli`): `--data-dir`
//! (`JUNCTION_DATA_DIR`), `--database-url` (`JUNCTION_DATABASE_URL`), and the admin API's
//! `--admin-*` / `--router-url` (`JUNCTION_ADMIN_*`, `JUNCTION_ROUTER_URL`, see
//! `junction_admin::AdminConfig`).
//!
//! | variable | field |
//! |---|---|
//! | `JUNCTION_CONFIG` | path of the TOML file (read by the CLI) |
//! | `JUNCTION_LOG` | log filter (`info`, `junction_router=debug`, ...) |
//! | `JUNCTION_ADMIN_LISTEN` | `admin.listen` (admin API + dashboard; default `127.0.0.1:8081`) |
//! | `JUNCTION_DASHBOARD_DIR` | `admin.dashboard_dir` (serve the dashboard from this directory) |
//! | `JUNCTION_METRICS_LISTEN` | `metrics.listen` (`GET /metrics`, Prometheus; default `127.0.0.1:0`: a free port on loopback; never the public listeners, it names tenants) |
//! | `JUNCTION_POD_NAME` | `pod_name` (this process in session listings; default: host name, `local` in dev) |
//! | `JUNCTION_ROUTER_LISTEN` | `router.listen` |
//! | `JUNCTION_ROUTER_MAX_MESSAGE_SIZE` | `router.max_message_size` |
//! | `JUNCTION_ROUTER_HELLO_TIMEOUT_MS` | `router.hello_timeout_ms` |
//! | `JUNCTION_ROUTER_PING_INTERVAL_MS` | `router.ping_interval_ms` |
//! | `JUNCTION_ROUTER_OUTBOUND_QUEUE_MESSAGES` | `router.outbound_queue_messages` |
//! | `JUNCTION_ROUTER_OUTBOUND_QUEUE_BYTES` | `router.outbound_queue_bytes` |
//! | `JUNCTION_ROUTER_MAX_CONNECTIONS` | `router.max_connections` |
//! | `JUNCTION_ROUTER_SHUTDOWN_GRACE_MS` | `router.shutdown_grace_ms` |
//! | `JUNCTION_REDIS_URL` | `redis.url` (`redis://[user:password@]host:port`; cluster: seed nodes, comma-separated); set: the change feed goes over Redis |
//! | `JUNCTION_REDIS_CLUSTER` | `redis.cluster` (`true`: Redis Cluster, sharded pub/sub) |
//! | `JUNCTION_REDIS_PREFIX` | `redis.prefix` (every key and channel starts with it; default `junction`) |
//!
//! The `--redis-url`, `--redis-cluster` and `--redis-prefix` flags of `dev`, `router` and
//! `admin` override all three.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use junction_backplane_redis::RedisConfig;
use junction_router::RouterConfig;
use junction_router::config::RealmEntry;
use serde::Deserialize;

/// Where environment variables come from.
pub trait Env {
    fn get(&self, key: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok()
    }
}

impl Env for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key).cloned()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("invalid config file {path}: {source}")]
    Parse { path: String, source: Box<toml::de::Error> },
    #[error("invalid value {value:?} for {var}: {reason}")]
    Env { var: &'static str, value: String, reason: String },
    #[error("invalid config: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Log filter (tracing `EnvFilter` syntax); `JUNCTION_LOG` overrides.
    pub log: Option<String>,
    /// This process's name in session listings; `None`: the host name (`local` in dev).
    pub pod_name: Option<String>,
    /// The router listener and limits (`[router]`).
    pub router: RouterConfig,
    /// The admin listener (`[admin]`): admin API and dashboard.
    pub admin: AdminListen,
    /// The metrics listener (`[metrics]`): `GET /metrics`, on every command that serves.
    pub metrics: MetricsListen,
    /// Realms of the static provider (`[[realms]]`).
    pub realms: Vec<RealmEntry>,
    /// Redis (`[redis]`): with a URL, the change feed goes over Redis so that every pod (and
    /// the admin API) shares it; without, it stays in process.
    pub redis: RedisSection,
}

/// `[redis]`.
#[derive(Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSection {
    /// `redis://[user:password@]host:port[/db]`; for a cluster, seed nodes separated by commas.
    pub url: Option<String>,
    /// Redis Cluster: sharded pub/sub (SSUBSCRIBE/SPUBLISH), slot routing.
    pub cluster: bool,
    /// Key and channel prefix (default `junction`).
    pub prefix: Option<String>,
}

impl std::fmt::Debug for RedisSection {
    // The URL may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = self.url.as_deref().map(|u| u.split(',').map(|u| junction_backplane_redis::conn::redact_url(u.trim())).collect::<Vec<_>>().join(","));
        f.debug_struct("RedisSection").field("url", &url).field("cluster", &self.cluster).field("prefix", &self.prefix).finish()
    }
}

impl RedisSection {
    /// The connection settings, `None` without a URL; `pod` names the connections in
    /// `CLIENT LIST`.
    pub fn config(&self, pod: &str) -> Result<Option<RedisConfig>, ConfigError> {
        let Some(url) = self.url.as_deref().filter(|u| !u.trim().is_empty()) else { return Ok(None) };
        let config = RedisConfig::parse(url, self.cluster, self.prefix.as_deref()).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        Ok(Some(config.with_client_name(format!("junction-{pod}"))))
    }
}

/// `[admin]`: where the admin API and the dashboard are served.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminListen {
    /// Port 0 picks a free port.
    pub listen: SocketAddr,
    /// Serve the dashboard from this directory instead of the built-in files.
    pub dashboard_dir: Option<PathBuf>,
}

impl Default for AdminListen {
    fn default() -> Self {
        AdminListen { listen: SocketAddr::from(([127, 0, 0, 1], 8081)), dashboard_dir: None }
    }
}

/// `[metrics]`: where `GET /metrics` (Prometheus) is served. A listener of its own, never the
/// router's or the admin API's: the exposition names tenants and their traffic, so it must
/// stay off the public ports.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsListen {
    /// Default `127.0.0.1:0`: loopback, a free port (pods sharing a host never collide);
    /// deployments set a fixed one, such as `0.0.0.0:9464` on a pod network.
    pub listen: SocketAddr,
}

impl Default for MetricsListen {
    fn default() -> Self {
        MetricsListen { listen: SocketAddr::from(([127, 0, 0, 1], 0)) }
    }
}

/// Which command the config is for: `dev` adds a ready-to-use realm when none is configured;
/// the others (`router`, `admin`, `migrate`) serve exactly what is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Dev,
    Router,
}

impl Config {
    /// Parse TOML text (no environment applied).
    pub fn from_toml(text: &str, path: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse { path: path.to_owned(), source: Box::new(e) })
    }

    /// Load: the file if given, then the environment, then mode defaults; validated.
    pub fn load(path: Option<&Path>, env: &dyn Env, mode: Mode) -> Result<Config, ConfigError> {
        let mut config = match path {
            Some(p) => {
                let shown = p.display().to_string();
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read { path: shown.clone(), source })?;
                Config::from_toml(&text, &shown)?
            }
            None => Config::default(),
        };
        config.apply_env(env)?;
        config.finish(mode)?;
        Ok(config)
    }

    pub fn apply_env(&mut self, env: &dyn Env) -> Result<(), ConfigError> {
        fn set<T: FromStr>(env: &dyn Env, var: &'static str, field: &mut T) -> Result<(), ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            if let Some(value) = env.get(var) {
                *field = value.trim().parse().map_err(|e: T::Err| ConfigError::Env { var, value: value.clone(), reason: e.to_string() })?;
            }
            Ok(())
        }
        if let Some(log) = env.get("JUNCTION_LOG") {
            self.log = Some(log);
        }
        if let Some(pod) = env.get("JUNCTION_POD_NAME") {
            self.pod_name = Some(pod);
        }
        if let Some(dir) = env.get("JUNCTION_DASHBOARD_DIR").filter(|d| !d.trim().is_empty()) {
            self.admin.dashboard_dir = Some(PathBuf::from(dir));
        }
        set(env, "JUNCTION_ADMIN_LISTEN", &mut self.admin.listen)?;
        set(env, "JUNCTION_METRICS_LISTEN", &mut self.metrics.listen)?;
        let r = &mut self.router;
        set(env, "JUNCTION_ROUTER_LISTEN", &mut r.listen)?;
        set(env, "JUNCTION_ROUTER_MAX_MESSAGE_SIZE", &mut r.max_message_size)?;
        set(env, "JUNCTION_ROUTER_HELLO_TIMEOUT_MS", &mut r.hello_timeout_ms)?;
        set(env, "JUNCTION_ROUTER_PING_INTERVAL_MS", &mut r.ping_interval_ms)?;
        set(env, "JUNCTION_ROUTER_OUTBOUND_QUEUE_MESSAGES", &mut r.outbound_queue_messages)?;
        set(env, "JUNCTION_ROUTER_OUTBOUND_QUEUE_BYTES", &mut r.outbound_queue_bytes)?;
        set(env, "JUNCTION_ROUTER_MAX_CONNECTIONS", &mut r.max_connections)?;
        set(env, "JUNCTION_ROUTER_SHUTDOWN_GRACE_MS", &mut r.shutdown_grace_ms)?;
        if let Some(url) = env.get("JUNCTION_REDIS_URL") {
            self.redis.url = Some(url).filter(|u| !u.trim().is_empty());
        }
        if let Some(value) = env.get("JUNCTION_REDIS_CLUSTER") {
            self.redis.cluster = parse_bool(&value).ok_or_else(|| ConfigError::Env {
                var: "JUNCTION_REDIS_CLUSTER",
                value: value.clone(),
                reason: "expected true or false".into(),
            })?;
        }
        if let Some(prefix) = env.get("JUNCTION_REDIS_PREFIX") {
            self.redis.prefix = Some(prefix);
        }
        Ok(())
    }

    /// Merge `[[realms]]` into the router config, add the dev realm, validate.
    pub(crate) fn finish(&mut self, mode: Mode) -> Result<(), ConfigError> {
        self.redis.config("check")?;
        let realms = std::mem::take(&mut self.realms);
        self.router.realms.extend(realms);
        if mode == Mode::Dev && self.router.realms.is_empty() {
            self.router.realms.push(dev_realm());
        }
        self.router.validate().map_err(ConfigError::Invalid)?;
        let mut seen = std::collections::HashSet::new();
        for r in &self.router.realms {
            if !seen.insert(r.uri.as_str()) {
                return Err(ConfigError::Invalid(format!("realm {} is configured twice", r.uri)));
            }
        }
        Ok(())
    }
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// `junction dev` with no realms configured: `realm1`, anonymous sessions get role `anonymous`.
pub fn dev_realm() -> RealmEntry {
    RealmEntry { uri: "realm1".into(), tenant: "default".into(), anonymous_role: Some("anonymous".into()), principals: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn dev_defaults_work_with_no_file() {
        let c = Config::load(None, &env(&[]), Mode::Dev).unwrap();
        assert_eq!(c.router.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.admin.listen.to_string(), "127.0.0.1:8081");
        assert_eq!(c.metrics.listen.to_string(), "127.0.0.1:0");
        assert_eq!(c.router.realms, vec![dev_realm()]);
        assert_eq!(c.router.max_message_size, 1 << 20);
        // The router command adds no realm of its own.
        assert!(Config::load(None, &env(&[]), Mode::Router).unwrap().router.realms.is_empty());
    }

    #[test]
    fn file_then_env() {
        let mut c = Config::from_toml(
            r#"
            log = "debug"
            [metrics]
            listen = "0.0.0.0:9464"
            [router]
            listen = "0.0.0.0:9000"
            hello_timeout_ms = 5000
            [[realms]]
            uri = "com.acme"
            tenant = "acme"
            [[realms.principals]]
            authid = "svc"
            ticket = "t0ken"
            role = "backend"
            "#,
            "test.toml",
        )
        .unwrap();
        assert_eq!(c.metrics.listen.to_string(), "0.0.0.0:9464");
        c.apply_env(&env(&[
            ("JUNCTION_ROUTER_LISTEN", "127.0.0.1:0"),
            ("JUNCTION_ROUTER_MAX_MESSAGE_SIZE", "65536"),
            ("JUNCTION_LOG", "warn"),
            ("JUNCTION_ADMIN_LISTEN", "127.0.0.1:0"),
            ("JUNCTION_POD_NAME", "pod-a"),
            ("JUNCTION_DASHBOARD_DIR", "/srv/dist"),
            ("JUNCTION_METRICS_LISTEN", "127.0.0.1:9465"),
        ]))
        .unwrap();
        c.finish(Mode::Dev).unwrap();
        assert_eq!(c.router.listen.port(), 0);
        assert_eq!(c.router.max_message_size, 65536);
        assert_eq!(c.router.hello_timeout_ms, 5000);
        assert_eq!(c.log.as_deref(), Some("warn"));
        assert_eq!(c.admin.listen.port(), 0);
        assert_eq!(c.metrics.listen.to_string(), "127.0.0.1:9465");
        assert_eq!(c.pod_name.as_deref(), Some("pod-a"));
        assert_eq!(c.admin.dashboard_dir.as_deref(), Some(Path::new("/srv/dist")));
        // Configured realms replace the dev default.
        assert_eq!(c.router.realms.len(), 1);
        assert_eq!(c.router.realms[0].principals[0].role, "backend");
    }

    #[test]
    fn bad_values_are_reported() {
        let mut c = Config::default();
        let err = c.apply_env(&env(&[("JUNCTION_ROUTER_LISTEN", "nope")])).unwrap_err();
        assert!(err.to_string().contains("JUNCTION_ROUTER_LISTEN"));
        let err = Config::default().apply_env(&env(&[("JUNCTION_ADMIN_LISTEN", "8081")])).unwrap_err();
        assert!(err.to_string().contains("JUNCTION_ADMIN_LISTEN"));
        let err = Config::default().apply_env(&env(&[("JUNCTION_METRICS_LISTEN", "9464")])).unwrap_err();
        assert!(err.to_string().contains("JUNCTION_METRICS_LISTEN"));
        assert!(Config::from_toml("[metrics]\nport = 9464", "x").is_err());
        assert!(Config::from_toml("[router]\nlisten_addr = 1", "x").is_err());
        assert!(Config::from_toml("[[realms]]\nuri = \"a\"\n[[realms]]\nuri = \"a\"", "x").unwrap().finish(Mode::Router).is_err());
        let mut c = Config::default();
        c.apply_env(&env(&[("JUNCTION_ROUTER_OUTBOUND_QUEUE_MESSAGES", "0")])).unwrap();
        assert!(c.finish(Mode::Dev).is_err());
    }

    #[test]
    fn redis_from_file_env_and_validation() {
        assert_eq!(Config::load(None, &env(&[]), Mode::Router).unwrap().redis.config("p").unwrap(), None);
        let mut c = Config::from_toml("[redis]\nurl = \"redis://:filepw@file:6379\"\nprefix = \"prod\"", "x").unwrap();
        let r = c.redis.config("pod-a").unwrap().unwrap();
        assert_eq!((r.urls.as_slice(), r.cluster, r.prefix.as_str()), (&["redis://:filepw@file:6379".to_string()][..], false, "prod"));
        assert_eq!(r.client_name, "junction-pod-a");
        assert!(!format!("{c:?}").contains("filepw"), "{c:?}");
        c.apply_env(&env(&[("JUNCTION_REDIS_URL", "redis://a:7000,redis://b:7001"), ("JUNCTION_REDIS_CLUSTER", "true")])).unwrap();
        c.finish(Mode::Router).unwrap();
        let r = c.redis.config("p").unwrap().unwrap();
        assert_eq!((r.urls.len(), r.cluster, r.prefix.as_str()), (2, true, "prod"));
        let err = Config::default().apply_env(&env(&[("JUNCTION_REDIS_CLUSTER", "maybe")])).unwrap_err();
        assert!(err.to_string().contains("JUNCTION_REDIS_CLUSTER"));
        // Several URLs without cluster mode, a bad prefix: refused at load.
        assert!(Config::load(None, &env(&[("JUNCTION_REDIS_URL", "redis://a,redis://b")]), Mode::Router).is_err());
        assert!(Config::load(None, &env(&[("JUNCTION_REDIS_URL", "redis://a"), ("JUNCTION_REDIS_PREFIX", "a{b}")]), Mode::Router).is_err());
        assert!(Config::from_toml("[redis]\nhost = \"a\"", "x").is_err());
    }

    #[test]
    fn example_file_parses() {
        let text = include_str!("../junction.example.toml");
        let mut c = Config::from_toml(text, "junction.example.toml").unwrap();
        c.finish(Mode::Router).unwrap();
        assert!(c.router.realms.iter().any(|r| r.anonymous_role.is_some()));
        assert!(c.router.realms.iter().any(|r| !r.principals.is_empty()));
    }
}
