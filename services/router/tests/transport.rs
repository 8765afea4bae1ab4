//! Transport and session-protocol behaviour, spoken over raw WebSocket.

mod common;

use common::*;
use junction_protocol::{Dict, Message, MessageType, Payload, Serializer, Value, dict};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;

#[tokio::test]
async fn upgrade_without_wamp_subprotocol_is_http_400() {
    let r = spawn_router(base_config()).await;
    for proto in [None, Some("mqtt")] {
        let err = tokio_tungstenite::connect_async(request(&r.url, proto)).await.expect_err("must be refused");
        match err {
            tokio_tungstenite::tungstenite::Error::Http(resp) => {
                assert_eq!(resp.status(), 400);
                let body = String::from_utf8(resp.body().clone().unwrap_or_default()).unwrap();
                assert!(body.contains("wamp.2.json") && body.contains("wamp.2.msgpack") && body.contains("wamp.2.cbor"), "{body}");
            }
            other => panic!("expected HTTP error, got {other:?}"),
        }
    }
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(GUARD, s.read_to_string(&mut out)).await.unwrap().unwrap();
    out
}

#[tokio::test]
async fn health_endpoints() {
    let r = spawn_router(base_config()).await;
    assert!(http_get(r.addr, "/healthz").await.starts_with("HTTP/1.1 200"));
    assert!(http_get(r.addr, "/readyz").await.starts_with("HTTP/1.1 200"));
    assert!(http_get(r.addr, "/nope").await.starts_with("HTTP/1.1 404"));
}

#[tokio::test]
async fn welcome_announces_roles_and_identity() {
    let r = spawn_router(base_config()).await;
    let (_c, session, details) = Client::join(&r.url, Serializer::Json).await;
    assert!((1..=junction_protocol::MAX_ID).contains(&session));
    assert_eq!(details.get("authrole").and_then(Value::as_str), Some("anonymous"));
    assert_eq!(details.get("authmethod").and_then(Value::as_str), Some("anonymous"));
    let broker = details.get("roles").and_then(|r| r.get("broker")).and_then(|b| b.get("features")).unwrap();
    for f in ["publisher_exclusion", "pattern_based_subscription", "subscription_meta_api", "event_retention", "session_meta_api"] {
        assert_eq!(broker.get(f), Some(&Value::Bool(true)), "{f}");
    }
    let dealer = details.get("roles").and_then(|r| r.get("dealer")).and_then(|b| b.get("features")).unwrap();
    for f in ["call_canceling", "call_timeout", "progressive_call_results", "shared_registration", "testament_meta_api"] {
        assert_eq!(dealer.get(f), Some(&Value::Bool(true)), "{f}");
    }
}

#[tokio::test]
async fn unknown_realm_and_refused_anonymous_abort() {
    let mut config = base_config();
    config.realms.push(junction_router::config::RealmEntry { uri: "closed".into(), tenant: "t".into(), anonymous_role: None, principals: vec![] });
    let r = spawn_router(config).await;
    let mut c = Client::connect(&r.url, Serializer::Json).await;
    c.hello("nope", Dict::new()).await;
    c.expect_abort("wamp.error.no_such_realm").await;
    let mut c = Client::connect(&r.url, Serializer::Json).await;
    c.hello("closed", Dict::new()).await;
    c.expect_abort("wamp.error.no_auth_method").await;
}

