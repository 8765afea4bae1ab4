//! Domain types of the control store. Times are epoch milliseconds. The types that describe
//! stored objects serialize to JSON for the audit log, so none of them holds a secret:
//! verification material lives in [`CredentialMaterial`], which is never audited.

use serde::{Deserialize, Serialize};

use crate::{Secret, StoreError};

/// Who made a change: recorded in the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorKind,
    /// A user id or an API key id.
    pub id: String,
    /// What a person reads in the audit log: an e-mail or an API key's name and prefix.
    pub label: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActorKind {
    User,
    ApiKey,
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::ApiKey => "api_key",
            ActorKind::System => "system",
        }
    }
}

/// One page of a list, in id (creation) order.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The id to pass as `after` for the next page; `None` on the last page.
    pub next_after: Option<String>,
}

/// Which page: items with an id greater than `after`, at most `limit` of them.
#[derive(Clone, Debug, Default)]
pub struct PageRequest {
    pub after: Option<String>,
    pub limit: u32,
}

impl PageRequest {
    pub(crate) fn after(&self) -> &str {
        self.after.as_deref().unwrap_or("")
    }
    /// One more than asked for, to know whether there is a next page.
    pub(crate) fn fetch(&self) -> i64 {
        i64::from(self.limit.clamp(1, 1000)) + 1
    }
}

/// Builds a [`Page`] from rows fetched with [`PageRequest::fetch`].
pub(crate) fn page_of<T>(mut items: Vec<T>, req: &PageRequest, id: impl Fn(&T) -> &str) -> Page<T> {
    let limit = req.limit.clamp(1, 1000) as usize;
    let next_after = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|t| id(t).to_string())
    } else {
        None
    };
    Page { items, next_after }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantLimits {
    pub max_realms: i64,
    pub max_connections: i64,
    pub max_messages_per_sec: i64,
    pub max_message_size: i64,
}

