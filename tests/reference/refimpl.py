#!/usr/bin/env python3
"""Independent reference implementation of the "Realtime Users Count" contract
(/work/shared/spec/realtime-users-count.md, sections 1-4 and the JSON body of
section 5), used for differential tests against `lmtally report`.

Standard library only (Python 3.11).  Written for clarity, not speed.

Usage:
  python3 tests/reference/refimpl.py --server NAME=PATH[,PATH...] [--server ...]
      [--model 2019|2013] [--sd YYYY-MM-DD] [--ed YYYY-MM-DD] [--today YYYY-MM-DD]
      [--user-identity user|user@host] [--fold-case] [--count-unsupported]

Prints the JSON envelope
  {"success":true,"msg":"","code":null,"totalCount":N,"data":[{"ucd":..,"uct":..,"ucdy":..,"ucde":..,"ucch":..},...]}
followed by one newline.  `sd` after `ed`: message on stderr, exit status 2.

===============================================================================
READING CHOICES (where the spec is silent or ambiguous; most literal reading)
===============================================================================
Input (section 1)
 A1. A UTF-8 BOM (EF BB BF) is removed only at the very start of a file.  It does
     not count towards the 65,536-byte line limit of the first line.
 A2. The 65,536-byte limit is applied to the raw bytes of the line before its
     `\n` (i.e. including a trailing `\r` and trailing blanks); a line of exactly
     65,536 bytes is kept, 65,537 or more is skipped.
 A3. Decoding: bytes.decode('utf-8', 'replace').  Verified identical to Rust's
     String::from_utf8_lossy (both follow the Unicode/W3C "maximal subpart"
     practice) on: F0 90 80 (1 U+FFFD), ED A0 80 (3), F4 90 80 80 (4), C0 AF (2),
     E0 80 80 (3), F0 9F 98 'x' (1 + x), E2 82 (1), F5 80 (2), 80 80 (2),
     C2 'A' (1 + A), E1 80 E2 F0 91 92 F1 BF 'A' (4 + A), EF BF BE F8 88 80 80 80
     (U+FFFE + 5), by running both (rustc 1.95 / CPython 3.11.7).  `\r` and
     blank stripping happen after decoding (equivalent: they are ASCII).
Envelope (2.1)
 B1. "Blanks" = space or tab everywhere.  Leading blanks are allowed before
     both time forms (H:MM:SS, HH:MM:SS and the -datestamp form).
 B2. Time: hour is 1 or 2 ASCII digits with value 0-23 (so "08" is fine),
     minutes/seconds exactly 2 digits 00-59 (no leap second 60).  In the
     -datestamp form the hour is exactly 2 digits.  The offset is `Z` or
     `+HH:MM`/`-HH:MM` with any two-digit numbers (not range-checked; ignored).
     A -datestamp date must exist in the proleptic Gregorian calendar; year 0000
     is treated as not existing (line skipped).
 B3. After `)` zero or more blanks, then the message (so `10:00:00 (X)OUT: ...`
     is an envelope).  The daemon name may contain any character except blank
     and `)` (a `(` inside is accepted).
Usage messages (2.2)
 C1. After the keyword (e.g. `OUT:`) zero or more blanks (`OUT:"F" u@h` parses).
     After the feature zero or more blanks; after the skipped `(...)` group zero
     or more blanks.
 C2. The skipped parenthesised group is balanced: nested parentheses are
     counted, the group ends at the `)` that closes the first `(`.  No closing
     `)` -> malformed.  A quoted feature ends at the next `"` (no escapes).
 C3. Field terminators: two blanks in a row (space/tab in any combination);
     ` [`, ` (`, ` ^^^` with a SPACE (a tab followed by `[`/`(`/`^^^` does not
     end the field).
 C4. OBF markers: after splitting at the last `@`, a user that starts with
     `OBF_STRT: ` loses that prefix and a user that ends with ` :END_OBF` loses
     that suffix (each independently).  The host is not touched.  This happens
     before fold_case.  A user that is empty after this is malformed.
 C5. An unquoted feature that is empty (message is just `OUT:`) is allowed;
     such a line is malformed anyway because its user is empty.
 C6. A checkin (IN:) line counts in used(d) even when it matches no open
     session.  UPGRADE: counts in used(d) and touches no session.
     QUEUED:/DEQUEUED: count nothing.  Malformed usage lines count nothing.
Anchors (2.3)
 D1. TIMESTAMP: the message must be exactly `TIMESTAMP`, ONE OR MORE blanks,
     then M/D/YYYY with M and D of 1 or 2 digits and a 4-digit year; nothing
     after.  Nonexistent date -> no anchor.
 D2. Banner: the message starts (ASCII case-insensitively) with `FLEXlm` or
     `FLEXnet Licensing` (which covers `FlexNet Licensing`), contains
     ` started on ` (case-sensitive), and ends with `(M/D/YYYY)` (same digit
     rules as D1).  Any daemon.  If that date does not exist the line is no
     anchor, but it is still a banner for the reset rule (2.5).
 D3. `Server's System Date and Time: ` and the SLOG forms take the date text
     `Www Mmm D YYYY HH:MM:SS[ <zone text>]` with single spaces, English
     C-locale names (Mon..Sun, Jan..Dec, case-sensitive; the weekday is NOT
     checked against the date), D 1-2 digits, HH exactly 2 digits, all time
     fields range-checked (00-23, 00-59, 00-59); the zone text is optional.
     Nonexistent date -> no anchor.  The SLOG message must start with
     `(@NAME-SLOG@) ` (NAME non-empty, no blank or `)`; NAME is not compared
     with the daemon) followed directly by `Start-Date: `, `Time: ` or
     `Reread time: `.
 D4. The message's own time (System Date / SLOG) is ignored: the anchor line is
     dated at (anchor date, envelope time).
 D5. -datestamp lines: every one is an anchor with the envelope's date (any
     date in the message is ignored, but the message is still inspected for
     usage / resets).
Dating (2.4)
 E1. 3 h = 10,800 s and 21 h = 75,600 s; comparisons are strict exactly as
     written (t < T-3h, t > T+21h, t > L+3h, t < L-21h).
 E2. Lines before the first anchor are dated backwards when the first anchor
     arrives; later anchors only affect later lines.  Lines of a file that never
     has an anchor are dropped (they have no instant and take no part in the
     merge or in "latest instant seen").
Sessions (2.5, 3)
 F1. Reset forms: message starts with `EXITING` or `Lost connection to lmgrd`
     (daemon X = the line's daemon; X = lmgrd -> all sessions of the server);
     from daemon `lmgrd` exactly: `X exited with status` followed by a blank or
     the end; `Started X (` / `REStarted X (` (X without blanks, one space each
     side).  "Started lmgrd (" would end only daemon-"lmgrd" sessions (only the
     EXITING/Lost-connection forms have the lmgrd=all rule).
 F2. Resets close sessions of this server only (sessions of other servers with
     the same daemon name are untouched).
 F3. "Latest instant seen in any file of its server" = the maximum instant of
     all dated enveloped lines (any message) of all the server's files.
 F4. The same --server NAME given twice appends its files to that server.
     A PATH that cannot be read is an error (stderr, exit 2).
Numbers (4)
 G1. A session is the closed interval [open, close'] with close' =
     max(close, open).  It puts its identity into used(d) for EVERY date d from
     open's date through close''s date inclusive (so a session closed at
     00:00:00 exactly - by a reset or by end-of-log - also counts on that day).
 G2. Identities are compared as exact strings after the optional fold_case;
     identity user@host is the pair (user, host) (no collision possible since
     the host never contains `@`).  Empty host: the pair (user, "").
 G3. fold_case uses str.lower() plus a table of the 55 extra single-character
     mappings that Rust's str::to_lowercase (Unicode 16) has and CPython 3.11
     (Unicode 14) lacks (U+1C89, U+A7CB, ..., Garay U+10D50.., Beria Erfe
     U+16EA0..).  Checked: over all code points the single-character mappings
     are otherwise identical, and final-sigma handling matches (e.g. "Α.Σ" ->
     "α.ς" in both).  Residual risk: Unicode-version differences in the
     Cased/Case_Ignorable properties used by the final-sigma rule.  fold_case
     applies to user and host only (not feature, not daemon).
 G4. ucch: per host the union of its sessions' [open, close'] second ranges,
     then a sweep; hosts are merged across servers by (folded) name.
 G5. Default sd = earliest date with used(d) or denied(d) non-empty (denied
     includes UNSUPPORTED only with --count-unsupported), whatever the model.
     With no data and no --sd: zero rows (even if --ed is given).  Default
     ed = --today, or the local date.  sd > ed (given or default): exit 2.
 G6. The 100-year range limit of section 5 is not implemented (no 400 here).
===============================================================================
"""

