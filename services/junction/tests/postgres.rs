//! The production shape on Postgres: `junction migrate`, then `junction admin` and
//! `junction router` as separate processes on one fresh database.
//!
//! `JUNCTION_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`) names a
//! server and a database to connect to for `CREATE DATABASE` / `DROP DATABASE`, as in the
//! admin API's tests.

mod common;

use common::{Junction, Wamp, command, create_realm, http, run, signup};
use serde_json::{Value, json};
use sqlx::Connection;

/// A fresh database, dropped on drop.
struct Database {
    admin_url: String,
    name: String,
    url: String,
}

impl Database {
    async fn create() -> Database {
        let admin_url = std::env::var("JUNCTION_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("junction_bin_{}_{}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("Postgres is required for these tests: cannot connect to {admin_url}: {e}"));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).execute(&mut conn).await.expect("create database");
        let base = admin_url.split('?').next().unwrap_or(&admin_url);
        let url = format!("{}/{name}", &base[..base.rfind('/').expect("a database URL with a path")]);
        Database { admin_url, name, url }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_then_admin_and_router_on_one_postgres_database() {
    let db = Database::create().await;

    // Migrations apply, and applying them again is a no-op.
    for round in 0..2 {
        let (status, stdout, stderr) = run(command(&["migrate", "--database-url", &db.url]));
        assert!(status.success(), "round {round}: {stderr}");
        assert!(stdout.contains("junction: control store migrated"), "{stdout}");
    }

    // The admin API and the dashboard alone: no router, no session directory.
    let mut admin = Junction::start(command(&["admin", "--database-url", &db.url]), &["admin"]);
    assert!(admin.router.is_none());
    let client = http();
    for path in ["/healthz", "/readyz"] {
        assert_eq!(client.get(admin.admin_url(path)).send().await.unwrap().status(), 200, "{path}");
    }
    let config: Value = client.get(admin.admin_url("/v1/config")).send().await.unwrap().json().await.unwrap();
    assert_eq!(config["router_url"], Value::Null);
    let token = signup(&client, &admin, "pg@example.com").await;
    let realm_id = create_realm(&client, &admin, &token, json!({"uri": "com.example.pg", "allow_anonymous": true, "anonymous_role": "visitor"})).await;
    let realms: Value = client.get(admin.admin_url("/v1/realms")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(realms["items"][0]["uri"], "com.example.pg");
    let res = client.get(admin.admin_url(&format!("/v1/realms/{realm_id}/sessions"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 503, "no session directory in a lone admin process");

    // A router pod on the same store serves the realm created through the admin API.
    let mut router = Junction::start(command(&["router", "--database-url", &db.url]), &["router"]);
    let w = Wamp::join(router.router_url(), "com.example.pg").await;
    assert_eq!(w.welcome[2]["authrole"], "visitor");
    assert!(router.terminate().success());
    assert!(admin.terminate().success());
}
