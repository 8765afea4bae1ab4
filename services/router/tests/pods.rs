//! Several router pods sharing realms through one backplane, the in-process hub and a real
//! Redis: clients on different pods see one router.
//!
//! Registry changes reach the other pods asynchronously (SUBSCRIBED / REGISTERED mean
//! "shared", not "applied by every pod"), so a test waits on a pod's meta API until that
//! pod sees what it needs, as a client would.

mod common;

use std::sync::Arc;

use common::*;
use std::time::Duration;

use junction_backplane::{Backplane, InProcessHub};
use junction_backplane_redis::testing::unique_prefix;
use junction_backplane_redis::{BackplaneConfig, RedisBackplane, RedisConfig};
use junction_protocol::{Dict, Id, Message, Payload, Serializer, Value, dict};
use junction_router::{Closed, Router, RouterConfig};

/// What the pods share: the in-process hub, or a real Redis (127.0.0.1:6379, a key prefix of
/// the test's own).
#[derive(Clone, Copy)]
enum Kind {
    Hub,
    Redis,
}

enum Medium {
    Hub(Arc<InProcessHub>),
    Redis(Vec<Arc<RedisBackplane>>),
}

impl Medium {
    /// Make pod `i` of `pods` vanish as if its process died.
    fn kill(&self, pods: &[TestRouter], i: usize) {
        match self {
            Medium::Hub(hub) => hub.kill(pods[i].router.pod()),
            Medium::Redis(backplanes) => backplanes[i].halt(),
        }
    }
}

async fn spawn_pod(backplane: Arc<dyn Backplane>) -> TestRouter {
    let name = format!("pod-{}", backplane.pod());
    // Peers have all the time they need to answer a router's GOODBYE: a session that does not
    // stays closing (see `sessions_listed_and_killed_from_another_pod`).
    let config = RouterConfig { goodbye_timeout_ms: 30_000, ..base_config() };
    let router = Router::builder().config(config).backplane(backplane).pod_name(name).build();
    let server = router.bind(Some("127.0.0.1:0".parse().unwrap())).await.expect("bind");
    let (addr, url) = (server.local_addr(), server.ws_url());
    tokio::spawn(server.run());
    TestRouter { router, addr, url }
}

async fn pods(n: usize, kind: Kind) -> (Medium, Vec<TestRouter>) {
    let mut pods = Vec::new();
    match kind {
        Kind::Hub => {
            let hub = InProcessHub::new();
            for _ in 0..n {
                pods.push(spawn_pod(hub.pod()).await);
            }
            (Medium::Hub(hub), pods)
        }
        Kind::Redis => {
            let redis = RedisConfig::single("redis://127.0.0.1:6379").with_prefix(unique_prefix("router-pods"));
            let config = BackplaneConfig { heartbeat_interval: Duration::from_millis(200), heartbeat_ttl: Duration::from_secs(1), ..BackplaneConfig::default() };
            let mut backplanes = Vec::new();
            for _ in 0..n {
                let backplane = RedisBackplane::start(&redis, config.clone()).expect("backplane");
                assert!(backplane.wait_ready(GUARD).await, "Redis backplane ready");
                pods.push(spawn_pod(backplane.clone()).await);
                backplanes.push(backplane);
            }
            (Medium::Redis(backplanes), pods)
        }
    }
}

