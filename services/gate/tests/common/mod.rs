//! Test harness: the admin API and a router over one store (a fresh Postgres database per
//! test, dropped afterwards, or a SQLite file in a temp directory), the router's seams from
//! a [`Gate`], both on 127.0.0.1:0; an HTTP helper that provisions as a user would; and a raw
//! WAMP-over-WebSocket (JSON) client.
//!
//! Postgres: `JUNCTION_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`),
//! the same as the admin API tests.
#![allow(dead_code)]

mod pause;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use junction_admin::{AdminConfig, App};
use junction_changefeed::{ChangeFeed, InProcessFeed};
use junction_gate::{Gate, GateConfig};
use junction_protocol::{Dict, Id, Message, Payload, Serializer, Value, decode, dict, encode};
use junction_router::{Router, RouterConfig};
use junction_store::{Secret, Store};
use serde_json::{Value as Json, json};
use sqlx::Connection;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

#[allow(unused_imports)]
pub use pause::{PauseAt, Paused, Pauses};

/// Failure guard for every wait.
pub const GUARD: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// `both! { async fn name(env) { ... } }`: a `pg` and a `sqlite` test per body. A body that
/// needs a custom [`GateConfig`] starts with `config = EXPR;` before it.
macro_rules! both {
    ($(async fn $name:ident($env:ident) $(with $config:expr;)? $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                async fn run($env: crate::common::Env) $body
                #[allow(unused_mut, unused_assignments)]
                fn config() -> junction_gate::GateConfig {
                    let mut c = crate::common::test_gate_config();
                    $( c = $config; )?
                    c
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn pg() {
                    run(crate::common::spawn(crate::common::Backend::Postgres, config()).await).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    run(crate::common::spawn(crate::common::Backend::Sqlite, config()).await).await
                }
            }
        )*
    };
}
pub(crate) use both;

/// Generous limits: tests log in a lot from one address.
pub fn test_gate_config() -> GateConfig {
    use junction_auth::limiter::{LimiterConfig, Rate};
    GateConfig {
        limiter: LimiterConfig { per_authid: Rate::per_minute(1000, 1000), per_ip: Rate { burst: 10_000, per_second: 1000.0 }, max_entries: 1000 },
        dynamic_timeout: Duration::from_secs(3),
        ..GateConfig::default()
    }
}

pub struct Env {
    pub admin: String,
    pub http: reqwest::Client,
    pub ws: String,
    pub router: Router,
    pub gate: Gate,
    pub store: Store,
    /// What the gate follows.
    pub feed: Arc<InProcessFeed>,
    /// Where the admin API announces changes: `feed` itself, except with [`spawn_split`].
    pub admin_feed: Arc<InProcessFeed>,
    /// Pause points between authentication and join (see the `pause` module).
    pub pauses: Arc<Pauses>,
    _db: DbGuard,
}

enum DbGuard {
    Postgres { admin_url: String, name: String },
    Sqlite(std::path::PathBuf),
}

impl Drop for DbGuard {
    fn drop(&mut self) {
        match self {
            DbGuard::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                let _ = std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
                    rt.block_on(async {
                        if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")))
                                .execute(&mut conn)
                                .await;
                        }
                    });
                })
                .join();
            }
            DbGuard::Sqlite(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}_{}", junction_store::secrets::random_alnum(16).to_lowercase())
}

pub fn admin_config() -> AdminConfig {
    AdminConfig {
        jwt_secret: Some(Secret::new("test-jwt-secret-test-jwt-secret!")),
        cookie_secure: false,
        argon2_memory_kib: 8,
        argon2_iterations: 1,
        ..AdminConfig::default()
    }
}

pub async fn spawn(backend: Backend, config: GateConfig) -> Env {
    spawn_with(backend, config, false).await
}

/// [`spawn`], but the admin API announces its changes on a feed of its own that the gate does
/// not follow (`Env::admin_feed`): the router misses every change until the test injects one
/// (or `Received::Lagged`) on `Env::feed`.
pub async fn spawn_split(backend: Backend, config: GateConfig) -> Env {
    spawn_with(backend, config, true).await
}

