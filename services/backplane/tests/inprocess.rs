//! Replicas on the in-process hub: pods of one process sharing realms through the public
//! API ([`Replica`], [`Backplane`], [`InProcessHub`]). Asynchronous delivery is awaited
//! through what a recording [`ReplicaObserver`] is told, never by sleeping; the timeouts
//! below only turn a hang into a failure.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use junction_backplane::{
    Backplane, BackplaneError, InProcessHub, InvokePolicy, MessageCounts, Op, Outcome, PodId, Registry, Replica, ReplicaObserver, SessionInfo,
};
use junction_protocol::uri::MatchPolicy;
use junction_protocol::Id;
use tokio::sync::mpsc;
use tokio::time::timeout;

const REALM: &str = "com.example.realm";
const LIMIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// a recording observer and a pod around a replica

// A test recorder: boxing the op would only make the matches below harder to read.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Applied { op: Op, outcome: Outcome, mine: bool },
    Message { from: PodId, frame: Bytes },
    Resynced,
}

struct Recorder {
    tx: mpsc::UnboundedSender<Seen>,
}

impl ReplicaObserver for Recorder {
    fn applied(&self, op: &Op, outcome: &Outcome, mine: bool) {
        let _ = self.tx.send(Seen::Applied { op: op.clone(), outcome: outcome.clone(), mine });
    }

    fn message(&self, from: PodId, frame: Bytes) {
        let _ = self.tx.send(Seen::Message { from, frame });
    }

    fn resynced(&self) {
        let _ = self.tx.send(Seen::Resynced);
    }
}

struct Pod {
    id: PodId,
    replica: Arc<Replica>,
    rx: mpsc::UnboundedReceiver<Seen>,
    /// The replica holds its observer weakly.
    _observer: Arc<dyn ReplicaObserver>,
}

impl Pod {
    async fn new(hub: &Arc<InProcessHub>, realm: &str) -> Pod {
        let backplane: Arc<dyn Backplane> = hub.pod();
        Pod::open(backplane, realm).await.expect("realm opens")
    }

    async fn open(backplane: Arc<dyn Backplane>, realm: &str) -> Result<Pod, BackplaneError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let observer: Arc<dyn ReplicaObserver> = Arc::new(Recorder { tx });
        let replica = Replica::open(backplane, realm, Arc::downgrade(&observer)).await?;
        Ok(Pod { id: replica.pod(), replica, rx, _observer: observer })
    }

    async fn submit(&self, op: Op) -> Outcome {
        self.replica.submit(op).await.expect("submit")
    }

    async fn join(&self, session: Id) {
        assert_eq!(self.submit(Op::Join { session: info(session, self.id) }).await, Outcome::Joined(true), "join {session}");
    }

    async fn subscribe(&self, session: Id, uri: &str) -> Id {
        let op = Op::Subscribe { uri: uri.into(), policy: MatchPolicy::Exact, session, created: "t".into() };
        match self.submit(op).await {
            Outcome::Subscribed { sub, added: true, .. } => sub,
            other => panic!("subscribe answered {other:?}"),
        }
    }

    async fn register(&self, session: Id, uri: &str, invoke: InvokePolicy) -> Result<(Id, bool), &'static str> {
        let op = Op::Register { uri: uri.into(), policy: MatchPolicy::Exact, invoke, session, created: "t".into() };
        match self.submit(op).await {
            Outcome::Registered(r) => r,
            other => panic!("register answered {other:?}"),
        }
    }

    /// The next thing the observer was told.
    async fn next(&mut self) -> Seen {
        timeout(LIMIT, self.rx.recv()).await.expect("timed out waiting for the observer").expect("observer channel open")
    }

    /// What the observer was told so far and not yet taken.
    fn drain(&mut self) -> Vec<Seen> {
        std::iter::from_fn(|| self.rx.try_recv().ok()).collect()
    }

    /// Wait until this replica's registry satisfies `cond` (checked after every
    /// notification: the observer hears of an op after it was applied).
    async fn wait_until(&mut self, what: &str, cond: impl Fn(&Registry) -> bool) {
        loop {
            if cond(&self.replica.read()) {
                return;
            }
            match timeout(LIMIT, self.rx.recv()).await {
                Ok(Some(_)) => {}
                Ok(None) => panic!("observer channel closed waiting for {what}"),
                Err(_) => panic!("timed out waiting for {what}"),
            }
        }
    }

    /// Wait until this replica applied `op` appended by another pod; its outcome here.
    async fn applied_remote(&mut self, op: &Op) -> Outcome {
        loop {
            if let Seen::Applied { op: seen, outcome, mine } = self.next().await
                && &seen == op
            {
                assert!(!mine, "{op:?} was appended by another pod");
                return outcome;
            }
        }
    }

    fn state(&self) -> Vec<Op> {
        self.replica.read().to_ops(None)
    }
}

