//! Line-level tests of the contract's sections 1, 2.1, 2.2, 2.3 and 2.5: what one line parses to.
//!
//! Every expectation here is read off the contract text (shared/spec/realtime-users-count.md);
//! the comment on each test names the rule.

use lmtally_parsers::date::{from_ymd, Day};
use lmtally_parsers::line::MAX_LINE;
use lmtally_parsers::{parse_line, Framed, Framer, Msg, ResetScope, UsageKind};

fn ymd(y: i64, m: u32, d: u32) -> Day {
    from_ymd(y, m, d).unwrap()
}

fn hms(h: u32, m: u32, s: u32) -> u32 {
    h * 3600 + m * 60 + s
}

/// (kind, feature, user, host) of a usage line, as strings; panics when it is not one.
fn usage(line: &str) -> (UsageKind, String, String, String) {
    usage_bytes(line.as_bytes())
}

fn usage_bytes(line: &[u8]) -> (UsageKind, String, String, String) {
    let l = parse_line(line)
        .unwrap_or_else(|| panic!("no envelope: {:?}", String::from_utf8_lossy(line)));
    match l.msg {
        Msg::Usage {
            kind,
            feature,
            user,
            host,
        } => (
            kind,
            String::from_utf8_lossy(feature).into_owned(),
            String::from_utf8_lossy(user).into_owned(),
            String::from_utf8_lossy(host).into_owned(),
        ),
        other => panic!(
            "not a usage line: {other:?} in {:?}",
            String::from_utf8_lossy(line)
        ),
    }
}

fn u(kind: UsageKind, f: &str, user: &str, host: &str) -> (UsageKind, String, String, String) {
    (kind, f.into(), user.into(), host.into())
}

fn msg(line: &str) -> Msg<'_> {
    parse_line(line.as_bytes()).expect("an enveloped line").msg
}

fn anchor(line: &str) -> Option<Day> {
    parse_line(line.as_bytes())
        .expect("an enveloped line")
        .anchor
}

// ---------------------------------------------------------------------------------------------
// 2.2: the eight example lines of the contract, with the two trailing blanks real lines have.
// ---------------------------------------------------------------------------------------------

#[test]
fn spec_example_lines_parse() {
    use UsageKind::*;
    let cases: [(&str, _); 8] = [
        (
            "10:25:38 (MLM) OUT: \"MATLAB\" alu-escuela@LIBRE-04  ",
            u(Out, "MATLAB", "alu-escuela", "LIBRE-04"),
        ),
        (
            // Field ends at the two blanks before "(8 licenses)".
            " 9:49:51 (ansyslmd) OUT: \"hfsshpc\" caixz@nyx7005.arc-ts.umich.edu  (8 licenses)  ",
            u(Out, "hfsshpc", "caixz", "nyx7005.arc-ts.umich.edu"),
        ),
        (
            // Field ends at " [".
            "12:34:29 (MSC) OUT: \"CAMPUS\" user_02@machine_05 [CAMPUS:NA_Parallel] (200 licenses)  ",
            u(Out, "CAMPUS", "user_02", "machine_05"),
        ),
        (
            "11:02:14 (adskflex) IN: \"64300ACD_F\" USER07@COMPUTER04  (INACTIVE)  ",
            u(In, "64300ACD_F", "USER07", "COMPUTER04"),
        ),
        (
            // A single space inside the user name is kept; non-ASCII kept.
            " 8:10:02 (MLM) OUT: \"MATLAB\" José Juan Galera@Plasmon  ",
            u(Out, "MATLAB", "José Juan Galera", "Plasmon"),
        ),
        (
            "11:53:14 (parteklm) DENIED: \"base\" xis@NCI-01987186  (Licensed number of users already reached. (-4,342))  ",
            u(Denied, "base", "xis", "NCI-01987186"),
        ),
        (
            // Unquoted feature: the token up to the next blank.
            "14:46:39 (telelogic) DENIED: DOORS indkach@indkach  [telelogic] (Licensed number of users already reached. (-4,342:10054 ))  ",
            u(Denied, "DOORS", "indkach", "indkach"),
        ),
        (
            // The parenthesised group after the feature is skipped.
            "14:21:37 (parteklm) UNSUPPORTED: \"pathway_base\" (PORT_AT_HOST_PLUS   ) kumara@FR-N-S080242  (License server system does not support this feature. (-18,327))  ",
            u(Unsupported, "pathway_base", "kumara", "FR-N-S080242"),
        ),
    ];
    for (line, want) in cases {
        assert_eq!(usage(line), want, "{line}");
    }
    // The times and daemons of two of them.
    let l = parse_line(
        b" 9:49:51 (ansyslmd) OUT: \"hfsshpc\" caixz@nyx7005.arc-ts.umich.edu  (8 licenses)  ",
    )
    .unwrap();
    assert_eq!(
        (l.time, l.daemon, l.anchor),
        (hms(9, 49, 51), &b"ansyslmd"[..], None)
    );
    let l = parse_line(b"14:21:37 (parteklm) UNSUPPORTED: \"x\" u@h").unwrap();
    assert_eq!((l.time, l.daemon), (hms(14, 21, 37), &b"parteklm"[..]));
}