async fn spawn_with(backend: Backend, config: GateConfig, split: bool) -> Env {
    let (url, guard) = match backend {
        Backend::Postgres => {
            let admin_url = std::env::var("JUNCTION_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let name = unique("junction_gate");
            let mut conn = sqlx::PgConnection::connect(&admin_url)
                .await
                .unwrap_or_else(|e| panic!("Postgres is required for the pg tests: cannot connect to {admin_url}: {e}"));
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).execute(&mut conn).await.expect("create database");
            let base = admin_url.split('?').next().unwrap_or(&admin_url);
            let base = &base[..base.rfind('/').expect("database URL with a path")];
            (format!("{base}/{name}"), DbGuard::Postgres { admin_url, name })
        }
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(unique("junction_gate"));
            std::fs::create_dir_all(&dir).expect("temp dir");
            (format!("sqlite://{}?mode=rwc", dir.join("store.db").display()), DbGuard::Sqlite(dir))
        }
    };
    let store = Store::connect(&url).await.expect("connect store");
    store.migrate().await.expect("migrate");
    let feed = Arc::new(InProcessFeed::new());
    let admin_feed = if split { Arc::new(InProcessFeed::new()) } else { feed.clone() };

    let app = App::build(admin_config(), store.clone(), admin_feed.clone() as Arc<dyn ChangeFeed>, None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind admin");
    let addr = listener.local_addr().unwrap();
    let routes = app.router();
    tokio::spawn(async move {
        axum::serve(listener, routes.into_make_service_with_connect_info::<SocketAddr>()).await.expect("serve admin");
    });

    let gate = Gate::new(store.clone(), feed.clone() as Arc<dyn ChangeFeed>, config);
    let pauses = Arc::new(Pauses::default());
    let router = Router::builder()
        .config(RouterConfig::default())
        .realm_provider(gate.realm_provider())
        .authenticator(Arc::new(pause::Pausing { inner: gate.authenticator(), pauses: pauses.clone() }))
        .authorizer(gate.authorizer())
        .build();
    gate.follow_changes(router.clone());
    let server = router.bind(Some("127.0.0.1:0".parse().unwrap())).await.expect("bind router");
    let ws = server.ws_url();
    tokio::spawn(server.run());

    Env {
        admin: format!("http://{addr}"),
        http: reqwest::Client::new(),
        ws,
        router,
        gate,
        store,
        feed,
        admin_feed,
        pauses,
        _db: guard,
    }
}

/// A tenant's owner, logged in to the admin API.
#[derive(Clone, Debug)]
pub struct Owner {
    pub token: String,
}

impl Env {
    pub async fn call(&self, method: reqwest::Method, path: &str, token: Option<&str>, body: Option<Json>) -> (u16, Json) {
        let mut req = self.http.request(method, format!("{}{path}", self.admin));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("admin request");
        let status = res.status().as_u16();
        let body = res.json::<Json>().await.unwrap_or(Json::Null);
        (status, body)
    }

    pub async fn post(&self, owner: &Owner, path: &str, body: Json) -> Json {
        let (status, body) = self.call(reqwest::Method::POST, path, Some(&owner.token), Some(body)).await;
        assert!((200..300).contains(&status), "POST {path}: {status} {body:#}");
        body
    }

    pub async fn patch(&self, owner: &Owner, path: &str, body: Json) -> Json {
        let (status, body) = self.call(reqwest::Method::PATCH, path, Some(&owner.token), Some(body)).await;
        assert!((200..300).contains(&status), "PATCH {path}: {status} {body:#}");
        body
    }

    pub async fn delete(&self, owner: &Owner, path: &str) {
        let (status, body) = self.call(reqwest::Method::DELETE, path, Some(&owner.token), None).await;
        assert!((200..300).contains(&status), "DELETE {path}: {status} {body:#}");
    }

    pub async fn signup(&self, email: &str, tenant: &str) -> Owner {
        let (status, body) = self
            .call(reqwest::Method::POST, "/v1/signup", None, Some(json!({"email": email, "password": "correct horse battery", "tenant_name": tenant})))
            .await;
        assert_eq!(status, 201, "{body:#}");
        Owner { token: body["access_token"].as_str().unwrap().to_owned() }
    }

    /// Creates a realm; returns its id.
    pub async fn realm(&self, owner: &Owner, body: Json) -> String {
        id(&self.post(owner, "/v1/realms", body).await)
    }

    pub async fn role(&self, owner: &Owner, realm: &str, name: &str) -> String {
        id(&self.post(owner, &format!("/v1/realms/{realm}/roles"), json!({"name": name})).await)
    }

    /// Adds a rule; `allow` / `disclose` as the API takes them. Returns the rule id.
    #[allow(clippy::too_many_arguments)]
    pub async fn rule(&self, owner: &Owner, realm: &str, role: &str, uri: &str, policy: &str, allow: Json, disclose: Json) -> String {
        let body = json!({"uri": uri, "match": policy, "allow": allow, "disclose": disclose});
        id(&self.post(owner, &format!("/v1/realms/{realm}/roles/{role}/rules"), body).await)
    }

    /// Issues a credential; returns (credential id, secret if any, whole answer).
    pub async fn credential(&self, owner: &Owner, realm: &str, body: Json) -> (String, Option<String>, Json) {
        let res = self.post(owner, &format!("/v1/realms/{realm}/credentials"), body).await;
        (res["credential"]["id"].as_str().unwrap().to_owned(), res["secret"].as_str().map(str::to_owned), res)
    }

