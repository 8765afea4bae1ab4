//! Broker: subscriptions and event routing for one realm.
//!
//! One subscription per (topic pattern, match policy) in a realm, shared by all its
//! subscribers. A publication is encoded at most once per matching subscription and
//! serializer (the subscription id is part of the EVENT, the rest is identical), and each
//! subscriber receives a cheap `Bytes` clone of that frame.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use junction_protocol::codec::encode_event;
use junction_protocol::uri::{self, MatchPolicy, UriIndex};
use junction_protocol::{Dict, Id, List, Message, MessageType, Payload, Serializer, Value};

use crate::ids::{now_iso8601, random_id};
use crate::realm::Realm;
use crate::session::{SessionHandle, error_message};

pub(crate) struct Subscription {
    pub id: Id,
    pub uri: String,
    pub policy: MatchPolicy,
    pub created: String,
    /// In subscription order. Removal is a linear scan: fine for the fan-outs we target,
    /// and iteration (the hot path) is as cheap as it gets.
    pub subscribers: Vec<Arc<SessionHandle>>,
}

impl Subscription {
    pub fn details(&self) -> Dict {
        junction_protocol::dict([
            ("id", Value::from(self.id)),
            ("created", self.created.as_str().into()),
            ("uri", self.uri.as_str().into()),
            ("match", self.policy.as_str().into()),
        ])
    }
}

/// The last event published with `retain: true` on a topic.
struct Retained {
    publication: Id,
    /// Publisher disclosure, if the original was disclosed.
    details: Dict,
    payload: Payload,
    /// The original black/white lists: a late subscriber gets the event only if it would
    /// have been eligible for it.
    filter: Option<Filter>,
}

#[derive(Default)]
pub(crate) struct Broker {
    index: UriIndex<Id>,
    subs: HashMap<Id, Subscription>,
    retained: HashMap<String, Retained>,
}

/// Subscriber black/white lists of a PUBLISH (`exclude`, `eligible`, `*_authid`, `*_authrole`).
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Filter {
    exclude: Vec<Id>,
    exclude_authid: Vec<String>,
    exclude_authrole: Vec<String>,
    eligible: Option<Vec<Id>>,
    eligible_authid: Option<Vec<String>>,
    eligible_authrole: Option<Vec<String>>,
}

impl Filter {
    /// Parse from PUBLISH options; `Err` names the offending option.
    pub fn from_options(options: &Dict) -> Result<Option<Filter>, String> {
        fn ids(options: &Dict, key: &str) -> Result<Option<Vec<Id>>, String> {
            match options.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::List(l)) => l.iter().map(|v| v.as_u64().ok_or_else(|| format!("{key} must be a list of session ids"))).collect::<Result<_, _>>().map(Some),
                Some(_) => Err(format!("{key} must be a list of session ids")),
            }
        }
        fn strings(options: &Dict, key: &str) -> Result<Option<Vec<String>>, String> {
            match options.get(key) {
                None | Some(Value::Null) => Ok(None),
                // Crossbar accepts a single string as well as a list.
                Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
                Some(Value::List(l)) => {
                    l.iter().map(|v| v.as_str().map(str::to_owned).ok_or_else(|| format!("{key} must be a list of strings"))).collect::<Result<_, _>>().map(Some)
                }
                Some(_) => Err(format!("{key} must be a list of strings")),
            }
        }
        let f = Filter {
            exclude: ids(options, "exclude")?.unwrap_or_default(),
            exclude_authid: strings(options, "exclude_authid")?.unwrap_or_default(),
            exclude_authrole: strings(options, "exclude_authrole")?.unwrap_or_default(),
            eligible: ids(options, "eligible")?,
            eligible_authid: strings(options, "eligible_authid")?,
            eligible_authrole: strings(options, "eligible_authrole")?,
        };
        Ok((f != Filter::default()).then_some(f))
    }

    pub fn admits(&self, s: &SessionHandle) -> bool {
        let id = &s.identity;
        !self.exclude.contains(&id.session)
            && !self.exclude_authid.contains(&id.authid)
            && !self.exclude_authrole.contains(&id.authrole)
            && self.eligible.as_ref().is_none_or(|l| l.contains(&id.session))
            && self.eligible_authid.as_ref().is_none_or(|l| l.contains(&id.authid))
            && self.eligible_authrole.as_ref().is_none_or(|l| l.contains(&id.authrole))
    }
}

