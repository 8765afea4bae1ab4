//! Authentication: HELLO -> (CHALLENGE -> AUTHENTICATE ->) WELCOME | ABORT, against the
//! store.
//!
//! The client's authmethods are tried in its order of preference (none = anonymous):
//! - `anonymous`: where the realm allows it (settings re-read through the realm cache, so
//!   turning anonymous access off applies to the next HELLO);
//! - `ticket`: a ticket that looks like a JWT is verified with the realm's keys (the realm
//!   token key of `POST /v1/realms/{id}/tokens`, `kid = "junction"`, and its `jwt`
//!   credentials, `kid` = credential authid); otherwise against the authid's `ticket`
//!   credentials (argon2 in `spawn_blocking`, recent successes from the `TicketCache`); an
//!   authid without a ticket credential goes to the realm's dynamic authenticator if it has
//!   one, else fails after the same argon2 work;
//! - `jwt`: the token as the AUTHENTICATE signature, as above;
//! - `wampcra`: the authid's credential (plain, salted with its derived key stored, or a
//!   legacy salted password: PBKDF2 then runs in `spawn_blocking`); the challenge names the
//!   session id WELCOME will carry; an unknown authid gets a decoy challenge (decoy salt);
//! - `cryptosign`: keys of the authid's credentials, or with no authid the credential of the
//!   announced `authextra.pubkey`; an unknown key gets a challenge no signature answers.
//!
//! Every method but anonymous asks the log-in limiter (per (realm, authid) and per IP) before
//! any store read or expensive work, and only a FAILED authentication is charged to it
//! ([`Charged`]): successful log-ins, however many, are never limited.

use std::sync::Arc;

use async_trait::async_trait;
use junction_auth::Secret;
use junction_auth::cra::{self, ChallengeInfo, CraChallenge, CraSecret, SaltParams};
use junction_auth::cryptosign::{self, CryptosignChallenge, PublicKey};
use junction_auth::jwt;
use junction_auth::ticket;
use junction_protocol::{Dict, Id, Payload, Value};
use junction_router::auth::{AuthFailure, AuthStart, Authenticator, HelloInfo, Identity, PendingAuth};
use junction_router::realm::RealmConfig;
use junction_store::{AuthCredential, CredentialMaterial};

use crate::admission::Stamp;
use crate::realms::RealmInfo;
use crate::{Gate, Inner, PROVIDER, PROVIDER_DYNAMIC};

pub const FAILED: &str = "wamp.error.authentication_failed";
pub const NOT_AUTHORIZED: &str = "wamp.error.not_authorized";
pub const NO_SUCH_REALM: &str = "wamp.error.no_such_realm";

/// The only thing a client learns about a failed log-in.
fn failed() -> AuthFailure {
    AuthFailure::new(FAILED, "authentication failed")
}

/// Log why (debug: a probe must not be able to fill the logs at warn), answer "failed".
fn fail(realm: &str, authid: Option<&str>, why: &str) -> AuthFailure {
    tracing::debug!(realm, authid, why, "authentication failed");
    failed()
}

#[async_trait]
impl Authenticator for Gate {
    async fn hello(&self, realm: &RealmConfig, hello: &HelloInfo) -> AuthStart {
        self.inner.hello(&self.inner, realm, hello).await
    }
}

