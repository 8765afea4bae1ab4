//! Whole-message encoding and decoding for the three WAMP serializers.
//!
//! Encoding serializes [`Message`] / [`Value`] straight into the output buffer (no
//! intermediate tree): JSON by hand (module `json`), the binary formats through serde.
//! Decoding runs one serde visitor (shared by all three formats) into a [`Value`], then converts the top-level array into a [`Message`], checking arity and
//! element types against the spec (rfc/text/basic/bp_messages.md).
//!
//! Wire conventions:
//! - Empty trailing payload is omitted; `[]` args are sent when only kwargs are present.
//!   Decoding accepts every form and normalises empty args / kwargs to `None`, so
//!   `[36,1,2,{}]`, `[36,1,2,{},[]]` and `[36,1,2,{},[],{}]` decode to the same message.
//! - JSON carries binary as the string `"\u0000" + base64` (standard alphabet, padded on
//!   encode, padding optional on decode), anywhere in the message. A consequence of the
//!   spec's scheme: a JSON *string* starting with NUL is read back as binary.
//! - MessagePack carries binary as `bin`, CBOR as a byte string. CBOR tags are stripped
//!   (bignums up to 64 bits become integers); MessagePack ext types are rejected.
//! - Non-finite floats have no JSON form and encode as `null` there.
//!
//! ```
//! use junction_protocol::{Dict, Message, Serializer, Value, decode, encode};
//!
//! let frame = br#"[16,1,{"acknowledge":true},"com.app.topic",["hi"]]"#;
//! let Message::Publish { topic, options, payload, .. } = decode(frame, Serializer::Json)? else { unreachable!() };
//! assert_eq!(options.get("acknowledge"), Some(&Value::Bool(true)));
//! let event = Message::Event { subscription: 7, publication: 9, details: Dict::new(), payload };
//! assert_eq!(encode(&event, Serializer::Json), &br#"[36,7,9,{},["hi"]]"#[..]);
//! assert_eq!(topic, "com.app.topic");
//! # Ok::<(), junction_protocol::DecodeError>(())
//! ```
//!
//! Safety on hostile input: nesting is limited to [`MAX_DEPTH`] containers, declared
//! lengths are only trusted up to a small preallocation, trailing bytes after the message
//! are rejected, and nothing on the decode path panics.

use std::fmt;
use std::io::Cursor;

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use bytes::Bytes;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize};

use crate::message::{Id, MAX_ID, Message, MessageType, Payload};
use crate::value::{Dict, List, Value};

/// Maximum container nesting accepted when decoding (the message array itself counts as one).
/// Bounds recursion for MessagePack and CBOR the way serde_json's own limit does for JSON.
pub const MAX_DEPTH: usize = 64;

/// Preallocation cap for declared container lengths: a 5-byte frame may claim 2^32
/// elements, so capacity beyond this grows only as elements actually arrive.
const PREALLOC_CAP: usize = 64;

/// The WAMP serializers, as negotiated via the WebSocket subprotocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Serializer {
    Json,
    MsgPack,
    Cbor,
}

impl Serializer {
    pub const ALL: [Serializer; 3] = [Serializer::Json, Serializer::MsgPack, Serializer::Cbor];