fn info(id: Id, pod: PodId) -> SessionInfo {
    SessionInfo { id, pod, authid: format!("user-{id}"), authrole: "user".into(), details: Default::default(), pod_name: String::new(), joined_at: 0 }
}

fn session_ids(r: &Registry) -> BTreeSet<Id> {
    r.sessions().map(|s| s.id).collect()
}

// ---------------------------------------------------------------------------------------
// replication

#[tokio::test]
async fn opening_a_realm_resyncs_from_the_hub() {
    let hub = InProcessHub::new();
    let mut a = Pod::new(&hub, REALM).await;
    assert_eq!(a.drain(), vec![Seen::Resynced], "open resets the replica from a snapshot, here empty");
    assert_eq!(a.replica.read().realm(), REALM);
    assert_eq!(a.replica.read().session_count(), 0);
    assert_eq!(a.replica.pod(), a.id);
    assert_eq!(a.replica.backplane().pod(), a.id);
    assert!(a.replica.backplane().ready());
    assert_eq!(a.replica.backplane().live_pods().await.unwrap(), vec![a.id]);
}

#[tokio::test]
async fn two_pods_see_each_others_ops() {
    let hub = InProcessHub::new();
    let mut a = Pod::new(&hub, REALM).await;
    let mut b = Pod::new(&hub, REALM).await;
    assert_ne!(a.id, b.id);
    let live: BTreeSet<PodId> = a.replica.backplane().live_pods().await.unwrap().into_iter().collect();
    assert_eq!(live, BTreeSet::from([a.id, b.id]));
    a.drain();
    b.drain();

    // A's op: applied on A (mine) and on B (not mine), with the same outcome.
    let join = Op::Join { session: info(1, a.id) };
    assert_eq!(a.submit(join.clone()).await, Outcome::Joined(true));
    assert_eq!(a.next().await, Seen::Applied { op: join.clone(), outcome: Outcome::Joined(true), mine: true });
    assert_eq!(b.applied_remote(&join).await, Outcome::Joined(true));
    assert_eq!(b.replica.read().session(1), Some(&info(1, a.id)));

    // And the other way round.
    b.join(2).await;
    let sub = Op::Subscribe { uri: "com.t".into(), policy: MatchPolicy::Exact, session: 2, created: "t".into() };
    let outcome = b.submit(sub.clone()).await;
    let Outcome::Subscribed { sub: id, created: true, added: true } = outcome else { panic!("{outcome:?}") };
    assert_eq!(a.applied_remote(&Op::Join { session: info(2, b.id) }).await, Outcome::Joined(true));
    assert_eq!(a.applied_remote(&sub).await, outcome);
    {
        let reg = a.replica.read();
        assert_eq!(reg.subscription(id).unwrap().members, vec![(2, b.id)]);
        assert_eq!(reg.other_pods_for("com.t", a.id), vec![b.id]);
        assert!(reg.other_pods_for("com.t", b.id).is_empty());
        assert_eq!(reg.pods(), sorted(vec![a.id, b.id]));
    }
    assert_eq!(a.state(), b.state());
}

