//! Encode/decode cost of the hot-path messages with a ~100-byte payload.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use junction_protocol::codec::encode_event;
use junction_protocol::{Message, Payload, Serializer, Value, decode, dict, encode};

fn payload() -> Payload {
    // ~100 bytes of application data: typical small telemetry event.
    Payload::new(
        Some(vec![Value::from("sensor-42/temperature"), Value::Int(1_700_000_000_123), Value::Float(21.375)]),
        Some(dict([
            ("unit", Value::from("celsius")),
            ("ok", Value::Bool(true)),
            ("tags", Value::List(vec!["lab".into(), "floor-3".into()])),
        ])),
    )
}

fn bench(c: &mut Criterion) {
    let details = dict([("topic", "com.example.sensors.temperature")]);
    let event = Message::Event {
        subscription: 1234567,
        publication: 8_234_567_890_123,
        details: details.clone(),
        payload: payload(),
    };
    let publish = Message::Publish {
        request: 17,
        options: dict([("acknowledge", true)]),
        topic: "com.example.sensors.temperature".into(),
        payload: payload(),
    };
    for ser in Serializer::ALL {
        let frame = encode(&event, ser);
        let pub_frame = encode(&publish, ser);
        eprintln!("{ser}: EVENT {} bytes, PUBLISH {} bytes", frame.len(), pub_frame.len());
        c.bench_function(&format!("encode_event/{ser}"), |b| {
            let p = payload();
            b.iter(|| encode_event(black_box(1234567), black_box(8_234_567_890_123), &details, &p, ser))
        });
        c.bench_function(&format!("encode/EVENT/{ser}"), |b| b.iter(|| encode(black_box(&event), ser)));
        c.bench_function(&format!("decode/EVENT/{ser}"), |b| b.iter(|| decode(black_box(&frame), ser)));
        c.bench_function(&format!("decode/PUBLISH/{ser}"), |b| b.iter(|| decode(black_box(&pub_frame), ser)));
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
