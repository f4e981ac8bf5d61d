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

/// A `lmtally serve` started by a test.
pub struct Serve {
    pub child: std::process::Child,
    /// Where it listens (read from its "listening on" line).
    pub addr: std::net::SocketAddr,
    /// Its stderr lines after the "listening on" line, as they come.
    pub lines: std::sync::mpsc::Receiver<String>,
    /// Its stderr so far.
    pub log: std::sync::Arc<std::sync::Mutex<String>>,
    /// The thread that reads its stderr: joined, `log` is all of it.
    pub reader: std::thread::JoinHandle<()>,
}

/// `lmtally serve --config CONFIG` with `RUST_LOG=info`, its stderr piped.
pub fn serve_command(config: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_lmtally"));
    cmd.args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null());
    cmd
}

/// Starts `lmtally serve --config CONFIG` (see [`start_serve`]).
pub fn spawn_serve(config: &std::path::Path) -> Serve {
    start_serve(serve_command(config))
}

/// Spawns a `serve_command` and waits (30 s at most) for the line that says where it listens.
/// A thread reads its stderr to the end, so that the daemon never blocks on a full pipe,
/// whether or not the test still reads `lines`.
pub fn start_serve(mut cmd: std::process::Command) -> Serve {
    use std::io::BufRead;
    use std::time::{Duration, Instant};
    let mut child = cmd.spawn().unwrap();
    let pipe = child.stderr.take().unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (tx, lines) = std::sync::mpsc::channel::<String>();
    let sink = log.clone();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push_str(&format!("{line}\n"));
            // A test that stopped reading drops the receiver: keep draining all the same.
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no 'listening on' line: {}", log.lock().unwrap()));
        if let Some(i) = line.find("listening on http://") {
            break line[i + "listening on http://".len()..]
                .trim()
                .parse()
                .unwrap();
        }
    };
    Serve {
        child,
        addr,
        lines,
        log,
        reader,
    }
}

/// Sends a signal (`TERM`, `HUP`, ...) to a process this test started, through the shell's own
/// `kill` (no dependency on a kill binary), and checks that it was sent.
pub fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("sh")
        .args(["-c", &format!("kill -{sig} {pid}")])
        .status()
        .unwrap();
    assert!(ok.success(), "kill -{sig} {pid}");
}