/// One publication on its way to subscribers.
pub(crate) struct Publication<'a> {
    pub id: Id,
    pub topic: &'a str,
    pub payload: &'a Payload,
    /// `None` when the router publishes.
    pub publisher: Option<&'a SessionHandle>,
    pub exclude_me: bool,
    pub filter: Option<&'a Filter>,
    /// Publisher disclosure (`publisher`, `publisher_authid`, `publisher_authrole`), or empty.
    pub details: Dict,
}

/// Per-serializer frame cache for one subscription.
#[derive(Default)]
struct FrameCache([Option<Bytes>; 3]);

impl FrameCache {
    fn get(&mut self, ser: Serializer, make: impl FnOnce() -> Bytes) -> Bytes {
        self.0[ser.index()].get_or_insert_with(make).clone()
    }
}

impl Broker {
    /// Add `session` to the subscription for (uri, policy), creating it if needed.
    /// Returns (subscription id, created, newly added).
    pub fn subscribe(&mut self, session: &Arc<SessionHandle>, topic: &str, policy: MatchPolicy) -> (Id, bool, bool) {
        if let Some(&id) = self.index.get(topic, policy)
            && let Some(sub) = self.subs.get_mut(&id)
        {
            if sub.subscribers.iter().any(|s| s.id() == session.id()) {
                return (id, false, false);
            }
            sub.subscribers.push(session.clone());
            return (id, false, true);
        }
        let mut id = random_id();
        while self.subs.contains_key(&id) {
            id = random_id();
        }
        self.index.insert(topic, policy, id);
        self.subs.insert(
            id,
            Subscription { id, uri: topic.to_owned(), policy, created: now_iso8601(), subscribers: vec![session.clone()] },
        );
        (id, true, true)
    }

    /// Remove a subscriber. `None`: not subscribed; `Some(deleted)`: whether the
    /// subscription went away with its last subscriber.
    pub fn unsubscribe(&mut self, session: Id, subscription: Id) -> Option<bool> {
        let sub = self.subs.get_mut(&subscription)?;
        let pos = sub.subscribers.iter().position(|s| s.id() == session)?;
        sub.subscribers.remove(pos);
        if sub.subscribers.is_empty() {
            if let Some(sub) = self.subs.remove(&subscription) {
                self.index.remove(&sub.uri, sub.policy);
            }
            return Some(true);
        }
        Some(false)
    }

    /// Deliver a publication to every matching subscription. Returns the delivery count.
    pub fn publish(&mut self, p: &Publication<'_>) -> usize {
        let mut delivered = 0;
        for (_, policy, id) in self.index.matching(p.topic) {
            let Some(sub) = self.subs.get(id) else { continue };
            let mut cache = FrameCache::default();
            let mut pattern_details = None;
            for s in &sub.subscribers {
                if p.exclude_me && p.publisher.is_some_and(|pb| pb.id() == s.id()) {
                    continue;
                }
                if p.filter.is_some_and(|f| !f.admits(s)) {
                    continue;
                }
                let frame = cache.get(s.serializer, || {
                    if policy == MatchPolicy::Exact {
                        encode_event(*id, p.id, &p.details, p.payload, s.serializer)
                    } else {
                        // Pattern subscribers learn the concrete topic.
                        let details = pattern_details.get_or_insert_with(|| {
                            let mut d = p.details.clone();
                            d.insert("topic".into(), p.topic.into());
                            d
                        });
                        encode_event(*id, p.id, details, p.payload, s.serializer)
                    }
                });
                if s.send_frame(frame) {
                    delivered += 1;
                }
            }
        }
        delivered
    }

    pub fn retain(&mut self, topic: &str, publication: Id, details: Dict, payload: Payload, filter: Option<Filter>) {
        self.retained.insert(topic.to_owned(), Retained { publication, details, payload, filter });
    }

