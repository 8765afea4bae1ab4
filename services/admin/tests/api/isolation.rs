//! Tenant isolation: every endpoint, tried with another tenant's ids and with the other
//! tenant's user token and API key, answers 404 (or 403 where the caller may not use the
//! endpoint at all), and changes nothing.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// One tenant's objects.
struct Tenant {
    session: Session,
    key: String,
    realm: String,
    role: String,
    rule: String,
    credential: String,
    api_key_id: String,
}

async fn populate(app: &TestApp, email: &str, name: &str, uri: &str) -> Tenant {
    let session = app.signup(email, name).await;
    let realm = app.create_realm(&session.token, uri).await;
    let role = app.create_role(&session.token, &realm, "r").await;
    let rule = app
        .create_rule(&session.token, &realm, &role, "com.x", "exact")
        .await;
    let res = app
        .post(
            &format!("/v1/realms/{realm}/credentials"),
            &session.token,
            json!({"kind": "ticket", "authid": "a", "role": "r"}),
        )
        .await;
    let credential = res.expect(201)["credential"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let all = [
        "realms:read",
        "realms:write",
        "credentials:read",
        "credentials:write",
        "tokens:create",
        "audit:read",
        "sessions:read",
        "sessions:write",
    ];
    let (api_key_id, key) = app.create_api_key(&session.token, &all).await;
    Tenant {
        session,
        key,
        realm,
        role,
        rule,
        credential,
        api_key_id,
    }
}

/// Every endpoint that takes an id, aimed at `victim`'s objects (optionally under the
/// `attacker`'s own realm / role, to catch joins that check only the last id).
fn attacks(victim: &Tenant, attacker: &Tenant) -> Vec<(Method, String, Option<Value>)> {
    let (vr, vo, vu, vc) = (
        &victim.realm,
        &victim.role,
        &victim.rule,
        &victim.credential,
    );
    let (ar, ao) = (&attacker.realm, &attacker.role);
    let rule = json!({"uri": "com.y", "match": "exact"});
    let cred = json!({"kind": "ticket", "authid": "b", "role": "r"});
    vec![
        (Method::GET, format!("/v1/realms/{vr}"), None),
        (
            Method::PATCH,
            format!("/v1/realms/{vr}"),
            Some(json!({"allow_anonymous": true})),
        ),
        (Method::DELETE, format!("/v1/realms/{vr}"), None),
        (Method::GET, format!("/v1/realms/{vr}/roles"), None),
        (
            Method::POST,
            format!("/v1/realms/{vr}/roles"),
            Some(json!({"name": "evil"})),
        ),
        (Method::GET, format!("/v1/realms/{vr}/roles/{vo}"), None),
        (Method::DELETE, format!("/v1/realms/{vr}/roles/{vo}"), None),
        (
            Method::PATCH,
            format!("/v1/realms/{vr}/roles/{vo}"),
            Some(json!({"authorizer": {"procedure": "com.evil"}})),
        ),
        (
            Method::PATCH,
            format!("/v1/realms/{ar}/roles/{vo}"),
            Some(json!({"authorizer": {"procedure": "com.evil"}})),
        ),
        (Method::GET, format!("/v1/realms/{ar}/roles/{vo}"), None),
        (Method::DELETE, format!("/v1/realms/{ar}/roles/{vo}"), None),
        (
            Method::GET,
            format!("/v1/realms/{vr}/roles/{vo}/rules"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/realms/{vr}/roles/{vo}/rules"),
            Some(rule.clone()),
        ),
        (
            Method::GET,
            format!("/v1/realms/{ar}/roles/{vo}/rules"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/realms/{ar}/roles/{vo}/rules"),
            Some(rule.clone()),
        ),
        (
            Method::GET,
            format!("/v1/realms/{vr}/roles/{vo}/rules/{vu}"),
            None,
        ),
        (
            Method::PATCH,
            format!("/v1/realms/{vr}/roles/{vo}/rules/{vu}"),
            Some(json!({"uri": "com.z"})),
        ),
        (
            Method::DELETE,
            format!("/v1/realms/{vr}/roles/{vo}/rules/{vu}"),
            None,
        ),
        (
            Method::GET,
            format!("/v1/realms/{ar}/roles/{ao}/rules/{vu}"),
            None,
        ),
        (
            Method::PATCH,
            format!("/v1/realms/{ar}/roles/{ao}/rules/{vu}"),
            Some(json!({"uri": "com.z"})),
        ),
        (
            Method::DELETE,
            format!("/v1/realms/{ar}/roles/{ao}/rules/{vu}"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/realms/{vr}/roles/import"),
            Some(json!({"roles": [{"name": "r", "permissions": []}]})),
        ),
        (Method::GET, format!("/v1/realms/{vr}/credentials"), None),
        (
            Method::POST,
            format!("/v1/realms/{vr}/credentials"),
            Some(cred),
        ),
        (
            Method::GET,
            format!("/v1/realms/{vr}/credentials/{vc}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/v1/realms/{vr}/credentials/{vc}"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/realms/{vr}/credentials/{vc}/rotate"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v1/realms/{vr}/credentials/{vc}/revoke"),
            Some(json!({})),
        ),
        (
            Method::GET,
            format!("/v1/realms/{ar}/credentials/{vc}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/v1/realms/{ar}/credentials/{vc}"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/realms/{ar}/credentials/{vc}/rotate"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v1/realms/{ar}/credentials/{vc}/revoke"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v1/realms/{vr}/tokens"),
            Some(json!({"authid": "x", "role": "r"})),
        ),
        (Method::GET, format!("/v1/realms/{vr}/sessions"), None),
        (Method::DELETE, format!("/v1/realms/{vr}/sessions/1"), None),
        (Method::GET, format!("/v1/realms/{vr}/stats"), None),
        (
            Method::GET,
            format!("/v1/api-keys/{}", victim.api_key_id),
            None,
        ),
        (
            Method::DELETE,
            format!("/v1/api-keys/{}", victim.api_key_id),
            None,
        ),
        (
            Method::POST,
            format!("/v1/api-keys/{}/rotate", victim.api_key_id),
            Some(json!({})),
        ),
        (
            Method::DELETE,
            format!("/v1/members/{}", victim.session.user_id),
            None,
        ),
    ]
}

async fn assert_refused(app: &TestApp, victim: &Tenant, attacker: &Tenant) {
    for token in [&attacker.session.token, &attacker.key] {
        let is_key = token.starts_with("jk_");
        for (method, path, body) in attacks(victim, attacker) {
            let res = app.request(method.clone(), &path, Some(token), body).await;
            let manages_users = path.starts_with("/v1/api-keys") || path.starts_with("/v1/members");
            let expected = if is_key && manages_users { 403 } else { 404 };
            assert_eq!(
                res.status.as_u16(),
                expected,
                "{method} {path} with {}: {:#}",
                if is_key { "API key" } else { "user token" },
                res.body
            );
            let ct = res
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            assert!(
                ct.starts_with("application/problem+json"),
                "{method} {path}"
            );
            // The answer for another tenant's object is the answer for no object at all.
            if expected == 404 {
                assert_eq!(res.body["type"], "https://junction.dev/problems/not-found");
            }
        }
    }
}

async fn assert_untouched(app: &TestApp, t: &Tenant, uri: &str) {
    let realm = app
        .get(&format!("/v1/realms/{}", t.realm), &t.session.token)
        .await;
    assert_eq!(realm.expect(200)["allow_anonymous"], false);
    let roles = app
        .get(&format!("/v1/realms/{}/roles", t.realm), &t.session.token)
        .await;
    assert_eq!(roles.expect(200)["items"].as_array().unwrap().len(), 1);
    let rule = app
        .get(
            &format!("/v1/realms/{}/roles/{}/rules/{}", t.realm, t.role, t.rule),
            &t.session.token,
        )
        .await;
    assert_eq!(rule.expect(200)["uri"], "com.x");
    let cred = app
        .get(
            &format!("/v1/realms/{}/credentials/{}", t.realm, t.credential),
            &t.session.token,
        )
        .await;
    assert!(cred.expect(200)["revoked_at"].is_null());
    let creds = app
        .get(
            &format!("/v1/realms/{}/credentials", t.realm),
            &t.session.token,
        )
        .await;
    assert_eq!(creds.expect(200)["items"].as_array().unwrap().len(), 1);
    app.get("/v1/realms", &t.key).await.expect(200);
    assert_eq!(
        app.store.role_rules(uri, "r").await.unwrap().unwrap().len(),
        1
    );
}

both! {
    async fn another_tenants_objects_do_not_exist(app) {
        let a = populate(&app, "a@iso.test", "Tenant A", "com.tenant.a").await;
        let b = populate(&app, "b@iso.test", "Tenant B", "com.tenant.b").await;
        assert_refused(&app, &a, &b).await;
        assert_refused(&app, &b, &a).await;
        assert_untouched(&app, &a, "com.tenant.a").await;
        assert_untouched(&app, &b, "com.tenant.b").await;

        // Lists show only one's own.
        for (t, other) in [(&a, &b), (&b, &a)] {
            let realms = app.get("/v1/realms", &t.session.token).await;
            let ids: Vec<&str> = realms.body["items"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
            assert_eq!(ids, [t.realm.as_str()]);
            let keys = app.get("/v1/api-keys", &t.session.token).await;
            assert!(!keys.expect(200).to_string().contains(&other.api_key_id));
            let members = app.get("/v1/members", &t.session.token).await;
            assert_eq!(members.expect(200)["items"].as_array().unwrap().len(), 1);
            let log = app.get("/v1/audit-log?limit=200", &t.session.token).await;
            let text = log.expect(200).to_string();
            assert!(!text.contains(&other.realm) && !text.contains(&other.session.tenant_id));
        }

        // Realm URIs are global: a taken URI is refused (this is the one thing another
        // tenant can learn, as with domain names).
        app.post("/v1/realms", &b.session.token, json!({"uri": "com.tenant.a"})).await.expect_problem(409, "conflict");
        // A user of A logging in to B's tenant is refused.
        let res = app.request(Method::POST, "/v1/auth/login", None, Some(json!({"email": "a@iso.test", "password": "correct horse battery", "tenant": "tenant-b"}))).await;
        res.expect_problem(401, "unauthorized");
    }
}