#[test]
fn every_usage_keyword() {
    use UsageKind::*;
    for (kw, kind) in [
        ("OUT:", Out),
        ("IN:", In),
        ("DENIED:", Denied),
        ("UNSUPPORTED:", Unsupported),
        ("QUEUED:", Queued),
        ("DEQUEUED:", Dequeued),
        ("UPGRADE:", Upgrade),
    ] {
        let line = format!("10:00:00 (v) {kw} \"F\" a@b");
        assert_eq!(usage(&line), u(kind, "F", "a", "b"), "{line}");
    }
    // Keywords are case-sensitive, and must be at the start of the message.
    assert_eq!(msg("10:00:00 (v) out: \"F\" a@b"), Msg::Other);
    assert_eq!(msg("10:00:00 (v) Out: \"F\" a@b"), Msg::Other);
    assert_eq!(msg("10:00:00 (v) x OUT: \"F\" a@b"), Msg::Other);
    assert_eq!(msg("10:00:00 (v) OUT \"F\" a@b"), Msg::Other);
    // UPGRADE writes "(5->6 licenses)" after the field.
    assert_eq!(
        usage("10:00:00 (parteklm) UPGRADE: \"flow_base\" flow@P-HIRNPFLOW  (5->6 licenses)"),
        u(Upgrade, "flow_base", "flow", "P-HIRNPFLOW")
    );
}

// ---------------------------------------------------------------------------------------------
// 2.2: the user@host field: terminators, last-@ split, OBF markers.
// ---------------------------------------------------------------------------------------------

#[test]
fn field_terminators() {
    use UsageKind::Out;
    let o = |f: &str| usage(&format!("10:00:00 (v) OUT: \"F\" {f}"));
    // End of line.
    assert_eq!(o("a b@h"), u(Out, "F", "a b", "h"));
    // Two blanks in a row, in any combination of space and tab.
    assert_eq!(o("a b@h  rest"), u(Out, "F", "a b", "h"));
    assert_eq!(o("a b@h\t\trest"), u(Out, "F", "a b", "h"));
    assert_eq!(o("a b@h \trest"), u(Out, "F", "a b", "h"));
    assert_eq!(o("a b@h\t rest"), u(Out, "F", "a b", "h"));
    // " [", " (" and " ^^^".
    assert_eq!(o("a b@h [data]"), u(Out, "F", "a b", "h"));
    assert_eq!(o("a b@h (3 licenses)"), u(Out, "F", "a b", "h"));
    assert_eq!(o("a b@h ^^^ verbose ^^^"), u(Out, "F", "a b", "h"));
    // Not terminators: a single space before other text, " ^^" (two carets), "[" or "(" without
    // a space before them, and a single tab (it is one blank).
    assert_eq!(o("a b@h x"), u(Out, "F", "a b", "h x"));
    assert_eq!(o("a b@h ^^x"), u(Out, "F", "a b", "h ^^x"));
    assert_eq!(o("a b@h[x]"), u(Out, "F", "a b", "h[x]"));
    assert_eq!(o("a(b)@h"), u(Out, "F", "a(b)", "h"));
    assert_eq!(o("a\tb@h"), u(Out, "F", "a\tb", "h"));
    // The terminators are looked for from the start of the field, so one inside the user name
    // ends the field there (what FlexLM would have written is ambiguous; the contract is not).
    assert_eq!(o("a  b@h"), u(Out, "F", "a", ""));
    assert_eq!(o("a [b]@h"), u(Out, "F", "a", ""));
}

