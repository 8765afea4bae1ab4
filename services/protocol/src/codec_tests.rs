use super::*;
use crate::value::dict;

const ALL: [Serializer; 3] = Serializer::ALL;

fn rich_dict() -> Dict {
    dict([
        ("int", Value::Int(-42)),
        ("big", Value::UInt(u64::MAX)),
        ("float", Value::Float(1.5)),
        ("whole_float", Value::Float(1.0)),
        ("neg_zero", Value::Float(-0.0)),
        ("str", Value::from("héllo ☃ 𝄞 \"quoted\" \\ \n")),
        ("empty_str", Value::from("")),
        ("bin", Value::bytes(vec![0u8, 1, 2, 255])),
        ("empty_bin", Value::bytes(Vec::new())),
        ("null", Value::Null),
        ("bool", Value::Bool(false)),
        ("list", Value::List(vec![Value::Int(1), Value::from("two"), Value::List(vec![]), Value::Dict(Dict::new())])),
        ("nested", Value::dict([("a", Value::dict([("b", Value::List(vec![Value::bytes(b"xyz".to_vec())]))]))])),
        ("ünïcödé key", Value::Int(i64::MIN)),
    ])
}

fn payloads() -> Vec<Payload> {
    vec![
        Payload::default(),
        Payload::args(vec![Value::Int(1), Value::from("x")]),
        Payload::kwargs(dict([("k", 1)])),
        Payload::new(Some(vec![Value::Dict(rich_dict())]), Some(rich_dict())),
        Payload::args(vec![Value::bytes(vec![7u8; 100])]),
    ]
}

/// At least one instance of every message type, in canonical (normalised) form.
fn sample_messages() -> Vec<Message> {
    let d = rich_dict();
    let roles = dict([("roles", Value::dict([("publisher", Dict::new()), ("subscriber", Dict::new())]))]);
    let mut v = vec![
        Message::Hello { realm: "somerealm".into(), details: roles.clone() },
        Message::Hello { realm: "r".into(), details: Dict::new() },
        Message::Welcome { session: MAX_ID, details: d.clone() },
        Message::Abort { details: d.clone(), reason: "wamp.error.no_such_realm".into() },
        Message::Challenge { authmethod: "wampcra".into(), extra: d.clone() },
        Message::Authenticate { signature: "sig==".into(), extra: Dict::new() },
        Message::Goodbye { details: Dict::new(), reason: "wamp.close.close_realm".into() },
        Message::Published { request: 1, publication: 0 },
        Message::Subscribe { request: 2, options: dict([("match", "prefix")]), topic: "com.app.".into() },
        Message::Subscribed { request: 2, subscription: 99 },
        Message::Unsubscribe { request: 3, subscription: 99 },
        Message::Unsubscribed { request: 3, details: None },
        Message::Unsubscribed { request: 0, details: Some(dict([("subscription", 99), ("reason", 1)])) },
        Message::Cancel { request: 5, options: dict([("mode", "kill")]) },
        Message::Register { request: 6, options: Dict::new(), procedure: "com.app.proc".into() },
        Message::Registered { request: 6, registration: 77 },
        Message::Unregister { request: 7, registration: 77 },
        Message::Unregistered { request: 7, details: None },
        Message::Unregistered { request: 0, details: Some(Dict::new()) },
        Message::Interrupt { request: 8, options: Dict::new() },
    ];
    for p in payloads() {
        v.push(Message::Error {
            request_type: MessageType::Call,
            request: 9,
            details: d.clone(),
            error: "com.app.error".into(),
            payload: p.clone(),
        });
        v.push(Message::Publish { request: 10, options: d.clone(), topic: "com.app.topic".into(), payload: p.clone() });
        v.push(Message::Event { subscription: 11, publication: MAX_ID, details: Dict::new(), payload: p.clone() });
        v.push(Message::Call { request: 12, options: Dict::new(), procedure: "com.app.p".into(), payload: p.clone() });
        v.push(Message::Result { request: 13, details: dict([("progress", true)]), payload: p.clone() });
        v.push(Message::Invocation { request: 14, registration: 77, details: d.clone(), payload: p.clone() });
        v.push(Message::Yield { request: 14, options: Dict::new(), payload: p.clone() });
    }
    v
}

