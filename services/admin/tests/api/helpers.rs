//! The test harness: `spawn_app(backend)` starts the admin API on 127.0.0.1:0 over a fresh
//! database (a new Postgres database per test, dropped afterwards; or a SQLite file in a temp
//! directory), and typed helpers drive it through real HTTP.
//!
//! Postgres: `JUNCTION_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`)
//! names the server and a database to connect to for `CREATE DATABASE` / `DROP DATABASE`.
//! Set `TEST_LOG=1` to see the server's logs.

use std::net::SocketAddr;
use std::sync::{Arc, Once};

use junction_admin::{AdminConfig, App, SessionDirectory};
use junction_changefeed::{ChangeFeed, InProcessFeed};
use junction_store::{Secret, Store};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection;

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Generates `pg` and `sqlite` variants of a test: `both!(async fn name(app) { ... });`
macro_rules! both {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                async fn run($app: crate::helpers::TestApp) $body
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn pg() {
                    let app = crate::helpers::spawn_app(crate::helpers::Backend::Postgres).await;
                    run(app).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let app = crate::helpers::spawn_app(crate::helpers::Backend::Sqlite).await;
                    run(app).await
                }
            }
        )*
    };
}
pub(crate) use both;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Store,
    pub feed: Arc<InProcessFeed>,
    _db: DbGuard,
}

/// Drops the test's Postgres database, or removes the SQLite directory, when the test ends
/// (passing or failing).
enum DbGuard {
    Postgres { admin_url: String, name: String },
    Sqlite(#[allow(dead_code)] TempDir),
}

impl Drop for DbGuard {
    fn drop(&mut self) {
        if let DbGuard::Postgres { admin_url, name } = self {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop is synchronous: do the async clean-up on a thread with its own runtime.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(rt) = rt {
                    rt.block_on(async {
                        if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            )))
                            .execute(&mut conn)
                            .await;
                        }
                    });
                }
            })
            .join();
        }
    }
}

/// A directory removed on drop.
pub struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", junction_store::secrets::random_alnum(16))
}

pub fn test_config() -> AdminConfig {
    AdminConfig {
        jwt_secret: Some(Secret::new("test-jwt-secret-test-jwt-secret!")),
        cookie_secure: false,
        login_attempts_per_minute: 5,
        // The cheapest argon2: tests hash a lot, in debug builds.
        argon2_memory_kib: 8,
        argon2_iterations: 1,
        ..AdminConfig::default()
    }
}

static TRACING: Once = Once::new();

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, test_config()).await
}

pub async fn spawn_app_with(backend: Backend, config: AdminConfig) -> TestApp {
    spawn_app_full(backend, config, None).await
}

/// The app with a session directory (the router's seam; tests give a fake).
pub async fn spawn_app_full(
    backend: Backend,
    config: AdminConfig,
    directory: Option<Arc<dyn SessionDirectory>>,
) -> TestApp {
    TRACING.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter("info")
                .with_test_writer()
                .try_init();
        }
    });
    let (url, guard) =
        match backend {
            Backend::Postgres => {
                let admin_url = std::env::var("JUNCTION_TEST_PG_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
                let name = unique_name("junction_test");
                let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
                panic!("Postgres is required for the _pg tests: cannot connect to {admin_url}: {e}")
            });
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let base = admin_url.split('?').next().unwrap_or(&admin_url);
                let base = &base[..base.rfind('/').expect("database URL with a path")];
                (
                    format!("{base}/{name}"),
                    DbGuard::Postgres { admin_url, name },
                )
            }
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(unique_name("junction_test"));
                std::fs::create_dir_all(&dir).expect("temp dir");
                let url = format!("sqlite://{}?mode=rwc", dir.join("store.db").display());
                (url, DbGuard::Sqlite(TempDir(dir)))
            }
        };
    let store = Store::connect(&url).await.expect("connect store");
    store.migrate().await.expect("migrate");
    let feed = Arc::new(InProcessFeed::new());
    let app = App::build(
        config,
        store.clone(),
        feed.clone() as Arc<dyn ChangeFeed>,
        directory,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = app.router();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("serve");
    });
    TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        store,
        feed,
        _db: guard,
    }
}