    /// The WebSocket subprotocol name.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Serializer::Json => "wamp.2.json",
            Serializer::MsgPack => "wamp.2.msgpack",
            Serializer::Cbor => "wamp.2.cbor",
        }
    }

    pub fn from_subprotocol(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|ser| ser.subprotocol() == s)
    }

    /// MessagePack and CBOR travel in binary WebSocket frames, JSON in text frames.
    pub fn is_binary(self) -> bool {
        !matches!(self, Serializer::Json)
    }

    /// 0, 1, 2 in [`Serializer::ALL`] order: index for per-serializer caches.
    pub fn index(self) -> usize {
        match self {
            Serializer::Json => 0,
            Serializer::MsgPack => 1,
            Serializer::Cbor => 2,
        }
    }

    /// Short name: "json", "msgpack", "cbor" (logs, metrics, config).
    pub fn name(self) -> &'static str {
        match self {
            Serializer::Json => "json",
            Serializer::MsgPack => "msgpack",
            Serializer::Cbor => "cbor",
        }
    }

    /// Serializer id in the RawSocket handshake (1 JSON, 2 MessagePack, 3 CBOR).
    pub fn rawsocket_id(self) -> u8 {
        self.index() as u8 + 1
    }

    pub fn from_rawsocket_id(id: u8) -> Option<Self> {
        Self::ALL.get(usize::from(id).checked_sub(1)?).copied()
    }
}

impl fmt::Display for Serializer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    /// Not parseable in that serializer at all, or not an array with an integer type code.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// An array whose first element is not a known WAMP message type code.
    #[error("unknown message type {0}")]
    UnknownType(u64),
    /// A known message type with the wrong number or kinds of elements.
    #[error("invalid {message_type:?} message: {reason}")]
    InvalidMessage { message_type: MessageType, reason: String },
}

impl DecodeError {
    /// The message type, when the frame got far enough to tell.
    pub fn message_type(&self) -> Option<MessageType> {
        match self {
            DecodeError::InvalidMessage { message_type, .. } => Some(*message_type),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------

/// Initial output buffer: most control messages and small events fit without a realloc.
const ENCODE_CAPACITY: usize = 256;

/// Encode a message. Infallible: every [`Message`] has a representation in every serializer.
pub fn encode(msg: &Message, ser: Serializer) -> Bytes {
    let mut out = Vec::with_capacity(ENCODE_CAPACITY);
    encode_to(msg, ser, &mut out);
    Bytes::from(out)
}

/// Append the encoding of `msg` to `out` (lets callers reuse buffers).
pub fn encode_to(msg: &Message, ser: Serializer, out: &mut Vec<u8>) {
    match ser {
        Serializer::Json => with_layout(msg, |t, fields, payload| json::emit(out, t, fields, payload)),
        _ => write_any(msg, ser, out),
    }
}

/// Encode an EVENT from borrowed parts, so a broker fanning one publication out to several
/// subscriptions need not clone the payload into a [`Message`] for each.
/// Byte-identical to `encode(&Message::Event { .. }, ser)`.
pub fn encode_event(subscription: Id, publication: Id, details: &Dict, payload: &Payload, ser: Serializer) -> Bytes {
    struct EventRef<'a>(Id, Id, &'a Dict, &'a Payload);
    impl Serialize for EventRef<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            emit(s, MessageType::Event, &[F::U(self.0), F::U(self.1), F::D(self.2)], Some(self.3))
        }
    }
    let mut out = Vec::with_capacity(ENCODE_CAPACITY);
    match ser {
        Serializer::Json => json::emit(
            &mut out,
            MessageType::Event,
            &[F::U(subscription), F::U(publication), F::D(details)],
            Some(payload),
        ),
        _ => write_any(&EventRef(subscription, publication, details, payload), ser, &mut out),
    }
    Bytes::from(out)
}

/// Encode a bare [`Value`] (for tests, caches, or non-message uses).
pub fn encode_value(value: &Value, ser: Serializer) -> Bytes {
    let mut out = Vec::with_capacity(64);
    match ser {
        Serializer::Json => json::value(&mut out, value),
        _ => write_any(value, ser, &mut out),
    }
    Bytes::from(out)
}

fn write_any<T: Serialize + ?Sized>(v: &T, ser: Serializer, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail, and our types only produce string map keys, so none
    // of these error paths is reachable; a debug assertion keeps that honest.
    let res: Result<(), String> = match ser {
        Serializer::Json => serde_json::to_writer(&mut *out, v).map_err(|e| e.to_string()),
        Serializer::MsgPack => v.serialize(&mut rmp_serde::Serializer::new(&mut *out)).map_err(|e| e.to_string()),
        Serializer::Cbor => ciborium::into_writer(v, &mut *out).map_err(|e| e.to_string()),
    };
    debug_assert!(res.is_ok(), "encoding failed: {res:?}");
}

/// `Display` of binary as `"\0" + base64`; serde_json's `collect_str` streams it escaped
/// into the output without an intermediate `String`.
struct JsonBinary<'a>(&'a [u8]);

