//! Property tests.
//!
//! (a) Cutting logs into arbitrary chunks, the way a tailer receives them, gives the same report
//!     (and the same per-file counts) as feeding them whole: on generated logs and on the real
//!     logs cut at random points; so does stopping the stream merge of a server's files and
//!     resuming it with the lines read so far waiting.
//! (b) The parsers and the whole pipeline never panic on arbitrary bytes, and the framer cuts
//!     lines exactly as section 1 says.
//! (c) Differential: `lmtally report` and `python3 tests/reference/refimpl.py` print the same
//!     bytes for random small logs (several servers and files, random options).
//!
//! The generated logs come from a vocabulary of line kinds (`gen_file`): usage lines of every
//! kind with awkward users/hosts/features/suffixes, every anchor kind, resets, other messages,
//! `-datestamp` envelopes, junk, invalid UTF-8, CRLF and trailing blanks, a BOM, an unfinished
//! final line and (rarely) an overlong line; times move mostly forward, sometimes back, and
//! sometimes by exactly the 3 h / 21 h boundaries.

use crate::common::{day, python3, real_log, refimpl_py, tally_chunks, tuples};
use lmtally::core::merge::{Lane, MemSource, Queued, Source, Tally};
use lmtally::core::report::Snapshot;
use lmtally::core::{FileIngest, Model, Options, UserIdentity};
use lmtally_parsers::line::MAX_LINE;
use lmtally_parsers::{parse_line, Framed, Framer};
use proptest::prelude::*;
use proptest::sample::Index;
use std::collections::VecDeque;
use std::path::Path;
use std::process::Command;

/// `default` cases, or `PROPTEST_CASES` when set (for long runs outside CI).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// =============================================================================================
// The generator.
// =============================================================================================

