//! The command connection and its supervisor.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use redis::{Cmd, FromRedisValue, Pipeline, PushInfo, PushKind, Script, ToRedisArgs};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::{Error, Link, Naming, RedisConfig, same_hash_tag};

/// The command connection: cheap to clone, every clone shares one multiplexed connection (so
/// concurrent commands are pipelined on the wire). Survives Redis restarts: a supervisor task
/// reconnects with backoff; meanwhile every call fails at once with [`Error::NotConnected`].
/// The supervisor stops when the last clone is dropped.
#[derive(Clone)]
pub struct RedisConn {
    state: Arc<State>,
    _supervisor: Arc<AbortOnDrop>,
}

struct State {
    config: RedisConfig,
    naming: Naming,
    /// The live connection and its generation (to tell a stale "broken" report from a fresh one).
    link: RwLock<Option<(u64, Link)>>,
    health: watch::Sender<bool>,
    broken: mpsc::UnboundedSender<u64>,
}

pub(crate) struct AbortOnDrop(pub(crate) JoinHandle<()>);

impl AbortOnDrop {
    pub(crate) fn new(task: JoinHandle<()>) -> Self {
        AbortOnDrop(task)
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl RedisConn {
    /// Validate `config` and start connecting in the background (needs a Tokio runtime).
    /// Returns at once, also when Redis is down: see [`RedisConn::health`].
    pub fn start(config: RedisConfig) -> Result<RedisConn, Error> {
        config.validate()?;
        let (broken, broken_rx) = mpsc::unbounded_channel();
        let state = Arc::new(State {
            naming: config.naming(),
            config,
            link: RwLock::new(None),
            health: watch::Sender::new(false),
            broken,
        });
        let task = tokio::spawn(supervise(state.clone(), broken_rx));
        Ok(RedisConn { state, _supervisor: Arc::new(AbortOnDrop(task)) })
    }

    pub fn config(&self) -> &RedisConfig {
        &self.state.config
    }

    pub fn naming(&self) -> &Naming {
        &self.state.naming
    }

    /// `true` while connected (for `/readyz`).
    pub fn health(&self) -> watch::Receiver<bool> {
        self.state.health.subscribe()
    }

    pub fn is_connected(&self) -> bool {
        *self.state.health.borrow()
    }

    /// Wait until connected, at most `within`; whether it is.
    pub async fn wait_connected(&self, within: Duration) -> bool {
        let mut health = self.health();
        matches!(tokio::time::timeout(within, health.wait_for(|up| *up)).await, Ok(Ok(_)))
    }

    /// One command.
    pub async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, Error> {
        let (generation, link) = self.current()?;
        self.bounded(generation, link.query(cmd)).await
    }

    /// Several commands in one round trip. On a cluster their keys must share one hash tag
    /// (the pipeline goes to one shard).
    pub async fn pipeline<T: FromRedisValue>(&self, pipe: &Pipeline) -> Result<T, Error> {
        let (generation, link) = self.current()?;
        self.bounded(generation, link.pipeline(pipe)).await
    }

    /// Run a Lua script (EVALSHA, loading it on NOSCRIPT). All `keys` must share one hash tag,
    /// on a single Redis too, so that what works there works on a cluster.
    pub async fn run_script<T: FromRedisValue, A: ToRedisArgs>(&self, script: &Script, keys: &[String], args: &[A]) -> Result<T, Error> {
        if !same_hash_tag(keys.iter().map(String::as_str)) {
            return Err(Error::CrossSlot(keys.join(" ")));
        }
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(key);
        }
        for arg in args {
            invocation.arg(arg);
        }
        let (generation, link) = self.current()?;
        self.bounded(generation, link.script(&invocation)).await
    }

    /// PUBLISH (single Redis) or SPUBLISH (cluster, to the shard of the channel's hash tag).
    /// Returns how many subscribers got it (on that shard, for SPUBLISH).
    pub async fn publish(&self, channel: &str, payload: &[u8]) -> Result<usize, Error> {
        let verb = if self.state.config.cluster { "SPUBLISH" } else { "PUBLISH" };
        self.query(redis::cmd(verb).arg(channel).arg(payload)).await
    }

    fn current(&self) -> Result<(u64, Link), Error> {
        self.state.link.read().clone().ok_or(Error::NotConnected)
    }

    /// Never wait longer than the response timeout; a dropped connection wakes the
    /// supervisor at once instead of at its next PING.
    async fn bounded<T>(&self, generation: u64, request: impl Future<Output = redis::RedisResult<T>>) -> Result<T, Error> {
        let limit = self.state.config.response_timeout;
        match tokio::time::timeout(limit, request).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                if !self.state.config.cluster && (e.is_connection_dropped() || e.is_unrecoverable_error()) {
                    let _ = self.state.broken.send(generation);
                }
                Err(Error::Redis(e))
            }
            Err(_) => Err(Error::Timeout(limit)),
        }
    }
}

