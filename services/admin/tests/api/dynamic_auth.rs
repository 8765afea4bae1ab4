//! Dynamic authenticators (per realm) and authorizers (per role): set, cleared, validated,
//! confined to the tenant's realms, audited and announced on the change feed.

use std::time::Duration;

use junction_changefeed::{Change, ChangeFeed, Received};
use serde_json::{Value, json};

use crate::helpers::*;

async fn next_change(rx: &mut junction_changefeed::ChangeReceiver) -> Change {
    match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
        Ok(Received::Change(c)) => c,
        other => panic!("expected a change, got {other:?}"),
    }
}

both! {
    async fn realm_authenticator_set_and_cleared(app) {
        let s = app.signup("a@dyn.test", "Dyn").await;
        let mut rx = app.feed.subscribe();
        // Created with one, in another realm of the tenant.
        let auth_realm = app.create_realm(&s.token, "com.dyn.auth").await;
        assert_eq!(next_change(&mut rx).await, Change::RealmUpdated { realm: "com.dyn.auth".into() });
        let res = app.post("/v1/realms", &s.token, json!({
            "uri": "com.dyn.app",
            "authenticator": {"procedure": "com.dyn.authenticate", "realm": "com.dyn.auth"}
        })).await;
        let body = res.expect(201).clone();
        assert_eq!(body["authenticator"], json!({"procedure": "com.dyn.authenticate", "realm": "com.dyn.auth"}));
        let realm = id(&body);
        assert_eq!(next_change(&mut rx).await, Change::RealmUpdated { realm: "com.dyn.app".into() });
        // Read back; a realm without one says null.
        let res = app.get(&format!("/v1/realms/{realm}"), &s.token).await;
        assert_eq!(res.expect(200)["authenticator"]["procedure"], "com.dyn.authenticate");
        let res = app.get(&format!("/v1/realms/{auth_realm}"), &s.token).await;
        assert_eq!(res.expect(200)["authenticator"], Value::Null);
        // Created naming itself.
        let res = app.post("/v1/realms", &s.token, json!({
            "uri": "com.dyn.self", "authenticator": {"procedure": "com.dyn.a", "realm": "com.dyn.self"}
        })).await;
        res.expect(201);
        next_change(&mut rx).await;
        // PATCH without the field leaves it; with another procedure in the same realm changes it.
        let res = app.patch(&format!("/v1/realms/{realm}"), &s.token, json!({"allow_anonymous": true})).await;
        assert_eq!(res.expect(200)["authenticator"]["procedure"], "com.dyn.authenticate");
        assert_eq!(next_change(&mut rx).await, Change::RealmUpdated { realm: "com.dyn.app".into() });
        let res = app.patch(&format!("/v1/realms/{realm}"), &s.token, json!({"authenticator": {"procedure": "com.dyn.other"}})).await;
        assert_eq!(res.expect(200)["authenticator"], json!({"procedure": "com.dyn.other", "realm": null}));
        assert_eq!(next_change(&mut rx).await, Change::RealmUpdated { realm: "com.dyn.app".into() });
        // null clears it.
        let res = app.patch(&format!("/v1/realms/{realm}"), &s.token, json!({"authenticator": null})).await;
        assert_eq!(res.expect(200)["authenticator"], Value::Null);
        assert_eq!(next_change(&mut rx).await, Change::RealmUpdated { realm: "com.dyn.app".into() });
        let res = app.get(&format!("/v1/realms/{realm}"), &s.token).await;
        assert_eq!(res.expect(200)["authenticator"], Value::Null);
        // Audited, with before and after.
        let res = app.get("/v1/audit-log?limit=200", &s.token).await;
        let log = res.expect(200).to_string();
        assert!(log.contains("com.dyn.other") && log.contains("com.dyn.authenticate"), "{log}");
    }

    async fn role_authorizer_set_and_cleared(app) {
        let s = app.signup("b@dyn.test", "Dyn").await;
        let realm = app.create_realm(&s.token, "com.dyn.app").await;
        app.create_realm(&s.token, "com.dyn.auth").await;
        let mut rx = app.feed.subscribe();
        let res = app.post(&format!("/v1/realms/{realm}/roles"), &s.token, json!({
            "name": "backend", "authorizer": {"procedure": "com.dyn.authorize", "realm": "com.dyn.auth"}
        })).await;
        let body = res.expect(201).clone();
        assert_eq!(body["authorizer"], json!({"procedure": "com.dyn.authorize", "realm": "com.dyn.auth"}));
        let role = id(&body);
        assert_eq!(next_change(&mut rx).await, Change::RoleUpdated { realm: "com.dyn.app".into(), role: "backend".into() });
        let plain = app.create_role(&s.token, &realm, "plain").await;
        next_change(&mut rx).await;
        let res = app.get(&format!("/v1/realms/{realm}/roles/{plain}"), &s.token).await;
        assert_eq!(res.expect(200)["authorizer"], Value::Null);
        // PATCH sets, changes, clears; each announced.
        let res = app.patch(&format!("/v1/realms/{realm}/roles/{plain}"), &s.token, json!({"authorizer": {"procedure": "com.dyn.authz2"}})).await;
        assert_eq!(res.expect(200)["authorizer"], json!({"procedure": "com.dyn.authz2", "realm": null}));
        assert_eq!(next_change(&mut rx).await, Change::RoleUpdated { realm: "com.dyn.app".into(), role: "plain".into() });
        let res = app.patch(&format!("/v1/realms/{realm}/roles/{role}"), &s.token, json!({"authorizer": null})).await;
        assert_eq!(res.expect(200)["authorizer"], Value::Null);
        assert_eq!(next_change(&mut rx).await, Change::RoleUpdated { realm: "com.dyn.app".into(), role: "backend".into() });
        let res = app.get(&format!("/v1/realms/{realm}/roles/{role}"), &s.token).await;
        assert_eq!(res.expect(200)["authorizer"], Value::Null);
        // The field is required on PATCH.
        let res = app.patch(&format!("/v1/realms/{realm}/roles/{role}"), &s.token, json!({})).await;
        res.expect_problem(422, "validation");
        assert_eq!(res.fields(), ["authorizer"]);
        // Audited.
        let res = app.get("/v1/audit-log?limit=200", &s.token).await;
        let log = res.expect(200);
        let actions: Vec<&str> = log["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert!(actions.contains(&"role.update"), "{actions:?}");
        assert!(log.to_string().contains("com.dyn.authz2"));
    }

    async fn procedures_are_validated(app) {
        let s = app.signup("c@dyn.test", "Dyn").await;
        let realm = app.create_realm(&s.token, "com.dyn.app").await;
        let role = app.create_role(&s.token, &realm, "r").await;
        for bad in ["", "com..x", "com.x.", "com x", "com.#"] {
            let res = app.post("/v1/realms", &s.token, json!({"uri": "com.dyn.new", "authenticator": {"procedure": bad}})).await;
            res.expect_problem(422, "validation");
            assert_eq!(res.fields(), ["authenticator.procedure"], "{bad:?}");
            let res = app.patch(&format!("/v1/realms/{realm}"), &s.token, json!({"authenticator": {"procedure": "com.ok", "realm": bad}})).await;
            res.expect_problem(422, "validation");
            assert_eq!(res.fields(), ["authenticator.realm"], "{bad:?}");
            let res = app.post(&format!("/v1/realms/{realm}/roles"), &s.token, json!({"name": "n", "authorizer": {"procedure": bad}})).await;
            res.expect_problem(422, "validation");
            assert_eq!(res.fields(), ["authorizer.procedure"], "{bad:?}");
            let res = app.patch(&format!("/v1/realms/{realm}/roles/{role}"), &s.token, json!({"authorizer": {"procedure": bad}})).await;
            res.expect_problem(422, "validation");
            assert_eq!(res.fields(), ["authorizer.procedure"], "{bad:?}");
        }
        // Unknown fields are refused; a missing procedure too.
        let res = app.patch(&format!("/v1/realms/{realm}"), &s.token, json!({"authenticator": {"procedure": "com.ok", "x": 1}})).await;
        res.expect_problem(422, "validation");
        let res = app.patch(&format!("/v1/realms/{realm}"), &s.token, json!({"authenticator": {"realm": "com.dyn.app"}})).await;
        res.expect_problem(422, "validation");
        // A realm that does not exist.
        let res = app.patch(&format!("/v1/realms/{realm}"), &s.token, json!({"authenticator": {"procedure": "com.ok", "realm": "com.nowhere"}})).await;
        res.expect_problem(422, "validation");
        assert_eq!(res.fields(), ["authenticator.realm"]);
        // Nothing was written; nothing was created.
        let res = app.get(&format!("/v1/realms/{realm}"), &s.token).await;
        assert_eq!(res.expect(200)["authenticator"], Value::Null);
        let res = app.get("/v1/realms", &s.token).await;
        assert_eq!(res.expect(200)["items"].as_array().unwrap().len(), 1);
    }

    async fn procedure_realm_of_another_tenant_is_refused(app) {
        let a = app.signup("a@one.test", "One").await;
        let b = app.signup("b@two.test", "Two").await;
        let realm_a = app.create_realm(&a.token, "com.one").await;
        let role_a = app.create_role(&a.token, &realm_a, "r").await;
        app.create_realm(&b.token, "com.two").await;
        // The other tenant's realm reads exactly as a realm that does not exist.
        let other = app.patch(&format!("/v1/realms/{realm_a}"), &a.token, json!({"authenticator": {"procedure": "com.x", "realm": "com.two"}})).await;
        other.expect_problem(422, "validation");
        let missing = app.patch(&format!("/v1/realms/{realm_a}"), &a.token, json!({"authenticator": {"procedure": "com.x", "realm": "com.none"}})).await;
        missing.expect_problem(422, "validation");
        assert_eq!(other.body["errors"], missing.body["errors"]);
        assert!(!other.body.to_string().contains("Two"));
        let res = app.post("/v1/realms", &a.token, json!({"uri": "com.one.b", "authenticator": {"procedure": "com.x", "realm": "com.two"}})).await;
        res.expect_problem(422, "validation");
        assert_eq!(res.fields(), ["authenticator.realm"]);
        let res = app.post(&format!("/v1/realms/{realm_a}/roles"), &a.token, json!({"name": "n", "authorizer": {"procedure": "com.x", "realm": "com.two"}})).await;
        res.expect_problem(422, "validation");
        assert_eq!(res.fields(), ["authorizer.realm"]);
        let res = app.patch(&format!("/v1/realms/{realm_a}/roles/{role_a}"), &a.token, json!({"authorizer": {"procedure": "com.x", "realm": "com.two"}})).await;
        res.expect_problem(422, "validation");
        assert_eq!(res.fields(), ["authorizer.realm"]);
        // The other tenant cannot change tenant A's role or realm at all.
        let res = app.patch(&format!("/v1/realms/{realm_a}/roles/{role_a}"), &b.token, json!({"authorizer": {"procedure": "com.x"}})).await;
        res.expect_problem(404, "not-found");
        let res = app.patch(&format!("/v1/realms/{realm_a}"), &b.token, json!({"authenticator": {"procedure": "com.x"}})).await;
        res.expect_problem(404, "not-found");
        let res = app.get(&format!("/v1/realms/{realm_a}/roles/{role_a}"), &a.token).await;
        assert_eq!(res.expect(200)["authorizer"], Value::Null);
    }
}