    /// Send the retained events matching a subscription to one new subscriber; returns how
    /// many were queued.
    pub fn send_retained(&self, session: &SessionHandle, subscription: Id) -> usize {
        let Some(sub) = self.subs.get(&subscription) else { return 0 };
        let queued = std::cell::Cell::new(0);
        let send = |topic: &str, r: &Retained| {
            if r.filter.as_ref().is_some_and(|f| !f.admits(session)) {
                return;
            }
            let mut details = r.details.clone();
            details.insert("retained".into(), true.into());
            if sub.policy != MatchPolicy::Exact {
                details.insert("topic".into(), topic.into());
            }
            if session.send_frame(encode_event(subscription, r.publication, &details, &r.payload, session.serializer)) {
                queued.set(queued.get() + 1);
            }
        };
        match sub.policy {
            MatchPolicy::Exact => {
                if let Some(r) = self.retained.get(&sub.uri) {
                    send(&sub.uri, r);
                }
            }
            policy => {
                for (topic, r) in &self.retained {
                    if uri::matches(&sub.uri, policy, topic) {
                        send(topic, r);
                    }
                }
            }
        }
        queued.get()
    }

    pub fn get(&self, id: Id) -> Option<&Subscription> {
        self.subs.get(&id)
    }

    pub fn lookup(&self, topic: &str, policy: MatchPolicy) -> Option<Id> {
        self.index.get(topic, policy).copied()
    }

    pub fn matching(&self, topic: &str) -> Vec<Id> {
        self.index.matching(topic).map(|(_, _, id)| *id).collect()
    }

    /// Subscription ids by policy: (exact, prefix, wildcard).
    pub fn list(&self) -> (Vec<Id>, Vec<Id>, Vec<Id>) {
        let mut out = (Vec::new(), Vec::new(), Vec::new());
        for (_, policy, id) in self.index.iter() {
            match policy {
                MatchPolicy::Exact => out.0.push(*id),
                MatchPolicy::Prefix => out.1.push(*id),
                MatchPolicy::Wildcard => out.2.push(*id),
            }
        }
        out
    }
}

impl Realm {
    /// SUBSCRIBE from a session. Returns the subscription id when the session should
    /// remember it (for cleanup).
    pub(crate) fn handle_subscribe(&self, session: &Arc<SessionHandle>, request: Id, options: &Dict, topic: &str) -> Option<Id> {
        self.counters.received();
        let err = |error: &str, msg: String| {
            self.send_to(session, &error_message(MessageType::Subscribe, request, error, msg));
            None
        };
        let Some(policy) = MatchPolicy::from_options(options) else {
            return err("wamp.error.invalid_argument", "unknown match policy".into());
        };
        if let Err(e) = uri::validate(topic, policy, false) {
            return err("wamp.error.invalid_uri", format!("invalid topic URI: {e}"));
        }
        let get_retained = options.get("get_retained").and_then(Value::as_bool).unwrap_or(false);
        let (id, created, added) = {
            let mut broker = self.broker.lock();
            let (id, created, added) = broker.subscribe(session, topic, policy);
            self.send_to(session, &Message::Subscribed { request, subscription: id });
            if get_retained {
                self.counters.sent(broker.send_retained(session, id));
            }
            (id, created, added)
        };
        if created {
            let details = self.broker.lock().get(id).map(Subscription::details).unwrap_or_default();
            self.publish_meta("wamp.subscription.on_create", vec![session.id().into(), details.into()]);
        }
        if added {
            self.publish_meta("wamp.subscription.on_subscribe", vec![session.id().into(), id.into()]);
            Some(id)
        } else {
            None
        }
    }

    /// UNSUBSCRIBE from a session. Returns true when the session was subscribed.
    pub(crate) fn handle_unsubscribe(&self, session: &SessionHandle, request: Id, subscription: Id) -> bool {
        self.counters.received();
        let outcome = self.broker.lock().unsubscribe(session.id(), subscription);
        match outcome {
            None => {
                self.send_to(session, &error_message(MessageType::Unsubscribe, request, "wamp.error.no_such_subscription", String::new()));
                false
            }
            Some(deleted) => {
                self.send_to(session, &Message::Unsubscribed { request, details: None });
                self.publish_meta("wamp.subscription.on_unsubscribe", vec![session.id().into(), subscription.into()]);
                if deleted {
                    self.publish_meta("wamp.subscription.on_delete", vec![session.id().into(), subscription.into()]);
                }
                true
            }
        }
    }

