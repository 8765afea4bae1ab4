//! Log-in rate limiting, per authid (in a realm) and per client IP: token buckets that only
//! FAILED authentications drain, so legitimate reconnects (a fleet of instances sharing one
//! credential, a flapping client) are never refused.
//!
//! - [`LoginLimiter::check`] runs on HELLO, before any expensive work (argon2, PBKDF2, RSA,
//!   a store read): it refuses when either bucket has no whole token left, and takes nothing.
//! - [`LoginLimiter::failed`] charges one token to both buckets when the attempt fails.
//!   Attempts that pass `check` concurrently and then all fail are all charged: a bucket may
//!   go into debt (at most `burst` tokens below zero), so parallel guessing buys no extra
//!   attempts on average, and a lock-out stays bounded (at most `2 * burst / rate`).
//! - A refused attempt charges nothing (it did no work), so a client refused for its IP does
//!   not also drain the authid's bucket.
//! - IPv6 clients are keyed by their /64: a single host usually owns a whole /64 and could
//!   otherwise rotate addresses to get fresh buckets. IPv4-mapped IPv6 counts as IPv4.
//! - Memory is bounded ([`LimiterConfig::max_entries`] per table): the least recently used
//!   half is dropped when a table fills. Only failures create buckets (`check` never inserts).
//!   Forgetting a bucket means refilling it, so an attacker who sprays many keys can reset
//!   others' buckets; the per-IP bucket bounds how fast one client can spray, and the failure
//!   is "a few more attempts", never a lock-out.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::bounded::TwoGen;

/// A token bucket's shape: `burst` attempts at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub burst: u32,
    pub per_second: f64,
}

