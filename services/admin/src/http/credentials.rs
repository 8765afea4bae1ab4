//! WAMP credentials of a realm: ticket, WAMP-CRA, cryptosign, JWT keys. Each maps an authid to
//! a role. Secrets (tickets, WAMP-CRA secrets, HS256 keys) are returned once, when issued or
//! rotated, and never again.

use axum::Json as Out;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use junction_auth::cra;
use junction_changefeed::Change;
use junction_store::{
    Credential, CredentialKind, CredentialMaterial, JwtAlgorithm, NewCredential, Realm, Secret,
    secrets,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{check_ident, check_name, ts};
use crate::auth::{Principal, Scope};
use crate::error::{ApiError, Problem, Violations};
use crate::extract::{Json, List, ListParams, Query, parse_json};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_credentials, create_credential))
        .routes(routes!(get_credential, delete_credential))
        .routes(routes!(rotate_credential))
        .routes(routes!(revoke_credential))
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Ticket,
    Wampcra,
    Cryptosign,
    Jwt,
}

impl From<CredentialKind> for Kind {
    fn from(k: CredentialKind) -> Self {
        match k {
            CredentialKind::Ticket => Kind::Ticket,
            CredentialKind::Wampcra => Kind::Wampcra,
            CredentialKind::Cryptosign => Kind::Cryptosign,
            CredentialKind::Jwt => Kind::Jwt,
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub enum Algorithm {
    HS256,
    RS256,
    EdDSA,
}

impl From<Algorithm> for JwtAlgorithm {
    fn from(a: Algorithm) -> Self {
        match a {
            Algorithm::HS256 => JwtAlgorithm::HS256,
            Algorithm::RS256 => JwtAlgorithm::RS256,
            Algorithm::EdDSA => JwtAlgorithm::EdDSA,
        }
    }
}

impl From<JwtAlgorithm> for Algorithm {
    fn from(a: JwtAlgorithm) -> Self {
        match a {
            JwtAlgorithm::HS256 => Algorithm::HS256,
            JwtAlgorithm::RS256 => Algorithm::RS256,
            JwtAlgorithm::EdDSA => Algorithm::EdDSA,
        }
    }
}

/// A new credential. Which fields apply depends on `kind`:
/// - `ticket`: `secret` (optional: generated when absent);
/// - `wampcra`: `secret` (optional), and `salted` or `salt` / `iterations` / `keylen` for a
///   PBKDF2-derived key (defaults: a random salt, 1000 iterations, 32 bytes). Salted, only the
///   derived key `base64(PBKDF2-HMAC-SHA256(secret, salt, iterations, keylen))` is stored, as
///   Crossbar.io does: clients derive it from the secret and the challenge's salt parameters;
/// - `cryptosign`: `public_key` (Ed25519, 64 hex characters), unique among the realm's live
///   credentials (409 otherwise: routers identify a client by its key);
/// - `jwt`: `algorithm`; HS256: `secret` (optional); RS256 / EdDSA: `public_key` (PEM).
///   For JWT keys `authid` names the key (matched against the token's `kid`), and `role` is the
///   role of sessions whose token names none.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCredential {
    pub kind: Kind,
    pub authid: String,
    pub role: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub secret: Option<Secret>,
    #[serde(default)]
    pub salted: Option<bool>,
    #[serde(default)]
    pub salt: Option<String>,
    #[serde(default)]
    pub iterations: Option<i64>,
    #[serde(default)]
    pub keylen: Option<i64>,
    #[serde(default)]
    pub public_key: Option<String>,
    #[serde(default)]
    pub algorithm: Option<Algorithm>,
}

/// New material for a credential: a `secret` (optional, generated when absent) for ticket,
/// WAMP-CRA and HS256 credentials; a `public_key` for cryptosign, RS256 and EdDSA ones.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateCredential {
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub secret: Option<Secret>,
    #[serde(default)]
    pub public_key: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CredentialOut {
    pub id: String,
    pub realm_id: String,
    pub kind: Kind,
    pub authid: String,
    pub role: String,
    pub label: String,
    /// WAMP-CRA: PBKDF2 salt, when salted.
    pub salt: Option<String>,
    pub iterations: Option<i64>,
    pub keylen: Option<i64>,
    /// Cryptosign: hex Ed25519 key; JWT RS256 / EdDSA: PEM.
    pub public_key: Option<String>,
    pub algorithm: Option<Algorithm>,
    pub created_at: String,
    pub updated_at: String,
    pub revoked_at: Option<String>,
}

impl From<Credential> for CredentialOut {
    fn from(c: Credential) -> Self {
        CredentialOut {
            id: c.id,
            realm_id: c.realm_id,
            kind: c.kind.into(),
            authid: c.authid,
            role: c.role,
            label: c.label,
            salt: c.salt,
            iterations: c.iterations,
            keylen: c.keylen,
            public_key: c.public_key,
            algorithm: c.algorithm.map(Algorithm::from),
            created_at: ts(c.created_at),
            updated_at: ts(c.updated_at),
            revoked_at: c.revoked_at.map(ts),
        }
    }
}

/// A credential just issued or rotated.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IssuedCredential {
    pub credential: CredentialOut,
    /// The secret (ticket, WAMP-CRA secret or HS256 key), shown this once; absent for
    /// public-key credentials.
    pub secret: Option<String>,
}

fn check_secret(v: &mut Violations, field: &str, s: &Option<Secret>) {
    if let Some(s) = s {
        let n = s.expose().chars().count();
        if !(16..=1024).contains(&n) {
            v.add(field, "must be 16 to 1024 characters");
        }
    }
}

fn check_hex_key(v: &mut Violations, field: &str, key: &str) {
    if key.len() != 64 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        v.add(
            field,
            "must be an Ed25519 public key: 64 hexadecimal characters",
        );
    }
}

