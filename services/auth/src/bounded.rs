//! A map with a hard size bound and O(1) eviction of the least recently used half.
//!
//! Two generations: entries live in `current`; when it fills up to half the capacity,
//! `previous` (everything not touched since the last rotation) is dropped and `current`
//! becomes `previous`. A hit in `previous` moves the entry back to `current`. So memory never
//! exceeds `capacity` entries, eviction costs no scan, and what is evicted is (roughly) the
//! oldest. Used for per-key state that is safe to forget: a forgotten rate-limit bucket is
//! a full one, a forgotten cache entry is a miss.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

pub(crate) struct TwoGen<K, V> {
    current: HashMap<K, V>,
    previous: HashMap<K, V>,
    half: usize,
}

impl<K: Hash + Eq, V> TwoGen<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        TwoGen { current: HashMap::new(), previous: HashMap::new(), half: (capacity / 2).max(1) }
    }

    pub(crate) fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if !self.current.contains_key(key) {
            let (k, v) = self.previous.remove_entry(key)?;
            self.insert(k, v);
        }
        self.current.get_mut(key)
    }

    pub(crate) fn insert(&mut self, key: K, value: V) {
        if !self.current.contains_key(&key) && self.current.len() >= self.half {
            self.previous = std::mem::take(&mut self.current);
        }
        self.previous.remove(&key);
        self.current.insert(key, value);
    }

    pub(crate) fn remove<Q>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.current.remove(key);
        self.previous.remove(key);
    }

    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.current.retain(&mut keep);
        self.previous.retain(keep);
    }

    pub(crate) fn clear(&mut self) {
        self.current.clear();
        self.previous.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_exceeds_capacity_and_keeps_recent_entries() {
        let mut m = TwoGen::new(10);
        for i in 0..1000 {
            m.insert(i, i);
            assert!(m.len() <= 10);
            // Key 0 is touched all the time, so it survives every rotation.
            if i > 0 {
                assert!(m.get_mut(&0).is_some(), "{i}");
            }
        }
        assert!(m.get_mut(&999).is_some());
        assert!(m.get_mut(&1).is_none());
    }

    #[test]
    fn remove_retain_clear() {
        let mut m = TwoGen::new(4);
        for i in 0..4 {
            m.insert(i, i * 10);
        }
        m.remove(&0);
        assert!(m.get_mut(&0).is_none());
        m.retain(|k, _| *k != 3);
        assert!(m.get_mut(&3).is_none());
        assert_eq!(m.get_mut(&2).copied(), Some(20));
        m.insert(2, 21);
        assert_eq!(m.get_mut(&2).copied(), Some(21));
        m.clear();
        assert_eq!(m.len(), 0);
    }
}
