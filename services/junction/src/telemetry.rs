//! `GET /metrics`: this process's Prometheus exposition (text format 0.0.4), served on the
//! metrics listener of every command that serves (`[metrics] listen`,
//! `JUNCTION_METRICS_LISTEN`; see `crate::app`). Never on the router's or the admin API's
//! listener: those are public, and this names tenants and their traffic.
//!
//! Everything is read at scrape time; nothing here runs per message:
//! - the router's counters (`junction_router::metrics`: connections, sessions, slow
//!   consumers, protocol violations, HELLO timeouts, publications, calls, messages by type);
//! - per tenant, summed over the realms open on this pod (`Realm::stats`: sessions, messages
//!   in and out). Label values are bounded: the first [`MAX_TENANT_LABELS`] tenants seen keep
//!   their own `tenant` label for the process's life, every later one is summed under
//!   `tenant="other"`. Tenant ids, not realm URIs: a label set bounded by tenants, and no
//!   tenant's realm names on the pod's endpoint;
//! - the Redis backplane's counters, when the router runs on Redis;
//! - readiness of the router and of a Redis change feed, and the build.
//!
//! The open realms are the router's own list ([`Router::realms`], in the order they opened;
//! realms stay open for the router's life).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use junction_backplane::Backplane;
use junction_backplane_redis::RedisBackplane;
use junction_router::Router;
use junction_router::metrics::{self, PREFIX, counter, gauge};
use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::sync::atomic::Ordering;
use tokio::sync::watch;

/// The `Content-Type` of [`Telemetry::render`]'s text: Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// How many distinct tenants get a label of their own; the rest are `tenant="other"`.
pub const MAX_TENANT_LABELS: usize = 100;

/// The label value the tenants beyond the cap share.
pub const OTHER_TENANT: &str = "other";

/// What `/metrics` reads. Build one per process ([`Telemetry::new`]).
pub struct Telemetry {
    router: Option<Router>,
    backplane: Option<Arc<RedisBackplane>>,
    feed_health: Option<watch::Receiver<bool>>,
    max_tenants: usize,
    /// Tenants with a label of their own, for the process's life (sticky: a tenant never
    /// moves between its own series and `other`).
    labelled: Mutex<HashSet<String>>,
}

impl Telemetry {
    /// `router` when the process runs one; `backplane` when it runs on
    /// Redis; `feed_health` when the change feed goes over Redis.
    pub fn new(
        router: Option<Router>,
        backplane: Option<Arc<RedisBackplane>>,
        feed_health: Option<watch::Receiver<bool>>,
    ) -> Self {
        Telemetry { router, backplane, feed_health, max_tenants: MAX_TENANT_LABELS, labelled: Mutex::new(HashSet::new()) }
    }

    /// A different cap on tenant labels (tests).
    pub fn with_max_tenants(mut self, max: usize) -> Self {
        self.max_tenants = max;
        self
    }

    /// Per-tenant figures over the open realms, labelled tenants first (in the order they
    /// were first seen), then `other` if any.
    fn tenants(&self, router: &Router) -> Vec<TenantFigures> {
        let mut figures: Vec<TenantFigures> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut other = TenantFigures { tenant: OTHER_TENANT.into(), ..Default::default() };
        let mut labelled = self.labelled.lock();
        for realm in router.realms() {
            let tenant = &realm.config().tenant;
            let slot = match index.get(tenant) {
                Some(&i) => Some(i),
                None if labelled.contains(tenant) || labelled.len() < self.max_tenants => {
                    labelled.insert(tenant.clone());
                    figures.push(TenantFigures { tenant: tenant.clone(), ..Default::default() });
                    index.insert(tenant.clone(), figures.len() - 1);
                    Some(figures.len() - 1)
                }
                None => None,
            };
            let f = match slot {
                Some(i) => &mut figures[i],
                None => &mut other,
            };
            let stats = realm.stats();
            f.realms += 1;
            f.sessions += stats.sessions;
            f.messages_in += stats.messages_in;
            f.messages_out += stats.messages_out;
        }
        if other.realms > 0 {
            figures.push(other);
        }
        figures
    }

    /// The Prometheus text exposition, read now ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut registry = Registry::with_prefix(PREFIX);
        registry.register_collector(Box::new(Process { router_ready: self.router.as_ref().map(|r| r.is_ready()), feed_connected: self.feed_health.as_ref().map(|h| *h.borrow()) }));
        if let Some(router) = &self.router {
            registry.register_collector(Box::new(router.metrics().snapshot()));
            registry.register_collector(Box::new(Tenants { figures: self.tenants(router), max: self.max_tenants }));
        }
        if let Some(backplane) = &self.backplane {
            registry.register_collector(Box::new(BackplaneFigures::read(backplane)));
        }
        metrics::encode(&registry)
    }
}

