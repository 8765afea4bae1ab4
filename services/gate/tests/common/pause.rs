//! Pause points between a client's authentication and its join, controlled by the test: the
//! router's authenticator is the gate's, wrapped in [`Pausing`], which passes everything
//! through unchanged until a test arms a [`PauseAt`] for the next handshake. The handshake
//! then stops there, the test is told ([`Paused::reached`]), does what it wants (revoke a
//! credential...) and lets it go on ([`Paused::release`]).

use std::sync::Arc;

use async_trait::async_trait;
use junction_protocol::{Dict, Id};
use junction_router::auth::{AuthFailure, AuthStart, Authenticator, Grant, HelloInfo, Identity, JoinCheck, PendingAuth};
use junction_router::realm::RealmConfig;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::GUARD;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseAt {
    /// The gate accepted the AUTHENTICATE (it returned the identity); the router has not
    /// looked at it yet.
    Authenticated,
    /// The router's join-time check (`JoinCheck::admit`) let the session in; it is not in its
    /// realm yet.
    Admitted,
}

struct Armed {
    at: PauseAt,
    reached: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

/// The next handshake to pause, if any.
#[derive(Default)]
pub struct Pauses {
    armed: Mutex<Option<Armed>>,
}

/// An armed pause, as the test holds it.
pub struct Paused {
    reached: oneshot::Receiver<()>,
    release: oneshot::Sender<()>,
}

impl Paused {
    /// Wait until the handshake stopped at the pause point.
    pub async fn reached(&mut self) {
        tokio::time::timeout(GUARD, &mut self.reached).await.expect("pause point reached in time").expect("pause point reached");
    }

    pub fn release(self) {
        let _ = self.release.send(());
    }
}

impl Pauses {
    /// Pause the next handshake that gets to `at`.
    pub fn arm(&self, at: PauseAt) -> Paused {
        let (reached_tx, reached_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        let previous = self.armed.lock().replace(Armed { at, reached: reached_tx, release: release_rx });
        assert!(previous.is_none(), "one pause at a time");
        Paused { reached: reached_rx, release: release_tx }
    }

    fn take(&self, at: PauseAt) -> Option<Armed> {
        let mut armed = self.armed.lock();
        if armed.as_ref().is_some_and(|a| a.at == at) { armed.take() } else { None }
    }

    /// Wrap the grant of an accepted identity if a pause after `admit` is armed.
    fn wrap(&self, mut identity: Identity) -> Identity {
        if let Some(grant) = identity.grant.take() {
            identity.grant = Some(match self.take(PauseAt::Admitted) {
                Some(armed) => Grant::new(PausingCheck { inner: grant, armed: Mutex::new(Some(armed)) }),
                None => grant,
            });
        }
        identity
    }
}

/// The gate's authenticator with the pause points.
pub struct Pausing {
    pub inner: Arc<dyn Authenticator>,
    pub pauses: Arc<Pauses>,
}

#[async_trait]
impl Authenticator for Pausing {
    async fn hello(&self, realm: &RealmConfig, hello: &HelloInfo) -> AuthStart {
        match self.inner.hello(realm, hello).await {
            AuthStart::Accept(identity) => AuthStart::Accept(self.pauses.wrap(identity)),
            AuthStart::Challenge { authmethod, extra, pending } => {
                AuthStart::Challenge { authmethod, extra, pending: Box::new(PausingAuth { inner: pending, pauses: self.pauses.clone() }) }
            }
            reject => reject,
        }
    }
}

struct PausingAuth {
    inner: Box<dyn PendingAuth>,
    pauses: Arc<Pauses>,
}

#[async_trait]
impl PendingAuth for PausingAuth {
    async fn authenticate(self: Box<Self>, signature: String, extra: Dict) -> Result<Identity, AuthFailure> {
        let identity = self.inner.authenticate(signature, extra).await?;
        if let Some(armed) = self.pauses.take(PauseAt::Authenticated) {
            let _ = armed.reached.send(());
            let _ = armed.release.await;
        }
        Ok(self.pauses.wrap(identity))
    }
}

/// Stops the join after the gate's `admit` let it in. `admit` is synchronous (it runs on the
/// join path), so the pause blocks this worker thread, handing its other tasks to another
/// one (`block_in_place`: the tests run on the multi-threaded runtime).
struct PausingCheck {
    inner: Grant,
    armed: Mutex<Option<Armed>>,
}

impl JoinCheck for PausingCheck {
    fn admit(&self) -> Result<(), AuthFailure> {
        self.inner.admit()?;
        let armed = self.armed.lock().take();
        if let Some(armed) = armed {
            let _ = armed.reached.send(());
            tokio::task::block_in_place(|| {
                let _ = tokio::runtime::Handle::current().block_on(armed.release);
            });
        }
        Ok(())
    }

    fn joined(&self, session: Id) -> Option<String> {
        self.inner.joined(session)
    }
}
