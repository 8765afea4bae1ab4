//! Property tests: `decode` never panics on any input, and values / messages round-trip.

use junction_protocol::codec::{decode_value, encode_value};
use junction_protocol::{Dict, Message, MessageType, Payload, Serializer, Value, decode, decode_text, encode};
use proptest::prelude::*;

fn key() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[a-z_]{1,8}", any::<String>()]
}

/// Arbitrary values. JSON-unrepresentable corners (NaN/inf, strings starting with NUL,
/// which the spec reserves for binary) are excluded here and tested separately.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        ((i64::MAX as u64 + 1)..=u64::MAX).prop_map(Value::UInt),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::Float),
        any::<String>().prop_filter("no NUL prefix", |s| !s.starts_with('\0')).prop_map(Value::String),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::List),
            proptest::collection::btree_map(key(), inner, 0..8).prop_map(Value::Dict),
        ]
    })
}

fn dict() -> impl Strategy<Value = Dict> {
    proptest::collection::btree_map(key(), value(), 0..4)
}

fn id() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), Just(1u64 << 53), 0u64..=(1u64 << 53)]
}

fn payload() -> impl Strategy<Value = Payload> {
    (proptest::option::of(proptest::collection::vec(value(), 0..4)), proptest::option::of(dict()))
        .prop_map(|(a, k)| Payload::new(a, k))
}

fn message() -> impl Strategy<Value = Message> {
    let s = || any::<String>().prop_filter("no NUL prefix", |s| !s.starts_with('\0'));
    prop_oneof![
        (s(), dict()).prop_map(|(realm, details)| Message::Hello { realm, details }),
        (id(), dict()).prop_map(|(session, details)| Message::Welcome { session, details }),
        (dict(), s()).prop_map(|(details, reason)| Message::Abort { details, reason }),
        (id(), id(), dict(), s(), payload()).prop_map(|(t, request, details, error, payload)| Message::Error {
            request_type: MessageType::from_code([16, 32, 34, 48, 64, 66, 68][(t % 7) as usize]).expect("valid code"),
            request,
            details,
            error,
            payload,
        }),
        (id(), dict(), s(), payload()).prop_map(|(request, options, topic, payload)| Message::Publish {
            request,
            options,
            topic,
            payload
        }),
        (id(), proptest::option::of(dict())).prop_map(|(request, details)| Message::Unsubscribed { request, details }),
        (id(), id(), dict(), payload()).prop_map(|(subscription, publication, details, payload)| Message::Event {
            subscription,
            publication,
            details,
            payload
        }),
        (id(), dict(), s(), payload()).prop_map(|(request, options, procedure, payload)| Message::Call {
            request,
            options,
            procedure,
            payload
        }),
        (id(), dict(), payload()).prop_map(|(request, details, payload)| Message::Result { request, details, payload }),
        (id(), id(), dict(), payload()).prop_map(|(request, registration, details, payload)| Message::Invocation {
            request,
            registration,
            details,
            payload
        }),
        (id(), dict(), payload()).prop_map(|(request, options, payload)| Message::Yield { request, options, payload }),
        (id(), id()).prop_map(|(request, registration)| Message::Registered { request, registration }),
    ]
}

fn ser() -> impl Strategy<Value = Serializer> {
    prop_oneof![Just(Serializer::Json), Just(Serializer::MsgPack), Just(Serializer::Cbor)]
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
    /// Overwrite 4 bytes with 0xff: turns lengths into huge claims.
    Huge(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
        any::<usize>().prop_map(Mutation::Huge),
    ]
}

