//! API keys: scopes limit what a key may do; revocation and rotation act at once.

use serde_json::json;

use crate::helpers::*;

both! {
    async fn scopes_limit_what_a_key_may_do(app) {
        let s = app.signup("k@keys.test", "Keys").await;
        let realm = app.create_realm(&s.token, "com.keys").await;
        app.create_role(&s.token, &realm, "r").await;
        let (_, reader) = app.create_api_key(&s.token, &["realms:read"]).await;
        assert!(reader.starts_with("jk_"));

        // Reads what its scope allows.
        app.get("/v1/realms", &reader).await.expect(200);
        app.get(&format!("/v1/realms/{realm}/roles"), &reader).await.expect(200);
        let me = app.get("/v1/me", &reader).await;
        assert_eq!(me.expect(200)["scopes"], json!(["realms:read"]));
        // And nothing else.
        app.post("/v1/realms", &reader, json!({"uri": "com.keys.x"})).await.expect_problem(403, "forbidden");
        app.get(&format!("/v1/realms/{realm}/credentials"), &reader).await.expect_problem(403, "forbidden");
        app.post(&format!("/v1/realms/{realm}/tokens"), &reader, json!({"authid": "a", "role": "r"})).await.expect_problem(403, "forbidden");
        app.get("/v1/audit-log", &reader).await.expect_problem(403, "forbidden");
        // Keys never manage keys or members.
        app.get("/v1/api-keys", &reader).await.expect_problem(403, "forbidden");
        app.post("/v1/api-keys", &reader, json!({"name": "x", "scopes": ["realms:read"]})).await.expect_problem(403, "forbidden");

        // A key with write scopes does the automation work.
        let (_, writer) = app.create_api_key(&s.token, &["realms:write", "realms:read", "credentials:write", "tokens:create", "audit:read"]).await;
        let res = app.post("/v1/realms", &writer, json!({"uri": "com.keys.auto"})).await;
        let auto = id(res.expect(201));
        app.post(&format!("/v1/realms/{auto}/roles"), &writer, json!({"name": "svc"})).await.expect(201);
        let res = app.post(&format!("/v1/realms/{auto}/credentials"), &writer, json!({"kind": "ticket", "authid": "svc1", "role": "svc"})).await;
        res.expect(201);
        app.post(&format!("/v1/realms/{auto}/tokens"), &writer, json!({"authid": "b", "role": "svc"})).await.expect(200);
        // The audit log names the key.
        let log = app.get("/v1/audit-log?limit=200", &writer).await;
        let entry = log.expect(200)["items"].as_array().unwrap().iter().find(|e| e["action"] == "realm.create" && e["target_id"] == auto.as_str()).cloned().unwrap();
        assert_eq!(entry["actor_kind"], "api_key");
        assert!(entry["actor_label"].as_str().unwrap().contains("jk_"));
    }

    async fn revoked_and_rotated_keys_stop_working(app) {
        let s = app.signup("k@keys.test", "Keys").await;
        let (key_id, key) = app.create_api_key(&s.token, &["realms:read"]).await;
        app.get("/v1/realms", &key).await.expect(200);
        // Listed with its prefix and last use, never the secret.
        let res = app.get("/v1/api-keys", &s.token).await;
        let listed = res.expect(200)["items"][0].clone();
        assert!(key.starts_with(&format!("jk_{}_", listed["prefix"].as_str().unwrap())));
        assert!(listed["last_used_at"].is_string());
        assert!(!res.body.to_string().contains(&key));

        // Rotation: the old key is refused, the new one works.
        let res = app.post(&format!("/v1/api-keys/{key_id}/rotate"), &s.token, json!({})).await;
        let rotated = res.expect(200)["key"].as_str().unwrap().to_string();
        app.get("/v1/realms", &key).await.expect_problem(401, "unauthorized");
        app.get("/v1/realms", &rotated).await.expect(200);

        // Revocation.
        let res = app.delete(&format!("/v1/api-keys/{key_id}"), &s.token).await;
        assert!(res.expect(200)["revoked_at"].is_string());
        app.get("/v1/realms", &rotated).await.expect_problem(401, "unauthorized");
        app.post(&format!("/v1/api-keys/{key_id}/rotate"), &s.token, json!({})).await.expect_problem(409, "conflict");

        // Garbage keys.
        for bad in ["jk_", "jk_nope_nope", "jk_x", "not-a-jwt"] {
            app.get("/v1/realms", bad).await.expect_problem(401, "unauthorized");
        }
        // A key with a right prefix and a wrong secret.
        let (_, good) = app.create_api_key(&s.token, &["realms:read"]).await;
        let forged = format!("{}_{}", &good[..good.rfind('_').unwrap()], "A".repeat(43));
        let forged = if forged == good { format!("{good}x") } else { forged };
        app.get("/v1/realms", &forged).await.expect_problem(401, "unauthorized");
        app.get("/v1/realms", &good).await.expect(200);

        let res = app.post("/v1/api-keys", &s.token, json!({"name": "x", "scopes": ["realms:read", "everything"]})).await;
        res.expect_problem(422, "validation");
        assert_eq!(res.fields(), ["scopes[1]"]);
    }
}
