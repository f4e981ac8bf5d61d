//! One debug-log line: the envelope and its message (contract, section 2).
//!
//! Everything works on bytes and borrows from the line: the only thing a caller must do is decode
//! the user, host, feature and daemon fields (lossy UTF-8) when it keeps them.

use crate::date::{from_ymd, Day};
use nom::branch::alt;
use nom::bytes::complete::{tag, tag_no_case, take_till, take_while, take_while1, take_while_m_n};
use nom::character::complete::char;
use nom::combinator::{opt, recognize};
use nom::{IResult, Parser};

/// nom's result with the unit error: the parsers only need to know "no".
type R<'a, O> = IResult<&'a [u8], O, ()>;

/// Lines longer than this (before their `\n`) are skipped.
pub const MAX_LINE: usize = 65_536;

/// The kind of a usage message (2.2).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum UsageKind {
    Out,
    In,
    Denied,
    Unsupported,
    Queued,
    Dequeued,
    Upgrade,
}

impl UsageKind {
    pub const ALL: [UsageKind; 7] = [
        UsageKind::Out,
        UsageKind::In,
        UsageKind::Denied,
        UsageKind::Unsupported,
        UsageKind::Queued,
        UsageKind::Dequeued,
        UsageKind::Upgrade,
    ];

    pub fn name(self) -> &'static str {
        match self {
            UsageKind::Out => "out",
            UsageKind::In => "in",
            UsageKind::Denied => "denied",
            UsageKind::Unsupported => "unsupported",
            UsageKind::Queued => "queued",
            UsageKind::Dequeued => "dequeued",
            UsageKind::Upgrade => "upgrade",
        }
    }
}

/// Whose sessions a reset line ends (2.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetScope<'a> {
    /// Every session of the server.
    All,
    /// The sessions of this vendor daemon.
    Daemon(&'a [u8]),
}

/// The message of an enveloped line, as far as the report cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Msg<'a> {
    Usage {
        kind: UsageKind,
        feature: &'a [u8],
        user: &'a [u8],
        host: &'a [u8],
    },
    /// A usage line whose user is empty or whose quote/group is not closed: it counts nothing.
    Malformed(UsageKind),
    /// Ends sessions. A banner is a reset *and* an anchor (see [`Line::anchor`]).
    Reset(ResetScope<'a>),
    /// Anything else (an anchor that is not a reset has this message too).
    Other,
}

/// An enveloped line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line<'a> {
    /// Seconds since the start of the day (0..86400).
    pub time: u32,
    /// The date this line anchors its file to: the `-datestamp` envelope's date, else the date of
    /// a TIMESTAMP / banner / system-date / SLOG message.
    pub anchor: Option<Day>,
    pub daemon: &'a [u8],
    pub msg: Msg<'a>,
}

/// Removes, as section 1 says, one trailing `\r` and then trailing blanks.
pub fn trim_line(mut line: &[u8]) -> &[u8] {
    if let [rest @ .., b'\r'] = line {
        line = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = line {
        line = rest;
    }
    line
}

#[inline]
fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

fn blanks(i: &[u8]) -> R<'_, &[u8]> {
    take_while(is_blank).parse(i)
}

fn digits_value(d: &[u8]) -> u32 {
    d.iter().fold(0u32, |a, c| a * 10 + (c - b'0') as u32)
}

fn num(min: usize, max: usize) -> impl Fn(&[u8]) -> R<'_, u32> {
    move |i| {
        let (i, d) = take_while_m_n(min, max, |c: u8| c.is_ascii_digit()).parse(i)?;
        Ok((i, digits_value(d)))
    }
}

/// `H:MM:SS` or `HH:MM:SS` with range checks, as seconds of the day. Written out byte by byte:
/// it runs on every line.
fn clock(i: &[u8]) -> R<'_, u32> {
    let fail = || nom::Err::Error(());
    let d = |c: u8| c.is_ascii_digit().then(|| (c - b'0') as u32);
    let (h, rest) = match i {
        [a, b, b':', rest @ ..] => (
            d(*a).zip(d(*b)).map(|(a, b)| a * 10 + b).ok_or_else(fail)?,
            rest,
        ),
        [a, b':', rest @ ..] => (d(*a).ok_or_else(fail)?, rest),
        _ => return Err(fail()),
    };
    let [m1, m2, b':', s1, s2, rest @ ..] = rest else {
        return Err(fail());
    };
    let m = d(*m1)
        .zip(d(*m2))
        .map(|(a, b)| a * 10 + b)
        .ok_or_else(fail)?;
    let s = d(*s1)
        .zip(d(*s2))
        .map(|(a, b)| a * 10 + b)
        .ok_or_else(fail)?;
    if h > 23 || m > 59 || s > 59 {
        return Err(fail());
    }
    Ok((rest, h * 3600 + m * 60 + s))
}

