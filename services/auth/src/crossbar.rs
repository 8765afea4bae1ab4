//! Crossbar.io role import: a `config.json` `roles` array into [`RoleDef`]s.
//!
//! ```json
//! [{"name": "frontend", "permissions": [
//!     {"uri": "com.example.", "match": "prefix",
//!      "allow": {"call": true, "subscribe": true}, "disclose": {"caller": true}, "cache": true},
//!     {"uri": "com.example.*", "allow": {"publish": true}}]}]
//! ```
//!
//! Semantics, as Crossbar.io's `RouterRoleStaticAuth`:
//! - `match` defaults to `exact`, except that a `uri` ending in `*` is the legacy prefix form:
//!   the `*` is dropped and the rule matches by prefix (`com.example.*` = prefix
//!   `com.example.`, `*` = prefix `""`, everything). Crossbar also drops the `*` under an
//!   explicit `exact` / `wildcard`, which silently changes the rule's meaning: we refuse that.
//! - `allow` / `disclose` flags default to false, `cache` to true.
//! - unknown keys are errors (as Crossbar's config checker), so a typo such as `"subscibe"`
//!   does not silently deny; a role with a dynamic `authorizer` is refused (not supported yet).
//!
//! Errors name the offending place as a JSON path: `roles[1].permissions[0].match`.
//!
//! The admin API (`POST /v1/realms/{id}/roles/import`) has its own parser today; this one is
//! meant to replace it so that the CLI, the admin API and the router agree by construction.

use std::collections::HashSet;
use std::fmt;

use junction_protocol::MatchPolicy;
use serde_json::{Map, Value};

use crate::rules::{Allow, Disclose, Rule, RuleError, RuleSet};

/// Longest role name, and its alphabet (as the admin API's identifiers).
const MAX_ROLE_NAME: usize = 64;

/// A role and its rules as a Crossbar.io config describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDef {
    pub name: String,
    pub rules: Vec<Rule>,
}

/// A Crossbar.io realm (`workers[].realms[]`) and its roles, from a whole `config.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealmDef {
    pub name: String,
    pub roles: Vec<RoleDef>,
}

/// Where the import went wrong (a JSON path such as `roles[0].permissions[2].uri`) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ImportError {
    pub path: String,
    pub message: String,
}

fn err<T>(path: impl fmt::Display, message: impl Into<String>) -> Result<T, ImportError> {
    Err(ImportError { path: path.to_string(), message: message.into() })
}

/// Parse a `roles` array, or an object holding one (`{"roles": [...]}`, e.g. a Crossbar realm).
pub fn parse_roles(json: &Value) -> Result<Vec<RoleDef>, ImportError> {
    match json {
        Value::Array(_) => roles_at(json, "roles"),
        Value::Object(obj) => match obj.get("roles") {
            Some(roles) => roles_at(roles, "roles"),
            None if obj.contains_key("workers") => {
                err("roles", "this is a whole config.json: import it with parse_config (roles of every realm)")
            }
            None => err("roles", "missing: expected an array of roles, or an object with a \"roles\" array"),
        },
        other => err("roles", format!("expected an array of roles, found {}", kind(other))),
    }
}

/// Parse every realm's roles of a whole Crossbar.io `config.json` (`workers[].realms[]`).
/// Workers without realms (containers, guests, proxies) are skipped.
pub fn parse_config(json: &Value) -> Result<Vec<RealmDef>, ImportError> {
    let obj = object(json, "$")?;
    let Some(workers) = obj.get("workers") else { return err("workers", "missing") };
    let workers = array(workers, "workers")?;
    let mut out = Vec::new();
    for (i, worker) in workers.iter().enumerate() {
        let at = format!("workers[{i}]");
        let Some(realms) = object(worker, &at)?.get("realms") else { continue };
        let at = format!("{at}.realms");
        for (j, realm) in array(realms, &at)?.iter().enumerate() {
            let at = format!("{at}[{j}]");
            let realm_obj = object(realm, &at)?;
            let name = match realm_obj.get("name") {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                Some(_) => return err(format!("{at}.name"), "expected a non-empty string"),
                None => return err(format!("{at}.name"), "missing"),
            };
            let roles = match realm_obj.get("roles") {
                Some(roles) => roles_at(roles, &format!("{at}.roles"))?,
                None => Vec::new(),
            };
            out.push(RealmDef { name, roles });
        }
    }
    Ok(out)
}

