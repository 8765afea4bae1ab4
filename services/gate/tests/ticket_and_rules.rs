//! The vertical slice: a tenant provisions through the admin API (sign up, realm, role, rules,
//! ticket credential), clients join the router with it, every action type is checked against
//! the rules, rule changes apply live, revocation and role deletion close sessions.

mod common;

use common::*;
use junction_protocol::Value;
use serde_json::json;

const ALL: &str = r#"{"call": true, "register": true, "publish": true, "subscribe": true}"#;

fn all() -> serde_json::Value {
    serde_json::from_str(ALL).unwrap()
}

both! {
    async fn ticket_login_and_every_action(env) {
        let owner = env.signup("owner@acme.test", "Acme").await;
        let realm = env.realm(&owner, json!({"uri": "com.acme.app"})).await;
        let role = env.role(&owner, &realm, "backend").await;
        env.rule(&owner, &realm, &role, "com.acme.", "prefix", all(), json!({})).await;
        env.rule(&owner, &realm, &role, "com.acme.secret.", "prefix", json!({}), json!({})).await;
        env.rule(&owner, &realm, &role, "com.acme.ro.", "prefix", json!({"subscribe": true, "call": true}), json!({})).await;
        let (_, ticket, _) = env.credential(&owner, &realm, json!({"kind": "ticket", "authid": "app1", "role": "backend"})).await;
        let ticket = ticket.unwrap();

        // Good ticket: WELCOME names the principal.
        let (mut a, joined) = Client::join_ticket(&env.ws, "com.acme.app", "ticket", Some("app1"), &ticket).await;
        let (_, details) = joined.welcome();
        assert_eq!(details["authid"], Value::from("app1"));
        assert_eq!(details["authrole"], Value::from("backend"));
        assert_eq!(details["authmethod"], Value::from("ticket"));
        assert_eq!(details["authprovider"], Value::from("junction"));

        // Bad ticket, unknown authid, no authid: the same answer, which reveals nothing.
        let (_, j) = Client::join_ticket(&env.ws, "com.acme.app", "ticket", Some("app1"), "wrong").await;
        let bad = j.abort();
        let (_, j) = Client::join_ticket(&env.ws, "com.acme.app", "ticket", Some("nobody"), &ticket).await;
        assert_eq!(j.abort(), bad);
        let (_, j) = Client::join_ticket(&env.ws, "com.acme.app", "ticket", None, &ticket).await;
        assert_eq!(j.abort(), bad);
        assert_eq!(bad, ("wamp.error.authentication_failed".to_owned(), "authentication failed".to_owned()));

        // Unknown realm; anonymous where the realm does not allow it.
        let (_, j) = Client::join_ticket(&env.ws, "com.nowhere", "ticket", Some("app1"), &ticket).await;
        assert_eq!(j.abort().0, "wamp.error.no_such_realm");
        let (_, j) = Client::join_anonymous(&env.ws, "com.acme.app").await;
        assert_eq!(j.abort().0, "wamp.error.not_authorized");

        // Every action type, allowed and denied.
        let (mut b, j) = Client::join_ticket(&env.ws, "com.acme.app", "ticket", Some("app1"), &ticket).await;
        j.welcome();
        a.subscribe("com.acme.news").await.unwrap();
        assert_eq!(a.subscribe("com.acme.secret.plans").await.unwrap_err(), "wamp.error.not_authorized");
        assert_eq!(a.subscribe("org.other.news").await.unwrap_err(), "wamp.error.not_authorized");
        a.subscribe("com.acme.ro.feed").await.unwrap();
        b.publish("com.acme.news", vec![1.into()]).await.unwrap();
        let (_, payload) = a.event().await;
        assert_eq!(payload.args.unwrap(), vec![Value::from(1)]);
        assert_eq!(b.publish("com.acme.secret.plans", vec![]).await.unwrap_err(), "wamp.error.not_authorized");
        assert_eq!(b.publish("com.acme.ro.feed", vec![]).await.unwrap_err(), "wamp.error.not_authorized");
        a.register("com.acme.add").await.unwrap();
        assert_eq!(a.register("com.acme.ro.proc").await.unwrap_err(), "wamp.error.not_authorized");
        assert_eq!(a.register("com.acme.secret.proc").await.unwrap_err(), "wamp.error.not_authorized");
        let callee = a.serve(|args, _| Ok(vec![Value::from(args.iter().filter_map(Value::as_i64).sum::<i64>())]));
        let r = b.call("com.acme.add", vec![2.into(), 3.into()]).await.unwrap();
        assert_eq!(r.args.unwrap(), vec![Value::from(5)]);
        assert_eq!(b.call("com.acme.secret.proc", vec![]).await.unwrap_err(), "wamp.error.not_authorized");
        // Meta procedures are authorized like any other URI.
        assert_eq!(b.call("wamp.session.count", vec![]).await.unwrap_err(), "wamp.error.not_authorized");
        callee.abort();
    }

    async fn rule_changes_apply_live(env) {
        let owner = env.signup("owner@live.test", "Live").await;
        let realm = env.realm(&owner, json!({"uri": "com.live"})).await;
        let role = env.role(&owner, &realm, "user").await;
        let rule = env.rule(&owner, &realm, &role, "com.live.", "prefix", json!({"subscribe": true}), json!({})).await;
        let (_, ticket, _) = env.credential(&owner, &realm, json!({"kind": "ticket", "authid": "u1", "role": "user"})).await;
        let (mut c, j) = Client::join_ticket(&env.ws, "com.live", "ticket", Some("u1"), &ticket.unwrap()).await;
        j.welcome();
        assert_eq!(c.publish("com.live.x", vec![]).await.unwrap_err(), "wamp.error.not_authorized");
        c.subscribe("com.live.x").await.unwrap();

        // Grant publish: the connected session may publish on its next action.
        env.patch(&owner, &format!("/v1/realms/{realm}/roles/{role}/rules/{rule}"), json!({"allow": {"subscribe": true, "publish": true}})).await;
        let allowed = eventually(&mut c, |c| Box::pin(async move { c.publish("com.live.x", vec![]).await.is_ok() })).await;
        assert!(allowed, "publish not allowed after the rule change");

        // Revoke subscribe by deleting the rule.
        env.delete(&owner, &format!("/v1/realms/{realm}/roles/{role}/rules/{rule}")).await;
        let denied = eventually(&mut c, |c| Box::pin(async move { c.subscribe("com.live.y").await.is_err() })).await;
        assert!(denied, "subscribe still allowed after the rule was deleted");
    }

    async fn revoking_a_credential_and_deleting_a_role_close_sessions(env) {
        let owner = env.signup("owner@rv.test", "Revoke").await;
        let realm = env.realm(&owner, json!({"uri": "com.rv"})).await;
        let role = env.role(&owner, &realm, "user").await;
        let other_role = env.role(&owner, &realm, "other").await;
        env.rule(&owner, &realm, &role, "com.rv.", "prefix", all(), json!({})).await;
        let (cred1, t1, _) = env.credential(&owner, &realm, json!({"kind": "ticket", "authid": "dev1", "role": "user"})).await;
        let (_, t2, _) = env.credential(&owner, &realm, json!({"kind": "ticket", "authid": "dev2", "role": "user"})).await;
        let (_, t3, _) = env.credential(&owner, &realm, json!({"kind": "ticket", "authid": "dev3", "role": "other"})).await;
        let (mut c1, j) = Client::join_ticket(&env.ws, "com.rv", "ticket", Some("dev1"), t1.as_ref().unwrap()).await;
        j.welcome();
        let (mut c2, j) = Client::join_ticket(&env.ws, "com.rv", "ticket", Some("dev2"), t2.as_ref().unwrap()).await;
        j.welcome();
        let (mut c3, j) = Client::join_ticket(&env.ws, "com.rv", "ticket", Some("dev3"), t3.as_ref().unwrap()).await;
        j.welcome();

        env.revoke(&owner, &realm, &cred1).await;
        c1.expect_goodbye(junction_gate::REASON_CREDENTIAL_REVOKED).await;
        // The others stay; the revoked ticket no longer opens a session.
        c2.subscribe("com.rv.still").await.unwrap();
        let (_, j) = Client::join_ticket(&env.ws, "com.rv", "ticket", Some("dev1"), t1.as_ref().unwrap()).await;
        assert_eq!(j.abort().0, "wamp.error.authentication_failed");

        env.delete(&owner, &format!("/v1/realms/{realm}/roles/{other_role}")).await;
        c3.expect_goodbye(junction_gate::REASON_ROLE_DELETED).await;
        c2.subscribe("com.rv.again").await.unwrap();

        // Deleting the realm closes the rest, and the realm is gone for new sessions.
        env.delete(&owner, &format!("/v1/realms/{realm}")).await;
        c2.expect_goodbye(junction_gate::REASON_REALM_DELETED).await;
        let (_, j) = Client::join_ticket(&env.ws, "com.rv", "ticket", Some("dev2"), t2.as_ref().unwrap()).await;
        assert_eq!(j.abort().0, "wamp.error.no_such_realm");
    }

    async fn anonymous_where_allowed_and_live_realm_settings(env) {
        let owner = env.signup("owner@anon.test", "Anon").await;
        let realm = env.realm(&owner, json!({"uri": "com.anon", "allow_anonymous": true, "anonymous_role": "guest"})).await;
        let role = env.role(&owner, &realm, "guest").await;
        env.rule(&owner, &realm, &role, "com.anon.public.", "prefix", json!({"subscribe": true}), json!({})).await;
        let (mut c, j) = Client::join_anonymous(&env.ws, "com.anon").await;
        let (_, details) = j.welcome();
        assert_eq!(details["authrole"], Value::from("guest"));
        assert_eq!(details["authmethod"], Value::from("anonymous"));
        c.subscribe("com.anon.public.news").await.unwrap();
        assert!(c.publish("com.anon.public.news", vec![]).await.is_err());
        // Turning anonymous access off applies to the next HELLO.
        env.patch(&owner, &format!("/v1/realms/{realm}"), json!({"allow_anonymous": false})).await;
        let mut refused = false;
        for _ in 0..100 {
            let (_, j) = Client::join_anonymous(&env.ws, "com.anon").await;
            if let Joined::Abort { reason, .. } = j {
                assert_eq!(reason, "wamp.error.not_authorized");
                refused = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(refused);
    }

    async fn login_attempts_are_rate_limited(env) with {
        use junction_auth::limiter::{LimiterConfig, Rate};
        junction_gate::GateConfig {
            limiter: LimiterConfig { per_authid: Rate::per_minute(3, 1), per_ip: Rate { burst: 1000, per_second: 100.0 }, max_entries: 100 },
            ..test_gate_config()
        }
    }; {
        let owner = env.signup("owner@rl.test", "Limits").await;
        let realm = env.realm(&owner, json!({"uri": "com.rl"})).await;
        env.role(&owner, &realm, "user").await;
        let (_, t, _) = env.credential(&owner, &realm, json!({"kind": "ticket", "authid": "victim", "role": "user"})).await;
        let t = t.unwrap();
        // Successful log-ins take nothing: far more than the burst in a row all pass (a fleet
        // sharing one credential, a reconnecting client).
        for _ in 0..12 {
            let (_, j) = Client::join_ticket(&env.ws, "com.rl", "ticket", Some("victim"), &t).await;
            j.welcome();
        }
        for _ in 0..3 {
            let (_, j) = Client::join_ticket(&env.ws, "com.rl", "ticket", Some("victim"), "guess").await;
            assert_eq!(j.abort().1, "authentication failed");
        }
        // Three failures emptied the bucket: even the right ticket is refused now, before any work.
        let (_, j) = Client::join_ticket(&env.ws, "com.rl", "ticket", Some("victim"), &t).await;
        let (reason, message) = j.abort();
        assert_eq!(reason, "wamp.error.authentication_failed");
        assert!(message.contains("too many"), "{message}");
        // And so is a further guess (refused before any work, with the same message).
        let (_, j) = Client::join_ticket(&env.ws, "com.rl", "ticket", Some("victim"), "guess").await;
        assert!(j.abort().1.contains("too many"));
        // Another authid from the same address is not affected.
        env.credential(&owner, &realm, json!({"kind": "ticket", "authid": "other", "role": "user", "secret": "other-ticket-123456"})).await;
        let (_, j) = Client::join_ticket(&env.ws, "com.rl", "ticket", Some("other"), "other-ticket-123456").await;
        j.welcome();
    }
}

/// Retry `action` (a fresh request each time) until it returns true, for at most ~2 s: the
/// change feed is asynchronous. Returns the last answer.
async fn eventually(c: &mut Client, mut action: impl for<'a> FnMut(&'a mut Client) -> BoxFut<'a>) -> bool {
    for _ in 0..100 {
        if action(c).await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    false
}

type BoxFut<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>>;
