//! The meta API procedures (`wamp.session.*`, `wamp.subscription.*`,
//! `wamp.registration.*`), answered by the router itself. Meta *events* are published by
//! the broker, dealer and realm where the change happens.

use std::sync::Arc;

use junction_protocol::uri::{self, MatchPolicy};
use junction_protocol::{Dict, Id, List, Message, MessageType, Payload, Value, dict};

use std::collections::HashMap;

use junction_backplane::{PodId, SessionInfo};

use crate::broker::subscription_details;
use crate::cluster::PodMessage;
use crate::dealer::registration_details;
use crate::realm::{Realm, Testament};
use crate::session::SessionHandle;

type MetaResult = Result<Payload, (&'static str, String)>;

fn ok(v: impl Into<Value>) -> MetaResult {
    Ok(Payload::args(vec![v.into()]))
}

fn arg(args: &List, i: usize) -> Option<&Value> {
    args.get(i)
}

fn id_arg(args: &List, i: usize, what: &str) -> Result<Id, (&'static str, String)> {
    arg(args, i).and_then(Value::as_u64).ok_or_else(|| ("wamp.error.invalid_argument", format!("expected {what} id as argument {}", i + 1)))
}

fn str_arg<'a>(args: &'a List, i: usize, what: &str) -> Result<&'a str, (&'static str, String)> {
    arg(args, i).and_then(Value::as_str).ok_or_else(|| ("wamp.error.invalid_argument", format!("expected {what} as argument {}", i + 1)))
}

/// Optional `filter_authroles` list argument.
fn role_filter(args: &List) -> Result<Option<Vec<String>>, (&'static str, String)> {
    match args.first() {
        None | Some(Value::Null) => Ok(None),
        Some(Value::List(l)) => Ok(Some(l.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())),
        Some(_) => Err(("wamp.error.invalid_argument", "filter_authroles must be a list of strings".into())),
    }
}

/// `reason` and `message` keyword arguments of the kill procedures.
fn kill_reason(kwargs: &Dict) -> Result<(String, Option<String>), (&'static str, String)> {
    let reason = match kwargs.get("reason") {
        None | Some(Value::Null) => "wamp.close.normal".to_owned(),
        Some(Value::String(r)) if uri::validate(r, MatchPolicy::Exact, false).is_ok() => r.clone(),
        Some(_) => return Err(("wamp.error.invalid_uri", "reason must be a valid URI".into())),
    };
    Ok((reason, kwargs.get("message").and_then(Value::as_str).map(str::to_owned)))
}

fn ids_by_policy(items: impl Iterator<Item = (Id, MatchPolicy)>) -> Value {
    let (mut exact, mut prefix, mut wildcard) = (Vec::new(), Vec::new(), Vec::new());
    for (id, policy) in items {
        match policy {
            MatchPolicy::Exact => exact.push(Value::from(id)),
            MatchPolicy::Prefix => prefix.push(Value::from(id)),
            MatchPolicy::Wildcard => wildcard.push(Value::from(id)),
        }
    }
    Value::dict([("exact", Value::List(exact)), ("prefix", Value::List(prefix)), ("wildcard", Value::List(wildcard))])
}

fn match_policy(v: Option<&Value>) -> Result<MatchPolicy, (&'static str, String)> {
    match v.and_then(Value::as_dict) {
        None => Ok(MatchPolicy::Exact),
        Some(o) => MatchPolicy::from_options(o).ok_or(("wamp.error.invalid_argument", "unknown match policy".into())),
    }
}

impl Realm {
    /// Close the sessions the predicate selects, on whichever pod they are (this pod's at
    /// once, the others' with `PodMessage::Kill` to their pod); how many, and the ids closed
    /// on this pod.
    pub(crate) fn kill_realm_wide(&self, predicate: impl Fn(&SessionInfo) -> bool, reason: &str, message: Option<String>) -> (usize, Vec<Id>) {
        let me = self.pod();
        let mut by_pod: HashMap<PodId, Vec<Id>> = HashMap::new();
        for s in self.replica().read().sessions().filter(|s| predicate(s)) {
            by_pod.entry(s.pod).or_default().push(s.id);
        }
        let (mut count, mut local) = (0, Vec::new());
        for (pod, ids) in by_pod {
            if pod == me {
                local = self.kill_sessions(|s| ids.contains(&s.id()), reason, message.as_deref());
                count += local.len();
            } else {
                count += ids.len();
                self.replica().send(pod, PodMessage::Kill { sessions: ids, reason: reason.to_owned(), message: message.clone() }.encode());
            }
        }
        (count, local)
    }

