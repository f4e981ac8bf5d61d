//! What the daemon shares between its reader (the engine) and its HTTP server.
//!
//! The engine is the only writer of `tally` and `files`; the server only reads. `caught_up` is
//! true only when every file has been read to its end and all of it is in `tally`.
//!
//! `config` is the configuration the daemon started with. The license servers and their log
//! patterns are the one part of it that can change while it runs (SIGHUP re-reads the file):
//! readers of the logs take them from [`AppState::servers`] / [`AppState::resolve_logs`], never
//! from `config.servers`.

use crate::batch::ServerSpec;
use crate::config::{Config, ServerConfig};
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
    /// The license servers as last (re)configured: `config.servers` at start-up, then what a
    /// SIGHUP read.
    servers: RwLock<Vec<ServerConfig>>,
    pub tally: RwLock<Tally>,
    pub files: RwLock<Vec<FileStatus>>,
    pub caught_up: AtomicBool,
    /// Why the reader cannot read a configured file now (missing, unreadable), if any: shown in
    /// systemd's STATUS= until it can.
    pub problem: RwLock<Option<String>>,
}

impl AppState {
    pub fn new(config: Config) -> Self {
        let tally = Tally::new(config.options());
        AppState {
            servers: RwLock::new(config.servers.clone()),
            config,
            tally: RwLock::new(tally),
            files: RwLock::new(Vec::new()),
            caught_up: AtomicBool::new(false),
            problem: RwLock::new(None),
        }
    }

    /// The license servers and their log patterns as they are now configured.
    pub fn servers(&self) -> Vec<ServerConfig> {
        self.servers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the license servers (a SIGHUP's reload); the reader picks them up on its next
    /// pass. Returns whether they changed.
    pub fn set_servers(&self, servers: Vec<ServerConfig>) -> bool {
        let mut cur = self.servers.write().unwrap_or_else(|p| p.into_inner());
        let changed = *cur != servers;
        *cur = servers;
        changed
    }

    /// The configured servers with their patterns expanded to the files that exist now.
    pub fn resolve_logs(&self) -> Vec<ServerSpec> {
        crate::config::resolve_servers(&self.servers())
    }
}