fn roles_at(json: &Value, at: &str) -> Result<Vec<RoleDef>, ImportError> {
    let roles = array(json, at)?;
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(roles.len());
    for (i, role) in roles.iter().enumerate() {
        let at = format!("{at}[{i}]");
        let role = role_at(role, &at)?;
        if !names.insert(role.name.clone()) {
            return err(format!("{at}.name"), format!("role {:?} appears twice", role.name));
        }
        out.push(role);
    }
    Ok(out)
}

fn role_at(json: &Value, at: &str) -> Result<RoleDef, ImportError> {
    let obj = object(json, at)?;
    for key in obj.keys() {
        match key.as_str() {
            "name" | "permissions" => {}
            "authorizer" => return err(format!("{at}.authorizer"), "dynamic authorizers are not supported yet"),
            _ => return err(format!("{at}.{key}"), "unknown key (a role has \"name\" and \"permissions\")"),
        }
    }
    let name = match obj.get("name") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => return err(format!("{at}.name"), format!("expected a string, found {}", kind(other))),
        None => return err(format!("{at}.name"), "missing"),
    };
    if let Err(m) = check_role_name(&name) {
        return err(format!("{at}.name"), m);
    }
    let rules = match obj.get("permissions") {
        None => Vec::new(),
        Some(perms) => {
            let perms_at = format!("{at}.permissions");
            let perms = array(perms, &perms_at)?;
            let mut rules = Vec::with_capacity(perms.len());
            for (j, perm) in perms.iter().enumerate() {
                rules.push(permission_at(perm, &format!("{perms_at}[{j}]"))?);
            }
            rules
        }
    };
    // Compile to check URIs and duplicates with the exact rules the router applies.
    if let Err(e) = RuleSet::compile(rules.iter().cloned()) {
        let rule_at = format!("{at}.permissions[{}]", e.index());
        return match e {
            RuleError::InvalidUri { policy, source, .. } => {
                err(format!("{rule_at}.uri"), format!("not a valid {policy} pattern: {source}"))
            }
            RuleError::Duplicate { first, .. } => {
                err(format!("{rule_at}.uri"), format!("same uri and match as {at}.permissions[{first}]"))
            }
        };
    }
    Ok(RoleDef { name, rules })
}

fn permission_at(json: &Value, at: &str) -> Result<Rule, ImportError> {
    let obj = object(json, at)?;
    for key in obj.keys() {
        match key.as_str() {
            "uri" | "match" | "allow" | "disclose" | "cache" => {}
            "call" | "register" | "publish" | "subscribe" => {
                return err(
                    format!("{at}.{key}"),
                    "unknown key (old Crossbar.io format: move action flags into \"allow\")",
                );
            }
            _ => {
                return err(format!("{at}.{key}"), "unknown key (a permission has uri, match, allow, disclose, cache)");
            }
        }
    }
    let uri = match obj.get("uri") {
        Some(Value::String(s)) => s.as_str(),
        Some(other) => return err(format!("{at}.uri"), format!("expected a string, found {}", kind(other))),
        None => return err(format!("{at}.uri"), "missing"),
    };
    let explicit = match obj.get("match") {
        None => None,
        Some(Value::String(s)) => match MatchPolicy::parse(s) {
            Some(p) => Some(p),
            None => {
                return err(format!("{at}.match"), format!("{s:?} is not one of \"exact\", \"prefix\", \"wildcard\""));
            }
        },
        Some(other) => return err(format!("{at}.match"), format!("expected a string, found {}", kind(other))),
    };
    let (uri, match_policy) = match (uri.strip_suffix('*'), explicit) {
        (Some(prefix), None | Some(MatchPolicy::Prefix)) => (prefix.to_owned(), MatchPolicy::Prefix),
        (Some(_), Some(p)) => {
            return err(
                format!("{at}.uri"),
                format!("a trailing '*' is the legacy prefix form and cannot be combined with match {p:?}"),
            );
        }
        (None, p) => (uri.to_owned(), p.unwrap_or(MatchPolicy::Exact)),
    };
    let mut allow = Allow::NONE;
    for (key, value) in flags(obj.get("allow"), &format!("{at}.allow"), &["call", "register", "publish", "subscribe"])?
    {
        match key {
            "call" => allow.call = value,
            "register" => allow.register = value,
            "publish" => allow.publish = value,
            _ => allow.subscribe = value,
        }
    }
    let mut disclose = Disclose::default();
    for (key, value) in flags(obj.get("disclose"), &format!("{at}.disclose"), &["caller", "publisher"])? {
        match key {
            "caller" => disclose.caller = value,
            _ => disclose.publisher = value,
        }
    }
    let cache = match obj.get("cache") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(other) => return err(format!("{at}.cache"), format!("expected true or false, found {}", kind(other))),
    };
    Ok(Rule { uri, match_policy, allow, disclose, cache })
}