    /// `kill_realm_wide` from a meta procedure: this pod's victims are retired
    /// before the caller hears back.
    fn kill_by_meta(&self, predicate: impl Fn(&SessionInfo) -> bool, reason: &str, message: Option<String>) -> usize {
        let (count, local) = self.kill_realm_wide(predicate, reason, message);
        self.killed_by_meta.lock().extend(local);
        count
    }

    /// CALL of a `wamp.*` procedure (already authorized): answer RESULT or ERROR.
    pub(crate) async fn handle_meta_call(self: &Arc<Self>, session: &Arc<SessionHandle>, request: Id, procedure: &str, payload: Payload) {
        self.counters.received();
        let result = self.meta_call(session, procedure, payload);
        // Sessions killed here leave the realm before the caller hears back, so what it
        // lists next is exact.
        let killed = std::mem::take(&mut *self.killed_by_meta.lock());
        let departed = self.retire(killed).await;
        let reply = match result {
            Ok(payload) => Message::Result { request, details: Dict::new(), payload },
            Err((error, message)) => crate::session::error_message(MessageType::Call, request, error, message),
        };
        self.send_to(session, &reply);
        for d in &departed {
            self.departed(d);
        }
    }

    fn meta_call(self: &Arc<Self>, session: &Arc<SessionHandle>, procedure: &str, payload: Payload) -> MetaResult {
        let args = payload.args.unwrap_or_default();
        let kwargs = payload.kwargs.unwrap_or_default();
        match procedure {
            "wamp.session.count" | "wamp.session.list" => {
                let roles = role_filter(&args)?;
                let mut ids: Vec<Id> =
                    self.replica().read().sessions().filter(|s| roles.as_ref().is_none_or(|r| r.contains(&s.authrole))).map(|s| s.id).collect();
                if procedure == "wamp.session.count" {
                    return ok(ids.len());
                }
                ids.sort_unstable();
                ok(Value::List(ids.into_iter().map(Value::from).collect()))
            }
            "wamp.session.get" => {
                let id = id_arg(&args, 0, "session")?;
                let details = self.replica().read().session(id).map(|s| s.details.dict());
                details.map(ok).unwrap_or_else(|| Err(("wamp.error.no_such_session", format!("no session {id}"))))
            }
            "wamp.session.kill" => {
                let id = id_arg(&args, 0, "session")?;
                let (reason, message) = kill_reason(&kwargs)?;
                // The caller cannot kill itself: "no *other* session with that id".
                let killed = if id == session.id() { 0 } else { self.kill_by_meta(|s| s.id == id, &reason, message) };
                if killed == 0 { Err(("wamp.error.no_such_session", format!("no session {id}"))) } else { Ok(Payload::default()) }
            }
            "wamp.session.kill_by_authid" | "wamp.session.kill_by_authrole" => {
                let by_authid = procedure.ends_with("authid");
                let value = str_arg(&args, 0, if by_authid { "authid" } else { "authrole" })?.to_owned();
                let (reason, message) = kill_reason(&kwargs)?;
                let me = session.id();
                ok(self.kill_by_meta(|s| s.id != me && if by_authid { s.authid == value } else { s.authrole == value }, &reason, message))
            }
            "wamp.session.kill_all" => {
                let (reason, message) = kill_reason(&kwargs)?;
                let me = session.id();
                ok(self.kill_by_meta(|s| s.id != me, &reason, message))
            }
            "wamp.session.add_testament" => {
                let topic = str_arg(&args, 0, "topic")?;
                if uri::validate(topic, MatchPolicy::Exact, false).is_err() {
                    return Err(("wamp.error.invalid_uri", "invalid testament topic".into()));
                }
                let t_args = arg(&args, 1).and_then(Value::as_list).cloned();
                let t_kwargs = arg(&args, 2).and_then(Value::as_dict).cloned();
                let options = kwargs.get("publish_options").and_then(Value::as_dict).cloned().unwrap_or_default();
                let scope = scope(&kwargs)?;
                let testament = Testament { topic: topic.to_owned(), args: t_args, kwargs: t_kwargs, options };
                if let Some(e) = self.sessions.lock().get_mut(&session.id()) {
                    e.testaments[scope].push(testament);
                }
                self.share_testaments(session.id());
                Ok(Payload::default())
            }
            "wamp.session.flush_testaments" => {
                let scope = scope(&kwargs)?;
                if let Some(e) = self.sessions.lock().get_mut(&session.id()) {
                    e.testaments[scope].clear();
                }
                self.share_testaments(session.id());
                Ok(Payload::default())
            }
            "wamp.subscription.list" => {
                let registry = self.replica().read();
                ok(ids_by_policy(registry.subscriptions().map(|s| (s.id, s.policy))))
            }
            "wamp.subscription.lookup" => {
                let topic = str_arg(&args, 0, "topic")?;
                let policy = match_policy(arg(&args, 1))?;
                ok(self.replica().read().subscription_lookup(topic, policy))
            }
            "wamp.subscription.match" => {
                let topic = str_arg(&args, 0, "topic")?;
                let ids: Vec<Value> = self.replica().read().subscriptions_matching(topic).map(|s| Value::from(s.id)).collect();
                ok(if ids.is_empty() { Value::Null } else { Value::List(ids) })
            }
            "wamp.subscription.get" | "wamp.subscription.list_subscribers" | "wamp.subscription.count_subscribers" => {
                let id = id_arg(&args, 0, "subscription")?;
                let registry = self.replica().read();
                let Some(sub) = registry.subscription(id) else {
                    return Err(("wamp.error.no_such_subscription", format!("no subscription {id}")));
                };
                match procedure {
                    "wamp.subscription.get" => ok(subscription_details(sub)),
                    "wamp.subscription.list_subscribers" => ok(Value::List(sub.members.iter().map(|(s, _)| Value::from(*s)).collect())),
                    _ => ok(sub.members.len()),
                }
            }
            "wamp.registration.list" => {
                let registry = self.replica().read();
                ok(ids_by_policy(registry.registrations().map(|r| (r.id, r.policy))))
            }
            "wamp.registration.lookup" => {
                let procedure = str_arg(&args, 0, "procedure")?;
                let policy = match_policy(arg(&args, 1))?;
                ok(self.replica().read().registration_lookup(procedure, policy))
            }
            "wamp.registration.match" => {
                let procedure = str_arg(&args, 0, "procedure")?;
                ok(self.replica().read().registration_for(procedure).map(|r| r.id))
            }
            "wamp.registration.get" | "wamp.registration.list_callees" | "wamp.registration.count_callees" => {
                let id = id_arg(&args, 0, "registration")?;
                let registry = self.replica().read();
                let Some(reg) = registry.registration(id) else {
                    return Err(("wamp.error.no_such_registration", format!("no registration {id}")));
                };
                match procedure {
                    "wamp.registration.get" => ok(registration_details(reg)),
                    "wamp.registration.list_callees" => ok(Value::List(reg.callees.iter().map(|(s, _)| Value::from(*s)).collect())),
                    _ => ok(reg.callees.len()),
                }
            }
            _ => Err(("wamp.error.no_such_procedure", format!("no meta procedure {procedure}"))),
        }
    }
}

