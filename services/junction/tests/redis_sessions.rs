//! The production shape on Redis: `junction router` and `junction admin` as separate
//! processes on one store (a SQLite file) and one Redis (127.0.0.1:6379, a key prefix of the
//! test's own). The admin API's session directory lists the router pod's sessions, named after
//! that pod, and kills them.

mod common;

use std::time::{Duration, Instant};

use common::{Junction, TempDir, Wamp, command, create_realm, http, run, signup};
use junction_backplane_redis::testing::unique_prefix;
use serde_json::{Value, json};

const REDIS: &str = "redis://127.0.0.1:6379";
const DEADLINE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_lists_and_kills_sessions_of_a_router_pod() {
    let data = TempDir::new("redis-sessions");
    let db = format!("sqlite://{}", data.path().join("junction.db").display());
    let prefix = unique_prefix("bin-sessions");
    let (status, _, stderr) = run(command(&["migrate", "--database-url", &db]));
    assert!(status.success(), "{stderr}");

    let redis_args = ["--database-url", &db, "--redis-url", REDIS, "--redis-prefix", &prefix];
    let mut admin_cmd = command(&[&["admin"][..], &redis_args[..]].concat());
    admin_cmd.env("JUNCTION_POD_NAME", "admin-pod");
    let mut admin = Junction::start(admin_cmd, &["admin"]);
    assert!(admin.router.is_none(), "no listener for WAMP clients");
    let mut router_cmd = command(&[&["router"][..], &redis_args[..]].concat());
    router_cmd.env("JUNCTION_POD_NAME", "router-pod-1");
    let mut router = Junction::start(router_cmd, &["router"]);

    let client = http();
    let token = signup(&client, &admin, "redis@example.com").await;
    let realm_id = create_realm(&client, &admin, &token, json!({"uri": "com.example.redis", "allow_anonymous": true})).await;
    let sessions_url = admin.admin_url(&format!("/v1/realms/{realm_id}/sessions"));

    // Before anyone joined: the directory answers, with nobody.
    let res = client.get(&sessions_url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 200, "a session directory on Redis");
    assert_eq!(res.json::<Value>().await.unwrap()["total"], 0);

    let mut member = Wamp::join(router.router_url(), "com.example.redis").await;
    let deadline = Instant::now() + DEADLINE;
    let listed = loop {
        let sessions: Value = client.get(&sessions_url).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        if sessions["total"] == 1 {
            break sessions["items"][0].clone();
        }
        assert!(Instant::now() < deadline, "the admin API never listed the router pod's session: {sessions}");
        tokio::task::yield_now().await;
    };
    assert_eq!(listed["session_id"], json!(member.session));
    assert_eq!((listed["authmethod"].as_str(), listed["pod"].as_str()), (Some("anonymous"), Some("router-pod-1")), "{listed}");
    let joined = listed["joined_at"].as_str().unwrap();
    assert!(joined.ends_with('Z') && joined.contains('T'), "{joined}");
    // The realm's figures are realm-wide too, though the admin's router has no session: the
    // router pod's WELCOME reaches the totals within its counters interval.
    let deadline = Instant::now() + DEADLINE;
    let stats = loop {
        let stats: Value = client.get(admin.admin_url(&format!("/v1/realms/{realm_id}/stats"))).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
        if stats["messages_out"].as_u64() >= Some(1) {
            break stats;
        }
        assert!(Instant::now() < deadline, "the router pod's counts never reached the admin API: {stats}");
        tokio::task::yield_now().await;
    };
    assert_eq!(stats["sessions"], 1, "{stats}");

    // The kill answers once the router pod closed the session and it left the realm.
    let kill = tokio::spawn(client.delete(format!("{sessions_url}/{}", member.session)).bearer_auth(&token).send());
    let goodbye = member.recv().await;
    assert_eq!((goodbye[0].as_u64(), goodbye[2].as_str()), (Some(6), Some("wamp.close.killed")), "{goodbye}");
    member.send(json!([6, {}, "wamp.close.goodbye_and_out"])).await;
    assert_eq!(kill.await.unwrap().unwrap().status(), 204);
    let sessions: Value = client.get(&sessions_url).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(sessions["total"], 0, "the killed session left the realm: {sessions}");
    let res = client.delete(format!("{sessions_url}/{}", member.session)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 404, "no such session any more");

    assert!(router.terminate().success());
    assert!(admin.terminate().success());
}
