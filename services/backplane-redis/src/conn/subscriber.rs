//! The pub/sub subscriber: its own connection, channels changed at runtime, gaps reported.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use redis::{PushInfo, PushKind, Value};
use tokio::sync::{mpsc, oneshot, watch};

use super::command::{AbortOnDrop, watch_link};
use super::{Error, Link, RedisConfig};

/// What the consumer of a [`Subscriber`] receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriberEvent {
    /// A message published on one of the subscribed channels.
    Message { channel: String, payload: Vec<u8> },
    /// Messages may have been missed before this point: resynchronise. Every channel is
    /// subscribed again when this arrives (after a reconnect), so a resync that starts now
    /// misses nothing that follows.
    Gap(GapReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapReason {
    /// The connection was lost (Redis restarted, the client was killed, the network broke)
    /// and is back: messages published meanwhile are gone.
    Reconnected,
    /// The consumer fell behind: the bounded channel was full and messages were dropped.
    Overflow,
}

/// A pub/sub connection. Channels are added and removed at runtime; messages reach the
/// consumer through a bounded channel (see [`Subscriber::start`]). On a single Redis it
/// uses SUBSCRIBE, on a cluster SSUBSCRIBE (a channel's hash tag picks its shard).
///
/// After a lost connection the background task reconnects with backoff, subscribes every
/// channel again, then delivers [`SubscriberEvent::Gap`]. Dropping the `Subscriber` stops it.
pub struct Subscriber {
    requests: mpsc::UnboundedSender<Request>,
    health: watch::Receiver<bool>,
    _task: AbortOnDrop,
}

enum Request {
    Subscribe(String, oneshot::Sender<Result<(), Error>>),
    Unsubscribe(String, oneshot::Sender<Result<(), Error>>),
}

/// Shared with the connection's push handler, which runs inside the redis driver and must
/// never block.
struct Delivery {
    events: mpsc::Sender<SubscriberEvent>,
    /// A gap not yet delivered because the consumer's channel was full.
    pending_gap: Mutex<Option<GapReason>>,
}

impl Delivery {
    /// Deliver a pending gap first, then `event`; whatever does not fit becomes a gap.
    fn deliver(&self, event: Option<SubscriberEvent>) {
        let mut gap = self.pending_gap.lock();
        if let Some(reason) = *gap {
            match self.events.try_send(SubscriberEvent::Gap(reason)) {
                Ok(()) => *gap = None,
                Err(mpsc::error::TrySendError::Full(_)) => return, // the event is lost too: still a gap
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        }
        if let Some(event) = event
            && let Err(mpsc::error::TrySendError::Full(_)) = self.events.try_send(event)
        {
            *gap = Some(GapReason::Overflow);
        }
    }

    fn raise_gap(&self, reason: GapReason) {
        {
            let mut gap = self.pending_gap.lock();
            // A reconnect gap says more than an overflow one; either means "resync".
            if *gap != Some(GapReason::Reconnected) {
                *gap = Some(reason);
            }
        }
        self.deliver(None);
    }
}

impl Subscriber {
    /// Start with `channels` already wanted; events go to a channel of `capacity` messages.
    /// Returns at once (needs a Tokio runtime); [`Subscriber::health`] turns `true` once
    /// connected with every channel subscribed.
    pub fn start(
        config: &RedisConfig,
        channels: impl IntoIterator<Item = String>,
        capacity: usize,
    ) -> Result<(Subscriber, mpsc::Receiver<SubscriberEvent>), Error> {
        config.validate()?;
        let (events, events_rx) = mpsc::channel(capacity.max(1));
        let (requests, requests_rx) = mpsc::unbounded_channel();
        let (health_tx, health) = watch::channel(false);
        let delivery = Arc::new(Delivery { events, pending_gap: Mutex::new(None) });
        let task = Task { config: config.clone(), channels: channels.into_iter().collect(), delivery, health: health_tx, requests: requests_rx };
        let task = tokio::spawn(task.run());
        Ok((Subscriber { requests, health, _task: AbortOnDrop(task) }, events_rx))
    }

    /// Subscribe `channel`. `Ok` once Redis confirmed it. `Err(NotConnected)` (or another
    /// error while connected): the channel is kept and subscribed on the next (re)connect,
    /// followed by a [`SubscriberEvent::Gap`].
    pub async fn subscribe(&self, channel: impl Into<String>) -> Result<(), Error> {
        self.ask(|tx| Request::Subscribe(channel.into(), tx)).await
    }

    /// Unsubscribe `channel` (forgotten at once, also when not connected).
    pub async fn unsubscribe(&self, channel: impl Into<String>) -> Result<(), Error> {
        self.ask(|tx| Request::Unsubscribe(channel.into(), tx)).await
    }

    /// `true` while connected with every channel subscribed.
    pub fn health(&self) -> watch::Receiver<bool> {
        self.health.clone()
    }

    async fn ask(&self, request: impl FnOnce(oneshot::Sender<Result<(), Error>>) -> Request) -> Result<(), Error> {
        let (tx, rx) = oneshot::channel();
        self.requests.send(request(tx)).map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?
    }
}

struct Task {
    config: RedisConfig,
    channels: BTreeSet<String>,
    delivery: Arc<Delivery>,
    health: watch::Sender<bool>,
    requests: mpsc::UnboundedReceiver<Request>,
}

enum Outcome {
    Lost(&'static str),
    Stop,
}

impl Task {
    async fn run(mut self) {
        let (broken_tx, mut broken) = mpsc::unbounded_channel::<u64>();
        let (mut generation, mut failures) = (0u64, 0u32);
        // Whether the consumer may have missed something: after a lost connection, and also at
        // the start when the first attempt failed (they were subscribers in name only).
        let mut gap = false;
        loop {
            generation += 1;
            match self.connect(generation, &broken_tx).await {
                Ok(link) => {
                    if failures > 0 {
                        tracing::info!(redis = %self.config.redacted_urls(), channels = self.channels.len(), "subscriber reconnected");
                    }
                    failures = 0;
                    self.health.send_replace(true);
                    // Every channel is subscribed again: a resync from here on misses nothing.
                    if gap {
                        self.delivery.raise_gap(GapReason::Reconnected);
                    }
                    match self.serve(&link, generation, &mut broken).await {
                        Outcome::Stop => return,
                        Outcome::Lost(reason) => {
                            tracing::warn!(redis = %self.config.redacted_urls(), reason, "subscriber lost its Redis connection; reconnecting");
                        }
                    }
                    self.health.send_replace(false);
                    gap = true;
                }
                Err(e) => {
                    failures += 1;
                    gap = true;
                    if failures == 1 || failures % 20 == 0 {
                        tracing::warn!(redis = %self.config.redacted_urls(), error = %e, failures, "subscriber cannot connect to Redis; retrying");
                    }
                    let wait = tokio::time::sleep(self.config.backoff(failures));
                    tokio::pin!(wait);
                    // Keep answering requests while waiting.
                    loop {
                        tokio::select! {
                            _ = &mut wait => break,
                            request = self.requests.recv() => match request {
                                Some(r) => self.offline(r),
                                None => return,
                            },
                        }
                    }
                }
            }
        }
    }

    /// Dial and subscribe every wanted channel.
    async fn connect(&self, generation: u64, broken: &mpsc::UnboundedSender<u64>) -> Result<Link, Error> {
        let delivery = self.delivery.clone();
        let broken = broken.clone();
        // Runs inside the redis connection driver: never block, never fail (an error would
        // stop the driver from sending pushes).
        let push = move |p: PushInfo| -> Result<(), Infallible> {
            match p.kind {
                PushKind::Message | PushKind::SMessage => {
                    if let Some((channel, payload)) = message(p.data) {
                        delivery.deliver(Some(SubscriberEvent::Message { channel, payload }));
                    }
                }
                // On a cluster too: the cluster connection would resubscribe by itself, but
                // nobody could tell the consumer when that is done. Start afresh instead.
                PushKind::Disconnection => {
                    let _ = broken.send(generation);
                }
                _ => {}
            }
            Ok(())
        };
        let link = self.config.connect(&format!("{}-sub", self.config.client_name), push).await?;
        let channels: Vec<&str> = self.channels.iter().map(String::as_str).collect();
        let limit = self.config.response_timeout * 2;
        match tokio::time::timeout(limit, link.subscribe_all(&channels)).await {
            Ok(Ok(())) => Ok(link),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(Error::Timeout(limit)),
        }
    }

    /// Serve requests on a live link until it breaks or the handle is dropped.
    async fn serve(&mut self, link: &Link, generation: u64, broken: &mut mpsc::UnboundedReceiver<u64>) -> Outcome {
        let config = self.config.clone();
        let watching = watch_link(link, generation, &config, broken);
        tokio::pin!(watching);
        // Overflow gaps are otherwise delivered only with the next message: also try now and then.
        let mut flush = tokio::time::interval(Duration::from_millis(100));
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                reason = &mut watching => return Outcome::Lost(reason),
                _ = flush.tick() => self.delivery.deliver(None),
                request = self.requests.recv() => {
                    let Some(request) = request else { return Outcome::Stop };
                    if let Err(reason) = self.online(link, request).await {
                        return Outcome::Lost(reason);
                    }
                }
            }
        }
    }

    async fn online(&mut self, link: &Link, request: Request) -> Result<(), &'static str> {
        let limit = self.config.response_timeout;
        match request {
            Request::Subscribe(channel, reply) => {
                let result = tokio::time::timeout(limit, link.subscribe(&channel)).await;
                // Kept in `channels` also on failure: the reconnect subscribes it, then
                // reports a gap.
                self.channels.insert(channel);
                answer(reply, result, limit, "SUBSCRIBE failed", "SUBSCRIBE timed out")
            }
            Request::Unsubscribe(channel, reply) => {
                // Forgotten locally also on failure: a fresh connection will not subscribe it.
                self.channels.remove(&channel);
                let result = tokio::time::timeout(limit, link.unsubscribe(&channel)).await;
                answer(reply, result, limit, "UNSUBSCRIBE failed", "UNSUBSCRIBE timed out")
            }
        }
    }

    fn offline(&mut self, request: Request) {
        match request {
            Request::Subscribe(channel, reply) => {
                self.channels.insert(channel);
                let _ = reply.send(Err(Error::NotConnected));
            }
            Request::Unsubscribe(channel, reply) => {
                self.channels.remove(&channel);
                let _ = reply.send(Ok(()));
            }
        }
    }
}

/// Tell the asker how a (un)subscription went; `Err`: the link is broken (why).
fn answer(
    reply: oneshot::Sender<Result<(), Error>>,
    result: Result<redis::RedisResult<()>, tokio::time::error::Elapsed>,
    limit: Duration,
    failed: &'static str,
    timed_out: &'static str,
) -> Result<(), &'static str> {
    let (answer, outcome) = match result {
        Ok(Ok(())) => (Ok(()), Ok(())),
        Ok(Err(e)) => (Err(e.into()), Err(failed)),
        Err(_) => (Err(Error::Timeout(limit)), Err(timed_out)),
    };
    let _ = reply.send(answer);
    outcome
}

/// `[channel, payload]` of a (s)message push.
fn message(data: Vec<Value>) -> Option<(String, Vec<u8>)> {
    let mut it = data.into_iter();
    let channel = match it.next()? {
        Value::BulkString(b) => String::from_utf8(b).ok()?,
        Value::SimpleString(s) => s,
        _ => return None,
    };
    let payload = match it.next()? {
        Value::BulkString(b) => b,
        Value::SimpleString(s) => s.into_bytes(),
        _ => return None,
    };
    Some((channel, payload))
}
