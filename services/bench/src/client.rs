//! A small, fast WAMP client for load generation.
//!
//! One [`Conn`] is one WebSocket connection and one joined WAMP session. The opening
//! handshake (subprotocol negotiation) is done by tokio-tungstenite; after it the
//! connection speaks frames itself ([`crate::ws`]): a read fills one buffer and every
//! complete message in it is handed to the caller as a slice (no allocation per
//! message); replies are framed into one write buffer that is flushed once per batch.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use junction_protocol::codec::{self, Serializer};
use junction_protocol::{Dict, Id, Message, Payload, Value, dict};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::wire::Format;
use crate::ws::{self, Decoder, Incoming};

/// The largest message the bench accepts from the router.
const MAX_MESSAGE: usize = 16 << 20;

/// How a connection reaches the router and joins.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `ws://host:port/path` (the bench does not speak TLS: run it next to the router).
    pub url: String,
    pub realm: String,
    pub authid: Option<String>,
    /// WAMP-Ticket secret; without it the session asks for `anonymous`.
    pub ticket: Option<String>,
    /// Local address to bind before connecting (spreads ports over 127.0.0.x).
    pub source_ip: Option<IpAddr>,
    /// Initial read buffer capacity (small for idle sessions, large for hot ones).
    pub read_buffer: usize,
    /// Deadline for TCP connect + WebSocket handshake + HELLO..WELCOME.
    pub timeout: Duration,
}

impl ConnectOptions {
    pub fn new(url: impl Into<String>, realm: impl Into<String>) -> Self {
        ConnectOptions {
            url: url.into(),
            realm: realm.into(),
            authid: None,
            ticket: None,
            source_ip: None,
            read_buffer: 64 * 1024,
            timeout: Duration::from_secs(10),
        }
    }
}

impl From<Serializer> for Format {
    fn from(s: Serializer) -> Self {
        match s {
            Serializer::Json => Format::Json,
            Serializer::MsgPack => Format::MsgPack,
            Serializer::Cbor => Format::Cbor,
        }
    }
}

/// Splits `ws://host[:port][/path]` into host, port and path.
pub fn parse_ws_url(url: &str) -> Result<(String, u16, String)> {
    let rest = if let Some(r) = url.strip_prefix("ws://") {
        r
    } else if url.starts_with("wss://") {
        bail!("{url}: the bench speaks plain ws:// only; run it against the router's plain listener");
    } else {
        bail!("{url}: expected a ws://host:port/path URL");
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').with_context(|| format!("{url}: unclosed [ in host"))?;
        let port =
            after.strip_prefix(':').map(str::parse::<u16>).transpose().with_context(|| format!("{url}: bad port"))?;
        (h.to_string(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p.parse::<u16>().with_context(|| format!("{url}: bad port {p:?}"))?)),
            None => (authority.to_string(), None),
        }
    };
    if host.is_empty() {
        bail!("{url}: no host");
    }
    Ok((host, port.unwrap_or(80), path.to_string()))
}

/// Resolves the URL's host to one socket address.
pub async fn resolve(url: &str) -> Result<SocketAddr> {
    let (host, port, _) = parse_ws_url(url)?;
    let mut addrs =
        tokio::net::lookup_host((host.as_str(), port)).await.with_context(|| format!("resolving {host}"))?;
    addrs.next().with_context(|| format!("{host} resolves to no address"))
}

/// The write side: frames queued into one buffer, flushed once per batch.
#[derive(Debug)]
pub struct Writer {
    buf: Vec<u8>,
    scratch: Vec<u8>,
    opcode: u8,
    ser: Serializer,
    /// xorshift state for the per-frame masking keys.
    mask_state: u64,
}

impl Writer {
    fn new(ser: Serializer) -> Self {
        Writer {
            buf: Vec::new(),
            scratch: Vec::new(),
            opcode: if ser.is_binary() { ws::OP_BINARY } else { ws::OP_TEXT },
            ser,
            mask_state: rand::random::<u64>() | 1,
        }
    }

    fn next_key(&mut self) -> [u8; 4] {
        let mut x = self.mask_state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.mask_state = x;
        (x as u32).to_ne_bytes()
    }

    /// Queues one WAMP message whose encoding `f` writes into the buffer it is given.
    pub fn message_with(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        f(&mut scratch);
        let key = self.next_key();
        ws::write_frame(&mut self.buf, self.opcode, &scratch, key);
        self.scratch = scratch;
    }

