//! The open sessions of one server: per session key, a queue of sessions, oldest first (a
//! checkin closes the session opened first, contract section 3).
//!
//! Almost every usage line looks a key up here, and with many users the table does not fit the
//! processor's caches. So it is a table of its own rather than a general map: open addressing
//! with linear probing, one 32-byte slot per key holding the key's oldest session inline, and a
//! [`OpenTable::prefetch`] that the ingest calls for a whole batch of lines before they are
//! applied, so that their lookups wait for memory together. The rare sessions after the first
//! of a key (the same user opening the same feature twice on one host) wait in a side map.

use super::agg::{Open, SessionKey};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::hash_map::Entry;
use std::collections::VecDeque;

/// One key and its oldest session; `count == 0` marks an empty slot.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(32))]
struct Slot {
    key: [u32; 4],
    at: i64,
    ident: u32,
    /// Sessions of this key: the one inline, then `count - 1` in [`OpenTable::more`].
    count: u32,
}

/// Open sessions by key, oldest first. See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct OpenTable {
    /// A power of two long (or empty), at most half full.
    slots: Vec<Slot>,
    /// Occupied slots (distinct keys).
    keys: usize,
    /// All sessions.
    sessions: usize,
    /// The sessions after the first of a key, oldest first.
    more: FxHashMap<SessionKey, VecDeque<Open>>,
}

#[inline]
fn key_of((a, b, c, d): SessionKey) -> [u32; 4] {
    [a, b, c, d]
}

#[inline]
fn session_key(k: [u32; 4]) -> SessionKey {
    (k[0], k[1], k[2], k[3])
}

/// A hash of the key whose high bits are spread (multiplications by odd constants, then a fold).
#[inline]
fn hash(k: [u32; 4]) -> u64 {
    let x = (k[0] as u64 | (k[1] as u64) << 32).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let y = (k[2] as u64 | (k[3] as u64) << 32).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    let h = (x ^ y.rotate_left(29)).wrapping_mul(0x1656_67B1_9E37_79F9);
    h ^ (h >> 32)
}