#[test]
fn last_at_split_and_no_host() {
    use UsageKind::*;
    // Split at the LAST '@'.
    assert_eq!(usage("10:00:00 (v) OUT: F a@b@c"), u(Out, "F", "a@b", "c"));
    assert_eq!(usage("10:00:00 (v) OUT: F x@@h"), u(Out, "F", "x@", "h"));
    // No '@': a user with an empty host.
    assert_eq!(
        usage("10:00:00 (v) OUT: F lonely  (1 licenses)"),
        u(Out, "F", "lonely", "")
    );
    // '@' at the end: empty host.
    assert_eq!(usage("10:00:00 (v) IN: F user@"), u(In, "F", "user", ""));
    // '$', dots and truncation-looking names are ordinary characters.
    assert_eq!(
        usage("10:00:00 (MLM) OUT: \"MATLAB\" luismiguel.ibanez$@CC39  "),
        u(Out, "MATLAB", "luismiguel.ibanez$", "CC39")
    );
}

#[test]
fn obf_markers_are_removed() {
    use UsageKind::*;
    assert_eq!(
        usage("10:00:00 (v) OUT: F OBF_STRT: bob :END_OBF@h1  "),
        u(Out, "F", "bob", "h1")
    );
    // Each marker alone is removed too.
    assert_eq!(
        usage("10:00:00 (v) OUT: F OBF_STRT: bob@h1"),
        u(Out, "F", "bob", "h1")
    );
    assert_eq!(
        usage("10:00:00 (v) OUT: F bob :END_OBF@h1"),
        u(Out, "F", "bob", "h1")
    );
    // Without its space the marker is part of the name.
    assert_eq!(
        usage("10:00:00 (v) OUT: F OBF_STRT:bob@h1"),
        u(Out, "F", "OBF_STRT:bob", "h1")
    );
    // Nothing left after removing the marker: an empty user, malformed.
    assert_eq!(
        msg("10:00:00 (v) OUT: F OBF_STRT: @h1"),
        Msg::Malformed(Out)
    );
    // (A user that is nothing but both markers would contain two blanks in a row, which end the
    // field after "OBF_STRT:": the user is then "OBF_STRT:".)
    assert_eq!(
        usage("10:00:00 (v) OUT: F OBF_STRT:  :END_OBF@h1"),
        u(Out, "F", "OBF_STRT:", "")
    );
}

#[test]
fn feature_forms() {
    use UsageKind::*;
    // A quoted feature may contain blanks; no blanks are needed after the keyword or feature.
    assert_eq!(
        usage("10:00:00 (v) OUT: \"A B\" u@h"),
        u(Out, "A B", "u", "h")
    );
    assert_eq!(usage("10:00:00 (v) OUT:\"F\"u@h"), u(Out, "F", "u", "h"));
    // Several blanks after the keyword and after the feature.
    assert_eq!(
        usage("10:00:00 (v) OUT: \t \"F\" \t u@h"),
        u(Out, "F", "u", "h")
    );
    // A group after an unquoted feature, nested parentheses, and a hex signature.
    assert_eq!(
        usage("10:00:00 (adskflex) UNSUPPORTED: \"64300ACD_F\" (00B0 EF6E AFC6 B280 ) upm@upm00250  (No such feature exists. (-5,346))  "),
        u(Unsupported, "64300ACD_F", "upm", "upm00250")
    );
    assert_eq!(
        usage("10:00:00 (v) DENIED: F (a (b) c) u@h"),
        u(Denied, "F", "u", "h")
    );
    // Only ONE group is skipped: a second one is the start of the field (and " (" does not end
    // a field at its start, because the field starts after the blanks).
    assert_eq!(
        usage("10:00:00 (v) DENIED: F (a) (b) u@h"),
        u(Denied, "F", "(b) u", "h")
    );
}

// ---------------------------------------------------------------------------------------------
// 2.2: malformed usage lines: they are enveloped (take part in dating) but count nothing.
// ---------------------------------------------------------------------------------------------

#[test]
fn malformed_usage_lines() {
    use UsageKind::*;
    let cases = [
        // Empty user: field "@host".
        ("10:00:00 (v) OUT: \"F\" @host", Out),
        // Empty field (nothing after the feature), and nothing after the keyword.
        ("10:00:00 (v) IN: \"F\"", In),
        ("10:00:00 (v) OUT:", Out),
        // Only a (skipped) group after the feature: an empty field.
        ("10:00:00 (v) DENIED: \"F\"   (reason)", Denied),
        // Unclosed feature quote.
        ("10:00:00 (v) OUT: \"MATLAB alu@LIBRE-04", Out),
        // Unclosed parenthesised group.
        (
            "10:00:00 (v) UNSUPPORTED: \"F\" (PORT_AT_HOST_PLUS u@h",
            Unsupported,
        ),
        ("10:00:00 (v) UNSUPPORTED: \"F\" (a (b) u@h", Unsupported),
        ("10:00:00 (v) QUEUED: \"F\" @h", Queued),
    ];
    for (line, kind) in cases {
        let l = parse_line(line.as_bytes()).expect(line);
        assert_eq!(l.msg, Msg::Malformed(kind), "{line}");
        assert_eq!(l.time, hms(10, 0, 0));
    }
}

