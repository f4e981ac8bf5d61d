//! Framing: bytes as they arrive (in chunks of any size) into lines (contract, section 1).

use crate::line::MAX_LINE;
use serde::{Deserialize, Serialize};

/// A framed line.
#[derive(Debug, PartialEq, Eq)]
pub enum Framed<'a> {
    /// A complete line, without its `\n` (the `\r` and trailing blanks are still there).
    Line(&'a [u8]),
    /// A line longer than [`MAX_LINE`] bytes before its `\n`: skipped.
    TooLong,
}

/// Cuts a byte stream into lines. Feed it chunks; it calls back once per complete line and keeps
/// the unfinished last line until its `\n` arrives. Removes a UTF-8 BOM at the start of the file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Framer {
    /// The start of the unfinished line (at most `KEEP` bytes are kept).
    partial: Vec<u8>,
    /// Bytes of the unfinished line, including those not kept.
    partial_len: u64,
    /// Bytes consumed so far, up to the end of the last complete line.
    consumed: u64,
    /// True once the first bytes of the file were seen (so a BOM can only be at the start).
    started: bool,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Bytes of an unfinished line worth keeping: enough for a line of `MAX_LINE` bytes after a BOM
/// (the BOM is removed only when the line is complete), plus one to know it is too long.
const KEEP: usize = MAX_LINE + 1 + BOM.len();

impl Framer {
    pub fn new() -> Self {
        Self::default()
    }

    /// The offset just after the last complete line: where a reader that lost its state resumes.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Bytes of an unfinished last line held back.
    pub fn partial_len(&self) -> u64 {
        self.partial_len
    }

    /// Feeds the next chunk of the file.
    pub fn feed(&mut self, mut chunk: &[u8], f: &mut impl FnMut(Framed<'_>)) {
        while !chunk.is_empty() {
            match memchr::memchr(b'\n', chunk) {
                Some(nl) => {
                    let (head, rest) = (&chunk[..nl], &chunk[nl + 1..]);
                    let len = self.partial_len + nl as u64;
                    if self.partial_len == 0 {
                        self.emit(head, len, f);
                    } else {
                        let keep = KEEP.saturating_sub(self.partial.len()).min(head.len());
                        let mut line = std::mem::take(&mut self.partial);
                        line.extend_from_slice(&head[..keep]);
                        self.emit(&line, len, f);
                        line.clear();
                        self.partial = line;
                    }
                    self.consumed += len + 1;
                    self.partial_len = 0;
                    chunk = rest;
                }
                None => {
                    let keep = KEEP.saturating_sub(self.partial.len()).min(chunk.len());
                    self.partial.extend_from_slice(&chunk[..keep]);
                    self.partial_len += chunk.len() as u64;
                    chunk = &[];
                }
            }
        }
    }

    fn emit(&mut self, line: &[u8], len: u64, f: &mut impl FnMut(Framed<'_>)) {
        let (line, len) = if !self.started {
            self.started = true;
            match line.strip_prefix(BOM) {
                Some(rest) => (rest, len - 3),
                None => (line, len),
            }
        } else {
            (line, len)
        };
        if len > MAX_LINE as u64 {
            f(Framed::TooLong)
        } else {
            f(Framed::Line(line))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(chunks: &[&[u8]]) -> Vec<Option<Vec<u8>>> {
        let mut fr = Framer::new();
        let mut out = Vec::new();
        for c in chunks {
            fr.feed(c, &mut |l| {
                out.push(match l {
                    Framed::Line(b) => Some(b.to_vec()),
                    Framed::TooLong => None,
                })
            });
        }
        out
    }

    #[test]
    fn lines_across_chunks_and_unfinished_tail() {
        let out = frame(&[b"ab", b"c\nde", b"f\n", b"gh"]);
        assert_eq!(out, vec![Some(b"abc".to_vec()), Some(b"def".to_vec())]);
    }

    #[test]
    fn bom_removed_only_at_start() {
        let out = frame(&[b"\xEF\xBB", b"\xBFa\n\xEF\xBB\xBFb\n"]);
        assert_eq!(
            out,
            vec![Some(b"a".to_vec()), Some(b"\xEF\xBB\xBFb".to_vec())]
        );
    }

    #[test]
    fn overlong_line_is_skipped_and_counted() {
        let long = vec![b'x'; MAX_LINE + 1];
        let exact = vec![b'y'; MAX_LINE];
        let mut input = long.clone();
        input.push(b'\n');
        input.extend_from_slice(&exact);
        input.extend_from_slice(b"\nok\n");
        // Fed byte by byte and whole: same result.
        let whole = frame(&[&input]);
        let pieces: Vec<&[u8]> = input.chunks(7).collect();
        assert_eq!(whole, frame(&pieces));
        assert_eq!(whole, vec![None, Some(exact), Some(b"ok".to_vec())]);
    }

    #[test]
    fn consumed_counts_complete_lines_only() {
        let mut fr = Framer::new();
        fr.feed(b"a\nbc", &mut |_| {});
        assert_eq!(fr.consumed(), 2);
        assert_eq!(fr.partial_len(), 2);
    }
}