    /// Queues one WAMP message, encoded by the protocol codec.
    pub fn message(&mut self, msg: &Message) {
        let ser = self.ser;
        self.message_with(|b| codec::encode_to(msg, ser, b));
    }

    fn control(&mut self, opcode: u8, payload: &[u8]) {
        let key = self.next_key();
        ws::write_frame(&mut self.buf, opcode, payload, key);
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// The connection closed or failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("router closed the connection")]
    Eof,
    #[error("router closed the WebSocket (code {0:?}: {1})")]
    Closed(Option<u16>, String),
    #[error(transparent)]
    Ws(#[from] ws::WsError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// One joined WAMP session.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    pub ser: Serializer,
    pub fmt: Format,
    /// Received bytes; `rpos` is where unparsed data starts.
    rbuf: Vec<u8>,
    rpos: usize,
    /// Bytes the frame at `rpos` needs in total (to size the next read).
    need: usize,
    min_read: usize,
    dec: Decoder,
    pub w: Writer,
    pub session_id: Id,
    next_request: Id,
}

impl Conn {
    /// Connects, negotiates the serializer and joins the realm.
    pub async fn connect(opts: &ConnectOptions, ser: Serializer) -> Result<Conn> {
        let url = opts.url.clone();
        match tokio::time::timeout(opts.timeout, Self::connect_inner(opts, ser)).await {
            Ok(r) => r,
            Err(_) => {
                Err(anyhow!("{url}: no WELCOME within {:?} (router overloaded or not a WAMP router?)", opts.timeout))
            }
        }
    }

    async fn connect_inner(opts: &ConnectOptions, ser: Serializer) -> Result<Conn> {
        let url = &opts.url;
        let addr = resolve(url).await?;
        let socket =
            if addr.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }.context("creating a socket")?;
        if let Some(ip) = opts.source_ip {
            socket.bind(SocketAddr::new(ip, 0)).with_context(|| format!("binding the local address {ip}"))?;
        }
        let stream = socket.connect(addr).await.map_err(|e| {
            let hint = match e.kind() {
                std::io::ErrorKind::ConnectionRefused => " (is the router running and listening there?)",
                std::io::ErrorKind::AddrNotAvailable | std::io::ErrorKind::AddrInUse => {
                    " (out of local ports: spread connections over more source addresses)"
                }
                _ => "",
            };
            anyhow!("cannot connect to {url} ({addr}): {e}{hint}")
        })?;
        stream.set_nodelay(true).context("setting TCP_NODELAY")?;

        let mut request = url.as_str().into_client_request().with_context(|| format!("{url}: bad WebSocket URL"))?;
        request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static(ser.subprotocol()));
        let (ws_stream, response) = tokio_tungstenite::client_async(request, stream).await.map_err(|e| match e {
            tokio_tungstenite::tungstenite::Error::Http(resp) => {
                anyhow!("{url}: router refused the WebSocket upgrade: HTTP {}", resp.status())
            }
            other => anyhow!("{url}: WebSocket handshake failed: {other}"),
        })?;
        let chosen = response.headers().get("Sec-WebSocket-Protocol").and_then(|v| v.to_str().ok());
        if chosen != Some(ser.subprotocol()) {
            bail!("{url}: router did not accept subprotocol {} (answered {chosen:?})", ser.subprotocol());
        }
        // WAMP: the client speaks first, so the router has sent nothing after the 101 that
        // tungstenite could have buffered; from here on the bench does its own framing.
        let stream = ws_stream.into_inner();

        let mut conn = Conn {
            stream,
            ser,
            fmt: ser.into(),
            rbuf: Vec::with_capacity(opts.read_buffer),
            rpos: 0,
            need: 0,
            min_read: opts.read_buffer.max(256),
            dec: Decoder::new(MAX_MESSAGE),
            w: Writer::new(ser),
            session_id: 0,
            next_request: 1,
        };
        conn.join(opts).await?;
        Ok(conn)
    }

