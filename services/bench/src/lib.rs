//! `junction bench`: a WAMP load generator.
//!
//! Scenarios (each a subcommand):
//! - [`pubsub`]: 1 publisher -> N subscribers on one topic; deliveries/s,
//!   publish-to-deliver latency (HdrHistogram), lost events.
//! - [`rpc`]: 1 callee, M calls in flight from C callers; calls/s, round-trip latency.
//! - [`idle`]: K joined sessions held open; errors and router RSS per session.
//!
//! With `--router-pid`, the router's CPU time over the measured window is read from
//! `/proc` and reported per delivery / per call (the unit the project's targets use);
//! the bench's own CPU is always reported, to show it was not the bottleneck.
//!
//! Modules: [`client`] (the small WAMP client), [`ws`] (WebSocket framing), [`wire`]
//! (hot-path WAMP parsing for JSON/MessagePack/CBOR), [`stats`] (histograms), [`sys`]
//! (`/proc` and rlimits), [`load`] (pacing, CPU sampling, connecting many sessions).
#![forbid(unsafe_code)]

pub mod client;
pub mod idle;
pub mod load;
pub mod pubsub;
pub mod rpc;
pub mod stats;
pub mod sys;
pub mod wire;
pub mod ws;

use std::time::Duration;

use anyhow::{Result, bail};
use junction_protocol::codec::Serializer;
use serde_json::{Value, json};

use crate::client::ConnectOptions;

/// `junction bench <scenario> [options]`.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub scenario: Scenario,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum Scenario {
    /// 1 publisher -> N subscribers on one topic: deliveries/s, publish-to-deliver latency, loss.
    Pubsub(PubSubArgs),
    /// 1 callee, M calls in flight from one or more callers: calls/s, round-trip latency.
    Rpc(RpcArgs),
    /// K joined sessions held open: errors, and the router's RSS per session.
    Idle(IdleArgs),
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SerializerArg {
    Json,
    Msgpack,
    Cbor,
}

impl From<SerializerArg> for Serializer {
    fn from(s: SerializerArg) -> Self {
        match s {
            SerializerArg::Json => Serializer::Json,
            SerializerArg::Msgpack => Serializer::MsgPack,
            SerializerArg::Cbor => Serializer::Cbor,
        }
    }
}

/// Options every scenario takes.
#[derive(clap::Args, Debug, Clone)]
pub struct CommonArgs {
    /// Router WebSocket URL (plain ws://).
    #[arg(long, default_value = "ws://127.0.0.1:8080/ws")]
    pub url: String,
    #[arg(long, default_value = "realm1")]
    pub realm: String,
    /// Serializer; a comma list (json,msgpack,cbor) spreads the connections over them
    /// round-robin (the publisher / callee use the first).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "json")]
    pub serializer: Vec<SerializerArg>,
    /// Measured window, in seconds (idle: how long the sessions are held).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// WAMP-Ticket authid (anonymous when no ticket is given).
    #[arg(long)]
    pub authid: Option<String>,
    /// WAMP-Ticket secret.
    #[arg(long, env = "JUNCTION_BENCH_TICKET", hide_env_values = true)]
    pub ticket: Option<String>,
    /// The router's pid: report its CPU per delivery/call (pubsub, rpc) or RSS per session (idle).
    #[arg(long)]
    pub router_pid: Option<u32>,
    /// Other router pods serving the same realm (repeatable): the subscribers (pubsub) or the
    /// callee (rpc) connect to these, spread round-robin, while the publisher / callers stay
    /// on --url: every event or call crosses the backplane.
    #[arg(long = "peer-url", value_name = "URL")]
    pub peer_urls: Vec<String>,
    /// No progress lines on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// Options of the load scenarios (pubsub, rpc).
#[derive(clap::Args, Debug, Clone)]
pub struct LoadArgs {
    /// Target rate (publications/s or calls/s); 0 = as fast as the router keeps up.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Run at --rate 0 first, then again at half the peak it measured (the
    /// "p99 at half of peak" figure); reports both.
    #[arg(long)]
    pub half_rate: bool,
    /// Seconds of load before the measured window.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Pacing tick of rate-limited senders, in microseconds.
    #[arg(long, default_value_t = 100)]
    pub tick_us: u64,
    /// The bench's runtime spins instead of sleeping in epoll_wait: no wake-ups for the
    /// router's writes to pay for on loopback, as with receivers on another host. Run the
    /// bench pinned to a core of its own (`taskset -c 1`); it then uses all of it.
    #[arg(long)]
    pub busy_poll: bool,
}

#[derive(clap::Args, Debug, Clone)]
pub struct PubSubArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub load: LoadArgs,
    #[arg(long, default_value_t = 100)]
    pub subscribers: usize,
    /// Approximate size of the event arguments, in bytes.
    #[arg(long, default_value_t = 100)]
    pub payload: usize,
    #[arg(long, default_value = "bench.pubsub")]
    pub topic: String,
    /// Most publications the publisher may be ahead of the slowest subscriber.
    #[arg(long, default_value_t = 64)]
    pub window: u64,
}

