//! Dealer: call routing for one realm, on one pod.
//!
//! Registrations are realm-wide and live in the realm's registry replica
//! ([`junction_backplane::Registry`]): the most specific registration wins (exact, then
//! longest prefix, then wildcard) and its invocation policy picks a callee among every
//! pod's. The dealer keeps the calls in flight on this pod: a call whose callee is local is
//! keyed by (callee session, INVOCATION request id); a call whose callee is on another pod
//! by (0, call id) here, and by (callee session, request id) on the callee's pod, which
//! remembers the caller's pod and call id. Reverse indexes find a call from its caller
//! (CANCEL, a caller leaving).

use std::sync::{Arc, Weak};
use std::time::Duration;

use junction_backplane::{InvokePolicy, Op, Outcome, PodId, Registration};
use junction_protocol::uri::{self, MatchPolicy};
use junction_protocol::{Dict, Id, Message, MessageType, Payload, Value};
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

use crate::cluster::PodMessage;
use crate::ids::{IdMap, now_iso8601};
use crate::realm::{CallError, Realm};
use crate::session::{SessionHandle, error_message};

/// `REGISTER.Options.invoke`; `None` when present but unknown.
pub(crate) fn invoke_policy(options: &Dict) -> Option<InvokePolicy> {
    match options.get("invoke") {
        None | Some(Value::Null) => Some(InvokePolicy::Single),
        Some(Value::String(s)) => InvokePolicy::parse(s),
        Some(_) => None,
    }
}

pub(crate) fn registration_details(reg: &Registration) -> Dict {
    junction_protocol::dict([
        ("id", Value::from(reg.id)),
        ("created", reg.created.as_str().into()),
        ("uri", reg.uri.as_str().into()),
        ("match", reg.policy.as_str().into()),
        ("invoke", reg.invoke.as_str().into()),
    ])
}

pub(crate) enum Caller {
    Session(Arc<SessionHandle>),
    /// A router-internal call ([`Realm::call`]).
    Internal(oneshot::Sender<Result<Payload, CallError>>),
    /// A call made on another pod; answers go back there.
    Remote { pod: PodId, call: Id },
}

enum Callee {
    Local(Arc<SessionHandle>),
    Remote { pod: PodId, session: Id },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum CallerKey {
    Session(Id, Id),
    Internal(Id),
    Remote(PodId, Id),
}

struct PendingCall {
    caller: Caller,
    caller_request: Id,
    callee: Callee,
    receive_progress: bool,
    timer: Option<AbortHandle>,
}

impl PendingCall {
    fn caller_key(&self) -> CallerKey {
        match &self.caller {
            Caller::Session(s) => CallerKey::Session(s.id(), self.caller_request),
            Caller::Internal(_) => CallerKey::Internal(self.caller_request),
            Caller::Remote { pod, call } => CallerKey::Remote(*pod, *call),
        }
    }
}

/// Key of a pending call: (local callee session, INVOCATION request id), or (0, call id)
/// for a callee on another pod.
pub(crate) type InvocationKey = (Id, Id);

/// What a caller is told.
enum Answer {
    Result { progress: bool, payload: Payload },
    Error { error: String, details: Dict, payload: Payload },
}

impl Answer {
    fn error(error: &str) -> Answer {
        Answer::Error { error: error.to_owned(), details: Dict::new(), payload: Payload::default() }
    }
}

#[derive(Default)]
pub(crate) struct Dealer {
    pending: IdMap<InvocationKey, PendingCall>,
    by_caller: IdMap<CallerKey, InvocationKey>,
    /// Internal call ids and ids of calls to other pods.
    seq: Id,
}

impl Dealer {
    fn insert(&mut self, key: InvocationKey, call: PendingCall) {
        self.by_caller.insert(call.caller_key(), key);
        self.pending.insert(key, call);
    }

    fn take(&mut self, key: InvocationKey) -> Option<PendingCall> {
        let call = self.pending.remove(&key)?;
        self.by_caller.remove(&call.caller_key());
        Some(call)
    }

    /// Remove every pending call the predicate selects.
    fn take_where(&mut self, select: impl Fn(&InvocationKey, &PendingCall) -> bool) -> Vec<(InvocationKey, PendingCall)> {
        let keys: Vec<InvocationKey> = self.pending.iter().filter(|(k, c)| select(k, c)).map(|(k, _)| *k).collect();
        keys.into_iter().filter_map(|k| self.take(k).map(|c| (k, c))).collect()
    }

