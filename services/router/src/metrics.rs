//! Router counters. Plain atomics, read by the (later) Prometheus exporter; labels stay
//! bounded (no session ids or URIs here).

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    /// Open WebSocket connections (gauge).
    pub connections: Counter,
    /// Joined sessions (gauge).
    pub sessions: Counter,
    /// Sessions closed because their outbound queue was full.
    pub slow_consumer_closes: Counter,
    /// Sessions aborted for a protocol violation (including oversize and garbage frames).
    pub protocol_violations: Counter,
    /// Connections closed because no HELLO/WELCOME happened in time.
    pub hello_timeouts: Counter,
    pub publications: Counter,
    pub calls: Counter,
}
