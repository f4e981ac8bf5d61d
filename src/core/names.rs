//! Interning: user, host, daemon and feature names to dense `u32` ids.
//!
//! Names arrive as raw bytes from the log; they are decoded as lossy UTF-8 (each invalid sequence
//! becomes one U+FFFD) and, with `fold_case`, lower-cased, before anything compares them.

use hashbrown::HashTable;
use rustc_hash::FxHasher;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::hash::Hasher;

/// A table of distinct strings; ids are dense, in order of first appearance.
///
/// The lookup table keeps each name's first bytes inline beside its id, so that finding a short
/// name (user and host names are cut to a few dozen bytes by FlexLM) touches the table only, not
/// a separately allocated string: with 100k names, a lookup costs one cache miss, not three.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Interner {
    names: Vec<Box<str>>,
    #[serde(skip)]
    table: HashTable<Slot>,
}

const INLINE: usize = 24;

#[derive(Clone, Copy, Debug)]
struct Slot {
    id: u32,
    len: u32,
    head: [u8; INLINE],
}

impl Slot {
    fn new(id: u32, s: &str) -> Slot {
        let mut head = [0u8; INLINE];
        let n = s.len().min(INLINE);
        head[..n].copy_from_slice(&s.as_bytes()[..n]);
        Slot {
            id,
            len: s.len() as u32,
            head,
        }
    }

    #[inline]
    fn matches(&self, s: &str, names: &[Box<str>]) -> bool {
        let b = s.as_bytes();
        if self.len as usize != b.len() {
            return false;
        }
        let n = b.len().min(INLINE);
        self.head[..n] == b[..n]
            && (b.len() <= INLINE || names[self.id as usize].as_bytes()[INLINE..] == b[INLINE..])
    }
}

fn hash_str(s: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write(s.as_bytes());
    h.finish()
}

impl Interner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds the lookup table (after deserializing).
    pub fn reindex(&mut self) {
        let mut table = HashTable::with_capacity(self.names.len());
        for (i, n) in self.names.iter().enumerate() {
            table.insert_unique(hash_str(n), Slot::new(i as u32, n), |slot: &Slot| {
                hash_str(&self.names[slot.id as usize])
            });
        }
        self.table = table;
    }

    pub fn intern(&mut self, s: &str) -> u32 {
        let hash = hash_str(s);
        let names = &self.names;
        if let Some(slot) = self.table.find(hash, |slot| slot.matches(s, names)) {
            return slot.id;
        }
        let id = self.names.len() as u32;
        self.names.push(s.into());
        let names = &self.names;
        self.table.insert_unique(hash, Slot::new(id, s), |slot| {
            hash_str(&names[slot.id as usize])
        });
        id
    }

    pub fn get(&self, s: &str) -> Option<u32> {
        let names = &self.names;
        self.table
            .find(hash_str(s), |slot| slot.matches(s, names))
            .map(|slot| slot.id)
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
        let mut copy: Interner = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        copy.reindex();
        assert_eq!(copy.get("b"), Some(1));
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