    fn next_seq(&mut self) -> Id {
        self.seq += 1;
        self.seq
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CancelMode {
    Skip,
    Kill,
    KillNoWait,
}

impl Realm {
    /// REGISTER from a session. Returns the registration id for the session to remember.
    pub(crate) async fn handle_register(self: &Arc<Self>, session: &Arc<SessionHandle>, request: Id, options: &Dict, procedure: &str) -> Option<Id> {
        self.counters.received();
        let err = |error: &str, msg: String| {
            self.send_to(session, &error_message(MessageType::Register, request, error, msg));
            None
        };
        let Some(policy) = MatchPolicy::from_options(options) else {
            return err("wamp.error.invalid_argument", "unknown match policy".into());
        };
        let Some(invoke) = invoke_policy(options) else {
            return err("wamp.error.invalid_argument", "unknown invocation policy".into());
        };
        if let Err(e) = uri::validate(procedure, policy, false) {
            return err("wamp.error.invalid_uri", format!("invalid procedure URI: {e}"));
        }
        if uri::is_meta(procedure) {
            return err("wamp.error.invalid_uri", "the wamp. namespace is reserved for the router".into());
        }
        let op = Op::Register { uri: procedure.to_owned(), policy, invoke, session: session.id(), created: now_iso8601() };
        // REGISTERED is queued when the registration is applied, before any pod can route
        // an INVOCATION to it.
        let (me, realm) = (session.clone(), Arc::downgrade(self));
        let on_applied = move |outcome: &Outcome| {
            if let (Outcome::Registered(Ok((id, _))), Some(realm)) = (outcome, realm.upgrade()) {
                realm.send_to(&me, &Message::Registered { request, registration: *id });
            }
        };
        match self.replica().submit_with(op, Box::new(on_applied)).await {
            Ok(Outcome::Registered(Ok((id, created)))) => {
                if created {
                    let details = self.replica().read().registration(id).map(registration_details).unwrap_or_default();
                    self.publish_meta("wamp.registration.on_create", vec![session.id().into(), details.into()]);
                }
                self.publish_meta("wamp.registration.on_register", vec![session.id().into(), id.into()]);
                Some(id)
            }
            Ok(Outcome::Registered(Err(e))) => err(e, String::new()),
            Ok(_) | Err(_) => err("wamp.error.network_failure", "the registration could not be shared with the other pods".into()),
        }
    }

    pub(crate) async fn handle_unregister(&self, session: &SessionHandle, request: Id, registration: Id) -> bool {
        self.counters.received();
        match self.replica().submit(Op::Unregister { reg: registration, session: session.id() }).await {
            Ok(Outcome::Unregistered(Some(deleted))) => {
                self.send_to(session, &Message::Unregistered { request, details: None });
                self.publish_meta("wamp.registration.on_unregister", vec![session.id().into(), registration.into()]);
                if deleted {
                    self.publish_meta("wamp.registration.on_delete", vec![session.id().into(), registration.into()]);
                }
                true
            }
            Ok(_) => {
                self.send_to(session, &error_message(MessageType::Unregister, request, "wamp.error.no_such_registration", String::new()));
                false
            }
            Err(_) => {
                self.send_to(session, &error_message(MessageType::Unregister, request, "wamp.error.network_failure", String::new()));
                false
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
        if let Err((error, _)) = self.invoke(Caller::Session(session.clone()), request, procedure, details, receive_progress, payload, timeout) {
            self.send_to(session, &error_message(MessageType::Call, request, error, String::new()));
        }
    }

    /// Route a call: pick the callee (on any pod), send it the INVOCATION, remember the
    /// pending call and arm its timeout. `Err`: the error URI for the caller.
    #[allow(clippy::too_many_arguments)]
    fn invoke(
        self: &Arc<Self>,
        caller: Caller,
        caller_request: Id,
        procedure: &str,
        mut details: Dict,
        receive_progress: bool,
        payload: Payload,
        timeout_ms: u64,
    ) -> Result<InvocationKey, (&'static str, Caller)> {
        let target = {
            let registry = self.replica().read();
            registry.registration_for(procedure).map(|r| (r.id, r.policy, r.pick()))
        };
        let Some((registration, policy, Some((callee, pod)))) = target else {
            return Err(("wamp.error.no_such_procedure", caller));
        };
        if policy != MatchPolicy::Exact {
            details.insert("procedure".into(), procedure.into());
        }
        if receive_progress {
            details.insert("receive_progress".into(), true.into());
        }
        let key = if pod == self.pod() {
            let Some(handle) = self.sessions.lock().get(&callee).map(|e| e.handle.clone()) else {
                return Err(("wamp.error.canceled", caller));
            };
            let mut dealer = self.dealer.lock();
            let request = handle.next_request_id();
            if !handle.send(&Message::Invocation { request, registration, details, payload }) {
                // The callee is closing (or just became a slow consumer): it is going away.
                return Err(("wamp.error.canceled", caller));
            }
            self.counters.sent(1);
            let key = (callee, request);
            dealer.insert(key, PendingCall { caller, caller_request, callee: Callee::Local(handle), receive_progress, timer: None });
            key
        } else {
            let mut dealer = self.dealer.lock();
            let call = dealer.next_seq();
            let key = (0, call);
            let Payload { args, kwargs } = payload;
            self.replica().send(pod, PodMessage::Invoke { call, callee, registration, details, args, kwargs, receive_progress }.encode());
            dealer.insert(key, PendingCall { caller, caller_request, callee: Callee::Remote { pod, session: callee }, receive_progress, timer: None });
            key
        };
        if timeout_ms > 0 {
            // The task only holds a Weak so a closed realm is not kept alive by timers.
            let realm = Arc::downgrade(self);
            let timer = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(timeout_ms)).await;
                if let Some(realm) = Weak::upgrade(&realm) {
                    realm.call_timed_out(key);
                }
            });
            match self.dealer.lock().pending.get_mut(&key) {
                Some(call) => call.timer = Some(timer.abort_handle()),
                None => timer.abort(),
            }
        }
        Ok(key)
    }

    /// Tell a caller (local, internal or on another pod) how its call ended or progressed.
    /// True when a frame was queued for a local session.
    fn answer(&self, caller: Caller, request: Id, answer: Answer) -> bool {
        match (caller, answer) {
            (Caller::Session(s), Answer::Result { progress, payload }) => {
                let details = if progress { junction_protocol::dict([("progress", true)]) } else { Dict::new() };
                s.send(&Message::Result { request, details, payload })
            }
            (Caller::Session(s), Answer::Error { error, details, payload }) => {
                s.send(&Message::Error { request_type: MessageType::Call, request, details, error, payload })
            }
            (Caller::Internal(tx), Answer::Result { payload, .. }) => {
                let _ = tx.send(Ok(payload));
                false
            }
            (Caller::Internal(tx), Answer::Error { error, payload, .. }) => {
                let e = match error.as_str() {
                    "wamp.error.canceled" => CallError::Canceled,
                    "wamp.error.timeout" => CallError::Timeout,
                    _ => CallError::Application { error, payload },
                };
                let _ = tx.send(Err(e));
                false
            }
            (Caller::Remote { pod, call }, Answer::Result { progress, payload }) => {
                let Payload { args, kwargs } = payload;
                self.replica().send(pod, PodMessage::Result { call, progress, args, kwargs }.encode());
                false
            }
            (Caller::Remote { pod, call }, Answer::Error { error, details, payload }) => {
                let Payload { args, kwargs } = payload;
                self.replica().send(pod, PodMessage::Error { call, error, details, args, kwargs }.encode());
                false
            }
        }
    }

    /// A progressive result for the caller of a pending call, if it asked for them.
    fn progress(&self, call: &PendingCall, payload: Payload) {
        if !call.receive_progress {
            return;
        }
        match &call.caller {
            Caller::Session(s) => {
                self.counters.sent_if(s.send(&Message::Result { request: call.caller_request, details: junction_protocol::dict([("progress", true)]), payload }));
            }
            Caller::Remote { pod, call: id } => {
                let Payload { args, kwargs } = payload;
                self.replica().send(*pod, PodMessage::Result { call: *id, progress: true, args, kwargs }.encode());
            }
            Caller::Internal(_) => {}
        }
    }

    /// End a call: stop its timer and answer its caller.
    fn finish(&self, call: PendingCall, answer: Answer) {
        if let Some(t) = &call.timer {
            t.abort();
        }
        self.counters.sent_if(self.answer(call.caller, call.caller_request, answer));
    }

    /// INTERRUPT a call's callee, wherever it is. `key.1` is the INVOCATION request id
    /// (local callee) or the call id (remote callee).
    fn interrupt(&self, call: &PendingCall, key: InvocationKey, mode: &str) {
        match &call.callee {
            Callee::Local(callee) => {
                // Callees that did not announce call_canceling would not understand INTERRUPT.
                if callee.supports_call_canceling() {
                    self.counters.sent_if(callee.send(&Message::Interrupt { request: key.1, options: junction_protocol::dict([("mode", mode)]) }));
                }
            }
            Callee::Remote { pod, .. } => self.replica().send(*pod, PodMessage::Interrupt { call: key.1, mode: mode.to_owned() }.encode()),
        }
    }

    fn call_timed_out(&self, key: InvocationKey) {
        let call = self.dealer.lock().take(key);
        if let Some(call) = call {
            self.interrupt(&call, key, "killnowait");
            self.finish(call, Answer::error("wamp.error.timeout"));
        }
    }

    /// YIELD from a callee.
    pub(crate) fn handle_yield(&self, session: &SessionHandle, request: Id, options: &Dict, payload: Payload) {
        self.counters.received();
        let progress = options.get("progress").and_then(Value::as_bool).unwrap_or(false);
        self.yielded((session.id(), request), progress, payload);
    }

    /// A result (progressive or final) of the pending call `key`, from a local or a remote callee.
    fn yielded(&self, key: InvocationKey, progress: bool, payload: Payload) {
        let mut dealer = self.dealer.lock();
        if progress {
            if let Some(call) = dealer.pending.get(&key) {
                self.progress(call, payload);
            }
            return;
        }
        // Unknown keys are results of calls canceled or timed out: dropped, as the spec says.
        if let Some(call) = dealer.take(key) {
            drop(dealer);
            self.finish(call, Answer::Result { progress: false, payload });
        }
    }

    /// ERROR for an INVOCATION from a callee: passed to the caller unchanged.
    pub(crate) fn handle_invocation_error(&self, session: &SessionHandle, request: Id, details: Dict, error: String, payload: Payload) {
        self.counters.received();
        let call = self.dealer.lock().take((session.id(), request));
        if let Some(call) = call {
            self.finish(call, Answer::Error { error, details, payload });
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
        let Some(&key) = dealer.by_caller.get(&CallerKey::Session(session.id(), request)) else { return };
        let Some(call) = dealer.pending.get(&key) else { return };
        // Without call_canceling on the callee, every mode behaves as skip (a remote callee's
        // pod decides that itself).
        let mode = match &call.callee {
            Callee::Local(c) if !c.supports_call_canceling() => CancelMode::Skip,
            _ => mode,
        };
        if mode == CancelMode::Kill {
            // The callee's answer (ERROR or RESULT) reaches the caller as usual.
            self.interrupt(call, key, "kill");
            return;
        }
        if let Some(call) = dealer.take(key) {
            drop(dealer);
            if mode == CancelMode::KillNoWait {
                self.interrupt(&call, key, "killnowait");
            }
            self.finish(call, Answer::error("wamp.error.canceled"));
        }
    }

    /// Start a router-internal call; see [`Realm::call`].
    pub(crate) fn internal_call(self: &Arc<Self>, procedure: &str, payload: Payload) -> Result<(oneshot::Receiver<Result<Payload, CallError>>, InvocationKey), CallError> {
        let (tx, rx) = oneshot::channel();
        let seq = self.dealer.lock().next_seq();
        match self.invoke(Caller::Internal(tx), seq, procedure, Dict::new(), false, payload, 0) {
            Ok(key) => Ok((rx, key)),
            Err(("wamp.error.no_such_procedure", _)) => Err(CallError::NoSuchProcedure(procedure.to_owned())),
            Err(_) => Err(CallError::Canceled),
        }
    }

    pub(crate) fn cancel_internal_call(&self, key: InvocationKey) {
        let call = self.dealer.lock().take(key);
        if let Some(call) = call {
            self.interrupt(&call, key, "killnowait");
        }
    }

    /// A leaving local session: calls it was serving fail at once with
    /// `wamp.error.canceled`; calls it made are interrupted. (Its registrations leave the
    /// registry with the session.)
    pub(crate) fn dealer_leave(&self, session: &SessionHandle) {
        let sid = session.id();
        let calls = self.dealer.lock().take_where(|key, call| key.0 == sid || matches!(&call.caller, Caller::Session(c) if c.id() == sid));
        for (key, call) in calls {
            if key.0 == sid {
                self.finish(call, Answer::error("wamp.error.canceled"));
            } else {
                if let Some(t) = &call.timer {
                    t.abort();
                }
                self.interrupt(&call, key, "killnowait");
            }
        }
    }

    /// A session of another pod left: calls waiting on it fail with `wamp.error.canceled`.
    pub(crate) fn callee_gone(&self, session: Id) {
        self.fail_remote_calls(|callee| callee == session);
    }

    fn fail_remote_calls(&self, gone: impl Fn(Id) -> bool) {
        let calls = self.dealer.lock().take_where(|_, call| matches!(call.callee, Callee::Remote { session, .. } if gone(session)));
        for (_, call) in calls {
            self.finish(call, Answer::error("wamp.error.canceled"));
        }
    }

    /// Another pod died: calls its sessions made here are interrupted and dropped.
    pub(crate) fn pod_gone(&self, pod: PodId) {
        let calls = self.dealer.lock().take_where(|_, call| matches!(call.caller, Caller::Remote { pod: p, .. } if p == pod));
        for (key, call) in calls {
            self.interrupt(&call, key, "killnowait");
        }
    }

    /// After the registry was rebuilt: calls to callees it no longer has fail.
    pub(crate) fn resynced_calls(&self) {
        // The first reset comes while the realm is being shared: nothing is pending yet.
        let Some(replica) = self.replica.get() else { return };
        let registry = replica.read();
        let present: std::collections::HashSet<Id> = registry.sessions().map(|s| s.id).collect();
        drop(registry);
        self.fail_remote_calls(|callee| !present.contains(&callee));
    }

    /// INVOCATION for a local callee, from a caller on pod `from`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn remote_invoke(&self, from: PodId, call: Id, callee: Id, registration: Id, details: Dict, payload: Payload, receive_progress: bool) {
        let handle = self.sessions.lock().get(&callee).map(|e| e.handle.clone());
        let caller = Caller::Remote { pod: from, call };
        let Some(handle) = handle else {
            self.answer(caller, call, Answer::error("wamp.error.canceled"));
            return;
        };
        let mut dealer = self.dealer.lock();
        let request = handle.next_request_id();
        if !handle.send(&Message::Invocation { request, registration, details, payload }) {
            drop(dealer);
            self.answer(caller, call, Answer::error("wamp.error.canceled"));
            return;
        }
        self.counters.sent(1);
        dealer.insert((callee, request), PendingCall { caller, caller_request: call, callee: Callee::Local(handle), receive_progress, timer: None });
    }

    /// A remote callee's YIELD for call `call` of this pod.
    pub(crate) fn remote_result(&self, call: Id, progress: bool, payload: Payload) {
        self.yielded((0, call), progress, payload);
    }

    pub(crate) fn remote_error(&self, call: Id, error: String, details: Dict, payload: Payload) {
        let c = self.dealer.lock().take((0, call));
        if let Some(c) = c {
            self.finish(c, Answer::Error { error, details, payload });
        }
    }

    /// CANCEL / timeout of call `call` of pod `from`, whose callee is local.
    pub(crate) fn remote_interrupt(&self, from: PodId, call: Id, mode: &str) {
        let mut dealer = self.dealer.lock();
        let Some(&key) = dealer.by_caller.get(&CallerKey::Remote(from, call)) else { return };
        let Some(pending) = dealer.pending.get(&key) else { return };
        let supports = matches!(&pending.callee, Callee::Local(c) if c.supports_call_canceling());
        if mode == "kill" && supports {
            self.interrupt(pending, key, "kill");
            return;
        }
        if let Some(pending) = dealer.take(key) {
            drop(dealer);
            if supports {
                self.interrupt(&pending, key, mode);
            }
            if mode == "kill" || !supports {
                // The caller is waiting for an answer (kill) that this callee cannot give.
                self.finish(pending, Answer::error("wamp.error.canceled"));
            }
        }
    }
}
