//! Feeding a server's files into the aggregator in the order of the contract (section 3).
//!
//! Lines of one file keep their order; lines of several files are merged head by head, smallest
//! instant first, ties to the file listed first. A head-by-head merge of sequences that are not
//! sorted is the same as a stable merge on each line's running-maximum instant (`key`), which is
//! what [`FileIngest`] hands out: a file's later line can never be taken before its earlier line,
//! and while an earlier line with a large instant waits, everything behind it waits too.

use super::agg::{Aggregator, Event, Names, Options};
use super::ingest::{FileIngest, Sink};
use lmtally_parsers::date::Instant;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;

/// Where a file's bytes come from: a real file at the edge, memory in tests.
pub trait Source {
    /// The next bytes; empty at the end.
    fn read_chunk(&mut self) -> io::Result<&[u8]>;
}

/// A source over chunks held in memory (tests, and logs built in memory).
pub struct MemSource<'a> {
    pub chunks: std::vec::IntoIter<&'a [u8]>,
}

impl<'a> MemSource<'a> {
    pub fn new(chunks: Vec<&'a [u8]>) -> Self {
        MemSource {
            chunks: chunks.into_iter(),
        }
    }
}

impl Source for MemSource<'_> {
    fn read_chunk(&mut self) -> io::Result<&[u8]> {
        // Empty chunks are skipped: an empty answer means the end.
        Ok(self.chunks.by_ref().find(|c| !c.is_empty()).unwrap_or(&[]))
    }
}

/// Applies a file's lines to the aggregates as they come.
struct Apply<'a> {
    agg: &'a mut Aggregator,
    server: usize,
}

impl Sink for Apply<'_> {
    #[inline]
    fn line(&mut self, _key: Instant, at: Instant, event: Option<Event>) {
        self.agg.apply(self.server, at, event)
    }

    #[inline]
    fn hint(&mut self, event: &Event) {
        self.agg.prefetch(self.server, event)
    }
}

/// Names, aggregates and options: everything the report is computed from.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub opts: Options,
    pub names: Names,
    pub agg: Aggregator,
}

impl Tally {
    pub fn new(opts: Options) -> Self {
        Tally {
            opts,
            names: Names::default(),
            agg: Aggregator::new(opts),
        }
    }

    /// Feeds one chunk of one file of `server` straight into the aggregates (a server with a
    /// single file, or a live tailer that takes lines as they come).
    pub fn feed(&mut self, server: usize, file: &mut FileIngest, chunk: &[u8]) {
        let Tally { opts, names, agg } = self;
        file.feed(chunk, names, opts, &mut Apply { agg, server });
    }

    /// Reads every file of `server` to its end, through the stream merge. `files[i]` is the
    /// state of `sources[i]`, listed in configuration order.
    pub fn ingest_server<S: Source>(
        &mut self,
        server: usize,
        sources: &mut [S],
        files: &mut [FileIngest],
    ) -> io::Result<()> {
        assert_eq!(sources.len(), files.len());
        if sources.len() == 1 {
            loop {
                let chunk = sources[0].read_chunk()?;
                if chunk.is_empty() {
                    break;
                }
                self.feed(server, &mut files[0], chunk);
            }
            return Ok(());
        }
        let n = sources.len();
        let mut queues: Vec<VecDeque<(Instant, Instant, Event)>> = vec![VecDeque::new(); n];
        let mut done = vec![false; n];
        let mut heap = BinaryHeap::new();
        // Files whose head must be (re)read and pushed: all of them at first, then the one whose
        // head was just taken.
        let mut stale: Vec<usize> = (0..n).collect();
        loop {
            for i in stale.drain(..) {
                if queues[i].is_empty() {
                    self.refill(
                        server,
                        &mut sources[i],
                        &mut files[i],
                        &mut queues[i],
                        &mut done[i],
                    )?;
                }
                if let Some(&(key, _, _)) = queues[i].front() {
                    heap.push(Reverse((key, i)));
                }
            }
            let Some(Reverse((_, i))) = heap.pop() else {
                break;
            };
            let (_, at, ev) = queues[i]
                .pop_front()
                .expect("a file in the heap has a head");
            self.agg.apply(server, at, Some(ev));
            stale.push(i);
        }
        Ok(())
    }

    /// Reads file `i` until it has a dated event queued or ends.
    fn refill<S: Source>(
        &mut self,
        server: usize,
        source: &mut S,
        file: &mut FileIngest,
        queue: &mut VecDeque<(Instant, Instant, Event)>,
        done: &mut bool,
    ) -> io::Result<()> {
        let Tally { opts, names, agg } = self;
        while queue.is_empty() && !*done {
            let chunk = source.read_chunk()?;
            if chunk.is_empty() {
                *done = true;
                break;
            }
            file.feed(chunk, names, opts, &mut |key, at, ev| match ev {
                Some(ev) => queue.push_back((key, at, ev)),
                // Lines without an event only move the server's latest instant, which does not
                // depend on order.
                None => agg.apply(server, at, None),
            });
        }
        Ok(())
    }
}
