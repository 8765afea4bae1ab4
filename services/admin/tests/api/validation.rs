//! Bad input is a 400 / 413 / 415 / 422 problem with field-level messages, never a 500 and
//! never a plain-text body.

use serde_json::json;

use crate::helpers::*;

both! {
    async fn malformed_and_mistyped_bodies(app) {
        let s = app.signup("v@val.test", "Validation").await;
        // Not JSON at all: 400.
        let res = app.raw(app.client.post(app.url("/v1/realms")).bearer_auth(&s.token).header("content-type", "application/json").body("{\"uri\": ")).await;
        res.expect_problem(400, "bad-request");
        // No JSON content type: 415.
        let res = app.raw(app.client.post(app.url("/v1/realms")).bearer_auth(&s.token).body("{\"uri\": \"a.b\"}")).await;
        res.expect_problem(415, "unsupported-media-type");
        // Unknown field: 422 naming it.
        let res = app.post("/v1/realms", &s.token, json!({"uri": "com.x", "colour": "red"})).await;
        let body = res.expect_problem(422, "validation");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("colour"), "{body:#}");
        // Wrong type: 422 with the field path.
        let res = app.post("/v1/realms", &s.token, json!({"uri": "com.x", "allow_anonymous": "yes"})).await;
        res.expect_problem(422, "validation");
        assert_eq!(res.fields(), ["allow_anonymous"]);
        // Missing field.
        let res = app.post("/v1/realms", &s.token, json!({})).await;
        res.expect_problem(422, "validation");
        // Too large: 413.
        let big = "x".repeat(2 * 1024 * 1024);
        let res = app.post("/v1/realms", &s.token, json!({"uri": big})).await;
        res.expect_problem(413, "payload-too-large");
    }

    async fn invalid_uris_and_match_policies(app) {
        let s = app.signup("v@val.test", "Validation").await;
        for bad in ["", "com..acme", "com.acme.", "com acme", "com.#"] {
            let res = app.post("/v1/realms", &s.token, json!({"uri": bad})).await;
            res.expect_problem(422, "validation");
            assert_eq!(res.fields(), ["uri"], "{bad:?}");
        }
        let realm = app.create_realm(&s.token, "com.val").await;
        let role = app.create_role(&s.token, &realm, "r").await;
        let rules = format!("/v1/realms/{realm}/roles/{role}/rules");
        let res = app.post(&rules, &s.token, json!({"uri": "com.x", "match": "regex"})).await;
        res.expect_problem(422, "validation");
        assert_eq!(res.fields(), ["match"]);
        let res = app.post(&rules, &s.token, json!({"uri": "com..x", "match": "exact"})).await;
        assert_eq!(res.fields(), ["uri"]);
        let res = app.post(&rules, &s.token, json!({"uri": "com.x", "match": "exact", "allow": {"call": true, "fly": true}})).await;
        res.expect_problem(422, "validation");
        assert_eq!(res.fields(), ["allow.fly"]);
        // Wildcards may have empty components, prefixes may end with a dot.
        app.post(&rules, &s.token, json!({"uri": "com..x", "match": "wildcard"})).await.expect(201);
        app.post(&rules, &s.token, json!({"uri": "com.", "match": "prefix"})).await.expect(201);
        // The same uri and match twice: 409.
        let res = app.post(&rules, &s.token, json!({"uri": "com.", "match": "prefix"})).await;
        res.expect_problem(409, "conflict");
        assert_eq!(res.fields(), ["uri"]);
        // Import errors name the field inside the array.
        let res = app.post(&format!("/v1/realms/{realm}/roles/import"), &s.token, json!([
            {"name": "ok", "permissions": [{"uri": "a.b", "match": "prefix"}]},
            {"name": "bad", "permissions": [{"uri": "a b", "match": "exact"}]}
        ])).await;
        res.expect_problem(422, "validation");
        assert_eq!(res.fields(), ["roles[1].permissions[0].uri"]);
        let res = app.post(&format!("/v1/realms/{realm}/roles/import"), &s.token, json!({"roles": [{"name": "x", "permissions": [{"uri": "a", "match": "glob"}]}]})).await;
        assert_eq!(res.fields(), ["roles[0].permissions[0].match"]);
    }

    async fn uri_messages_say_what_and_where(app) {
        let s = app.signup("v@val.test", "Validation").await;
        let message = |res: &Res| res.body["errors"][0]["message"].as_str().unwrap_or_default().to_string();
        let res = app.post("/v1/realms", &s.token, json!({"uri": "com..acme"})).await;
        res.expect_problem(422, "validation");
        assert_eq!(message(&res), "must be dot-separated non-empty components (component 2 of 3 is empty)");
        let res = app.post("/v1/realms", &s.token, json!({"uri": "com.ac me"})).await;
        assert_eq!(message(&res), "must not contain whitespace or '#' (found ' ' at byte 6)");
        let res = app.post("/v1/realms", &s.token, json!({"uri": ""})).await;
        assert_eq!(message(&res), "must not be empty");
        let res = app.post("/v1/realms", &s.token, json!({"uri": "x".repeat(256)})).await;
        assert_eq!(message(&res), "must be at most 255 bytes long");

        let realm = app.create_realm(&s.token, "com.val").await;
        let role = app.create_role(&s.token, &realm, "r").await;
        let rules = format!("/v1/realms/{realm}/roles/{role}/rules");
        let res = app.post(&rules, &s.token, json!({"uri": "com..x", "match": "prefix"})).await;
        assert_eq!(res.fields(), ["uri"]);
        assert_eq!(message(&res), "must not have empty components (except a trailing dot) for match 'prefix' (component 2 of 3 is empty)");
        let res = app.post(&rules, &s.token, json!({"uri": "", "match": "exact"})).await;
        assert!(message(&res).contains("\"\" with match 'prefix' matches every URI"), "{}", message(&res));
        // The empty prefix is Crossbar.io's "everything".
        app.post(&rules, &s.token, json!({"uri": "", "match": "prefix"})).await.expect(201);
        // PATCH checks the combination it would store.
        let id = app.create_rule(&s.token, &realm, &role, "com.x.", "prefix").await;
        let res = app.patch(&format!("{rules}/{id}"), &s.token, json!({"match": "exact"})).await;
        res.expect_problem(422, "validation");
        assert_eq!(message(&res), "must be dot-separated non-empty components for match 'exact' (component 3 of 3 is empty; empty components are wildcards with match 'wildcard')");
    }

    async fn crossbar_imports_read_as_crossbar_reads_them(app) {
        let s = app.signup("v@val.test", "Validation").await;
        let realm = app.create_realm(&s.token, "com.val").await;
        let import = format!("/v1/realms/{realm}/roles/import");
        // A realm object as copied from a config.json, with the legacy `*` forms.
        let res = app.post(&import, &s.token, json!({"name": "realm1", "roles": [
            {"name": "anonymous", "permissions": [{"uri": "*", "allow": {"subscribe": true}}]},
            {"name": "frontend", "permissions": [{"uri": "com.val.*", "match": "prefix", "allow": {"call": true}}]}
        ]})).await;
        let body = res.expect(200);
        assert_eq!(body["roles"][0]["rules"][0]["uri"], "");
        assert_eq!(body["roles"][0]["rules"][0]["match"], "prefix");
        assert_eq!(body["roles"][1]["rules"][0]["uri"], "com.val.");
        // A trailing `*` under `exact` would silently become a prefix in Crossbar.io: refused.
        let res = app.post(&import, &s.token, json!([{"name": "a", "permissions": [{"uri": "com.val.*", "match": "exact"}]}])).await;
        res.expect_problem(422, "validation");
        assert_eq!(res.fields(), ["roles[0].permissions[0].uri"]);
        // The old format, a dynamic authorizer, a whole config.json: named, not guessed.
        for (body, field) in [
            (json!([{"name": "a", "permissions": [{"uri": "x", "publish": true}]}]), "roles[0].permissions[0].publish"),
            (json!([{"name": "a", "authorizer": "com.val.authorize"}]), "roles[0].authorizer"),
            (json!({"version": 2, "workers": [{"type": "router", "realms": []}]}), "roles"),
        ] {
            let res = app.post(&import, &s.token, body.clone()).await;
            res.expect_problem(422, "validation");
            assert_eq!(res.fields(), [field], "{body}");
        }
        // Nothing of the refused imports was stored.
        let roles = app.get(&format!("/v1/realms/{realm}/roles"), &s.token).await;
        assert_eq!(roles.expect(200)["items"].as_array().unwrap().len(), 2);
    }

    async fn credential_fields_per_kind(app) {
        let s = app.signup("v@val.test", "Validation").await;
        let realm = app.create_realm(&s.token, "com.val").await;
        app.create_role(&s.token, &realm, "r").await;
        let creds = format!("/v1/realms/{realm}/credentials");
        let cases = [
            (json!({"kind": "cryptosign", "authid": "a", "role": "r"}), "public_key"),
            (json!({"kind": "cryptosign", "authid": "a", "role": "r", "public_key": "xyz"}), "public_key"),
            (json!({"kind": "ticket", "authid": "a", "role": "r", "public_key": "00"}), "public_key"),
            (json!({"kind": "ticket", "authid": "a", "role": "r", "secret": "short"}), "secret"),
            (json!({"kind": "jwt", "authid": "a", "role": "r"}), "algorithm"),
            (json!({"kind": "jwt", "authid": "a", "role": "r", "algorithm": "RS256", "public_key": "not a pem"}), "public_key"),
            (json!({"kind": "wampcra", "authid": "a", "role": "r", "iterations": 0}), "iterations"),
            (json!({"kind": "ticket", "authid": "a b", "role": "r"}), "authid"),
            (json!({"kind": "ticket", "authid": "a", "role": "missing"}), "role"),
            (json!({"kind": "password", "authid": "a", "role": "r"}), "kind"),
        ];
        for (body, field) in cases {
            let res = app.post(&creds, &s.token, body.clone()).await;
            res.expect_problem(422, "validation");
            assert_eq!(res.fields(), [field], "{body}");
        }
    }

    async fn signup_and_queries(app) {
        let res = app.request(reqwest::Method::POST, "/v1/signup", None, Some(json!({"email": "nope", "password": "short", "tenant_name": ""}))).await;
        res.expect_problem(422, "validation");
        assert_eq!(res.fields(), ["email", "password", "tenant_name"]);
        let s = app.signup("dup@val.test", "Dup").await;
        let res = app.request(reqwest::Method::POST, "/v1/signup", None, Some(json!({"email": "DUP@val.test", "password": "correct horse battery", "tenant_name": "Other"}))).await;
        res.expect_problem(409, "conflict");
        assert_eq!(res.fields(), ["email"]);
        let res = app.request(reqwest::Method::POST, "/v1/signup", None, Some(json!({"email": "x@val.test", "password": "correct horse battery", "tenant_name": "Other", "tenant_slug": "dup"}))).await;
        res.expect_problem(409, "conflict");
        assert_eq!(res.fields(), ["tenant_slug"]);
        // Query strings.
        for (q, field) in [("limit=0", "limit"), ("limit=abc", "limit"), ("cursor=%%%", ""), ("cursor=bm9wZQ", "cursor"), ("colour=red", "")] {
            let res = app.get(&format!("/v1/realms?{q}"), &s.token).await;
            assert!(matches!(res.status.as_u16(), 400 | 422), "{q}: {:?}", res.status);
            if !field.is_empty() {
                assert_eq!(res.fields(), [field], "{q}");
            }
        }
    }

    async fn unknown_routes_and_methods_are_problems(app) {
        let s = app.signup("v@val.test", "Validation").await;
        app.get("/v1/nope", &s.token).await.expect_problem(404, "no-such-route");
        app.request(reqwest::Method::PUT, "/v1/realms", Some(&s.token), None).await.expect_problem(405, "method-not-allowed");
        // An id that does not exist is an object 404, not a route 404.
        app.get("/v1/realms/rlm_nope", &s.token).await.expect_problem(404, "not-found");
        // The document is served.
        let res = app.raw(app.client.get(app.url("/v1/openapi.json"))).await;
        assert_eq!(res.expect(200)["openapi"].as_str().map(|v| v.starts_with("3.")), Some(true));
    }
}