/// One line of a generated log, before its time is known.
#[derive(Clone, Debug)]
enum Tpl {
    /// An enveloped line: the time moves by `step` seconds from the previous enveloped line.
    Env {
        step: i32,
        /// 0: ` 9:05:00`, 1: `09:05:00`, 2: `9:05:00`.
        style: u8,
        /// `-datestamp` form: (date, zone suffix).
        stamp: Option<(String, &'static str)>,
        daemon: &'static str,
        msg: Vec<u8>,
        ending: &'static str,
    },
    /// A line without an envelope (its bytes, without `\n`).
    Junk(Vec<u8>),
}

/// A generated file.
#[derive(Clone, Debug)]
struct GenFile {
    bom: bool,
    start: u32,
    lines: Vec<Tpl>,
    /// An unfinished last line (no `\n`).
    tail: Option<Vec<u8>>,
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// A valid date in a small range (3/10/2023 - 3/16/2023), or one that does not exist.
fn anchor_date() -> impl Strategy<Value = Option<(u32, u32, u32)>> {
    prop_oneof![
        12 => (10u32..=16).prop_map(|d| Some((2023, 3, d))),
        1 => Just(None),
    ]
}

fn usage_msg() -> impl Strategy<Value = Vec<u8>> {
    let kw = prop_oneof![
        4 => Just("OUT:"),
        4 => Just("IN:"),
        2 => Just("DENIED:"),
        1 => Just("UNSUPPORTED:"),
        1 => Just("QUEUED:"),
        1 => Just("DEQUEUED:"),
        1 => Just("UPGRADE:"),
    ];
    let gap = prop_oneof![6 => Just(" "), 1 => Just(""), 1 => Just(" \t ")];
    let feature = prop_oneof![
        4 => Just("\"F\""),
        2 => Just("F"),
        2 => Just("\"G\""),
        1 => Just("\"A B\""),
        1 => Just("\"F"),
    ];
    let group = prop_oneof![
        8 => Just(""),
        1 => Just("(PORT_AT_HOST_PLUS   ) "),
        1 => Just("(00B0 EF6E (x)) "),
        1 => Just("(open "),
    ];
    let user: BoxedStrategy<Vec<u8>> = prop_oneof![
        4 => Just(b("ann")),
        2 => Just(b("Ann")),
        1 => Just(b("ANN")),
        4 => Just(b("bob")),
        1 => Just(b("José Juan")),
        1 => Just(b("JOSÉ JUAN")),
        1 => Just(b("OBF_STRT: eve :END_OBF")),
        1 => Just(b("OBF_STRT: ")),
        1 => Just(b("a@b")),
        1 => Just(b("ΟΔΥΣΣΕΥΣ")),
        1 => Just(b("οδυσσευς")),
        1 => Just(b("İSTANBUL")),
        1 => Just(b("\u{212A}elvin")),
        1 => Just(b"gra\xC3".to_vec()),
        1 => Just(b"x\xFF\xFEy".to_vec()),
        1 => Just(b("ΑΣ.Σ")),
        1 => Just(b("\u{1E9E}x")),
        1 => Just(b("")),
    ]
    .boxed();
    let host = prop_oneof![
        4 => Just(Some("h1")),
        2 => Just(Some("H1")),
        3 => Just(Some("h2")),
        1 => Just(Some("portátil")),
        1 => Just(Some("PORTÁTIL")),
        1 => Just(Some("")),
        1 => Just(None),
    ];
    let suffix = prop_oneof![
        6 => Just(""),
        1 => Just("  (2 licenses)"),
        1 => Just(" [CAMPUS:NA] (200 licenses)"),
        1 => Just("  (INACTIVE)"),
        1 => Just(" ^^^ verbose ^^^"),
        1 => Just("  (Licensed number of users already reached. (-4,342))"),
        1 => Just(" x"),
    ];
    (kw, gap, feature, group, user, host, suffix).prop_map(
        |(kw, gap, feature, group, user, host, suffix)| {
            let mut m = format!("{kw}{gap}{feature} {group}").into_bytes();
            m.extend_from_slice(&user);
            if let Some(h) = host {
                m.push(b'@');
                m.extend_from_slice(h.as_bytes());
            }
            m.extend_from_slice(suffix.as_bytes());
            m
        },
    )
}

fn anchor_msg() -> impl Strategy<Value = Vec<u8>> {
    (0u8..14, anchor_date()).prop_map(|(kind, date)| {
        let (y, m, d) = date.unwrap_or((2023, 2, 30));
        const MON: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let long = format!("Tue {} {d} {y} 10:00:00 Hora de verano romance", MON[m as usize - 1]);
        b(&match kind {
            0..=2 => format!("TIMESTAMP {m}/{d}/{y}"),
            3 => format!("FlexNet Licensing (v11.18.1.0 build 279785 x64_n6) started on flexlm01 (IBM PC) ({m}/{d}/{y})"),
            4 => format!("Server's System Date and Time: {long}"),
            5 => format!("(@v-SLOG@) Time: {long}"),
            6 => format!("(@lmgrd-SLOG@) Start-Date: {long}"),
            7 => format!("(@MLM-SLOG@) Reread time: {long}"),
            // Near misses and other spellings.
            8 => format!("TIMESTAMP\t {m}/{d}/{y}"),
            9 => format!("flexlm (v9.2) started on h (linux) ({m}/{d}/{y})"),
            10 => format!("FLEXnet Licensing started on h ({m}/{d}/{y}) trailing"),
            11 => format!("Server's System Date and Time:  {long}"),
            12 => format!("(@v-SLOG@)  Time: {long}"),
            _ => format!("(@-SLOG@) Time: {long}"),
        })
    })
}

fn reset_msg() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b("EXITING DUE TO SIGNAL 15")),
        Just(b(
            "Lost connection to lmgrd, heartbeat timeout expired, exiting."
        )),
        Just(b("v exited with status 1")),
        Just(b("w exited with status 36 (Unknown)")),
        Just(b("Started v (pid 4440)")),
        Just(b("REStarted w (pid 4552)")),
        Just(b("Started  v (pid 1)")),
        Just(b("v\texited with status 1")),
        Just(b("v exited with statusX")),
        Just(b("exiting")),
    ]
}