#[tokio::test]
async fn ticket_authentication() {
    let r = spawn_router(base_config()).await;
    for (ticket, ok) in [("s3cret", true), ("wrong", false)] {
        let mut c = Client::connect(&r.url, Serializer::MsgPack).await;
        c.hello("realm1", dict([("authmethods", Value::List(vec!["ticket".into()])), ("authid", "alice".into())])).await;
        assert!(matches!(c.recv().await, Some(Message::Challenge { authmethod, .. }) if authmethod == "ticket"));
        c.send(&Message::Authenticate { signature: ticket.into(), extra: Dict::new() }).await;
        match c.recv().await {
            Some(Message::Welcome { details, .. }) if ok => {
                assert_eq!(details.get("authid").and_then(Value::as_str), Some("alice"));
                assert_eq!(details.get("authrole").and_then(Value::as_str), Some("user"));
            }
            Some(Message::Abort { reason, .. }) if !ok => assert_eq!(reason, "wamp.error.authentication_failed"),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn message_before_hello_is_a_protocol_violation() {
    let r = spawn_router(base_config()).await;
    let mut c = Client::connect(&r.url, Serializer::Json).await;
    c.send(&Message::Subscribe { request: 1, options: Dict::new(), topic: "com.x".into() }).await;
    c.expect_abort("wamp.error.protocol_violation").await;
}

#[tokio::test]
async fn second_hello_is_a_protocol_violation() {
    let r = spawn_router(base_config()).await;
    let (mut c, _, _) = Client::join(&r.url, Serializer::Cbor).await;
    c.hello("realm1", Dict::new()).await;
    c.expect_abort("wamp.error.protocol_violation").await;
}

#[tokio::test]
async fn unknown_type_and_garbage_are_protocol_violations() {
    let r = spawn_router(base_config()).await;
    let (mut c, _, _) = Client::join(&r.url, Serializer::Json).await;
    c.send_raw(WsMessage::Text("[999, 1, {}]".into())).await;
    c.expect_abort("wamp.error.protocol_violation").await;

    let (mut c, _, _) = Client::join(&r.url, Serializer::Json).await;
    c.send_raw(WsMessage::Text("this is not json".into())).await;
    c.expect_abort("wamp.error.protocol_violation").await;

    let (mut c, _, _) = Client::join(&r.url, Serializer::Json).await;
    c.send_raw(WsMessage::Text("[16, \"not an id\", {}, \"com.x\"]".into())).await;
    c.expect_abort("wamp.error.protocol_violation").await;

    let (mut c, _, _) = Client::join(&r.url, Serializer::MsgPack).await;
    c.send_raw(WsMessage::Binary(vec![0xc1, 0xff, 0x00].into())).await;
    c.expect_abort("wamp.error.protocol_violation").await;

    // Before HELLO too.
    let mut c = Client::connect(&r.url, Serializer::Cbor).await;
    c.send_raw(WsMessage::Binary(vec![0xff; 7].into())).await;
    c.expect_abort("wamp.error.protocol_violation").await;
}

#[tokio::test]
async fn hello_deadline_closes_idle_connections() {
    let mut config = base_config();
    config.hello_timeout_ms = 200;
    let r = spawn_router(config).await;
    let mut c = Client::connect(&r.url, Serializer::Json).await;
    // No HELLO: the router gives up on its own (GUARD is only the failure guard).
    c.expect_abort("wamp.error.protocol_violation").await;
    assert_eq!(r.router.metrics().hello_timeouts.get(), 1);
}

/// Read one server-to-client (unmasked) WebSocket frame: (opcode, payload).
async fn read_frame(s: &mut tokio::net::TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut h = [0u8; 2];
    s.read_exact(&mut h).await.ok()?;
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b).await.ok()?;
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b).await.ok()?;
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).await.ok()?;
    Some((h[0] & 0x0f, payload))
}

/// A raw WebSocket handshake (wamp.2.json), for tests that need to misbehave at frame level.
async fn raw_connect(addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wamp.2.json\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.unwrap();
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    s
}

/// A masked client text frame.
fn client_frame(payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut f = vec![0x81, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    f.extend_from_slice(payload); // zero mask key: payload unchanged
    f
}

#[tokio::test]
async fn silent_peers_are_pinged_then_dropped() {
    let mut config = base_config();
    config.ping_interval_ms = 50;
    config.ping_timeout_ms = 100;
    let r = spawn_router(config).await;
    let mut s = raw_connect(r.addr).await;
    s.write_all(&client_frame(br#"[1,"realm1",{}]"#)).await.unwrap();
    let (op, _) = read_frame(&mut s).await.unwrap();
    assert_eq!(op, 1); // WELCOME
    // We never answer pings: the router pings, then closes with 1001.
    let mut pings = 0;
    loop {
        let (op, payload) = tokio::time::timeout(GUARD, read_frame(&mut s)).await.unwrap().expect("frame");
        match op {
            9 => pings += 1,
            8 => {
                assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1001);
                break;
            }
            other => panic!("unexpected opcode {other}"),
        }
    }
    assert!(pings >= 1);
}

#[tokio::test]
async fn oversize_frame_is_refused_from_its_header() {
    let mut config = base_config();
    config.max_message_size = 64 * 1024;
    let r = spawn_router(config).await;
    // Raw handshake, so we can announce a 1 GiB frame and send only its first bytes: the
    // router must answer at once, without waiting for (or allocating) the payload.
    let mut s = raw_connect(r.addr).await;
    let mut frame = vec![0x81, 0x80 | 127];
    frame.extend_from_slice(&(1u64 << 30).to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]); // mask key
    frame.extend_from_slice(b"[1,\"realm1\"");
    s.write_all(&frame).await.unwrap();

    let (op, payload) = tokio::time::timeout(GUARD, read_frame(&mut s)).await.unwrap().expect("ABORT frame");
    assert_eq!(op, 1);
    let abort = junction_protocol::decode(&payload, Serializer::Json).unwrap();
    assert!(matches!(abort, Message::Abort { reason, .. } if reason == "wamp.error.protocol_violation"));
    let (op, payload) = tokio::time::timeout(GUARD, read_frame(&mut s)).await.unwrap().expect("close frame");
    assert_eq!(op, 8);
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 1009);
}