fn check_pem(v: &mut Violations, field: &str, alg: Algorithm, pem: &str) {
    let ok = match alg {
        Algorithm::RS256 => jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()).is_ok(),
        Algorithm::EdDSA => jsonwebtoken::DecodingKey::from_ed_pem(pem.as_bytes()).is_ok(),
        Algorithm::HS256 => true,
    };
    if !ok || !pem.contains("PUBLIC KEY") {
        v.add(field, format!("must be a PEM-encoded {alg:?} public key"));
    }
}

fn not_for(v: &mut Violations, field: &str, present: bool, kind: &str) {
    if present {
        v.add(field, format!("is not used by {kind} credentials"));
    }
}

/// Turns a request into stored material and the secret to show once.
async fn material_of(
    state: &AppState,
    req: &CreateCredential,
) -> Result<(CredentialMaterial, Option<Secret>), ApiError> {
    let mut v = Violations::new();
    v.check("authid", check_authid(&req.authid));
    v.check("role", check_ident(&req.role, 64));
    if let Some(label) = req.label.as_deref().filter(|l| !l.is_empty()) {
        v.check("label", check_name(label, 200));
    }
    check_secret(&mut v, "secret", &req.secret);
    let salt_fields = req.salted.is_some()
        || req.salt.is_some()
        || req.iterations.is_some()
        || req.keylen.is_some();
    match req.kind {
        Kind::Ticket => {
            not_for(&mut v, "salt", salt_fields, "ticket");
            not_for(&mut v, "public_key", req.public_key.is_some(), "ticket");
            not_for(&mut v, "algorithm", req.algorithm.is_some(), "ticket");
            v.finish()?;
            let secret = req
                .secret
                .clone()
                .unwrap_or_else(|| secrets::random_token(24));
            let secret_hash = secrets::hash(secret.clone(), state.hash_params()).await?;
            Ok((CredentialMaterial::Ticket { secret_hash }, Some(secret)))
        }
        Kind::Wampcra => {
            not_for(&mut v, "public_key", req.public_key.is_some(), "wampcra");
            not_for(&mut v, "algorithm", req.algorithm.is_some(), "wampcra");
            let salted = req.salted.unwrap_or(false)
                || req.salt.is_some()
                || req.iterations.is_some()
                || req.keylen.is_some();
            if req.salted == Some(false) && salted {
                v.add("salted", "is false but salt parameters are given");
            }
            if let Some(salt) = &req.salt {
                v.check("salt", check_ident(salt, 128));
            }
            if req
                .iterations
                .is_some_and(|i| !(1..=1_000_000).contains(&i))
            {
                v.add("iterations", "must be from 1 to 1000000");
            }
            if req.keylen.is_some_and(|k| !(16..=128).contains(&k)) {
                v.add("keylen", "must be from 16 to 128");
            }
            v.finish()?;
            let secret = req
                .secret
                .clone()
                .unwrap_or_else(|| secrets::random_token(32));
            let material = if salted {
                let salt = req
                    .salt
                    .clone()
                    .unwrap_or_else(|| secrets::random_alnum(16));
                let iterations = req.iterations.unwrap_or(1000);
                let keylen = req.keylen.unwrap_or(32);
                // Only the derived key is stored (see `CredentialMaterial`); the password is
                // returned this once, as for every secret.
                let key = derive_cra_key(&secret, &salt, iterations, keylen).await?;
                CredentialMaterial::Wampcra {
                    secret: key,
                    salt: Some(salt),
                    iterations: Some(iterations),
                    keylen: Some(keylen),
                    derived: true,
                }
            } else {
                CredentialMaterial::Wampcra {
                    secret: secret.clone(),
                    salt: None,
                    iterations: None,
                    keylen: None,
                    derived: false,
                }
            };
            Ok((material, Some(secret)))
        }
        Kind::Cryptosign => {
            not_for(&mut v, "secret", req.secret.is_some(), "cryptosign");
            not_for(&mut v, "salt", salt_fields, "cryptosign");
            not_for(&mut v, "algorithm", req.algorithm.is_some(), "cryptosign");
            match &req.public_key {
                Some(k) => check_hex_key(&mut v, "public_key", k),
                None => v.add("public_key", "is required for cryptosign credentials"),
            }
            v.finish()?;
            let public_key = req
                .public_key
                .clone()
                .unwrap_or_default()
                .to_ascii_lowercase();
            Ok((CredentialMaterial::Cryptosign { public_key }, None))
        }
        Kind::Jwt => {
            not_for(&mut v, "salt", salt_fields, "jwt");
            let Some(alg) = req.algorithm else {
                v.add(
                    "algorithm",
                    "is required for jwt credentials (HS256, RS256 or EdDSA)",
                );
                return Err(v
                    .finish()
                    .err()
                    .unwrap_or(ApiError::field("algorithm", "is required")));
            };
            if alg == Algorithm::HS256 {
                not_for(&mut v, "public_key", req.public_key.is_some(), "HS256");
                v.finish()?;
                let secret = req
                    .secret
                    .clone()
                    .unwrap_or_else(|| secrets::random_token(32));
                Ok((
                    CredentialMaterial::Jwt {
                        algorithm: alg.into(),
                        secret: Some(secret.clone()),
                        public_key: None,
                    },
                    Some(secret),
                ))
            } else {
                not_for(&mut v, "secret", req.secret.is_some(), "RS256 / EdDSA");
                match &req.public_key {
                    Some(pem) => check_pem(&mut v, "public_key", alg, pem),
                    None => v.add("public_key", "is required for RS256 and EdDSA keys"),
                }
                v.finish()?;
                Ok((
                    CredentialMaterial::Jwt {
                        algorithm: alg.into(),
                        secret: None,
                        public_key: req.public_key.clone(),
                    },
                    None,
                ))
            }
        }
    }
}