/// The `lmgrd -datestamp` form: `YYYY-MM-DDTHH:MM:SS` with an optional `Z` or `+HH:MM`/`-HH:MM`.
/// The outer `Option` says "this is the dated form"; the inner one is `None` for a date that
/// does not exist.
fn dated_clock(i: &[u8]) -> R<'_, (Option<Day>, u32)> {
    let (i, (y, _, mo, _, d, _, h, _, mi, _, s)) = (
        num(4, 4),
        char('-'),
        num(2, 2),
        char('-'),
        num(2, 2),
        char('T'),
        num(2, 2),
        char(':'),
        num(2, 2),
        char(':'),
        num(2, 2),
    )
        .parse(i)?;
    let offset = recognize((alt((char('+'), char('-'))), num(2, 2), char(':'), num(2, 2)));
    let (i, _) = opt(alt((recognize(char('Z')), offset))).parse(i)?;
    if h > 23 || mi > 59 || s > 59 {
        return Err(nom::Err::Error(()));
    }
    Ok((i, (from_ymd(y as i64, mo, d), h * 3600 + mi * 60 + s)))
}

/// `<time> (<daemon>) <message>`; the message is what is left.
/// What an envelope holds: the dated form's date (`Some(None)`: a date that does not exist),
/// the time of day and the daemon.
type Envelope<'a> = (Option<Option<Day>>, u32, &'a [u8]);

/// Written out rather than combined: it runs on every line.
fn envelope(i: &[u8]) -> R<'_, Envelope<'_>> {
    let fail = || nom::Err::Error(());
    let i = skip_blanks(i);
    let (i, date, time) = match clock(i) {
        Ok((i, t)) => (i, None, t),
        Err(_) => {
            let (i, (d, t)) = dated_clock(i)?;
            (i, Some(d), t)
        }
    };
    let i = i.strip_prefix(b" (").ok_or_else(fail)?;
    let end = i
        .iter()
        .position(|&c| is_blank(c) || c == b')')
        .unwrap_or(i.len());
    if end == 0 {
        return Err(fail());
    }
    let (daemon, i) = i.split_at(end);
    let i = i.strip_prefix(b")").ok_or_else(fail)?;
    Ok((skip_blanks(i), (date, time, daemon)))
}

#[inline]
fn skip_blanks(i: &[u8]) -> &[u8] {
    let n = i.iter().take_while(|&&c| is_blank(c)).count();
    &i[n..]
}

/// Parses one line (without its `\n`; trailing `\r` and blanks are trimmed here). `None`: the
/// line has no envelope (or a dated envelope with a date that does not exist) and is skipped.
pub fn parse_line(raw: &[u8]) -> Option<Line<'_>> {
    if raw.len() > MAX_LINE {
        return None;
    }
    let line = trim_line(raw);
    let (msg, (stamp, time, daemon)) = envelope(line).ok()?;
    let stamp_day = match stamp {
        Some(None) => return None,
        Some(Some(d)) => Some(d),
        None => None,
    };
    let (msg, msg_anchor) = message(daemon, msg);
    Some(Line {
        time,
        anchor: stamp_day.or(msg_anchor),
        daemon,
        msg,
    })
}

/// Classifies a message: what it means for sessions and counts, and the date it anchors to.
pub fn message<'a>(daemon: &'a [u8], m: &'a [u8]) -> (Msg<'a>, Option<Day>) {
    if let Some(kind) = usage_keyword(m) {
        return (usage(kind, &m[keyword_len(kind)..]), None);
    }
    if let Ok((_, d)) = timestamp(m) {
        return (Msg::Other, d);
    }
    if let Some(day) = banner(m) {
        return (Msg::Reset(ResetScope::All), day);
    }
    if let Ok((_, d)) = system_date(m) {
        return (Msg::Other, d);
    }
    if let Ok((_, d)) = slog_date(m) {
        return (Msg::Other, d);
    }
    if let Some(scope) = reset(daemon, m) {
        return (Msg::Reset(scope), None);
    }
    (Msg::Other, None)
}

