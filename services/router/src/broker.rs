//! Broker: subscriptions and event routing for one realm.
//!
//! One subscription per (topic pattern, match policy) in a realm, shared by all its
//! subscribers. A publication is encoded at most once per matching subscription and
//! serializer (the subscription id is part of the EVENT, the rest is identical), and each
//! subscriber receives a cheap `Bytes` clone of that frame.

use std::sync::Arc;

use bytes::Bytes;
use junction_protocol::codec::encode_event;
use junction_protocol::uri::{self, MatchPolicy, UriIndex};
use junction_protocol::{Dict, Id, List, Message, MessageType, Payload, Serializer, Value};

use junction_backplane::{Op, Outcome};
use serde::{Deserialize, Serialize};

use crate::cluster::PodMessage;
use crate::ids::{IdMap, now_iso8601, random_id};
use crate::realm::Realm;
use crate::session::{SessionHandle, error_message};

/// The local subscribers of one realm-wide subscription.
pub(crate) struct Subscription {
    pub uri: String,
    pub policy: MatchPolicy,
    /// In subscription order. Removal is a linear scan: fine for the fan-outs we target,
    /// and iteration (the hot path) is as cheap as it gets.
    pub subscribers: Vec<Arc<SessionHandle>>,
}

pub(crate) fn subscription_details(sub: &junction_backplane::Subscription) -> Dict {
    junction_protocol::dict([
        ("id", Value::from(sub.id)),
        ("created", sub.created.as_str().into()),
        ("uri", sub.uri.as_str().into()),
        ("match", sub.policy.as_str().into()),
    ])
}

/// An event kept with `retain: true`, as the registry stores it (realm-wide).
#[derive(Serialize, Deserialize)]
struct Retained {
    publication: Id,
    /// Publisher disclosure, if the original was disclosed.
    details: Dict,
    args: Option<List>,
    kwargs: Option<Dict>,
    /// The original black/white lists: a late subscriber gets the event only if it would
    /// have been eligible for it.
    filter: Option<Dict>,
}

/// This pod's subscribers, by realm-wide subscription id.
#[derive(Default)]
pub(crate) struct Broker {
    index: UriIndex<Id>,
    subs: IdMap<Id, Subscription>,
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
    /// The publishing session (`None`: the router, or a publisher on another pod).
    pub publisher: Option<Id>,
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
    /// Add a local subscriber to subscription `id` of (topic, policy). False: already there.
    pub fn subscribe(&mut self, session: &Arc<SessionHandle>, topic: &str, policy: MatchPolicy, id: Id) -> bool {
        if !self.subs.contains_key(&id) {
            self.index.insert(topic, policy, id);
        }
        let sub = self.subs.entry(id).or_insert_with(|| Subscription { uri: topic.to_owned(), policy, subscribers: Vec::new() });
        if sub.subscribers.iter().any(|s| s.id() == session.id()) {
            return false;
        }
        sub.subscribers.push(session.clone());
        true
    }

    /// Remove a local subscriber; false if it was not subscribed.
    pub fn unsubscribe(&mut self, session: Id, subscription: Id) -> bool {
        let Some(sub) = self.subs.get_mut(&subscription) else { return false };
        let Some(pos) = sub.subscribers.iter().position(|s| s.id() == session) else { return false };
        sub.subscribers.remove(pos);
        if sub.subscribers.is_empty()
            && let Some(sub) = self.subs.remove(&subscription)
        {
            self.index.remove(&sub.uri, sub.policy);
        }
        true
    }

    pub fn is_subscribed(&self, session: Id, subscription: Id) -> bool {
        self.subs.get(&subscription).is_some_and(|s| s.subscribers.iter().any(|x| x.id() == session))
    }

