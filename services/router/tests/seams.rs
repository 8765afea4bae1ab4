//! The seams later issues plug into: a swapped authorizer and realm provider, router-side
//! publish and call, and killing sessions by identity.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use junction_protocol::{Dict, Message, Payload, Serializer, Value, dict};
use junction_router::authz::{Action, Authorization, Authorizer, Permission, SessionIdentity};
use junction_router::realm::{ProviderError, RealmConfig, RealmProvider};
use junction_router::{CallError, Router};

/// Denies everything under `com.secret`, discloses the caller/publisher under `com.open`;
/// answers `com.slowauth` through the `Pending` path.
struct TestAuthorizer;

impl Authorizer for TestAuthorizer {
    fn authorize<'a>(&'a self, _s: &'a SessionIdentity, uri: &'a str, _a: Action) -> Authorization<'a> {
        if uri.starts_with("com.slowauth") {
            return Authorization::Pending(Box::pin(async { tokio::task::yield_now().await; Permission::DENY }));
        }
        Authorization::Ready(Permission { allow: !uri.starts_with("com.secret"), disclose: uri.starts_with("com.open") })
    }
}

/// Every realm whose URI starts with `tenant.` exists, owned by tenant "t".
struct PrefixProvider;

#[async_trait]
impl RealmProvider for PrefixProvider {
    async fn realm(&self, uri: &str) -> Result<Option<RealmConfig>, ProviderError> {
        Ok(uri.starts_with("tenant.").then(|| RealmConfig { uri: uri.into(), tenant: "t".into(), anonymous_role: Some("guest".into()) }))
    }
}

async fn spawn_with(router: Router) -> String {
    let server = router.bind(Some("127.0.0.1:0".parse().unwrap())).await.unwrap();
    let url = server.ws_url();
    tokio::spawn(server.run());
    url
}

#[tokio::test]
async fn authorizer_is_consulted_for_every_action() {
    let router = Router::builder().config(base_config()).authorizer(Arc::new(TestAuthorizer)).build();
    let url = spawn_with(router).await;
    let (mut c, id, _) = Client::join(&url, Serializer::Json).await;
    let denied = |m: &Message| matches!(m, Message::Error { error, .. } if error == "wamp.error.not_authorized");
    assert!(denied(&c.request(&Message::Subscribe { request: 1, options: Dict::new(), topic: "com.secret.t".into() }).await));
    assert!(denied(&c.request(&Message::Register { request: 2, options: Dict::new(), procedure: "com.secret.p".into() }).await));
    assert!(denied(&c.call("com.secret.p", vec![]).await));
    assert!(denied(&c.call("com.slowauth.p", vec![]).await));
    let publish = Message::Publish { request: 3, options: dict([("acknowledge", true)]), topic: "com.secret.t".into(), payload: Payload::default() };
    assert!(denied(&c.request(&publish).await));

    // `disclose` from the authorizer reveals the publisher without disclose_me.
    c.subscribe("com.open.t", Dict::new()).await;
    let (mut p, pid, _) = Client::join(&url, Serializer::Json).await;
    p.request(&Message::Publish { request: 4, options: dict([("acknowledge", true)]), topic: "com.open.t".into(), payload: Payload::default() }).await;
    assert!(matches!(c.recv().await, Some(Message::Event { details, .. }) if details.get("publisher").and_then(Value::as_u64) == Some(pid)));
    let _ = id;
}

#[tokio::test]
async fn realms_come_from_the_provider_on_demand() {
    let router = Router::builder().realm_provider(Arc::new(PrefixProvider)).build();
    let url = spawn_with(router.clone()).await;
    assert!(router.realm("tenant.a").is_none());
    let mut c = Client::connect(&url, Serializer::Json).await;
    c.hello("tenant.a", Dict::new()).await;
    assert!(matches!(c.recv().await, Some(Message::Welcome { details, .. }) if details.get("authrole").and_then(Value::as_str) == Some("guest")));
    assert_eq!(router.realm("tenant.a").unwrap().config().tenant, "t");
    let mut c = Client::connect(&url, Serializer::Json).await;
    c.hello("other", Dict::new()).await;
    c.expect_abort("wamp.error.no_such_realm").await;
}