impl OpenTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of open sessions.
    pub fn len(&self) -> usize {
        self.sessions
    }

    pub fn is_empty(&self) -> bool {
        self.sessions == 0
    }

    #[inline]
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    #[inline]
    fn home(&self, k: [u32; 4]) -> usize {
        hash(k) as usize & self.mask()
    }

    /// The slot holding `k`, if any.
    #[inline]
    fn find(&self, k: [u32; 4]) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = self.home(k);
        loop {
            let s = &self.slots[i];
            if s.count == 0 {
                return None;
            }
            if s.key == k {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// Starts loading the slot where a lookup of `key` begins.
    #[inline]
    pub fn prefetch(&self, key: SessionKey) {
        if !self.slots.is_empty() {
            super::prefetch(&self.slots[self.home(key_of(key))]);
        }
    }

    /// Adds a session of `key`, after the ones already open.
    pub fn push(&mut self, key: SessionKey, o: Open) {
        let k = key_of(key);
        self.sessions += 1;
        if let Some(i) = self.find(k) {
            self.slots[i].count += 1;
            self.more.entry(key).or_default().push_back(o);
            return;
        }
        if 2 * (self.keys + 1) > self.slots.len() {
            self.grow();
        }
        self.place(Slot {
            key: k,
            at: o.at,
            ident: o.ident,
            count: 1,
        });
        self.keys += 1;
    }

    /// Puts a slot of a key not in the table at the first free place of its probe sequence.
    fn place(&mut self, slot: Slot) {
        let mask = self.mask();
        let mut i = self.home(slot.key);
        while self.slots[i].count != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = slot;
    }

    fn grow(&mut self) {
        let len = (2 * self.slots.len()).max(64);
        let old = std::mem::replace(&mut self.slots, super::huge_vec(len, Slot::default()));
        for s in old.into_iter().filter(|s| s.count != 0) {
            self.place(s);
        }
    }

    /// Removes and returns the oldest session of `key`.
    pub fn pop_oldest(&mut self, key: SessionKey) -> Option<Open> {
        let i = self.find(key_of(key))?;
        self.sessions -= 1;
        let s = self.slots[i];
        let oldest = Open {
            at: s.at,
            ident: s.ident,
        };
        // `count` says the side map holds the rest of the key's queue.
        let next = if s.count > 1 {
            match self.more.entry(key) {
                Entry::Occupied(mut e) => {
                    let next = e.get_mut().pop_front();
                    if e.get().is_empty() {
                        e.remove();
                    }
                    next
                }
                Entry::Vacant(_) => None,
            }
        } else {
            None
        };
        match next {
            Some(next) => {
                let slot = &mut self.slots[i];
                slot.at = next.at;
                slot.ident = next.ident;
                slot.count -= 1;
            }
            None => {
                self.remove_slot(i);
                self.keys -= 1;
            }
        }
        Some(oldest)
    }

    /// Empties slot `i`, moving back the slots after it that may take its place (backward-shift
    /// deletion: no tombstones, and the keys of a probe run keep their order).
    fn remove_slot(&mut self, mut i: usize) {
        let mask = self.mask();
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            if self.slots[j].count == 0 {
                break;
            }
            let h = self.home(self.slots[j].key);
            // The slot at j may move to i when its home is not in (i, j], cyclically.
            let stays = if i <= j {
                i < h && h <= j
            } else {
                i < h || h <= j
            };
            if !stays {
                self.slots[i] = self.slots[j];
                i = j;
            }
        }
        self.slots[i] = Slot::default();
    }

    /// Every open session with its key: keys in table order, each key's sessions oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (SessionKey, Open)> + '_ {
        self.slots
            .iter()
            .filter(|s| s.count != 0)
            .flat_map(move |s| {
                let key = session_key(s.key);
                let first = Open {
                    at: s.at,
                    ident: s.ident,
                };
                let rest = (s.count > 1)
                    .then(|| self.more.get(&key))
                    .flatten()
                    .into_iter()
                    .flatten()
                    .copied();
                std::iter::once((key, first)).chain(rest.map(move |o| (key, o)))
            })
    }

    /// Removes the sessions whose key `hit` selects and returns them (each key's oldest first).
    pub fn drain_where(
        &mut self,
        mut hit: impl FnMut(SessionKey) -> bool,
    ) -> Vec<(SessionKey, Open)> {
        let mut out = Vec::new();
        let mut kept = OpenTable::new();
        for (key, o) in self.iter() {
            if hit(key) {
                out.push((key, o));
            } else {
                kept.push(key, o);
            }
        }
        *self = kept;
        out
    }

    /// Sessions grouped by key, keys sorted: the stored form, independent of table layout.
    fn sorted(&self) -> Vec<(SessionKey, Vec<Open>)> {
        let mut by_key: Vec<(SessionKey, Vec<Open>)> = Vec::with_capacity(self.keys);
        let mut pos: FxHashMap<SessionKey, usize> = FxHashMap::default();
        for (key, o) in self.iter() {
            let i = *pos.entry(key).or_insert_with(|| {
                by_key.push((key, Vec::new()));
                by_key.len() - 1
            });
            by_key[i].1.push(o);
        }
        by_key.sort_by_key(|(k, _)| *k);
        by_key
    }
}

impl PartialEq for OpenTable {
    fn eq(&self, other: &Self) -> bool {
        self.sessions == other.sessions && self.sorted() == other.sorted()
    }
}

impl Serialize for OpenTable {
    /// A sorted sequence of `(key, [sessions])`, as the map this table replaced was stored.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.sorted())
    }
}

impl<'de> Deserialize<'de> for OpenTable {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v: Vec<(SessionKey, Vec<Open>)> = Vec::deserialize(d)?;
        let mut t = OpenTable::new();
        for (key, q) in v {
            for o in q {
                t.push(key, o);
            }
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The model: what the table replaced.
    type Model = FxHashMap<SessionKey, VecDeque<Open>>;

    #[derive(Clone, Debug)]
    enum Op {
        Push(SessionKey, i64),
        Pop(SessionKey),
        Drain(u32),
    }

    /// Few distinct values per field, so that keys repeat, collide and queue.
    fn key() -> impl Strategy<Value = SessionKey> {
        (
            0u32..3,
            0u32..4,
            0u32..40,
            prop_oneof![0u32..5, Just(u32::MAX)],
        )
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            5 => (key(), 0i64..1000).prop_map(|(k, at)| Op::Push(k, at)),
            5 => key().prop_map(Op::Pop),
            1 => (0u32..3).prop_map(Op::Drain),
        ]
    }