impl Inner {
    async fn hello(&self, this: &Arc<Inner>, realm: &RealmConfig, hello: &HelloInfo) -> AuthStart {
        // First of all, before anything is read: a revocation applied from now on refuses the
        // session at join if it concerns it (`admission`).
        let stamp = Stamp::take(this);
        // Re-read through the cache: the router keeps an open realm's config for its
        // lifetime, but the realm may have changed or gone since.
        let info = match self.realms.get(&self.store, &realm.uri).await {
            Ok(Some(info)) => info,
            Ok(None) => return AuthStart::Reject(AuthFailure::new(NO_SUCH_REALM, format!("no realm {}", realm.uri))),
            Err(e) => {
                tracing::warn!(realm = %realm.uri, error = %e, "store unavailable for authentication");
                return AuthStart::Reject(AuthFailure::new(FAILED, "authentication unavailable, retry later"));
            }
        };
        let anonymous_only = [String::from("anonymous")];
        let methods: &[String] = if hello.authmethods.is_empty() { &anonymous_only } else { &hello.authmethods };
        let authid = hello.authid.as_deref();
        for method in methods {
            let start = match method.as_str() {
                "anonymous" => match info.anonymous_role() {
                    Some(role) => AuthStart::Accept(stamp.grant(
                        info.uri(),
                        Identity {
                            authid: anonymous_authid(),
                            authrole: role.to_owned(),
                            authmethod: "anonymous".into(),
                            authprovider: PROVIDER.into(),
                            authextra: Dict::new(),
                            grant: None,
                        },
                        None,
                    )),
                    None => continue,
                },
                "ticket" | "jwt" => {
                    if let Some(refused) = self.limit(&info, authid, hello) {
                        return refused;
                    }
                    AuthStart::Challenge {
                        authmethod: method.clone(),
                        extra: Dict::new(),
                        pending: Box::new(PendingTicket {
                            gate: this.clone(),
                            realm: info.clone(),
                            authid: hello.authid.clone(),
                            jwt_only: method == "jwt",
                            hello: hello.clone(),
                            stamp,
                        }),
                    }
                }
                "wampcra" => {
                    let Some(authid) = authid else { continue };
                    if let Some(refused) = self.limit(&info, Some(authid), hello) {
                        return refused;
                    }
                    self.cra_challenge(&info, authid, hello.session, stamp).await
                }
                "cryptosign" => {
                    let pubkey = cryptosign::hello_pubkey(&hello.authextra).ok();
                    if authid.is_none() && pubkey.is_none() {
                        continue;
                    }
                    if let Some(refused) = self.limit(&info, authid, hello) {
                        return refused;
                    }
                    self.cryptosign_challenge(&info, authid, pubkey, stamp).await
                }
                _ => continue,
            };
            return match start {
                AuthStart::Challenge { authmethod, extra, pending } => AuthStart::Challenge {
                    authmethod,
                    extra,
                    pending: Box::new(Charged {
                        gate: this.clone(),
                        realm: info.uri().to_owned(),
                        authid: hello.authid.clone(),
                        ip: hello.peer.ip(),
                        inner: pending,
                    }),
                },
                other => other,
            };
        }
        AuthStart::Reject(AuthFailure::new(NOT_AUTHORIZED, "none of the offered authentication methods is available on this realm"))
    }

    fn limit(&self, info: &RealmInfo, authid: Option<&str>, hello: &HelloInfo) -> Option<AuthStart> {
        match self.limiter.check(info.uri(), authid, hello.peer.ip()) {
            Ok(()) => None,
            Err(limited) => {
                tracing::info!(realm = info.uri(), authid, peer = %hello.peer, ?limited, "log-in attempt rate limited");
                Some(AuthStart::Reject(AuthFailure::new(FAILED, "too many authentication attempts, retry later")))
            }
        }
    }

    async fn credentials(&self, info: &RealmInfo, authid: &str) -> Vec<AuthCredential> {
        match self.store.credentials_for_authid(info.uri(), authid).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(realm = info.uri(), error = %e, "store unavailable for authentication");
                Vec::new()
            }
        }
    }

    async fn cra_challenge(&self, info: &RealmInfo, authid: &str, session: Id, stamp: Stamp) -> AuthStart {
        let found = self.credentials(info, authid).await.into_iter().find_map(|c| cra_secret(&c).map(|s| (s, c.role)));
        let (secret, role) = match found {
            Some((s, role)) => (Some(s), role),
            None => (None, "default".to_owned()),
        };
        let salt = match &secret {
            Some(s) => s.salt_params().cloned(),
            None => Some(cra::decoy_salt(authid)),
        };
        let info_ = ChallengeInfo { authid, authrole: &role, authprovider: PROVIDER, session };
        let challenge = CraChallenge::new(info_, salt.as_ref());
        AuthStart::Challenge {
            authmethod: cra::AUTHMETHOD.into(),
            extra: challenge.extra(),
            pending: Box::new(PendingCra { realm: info.uri().to_owned(), authid: authid.to_owned(), role, secret, challenge, stamp }),
        }
    }

    async fn cryptosign_challenge(&self, info: &RealmInfo, authid: Option<&str>, announced: Option<PublicKey>, stamp: Stamp) -> AuthStart {
        // (key, authid, role) candidates.
        let mut keys: Vec<(PublicKey, String, String)> = Vec::new();
        if let Some(authid) = authid {
            for c in self.credentials(info, authid).await {
                if let CredentialMaterial::Cryptosign { public_key } = &c.material {
                    match PublicKey::from_hex(public_key) {
                        Ok(k) => keys.push((k, c.authid.clone(), c.role.clone())),
                        Err(e) => tracing::warn!(realm = info.uri(), credential = %c.id, error = %e, "stored cryptosign key unusable"),
                    }
                }
            }
            if let Some(a) = &announced {
                keys.retain(|(k, _, _)| k == a);
            }
        } else if let Some(a) = &announced {
            match self.store.credential_by_public_key(info.uri(), &a.to_hex()).await {
                Ok(Some(c)) => keys.push((*a, c.authid, c.role)),
                Ok(None) => {}
                Err(e) => tracing::warn!(realm = info.uri(), error = %e, "store unavailable for authentication"),
            }
        }
        let challenge = CryptosignChallenge::new();
        AuthStart::Challenge {
            authmethod: "cryptosign".into(),
            extra: challenge.extra(),
            pending: Box::new(PendingCryptosign { realm: info.uri().to_owned(), keys, challenge, stamp }),
        }
    }
}

