//! How router pods share realms.
//!
//! A realm served by many pods behaves as one router because every pod holds a replica of
//! the realm's [`Registry`] (sessions, subscriptions, registrations, retained events,
//! testaments) and keeps it current by applying the realm's **op log** in order. A pod
//! changes the registry only by appending an [`Op`]; its own replica applies it like
//! everyone else's, and [`Replica::submit`] returns the [`Outcome`] (a taken session id, a
//! conflicting registration) that every replica computed alike. Events and calls go
//! straight from pod to pod ([`Backplane::send`]), only to the pods the registry says are
//! interested.
//!
//! A [`Backplane`] provides three things: an ordered, gap-free op log per realm (with a
//! snapshot for late joiners), pod-to-pod messages per realm, and pod liveness.
//! Implementations: [`InProcessHub`] (one process: the embedded default, and many pods in
//! one test process) and the Redis backplane (`junction-backplane-redis`).
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use junction_protocol::Id;
use tokio::sync::oneshot;

mod inprocess;
pub mod registry;

pub use inprocess::{InProcessBackplane, InProcessHub};
pub use registry::{Departure, Details, InvokePolicy, Op, Outcome, Registration, Registry, SessionInfo, Subscription};

/// A router pod, as the backplane knows it: random per process start.
pub type PodId = u64;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BackplaneError {
    #[error("backplane unavailable: {0}")]
    Unavailable(String),
    #[error("backplane protocol error: {0}")]
    Protocol(String),
}

/// What a backplane delivers, per realm, to the pod that opened it.
pub trait RealmSink: Send + Sync + 'static {
    /// Log entries in log order, each exactly once, without gaps.
    fn entries(&self, entries: Vec<Bytes>);
    /// Start over from `snapshot` (entries that rebuild the registry, see
    /// [`RealmSink::snapshot`]); further entries follow it. `lost`: the shared log itself
    /// was lost (the shared store restarted empty), so the pod must announce its own state
    /// again.
    fn reset(&self, snapshot: Vec<Bytes>, lost: bool);
    /// The registry as entries, for a backplane that compacts its log.
    fn snapshot(&self) -> Vec<Bytes>;
    /// A message another pod sent to this pod for this realm, in the order sent.
    fn deliver(&self, from: PodId, frame: Bytes);
}

#[async_trait]
pub trait Backplane: Send + Sync + 'static {
    fn pod(&self) -> PodId;
    /// Follow `realm`: the sink gets a [`RealmSink::reset`] with the current state, then
    /// every entry appended after it, and the messages sent to this pod for the realm.
    async fn open(&self, realm: &str, sink: Arc<dyn RealmSink>) -> Result<(), BackplaneError>;
    /// Append an entry to the realm's log.
    async fn append(&self, realm: &str, entry: Bytes) -> Result<(), BackplaneError>;
    /// Queue a message for pod `to`. Never waits: batched, and dropped (counted, logged)
    /// when it cannot be delivered; the router's protocol copes (calls time out or are
    /// canceled when their pod goes away).
    fn send(&self, realm: &str, to: PodId, frame: Bytes);
    /// The pods alive now (heartbeats), this one included.
    async fn live_pods(&self) -> Result<Vec<PodId>, BackplaneError>;
    /// Whether the shared medium is reachable (`/readyz`).
    fn ready(&self) -> bool;
    /// Add `counts` (this pod's messages of `realm` since its last call) to the realm-wide totals.
    async fn add_counters(&self, realm: &str, counts: MessageCounts) -> Result<(), BackplaneError>;
    /// The realm-wide totals of every pod's [`Backplane::add_counters`].
    async fn counters(&self, realm: &str) -> Result<MessageCounts, BackplaneError>;
}

/// Messages a realm's clients sent (`messages_in`) and were sent (`messages_out`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MessageCounts {
    pub messages_in: u64,
    pub messages_out: u64,
}

impl MessageCounts {
    pub fn is_zero(&self) -> bool {
        self.messages_in == 0 && self.messages_out == 0
    }
}

/// A log entry: the op and who appended it (so the appender can collect its outcome).
#[derive(Serialize, Deserialize)]
struct Entry {
    pod: PodId,
    nonce: u64,
    op: Op,
}

fn encode_entry(pod: PodId, nonce: u64, op: &Op) -> Bytes {
    #[derive(Serialize)]
    struct EntryRef<'a> {
        pod: PodId,
        nonce: u64,
        op: &'a Op,
    }
    Bytes::from(rmp_serde::to_vec_named(&EntryRef { pod, nonce, op }).expect("entries always serialize"))
}

