//! The contract's rules (sections 1, 2.1-2.5, 3 and 4), one small log at a time.
//!
//! Every expected row below was worked out by hand from the contract text; the comment above each
//! assertion says how. Rows are `(ucd, uct, ucdy, ucde, ucch)`. Unless a test says otherwise, the
//! model is 2019, identity is the user name, no case folding, UNSUPPORTED is not a denial.

use crate::common::{day, tally_chunks, tally_logs, tuples};
use lmtally::core::merge::Tally;
use lmtally::core::report::{RangeError, Snapshot};
use lmtally::core::{Model, Options, UserIdentity};

type R = (String, u64, u64, u64, u64);

/// A row.
fn r(d: &str, uct: u64, ucdy: u64, ucde: u64, ucch: u64) -> R {
    (d.to_string(), uct, ucdy, ucde, ucch)
}

/// A log from a readable literal: each line starts after a `|` margin (leading blanks before the
/// `|` are indentation; blanks after it are part of the line), and every line gets its `\n`.
fn lg(s: &str) -> String {
    let mut out = String::new();
    for line in s.lines() {
        let t = line.trim_start();
        if t.is_empty() {
            continue;
        }
        let t = t
            .strip_prefix('|')
            .unwrap_or_else(|| panic!("no margin: {line:?}"));
        out.push_str(t);
        out.push('\n');
    }
    out
}

fn default_opts() -> Options {
    Options::default()
}

fn with(f: impl FnOnce(&mut Options)) -> Options {
    let mut o = Options::default();
    f(&mut o);
    o
}

/// Rows `sd..=ed` of one log per server (one file each).
fn rep(logs: &[&str], opts: Options, model: Model, sd: &str, ed: &str) -> Vec<R> {
    rows_of(&tally_logs(logs, opts), model, Some(sd), Some(ed), ed)
}

fn rows_of(t: &Tally, model: Model, sd: Option<&str>, ed: Option<&str>, today: &str) -> Vec<R> {
    try_rows(t, model, sd, ed, today).unwrap()
}

fn try_rows(
    t: &Tally,
    model: Model,
    sd: Option<&str>,
    ed: Option<&str>,
    today: &str,
) -> Result<Vec<R>, RangeError> {
    Snapshot::new(&t.agg)
        .rows(model, sd.map(day), ed.map(day), day(today))
        .map(|rows| tuples(&rows))
}

/// Rows with the default `sd` (earliest day with data) and `ed` = `today`.
fn rep_default(logs: &[&str], opts: Options, model: Model, today: &str) -> Vec<R> {
    rows_of(&tally_logs(logs, opts), model, None, None, today)
}

/// One server with several files (each a whole log).
fn tally_files(files: &[&[u8]], opts: Options) -> Tally {
    let servers = vec![files.iter().map(|f| vec![*f]).collect::<Vec<_>>()];
    tally_chunks(&servers, opts).0
}

const M19: Model = Model::M2019;
const M13: Model = Model::M2013;

// =============================================================================================
// 2.2 at report level: the eight example lines together.
// =============================================================================================

