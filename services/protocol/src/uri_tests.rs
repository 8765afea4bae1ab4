use super::*;
use MatchPolicy::{Exact, Prefix, Wildcard};

#[test]
fn policy_parse() {
    for p in [Exact, Prefix, Wildcard] {
        assert_eq!(MatchPolicy::parse(p.as_str()), Some(p));
        assert_eq!(p.to_string(), p.as_str());
    }
    assert_eq!(MatchPolicy::parse("Exact"), None);
    assert_eq!(MatchPolicy::parse(""), None);
    assert_eq!(MatchPolicy::default(), Exact);
    let opts = |v: Value| crate::value::dict([("match", v)]);
    assert_eq!(MatchPolicy::from_options(&Dict::new()), Some(Exact));
    assert_eq!(MatchPolicy::from_options(&opts("prefix".into())), Some(Prefix));
    assert_eq!(MatchPolicy::from_options(&opts("bogus".into())), None);
    assert_eq!(MatchPolicy::from_options(&opts(1.into())), None);
}

#[test]
fn validation_table() {
    // (uri, policy, strict, ok)
    let table: &[(&str, MatchPolicy, bool, bool)] = &[
        ("com.myapp.topic1", Exact, true, true),
        ("com.myapp.topic1", Exact, false, true),
        ("a", Exact, true, true),
        ("a_1.b_2.c3", Exact, true, true),
        ("com.myapp.Topic", Exact, true, false),
        ("com.myapp.Topic", Exact, false, true),
        ("com.my-app.topic", Exact, true, false),
        ("com.my-app.topic", Exact, false, true),
        ("com.my app.topic", Exact, false, false),
        ("com.my\tapp", Exact, false, false),
        ("com.my\u{a0}app", Exact, false, false), // unicode whitespace
        ("com.#app", Exact, false, false),
        ("com.ünicode", Exact, false, true),
        ("com.ünicode", Exact, true, false),
        ("", Exact, false, false),
        ("", Prefix, false, false),
        ("", Wildcard, false, false),
        ("com..topic", Exact, false, false),
        (".com", Exact, false, false),
        ("com.", Exact, false, false),
        (".", Exact, false, false),
        // prefix: trailing dot allowed, other empties not
        ("com.myapp", Prefix, true, true),
        ("com.myapp.", Prefix, true, true),
        ("com.myapp.", Prefix, false, true),
        ("com..myapp", Prefix, false, false),
        (".com", Prefix, false, false),
        (".", Prefix, false, false),
        ("com.myapp..", Prefix, false, false),
        ("Com.", Prefix, true, false),
        // wildcard: empties are wildcards
        ("com.myapp..proc", Wildcard, true, true),
        ("com...proc", Wildcard, true, true),
        (".myapp.proc", Wildcard, true, true),
        ("com.myapp.", Wildcard, true, true),
        (".", Wildcard, true, true),
        ("..", Wildcard, false, true),
        ("com.myapp.proc", Wildcard, true, true),
        ("com..Proc", Wildcard, true, false),
        ("com..Proc", Wildcard, false, true),
        ("com..p#", Wildcard, false, false),
        ("com.. x", Wildcard, false, false),
        ("wamp.session.on_join", Exact, true, true),
    ];
    for &(uri, policy, strict, ok) in table {
        assert_eq!(validate(uri, policy, strict).is_ok(), ok, "{uri:?} {policy} strict={strict}");
    }
}

#[test]
fn validation_errors_are_specific() {
    assert_eq!(validate("", Exact, false), Err(UriError::Empty));
    assert_eq!(validate("a..b", Exact, false), Err(UriError::EmptyComponent { component: 1, wildcard_hint: true }));
    assert_eq!(validate("a.B", Exact, true), Err(UriError::InvalidChar { ch: 'B', index: 2, strict: true }));
    assert_eq!(validate("ab.c d", Exact, false), Err(UriError::InvalidChar { ch: ' ', index: 4, strict: false }));
    assert_eq!(validate("a.b#", Wildcard, false), Err(UriError::InvalidChar { ch: '#', index: 3, strict: false }));
    assert_eq!(
        validate("a..b", Exact, false).unwrap_err().to_string(),
        "URI component 1 is empty (empty components are only allowed in wildcard patterns)"
    );
    assert_eq!(
        validate("a.B", Exact, true).unwrap_err().to_string(),
        "URI contains 'B' at byte 2, not allowed in strict URIs (only 0-9, a-z and _)"
    );
    assert_eq!(validate("", Exact, true).unwrap_err().to_string(), "URI is empty");
}