import argparse
import bisect
import datetime
import heapq
import json
import re
import sys

SECONDS_PER_DAY = 86400
THREE_HOURS = 3 * 3600
TWENTY_ONE_HOURS = 21 * 3600
MAX_LINE_BYTES = 65536
BLANKS = " \t"


# ---------------------------------------------------------------------------
# Rust-compatible lower-casing (see G3)
# ---------------------------------------------------------------------------
_RUST_EXTRA_LOWER = {
    0x1C89: 0x1C8A, 0xA7CB: 0x0264, 0xA7CC: 0xA7CD, 0xA7CE: 0xA7CF,
    0xA7D2: 0xA7D3, 0xA7D4: 0xA7D5, 0xA7DA: 0xA7DB, 0xA7DC: 0x019B,
}
for _i in range(0x10D50, 0x10D66):      # Garay capital -> small
    _RUST_EXTRA_LOWER[_i] = _i + 0x20
for _i in range(0x16EA0, 0x16EB9):      # Beria Erfe capital -> small
    _RUST_EXTRA_LOWER[_i] = _i + 0x1B


def rust_lower(s):
    """Approximation of Rust's str::to_lowercase (see G3)."""
    return s.lower().translate(_RUST_EXTRA_LOWER)


# ---------------------------------------------------------------------------
# Section 1: reading a file into lines
# ---------------------------------------------------------------------------
def read_lines(path):
    """Return the list of processed lines (str) of a file, in order.
    Lines over the byte limit are returned as None (skipped)."""
    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    pieces = data.split(b"\n")
    # The last piece is either b"" (file ends with \n) or an unterminated
    # final line: not processed in either case.
    complete = pieces[:-1]
    lines = []
    for raw in complete:
        if len(raw) > MAX_LINE_BYTES:
            lines.append(None)
            continue
        text = raw.decode("utf-8", "replace")
        if text.endswith("\r"):
            text = text[:-1]
        text = text.rstrip(BLANKS)
        lines.append(text)
    return lines


