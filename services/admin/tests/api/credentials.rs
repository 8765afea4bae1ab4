//! Credentials as routers will use them: salted WAMP-CRA keys verified the way the router
//! verifies them (junction_auth::cra), and cryptosign credentials found by public key.

use junction_auth::cra::{self, ChallengeInfo, CraChallenge, CraSecret, SaltParams};
use junction_store::{CredentialMaterial, Secret};
use serde_json::json;

use crate::helpers::*;

/// What the router holds for a WAMP-CRA credential, from the store's material.
fn router_secret(material: &CredentialMaterial) -> CraSecret {
    let CredentialMaterial::Wampcra {
        secret,
        salt,
        iterations,
        keylen,
        derived,
    } = material
    else {
        panic!("{material:?}")
    };
    let secret = junction_auth::Secret::new(secret.expose());
    match salt {
        None => CraSecret::Plain(secret),
        Some(salt) => {
            let params = SaltParams::new(
                salt.clone(),
                iterations.unwrap() as u32,
                keylen.unwrap() as u32,
            )
            .unwrap();
            if *derived {
                CraSecret::Derived {
                    key: secret,
                    params,
                }
            } else {
                CraSecret::Salted {
                    password: secret,
                    params,
                }
            }
        }
    }
}

/// What autobahn computes for a CHALLENGE: the key from the password and the announced salt
/// parameters, then the HMAC of the challenge.
fn client_signature(password: &str, challenge: &CraChallenge) -> String {
    let extra = challenge.extra();
    let key = match extra.get("salt") {
        None => junction_auth::Secret::new(password),
        Some(salt) => {
            let number = |k: &str| extra[k].as_u64().unwrap() as u32;
            let params = SaltParams::new(
                salt.as_str().unwrap(),
                number("iterations"),
                number("keylen"),
            )
            .unwrap();
            cra::derive_key(&junction_auth::Secret::new(password), &params)
        }
    };
    cra::compute_signature(&key, challenge.challenge())
}

both! {
    async fn salted_wampcra_keeps_only_the_derived_key_and_clients_still_log_in(app) {
        let s = app.signup("cra@cred.test", "CRA").await;
        let realm = app.create_realm(&s.token, "com.cra").await;
        app.create_role(&s.token, &realm, "backend").await;
        let creds = format!("/v1/realms/{realm}/credentials");
        let password = "correct horse battery staple";
        let res = app.post(&creds, &s.token, json!({"kind": "wampcra", "authid": "salty", "role": "backend",
            "secret": password, "salt": "pepper", "iterations": 100, "keylen": 32})).await;
        let issued = res.expect(201).clone();
        // The caller gets the password back, once; the store never had it.
        assert_eq!(issued["secret"], password);
        assert_eq!((issued["credential"]["salt"].as_str(), issued["credential"]["iterations"].as_u64()), (Some("pepper"), Some(100)));
        let found = app.store.credentials_for_authid("com.cra", "salty").await.unwrap();
        let material = &found[0].material;
        let CredentialMaterial::Wampcra { secret, derived, .. } = material else { panic!() };
        assert!(*derived);
        let expected = cra::derive_key(&junction_auth::Secret::new(password), &SaltParams::new("pepper", 100, 32).unwrap());
        assert_eq!(secret.expose(), expected.expose());
        assert_ne!(secret.expose(), password);

        // The router's verification with what the store holds accepts what autobahn computes.
        let held = router_secret(material);
        assert!(!held.is_expensive(), "no PBKDF2 per log-in");
        let info = ChallengeInfo { authid: "salty", authrole: "backend", authprovider: "junction", session: 42 };
        let challenge = CraChallenge::new(info, held.salt_params());
        assert!(challenge.verify(&held, &client_signature(password, &challenge)));
        assert!(!challenge.verify(&held, &client_signature("wrong horse battery staple", &challenge)));

        // Rotation keeps the parameters' shape and stores the new derived key.
        let id = issued["credential"]["id"].as_str().unwrap();
        let res = app.post(&format!("{creds}/{id}/rotate"), &s.token, json!({})).await;
        let rotated = res.expect(200).clone();
        let new_password = rotated["secret"].as_str().unwrap().to_string();
        let found = app.store.credentials_for_authid("com.cra", "salty").await.unwrap();
        let held = router_secret(&found[0].material);
        assert!(matches!(held, CraSecret::Derived { .. }));
        let challenge = CraChallenge::new(info, held.salt_params());
        assert!(challenge.verify(&held, &client_signature(&new_password, &challenge)));
        assert!(!challenge.verify(&held, &client_signature(password, &challenge)));

        // Unsalted secrets are the HMAC key itself, as before.
        let res = app.post(&creds, &s.token, json!({"kind": "wampcra", "authid": "plain", "role": "backend"})).await;
        let plain = res.expect(201)["secret"].as_str().unwrap().to_string();
        let found = app.store.credentials_for_authid("com.cra", "plain").await.unwrap();
        assert_eq!(found[0].material, CredentialMaterial::Wampcra {
            secret: Secret::new(plain.clone()), salt: None, iterations: None, keylen: None, derived: false,
        });
        let held = router_secret(&found[0].material);
        let challenge = CraChallenge::new(ChallengeInfo { authid: "plain", ..info }, None);
        assert!(challenge.verify(&held, &client_signature(&plain, &challenge)));
    }

    async fn cryptosign_credentials_are_found_by_public_key(app) {
        let s = app.signup("cs@cred.test", "Cryptosign").await;
        let realm = app.create_realm(&s.token, "com.cs").await;
        app.create_role(&s.token, &realm, "device").await;
        let creds = format!("/v1/realms/{realm}/credentials");
        let key = "19BF44096984CDFE8541BAC167DC3B96C85086AA30B6B6CB0C5C38AD703166E1";
        let res = app.post(&creds, &s.token, json!({"kind": "cryptosign", "authid": "device1", "role": "device", "public_key": key})).await;
        let id = res.expect(201)["credential"]["id"].as_str().unwrap().to_string();

        // A client that sends only its key is identified.
        let found = app.store.credential_by_public_key("com.cs", key).await.unwrap().expect("found by key");
        assert_eq!((found.id.as_str(), found.authid.as_str(), found.role.as_str()), (id.as_str(), "device1", "device"));
        assert!(app.store.credential_by_public_key("com.other", key).await.unwrap().is_none());

        // One live credential per key and realm: the look-up is never ambiguous.
        let res = app.post(&creds, &s.token, json!({"kind": "cryptosign", "authid": "device2", "role": "device", "public_key": key.to_ascii_lowercase()})).await;
        res.expect_problem(409, "conflict");
        assert_eq!(res.fields(), ["public_key"]);

        // Revoked: not found any more, and the key may be given to a new credential.
        app.post(&format!("{creds}/{id}/revoke"), &s.token, json!({})).await.expect(200);
        assert!(app.store.credential_by_public_key("com.cs", key).await.unwrap().is_none());
        let res = app.post(&creds, &s.token, json!({"kind": "cryptosign", "authid": "device2", "role": "device", "public_key": key})).await;
        res.expect(201);
        let found = app.store.credential_by_public_key("com.cs", key).await.unwrap().unwrap();
        assert_eq!(found.authid, "device2");
    }
}