fn other_msg() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b("Server started on flexlm02 for:\tF")),
        Just(b("SHUTDOWN request from root at node h")),
        Just(b("")),
        Just(b(
            "(@v-SLOG@) 00000000 ms at Tue Mar 14 2023 10:00:00 CET,#1,(5980K),(upm,e7,1972)"
        )),
        Just(b("Checkin failed feature \"F\": ann h1 display")),
        Just(b("TIMESTAMP 3/14/2023 trailing")),
    ]
}

fn env_line() -> impl Strategy<Value = Tpl> {
    let step = prop_oneof![
        10 => 0i32..900,
        3 => -3600i32..0,
        1 => Just(-10_800),
        1 => Just(-10_801),
        1 => Just(75_600),
        1 => Just(75_601),
        2 => 0i32..86_400,
    ];
    let stamp = prop_oneof![
        12 => Just(None),
        1 => (anchor_date(), prop_oneof![Just(""), Just("Z"), Just("+02:00"), Just("-11:00")]).prop_map(|(d, z)| {
            let (y, m, d) = d.unwrap_or((2023, 2, 30));
            Some((format!("{y:04}-{m:02}-{d:02}"), z))
        }),
    ];
    let daemon = prop_oneof![6 => Just("v"), 3 => Just("w"), 2 => Just("lmgrd")];
    let msg = prop_oneof![
        12 => usage_msg(),
        3 => anchor_msg(),
        1 => reset_msg(),
        2 => other_msg(),
    ];
    let ending =
        prop_oneof![8 => Just("\n"), 2 => Just("\r\n"), 2 => Just("  \n"), 1 => Just(" \t\r\n")];
    (step, 0u8..3, stamp, daemon, msg, ending).prop_map(
        |(step, style, stamp, daemon, msg, ending)| Tpl::Env {
            step,
            style,
            stamp,
            daemon,
            msg,
            ending,
        },
    )
}

fn junk_line() -> impl Strategy<Value = Tpl> {
    prop_oneof![
        4 => Just(Tpl::Junk(b("\tServing features for the following vendor names:"))),
        4 => Just(Tpl::Junk(b("Shut down FlexNet MLM license server system on machine flexlm01"))),
        4 => Just(Tpl::Junk(b("12:49:3a9 (ugslmd) OUT: \"F\" ann@h1"))),
        4 => prop::collection::vec(any::<u8>().prop_filter("no newline", |c| *c != b'\n'), 0..24).prop_map(Tpl::Junk),
        // An overlong usage line (skipped, whatever follows).
        1 => Just(Tpl::Junk({
            let mut l = b("10:00:00 (v) OUT: \"F\" huge@h1");
            l.resize(MAX_LINE + 1, b' ');
            l
        })),
    ]
}

fn gen_file(max_lines: usize) -> impl Strategy<Value = GenFile> {
    (
        prop::bool::weighted(0.1),
        0u32..86_400,
        prop::collection::vec(
            prop_oneof![12 => env_line(), 1 => junk_line()],
            0..max_lines,
        ),
        prop::option::weighted(0.2, usage_msg()),
    )
        .prop_map(|(bom, start, lines, tail)| GenFile {
            bom,
            start,
            lines,
            tail,
        })
}

fn clock(t: u32, style: u8) -> String {
    let (h, m, s) = (t / 3600, t / 60 % 60, t % 60);
    match style {
        0 => format!("{h:>2}:{m:02}:{s:02}"),
        1 => format!("{h:02}:{m:02}:{s:02}"),
        _ => format!("{h}:{m:02}:{s:02}"),
    }
}

