//! Router counters and their Prometheus exposition.
//!
//! Counting is plain relaxed atomics where the router does the work (one `fetch_add` each,
//! no lock, no allocation); nothing is aggregated on the hot path. Everything is read at
//! scrape time: [`Metrics::snapshot`] copies the values and encodes them. Labels stay bounded
//! (no session ids or URIs here; message types are a fixed set).
//!
//! Exposition: `prometheus-client` (the Prometheus project's own Rust client). Its
//! [`Collector`] encodes values read at scrape time, so the router keeps its own atomics and
//! the crate never touches the hot path; `metrics` + `metrics-exporter-prometheus` would
//! instead record every increment through a global recorder (a handle lookup or a registry
//! per update). Output is the Prometheus text format 0.0.4 ([`encode`]).
//!
//! The router does not serve `/metrics` itself: its listener is public, and the application's
//! exposition names tenants. The `junction` binary serves it on a listener of its own.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use junction_protocol::MessageType;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// Every metric name starts with `junction_`.
pub const PREFIX: &str = "junction";

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

/// A counter alone on its cache line: message types are counted from every reader task.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Padded(AtomicU64);

/// One slot per wire type code (the largest is YIELD, 70).
const TYPE_SLOTS: usize = 71;

/// The types a client sends; always exposed (at 0 until seen), the others only once seen.
const CLIENT_TYPES: [MessageType; 13] = [
    MessageType::Hello,
    MessageType::Authenticate,
    MessageType::Abort,
    MessageType::Goodbye,
    MessageType::Error,
    MessageType::Publish,
    MessageType::Subscribe,
    MessageType::Unsubscribe,
    MessageType::Call,
    MessageType::Cancel,
    MessageType::Register,
    MessageType::Unregister,
    MessageType::Yield,
];

pub struct Metrics {
    /// Open connections on the router listener, WebSocket or plain HTTP (gauge).
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
    /// WAMP messages received (decoded), by wire type code.
    received: [Padded; TYPE_SLOTS],
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            connections: Counter::default(),
            sessions: Counter::default(),
            slow_consumer_closes: Counter::default(),
            protocol_violations: Counter::default(),
            hello_timeouts: Counter::default(),
            publications: Counter::default(),
            calls: Counter::default(),
            received: std::array::from_fn(|_| Padded::default()),
        }
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").field("snapshot", &self.snapshot()).finish_non_exhaustive()
    }
}

impl Metrics {
    /// One WAMP message of type `t` received from a peer (one relaxed add).
    #[inline]
    pub fn received(&self, t: MessageType) {
        if let Some(c) = self.received.get(t.code() as usize) {
            c.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many messages of type `t` were received.
    pub fn received_count(&self, t: MessageType) -> u64 {
        self.received.get(t.code() as usize).map_or(0, |c| c.0.load(Ordering::Relaxed))
    }

    /// Count one open connection in `connections` until the guard is dropped (a WebSocket
    /// connection outlives the HTTP exchange that upgraded it).
    pub fn open_connection(self: &Arc<Self>) -> OpenConnection {
        self.connections.inc();
        OpenConnection(self.clone())
    }

    /// The values now, for encoding.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let mut received = Vec::new();
        for code in 0..TYPE_SLOTS as u64 {
            let Some(t) = MessageType::from_code(code) else { continue };
            let n = self.received_count(t);
            if n > 0 || CLIENT_TYPES.contains(&t) {
                received.push((type_name(t), n));
            }
        }
        MetricsSnapshot {
            connections: self.connections.get(),
            sessions: self.sessions.get(),
            slow_consumer_closes: self.slow_consumer_closes.get(),
            protocol_violations: self.protocol_violations.get(),
            hello_timeouts: self.hello_timeouts.get(),
            publications: self.publications.get(),
            calls: self.calls.get(),
            received,
        }
    }
}

/// One connection counted in [`Metrics::connections`] while it lives.
#[derive(Debug)]
pub struct OpenConnection(Arc<Metrics>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connections.dec();
    }
}