fn usage_keyword(m: &[u8]) -> Option<UsageKind> {
    // Dispatch on the first byte: most messages are not usage lines. Each keyword is one
    // constant comparison (one match, not a second one choosing the keyword to compare).
    let kind = match m.first()? {
        b'O' if m.starts_with(b"OUT:") => UsageKind::Out,
        b'I' if m.starts_with(b"IN:") => UsageKind::In,
        b'D' if m.starts_with(b"DENIED:") => UsageKind::Denied,
        b'D' if m.starts_with(b"DEQUEUED:") => UsageKind::Dequeued,
        b'U' if m.starts_with(b"UPGRADE:") => UsageKind::Upgrade,
        b'U' if m.starts_with(b"UNSUPPORTED:") => UsageKind::Unsupported,
        b'Q' if m.starts_with(b"QUEUED:") => UsageKind::Queued,
        _ => return None,
    };
    Some(kind)
}

fn keyword_len(kind: UsageKind) -> usize {
    match kind {
        UsageKind::Out => 4,
        UsageKind::In => 3,
        UsageKind::Denied => 7,
        UsageKind::Unsupported => 12,
        UsageKind::Queued => 7,
        UsageKind::Dequeued => 9,
        UsageKind::Upgrade => 8,
    }
}

/// A double-quoted feature (the quote must close) or a token up to the next blank.
fn feature(i: &[u8]) -> R<'_, &[u8]> {
    if let Some(rest) = i.strip_prefix(b"\"") {
        let end = memchr::memchr(b'"', rest).ok_or(nom::Err::Error(()))?;
        Ok((&rest[end + 1..], &rest[..end]))
    } else {
        take_till(is_blank).parse(i)
    }
}

/// One balanced parenthesised group, `(` included; fails when it does not close.
fn group(i: &[u8]) -> R<'_, &[u8]> {
    let (_, _) = char('(').parse(i)?;
    let mut depth = 0usize;
    for (n, &c) in i.iter().enumerate() {
        match c {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Ok((&i[n + 1..], &i[..n + 1]));
                }
            }
            _ => {}
        }
    }
    Err(nom::Err::Error(()))
}

/// The user@host field: up to two blanks in a row, ` [`, ` (`, ` ^^^`, or the end.
fn user_host_field(i: &[u8]) -> (&[u8], &[u8]) {
    let mut n = 0;
    while let Some(off) = memchr::memchr2(b' ', b'\t', &i[n..]) {
        let at = n + off;
        let rest = &i[at..];
        let ends = match rest.get(1) {
            Some(&c) if is_blank(c) => true,
            Some(b'[') | Some(b'(') => rest[0] == b' ',
            Some(b'^') => rest.starts_with(b" ^^^"),
            _ => false,
        };
        if ends {
            return (&i[at..], &i[..at]);
        }
        n = at + 1;
    }
    (&i[i.len()..], i)
}

fn usage(kind: UsageKind, i: &[u8]) -> Msg<'_> {
    let parsed = (|| -> R<'_, (&[u8], &[u8])> {
        let (i, _) = blanks(i)?;
        let (i, feat) = feature(i)?;
        let (i, _) = blanks(i)?;
        let i = if i.first() == Some(&b'(') {
            let (i, _) = group(i)?;
            blanks(i)?.0
        } else {
            i
        };
        let (i, field) = user_host_field(i);
        Ok((i, (feat, field)))
    })();
    let Ok((_, (feature, field))) = parsed else {
        return Msg::Malformed(kind);
    };
    let (user, host) = match memchr::memrchr(b'@', field) {
        Some(at) => (&field[..at], &field[at + 1..]),
        None => (field, &field[field.len()..]),
    };
    let user = user.strip_prefix(b"OBF_STRT: ").unwrap_or(user);
    let user = user.strip_suffix(b" :END_OBF").unwrap_or(user);
    if user.is_empty() {
        return Msg::Malformed(kind);
    }
    Msg::Usage {
        kind,
        feature,
        user,
        host,
    }
}

/// `M/D/YYYY`; `None` inside when the date does not exist.
fn mdy(i: &[u8]) -> R<'_, Option<Day>> {
    let (i, (m, _, d, _, y)) = (num(1, 2), char('/'), num(1, 2), char('/'), num(4, 4)).parse(i)?;
    Ok((i, from_ymd(y as i64, m, d)))
}

/// `TIMESTAMP` + blanks + `M/D/YYYY`, and nothing else.
fn timestamp(i: &[u8]) -> R<'_, Option<Day>> {
    let (i, (_, _, d)) = (tag("TIMESTAMP"), take_while1(is_blank), mdy).parse(i)?;
    if !i.is_empty() {
        return Err(nom::Err::Error(()));
    }
    Ok((i, d))
}

