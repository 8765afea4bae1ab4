//! What pods say to each other about a realm, over [`junction_backplane::Backplane::send`],
//! and how a realm answers it. The registry (who is subscribed, who registered what) is
//! replicated by the backplane; these messages carry the traffic: events to interested
//! pods, and a call's INVOCATION / YIELD / ERROR / INTERRUPT between the caller's and the
//! callee's pod.
//!
//! Encoded once per message with MessagePack (field names kept: pods of different
//! versions may coexist during a rollout).

use bytes::Bytes;
use junction_backplane::{Departure, Op, Outcome, PodId, ReplicaObserver};
use junction_protocol::{Dict, Id, List, Payload};
use serde::{Deserialize, Serialize};

use crate::realm::Realm;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "m", rename_all = "snake_case")]
pub(crate) enum PodMessage {
    /// A publication for this pod's matching subscribers.
    Event {
        publication: Id,
        topic: String,
        details: Dict,
        args: Option<List>,
        kwargs: Option<Dict>,
        /// Set when the publisher asked to be excluded (its id, for `exclude_me`).
        exclude: Option<Id>,
        /// The PUBLISH options that filter subscribers (`exclude`, `eligible`, ...).
        filter: Option<Dict>,
    },
    /// Invoke `callee` (a session of the receiving pod) for call `call` of the sender.
    Invoke { call: Id, callee: Id, registration: Id, details: Dict, args: Option<List>, kwargs: Option<Dict>, receive_progress: bool },
    /// The callee's YIELD (progressive or final) for call `call` of the receiving pod.
    Result { call: Id, progress: bool, args: Option<List>, kwargs: Option<Dict> },
    /// The callee's ERROR for call `call` of the receiving pod, or the router's
    /// (`wamp.error.canceled` when the callee left).
    Error { call: Id, error: String, details: Dict, args: Option<List>, kwargs: Option<Dict> },
    /// Cancel call `call` of the sender: INTERRUPT the callee with `mode`.
    Interrupt { call: Id, mode: String },
    /// Close these sessions of the receiving pod with GOODBYE.
    Kill { sessions: Vec<Id>, reason: String, message: Option<String> },
}

impl PodMessage {
    pub fn encode(&self) -> Bytes {
        Bytes::from(rmp_serde::to_vec_named(self).expect("pod messages always serialize"))
    }
}

pub(crate) fn payload(args: Option<List>, kwargs: Option<Dict>) -> Payload {
    Payload::new(args, kwargs)
}

impl ReplicaObserver for Realm {
    fn applied(&self, op: &Op, outcome: &Outcome, mine: bool) {
        // Another pod's session left, or a pod died (whoever reaped it): calls waiting on
        // those sessions cannot finish. (This pod's own leaves are settled where they happen.)
        if matches!(outcome, Outcome::Left(Some(_)) | Outcome::PodDown(_)) {
            self.departures.notify_waiters();
        }
        match outcome {
            Outcome::Left(Some(d)) if !mine => self.remote_departed(std::slice::from_ref(d)),
            Outcome::PodDown(ds) => {
                self.remote_departed(ds);
                if let Op::PodDown { pod } = op {
                    self.pod_gone(*pod);
                }
            }
            _ => {}
        }
    }

    fn message(&self, from: PodId, frame: Bytes) {
        if self.replica.get().is_none() {
            return; // Nobody can address this pod in a realm it has not finished opening.
        }
        let msg: PodMessage = match rmp_serde::from_slice(&frame) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(realm = self.uri(), from, error = %e, "undecodable message from another pod dropped");
                return;
            }
        };
        self.handle_pod_message(from, msg);
    }

    fn resynced(&self) {
        self.resynced_calls();
    }
}

impl Realm {
    fn remote_departed(&self, departures: &[Departure]) {
        for d in departures {
            self.callee_gone(d.session.id);
        }
    }

    fn handle_pod_message(&self, from: PodId, msg: PodMessage) {
        match msg {
            PodMessage::Event { publication, topic, details, args, kwargs, exclude, filter } => {
                self.deliver_remote_event(publication, &topic, details, payload(args, kwargs), exclude, filter.as_ref());
            }
            PodMessage::Invoke { call, callee, registration, details, args, kwargs, receive_progress } => {
                self.remote_invoke(from, call, callee, registration, details, payload(args, kwargs), receive_progress);
            }
            PodMessage::Result { call, progress, args, kwargs } => self.remote_result(call, progress, payload(args, kwargs)),
            PodMessage::Error { call, error, details, args, kwargs } => self.remote_error(call, error, details, payload(args, kwargs)),
            PodMessage::Interrupt { call, mode } => self.remote_interrupt(from, call, &mode),
            PodMessage::Kill { sessions, reason, message } => {
                self.kill_sessions(|s| sessions.contains(&s.id()), &reason, message.as_deref());
            }
        }
    }
}

/// Realm-wide session details for `wamp.session.get` and `on_join`, as shared with the other pods.
pub(crate) fn session_info(handle: &crate::SessionHandle, pod: PodId, pod_name: &str, joined_at: std::time::SystemTime) -> junction_backplane::SessionInfo {
    junction_backplane::SessionInfo {
        id: handle.id(),
        pod,
        authid: handle.identity.authid.clone(),
        authrole: handle.identity.authrole.clone(),
        details: handle.details().into(),
        pod_name: pod_name.to_owned(),
        joined_at: joined_at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
    }
}
