//! Helpers for the binary's tests: start the real `junction` (`CARGO_BIN_EXE_junction`), read
//! its announce lines, talk HTTP to the admin listener and raw WAMP (JSON over WebSocket) to
//! the router, stop it with SIGTERM.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const BIN: &str = env!("CARGO_BIN_EXE_junction");

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let dir = std::env::temp_dir().join(format!("junction-test-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `junction` and the URLs it announced.
pub struct Junction {
    pub child: Child,
    pub router: Option<String>,
    pub admin: Option<String>,
    /// `http://ADDR/metrics` of the metrics listener.
    pub metrics: Option<String>,
    /// Every stdout line so far (announce lines and the banner).
    pub stdout: Vec<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

/// A `junction` command with the test defaults: every listener on port 0, no config file, no
/// inherited store settings.
pub fn command(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("JUNCTION_ROUTER_LISTEN", "127.0.0.1:0")
        .env("JUNCTION_ADMIN_LISTEN", "127.0.0.1:0")
        .env("JUNCTION_METRICS_LISTEN", "127.0.0.1:0")
        .env("JUNCTION_LOG", "info")
        // The cheapest argon2: tests hash passwords in debug builds.
        .env("JUNCTION_ADMIN_ARGON2_MEMORY_KIB", "8")
        .env("JUNCTION_ADMIN_ARGON2_ITERATIONS", "1")
        .env_remove("JUNCTION_CONFIG")
        .env_remove("JUNCTION_DATABASE_URL")
        .env_remove("JUNCTION_DATA_DIR")
        .env_remove("JUNCTION_ROUTER_URL")
        .env_remove("JUNCTION_DASHBOARD_DIR");
    cmd
}

impl Junction {
    /// Start `cmd` and wait (at most 60 s) until it announced what `expect` names
    /// (`"router"`, `"admin"`, `"metrics"`).
    pub fn start(mut cmd: Command, expect: &[&str]) -> Junction {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn junction");
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut j = Junction { child, router: None, admin: None, metrics: None, stdout: Vec::new(), stderr: Some(stderr) };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !expect.iter().all(|e| match *e {
            "router" => j.router.is_some(),
            "admin" => j.admin.is_some(),
            "metrics" => j.metrics.is_some(),
            other => panic!("unknown listener {other}"),
        }) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("junction: router listening on ") {
                        j.router = Some(url.trim().to_owned());
                    }
                    if let Some(url) = line.strip_prefix("junction: admin listening on ") {
                        j.admin = Some(url.trim().to_owned());
                    }
                    if let Some(url) = line.strip_prefix("junction: metrics listening on ") {
                        j.metrics = Some(url.trim().to_owned());
                    }
                    j.stdout.push(line);
                }
                Err(_) => {
                    let _ = j.child.kill();
                    let _ = j.child.wait();
                    let stderr = j.stderr_text();
                    panic!("junction did not announce {expect:?}; stdout {:?}; stderr:\n{stderr}", j.stdout);
                }
            }
        }
        // Keep draining stdout in the background (the banner follows the lines).
        std::thread::spawn(move || while rx.recv().is_ok() {});
        j
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("{}{path}", self.admin.as_deref().expect("admin listener"))
    }

    /// `http://ADDR/metrics` of the metrics listener.
    pub fn metrics_url(&self) -> &str {
        self.metrics.as_deref().expect("metrics listener")
    }

    pub fn router_url(&self) -> &str {
        self.router.as_deref().expect("router listener")
    }

    /// SIGTERM, then the exit status (at most 20 s later).
    pub fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        self.wait(Duration::from_secs(20))
    }

    pub fn wait(&mut self, deadline: Duration) -> ExitStatus {
        let start = Instant::now();
        while start.elapsed() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20)); // polling a child process
        }
        let _ = self.child.kill();
        panic!("junction still running after {deadline:?}; stderr:\n{}", self.stderr_text());
    }

    /// Everything it wrote on stderr (once it has exited).
    pub fn stderr_text(&mut self) -> String {
        if self.child.try_wait().ok().flatten().is_none() {
            return "(still running)".into();
        }
        self.stderr.take().and_then(|h| h.join().ok()).unwrap_or_default()
    }
}

impl Drop for Junction {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Run a command to its end (at most 60 s): (status, stdout, stderr).
pub fn run(mut cmd: Command) -> (ExitStatus, String, String) {
    let out = cmd.stdin(Stdio::null()).output().expect("run junction");
    (out.status, String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(30)).build().unwrap()
}

/// Sign up a tenant; returns the owner's access token.
pub async fn signup(client: &reqwest::Client, j: &Junction, email: &str) -> String {
    let res = client
        .post(j.admin_url("/v1/signup"))
        .json(&json!({"email": email, "password": "correct horse battery", "tenant_name": "Test tenant"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().expect("access_token").to_owned()
}

/// Create a realm through the admin API (201); returns its id.
pub async fn create_realm(client: &reqwest::Client, j: &Junction, token: &str, body: Value) -> String {
    let res = client.post(j.admin_url("/v1/realms")).bearer_auth(token).json(&body).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let realm: Value = res.json().await.unwrap();
    realm["id"].as_str().expect("realm id").to_owned()
}

/// A raw WAMP client: JSON over WebSocket, one message per text frame.
pub struct Wamp {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub session: u64,
    pub welcome: Value,
}

impl Wamp {
    /// Connect and join `realm` anonymously; panics unless WELCOME.
    pub async fn join(url: &str, realm: &str) -> Wamp {
        match Wamp::try_join(url, realm).await {
            Ok(w) => w,
            Err(reply) => panic!("expected WELCOME joining {realm}, got {reply}"),
        }
    }

    /// Connect and say HELLO; `Err(reply)` when the router does not answer WELCOME.
    pub async fn try_join(url: &str, realm: &str) -> Result<Wamp, Value> {
        let mut req = url.into_client_request().unwrap();
        req.headers_mut().insert("Sec-WebSocket-Protocol", "wamp.2.json".parse().unwrap());
        let (ws, _) = tokio::time::timeout(Duration::from_secs(10), tokio_tungstenite::connect_async(req)).await.expect("connect in time").expect("connect");
        let mut w = Wamp { ws, session: 0, welcome: Value::Null };
        w.send(json!([1, realm, {"roles": {"publisher": {}, "subscriber": {}, "caller": {}, "callee": {}}}])).await;
        let reply = w.recv().await;
        if reply[0] != 2 {
            return Err(reply);
        }
        w.session = reply[1].as_u64().expect("session id");
        w.welcome = reply;
        Ok(w)
    }

    pub async fn send(&mut self, msg: Value) {
        self.ws.send(Message::text(msg.to_string())).await.expect("send");
    }

    /// The next WAMP message (at most 10 s); `Null` when the connection closed.
    pub async fn recv(&mut self) -> Value {
        loop {
            let next = tokio::time::timeout(Duration::from_secs(10), self.ws.next()).await.expect("a message in time");
            match next {
                Some(Ok(Message::Text(t))) => return serde_json::from_str(t.as_str()).expect("JSON message"),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Value::Null,
                Some(Ok(_)) => continue,
            }
        }
    }
}