impl GenFile {
    fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.bom {
            out.extend_from_slice(b"\xEF\xBB\xBF");
        }
        let mut t = self.start as i64;
        for l in &self.lines {
            match l {
                Tpl::Env {
                    step,
                    style,
                    stamp,
                    daemon,
                    msg,
                    ending,
                } => {
                    t = (t + *step as i64).rem_euclid(86_400);
                    let time = match stamp {
                        Some((date, zone)) => format!("{date}T{}{zone}", clock(t as u32, 1)),
                        None => clock(t as u32, *style),
                    };
                    out.extend_from_slice(format!("{time} ({daemon}) ").as_bytes());
                    out.extend_from_slice(msg);
                    out.extend_from_slice(ending.as_bytes());
                }
                Tpl::Junk(bytes) => {
                    out.extend_from_slice(bytes);
                    out.push(b'\n');
                }
            }
        }
        if let Some(msg) = &self.tail {
            out.extend_from_slice(
                format!("{} (v) ", clock(((t + 60) % 86_400) as u32, 0)).as_bytes(),
            );
            out.extend_from_slice(msg);
        }
        out
    }
}

/// Servers, each a list of files.
fn gen_servers(
    max_servers: usize,
    max_files: usize,
    max_lines: usize,
) -> impl Strategy<Value = Vec<Vec<GenFile>>> {
    prop::collection::vec(
        prop::collection::vec(gen_file(max_lines), 1..=max_files),
        1..=max_servers,
    )
}

fn gen_options() -> impl Strategy<Value = Options> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(at_host, fold_case, unsupported)| {
        Options {
            user_identity: if at_host {
                UserIdentity::UserAtHost
            } else {
                UserIdentity::User
            },
            fold_case,
            count_unsupported_as_denial: unsupported,
        }
    })
}

/// Cuts `bytes` at the given points.
fn cut<'a>(bytes: &'a [u8], points: &[Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = points.iter().map(|i| i.index(bytes.len() + 1)).collect();
    at.push(0);
    at.push(bytes.len());
    at.sort_unstable();
    at.dedup();
    at.windows(2).map(|w| &bytes[w[0]..w[1]]).collect()
}

type Rows = Result<Vec<(String, u64, u64, u64, u64)>, String>;

/// Both models' rows (default sd, fixed today) and each file's reading state.
fn outcome(servers: &[Vec<Vec<&[u8]>>], opts: Options, today: &str) -> (Rows, Rows, Vec<String>) {
    let (t, files) = tally_chunks(servers, opts);
    let snap = Snapshot::new(&t.agg);
    let rows = |m| {
        snap.rows(m, None, None, day(today))
            .map(|r| tuples(&r))
            .map_err(|e| e.to_string())
    };
    let state = files
        .iter()
        .flatten()
        .map(|f: &FileIngest| {
            format!(
                "{:?} undated {} latest {:?} cursor {:?}",
                f.stats,
                f.undated(),
                f.latest(),
                f.cursor()
            )
        })
        .collect();
    (rows(Model::M2019), rows(Model::M2013), state)
}

// =============================================================================================
// (a) Chunking does not change anything.
// =============================================================================================

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    #[test]
    fn chunking_never_changes_the_report(
        servers in gen_servers(3, 3, 40),
        opts in gen_options(),
        cuts in prop::collection::vec(prop::collection::vec(any::<Index>(), 0..12), 9),
    ) {
        let rendered: Vec<Vec<Vec<u8>>> = servers.iter().map(|s| s.iter().map(GenFile::render).collect()).collect();
        let whole: Vec<Vec<Vec<&[u8]>>> = rendered.iter().map(|s| s.iter().map(|f| vec![&f[..]]).collect()).collect();
        let mut k = 0;
        let chunked: Vec<Vec<Vec<&[u8]>>> = rendered
            .iter()
            .map(|s| {
                s.iter()
                    .map(|f| {
                        k += 1;
                        cut(f, &cuts[(k - 1) % cuts.len()])
                    })
                    .collect()
            })
            .collect();
        // Also byte by byte for the first file (the smallest possible chunks), unless it holds an
        // overlong line (65 KB one byte at a time is slow in a debug build and adds nothing).
        let mut bytewise = whole.clone();
        if rendered[0][0].len() < 8192 {
            bytewise[0][0] = rendered[0][0].chunks(1).collect();
        }
        let want = outcome(&whole, opts, "2023-04-30");
        prop_assert_eq!(&outcome(&chunked, opts, "2023-04-30"), &want);
        prop_assert_eq!(&outcome(&bytewise, opts, "2023-04-30"), &want);
    }
}