impl fmt::Display for JsonBinary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\0")?;
        fmt::Display::fmt(&base64::display::Base64Display::new(self.0, &STANDARD), f)
    }
}

impl Serialize for Value {
    /// Binary becomes `"\0" + base64` on human-readable serializers (JSON), bytes otherwise.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::UInt(u) => s.serialize_u64(*u),
            Value::Float(f) => s.serialize_f64(*f),
            Value::String(x) => s.serialize_str(x),
            Value::Bytes(b) => {
                if s.is_human_readable() {
                    s.collect_str(&JsonBinary(b))
                } else {
                    s.serialize_bytes(b)
                }
            }
            Value::List(l) => s.collect_seq(l),
            Value::Dict(d) => s.collect_map(d),
        }
    }
}

/// One fixed (non-payload) element of a message.
enum F<'a> {
    U(u64),
    S(&'a str),
    D(&'a Dict),
}

impl Serialize for F<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            F::U(u) => s.serialize_u64(*u),
            F::S(x) => s.serialize_str(x),
            F::D(d) => s.collect_map(*d),
        }
    }
}

/// The payload elements as they go on the wire: trailing empties omitted, `[]` args
/// emitted when only kwargs are present.
fn wire_payload(p: &Payload) -> (Option<&[Value]>, Option<&Dict>) {
    let kwargs = p.kwargs.as_ref().filter(|k| !k.is_empty());
    let args = match (&p.args, kwargs) {
        (Some(a), _) if !a.is_empty() => Some(a.as_slice()),
        (_, Some(_)) => Some(&[][..]),
        _ => None,
    };
    (args, kwargs)
}

fn emit<S: serde::Serializer>(
    s: S,
    t: MessageType,
    fields: &[F<'_>],
    payload: Option<&Payload>,
) -> Result<S::Ok, S::Error> {
    let (args, kwargs) = payload.map_or((None, None), wire_payload);
    let len = 1 + fields.len() + usize::from(args.is_some()) + usize::from(kwargs.is_some());
    let mut seq = s.serialize_seq(Some(len))?;
    seq.serialize_element(&t.code())?;
    for f in fields {
        seq.serialize_element(f)?;
    }
    if let Some(a) = args {
        seq.serialize_element(a)?;
    }
    if let Some(k) = kwargs {
        seq.serialize_element(&F::D(k))?;
    }
    seq.end()
}

impl Serialize for Message {
    /// Serializes as the WAMP array; see the module docs for payload conventions.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        with_layout(self, |t, fields, payload| emit(s, t, fields, payload))
    }
}

