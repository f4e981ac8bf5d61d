//! Interning: user, host, daemon and feature names to dense `u32` ids.
//!
//! Names arrive as raw bytes from the log; they are decoded as lossy UTF-8 (each invalid sequence
//! becomes one U+FFFD) and, with `fold_case`, lower-cased, before anything compares them.

use rustc_hash::FxHasher;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::hash::Hasher;

/// A table of distinct strings; ids are dense, in order of first appearance.
///
/// The lookup table is open-addressed (linear probing) and keeps each name's first bytes inline
/// beside its id, so that finding a short name (user and host names are cut to a few dozen bytes
/// by FlexLM) touches the table only, not a separately allocated string: one cache line per
/// lookup.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(from = "Names")]
pub struct Interner {
    names: Vec<Box<str>>,
    #[serde(skip)]
    slots: Vec<Slot>,
}

/// What an [`Interner`] is read back from: its names; the lookup table is rebuilt.
#[derive(Deserialize)]
struct Names {
    names: Vec<Box<str>>,
}

impl From<Names> for Interner {
    fn from(n: Names) -> Self {
        let mut t = Interner {
            names: n.names,
            slots: Vec::new(),
        };
        t.reindex();
        t
    }
}

const INLINE: usize = 24;

/// The id of a free slot.
const FREE: u32 = u32::MAX;

/// The fewest slots of a table that has any.
const MIN_SLOTS: usize = 16;

#[derive(Clone, Copy, Debug)]
#[repr(C, align(32))]
struct Slot {
    id: u32,
    /// The top bits of the name's hash: almost every slot that is not the name's fails here.
    tag: u16,
    /// The name's length, at most `u16::MAX`.
    len: u16,
    /// The name's first bytes, then zeros.
    head: [u8; INLINE],
}

const FREE_SLOT: Slot = Slot {
    id: FREE,
    tag: 0,
    len: 0,
    head: [0; INLINE],
};

impl Slot {
    fn new(id: u32, hash: u64, s: &str) -> Slot {
        let b = s.as_bytes();
        let mut head = [0u8; INLINE];
        let n = b.len().min(INLINE);
        head[..n].copy_from_slice(&b[..n]);
        Slot {
            id,
            tag: tag(hash),
            len: short_len(b),
            head,
        }
    }
}

#[inline]
fn tag(hash: u64) -> u16 {
    (hash >> 48) as u16
}

#[inline]
fn short_len(b: &[u8]) -> u16 {
    b.len().min(u16::MAX as usize) as u16
}

/// Whether two byte strings are equal: for the short names of a log line, word compares
/// inline instead of a call to `memcmp`.
#[inline]
pub fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], i: usize| u64::from_le_bytes(s[i..i + 8].try_into().unwrap_or_default());
    let half = |s: &[u8], i: usize| u32::from_le_bytes(s[i..i + 4].try_into().unwrap_or_default());
    if n >= 8 {
        if n > 32 {
            return a == b;
        }
        // Whole words, then the last word (overlapping the one before).
        let mut i = 0;
        while i + 8 < n {
            if word(a, i) != word(b, i) {
                return false;
            }
            i += 8;
        }
        word(a, n - 8) == word(b, n - 8)
    } else if n >= 4 {
        half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4)
    } else {
        a.iter().zip(b).all(|(x, y)| x == y)
    }
}

/// The hash of a name in an [`Interner`].
fn hash_str(s: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write(s.as_bytes());
    h.finish()
}

impl Interner {
    pub fn new() -> Self {
        Self::default()
    }