/// What the router wants to hear about applied ops.
pub trait ReplicaObserver: Send + Sync + 'static {
    /// An op was applied; `mine`: appended by this pod.
    fn applied(&self, op: &Op, outcome: &Outcome, mine: bool);
    /// A message from another pod (see [`Backplane::send`]).
    fn message(&self, from: PodId, frame: Bytes);
    /// The registry was rebuilt from a snapshot: anything derived from it is stale.
    fn resynced(&self);
}

/// Run when an op of this pod is applied, under the registry's write lock: what must
/// happen before any other op or reader sees the change (SUBSCRIBED before the first
/// EVENT, REGISTERED before the first INVOCATION). Must not touch the registry.
pub type OnApplied = Box<dyn FnOnce(&Outcome) + Send>;

struct Waiter {
    tx: oneshot::Sender<Outcome>,
    on_applied: Option<OnApplied>,
}

/// One pod's replica of one realm's registry, fed by the backplane.
pub struct Replica {
    realm: String,
    backplane: Arc<dyn Backplane>,
    registry: RwLock<Registry>,
    nonce: AtomicU64,
    waiting: Mutex<HashMap<u64, Waiter>>,
    observer: OnceLock<Weak<dyn ReplicaObserver>>,
}

impl Replica {
    /// Open `realm` on the backplane and build its replica.
    pub async fn open(backplane: Arc<dyn Backplane>, realm: &str, observer: Weak<dyn ReplicaObserver>) -> Result<Arc<Replica>, BackplaneError> {
        let replica = Arc::new(Replica {
            realm: realm.to_owned(),
            backplane: backplane.clone(),
            registry: RwLock::new(Registry::new(realm)),
            nonce: AtomicU64::new(1),
            waiting: Mutex::new(HashMap::new()),
            observer: OnceLock::new(),
        });
        let _ = replica.observer.set(observer);
        backplane.open(realm, replica.clone()).await?;
        Ok(replica)
    }

    pub fn pod(&self) -> PodId {
        self.backplane.pod()
    }

    pub fn backplane(&self) -> &Arc<dyn Backplane> {
        &self.backplane
    }

    /// Read the registry. Never hold the guard across an `.await` (it is not `Send`).
    pub fn read(&self) -> parking_lot::RwLockReadGuard<'_, Registry> {
        self.registry.read()
    }

    /// Append `op` realm-wide and wait until this replica applied it; its outcome.
    pub async fn submit(&self, op: Op) -> Result<Outcome, BackplaneError> {
        self.submit_with(op, Box::new(|_| {})).await
    }

    /// [`Replica::submit`], running `on_applied` the moment the op is applied.
    ///
    /// When the backplane is unreachable the op is applied to this replica only, so that
    /// routing inside the pod goes on; the backplane's next [`RealmSink::reset`] shares it.
    pub async fn submit_with(&self, op: Op, on_applied: OnApplied) -> Result<Outcome, BackplaneError> {
        let nonce = self.nonce.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().insert(nonce, Waiter { tx, on_applied: Some(on_applied) });
        let entry = encode_entry(self.pod(), nonce, &op);
        if let Err(e) = self.backplane.append(&self.realm, entry).await {
            let Some(waiter) = self.waiting.lock().remove(&nonce) else {
                return rx.await.map_err(|_| e);
            };
            tracing::debug!(realm = %self.realm, error = %e, "backplane unavailable: op applied on this pod only");
            let outcome = {
                let mut registry = self.registry.write();
                let outcome = registry.apply(&op);
                if let Some(f) = waiter.on_applied {
                    f(&outcome);
                }
                outcome
            };
            if let Some(o) = self.observer() {
                o.applied(&op, &outcome, true);
            }
            return Ok(outcome);
        }
        rx.await.map_err(|_| BackplaneError::Unavailable("the realm's log was reset before the op was applied".into()))
    }

    /// Send a message to another pod's replica of this realm.
    pub fn send(&self, to: PodId, frame: Bytes) {
        self.backplane.send(&self.realm, to, frame);
    }

    /// Declare gone every pod of this realm that is not in `live`; what they left behind
    /// (empty when another pod reaped them first: only one pod publishes their testaments).
    pub async fn reap(&self, live: &[PodId]) -> Vec<Departure> {
        let dead: Vec<PodId> = self.read().pods().into_iter().filter(|p| !live.contains(p)).collect();
        let mut departed = Vec::new();
        for pod in dead {
            match self.submit(Op::PodDown { pod }).await {
                Ok(Outcome::PodDown(d)) => {
                    if !d.is_empty() {
                        tracing::info!(realm = %self.realm, pod, sessions = d.len(), "pod heartbeat expired: its sessions left");
                    }
                    departed.extend(d);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(realm = %self.realm, pod, error = %e, "could not reap pod"),
            }
        }
        departed
    }

    fn observer(&self) -> Option<Arc<dyn ReplicaObserver>> {
        self.observer.get().and_then(Weak::upgrade)
    }

    fn apply_entries(&self, entries: Vec<Bytes>, notify: bool) {
        let me = self.pod();
        let observer = if notify { self.observer() } else { None };
        for bytes in entries {
            let entry: Entry = match rmp_serde::from_slice(&bytes) {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(realm = %self.realm, error = %e, "undecodable op log entry skipped");
                    continue;
                }
            };
            let mine = entry.pod == me;
            if !mine && entry.op == (Op::PodDown { pod: me }) {
                // Another pod took this one for dead (its heartbeat lapsed: cut off from the
                // backplane for a while) while its sessions are alive here. Keep them and
                // announce them again, so that every replica has them back.
                tracing::warn!(realm = %self.realm, by = entry.pod, "this pod was taken for dead by another: announcing its state again");
                self.announce(self.read().to_ops(Some(me)));
                continue;
            }
            let waiter = if mine { self.waiting.lock().remove(&entry.nonce) } else { None };
            let (outcome, tx) = {
                let mut registry = self.registry.write();
                let outcome = registry.apply(&entry.op);
                let tx = waiter.map(|w| {
                    if let Some(f) = w.on_applied {
                        f(&outcome);
                    }
                    w.tx
                });
                (outcome, tx)
            };
            if let Some(o) = &observer {
                o.applied(&entry.op, &outcome, mine);
            }
            if let Some(tx) = tx {
                let _ = tx.send(outcome);
            }
        }
    }
}

