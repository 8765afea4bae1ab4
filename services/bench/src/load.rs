//! Pieces every scenario uses: the clock carried in payloads, the pacing ticker, the
//! CPU/RSS sampling of the measured window, and connecting many sessions at once.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use junction_protocol::codec::Serializer;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};

use crate::client::{Conn, ConnectOptions};
use crate::stats::round;
use crate::sys;

/// Nanoseconds since the first call in this process: the timestamp publishers put in
/// payloads. Publisher and subscribers share the process, so one monotonic clock serves.
pub fn now_ns() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// What wakes paced senders every `period`. Tokio's timer has a 1 ms granularity,
/// which would send a rate as 1 ms bursts and inflate the latency tail this bench
/// measures; an OS thread sleeping ~100 µs spreads the load evenly. Under `--busy-poll`
/// a spinning task on the runtime checks the clock instead (no thread to wake).
pub struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Ticker {
    pub fn start(period: Duration, busy_poll: bool) -> (Ticker, watch::Receiver<()>) {
        let (tx, rx) = watch::channel(());
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        if busy_poll {
            tokio::spawn(async move {
                let mut next = Instant::now() + period;
                while !s.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    if now >= next {
                        if tx.send(()).is_err() {
                            break;
                        }
                        next = (next + period).max(now);
                    }
                    tokio::task::yield_now().await;
                }
            });
            return (Ticker { stop }, rx);
        }
        std::thread::Builder::new()
            .name("bench-ticker".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    std::thread::sleep(period);
                    if tx.send(()).is_err() {
                        break;
                    }
                }
            })
            .map(|_| ())
            .unwrap_or_else(|e| eprintln!("junction bench: cannot start the ticker thread: {e}"));
        (Ticker { stop }, rx)
    }
}

/// `--busy-poll`: a task that yields forever, so the runtime's worker never sleeps in
/// `epoll_wait` but polls its sockets with a zero timeout between rounds of tasks. The
/// router's `send()` on loopback then finds no sleeping reader to wake (no cross-core
/// wake-up charged to the router, none of the VM's wake-up latency in the figures), as
/// with receivers on another host. The bench's core shows as fully used.
pub struct BusyPoll {
    stop: Arc<AtomicBool>,
}

impl BusyPoll {
    pub fn start() -> BusyPoll {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                tokio::task::yield_now().await;
            }
        });
        BusyPoll { stop }
    }
}

impl Drop for BusyPoll {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The tick for a paced sender: `min_tick`, or the interval between two sends when that
/// is longer (no point waking 10,000 times a second to send 50 messages).
pub fn pacing_tick(min_tick: Duration, rate: u64) -> Duration {
    if rate == 0 {
        return min_tick;
    }
    min_tick.max(Duration::from_secs_f64(1.0 / rate as f64))
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// CPU time of the router (when its pid is known) and of the bench itself.
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    at: Instant,
    router: Option<Duration>,
    bench: Duration,
    /// Busy time of the whole machine: what neither the router nor the bench used shows
    /// how much other load shared the cores during the window.
    machine: Option<Duration>,
}

impl CpuSample {
    pub fn take(router_pid: Option<u32>) -> Result<CpuSample> {
        Ok(CpuSample {
            at: Instant::now(),
            router: router_pid.map(|p| sys::cpu_time(Some(p))).transpose()?,
            bench: sys::cpu_time(None)?,
            machine: sys::machine_busy_time().ok(),
        })
    }

    /// Wall-clock time between two samples.
    pub fn elapsed_since(&self, earlier: &CpuSample) -> Duration {
        self.at.duration_since(earlier.at)
    }
}

/// The CPU used between two samples, per unit of work (`ops`, e.g. deliveries) and as a
/// share of one core: `{"router": {...}, "bench": {...}}`.
pub fn cpu_report(start: &CpuSample, end: &CpuSample, ops: u64, op_name: &str) -> Value {
    let wall = end.at.duration_since(start.at).as_secs_f64();
    let one = |d: Duration| {
        let us = d.as_secs_f64() * 1e6;
        json!({
            "cpu_s": round(d.as_secs_f64(), 3),
            "cores_used": round(d.as_secs_f64() / wall, 3),
            format!("cpu_us_per_{op_name}"): if ops > 0 { round(us / ops as f64, 4) } else { 0.0 },
        })
    };
    let router = match (start.router, end.router) {
        (Some(a), Some(b)) => one(b.saturating_sub(a)),
        _ => Value::Null,
    };
    let other = match (start.machine, end.machine) {
        (Some(a), Some(b)) => {
            let ours = end.bench.saturating_sub(start.bench)
                + end.router.zip(start.router).map(|(e, s)| e.saturating_sub(s)).unwrap_or_default();
            json!(round(b.saturating_sub(a).saturating_sub(ours).as_secs_f64() / wall, 3))
        }
        _ => Value::Null,
    };
    json!({ "router": router, "bench": one(end.bench.saturating_sub(start.bench)), "other_processes_cores_used": other })
}

/// Connects `n` sessions, at most `concurrency` handshakes at a time. Session `i` uses
/// `serializers[i % len]`. The first failure aborts (load scenarios need all of them).
pub async fn connect_many(
    opts: &ConnectOptions,
    serializers: &[Serializer],
    n: usize,
    concurrency: usize,
) -> Result<Vec<Conn>> {
    let sem = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let opts = opts.clone();
        let ser = serializers[i % serializers.len()];
        let sem = sem.clone();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            Conn::connect(&opts, ser).await.map(|c| (i, c))
        });
    }
    let mut conns: Vec<Option<Conn>> = (0..n).map(|_| None).collect();
    while let Some(r) = set.join_next().await {
        let (i, c) = r??;
        conns[i] = Some(c);
    }
    Ok(conns.into_iter().flatten().collect())
}

/// Progress lines go to stderr so stdout carries only the JSON report.
pub fn progress(quiet: bool, msg: impl AsRef<str>) {
    if !quiet {
        eprintln!("junction bench: {}", msg.as_ref());
    }
}

/// Sleeps until `deadline` or until `done` says stop, checking every 10 ms.
pub async fn wait_until(deadline: Instant, mut done: impl FnMut() -> bool) -> bool {
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing_tick_is_never_shorter_than_needed() {
        let t = Duration::from_micros(100);
        assert_eq!(pacing_tick(t, 0), t);
        assert_eq!(pacing_tick(t, 1_000_000), t);
        assert_eq!(pacing_tick(t, 50), Duration::from_millis(20));
    }
}
