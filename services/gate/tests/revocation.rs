//! What closes live sessions: revoking a JWT signing key (credential of kind `jwt`) closes the
//! sessions that joined with tokens it signed, and only those; the gate's memory of which key a
//! session used is pruned as sessions leave; after the change feed reported `Lagged`, live
//! sessions are re-checked against the store (revoked credentials and keys, deleted roles and
//! realms close their sessions); a session between authentication and join when its credential
//! (or key) is revoked is refused (ABORT) or closed right after joining, and one that joins with
//! a rotated credential of the same authid is not.

mod common;

use std::time::Duration;

use common::*;
use junction_auth::cryptosign::{self, CryptosignChallenge};
use junction_changefeed::{Change, ChangeFeed, Received};
use junction_gate::{GateConfig, REASON_CREDENTIAL_REVOKED, REASON_REALM_DELETED, REASON_ROLE_DELETED};
use junction_protocol::{Dict, Id, Message, Value};
use serde_json::json;

fn mint(secret: &str, kid: &str, claims: serde_json::Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

fn exp() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 600
}

async fn join_jwt(env: &Env, realm: &str, token: &str) -> (Client, Id) {
    let (c, j) = Client::join_ticket(&env.ws, realm, "ticket", None, token).await;
    let (session, details) = j.welcome();
    assert_eq!(details["authmethod"], Value::from("jwt"));
    (c, session)
}

async fn join_ticket(env: &Env, realm: &str, authid: &str, secret: &str) -> Client {
    let (c, j) = Client::join_ticket(&env.ws, realm, "ticket", Some(authid), secret).await;
    j.welcome();
    c
}

async fn join_cryptosign(env: &Env, realm: &str, authid: &str, key: &ed25519_dalek::SigningKey) -> Client {
    let mut c = env.client().await;
    c.hello(realm, hello_details(&["cryptosign"], Some(authid), Dict::new())).await;
    let (method, extra) = c.challenge().await;
    assert_eq!(method, "cryptosign");
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(extra["challenge"].as_str().unwrap(), &mut bytes).unwrap();
    c.authenticate(&cryptosign::sign(key, &CryptosignChallenge::from_bytes(bytes), None)).await;
    c.joined().await.welcome();
    c
}

/// Tenant `name` with realm `com.<name>`, a role `user`, a ticket credential of `alice` in it
/// and a session of that credential.
struct Alice {
    owner: Owner,
    realm: String,
    uri: String,
    credential: String,
    secret: String,
    first: Client,
}

async fn alice_joined(env: &Env, name: &str) -> Alice {
    let lower = name.to_lowercase();
    let owner = env.signup(&format!("owner@{lower}.test"), name).await;
    let uri = format!("com.{lower}");
    let realm = env.realm(&owner, json!({"uri": uri})).await;
    env.role(&owner, &realm, "user").await;
    let (credential, secret, _) = env.credential(&owner, &realm, json!({"kind": "ticket", "authid": "alice", "role": "user"})).await;
    let secret = secret.unwrap();
    let first = join_ticket(env, &uri, "alice", &secret).await;
    Alice { owner, realm, uri, credential, secret, first }
}

/// Bindings of departed sessions are dropped by the first prune (no grace period).
fn no_grace() -> GateConfig {
    GateConfig { session_grace: Duration::ZERO, ..test_gate_config() }
}

