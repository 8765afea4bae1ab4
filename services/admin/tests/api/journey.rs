//! The whole tenant journey: sign up, log in, realm, role, rules, credentials, tokens, and what
//! the router will read from the store and the change feed.

use std::time::Duration;

use junction_changefeed::{Change, Received};
use junction_store::{CredentialMaterial, MatchPolicy, Secret, secrets};
use serde_json::{Value, json};

use crate::helpers::*;

/// An Ed25519 public key (RFC 8410, section 10.1).
const ED25519_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";

async fn next_change(rx: &mut junction_changefeed::ChangeReceiver) -> Change {
    match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
        Ok(Received::Change(c)) => c,
        other => panic!("expected a change, got {other:?}"),
    }
}

both! {
    async fn whole_tenant_journey(app) {
        let mut feed = junction_changefeed::ChangeFeed::subscribe(app.feed.as_ref());

        // Sign up, then log in again with the password.
        let owner = app.signup("Owner@Acme.test", "Acme Shop").await;
        let res = app.login("owner@acme.test", "correct horse battery").await;
        let body = res.expect(200);
        assert_eq!(body["role"], "owner");
        assert_eq!(body["tenant"]["slug"], "acme-shop");
        assert_eq!(body["token_type"], "Bearer");
        let cookies: Vec<&str> = res.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).collect();
        assert!(cookies.iter().any(|c| c.starts_with("junction_session=") && c.contains("HttpOnly") && c.contains("SameSite=Strict")), "{cookies:?}");
        let session = session_of(body);
        assert_eq!(session.tenant_id, owner.tenant_id);
        app.login("owner@acme.test", "wrong password!!").await.expect_problem(401, "unauthorized");

        // Who am I, with the bearer token and with the dashboard cookie.
        let me = app.get("/v1/me", &session.token).await;
        assert_eq!(me.expect(200)["role"], "owner");
        let res = app.raw(app.client.get(app.url("/v1/me")).header("cookie", format!("junction_session={}", session.token))).await;
        assert_eq!(res.expect(200)["tenant"]["id"], owner.tenant_id.as_str());
        app.request(reqwest::Method::GET, "/v1/me", None, None).await.expect_problem(401, "unauthorized");

        // Realm.
        let res = app.post("/v1/realms", &session.token, json!({"uri": "com.acme.shop"})).await;
        let realm = res.expect(201).clone();
        let realm_id = id(&realm);
        assert_eq!(realm["allow_anonymous"], false);
        assert_eq!(next_change(&mut feed).await, Change::RealmUpdated { realm: "com.acme.shop".into() });
        let res = app.patch(&format!("/v1/realms/{realm_id}"), &session.token, json!({"allow_anonymous": true, "anonymous_role": "guest"})).await;
        assert_eq!(res.expect(200)["anonymous_role"], "guest");
        assert_eq!(next_change(&mut feed).await, Change::RealmUpdated { realm: "com.acme.shop".into() });

        // Role and rules.
        let role_id = app.create_role(&session.token, &realm_id, "backend").await;
        assert_eq!(next_change(&mut feed).await, Change::RoleUpdated { realm: "com.acme.shop".into(), role: "backend".into() });
        let res = app.post(&format!("/v1/realms/{realm_id}/roles/{role_id}/rules"), &session.token, json!({
            "uri": "com.acme.", "match": "prefix",
            "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
            "disclose": {"caller": true}
        })).await;
        let rule = res.expect(201).clone();
        assert_eq!(rule["match"], "prefix");
        assert_eq!(rule["disclose"], json!({"caller": true, "publisher": false}));
        assert_eq!(next_change(&mut feed).await, Change::RoleUpdated { realm: "com.acme.shop".into(), role: "backend".into() });
        let wildcard_id = app.create_rule(&session.token, &realm_id, &role_id, "com..get", "wildcard").await;
        next_change(&mut feed).await;
        let res = app.patch(&format!("/v1/realms/{realm_id}/roles/{role_id}/rules/{wildcard_id}"), &session.token, json!({"allow": {"publish": true}})).await;
        assert_eq!(res.expect(200)["allow"], json!({"call": false, "register": false, "publish": true, "subscribe": false}));
        assert_eq!(next_change(&mut feed).await, Change::RoleUpdated { realm: "com.acme.shop".into(), role: "backend".into() });
        let res = app.get(&format!("/v1/realms/{realm_id}/roles/{role_id}/rules"), &session.token).await;
        assert_eq!(res.expect(200)["items"].as_array().unwrap().len(), 2);

        // What the router reads.
        let rules = app.store.role_rules("com.acme.shop", "backend").await.unwrap().expect("role");
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].match_policy, MatchPolicy::Prefix);
        assert!(rules[0].allow.register && rules[0].disclose.caller);
        assert!(app.store.role_rules("com.acme.shop", "nobody").await.unwrap().is_none());
        let realm_auth = app.store.realm_by_uri("com.acme.shop").await.unwrap().expect("realm");
        assert!(realm_auth.realm.allow_anonymous);

        // Credentials of every kind; secrets come back once.
        let creds = format!("/v1/realms/{realm_id}/credentials");
        let res = app.post(&creds, &session.token, json!({"kind": "ticket", "authid": "app1", "role": "backend"})).await;
        let ticket = res.expect(201).clone();
        let ticket_secret = ticket["secret"].as_str().expect("ticket secret").to_string();
        assert_eq!(next_change(&mut feed).await, Change::CredentialUpdated { realm: "com.acme.shop".into(), authid: "app1".into() });
        let res = app.post(&creds, &session.token, json!({"kind": "wampcra", "authid": "app2", "role": "backend", "salted": true})).await;
        let cra = res.expect(201).clone();
        assert_eq!(cra["credential"]["iterations"], 1000);
        assert_eq!(cra["credential"]["keylen"], 32);
        assert!(cra["credential"]["salt"].is_string());
        let cra_secret = cra["secret"].as_str().unwrap().to_string();
        let res = app.post(&creds, &session.token, json!({"kind": "cryptosign", "authid": "device1", "role": "backend",
            "public_key": "19BF44096984CDFE8541BAC167DC3B96C85086AA30B6B6CB0C5C38AD703166E1"})).await;
        let cs = res.expect(201).clone();
        assert!(cs["secret"].is_null());
        assert_eq!(cs["credential"]["public_key"], "19bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1");
        let res = app.post(&creds, &session.token, json!({"kind": "jwt", "authid": "idp", "role": "backend", "algorithm": "HS256"})).await;
        assert!(res.expect(201)["secret"].is_string());
        let res = app.post(&creds, &session.token, json!({"kind": "jwt", "authid": "idp-ed", "role": "backend", "algorithm": "EdDSA", "public_key": ED25519_PEM})).await;
        assert_eq!(res.expect(201)["credential"]["algorithm"], "EdDSA");
        for _ in 0..4 {
            next_change(&mut feed).await;
        }

        // Reading a credential never shows its secret.
        let listed = app.get(&creds, &session.token).await;
        let listed_text = listed.expect(200).to_string();
        assert_eq!(listed.body["items"].as_array().unwrap().len(), 5);
        assert!(!listed_text.contains(&ticket_secret) && !listed_text.contains(&cra_secret));
        assert!(!listed_text.contains("secret"), "{listed_text}");

        // What the router reads: the ticket verifies against its hash; salted WAMP-CRA has the
        // derived key only.
        let found = app.store.credentials_for_authid("com.acme.shop", "app1").await.unwrap();
        let CredentialMaterial::Ticket { secret_hash } = &found[0].material else { panic!("{found:?}") };
        assert!(secrets::verify(Secret::new(ticket_secret.clone()), secret_hash.clone()).await.unwrap());
        assert_eq!(found[0].role, "backend");
        let found = app.store.credentials_for_authid("com.acme.shop", "app2").await.unwrap();
        let CredentialMaterial::Wampcra { secret, salt, iterations, keylen, derived } = &found[0].material else { panic!() };
        assert!(*derived);
        assert_ne!(secret.expose(), cra_secret);
        let params = junction_auth::cra::SaltParams::new(salt.clone().unwrap(), iterations.unwrap() as u32, keylen.unwrap() as u32).unwrap();
        let key = junction_auth::cra::derive_key(&junction_auth::Secret::new(cra_secret.as_str()), &params);
        assert_eq!(secret.expose(), key.expose());
        let cra_key = key.expose().to_string();
        assert_eq!(app.store.jwt_keys("com.acme.shop").await.unwrap().len(), 2);

        // Rotating a ticket: a new secret once, the old one stops verifying.
        let ticket_id = ticket["credential"]["id"].as_str().unwrap();
        let res = app.post(&format!("{creds}/{ticket_id}/rotate"), &session.token, json!({})).await;
        let new_secret = res.expect(200)["secret"].as_str().unwrap().to_string();
        assert_ne!(new_secret, ticket_secret);
        assert_eq!(next_change(&mut feed).await, Change::CredentialUpdated { realm: "com.acme.shop".into(), authid: "app1".into() });
        let found = app.store.credentials_for_authid("com.acme.shop", "app1").await.unwrap();
        let CredentialMaterial::Ticket { secret_hash } = &found[0].material else { panic!() };
        assert!(!secrets::verify(Secret::new(ticket_secret.clone()), secret_hash.clone()).await.unwrap());
        assert!(secrets::verify(Secret::new(new_secret), secret_hash.clone()).await.unwrap());

        // Revoking: the router no longer sees it, sessions are told to go.
        let cs_id = cs["credential"]["id"].as_str().unwrap();
        let res = app.post(&format!("{creds}/{cs_id}/revoke"), &session.token, json!({})).await;
        assert!(res.expect(200)["revoked_at"].is_string());
        assert_eq!(next_change(&mut feed).await, Change::CredentialRevoked { realm: "com.acme.shop".into(), authid: "device1".into() });
        assert!(app.store.credentials_for_authid("com.acme.shop", "device1").await.unwrap().is_empty());
        app.post(&format!("{creds}/{cs_id}/rotate"), &session.token, json!({"public_key": "00".repeat(32)})).await.expect_problem(409, "conflict");

        // A client token for a browser, verifiable with the realm's token key.
        let res = app.post(&format!("/v1/realms/{realm_id}/tokens"), &session.token, json!({"authid": "browser-42", "role": "backend", "ttl_seconds": 600})).await;
        let token = res.expect(200)["token"].as_str().unwrap().to_string();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.set_audience(&["com.acme.shop"]);
        validation.set_issuer(&["junction"]);
        let data = jsonwebtoken::decode::<Value>(&token, &jsonwebtoken::DecodingKey::from_secret(realm_auth.token_key.expose().as_bytes()), &validation).unwrap();
        assert_eq!(data.claims["sub"], "browser-42");
        assert_eq!(data.claims["role"], "backend");
        assert_eq!(data.header.kid.as_deref(), Some("junction"));
        let exp = data.claims["exp"].as_u64().unwrap() - data.claims["iat"].as_u64().unwrap();
        assert_eq!(exp, 600);
        let res = app.post(&format!("/v1/realms/{realm_id}/tokens"), &session.token, json!({"authid": "x", "role": "nope"})).await;
        assert_eq!(res.expect_problem(422, "validation")["errors"][0]["field"], "role");

        // Crossbar.io import.
        let res = app.post(&format!("/v1/realms/{realm_id}/roles/import"), &session.token, json!({"roles": [
            {"name": "backend", "permissions": [{"uri": "com.acme.", "match": "prefix", "allow": {"call": true}, "cache": true}]},
            {"name": "frontend", "permissions": [{"uri": "com.acme.public.*", "allow": {"subscribe": true}}]}
        ]})).await;
        let imported = res.expect(200).clone();
        let imported_rule = imported["roles"][0]["rules"][0]["id"].as_str().unwrap().to_string();
        assert_eq!(imported["roles"].as_array().unwrap().len(), 2);
        let rules = app.store.role_rules("com.acme.shop", "backend").await.unwrap().unwrap();
        assert_eq!(rules.len(), 1, "import replaces the role's rules");
        let rules = app.store.role_rules("com.acme.shop", "frontend").await.unwrap().unwrap();
        assert_eq!((rules[0].uri.as_str(), rules[0].match_policy), ("com.acme.public.", MatchPolicy::Prefix));
        let mut imported_roles = [next_change(&mut feed).await, next_change(&mut feed).await];
        imported_roles.sort_by_key(|c| format!("{c:?}"));
        assert_eq!(imported_roles[1], Change::RoleUpdated { realm: "com.acme.shop".into(), role: "frontend".into() });

        // Refresh: a new session; the refresh token is single-use.
        let res = app.request(reqwest::Method::POST, "/v1/auth/refresh", None, Some(json!({"refresh_token": session.refresh}))).await;
        let refreshed = session_of(res.expect(200));
        app.get("/v1/me", &refreshed.token).await.expect(200);
        app.request(reqwest::Method::POST, "/v1/auth/refresh", None, Some(json!({"refresh_token": session.refresh}))).await.expect_problem(401, "unauthorized");
        let res = app.raw(app.client.post(app.url("/v1/auth/refresh")).header("cookie", format!("junction_refresh={}", refreshed.refresh))).await;
        let via_cookie = session_of(res.expect(200));
        let res = app.raw(app.client.post(app.url("/v1/auth/logout")).json(&json!({"refresh_token": via_cookie.refresh}))).await;
        res.expect(204);
        app.request(reqwest::Method::POST, "/v1/auth/refresh", None, Some(json!({"refresh_token": via_cookie.refresh}))).await.expect_problem(401, "unauthorized");

        // Delete a rule (the import replaced the earlier ones), the role, the realm.
        app.delete(&format!("/v1/realms/{realm_id}/roles/{role_id}/rules/{wildcard_id}"), &session.token).await.expect_problem(404, "not-found");
        let res = app.delete(&format!("/v1/realms/{realm_id}/roles/{role_id}/rules/{imported_rule}"), &session.token).await;
        res.expect(204);
        app.delete(&format!("/v1/realms/{realm_id}/roles/{role_id}"), &session.token).await.expect(204);
        app.delete(&format!("/v1/realms/{realm_id}"), &session.token).await.expect(204);
        app.get(&format!("/v1/realms/{realm_id}"), &session.token).await.expect_problem(404, "not-found");
        assert!(app.store.realm_by_uri("com.acme.shop").await.unwrap().is_none());
        let mut tail = Vec::new();
        loop {
            let c = next_change(&mut feed).await;
            let done = matches!(c, Change::RealmDeleted { .. });
            tail.push(c);
            if done { break; }
        }
        assert!(tail.contains(&Change::RoleDeleted { realm: "com.acme.shop".into(), role: "backend".into() }), "{tail:?}");

        // The audit log has every change, and no secret.
        let res = app.get("/v1/audit-log?limit=200", &session.token).await;
        let log = res.expect(200);
        let text = log.to_string();
        let actions: Vec<&str> = log["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        for action in ["tenant.create", "realm.create", "realm.update", "role.create", "rule.create", "rule.update",
                       "credential.create", "credential.rotate", "credential.revoke", "role.import", "rule.delete",
                       "role.delete", "realm.delete"] {
            assert!(actions.contains(&action), "{action} missing from {actions:?}");
        }
        assert!(!text.contains(&ticket_secret) && !text.contains(&cra_secret), "secret in audit log");
        assert!(!text.contains(&cra_key), "WAMP-CRA key in audit log");
        assert!(!text.contains("secret_hash") && !text.contains("argon2"), "hash in audit log");
        let first = &log["items"][1];
        assert_eq!(first["actor_kind"], "user");
        assert_eq!(first["actor_label"], "owner@acme.test");
    }

    async fn viewers_read_and_cannot_write(app) {
        let owner = app.signup("owner@v.test", "Viewers").await;
        let realm = app.create_realm(&owner.token, "com.viewers").await;
        let res = app.post("/v1/members", &owner.token, json!({"email": "viewer@v.test", "password": "viewer password", "role": "viewer"})).await;
        let viewer_id = res.expect(201)["user_id"].as_str().unwrap().to_string();
        let viewer = session_of(app.login("viewer@v.test", "viewer password").await.expect(200));
        assert_eq!(viewer.tenant_id, owner.tenant_id);
        app.get("/v1/realms", &viewer.token).await.expect(200);
        app.get(&format!("/v1/realms/{realm}"), &viewer.token).await.expect(200);
        app.post("/v1/realms", &viewer.token, json!({"uri": "com.viewers.x"})).await.expect_problem(403, "forbidden");
        app.post(&format!("/v1/realms/{realm}/roles"), &viewer.token, json!({"name": "x"})).await.expect_problem(403, "forbidden");
        app.post("/v1/api-keys", &viewer.token, json!({"name": "x", "scopes": ["realms:read"]})).await.expect_problem(403, "forbidden");
        app.post("/v1/members", &viewer.token, json!({"email": "x@v.test", "password": "viewer password", "role": "owner"})).await.expect_problem(403, "forbidden");
        // Removing the member ends their access at once, even with a valid token.
        app.delete(&format!("/v1/members/{viewer_id}"), &owner.token).await.expect(204);
        app.get("/v1/realms", &viewer.token).await.expect_problem(401, "unauthorized");
        // The last owner stays.
        app.delete(&format!("/v1/members/{}", owner.user_id), &owner.token).await.expect_problem(409, "conflict");
    }
}