// ---------------------------------------------------------------------------------------------
// 1 and 2.1: framing-level trimming, the envelope, and skipped lines.
// ---------------------------------------------------------------------------------------------

#[test]
fn crlf_and_trailing_blanks_are_trimmed() {
    use UsageKind::*;
    assert_eq!(usage("10:00:00 (v) OUT: F u@h\r"), u(Out, "F", "u", "h"));
    assert_eq!(usage("10:00:00 (v) OUT: F u@h  \r"), u(Out, "F", "u", "h"));
    assert_eq!(
        usage("10:00:00 (v) OUT: F u@h \t \t"),
        u(Out, "F", "u", "h")
    );
    // Only ONE '\r' is removed: a second one stays in the host.
    assert_eq!(
        usage("10:00:00 (v) OUT: F u@h\r\r"),
        u(Out, "F", "u", "h\r")
    );
    // A '\r' before the blanks is not removed (the '\r' goes first, then the blanks).
    assert_eq!(usage("10:00:00 (v) OUT: F u@h\r "), u(Out, "F", "u", "h\r"));
}

#[test]
fn envelope_forms() {
    // One- and two-digit hours, leading blanks, a leading zero.
    for (line, t) in [
        (" 8:42:25 (adskflex) x", hms(8, 42, 25)),
        ("08:42:25 (adskflex_pluggin) x", hms(8, 42, 25)),
        ("8:42:25 (d) x", hms(8, 42, 25)),
        ("\t 0:00:00 (d) x", 0),
        ("23:59:59 (d) x", hms(23, 59, 59)),
    ] {
        assert_eq!(
            parse_line(line.as_bytes()).map(|l| l.time),
            Some(t),
            "{line}"
        );
    }
    // Zero blanks after ')' and an empty message are fine.
    let l = parse_line(b"10:00:00 (MLM)OUT: F u@h").unwrap();
    assert!(matches!(l.msg, Msg::Usage { .. }));
    let l = parse_line(b"10:00:00 (lmgrd) ").unwrap();
    assert_eq!((l.daemon, l.msg), (&b"lmgrd"[..], Msg::Other));
    // A daemon may contain '(' (only blanks and ')' are excluded).
    assert_eq!(parse_line(b"10:00:00 (a(b) x").unwrap().daemon, b"a(b");
    // Not an envelope: skipped.
    for line in [
        "",
        "   ",
        "24:00:00 (d) x",
        "10:60:00 (d) x",
        "10:00:60 (d) x",
        "100:00:00 (d) x",
        "10:0:00 (d) x",
        "10:00:00(d) x",
        "10:00:00  (d) x",
        "10:00:00 () x",
        "10:00:00 (a b) x",
        "10:00:00 (d x",
        "10:00:00 d x",
        "\tServing features for the following vendor names:",
        "Shut down FlexNet MLM license server system on machine flexlm01",
        "١٠:00:00 (d) x",
    ] {
        assert_eq!(parse_line(line.as_bytes()), None, "{line:?}");
    }
}

#[test]
fn overlong_lines_are_skipped() {
    // parse_line refuses more than MAX_LINE bytes (the length before trimming).
    let mut line = b"10:00:00 (v) OUT: F u@h".to_vec();
    line.resize(MAX_LINE, b' ');
    assert!(matches!(parse_line(&line).unwrap().msg, Msg::Usage { .. }));
    line.push(b' ');
    assert_eq!(parse_line(&line), None);
    // The framer flags a line of MAX_LINE + 1 bytes as too long, whatever the chunking.
    let mut input = line.clone();
    input.extend_from_slice(b"\n10:00:01 (v) x\n");
    for size in [1, 7, 4096, input.len()] {
        let mut fr = Framer::new();
        let mut out = Vec::new();
        for c in input.chunks(size) {
            fr.feed(c, &mut |f| {
                out.push(match f {
                    Framed::Line(l) => Some(l.to_vec()),
                    Framed::TooLong => None,
                })
            });
        }
        assert_eq!(
            out,
            vec![None, Some(b"10:00:01 (v) x".to_vec())],
            "chunks of {size}"
        );
    }
}

