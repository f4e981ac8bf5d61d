//! Helpers shared by the integration tests.
#![allow(dead_code)]

use lmtally::core::merge::{MemSource, Tally};
use lmtally::core::report::Snapshot;
use lmtally::core::{FileIngest, Model, Options, Row};
use lmtally_parsers::date::{parse_iso_day, Day};
use std::path::PathBuf;

/// The shared real logs (read in place, never copied).
pub fn real_log(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/samples/real")
        .join(name)
}

pub fn day(s: &str) -> Day {
    parse_iso_day(s).expect("a valid test date")
}

/// Tallies in-memory logs: `servers[i]` is the list of files (each a list of chunks) of server i.
pub fn tally_chunks(servers: &[Vec<Vec<&[u8]>>], opts: Options) -> (Tally, Vec<Vec<FileIngest>>) {
    let mut t = Tally::new(opts);
    let mut all = Vec::new();
    for (s, files) in servers.iter().enumerate() {
        let mut sources: Vec<MemSource<'_>> =
            files.iter().map(|c| MemSource::new(c.clone())).collect();
        let mut ingests: Vec<FileIngest> = files.iter().map(|_| FileIngest::new()).collect();
        t.ingest_server(s, &mut sources, &mut ingests).unwrap();
        all.push(ingests);
    }
    (t, all)
}

/// Tallies whole in-memory logs, one file per server.
pub fn tally_logs(logs: &[&str], opts: Options) -> Tally {
    let servers: Vec<Vec<Vec<&[u8]>>> = logs.iter().map(|l| vec![vec![l.as_bytes()]]).collect();
    tally_chunks(&servers, opts).0
}

/// Rows of a tally from `sd` to `ed` (both given).
pub fn rows(t: &Tally, model: Model, sd: &str, ed: &str) -> Vec<Row> {
    Snapshot::new(&t.agg)
        .rows(model, Some(day(sd)), Some(day(ed)), day(ed))
        .unwrap()
}

/// (ucd, uct, ucdy, ucde, ucch) of rows, for compact assertions.
pub fn tuples(rows: &[Row]) -> Vec<(String, u64, u64, u64, u64)> {
    rows.iter()
        .map(|r| {
            (
                lmtally_parsers::date::format_day(r.date),
                r.uct,
                r.ucdy,
                r.ucde,
                r.ucch,
            )
        })
        .collect()
}

/// The Python interpreter for the reference implementation (`tests/reference/refimpl.py`): the
/// real executable behind `python3` (asked once; skipping a pyenv-style shim saves most of the
/// start-up time of each run), or `None` when there is no python3.
pub fn python3() -> Option<PathBuf> {
    static PY: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    PY.get_or_init(|| {
        let out = std::process::Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .ok()?;
        let exe = String::from_utf8(out.stdout).ok()?;
        let exe = exe.trim();
        (out.status.success() && !exe.is_empty()).then(|| PathBuf::from(exe))
    })
    .clone()
}

/// The reference implementation's script.
pub fn refimpl_py() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/reference/refimpl.py")
}