/// Calls `f` with the message's type, its elements before the payload, and its payload
/// (for the types that carry one): the one place that knows each message's wire layout.
fn with_layout<R>(msg: &Message, f: impl FnOnce(MessageType, &[F<'_>], Option<&Payload>) -> R) -> R {
    use F::{D, S as Str, U};
    let t = msg.message_type();
    match msg {
        Message::Hello { realm, details } => f(t, &[Str(realm), D(details)], None),
        Message::Welcome { session, details } => f(t, &[U(*session), D(details)], None),
        Message::Abort { details, reason } => f(t, &[D(details), Str(reason)], None),
        Message::Challenge { authmethod, extra } => f(t, &[Str(authmethod), D(extra)], None),
        Message::Authenticate { signature, extra } => f(t, &[Str(signature), D(extra)], None),
        Message::Goodbye { details, reason } => f(t, &[D(details), Str(reason)], None),
        Message::Error { request_type, request, details, error, payload } => {
            f(t, &[U(request_type.code()), U(*request), D(details), Str(error)], Some(payload))
        }
        Message::Publish { request, options, topic, payload } => {
            f(t, &[U(*request), D(options), Str(topic)], Some(payload))
        }
        Message::Published { request, publication } => f(t, &[U(*request), U(*publication)], None),
        Message::Subscribe { request, options, topic } => f(t, &[U(*request), D(options), Str(topic)], None),
        Message::Subscribed { request, subscription } => f(t, &[U(*request), U(*subscription)], None),
        Message::Unsubscribe { request, subscription } => f(t, &[U(*request), U(*subscription)], None),
        Message::Unsubscribed { request, details } | Message::Unregistered { request, details } => match details {
            Some(d) => f(t, &[U(*request), D(d)], None),
            None => f(t, &[U(*request)], None),
        },
        Message::Event { subscription, publication, details, payload } => {
            f(t, &[U(*subscription), U(*publication), D(details)], Some(payload))
        }
        Message::Call { request, options, procedure, payload } => {
            f(t, &[U(*request), D(options), Str(procedure)], Some(payload))
        }
        Message::Cancel { request, options } => f(t, &[U(*request), D(options)], None),
        Message::Result { request, details, payload } => f(t, &[U(*request), D(details)], Some(payload)),
        Message::Register { request, options, procedure } => f(t, &[U(*request), D(options), Str(procedure)], None),
        Message::Registered { request, registration } => f(t, &[U(*request), U(*registration)], None),
        Message::Unregister { request, registration } => f(t, &[U(*request), U(*registration)], None),
        Message::Invocation { request, registration, details, payload } => {
            f(t, &[U(*request), U(*registration), D(details)], Some(payload))
        }
        Message::Interrupt { request, options } => f(t, &[U(*request), D(options)], None),
        Message::Yield { request, options, payload } => f(t, &[U(*request), D(options)], Some(payload)),
    }
}

/// JSON written by hand, byte-identical to serde_json's output (a test checks that).
/// serde_json escapes strings byte by byte through a lookup table, which was 17 % of the
/// codec's instructions for a routed call; most WAMP strings need no escaping, and a
/// branch-free scan tells so in under half the instructions (`examples/codec_cost.rs`).
mod json {
    use super::*;

    pub(super) fn emit(out: &mut Vec<u8>, t: MessageType, fields: &[F<'_>], payload: Option<&Payload>) {
        let (args, kwargs) = payload.map_or((None, None), wire_payload);
        out.push(b'[');
        uint(out, t.code());
        for f in fields {
            out.push(b',');
            match f {
                F::U(u) => uint(out, *u),
                F::S(s) => string(out, s),
                F::D(d) => dict(out, d),
            }
        }
        if let Some(a) = args {
            out.push(b',');
            list(out, a);
        }
        if let Some(k) = kwargs {
            out.push(b',');
            dict(out, k);
        }
        out.push(b']');
    }

    pub(super) fn value(out: &mut Vec<u8>, v: &Value) {
        match v {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Bool(true) => out.extend_from_slice(b"true"),
            Value::Bool(false) => out.extend_from_slice(b"false"),
            Value::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
            Value::UInt(u) => uint(out, *u),
            // Rare in routed traffic; serde_json's own form (NaN / infinities become null).
            Value::Float(f) => {
                let res = serde_json::to_writer(&mut *out, f);
                debug_assert!(res.is_ok());
            }
            Value::String(s) => string(out, s),
            Value::Bytes(b) => {
                out.extend_from_slice(b"\"\\u0000");
                let start = out.len();
                out.resize(start + base64::encoded_len(b.len(), true).unwrap_or(0), 0);
                let n = STANDARD.encode_slice(b, &mut out[start..]).unwrap_or(0);
                out.truncate(start + n);
                out.push(b'"');
            }
            Value::List(l) => list(out, l),
            Value::Dict(d) => dict(out, d),
        }
    }

    fn uint(out: &mut Vec<u8>, u: u64) {
        out.extend_from_slice(itoa::Buffer::new().format(u).as_bytes());
    }

    fn list(out: &mut Vec<u8>, l: &[Value]) {
        out.push(b'[');
        for (i, v) in l.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            value(out, v);
        }
        out.push(b']');
    }

    fn dict(out: &mut Vec<u8>, d: &Dict) {
        out.push(b'{');
        for (i, (k, v)) in d.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            string(out, k);
            out.push(b':');
            value(out, v);
        }
        out.push(b'}');
    }

    /// Whether serde_json would escape any byte of `b` (controls, `"` and `\\`). No early
    /// exit: the common case reads every byte anyway, and the loop stays branch-free.
    /// (Measured against 8-byte SWAR words and 16-byte chunks: this was the cheapest.)
    fn needs_escape(b: &[u8]) -> bool {
        b.iter().fold(false, |acc, &x| acc | (x < 0x20) | (x == b'"') | (x == b'\\'))
    }

    fn string(out: &mut Vec<u8>, s: &str) {
        if needs_escape(s.as_bytes()) {
            let res = serde_json::to_writer(&mut *out, s);
            debug_assert!(res.is_ok());
        } else {
            out.reserve(s.len() + 2);
            out.push(b'"');
            out.extend_from_slice(s.as_bytes());
            out.push(b'"');
        }
    }
}

// ---------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------

/// Decode one whole frame (exactly one message; trailing bytes are an error).
pub fn decode(frame: &[u8], ser: Serializer) -> Result<Message, DecodeError> {
    message_from_value(decode_value(frame, ser)?)
}

/// [`decode`] for a frame already known to be UTF-8 (a WebSocket text frame, which the
/// transport has checked): JSON then skips serde_json's second UTF-8 check of every string.
pub fn decode_text(frame: &str, ser: Serializer) -> Result<Message, DecodeError> {
    match ser {
        Serializer::Json => message_from_value(json_value(serde_json::Deserializer::from_str(frame))?),
        _ => decode(frame.as_bytes(), ser),
    }
}

fn malformed(e: impl fmt::Display) -> DecodeError {
    DecodeError::Malformed(e.to_string())
}

fn json_value<'de, R: serde_json::de::Read<'de>>(mut de: serde_json::Deserializer<R>) -> Result<Value, DecodeError> {
    let v = Value::deserialize(&mut de).map_err(malformed)?;
    de.end().map_err(malformed)?;
    Ok(v)
}

/// Decode one whole frame into a [`Value`] without interpreting it as a message.
pub fn decode_value(frame: &[u8], ser: Serializer) -> Result<Value, DecodeError> {
    match ser {
        Serializer::Json => json_value(serde_json::Deserializer::from_slice(frame)),
        Serializer::MsgPack => {
            // The Cursor-backed reader (unlike `from_slice`) reports its position, which we
            // need to reject trailing bytes; it reads strings through a buffer that grows
            // only with bytes actually present.
            let mut de = rmp_serde::Deserializer::new(Cursor::new(frame));
            let v = Value::deserialize(&mut de).map_err(malformed)?;
            if de.position() != frame.len() as u64 {
                return Err(DecodeError::Malformed("trailing bytes after message".into()));
            }
            Ok(v)
        }
        Serializer::Cbor => {
            let mut rest = frame;
            let mut scratch = [0u8; 1024];
            let v: Value = ciborium::de::from_reader_with_buffer(&mut rest, &mut scratch).map_err(malformed)?;
            if !rest.is_empty() {
                return Err(DecodeError::Malformed("trailing bytes after message".into()));
            }
            Ok(v)
        }
    }
}

/// Standard alphabet; padding optional on input (some peers strip it).
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl<'de> Deserialize<'de> for Value {
    /// Accepts any serde format. On human-readable formats (JSON) strings starting with NUL
    /// are WAMP binary and decoded from base64. Nesting is limited to [`MAX_DEPTH`].
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let json = d.is_human_readable();
        ValueSeed { depth: 0, json }.deserialize(d)
    }
}