# ---------------------------------------------------------------------------
# Section 2.1: envelope
# ---------------------------------------------------------------------------
ENVELOPE_RE = re.compile(
    r"[ \t]*"
    r"(?:"
    r"(?P<h>[0-9]{1,2}):(?P<mi>[0-9]{2}):(?P<s>[0-9]{2})"
    r"|"
    r"(?P<Y>[0-9]{4})-(?P<Mo>[0-9]{2})-(?P<D>[0-9]{2})"
    r"T(?P<dh>[0-9]{2}):(?P<dmi>[0-9]{2}):(?P<ds>[0-9]{2})"
    r"(?:Z|[+-][0-9]{2}:[0-9]{2})?"
    r")"
    r" \((?P<daemon>[^ \t)]+)\)[ \t]*(?P<msg>.*)",
    re.DOTALL,
)


def make_ordinal(year, month, day):
    """Date ordinal, or None if the date does not exist."""
    try:
        return datetime.date(year, month, day).toordinal()
    except ValueError:
        return None


def time_to_secs(h, mi, s):
    if 0 <= h <= 23 and 0 <= mi <= 59 and 0 <= s <= 59:
        return h * 3600 + mi * 60 + s
    return None


class Record:
    """One enveloped line."""
    __slots__ = ("secs", "daemon", "msg", "anchor")

    def __init__(self, secs, daemon, msg, anchor):
        self.secs = secs          # time of day in seconds
        self.daemon = daemon
        self.msg = msg
        self.anchor = anchor      # date ordinal if this line is an anchor, else None


