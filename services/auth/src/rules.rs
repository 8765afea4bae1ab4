//! A role's permission rules, Crossbar.io style, and their compiled form.
//!
//! A [`Rule`] is `{uri, match: exact|prefix|wildcard, allow: {call, register, publish,
//! subscribe}, disclose: {caller, publisher}, cache}`. A role's rules compile into a
//! [`RuleSet`], which answers "may this session do `action` on `uri`" with the single most
//! specific matching rule (exact, else the longest prefix, else the most specific wildcard,
//! as the dealer picks registrations with [`UriIndex::best_match`]); no matching rule denies.
//! The winning rule decides alone: a more specific rule that allows nothing hides a broader
//! rule that allows everything, which is how a tenant carves exceptions out of a prefix.
//!
//! Disclosure follows Crossbar.io: `disclose.caller` applies to `call` and `register` (the
//! caller's identity is given to callees), `disclose.publisher` to `publish` and `subscribe`
//! (the publisher's identity is given to subscribers).

use std::collections::HashMap;
use std::fmt;

use junction_protocol::uri::{self, MatchPolicy, UriError, UriIndex};

/// What a session is trying to do with a URI. Mirrors the router's `authz::Action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Call,
    Register,
    Publish,
    Subscribe,
}

impl Action {
    pub const ALL: [Action; 4] = [Action::Call, Action::Register, Action::Publish, Action::Subscribe];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Call => "call",
            Action::Register => "register",
            Action::Publish => "publish",
            Action::Subscribe => "subscribe",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of an authorization. Mirrors the router's `authz::Permission`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    pub allow: bool,
    /// Disclose the caller / publisher to callees / subscribers even when it did not ask to.
    /// Only ever true together with `allow`.
    pub disclose: bool,
}

impl Permission {
    pub const ALLOW: Permission = Permission { allow: true, disclose: false };
    pub const DENY: Permission = Permission { allow: false, disclose: false };
}

/// What a rule allows. Absent means not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Allow {
    pub call: bool,
    pub register: bool,
    pub publish: bool,
    pub subscribe: bool,
}

impl Allow {
    pub const ALL: Allow = Allow { call: true, register: true, publish: true, subscribe: true };
    pub const NONE: Allow = Allow { call: false, register: false, publish: false, subscribe: false };

    pub fn allows(&self, action: Action) -> bool {
        match action {
            Action::Call => self.call,
            Action::Register => self.register,
            Action::Publish => self.publish,
            Action::Subscribe => self.subscribe,
        }
    }
}

/// Whose identity a rule discloses. Absent means not disclosed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Disclose {
    pub caller: bool,
    pub publisher: bool,
}

impl Disclose {
    /// Crossbar.io semantics: `caller` for RPC actions, `publisher` for pub/sub actions.
    pub fn applies(&self, action: Action) -> bool {
        match action {
            Action::Call | Action::Register => self.caller,
            Action::Publish | Action::Subscribe => self.publisher,
        }
    }
}

/// One permission rule of a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// A URI or pattern. The empty string with `prefix` matches every URI (Crossbar.io's
    /// catch-all `{"uri": "", "match": "prefix"}`).
    pub uri: String,
    pub match_policy: MatchPolicy,
    pub allow: Allow,
    pub disclose: Disclose,
    /// Crossbar.io's per-rule `cache` flag. Compiled roles are always cached per pod (and
    /// dropped on change), so this only matters to a future dynamic authorizer; kept so that an
    /// import round-trips.
    pub cache: bool,
}

impl Rule {
    /// A rule that allows nothing and discloses nothing; set the fields you need.
    pub fn new(uri: impl Into<String>, match_policy: MatchPolicy) -> Self {
        Rule { uri: uri.into(), match_policy, allow: Allow::NONE, disclose: Disclose::default(), cache: true }
    }

    pub fn allow(mut self, allow: Allow) -> Self {
        self.allow = allow;
        self
    }

    pub fn disclose(mut self, disclose: Disclose) -> Self {
        self.disclose = disclose;
        self
    }

    /// The permission this rule grants for `action` when it is the best match.
    pub fn permission(&self, action: Action) -> Permission {
        let allow = self.allow.allows(action);
        Permission { allow, disclose: allow && self.disclose.applies(action) }
    }
}