/// A source that now and then has nothing to give yet (the merge must stop and wait), never
/// twice in a row.
struct Pausing<'b> {
    inner: MemSource<'b>,
    pauses: Vec<bool>,
    next: usize,
    paused: bool,
}

impl Source for Pausing<'_> {
    fn read_chunk(&mut self) -> std::io::Result<&[u8]> {
        let pause = self.pauses[self.next % self.pauses.len()];
        self.next += 1;
        if pause && !self.paused {
            self.paused = true;
            return Ok(&[]);
        }
        self.paused = false;
        self.inner.read_chunk()
    }

    fn ended(&mut self) -> bool {
        !self.paused
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(128), ..ProptestConfig::default() })]

    /// The stream merge stopped by sources that have no bytes yet (as a live file whose next
    /// chunk is not read yet) and resumed with the lines read so far waiting in the queues
    /// gives the report of one merge of the whole files.
    #[test]
    fn a_merge_stopped_and_resumed_gives_the_same_report(
        files in prop::collection::vec(gen_file(40), 1..=3),
        opts in gen_options(),
        cuts in prop::collection::vec(prop::collection::vec(any::<Index>(), 0..8), 3),
        pauses in prop::collection::vec(prop::collection::vec(any::<bool>(), 1..8), 3),
    ) {
        let rendered: Vec<Vec<u8>> = files.iter().map(GenFile::render).collect();
        let whole: Vec<Vec<Vec<&[u8]>>> = vec![rendered.iter().map(|f| vec![&f[..]]).collect()];
        let want = outcome(&whole, opts, "2023-04-30");

        let mut t = Tally::new(opts);
        let mut sources: Vec<Pausing<'_>> = rendered
            .iter()
            .zip(&cuts)
            .zip(&pauses)
            .map(|((f, c), p)| Pausing { inner: MemSource::new(cut(f, c)), pauses: p.clone(), next: 0, paused: false })
            .collect();
        let mut ingests: Vec<FileIngest> = rendered.iter().map(|_| FileIngest::new()).collect();
        let mut queues: Vec<VecDeque<Queued>> = vec![VecDeque::new(); rendered.len()];
        let mut stops = 0;
        loop {
            let mut lanes: Vec<Lane<'_, &mut Pausing<'_>>> = sources
                .iter_mut()
                .zip(ingests.iter_mut())
                .zip(queues.iter_mut())
                .map(|((s, f), q)| Lane::new(s, f, q))
                .collect();
            if t.merge(0, &mut lanes).unwrap() {
                break;
            }
            stops += 1;
            prop_assert!(stops < 100_000, "no progress");
        }
        let snap = Snapshot::new(&t.agg);
        let rows = |m| {
            snap.rows(m, None, None, day("2023-04-30"))
                .map(|r| tuples(&r))
                .map_err(|e| e.to_string())
        };
        prop_assert_eq!(rows(Model::M2019), want.0);
        prop_assert_eq!(rows(Model::M2013), want.1);
    }
}

