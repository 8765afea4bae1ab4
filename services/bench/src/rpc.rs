//! `rpc`: one callee echoing its arguments, callers keeping M calls in flight.
//!
//! The callee answers each INVOCATION with a YIELD that copies the encoded
//! `Arguments|list` verbatim (no decode); callers stamp request ids into a pre-encoded
//! CALL and time each round trip from send to RESULT. At `--rate 0` the callers run
//! closed-loop (a new call as soon as one returns); with a rate, calls are paced and
//! the in-flight cap only guards against an overloaded router.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use junction_protocol::codec::{self, Serializer};
use junction_protocol::{Dict, Message, Payload, Value};
use serde_json::{Value as Json, json};
use tokio::sync::watch;

use crate::client::{Conn, ConnectOptions};
use crate::load::{CpuSample, Ticker, connect_many, cpu_report, now_ns, pacing_tick, progress, wait_until};
use crate::stats::{Latency, round};
use crate::wire::{self, IdTemplate};

#[derive(Debug, Clone)]
pub struct RpcConfig {
    pub connect: ConnectOptions,
    /// Another pod: the callee connects there; empty: to `connect`.
    pub peers: Vec<ConnectOptions>,
    pub serializers: Vec<Serializer>,
    pub callers: usize,
    /// Calls in flight, over all callers.
    pub in_flight: usize,
    pub payload: usize,
    pub procedure: String,
    /// Calls per second over all callers; 0 = closed loop, as fast as results come back.
    pub rate: u64,
    pub warmup: Duration,
    pub duration: Duration,
    pub tick: Duration,
    /// Spin instead of sleeping between messages (see [`crate::load::BusyPoll`]).
    pub busy_poll: bool,
    pub router_pid: Option<u32>,
    pub quiet: bool,
}

struct Shared {
    completed: Vec<AtomicU64>,
    in_flight: Vec<AtomicU64>,
    measuring: AtomicBool,
    stop_issuing: AtomicBool,
}

#[derive(Default)]
struct CallerResult {
    latency: Latency,
    completed: u64,
    errors: u64,
    /// Ticks on which the in-flight cap held a paced caller below its rate.
    cap_stalls: u64,
    unexpected: u64,
    first_error: Option<String>,
    disconnected: Option<String>,
}

#[derive(Default)]
struct CalleeResult {
    invocations: u64,
    unexpected: u64,
    first_error: Option<String>,
    disconnected: Option<String>,
}