#[test]
fn invalid_utf8_is_kept_as_bytes() {
    // The parser works on bytes: an invalid sequence in the user stays as it is (the core decodes
    // it lossily, one U+FFFD per maximal invalid sequence).
    let (_, _, user, host) = usage_bytes(b"10:00:00 (MLM) OUT: \"MATLAB\" gra\xC3@CC31  ");
    assert_eq!((user.as_str(), host.as_str()), ("gra\u{FFFD}", "CC31"));
    // Latin-1 bytes in a host.
    let (_, _, user, host) = usage_bytes(b"10:00:00 (MLM) OUT: \"MATLAB\" a@P\xF1a");
    assert_eq!((user.as_str(), host.as_str()), ("a", "P\u{FFFD}a"));
}

// ---------------------------------------------------------------------------------------------
// 2.3: date anchors.
// ---------------------------------------------------------------------------------------------

#[test]
fn timestamp_anchors() {
    assert_eq!(
        anchor(" 9:25:01 (ansyslmd) TIMESTAMP 6/25/2017"),
        Some(ymd(2017, 6, 25))
    );
    // Any daemon; always M/D/YYYY; several blanks (a tab too) before the date.
    assert_eq!(
        anchor("0:00:00 (lmgrd) TIMESTAMP 12/1/2022"),
        Some(ymd(2022, 12, 1))
    );
    assert_eq!(
        anchor("0:00:00 (MLM) TIMESTAMP \t 01/02/2023  "),
        Some(ymd(2023, 1, 2))
    );
    // 1/12 is January 12th, not December 1st.
    assert_eq!(
        anchor("0:00:00 (MLM) TIMESTAMP 1/12/2023"),
        Some(ymd(2023, 1, 12))
    );
    // A date that does not exist, or 13 as a month: no anchor.
    assert_eq!(anchor("0:00:00 (MLM) TIMESTAMP 2/30/2023"), None);
    assert_eq!(anchor("0:00:00 (MLM) TIMESTAMP 2/29/2023"), None);
    assert_eq!(
        anchor("0:00:00 (MLM) TIMESTAMP 2/29/2024"),
        Some(ymd(2024, 2, 29))
    );
    assert_eq!(anchor("0:00:00 (MLM) TIMESTAMP 13/1/2023"), None);
    // Exactly TIMESTAMP + blanks + the date: nothing else.
    for m in [
        "TIMESTAMP 6/25/2017 extra",
        "TIMESTAMP6/25/2017",
        "TIMESTAMP 6/25/17",
        "timestamp 6/25/2017",
        "x TIMESTAMP 6/25/2017",
        "TIMESTAMP 6-25-2017",
    ] {
        assert_eq!(anchor(&format!("0:00:00 (MLM) {m}")), None, "{m}");
    }
    // A TIMESTAMP is not a usage line nor a reset.
    assert_eq!(msg("0:00:00 (MLM) TIMESTAMP 6/25/2017"), Msg::Other);
}

#[test]
fn banner_is_an_anchor_and_a_reset() {
    for (line, day) in [
        (
            "10:25:31 (lmgrd) FlexNet Licensing (v11.18.1.0 build 279785 x64_n6) started on flexlm01 (IBM PC) (6/9/2022)",
            ymd(2022, 6, 9),
        ),
        (
            " 9:49:41 (lmgrd) FlexNet Licensing (v11.13.1.2 build 173085 x64_lsb) started on flux-license1.miserver.it.umich.edu (linux) (6/8/2017)",
            ymd(2017, 6, 8),
        ),
        // Old spellings, any case, from any daemon.
        ("1:00:00 (lmgrd) FLEXlm (v9.2) started on host (linux) (3/4/2005)", ymd(2005, 3, 4)),
        ("1:00:00 (lmgrd) FLEXnet Licensing (v10.8.5.0) started on h (linux) (12/31/2006)", ymd(2006, 12, 31)),
        ("1:00:00 (vendor) flexlm v8 started on h (1/1/2001)", ymd(2001, 1, 1)),
        ("1:00:00 (lmgrd) FLEXNET LICENSING x started on h (1/1/2001)", ymd(2001, 1, 1)),
    ] {
        let l = parse_line(line.as_bytes()).unwrap();
        assert_eq!(l.anchor, Some(day), "{line}");
        assert_eq!(l.msg, Msg::Reset(ResetScope::All), "{line}");
    }
    // A banner whose date does not exist is still a reset, but no anchor.
    let l =
        parse_line(b"1:00:00 (lmgrd) FlexNet Licensing (v1) started on h (x) (2/30/2023)").unwrap();
    assert_eq!((l.anchor, l.msg), (None, Msg::Reset(ResetScope::All)));
    // Not banners: no " started on ", no final (M/D/YYYY), other text first, or the vendor
    // daemon's version line.
    for line in [
        "1:00:00 (lmgrd) FlexNet Licensing (v1) on h (6/9/2022)",
        "1:00:00 (lmgrd) FlexNet Licensing (v1) started on h (6/9/2022) x",
        "1:00:00 (lmgrd) FlexNet Licensing (v1) started on h",
        "1:00:00 (lmgrd) The FlexNet Licensing (v1) started on h (6/9/2022)",
        "1:00:00 (MLM) FlexNet Licensing version v11.18.1.0 build 279785 x64_n6",
        "1:00:00 (lmgrd) FlexNet Licensing started on h (6/9/22)",
    ] {
        let l = parse_line(line.as_bytes()).unwrap();
        assert_eq!((l.anchor, l.msg), (None, Msg::Other), "{line}");
    }
}