/// The real logs (read in place), whole and cut at random points, with random options.
#[test]
fn chunking_the_real_logs_never_changes_the_report() {
    let logs = [
        (
            "joseantoniovilar__Stats_Logs_FlexLM__matlab.log",
            "2022-07-10",
        ),
        (
            "joseantoniovilar__Stats_Logs_FlexLM__autodesk.log",
            "2022-07-10",
        ),
        (
            "justbennet__flexlm_reporter__ansys.2017-06-08_09-49-41.log",
            "2017-06-28",
        ),
        ("sergioedo__flexlm-license-elk__sample.log", "2016-05-03"),
    ];
    for (file, today) in logs {
        let path = real_log(file);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let wants: Vec<_> = [
            Options::default(),
            Options {
                fold_case: true,
                user_identity: UserIdentity::UserAtHost,
                count_unsupported_as_denial: true,
            },
        ]
        .into_iter()
        .map(|o| (o, outcome(&[vec![vec![&bytes[..]]]], o, today)))
        .collect();
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: 3,
            ..ProptestConfig::default()
        });
        let strategy = (prop::collection::vec(any::<Index>(), 1..400), 0usize..2);
        runner
            .run(&strategy, |(points, which)| {
                let (opts, want) = &wants[which];
                let chunks = cut(&bytes, &points);
                prop_assert_eq!(
                    &outcome(&[vec![chunks]], *opts, today),
                    want,
                    "{} cut at {} points",
                    file,
                    points.len()
                );
                Ok(())
            })
            .unwrap();
    }
}

// =============================================================================================
// (b) No panics; the framer follows section 1.
// =============================================================================================

/// What section 1 says the lines of a file are: a BOM at the start dropped, split at `\n`, the
/// piece after the last `\n` not a line, lines over MAX_LINE bytes too long (None).
fn expected_lines(bytes: &[u8]) -> Vec<Option<Vec<u8>>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut pieces: Vec<&[u8]> = bytes.split(|c| *c == b'\n').collect();
    pieces.pop();
    pieces
        .into_iter()
        .map(|l| (l.len() <= MAX_LINE).then(|| l.to_vec()))
        .collect()
}

/// Bytes that are often almost a log line: generated lines with random bytes overwritten,
/// inserted or removed, or plain random bytes.
fn noisy_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..400),
        prop::collection::vec(
            prop_oneof![
                Just(b'\n'),
                Just(b' '),
                Just(b':'),
                Just(b'('),
                Just(b')'),
                Just(b'@'),
                Just(b'"'),
                any::<u8>()
            ],
            0..400
        ),
        (
            gen_file(12),
            prop::collection::vec((any::<Index>(), any::<u8>(), 0u8..3), 0..16)
        )
            .prop_map(|(f, edits)| {
                let mut v = f.render();
                for (at, byte, op) in edits {
                    let i = at.index(v.len() + 1);
                    match op {
                        0 if i < v.len() => v[i] = byte,
                        1 => v.insert(i, byte),
                        _ if i < v.len() => {
                            v.remove(i);
                        }
                        _ => {}
                    }
                }
                v
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(512), ..ProptestConfig::default() })]

    #[test]
    fn parse_line_never_panics(bytes in noisy_bytes()) {
        for line in bytes.split(|c| *c == b'\n') {
            let _ = parse_line(line);
        }
        let _ = parse_line(&bytes);
    }

    #[test]
    fn framer_cuts_lines_as_the_contract_says(bytes in noisy_bytes(), points in prop::collection::vec(any::<Index>(), 0..20)) {
        let mut fr = Framer::new();
        let mut got = Vec::new();
        for c in cut(&bytes, &points) {
            fr.feed(c, &mut |l| got.push(match l {
                Framed::Line(l) => Some(l.to_vec()),
                Framed::TooLong => None,
            }));
        }
        prop_assert_eq!(got, expected_lines(&bytes));
        // consumed = the bytes up to the end of the last complete line.
        let end = bytes.iter().rposition(|c| *c == b'\n').map_or(0, |i| i + 1);
        prop_assert_eq!(fr.consumed(), end as u64);
    }

    #[test]
    fn the_pipeline_never_panics(
        files in prop::collection::vec(noisy_bytes(), 1..4),
        points in prop::collection::vec(any::<Index>(), 0..8),
        opts in gen_options(),
    ) {
        let servers: Vec<Vec<Vec<&[u8]>>> = vec![files.iter().map(|f| cut(f, &points)).collect()];
        let (t, _) = tally_chunks(&servers, opts);
        let snap = Snapshot::new(&t.agg);
        for m in [Model::M2019, Model::M2013] {
            let _ = snap.rows(m, None, None, day("2023-04-30"));
            let _ = snap.rows(m, Some(day("2023-03-01")), Some(day("2023-03-31")), day("2023-04-30"));
        }
    }
}