def parse_envelope(line):
    """Return a Record, or None if the line is skipped."""
    m = ENVELOPE_RE.fullmatch(line)
    if m is None:
        return None
    daemon = m.group("daemon")
    msg = m.group("msg")
    if m.group("h") is not None:
        secs = time_to_secs(int(m.group("h")), int(m.group("mi")), int(m.group("s")))
        if secs is None:
            return None
        anchor = message_anchor(msg)
        return Record(secs, daemon, msg, anchor)
    # -datestamp form
    secs = time_to_secs(int(m.group("dh")), int(m.group("dmi")), int(m.group("ds")))
    if secs is None:
        return None
    ordinal = make_ordinal(int(m.group("Y")), int(m.group("Mo")), int(m.group("D")))
    if ordinal is None:
        return None
    return Record(secs, daemon, msg, ordinal)   # the envelope's date wins (D5)


# ---------------------------------------------------------------------------
# Section 2.3: anchors found in a message
# ---------------------------------------------------------------------------
TIMESTAMP_RE = re.compile(r"TIMESTAMP[ \t]+([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})", re.DOTALL)
BANNER_DATE_RE = re.compile(r"\(([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})\)\Z", re.DOTALL)
_WEEKDAYS = "Mon|Tue|Wed|Thu|Fri|Sat|Sun"
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun",
           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
DATE_TEXT = (
    r"(?:" + _WEEKDAYS + r") (?P<mon>" + "|".join(_MONTHS) + r") "
    r"(?P<day>[0-9]{1,2}) (?P<year>[0-9]{4}) "
    r"(?P<hh>[0-9]{2}):(?P<mm>[0-9]{2}):(?P<ss>[0-9]{2})(?: .*)?"
)
SYSTEM_DATE_RE = re.compile(r"Server's System Date and Time: " + DATE_TEXT, re.DOTALL)
SLOG_DATE_RE = re.compile(
    r"\(@[^ \t)]+-SLOG@\) (?:Start-Date|Time|Reread time): " + DATE_TEXT, re.DOTALL)


def ascii_lower(s):
    return "".join(c.lower() if c < "\x80" else c for c in s)


def is_banner(msg):
    """The lmgrd banner (2.3), by its textual form (date validity not required)."""
    low = ascii_lower(msg[:17])
    if not (low.startswith("flexlm") or low.startswith("flexnet licensing")):
        return False
    if " started on " not in msg:
        return False
    return BANNER_DATE_RE.search(msg) is not None


def message_anchor(msg):
    """Date ordinal if the message (of a non -datestamp line) is an anchor."""
    m = TIMESTAMP_RE.fullmatch(msg)
    if m:
        return make_ordinal(int(m.group(3)), int(m.group(1)), int(m.group(2)))
    if is_banner(msg):
        m = BANNER_DATE_RE.search(msg)
        return make_ordinal(int(m.group(3)), int(m.group(1)), int(m.group(2)))
    for rx in (SYSTEM_DATE_RE, SLOG_DATE_RE):
        m = rx.fullmatch(msg)
        if m:
            if time_to_secs(int(m.group("hh")), int(m.group("mm")), int(m.group("ss"))) is None:
                return None
            month = _MONTHS.index(m.group("mon")) + 1
            return make_ordinal(int(m.group("year")), month, int(m.group("day")))
    return None


# ---------------------------------------------------------------------------
# Section 2.2: usage messages
# ---------------------------------------------------------------------------
KEYWORDS = [
    ("OUT:", "out"),
    ("IN:", "in"),
    ("DENIED:", "denied"),
    ("UNSUPPORTED:", "unsupported"),
    ("QUEUED:", "queued"),
    ("DEQUEUED:", "dequeued"),
    ("UPGRADE:", "upgrade"),
]


def skip_blanks(s, i):
    while i < len(s) and s[i] in BLANKS:
        i += 1
    return i


def field_end(s, i):
    """Index where the user@host field starting at i ends (C3)."""
    while i < len(s):
        if s[i] in BLANKS and i + 1 < len(s) and s[i + 1] in BLANKS:
            return i
        if s[i] == " " and (s.startswith("[", i + 1) or s.startswith("(", i + 1)
                            or s.startswith("^^^", i + 1)):
            return i
        i += 1
    return i


