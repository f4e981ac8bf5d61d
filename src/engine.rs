//! The reader side of the daemon: fills [`AppState`] from the configured logs.
//!
//! This version reads every configured log once, at start-up.

use crate::batch;
use crate::state::{AppState, FileStatus};
use std::sync::atomic::Ordering;

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