// =============================================================================================
// (c) Differential against the reference implementation.
// =============================================================================================

/// Runs a report command; returns (success, stdout).
fn run(cmd: &mut Command) -> (bool, Vec<u8>) {
    let out = cmd.output().expect("run a report");
    (out.status.success(), out.stdout)
}

/// The report of lmtally and of refimpl.py for the same files and arguments.
fn both_reports(
    python: &Path,
    dir: &Path,
    servers: &[Vec<Vec<u8>>],
    args: &[String],
) -> ((bool, Vec<u8>), (bool, Vec<u8>)) {
    let mut all = Vec::new();
    for (s, files) in servers.iter().enumerate() {
        let mut paths = Vec::new();
        for (f, bytes) in files.iter().enumerate() {
            let p = dir.join(format!("s{s}-f{f}.log"));
            std::fs::write(&p, bytes).unwrap();
            paths.push(p.display().to_string());
        }
        all.push("--server".to_string());
        all.push(format!("s{s}={}", paths.join(",")));
    }
    all.extend(args.iter().cloned());
    let ours = run(Command::new(env!("CARGO_BIN_EXE_lmtally"))
        .arg("report")
        .args(&all));
    let theirs = run(Command::new(python).arg(refimpl_py()).args(&all));
    (ours, theirs)
}

fn gen_args() -> impl Strategy<Value = Vec<String>> {
    let date = || prop::option::weighted(0.3, (5u32..=25).prop_map(|d| format!("2023-03-{d:02}")));
    (any::<bool>(), gen_options(), date(), date()).prop_map(|(m2013, o, sd, ed)| {
        let mut a = vec!["--today".to_string(), "2023-03-31".to_string()];
        if m2013 {
            a.extend(["--model".to_string(), "2013".to_string()]);
        }
        if o.user_identity == UserIdentity::UserAtHost {
            a.extend(["--user-identity".to_string(), "user@host".to_string()]);
        }
        if o.fold_case {
            a.push("--fold-case".to_string());
        }
        if o.count_unsupported_as_denial {
            a.push("--count-unsupported".to_string());
        }
        if let Some(sd) = sd {
            a.extend(["--sd".to_string(), sd]);
        }
        if let Some(ed) = ed {
            a.extend(["--ed".to_string(), ed]);
        }
        a
    })
}

#[test]
fn same_report_as_the_reference_implementation() {
    let Some(python) = python3() else {
        eprintln!("note: python3 not found, same_report_as_the_reference_implementation skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: cases(40),
        max_shrink_iters: 400,
        ..ProptestConfig::default()
    });
    runner
        .run(&(gen_servers(3, 3, 30), gen_args()), |(servers, args)| {
            let rendered: Vec<Vec<Vec<u8>>> = servers
                .iter()
                .map(|s| s.iter().map(GenFile::render).collect())
                .collect();
            let (ours, theirs) = both_reports(&python, dir.path(), &rendered, &args);
            let logs: Vec<Vec<String>> = rendered
                .iter()
                .map(|s| {
                    s.iter()
                        .map(|f| String::from_utf8_lossy(f).into_owned())
                        .collect()
                })
                .collect();
            prop_assert_eq!(
                (ours.0, String::from_utf8_lossy(&ours.1)),
                (theirs.0, String::from_utf8_lossy(&theirs.1)),
                "lmtally (left) vs refimpl.py (right), args {:?}, logs {:#?}",
                args,
                logs
            );
            Ok(())
        })
        .unwrap();
}

