//! Interning: user, host, daemon and feature names to dense `u32` ids.
//!
//! Names arrive as raw bytes from the log; they are decoded as lossy UTF-8 (each invalid sequence
//! becomes one U+FFFD) and, with `fold_case`, lower-cased, before anything compares them.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// A table of distinct strings; ids are dense, in order of first appearance.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Interner {
    names: Vec<Box<str>>,
    #[serde(skip)]
    index: FxHashMap<Box<str>, u32>,
}

impl Interner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds the lookup index (after deserializing).
    pub fn reindex(&mut self) {
        self.index = self.names.iter().enumerate().map(|(i, n)| (n.clone(), i as u32)).collect();
    }

    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.index.get(s) {
            return id;
        }
        let id = self.names.len() as u32;
        let boxed: Box<str> = s.into();
        self.names.push(boxed.clone());
        self.index.insert(boxed, id);
        id
    }

    pub fn get(&self, s: &str) -> Option<u32> {
        self.index.get(s).copied()
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
    let s = String::from_utf8_lossy(bytes);
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
