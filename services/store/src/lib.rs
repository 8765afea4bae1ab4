//! The control store: what tenants configure and routers obey.
//!
//! Modules:
//! - [`model`]: the domain types (tenants, users, API keys, realms, roles, permission rules,
//!   credentials, audit entries), free of any database type;
//! - [`ids`]: prefixed, time-ordered ids (`rlm_01J...`), which double as pagination cursors;
//! - [`secrets`]: the [`Secret`] wrapper, argon2 hashing off the async runtime, random tokens;
//! - the repository functions, as methods on [`Store`], one file per resource.
//!
//! One set of SQL serves both backends: Postgres in production and SQLite as the embedded
//! default. The queries are portable (TEXT ids, BIGINT epoch-millisecond times, BOOLEAN flags,
//! `$n` placeholders, which SQLite accepts too) and are written once; the `with_db!` and
//! `with_tx!` macros instantiate each for both pool types. The migrations in the top-level
//! `migrations/` are embedded and run by [`Store::migrate`].
//!
//! Tenant isolation lives here: every read or write of a tenant's data takes the tenant id
//! (or a [`model::Realm`] that was itself read with it) and filters on it in SQL, so that
//! another tenant's object is simply "not found".
//!
//! Every mutation writes its audit-log entry in the same transaction.
//!
//! Input rules (URIs, names) are the caller's: the admin API checks realm URIs and rule
//! patterns with `junction_protocol::uri::validate` and `junction_auth::rules::validate_rule_uri`,
//! exactly as routers do, so the store holds only what a router accepts.
#![forbid(unsafe_code)]

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// Runs `$body` with `$pool` bound to the backend's pool (`&PgPool` or `&SqlitePool`).
/// The body is type-checked once per backend, so the SQL in it must be portable.
macro_rules! with_db {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.db {
            $crate::Db::Postgres($pool) => $body,
            $crate::Db::Sqlite($pool) => $body,
        }
    };
}