#[tokio::test]
async fn violators_do_not_disturb_other_sessions() {
    let r = spawn_router(base_config()).await;
    let (mut sub, _, _) = Client::join(&r.url, Serializer::Json).await;
    let sub_id = sub.subscribe("com.app.t", Dict::new()).await;
    let (mut bad, _, _) = Client::join(&r.url, Serializer::Json).await;
    bad.send_raw(WsMessage::Text("garbage".into())).await;
    bad.expect_abort("wamp.error.protocol_violation").await;
    let (mut publ, _, _) = Client::join(&r.url, Serializer::MsgPack).await;
    let reply = publ
        .request(&Message::Publish { request: 3, options: dict([("acknowledge", true)]), topic: "com.app.t".into(), payload: Payload::args(vec!["hi".into()]) })
        .await;
    assert!(matches!(reply, Message::Published { request: 3, .. }));
    assert!(matches!(sub.recv().await, Some(Message::Event { subscription, .. }) if subscription == sub_id));
}

#[tokio::test]
async fn goodbye_is_answered_with_goodbye_and_out() {
    let r = spawn_router(base_config()).await;
    let (mut c, _, _) = Client::join(&r.url, Serializer::Json).await;
    c.send(&Message::Goodbye { details: Dict::new(), reason: "wamp.close.close_realm".into() }).await;
    assert!(matches!(c.recv().await, Some(Message::Goodbye { reason, .. }) if reason == "wamp.close.goodbye_and_out"));
    c.recv_close().await;
}

#[tokio::test]
async fn kill_by_authid_sends_goodbye_and_session_leaves() {
    let r = spawn_router(base_config()).await;
    let (mut watcher, _, _) = Client::join(&r.url, Serializer::Json).await;
    watcher.subscribe("wamp.session.on_leave", Dict::new()).await;
    let mut c = Client::connect(&r.url, Serializer::Json).await;
    c.hello("realm1", dict([("authmethods", Value::List(vec!["ticket".into()])), ("authid", "alice".into())])).await;
    c.recv().await;
    c.send(&Message::Authenticate { signature: "s3cret".into(), extra: Dict::new() }).await;
    let Some(Message::Welcome { session, .. }) = c.recv().await else { panic!() };

    assert_eq!(r.router.kill_by_authid("realm1", "alice", "wamp.close.revoked"), vec![session]);
    assert!(matches!(c.recv().await, Some(Message::Goodbye { reason, .. }) if reason == "wamp.close.revoked"));
    c.send(&Message::Goodbye { details: Dict::new(), reason: "wamp.close.goodbye_and_out".into() }).await;
    c.recv_close().await;
    match watcher.recv().await {
        Some(Message::Event { payload, .. }) => assert_eq!(payload.args.unwrap()[0], Value::from(session)),
        other => panic!("expected on_leave, got {other:?}"),
    }
}

#[tokio::test]
async fn graceful_shutdown_says_goodbye() {
    let r = spawn_router(base_config()).await;
    let (mut c, _, _) = Client::join(&r.url, Serializer::Json).await;
    r.router.shutdown();
    assert!(matches!(c.recv().await, Some(Message::Goodbye { reason, .. }) if reason == "wamp.close.system_shutdown"));
    let _ = MessageType::Goodbye;
}