    /// PUBLISH from a session, already authorized. `disclose` is the authorizer's verdict.
    pub(crate) fn handle_publish(&self, session: &SessionHandle, request: Id, options: &Dict, topic: &str, payload: &Payload, disclose: bool) {
        self.counters.received();
        let acknowledge = options.get("acknowledge").and_then(Value::as_bool).unwrap_or(false);
        let err = |error: &str, msg: String| {
            if acknowledge {
                self.send_to(session, &error_message(MessageType::Publish, request, error, msg));
            }
        };
        if let Err(e) = uri::validate(topic, MatchPolicy::Exact, false) {
            return err("wamp.error.invalid_uri", format!("invalid topic URI: {e}"));
        }
        if uri::is_meta(topic) {
            return err("wamp.error.invalid_uri", "the wamp. namespace is reserved for the router".into());
        }
        let filter = match Filter::from_options(options) {
            Ok(f) => f,
            Err(msg) => return err("wamp.error.invalid_argument", msg),
        };
        let mut details = Dict::new();
        if disclose || options.get("disclose_me").and_then(Value::as_bool).unwrap_or(false) {
            details.insert("publisher".into(), session.id().into());
            details.insert("publisher_authid".into(), session.identity.authid.as_str().into());
            details.insert("publisher_authrole".into(), session.identity.authrole.as_str().into());
        }
        let id = random_id();
        let publication = Publication {
            id,
            topic,
            payload,
            publisher: Some(session),
            exclude_me: options.get("exclude_me").and_then(Value::as_bool).unwrap_or(true),
            filter: filter.as_ref(),
            details,
        };
        self.metrics.publications.inc();
        {
            let mut broker = self.broker.lock();
            self.counters.sent(broker.publish(&publication));
            if options.get("retain").and_then(Value::as_bool).unwrap_or(false) {
                broker.retain(topic, id, publication.details.clone(), payload.clone(), filter.clone());
            }
        }
        if acknowledge {
            self.send_to(session, &Message::Published { request, publication: id });
        }
    }

    /// Publish as the router. Honors `retain` and black/white lists in `options`.
    pub(crate) fn publish_from_router(&self, topic: &str, payload: Payload, options: &Dict) -> Id {
        let id = random_id();
        let filter = Filter::from_options(options).ok().flatten();
        let publication =
            Publication { id, topic, payload: &payload, publisher: None, exclude_me: false, filter: filter.as_ref(), details: Dict::new() };
        let mut broker = self.broker.lock();
        self.counters.sent(broker.publish(&publication));
        if options.get("retain").and_then(Value::as_bool).unwrap_or(false) {
            broker.retain(topic, id, Dict::new(), payload.clone(), filter.clone());
        }
        id
    }

    pub(crate) fn publish_meta(&self, topic: &str, args: List) {
        self.publish_from_router(topic, Payload::args(args), &Dict::new());
    }

