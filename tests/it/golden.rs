//! Golden reports of the real logs (shared/samples/real, read in place).
//!
//! `tests/golden/<short>.json` is the body of `lmtally report --server s=<log> --today <today>`
//! (default options), and `<short>.m2013-fold-userhost-unsupported.json` the same with
//! `--model 2013 --fold-case --user-identity user@host --count-unsupported`. Before they were
//! pinned, every golden file was checked byte for byte against `python3
//! tests/reference/refimpl.py` with the same arguments (the test `goldens_agree_with_the_reference`
//! keeps checking it wherever python3 exists). To regenerate after a deliberate change:
//! `LMTALLY_BLESS=1 cargo test --test it golden`, then check the diff against refimpl.py again.
//!
//! Three or more days of each log were also checked by reading the log (`hand_checked_days`).

use crate::common::{day, python3, real_log, refimpl_py, tuples};
use lmtally::batch::{self, ServerSpec};
use lmtally::core::report::Snapshot;
use lmtally::core::{Model, Options};
use std::path::PathBuf;
use std::process::Command;

/// (short name, file in shared/samples/real, a fixed "today" a few days after the log's end).
const LOGS: [(&str, &str, &str); 4] = [
    (
        "matlab",
        "joseantoniovilar__Stats_Logs_FlexLM__matlab.log",
        "2022-07-10",
    ),
    (
        "autodesk",
        "joseantoniovilar__Stats_Logs_FlexLM__autodesk.log",
        "2022-07-10",
    ),
    (
        "ansys",
        "justbennet__flexlm_reporter__ansys.2017-06-08_09-49-41.log",
        "2017-06-28",
    ),
    (
        "sergioedo",
        "sergioedo__flexlm-license-elk__sample.log",
        "2016-05-03",
    ),
];

/// (golden file suffix, extra arguments).
const OPTION_SETS: [(&str, &[&str]); 2] = [
    ("", &[]),
    (
        ".m2013-fold-userhost-unsupported",
        &[
            "--model",
            "2013",
            "--fold-case",
            "--user-identity",
            "user@host",
            "--count-unsupported",
        ],
    ),
];

fn log_path(file: &str) -> PathBuf {
    let p = real_log(file);
    assert!(
        p.is_file(),
        "real log {} is missing (the golden tests read shared/samples/real in place)",
        p.display()
    );
    p
}

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.json"))
}