#[tokio::test]
async fn submit_returns_the_outcome_every_replica_computes() {
    let hub = InProcessHub::new();
    let mut a = Pod::new(&hub, REALM).await;
    let mut b = Pod::new(&hub, REALM).await;
    a.join(1).await;
    a.register(1, "com.proc", InvokePolicy::Single).await.unwrap();
    a.join(3).await;
    a.register(3, "com.shared", InvokePolicy::RoundRobin).await.unwrap();
    a.drain();

    // A session id taken on another pod.
    let collision = Op::Join { session: info(1, b.id) };
    assert_eq!(b.submit(collision.clone()).await, Outcome::Joined(false));
    assert_eq!(b.replica.read().session(1).map(|s| s.pod), Some(a.id), "the first join stands");
    assert_eq!(a.applied_remote(&collision).await, Outcome::Joined(false));

    b.join(2).await;
    // A registration conflicting with one made on another pod.
    let conflict = Op::Register { uri: "com.proc".into(), policy: MatchPolicy::Exact, invoke: InvokePolicy::Single, session: 2, created: "t".into() };
    let expected = Outcome::Registered(Err("wamp.error.procedure_already_exists"));
    assert_eq!(b.submit(conflict.clone()).await, expected);
    assert_eq!(a.applied_remote(&conflict).await, expected);
    let wrong_policy = Op::Register { uri: "com.shared".into(), policy: MatchPolicy::Exact, invoke: InvokePolicy::Last, session: 2, created: "t".into() };
    let expected = Outcome::Registered(Err("wamp.error.procedure_exists_with_different_invocation_policy"));
    assert_eq!(b.submit(wrong_policy.clone()).await, expected);
    assert_eq!(a.applied_remote(&wrong_policy).await, expected);
    // Joining a shared registration across pods.
    let (id, created) = b.register(2, "com.shared", InvokePolicy::RoundRobin).await.unwrap();
    assert!(!created);
    a.wait_until("B's callee", |r| r.registration(id).is_some_and(|g| g.callees.len() == 2)).await;
    assert_eq!(a.replica.read().registration(id).unwrap().callees, vec![(3, a.id), (2, b.id)]);
    assert_eq!(a.state(), b.state());

    // B's own observer heard its ops as its own, with the outcomes submit returned.
    let mine: Vec<(Op, Outcome)> = b
        .drain()
        .into_iter()
        .filter_map(|s| match s {
            Seen::Applied { op, outcome, mine: true } => Some((op, outcome)),
            _ => None,
        })
        .collect();
    assert_eq!(mine.len(), 5);
    assert_eq!(mine[0], (collision, Outcome::Joined(false)));
    assert_eq!(mine[2], (conflict, Outcome::Registered(Err("wamp.error.procedure_already_exists"))));
}

#[tokio::test]
async fn submit_with_runs_on_applied_before_returning() {
    let hub = InProcessHub::new();
    let a = Pod::new(&hub, REALM).await;
    let seen: Arc<Mutex<Option<Outcome>>> = Arc::default();
    let record = seen.clone();
    let outcome = a
        .replica
        .submit_with(Op::Join { session: info(7, a.id) }, Box::new(move |o| *record.lock().unwrap() = Some(o.clone())))
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Joined(true));
    assert_eq!(seen.lock().unwrap().take(), Some(Outcome::Joined(true)));
}

#[tokio::test]
async fn a_late_pod_gets_the_state_from_a_snapshot() {
    let hub = InProcessHub::new();
    let mut a = Pod::new(&hub, REALM).await;
    let mut b = Pod::new(&hub, REALM).await;
    a.join(1).await;
    a.join(2).await;
    b.join(3).await;
    a.subscribe(1, "com.t").await;
    b.subscribe(3, "com.t").await;
    a.register(1, "com.rr", InvokePolicy::RoundRobin).await.unwrap();
    b.register(3, "com.rr", InvokePolicy::RoundRobin).await.unwrap();
    a.register(2, "com.single", InvokePolicy::Single).await.unwrap();
    a.submit(Op::Testaments { session: 2, testaments: b"will".to_vec() }).await;
    a.submit(Op::Retain { topic: "com.t".into(), event: b"old".to_vec() }).await;
    b.submit(Op::Retain { topic: "com.t".into(), event: b"new".to_vec() }).await;
    a.submit(Op::Leave { session: 2 }).await;
    a.wait_until("B's ops", |r| r.retained().any(|(_, e)| e == b"new")).await;
    b.wait_until("A's leave", |r| r.session(2).is_none()).await;

    let mut c = Pod::new(&hub, REALM).await;
    assert_eq!(c.drain(), vec![Seen::Resynced], "the snapshot is applied without per-op notifications");
    assert_eq!(c.state(), a.state());
    assert_eq!(c.state(), b.state());
    {
        let r = c.replica.read();
        assert_eq!(session_ids(&r), BTreeSet::from([1, 3]));
        let rr = r.registration_for("com.rr").unwrap();
        assert_eq!(rr.callees, vec![(1, a.id), (3, b.id)], "callees keep their order");
        assert!(r.registration_for("com.single").is_none());
        assert_eq!(r.retained().collect::<Vec<_>>(), vec![("com.t", &b"new"[..])]);
        assert_eq!(sorted(r.other_pods_for("com.t", c.id)), sorted(vec![a.id, b.id]));
    }

    // The late pod follows the log from there, both ways.
    let join = Op::Join { session: info(4, a.id) };
    a.submit(join.clone()).await;
    assert_eq!(c.applied_remote(&join).await, Outcome::Joined(true));
    c.join(5).await;
    a.wait_until("C's session", |r| r.session(5).is_some()).await;
    b.wait_until("C's session", |r| r.session(5).is_some()).await;
    assert_eq!(a.state(), c.state());
    assert_eq!(b.state(), c.state());
}

