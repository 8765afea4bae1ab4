//! WAMP URIs: validation (rfc/text/basic/bp_02_building_blocks.md, "URIs"), matching
//! policies (advanced profile: pattern-based subscriptions and registrations), and
//! [`UriIndex`], which finds the patterns matching a concrete URI.
//!
//! Rules implemented:
//! - loose: components must not contain `.`, `#` or whitespace; strict: only `[0-9a-z_]`.
//! - exact: no empty components. prefix: no empty components except a trailing one
//!   (`com.app.` is a valid prefix, as in Crossbar). wildcard: empty components are the
//!   wildcards. The empty string is never valid (an empty prefix would match everything).
//! - prefix matching is a plain string prefix (`com.app.obj1` matches `com.app.obj1-x`,
//!   as the spec's example says); wildcard matching needs the same number of components,
//!   an empty pattern component matching any one component.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crate::value::{Dict, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MatchPolicy {
    #[default]
    Exact,
    Prefix,
    Wildcard,
}

impl MatchPolicy {
    /// The `match` option value: "exact" | "prefix" | "wildcard".
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "exact" => Some(MatchPolicy::Exact),
            "prefix" => Some(MatchPolicy::Prefix),
            "wildcard" => Some(MatchPolicy::Wildcard),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MatchPolicy::Exact => "exact",
            MatchPolicy::Prefix => "prefix",
            MatchPolicy::Wildcard => "wildcard",
        }
    }

    /// The policy requested by SUBSCRIBE/REGISTER `Options.match`: `Exact` when absent,
    /// `None` when present but not a known policy string (answer `wamp.error.invalid_argument`).
    pub fn from_options(options: &Dict) -> Option<Self> {
        match options.get("match") {
            None => Some(MatchPolicy::Exact),
            Some(Value::String(s)) => Self::parse(s),
            Some(_) => None,
        }
    }
}

impl fmt::Display for MatchPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("URI is empty")]
    Empty,
    /// `component` counts from 0.
    #[error("URI component {component} is empty{}", if *.wildcard_hint { " (empty components are only allowed in wildcard patterns)" } else { "" })]
    EmptyComponent { component: usize, wildcard_hint: bool },
    #[error("URI contains {ch:?} at byte {index}, not allowed in {} URIs{}", if *.strict { "strict" } else { "loose" }, if *.strict { " (only 0-9, a-z and _)" } else { " (no whitespace or #)" })]
    InvalidChar { ch: char, index: usize, strict: bool },
}

/// Check `uri` against the spec's URI rules for the given policy (see the module docs).
pub fn validate(uri: &str, policy: MatchPolicy, strict: bool) -> Result<(), UriError> {
    if uri.is_empty() {
        return Err(UriError::Empty);
    }
    let n = component_count(uri);
    let mut start = 0;
    for (i, comp) in uri.split('.').enumerate() {
        if comp.is_empty() {
            let allowed = match policy {
                MatchPolicy::Exact => false,
                MatchPolicy::Prefix => i + 1 == n && i > 0,
                MatchPolicy::Wildcard => true,
            };
            if !allowed {
                return Err(UriError::EmptyComponent { component: i, wildcard_hint: policy != MatchPolicy::Wildcard });
            }
        }
        let bad = if strict {
            comp.char_indices().find(|&(_, c)| !matches!(c, '0'..='9' | 'a'..='z' | '_'))
        } else {
            comp.char_indices().find(|&(_, c)| c == '#' || c.is_whitespace())
        };
        if let Some((j, ch)) = bad {
            return Err(UriError::InvalidChar { ch, index: start + j, strict });
        }
        start += comp.len() + 1;
    }
    Ok(())
}

