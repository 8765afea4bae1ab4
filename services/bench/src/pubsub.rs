//! `pubsub`: one publisher, N subscribers on one topic.
//!
//! Each EVENT carries `[seq, ts_ns, "xxx…"]`: the subscriber measures
//! publish-to-deliver latency from `ts_ns` and counts gaps in `seq` as lost events.
//! At `--rate 0` the publisher runs closed-loop: it keeps at most `--window`
//! publications ahead of the slowest subscriber, so the figure is the router's peak
//! delivery rate, not how much it can queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use junction_protocol::codec::{self, Serializer};
use junction_protocol::{Dict, Message, Payload, Value};
use serde_json::{Value as Json, json};
use tokio::sync::{Notify, watch};

use crate::client::{Conn, ConnError, ConnectOptions};
use crate::load::{CpuSample, Ticker, connect_many, cpu_report, now_ns, pacing_tick, progress, wait_until};
use crate::stats::{Latency, round};
use crate::wire;

/// What one run needs (the CLI arguments, resolved).
#[derive(Debug, Clone)]
pub struct PubSubConfig {
    pub connect: ConnectOptions,
    /// Other pods: the subscribers connect there (round-robin); empty: to `connect`.
    pub peers: Vec<ConnectOptions>,
    pub serializers: Vec<Serializer>,
    pub subscribers: usize,
    pub payload: usize,
    pub topic: String,
    /// Publications per second; 0 = as fast as the subscribers keep up.
    pub rate: u64,
    pub window: u64,
    pub warmup: Duration,
    pub duration: Duration,
    pub tick: Duration,
    /// Spin instead of sleeping between messages (see [`crate::load::BusyPoll`]).
    pub busy_poll: bool,
    pub router_pid: Option<u32>,
    pub quiet: bool,
}

/// Per-subscriber counters the publisher and the controller read while the run goes on.
/// Aligned so that subscribers on different threads do not share cache lines.
#[repr(align(64))]
#[derive(Default)]
struct SubProgress {
    /// Next sequence number expected (every seq below it was seen or counted lost).
    upto: AtomicU64,
    delivered: AtomicU64,
}

struct Shared {
    subs: Vec<SubProgress>,
    measuring: AtomicBool,
    stop_publishing: AtomicBool,
    /// Publications sent so far.
    published: AtomicU64,
    /// Closed-loop mode: the publisher sleeps on `room` until the subscribers' progress
    /// reaches `wake_at` (u64::MAX when it is not waiting).
    wake_at: AtomicU64,
    room: Notify,
}

impl Shared {
    fn min_upto(&self) -> u64 {
        self.subs.iter().map(|s| s.upto.load(Ordering::Relaxed)).min().unwrap_or(0)
    }
    fn delivered(&self) -> u64 {
        self.subs.iter().map(|s| s.delivered.load(Ordering::Relaxed)).sum()
    }
}

#[derive(Default)]
struct SubResult {
    latency: Latency,
    unique: u64,
    duplicates: u64,
    other_messages: u64,
    first_error: Option<String>,
    disconnected: Option<String>,
}

#[derive(Default)]
struct PubResult {
    published: u64,
    /// Ticks on which the window (slow subscribers) held the publisher below its rate.
    window_stalls: u64,
    errors: u64,
    first_error: Option<String>,
}