#[test]
fn meta_uris() {
    assert!(is_meta("wamp.session.on_join"));
    assert!(is_meta("wamp"));
    assert!(is_meta("wamp."));
    assert!(!is_meta("wampx.foo"));
    assert!(!is_meta("com.wamp.foo"));
    assert!(!is_meta("wam"));
    assert!(!is_meta(""));
}

#[test]
fn matching_table() {
    let table: &[(&str, MatchPolicy, &str, bool)] = &[
        ("a.b", Exact, "a.b", true),
        ("a.b", Exact, "a.b.c", false),
        ("a.b", Exact, "a.bc", false),
        // spec examples: prefix is a plain string prefix
        ("com.myapp.myobject1", Prefix, "com.myapp.myobject1.myprocedure1", true),
        ("com.myapp.myobject1", Prefix, "com.myapp.myobject1-mysubobject1", true),
        ("com.myapp.myobject1", Prefix, "com.myapp.myobject1.mysubobject1.myprocedure1", true),
        ("com.myapp.myobject1", Prefix, "com.myapp.myobject1", true),
        ("com.myapp.myobject1", Prefix, "com.myapp.myobject2", false),
        ("com.myapp.myobject1", Prefix, "com.myapp.myobject", false),
        ("com.myapp.", Prefix, "com.myapp", false),
        ("com.myapp.", Prefix, "com.myapp.x", true),
        // spec examples: wildcard
        ("com.myapp..myprocedure1", Wildcard, "com.myapp.myobject1.myprocedure1", true),
        ("com.myapp..myprocedure1", Wildcard, "com.myapp.myobject2.myprocedure1", true),
        ("com.myapp..myprocedure1", Wildcard, "com.myapp.myobject1.myprocedure1.mysubprocedure1", false),
        ("com.myapp..myprocedure1", Wildcard, "com.myapp.myobject1.myprocedure2", false),
        ("com.myapp..myprocedure1", Wildcard, "com.myapp2.myobject1.myprocedure1", false),
        // wildcard edge cases
        ("..", Wildcard, "a.b.c", true),
        ("..", Wildcard, "a.b", false),
        (".", Wildcard, "a.b", true),
        (".b", Wildcard, "a.b", true),
        ("a.", Wildcard, "a.b", true),
        ("a.", Wildcard, "b.b", false),
        ("a.b", Wildcard, "a.b", true),
        ("a..c", Wildcard, "a..c", true), // an (invalid) uri with an empty component still matches positionally
        ("a..c", Wildcard, "a.bc", false),
        ("a..c", Wildcard, "a.b.cd", false),
    ];
    for &(pattern, policy, uri, expect) in table {
        assert_eq!(matches(pattern, policy, uri), expect, "{pattern:?} {policy} {uri:?}");
    }
}

fn sorted<'a>(it: impl Iterator<Item = (&'a str, MatchPolicy, &'a u32)>) -> Vec<(String, MatchPolicy, u32)> {
    it.map(|(p, m, v)| (p.to_owned(), m, *v)).collect()
}

