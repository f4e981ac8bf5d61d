//! One file's way from bytes to dated events: framing, parsing, interning, dating.
//!
//! A [`FileIngest`] is fed the bytes of one log file in chunks of any size and hands back, in file
//! order, every dated line as `(key, instant, event)`. `key` is the running maximum of the file's
//! instants: the merge of several files of one server (contract, section 3) is a stable merge on
//! `(key, file order)`, which is what a head-by-head stream merge does.

use super::agg::{Event, Kind, Names, Options, PairKey};
use lmtally_parsers::date::{instant, Day, Instant};
use lmtally_parsers::dater::Cursor;
use lmtally_parsers::{parse_line, Dater, Framed, Framer, Msg, ResetScope, UsageKind};
use serde::{Deserialize, Serialize};

/// Where [`FileIngest::feed`] hands its dated lines.
pub trait Sink {
    /// A line that got its date: `key` is the file's running maximum instant, `at` the line's
    /// own, `event` `None` for a line that only moves time.
    fn line(&mut self, key: Instant, at: Instant, event: Option<Event>);

    /// Told of each usage event of a batch before the batch's lines are handed to
    /// [`Sink::line`]: a chance to start loading what they will need. Does nothing by default.
    #[inline]
    fn hint(&mut self, _event: &Event) {}
}

impl<F: FnMut(Instant, Instant, Option<Event>)> Sink for F {
    #[inline]
    fn line(&mut self, key: Instant, at: Instant, event: Option<Event>) {
        self(key, at, event)
    }
}

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
    /// Lines parsed but not yet resolved and dated: empty between calls to `feed`.
    #[serde(skip)]
    batch: Batch,
}

/// Up to [`BATCH`] parsed lines, the names they still need resolved copied into `arena`. Lines are parsed a batch at a
/// time and the name-table slots they will need are prefetched, so that the lookups of a batch
/// wait for memory together instead of one after the other (name tables with 100k users do
/// not fit the processor's caches).
#[derive(Clone, Debug, Default)]
struct Batch {
    arena: Vec<u8>,
    lines: Vec<Parsed>,
    /// The events of `lines`, while a batch is flushed.
    events: Vec<Option<Event>>,
}

const BATCH: usize = 64;

/// (start, length) of a name in `Batch::arena`.
type Span = (u32, u32);

#[derive(Clone, Copy, Debug)]
struct Parsed {
    time: u32,
    anchor: Option<Day>,
    what: What,
}

#[derive(Clone, Copy, Debug)]
enum What {
    /// A line that only moves time.
    Nothing,
    Usage {
        kind: Kind,
        /// Interned when the line is parsed: the word cache answers at once, nothing to wait
        /// for.
        daemon: u32,
        feature: u32,
        user: Span,
        host: Span,
        /// The user and host as a pair-cache key, and its hash, when they are short enough
        /// (they are then not copied into the arena, `user` and `host` are empty).
        pair: Option<(PairKey, u64)>,
    },
    Reset(Option<Span>),
}

impl Batch {
    fn put(&mut self, bytes: &[u8]) -> Span {
        let start = self.arena.len() as u32;
        self.arena.extend_from_slice(bytes);
        (start, bytes.len() as u32)
    }

    fn get(&self, (start, len): Span) -> &[u8] {
        &self.arena[start as usize..(start + len) as usize]
    }

    /// Resolves the names of the batch's lines, hints the sink of their events, then dates
    /// them in order and empties the batch.
    fn flush(
        &mut self,
        dater: &mut Dater<Option<Event>>,
        names: &mut Names,
        opts: &Options,
        stats: &mut FileStats,
        latest: &mut Option<Instant>,
        sink: &mut impl Sink,
    ) {
        let mut events = std::mem::take(&mut self.events);
        for p in &self.lines {
            let event = match p.what {
                What::Nothing => None,
                What::Usage {
                    kind,
                    daemon,
                    feature,
                    user,
                    host,
                    pair,
                } => {
                    let (user, host) = match &pair {
                        Some((key, _)) => (key.user(), key.host()),
                        None => (self.get(user), self.get(host)),
                    };
                    let ev = names.usage(
                        opts,
                        kind,
                        daemon,
                        feature,
                        user,
                        host,
                        pair.as_ref().map(|(key, hash)| (key, *hash)),
                    );
                    match &ev {
                        Some(ev) => sink.hint(ev),
                        None => stats.malformed += 1,
                    }
                    ev
                }
                What::Reset(daemon) => Some(Event::Reset {
                    daemon: daemon.map(|d| names.word(self.get(d))),
                }),
            };
            events.push(event);
        }
        for (p, event) in self.lines.iter().zip(events.drain(..)) {
            dater.push(p.time, p.anchor, event, &mut |day, time, ev| {
                let at = instant(day, time);
                let key = latest.map_or(at, |l: Instant| l.max(at));
                *latest = Some(key);
                sink.line(key, at, ev);
            });
        }
        self.events = events;
        self.lines.clear();
        self.arena.clear();
    }
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

    /// Feeds the next chunk of the file; `out` gets every line that gets its date, in file
    /// order (a closure `out(key, instant, event)` is a [`Sink`]).
    pub fn feed(&mut self, chunk: &[u8], names: &mut Names, opts: &Options, out: &mut impl Sink) {
        let FileIngest {
            framer,
            dater,
            latest,
            stats,
            batch,
        } = self;
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
            let what = match line.msg {
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
                        Some(kind) => {
                            let pair = PairKey::new(user, host).map(|key| {
                                let hash = key.hash();
                                names.prefetch_pair(hash);
                                (key, hash)
                            });
                            let (user, host) = match pair {
                                Some(_) => ((0, 0), (0, 0)),
                                None => (batch.put(user), batch.put(host)),
                            };
                            What::Usage {
                                kind,
                                daemon: names.word(line.daemon),
                                feature: names.word(feature),
                                user,
                                host,
                                pair,
                            }
                        }
                        None => What::Nothing,
                    }
                }
                Msg::Malformed(kind) => {
                    stats.usage[kind as usize] += 1;
                    stats.malformed += 1;
                    What::Nothing
                }
                Msg::Reset(scope) => {
                    stats.resets += 1;
                    What::Reset(match scope {
                        ResetScope::All => None,
                        ResetScope::Daemon(d) => Some(batch.put(d)),
                    })
                }
                Msg::Other => What::Nothing,
            };
            batch.lines.push(Parsed {
                time: line.time,
                anchor: line.anchor,
                what,
            });
            if batch.lines.len() == BATCH {
                batch.flush(dater, names, opts, stats, latest, out);
            }
        });
        batch.flush(dater, names, opts, stats, latest, out);
        stats.bytes = framer.consumed();
    }
}
