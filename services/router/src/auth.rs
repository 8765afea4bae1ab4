//! Authentication seam: who the peer is.
//!
//! The session layer owns the HELLO -> (CHALLENGE -> AUTHENTICATE ->) WELCOME | ABORT state
//! machine and its deadline; an [`Authenticator`] owns the method. Issue 2 ships
//! [`StaticAuthenticator`] (anonymous where the realm allows it, ticket principals from the
//! static config); the store-backed authenticator plugs in through the same trait.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use junction_protocol::{Dict, Id};

use crate::config::RealmEntry;
use crate::realm::RealmConfig;

/// What the client said in HELLO, plus where it connects from.
#[derive(Debug, Clone)]
pub struct HelloInfo {
    pub realm: String,
    /// `HELLO.Details.authmethods`, in the client's order of preference (empty = anonymous).
    pub authmethods: Vec<String>,
    pub authid: Option<String>,
    pub authrole: Option<String>,
    pub authextra: Dict,
    /// The whole `HELLO.Details` (roles, agent, ...).
    pub details: Dict,
    pub peer: SocketAddr,
    /// The session id WELCOME will carry (drawn before authentication, so that a WAMP-CRA
    /// challenge can name it).
    pub session: Id,
}

/// The authenticated principal; WELCOME announces exactly these fields but `grant`.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub authid: String,
    pub authrole: String,
    pub authmethod: String,
    pub authprovider: String,
    pub authextra: Dict,
    /// What the authentication was granted on, checked again when the session joins its
    /// realm (see [`JoinCheck`]); `None`: nothing to check.
    pub grant: Option<Grant>,
}

/// A check the authenticator wants made when the session joins its realm, carried by the
/// [`Identity`] it accepted (so it reaches the session layer through any authenticator that
/// wraps another).
///
/// What a session authenticated with (a credential, a signing key, its role, the realm) may
/// be revoked after the authenticator accepted it but before the session is in its realm,
/// where revocation sweeps ([`crate::Router::kill_sessions`]) find sessions. The session
/// layer therefore asks twice:
/// - [`JoinCheck::admit`] right before it adds the session to the realm: `Err` answers
///   ABORT(failure) instead of WELCOME;
/// - [`JoinCheck::joined`] once the session is in the realm (a sweep from now on sees it):
///   `Some(reason)` closes it with GOODBYE(reason), for a revocation that came after `admit`.
///
/// An implementation is race-free if it records a revocation before it sweeps: a revocation
/// recorded after `joined` is followed by a sweep that sees the session. Both calls are on
/// the join path: in memory, short, never waiting.
pub trait JoinCheck: Send + Sync + 'static {
    fn admit(&self) -> Result<(), AuthFailure>;
    /// `session`: the id the session joined with (WELCOME's).
    fn joined(&self, session: Id) -> Option<String>;
}

/// A shared [`JoinCheck`], as [`Identity::grant`] holds it. Equal only to its clones.
#[derive(Clone)]
pub struct Grant(Arc<dyn JoinCheck>);

impl Grant {
    pub fn new(check: impl JoinCheck) -> Self {
        Grant(Arc::new(check))
    }

    pub fn admit(&self) -> Result<(), AuthFailure> {
        self.0.admit()
    }

    pub fn joined(&self, session: Id) -> Option<String> {
        self.0.joined(session)
    }
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Grant(..)")
    }
}

impl PartialEq for Grant {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Why a HELLO or AUTHENTICATE was refused. `reason` goes into ABORT.Reason.
/// `message` must not reveal which part of the credentials was wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthFailure {
    /// `wamp.error.not_authorized` | `wamp.error.authentication_failed` | `wamp.error.no_auth_method`
    pub reason: String,
    pub message: String,
}

impl AuthFailure {
    pub fn new(reason: &str, message: impl Into<String>) -> Self {
        AuthFailure { reason: reason.to_owned(), message: message.into() }
    }
}

pub enum AuthStart {
    Accept(Identity),
    /// Send CHALLENGE(authmethod, extra); the AUTHENTICATE answer goes to `pending`.
    Challenge { authmethod: String, extra: Dict, pending: Box<dyn PendingAuth> },
    Reject(AuthFailure),
}

/// The second half of a challenge-response authentication.
#[async_trait]
pub trait PendingAuth: Send {
    async fn authenticate(self: Box<Self>, signature: String, extra: Dict) -> Result<Identity, AuthFailure>;
}

#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    async fn hello(&self, realm: &RealmConfig, hello: &HelloInfo) -> AuthStart;
}

/// A ticket principal of the static config.
#[derive(Debug, Clone)]
struct TicketPrincipal {
    ticket: String,
    role: String,
}

/// Anonymous (where `RealmConfig::anonymous_role` is set) and ticket principals from the
/// static config file. Tries the client's authmethods in its order of preference.
#[derive(Debug, Default)]
pub struct StaticAuthenticator {
    /// realm uri -> authid -> principal
    tickets: HashMap<String, HashMap<String, TicketPrincipal>>,
}

impl StaticAuthenticator {
    pub fn new(realms: &[RealmEntry]) -> Self {
        let tickets = realms
            .iter()
            .map(|r| {
                let principals = r
                    .principals
                    .iter()
                    .map(|p| (p.authid.clone(), TicketPrincipal { ticket: p.ticket.clone(), role: p.role.clone() }))
                    .collect();
                (r.uri.clone(), principals)
            })
            .collect();
        StaticAuthenticator { tickets }
    }
}