fn report_args(file: &str, today: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "--server".to_string(),
        format!("s={}", log_path(file).display()),
        "--today".to_string(),
        today.to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn lmtally_report(args: &[String]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_lmtally"))
        .arg("report")
        .args(args)
        .output()
        .expect("run lmtally");
    assert!(
        out.status.success(),
        "lmtally report {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 JSON")
}

#[test]
fn golden_reports() {
    let bless = std::env::var_os("LMTALLY_BLESS").is_some();
    for (short, file, today) in LOGS {
        for (suffix, extra) in OPTION_SETS {
            let name = format!("{short}{suffix}");
            let got = lmtally_report(&report_args(file, today, extra));
            let path = golden_path(&name);
            if bless {
                std::fs::write(&path, &got).unwrap();
                continue;
            }
            let want = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if got != want {
                // Show the first differing row rather than two long lines.
                let g: Vec<&str> = got.split("},{").collect();
                let w: Vec<&str> = want.split("},{").collect();
                let i = g
                    .iter()
                    .zip(&w)
                    .position(|(a, b)| a != b)
                    .unwrap_or(g.len().min(w.len()));
                panic!(
                    "{name}: report differs from {} at row {i}: got {:?}, golden {:?} ({} vs {} rows)",
                    path.display(),
                    g.get(i),
                    w.get(i),
                    g.len(),
                    w.len()
                );
            }
        }
    }
}

/// The reference implementation gives the same bodies (skipped, with a note, without python3).
#[test]
fn goldens_agree_with_the_reference() {
    let Some(python) = python3() else {
        eprintln!("note: python3 not found, goldens_agree_with_the_reference skipped");
        return;
    };
    for (short, file, today) in LOGS {
        for (suffix, extra) in OPTION_SETS {
            let out = Command::new(&python)
                .arg(refimpl_py())
                .args(report_args(file, today, extra))
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "refimpl: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let want = std::fs::read_to_string(golden_path(&format!("{short}{suffix}"))).unwrap();
            assert!(
                String::from_utf8_lossy(&out.stdout) == want,
                "{short}{suffix}: refimpl.py disagrees with the golden file"
            );
        }
    }
}

/// Rows `(ucd, uct, ucdy, ucde, ucch)` of the default report of one real log, for the given days.
fn rows_for(file: &str, today: &str, days: &[&str]) -> Vec<(String, u64, u64, u64, u64)> {
    let spec = ServerSpec {
        name: "s".into(),
        files: vec![log_path(file)],
    };
    let (t, _) = batch::tally(&[spec], Options::default()).unwrap();
    let rows = Snapshot::new(&t.agg)
        .rows(Model::M2019, None, None, day(today))
        .unwrap();
    let all = tuples(&rows);
    days.iter()
        .map(|d| {
            all.iter()
                .find(|r| r.0 == *d)
                .unwrap_or_else(|| panic!("no row {d}"))
                .clone()
        })
        .collect()
}

fn r(d: &str, uct: u64, ucdy: u64, ucde: u64, ucch: u64) -> (String, u64, u64, u64, u64) {
    (d.to_string(), uct, ucdy, ucde, ucch)
}

/// Days checked by reading the logs, not with lmtally or refimpl.py.
///
/// How: an awk script dated every enveloped line (the date from the `Server's System Date` line
/// and every `TIMESTAMP`, plus one day each time the clock fell more than 3 h below the day's
/// highest time; in all four logs each date then forms one contiguous block of lines). For a day
/// X, grep took the lines of X with `OUT:`/`IN:`/`DENIED:`/`UPGRADE:`, sed cut the user (after the
/// quoted feature, up to two blanks, before the last `@`), and `sort -u | wc -l` counted them
/// (ucdy; none of the four logs has a DENIED line, so ucde = 0 and ucdy = the used users). The
/// same for all days <= X gave uct. Sessions were paired in awk (per daemon, feature, user, host:
/// first OUT closed by the next IN; all closed at EXITING and at the banner; still-open ones end at
/// the log's last line); those open before X's midnight add their users to X, and a per-second
/// tally of distinct hosts over X gave ucch, with the hosts at the peak listed and looked at.
#[test]
fn hand_checked_days() {
    // matlab (MLM, 6/9/2022 - 7/7/2022).
    // 6/9: the first day (lmgrd starts 10:25:31, nothing open before): 24 users; peak 53 hosts at
    //   18:30:12 (LIBRE-xx classroom PCs, r1nNN.hpc.lan cluster nodes, DIBxx, ...).
    // 6/18, a Saturday: 8 users, most of the day's sessions were opened on earlier days (t192950
    //   on ~40 cluster nodes r1nNN.hpc.lan, s422722, t230171, lab04@Banach); peak 46 hosts at
    //   15:06:42; 50 users so far.
    // 7/7: the last day; at 8:14:44 the log ends with a SHUTDOWN request, lmgrd's EXITING and
    //   IN ... (SHUTDOWN) lines: 6 users, peak 43 hosts at 0:00:00 (sessions open across the midnight: t192950
    //   and s422722 on cluster nodes, Alumno@B03, ...); 108 users in all.
    let f = LOGS[0];
    assert_eq!(
        rows_for(
            f.1,
            f.2,
            &["2022-06-09", "2022-06-18", "2022-07-07", "2022-07-08"]
        ),
        vec![
            r("2022-06-09", 24, 24, 0, 53),
            r("2022-06-18", 50, 8, 0, 46),
            r("2022-07-07", 108, 6, 0, 43),
            r("2022-07-08", 108, 0, 0, 0),
        ]
    );
    // autodesk (adskflex, 5/5/2022 - 7/7/2022).
    // 5/5: the first day: 2 users (UPM, upm: case differs, no folding), peak 9 hosts at 21:29:58
    //   (upm00xxx, etsidi000xx).
    // 6/29: an exam day: users examen (eg04pcNN / eg01pcNN), alu-escuela (A404-NN), UPM, upm; 153
    //   distinct hosts checked out that day, 404 checkins between 10:00 and 11:00; the peak is
    //   146 hosts at 9:52:13.
    // 7/7: the last day: 2 users; UPM@upm00191 holds a session across the midnight; peak 2 hosts
    //   (upm00191, upm00201) at 0:25:07; 21 users in all.
    let f = LOGS[1];
    assert_eq!(
        rows_for(f.1, f.2, &["2022-05-05", "2022-06-29", "2022-07-07"]),
        vec![
            r("2022-05-05", 2, 2, 0, 9),
            r("2022-06-29", 21, 4, 0, 146),
            r("2022-07-07", 21, 2, 0, 2)
        ]
    );
    // ansys (ansyslmd, 6/8/2017 - 6/25/2017).
    // 6/8: the first day: 4 users; peak 3 hosts (nyx7005/7006/7007) at 9:50:15.
    // 6/16: 6 users; sessions open across the midnight: nchiot, manikafa, caixz, byekta on
    //   nyx700x, minkikim on seven nyx55xx nodes; peak 11 hosts at 15:00:13; 9 users so far.
    // 6/25: the last day (log ends 9:25:01): 3 users (caixz, byekta, minkikim), all holding
    //   sessions from before midnight; 4 hosts at 0:00:00; 10 users in all.
    let f = LOGS[2];
    assert_eq!(
        rows_for(f.1, f.2, &["2017-06-08", "2017-06-16", "2017-06-25"]),
        vec![
            r("2017-06-08", 4, 4, 0, 3),
            r("2017-06-16", 9, 6, 0, 11),
            r("2017-06-25", 10, 3, 0, 4)
        ]
    );
    // sergioedo (adskflex, 3/30/2016 - 4/30/2016).
    // 3/30: the first day: 17 users (USERnn), peak 8 hosts (COMPUTERnn) at 12:46:24.
    // 4/9, a Saturday: one user on COMPUTER34 at 11:18:44: 1 user, 1 host; 48 users so far.
    // 4/10, a Sunday: no usage line and nothing open: 0 users, 0 hosts.
    // 4/30, a Saturday: only SLOG statistics lines: a zero row; 68 users in all.
    let f = LOGS[3];
    assert_eq!(
        rows_for(
            f.1,
            f.2,
            &["2016-03-30", "2016-04-09", "2016-04-10", "2016-04-30"]
        ),
        vec![
            r("2016-03-30", 17, 17, 0, 8),
            r("2016-04-09", 48, 1, 0, 1),
            r("2016-04-10", 48, 0, 0, 0),
            r("2016-04-30", 68, 0, 0, 0),
        ]
    );
}