pub async fn run(cfg: &RpcConfig) -> Result<Json> {
    if cfg.callers == 0 || cfg.in_flight < cfg.callers {
        bail!("need at least one caller and at least one call in flight per caller");
    }
    let callee_at = cfg.peers.first().unwrap_or(&cfg.connect);
    progress(cfg.quiet, format!("rpc: connecting 1 callee to {} and {} callers to {}", callee_at.url, cfg.callers, cfg.connect.url));
    let mut callee = Conn::connect(callee_at, cfg.serializers[0]).await?;
    callee.register(&cfg.procedure, Dict::new()).await?;
    let mut callers = connect_many(&cfg.connect, &cfg.serializers, cfg.callers, 64).await?;
    if !cfg.peers.is_empty() {
        // The registration reaches the callers' pod through the backplane: start once it sees it.
        callers[0].call_until("wamp.registration.lookup", vec![cfg.procedure.clone().into()], Duration::from_secs(10), |v| v.as_u64().is_some()).await?;
    }

    let shared = Arc::new(Shared {
        completed: (0..callers.len()).map(|_| AtomicU64::new(0)).collect(),
        in_flight: (0..callers.len()).map(|_| AtomicU64::new(0)).collect(),
        measuring: AtomicBool::new(false),
        stop_issuing: AtomicBool::new(false),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let callee_task = tokio::spawn(run_callee(callee, stop_rx.clone()));

    // Paced callers wake on the ticker; closed-loop callers on results only (their tick
    // channel never fires: its sender just lives until the end of the run).
    let (ticker, tick_rx, _silent) = if cfg.rate > 0 {
        let (t, rx) = Ticker::start(pacing_tick(cfg.tick, cfg.rate), cfg.busy_poll);
        (Some(t), rx, None)
    } else {
        let (tx, rx) = watch::channel(());
        (None, rx, Some(tx))
    };
    let pad = "x".repeat(cfg.payload.saturating_sub(8));
    let n = callers.len();
    let mut tasks = Vec::with_capacity(n);
    for (i, conn) in callers.into_iter().enumerate() {
        let cap = cfg.in_flight / n + usize::from(i < cfg.in_flight % n);
        let call = Message::Call {
            request: 1,
            options: Dict::new(),
            procedure: cfg.procedure.clone(),
            payload: Payload { args: Some(vec![Value::from(pad.as_str())]), kwargs: None },
        };
        let tmpl = IdTemplate::new(&codec::encode(&call, conn.ser), conn.fmt)
            .ok_or_else(|| anyhow!("cannot template a CALL"))?;
        let rate = cfg.rate as f64 / n as f64;
        tasks.push(tokio::spawn(run_caller(
            conn,
            i,
            shared.clone(),
            tmpl,
            cap,
            rate,
            tick_rx.clone(),
            stop_rx.clone(),
        )));
    }

    progress(cfg.quiet, format!("rpc: warming up {:?} (rate {})", cfg.warmup, rate_name(cfg.rate)));
    tokio::time::sleep(cfg.warmup).await;
    let completed = |s: &Shared| s.completed.iter().map(|c| c.load(Ordering::Relaxed)).sum::<u64>();
    let n0 = completed(&shared);
    let c0 = CpuSample::take(cfg.router_pid)?;
    shared.measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(cfg.duration).await;
    shared.measuring.store(false, Ordering::Relaxed);
    let n1 = completed(&shared);
    let c1 = CpuSample::take(cfg.router_pid)?;

    shared.stop_issuing.store(true, Ordering::Relaxed);
    let drained = wait_until(Instant::now() + Duration::from_secs(5), || {
        shared.in_flight.iter().all(|f| f.load(Ordering::Relaxed) == 0)
    })
    .await;
    let _ = stop_tx.send(true);
    drop(ticker);

    let mut latency = Latency::new();
    let (mut errors, mut cap_stalls, mut unexpected, mut total) = (0u64, 0u64, 0u64, 0u64);
    let mut messages: Vec<String> = vec![];
    let mut disconnected = 0usize;
    for t in tasks {
        let r = t.await.context("caller task")?;
        latency.merge(&r.latency);
        errors += r.errors;
        cap_stalls += r.cap_stalls;
        unexpected += r.unexpected;
        total += r.completed;
        messages.extend(r.first_error);
        if let Some(d) = r.disconnected {
            disconnected += 1;
            messages.push(d);
        }
    }
    let callee = callee_task.await.context("callee task")?;
    messages.extend(callee.first_error);
    if let Some(d) = callee.disconnected {
        disconnected += 1;
        messages.push(d);
    }
    messages.truncate(5);
    let wall = c1.elapsed_since(&c0).as_secs_f64();
    let calls = n1 - n0;
    Ok(json!({
        "scenario": "rpc",
        "config": {
            "url": cfg.connect.url,
            "peer_urls": cfg.peers.iter().map(|p| p.url.clone()).collect::<Vec<_>>(),
            "realm": cfg.connect.realm,
            "serializers": cfg.serializers.iter().map(|s| s.name()).collect::<Vec<_>>(),
            "callers": cfg.callers,
            "in_flight": cfg.in_flight,
            "payload_bytes": cfg.payload,
            "rate": rate_name(cfg.rate),
            "warmup_s": cfg.warmup.as_secs_f64(),
            "duration_s": cfg.duration.as_secs_f64(),
            "busy_poll": cfg.busy_poll,
        },
        "calls": calls,
        "calls_per_s": round(calls as f64 / wall, 1),
        "latency_us": latency.summary_us(),
        "completed_total": total,
        "invocations_total": callee.invocations,
        "call_errors": errors,
        "in_flight_cap_stalls": cap_stalls,
        "unexpected_messages": unexpected + callee.unexpected,
        "drained": drained,
        "disconnected": disconnected,
        "errors": messages,
        "cpu": cpu_report(&c0, &c1, calls, "call"),
    }))
}

fn rate_name(rate: u64) -> Json {
    if rate == 0 { json!("max") } else { json!(rate) }
}

async fn run_callee(mut conn: Conn, mut stop: watch::Receiver<bool>) -> CalleeResult {
    let (fmt, ser) = (conn.fmt, conn.ser);
    let mut r = CalleeResult::default();
    loop {
        let batch = tokio::select! {
            biased;
            _ = stop.changed() => break,
            b = conn.recv_batch(|m, w| match wire::parse_invocation(m, fmt) {
                Some((request, args)) => {
                    w.message_with(|out| wire::write_yield(out, fmt, request, args.and_then(|a| m.get(a))));
                    r.invocations += 1;
                }
                None => {
                    r.unexpected += 1;
                    if r.first_error.is_none() {
                        r.first_error = Some(format!("callee got {}", describe(m, ser)));
                    }
                }
            }) => b,
        };
        if let Err(e) = batch {
            r.disconnected = Some(format!("callee: {e}"));
            return r;
        }
    }
    conn.close().await;
    r
}

fn describe(m: &[u8], ser: Serializer) -> String {
    match codec::decode(m, ser) {
        Ok(Message::Error { error, .. }) => format!("ERROR {error}"),
        Ok(Message::Goodbye { reason, .. }) => format!("GOODBYE {reason}"),
        Ok(other) => format!("unexpected {:?}", other.message_type()),
        Err(e) => format!("undecodable message: {e}"),
    }
}

/// The caller's state, apart from its connection (so the receive callback can use it).
struct CallerState {
    inflight: HashMap<u64, u64>,
    next_id: u64,
    cap: usize,
    tmpl: IdTemplate,
    r: CallerResult,
}

impl CallerState {
    fn issue(&mut self, w: &mut crate::client::Writer) {
        let id = self.next_id;
        self.next_id += 1;
        let tmpl = &self.tmpl;
        w.message_with(|out| tmpl.render(out, id));
        self.inflight.insert(id, now_ns());
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_caller(
    mut conn: Conn,
    idx: usize,
    shared: Arc<Shared>,
    tmpl: IdTemplate,
    cap: usize,
    rate: f64,
    mut tick: watch::Receiver<()>,
    mut stop: watch::Receiver<bool>,
) -> CallerResult {
    let (fmt, ser) = (conn.fmt, conn.ser);
    let mut s = CallerState {
        inflight: HashMap::with_capacity(cap * 2),
        next_id: conn.request_id(),
        cap,
        tmpl,
        r: CallerResult::default(),
    };
    let start = Instant::now();
    let mut issued = 0u64;
    if rate == 0.0 {
        for _ in 0..cap {
            s.issue(&mut conn.w);
        }
        if let Err(e) = conn.flush().await {
            s.r.disconnected = Some(format!("caller {idx}: {e}"));
            return s.r;
        }
    }
    let paced = rate > 0.0;
    loop {
        let stopping = shared.stop_issuing.load(Ordering::Relaxed);
        if stopping && s.inflight.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            t = tick.changed(), if paced && !stopping => {
                if t.is_err() {
                    continue;
                }
                let target = (start.elapsed().as_secs_f64() * rate) as u64;
                let room = s.cap.saturating_sub(s.inflight.len()) as u64;
                let due = target.saturating_sub(issued);
                if due > room {
                    s.r.cap_stalls += 1;
                }
                for _ in 0..due.min(room) {
                    s.issue(&mut conn.w);
                    issued += 1;
                }
                if let Err(e) = conn.flush().await {
                    s.r.disconnected = Some(format!("caller {idx}: {e}"));
                    break;
                }
            }
            b = conn.recv_batch(|m, w| {
                match wire::parse_type_and_id(m, fmt) {
                    Some((50, request)) => match s.inflight.remove(&request) {
                        Some(t0) => {
                            if shared.measuring.load(Ordering::Relaxed) {
                                s.r.latency.record(now_ns().saturating_sub(t0));
                            }
                            s.r.completed += 1;
                        }
                        None => s.r.unexpected += 1,
                    },
                    _ => match codec::decode(m, ser) {
                        Ok(Message::Error { request, error, .. }) if s.inflight.remove(&request).is_some() => {
                            s.r.errors += 1;
                            if s.r.first_error.is_none() {
                                s.r.first_error = Some(format!("CALL failed: {error}"));
                            }
                        }
                        _ => {
                            s.r.unexpected += 1;
                            if s.r.first_error.is_none() {
                                s.r.first_error = Some(format!("caller got {}", describe(m, ser)));
                            }
                        }
                    },
                }
                if !paced && !shared.stop_issuing.load(Ordering::Relaxed) {
                    while s.inflight.len() < s.cap {
                        s.issue(w);
                    }
                }
            }) => {
                if let Err(e) = b {
                    s.r.disconnected = Some(format!("caller {idx}: {e}"));
                    break;
                }
            }
        }
        shared.completed[idx].store(s.r.completed, Ordering::Relaxed);
        shared.in_flight[idx].store(s.inflight.len() as u64, Ordering::Relaxed);
    }
    shared.in_flight[idx].store(0, Ordering::Relaxed);
    conn.close().await;
    s.r
}
