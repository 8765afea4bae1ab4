//! Router configuration: listener, limits, timeouts, and the static realm list.
//!
//! Every field has a default, so an empty TOML table is a working config. Durations are
//! integer milliseconds (easy to override from `JUNCTION_*` variables).
//!
//! # Slow consumers
//! Each session has one bounded outbound queue of pre-encoded frames, limited by
//! [`RouterConfig::outbound_queue_messages`] and [`RouterConfig::outbound_queue_bytes`].
//! When a frame for a session does not fit, that session is closed at once (WebSocket
//! close 1008 "slow consumer", queued frames dropped, counted in
//! `Metrics::slow_consumer_closes`); the publisher and every other session carry on. So a
//! session's router memory is bounded by those two limits plus fixed buffers.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouterConfig {
    /// Listen address of the WebSocket / health listener. Port 0 picks a free port.
    pub listen: SocketAddr,
    /// Largest inbound WAMP message (= WebSocket message and frame) in bytes. A larger
    /// frame is refused from its header, before any allocation: ABORT, then close 1009.
    pub max_message_size: usize,
    /// Time from connection to WELCOME (HELLO, and CHALLENGE/AUTHENTICATE if any).
    pub hello_timeout_ms: u64,
    /// A WebSocket ping is sent after this long without inbound traffic; 0 disables keepalive.
    pub ping_interval_ms: u64,
    /// The connection is dropped when nothing (not even a pong) arrived for
    /// `ping_interval_ms + ping_timeout_ms`.
    pub ping_timeout_ms: u64,
    /// How long to wait for the peer's GOODBYE after the router sent one (kill, shutdown).
    pub goodbye_timeout_ms: u64,
    /// Graceful shutdown: how long to wait for sessions to close after GOODBYE.
    pub shutdown_grace_ms: u64,
    /// Slow-consumer limit: most frames queued for one session.
    pub outbound_queue_messages: usize,
    /// Slow-consumer limit: most bytes queued for one session.
    pub outbound_queue_bytes: usize,
    /// tungstenite read buffer per connection, allocated eagerly: small keeps an idle
    /// session near 7 KiB of router memory; it grows on demand for larger messages.
    pub read_buffer_size: usize,
    /// The writer's chunk size: queued frames are framed into one buffer of up to this many
    /// bytes per `write` (the buffer is freed after each batch, so idle sessions hold none).
    pub write_buffer_size: usize,
    /// Connections accepted at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Realms served by the static provider (`[[realms]]` in the config file).
    pub realms: Vec<RealmEntry>,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_message_size: 1 << 20,
            hello_timeout_ms: 10_000,
            ping_interval_ms: 30_000,
            ping_timeout_ms: 30_000,
            goodbye_timeout_ms: 1_000,
            shutdown_grace_ms: 5_000,
            outbound_queue_messages: 8192,
            outbound_queue_bytes: 8 << 20,
            read_buffer_size: 2048,
            write_buffer_size: 64 * 1024,
            max_connections: 100_000,
            realms: Vec::new(),
        }
    }
}

impl RouterConfig {
    pub fn hello_timeout(&self) -> Duration {
        Duration::from_millis(self.hello_timeout_ms)
    }
    pub fn goodbye_timeout(&self) -> Duration {
        Duration::from_millis(self.goodbye_timeout_ms)
    }
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
    /// `None` when keepalive is disabled.
    pub fn ping_interval(&self) -> Option<Duration> {
        (self.ping_interval_ms > 0).then(|| Duration::from_millis(self.ping_interval_ms))
    }
    pub fn ping_timeout(&self) -> Duration {
        Duration::from_millis(self.ping_timeout_ms)
    }

    /// Refuse configs that cannot work (a zero-sized queue would close every session).
    pub fn validate(&self) -> Result<(), String> {
        if self.max_message_size < 1024 {
            return Err("max_message_size must be at least 1024 bytes".into());
        }
        if self.outbound_queue_messages == 0 || self.outbound_queue_bytes < self.max_message_size {
            return Err("outbound_queue_messages must be > 0 and outbound_queue_bytes >= max_message_size".into());
        }
        if self.hello_timeout_ms == 0 {
            return Err("hello_timeout_ms must be > 0".into());
        }
        if self.max_connections == 0 {
            return Err("max_connections must be > 0".into());
        }
        for r in &self.realms {
            if r.uri.is_empty() {
                return Err("a realm has an empty uri".into());
            }
        }
        Ok(())
    }
}

/// One realm of the static config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealmEntry {
    pub uri: String,
    /// Isolation key; single-tenant deployments can leave the default.
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// Role given to anonymous sessions; absent = anonymous refused.
    #[serde(default)]
    pub anonymous_role: Option<String>,
    /// Ticket principals (`[[realms.principals]]`; `[[realms.tickets]]` is accepted too).
    #[serde(default, alias = "tickets")]
    pub principals: Vec<Principal>,
}

fn default_tenant() -> String {
    "default".into()
}

#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Principal {
    pub authid: String,
    pub ticket: String,
    pub role: String,
}

// Keeps tickets out of logs and panics.
impl std::fmt::Debug for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Principal").field("authid", &self.authid).field("ticket", &"<redacted>").field("role", &self.role).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_default_and_valid() {
        let c: RouterConfig = toml::from_str("").unwrap();
        assert_eq!(c, RouterConfig::default());
        assert!(c.validate().is_ok());
    }

    #[test]
    fn realms_and_principals_parse() {
        let c: RouterConfig = toml::from_str(
            r#"
            listen = "0.0.0.0:0"
            max_message_size = 65536
            [[realms]]
            uri = "realm1"
            anonymous_role = "anonymous"
            [[realms.principals]]
            authid = "alice"
            ticket = "secret"
            role = "user"
            "#,
        )
        .unwrap();
        assert_eq!(c.listen.port(), 0);
        assert_eq!(c.realms[0].tenant, "default");
        assert_eq!(c.realms[0].principals[0].role, "user");
        assert!(!format!("{:?}", c.realms[0].principals[0]).contains("secret"));
    }

    #[test]
    fn unknown_keys_and_bad_limits_are_refused() {
        assert!(toml::from_str::<RouterConfig>("listen_addr = \"x\"").is_err());
        let c = RouterConfig { outbound_queue_messages: 0, ..Default::default() };
        assert!(c.validate().is_err());
    }
}
