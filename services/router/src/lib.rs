//! The Junction WAMP router.
//!
//! Modules, by what they own:
//! - `transport`: the listener's HTTP side (`/healthz`, `/readyz`, WebSocket upgrade and
//!   subprotocol refusal) and the per-connection reader and writer tasks.
//! - `outbox`: the bounded queue of pre-encoded frames between the realm and a writer.
//! - [`session`]: the WAMP session state machine (HELLO .. GOODBYE) run by the reader.
//! - [`realm`]: where realms come from ([`realm::RealmProvider`]) and a realm's state;
//!   `broker`, `dealer` and `meta` own pub/sub, RPC and the meta API inside a realm
//!   (private: the realm is their only entry point, where a backplane will hook in).
//! - [`auth`] / [`authz`]: the authentication and authorization seams, with the static
//!   implementations issue 2 ships.
//! - [`config`]: [`RouterConfig`]; [`router`]: [`Router`], its builder and [`Server`].
//! - [`directory`]: the read-only listing of a realm's sessions and its message counters.
//!
//! # Slow-consumer policy
//! Every session has one outbound queue, bounded by `outbound_queue_messages` frames and
//! `outbound_queue_bytes` bytes. Producers never wait: when a frame does not fit, that
//! session is closed (WebSocket close 1008 "slow consumer"), its queue is freed, the
//! `slow_consumer_closes` metric counts it, and everyone else is unaffected. Router memory
//! per session is thus bounded by the queue limits plus fixed buffers.
//!
//! # Starting a router (tests do exactly this)
//! ```no_run
//! # async fn f() -> std::io::Result<()> {
//! use junction_router::{Router, RouterConfig, config::RealmEntry};
//! let config = RouterConfig {
//!     realms: vec![RealmEntry { uri: "realm1".into(), tenant: "default".into(), anonymous_role: Some("anonymous".into()), principals: vec![] }],
//!     ..Default::default()
//! };
//! let router = Router::builder().config(config).build();
//! let server = router.bind(Some("127.0.0.1:0".parse().unwrap())).await?;
//! let url = server.ws_url(); // ws://127.0.0.1:PORT/ws
//! tokio::spawn(server.run());
//! // ... later
//! router.shutdown();
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod auth;
pub mod authz;
mod broker;
mod cluster;
pub mod config;
mod dealer;
pub mod directory;
pub mod ids;
mod meta;
pub mod metrics;
mod outbox;
pub mod realm;
pub mod router;
pub mod session;
mod transport;

pub use config::RouterConfig;
pub use directory::{Closed, RealmStats, SessionSummary};
pub use realm::{CallError, Realm, RealmConfig, RealmProvider};
pub use router::{Router, RouterBuilder, Server};
pub use session::SessionHandle;