/// The WAMP-CRA secret of a credential, if it is a (usable) WAMP-CRA one.
fn cra_secret(c: &AuthCredential) -> Option<CraSecret> {
    let CredentialMaterial::Wampcra { secret, salt, iterations, keylen, derived } = &c.material else { return None };
    let secret = Secret::new(secret.expose());
    let Some(salt) = salt else { return Some(CraSecret::Plain(secret)) };
    let iterations = iterations.and_then(|i| u32::try_from(i).ok()).unwrap_or(1000);
    let keylen = keylen.and_then(|k| u32::try_from(k).ok()).unwrap_or(32);
    match SaltParams::new(salt.clone(), iterations, keylen) {
        Ok(params) if *derived => Some(CraSecret::Derived { key: secret, params }),
        Ok(params) => Some(CraSecret::Salted { password: secret, params }),
        Err(e) => {
            tracing::warn!(credential = %c.id, error = %e, "stored WAMP-CRA salt parameters unusable");
            None
        }
    }
}

/// Charges a failed AUTHENTICATE to the log-in limiter (the HELLO only checked it).
struct Charged {
    gate: Arc<Inner>,
    realm: String,
    authid: Option<String>,
    ip: std::net::IpAddr,
    inner: Box<dyn PendingAuth>,
}

#[async_trait]
impl PendingAuth for Charged {
    async fn authenticate(self: Box<Self>, signature: String, extra: Dict) -> Result<Identity, AuthFailure> {
        let result = self.inner.authenticate(signature, extra).await;
        if result.is_err() {
            self.gate.limiter.failed(&self.realm, self.authid.as_deref(), self.ip);
        }
        result
    }
}

struct PendingCra {
    realm: String,
    authid: String,
    role: String,
    secret: Option<CraSecret>,
    challenge: CraChallenge,
    stamp: Stamp,
}

#[async_trait]
impl PendingAuth for PendingCra {
    async fn authenticate(self: Box<Self>, signature: String, _extra: Dict) -> Result<Identity, AuthFailure> {
        let Some(secret) = self.secret.clone() else { return Err(fail(&self.realm, Some(&self.authid), "no WAMP-CRA credential")) };
        let ok = if secret.is_expensive() {
            let challenge = self.challenge.clone();
            tokio::task::spawn_blocking(move || challenge.verify(&secret, &signature)).await.unwrap_or(false)
        } else {
            self.challenge.verify(&secret, &signature)
        };
        if !ok {
            return Err(fail(&self.realm, Some(&self.authid), "bad WAMP-CRA signature"));
        }
        let identity = Identity {
            authid: self.authid,
            authrole: self.role,
            authmethod: cra::AUTHMETHOD.into(),
            authprovider: PROVIDER.into(),
            authextra: Dict::new(),
            grant: None,
        };
        Ok(self.stamp.grant(&self.realm, identity, None))
    }
}

struct PendingCryptosign {
    realm: String,
    keys: Vec<(PublicKey, String, String)>,
    challenge: CryptosignChallenge,
    stamp: Stamp,
}

