//! The realm registry: who is in a realm and what they subscribed to and registered,
//! realm-wide. Every pod holds a replica, built by applying the realm's op log in order
//! ([`crate::Replica`]); [`Registry::apply`] is the one definition of what an op does, so
//! every replica reaches the same state and the same [`Outcome`] for every op (a session id
//! already taken, a conflicting registration) without a central arbiter.
//!
//! Subscription and registration ids are derived from (realm, match policy, URI), so every
//! pod names the same subscription alike without asking anyone, also after the log was lost
//! and each pod re-announces what it has.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use junction_protocol::uri::{MatchPolicy, UriIndex};
use junction_protocol::{Dict, Id, MAX_ID};
use serde::{Deserialize, Serialize};

use crate::PodId;

/// Shared registration invocation policy (`REGISTER.Options.invoke`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InvokePolicy {
    Single,
    RoundRobin,
    Random,
    First,
    Last,
}

impl InvokePolicy {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "single" => InvokePolicy::Single,
            "roundrobin" => InvokePolicy::RoundRobin,
            "random" => InvokePolicy::Random,
            "first" => InvokePolicy::First,
            "last" => InvokePolicy::Last,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            InvokePolicy::Single => "single",
            InvokePolicy::RoundRobin => "roundrobin",
            InvokePolicy::Random => "random",
            InvokePolicy::First => "first",
            InvokePolicy::Last => "last",
        }
    }
}

/// What every pod knows about a session of the realm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: Id,
    pub pod: PodId,
    pub authid: String,
    pub authrole: String,
    /// What `wamp.session.get` answers (authid, authrole, authmethod, transport, ...).
    pub details: Details,
    /// The name the session's pod goes by (`JUNCTION_POD_NAME`), for listings; empty when
    /// the pod has none (or predates the field).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pod_name: String,
    /// When the session joined, in milliseconds since the Unix epoch (0: unknown).
    #[serde(default)]
    pub joined_at: u64,
}

/// A session's details as the registry keeps them: encoded (MessagePack), because every
/// pod holds an entry for every session of the realm and reads the details only for the
/// session meta API and listings. As a `Dict` (two B-tree maps, the outer one and the
/// transport's) an entry took about 2.5 KiB, a third of an idle session's memory; encoded
/// it takes about 150 bytes. On the wire (the op log) it is the plain map, as before.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Details(Box<[u8]>);

impl Details {
    pub fn new(details: &Dict) -> Details {
        if details.is_empty() {
            return Details::default();
        }
        Details(rmp_serde::to_vec(details).expect("a Dict always serializes").into_boxed_slice())
    }

    /// The details as a map.
    pub fn dict(&self) -> Dict {
        if self.0.is_empty() {
            return Dict::new();
        }
        // Only `new` writes the bytes, from a Dict: they always decode.
        rmp_serde::from_slice(&self.0).unwrap_or_default()
    }
}

impl From<Dict> for Details {
    fn from(details: Dict) -> Details {
        Details::new(&details)
    }
}

impl std::fmt::Debug for Details {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.dict().fmt(f)
    }
}

