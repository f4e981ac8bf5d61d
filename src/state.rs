//! What the daemon shares between its reader (the engine) and its HTTP server.
//!
//! The engine is the only writer of `tally` and `files`; the server only reads. `caught_up` is
//! true only when every file has been read to its end and all of it is in `tally`.

use crate::config::Config;
use crate::core::merge::Tally;
use crate::core::FileStats;
use lmtally_parsers::date::Instant;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::RwLock;

/// The reading state of one log file, for the status endpoint.
#[derive(Clone, Debug, Default)]
pub struct FileStatus {
    pub server: String,
    pub path: PathBuf,
    /// Bytes read (up to the end of the last complete line).
    pub bytes_read: u64,
    /// The file's size when last looked at.
    pub size: u64,
    pub stats: FileStats,
    /// Lines waiting for the file's first date anchor.
    pub undated: u64,
    /// The latest instant seen in the file.
    pub latest: Option<Instant>,
    /// The offset of the last checkpoint written (0 without a store).
    pub checkpoint_offset: u64,
    /// The fingerprint (hex) of the file's first bytes, once known.
    pub fingerprint: Option<String>,
}

pub struct AppState {
    pub config: Config,
    pub tally: RwLock<Tally>,
    pub files: RwLock<Vec<FileStatus>>,
    pub caught_up: AtomicBool,
}

impl AppState {
    pub fn new(config: Config) -> Self {
        let tally = Tally::new(config.options());
        AppState {
            config,
            tally: RwLock::new(tally),
            files: RwLock::new(Vec::new()),
            caught_up: AtomicBool::new(false),
        }
    }
}
