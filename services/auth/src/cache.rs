//! The per-pod authorization cache: `(realm, role) -> Arc<RuleSet>`.
//!
//! Every SUBSCRIBE, PUBLISH, REGISTER and CALL asks it, so the hit path
//! ([`AuthzCache::try_decide`]) neither awaits nor locks: the map is an immutable snapshot
//! behind an [`ArcSwap`] (readers load a pointer; writers copy the small realm-level map
//! and swap). Writes are rare: a miss (first session of a role on this pod) or a change.
//!
//! Misses load through a [`RuleLoader`] (the store, later), one load per key at a time: a
//! thousand sessions of a fresh role share one store read. Invalidation follows the change
//! feed ([`AuthzCache::apply`]): `RoleUpdated` / `RoleDeleted` drop the role,
//! `RealmDeleted` / `TenantDeleted` the realm's roles, `Lagged` (changes missed) and `Closed`
//! everything. A load that races with an invalidation is served but not cached: a
//! generation counter, bumped before every invalidation and checked inside the swap, tells
//! that the rules may predate the change.
//!
//! A role that does not exist caches as an empty rule set (deny all), so a session with a
//! stale role cannot hammer the store; creating the role announces `RoleUpdated`. Load
//! errors are not cached: the caller is denied this time and the next call retries.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use junction_changefeed::{Change, ChangeReceiver, Received};
use parking_lot::Mutex;
use tokio::sync::OnceCell;

use crate::rules::{Action, Permission, Rule, RuleError, RuleSet};

/// Where the cache reads a role's rules on a miss.
#[async_trait]
pub trait RuleLoader: Send + Sync + 'static {
    /// The rules of `role` in `realm`, or `None` when the realm or the role does not exist.
    async fn load(&self, realm: &str, role: &str) -> Result<Option<Vec<Rule>>, LoadError>;
}

/// A loader failure (store unreachable, ...). The text is for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(pub String);

/// The future a [`FnLoader`] closure returns.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A [`RuleLoader`] from a closure returning a future (tests, simple wiring).
pub struct FnLoader<F>(pub F);