    fn sorted_model(m: &Model) -> Vec<(SessionKey, Vec<Open>)> {
        let mut v: Vec<_> = m
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(k, q)| (*k, q.iter().copied().collect()))
            .collect();
        v.sort_by_key(|(k, _)| *k);
        v
    }

    proptest! {
        /// Against a map of queues: every pop returns the session the model returns (the
        /// oldest of its key), drains take the same sessions, and the contents agree after
        /// every step (keys removed from the middle of probe runs included).
        #[test]
        fn behaves_as_a_map_of_queues(ops in prop::collection::vec(op(), 0..600)) {
            let mut t = OpenTable::new();
            let mut m = Model::default();
            for (n, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Push(k, at) => {
                        let o = Open { at, ident: n as u32 };
                        t.push(k, o);
                        m.entry(k).or_default().push_back(o);
                    }
                    Op::Pop(k) => {
                        let want = m.get_mut(&k).and_then(|q| q.pop_front());
                        prop_assert_eq!(t.pop_oldest(k), want);
                    }
                    Op::Drain(d) => {
                        let mut got = t.drain_where(|k| k.0 == d);
                        let mut want: Vec<(SessionKey, Open)> = Vec::new();
                        m.retain(|k, q| {
                            if k.0 == d {
                                want.extend(q.drain(..).map(|o| (*k, o)));
                            }
                            k.0 != d
                        });
                        got.sort_by_key(|(k, o)| (*k, o.ident));
                        want.sort_by_key(|(k, o)| (*k, o.ident));
                        prop_assert_eq!(got, want);
                    }
                }
                prop_assert_eq!(t.sorted(), sorted_model(&m));
                prop_assert_eq!(t.len(), m.values().map(|q| q.len()).sum::<usize>());
                // Every key is reachable from its home (what a hole left in a probe run breaks).
                for (k, q) in m.iter().filter(|(_, q)| !q.is_empty()) {
                    let i = t.find(key_of(*k));
                    prop_assert_eq!(i.map(|i| t.slots[i].count as usize), Some(q.len()));
                }
            }
        }

        /// Stored and read back, the table holds the same sessions, in the same order per key.
        #[test]
        fn round_trips_through_serde(ops in prop::collection::vec(op(), 0..300)) {
            let mut t = OpenTable::new();
            for (n, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Push(k, at) => t.push(k, Open { at, ident: n as u32 }),
                    Op::Pop(k) => { t.pop_oldest(k); }
                    Op::Drain(d) => { t.drain_where(|k| k.0 == d); }
                }
            }
            let json = serde_json::to_string(&t).unwrap();
            let back: OpenTable = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back.sorted(), t.sorted());
            prop_assert!(back == t);
        }
    }

    #[test]
    fn stored_form_is_the_sorted_map_of_queues() {
        let mut t = OpenTable::new();
        let o = |at| Open { at, ident: 7 };
        t.push((2, 1, 1, 1), o(5));
        t.push((1, 1, 1, u32::MAX), o(3));
        t.push((2, 1, 1, 1), o(4));
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(
            json,
            r#"[[[1,1,1,4294967295],[{"at":3,"ident":7}]],[[2,1,1,1],[{"at":5,"ident":7},{"at":4,"ident":7}]]]"#
        );
    }

    #[test]
    fn many_keys_grow_the_table_and_stay_findable() {
        let mut t = OpenTable::new();
        for u in 0..10_000u32 {
            t.push(
                (0, 1, u, u % 97),
                Open {
                    at: u as i64,
                    ident: u,
                },
            );
        }
        assert_eq!(t.len(), 10_000);
        assert!(t.slots.len() >= 20_000 && t.slots.len().is_power_of_two());
        for u in (0..10_000u32).rev() {
            assert_eq!(
                t.pop_oldest((0, 1, u, u % 97)),
                Some(Open {
                    at: u as i64,
                    ident: u
                })
            );
        }
        assert!(t.is_empty());
        assert!(t.slots.iter().all(|s| s.count == 0));
    }
}