#[tokio::test]
async fn router_side_call_and_publish() {
    let r = spawn_router(base_config()).await;
    let (mut callee, _, _) = Client::join(&r.url, Serializer::Cbor).await;
    callee.register("com.tenant.authorize", Dict::new()).await;
    callee.subscribe("com.tenant.news", Dict::new()).await;
    let realm = r.router.realm("realm1").unwrap();

    // Publish from the router.
    let publication = realm.publish("com.tenant.news", vec!["hello".into()], Dict::new());
    assert!(matches!(callee.recv().await, Some(Message::Event { publication: p, .. }) if p == publication));

    // Call into the realm and await the result.
    let call = {
        let realm = realm.clone();
        tokio::spawn(async move { realm.call("com.tenant.authorize", Payload::args(vec!["alice".into()]), Duration::from_secs(5)).await })
    };
    let Some(Message::Invocation { request, payload, .. }) = callee.recv().await else { panic!() };
    assert_eq!(payload.args, Some(vec!["alice".into()]));
    callee.send(&Message::Yield { request, options: Dict::new(), payload: Payload::args(vec![true.into()]) }).await;
    assert_eq!(call.await.unwrap(), Ok(Payload::args(vec![true.into()])));

    // Timeout: the callee is interrupted.
    let call = {
        let realm = realm.clone();
        tokio::spawn(async move { realm.call("com.tenant.authorize", Payload::default(), Duration::from_millis(50)).await })
    };
    let Some(Message::Invocation { request, .. }) = callee.recv().await else { panic!() };
    assert_eq!(call.await.unwrap(), Err(CallError::Timeout));
    assert!(matches!(callee.recv().await, Some(Message::Interrupt { request: r, .. }) if r == request));

    // Application errors come back unchanged; unknown procedures fail fast.
    let call = {
        let realm = realm.clone();
        tokio::spawn(async move { realm.call("com.tenant.authorize", Payload::default(), Duration::from_secs(5)).await })
    };
    let Some(Message::Invocation { request, .. }) = callee.recv().await else { panic!() };
    let err_payload = Payload::args(vec!["no".into()]);
    callee
        .send(&Message::Error {
            request_type: junction_protocol::MessageType::Invocation,
            request,
            details: Dict::new(),
            error: "com.tenant.denied".into(),
            payload: err_payload.clone(),
        })
        .await;
    assert_eq!(call.await.unwrap(), Err(CallError::Application { error: "com.tenant.denied".into(), payload: err_payload }));
    assert!(matches!(realm.call("com.none", Payload::default(), Duration::from_secs(1)).await, Err(CallError::NoSuchProcedure(_))));
}

#[tokio::test]
async fn kill_by_authrole_spares_others() {
    let r = spawn_router(base_config()).await;
    let (mut anon, anon_id, _) = Client::join(&r.url, Serializer::Json).await;
    let mut alice = Client::connect(&r.url, Serializer::Json).await;
    alice.hello("realm1", dict([("authmethods", Value::List(vec!["ticket".into()])), ("authid", "alice".into())])).await;
    alice.recv().await;
    alice.send(&Message::Authenticate { signature: "s3cret".into(), extra: Dict::new() }).await;
    assert!(matches!(alice.recv().await, Some(Message::Welcome { .. })));
    assert_eq!(r.router.kill_by_authrole("realm1", "anonymous", "wamp.close.revoked"), vec![anon_id]);
    assert!(matches!(anon.recv().await, Some(Message::Goodbye { .. })));
    // alice is untouched and still served.
    assert!(matches!(alice.call("wamp.session.count", vec![]).await, Message::Result { .. }));
}