/// The lmgrd banner: `FLEXlm` / `FLEXnet Licensing` / `FlexNet Licensing` (any case) ... ` started
/// on ` ... `(M/D/YYYY)` at the end. `Some(None)`: a banner (a reset) whose date does not exist
/// (no anchor).
fn banner(m: &[u8]) -> Option<Option<Day>> {
    let head: R<'_, &[u8]> =
        alt((tag_no_case("FLEXlm"), tag_no_case("FLEXnet Licensing"))).parse(m);
    head.ok()?;
    memchr::memmem::find(m, b" started on ")?;
    let open = memchr::memrchr(b'(', m)?;
    let tail = m.strip_suffix(b")")?;
    let (rest, day) = mdy(&tail[open + 1..]).ok()?;
    rest.is_empty().then_some(day)
}

const MONTHS: [&[u8]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

const WEEKDAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];

/// `Www Mmm D YYYY HH:MM:SS <zone text>` (English names, single spaces, the zone optional): the
/// date. The weekday is not checked against the date, and the time is not used.
fn long_date(i: &[u8]) -> R<'_, Option<Day>> {
    let alpha3 = || take_while_m_n(3, 3, |c: u8| c.is_ascii_alphabetic());
    let (i, (wd, _, mon, _, d, _, y, _, time)) = (
        alpha3(),
        char(' '),
        alpha3(),
        char(' '),
        num(1, 2),
        char(' '),
        num(4, 4),
        char(' '),
        (num(2, 2), char(':'), num(2, 2), char(':'), num(2, 2)),
    )
        .parse(i)?;
    let (h, _, mi, _, sec) = time;
    // The zone text, if any, follows after a blank.
    if h > 23 || mi > 59 || sec > 59 || !(i.is_empty() || i[0] == b' ') || !WEEKDAYS.contains(&wd) {
        return Err(nom::Err::Error(()));
    }
    let month = MONTHS.iter().position(|m| *m == mon);
    let day = month.and_then(|mo| from_ymd(y as i64, mo as u32 + 1, d));
    Ok((&i[i.len()..], day))
}

/// `Server's System Date and Time: <long date>`.
fn system_date(i: &[u8]) -> R<'_, Option<Day>> {
    // Single spaces, as the contract writes the form (and as `long_date` reads the date).
    let (i, _) = tag("Server's System Date and Time: ").parse(i)?;
    long_date(i)
}

/// `(@name-SLOG@) Start-Date: | Time: | Reread time: <long date>`, with single spaces; the name
/// is not empty and, like a daemon name, has no blank or `)`.
fn slog_date(i: &[u8]) -> R<'_, Option<Day>> {
    let (i, (_, token, _, _, _, _)) = (
        tag("(@"),
        take_while1(|c: u8| !is_blank(c) && c != b')'),
        char(')'),
        char(' '),
        alt((tag("Start-Date"), tag("Time"), tag("Reread time"))),
        tag(": "),
    )
        .parse(i)?;
    match token.strip_suffix(b"-SLOG@") {
        Some(name) if !name.is_empty() => long_date(i),
        _ => Err(nom::Err::Error(())),
    }
}

/// Session resets other than the banner (2.5).
fn reset<'a>(daemon: &'a [u8], m: &'a [u8]) -> Option<ResetScope<'a>> {
    if m.starts_with(b"EXITING") || m.starts_with(b"Lost connection to lmgrd") {
        return Some(if daemon == b"lmgrd" {
            ResetScope::All
        } else {
            ResetScope::Daemon(daemon)
        });
    }
    if daemon != b"lmgrd" {
        return None;
    }
    let started: R<'_, &[u8]> = (
        alt((tag("Started "), tag("REStarted "))),
        take_till(is_blank),
        tag(" ("),
    )
        .parse(m)
        .map(|(i, (_, x, _))| (i, x));
    if let Ok((_, x)) = started {
        return (!x.is_empty()).then_some(ResetScope::Daemon(x));
    }
    let sp = memchr::memchr(b' ', m)?;
    let x = &m[..sp];
    let after = m[sp..].strip_prefix(b" exited with status")?;
    let ends = after.first().is_none_or(|&c| is_blank(c));
    (!x.is_empty() && !x.contains(&b'\t') && ends).then_some(ResetScope::Daemon(x))
}
