//! The realm registry through its public API: what every op does ([`Registry::apply`]), the
//! lookups the router routes with, snapshots ([`Registry::to_ops`]) and the op encoding.

use std::collections::{BTreeMap, BTreeSet};

use junction_backplane::registry::{registration_id, subscription_id};
use junction_backplane::{Departure, InvokePolicy, Op, Outcome, PodId, Registry, SessionInfo};
use junction_protocol::uri::MatchPolicy;
use junction_protocol::{Dict, Id, MAX_ID, Value, dict};

const REALM: &str = "realm1";
const EXACT: MatchPolicy = MatchPolicy::Exact;
const PREFIX: MatchPolicy = MatchPolicy::Prefix;
const WILDCARD: MatchPolicy = MatchPolicy::Wildcard;

// ---------------------------------------------------------------------------------------
// helpers

fn info(id: Id, pod: PodId) -> SessionInfo {
    SessionInfo {
        id,
        pod,
        authid: format!("user-{id}"),
        authrole: "user".into(),
        details: dict([("authmethod", Value::from("anonymous")), ("transport", Value::dict([("type", "websocket")]))]).into(),
        pod_name: String::new(),
        joined_at: 0,
    }
}

fn join(r: &mut Registry, id: Id, pod: PodId) {
    assert_eq!(r.apply(&Op::Join { session: info(id, pod) }), Outcome::Joined(true), "join {id}");
}

fn subscribe(r: &mut Registry, session: Id, uri: &str, policy: MatchPolicy) -> (Id, bool, bool) {
    let op = Op::Subscribe { uri: uri.into(), policy, session, created: "2024-01-01T00:00:00Z".into() };
    match r.apply(&op) {
        Outcome::Subscribed { sub, created, added } => (sub, created, added),
        other => panic!("subscribe answered {other:?}"),
    }
}

fn subscribe_at(r: &mut Registry, session: Id, uri: &str, policy: MatchPolicy, created: &str) -> Id {
    let op = Op::Subscribe { uri: uri.into(), policy, session, created: created.into() };
    match r.apply(&op) {
        Outcome::Subscribed { sub, added: true, .. } => sub,
        other => panic!("subscribe answered {other:?}"),
    }
}

fn unsubscribe(r: &mut Registry, sub: Id, session: Id) -> Option<bool> {
    match r.apply(&Op::Unsubscribe { sub, session }) {
        Outcome::Unsubscribed(d) => d,
        other => panic!("unsubscribe answered {other:?}"),
    }
}

fn register(r: &mut Registry, session: Id, uri: &str, policy: MatchPolicy, invoke: InvokePolicy) -> Result<(Id, bool), &'static str> {
    let op = Op::Register { uri: uri.into(), policy, invoke, session, created: "2024-01-01T00:00:00Z".into() };
    match r.apply(&op) {
        Outcome::Registered(res) => res,
        other => panic!("register answered {other:?}"),
    }
}

fn reg_ok(r: &mut Registry, session: Id, uri: &str, policy: MatchPolicy, invoke: InvokePolicy) -> Id {
    register(r, session, uri, policy, invoke).unwrap_or_else(|e| panic!("register {uri} by {session}: {e}")).0
}

fn unregister(r: &mut Registry, reg: Id, session: Id) -> Option<bool> {
    match r.apply(&Op::Unregister { reg, session }) {
        Outcome::Unregistered(d) => d,
        other => panic!("unregister answered {other:?}"),
    }
}

fn leave(r: &mut Registry, session: Id) -> Option<Departure> {
    match r.apply(&Op::Leave { session }) {
        Outcome::Left(d) => d,
        other => panic!("leave answered {other:?}"),
    }
}

