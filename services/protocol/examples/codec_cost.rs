//! The codec work of one routed call (decode CALL, encode INVOCATION, decode YIELD, encode
//! RESULT) and one fan-out (decode PUBLISH, encode EVENT), repeated N times, for counting
//! instructions per operation:
//!
//! ```sh
//! cargo build --release -p junction-protocol --example codec_cost
//! for n in 1000 11000; do valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!   target/release/examples/codec_cost json $n 2>&1 | grep 'Collected'; done   # (b - a) / 10000
//! ```

use std::hint::black_box;

use junction_protocol::{Dict, Message, MessageType, Payload, Serializer, Value, decode, dict, encode};

fn main() {
    let mut args = std::env::args().skip(1);
    let ser = args.next().and_then(|s| Serializer::ALL.into_iter().find(|x| x.name() == s)).unwrap_or(Serializer::Json);
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    // What `junction bench rpc --payload 100` sends.
    let payload = Payload::args(vec![Value::from("x".repeat(92))]);
    let call = encode(
        &Message::Call { request: 12345, options: Dict::new(), procedure: "bench.echo".into(), payload: payload.clone() },
        ser,
    );
    let yielded = encode(&Message::Yield { request: 777, options: Dict::new(), payload: payload.clone() }, ser);
    let publish = encode(
        &Message::Publish { request: 9, options: Dict::new(), topic: "bench.topic".into(), payload: payload.clone() },
        ser,
    );
    let mut bytes = 0;
    for _ in 0..n {
        let Ok(Message::Call { payload, .. }) = decode(black_box(&call), ser) else { panic!() };
        let inv = Message::Invocation { request: 777, registration: 4_503_599_627_370_495, details: Dict::new(), payload };
        bytes += encode(&inv, ser).len();
        let Ok(Message::Yield { payload, .. }) = decode(black_box(&yielded), ser) else { panic!() };
        bytes += encode(&Message::Result { request: 12345, details: Dict::new(), payload }, ser).len();
        let Ok(Message::Publish { payload, .. }) = decode(black_box(&publish), ser) else { panic!() };
        let details = dict([("topic", "bench.topic")]);
        bytes += junction_protocol::encode_event(1, 2, &details, &payload, ser).len();
    }
    let _ = MessageType::Call;
    println!("{ser}: {n} rounds, {bytes} bytes out");
}