#[async_trait]
impl PendingAuth for PendingCryptosign {
    async fn authenticate(self: Box<Self>, signature: String, _extra: Dict) -> Result<Identity, AuthFailure> {
        let public: Vec<PublicKey> = self.keys.iter().map(|(k, _, _)| *k).collect();
        let Some(i) = self.challenge.verify_any(&public, &signature, None) else {
            return Err(fail(&self.realm, None, "no cryptosign key verifies the signature"));
        };
        let (key, authid, role) = self.keys.into_iter().nth(i).expect("index from verify_any");
        let mut extra = Dict::new();
        extra.insert("pubkey".into(), key.to_hex().into());
        let identity = Identity { authid, authrole: role, authmethod: "cryptosign".into(), authprovider: PROVIDER.into(), authextra: extra, grant: None };
        Ok(self.stamp.grant(&self.realm, identity, None))
    }
}

struct PendingTicket {
    gate: Arc<Inner>,
    realm: Arc<RealmInfo>,
    authid: Option<String>,
    jwt_only: bool,
    hello: HelloInfo,
    stamp: Stamp,
}

#[async_trait]
impl PendingAuth for PendingTicket {
    async fn authenticate(self: Box<Self>, signature: String, _extra: Dict) -> Result<Identity, AuthFailure> {
        let (identity, kid) = self.verify(signature).await?;
        let this = *self;
        Ok(this.stamp.grant(this.realm.uri(), identity, kid))
    }
}

impl PendingTicket {
    /// The identity, and the `kid` of the JWT key (store credential) that verified a token.
    async fn verify(&self, signature: String) -> Result<(Identity, Option<String>), AuthFailure> {
        let realm = self.realm.uri().to_owned();
        let authid = self.authid.as_deref();
        if jwt::looks_like_jwt(&signature) {
            return self.jwt(&signature).await;
        }
        if self.jwt_only {
            return Err(fail(&realm, authid, "jwt authmethod without a JWT"));
        }
        let Some(authid) = self.authid.clone() else { return Err(fail(&realm, None, "ticket without authid")) };
        let ticket = Secret::new(signature);
        let stored: Vec<(String, String)> = self
            .gate
            .credentials(&self.realm, &authid)
            .await
            .into_iter()
            .filter_map(|c| match c.material {
                CredentialMaterial::Ticket { secret_hash } => Some((c.role, secret_hash)),
                _ => None,
            })
            .collect();
        if stored.is_empty() {
            if let Some(procedure) = self.gate.dynamic_authenticator(&self.realm) {
                return self.dynamic(&procedure, &authid, ticket).await.map(|identity| (identity, None));
            }
            let _ = tokio::task::spawn_blocking(move || ticket::verify_dummy_blocking(&ticket)).await;
            return Err(fail(&realm, Some(&authid), "no ticket credential"));
        }
        // The cache on the runtime (two HMACs); argon2 only on a miss, off the runtime.
        let hit = stored.iter().find(|(_, phc)| self.gate.tickets.is_verified(&realm, &authid, &ticket, phc)).map(|(r, _)| r.clone());
        let role = match hit {
            Some(role) => Some(role),
            None => {
                let (gate, realm_, authid_) = (self.gate.clone(), realm.clone(), authid.clone());
                tokio::task::spawn_blocking(move || {
                    stored.into_iter().find(|(_, phc)| gate.tickets.verify_blocking(&realm_, &authid_, &ticket, phc)).map(|(r, _)| r)
                })
                .await
                .unwrap_or(None)
            }
        };
        match role {
            Some(authrole) => {
                let identity =
                    Identity { authid, authrole, authmethod: "ticket".into(), authprovider: PROVIDER.into(), authextra: Dict::new(), grant: None };
                Ok((identity, None))
            }
            None => Err(fail(&realm, Some(&authid), "wrong ticket")),
        }
    }

