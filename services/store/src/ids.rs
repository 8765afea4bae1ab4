//! Ids: `<prefix>_<26 characters>`, e.g. `rlm_01jh8x6v0d3q8t5k2m9c4w7e1r`.
//!
//! The 26 characters are 128 bits in lower-case Crockford base32: 48 bits of milliseconds
//! since the Unix epoch, then 80 random bits (the ULID layout). Ids therefore sort by creation
//! time as plain strings, in both databases, which makes `ORDER BY id` creation order and the
//! last id of a page a stable pagination cursor. Within one process ids are strictly
//! increasing: an id made in the same millisecond as the previous one is the previous one plus
//! one (the monotonic ULID rule), so even a burst of creations lists in creation order. The prefix tells what an id names in logs and
//! support tickets.

use std::sync::Mutex;

use rand::RngCore;

/// The last id value handed out (see the module doc).
// std Mutex: held for a comparison and an addition, never across an await.
static LAST: Mutex<u128> = Mutex::new(0);

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A new id with the given type prefix.
pub fn new_id(prefix: &str) -> String {
    let millis = crate::now_millis().max(0) as u128 & ((1u128 << 48) - 1);
    let mut random = [0u8; 10];
    rand::rngs::OsRng.fill_bytes(&mut random);
    let mut value = millis << 80;
    for (i, b) in random.iter().enumerate() {
        value |= (*b as u128) << (8 * (9 - i));
    }
    if let Ok(mut last) = LAST.lock() {
        if value <= *last {
            value = *last + 1;
        }
        *last = value;
    }
    let mut out = String::with_capacity(prefix.len() + 27);
    out.push_str(prefix);
    out.push('_');
    // 26 characters of 5 bits = 130 bits; the first character holds the top 3 bits.
    for i in (0..26).rev() {
        let digit = ((value >> (5 * i)) & 0x1f) as usize;
        out.push(ALPHABET[digit] as char);
    }
    out
}

/// Whether `s` looks like an id of this kind (cheap sanity check for path parameters).
pub fn is_id(prefix: &str, s: &str) -> bool {
    s.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|body| body.len() == 26 && body.bytes().all(|b| ALPHABET.contains(&b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_prefix_and_26_base32_characters() {
        let id = new_id("rlm");
        assert!(is_id("rlm", &id), "{id}");
        assert!(!is_id("rol", &id));
        assert!(!is_id("rlm", "rlm_short"));
    }

    #[test]
    fn ids_sort_by_creation_time() {
        let a = new_id("x");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id("x");
        assert!(a < b, "{a} !< {b}");
    }

    #[test]
    fn ids_made_in_a_burst_are_in_order() {
        let ids: Vec<String> = (0..1000).map(|_| new_id("x")).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }

    #[test]
    fn ids_are_unique() {
        let ids: std::collections::HashSet<String> = (0..10_000).map(|_| new_id("x")).collect();
        assert_eq!(ids.len(), 10_000);
    }
}