#[derive(Clone, Copy)]
struct ValueSeed {
    /// Containers enclosing the value being read.
    depth: usize,
    json: bool,
}

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl ValueSeed {
    fn child<E: de::Error>(self) -> Result<Self, E> {
        if self.depth >= MAX_DEPTH {
            return Err(E::custom(format_args!("nesting deeper than {MAX_DEPTH} levels")));
        }
        Ok(ValueSeed { depth: self.depth + 1, json: self.json })
    }

    fn string<E: de::Error>(self, s: &str) -> Result<Value, E> {
        match s.strip_prefix('\0') {
            Some(b64) if self.json => BASE64_LENIENT
                .decode(b64)
                .map(Value::Bytes)
                .map_err(|e| E::custom(format_args!("invalid base64 in binary string: {e}"))),
            _ => Ok(Value::String(s.to_owned())),
        }
    }
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a WAMP value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }
    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        Ok(Value::from(u))
    }
    fn visit_i128<E: de::Error>(self, i: i128) -> Result<Value, E> {
        if let Ok(i) = i64::try_from(i) {
            Ok(Value::Int(i))
        } else if let Ok(u) = u64::try_from(i) {
            Ok(Value::UInt(u))
        } else {
            Err(E::custom("integer out of 64-bit range"))
        }
    }
    fn visit_u128<E: de::Error>(self, u: u128) -> Result<Value, E> {
        u64::try_from(u).map(Value::from).map_err(|_| E::custom("integer out of 64-bit range"))
    }
    fn visit_f64<E: de::Error>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Float(f))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        self.string(s)
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        if self.json && s.starts_with('\0') { self.string(&s) } else { Ok(Value::String(s)) }
    }
    fn visit_bytes<E: de::Error>(self, b: &[u8]) -> Result<Value, E> {
        Ok(Value::Bytes(b.to_vec()))
    }
    fn visit_byte_buf<E: de::Error>(self, b: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Bytes(b))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let child = self.child()?;
        // JSON gives no length: the top-level array is a message, at most 7 elements.
        let hint = seq.size_hint().unwrap_or(if self.depth == 0 { 7 } else { 0 });
        let mut list = List::with_capacity(hint.min(PREALLOC_CAP));
        while let Some(v) = seq.next_element_seed(child)? {
            list.push(v);
        }
        Ok(Value::List(list))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let child = self.child()?;
        let mut dict = Dict::new();
        while let Some(k) = map.next_key_seed(KeySeed)? {
            let v = map.next_value_seed(child)?;
            dict.insert(k, v);
        }
        Ok(Value::Dict(dict))
    }

    /// CBOR tags arrive as enums (tag, value): drop the tag, keep the value.
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        use de::VariantAccess;
        let child = self.child()?;
        let (_, variant) = data.variant_seed(std::marker::PhantomData::<de::IgnoredAny>)?;
        // Counting the tag as a level keeps chains of nested tags within MAX_DEPTH too.
        variant.newtype_variant_seed(child)
    }
}

