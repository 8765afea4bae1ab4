//! URI checks of the API, with field-level messages. The rules are the router's, by
//! construction: `junction_protocol::uri::validate` (loose URIs) for realm URIs and close
//! reasons, and `junction_auth::rules::validate_rule_uri` (the same, plus Crossbar.io's empty
//! prefix that matches everything) for permission-rule patterns, the check `RuleSet::compile`
//! applies. This module only adds a length bound and words the errors for a form field.

use junction_protocol::uri::{self, MatchPolicy, UriError};

/// Longest URI the API stores.
pub(crate) const MAX_URI_LEN: usize = 255;

fn check_len(uri: &str) -> Result<(), String> {
    if uri.len() > MAX_URI_LEN {
        return Err(format!("must be at most {MAX_URI_LEN} bytes long"));
    }
    Ok(())
}

/// A concrete URI (a realm URI, a close reason): dot-separated non-empty components without
/// whitespace or `#`.
pub(crate) fn check_uri(value: &str) -> Result<(), String> {
    check_len(value)?;
    uri::validate(value, MatchPolicy::Exact, false).map_err(|e| message(value, &e, None))
}

/// A permission-rule pattern under its match policy.
pub(crate) fn check_pattern(value: &str, policy: MatchPolicy) -> Result<(), String> {
    check_len(value)?;
    junction_auth::rules::validate_rule_uri(value, policy)
        .map_err(|e| message(value, &e, Some(policy)))
}

/// Words a [`UriError`] for a field, with where the problem is.
fn message(value: &str, e: &UriError, policy: Option<MatchPolicy>) -> String {
    use MatchPolicy::*;
    match (e, policy) {
        (UriError::Empty, None) => "must not be empty".into(),
        (UriError::Empty, Some(Exact)) => {
            "must not be empty for match 'exact' (\"\" with match 'prefix' matches every URI)"
                .into()
        }
        (UriError::Empty, Some(p)) => format!("must not be empty for match '{p}'"),
        (UriError::EmptyComponent { component, .. }, policy) => {
            let at = format!(
                "component {} of {} is empty",
                component + 1,
                value.split('.').count()
            );
            match policy {
                None => format!("must be dot-separated non-empty components ({at})"),
                Some(Exact) => format!(
                    "must be dot-separated non-empty components for match 'exact' ({at}; \
                     empty components are wildcards with match 'wildcard')"
                ),
                Some(Prefix) => format!(
                    "must not have empty components (except a trailing dot) for match 'prefix' ({at})"
                ),
                Some(Wildcard) => e.to_string(),
            }
        }
        (UriError::InvalidChar { ch, index, .. }, _) => {
            format!("must not contain whitespace or '#' (found {ch:?} at byte {index})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realm_uris() {
        for ok in ["realm1", "com.acme.shop", "a-b_c.d1", "com.acme.*"] {
            assert!(check_uri(ok).is_ok(), "{ok}");
        }
        let long = "x".repeat(256);
        let cases = [
            ("", "must not be empty"),
            (
                "com..shop",
                "must be dot-separated non-empty components (component 2 of 3 is empty)",
            ),
            (
                ".com",
                "must be dot-separated non-empty components (component 1 of 2 is empty)",
            ),
            (
                "com.",
                "must be dot-separated non-empty components (component 2 of 2 is empty)",
            ),
            (
                "com acme",
                "must not contain whitespace or '#' (found ' ' at byte 3)",
            ),
            (
                "com.#",
                "must not contain whitespace or '#' (found '#' at byte 4)",
            ),
            (
                "com.\u{a0}x",
                "must not contain whitespace or '#' (found '\\u{a0}' at byte 4)",
            ),
            (long.as_str(), "must be at most 255 bytes long"),
        ];
        for (bad, message) in cases {
            assert_eq!(check_uri(bad).unwrap_err(), message, "{bad:?}");
        }
    }

    #[test]
    fn patterns_per_policy() {
        use MatchPolicy::*;
        let cases = [
            ("com.acme.add", Exact, true),
            ("com.acme.", Exact, false),
            ("com..add", Exact, false),
            ("", Exact, false),
            ("", Prefix, true),
            ("com.acme.", Prefix, true),
            ("com.acme", Prefix, true),
            ("com..acme", Prefix, false),
            (".", Prefix, false),
            ("com..add", Wildcard, true),
            ("..", Wildcard, true),
            ("", Wildcard, false),
            ("com. x", Wildcard, false),
        ];
        for (uri, policy, ok) in cases {
            assert_eq!(check_pattern(uri, policy).is_ok(), ok, "{uri:?} {policy:?}");
            // Exactly what the router compiles.
            let compiled = junction_auth::RuleSet::compile([junction_auth::Rule::new(uri, policy)]);
            assert_eq!(compiled.is_ok(), ok, "{uri:?} {policy:?}");
        }
        assert_eq!(
            check_pattern("com..x", Prefix).unwrap_err(),
            "must not have empty components (except a trailing dot) for match 'prefix' \
             (component 2 of 3 is empty)"
        );
        assert!(
            check_pattern("", Exact)
                .unwrap_err()
                .contains("\"\" with match 'prefix' matches every URI")
        );
        assert_eq!(
            check_pattern("", Wildcard).unwrap_err(),
            "must not be empty for match 'wildcard'"
        );
        assert!(check_pattern(&format!("{}.", "x".repeat(255)), Prefix).is_err());
    }
}
