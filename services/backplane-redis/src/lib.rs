//! Junction over Redis: the backplane that lets router pods share realms ([`backplane`]:
//! realm op logs, pod-to-pod messages, heartbeats), the control-plane change feed ([`feed`]),
//! both on connections that behave the same on one Redis and on Redis Cluster ([`conn`]).
#![forbid(unsafe_code)]

pub mod backplane;
pub mod conn;
pub mod feed;
#[cfg(feature = "testing")]
pub mod testing;

pub use backplane::{BackplaneConfig, BackplaneStats, RedisBackplane};
pub use conn::{Error, GapReason, Naming, RedisConfig, RedisConn, Subscriber, SubscriberEvent};
pub use feed::RedisFeed;