#[test]
fn system_date_and_slog_anchors() {
    for (line, day) in [
        (
            "10:25:31 (lmgrd) Server's System Date and Time: Thu Jun 09 2022 10:25:31 Hora de verano romance",
            ymd(2022, 6, 9),
        ),
        (" 1:56:00 (lmgrd) Server's System Date and Time: Wed Mar 30 2016 01:56:00 Romance Daylight Time", ymd(2016, 3, 30)),
        // One-digit day, no zone text.
        ("1:00:00 (lmgrd) Server's System Date and Time: Sun Jul 3 2022 01:00:00", ymd(2022, 7, 3)),
        ("10:25:31 (lmgrd) (@lmgrd-SLOG@) Start-Date: Thu Jun 09 2022 10:25:31 Hora de verano romance", ymd(2022, 6, 9)),
        ("21:50:01 (ansyslmd) (@ansyslmd-SLOG@) Time: Wed Jun 21 2017 21:50:01 EDT", ymd(2017, 6, 21)),
        (" 8:42:31 (adskflex) (@adskflex-SLOG@) Reread time: Thu May 05 2022 08:42:31 Hora de verano romance", ymd(2022, 5, 5)),
        // The weekday is not checked against the date (2022-06-09 was a Thursday).
        ("1:00:00 (MLM) (@MLM-SLOG@) Time: Mon Jun 09 2022 01:00:00 CET", ymd(2022, 6, 9)),
        // The name is not compared with the daemon, and may itself end in "-SLOG@".
        ("1:00:00 (MLM) (@other-SLOG@) Start-Date: Thu Jun 09 2022 01:00:00", ymd(2022, 6, 9)),
        ("1:00:00 (MLM) (@a-SLOG@-SLOG@) Time: Thu Jun 09 2022 01:00:00", ymd(2022, 6, 9)),
    ] {
        let l = parse_line(line.as_bytes()).unwrap();
        assert_eq!((l.anchor, l.msg), (Some(day), Msg::Other), "{line}");
    }
    // SLOG lines that describe past events are NOT anchors, in both the new and old form.
    for line in [
        "16:43:59 (adskflex) (@adskflex-SLOG@) 00000000 ms at Sat May 14 2022 16:43:54 Hora de verano romance,#19,(5980K),(upm,etsidi00007,1972)",
        " 9:50:01 (ansyslmd) (@ansyslmd-SLOG@) 00000000 ms at  9:50:00(6/18/2017),#16,(caixz,nyx7007.arc-ts.umich.edu,22)",
        "22:01:22 (adskflex) (@adskflex-SLOG@) Peak private bytes 3956K attempted at Tue Apr 05 2016 16:58:52 Romance Daylight Time",
        "1:00:00 (MLM) (@MLM-SLOG@) Start-Date: Thu Jun 31 2022 10:25:31 CET",
        "1:00:00 (MLM) (@MLM-SLOG@) Time: Thu Jun 09 2022 25:25:31 CET",
        "1:00:00 (MLM) (@MLM-SLOG@) Time: Xyz Jun 09 2022 10:25:31 CET",
        "1:00:00 (MLM) (@MLM-SLOG@) Time: Thu Foo 09 2022 10:25:31 CET",
        "1:00:00 (lmgrd) Server's System Date and Time: Thu Jun 09 22 10:25:31",
        "1:00:00 (lmgrd) Server's System Date and Time:",
        // The forms are written with single spaces, and an SLOG name is like a daemon name:
        // not empty, no blank, no ')'.
        "1:00:00 (lmgrd) Server's System Date and Time:  Thu Jun 09 2022 10:25:31",
        "1:00:00 (lmgrd) Server's System Date and Time:Thu Jun 09 2022 10:25:31",
        "1:00:00 (lmgrd) Server's System Date and Time:\tThu Jun 09 2022 10:25:31",
        "1:00:00 (lmgrd) Server's System Date and Time: Thu  Jun 09 2022 10:25:31",
        "1:00:00 (MLM) (@MLM-SLOG@)  Time: Thu Jun 09 2022 10:25:31 CET",
        "1:00:00 (MLM) (@MLM-SLOG@)Time: Thu Jun 09 2022 10:25:31 CET",
        "1:00:00 (MLM) (@MLM-SLOG@) Time:  Thu Jun 09 2022 10:25:31 CET",
        "1:00:00 (MLM) (@MLM-SLOG@) Time:Thu Jun 09 2022 10:25:31 CET",
        "1:00:00 (MLM) (@MLM-SLOG@) Reread  time: Thu Jun 09 2022 10:25:31 CET",
        "1:00:00 (MLM) (@-SLOG@) Time: Thu Jun 09 2022 10:25:31 CET",
        "1:00:00 (MLM) (@M L-SLOG@) Time: Thu Jun 09 2022 10:25:31 CET",
        "1:00:00 (MLM) (@M)L-SLOG@) Time: Thu Jun 09 2022 10:25:31 CET",
        "1:00:00 (MLM) (@MLM-SLOG) Time: Thu Jun 09 2022 10:25:31 CET",
    ] {
        let l = parse_line(line.as_bytes()).unwrap();
        assert_eq!((l.anchor, l.msg), (None, Msg::Other), "{line}");
    }
}