/// The WAMP-CRA key of a salted secret, `base64(PBKDF2-HMAC-SHA256(password, salt, iterations,
/// keylen))`, computed by the router's own `junction_auth::cra::derive_key` (what autobahn and
/// Crossbar.io compute), on the blocking pool: up to a million PBKDF2 iterations is CPU work.
async fn derive_cra_key(
    password: &Secret,
    salt: &str,
    iterations: i64,
    keylen: i64,
) -> Result<Secret, ApiError> {
    let params = cra::SaltParams::new(
        salt,
        u32::try_from(iterations).unwrap_or(0),
        u32::try_from(keylen).unwrap_or(0),
    )
    .map_err(ApiError::internal)?;
    let password = junction_auth::Secret::new(password.expose());
    let key = tokio::task::spawn_blocking(move || cra::derive_key(&password, &params))
        .await
        .map_err(ApiError::internal)?;
    Ok(Secret::new(key.expose()))
}

/// WAMP authids: 1-255 characters, no whitespace or control characters.
fn check_authid(authid: &str) -> Result<(), String> {
    if authid.is_empty() || authid.len() > 255 {
        return Err("must be 1 to 255 bytes".into());
    }
    if authid.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain whitespace or control characters".into());
    }
    Ok(())
}

async fn realm_of(state: &AppState, p: &Principal, realm_id: &str) -> Result<Realm, ApiError> {
    Ok(state.store.get_realm(&p.tenant_id, realm_id).await?)
}

