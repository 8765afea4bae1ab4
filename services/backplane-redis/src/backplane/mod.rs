//! [`RedisBackplane`]: router pods sharing realms through Redis.
//!
//! - **The op log** of a realm is a Redis Stream, `{realm:R}:ops`, numbered by `seq` in the
//!   hash `{realm:R}:meta` (fields `seq`, `epoch`, `snapseq`, `snap`). One Lua script
//!   numbers an entry, adds it to the stream and publishes it on `{realm:R}:log`, so every
//!   pod sees the entries in one order. A pod follows the channel and checks the numbers: a
//!   hole is filled from the stream (XRANGE), a lost subscription (reconnect, overflow)
//!   makes it read the realm afresh (snapshot + stream). When Redis comes back empty the
//!   epoch is gone: pods start over and announce their own state again.
//! - **Compaction:** the pod that appended entry `k·N` (N = [`BackplaneConfig::snapshot_every`])
//!   stores its registry as the snapshot at `k·N` once it applied it, and trims the stream to
//!   the entries after `k·N - slack`.
//! - **Pod to pod:** `{realm:R}:to:<pod>`, one channel per pod and realm, subscribed only by
//!   that pod: a pod receives only what is meant for it (events some local session
//!   subscribed to, calls for its callees). A writer task batches everything queued for one
//!   pod into one message and everything queued at all into one pipeline.
//! - **Liveness:** the sorted set `{pods}:live` (member pod, score expiry on Redis's clock),
//!   refreshed every [`BackplaneConfig::heartbeat_interval`].
//!
//! All of a realm shares the hash tag `realm:R`, so on Redis Cluster a realm lives on one
//! shard: its scripts run there and its channels are sharded pub/sub (SSUBSCRIBE).

mod wire;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{BufMut, Bytes, BytesMut};
use junction_backplane::{Backplane, BackplaneError, MessageCounts, PodId, RealmSink};
use parking_lot::Mutex;
use redis::Value;
use tokio::sync::{mpsc, oneshot, watch};

use crate::conn::{AbortOnDropHandle, Error, Naming, RedisConfig, RedisConn, Subscriber, SubscriberEvent};
use wire::{Record, RealmState, Scripts};

/// Tuning of the Redis backplane; the defaults suit production.
#[derive(Debug, Clone)]
pub struct BackplaneConfig {
    /// How often a pod refreshes its heartbeat.
    pub heartbeat_interval: Duration,
    /// A pod whose heartbeat is older than this is dead (its state is reaped).
    pub heartbeat_ttl: Duration,
    /// Store a snapshot every this many log entries.
    pub snapshot_every: u64,
    /// Entries kept in the stream before the newest snapshot (short holes are filled from them).
    pub slack: u64,
    /// Cap on the stream's length, should snapshots stop (no pod alive to write them).
    pub max_log_len: u64,
    /// Messages to other pods waiting to be written, in bytes; beyond it they are dropped.
    pub max_queued_bytes: usize,
    /// Largest batch in one message to one pod.
    pub max_batch_bytes: usize,
    /// Redis messages received but not yet handled; beyond it the pod resynchronises (what
    /// waits is bounded by about `receive_capacity * max_batch_bytes`).
    pub receive_capacity: usize,
    /// How often a realm whose log could not be read is tried again.
    pub retry_interval: Duration,
}

impl Default for BackplaneConfig {
    fn default() -> Self {
        BackplaneConfig {
            heartbeat_interval: Duration::from_secs(1),
            heartbeat_ttl: Duration::from_secs(3),
            snapshot_every: 1000,
            slack: 1000,
            max_log_len: 100_000,
            max_queued_bytes: 64 << 20,
            max_batch_bytes: 64 << 10,
            receive_capacity: 1024,
            retry_interval: Duration::from_secs(1),
        }
    }
}

/// Counters, for tests, benchmarks and logs.
#[derive(Debug, Default)]
pub struct BackplaneStats {
    /// Messages to other pods written to Redis.
    pub frames_sent: AtomicU64,
    /// Redis messages (batches) they travelled in.
    pub batches_sent: AtomicU64,
    /// Messages to other pods dropped (queue full, Redis unavailable).
    pub frames_dropped: AtomicU64,
    /// Messages from other pods delivered.
    pub frames_received: AtomicU64,
    /// Holes in a realm log filled from the stream.
    pub fills: AtomicU64,
    /// Realms read afresh (start, reconnect, overflow, lost log).
    pub resyncs: AtomicU64,
    /// Snapshots stored.
    pub snapshots: AtomicU64,
}

