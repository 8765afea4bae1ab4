//! Roles of a realm, their permission rules, and import of Crossbar.io `roles` arrays.
//!
//! A rule has Crossbar.io's shape: `{"uri", "match": "exact"|"prefix"|"wildcard",
//! "allow": {"call", "register", "publish", "subscribe"}, "disclose": {"caller", "publisher"}}`.
//! Rule URIs are checked as the router compiles them ([`super::uris::check_pattern`]), and an
//! import is read by `junction_auth::crossbar::parse_roles`, the router's own reading of a
//! Crossbar.io config, so that what the API accepts and what routers enforce cannot drift.

use axum::Json as Out;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use junction_auth::crossbar::{self, RoleDef};
use junction_changefeed::Change;
use junction_protocol::MatchPolicy as UriPolicy;
use junction_store::{MatchPolicy, PermissionRule, Realm, Role, RoleImport, RuleSpec};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::procedures::{self, Procedure};
use super::uris::check_pattern;
use super::{check_ident, ts};
use crate::auth::{Principal, Scope};
use crate::error::{ApiError, Problem, Violations};
use crate::extract::{Json, List, ListParams, Query};
use crate::state::AppState;

/// Most rules one role may have.
const MAX_RULES_PER_ROLE: usize = 1000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_roles, create_role))
        .routes(routes!(get_role, update_role, delete_role))
        .routes(routes!(list_rules, create_rule))
        .routes(routes!(get_rule, update_rule, delete_rule))
        .routes(routes!(import_crossbar_roles))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRole {
    /// 1-64 of `A-Z a-z 0-9 _ . @ : -`, unique in the realm.
    pub name: String,
    /// Dynamic authorizer: the procedure the router calls for the role's actions instead of
    /// its rules (default none).
    #[serde(default)]
    pub authorizer: Option<Procedure>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRole {
    /// Sets the dynamic authorizer; `null` removes it (the role's rules apply again).
    /// Required.
    #[serde(default, deserialize_with = "procedures::double_option")]
    #[schema(value_type = Option<Procedure>, nullable)]
    pub authorizer: Option<Option<Procedure>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RoleOut {
    pub id: String,
    pub realm_id: String,
    pub name: String,
    /// The dynamic authorizer, or null.
    pub authorizer: Option<Procedure>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Role> for RoleOut {
    fn from(r: Role) -> Self {
        RoleOut {
            id: r.id,
            realm_id: r.realm_id,
            name: r.name,
            authorizer: r.authorizer.map(Procedure::from),
            created_at: ts(r.created_at),
            updated_at: ts(r.updated_at),
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    Exact,
    Prefix,
    Wildcard,
}

impl From<Match> for MatchPolicy {
    fn from(m: Match) -> Self {
        match m {
            Match::Exact => MatchPolicy::Exact,
            Match::Prefix => MatchPolicy::Prefix,
            Match::Wildcard => MatchPolicy::Wildcard,
        }
    }
}

impl From<MatchPolicy> for Match {
    fn from(m: MatchPolicy) -> Self {
        match m {
            MatchPolicy::Exact => Match::Exact,
            MatchPolicy::Prefix => Match::Prefix,
            MatchPolicy::Wildcard => Match::Wildcard,
        }
    }
}

impl From<Match> for UriPolicy {
    fn from(m: Match) -> Self {
        match m {
            Match::Exact => UriPolicy::Exact,
            Match::Prefix => UriPolicy::Prefix,
            Match::Wildcard => UriPolicy::Wildcard,
        }
    }
}

impl From<UriPolicy> for Match {
    fn from(m: UriPolicy) -> Self {
        match m {
            UriPolicy::Exact => Match::Exact,
            UriPolicy::Prefix => Match::Prefix,
            UriPolicy::Wildcard => Match::Wildcard,
        }
    }
}

/// What a rule allows (each false when absent).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Allow {
    #[serde(default)]
    pub call: bool,
    #[serde(default)]
    pub register: bool,
    #[serde(default)]
    pub publish: bool,
    #[serde(default)]
    pub subscribe: bool,
}

/// Whose identity a rule discloses (each false when absent).
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Disclose {
    #[serde(default)]
    pub caller: bool,
    #[serde(default)]
    pub publisher: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRule {
    /// URI or pattern; `""` with `prefix` matches everything.
    pub uri: String,
    #[serde(rename = "match")]
    pub match_policy: Match,
    #[serde(default)]
    pub allow: Allow,
    #[serde(default)]
    pub disclose: Disclose,
}

/// A partial update: fields present replace the rule's (`allow` and `disclose` as a whole).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRule {
    pub uri: Option<String>,
    #[serde(rename = "match")]
    pub match_policy: Option<Match>,
    pub allow: Option<Allow>,
    pub disclose: Option<Disclose>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RuleOut {
    pub id: String,
    pub role_id: String,
    pub uri: String,
    #[serde(rename = "match")]
    pub match_policy: Match,
    pub allow: Allow,
    pub disclose: Disclose,
    pub created_at: String,
    pub updated_at: String,
}

impl From<PermissionRule> for RuleOut {
    fn from(r: PermissionRule) -> Self {
        RuleOut {
            id: r.id,
            role_id: r.role_id,
            uri: r.uri,
            match_policy: r.match_policy.into(),
            allow: Allow {
                call: r.allow.call,
                register: r.allow.register,
                publish: r.allow.publish,
                subscribe: r.allow.subscribe,
            },
            disclose: Disclose {
                caller: r.disclose.caller,
                publisher: r.disclose.publisher,
            },
            created_at: ts(r.created_at),
            updated_at: ts(r.updated_at),
        }
    }
}

fn spec(uri: String, m: Match, allow: Allow, disclose: Disclose) -> RuleSpec {
    RuleSpec {
        uri,
        match_policy: m.into(),
        allow: junction_store::Allow {
            call: allow.call,
            register: allow.register,
            publish: allow.publish,
            subscribe: allow.subscribe,
        },
        disclose: junction_store::Disclose {
            caller: disclose.caller,
            publisher: disclose.publisher,
        },
    }
}

/// A Crossbar.io permission entry (config.json shape). Documentation only: imports are read
/// by `junction_auth::crossbar::parse_roles`.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // a schema for the OpenAPI document, never built
pub struct CrossbarPermission {
    /// A URI or pattern. Without `match` (or with `prefix`), a trailing `*` is Crossbar.io's
    /// legacy prefix form: `com.acme.*` is prefix `com.acme.`, and `*` alone matches
    /// everything. A trailing `*` with `exact` or `wildcard` is refused (Crossbar.io would
    /// silently turn the rule into a prefix).
    pub uri: String,
    /// Default `exact` (`prefix` for a `uri` ending in `*`).
    #[serde(rename = "match")]
    pub match_policy: Option<Match>,
    pub allow: Option<Allow>,
    pub disclose: Option<Disclose>,
    /// Accepted for compatibility: Junction always caches authorization decisions.
    pub cache: Option<bool>,
}

/// A Crossbar.io role entry (config.json shape). A role with a dynamic `authorizer` is refused
/// (not supported yet), as are unknown keys.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // a schema for the OpenAPI document, never built
pub struct CrossbarRole {
    pub name: String,
    pub permissions: Option<Vec<CrossbarPermission>>,
}

/// A Crossbar.io realm object (`{"name": ..., "roles": [...]}`; keys other than `roles` are
/// ignored), or the bare `roles` array.
#[derive(Debug, Serialize, ToSchema)]
#[allow(dead_code)] // a schema for the OpenAPI document, never built
pub struct CrossbarImport {
    pub roles: Vec<CrossbarRole>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ImportedRole {
    pub role: RoleOut,
    pub rules: Vec<RuleOut>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ImportOut {
    pub roles: Vec<ImportedRole>,
}

async fn realm_of(state: &AppState, p: &Principal, realm_id: &str) -> Result<Realm, ApiError> {
    Ok(state.store.get_realm(&p.tenant_id, realm_id).await?)
}

async fn role_of(
    state: &AppState,
    p: &Principal,
    realm_id: &str,
    role_id: &str,
) -> Result<(Realm, Role), ApiError> {
    let realm = realm_of(state, p, realm_id).await?;
    let role = state.store.get_role(&realm, role_id).await?;
    Ok((realm, role))
}

/// Lists a realm's roles.
#[utoipa::path(get, path = "/v1/realms/{realm_id}/roles", tag = "roles", params(("realm_id" = String, Path), ListParams),
    responses((status = 200, body = List<RoleOut>), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn list_roles(
    State(state): State<AppState>,
    p: Principal,
    Path(realm_id): Path<String>,
    Query(q): Query<ListParams>,
) -> Result<List<RoleOut>, ApiError> {
    p.require(Scope::RealmsRead)?;
    let page = q.page()?;
    let realm = realm_of(&state, &p, &realm_id).await?;
    Ok(List::from_page(
        state.store.list_roles(&realm, &page).await?,
        RoleOut::from,
    ))
}

/// Creates a role (with no rules: it allows nothing yet).
#[utoipa::path(post, path = "/v1/realms/{realm_id}/roles", tag = "roles", params(("realm_id" = String, Path)), request_body = CreateRole,
    responses((status = 201, body = RoleOut), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn create_role(
    State(state): State<AppState>,
    p: Principal,
    Path(realm_id): Path<String>,
    Json(req): Json<CreateRole>,
) -> Result<(StatusCode, Out<RoleOut>), ApiError> {
    p.require(Scope::RealmsWrite)?;
    let mut v = Violations::new();
    v.check("name", check_ident(&req.name, 64));
    procedures::check(&mut v, "authorizer", req.authorizer.as_ref());
    v.finish()?;
    let realm = realm_of(&state, &p, &realm_id).await?;
    procedures::check_realm(&state, &p.tenant_id, "authorizer", req.authorizer.as_ref()).await?;
    let role = state.store.create_role(&p.actor, &realm, &req.name, req.authorizer.map(Into::into)).await?;
    state
        .announce(Change::RoleUpdated {
            realm: realm.uri,
            role: role.name.clone(),
        })
        .await;
    Ok((StatusCode::CREATED, Out(role.into())))
}

/// Reads a role.
#[utoipa::path(get, path = "/v1/realms/{realm_id}/roles/{role_id}", tag = "roles", params(("realm_id" = String, Path), ("role_id" = String, Path)),
    responses((status = 200, body = RoleOut), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn get_role(
    State(state): State<AppState>,
    p: Principal,
    Path((realm_id, role_id)): Path<(String, String)>,
) -> Result<Out<RoleOut>, ApiError> {
    p.require(Scope::RealmsRead)?;
    let (_, role) = role_of(&state, &p, &realm_id, &role_id).await?;
    Ok(Out(role.into()))
}

/// Changes a role's dynamic authorizer. The body must hold `authorizer` (`null` removes it).
#[utoipa::path(patch, path = "/v1/realms/{realm_id}/roles/{role_id}", tag = "roles", params(("realm_id" = String, Path), ("role_id" = String, Path)),
    request_body = UpdateRole,
    responses((status = 200, body = RoleOut), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn update_role(
    State(state): State<AppState>,
    p: Principal,
    Path((realm_id, role_id)): Path<(String, String)>,
    Json(req): Json<UpdateRole>,
) -> Result<Out<RoleOut>, ApiError> {
    p.require(Scope::RealmsWrite)?;
    let Some(authorizer) = req.authorizer else {
        return Err(ApiError::field("authorizer", "is required (null removes the authorizer)"));
    };
    let mut v = Violations::new();
    procedures::check(&mut v, "authorizer", authorizer.as_ref());
    v.finish()?;
    let (realm, role) = role_of(&state, &p, &realm_id, &role_id).await?;
    procedures::check_realm(&state, &p.tenant_id, "authorizer", authorizer.as_ref()).await?;
    let role = state.store.update_role_authorizer(&p.actor, &realm, &role, authorizer.map(Into::into)).await?;
    state
        .announce(Change::RoleUpdated {
            realm: realm.uri,
            role: role.name.clone(),
        })
        .await;
    Ok(Out(role.into()))
}

/// Deletes a role and its rules; sessions joined with it are closed.
#[utoipa::path(delete, path = "/v1/realms/{realm_id}/roles/{role_id}", tag = "roles", params(("realm_id" = String, Path), ("role_id" = String, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn delete_role(
    State(state): State<AppState>,
    p: Principal,
    Path((realm_id, role_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    p.require(Scope::RealmsWrite)?;
    let (realm, role) = role_of(&state, &p, &realm_id, &role_id).await?;
    state.store.delete_role(&p.actor, &realm, &role).await?;
    state
        .announce(Change::RoleDeleted {
            realm: realm.uri,
            role: role.name,
        })
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists a role's permission rules.
#[utoipa::path(get, path = "/v1/realms/{realm_id}/roles/{role_id}/rules", tag = "roles",
    params(("realm_id" = String, Path), ("role_id" = String, Path), ListParams),
    responses((status = 200, body = List<RuleOut>), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn list_rules(
    State(state): State<AppState>,
    p: Principal,
    Path((realm_id, role_id)): Path<(String, String)>,
    Query(q): Query<ListParams>,
) -> Result<List<RuleOut>, ApiError> {
    p.require(Scope::RealmsRead)?;
    let page = q.page()?;
    let (_, role) = role_of(&state, &p, &realm_id, &role_id).await?;
    Ok(List::from_page(
        state.store.list_rules(&role, &page).await?,
        RuleOut::from,
    ))
}

fn check_rule_uri(v: &mut Violations, field: &str, uri: &str, m: Match) {
    v.check(field, check_pattern(uri, m.into()));
}

/// Adds a permission rule to a role.
#[utoipa::path(post, path = "/v1/realms/{realm_id}/roles/{role_id}/rules", tag = "roles",
    params(("realm_id" = String, Path), ("role_id" = String, Path)), request_body = CreateRule,
    responses((status = 201, body = RuleOut), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn create_rule(
    State(state): State<AppState>,
    p: Principal,
    Path((realm_id, role_id)): Path<(String, String)>,
    Json(req): Json<CreateRule>,
) -> Result<(StatusCode, Out<RuleOut>), ApiError> {
    p.require(Scope::RealmsWrite)?;
    let mut v = Violations::new();
    check_rule_uri(&mut v, "uri", &req.uri, req.match_policy);
    v.finish()?;
    let (realm, role) = role_of(&state, &p, &realm_id, &role_id).await?;
    if state.store.count_rules(&role).await? >= MAX_RULES_PER_ROLE as i64 {
        return Err(ApiError::LimitReached(format!(
            "a role has at most {MAX_RULES_PER_ROLE} rules"
        )));
    }
    let rule = state
        .store
        .create_rule(
            &p.actor,
            &realm,
            &role,
            spec(req.uri, req.match_policy, req.allow, req.disclose),
        )
        .await?;
    state
        .announce(Change::RoleUpdated {
            realm: realm.uri,
            role: role.name,
        })
        .await;
    Ok((StatusCode::CREATED, Out(rule.into())))
}

/// Reads a permission rule.
#[utoipa::path(get, path = "/v1/realms/{realm_id}/roles/{role_id}/rules/{rule_id}", tag = "roles",
    params(("realm_id" = String, Path), ("role_id" = String, Path), ("rule_id" = String, Path)),
    responses((status = 200, body = RuleOut), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn get_rule(
    State(state): State<AppState>,
    p: Principal,
    Path((realm_id, role_id, rule_id)): Path<(String, String, String)>,
) -> Result<Out<RuleOut>, ApiError> {
    p.require(Scope::RealmsRead)?;
    let (_, role) = role_of(&state, &p, &realm_id, &role_id).await?;
    Ok(Out(state.store.get_rule(&role, &rule_id).await?.into()))
}

/// Changes a permission rule.
#[utoipa::path(patch, path = "/v1/realms/{realm_id}/roles/{role_id}/rules/{rule_id}", tag = "roles",
    params(("realm_id" = String, Path), ("role_id" = String, Path), ("rule_id" = String, Path)), request_body = UpdateRule,
    responses((status = 200, body = RuleOut), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn update_rule(
    State(state): State<AppState>,
    p: Principal,
    Path((realm_id, role_id, rule_id)): Path<(String, String, String)>,
    Json(req): Json<UpdateRule>,
) -> Result<Out<RuleOut>, ApiError> {
    p.require(Scope::RealmsWrite)?;
    let (realm, role) = role_of(&state, &p, &realm_id, &role_id).await?;
    let before = state.store.get_rule(&role, &rule_id).await?;
    let current = RuleOut::from(before.clone());
    let uri = req.uri.unwrap_or(current.uri);
    let m = req.match_policy.unwrap_or(current.match_policy);
    let mut v = Violations::new();
    check_rule_uri(&mut v, "uri", &uri, m);
    v.finish()?;
    let after = spec(
        uri,
        m,
        req.allow.unwrap_or(current.allow),
        req.disclose.unwrap_or(current.disclose),
    );
    let rule = state
        .store
        .update_rule(&p.actor, &realm, &before, after)
        .await?;
    state
        .announce(Change::RoleUpdated {
            realm: realm.uri,
            role: role.name,
        })
        .await;
    Ok(Out(rule.into()))
}

/// Deletes a permission rule.
#[utoipa::path(delete, path = "/v1/realms/{realm_id}/roles/{role_id}/rules/{rule_id}", tag = "roles",
    params(("realm_id" = String, Path), ("role_id" = String, Path), ("rule_id" = String, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn delete_rule(
    State(state): State<AppState>,
    p: Principal,
    Path((realm_id, role_id, rule_id)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    p.require(Scope::RealmsWrite)?;
    let (realm, role) = role_of(&state, &p, &realm_id, &role_id).await?;
    let rule = state.store.get_rule(&role, &rule_id).await?;
    state.store.delete_rule(&p.actor, &realm, &rule).await?;
    state
        .announce(Change::RoleUpdated {
            realm: realm.uri,
            role: role.name,
        })
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Imports a Crossbar.io `roles` array (bare, or in a realm object `{"roles": [...]}`) into a
/// realm, in one transaction: missing roles are created, named roles get exactly the imported
/// rules, other roles are left alone. The import is read as Crossbar.io reads it, and refused
/// whole at the first problem, named by its JSON path (`roles[1].permissions[0].uri`).
#[utoipa::path(post, path = "/v1/realms/{realm_id}/roles/import", tag = "roles",
    params(("realm_id" = String, Path)), request_body = CrossbarImport,
    responses((status = 200, body = ImportOut), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = []), ("cookie" = [])))]
async fn import_crossbar_roles(
    State(state): State<AppState>,
    p: Principal,
    Path(realm_id): Path<String>,
    Json(body): Json<serde_json::Value>,
) -> Result<Out<ImportOut>, ApiError> {
    p.require(Scope::RealmsWrite)?;
    let imports = parse_import(&body)?;
    let realm = realm_of(&state, &p, &realm_id).await?;
    let done = state.store.import_roles(&p.actor, &realm, imports).await?;
    let mut out = Vec::with_capacity(done.len());
    for (role, rules) in done {
        state
            .announce(Change::RoleUpdated {
                realm: realm.uri.clone(),
                role: role.name.clone(),
            })
            .await;
        out.push(ImportedRole {
            role: role.into(),
            rules: rules.into_iter().map(RuleOut::from).collect(),
        });
    }
    Ok(Out(ImportOut { roles: out }))
}

/// Reads an import body with the router's Crossbar.io reader, then applies the API's own
/// bounds (rules per role, URI length).
fn parse_import(body: &serde_json::Value) -> Result<Vec<RoleImport>, ApiError> {
    if body.get("workers").is_some() && body.get("roles").is_none() {
        return Err(ApiError::field(
            "roles",
            "this is a whole Crossbar.io config.json: import one realm (an object of \
             workers[].realms[]) or its roles array",
        ));
    }
    let defs = crossbar::parse_roles(body).map_err(|e| ApiError::field(e.path, e.message))?;
    let mut v = Violations::new();
    let mut out = Vec::with_capacity(defs.len());
    for (i, RoleDef { name, rules }) in defs.into_iter().enumerate() {
        let at = format!("roles[{i}].permissions");
        if rules.len() > MAX_RULES_PER_ROLE {
            v.add(&at, format!("at most {MAX_RULES_PER_ROLE} rules per role"));
        }
        let mut specs = Vec::with_capacity(rules.len());
        for (j, rule) in rules.into_iter().enumerate() {
            // Already valid for the router; this adds the API's length bound.
            v.check(
                &format!("{at}[{j}].uri"),
                check_pattern(&rule.uri, rule.match_policy),
            );
            let allow = Allow {
                call: rule.allow.call,
                register: rule.allow.register,
                publish: rule.allow.publish,
                subscribe: rule.allow.subscribe,
            };
            let disclose = Disclose {
                caller: rule.disclose.caller,
                publisher: rule.disclose.publisher,
            };
            specs.push(spec(rule.uri, rule.match_policy.into(), allow, disclose));
        }
        out.push(RoleImport { name, rules: specs });
    }
    v.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(e: ApiError) -> Vec<(String, String)> {
        let ApiError::Validation(errs) = e else {
            panic!("{e:?}")
        };
        errs.into_iter().map(|e| (e.field, e.message)).collect()
    }

    #[test]
    fn a_crossbar_config_imports() {
        let roles = parse_import(&json!({"roles": [
            {"name": "backend", "permissions": [
                {"uri": "com.example.", "match": "prefix", "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
                 "disclose": {"caller": true, "publisher": true}, "cache": true}]},
            {"name": "frontend", "permissions": [
                {"uri": "com.example.add2", "allow": {"call": true}},
                {"uri": "com.example.*", "allow": {"subscribe": true}}]}
        ]}))
        .unwrap();
        assert_eq!(roles.len(), 2);
        assert_eq!(roles[1].rules[0].match_policy, MatchPolicy::Exact);
        assert_eq!(roles[1].rules[1].match_policy, MatchPolicy::Prefix);
        assert_eq!(roles[1].rules[1].uri, "com.example.");
        assert!(roles[0].rules[0].disclose.caller);
        assert!(roles[0].rules[0].allow.register);
        assert!(!roles[1].rules[0].allow.subscribe);
    }

    #[test]
    fn crossbar_semantics_come_from_junction_auth() {
        // A Crossbar.io realm object, as copied from config.json.
        let roles = parse_import(&json!({"name": "realm1", "roles": [
            {"name": "anonymous", "permissions": [{"uri": "*", "allow": {"call": true}}]}
        ]}))
        .unwrap();
        assert_eq!(
            (
                roles[0].rules[0].uri.as_str(),
                roles[0].rules[0].match_policy
            ),
            ("", MatchPolicy::Prefix)
        );
        // A trailing `*` with an explicit exact match is refused, not read as a literal.
        let e = parse_import(
            &json!([{"name": "a", "permissions": [{"uri": "com.*", "match": "exact"}]}]),
        )
        .unwrap_err();
        assert_eq!(fields(e)[0].0, "roles[0].permissions[0].uri");
        // Crossbar.io's old format names the mistake.
        let e = parse_import(&json!([{"name": "a", "permissions": [{"uri": "x", "call": true}]}]))
            .unwrap_err();
        let f = fields(e);
        assert_eq!(f[0].0, "roles[0].permissions[0].call");
        assert!(f[0].1.contains("old Crossbar.io format"), "{f:?}");
    }

    #[test]
    fn import_errors_name_the_field() {
        let cases = [
            (
                json!({"roles": [{"name": "a", "permissions": [{"uri": "com..x", "match": "exact"}]}]}),
                "roles[0].permissions[0].uri",
            ),
            (
                json!({"roles": [{"name": "a"}, {"name": "a"}]}),
                "roles[1].name",
            ),
            (
                json!({"roles": [{"name": "a", "authorizer": "com.auth"}]}),
                "roles[0].authorizer",
            ),
            (
                json!({"roles": [{"name": "a", "permissions": [{"uri": "x", "match": "regex"}]}]}),
                "roles[0].permissions[0].match",
            ),
            (json!({"workers": []}), "roles"),
            (json!(42), "roles"),
        ];
        for (body, field) in cases {
            assert_eq!(
                fields(parse_import(&body).unwrap_err())[0].0,
                field,
                "{body}"
            );
        }
        let long = format!("{}.", "x".repeat(300));
        let e = parse_import(&json!([{"name": "a", "permissions": [{"uri": "ok"}, {"uri": long, "match": "prefix"}]}]))
            .unwrap_err();
        assert_eq!(
            fields(e),
            [(
                "roles[0].permissions[1].uri".to_string(),
                "must be at most 255 bytes long".to_string()
            )]
        );
        let many: Vec<_> = (0..=MAX_RULES_PER_ROLE)
            .map(|i| json!({"uri": format!("r{i}")}))
            .collect();
        let e = parse_import(&json!([{"name": "a", "permissions": many}])).unwrap_err();
        assert_eq!(fields(e)[0].0, "roles[0].permissions");
    }
}