    async fn join(&mut self, opts: &ConnectOptions) -> Result<()> {
        let role = |features: &[&str]| {
            let f: Dict = features.iter().map(|f| ((*f).to_string(), Value::Bool(true))).collect();
            Value::dict([("features", Value::Dict(f))])
        };
        let mut details = dict([
            ("agent", Value::from("junction-bench")),
            (
                "roles",
                Value::dict([
                    ("publisher", role(&[])),
                    ("subscriber", role(&[])),
                    ("caller", role(&[])),
                    ("callee", role(&[])),
                ]),
            ),
        ]);
        let method = if opts.ticket.is_some() { "ticket" } else { "anonymous" };
        details.insert("authmethods".into(), Value::List(vec![method.into()]));
        if let Some(id) = &opts.authid {
            details.insert("authid".into(), id.as_str().into());
        }
        self.w.message(&Message::Hello { realm: opts.realm.clone(), details });
        self.flush().await?;
        loop {
            match self.recv_message().await.context("waiting for WELCOME")? {
                Message::Welcome { session, .. } => {
                    self.session_id = session;
                    return Ok(());
                }
                Message::Challenge { authmethod, .. } if authmethod == "ticket" => {
                    let ticket = opts.ticket.clone().unwrap_or_default();
                    self.w.message(&Message::Authenticate { signature: ticket, extra: Dict::new() });
                    self.flush().await?;
                }
                Message::Challenge { authmethod, .. } => {
                    bail!("router asked for authmethod {authmethod}, the bench does ticket only")
                }
                Message::Abort { reason, details } => {
                    let msg = details.get("message").and_then(Value::as_str).unwrap_or("");
                    bail!("router refused to join realm {:?}: {reason} {msg}", opts.realm)
                }
                other => bail!("unexpected {:?} while joining", other.message_type()),
            }
        }
    }