/// The Redis backplane of one pod.
pub struct RedisBackplane {
    pod: PodId,
    conn: RedisConn,
    naming: Naming,
    config: BackplaneConfig,
    cluster: bool,
    scripts: Arc<Scripts>,
    control: mpsc::UnboundedSender<Control>,
    subscriber: Mutex<Option<Arc<Subscriber>>>,
    subscriber_health: watch::Receiver<bool>,
    outbox: mpsc::UnboundedSender<Outgoing>,
    queued: Arc<AtomicUsize>,
    beating: Arc<AtomicBool>,
    halted: AtomicBool,
    stats: Arc<BackplaneStats>,
    tasks: Mutex<Vec<AbortOnDropHandle>>,
}

enum Control {
    Follow { realm: String, sink: Arc<dyn RealmSink>, reply: oneshot::Sender<()> },
    Sync { realm: String, reply: oneshot::Sender<()> },
}

struct Outgoing {
    realm: Arc<str>,
    to: PodId,
    frame: Bytes,
}

impl RedisBackplane {
    /// Connect (in the background: this returns at once, also while Redis is down) and start
    /// the heartbeat. Needs a Tokio runtime.
    pub fn start(redis: &RedisConfig, config: BackplaneConfig) -> Result<Arc<RedisBackplane>, Error> {
        let pod = loop {
            let p = rand::random::<u64>() >> 11; // 53 bits: exact in JSON numbers
            if p != 0 {
                break p;
            }
        };
        let redis = redis.clone().with_client_name(format!("{}-pod-{pod}", redis.client_name));
        let conn = RedisConn::start(redis.clone())?;
        let (subscriber, events) = Subscriber::start(&redis, Vec::<String>::new(), config.receive_capacity)?;
        let (control, control_rx) = mpsc::unbounded_channel();
        let (outbox, outbox_rx) = mpsc::unbounded_channel();
        let scripts = Arc::new(Scripts::new());
        let stats = Arc::new(BackplaneStats::default());
        let queued = Arc::new(AtomicUsize::new(0));
        let beating = Arc::new(AtomicBool::new(false));
        let naming = redis.naming();

        let follower = Follower {
            pod,
            conn: conn.clone(),
            naming: naming.clone(),
            config: config.clone(),
            scripts: scripts.clone(),
            stats: stats.clone(),
            realms: HashMap::new(),
            channels: HashMap::new(),
        };
        let writer = Writer {
            pod,
            conn: conn.clone(),
            naming: naming.clone(),
            cluster: redis.cluster,
            max_batch_bytes: config.max_batch_bytes,
            queued: queued.clone(),
            stats: stats.clone(),
            names: HashMap::new(),
        };
        let tasks = vec![
            AbortOnDropHandle::new(tokio::spawn(follower.run(events, control_rx))),
            AbortOnDropHandle::new(tokio::spawn(writer.run(outbox_rx))),
            AbortOnDropHandle::new(tokio::spawn(heartbeat(pod, conn.clone(), scripts.clone(), config.clone(), beating.clone()))),
        ];
        tracing::info!(pod, redis = %redis.redacted_urls(), prefix = naming.prefix(), "Redis backplane started");
        Ok(Arc::new(RedisBackplane {
            pod,
            subscriber_health: subscriber.health(),
            subscriber: Mutex::new(Some(Arc::new(subscriber))),
            conn,
            naming,
            config,
            cluster: redis.cluster,
            scripts,
            control,
            outbox,
            queued,
            beating,
            halted: AtomicBool::new(false),
            stats,
            tasks: Mutex::new(tasks),
        }))
    }

    pub fn stats(&self) -> &BackplaneStats {
        &self.stats
    }

