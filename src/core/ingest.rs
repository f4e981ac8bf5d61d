//! One file's way from bytes to dated events: framing, parsing, interning, dating.
//!
//! A [`FileIngest`] is fed the bytes of one log file in chunks of any size and hands back, in file
//! order, every dated line as `(key, instant, event)`. `key` is the running maximum of the file's
//! instants: the merge of several files of one server (contract, section 3) is a stable merge on
//! `(key, file order)`, which is what a head-by-head stream merge does.

use super::agg::{Event, Kind, Names, Options};
use lmtally_parsers::date::{instant, Instant};
use lmtally_parsers::dater::Cursor;
use lmtally_parsers::{parse_line, Dater, Framed, Framer, Msg, ResetScope, UsageKind};
use serde::{Deserialize, Serialize};

/// Per-file line counts (the `--stats` output and the status endpoint).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStats {
    /// Complete lines read.
    pub lines: u64,
    /// Usage lines by kind (the order of [`UsageKind::ALL`]), malformed ones included.
    pub usage: [u64; 7],
    /// Lines without an envelope, or over the length limit.
    pub skipped: u64,
    /// Usage lines with an empty user or an unclosed quote or group.
    pub malformed: u64,
    pub anchors: u64,
    pub resets: u64,
    /// Bytes up to the end of the last complete line.
    pub bytes: u64,
}

impl FileStats {
    pub fn kind(&self, k: UsageKind) -> u64 {
        self.usage[k as usize]
    }
}

/// The reading state of one file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FileIngest {
    framer: Framer,
    dater: Dater<Option<Event>>,
    /// The largest instant dated so far.
    latest: Option<Instant>,
    pub stats: FileStats,
}

impl FileIngest {
    pub fn new() -> Self {
        Self::default()
    }

    /// Lines still waiting for the file's first date anchor.
    pub fn undated(&self) -> u64 {
        self.dater.pending().len() as u64
    }

    /// The latest instant seen in this file.
    pub fn latest(&self) -> Option<Instant> {
        self.latest
    }

    pub fn cursor(&self) -> Option<Cursor> {
        self.dater.cursor()
    }

    /// Bytes up to the end of the last complete line.
    pub fn consumed(&self) -> u64 {
        self.framer.consumed()
    }

    /// Feeds the next chunk of the file; `out(key, instant, event)` is called for every line
    /// that gets its date, in file order (`event` is `None` for lines that only move time).
    pub fn feed(
        &mut self,
        chunk: &[u8],
        names: &mut Names,
        opts: &Options,
        out: &mut impl FnMut(Instant, Instant, Option<Event>),
    ) {
        let FileIngest {
            framer,
            dater,
            latest,
            stats,
        } = self;
        let mut emit = |day, time, ev: Option<Event>| {
            let at = instant(day, time);
            let key = latest.map_or(at, |l: Instant| l.max(at));
            *latest = Some(key);
            out(key, at, ev);
        };
        framer.feed(chunk, &mut |framed| {
            stats.lines += 1;
            let raw = match framed {
                Framed::Line(raw) => raw,
                Framed::TooLong => {
                    stats.skipped += 1;
                    return;
                }
            };
            let Some(line) = parse_line(raw) else {
                stats.skipped += 1;
                return;
            };
            if line.anchor.is_some() {
                stats.anchors += 1;
            }
            let event = match line.msg {
                Msg::Usage {
                    kind,
                    feature,
                    user,
                    host,
                } => {
                    stats.usage[kind as usize] += 1;
                    let k = match kind {
                        UsageKind::Out => Some(Kind::Out),
                        UsageKind::In => Some(Kind::In),
                        UsageKind::Upgrade => Some(Kind::Upgrade),
                        UsageKind::Denied => Some(Kind::Denied),
                        UsageKind::Unsupported => Some(Kind::Unsupported),
                        UsageKind::Queued | UsageKind::Dequeued => None,
                    };
                    match k {
                        Some(k) => {
                            let ev = names.usage(opts, k, line.daemon, feature, user, host);
                            if ev.is_none() {
                                stats.malformed += 1;
                            }
                            ev
                        }
                        None => None,
                    }
                }
                Msg::Malformed(kind) => {
                    stats.usage[kind as usize] += 1;
                    stats.malformed += 1;
                    None
                }
                Msg::Reset(scope) => {
                    stats.resets += 1;
                    Some(Event::Reset {
                        daemon: match scope {
                            ResetScope::All => None,
                            ResetScope::Daemon(d) => Some(names.word(d)),
                        },
                    })
                }
                Msg::Other => None,
            };
            dater.push(line.time, line.anchor, event, &mut emit);
        });
        stats.bytes = framer.consumed();
    }
}