both! {
    async fn revoking_a_jwt_key_closes_the_sessions_of_its_tokens(env) with no_grace(); {
        let owner = env.signup("owner@jwtrev.test", "JwtRev").await;
        let realm = env.realm(&owner, json!({"uri": "com.jwtrev"})).await;
        let partner = env.role(&owner, &realm, "partner").await;
        env.rule(&owner, &realm, &partner, "com.jwtrev.", "prefix", json!({"publish": true}), json!({})).await;
        let watcher = env.role(&owner, &realm, "watcher").await;
        env.rule(&owner, &realm, &watcher, "wamp.session.on_leave", "exact", json!({"subscribe": true}), json!({})).await;
        let (idp, idp_key, _) = env.credential(&owner, &realm, json!({"kind": "jwt", "authid": "idp", "role": "partner", "algorithm": "HS256"})).await;
        let (_, idp2_key, _) = env.credential(&owner, &realm, json!({"kind": "jwt", "authid": "idp2", "role": "partner", "algorithm": "HS256"})).await;
        let (spare, _, _) = env.credential(&owner, &realm, json!({"kind": "jwt", "authid": "spare", "role": "partner", "algorithm": "HS256"})).await;
        let (marker, marker_secret, _) = env.credential(&owner, &realm, json!({"kind": "ticket", "authid": "marker", "role": "partner"})).await;
        let (idp_key, idp2_key) = (idp_key.unwrap(), idp2_key.unwrap());

        // The token's subject is not the key's authid: only the gate knows which key signed.
        let (mut a, _) = join_jwt(&env, "com.jwtrev", &mint(&idp_key, "idp", json!({"sub": "partner-1", "aud": "com.jwtrev", "exp": exp()}))).await;
        let (mut b, b_id) = join_jwt(&env, "com.jwtrev", &mint(&idp_key, "idp", json!({"sub": "partner-2", "aud": "com.jwtrev", "exp": exp()}))).await;
        // Same subject as `a`, another key: must survive.
        let (mut c, _) = join_jwt(&env, "com.jwtrev", &mint(&idp2_key, "idp2", json!({"sub": "partner-1", "aud": "com.jwtrev", "exp": exp()}))).await;
        // Realm client tokens (POST .../tokens) come from no credential: not remembered.
        let t = env.post(&owner, &format!("/v1/realms/{realm}/tokens"), json!({"authid": "w", "role": "watcher", "ttl_seconds": 600})).await;
        let (mut w, _) = join_jwt(&env, "com.jwtrev", t["token"].as_str().unwrap()).await;
        assert_eq!(env.gate.jwt_key_sessions(), 3);

        // `b` leaves; once the router announced it, the next revocation in the realm (of a
        // key nobody used) forgets it. The marker session's GOODBYE says it was applied.
        w.subscribe("wamp.session.on_leave").await.unwrap();
        b.send(&Message::Goodbye { details: Dict::new(), reason: "wamp.close.close_realm".into() }).await;
        let (_, payload) = w.event().await;
        assert_eq!(payload.args.unwrap()[0], Value::from(b_id));
        let mut m = join_ticket(&env, "com.jwtrev", "marker", marker_secret.as_deref().unwrap()).await;
        env.revoke(&owner, &realm, &spare).await;
        env.revoke(&owner, &realm, &marker).await;
        m.expect_goodbye(REASON_CREDENTIAL_REVOKED).await;
        assert_eq!(env.gate.jwt_key_sessions(), 2, "the binding of the session that left is pruned");

        // Revoking `idp` closes `a` (joined as partner-1 with an idp token), not `c`.
        env.revoke(&owner, &realm, &idp).await;
        a.expect_goodbye(REASON_CREDENTIAL_REVOKED).await;
        assert_eq!(env.gate.jwt_key_sessions(), 1);
        c.publish("com.jwtrev.still-here", vec![]).await.expect("the other key's session is untouched");
        w.subscribe("com.jwtrev.nothing").await.expect_err("watcher may only watch");
        // And idp's tokens no longer open a session.
        let (_, j) = Client::join_ticket(&env.ws, "com.jwtrev", "ticket", None, &mint(&idp_key, "idp", json!({"sub": "partner-1", "aud": "com.jwtrev", "exp": exp()}))).await;
        assert_eq!(j.abort().0, "wamp.error.authentication_failed");
    }
}

/// Spawns with [`spawn_split`]: the gate sees no change the admin API announces.
macro_rules! split {
    ($(async fn $name:ident($env:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                async fn run($env: crate::common::Env) $body
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn pg() {
                    run(crate::common::spawn_split(crate::common::Backend::Postgres, crate::common::test_gate_config()).await).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    run(crate::common::spawn_split(crate::common::Backend::Sqlite, crate::common::test_gate_config()).await).await
                }
            }
        )*
    };
}

