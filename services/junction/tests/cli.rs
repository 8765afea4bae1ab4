//! The binary as scripts use it: exit codes, messages, `migrate`, `router` alone.

mod common;

use common::{Junction, TempDir, Wamp, command, run};

#[test]
fn bad_config_fails_with_a_message() {
    let mut cmd = command(&["router"]);
    cmd.env("JUNCTION_ROUTER_LISTEN", "not-an-address");
    let (status, _, stderr) = run(cmd);
    assert!(!status.success());
    assert!(stderr.contains("JUNCTION_ROUTER_LISTEN"), "{stderr}");
}

#[test]
fn admin_and_migrate_need_a_database_url() {
    for sub in ["admin", "migrate"] {
        let (status, _, stderr) = run(command(&[sub]));
        assert!(!status.success(), "{sub}");
        assert!(stderr.contains("--database-url"), "{sub}: {stderr}");
    }
}

#[test]
fn migrate_creates_a_sqlite_store_and_can_run_again() {
    let dir = TempDir::new("migrate");
    let db = dir.path().join("fresh.db");
    let url = format!("sqlite://{}", db.display());
    for round in 0..2 {
        let (status, stdout, stderr) = run(command(&["migrate", "--database-url", &url]));
        assert!(status.success(), "round {round}: {stderr}");
        assert!(stdout.contains("junction: control store migrated"), "{stdout}");
    }
    assert!(db.is_file());

    // An unreachable store is an error that says which one.
    let (status, _, stderr) = run(command(&["migrate", "--database-url", "mysql://nobody:hunter2@127.0.0.1:1/x"]));
    assert!(!status.success());
    assert!(stderr.contains("mysql://nobody:***@127.0.0.1:1/x") && !stderr.contains("hunter2"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_alone_serves_static_realms_and_stops_on_sigterm() {
    let dir = TempDir::new("router");
    let config = dir.path().join("junction.toml");
    std::fs::write(&config, "[[realms]]\nuri = \"com.example.static\"\ntenant = \"t\"\nanonymous_role = \"guest\"\n").unwrap();
    let mut j = Junction::start(command(&["--config", config.to_str().unwrap(), "router"]), &["router"]);
    assert!(j.admin.is_none());
    let mut w = Wamp::join(j.router_url(), "com.example.static").await;
    assert_eq!(w.welcome[2]["authrole"], "guest");
    // No dev realm in a router pod.
    assert!(Wamp::try_join(j.router_url(), "realm1").await.is_err());
    let status = j.terminate();
    assert_eq!(w.recv().await[2], "wamp.close.system_shutdown");
    assert!(status.success());
}
