//! Pub/sub, RPC and meta API end to end, over raw WebSocket in every serializer.

mod common;

use common::*;
use junction_protocol::{Dict, Message, MessageType, Payload, Serializer, Value, dict};

fn publish(request: u64, topic: &str, options: Dict, args: Vec<Value>) -> Message {
    Message::Publish { request, options, topic: topic.into(), payload: Payload::args(args) }
}

#[tokio::test]
async fn pubsub_round_trip_in_every_serializer() {
    let r = spawn_router(base_config()).await;
    for sub_ser in Serializer::ALL {
        for pub_ser in Serializer::ALL {
            let (mut sub, _, _) = Client::join(&r.url, sub_ser).await;
            let (mut publ, _, _) = Client::join(&r.url, pub_ser).await;
            let sid = sub.subscribe("com.app.event", Dict::new()).await;
            let payload = Payload::new(Some(vec![1.into(), "two".into(), Value::bytes(vec![0, 1, 2])]), Some(dict([("k", 3.5)])));
            let reply = publ
                .request(&Message::Publish { request: 9, options: dict([("acknowledge", true)]), topic: "com.app.event".into(), payload: payload.clone() })
                .await;
            let Message::Published { publication, .. } = reply else { panic!("{reply:?}") };
            match sub.recv().await {
                Some(Message::Event { subscription, publication: p, payload: got, .. }) => {
                    assert_eq!((subscription, p), (sid, publication));
                    assert_eq!(got, payload, "{sub_ser} <- {pub_ser}");
                }
                other => panic!("expected EVENT, got {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn rpc_round_trip_in_every_serializer() {
    let r = spawn_router(base_config()).await;
    for callee_ser in Serializer::ALL {
        for caller_ser in Serializer::ALL {
            let (mut callee, _, _) = Client::join(&r.url, callee_ser).await;
            let (mut caller, _, _) = Client::join(&r.url, caller_ser).await;
            let reg = callee.register("com.app.add", Dict::new()).await;
            caller.send(&Message::Call { request: 5, options: Dict::new(), procedure: "com.app.add".into(), payload: Payload::args(vec![2.into(), 3.into()]) }).await;
            let Some(Message::Invocation { request, registration, payload, .. }) = callee.recv().await else { panic!() };
            assert_eq!(registration, reg);
            let sum: i64 = payload.args.unwrap().iter().filter_map(Value::as_i64).sum();
            callee.send(&Message::Yield { request, options: Dict::new(), payload: Payload::args(vec![sum.into()]) }).await;
            assert!(matches!(caller.recv().await, Some(Message::Result { request: 5, payload, .. }) if payload.args == Some(vec![5.into()])));
        }
    }
}

#[tokio::test]
async fn pattern_subscriptions_get_topic_and_share_ids() {
    let r = spawn_router(base_config()).await;
    let (mut a, _, _) = Client::join(&r.url, Serializer::Json).await;
    let (mut b, _, _) = Client::join(&r.url, Serializer::Json).await;
    let prefix = dict([("match", "prefix")]);
    let ida = a.subscribe("com.app", prefix.clone()).await;
    let idb = b.subscribe("com.app", prefix).await;
    assert_eq!(ida, idb);
    let wild = b.subscribe("com..x", dict([("match", "wildcard")])).await;
    let (mut p, _, _) = Client::join(&r.url, Serializer::Json).await;
    p.request(&publish(1, "com.app.x", dict([("acknowledge", true)]), vec![])).await;
    for c in [&mut a, &mut b] {
        match c.recv().await {
            Some(Message::Event { subscription, details, .. }) => {
                assert_eq!(subscription, ida);
                assert_eq!(details.get("topic").and_then(Value::as_str), Some("com.app.x"));
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(b.recv().await, Some(Message::Event { subscription, .. }) if subscription == wild));
}

#[tokio::test]
async fn exclusion_lists_disclosure_and_retention() {
    let r = spawn_router(base_config()).await;
    let (mut p, pid, _) = Client::join(&r.url, Serializer::Json).await;
    let (mut s1, s1id, _) = Client::join(&r.url, Serializer::Json).await;
    let (mut s2, _, _) = Client::join(&r.url, Serializer::Json).await;
    p.subscribe("com.t", Dict::new()).await;
    s1.subscribe("com.t", Dict::new()).await;
    s2.subscribe("com.t", Dict::new()).await;

    // exclude_me=false + exclude s1 + disclose_me: p and s2 get it, with publisher identity.
    let opts = dict([
        ("acknowledge", Value::Bool(true)),
        ("exclude_me", false.into()),
        ("exclude", Value::List(vec![s1id.into()])),
        ("disclose_me", true.into()),
    ]);
    p.send(&publish(1, "com.t", opts, vec![1.into()])).await;
    let mut got_event = false;
    let mut got_ack = false;
    while !(got_event && got_ack) {
        match p.recv().await {
            Some(Message::Event { .. }) => got_event = true,
            Some(Message::Published { .. }) => got_ack = true,
            other => panic!("{other:?}"),
        }
    }
    match s2.recv().await {
        Some(Message::Event { details, .. }) => {
            assert_eq!(details.get("publisher").and_then(Value::as_u64), Some(pid));
            assert_eq!(details.get("publisher_authrole").and_then(Value::as_str), Some("anonymous"));
        }
        other => panic!("{other:?}"),
    }
    // eligible = s1 only; default exclude_me.
    p.request(&publish(2, "com.t", dict([("acknowledge", Value::Bool(true)), ("eligible", Value::List(vec![s1id.into()]))]), vec![2.into()])).await;
    assert!(matches!(s1.recv().await, Some(Message::Event { payload, .. }) if payload.args == Some(vec![2.into()])));

    // Retention: a late subscriber asking for it gets the last retained event.
    p.request(&publish(3, "com.r", dict([("acknowledge", Value::Bool(true)), ("retain", true.into())]), vec!["kept".into()])).await;
    let (mut late, _, _) = Client::join(&r.url, Serializer::Cbor).await;
    let sid = late.subscribe("com.r", dict([("get_retained", true)])).await;
    match late.recv().await {
        Some(Message::Event { subscription, details, payload, .. }) => {
            assert_eq!(subscription, sid);
            assert_eq!(details.get("retained"), Some(&Value::Bool(true)));
            assert_eq!(payload.args, Some(vec!["kept".into()]));
        }
        other => panic!("{other:?}"),
    }
    // s2 never saw publication 2 (not eligible): its next message is the reply to this.
    s2.send(&Message::Call { request: 4, options: Dict::new(), procedure: "wamp.session.count".into(), payload: Payload::default() }).await;
    assert!(matches!(s2.recv().await, Some(Message::Result { request: 4, .. })));
}

#[tokio::test]
async fn rpc_errors_pass_through_and_registration_rules() {
    let r = spawn_router(base_config()).await;
    let (mut callee, _, _) = Client::join(&r.url, Serializer::Json).await;
    let (mut other, _, _) = Client::join(&r.url, Serializer::Json).await;
    let (mut caller, _, _) = Client::join(&r.url, Serializer::MsgPack).await;

    assert!(matches!(caller.call("com.none", vec![]).await, Message::Error { error, .. } if error == "wamp.error.no_such_procedure"));
    callee.register("com.p", Dict::new()).await;
    let dup = other.request(&Message::Register { request: 2, options: Dict::new(), procedure: "com.p".into() }).await;
    assert!(matches!(dup, Message::Error { error, .. } if error == "wamp.error.procedure_already_exists"));
    callee.register("com.rr", dict([("invoke", "roundrobin")])).await;
    let conflict = other.request(&Message::Register { request: 3, options: dict([("invoke", "random")]), procedure: "com.rr".into() }).await;
    assert!(matches!(conflict, Message::Error { error, .. } if error == "wamp.error.procedure_exists_with_different_invocation_policy"));
    let reserved = other.request(&Message::Register { request: 4, options: Dict::new(), procedure: "wamp.mine".into() }).await;
    assert!(matches!(reserved, Message::Error { error, .. } if error == "wamp.error.invalid_uri"));

    // Application error with args/kwargs passed through unchanged.
    caller.send(&Message::Call { request: 8, options: Dict::new(), procedure: "com.p".into(), payload: Payload::default() }).await;
    let Some(Message::Invocation { request, .. }) = callee.recv().await else { panic!() };
    let payload = Payload::new(Some(vec!["bad".into(), 1.into()]), Some(dict([("why", "because")])));
    callee
        .send(&Message::Error { request_type: MessageType::Invocation, request, details: Dict::new(), error: "com.app.error.oops".into(), payload: payload.clone() })
        .await;
    match caller.recv().await {
        Some(Message::Error { request_type: MessageType::Call, request: 8, error, payload: p, .. }) => {
            assert_eq!(error, "com.app.error.oops");
            assert_eq!(p, payload);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn shared_roundrobin_and_caller_disclosure() {
    let r = spawn_router(base_config()).await;
    let (mut c1, c1id, _) = Client::join(&r.url, Serializer::Json).await;
    let (mut c2, c2id, _) = Client::join(&r.url, Serializer::Json).await;
    let (mut caller, caller_id, _) = Client::join(&r.url, Serializer::Json).await;
    let reg1 = c1.register("com.rr", dict([("invoke", "roundrobin")])).await;
    let reg2 = c2.register("com.rr", dict([("invoke", "roundrobin")])).await;
    assert_eq!(reg1, reg2);
    let mut served = Vec::new();
    for i in 0..4u64 {
        caller.send(&Message::Call { request: i + 1, options: dict([("disclose_me", true)]), procedure: "com.rr".into(), payload: Payload::default() }).await;
        // Whoever is invoked answers.
        let (who, c) = if i % 2 == 0 { (c1id, &mut c1) } else { (c2id, &mut c2) };
        let Some(Message::Invocation { request, details, .. }) = c.recv().await else { panic!() };
        assert_eq!(details.get("caller").and_then(Value::as_u64), Some(caller_id));
        c.send(&Message::Yield { request, options: Dict::new(), payload: Payload::default() }).await;
        served.push(who);
        assert!(matches!(caller.recv().await, Some(Message::Result { .. })));
    }
    assert_eq!(served, [c1id, c2id, c1id, c2id]);
}

#[tokio::test]
async fn progressive_results_timeout_and_cancel() {
    let r = spawn_router(base_config()).await;
    let (mut callee, _, _) = Client::join(&r.url, Serializer::Json).await;
    let (mut caller, _, _) = Client::join(&r.url, Serializer::Json).await;
    callee.register("com.slow", dict([("match", "prefix")])).await;

    // Progressive results.
    caller.send(&Message::Call { request: 1, options: dict([("receive_progress", true)]), procedure: "com.slow.p".into(), payload: Payload::default() }).await;
    let Some(Message::Invocation { request, details, .. }) = callee.recv().await else { panic!() };
    assert_eq!(details.get("receive_progress"), Some(&Value::Bool(true)));
    assert_eq!(details.get("procedure").and_then(Value::as_str), Some("com.slow.p"));
    callee.send(&Message::Yield { request, options: dict([("progress", true)]), payload: Payload::args(vec![1.into()]) }).await;
    callee.send(&Message::Yield { request, options: Dict::new(), payload: Payload::args(vec![2.into()]) }).await;
    assert!(matches!(caller.recv().await, Some(Message::Result { request: 1, details, .. }) if details.get("progress") == Some(&Value::Bool(true))));
    assert!(matches!(caller.recv().await, Some(Message::Result { request: 1, details, .. }) if !details.contains_key("progress")));

    // Timeout (ms): the caller gets wamp.error.timeout and the callee an INTERRUPT.
    caller.send(&Message::Call { request: 2, options: dict([("timeout", 50)]), procedure: "com.slow.t".into(), payload: Payload::default() }).await;
    let Some(Message::Invocation { request, .. }) = callee.recv().await else { panic!() };
    assert!(matches!(caller.recv().await, Some(Message::Error { request: 2, error, .. }) if error == "wamp.error.timeout"));
    assert!(matches!(callee.recv().await, Some(Message::Interrupt { request: r, .. }) if r == request));

    // Cancel, killnowait: error at once, INTERRUPT to the callee, its late answer dropped.
    caller.send(&Message::Call { request: 3, options: Dict::new(), procedure: "com.slow.c".into(), payload: Payload::default() }).await;
    let Some(Message::Invocation { request, .. }) = callee.recv().await else { panic!() };
    caller.send(&Message::Cancel { request: 3, options: dict([("mode", "killnowait")]) }).await;
    assert!(matches!(caller.recv().await, Some(Message::Error { request: 3, error, .. }) if error == "wamp.error.canceled"));
    assert!(matches!(callee.recv().await, Some(Message::Interrupt { options, .. }) if options.get("mode").and_then(Value::as_str) == Some("killnowait")));
    callee.send(&Message::Yield { request, options: Dict::new(), payload: Payload::default() }).await;

    // Cancel, kill: the callee's ERROR is what the caller gets.
    caller.send(&Message::Call { request: 4, options: Dict::new(), procedure: "com.slow.k".into(), payload: Payload::default() }).await;
    let Some(Message::Invocation { request, .. }) = callee.recv().await else { panic!() };
    caller.send(&Message::Cancel { request: 4, options: dict([("mode", "kill")]) }).await;
    assert!(matches!(callee.recv().await, Some(Message::Interrupt { options, .. }) if options.get("mode").and_then(Value::as_str) == Some("kill")));
    callee
        .send(&Message::Error { request_type: MessageType::Invocation, request, details: Dict::new(), error: "wamp.error.canceled".into(), payload: Payload::default() })
        .await;
    // The dropped YIELD of call 3 produced nothing, so the next message is call 4's error.
    assert!(matches!(caller.recv().await, Some(Message::Error { request: 4, error, .. }) if error == "wamp.error.canceled"));
}

#[tokio::test]
async fn callee_leaving_mid_call_cancels_at_once() {
    let r = spawn_router(base_config()).await;
    for reset in [false, true] {
        let (mut callee, _, _) = Client::join(&r.url, Serializer::Json).await;
        let (mut caller, _, _) = Client::join(&r.url, Serializer::Json).await;
        callee.register("com.gone", Dict::new()).await;
        caller.send(&Message::Call { request: 1, options: Dict::new(), procedure: "com.gone".into(), payload: Payload::default() }).await;
        assert!(matches!(callee.recv().await, Some(Message::Invocation { .. })));
        if reset {
            // Abortive close (RST), as a crashed client or asyncio's transport.abort() does.
            if let tokio_tungstenite::MaybeTlsStream::Plain(tcp) = callee.ws.get_ref() {
                // Deprecated because a non-zero linger blocks on drop; zero is what we want.
                #[allow(deprecated)]
                tcp.set_linger(Some(std::time::Duration::ZERO)).unwrap();
            }
        }
        drop(callee); // connection dropped, no GOODBYE
        assert!(matches!(caller.recv().await, Some(Message::Error { request: 1, error, .. }) if error == "wamp.error.canceled"));
        assert!(matches!(caller.call("com.gone", vec![]).await, Message::Error { error, .. } if error == "wamp.error.no_such_procedure"));
    }
}

#[tokio::test]
async fn meta_api_and_testament() {
    let r = spawn_router(base_config()).await;
    let (mut admin, admin_id, _) = Client::join(&r.url, Serializer::Json).await;
    admin.subscribe("wamp.session.on_join", Dict::new()).await;
    admin.subscribe("com.testament", Dict::new()).await;
    admin.subscribe("wamp.subscription.on_create", Dict::new()).await;

    // The admin's own subscription to on_create is announced too: skip it.
    assert!(matches!(admin.recv().await, Some(Message::Event { .. })));
    let (mut other, other_id, _) = Client::join(&r.url, Serializer::MsgPack).await;
    assert!(matches!(admin.recv().await, Some(Message::Event { payload, .. })
        if payload.args.as_ref().and_then(|a| a[0].get("session")).and_then(Value::as_u64) == Some(other_id)));

    let count = admin.call("wamp.session.count", vec![]).await;
    assert!(matches!(count, Message::Result { payload, .. } if payload.args == Some(vec![2.into()])));
    let list = admin.call("wamp.session.list", vec![]).await;
    let Message::Result { payload, .. } = list else { panic!() };
    let mut ids: Vec<u64> = payload.args.unwrap()[0].as_list().unwrap().iter().filter_map(Value::as_u64).collect();
    ids.sort();
    let mut want = vec![admin_id, other_id];
    want.sort();
    assert_eq!(ids, want);
    let get = admin.call("wamp.session.get", vec![other_id.into()]).await;
    assert!(matches!(get, Message::Result { payload, .. } if payload.args.as_ref().unwrap()[0].get("authrole").and_then(Value::as_str) == Some("anonymous")));
    assert!(matches!(admin.call("wamp.session.get", vec![1.into()]).await, Message::Error { error, .. } if error == "wamp.error.no_such_session"));

    // Subscription meta API.
    let sid = other.subscribe("com.meta.t", Dict::new()).await;
    let on_create = admin.recv().await;
    assert!(matches!(on_create, Some(Message::Event { payload, .. }) if payload.args.as_ref().map(|a| a[0].clone()) == Some(other_id.into())));
    assert!(matches!(admin.call("wamp.subscription.lookup", vec!["com.meta.t".into()]).await, Message::Result { payload, .. } if payload.args == Some(vec![sid.into()])));
    assert!(matches!(admin.call("wamp.subscription.list_subscribers", vec![sid.into()]).await, Message::Result { payload, .. } if payload.args == Some(vec![Value::List(vec![other_id.into()])])));
    assert!(matches!(admin.call("wamp.subscription.count_subscribers", vec![sid.into()]).await, Message::Result { payload, .. } if payload.args == Some(vec![1.into()])));
    assert!(matches!(admin.call("wamp.subscription.get", vec![sid.into()]).await, Message::Result { payload, .. } if payload.args.as_ref().unwrap()[0].get("uri").and_then(Value::as_str) == Some("com.meta.t")));

    // Registration meta API.
    let reg = other.register("com.meta.p", Dict::new()).await;
    assert!(matches!(admin.call("wamp.registration.match", vec!["com.meta.p".into()]).await, Message::Result { payload, .. } if payload.args == Some(vec![reg.into()])));
    assert!(matches!(admin.call("wamp.registration.count_callees", vec![reg.into()]).await, Message::Result { payload, .. } if payload.args == Some(vec![1.into()])));

    // Testament: published when the session goes away (here: killed by the admin).
    let t = other.call("wamp.session.add_testament", vec!["com.testament".into(), Value::List(vec!["bye".into()]), Value::Dict(Dict::new())]).await;
    assert!(matches!(t, Message::Result { .. }), "{t:?}");
    let killed = admin.call("wamp.session.kill", vec![other_id.into()]).await;
    assert!(matches!(killed, Message::Result { .. }), "{killed:?}");
    assert!(matches!(other.recv().await, Some(Message::Goodbye { reason, .. }) if reason == "wamp.close.normal"));
    drop(other);
    match admin.recv().await {
        Some(Message::Event { payload, .. }) => assert_eq!(payload.args, Some(vec!["bye".into()])),
        other => panic!("expected testament, got {other:?}"),
    }
    assert!(matches!(admin.call("wamp.session.count", vec![]).await, Message::Result { payload, .. } if payload.args == Some(vec![1.into()])));
}

#[tokio::test]
async fn slow_consumer_is_closed_while_fast_one_keeps_receiving() {
    let mut config = base_config();
    config.outbound_queue_messages = 64;
    config.outbound_queue_bytes = 1 << 20;
    let r = spawn_router(config).await;
    let slow = Client::connect_small_rcvbuf(&r.url, r.addr, Serializer::MsgPack).await;
    let mut slow = slow;
    slow.hello("realm1", hello_details()).await;
    assert!(matches!(slow.recv().await, Some(Message::Welcome { .. })));
    slow.subscribe("com.firehose", Dict::new()).await;
    let (mut fast, _, _) = Client::join(&r.url, Serializer::MsgPack).await;
    fast.subscribe("com.firehose", Dict::new()).await;
    let (mut publ, _, _) = Client::join(&r.url, Serializer::MsgPack).await;

    // 400 x 64 KiB = 25 MiB: far more than the kernel buffers plus the 1 MiB queue. The
    // publisher waits for each acknowledgement and the fast subscriber reads each event,
    // so only the slow one (which never reads) falls behind.
    let blob = Value::bytes(vec![7u8; 64 * 1024]);
    for i in 0..400u64 {
        let reply = publ.request(&publish(i + 1, "com.firehose", dict([("acknowledge", true)]), vec![blob.clone()])).await;
        assert!(matches!(reply, Message::Published { .. }), "{reply:?}");
        assert!(matches!(fast.recv().await, Some(Message::Event { .. })), "fast subscriber lost event {i}");
    }
    assert!(r.router.metrics().slow_consumer_closes.get() >= 1);
    assert_eq!(r.router.realm("realm1").unwrap().session_count(), 2);
    // The slow client finds, after what was buffered, the 1008 close.
    let frame = slow.recv_close().await.expect("close frame");
    assert_eq!(u16::from(frame.code), 1008);
}