impl RealmSink for Replica {
    fn entries(&self, entries: Vec<Bytes>) {
        self.apply_entries(entries, true);
    }

    fn reset(&self, snapshot: Vec<Bytes>, lost: bool) {
        let me = self.pod();
        let (mine, known, retained): (Vec<Op>, Vec<Id>, Vec<Op>) = {
            let registry = self.read();
            // Retained events belong to no pod: when the log was lost, every pod offers the
            // ones it knew (the same ones: replicas agree), unless the new log has the topic.
            let retained = if lost {
                registry.retained().map(|(t, e)| Op::Retain { topic: t.to_owned(), event: e.to_vec() }).collect()
            } else {
                Vec::new()
            };
            (registry.to_ops(Some(me)), registry.sessions().filter(|s| s.pod == me).map(|s| s.id).collect(), retained)
        };
        *self.registry.write() = Registry::new(self.realm.clone());
        self.apply_entries(snapshot, false);
        // Ops in flight may not be in the new log: their submitters hear an error.
        self.waiting.lock().clear();
        // Reconcile the shared registry with what this pod has: sessions that left while the
        // backplane was away leave, and everything this pod has is announced again (ops that
        // are already there change nothing when applied twice).
        let mut ops: Vec<Op> =
            self.read().sessions().filter(|s| s.pod == me && !known.contains(&s.id)).map(|s| Op::Leave { session: s.id }).collect();
        ops.extend(mine);
        {
            let registry = self.read();
            let kept = |topic: &str| registry.retained().any(|(t, _)| t == topic);
            ops.extend(retained.into_iter().filter(|op| !matches!(op, Op::Retain { topic, .. } if kept(topic))));
        }
        if let Some(o) = self.observer() {
            o.resynced();
        }
        if lost && !ops.is_empty() {
            tracing::info!(realm = %self.realm, ops = ops.len(), "shared registry lost: announcing this pod's state again");
        }
        self.announce(ops);
    }

    fn snapshot(&self) -> Vec<Bytes> {
        self.read().to_ops(None).iter().map(|op| encode_entry(0, 0, op)).collect()
    }

    fn deliver(&self, from: PodId, frame: Bytes) {
        if let Some(o) = self.observer() {
            o.message(from, frame);
        }
    }
}

impl Replica {
    /// Append `ops` of this pod in the background, in order (re-announcing: ops already in
    /// the registry change nothing when applied again).
    fn announce(&self, ops: Vec<Op>) {
        if ops.is_empty() {
            return;
        }
        let (backplane, realm, me) = (self.backplane.clone(), self.realm.clone(), self.pod());
        let nonce = self.nonce.fetch_add(ops.len() as u64, Ordering::Relaxed);
        tokio::spawn(async move {
            for (i, op) in ops.iter().enumerate() {
                if let Err(e) = backplane.append(&realm, encode_entry(me, nonce + i as u64, op)).await {
                    tracing::warn!(realm = %realm, error = %e, "re-announcing this pod's state failed; the next reset retries");
                    return;
                }
            }
        });
    }
}