    /// Bytes of messages to other pods waiting for the writer (bounded by
    /// `max_queued_bytes`), for metrics.
    pub fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Wait until [`Backplane::ready`], at most `within`; whether it is.
    pub async fn wait_ready(&self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        let mut health = self.subscriber_health.clone();
        let mut conn = self.conn.health();
        loop {
            if self.ready() {
                return true;
            }
            let wait = tokio::time::sleep(self.config.heartbeat_interval / 4);
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return self.ready(),
                _ = health.changed() => {}
                _ = conn.changed() => {}
                _ = wait => {} // the heartbeat has no watch: look again shortly
            }
        }
    }

    /// Stop as if the process died: no heartbeat, nothing sent or received any more. For
    /// tests of pod loss.
    pub fn halt(&self) {
        self.halted.store(true, Ordering::SeqCst);
        self.beating.store(false, Ordering::SeqCst);
        self.tasks.lock().clear();
        self.subscriber.lock().take();
    }

    fn realm_keys(&self, realm: &str) -> RealmKeys {
        RealmKeys::new(&self.naming, realm)
    }

    fn check_running(&self) -> Result<(), BackplaneError> {
        if self.halted.load(Ordering::Relaxed) {
            return Err(BackplaneError::Unavailable("the backplane was halted".into()));
        }
        Ok(())
    }
}

fn unavailable(e: Error) -> BackplaneError {
    BackplaneError::Unavailable(e.to_string())
}

/// The names of one realm's keys and channels.
struct RealmKeys {
    meta: String,
    stream: String,
    log: String,
}

impl RealmKeys {
    fn new(naming: &Naming, realm: &str) -> RealmKeys {
        RealmKeys { meta: naming.realm_key(realm, "meta"), stream: naming.realm_key(realm, "ops"), log: naming.realm_key(realm, "log") }
    }
}

fn inbox_channel(naming: &Naming, realm: &str, pod: PodId) -> String {
    naming.realm_key(realm, &format!("to:{pod}"))
}

fn pods_keys(naming: &Naming) -> [String; 2] {
    [naming.key("pods", "live"), naming.key("pods", "since")]
}

#[async_trait]
impl Backplane for RedisBackplane {
    fn pod(&self) -> PodId {
        self.pod
    }

    async fn open(&self, realm: &str, sink: Arc<dyn RealmSink>) -> Result<(), BackplaneError> {
        self.check_running()?;
        let (reply, done) = oneshot::channel();
        self.control.send(Control::Follow { realm: realm.to_owned(), sink, reply }).map_err(|_| BackplaneError::Unavailable("stopped".into()))?;
        let _ = done.await;
        // Subscribe before reading the log, so that nothing appended in between is missed.
        // While Redis is away the subscriber keeps the channels and subscribes them (then
        // reports a gap, which resynchronises) once it is back.
        let subscriber = self.subscriber.lock().clone();
        if let Some(s) = subscriber {
            let log = s.subscribe(self.realm_keys(realm).log).await;
            let inbox = s.subscribe(inbox_channel(&self.naming, realm, self.pod)).await;
            for result in [log, inbox] {
                if let Err(e) = result {
                    tracing::debug!(realm, error = %e, "realm channels not subscribed yet; they will be on reconnect");
                }
            }
        }
        let (reply, done) = oneshot::channel();
        self.control.send(Control::Sync { realm: realm.to_owned(), reply }).map_err(|_| BackplaneError::Unavailable("stopped".into()))?;
        let _ = done.await;
        Ok(())
    }

    async fn append(&self, realm: &str, entry: Bytes) -> Result<(), BackplaneError> {
        self.check_running()?;
        let keys = self.realm_keys(realm);
        let epoch = format!("{:016x}", rand::random::<u64>());
        let pod = self.pod.to_string();
        let cap = self.config.max_log_len.to_string();
        let verb: &[u8] = if self.cluster { b"SPUBLISH" } else { b"PUBLISH" };
        let args: [&[u8]; 5] = [pod.as_bytes(), epoch.as_bytes(), &entry, cap.as_bytes(), verb];
        self.conn.run_script::<u64, _>(&self.scripts.append, &[keys.meta, keys.stream, keys.log], &args).await.map(|_| ()).map_err(unavailable)
    }

