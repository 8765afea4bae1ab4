//! Connections to Redis that work the same on a single Redis and on Redis Cluster.
//!
//! - [`RedisConn`]: the command connection. One multiplexed connection (one per node on a
//!   cluster) shared by every clone; commands, pipelines and Lua scripts. A supervisor task
//!   connects, pings, and reconnects with exponential backoff and jitter; while it is away,
//!   commands fail at once with [`Error::NotConnected`] instead of queueing.
//! - [`Subscriber`]: pub/sub on its own connection. Channels are added and removed at
//!   runtime; messages reach the caller through a bounded channel. On a single Redis it uses
//!   SUBSCRIBE (and [`RedisConn::publish`] PUBLISH), on a cluster sharded pub/sub, SSUBSCRIBE
//!   and SPUBLISH, so a channel lives on the shard that owns its hash tag. After a lost
//!   connection it reconnects, subscribes every channel again, then delivers
//!   [`SubscriberEvent::Gap`]: messages may have been missed, resynchronise.
//! - health: both expose a `watch::Receiver<bool>` (connected or not) for `/readyz`.
//!
//! Both speak RESP3 (Redis 6 or newer; sharded pub/sub needs Redis 7): pub/sub messages
//! arrive as push messages on an ordinary multiplexed connection, the same way on a plain
//! and on a cluster connection.
//!
//! # Key and channel layout
//!
//! Every key and channel is `<prefix>:{<tag>}:<name>`, made by [`Naming`]. `<prefix>`
//! (default `junction`, `JUNCTION_REDIS_PREFIX`) lets several deployments, or tests, share one
//! Redis. `{<tag>}` is the Redis Cluster hash tag: keys and channels with the same tag live on
//! the same shard, so one Lua script or one pipeline can touch them all and one SSUBSCRIBE
//! connection serves them.
//!
//! | what | key or channel | tag |
//! |---|---|---|
//! | control-plane change feed | `<prefix>:{feed}:changes` (channel) | `feed` |
//! | anything of one realm | `<prefix>:{realm:<uri>}:<name>` | `realm:<uri>`: all of a realm on one shard |
//! | anything of one pod | `<prefix>:{pod:<pod>}:<name>` | `pod:<pod>` |
//!
//! The backplane adds its own names under the realm and pod tags (and documents them in
//! docs/architecture.md).

mod command;
mod subscriber;

use std::fmt;
use std::time::Duration;

use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::aio::{AsyncPushSender, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, IntoConnectionInfo, ProtocolVersion, RedisResult};

pub use command::RedisConn;
pub(crate) use command::AbortOnDrop as AbortOnDropHandle;
pub use subscriber::{GapReason, Subscriber, SubscriberEvent};

/// Default key prefix.
pub const DEFAULT_PREFIX: &str = "junction";

/// Where Redis is and how to talk to it.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]` (or `rediss://`). On a cluster: the seed nodes
    /// (any reachable one is enough to discover the others).
    pub urls: Vec<String>,
    /// Redis Cluster: sharded pub/sub and slot routing.
    pub cluster: bool,
    /// Every key and channel starts with `<prefix>:`.
    pub prefix: String,
    /// Limit on one connection attempt.
    pub connect_timeout: Duration,
    /// Limit on one command's answer; a command never waits longer.
    pub response_timeout: Duration,
    /// The first reconnect delay; it doubles per failed attempt (with jitter) up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// How often an idle connection is checked with PING.
    pub ping_interval: Duration,
    /// `CLIENT SETNAME` of the command connection (the subscriber's gets `-sub` appended), so
    /// that `CLIENT LIST` tells which process holds which connection.
    pub client_name: String,
}

impl fmt::Debug for RedisConfig {
    // URLs may carry a password: show them redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("urls", &self.redacted_urls())
            .field("cluster", &self.cluster)
            .field("prefix", &self.prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("ping_interval", &self.ping_interval)
            .field("client_name", &self.client_name)
            .finish()
    }
}

impl RedisConfig {
    /// One Redis at `url`.
    pub fn single(url: impl Into<String>) -> RedisConfig {
        RedisConfig::new(vec![url.into()], false)
    }

    /// A Redis Cluster reached through these seed nodes.
    pub fn cluster<S: Into<String>>(urls: impl IntoIterator<Item = S>) -> RedisConfig {
        RedisConfig::new(urls.into_iter().map(Into::into).collect(), true)
    }

