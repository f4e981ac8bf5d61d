//! Fuzzes `parse_line` and the whole pipeline (framer → parser → dater → stream merge →
//! aggregates → report rows) with arbitrary chunking.
//!
//! Input layout: 4 control bytes, then the log bytes.
//! - ctl[0]: bit 0 identity user@host, bit 1 fold_case, bit 2 count_unsupported, bit 3 two files
//!   (one server), bit 4 two servers.
//! - ctl[1]: where the log bytes are split into the two files / servers.
//! - ctl[2..4]: the seed of the chunk sizes.
//!
//! Oracles: nothing panics, and the chunked run gives exactly the same rows and per-file state as
//! the run that feeds every file whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lmtally::core::merge::{MemSource, Tally};
use lmtally::core::report::Snapshot;
use lmtally::core::{FileIngest, Model, Options, UserIdentity};
use lmtally_parsers::date::from_ymd;
use lmtally_parsers::parse_line;

/// Dates far apart make a session span thousands of years, which the aggregates store day by
/// day (a known cost, see fuzz/README.md): keep anchors within 1900-2100 so runs stay fast.
fn has_far_date(log: &[u8]) -> bool {
    let (lo, hi) = (
        from_ymd(1900, 1, 1).unwrap(),
        from_ymd(2100, 12, 31).unwrap(),
    );
    log.split(|c| *c == b'\n')
        .filter_map(parse_line)
        .any(|l| l.anchor.is_some_and(|d| d < lo || d > hi))
}

/// Cuts `bytes` into chunks of pseudo-random sizes (1..=64, sometimes larger).
fn chunks<'a>(bytes: &'a [u8], seed: &mut u32) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 17;
        *seed ^= *seed << 5;
        let n = if *seed % 8 == 0 {
            (*seed >> 8) as usize % 4096 + 1
        } else {
            (*seed >> 8) as usize % 64 + 1
        };
        let (a, b) = rest.split_at(n.min(rest.len()));
        out.push(a);
        rest = b;
    }
    out
}

type Outcome = (Vec<String>, Vec<String>);

fn run(servers: &[Vec<Vec<&[u8]>>], opts: Options) -> Outcome {
    let mut t = Tally::new(opts);
    let mut state = Vec::new();
    for (s, files) in servers.iter().enumerate() {
        let mut sources: Vec<MemSource<'_>> =
            files.iter().map(|c| MemSource::new(c.clone())).collect();
        let mut ingests: Vec<FileIngest> = files.iter().map(|_| FileIngest::new()).collect();
        t.ingest_server(s, &mut sources, &mut ingests).unwrap();
        for f in &ingests {
            state.push(format!(
                "{:?} {} {:?} {:?}",
                f.stats,
                f.undated(),
                f.latest(),
                f.cursor()
            ));
        }
    }
    t.agg.settle();
    let snap = Snapshot::new(&t.agg);
    // Default sd, and an ed 40 days after the first day with data (a fixed far "today" would make
    // every run produce thousands of rows).
    let today = snap.first_day().map_or(0, |d| d + 40);
    let mut rows = Vec::new();
    for m in [Model::M2019, Model::M2013] {
        rows.push(format!("{:?}", snap.rows(m, None, None, today)));
    }
    (rows, state)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (ctl, log) = data.split_at(4);
    for line in log.split(|c| *c == b'\n') {
        let _ = parse_line(line);
    }
    if has_far_date(log) {
        return;
    }
    let opts = Options {
        user_identity: if ctl[0] & 1 != 0 {
            UserIdentity::UserAtHost
        } else {
            UserIdentity::User
        },
        fold_case: ctl[0] & 2 != 0,
        count_unsupported_as_denial: ctl[0] & 4 != 0,
    };
    let at = log.len() * ctl[1] as usize / 256;
    let (a, b) = log.split_at(at);
    let layout: Vec<Vec<&[u8]>> = match (ctl[0] & 8 != 0, ctl[0] & 16 != 0) {
        (false, false) => vec![vec![log]],
        (true, _) => vec![vec![a, b]],
        (false, true) => vec![vec![a], vec![b]],
    };
    let whole: Vec<Vec<Vec<&[u8]>>> = layout
        .iter()
        .map(|s| s.iter().map(|f| vec![*f]).collect())
        .collect();
    let mut seed = u32::from_le_bytes([ctl[2], ctl[3], 0x5A, 0xA5]) | 1;
    let chunked: Vec<Vec<Vec<&[u8]>>> = layout
        .iter()
        .map(|s| s.iter().map(|f| chunks(f, &mut seed)).collect())
        .collect();
    let w = run(&whole, opts);
    let c = run(&chunked, opts);
    assert_eq!(w, c, "chunking changed the outcome");
});