#[async_trait]
impl Authenticator for StaticAuthenticator {
    async fn hello(&self, realm: &RealmConfig, hello: &HelloInfo) -> AuthStart {
        // No authmethods at all means anonymous (basic profile).
        let anonymous_only = [String::from("anonymous")];
        let methods: &[String] = if hello.authmethods.is_empty() { &anonymous_only } else { &hello.authmethods };
        for method in methods {
            match method.as_str() {
                "ticket" => {
                    let Some(authid) = hello.authid.as_deref() else { continue };
                    let principal = self.tickets.get(&realm.uri).and_then(|p| p.get(authid)).cloned();
                    // An unknown authid still gets a challenge, so that a probe cannot tell
                    // unknown principals from wrong tickets.
                    return AuthStart::Challenge {
                        authmethod: "ticket".into(),
                        extra: Dict::new(),
                        pending: Box::new(PendingTicket { authid: authid.to_owned(), principal }),
                    };
                }
                "anonymous" => {
                    if let Some(role) = &realm.anonymous_role {
                        return AuthStart::Accept(Identity {
                            authid: anonymous_authid(),
                            authrole: role.clone(),
                            authmethod: "anonymous".into(),
                            authprovider: "static".into(),
                            authextra: Dict::new(),
                            grant: None,
                        });
                    }
                }
                _ => {}
            }
        }
        AuthStart::Reject(AuthFailure::new(
            "wamp.error.no_auth_method",
            "none of the offered authentication methods is available on this realm",
        ))
    }
}

struct PendingTicket {
    authid: String,
    principal: Option<TicketPrincipal>,
}

#[async_trait]
impl PendingAuth for PendingTicket {
    async fn authenticate(self: Box<Self>, signature: String, _extra: Dict) -> Result<Identity, AuthFailure> {
        match self.principal {
            Some(p) if constant_time_eq(p.ticket.as_bytes(), signature.as_bytes()) => Ok(Identity {
                authid: self.authid,
                authrole: p.role,
                authmethod: "ticket".into(),
                authprovider: "static".into(),
                authextra: Dict::new(),
                grant: None,
            }),
            _ => Err(AuthFailure::new("wamp.error.authentication_failed", "invalid credentials")),
        }
    }
}

/// Compare secrets without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A random authid for an anonymous session (never taken from the client: authids feed
/// authorization and black/white lists, so they must not be spoofable).
fn anonymous_authid() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    let mut s = String::with_capacity(14);
    for i in 0..12 {
        if i == 4 || i == 8 {
            s.push('-');
        }
        s.push(ALPHABET[rng.gen_range(0..ALPHABET.len())] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Principal;

    fn realm(anon: Option<&str>) -> RealmConfig {
        RealmConfig { uri: "realm1".into(), tenant: "t".into(), anonymous_role: anon.map(Into::into) }
    }

    fn hello(methods: &[&str], authid: Option<&str>) -> HelloInfo {
        HelloInfo {
            realm: "realm1".into(),
            authmethods: methods.iter().map(|s| s.to_string()).collect(),
            authid: authid.map(Into::into),
            authrole: None,
            authextra: Dict::new(),
            details: Dict::new(),
            peer: "127.0.0.1:1".parse().unwrap(),
            session: 1,
        }
    }

    fn auth() -> StaticAuthenticator {
        StaticAuthenticator::new(&[RealmEntry {
            uri: "realm1".into(),
            tenant: "t".into(),
            anonymous_role: None,
            principals: vec![Principal { authid: "alice".into(), ticket: "s3cret".into(), role: "user".into() }],
        }])
    }

    #[tokio::test]
    async fn anonymous_needs_realm_permission() {
        let a = auth();
        assert!(matches!(a.hello(&realm(None), &hello(&[], None)).await, AuthStart::Reject(f) if f.reason == "wamp.error.no_auth_method"));
        match a.hello(&realm(Some("anonymous")), &hello(&[], None)).await {
            AuthStart::Accept(id) => {
                assert_eq!(id.authrole, "anonymous");
                assert_eq!(id.authmethod, "anonymous");
            }
            _ => panic!("expected accept"),
        }
    }

    #[tokio::test]
    async fn ticket_right_and_wrong() {
        let a = auth();
        let AuthStart::Challenge { authmethod, pending, .. } = a.hello(&realm(None), &hello(&["ticket"], Some("alice"))).await else {
            panic!("expected challenge")
        };
        assert_eq!(authmethod, "ticket");
        let id = pending.authenticate("s3cret".into(), Dict::new()).await.unwrap();
        assert_eq!((id.authid.as_str(), id.authrole.as_str()), ("alice", "user"));

        let AuthStart::Challenge { pending, .. } = a.hello(&realm(None), &hello(&["ticket"], Some("alice"))).await else { panic!() };
        assert_eq!(pending.authenticate("nope".into(), Dict::new()).await.unwrap_err().reason, "wamp.error.authentication_failed");

        let AuthStart::Challenge { pending, .. } = a.hello(&realm(None), &hello(&["ticket"], Some("mallory"))).await else { panic!() };
        assert!(pending.authenticate("s3cret".into(), Dict::new()).await.is_err());
    }

    #[tokio::test]
    async fn ticket_without_authid_falls_back_to_next_method() {
        let a = auth();
        assert!(matches!(a.hello(&realm(Some("anonymous")), &hello(&["ticket", "anonymous"], None)).await, AuthStart::Accept(_)));
    }
}