def parse_usage(msg):
    """None if not a usage message; otherwise (kind, ok, feature, user, host),
    ok False for a malformed line."""
    kind = None
    for kw, k in KEYWORDS:
        if msg.startswith(kw):
            kind = k
            i = len(kw)
            break
    if kind is None:
        return None
    malformed = (kind, False, None, None, None)
    s = msg
    i = skip_blanks(s, i)
    # feature
    if i < len(s) and s[i] == '"':
        j = s.find('"', i + 1)
        if j < 0:
            return malformed
        feature = s[i + 1:j]
        i = j + 1
    else:
        j = i
        while j < len(s) and s[j] not in BLANKS:
            j += 1
        feature = s[i:j]
        i = j
    i = skip_blanks(s, i)
    # optional parenthesised group (balanced, C2)
    if i < len(s) and s[i] == "(":
        depth = 0
        j = i
        close = -1
        while j < len(s):
            if s[j] == "(":
                depth += 1
            elif s[j] == ")":
                depth -= 1
                if depth == 0:
                    close = j
                    break
            j += 1
        if close < 0:
            return malformed
        i = skip_blanks(s, close + 1)
    # user@host field
    end = field_end(s, i)
    fld = s[i:end]
    at = fld.rfind("@")
    if at >= 0:
        user, host = fld[:at], fld[at + 1:]
    else:
        user, host = fld, ""
    if user.startswith("OBF_STRT: "):
        user = user[len("OBF_STRT: "):]
    if user.endswith(" :END_OBF"):
        user = user[:-len(" :END_OBF")]
    if user == "":
        return malformed
    return (kind, True, feature, user, host)


# ---------------------------------------------------------------------------
# Section 2.5: session resets
# ---------------------------------------------------------------------------
EXITED_RE = re.compile(r"([^ \t]+) exited with status(?:[ \t]|\Z)", re.DOTALL)
STARTED_RE = re.compile(r"(?:Started|REStarted) ([^ \t]+) \(", re.DOTALL)

ALL = object()   # reset scope: every session of the server


def reset_scope(rec):
    """None, ALL, or a daemon name whose sessions end at this line."""
    msg = rec.msg
    if is_banner(msg):
        return ALL
    if msg.startswith("EXITING") or msg.startswith("Lost connection to lmgrd"):
        return ALL if rec.daemon == "lmgrd" else rec.daemon
    if rec.daemon == "lmgrd":
        m = EXITED_RE.match(msg) or STARTED_RE.match(msg)
        if m:
            return m.group(1)
    return None


# ---------------------------------------------------------------------------
# Section 2.4: dating the lines of one file
# ---------------------------------------------------------------------------
def date_file(records):
    """records: the file's Records in order.  Returns a list of
    (date_ordinal, secs, Record) for the dated lines, in file order."""
    out = []
    held = []
    D = None
    T = None
    for rec in records:
        if rec.anchor is not None:
            if D is None and held:
                # backward dating of the held lines (mirror rule)
                dates = [None] * len(held)
                Db = rec.anchor
                L = rec.secs
                for k in range(len(held) - 1, -1, -1):
                    t = held[k].secs
                    if t > L + THREE_HOURS:
                        Db -= 1
                        L = t
                        dates[k] = Db
                    elif t < L - TWENTY_ONE_HOURS:
                        dates[k] = Db + 1
                    else:
                        dates[k] = Db
                        L = min(L, t)
                for k, h in enumerate(held):
                    out.append((dates[k], h.secs, h))
                held = []
            D = rec.anchor
            T = rec.secs
            out.append((D, rec.secs, rec))
        elif D is None:
            held.append(rec)
        else:
            t = rec.secs
            if t < T - THREE_HOURS:
                D += 1
                T = t
                out.append((D, t, rec))
            elif t > T + TWENTY_ONE_HOURS:
                out.append((D - 1, t, rec))
            else:
                out.append((D, t, rec))
                T = max(T, t)
    # held lines of a file that never had an anchor stay undated: dropped
    return out