/// Connect, watch, reconnect, forever (until aborted).
async fn supervise(state: Arc<State>, mut broken: mpsc::UnboundedReceiver<u64>) {
    let config = &state.config;
    let (mut generation, mut failures) = (0u64, 0u32);
    loop {
        generation += 1;
        let g = generation;
        let report = state.broken.clone();
        // A cluster connection repairs its node connections itself; a plain one is replaced.
        let cluster = config.cluster;
        let push = move |p: PushInfo| -> Result<(), Infallible> {
            if p.kind == PushKind::Disconnection && !cluster {
                let _ = report.send(g);
            }
            Ok(())
        };
        let link = match config.connect(&config.client_name, push).await {
            Ok(link) => link,
            Err(e) => {
                failures += 1;
                // The first failure and then every 20th: a long outage must not flood the log.
                if failures == 1 || failures % 20 == 0 {
                    tracing::warn!(redis = %config.redacted_urls(), error = %e, failures, "cannot connect to Redis; retrying");
                }
                tokio::time::sleep(config.backoff(failures)).await;
                continue;
            }
        };
        if failures > 0 {
            tracing::info!(redis = %config.redacted_urls(), failures, "connected to Redis after failures");
        } else {
            tracing::debug!(redis = %config.redacted_urls(), "connected to Redis");
        }
        failures = 0;
        *state.link.write() = Some((g, link.clone()));
        state.health.send_replace(true);

        let reason = watch_link(&link, g, config, &mut broken).await;
        *state.link.write() = None;
        state.health.send_replace(false);
        tracing::warn!(redis = %config.redacted_urls(), reason, "lost the connection to Redis; reconnecting");
    }
}

/// Until the link `g` is reported broken or fails a PING; why.
pub(super) async fn watch_link(link: &Link, g: u64, config: &RedisConfig, broken: &mut mpsc::UnboundedReceiver<u64>) -> &'static str {
    let mut ticker = tokio::time::interval(config.ping_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            gone = broken.recv() => match gone {
                Some(which) if which == g => return "connection closed",
                Some(_) => {} // an earlier connection's late notice
                None => return "stopped",
            },
            _ = ticker.tick() => {
                let ping = redis::cmd("PING");
                match tokio::time::timeout(config.response_timeout, link.query::<redis::Value>(&ping)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(_)) => return "PING failed",
                    Err(_) => return "PING timed out",
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unreachable_redis_fails_fast_and_never_hangs() {
        // Port 1 on loopback: nothing listens there.
        let conn = RedisConn::start(RedisConfig::single("redis://127.0.0.1:1")).unwrap();
        let started = std::time::Instant::now();
        let err = conn.publish("x", b"y").await.unwrap_err();
        assert!(matches!(err, Error::NotConnected), "{err}");
        assert!(started.elapsed() < Duration::from_millis(100));
        assert!(!conn.is_connected());
        assert!(!conn.wait_connected(Duration::from_millis(200)).await);
    }

    #[tokio::test]
    async fn scripts_refuse_keys_of_different_tags() {
        let conn = RedisConn::start(RedisConfig::single("redis://127.0.0.1:1")).unwrap();
        let script = Script::new("return 1");
        let keys = vec![conn.naming().realm_key("a", "x"), conn.naming().realm_key("b", "x")];
        let err = conn.run_script::<i64, &str>(&script, &keys, &[]).await.unwrap_err();
        assert!(matches!(err, Error::CrossSlot(_)), "{err}");
    }
}