    fn send(&self, realm: &str, to: PodId, frame: Bytes) {
        if self.halted.load(Ordering::Relaxed) {
            return;
        }
        let len = frame.len();
        if self.queued.fetch_add(len, Ordering::Relaxed) + len > self.config.max_queued_bytes {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            let dropped = self.stats.frames_dropped.fetch_add(1, Ordering::Relaxed);
            if dropped.is_power_of_two() {
                tracing::warn!(realm, to, dropped = dropped + 1, "backplane send queue full: messages to other pods dropped");
            }
            return;
        }
        if self.outbox.send(Outgoing { realm: Arc::from(realm), to, frame }).is_err() {
            self.queued.fetch_sub(len, Ordering::Relaxed);
        }
    }

    async fn live_pods(&self) -> Result<Vec<PodId>, BackplaneError> {
        self.check_running()?;
        let (age, members): (i64, Vec<String>) =
            self.conn.run_script(&self.scripts.live, &pods_keys(&self.naming), &[] as &[&str]).await.map_err(unavailable)?;
        // A live set younger than a heartbeat period may not hold every live pod yet (Redis
        // came back empty): nobody is declared dead from it.
        if age < 0 || (age as u128) < self.config.heartbeat_ttl.as_millis() {
            return Err(BackplaneError::Unavailable("pod heartbeats are being collected again".into()));
        }
        let mut pods: Vec<PodId> = members.iter().filter_map(|m| m.parse().ok()).collect();
        if !pods.contains(&self.pod) {
            pods.push(self.pod); // alive by definition, whatever Redis last heard
        }
        Ok(pods)
    }

    fn ready(&self) -> bool {
        !self.halted.load(Ordering::Relaxed)
            && self.conn.is_connected()
            && *self.subscriber_health.borrow()
            && self.beating.load(Ordering::Relaxed)
    }

    async fn add_counters(&self, realm: &str, counts: MessageCounts) -> Result<(), BackplaneError> {
        self.check_running()?;
        let key = counters_key(&self.naming, realm);
        let mut pipe = redis::pipe();
        pipe.cmd("HINCRBY").arg(&key).arg("in").arg(counts.messages_in).ignore();
        pipe.cmd("HINCRBY").arg(&key).arg("out").arg(counts.messages_out).ignore();
        self.conn.pipeline::<()>(&pipe).await.map_err(unavailable)
    }

    async fn counters(&self, realm: &str) -> Result<MessageCounts, BackplaneError> {
        self.check_running()?;
        let cmd = redis::cmd("HMGET").arg(counters_key(&self.naming, realm)).arg("in").arg("out").clone();
        let (messages_in, messages_out): (Option<u64>, Option<u64>) = self.conn.query(&cmd).await.map_err(unavailable)?;
        Ok(MessageCounts { messages_in: messages_in.unwrap_or(0), messages_out: messages_out.unwrap_or(0) })
    }
}

/// The realm's message totals, a hash of `in` and `out` that every pod adds to.
fn counters_key(naming: &Naming, realm: &str) -> String {
    naming.realm_key(realm, "counters")
}