/// Check a rule's URI under its match policy: the protocol's rules (loose URIs), plus the
/// empty prefix, which Crossbar.io configs use to mean "everything".
pub fn validate_rule_uri(uri: &str, policy: MatchPolicy) -> Result<(), UriError> {
    if uri.is_empty() && policy == MatchPolicy::Prefix {
        return Ok(());
    }
    uri::validate(uri, policy, false)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("rule {index}: {uri:?} is not a valid {policy} pattern: {source}")]
    InvalidUri {
        index: usize,
        uri: String,
        policy: MatchPolicy,
        #[source]
        source: UriError,
    },
    #[error("rule {index}: same uri {uri:?} and match {policy} as rule {first}")]
    Duplicate { index: usize, first: usize, uri: String, policy: MatchPolicy },
}

impl RuleError {
    /// Position of the offending rule in the input.
    pub fn index(&self) -> usize {
        match self {
            RuleError::InvalidUri { index, .. } | RuleError::Duplicate { index, .. } => *index,
        }
    }
}

struct Entry {
    /// Precomputed per [`Action::index`], so a decision is one index lookup and one array read.
    permissions: [Permission; 4],
    rule: Rule,
}

/// A wildcard pattern, pre-split: its concrete components and their positions.
struct Wildcard {
    concrete: Box<[(usize, Box<str>)]>,
    entry: usize,
}

impl Wildcard {
    fn matches(&self, components: &[&str]) -> bool {
        self.concrete.iter().all(|(i, c)| components[*i] == &**c)
    }
}

/// Most components of a URI we split on the stack; longer URIs take a heap path.
const STACK_COMPONENTS: usize = 16;

/// A role's rules, compiled for decisions. Immutable: a change builds a new one.
///
/// Exact and prefix rules live in a [`UriIndex`] (one hash lookup, then one per distinct
/// prefix length). Wildcard rules are kept apart, split once at compile time and sorted most
/// specific first per component count, so a decision splits the URI once and stops at the
/// first match; [`UriIndex::best_match`] would re-split every pattern on every call, which
/// costs ~0.5 µs with ten wildcard rules. The order is the same as `best_match`'s (concrete
/// beats wildcard at the first component where two patterns differ), checked by a test.
#[derive(Default)]
pub struct RuleSet {
    /// Every rule, in input order.
    entries: Vec<Entry>,
    /// Exact and prefix patterns -> index in `entries`.
    index: UriIndex<usize>,
    /// Component count -> wildcard patterns of that length, most specific first.
    wildcards: Vec<Vec<Wildcard>>,
}

impl fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.rules()).finish()
    }
}

/// At the first component where exactly one pattern is a wildcard, the concrete one is more
/// specific (the spec's rule for pattern-based registrations, as `UriIndex::best_match`).
fn more_specific_first(a: &str, b: &str) -> std::cmp::Ordering {
    for (x, y) in a.split('.').zip(b.split('.')) {
        match (x.is_empty(), y.is_empty()) {
            (false, true) => return std::cmp::Ordering::Less,
            (true, false) => return std::cmp::Ordering::Greater,
            _ => {}
        }
    }
    std::cmp::Ordering::Equal
}

impl RuleSet {
    /// No rules: everything is denied (a role that does not exist, or has no rules yet).
    pub fn empty() -> Self {
        RuleSet::default()
    }

