//! Runs every scenario briefly against a real router: the `junction` binary, started
//! with a config on port 0.
//!
//! The binary is `$JUNCTION_BIN` when set (and must exist then), else
//! `target/{debug,release}/junction` of this workspace. With neither, the router tests
//! print why and pass without running (build it with `cargo build -p junction`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use clap::Parser;
use serde_json::Value;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    bench: junction_bench::BenchArgs,
}

fn junction_bin() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("JUNCTION_BIN") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "JUNCTION_BIN={} does not exist: build it with `cargo build -p junction`", p.display());
        return Some(p);
    }
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target");
    ["debug", "release"].iter().map(|p| target.join(p).join("junction")).find(|p| p.is_file())
}

/// The router child process; killed on drop.
struct Router {
    child: Child,
    url: String,
    _dir: TempDir,
}

impl Drop for Router {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start_router(bin: &PathBuf) -> Router {
    let dir = std::env::temp_dir().join(format!("junction-bench-test-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("router.toml");
    std::fs::write(
        &config,
        "log = \"warn\"\n\n[router]\nlisten = \"127.0.0.1:0\"\n\n[[realms]]\nuri = \"realm1\"\nanonymous_role = \"anonymous\"\n",
    )
    .unwrap();
    let mut child = Command::new(bin)
        .args(["router", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    // The router announces `junction: router listening on ws://127.0.0.1:PORT/ws` (on
    // stdout or stderr); read both until it does.
    let (tx, rx) = mpsc::channel::<String>();
    for out in [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child.stderr.take().map(|s| Box::new(s) as _),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if std::env::var_os("TEST_LOG").is_some() {
                    eprintln!("router: {line}");
                }
                let _ = tx.send(line);
            }
        });
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut seen = vec![];
    let url = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(i) = line.find("listening on ws://") {
                    break line[i + "listening on ".len()..].split_whitespace().next().unwrap_or_default().to_string();
                }
                seen.push(line);
            }
            Err(_) => {
                let _ = child.kill();
                panic!("router did not announce its address within 30 s; it printed: {seen:#?}");
            }
        }
    };
    Router { child, url, _dir: TempDir(dir) }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos() as u64).unwrap_or(0)
}

async fn bench(args: &[&str]) -> anyhow::Result<Value> {
    let cli = Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied()))?;
    junction_bench::run_quiet(cli.bench).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_router_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("ws://127.0.0.1:{port}/ws");
    for scenario in ["pubsub", "rpc", "idle"] {
        let err = bench(&[scenario, "--url", &url, "--quiet"]).await.unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("cannot connect") && msg.contains("is the router running"), "{scenario}: {msg}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_runs_against_the_router() {
    let Some(bin) = junction_bin() else {
        eprintln!("skipping: no junction binary (set JUNCTION_BIN or run `cargo build -p junction`)");
        return;
    };
    let router = start_router(&bin);
    let url = router.url.as_str();
    let pid = router.child.id().to_string();

    // pub/sub, closed loop, subscribers spread over all three serializers
    let r = bench(&[
        "pubsub",
        "--url",
        url,
        "--quiet",
        "--subscribers",
        "6",
        "--serializer",
        "json,msgpack,cbor",
        "--warmup",
        "0.3",
        "--duration",
        "1",
        "--router-pid",
        &pid,
    ])
    .await
    .unwrap();
    assert!(r["deliveries"].as_u64().unwrap() > 0, "{r:#}");
    assert_eq!(r["lost"], 0, "{r:#}");
    assert_eq!(r["errors"].as_array().unwrap().len(), 0, "{r:#}");
    assert!(r["latency_us"]["p99"].as_f64().unwrap() > 0.0);
    assert!(r["cpu"]["router"]["cpu_us_per_delivery"].is_number());

    // pub/sub, paced: by the ticker thread, and by the spinning task under --busy-poll
    for busy in [false, true] {
        let mut args = vec!["pubsub", "--url", url, "--quiet", "--subscribers", "3", "--rate", "500", "--warmup", "0.2", "--duration", "1"];
        if busy {
            args.push("--busy-poll");
        }
        let r = bench(&args).await.unwrap();
        let pubs = r["publications_per_s"].as_f64().unwrap();
        assert!((400.0..=600.0).contains(&pubs), "paced at 500/s (busy-poll {busy}), got {pubs}: {r:#}");
        assert_eq!(r["lost"], 0, "{r:#}");
        assert_eq!(r["config"]["busy_poll"], busy, "{r:#}");
    }

    // rpc, closed loop then at half the peak
    let r = bench(&[
        "rpc",
        "--url",
        url,
        "--quiet",
        "--callers",
        "2",
        "--in-flight",
        "4",
        "--serializer",
        "msgpack,cbor",
        "--warmup",
        "0.2",
        "--duration",
        "0.7",
        "--half-rate",
        "--router-pid",
        &pid,
    ])
    .await
    .unwrap();
    for run in ["peak", "half_rate"] {
        assert!(r[run]["calls"].as_u64().unwrap() > 0, "{r:#}");
        assert_eq!(r[run]["call_errors"], 0, "{r:#}");
        assert_eq!(r[run]["errors"].as_array().unwrap().len(), 0, "{r:#}");
    }
    assert!(r["targets"]["calls_per_s"]["ratio"].is_number());
    assert!(r["targets"]["p99_us_at_half_peak"]["ratio"].is_number());

    // idle sessions, with the router's RSS
    let r = bench(&[
        "idle",
        "--url",
        url,
        "--quiet",
        "--sessions",
        "200",
        "--duration",
        "0.5",
        "--settle",
        "0.2",
        "--router-pid",
        &pid,
    ])
    .await
    .unwrap();
    assert_eq!(r["joined"], 200, "{r:#}");
    assert_eq!(r["failed"], 0, "{r:#}");
    assert_eq!(r["dropped_during_hold"], 0, "{r:#}");
    assert!(r["router"]["bytes_per_session"].is_number(), "{r:#}");

    // a realm the router does not serve: refused with the router's reason
    let err =
        bench(&["rpc", "--url", url, "--quiet", "--realm", "no.such.realm", "--duration", "0.2"]).await.unwrap_err();
    assert!(format!("{err:#}").contains("refused to join realm"), "{err:#}");
}
