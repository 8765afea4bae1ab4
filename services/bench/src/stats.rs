//! Latency histograms (HdrHistogram, nanosecond resolution, 3 significant digits)
//! and the JSON summaries of them.

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// The highest latency a histogram holds: 60 s. Longer values are clamped to it.
const MAX_NS: u64 = 60_000_000_000;

/// A latency distribution in nanoseconds.
#[derive(Debug, Clone)]
pub struct Latency {
    hist: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    pub fn new() -> Self {
        // The bounds are constants that `new_with_bounds` accepts (low >= 1, high >= 2*low, sigfig <= 5).
        let hist = Histogram::new_with_bounds(1, MAX_NS, 3).expect("valid histogram bounds");
        Latency { hist }
    }

    #[inline]
    pub fn record(&mut self, ns: u64) {
        self.hist.saturating_record(ns.clamp(1, MAX_NS));
    }

    pub fn merge(&mut self, other: &Latency) {
        // Same bounds on both sides, so `add` cannot fail; saturate rather than panic anyway.
        if self.hist.add(&other.hist).is_err() {
            for v in other.hist.iter_recorded() {
                self.hist.saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
    }

    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// The value at quantile `q` (0..=1), in microseconds; 0 when empty.
    pub fn quantile_us(&self, q: f64) -> f64 {
        if self.hist.is_empty() {
            return 0.0;
        }
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }

    /// `{count, min, mean, p50, p90, p99, p999, max}` in microseconds (3 decimals).
    pub fn summary_us(&self) -> Value {
        let r = |v: f64| (v * 1000.0).round() / 1000.0;
        if self.hist.is_empty() {
            return json!({ "count": 0 });
        }
        json!({
            "count": self.hist.len(),
            "min": r(self.hist.min() as f64 / 1000.0),
            "mean": r(self.hist.mean() / 1000.0),
            "p50": r(self.quantile_us(0.50)),
            "p90": r(self.quantile_us(0.90)),
            "p99": r(self.quantile_us(0.99)),
            "p999": r(self.quantile_us(0.999)),
            "max": r(self.hist.max() as f64 / 1000.0),
        })
    }
}

/// Rounds to `d` decimals (for readable reports).
pub fn round(v: f64, d: i32) -> f64 {
    let m = 10f64.powi(d);
    (v * m).round() / m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_uniform_distribution() {
        let mut l = Latency::new();
        for us in 1..=1000u64 {
            l.record(us * 1000);
        }
        assert_eq!(l.count(), 1000);
        let within = |got: f64, want: f64| (got - want).abs() <= want * 0.001 + 0.001;
        assert!(within(l.quantile_us(0.5), 500.0), "{}", l.quantile_us(0.5));
        assert!(within(l.quantile_us(0.99), 990.0), "{}", l.quantile_us(0.99));
        assert!(within(l.quantile_us(0.999), 999.0), "{}", l.quantile_us(0.999));
        let s = l.summary_us();
        assert!(within(s["max"].as_f64().unwrap(), 1000.0));
        assert!(within(s["min"].as_f64().unwrap(), 1.0));
        assert!(within(s["mean"].as_f64().unwrap(), 500.5));
    }

    #[test]
    fn tail_is_visible_and_merge_adds_counts() {
        let mut a = Latency::new();
        for _ in 0..990 {
            a.record(100_000); // 100 µs
        }
        let mut b = Latency::new();
        for _ in 0..10 {
            b.record(5_000_000); // 5 ms
        }
        a.merge(&b);
        assert_eq!(a.count(), 1000);
        assert!((a.quantile_us(0.5) - 100.0).abs() < 0.1);
        assert!((a.quantile_us(0.99) - 100.0).abs() < 0.1, "p99 is the 990th value");
        assert!((a.quantile_us(0.995) - 5000.0).abs() < 5.0);
    }

    #[test]
    fn extremes_are_clamped_not_lost() {
        let mut l = Latency::new();
        l.record(0);
        l.record(u64::MAX);
        assert_eq!(l.count(), 2);
        assert_eq!(Latency::new().summary_us()["count"], 0);
        assert_eq!(Latency::new().quantile_us(0.99), 0.0);
    }
}