/// Lists a realm's credentials (without secrets), revoked ones included.
#[utoipa::path(get, path = "/v1/realms/{realm_id}/credentials", tag = "credentials", params(("realm_id" = String, Path), ListParams),
    responses((status = 200, body = List<CredentialOut>), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn list_credentials(
    State(state): State<AppState>,
    p: Principal,
    Path(realm_id): Path<String>,
    Query(q): Query<ListParams>,
) -> Result<List<CredentialOut>, ApiError> {
    p.require(Scope::CredentialsRead)?;
    let page = q.page()?;
    let realm = realm_of(&state, &p, &realm_id).await?;
    Ok(List::from_page(
        state.store.list_credentials(&realm, &page).await?,
        CredentialOut::from,
    ))
}

/// Issues a credential. The answer holds its secret, this once.
#[utoipa::path(post, path = "/v1/realms/{realm_id}/credentials", tag = "credentials", params(("realm_id" = String, Path)), request_body = CreateCredential,
    responses((status = 201, body = IssuedCredential), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn create_credential(
    State(state): State<AppState>,
    p: Principal,
    Path(realm_id): Path<String>,
    Json(req): Json<CreateCredential>,
) -> Result<(StatusCode, Out<IssuedCredential>), ApiError> {
    p.require(Scope::CredentialsWrite)?;
    let realm = realm_of(&state, &p, &realm_id).await?;
    let (material, secret) = material_of(&state, &req).await?;
    if !state.store.role_exists(&realm, &req.role).await? {
        return Err(ApiError::field(
            "role",
            "no role with this name in the realm",
        ));
    }
    let credential = state
        .store
        .create_credential(
            &p.actor,
            &realm,
            NewCredential {
                authid: req.authid,
                role: req.role,
                label: req.label.unwrap_or_default(),
                material,
            },
        )
        .await?;
    state
        .announce(Change::CredentialUpdated {
            realm: realm.uri,
            authid: credential.authid.clone(),
        })
        .await;
    Ok((
        StatusCode::CREATED,
        Out(IssuedCredential {
            credential: credential.into(),
            secret: secret.map(Secret::into_exposed),
        }),
    ))
}

/// Reads a credential (without its secret).
#[utoipa::path(get, path = "/v1/realms/{realm_id}/credentials/{credential_id}", tag = "credentials",
    params(("realm_id" = String, Path), ("credential_id" = String, Path)),
    responses((status = 200, body = CredentialOut), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn get_credential(
    State(state): State<AppState>,
    p: Principal,
    Path((realm_id, id)): Path<(String, String)>,
) -> Result<Out<CredentialOut>, ApiError> {
    p.require(Scope::CredentialsRead)?;
    let realm = realm_of(&state, &p, &realm_id).await?;
    Ok(Out(state.store.get_credential(&realm, &id).await?.into()))
}

/// Replaces a credential's secret or key; the old one stops working at once. The answer holds
/// the new secret, this once.
#[utoipa::path(post, path = "/v1/realms/{realm_id}/credentials/{credential_id}/rotate", tag = "credentials",
    params(("realm_id" = String, Path), ("credential_id" = String, Path)), request_body(content = Option<RotateCredential>),
    responses((status = 200, body = IssuedCredential), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn rotate_credential(
    State(state): State<AppState>,
    p: Principal,
    Path((realm_id, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Out<IssuedCredential>, ApiError> {
    p.require(Scope::CredentialsWrite)?;
    let req: RotateCredential = if body.iter().all(u8::is_ascii_whitespace) {
        RotateCredential::default()
    } else {
        parse_json(&body)?
    };
    let realm = realm_of(&state, &p, &realm_id).await?;
    let before = state.store.get_credential(&realm, &id).await?;
    // Re-validate as a creation of the same kind, keeping the salt parameters.
    let create = CreateCredential {
        kind: before.kind.into(),
        authid: before.authid.clone(),
        role: before.role.clone(),
        label: None,
        secret: req.secret,
        salted: None,
        salt: None,
        iterations: before.iterations,
        keylen: before.keylen,
        public_key: req.public_key,
        algorithm: before.algorithm.map(Algorithm::from),
    };
    let (material, secret) = material_of(&state, &create).await?;
    let credential = state
        .store
        .rotate_credential(&p.actor, &realm, &before, material)
        .await?;
    state
        .announce(Change::CredentialUpdated {
            realm: realm.uri,
            authid: credential.authid.clone(),
        })
        .await;
    Ok(Out(IssuedCredential {
        credential: credential.into(),
        secret: secret.map(Secret::into_exposed),
    }))
}

/// Revokes a credential: it stays listed, authenticates nothing, and its sessions are closed.
#[utoipa::path(post, path = "/v1/realms/{realm_id}/credentials/{credential_id}/revoke", tag = "credentials",
    params(("realm_id" = String, Path), ("credential_id" = String, Path)),
    responses((status = 200, body = CredentialOut), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn revoke_credential(
    State(state): State<AppState>,
    p: Principal,
    Path((realm_id, id)): Path<(String, String)>,
) -> Result<Out<CredentialOut>, ApiError> {
    p.require(Scope::CredentialsWrite)?;
    let realm = realm_of(&state, &p, &realm_id).await?;
    let before = state.store.get_credential(&realm, &id).await?;
    let credential = state
        .store
        .revoke_credential(&p.actor, &realm, &before)
        .await?;
    state
        .announce(Change::CredentialRevoked {
            realm: realm.uri,
            authid: credential.authid.clone(),
        })
        .await;
    Ok(Out(credential.into()))
}

/// Deletes a credential; its sessions are closed.
#[utoipa::path(delete, path = "/v1/realms/{realm_id}/credentials/{credential_id}", tag = "credentials",
    params(("realm_id" = String, Path), ("credential_id" = String, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn delete_credential(
    State(state): State<AppState>,
    p: Principal,
    Path((realm_id, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    p.require(Scope::CredentialsWrite)?;
    let realm = realm_of(&state, &p, &realm_id).await?;
    let credential = state.store.get_credential(&realm, &id).await?;
    state
        .store
        .delete_credential(&p.actor, &realm, &credential)
        .await?;
    state
        .announce(Change::CredentialRevoked {
            realm: realm.uri,
            authid: credential.authid,
        })
        .await;
    Ok(StatusCode::NO_CONTENT)
}
