//! The change feed: the control plane announces every change a router must see
//! (realm settings, roles and rules, credentials), and every router pod listens to drop
//! cached decisions and disconnect sessions whose credential or role went away.
//!
//! The feed is a notification, not the data: a consumer re-reads what it needs from the
//! store. So a lost or duplicated change costs at most a cache refresh, and `Lagged` on a
//! receiver means "forget everything cached" (see [`ChangeReceiver::recv`]).
//!
//! Implementations: [`InProcessFeed`] (one process, the embedded default) here; the Redis
//! feed for many pods lives with the Redis backplane.
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// One change in the control plane. Realms are named by URI: realm URIs are globally unique
/// and that is the name routers know them by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// Realm settings changed (anonymous access, limits, authenticator, ...).
    RealmUpdated { realm: String },
    /// The realm is gone: its sessions must be closed.
    RealmDeleted { realm: String },
    /// A role or any of its permission rules changed (created, edited, deleted rule).
    RoleUpdated { realm: String, role: String },
    /// A role is gone: sessions joined with it must be closed.
    RoleDeleted { realm: String, role: String },
    /// A credential was created or rotated: cached authentication data for this authid is stale.
    CredentialUpdated { realm: String, authid: String },
    /// A credential was revoked or deleted: sessions joined with this authid must be closed.
    CredentialRevoked { realm: String, authid: String },
    /// A tenant is gone, with all its realms.
    TenantDeleted { tenant: String, realms: Vec<String> },
}

impl Change {
    /// The realms this change concerns.
    pub fn realms(&self) -> Vec<&str> {
        match self {
            Change::RealmUpdated { realm }
            | Change::RealmDeleted { realm }
            | Change::RoleUpdated { realm, .. }
            | Change::RoleDeleted { realm, .. }
            | Change::CredentialUpdated { realm, .. }
            | Change::CredentialRevoked { realm, .. } => vec![realm.as_str()],
            Change::TenantDeleted { realms, .. } => realms.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("change feed unavailable: {0}")]
    Unavailable(String),
}

/// Where the control plane announces changes and where routers listen for them.
#[async_trait::async_trait]
pub trait ChangeFeed: Send + Sync + 'static {
    /// Announce a change to every listener (in every pod, for a distributed feed).
    async fn publish(&self, change: Change) -> Result<(), FeedError>;
    /// Listen to changes announced from now on.
    fn subscribe(&self) -> ChangeReceiver;
}

/// What a listener gets from [`ChangeReceiver::recv`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    Change(Change),
    /// Changes were missed (the listener fell behind, or a distributed feed reconnected):
    /// the listener must treat every cached entry as stale.
    Lagged,
    /// The feed is shut down.
    Closed,
}

/// A listener's end of the feed. Distributed feeds deliver into the same broadcast channel.
pub struct ChangeReceiver {
    rx: broadcast::Receiver<Received>,
}

impl ChangeReceiver {
    pub fn new(rx: broadcast::Receiver<Received>) -> Self {
        Self { rx }
    }

    pub async fn recv(&mut self) -> Received {
        match self.rx.recv().await {
            Ok(received) => received,
            Err(broadcast::error::RecvError::Lagged(_)) => Received::Lagged,
            Err(broadcast::error::RecvError::Closed) => Received::Closed,
        }
    }
}

/// The single-process feed: a broadcast channel.
#[derive(Clone)]
pub struct InProcessFeed {
    tx: broadcast::Sender<Received>,
}

/// Bounded so that a stuck listener costs memory up to this many changes, then sees `Lagged`.
const FEED_CAPACITY: usize = 4096;

impl Default for InProcessFeed {
    fn default() -> Self {
        Self::new()
    }
}

impl InProcessFeed {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(FEED_CAPACITY);
        Self { tx }
    }

    /// The sender side, for a distributed feed that injects changes it received from elsewhere
    /// (or `Lagged` after a reconnect).
    pub fn sender(&self) -> broadcast::Sender<Received> {
        self.tx.clone()
    }
}

#[async_trait::async_trait]
impl ChangeFeed for InProcessFeed {
    async fn publish(&self, change: Change) -> Result<(), FeedError> {
        // No listener is not an error: no router has anything cached.
        let _ = self.tx.send(Received::Change(change));
        Ok(())
    }

    fn subscribe(&self) -> ChangeReceiver {
        ChangeReceiver::new(self.tx.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_listener_sees_every_change_in_order() {
        let feed = InProcessFeed::new();
        let mut a = feed.subscribe();
        let mut b = feed.subscribe();
        let c1 = Change::RoleUpdated { realm: "com.acme".into(), role: "backend".into() };
        let c2 = Change::CredentialRevoked { realm: "com.acme".into(), authid: "app1".into() };
        feed.publish(c1.clone()).await.unwrap();
        feed.publish(c2.clone()).await.unwrap();
        for rx in [&mut a, &mut b] {
            assert_eq!(rx.recv().await, Received::Change(c1.clone()));
            assert_eq!(rx.recv().await, Received::Change(c2.clone()));
        }
    }

    #[tokio::test]
    async fn a_listener_that_falls_behind_is_told_to_forget_everything() {
        let feed = InProcessFeed::new();
        let mut slow = feed.subscribe();
        for i in 0..(FEED_CAPACITY + 10) {
            feed.publish(Change::RealmUpdated { realm: format!("r{i}") }).await.unwrap();
        }
        assert_eq!(slow.recv().await, Received::Lagged);
    }

    #[test]
    fn changes_travel_as_tagged_json() {
        let c = Change::RoleDeleted { realm: "com.acme".into(), role: "guest".into() };
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, r#"{"kind":"role_deleted","realm":"com.acme","role":"guest"}"#);
        assert_eq!(serde_json::from_str::<Change>(&json).unwrap(), c);
        assert_eq!(c.realms(), vec!["com.acme"]);
    }
}
