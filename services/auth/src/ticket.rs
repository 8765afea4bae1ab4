//! Ticket authentication: the client's ticket checked against the argon2 hash (PHC string)
//! the store keeps, plus a short-lived cache of recent successes.
//!
//! argon2 costs tens of milliseconds of CPU and ~19 MiB by design, so every function that may
//! run it is synchronous and named `*_blocking`: call it from `spawn_blocking`. A reconnect
//! storm (a pod restart sends every client back at once) would otherwise cost one argon2 per
//! client; [`TicketCache`] answers repeated successes without it, and its hit path
//! ([`TicketCache::is_verified`]) is cheap enough for the async runtime.
//!
//! Does the cache weaken anything? It holds, per (realm, authid), a keyed hash
//! (HMAC-SHA256 under a random per-process key) of the last ticket that verified, bound to
//! the PHC string it verified against, for a few minutes.
//! - A database leak gains nothing: the cache is never stored, only argon2 hashes are.
//! - An online guesser gains nothing: only successes are cached, a guess still needs the
//!   exact ticket, and failed guesses still pay argon2 (and the rate limiter).
//! - A process-memory reader could brute-force a fast hash of a weak ticket; but that reader
//!   already sees tickets in clear in incoming AUTHENTICATE buffers. The per-process key keeps
//!   a leaked cache dump from being checked offline without the key.
//! - Revocation: entries are bound to the PHC string (a rotated credential misses the cache),
//!   and [`TicketCache::apply`] drops them on `CredentialUpdated` / `CredentialRevoked`.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use hmac::{Hmac, Mac};
use junction_changefeed::{Change, Received};
use parking_lot::Mutex;
use rand::RngCore;
use sha2::Sha256;

use crate::bounded::TwoGen;
use crate::constant_time_eq;
use crate::secret::Secret;

pub const AUTHMETHOD: &str = "ticket";

/// Longest ticket we spend argon2 on: bounds the work a client can ask for.
pub const MAX_TICKET_LEN: usize = 4096;

/// Check `ticket` against an argon2 PHC string (any argon2 variant and cost: the parameters
/// travel in the string). A malformed hash verifies nothing. CPU heavy: `spawn_blocking`.
pub fn verify_blocking(ticket: &Secret, phc: &str) -> bool {
    if ticket.as_bytes().len() > MAX_TICKET_LEN {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(phc) else { return false };
    Argon2::default().verify_password(ticket.as_bytes(), &parsed).is_ok()
}

/// Burn the same argon2 work as a real check, for an authid that has no ticket credential,
/// so that timing does not tell unknown principals from wrong tickets. Always false.
pub fn verify_dummy_blocking(ticket: &Secret) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let phc = DUMMY.get_or_init(|| {
        hash_blocking(&Secret::new("junction-dummy-ticket"), Params::DEFAULT_M_COST, Params::DEFAULT_T_COST)
            .unwrap_or_default()
    });
    let _ = verify_blocking(ticket, phc);
    false
}