#[derive(clap::Args, Debug, Clone)]
pub struct RpcArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Caller connections; the calls in flight are spread over them.
    #[arg(long, default_value_t = 1)]
    pub callers: usize,
    /// Calls in flight over all callers.
    #[arg(long, default_value_t = 16)]
    pub in_flight: usize,
    /// Approximate size of the call arguments, in bytes (echoed back by the callee).
    #[arg(long, default_value_t = 100)]
    pub payload: usize,
    #[arg(long, default_value = "bench.echo")]
    pub procedure: String,
}

#[derive(clap::Args, Debug, Clone)]
pub struct IdleArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[arg(long, default_value_t = 20_000)]
    pub sessions: usize,
    /// Handshakes in progress at once.
    #[arg(long, default_value_t = 200)]
    pub connect_concurrency: usize,
    /// Sessions per local source address (127.0.0.1, .2, ...) once there are more than this.
    #[arg(long, default_value_t = 20_000)]
    pub sessions_per_ip: usize,
    /// Seconds between the last join and the RSS reading.
    #[arg(long, default_value_t = 2.0)]
    pub settle: f64,
}

fn secs(v: f64, what: &str) -> Result<Duration> {
    if !(v.is_finite() && v >= 0.0) {
        bail!("--{what} must be a non-negative number of seconds");
    }
    Ok(Duration::from_secs_f64(v))
}

fn peer_options(c: &CommonArgs) -> Vec<ConnectOptions> {
    c.peer_urls.iter().map(|url| connect_options(&CommonArgs { url: url.clone(), ..c.clone() })).collect()
}

fn connect_options(c: &CommonArgs) -> ConnectOptions {
    let mut o = ConnectOptions::new(&c.url, &c.realm);
    o.authid = c.authid.clone();
    o.ticket = c.ticket.clone();
    o
}

fn serializers(c: &CommonArgs) -> Vec<Serializer> {
    if c.serializer.is_empty() { vec![Serializer::Json] } else { c.serializer.iter().map(|&s| s.into()).collect() }
}

/// Runs one scenario, prints its JSON report on stdout (progress goes to stderr) and
/// returns it.
pub async fn run(args: BenchArgs) -> Result<Value> {
    let report = run_quiet(args).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(report)
}