    /// Validate and index the rules. Two rules with the same uri and match are an error
    /// (the store refuses them too), rather than a silent last-one-wins.
    pub fn compile(rules: impl IntoIterator<Item = Rule>) -> Result<RuleSet, RuleError> {
        let mut set = RuleSet::default();
        // Wildcard pattern -> entry, for duplicates; sorted into `set.wildcards` at the end.
        let mut wild: HashMap<String, usize> = HashMap::new();
        for (position, rule) in rules.into_iter().enumerate() {
            if let Err(source) = validate_rule_uri(&rule.uri, rule.match_policy) {
                return Err(RuleError::InvalidUri {
                    index: position,
                    uri: rule.uri,
                    policy: rule.match_policy,
                    source,
                });
            }
            let first = match rule.match_policy {
                MatchPolicy::Wildcard => wild.get(&rule.uri).copied(),
                policy => set.index.get(&rule.uri, policy).copied(),
            };
            if let Some(first) = first {
                return Err(RuleError::Duplicate { index: position, first, uri: rule.uri, policy: rule.match_policy });
            }
            match rule.match_policy {
                MatchPolicy::Wildcard => {
                    wild.insert(rule.uri.clone(), position);
                }
                policy => {
                    set.index.insert(rule.uri.clone(), policy, position);
                }
            }
            let permissions = Action::ALL.map(|a| rule.permission(a));
            set.entries.push(Entry { permissions, rule });
        }
        for (pattern, entry) in wild {
            let components: Vec<&str> = pattern.split('.').collect();
            let concrete =
                components.iter().enumerate().filter(|(_, c)| !c.is_empty()).map(|(i, c)| (i, Box::from(*c))).collect();
            if set.wildcards.len() <= components.len() {
                set.wildcards.resize_with(components.len() + 1, Vec::new);
            }
            set.wildcards[components.len()].push(Wildcard { concrete, entry });
        }
        // Sorted per component count only: the order is total on patterns of one length
        // (lexicographic on the concrete/wildcard mask, ties by input position).
        for group in &mut set.wildcards {
            group.sort_by(|a, b| {
                more_specific_first(&set.entries[a.entry].rule.uri, &set.entries[b.entry].rule.uri)
                    .then(a.entry.cmp(&b.entry))
            });
        }
        Ok(set)
    }

    /// The deciding rule's index in `entries`: exact, else longest prefix, else most
    /// specific wildcard.
    #[inline]
    fn best(&self, uri: &str) -> Option<usize> {
        if let Some((_, _, &entry)) = self.index.best_match(uri) {
            return Some(entry);
        }
        if self.wildcards.is_empty() {
            return None;
        }
        let count = uri.bytes().filter(|&b| b == b'.').count() + 1;
        let group = self.wildcards.get(count)?;
        if group.is_empty() {
            return None;
        }
        if count <= STACK_COMPONENTS {
            let mut components = [""; STACK_COMPONENTS];
            for (slot, c) in components.iter_mut().zip(uri.split('.')) {
                *slot = c;
            }
            group.iter().find(|w| w.matches(&components[..count])).map(|w| w.entry)
        } else {
            let components: Vec<&str> = uri.split('.').collect();
            group.iter().find(|w| w.matches(&components)).map(|w| w.entry)
        }
    }

    /// The decision for `action` on `uri`: the most specific matching rule's, else deny.
    #[inline]
    pub fn decide(&self, uri: &str, action: Action) -> Permission {
        match self.best(uri) {
            Some(entry) => self.entries[entry].permissions[action.index()],
            None => Permission::DENY,
        }
    }

    /// The rule that decides for `uri`, if any (for explanations and tests).
    pub fn matching_rule(&self, uri: &str) -> Option<&Rule> {
        self.best(uri).map(|e| &self.entries[e].rule)
    }

    /// The rules, in the order they were compiled from.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.entries.iter().map(|e| &e.rule)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MatchPolicy::*;

    fn rule(uri: &str, policy: MatchPolicy, allow: Allow) -> Rule {
        Rule::new(uri, policy).allow(allow)
    }

    const CALL: Allow = Allow { call: true, register: false, publish: false, subscribe: false };
    const SUB: Allow = Allow { call: false, register: false, publish: false, subscribe: true };

    #[test]
    fn no_rule_denies() {
        let set = RuleSet::empty();
        for a in Action::ALL {
            assert_eq!(set.decide("com.example.x", a), Permission::DENY);
        }
        let set = RuleSet::compile([rule("com.example.add2", Exact, Allow::ALL)]).unwrap();
        assert_eq!(set.decide("com.example.add3", Action::Call), Permission::DENY);
        assert_eq!(set.decide("com.example.add2", Action::Call), Permission::ALLOW);
    }