/// `publish`, `call`, ...: the lower-case name of a message type.
fn type_name(t: MessageType) -> String {
    format!("{t:?}").to_ascii_lowercase()
}

/// The router's counters at one moment; a [`Collector`] (names without the `junction_`
/// prefix, which the registry adds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    pub connections: u64,
    pub sessions: u64,
    pub slow_consumer_closes: u64,
    pub protocol_violations: u64,
    pub hello_timeouts: u64,
    pub publications: u64,
    pub calls: u64,
    /// (type name, count), in type code order.
    pub received: Vec<(String, u64)>,
}

impl Collector for MetricsSnapshot {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        gauge(&mut e, "connections", "Open connections on the router listener (WebSocket or plain HTTP).", self.connections)?;
        gauge(&mut e, "sessions", "Joined WAMP sessions on this pod.", self.sessions)?;
        counter(&mut e, "slow_consumer_closes", "Sessions closed because their outbound queue was full.", self.slow_consumer_closes)?;
        counter(
            &mut e,
            "protocol_violations",
            "Sessions aborted for a protocol violation (malformed, unexpected, oversize or garbage frames).",
            self.protocol_violations,
        )?;
        counter(&mut e, "hello_timeouts", "Connections closed because no HELLO / AUTHENTICATE came in time.", self.hello_timeouts)?;
        counter(&mut e, "publications", "PUBLISH requests routed by the broker.", self.publications)?;
        counter(&mut e, "calls", "CALL requests routed by the dealer.", self.calls)?;
        let mut m = e.encode_descriptor(
            "messages_received",
            "WAMP messages received from peers (decoded), by message type.",
            None,
            MetricType::Counter,
        )?;
        for (name, n) in &self.received {
            let labels = [("type", name.as_str())];
            m.encode_family(&labels)?.encode_counter::<NoLabelSet, _, u64>(n, None)?;
        }
        Ok(())
    }
}

/// Encode one unlabelled counter (`name` without `_total`: the encoder appends it).
pub fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    e.encode_descriptor(name, help, None, MetricType::Counter)?.encode_counter::<NoLabelSet, _, u64>(&value, None)
}

/// Encode one unlabelled gauge.
pub fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    e.encode_descriptor(name, help, None, MetricType::Gauge)?.encode_gauge(&value)
}

/// The registry's Prometheus text exposition.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail; a collector that fails leaves what it wrote.
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, registry) {
        tracing::warn!(error = %e, "metrics exposition failed");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_router_counters_are_exposed_with_their_names() {
        let m = Metrics::default();
        m.connections.inc();
        m.sessions.inc();
        m.sessions.inc();
        m.slow_consumer_closes.inc();
        m.received(MessageType::Publish);
        m.received(MessageType::Publish);
        m.received(MessageType::Event); // not a client type: shown once seen
        let mut registry = Registry::with_prefix(PREFIX);
        registry.register_collector(Box::new(m.snapshot()));
        let text = encode(&registry);
        for line in [
            "# TYPE junction_connections gauge",
            "junction_connections 1",
            "junction_sessions 2",
            "# TYPE junction_slow_consumer_closes_total counter",
            "junction_slow_consumer_closes_total 1",
            "junction_protocol_violations_total 0",
            "junction_hello_timeouts_total 0",
            "junction_publications_total 0",
            "junction_calls_total 0",
            "# TYPE junction_messages_received_total counter",
            "junction_messages_received_total{type=\"publish\"} 2",
            "junction_messages_received_total{type=\"hello\"} 0",
            "junction_messages_received_total{type=\"event\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("type=\"welcome\""), "unseen router-to-client types stay out:\n{text}");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').expect("name value");
            assert!(name.starts_with("junction_"), "{line}");
            value.parse::<f64>().expect("a number");
        }
    }

    #[test]
    fn an_open_connection_is_counted_until_dropped() {
        let m = Arc::new(Metrics::default());
        let a = m.open_connection();
        let b = m.open_connection();
        assert_eq!(m.connections.get(), 2);
        drop(a);
        assert_eq!(m.connections.get(), 1);
        drop(b);
        assert_eq!(m.connections.get(), 0);
    }
}