# ---------------------------------------------------------------------------
# Section 3: sessions, per server
# ---------------------------------------------------------------------------
def merge_files(dated_files):
    """Stream merge: smallest instant first, ties to the file listed first."""
    heap = []
    for fi, lines in enumerate(dated_files):
        if lines:
            d, t, _ = lines[0]
            heap.append((d * SECONDS_PER_DAY + t, fi, 0))
    heapq.heapify(heap)
    while heap:
        inst, fi, pos = heapq.heappop(heap)
        yield inst, dated_files[fi][pos][2]
        if pos + 1 < len(dated_files[fi]):
            d, t, _ = dated_files[fi][pos + 1]
            heapq.heappush(heap, (d * SECONDS_PER_DAY + t, fi, pos + 1))


class Tally:
    def __init__(self, identity_mode, fold_case, count_unsupported):
        self.identity_mode = identity_mode
        self.fold_case = fold_case
        self.count_unsupported = count_unsupported
        self.used = {}      # date ordinal -> set of identities
        self.denied = {}    # date ordinal -> set of identities
        self.sessions = []  # (open_inst, close_inst, user, host), close >= open

    def identity(self, user, host):
        if self.identity_mode == "user":
            return user
        return (user, host)

    def add(self, table, day, ident):
        table.setdefault(day, set()).add(ident)

    def process_server(self, dated_files):
        latest = None
        for lines in dated_files:
            for d, t, _ in lines:
                inst = d * SECONDS_PER_DAY + t
                if latest is None or inst > latest:
                    latest = inst
        # open sessions: key (daemon, feature, user, host) -> FIFO list of open instants
        open_sessions = {}

        def close(key, open_inst, close_inst):
            if close_inst < open_inst:
                close_inst = open_inst
            self.sessions.append((open_inst, close_inst, key[2], key[3]))

        for inst, rec in merge_files(dated_files):
            day = inst // SECONDS_PER_DAY
            scope = reset_scope(rec)
            if scope is not None:
                for key in list(open_sessions):
                    if scope is ALL or key[0] == scope:
                        for open_inst in open_sessions[key]:
                            close(key, open_inst, inst)
                        del open_sessions[key]
            u = parse_usage(rec.msg)
            if u is None:
                continue
            kind, ok, feature, user, host = u
            if not ok:
                continue
            if self.fold_case:
                user = rust_lower(user)
                host = rust_lower(host)
            ident = self.identity(user, host)
            key = (rec.daemon, feature, user, host)
            if kind == "out":
                self.add(self.used, day, ident)
                open_sessions.setdefault(key, []).append(inst)
            elif kind == "in":
                self.add(self.used, day, ident)
                fifo = open_sessions.get(key)
                if fifo:
                    open_inst = fifo.pop(0)
                    close(key, open_inst, inst)
                    if not fifo:
                        del open_sessions[key]
            elif kind == "upgrade":
                self.add(self.used, day, ident)
            elif kind == "denied":
                self.add(self.denied, day, ident)
            elif kind == "unsupported":
                if self.count_unsupported:
                    self.add(self.denied, day, ident)
            # queued / dequeued: nothing
        # still open: up to the latest instant seen in any file of the server
        for key, fifo in open_sessions.items():
            for open_inst in fifo:
                close(key, open_inst, latest)

    def finish(self):
        """Sessions count in used(d) on every day they touch (G1);
        returns ucch per day (G4)."""
        for open_inst, close_inst, user, host in self.sessions:
            ident = self.identity(user, host)
            for day in range(open_inst // SECONDS_PER_DAY, close_inst // SECONDS_PER_DAY + 1):
                self.add(self.used, day, ident)
        # concurrent hosts
        per_host = {}
        for open_inst, close_inst, user, host in self.sessions:
            if host == "":
                continue
            per_host.setdefault(host, []).append((open_inst, close_inst))
        events = {}
        for host, ivs in per_host.items():
            ivs.sort()
            merged = []
            for a, b in ivs:
                if merged and a <= merged[-1][1] + 1:
                    if b > merged[-1][1]:
                        merged[-1][1] = b
                else:
                    merged.append([a, b])
            for a, b in merged:
                events[a] = events.get(a, 0) + 1
                events[b + 1] = events.get(b + 1, 0) - 1
        ucch = {}
        points = sorted(events)
        count = 0
        for idx, p in enumerate(points):
            count += events[p]
            if count > 0:
                q = points[idx + 1]        # exists: every +1 has a later -1
                for day in range(p // SECONDS_PER_DAY, (q - 1) // SECONDS_PER_DAY + 1):
                    if ucch.get(day, 0) < count:
                        ucch[day] = count
        return ucch


# ---------------------------------------------------------------------------
# Section 4: rows
# ---------------------------------------------------------------------------
def parse_cli_date(s, name):
    m = re.fullmatch(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", s)
    ordinal = make_ordinal(int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None
    if ordinal is None:
        print(f"error: bad {name} date {s!r} (want YYYY-MM-DD)", file=sys.stderr)
        sys.exit(2)
    return ordinal


def build_rows(tally, ucch, model, sd, ed):
    used, denied = tally.used, tally.denied
    data_days = sorted(d for d in set(used) | set(denied)
                       if used.get(d) or denied.get(d))
    if sd is None:
        if not data_days:
            return []
        sd = data_days[0]
    if sd > ed:
        print("error: sd ({}) is after ed ({})".format(
            datetime.date.fromordinal(sd).isoformat(),
            datetime.date.fromordinal(ed).isoformat()), file=sys.stderr)
        sys.exit(2)

    # 2019 uct: cumulative union over all days x <= d (whole history)
    cumulative_days = []
    cumulative_counts = []
    running = set()
    for d in data_days:
        running |= used.get(d, set())
        running |= denied.get(d, set())
        cumulative_days.append(d)
        cumulative_counts.append(len(running))

    rows = []
    for d in range(sd, ed + 1):
        u = used.get(d, set())
        dn = denied.get(d, set())
        if model == "2019":
            k = bisect.bisect_right(cumulative_days, d)
            uct = cumulative_counts[k - 1] if k > 0 else 0
            ucdy = len(u | dn)
        else:
            window = set()
            for x in range(d - 13, d + 1):
                window |= used.get(x, set())
            uct = len(window)
            ucdy = len(u)
        rows.append({
            "ucd": datetime.date.fromordinal(d).isoformat(),
            "uct": uct,
            "ucdy": ucdy,
            "ucde": len(dn),
            "ucch": ucch.get(d, 0),
        })
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description="Reference Realtime Users Count")
    ap.add_argument("--server", action="append", default=[], metavar="NAME=PATH[,PATH...]")
    ap.add_argument("--model", choices=["2019", "2013"], default="2019")
    ap.add_argument("--sd")
    ap.add_argument("--ed")
    ap.add_argument("--today")
    ap.add_argument("--user-identity", choices=["user", "user@host"], default="user")
    ap.add_argument("--fold-case", action="store_true")
    ap.add_argument("--count-unsupported", action="store_true")
    args = ap.parse_args(argv)

    servers = {}   # name -> list of paths, in order (dict keeps insertion order)
    for spec in args.server:
        name, eq, paths = spec.partition("=")
        if not eq or not name or not paths:
            print(f"error: bad --server {spec!r} (want NAME=PATH[,PATH...])", file=sys.stderr)
            sys.exit(2)
        servers.setdefault(name, []).extend(p for p in paths.split(",") if p != "")

    today = parse_cli_date(args.today, "--today") if args.today else datetime.date.today().toordinal()
    ed = parse_cli_date(args.ed, "--ed") if args.ed else today
    sd = parse_cli_date(args.sd, "--sd") if args.sd else None

    tally = Tally(args.user_identity, args.fold_case, args.count_unsupported)
    for name, paths in servers.items():
        dated_files = []
        for path in paths:
            try:
                lines = read_lines(path)
            except OSError as e:
                print(f"error: cannot read {path}: {e}", file=sys.stderr)
                sys.exit(2)
            records = []
            for line in lines:
                if line is None:
                    continue
                rec = parse_envelope(line)
                if rec is not None:
                    records.append(rec)
            dated_files.append(date_file(records))
        tally.process_server(dated_files)
    ucch = tally.finish()

    rows = build_rows(tally, ucch, args.model, sd, ed)
    envelope = {"success": True, "msg": "", "code": None,
                "totalCount": len(rows), "data": rows}
    out = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False) + "\n"
    sys.stdout.buffer.write(out.encode("utf-8"))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