/// Read an object of boolean flags whose keys must be among `known`.
fn flags<'v>(json: Option<&'v Value>, at: &str, known: &[&str]) -> Result<Vec<(&'v str, bool)>, ImportError> {
    let Some(json) = json else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for (key, value) in object(json, at)? {
        if !known.contains(&key.as_str()) {
            return err(format!("{at}.{key}"), format!("unknown key (expected one of {})", known.join(", ")));
        }
        match value {
            Value::Bool(b) => out.push((key.as_str(), *b)),
            other => return err(format!("{at}.{key}"), format!("expected true or false, found {}", kind(other))),
        }
    }
    Ok(out)
}

fn check_role_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > MAX_ROLE_NAME {
        return Err(format!("must be at most {MAX_ROLE_NAME} characters"));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.@:-".contains(&b)) {
        return Err("may contain only letters, digits and _ . @ : -".into());
    }
    Ok(())
}

fn object<'a>(json: &'a Value, at: &str) -> Result<&'a Map<String, Value>, ImportError> {
    match json {
        Value::Object(obj) => Ok(obj),
        other => err(at, format!("expected an object, found {}", kind(other))),
    }
}

fn array<'a>(json: &'a Value, at: &str) -> Result<&'a Vec<Value>, ImportError> {
    match json {
        Value::Array(a) => Ok(a),
        other => err(at, format!("expected an array, found {}", kind(other))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::rules::{Action, Permission};

    fn path_of(json: Value) -> String {
        parse_roles(&json).unwrap_err().path
    }

    #[test]
    fn a_crossbar_roles_array_imports() {
        let roles = parse_roles(&json!([
            {"name": "backend", "permissions": [
                {"uri": "com.example.", "match": "prefix",
                 "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
                 "disclose": {"caller": true, "publisher": true}, "cache": true}]},
            {"name": "frontend", "permissions": [
                {"uri": "com.example.add2", "allow": {"call": true}},
                {"uri": "com.example.*", "allow": {"subscribe": true}, "cache": false},
                {"uri": "com.example..on_update", "match": "wildcard", "allow": {"subscribe": true}}]},
            {"name": "nobody"}
        ]))
        .unwrap();
        assert_eq!(roles.len(), 3);
        assert_eq!(roles[0].name, "backend");
        let r = &roles[0].rules[0];
        assert_eq!((r.uri.as_str(), r.match_policy), ("com.example.", MatchPolicy::Prefix));
        assert_eq!(r.allow, Allow::ALL);
        assert_eq!(r.disclose, Disclose { caller: true, publisher: true });
        let f = &roles[1].rules;
        assert_eq!((f[0].uri.as_str(), f[0].match_policy), ("com.example.add2", MatchPolicy::Exact));
        assert_eq!(f[0].allow, Allow { call: true, ..Allow::NONE });
        assert!(f[0].cache);
        assert_eq!((f[1].uri.as_str(), f[1].match_policy, f[1].cache), ("com.example.", MatchPolicy::Prefix, false));
        assert_eq!(f[2].match_policy, MatchPolicy::Wildcard);
        assert!(roles[2].rules.is_empty());

        // And it decides as Crossbar would.
        let set = RuleSet::compile(roles[1].rules.clone()).unwrap();
        assert_eq!(set.decide("com.example.add2", Action::Call), Permission::ALLOW);
        assert!(!set.decide("com.example.add2", Action::Subscribe).allow);
        assert!(set.decide("com.example.other", Action::Subscribe).allow);
    }

    #[test]
    fn an_object_with_roles_and_a_lone_star() {
        let roles = parse_roles(&json!({"name": "realm1", "roles": [
            {"name": "anonymous", "permissions": [{"uri": "*", "allow": {"call": true}}]},
            {"name": "explicit", "permissions": [{"uri": "com.x.*", "match": "prefix"}]}
        ]}))
        .unwrap();
        assert_eq!((roles[0].rules[0].uri.as_str(), roles[0].rules[0].match_policy), ("", MatchPolicy::Prefix));
        assert_eq!((roles[1].rules[0].uri.as_str(), roles[1].rules[0].match_policy), ("com.x.", MatchPolicy::Prefix));
        let set = RuleSet::compile(roles[0].rules.clone()).unwrap();
        assert!(set.decide("any.thing", Action::Call).allow);
    }

    #[test]
    fn errors_name_the_offending_path() {
        let cases = [
            (json!("nope"), "roles"),
            (json!({"realms": []}), "roles"),
            (json!({"workers": []}), "roles"),
            (json!([1]), "roles[0]"),
            (json!([{"permissions": []}]), "roles[0].name"),
            (json!([{"name": ""}]), "roles[0].name"),
            (json!([{"name": "a b"}]), "roles[0].name"),
            (json!([{"name": "a"}, {"name": "a"}]), "roles[1].name"),
            (json!([{"name": "a", "authorizer": "com.auth"}]), "roles[0].authorizer"),
            (json!([{"name": "a", "perms": []}]), "roles[0].perms"),
            (json!([{"name": "a", "permissions": {}}]), "roles[0].permissions"),
            (json!([{"name": "a", "permissions": [{"match": "exact"}]}]), "roles[0].permissions[0].uri"),
            (json!([{"name": "a", "permissions": [{"uri": 5}]}]), "roles[0].permissions[0].uri"),
            (json!([{"name": "a", "permissions": [{"uri": "x", "match": "regex"}]}]), "roles[0].permissions[0].match"),
            (json!([{"name": "a", "permissions": [{"uri": "x", "match": true}]}]), "roles[0].permissions[0].match"),
            (
                json!([{"name": "a", "permissions": [{"uri": "x", "allow": {"subscibe": true}}]}]),
                "roles[0].permissions[0].allow.subscibe",
            ),
            (
                json!([{"name": "a", "permissions": [{"uri": "x", "allow": {"call": "yes"}}]}]),
                "roles[0].permissions[0].allow.call",
            ),
            (json!([{"name": "a", "permissions": [{"uri": "x", "allow": []}]}]), "roles[0].permissions[0].allow"),
            (
                json!([{"name": "a", "permissions": [{"uri": "x", "disclose": {"callee": true}}]}]),
                "roles[0].permissions[0].disclose.callee",
            ),
            (json!([{"name": "a", "permissions": [{"uri": "x", "cache": 1}]}]), "roles[0].permissions[0].cache"),
            (json!([{"name": "a", "permissions": [{"uri": "x", "call": true}]}]), "roles[0].permissions[0].call"),
            (json!([{"name": "a", "permissions": [{"uri": "ok"}, {"uri": "com..x"}]}]), "roles[0].permissions[1].uri"),
            (
                json!([{"name": "a", "permissions": [{"uri": "com.*", "match": "exact"}]}]),
                "roles[0].permissions[0].uri",
            ),
            (
                json!([{"name": "a", "permissions": [{"uri": "a.", "match": "prefix"}, {"uri": "a.*"}]}]),
                "roles[0].permissions[1].uri",
            ),
        ];
        for (json, path) in cases {
            assert_eq!(path_of(json.clone()), path, "{json}");
        }
        let e = parse_roles(&json!([{"name": "a", "permissions": [{"uri": "x", "match": "regex"}]}])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "roles[0].permissions[0].match: \"regex\" is not one of \"exact\", \"prefix\", \"wildcard\""
        );
        let e = parse_roles(&json!([{"name": "a", "permissions": [{"uri": "a.", "match": "prefix"}, {"uri": "a.*"}]}]))
            .unwrap_err();
        assert_eq!(e.message, "same uri and match as roles[0].permissions[0]");
    }

    #[test]
    fn a_whole_config_json_imports_per_realm() {
        let config = json!({"version": 2, "controller": {}, "workers": [
            {"type": "guest", "executable": "node"},
            {"type": "router", "realms": [
                {"name": "realm1", "roles": [{"name": "anonymous", "permissions": [
                    {"uri": "", "match": "prefix", "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
                     "disclose": {"caller": false, "publisher": false}, "cache": true}]}]},
                {"name": "realm2"}
            ]}
        ]});
        let realms = parse_config(&config).unwrap();
        assert_eq!(realms.len(), 2);
        assert_eq!(realms[0].name, "realm1");
        assert_eq!(realms[0].roles[0].rules[0].allow, Allow::ALL);
        assert!(realms[1].roles.is_empty());

        let bad = json!({"workers": [{"type": "router", "realms": [{"name": "r", "roles": [{"name": "x", "permissions": [{"uri": "a b"}]}]}]}]});
        assert_eq!(parse_config(&bad).unwrap_err().path, "workers[0].realms[0].roles[0].permissions[0].uri");
        assert_eq!(parse_config(&json!({})).unwrap_err().path, "workers");
        assert_eq!(
            parse_config(&json!({"workers": [{"realms": [{}]}]})).unwrap_err().path,
            "workers[0].realms[0].name"
        );
    }
}