#[derive(Debug)]
struct Process {
    router_ready: Option<bool>,
    feed_connected: Option<bool>,
}

impl Collector for Process {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let labels = [("version", env!("CARGO_PKG_VERSION"))];
        e.encode_descriptor("build_info", "The junction build (always 1).", None, MetricType::Gauge)?
            .encode_family(&labels)?
            .encode_gauge(&1u64)?;
        if let Some(ready) = self.router_ready {
            gauge(&mut e, "router_ready", "1 while the router takes traffic (what /readyz answers 200 for), else 0.", ready.into())?;
        }
        if let Some(up) = self.feed_connected {
            gauge(&mut e, "change_feed_connected", "1 while the Redis change feed is connected, else 0.", up.into())?;
        }
        Ok(())
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct TenantFigures {
    tenant: String,
    realms: u64,
    sessions: u64,
    messages_in: u64,
    messages_out: u64,
}

#[derive(Debug)]
struct Tenants {
    figures: Vec<TenantFigures>,
    /// The cap on tenant labels, for the help text.
    max: usize,
}

impl Tenants {
    fn family(&self, e: &mut DescriptorEncoder, name: &str, help: &str, kind: MetricType, value: fn(&TenantFigures) -> u64) -> fmt::Result {
        let mut m = e.encode_descriptor(name, help, None, kind)?;
        for f in &self.figures {
            let labels = [("tenant", f.tenant.as_str())];
            let mut series = m.encode_family(&labels)?;
            match kind {
                MetricType::Counter => series.encode_counter::<NoLabelSet, _, u64>(&value(f), None)?,
                _ => series.encode_gauge(&value(f))?,
            }
        }
        Ok(())
    }
}

impl Collector for Tenants {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let other = format!("; tenants beyond the first {} are summed under tenant=\"{OTHER_TENANT}\"", self.max);
        self.family(&mut e, "tenant_realms", &format!("Realms open on this pod, by tenant{other}."), MetricType::Gauge, |f| f.realms)?;
        self.family(&mut e, "tenant_sessions", &format!("Joined sessions on this pod, by tenant{other}."), MetricType::Gauge, |f| f.sessions)?;
        self.family(
            &mut e,
            "tenant_messages_received",
            &format!("WAMP messages established sessions handed to their realm, by tenant{other}."),
            MetricType::Counter,
            |f| f.messages_in,
        )?;
        self.family(
            &mut e,
            "tenant_messages_sent",
            &format!("WAMP messages queued for sessions (EVENT, RESULT, INVOCATION, ...), by tenant{other}."),
            MetricType::Counter,
            |f| f.messages_out,
        )
    }
}

#[derive(Debug)]
struct BackplaneFigures {
    ready: bool,
    queued_bytes: u64,
    frames_sent: u64,
    batches_sent: u64,
    frames_dropped: u64,
    frames_received: u64,
    fills: u64,
    resyncs: u64,
    snapshots: u64,
}

impl BackplaneFigures {
    fn read(b: &RedisBackplane) -> Self {
        let s = b.stats();
        let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        BackplaneFigures {
            ready: b.ready(),
            queued_bytes: b.queued_bytes() as u64,
            frames_sent: get(&s.frames_sent),
            batches_sent: get(&s.batches_sent),
            frames_dropped: get(&s.frames_dropped),
            frames_received: get(&s.frames_received),
            fills: get(&s.fills),
            resyncs: get(&s.resyncs),
            snapshots: get(&s.snapshots),
        }
    }
}

impl Collector for BackplaneFigures {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        gauge(&mut e, "backplane_ready", "1 while the Redis backplane's connections and heartbeat are good, else 0.", self.ready.into())?;
        gauge(&mut e, "backplane_queued_bytes", "Bytes of messages to other pods waiting to be written to Redis.", self.queued_bytes)?;
        counter(&mut e, "backplane_frames_sent", "Messages to other pods written to Redis.", self.frames_sent)?;
        counter(&mut e, "backplane_batches_sent", "Redis messages (batches) the messages to other pods travelled in.", self.batches_sent)?;
        counter(&mut e, "backplane_frames_dropped", "Messages to other pods dropped (queue full, Redis unavailable).", self.frames_dropped)?;
        counter(&mut e, "backplane_frames_received", "Messages from other pods delivered.", self.frames_received)?;
        counter(&mut e, "backplane_log_fills", "Holes in a realm's op log filled from the Redis stream.", self.fills)?;
        counter(&mut e, "backplane_resyncs", "Realms read afresh (start, reconnect, overflow, lost log).", self.resyncs)?;
        counter(&mut e, "backplane_snapshots", "Realm registry snapshots stored.", self.snapshots)
    }
}