async fn heartbeat(pod: PodId, conn: RedisConn, scripts: Arc<Scripts>, config: BackplaneConfig, beating: Arc<AtomicBool>) {
    let keys = pods_keys(conn.naming());
    let args = [pod.to_string(), config.heartbeat_ttl.as_millis().to_string()];
    let mut ticker = tokio::time::interval(config.heartbeat_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failures = 0u32;
    let mut health = conn.health();
    loop {
        ticker.tick().await;
        if !conn.is_connected() {
            beating.store(false, Ordering::Relaxed);
            // Beat as soon as the connection is (back) up, not an interval later: readiness
            // waits for it.
            if health.wait_for(|up| *up).await.is_err() {
                return;
            }
        }
        match conn.run_script::<i64, _>(&scripts.heartbeat, &keys, &args).await {
            Ok(_) => {
                failures = 0;
                beating.store(true, Ordering::Relaxed);
            }
            Err(e) => {
                failures += 1;
                beating.store(false, Ordering::Relaxed);
                if failures == 1 || failures.is_multiple_of(30) {
                    tracing::warn!(pod, error = %e, failures, "heartbeat not written");
                }
            }
        }
    }
}

/// Follows the realms' logs and inboxes: one task per pod, so a realm's entries and the
/// messages for this pod reach the sinks in the order Redis saw them.
struct Follower {
    pod: PodId,
    conn: RedisConn,
    naming: Naming,
    config: BackplaneConfig,
    scripts: Arc<Scripts>,
    stats: Arc<BackplaneStats>,
    realms: HashMap<String, Follow>,
    /// Channel name -> (realm, is the log channel).
    channels: HashMap<String, (String, bool)>,
}

struct Follow {
    sink: Arc<dyn RealmSink>,
    /// The log's epoch as last read (empty: no log yet).
    epoch: Bytes,
    /// The last entry applied.
    last: u64,
    /// In step with the log; `false`: a read failed, retried every `retry_interval`.
    synced: bool,
}

impl Follower {
    async fn run(mut self, mut events: mpsc::Receiver<SubscriberEvent>, mut control: mpsc::UnboundedReceiver<Control>) {
        let mut retry = tokio::time::interval(self.config.retry_interval);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                c = control.recv() => match c {
                    Some(c) => self.control(c).await,
                    None => return,
                },
                e = events.recv() => match e {
                    Some(e) => self.event(e).await,
                    None => return,
                },
                _ = retry.tick() => {
                    let stale: Vec<String> = self.realms.iter().filter(|(_, f)| !f.synced).map(|(r, _)| r.clone()).collect();
                    for realm in stale {
                        self.resync(&realm).await;
                    }
                }
            }
        }
    }

    async fn control(&mut self, c: Control) {
        match c {
            Control::Follow { realm, sink, reply } => {
                let keys = RealmKeys::new(&self.naming, &realm);
                self.channels.insert(keys.log, (realm.clone(), true));
                self.channels.insert(inbox_channel(&self.naming, &realm, self.pod), (realm.clone(), false));
                self.realms.insert(realm, Follow { sink, epoch: Bytes::new(), last: 0, synced: false });
                let _ = reply.send(());
            }
            Control::Sync { realm, reply } => {
                self.resync(&realm).await;
                let _ = reply.send(());
            }
        }
    }

    async fn event(&mut self, e: SubscriberEvent) {
        match e {
            SubscriberEvent::Message { channel, payload } => {
                let Some((realm, is_log)) = self.channels.get(&channel).cloned() else { return };
                let payload = Bytes::from(payload);
                if is_log {
                    match Record::parse(payload) {
                        Some(record) => self.record(&realm, record).await,
                        None => tracing::error!(realm, "unreadable realm log record ignored"),
                    }
                } else {
                    self.inbox(&realm, payload);
                }
            }
            SubscriberEvent::Gap(reason) => {
                tracing::info!(?reason, realms = self.realms.len(), "backplane messages may have been missed: reading every realm afresh");
                let realms: Vec<String> = self.realms.keys().cloned().collect();
                for realm in &realms {
                    if let Some(f) = self.realms.get_mut(realm) {
                        f.synced = false;
                    }
                }
                for realm in realms {
                    self.resync(&realm).await;
                }
            }
        }
    }

    fn inbox(&self, realm: &str, payload: Bytes) {
        let Some(f) = self.realms.get(realm) else { return };
        let Some((from, frames)) = wire::parse_inbox(payload) else {
            tracing::error!(realm, "unreadable message from another pod ignored");
            return;
        };
        self.stats.frames_received.fetch_add(frames.len() as u64, Ordering::Relaxed);
        for frame in frames {
            f.sink.deliver(from, frame);
        }
    }

    async fn record(&mut self, realm: &str, record: Record) {
        let Some(f) = self.realms.get_mut(realm) else { return };
        if !f.synced {
            return; // the coming resync reads it
        }
        if f.epoch != record.epoch {
            if f.epoch.is_empty() && f.last == 0 && record.seq == 1 {
                f.epoch = record.epoch.clone(); // the realm's first entry ever
            } else {
                // A new epoch: the log was lost and started again.
                self.resync(realm).await;
                return;
            }
        }
        if record.seq <= f.last {
            return; // already read while resynchronising
        }
        if record.seq > f.last + 1 {
            let (from, to) = (f.last + 1, record.seq - 1);
            match self.fill(realm, from, to).await {
                Some(missing) if missing.len() as u64 == to - from + 1 && missing.iter().all(|r| r.epoch == record.epoch) => {
                    self.stats.fills.fetch_add(1, Ordering::Relaxed);
                    for r in missing {
                        self.apply(realm, r);
                    }
                }
                _ => {
                    self.resync(realm).await;
                    return;
                }
            }
        }
        self.apply(realm, record);
    }

    /// Records `from..=to` from the stream.
    async fn fill(&self, realm: &str, from: u64, to: u64) -> Option<Vec<Record>> {
        let keys = RealmKeys::new(&self.naming, realm);
        let mut cmd = redis::cmd("XRANGE");
        cmd.arg(&keys.stream).arg(from).arg(to);
        let value: Value = self.conn.query(&cmd).await.ok()?;
        let records = wire::parse_records(value).ok()?;
        records.iter().enumerate().all(|(i, r)| r.seq == from + i as u64).then_some(records)
    }

    fn apply(&mut self, realm: &str, record: Record) {
        let Some(f) = self.realms.get_mut(realm) else { return };
        f.sink.entries(vec![record.entry]);
        f.last = record.seq;
        if record.pod == self.pod && record.seq.is_multiple_of(self.config.snapshot_every) {
            // Taken now, between this entry and the next: exactly the registry at `seq`.
            let snapshot = wire::join_frames(&f.sink.snapshot());
            let (conn, scripts, stats) = (self.conn.clone(), self.scripts.clone(), self.stats.clone());
            let keys = RealmKeys::new(&self.naming, realm);
            let args: [Bytes; 4] = [record.epoch.clone(), Bytes::from(record.seq.to_string()), snapshot, Bytes::from(self.config.slack.to_string())];
            let realm = realm.to_owned();
            tokio::spawn(async move {
                let args: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
                match conn.run_script::<i64, _>(&scripts.snapshot, &[keys.meta, keys.stream], &args).await {
                    Ok(1) => {
                        stats.snapshots.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(e) => tracing::debug!(realm, error = %e, "snapshot not stored; the next one will be"),
                }
            });
        }
    }

    /// Read the realm afresh (snapshot and the log after it) and reset its sink.
    async fn resync(&mut self, realm: &str) {
        let keys = RealmKeys::new(&self.naming, realm);
        let read = self.conn.run_script::<Value, _>(&self.scripts.read, &[keys.meta.clone(), keys.stream.clone()], &[] as &[&str]).await;
        let state = match read.map_err(|e| e.to_string()).and_then(RealmState::parse) {
            Ok(state) => state,
            Err(e) => {
                if let Some(f) = self.realms.get_mut(realm) {
                    if f.synced {
                        tracing::warn!(realm, error = %e, "cannot read the realm's log; retrying");
                    }
                    f.synced = false;
                }
                return;
            }
        };
        let Some(f) = self.realms.get_mut(realm) else { return };
        let lost = !f.epoch.is_empty() && f.epoch != state.epoch;
        let mut entries = state.snapshot;
        let mut last = state.snapshot_seq;
        for record in state.records {
            if record.seq != last + 1 {
                // Entries trimmed before any snapshot covered them (`max_log_len`): the log
                // cannot rebuild the registry. Start a new epoch; every pod re-announces.
                tracing::error!(realm, expected = last + 1, found = record.seq, "the realm's log has a hole: starting it afresh");
                let mut del = redis::cmd("DEL");
                del.arg(&keys.meta).arg(&keys.stream);
                let _ = self.conn.query::<i64>(&del).await;
                f.sink.reset(Vec::new(), true);
                f.epoch = Bytes::new();
                f.last = 0;
                f.synced = true;
                return;
            }
            entries.push(record.entry);
            last = record.seq;
        }
        self.stats.resyncs.fetch_add(1, Ordering::Relaxed);
        f.sink.reset(entries, lost);
        f.epoch = state.epoch;
        f.last = last;
        f.synced = true;
    }
}