split! {
    async fn lagged_rechecks_live_sessions(env) {
        let owner = env.signup("owner@lag.test", "Lag").await;
        let realm = env.realm(&owner, json!({"uri": "com.lag"})).await;
        let user = env.role(&owner, &realm, "user").await;
        env.rule(&owner, &realm, &user, "com.lag.", "prefix", json!({"publish": true}), json!({})).await;
        let temp = env.role(&owner, &realm, "temp").await;
        env.rule(&owner, &realm, &temp, "com.lag.", "prefix", json!({"publish": true}), json!({})).await;
        let gone_realm = env.realm(&owner, json!({"uri": "com.lag.gone"})).await;
        env.role(&owner, &gone_realm, "user").await;

        let ticket = |authid: &'static str, role: &'static str| json!({"kind": "ticket", "authid": authid, "role": role});
        let (revoked_id, revoked_secret, _) = env.credential(&owner, &realm, ticket("revoked", "user")).await;
        let (_, keeper_secret, _) = env.credential(&owner, &realm, ticket("keeper", "user")).await;
        let (_, temp_secret, _) = env.credential(&owner, &realm, ticket("temp-1", "temp")).await;
        let (_, marker_secret, _) = env.credential(&owner, &realm, ticket("marker", "user")).await;
        let (_, gone_secret, _) = env.credential(&owner, &gone_realm, ticket("g", "user")).await;
        let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        let (cs_id, _, _) = env
            .credential(&owner, &realm, json!({"kind": "cryptosign", "authid": "dev-1", "role": "user", "public_key": hex::encode(key.verifying_key().to_bytes())}))
            .await;
        let (idp_id, idp_key, _) = env.credential(&owner, &realm, json!({"kind": "jwt", "authid": "idp", "role": "user", "algorithm": "HS256"})).await;

        let mut revoked = join_ticket(&env, "com.lag", "revoked", revoked_secret.as_deref().unwrap()).await;
        let mut keeper = join_ticket(&env, "com.lag", "keeper", keeper_secret.as_deref().unwrap()).await;
        let mut temp_session = join_ticket(&env, "com.lag", "temp-1", temp_secret.as_deref().unwrap()).await;
        let mut marker = join_ticket(&env, "com.lag", "marker", marker_secret.as_deref().unwrap()).await;
        let mut gone = join_ticket(&env, "com.lag.gone", "g", gone_secret.as_deref().unwrap()).await;
        let mut device = join_cryptosign(&env, "com.lag", "dev-1", &key).await;
        let token = mint(idp_key.as_deref().unwrap(), "idp", json!({"sub": "partner-9", "aud": "com.lag", "exp": exp()}));
        let (mut partner, _) = join_jwt(&env, "com.lag", &token).await;

        // Changed through the admin API; the router hears of none of it.
        env.revoke(&owner, &realm, &revoked_id).await;
        env.revoke(&owner, &realm, &cs_id).await;
        env.revoke(&owner, &realm, &idp_id).await;
        env.delete(&owner, &format!("/v1/realms/{realm}/roles/{temp}")).await;
        env.delete(&owner, &format!("/v1/realms/{gone_realm}")).await;
        for c in [&mut revoked, &mut device, &mut partner] {
            c.publish("com.lag.before", vec![]).await.expect("changes not seen yet: session still open");
        }
        // Its role is gone from the store, so it may do nothing, but it is still open.
        assert_eq!(temp_session.publish("com.lag.before", vec![]).await, Err("wamp.error.not_authorized".into()));

        // The feed reports missed changes: every session is re-checked against the store.
        env.feed.sender().send(Received::Lagged).unwrap();
        revoked.expect_goodbye(REASON_CREDENTIAL_REVOKED).await;
        device.expect_goodbye(REASON_CREDENTIAL_REVOKED).await;
        partner.expect_goodbye(REASON_CREDENTIAL_REVOKED).await;
        temp_session.expect_goodbye(REASON_ROLE_DELETED).await;
        gone.expect_goodbye(REASON_REALM_DELETED).await;

        // The re-check is done once a change sent after `Lagged` is applied; the sessions whose
        // credential and role are still there were left alone.
        env.feed.publish(Change::CredentialRevoked { realm: "com.lag".into(), authid: "marker".into() }).await.unwrap();
        marker.expect_goodbye(REASON_CREDENTIAL_REVOKED).await;
        keeper.publish("com.lag.after", vec![]).await.expect("untouched session still open");
    }
}

