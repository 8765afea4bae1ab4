//! Live sessions through the `SessionDirectory` seam (a fake in-memory directory here: the
//! real one is the router's), and the public `GET /v1/config`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use junction_admin::{DirectoryError, KillOutcome, RealmStats, SessionDirectory, SessionInfo};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// Sessions per realm URI, in memory; records every call.
#[derive(Default)]
pub struct FakeDirectory {
    state: Mutex<FakeState>,
}

#[derive(Default)]
struct FakeState {
    sessions: HashMap<String, Vec<SessionInfo>>,
    counters: HashMap<String, (u64, u64)>,
    /// (method, realm URI) of every call.
    calls: Vec<(&'static str, String)>,
    /// (realm URI, session id, reason) of every successful kill.
    kills: Vec<(String, u64, String)>,
    /// Sessions whose pod does not confirm a kill (they stay listed).
    unconfirmed: Vec<u64>,
    unavailable: bool,
}

impl FakeDirectory {
    fn add(&self, realm: &str, session_id: u64, authid: &str, joined_at: &str) {
        let mut s = self.state.lock().unwrap();
        s.sessions
            .entry(realm.to_string())
            .or_default()
            .push(SessionInfo {
                session_id,
                authid: authid.into(),
                authrole: "backend".into(),
                authmethod: "ticket".into(),
                pod: "router-0".into(),
                joined_at: joined_at.into(),
            });
    }
    fn count(&self, realm: &str, messages_in: u64, messages_out: u64) {
        self.state
            .lock()
            .unwrap()
            .counters
            .insert(realm.to_string(), (messages_in, messages_out));
    }
    fn calls_about(&self, realm: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|(_, r)| r == realm)
            .count()
    }
    fn kills(&self) -> Vec<(String, u64, String)> {
        self.state.lock().unwrap().kills.clone()
    }
    fn live(&self, realm: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .sessions
            .get(realm)
            .map_or(0, Vec::len)
    }
    fn never_confirm(&self, session_id: u64) {
        self.state.lock().unwrap().unconfirmed.push(session_id);
    }
    fn set_unavailable(&self, down: bool) {
        self.state.lock().unwrap().unavailable = down;
    }
    fn enter(
        &self,
        call: &'static str,
        realm: &str,
    ) -> Result<std::sync::MutexGuard<'_, FakeState>, DirectoryError> {
        let mut s = self.state.lock().unwrap();
        s.calls.push((call, realm.to_string()));
        if s.unavailable {
            return Err(DirectoryError::Unavailable(
                "backplane down (pod router-3 at 10.0.0.3)".into(),
            ));
        }
        Ok(s)
    }
}

#[async_trait::async_trait]
impl SessionDirectory for FakeDirectory {
    async fn list(&self, realm_uri: &str) -> Result<Vec<SessionInfo>, DirectoryError> {
        let s = self.enter("list", realm_uri)?;
        Ok(s.sessions.get(realm_uri).cloned().unwrap_or_default())
    }
    async fn kill(
        &self,
        realm_uri: &str,
        session_id: u64,
        reason: &str,
    ) -> Result<KillOutcome, DirectoryError> {
        let mut s = self.enter("kill", realm_uri)?;
        let unconfirmed = s.unconfirmed.contains(&session_id);
        let Some(list) = s.sessions.get_mut(realm_uri) else {
            return Ok(KillOutcome::NotFound);
        };
        let Some(i) = list.iter().position(|x| x.session_id == session_id) else {
            return Ok(KillOutcome::NotFound);
        };
        if !unconfirmed {
            list.remove(i);
        }
        s.kills
            .push((realm_uri.to_string(), session_id, reason.to_string()));
        Ok(if unconfirmed { KillOutcome::Requested } else { KillOutcome::Closed })
    }
    async fn stats(&self, realm_uri: &str) -> Result<RealmStats, DirectoryError> {
        let s = self.enter("stats", realm_uri)?;
        let (messages_in, messages_out) = s.counters.get(realm_uri).copied().unwrap_or_default();
        Ok(RealmStats {
            sessions: s.sessions.get(realm_uri).map_or(0, Vec::len) as u64,
            messages_in,
            messages_out,
        })
    }
}

async fn spawn_with_fake(backend: Backend) -> (TestApp, Arc<FakeDirectory>) {
    let fake = Arc::new(FakeDirectory::default());
    let app = spawn_app_full(
        backend,
        test_config(),
        Some(fake.clone() as Arc<dyn SessionDirectory>),
    )
    .await;
    (app, fake)
}