#[tokio::test]
async fn message_counters_add_up_across_pods_per_realm() {
    let hub = InProcessHub::new();
    let (a, b): (Arc<dyn Backplane>, Arc<dyn Backplane>) = (hub.pod(), hub.pod());
    assert_eq!(a.counters("r1").await.unwrap(), MessageCounts::default());
    a.add_counters("r1", MessageCounts { messages_in: 3, messages_out: 10 }).await.unwrap();
    b.add_counters("r1", MessageCounts { messages_in: 2, messages_out: 5 }).await.unwrap();
    b.add_counters("r2", MessageCounts { messages_in: 7, messages_out: 0 }).await.unwrap();
    assert_eq!(a.counters("r1").await.unwrap(), MessageCounts { messages_in: 5, messages_out: 15 });
    assert_eq!(a.counters("r2").await.unwrap(), MessageCounts { messages_in: 7, messages_out: 0 });
}

#[tokio::test]
async fn realms_are_separate() {
    let hub = InProcessHub::new();
    let backplane_a: Arc<dyn Backplane> = hub.pod();
    let backplane_b: Arc<dyn Backplane> = hub.pod();
    let a1 = Pod::open(backplane_a.clone(), "r1").await.unwrap();
    let a2 = Pod::open(backplane_a, "r2").await.unwrap();
    let mut b1 = Pod::open(backplane_b.clone(), "r1").await.unwrap();
    let mut b2 = Pod::open(backplane_b, "r2").await.unwrap();
    a1.join(1).await;
    a2.join(2).await;
    b1.wait_until("r1's session", |r| r.session_count() == 1).await;
    b2.wait_until("r2's session", |r| r.session_count() == 1).await;
    assert_eq!(session_ids(&b1.replica.read()), BTreeSet::from([1]));
    assert_eq!(session_ids(&b2.replica.read()), BTreeSet::from([2]));
    // Subscription ids are per realm.
    let s1 = a1.subscribe(1, "com.t").await;
    let s2 = a2.subscribe(2, "com.t").await;
    assert_ne!(s1, s2);
    // Messages too.
    a2.replica.send(b2.id, Bytes::from_static(b"for r2"));
    loop {
        if let Seen::Message { frame, .. } = b2.next().await {
            assert_eq!(frame, Bytes::from_static(b"for r2"));
            break;
        }
    }
    assert!(b1.drain().iter().all(|s| !matches!(s, Seen::Message { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_submits_reach_one_order() {
    const N: u64 = 40;
    let hub = InProcessHub::new();
    let mut a = Pod::new(&hub, REALM).await;
    let mut b = Pod::new(&hub, REALM).await;
    // Both pods try to take every id, concurrently.
    let mut tasks = Vec::new();
    for pod in [&a, &b] {
        for id in 1..=N {
            let (replica, pod_id) = (pod.replica.clone(), pod.id);
            tasks.push(tokio::spawn(async move {
                let won = replica.submit(Op::Join { session: info(id, pod_id) }).await.unwrap() == Outcome::Joined(true);
                if won {
                    let op = Op::Subscribe { uri: "com.t".into(), policy: MatchPolicy::Exact, session: id, created: "t".into() };
                    assert!(matches!(replica.submit(op).await.unwrap(), Outcome::Subscribed { added: true, .. }));
                }
                (id, won)
            }));
        }
    }
    let mut winners = vec![0; N as usize + 1];
    for t in tasks {
        let (id, won) = t.await.unwrap();
        winners[id as usize] += u32::from(won);
    }
    assert!(winners[1..].iter().all(|&w| w == 1), "each id is taken exactly once: {winners:?}");

    let sub = junction_backplane::registry::subscription_id(REALM, MatchPolicy::Exact, "com.t");
    let all = |r: &Registry| r.session_count() == N as usize && r.subscription(sub).is_some_and(|s| s.members.len() == N as usize);
    a.wait_until("every op", all).await;
    b.wait_until("every op", all).await;
    // One log order: the same sessions on the same pods, the same member order.
    assert_eq!(a.state(), b.state());
    let mut c = Pod::new(&hub, REALM).await;
    c.wait_until("the snapshot", all).await;
    assert_eq!(c.state(), a.state());
    let members = |p: &Pod| p.replica.read().subscription(sub).unwrap().members.clone();
    assert_eq!(members(&a), members(&b));
    assert_eq!(members(&a), members(&c));
}

// ---------------------------------------------------------------------------------------
// messages

#[tokio::test]
async fn messages_arrive_in_order_from_their_sender() {
    let hub = InProcessHub::new();
    let mut a = Pod::new(&hub, REALM).await;
    let mut b = Pod::new(&hub, REALM).await;
    a.drain();
    b.drain();
    for i in 0..200u32 {
        a.replica.send(b.id, Bytes::from(i.to_be_bytes().to_vec()));
        a.replica.backplane().send(REALM, b.id, Bytes::from(format!("direct {i}")));
    }
    b.replica.send(a.id, Bytes::from_static(b"back"));
    for i in 0..200u32 {
        assert_eq!(b.next().await, Seen::Message { from: a.id, frame: Bytes::from(i.to_be_bytes().to_vec()) });
        assert_eq!(b.next().await, Seen::Message { from: a.id, frame: Bytes::from(format!("direct {i}")) });
    }
    assert_eq!(a.next().await, Seen::Message { from: b.id, frame: Bytes::from_static(b"back") });
    // To a pod that is not there, or that did not open the realm: dropped.
    a.replica.send(12345, Bytes::from_static(b"nobody"));
    a.replica.backplane().send("another.realm", b.id, Bytes::from_static(b"wrong realm"));
    // A message to itself is delivered like any other (and marks the end of the above).
    a.replica.send(a.id, Bytes::from_static(b"self"));
    assert_eq!(a.next().await, Seen::Message { from: a.id, frame: Bytes::from_static(b"self") });
    b.replica.send(b.id, Bytes::from_static(b"marker"));
    assert_eq!(b.next().await, Seen::Message { from: b.id, frame: Bytes::from_static(b"marker") });
}

#[tokio::test]
async fn messages_and_ops_keep_their_relative_order() {
    let hub = InProcessHub::new();
    let a = Pod::new(&hub, REALM).await;
    let mut b = Pod::new(&hub, REALM).await;
    b.drain();
    // An op submitted before a message is applied on the receiver before the message
    // arrives (SUBSCRIBED is known before the EVENT that follows it).
    for i in 0..20 {
        a.join(100 + i).await;
        a.replica.send(b.id, Bytes::from(format!("after {i}")));
    }
    for i in 0..20 {
        match b.next().await {
            Seen::Applied { op: Op::Join { session }, outcome: Outcome::Joined(true), mine: false } => assert_eq!(session.id, 100 + i),
            other => panic!("expected the join of {}, got {other:?}", 100 + i),
        }
        assert_eq!(b.next().await, Seen::Message { from: a.id, frame: Bytes::from(format!("after {i}")) });
        assert!(b.replica.read().session(100 + i).is_some());
    }
}

// ---------------------------------------------------------------------------------------
// dead pods

#[tokio::test]
async fn a_killed_pod_is_reaped_once() {
    let hub = InProcessHub::new();
    let mut a = Pod::new(&hub, REALM).await;
    let b = Pod::new(&hub, REALM).await;
    a.join(1).await;
    let shared = a.subscribe(1, "com.t").await;
    b.join(21).await;
    b.join(20).await;
    b.subscribe(20, "com.t").await;
    let only_b = b.subscribe(21, "com.b").await;
    let (reg, _) = b.register(20, "com.proc", InvokePolicy::Single).await.unwrap();
    b.submit(Op::Testaments { session: 21, testaments: b"bye".to_vec() }).await;
    a.wait_until("B's state", |r| r.session_count() == 3 && r.other_pods_for("com.b", 0).len() == 1).await;
    a.wait_until("B's testaments", |r| r.to_ops(None).iter().any(|op| matches!(op, Op::Testaments { session: 21, .. }))).await;

    hub.kill(b.id);
    let live = a.replica.backplane().live_pods().await.unwrap();
    assert_eq!(live, vec![a.id], "B's heartbeat stopped");

    let gone = a.replica.reap(&live).await;
    assert_eq!(gone.iter().map(|d| d.session.id).collect::<Vec<_>>(), vec![20, 21]);
    assert!(gone.iter().all(|d| d.session.pod == b.id));
    assert_eq!(gone[0].subscriptions, vec![(shared, false)]);
    assert_eq!(gone[0].registrations, vec![(reg, true)]);
    assert!(gone[0].testaments.is_empty());
    assert_eq!(gone[1].subscriptions, vec![(only_b, true)]);
    assert!(gone[1].registrations.is_empty());
    assert_eq!(gone[1].testaments, b"bye".to_vec());

    assert!(a.replica.reap(&live).await.is_empty(), "reaped already");
    {
        let r = a.replica.read();
        assert_eq!(session_ids(&r), BTreeSet::from([1]));
        assert_eq!(r.pods(), vec![a.id]);
        assert!(r.other_pods_for("com.t", a.id).is_empty());
        assert!(r.registration_for("com.proc").is_none());
    }
    // The survivor's observer heard of the reaping as its own op.
    let pod_down: Vec<_> = a
        .drain()
        .into_iter()
        .filter_map(|s| match s {
            Seen::Applied { op: Op::PodDown { pod }, outcome: Outcome::PodDown(d), mine } => Some((pod, d.len(), mine)),
            _ => None,
        })
        .collect();
    assert_eq!(pod_down, vec![(b.id, 2, true)]);

    // A pod opening the realm now gets the reaped state.
    let c = Pod::new(&hub, REALM).await;
    assert_eq!(c.state(), a.state());
}

#[tokio::test]
async fn a_pod_taken_for_dead_while_alive_keeps_and_reannounces_its_state() {
    let hub = InProcessHub::new();
    let mut a = Pod::new(&hub, REALM).await;
    let mut b = Pod::new(&hub, REALM).await;
    a.join(1).await;
    a.subscribe(1, "com.t").await;
    b.wait_until("A's session and subscription", |r| r.session_count() == 1 && r.subscriptions().count() == 1).await;
    let before = a.state();

    // B reaps A (say A's heartbeat lapsed while it was cut off), but A is alive.
    assert!(matches!(b.submit(Op::PodDown { pod: a.id }).await, Outcome::PodDown(d) if d.len() == 1));
    // A keeps its state and its observer never hears it was declared dead...
    b.submit(Op::Join { session: info(2, b.id) }).await;
    a.wait_until("B's session", |r| r.session(2).is_some()).await;
    assert!(a.replica.read().session(1).is_some());
    assert!(!a.drain().iter().any(|s| matches!(s, Seen::Applied { op: Op::PodDown { .. }, .. })));
    // ... and announces it again, so that B has it back.
    b.wait_until("A's session and subscription again", |r| r.session(1).is_some() && r.subscriptions().count() == 1).await;
    assert_eq!(a.state(), b.state());
    assert!(before.iter().all(|op| a.state().contains(op)));
}

#[tokio::test]
async fn concurrent_reapers_share_the_departures() {
    let hub = InProcessHub::new();
    let mut a = Pod::new(&hub, REALM).await;
    let mut b = Pod::new(&hub, REALM).await;
    let c = Pod::new(&hub, REALM).await;
    for s in [31, 32, 33] {
        c.join(s).await;
        c.subscribe(s, "com.t").await;
    }
    a.join(1).await;
    let ready = |r: &Registry| r.session_count() == 4;
    a.wait_until("C's sessions", ready).await;
    b.wait_until("C's sessions", ready).await;

    hub.kill(c.id);
    let live = a.replica.backplane().live_pods().await.unwrap();
    assert_eq!(live.iter().copied().collect::<BTreeSet<_>>(), BTreeSet::from([a.id, b.id]));
    let (from_a, from_b) = tokio::join!(a.replica.reap(&live), b.replica.reap(&live));
    let mut ids: Vec<Id> = from_a.iter().chain(&from_b).map(|d| d.session.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![31, 32, 33], "each departure reported by exactly one reaper");
    assert!(from_a.is_empty() || from_b.is_empty(), "one PodDown takes them all");
    for p in [&a, &b] {
        assert!(p.replica.reap(&live).await.is_empty());
        assert_eq!(session_ids(&p.replica.read()), BTreeSet::from([1]));
    }
    b.wait_until("A's session only", |r| r.session_count() == 1).await;
    assert_eq!(a.state(), b.state());
}

#[tokio::test]
async fn a_late_pod_reaps_what_a_dead_pod_left() {
    let hub = InProcessHub::new();
    let _a = Pod::new(&hub, REALM).await;
    let b = Pod::new(&hub, REALM).await;
    b.join(9).await;
    b.submit(Op::Testaments { session: 9, testaments: b"t".to_vec() }).await;
    hub.kill(b.id);
    // Nobody reaped B yet: the snapshot still has its session, and the newcomer reaps it.
    let c = Pod::new(&hub, REALM).await;
    assert_eq!(session_ids(&c.replica.read()), BTreeSet::from([9]));
    let live = c.replica.backplane().live_pods().await.unwrap();
    assert!(!live.contains(&b.id));
    let gone = c.replica.reap(&live).await;
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].session, info(9, b.id));
    assert_eq!(gone[0].testaments, b"t".to_vec());
    assert!(c.replica.reap(&live).await.is_empty());
}

#[tokio::test]
async fn a_killed_pod_is_cut_off() {
    let hub = InProcessHub::new();
    let mut a = Pod::new(&hub, REALM).await;
    let mut b = Pod::new(&hub, REALM).await;
    a.drain();
    hub.kill(b.id);
    // Its ops no longer reach the hub: applied on its own replica only.
    assert_eq!(b.submit(Op::Join { session: info(5, b.id) }).await, Outcome::Joined(true));
    assert!(b.replica.read().session(5).is_some());
    assert!(matches!(b.drain().last(), Some(Seen::Applied { op: Op::Join { .. }, mine: true, .. })));
    assert!(a.replica.read().session(5).is_none());
    // Its messages are dropped; nothing reaches it.
    b.replica.send(a.id, Bytes::from_static(b"from the dead"));
    a.replica.send(b.id, Bytes::from_static(b"to the dead"));
    a.join(1).await;
    a.replica.send(a.id, Bytes::from_static(b"marker"));
    loop {
        match a.next().await {
            Seen::Message { from, frame } => {
                assert_eq!((from, frame), (a.id, Bytes::from_static(b"marker")));
                break;
            }
            Seen::Applied { mine: true, .. } => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(b.drain().is_empty());
    assert!(b.replica.read().session(1).is_none());
    // And it cannot open realms any more.
    match Pod::open(b.replica.backplane().clone(), "another").await {
        Err(BackplaneError::Unavailable(_)) => {}
        Ok(_) => panic!("a killed pod opened a realm"),
        Err(e) => panic!("{e}"),
    }
    assert!(!a.replica.backplane().live_pods().await.unwrap().contains(&b.id));
}

#[tokio::test]
async fn append_rejects_undecodable_entries() {
    let hub = InProcessHub::new();
    let a = Pod::new(&hub, REALM).await;
    let err = a.replica.backplane().append(REALM, Bytes::from_static(b"\xc1 not an entry")).await.unwrap_err();
    assert!(matches!(err, BackplaneError::Protocol(_)), "{err:?}");
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}
