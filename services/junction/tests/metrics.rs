//! `GET /metrics` on every kind of pod, scraped from the real binary's metrics listener while
//! WAMP sessions come and go; and never served on the public listeners (router, admin).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{Junction, TempDir, Wamp, command, http};
use serde_json::json;

/// One scrape: series (`name{labels}` as written) -> value. Checks the content type and that
/// every line is a comment or `series value`.
async fn scrape(client: &reqwest::Client, url: &str) -> HashMap<String, f64> {
    let res = client.get(url).send().await.unwrap();
    assert_eq!(res.status(), 200, "{url}");
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let text = res.text().await.unwrap();
    let mut samples = HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not `series value`: {line:?}"));
        assert!(series.starts_with("junction_"), "{line}");
        samples.insert(series.to_owned(), value.parse::<f64>().unwrap_or_else(|_| panic!("bad value: {line:?}")));
    }
    samples
}

/// `GET url` (a public listener) does not give the exposition: it names tenants.
async fn assert_not_exposed(url: &str) {
    // A client of its own, dropped here: its connection does not linger in a pool.
    let res = http().get(url).send().await.unwrap();
    let status = res.status();
    let content_type = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body = res.text().await.unwrap();
    assert!(!content_type.starts_with("text/plain; version=0.0.4"), "{url}: {status} {content_type}");
    assert!(!body.contains("junction_") && !body.contains("# TYPE"), "{url} served the exposition: {status}\n{body}");
}

fn get(samples: &HashMap<String, f64>, series: &str) -> f64 {
    *samples.get(series).unwrap_or_else(|| panic!("no {series} in {samples:#?}"))
}

/// Scrape until `done` holds (gauges follow connections closing), at most 10 s.
async fn scrape_until(client: &reqwest::Client, url: &str, what: &str, done: impl Fn(&HashMap<String, f64>) -> bool) -> HashMap<String, f64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let samples = scrape(client, url).await;
        if done(&samples) {
            return samples;
        }
        assert!(Instant::now() < deadline, "{what}: not reached in time; last scrape {samples:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await; // polling a gauge, with a deadline
    }
}

