//! The Redis backplane under the replicas of several pods, on 127.0.0.1:6379 (a unique key
//! prefix per test), on a private Redis that is killed and restarted, and on a throwaway
//! Redis Cluster. Replication is awaited through what a recording observer is told; the
//! timeouts only turn a hang into a failure.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use junction_backplane::{Backplane, MessageCounts, Op, Outcome, PodId, Registry, Replica, ReplicaObserver, SessionInfo};
use junction_backplane_redis::testing::{RedisCluster, RedisServer, kill_clients_named, unique_prefix};
use junction_backplane_redis::{BackplaneConfig, RedisBackplane, RedisConfig};
use junction_protocol::uri::MatchPolicy;
use junction_protocol::Id;
use tokio::sync::mpsc;
use tokio::time::timeout;

const REALM: &str = "com.example.realm";
const LIMIT: Duration = Duration::from_secs(15);

#[derive(Debug)]
enum Seen {
    Applied,
    Message { from: PodId, frame: Bytes },
    Resynced,
}

struct Recorder(mpsc::UnboundedSender<Seen>);

impl ReplicaObserver for Recorder {
    fn applied(&self, _: &Op, _: &Outcome, _: bool) {
        let _ = self.0.send(Seen::Applied);
    }
    fn message(&self, from: PodId, frame: Bytes) {
        let _ = self.0.send(Seen::Message { from, frame });
    }
    fn resynced(&self) {
        let _ = self.0.send(Seen::Resynced);
    }
}

struct Pod {
    backplane: Arc<RedisBackplane>,
    replica: Arc<Replica>,
    rx: mpsc::UnboundedReceiver<Seen>,
    _observer: Arc<dyn ReplicaObserver>,
}

fn fast() -> BackplaneConfig {
    BackplaneConfig {
        heartbeat_interval: Duration::from_millis(100),
        heartbeat_ttl: Duration::from_millis(600),
        snapshot_every: 10,
        slack: 5,
        retry_interval: Duration::from_millis(100),
        ..BackplaneConfig::default()
    }
}

impl Pod {
    async fn start(redis: &RedisConfig, config: BackplaneConfig) -> Pod {
        Pod::start_on(redis, config, REALM).await
    }

    async fn start_on(redis: &RedisConfig, config: BackplaneConfig, realm: &str) -> Pod {
        let backplane = RedisBackplane::start(redis, config).expect("start");
        assert!(backplane.wait_ready(LIMIT).await, "backplane ready");
        let (tx, rx) = mpsc::unbounded_channel();
        let observer: Arc<dyn ReplicaObserver> = Arc::new(Recorder(tx));
        let replica = Replica::open(backplane.clone(), realm, Arc::downgrade(&observer)).await.expect("open");
        Pod { backplane, replica, rx, _observer: observer }
    }

    fn id(&self) -> PodId {
        self.backplane.pod()
    }

    /// Wait (on what the observer is told) until the registry satisfies `done`.
    async fn until(&mut self, what: &str, done: impl Fn(&Registry) -> bool) {
        let waited = timeout(LIMIT, async {
            loop {
                if done(&self.replica.read()) {
                    return;
                }
                self.rx.recv().await.expect("observer alive");
            }
        })
        .await;
        assert!(waited.is_ok(), "pod {} never saw {what}", self.id());
    }