/// URIs in the reserved `wamp` namespace (spec: "application URIs MUST NOT use `wamp` as a
/// first URI component"). Apps may not register or publish there; meta events/procedures live there.
pub fn is_meta(uri: &str) -> bool {
    uri.strip_prefix("wamp").is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// Does `uri` match `pattern` under `policy`?
pub fn matches(pattern: &str, policy: MatchPolicy, uri: &str) -> bool {
    match policy {
        MatchPolicy::Exact => pattern == uri,
        MatchPolicy::Prefix => uri.starts_with(pattern),
        MatchPolicy::Wildcard => wildcard_matches(pattern, uri),
    }
}

fn component_count(s: &str) -> usize {
    s.bytes().filter(|&b| b == b'.').count() + 1
}

fn wildcard_matches(pattern: &str, uri: &str) -> bool {
    let mut p = pattern.split('.');
    let mut u = uri.split('.');
    loop {
        match (p.next(), u.next()) {
            (None, None) => return true,
            (Some(pc), Some(uc)) if pc.is_empty() || pc == uc => {}
            _ => return false,
        }
    }
}

/// Specificity of two wildcard patterns of the same length that both match some URI:
/// at the first component where exactly one of them is a wildcard, the one with the
/// concrete component is more specific (`Greater`). This is the spec's "longest portion
/// of URI components matched before each wildcard" rule; it is a total order on distinct
/// patterns matching the same URI, so the best match is unique.
fn wildcard_specificity(a: &str, b: &str) -> Ordering {
    for (x, y) in a.split('.').zip(b.split('.')) {
        match (x.is_empty(), y.is_empty()) {
            (false, true) => return Ordering::Greater,
            (true, false) => return Ordering::Less,
            _ => {}
        }
    }
    Ordering::Equal
}

struct WildcardEntry<T> {
    pattern: String,
    value: T,
}

/// Patterns (with their policy) mapped to values, answering "which patterns match this URI".
///
/// - exact patterns: one hash lookup;
/// - prefix patterns: one hash lookup per *distinct prefix length* present (not per pattern);
/// - wildcard patterns: grouped by component count, only the group with the URI's count is scanned.
///
/// [`UriIndex::matching`] order is deterministic: exact, then prefixes from longest to
/// shortest, then wildcards in insertion order. Hash maps use std's randomized SipHash because URIs are
/// client-chosen (no hash flooding).
pub struct UriIndex<T> {
    exact: HashMap<String, T>,
    prefix: HashMap<String, T>,
    /// Distinct prefix lengths (bytes) -> number of prefix patterns of that length.
    prefix_lens: BTreeMap<usize, usize>,
    /// Component count -> wildcard patterns with that many components.
    wildcard: HashMap<usize, Vec<WildcardEntry<T>>>,
    wildcard_len: usize,
}

impl<T> Default for UriIndex<T> {
    fn default() -> Self {
        UriIndex {
            exact: HashMap::new(),
            prefix: HashMap::new(),
            prefix_lens: BTreeMap::new(),
            wildcard: HashMap::new(),
            wildcard_len: 0,
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for UriIndex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T> UriIndex<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.exact.len() + self.prefix.len() + self.wildcard_len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Insert or replace; returns the previous value for the same (pattern, policy).
    pub fn insert(&mut self, pattern: impl Into<String>, policy: MatchPolicy, value: T) -> Option<T> {
        let pattern = pattern.into();
        match policy {
            MatchPolicy::Exact => self.exact.insert(pattern, value),
            MatchPolicy::Prefix => {
                let len = pattern.len();
                let old = self.prefix.insert(pattern, value);
                if old.is_none() {
                    *self.prefix_lens.entry(len).or_insert(0) += 1;
                }
                old
            }
            MatchPolicy::Wildcard => {
                let group = self.wildcard.entry(component_count(&pattern)).or_default();
                if let Some(e) = group.iter_mut().find(|e| e.pattern == pattern) {
                    return Some(std::mem::replace(&mut e.value, value));
                }
                group.push(WildcardEntry { pattern, value });
                self.wildcard_len += 1;
                None
            }
        }
    }

    pub fn get(&self, pattern: &str, policy: MatchPolicy) -> Option<&T> {
        match policy {
            MatchPolicy::Exact => self.exact.get(pattern),
            MatchPolicy::Prefix => self.prefix.get(pattern),
            MatchPolicy::Wildcard => {
                self.wildcard.get(&component_count(pattern))?.iter().find(|e| e.pattern == pattern).map(|e| &e.value)
            }
        }
    }

    pub fn get_mut(&mut self, pattern: &str, policy: MatchPolicy) -> Option<&mut T> {
        match policy {
            MatchPolicy::Exact => self.exact.get_mut(pattern),
            MatchPolicy::Prefix => self.prefix.get_mut(pattern),
            MatchPolicy::Wildcard => self
                .wildcard
                .get_mut(&component_count(pattern))?
                .iter_mut()
                .find(|e| e.pattern == pattern)
                .map(|e| &mut e.value),
        }
    }

    pub fn contains(&self, pattern: &str, policy: MatchPolicy) -> bool {
        self.get(pattern, policy).is_some()
    }

    pub fn remove(&mut self, pattern: &str, policy: MatchPolicy) -> Option<T> {
        match policy {
            MatchPolicy::Exact => self.exact.remove(pattern),
            MatchPolicy::Prefix => {
                let old = self.prefix.remove(pattern)?;
                if let Some(n) = self.prefix_lens.get_mut(&pattern.len()) {
                    *n -= 1;
                    if *n == 0 {
                        self.prefix_lens.remove(&pattern.len());
                    }
                }
                Some(old)
            }
            MatchPolicy::Wildcard => {
                let count = component_count(pattern);
                let group = self.wildcard.get_mut(&count)?;
                let pos = group.iter().position(|e| e.pattern == pattern)?;
                // `remove`, not `swap_remove`: keeps iteration in insertion order.
                let old = group.remove(pos).value;
                if group.is_empty() {
                    self.wildcard.remove(&count);
                }
                self.wildcard_len -= 1;
                Some(old)
            }
        }
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Every entry: exact (arbitrary order), prefix (arbitrary order), wildcard.
    pub fn iter(&self) -> impl Iterator<Item = (&str, MatchPolicy, &T)> {
        let exact = self.exact.iter().map(|(k, v)| (k.as_str(), MatchPolicy::Exact, v));
        let prefix = self.prefix.iter().map(|(k, v)| (k.as_str(), MatchPolicy::Prefix, v));
        let wild = self.wildcard.values().flatten().map(|e| (e.pattern.as_str(), MatchPolicy::Wildcard, &e.value));
        exact.chain(prefix).chain(wild)
    }

    /// Every value, mutably (same order as [`UriIndex::iter`]).
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.exact
            .values_mut()
            .chain(self.prefix.values_mut())
            .chain(self.wildcard.values_mut().flatten().map(|e| &mut e.value))
    }

    /// Every pattern matching `uri` (for the broker: all subscriptions receiving an event).
    /// Order: exact, prefixes longest first, wildcards in insertion order.
    pub fn matching<'a>(&'a self, uri: &'a str) -> impl Iterator<Item = (&'a str, MatchPolicy, &'a T)> + 'a {
        let exact = self.exact.get_key_value(uri).map(|(k, v)| (k.as_str(), MatchPolicy::Exact, v));
        exact.into_iter().chain(self.prefix_matches(uri)).chain(self.wildcard_matches(uri))
    }

    /// The single most specific match (for the dealer), following the spec's
    /// "Pattern-based Registrations" algorithm: exact; else the longest matching prefix;
    /// else the wildcard pattern that is concrete at the first component where candidates
    /// differ (`a1.b2.c3..e5` beats `a1.b2..d4.e5`, `a1.b2..d4.e5..g7` beats
    /// `a1.b2..d4..f6.g7`). That order is total on distinct patterns matching one URI, so
    /// the result is deterministic and independent of insertion order.
    pub fn best_match<'a>(&'a self, uri: &'a str) -> Option<(&'a str, MatchPolicy, &'a T)> {
        if let Some((k, v)) = self.exact.get_key_value(uri) {
            return Some((k.as_str(), MatchPolicy::Exact, v));
        }
        if let Some(m) = self.prefix_matches(uri).next() {
            return Some(m);
        }
        self.wildcard_matches(uri).max_by(|a, b| wildcard_specificity(a.0, b.0))
    }

    /// Matching prefixes, longest first.
    fn prefix_matches<'a>(&'a self, uri: &'a str) -> impl Iterator<Item = (&'a str, MatchPolicy, &'a T)> + 'a {
        self.prefix_lens
            .range(..=uri.len())
            .rev()
            .filter_map(move |(&len, _)| self.prefix.get_key_value(uri.get(..len)?))
            .map(|(k, v)| (k.as_str(), MatchPolicy::Prefix, v))
    }

    fn wildcard_matches<'a>(&'a self, uri: &'a str) -> impl Iterator<Item = (&'a str, MatchPolicy, &'a T)> + 'a {
        let group = if self.wildcard.is_empty() { None } else { self.wildcard.get(&component_count(uri)) };
        group
            .into_iter()
            .flatten()
            .filter(move |e| wildcard_matches(&e.pattern, uri))
            .map(|e| (e.pattern.as_str(), MatchPolicy::Wildcard, &e.value))
    }
}

#[cfg(test)]
#[path = "uri_tests.rs"]
mod tests;