/// Generates `pg` and `sqlite` variants of a test that gets a fake directory.
macro_rules! with_fake {
    ($(async fn $name:ident($app:ident, $fake:ident) $body:block)*) => {
        $(
            mod $name {
                use super::*;
                async fn run($app: TestApp, $fake: Arc<FakeDirectory>) $body
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn pg() {
                    let (app, fake) = spawn_with_fake(Backend::Postgres).await;
                    run(app, fake).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    let (app, fake) = spawn_with_fake(Backend::Sqlite).await;
                    run(app, fake).await
                }
            }
        )*
    };
}

fn ids(body: &Value) -> Vec<u64> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_u64().unwrap())
        .collect()
}

with_fake! {
    async fn sessions_are_listed_killed_and_counted(app, fake) {
        let owner = app.signup("owner@live.test", "Live").await;
        let realm = app.create_realm(&owner.token, "com.live").await;
        fake.add("com.live", 30, "late", "2026-01-01T10:00:03.000Z");
        fake.add("com.live", 10, "early", "2026-01-01T10:00:01.000Z");
        fake.add("com.live", 20, "middle", "2026-01-01T10:00:02.000Z");
        fake.add("com.elsewhere", 99, "other", "2026-01-01T10:00:00.000Z");
        fake.count("com.live", 1200, 3400);
        let sessions = format!("/v1/realms/{realm}/sessions");

        // The whole list, oldest first, in this exact shape.
        let res = app.get(&sessions, &owner.token).await;
        let body = res.expect(200);
        assert_eq!(ids(body), [10, 20, 30]);
        assert_eq!((body["total"].as_u64(), body["truncated"].as_bool()), (Some(3), Some(false)));
        assert_eq!(body["items"][0], json!({"session_id": 10, "authid": "early", "authrole": "backend",
            "authmethod": "ticket", "pod": "router-0", "joined_at": "2026-01-01T10:00:01.000Z"}));
        // Bounded.
        let body = app.get(&format!("{sessions}?limit=2"), &owner.token).await.expect(200).clone();
        assert_eq!(ids(&body), [10, 20]);
        assert_eq!((body["total"].as_u64(), body["truncated"].as_bool()), (Some(3), Some(true)));
        for bad in ["limit=0", "limit=1001", "limit=x"] {
            let res = app.get(&format!("{sessions}?{bad}"), &owner.token).await;
            res.expect_problem(422, "validation");
            assert_eq!(res.fields(), ["limit"], "{bad}");
        }
        app.get(&format!("{sessions}?cursor=abc"), &owner.token).await.expect_problem(422, "validation");

        // Counters.
        let body = app.get(&format!("/v1/realms/{realm}/stats"), &owner.token).await.expect(200).clone();
        assert_eq!((body["sessions"].as_u64(), body["messages_in"].as_u64(), body["messages_out"].as_u64()), (Some(3), Some(1200), Some(3400)));
        assert!(body["at"].as_str().unwrap().ends_with('Z'), "{body}");

        // Kill: 204, the router is told, it is gone; then it is a 404.
        app.delete(&format!("{sessions}/20"), &owner.token).await.expect(204);
        assert_eq!(fake.kills(), [("com.live".to_string(), 20, "wamp.close.killed".to_string())]);
        assert_eq!(ids(app.get(&sessions, &owner.token).await.expect(200)), [10, 30]);
        app.delete(&format!("{sessions}/20"), &owner.token).await.expect_problem(404, "not-found");
        // Another realm's session, and ids that are not WAMP ids: no such session.
        app.delete(&format!("{sessions}/99"), &owner.token).await.expect_problem(404, "not-found");
        assert_eq!(fake.live("com.elsewhere"), 1);
        for bad in ["abc", "0", "-1", "9007199254740993"] {
            app.delete(&format!("{sessions}/{bad}"), &owner.token).await.expect_problem(404, "not-found");
        }
        // A close reason of one's own; it must be a URI.
        app.delete(&format!("{sessions}/30?reason=com.live.maintenance"), &owner.token).await.expect(204);
        assert_eq!(fake.kills()[1], ("com.live".to_string(), 30, "com.live.maintenance".to_string()));
        let res = app.delete(&format!("{sessions}/10?reason=not%20a%20uri"), &owner.token).await;
        res.expect_problem(422, "validation");
        assert_eq!(res.fields(), ["reason"]);
        assert_eq!(fake.live("com.live"), 1);
        // A pod that does not confirm the close in time: 202, recorded, still listed.
        fake.never_confirm(10);
        let pending = app.delete(&format!("{sessions}/10"), &owner.token).await.expect(202).clone();
        assert_eq!(pending, json!({"session_id": 10, "state": "closing"}));
        assert_eq!(fake.kills()[2], ("com.live".to_string(), 10, "wamp.close.killed".to_string()));
        assert_eq!(ids(app.get(&sessions, &owner.token).await.expect(200)), [10]);

        // Kills are in the audit log: who, which session, where, why.
        let log = app.get("/v1/audit-log?limit=200", &owner.token).await.expect(200).clone();
        let kills: Vec<&Value> = log["items"].as_array().unwrap().iter().filter(|e| e["action"] == "session.kill").collect();
        assert_eq!(kills.len(), 3, "{log:#}");
        assert_eq!(kills[2]["target_id"], "10", "an unconfirmed kill is recorded too");
        assert_eq!(kills[0]["target_kind"], "session");
        assert_eq!(kills[0]["target_id"], "20");
        assert_eq!(kills[0]["actor_label"], "owner@live.test");
        assert_eq!(kills[0]["after"], json!({"realm_id": realm, "realm_uri": "com.live", "session_id": 20, "reason": "wamp.close.killed"}));
        assert_eq!(kills[1]["after"]["reason"], "com.live.maintenance");
    }

    async fn viewers_list_admins_kill_and_api_keys_need_the_scope(app, fake) {
        let owner = app.signup("owner@roles.test", "Roles").await;
        let realm = app.create_realm(&owner.token, "com.roles").await;
        for id in 1..=4 {
            fake.add("com.roles", id, "a", "2026-01-01T00:00:00.000Z");
        }
        let sessions = format!("/v1/realms/{realm}/sessions");
        let stats = format!("/v1/realms/{realm}/stats");
        for (email, role) in [("viewer@roles.test", "viewer"), ("admin@roles.test", "admin")] {
            app.post("/v1/members", &owner.token, json!({"email": email, "password": "member password", "role": role})).await.expect(201);
        }
        let viewer = session_of(app.login("viewer@roles.test", "member password").await.expect(200));
        let admin = session_of(app.login("admin@roles.test", "member password").await.expect(200));

        app.get(&sessions, &viewer.token).await.expect(200);
        app.get(&stats, &viewer.token).await.expect(200);
        app.delete(&format!("{sessions}/1"), &viewer.token).await.expect_problem(403, "forbidden");
        app.delete(&format!("{sessions}/1"), &admin.token).await.expect(204);
        app.delete(&format!("{sessions}/2"), &owner.token).await.expect(204);

        let (_, realms_only) = app.create_api_key(&owner.token, &["realms:read", "realms:write"]).await;
        let (_, read) = app.create_api_key(&owner.token, &["sessions:read"]).await;
        let (_, write) = app.create_api_key(&owner.token, &["sessions:write"]).await;
        app.get(&sessions, &realms_only).await.expect_problem(403, "forbidden");
        app.get(&stats, &realms_only).await.expect_problem(403, "forbidden");
        app.delete(&format!("{sessions}/3"), &realms_only).await.expect_problem(403, "forbidden");
        app.get(&sessions, &read).await.expect(200);
        app.get(&stats, &read).await.expect(200);
        app.delete(&format!("{sessions}/3"), &read).await.expect_problem(403, "forbidden");
        app.get(&sessions, &write).await.expect_problem(403, "forbidden");
        app.delete(&format!("{sessions}/3"), &write).await.expect(204);
        assert_eq!(fake.kills().iter().map(|k| k.1).collect::<Vec<_>>(), [1, 2, 3]);
        let log = app.get("/v1/audit-log?limit=200", &owner.token).await.expect(200).clone();
        let actors: Vec<&str> = log["items"].as_array().unwrap().iter()
            .filter(|e| e["action"] == "session.kill").map(|e| e["actor_kind"].as_str().unwrap()).collect();
        assert_eq!(actors, ["user", "user", "api_key"]);
    }

    async fn another_tenants_sessions_do_not_exist(app, fake) {
        let a = app.signup("a@live-iso.test", "Live A").await;
        let b = app.signup("b@live-iso.test", "Live B").await;
        let realm_a = app.create_realm(&a.token, "com.iso.a").await;
        let realm_b = app.create_realm(&b.token, "com.iso.b").await;
        fake.add("com.iso.a", 1, "alice", "2026-01-01T00:00:00.000Z");
        fake.add("com.iso.b", 2, "bob", "2026-01-01T00:00:00.000Z");
        let (_, b_key) = app.create_api_key(&b.token, &["sessions:read", "sessions:write", "realms:read"]).await;

        for token in [&b.token, &b_key] {
            for (method, path) in [
                (Method::GET, format!("/v1/realms/{realm_a}/sessions")),
                (Method::GET, format!("/v1/realms/{realm_a}/stats")),
                (Method::DELETE, format!("/v1/realms/{realm_a}/sessions/1")),
                (Method::DELETE, format!("/v1/realms/{realm_a}/sessions/2")),
            ] {
                let res = app.request(method.clone(), &path, Some(token), None).await;
                res.expect_problem(404, "not-found");
            }
            // A's session id through B's own realm: B's realm has no such session.
            app.request(Method::DELETE, &format!("/v1/realms/{realm_b}/sessions/1"), Some(token), None).await
                .expect_problem(404, "not-found");
        }
        // The directory was never asked about A's realm, and A's session lives.
        assert_eq!(fake.calls_about("com.iso.a"), 0);
        assert_eq!(fake.live("com.iso.a"), 1);
        assert!(fake.kills().is_empty());
        // Each sees only its own.
        assert_eq!(ids(app.get(&format!("/v1/realms/{realm_a}/sessions"), &a.token).await.expect(200)), [1]);
        assert_eq!(ids(app.get(&format!("/v1/realms/{realm_b}/sessions"), &b_key).await.expect(200)), [2]);
        // And nothing of it reached A's audit log or B's.
        let log = app.get("/v1/audit-log?limit=200", &b.token).await.expect(200).to_string();
        assert!(!log.contains("session.kill") && !log.contains("com.iso.a"), "{log}");
    }

    async fn a_directory_that_cannot_answer_is_a_503(app, fake) {
        let owner = app.signup("owner@down.test", "Down").await;
        let realm = app.create_realm(&owner.token, "com.down").await;
        fake.add("com.down", 1, "a", "2026-01-01T00:00:00.000Z");
        fake.set_unavailable(true);
        for (method, path) in [
            (Method::GET, format!("/v1/realms/{realm}/sessions")),
            (Method::GET, format!("/v1/realms/{realm}/stats")),
            (Method::DELETE, format!("/v1/realms/{realm}/sessions/1")),
        ] {
            let res = app.request(method, &path, Some(&owner.token), None).await;
            let body = res.expect_problem(503, "unavailable");
            assert_eq!(body["detail"], "session directory unavailable");
            // The directory's own words stay in the log.
            assert!(!body.to_string().contains("10.0.0.3"), "{body}");
        }
        fake.set_unavailable(false);
        app.get(&format!("/v1/realms/{realm}/sessions"), &owner.token).await.expect(200);
    }
}