/// Like [`run`] but prints nothing on stdout.
pub async fn run_quiet(args: BenchArgs) -> Result<Value> {
    // Many connections need many file descriptors, whatever the scenario.
    let nofile = sys::raise_nofile_limit().ok();
    let busy = match &args.scenario {
        Scenario::Pubsub(a) => a.load.busy_poll,
        Scenario::Rpc(a) => a.load.busy_poll,
        Scenario::Idle(_) => false,
    };
    let _spin = busy.then(load::BusyPoll::start);
    let mut report = match args.scenario {
        Scenario::Pubsub(a) => {
            let mut cfg = pubsub::PubSubConfig {
                connect: connect_options(&a.common),
                peers: peer_options(&a.common),
                serializers: serializers(&a.common),
                subscribers: a.subscribers,
                payload: a.payload,
                topic: a.topic.clone(),
                rate: a.load.rate,
                window: a.window,
                warmup: secs(a.load.warmup, "warmup")?,
                duration: secs(a.common.duration, "duration")?,
                tick: Duration::from_micros(a.load.tick_us.max(10)),
                busy_poll: a.load.busy_poll,
                router_pid: a.common.router_pid,
                quiet: a.common.quiet,
            };
            if a.load.half_rate {
                cfg.rate = 0;
                let peak = pubsub::run(&cfg).await?;
                let half = (peak["publications_per_s"].as_f64().unwrap_or(0.0) / 2.0).round() as u64;
                if half == 0 {
                    bail!("peak run published nothing: {peak}");
                }
                cfg.rate = half;
                let at_half = pubsub::run(&cfg).await?;
                with_targets(json!({ "scenario": "pubsub", "peak": peak, "half_rate": at_half }))
            } else {
                with_targets(pubsub::run(&cfg).await?)
            }
        }
        Scenario::Rpc(a) => {
            let mut cfg = rpc::RpcConfig {
                connect: connect_options(&a.common),
                peers: peer_options(&a.common),
                serializers: serializers(&a.common),
                callers: a.callers,
                in_flight: a.in_flight,
                payload: a.payload,
                procedure: a.procedure.clone(),
                rate: a.load.rate,
                warmup: secs(a.load.warmup, "warmup")?,
                duration: secs(a.common.duration, "duration")?,
                tick: Duration::from_micros(a.load.tick_us.max(10)),
                busy_poll: a.load.busy_poll,
                router_pid: a.common.router_pid,
                quiet: a.common.quiet,
            };
            if a.load.half_rate {
                cfg.rate = 0;
                let peak = rpc::run(&cfg).await?;
                let half = (peak["calls_per_s"].as_f64().unwrap_or(0.0) / 2.0).round() as u64;
                if half == 0 {
                    bail!("peak run completed no call: {peak}");
                }
                cfg.rate = half;
                let at_half = rpc::run(&cfg).await?;
                with_targets(json!({ "scenario": "rpc", "peak": peak, "half_rate": at_half }))
            } else {
                with_targets(rpc::run(&cfg).await?)
            }
        }
        Scenario::Idle(a) => {
            let cfg = idle::IdleConfig {
                connect: connect_options(&a.common),
                serializers: serializers(&a.common),
                sessions: a.sessions,
                concurrency: a.connect_concurrency,
                sessions_per_ip: if a.sessions > a.sessions_per_ip { a.sessions_per_ip } else { 0 },
                settle: secs(a.settle, "settle")?,
                hold: secs(a.common.duration, "duration")?,
                router_pid: a.common.router_pid,
                quiet: a.common.quiet,
            };
            with_targets(idle::run(&cfg).await?)
        }
    };
    if let Some(obj) = report.as_object_mut() {
        obj.insert("machine".into(), machine());
        if let Some(n) = nofile {
            obj.insert("open_files_limit".into(), json!(n));
        }
    }
    Ok(report)
}