/// Dictionary keys must be strings in WAMP, whatever the serializer could carry.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = String;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string dictionary key")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<String, E> {
        Ok(s.to_owned())
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<String, E> {
        Ok(s)
    }
}

/// Interpret a decoded top-level value as a WAMP message.
pub fn message_from_value(v: Value) -> Result<Message, DecodeError> {
    let Value::List(items) = v else {
        return Err(DecodeError::Malformed("message is not an array".into()));
    };
    let code = match items.first() {
        Some(Value::Int(i)) if *i >= 0 => *i as u64,
        Some(Value::UInt(u)) => *u,
        Some(_) => return Err(DecodeError::Malformed("message type is not a non-negative integer".into())),
        None => return Err(DecodeError::Malformed("empty array".into())),
    };
    let t = MessageType::from_code(code).ok_or(DecodeError::UnknownType(code))?;
    let (min, max) = arity(t);
    let n = items.len();
    if n < min || n > max {
        let expected = if min == max { format!("{min}") } else { format!("{min} to {max}") };
        return Err(invalid(t, format!("expected {expected} elements, got {n}")));
    }
    let mut r = Fields { t, it: items.into_iter(), pos: 0 };
    r.it.next(); // type code, checked above
    let m = match t {
        MessageType::Hello => Message::Hello { realm: r.string("Realm")?, details: r.dict("Details")? },
        MessageType::Welcome => Message::Welcome { session: r.id("Session")?, details: r.dict("Details")? },
        MessageType::Abort => Message::Abort { details: r.dict("Details")?, reason: r.string("Reason")? },
        MessageType::Challenge => Message::Challenge { authmethod: r.string("AuthMethod")?, extra: r.dict("Extra")? },
        MessageType::Authenticate => {
            Message::Authenticate { signature: r.string("Signature")?, extra: r.dict("Extra")? }
        }
        MessageType::Goodbye => Message::Goodbye { details: r.dict("Details")?, reason: r.string("Reason")? },
        MessageType::Error => {
            let code = r.int("REQUEST.Type")?;
            let request_type = MessageType::from_code(code)
                .ok_or_else(|| invalid(t, format!("REQUEST.Type {code} is not a message type")))?;
            Message::Error {
                request_type,
                request: r.id("REQUEST.Request")?,
                details: r.dict("Details")?,
                error: r.string("Error")?,
                payload: r.payload()?,
            }
        }
        MessageType::Publish => Message::Publish {
            request: r.id("Request")?,
            options: r.dict("Options")?,
            topic: r.string("Topic")?,
            payload: r.payload()?,
        },
        MessageType::Published => {
            Message::Published { request: r.id("PUBLISH.Request")?, publication: r.id("Publication")? }
        }
        MessageType::Subscribe => {
            Message::Subscribe { request: r.id("Request")?, options: r.dict("Options")?, topic: r.string("Topic")? }
        }
        MessageType::Subscribed => {
            Message::Subscribed { request: r.id("SUBSCRIBE.Request")?, subscription: r.id("Subscription")? }
        }
        MessageType::Unsubscribe => {
            Message::Unsubscribe { request: r.id("Request")?, subscription: r.id("SUBSCRIBED.Subscription")? }
        }
        MessageType::Unsubscribed => {
            Message::Unsubscribed { request: r.id("UNSUBSCRIBE.Request")?, details: r.opt_dict("Details")? }
        }
        MessageType::Event => Message::Event {
            subscription: r.id("SUBSCRIBED.Subscription")?,
            publication: r.id("PUBLISHED.Publication")?,
            details: r.dict("Details")?,
            payload: r.payload()?,
        },
        MessageType::Call => Message::Call {
            request: r.id("Request")?,
            options: r.dict("Options")?,
            procedure: r.string("Procedure")?,
            payload: r.payload()?,
        },
        MessageType::Cancel => Message::Cancel { request: r.id("CALL.Request")?, options: r.dict("Options")? },
        MessageType::Result => {
            Message::Result { request: r.id("CALL.Request")?, details: r.dict("Details")?, payload: r.payload()? }
        }
        MessageType::Register => Message::Register {
            request: r.id("Request")?,
            options: r.dict("Options")?,
            procedure: r.string("Procedure")?,
        },
        MessageType::Registered => {
            Message::Registered { request: r.id("REGISTER.Request")?, registration: r.id("Registration")? }
        }
        MessageType::Unregister => {
            Message::Unregister { request: r.id("Request")?, registration: r.id("REGISTERED.Registration")? }
        }
        MessageType::Unregistered => {
            Message::Unregistered { request: r.id("UNREGISTER.Request")?, details: r.opt_dict("Details")? }
        }
        MessageType::Invocation => Message::Invocation {
            request: r.id("Request")?,
            registration: r.id("REGISTERED.Registration")?,
            details: r.dict("Details")?,
            payload: r.payload()?,
        },
        MessageType::Interrupt => {
            Message::Interrupt { request: r.id("INVOCATION.Request")?, options: r.dict("Options")? }
        }
        MessageType::Yield => {
            Message::Yield { request: r.id("INVOCATION.Request")?, options: r.dict("Options")?, payload: r.payload()? }
        }
    };
    Ok(m)
}

