//! Authorization seam: what the peer may do.
//!
//! Checked on every SUBSCRIBE, PUBLISH, REGISTER and CALL (meta procedures included).
//! [`Authorization::Ready`] is the cached fast path and must cost well under a microsecond;
//! [`Authorization::Pending`] is for cache misses and dynamic authorizers (a procedure the
//! tenant registers). Issue 2 ships [`AllowAll`].

use futures_util::future::BoxFuture;
use junction_protocol::Id;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Call,
    Register,
    Publish,
    Subscribe,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Call => "call",
            Action::Register => "register",
            Action::Publish => "publish",
            Action::Subscribe => "subscribe",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    pub allow: bool,
    /// Disclose the caller / publisher to callees / subscribers even when it did not ask to.
    pub disclose: bool,
}

impl Permission {
    pub const ALLOW: Permission = Permission { allow: true, disclose: false };
    pub const DENY: Permission = Permission { allow: false, disclose: false };
}

pub enum Authorization<'a> {
    Ready(Permission),
    Pending(BoxFuture<'a, Permission>),
}

impl Authorization<'_> {
    pub async fn resolve(self) -> Permission {
        match self {
            Authorization::Ready(p) => p,
            Authorization::Pending(f) => f.await,
        }
    }
}

/// The identity an authorizer decides on. `tenant` is the isolation key.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionIdentity {
    pub realm: String,
    pub tenant: String,
    pub session: Id,
    pub authid: String,
    pub authrole: String,
    pub authmethod: String,
}

pub trait Authorizer: Send + Sync + 'static {
    fn authorize<'a>(&'a self, session: &'a SessionIdentity, uri: &'a str, action: Action) -> Authorization<'a>;
}

/// Everything allowed, nothing disclosed unless the peer asks (`disclose_me`).
#[derive(Debug, Default, Clone, Copy)]
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn authorize<'a>(&'a self, _: &'a SessionIdentity, _: &'a str, _: Action) -> Authorization<'a> {
        Authorization::Ready(Permission::ALLOW)
    }
}