#[test]
fn datestamp_envelope() {
    // The dated form, with no offset, Z, +HH:MM and -HH:MM: the date and time are used as
    // written, the offset ignored.
    for (line, day, t) in [
        (
            "2023-03-14T10:25:38 (MLM) OUT: \"MATLAB\" a@b",
            ymd(2023, 3, 14),
            hms(10, 25, 38),
        ),
        (
            "2023-03-14T10:25:38Z (MLM) OUT: \"MATLAB\" a@b",
            ymd(2023, 3, 14),
            hms(10, 25, 38),
        ),
        (
            "2023-03-14T23:59:59+05:30 (MLM) OUT: \"MATLAB\" a@b",
            ymd(2023, 3, 14),
            hms(23, 59, 59),
        ),
        (
            "  2023-03-14T00:00:00-08:00 (MLM) OUT: \"MATLAB\" a@b",
            ymd(2023, 3, 14),
            0,
        ),
    ] {
        let l = parse_line(line.as_bytes()).expect(line);
        assert_eq!((l.anchor, l.time), (Some(day), t), "{line}");
        assert!(
            matches!(
                l.msg,
                Msg::Usage {
                    kind: UsageKind::Out,
                    ..
                }
            ),
            "{line}"
        );
    }
    // The envelope's date wins over a date in the message.
    let l = parse_line(b"2023-03-14T10:00:00 (MLM) TIMESTAMP 1/2/2020").unwrap();
    assert_eq!(l.anchor, Some(ymd(2023, 3, 14)));
    let l = parse_line(
        b"2023-03-14T10:00:00 (lmgrd) FlexNet Licensing (v1) started on h (x) (1/2/2020)",
    )
    .unwrap();
    assert_eq!(
        (l.anchor, l.msg),
        (Some(ymd(2023, 3, 14)), Msg::Reset(ResetScope::All))
    );
    // A date that does not exist: the line is skipped.
    assert_eq!(parse_line(b"2023-02-30T10:00:00 (MLM) OUT: F a@b"), None);
    assert_eq!(parse_line(b"2023-13-01T10:00:00 (MLM) OUT: F a@b"), None);
    // Broken forms are not envelopes at all.
    for line in [
        "2023-03-14 10:00:00 (MLM) x",
        "2023-03-14T24:00:00 (MLM) x",
        "2023-03-14T9:00:00 (MLM) x",
        "2023-03-14T10:00:00+0530 (MLM) x",
        "2023-03-14T10:00:00.123 (MLM) x",
        "23-03-14T10:00:00 (MLM) x",
    ] {
        assert_eq!(parse_line(line.as_bytes()), None, "{line}");
    }
}

// ---------------------------------------------------------------------------------------------
// 2.5: session resets.
// ---------------------------------------------------------------------------------------------

