//! The OpenAPI document matches the routes.
//!
//! The document is generated from the handlers (utoipa-axum registers a handler's route and
//! its `#[utoipa::path]` together, so no route is served undocumented, except
//! `/v1/openapi.json` itself). This test checks the other direction against the live server:
//! the document parses as OpenAPI 3.1 (oas3), every `$ref` resolves, and every documented
//! operation exists on the server (never a 405 or a "no such route" 404) and answers a status
//! the document lists for it.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "$ref" {
                    if let Some(s) = v.as_str() {
                        out.push(s.to_string());
                    }
                } else {
                    refs(v, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

both! {
    async fn the_document_matches_the_routes(app) {
        let s = app.signup("o@openapi.test", "OpenAPI").await;
        let res = app.raw(app.client.get(app.url("/v1/openapi.json"))).await;
        let doc = res.expect(200).clone();
        let text = doc.to_string();
        let spec = oas3::from_json(&text).expect("the document is an OpenAPI 3.1 document");
        spec.validate_version().expect("supported OpenAPI version");

        // Every reference resolves.
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(!all.is_empty());
        for r in &all {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("unexpected $ref {r}"));
            assert!(doc["components"]["schemas"][name].is_object(), "{r} does not resolve");
        }

        // Every documented operation is served, and answers a documented status.
        let mut count = 0;
        for (path, method, op) in spec.operations() {
            count += 1;
            let concrete = path.split('/').map(|seg| if seg.starts_with('{') { "x_none" } else { seg }).collect::<Vec<_>>().join("/");
            let method = Method::from_bytes(method.as_str().as_bytes()).unwrap();
            let body = matches!(method, Method::POST | Method::PATCH | Method::PUT).then(|| json!({}));
            let res = app.request(method.clone(), &concrete, Some(&s.token), body).await;
            let status = res.status.as_u16();
            assert_ne!(status, 405, "{method} {path} is documented but not routed");
            assert_ne!(res.body["type"], "https://junction.dev/problems/no-such-route", "{method} {path} is documented but not routed");
            assert!(status < 500, "{method} {path}: {status} {:#}", res.body);
            let documented = op.responses(&spec);
            assert!(documented.contains_key(&status.to_string()), "{method} {path} answered {status}, documented: {:?}", documented.keys().collect::<Vec<_>>());
            if status >= 400 {
                let ct = res.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
                assert!(ct.starts_with("application/problem+json"), "{method} {path}: {ct}");
            }
        }
        assert!(count >= 30, "only {count} operations documented");
    }
}
