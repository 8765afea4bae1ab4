//! Realm settings per pod: `realm URI -> Option<RealmInfo>` read from the store on a miss,
//! dropped by the change feed (`RealmUpdated` also announces a new realm, so absent realms
//! are cached too). A realm's JWT verifier (the realm token key of `POST .../tokens` plus its
//! `jwt` credentials) is built on first use and dropped with the entry on any credential
//! change of the realm.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use junction_auth::Secret;
use junction_auth::jwt::{JwtKey, JwtVerifier};
use junction_router::realm::{ProviderError, RealmConfig, RealmProvider};
use junction_store::{CredentialMaterial, JwtAlgorithm, RealmAuth, Store, StoreError};
use parking_lot::Mutex;
use tokio::sync::OnceCell;

use crate::Gate;

/// `kid` of client tokens minted by the admin API (`POST /v1/realms/{id}/tokens`).
pub const TOKEN_KID: &str = "junction";

/// What the gate knows about one realm.
pub struct RealmInfo {
    pub auth: RealmAuth,
    jwt: OnceCell<Arc<JwtVerifier>>,
}

impl RealmInfo {
    pub fn uri(&self) -> &str {
        &self.auth.realm.uri
    }

    pub fn tenant(&self) -> &str {
        &self.auth.realm.tenant_id
    }

    pub fn anonymous_role(&self) -> Option<&str> {
        self.auth.realm.allow_anonymous.then_some(self.auth.realm.anonymous_role.as_str())
    }

    pub fn config(&self) -> RealmConfig {
        RealmConfig { uri: self.uri().to_owned(), tenant: self.tenant().to_owned(), anonymous_role: self.anonymous_role().map(str::to_owned) }
    }

    /// The realm's JWT verifier, built from the store on first use.
    pub async fn jwt(&self, store: &Store, leeway: u64) -> Result<Arc<JwtVerifier>, StoreError> {
        self.jwt.get_or_try_init(|| self.load_jwt(store, leeway)).await.cloned()
    }

    /// The realm's JWT verifier as the store has it now, bypassing the cache.
    pub async fn load_jwt(&self, store: &Store, leeway: u64) -> Result<Arc<JwtVerifier>, StoreError> {
                let mut keys = Vec::new();
                match JwtKey::hs256(Some(TOKEN_KID.into()), &Secret::new(self.auth.token_key.expose())) {
                    Ok(k) => keys.push(k),
                    Err(e) => tracing::warn!(realm = self.uri(), error = %e, "realm token key unusable"),
                }
                for cred in store.jwt_keys(self.uri()).await? {
                    let CredentialMaterial::Jwt { algorithm, secret, public_key } = &cred.material else { continue };
                    let kid = Some(cred.authid.clone());
                    let key = match (algorithm, secret, public_key) {
                        (JwtAlgorithm::HS256, Some(s), _) => JwtKey::hs256(kid, &Secret::new(s.expose())),
                        (JwtAlgorithm::RS256, _, Some(pem)) => JwtKey::rs256_pem(kid, pem),
                        (JwtAlgorithm::EdDSA, _, Some(pem)) => JwtKey::eddsa_pem(kid, pem),
                        _ => {
                            tracing::warn!(realm = self.uri(), credential = %cred.id, "JWT credential without key material");
                            continue;
                        }
                    };
                    match key {
                        Ok(k) => keys.push(k.with_default_role(cred.role.clone()).with_source(cred.id.clone())),
                        Err(e) => tracing::warn!(realm = self.uri(), credential = %cred.id, error = %e, "JWT key unusable"),
                    }
                }
                Ok(Arc::new(JwtVerifier::new(self.uri(), keys).with_leeway(leeway)))
    }

    /// Whether verifying a token may cost more than a few microseconds (RSA, Ed25519).
    pub fn jwt_is_expensive(verifier: &JwtVerifier) -> bool {
        verifier.keys().iter().any(|k| k.algorithm() != jsonwebtoken::Algorithm::HS256)
    }
}

type Entry = Option<Arc<RealmInfo>>;

/// The per-pod realm cache.
pub struct RealmCache {
    map: Mutex<HashMap<String, Entry>>,
    /// Bumped by every invalidation; a load inserts only if it did not move meanwhile.
    generation: AtomicU64,
    max: usize,
}

impl RealmCache {
    pub fn new(max: usize) -> Self {
        RealmCache { map: Mutex::new(HashMap::new()), generation: AtomicU64::new(0), max: max.max(1) }
    }

    pub async fn get(&self, store: &Store, uri: &str) -> Result<Entry, StoreError> {
        if let Some(entry) = self.map.lock().get(uri) {
            return Ok(entry.clone());
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let entry = store.realm_by_uri(uri).await?.map(|auth| Arc::new(RealmInfo { auth, jwt: OnceCell::new() }));
        let mut map = self.map.lock();
        if self.generation.load(Ordering::SeqCst) == generation {
            if map.len() >= self.max {
                map.clear();
            }
            map.insert(uri.to_owned(), entry.clone());
        }
        Ok(entry)
    }

    pub fn invalidate(&self, uri: &str) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.map.lock().remove(uri);
    }

    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.map.lock().clear();
    }
}

#[async_trait]
impl RealmProvider for Gate {
    async fn realm(&self, uri: &str) -> Result<Option<RealmConfig>, ProviderError> {
        let entry = self.inner.realms.get(&self.inner.store, uri).await.map_err(|e| ProviderError(e.to_string()))?;
        if entry.is_some() {
            // The router opens it: remembered for the re-check after missed changes.
            self.inner.sessions.realm_opened(uri);
        }
        Ok(entry.map(|info| info.config()))
    }
}
