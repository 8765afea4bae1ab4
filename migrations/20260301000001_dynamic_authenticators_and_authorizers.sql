-- Dynamic authenticators (per realm) and dynamic authorizers (per role), set by tenants
-- through the admin API. Portable SQL (Postgres and SQLite), as the first migration. Never
-- edit a migration once it is released: add a new one.

-- The procedure a router calls to authenticate `ticket` log-ins the store has no credential
-- for; NULL = none. authenticator_realm is the URI of the realm (of the same tenant) where the
-- procedure is registered; NULL = this realm. Routers check the tenant again on every call.
ALTER TABLE realms ADD COLUMN authenticator_procedure TEXT NULL;
ALTER TABLE realms ADD COLUMN authenticator_realm TEXT NULL;

-- The procedure a router calls to authorize the role's actions instead of its rules; NULL =
-- the rules. authorizer_realm as authenticator_realm above.
ALTER TABLE roles ADD COLUMN authorizer_procedure TEXT NULL;
ALTER TABLE roles ADD COLUMN authorizer_realm TEXT NULL;
