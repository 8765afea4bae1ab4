//! Test helpers: a router on 127.0.0.1:0 and a raw WAMP-over-WebSocket client.
#![allow(dead_code)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use junction_protocol::{Dict, Id, Message, Serializer, Value, decode, dict, encode};
use junction_router::config::{Principal, RealmEntry};
use junction_router::{Router, RouterConfig};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Failure guard for every wait: tests never sleep to synchronise.
pub const GUARD: Duration = Duration::from_secs(10);

pub struct TestRouter {
    pub router: Router,
    pub addr: std::net::SocketAddr,
    pub url: String,
}

pub fn base_config() -> RouterConfig {
    RouterConfig {
        realms: vec![RealmEntry {
            uri: "realm1".into(),
            tenant: "default".into(),
            anonymous_role: Some("anonymous".into()),
            principals: vec![Principal { authid: "alice".into(), ticket: "s3cret".into(), role: "user".into() }],
        }],
        ..Default::default()
    }
}

pub async fn spawn_router(config: RouterConfig) -> TestRouter {
    let router = Router::builder().config(config).build();
    let server = router.bind(Some("127.0.0.1:0".parse().unwrap())).await.expect("bind");
    let addr = server.local_addr();
    let url = server.ws_url();
    tokio::spawn(server.run());
    TestRouter { router, addr, url }
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub ser: Serializer,
}

pub fn request(url: &str, subprotocol: Option<&str>) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let mut req = url.into_client_request().unwrap();
    if let Some(p) = subprotocol {
        req.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_str(p).unwrap());
    }
    req
}

impl Client {
    pub async fn connect(url: &str, ser: Serializer) -> Client {
        let (ws, resp) = tokio::time::timeout(GUARD, tokio_tungstenite::connect_async(request(url, Some(ser.subprotocol()))))
            .await
            .expect("connect in time")
            .expect("connect");
        assert_eq!(resp.headers().get("sec-websocket-protocol").unwrap(), ser.subprotocol());
        Client { ws, ser }
    }

    /// Connect over a socket with a tiny receive buffer (a client that reads slowly).
    pub async fn connect_small_rcvbuf(url: &str, addr: std::net::SocketAddr, ser: Serializer) -> Client {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let stream = socket.connect(addr).await.unwrap();
        let (ws, _) = tokio_tungstenite::client_async(request(url, Some(ser.subprotocol())), MaybeTlsStream::Plain(stream)).await.unwrap();
        Client { ws, ser }
    }

    pub async fn send(&mut self, msg: &Message) {
        let frame = encode(msg, self.ser);
        let ws = if self.ser.is_binary() { WsMessage::Binary(frame) } else { WsMessage::Text(String::from_utf8(frame.to_vec()).unwrap().into()) };
        self.ws.send(ws).await.expect("send");
    }

    pub async fn send_raw(&mut self, msg: WsMessage) {
        let _ = self.ws.send(msg).await;
    }

    /// Next WAMP message; `None` when the connection closed.
    pub async fn recv(&mut self) -> Option<Message> {
        loop {
            let item = tokio::time::timeout(GUARD, self.ws.next()).await.expect("message in time");
            match item {
                Some(Ok(WsMessage::Text(t))) => return Some(decode(t.as_bytes(), self.ser).expect("router sent a valid message")),
                Some(Ok(WsMessage::Binary(b))) => return Some(decode(&b, self.ser).expect("router sent a valid message")),
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Read until the close frame; returns it (None if the connection just ended).
    pub async fn recv_close(&mut self) -> Option<CloseFrame> {
        loop {
            match tokio::time::timeout(GUARD, self.ws.next()).await.expect("close in time") {
                Some(Ok(WsMessage::Close(frame))) => return frame,
                None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    pub async fn expect_abort(&mut self, reason: &str) {
        match self.recv().await {
            Some(Message::Abort { reason: r, .. }) => assert_eq!(r, reason),
            other => panic!("expected ABORT {reason}, got {other:?}"),
        }
        // And then the connection closes.
        self.recv_close().await;
    }

    pub async fn hello(&mut self, realm: &str, details: Dict) {
        self.send(&Message::Hello { realm: realm.into(), details }).await;
    }

    /// HELLO anonymously on realm1; returns the session id and WELCOME details.
    pub async fn join(url: &str, ser: Serializer) -> (Client, Id, Dict) {
        let mut c = Client::connect(url, ser).await;
        c.hello("realm1", hello_details()).await;
        match c.recv().await {
            Some(Message::Welcome { session, details }) => (c, session, details),
            other => panic!("expected WELCOME, got {other:?}"),
        }
    }

    /// Send a request and wait for the reply, skipping EVENTs.
    pub async fn request(&mut self, msg: &Message) -> Message {
        self.send(msg).await;
        loop {
            match self.recv().await {
                Some(Message::Event { .. }) => continue,
                Some(m) => return m,
                None => panic!("connection closed while waiting for a reply"),
            }
        }
    }

    pub async fn subscribe(&mut self, topic: &str, options: Dict) -> Id {
        match self.request(&Message::Subscribe { request: 1, options, topic: topic.into() }).await {
            Message::Subscribed { subscription, .. } => subscription,
            other => panic!("expected SUBSCRIBED, got {other:?}"),
        }
    }

    pub async fn register(&mut self, procedure: &str, options: Dict) -> Id {
        match self.request(&Message::Register { request: 1, options, procedure: procedure.into() }).await {
            Message::Registered { registration, .. } => registration,
            other => panic!("expected REGISTERED, got {other:?}"),
        }
    }

    pub async fn call(&mut self, procedure: &str, args: Vec<Value>) -> Message {
        self.request(&Message::Call { request: 7, options: Dict::new(), procedure: procedure.into(), payload: junction_protocol::Payload::args(args) }).await
    }
}

pub fn hello_details() -> Dict {
    let features = |names: &[&str]| Value::dict([("features", Value::Dict(names.iter().map(|n| (n.to_string(), Value::Bool(true))).collect()))]);
    dict([(
        "roles",
        Value::dict([
            ("publisher", features(&[])),
            ("subscriber", features(&[])),
            ("caller", features(&["call_canceling", "progressive_call_results"])),
            ("callee", features(&["call_canceling", "progressive_call_results"])),
        ]),
    )])
}