#[test]
fn resets() {
    let all = Msg::Reset(ResetScope::All);
    let of = |d: &'static [u8]| Msg::Reset(ResetScope::Daemon(d));
    // EXITING / Lost connection from a vendor daemon: that daemon; from lmgrd: everything.
    assert_eq!(msg(" 8:14:44 (MLM) EXITING DUE TO SIGNAL 15"), of(b"MLM"));
    assert_eq!(msg(" 8:14:44 (lmgrd) EXITING DUE TO SIGNAL 15"), all);
    assert_eq!(
        msg("1:00:00 (parteklm) Lost connection to lmgrd, heartbeat timeout expired, exiting."),
        of(b"parteklm")
    );
    assert_eq!(msg("1:00:00 (lmgrd) Lost connection to lmgrd"), all);
    assert_eq!(msg("1:00:00 (MLM) EXITING"), of(b"MLM"));
    // From lmgrd: "X exited with status", "Started X (", "REStarted X (".
    assert_eq!(
        msg("1:00:00 (lmgrd) MLM exited with status 36 (Unknown)"),
        of(b"MLM")
    );
    assert_eq!(msg("1:00:00 (lmgrd) MLM exited with status"), of(b"MLM"));
    assert_eq!(
        msg("1:00:00 (lmgrd) Started adskflex (pid 4440)"),
        of(b"adskflex")
    );
    assert_eq!(
        msg("1:00:00 (lmgrd) Started ansyslmd (internet tcp_port 60198 pid 1962)"),
        of(b"ansyslmd")
    );
    assert_eq!(
        msg("1:00:00 (lmgrd) REStarted parteklm (pid 4552)"),
        of(b"parteklm")
    );
    // The banner, from any daemon: everything (see banner_is_an_anchor_and_a_reset).
    // Not resets: "Server started on" (reread), these forms from a vendor daemon, a keyword not
    // at the start, "Started X" without " (", lowercase forms.
    for line in [
        " 8:42:31 (adskflex) Server started on flexlm02 for:\t",
        "1:00:00 (lmgrd) Server started on h",
        "1:00:00 (MLM) Started MLM (pid 1)",
        "1:00:00 (MLM) MLM exited with status 1",
        "1:00:00 (MLM) Shutting down; EXITING",
        "1:00:00 (lmgrd) Started MLM",
        "1:00:00 (lmgrd) started MLM (pid 1)",
        "1:00:00 (lmgrd) MLM exited with statusX",
        "1:00:00 (lmgrd) exiting",
        "1:00:00 (MLM) SHUTDOWN request from root at node h",
    ] {
        assert_eq!(msg(line), Msg::Other, "{line:?}");
    }
}

/// Frames `input` cut into chunks of `size` bytes.
fn frame_in_chunks(input: &[u8], size: usize) -> Vec<Option<Vec<u8>>> {
    let mut fr = Framer::new();
    let mut out = Vec::new();
    for c in input.chunks(size) {
        fr.feed(c, &mut |f| {
            out.push(match f {
                Framed::Line(l) => Some(l.to_vec()),
                Framed::TooLong => None,
            })
        });
    }
    out
}

#[test]
fn bom_does_not_count_towards_the_line_limit_in_any_chunking() {
    // A first line of exactly MAX_LINE bytes after a BOM is kept whole, however it arrives: the
    // BOM is not part of the line (section 1), so the line is not too long, and it must not be
    // cut short either (here its last bytes are the year of a TIMESTAMP).
    let mut line = b"10:00:00 (v) TIMESTAMP".to_vec();
    line.resize(MAX_LINE - b" 3/14/2023".len(), b' ');
    line.extend_from_slice(b" 3/14/2023");
    assert_eq!(line.len(), MAX_LINE);
    let mut input = b"\xEF\xBB\xBF".to_vec();
    input.extend_from_slice(&line);
    input.extend_from_slice(b"\nnext\n");
    for size in [1, 2, 3, 1000, 65_536, input.len()] {
        assert_eq!(
            frame_in_chunks(&input, size),
            vec![Some(line.clone()), Some(b"next".to_vec())],
            "chunks of {size}"
        );
    }
    // One byte more is too long in every chunking.
    let mut input = b"\xEF\xBB\xBFx".to_vec();
    input.extend_from_slice(&line);
    input.extend_from_slice(b"\nnext\n");
    for size in [1, 1000, input.len()] {
        assert_eq!(
            frame_in_chunks(&input, size),
            vec![None, Some(b"next".to_vec())],
            "chunks of {size}"
        );
    }
}
