//! `idle`: open K joined sessions, hold them, and measure what they cost the router.
//!
//! With `--router-pid`, the router's RSS is read before the first connection, once all
//! sessions have joined (after a settle pause), and at the end of the hold: the
//! difference over the joined count is the router's memory per idle session.
//! One (source address, destination) pair has ~28k ephemeral ports, so beyond
//! `--sessions-per-ip` sessions the bench binds its sockets to 127.0.0.2, .3, ...

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use junction_protocol::codec::Serializer;
use serde_json::{Value as Json, json};
use tokio::sync::{Mutex, Semaphore, watch};

use crate::client::{Conn, ConnectOptions, resolve};
use crate::load::progress;
use crate::stats::{Latency, round};
use crate::sys;

#[derive(Debug, Clone)]
pub struct IdleConfig {
    pub connect: ConnectOptions,
    pub serializers: Vec<Serializer>,
    pub sessions: usize,
    pub concurrency: usize,
    /// Sessions per local source address (0 = never bind a source address).
    pub sessions_per_ip: usize,
    pub settle: Duration,
    pub hold: Duration,
    pub router_pid: Option<u32>,
    pub quiet: bool,
}

#[derive(Default)]
struct Counters {
    joined: AtomicU64,
    failed: AtomicU64,
    /// Sessions that joined and then lost their connection during the hold.
    dropped: AtomicU64,
}

/// The local source address for session `i`: 127.0.0.1 for the first `per_ip`
/// sessions, then 127.0.0.2, ... (only when the router is on IPv4 loopback).
pub fn source_ip(i: usize, per_ip: usize, target_is_v4_loopback: bool) -> Option<IpAddr> {
    if per_ip == 0 || !target_is_v4_loopback {
        return None;
    }
    let k = i / per_ip; // 0-based address index
    let n = u32::try_from(k).ok()?.checked_add(1)?;
    if n > 0x00ff_fffe {
        return None;
    }
    Some(IpAddr::V4(Ipv4Addr::from(0x7f00_0000 | n)))
}

