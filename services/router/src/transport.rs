//! WebSocket transport: HTTP/1.1 (health endpoints, upgrade, refusal), then one reader
//! and one writer task per connection.
//!
//! - `GET /healthz` and `GET /readyz` answer 200 text (`/readyz` 503 while shutting down).
//! - A WebSocket upgrade on any path (documented: `/ws`) must offer one of `wamp.2.json`,
//!   `wamp.2.msgpack`, `wamp.2.cbor`; otherwise HTTP 400 naming them.
//! - The connection is split into its two TCP halves. The reader (the session state
//!   machine) runs tungstenite on the read half and gets unwrapped [`Inbound`] frames; it
//!   hands pings (pong due) and the peer's close to the writer through the [`Outbox`].
//!   The writer owns the write half and frames messages itself (server frames are
//!   unmasked: a 2 to 10 byte header, then the pre-encoded message): everything queued
//!   goes out in one `write`, and it sends keepalive pings. Neither knows about brokers
//!   or dealers.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::{StreamExt, future};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use junction_protocol::Serializer;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};

use crate::outbox::{Next, Outbox, close_code};
use crate::router::Shared;
use crate::session::{self, Conn, Inbound};

/// How long the writer may take to push the final close frame: a peer that stopped
/// reading cannot hold a connection longer.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long to wait for the peer's close frame after ours, for a clean TCP close.
const CLOSE_REPLY_TIMEOUT: Duration = Duration::from_secs(1);

/// Serve one TCP connection: HTTP until (and unless) it upgrades to WAMP over WebSocket.
pub(crate) async fn serve_connection(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>, drain: mpsc::Sender<()>) {
    let _ = stream.set_nodelay(true);
    shared.metrics.connections.inc();
    let svc_shared = shared.clone();
    let service = service_fn(move |req| {
        let response = route(req, peer, svc_shared.clone(), drain.clone());
        future::ready(Ok::<_, Infallible>(response))
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        // A peer must send its request headers within the HELLO deadline.
        .header_read_timeout(shared.config.hello_timeout())
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    if let Err(e) = conn.await {
        tracing::debug!(%peer, error = %e, "http connection error");
    }
    shared.metrics.connections.dec();
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

const NO_SUBPROTOCOL: &str = "WebSocket upgrade refused: no supported WAMP subprotocol offered. \
This router speaks wamp.2.json, wamp.2.msgpack and wamp.2.cbor (Sec-WebSocket-Protocol).\n";

fn is_upgrade(req: &Request<Incoming>) -> bool {
    let has = |name: header::HeaderName, token: &str| {
        req.headers().get_all(name).iter().any(|v| v.to_str().is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token))))
    };
    has(header::CONNECTION, "upgrade") && has(header::UPGRADE, "websocket")
}

/// The first offered subprotocol we speak, in the client's order of preference.
fn pick_serializer(req: &Request<Incoming>) -> Option<Serializer> {
    req.headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|s| s.split(','))
        .find_map(|p| Serializer::from_subprotocol(p.trim()))
}