#[test]
fn index_basic_crud() {
    let mut idx = UriIndex::new();
    assert!(idx.is_empty());
    assert_eq!(idx.insert("a.b", Exact, 1), None);
    assert_eq!(idx.insert("a.b", Prefix, 2), None);
    assert_eq!(idx.insert("a.b", Wildcard, 3), None);
    assert_eq!(idx.insert("a.", Wildcard, 4), None);
    assert_eq!(idx.len(), 4);
    assert_eq!(idx.insert("a.b", Wildcard, 30), Some(3));
    assert_eq!(idx.insert("a.b", Prefix, 20), Some(2));
    assert_eq!(idx.len(), 4);
    assert_eq!(idx.get("a.b", Exact), Some(&1));
    assert_eq!(idx.get("a.b", Prefix), Some(&20));
    assert_eq!(idx.get("a.b", Wildcard), Some(&30));
    assert_eq!(idx.get("a.c", Wildcard), None);
    assert_eq!(idx.get("x", Wildcard), None);
    *idx.get_mut("a.", Wildcard).unwrap() += 1;
    assert_eq!(idx.get("a.", Wildcard), Some(&5));
    assert!(idx.contains("a.b", Exact));
    assert_eq!(idx.iter().count(), 4);
    for v in idx.values_mut() {
        *v += 100;
    }
    assert_eq!(idx.get("a.b", Exact), Some(&101));
    assert_eq!(idx.remove("a.b", Prefix), Some(120));
    assert_eq!(idx.remove("a.b", Prefix), None);
    assert_eq!(idx.remove("a.b", Wildcard), Some(130));
    assert_eq!(idx.remove("nope", Wildcard), None);
    assert_eq!(idx.remove("a.b", Exact), Some(101));
    assert_eq!(idx.len(), 1);
    assert_eq!(sorted(idx.matching("a.zzz")), vec![("a.".to_owned(), Wildcard, 105)]);
    idx.clear();
    assert!(idx.is_empty());
    assert_eq!(idx.matching("a.b").count(), 0);
    assert_eq!(idx.best_match("a.b"), None);
    assert_eq!(format!("{:?}", UriIndex::<u32>::new()), "[]");
}

#[test]
fn index_matching_is_complete_and_ordered() {
    let mut idx = UriIndex::new();
    idx.insert("com.app.t1", Exact, 1);
    idx.insert("com.app.t2", Exact, 2);
    idx.insert("com", Prefix, 3);
    idx.insert("com.app.", Prefix, 4);
    idx.insert("com.app.t1", Prefix, 5);
    idx.insert("com.other", Prefix, 6);
    idx.insert("com..t1", Wildcard, 7);
    idx.insert("..", Wildcard, 8);
    idx.insert("com.app.", Wildcard, 9);
    idx.insert("com.app", Wildcard, 10);
    idx.insert("com.app.t1.", Wildcard, 11);
    assert_eq!(
        sorted(idx.matching("com.app.t1")),
        vec![
            ("com.app.t1".into(), Exact, 1),
            ("com.app.t1".into(), Prefix, 5),
            ("com.app.".into(), Prefix, 4),
            ("com".into(), Prefix, 3),
            ("com..t1".into(), Wildcard, 7),
            ("..".into(), Wildcard, 8),
            ("com.app.".into(), Wildcard, 9),
        ]
    );
    assert_eq!(sorted(idx.matching("org.x")), vec![]);
    assert_eq!(
        sorted(idx.matching("com.otherthing")),
        vec![("com.other".into(), Prefix, 6), ("com".into(), Prefix, 3)]
    );
    // Multi-byte chars: prefix probing must not slice inside a char.
    idx.insert("é", Prefix, 12);
    assert_eq!(sorted(idx.matching("éa")), vec![("é".into(), Prefix, 12)]);
    assert_eq!(sorted(idx.matching("c")), vec![]);
    // Brute force agreement with `matches` over many URIs.
    let uris = ["com", "com.app", "com.app.t1", "com.app.t2", "com.app.t1.x", "x.y.z", "com.other.x", "é", "éa", ""];
    for uri in uris {
        let mut expect: Vec<_> =
            idx.iter().filter(|(p, m, _)| matches(p, *m, uri)).map(|(p, m, v)| (p.to_owned(), m, *v)).collect();
        let mut got = sorted(idx.matching(uri));
        expect.sort_by_key(|e| e.2);
        got.sort_by_key(|e| e.2);
        assert_eq!(got, expect, "{uri}");
    }
}