pub async fn run(cfg: &IdleConfig) -> Result<Json> {
    let nofile = sys::raise_nofile_limit()?;
    if (nofile as usize) < cfg.sessions + 64 {
        progress(cfg.quiet, format!("idle: warning: open-files limit is {nofile}, below {} sessions", cfg.sessions));
    }
    let target = resolve(&cfg.connect.url).await?;
    let loopback_v4 = matches!(target.ip(), IpAddr::V4(v4) if v4.is_loopback());
    let rss_before = cfg.router_pid.map(|p| sys::rss_bytes(Some(p))).transpose()?;
    let bench_rss_before = sys::rss_bytes(None)?;

    progress(cfg.quiet, format!("idle: opening {} sessions to {}", cfg.sessions, cfg.connect.url));
    let counters = Arc::new(Counters::default());
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let join_latency = Arc::new(Mutex::new(Latency::new()));
    let sem = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(cfg.sessions);
    for i in 0..cfg.sessions {
        let mut opts = cfg.connect.clone();
        opts.source_ip = source_ip(i, cfg.sessions_per_ip, loopback_v4);
        opts.read_buffer = 512;
        let ser = cfg.serializers[i % cfg.serializers.len()];
        let (sem, counters, errors, join_latency) =
            (sem.clone(), counters.clone(), errors.clone(), join_latency.clone());
        let mut stop = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let permit = sem.acquire_owned().await;
            let t0 = Instant::now();
            let mut conn = match Conn::connect(&opts, ser).await {
                Ok(c) => c,
                Err(e) => {
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    let mut errs = errors.lock().await;
                    if errs.len() < 5 {
                        errs.push(format!("session {i}: {e:#}"));
                    }
                    return;
                }
            };
            join_latency.lock().await.record(t0.elapsed().as_nanos() as u64);
            drop(permit);
            counters.joined.fetch_add(1, Ordering::Relaxed);
            // Hold: answer pings, notice a dropped connection, stop when told.
            loop {
                tokio::select! {
                    biased;
                    _ = stop.changed() => break,
                    r = conn.recv_batch(|_, _| {}) => if let Err(e) = r {
                        counters.dropped.fetch_add(1, Ordering::Relaxed);
                        let mut errs = errors.lock().await;
                        if errs.len() < 5 {
                            errs.push(format!("session {i} dropped: {e}"));
                        }
                        return;
                    }
                }
            }
            conn.close().await;
        }));
    }

    // Wait for every session to join or fail, reporting progress.
    let mut last_report = Instant::now();
    loop {
        let done = counters.joined.load(Ordering::Relaxed) + counters.failed.load(Ordering::Relaxed);
        if done as usize >= cfg.sessions {
            break;
        }
        if last_report.elapsed() >= Duration::from_secs(2) {
            progress(cfg.quiet, format!("idle: {done}/{} sessions", cfg.sessions));
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connect_s = started.elapsed().as_secs_f64();
    let joined = counters.joined.load(Ordering::Relaxed);
    let failed = counters.failed.load(Ordering::Relaxed);
    if joined == 0 {
        let _ = stop_tx.send(true);
        let errs = errors.lock().await.clone();
        bail!("no session could join: {}", errs.first().map(String::as_str).unwrap_or("unknown error"));
    }
    progress(
        cfg.quiet,
        format!("idle: {joined} joined, {failed} failed in {connect_s:.1} s; settling {:?}", cfg.settle),
    );
    tokio::time::sleep(cfg.settle).await;
    let rss_joined = cfg.router_pid.map(|p| sys::rss_bytes(Some(p))).transpose()?;
    let bench_rss_joined = sys::rss_bytes(None)?;
    progress(cfg.quiet, format!("idle: holding {:?}", cfg.hold));
    tokio::time::sleep(cfg.hold).await;
    let rss_held = cfg.router_pid.map(|p| sys::rss_bytes(Some(p))).transpose()?;
    let dropped = counters.dropped.load(Ordering::Relaxed);

    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    let per_session = |rss: Option<u64>| match (rss_before, rss) {
        (Some(a), Some(b)) => json!(round((b as f64 - a as f64) / joined as f64, 1)),
        _ => Json::Null,
    };
    let errs = errors.lock().await.clone();
    let join_latency = join_latency.lock().await.summary_us();
    Ok(json!({
        "scenario": "idle",
        "config": {
            "url": cfg.connect.url,
            "realm": cfg.connect.realm,
            "serializers": cfg.serializers.iter().map(|s| s.name()).collect::<Vec<_>>(),
            "sessions": cfg.sessions,
            "connect_concurrency": cfg.concurrency,
            "source_addresses": if cfg.sessions_per_ip == 0 { 1 } else { cfg.sessions.div_ceil(cfg.sessions_per_ip) },
            "settle_s": cfg.settle.as_secs_f64(),
            "hold_s": cfg.hold.as_secs_f64(),
        },
        "joined": joined,
        "failed": failed,
        "dropped_during_hold": dropped,
        "errors": errs,
        "connect_s": round(connect_s, 3),
        "joins_per_s": round(joined as f64 / connect_s, 1),
        "join_latency_us": join_latency,
        "router": {
            "rss_before_bytes": rss_before,
            "rss_joined_bytes": rss_joined,
            "rss_after_hold_bytes": rss_held,
            "bytes_per_session": per_session(rss_joined),
            "bytes_per_session_after_hold": per_session(rss_held),
        },
        "bench": {
            "rss_bytes_per_session": round((bench_rss_joined as f64 - bench_rss_before as f64) / joined as f64, 1),
            "open_files_limit": nofile,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_sessions_over_loopback_addresses() {
        assert_eq!(source_ip(0, 20_000, true), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(source_ip(19_999, 20_000, true), Some("127.0.0.1".parse().unwrap()));
        assert_eq!(source_ip(20_000, 20_000, true), Some("127.0.0.2".parse().unwrap()));
        assert_eq!(source_ip(50_000, 20_000, true), Some("127.0.0.3".parse().unwrap()));
        assert_eq!(source_ip(300 * 20_000, 20_000, true), Some("127.0.1.45".parse().unwrap()));
        assert_eq!(source_ip(5, 0, true), None);
        assert_eq!(source_ip(5, 20_000, false), None);
    }
}
