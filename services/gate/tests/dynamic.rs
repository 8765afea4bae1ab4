//! Dynamic authenticator and authorizer: procedures a tenant's backend component registers,
//! called by the router (same realm, or another realm of the same tenant, never another
//! tenant's).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use junction_gate::{DynamicProcedure, GateConfig};
use junction_protocol::Value;
use serde_json::json;

fn dyn_config() -> GateConfig {
    test_gate_config()
        .with_authenticator("com.dyn", DynamicProcedure::new("com.dyn.auth.authenticate"))
        .with_authorizer("com.dyn", "user", DynamicProcedure::new("com.dyn.auth.authorize"))
        .with_authenticator("com.dyn.front", DynamicProcedure::new("com.dyn.auth.authenticate").in_realm("com.dyn"))
        .with_authenticator("com.evil", DynamicProcedure::new("com.dyn.auth.authenticate").in_realm("com.dyn"))
}

/// The backend component: a ticket principal allowed to register the hooks, serving them.
async fn backend(env: &Env, owner: &Owner, realm: &str, calls: Arc<AtomicUsize>) -> tokio::task::JoinHandle<()> {
    let role = env.role(owner, realm, "backend").await;
    env.rule(owner, realm, &role, "com.dyn.auth.", "prefix", json!({"register": true}), json!({})).await;
    env.credential(owner, realm, json!({"kind": "ticket", "authid": "hooks", "role": "backend", "secret": "hooks-secret-123456"})).await;
    let (mut c, j) = Client::join_ticket(&env.ws, "com.dyn", "ticket", Some("hooks"), "hooks-secret-123456").await;
    j.welcome();
    c.register("com.dyn.auth.authenticate").await.unwrap();
    c.register("com.dyn.auth.authorize").await.unwrap();
    c.serve(move |args, _details| {
        // authenticate(realm, authid, details) | authorize(session, uri, action, options)
        if let (Some(Value::String(realm)), Some(Value::String(authid)), Some(Value::Dict(details))) = (args.first(), args.get(1), args.get(2)) {
            let ticket = details.get("ticket").and_then(Value::as_str).unwrap_or_default();
            if ticket == format!("letmein-{authid}") {
                let extra = Value::dict([("realm_seen", Value::from(realm.as_str()))]);
                return Ok(vec![Value::dict([("role", Value::from("user")), ("extra", extra)])]);
            }
            return Err("com.dyn.invalid_ticket".into());
        }
        calls.fetch_add(1, Ordering::SeqCst);
        let (Some(Value::Dict(session)), Some(Value::String(uri)), Some(Value::String(action))) = (args.first(), args.get(1), args.get(2)) else {
            return Err("com.dyn.bad_request".into());
        };
        assert_eq!(session["authrole"], Value::from("user"));
        if uri.starts_with("com.dyn.open.") {
            Ok(vec![Value::Bool(true)])
        } else if uri.starts_with("com.dyn.cached.") && action == "subscribe" {
            Ok(vec![Value::dict([("allow", Value::Bool(true)), ("cache", Value::Bool(true))])])
        } else {
            Ok(vec![Value::Bool(false)])
        }
    })
}

both! {
    async fn dynamic_authenticator_and_authorizer(env) with dyn_config(); {
        let owner = env.signup("owner@dyn.test", "Dyn").await;
        let realm = env.realm(&owner, json!({"uri": "com.dyn"})).await;
        let user_role = env.role(&owner, &realm, "user").await;
        let calls = Arc::new(AtomicUsize::new(0));
        let _hooks = backend(&env, &owner, &realm, calls.clone()).await;

        // Authenticated by the tenant's procedure.
        let (mut c, j) = Client::join_ticket(&env.ws, "com.dyn", "ticket", Some("joe"), "letmein-joe").await;
        let (_, details) = j.welcome();
        assert_eq!(details["authid"], Value::from("joe"));
        assert_eq!(details["authrole"], Value::from("user"));
        assert_eq!(details["authprovider"], Value::from("dynamic"));
        assert_eq!(details["authextra"].get("realm_seen"), Some(&Value::from("com.dyn")));
        let (_, j) = Client::join_ticket(&env.ws, "com.dyn", "ticket", Some("joe"), "nope").await;
        assert_eq!(j.abort(), ("wamp.error.authentication_failed".into(), "authentication failed".into()));

        // Authorized by the tenant's procedure, not by the role's (empty) rules.
        c.subscribe("com.dyn.open.a").await.unwrap();
        c.publish("com.dyn.open.a", vec![]).await.unwrap();
        assert_eq!(c.subscribe("com.dyn.closed").await.unwrap_err(), "wamp.error.not_authorized");
        assert_eq!(c.call("com.dyn.closed", vec![]).await.unwrap_err(), "wamp.error.not_authorized");
        assert_eq!(c.register("com.dyn.closed").await.unwrap_err(), "wamp.error.not_authorized");
        let before = calls.load(Ordering::SeqCst);
        assert_eq!(before, 5);
        // Not cached: asked again each time.
        c.subscribe("com.dyn.open.b").await.unwrap();
        c.subscribe("com.dyn.open.b").await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), before + 2);
        // cache: true -> asked once per (role, uri, action) ...
        c.subscribe("com.dyn.cached.x").await.unwrap();
        c.subscribe("com.dyn.cached.x").await.unwrap();
        let (mut c2, j) = Client::join_ticket(&env.ws, "com.dyn", "ticket", Some("ann"), "letmein-ann").await;
        j.welcome();
        c2.subscribe("com.dyn.cached.x").await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), before + 3);
        // ... until the role changes.
        env.rule(&owner, &realm, &user_role, "com.dyn.nothing", "exact", json!({}), json!({})).await;
        let mut asked_again = false;
        for _ in 0..100 {
            c.subscribe("com.dyn.cached.x").await.unwrap();
            if calls.load(Ordering::SeqCst) > before + 3 {
                asked_again = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(asked_again, "cached dynamic decision survived a role change");
    }

    async fn dynamic_authenticator_in_another_realm_of_the_same_tenant_only(env) with dyn_config(); {
        let owner = env.signup("owner@dyn2.test", "Dyn2").await;
        let realm = env.realm(&owner, json!({"uri": "com.dyn"})).await;
        let front = env.realm(&owner, json!({"uri": "com.dyn.front"})).await;
        env.role(&owner, &front, "user").await;
        let _hooks = backend(&env, &owner, &realm, Arc::new(AtomicUsize::new(0))).await;
        let (_, j) = Client::join_ticket(&env.ws, "com.dyn.front", "ticket", Some("kim"), "letmein-kim").await;
        let (_, details) = j.welcome();
        assert_eq!(details["authrole"], Value::from("user"));
        assert_eq!(details["authextra"].get("realm_seen"), Some(&Value::from("com.dyn.front")));

        // Another tenant naming this tenant's procedure gets nothing from it.
        let evil = env.signup("evil@evil.test", "Evil").await;
        let evil_realm = env.realm(&evil, json!({"uri": "com.evil"})).await;
        env.role(&evil, &evil_realm, "user").await;
        let (_, j) = Client::join_ticket(&env.ws, "com.evil", "ticket", Some("kim"), "letmein-kim").await;
        assert_eq!(j.abort().0, "wamp.error.authentication_failed");
    }
}