    #[test]
    fn exact_beats_prefix_beats_wildcard() {
        let set = RuleSet::compile([
            rule("com.example..update", Wildcard, SUB),
            rule("com.example.", Prefix, CALL),
            rule("com.example.secret.update", Exact, Allow::NONE),
        ])
        .unwrap();
        // Exact wins even though it allows nothing.
        assert!(!set.decide("com.example.secret.update", Action::Call).allow);
        assert!(!set.decide("com.example.secret.update", Action::Subscribe).allow);
        // Prefix beats wildcard: the wildcard's subscribe is not granted.
        assert!(set.decide("com.example.user.update", Action::Call).allow);
        assert!(!set.decide("com.example.user.update", Action::Subscribe).allow);
        assert_eq!(set.matching_rule("com.example.user.update").unwrap().match_policy, Prefix);
        // Wildcard where no prefix matches.
        let set = RuleSet::compile([rule("com.example..update", Wildcard, SUB), rule("org.", Prefix, CALL)]).unwrap();
        assert!(set.decide("com.example.user.update", Action::Subscribe).allow);
        assert!(!set.decide("com.example.user.delete", Action::Subscribe).allow);
    }

    #[test]
    fn longest_prefix_wins() {
        let set = RuleSet::compile([
            rule("com.", Prefix, Allow::ALL),
            rule("com.example.admin.", Prefix, Allow::NONE),
            rule("com.example.", Prefix, CALL),
        ])
        .unwrap();
        assert!(set.decide("com.other.x", Action::Publish).allow);
        assert!(set.decide("com.example.x", Action::Call).allow);
        assert!(!set.decide("com.example.x", Action::Publish).allow);
        assert!(!set.decide("com.example.admin.kill", Action::Call).allow);
        // Plain string prefix, as in the spec (and Crossbar): `com.example.` does not match `com.example`.
        assert!(set.decide("com.example", Action::Publish).allow);
    }

    #[test]
    fn most_specific_wildcard_wins() {
        let set =
            RuleSet::compile([rule("a1.b2..d4.e5", Wildcard, CALL), rule("a1.b2.c3..e5", Wildcard, SUB)]).unwrap();
        // Both match; concrete at the third component wins.
        let p = set.decide("a1.b2.c3.d4.e5", Action::Subscribe);
        assert!(p.allow);
        assert!(!set.decide("a1.b2.c3.d4.e5", Action::Call).allow);
        // Component count must match.
        assert!(!set.decide("a1.b2.c3.d4.e5.f6", Action::Subscribe).allow);
    }

    #[test]
    fn empty_prefix_is_a_catch_all() {
        let set = RuleSet::compile([rule("", Prefix, SUB), rule("com.private.", Prefix, Allow::NONE)]).unwrap();
        assert!(set.decide("anything.at.all", Action::Subscribe).allow);
        assert!(set.decide("wamp.session.on_join", Action::Subscribe).allow);
        assert!(!set.decide("com.private.x", Action::Subscribe).allow);
    }

    #[test]
    fn disclosure_follows_crossbar() {
        let d = Disclose { caller: true, publisher: false };
        let set = RuleSet::compile([rule("com.", Prefix, Allow::ALL).disclose(d)]).unwrap();
        assert_eq!(set.decide("com.x", Action::Call), Permission { allow: true, disclose: true });
        assert_eq!(set.decide("com.x", Action::Register), Permission { allow: true, disclose: true });
        assert_eq!(set.decide("com.x", Action::Publish), Permission { allow: true, disclose: false });
        assert_eq!(set.decide("com.x", Action::Subscribe), Permission { allow: true, disclose: false });
        let d = Disclose { caller: false, publisher: true };
        let set = RuleSet::compile([rule("com.", Prefix, CALL).disclose(d)]).unwrap();
        assert_eq!(set.decide("com.x", Action::Call), Permission::ALLOW);
        // Denied actions never disclose.
        assert_eq!(set.decide("com.x", Action::Publish), Permission::DENY);
    }