#[test]
fn best_match_follows_spec_examples() {
    let mut idx = UriIndex::new();
    idx.insert("a1.b2.c3.d4.e55", Exact, 1);
    idx.insert("a1.b2.c3", Prefix, 2);
    idx.insert("a1.b2.c3.d4", Prefix, 3);
    idx.insert("a1.b2..d4.e5", Wildcard, 4);
    idx.insert("a1.b2.c3..e5", Wildcard, 5);
    idx.insert("a1.b2..d4.e5..g7", Wildcard, 6);
    idx.insert("a1.b2..d4..f6.g7", Wildcard, 7);
    fn best(idx: &UriIndex<u32>, uri: &str) -> Option<u32> {
        idx.best_match(uri).map(|(_, _, v)| *v)
    }
    assert_eq!(best(&idx, "a1.b2.c3.d4.e55"), Some(1));
    assert_eq!(best(&idx, "a1.b2.c3.d98.e74"), Some(2));
    assert_eq!(best(&idx, "a1.b2.c3.d4.e325"), Some(3));
    assert_eq!(best(&idx, "a1.b2.c55.d4.e5"), Some(4));
    assert_eq!(best(&idx, "a1.b2.c3.d4.e5"), Some(3)); // prefix beats wildcard
    assert_eq!(best(&idx, "a1.b2.c88.d4.e5.f6.g7"), Some(6));
    assert_eq!(best(&idx, "a2.b2.c2.d2.e2"), None);
    assert_eq!(idx.best_match("a1.b2.c3.d4.e55").map(|(p, m, _)| (p, m)), Some(("a1.b2.c3.d4.e55", Exact)));
    // Without the prefixes, the spec's wildcard-vs-wildcard example: 5 beats 4.
    idx.remove("a1.b2.c3", Prefix);
    idx.remove("a1.b2.c3.d4", Prefix);
    assert_eq!(best(&idx, "a1.b2.c3.d4.e5"), Some(5));
}

#[test]
fn best_match_wildcard_order_is_independent_of_insertion() {
    let patterns = ["a...d", "a.b..d", ".b.c.d", "a..c.", "...", "a.b.c."];
    // Expected ranking for uri a.b.c.d: concrete earlier wins.
    let expected_best = "a.b.c.";
    for rot in 0..patterns.len() {
        let mut idx = UriIndex::new();
        for (i, p) in patterns.iter().cycle().skip(rot).take(patterns.len()).enumerate() {
            idx.insert(*p, Wildcard, i);
        }
        assert_eq!(idx.best_match("a.b.c.d").map(|(p, _, _)| p), Some(expected_best));
        idx.remove(expected_best, Wildcard);
        assert_eq!(idx.best_match("a.b.c.d").map(|(p, _, _)| p), Some("a.b..d"));
        idx.remove("a.b..d", Wildcard);
        assert_eq!(idx.best_match("a.b.c.d").map(|(p, _, _)| p), Some("a..c."));
        idx.remove("a..c.", Wildcard);
        assert_eq!(idx.best_match("a.b.c.d").map(|(p, _, _)| p), Some("a...d"));
        idx.remove("a...d", Wildcard);
        assert_eq!(idx.best_match("a.b.c.d").map(|(p, _, _)| p), Some(".b.c.d"));
        idx.remove(".b.c.d", Wildcard);
        assert_eq!(idx.best_match("a.b.c.d").map(|(p, _, _)| p), Some("..."));
    }
}

#[test]
fn longest_prefix_wins_even_across_component_boundaries() {
    let mut idx = UriIndex::new();
    idx.insert("com.app", Prefix, 1);
    idx.insert("com.app.", Prefix, 2);
    idx.insert("com.app.x", Prefix, 3);
    assert_eq!(idx.best_match("com.app.x.y").map(|m| *m.2), Some(3));
    assert_eq!(idx.best_match("com.app.y").map(|m| *m.2), Some(2));
    assert_eq!(idx.best_match("com.apple").map(|m| *m.2), Some(1));
    assert_eq!(idx.best_match("com.ap"), None);
}