    fn new(urls: Vec<String>, cluster: bool) -> RedisConfig {
        RedisConfig {
            urls,
            cluster,
            prefix: DEFAULT_PREFIX.into(),
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(2),
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(3),
            ping_interval: Duration::from_secs(1),
            client_name: DEFAULT_PREFIX.into(),
        }
    }

    pub fn with_prefix(mut self, prefix: impl Into<String>) -> RedisConfig {
        self.prefix = prefix.into();
        self
    }

    /// See [`RedisConfig::client_name`]; spaces and newlines become `-`.
    pub fn with_client_name(mut self, name: impl Into<String>) -> RedisConfig {
        self.client_name = name.into().chars().map(|c| if c.is_whitespace() || c.is_control() { '-' } else { c }).collect();
        self
    }

    /// From `urls` as written in a flag, a variable or a file: one URL, or several separated
    /// by commas (cluster seed nodes).
    pub fn parse(urls: &str, cluster: bool, prefix: Option<&str>) -> Result<RedisConfig, Error> {
        let list: Vec<String> = urls.split(',').map(str::trim).filter(|u| !u.is_empty()).map(String::from).collect();
        let mut config = RedisConfig::new(list, cluster);
        if let Some(p) = prefix {
            config.prefix = p.trim().to_owned();
        }
        config.validate()?;
        Ok(config)
    }

    /// From `JUNCTION_REDIS_URL` (comma-separated for cluster seeds), `JUNCTION_REDIS_CLUSTER`
    /// (`true`/`false`, `1`/`0`) and `JUNCTION_REDIS_PREFIX`, read through `get`. `None` when
    /// no URL is set.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<RedisConfig>, Error> {
        let Some(urls) = get("JUNCTION_REDIS_URL").filter(|u| !u.trim().is_empty()) else { return Ok(None) };
        let cluster = match get("JUNCTION_REDIS_CLUSTER") {
            Some(v) => parse_bool(&v).ok_or_else(|| Error::Config(format!("JUNCTION_REDIS_CLUSTER: expected true or false, got {v:?}")))?,
            None => false,
        };
        let prefix = get("JUNCTION_REDIS_PREFIX");
        RedisConfig::parse(&urls, cluster, prefix.as_deref()).map(Some)
    }

    /// Checks the URLs and the prefix.
    pub fn validate(&self) -> Result<(), Error> {
        if self.urls.is_empty() {
            return Err(Error::Config("no Redis URL".into()));
        }
        if !self.cluster && self.urls.len() > 1 {
            return Err(Error::Config("several Redis URLs are only for a cluster (set cluster = true)".into()));
        }
        for url in &self.urls {
            // The parse error would echo the URL: name it redacted instead.
            url.as_str().into_connection_info().map_err(|_| Error::Config(format!("invalid Redis URL {}", redact_url(url))))?;
        }
        if self.prefix.is_empty() || self.prefix.contains(['{', '}']) || self.prefix.contains(char::is_whitespace) {
            return Err(Error::Config(format!("invalid key prefix {:?}: non-empty, no braces or spaces", self.prefix)));
        }
        Ok(())
    }

    /// The URLs, passwords replaced by `***`, for logs and messages.
    pub fn redacted_urls(&self) -> String {
        self.urls.iter().map(|u| redact_url(u)).collect::<Vec<_>>().join(",")
    }

    pub fn naming(&self) -> Naming {
        Naming { prefix: self.prefix.clone() }
    }

    /// Dial once: a plain multiplexed connection or a cluster connection, RESP3, with
    /// `push` receiving pub/sub messages and disconnection notices.
    async fn connect(&self, name: &str, push: impl AsyncPushSender) -> Result<Link, Error> {
        let attempt = async {
            if self.cluster {
                let builder = ClusterClientBuilder::new(self.urls.clone())
                    .use_protocol(ProtocolVersion::RESP3)
                    .connection_timeout(self.connect_timeout)
                    .response_timeout(self.response_timeout)
                    // Retrying is the supervisor's job; the cluster's own retries would hold a
                    // caller far past the response timeout.
                    .retries(1)
                    .push_sender(push);
                let conn = builder.build()?.get_async_connection().await?;
                RedisResult::Ok(Link::Cluster(conn))
            } else {
                let info = self.urls[0].as_str().into_connection_info()?;
                let settings = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
                let client = Client::open(info.set_redis_settings(settings))?;
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(self.connect_timeout))
                    .set_response_timeout(Some(self.response_timeout))
                    .set_push_sender(push);
                Ok(Link::Single(client.get_multiplexed_async_connection_with_config(&config).await?))
            }
        };
        // Bound the whole dial (DNS, TCP, HELLO, cluster discovery), not only the TCP part.
        let link = match tokio::time::timeout(self.connect_timeout * 2, attempt).await {
            Ok(result) => result?,
            Err(_) => return Err(Error::Timeout(self.connect_timeout * 2)),
        };
        // Only a label: an ACL that forbids it must not keep us offline.
        let mut setname = redis::cmd("CLIENT");
        setname.arg("SETNAME").arg(name);
        if let Ok(Err(e)) = tokio::time::timeout(self.response_timeout, link.query::<redis::Value>(&setname)).await {
            tracing::debug!(error = %e, "CLIENT SETNAME refused");
        }
        Ok(link)
    }

    /// Delay before reconnect attempt number `failures` (1 = after the first failure):
    /// exponential, capped, with jitter so that pods restarted together do not reconnect in step.
    pub fn backoff(&self, failures: u32) -> Duration {
        let exp = self.initial_backoff.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
        let capped = exp.min(self.max_backoff);
        // "Equal jitter": half fixed, half random.
        let half = capped / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// A URL fit for logs: the password replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None if scheme.starts_with("redis") => format!("***@{host}"), // redis://password@host
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    match path {
        Some(p) => format!("{scheme}://{authority}/{p}"),
        None => format!("{scheme}://{authority}"),
    }
}