#[test]
fn spec_example_lines_in_one_log() {
    // The contract's examples, put in time order after an anchor (each has its two trailing
    // blanks). used = {José Juan Galera, caixz, alu-escuela (OUT), USER07 (an IN, unmatched),
    // user_02 (OUT)} = 5; denied = {xis, indkach} = 2; kumara's UNSUPPORTED is not a denial.
    // ucdy = 7, ucde = 2, uct = 7. The four OUTs open sessions on four hosts (Plasmon, nyx7005,
    // LIBRE-04, machine_05) that stay open to the latest instant (14:46:39); all four are open
    // from 12:34:29 on, so ucch = 4.
    let log = lg(r#"
        | 0:00:00 (lmgrd) TIMESTAMP 3/14/2023
        | 8:10:02 (MLM) OUT: "MATLAB" José Juan Galera@Plasmon  
        | 9:49:51 (ansyslmd) OUT: "hfsshpc" caixz@nyx7005.arc-ts.umich.edu  (8 licenses)  
        |10:25:38 (MLM) OUT: "MATLAB" alu-escuela@LIBRE-04  
        |11:02:14 (adskflex) IN: "64300ACD_F" USER07@COMPUTER04  (INACTIVE)  
        |11:53:14 (parteklm) DENIED: "base" xis@NCI-01987186  (Licensed number of users already reached. (-4,342))  
        |12:34:29 (MSC) OUT: "CAMPUS" user_02@machine_05 [CAMPUS:NA_Parallel] (200 licenses)  
        |14:21:37 (parteklm) UNSUPPORTED: "pathway_base" (PORT_AT_HOST_PLUS   ) kumara@FR-N-S080242  (License server system does not support this feature. (-18,327))  
        |14:46:39 (telelogic) DENIED: DOORS indkach@indkach  [telelogic] (Licensed number of users already reached. (-4,342:10054 ))  
    "#);
    assert_eq!(
        rep(&[&log], default_opts(), M19, "2023-03-14", "2023-03-14"),
        vec![r("2023-03-14", 7, 7, 2, 4)]
    );
    // With count_unsupported_as_denial, kumara is a denial too: 8 users, 3 denied.
    let o = with(|o| o.count_unsupported_as_denial = true);
    assert_eq!(
        rep(&[&log], o, M19, "2023-03-14", "2023-03-14"),
        vec![r("2023-03-14", 8, 8, 3, 4)]
    );
    // Model 2013: ucdy = |used| = 5, uct = the 14-day union of used = 5.
    assert_eq!(
        rep(&[&log], default_opts(), M13, "2023-03-14", "2023-03-14"),
        vec![r("2023-03-14", 5, 5, 2, 4)]
    );
}

// =============================================================================================
// 2.2: malformed usage lines count nothing but take part in dating.
// =============================================================================================

#[test]
fn malformed_lines_count_nothing() {
    // Empty user, unclosed quote, unclosed group (with UNSUPPORTED counted as denial so that it
    // would count if it parsed), a QUEUED with an empty user: nothing is used or denied, so with
    // the default sd there are no rows at all, and with sd = ed the row is all zeros.
    let log = lg(r#"
        |9:00:00 (v) TIMESTAMP 3/14/2023
        |10:00:00 (v) OUT: "F" @h1
        |10:00:01 (v) OUT: "F alice@h1
        |10:00:02 (v) UNSUPPORTED: "F" (PORT_AT_HOST_PLUS bob@h2
        |10:00:03 (v) DENIED: "F"
        |10:00:04 (v) IN: "F" OBF_STRT: @h1
    "#);
    let o = with(|o| o.count_unsupported_as_denial = true);
    assert_eq!(rep_default(&[&log], o, M19, "2023-03-20"), vec![]);
    assert_eq!(
        rep(&[&log], o, M19, "2023-03-14", "2023-03-14"),
        vec![r("2023-03-14", 0, 0, 0, 0)]
    );
}

#[test]
fn malformed_and_other_lines_take_part_in_dating() {
    // Anchor 3/14 12:00 (T = 12:00). A malformed OUT at 16:00 raises T to 16:00. The DENIED at
    // 12:30 is then more than 3 h before T (12:30 < 13:00): midnight passed, it is on 3/15.
    let with_malformed = lg(r#"
        |12:00:00 (v) TIMESTAMP 3/14/2023
        |16:00:00 (v) OUT: "F" @nobody
        |12:30:00 (v) DENIED: "F" zed@h
    "#);
    assert_eq!(
        rep_default(&[&with_malformed], default_opts(), M19, "2023-03-15"),
        vec![r("2023-03-15", 1, 1, 1, 0)]
    );
    // Same with an ordinary message line ("Other").
    let with_other = lg(r#"
        |12:00:00 (v) TIMESTAMP 3/14/2023
        |16:00:00 (v) SHUTDOWN request from root at node h
        |12:30:00 (v) DENIED: "F" zed@h
    "#);
    assert_eq!(
        rep_default(&[&with_other], default_opts(), M19, "2023-03-15"),
        vec![r("2023-03-15", 1, 1, 1, 0)]
    );
    // A line without an envelope does NOT take part: T stays 12:00 and the denial is on 3/14.
    let with_junk = lg(r#"
        |12:00:00 (v) TIMESTAMP 3/14/2023
        |16:00:00 SHUTDOWN request from root at node h
        |12:30:00 (v) DENIED: "F" zed@h
    "#);
    assert_eq!(
        rep_default(&[&with_junk], default_opts(), M19, "2023-03-15"),
        vec![r("2023-03-14", 1, 1, 1, 0), r("2023-03-15", 1, 0, 0, 0)]
    );
}

// =============================================================================================
// 1: bytes and lines.
// =============================================================================================

#[test]
fn bom_crlf_and_trailing_blanks() {
    // A BOM before the first line (the anchor): if it were not removed, the anchor would not be
    // an envelope, the file would have no anchor and nothing would count. CRLF and trailing
    // blanks are removed, so the OUT's host is "h1" like the IN's: with identity user@host there
    // is one identity (two if the host were "h1  \r"), and the IN closes the session at 11:00, so
    // the session does not reach the last line (3/15 1:00) and 3/15 has no user.
    let log = "\u{FEFF}9:00:00 (v) TIMESTAMP 3/14/2023\r\n\
               10:00:00 (v) OUT: \"F\" ann@h1  \r\n\
               11:00:00 (v) IN: \"F\" ann@h1\t \r\n\
               1:00:00 (v) x\r\n";
    let o = with(|o| o.user_identity = UserIdentity::UserAtHost);
    assert_eq!(
        rep_default(&[log], o, M19, "2023-03-15"),
        vec![r("2023-03-14", 1, 1, 0, 1), r("2023-03-15", 1, 0, 0, 0)]
    );
    // A BOM that is not at the start of the file is not removed: that line is skipped (the
    // DENIED of bob does not count).
    let log = "9:00:00 (v) TIMESTAMP 3/14/2023\n\u{FEFF}10:00:00 (v) DENIED: F bob@h\n10:00:01 (v) DENIED: F cy@h\n";
    assert_eq!(
        rep_default(&[log], default_opts(), M19, "2023-03-14"),
        vec![r("2023-03-14", 1, 1, 1, 0)]
    );
}

#[test]
fn overlong_line_is_skipped() {
    // A DENIED of "big" padded with blanks to 65,537 bytes before its '\n' is skipped; padded to
    // exactly 65,536 it counts. (Trailing blanks are removed only after the length check.)
    for (len, denied) in [(65_537usize, 1u64), (65_536, 2)] {
        let mut big = String::from("10:00:00 (v) DENIED: F big@h");
        while big.len() < len {
            big.push(' ');
        }
        let log =
            format!("9:00:00 (v) TIMESTAMP 3/14/2023\n{big}\n10:00:01 (v) DENIED: F small@h\n");
        // Whole, and in chunks of 1000 bytes (the framer sees the long line in pieces).
        let t = tally_logs(&[&log], default_opts());
        let want = vec![r("2023-03-14", denied, denied, denied, 0)];
        assert_eq!(
            rows_of(&t, M19, None, None, "2023-03-14"),
            want,
            "len {len}"
        );
        let chunks: Vec<&[u8]> = log.as_bytes().chunks(1000).collect();
        let (t, _) = tally_chunks(&[vec![chunks]], default_opts());
        assert_eq!(
            rows_of(&t, M19, None, None, "2023-03-14"),
            want,
            "len {len}, chunked"
        );
    }
}

#[test]
fn final_line_without_newline_is_not_processed() {
    // The last OUT has no '\n': it is not processed, so only ann counts, and her session (open)
    // lasts to the latest instant of the processed lines, 10:00:00.
    let log =
        "9:00:00 (v) TIMESTAMP 3/14/2023\n10:00:00 (v) OUT: F ann@h1\n11:00:00 (v) OUT: F bob@h2";
    assert_eq!(
        rep_default(&[log], default_opts(), M19, "2023-03-14"),
        vec![r("2023-03-14", 1, 1, 0, 1)]
    );
    // Once its '\n' arrives, bob counts and both hosts are open at 11:00.
    let log = format!("{log}\n");
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-14"),
        vec![r("2023-03-14", 2, 2, 0, 2)]
    );
    // An unterminated final line does not move time either: a TIMESTAMP there (no '\n') does not
    // keep ann's session open into 3/16.
    let log = "9:00:00 (v) TIMESTAMP 3/14/2023\n10:00:00 (v) OUT: F ann@h1\n9:00:00 (v) TIMESTAMP 3/16/2023";
    assert_eq!(
        rep_default(&[log], default_opts(), M19, "2023-03-16"),
        vec![
            r("2023-03-14", 1, 1, 0, 1),
            r("2023-03-15", 1, 0, 0, 0),
            r("2023-03-16", 1, 0, 0, 0)
        ]
    );
}

#[test]
fn invalid_utf8_names_decode_to_replacement_characters() {
    // Users "ab\xFF", "ab\xFE", "ab\xC3" (a cut "ñ") each decode to "ab\u{FFFD}": one identity.
    // "ab\xFF\xFF" decodes to "ab\u{FFFD}\u{FFFD}": a second one. "ab\xC3\xB1" is "abñ": a
    // third. All are denials: ucdy = ucde = 3.
    let mut log = b"9:00:00 (v) TIMESTAMP 3/14/2023\n".to_vec();
    for user in [
        &b"ab\xFF"[..],
        b"ab\xFE",
        b"ab\xC3",
        b"ab\xFF\xFF",
        b"ab\xC3\xB1",
    ] {
        log.extend_from_slice(b"10:00:00 (v) DENIED: F ");
        log.extend_from_slice(user);
        log.extend_from_slice(b"@h\n");
    }
    let t = tally_files(&[&log], default_opts());
    assert_eq!(
        rows_of(&t, M19, None, None, "2023-03-14"),
        vec![r("2023-03-14", 3, 3, 3, 0)]
    );
    // A host with an invalid byte is one host whatever the byte: sessions on "pc\xFF" and
    // "pc\xFE" (both "pc\u{FFFD}") at the same time give ucch 1.
    let log = b"9:00:00 (v) TIMESTAMP 3/14/2023\n10:00:00 (v) OUT: F a@pc\xFF\n10:00:00 (v) OUT: F b@pc\xFE\n";
    let t = tally_files(&[log], default_opts());
    assert_eq!(
        rows_of(&t, M19, None, None, "2023-03-14"),
        vec![r("2023-03-14", 2, 2, 0, 1)]
    );
}

// =============================================================================================
// 2.3: date anchors.
// =============================================================================================

#[test]
fn every_anchor_kind_dates_the_lines_after_it() {
    // Each anchor line (at 9:00, on 3/14/2023) followed by a DENIED at 10:00: the denial is on
    // 3/14 (one row with the default sd: uct = ucdy = ucde = 1).
    for anchor in [
        "9:00:00 (MLM) TIMESTAMP 3/14/2023",
        "9:00:00 (lmgrd) FlexNet Licensing (v11.18.1.0 build 279785 x64_n6) started on flexlm01 (IBM PC) (3/14/2023)",
        "9:00:00 (lmgrd) FLEXlm (v9.2) started on h (linux) (3/14/2023)",
        "9:00:00 (lmgrd) Server's System Date and Time: Tue Mar 14 2023 09:00:00 Hora de verano romance",
        "9:00:00 (lmgrd) (@lmgrd-SLOG@) Start-Date: Tue Mar 14 2023 09:00:00 EDT",
        "9:00:00 (MLM) (@MLM-SLOG@) Time: Tue Mar 14 2023 09:00:00 EDT",
        "9:00:00 (MLM) (@MLM-SLOG@) Reread time: Tue Mar 14 2023 09:00:00 EDT",
        "2023-03-14T09:00:00 (MLM) x",
        "2023-03-14T09:00:00Z (MLM) x",
        "2023-03-14T09:00:00+02:00 (MLM) x",
        "2023-03-14T09:00:00-11:00 (MLM) x",
        // The envelope's date wins over the TIMESTAMP's in a -datestamp line.
        "2023-03-14T09:00:00 (MLM) TIMESTAMP 1/1/2020",
    ] {
        let log = format!("{anchor}\n10:00:00 (MLM) DENIED: F zed@h\n");
        assert_eq!(
            rep_default(&[&log], default_opts(), M19, "2023-03-14"),
            vec![r("2023-03-14", 1, 1, 1, 0)],
            "{anchor}"
        );
    }
}

#[test]
fn lines_that_are_not_anchors() {
    // Without an anchor nothing counts (no rows with the default sd). Each of these lines is
    // NOT an anchor: an SLOG "ms at" line (it describes a past event), a TIMESTAMP with a date
    // that does not exist, a TIMESTAMP with trailing text, a -datestamp line with a date that
    // does not exist (the whole line is skipped).
    for line in [
        "9:00:00 (MLM) (@MLM-SLOG@) 00000000 ms at Tue Mar 14 2023 09:00:00 Hora de verano romance,#19,(5980K),(upm,e7,1972)",
        "9:00:00 (ansyslmd) (@ansyslmd-SLOG@) 00000000 ms at  9:50:00(3/14/2023),#16,(caixz,nyx7007,22)",
        "9:00:00 (MLM) TIMESTAMP 2/30/2023",
        "9:00:00 (MLM) TIMESTAMP 3/14/2023 x",
        "2023-02-30T09:00:00 (MLM) TIMESTAMP 3/14/2023",
    ] {
        let log = format!("{line}\n10:00:00 (MLM) DENIED: F zed@h\n");
        assert_eq!(rep_default(&[&log], default_opts(), M19, "2023-03-14"), vec![], "{line}");
    }
    // A -datestamp line with a date that does not exist is skipped even after an anchor: its
    // denial does not count.
    let log = lg(r#"
        |9:00:00 (MLM) TIMESTAMP 3/14/2023
        |2023-02-30T10:00:00 (MLM) DENIED: F ghost@h
        |10:00:01 (MLM) DENIED: F zed@h
    "#);
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-14"),
        vec![r("2023-03-14", 1, 1, 1, 0)]
    );
}

#[test]
fn an_anchor_sets_the_date_and_its_own_envelope_time() {
    // The System Date line is written at 1:00 (envelope time) and says 23:00 in its text. T is
    // the envelope time, 1:00: a line at 22:30 is more than 21 h after T (22:30 > 22:00), so it
    // was written before a midnight already passed and is on D - 1 = 3/13. (Had T been 23:00,
    // it would be on 3/14.)
    let log = lg(r#"
        |1:00:00 (lmgrd) Server's System Date and Time: Tue Mar 14 2023 23:00:00 CET
        |22:30:00 (v) DENIED: F zed@h
    "#);
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-14"),
        vec![r("2023-03-13", 1, 1, 1, 0), r("2023-03-14", 1, 0, 0, 0)]
    );
    // A later anchor moves the date anywhere, backwards too: the second denial is on 3/10.
    let log = lg(r#"
        |9:00:00 (v) TIMESTAMP 3/14/2023
        |10:00:00 (v) DENIED: F a@h
        |11:00:00 (v) TIMESTAMP 3/10/2023
        |12:00:00 (v) DENIED: F b@h
    "#);
    assert_eq!(
        rows_of(
            &tally_logs(&[&log], default_opts()),
            M19,
            Some("2023-03-10"),
            Some("2023-03-14"),
            "2023-03-14"
        )
        .into_iter()
        .filter(|x| x.2 > 0)
        .collect::<Vec<_>>(),
        vec![r("2023-03-10", 1, 1, 1, 0), r("2023-03-14", 2, 1, 1, 0)]
    );
}

// =============================================================================================
// 2.4: forward dating.
// =============================================================================================

#[test]
fn forward_midnight_pass() {
    // Anchor 3/14 22:00. ann's session 23:00-23:30 is on 3/14. bob's OUT at 0:00:05 is more than
    // 3 h before T = 23:30: midnight passed, 3/15; his IN at 0:10 is on 3/15 too.
    // 3/14: {ann}, host h1 -> (1, 1, 0, 1). 3/15: {bob}, uct {ann, bob} = 2, host h2 -> 1.
    let log = lg(r#"
        |22:00:00 (v) TIMESTAMP 3/14/2023
        |23:00:00 (v) OUT: F ann@h1
        |23:30:00 (v) IN: F ann@h1
        | 0:00:05 (v) OUT: F bob@h2
        | 0:10:00 (v) IN: F bob@h2
    "#);
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-15"),
        vec![r("2023-03-14", 1, 1, 0, 1), r("2023-03-15", 2, 1, 0, 1)]
    );
}

#[test]
fn forward_three_hour_boundary_is_exact() {
    // Anchor 3/14 10:00 (T = 10:00). 7:00:00 is exactly T - 3 h: not "< T - 3 h", so 3/14 (T stays
    // 10:00). 6:59:59 is < 7:00:00: midnight passed, 3/15. Denials: 3/14 {a}, 3/15 {b}.
    let log = lg(r#"
        |10:00:00 (v) TIMESTAMP 3/14/2023
        | 7:00:00 (v) DENIED: F a@h
        | 6:59:59 (v) DENIED: F b@h
    "#);
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-15"),
        vec![r("2023-03-14", 1, 1, 1, 0), r("2023-03-15", 2, 1, 1, 0)]
    );
    // Small steps back keep the high-water mark: 9:00 then 7:30 are within 3 h of T = 10:00
    // (3/14); 6:59:59 is 3h00m01 before T (not before the previous line): 3/15.
    let log = lg(r#"
        |10:00:00 (v) TIMESTAMP 3/14/2023
        | 9:00:00 (v) DENIED: F a@h
        | 7:30:00 (v) DENIED: F a@h
        | 6:59:59 (v) DENIED: F b@h
    "#);
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-15"),
        vec![r("2023-03-14", 1, 1, 1, 0), r("2023-03-15", 2, 1, 1, 0)]
    );
}

#[test]
fn forward_late_writer_before_midnight() {
    // Anchor 3/14 23:59:50. a at 0:00:05: midnight, 3/15, T = 0:00:05. b at 23:59:58 is more
    // than 21 h after T (> 21:00:05): written before that midnight, dated 3/14, D and T unchanged.
    // c at 0:00:07 is then on 3/15 (it would be 3/16 had b moved the date).
    // 3/14 denied {b}; 3/15 denied {a, c}.
    let log = lg(r#"
        |23:59:50 (v) TIMESTAMP 3/14/2023
        | 0:00:05 (v) DENIED: F a@h
        |23:59:58 (v) DENIED: F b@h
        | 0:00:07 (v) DENIED: F c@h
    "#);
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-16"),
        vec![
            r("2023-03-14", 1, 1, 1, 0),
            r("2023-03-15", 3, 2, 2, 0),
            r("2023-03-16", 3, 0, 0, 0)
        ]
    );
    // The 21 h boundary: after a at 0:00:05 (3/15), 21:00:05 is exactly T + 21 h: not "> T + 21 h",
    // so it is on 3/15 and T becomes 21:00:05.
    let log = lg(r#"
        |23:59:50 (v) TIMESTAMP 3/14/2023
        | 0:00:05 (v) DENIED: F a@h
        |21:00:05 (v) DENIED: F b@h
    "#);
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-15"),
        vec![r("2023-03-15", 2, 2, 2, 0)]
    );
    // One second later (21:00:06 > T + 21 h) it is on 3/14.
    let log = lg(r#"
        |23:59:50 (v) TIMESTAMP 3/14/2023
        | 0:00:05 (v) DENIED: F a@h
        |21:00:06 (v) DENIED: F b@h
    "#);
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-15"),
        vec![r("2023-03-14", 1, 1, 1, 0), r("2023-03-15", 2, 1, 1, 0)]
    );
}

// =============================================================================================
// 2.4: backward dating before the first anchor.
// =============================================================================================

#[test]
fn backward_dating_before_the_first_anchor() {
    // Held: a 22:00, b 23:30, c 1:00, d 2:00; anchor 3/15 at 3:00. Walking back with L = 3:00:
    // d 2:00 -> 3/15, L = 2:00; c 1:00 -> 3/15, L = 1:00; b 23:30 > L + 3 h -> 3/14, L = 23:30;
    // a 22:00 -> 3/14. Denied: 3/14 {a, b}, 3/15 {c, d}.
    let log = lg(r#"
        |22:00:00 (v) DENIED: F a@h
        |23:30:00 (v) DENIED: F b@h
        | 1:00:00 (v) DENIED: F c@h
        | 2:00:00 (v) DENIED: F d@h
        | 3:00:00 (v) TIMESTAMP 3/15/2023
    "#);
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-15"),
        vec![r("2023-03-14", 2, 2, 2, 0), r("2023-03-15", 4, 2, 2, 0)]
    );
}

#[test]
fn backward_three_hour_boundary_is_exact() {
    // Anchor 3/15 3:00 (L = 3:00). Held a at 6:00:00 is exactly L + 3 h: not "> L + 3 h", 3/15.
    let log = "6:00:00 (v) DENIED: F a@h\n3:00:00 (v) TIMESTAMP 3/15/2023\n";
    assert_eq!(
        rep_default(&[log], default_opts(), M19, "2023-03-15"),
        vec![r("2023-03-15", 1, 1, 1, 0)]
    );
    // 6:00:01 is: 3/14.
    let log = "6:00:01 (v) DENIED: F a@h\n3:00:00 (v) TIMESTAMP 3/15/2023\n";
    assert_eq!(
        rep_default(&[log], default_opts(), M19, "2023-03-15"),
        vec![r("2023-03-14", 1, 1, 1, 0), r("2023-03-15", 1, 0, 0, 0)]
    );
}

#[test]
fn backward_mirror_of_the_late_writer() {
    // Held: a 23:59:58, b 0:00:03, c 23:59:59; anchor 3/15 0:00:10. Walking back (L = 0:00:10):
    // c 23:59:59 > L + 3 h -> 3/14, L = 23:59:59; b 0:00:03 < L - 21 h (2:59:59): dated D + 1 =
    // 3/15, D and L unchanged; a 23:59:58 -> 3/14. Denied: 3/14 {a, c}, 3/15 {b}.
    let log = lg(r#"
        |23:59:58 (v) DENIED: F a@h
        | 0:00:03 (v) DENIED: F b@h
        |23:59:59 (v) DENIED: F c@h
        | 0:00:10 (v) TIMESTAMP 3/15/2023
    "#);
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-15"),
        vec![r("2023-03-14", 2, 2, 2, 0), r("2023-03-15", 3, 1, 1, 0)]
    );
    // The 21 h boundary backwards. Held: c 2:59:59, x 23:59:59; anchor 3/15 0:00:10. x -> 3/14,
    // L = 23:59:59; c is exactly L - 21 h: not "< L - 21 h", so it is on 3/14 (D).
    let log = lg(r#"
        | 2:59:59 (v) DENIED: F c@h
        |23:59:59 (v) x
        | 0:00:10 (v) TIMESTAMP 3/15/2023
    "#);
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-15"),
        vec![r("2023-03-14", 1, 1, 1, 0), r("2023-03-15", 1, 0, 0, 0)]
    );
    // One second earlier (2:59:58 < L - 21 h) it is on D + 1 = 3/15.
    let log = log.replace("2:59:59 (v) DENIED", "2:59:58 (v) DENIED");
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-15"),
        vec![r("2023-03-15", 1, 1, 1, 0)]
    );
}

#[test]
fn a_file_without_anchor_counts_nothing() {
    // Sessions, checkins and denials, but no anchor: no data at all.
    let log = lg(r#"
        |10:00:00 (v) OUT: F a@h1
        |10:30:00 (v) DENIED: F b@h2
        |11:00:00 (v) IN: F a@h1
    "#);
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-15"),
        vec![]
    );
    // Next to an anchored file of the same server, it adds nothing and its (undated) lines do
    // not extend the other file's open session: ann's session lasts to 10:00 on 3/14 only.
    let anchored = lg(r#"
        |9:00:00 (v) TIMESTAMP 3/14/2023
        |10:00:00 (v) OUT: F ann@h1
    "#);
    let undated = lg(r#"
        |23:00:00 (v) DENIED: F b@h2
        |1:00:00 (v) OUT: F c@h3
    "#);
    let t = tally_files(&[anchored.as_bytes(), undated.as_bytes()], default_opts());
    assert_eq!(
        rows_of(&t, M19, None, None, "2023-03-15"),
        vec![r("2023-03-14", 1, 1, 0, 1), r("2023-03-15", 1, 0, 0, 0)]
    );
}

// =============================================================================================
// 2.5: session resets.
// =============================================================================================

/// A server with daemons v (ann on h1) and w (bob on h2), both checked out at 10:00 on 3/14, a
/// reset candidate at 12:00, and a last line on 3/15 at 10:00. Sessions the reset ends close at
/// 12:00 on 3/14; the others stay open to 3/15 10:00 and count on 3/15.
fn reset_case(reset_line: &str) -> Vec<R> {
    let log = format!(
        "0:00:00 (lmgrd) TIMESTAMP 3/14/2023\n\
         10:00:00 (v) OUT: F ann@h1\n\
         10:00:00 (w) OUT: G bob@h2\n\
         {reset_line}\n\
         10:00:00 (lmgrd) TIMESTAMP 3/15/2023\n"
    );
    rep(&[&log], default_opts(), M19, "2023-03-14", "2023-03-15")
}

#[test]
fn every_reset_kind() {
    // 3/14 always has both users and both hosts: (2, 2, 0, 2).
    let v_only = vec![r("2023-03-14", 2, 2, 0, 2), r("2023-03-15", 2, 1, 0, 1)]; // bob survives
    let all = vec![r("2023-03-14", 2, 2, 0, 2), r("2023-03-15", 2, 0, 0, 0)]; // nobody survives
    let none = vec![r("2023-03-14", 2, 2, 0, 2), r("2023-03-15", 2, 2, 0, 2)]; // both survive
    for (line, want) in [
        ("12:00:00 (v) EXITING DUE TO SIGNAL 15", &v_only),
        ("12:00:00 (lmgrd) EXITING DUE TO SIGNAL 15", &all),
        ("12:00:00 (v) Lost connection to lmgrd, heartbeat timeout expired, exiting.", &v_only),
        ("12:00:00 (lmgrd) Lost connection to lmgrd", &all),
        ("12:00:00 (lmgrd) v exited with status 36 (Unknown)", &v_only),
        ("12:00:00 (lmgrd) Started v (pid 4440)", &v_only),
        ("12:00:00 (lmgrd) REStarted v (pid 4552)", &v_only),
        // The banner, from any daemon (its date is 3/14, so it does not move the date).
        ("12:00:00 (lmgrd) FlexNet Licensing (v11.18.1.0 build 279785 x64_n6) started on h (IBM PC) (3/14/2023)", &all),
        ("12:00:00 (w) FLEXlm (v9) started on h (linux) (3/14/2023)", &all),
        // Not resets.
        ("12:00:00 (v) Server started on flexlm02 for:\tF", &none),
        ("12:00:00 (lmgrd) Server started on flexlm02", &none),
        ("12:00:00 (v) Started v (pid 1)", &none),
        ("12:00:00 (v) v exited with status 1", &none),
        ("12:00:00 (v) SHUTDOWN request from root at node h", &none),
        // A daemon that holds no session: nothing ends.
        ("12:00:00 (lmgrd) Started other (pid 1)", &none),
    ] {
        assert_eq!(&reset_case(line), want, "{line}");
    }
}

#[test]
fn a_reset_ends_sessions_at_its_instant_and_only_on_its_server() {
    // ann@h1 from 10:00, v EXITING at 12:00:00: her session is [10:00:00, 12:00:00]. bob@h2 (daemon
    // w) from 12:00:00 to 12:30: both hosts are active in second 12:00:00, ucch = 2.
    let log = lg(r#"
        | 0:00:00 (lmgrd) TIMESTAMP 3/14/2023
        |10:00:00 (v) OUT: F ann@h1
        |12:00:00 (v) EXITING
        |12:00:00 (w) OUT: G bob@h2
        |12:30:00 (w) IN: G bob@h2
    "#);
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-14"),
        vec![r("2023-03-14", 2, 2, 0, 2)]
    );
    // bob from 12:00:01 instead: never together, ucch = 1.
    let log = log.replace("12:00:00 (w) OUT", "12:00:01 (w) OUT");
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-14"),
        vec![r("2023-03-14", 2, 2, 0, 1)]
    );
    // Two servers, both with daemon v. Server 1's lmgrd EXITING ends all of server 1's sessions,
    // none of server 2's: cy (server 2) is still open at server 2's latest instant, 3/15 10:00,
    // while ann (server 1) is not. 3/15: {cy}, host h3.
    let s1 = lg(r#"
        | 0:00:00 (lmgrd) TIMESTAMP 3/14/2023
        |10:00:00 (v) OUT: F ann@h1
        |12:00:00 (lmgrd) EXITING DUE TO SIGNAL 15
        |10:00:00 (lmgrd) TIMESTAMP 3/15/2023
    "#);
    let s2 = lg(r#"
        | 0:00:00 (lmgrd) TIMESTAMP 3/14/2023
        |10:00:00 (v) OUT: F cy@h3
        |10:00:00 (lmgrd) TIMESTAMP 3/15/2023
    "#);
    assert_eq!(
        rep(&[&s1, &s2], default_opts(), M19, "2023-03-14", "2023-03-15"),
        vec![r("2023-03-14", 2, 2, 0, 2), r("2023-03-15", 2, 1, 0, 1)]
    );
}

// =============================================================================================
// 3: sessions.
// =============================================================================================

#[test]
fn checkin_closes_the_oldest_open_session_of_its_key() {
    // Same key (v, F, a, h1) opened at 10:00 (#1) and 12:00 (#2); the IN is written at 10:30 (a
    // step back within 3 h of T = 12:00: same day). FIFO closes #1: [10:00, 10:30]; #2 is open to
    // the latest instant 13:00. h1 is then idle from 10:30:01 to 11:59:59, while b@h2 and c@h3
    // overlap from 10:50 to 11:40: the peak is 2 hosts. (Closing #2 instead would leave #1 open
    // from 10:00 to 13:00, and the peak would be 3.) Users {a, b, c}.
    let log = lg(r#"
        | 0:00:00 (v) TIMESTAMP 3/14/2023
        |10:00:00 (v) OUT: F a@h1
        |12:00:00 (v) OUT: F a@h1
        |10:30:00 (v) IN: F a@h1
        |10:45:00 (v) OUT: F b@h2
        |10:50:00 (v) OUT: F c@h3
        |11:40:00 (v) IN: F c@h3
        |11:45:00 (v) IN: F b@h2
        |13:00:00 (v) x
    "#);
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-14"),
        vec![r("2023-03-14", 3, 3, 0, 2)]
    );
}

#[test]
fn checkin_must_match_the_whole_key() {
    // An IN of another feature (G), another host (h9) or another daemon (w) closes nothing: ann's
    // session (v, F, ann, h1) stays open to the latest instant (3/15 10:00) and ann counts on 3/15.
    // An unmatched IN still puts its user in used(d) (ann on 3/14 anyway) but opens nothing.
    for other in ["(v) IN: G ann@h1", "(v) IN: F ann@h9", "(w) IN: F ann@h1"] {
        let log = format!(
            "0:00:00 (v) TIMESTAMP 3/14/2023\n10:00:00 (v) OUT: F ann@h1\n11:00:00 {other}\n10:00:00 (v) TIMESTAMP 3/15/2023\n"
        );
        assert_eq!(
            rep(&[&log], default_opts(), M19, "2023-03-14", "2023-03-15"),
            vec![r("2023-03-14", 1, 1, 0, 1), r("2023-03-15", 1, 1, 0, 1)],
            "{other}"
        );
    }
    // The matching IN closes it at 11:00: nobody on 3/15.
    let log = "0:00:00 (v) TIMESTAMP 3/14/2023\n10:00:00 (v) OUT: F ann@h1\n11:00:00 (v) IN: F ann@h1\n10:00:00 (v) TIMESTAMP 3/15/2023\n";
    assert_eq!(
        rep(&[log], default_opts(), M19, "2023-03-14", "2023-03-15"),
        vec![r("2023-03-14", 1, 1, 0, 1), r("2023-03-15", 1, 0, 0, 0)]
    );
}

#[test]
fn unmatched_checkin_counts_the_user_but_no_host() {
    // An IN without an OUT: dan is used on 3/14 (a checkin line), no session, no host.
    let log = "0:00:00 (v) TIMESTAMP 3/14/2023\n10:00:00 (v) IN: F dan@h1\n";
    assert_eq!(
        rep_default(&[log], default_opts(), M19, "2023-03-14"),
        vec![r("2023-03-14", 1, 1, 0, 0)]
    );
    // A second IN for a key with one open session closes nothing more: ann's session is
    // [10:00, 11:00]; the IN at 12:00 matches nothing. bob@h2 from 11:30 to 12:30 never overlaps
    // her: ucch = 1.
    let log = lg(r#"
        | 0:00:00 (v) TIMESTAMP 3/14/2023
        |10:00:00 (v) OUT: F ann@h1
        |11:00:00 (v) IN: F ann@h1
        |11:30:00 (v) OUT: F bob@h2
        |12:00:00 (v) IN: F ann@h1
        |12:30:00 (v) IN: F bob@h2
    "#);
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-14"),
        vec![r("2023-03-14", 2, 2, 0, 1)]
    );
}

#[test]
fn open_sessions_last_to_the_latest_instant_of_their_server_only() {
    // Server 1: ann@h1 from 3/14 10:00, never closed; its last line is 3/15 9:00. Server 2: a
    // denial of zed on 3/17. ann counts on 3/14 and 3/15 (her session ends at server 1's latest
    // instant), NOT on 3/16-3/17 (server 2's later lines do not extend it).
    // uct: 3/14 {ann} 1, 3/15 1, 3/16 1, 3/17 {ann, zed} 2.
    let s1 = lg(r#"
        | 9:00:00 (v) TIMESTAMP 3/14/2023
        |10:00:00 (v) OUT: F ann@h1
        | 9:00:00 (v) TIMESTAMP 3/15/2023
    "#);
    let s2 = lg(r#"
        | 9:00:00 (v) TIMESTAMP 3/17/2023
        |10:00:00 (v) DENIED: F zed@h9
    "#);
    assert_eq!(
        rep(&[&s1, &s2], default_opts(), M19, "2023-03-14", "2023-03-17"),
        vec![
            r("2023-03-14", 1, 1, 0, 1),
            r("2023-03-15", 1, 1, 0, 1),
            r("2023-03-16", 1, 0, 0, 0),
            r("2023-03-17", 2, 1, 1, 0),
        ]
    );
    // The latest instant is over ALL files of the server: a second file of server 1 whose last
    // line is on 3/16 keeps ann's session open through 3/16.
    let f2 = lg(r#"
        | 9:00:00 (v) TIMESTAMP 3/16/2023
        | 9:30:00 (v) SHUTDOWN request from root at node h
    "#);
    let t = tally_chunks(
        &[
            vec![vec![s1.as_bytes()], vec![f2.as_bytes()]],
            vec![vec![s2.as_bytes()]],
        ],
        default_opts(),
    )
    .0;
    assert_eq!(
        rows_of(
            &t,
            M19,
            Some("2023-03-14"),
            Some("2023-03-17"),
            "2023-03-17"
        ),
        vec![
            r("2023-03-14", 1, 1, 0, 1),
            r("2023-03-15", 1, 1, 0, 1),
            r("2023-03-16", 1, 1, 0, 1),
            r("2023-03-17", 2, 1, 1, 0),
        ]
    );
}

#[test]
fn close_before_open_lasts_one_instant() {
    // ann's OUT at 10:00 and her IN written at 9:30 (the clock stepped back 30 min; same day).
    // The session is [10:00:00, 10:00:00].
    // (a) cy@h3 from 10:00:00 to 10:05: both h1 and h3 active in second 10:00:00 -> ucch 2.
    let log = lg(r#"
        | 0:00:00 (v) TIMESTAMP 3/14/2023
        |10:00:00 (v) OUT: F ann@h1
        | 9:30:00 (v) IN: F ann@h1
        |10:00:00 (v) OUT: F cy@h3
        |10:05:00 (v) IN: F cy@h3
    "#);
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-14"),
        vec![r("2023-03-14", 2, 2, 0, 2)]
    );
    // (b) bob@h2 from 9:40 to 9:50: ann's session does not reach back to 9:30 -> ucch 1.
    let log = lg(r#"
        | 0:00:00 (v) TIMESTAMP 3/14/2023
        |10:00:00 (v) OUT: F ann@h1
        | 9:30:00 (v) IN: F ann@h1
        | 9:40:00 (v) OUT: F bob@h2
        | 9:50:00 (v) IN: F bob@h2
    "#);
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-14"),
        vec![r("2023-03-14", 2, 2, 0, 1)]
    );
    // (c) dan@h4 from 10:30 to 10:40: ann's session is closed (it does not stay open to the
    // latest instant 10:40) -> ucch 1.
    let log = lg(r#"
        | 0:00:00 (v) TIMESTAMP 3/14/2023
        |10:00:00 (v) OUT: F ann@h1
        | 9:30:00 (v) IN: F ann@h1
        |10:30:00 (v) OUT: F dan@h4
        |10:40:00 (v) IN: F dan@h4
    "#);
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-14"),
        vec![r("2023-03-14", 2, 2, 0, 1)]
    );
}

#[test]
fn sessions_crossing_midnight_count_on_every_day() {
    // ann@h1 from 3/14 22:00 to 3/16 1:00 (she writes nothing on 3/15). bob's denial at 3/15
    // 12:00 keeps the dates moving. ann is used on 3/14, 3/15 and 3/16, h1 active each day.
    // 3/15: used {ann}, denied {bob}: ucdy 2, ucde 1, uct 2.
    let log = lg(r#"
        |21:00:00 (v) TIMESTAMP 3/14/2023
        |22:00:00 (v) OUT: F ann@h1
        | 2:00:00 (v) x
        |12:00:00 (v) DENIED: F bob@h2
        |20:00:00 (v) x
        | 1:00:00 (v) IN: F ann@h1
    "#);
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-16"),
        vec![
            r("2023-03-14", 1, 1, 0, 1),
            r("2023-03-15", 2, 2, 1, 1),
            r("2023-03-16", 2, 1, 0, 1)
        ]
    );
    // A session ended by a reset at exactly 0:00:00 touches that day (second 0:00:00 is
    // included): ann counts on 3/15 too, with host h1.
    let log = lg(r#"
        |21:00:00 (v) TIMESTAMP 3/14/2023
        |22:00:00 (v) OUT: F ann@h1
        | 0:00:00 (v) EXITING
    "#);
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-15"),
        vec![r("2023-03-14", 1, 1, 0, 1), r("2023-03-15", 1, 1, 0, 1)]
    );
}

#[test]
fn upgrade_counts_as_usage_without_a_session() {
    // An UPGRADE alone: used, no host (no session).
    let log = "0:00:00 (v) TIMESTAMP 3/14/2023\n10:00:00 (v) UPGRADE: F ann@h1  (5->6 licenses)\n12:00:00 (v) x\n";
    assert_eq!(
        rep_default(&[log], default_opts(), M19, "2023-03-14"),
        vec![r("2023-03-14", 1, 1, 0, 0)]
    );
    // OUT, UPGRADE, IN: the IN closes the OUT's session (the UPGRADE opened none), so nothing is
    // open at the last line on 3/15 and ann is not used on 3/15.
    let log = lg(r#"
        | 0:00:00 (v) TIMESTAMP 3/14/2023
        |10:00:00 (v) OUT: F ann@h1
        |10:30:00 (v) UPGRADE: F ann@h1  (1->2 licenses)
        |11:00:00 (v) IN: F ann@h1
        |10:00:00 (v) TIMESTAMP 3/15/2023
    "#);
    assert_eq!(
        rep(&[&log], default_opts(), M19, "2023-03-14", "2023-03-15"),
        vec![r("2023-03-14", 1, 1, 0, 1), r("2023-03-15", 1, 0, 0, 0)]
    );
}

#[test]
fn queue_events_count_nothing() {
    let log = lg(r#"
        | 0:00:00 (v) TIMESTAMP 3/14/2023
        |10:00:00 (v) QUEUED: F ann@h1
        |10:30:00 (v) DEQUEUED: F ann@h1
    "#);
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-14"),
        vec![]
    );
    assert_eq!(
        rep(&[&log], default_opts(), M19, "2023-03-14", "2023-03-14"),
        vec![r("2023-03-14", 0, 0, 0, 0)]
    );
}

#[test]
fn unsupported_is_a_denial_only_when_configured() {
    // zed's UNSUPPORTED on 3/14; ann's session on 3/15.
    let log = lg(r#"
        | 0:00:00 (v) TIMESTAMP 3/14/2023
        |10:00:00 (v) UNSUPPORTED: "F" (PORT_AT_HOST_PLUS   ) zed@h9  (License server system does not support this feature. (-18,327))
        |10:00:00 (v) TIMESTAMP 3/15/2023
        |10:00:00 (v) OUT: F ann@h1
        |11:00:00 (v) IN: F ann@h1
    "#);
    // Default: 3/14 has no data, so the default sd is 3/15: one row, {ann}.
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-15"),
        vec![r("2023-03-15", 1, 1, 0, 1)]
    );
    // Counted: sd = 3/14. 3/14: denied {zed}: (1, 1, 1, 0); 3/15: uct {zed, ann} = 2, ucdy 1.
    let o = with(|o| o.count_unsupported_as_denial = true);
    assert_eq!(
        rep_default(&[&log], o, M19, "2023-03-15"),
        vec![r("2023-03-14", 1, 1, 1, 0), r("2023-03-15", 2, 1, 0, 1)]
    );
    // Model 2013 with it counted: sd is still 3/14 (a denial is data); uct and ucdy use used only:
    // 3/14 (0, 0, 1, 0), 3/15 (1, 1, 0, 1).
    assert_eq!(
        rep_default(&[&log], o, M13, "2023-03-15"),
        vec![r("2023-03-14", 0, 0, 1, 0), r("2023-03-15", 1, 1, 0, 1)]
    );
}

// =============================================================================================
// 3: the merge of a server's files.
// =============================================================================================

#[test]
fn merge_order_decides_which_session_a_checkin_closes() {
    // One server, files f1 then f2, both sessions with key (v, F, a, h1).
    // f1: anchor 3/14 0:00, OUT #A at 10:00, last line 3/15 12:00.
    // f2: anchor 3/14 0:00, OUT #B at 9:00, b@h2 and c@h3 from 9:40 to 9:50, a line at 10:30, and
    //     the IN of a written at 9:30 (a step back: same day).
    // Stream merge (smallest next instant first, ties to f1): f1 0:00, f2 0:00, f2 9:00 (#B),
    // f2 9:40, 9:40, 9:50, 9:50; then heads f1 10:00 < f2 10:30: #A; then f2 10:30 < f1 3/15:
    // f2 10:30, f2 9:30 IN -> closes #B, the first opened: #B = [9:00, 9:30]. #A stays open
    // to the latest instant 3/15 12:00.
    // 3/14: h1 at 9:00-9:30 and 10:00-; h2 + h3 at 9:40-9:50 (h1 idle): peak 2. Users {a, b, c}.
    // 3/15: #A still open: {a}, h1.
    // (Reading f1 whole before f2 would open #A first and close it at 9:30 -> [10:00, 10:00],
    // leaving #B open from 9:00, and the peak on 3/14 would be 3.)
    let f1 = lg(r#"
        | 0:00:00 (v) TIMESTAMP 3/14/2023
        |10:00:00 (v) OUT: F a@h1
        |12:00:00 (v) TIMESTAMP 3/15/2023
    "#);
    let f2 = lg(r#"
        | 0:00:00 (v) TIMESTAMP 3/14/2023
        | 9:00:00 (v) OUT: F a@h1
        | 9:40:00 (v) OUT: F b@h2
        | 9:40:00 (v) OUT: F c@h3
        | 9:50:00 (v) IN: F b@h2
        | 9:50:00 (v) IN: F c@h3
        |10:30:00 (v) x
        | 9:30:00 (v) IN: F a@h1
    "#);
    let t = tally_files(&[f1.as_bytes(), f2.as_bytes()], default_opts());
    assert_eq!(
        rows_of(&t, M19, None, None, "2023-03-15"),
        vec![r("2023-03-14", 3, 3, 0, 2), r("2023-03-15", 3, 1, 0, 1)]
    );
    // Listing f2 first gives the same merge here (no ties between the files matter).
    let t = tally_files(&[f2.as_bytes(), f1.as_bytes()], default_opts());
    assert_eq!(
        rows_of(&t, M19, None, None, "2023-03-15"),
        vec![r("2023-03-14", 3, 3, 0, 2), r("2023-03-15", 3, 1, 0, 1)]
    );
}

#[test]
fn merge_ties_go_to_the_file_listed_first() {
    // f1 opens ann's session at 10:00:00; f2 has "v EXITING" at the same instant, then a line on
    // 3/15. Listed [f1, f2]: the OUT goes first and the reset ends it at once: [10:00, 10:00],
    // nothing on 3/15. Listed [f2, f1]: the reset goes first (ending nothing), the session stays
    // open to the latest instant 3/15 10:00, and ann counts on 3/15 with host h1.
    let f1 = "0:00:00 (v) TIMESTAMP 3/14/2023\n10:00:00 (v) OUT: F ann@h1\n";
    let f2 =
        "0:00:00 (v) TIMESTAMP 3/14/2023\n10:00:00 (v) EXITING\n10:00:00 (v) TIMESTAMP 3/15/2023\n";
    let t = tally_files(&[f1.as_bytes(), f2.as_bytes()], default_opts());
    assert_eq!(
        rows_of(
            &t,
            M19,
            Some("2023-03-14"),
            Some("2023-03-15"),
            "2023-03-15"
        ),
        vec![r("2023-03-14", 1, 1, 0, 1), r("2023-03-15", 1, 0, 0, 0)]
    );
    let t = tally_files(&[f2.as_bytes(), f1.as_bytes()], default_opts());
    assert_eq!(
        rows_of(
            &t,
            M19,
            Some("2023-03-14"),
            Some("2023-03-15"),
            "2023-03-15"
        ),
        vec![r("2023-03-14", 1, 1, 0, 1), r("2023-03-15", 1, 1, 0, 1)]
    );
}

#[test]
fn merge_never_reorders_a_file() {
    // f1: a line at 12:00, then ann's OUT written at 11:00 (a step back: 3/14 11:00). f2: "v
    // EXITING" at 11:30, then a line on 3/15 10:00.
    // Head by head: f1 0:00, f2 0:00; heads f1 12:00 / f2 11:30 -> the EXITING (nothing open yet);
    // f1 12:00; f1 11:00 OUT; f2 3/15 10:00. ann's session opens after the reset and stays open
    // to the latest instant 3/15 10:00: she counts on 3/15. (Sorting all lines by instant would
    // put her OUT before the EXITING and close it at 11:30.)
    let f1 = lg(r#"
        | 0:00:00 (v) TIMESTAMP 3/14/2023
        |12:00:00 (v) x
        |11:00:00 (v) OUT: F ann@h1
    "#);
    let f2 = lg(r#"
        | 0:00:00 (v) TIMESTAMP 3/14/2023
        |11:30:00 (v) EXITING
        |10:00:00 (v) TIMESTAMP 3/15/2023
    "#);
    for files in [
        [f1.as_bytes(), f2.as_bytes()],
        [f2.as_bytes(), f1.as_bytes()],
    ] {
        let t = tally_files(&files, default_opts());
        assert_eq!(
            rows_of(&t, M19, None, None, "2023-03-15"),
            vec![r("2023-03-14", 1, 1, 0, 1), r("2023-03-15", 1, 1, 0, 1)]
        );
    }
}

// =============================================================================================
// 4: the numbers.
// =============================================================================================

#[test]
fn used_and_denied_union() {
    // ann OUT/IN and DENIED, bob DENIED, on 3/14. used {ann}, denied {ann, bob}.
    // 2019: ucdy = |used ∪ denied| = 2, ucde 2, uct 2. 2013: ucdy = |used| = 1, uct 1, ucde 2.
    let log = lg(r#"
        | 0:00:00 (v) TIMESTAMP 3/14/2023
        |10:00:00 (v) OUT: F ann@h1
        |10:10:00 (v) IN: F ann@h1
        |10:20:00 (v) DENIED: F ann@h1  (Licensed number of users already reached. (-4,342))
        |10:30:00 (v) DENIED: F bob@h2  (Licensed number of users already reached. (-4,342))
    "#);
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-14"),
        vec![r("2023-03-14", 2, 2, 2, 1)]
    );
    assert_eq!(
        rep_default(&[&log], default_opts(), M13, "2023-03-14"),
        vec![r("2023-03-14", 1, 1, 2, 1)]
    );
}

#[test]
fn concurrent_hosts_count_hosts_not_sessions() {
    // Three sessions on h1 (two users, two features) and one on h2, all open 10:10-10:20: the
    // peak is 2 hosts, not 4 sessions.
    let log = lg(r#"
        | 0:00:00 (v) TIMESTAMP 3/14/2023
        |10:00:00 (v) OUT: F ann@h1
        |10:00:00 (v) OUT: G ann@h1
        |10:05:00 (v) OUT: F bob@h1
        |10:10:00 (v) OUT: F cy@h2
        |10:20:00 (v) IN: F ann@h1
        |10:20:00 (v) IN: G ann@h1
        |10:20:00 (v) IN: F bob@h1
        |10:20:00 (v) IN: F cy@h2
    "#);
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-14"),
        vec![r("2023-03-14", 3, 3, 0, 2)]
    );
}

#[test]
fn host_seconds_include_both_ends() {
    // ann@h1 [10:00:00, 10:00:05], bob@h2 from 10:00:05: both in second 10:00:05 -> 2. The IN of
    // ann is written after bob's OUT in one order and before it in the other: same result.
    for (first, second) in [
        ("10:00:05 (v) IN: F ann@h1", "10:00:05 (v) OUT: F bob@h2"),
        ("10:00:05 (v) OUT: F bob@h2", "10:00:05 (v) IN: F ann@h1"),
    ] {
        let log = format!("0:00:00 (v) TIMESTAMP 3/14/2023\n10:00:00 (v) OUT: F ann@h1\n{first}\n{second}\n10:00:09 (v) IN: F bob@h2\n");
        assert_eq!(
            rep_default(&[&log], default_opts(), M19, "2023-03-14"),
            vec![r("2023-03-14", 2, 2, 0, 2)]
        );
    }
    // bob from 10:00:06: never in the same second -> 1.
    let log = "0:00:00 (v) TIMESTAMP 3/14/2023\n10:00:00 (v) OUT: F ann@h1\n10:00:05 (v) IN: F ann@h1\n10:00:06 (v) OUT: F bob@h2\n10:00:09 (v) IN: F bob@h2\n";
    assert_eq!(
        rep_default(&[log], default_opts(), M19, "2023-03-14"),
        vec![r("2023-03-14", 2, 2, 0, 1)]
    );
    // A session that opens and closes in the same second still counts its host: ucch 1.
    let log =
        "0:00:00 (v) TIMESTAMP 3/14/2023\n10:00:00 (v) OUT: F ann@h1\n10:00:00 (v) IN: F ann@h1\n";
    assert_eq!(
        rep_default(&[log], default_opts(), M19, "2023-03-14"),
        vec![r("2023-03-14", 1, 1, 0, 1)]
    );
}

#[test]
fn sessions_without_host_are_not_concurrent_hosts() {
    // ann has no '@' (empty host), bob has an '@' and nothing after it: both used, no host.
    // cy@h3 at the same time: ucch 1.
    let log = lg(r#"
        | 0:00:00 (v) TIMESTAMP 3/14/2023
        |10:00:00 (v) OUT: F ann
        |10:00:00 (v) OUT: F bob@
        |10:00:00 (v) OUT: F cy@h3
        |11:00:00 (v) x
    "#);
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-14"),
        vec![r("2023-03-14", 3, 3, 0, 1)]
    );
}

#[test]
fn hosts_and_users_are_shared_across_servers() {
    // Server 1: ann@h1 10:00-11:00. Server 2 (another daemon name): ann@h1 and bob@h2 10:30-10:45.
    // All servers together: users {ann, bob} = 2; hosts at 10:30: {h1, h2} = 2 (h1 once).
    let s1 =
        "0:00:00 (v) TIMESTAMP 3/14/2023\n10:00:00 (v) OUT: F ann@h1\n11:00:00 (v) IN: F ann@h1\n";
    let s2 = lg(r#"
        | 0:00:00 (w) TIMESTAMP 3/14/2023
        |10:30:00 (w) OUT: G ann@h1
        |10:30:00 (w) OUT: G bob@h2
        |10:45:00 (w) IN: G ann@h1
        |10:45:00 (w) IN: G bob@h2
    "#);
    assert_eq!(
        rep_default(&[s1, &s2], default_opts(), M19, "2023-03-14"),
        vec![r("2023-03-14", 2, 2, 0, 2)]
    );
    // With bob on h1 as well: one host.
    let s2 = s2.replace("bob@h2", "bob@h1");
    assert_eq!(
        rep_default(&[s1, &s2], default_opts(), M19, "2023-03-14"),
        vec![r("2023-03-14", 2, 2, 0, 1)]
    );
}

#[test]
fn user_identity_user_or_user_at_host() {
    // Denials of ann@h1, ann@h2, ann (no host), bob@h1.
    // user: {ann, bob} = 2. user@host: {ann@h1, ann@h2, ann@, bob@h1} = 4.
    let log = lg(r#"
        | 0:00:00 (v) TIMESTAMP 3/14/2023
        |10:00:00 (v) DENIED: F ann@h1
        |10:00:00 (v) DENIED: F ann@h2
        |10:00:00 (v) DENIED: F ann
        |10:00:00 (v) DENIED: F bob@h1
    "#);
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-14"),
        vec![r("2023-03-14", 2, 2, 2, 0)]
    );
    let o = with(|o| o.user_identity = UserIdentity::UserAtHost);
    assert_eq!(
        rep_default(&[&log], o, M19, "2023-03-14"),
        vec![r("2023-03-14", 4, 4, 4, 0)]
    );
    // The last '@' splits: "a@b@c" and "a@b@d" are user "a@b" on hosts c and d: one user, two
    // user@host identities.
    let log = "0:00:00 (v) TIMESTAMP 3/14/2023\n10:00:00 (v) DENIED: F a@b@c\n10:00:00 (v) DENIED: F a@b@d\n";
    assert_eq!(
        rep_default(&[log], default_opts(), M19, "2023-03-14"),
        vec![r("2023-03-14", 1, 1, 1, 0)]
    );
    assert_eq!(
        rep_default(&[log], o, M19, "2023-03-14"),
        vec![r("2023-03-14", 2, 2, 2, 0)]
    );
}

#[test]
fn fold_case_identities_hosts_and_session_keys() {
    // Users UPM, upm, Upm on hosts PC1, pc1: without folding 3 users and 2 hosts (all open
    // together 10:00-10:30); folded: 1 user, 1 host.
    let log = lg(r#"
        | 0:00:00 (v) TIMESTAMP 3/14/2023
        |10:00:00 (v) OUT: F UPM@PC1
        |10:00:00 (v) OUT: F upm@pc1
        |10:00:00 (v) OUT: F Upm@pc1
        |10:30:00 (v) IN: F UPM@PC1
        |10:30:00 (v) IN: F upm@pc1
        |10:30:00 (v) IN: F Upm@pc1
    "#);
    let fold = with(|o| o.fold_case = true);
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-14"),
        vec![r("2023-03-14", 3, 3, 0, 2)]
    );
    assert_eq!(
        rep_default(&[&log], fold, M19, "2023-03-14"),
        vec![r("2023-03-14", 1, 1, 0, 1)]
    );
    // Session keys are folded too: OUT by Bob@PC1, IN by bob@pc1. Folded, the IN closes the
    // session (nothing on 3/15); not folded, it does not: Bob is still open on 3/15 (and bob
    // counts as a second user on 3/14).
    let log = lg(r#"
        | 0:00:00 (v) TIMESTAMP 3/14/2023
        |10:00:00 (v) OUT: F Bob@PC1
        |11:00:00 (v) IN: F bob@pc1
        |10:00:00 (v) TIMESTAMP 3/15/2023
    "#);
    assert_eq!(
        rep(&[&log], fold, M19, "2023-03-14", "2023-03-15"),
        vec![r("2023-03-14", 1, 1, 0, 1), r("2023-03-15", 1, 0, 0, 0)]
    );
    assert_eq!(
        rep(&[&log], default_opts(), M19, "2023-03-14", "2023-03-15"),
        vec![r("2023-03-14", 2, 2, 0, 1), r("2023-03-15", 2, 1, 0, 1)]
    );
    // Features are never folded: OUT of "F", IN of "f" do not match even when folding.
    let log = log.replace("IN: F bob@pc1", "IN: f bob@pc1");
    assert_eq!(
        rep(&[&log], fold, M19, "2023-03-14", "2023-03-15"),
        vec![r("2023-03-14", 1, 1, 0, 1), r("2023-03-15", 1, 1, 0, 1)]
    );
}

#[test]
fn fold_case_is_full_unicode() {
    // JOSÉ GRAÑA / josé graña / José Graña: one identity folded, three not. Greek capital
    // ΟΔΥΣΣΕΥΣ lower-cases (Rust's str::to_lowercase, final-sigma rule) to οδυσσευς, the same as
    // the lower-case spelling; οδυσσευσ (with a non-final σ at the end) stays a different name.
    // Folded: {josé graña, οδυσσευς, οδυσσευσ} = 3. Not folded: 6.
    let log = lg(r#"
        | 0:00:00 (v) TIMESTAMP 3/14/2023
        |10:00:00 (v) DENIED: F JOSÉ GRAÑA@Plasmon
        |10:00:00 (v) DENIED: F josé graña@Plasmon
        |10:00:00 (v) DENIED: F José Graña@Plasmon
        |10:00:00 (v) DENIED: F ΟΔΥΣΣΕΥΣ@h
        |10:00:00 (v) DENIED: F οδυσσευς@h
        |10:00:00 (v) DENIED: F οδυσσευσ@h
    "#);
    let fold = with(|o| o.fold_case = true);
    assert_eq!(
        rep_default(&[&log], fold, M19, "2023-03-14"),
        vec![r("2023-03-14", 3, 3, 3, 0)]
    );
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-14"),
        vec![r("2023-03-14", 6, 6, 6, 0)]
    );
    // Hosts fold with Unicode too: sessions on "PORTÁTIL" and "portátil" at once are 1 host.
    let log = lg(r#"
        | 0:00:00 (v) TIMESTAMP 3/14/2023
        |10:00:00 (v) OUT: F a@PORTÁTIL
        |10:00:00 (v) OUT: F b@portátil
        |10:10:00 (v) x
    "#);
    assert_eq!(
        rep_default(&[&log], fold, M19, "2023-03-14"),
        vec![r("2023-03-14", 2, 2, 0, 1)]
    );
    assert_eq!(
        rep_default(&[&log], default_opts(), M19, "2023-03-14"),
        vec![r("2023-03-14", 2, 2, 0, 2)]
    );
}

#[test]
fn model_2019_total_is_over_the_whole_history() {
    // x denied on 3/10, ann used on 3/14. Rows asked for 3/14..3/14 only: uct counts x (history
    // before sd): 2. ucdy 1.
    let log = lg(r#"
        | 9:00:00 (v) TIMESTAMP 3/10/2023
        |10:00:00 (v) DENIED: F x@h
        | 9:00:00 (v) TIMESTAMP 3/14/2023
        |10:00:00 (v) OUT: F ann@h1
        |10:30:00 (v) IN: F ann@h1
    "#);
    assert_eq!(
        rep(&[&log], default_opts(), M19, "2023-03-14", "2023-03-14"),
        vec![r("2023-03-14", 2, 1, 0, 1)]
    );
    // A range before any data: zeros everywhere, uct 0. A range between: uct carries x.
    assert_eq!(
        rep(&[&log], default_opts(), M19, "2023-03-08", "2023-03-09"),
        vec![r("2023-03-08", 0, 0, 0, 0), r("2023-03-09", 0, 0, 0, 0)]
    );
    assert_eq!(
        rep(&[&log], default_opts(), M19, "2023-03-12", "2023-03-12"),
        vec![r("2023-03-12", 1, 0, 0, 0)]
    );
    // Data after ed does not count: uct on 3/13 is 1 (ann's 3/14 not included).
    assert_eq!(
        rep(&[&log], default_opts(), M19, "2023-03-13", "2023-03-13"),
        vec![r("2023-03-13", 1, 0, 0, 0)]
    );
}

#[test]
fn model_2013_total_is_a_14_day_window_of_used() {
    // x used on 3/1, ann used on 3/14, zed denied on 3/14 (never in 2013's uct or ucdy).
    // 3/14: window 3/1..3/14 = {x, ann} -> 2; ucdy |used| = 1; ucde 1.
    // 3/15: window 3/2..3/15 = {ann} -> 1 (x has left the window).
    // 3/28: window 3/15..3/28 = {} -> 0; 3/27: window 3/14..3/27 -> {ann} 1.
    let log = lg(r#"
        | 9:00:00 (v) TIMESTAMP 3/1/2023
        |10:00:00 (v) UPGRADE: F x@h
        | 9:00:00 (v) TIMESTAMP 3/14/2023
        |10:00:00 (v) UPGRADE: F ann@h1
        |10:00:00 (v) DENIED: F zed@h1
    "#);
    assert_eq!(
        rep(&[&log], default_opts(), M13, "2023-03-14", "2023-03-15"),
        vec![r("2023-03-14", 2, 1, 1, 0), r("2023-03-15", 1, 0, 0, 0)]
    );
    assert_eq!(
        rep(&[&log], default_opts(), M13, "2023-03-27", "2023-03-28"),
        vec![r("2023-03-27", 1, 0, 0, 0), r("2023-03-28", 0, 0, 0, 0)]
    );
    // 2019 on the same log: 3/14 uct {x, ann, zed} = 3, ucdy {ann, zed} = 2.
    assert_eq!(
        rep(&[&log], default_opts(), M19, "2023-03-14", "2023-03-14"),
        vec![r("2023-03-14", 3, 2, 1, 0)]
    );
}

#[test]
fn rows_for_days_without_data_and_defaults() {
    // Data on 3/12 (ann) and 3/14 (bob); the log also has an anchor-only day 3/10 (not data).
    // Default sd = 3/12; ed = today = 3/16. 3/13, 3/15, 3/16 are zero rows with uct carried.
    let log = lg(r#"
        | 9:00:00 (v) TIMESTAMP 3/10/2023
        | 9:00:00 (v) TIMESTAMP 3/12/2023
        |10:00:00 (v) DENIED: F ann@h
        | 9:00:00 (v) TIMESTAMP 3/14/2023
        |10:00:00 (v) DENIED: F bob@h
    "#);
    let t = tally_logs(&[&log], default_opts());
    assert_eq!(
        rows_of(&t, M19, None, None, "2023-03-16"),
        vec![
            r("2023-03-12", 1, 1, 1, 0),
            r("2023-03-13", 1, 0, 0, 0),
            r("2023-03-14", 2, 1, 1, 0),
            r("2023-03-15", 2, 0, 0, 0),
            r("2023-03-16", 2, 0, 0, 0),
        ]
    );
    // Given ed, default sd; given sd, default ed (= today).
    assert_eq!(
        rows_of(&t, M19, None, Some("2023-03-12"), "2023-03-16"),
        vec![r("2023-03-12", 1, 1, 1, 0)]
    );
    assert_eq!(
        rows_of(&t, M19, Some("2023-03-15"), None, "2023-03-16"),
        vec![r("2023-03-15", 2, 0, 0, 0), r("2023-03-16", 2, 0, 0, 0)]
    );
    // sd after ed is an error, given or default.
    assert_eq!(
        try_rows(
            &t,
            M19,
            Some("2023-03-15"),
            Some("2023-03-14"),
            "2023-03-16"
        ),
        Err(RangeError::SdAfterEd {
            sd: day("2023-03-15"),
            ed: day("2023-03-14"),
            sd_given: true
        })
    );
    assert_eq!(
        try_rows(&t, M19, None, Some("2023-03-11"), "2023-03-16"),
        Err(RangeError::SdAfterEd {
            sd: day("2023-03-12"),
            ed: day("2023-03-11"),
            sd_given: false
        })
    );
    assert!(try_rows(&t, M19, None, None, "2023-03-11").is_err());
    // sd = ed: one row.
    assert_eq!(
        rows_of(
            &t,
            M19,
            Some("2023-03-14"),
            Some("2023-03-14"),
            "2023-03-16"
        ),
        vec![r("2023-03-14", 2, 1, 1, 0)]
    );
}

#[test]
fn no_data_means_no_rows_unless_sd_is_given() {
    // Only anchors and other lines: no usage, no denial.
    let log = "9:00:00 (v) TIMESTAMP 3/14/2023\n10:00:00 (v) x\n";
    let t = tally_logs(&[log], default_opts());
    assert_eq!(rows_of(&t, M19, None, None, "2023-03-16"), vec![]);
    assert_eq!(
        rows_of(&t, M13, None, Some("2023-03-16"), "2023-03-16"),
        vec![]
    );
    // An empty log, too.
    assert_eq!(
        rows_of(
            &tally_logs(&[""], default_opts()),
            M19,
            None,
            None,
            "2023-03-16"
        ),
        vec![]
    );
    // With sd: zero rows of zeros.
    assert_eq!(
        rows_of(&t, M19, Some("2023-03-15"), None, "2023-03-16"),
        vec![r("2023-03-15", 0, 0, 0, 0), r("2023-03-16", 0, 0, 0, 0)]
    );
}

#[test]
fn default_sd_counts_open_sessions_and_checkins() {
    // The earliest day with any usage: a session opened on 3/13 (its OUT) counts on 3/13, even
    // when the rows are asked without sd and the session is still open.
    let log = "23:00:00 (v) TIMESTAMP 3/13/2023\n23:30:00 (v) OUT: F ann@h1\n1:00:00 (v) x\n";
    assert_eq!(
        rep_default(&[log], default_opts(), M19, "2023-03-14"),
        vec![r("2023-03-13", 1, 1, 0, 1), r("2023-03-14", 1, 1, 0, 1)]
    );
}

/// A session left open for weeks: its whole days are one run in the snapshot (not a value per
/// day), and a day with data inside the run combines both. Worked by hand:
/// a@h1 opens 03-01 09:00 and stays open to the server's latest instant, 03-20 09:00.
/// - 03-01: used {a, b}; h1 from 09:00, h2 09:30-10:00 overlap → ucch 2.
/// - 03-02..03-04 and 03-06..03-19: only a, h1 all day → ucdy 1, ucch 1.
/// - 03-05: used {a, c, d}; h1 all day (c also on h1: still one host), h3 12:30-14:00 → ucch 2.
/// - 03-20: a until 09:00 → ucdy 1, ucch 1; 03-21: nothing.
///
/// 2019 uct: {a,b} → 2, from 03-05 {a,b,c,d} → 4. 2013 uct (14 days d-13..d): 2 until 03-04;
/// 4 from 03-05 to 03-14 (window still holds 03-01's b); 3 from 03-15 (b gone) to 03-18;
/// 1 from 03-19 (window 03-06..03-19 holds only a).
#[test]
fn long_open_session_is_a_run_of_whole_days() {
    let log = " 8:00:00 (lmgrd) TIMESTAMP 3/1/2023
 9:00:00 (v) OUT: \"F\" a@h1
 9:30:00 (v) OUT: \"F\" b@h2
10:00:00 (v) IN: \"F\" b@h2
 8:00:00 (lmgrd) TIMESTAMP 3/5/2023
12:00:00 (v) OUT: \"F\" c@h1
12:30:00 (v) OUT: \"F\" d@h3
13:00:00 (v) IN: \"F\" c@h1
14:00:00 (v) IN: \"F\" d@h3
 8:00:00 (lmgrd) TIMESTAMP 3/20/2023
 9:00:00 (v) x
";
    let t = tally_logs(&[log], Options::default());
    let r19 = tuples(&crate::common::rows(
        &t,
        Model::M2019,
        "2023-03-01",
        "2023-03-21",
    ));
    let r13 = tuples(&crate::common::rows(
        &t,
        Model::M2013,
        "2023-03-01",
        "2023-03-21",
    ));
    let get =
        |r: &[(String, u64, u64, u64, u64)], d: &str| r.iter().find(|x| x.0 == d).cloned().unwrap();
    let d = |s: &str| s.to_string();
    assert_eq!(get(&r19, "2023-03-01"), (d("2023-03-01"), 2, 2, 0, 2));
    assert_eq!(get(&r19, "2023-03-03"), (d("2023-03-03"), 2, 1, 0, 1));
    assert_eq!(get(&r19, "2023-03-05"), (d("2023-03-05"), 4, 3, 0, 2));
    assert_eq!(get(&r19, "2023-03-12"), (d("2023-03-12"), 4, 1, 0, 1));
    assert_eq!(get(&r19, "2023-03-20"), (d("2023-03-20"), 4, 1, 0, 1));
    assert_eq!(get(&r19, "2023-03-21"), (d("2023-03-21"), 4, 0, 0, 0));
    let uct13: Vec<u64> = r13.iter().map(|x| x.1).collect();
    let mut want = vec![2; 4];
    want.extend([4; 10]);
    want.extend([3; 4]);
    want.extend([1; 3]);
    assert_eq!(uct13, want);
    // The same session over millennia costs nothing per day: only the asked days are rows.
    let wide = "0001-01-01T00:00:00 (v) OUT: F a@h\n9999-12-31T00:00:00 (v) x\n";
    let t = tally_logs(&[wide], Options::default());
    assert_eq!(
        tuples(&crate::common::rows(
            &t,
            Model::M2019,
            "2022-12-31",
            "2023-01-01"
        )),
        vec![(d("2022-12-31"), 1, 1, 0, 1), (d("2023-01-01"), 1, 1, 0, 1)]
    );
}