/// Allowed array lengths (including the type code) per message type.
fn arity(t: MessageType) -> (usize, usize) {
    use MessageType::*;
    match t {
        Hello | Welcome | Abort | Challenge | Authenticate | Goodbye => (3, 3),
        Published | Subscribed | Unsubscribe | Registered | Unregister | Cancel | Interrupt => (3, 3),
        Subscribe | Register => (4, 4),
        Unsubscribed | Unregistered => (2, 3),
        Error => (5, 7),
        Publish | Event | Call | Invocation => (4, 6),
        Result | Yield => (3, 5),
    }
}

fn invalid(t: MessageType, reason: String) -> DecodeError {
    DecodeError::InvalidMessage { message_type: t, reason }
}

/// Sequential reader over a message's elements (arity already checked).
struct Fields {
    t: MessageType,
    it: std::vec::IntoIter<Value>,
    pos: usize,
}

impl Fields {
    fn next(&mut self, name: &str) -> Result<Value, DecodeError> {
        self.pos += 1;
        self.it.next().ok_or_else(|| invalid(self.t, format!("missing {name}")))
    }

    fn err(&self, name: &str, what: &str) -> DecodeError {
        invalid(self.t, format!("element {} ({name}) must be {what}", self.pos))
    }

    fn int(&mut self, name: &str) -> Result<u64, DecodeError> {
        match self.next(name)? {
            Value::Int(i) if i >= 0 => Ok(i as u64),
            Value::UInt(u) => Ok(u),
            _ => Err(self.err(name, "a non-negative integer")),
        }
    }