/// Writes messages for other pods: whatever queued up while the previous write was in
/// flight goes in the next, one Redis message per destination pod and realm.
struct Writer {
    pod: PodId,
    conn: RedisConn,
    naming: Naming,
    cluster: bool,
    max_batch_bytes: usize,
    queued: Arc<AtomicUsize>,
    stats: Arc<BackplaneStats>,
    /// Channel names by (realm, pod), so they are not formatted per message.
    names: HashMap<(Arc<str>, PodId), Arc<str>>,
}

/// At most this much is taken from the queue for one write.
const MAX_WRITE_BYTES: usize = 4 << 20;
const MAX_WRITE_FRAMES: usize = 16_384;

impl Writer {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
        let verb = if self.cluster { "SPUBLISH" } else { "PUBLISH" };
        while let Some(first) = rx.recv().await {
            let mut taken = first.frame.len();
            let mut batch = vec![first];
            while taken < MAX_WRITE_BYTES && batch.len() < MAX_WRITE_FRAMES {
                match rx.try_recv() {
                    Ok(m) => {
                        taken += m.frame.len();
                        batch.push(m);
                    }
                    Err(_) => break,
                }
            }
            self.queued.fetch_sub(taken, Ordering::Relaxed);
            let frames = batch.len() as u64;

            // Destinations in first-seen order; per destination, frames in queue order.
            let mut order: Vec<(Arc<str>, Arc<str>, Vec<Bytes>)> = Vec::new();
            let mut index: HashMap<(Arc<str>, PodId), usize> = HashMap::new();
            for m in batch {
                let key = (m.realm.clone(), m.to);
                let i = *index.entry(key.clone()).or_insert_with(|| {
                    let channel = self.channel(&m.realm, m.to);
                    order.push((m.realm.clone(), channel, Vec::new()));
                    order.len() - 1
                });
                order[i].2.push(m.frame);
            }

            // One pipeline on a single Redis; one per realm (one shard each) on a cluster.
            let mut pipes: Vec<(Arc<str>, redis::Pipeline, u64)> = Vec::new();
            for (realm, channel, frames) in order {
                let p = match pipes.iter().position(|(r, _, _)| !self.cluster || *r == realm) {
                    Some(p) => p,
                    None => {
                        pipes.push((realm.clone(), redis::pipe(), 0));
                        pipes.len() - 1
                    }
                };
                for payload in self.payloads(&frames) {
                    pipes[p].1.cmd(verb).arg(&*channel).arg(&payload[..]).ignore();
                    pipes[p].2 += 1;
                }
            }
            let writes = pipes.iter().map(|(_, pipe, _)| self.conn.pipeline::<()>(pipe));
            let results = futures_util::future::join_all(writes).await;
            let mut sent_batches = 0;
            let mut failed = None;
            for (result, (_, _, n)) in results.into_iter().zip(&pipes) {
                match result {
                    Ok(()) => sent_batches += n,
                    Err(e) => failed = Some(e),
                }
            }
            match failed {
                None => {
                    self.stats.frames_sent.fetch_add(frames, Ordering::Relaxed);
                    self.stats.batches_sent.fetch_add(sent_batches, Ordering::Relaxed);
                }
                Some(e) => {
                    let before = self.stats.frames_dropped.fetch_add(frames, Ordering::Relaxed);
                    if before == 0 || (before + frames).ilog2() != before.ilog2() {
                        tracing::warn!(error = %e, dropped = before + frames, "messages to other pods not written");
                    }
                }
            }
        }
    }

    fn channel(&mut self, realm: &Arc<str>, to: PodId) -> Arc<str> {
        if self.names.len() > 65_536 {
            self.names.clear();
        }
        self.names.entry((realm.clone(), to)).or_insert_with(|| Arc::from(inbox_channel(&self.naming, realm, to))).clone()
    }

    /// Frames for one pod, as few messages as `max_batch_bytes` allows.
    fn payloads(&self, frames: &[Bytes]) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut buf = BytesMut::new();
        for f in frames {
            if buf.len() > 8 && buf.len() + 4 + f.len() > self.max_batch_bytes {
                out.push(buf.split().freeze());
            }
            if buf.is_empty() {
                buf.put_u64(self.pod);
            }
            wire::put_frame(&mut buf, f);
        }
        if !buf.is_empty() {
            out.push(buf.freeze());
        }
        out
    }
}