impl Rate {
    pub fn per_minute(burst: u32, per_minute: u32) -> Rate {
        Rate { burst, per_second: f64::from(per_minute) / 60.0 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimiterConfig {
    /// Per (realm, authid): guessing one principal's secret (failures only).
    pub per_authid: Rate,
    /// Per client IP (IPv6 /64): one client guessing many principals' secrets.
    /// Generous by default: many devices can share one NAT address.
    pub per_ip: Rate,
    /// Most buckets kept per table (authids, IPs).
    pub max_entries: usize,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        LimiterConfig {
            per_authid: Rate::per_minute(10, 10),
            per_ip: Rate { burst: 100, per_second: 20.0 },
            max_entries: 100_000,
        }
    }
}

/// Why an attempt was refused, and when a retry would pass that bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    Ip { retry_after: Duration },
    Authid { retry_after: Duration },
}

impl Limited {
    pub fn retry_after(&self) -> Duration {
        match self {
            Limited::Ip { retry_after } | Limited::Authid { retry_after } => *retry_after,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn full(rate: Rate, now: Instant) -> Bucket {
        Bucket { tokens: f64::from(rate.burst), updated: now }
    }

    fn refill(&mut self, rate: Rate, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_second).min(f64::from(rate.burst));
        self.updated = now;
    }

    /// Refill, then take one token; the debt is bounded at `burst` tokens.
    fn charge(&mut self, rate: Rate, now: Instant) {
        self.refill(rate, now);
        self.tokens = (self.tokens - 1.0).max(-f64::from(rate.burst));
    }

    /// `Err(wait)` when no whole token is left.
    fn available(&self, rate: Rate) -> Result<(), Duration> {
        if self.tokens >= 1.0 {
            return Ok(());
        }
        if rate.per_second <= 0.0 {
            return Err(Duration::MAX);
        }
        Err(Duration::from_secs_f64((1.0 - self.tokens) / rate.per_second))
    }
}

/// IPv4 address, or the /64 of an IPv6 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum IpKey {
    V4(u32),
    V6Net(u64),
}

impl From<IpAddr> for IpKey {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => IpKey::V4(v4.into()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpKey::V4(v4.into()),
                None => IpKey::V6Net((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// Per-pod log-in failure limiter. Short critical sections on two mutexes (one at a time),
/// never held across an await; a login costs one check, a failure one charge.
pub struct LoginLimiter {
    config: LimiterConfig,
    ips: Mutex<TwoGen<IpKey, Bucket>>,
    authids: Mutex<TwoGen<(String, String), Bucket>>,
}

impl LoginLimiter {
    pub fn new(config: LimiterConfig) -> Self {
        LoginLimiter {
            config,
            ips: Mutex::new(TwoGen::new(config.max_entries)),
            authids: Mutex::new(TwoGen::new(config.max_entries)),
        }
    }

    /// May an attempt for `ip` and, when the client named one, `authid` in `realm` start?
    /// Takes nothing: only [`LoginLimiter::failed`] does.
    pub fn check(&self, realm: &str, authid: Option<&str>, ip: IpAddr) -> Result<(), Limited> {
        self.check_at(realm, authid, ip, Instant::now())
    }

    /// [`LoginLimiter::check`] at a given instant (tests).
    pub fn check_at(&self, realm: &str, authid: Option<&str>, ip: IpAddr, now: Instant) -> Result<(), Limited> {
        let c = self.config;
        {
            let mut ips = self.ips.lock();
            if let Some(bucket) = ips.get_mut(&IpKey::from(ip)) {
                let mut b = *bucket;
                b.refill(c.per_ip, now);
                b.available(c.per_ip).map_err(|retry_after| Limited::Ip { retry_after })?;
            }
        }
        if let Some(authid) = authid {
            let mut authids = self.authids.lock();
            if let Some(bucket) = authids.get_mut(&(realm.to_owned(), authid.to_owned())) {
                let mut b = *bucket;
                b.refill(c.per_authid, now);
                b.available(c.per_authid).map_err(|retry_after| Limited::Authid { retry_after })?;
            }
        }
        Ok(())
    }

    /// An attempt that passed [`LoginLimiter::check`] failed: charge one token to the IP's
    /// bucket and, when the client named one, the authid's.
    pub fn failed(&self, realm: &str, authid: Option<&str>, ip: IpAddr) {
        self.failed_at(realm, authid, ip, Instant::now())
    }

    /// [`LoginLimiter::failed`] at a given instant (tests).
    pub fn failed_at(&self, realm: &str, authid: Option<&str>, ip: IpAddr, now: Instant) {
        let c = self.config;
        {
            let mut ips = self.ips.lock();
            let key = IpKey::from(ip);
            let mut bucket = ips.get_mut(&key).copied().unwrap_or_else(|| Bucket::full(c.per_ip, now));
            bucket.charge(c.per_ip, now);
            ips.insert(key, bucket);
        }
        if let Some(authid) = authid {
            let mut authids = self.authids.lock();
            let key = (realm.to_owned(), authid.to_owned());
            let mut bucket = authids.get_mut(&key).copied().unwrap_or_else(|| Bucket::full(c.per_authid, now));
            bucket.charge(c.per_authid, now);
            authids.insert(key, bucket);
        }
    }

    /// Buckets currently kept (ips, authids).
    pub fn len(&self) -> (usize, usize) {
        (self.ips.lock().len(), self.authids.lock().len())
    }
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter::new(LimiterConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn limiter(authid_burst: u32, ip_burst: u32) -> LoginLimiter {
        LoginLimiter::new(LimiterConfig {
            per_authid: Rate { burst: authid_burst, per_second: 1.0 },
            per_ip: Rate { burst: ip_burst, per_second: 10.0 },
            max_entries: 1000,
        })
    }

    /// One failed attempt: check, then charge.
    fn fail(l: &LoginLimiter, realm: &str, authid: Option<&str>, addr: &str, now: Instant) -> Result<(), Limited> {
        l.check_at(realm, authid, ip(addr), now)?;
        l.failed_at(realm, authid, ip(addr), now);
        Ok(())
    }

    #[test]
    fn successes_are_never_limited() {
        let l = limiter(3, 3);
        let t0 = Instant::now();
        for _ in 0..1000 {
            l.check_at("r", Some("fleet"), ip("10.0.0.1"), t0).unwrap();
        }
        // Nothing charged, nothing kept.
        assert_eq!(l.len(), (0, 0));
    }

    #[test]
    fn per_authid_failures_then_refill() {
        let l = limiter(3, 100);
        let t0 = Instant::now();
        for _ in 0..3 {
            fail(&l, "r", Some("alice"), "10.0.0.1", t0).unwrap();
        }
        let e = l.check_at("r", Some("alice"), ip("10.0.0.2"), t0).unwrap_err();
        assert_eq!(e, Limited::Authid { retry_after: Duration::from_secs(1) });
        // Other principals, and the same authid in another realm, are unaffected.
        l.check_at("r", Some("bob"), ip("10.0.0.1"), t0).unwrap();
        l.check_at("other", Some("alice"), ip("10.0.0.1"), t0).unwrap();
        // One token back after a second.
        fail(&l, "r", Some("alice"), "10.0.0.1", t0 + Duration::from_secs(1)).unwrap();
        assert!(l.check_at("r", Some("alice"), ip("10.0.0.1"), t0 + Duration::from_secs(1)).is_err());
    }

    #[test]
    fn concurrent_failures_are_all_charged_with_bounded_debt() {
        let l = limiter(3, 1000);
        let t0 = Instant::now();
        // Ten attempts pass the check before any of them fails...
        for _ in 0..10 {
            l.check_at("r", Some("a"), ip("10.0.0.1"), t0).unwrap();
        }
        for _ in 0..10 {
            l.failed_at("r", Some("a"), ip("10.0.0.1"), t0);
        }
        // ...and the debt is capped at `burst`: 3 below zero, so 4 s to the next whole token.
        assert_eq!(l.check_at("r", Some("a"), ip("10.0.0.1"), t0), Err(Limited::Authid { retry_after: Duration::from_secs(4) }));
        l.check_at("r", Some("a"), ip("10.0.0.1"), t0 + Duration::from_secs(4)).unwrap();
    }

    #[test]
    fn per_ip_limits_spraying_and_refusal_takes_nothing_from_the_authid() {
        let l = limiter(5, 3);
        let t0 = Instant::now();
        for i in 0..3 {
            fail(&l, "r", Some(&format!("user{i}")), "192.0.2.7", t0).unwrap();
        }
        let e = fail(&l, "r", Some("victim"), "192.0.2.7", t0).unwrap_err();
        assert!(matches!(e, Limited::Ip { .. }), "{e:?}");
        assert!(e.retry_after() <= Duration::from_millis(100));
        // The refused attempt took nothing from victim's bucket: five failures from elsewhere pass.
        for i in 0..5 {
            fail(&l, "r", Some("victim"), &format!("198.51.100.{i}"), t0).unwrap();
        }
        // Attempts without an authid count against the IP only.
        fail(&l, "r", None, "203.0.113.1", t0).unwrap();
    }

    #[test]
    fn authid_refusal_takes_no_ip_token() {
        let l = limiter(1, 2);
        let t0 = Instant::now();
        fail(&l, "r", Some("a"), "10.1.1.1", t0).unwrap();
        assert!(matches!(fail(&l, "r", Some("a"), "10.1.1.1", t0), Err(Limited::Authid { .. })));
        // The IP still has its second token.
        fail(&l, "r", Some("b"), "10.1.1.1", t0).unwrap();
        assert!(matches!(fail(&l, "r", Some("c"), "10.1.1.1", t0), Err(Limited::Ip { .. })));
    }

    #[test]
    fn ipv6_is_keyed_by_its_64_and_mapped_v4_by_the_v4() {
        let l = limiter(100, 2);
        let t0 = Instant::now();
        fail(&l, "r", None, "2001:db8:1:2::1", t0).unwrap();
        fail(&l, "r", None, "2001:db8:1:2:ffff::9", t0).unwrap();
        assert!(fail(&l, "r", None, "2001:db8:1:2:abcd::1", t0).is_err());
        fail(&l, "r", None, "2001:db8:1:3::1", t0).unwrap();

        fail(&l, "r", None, "192.0.2.1", t0).unwrap();
        fail(&l, "r", None, "::ffff:192.0.2.1", t0).unwrap();
        assert!(fail(&l, "r", None, "192.0.2.1", t0).is_err());
    }

    #[test]
    fn memory_is_bounded() {
        let l = LoginLimiter::new(LimiterConfig { max_entries: 100, ..LimiterConfig::default() });
        let t0 = Instant::now();
        for i in 0..10_000u32 {
            let a = IpAddr::V4(std::net::Ipv4Addr::from(i));
            let _ = l.check_at("r", Some(&i.to_string()), a, t0);
            l.failed_at("r", Some(&i.to_string()), a, t0);
        }
        let (ips, authids) = l.len();
        assert!(ips <= 100 && authids <= 100, "{ips} {authids}");
    }

    #[test]
    fn a_zero_rate_never_refills() {
        let l = LoginLimiter::new(LimiterConfig {
            per_authid: Rate { burst: 1, per_second: 0.0 },
            ..LimiterConfig::default()
        });
        let t0 = Instant::now();
        fail(&l, "r", Some("a"), "10.0.0.1", t0).unwrap();
        let e = l.check_at("r", Some("a"), ip("10.0.0.1"), t0 + Duration::from_secs(3600)).unwrap_err();
        assert_eq!(e.retry_after(), Duration::MAX);
    }
}