#[async_trait]
impl<F> RuleLoader for FnLoader<F>
where
    F: Fn(String, String) -> BoxFuture<Result<Option<Vec<Rule>>, LoadError>> + Send + Sync + 'static,
{
    async fn load(&self, realm: &str, role: &str) -> Result<Option<Vec<Rule>>, LoadError> {
        (self.0)(realm.to_owned(), role.to_owned()).await
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    #[error("loading the role's rules failed: {0}")]
    Load(#[from] LoadError),
    #[error("the role's stored rules do not compile: {0}")]
    Invalid(#[from] RuleError),
}

/// Most (realm, role) entries kept; past it the cache starts over (hot roles come back on
/// their next miss). Bounds memory against a pod that sees very many distinct roles.
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;

type RoleMap = HashMap<Arc<str>, Arc<RuleSet>>;

#[derive(Default, Clone)]
struct Snapshot {
    realms: HashMap<Arc<str>, Arc<RoleMap>>,
    entries: usize,
}

type Key = (Arc<str>, Arc<str>);
type Flight = Arc<OnceCell<Result<Arc<RuleSet>, CacheError>>>;

struct Inner {
    map: ArcSwap<Snapshot>,
    /// Bumped before each invalidation; a load inserts only if it did not move meanwhile.
    generation: AtomicU64,
    loader: Arc<dyn RuleLoader>,
    /// Loads in progress, so concurrent misses of one key share a load. A short std-style
    /// critical section (no await inside), only on misses.
    inflight: Mutex<HashMap<Key, Flight>>,
    max_entries: usize,
}

/// Cheap to clone: a handle on the pod's shared cache.
#[derive(Clone)]
pub struct AuthzCache {
    inner: Arc<Inner>,
}

impl AuthzCache {
    pub fn new(loader: Arc<dyn RuleLoader>) -> Self {
        Self::with_max_entries(loader, DEFAULT_MAX_ENTRIES)
    }

    pub fn with_max_entries(loader: Arc<dyn RuleLoader>, max_entries: usize) -> Self {
        AuthzCache {
            inner: Arc::new(Inner {
                map: ArcSwap::from_pointee(Snapshot::default()),
                generation: AtomicU64::new(0),
                loader,
                inflight: Mutex::new(HashMap::new()),
                max_entries: max_entries.max(1),
            }),
        }
    }

    /// The cached rule set, if any. No await, no lock.
    pub fn get(&self, realm: &str, role: &str) -> Option<Arc<RuleSet>> {
        self.inner.map.load().realms.get(realm)?.get(role).cloned()
    }

    /// The decision from the cache, or `None` on a miss (then use [`AuthzCache::decide`]).
    /// This is the router's `Authorization::Ready` path: no await, no lock, no allocation.
    #[inline]
    pub fn try_decide(&self, realm: &str, role: &str, uri: &str, action: Action) -> Option<Permission> {
        let snapshot = self.inner.map.load();
        let set = snapshot.realms.get(realm)?.get(role)?;
        Some(set.decide(uri, action))
    }

    /// The decision, loading the role on a miss. Fails closed: a load error denies (and is
    /// logged), it is not cached.
    pub async fn decide(&self, realm: &str, role: &str, uri: &str, action: Action) -> Permission {
        if let Some(p) = self.try_decide(realm, role, uri, action) {
            return p;
        }
        match self.load(realm, role).await {
            Ok(set) => set.decide(uri, action),
            Err(e) => {
                tracing::warn!(realm, role, error = %e, "authorization rules unavailable: denying");
                Permission::DENY
            }
        }
    }

    /// The role's rule set from the cache, else from the loader (one load per key at a time).
    pub async fn load(&self, realm: &str, role: &str) -> Result<Arc<RuleSet>, CacheError> {
        if let Some(set) = self.get(realm, role) {
            return Ok(set);
        }
        let key: Key = (Arc::from(realm), Arc::from(role));
        let flight = self.inner.inflight.lock().entry(key.clone()).or_default().clone();
        // If the task running the load is dropped (its session went away), the next waiter
        // takes over: `OnceCell::get_or_init` is cancel-safe that way.
        let result = flight
            .get_or_init(|| async {
                let generation = self.inner.generation.load(Ordering::SeqCst);
                let result = match self.inner.loader.load(realm, role).await {
                    Ok(Some(rules)) => RuleSet::compile(rules).map(Arc::new).map_err(CacheError::from),
                    Ok(None) => Ok(Arc::new(RuleSet::empty())),
                    Err(e) => Err(CacheError::from(e)),
                };
                if let Ok(set) = &result {
                    self.insert(&key, set.clone(), generation);
                }
                result
            })
            .await
            .clone();
        let mut inflight = self.inner.inflight.lock();
        if inflight.get(&key).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
            inflight.remove(&key);
        }
        result
    }

    fn insert(&self, key: &Key, set: Arc<RuleSet>, generation: u64) {
        let max = self.inner.max_entries;
        self.inner.map.rcu(|snapshot| {
            // Checked inside the swap: an invalidation that lands between the check and the
            // store makes `rcu` retry, and the retry sees the new generation.
            if self.inner.generation.load(Ordering::SeqCst) != generation {
                return Arc::clone(snapshot);
            }
            let mut next = if snapshot.entries >= max { Snapshot::default() } else { Snapshot::clone(snapshot) };
            let roles = next.realms.entry(key.0.clone()).or_default();
            if Arc::make_mut(roles).insert(key.1.clone(), set.clone()).is_none() {
                next.entries += 1;
            }
            Arc::new(next)
        });
    }

    /// Drop entries for which `drop_it(realm, role)` holds (all of a realm's with `role: None`).
    fn invalidate(&self, drop_realm: impl Fn(&str) -> bool, role: Option<&str>) {
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        self.inner.map.rcu(|snapshot| {
            let mut next = Snapshot::clone(snapshot);
            next.realms.retain(|realm, roles| {
                if !drop_realm(realm) {
                    return true;
                }
                match role {
                    None => {
                        next.entries -= roles.len();
                        false
                    }
                    Some(role) => {
                        if Arc::make_mut(roles).remove(role).is_some() {
                            next.entries -= 1;
                        }
                        !roles.is_empty()
                    }
                }
            });
            Arc::new(next)
        });
        // Later misses must start a fresh load, not join one that may predate the change.
        self.inner.inflight.lock().retain(|(realm, r), _| !(drop_realm(realm) && role.is_none_or(|x| x == &**r)));
    }

    pub fn invalidate_role(&self, realm: &str, role: &str) {
        self.invalidate(|r| r == realm, Some(role));
    }

    pub fn invalidate_realm(&self, realm: &str) {
        self.invalidate(|r| r == realm, None);
    }

    pub fn clear(&self) {
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        self.inner.map.store(Arc::new(Snapshot::default()));
        self.inner.inflight.lock().clear();
    }

    /// Follow the change feed (see the module docs for what each change drops).
    pub fn apply(&self, received: &Received) {
        match received {
            Received::Change(Change::RoleUpdated { realm, role } | Change::RoleDeleted { realm, role }) => {
                self.invalidate_role(realm, role)
            }
            Received::Change(Change::RealmDeleted { realm }) => self.invalidate_realm(realm),
            Received::Change(Change::TenantDeleted { realms, .. }) => {
                self.invalidate(|r| realms.iter().any(|x| x == r), None)
            }
            Received::Change(
                Change::RealmUpdated { .. } | Change::CredentialUpdated { .. } | Change::CredentialRevoked { .. },
            ) => {}
            Received::Lagged | Received::Closed => self.clear(),
        }
    }

    /// Apply every change from `rx` until the feed closes. Spawn it once per pod.
    pub async fn follow(&self, mut rx: ChangeReceiver) {
        loop {
            let received = rx.recv().await;
            self.apply(&received);
            if received == Received::Closed {
                tracing::warn!("change feed closed: authorization cache no longer invalidated, cleared");
                return;
            }
        }
    }

    /// Bumped by every invalidation.
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::SeqCst)
    }

    /// Cached (realm, role) entries.
    pub fn len(&self) -> usize {
        self.inner.map.load().entries
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use junction_changefeed::{ChangeFeed, InProcessFeed};
    use junction_protocol::MatchPolicy;
    use tokio::sync::Notify;

    use super::*;
    use crate::rules::Allow;

    /// A loader over a mutable table, counting loads, optionally held until released.
    #[derive(Default)]
    struct TableLoader {
        rules: Mutex<HashMap<(String, String), Vec<Rule>>>,
        loads: AtomicUsize,
        fail: Mutex<bool>,
        gate: Mutex<Option<Arc<Notify>>>,
    }

    impl TableLoader {
        fn set(&self, realm: &str, role: &str, rules: Vec<Rule>) {
            self.rules.lock().insert((realm.into(), role.into()), rules);
        }
    }

    #[async_trait]
    impl RuleLoader for TableLoader {
        async fn load(&self, realm: &str, role: &str) -> Result<Option<Vec<Rule>>, LoadError> {
            self.loads.fetch_add(1, Ordering::SeqCst);
            let gate = self.gate.lock().clone();
            if let Some(gate) = gate {
                gate.notified().await;
            }
            if *self.fail.lock() {
                return Err(LoadError("store down".into()));
            }
            Ok(self.rules.lock().get(&(realm.to_owned(), role.to_owned())).cloned())
        }
    }

    fn allow_all(prefix: &str) -> Vec<Rule> {
        vec![Rule::new(prefix, MatchPolicy::Prefix).allow(Allow::ALL)]
    }

    fn setup() -> (Arc<TableLoader>, AuthzCache) {
        let loader = Arc::new(TableLoader::default());
        loader.set("r1", "user", allow_all("com.app."));
        loader.set("r1", "admin", allow_all(""));
        loader.set("r2", "user", allow_all("org."));
        (loader.clone(), AuthzCache::new(loader))
    }

    #[tokio::test]
    async fn miss_loads_then_hits_without_loading() {
        let (loader, cache) = setup();
        assert_eq!(cache.try_decide("r1", "user", "com.app.x", Action::Call), None);
        assert_eq!(cache.decide("r1", "user", "com.app.x", Action::Call).await, Permission::ALLOW);
        assert_eq!(cache.try_decide("r1", "user", "com.app.x", Action::Call), Some(Permission::ALLOW));
        assert_eq!(cache.try_decide("r1", "user", "com.other", Action::Call), Some(Permission::DENY));
        assert_eq!(loader.loads.load(Ordering::SeqCst), 1);
        assert_eq!(cache.len(), 1);
    }

    #[tokio::test]
    async fn unknown_roles_cache_as_deny_all_and_errors_are_not_cached() {
        let (loader, cache) = setup();
        assert_eq!(cache.decide("r1", "ghost", "com.app.x", Action::Call).await, Permission::DENY);
        assert_eq!(cache.try_decide("r1", "ghost", "com.app.x", Action::Call), Some(Permission::DENY));
        assert_eq!(loader.loads.load(Ordering::SeqCst), 1);

        *loader.fail.lock() = true;
        assert_eq!(cache.decide("r2", "user", "org.x", Action::Call).await, Permission::DENY);
        assert!(matches!(cache.load("r2", "user").await, Err(CacheError::Load(_))));
        assert_eq!(cache.try_decide("r2", "user", "org.x", Action::Call), None, "errors are not cached");
        *loader.fail.lock() = false;
        assert_eq!(cache.decide("r2", "user", "org.x", Action::Call).await, Permission::ALLOW);
    }

    #[tokio::test]
    async fn invalid_stored_rules_deny_and_report() {
        let (loader, cache) = setup();
        loader.set("r1", "broken", vec![Rule::new("com..x", MatchPolicy::Exact)]);
        assert!(matches!(cache.load("r1", "broken").await, Err(CacheError::Invalid(_))));
        assert_eq!(cache.decide("r1", "broken", "com.x", Action::Call).await, Permission::DENY);
    }

    #[tokio::test]
    async fn changes_invalidate_what_they_concern() {
        let (loader, cache) = setup();
        for (realm, role) in [("r1", "user"), ("r1", "admin"), ("r2", "user")] {
            cache.load(realm, role).await.unwrap();
        }
        assert_eq!(cache.len(), 3);

        // The role's rules change in the store, then the change is announced.
        loader.set("r1", "user", allow_all("com.new."));
        assert_eq!(
            cache.try_decide("r1", "user", "com.app.x", Action::Call),
            Some(Permission::ALLOW),
            "stale until announced"
        );
        cache.apply(&Received::Change(Change::RoleUpdated { realm: "r1".into(), role: "user".into() }));
        assert_eq!(cache.try_decide("r1", "user", "com.app.x", Action::Call), None);
        assert!(cache.get("r1", "admin").is_some() && cache.get("r2", "user").is_some());
        assert_eq!(cache.decide("r1", "user", "com.app.x", Action::Call).await, Permission::DENY);
        assert_eq!(cache.decide("r1", "user", "com.new.x", Action::Call).await, Permission::ALLOW);

        // Credential and realm-settings changes do not concern rules.
        let g = cache.generation();
        cache.apply(&Received::Change(Change::CredentialRevoked { realm: "r1".into(), authid: "a".into() }));
        cache.apply(&Received::Change(Change::RealmUpdated { realm: "r1".into() }));
        assert_eq!((cache.generation(), cache.len()), (g, 3));

        cache.apply(&Received::Change(Change::RoleDeleted { realm: "r1".into(), role: "admin".into() }));
        assert!(cache.get("r1", "admin").is_none());
        cache.apply(&Received::Change(Change::RealmDeleted { realm: "r1".into() }));
        assert!(cache.get("r1", "user").is_none());
        assert_eq!(cache.len(), 1);
        cache.apply(&Received::Change(Change::TenantDeleted { tenant: "t".into(), realms: vec!["r2".into()] }));
        assert!(cache.is_empty());

        cache.load("r2", "user").await.unwrap();
        cache.apply(&Received::Lagged);
        assert!(cache.is_empty());
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_load() {
        let (loader, cache) = setup();
        let gate = Arc::new(Notify::new());
        *loader.gate.lock() = Some(gate.clone());
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.decide("r1", "user", "com.app.x", Action::Publish).await })
            })
            .collect();
        // Let every task reach the shared load, then release the one loader call.
        while loader.loads.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        gate.notify_waiters();
        gate.notify_one();
        for t in tasks {
            assert_eq!(t.await.unwrap(), Permission::ALLOW);
        }
        assert_eq!(loader.loads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_load_racing_an_invalidation_is_served_but_not_cached() {
        let (loader, cache) = setup();
        let gate = Arc::new(Notify::new());
        *loader.gate.lock() = Some(gate.clone());
        let c = cache.clone();
        let task = tokio::spawn(async move { c.load("r1", "user").await });
        while loader.loads.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // The change lands while the (old) rules are in flight.
        cache.apply(&Received::Change(Change::RoleUpdated { realm: "r1".into(), role: "user".into() }));
        gate.notify_one();
        assert!(task.await.unwrap().is_ok());
        assert!(cache.get("r1", "user").is_none(), "possibly stale rules must not be cached");
        *loader.gate.lock() = None;
        cache.load("r1", "user").await.unwrap();
        assert!(cache.get("r1", "user").is_some());
    }

    #[tokio::test]
    async fn size_is_bounded() {
        let loader = Arc::new(TableLoader::default());
        let cache = AuthzCache::with_max_entries(loader, 10);
        for i in 0..100 {
            cache.load("r", &format!("role{i}")).await.unwrap();
            assert!(cache.len() <= 10);
        }
        assert!(cache.get("r", "role99").is_some());
    }

    #[tokio::test]
    async fn follows_a_feed_until_it_closes() {
        let (_, cache) = setup();
        cache.load("r1", "user").await.unwrap();
        let feed = InProcessFeed::new();
        let follower = {
            let cache = cache.clone();
            let rx = feed.subscribe();
            tokio::spawn(async move { cache.follow(rx).await })
        };
        feed.publish(Change::RoleDeleted { realm: "r1".into(), role: "user".into() }).await.unwrap();
        while cache.get("r1", "user").is_some() {
            tokio::task::yield_now().await;
        }
        cache.load("r1", "admin").await.unwrap();
        feed.sender().send(Received::Closed).unwrap();
        follower.await.unwrap();
        assert!(cache.is_empty(), "a closed feed clears: nothing would invalidate entries any more");
    }

    #[tokio::test]
    async fn closures_are_loaders() {
        let loader = FnLoader(|realm: String, _role: String| -> BoxFuture<_> {
            Box::pin(async move { Ok((realm == "r").then(|| allow_all("a."))) })
        });
        let cache = AuthzCache::new(Arc::new(loader));
        assert_eq!(cache.decide("r", "x", "a.b", Action::Subscribe).await, Permission::ALLOW);
        assert_eq!(cache.decide("q", "x", "a.b", Action::Subscribe).await, Permission::DENY);
    }
}