fn testaments(r: &mut Registry, session: Id, bytes: &[u8]) {
    assert_eq!(r.apply(&Op::Testaments { session, testaments: bytes.to_vec() }), Outcome::Testaments);
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

fn members(r: &Registry, sub: Id) -> Vec<(Id, PodId)> {
    r.subscription(sub).expect("subscription exists").members.clone()
}

fn pod_counts(r: &Registry, sub: Id) -> Vec<(PodId, u32)> {
    sorted(r.subscription(sub).expect("subscription exists").pods.clone())
}

fn callees(r: &Registry, reg: Id) -> Vec<(Id, PodId)> {
    r.registration(reg).expect("registration exists").callees.clone()
}

/// A subscription as seen from outside: (uri, policy, created, members, per-pod counts).
type SubView = (String, MatchPolicy, String, Vec<(Id, PodId)>, Vec<(PodId, u32)>);
/// A registration as seen from outside: (uri, policy, invoke, created, callees).
type RegView = (String, MatchPolicy, InvokePolicy, String, Vec<(Id, PodId)>);

/// Everything observable about a registry through its accessors, in a comparable form
/// (per-pod subscriber counts compared as a set: their order is not part of the state).
#[derive(Debug, PartialEq)]
struct View {
    realm: String,
    sessions: BTreeMap<Id, SessionInfo>,
    pods: Vec<PodId>,
    subs: BTreeMap<Id, SubView>,
    regs: BTreeMap<Id, RegView>,
    retained: BTreeMap<String, Vec<u8>>,
}

fn view(r: &Registry) -> View {
    View {
        realm: r.realm().to_owned(),
        sessions: r.sessions().map(|s| (s.id, s.clone())).collect(),
        pods: r.pods(),
        subs: r
            .subscriptions()
            .map(|s| (s.id, (s.uri.clone(), s.policy, s.created.clone(), s.members.clone(), sorted(s.pods.clone()))))
            .collect(),
        regs: r
            .registrations()
            .map(|g| (g.id, (g.uri.clone(), g.policy, g.invoke, g.created.clone(), g.callees.clone())))
            .collect(),
        retained: r.retained().map(|(t, e)| (t.to_owned(), e.to_vec())).collect(),
    }
}

fn rebuild(realm: &str, ops: &[Op]) -> Registry {
    let mut r = Registry::new(realm);
    for op in ops {
        r.apply(op);
    }
    r
}

/// A departure with its lists sorted, to compare departures by content.
fn normalized(mut d: Departure) -> Departure {
    d.subscriptions.sort();
    d.registrations.sort();
    d
}

// ---------------------------------------------------------------------------------------
// ids

#[test]
fn derived_ids_are_deterministic_and_scoped() {
    let a = subscription_id(REALM, EXACT, "com.app.topic");
    assert_eq!(a, subscription_id(REALM, EXACT, "com.app.topic"));
    assert_ne!(a, subscription_id("realm2", EXACT, "com.app.topic"), "realms differ");
    assert_ne!(a, subscription_id(REALM, PREFIX, "com.app.topic"), "policies differ");
    assert_ne!(a, subscription_id(REALM, WILDCARD, "com.app.topic"), "policies differ");
    assert_ne!(a, subscription_id(REALM, EXACT, "com.app.topic2"), "uris differ");
    assert_ne!(a, registration_id(REALM, EXACT, "com.app.topic"), "subscriptions and registrations differ");
    assert_eq!(registration_id(REALM, PREFIX, "com.app."), registration_id(REALM, PREFIX, "com.app."));
    // Field boundaries are part of the hash: ("a", "b.c") is not ("a.b", "c").
    assert_ne!(subscription_id("a", EXACT, "bc"), subscription_id("ab", EXACT, "c"));
    for i in 0..2000 {
        for id in [subscription_id(REALM, EXACT, &format!("t.{i}")), registration_id(REALM, WILDCARD, &format!("p..{i}"))] {
            assert!((1..=MAX_ID).contains(&id), "{id} is not a WAMP id");
        }
    }
}

#[test]
fn subscribe_ids_agree_across_registries_and_differ_across_realms() {
    let mut r1 = Registry::new(REALM);
    let mut r2 = Registry::new(REALM);
    let mut other = Registry::new("realm2");
    // Different sessions, pods and creation times: the id depends only on (realm, policy, uri).
    join(&mut r1, 1, 10);
    join(&mut r2, 2, 20);
    join(&mut other, 1, 10);
    let (s1, ..) = subscribe(&mut r1, 1, "com.app.topic", EXACT);
    let s2 = subscribe_at(&mut r2, 2, "com.app.topic", EXACT, "2030-01-01T00:00:00Z");
    let (s3, ..) = subscribe(&mut other, 1, "com.app.topic", EXACT);
    assert_eq!(s1, s2);
    assert_eq!(s1, subscription_id(REALM, EXACT, "com.app.topic"));
    assert_ne!(s1, s3);
    assert_eq!(s3, subscription_id("realm2", EXACT, "com.app.topic"));
    let (p1, ..) = subscribe(&mut r1, 1, "com.app.topic", PREFIX);
    assert_ne!(p1, s1, "same uri, other policy: another subscription");
    assert_eq!(r1.subscriptions().count(), 2);
    assert_eq!(r1.subscription_lookup("com.app.topic", EXACT), Some(s1));
    assert_eq!(r1.subscription_lookup("com.app.topic", PREFIX), Some(p1));
    assert_eq!(r1.subscription_lookup("com.app.topic", WILDCARD), None);

    let g1 = reg_ok(&mut r1, 1, "com.app.proc", EXACT, InvokePolicy::Single);
    let g2 = reg_ok(&mut r2, 2, "com.app.proc", EXACT, InvokePolicy::RoundRobin);
    let g3 = reg_ok(&mut other, 1, "com.app.proc", EXACT, InvokePolicy::Single);
    assert_eq!(g1, g2);
    assert_eq!(g1, registration_id(REALM, EXACT, "com.app.proc"));
    assert_ne!(g1, g3);
}

#[test]
fn invoke_policy_strings() {
    for p in [InvokePolicy::Single, InvokePolicy::RoundRobin, InvokePolicy::Random, InvokePolicy::First, InvokePolicy::Last] {
        assert_eq!(InvokePolicy::parse(p.as_str()), Some(p));
    }
    assert_eq!(InvokePolicy::parse("roundrobin"), Some(InvokePolicy::RoundRobin));
    assert_eq!(InvokePolicy::parse("round_robin"), None);
    assert_eq!(InvokePolicy::parse("Single"), None);
    assert_eq!(InvokePolicy::parse(""), None);
}

// ---------------------------------------------------------------------------------------
// join

#[test]
fn join_takes_an_id_once() {
    let mut r = Registry::new(REALM);
    assert_eq!(r.realm(), REALM);
    assert_eq!(r.session_count(), 0);
    assert!(r.pods().is_empty());
    join(&mut r, 1, 10);
    // Taken: by another pod or by the same one, whatever the details.
    assert_eq!(r.apply(&Op::Join { session: info(1, 20) }), Outcome::Joined(false));
    let mut same = info(1, 10);
    same.authid = "someone-else".into();
    assert_eq!(r.apply(&Op::Join { session: same }), Outcome::Joined(false));
    // The first join stands.
    assert_eq!(r.session(1), Some(&info(1, 10)));
    assert_eq!(r.session_count(), 1);
    join(&mut r, 2, 20);
    join(&mut r, 3, 10);
    assert_eq!(r.session_count(), 3);
    assert_eq!(r.pods(), vec![10, 20]);
    assert_eq!(sorted(r.sessions().map(|s| s.id).collect()), vec![1, 2, 3]);
    assert_eq!(r.session(4), None);
}

#[test]
fn a_session_id_is_free_again_after_leave() {
    let mut r = Registry::new(REALM);
    join(&mut r, 1, 10);
    assert!(leave(&mut r, 1).is_some());
    assert_eq!(r.session(1), None);
    assert!(r.pods().is_empty());
    join(&mut r, 1, 20);
    assert_eq!(r.session(1).map(|s| s.pod), Some(20));
}

// ---------------------------------------------------------------------------------------
// subscribe / unsubscribe

#[test]
fn subscribe_creates_for_the_first_member_only() {
    let mut r = Registry::new(REALM);
    for (s, pod) in [(1, 10), (2, 10), (3, 20)] {
        join(&mut r, s, pod);
    }
    let id = subscription_id(REALM, EXACT, "com.app.t");
    assert_eq!(subscribe_at(&mut r, 1, "com.app.t", EXACT, "first"), id);
    assert_eq!(subscribe(&mut r, 1, "com.app.t", EXACT), (id, false, false), "twice: not added again");
    assert_eq!(subscribe(&mut r, 2, "com.app.t", EXACT), (id, false, true));
    assert_eq!(subscribe(&mut r, 3, "com.app.t", EXACT), (id, false, true));

    let sub = r.subscription(id).unwrap();
    assert_eq!(sub.id, id);
    assert_eq!(sub.uri, "com.app.t");
    assert_eq!(sub.policy, EXACT);
    assert_eq!(sub.created, "first", "the first subscriber's creation time stays");
    assert_eq!(sub.members, vec![(1, 10), (2, 10), (3, 20)], "members in subscription order, once each");
    assert_eq!(pod_counts(&r, id), vec![(10, 2), (20, 1)]);
    assert_eq!(r.subscriptions().count(), 1);
}

#[test]
fn subscribe_by_an_unknown_session_changes_nothing() {
    let mut r = Registry::new(REALM);
    let id = subscription_id(REALM, EXACT, "com.app.t");
    assert_eq!(subscribe(&mut r, 99, "com.app.t", EXACT), (id, false, false));
    assert!(r.subscription(id).is_none());
    assert_eq!(r.subscription_lookup("com.app.t", EXACT), None);
    assert_eq!(r.subscriptions_matching("com.app.t").count(), 0);
    // And no pod counts as subscribing.
    join(&mut r, 1, 10);
    subscribe(&mut r, 1, "other", EXACT);
    assert!(r.other_pods_for("com.app.t", 10).is_empty());
}

#[test]
fn unsubscribe_reports_deletion() {
    let mut r = Registry::new(REALM);
    for (s, pod) in [(1, 10), (2, 20), (3, 20)] {
        join(&mut r, s, pod);
    }
    let (id, created, _) = subscribe(&mut r, 1, "com.app.t", PREFIX);
    assert!(created);
    subscribe(&mut r, 2, "com.app.t", PREFIX);
    subscribe(&mut r, 3, "com.app.t", PREFIX);

    assert_eq!(unsubscribe(&mut r, id, 99), None, "unknown session");
    assert_eq!(unsubscribe(&mut r, id + 1, 1), None, "unknown subscription");
    assert_eq!(unsubscribe(&mut r, id, 2), Some(false));
    assert_eq!(unsubscribe(&mut r, id, 2), None, "no longer subscribed");
    assert_eq!(members(&r, id), vec![(1, 10), (3, 20)]);
    assert_eq!(pod_counts(&r, id), vec![(10, 1), (20, 1)]);
    assert_eq!(unsubscribe(&mut r, id, 1), Some(false));
    assert_eq!(pod_counts(&r, id), vec![(20, 1)]);
    assert_eq!(unsubscribe(&mut r, id, 3), Some(true), "the last member deletes it");
    assert!(r.subscription(id).is_none());
    assert_eq!(r.subscription_lookup("com.app.t", PREFIX), None);
    assert_eq!(r.subscriptions_matching("com.app.t.x").count(), 0);
    assert_eq!(unsubscribe(&mut r, id, 3), None);

    // Created again by the next subscriber, with the same id and its creation time.
    assert_eq!(subscribe_at(&mut r, 2, "com.app.t", PREFIX, "later"), id);
    assert_eq!(r.subscription(id).unwrap().created, "later");
    assert_eq!(members(&r, id), vec![(2, 20)]);
}

#[test]
fn subscriptions_matching_a_topic() {
    let mut r = Registry::new(REALM);
    join(&mut r, 1, 10);
    let e = subscribe(&mut r, 1, "com.app.a.b", EXACT).0;
    let p_short = subscribe(&mut r, 1, "com.app", PREFIX).0;
    let p_long = subscribe(&mut r, 1, "com.app.a", PREFIX).0;
    let w = subscribe(&mut r, 1, "com..a.", WILDCARD).0;
    let _unrelated = subscribe(&mut r, 1, "org.x", EXACT).0;
    let ids = |topic: &str| r.subscriptions_matching(topic).map(|s| s.id).collect::<Vec<_>>();
    // Exact, then prefixes longest first, then wildcards.
    assert_eq!(ids("com.app.a.b"), vec![e, p_long, p_short, w]);
    assert_eq!(ids("com.app.a.c"), vec![p_long, p_short, w]);
    assert_eq!(ids("com.app.b"), vec![p_short]);
    assert_eq!(ids("com.zz.a.q"), vec![w]);
    assert!(ids("net.x").is_empty());
}

#[test]
fn other_pods_for_a_topic() {
    let mut r = Registry::new(REALM);
    for (s, pod) in [(10, 1), (20, 2), (21, 2), (30, 3), (40, 4)] {
        join(&mut r, s, pod);
    }
    // Nobody subscribes anywhere yet.
    assert!(r.other_pods_for("com.a.b", 1).is_empty());

    let exact = subscribe(&mut r, 20, "com.a.b", EXACT).0;
    subscribe(&mut r, 21, "com.a.b", EXACT);
    subscribe(&mut r, 10, "com.a.b", EXACT);
    let prefix = subscribe(&mut r, 21, "com.a", PREFIX).0;
    let wild = subscribe(&mut r, 30, "com..b", WILDCARD).0;
    subscribe(&mut r, 40, "org.only", EXACT);

    let others = |r: &Registry, topic: &str, me: PodId| {
        let pods = r.other_pods_for(topic, me);
        let unique: BTreeSet<_> = pods.iter().copied().collect();
        assert_eq!(unique.len(), pods.len(), "each pod once: {pods:?}");
        sorted(pods)
    };
    // exact + prefix + wildcard, pod 2 matched by two subscriptions and two sessions: once.
    assert_eq!(others(&r, "com.a.b", 1), vec![2, 3]);
    assert_eq!(others(&r, "com.a.b", 2), vec![1, 3]);
    assert_eq!(others(&r, "com.a.b", 3), vec![1, 2]);
    assert_eq!(others(&r, "com.a.b", 4), vec![1, 2, 3]);
    assert_eq!(others(&r, "com.a.b", 99), vec![1, 2, 3], "a pod without sessions");
    // prefix only
    assert_eq!(others(&r, "com.a.c", 1), vec![2]);
    assert_eq!(others(&r, "com.a.c", 2), Vec::<PodId>::new());
    assert_eq!(others(&r, "com.abc", 1), vec![2], "prefix matching is a string prefix");
    // wildcard only
    assert_eq!(others(&r, "com.x.b", 1), vec![3]);
    assert_eq!(others(&r, "com.x.b", 3), Vec::<PodId>::new());
    assert_eq!(others(&r, "com.x.b.c", 1), Vec::<PodId>::new(), "wildcards match a fixed number of components");
    // nothing
    assert_eq!(others(&r, "net.x", 1), Vec::<PodId>::new());
    assert_eq!(others(&r, "org.only", 4), Vec::<PodId>::new());
    assert_eq!(others(&r, "org.only", 1), vec![4]);

    // Memberships going away take pods with them.
    assert_eq!(unsubscribe(&mut r, exact, 20), Some(false));
    assert_eq!(others(&r, "com.a.b", 1), vec![2, 3], "21 is still on pod 2");
    assert_eq!(unsubscribe(&mut r, prefix, 21), Some(true));
    assert_eq!(unsubscribe(&mut r, exact, 21), Some(false));
    assert_eq!(others(&r, "com.a.b", 1), vec![3]);
    assert_eq!(others(&r, "com.a.b", 3), vec![1]);
    assert_eq!(unsubscribe(&mut r, wild, 30), Some(true));
    assert_eq!(others(&r, "com.a.b", 1), Vec::<PodId>::new());
    assert_eq!(others(&r, "com.a.b", 3), vec![1]);
    leave(&mut r, 40);
    // Only pod 1 subscribes now: nothing for pod 1 itself.
    assert_eq!(others(&r, "com.a.b", 1), Vec::<PodId>::new());
    assert_eq!(others(&r, "org.only", 1), Vec::<PodId>::new());
}

// ---------------------------------------------------------------------------------------
// register / unregister

#[test]
fn register_single() {
    let mut r = Registry::new(REALM);
    for (s, pod) in [(1, 10), (2, 20)] {
        join(&mut r, s, pod);
    }
    let id = registration_id(REALM, EXACT, "com.app.proc");
    assert_eq!(register(&mut r, 1, "com.app.proc", EXACT, InvokePolicy::Single), Ok((id, true)));
    for invoke in [InvokePolicy::Single, InvokePolicy::RoundRobin, InvokePolicy::First] {
        assert_eq!(register(&mut r, 2, "com.app.proc", EXACT, invoke), Err("wamp.error.procedure_already_exists"), "{invoke:?}");
    }
    assert_eq!(register(&mut r, 1, "com.app.proc", EXACT, InvokePolicy::Single), Err("wamp.error.procedure_already_exists"));
    let reg = r.registration(id).unwrap();
    assert_eq!((reg.id, reg.uri.as_str(), reg.policy, reg.invoke), (id, "com.app.proc", EXACT, InvokePolicy::Single));
    assert_eq!(reg.callees, vec![(1, 10)]);
    assert_eq!(reg.pick(), Some((1, 10)));
    assert_eq!(r.registration_lookup("com.app.proc", EXACT), Some(id));
    assert_eq!(r.registration_for("com.app.proc").map(|g| g.id), Some(id));

    // The same URI under another match policy is another registration.
    let pid = registration_id(REALM, PREFIX, "com.app.proc");
    assert_ne!(pid, id);
    assert_eq!(register(&mut r, 2, "com.app.proc", PREFIX, InvokePolicy::Single), Ok((pid, true)));
    let wid = registration_id(REALM, WILDCARD, "com.app.proc");
    assert_eq!(register(&mut r, 2, "com.app.proc", WILDCARD, InvokePolicy::Single), Ok((wid, true)));
    assert_eq!(r.registrations().count(), 3);
    assert_eq!(r.registration_lookup("com.app.proc", PREFIX), Some(pid));
    assert_eq!(r.registration_lookup("com.app.proc", WILDCARD), Some(wid));
}

#[test]
fn register_shared() {
    let mut r = Registry::new(REALM);
    for (s, pod) in [(1, 10), (2, 20), (3, 10), (4, 30)] {
        join(&mut r, s, pod);
    }
    let id = registration_id(REALM, EXACT, "com.app.proc");
    assert_eq!(register(&mut r, 1, "com.app.proc", EXACT, InvokePolicy::RoundRobin), Ok((id, true)));
    assert_eq!(register(&mut r, 2, "com.app.proc", EXACT, InvokePolicy::RoundRobin), Ok((id, false)));
    assert_eq!(register(&mut r, 2, "com.app.proc", EXACT, InvokePolicy::RoundRobin), Err("wamp.error.procedure_already_exists"), "twice by one session");
    assert_eq!(
        register(&mut r, 3, "com.app.proc", EXACT, InvokePolicy::Random),
        Err("wamp.error.procedure_exists_with_different_invocation_policy")
    );
    assert_eq!(
        register(&mut r, 3, "com.app.proc", EXACT, InvokePolicy::Single),
        Err("wamp.error.procedure_exists_with_different_invocation_policy")
    );
    assert_eq!(register(&mut r, 3, "com.app.proc", EXACT, InvokePolicy::RoundRobin), Ok((id, false)));
    assert_eq!(callees(&r, id), vec![(1, 10), (2, 20), (3, 10)], "callees in registration order");
    assert_eq!(r.registration(id).unwrap().invoke, InvokePolicy::RoundRobin);
    // A failed register changed nothing.
    assert_eq!(r.registrations().count(), 1);

    assert_eq!(register(&mut r, 99, "com.app.proc", EXACT, InvokePolicy::RoundRobin), Err("wamp.error.canceled"), "unknown session");
    assert_eq!(register(&mut r, 99, "com.app.new", EXACT, InvokePolicy::Single), Err("wamp.error.canceled"));
    assert!(r.registration_lookup("com.app.new", EXACT).is_none());

    assert_eq!(unregister(&mut r, id, 4), None, "session 4 never registered it");
    assert_eq!(unregister(&mut r, id + 1, 1), None, "unknown registration");
    assert_eq!(unregister(&mut r, id, 2), Some(false));
    assert_eq!(unregister(&mut r, id, 2), None);
    assert_eq!(callees(&r, id), vec![(1, 10), (3, 10)]);
    assert_eq!(unregister(&mut r, id, 1), Some(false));
    assert_eq!(unregister(&mut r, id, 3), Some(true), "the last callee deletes it");
    assert!(r.registration(id).is_none());
    assert!(r.registration_lookup("com.app.proc", EXACT).is_none());
    assert!(r.registration_for("com.app.proc").is_none());
    // Free for any policy again.
    assert_eq!(register(&mut r, 4, "com.app.proc", EXACT, InvokePolicy::Single), Ok((id, true)));
}

#[test]
fn registration_for_picks_the_most_specific() {
    let mut r = Registry::new(REALM);
    join(&mut r, 1, 10);
    let exact = reg_ok(&mut r, 1, "com.app.proc", EXACT, InvokePolicy::Single);
    let p_short = reg_ok(&mut r, 1, "com.app.", PREFIX, InvokePolicy::Single);
    let p_long = reg_ok(&mut r, 1, "com.app.pr", PREFIX, InvokePolicy::Single);
    let w_loose = reg_ok(&mut r, 1, "com..", WILDCARD, InvokePolicy::Single);
    let w_tight = reg_ok(&mut r, 1, "com..proc", WILDCARD, InvokePolicy::Single);
    let best = |r: &Registry, uri: &str| r.registration_for(uri).map(|g| g.id);

    assert_eq!(best(&r, "com.app.proc"), Some(exact));
    assert_eq!(best(&r, "com.app.process"), Some(p_long), "longest prefix");
    assert_eq!(best(&r, "com.app.other"), Some(p_short));
    assert_eq!(best(&r, "com.zz.proc"), Some(w_tight), "the wildcard concrete further left wins");
    assert_eq!(best(&r, "com.zz.other"), Some(w_loose));
    assert_eq!(best(&r, "org.app.proc"), None);
    assert_eq!(best(&r, "com.zz.proc.more"), None);

    // As registrations go away the next most specific one takes over.
    assert_eq!(unregister(&mut r, exact, 1), Some(true));
    assert_eq!(best(&r, "com.app.proc"), Some(p_long));
    assert_eq!(unregister(&mut r, p_long, 1), Some(true));
    assert_eq!(best(&r, "com.app.proc"), Some(p_short));
    assert_eq!(unregister(&mut r, p_short, 1), Some(true));
    assert_eq!(best(&r, "com.app.proc"), Some(w_tight));
    assert_eq!(unregister(&mut r, w_tight, 1), Some(true));
    assert_eq!(best(&r, "com.app.proc"), Some(w_loose));
    assert_eq!(unregister(&mut r, w_loose, 1), Some(true));
    assert_eq!(best(&r, "com.app.proc"), None);
}

// ---------------------------------------------------------------------------------------
// invocation policies

fn shared(invoke: InvokePolicy, n: u64) -> (Registry, Id) {
    let mut r = Registry::new(REALM);
    let mut id = 0;
    for s in 1..=n {
        join(&mut r, s, 100 + s);
        id = reg_ok(&mut r, s, "com.app.proc", EXACT, invoke);
    }
    (r, id)
}

fn picks(r: &Registry, id: Id, n: usize) -> Vec<Id> {
    let reg = r.registration(id).unwrap();
    (0..n).map(|_| reg.pick().expect("a callee").0).collect()
}

#[test]
fn pick_roundrobin_cycles_in_registration_order() {
    let (mut r, id) = shared(InvokePolicy::RoundRobin, 3);
    assert_eq!(picks(&r, id, 7), vec![1, 2, 3, 1, 2, 3, 1]);
    assert_eq!(r.registration(id).unwrap().pick(), Some((2, 102)), "the pod comes with the session");
    // Removing a callee keeps cycling over the rest, each in turn.
    assert_eq!(unregister(&mut r, id, 2), Some(false));
    let p = picks(&r, id, 6);
    assert_eq!(sorted(p[..2].to_vec()), vec![1, 3]);
    assert_eq!(p[..2], p[2..4]);
    assert_eq!(p[..2], p[4..6]);
}

#[test]
fn pick_first_and_last_follow_removals() {
    let (mut r, id) = shared(InvokePolicy::First, 3);
    assert_eq!(picks(&r, id, 3), vec![1, 1, 1]);
    assert_eq!(unregister(&mut r, id, 1), Some(false));
    assert_eq!(picks(&r, id, 2), vec![2, 2]);
    join(&mut r, 9, 109);
    reg_ok(&mut r, 9, "com.app.proc", EXACT, InvokePolicy::First);
    assert_eq!(picks(&r, id, 1), vec![2], "a newcomer goes last");
    leave(&mut r, 2);
    assert_eq!(picks(&r, id, 1), vec![3]);

    let (mut r, id) = shared(InvokePolicy::Last, 3);
    assert_eq!(picks(&r, id, 3), vec![3, 3, 3]);
    assert_eq!(unregister(&mut r, id, 3), Some(false));
    assert_eq!(picks(&r, id, 2), vec![2, 2]);
    join(&mut r, 9, 109);
    reg_ok(&mut r, 9, "com.app.proc", EXACT, InvokePolicy::Last);
    assert_eq!(picks(&r, id, 1), vec![9]);
    leave(&mut r, 9);
    assert_eq!(picks(&r, id, 1), vec![2]);
}

#[test]
fn pick_random_covers_every_callee() {
    let (r, id) = shared(InvokePolicy::Random, 3);
    let seen: BTreeSet<Id> = picks(&r, id, 300).into_iter().collect();
    // Missing one in 300 draws has probability 3 * (2/3)^300.
    assert_eq!(seen, BTreeSet::from([1, 2, 3]));
}

#[test]
fn pick_single_is_the_callee() {
    let (r, id) = shared(InvokePolicy::Single, 1);
    assert_eq!(picks(&r, id, 3), vec![1, 1, 1]);
}

// ---------------------------------------------------------------------------------------
// leave, testaments, pod down

#[test]
fn leave_reports_what_went_with_the_session() {
    let mut r = Registry::new(REALM);
    for (s, pod) in [(1, 10), (2, 20)] {
        join(&mut r, s, pod);
    }
    let shared_sub = subscribe(&mut r, 1, "com.shared", EXACT).0;
    subscribe(&mut r, 2, "com.shared", EXACT);
    let own_sub = subscribe(&mut r, 1, "com.own.", PREFIX).0;
    let own_reg = reg_ok(&mut r, 1, "com.own.proc", EXACT, InvokePolicy::Single);
    let shared_reg = reg_ok(&mut r, 1, "com.shared.proc", EXACT, InvokePolicy::RoundRobin);
    reg_ok(&mut r, 2, "com.shared.proc", EXACT, InvokePolicy::RoundRobin);
    testaments(&mut r, 1, b"last words");

    let d = leave(&mut r, 1).expect("session 1 was there");
    assert_eq!(d.session, info(1, 10));
    assert_eq!(d.subscriptions, vec![(shared_sub, false), (own_sub, true)], "in subscription order");
    assert_eq!(d.registrations, vec![(own_reg, true), (shared_reg, false)], "in registration order");
    assert_eq!(d.testaments, b"last words".to_vec());

    assert!(r.session(1).is_none());
    assert_eq!(members(&r, shared_sub), vec![(2, 20)]);
    assert_eq!(pod_counts(&r, shared_sub), vec![(20, 1)]);
    assert!(r.subscription(own_sub).is_none());
    assert!(r.registration(own_reg).is_none());
    assert!(r.registration_for("com.own.proc").is_none());
    assert_eq!(callees(&r, shared_reg), vec![(2, 20)]);
    assert!(r.other_pods_for("com.shared", 20).is_empty(), "pod 10 no longer subscribes");
    assert_eq!(r.pods(), vec![20]);

    assert_eq!(leave(&mut r, 1), None, "left already");
    assert_eq!(leave(&mut r, 42), None, "never joined");

    // A session without memberships or testaments.
    let d = leave(&mut r, 2).unwrap();
    assert_eq!(d.subscriptions, vec![(shared_sub, true)]);
    assert_eq!(d.registrations, vec![(shared_reg, true)]);
    assert!(d.testaments.is_empty());
    assert_eq!(r.session_count(), 0);
    assert_eq!(r.subscriptions().count(), 0);
    assert_eq!(r.registrations().count(), 0);

    let mut r = Registry::new(REALM);
    join(&mut r, 5, 10);
    assert_eq!(leave(&mut r, 5), Some(Departure { session: info(5, 10), subscriptions: vec![], registrations: vec![], testaments: vec![] }));
}

#[test]
fn leave_skips_what_the_session_already_dropped() {
    let mut r = Registry::new(REALM);
    join(&mut r, 1, 10);
    let a = subscribe(&mut r, 1, "a", EXACT).0;
    let b = subscribe(&mut r, 1, "b", EXACT).0;
    let g = reg_ok(&mut r, 1, "p", EXACT, InvokePolicy::Single);
    let h = reg_ok(&mut r, 1, "q", EXACT, InvokePolicy::Single);
    assert_eq!(unsubscribe(&mut r, a, 1), Some(true));
    assert_eq!(unregister(&mut r, h, 1), Some(true));
    let d = leave(&mut r, 1).unwrap();
    assert_eq!(d.subscriptions, vec![(b, true)]);
    assert_eq!(d.registrations, vec![(g, true)]);
}

#[test]
fn testaments_are_set_replaced_and_cleared() {
    let mut r = Registry::new(REALM);
    join(&mut r, 1, 10);
    testaments(&mut r, 1, b"v1");
    testaments(&mut r, 1, b"v2");
    assert_eq!(leave(&mut r, 1).unwrap().testaments, b"v2".to_vec(), "replaced");

    join(&mut r, 1, 10);
    assert!(leave(&mut r, 1).unwrap().testaments.is_empty(), "a new session of the same id starts without testaments");

    join(&mut r, 1, 10);
    testaments(&mut r, 1, b"v1");
    testaments(&mut r, 1, b"");
    assert!(leave(&mut r, 1).unwrap().testaments.is_empty(), "cleared");

    // For a session that is not there: ignored, also once it joins.
    testaments(&mut r, 7, b"orphan");
    join(&mut r, 7, 10);
    assert!(leave(&mut r, 7).unwrap().testaments.is_empty());
    assert!(r.to_ops(None).iter().all(|op| !matches!(op, Op::Testaments { .. })));
}

#[test]
fn pod_down_removes_exactly_that_pods_sessions() {
    let mut r = Registry::new(REALM);
    for (s, pod) in [(5, 2), (1, 1), (3, 2), (2, 1), (4, 2)] {
        join(&mut r, s, pod);
    }
    let all = subscribe(&mut r, 1, "com.t", EXACT).0;
    subscribe(&mut r, 3, "com.t", EXACT);
    subscribe(&mut r, 4, "com.t", EXACT);
    let only2 = subscribe(&mut r, 3, "com.two", PREFIX).0;
    subscribe(&mut r, 5, "com.two", PREFIX);
    let rr = reg_ok(&mut r, 2, "com.rr", EXACT, InvokePolicy::RoundRobin);
    reg_ok(&mut r, 4, "com.rr", EXACT, InvokePolicy::RoundRobin);
    let single2 = reg_ok(&mut r, 5, "com.single", EXACT, InvokePolicy::Single);
    let single1 = reg_ok(&mut r, 1, "com.mine", EXACT, InvokePolicy::Single);
    testaments(&mut r, 4, b"t4");

    let Outcome::PodDown(gone) = r.apply(&Op::PodDown { pod: 2 }) else { panic!("not a PodDown outcome") };
    assert_eq!(gone.iter().map(|d| d.session.id).collect::<Vec<_>>(), vec![3, 4, 5], "in session id order");
    assert!(gone.iter().all(|d| d.session.pod == 2));
    assert_eq!(gone[0].subscriptions, vec![(all, false), (only2, false)]);
    assert_eq!(gone[1].subscriptions, vec![(all, false)]);
    assert_eq!(gone[1].registrations, vec![(rr, false)]);
    assert_eq!(gone[1].testaments, b"t4".to_vec());
    assert_eq!(gone[2].subscriptions, vec![(only2, true)]);
    assert_eq!(gone[2].registrations, vec![(single2, true)]);

    // Pod 1 keeps everything it had.
    assert_eq!(sorted(r.sessions().map(|s| s.id).collect()), vec![1, 2]);
    assert_eq!(r.pods(), vec![1]);
    assert_eq!(members(&r, all), vec![(1, 1)]);
    assert_eq!(pod_counts(&r, all), vec![(1, 1)]);
    assert!(r.subscription(only2).is_none());
    assert_eq!(callees(&r, rr), vec![(2, 1)]);
    assert!(r.registration(single2).is_none());
    assert_eq!(callees(&r, single1), vec![(1, 1)]);
    assert!(r.other_pods_for("com.t", 1).is_empty());
    assert_eq!(r.other_pods_for("com.t", 2), vec![1]);

    assert_eq!(r.apply(&Op::PodDown { pod: 2 }), Outcome::PodDown(vec![]), "nothing left to take");
    assert_eq!(r.apply(&Op::PodDown { pod: 77 }), Outcome::PodDown(vec![]));
    assert_eq!(r.session_count(), 2);
}

// ---------------------------------------------------------------------------------------
// retained events

#[test]
fn retain_keeps_the_last_event_per_topic() {
    let mut r = Registry::new(REALM);
    assert_eq!(r.retained().count(), 0);
    assert_eq!(r.apply(&Op::Retain { topic: "a".into(), event: b"a1".to_vec() }), Outcome::Retained);
    assert_eq!(r.apply(&Op::Retain { topic: "b".into(), event: b"b1".to_vec() }), Outcome::Retained);
    assert_eq!(r.apply(&Op::Retain { topic: "a".into(), event: b"a2".to_vec() }), Outcome::Retained);
    let retained: BTreeMap<&str, &[u8]> = r.retained().collect();
    assert_eq!(retained, BTreeMap::from([("a", &b"a2"[..]), ("b", &b"b1"[..])]));
    // Retained events outlive the sessions.
    join(&mut r, 1, 1);
    leave(&mut r, 1);
    r.apply(&Op::PodDown { pod: 1 });
    assert_eq!(r.retained().count(), 2);
}

// ---------------------------------------------------------------------------------------
// snapshots

/// A registry with a bit of everything, the history of which (leaves, unsubscribes,
/// replaced testaments and retained events) is not in its snapshot.
fn busy() -> Registry {
    let mut r = Registry::new(REALM);
    for (s, pod) in [(11, 1), (12, 1), (21, 2), (22, 2), (31, 3), (99, 3)] {
        join(&mut r, s, pod);
    }
    let t = subscribe_at(&mut r, 21, "com.t", EXACT, "2024-01-02");
    subscribe_at(&mut r, 11, "com.t", EXACT, "x");
    subscribe_at(&mut r, 31, "com.t", EXACT, "x");
    subscribe_at(&mut r, 12, "com.t", EXACT, "x");
    subscribe_at(&mut r, 11, "com.", PREFIX, "2024-01-01");
    subscribe_at(&mut r, 22, "com..x", WILDCARD, "2024-01-03");
    subscribe_at(&mut r, 99, "gone", EXACT, "2024-01-01");
    // Make the per-pod counts' order differ from first-subscription order.
    assert_eq!(unsubscribe(&mut r, t, 21), Some(false));
    subscribe_at(&mut r, 21, "com.t", EXACT, "x");
    for (s, inv) in [(31, InvokePolicy::RoundRobin), (11, InvokePolicy::RoundRobin), (22, InvokePolicy::RoundRobin)] {
        let op = Op::Register { uri: "com.rr".into(), policy: EXACT, invoke: inv, session: s, created: "2024-01-05".into() };
        assert!(matches!(r.apply(&op), Outcome::Registered(Ok(_))));
    }
    let op = Op::Register { uri: "com.p.".into(), policy: PREFIX, invoke: InvokePolicy::Single, session: 12, created: "2024-01-04".into() };
    assert!(matches!(r.apply(&op), Outcome::Registered(Ok(_))));
    let op = Op::Register { uri: "com..w".into(), policy: WILDCARD, invoke: InvokePolicy::Last, session: 21, created: "2024-01-04".into() };
    assert!(matches!(r.apply(&op), Outcome::Registered(Ok(_))));
    let op = Op::Register { uri: "gone.proc".into(), policy: EXACT, invoke: InvokePolicy::Single, session: 99, created: "2024-01-04".into() };
    assert!(matches!(r.apply(&op), Outcome::Registered(Ok(_))));
    testaments(&mut r, 12, b"t12-old");
    testaments(&mut r, 12, b"t12");
    testaments(&mut r, 22, b"t22");
    testaments(&mut r, 99, b"t99");
    r.apply(&Op::Retain { topic: "com.t".into(), event: b"old".to_vec() });
    r.apply(&Op::Retain { topic: "com.t".into(), event: b"new".to_vec() });
    r.apply(&Op::Retain { topic: "com.u".into(), event: vec![0, 255, 1] });
    assert!(leave(&mut r, 99).is_some());
    r
}

#[test]
fn to_ops_all_rebuilds_an_equal_registry() {
    let original = busy();
    let ops = original.to_ops(None);
    let copy = rebuild(REALM, &ops);
    assert_eq!(view(&copy), view(&original));
    // Deterministic, and a fixed point.
    assert_eq!(original.to_ops(None), ops);
    assert_eq!(copy.to_ops(None), ops);
    // Ops that are already there change nothing when applied again.
    let mut twice = rebuild(REALM, &ops);
    for op in &ops {
        twice.apply(op);
    }
    assert_eq!(view(&twice), view(&original));

    // Routing answers the same.
    for topic in ["com.t", "com.a.x", "com.x", "gone"] {
        for me in [1, 2, 3, 4] {
            assert_eq!(sorted(copy.other_pods_for(topic, me)), sorted(original.other_pods_for(topic, me)), "{topic} from {me}");
        }
    }
    for proc_ in ["com.rr", "com.p.x", "com.a.w", "gone.proc"] {
        let a = original.registration_for(proc_).map(|g| (g.id, g.callees.clone(), g.pick()));
        let b = copy.registration_for(proc_).map(|g| (g.id, g.callees.clone(), g.pick()));
        assert_eq!(a, b, "{proc_}");
    }

    // Testaments and memberships made it: sessions leave alike from both.
    let (mut original, mut copy) = (original, copy);
    for s in [11, 12, 21, 22, 31] {
        let a = leave(&mut original, s).map(normalized);
        let b = leave(&mut copy, s).map(normalized);
        assert!(a.is_some());
        assert_eq!(a, b, "session {s}");
    }
    assert_eq!(view(&copy), view(&original));
}

#[test]
fn to_ops_of_an_empty_registry() {
    let r = Registry::new(REALM);
    assert!(r.to_ops(None).is_empty());
    assert!(r.to_ops(Some(1)).is_empty());
}

#[test]
fn to_ops_for_a_pod_holds_only_that_pods_entries() {
    let original = busy();
    let ops = original.to_ops(Some(2));
    assert!(!ops.is_empty());
    for op in &ops {
        let session = match op {
            Op::Join { session } => session.id,
            Op::Subscribe { session, .. } | Op::Register { session, .. } | Op::Testaments { session, .. } => *session,
            other => panic!("unexpected op in a pod's snapshot: {other:?}"),
        };
        assert_eq!(original.session(session).map(|s| s.pod), Some(2), "{op:?}");
    }
    let mine = rebuild(REALM, &ops);
    assert_eq!(sorted(mine.sessions().map(|s| s.id).collect()), vec![21, 22]);
    assert_eq!(mine.pods(), vec![2]);
    assert_eq!(mine.retained().count(), 0, "retained events are realm-wide, not a pod's");
    // Every subscription and registration of pod 2, with pod 2's members only.
    for sub in original.subscriptions() {
        let expected: Vec<_> = sub.members.iter().copied().filter(|(_, p)| *p == 2).collect();
        match mine.subscription(sub.id) {
            Some(m) => {
                assert_eq!(m.members, expected);
                assert_eq!((&m.uri, m.policy, &m.created), (&sub.uri, sub.policy, &sub.created));
            }
            None => assert!(expected.is_empty(), "{} lost", sub.uri),
        }
    }
    for reg in original.registrations() {
        let expected: Vec<_> = reg.callees.iter().copied().filter(|(_, p)| *p == 2).collect();
        match mine.registration(reg.id) {
            Some(m) => {
                assert_eq!(m.callees, expected);
                assert_eq!((&m.uri, m.policy, m.invoke, &m.created), (&reg.uri, reg.policy, reg.invoke, &reg.created));
            }
            None => assert!(expected.is_empty(), "{} lost", reg.uri),
        }
    }
    assert_eq!(mine.subscriptions().count(), 2);
    assert_eq!(mine.registrations().count(), 2);
    let mut mine = mine;
    assert_eq!(leave(&mut mine, 22).unwrap().testaments, b"t22".to_vec());
    assert!(leave(&mut mine, 21).unwrap().testaments.is_empty());

    // The pods' snapshots together, plus the retained events, are the whole registry.
    let mut whole = Registry::new(REALM);
    for pod in [3, 1, 2] {
        for op in original.to_ops(Some(pod)) {
            whole.apply(&op);
        }
    }
    for (topic, event) in original.retained() {
        whole.apply(&Op::Retain { topic: topic.into(), event: event.to_vec() });
    }
    let (a, b) = (view(&whole), view(&original));
    assert_eq!((a.sessions, a.pods, a.retained), (b.sessions, b.pods, b.retained));
    let members = |v: &View| v.subs.iter().map(|(id, s)| (*id, sorted(s.3.clone()))).collect::<Vec<_>>();
    assert_eq!(members(&view(&whole)), members(&view(&original)));
    assert!(original.to_ops(Some(77)).is_empty(), "a pod without sessions");
}

// ---------------------------------------------------------------------------------------
// encoding

fn every_op() -> Vec<Op> {
    let mut details: Dict = dict([
        ("authmethod", Value::from("ticket")),
        ("n", Value::Int(42)),
        ("neg", Value::Int(-7)),
        ("big", Value::UInt(u64::MAX)),
        ("f", Value::Float(1.5)),
        ("yes", Value::Bool(true)),
        ("none", Value::Null),
        ("bin", Value::Bytes(vec![0, 1, 2, 255])),
        ("list", Value::List(vec![Value::from("x"), Value::Int(1)])),
    ]);
    details.insert("nested".into(), Value::Dict(dict([("k", Value::from("v"))])));
    let mut ops = vec![
        Op::Join { session: SessionInfo { id: MAX_ID, pod: (1 << 53) - 1, authid: "ü-ser".into(), authrole: "".into(), details: details.into(), pod_name: "pod-ü".into(), joined_at: 1_700_000_000_123 } },
        Op::Join { session: info(1, 2) },
        Op::Leave { session: 1 },
        Op::Unsubscribe { sub: 12345, session: 1 },
        Op::Unregister { reg: 54321, session: MAX_ID },
        Op::Retain { topic: "com.t".into(), event: vec![0x92, 0x00, 0xff] },
        Op::Retain { topic: "com.empty".into(), event: vec![] },
        Op::Testaments { session: 3, testaments: b"\x00binary\xff".to_vec() },
        Op::Testaments { session: 3, testaments: vec![] },
        Op::PodDown { pod: 0 },
        Op::PodDown { pod: u64::MAX },
    ];
    for policy in [EXACT, PREFIX, WILDCARD] {
        ops.push(Op::Subscribe { uri: "com..x".into(), policy, session: 5, created: "2024-05-06T07:08:09.123Z".into() });
        for invoke in [InvokePolicy::Single, InvokePolicy::RoundRobin, InvokePolicy::Random, InvokePolicy::First, InvokePolicy::Last] {
            ops.push(Op::Register { uri: "com.p".into(), policy, invoke, session: 6, created: String::new() });
        }
    }
    ops
}

#[test]
fn ops_round_trip() {
    for op in every_op() {
        let bytes = op.encode();
        let back = Op::decode(&bytes).unwrap_or_else(|e| panic!("{op:?} does not decode: {e}"));
        assert_eq!(back, op);
        assert_eq!(back.encode(), bytes, "encoding is deterministic");
    }
}

#[test]
fn decoding_rejects_garbage() {
    assert!(Op::decode(&[]).is_err());
    assert!(Op::decode(b"\xc1").is_err());
    assert!(Op::decode(&rmp_serde::to_vec_named(&BTreeMap::from([("op", "explode")])).unwrap()).is_err());
    // An unknown match policy.
    #[derive(serde::Serialize)]
    struct Sub<'a> {
        op: &'a str,
        uri: &'a str,
        policy: &'a str,
        session: u64,
        created: &'a str,
    }
    let good = rmp_serde::to_vec_named(&Sub { op: "subscribe", uri: "a", policy: "prefix", session: 1, created: "" }).unwrap();
    assert_eq!(Op::decode(&good).unwrap(), Op::Subscribe { uri: "a".into(), policy: PREFIX, session: 1, created: String::new() });
    let bad = rmp_serde::to_vec_named(&Sub { op: "subscribe", uri: "a", policy: "regex", session: 1, created: "" }).unwrap();
    assert!(Op::decode(&bad).is_err());
    // Truncated.
    let bytes = every_op()[0].encode();
    assert!(Op::decode(&bytes[..bytes.len() / 2]).is_err());
}

#[test]
fn decoded_ops_apply_alike() {
    // A log replayed from its encoding reaches the same registry.
    let original = busy();
    let replayed: Vec<Op> = original.to_ops(None).iter().map(|op| Op::decode(&op.encode()).unwrap()).collect();
    assert_eq!(view(&rebuild(REALM, &replayed)), view(&original));
}