/// A logged-in user.
#[derive(Clone, Debug)]
pub struct Session {
    pub token: String,
    pub refresh: String,
    pub tenant_id: String,
    pub user_id: String,
}

/// A response read whole.
#[derive(Debug)]
pub struct Res {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Res {
    /// Asserts the status, printing the body when it differs.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {:#}",
            self.body
        );
        &self.body
    }

    /// Asserts a problem+json answer with this status and problem type (last URI segment).
    #[track_caller]
    pub fn expect_problem(&self, status: u16, slug: &str) -> &Value {
        self.expect(status);
        let ct = self
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(
            ct.starts_with("application/problem+json"),
            "content-type {ct:?}; body {:#}",
            self.body
        );
        assert_eq!(
            self.body["type"],
            format!("https://junction.dev/problems/{slug}"),
            "body {:#}",
            self.body
        );
        assert_eq!(self.body["status"], status);
        &self.body
    }

    /// The field names of a validation or conflict problem.
    pub fn fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl TestApp {
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Res {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        read(res).await
    }

    pub async fn raw(&self, req: reqwest::RequestBuilder) -> Res {
        read(req.send().await.expect("request")).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str, token: &str) -> Res {
        self.request(Method::GET, path, Some(token), None).await
    }
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Res {
        self.request(Method::POST, path, Some(token), Some(body))
            .await
    }
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Res {
        self.request(Method::PATCH, path, Some(token), Some(body))
            .await
    }
    pub async fn delete(&self, path: &str, token: &str) -> Res {
        self.request(Method::DELETE, path, Some(token), None).await
    }

    /// Signs up a tenant; returns its owner's session.
    pub async fn signup(&self, email: &str, tenant: &str) -> Session {
        let res = self
            .request(
                Method::POST,
                "/v1/signup",
                None,
                Some(json!({"email": email, "password": "correct horse battery", "tenant_name": tenant})),
            )
            .await;
        session_of(res.expect(201))
    }

    pub async fn login(&self, email: &str, password: &str) -> Res {
        self.request(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await
    }

    pub async fn create_realm(&self, token: &str, uri: &str) -> String {
        let res = self.post("/v1/realms", token, json!({"uri": uri})).await;
        id(res.expect(201))
    }

    pub async fn create_role(&self, token: &str, realm: &str, name: &str) -> String {
        let res = self
            .post(
                &format!("/v1/realms/{realm}/roles"),
                token,
                json!({"name": name}),
            )
            .await;
        id(res.expect(201))
    }

    pub async fn create_rule(
        &self,
        token: &str,
        realm: &str,
        role: &str,
        uri: &str,
        policy: &str,
    ) -> String {
        let res = self
            .post(
                &format!("/v1/realms/{realm}/roles/{role}/rules"),
                token,
                json!({"uri": uri, "match": policy, "allow": {"call": true, "subscribe": true}}),
            )
            .await;
        id(res.expect(201))
    }

    /// Creates an API key with these scopes; returns (key id, whole key).
    pub async fn create_api_key(&self, token: &str, scopes: &[&str]) -> (String, String) {
        let res = self
            .post(
                "/v1/api-keys",
                token,
                json!({"name": "ci", "scopes": scopes}),
            )
            .await;
        let body = res.expect(201);
        (
            body["api_key"]["id"].as_str().unwrap().to_string(),
            body["key"].as_str().unwrap().to_string(),
        )
    }
}

pub fn id(body: &Value) -> String {
    body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {body:#}"))
        .to_string()
}

pub fn session_of(body: &Value) -> Session {
    Session {
        token: body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string(),
        refresh: body["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_string(),
        tenant_id: body["tenant"]["id"]
            .as_str()
            .expect("tenant.id")
            .to_string(),
        user_id: body["user"]["id"].as_str().expect("user.id").to_string(),
    }
}

async fn read(res: reqwest::Response) -> Res {
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Res {
        status,
        headers,
        body,
    }
}
