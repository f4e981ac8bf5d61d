//! The reader side of the daemon: follows the configured logs into [`AppState`] and the store.
//!
//! [`Engine`] is one thread's worth of work, driven in rounds: a **look** at every configured path
//! (globs expanded, each file opened and its first bytes read), decisions by
//! [`follow::decide`](crate::follow::decide) and [`follow::identify`](crate::follow::identify),
//! then a **read** of every file that grew, chunk by chunk, straight into the shared tally. At
//! least every second that something changed, [`Engine::commit`] writes the changed days, names,
//! sessions and file checkpoints to the store in one atomic batch. [`start`] runs the loop on a
//! thread: rounds are triggered by file events (notify, on the logs' parent directories), by a
//! slow safety-net look every few seconds, or only by polling with `poll_interval_ms`.
//!
//! The files of one server are read through the contract's stream merge
//! ([`Tally::merge`](crate::core::merge::Tally::merge)): each file in the order it was written,
//! the next line of the server the one with the smallest instant among the files' next lines. A
//! file at its end takes no part until it grows; lines read but not yet applied wait in the
//! file's checkpoint.

use crate::batch;
use crate::config::Config;
use crate::core::merge::{Lane, Source};
use crate::core::{FileIngest, Options};
use crate::follow::{decide, identify, Action, Candidate, Head, Identity, Known, Seen, HEAD_MAX};
use crate::state::{AppState, FileStatus};
use crate::store::{Checkpoint, Store};
use lmtally_parsers::date::Instant;
use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant as Clock};

/// The longest time between a change and its commit to the store.
pub const COMMIT_EVERY: Duration = Duration::from_secs(1);
/// A commit also comes after this many bytes read (a crash re-reads at most this much).
pub const COMMIT_BYTES: u64 = 2 << 20;
/// With file events, every path is still looked at this often (events can be lost: network
/// file systems, a full queue, a directory created later).
pub const SAFETY_NET: Duration = Duration::from_secs(5);
/// Files that left every followed path are remembered (to recognise them if they come back under
/// a followed name); at most this many per server.
pub const KEEP_DETACHED: usize = 64;
const CHUNK: usize = 1 << 20;
/// The read size for a server with several files.
const MERGE_CHUNK: usize = 64 << 10;
/// How long a file that looks like a copy still being written is left alone.
pub const GROWING_WAIT: Duration = Duration::from_secs(10);

/// Reads every configured log to its end into `state` and marks it caught up. The tally and
/// the files' status are replaced only at the end, so a second run (after SIGHUP changed the
/// servers) leaves the report as it was until it is done.
pub fn load_once(state: &AppState) -> Result<(), String> {
    let specs = state.resolve_logs();
    let (mut tally, runs) =
        batch::tally(&specs, state.config.options()).map_err(|e| e.to_string())?;
    tally.agg.settle();
    let files = runs
        .into_iter()
        .map(|r| FileStatus {
            server: specs[r.server].name.clone(),
            size: std::fs::metadata(&r.path).map(|m| m.len()).unwrap_or(0),
            bytes_read: r.ingest.consumed(),
            stats: r.ingest.stats.clone(),
            undated: r.ingest.undated(),
            latest: r.ingest.latest(),
            checkpoint_offset: 0,
            fingerprint: None,
            path: r.path,
        })
        .collect();
    *state.tally.write().map_err(|_| "state lock poisoned")? = tally;
    *state.files.write().map_err(|_| "state lock poisoned")? = files;
    state.caught_up.store(true, Ordering::SeqCst);
    Ok(())
}

/// One followed file.
struct Follow {
    cp: Checkpoint,
    /// Read order within a server (`cp.born`).
    born: u64,
    server: usize,
    /// The open file, while it is followed (reads go through it, so a renamed or deleted file can
    /// still be read to its end).
    handle: Option<File>,
    /// Left its path: read to its end through `handle`, then detached.
    draining: bool,
    /// Size at the last look.
    size: u64,
    /// `cp.offset` at the last commit.
    committed: u64,
    /// The checkpoint changed since the last commit.
    changed: bool,
}

impl Follow {
    fn attached(&self) -> bool {
        self.cp.path.is_some() && !self.draining
    }

    fn known(&self) -> Known<'_> {
        Known {
            dev: self.cp.dev,
            ino: self.cp.ino,
            head: &self.cp.head,
            offset: self.cp.offset,
        }
    }
}

/// A path as a look found it.
struct Look {
    server: usize,
    path: PathBuf,
    file: File,
    dev: u64,
    ino: u64,
    size: u64,
    mtime: std::time::SystemTime,
    prefix: Vec<u8>,
}

impl Look {
    fn seen(&self) -> Seen<'_> {
        Seen {
            dev: self.dev,
            ino: self.ino,
            size: self.size,
            prefix: &self.prefix,
        }
    }
}