impl TenantLimits {
    /// The limits of the free plan, given at sign-up.
    pub fn free() -> Self {
        TenantLimits {
            max_realms: 10,
            max_connections: 1000,
            max_messages_per_sec: 1000,
            max_message_size: 1024 * 1024,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tenant {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub plan: String,
    pub limits: TenantLimits,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: String,
    pub email: String,
    pub created_at: i64,
}

/// A user's role in a tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    Viewer,
    Admin,
    Owner,
}

impl MemberRole {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberRole::Owner => "owner",
            MemberRole::Admin => "admin",
            MemberRole::Viewer => "viewer",
        }
    }
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "owner" => Ok(MemberRole::Owner),
            "admin" => Ok(MemberRole::Admin),
            "viewer" => Ok(MemberRole::Viewer),
            other => Err(StoreError::Corrupt(format!("member role {other:?}"))),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Membership {
    pub tenant: Tenant,
    pub user_id: String,
    pub role: MemberRole,
}

/// A user and their password hash, for log-in.
#[derive(Clone, Debug)]
pub struct UserLogin {
    pub user: User,
    pub password_hash: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    /// The public part: the key reads `jk_<prefix>_<secret>`.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// An API key and its secret hash, for authenticating a request.
#[derive(Clone, Debug)]
pub struct ApiKeyAuth {
    pub key: ApiKey,
    pub secret_hash: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Realm {
    pub id: String,
    pub tenant_id: String,
    pub uri: String,
    pub allow_anonymous: bool,
    /// The role anonymous sessions get, when anonymous access is on.
    pub anonymous_role: String,
    /// The realm's dynamic authenticator: called for `ticket` log-ins the store has no
    /// credential for.
    pub authenticator: Option<ProcedureRef>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A tenant procedure a router calls (dynamic authenticator or authorizer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcedureRef {
    pub procedure: String,
    /// URI of the realm (of the same tenant) the procedure is registered in; `None` = the
    /// realm of the session.
    pub realm: Option<String>,
}

impl ProcedureRef {
    pub(crate) fn from_columns(procedure: Option<String>, realm: Option<String>) -> Option<Self> {
        procedure.map(|procedure| ProcedureRef { procedure, realm })
    }

    /// The `(procedure, realm)` columns of an optional reference.
    pub(crate) fn columns(r: &Option<ProcedureRef>) -> (Option<&str>, Option<&str>) {
        match r {
            Some(r) => (Some(r.procedure.as_str()), r.realm.as_deref()),
            None => (None, None),
        }
    }
}

/// What a router needs to admit sessions to a realm.
#[derive(Clone, Debug)]
pub struct RealmAuth {
    pub realm: Realm,
    /// HS256 key of the client tokens minted by `POST /v1/realms/{id}/tokens`.
    pub token_key: Secret,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Role {
    pub id: String,
    pub realm_id: String,
    pub name: String,
    /// The role's dynamic authorizer: called for the role's actions instead of its rules.
    pub authorizer: Option<ProcedureRef>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// How a rule's URI matches: as in Crossbar.io and WAMP subscriptions / registrations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchPolicy {
    Exact,
    Prefix,
    Wildcard,
}

impl MatchPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchPolicy::Exact => "exact",
            MatchPolicy::Prefix => "prefix",
            MatchPolicy::Wildcard => "wildcard",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "exact" => Some(MatchPolicy::Exact),
            "prefix" => Some(MatchPolicy::Prefix),
            "wildcard" => Some(MatchPolicy::Wildcard),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allow {
    pub call: bool,
    pub register: bool,
    pub publish: bool,
    pub subscribe: bool,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disclose {
    pub caller: bool,
    pub publisher: bool,
}

/// The content of a permission rule, as given by a tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuleSpec {
    pub uri: String,
    pub match_policy: MatchPolicy,
    pub allow: Allow,
    pub disclose: Disclose,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PermissionRule {
    pub id: String,
    pub role_id: String,
    pub uri: String,
    pub match_policy: MatchPolicy,
    pub allow: Allow,
    pub disclose: Disclose,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    Ticket,
    Wampcra,
    Cryptosign,
    Jwt,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Ticket => "ticket",
            CredentialKind::Wampcra => "wampcra",
            CredentialKind::Cryptosign => "cryptosign",
            CredentialKind::Jwt => "jwt",
        }
    }
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "ticket" => Ok(CredentialKind::Ticket),
            "wampcra" => Ok(CredentialKind::Wampcra),
            "cryptosign" => Ok(CredentialKind::Cryptosign),
            "jwt" => Ok(CredentialKind::Jwt),
            other => Err(StoreError::Corrupt(format!("credential kind {other:?}"))),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JwtAlgorithm {
    HS256,
    RS256,
    EdDSA,
}

impl JwtAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            JwtAlgorithm::HS256 => "HS256",
            JwtAlgorithm::RS256 => "RS256",
            JwtAlgorithm::EdDSA => "EdDSA",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "HS256" => Some(JwtAlgorithm::HS256),
            "RS256" => Some(JwtAlgorithm::RS256),
            "EdDSA" => Some(JwtAlgorithm::EdDSA),
            _ => None,
        }
    }
}

/// What a router verifies a WAMP authentication against.
///
/// Storage choices:
/// - tickets are stored as argon2id hashes only (verify with [`crate::secrets::verify`]);
/// - WAMP-CRA: the router computes HMAC-SHA256(key, challenge), so it needs the HMAC key
///   itself, not a hash of it:
///   - unsalted: `secret` is the shared secret, in clear (the HMAC key);
///   - salted (`salt`, `iterations`, `keylen` set): `secret` is the *derived key*,
///     `base64(PBKDF2-HMAC-SHA256(password, salt, iterations, keylen))` (the salt's UTF-8
///     bytes, not decoded), which is the HMAC key the client signs with, as autobahn computes
///     it and as a Crossbar.io config stores it (`derived: true`). The password is never
///     stored; compute the key with `junction_auth::cra::derive_key`. Salted credentials
///     written before the second migration still hold the password (`derived: false`), from
///     which a router derives the key at each log-in; rotating one stores the derived key.
///
///   Either way it is key material: never returned by the API after issue, never audited and
///   never logged. TODO: envelope-encrypt it (and HS256 keys) with a key from the deployment's
///   KMS.
/// - cryptosign: the Ed25519 public key, 64 lower-case hex characters; a key names at most one
///   live credential per realm ([`crate::Store::credential_by_public_key`]);
/// - JWT: the HS256 key (in clear, as WAMP-CRA), or the RS256 / EdDSA public key as PEM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialMaterial {
    Ticket {
        secret_hash: String,
    },
    Wampcra {
        /// The HMAC key: the secret itself when unsalted; when salted, the derived key if
        /// `derived`, else the password (legacy rows only).
        secret: Secret,
        /// Present when the secret is salted (PBKDF2 key derivation), with `iterations` and
        /// `keylen`.
        salt: Option<String>,
        iterations: Option<i64>,
        keylen: Option<i64>,
        /// Salted only: `secret` is the derived key, not the password. The store refuses to
        /// write a salted password (`derived: false` with a salt) and `derived: true` without
        /// a salt.
        derived: bool,
    },
    Cryptosign {
        public_key: String,
    },
    Jwt {
        algorithm: JwtAlgorithm,
        /// HS256 only.
        secret: Option<Secret>,
        /// RS256 / EdDSA only: PEM.
        public_key: Option<String>,
    },
}

impl CredentialMaterial {
    pub fn kind(&self) -> CredentialKind {
        match self {
            CredentialMaterial::Ticket { .. } => CredentialKind::Ticket,
            CredentialMaterial::Wampcra { .. } => CredentialKind::Wampcra,
            CredentialMaterial::Cryptosign { .. } => CredentialKind::Cryptosign,
            CredentialMaterial::Jwt { .. } => CredentialKind::Jwt,
        }
    }
}

/// The public description of a credential: safe to list and to audit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Credential {
    pub id: String,
    pub realm_id: String,
    pub kind: CredentialKind,
    pub authid: String,
    pub role: String,
    pub label: String,
    /// WAMP-CRA: the PBKDF2 parameters (public: the client needs them).
    pub salt: Option<String>,
    pub iterations: Option<i64>,
    pub keylen: Option<i64>,
    /// Cryptosign: hex Ed25519 key; JWT RS256 / EdDSA: PEM.
    pub public_key: Option<String>,
    pub algorithm: Option<JwtAlgorithm>,
    pub created_at: i64,
    pub updated_at: i64,
    pub revoked_at: Option<i64>,
}

/// A new credential.
#[derive(Clone, Debug)]
pub struct NewCredential {
    pub authid: String,
    pub role: String,
    pub label: String,
    pub material: CredentialMaterial,
}

/// A live credential with its verification material, for a router.
#[derive(Clone, Debug)]
pub struct AuthCredential {
    pub id: String,
    pub authid: String,
    pub role: String,
    pub material: CredentialMaterial,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: String,
    pub tenant_id: String,
    pub actor_kind: String,
    pub actor_id: String,
    pub actor_label: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub at: i64,
}