/// Runs `$body` inside a transaction bound to `$tx` and commits it; an early return (`?`)
/// drops the transaction, which rolls it back. SQLite write transactions start with
/// `BEGIN IMMEDIATE` so that two writers queue on the busy timeout instead of failing when
/// a read lock cannot be upgraded.
macro_rules! with_tx {
    ($store:expr, |$tx:ident| $body:expr) => {
        match &$store.db {
            $crate::Db::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            $crate::Db::Sqlite(pool) => {
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}

/// Writes one audit-log entry ([`audit::NewAudit`]) with the executor `$tx`.
macro_rules! audit {
    ($tx:expr, $entry:expr) => {{
        let e: $crate::audit::NewAudit = $entry;
        sqlx::query(
            "INSERT INTO audit_log (id, tenant_id, actor_kind, actor_id, actor_label, action, \
             target_kind, target_id, before_json, after_json, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind($crate::ids::new_id("aud"))
        .bind(e.tenant_id)
        .bind(e.actor.kind.as_str())
        .bind(e.actor.id)
        .bind(e.actor.label)
        .bind(e.action)
        .bind(e.target_kind)
        .bind(e.target_id)
        .bind(e.before)
        .bind(e.after)
        .bind($crate::now_millis())
        .execute(&mut *$tx)
        .await?;
    }};
}

/// Deletes the one row `$sql` names (`... WHERE <parent> = $1 AND id = $2`) in a transaction
/// with its audit entry; `NotFound` when no row matched (already gone, or another parent's).
macro_rules! delete_audited {
    ($store:expr, $sql:literal, $parent_id:expr, $id:expr, $entry:expr) => {
        with_tx!($store, |tx| {
            let done = sqlx::query($sql).bind($parent_id).bind($id).execute(&mut *tx).await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            audit!(tx, $entry);
        })
    };
}

pub mod audit;
mod auth;
pub mod credentials;
pub mod ids;
pub mod model;
mod realms;
mod roles;
pub mod secrets;
mod tenants;

pub use audit::ActionRecord;
pub use auth::NewApiKey;
pub use model::*;
pub use realms::{NewRealm, RealmPatch};
pub use roles::RoleImport;
pub use secrets::{HashParams, Secret};
pub use tenants::NewSignup;

/// Errors of the store. `NotFound` covers "belongs to another tenant" too.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken: `field` names the input field at fault.
    #[error("{field}: {message}")]
    Conflict {
        field: &'static str,
        message: String,
    },
    /// A tenant limit (e.g. the number of realms) would be exceeded.
    #[error("limit reached: {0}")]
    LimitReached(String),
    #[error("unsupported database URL (expected postgres://, sqlite:// or sqlite::memory:)")]
    UnsupportedUrl,
    #[error("database error")]
    Db(#[from] sqlx::Error),
    #[error("migration error")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("secret hashing failed: {0}")]
    Hash(String),
    /// A stored value that the code cannot read back (e.g. an unknown enum string).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The caller asked the store to write something it must not hold (e.g. a salted WAMP-CRA
    /// password instead of its derived key): a bug in the caller, not bad user input.
    #[error("refused to store: {0}")]
    Invalid(&'static str),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Turns a unique-constraint violation into [`StoreError::Conflict`].
pub(crate) fn conflict_on(
    field: &'static str,
    message: &'static str,
) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict {
            field,
            message: message.to_string(),
        },
        _ => StoreError::Db(e),
    }
}

/// Milliseconds since the Unix epoch: every time in the store.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Clone, Debug)]
pub(crate) enum Db {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// Which database a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// The control store: a cheap `Clone` handle around a connection pool.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

impl Store {
    /// Connects to `postgres://...`, `sqlite://path?mode=rwc` or `sqlite::memory:`.
    /// Does not migrate: call [`Store::migrate`].
    pub async fn connect(url: &str) -> Result<Store> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            Ok(Store {
                db: Db::Postgres(pool),
            })
        } else if url.starts_with("sqlite:") {
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            let options = SqliteConnectOptions::from_str(url)?
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let options = if in_memory {
                options
            } else {
                options
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
            };
            let pool = if in_memory {
                // Every connection to `:memory:` opens its own empty database: keep exactly one,
                // forever.
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(options)
                    .await?
            } else {
                SqlitePoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?
            };
            Ok(Store {
                db: Db::Sqlite(pool),
            })
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }

    /// Applies the embedded migrations that are not applied yet.
    pub async fn migrate(&self) -> Result<()> {
        match &self.db {
            Db::Postgres(pool) => MIGRATOR.run(pool).await?,
            Db::Sqlite(pool) => MIGRATOR.run(pool).await?,
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Postgres(_) => Backend::Postgres,
            Db::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<()> {
        with_db!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Closes every connection; in-flight queries finish first.
    pub async fn close(&self) {
        with_db!(self, |pool| pool.close().await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor() -> Actor {
        Actor {
            kind: ActorKind::System,
            id: "test".into(),
            label: "test".into(),
        }
    }

    #[tokio::test]
    async fn the_embedded_default_works_in_memory() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        // Migrating twice is a no-op.
        store.migrate().await.unwrap();
        assert_eq!(store.backend(), Backend::Sqlite);
        let (tenant, _) = store
            .signup(NewSignup {
                tenant_slug: "acme".into(),
                tenant_name: "Acme".into(),
                plan: "free".into(),
                limits: TenantLimits::free(),
                email: "A@B.test".into(),
                password_hash: "x".into(),
            })
            .await
            .unwrap();
        let realm = store
            .create_realm(
                &actor(),
                &tenant.id,
                NewRealm {
                    uri: "com.acme".into(),
                    allow_anonymous: false,
                    anonymous_role: "anonymous".into(),
                    token_key: Secret::new("k"),
                    authenticator: None,
                },
            )
            .await
            .unwrap();
        let role = store
            .create_role(&actor(), &realm, "backend", None)
            .await
            .unwrap();
        let spec = RuleSpec {
            uri: "com.acme.".into(),
            match_policy: MatchPolicy::Prefix,
            allow: Allow {
                call: true,
                ..Allow::default()
            },
            disclose: Disclose::default(),
        };
        store
            .create_rule(&actor(), &realm, &role, spec.clone())
            .await
            .unwrap();
        assert!(matches!(
            store.create_rule(&actor(), &realm, &role, spec).await,
            Err(StoreError::Conflict { field: "uri", .. })
        ));
        let rules = store
            .role_rules("com.acme", "backend")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rules.len(), 1);
        assert!(store.realm_by_uri("com.acme").await.unwrap().is_some());
        // Dynamic authenticator / authorizer round-trip.
        let proc_ref = ProcedureRef { procedure: "com.acme.auth".into(), realm: Some("com.acme".into()) };
        let patch = RealmPatch { authenticator: Some(Some(proc_ref.clone())), ..RealmPatch::default() };
        let updated = store.update_realm(&actor(), &realm, patch).await.unwrap();
        let read = store.realm_by_uri("com.acme").await.unwrap().unwrap().realm;
        assert_eq!(read.authenticator, Some(proc_ref.clone()));
        let patch = RealmPatch { authenticator: Some(None), ..RealmPatch::default() };
        store.update_realm(&actor(), &updated, patch).await.unwrap();
        assert_eq!(store.realm_by_uri("com.acme").await.unwrap().unwrap().realm.authenticator, None);
        assert_eq!(store.role_authorizer("com.acme", "backend").await.unwrap(), None);
        let role = store.update_role_authorizer(&actor(), &realm, &role, Some(proc_ref.clone())).await.unwrap();
        assert_eq!(store.role_authorizer("com.acme", "backend").await.unwrap(), Some(proc_ref.clone()));
        assert_eq!(store.get_role(&realm, &role.id).await.unwrap().authorizer, Some(proc_ref));
        assert!(store.tenant_realm_by_uri(&tenant.id, "com.acme").await.is_ok());
        assert!(matches!(store.tenant_realm_by_uri("ten_other", "com.acme").await, Err(StoreError::NotFound)));
        assert!(matches!(
            store.get_realm("ten_other", &realm.id).await,
            Err(StoreError::NotFound)
        ));
        // Deleting the realm cascades (foreign keys are on).
        store.delete_realm(&actor(), &realm).await.unwrap();
        assert!(
            store
                .role_rules("com.acme", "backend")
                .await
                .unwrap()
                .is_none()
        );
        let log = store
            .list_audit(
                &tenant.id,
                &PageRequest {
                    after: None,
                    limit: 100,
                },
            )
            .await
            .unwrap();
        let actions: Vec<&str> = log.items.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "tenant.create",
                "realm.create",
                "role.create",
                "rule.create",
                "realm.update",
                "realm.update",
                "role.update",
                "realm.delete"
            ]
        );
    }

    #[tokio::test]
    async fn unknown_urls_are_refused() {
        assert!(matches!(
            Store::connect("mysql://x").await,
            Err(StoreError::UnsupportedUrl)
        ));
    }
}
