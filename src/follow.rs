//! File identity and the decisions of a follower, kept pure so they can be tested without a
//! file system.
//!
//! A followed file is known by its **head**: the first bytes read from it (at most
//! [`HEAD_MAX`]), kept as they were read. Its fingerprint, shown by the status endpoint, is an
//! FNV-1a hash of the head plus the head's length. The read position of a file is only valid while
//! the file at hand still starts with that head: a file that is shorter than the read position,
//! or whose first bytes changed, is a new file (contract, section 3), whatever its size.
//!
//! The inode (device, inode number) tells whether the handle the follower holds is still the file
//! at the path: after a rename-and-create rotation, a deletion or another file moved over the
//! path, the path leads to a different inode (or to nothing), and the old file is read to its end
//! through the handle before the new one is taken.

use serde::{Deserialize, Serialize};

/// The largest head kept: 1 KiB identifies a FlexLM log (its first lines carry times and dates).
pub const HEAD_MAX: usize = 1024;

/// The first bytes of a file, as read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Head(pub Vec<u8>);

impl Head {
    /// FNV-1a (64 bits) of the head.
    pub fn hash(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in &self.0 {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    }

    /// The fingerprint as the status endpoint shows it: 16 hex digits of the hash, `:` and the
    /// number of bytes hashed.
    pub fn fingerprint(&self) -> String {
        format!("{:016x}:{}", self.hash(), self.0.len())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when a file whose first bytes are `prefix` (at most [`HEAD_MAX`] of them, fewer only
    /// when the file is that short) starts with this head.
    pub fn matches(&self, prefix: &[u8]) -> bool {
        prefix.len() >= self.0.len() && prefix[..self.0.len()] == self.0[..]
    }

    /// Takes the bytes just read at `pos` (reads go forward from the end of the head, so the
    /// head always holds the first `min(read position, HEAD_MAX)` bytes, as they were read).
    pub fn take_read(&mut self, pos: u64, chunk: &[u8]) {
        if pos == self.0.len() as u64 && self.0.len() < HEAD_MAX {
            let take = (HEAD_MAX - self.0.len()).min(chunk.len());
            self.0.extend_from_slice(&chunk[..take]);
        }
    }
}

impl Serialize for Head {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut hex = String::with_capacity(self.0.len() * 2);
        for b in &self.0 {
            hex.push_str(&format!("{b:02x}"));
        }
        s.serialize_str(&hex)
    }
}

impl<'de> Deserialize<'de> for Head {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() % 2 != 0 || s.len() > 2 * HEAD_MAX {
            return Err(serde::de::Error::custom(
                "a head is at most 1024 bytes in hex",
            ));
        }
        let mut v = Vec::with_capacity(s.len() / 2);
        for i in (0..s.len()).step_by(2) {
            let byte = s
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| serde::de::Error::custom("a head is hex digits"))?;
            v.push(byte);
        }
        Ok(Head(v))
    }
}

/// What the follower knows of a file: its inode when last seen, its head and its read position
/// (bytes fed to the reader, an unfinished last line included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Known<'a> {
    pub dev: u64,
    pub ino: u64,
    pub head: &'a Head,
    pub offset: u64,
}

/// What a look at a path shows now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen<'a> {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    /// The file's first `min(size, HEAD_MAX)` bytes.
    pub prefix: &'a [u8],
}

/// What to do with a known file after looking at its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Same file, nothing new.
    Idle,
    /// Same file, grown: read from the offset.
    Read,
    /// Same inode, smaller than the read position (copytruncate, `lmgrd -l` restart): a new
    /// file, read from the start.
    Truncated,
    /// Same inode, at least as large, but its first bytes changed (truncated and rewritten past
    /// the old size): a new file, read from the start.
    Rewritten,
    /// Another inode at the path (rename-and-create rotation, a file moved over the path,
    /// deleted and created again): finish the old file through its handle, then look at the
    /// path as a file not yet known.
    Replaced,
    /// Nothing at the path (deleted or renamed away): finish the old file through its handle.
    Gone,
}