/// Hash a ticket to an argon2id PHC string (`memory_kib`, `iterations`; the store uses
/// 19456 KiB and 2). For tests and tooling: the store hashes the tickets it issues.
pub fn hash_blocking(
    ticket: &Secret,
    memory_kib: u32,
    iterations: u32,
) -> Result<String, argon2::password_hash::Error> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)?;
    let params = Params::new(memory_kib, iterations, 1, None)?;
    let phc = Argon2::new(Algorithm::Argon2id, Version::V0x13, params).hash_password(ticket.as_bytes(), &salt)?;
    Ok(phc.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TicketCacheConfig {
    /// How long a success is remembered. Short: it only needs to cover a reconnect storm.
    pub ttl: Duration,
    pub max_entries: usize,
}

impl Default for TicketCacheConfig {
    fn default() -> Self {
        TicketCacheConfig { ttl: Duration::from_secs(300), max_entries: 50_000 }
    }
}

struct Entry {
    ticket_mac: [u8; 32],
    phc_mac: [u8; 32],
    expires: Instant,
}

/// Recent ticket successes per (realm, authid). See the module docs for why this is safe.
pub struct TicketCache {
    key: [u8; 32],
    ttl: Duration,
    entries: Mutex<TwoGen<(String, String), Entry>>,
}

impl TicketCache {
    pub fn new(config: TicketCacheConfig) -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        TicketCache { key, ttl: config.ttl, entries: Mutex::new(TwoGen::new(config.max_entries)) }
    }

    fn mac(&self, domain: &[u8], data: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        // Domain separation, so a ticket's MAC can never equal a PHC string's.
        mac.update(domain);
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// Did this exact ticket verify against this exact PHC string recently? Cheap (two
    /// HMAC-SHA256): fine on the async runtime. A miss says nothing about the ticket.
    pub fn is_verified(&self, realm: &str, authid: &str, ticket: &Secret, phc: &str) -> bool {
        self.is_verified_at(realm, authid, ticket, phc, Instant::now())
    }

    fn is_verified_at(&self, realm: &str, authid: &str, ticket: &Secret, phc: &str, now: Instant) -> bool {
        let ticket_mac = self.mac(b"ticket\0", ticket.as_bytes());
        let phc_mac = self.mac(b"phc\0", phc.as_bytes());
        let mut entries = self.entries.lock();
        let key = (realm.to_owned(), authid.to_owned());
        let Some(entry) = entries.get_mut(&key) else { return false };
        if entry.expires <= now {
            entries.remove(&key);
            return false;
        }
        constant_time_eq(&entry.ticket_mac, &ticket_mac) && constant_time_eq(&entry.phc_mac, &phc_mac)
    }

    /// Remember a success (call only after a real verification).
    pub fn remember(&self, realm: &str, authid: &str, ticket: &Secret, phc: &str) {
        self.remember_at(realm, authid, ticket, phc, Instant::now());
    }

    fn remember_at(&self, realm: &str, authid: &str, ticket: &Secret, phc: &str, now: Instant) {
        let entry = Entry {
            ticket_mac: self.mac(b"ticket\0", ticket.as_bytes()),
            phc_mac: self.mac(b"phc\0", phc.as_bytes()),
            expires: now + self.ttl,
        };
        self.entries.lock().insert((realm.to_owned(), authid.to_owned()), entry);
    }

    /// The cache, else argon2 (remembering a success). CPU heavy on a miss: `spawn_blocking`,
    /// or call [`TicketCache::is_verified`] first on the runtime and this only on a miss.
    pub fn verify_blocking(&self, realm: &str, authid: &str, ticket: &Secret, phc: &str) -> bool {
        if self.is_verified(realm, authid, ticket, phc) {
            return true;
        }
        let ok = verify_blocking(ticket, phc);
        if ok {
            self.remember(realm, authid, ticket, phc);
        }
        ok
    }

    pub fn invalidate(&self, realm: &str, authid: &str) {
        self.entries.lock().remove(&(realm.to_owned(), authid.to_owned()));
    }

    pub fn invalidate_realm(&self, realm: &str) {
        self.entries.lock().retain(|(r, _), _| r != realm);
    }

    pub fn clear(&self) {
        self.entries.lock().clear();
    }

    /// Follow the change feed: drop what a change makes stale; `Lagged` or `Closed` drops
    /// everything (missed changes could have been revocations).
    pub fn apply(&self, received: &Received) {
        match received {
            Received::Change(
                Change::CredentialUpdated { realm, authid } | Change::CredentialRevoked { realm, authid },
            ) => self.invalidate(realm, authid),
            Received::Change(Change::RealmDeleted { realm }) => self.invalidate_realm(realm),
            Received::Change(Change::TenantDeleted { realms, .. }) => {
                self.entries.lock().retain(|(r, _), _| !realms.contains(r));
            }
            Received::Change(Change::RealmUpdated { .. } | Change::RoleUpdated { .. } | Change::RoleDeleted { .. }) => {
            }
            Received::Lagged | Received::Closed => self.clear(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for TicketCache {
    fn default() -> Self {
        TicketCache::new(TicketCacheConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// argon2's cheapest cost, so tests stay fast; verification reads it from the PHC string.
    fn hash(t: &str) -> String {
        hash_blocking(&Secret::new(t), 8, 1).unwrap()
    }

    #[test]
    fn argon2_right_wrong_and_malformed() {
        let phc = hash("s3cret-ticket");
        assert!(phc.starts_with("$argon2id$v=19$m=8,t=1,p=1$"));
        assert!(verify_blocking(&Secret::new("s3cret-ticket"), &phc));
        assert!(!verify_blocking(&Secret::new("s3cret-ticket "), &phc));
        assert!(!verify_blocking(&Secret::new(""), &phc));
        assert!(!verify_blocking(&Secret::new("s3cret-ticket"), "not a phc string"));
        assert!(!verify_blocking(&Secret::new("s3cret-ticket"), ""));
        assert!(!verify_blocking(&Secret::new("x".repeat(MAX_TICKET_LEN + 1)), &hash(&"x".repeat(MAX_TICKET_LEN + 1))));
    }

    #[test]
    fn a_store_style_hash_verifies() {
        // Same shape as junction-store's `hash_blocking` (argon2id v19, its own params in the string).
        let phc = hash_blocking(&Secret::new("t"), 64, 2).unwrap();
        assert!(phc.contains("m=64,t=2,p=1"));
        assert!(verify_blocking(&Secret::new("t"), &phc));
    }

    #[test]
    fn dummy_never_verifies() {
        assert!(!verify_dummy_blocking(&Secret::new("junction-dummy-ticket")));
    }

    #[test]
    fn cache_remembers_successes_only() {
        let cache = TicketCache::default();
        let phc = hash("good");
        assert!(!cache.is_verified("r", "alice", &Secret::new("good"), &phc));
        assert!(!cache.verify_blocking("r", "alice", &Secret::new("bad"), &phc));
        assert!(cache.is_empty(), "failures are not cached");
        assert!(cache.verify_blocking("r", "alice", &Secret::new("good"), &phc));
        assert!(cache.is_verified("r", "alice", &Secret::new("good"), &phc));
        // Another ticket, another authid, another realm, another hash: misses.
        assert!(!cache.is_verified("r", "alice", &Secret::new("bad"), &phc));
        assert!(!cache.is_verified("r", "bob", &Secret::new("good"), &phc));
        assert!(!cache.is_verified("r2", "alice", &Secret::new("good"), &phc));
        assert!(!cache.is_verified("r", "alice", &Secret::new("good"), &hash("good")), "a rotated credential misses");
    }

    #[test]
    fn cache_entries_expire() {
        let cache = TicketCache::new(TicketCacheConfig { ttl: Duration::from_secs(60), max_entries: 10 });
        let t0 = Instant::now();
        let t = Secret::new("t");
        cache.remember_at("r", "a", &t, "phc", t0);
        assert!(cache.is_verified_at("r", "a", &t, "phc", t0 + Duration::from_secs(59)));
        assert!(!cache.is_verified_at("r", "a", &t, "phc", t0 + Duration::from_secs(60)));
        assert!(cache.is_empty(), "an expired entry is dropped when seen");
    }

    #[test]
    fn cache_follows_the_change_feed() {
        let cache = TicketCache::default();
        let t = Secret::new("t");
        for (realm, authid) in [("r1", "a"), ("r1", "b"), ("r2", "a"), ("r3", "a")] {
            cache.remember(realm, authid, &t, "phc");
        }
        cache.apply(&Received::Change(Change::CredentialRevoked { realm: "r1".into(), authid: "a".into() }));
        assert!(!cache.is_verified("r1", "a", &t, "phc"));
        assert!(cache.is_verified("r1", "b", &t, "phc"));
        cache.apply(&Received::Change(Change::CredentialUpdated { realm: "r1".into(), authid: "b".into() }));
        assert!(!cache.is_verified("r1", "b", &t, "phc"));
        cache.apply(&Received::Change(Change::RoleUpdated { realm: "r2".into(), role: "x".into() }));
        assert!(cache.is_verified("r2", "a", &t, "phc"));
        cache.apply(&Received::Change(Change::TenantDeleted { tenant: "t".into(), realms: vec!["r2".into()] }));
        assert!(!cache.is_verified("r2", "a", &t, "phc"));
        assert!(cache.is_verified("r3", "a", &t, "phc"));
        cache.apply(&Received::Lagged);
        assert!(cache.is_empty());
    }

    #[test]
    fn cache_is_bounded() {
        let cache = TicketCache::new(TicketCacheConfig { ttl: Duration::from_secs(60), max_entries: 64 });
        for i in 0..1000 {
            cache.remember("r", &i.to_string(), &Secret::new("t"), "phc");
        }
        assert!(cache.len() <= 64);
    }
}