    #[test]
    fn invalid_uris_are_refused_with_their_position() {
        let cases = [
            rule("com..x", Exact, CALL),
            rule("com.example.", Exact, CALL),
            rule("", Exact, CALL),
            rule("", Wildcard, CALL),
            rule("com..x", Prefix, CALL),
            rule(".com", Prefix, CALL),
            rule("com.ex ample", Exact, CALL),
            rule("com.#", Wildcard, CALL),
        ];
        for bad in cases {
            let err = RuleSet::compile([rule("ok.", Prefix, CALL), bad.clone()]).unwrap_err();
            assert_eq!(err.index(), 1, "{bad:?}");
            assert!(matches!(err, RuleError::InvalidUri { .. }), "{bad:?}");
        }
        let err = RuleSet::compile([rule("com..x", Exact, CALL)]).unwrap_err();
        assert!(err.to_string().starts_with("rule 0: \"com..x\" is not a valid exact pattern"), "{err}");
    }

    #[test]
    fn duplicates_are_refused() {
        let err = RuleSet::compile([rule("a.", Prefix, CALL), rule("a.b", Exact, CALL), rule("a.", Prefix, SUB)])
            .unwrap_err();
        assert_eq!(err, RuleError::Duplicate { index: 2, first: 0, uri: "a.".into(), policy: Prefix });
        // Same uri under another policy is a different rule.
        assert!(RuleSet::compile([rule("a.b", Prefix, CALL), rule("a.b", Exact, SUB)]).is_ok());
    }

    #[test]
    fn rules_keep_their_order() {
        let input = vec![rule("z", Exact, CALL), rule("a.", Prefix, SUB), rule("m..x", Wildcard, CALL)];
        let set = RuleSet::compile(input.clone()).unwrap();
        assert_eq!(set.len(), 3);
        assert_eq!(set.rules().cloned().collect::<Vec<_>>(), input);
        assert!(format!("{set:?}").contains("m..x"));
    }

    #[test]
    fn wildcard_order_is_the_specs() {
        let set = RuleSet::compile([
            rule("a1.b2..d4..f6.g7", Wildcard, CALL),
            rule("a1.b2..d4.e5..g7", Wildcard, SUB),
            rule("a1...d4.e5.f6.g7", Wildcard, Allow::ALL),
        ])
        .unwrap();
        assert_eq!(set.matching_rule("a1.b2.c3.d4.e5.f6.g7").unwrap().uri, "a1.b2..d4.e5..g7");
        // Long URIs (more components than the stack split holds) decide the same way.
        let long = (0..40).map(|i| format!("c{i}")).collect::<Vec<_>>();
        let mut pattern = long.clone();
        pattern[3] = String::new();
        let set = RuleSet::compile([rule(&pattern.join("."), Wildcard, CALL)]).unwrap();
        assert!(set.decide(&long.join("."), Action::Call).allow);
        assert!(!set.decide(&long[..39].join("."), Action::Call).allow);
    }

    proptest::proptest! {
        /// The compiled rule set picks exactly the rule `UriIndex::best_match` picks.
        #[test]
        fn same_choice_as_uri_index(
            patterns in proptest::collection::vec((proptest::collection::vec(0..4usize, 1..5), 0..3usize), 0..24),
            uris in proptest::collection::vec(proptest::collection::vec(0..3usize, 1..5), 1..16),
        ) {
            const COMPONENTS: [&str; 4] = ["a", "b", "c", ""];
            let mut rules = Vec::new();
            let mut index = UriIndex::new();
            for (components, policy) in patterns {
                let uri = components.iter().map(|&c| COMPONENTS[c]).collect::<Vec<_>>().join(".");
                let policy = [Exact, Prefix, Wildcard][policy];
                if validate_rule_uri(&uri, policy).is_err() || index.contains(&uri, policy) {
                    continue;
                }
                index.insert(uri.clone(), policy, ());
                rules.push(rule(&uri, policy, CALL));
            }
            let set = RuleSet::compile(rules).unwrap();
            for components in uris {
                let uri = components.iter().map(|&c| COMPONENTS[c]).collect::<Vec<_>>().join(".");
                let expected = index.best_match(&uri).map(|(p, policy, _)| (p.to_owned(), policy));
                let got = set.matching_rule(&uri).map(|r| (r.uri.clone(), r.match_policy));
                proptest::prop_assert_eq!(got, expected, "uri {}", uri);
            }
        }
    }

    #[test]
    fn action_names() {
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
        }
        assert_eq!(Action::parse("delete"), None);
    }
}