/// The decision for a known file whose path now shows `seen` (`None`: nothing there).
pub fn decide(known: &Known<'_>, seen: Option<&Seen<'_>>) -> Action {
    let Some(seen) = seen else {
        return Action::Gone;
    };
    if (seen.dev, seen.ino) != (known.dev, known.ino) {
        return Action::Replaced;
    }
    if seen.size < known.offset {
        return Action::Truncated;
    }
    if !known.head.matches(seen.prefix) {
        return Action::Rewritten;
    }
    if seen.size > known.offset {
        Action::Read
    } else {
        Action::Idle
    }
}

/// A file the follower knows, as a candidate for a path it has not yet matched.
#[derive(Clone, Debug)]
pub struct Candidate<'a> {
    pub known: Known<'a>,
    /// Still being followed at another path (a match is then a copy of it).
    pub attached: bool,
}

/// How a path not yet matched relates to the known files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identity {
    /// Candidate `i`, under a new name (same inode, same head): continue it.
    Renamed(usize),
    /// Candidate `i` is not followed any more and this file starts with its head and is at least
    /// as long as its read position (moved back, restored, or found again after a restart on a
    /// file system whose inode numbers changed): continue it.
    Adopted(usize),
    /// Candidate `i` is still followed at another path and this file is a copy of it (logrotate's
    /// copytruncate into a path that is also followed): continue from its state.
    Copy(usize),
    /// The file starts with candidate `i`'s head but is shorter than its read position: most
    /// likely a copy still being written (copytruncate). Look again later.
    Growing(usize),
    /// A file never seen: read it from the start.
    New,
}

