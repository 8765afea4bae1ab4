//! Dealer: registrations and call routing for one realm.
//!
//! The most specific registration wins (exact, then longest prefix, then wildcard); a
//! registration can be shared by several callees under one invocation policy. A pending
//! call is keyed by (callee session, INVOCATION request id), with a reverse index from
//! (caller session, CALL request id) for CANCEL.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use junction_protocol::uri::{self, MatchPolicy, UriIndex};
use junction_protocol::{Dict, Id, List, Message, MessageType, Payload, Value};
use rand::Rng;
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

use crate::ids::{now_iso8601, random_id};
use crate::realm::{CallError, Realm};
use crate::session::{SessionHandle, error_message};

/// Shared registration invocation policy (`REGISTER.Options.invoke`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InvokePolicy {
    Single,
    RoundRobin,
    Random,
    First,
    Last,
}

impl InvokePolicy {
    /// `None` when present but unknown.
    pub fn from_options(options: &Dict) -> Option<Self> {
        Some(match options.get("invoke") {
            None | Some(Value::Null) => InvokePolicy::Single,
            Some(Value::String(s)) => match s.as_str() {
                "single" => InvokePolicy::Single,
                "roundrobin" => InvokePolicy::RoundRobin,
                "random" => InvokePolicy::Random,
                "first" => InvokePolicy::First,
                "last" => InvokePolicy::Last,
                _ => return None,
            },
            Some(_) => return None,
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

pub(crate) struct Registration {
    pub id: Id,
    pub uri: String,
    pub policy: MatchPolicy,
    pub invoke: InvokePolicy,
    pub created: String,
    /// In registration order (`first` / `last` / round-robin order depend on it).
    pub callees: Vec<Arc<SessionHandle>>,
    next: usize,
}

impl Registration {
    pub fn details(&self) -> Dict {
        junction_protocol::dict([
            ("id", Value::from(self.id)),
            ("created", self.created.as_str().into()),
            ("uri", self.uri.as_str().into()),
            ("match", self.policy.as_str().into()),
            ("invoke", self.invoke.as_str().into()),
        ])
    }

    /// The callee for the next call, per the invocation policy.
    pub fn pick(&mut self) -> Option<&Arc<SessionHandle>> {
        let n = self.callees.len();
        if n == 0 {
            return None;
        }
        let i = match self.invoke {
            InvokePolicy::Single | InvokePolicy::First => 0,
            InvokePolicy::Last => n - 1,
            InvokePolicy::RoundRobin => {
                let i = self.next % n;
                self.next = (i + 1) % n;
                i
            }
            InvokePolicy::Random => rand::thread_rng().gen_range(0..n),
        };
        self.callees.get(i)
    }
}

pub(crate) enum Caller {
    Session(Arc<SessionHandle>),
    /// A router-internal call ([`Realm::call`]).
    Internal(oneshot::Sender<Result<Payload, CallError>>),
}

struct PendingCall {
    caller: Caller,
    caller_request: Id,
    callee: Arc<SessionHandle>,
    receive_progress: bool,
    timer: Option<AbortHandle>,
}

impl PendingCall {
    fn caller_key(&self) -> (Id, Id) {
        match &self.caller {
            Caller::Session(s) => (s.id(), self.caller_request),
            Caller::Internal(_) => (0, self.caller_request),
        }
    }

    /// Answer the caller with an ERROR (or fail the internal call); true when an ERROR was
    /// queued for a session.
    fn fail(self, error: &str, internal: CallError) -> bool {
        if let Some(t) = &self.timer {
            t.abort();
        }
        match self.caller {
            Caller::Session(s) => s.send(&error_message(MessageType::Call, self.caller_request, error, String::new())),
            Caller::Internal(tx) => {
                let _ = tx.send(Err(internal));
                false
            }
        }
    }
}

/// Key of a pending call: (callee session, INVOCATION request id).
pub(crate) type InvocationKey = (Id, Id);

#[derive(Default)]
pub(crate) struct Dealer {
    index: UriIndex<Id>,
    regs: HashMap<Id, Registration>,
    pending: HashMap<InvocationKey, PendingCall>,
    /// (caller session, CALL request) -> pending call; caller session 0 = internal calls.
    by_caller: HashMap<(Id, Id), InvocationKey>,
    internal_seq: Id,
}

impl Dealer {
    /// Returns (registration id, created) or an error URI.
    pub fn register(&mut self, session: &Arc<SessionHandle>, procedure: &str, policy: MatchPolicy, invoke: InvokePolicy) -> Result<(Id, bool), &'static str> {
        if let Some(&id) = self.index.get(procedure, policy)
            && let Some(reg) = self.regs.get_mut(&id)
        {
            if reg.invoke == InvokePolicy::Single || reg.callees.iter().any(|c| c.id() == session.id()) {
                return Err("wamp.error.procedure_already_exists");
            }
            if reg.invoke != invoke {
                return Err("wamp.error.procedure_exists_with_different_invocation_policy");
            }
            reg.callees.push(session.clone());
            return Ok((id, false));
        }
        let mut id = random_id();
        while self.regs.contains_key(&id) {
            id = random_id();
        }
        self.index.insert(procedure, policy, id);
        self.regs.insert(
            id,
            Registration {
                id,
                uri: procedure.to_owned(),
                policy,
                invoke,
                created: now_iso8601(),
                callees: vec![session.clone()],
                next: 0,
            },
        );
        Ok((id, true))
    }

    /// `None`: not registered by this session; `Some(deleted)`.
    pub fn unregister(&mut self, session: Id, registration: Id) -> Option<bool> {
        let reg = self.regs.get_mut(&registration)?;
        let pos = reg.callees.iter().position(|c| c.id() == session)?;
        reg.callees.remove(pos);
        if reg.callees.is_empty() {
            if let Some(reg) = self.regs.remove(&registration) {
                self.index.remove(&reg.uri, reg.policy);
            }
            return Some(true);
        }
        // Keep round-robin within bounds after a removal.
        if reg.next >= reg.callees.len() {
            reg.next = 0;
        }
        Some(false)
    }

    pub fn get(&self, id: Id) -> Option<&Registration> {
        self.regs.get(&id)
    }

    pub fn lookup(&self, procedure: &str, policy: MatchPolicy) -> Option<Id> {
        self.index.get(procedure, policy).copied()
    }

    pub fn best_match(&self, procedure: &str) -> Option<Id> {
        self.index.best_match(procedure).map(|(_, _, id)| *id)
    }

    /// Registration ids by policy: (exact, prefix, wildcard).
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

    /// Route a call: pick the callee, send it the INVOCATION, remember the pending call.
    /// Returns the pending key, or the error URI for the caller.
    fn invoke(
        &mut self,
        caller: Caller,
        caller_request: Id,
        procedure: &str,
        mut details: Dict,
        receive_progress: bool,
        payload: Payload,
    ) -> Result<InvocationKey, (&'static str, Caller)> {
        let Some(reg) = self.index.best_match(procedure).map(|(_, _, id)| *id).and_then(|id| self.regs.get_mut(&id)) else {
            return Err(("wamp.error.no_such_procedure", caller));
        };
        if reg.policy != MatchPolicy::Exact {
            details.insert("procedure".into(), procedure.into());
        }
        let registration = reg.id;
        let Some(callee) = reg.pick().cloned() else {
            return Err(("wamp.error.no_such_procedure", caller));
        };
        if receive_progress {
            details.insert("receive_progress".into(), true.into());
        }
        let request = callee.next_request_id();
        if !callee.send(&Message::Invocation { request, registration, details, payload }) {
            // The callee is closing (or just became a slow consumer): it is going away.
            return Err(("wamp.error.canceled", caller));
        }
        let key = (callee.id(), request);
        let call = PendingCall { caller, caller_request, callee, receive_progress, timer: None };
        self.by_caller.insert(call.caller_key(), key);
        self.pending.insert(key, call);
        Ok(key)
    }

    fn take(&mut self, key: InvocationKey) -> Option<PendingCall> {
        let call = self.pending.remove(&key)?;
        self.by_caller.remove(&call.caller_key());
        Some(call)
    }
}

/// True when an INTERRUPT was queued.
fn interrupt(callee: &SessionHandle, request: Id, mode: &str) -> bool {
    // Callees that did not announce call_canceling would not understand INTERRUPT.
    callee.supports_call_canceling() && callee.send(&Message::Interrupt { request, options: junction_protocol::dict([("mode", mode)]) })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CancelMode {
    Skip,
    Kill,
    KillNoWait,
}

impl Realm {
    /// REGISTER from a session. Returns the registration id for the session to remember.
    pub(crate) fn handle_register(&self, session: &Arc<SessionHandle>, request: Id, options: &Dict, procedure: &str) -> Option<Id> {
        self.counters.received();
        let err = |error: &str, msg: String| {
            self.send_to(session, &error_message(MessageType::Register, request, error, msg));
            None
        };
        let Some(policy) = MatchPolicy::from_options(options) else {
            return err("wamp.error.invalid_argument", "unknown match policy".into());
        };
        let Some(invoke) = InvokePolicy::from_options(options) else {
            return err("wamp.error.invalid_argument", "unknown invocation policy".into());
        };
        if let Err(e) = uri::validate(procedure, policy, false) {
            return err("wamp.error.invalid_uri", format!("invalid procedure URI: {e}"));
        }
        if uri::is_meta(procedure) {
            return err("wamp.error.invalid_uri", "the wamp. namespace is reserved for the router".into());
        }
        let (id, details) = {
            let mut dealer = self.dealer.lock();
            match dealer.register(session, procedure, policy, invoke) {
                Err(e) => return err(e, String::new()),
                Ok((id, created)) => {
                    // REGISTERED is queued under the lock so no INVOCATION can overtake it.
                    self.send_to(session, &Message::Registered { request, registration: id });
                    (id, created.then(|| dealer.get(id).map(Registration::details).unwrap_or_default()))
                }
            }
        };
        if let Some(details) = details {
            self.publish_meta("wamp.registration.on_create", vec![session.id().into(), details.into()]);
        }
        self.publish_meta("wamp.registration.on_register", vec![session.id().into(), id.into()]);
        Some(id)
    }

    pub(crate) fn handle_unregister(&self, session: &SessionHandle, request: Id, registration: Id) -> bool {
        self.counters.received();
        let outcome = self.dealer.lock().unregister(session.id(), registration);
        match outcome {
            None => {
                self.send_to(session, &error_message(MessageType::Unregister, request, "wamp.error.no_such_registration", String::new()));
                false
            }
            Some(deleted) => {
                self.send_to(session, &Message::Unregistered { request, details: None });
                self.publish_meta("wamp.registration.on_unregister", vec![session.id().into(), registration.into()]);
                if deleted {
                    self.publish_meta("wamp.registration.on_delete", vec![session.id().into(), registration.into()]);
                }
                true
            }
        }
    }

    /// CALL from a session to a non-meta procedure, already authorized.
    pub(crate) fn handle_call(self: &Arc<Self>, session: &Arc<SessionHandle>, request: Id, options: &Dict, procedure: &str, payload: Payload, disclose: bool) {
        self.metrics.calls.inc();
        self.counters.received();
        let mut details = Dict::new();
        if disclose || options.get("disclose_me").and_then(Value::as_bool).unwrap_or(false) {
            details.insert("caller".into(), session.id().into());
            details.insert("caller_authid".into(), session.identity.authid.as_str().into());
            details.insert("caller_authrole".into(), session.identity.authrole.as_str().into());
        }
        let receive_progress = options.get("receive_progress").and_then(Value::as_bool).unwrap_or(false);
        let timeout = options.get("timeout").and_then(Value::as_u64).unwrap_or(0);
        let mut dealer = self.dealer.lock();
        match dealer.invoke(Caller::Session(session.clone()), request, procedure, details, receive_progress, payload) {
            Err((error, _)) => {
                self.send_to(session, &error_message(MessageType::Call, request, error, String::new()));
            }
            Ok(key) if timeout > 0 => {
                self.counters.sent(1); // the INVOCATION
                // Spawning is synchronous, so doing it under the lock is fine; the task
                // only holds a Weak so a closed realm is not kept alive by timers.
                let realm = Arc::downgrade(self);
                let timer = tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(timeout)).await;
                    if let Some(realm) = Weak::upgrade(&realm) {
                        realm.call_timed_out(key);
                    }
                });
                if let Some(call) = dealer.pending.get_mut(&key) {
                    call.timer = Some(timer.abort_handle());
                }
            }
            Ok(_) => self.counters.sent(1), // the INVOCATION
        }
    }

    fn call_timed_out(&self, key: InvocationKey) {
        let mut dealer = self.dealer.lock();
        if let Some(call) = dealer.take(key) {
            self.counters.sent_if(interrupt(&call.callee, key.1, "killnowait"));
            self.counters.sent_if(call.fail("wamp.error.timeout", CallError::Timeout));
        }
    }

    /// YIELD from a callee.
    pub(crate) fn handle_yield(&self, session: &SessionHandle, request: Id, options: &Dict, payload: Payload) {
        self.counters.received();
        let key = (session.id(), request);
        let progress = options.get("progress").and_then(Value::as_bool).unwrap_or(false);
        let mut dealer = self.dealer.lock();
        if progress {
            // Progressive result: forward if the caller asked for them, keep the call open.
            if let Some(call) = dealer.pending.get(&key)
                && let (true, Caller::Session(caller)) = (call.receive_progress, &call.caller)
            {
                self.send_to(caller, &Message::Result { request: call.caller_request, details: junction_protocol::dict([("progress", true)]), payload });
            }
            return;
        }
        // Unknown keys are results of calls canceled or timed out: dropped, as the spec says.
        if let Some(call) = dealer.take(key) {
            if let Some(t) = &call.timer {
                t.abort();
            }
            match call.caller {
                Caller::Session(caller) => {
                    self.send_to(&caller, &Message::Result { request: call.caller_request, details: Dict::new(), payload });
                }
                Caller::Internal(tx) => {
                    let _ = tx.send(Ok(payload));
                }
            }
        }
    }

    /// ERROR for an INVOCATION from a callee: passed to the caller unchanged.
    pub(crate) fn handle_invocation_error(&self, session: &SessionHandle, request: Id, details: Dict, error: String, payload: Payload) {
        self.counters.received();
        let mut dealer = self.dealer.lock();
        if let Some(call) = dealer.take((session.id(), request)) {
            if let Some(t) = &call.timer {
                t.abort();
            }
            match call.caller {
                Caller::Session(caller) => {
                    self.send_to(&caller, &Message::Error { request_type: MessageType::Call, request: call.caller_request, details, error, payload });
                }
                Caller::Internal(tx) => {
                    let _ = tx.send(Err(CallError::Application { error, payload }));
                }
            }
        }
    }

    /// CANCEL from a caller. Default mode: killnowait.
    pub(crate) fn handle_cancel(&self, session: &SessionHandle, request: Id, options: &Dict) {
        self.counters.received();
        let mode = match options.get("mode").and_then(Value::as_str) {
            Some("skip") => CancelMode::Skip,
            Some("kill") => CancelMode::Kill,
            _ => CancelMode::KillNoWait,
        };
        let mut dealer = self.dealer.lock();
        let Some(&key) = dealer.by_caller.get(&(session.id(), request)) else { return };
        let Some(call) = dealer.pending.get(&key) else { return };
        // Without call_canceling on the callee, every mode behaves as skip.
        let mode = if call.callee.supports_call_canceling() { mode } else { CancelMode::Skip };
        match mode {
            CancelMode::Kill => {
                // The callee's answer (ERROR or RESULT) reaches the caller as usual.
                self.counters.sent_if(interrupt(&call.callee, key.1, "kill"));
            }
            CancelMode::Skip | CancelMode::KillNoWait => {
                if let Some(call) = dealer.take(key) {
                    if mode == CancelMode::KillNoWait {
                        self.counters.sent_if(interrupt(&call.callee, key.1, "killnowait"));
                    }
                    self.counters.sent_if(call.fail("wamp.error.canceled", CallError::Canceled));
                }
            }
        }
    }

    /// Start a router-internal call; see [`Realm::call`].
    pub(crate) fn internal_call(&self, procedure: &str, payload: Payload) -> Result<(oneshot::Receiver<Result<Payload, CallError>>, InvocationKey), CallError> {
        let (tx, rx) = oneshot::channel();
        let mut dealer = self.dealer.lock();
        dealer.internal_seq += 1;
        let seq = dealer.internal_seq;
        match dealer.invoke(Caller::Internal(tx), seq, procedure, Dict::new(), false, payload) {
            Ok(key) => {
                self.counters.sent(1); // the INVOCATION
                Ok((rx, key))
            }
            Err(("wamp.error.no_such_procedure", _)) => Err(CallError::NoSuchProcedure(procedure.to_owned())),
            Err(_) => Err(CallError::Canceled),
        }
    }

    pub(crate) fn cancel_internal_call(&self, key: InvocationKey) {
        let call = self.dealer.lock().take(key);
        if let Some(call) = call {
            self.counters.sent_if(interrupt(&call.callee, key.1, "killnowait"));
        }
    }

    /// Drop a leaving session's registrations and settle its pending calls: calls it was
    /// serving fail at once with `wamp.error.canceled`; calls it made are interrupted.
    pub(crate) fn dealer_leave(&self, session: &SessionHandle, registrations: &[Id], events: &mut Vec<(&'static str, List)>) {
        let mut dealer = self.dealer.lock();
        for &reg in registrations {
            if let Some(deleted) = dealer.unregister(session.id(), reg) {
                events.push(("wamp.registration.on_unregister", vec![session.id().into(), reg.into()]));
                if deleted {
                    events.push(("wamp.registration.on_delete", vec![session.id().into(), reg.into()]));
                }
            }
        }
        let sid = session.id();
        let affected: Vec<InvocationKey> = dealer
            .pending
            .iter()
            .filter(|(key, call)| key.0 == sid || matches!(&call.caller, Caller::Session(c) if c.id() == sid))
            .map(|(key, _)| *key)
            .collect();
        for key in affected {
            let Some(call) = dealer.take(key) else { continue };
            if key.0 == sid {
                self.counters.sent_if(call.fail("wamp.error.canceled", CallError::Canceled));
            } else {
                if let Some(t) = &call.timer {
                    t.abort();
                }
                self.counters.sent_if(interrupt(&call.callee, key.1, "killnowait"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::test_session;

    fn reg_with(invoke: InvokePolicy, n: u64) -> (Dealer, Id) {
        let mut d = Dealer::default();
        let mut id = 0;
        for i in 1..=n {
            let (s, _) = test_session(i, "x", "r");
            id = d.register(&s, "com.p", MatchPolicy::Exact, invoke).unwrap().0;
        }
        (d, id)
    }

    fn picks(d: &mut Dealer, id: Id, n: usize) -> Vec<Id> {
        let reg = d.regs.get_mut(&id).unwrap();
        (0..n).map(|_| reg.pick().unwrap().id()).collect()
    }

    #[test]
    fn invoke_policies() {
        let (mut d, id) = reg_with(InvokePolicy::RoundRobin, 3);
        assert_eq!(picks(&mut d, id, 7), [1, 2, 3, 1, 2, 3, 1]);
        let (mut d, id) = reg_with(InvokePolicy::First, 3);
        assert_eq!(picks(&mut d, id, 3), [1, 1, 1]);
        let (mut d, id) = reg_with(InvokePolicy::Last, 3);
        assert_eq!(picks(&mut d, id, 3), [3, 3, 3]);
        let (mut d, id) = reg_with(InvokePolicy::Random, 3);
        let got = picks(&mut d, id, 200);
        assert!((1..=3).all(|i| got.contains(&i)));
        // First / last follow removals (hot standby).
        let (mut d, id) = reg_with(InvokePolicy::First, 3);
        assert_eq!(d.unregister(1, id), Some(false));
        assert_eq!(picks(&mut d, id, 1), [2]);
        // Round-robin stays in bounds after removals.
        let (mut d, id) = reg_with(InvokePolicy::RoundRobin, 3);
        picks(&mut d, id, 2);
        d.unregister(3, id);
        assert_eq!(picks(&mut d, id, 3), [1, 2, 1]);
    }

    #[test]
    fn single_and_conflicting_policies_are_refused() {
        let mut d = Dealer::default();
        let (a, _) = test_session(1, "a", "r");
        let (b, _) = test_session(2, "b", "r");
        d.register(&a, "com.p", MatchPolicy::Exact, InvokePolicy::Single).unwrap();
        assert_eq!(d.register(&b, "com.p", MatchPolicy::Exact, InvokePolicy::Single), Err("wamp.error.procedure_already_exists"));
        assert_eq!(d.register(&b, "com.p", MatchPolicy::Exact, InvokePolicy::RoundRobin), Err("wamp.error.procedure_already_exists"));
        d.register(&a, "com.q", MatchPolicy::Exact, InvokePolicy::RoundRobin).unwrap();
        assert_eq!(
            d.register(&b, "com.q", MatchPolicy::Exact, InvokePolicy::Random),
            Err("wamp.error.procedure_exists_with_different_invocation_policy")
        );
        assert_eq!(d.register(&a, "com.q", MatchPolicy::Exact, InvokePolicy::RoundRobin), Err("wamp.error.procedure_already_exists"));
        // Same URI under another match policy is another registration.
        assert!(d.register(&b, "com.p", MatchPolicy::Prefix, InvokePolicy::Single).is_ok());
    }

    #[test]
    fn most_specific_registration_wins() {
        let mut d = Dealer::default();
        let (a, _) = test_session(1, "a", "r");
        let exact = d.register(&a, "com.app.proc", MatchPolicy::Exact, InvokePolicy::Single).unwrap().0;
        let short = d.register(&a, "com.app", MatchPolicy::Prefix, InvokePolicy::Single).unwrap().0;
        let long = d.register(&a, "com.app.pr", MatchPolicy::Prefix, InvokePolicy::Single).unwrap().0;
        let wild = d.register(&a, "com..proc", MatchPolicy::Wildcard, InvokePolicy::Single).unwrap().0;
        assert_eq!(d.best_match("com.app.proc"), Some(exact));
        assert_eq!(d.best_match("com.app.proc2"), Some(long));
        assert_eq!(d.best_match("com.app.x"), Some(short));
        assert_eq!(d.best_match("com.other.proc"), Some(wild));
        assert_eq!(d.best_match("org.x"), None);
    }

    #[test]
    fn invocation_carries_procedure_for_patterns_and_result_flows_back() {
        let mut d = Dealer::default();
        let (callee, callee_rx) = test_session(1, "a", "r");
        let (caller, caller_rx) = test_session(2, "b", "r");
        d.register(&callee, "com.app", MatchPolicy::Prefix, InvokePolicy::Single).unwrap();
        let key = d.invoke(Caller::Session(caller.clone()), 5, "com.app.x", Dict::new(), false, Payload::args(vec![1.into()])).ok().unwrap();
        let inv = callee_rx.messages();
        assert!(matches!(&inv[..], [Message::Invocation { request, details, .. }]
            if *request == key.1 && details.get("procedure").and_then(Value::as_str) == Some("com.app.x")));
        assert!(d.by_caller.contains_key(&(2, 5)));
        assert!(d.take(key).is_some());
        assert!(d.by_caller.is_empty());
        assert!(caller_rx.messages().is_empty());
    }
}