fn route(mut req: Request<Incoming>, peer: SocketAddr, shared: Arc<Shared>, drain: mpsc::Sender<()>) -> Response<Full<Bytes>> {
    if req.method() == Method::GET && is_upgrade(&req) {
        let Some(serializer) = pick_serializer(&req) else {
            return text(StatusCode::BAD_REQUEST, NO_SUBPROTOCOL);
        };
        if req.headers().get(header::SEC_WEBSOCKET_VERSION).is_none_or(|v| v.as_bytes() != b"13") {
            let mut r = text(StatusCode::UPGRADE_REQUIRED, "WebSocket version 13 required\n");
            r.headers_mut().insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
            return r;
        }
        let Some(key) = req.headers().get(header::SEC_WEBSOCKET_KEY) else {
            return text(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key\n");
        };
        let accept = derive_accept_key(key.as_bytes());
        if shared.is_shutting_down() {
            return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
        }
        let on_upgrade = hyper::upgrade::on(&mut req);
        drop(req);
        // The connection outlives this HTTP exchange: count it until the session ends.
        let open = shared.metrics.open_connection();
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => run_upgraded(upgraded, serializer, peer, shared).await,
                Err(e) => tracing::debug!(%peer, error = %e, "upgrade failed"),
            }
            drop((drain, open));
        });
        let mut r = Response::new(Full::new(Bytes::new()));
        *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = r.headers_mut();
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(serializer.subprotocol()));
        if let Ok(v) = HeaderValue::from_str(&accept) {
            h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
        }
        return r;
    }
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/healthz") => text(StatusCode::OK, "ok\n"),
        (&Method::GET, "/readyz") if shared.is_shutting_down() => text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n"),
        (&Method::GET, "/readyz") if !shared.is_ready() => text(StatusCode::SERVICE_UNAVAILABLE, "backplane unavailable\n"),
        (&Method::GET, "/readyz") => text(StatusCode::OK, "ready\n"),
        (_, "/ws") => text(StatusCode::UPGRADE_REQUIRED, "this endpoint speaks WAMP over WebSocket (wamp.2.json, wamp.2.msgpack, wamp.2.cbor)\n"),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn ws_config(shared: &Shared) -> WebSocketConfig {
    let c = &shared.config;
    WebSocketConfig::default()
        // tungstenite only reads (the writer frames its own output; see `write_loop`).
        // Its default 128 KiB read buffer would dominate an idle session's memory.
        .read_buffer_size(c.read_buffer_size)
        .write_buffer_size(c.write_buffer_size)
        // Bounded even if writes stall (the outbox bounds what reaches this buffer anyway).
        .max_write_buffer_size(c.write_buffer_size + c.outbound_queue_bytes + c.max_message_size)
        // Oversize frames are refused from their header, before any allocation.
        .max_message_size(Some(c.max_message_size))
        .max_frame_size(Some(c.max_message_size))
}

/// The read half of a connection as tungstenite sees it: reads go to the socket, writes
/// (tungstenite's automatic pong and close replies) are dropped, because the writer task
/// owns the write half; the reader forwards pings and closes to it through the outbox.
/// Every read that brings bytes is activity for the keepalive (one clock read per read,
/// not per message).
struct ReadOnly<R> {
    io: R,
    last_rx: Arc<AtomicU64>,
    epoch: Instant,
}

impl<R: AsyncRead + Unpin> AsyncRead for ReadOnly<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.last_rx.store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
        }
        polled
    }
}

impl<R: Unpin> AsyncWrite for ReadOnly<R> {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Split the upgraded connection: a plain TCP connection (always, behind our listener)
/// splits into two owned halves with no lock between them.
async fn run_upgraded(upgraded: hyper::upgrade::Upgraded, serializer: Serializer, peer: SocketAddr, shared: Arc<Shared>) {
    match upgraded.downcast::<TokioIo<TcpStream>>() {
        Ok(parts) => {
            let (r, w) = parts.io.into_inner().into_split();
            run_websocket(r, w, parts.read_buf, serializer, peer, shared).await
        }
        Err(upgraded) => {
            let (r, w) = tokio::io::split(TokioIo::new(upgraded));
            run_websocket(r, w, Bytes::new(), serializer, peer, shared).await
        }
    }
}

async fn run_websocket<R, W>(read: R, write: W, read_buf: Bytes, serializer: Serializer, peer: SocketAddr, shared: Arc<Shared>)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    // Copy what hyper read past the upgrade (usually nothing) and let go of hyper's read
    // buffer, which `read_buf` still references: it would otherwise stay for the session.
    let part = read_buf.to_vec();
    drop(read_buf);
    let epoch = Instant::now();
    let last_rx = Arc::new(AtomicU64::new(0));
    let read = ReadOnly { io: read, last_rx: last_rx.clone(), epoch };
    let mut stream = WebSocketStream::from_partially_read(read, part, Role::Server, Some(ws_config(&shared))).await;
    let outbox = Arc::new(Outbox::new(shared.config.outbound_queue_messages, shared.config.outbound_queue_bytes, shared.metrics.clone()));
    let keepalive = shared.config.ping_interval().map(|i| (i, shared.config.ping_timeout()));
    let chunk = shared.config.write_buffer_size.max(4096);
    let mut writer = tokio::spawn(write_loop(write, outbox.clone(), serializer, keepalive, last_rx.clone(), epoch, chunk));

