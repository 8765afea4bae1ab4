-- WAMP-CRA derived keys, and cryptosign look-up by public key.
-- Portable SQL (Postgres and SQLite), as the first migration. Never edit a migration once it
-- is released: add a new one.

-- Salted WAMP-CRA credentials keep only the derived key, as a Crossbar.io config does:
--   secret = base64(PBKDF2-HMAC-SHA256(password, salt, iterations, keylen)),
-- the HMAC key the client signs challenges with, so the password itself is never stored.
-- secret_derived says which of the two a salted row holds: TRUE for every salted credential
-- written from this migration on; FALSE for salted credentials written before it, which still
-- hold the password (routers derive the key at log-in; rotating such a credential stores the
-- derived key). Always FALSE for unsalted WAMP-CRA secrets and for other kinds.
ALTER TABLE credentials ADD COLUMN secret_derived BOOLEAN NOT NULL DEFAULT FALSE;

-- Cryptosign clients may send only their public key (no authid): routers find the credential
-- by (realm, key). A key identifies at most one live credential in a realm, so that the
-- look-up is never ambiguous (a revoked credential frees its key). Keys are stored as
-- lower-case hex. Partial: JWT public keys (PEM) share the column and are not looked up.
CREATE UNIQUE INDEX credentials_cryptosign_key ON credentials (realm_id, public_key)
    WHERE kind = 'cryptosign' AND revoked_at IS NULL;
