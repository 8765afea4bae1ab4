//! Test fixtures (feature `testing`): a throwaway Redis or Redis Cluster, unique key prefixes, and
//! killing a process's connections by client name. For this crate's tests and for the crates
//! built on it (add `junction-backplane-redis = { workspace = true, features = ["testing"] }`
//! to their dev-dependencies).
//!
//! ```no_run
//! # async fn t() {
//! use junction_backplane_redis::testing::{RedisCluster, unique_prefix};
//! let cluster = RedisCluster::start(3).expect("redis cluster");
//! let config = cluster.config().with_prefix(unique_prefix("my-test"));
//! // ... RedisConn::start(config) ...
//! # }
//! ```
//! Needs `redis-server` and `redis-cli` (7.0 or newer) on `PATH`, or set `REDIS_SERVER` /
//! `REDIS_CLI` to their paths.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::RedisConfig;

/// A key prefix no other test (in this or another process) uses: keys and channels of
/// concurrent tests on one Redis never meet, and nothing needs FLUSHALL.
pub fn unique_prefix(label: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("test-{label}-{}-{}-{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A Redis Cluster of `masters` masters (no replicas) on free loopback ports, in a temporary
/// directory; stopped and removed on drop.
pub struct RedisCluster {
    dir: PathBuf,
    nodes: Vec<Child>,
    ports: Vec<u16>,
}

impl RedisCluster {
    /// Start the nodes, join them with `redis-cli --cluster create`, and wait (polling) until
    /// every node reports `cluster_state:ok`.
    pub fn start(masters: usize) -> io::Result<RedisCluster> {
        let server = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let cli = std::env::var("REDIS_CLI").unwrap_or_else(|_| "redis-cli".into());
        let dir = std::env::temp_dir().join(unique_prefix("cluster"));
        std::fs::create_dir_all(&dir)?;
        let mut cluster = RedisCluster { dir, nodes: Vec::new(), ports: Vec::new() };
        for _ in 0..masters {
            let port = free_cluster_port()?;
            let node_dir = cluster.dir.join(port.to_string());
            std::fs::create_dir_all(&node_dir)?;
            let child = Command::new(&server)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--cluster-enabled", "yes"])
                .args(["--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no"])
                .arg("--dir")
                .arg(&node_dir)
                .arg("--logfile")
                .arg(node_dir.join("redis.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| io::Error::new(e.kind(), format!("cannot start {server}: {e}")))?;
            cluster.nodes.push(child);
            cluster.ports.push(port);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        for &port in &cluster.ports {
            poll_until(deadline, || Ok(command(port, &["PING"])?.contains("PONG")), &format!("node {port} answering PING"))?;
        }
        let addrs: Vec<String> = cluster.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let out = Command::new(&cli)
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot run {cli}: {e}")))?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "redis-cli --cluster create failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        for &port in &cluster.ports {
            poll_until(deadline, || Ok(command(port, &["CLUSTER", "INFO"])?.contains("cluster_state:ok")), &format!("node {port} cluster_state:ok"))?;
        }
        Ok(cluster)
    }

    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// `redis://127.0.0.1:PORT` of every node.
    pub fn urls(&self) -> Vec<String> {
        self.ports.iter().map(|p| format!("redis://127.0.0.1:{p}")).collect()
    }

    /// A cluster [`RedisConfig`] with every node as a seed.
    pub fn config(&self) -> RedisConfig {
        RedisConfig::cluster(self.urls())
    }

    /// Where the nodes keep their files and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for child in &mut self.nodes {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One throwaway Redis on a free loopback port, keeping nothing on disk: it can be stopped
/// and started again on the same port (empty, as a restarted cache-only Redis comes back).
pub struct RedisServer {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start() -> io::Result<RedisServer> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let dir = std::env::temp_dir().join(unique_prefix("redis"));
        std::fs::create_dir_all(&dir)?;
        let mut server = RedisServer { dir, port, child: None };
        server.restart()?;
        Ok(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn config(&self) -> RedisConfig {
        RedisConfig::single(self.url())
    }

    /// Kill the server (SIGKILL: connections break at once, nothing is saved).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it (again) on the same port, empty; returns once it answers PING.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        let server = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(&server)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.dir.join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot start {server}: {e}")))?;
        self.child = Some(child);
        let port = self.port;
        poll_until(Instant::now() + Duration::from_secs(20), || Ok(command(port, &["PING"])?.contains("PONG")), &format!("redis on {port} answering PING"))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port whose cluster bus port (port + 10000) is free too.
fn free_cluster_port() -> io::Result<u16> {
    for _ in 0..100 {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        if port < 55535 && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return Ok(port);
        }
    }
    Err(io::Error::other("no free port pair for a cluster node"))
}

fn poll_until(deadline: Instant, mut check: impl FnMut() -> io::Result<bool>, what: &str) -> io::Result<()> {
    loop {
        if let Ok(true) = check() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(io::Error::new(io::ErrorKind::TimedOut, format!("timed out waiting for {what}")));
        }
        // A poll interval, not a synchronisation: the condition is checked again.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Send one command to `127.0.0.1:port` over a fresh RESP2 connection; the reply as text
/// (bulk strings as their content, errors as `-ERR ...`). Blocking, for fixtures and tests.
pub fn command(port: u16, args: &[&str]) -> io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = format!("*{}\r\n", args.len());
    for a in args {
        request.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    stream.write_all(request.as_bytes())?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    match line.as_bytes().first() {
        Some(b'$') => {
            let len: i64 = line[1..].trim().parse().map_err(io::Error::other)?;
            if len < 0 {
                return Ok(String::new());
            }
            let mut body = vec![0; len as usize + 2];
            reader.read_exact(&mut body)?;
            body.truncate(len as usize);
            Ok(String::from_utf8_lossy(&body).into_owned())
        }
        _ => Ok(line.trim_end().to_owned()),
    }
}

/// `CLIENT KILL ID` every connection named `name` on the Redis at `port` (see
/// [`RedisConfig::client_name`]; a subscriber's is `<client_name>-sub`). How many were killed.
pub fn kill_clients_named(port: u16, name: &str) -> io::Result<usize> {
    let list = command(port, &["CLIENT", "LIST"])?;
    let mut killed = 0;
    for line in list.lines() {
        let field = |key: &str| line.split(' ').find_map(|kv| kv.strip_prefix(key));
        if field("name=") == Some(name)
            && let Some(id) = field("id=")
            && command(port, &["CLIENT", "KILL", "ID", id])?.starts_with(':')
        {
            killed += 1;
        }
    }
    Ok(killed)
}
