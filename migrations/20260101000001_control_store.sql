-- The control store: one schema for Postgres and SQLite.
--
-- Portable SQL only, so that one migration set serves both backends:
--   * ids are TEXT: a type prefix and a time-ordered random part (see junction_store::ids),
--     so ORDER BY id is creation order and serves as the pagination cursor;
--   * times are BIGINT milliseconds since the Unix epoch;
--   * flags are BOOLEAN (SQLite stores 0/1);
--   * lists (API key scopes) are TEXT with space-separated words.
-- Never edit a migration once it is released: add a new one.

CREATE TABLE tenants (
    id                   TEXT PRIMARY KEY,
    slug                 TEXT NOT NULL UNIQUE,
    name                 TEXT NOT NULL,
    plan                 TEXT NOT NULL,
    -- per-tenant limits that routers enforce
    max_realms           BIGINT NOT NULL,
    max_connections      BIGINT NOT NULL,
    max_messages_per_sec BIGINT NOT NULL,
    max_message_size     BIGINT NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    -- stored lower-cased
    email         TEXT NOT NULL UNIQUE,
    -- argon2id PHC string
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE memberships (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'viewer')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

-- Refresh tokens of dashboard / CLI log-ins. Only a SHA-256 of the token is kept (the token
-- is 256 random bits, so a slow hash adds nothing); each use rotates it.
CREATE TABLE refresh_tokens (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    -- the public part of the key (`jk_<prefix>_<secret>`), shown in lists, used for look-up
    prefix       TEXT NOT NULL UNIQUE,
    -- argon2id PHC string of the secret part
    secret_hash  TEXT NOT NULL,
    -- space-separated scopes
    scopes       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, id);

CREATE TABLE realms (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- globally unique: routers know realms by URI
    uri             TEXT NOT NULL UNIQUE,
    allow_anonymous BOOLEAN NOT NULL DEFAULT FALSE,
    anonymous_role  TEXT NOT NULL DEFAULT 'anonymous',
    -- HS256 key with which `POST /v1/realms/{id}/tokens` signs client tokens; routers verify
    -- those tokens with it. Never returned by the API.
    token_key       TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX realms_tenant ON realms (tenant_id, id);

CREATE TABLE roles (
    id         TEXT PRIMARY KEY,
    realm_id   TEXT NOT NULL REFERENCES realms (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (realm_id, name)
);

-- Crossbar.io role permissions: uri + match + allow + disclose.
CREATE TABLE permission_rules (
    id                 TEXT PRIMARY KEY,
    role_id            TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    uri                TEXT NOT NULL,
    match_policy       TEXT NOT NULL CHECK (match_policy IN ('exact', 'prefix', 'wildcard')),
    allow_call         BOOLEAN NOT NULL,
    allow_register     BOOLEAN NOT NULL,
    allow_publish      BOOLEAN NOT NULL,
    allow_subscribe    BOOLEAN NOT NULL,
    disclose_caller    BOOLEAN NOT NULL,
    disclose_publisher BOOLEAN NOT NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    UNIQUE (role_id, uri, match_policy)
);

-- Credentials with which WAMP clients authenticate to a realm; each maps an authid to a role
-- (by name: a credential may name a role that is created later, and deleting a role makes its
-- credentials fail authentication rather than vanish).
--   ticket:     secret_hash = argon2id PHC string of the ticket
--   wampcra:    secret = the shared secret itself (the router must compute the HMAC), plus
--               salt / iterations / keylen when the secret is salted (PBKDF2)
--   cryptosign: public_key = Ed25519 public key, 64 hex characters
--   jwt:        algorithm HS256 -> secret = the HMAC key; RS256 / EdDSA -> public_key = PEM
CREATE TABLE credentials (
    id           TEXT PRIMARY KEY,
    realm_id     TEXT NOT NULL REFERENCES realms (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('ticket', 'wampcra', 'cryptosign', 'jwt')),
    authid       TEXT NOT NULL,
    role         TEXT NOT NULL,
    label        TEXT NOT NULL DEFAULT '',
    secret_hash  TEXT,
    secret       TEXT,
    salt         TEXT,
    iterations   BIGINT,
    keylen       BIGINT,
    public_key   TEXT,
    algorithm    TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX credentials_realm ON credentials (realm_id, id);
CREATE INDEX credentials_authid ON credentials (realm_id, authid);

-- Every change made through the control plane. before/after are JSON documents without secrets.
CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    actor_kind  TEXT NOT NULL,
    actor_id    TEXT NOT NULL,
    actor_label TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    before_json TEXT,
    after_json  TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);