/// The project's targets (docs/benchmarks.md) next to the measured figures.
/// A ratio above 1 means the target is met by that factor.
pub fn with_targets(mut report: Value) -> Value {
    let ratio = |target: f64, measured: f64, lower_is_better: bool| -> Value {
        if measured <= 0.0 {
            return Value::Null;
        }
        let r = if lower_is_better { target / measured } else { measured / target };
        json!(stats::round(r, 3))
    };
    let mut t = serde_json::Map::new();
    match report["scenario"].as_str() {
        Some("pubsub") => {
            let peak = if report.get("peak").is_some() { &report["peak"] } else { &report };
            if let Some(cpu) = peak["cpu"]["router"]["cpu_us_per_delivery"].as_f64() {
                t.insert(
                    "router_cpu_us_per_delivery".into(),
                    json!({"target_below": 0.6, "measured": cpu, "ratio": ratio(0.6, cpu, true)}),
                );
            }
            if let Some(p99) = report["half_rate"]["latency_us"]["p99"].as_f64() {
                t.insert(
                    "p99_us_at_half_peak".into(),
                    json!({"target_below": 1000.0, "measured": p99, "ratio": ratio(1000.0, p99, true)}),
                );
            }
        }
        Some("rpc") => {
            let peak = if report.get("peak").is_some() { &report["peak"] } else { &report };
            if let Some(cps) = peak["calls_per_s"].as_f64() {
                t.insert(
                    "calls_per_s".into(),
                    json!({"target_above": 150_000.0, "measured": cps, "ratio": ratio(150_000.0, cps, false)}),
                );
            }
            if let Some(p99) = report["half_rate"]["latency_us"]["p99"].as_f64() {
                t.insert(
                    "p99_us_at_half_peak".into(),
                    json!({"target_below": 1000.0, "measured": p99, "ratio": ratio(1000.0, p99, true)}),
                );
            }
        }
        Some("idle") => {
            if let Some(b) = report["router"]["bytes_per_session"].as_f64() {
                t.insert(
                    "router_bytes_per_session".into(),
                    json!({"target_below": 16384.0, "aim": 8192.0, "measured": b, "ratio": ratio(16384.0, b, true)}),
                );
            }
            t.insert("sessions_without_errors".into(), json!({
                "target": 20_000,
                "joined": report["joined"],
                "errors": report["failed"].as_u64().unwrap_or(0) + report["dropped_during_hold"].as_u64().unwrap_or(0),
            }));
        }
        _ => {}
    }
    if let Some(obj) = report.as_object_mut() {
        obj.insert("targets".into(), Value::Object(t));
    }
    report
}

/// nproc and CPU model, so a report says where it was measured.
fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, m)| m.trim().to_string())
    });
    json!({
        "available_parallelism": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu_model": cpu,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    #[test]
    fn cli_parses_every_scenario() {
        let c = Cli::try_parse_from([
            "bench",
            "pubsub",
            "--serializer",
            "json,msgpack",
            "--rate",
            "5000",
            "--router-pid",
            "42",
        ])
        .unwrap();
        let Scenario::Pubsub(a) = c.bench.scenario else { panic!() };
        assert_eq!(a.common.serializer, vec![SerializerArg::Json, SerializerArg::Msgpack]);
        assert_eq!((a.load.rate, a.subscribers, a.payload, a.common.router_pid), (5000, 100, 100, Some(42)));
        let c = Cli::try_parse_from(["bench", "rpc", "--half-rate", "--serializer", "cbor"]).unwrap();
        let Scenario::Rpc(a) = c.bench.scenario else { panic!() };
        assert!(a.load.half_rate);
        assert_eq!((a.in_flight, a.callers), (16, 1));
        let c = Cli::try_parse_from(["bench", "idle", "--sessions", "5", "--url", "ws://127.0.0.1:1/ws"]).unwrap();
        let Scenario::Idle(a) = c.bench.scenario else { panic!() };
        assert_eq!(a.sessions, 5);
        assert!(Cli::try_parse_from(["bench", "pubsub", "--serializer", "xml"]).is_err());
    }

    #[test]
    fn targets_are_ratios_that_read_above_one_when_met() {
        let r = with_targets(json!({
            "scenario": "pubsub",
            "peak": {"cpu": {"router": {"cpu_us_per_delivery": 0.3}}},
            "half_rate": {"latency_us": {"p99": 2000.0}},
        }));
        assert_eq!(r["targets"]["router_cpu_us_per_delivery"]["ratio"], json!(2.0));
        assert_eq!(r["targets"]["p99_us_at_half_peak"]["ratio"], json!(0.5));
        let r = with_targets(json!({"scenario": "rpc", "calls_per_s": 300000.0}));
        assert_eq!(r["targets"]["calls_per_s"]["ratio"], json!(2.0));
        let r = with_targets(
            json!({"scenario": "idle", "router": {"bytes_per_session": 8192.0}, "joined": 10, "failed": 1, "dropped_during_hold": 0}),
        );
        assert_eq!(r["targets"]["router_bytes_per_session"]["ratio"], json!(2.0));
        assert_eq!(r["targets"]["sessions_without_errors"]["errors"], json!(1));
    }
}