    /// Deliver a publication to every matching subscription. Returns the delivery count.
    pub fn publish(&mut self, p: &Publication<'_>) -> usize {
        let mut delivered = 0;
        for (_, policy, id) in self.index.matching(p.topic) {
            let Some(sub) = self.subs.get(id) else { continue };
            let mut cache = FrameCache::default();
            let mut pattern_details = None;
            for s in &sub.subscribers {
                if p.exclude_me && p.publisher == Some(s.id()) {
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
}

impl Realm {
    /// SUBSCRIBE from a session. Returns the subscription id when the session should
    /// remember it (for cleanup).
    pub(crate) async fn handle_subscribe(self: &Arc<Self>, session: &Arc<SessionHandle>, request: Id, options: &Dict, topic: &str) -> Option<Id> {
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
        let id = junction_backplane::registry::subscription_id(self.uri(), policy, topic);
        if self.broker.lock().is_subscribed(session.id(), id) {
            self.send_to(session, &Message::Subscribed { request, subscription: id });
            return None;
        }
        let op = Op::Subscribe { uri: topic.to_owned(), policy, session: session.id(), created: now_iso8601() };
        // Local delivery starts, and SUBSCRIBED is queued, the moment the subscription is
        // applied: SUBSCRIBED always comes before its first EVENT.
        let (me, realm, topic_owned) = (session.clone(), Arc::downgrade(self), topic.to_owned());
        let on_applied = move |outcome: &Outcome| {
            if let (Outcome::Subscribed { sub, .. }, Some(realm)) = (outcome, realm.upgrade()) {
                let mut broker = realm.broker.lock();
                broker.subscribe(&me, &topic_owned, policy, *sub);
                realm.send_to(&me, &Message::Subscribed { request, subscription: *sub });
            }
        };
        let (created, added) = match self.replica().submit_with(op, Box::new(on_applied)).await {
            Ok(Outcome::Subscribed { created, added, .. }) => (created, added),
            _ => return err("wamp.error.network_failure", "the subscription could not be shared with the other pods".into()),
        };
        if get_retained {
            self.send_retained(session, id, topic, policy);
        }
        if created {
            let details = self.replica().read().subscription(id).map(subscription_details).unwrap_or_default();
            self.publish_meta("wamp.subscription.on_create", vec![session.id().into(), details.into()]);
        }
        if added {
            self.publish_meta("wamp.subscription.on_subscribe", vec![session.id().into(), id.into()]);
        }
        Some(id)
    }

    /// Queue the realm's retained events matching a new subscription to its subscriber.
    fn send_retained(&self, session: &SessionHandle, subscription: Id, pattern: &str, policy: MatchPolicy) {
        let events: Vec<(String, Vec<u8>)> = self
            .replica()
            .read()
            .retained()
            .filter(|(topic, _)| uri::matches(pattern, policy, topic))
            .map(|(t, e)| (t.to_owned(), e.to_vec()))
            .collect();
        for (topic, bytes) in events {
            let Ok(r) = rmp_serde::from_slice::<Retained>(&bytes) else { continue };
            let filter = r.filter.as_ref().and_then(|f| Filter::from_options(f).ok().flatten());
            if filter.is_some_and(|f| !f.admits(session)) {
                continue;
            }
            let mut details = r.details;
            details.insert("retained".into(), true.into());
            if policy != MatchPolicy::Exact {
                details.insert("topic".into(), topic.as_str().into());
            }
            let payload = Payload::new(r.args, r.kwargs);
            self.counters.sent_if(session.send_frame(encode_event(subscription, r.publication, &details, &payload, session.serializer)));
        }
    }

    /// UNSUBSCRIBE from a session. Returns true when the session was subscribed.
    pub(crate) async fn handle_unsubscribe(&self, session: &SessionHandle, request: Id, subscription: Id) -> bool {
        self.counters.received();
        if !self.broker.lock().unsubscribe(session.id(), subscription) {
            self.send_to(session, &error_message(MessageType::Unsubscribe, request, "wamp.error.no_such_subscription", String::new()));
            return false;
        }
        self.send_to(session, &Message::Unsubscribed { request, details: None });
        if let Ok(Outcome::Unsubscribed(Some(deleted))) = self.replica().submit(Op::Unsubscribe { sub: subscription, session: session.id() }).await {
            self.publish_meta("wamp.subscription.on_unsubscribe", vec![session.id().into(), subscription.into()]);
            if deleted {
                self.publish_meta("wamp.subscription.on_delete", vec![session.id().into(), subscription.into()]);
            }
        }
        true
    }

    /// PUBLISH from a session, already authorized. `disclose` is the authorizer's verdict.
    pub(crate) async fn handle_publish(&self, session: &SessionHandle, request: Id, options: &Dict, topic: &str, payload: &Payload, disclose: bool) {
        let acknowledge = options.get("acknowledge").and_then(Value::as_bool).unwrap_or(false);
        let err = |error: &str, msg: String| {
            if acknowledge {
                self.send_to(session, &error_message(MessageType::Publish, request, error, msg));
            }
        };
        // Synchronous up to the retained event's op: what is live across the await below
        // sizes every session's task.
        let published = self.publish_now(session, options, topic, payload, disclose);
        let id = match published {
            Ok((id, None)) => id,
            // Stored before PUBLISHED, and in the publisher's order. Boxed: only a retained
            // event waits here.
            Ok((id, Some(op))) => match Box::pin(self.replica().submit(op)).await {
                Ok(_) => id,
                Err(e) => return err("wamp.error.network_failure", format!("the event was delivered but not retained: {e}")),
            },
            Err((error, msg)) => return err(error, msg),
        };
        if acknowledge {
            self.send_to(session, &Message::Published { request, publication: id });
        }
    }

    /// Validates and fans out a PUBLISH: the publication id, and the op that retains the
    /// event realm-wide when it asks for `retain`; or the error to answer.
    fn publish_now(&self, session: &SessionHandle, options: &Dict, topic: &str, payload: &Payload, disclose: bool) -> Result<(Id, Option<Op>), (&'static str, String)> {
        self.counters.received();
        if let Err(e) = uri::validate(topic, MatchPolicy::Exact, false) {
            return Err(("wamp.error.invalid_uri", format!("invalid topic URI: {e}")));
        }
        if uri::is_meta(topic) {
            return Err(("wamp.error.invalid_uri", "the wamp. namespace is reserved for the router".into()));
        }
        let filter = Filter::from_options(options).map_err(|msg| ("wamp.error.invalid_argument", msg))?;
        let mut details = Dict::new();
        if disclose || options.get("disclose_me").and_then(Value::as_bool).unwrap_or(false) {
            details.insert("publisher".into(), session.id().into());
            details.insert("publisher_authid".into(), session.identity.authid.as_str().into());
            details.insert("publisher_authrole".into(), session.identity.authrole.as_str().into());
        }
        let id = random_id();
        let exclude_me = options.get("exclude_me").and_then(Value::as_bool).unwrap_or(true);
        let publication = Publication { id, topic, payload, publisher: Some(session.id()), exclude_me, filter: filter.as_ref(), details };
        self.metrics.publications.inc();
        let retain = options.get("retain").and_then(Value::as_bool).unwrap_or(false);
        Ok((id, self.fan_out(&publication, filter.is_some().then_some(options), retain)))
    }

    /// Deliver to this pod's subscribers and forward once to every other pod with a
    /// matching subscriber. With `retain`, the op that keeps the event realm-wide.
    fn fan_out(&self, p: &Publication<'_>, filter_options: Option<&Dict>, retain: bool) -> Option<Op> {
        self.counters.sent(self.broker.lock().publish(p));
        let pods = self.replica().read().other_pods_for(p.topic, self.pod());
        let filter = || {
            filter_options.map(|o| {
                o.iter()
                    .filter(|(k, _)| k.starts_with("exclude") && k.as_str() != "exclude_me" || k.starts_with("eligible"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<Dict>()
            })
        };
        if !pods.is_empty() {
            let frame = PodMessage::Event {
                publication: p.id,
                topic: p.topic.to_owned(),
                details: p.details.clone(),
                args: p.payload.args.clone(),
                kwargs: p.payload.kwargs.clone(),
                exclude: if p.exclude_me { p.publisher } else { None },
                filter: filter(),
            }
            .encode();
            for pod in pods {
                self.replica().send(pod, frame.clone());
            }
        }
        retain.then(|| {
            let event = Retained { publication: p.id, details: p.details.clone(), args: p.payload.args.clone(), kwargs: p.payload.kwargs.clone(), filter: filter() };
            Op::Retain { topic: p.topic.to_owned(), event: rmp_serde::to_vec_named(&event).expect("retained events serialize") }
        })
    }

    /// An event published on another pod, for this pod's subscribers.
    pub(crate) fn deliver_remote_event(&self, id: Id, topic: &str, details: Dict, payload: Payload, exclude: Option<Id>, filter: Option<&Dict>) {
        let filter = filter.and_then(|f| Filter::from_options(f).ok().flatten());
        let publication = Publication { id, topic, payload: &payload, publisher: exclude, exclude_me: exclude.is_some(), filter: filter.as_ref(), details };
        self.counters.sent(self.broker.lock().publish(&publication));
    }

    /// Publish as the router. Honors `retain` and black/white lists in `options`.
    pub(crate) fn publish_from_router(&self, topic: &str, payload: Payload, options: &Dict) -> Id {
        let id = random_id();
        let filter = Filter::from_options(options).ok().flatten();
        let publication = Publication { id, topic, payload: &payload, publisher: None, exclude_me: false, filter: filter.as_ref(), details: Dict::new() };
        let retain = options.get("retain").and_then(Value::as_bool).unwrap_or(false);
        if let Some(op) = self.fan_out(&publication, filter.is_some().then_some(options), retain) {
            let replica = self.replica().clone();
            tokio::spawn(async move {
                if let Err(e) = replica.submit(op).await {
                    tracing::warn!(error = %e, "retained event not stored");
                }
            });
        }
        id
    }

    pub(crate) fn publish_meta(&self, topic: &str, args: List) {
        self.publish_from_router(topic, Payload::args(args), &Dict::new());
    }

    /// Drop a leaving session's local subscriptions (the registry drops them with the session).
    pub(crate) fn broker_leave(&self, session: &SessionHandle, subscriptions: &[Id]) {
        let mut broker = self.broker.lock();
        for &sub in subscriptions {
            broker.unsubscribe(session.id(), sub);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::test_session;
    use junction_protocol::dict;

    #[test]
    fn local_subscribers_per_subscription() {
        let mut b = Broker::default();
        let (s1, _) = test_session(1, "a", "r");
        let (s2, _) = test_session(2, "b", "r");
        assert!(b.subscribe(&s1, "com.x", MatchPolicy::Exact, 10));
        assert!(b.subscribe(&s2, "com.x", MatchPolicy::Exact, 10));
        // Subscribing twice is idempotent.
        assert!(!b.subscribe(&s1, "com.x", MatchPolicy::Exact, 10));
        assert!(b.is_subscribed(1, 10) && b.is_subscribed(2, 10));
        assert!(b.unsubscribe(1, 10));
        assert!(!b.unsubscribe(1, 10));
        assert!(b.unsubscribe(2, 10));
        assert!(b.subs.is_empty() && b.index.is_empty());
    }

    #[test]
    fn publish_matches_patterns_excludes_publisher_and_filters() {
        let mut b = Broker::default();
        let (pubr, pub_rx) = test_session(1, "alice", "user");
        let (exact, exact_rx) = test_session(2, "bob", "user");
        let (prefix, prefix_rx) = test_session(3, "carol", "admin");
        let (wild, wild_rx) = test_session(4, "dave", "user");
        b.subscribe(&pubr, "com.app.topic", MatchPolicy::Exact, 101);
        b.subscribe(&exact, "com.app.topic", MatchPolicy::Exact, 101);
        b.subscribe(&prefix, "com.app", MatchPolicy::Prefix, 103);
        b.subscribe(&wild, "com..topic", MatchPolicy::Wildcard, 104);
        b.subscribe(&wild, "com.other", MatchPolicy::Exact, 105);

        let payload = Payload::args(vec![1.into()]);
        let mut p = Publication {
            id: 7,
            topic: "com.app.topic",
            payload: &payload,
            publisher: Some(pubr.id()),
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
            b.subscribe(s, "t", MatchPolicy::Exact, 1);
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
}