/// Call a meta procedure until `done` holds for its first result argument.
async fn until(c: &mut Client, procedure: &str, args: Vec<Value>, done: impl Fn(&Value) -> bool) -> Value {
    tokio::time::timeout(GUARD, async {
        loop {
            if let Message::Result { payload, .. } = c.call(procedure, args.clone()).await {
                let v = payload.args.and_then(|a| a.into_iter().next()).unwrap_or(Value::Null);
                if done(&v) {
                    return v;
                }
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the other pods never saw it")
}

async fn pubsub_across_pods(kind: Kind) {
    let (_medium, p) = pods(3, kind).await;
    let (mut exact, exact_id, _) = Client::join(&p[0].url, Serializer::Json).await;
    let (mut prefix, _, _) = Client::join(&p[1].url, Serializer::MsgPack).await;
    let (mut publ, publ_id, _) = Client::join(&p[2].url, Serializer::Cbor).await;
    let sid = exact.subscribe("com.app.topic", Dict::new()).await;
    let pid = prefix.subscribe("com.app", dict([("match", "prefix")])).await;
    // The publisher subscribes too: exclude_me (the default) keeps its own event from it.
    assert_eq!(publ.subscribe("com.app.topic", Dict::new()).await, sid, "one subscription id realm-wide");
    until(&mut publ, "wamp.subscription.count_subscribers", vec![sid.into()], |v| v.as_u64() == Some(2)).await;
    until(&mut publ, "wamp.subscription.lookup", vec!["com.app".into(), Value::dict([("match", "prefix")])], |v| v.as_u64() == Some(pid)).await;

    let payload = Payload::new(Some(vec![1.into(), Value::bytes(vec![0, 1])]), Some(dict([("k", "v")])));
    let reply = publ
        .request(&Message::Publish { request: 3, options: dict([("acknowledge", true), ("disclose_me", true)]), topic: "com.app.topic".into(), payload: payload.clone() })
        .await;
    let Message::Published { publication, .. } = reply else { panic!("{reply:?}") };
    for (c, sub, pattern) in [(&mut exact, sid, false), (&mut prefix, pid, true)] {
        match c.recv().await {
            Some(Message::Event { subscription, publication: got, details, payload: p }) => {
                assert_eq!((subscription, got, &p), (sub, publication, &payload));
                assert_eq!(details.get("publisher").and_then(Value::as_u64), Some(publ_id));
                assert_eq!(details.contains_key("topic"), pattern);
            }
            other => panic!("expected EVENT, got {other:?}"),
        }
    }
    // Black/white lists are applied on the subscribers' pods.
    publ.request(&Message::Publish { request: 4, options: dict([("acknowledge", Value::Bool(true)), ("exclude", Value::List(vec![exact_id.into()]))]), topic: "com.app.topic".into(), payload: Payload::args(vec!["b".into()]) })
        .await;
    publ.request(&Message::Publish { request: 5, options: dict([("acknowledge", Value::Bool(true)), ("eligible", Value::List(vec![exact_id.into()]))]), topic: "com.app.topic".into(), payload: Payload::args(vec!["c".into()]) })
        .await;
    assert!(matches!(prefix.recv().await, Some(Message::Event { payload, .. }) if payload.args == Some(vec!["b".into()])));
    assert!(matches!(exact.recv().await, Some(Message::Event { payload, .. }) if payload.args == Some(vec!["c".into()])));
    // Per-publisher order, across pods.
    for i in 0..50 {
        publ.send(&Message::Publish { request: 100 + i, options: Dict::new(), topic: "com.app.topic".into(), payload: Payload::args(vec![i.into()]) }).await;
    }
    for i in 0..50u64 {
        assert!(matches!(exact.recv().await, Some(Message::Event { payload, .. }) if payload.args == Some(vec![i.into()])));
    }
    // Retained on one pod, replayed on another.
    publ.request(&Message::Publish { request: 6, options: dict([("acknowledge", true), ("retain", true)]), topic: "com.app.kept".into(), payload: Payload::args(vec!["kept".into()]) })
        .await;
    let (mut late, _, _) = Client::join(&p[0].url, Serializer::Json).await;
    late.request(&Message::Subscribe { request: 1, options: dict([("get_retained", true)]), topic: "com.app.kept".into() }).await;
    assert!(matches!(late.recv().await, Some(Message::Event { payload, details, .. })
        if payload.args == Some(vec!["kept".into()]) && details.get("retained") == Some(&Value::Bool(true))));
}

async fn rpc_across_pods(kind: Kind) {
    let (_medium, p) = pods(3, kind).await;
    let (mut callee_a, a_id, _) = Client::join(&p[0].url, Serializer::Json).await;
    let (mut callee_b, b_id, _) = Client::join(&p[1].url, Serializer::MsgPack).await;
    let (mut caller, caller_id, _) = Client::join(&p[2].url, Serializer::Cbor).await;
    let rr = dict([("invoke", "roundrobin")]);
    let reg = callee_a.register("com.app.rr", rr.clone()).await;
    assert_eq!(callee_b.register("com.app.rr", rr).await, reg, "one registration id realm-wide");
    // A conflicting policy is refused whichever pod registered first.
    let reply = callee_b.request(&Message::Register { request: 2, options: dict([("invoke", "first")]), procedure: "com.app.rr".into() }).await;
    assert!(matches!(reply, Message::Error { ref error, .. } if error == "wamp.error.procedure_already_exists"), "{reply:?}");
    until(&mut caller, "wamp.registration.count_callees", vec![reg.into()], |v| v.as_u64() == Some(2)).await;

    // Round-robin alternates over both pods' callees; caller disclosure crosses pods.
    let mut served = Vec::new();
    for i in 0..4u64 {
        caller.send(&Message::Call { request: 10 + i, options: dict([("disclose_me", true)]), procedure: "com.app.rr".into(), payload: Payload::args(vec![i.into()]) }).await;
        let (callee, who) = if i % 2 == 0 { (&mut callee_a, a_id) } else { (&mut callee_b, b_id) };
        let Some(Message::Invocation { request, details, payload, .. }) = callee.recv().await else { panic!("no INVOCATION") };
        assert_eq!(details.get("caller").and_then(Value::as_u64), Some(caller_id));
        callee.send(&Message::Yield { request, options: Dict::new(), payload: Payload::args(vec![who.into(), payload.args.unwrap()[0].clone()]) }).await;
        let Some(Message::Result { request: r, payload, .. }) = caller.recv().await else { panic!("no RESULT") };
        assert_eq!(r, 10 + i);
        served.push(payload.args.unwrap()[0].as_u64().unwrap());
    }
    assert_eq!(served, [a_id, b_id, a_id, b_id]);

    // Errors pass through unchanged; progressive results cross pods.
    let (mut callee_c, _, _) = Client::join(&p[0].url, Serializer::Json).await;
    callee_c.register("com.app.prog", Dict::new()).await;
    until(&mut caller, "wamp.registration.lookup", vec!["com.app.prog".into()], |v| v.as_u64().is_some()).await;
    caller.send(&Message::Call { request: 20, options: dict([("receive_progress", true)]), procedure: "com.app.prog".into(), payload: Payload::default() }).await;
    let Some(Message::Invocation { request, details, .. }) = callee_c.recv().await else { panic!() };
    assert_eq!(details.get("receive_progress"), Some(&Value::Bool(true)));
    callee_c.send(&Message::Yield { request, options: dict([("progress", true)]), payload: Payload::args(vec!["part".into()]) }).await;
    assert!(matches!(caller.recv().await, Some(Message::Result { request: 20, details, .. }) if details.get("progress") == Some(&Value::Bool(true))));
    callee_c
        .send(&Message::Error { request_type: junction_protocol::MessageType::Invocation, request, details: Dict::new(), error: "com.app.oops".into(), payload: Payload::new(Some(vec![1.into()]), Some(dict([("why", "x")]))) })
        .await;
    assert!(matches!(caller.recv().await, Some(Message::Error { request: 20, error, payload, .. })
        if error == "com.app.oops" && payload.kwargs == Some(dict([("why", "x")]))));

    // Cancel reaches the callee's pod as INTERRUPT; timeout likewise.
    caller.send(&Message::Call { request: 30, options: Dict::new(), procedure: "com.app.prog".into(), payload: Payload::default() }).await;
    let Some(Message::Invocation { request, .. }) = callee_c.recv().await else { panic!() };
    caller.send(&Message::Cancel { request: 30, options: dict([("mode", "killnowait")]) }).await;
    assert!(matches!(caller.recv().await, Some(Message::Error { request: 30, error, .. }) if error == "wamp.error.canceled"));
    assert!(matches!(callee_c.recv().await, Some(Message::Interrupt { request: r, .. }) if r == request));
    caller.send(&Message::Call { request: 31, options: dict([("timeout", 50)]), procedure: "com.app.prog".into(), payload: Payload::default() }).await;
    let Some(Message::Invocation { request, .. }) = callee_c.recv().await else { panic!() };
    assert!(matches!(caller.recv().await, Some(Message::Error { request: 31, error, .. }) if error == "wamp.error.timeout"));
    assert!(matches!(callee_c.recv().await, Some(Message::Interrupt { request: r, .. }) if r == request));

    // A callee that leaves mid-call: the caller on another pod hears canceled at once.
    caller.send(&Message::Call { request: 40, options: Dict::new(), procedure: "com.app.prog".into(), payload: Payload::default() }).await;
    let Some(Message::Invocation { .. }) = callee_c.recv().await else { panic!() };
    drop(callee_c);
    assert!(matches!(caller.recv().await, Some(Message::Error { request: 40, error, .. }) if error == "wamp.error.canceled"));
}

async fn session_meta_sees_every_pod(kind: Kind) {
    let (_medium, p) = pods(2, kind).await;
    let (mut admin, admin_id, _) = Client::join(&p[0].url, Serializer::Json).await;
    let (mut other, other_id, _) = Client::join(&p[1].url, Serializer::Json).await;
    let count = until(&mut admin, "wamp.session.count", vec![], |v| v.as_u64() == Some(2)).await;
    assert_eq!(count.as_u64(), Some(2));
    let Message::Result { payload, .. } = admin.call("wamp.session.list", vec![]).await else { panic!() };
    let mut ids: Vec<Id> = payload.args.unwrap()[0].as_list().unwrap().iter().filter_map(Value::as_u64).collect();
    ids.sort_unstable();
    let mut want = vec![admin_id, other_id];
    want.sort_unstable();
    assert_eq!(ids, want);
    let Message::Result { payload, .. } = admin.call("wamp.session.get", vec![other_id.into()]).await else { panic!() };
    assert_eq!(payload.args.unwrap()[0].get("session").and_then(Value::as_u64), Some(other_id));
    // Killing a session of another pod.
    let reply = admin.request(&Message::Call { request: 9, options: Dict::new(), procedure: "wamp.session.kill".into(), payload: Payload::new(Some(vec![other_id.into()]), Some(dict([("reason", "com.app.bye")]))) }).await;
    assert!(matches!(reply, Message::Result { .. }), "{reply:?}");
    assert!(matches!(other.recv().await, Some(Message::Goodbye { reason, .. }) if reason == "com.app.bye"));
    other.send(&Message::Goodbye { details: Dict::new(), reason: "wamp.close.goodbye_and_out".into() }).await;
    until(&mut admin, "wamp.session.count", vec![], |v| v.as_u64() == Some(1)).await;
}

async fn a_dead_pod_is_reaped_and_its_calls_fail(kind: Kind) {
    let (medium, p) = pods(2, kind).await;
    let (mut callee, callee_id, _) = Client::join(&p[0].url, Serializer::Json).await;
    let (mut caller, _, _) = Client::join(&p[1].url, Serializer::Json).await;
    let (mut watcher, _, _) = Client::join(&p[1].url, Serializer::Json).await;
    watcher.subscribe("wamp.session.on_leave", Dict::new()).await;
    watcher.subscribe("com.app.testament", Dict::new()).await;
    callee.request(&Message::Call { request: 2, options: Dict::new(), procedure: "wamp.session.add_testament".into(), payload: Payload::args(vec!["com.app.testament".into(), Value::List(vec!["gone".into()])]) }).await;
    callee.register("com.app.slow", Dict::new()).await;
    until(&mut caller, "wamp.registration.lookup", vec!["com.app.slow".into()], |v| v.as_u64().is_some()).await;
    caller.send(&Message::Call { request: 5, options: Dict::new(), procedure: "com.app.slow".into(), payload: Payload::default() }).await;
    let Some(Message::Invocation { .. }) = callee.recv().await else { panic!() };

    medium.kill(&p, 0);
    // Within a few reaper rounds: the call fails, the testament and on_leave are published
    // once, by the surviving pod, and the registration is gone.
    let reply = tokio::time::timeout(GUARD, caller.recv()).await.expect("call still pending");
    assert!(matches!(reply, Some(Message::Error { request: 5, ref error, .. }) if error == "wamp.error.canceled"), "{reply:?}");
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match watcher.recv().await {
            Some(Message::Event { payload, .. }) => seen.push(payload.args.unwrap()[0].clone()),
            other => panic!("{other:?}"),
        }
    }
    assert!(seen.contains(&Value::from("gone")) && seen.contains(&Value::from(callee_id)), "{seen:?}");
    let reply = caller.call("com.app.slow", vec![]).await;
    assert!(matches!(reply, Message::Error { ref error, .. } if error == "wamp.error.no_such_procedure"), "{reply:?}");
}

/// What the admin API's session directory does: list a realm's sessions from a pod that holds
/// none of them (and has not opened the realm yet), and kill one there.
async fn sessions_listed_and_killed_from_another_pod(kind: Kind) {
    let (_medium, p) = pods(2, kind).await;
    let (a, b) = (&p[0].router, &p[1].router);
    assert!(b.realm("realm1").is_none(), "pod B has not opened the realm");
    let (mut client, client_id, _) = Client::join(&p[0].url, Serializer::Json).await;
    let listed = tokio::time::timeout(GUARD, async {
        loop {
            let sessions = b.realm_sessions("realm1").await.expect("listing");
            if let Some(s) = sessions.into_iter().find(|s| s.session == client_id) {
                return s;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("pod B never listed the session of pod A");
    assert_eq!((listed.pod, listed.pod_name.clone()), (a.pod(), format!("pod-{}", a.pod())));
    assert_eq!((listed.authrole.as_str(), listed.authmethod.as_str()), ("anonymous", "anonymous"));
    assert_ne!(listed.peer.port(), 0, "the client's address, as pod A saw it");
    let age = std::time::SystemTime::now().duration_since(listed.joined_at).expect("joined in the past");
    assert!(age < GUARD, "{age:?}");
    // Pod A lists it the same way.
    let on_a = a.realm_sessions("realm1").await.unwrap();
    assert!(on_a.iter().any(|s| s.session == client_id && s.pod == a.pod()), "{on_a:?}");
    assert!(b.sessions("realm1").is_empty(), "no session of pod B's own");

    let wait = Duration::from_secs(5);
    assert_eq!(b.close_realm_session("realm1", client_id + 1, "wamp.close.killed", None, wait).await.unwrap(), Closed::NoSuchSession);
    assert_eq!(b.close_realm_session("nope", client_id, "wamp.close.killed", None, wait).await.unwrap(), Closed::NoSuchSession);
    // A client that does not answer the GOODBYE: pod A has not closed the session when pod B
    // stops waiting (pod A gives the client 30 s).
    let short = Duration::from_millis(50);
    let kill = b.close_realm_session("realm1", client_id, "wamp.close.killed", Some("from pod B"), short).await.unwrap();
    assert_eq!(kill, Closed::Asked);
    match client.recv().await {
        Some(Message::Goodbye { reason, details }) => {
            assert_eq!(reason, "wamp.close.killed");
            assert_eq!(details.get("message").and_then(Value::as_str), Some("from pod B"));
        }
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    assert!(b.realm_sessions("realm1").await.unwrap().iter().any(|s| s.session == client_id), "still there, closing");

    // Answered: the kill returns once the session has left the realm, on every pod.
    let (mut client, client_id, _) = Client::join(&p[0].url, Serializer::Json).await;
    let listed = async {
        while !b.realm_sessions("realm1").await.unwrap().iter().any(|s| s.session == client_id) {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(GUARD, listed).await.expect("pod B lists the second session");
    let kill = tokio::spawn({
        let b = b.clone();
        async move { b.close_realm_session("realm1", client_id, "wamp.close.killed", None, wait).await.unwrap() }
    });
    match client.recv().await {
        Some(Message::Goodbye { reason, .. }) => assert_eq!(reason, "wamp.close.killed"),
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    client.send(&Message::Goodbye { details: Dict::new(), reason: "wamp.close.goodbye_and_out".into() }).await;
    assert_eq!(kill.await.unwrap(), Closed::Left);
    for pod in [a, b] {
        let left = pod.realm_sessions("realm1").await.unwrap();
        assert!(!left.iter().any(|s| s.session == client_id), "{left:?}");
    }
}

/// A realm's message figures cover every pod: each adds its counts to the realm-wide totals
/// every second; a pod's own figures include what it has not added yet.
async fn message_counters_cover_every_pod(kind: Kind) {
    let (_medium, p) = pods(2, kind).await;
    let (a, b) = (&p[0].router, &p[1].router);
    let (mut client, _, _) = Client::join(&p[0].url, Serializer::Json).await;
    for request in 1..=5 {
        let reply = client
            .request(&Message::Publish { request, options: dict([("acknowledge", true)]), topic: "com.app.counted".into(), payload: Payload::default() })
            .await;
        assert!(matches!(reply, Message::Published { .. }), "{reply:?}");
    }
    // Pod A at once: 5 PUBLISH in; WELCOME and 5 PUBLISHED out.
    let on_a = a.realm_wide_stats("realm1").await.unwrap();
    assert_eq!((on_a.sessions, on_a.messages_in, on_a.messages_out), (1, 5, 6), "{on_a:?}");
    // Pod B, which serves nobody, once pod A has shared its counts.
    let on_b = tokio::time::timeout(GUARD, async {
        loop {
            let s = b.realm_wide_stats("realm1").await.unwrap();
            if s.messages_in == 5 {
                return s;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("pod B sees pod A's counts");
    assert_eq!((on_b.sessions, on_b.messages_in, on_b.messages_out), (1, 5, 6), "{on_b:?}");
    assert_eq!(b.realm_stats("realm1").messages_in, 0, "pod B's own counters");
    // Shared once: pod A's figures do not count its part twice.
    assert_eq!(a.realm_wide_stats("realm1").await.unwrap(), on_a);
}

/// Every scenario on both backplanes: `in_process::<name>` and `on_redis::<name>`.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod in_process {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Kind::Hub).await;
            })*
        }
        mod on_redis {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Kind::Redis).await;
            })*
        }
    };
}

on_both!(pubsub_across_pods, rpc_across_pods, session_meta_sees_every_pod,
    a_dead_pod_is_reaped_and_its_calls_fail,
    sessions_listed_and_killed_from_another_pod,
    message_counters_cover_every_pod,
);