fn look(server: usize, path: &Path) -> io::Result<Look> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    let size = meta.len();
    let mut prefix = vec![0u8; size.min(HEAD_MAX as u64) as usize];
    let mut got = 0;
    while got < prefix.len() {
        match file.read_at(&mut prefix[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    prefix.truncate(got);
    Ok(Look {
        server,
        path: path.to_path_buf(),
        file,
        dev: meta.dev(),
        ino: meta.ino(),
        size,
        mtime: meta.modified().unwrap_or(std::time::UNIX_EPOCH),
        prefix,
    })
}

/// True when the file behind `handle` still starts with `head` and is at least `offset` long.
fn still_matches(handle: &File, head: &Head, offset: u64) -> bool {
    let Ok(meta) = handle.metadata() else {
        return false;
    };
    if meta.len() < offset {
        return false;
    }
    let mut prefix = vec![0u8; head.len()];
    let mut got = 0;
    while got < prefix.len() {
        match handle.read_at(&mut prefix[got..], got as u64) {
            Ok(0) => return false,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    head.matches(&prefix)
}

/// The instant of the first dated line in the first 256 KiB of a file, if any.
fn first_instant(file: &File, opts: Options) -> Option<Instant> {
    let mut buf = vec![0u8; 256 << 10];
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let mut ingest = FileIngest::new();
    let mut names = crate::core::Names::default();
    let mut first = None;
    ingest.feed(&buf[..got], &mut names, &opts, &mut |_, at, _| {
        first = Some(first.map_or(at, |f: Instant| f.min(at)));
    });
    first
}

/// What a round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Bytes read.
    pub bytes: u64,
    /// Every file was read to the end it had when it was read.
    pub caught_up: bool,
}

/// The live reader: followed files, the store, and the shared state it fills.
pub struct Engine {
    state: Arc<AppState>,
    store: Store,
    /// Server names by index (the configuration's first).
    servers: Vec<String>,
    files: Vec<Follow>,
    /// File checkpoints to delete at the next commit.
    removed: Vec<u64>,
    next_file: u64,
    /// Something to commit.
    dirty: bool,
    /// Since when (the commit is due one second later).
    dirty_since: Option<Clock>,
    /// Bytes read since the last commit.
    uncommitted: u64,
    /// Read buffers, one for each file of the server being read.
    bufs: Vec<Vec<u8>>,
    /// Each configured path's place in the configuration at the last look (its first, if
    /// listed twice): ties in the stream merge go to the file listed first.
    rank: HashMap<PathBuf, usize>,
}

/// A followed file as a source of the stream merge. A chunk is read by [`LiveSource::fill`]
/// outside the tally's lock and handed to the merge under it: a file system that stalls a read
/// never holds up the report. The read position and the head move when the merge takes the
/// chunk.
struct LiveSource<'a> {
    handle: Option<&'a File>,
    draining: bool,
    offset: &'a mut u64,
    head: &'a mut Head,
    size: &'a mut u64,
    buf: &'a mut Vec<u8>,
    /// How much to read at a time.
    chunk: usize,
    fill: Fill,
}

/// What a [`LiveSource`] holds for the merge.
#[derive(Debug)]
enum Fill {
    /// Nothing: the merge waits for [`LiveSource::fill`].
    Empty,
    /// A chunk of this many bytes in the buffer.
    Data(usize),
    /// At the file's end (for now).
    End,
    /// The file is shorter than the read position (truncated, perhaps copied first): the
    /// server's merge stops until the next look has decided what the file and its copy are.
    Truncated,
    /// The read failed: the merge stops; the file is then left.
    Failed(io::Error),
}

impl LiveSource<'_> {
    /// Reads the next chunk, if the merge took the last one; returns the bytes read.
    fn fill(&mut self) -> u64 {
        if !matches!(self.fill, Fill::Empty) {
            return 0;
        }
        let Some(handle) = self.handle else {
            self.fill = Fill::End;
            return 0;
        };
        self.buf.resize(self.chunk, 0);
        let pos = *self.offset;
        self.fill = loop {
            match handle.read_at(self.buf, pos) {
                Ok(0) => {
                    // A file that left its path and was then truncated is read no further.
                    let shorter = handle.metadata().map(|m| m.len() < pos);
                    break match shorter {
                        Ok(true) if !self.draining => Fill::Truncated,
                        Ok(_) => Fill::End,
                        Err(e) => Fill::Failed(e),
                    };
                }
                Ok(n) => break Fill::Data(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Fill::Failed(e),
            }
        };
        match self.fill {
            Fill::Data(n) => n as u64,
            _ => 0,
        }
    }

    fn wants_fill(&self) -> bool {
        matches!(self.fill, Fill::Empty)
    }
}

impl Source for LiveSource<'_> {
    fn read_chunk(&mut self) -> io::Result<&[u8]> {
        let Fill::Data(n) = self.fill else {
            return Ok(&[]);
        };
        self.fill = Fill::Empty;
        let pos = *self.offset;
        let chunk = &self.buf[..n];
        self.head.take_read(pos, chunk);
        *self.offset += n as u64;
        *self.size = (*self.size).max(*self.offset);
        Ok(chunk)
    }

    fn ended(&mut self) -> bool {
        matches!(self.fill, Fill::End)
    }
}

fn lock<T>(l: &std::sync::RwLock<T>) -> RwLockWriteGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves consistent data (every update is whole
    // per line): keep going.
    l.write().unwrap_or_else(|p| p.into_inner())
}

impl Engine {
    /// Opens the store under the configuration's `data_dir` and loads it into `state` (`reset`:
    /// drop everything first, for `lmtally rebuild`).
    pub fn open(state: Arc<AppState>, reset: bool) -> Result<Engine, String> {
        let mut store = Store::open(&state.config.data_dir)?;
        if reset {
            store.reset(state.config.options())?;
        }
        Engine::with_store(state, store)
    }

    /// Gives up the engine's store (to start another engine on it: sled releases the lock of a
    /// closed store only some time after, so a process reuses its open store).
    pub fn into_store(self) -> Store {
        self.store
    }

    /// Loads an open store into `state` and gets ready to follow its configuration.
    pub fn with_store(state: Arc<AppState>, mut store: Store) -> Result<Engine, String> {
        let config = &state.config;
        let opts: Options = config.options();
        let names: Vec<String> = state.servers().iter().map(|s| s.name.clone()).collect();
        let loaded = store.load(opts, &names)?;
        let files = loaded
            .files
            .into_iter()
            .map(|cp| Follow {
                born: cp.born,
                server: loaded
                    .servers
                    .iter()
                    .position(|n| *n == cp.server)
                    .unwrap_or(0),
                handle: None,
                draining: false,
                size: cp.offset,
                committed: cp.offset,
                changed: false,
                cp,
            })
            .collect();
        *lock(&state.tally) = loaded.tally;
        state.caught_up.store(false, Ordering::SeqCst);
        let e = Engine {
            state,
            store,
            servers: loaded.servers,
            files,
            removed: Vec::new(),
            next_file: loaded.next_file,
            dirty: false,
            dirty_since: None,
            uncommitted: 0,
            bufs: Vec::new(),
            rank: HashMap::new(),
        };
        e.publish(false);
        Ok(e)
    }

    /// The index of a server by name (a server added by a reload gets the next one).
    fn server_index(&mut self, name: &str) -> usize {
        match self.servers.iter().position(|n| n == name) {
            Some(i) => i,
            None => {
                self.servers.push(name.to_string());
                self.servers.len() - 1
            }
        }
    }

    /// The state this engine fills.
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// One line per file the engine knows (for diagnostics): id, order, server, path, read
    /// position, head, state.
    pub fn describe_files(&self) -> Vec<String> {
        self.files
            .iter()
            .map(|f| {
                format!(
                    "file {} born {} server {} path {:?} offset {} size {} queued {} head {} {}{}",
                    f.cp.id,
                    f.born,
                    f.server,
                    f.cp.path,
                    f.cp.offset,
                    f.size,
                    f.cp.queued.len(),
                    f.cp.head.fingerprint(),
                    if f.draining { "draining " } else { "" },
                    if f.handle.is_some() { "open" } else { "closed" }
                )
            })
            .collect()
    }

    /// The configuration this engine follows.
    pub fn config(&self) -> &Config {
        &self.state.config
    }

    /// Bytes still to read, as of the last look (for progress).
    pub fn lag(&self) -> (u64, u64) {
        let mut done = 0;
        let mut total = 0;
        for f in self.files.iter().filter(|f| f.handle.is_some()) {
            done += f.cp.offset.min(f.size);
            total += f.size.max(f.cp.offset);
        }
        (done, total)
    }

    /// One look at every path, then reads until every file is read to its end or `deadline`
    /// passes.
    pub fn round(&mut self, deadline: Option<Clock>) -> Result<Round, String> {
        self.look_all();
        let r = self.read_all(deadline)?;
        self.cap_detached();
        self.publish(r.caught_up);
        Ok(r)
    }

    /// Looks at every configured path and decides what each file needs. Every decision is taken
    /// on the state before the look, then applied: a copy of a file that is truncated in the
    /// same look (copytruncate into a followed path) is still recognised as its copy.
    fn look_all(&mut self) {
        // The server list as it is now (a SIGHUP may have changed it).
        let specs = self.state.resolve_logs();
        self.rank.clear();
        for (i, p) in specs.iter().flat_map(|spec| &spec.files).enumerate() {
            self.rank.entry(p.clone()).or_insert(i);
        }
        let mut looks: Vec<Look> = Vec::new();
        let mut problem = None;
        for spec in &specs {
            let server = self.server_index(&spec.name);
            for path in &spec.files {
                match look(server, path) {
                    Ok(l) => looks.push(l),
                    Err(e) => {
                        // A configured path (a glob only lists files that exist) that cannot be
                        // read now: it is read as soon as it can be.
                        problem.get_or_insert_with(|| format!("{}: {e}", path.display()));
                    }
                }
            }
        }
        *self
            .state
            .problem
            .write()
            .unwrap_or_else(|p| p.into_inner()) = problem;
        let by_path: HashMap<&Path, usize> = looks
            .iter()
            .enumerate()
            .map(|(i, l)| (l.path.as_path(), i))
            .collect();
        // Files at their paths.
        let mut actions: Vec<Option<(Action, Option<usize>)>> =
            Vec::with_capacity(self.files.len());
        let mut claimed = vec![false; looks.len()];
        for f in &self.files {
            if !f.attached() {
                actions.push(None);
                continue;
            }
            let li = f.cp.path.as_deref().and_then(|p| by_path.get(p).copied());
            let mut action = decide(&f.known(), li.map(|i| looks[i].seen()).as_ref());
            if f.handle.is_none() && action == Action::Replaced {
                // After a restart there is no handle to finish the old file with.
                action = Action::Gone;
            }
            if let (Some(i), Action::Idle | Action::Read | Action::Truncated | Action::Rewritten) =
                (li, action)
            {
                claimed[i] = true;
            }
            actions.push(Some((action, li)));
        }
        // Paths no followed file is at.
        let mut identities: Vec<(usize, Identity)> = Vec::new();
        {
            let mut cands: Vec<Candidate<'_>> = self
                .files
                .iter()
                .zip(&actions)
                .map(|(f, a)| Candidate {
                    known: f.known(),
                    attached: matches!(
                        a,
                        Some((
                            Action::Idle | Action::Read | Action::Truncated | Action::Rewritten,
                            _
                        ))
                    ),
                })
                .collect();
            for (li, l) in looks.iter().enumerate() {
                if claimed[li] {
                    continue;
                }
                let mut id = identify(&cands, &l.seen());
                if let Identity::Growing(_) = id {
                    // A copy being written: looked at again once it has stopped growing for a
                    // while (then, if still shorter, it is a new file after all).
                    let age = std::time::SystemTime::now()
                        .duration_since(l.mtime)
                        .unwrap_or_default();
                    if age < GROWING_WAIT {
                        tracing::debug!(path = %l.path.display(), "a copy being written: waiting");
                        continue;
                    }
                    id = Identity::New;
                }
                if let Identity::Renamed(i) | Identity::Adopted(i) = id {
                    cands[i].attached = true;
                }
                identities.push((li, id));
            }
        }
        // Copies take the state their original has before this look.
        let copies: Vec<(usize, Checkpoint, u64)> = identities
            .iter()
            .filter_map(|&(li, id)| match id {
                Identity::Copy(i) => Some((li, self.files[i].cp.clone(), self.files[i].born)),
                _ => None,
            })
            .collect();
        // Files whose first bytes are read in this look: their place in the read order is given
        // below, the one whose first dated line is earliest first (as the contract's stream merge
        // takes files that do not overlap in time), then the oldest modified.
        let mut fresh: Vec<(usize, usize)> = Vec::new();
        for (fi, (f, a)) in self.files.iter_mut().zip(&actions).enumerate() {
            let Some((action, li)) = *a else { continue };
            if let (Action::Read | Action::Truncated | Action::Rewritten, Some(li)) = (action, li) {
                if f.cp.offset == 0 || action != Action::Read {
                    fresh.push((fi, li));
                }
            }
            let path = f.cp.path.clone().unwrap_or_default();
            match action {
                Action::Idle | Action::Read => {
                    let l = &looks[li.expect("seen")];
                    f.size = l.size;
                    f.server = l.server;
                    if f.handle.is_none() {
                        f.handle = l.file.try_clone().ok();
                    }
                }
                Action::Truncated | Action::Rewritten => {
                    let l = &looks[li.expect("seen")];
                    tracing::info!(path = %path.display(), ?action, "a new file at the path: reading it from the start");
                    f.cp.ingest = FileIngest::new();
                    f.cp.offset = 0;
                    f.cp.head = Head::default();
                    f.cp.born = self.next_file;
                    f.born = self.next_file;
                    self.next_file += 1;
                    f.size = l.size;
                    f.server = l.server;
                    f.handle = l.file.try_clone().ok();
                    f.changed = true;
                }
                Action::Replaced | Action::Gone => {
                    f.changed = true;
                    // Its end is read only if the file behind the handle is still the one read so
                    // far (it may have been truncated or rewritten before it left).
                    if f.handle
                        .as_ref()
                        .is_some_and(|h| still_matches(h, &f.cp.head, f.cp.offset))
                    {
                        tracing::info!(path = %path.display(), ?action, "the file left its path: reading it to its end");
                        f.draining = true;
                    } else {
                        tracing::info!(path = %path.display(), ?action, "the file left its path");
                        f.handle = None;
                        f.cp.path = None;
                    }
                }
            }
        }
        for (li, id) in identities {
            let l = &looks[li];
            match id {
                Identity::Renamed(i) | Identity::Adopted(i) => {
                    let f = &mut self.files[i];
                    tracing::info!(path = %l.path.display(), ?id, "a followed file under a new name");
                    f.cp.path = Some(l.path.clone());
                    f.cp.dev = l.dev;
                    f.cp.ino = l.ino;
                    f.server = l.server;
                    f.cp.server = self.servers[l.server].clone();
                    f.size = l.size;
                    if !(matches!(id, Identity::Renamed(_)) && f.handle.is_some()) {
                        f.handle = l.file.try_clone().ok();
                    }
                    f.draining = false;
                    f.changed = true;
                }
                Identity::New => {
                    tracing::debug!(path = %l.path.display(), "a new file");
                    let id = self.next_file;
                    self.next_file += 1;
                    fresh.push((self.files.len(), li));
                    self.files.push(Follow {
                        cp: Checkpoint {
                            id,
                            born: id,
                            server: self.servers[l.server].clone(),
                            path: Some(l.path.clone()),
                            dev: l.dev,
                            ino: l.ino,
                            head: Head::default(),
                            offset: 0,
                            ingest: FileIngest::new(),
                            queued: Default::default(),
                        },
                        born: id,
                        server: l.server,
                        handle: l.file.try_clone().ok(),
                        draining: false,
                        size: l.size,
                        committed: 0,
                        changed: true,
                    });
                }
                Identity::Copy(_) | Identity::Growing(_) => {}
            }
        }
        for (li, mut cp, born) in copies {
            let l = &looks[li];
            tracing::info!(path = %l.path.display(), "a copy of a followed file: continuing from its position");
            cp.id = self.next_file;
            self.next_file += 1;
            // The lines waiting in the original's queue are applied through the original.
            cp.queued.clear();
            cp.path = Some(l.path.clone());
            cp.dev = l.dev;
            cp.ino = l.ino;
            cp.server = self.servers[l.server].clone();
            self.files.push(Follow {
                committed: cp.offset,
                cp,
                born,
                server: l.server,
                handle: l.file.try_clone().ok(),
                draining: false,
                size: l.size,
                changed: true,
            });
        }
        if fresh.len() > 1 {
            let opts = self.state.config.options();
            let mut keyed: Vec<(Option<Instant>, std::time::SystemTime, PathBuf, usize)> = fresh
                .iter()
                .map(|&(fi, li)| {
                    let l = &looks[li];
                    // A file with no dated line at its start goes after those with one.
                    (
                        first_instant(&l.file, opts).or(Some(Instant::MAX)),
                        l.mtime,
                        l.path.clone(),
                        fi,
                    )
                })
                .collect();
            keyed.sort();
            fresh = keyed.into_iter().map(|(_, _, _, fi)| (fi, 0)).collect();
        }
        for (fi, _) in fresh {
            let f = &mut self.files[fi];
            f.born = self.next_file;
            f.cp.born = self.next_file;
            f.changed = true;
            self.next_file += 1;
        }
        if self.files.iter().any(|f| f.changed) {
            self.mark_dirty();
        }
    }

    /// Reads the files that have bytes to read, server by server, through the stream merge of
    /// the server's files (section 3 of the contract): among the files' next lines, the one with
    /// the smallest instant goes first; ties go to a file that left its path, then to the file
    /// listed first in the configuration, then to the oldest. A file at its end takes no part
    /// until it grows, so files read whole are merged as the contract says, and files that grow
    /// together are merged a round at a time. Lines read but not applied when the round stops
    /// (deadline, [`COMMIT_BYTES`]) wait in their file's checkpoint.
    fn read_all(&mut self, deadline: Option<Clock>) -> Result<Round, String> {
        let mut round = Round {
            bytes: 0,
            caught_up: true,
        };
        let state = Arc::clone(&self.state);
        for server in 0..self.servers.len() {
            let mut members: Vec<&mut Follow> = self
                .files
                .iter_mut()
                .filter(|f| f.server == server && (f.handle.is_some() || !f.cp.queued.is_empty()))
                .collect();
            if members.is_empty() {
                continue;
            }
            let rank = &self.rank;
            members.sort_by_key(|f| {
                let r: Option<usize> = f.cp.path.as_ref().and_then(|p| rank.get(p).copied());
                (!f.draining, r.unwrap_or(usize::MAX), f.born)
            });
            if self.bufs.len() < members.len() {
                self.bufs.resize_with(members.len(), Vec::new);
            }
            // Several files read less at a time: what is read waits in the queues (and in the
            // store, if a commit comes first) until the other files catch up.
            let chunk = if members.len() == 1 {
                CHUNK
            } else {
                MERGE_CHUNK
            };
            let waiting: usize = members.iter().map(|f| f.cp.queued.len()).sum();
            let offsets: u64 = members.iter().map(|f| f.cp.offset).sum();
            // Bytes read from the files (a chunk the merge did not take is read again).
            let mut read = 0u64;
            let (finished, ends) = {
                let mut sources = Vec::with_capacity(members.len());
                let mut files = Vec::with_capacity(members.len());
                for (f, buf) in members.iter_mut().zip(self.bufs.iter_mut()) {
                    let Follow {
                        cp,
                        handle,
                        size,
                        draining,
                        ..
                    } = &mut **f;
                    let Checkpoint {
                        offset,
                        head,
                        ingest,
                        queued,
                        ..
                    } = cp;
                    sources.push(LiveSource {
                        handle: handle.as_ref(),
                        draining: *draining,
                        offset,
                        head,
                        size,
                        buf,
                        chunk,
                        fill: Fill::Empty,
                    });
                    files.push((ingest, queued));
                }
                let finished = loop {
                    // Outside the lock: a chunk for each file whose last one the merge took.
                    // Reads go on until one brings bytes (a round makes progress; reads at a
                    // file's end bring none), then until the deadline or enough bytes for a
                    // commit.
                    let mut budget = true;
                    for s in sources.iter_mut().filter(|s| s.wants_fill()) {
                        budget = read == 0
                            || deadline.is_none_or(|d| {
                                Clock::now() < d && self.uncommitted + read < COMMIT_BYTES
                            });
                        if !budget {
                            break;
                        }
                        read += s.fill();
                    }
                    if sources
                        .iter()
                        .any(|s| matches!(s.fill, Fill::Truncated | Fill::Failed(_)))
                    {
                        break false;
                    }
                    let mut lanes: Vec<Lane<'_, &mut LiveSource<'_>>> = sources
                        .iter_mut()
                        .zip(files.iter_mut())
                        .map(|(s, (ingest, queued))| Lane::new(s, ingest, queued))
                        .collect();
                    let done = lock(&state.tally)
                        .merge(server, &mut lanes)
                        .map_err(|e| e.to_string())?;
                    if done {
                        break true;
                    }
                    if !budget {
                        // What was read is merged as far as it goes; a chunk read but not
                        // taken is read again next time.
                        break false;
                    }
                };
                let ends: Vec<Fill> = sources.into_iter().map(|s| s.fill).collect();
                (finished, ends)
            };
            // Bytes the merge took, and whether it took or applied anything: the checkpoints
            // of the server's files changed.
            let taken = members.iter().map(|f| f.cp.offset).sum::<u64>() - offsets;
            let moved =
                taken > 0 || members.iter().map(|f| f.cp.queued.len()).sum::<usize>() != waiting;
            let mut dirty = moved;
            for (f, end) in members.into_iter().zip(ends) {
                if let Fill::Failed(e) = end {
                    // The file cannot be read any more (a network file system gone away):
                    // leave it; the next look decides again.
                    tracing::warn!(path = ?f.cp.path, "read failed: {e}");
                    f.handle = None;
                    if f.draining {
                        f.draining = false;
                        f.cp.path = None;
                    }
                } else if matches!(end, Fill::End) && f.draining && f.cp.queued.is_empty() {
                    // Read to its end: detached.
                    f.draining = false;
                    f.cp.path = None;
                    f.handle = None;
                    f.changed = true;
                    dirty = true;
                }
                f.changed |= moved;
            }
            if dirty {
                self.mark_dirty();
            }
            round.bytes += taken;
            self.uncommitted += taken;
            if !finished {
                round.caught_up = false;
            }
        }
        Ok(round)
    }

    /// Forgets the oldest detached files beyond [`KEEP_DETACHED`] per server.
    fn cap_detached(&mut self) {
        let mut count: HashMap<usize, usize> = HashMap::new();
        let mut drop_ids = BTreeSet::new();
        for f in self.files.iter().rev() {
            if f.cp.path.is_none() && f.handle.is_none() && f.cp.queued.is_empty() {
                let c = count.entry(f.server).or_default();
                *c += 1;
                if *c > KEEP_DETACHED {
                    drop_ids.insert(f.cp.id);
                }
            }
        }
        if !drop_ids.is_empty() {
            self.files.retain(|f| !drop_ids.contains(&f.cp.id));
            self.removed.extend(drop_ids);
            self.mark_dirty();
        }
    }

    /// Updates the status of the files in the shared state.
    fn publish(&self, caught_up: bool) {
        if caught_up && !self.state.caught_up.load(Ordering::SeqCst) {
            tracing::info!("every log read: caught up");
        }
        let statuses: Vec<FileStatus> = self
            .files
            .iter()
            .filter(|f| f.cp.path.is_some())
            .map(|f| FileStatus {
                server: self.servers[f.server].clone(),
                path: f.cp.path.clone().unwrap_or_default(),
                bytes_read: f.cp.ingest.consumed(),
                size: f.size,
                stats: f.cp.ingest.stats.clone(),
                undated: f.cp.ingest.undated(),
                latest: f.cp.ingest.latest(),
                checkpoint_offset: f.committed,
                fingerprint: Some(f.cp.head.fingerprint()),
            })
            .collect();
        *lock(&self.state.files) = statuses;
        self.state.caught_up.store(caught_up, Ordering::SeqCst);
    }

    /// True when something read or changed is not in the store yet.
    pub fn dirty(&self) -> bool {
        self.dirty
    }

    fn mark_dirty(&mut self) {
        self.dirty = true;
        self.dirty_since.get_or_insert_with(Clock::now);
    }

    /// True when a commit is due (a second after the first change, or enough bytes read).
    fn commit_wanted(&self) -> bool {
        self.dirty && (self.uncommitted >= COMMIT_BYTES || Clock::now() >= self.commit_due())
    }

    /// When the next commit is due (one second after the first change not committed; a round
    /// that starts clean may read for one second).
    fn commit_due(&self) -> Clock {
        self.dirty_since.unwrap_or_else(Clock::now) + COMMIT_EVERY
    }

    /// Writes everything read so far to the store, in one atomic batch.
    pub fn commit(&mut self) -> Result<(), String> {
        if !self.dirty {
            return Ok(());
        }
        let changed: Vec<&Checkpoint> = self
            .files
            .iter()
            .filter(|f| f.changed)
            .map(|f| &f.cp)
            .collect();
        {
            let mut t = lock(&self.state.tally);
            self.store.commit(
                &mut t,
                &self.servers,
                &changed,
                &self.removed,
                self.next_file,
            )?;
        }
        self.removed.clear();
        for f in &mut self.files {
            f.changed = false;
            f.committed = f.cp.offset;
        }
        self.dirty = false;
        self.dirty_since = None;
        self.uncommitted = 0;
        let mut statuses = lock(&self.state.files);
        for s in statuses.iter_mut() {
            if let Some(f) = self
                .files
                .iter()
                .find(|f| f.cp.path.as_deref() == Some(s.path.as_path()))
            {
                s.checkpoint_offset = f.committed;
            }
        }
        Ok(())
    }

    /// A graceful stop: one last look and read (for at most a second: a file that left its path
    /// since the last look is read to its end while its handle is still open), then the final
    /// commit. Gives back the store.
    pub fn shutdown(mut self) -> Result<Store, String> {
        let last = self.round(Some(Clock::now() + COMMIT_EVERY));
        let committed = self.commit();
        last?;
        committed?;
        Ok(self.store)
    }

    /// Rounds until every file is read to its end, committing at least every second;
    /// `progress(done, total)` after each round.
    pub fn catch_up(&mut self, mut progress: impl FnMut(u64, u64)) -> Result<(), String> {
        loop {
            let r = self.round(Some(self.commit_due()))?;
            let (done, total) = self.lag();
            progress(done, total);
            if r.caught_up {
                return self.commit();
            }
            if self.commit_wanted() {
                self.commit()?;
            }
        }
    }

    /// The directories to watch: the parent of every configured path (for a glob, the
    /// directories its parent pattern matches).
    fn watch_dirs(&self) -> BTreeSet<PathBuf> {
        let mut dirs = BTreeSet::new();
        for s in &self.state.servers() {
            for pattern in &s.logs {
                let Some(parent) = Path::new(pattern).parent() else {
                    continue;
                };
                let ps = parent.to_string_lossy();
                if ps.contains(['*', '?', '[']) {
                    if let Ok(paths) = glob::glob(&ps) {
                        dirs.extend(paths.filter_map(Result::ok).filter(|p| p.is_dir()));
                    }
                } else if parent.is_dir() {
                    dirs.insert(if ps.is_empty() {
                        PathBuf::from(".")
                    } else {
                        parent.to_path_buf()
                    });
                }
            }
        }
        dirs
    }

    /// True when a file event concerns a followed or configured path.
    fn relevant(&self, ev: &notify::Event, patterns: &[glob::Pattern]) -> bool {
        use notify::event::{AccessKind, AccessMode, EventKind};
        if ev.need_rescan() {
            return true;
        }
        // Opening and reading a file (this engine's own looks included) changes nothing; a close
        // after writing may end a write.
        if let EventKind::Access(a) = ev.kind {
            if a != AccessKind::Close(AccessMode::Write) {
                return false;
            }
        }
        if ev.paths.is_empty() {
            return true;
        }
        ev.paths.iter().any(|p| {
            self.files
                .iter()
                .any(|f| f.cp.path.as_deref() == Some(p.as_path()))
                || patterns.iter().any(|pat| pat.matches_path(p))
        })
    }

    /// The daemon's loop, until [`Msg::Stop`] (then one last commit) or a store failure.
    pub fn run(mut self, tx: Sender<Msg>, rx: Receiver<Msg>) -> Result<(), String> {
        let poll = self
            .state
            .config
            .poll_interval_ms
            .map(Duration::from_millis);
        let patterns = |state: &AppState| -> Vec<glob::Pattern> {
            state
                .servers()
                .iter()
                .flat_map(|s| s.logs.iter())
                .filter_map(|p| glob::Pattern::new(p).ok())
                .collect()
        };
        let mut pats;
        let mut watcher: Option<notify::RecommendedWatcher> = None;
        let mut watched: BTreeSet<PathBuf> = BTreeSet::new();
        if poll.is_none() {
            let tx = tx.clone();
            match notify::recommended_watcher(move |res| {
                let _ = tx.send(Msg::Fs(res));
            }) {
                Ok(w) => watcher = Some(w),
                Err(e) => tracing::warn!("file events unavailable ({e}): polling every second"),
            }
        }
        let interval = match (poll, &watcher) {
            (Some(p), _) => p,
            (None, Some(_)) => SAFETY_NET,
            (None, None) => Duration::from_secs(1),
        };
        loop {
            pats = patterns(&self.state);
            if let Some(w) = watcher.as_mut() {
                use notify::Watcher;
                for d in self.watch_dirs() {
                    if !watched.contains(&d)
                        && w.watch(&d, notify::RecursiveMode::NonRecursive).is_ok()
                    {
                        watched.insert(d);
                    }
                }
            }
            // Read until caught up, committing every second; a stop ends the batch in hand.
            loop {
                let r = self.round(Some(self.commit_due()))?;
                if self.commit_wanted() {
                    self.commit()?;
                }
                if r.caught_up {
                    break;
                }
                if let Ok(Msg::Stop) = rx.try_recv() {
                    return self.shutdown().map(drop);
                }
            }
            let next_look = Clock::now() + interval;
            // Wait for an event, the next look, or the commit that is due.
            loop {
                let now = Clock::now();
                let mut until = next_look;
                if self.dirty {
                    until = until.min(self.commit_due());
                }
                match rx.recv_timeout(until.saturating_duration_since(now)) {
                    Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => {
                        return self.shutdown().map(drop)
                    }
                    Ok(Msg::Fs(Ok(ev))) => {
                        if self.relevant(&ev, &pats) {
                            break;
                        }
                    }
                    Ok(Msg::Look) => break,
                    Ok(Msg::Fs(Err(e))) => {
                        tracing::warn!("file events: {e}; looking at every file");
                        break;
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        if self.dirty && Clock::now() >= self.commit_due() {
                            self.commit()?;
                        }
                        if Clock::now() >= next_look {
                            break;
                        }
                    }
                }
            }
            // Take every event already queued: one round answers them all.
            while let Ok(m) = rx.try_recv() {
                if let Msg::Stop = m {
                    return self.shutdown().map(drop);
                }
            }
        }
    }
}

/// A message to the engine's thread.
pub enum Msg {
    Fs(notify::Result<notify::Event>),
    /// Look at every path now (the server list changed).
    Look,
    Stop,
}

/// A running engine.
pub struct EngineHandle {
    tx: Sender<Msg>,
    join: Option<JoinHandle<Result<(), String>>>,
}

/// Something that can ask a running engine to stop (clonable, for signal handlers).
#[derive(Clone)]
pub struct Stopper(Sender<Msg>);

impl Stopper {
    pub fn stop(&self) {
        let _ = self.0.send(Msg::Stop);
    }

    /// Asks for a look at every path now (after a reload changed the server list).
    pub fn look(&self) {
        let _ = self.0.send(Msg::Look);
    }
}

impl EngineHandle {
    pub fn stopper(&self) -> Stopper {
        Stopper(self.tx.clone())
    }

    /// True once the engine's thread ended (stopped, or a store failure).
    pub fn is_finished(&self) -> bool {
        self.join.as_ref().is_none_or(|j| j.is_finished())
    }

    /// Asks the engine to stop (it commits what it read) and waits for it.
    pub fn stop(mut self) -> Result<(), String> {
        let _ = self.tx.send(Msg::Stop);
        self.wait_inner()
    }

    /// Waits for the engine's thread to end by itself.
    pub fn wait(mut self) -> Result<(), String> {
        self.wait_inner()
    }

    fn wait_inner(&mut self) -> Result<(), String> {
        match self.join.take() {
            Some(j) => j
                .join()
                .unwrap_or_else(|_| Err("the engine thread panicked".into())),
            None => Ok(()),
        }
    }
}

/// Opens the store, loads it into `state` and follows the logs on a thread of its own.
pub fn start(state: Arc<AppState>) -> Result<EngineHandle, String> {
    let engine = Engine::open(state, false)?;
    let (tx, rx) = mpsc::channel();
    let tx2 = tx.clone();
    let join = std::thread::Builder::new()
        .name("lmtally-engine".into())
        .spawn(move || engine.run(tx2, rx))
        .map_err(|e| format!("cannot start the engine thread: {e}"))?;
    Ok(EngineHandle {
        tx,
        join: Some(join),
    })
}

/// Stops the engine on SIGTERM or SIGINT (a thread of its own waits for them).
pub fn stop_on_signals(stopper: Stopper) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("signals: {e}"))?;
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    std::thread::Builder::new()
        .name("lmtally-signals".into())
        .spawn(move || {
            rt.block_on(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let (mut term, mut int) = match (
                    signal(SignalKind::terminate()),
                    signal(SignalKind::interrupt()),
                ) {
                    (Ok(t), Ok(i)) => (t, i),
                    (Err(e), _) | (_, Err(e)) => {
                        let _ = ready_tx.send(Err(format!("signals: {e}")));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                stopper.stop();
            })
        })
        .map_err(|e| format!("signals: {e}"))?;
    ready_rx
        .recv()
        .unwrap_or_else(|_| Err("signals: the handler thread ended".into()))
}