/// What can go wrong talking to Redis.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid Redis configuration: {0}")]
    Config(String),
    /// The connection is down and being re-established; nothing was sent.
    #[error("not connected to Redis (reconnecting)")]
    NotConnected,
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    /// In cluster mode the keys of one script or pipeline must share a hash tag.
    #[error("keys must share one hash tag: {0}")]
    CrossSlot(String),
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The subscriber's task has ended (its handle was dropped).
    #[error("the subscriber has stopped")]
    Stopped,
}

/// One dialled connection; clones share it.
#[derive(Clone)]
enum Link {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl Link {
    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> RedisResult<T> {
        match self.clone() {
            Link::Single(mut c) => cmd.query_async(&mut c).await,
            Link::Cluster(mut c) => cmd.query_async(&mut c).await,
        }
    }

    async fn pipeline<T: redis::FromRedisValue>(&self, pipe: &redis::Pipeline) -> RedisResult<T> {
        match self.clone() {
            Link::Single(mut c) => pipe.query_async(&mut c).await,
            Link::Cluster(mut c) => pipe.query_async(&mut c).await,
        }
    }

    async fn script<T: redis::FromRedisValue>(&self, invocation: &redis::ScriptInvocation<'_>) -> RedisResult<T> {
        match self.clone() {
            Link::Single(mut c) => invocation.invoke_async(&mut c).await,
            Link::Cluster(mut c) => invocation.invoke_async(&mut c).await,
        }
    }

    async fn subscribe(&self, channel: &str) -> RedisResult<()> {
        match self.clone() {
            Link::Single(mut c) => c.subscribe(channel).await,
            Link::Cluster(mut c) => c.ssubscribe(channel).await,
        }
    }

    async fn subscribe_all(&self, channels: &[&str]) -> RedisResult<()> {
        match self.clone() {
            Link::Single(mut c) if !channels.is_empty() => c.subscribe(channels).await,
            Link::Single(_) => Ok(()),
            // One SSUBSCRIBE per channel: channels of different tags live on different shards.
            Link::Cluster(mut c) => {
                for ch in channels {
                    c.ssubscribe(*ch).await?;
                }
                Ok(())
            }
        }
    }

    async fn unsubscribe(&self, channel: &str) -> RedisResult<()> {
        match self.clone() {
            Link::Single(mut c) => c.unsubscribe(channel).await,
            Link::Cluster(mut c) => c.sunsubscribe(channel).await,
        }
    }
}

/// Builds keys and channels: `<prefix>:{<tag>}:<name>` (see the module doc for the layout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    prefix: String,
}