impl Serialize for Details {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.dict().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Details {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Details, D::Error> {
        Dict::deserialize(d).map(|details| Details::new(&details))
    }
}

/// A change of the registry. Ops are appended to the realm's log by the pod that makes
/// them and applied by every pod in log order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Join { session: SessionInfo },
    /// The session and every membership it still has.
    Leave { session: Id },
    Subscribe { uri: String, #[serde(with = "policy")] policy: MatchPolicy, session: Id, created: String },
    Unsubscribe { sub: Id, session: Id },
    Register { uri: String, #[serde(with = "policy")] policy: MatchPolicy, invoke: InvokePolicy, session: Id, created: String },
    Unregister { reg: Id, session: Id },
    /// The last event published with `retain` on `topic` (router-encoded, opaque here).
    Retain { topic: String, #[serde(with = "serde_bytes")] event: Vec<u8> },
    /// A session's testaments (router-encoded), replacing earlier ones; empty = none. Kept
    /// realm-wide so that a pod that reaps a dead pod can publish them.
    Testaments { session: Id, #[serde(with = "serde_bytes")] testaments: Vec<u8> },
    /// A pod is gone (its heartbeat expired): everything it had leaves.
    PodDown { pod: PodId },
}

impl Op {
    pub fn encode(&self) -> Vec<u8> {
        rmp_serde::to_vec_named(self).expect("ops always serialize")
    }

    pub fn decode(bytes: &[u8]) -> Result<Op, rmp_serde::decode::Error> {
        rmp_serde::from_slice(bytes)
    }
}

mod policy {
    use junction_protocol::uri::MatchPolicy;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(p: &MatchPolicy, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(p.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<MatchPolicy, D::Error> {
        let s = String::deserialize(d)?;
        MatchPolicy::parse(&s).ok_or_else(|| serde::de::Error::custom("unknown match policy"))
    }
}

/// What leaving took with it, for the meta events.
#[derive(Debug, Clone, PartialEq)]
pub struct Departure {
    pub session: SessionInfo,
    /// (subscription, deleted: it had no other subscriber)
    pub subscriptions: Vec<(Id, bool)>,
    /// (registration, deleted: it had no other callee)
    pub registrations: Vec<(Id, bool)>,
    pub testaments: Vec<u8>,
}

/// The result of applying an op, identical on every replica.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// false: the session id is taken (draw another).
    Joined(bool),
    Left(Option<Departure>),
    Subscribed { sub: Id, created: bool, added: bool },
    /// `None`: the session was not subscribed.
    Unsubscribed(Option<bool>),
    Registered(Result<(Id, bool), &'static str>),
    /// `None`: the session had not registered it.
    Unregistered(Option<bool>),
    Retained,
    Testaments,
    PodDown(Vec<Departure>),
}

pub struct Subscription {
    pub id: Id,
    pub uri: String,
    pub policy: MatchPolicy,
    pub created: String,
    /// (session, pod), in subscription order.
    pub members: Vec<(Id, PodId)>,
    /// Subscribers per pod: where an event must go.
    pub pods: Vec<(PodId, u32)>,
}

pub struct Registration {
    pub id: Id,
    pub uri: String,
    pub policy: MatchPolicy,
    pub invoke: InvokePolicy,
    pub created: String,
    /// (session, pod), in registration order (`first`, `last` and round-robin follow it).
    pub callees: Vec<(Id, PodId)>,
    /// Round-robin position; per replica (each pod rotates fairly over every callee).
    next: AtomicUsize,
}

impl Registration {
    /// The callee for the next call under the invocation policy.
    pub fn pick(&self) -> Option<(Id, PodId)> {
        let n = self.callees.len();
        if n == 0 {
            return None;
        }
        let i = match self.invoke {
            InvokePolicy::Single | InvokePolicy::First => 0,
            InvokePolicy::Last => n - 1,
            InvokePolicy::RoundRobin => self.next.fetch_add(1, Ordering::Relaxed) % n,
            InvokePolicy::Random => rand::Rng::gen_range(&mut rand::thread_rng(), 0..n),
        };
        self.callees.get(i).copied()
    }
}

#[derive(Default)]
struct Memberships {
    subs: Vec<Id>,
    regs: Vec<Id>,
}

/// One realm's registry.
#[derive(Default)]
pub struct Registry {
    realm: String,
    sessions: HashMap<Id, SessionInfo>,
    memberships: HashMap<Id, Memberships>,
    testaments: HashMap<Id, Vec<u8>>,
    subs: HashMap<Id, Subscription>,
    sub_index: UriIndex<Id>,
    regs: HashMap<Id, Registration>,
    reg_index: UriIndex<Id>,
    retained: HashMap<String, Vec<u8>>,
    /// Subscriptions per pod, realm-wide: a publish looks for other pods only when some
    /// other pod has any.
    subscribing_pods: HashMap<PodId, u32>,
}

/// A stable 53-bit id for (kind, realm, policy, uri): FNV-1a then a splitmix64 finaliser.
/// Stable across builds and pods (std's hashers are not).
fn derived_id(kind: &str, realm: &str, policy: MatchPolicy, uri: &str) -> Id {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [kind.as_bytes(), b"\0", realm.as_bytes(), b"\0", policy.as_str().as_bytes(), b"\0", uri.as_bytes()] {
        for &b in part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h % MAX_ID) + 1
}

pub fn subscription_id(realm: &str, policy: MatchPolicy, uri: &str) -> Id {
    derived_id("sub", realm, policy, uri)
}

pub fn registration_id(realm: &str, policy: MatchPolicy, uri: &str) -> Id {
    derived_id("reg", realm, policy, uri)
}

fn bump(counts: &mut Vec<(PodId, u32)>, pod: PodId, up: bool) {
    match counts.iter().position(|(p, _)| *p == pod) {
        Some(i) if up => counts[i].1 += 1,
        Some(i) => {
            counts[i].1 -= 1;
            if counts[i].1 == 0 {
                counts.swap_remove(i);
            }
        }
        None if up => counts.push((pod, 1)),
        None => {}
    }
}

impl Registry {
    pub fn new(realm: impl Into<String>) -> Self {
        Registry { realm: realm.into(), ..Default::default() }
    }

    pub fn realm(&self) -> &str {
        &self.realm
    }

    pub fn apply(&mut self, op: &Op) -> Outcome {
        match op {
            Op::Join { session } => {
                if self.sessions.contains_key(&session.id) {
                    return Outcome::Joined(false);
                }
                self.sessions.insert(session.id, session.clone());
                self.memberships.insert(session.id, Memberships::default());
                Outcome::Joined(true)
            }
            Op::Leave { session } => Outcome::Left(self.leave(*session)),
            Op::Subscribe { uri, policy, session, created: at } => {
                let id = subscription_id(&self.realm, *policy, uri);
                let Some(info) = self.sessions.get(session) else {
                    return Outcome::Subscribed { sub: id, created: false, added: false };
                };
                let pod = info.pod;
                let created = !self.subs.contains_key(&id);
                let sub = self.subs.entry(id).or_insert_with(|| Subscription {
                    id,
                    uri: uri.clone(),
                    policy: *policy,
                    created: at.clone(),
                    members: Vec::new(),
                    pods: Vec::new(),
                });
                if created {
                    self.sub_index.insert(uri.clone(), *policy, id);
                }
                if sub.members.iter().any(|(s, _)| s == session) {
                    return Outcome::Subscribed { sub: id, created: false, added: false };
                }
                sub.members.push((*session, pod));
                bump(&mut sub.pods, pod, true);
                *self.subscribing_pods.entry(pod).or_default() += 1;
                if let Some(m) = self.memberships.get_mut(session) {
                    m.subs.push(id);
                }
                Outcome::Subscribed { sub: id, created, added: true }
            }
            Op::Unsubscribe { sub, session } => Outcome::Unsubscribed(self.unsubscribe(*sub, *session)),
            Op::Register { uri, policy, invoke, session, created } => {
                let id = registration_id(&self.realm, *policy, uri);
                let Some(info) = self.sessions.get(session) else {
                    return Outcome::Registered(Err("wamp.error.canceled"));
                };
                let pod = info.pod;
                if let Some(reg) = self.regs.get_mut(&id) {
                    if reg.invoke == InvokePolicy::Single || reg.callees.iter().any(|(s, _)| s == session) {
                        return Outcome::Registered(Err("wamp.error.procedure_already_exists"));
                    }
                    if reg.invoke != *invoke {
                        return Outcome::Registered(Err("wamp.error.procedure_exists_with_different_invocation_policy"));
                    }
                    reg.callees.push((*session, pod));
                    if let Some(m) = self.memberships.get_mut(session) {
                        m.regs.push(id);
                    }
                    return Outcome::Registered(Ok((id, false)));
                }
                self.reg_index.insert(uri.clone(), *policy, id);
                self.regs.insert(
                    id,
                    Registration {
                        id,
                        uri: uri.clone(),
                        policy: *policy,
                        invoke: *invoke,
                        created: created.clone(),
                        callees: vec![(*session, pod)],
                        next: AtomicUsize::new(0),
                    },
                );
                if let Some(m) = self.memberships.get_mut(session) {
                    m.regs.push(id);
                }
                Outcome::Registered(Ok((id, true)))
            }
            Op::Unregister { reg, session } => Outcome::Unregistered(self.unregister(*reg, *session)),
            Op::Retain { topic, event } => {
                self.retained.insert(topic.clone(), event.clone());
                Outcome::Retained
            }
            Op::Testaments { session, testaments } => {
                if self.sessions.contains_key(session) {
                    if testaments.is_empty() {
                        self.testaments.remove(session);
                    } else {
                        self.testaments.insert(*session, testaments.clone());
                    }
                }
                Outcome::Testaments
            }
            Op::PodDown { pod } => {
                let mut gone: Vec<Id> = self.sessions.values().filter(|s| s.pod == *pod).map(|s| s.id).collect();
                gone.sort_unstable();
                Outcome::PodDown(gone.into_iter().filter_map(|s| self.leave(s)).collect())
            }
        }
    }

    fn leave(&mut self, session: Id) -> Option<Departure> {
        let info = self.sessions.remove(&session)?;
        let m = self.memberships.remove(&session).unwrap_or_default();
        let subscriptions = m.subs.iter().filter_map(|&sub| self.unsubscribe(sub, session).map(|d| (sub, d))).collect();
        let registrations = m.regs.iter().filter_map(|&reg| self.unregister(reg, session).map(|d| (reg, d))).collect();
        let testaments = self.testaments.remove(&session).unwrap_or_default();
        Some(Departure { session: info, subscriptions, registrations, testaments })
    }

    fn unsubscribe(&mut self, id: Id, session: Id) -> Option<bool> {
        let sub = self.subs.get_mut(&id)?;
        let pos = sub.members.iter().position(|(s, _)| *s == session)?;
        let (_, pod) = sub.members.remove(pos);
        bump(&mut sub.pods, pod, false);
        if let Some(n) = self.subscribing_pods.get_mut(&pod) {
            *n -= 1;
            if *n == 0 {
                self.subscribing_pods.remove(&pod);
            }
        }
        if let Some(m) = self.memberships.get_mut(&session) {
            m.subs.retain(|s| *s != id);
        }
        if sub.members.is_empty() {
            if let Some(sub) = self.subs.remove(&id) {
                self.sub_index.remove(&sub.uri, sub.policy);
            }
            return Some(true);
        }
        Some(false)
    }

    fn unregister(&mut self, id: Id, session: Id) -> Option<bool> {
        let reg = self.regs.get_mut(&id)?;
        let pos = reg.callees.iter().position(|(s, _)| *s == session)?;
        reg.callees.remove(pos);
        if let Some(m) = self.memberships.get_mut(&session) {
            m.regs.retain(|r| *r != id);
        }
        if reg.callees.is_empty() {
            if let Some(reg) = self.regs.remove(&id) {
                self.reg_index.remove(&reg.uri, reg.policy);
            }
            return Some(true);
        }
        Some(false)
    }

    /// Ops that rebuild this registry from empty (a snapshot; also what a pod re-announces
    /// of its own when the log was lost, filtered by pod).
    pub fn to_ops(&self, only_pod: Option<PodId>) -> Vec<Op> {
        let mine = |pod: PodId| only_pod.is_none_or(|p| p == pod);
        let mut ops = Vec::new();
        let mut sessions: Vec<&SessionInfo> = self.sessions.values().filter(|s| mine(s.pod)).collect();
        sessions.sort_by_key(|s| s.id);
        for s in sessions {
            ops.push(Op::Join { session: s.clone() });
            if let Some(t) = self.testaments.get(&s.id) {
                ops.push(Op::Testaments { session: s.id, testaments: t.clone() });
            }
        }
        let mut subs: Vec<&Subscription> = self.subs.values().collect();
        subs.sort_by(|a, b| (&a.created, a.id).cmp(&(&b.created, b.id)));
        for sub in subs {
            for &(session, pod) in &sub.members {
                if mine(pod) {
                    ops.push(Op::Subscribe { uri: sub.uri.clone(), policy: sub.policy, session, created: sub.created.clone() });
                }
            }
        }
        let mut regs: Vec<&Registration> = self.regs.values().collect();
        regs.sort_by(|a, b| (&a.created, a.id).cmp(&(&b.created, b.id)));
        for reg in regs {
            for &(session, pod) in &reg.callees {
                if mine(pod) {
                    ops.push(Op::Register { uri: reg.uri.clone(), policy: reg.policy, invoke: reg.invoke, session, created: reg.created.clone() });
                }
            }
        }
        if only_pod.is_none() {
            let mut topics: Vec<&String> = self.retained.keys().collect();
            topics.sort();
            for t in topics {
                ops.push(Op::Retain { topic: t.clone(), event: self.retained[t].clone() });
            }
        }
        ops
    }

    pub fn session(&self, id: Id) -> Option<&SessionInfo> {
        self.sessions.get(&id)
    }

    pub fn sessions(&self) -> impl Iterator<Item = &SessionInfo> {
        self.sessions.values()
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Pods that have sessions in this realm.
    pub fn pods(&self) -> Vec<PodId> {
        let mut pods: Vec<PodId> = self.sessions.values().map(|s| s.pod).collect();
        pods.sort_unstable();
        pods.dedup();
        pods
    }

    pub fn subscription(&self, id: Id) -> Option<&Subscription> {
        self.subs.get(&id)
    }

    pub fn subscription_lookup(&self, uri: &str, policy: MatchPolicy) -> Option<Id> {
        self.sub_index.get(uri, policy).copied()
    }

    /// Every subscription matching a concrete topic.
    pub fn subscriptions_matching<'a>(&'a self, topic: &'a str) -> impl Iterator<Item = &'a Subscription> + 'a {
        self.sub_index.matching(topic).filter_map(|(_, _, id)| self.subs.get(id))
    }

    pub fn subscriptions(&self) -> impl Iterator<Item = &Subscription> {
        self.subs.values()
    }

    /// Pods other than `me` with a subscriber matching `topic`, each once.
    pub fn other_pods_for(&self, topic: &str, me: PodId) -> Vec<PodId> {
        if self.subscribing_pods.keys().all(|p| *p == me) {
            return Vec::new();
        }
        let mut pods = Vec::new();
        for sub in self.subscriptions_matching(topic) {
            for &(pod, _) in &sub.pods {
                if pod != me && !pods.contains(&pod) {
                    pods.push(pod);
                }
            }
        }
        pods
    }

    pub fn registration(&self, id: Id) -> Option<&Registration> {
        self.regs.get(&id)
    }

    pub fn registration_lookup(&self, uri: &str, policy: MatchPolicy) -> Option<Id> {
        self.reg_index.get(uri, policy).copied()
    }

    /// The registration a call to `procedure` goes to (exact, longest prefix, wildcard).
    pub fn registration_for(&self, procedure: &str) -> Option<&Registration> {
        self.reg_index.best_match(procedure).and_then(|(_, _, id)| self.regs.get(id))
    }

    pub fn registrations(&self) -> impl Iterator<Item = &Registration> {
        self.regs.values()
    }

    pub fn retained(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.retained.iter().map(|(t, e)| (t.as_str(), e.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use junction_protocol::Value;

    use super::*;

    fn details() -> Dict {
        let transport = Value::dict([("type", Value::from("websocket")), ("peer", "127.0.0.1:4711".into())]);
        Dict::from([("authmethod".to_owned(), Value::from("ticket")), ("transport".to_owned(), transport)])
    }

    #[test]
    fn details_read_back_as_they_were_given() {
        assert_eq!(Details::new(&details()).dict(), details());
        assert_eq!(Details::new(&Dict::new()), Details::default());
        assert_eq!(Details::default().dict(), Dict::new());
    }

    #[test]
    fn details_travel_as_a_plain_map() {
        // SessionInfo as it was with `details: Dict`: the encoding must not change.
        #[derive(Serialize)]
        struct Before {
            id: Id,
            pod: PodId,
            authid: String,
            authrole: String,
            details: Dict,
            pod_name: String,
            joined_at: u64,
        }
        let before = Before { id: 7, pod: 3, authid: "a".into(), authrole: "r".into(), details: details(), pod_name: "p".into(), joined_at: 9 };
        let now = SessionInfo { id: 7, pod: 3, authid: "a".into(), authrole: "r".into(), details: details().into(), pod_name: "p".into(), joined_at: 9 };
        let bytes = rmp_serde::to_vec_named(&now).unwrap();
        assert_eq!(bytes, rmp_serde::to_vec_named(&before).unwrap());
        assert_eq!(rmp_serde::from_slice::<SessionInfo>(&bytes).unwrap(), now);
    }
}