    /// A fresh request id for this session.
    pub fn request_id(&mut self) -> Id {
        let id = self.next_request;
        self.next_request += 1;
        id
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> Result<(), ConnError> {
        if !self.w.buf.is_empty() {
            self.stream.write_all(&self.w.buf).await?;
            self.w.buf.clear();
        }
        Ok(())
    }

    /// Reads more bytes into the buffer (at least one), compacting it first.
    async fn fill(&mut self) -> Result<(), ConnError> {
        self.prepare_read();
        let n = tokio::io::AsyncReadExt::read_buf(&mut self.stream, &mut self.rbuf).await?;
        if n == 0 {
            return Err(ConnError::Eof);
        }
        Ok(())
    }

    fn prepare_read(&mut self) {
        if self.rpos == self.rbuf.len() {
            self.rbuf.clear();
            self.rpos = 0;
        } else if self.rpos > 0
            && (self.rpos >= self.rbuf.capacity() / 2 || self.rbuf.capacity() - self.rbuf.len() < self.need)
        {
            self.rbuf.drain(..self.rpos);
            self.rpos = 0;
        }
        let pending = self.rbuf.len() - self.rpos;
        let want = self.need.saturating_sub(pending).max(self.min_read);
        if self.rbuf.capacity() - self.rbuf.len() < want / 2 {
            self.rbuf.reserve(want);
        }
    }

    /// Hands every complete message already buffered (at most `max`) to `f`; answers pings.
    fn drain(&mut self, max: usize, f: &mut impl FnMut(&[u8], &mut Writer)) -> Result<usize, ConnError> {
        let Conn { rbuf, rpos, need, dec, w, .. } = self;
        let mut n = 0;
        while n < max {
            match dec.next(rbuf, rpos, need)? {
                None => break,
                Some(Incoming::Message(m)) => {
                    f(m, w);
                    n += 1;
                }
                Some(Incoming::Ping(p)) => w.control(ws::OP_PONG, p),
                Some(Incoming::Pong) => {}
                Some(Incoming::Close(code, reason)) => return Err(ConnError::Closed(code, reason)),
            }
        }
        Ok(n)
    }

    /// Waits for at least one message, hands all complete ones to `f`, then flushes
    /// whatever `f` (or a ping) queued. Returns how many messages were handled.
    pub async fn recv_batch(&mut self, mut f: impl FnMut(&[u8], &mut Writer)) -> Result<usize, ConnError> {
        loop {
            let n = self.drain(usize::MAX, &mut f)?;
            if !self.w.buf.is_empty() {
                self.flush().await?;
            }
            if n > 0 {
                return Ok(n);
            }
            self.fill().await?;
        }
    }

    /// Like [`Conn::recv_batch`] but never waits: handles what the socket has now, and
    /// does not flush (the caller does).
    pub fn try_recv_batch(&mut self, mut f: impl FnMut(&[u8], &mut Writer)) -> Result<usize, ConnError> {
        let mut total = self.drain(usize::MAX, &mut f)?;
        loop {
            self.prepare_read();
            match self.stream.try_read_buf(&mut self.rbuf) {
                Ok(0) => return Err(ConnError::Eof),
                Ok(_) => total += self.drain(usize::MAX, &mut f)?,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(total),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The next message, decoded by the codec (for the setup path, not the hot path).
    pub async fn recv_message(&mut self) -> Result<Message> {
        let ser = self.ser;
        loop {
            let mut got: Option<Result<Message>> = None;
            self.drain(1, &mut |m, _| {
                got = Some(codec::decode(m, ser).map_err(|e| anyhow!("undecodable message from router: {e}")))
            })?;
            if let Some(r) = got {
                return r;
            }
            if !self.w.buf.is_empty() {
                self.flush().await?;
            }
            self.fill().await?;
        }
    }

    /// Subscribes and waits for SUBSCRIBED.
    pub async fn subscribe(&mut self, topic: &str, options: Dict) -> Result<Id> {
        let request = self.request_id();
        self.w.message(&Message::Subscribe { request, options, topic: topic.to_string() });
        self.flush().await?;
        match self.recv_message().await? {
            Message::Subscribed { request: r, subscription } if r == request => Ok(subscription),
            Message::Error { error, .. } => bail!("SUBSCRIBE {topic} failed: {error}"),
            other => bail!("unexpected {:?} after SUBSCRIBE", other.message_type()),
        }
    }

    /// Calls `procedure` with `args` and waits for its RESULT's first argument (setup path:
    /// meta procedures).
    pub async fn call_value(&mut self, procedure: &str, args: Vec<Value>) -> Result<Value> {
        let request = self.request_id();
        self.w.message(&Message::Call { request, options: Dict::new(), procedure: procedure.to_string(), payload: Payload::args(args) });
        self.flush().await?;
        match self.recv_message().await? {
            Message::Result { request: r, payload, .. } if r == request => Ok(payload.args.and_then(|a| a.into_iter().next()).unwrap_or(Value::Null)),
            Message::Error { error, .. } => bail!("CALL {procedure} failed: {error}"),
            other => bail!("unexpected {:?} after CALL", other.message_type()),
        }
    }

    /// Calls `procedure` until `done` holds for its result, at most `within` (cross-pod runs:
    /// wait until this connection's pod sees what other pods announced).
    pub async fn call_until(&mut self, procedure: &str, args: Vec<Value>, within: Duration, done: impl Fn(&Value) -> bool) -> Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let v = self.call_value(procedure, args.clone()).await?;
            if done(&v) {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("{procedure} still answered {v:?} after {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await; // a poll, checked again
        }
    }

    /// Registers and waits for REGISTERED.
    pub async fn register(&mut self, procedure: &str, options: Dict) -> Result<Id> {
        let request = self.request_id();
        self.w.message(&Message::Register { request, options, procedure: procedure.to_string() });
        self.flush().await?;
        match self.recv_message().await? {
            Message::Registered { request: r, registration } if r == request => Ok(registration),
            Message::Error { error, .. } => bail!("REGISTER {procedure} failed: {error}"),
            other => bail!("unexpected {:?} after REGISTER", other.message_type()),
        }
    }

    /// Best-effort polite close: GOODBYE, then a WebSocket close frame. Errors are ignored
    /// (the router may already be gone).
    pub async fn close(mut self) {
        self.w.message(&Message::Goodbye { details: Dict::new(), reason: "wamp.close.normal".into() });
        self.w.control(ws::OP_CLOSE, &1000u16.to_be_bytes());
        let _ = tokio::time::timeout(Duration::from_secs(1), self.flush()).await;
        let _ = tokio::time::timeout(Duration::from_millis(200), self.stream.shutdown()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ws_urls() {
        assert_eq!(parse_ws_url("ws://127.0.0.1:8080/ws").unwrap(), ("127.0.0.1".into(), 8080, "/ws".into()));
        assert_eq!(parse_ws_url("ws://localhost").unwrap(), ("localhost".into(), 80, "/".into()));
        assert_eq!(parse_ws_url("ws://[::1]:9/x").unwrap(), ("::1".into(), 9, "/x".into()));
        assert!(parse_ws_url("wss://h/ws").unwrap_err().to_string().contains("plain ws://"));
        assert!(parse_ws_url("http://h/ws").is_err());
        assert!(parse_ws_url("ws://h:notaport/ws").is_err());
        assert!(parse_ws_url("ws:///ws").is_err());
    }

    #[test]
    fn writer_frames_codec_output_masked() {
        let mut w = Writer::new(Serializer::Json);
        w.message(&Message::Published { request: 1, publication: 2 });
        let b = &w.buf;
        assert_eq!(b[0], 0x81, "FIN + text for JSON");
        assert_eq!(b[1], 0x80 | 8);
        let mut body = b[6..].to_vec();
        ws::apply_mask(&mut body, [b[2], b[3], b[4], b[5]]);
        assert_eq!(body, b"[17,1,2]");
        let mut w = Writer::new(Serializer::MsgPack);
        w.message_with(|out| out.extend_from_slice(&[0x93, 17, 1, 2]));
        assert_eq!(w.buf[0], 0x82, "FIN + binary for MessagePack");
    }

    #[tokio::test]
    async fn refused_connection_gives_a_clear_error() {
        // Bind and drop a listener so the port is (very likely) closed.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let opts = ConnectOptions::new(format!("ws://127.0.0.1:{port}/ws"), "realm1");
        let err = Conn::connect(&opts, Serializer::Json).await.unwrap_err().to_string();
        assert!(err.contains("cannot connect") && err.contains("is the router running"), "{err}");
    }

    /// A scripted fake router on a real socket: handshake by tungstenite, then WAMP.
    #[allow(clippy::result_large_err)] // tungstenite's callback signature
    #[tokio::test]
    async fn joins_subscribes_and_reads_batches_from_a_fake_router() {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message as WsMsg;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let cb = |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
                      mut resp: tokio_tungstenite::tungstenite::handshake::server::Response| {
                let proto = req.headers().get("Sec-WebSocket-Protocol").unwrap().clone();
                resp.headers_mut().insert("Sec-WebSocket-Protocol", proto);
                Ok(resp)
            };
            let mut ws = tokio_tungstenite::accept_hdr_async(s, cb).await.unwrap();
            let hello = ws.next().await.unwrap().unwrap().into_text().unwrap();
            assert!(hello.starts_with("[1,\"realm1\""), "{hello}");
            ws.send(WsMsg::text("[2,4242,{}]")).await.unwrap();
            let sub = ws.next().await.unwrap().unwrap().into_text().unwrap();
            assert!(sub.starts_with("[32,1,{},\"t\""), "{sub}");
            ws.send(WsMsg::text("[33,1,77]")).await.unwrap();
            // A burst: several events and a ping, sent together.
            for seq in 0..5u64 {
                ws.feed(WsMsg::text(format!("[36,77,{seq},{{}},[{seq},123,\"pad\"]]"))).await.unwrap();
            }
            ws.feed(WsMsg::Ping(vec![1, 2].into())).await.unwrap();
            ws.flush().await.unwrap();
            // the pong comes back
            loop {
                match ws.next().await.unwrap().unwrap() {
                    WsMsg::Pong(p) => {
                        assert_eq!(&p[..], &[1, 2]);
                        break;
                    }
                    _ => continue,
                }
            }
            ws.send(WsMsg::Close(None)).await.unwrap();
        });
        let opts = ConnectOptions::new(format!("ws://127.0.0.1:{port}/ws"), "realm1");
        let mut c = Conn::connect(&opts, Serializer::Json).await.unwrap();
        assert_eq!(c.session_id, 4242);
        assert_eq!(c.subscribe("t", Dict::new()).await.unwrap(), 77);
        let mut seqs = vec![];
        let fmt = c.fmt;
        let end = loop {
            match c.recv_batch(|m, _| seqs.push(crate::wire::parse_event(m, fmt).unwrap().seq)).await {
                Ok(_) => continue,
                Err(e) => break e,
            }
        };
        assert!(matches!(end, ConnError::Closed(..)), "{end}");
        assert_eq!(seqs, vec![0, 1, 2, 3, 4]);
        server.await.unwrap();
    }
}