impl Naming {
    /// `prefix` as validated by [`RedisConfig::validate`].
    pub fn new(prefix: impl Into<String>) -> Naming {
        Naming { prefix: prefix.into() }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix>:{<tag>}:<name>`: a key or a channel on the shard of `tag`.
    pub fn key(&self, tag: &str, name: &str) -> String {
        format!("{}:{{{tag}}}:{name}", self.prefix)
    }

    /// The change feed's channel.
    pub fn feed_channel(&self) -> String {
        self.key("feed", "changes")
    }

    /// The hash tag of a realm: every key and channel of the realm on one shard.
    pub fn realm_tag(realm: &str) -> String {
        format!("realm:{realm}")
    }

    /// `<prefix>:{realm:<uri>}:<name>`.
    pub fn realm_key(&self, realm: &str, name: &str) -> String {
        self.key(&Self::realm_tag(realm), name)
    }

    /// `<prefix>:{pod:<pod>}:<name>`.
    pub fn pod_key(&self, pod: &str, name: &str) -> String {
        self.key(&format!("pod:{pod}"), name)
    }
}

/// The part of `key` Redis Cluster hashes: the first `{...}` when non-empty, else all of it.
pub fn hash_tag(key: &str) -> &str {
    if let Some(open) = key.find('{')
        && let Some(len) = key[open + 1..].find('}')
        && len > 0
    {
        return &key[open + 1..open + 1 + len];
    }
    key
}

/// Whether all `keys` land on one cluster slot (same hash tag, or the same key).
pub fn same_hash_tag<'a>(keys: impl IntoIterator<Item = &'a str>) -> bool {
    let mut tags = keys.into_iter().map(hash_tag);
    match tags.next() {
        Some(first) => tags.all(|t| t == first),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_tags() {
        let n = Naming::new("junction");
        assert_eq!(n.feed_channel(), "junction:{feed}:changes");
        assert_eq!(n.realm_key("com.acme", "events"), "junction:{realm:com.acme}:events");
        assert_eq!(n.pod_key("p1", "alive"), "junction:{pod:p1}:alive");
        assert_eq!(hash_tag("junction:{realm:com.acme}:events"), "realm:com.acme");
        assert_eq!(hash_tag("a{}b{c}"), "a{}b{c}");
        assert_eq!(hash_tag("plain"), "plain");
        assert!(same_hash_tag([n.realm_key("r", "a").as_str(), n.realm_key("r", "b").as_str()]));
        assert!(!same_hash_tag([n.realm_key("r", "a").as_str(), n.realm_key("s", "a").as_str()]));
    }

    #[test]
    fn config_from_env_and_validation() {
        let env = |pairs: &'static [(&'static str, &'static str)]| move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        assert!(RedisConfig::from_env(env(&[])).unwrap().is_none());
        let c = RedisConfig::from_env(env(&[("JUNCTION_REDIS_URL", "redis://127.0.0.1:6379")])).unwrap().unwrap();
        assert_eq!((c.urls.len(), c.cluster, c.prefix.as_str()), (1, false, "junction"));
        let c = RedisConfig::from_env(env(&[
            ("JUNCTION_REDIS_URL", "redis://a:7000, redis://b:7001"),
            ("JUNCTION_REDIS_CLUSTER", "true"),
            ("JUNCTION_REDIS_PREFIX", "prod"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!((c.urls.len(), c.cluster, c.prefix.as_str()), (2, true, "prod"));
        assert!(RedisConfig::from_env(env(&[("JUNCTION_REDIS_URL", "redis://a"), ("JUNCTION_REDIS_CLUSTER", "maybe")])).is_err());
        assert!(RedisConfig::parse("redis://a,redis://b", false, None).is_err());
        assert!(RedisConfig::parse("redis://a", false, Some("x{y}")).is_err());
        let err = RedisConfig::parse("nope://user:hunter2@a", false, None).unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact_url("redis://app:s3cret@h:6379/0"), "redis://app:***@h:6379/0");
        assert_eq!(redact_url("rediss://s3cret@h:6379"), "rediss://***@h:6379");
        assert_eq!(redact_url("redis://h:6379"), "redis://h:6379");
        let c = RedisConfig::parse("redis://:pw@a:1", false, None).unwrap();
        assert!(!format!("{c:?}").contains("pw@"));
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let c = RedisConfig::single("redis://a");
        for failures in 1..40 {
            let d = c.backoff(failures);
            let full = (c.initial_backoff * (1 << (failures - 1).min(16))).min(c.max_backoff);
            assert!(d >= full / 2 && d <= full, "{failures}: {d:?}");
        }
        assert!(c.backoff(30) <= Duration::from_secs(3));
    }
}
