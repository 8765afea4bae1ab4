//! The WAMP protocol as data: no sockets, no clocks, no tasks.
//!
//! - [`value`]: the dynamic value every serializer maps onto.
//! - [`message`]: the WAMP messages and their type codes.
//! - [`codec`]: JSON, MessagePack and CBOR encoding and decoding of whole messages.
//! - [`uri`]: URI validation and exact / prefix / wildcard matching, and an index
//!   that finds every pattern matching a URI (used by broker and dealer).
//!
//! Everything here is deterministic and panic-free on any input, so it can be fuzzed.
#![forbid(unsafe_code)]

pub mod codec;
pub mod message;
pub mod uri;
pub mod value;

pub use codec::{DecodeError, Serializer, decode, decode_text, encode, encode_event, encode_to};
pub use message::{Id, MAX_ID, Message, MessageType, Payload};
pub use uri::{MatchPolicy, UriError, UriIndex};
pub use value::{Dict, List, Value, dict};