/// Only an operator override the store must win over: it names a procedure nobody serves.
fn bogus_override() -> GateConfig {
    test_gate_config().with_authenticator("com.dyn", DynamicProcedure::new("com.dyn.auth.nobody"))
}

both! {
    async fn dynamic_authenticator_and_authorizer_set_through_the_admin_api(env) with bogus_override(); {
        let owner = env.signup("owner@dynapi.test", "DynApi").await;
        // Set at creation: the realm's authenticator and the role's authorizer, same realm.
        let realm = env.realm(&owner, json!({"uri": "com.dyn", "authenticator": {"procedure": "com.dyn.auth.authenticate"}})).await;
        let body = env.post(&owner, &format!("/v1/realms/{realm}/roles"), json!({"name": "user", "authorizer": {"procedure": "com.dyn.auth.authorize"}})).await;
        let user_role = id(&body);
        let calls = Arc::new(AtomicUsize::new(0));
        let _hooks = backend(&env, &owner, &realm, calls.clone()).await;

        let (mut c, j) = Client::join_ticket(&env.ws, "com.dyn", "ticket", Some("joe"), "letmein-joe").await;
        let (_, details) = j.welcome();
        assert_eq!(details["authrole"], Value::from("user"));
        assert_eq!(details["authprovider"], Value::from("dynamic"));
        let (_, j) = Client::join_ticket(&env.ws, "com.dyn", "ticket", Some("joe"), "nope").await;
        assert_eq!(j.abort().0, "wamp.error.authentication_failed");
        c.subscribe("com.dyn.open.a").await.unwrap();
        assert_eq!(c.subscribe("com.dyn.closed").await.unwrap_err(), "wamp.error.not_authorized");
        assert_eq!(calls.load(Ordering::SeqCst), 2);

        // Set by PATCH, in another realm of the tenant.
        let front = env.realm(&owner, json!({"uri": "com.dyn.front"})).await;
        let front_user = env.role(&owner, &front, "user").await;
        env.patch(&owner, &format!("/v1/realms/{front}"), json!({"authenticator": {"procedure": "com.dyn.auth.authenticate", "realm": "com.dyn"}})).await;
        env.patch(&owner, &format!("/v1/realms/{front}/roles/{front_user}"), json!({"authorizer": {"procedure": "com.dyn.auth.authorize", "realm": "com.dyn"}})).await;
        let mut joined = None;
        for _ in 0..100 {
            let (f, j) = Client::join_ticket(&env.ws, "com.dyn.front", "ticket", Some("kim"), "letmein-kim").await;
            if let Joined::Welcome { details, .. } = &j {
                assert_eq!(details["authextra"].get("realm_seen"), Some(&Value::from("com.dyn.front")));
                joined = Some(f);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let mut f = joined.expect("the PATCHed authenticator was never used");
        f.subscribe("com.dyn.open.front").await.unwrap();
        assert_eq!(f.subscribe("com.dyn.closed").await.unwrap_err(), "wamp.error.not_authorized");

        // Cleared: the role's rules apply again (none: everything denied) on the live session.
        env.patch(&owner, &format!("/v1/realms/{realm}/roles/{user_role}"), json!({"authorizer": null})).await;
        let mut denied = false;
        for _ in 0..100 {
            if c.subscribe("com.dyn.open.c").await.is_err() {
                denied = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(denied, "the cleared authorizer still answered");
        // Cleared authenticator: the operator's override (a procedure nobody serves) applies.
        env.patch(&owner, &format!("/v1/realms/{realm}"), json!({"authenticator": null})).await;
        let mut refused = false;
        for _ in 0..100 {
            let (_, j) = Client::join_ticket(&env.ws, "com.dyn", "ticket", Some("joe"), "letmein-joe").await;
            if matches!(j, Joined::Abort { .. }) {
                refused = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(refused, "the cleared authenticator still admitted");
    }
}