pub async fn run(cfg: &PubSubConfig) -> Result<Json> {
    if cfg.subscribers == 0 {
        bail!("--subscribers must be at least 1");
    }
    let targets = if cfg.peers.is_empty() { std::slice::from_ref(&cfg.connect) } else { &cfg.peers[..] };
    let mut subs = Vec::with_capacity(cfg.subscribers);
    for (i, target) in targets.iter().enumerate() {
        let n = cfg.subscribers / targets.len() + usize::from(i < cfg.subscribers % targets.len());
        progress(cfg.quiet, format!("pubsub: connecting {n} subscribers to {}", target.url));
        subs.extend(connect_many(target, &cfg.serializers, n, 64).await?);
    }
    let mut sub_ids = Vec::with_capacity(subs.len());
    for c in &mut subs {
        sub_ids.push(c.subscribe(&cfg.topic, Dict::new()).await?);
    }
    let mut publisher = Conn::connect(&cfg.connect, cfg.serializers[0]).await?;
    if !cfg.peers.is_empty() {
        // Subscriptions reach the publisher's pod through the backplane: start once it sees all.
        let want = subs.len() as u64;
        publisher
            .call_until("wamp.subscription.count_subscribers", vec![sub_ids[0].into()], Duration::from_secs(10), |v| v.as_u64() == Some(want))
            .await?;
    }

    let shared = Arc::new(Shared {
        subs: (0..subs.len()).map(|_| SubProgress::default()).collect(),
        measuring: AtomicBool::new(false),
        stop_publishing: AtomicBool::new(false),
        published: AtomicU64::new(0),
        wake_at: AtomicU64::new(u64::MAX),
        room: Notify::new(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::with_capacity(subs.len());
    for (i, conn) in subs.into_iter().enumerate() {
        tasks.push(tokio::spawn(subscriber(conn, i, shared.clone(), stop_rx.clone())));
    }

    // Paced publishing wakes on the ticker; closed-loop publishing on subscriber progress.
    let (ticker, tick_rx) = if cfg.rate > 0 {
        let (t, rx) = Ticker::start(pacing_tick(cfg.tick, cfg.rate), cfg.busy_poll);
        (Some(t), Some(rx))
    } else {
        (None, None)
    };
    let pad = "x".repeat(cfg.payload.saturating_sub(16));
    let pub_task = {
        let shared = shared.clone();
        let (topic, rate, window) = (cfg.topic.clone(), cfg.rate, cfg.window.max(1));
        tokio::spawn(async move { publish(&mut publisher, &shared, &topic, &pad, rate, window, tick_rx).await })
    };

    progress(cfg.quiet, format!("pubsub: warming up {:?} (rate {})", cfg.warmup, rate_name(cfg.rate)));
    tokio::time::sleep(cfg.warmup).await;
    let d0 = shared.delivered();
    let p0 = shared.published.load(Ordering::Relaxed);
    let c0 = CpuSample::take(cfg.router_pid)?;
    shared.measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(cfg.duration).await;
    shared.measuring.store(false, Ordering::Relaxed);
    let d1 = shared.delivered();
    let p1 = shared.published.load(Ordering::Relaxed);
    let c1 = CpuSample::take(cfg.router_pid)?;

    shared.stop_publishing.store(true, Ordering::Relaxed);
    let pub_result = pub_task.await.context("publisher task")?;
    drop(ticker);
    let published = pub_result.as_ref().map(|p| p.published).unwrap_or(0);
    // Let the subscribers catch up with the last publications, then stop them.
    let caught_up = wait_until(Instant::now() + Duration::from_secs(5), || shared.min_upto() >= published).await;
    let _ = stop_tx.send(true);
    let mut latency = Latency::new();
    let (mut unique, mut duplicates, mut other) = (0u64, 0u64, 0u64);
    let mut errors: Vec<String> = vec![];
    let mut disconnected = 0usize;
    for t in tasks {
        let r = t.await.context("subscriber task")?;
        latency.merge(&r.latency);
        unique += r.unique;
        duplicates += r.duplicates;
        other += r.other_messages;
        errors.extend(r.first_error);
        if let Some(d) = r.disconnected {
            disconnected += 1;
            errors.push(d);
        }
    }
    let pub_result = pub_result?;
    errors.extend(pub_result.first_error.clone());

    let wall = c1.elapsed_since(&c0).as_secs_f64();
    let deliveries = d1 - d0;
    let expected_deliveries = published * shared.subs.len() as u64;
    let lost = expected_deliveries.saturating_sub(unique);
    let cpu = cpu_report(&c0, &c1, deliveries, "delivery");
    errors.truncate(5);
    Ok(json!({
        "scenario": "pubsub",
        "config": {
            "url": cfg.connect.url,
            "peer_urls": cfg.peers.iter().map(|p| p.url.clone()).collect::<Vec<_>>(),
            "realm": cfg.connect.realm,
            "serializers": cfg.serializers.iter().map(|s| s.name()).collect::<Vec<_>>(),
            "subscribers": cfg.subscribers,
            "payload_bytes": cfg.payload,
            "rate": rate_name(cfg.rate),
            "window": cfg.window,
            "warmup_s": cfg.warmup.as_secs_f64(),
            "duration_s": cfg.duration.as_secs_f64(),
            "busy_poll": cfg.busy_poll,
        },
        "publications": published,
        "publications_per_s": round((p1 - p0) as f64 / wall, 1),
        "deliveries": deliveries,
        "deliveries_per_s": round(deliveries as f64 / wall, 1),
        "latency_us": latency.summary_us(),
        "lost": lost,
        "duplicates": duplicates,
        "caught_up": caught_up,
        "publisher_window_stalls": pub_result.window_stalls,
        "publish_errors": pub_result.errors,
        "unexpected_messages": other,
        "disconnected_subscribers": disconnected,
        "errors": errors,
        "cpu": cpu,
    }))
}

fn rate_name(rate: u64) -> Json {
    if rate == 0 { json!("max") } else { json!(rate) }
}

async fn subscriber(mut conn: Conn, idx: usize, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) -> SubResult {
    let fmt = conn.fmt;
    let ser = conn.ser;
    let mut r = SubResult::default();
    let mut expected = 0u64;
    let mut delivered = 0u64;
    let mine = &shared.subs[idx];
    loop {
        let batch = tokio::select! {
            biased;
            _ = stop.changed() => break,
            b = conn.recv_batch(|m, _| {
                if let Some(ev) = wire::parse_event(m, fmt) {
                    if shared.measuring.load(Ordering::Relaxed) {
                        r.latency.record(now_ns().saturating_sub(ev.ts));
                    }
                    delivered += 1;
                    if ev.seq >= expected {
                        r.unique += 1;
                        expected = ev.seq + 1;
                    } else {
                        r.duplicates += 1;
                    }
                } else {
                    r.other_messages += 1;
                    if r.first_error.is_none() {
                        r.first_error = Some(describe(m, ser));
                    }
                }
            }) => b,
        };
        mine.upto.store(expected, Ordering::Relaxed);
        mine.delivered.store(delivered, Ordering::Relaxed);
        if expected >= shared.wake_at.load(Ordering::Relaxed) {
            shared.room.notify_one();
        }
        if let Err(e) = batch {
            r.disconnected = Some(format!("subscriber {idx}: {e}"));
            return r;
        }
    }
    conn.close().await;
    r
}

/// A short description of a message the hot path did not expect.
fn describe(m: &[u8], ser: Serializer) -> String {
    match codec::decode(m, ser) {
        Ok(Message::Error { error, .. }) => format!("ERROR {error}"),
        Ok(Message::Goodbye { reason, .. }) => format!("GOODBYE {reason}"),
        Ok(Message::Abort { reason, .. }) => format!("ABORT {reason}"),
        Ok(other) => format!("unexpected {:?}", other.message_type()),
        Err(e) => format!("undecodable message: {e}"),
    }
}

async fn publish(
    conn: &mut Conn,
    shared: &Shared,
    topic: &str,
    pad: &str,
    rate: u64,
    window: u64,
    mut tick: Option<watch::Receiver<()>>,
) -> Result<PubResult> {
    let mut r = PubResult::default();
    let start = Instant::now();
    let ser = conn.ser;
    let mut seq = 0u64;
    while !shared.stop_publishing.load(Ordering::Relaxed) {
        let allowed = (shared.min_upto() + window).saturating_sub(seq);
        let due = if let Some(tick) = tick.as_mut() {
            if tick.changed().await.is_err() {
                break;
            }
            let allowed = (shared.min_upto() + window).saturating_sub(seq);
            let target = (start.elapsed().as_secs_f64() * rate as f64) as u64;
            let due = target.saturating_sub(seq);
            if due > allowed {
                r.window_stalls += 1;
            }
            due.min(allowed)
        } else {
            let half = (window / 2).max(1);
            if allowed < half {
                // Sleep until the slowest subscriber leaves room for half a window.
                let threshold = (seq + half).saturating_sub(window);
                shared.wake_at.store(threshold, Ordering::Relaxed);
                if shared.min_upto() < threshold {
                    let _ = tokio::time::timeout(Duration::from_millis(10), shared.room.notified()).await;
                }
                shared.wake_at.store(u64::MAX, Ordering::Relaxed);
                continue;
            }
            allowed
        };
        for _ in 0..due {
            let request = conn.request_id();
            let msg = Message::Publish {
                request,
                options: Dict::new(),
                topic: topic.to_string(),
                payload: Payload {
                    args: Some(vec![Value::from(seq), Value::from(now_ns()), Value::from(pad)]),
                    kwargs: None,
                },
            };
            conn.w.message(&msg);
            seq += 1;
        }
        r.published = seq;
        shared.published.store(seq, Ordering::Relaxed);
        conn.flush().await.map_err(|e| anyhow::anyhow!("publisher: {e}"))?;
        // Nothing is expected back (no acknowledge), but an ERROR or a ping may come.
        match conn.try_recv_batch(|m, _| {
            r.errors += 1;
            if r.first_error.is_none() {
                r.first_error = Some(format!("publisher got {}", describe(m, ser)));
            }
        }) {
            Ok(_) => {}
            Err(ConnError::Eof | ConnError::Closed(..)) => anyhow::bail!("publisher: router closed the connection"),
            Err(e) => anyhow::bail!("publisher: {e}"),
        }
    }
    r.published = seq;
    Ok(r)
}