#[cfg(test)]
mod tests {
    use junction_router::config::RealmEntry;
    use junction_router::realm::StaticRealmProvider;

    use super::*;

    /// A sample: name, labels, value.
    type Sample = (String, Vec<(String, String)>, f64);

    /// One line of the Prometheus text format 0.0.4: `# HELP name text`, `# TYPE name type`,
    /// another comment, or `name{label="value",...} number`. Returns the sample's name,
    /// labels and value (`None` for a comment).
    fn parse_line(line: &str) -> Result<Option<Sample>, String> {
        let valid_name = |n: &str| {
            !n.is_empty()
                && n.chars().enumerate().all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit()))
        };
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("HELP"), Some(name), Some(_)) if valid_name(name) => {}
                (Some("TYPE"), Some(name), Some(t)) if valid_name(name) && !["counter", "gauge", "histogram", "summary", "untyped"].contains(&t) => {
                    return Err(format!("bad type {t:?}"));
                }
                (Some("TYPE"), Some(name), Some(_)) if valid_name(name) => {}
                (Some("HELP" | "TYPE"), ..) => return Err("bad HELP/TYPE line".into()),
                _ => {}
            }
            return Ok(None);
        }
        let (series, value) = line.rsplit_once(' ').ok_or("no value")?;
        let value: f64 = value.parse().map_err(|_| format!("bad value {value:?}"))?;
        let (name, labels) = match series.split_once('{') {
            None => (series, Vec::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').ok_or("unclosed labels")?;
                let mut labels = Vec::new();
                let mut rest = body;
                while !rest.is_empty() {
                    let (key, after) = rest.split_once("=\"").ok_or("label without =\"")?;
                    if !valid_name(key) {
                        return Err(format!("bad label name {key:?}"));
                    }
                    let mut val = String::new();
                    let mut chars = after.char_indices();
                    let end = loop {
                        match chars.next().ok_or("unterminated label value")? {
                            (i, '"') => break i,
                            (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                                'n' => val.push('\n'),
                                c @ ('\\' | '"') => val.push(c),
                                c => return Err(format!("bad escape \\{c}")),
                            },
                            (_, c) => val.push(c),
                        }
                    };
                    labels.push((key.to_owned(), val));
                    rest = &after[end + 1..];
                    rest = rest.strip_prefix(',').unwrap_or(rest);
                }
                (name, labels)
            }
        };
        if !valid_name(name) {
            return Err(format!("bad metric name {name:?}"));
        }
        Ok(Some((name.to_owned(), labels, value)))
    }

    /// Every line parses, every sample has a HELP and TYPE before it, names start with
    /// `junction_` and counters end in `_total`. Returns the samples.
    fn parse(text: &str) -> Vec<Sample> {
        assert!(text.ends_with('\n'), "ends with a newline");
        let mut types: HashMap<String, String> = HashMap::new();
        let mut samples = Vec::new();
        for line in text.lines() {
            match parse_line(line) {
                Err(e) => panic!("{e}: {line:?} in\n{text}"),
                Ok(None) => {
                    if let Some(rest) = line.strip_prefix("# TYPE ") {
                        let (name, t) = rest.split_once(' ').unwrap();
                        assert!(types.insert(name.to_owned(), t.to_owned()).is_none(), "one TYPE per metric: {name}");
                    }
                }
                Ok(Some((name, labels, value))) => {
                    let t = types.get(&name).unwrap_or_else(|| panic!("no TYPE before {name}"));
                    assert!(name.starts_with("junction_"), "{name}");
                    assert_eq!(t == "counter", name.ends_with("_total"), "{name} is a {t}");
                    samples.push((name, labels, value));
                }
            }
        }
        samples
    }

    fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        samples
            .iter()
            .find(|(n, l, _)| n == name && l.len() == labels.len() && labels.iter().all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v)))
            .map(|s| s.2)
    }

    #[test]
    fn the_line_parser_refuses_what_prometheus_would() {
        assert!(parse_line("junction_x_total 1").unwrap().is_some());
        assert_eq!(parse_line("junction_x{a=\"b \\\" c\",d=\"\"} 2.5").unwrap().unwrap().1, vec![("a".into(), "b \" c".into()), ("d".into(), "".into())]);
        for bad in ["junction_x", "junction x 1", "junction_x{a=b} 1", "junction_x{a=\"b} 1", "0x 1", "junction_x one", "# TYPE junction_x thing"] {
            assert!(parse_line(bad).is_err(), "{bad}");
        }
    }

    fn entries(n: usize) -> Vec<RealmEntry> {
        (0..n)
            .map(|i| RealmEntry { uri: format!("com.r{i}"), tenant: format!("ten_{}", i % 4), anonymous_role: Some("a".into()), principals: vec![] })
            .collect()
    }

    #[tokio::test]
    async fn the_exposition_parses_and_tenant_labels_are_capped() {
        // 8 realms of 4 tenants (r0,r4 -> ten_0; r1,r5 -> ten_1; ...), labels for 2 tenants.
        let realms = entries(8);
        let router = Router::builder().realm_provider(Arc::new(StaticRealmProvider::new(&realms))).build();
        let telemetry = Telemetry::new(Some(router.clone()), None, None).with_max_tenants(2);

        let samples = parse(&telemetry.render());
        assert_eq!(value(&samples, "junction_sessions", &[]), Some(0.0));
        assert_eq!(value(&samples, "junction_router_ready", &[]), Some(1.0));
        assert_eq!(value(&samples, "junction_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), Some(1.0));
        assert!(!samples.iter().any(|s| s.0.starts_with("junction_tenant_")), "no realm open yet");
        assert!(!samples.iter().any(|s| s.0.starts_with("junction_backplane_")), "in-process backplane: no Redis figures");

        for r in &realms {
            router.open_realm(&r.uri).await.unwrap().expect("realm");
        }
        assert!(router.open_realm("com.nowhere").await.unwrap().is_none());
        assert_eq!(router.realms().len(), 8, "unknown realms are not opened");
        let samples = parse(&telemetry.render());
        let tenants: Vec<&str> = samples
            .iter()
            .filter(|s| s.0 == "junction_tenant_realms")
            .map(|s| s.1.iter().find(|l| l.0 == "tenant").unwrap().1.as_str())
            .collect();
        assert_eq!(tenants, ["ten_0", "ten_1", OTHER_TENANT]);
        assert_eq!(value(&samples, "junction_tenant_realms", &[("tenant", "ten_0")]), Some(2.0));
        assert_eq!(value(&samples, "junction_tenant_realms", &[("tenant", OTHER_TENANT)]), Some(4.0));
        assert_eq!(value(&samples, "junction_tenant_sessions", &[("tenant", "ten_1")]), Some(0.0));
        assert_eq!(value(&samples, "junction_tenant_messages_received_total", &[("tenant", OTHER_TENANT)]), Some(0.0));
        assert_eq!(value(&samples, "junction_tenant_messages_sent_total", &[("tenant", "ten_0")]), Some(0.0));
        assert_eq!(value(&samples, "junction_messages_received_total", &[("type", "publish")]), Some(0.0));
    }

    #[tokio::test]
    async fn tenant_labels_are_sticky() {
        let realms = entries(3); // ten_0, ten_1, ten_2
        let router = Router::builder().realm_provider(Arc::new(StaticRealmProvider::new(&realms))).build();
        let telemetry = Telemetry::new(Some(router.clone()), None, None).with_max_tenants(2);
        router.open_realm("com.r2").await.unwrap();
        let first: Vec<String> = telemetry.tenants(&router).into_iter().map(|f| f.tenant).collect();
        assert_eq!(first, ["ten_2"]);
        router.open_realm("com.r0").await.unwrap();
        router.open_realm("com.r1").await.unwrap();
        let later: Vec<String> = telemetry.tenants(&router).into_iter().map(|f| f.tenant).collect();
        assert_eq!(later, ["ten_2", "ten_0", OTHER_TENANT], "the first two tenants seen keep their labels");
    }

    #[tokio::test]
    async fn redis_backplane_figures_are_exposed() {
        let redis = junction_backplane_redis::RedisConfig::single("redis://127.0.0.1:6379").with_prefix(format!("test-telemetry-{}", std::process::id()));
        let backplane = RedisBackplane::start(&redis, Default::default()).expect("start");
        let telemetry = Telemetry::new(None, Some(backplane), None);
        let samples = parse(&telemetry.render());
        for name in [
            "junction_backplane_ready",
            "junction_backplane_queued_bytes",
            "junction_backplane_frames_sent_total",
            "junction_backplane_batches_sent_total",
            "junction_backplane_frames_dropped_total",
            "junction_backplane_frames_received_total",
            "junction_backplane_log_fills_total",
            "junction_backplane_resyncs_total",
            "junction_backplane_snapshots_total",
        ] {
            assert!(value(&samples, name, &[]).is_some(), "{name}");
        }
        assert!(value(&samples, "junction_router_ready", &[]).is_none(), "no router here");
    }
}