/// Subscribe `sub` to `topic`, publish once from `publ` (acknowledged), and see the EVENT.
async fn publish_once(sub: &mut Wamp, publ: &mut Wamp, topic: &str) {
    sub.send(json!([32, 1, {}, topic])).await;
    assert_eq!(sub.recv().await[0], 33); // SUBSCRIBED
    publ.send(json!([16, 2, {"acknowledge": true}, topic, [42]])).await;
    assert_eq!(publ.recv().await[0], 17); // PUBLISHED
    let event = sub.recv().await;
    assert_eq!((event[0].clone(), event[4].clone()), (json!(36), json!([42])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_serves_metrics_that_follow_sessions_and_messages() {
    let data = TempDir::new("metrics-dev");
    let j = Junction::start(command(&["dev", "--data-dir", data.path().to_str().unwrap()]), &["router", "admin", "metrics"]);
    let client = http();
    let url = j.metrics_url().to_owned();
    let router = j.router_url().to_owned();
    assert!(url.starts_with("http://127.0.0.1:") && url.ends_with("/metrics") && !url.contains(":0/"), "{url}");
    // The announce lines come in order: router, admin, then metrics.
    let announced: Vec<&String> = j.stdout.iter().filter(|l| l.starts_with("junction: ")).collect();
    assert!(announced[0].contains("router listening on ws://") && announced[1].contains("admin listening on http://"), "{announced:?}");
    assert_eq!(announced[2], &format!("junction: metrics listening on {url}"));

    let before = scrape(&client, &url).await;
    assert_eq!(get(&before, "junction_sessions"), 0.0);
    assert_eq!(get(&before, "junction_connections"), 0.0);
    assert_eq!(get(&before, "junction_router_ready"), 1.0);
    assert_eq!(get(&before, &format!("junction_build_info{{version=\"{}\"}}", env!("CARGO_PKG_VERSION"))), 1.0);
    assert!(!before.keys().any(|k| k.starts_with("junction_tenant_")), "no realm open yet");

    // Two sessions on the dev realm (static, tenant "default").
    let mut sub = Wamp::join(&router, "realm1").await;
    let mut publ = Wamp::join(&router, "realm1").await;
    let joined = scrape_until(&client, &url, "2 sessions", |s| s.get("junction_sessions") == Some(&2.0)).await;
    assert_eq!(get(&joined, "junction_tenant_sessions{tenant=\"default\"}"), 2.0);
    assert_eq!(get(&joined, "junction_tenant_realms{tenant=\"default\"}"), 1.0);

    publish_once(&mut sub, &mut publ, "com.example.metrics").await;
    let after = scrape(&client, &url).await;
    assert_eq!(get(&after, "junction_publications_total") - get(&joined, "junction_publications_total"), 1.0);
    let delta = |series: &str| get(&after, series) - get(&joined, series);
    assert_eq!(delta("junction_tenant_messages_received_total{tenant=\"default\"}"), 2.0, "SUBSCRIBE, PUBLISH");
    assert_eq!(delta("junction_tenant_messages_sent_total{tenant=\"default\"}"), 3.0, "SUBSCRIBED, PUBLISHED, EVENT");
    assert_eq!(get(&after, "junction_slow_consumer_closes_total"), 0.0);
    assert_eq!(get(&after, "junction_protocol_violations_total"), 0.0);

    // One leaves.
    publ.send(json!([6, {}, "wamp.close.close_realm"])).await;
    assert_eq!(publ.recv().await[0], 6); // GOODBYE
    let left = scrape_until(&client, &url, "1 session", |s| s.get("junction_sessions") == Some(&1.0)).await;
    assert_eq!(get(&left, "junction_tenant_sessions{tenant=\"default\"}"), 1.0);

    // A protocol violation is counted.
    sub.send(json!([1, "realm1", {}])).await; // a second HELLO
    assert_eq!(sub.recv().await[0], 3); // ABORT
    let violated = scrape_until(&client, &url, "0 sessions", |s| s.get("junction_sessions") == Some(&0.0)).await;
    assert_eq!(get(&violated, "junction_protocol_violations_total"), 1.0);

    // Not on the public listeners; `/healthz` next to it on the metrics listener.
    assert_not_exposed(&j.admin_url("/metrics")).await;
    assert_not_exposed(&router.replace("ws://", "http://").replace("/ws", "/metrics")).await;
    let health = client.get(url.replace("/metrics", "/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(client.get(url.replace("/metrics", "/v1/config")).send().await.unwrap().status(), 404, "nothing else there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_pod_serves_metrics() {
    let data = TempDir::new("metrics-admin");
    let db = format!("sqlite://{}", data.path().join("j.db").display());
    let j = Junction::start(command(&["admin", "--database-url", &db, "--migrate"]), &["admin", "metrics"]);
    let samples = scrape(&http(), j.metrics_url()).await;
    assert_eq!(get(&samples, &format!("junction_build_info{{version=\"{}\"}}", env!("CARGO_PKG_VERSION"))), 1.0);
    assert!(!samples.contains_key("junction_sessions"), "no router in an admin pod");
    assert_not_exposed(&j.admin_url("/metrics")).await;
}

/// A router pod has no admin listener: `/metrics` is on the metrics listener, not on the
/// router's (public) one; WebSocket connections are counted for their whole life, and
/// messages by type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_pod_serves_metrics_on_the_metrics_listener() {
    let dir = TempDir::new("metrics-router");
    let config = dir.path().join("junction.toml");
    std::fs::write(&config, "[[realms]]\nuri = \"com.example.static\"\ntenant = \"t\"\nanonymous_role = \"guest\"\n").unwrap();
    let j = Junction::start(command(&["--config", config.to_str().unwrap(), "router"]), &["router", "metrics"]);
    let client = http();
    let url = j.metrics_url().to_owned();

    let before = scrape(&client, &url).await;
    // Scrapes are not connections on the router listener: only WebSocket sessions are counted.
    assert_eq!(get(&before, "junction_connections"), 0.0);
    assert_eq!(get(&before, "junction_messages_received_total{type=\"hello\"}"), 0.0);
    let mut sub = Wamp::join(j.router_url(), "com.example.static").await;
    let mut publ = Wamp::join(j.router_url(), "com.example.static").await;
    publish_once(&mut sub, &mut publ, "com.example.metrics").await;
    let after = scrape_until(&client, &url, "2 sessions", |s| s.get("junction_sessions") == Some(&2.0)).await;
    assert_eq!(get(&after, "junction_connections"), 2.0);
    assert_eq!(get(&after, "junction_tenant_sessions{tenant=\"t\"}"), 2.0);
    assert_eq!(get(&after, "junction_messages_received_total{type=\"hello\"}"), 2.0);
    assert_eq!(get(&after, "junction_messages_received_total{type=\"subscribe\"}"), 1.0);
    assert_eq!(get(&after, "junction_messages_received_total{type=\"publish\"}"), 1.0);
    assert_eq!(get(&after, "junction_publications_total"), 1.0);

    publ.send(json!([6, {}, "wamp.close.close_realm"])).await;
    assert_eq!(publ.recv().await[0], 6); // GOODBYE
    let left = scrape_until(&client, &url, "1 session, 1 connection", |s| {
        s.get("junction_sessions") == Some(&1.0) && s.get("junction_connections") == Some(&1.0)
    })
    .await;
    assert_eq!(get(&left, "junction_messages_received_total{type=\"goodbye\"}"), 1.0);
    drop(sub);
    scrape_until(&client, &url, "no connection left", |s| s.get("junction_connections") == Some(&0.0)).await;

    // Not on the router's listener (public), which keeps `/healthz` and `/readyz`.
    let router_http = j.router_url().replace("ws://", "http://");
    assert_not_exposed(&router_http.replace("/ws", "/metrics")).await;
    assert_eq!(client.get(router_http.replace("/ws", "/readyz")).send().await.unwrap().status(), 200);
}
