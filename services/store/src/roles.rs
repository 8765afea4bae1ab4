//! Roles of a realm and their permission rules (Crossbar.io role permissions).

use crate::audit::NewAudit;
use crate::ids::new_id;
use crate::model::*;
use crate::{Result, Store, StoreError, conflict_on, now_millis};

#[derive(sqlx::FromRow)]
struct RoleRow {
    id: String,
    realm_id: String,
    name: String,
    authorizer_procedure: Option<String>,
    authorizer_realm: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl From<RoleRow> for Role {
    fn from(r: RoleRow) -> Self {
        Role {
            id: r.id,
            realm_id: r.realm_id,
            name: r.name,
            authorizer: ProcedureRef::from_columns(r.authorizer_procedure, r.authorizer_realm),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct RuleRow {
    id: String,
    role_id: String,
    uri: String,
    match_policy: String,
    allow_call: bool,
    allow_register: bool,
    allow_publish: bool,
    allow_subscribe: bool,
    disclose_caller: bool,
    disclose_publisher: bool,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<RuleRow> for PermissionRule {
    type Error = StoreError;
    fn try_from(r: RuleRow) -> Result<Self> {
        Ok(PermissionRule {
            match_policy: MatchPolicy::parse(&r.match_policy)
                .ok_or_else(|| StoreError::Corrupt(format!("match policy {:?}", r.match_policy)))?,
            id: r.id,
            role_id: r.role_id,
            uri: r.uri,
            allow: Allow {
                call: r.allow_call,
                register: r.allow_register,
                publish: r.allow_publish,
                subscribe: r.allow_subscribe,
            },
            disclose: Disclose {
                caller: r.disclose_caller,
                publisher: r.disclose_publisher,
            },
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

fn rules_of(rows: Vec<RuleRow>) -> Result<Vec<PermissionRule>> {
    rows.into_iter().map(PermissionRule::try_from).collect()
}

const INSERT_RULE: &str = "INSERT INTO permission_rules (id, role_id, uri, match_policy, allow_call, \
     allow_register, allow_publish, allow_subscribe, disclose_caller, disclose_publisher, created_at, \
     updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

const RULE_CONFLICT: &str = "a rule with this uri and match already exists in the role";

fn new_rule(role_id: &str, spec: RuleSpec, now: i64) -> PermissionRule {
    PermissionRule {
        id: new_id("rul"),
        role_id: role_id.to_string(),
        uri: spec.uri,
        match_policy: spec.match_policy,
        allow: spec.allow,
        disclose: spec.disclose,
        created_at: now,
        updated_at: now,
    }
}

/// Binds a [`PermissionRule`] to [`INSERT_RULE`] and runs it on `$tx`.
macro_rules! insert_rule {
    ($tx:expr, $rule:expr) => {{
        let r: &PermissionRule = $rule;
        sqlx::query(INSERT_RULE)
            .bind(&r.id)
            .bind(&r.role_id)
            .bind(&r.uri)
            .bind(r.match_policy.as_str())
            .bind(r.allow.call)
            .bind(r.allow.register)
            .bind(r.allow.publish)
            .bind(r.allow.subscribe)
            .bind(r.disclose.caller)
            .bind(r.disclose.publisher)
            .bind(r.created_at)
            .bind(r.updated_at)
            .execute(&mut *$tx)
            .await
            .map_err(conflict_on("uri", RULE_CONFLICT))?;
    }};
}

/// A role and its rules, as a Crossbar.io `roles` entry describes them.
#[derive(Clone, Debug)]
pub struct RoleImport {
    pub name: String,
    pub rules: Vec<RuleSpec>,
}

impl Store {
    /// Creates a role in a realm (read with [`Store::get_realm`]). Conflict: `name`.
    /// `authorizer`: the role's dynamic authorizer, if any.
    pub async fn create_role(
        &self,
        actor: &Actor,
        realm: &Realm,
        name: &str,
        authorizer: Option<ProcedureRef>,
    ) -> Result<Role> {
        let now = now_millis();
        let role = Role {
            id: new_id("rol"),
            realm_id: realm.id.clone(),
            name: name.to_string(),
            authorizer,
            created_at: now,
            updated_at: now,
        };
        let (authz_proc, authz_realm) = ProcedureRef::columns(&role.authorizer);
        with_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO roles (id, realm_id, name, authorizer_procedure, authorizer_realm, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
                .bind(&role.id)
                .bind(&role.realm_id)
                .bind(&role.name)
                .bind(authz_proc)
                .bind(authz_realm)
                .bind(now)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(conflict_on("name", "a role with this name already exists in the realm"))?;
            audit!(
                tx,
                NewAudit::new(&realm.tenant_id, actor, "role.create", "role", &role.id)
                    .after(&role)
            );
        });
        Ok(role)
    }

    pub async fn list_roles(&self, realm: &Realm, page: &PageRequest) -> Result<Page<Role>> {
        let rows: Vec<RoleRow> = with_db!(self, |pool| {
            sqlx::query_as(
                "SELECT * FROM roles WHERE realm_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            )
            .bind(&realm.id)
            .bind(page.after())
            .bind(page.fetch())
            .fetch_all(pool)
            .await?
        });
        Ok(page_of(
            rows.into_iter().map(Role::from).collect(),
            page,
            |r: &Role| &r.id,
        ))
    }

    pub async fn get_role(&self, realm: &Realm, role_id: &str) -> Result<Role> {
        let row: Option<RoleRow> = with_db!(self, |pool| {
            sqlx::query_as("SELECT * FROM roles WHERE realm_id = $1 AND id = $2")
                .bind(&realm.id)
                .bind(role_id)
                .fetch_optional(pool)
                .await?
        });
        row.map(Role::from).ok_or(StoreError::NotFound)
    }

    /// Sets (`Some`) or clears (`None`) a role's dynamic authorizer.
    pub async fn update_role_authorizer(
        &self,
        actor: &Actor,
        realm: &Realm,
        role: &Role,
        authorizer: Option<ProcedureRef>,
    ) -> Result<Role> {
        let mut after = role.clone();
        after.authorizer = authorizer;
        after.updated_at = now_millis();
        let (authz_proc, authz_realm) = ProcedureRef::columns(&after.authorizer);
        with_tx!(self, |tx| {
            let done = sqlx::query(
                "UPDATE roles SET authorizer_procedure = $1, authorizer_realm = $2, updated_at = $3 \
                 WHERE realm_id = $4 AND id = $5",
            )
            .bind(authz_proc)
            .bind(authz_realm)
            .bind(after.updated_at)
            .bind(&realm.id)
            .bind(&role.id)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            audit!(
                tx,
                NewAudit::new(&realm.tenant_id, actor, "role.update", "role", &role.id)
                    .before(role)
                    .after(&after)
            );
        });
        Ok(after)
    }

    /// For routers: a role's dynamic authorizer. `Ok(None)` when the role has none, or when
    /// the realm or role does not exist.
    pub async fn role_authorizer(&self, realm_uri: &str, role: &str) -> Result<Option<ProcedureRef>> {
        let row: Option<(Option<String>, Option<String>)> = with_db!(self, |pool| {
            sqlx::query_as(
                "SELECT r.authorizer_procedure, r.authorizer_realm FROM roles r \
                 JOIN realms m ON m.id = r.realm_id WHERE m.uri = $1 AND r.name = $2",
            )
            .bind(realm_uri)
            .bind(role)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.and_then(|(p, r)| ProcedureRef::from_columns(p, r)))
    }

    /// Deletes a role with its rules.
    pub async fn delete_role(&self, actor: &Actor, realm: &Realm, role: &Role) -> Result<()> {
        delete_audited!(
            self,
            "DELETE FROM roles WHERE realm_id = $1 AND id = $2",
            &realm.id,
            &role.id,
            NewAudit::new(&realm.tenant_id, actor, "role.delete", "role", &role.id)
                .before(role)
        );
        Ok(())
    }

    /// Adds a rule to a role. Conflict: `uri` when the role has a rule with the same uri and match.
    pub async fn create_rule(
        &self,
        actor: &Actor,
        realm: &Realm,
        role: &Role,
        spec: RuleSpec,
    ) -> Result<PermissionRule> {
        let rule = new_rule(&role.id, spec, now_millis());
        with_tx!(self, |tx| {
            insert_rule!(tx, &rule);
            audit!(
                tx,
                NewAudit::new(&realm.tenant_id, actor, "rule.create", "rule", &rule.id)
                    .after(&rule)
            );
        });
        Ok(rule)
    }

    pub async fn list_rules(
        &self,
        role: &Role,
        page: &PageRequest,
    ) -> Result<Page<PermissionRule>> {
        let rows: Vec<RuleRow> = with_db!(self, |pool| {
            sqlx::query_as("SELECT * FROM permission_rules WHERE role_id = $1 AND id > $2 ORDER BY id LIMIT $3")
                .bind(&role.id)
                .bind(page.after())
                .bind(page.fetch())
                .fetch_all(pool)
                .await?
        });
        Ok(page_of(rules_of(rows)?, page, |r: &PermissionRule| &r.id))
    }

    pub async fn get_rule(&self, role: &Role, rule_id: &str) -> Result<PermissionRule> {
        let row: Option<RuleRow> = with_db!(self, |pool| {
            sqlx::query_as("SELECT * FROM permission_rules WHERE role_id = $1 AND id = $2")
                .bind(&role.id)
                .bind(rule_id)
                .fetch_optional(pool)
                .await?
        });
        row.map(PermissionRule::try_from)
            .transpose()?
            .ok_or(StoreError::NotFound)
    }

    /// Replaces a rule's content.
    pub async fn update_rule(
        &self,
        actor: &Actor,
        realm: &Realm,
        before: &PermissionRule,
        spec: RuleSpec,
    ) -> Result<PermissionRule> {
        let after = PermissionRule {
            uri: spec.uri,
            match_policy: spec.match_policy,
            allow: spec.allow,
            disclose: spec.disclose,
            updated_at: now_millis(),
            ..before.clone()
        };
        with_tx!(self, |tx| {
            let done = sqlx::query(
                "UPDATE permission_rules SET uri = $1, match_policy = $2, allow_call = $3, \
                 allow_register = $4, allow_publish = $5, allow_subscribe = $6, disclose_caller = $7, \
                 disclose_publisher = $8, updated_at = $9 WHERE role_id = $10 AND id = $11",
            )
            .bind(&after.uri)
            .bind(after.match_policy.as_str())
            .bind(after.allow.call)
            .bind(after.allow.register)
            .bind(after.allow.publish)
            .bind(after.allow.subscribe)
            .bind(after.disclose.caller)
            .bind(after.disclose.publisher)
            .bind(after.updated_at)
            .bind(&before.role_id)
            .bind(&before.id)
            .execute(&mut *tx)
            .await
            .map_err(conflict_on("uri", RULE_CONFLICT))?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            audit!(
                tx,
                NewAudit::new(&realm.tenant_id, actor, "rule.update", "rule", &before.id)
                    .before(before)
                    .after(&after)
            );
        });
        Ok(after)
    }

    pub async fn delete_rule(
        &self,
        actor: &Actor,
        realm: &Realm,
        rule: &PermissionRule,
    ) -> Result<()> {
        delete_audited!(
            self,
            "DELETE FROM permission_rules WHERE role_id = $1 AND id = $2",
            &rule.role_id,
            &rule.id,
            NewAudit::new(&realm.tenant_id, actor, "rule.delete", "rule", &rule.id)
                .before(rule)
        );
        Ok(())
    }

    /// Imports roles (a Crossbar.io `roles` array) into a realm in one transaction: a role
    /// that does not exist is created; a role that exists gets exactly the imported rules
    /// (its other rules are removed). Roles not named are left alone. Returns the roles with
    /// their rules, in import order.
    pub async fn import_roles(
        &self,
        actor: &Actor,
        realm: &Realm,
        roles: Vec<RoleImport>,
    ) -> Result<Vec<(Role, Vec<PermissionRule>)>> {
        let now = now_millis();
        let mut out = Vec::with_capacity(roles.len());
        with_tx!(self, |tx| {
            for import in roles {
                let existing: Option<RoleRow> =
                    sqlx::query_as("SELECT * FROM roles WHERE realm_id = $1 AND name = $2")
                        .bind(&realm.id)
                        .bind(&import.name)
                        .fetch_optional(&mut *tx)
                        .await?;
                let (role, before) = match existing {
                    Some(row) => {
                        let role = Role::from(row);
                        let rows: Vec<RuleRow> = sqlx::query_as(
                            "SELECT * FROM permission_rules WHERE role_id = $1 ORDER BY id",
                        )
                        .bind(&role.id)
                        .fetch_all(&mut *tx)
                        .await?;
                        sqlx::query("DELETE FROM permission_rules WHERE role_id = $1")
                            .bind(&role.id)
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query("UPDATE roles SET updated_at = $1 WHERE id = $2")
                            .bind(now)
                            .bind(&role.id)
                            .execute(&mut *tx)
                            .await?;
                        (
                            Role {
                                updated_at: now,
                                ..role
                            },
                            Some(rules_of(rows)?),
                        )
                    }
                    None => {
                        let role = Role {
                            id: new_id("rol"),
                            realm_id: realm.id.clone(),
                            name: import.name.clone(),
                            authorizer: None,
                            created_at: now,
                            updated_at: now,
                        };
                        sqlx::query("INSERT INTO roles (id, realm_id, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)")
                            .bind(&role.id)
                            .bind(&role.realm_id)
                            .bind(&role.name)
                            .bind(now)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        (role, None)
                    }
                };
                let mut rules = Vec::with_capacity(import.rules.len());
                for spec in import.rules {
                    let rule = new_rule(&role.id, spec, now);
                    insert_rule!(tx, &rule);
                    rules.push(rule);
                }
                let mut entry =
                    NewAudit::new(&realm.tenant_id, actor, "role.import", "role", &role.id)
                        .after(&serde_json::json!({ "role": role, "rules": rules }));
                if let Some(before) = before {
                    entry = entry.before(&serde_json::json!({ "role": role, "rules": before }));
                }
                audit!(tx, entry);
                out.push((role, rules));
            }
        });
        Ok(out)
    }

    /// For routers: the rules of a role in a realm, or `None` when the realm or role does not
    /// exist.
    pub async fn role_rules(
        &self,
        realm_uri: &str,
        role: &str,
    ) -> Result<Option<Vec<PermissionRule>>> {
        let role_id: Option<String> = with_db!(self, |pool| {
            sqlx::query_scalar(
                "SELECT r.id FROM roles r JOIN realms m ON m.id = r.realm_id WHERE m.uri = $1 AND r.name = $2",
            )
            .bind(realm_uri)
            .bind(role)
            .fetch_optional(pool)
            .await?
        });
        let Some(role_id) = role_id else {
            return Ok(None);
        };
        let rows: Vec<RuleRow> = with_db!(self, |pool| {
            sqlx::query_as("SELECT * FROM permission_rules WHERE role_id = $1 ORDER BY id")
                .bind(&role_id)
                .fetch_all(pool)
                .await?
        });
        Ok(Some(rules_of(rows)?))
    }

    /// How many rules a role has.
    pub async fn count_rules(&self, role: &Role) -> Result<i64> {
        Ok(with_db!(self, |pool| {
            sqlx::query_scalar("SELECT COUNT(*) FROM permission_rules WHERE role_id = $1")
                .bind(&role.id)
                .fetch_one(pool)
                .await?
        }))
    }

    /// Whether the realm has a role with this name.
    pub async fn role_exists(&self, realm: &Realm, name: &str) -> Result<bool> {
        let found: Option<String> = with_db!(self, |pool| {
            sqlx::query_scalar("SELECT id FROM roles WHERE realm_id = $1 AND name = $2")
                .bind(&realm.id)
                .bind(name)
                .fetch_optional(pool)
                .await?
        });
        Ok(found.is_some())
    }
}
