//! What one hop between pods costs on the Redis backplane, next to a bare Redis round trip
//! measured in the same run: pod A sends a message to pod B, whose replica observer sends it
//! straight back; A times the round trip (two hops).
//!
//! ```sh
//! cargo run --release -p junction-backplane-redis --example hop_latency -- [redis://127.0.0.1:6379] [ROUNDS]
//! ```

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use junction_backplane::{Op, Outcome, PodId, Replica, ReplicaObserver};
use junction_backplane_redis::testing::unique_prefix;
use junction_backplane_redis::{BackplaneConfig, RedisBackplane, RedisConfig, RedisConn};
use tokio::sync::mpsc;

const REALM: &str = "bench.hop";

/// B: echoes every message back to its sender. A: hands every message to the timer.
struct Echo {
    replica: Mutex<Weak<Replica>>,
    to_timer: Option<mpsc::UnboundedSender<Bytes>>,
}

impl ReplicaObserver for Echo {
    fn applied(&self, _: &Op, _: &Outcome, _: bool) {}
    fn message(&self, from: PodId, frame: Bytes) {
        match &self.to_timer {
            Some(tx) => {
                let _ = tx.send(frame);
            }
            None => {
                if let Some(r) = self.replica.lock().unwrap().upgrade() {
                    r.send(from, frame);
                }
            }
        }
    }
    fn resynced(&self) {}
}

async fn pod(redis: &RedisConfig, to_timer: Option<mpsc::UnboundedSender<Bytes>>) -> (Arc<Replica>, Arc<Echo>) {
    let backplane = RedisBackplane::start(redis, BackplaneConfig::default()).expect("backplane");
    assert!(backplane.wait_ready(Duration::from_secs(10)).await, "Redis reachable");
    let echo = Arc::new(Echo { replica: Mutex::new(Weak::new()), to_timer });
    let observer: Weak<dyn ReplicaObserver> = Arc::downgrade(&echo) as Weak<dyn ReplicaObserver>;
    let replica = Replica::open(backplane, REALM, observer).await.expect("open");
    *echo.replica.lock().unwrap() = Arc::downgrade(&replica);
    (replica, echo)
}

fn report(name: &str, h: &Histogram<u64>) {
    println!(
        "{name:<34} n={:<7} p50={:>6} us  p99={:>6} us  max={:>6} us",
        h.len(),
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.max()
    );
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let rounds: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(20_000);
    let redis = RedisConfig::single(url).with_prefix(unique_prefix("hop"));

    let (tx, mut rx) = mpsc::unbounded_channel();
    let (a, _a) = pod(&redis, Some(tx)).await;
    let (b, _b) = pod(&redis, None).await;
    let b_id = b.pod();

    // A bare round trip: PING on a command connection.
    let conn = RedisConn::start(redis.clone()).expect("conn");
    assert!(conn.wait_connected(Duration::from_secs(10)).await);
    let mut ping = Histogram::<u64>::new(3).unwrap();
    for _ in 0..rounds {
        let t = Instant::now();
        let _: String = conn.query(&redis::cmd("PING")).await.expect("PING");
        ping.record(t.elapsed().as_micros() as u64).unwrap();
    }

    // One message at a time, A -> B -> A.
    let mut one = Histogram::<u64>::new(3).unwrap();
    for i in 0..rounds {
        let t = Instant::now();
        a.send(b_id, Bytes::from(i.to_string()));
        rx.recv().await.expect("echo");
        one.record(t.elapsed().as_micros() as u64).unwrap();
    }

    // 16 in flight, as in the RPC benchmark.
    let mut sixteen = Histogram::<u64>::new(3).unwrap();
    let started: Arc<Mutex<std::collections::HashMap<u64, Instant>>> = Default::default();
    let total = Instant::now();
    let mut next = 0u64;
    for _ in 0..16 {
        started.lock().unwrap().insert(next, Instant::now());
        a.send(b_id, Bytes::from(next.to_string()));
        next += 1;
    }
    let mut done = 0;
    while done < rounds {
        let frame = rx.recv().await.expect("echo");
        let id: u64 = std::str::from_utf8(&frame).unwrap().parse().unwrap();
        let t = started.lock().unwrap().remove(&id).unwrap();
        sixteen.record(t.elapsed().as_micros() as u64).unwrap();
        done += 1;
        started.lock().unwrap().insert(next, Instant::now());
        a.send(b_id, Bytes::from(next.to_string()));
        next += 1;
    }
    let rate = rounds as f64 / total.elapsed().as_secs_f64();

    report("Redis PING round trip", &ping);
    report("pod A -> B -> A, 1 in flight", &one);
    report("pod A -> B -> A, 16 in flight", &sixteen);
    println!("16 in flight: {rate:.0} round trips/s");
}