/// Testament scope keyword: index into `SessionEntry::testaments` (0 detached, 1 destroyed).
fn scope(kwargs: &Dict) -> Result<usize, (&'static str, String)> {
    match kwargs.get("scope").and_then(Value::as_str) {
        None | Some("destroyed") => Ok(1),
        Some("detached") => Ok(0),
        Some(_) => Err(("wamp.error.invalid_argument", "scope must be \"detached\" or \"destroyed\"".into())),
    }
}

/// Router roles and features announced in WELCOME.details.roles: exactly what is implemented.
pub(crate) fn router_roles() -> Dict {
    let features = |names: &[&str]| Value::dict([("features", Value::Dict(names.iter().map(|n| ((*n).to_owned(), Value::Bool(true))).collect()))]);
    dict([
        (
            "broker",
            features(&[
                "publisher_identification",
                "publisher_exclusion",
                "subscriber_blackwhite_listing",
                "pattern_based_subscription",
                "subscription_meta_api",
                "event_retention",
                "session_meta_api",
            ]),
        ),
        (
            "dealer",
            features(&[
                "caller_identification",
                "call_canceling",
                "call_timeout",
                "progressive_call_results",
                "pattern_based_registration",
                "shared_registration",
                "registration_meta_api",
                "session_meta_api",
                "testament_meta_api",
            ]),
        ),
    ])
}
