//! Sessions: the per-connection WAMP state machine, and the handle the realm keeps.
//!
//! ```text
//!  connect --HELLO--> [authenticating] --(CHALLENGE/AUTHENTICATE)--> WELCOME --> [established]
//!     |                     |                                                      |
//!     +-- anything else, ---+-- refused: ABORT (no_such_realm, not_authorized, ...)  |
//!         timeout: ABORT/close                                                     |
//!  [established] --GOODBYE--> GOODBYE(goodbye_and_out) --> close                    |
//!  [established] <-router GOODBYE (kill, shutdown)-- [draining: wait for the peer's  |
//!                 GOODBYE up to goodbye_timeout] --> close                          |
//!  protocol violation anywhere: ABORT(wamp.error.protocol_violation) --> close      |
//! ```
//! The reader task runs this state machine; every outbound message goes through the
//! session's [`Outbox`] to its writer task. The transport hands the reader already
//! unwrapped frames ([`Inbound`]), so nothing here knows about WebSockets.

#[cfg(test)]
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use junction_protocol::uri;
use junction_protocol::{DecodeError, Dict, Id, MAX_ID, Message, MessageType, Payload, Serializer, Value, decode, decode_text, dict, encode};
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio::time::{Instant, sleep_until};

use crate::auth::{AuthFailure, AuthStart, Grant, HelloInfo, Identity};
use crate::authz::{Action, Permission, SessionIdentity};
use crate::ids::random_id;
use crate::outbox::{Outbox, State, close_code};
use crate::realm::Realm;
use crate::router::Shared;

/// What the transport hands the session.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// One WAMP message in a binary frame (MessagePack, CBOR).
    Frame(Bytes),
    /// One WAMP message in a text frame (JSON), already checked to be UTF-8 by the transport.
    Text(Utf8Bytes),
    /// A message above `max_message_size`, refused from its header (not read).
    TooBig,
    /// A transport-level error (bad WebSocket framing, invalid UTF-8 text, ...).
    Broken(String),
    /// The connection is gone (reset, closed): end quietly.
    Gone,
}

impl Inbound {
    /// The message a frame carries; `None` for the other items.
    fn message(&self, ser: Serializer) -> Option<Result<Message, DecodeError>> {
        match self {
            Inbound::Frame(b) => Some(decode(b, ser)),
            Inbound::Text(t) => Some(decode_text(t.as_str(), ser)),
            _ => None,
        }
    }
}

const FEATURE_CALLEE_CANCELING: u8 = 1;
/// Point-to-point messages (CALL, YIELD) routed between two yields of the reader.
const RPC_PIPELINE: u32 = 4;

/// A joined session, as the realm (broker, dealer, meta API) sees it. Kept small: one per
/// connected client.
pub struct SessionHandle {
    pub(crate) identity: SessionIdentity,
    pub(crate) authprovider: String,
    pub(crate) serializer: Serializer,
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) peer: SocketAddr,
    features: u8,
    /// Last request id used for router -> client requests (INVOCATION): session scope.
    next_request: AtomicU64,
}

impl SessionHandle {
    pub fn id(&self) -> Id {
        self.identity.session
    }

    pub fn identity(&self) -> &SessionIdentity {
        &self.identity
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Encode and queue a message; false if the session is closing (or just overflowed).
    pub(crate) fn send(&self, msg: &Message) -> bool {
        self.outbox.send(encode(msg, self.serializer)).is_ok()
    }

    /// Queue a frame already encoded in this session's serializer.
    pub(crate) fn send_frame(&self, frame: Bytes) -> bool {
        self.outbox.send(frame).is_ok()
    }

    /// Router-initiated GOODBYE: the reader then waits for the peer's answer, then closes.
    pub(crate) fn send_goodbye(&self, msg: &Message) -> bool {
        self.outbox.send_final(encode(msg, self.serializer))
    }

    pub(crate) fn next_request_id(&self) -> Id {
        // Sequential per session as the spec's session scope asks; wraps below 2^53.
        (self.next_request.fetch_add(1, Ordering::Relaxed) % MAX_ID) + 1
    }

    pub(crate) fn supports_call_canceling(&self) -> bool {
        self.features & FEATURE_CALLEE_CANCELING != 0
    }

    /// Session details as the session meta API reports them.
    pub(crate) fn details(&self) -> Dict {
        dict([
            ("session", Value::from(self.id())),
            ("authid", self.identity.authid.as_str().into()),
            ("authrole", self.identity.authrole.as_str().into()),
            ("authmethod", self.identity.authmethod.as_str().into()),
            ("authprovider", self.authprovider.as_str().into()),
            (
                "transport",
                Value::dict([("type", Value::from("websocket")), ("serializer", self.serializer.name().into()), ("peer", self.peer.to_string().into())]),
            ),
        ])
    }
}

/// ERROR answering a request, with an optional human message as the only positional arg.
pub(crate) fn error_message(request_type: MessageType, request: Id, error: &str, message: String) -> Message {
    let payload = if message.is_empty() { Payload::default() } else { Payload::args(vec![message.into()]) };
    Message::Error { request_type, request, details: Dict::new(), error: error.to_owned(), payload }
}

/// The connection the session runs on.
pub(crate) struct Conn {
    pub outbox: Arc<Outbox>,
    pub serializer: Serializer,
    pub peer: SocketAddr,
    pub shared: Arc<Shared>,
}

impl Conn {
    fn abort(&self, reason: &str, message: impl Into<String>, code: u16) {
        let msg = Message::Abort { details: dict([("message", message.into())]), reason: reason.to_owned() };
        self.outbox.close(Some(encode(&msg, self.serializer)), code, "");
    }