    /// Drop a leaving session's subscriptions; collects the meta events to publish.
    pub(crate) fn broker_leave(&self, session: &SessionHandle, subscriptions: &[Id], events: &mut Vec<(&'static str, List)>) {
        let mut broker = self.broker.lock();
        for &sub in subscriptions {
            if let Some(deleted) = broker.unsubscribe(session.id(), sub) {
                events.push(("wamp.subscription.on_unsubscribe", vec![session.id().into(), sub.into()]));
                if deleted {
                    events.push(("wamp.subscription.on_delete", vec![session.id().into(), sub.into()]));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::test_session;
    use junction_protocol::dict;

    #[test]
    fn one_subscription_per_topic_and_policy() {
        let mut b = Broker::default();
        let (s1, _) = test_session(1, "a", "r");
        let (s2, _) = test_session(2, "b", "r");
        let (id1, created1, added1) = b.subscribe(&s1, "com.x", MatchPolicy::Exact);
        let (id2, created2, added2) = b.subscribe(&s2, "com.x", MatchPolicy::Exact);
        assert_eq!(id1, id2);
        assert!(created1 && added1 && !created2 && added2);
        let (id3, created3, _) = b.subscribe(&s1, "com.x", MatchPolicy::Prefix);
        assert_ne!(id1, id3);
        assert!(created3);
        // Subscribing twice is idempotent.
        assert_eq!(b.subscribe(&s1, "com.x", MatchPolicy::Exact), (id1, false, false));
        assert_eq!(b.unsubscribe(1, id1), Some(false));
        assert_eq!(b.unsubscribe(1, id1), None);
        assert_eq!(b.unsubscribe(2, id1), Some(true));
        assert!(b.get(id1).is_none());
        assert_eq!(b.lookup("com.x", MatchPolicy::Exact), None);
    }

    #[test]
    fn publish_matches_patterns_excludes_publisher_and_filters() {
        let mut b = Broker::default();
        let (pubr, pub_rx) = test_session(1, "alice", "user");
        let (exact, exact_rx) = test_session(2, "bob", "user");
        let (prefix, prefix_rx) = test_session(3, "carol", "admin");
        let (wild, wild_rx) = test_session(4, "dave", "user");
        b.subscribe(&pubr, "com.app.topic", MatchPolicy::Exact);
        b.subscribe(&exact, "com.app.topic", MatchPolicy::Exact);
        b.subscribe(&prefix, "com.app", MatchPolicy::Prefix);
        b.subscribe(&wild, "com..topic", MatchPolicy::Wildcard);
        b.subscribe(&wild, "com.other", MatchPolicy::Exact);

        let payload = Payload::args(vec![1.into()]);
        let mut p = Publication {
            id: 7,
            topic: "com.app.topic",
            payload: &payload,
            publisher: Some(&pubr),
            exclude_me: true,
            filter: None,
            details: Dict::new(),
        };
        assert_eq!(b.publish(&p), 3);
        assert_eq!(pub_rx.frames().len(), 0);
        let ev = exact_rx.messages();
        assert!(matches!(&ev[..], [Message::Event { publication: 7, details, .. }] if details.is_empty()));
        let ev = prefix_rx.messages();
        assert!(matches!(&ev[..], [Message::Event { details, .. }] if details.get("topic").and_then(Value::as_str) == Some("com.app.topic")));
        assert_eq!(wild_rx.messages().len(), 1);

        p.exclude_me = false;
        let filter = Filter::from_options(&dict([
            ("exclude_authrole", Value::from("admin")),
            ("eligible", Value::List(vec![1.into(), 2.into(), 3.into()])),
        ]))
        .unwrap()
        .unwrap();
        p.filter = Some(&filter);
        assert_eq!(b.publish(&p), 2); // publisher and bob; carol excluded by role, dave not eligible
        assert_eq!(pub_rx.messages().len(), 1);
        assert_eq!(exact_rx.messages().len(), 1);
        assert!(prefix_rx.messages().is_empty() && wild_rx.messages().is_empty());

        let f = Filter::from_options(&dict([("exclude_authid", Value::List(vec!["bob".into()]))])).unwrap().unwrap();
        p.filter = Some(&f);
        b.publish(&p);
        assert!(exact_rx.messages().is_empty());
    }

    #[test]
    fn event_is_encoded_once_per_subscription_and_serializer() {
        let mut b = Broker::default();
        let subs: Vec<_> = (1..=3).map(|i| test_session(i, "x", "r")).collect();
        for (s, _) in &subs {
            b.subscribe(s, "t", MatchPolicy::Exact);
        }
        let payload = Payload::default();
        b.publish(&Publication { id: 1, topic: "t", payload: &payload, publisher: None, exclude_me: true, filter: None, details: Dict::new() });
        let frames: Vec<Bytes> = subs.iter().map(|(_, rx)| rx.frames().pop_front().unwrap()).collect();
        // Same allocation shared, not three encodings.
        assert!(frames.windows(2).all(|w| w[0].as_ptr() == w[1].as_ptr()));
    }

    #[test]
    fn filter_rejects_bad_types() {
        assert!(Filter::from_options(&dict([("exclude", Value::from("x"))])).is_err());
        assert!(Filter::from_options(&dict([("eligible_authid", Value::from(3))])).is_err());
        assert_eq!(Filter::from_options(&Dict::new()), Ok(None));
    }

    #[test]
    fn retained_event_goes_to_new_subscribers() {
        let mut b = Broker::default();
        b.retain("com.a.b", 9, Dict::new(), Payload::args(vec!["x".into()]), None);
        let (s, rx) = test_session(1, "a", "r");
        let (id, ..) = b.subscribe(&s, "com.a", MatchPolicy::Prefix);
        b.send_retained(&s, id);
        let ev = rx.messages();
        assert!(matches!(&ev[..], [Message::Event { publication: 9, details, .. }]
            if details.get("retained") == Some(&Value::Bool(true)) && details.get("topic").and_then(Value::as_str) == Some("com.a.b")));
    }
}
