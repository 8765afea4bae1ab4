//! `junction dev` as a person (and the dashboard's e2e runner) uses it: the real binary on
//! port 0 with a fresh data directory, through HTTP and WAMP.

mod common;

use std::path::Path;

use common::{Junction, TempDir, Wamp, command, create_realm, http, signup};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_runs_router_admin_api_and_dashboard_in_one_process() {
    let data = TempDir::new("dev");
    let mut cmd = command(&["dev", "--data-dir", data.path().to_str().unwrap()]);
    cmd.env_remove("JUNCTION_POD_NAME");
    let mut j = Junction::start(cmd, &["router", "admin"]);
    let router = j.router_url().to_owned();
    assert!(router.starts_with("ws://127.0.0.1:") && router.ends_with("/ws") && !router.contains(":0/"), "{router}");
    assert!(j.admin_url("").starts_with("http://127.0.0.1:"));
    let client = http();

    // Health, readiness, the public config naming this router.
    for path in ["/healthz", "/readyz"] {
        let res = client.get(j.admin_url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    let config: Value = client.get(j.admin_url("/v1/config")).send().await.unwrap().json().await.unwrap();
    assert_eq!(config["router_url"], json!(router));
    assert_eq!(config["version"], json!(env!("CARGO_PKG_VERSION")));

    // The dashboard (as built in dashboard/dist), or the page saying how to build it.
    let res = client.get(j.admin_url("/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboard/dist/index.html").is_file();
    let page = res.text().await.unwrap();
    if built {
        assert!(page.contains("id=\"app\""), "{page}");
        // A client-side route answers the same page.
        let route = client.get(j.admin_url("/realms/rlm_x/roles")).send().await.unwrap();
        assert_eq!(route.headers()["cache-control"], "no-cache");
        assert_eq!(route.text().await.unwrap(), page);
    } else {
        assert!(page.contains("npm ci") && page.contains("npm run build"), "{page}");
    }
    // Unknown API paths stay API answers.
    let res = client.get(j.admin_url("/v1/nope")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/problem+json"));

    // Sign up, create a realm with anonymous access, list realms.
    let token = signup(&client, &j, "dev@example.com").await;
    let realm_id = create_realm(&client, &j, &token, json!({"uri": "com.example.dev", "allow_anonymous": true})).await;
    let realms: Value = client.get(j.admin_url("/v1/realms")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(realms["items"].as_array().unwrap().len(), 1);
    assert_eq!(realms["items"][0]["uri"], "com.example.dev");

    // The static dev realm takes anonymous sessions.
    let mut anon = Wamp::join(&router, "realm1").await;
    assert_eq!(anon.welcome[2]["authrole"], "anonymous");
    assert_eq!(anon.welcome[2]["authmethod"], "anonymous");
    // An unknown realm does not exist.
    let refused = Wamp::try_join(&router, "com.example.nowhere").await.err().expect("refused");
    assert_eq!(refused[0], 3); // ABORT
    assert_eq!(refused[2], "wamp.error.no_such_realm");

    // The realm created through the admin API works in the router (junction-gate).
    let mut member = Wamp::join(&router, "com.example.dev").await;
    assert_eq!(member.welcome[2]["authrole"], "anonymous");

    // The session directory: the admin API sees, counts and kills it.
    let sessions: Value =
        client.get(j.admin_url(&format!("/v1/realms/{realm_id}/sessions"))).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(sessions["total"], 1, "{sessions}");
    let s = &sessions["items"][0];
    assert_eq!(s["session_id"], json!(member.session));
    assert_eq!((s["authmethod"].as_str(), s["authrole"].as_str(), s["pod"].as_str()), (Some("anonymous"), Some("anonymous"), Some("local")));
    let joined = s["joined_at"].as_str().unwrap();
    assert!(joined.len() >= 20 && joined.ends_with('Z') && joined.contains('T'), "{joined}");
    let stats: Value =
        client.get(j.admin_url(&format!("/v1/realms/{realm_id}/stats"))).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["sessions"], 1, "{stats}");
    assert!(stats["messages_out"].as_u64().unwrap() >= 1, "WELCOME counts: {stats}");
    // The kill answers once the session has left: after the client answered the GOODBYE.
    let kill = tokio::spawn(client.delete(j.admin_url(&format!("/v1/realms/{realm_id}/sessions/{}", member.session))).bearer_auth(&token).send());
    let goodbye = member.recv().await;
    assert_eq!((goodbye[0].as_u64(), goodbye[2].as_str()), (Some(6), Some("wamp.close.killed")), "{goodbye}");
    member.send(json!([6, {}, "wamp.close.goodbye_and_out"])).await;
    assert_eq!(kill.await.unwrap().unwrap().status(), 204);

    // SIGTERM: GOODBYE to every session, then exit 0.
    let status = j.terminate();
    let goodbye = anon.recv().await;
    assert_eq!((goodbye[0].as_u64(), goodbye[2].as_str()), (Some(6), Some("wamp.close.system_shutdown")), "{goodbye}");
    assert!(status.success(), "exit {status:?}; stderr:\n{}", j.stderr_text());

    // The data directory keeps everything: after a restart the realm is there and the old
    // access token still works (the token key is kept in the data directory too).
    let j = Junction::start(command(&["dev", "--data-dir", data.path().to_str().unwrap()]), &["router", "admin"]);
    let realms: Value = client.get(j.admin_url("/v1/realms")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(realms["items"][0]["uri"], "com.example.dev", "{realms}");
    Wamp::join(j.router_url(), "com.example.dev").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_built_dashboard_the_admin_port_says_how_to_build_it() {
    let data = TempDir::new("nodist");
    let empty = TempDir::new("emptydist");
    let mut cmd = command(&["dev", "--data-dir", data.path().to_str().unwrap()]);
    cmd.env("JUNCTION_DASHBOARD_DIR", empty.path());
    let mut j = Junction::start(cmd, &["router", "admin"]);
    assert!(j.stdout.iter().any(|l| l.contains("junction: admin listening on")));
    let client = http();
    for path in ["/", "/realms"] {
        let res = client.get(j.admin_url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let page = res.text().await.unwrap();
        assert!(page.contains("cd dashboard &amp;&amp; npm ci &amp;&amp; npm run build"), "{page}");
    }
    // The API is there all the same.
    assert_eq!(client.get(j.admin_url("/v1/openapi.json")).send().await.unwrap().status(), 200);

    // Files appear as soon as they are built (read per request).
    std::fs::create_dir_all(empty.path().join("assets")).unwrap();
    std::fs::write(empty.path().join("index.html"), "<div id=\"app\"></div>").unwrap();
    std::fs::write(empty.path().join("assets/index-abc123.js"), "export {}").unwrap();
    let res = client.get(j.admin_url("/")).send().await.unwrap();
    assert_eq!(res.headers()["cache-control"], "no-cache");
    assert_eq!(res.text().await.unwrap(), "<div id=\"app\"></div>");
    let res = client.get(j.admin_url("/assets/index-abc123.js")).send().await.unwrap();
    assert_eq!(res.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert_eq!(client.get(j.admin_url("/assets/gone.js")).send().await.unwrap().status(), 404);

    assert!(j.terminate().success());
}
