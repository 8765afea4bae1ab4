//! [`RedisFeed`]: the control plane's change feed over Redis pub/sub, for many pods.
//!
//! One channel for the whole feed, `<prefix>:{feed}:changes`, JSON payloads (the `Change`
//! serde form). Every instance subscribes to it, so a change published by any pod (the admin
//! API's included) reaches every pod's listeners, the publisher's own too. Redis pub/sub
//! delivers at most once: a lost connection becomes `Received::Lagged` on every listener once
//! the subscription is back, and the listeners forget their cached state.

use std::time::Duration;

use junction_changefeed::{Change, ChangeFeed, ChangeReceiver, FeedError, Received};
use tokio::sync::{broadcast, mpsc, watch};

use crate::conn::{Error, RedisConfig, RedisConn, Subscriber, SubscriberEvent};

/// Listeners that fall this many changes behind get `Lagged` (as with the in-process feed).
const FEED_CAPACITY: usize = 4096;

/// The change feed over Redis. Cheap to share behind an `Arc<dyn ChangeFeed>`; dropping it
/// stops its connections (listeners then get `Closed`).
pub struct RedisFeed {
    conn: RedisConn,
    local: broadcast::Sender<Received>,
    channel: String,
    health: watch::Receiver<bool>,
    _subscriber: Subscriber,
    _tasks: [crate::conn::AbortOnDropHandle; 2],
}

impl RedisFeed {
    /// Start the feed's two connections (commands, subscription) in the background; returns at
    /// once, also while Redis is down (publish then fails with `Unavailable`). Needs a Tokio
    /// runtime.
    pub fn start(config: &RedisConfig) -> Result<RedisFeed, Error> {
        let conn = RedisConn::start(config.clone())?;
        let channel = config.naming().feed_channel();
        let (subscriber, events) = Subscriber::start(config, [channel.clone()], FEED_CAPACITY)?;
        let (local, _) = broadcast::channel(FEED_CAPACITY);
        let pump = tokio::spawn(pump(events, local.clone()));
        let (health_tx, health) = watch::channel(false);
        let both = tokio::spawn(combine(conn.health(), subscriber.health(), health_tx));
        Ok(RedisFeed {
            conn,
            local,
            channel,
            health,
            _subscriber: subscriber,
            _tasks: [crate::conn::AbortOnDropHandle::new(pump), crate::conn::AbortOnDropHandle::new(both)],
        })
    }

    /// `true` while both connections are up and the feed channel is subscribed (for `/readyz`).
    pub fn health(&self) -> watch::Receiver<bool> {
        self.health.clone()
    }

    /// Wait until ready, at most `within`; whether it is.
    pub async fn wait_ready(&self, within: Duration) -> bool {
        let mut health = self.health();
        matches!(tokio::time::timeout(within, health.wait_for(|up| *up)).await, Ok(Ok(_)))
    }

    /// The Redis channel the feed travels on.
    pub fn channel(&self) -> &str {
        &self.channel
    }
}

#[async_trait::async_trait]
impl ChangeFeed for RedisFeed {
    async fn publish(&self, change: Change) -> Result<(), FeedError> {
        let payload = serde_json::to_vec(&change).map_err(|e| FeedError::Unavailable(format!("cannot encode the change: {e}")))?;
        // Zero receivers is not an error: no pod is listening, so none has anything cached.
        self.conn.publish(&self.channel, &payload).await.map(|_| ()).map_err(|e| FeedError::Unavailable(e.to_string()))
    }

    fn subscribe(&self) -> ChangeReceiver {
        ChangeReceiver::new(self.local.subscribe())
    }
}

/// Redis messages to listeners.
async fn pump(mut events: mpsc::Receiver<SubscriberEvent>, local: broadcast::Sender<Received>) {
    while let Some(event) = events.recv().await {
        let received = match event {
            SubscriberEvent::Message { payload, .. } => match serde_json::from_slice::<Change>(&payload) {
                Ok(change) => Received::Change(change),
                // A change this version cannot read (a newer admin?) is still a change: forget
                // everything rather than keep what it may have invalidated.
                Err(e) => {
                    tracing::warn!(error = %e, bytes = payload.len(), "unreadable change on the feed; treating it as lagged");
                    Received::Lagged
                }
            },
            SubscriberEvent::Gap(reason) => {
                tracing::info!(?reason, "change feed: changes may have been missed; listeners resynchronise");
                Received::Lagged
            }
        };
        // No listener: nothing cached anywhere in this process.
        let _ = local.send(received);
    }
}

async fn combine(mut a: watch::Receiver<bool>, mut b: watch::Receiver<bool>, out: watch::Sender<bool>) {
    loop {
        let up = *a.borrow_and_update() && *b.borrow_and_update();
        out.send_if_modified(|v| std::mem::replace(v, up) != up);
        tokio::select! {
            r = a.changed() => if r.is_err() { return },
            r = b.changed() => if r.is_err() { return },
        }
    }
}
