//! Redis under Junction's backplane: connections that behave the same on one Redis and on
//! Redis Cluster ([`conn`]), and the control-plane change feed over Redis ([`feed`]).
//!
//! The Redis backplane (event fan-out, RPC forwarding, the realm-wide registry, pod liveness)
//! stands on [`conn::RedisConn`], [`conn::Subscriber`] and the key layout of [`conn::Naming`].
#![forbid(unsafe_code)]

pub mod conn;
pub mod feed;
#[cfg(feature = "testing")]
pub mod testing;

pub use conn::{Error, GapReason, Naming, RedisConfig, RedisConn, Subscriber, SubscriberEvent};
pub use feed::RedisFeed;