    fn id(&mut self, name: &str) -> Result<Id, DecodeError> {
        match self.next(name)? {
            Value::Int(i) if (0..=MAX_ID as i64).contains(&i) => Ok(i as u64),
            _ => Err(self.err(name, "an integer in [0, 2^53]")),
        }
    }

    fn string(&mut self, name: &str) -> Result<String, DecodeError> {
        match self.next(name)? {
            Value::String(s) => Ok(s),
            _ => Err(self.err(name, "a string")),
        }
    }

    fn dict(&mut self, name: &str) -> Result<Dict, DecodeError> {
        match self.next(name)? {
            Value::Dict(d) => Ok(d),
            _ => Err(self.err(name, "a dict")),
        }
    }

    fn opt_dict(&mut self, name: &str) -> Result<Option<Dict>, DecodeError> {
        if self.it.len() == 0 { Ok(None) } else { self.dict(name).map(Some) }
    }

    /// Optional trailing `Arguments|list, ArgumentsKw|dict`; empties normalise to `None`.
    fn payload(&mut self) -> Result<Payload, DecodeError> {
        let mut p = Payload::default();
        if self.it.len() > 0 {
            match self.next("Arguments")? {
                Value::List(l) => p.args = (!l.is_empty()).then_some(l),
                _ => return Err(self.err("Arguments", "a list")),
            }
        }
        if self.it.len() > 0 {
            let k = self.dict("ArgumentsKw")?;
            p.kwargs = (!k.is_empty()).then_some(k);
        }
        Ok(p)
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
