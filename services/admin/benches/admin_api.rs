//! Admin API benchmarks, recorded in docs/benchmarks.md ("Admin API").
//!
//! `cargo bench -p junction-admin --bench admin_api` starts the admin API on 127.0.0.1:0 over
//! SQLite (a temp file) and, when reachable, Postgres (`JUNCTION_TEST_PG_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`, a throw-away database), seeds a realm with a
//! role of 20 rules, then:
//! 1. runs `wrk` (if installed) against `GET /v1/realms/{id}/roles/{id}/rules` with a bearer
//!    access token, and with an API key, and prints its report;
//! 2. measures the time from sending a rule change (`PATCH .../rules/{id}`) to the change
//!    arriving on the change feed (in-process feed), and the HTTP round trip, over 500
//!    sequential changes.
//!
//! Knobs: `JUNCTION_BENCH_DB=sqlite|postgres|both` (default both), `JUNCTION_BENCH_SECS`
//! (wrk duration, default 10), `JUNCTION_BENCH_CONNS` (default 32).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use junction_admin::{AdminConfig, App};
use junction_changefeed::{ChangeFeed, InProcessFeed, Received};
use junction_store::{Secret, Store, secrets};
use serde_json::{Value, json};
use sqlx::Connection;

struct Server {
    base: String,
    feed: Arc<InProcessFeed>,
}

async fn start(url: &str) -> Server {
    let store = Store::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let feed = Arc::new(InProcessFeed::new());
    let config = AdminConfig {
        jwt_secret: Some(Secret::new("bench-secret-bench-secret-bench!")),
        cookie_secure: false,
        // Production cost for the one-off hashes; API-key checks are cached after the first.
        ..AdminConfig::default()
    };
    let app = App::build(config, store, feed.clone() as Arc<dyn ChangeFeed>, None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = app.router();
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    Server {
        base: format!("http://{addr}"),
        feed,
    }
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> Value {
    let mut req = client.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("request");
    assert!(res.status().is_success(), "{}", res.status());
    res.json().await.unwrap_or(Value::Null)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn run(label: &str, url: &str) {
    println!("\n=== {label} ===");
    let server = start(url).await;
    let client = reqwest::Client::new();
    let signup = client
        .post(format!("{}/v1/signup", server.base))
        .json(&json!({"email": "bench@bench.test", "password": "bench password 123", "tenant_name": "Bench"}))
        .send()
        .await
        .expect("signup")
        .json::<Value>()
        .await
        .expect("signup body");
    let token = signup["access_token"].as_str().expect("token").to_string();
    let realm = call(
        &client,
        reqwest::Method::POST,
        format!("{}/v1/realms", server.base),
        &token,
        Some(json!({"uri": "com.bench"})),
    )
    .await;
    let realm = realm["id"].as_str().unwrap().to_string();
    let role = call(
        &client,
        reqwest::Method::POST,
        format!("{}/v1/realms/{realm}/roles", server.base),
        &token,
        Some(json!({"name": "backend"})),
    )
    .await;
    let role = role["id"].as_str().unwrap().to_string();
    let mut rule_ids = Vec::new();
    for i in 0..20 {
        let rule = call(
            &client,
            reqwest::Method::POST,
            format!("{}/v1/realms/{realm}/roles/{role}/rules", server.base),
            &token,
            Some(json!({"uri": format!("com.bench.p{i}."), "match": "prefix", "allow": {"call": true, "subscribe": true}})),
        )
        .await;
        rule_ids.push(rule["id"].as_str().unwrap().to_string());
    }
    let key = call(
        &client,
        reqwest::Method::POST,
        format!("{}/v1/api-keys", server.base),
        &token,
        Some(json!({"name": "bench", "scopes": ["realms:read"]})),
    )
    .await;
    let key = key["key"].as_str().unwrap().to_string();
    let rules_url = format!("{}/v1/realms/{realm}/roles/{role}/rules", server.base);
    // One call with the key so its argon2 check is cached, as for any script after its first call.
    call(&client, reqwest::Method::GET, rules_url.clone(), &key, None).await;

    // 1. Throughput of reading a role's rules.
    let secs = std::env::var("JUNCTION_BENCH_SECS").unwrap_or_else(|_| "10".into());
    let conns = std::env::var("JUNCTION_BENCH_CONNS").unwrap_or_else(|_| "32".into());
    for (what, credential) in [("access token", &token), ("API key", &key)] {
        let out = tokio::process::Command::new("wrk")
            .args([
                "-t2",
                "-c",
                &conns,
                "-d",
                &format!("{secs}s"),
                "--latency",
                "-H",
                &format!("Authorization: Bearer {credential}"),
                &rules_url,
            ])
            .output()
            .await;
        match out {
            Ok(out) if out.status.success() => {
                println!(
                    "--- wrk, GET role rules (20 rules), {what} ---\n{}",
                    String::from_utf8_lossy(&out.stdout)
                );
            }
            Ok(out) => println!("wrk failed: {}", String::from_utf8_lossy(&out.stderr)),
            Err(e) => println!(
                "wrk not run ({e}): install it (`apt-get install -y wrk`) for the throughput figure"
            ),
        }
    }

    // 2. Rule change -> change feed.
    let mut rx = server.feed.subscribe();
    let n = 500;
    let mut to_feed = Vec::with_capacity(n);
    let mut round_trip = Vec::with_capacity(n);
    for i in 0..n {
        let rule = &rule_ids[i % rule_ids.len()];
        let start = Instant::now();
        let send = call(
            &client,
            reqwest::Method::PATCH,
            format!("{rules_url}/{rule}"),
            &token,
            Some(json!({"allow": {"call": i % 2 == 0, "subscribe": true}})),
        );
        let recv = async {
            match rx.recv().await {
                Received::Change(_) => start.elapsed(),
                other => panic!("feed: {other:?}"),
            }
        };
        let (_, seen) = tokio::join!(send, recv);
        round_trip.push(start.elapsed());
        to_feed.push(seen);
    }
    to_feed.sort();
    round_trip.sort();
    println!(
        "--- rule change (PATCH) to change feed, {n} sequential changes ---\n\
         request sent -> change on feed: p50 {:?}  p99 {:?}  max {:?}\n\
         HTTP round trip of the PATCH:   p50 {:?}  p99 {:?}",
        percentile(&to_feed, 0.5),
        percentile(&to_feed, 0.99),
        to_feed[n - 1],
        percentile(&round_trip, 0.5),
        percentile(&round_trip, 0.99),
    );
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let which = std::env::var("JUNCTION_BENCH_DB").unwrap_or_else(|_| "both".into());
    if which == "sqlite" || which == "both" {
        let dir = std::env::temp_dir().join(format!("junction_bench_{}", secrets::random_alnum(8)));
        std::fs::create_dir_all(&dir).expect("temp dir");
        run(
            "SQLite (file, WAL)",
            &format!("sqlite://{}?mode=rwc", dir.join("bench.db").display()),
        )
        .await;
        let _ = std::fs::remove_dir_all(&dir);
    }
    if which == "postgres" || which == "both" {
        let admin_url = std::env::var("JUNCTION_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        match sqlx::PgConnection::connect(&admin_url).await {
            Ok(mut conn) => {
                let name = format!("junction_bench_{}", secrets::random_alnum(8));
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .execute(&mut conn)
                    .await
                    .expect("create db");
                let base = &admin_url[..admin_url.rfind('/').expect("path")];
                run("Postgres", &format!("{base}/{name}")).await;
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE \"{name}\" WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await;
            }
            Err(e) => println!("Postgres not reachable at {admin_url} ({e}): skipped"),
        }
    }
}