both! {
    async fn without_a_directory_the_session_endpoints_are_unavailable(app) {
        let owner = app.signup("owner@nodir.test", "No Directory").await;
        let realm = app.create_realm(&owner.token, "com.nodir").await;
        for (method, path) in [
            (Method::GET, format!("/v1/realms/{realm}/sessions")),
            (Method::GET, format!("/v1/realms/{realm}/stats")),
            (Method::DELETE, format!("/v1/realms/{realm}/sessions/1")),
        ] {
            let res = app.request(method.clone(), &path, Some(&owner.token), None).await;
            let body = res.expect_problem(503, "unavailable");
            assert_eq!(body["detail"], "session directory unavailable", "{method} {path}");
        }
        // A realm that is not the caller's is still a 404, directory or not.
        app.get("/v1/realms/rlm_nope/sessions", &owner.token).await.expect_problem(404, "not-found");
    }

    async fn the_public_config_needs_no_log_in(app) {
        let res = app.request(Method::GET, "/v1/config", None, None).await;
        let body = res.expect(200);
        assert_eq!(*body, json!({"router_url": null, "version": env!("CARGO_PKG_VERSION")}));
        let configured = spawn_app_with(Backend::Sqlite, junction_admin::AdminConfig {
            router_url: Some("wss://wamp.example.com/ws".into()),
            ..test_config()
        }).await;
        let res = configured.request(Method::GET, "/v1/config", None, None).await;
        assert_eq!(res.expect(200)["router_url"], "wss://wamp.example.com/ws");
    }
}