    pub async fn revoke(&self, owner: &Owner, realm: &str, credential: &str) {
        self.post(owner, &format!("/v1/realms/{realm}/credentials/{credential}/revoke"), json!({})).await;
    }

    pub async fn client(&self) -> Client {
        Client::connect(&self.ws).await
    }
}

pub fn id(body: &Json) -> String {
    body["id"].as_str().unwrap_or_else(|| panic!("no id in {body:#}")).to_owned()
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next: Id,
}

/// How a join ended.
#[derive(Debug)]
pub enum Joined {
    Welcome { session: Id, details: Dict },
    Abort { reason: String, message: String },
}

impl Joined {
    #[track_caller]
    pub fn welcome(self) -> (Id, Dict) {
        match self {
            Joined::Welcome { session, details } => (session, details),
            other => panic!("expected WELCOME, got {other:?}"),
        }
    }

    #[track_caller]
    pub fn abort(self) -> (String, String) {
        match self {
            Joined::Abort { reason, message } => (reason, message),
            other => panic!("expected ABORT, got {other:?}"),
        }
    }
}

pub fn hello_details(authmethods: &[&str], authid: Option<&str>, authextra: Dict) -> Dict {
    let roles = Value::dict([
        ("publisher", Value::dict([("features", Value::dict([("publisher_exclusion", true)]))])),
        ("subscriber", Value::Dict(Dict::new())),
        ("caller", Value::Dict(Dict::new())),
        ("callee", Value::dict([("features", Value::dict([("call_canceling", true)]))])),
    ]);
    let mut d = dict([("roles", roles)]);
    if !authmethods.is_empty() {
        d.insert("authmethods".into(), Value::List(authmethods.iter().map(|m| Value::from(*m)).collect()));
    }
    if let Some(a) = authid {
        d.insert("authid".into(), a.into());
    }
    if !authextra.is_empty() {
        d.insert("authextra".into(), Value::Dict(authextra));
    }
    d
}