    /// The home slot of a hash (Fibonacci hashing: the product's top bits). The table must
    /// have slots.
    #[inline]
    fn home(&self, hash: u64) -> usize {
        let bits = self.slots.len().trailing_zeros();
        (hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize
    }

    /// The slot holding `s` (`Ok(id)`), or the free slot where it would go (`Err(index)`).
    /// The table must have slots, and at least one free.
    #[inline]
    fn find(&self, hash: u64, s: &str) -> Result<u32, usize> {
        let b = s.as_bytes();
        let (tag, len) = (tag(hash), short_len(b));
        let mask = self.slots.len() - 1;
        let mut i = self.home(hash);
        loop {
            let slot = &self.slots[i];
            if slot.id == FREE {
                return Err(i);
            }
            if slot.tag == tag
                && slot.len == len
                && if b.len() <= INLINE {
                    bytes_eq(&slot.head[..b.len()], b)
                } else {
                    *self.names[slot.id as usize] == *s
                }
            {
                return Ok(slot.id);
            }
            i = (i + 1) & mask;
        }
    }

    /// Rebuilds the lookup table with room for `n` names.
    fn rebuild(&mut self, n: usize) {
        // At most 4/5 full, so that probing for a missing name stops soon.
        let want = (n * 5 / 4 + 1).next_power_of_two().max(MIN_SLOTS);
        self.slots = crate::core::huge_vec(want, FREE_SLOT);
        for id in 0..self.names.len() {
            let name = &self.names[id];
            let hash = hash_str(name);
            if let Err(i) = self.find(hash, name) {
                self.slots[i] = Slot::new(id as u32, hash, name);
            }
        }
    }

    /// Rebuilds the lookup table (after deserializing).
    pub fn reindex(&mut self) {
        self.rebuild(self.names.len());
    }

    pub fn intern(&mut self, s: &str) -> u32 {
        if (self.names.len() + 1) * 5 > self.slots.len() * 4 {
            self.rebuild(self.names.len() + 1);
        }
        let hash = hash_str(s);
        match self.find(hash, s) {
            Ok(id) => id,
            Err(i) => {
                let id = self.names.len() as u32;
                self.slots[i] = Slot::new(id, hash, s);
                self.names.push(s.into());
                id
            }
        }
    }

    pub fn get(&self, s: &str) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        self.find(hash_str(s), s).ok()
    }

    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Decodes a field as the contract says: lossy UTF-8, then (with `fold_case`) full Unicode
/// lower-casing. Borrows when nothing changes.
pub fn decode(bytes: &[u8], fold_case: bool) -> Cow<'_, str> {
    let s = if bytes.is_ascii() {
        // SAFETY: ASCII bytes are valid UTF-8.
        Cow::Borrowed(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        String::from_utf8_lossy(bytes)
    };
    if !fold_case {
        return s;
    }
    if s.is_ascii() && !s.bytes().any(|c| c.is_ascii_uppercase()) {
        return s;
    }
    Cow::Owned(s.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_ids_and_lookup() {
        let mut t = Interner::new();
        // Long names (past the inline head) and names that share a head are told apart.
        let long_a = "a".repeat(30);
        let long_b = format!("{}b", "a".repeat(29));
        let la = t.intern(&long_a);
        let lb = t.intern(&long_b);
        assert_ne!(la, lb);
        assert_eq!(t.get(&long_a), Some(la));
        assert_eq!(t.get(&long_b), Some(lb));
        assert_eq!(t.get(&"a".repeat(29)), None);
        let mut t = Interner::new();
        assert_eq!(t.intern("a"), 0);
        assert_eq!(t.intern("b"), 1);
        assert_eq!(t.intern("a"), 0);
        assert_eq!(t.name(1), "b");
        let copy: Interner = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(copy.get("b"), Some(1));
    }

    #[test]
    fn many_names_grow_the_table_and_stay_distinct() {
        // Enough names to rebuild the table many times, with shared heads and long tails, so
        // that probe sequences run over occupied slots.
        let mut t = Interner::new();
        let name = |i: u32| {
            if i.is_multiple_of(3) {
                format!("{}{i}", "x".repeat(INLINE))
            } else {
                format!("n{i}")
            }
        };
        for i in 0..50_000 {
            assert_eq!(t.intern(&name(i)), i);
        }
        for i in 0..50_000 {
            assert_eq!(t.get(&name(i)), Some(i));
        }
        assert_eq!(t.get("n50000"), None);
        assert_eq!(t.get(&"x".repeat(INLINE)), None);
        // A copy read back finds and adds names.
        let mut copy: Interner = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(copy.get("n1"), Some(1));
        assert_eq!(copy.intern("n1"), 1);
        assert_eq!(copy.intern("new"), 50_000);
    }

    #[test]
    fn bytes_eq_is_slice_equality() {
        // Every length up to past the inline compare, a difference at every position.
        for n in 0..40usize {
            let a: Vec<u8> = (0..n as u8).collect();
            assert!(bytes_eq(&a, &a.clone()));
            for i in 0..n {
                let mut b = a.clone();
                b[i] ^= 0x20;
                assert!(!bytes_eq(&a, &b), "n {n} i {i}");
            }
            assert!(!bytes_eq(&a, &a[..n.saturating_sub(1)]) || n == 0);
        }
    }

    #[test]
    fn decoding_is_lossy_and_folds_unicode() {
        // A name cut in the middle of "ñ" (0xC3 0xB1) ends in one U+FFFD.
        assert_eq!(decode(b"gra\xC3", false), "gra\u{FFFD}");
        assert_eq!(decode("José GRAÑA".as_bytes(), true), "josé graña");
        assert_eq!(decode(b"UPM", true), "upm");
        assert_eq!(decode(b"UPM", false), "UPM");
    }
}