/// `lmtally rebuild`: drops the aggregates and reads every configured log again.
/// `progress(done, total)` is called after each round.
pub fn rebuild(config: Config, progress: impl FnMut(u64, u64)) -> Result<(), String> {
    let state = Arc::new(AppState::new(config));
    let mut engine = Engine::open(state, true)?;
    engine.catch_up(progress)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `file` from `offset` in chunks of 4 until the source stops giving bytes; returns
    /// what it gave and the state it ended in.
    fn drain(file: &File, offset: u64, draining: bool) -> (Vec<u8>, u64, Fill) {
        let (mut offset, mut head, mut size, mut buf) = (offset, Head::default(), 0, Vec::new());
        let mut src = LiveSource {
            handle: Some(file),
            draining,
            offset: &mut offset,
            head: &mut head,
            size: &mut size,
            buf: &mut buf,
            chunk: 4,
            fill: Fill::Empty,
        };
        let mut got = Vec::new();
        loop {
            assert!(src.wants_fill());
            let n = src.fill();
            let chunk = src.read_chunk().unwrap().to_vec();
            assert_eq!(chunk.len() as u64, n);
            if chunk.is_empty() {
                break;
            }
            got.extend_from_slice(&chunk);
        }
        let fill = std::mem::replace(&mut src.fill, Fill::Empty);
        (got, offset, fill)
    }

    #[test]
    fn a_live_source_reads_to_the_end_and_tells_a_truncated_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lmgrd.log");
        std::fs::write(&path, b"0123456789").unwrap();
        let file = File::open(&path).unwrap();
        // From the start: every byte, in order, then the end (the merge goes on without it).
        let (got, offset, fill) = drain(&file, 0, false);
        assert_eq!((&got[..], offset), (&b"0123456789"[..], 10));
        assert!(matches!(fill, Fill::End), "{fill:?}");
        // Shorter than the read position: truncated under the reader; the merge must wait.
        let (got, offset, fill) = drain(&file, 25, false);
        assert_eq!((got.len(), offset), (0, 25));
        assert!(matches!(fill, Fill::Truncated), "{fill:?}");
        // A file that left its path and was truncated after: read no further.
        let (_, _, fill) = drain(&file, 25, true);
        assert!(matches!(fill, Fill::End), "{fill:?}");
        // A read that fails (a directory): the merge stops, the file is then left.
        let d = File::open(dir.path()).unwrap();
        let (_, _, fill) = drain(&d, 0, false);
        assert!(matches!(fill, Fill::Failed(_)), "{fill:?}");
    }
}