fn json(s: &str) -> Result<Message, DecodeError> {
    decode(s.as_bytes(), Serializer::Json)
}

fn invalid_reason(e: DecodeError) -> String {
    match e {
        DecodeError::InvalidMessage { reason, .. } => reason,
        other => panic!("expected InvalidMessage, got {other:?}"),
    }
}

#[test]
fn every_message_type_is_covered() {
    let mut seen: Vec<MessageType> = sample_messages().iter().map(Message::message_type).collect();
    seen.sort_by_key(|t| t.code());
    seen.dedup();
    let all: Vec<u64> = (0..=255).filter(|c| MessageType::from_code(*c).is_some()).collect();
    assert_eq!(seen.iter().map(|t| t.code()).collect::<Vec<_>>(), all);
}

#[test]
fn round_trip_every_message_in_every_serializer() {
    for ser in ALL {
        for m in sample_messages() {
            let bytes = encode(&m, ser);
            let back = decode(&bytes, ser).unwrap_or_else(|e| panic!("{ser}: {m:?}: {e}"));
            assert_eq!(back, m, "{ser}");
            // encode_to appends identically
            let mut buf = b"xx".to_vec();
            encode_to(&m, ser, &mut buf);
            assert_eq!(&buf[2..], &bytes[..]);
        }
    }
}

#[test]
fn cross_serializer_transcoding_is_lossless() {
    for m in sample_messages() {
        for a in ALL {
            let via = decode(&encode(&m, a), a).unwrap();
            for b in ALL {
                assert_eq!(decode(&encode(&via, b), b).unwrap(), m, "{a} -> {b}");
            }
        }
    }
}