fn apply(frame: &mut Vec<u8>, m: &Mutation) {
    let n = frame.len().max(1);
    match *m {
        Mutation::Flip(i, b) => {
            if let Some(x) = frame.get_mut(i % n) {
                *x ^= b;
            }
        }
        Mutation::Set(i, b) => {
            if let Some(x) = frame.get_mut(i % n) {
                *x = b;
            }
        }
        Mutation::Insert(i, b) => frame.insert(i % (frame.len() + 1), b),
        Mutation::Delete(i) => {
            if !frame.is_empty() {
                frame.remove(i % n);
            }
        }
        Mutation::Truncate(i) => frame.truncate(i % n),
        Mutation::Huge(i) => {
            let start = i % n;
            for x in frame.iter_mut().skip(start).take(4) {
                *x = 0xff;
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256), s in ser()) {
        let _ = decode(&bytes, s);
    }

    /// Bytes that start like an array of a known message type get further into the decoder.
    #[test]
    fn arbitrary_tails_after_valid_heads_never_panic(
        code in prop_oneof![Just(1u8), Just(8), Just(16), Just(36), Just(48), Just(68)],
        tail in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        let mut mp = vec![0x95, code];
        mp.extend_from_slice(&tail);
        let _ = decode(&mp, Serializer::MsgPack);
        let mut cb = vec![0x85, 0x18, code];
        cb.extend_from_slice(&tail);
        let _ = decode(&cb, Serializer::Cbor);
        let mut js = format!("[{code},").into_bytes();
        js.extend_from_slice(&tail);
        let _ = decode(&js, Serializer::Json);
    }

    #[test]
    fn mutated_valid_frames_never_panic(
        m in message(),
        s in ser(),
        muts in proptest::collection::vec(mutation(), 1..6),
    ) {
        let mut frame = encode(&m, s).to_vec();
        for mu in &muts {
            apply(&mut frame, mu);
        }
        if let Ok(text) = std::str::from_utf8(&frame) {
            // A text frame decodes exactly as its bytes do.
            prop_assert_eq!(decode_text(text, s).ok(), decode(&frame, s).ok());
        }
        if let Ok(decoded) = decode(&frame, s) {
            // Whatever decodes must re-encode and decode to itself. Compared on the wire: a
            // mutated float can decode as NaN, which as a value never equals itself.
            let bytes = encode(&decoded, s);
            let again = decode(&bytes, s);
            prop_assert!(again.is_ok(), "re-encoded frame does not decode: {:?}", again);
            prop_assert_eq!(encode(&again.unwrap(), s), bytes);
        }
    }

    /// The JSON encoder is hand-written for speed: it must write exactly what serde_json
    /// writes (non-finite floats and NUL-prefixed strings included).
    #[test]
    fn json_is_byte_identical_to_serde_json(
        v in value(),
        odd in prop_oneof![Just(Value::Float(f64::NAN)), Just(Value::Float(f64::NEG_INFINITY)), Just(Value::from("\0x\"\\\u{1f}\u{7f}é"))],
        m in message(),
    ) {
        let v = Value::List(vec![v, odd]);
        prop_assert_eq!(encode_value(&v, Serializer::Json).to_vec(), serde_json::to_vec(&v).unwrap());
        prop_assert_eq!(encode(&m, Serializer::Json).to_vec(), serde_json::to_vec(&m).unwrap());
    }

    #[test]
    fn values_round_trip(v in value(), s in ser()) {
        let bytes = encode_value(&v, s);
        prop_assert_eq!(decode_value(&bytes, s), Ok(v));
    }

    #[test]
    fn messages_round_trip_in_every_serializer(m in message()) {
        for s in Serializer::ALL {
            prop_assert_eq!(decode(&encode(&m, s), s), Ok(m.clone()));
        }
        let json = encode(&m, Serializer::Json);
        prop_assert_eq!(decode_text(std::str::from_utf8(&json).unwrap(), Serializer::Json), Ok(m.clone()));
    }

    #[test]
    fn binary_formats_carry_nul_strings_and_non_finite_floats(
        s in "\0.{0,10}",
        f in prop_oneof![Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(f64::MAX)],
    ) {
        for ser in [Serializer::MsgPack, Serializer::Cbor] {
            let v = Value::List(vec![Value::String(s.clone()), Value::Float(f)]);
            prop_assert_eq!(decode_value(&encode_value(&v, ser), ser), Ok(v));
        }
    }
}