    let inbound = (&mut stream).filter_map(|item| {
        future::ready(match item {
            Ok(WsMessage::Text(t)) => Some(Inbound::Text(t)),
            Ok(WsMessage::Binary(b)) => Some(Inbound::Frame(b)),
            Ok(WsMessage::Ping(p)) => {
                outbox.send_pong(p);
                None
            }
            // Pongs only count as activity.
            Ok(WsMessage::Pong(_) | WsMessage::Frame(_)) => None,
            // Answer with the peer's code (the first close wins: after our own close this
            // is the peer's reply and nothing more is sent).
            Ok(WsMessage::Close(frame)) => {
                let code = frame.map_or(close_code::NORMAL, |f| u16::from(f.code));
                outbox.close(None, code, "");
                Some(Inbound::Gone)
            }
            Err(WsError::Capacity(_)) => Some(Inbound::TooBig),
            Err(WsError::ConnectionClosed | WsError::AlreadyClosed | WsError::Io(_)) => Some(Inbound::Gone),
            Err(e) => Some(Inbound::Broken(e.to_string())),
        })
    });
    session::run(inbound, Conn { outbox: outbox.clone(), serializer, peer, shared: shared.clone() }).await;

    // The session queued its close; let the writer send it, then wait briefly for the
    // peer's close so the TCP connection ends cleanly.
    if tokio::time::timeout(CLOSE_TIMEOUT, &mut writer).await.is_err() {
        writer.abort();
    }
    let _ = tokio::time::timeout(CLOSE_REPLY_TIMEOUT, async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
}

/// Append one unmasked (server) WebSocket frame with FIN set.
fn put_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    let len = payload.len();
    out.push(0x80 | opcode);
    if len < 126 {
        out.push(len as u8);
    } else if len <= u16::MAX as usize {
        out.push(126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
}

thread_local! {
    /// Where writers frame a batch before offering it to the socket (see `write_loop`).
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// The writer owns the connection's write half and frames the outbox's pre-encoded
/// messages itself: every frame queued since the last write goes out in one `write`
/// (in chunks of about `chunk` bytes), with no per-frame lock, UTF-8 check or sink call.
/// JSON frames are text frames: the encoder only produces UTF-8.
async fn write_loop<W>(
    mut io: W,
    outbox: Arc<Outbox>,
    serializer: Serializer,
    keepalive: Option<(Duration, Duration)>,
    last_rx: Arc<AtomicU64>,
    epoch: Instant,
    chunk: usize,
) where
    W: AsyncWrite + Unpin,
{
    let opcode = if serializer.is_binary() { OP_BINARY } else { OP_TEXT };
    let mut buf: VecDeque<Bytes> = VecDeque::new();
    let mut pong: Option<Bytes> = None;
    // Keepalive: one timer, re-armed after each tick (missed ticks delay the next one, as
    // `MissedTickBehavior::Delay` did). It is polled once when armed, to register this
    // task's waker, and afterwards only checked (`is_elapsed`): a writer woken for frames
    // does not touch the timer wheel.
    let mut ping = keepalive.map(|(interval, _)| Box::pin(tokio::time::sleep(interval)));
    let mut armed = false;
    loop {
        let next = future::poll_fn(|cx| {
            if let Poll::Ready(next) = outbox.poll_next(cx, &mut buf, &mut pong) {
                return Poll::Ready(Some(next));
            }
            if let Some(sleep) = ping.as_mut() {
                if !armed {
                    // Without coop budget left the poll returns early, without registering
                    // the timer (and reschedules the task): arm only once it registered.
                    let registers = tokio::task::coop::has_budget_remaining();
                    if sleep.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(None);
                    }
                    armed = registers;
                } else if sleep.is_elapsed() {
                    return Poll::Ready(None);
                }
            }
            Poll::Pending
        })
        .await;
        let Some(next) = next else {
            let (Some((interval, timeout)), Some(sleep)) = (keepalive, ping.as_mut()) else { continue };
            armed = false;
            let (deadline, now) = (sleep.deadline(), Instant::now());
            let late = now.saturating_duration_since(deadline) > Duration::from_millis(5);
            sleep.as_mut().reset(if late { now + interval } else { deadline + interval });
            let idle = Duration::from_millis((epoch.elapsed().as_millis() as u64).saturating_sub(last_rx.load(Ordering::Relaxed)));
            if idle >= interval + timeout {
                outbox.close(None, close_code::GOING_AWAY, "keepalive timeout");
            } else if idle >= interval && io.write_all(&[0x80 | OP_PING, 0]).await.is_err() {
                break;
            }
            continue;
        };
        match next {
            Next::Frames => {
                let mut frames = buf.drain(..);
                let mut pong = pong.take();
                let mut failed = false;
                loop {
                    // Frame up to `chunk` bytes into this thread's scratch buffer and offer
                    // them to the socket at once: normally it takes everything and the batch
                    // costs no allocation (an idle session keeps no write buffer either).
                    // What the socket does not take is copied out and written asynchronously.
                    let attempt = future::poll_fn(|cx| {
                        Poll::Ready(SCRATCH.with_borrow_mut(|out| {
                            out.clear();
                            if let Some(p) = pong.take() {
                                put_frame(out, OP_PONG, &p);
                            }
                            for frame in frames.by_ref() {
                                put_frame(out, opcode, &frame);
                                if out.len() >= chunk {
                                    break;
                                }
                            }
                            if out.is_empty() {
                                return Ok(None);
                            }
                            let rest = match Pin::new(&mut io).poll_write(cx, out) {
                                Poll::Ready(Ok(n)) => Ok(Some(out.get(n..).unwrap_or_default().to_vec())),
                                Poll::Ready(Err(e)) => Err(e),
                                Poll::Pending => Ok(Some(out.to_vec())),
                            };
                            if out.capacity() > 2 * chunk {
                                *out = Vec::new();
                            }
                            rest
                        }))
                    })
                    .await;
                    match attempt {
                        Ok(None) => break,
                        Ok(Some(rest)) if rest.is_empty() => {}
                        Ok(Some(rest)) => {
                            if io.write_all(&rest).await.is_err() {
                                failed = true;
                                break;
                            }
                        }
                        Err(_) => {
                            failed = true;
                            break;
                        }
                    }
                }
                drop(frames);
                if failed {
                    break;
                }
                // Don't let one burst pin a large queue buffer on a session that goes idle.
                if buf.capacity() > 256 {
                    buf = VecDeque::new();
                }
            }
            Next::Close(frame) => {
                let mut payload = Vec::with_capacity(2 + frame.reason.len());
                payload.extend_from_slice(&frame.code.to_be_bytes());
                payload.extend_from_slice(frame.reason.as_bytes());
                let mut out = Vec::with_capacity(payload.len() + 4);
                put_frame(&mut out, OP_CLOSE, &payload);
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
                    io.write_all(&out).await?;
                    io.shutdown().await
                })
                .await;
                return;
            }
        }
    }
    // The connection broke under us: tell the reader so the session ends.
    outbox.close(None, close_code::GOING_AWAY, "write failed");
}
