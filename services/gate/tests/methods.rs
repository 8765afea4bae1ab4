//! WAMP-CRA (plain, salted), cryptosign (by authid, by key), JWT (realm client tokens, a
//! tenant's HS256 key; as ticket and as authmethod `jwt`), each good and bad, provisioned
//! through the admin API.

mod common;

use common::*;
use junction_auth::cra::{self, SaltParams};
use junction_auth::cryptosign::{self, CryptosignChallenge};
use junction_protocol::{Dict, Value};
use serde_json::json;

async fn cra_join(env: &Env, realm: &str, authid: &str, secret: &str) -> (Client, Joined, Option<u64>) {
    let mut c = env.client().await;
    c.hello(realm, hello_details(&["wampcra"], Some(authid), Dict::new())).await;
    let (method, extra) = c.challenge().await;
    assert_eq!(method, "wampcra");
    let challenge = extra["challenge"].as_str().unwrap().to_owned();
    let json: serde_json::Value = serde_json::from_str(&challenge).unwrap();
    let key = match extra.get("salt") {
        Some(salt) => {
            let params = SaltParams::new(salt.as_str().unwrap(), extra["iterations"].as_u64().unwrap() as u32, extra["keylen"].as_u64().unwrap() as u32).unwrap();
            cra::derive_key(&junction_auth::Secret::new(secret), &params)
        }
        None => junction_auth::Secret::new(secret),
    };
    c.authenticate(&cra::compute_signature(&key, &challenge)).await;
    let j = c.joined().await;
    (c, j, json["session"].as_u64())
}