// =============================================================================================
// Realistic logs from `lmtally::gen` (messy: SLOG blocks, restarts, shutdowns, CRLF, junk,
// truncated UTF-8, clock changes, overlong lines...).
// =============================================================================================

/// A realistic log of `days` days (from 2023-03-01).
fn realistic(seed: u64, days: u32, users: u32, daemon: &str) -> Vec<u8> {
    lmtally::gen::generate(lmtally::gen::GenConfig {
        seed,
        users,
        hosts: users.max(2) - 1,
        days,
        daemon: daemon.to_string(),
        features: 3,
        messy: true,
        ..Default::default()
    })
}

/// Splits a log at the line boundary at or after `at`, as a rotation would (the second file then
/// starts without an anchor).
fn rotate(log: &[u8], at: Index) -> (&[u8], &[u8]) {
    let i = at.index(log.len() + 1);
    let cut = log[i..]
        .iter()
        .position(|c| *c == b'\n')
        .map_or(log.len(), |p| i + p + 1);
    log.split_at(cut)
}

/// Two servers: server 0 is one realistic log rotated into two files, server 1 another log
/// (another daemon, other users, partly the same host names).
fn realistic_servers(seeds: (u64, u64), days: u32, users: u32, split: Index) -> [Vec<u8>; 3] {
    let a = realistic(seeds.0, days, users, "MLM");
    let (a1, a2) = rotate(&a, split);
    [
        a1.to_vec(),
        a2.to_vec(),
        realistic(seeds.1, days, users / 2 + 1, "adskflex"),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(12), ..ProptestConfig::default() })]

    #[test]
    fn chunking_realistic_logs_never_changes_the_report(
        seeds in (any::<u64>(), any::<u64>()),
        days in 1u32..=4,
        users in 2u32..40,
        split in any::<Index>(),
        cuts in prop::collection::vec(prop::collection::vec(any::<Index>(), 0..200), 3),
        opts in gen_options(),
    ) {
        let [a1, a2, b] = realistic_servers(seeds, days, users, split);
        let whole: Vec<Vec<Vec<&[u8]>>> = vec![vec![vec![&a1[..]], vec![&a2[..]]], vec![vec![&b[..]]]];
        let chunked: Vec<Vec<Vec<&[u8]>>> =
            vec![vec![cut(&a1, &cuts[0]), cut(&a2, &cuts[1])], vec![cut(&b, &cuts[2])]];
        prop_assert_eq!(outcome(&chunked, opts, "2023-03-10"), outcome(&whole, opts, "2023-03-10"));
    }
}

#[test]
fn realistic_logs_same_report_as_the_reference_implementation() {
    let Some(python) = python3() else {
        eprintln!("note: python3 not found, realistic_logs_same_report_as_the_reference_implementation skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: cases(6),
        max_shrink_iters: 50,
        ..ProptestConfig::default()
    });
    let strategy = (
        (any::<u64>(), any::<u64>()),
        1u32..=4,
        2u32..40,
        any::<Index>(),
        gen_args(),
    );
    runner
        .run(&strategy, |(seeds, days, users, split, mut args)| {
            let [a1, a2, b] = realistic_servers(seeds, days, users, split);
            // The generated logs start on 2023-03-01 and span at most 4 days.
            args[1] = "2023-03-08".to_string();
            let servers = vec![vec![a1, a2], vec![b]];
            let (ours, theirs) = both_reports(&python, dir.path(), &servers, &args);
            prop_assert!(
                ours == theirs,
                "lmtally {:?} vs refimpl.py {:?}; seeds {:?}, days {}, users {}, args {:?}",
                String::from_utf8_lossy(&ours.1),
                String::from_utf8_lossy(&theirs.1),
                seeds,
                days,
                users,
                args
            );
            Ok(())
        })
        .unwrap();
}