    fn protocol_violation(&self, message: impl Into<String>) {
        self.shared.metrics.protocol_violations.inc();
        let message = message.into();
        tracing::debug!(peer = %self.peer, %message, "protocol violation");
        self.abort("wamp.error.protocol_violation", message, close_code::PROTOCOL_ERROR);
    }

    fn too_big(&self) {
        self.shared.metrics.protocol_violations.inc();
        let max = self.shared.config.max_message_size;
        self.abort("wamp.error.protocol_violation", format!("message exceeds the maximum size of {max} bytes"), close_code::TOO_BIG);
    }

    /// Decode one inbound item; on any failure the session is aborted and `None` returned.
    fn decode(&self, item: Option<Inbound>) -> Option<Message> {
        match item? {
            item @ (Inbound::Frame(_) | Inbound::Text(_)) => match item.message(self.serializer)? {
                Ok(msg) => {
                    self.shared.metrics.received(msg.message_type());
                    Some(msg)
                }
                Err(e) => {
                    let text = match &e {
                        DecodeError::UnknownType(t) => format!("unknown message type {t}"),
                        other => other.to_string(),
                    };
                    self.protocol_violation(text);
                    None
                }
            },
            Inbound::TooBig => {
                self.too_big();
                None
            }
            Inbound::Broken(e) => {
                self.protocol_violation(format!("transport error: {e}"));
                None
            }
            Inbound::Gone => None,
        }
    }
}

/// Run a session to its end: handshake, then messages until GOODBYE, ABORT, close or kill.
pub(crate) async fn run(mut inbound: impl Stream<Item = Inbound> + Unpin, conn: Conn) {
    let deadline = Instant::now() + conn.shared.config.hello_timeout();
    // Boxed: authentication's state lives only through the handshake, instead of sizing
    // the connection's task (which an idle session keeps) for it.
    let joined = tokio::select! {
        joined = Box::pin(handshake(&mut inbound, &conn)) => joined,
        _ = sleep_until(deadline) => {
            conn.shared.metrics.hello_timeouts.inc();
            conn.abort("wamp.error.protocol_violation", "no HELLO / AUTHENTICATE in time", close_code::POLICY);
            None
        }
        _ = conn.outbox.left_open() => None,
    };
    let Some((realm, handle)) = joined else { return };
    conn.shared.metrics.sessions.inc();
    realm.announce_join(&handle);

    let mut owned = Owned::default();
    established(&mut inbound, &conn, &realm, &handle, &mut owned).await;

    // Leave realm-wide before the peer sees the connection end (or our GOODBYE): once it
    // does, no pod lists this session any more.
    realm.leave(&handle, &owned.subscriptions).await;
    conn.shared.metrics.sessions.dec();
    // Whatever ended the session, make sure the writer closes the connection.
    conn.outbox.close(owned.goodbye_reply.take(), close_code::NORMAL, "");
}

/// What a session owns on this pod, for cleanup when it leaves (the realm registry drops
/// its subscriptions and registrations realm-wide with the session).
#[derive(Default)]
struct Owned {
    subscriptions: Vec<Id>,
    /// The GOODBYE answering the peer's, sent once the session has left.
    goodbye_reply: Option<Bytes>,
}

async fn handshake(inbound: &mut (impl Stream<Item = Inbound> + Unpin), conn: &Conn) -> Option<(Arc<Realm>, Arc<SessionHandle>)> {
    let (realm_uri, details) = match conn.decode(inbound.next().await)? {
        Message::Hello { realm, details } => (realm, details),
        other => {
            conn.protocol_violation(format!("expected HELLO, got {:?}", other.message_type()));
            return None;
        }
    };
    if uri::validate(&realm_uri, uri::MatchPolicy::Exact, false).is_err() {
        conn.abort("wamp.error.no_such_realm", "invalid realm URI", close_code::NORMAL);
        return None;
    }
    let realm = match conn.shared.open_realm(&realm_uri).await {
        Ok(Some(realm)) => realm,
        Ok(None) => {
            conn.abort("wamp.error.no_such_realm", format!("no realm {realm_uri}"), close_code::NORMAL);
            return None;
        }
        Err(e) => {
            tracing::warn!(realm = %realm_uri, error = %e, "realm provider failed");
            conn.abort("wamp.error.no_such_realm", "realm not available", close_code::NORMAL);
            return None;
        }
    };
    let hello = HelloInfo {
        realm: realm_uri,
        authmethods: details
            .get("authmethods")
            .and_then(Value::as_list)
            .map(|l| l.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default(),
        authid: details.get("authid").and_then(Value::as_str).map(str::to_owned),
        authrole: details.get("authrole").and_then(Value::as_str).map(str::to_owned),
        authextra: details.get("authextra").and_then(Value::as_dict).cloned().unwrap_or_default(),
        details,
        peer: conn.peer,
        session: random_id(),
    };
    let identity = match conn.shared.authenticator.hello(realm.config(), &hello).await {
        AuthStart::Accept(identity) => identity,
        AuthStart::Reject(failure) => return refuse(conn, failure),
        AuthStart::Challenge { authmethod, extra, pending } => {
            conn.outbox.send(encode(&Message::Challenge { authmethod, extra }, conn.serializer)).ok()?;
            let (signature, extra) = match conn.decode(inbound.next().await)? {
                Message::Authenticate { signature, extra } => (signature, extra),
                other => {
                    conn.protocol_violation(format!("expected AUTHENTICATE, got {:?}", other.message_type()));
                    return None;
                }
            };
            match pending.authenticate(signature, extra).await {
                Ok(identity) => identity,
                Err(failure) => return refuse(conn, failure),
            }
        }
    };
    let handle = welcome(conn, &realm, &hello, identity).await?;
    Some((realm, handle))
}

fn refuse<T>(conn: &Conn, failure: AuthFailure) -> Option<T> {
    conn.abort(&failure.reason, failure.message, close_code::NORMAL);
    None
}

fn client_features(details: &Dict) -> u8 {
    let callee_cancel = details
        .get("roles")
        .and_then(|r| r.get("callee"))
        .and_then(|c| c.get("features"))
        .and_then(|f| f.get("call_canceling"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if callee_cancel { FEATURE_CALLEE_CANCELING } else { 0 }
}

/// Pick a fresh session id, queue WELCOME and join the realm.
async fn welcome(conn: &Conn, realm: &Arc<Realm>, hello: &HelloInfo, identity: Identity) -> Option<Arc<SessionHandle>> {
    let Identity { authid, authrole, authmethod, authprovider, authextra, grant } = identity;
    let mut welcome_details = dict([
        ("authid", Value::from(authid.as_str())),
        ("authrole", authrole.as_str().into()),
        ("authmethod", authmethod.as_str().into()),
        ("authprovider", authprovider.as_str().into()),
        ("realm", realm.uri().into()),
        ("roles", crate::meta::router_roles().into()),
    ]);
    if !authextra.is_empty() {
        welcome_details.insert("authextra".into(), authextra.into());
    }
    if conn.shared.is_shutting_down() {
        conn.abort("wamp.close.system_shutdown", "the router is shutting down", close_code::GOING_AWAY);
        return None;
    }
    // What the session authenticated with may have been revoked since (`JoinCheck`).
    if let Some(Err(failure)) = grant.as_ref().map(Grant::admit) {
        tracing::debug!(realm = realm.uri(), authid = %authid, reason = %failure.reason, "refused at join");
        return refuse(conn, failure);
    }
    let features = client_features(&hello.details);
    let mut identity = SessionIdentity {
        realm: realm.uri().to_owned(),
        tenant: realm.config().tenant.clone(),
        session: 0,
        authid,
        authrole,
        authmethod,
    };
    // Ids are random in [1, 2^53], drawn before authentication (a WAMP-CRA challenge names
    // it); a collision in the realm just draws again.
    for attempt in 0..16 {
        identity.session = if attempt == 0 { hello.session } else { random_id() };
        let handle = Arc::new(SessionHandle {
            identity: identity.clone(),
            authprovider: authprovider.clone(),
            serializer: conn.serializer,
            outbox: conn.outbox.clone(),
            peer: conn.peer,
            features,
            next_request: AtomicU64::new(0),
        });
        let welcome = encode(&Message::Welcome { session: handle.id(), details: welcome_details.clone() }, conn.serializer);
        match realm.join(handle.clone(), welcome).await {
            Ok(true) => {
                // Revoked after `admit`, maybe before a sweep could see the session: close it.
                if let Some(reason) = grant.as_ref().and_then(|g| g.joined(handle.id())) {
                    realm.kill_sessions(|h| h.id() == handle.id(), &reason, None);
                }
                return Some(handle);
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(realm = realm.uri(), error = %e, "join not shared with the other pods");
                break;
            }
        }
    }
    conn.abort("wamp.error.system_shutdown", "could not allocate a session id", close_code::NORMAL);
    None
}

async fn authorize(conn: &Conn, handle: &SessionHandle, uri: &str, action: Action) -> Permission {
    conn.shared.authorizer.authorize(&handle.identity, uri, action).resolve().await
}

async fn established(
    inbound: &mut (impl Stream<Item = Inbound> + Unpin),
    conn: &Conn,
    realm: &Arc<Realm>,
    handle: &Arc<SessionHandle>,
    owned: &mut Owned,
) {
    let mut routed = 0u32;
    loop {
        let item = tokio::select! {
            // A kill / shutdown / slow-consumer close wins over further input.
            biased;
            state = conn.outbox.left_open() => {
                if state == State::Draining {
                    await_goodbye(inbound, conn).await;
                }
                return;
            }
            item = inbound.next() => item,
        };
        let Some(msg) = conn.decode(item) else { return };
        let point_to_point = matches!(msg, Message::Call { .. } | Message::Yield { .. } | Message::Error { .. });
        if !dispatch(conn, realm, handle, owned, msg).await {
            return;
        }
        // Pipeline RPC: a batch of CALLs (YIELDs) read at once would otherwise all be
        // routed before any INVOCATION (RESULT) is written, and caller, router and callee
        // would take turns on the whole batch. Every few, let the writers run so the peer
        // starts on the first ones while we route the rest. Fan-out (PUBLISH) keeps its
        // batching: there one write per subscriber carries every event read at once.
        if point_to_point {
            routed = (routed + 1) % RPC_PIPELINE;
            if routed == 0 {
                tokio::task::yield_now().await;
            }
        }
    }
}

/// After a router GOODBYE: wait (bounded) for the peer's GOODBYE, ignoring anything else.
async fn await_goodbye(inbound: &mut (impl Stream<Item = Inbound> + Unpin), conn: &Conn) {
    let deadline = Instant::now() + conn.shared.config.goodbye_timeout();
    loop {
        tokio::select! {
            _ = sleep_until(deadline) => break,
            item = inbound.next() => match item {
                Some(item @ (Inbound::Frame(_) | Inbound::Text(_))) => {
                    if let Some(Ok(Message::Goodbye { .. })) = item.message(conn.serializer) {
                        break;
                    }
                }
                _ => break,
            }
        }
    }
}

/// Handle one message of an established session; false ends the session.
/// The rarely used arms await boxed futures: this future is part of every session's task,
/// so its size is what an idle session pays, and only PUBLISH / CALL / YIELD stay inline.
async fn dispatch(conn: &Conn, realm: &Arc<Realm>, handle: &Arc<SessionHandle>, owned: &mut Owned, msg: Message) -> bool {
    match msg {
        Message::Publish { request, options, topic, payload } => {
            let perm = authorize(conn, handle, &topic, Action::Publish).await;
            if perm.allow {
                realm.handle_publish(handle, request, &options, &topic, &payload, perm.disclose).await;
            } else if options.get("acknowledge").and_then(Value::as_bool).unwrap_or(false) {
                handle.send(&not_authorized(MessageType::Publish, request, &topic));
            }
        }
        Message::Subscribe { request, options, topic } => {
            if authorize(conn, handle, &topic, Action::Subscribe).await.allow {
                if let Some(id) = Box::pin(realm.handle_subscribe(handle, request, &options, &topic)).await {
                    owned.subscriptions.push(id);
                }
            } else {
                handle.send(&not_authorized(MessageType::Subscribe, request, &topic));
            }
        }
        Message::Unsubscribe { request, subscription } => {
            if Box::pin(realm.handle_unsubscribe(handle, request, subscription)).await {
                owned.subscriptions.retain(|&s| s != subscription);
            }
        }
        Message::Call { request, options, procedure, payload } => {
            let perm = authorize(conn, handle, &procedure, Action::Call).await;
            if !perm.allow {
                handle.send(&not_authorized(MessageType::Call, request, &procedure));
            } else if uri::validate(&procedure, uri::MatchPolicy::Exact, false).is_err() {
                handle.send(&error_message(MessageType::Call, request, "wamp.error.invalid_uri", "invalid procedure URI".into()));
            } else if uri::is_meta(&procedure) {
                Box::pin(realm.handle_meta_call(handle, request, &procedure, payload)).await;
            } else {
                realm.handle_call(handle, request, &options, &procedure, payload, perm.disclose);
            }
        }
        Message::Cancel { request, options } => realm.handle_cancel(handle, request, &options),
        Message::Register { request, options, procedure } => {
            if authorize(conn, handle, &procedure, Action::Register).await.allow {
                Box::pin(realm.handle_register(handle, request, &options, &procedure)).await;
            } else {
                handle.send(&not_authorized(MessageType::Register, request, &procedure));
            }
        }
        Message::Unregister { request, registration } => {
            Box::pin(realm.handle_unregister(handle, request, registration)).await;
        }
        Message::Yield { request, options, payload } => realm.handle_yield(handle, request, &options, payload),
        Message::Error { request_type: MessageType::Invocation, request, details, error, payload } => {
            realm.handle_invocation_error(handle, request, details, error, payload);
        }
        Message::Goodbye { .. } => {
            let reply = Message::Goodbye { details: Dict::new(), reason: "wamp.close.goodbye_and_out".into() };
            owned.goodbye_reply = Some(encode(&reply, conn.serializer));
            return false;
        }
        Message::Abort { .. } => {
            conn.outbox.close(None, close_code::NORMAL, "");
            return false;
        }
        Message::Hello { .. } => {
            conn.protocol_violation("HELLO received after the session was established");
            return false;
        }
        other => {
            conn.protocol_violation(format!("unexpected {:?} message from a client", other.message_type()));
            return false;
        }
    }
    true
}

fn not_authorized(request_type: MessageType, request: Id, uri: &str) -> Message {
    error_message(request_type, request, "wamp.error.not_authorized", format!("not authorized for {uri}"))
}

/// A detached session handle for unit tests, and what was queued for it.
#[cfg(test)]
pub(crate) fn test_session(id: Id, authid: &str, authrole: &str) -> (Arc<SessionHandle>, TestRx) {
    let outbox = Arc::new(Outbox::new(1000, 1 << 20, Default::default()));
    let handle = Arc::new(SessionHandle {
        identity: SessionIdentity {
            realm: "realm1".into(),
            tenant: "t".into(),
            session: id,
            authid: authid.into(),
            authrole: authrole.into(),
            authmethod: "anonymous".into(),
        },
        authprovider: "static".into(),
        serializer: Serializer::Json,
        outbox: outbox.clone(),
        peer: SocketAddr::from(([127, 0, 0, 1], 1)),
        features: FEATURE_CALLEE_CANCELING,
        next_request: AtomicU64::new(0),
    });
    (handle, TestRx(outbox))
}

#[cfg(test)]
pub(crate) struct TestRx(Arc<Outbox>);

#[cfg(test)]
impl TestRx {
    pub fn frames(&self) -> VecDeque<Bytes> {
        self.0.take_queued()
    }
    pub fn messages(&self) -> Vec<Message> {
        self.frames().iter().map(|f| decode(f, Serializer::Json).expect("valid frame")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_sequential_from_one() {
        let (s, _) = test_session(1, "a", "r");
        assert_eq!((s.next_request_id(), s.next_request_id()), (1, 2));
        s.next_request.store(MAX_ID - 1, Ordering::Relaxed);
        assert_eq!(s.next_request_id(), MAX_ID);
        assert_eq!(s.next_request_id(), 1);
    }

    #[test]
    fn callee_features_from_hello() {
        let details = dict([("roles", Value::dict([("callee", Value::dict([("features", Value::dict([("call_canceling", true)]))]))]))]);
        assert_eq!(client_features(&details), FEATURE_CALLEE_CANCELING);
        assert_eq!(client_features(&Dict::new()), 0);
    }
}
