//! Router authentication and authorization, as pure cores the router seams plug into.
//!
//! Nothing here knows the store or the router: the store-backed `Authenticator` /
//! `Authorizer` (later, in this crate) feed these cores with credentials and rules read from
//! `junction-store` and map their results onto the router's types.
//!
//! - [`rules`]: a role's permission rules (Crossbar.io shape), compiled into a [`RuleSet`]
//!   that decides `(uri, action)` with most-specific-wins.
//! - [`crossbar`]: Crossbar.io `config.json` role import into [`RoleDef`]s.
//! - [`cache`]: the per-pod authorization cache, `(realm, role) -> Arc<RuleSet>`, lock-free
//!   on a hit, invalidated by the change feed.
//! - [`cra`]: WAMP-CRA challenges and verification (plain and PBKDF2-salted secrets).
//! - [`cryptosign`]: WAMP-cryptosign (Ed25519) challenges and verification.
//! - [`jwt`]: JWTs as tickets, verified against a realm's keys (HS256, RS256, EdDSA).
//! - [`ticket`]: ticket verification against argon2 hashes, with a short-lived cache.
//! - [`limiter`]: log-in attempt rate limiting per authid and per IP, bounded memory.
//! - [`secret`]: a string wrapper that never prints and is wiped on drop.
//!
//! CPU-heavy calls (argon2, PBKDF2, RSA) are synchronous and say so: callers run them in
//! `spawn_blocking`, never on the async runtime.
#![forbid(unsafe_code)]

mod bounded;
pub mod cache;
pub mod cra;
pub mod crossbar;
pub mod cryptosign;
pub mod jwt;
pub mod limiter;
pub mod rules;
pub mod secret;
pub mod ticket;

pub use cache::{AuthzCache, CacheError, RuleLoader};
pub use crossbar::{ImportError, RoleDef};
pub use rules::{Action, Allow, Disclose, Permission, Rule, RuleError, RuleSet};
pub use secret::Secret;

/// Compare secrets (or MACs) without an early exit on the first differing byte.
/// Lengths are not secret here: every caller compares fixed-size digests or public lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
