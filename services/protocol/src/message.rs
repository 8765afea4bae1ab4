//! WAMP messages (spec: rfc/text/basic/bp_messages.md and the advanced profile).

use crate::value::{Dict, List};

/// Session-, request-, subscription-, registration- and publication ids: integers in [1, 2^53].
pub type Id = u64;

/// The largest id the spec allows (2^53), so that JavaScript peers can hold it exactly.
pub const MAX_ID: Id = 1 << 53;

/// Message type codes as they travel on the wire (first element of the array).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageType {
    Hello = 1,
    Welcome = 2,
    Abort = 3,
    Challenge = 4,
    Authenticate = 5,
    Goodbye = 6,
    Error = 8,
    Publish = 16,
    Published = 17,
    Subscribe = 32,
    Subscribed = 33,
    Unsubscribe = 34,
    Unsubscribed = 35,
    Event = 36,
    Call = 48,
    Cancel = 49,
    Result = 50,
    Register = 64,
    Registered = 65,
    Unregister = 66,
    Unregistered = 67,
    Invocation = 68,
    Interrupt = 69,
    Yield = 70,
}

impl MessageType {
    pub fn from_code(code: u64) -> Option<Self> {
        use MessageType::*;
        Some(match code {
            1 => Hello,
            2 => Welcome,
            3 => Abort,
            4 => Challenge,
            5 => Authenticate,
            6 => Goodbye,
            8 => Error,
            16 => Publish,
            17 => Published,
            32 => Subscribe,
            33 => Subscribed,
            34 => Unsubscribe,
            35 => Unsubscribed,
            36 => Event,
            48 => Call,
            49 => Cancel,
            50 => Result,
            64 => Register,
            65 => Registered,
            66 => Unregister,
            67 => Unregistered,
            68 => Invocation,
            69 => Interrupt,
            70 => Yield,
            _ => return None,
        })
    }

    pub fn code(self) -> u64 {
        self as u64
    }
}

/// Positional application payload. `kwargs` without `args` is sent with an empty `args` list,
/// and empty trailing payload elements are omitted on the wire, as the spec requires.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Payload {
    pub args: Option<List>,
    pub kwargs: Option<Dict>,
}

impl Payload {
    pub fn is_empty(&self) -> bool {
        self.args.as_ref().is_none_or(|a| a.is_empty()) && self.kwargs.as_ref().is_none_or(|k| k.is_empty())
    }

    /// Empty `args` / `kwargs` become `None`: the form the decoder produces, so a
    /// round-tripped message compares equal to its normalised original.
    pub fn new(args: Option<List>, kwargs: Option<Dict>) -> Self {
        Payload { args: args.filter(|a| !a.is_empty()), kwargs: kwargs.filter(|k| !k.is_empty()) }
    }

    pub fn args(args: List) -> Self {
        Payload::new(Some(args), None)
    }

    pub fn kwargs(kwargs: Dict) -> Self {
        Payload::new(None, Some(kwargs))
    }

    pub fn normalized(self) -> Self {
        Payload::new(self.args, self.kwargs)
    }
}

/// One WAMP message. Field names follow the spec's message definitions.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Hello { realm: String, details: Dict },
    Welcome { session: Id, details: Dict },
    Abort { details: Dict, reason: String },
    Challenge { authmethod: String, extra: Dict },
    Authenticate { signature: String, extra: Dict },
    Goodbye { details: Dict, reason: String },
    Error { request_type: MessageType, request: Id, details: Dict, error: String, payload: Payload },
    Publish { request: Id, options: Dict, topic: String, payload: Payload },
    Published { request: Id, publication: Id },
    Subscribe { request: Id, options: Dict, topic: String },
    Subscribed { request: Id, subscription: Id },
    Unsubscribe { request: Id, subscription: Id },
    /// `details` is present only on a router-initiated UNSUBSCRIBED (request 0), per the advanced profile.
    Unsubscribed { request: Id, details: Option<Dict> },
    Event { subscription: Id, publication: Id, details: Dict, payload: Payload },
    Call { request: Id, options: Dict, procedure: String, payload: Payload },
    Cancel { request: Id, options: Dict },
    Result { request: Id, details: Dict, payload: Payload },
    Register { request: Id, options: Dict, procedure: String },
    Registered { request: Id, registration: Id },
    Unregister { request: Id, registration: Id },
    /// `details` is present only on a router-initiated UNREGISTERED (request 0).
    Unregistered { request: Id, details: Option<Dict> },
    Invocation { request: Id, registration: Id, details: Dict, payload: Payload },
    Interrupt { request: Id, options: Dict },
    Yield { request: Id, options: Dict, payload: Payload },
}

impl Message {
    /// The request id this message carries or answers, if any (0 for router-initiated
    /// UNSUBSCRIBED / UNREGISTERED). HELLO..GOODBYE and EVENT have none.
    pub fn request_id(&self) -> Option<Id> {
        match self {
            Message::Hello { .. }
            | Message::Welcome { .. }
            | Message::Abort { .. }
            | Message::Challenge { .. }
            | Message::Authenticate { .. }
            | Message::Goodbye { .. }
            | Message::Event { .. } => None,
            Message::Error { request, .. }
            | Message::Publish { request, .. }
            | Message::Published { request, .. }
            | Message::Subscribe { request, .. }
            | Message::Subscribed { request, .. }
            | Message::Unsubscribe { request, .. }
            | Message::Unsubscribed { request, .. }
            | Message::Call { request, .. }
            | Message::Cancel { request, .. }
            | Message::Result { request, .. }
            | Message::Register { request, .. }
            | Message::Registered { request, .. }
            | Message::Unregister { request, .. }
            | Message::Unregistered { request, .. }
            | Message::Invocation { request, .. }
            | Message::Interrupt { request, .. }
            | Message::Yield { request, .. } => Some(*request),
        }
    }

    /// The application payload, for the message types that carry one.
    pub fn payload(&self) -> Option<&Payload> {
        match self {
            Message::Error { payload, .. }
            | Message::Publish { payload, .. }
            | Message::Event { payload, .. }
            | Message::Call { payload, .. }
            | Message::Result { payload, .. }
            | Message::Invocation { payload, .. }
            | Message::Yield { payload, .. } => Some(payload),
            _ => None,
        }
    }

    pub fn message_type(&self) -> MessageType {
        use MessageType as T;
        match self {
            Message::Hello { .. } => T::Hello,
            Message::Welcome { .. } => T::Welcome,
            Message::Abort { .. } => T::Abort,
            Message::Challenge { .. } => T::Challenge,
            Message::Authenticate { .. } => T::Authenticate,
            Message::Goodbye { .. } => T::Goodbye,
            Message::Error { .. } => T::Error,
            Message::Publish { .. } => T::Publish,
            Message::Published { .. } => T::Published,
            Message::Subscribe { .. } => T::Subscribe,
            Message::Subscribed { .. } => T::Subscribed,
            Message::Unsubscribe { .. } => T::Unsubscribe,
            Message::Unsubscribed { .. } => T::Unsubscribed,
            Message::Event { .. } => T::Event,
            Message::Call { .. } => T::Call,
            Message::Cancel { .. } => T::Cancel,
            Message::Result { .. } => T::Result,
            Message::Register { .. } => T::Register,
            Message::Registered { .. } => T::Registered,
            Message::Unregister { .. } => T::Unregister,
            Message::Unregistered { .. } => T::Unregistered,
            Message::Invocation { .. } => T::Invocation,
            Message::Interrupt { .. } => T::Interrupt,
            Message::Yield { .. } => T::Yield,
        }
    }
}
