//! Log-in state: refresh tokens and API keys.

use crate::audit::NewAudit;
use crate::ids::new_id;
use crate::model::*;
use crate::{Result, Store, StoreError, now_millis};

/// A new API key: the caller generated `prefix` and hashed the secret.
#[derive(Clone, Debug)]
pub struct NewApiKey {
    pub name: String,
    pub prefix: String,
    pub secret_hash: String,
    pub scopes: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    id: String,
    tenant_id: String,
    name: String,
    prefix: String,
    secret_hash: String,
    scopes: String,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl ApiKeyRow {
    fn into_auth(self) -> ApiKeyAuth {
        ApiKeyAuth {
            key: ApiKey {
                id: self.id,
                tenant_id: self.tenant_id,
                name: self.name,
                prefix: self.prefix,
                scopes: self.scopes.split_whitespace().map(str::to_string).collect(),
                created_at: self.created_at,
                last_used_at: self.last_used_at,
                revoked_at: self.revoked_at,
            },
            secret_hash: self.secret_hash,
        }
    }
}

#[derive(sqlx::FromRow)]
struct RefreshRow {
    id: String,
    user_id: String,
    tenant_id: String,
}

impl Store {
    /// Stores a refresh token (by its SHA-256) for a user in a tenant.
    pub async fn create_refresh_token(
        &self,
        user_id: &str,
        tenant_id: &str,
        token_hash: &str,
        expires_at: i64,
    ) -> Result<()> {
        with_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO refresh_tokens (id, user_id, tenant_id, token_hash, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(new_id("rft"))
            .bind(user_id)
            .bind(tenant_id)
            .bind(token_hash)
            .bind(now_millis())
            .bind(expires_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Spends a refresh token and stores its successor, atomically. Returns the
    /// `(user_id, tenant_id)` it was issued for, or `NotFound` when the token is unknown,
    /// spent, revoked or expired, or the user left the tenant.
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: &str,
        new_expires_at: i64,
    ) -> Result<(String, String)> {
        let now = now_millis();
        Ok(with_tx!(self, |tx| {
            let row: Option<RefreshRow> = sqlx::query_as(
                "SELECT r.id, r.user_id, r.tenant_id FROM refresh_tokens r \
                 JOIN memberships m ON m.user_id = r.user_id AND m.tenant_id = r.tenant_id \
                 WHERE r.token_hash = $1 AND r.revoked_at IS NULL AND r.expires_at > $2",
            )
            .bind(old_hash)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            let row = row.ok_or(StoreError::NotFound)?;
            let spent = sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(&row.id)
            .execute(&mut *tx)
            .await?;
            if spent.rows_affected() != 1 {
                // Spent concurrently by another request.
                return Err(StoreError::NotFound);
            }
            sqlx::query(
                "INSERT INTO refresh_tokens (id, user_id, tenant_id, token_hash, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(new_id("rft"))
            .bind(&row.user_id)
            .bind(&row.tenant_id)
            .bind(new_hash)
            .bind(now)
            .bind(new_expires_at)
            .execute(&mut *tx)
            .await?;
            (row.user_id, row.tenant_id)
        }))
    }

    /// Revokes a refresh token (log-out). Unknown tokens are ignored.
    pub async fn revoke_refresh_token(&self, token_hash: &str) -> Result<()> {
        with_db!(self, |pool| {
            sqlx::query("UPDATE refresh_tokens SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL")
                .bind(now_millis())
                .bind(token_hash)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub async fn create_api_key(
        &self,
        actor: &Actor,
        tenant_id: &str,
        new: NewApiKey,
    ) -> Result<ApiKey> {
        let key = ApiKey {
            id: new_id("key"),
            tenant_id: tenant_id.to_string(),
            name: new.name,
            prefix: new.prefix,
            scopes: new.scopes,
            created_at: now_millis(),
            last_used_at: None,
            revoked_at: None,
        };
        with_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO api_keys (id, tenant_id, name, prefix, secret_hash, scopes, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&key.id)
            .bind(tenant_id)
            .bind(&key.name)
            .bind(&key.prefix)
            .bind(&new.secret_hash)
            .bind(key.scopes.join(" "))
            .bind(key.created_at)
            .execute(&mut *tx)
            .await?;
            audit!(
                tx,
                NewAudit::new(tenant_id, actor, "api_key.create", "api_key", &key.id).after(&key)
            );
        });
        Ok(key)
    }

    pub async fn list_api_keys(&self, tenant_id: &str, page: &PageRequest) -> Result<Page<ApiKey>> {
        let rows: Vec<ApiKeyRow> = with_db!(self, |pool| {
            sqlx::query_as(
                "SELECT * FROM api_keys WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            )
            .bind(tenant_id)
            .bind(page.after())
            .bind(page.fetch())
            .fetch_all(pool)
            .await?
        });
        let keys = rows.into_iter().map(|r| r.into_auth().key).collect();
        Ok(page_of(keys, page, |k: &ApiKey| &k.id))
    }

    pub async fn get_api_key(&self, tenant_id: &str, id: &str) -> Result<ApiKey> {
        let row: Option<ApiKeyRow> = with_db!(self, |pool| {
            sqlx::query_as("SELECT * FROM api_keys WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id)
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        row.map(|r| r.into_auth().key).ok_or(StoreError::NotFound)
    }

    /// The key with this public prefix, revoked or not, with its secret hash.
    pub async fn api_key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyAuth>> {
        let row: Option<ApiKeyRow> = with_db!(self, |pool| {
            sqlx::query_as("SELECT * FROM api_keys WHERE prefix = $1")
                .bind(prefix)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(ApiKeyRow::into_auth))
    }

    /// Records that a key was used (callers throttle this to about once a minute per key).
    pub async fn touch_api_key(&self, id: &str, at: i64) -> Result<()> {
        with_db!(self, |pool| {
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
                .bind(at)
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Revokes a key; revoking a revoked key changes nothing.
    pub async fn revoke_api_key(&self, actor: &Actor, tenant_id: &str, id: &str) -> Result<ApiKey> {
        let before = self.get_api_key(tenant_id, id).await?;
        if before.revoked_at.is_some() {
            return Ok(before);
        }
        let mut after = before.clone();
        after.revoked_at = Some(now_millis());
        with_tx!(self, |tx| {
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3")
                .bind(after.revoked_at)
                .bind(tenant_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            audit!(
                tx,
                NewAudit::new(tenant_id, actor, "api_key.revoke", "api_key", id)
                    .before(&before)
                    .after(&after)
            );
        });
        Ok(after)
    }

    /// Replaces a live key's prefix and secret: the old key stops working at once.
    pub async fn rotate_api_key(
        &self,
        actor: &Actor,
        tenant_id: &str,
        id: &str,
        new_prefix: &str,
        new_secret_hash: &str,
    ) -> Result<ApiKey> {
        let before = self.get_api_key(tenant_id, id).await?;
        if before.revoked_at.is_some() {
            return Err(StoreError::Conflict {
                field: "id",
                message: "the key is revoked".into(),
            });
        }
        let mut after = before.clone();
        after.prefix = new_prefix.to_string();
        with_tx!(self, |tx| {
            sqlx::query("UPDATE api_keys SET prefix = $1, secret_hash = $2 WHERE tenant_id = $3 AND id = $4")
                .bind(new_prefix)
                .bind(new_secret_hash)
                .bind(tenant_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            audit!(
                tx,
                NewAudit::new(tenant_id, actor, "api_key.rotate", "api_key", id)
                    .before(&before)
                    .after(&after)
            );
        });
        Ok(after)
    }
}
