//! Tenant isolation, disclosure rules, and the rule-change-to-enforcement latency figure.

mod common;

use std::time::{Duration, Instant};

use common::*;
use junction_protocol::Value;
use serde_json::json;

both! {
    async fn tenants_cannot_reach_each_other(env) {
        let a = env.signup("a@a.test", "Tenant A").await;
        let b = env.signup("b@b.test", "Tenant B").await;
        let ra = env.realm(&a, json!({"uri": "com.a"})).await;
        let rb = env.realm(&b, json!({"uri": "com.b"})).await;
        for (owner, realm) in [(&a, &ra), (&b, &rb)] {
            let role = env.role(owner, realm, "app").await;
            // Everything, meta API included.
            env.rule(owner, realm, &role, "", "prefix", json!({"call": true, "register": true, "publish": true, "subscribe": true}), json!({})).await;
        }
        env.credential(&a, &ra, json!({"kind": "ticket", "authid": "same", "role": "app", "secret": "ticket-of-tenant-a"})).await;
        env.credential(&b, &rb, json!({"kind": "ticket", "authid": "same", "role": "app", "secret": "ticket-of-tenant-b"})).await;

        // A's credential does not open B's realm (same authid, same role name).
        let (_, j) = Client::join_ticket(&env.ws, "com.b", "ticket", Some("same"), "ticket-of-tenant-a").await;
        assert_eq!(j.abort().0, "wamp.error.authentication_failed");

        let (mut sa, j) = Client::join_ticket(&env.ws, "com.a", "ticket", Some("same"), "ticket-of-tenant-a").await;
        let (sid_a, _) = j.welcome();
        let (mut sb, j) = Client::join_ticket(&env.ws, "com.b", "ticket", Some("same"), "ticket-of-tenant-b").await;
        let (sid_b, _) = j.welcome();

        // Same topic and procedure names: nothing crosses.
        sa.subscribe("com.shared.topic").await.unwrap();
        sb.publish("com.shared.topic", vec!["from b".into()]).await.unwrap();
        sa.register("com.shared.proc").await.unwrap();
        assert_eq!(sb.call("com.shared.proc", vec![]).await.unwrap_err(), "wamp.error.no_such_procedure");
        assert!(sa.recv_within(Duration::from_millis(200)).await.is_err(), "tenant A received something from tenant B");

        // The meta API shows each session its own realm only.
        let list = sb.call("wamp.session.list", vec![]).await.unwrap();
        let ids: Vec<u64> = list.args.unwrap()[0].as_list().unwrap().iter().filter_map(Value::as_u64).collect();
        assert_eq!(ids, vec![sid_b]);
        assert_eq!(sb.call("wamp.session.get", vec![sid_a.into()]).await.unwrap_err(), "wamp.error.no_such_session");
        assert_eq!(sb.call("wamp.registration.lookup", vec!["com.shared.proc".into()]).await.unwrap().args.unwrap()[0], Value::Null);
    }

    async fn disclose_rules_decide_caller_and_publisher_disclosure(env) {
        let owner = env.signup("d@d.test", "Disclose").await;
        let realm = env.realm(&owner, json!({"uri": "com.d"})).await;
        let role = env.role(&owner, &realm, "app").await;
        let all = json!({"call": true, "register": true, "publish": true, "subscribe": true});
        env.rule(&owner, &realm, &role, "com.d.open.", "prefix", all.clone(), json!({"caller": true, "publisher": true})).await;
        env.rule(&owner, &realm, &role, "com.d.quiet.", "prefix", all, json!({})).await;
        env.credential(&owner, &realm, json!({"kind": "ticket", "authid": "x", "role": "app", "secret": "ticket-x-1234567890"})).await;
        let (mut sub, j) = Client::join_ticket(&env.ws, "com.d", "ticket", Some("x"), "ticket-x-1234567890").await;
        j.welcome();
        let (mut publ, j) = Client::join_ticket(&env.ws, "com.d", "ticket", Some("x"), "ticket-x-1234567890").await;
        let (publisher_id, _) = j.welcome();
        sub.subscribe("com.d.open.t").await.unwrap();
        sub.subscribe("com.d.quiet.t").await.unwrap();
        publ.publish("com.d.open.t", vec![]).await.unwrap();
        let (details, _) = sub.event().await;
        assert_eq!(details.get("publisher"), Some(&Value::from(publisher_id)));
        publ.publish("com.d.quiet.t", vec![]).await.unwrap();
        let (details, _) = sub.event().await;
        assert_eq!(details.get("publisher"), None);

        let (mut callee, j) = Client::join_ticket(&env.ws, "com.d", "ticket", Some("x"), "ticket-x-1234567890").await;
        j.welcome();
        callee.register("com.d.open.p").await.unwrap();
        callee.register("com.d.quiet.p").await.unwrap();
        let _serving = callee.serve(|_, details| Ok(vec![details.get("caller").cloned().unwrap_or(Value::Null)]));
        let r = publ.call("com.d.open.p", vec![]).await.unwrap();
        assert_eq!(r.args.unwrap()[0], Value::from(publisher_id));
        let r = publ.call("com.d.quiet.p", vec![]).await.unwrap();
        assert_eq!(r.args.unwrap()[0], Value::Null);
    }

    async fn rule_change_to_enforcement_latency(env) {
        let owner = env.signup("l@l.test", "Latency").await;
        let realm = env.realm(&owner, json!({"uri": "com.lat"})).await;
        let role = env.role(&owner, &realm, "app").await;
        let rule = env.rule(&owner, &realm, &role, "com.lat.", "prefix", json!({"subscribe": true}), json!({})).await;
        env.credential(&owner, &realm, json!({"kind": "ticket", "authid": "x", "role": "app", "secret": "ticket-x-1234567890"})).await;
        let (mut c, j) = Client::join_ticket(&env.ws, "com.lat", "ticket", Some("x"), "ticket-x-1234567890").await;
        j.welcome();
        let path = format!("/v1/realms/{realm}/roles/{role}/rules/{rule}");
        // Per round: from sending the PATCH until the connected session's action sees the
        // change (the session retries without pause). And the admin API round trip alone.
        let mut total = Vec::new();
        let mut http = Vec::new();
        for i in 0..20 {
            let publish = i % 2 == 0;
            let t0 = Instant::now();
            env.patch(&owner, &path, json!({"allow": {"subscribe": true, "publish": publish}})).await;
            http.push(t0.elapsed());
            loop {
                if c.publish("com.lat.x", vec![]).await.is_ok() == publish {
                    break;
                }
                assert!(t0.elapsed() < Duration::from_secs(5), "change not enforced in 5 s");
            }
            total.push(t0.elapsed());
        }
        total.sort();
        http.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        eprintln!(
            "FIGURE rule-change-to-enforcement ({:?}): PATCH sent -> enforced: median {:.2} ms, p90 {:.2} ms, max {:.2} ms; PATCH round trip alone: median {:.2} ms",
            env.store.backend(), ms(total[10]), ms(total[18]), ms(total[19]), ms(http[10])
        );
    }
}
