//! Realms: owned by one tenant, known to routers by their globally unique URI.

use crate::audit::NewAudit;
use crate::ids::new_id;
use crate::model::*;
use crate::{Result, Secret, Store, StoreError, conflict_on, now_millis};

#[derive(Clone, Debug)]
pub struct NewRealm {
    pub uri: String,
    pub allow_anonymous: bool,
    pub anonymous_role: String,
    /// The HS256 key for client tokens (generate it with `secrets::random_token(32)`).
    pub token_key: Secret,
    pub authenticator: Option<ProcedureRef>,
}

/// A partial update of a realm's settings.
#[derive(Clone, Debug, Default)]
pub struct RealmPatch {
    pub allow_anonymous: Option<bool>,
    pub anonymous_role: Option<String>,
    /// `Some(None)` clears the dynamic authenticator.
    pub authenticator: Option<Option<ProcedureRef>>,
}

#[derive(sqlx::FromRow)]
struct RealmRow {
    id: String,
    tenant_id: String,
    uri: String,
    allow_anonymous: bool,
    anonymous_role: String,
    token_key: String,
    authenticator_procedure: Option<String>,
    authenticator_realm: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl RealmRow {
    fn into_auth(self) -> RealmAuth {
        RealmAuth {
            realm: Realm {
                id: self.id,
                tenant_id: self.tenant_id,
                uri: self.uri,
                allow_anonymous: self.allow_anonymous,
                anonymous_role: self.anonymous_role,
                authenticator: ProcedureRef::from_columns(self.authenticator_procedure, self.authenticator_realm),
                created_at: self.created_at,
                updated_at: self.updated_at,
            },
            token_key: Secret::new(self.token_key),
        }
    }
}

impl Store {
    /// Creates a realm. Conflict: `uri` (realm URIs are unique across tenants);
    /// `LimitReached` past the tenant's `max_realms`.
    pub async fn create_realm(
        &self,
        actor: &Actor,
        tenant_id: &str,
        new: NewRealm,
    ) -> Result<Realm> {
        let now = now_millis();
        let realm = Realm {
            id: new_id("rlm"),
            tenant_id: tenant_id.to_string(),
            uri: new.uri,
            allow_anonymous: new.allow_anonymous,
            anonymous_role: new.anonymous_role,
            authenticator: new.authenticator,
            created_at: now,
            updated_at: now,
        };
        let (auth_proc, auth_realm) = ProcedureRef::columns(&realm.authenticator);
        with_tx!(self, |tx| {
            let (count, max): (i64, i64) = sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM realms WHERE tenant_id = $1), \
                 (SELECT max_realms FROM tenants WHERE id = $1)",
            )
            .bind(tenant_id)
            .fetch_one(&mut *tx)
            .await?;
            if count >= max {
                return Err(StoreError::LimitReached(format!(
                    "the tenant's plan allows {max} realms"
                )));
            }
            sqlx::query(
                "INSERT INTO realms (id, tenant_id, uri, allow_anonymous, anonymous_role, token_key, \
                 authenticator_procedure, authenticator_realm, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&realm.id)
            .bind(tenant_id)
            .bind(&realm.uri)
            .bind(realm.allow_anonymous)
            .bind(&realm.anonymous_role)
            .bind(new.token_key.expose())
            .bind(auth_proc)
            .bind(auth_realm)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(conflict_on("uri", "is already taken"))?;
            audit!(
                tx,
                NewAudit::new(tenant_id, actor, "realm.create", "realm", &realm.id).after(&realm)
            );
        });
        Ok(realm)
    }

    pub async fn list_realms(&self, tenant_id: &str, page: &PageRequest) -> Result<Page<Realm>> {
        let rows: Vec<RealmRow> = with_db!(self, |pool| {
            sqlx::query_as(
                "SELECT * FROM realms WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            )
            .bind(tenant_id)
            .bind(page.after())
            .bind(page.fetch())
            .fetch_all(pool)
            .await?
        });
        let realms = rows.into_iter().map(|r| r.into_auth().realm).collect();
        Ok(page_of(realms, page, |r: &Realm| &r.id))
    }

    /// The tenant's realm with this id; `NotFound` for another tenant's.
    pub async fn get_realm(&self, tenant_id: &str, realm_id: &str) -> Result<Realm> {
        Ok(self.get_realm_auth(tenant_id, realm_id).await?.realm)
    }

    /// [`Store::get_realm`] with the realm's token key, for minting client tokens.
    pub async fn get_realm_auth(&self, tenant_id: &str, realm_id: &str) -> Result<RealmAuth> {
        let row: Option<RealmRow> = with_db!(self, |pool| {
            sqlx::query_as("SELECT * FROM realms WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id)
                .bind(realm_id)
                .fetch_optional(pool)
                .await?
        });
        row.map(RealmRow::into_auth).ok_or(StoreError::NotFound)
    }

    /// For routers: the realm with this URI, whoever owns it.
    pub async fn realm_by_uri(&self, uri: &str) -> Result<Option<RealmAuth>> {
        let row: Option<RealmRow> = with_db!(self, |pool| {
            sqlx::query_as("SELECT * FROM realms WHERE uri = $1")
                .bind(uri)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(RealmRow::into_auth))
    }

    pub async fn update_realm(
        &self,
        actor: &Actor,
        realm: &Realm,
        patch: RealmPatch,
    ) -> Result<Realm> {
        let mut after = realm.clone();
        if let Some(a) = patch.allow_anonymous {
            after.allow_anonymous = a;
        }
        if let Some(r) = patch.anonymous_role {
            after.anonymous_role = r;
        }
        if let Some(a) = patch.authenticator {
            after.authenticator = a;
        }
        after.updated_at = now_millis();
        let (auth_proc, auth_realm) = ProcedureRef::columns(&after.authenticator);
        with_tx!(self, |tx| {
            let done = sqlx::query(
                "UPDATE realms SET allow_anonymous = $1, anonymous_role = $2, \
                 authenticator_procedure = $3, authenticator_realm = $4, updated_at = $5 \
                 WHERE tenant_id = $6 AND id = $7",
            )
            .bind(after.allow_anonymous)
            .bind(&after.anonymous_role)
            .bind(auth_proc)
            .bind(auth_realm)
            .bind(after.updated_at)
            .bind(&realm.tenant_id)
            .bind(&realm.id)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            audit!(
                tx,
                NewAudit::new(&realm.tenant_id, actor, "realm.update", "realm", &realm.id)
                    .before(realm)
                    .after(&after)
            );
        });
        Ok(after)
    }

    /// The tenant's realm with this URI; `NotFound` for another tenant's (or no realm).
    pub async fn tenant_realm_by_uri(&self, tenant_id: &str, uri: &str) -> Result<Realm> {
        let row: Option<RealmRow> = with_db!(self, |pool| {
            sqlx::query_as("SELECT * FROM realms WHERE tenant_id = $1 AND uri = $2")
                .bind(tenant_id)
                .bind(uri)
                .fetch_optional(pool)
                .await?
        });
        row.map(|r| r.into_auth().realm).ok_or(StoreError::NotFound)
    }

    /// Deletes a realm with its roles, rules and credentials.
    pub async fn delete_realm(&self, actor: &Actor, realm: &Realm) -> Result<()> {
        delete_audited!(
            self,
            "DELETE FROM realms WHERE tenant_id = $1 AND id = $2",
            &realm.tenant_id,
            &realm.id,
            NewAudit::new(&realm.tenant_id, actor, "realm.delete", "realm", &realm.id)
                .before(realm)
        );
        Ok(())
    }
}