async fn cryptosign_join(env: &Env, realm: &str, authid: Option<&str>, key: &ed25519_dalek::SigningKey, announce: bool) -> Joined {
    let mut c = env.client().await;
    let mut extra = Dict::new();
    if announce {
        extra.insert("pubkey".into(), hex::encode(key.verifying_key().to_bytes()).into());
    }
    c.hello(realm, hello_details(&["cryptosign"], authid, extra)).await;
    let (method, extra) = match c.recv().await {
        Some(junction_protocol::Message::Challenge { authmethod, extra }) => (authmethod, extra),
        Some(junction_protocol::Message::Abort { reason, details }) => {
            return Joined::Abort { reason, message: details.get("message").and_then(Value::as_str).unwrap_or_default().into() };
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(method, "cryptosign");
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(extra["challenge"].as_str().unwrap(), &mut bytes).unwrap();
    c.authenticate(&cryptosign::sign(key, &CryptosignChallenge::from_bytes(bytes), None)).await;
    c.joined().await
}

fn mint(secret: &str, kid: &str, claims: serde_json::Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

both! {
    async fn wampcra_plain_and_salted(env) {
        let owner = env.signup("owner@cra.test", "Cra").await;
        let realm = env.realm(&owner, json!({"uri": "com.cra"})).await;
        env.role(&owner, &realm, "device").await;
        let (_, plain, _) = env.credential(&owner, &realm, json!({"kind": "wampcra", "authid": "plain1", "role": "device", "secret": "plain-secret-123456"})).await;
        let (_, salted, res) = env.credential(&owner, &realm, json!({"kind": "wampcra", "authid": "salted1", "role": "device", "salted": true})).await;
        assert!(res["credential"]["salt"].is_string());

        // Unsalted: the challenge names the session WELCOME carries.
        let (_, j, challenged) = cra_join(&env, "com.cra", "plain1", plain.as_deref().unwrap()).await;
        let (session, details) = j.welcome();
        assert_eq!(challenged, Some(session));
        assert_eq!(details["authmethod"], Value::from("wampcra"));
        assert_eq!(details["authrole"], Value::from("device"));
        // Salted (derived key stored): the client derives from the challenge's parameters.
        let (_, j, challenged) = cra_join(&env, "com.cra", "salted1", salted.as_deref().unwrap()).await;
        let (session, details) = j.welcome();
        assert_eq!(challenged, Some(session));
        assert_eq!(details["authid"], Value::from("salted1"));

        // Wrong secret, unknown authid (which still gets a salted decoy challenge).
        let (_, j, _) = cra_join(&env, "com.cra", "plain1", "wrong").await;
        assert_eq!(j.abort(), ("wamp.error.authentication_failed".into(), "authentication failed".into()));
        let (_, j, _) = cra_join(&env, "com.cra", "salted1", "wrong").await;
        assert_eq!(j.abort().0, "wamp.error.authentication_failed");
        let (_, j, _) = cra_join(&env, "com.cra", "ghost", "whatever").await;
        assert_eq!(j.abort().0, "wamp.error.authentication_failed");
    }

    async fn cryptosign_by_authid_and_by_key(env) {
        let owner = env.signup("owner@cs.test", "Cs").await;
        let realm = env.realm(&owner, json!({"uri": "com.cs"})).await;
        env.role(&owner, &realm, "device").await;
        let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        let other = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        let pubkey = hex::encode(key.verifying_key().to_bytes());
        env.credential(&owner, &realm, json!({"kind": "cryptosign", "authid": "dev-7", "role": "device", "public_key": pubkey})).await;

        let (_, details) = cryptosign_join(&env, "com.cs", Some("dev-7"), &key, true).await.welcome();
        assert_eq!(details["authid"], Value::from("dev-7"));
        assert_eq!(details["authmethod"], Value::from("cryptosign"));
        // No authid: the key names the principal.
        let (_, details) = cryptosign_join(&env, "com.cs", None, &key, true).await.welcome();
        assert_eq!(details["authid"], Value::from("dev-7"));
        assert_eq!(details["authrole"], Value::from("device"));
        // An authid without a pubkey: any of its keys.
        cryptosign_join(&env, "com.cs", Some("dev-7"), &key, false).await.welcome();
        // Wrong key: by authid, by key, and a key announced for someone else's authid.
        assert_eq!(cryptosign_join(&env, "com.cs", Some("dev-7"), &other, true).await.abort().0, "wamp.error.authentication_failed");
        assert_eq!(cryptosign_join(&env, "com.cs", None, &other, true).await.abort().0, "wamp.error.authentication_failed");
        assert_eq!(cryptosign_join(&env, "com.cs", Some("dev-7"), &other, false).await.abort().0, "wamp.error.authentication_failed");
    }

    async fn jwt_client_tokens_and_tenant_keys(env) {
        let owner = env.signup("owner@jwt.test", "Jwt").await;
        let realm = env.realm(&owner, json!({"uri": "com.jwt"})).await;
        let role = env.role(&owner, &realm, "browser").await;
        env.role(&owner, &realm, "partner").await;
        env.rule(&owner, &realm, &role, "com.jwt.", "prefix", json!({"subscribe": true}), json!({})).await;
        let other_realm = env.realm(&owner, json!({"uri": "com.jwt.other"})).await;
        env.role(&owner, &other_realm, "browser").await;

        // A client token from POST .../tokens, as ticket (no authid needed) and as `jwt`.
        let token = env.post(&owner, &format!("/v1/realms/{realm}/tokens"), json!({"authid": "browser-42", "role": "browser", "ttl_seconds": 600})).await;
        let token = token["token"].as_str().unwrap().to_owned();
        let (mut c, j) = Client::join_ticket(&env.ws, "com.jwt", "ticket", None, &token).await;
        let (_, details) = j.welcome();
        assert_eq!(details["authid"], Value::from("browser-42"));
        assert_eq!(details["authrole"], Value::from("browser"));
        assert_eq!(details["authmethod"], Value::from("jwt"));
        c.subscribe("com.jwt.news").await.unwrap();
        let (_, j) = Client::join_ticket(&env.ws, "com.jwt", "jwt", Some("browser-42"), &token).await;
        j.welcome();
        // HELLO authid must be the token's subject; a token for one realm does not open another.
        let (_, j) = Client::join_ticket(&env.ws, "com.jwt", "ticket", Some("someone-else"), &token).await;
        assert_eq!(j.abort().0, "wamp.error.authentication_failed");
        let (_, j) = Client::join_ticket(&env.ws, "com.jwt.other", "ticket", None, &token).await;
        assert_eq!(j.abort().0, "wamp.error.authentication_failed");
        // Tampered.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[2] = parts[2].chars().rev().collect();
        let (_, j) = Client::join_ticket(&env.ws, "com.jwt", "ticket", None, &parts.join(".")).await;
        assert_eq!(j.abort().0, "wamp.error.authentication_failed");

        // A tenant's own HS256 key (kid = the credential's authid, default role = its role).
        let (cred, key, _) = env.credential(&owner, &realm, json!({"kind": "jwt", "authid": "idp", "role": "partner", "algorithm": "HS256"})).await;
        let key = key.unwrap();
        let t = mint(&key, "idp", json!({"sub": "partner-1", "aud": "com.jwt", "exp": now() + 60}));
        let (_, j) = Client::join_ticket(&env.ws, "com.jwt", "ticket", None, &t).await;
        let (_, details) = j.welcome();
        assert_eq!((details["authid"].as_str(), details["authrole"].as_str()), (Some("partner-1"), Some("partner")));
        let t = mint(&key, "idp", json!({"sub": "partner-1", "aud": "com.jwt", "exp": now() + 60, "role": "browser", "extra": {"tier": "gold"}}));
        let (_, j) = Client::join_ticket(&env.ws, "com.jwt", "jwt", None, &t).await;
        let (_, details) = j.welcome();
        assert_eq!(details["authrole"], Value::from("browser"));
        assert_eq!(details["authextra"].get("tier"), Some(&Value::from("gold")));
        // Expired; wrong key.
        let expired = mint(&key, "idp", json!({"sub": "p", "aud": "com.jwt", "exp": now() - 3600}));
        let (_, j) = Client::join_ticket(&env.ws, "com.jwt", "ticket", None, &expired).await;
        assert_eq!(j.abort().0, "wamp.error.authentication_failed");
        let forged = mint("not-the-key-not-the-key-not-the-key", "idp", json!({"sub": "p", "aud": "com.jwt", "exp": now() + 60}));
        let (_, j) = Client::join_ticket(&env.ws, "com.jwt", "ticket", None, &forged).await;
        assert_eq!(j.abort().0, "wamp.error.authentication_failed");
        // Revoking the key: its tokens stop working.
        env.revoke(&owner, &realm, &cred).await;
        let t = mint(&key, "idp", json!({"sub": "partner-1", "aud": "com.jwt", "exp": now() + 60}));
        let mut refused = false;
        for _ in 0..100 {
            let (_, j) = Client::join_ticket(&env.ws, "com.jwt", "ticket", None, &t).await;
            if matches!(j, Joined::Abort { .. }) {
                refused = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(refused, "revoked JWT key still accepted");
    }
}