// Revoked between authentication and join. The router's authenticator pauses the handshake
// of the test's choosing (`Env::pauses`): right after the gate accepted the AUTHENTICATE, or
// right after the router's join-time check let the session in. Meanwhile the test revokes; a
// session that joined earlier with the same credential getting its GOODBYE says the gate
// applied the revocation (its sweep is done) before the handshake goes on.

/// HELLO + ticket AUTHENTICATE in a task of its own (it stops at the armed pause point).
fn join_ticket_in_background(env: &Env, realm: &str, authid: Option<&str>, ticket: &str) -> tokio::task::JoinHandle<(Client, Joined)> {
    let (ws, realm, authid, ticket) = (env.ws.clone(), realm.to_owned(), authid.map(str::to_owned), ticket.to_owned());
    tokio::spawn(async move { Client::join_ticket(&ws, &realm, "ticket", authid.as_deref(), &ticket).await })
}

/// The realm's sessions with this authid on the router.
fn sessions_of(env: &Env, realm: &str, authid: &str) -> Vec<Id> {
    env.router.sessions(realm).into_iter().filter(|s| s.authid == authid).map(|s| s.session).collect()
}

both! {
    async fn a_credential_revoked_between_authentication_and_join_refuses_the_join(env) {
        let Alice { owner, realm, uri, credential: alice, secret, mut first } = alice_joined(&env, "JoinRev").await;
        let first_id = sessions_of(&env, &uri, "alice");

        let mut paused = env.pauses.arm(PauseAt::Authenticated);
        let second = join_ticket_in_background(&env, &uri, Some("alice"), &secret);
        paused.reached().await;
        env.revoke(&owner, &realm, &alice).await;
        // The sweep ran: it closed `first`, and could not see `second`.
        first.expect_goodbye(REASON_CREDENTIAL_REVOKED).await;
        paused.release();

        let (_, joined) = second.await.unwrap();
        assert_eq!(joined.abort(), ("wamp.error.authentication_failed".to_owned(), "credential revoked".to_owned()));
        let left: Vec<Id> = sessions_of(&env, &uri, "alice").into_iter().filter(|id| !first_id.contains(id)).collect();
        assert!(left.is_empty(), "no session of the revoked credential joined: {left:?}");
    }

    async fn a_credential_revoked_while_the_session_joins_closes_it(env) {
        let Alice { owner, realm, uri, credential: alice, secret, mut first } = alice_joined(&env, "Joining").await;

        // The join-time check let it in; the revocation is applied before it is in the realm.
        let mut paused = env.pauses.arm(PauseAt::Admitted);
        let second = join_ticket_in_background(&env, &uri, Some("alice"), &secret);
        paused.reached().await;
        env.revoke(&owner, &realm, &alice).await;
        first.expect_goodbye(REASON_CREDENTIAL_REVOKED).await;
        paused.release();

        let (mut second, joined) = second.await.unwrap();
        joined.welcome();
        second.expect_goodbye(REASON_CREDENTIAL_REVOKED).await;
    }

    async fn a_jwt_key_revoked_between_authentication_and_join_refuses_the_join(env) {
        let owner = env.signup("owner@jwtjoin.test", "JwtJoin").await;
        let realm = env.realm(&owner, json!({"uri": "com.jwtjoin"})).await;
        env.role(&owner, &realm, "partner").await;
        let (idp, key, _) = env.credential(&owner, &realm, json!({"kind": "jwt", "authid": "idp", "role": "partner", "algorithm": "HS256"})).await;
        let key = key.unwrap();
        let token = |sub: &str| mint(&key, "idp", json!({"sub": sub, "aud": "com.jwtjoin", "exp": exp()}));
        let (mut first, _) = join_jwt(&env, "com.jwtjoin", &token("partner-1")).await;

        // The session's authid is the token's subject, not the key's: the grant knows the key.
        let mut paused = env.pauses.arm(PauseAt::Authenticated);
        let second = join_ticket_in_background(&env, "com.jwtjoin", None, &token("partner-2"));
        paused.reached().await;
        env.revoke(&owner, &realm, &idp).await;
        first.expect_goodbye(REASON_CREDENTIAL_REVOKED).await;
        paused.release();

        let (_, joined) = second.await.unwrap();
        assert_eq!(joined.abort(), ("wamp.error.authentication_failed".to_owned(), "credential revoked".to_owned()));
        assert!(sessions_of(&env, "com.jwtjoin", "partner-2").is_empty());
    }

    async fn a_rotated_credential_of_the_same_authid_joins(env) {
        let owner = env.signup("owner@rotate.test", "Rotate").await;
        let realm = env.realm(&owner, json!({"uri": "com.rotate"})).await;
        let user = env.role(&owner, &realm, "user").await;
        env.rule(&owner, &realm, &user, "com.rotate.", "prefix", json!({"publish": true}), json!({})).await;
        let ticket = |authid: &str| json!({"kind": "ticket", "authid": authid, "role": "user"});
        let (old, old_secret, _) = env.credential(&owner, &realm, ticket("alice")).await;
        let (_, new_secret, _) = env.credential(&owner, &realm, ticket("alice")).await;
        let (carol, carol_secret, _) = env.credential(&owner, &realm, ticket("carol")).await;
        let (old_secret, new_secret) = (old_secret.unwrap(), new_secret.unwrap());

        // The old credential is revoked (and the revocation applied) before the new log-in.
        let mut on_old = join_ticket(&env, "com.rotate", "alice", &old_secret).await;
        env.revoke(&owner, &realm, &old).await;
        on_old.expect_goodbye(REASON_CREDENTIAL_REVOKED).await;

        // Another authid's credential revoked while it joins does not concern it either.
        let mut on_carol = join_ticket(&env, "com.rotate", "carol", carol_secret.as_deref().unwrap()).await;
        let mut paused = env.pauses.arm(PauseAt::Authenticated);
        let rotated = join_ticket_in_background(&env, "com.rotate", Some("alice"), &new_secret);
        paused.reached().await;
        env.revoke(&owner, &realm, &carol).await;
        on_carol.expect_goodbye(REASON_CREDENTIAL_REVOKED).await;
        paused.release();

        let (mut rotated, joined) = rotated.await.unwrap();
        joined.welcome();
        rotated.publish("com.rotate.still-here", vec![]).await.expect("the rotated credential's session stays open");
        // The old one no longer authenticates at all.
        let (_, j) = Client::join_ticket(&env.ws, "com.rotate", "ticket", Some("alice"), &old_secret).await;
        assert_eq!(j.abort().0, "wamp.error.authentication_failed");
    }
}

split! {
    async fn a_session_joining_across_missed_changes_is_rechecked_once_joined(env) {
        let Alice { owner, realm, uri, credential: alice, secret, mut first } = alice_joined(&env, "LagJoin").await;

        let mut paused = env.pauses.arm(PauseAt::Authenticated);
        let second = join_ticket_in_background(&env, &uri, Some("alice"), &secret);
        paused.reached().await;
        // Revoked through the admin API; the router only learns that it missed changes.
        env.revoke(&owner, &realm, &alice).await;
        env.feed.sender().send(Received::Lagged).unwrap();
        first.expect_goodbye(REASON_CREDENTIAL_REVOKED).await;
        paused.release();

        // The gate cannot tell what was missed without the store: it lets the session in and
        // re-checks its realm once the session is there.
        let (mut second, joined) = second.await.unwrap();
        joined.welcome();
        second.expect_goodbye(REASON_CREDENTIAL_REVOKED).await;
    }
}
