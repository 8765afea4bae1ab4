//! Tenants, users and memberships.

use crate::audit::NewAudit;
use crate::ids::new_id;
use crate::model::*;
use crate::{Result, Store, StoreError, conflict_on, now_millis};

/// What sign-up creates: a tenant and its owner.
#[derive(Clone, Debug)]
pub struct NewSignup {
    pub tenant_slug: String,
    pub tenant_name: String,
    pub plan: String,
    pub limits: TenantLimits,
    /// Lower-cased by the store.
    pub email: String,
    pub password_hash: String,
}

#[derive(sqlx::FromRow)]
pub(crate) struct TenantRow {
    id: String,
    slug: String,
    name: String,
    plan: String,
    max_realms: i64,
    max_connections: i64,
    max_messages_per_sec: i64,
    max_message_size: i64,
    created_at: i64,
    updated_at: i64,
}

impl From<TenantRow> for Tenant {
    fn from(r: TenantRow) -> Self {
        Tenant {
            id: r.id,
            slug: r.slug,
            name: r.name,
            plan: r.plan,
            limits: TenantLimits {
                max_realms: r.max_realms,
                max_connections: r.max_connections,
                max_messages_per_sec: r.max_messages_per_sec,
                max_message_size: r.max_message_size,
            },
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    email: String,
    password_hash: String,
    created_at: i64,
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    #[sqlx(flatten)]
    tenant: TenantRow,
    user_id: String,
    role: String,
}

#[derive(sqlx::FromRow)]
struct MemberUserRow {
    id: String,
    email: String,
    created_at: i64,
    role: String,
}

impl Store {
    /// Creates a tenant and its owner. Conflicts: `email`, `tenant_slug`.
    pub async fn signup(&self, new: NewSignup) -> Result<(Tenant, User)> {
        let now = now_millis();
        let tenant = Tenant {
            id: new_id("ten"),
            slug: new.tenant_slug,
            name: new.tenant_name,
            plan: new.plan,
            limits: new.limits,
            created_at: now,
            updated_at: now,
        };
        let user = User {
            id: new_id("usr"),
            email: new.email.to_lowercase(),
            created_at: now,
        };
        let actor = Actor {
            kind: ActorKind::User,
            id: user.id.clone(),
            label: user.email.clone(),
        };
        with_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO tenants (id, slug, name, plan, max_realms, max_connections, \
                 max_messages_per_sec, max_message_size, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&tenant.id)
            .bind(&tenant.slug)
            .bind(&tenant.name)
            .bind(&tenant.plan)
            .bind(tenant.limits.max_realms)
            .bind(tenant.limits.max_connections)
            .bind(tenant.limits.max_messages_per_sec)
            .bind(tenant.limits.max_message_size)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(conflict_on("tenant_slug", "is already taken"))?;
            sqlx::query(
                "INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(&user.id)
            .bind(&user.email)
            .bind(&new.password_hash)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(conflict_on("email", "is already registered"))?;
            sqlx::query(
                "INSERT INTO memberships (tenant_id, user_id, role, created_at) \
                 VALUES ($1, $2, 'owner', $3)",
            )
            .bind(&tenant.id)
            .bind(&user.id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            audit!(
                tx,
                NewAudit::new(&tenant.id, &actor, "tenant.create", "tenant", &tenant.id)
                    .after(&tenant)
            );
        });
        Ok((tenant, user))
    }

    pub async fn tenant(&self, tenant_id: &str) -> Result<Tenant> {
        let row: Option<TenantRow> = with_db!(self, |pool| {
            sqlx::query_as("SELECT * FROM tenants WHERE id = $1")
                .bind(tenant_id)
                .fetch_optional(pool)
                .await?
        });
        row.map(Tenant::from).ok_or(StoreError::NotFound)
    }

    /// The user with this e-mail (any case) and their password hash.
    pub async fn user_for_login(&self, email: &str) -> Result<Option<UserLogin>> {
        let row: Option<UserRow> = with_db!(self, |pool| {
            sqlx::query_as("SELECT * FROM users WHERE email = $1")
                .bind(email.to_lowercase())
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|r| UserLogin {
            user: User {
                id: r.id,
                email: r.email,
                created_at: r.created_at,
            },
            password_hash: r.password_hash,
        }))
    }

    pub async fn user(&self, user_id: &str) -> Result<User> {
        let row: Option<UserRow> = with_db!(self, |pool| {
            sqlx::query_as("SELECT * FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(pool)
                .await?
        });
        row.map(|r| User {
            id: r.id,
            email: r.email,
            created_at: r.created_at,
        })
        .ok_or(StoreError::NotFound)
    }

    /// The tenants a user belongs to, oldest membership first.
    pub async fn memberships(&self, user_id: &str) -> Result<Vec<Membership>> {
        let rows: Vec<MemberRow> = with_db!(self, |pool| {
            sqlx::query_as(
                "SELECT t.*, m.user_id, m.role FROM memberships m \
                 JOIN tenants t ON t.id = m.tenant_id WHERE m.user_id = $1 \
                 ORDER BY m.created_at, t.id",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|r| {
                Ok(Membership {
                    tenant: r.tenant.into(),
                    user_id: r.user_id,
                    role: MemberRole::parse(&r.role)?,
                })
            })
            .collect()
    }

    /// The user's role in the tenant, if a member.
    pub async fn member_role(&self, tenant_id: &str, user_id: &str) -> Result<Option<MemberRole>> {
        let role: Option<String> = with_db!(self, |pool| {
            sqlx::query_scalar("SELECT role FROM memberships WHERE tenant_id = $1 AND user_id = $2")
                .bind(tenant_id)
                .bind(user_id)
                .fetch_optional(pool)
                .await?
        });
        role.map(|r| MemberRole::parse(&r)).transpose()
    }

    /// The tenant's members (users with their role), by user id.
    pub async fn list_members(
        &self,
        tenant_id: &str,
        page: &PageRequest,
    ) -> Result<Page<(User, MemberRole)>> {
        let rows: Vec<MemberUserRow> = with_db!(self, |pool| {
            sqlx::query_as(
                "SELECT u.id, u.email, u.created_at, m.role FROM memberships m \
                 JOIN users u ON u.id = m.user_id WHERE m.tenant_id = $1 AND u.id > $2 \
                 ORDER BY u.id LIMIT $3",
            )
            .bind(tenant_id)
            .bind(page.after())
            .bind(page.fetch())
            .fetch_all(pool)
            .await?
        });
        let members = rows
            .into_iter()
            .map(|r| {
                Ok((
                    User {
                        id: r.id,
                        email: r.email,
                        created_at: r.created_at,
                    },
                    MemberRole::parse(&r.role)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(members, page, |(u, _)| &u.id))
    }

    /// Creates a user (with `password_hash`) and makes them a member of the tenant.
    /// Conflict: `email` when a user with that e-mail exists.
    pub async fn add_member(
        &self,
        actor: &Actor,
        tenant_id: &str,
        email: &str,
        password_hash: &str,
        role: MemberRole,
    ) -> Result<User> {
        let now = now_millis();
        let user = User {
            id: new_id("usr"),
            email: email.to_lowercase(),
            created_at: now,
        };
        with_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(&user.id)
            .bind(&user.email)
            .bind(password_hash)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(conflict_on("email", "is already registered"))?;
            sqlx::query(
                "INSERT INTO memberships (tenant_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(tenant_id)
            .bind(&user.id)
            .bind(role.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            audit!(
                tx,
                NewAudit::new(tenant_id, actor, "member.create", "user", &user.id)
                    .after(&serde_json::json!({ "email": user.email, "role": role }))
            );
        });
        Ok(user)
    }

    /// Removes a member from the tenant (the user stays). The last owner cannot be removed.
    pub async fn remove_member(&self, actor: &Actor, tenant_id: &str, user_id: &str) -> Result<()> {
        with_tx!(self, |tx| {
            let role: Option<String> = sqlx::query_scalar(
                "SELECT role FROM memberships WHERE tenant_id = $1 AND user_id = $2",
            )
            .bind(tenant_id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
            let role = role.ok_or(StoreError::NotFound)?;
            if role == "owner" {
                let owners: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM memberships WHERE tenant_id = $1 AND role = 'owner'",
                )
                .bind(tenant_id)
                .fetch_one(&mut *tx)
                .await?;
                if owners <= 1 {
                    return Err(StoreError::Conflict {
                        field: "user_id",
                        message: "is the last owner of the tenant".into(),
                    });
                }
            }
            sqlx::query("DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2")
                .bind(tenant_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            audit!(
                tx,
                NewAudit::new(tenant_id, actor, "member.delete", "user", user_id)
                    .before(&serde_json::json!({ "role": role }))
            );
        });
        Ok(())
    }
}