#[test]
fn spec_wire_vectors_json() {
    let hello = r#"[1,"somerealm",{"roles":{"publisher":{},"subscriber":{}}}]"#;
    let m = json(hello).unwrap();
    assert_eq!(
        m,
        Message::Hello {
            realm: "somerealm".into(),
            details: dict([("roles", Value::dict([("publisher", Dict::new()), ("subscriber", Dict::new())]))]),
        }
    );
    assert_eq!(encode(&m, Serializer::Json), hello.as_bytes());

    let vectors: &[(&str, Message)] = &[
        (
            r#"[2,9129137332,{"roles":{"broker":{}}}]"#,
            Message::Welcome {
                session: 9129137332,
                details: dict([("roles", Value::dict([("broker", Dict::new())]))]),
            },
        ),
        (
            r#"[3,{"message":"The realm does not exist."},"wamp.error.no_such_realm"]"#,
            Message::Abort {
                details: dict([("message", "The realm does not exist.")]),
                reason: "wamp.error.no_such_realm".into(),
            },
        ),
        (
            r#"[6,{"message":"The host is shutting down now."},"wamp.close.system_shutdown"]"#,
            Message::Goodbye {
                details: dict([("message", "The host is shutting down now.")]),
                reason: "wamp.close.system_shutdown".into(),
            },
        ),
        (
            r#"[16,239714735,{},"com.myapp.mytopic1",[],{"color":"orange","sizes":[23,42,7]}]"#,
            Message::Publish {
                request: 239714735,
                options: Dict::new(),
                topic: "com.myapp.mytopic1".into(),
                payload: Payload::kwargs(dict([
                    ("color", Value::from("orange")),
                    ("sizes", Value::List(vec![23.into(), 42.into(), 7.into()])),
                ])),
            },
        ),
        (r#"[17,239714735,4429313566]"#, Message::Published { request: 239714735, publication: 4429313566 }),
        (
            r#"[32,713845233,{},"com.myapp.mytopic1"]"#,
            Message::Subscribe { request: 713845233, options: Dict::new(), topic: "com.myapp.mytopic1".into() },
        ),
        (
            r#"[36,5512315355,4429313566,{},["Hello, world!"]]"#,
            Message::Event {
                subscription: 5512315355,
                publication: 4429313566,
                details: Dict::new(),
                payload: Payload::args(vec!["Hello, world!".into()]),
            },
        ),
        (r#"[35,85346237]"#, Message::Unsubscribed { request: 85346237, details: None }),
        (
            r#"[8,68,6131533,{},"com.myapp.error.object_write_protected",["Object is write protected."],{"severity":3}]"#,
            Message::Error {
                request_type: MessageType::Invocation,
                request: 6131533,
                details: Dict::new(),
                error: "com.myapp.error.object_write_protected".into(),
                payload: Payload::new(Some(vec!["Object is write protected.".into()]), Some(dict([("severity", 3)]))),
            },
        ),
        (
            r#"[48,7814135,{},"com.myapp.ping"]"#,
            Message::Call {
                request: 7814135,
                options: Dict::new(),
                procedure: "com.myapp.ping".into(),
                payload: Payload::default(),
            },
        ),
        (
            r#"[50,7814135,{},[30]]"#,
            Message::Result { request: 7814135, details: Dict::new(), payload: Payload::args(vec![30.into()]) },
        ),
        (
            r#"[70,6131533,{},[],{"userid":123,"karma":10}]"#,
            Message::Yield {
                request: 6131533,
                options: Dict::new(),
                payload: Payload::kwargs(dict([("userid", 123), ("karma", 10)])),
            },
        ),
    ];
    for (wire, msg) in vectors {
        assert_eq!(&json(wire).unwrap(), msg, "{wire}");
        // BTreeMap key order differs from the spec examples' order in one case; compare values.
        let re = encode(msg, Serializer::Json);
        assert_eq!(json(std::str::from_utf8(&re).unwrap()).unwrap(), *msg);
    }
    // Exact bytes where key order is already sorted.
    let ev = &vectors[6].1;
    assert_eq!(encode(ev, Serializer::Json), &br#"[36,5512315355,4429313566,{},["Hello, world!"]]"#[..]);
}

#[test]
fn binary_wire_vectors() {
    let m = Message::Event {
        subscription: 1,
        publication: 2,
        details: Dict::new(),
        payload: Payload::args(vec![Value::bytes(vec![1u8, 2, 3])]),
    };
    assert_eq!(encode(&m, Serializer::Json), &br#"[36,1,2,{},["\u0000AQID"]]"#[..]);
    // msgpack: fixarray(5) 36 1 2 fixmap(0) fixarray(1) bin8(3) 01 02 03
    assert_eq!(&encode(&m, Serializer::MsgPack)[..], &[0x95, 0x24, 0x01, 0x02, 0x80, 0x91, 0xc4, 0x03, 1, 2, 3]);
    // cbor: array(5) uint(36) 1 2 map(0) array(1) bytes(3) 01 02 03
    assert_eq!(&encode(&m, Serializer::Cbor)[..], &[0x85, 0x18, 0x24, 0x01, 0x02, 0xa0, 0x81, 0x43, 1, 2, 3]);
    for ser in ALL {
        assert_eq!(decode(&encode(&m, ser), ser).unwrap(), m);
    }
    // unpadded base64 is accepted, and binary inside options/details decodes too
    assert_eq!(
        json(r#"[16,1,{"k":"\u0000AQI"},"t",["\u0000AQID"]]"#).unwrap(),
        Message::Publish {
            request: 1,
            options: dict([("k", Value::bytes(vec![1u8, 2]))]),
            topic: "t".into(),
            payload: Payload::args(vec![Value::bytes(vec![1u8, 2, 3])]),
        }
    );
    // empty binary
    assert_eq!(encode_value(&Value::bytes(vec![]), Serializer::Json), &b"\"\\u0000\""[..]);
    assert_eq!(decode_value(b"\"\\u0000\"", Serializer::Json).unwrap(), Value::bytes(vec![]));
    // In msgpack/cbor, a string that starts with NUL stays a string.
    for ser in [Serializer::MsgPack, Serializer::Cbor] {
        let v = Value::from("\0AQID");
        assert_eq!(decode_value(&encode_value(&v, ser), ser).unwrap(), v);
    }
}

#[test]
fn empty_payload_is_omitted_and_every_form_decodes_alike() {
    let bare = Message::Event { subscription: 1, payload: Payload::default(), publication: 2, details: Dict::new() };
    let forms = [r#"[36,1,2,{}]"#, r#"[36,1,2,{},[]]"#, r#"[36,1,2,{},[],{}]"#];
    for f in forms {
        assert_eq!(json(f).unwrap(), bare, "{f}");
    }
    for p in [
        Payload::default(),
        Payload { args: Some(vec![]), kwargs: None },
        Payload { args: None, kwargs: Some(Dict::new()) },
        Payload { args: Some(vec![]), kwargs: Some(Dict::new()) },
    ] {
        let m = Message::Event { subscription: 1, publication: 2, details: Dict::new(), payload: p };
        assert_eq!(encode(&m, Serializer::Json), &b"[36,1,2,{}]"[..]);
        assert_eq!(&encode(&m, Serializer::MsgPack)[..], &[0x94, 0x24, 1, 2, 0x80]);
        assert_eq!(&encode(&m, Serializer::Cbor)[..], &[0x84, 0x18, 0x24, 1, 2, 0xa0]);
    }
    // kwargs only: args sent as []
    let kw = Message::Call {
        request: 1,
        options: Dict::new(),
        procedure: "p".into(),
        payload: Payload { args: None, kwargs: Some(dict([("a", 1)])) },
    };
    assert_eq!(encode(&kw, Serializer::Json), &br#"[48,1,{},"p",[],{"a":1}]"#[..]);
    // args only: no trailing {}
    let a = Message::Call {
        request: 1,
        options: Dict::new(),
        procedure: "p".into(),
        payload: Payload { args: Some(vec![1.into()]), kwargs: Some(Dict::new()) },
    };
    assert_eq!(encode(&a, Serializer::Json), &br#"[48,1,{},"p",[1]]"#[..]);
}

#[test]
fn numbers_keep_their_kind() {
    let v = decode_value(
        b"[1.0, 1, -1, 18446744073709551615, 9223372036854775807, 9223372036854775808, 1e3, -0.5]",
        Serializer::Json,
    )
    .unwrap();
    assert_eq!(
        v,
        Value::List(vec![
            Value::Float(1.0),
            Value::Int(1),
            Value::Int(-1),
            Value::UInt(u64::MAX),
            Value::Int(i64::MAX),
            Value::UInt(1 << 63),
            Value::Float(1000.0),
            Value::Float(-0.5),
        ])
    );
    for ser in ALL {
        for x in [Value::Float(1.0), Value::Float(f64::MAX), Value::Float(f64::MIN_POSITIVE), Value::Float(0.1)] {
            assert_eq!(decode_value(&encode_value(&x, ser), ser).unwrap(), x, "{ser}");
        }
        for x in [Value::Int(0), Value::Int(i64::MIN), Value::Int(i64::MAX), Value::UInt(u64::MAX), Value::Int(-1)] {
            assert_eq!(decode_value(&encode_value(&x, ser), ser).unwrap(), x, "{ser}");
        }
    }
    // Non-finite floats have no JSON form.
    assert_eq!(encode_value(&Value::Float(f64::NAN), Serializer::Json), &b"null"[..]);
    // ...but survive the binary formats.
    for ser in [Serializer::MsgPack, Serializer::Cbor] {
        let back = decode_value(&encode_value(&Value::Float(f64::INFINITY), ser), ser).unwrap();
        assert_eq!(back, Value::Float(f64::INFINITY));
    }
}

#[test]
fn cbor_tags_are_stripped_and_bignums_become_integers() {
    // tag(1) epoch time 1363896240
    let tagged = [0xc1, 0x1a, 0x51, 0x4b, 0x67, 0xb0];
    assert_eq!(decode_value(&tagged, Serializer::Cbor).unwrap(), Value::Int(1363896240));
    // tag(2) bignum 0x01_00 = 256
    assert_eq!(decode_value(&[0xc2, 0x42, 0x01, 0x00], Serializer::Cbor).unwrap(), Value::Int(256));
    // tag(2) bignum 2^64: out of range
    let big = [0xc2, 0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0];
    assert!(matches!(decode_value(&big, Serializer::Cbor), Err(DecodeError::Malformed(_))));
    // negative beyond i64: -2^64
    let neg = [0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    assert!(matches!(decode_value(&neg, Serializer::Cbor), Err(DecodeError::Malformed(_))));
    // CBOR undefined reads as null
    assert_eq!(decode_value(&[0xf7], Serializer::Cbor).unwrap(), Value::Null);
    // indefinite-length array and text
    let indef = [0x9f, 0x18, 0x24, 0x01, 0x02, 0xa0, 0xff];
    assert!(matches!(decode(&indef, Serializer::Cbor), Ok(Message::Event { .. })));
}

#[test]
fn decode_error_malformed() {
    let cases: &[(&[u8], Serializer)] = &[
        (b"", Serializer::Json),
        (b"not json", Serializer::Json),
        (b"[1, \"r\", {}", Serializer::Json),
        (b"{\"a\":1}", Serializer::Json),
        (b"\"x\"", Serializer::Json),
        (b"[]", Serializer::Json),
        (b"[\"hello\", \"r\", {}]", Serializer::Json),
        (b"[-1, \"r\", {}]", Serializer::Json),
        (b"[1.0, \"r\", {}]", Serializer::Json),
        (b"[1,\"r\",{}] trailing", Serializer::Json),
        (b"[36,1,2,{\"k\":\"\\u0000not base64!\"}]", Serializer::Json),
        (b"", Serializer::MsgPack),
        (&[0xc1], Serializer::MsgPack),                               // reserved marker
        (&[0x93, 0x01], Serializer::MsgPack),                         // truncated
        (&[0x93, 0x01, 0xa1, b'r', 0x80, 0x00], Serializer::MsgPack), // trailing byte
        (&[0x92, 0x23, 0x81, 0x01, 0x02], Serializer::MsgPack),       // int map key
        (&[0xd4, 0x01, 0x00], Serializer::MsgPack),                   // ext type
        (&[0xdb, 0xff, 0xff, 0xff, 0xff, b'a'], Serializer::MsgPack), // str32 claiming 4 GiB
        (&[0xdd, 0xff, 0xff, 0xff, 0xff, 0x01], Serializer::MsgPack), // array32 claiming 4G elements
        (b"", Serializer::Cbor),
        (&[0x83, 0x01], Serializer::Cbor),
        (&[0x82, 0x18, 0x23, 0xa1, 0x01, 0x02], Serializer::Cbor), // int map key
        (&[0x83, 0x01, 0x61, b'r', 0xa0, 0x00], Serializer::Cbor), // trailing
        (&[0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, b'a'], Serializer::Cbor), // text claiming 2^64
        (&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], Serializer::Cbor), // array claiming 2^64
        (&[0x61, 0xff], Serializer::Cbor),                         // invalid utf-8 text
    ];
    for (frame, ser) in cases {
        match decode(frame, *ser) {
            Err(DecodeError::Malformed(reason)) => assert!(!reason.is_empty()),
            other => panic!("{ser} {frame:?}: expected Malformed, got {other:?}"),
        }
        assert_eq!(decode(frame, *ser).unwrap_err().message_type(), None);
    }
}

#[test]
fn decode_error_unknown_type() {
    assert_eq!(json("[7]"), Err(DecodeError::UnknownType(7)));
    assert_eq!(json("[0, 1, 2]"), Err(DecodeError::UnknownType(0)));
    assert_eq!(json("[18446744073709551615]"), Err(DecodeError::UnknownType(u64::MAX)));
    assert_eq!(decode(&[0x91, 0x07], Serializer::MsgPack), Err(DecodeError::UnknownType(7)));
    assert_eq!(decode(&[0x81, 0x07], Serializer::Cbor), Err(DecodeError::UnknownType(7)));
    assert_eq!(DecodeError::UnknownType(7).message_type(), None);
    assert_eq!(DecodeError::UnknownType(7).to_string(), "unknown message type 7");
}

#[test]
fn decode_error_invalid_message() {
    let max = MAX_ID;
    let over = MAX_ID + 1;
    let cases: Vec<(String, MessageType, &str)> = vec![
        ("[1,\"r\"]".into(), MessageType::Hello, "expected 3 elements, got 2"),
        ("[1,\"r\",{},{}]".into(), MessageType::Hello, "expected 3 elements, got 4"),
        ("[1,5,{}]".into(), MessageType::Hello, "element 1 (Realm) must be a string"),
        ("[1,\"r\",[]]".into(), MessageType::Hello, "element 2 (Details) must be a dict"),
        (format!("[2,{over},{{}}]"), MessageType::Welcome, "element 1 (Session) must be an integer in [0, 2^53]"),
        ("[2,-1,{}]".into(), MessageType::Welcome, "element 1 (Session) must be an integer in [0, 2^53]"),
        ("[2,1.0,{}]".into(), MessageType::Welcome, "element 1 (Session) must be an integer in [0, 2^53]"),
        ("[2,\"1\",{}]".into(), MessageType::Welcome, "element 1 (Session) must be an integer in [0, 2^53]"),
        ("[8,99,1,{},\"e\"]".into(), MessageType::Error, "REQUEST.Type 99 is not a message type"),
        ("[8,\"x\",1,{},\"e\"]".into(), MessageType::Error, "element 1 (REQUEST.Type) must be a non-negative integer"),
        ("[8,48,1,{},\"e\",{}]".into(), MessageType::Error, "element 5 (Arguments) must be a list"),
        ("[8,48,1,{},\"e\",[],[]]".into(), MessageType::Error, "element 6 (ArgumentsKw) must be a dict"),
        ("[8,48,1,{},\"e\",[],{},1]".into(), MessageType::Error, "expected 5 to 7 elements, got 8"),
        ("[16,1,{},\"t\",null]".into(), MessageType::Publish, "element 4 (Arguments) must be a list"),
        ("[16,1,{}]".into(), MessageType::Publish, "expected 4 to 6 elements, got 3"),
        ("[32,1,{},\"t\",[]]".into(), MessageType::Subscribe, "expected 4 elements, got 5"),
        ("[35]".into(), MessageType::Unsubscribed, "expected 2 to 3 elements, got 1"),
        ("[35,0,[]]".into(), MessageType::Unsubscribed, "element 2 (Details) must be a dict"),
        (
            format!("[36,{max},{over},{{}}]"),
            MessageType::Event,
            "element 2 (PUBLISHED.Publication) must be an integer in [0, 2^53]",
        ),
        ("[50,1,{},[],{},{}]".into(), MessageType::Result, "expected 3 to 5 elements, got 6"),
        ("[64,1,{},\"p\",[]]".into(), MessageType::Register, "expected 4 elements, got 5"),
        ("[68,1,2,\"d\"]".into(), MessageType::Invocation, "element 3 (Details) must be a dict"),
        ("[70,1,{},\"x\"]".into(), MessageType::Yield, "element 3 (Arguments) must be a list"),
    ];
    for (wire, t, reason) in cases {
        let e = json(&wire).unwrap_err();
        assert_eq!(e.message_type(), Some(t), "{wire}");
        assert_eq!(invalid_reason(e), reason, "{wire}");
    }
    // Ids at the edges are fine.
    assert!(json(&format!("[17,0,{max}]")).is_ok());
    // u64 above i64 as an id is out of range in every serializer.
    let m = Value::List(vec![17.into(), Value::UInt(u64::MAX), 1.into()]);
    for ser in ALL {
        let e = decode(&encode_value(&m, ser), ser).unwrap_err();
        assert_eq!(e.message_type(), Some(MessageType::Published));
    }
    let e = json("[1,5,{}]").unwrap_err();
    assert_eq!(e.to_string(), "invalid Hello message: element 1 (Realm) must be a string");
}

#[test]
fn dict_keys_must_be_strings() {
    // {1: 2} as details, in msgpack and cbor
    let mp = [0x93, 0x02, 0x01, 0x81, 0x01, 0x02];
    let cb = [0x83, 0x02, 0x01, 0xa1, 0x01, 0x02];
    assert!(matches!(decode(&mp, Serializer::MsgPack), Err(DecodeError::Malformed(_))));
    assert!(matches!(decode(&cb, Serializer::Cbor), Err(DecodeError::Malformed(_))));
    // binary keys too
    let mp_bin = [0x93, 0x02, 0x01, 0x81, 0xc4, 0x01, b'a', 0x02];
    assert!(matches!(decode(&mp_bin, Serializer::MsgPack), Err(DecodeError::Malformed(_))));
    // string keys are fine
    let ok = [0x93, 0x02, 0x01, 0x81, 0xa1, b'a', 0x02];
    assert_eq!(decode(&ok, Serializer::MsgPack).unwrap(), Message::Welcome { session: 1, details: dict([("a", 2)]) });
}

fn nested_json(depth: usize) -> String {
    // [36,1,2,{},[[[...]]]]: the message array is level 1, args level 2.
    let inner = "[".repeat(depth) + &"]".repeat(depth);
    format!("[36,1,2,{{}},{inner}]")
}

#[test]
fn nesting_is_limited_in_every_serializer() {
    // depth here counts containers including the message array itself
    let ok = Value::List(vec![Value::Int(36), 1.into(), 2.into(), Value::Dict(Dict::new()), nest(MAX_DEPTH - 1)]);
    let too_deep = Value::List(vec![Value::Int(36), 1.into(), 2.into(), Value::Dict(Dict::new()), nest(MAX_DEPTH)]);
    for ser in ALL {
        assert!(decode(&encode_value(&ok, ser), ser).is_ok(), "{ser}");
        let e = decode(&encode_value(&too_deep, ser), ser).unwrap_err();
        assert!(matches!(&e, DecodeError::Malformed(r) if r.contains("nesting")), "{ser}: {e:?}");
    }
    assert!(json(&nested_json(MAX_DEPTH - 1)).is_ok());
    assert!(json(&nested_json(MAX_DEPTH)).is_err());
    // Far deeper than any stack would allow if unbounded.
    let n = 100_000;
    assert!(json(&nested_json(n)).is_err());
    let mut mp = vec![0x91u8; n];
    mp.push(0x01);
    assert!(decode(&mp, Serializer::MsgPack).is_err());
    let mut cb = vec![0x81u8; n];
    cb.push(0x01);
    assert!(decode(&cb, Serializer::Cbor).is_err());
    let mut tags = vec![0xc1u8; n]; // nested CBOR tags
    tags.push(0x01);
    assert!(decode(&tags, Serializer::Cbor).is_err());
    let mut maps = Vec::new();
    for _ in 0..n {
        maps.extend_from_slice(&[0x81, 0xa1, b'k']);
    }
    maps.push(0x01);
    assert!(decode(&maps, Serializer::MsgPack).is_err());
}

fn nest(levels: usize) -> Value {
    let mut v = Value::Int(0);
    for _ in 0..levels {
        v = Value::List(vec![v]);
    }
    v
}

#[test]
fn encode_event_matches_encode() {
    for ser in ALL {
        for p in payloads() {
            let details = dict([("topic", "a.b.c")]);
            let m = Message::Event { subscription: 5, publication: 6, details: details.clone(), payload: p.clone() };
            assert_eq!(encode_event(5, 6, &details, &p, ser), encode(&m, ser));
        }
    }
}

#[test]
fn serializer_metadata() {
    for (i, ser) in Serializer::ALL.into_iter().enumerate() {
        assert_eq!(ser.index(), i);
        assert_eq!(Serializer::from_subprotocol(ser.subprotocol()), Some(ser));
        assert_eq!(Serializer::from_rawsocket_id(ser.rawsocket_id()), Some(ser));
    }
    assert_eq!(Serializer::Json.subprotocol(), "wamp.2.json");
    assert_eq!(Serializer::MsgPack.subprotocol(), "wamp.2.msgpack");
    assert_eq!(Serializer::Cbor.subprotocol(), "wamp.2.cbor");
    assert_eq!(Serializer::from_subprotocol("wamp.2.ubjson"), None);
    assert_eq!(Serializer::from_subprotocol("WAMP.2.JSON"), None);
    assert!(!Serializer::Json.is_binary());
    assert!(Serializer::MsgPack.is_binary() && Serializer::Cbor.is_binary());
    assert_eq!(Serializer::from_rawsocket_id(0), None);
    assert_eq!(Serializer::from_rawsocket_id(4), None);
    assert_eq!(Serializer::Cbor.to_string(), "cbor");
}

#[test]
fn message_helpers() {
    let m = Message::Call {
        request: 3,
        options: Dict::new(),
        procedure: "p".into(),
        payload: Payload::args(vec![1.into()]),
    };
    assert_eq!(m.request_id(), Some(3));
    assert_eq!(m.payload().and_then(|p| p.args.as_ref()).map(Vec::len), Some(1));
    let e = Message::Event { subscription: 1, publication: 2, details: Dict::new(), payload: Payload::default() };
    assert_eq!(e.request_id(), None);
    assert_eq!(Message::Goodbye { details: Dict::new(), reason: "r".into() }.payload(), None);
}
