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
    /// The next bytes; empty at the end, or when the source has none to give yet.
    fn read_chunk(&mut self) -> io::Result<&[u8]>;

    /// After an empty read: true if the source has ended (a file read to its end: a live file
    /// takes no part in the merge until it grows), false if the merge must stop and wait for
    /// it (more bytes are coming that must be merged before anything else is applied).
    fn ended(&mut self) -> bool {
        true
    }
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

/// A line read from a file and dated but not yet applied, waiting for its turn in the stream
/// merge: (merge key, instant, event).
pub type Queued = (Instant, Instant, Event);

/// One file of a server in the stream merge: where its bytes come from, its reading state, and
/// the lines read from it that wait for their turn (a live tailer keeps them between calls).
pub struct Lane<'a, S> {
    pub source: S,
    pub file: &'a mut FileIngest,
    pub queue: &'a mut VecDeque<Queued>,
    /// The source has ended (set by [`Tally::merge`]).
    done: bool,
}

impl<'a, S> Lane<'a, S> {
    pub fn new(source: S, file: &'a mut FileIngest, queue: &'a mut VecDeque<Queued>) -> Self {
        Lane {
            source,
            file,
            queue,
            done: false,
        }
    }
}

impl<S: Source + ?Sized> Source for &mut S {
    fn read_chunk(&mut self) -> io::Result<&[u8]> {
        (**self).read_chunk()
    }

    fn ended(&mut self) -> bool {
        (**self).ended()
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
        let mut queues: Vec<VecDeque<Queued>> = vec![VecDeque::new(); files.len()];
        let mut lanes: Vec<Lane<'_, &mut S>> = sources
            .iter_mut()
            .zip(files.iter_mut())
            .zip(queues.iter_mut())
            .map(|((source, file), queue)| Lane::new(source, file, queue))
            .collect();
        let finished = self.merge(server, &mut lanes)?;
        debug_assert!(finished);
        Ok(())
    }

    /// The stream merge of section 3 over the files of `server` (`lanes`, in configuration
    /// order: ties go to the earlier lane), until every lane's source has ended and every queue
    /// is empty (true), or until a source says to wait ([`Source::ended`] false; what was read
    /// waits in the lanes' queues, for a later call: false).
    ///
    /// A source that has ended *for now* takes no part (a live file at its end): the merge is the
    /// contract's for files read whole, and for files that grow it takes the lines each call
    /// finds.
    pub fn merge<S: Source>(
        &mut self,
        server: usize,
        lanes: &mut [Lane<'_, S>],
    ) -> io::Result<bool> {
        if let [lane] = lanes {
            if lane.queue.is_empty() {
                // One file and nothing waiting: its lines go straight in, in file order.
                loop {
                    let chunk = lane.source.read_chunk()?;
                    if chunk.is_empty() {
                        lane.done = lane.source.ended();
                        return Ok(lane.done);
                    }
                    self.feed(server, lane.file, chunk);
                }
            }
        }
        let mut heap = BinaryHeap::new();
        // Lanes whose head must be (re)read and pushed: all of them at first, then the one
        // whose head was just taken.
        let mut stale: Vec<usize> = (0..lanes.len()).collect();
        loop {
            for i in stale.drain(..) {
                if !self.refill(server, &mut lanes[i])? {
                    return Ok(false);
                }
                if let Some(&(key, _, _)) = lanes[i].queue.front() {
                    heap.push(Reverse((key, i)));
                }
            }
            let Some(Reverse((_, i))) = heap.pop() else {
                return Ok(true);
            };
            let (_, at, ev) = lanes[i]
                .queue
                .pop_front()
                .expect("a lane in the heap has a head");
            self.agg.apply(server, at, Some(ev));
            stale.push(i);
        }
    }

    /// Reads a lane until it has a dated event queued or its source has ended (true), or until
    /// its source says to wait (false).
    fn refill<S: Source>(&mut self, server: usize, lane: &mut Lane<'_, S>) -> io::Result<bool> {
        let Tally { opts, names, agg } = self;
        while lane.queue.is_empty() && !lane.done {
            let chunk = lane.source.read_chunk()?;
            if chunk.is_empty() {
                if !lane.source.ended() {
                    return Ok(false);
                }
                lane.done = true;
                break;
            }
            let queue = &mut *lane.queue;
            lane.file
                .feed(chunk, names, opts, &mut |key, at, ev| match ev {
                    Some(ev) => queue.push_back((key, at, ev)),
                    // Lines without an event only move the server's latest instant, which does not
                    // depend on order.
                    None => agg.apply(server, at, None),
                });
        }
        Ok(true)
    }
}
