//! Configuration of the admin API: a `clap` argument group, so the binary can flatten it into
//! its own commands (`junction dev`, `junction admin`), with `JUNCTION_ADMIN_*` variables.

use junction_store::{HashParams, Secret};

#[derive(clap::Args, Clone, Debug)]
pub struct AdminConfig {
    /// HS256 key that signs dashboard / CLI access tokens. Without it a random key is made at
    /// start-up (fine for `junction dev`; with several admin pods or restarts, set it).
    #[arg(
        long = "admin-jwt-secret",
        env = "JUNCTION_ADMIN_JWT_SECRET",
        hide_env_values = true
    )]
    pub jwt_secret: Option<Secret>,

    /// Mark session cookies `Secure` (HTTPS only). Turn off only for plain-HTTP local use.
    #[arg(long = "admin-cookie-secure", env = "JUNCTION_ADMIN_COOKIE_SECURE", default_value_t = true, action = clap::ArgAction::Set)]
    pub cookie_secure: bool,

    /// Lifetime of an access token (seconds).
    #[arg(
        long = "admin-access-token-ttl",
        env = "JUNCTION_ADMIN_ACCESS_TOKEN_TTL",
        default_value_t = 900
    )]
    pub access_token_ttl_secs: u64,

    /// Lifetime of a refresh token (seconds); each use replaces it.
    #[arg(long = "admin-refresh-token-ttl", env = "JUNCTION_ADMIN_REFRESH_TOKEN_TTL", default_value_t = 30 * 24 * 3600)]
    pub refresh_token_ttl_secs: u64,

    /// Longest lifetime of a client token minted by `POST /v1/realms/{id}/tokens` (seconds).
    #[arg(long = "admin-client-token-max-ttl", env = "JUNCTION_ADMIN_CLIENT_TOKEN_MAX_TTL", default_value_t = 24 * 3600)]
    pub client_token_max_ttl_secs: u64,

    /// Log-in attempts allowed per e-mail address per minute (and ten times that per client IP).
    #[arg(
        long = "admin-login-rate-limit",
        env = "JUNCTION_ADMIN_LOGIN_RATE_LIMIT",
        default_value_t = 10
    )]
    pub login_attempts_per_minute: u32,

    /// Whether anyone may sign up (create a tenant).
    #[arg(long = "admin-public-signup", env = "JUNCTION_ADMIN_PUBLIC_SIGNUP", default_value_t = true, action = clap::ArgAction::Set)]
    pub public_signup: bool,

    /// argon2id memory cost (KiB) for passwords, API keys and tickets.
    #[arg(long = "admin-argon2-memory-kib", env = "JUNCTION_ADMIN_ARGON2_MEMORY_KIB", default_value_t = 19 * 1024)]
    pub argon2_memory_kib: u32,

    /// argon2id passes.
    #[arg(
        long = "admin-argon2-iterations",
        env = "JUNCTION_ADMIN_ARGON2_ITERATIONS",
        default_value_t = 2
    )]
    pub argon2_iterations: u32,

    /// The WebSocket URL at which browsers reach the router (e.g. `wss://wamp.example.com/ws`),
    /// published by `GET /v1/config` for the dashboard's console (`null` when unset: the
    /// dashboard then guesses). The binary may fill it itself, e.g. `junction dev` with its own
    /// router listener.
    #[arg(long = "router-url", env = "JUNCTION_ROUTER_URL", value_parser = parse_router_url)]
    pub router_url: Option<String>,
}

/// A `ws://` / `wss://` (or `http(s)://`, which browsers accept for WebSockets too) absolute
/// URL: a typo here only shows up in a browser otherwise.
fn parse_router_url(s: &str) -> Result<String, String> {
    let s = s.trim();
    let rest = ["ws://", "wss://", "http://", "https://"]
        .iter()
        .find_map(|scheme| s.strip_prefix(scheme))
        .ok_or("must start with ws://, wss://, http:// or https://")?;
    if rest.is_empty() || rest.starts_with('/') || s.chars().any(char::is_whitespace) {
        return Err("must be an absolute URL with a host, without whitespace".into());
    }
    Ok(s.to_string())
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            jwt_secret: None,
            cookie_secure: true,
            access_token_ttl_secs: 900,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            client_token_max_ttl_secs: 24 * 3600,
            login_attempts_per_minute: 10,
            public_signup: true,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            router_url: None,
        }
    }
}

impl AdminConfig {
    pub fn hash_params(&self) -> HashParams {
        HashParams {
            memory_kib: self.argon2_memory_kib,
            iterations: self.argon2_iterations,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        admin: AdminConfig,
    }

    #[test]
    fn defaults_match_the_clap_defaults() {
        let cli = Cli::try_parse_from(["junction"]).unwrap();
        let d = AdminConfig::default();
        assert_eq!(cli.admin.cookie_secure, d.cookie_secure);
        assert_eq!(cli.admin.access_token_ttl_secs, d.access_token_ttl_secs);
        assert_eq!(
            cli.admin.login_attempts_per_minute,
            d.login_attempts_per_minute
        );
        assert_eq!(cli.admin.hash_params(), d.hash_params());
    }

    #[test]
    fn flags_override_and_the_secret_never_prints() {
        let cli = Cli::try_parse_from([
            "junction",
            "--admin-jwt-secret",
            "s3cret-s3cret",
            "--admin-cookie-secure",
            "false",
        ])
        .unwrap();
        assert!(!cli.admin.cookie_secure);
        assert_eq!(
            cli.admin.jwt_secret.as_ref().map(|s| s.expose()),
            Some("s3cret-s3cret")
        );
        assert!(!format!("{:?}", cli.admin).contains("s3cret"));
    }

    #[test]
    fn the_router_url_is_a_websocket_url() {
        assert_eq!(
            Cli::try_parse_from(["junction"]).unwrap().admin.router_url,
            None
        );
        let cli =
            Cli::try_parse_from(["junction", "--router-url", "wss://wamp.example.com/ws"]).unwrap();
        assert_eq!(
            cli.admin.router_url.as_deref(),
            Some("wss://wamp.example.com/ws")
        );
        for bad in [
            "wamp.example.com",
            "ftp://x",
            "ws://",
            "ws:///ws",
            "ws://a b",
        ] {
            assert!(
                Cli::try_parse_from(["junction", "--router-url", bad]).is_err(),
                "{bad}"
            );
        }
    }
}