/// Identifies a file at a path that no known file is attached to. Empty heads match nothing (an
/// empty file tells nothing about where it came from).
pub fn identify(candidates: &[Candidate<'_>], seen: &Seen<'_>) -> Identity {
    let fits = |c: &Candidate<'_>| {
        !c.known.head.is_empty() && c.known.head.matches(seen.prefix) && seen.size >= c.known.offset
    };
    if let Some(i) = candidates.iter().position(|c| {
        !c.attached
            && (c.known.dev, c.known.ino) == (seen.dev, seen.ino)
            && c.known.head.matches(seen.prefix)
            && seen.size >= c.known.offset
    }) {
        return Identity::Renamed(i);
    }
    if let Some(i) = candidates.iter().position(|c| !c.attached && fits(c)) {
        return Identity::Adopted(i);
    }
    if let Some(i) = candidates
        .iter()
        .position(|c| c.attached && (c.known.dev, c.known.ino) != (seen.dev, seen.ino) && fits(c))
    {
        return Identity::Copy(i);
    }
    if let Some(i) = candidates.iter().position(|c| {
        !c.known.head.is_empty()
            && c.known.head.matches(seen.prefix)
            && seen.size < c.known.offset
            && (c.known.dev, c.known.ino) != (seen.dev, seen.ino)
    }) {
        return Identity::Growing(i);
    }
    Identity::New
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(s: &str) -> Head {
        Head(s.as_bytes().to_vec())
    }

    fn known(head: &Head, ino: u64, offset: u64) -> Known<'_> {
        Known {
            dev: 1,
            ino,
            head,
            offset,
        }
    }

    fn seen(ino: u64, content: &str) -> Seen<'_> {
        let b = content.as_bytes();
        Seen {
            dev: 1,
            ino,
            size: b.len() as u64,
            prefix: &b[..b.len().min(HEAD_MAX)],
        }
    }

    #[test]
    fn append_idle_and_partial_lines() {
        let h = head("10:00:00 (lmgrd) a\n");
        let k = known(&h, 7, 19);
        assert_eq!(
            decide(&k, Some(&seen(7, "10:00:00 (lmgrd) a\n"))),
            Action::Idle
        );
        assert_eq!(
            decide(&k, Some(&seen(7, "10:00:00 (lmgrd) a\n10:0"))),
            Action::Read
        );
    }

    #[test]
    fn truncation_is_below_the_offset_whatever_the_content() {
        let h = head("10:00:00 (lmgrd) a\n");
        let k = known(&h, 7, 19);
        assert_eq!(decide(&k, Some(&seen(7, ""))), Action::Truncated);
        assert_eq!(
            decide(&k, Some(&seen(7, "10:00:00 (lmgrd) a"))),
            Action::Truncated
        );
    }

    #[test]
    fn rewrite_past_the_old_size_is_seen_by_the_head() {
        let h = head("10:00:00 (lmgrd) a\n");
        let k = known(&h, 7, 19);
        assert_eq!(
            decide(
                &k,
                Some(&seen(7, "11:00:00 (lmgrd) b\n11:00:01 (lmgrd) c\n"))
            ),
            Action::Rewritten
        );
        // Same first bytes and longer: an append (a rewrite that repeats the head exactly cannot
        // be told from one).
        assert_eq!(
            decide(&k, Some(&seen(7, "10:00:00 (lmgrd) a\nmore\n"))),
            Action::Read
        );
    }

    #[test]
    fn another_inode_or_nothing_at_the_path() {
        let h = head("x\n");
        let k = known(&h, 7, 2);
        assert_eq!(decide(&k, Some(&seen(8, "x\n"))), Action::Replaced);
        assert_eq!(decide(&k, None), Action::Gone);
    }

    #[test]
    fn head_holds_the_first_bytes_read() {
        let mut h = Head::default();
        h.take_read(0, b"ab");
        h.take_read(2, b"cd");
        assert_eq!(h, head("abcd"));
        // A read elsewhere (not at the end of the head) changes nothing.
        h.take_read(10, b"zz");
        assert_eq!(h, head("abcd"));
        let long = vec![b'q'; 3000];
        h.take_read(4, &long);
        assert_eq!(h.len(), HEAD_MAX);
        h.take_read(HEAD_MAX as u64, b"x");
        assert_eq!(h.len(), HEAD_MAX);
    }

    #[test]
    fn head_serializes_as_hex_and_rejects_junk() {
        let h = head("A\n");
        let s = serde_json::to_string(&h).unwrap();
        assert_eq!(s, "\"410a\"");
        assert_eq!(serde_json::from_str::<Head>(&s).unwrap(), h);
        assert!(serde_json::from_str::<Head>("\"41x\"").is_err());
        assert!(serde_json::from_str::<Head>("\"zz\"").is_err());
        assert_eq!(h.fingerprint().len(), 16 + 2);
        assert_ne!(head("a").hash(), head("b").hash());
    }

    #[test]
    fn identify_renamed_adopted_copy_new() {
        let h1 = head("log one\n");
        let h2 = head("log two\n");
        let empty = Head::default();
        let cands = vec![
            Candidate {
                known: known(&h1, 5, 8),
                attached: false,
            },
            Candidate {
                known: known(&h2, 6, 8),
                attached: true,
            },
            Candidate {
                known: known(&empty, 9, 0),
                attached: false,
            },
        ];
        // Same inode as a detached file, same head: renamed (rotation into a followed name).
        assert_eq!(
            identify(&cands, &seen(5, "log one\nmore\n")),
            Identity::Renamed(0)
        );
        // Another inode, same head and long enough: adopted.
        assert_eq!(
            identify(&cands, &seen(50, "log one\n")),
            Identity::Adopted(0)
        );
        // The same head, shorter than the read position: a copy being written.
        assert_eq!(
            identify(&cands, &seen(50, "log one\n")),
            Identity::Adopted(0)
        );
        let short = Head(b"log one\n".to_vec());
        let cands2 = vec![Candidate {
            known: known(&short, 5, 20),
            attached: true,
        }];
        assert_eq!(
            identify(&cands2, &seen(50, "log one\nmo")),
            Identity::Growing(0)
        );
        // Shorter than the head: nothing in common yet.
        assert_eq!(identify(&cands, &seen(50, "log one")), Identity::New);
        // A copy of a file still followed.
        assert_eq!(identify(&cands, &seen(51, "log two\nx")), Identity::Copy(1));
        // An empty head matches nothing by content, only by inode; an unknown head is new.
        assert_eq!(identify(&cands, &seen(9, "")), Identity::Renamed(2));
        assert_eq!(identify(&cands, &seen(53, "")), Identity::New);
        assert_eq!(identify(&cands, &seen(52, "log three\n")), Identity::New);
    }
}
