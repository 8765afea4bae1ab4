//! Cursor pagination: pages in creation order, no item twice, none left out.

use serde_json::json;

use crate::helpers::*;

async fn collect(app: &TestApp, path: &str, token: &str, limit: u32) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
            None => format!("{path}{sep}limit={limit}"),
        };
        let res = app.get(&url, token).await;
        let body = res.expect(200);
        let items = body["items"].as_array().unwrap();
        assert!(items.len() <= limit as usize);
        ids.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_string()));
        pages += 1;
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 100, "pagination does not end");
    }
    (ids, pages)
}

both! {
    async fn realms_page_in_creation_order(app) {
        let s = app.signup("p@page.test", "Pages").await;
        let mut created = Vec::new();
        for i in 0..7 {
            created.push(app.create_realm(&s.token, &format!("com.page.r{i}")).await);
        }
        let (ids, pages) = collect(&app, "/v1/realms", &s.token, 3).await;
        assert_eq!(ids, created);
        assert_eq!(pages, 3);
        let (ids, pages) = collect(&app, "/v1/realms", &s.token, 7).await;
        assert_eq!((ids.len(), pages), (7, 1));
        let res = app.get("/v1/realms", &s.token).await;
        assert!(res.expect(200)["next_cursor"].is_null());
    }

    async fn rules_and_audit_log_page(app) {
        let s = app.signup("p@page.test", "Pages").await;
        let realm = app.create_realm(&s.token, "com.page").await;
        let role = app.create_role(&s.token, &realm, "r").await;
        let mut created = Vec::new();
        for i in 0..12 {
            created.push(app.create_rule(&s.token, &realm, &role, &format!("com.page.p{i}"), "exact").await);
        }
        let (ids, pages) = collect(&app, &format!("/v1/realms/{realm}/roles/{role}/rules"), &s.token, 5).await;
        assert_eq!(ids, created);
        assert_eq!(pages, 3);
        // tenant.create + realm.create + role.create + 12 rule.create
        let (ids, _) = collect(&app, "/v1/audit-log", &s.token, 4).await;
        assert_eq!(ids.len(), 15);
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        // A cursor from one list used on another just continues after that id: harmless.
        let res = app.get(&format!("/v1/realms/{realm}/credentials?limit=2"), &s.token).await;
        assert_eq!(res.expect(200)["items"], json!([]));
    }
}