    /// The next `n` messages from other pods.
    async fn messages(&mut self, n: usize) -> Vec<(PodId, Bytes)> {
        let mut got = Vec::new();
        timeout(LIMIT, async {
            while got.len() < n {
                if let Seen::Message { from, frame } = self.rx.recv().await.expect("observer alive") {
                    got.push((from, frame));
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("got {} of {n} messages", got.len()));
        got
    }

    async fn join(&self, id: Id) -> Outcome {
        self.replica.submit(join(id, self.id())).await.expect("join")
    }
}

fn join(id: Id, pod: PodId) -> Op {
    Op::Join { session: SessionInfo { id, pod, authid: format!("user-{id}"), authrole: "user".into(), details: Default::default(), pod_name: String::new(), joined_at: 0 } }
}

fn subscribe(uri: &str, session: Id) -> Op {
    Op::Subscribe { uri: uri.into(), policy: MatchPolicy::Exact, session, created: "2026-11-24T00:00:00Z".into() }
}

fn local() -> RedisConfig {
    RedisConfig::single("redis://127.0.0.1:6379").with_prefix(unique_prefix("bp"))
}

async fn query<T: redis::FromRedisValue>(redis: &RedisConfig, cmd: &redis::Cmd) -> T {
    let conn = junction_backplane_redis::RedisConn::start(redis.clone()).unwrap();
    assert!(conn.wait_connected(LIMIT).await);
    conn.query(cmd).await.expect("query")
}

async fn shared_log_and_messages(redis: RedisConfig) {
    let mut a = Pod::start(&redis, fast()).await;
    let mut b = Pod::start(&redis, fast()).await;
    let mut c = Pod::start(&redis, fast()).await;

    // Every replica computes the same outcome: one of two joins of one id wins.
    let (ra, rb) = tokio::join!(a.join(7), b.join(7));
    assert_eq!([ra.clone(), rb.clone()].iter().filter(|o| **o == Outcome::Joined(true)).count(), 1, "{ra:?} {rb:?}");
    assert_eq!(a.join(1).await, Outcome::Joined(true));
    assert!(matches!(b.replica.submit(subscribe("com.app.t", 7)).await.unwrap(), Outcome::Subscribed { added: true, .. }));
    for p in [&mut a, &mut b, &mut c] {
        p.until("both sessions and the subscription", |r| r.session_count() == 2 && r.subscriptions().count() == 1).await;
    }
    let winner = a.replica.read().session(7).unwrap().pod;
    assert!(winner == a.id() || winner == b.id());

    // Pod to pod: only the addressee hears it, in order, batched.
    let frames: Vec<Bytes> = (0..2000u32).map(|i| Bytes::from(format!("frame {i}"))).collect();
    for f in &frames {
        a.replica.send(b.id(), f.clone());
    }
    a.replica.send(c.id(), Bytes::from_static(b"only for c"));
    let got = b.messages(frames.len()).await;
    assert!(got.iter().all(|(from, _)| *from == a.id()));
    assert_eq!(got.into_iter().map(|(_, f)| f).collect::<Vec<_>>(), frames);
    assert_eq!(c.messages(1).await, vec![(a.id(), Bytes::from_static(b"only for c"))]);
    let stats = a.backplane.stats();
    let (sent, batches) = (stats.frames_sent.load(Ordering::Relaxed), stats.batches_sent.load(Ordering::Relaxed));
    assert_eq!(sent, 2001);
    assert!(batches < sent, "{batches} Redis messages for {sent} frames: nothing was batched");

    // A pod that opens the realm late rebuilds the registry from the snapshot and the log.
    for id in 100..130 {
        assert_eq!(a.join(id).await, Outcome::Joined(true));
    }
    let late = Pod::start(&redis, fast()).await;
    assert_eq!(late.replica.read().session_count(), 32);
    assert_eq!(late.replica.read().to_ops(None), a.replica.read().to_ops(None));
    assert!(a.backplane.stats().snapshots.load(Ordering::Relaxed) >= 1, "a snapshot was stored");
    // ... and the stream was trimmed to the entries after the newest snapshot (minus slack).
    let names = junction_backplane_redis::Naming::new(redis.prefix.clone());
    let len: u64 = query(&redis, redis::cmd("XLEN").arg(names.realm_key(REALM, "ops"))).await;
    assert!(len < 20, "{len} entries kept of 35");

    // Message counters: every pod adds its own, any pod reads the realm's totals.
    assert_eq!(c.backplane.counters(REALM).await.unwrap(), MessageCounts::default());
    a.backplane.add_counters(REALM, MessageCounts { messages_in: 3, messages_out: 10 }).await.unwrap();
    b.backplane.add_counters(REALM, MessageCounts { messages_in: 2, messages_out: 5 }).await.unwrap();
    b.backplane.add_counters("org.other", MessageCounts { messages_in: 7, messages_out: 0 }).await.unwrap();
    assert_eq!(c.backplane.counters(REALM).await.unwrap(), MessageCounts { messages_in: 5, messages_out: 15 });
    assert_eq!(a.backplane.counters("org.other").await.unwrap(), MessageCounts { messages_in: 7, messages_out: 0 });
}

#[tokio::test]
async fn pods_share_a_realm_log_and_message_each_other() {
    shared_log_and_messages(local()).await;
}

#[tokio::test]
async fn pods_share_a_realm_on_a_redis_cluster() {
    let cluster = RedisCluster::start(3).expect("redis cluster");
    shared_log_and_messages(cluster.config().with_prefix(unique_prefix("bp-cluster"))).await;
    // Realms hash to different shards: a second realm works alongside.
    let redis = cluster.config().with_prefix(unique_prefix("bp-cluster"));
    let a = Pod::start_on(&redis, fast(), "org.other").await;
    let mut b = Pod::start_on(&redis, fast(), "org.other").await;
    a.join(5).await;
    b.until("the other realm's session", |r| r.session(5).is_some()).await;
}

#[tokio::test]
async fn a_missed_entry_is_filled_from_the_stream() {
    let redis = local();
    let a = Pod::start(&redis, fast()).await;
    let mut b = Pod::start(&redis, fast()).await;
    a.join(1).await;
    b.until("session 1", |r| r.session(1).is_some()).await;
    // An entry appended without reaching the log channel (as if the message was lost):
    // the next entry shows the hole, which is read from the stream.
    let names = junction_backplane_redis::Naming::new(redis.prefix.clone());
    let entry = rmp_serde::to_vec_named(&serde_json::json!({"pod": a.id(), "nonce": 999, "op": {"op": "join", "session": {"id": 2, "pod": a.id(), "authid": "x", "authrole": "user", "details": {}}}})).unwrap();
    let mut eval = redis::cmd("EVAL");
    eval.arg(include_str!("../src/backplane/append.lua")).arg(3);
    eval.arg(names.realm_key(REALM, "meta")).arg(names.realm_key(REALM, "ops")).arg(names.realm_key(REALM, "nobody-listens"));
    eval.arg(a.id()).arg("unused").arg(entry).arg(1000).arg("PUBLISH");
    let seq: u64 = query(&redis, &eval).await;
    assert_eq!(seq, 2);
    a.join(3).await;
    b.until("sessions 1, 2 and 3", |r| r.session_count() == 3).await;
    assert_eq!(b.backplane.stats().fills.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn dead_pods_drop_out_of_the_live_set() {
    let redis = local();
    let a = Pod::start(&redis, fast()).await;
    let b = Pod::start(&redis, fast()).await;
    a.join(1).await;
    b.join(2).await;
    // The live set is young at first: nobody may be declared dead from it.
    let live = timeout(LIMIT, async {
        loop {
            match a.backplane.live_pods().await {
                Ok(live) => return live,
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await, // a poll, re-checked
            }
        }
    })
    .await
    .expect("the live set settles");
    assert!(live.contains(&a.id()) && live.contains(&b.id()), "{live:?}");

    b.backplane.halt();
    assert!(!b.backplane.ready());
    let live = timeout(LIMIT, async {
        loop {
            let live = a.backplane.live_pods().await.expect("live pods");
            if !live.contains(&b.id()) {
                return live;
            }
            tokio::time::sleep(Duration::from_millis(50)).await; // a poll, re-checked
        }
    })
    .await
    .expect("b's heartbeat expires");
    let departed = a.replica.reap(&live).await;
    assert_eq!(departed.iter().map(|d| d.session.id).collect::<Vec<_>>(), vec![2]);
    assert!(a.replica.read().session(2).is_none() && a.replica.read().session(1).is_some());
}

#[tokio::test]
async fn a_dropped_subscription_connection_resynchronises() {
    let mut server = RedisServer::start().expect("redis-server");
    let redis = server.config().with_prefix(unique_prefix("bp-drop")).with_client_name("bp-drop");
    let a = Pod::start(&redis, fast()).await;
    let mut b = Pod::start(&redis, fast()).await;
    a.join(1).await;
    b.until("session 1", |r| r.session(1).is_some()).await;
    let before = b.backplane.stats().resyncs.load(Ordering::Relaxed);
    let name = format!("bp-drop-pod-{}-sub", b.id());
    assert_eq!(kill_clients_named(server.port(), &name).expect("client kill"), 1);
    a.join(2).await;
    b.until("session 2 after the reconnect", |r| r.session(2).is_some()).await;
    assert!(b.backplane.stats().resyncs.load(Ordering::Relaxed) > before, "the lost connection made b read the realm afresh");
    server.stop();
}

#[tokio::test]
async fn redis_restarting_empty_loses_nothing_the_pods_have() {
    let mut server = RedisServer::start().expect("redis-server");
    let redis = server.config().with_prefix(unique_prefix("bp-restart"));
    let mut a = Pod::start(&redis, fast()).await;
    let mut b = Pod::start(&redis, fast()).await;
    a.join(1).await;
    b.join(2).await;
    a.replica.submit(subscribe("com.app.t", 1)).await.unwrap();
    b.replica.submit(Op::Retain { topic: "com.app.kept".into(), event: b"last".to_vec() }).await.unwrap();
    a.until("both sessions and the retained event", |r| r.session_count() == 2 && r.retained().count() == 1).await;
    b.until("both sessions and a's subscription", |r| r.session_count() == 2 && r.subscriptions().count() == 1).await;

    server.stop();
    // While Redis is away: not ready, and ops apply on the pod that makes them.
    timeout(LIMIT, async {
        while a.backplane.ready() {
            tokio::time::sleep(Duration::from_millis(20)).await; // a poll, re-checked
        }
    })
    .await
    .expect("a notices");
    assert_eq!(a.join(3).await, Outcome::Joined(true));
    assert!(a.replica.read().session(3).is_some());

    server.restart().expect("restart");
    assert!(a.backplane.wait_ready(LIMIT).await && b.backplane.wait_ready(LIMIT).await);
    // Redis came back empty: each pod announces what it has, and both see all of it again.
    for p in [&mut a, &mut b] {
        p.until("every session, the subscription and the retained event again", |r| {
            r.session_count() == 3 && r.subscriptions().count() == 1 && r.pods().len() == 2 && r.retained().count() == 1
        })
        .await;
    }
    // ... and the realm works as before.
    a.join(4).await;
    b.until("a new session", |r| r.session(4).is_some()).await;
    a.replica.send(b.id(), Bytes::from_static(b"hello again"));
    assert_eq!(b.messages(1).await, vec![(a.id(), Bytes::from_static(b"hello again"))]);
}
