//! Change-feed propagation latency over Redis: pod A publishes a change, pod B's listener
//! receives it; one change at a time (unloaded latency), p50 / p99 / max over `--count`.
//!
//! ```sh
//! cargo run --release -p junction-backplane-redis --example feed_latency -- --count 10000
//! cargo run --release -p junction-backplane-redis --example feed_latency -- --cluster   # a throwaway 3-master cluster
//! cargo run --release -p junction-backplane-redis --example feed_latency -- --url redis://host:6379
//! ```

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use junction_backplane_redis::testing::{RedisCluster, unique_prefix};
use junction_backplane_redis::{RedisConfig, RedisFeed};
use junction_changefeed::{Change, ChangeFeed, Received};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut count, mut url, mut cluster) = (10_000usize, "redis://127.0.0.1:6379".to_owned(), false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--count" => count = args.next().ok_or("--count N")?.parse()?,
            "--url" => url = args.next().ok_or("--url URL")?,
            "--cluster" => cluster = true,
            other => return Err(format!("unknown argument {other}; see the file's doc").into()),
        }
    }
    let fixture = if cluster { Some(tokio::task::spawn_blocking(|| RedisCluster::start(3)).await??) } else { None };
    let config = match &fixture {
        Some(c) => c.config(),
        None => RedisConfig::single(url),
    }
    .with_prefix(unique_prefix("feed-latency"));
    let (a, b) = (RedisFeed::start(&config)?, RedisFeed::start(&config)?);
    for feed in [&a, &b] {
        if !feed.wait_ready(Duration::from_secs(10)).await {
            return Err(format!("cannot reach Redis at {}", config.redacted_urls()).into());
        }
    }
    let mut rx = b.subscribe();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3)?;
    let warmup = count / 10;
    let started = Instant::now();
    for i in 0..warmup + count {
        let change = Change::RoleUpdated { realm: "com.acme.shop".into(), role: format!("r{i}") };
        let sent = Instant::now();
        a.publish(change.clone()).await?;
        match rx.recv().await {
            Received::Change(c) if c == change => {}
            other => return Err(format!("expected change {i}, got {other:?}").into()),
        }
        if i >= warmup {
            hist.record(sent.elapsed().as_micros().max(1) as u64)?;
        }
    }
    let total = started.elapsed();
    println!(
        "change feed over Redis ({}): {} changes, publish on A -> received on B: p50 {} µs, p90 {} µs, p99 {} µs, p99.9 {} µs, max {} µs ({:.0} changes/s one at a time)",
        if cluster { "3-master cluster, SPUBLISH/SSUBSCRIBE" } else { "single Redis, PUBLISH/SUBSCRIBE" },
        count,
        hist.value_at_quantile(0.5),
        hist.value_at_quantile(0.9),
        hist.value_at_quantile(0.99),
        hist.value_at_quantile(0.999),
        hist.max(),
        (warmup + count) as f64 / total.as_secs_f64(),
    );
    Ok(())
}