impl Client {
    pub async fn connect(url: &str) -> Client {
        let mut req = url.into_client_request().unwrap();
        req.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("wamp.2.json"));
        let (ws, _) = tokio::time::timeout(GUARD, tokio_tungstenite::connect_async(req)).await.expect("connect in time").expect("connect");
        Client { ws, next: 0 }
    }

    pub async fn send(&mut self, msg: &Message) {
        let frame = encode(msg, Serializer::Json);
        let text = String::from_utf8(frame.to_vec()).unwrap();
        self.ws.send(WsMessage::Text(text.into())).await.expect("send");
    }

    /// Next WAMP message; `None` when the connection closed.
    pub async fn recv(&mut self) -> Option<Message> {
        self.recv_within(GUARD).await.expect("message in time")
    }

    /// `Err(())` on timeout.
    #[allow(clippy::result_unit_err)]
    pub async fn recv_within(&mut self, wait: Duration) -> Result<Option<Message>, ()> {
        loop {
            let item = tokio::time::timeout(wait, self.ws.next()).await.map_err(|_| ())?;
            return Ok(match item {
                Some(Ok(WsMessage::Text(t))) => Some(decode(t.as_bytes(), Serializer::Json).expect("valid message")),
                Some(Ok(WsMessage::Binary(b))) => Some(decode(&b, Serializer::Json).expect("valid message")),
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => None,
                Some(Ok(_)) => continue,
            });
        }
    }

    pub async fn hello(&mut self, realm: &str, details: Dict) {
        self.send(&Message::Hello { realm: realm.into(), details }).await;
    }

    /// Wait for WELCOME or ABORT (after a HELLO or an AUTHENTICATE).
    pub async fn joined(&mut self) -> Joined {
        match self.recv().await {
            Some(Message::Welcome { session, details }) => Joined::Welcome { session, details },
            Some(Message::Abort { reason, details }) => {
                Joined::Abort { reason, message: details.get("message").and_then(Value::as_str).unwrap_or_default().to_owned() }
            }
            other => panic!("expected WELCOME or ABORT, got {other:?}"),
        }
    }

    /// Wait for a CHALLENGE: (authmethod, extra).
    pub async fn challenge(&mut self) -> (String, Dict) {
        match self.recv().await {
            Some(Message::Challenge { authmethod, extra }) => (authmethod, extra),
            other => panic!("expected CHALLENGE, got {other:?}"),
        }
    }

    pub async fn authenticate(&mut self, signature: &str) {
        self.send(&Message::Authenticate { signature: signature.into(), extra: Dict::new() }).await;
    }

    /// HELLO with a ticket (or a JWT as ticket) and answer the challenge.
    pub async fn join_ticket(url: &str, realm: &str, method: &str, authid: Option<&str>, ticket: &str) -> (Client, Joined) {
        let mut c = Client::connect(url).await;
        c.hello(realm, hello_details(&[method], authid, Dict::new())).await;
        match c.recv().await {
            Some(Message::Challenge { authmethod, .. }) => {
                assert_eq!(authmethod, method);
                c.authenticate(ticket).await;
                let j = c.joined().await;
                (c, j)
            }
            Some(Message::Abort { reason, details }) => {
                let message = details.get("message").and_then(Value::as_str).unwrap_or_default().to_owned();
                (c, Joined::Abort { reason, message })
            }
            other => panic!("expected CHALLENGE or ABORT, got {other:?}"),
        }
    }

    pub async fn join_anonymous(url: &str, realm: &str) -> (Client, Joined) {
        let mut c = Client::connect(url).await;
        c.hello(realm, hello_details(&[], None, Dict::new())).await;
        let j = c.joined().await;
        (c, j)
    }

    fn request_id(&mut self) -> Id {
        self.next += 1;
        self.next
    }

    /// Send a request and wait for its answer, skipping EVENTs and INVOCATIONs.
    pub async fn request(&mut self, msg: &Message) -> Message {
        self.send(msg).await;
        loop {
            match self.recv().await {
                Some(Message::Event { .. }) | Some(Message::Invocation { .. }) => continue,
                Some(m) => return m,
                None => panic!("connection closed while waiting for a reply"),
            }
        }
    }

    /// `Ok(subscription)` or `Err(error uri)`.
    pub async fn subscribe(&mut self, topic: &str) -> Result<Id, String> {
        let request = self.request_id();
        match self.request(&Message::Subscribe { request, options: Dict::new(), topic: topic.into() }).await {
            Message::Subscribed { subscription, .. } => Ok(subscription),
            Message::Error { error, .. } => Err(error),
            other => panic!("unexpected {other:?}"),
        }
    }

    pub async fn register(&mut self, procedure: &str) -> Result<Id, String> {
        let request = self.request_id();
        match self.request(&Message::Register { request, options: Dict::new(), procedure: procedure.into() }).await {
            Message::Registered { registration, .. } => Ok(registration),
            Message::Error { error, .. } => Err(error),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Acknowledged publish: `Ok(publication)` or `Err(error uri)`.
    pub async fn publish(&mut self, topic: &str, args: Vec<Value>) -> Result<Id, String> {
        let request = self.request_id();
        let options = dict([("acknowledge", true)]);
        match self.request(&Message::Publish { request, options, topic: topic.into(), payload: Payload::args(args) }).await {
            Message::Published { publication, .. } => Ok(publication),
            Message::Error { error, .. } => Err(error),
            other => panic!("unexpected {other:?}"),
        }
    }

    pub async fn call(&mut self, procedure: &str, args: Vec<Value>) -> Result<Payload, String> {
        let request = self.request_id();
        match self.request(&Message::Call { request, options: Dict::new(), procedure: procedure.into(), payload: Payload::args(args) }).await {
            Message::Result { payload, .. } => Ok(payload),
            Message::Error { error, .. } => Err(error),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Next EVENT: (details, payload).
    pub async fn event(&mut self) -> (Dict, Payload) {
        loop {
            match self.recv().await {
                Some(Message::Event { details, payload, .. }) => return (details, payload),
                Some(_) => continue,
                None => panic!("closed while waiting for an event"),
            }
        }
    }

    /// Serve INVOCATIONs with `f(args, details) -> result args` until the connection closes.
    pub fn serve(mut self, f: impl Fn(&[Value], &Dict) -> Result<Vec<Value>, String> + Send + 'static) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            while let Ok(Some(msg)) = self.recv_within(Duration::from_secs(3600)).await {
                if let Message::Invocation { request, details, payload, .. } = msg {
                    let args = payload.args.unwrap_or_default();
                    let reply = match f(&args, &details) {
                        Ok(result) => Message::Yield { request, options: Dict::new(), payload: Payload::args(result) },
                        Err(error) => Message::Error {
                            request_type: junction_protocol::MessageType::Invocation,
                            request,
                            details: Dict::new(),
                            error,
                            payload: Payload::default(),
                        },
                    };
                    self.send(&reply).await;
                }
            }
        })
    }

    /// Expect the router to end the session with GOODBYE(reason), then answer it.
    pub async fn expect_goodbye(&mut self, reason: &str) {
        loop {
            match self.recv().await {
                Some(Message::Goodbye { reason: r, .. }) => {
                    assert_eq!(r, reason);
                    self.send(&Message::Goodbye { details: Dict::new(), reason: "wamp.close.goodbye_and_out".into() }).await;
                    return;
                }
                Some(_) => continue,
                None => panic!("closed without GOODBYE {reason}"),
            }
        }
    }
}