    async fn jwt(&self, token: &str) -> Result<(Identity, Option<String>), AuthFailure> {
        let realm = self.realm.uri();
        let authid = self.authid.as_deref();
        let (store, leeway) = (&self.gate.store, self.gate.config.jwt_leeway_secs);
        let unavailable = |e: junction_store::StoreError| {
            tracing::warn!(realm, error = %e, "store unavailable for JWT keys");
            failed()
        };
        let mut result = self.verify_jwt(self.realm.jwt(store, leeway).await.map_err(unavailable)?, token).await;
        if matches!(result, Err(jwt::JwtError::NoKey | jwt::JwtError::BadSignature)) {
            // A key created or rotated a moment ago may not have reached this pod's change
            // feed yet: the API promises it works once the response is out, so ask the store.
            // Only failures get here, and failures are rate limited per authid and per IP.
            result = self.verify_jwt(self.realm.load_jwt(store, leeway).await.map_err(unavailable)?, token).await;
            if result.is_ok() {
                self.gate.realms.invalidate(realm);
            }
        }
        match result {
            Ok(id) => {
                // Revoking that key must close this session (its authid is the token's), also
                // while it joins (the grant refuses it then).
                let kid = id.source.as_ref().and(id.kid.clone());
                if let Some(credential) = &id.source {
                    self.gate.sessions.bind_key(self.gate.router.get(), self.hello.session, realm, credential, id.kid.as_deref());
                }
                let identity =
                    Identity { authid: id.authid, authrole: id.authrole, authmethod: "jwt".into(), authprovider: PROVIDER.into(), authextra: id.authextra, grant: None };
                Ok((identity, kid))
            }
            Err(e) => Err(fail(realm, authid, &e.to_string())),
        }
    }

    async fn verify_jwt(&self, verifier: Arc<jwt::JwtVerifier>, token: &str) -> Result<jwt::JwtIdentity, jwt::JwtError> {
        if RealmInfo::jwt_is_expensive(&verifier) {
            let (token, authid) = (token.to_owned(), self.authid.clone());
            tokio::task::spawn_blocking(move || verifier.verify(&token, authid.as_deref()))
                .await
                .unwrap_or(Err(jwt::JwtError::Malformed))
        } else {
            verifier.verify(token, self.authid.as_deref())
        }
    }

    /// Crossbar.io's dynamic ticket authenticator: `(realm, authid, details)` with
    /// `details.ticket`; the answer is a role (string) or `{role, authid?, extra?}`.
    async fn dynamic(&self, procedure: &crate::DynamicProcedure, authid: &str, ticket: Secret) -> Result<Identity, AuthFailure> {
        let realm = self.realm.uri();
        let mut details = self.hello.details.clone();
        details.insert("ticket".into(), ticket.expose().into());
        details.insert("authmethod".into(), "ticket".into());
        details.insert("session".into(), Value::from(self.hello.session));
        details.insert(
            "transport".into(),
            Value::dict([("type", Value::from("websocket")), ("peer", self.hello.peer.to_string().into())]),
        );
        let args = vec![realm.into(), authid.into(), Value::Dict(details)];
        let answer = match self.gate.call_dynamic(realm, procedure, Payload::args(args)).await {
            Ok(a) => a,
            Err(e) => return Err(fail(realm, Some(authid), &format!("dynamic authenticator: {e}"))),
        };
        let (role, new_authid, extra) = match answer.args.as_ref().and_then(|a| a.first()) {
            Some(Value::String(role)) => (role.clone(), None, Dict::new()),
            Some(Value::Dict(d)) => {
                let role = d.get("role").and_then(Value::as_str).map(str::to_owned);
                let new_authid = d.get("authid").and_then(Value::as_str).map(str::to_owned);
                let extra = d.get("extra").and_then(Value::as_dict).cloned().unwrap_or_default();
                match role {
                    Some(r) => (r, new_authid, extra),
                    None => return Err(fail(realm, Some(authid), "dynamic authenticator answered no role")),
                }
            }
            _ => return Err(fail(realm, Some(authid), "dynamic authenticator answered neither a role nor a dict")),
        };
        if role.is_empty() || new_authid.as_deref().is_some_and(str::is_empty) {
            return Err(fail(realm, Some(authid), "dynamic authenticator answered an empty role or authid"));
        }
        Ok(Identity {
            authid: new_authid.unwrap_or_else(|| authid.to_owned()),
            authrole: role,
            authmethod: "ticket".into(),
            authprovider: PROVIDER_DYNAMIC.into(),
            authextra: extra,
            grant: None,
        })
    }
}

/// A random authid for an anonymous session (never the client's: authids feed authorization
/// and black/white lists, so they must not be spoofable).
fn anonymous_authid() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    let mut s = String::with_capacity(14);
    for i in 0..12 {
        if i == 4 || i == 8 {
            s.push('-');
        }
        s.push(ALPHABET[rng.gen_range(0..ALPHABET.len())] as char);
    }
    s
}
