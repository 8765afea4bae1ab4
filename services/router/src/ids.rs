//! Ids and timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

use junction_protocol::{Id, MAX_ID};
use rand::Rng;

/// A random id in [1, 2^53] (global scope: sessions, publications, subscriptions,
/// registrations). Random, not sequential, so ids do not leak activity and stay unique
/// across pods with overwhelming probability.
pub fn random_id() -> Id {
    rand::thread_rng().gen_range(1..=MAX_ID)
}

/// Current UTC time as ISO 8601 (`2025-01-02T03:04:05.678Z`), the form Crossbar uses for
/// `created` in the subscription / registration meta API.
pub fn now_iso8601() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        now.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A map keyed by ids (pending calls, sessions, subscriptions): foldhash, several times
/// cheaper than the default SipHash for these small integer keys, and seeded at random per
/// map, so client-chosen request ids cannot aim at one bucket.
pub(crate) type IdMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_in_range_and_distinct() {
        let ids: Vec<Id> = (0..10_000).map(|_| random_id()).collect();
        assert!(ids.iter().all(|&i| (1..=MAX_ID).contains(&i)));
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        // Spread over the whole range, not clustered near 0.
        assert!(ids.iter().any(|&i| i > MAX_ID / 2));
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(now_iso8601().len(), 24);
    }
}
