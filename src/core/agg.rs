//! The aggregation core: sessions, per-day `used` / `denied` bitmaps and host activity
//! (contract, sections 3 and 4). Pure: events in, per-day figures out.

use super::names::Interner;
use super::open::OpenTable;
use crate::core::names::{bytes_eq, decode};
use lmtally_parsers::date::{day_of, instant, Day, Instant, DAY_SECS};
use roaring::RoaringBitmap;
use rustc_hash::{FxHashMap, FxHasher};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hasher;
use std::ops::Range;
use std::sync::atomic::AtomicBool;

/// Host id of a session whose user@host field had no host.
pub const NO_HOST: u32 = u32::MAX;

/// Host ids must fit the 30 bits of a packed span.
const MAX_HOSTS: u32 = 1 << 30;

/// What a user identity is (contract, section 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum UserIdentity {
    #[default]
    User,
    UserAtHost,
}

/// The counting options of section 4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Options {
    pub user_identity: UserIdentity,
    pub fold_case: bool,
    pub count_unsupported_as_denial: bool,
}

/// The usage kinds that can change a count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    Out,
    In,
    Upgrade,
    Denied,
    Unsupported,
}

/// A line that matters to the report, with its names interned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    Usage {
        kind: Kind,
        daemon: u32,
        feature: u32,
        user: u32,
        host: u32,
        ident: u32,
    },
    /// Ends the open sessions of a daemon of the server (`None`: all of them).
    Reset { daemon: Option<u32> },
}

/// The name tables. `words` holds daemons, features and user names (session keys), `hosts` the
/// hosts (dense ids for host activity), `idents` the user identities (bitmap members). The
/// caches only save lookups; they are rebuilt, empty, after deserializing.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Names {
    pub words: Interner,
    pub hosts: Interner,
    pub idents: IdentTable,
    #[serde(skip)]
    cache: NameCache,
}

/// User identities as dense ids. An identity is a user name or a (user, host) pair, both already
/// interned, so identities are kept as id maps, not as strings a second time.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct IdentTable {
    /// user word id → identity id (`u32::MAX`: none yet), for identity = user.
    by_user: Vec<u32>,
    /// (user word id, host id) → identity id, for identity = user@host.
    #[serde(with = "pair_map")]
    by_pair: FxHashMap<(u32, u32), u32>,
    count: u32,
}

mod pair_map {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        m: &FxHashMap<(u32, u32), u32>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut v: Vec<((u32, u32), u32)> = m.iter().map(|(k, v)| (*k, *v)).collect();
        v.sort_unstable();
        s.collect_seq(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<FxHashMap<(u32, u32), u32>, D::Error> {
        let v: Vec<((u32, u32), u32)> = Vec::deserialize(d)?;
        Ok(v.into_iter().collect())
    }
}

impl IdentTable {
    /// The number of distinct identities.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn of_user(&mut self, user: u32) -> u32 {
        let u = user as usize;
        if self.by_user.len() <= u {
            self.by_user.resize(u + 1, u32::MAX);
        }
        if self.by_user[u] == u32::MAX {
            self.by_user[u] = self.count;
            self.count += 1;
        }
        self.by_user[u]
    }

    fn of_pair(&mut self, user: u32, host: u32) -> u32 {
        let next = self.count;
        let id = *self.by_pair.entry((user, host)).or_insert(next);
        if id == next {
            self.count += 1;
        }
        id
    }
}

/// Lookups that repeat on almost every line.
#[derive(Clone, Debug, Default)]
struct NameCache {
    /// Daemons and features, raw bytes → word id.
    words: WordCache,
    /// Raw (user, host) bytes → their ids: one lookup instead of three on most lines.
    pairs: PairCache,
}

/// A bounded, direct-mapped table from the raw bytes of a short user and host to
/// (user id, host id, identity id): on most lines, one cache line read instead of three lookups.
/// Each slot is one cache line, so a batch of lines can prefetch the slots it will read
/// ([`Names::prefetch_pair`]) and wait for memory once, not once per line.
#[derive(Clone, Debug)]
struct PairCache {
    slots: Box<[PairSlot]>,
}

const PAIR_BYTES: usize = 48;
const PAIR_SLOTS: usize = 1 << 17;

/// A raw user and host as the pair cache keys them. Built once per line, when the line is
/// parsed, so that the lookup compares fixed-size keys (no copy, no variable-length compare).
#[derive(Clone, Copy, Debug, Eq)]
#[repr(C)]
pub struct PairKey {
    /// User length, host length; (0, 0) only in an empty slot (a user is never empty).
    ulen: u8,
    hlen: u8,
    /// The user's bytes, then the host's, then zeros.
    bytes: [u8; PAIR_BYTES],
}

impl PairKey {
    /// `None` when the user is empty or the pair too long to cache.
    pub fn new(user: &[u8], host: &[u8]) -> Option<PairKey> {
        if user.is_empty() || user.len() + host.len() > PAIR_BYTES {
            return None;
        }
        let mut bytes = [0u8; PAIR_BYTES];
        bytes[..user.len()].copy_from_slice(user);
        bytes[user.len()..user.len() + host.len()].copy_from_slice(host);
        Some(PairKey {
            ulen: user.len() as u8,
            hlen: host.len() as u8,
            bytes,
        })
    }

    pub fn user(&self) -> &[u8] {
        &self.bytes[..self.ulen as usize]
    }

    pub fn host(&self) -> &[u8] {
        &self.bytes[self.ulen as usize..(self.ulen + self.hlen) as usize]
    }

    /// The hash that [`Names::prefetch_pair`] and [`Names::usage`] take.
    pub fn hash(&self) -> u64 {
        // Each word multiplied by its own odd constant, the products folded together: the
        // multiplications do not wait for one another (a streaming hash chains them), and the
        // slot index is ready sooner for the prefetch.
        const K: [u64; PAIR_BYTES / 8] = [
            0x9E37_79B9_7F4A_7C15,
            0xC2B2_AE3D_27D4_EB4F,
            0x1656_67B1_9E37_79F9,
            0x85EB_CA77_C2B2_AE63,
            0x27D4_EB2F_1656_67C5,
            0xD6E8_FEB8_6659_FD93,
        ];
        let mut h = u64::from(self.ulen) << 8 | u64::from(self.hlen);
        for (w, k) in self.bytes.chunks_exact(8).zip(K) {
            let w = u64::from_le_bytes(w.try_into().unwrap_or_default());
            h ^= (w ^ k).wrapping_mul(k).rotate_left(29);
        }
        h ^= h >> 32;
        h.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
}

impl PartialEq for PairKey {
    /// Word by word, inline (a derived compare calls `memcmp` for the 48 bytes).
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        let word = |c: &[u8]| u64::from_le_bytes(c.try_into().unwrap_or_default());
        let diff = self
            .bytes
            .chunks_exact(8)
            .zip(other.bytes.chunks_exact(8))
            .fold(0u64, |acc, (a, b)| acc | (word(a) ^ word(b)));
        self.ulen == other.ulen && self.hlen == other.hlen && diff == 0
    }
}

#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct PairSlot {
    ids: (u32, u32, u32),
    key: PairKey,
}

const EMPTY_PAIR: PairSlot = PairSlot {
    ids: (0, 0, 0),
    key: PairKey {
        ulen: 0,
        hlen: 0,
        bytes: [0; PAIR_BYTES],
    },
};

impl Default for PairCache {
    /// Empty: the slots (8 MiB) are allocated by the first insert, so that a `Names` made for
    /// a few lines (a file's first instant, a test) does not pay for them.
    fn default() -> Self {
        PairCache {
            slots: Box::default(),
        }
    }
}

impl PairCache {
    #[inline]
    fn index(hash: u64) -> usize {
        (hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - PAIR_SLOTS.trailing_zeros())) as usize
    }

    #[inline]
    fn prefetch(&self, hash: u64) {
        if let Some(s) = self.slots.get(Self::index(hash)) {
            crate::core::prefetch(s);
        }
    }

    #[inline]
    fn get(&self, hash: u64, key: &PairKey) -> Option<(u32, u32, u32)> {
        let s = self.slots.get(Self::index(hash))?;
        (s.key == *key).then_some(s.ids)
    }

    fn insert(&mut self, hash: u64, key: &PairKey, ids: (u32, u32, u32)) {
        if self.slots.is_empty() {
            self.slots = crate::core::huge_vec(PAIR_SLOTS, EMPTY_PAIR).into_boxed_slice();
        }
        self.slots[Self::index(hash)] = PairSlot { ids, key: *key };
    }
}

/// A direct-mapped cache from the raw bytes of a short daemon or feature name to its word id.
/// A server has a few dozen of them, so almost every lookup is one hashed slot and one compare.
#[derive(Clone, Debug)]
struct WordCache {
    slots: Box<[WordSlot]>,
}

const WORD_BYTES: usize = 27;
const WORD_SLOTS: usize = 256;

#[derive(Clone, Copy, Debug, Default)]
struct WordSlot {
    id: u32,
    /// 0: empty (an empty name is never cached).
    len: u8,
    bytes: [u8; WORD_BYTES],
}

impl Default for WordCache {
    fn default() -> Self {
        WordCache {
            slots: vec![WordSlot::default(); WORD_SLOTS].into_boxed_slice(),
        }
    }
}

impl WordCache {
    #[inline]
    fn slot(bytes: &[u8]) -> usize {
        let mut h = FxHasher::default();
        h.write(bytes);
        (h.finish() >> 32) as usize % WORD_SLOTS
    }

    #[inline]
    fn get(&self, bytes: &[u8]) -> Option<u32> {
        if bytes.is_empty() || bytes.len() > WORD_BYTES {
            return None;
        }
        let s = &self.slots[Self::slot(bytes)];
        (s.len as usize == bytes.len() && bytes_eq(&s.bytes[..bytes.len()], bytes)).then_some(s.id)
    }

    fn insert(&mut self, bytes: &[u8], id: u32) {
        if bytes.is_empty() || bytes.len() > WORD_BYTES {
            return;
        }
        let s = &mut self.slots[Self::slot(bytes)];
        s.id = id;
        s.len = bytes.len() as u8;
        s.bytes[..bytes.len()].copy_from_slice(bytes);
    }
}

impl Names {
    pub fn reindex(&mut self) {
        self.words.reindex();
        self.hosts.reindex();
        self.cache = NameCache::default();
    }

    /// Interns the user and host of a usage line whose daemon and feature are already
    /// interned ([`Names::word`]). `None` when the host table is full (a counted skip).
    /// `pair`: the user and host as a cache key and its hash, when they are short enough.
    #[allow(clippy::too_many_arguments)]
    pub fn usage(
        &mut self,
        opts: &Options,
        kind: Kind,
        daemon: u32,
        feature: u32,
        user: &[u8],
        host: &[u8],
        pair: Option<(&PairKey, u64)>,
    ) -> Option<Event> {
        let (user, host, ident) = match pair {
            Some((key, hash)) => match self.cache.pairs.get(hash, key) {
                Some(ids) => ids,
                None => {
                    let ids = self.user_host(opts, user, host)?;
                    self.cache.pairs.insert(hash, key, ids);
                    ids
                }
            },
            None => self.user_host(opts, user, host)?,
        };
        Some(Event::Usage {
            kind,
            daemon,
            feature,
            user,
            host,
            ident,
        })
    }

    /// Starts loading what [`Names::usage`] will read first for a pair of this hash.
    #[inline]
    pub fn prefetch_pair(&self, hash: u64) {
        self.cache.pairs.prefetch(hash);
    }

    /// (user word id, host id, identity id) of a raw user and host.
    fn user_host(&mut self, opts: &Options, user: &[u8], host: &[u8]) -> Option<(u32, u32, u32)> {
        let user_s = decode(user, opts.fold_case);
        let host_id = if host.is_empty() {
            NO_HOST
        } else {
            let host_s = decode(host, opts.fold_case);
            match self.hosts.get(&host_s) {
                Some(id) => id,
                None if (self.hosts.len() as u32) < MAX_HOSTS => self.hosts.intern(&host_s),
                None => return None,
            }
        };
        let user_id = self.words.intern(&user_s);
        let ident = match opts.user_identity {
            UserIdentity::User => self.idents.of_user(user_id),
            UserIdentity::UserAtHost => self.idents.of_pair(user_id, host_id),
        };
        Some((user_id, host_id, ident))
    }

    /// Interns a daemon or feature name (never case-folded: only user and host names are).
    pub fn word(&mut self, bytes: &[u8]) -> u32 {
        if let Some(id) = self.cache.words.get(bytes) {
            return id;
        }
        let s: Cow<'_, str> = decode(bytes, false);
        let id = self.words.intern(&s);
        self.cache.words.insert(bytes, id);
        id
    }
}

/// One open session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Open {
    pub at: Instant,
    pub ident: u32,
}

/// (daemon, feature, user, host): with the server, the key of a session.
pub type SessionKey = (u32, u32, u32, u32);

/// A server's sessions and the latest instant seen in any of its files.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ServerState {
    pub latest: Option<Instant>,
    /// Open sessions per key, oldest first (a checkin closes the one opened first).
    pub open: OpenTable,
}

/// A span of host activity within one day, packed as host (30 bits) | first second (17 bits) |
/// last second (17 bits), both seconds included. Sorting packed spans sorts by host, then start.
#[inline]
pub fn pack_span(host: u32, start: u32, end: u32) -> u64 {
    ((host as u64) << 34) | ((start as u64) << 17) | end as u64
}

#[inline]
pub fn unpack_span(s: u64) -> (u32, u32, u32) {
    (
        (s >> 34) as u32,
        ((s >> 17) & 0x1FFFF) as u32,
        (s & 0x1FFFF) as u32,
    )
}

/// Sorts spans and merges, per host, the ones that overlap or touch.
pub fn compact_spans(spans: &mut Vec<u64>) {
    compact_spans_from(spans, 0);
}

/// [`compact_spans`] of spans whose first `sorted` are already compacted (a day settled
/// before, that got the ends of a few sessions since): only the rest is sorted, then merged.
fn compact_spans_from(spans: &mut Vec<u64>, sorted: usize) {
    if sorted >= spans.len() {
        return;
    }
    if sorted == 0 {
        sort_spans(spans);
    } else {
        spans[sorted..].sort_unstable();
        // Two sorted runs: the stable sort finds them and merges them in one pass.
        spans.sort();
    }
    let mut out = 0usize;
    for i in 0..spans.len() {
        let (h, s, e) = unpack_span(spans[i]);
        if out > 0 {
            let (ph, ps, pe) = unpack_span(spans[out - 1]);
            if ph == h && s <= pe + 1 {
                spans[out - 1] = pack_span(h, ps, pe.max(e));
                continue;
            }
        }
        spans[out] = pack_span(h, s, e);
        out += 1;
    }
    spans.truncate(out);
}

/// Sorts packed spans by host, then first second (the order of spans that share both does not
/// matter to compaction, which merges them): a radix sort of 11-bit digits above the last
/// second, skipping the digits that all spans share (the top bits of host ids).
fn sort_spans(v: &mut Vec<u64>) {
    if v.len() < 1024 {
        v.sort_unstable();
    } else {
        radix_sort(v, |x| x, 17..64);
    }
}

/// Sorts stably by the bits `bits` of `key`: counting passes of 11-bit digits, least
/// significant first, skipping a digit that every value shares.
fn radix_sort<T: Copy + Default>(v: &mut Vec<T>, key: impl Fn(T) -> u64, bits: Range<u32>) {
    const DIGIT: u32 = 11;
    const MASK: u64 = (1 << DIGIT) - 1;
    let mut tmp = vec![T::default(); v.len()];
    let mut shift = bits.start;
    while shift < bits.end {
        let digit = |x: T| ((key(x) >> shift) & MASK) as usize;
        let mut at = [0usize; (1 << DIGIT) + 1];
        for &x in v.iter() {
            at[digit(x) + 1] += 1;
        }
        if !at.contains(&v.len()) {
            for i in 0..(1 << DIGIT) {
                at[i + 1] += at[i];
            }
            for &x in v.iter() {
                let d = digit(x);
                tmp[at[d]] = x;
                at[d] += 1;
            }
            std::mem::swap(v, &mut tmp);
        }
        shift += DIGIT;
    }
}

/// The largest number of distinct hosts active in one second, over spans of one day.
pub fn peak_hosts(spans: &[u64]) -> u32 {
    if spans.is_empty() {
        return 0;
    }
    let mut spans = spans.to_vec();
    compact_spans(&mut spans);
    peak_of_compacted(&spans)
}

/// [`peak_hosts`] of spans that [`compact_spans`] left: a host's spans are disjoint, so the
/// peak is the largest number of spans over one second.
fn peak_of_compacted(spans: &[u64]) -> u32 {
    // Each span is two events: +1 at its first second, -1 at the second after its last. Codes
    // put, within a second, the ends before the starts (a span that ends at 49 and one that
    // starts at 50 never overlap).
    let mut events: Vec<u32> = Vec::with_capacity(2 * spans.len());
    for &s in spans {
        let (_, start, end) = unpack_span(s);
        events.push((start << 1) | 1);
        events.push((end + 1) << 1);
    }
    sort_codes(&mut events);
    let (mut cur, mut best) = (0u32, 0u32);
    for e in events {
        if e & 1 == 1 {
            cur += 1;
            best = best.max(cur);
        } else {
            // Saturating: a span read back from a damaged store may end before it starts.
            cur = cur.saturating_sub(1);
        }
    }
    best
}

/// Sorts event codes, which are below 2^20 (seconds take 17 bits, plus one, shifted by one).
fn sort_codes(v: &mut Vec<u32>) {
    debug_assert!(v.iter().all(|&c| c < 1 << 20));
    if v.len() < 256 {
        v.sort_unstable();
    } else {
        radix_sort(v, u64::from, 0..20);
    }
}

/// Identities held back from a bitmap at most (then they are put in).
const PENDING: usize = 4096;

fn add_pending(set: &mut RoaringBitmap, pending: &mut Vec<u32>, ident: u32) {
    pending.push(ident);
    if pending.len() >= PENDING {
        flush_pending(set, pending);
    }
}

fn flush_pending(set: &mut RoaringBitmap, pending: &mut Vec<u32>) {
    if pending.is_empty() {
        return;
    }
    pending.sort_unstable();
    pending.dedup();
    // Sorted and distinct: `from_sorted_iter` cannot fail.
    if let Ok(add) = RoaringBitmap::from_sorted_iter(pending.iter().copied()) {
        *set |= add;
    }
    pending.clear();
    pending.shrink_to_fit();
}

fn with_pending<'a>(set: &'a RoaringBitmap, pending: &[u32]) -> Cow<'a, RoaringBitmap> {
    if pending.is_empty() {
        Cow::Borrowed(set)
    } else {
        let mut all = set.clone();
        all.extend(pending.iter().copied());
        Cow::Owned(all)
    }
}

/// Spans a day holds before its first compaction (see [`DayAgg::add_span`]).
const SPANS_UNCOMPACTED: usize = 1 << 16;

/// What one day holds.
#[derive(Clone, Debug, Default)]
pub struct DayAgg {
    /// The identities that used a license, read with [`DayAgg::used`].
    used: RoaringBitmap,
    /// The identities denied one, read with [`DayAgg::denied`].
    denied: RoaringBitmap,
    /// Identities added since the last flush, not yet in `used` / `denied`: put in by the
    /// thousand, sorted (one at a time, in random order, each insert into a roaring array
    /// container moves half of it).
    pending_used: Vec<u32>,
    pending_denied: Vec<u32>,
    /// Host activity of closed sessions (packed spans), read with [`DayAgg::spans`].
    spans: Vec<u64>,
    /// The first `compacted` spans are compacted (sorted and merged per host).
    compacted: usize,
    /// `peak_hosts(spans)`, when `peak_fresh`.
    peak: u32,
    peak_fresh: bool,
}

impl DayAgg {
    pub fn from_parts(used: RoaringBitmap, denied: RoaringBitmap, mut spans: Vec<u64>) -> Self {
        compact_spans(&mut spans);
        let peak = peak_of_compacted(&spans);
        DayAgg {
            used,
            denied,
            pending_used: Vec::new(),
            pending_denied: Vec::new(),
            compacted: spans.len(),
            spans,
            peak,
            peak_fresh: true,
        }
    }

    /// Adds a span. `settled`: the day is not the one the lines are on, so it grows by little
    /// (a day already compacted gets only the ends of sessions that crossed its midnight, and
    /// doubling its vector for them would double the memory of every past day).
    fn add_span(&mut self, span: u64, settled: bool) {
        if settled && self.spans.len() == self.spans.capacity() {
            self.spans.reserve_exact(self.spans.len() / 8 + 16);
        }
        self.spans.push(span);
        self.peak_fresh = false;
        // Compacted now and then (a host's sessions of a day merge into few spans), so that a
        // day of millions of sessions does not hold a span for each until it is settled. Not
        // before 64k spans (512 KiB): an ordinary day is compacted once, when the lines leave
        // it, with one radix sort instead of comparison sorts of its growing tail.
        if self.spans.len() >= 4 * self.compacted + SPANS_UNCOMPACTED {
            compact_spans_from(&mut self.spans, self.compacted);
            self.compacted = self.spans.len();
        }
    }

    /// The identities that used a license this day.
    pub fn used(&self) -> Cow<'_, RoaringBitmap> {
        with_pending(&self.used, &self.pending_used)
    }

    /// The identities denied a license this day.
    pub fn denied(&self) -> Cow<'_, RoaringBitmap> {
        with_pending(&self.denied, &self.pending_denied)
    }

    fn add_used(&mut self, ident: u32) {
        add_pending(&mut self.used, &mut self.pending_used, ident);
    }

    fn add_denied(&mut self, ident: u32) {
        add_pending(&mut self.denied, &mut self.pending_denied, ident);
    }

    /// Host activity of closed sessions (packed spans, not necessarily compacted).
    pub fn spans(&self) -> &[u64] {
        &self.spans
    }

    /// Peak concurrent hosts of the closed sessions.
    pub fn peak(&self) -> u32 {
        if self.peak_fresh {
            self.peak
        } else {
            peak_hosts(&self.spans)
        }
    }

    /// Compacts the spans and caches the peak.
    pub fn settle(&mut self) {
        self.compact();
        if !self.peak_fresh {
            self.peak = peak_of_compacted(&self.spans);
            self.peak_fresh = true;
        }
    }

    /// Puts held-back identities in and compacts the spans, without the peak: what a day the
    /// lines have left needs for its memory to shrink (its peak is computed when it settles).
    fn compact(&mut self) {
        flush_pending(&mut self.used, &mut self.pending_used);
        flush_pending(&mut self.denied, &mut self.pending_denied);
        if self.compacted < self.spans.len() {
            compact_spans_from(&mut self.spans, self.compacted);
            self.spans.shrink_to_fit();
            self.compacted = self.spans.len();
        }
    }
}

/// What the open sessions add to the report (see [`Aggregator::open_overlay`]).
#[derive(Clone, Debug, Default)]
pub struct OpenOverlay {
    /// Per day, identities and host spans of the days where open sessions start or reach.
    pub edges: BTreeMap<Day, (RoaringBitmap, Vec<u64>)>,
    /// Whole days covered: (first day, last day, identity, host or [`NO_HOST`]).
    pub full: Vec<(Day, Day, u32, u32)>,
}

/// Per-day aggregates and the sessions of every server.
#[derive(Clone, Debug, Default)]
pub struct Aggregator {
    pub opts: Options,
    pub days: BTreeMap<Day, DayAgg>,
    pub servers: Vec<ServerState>,
    /// Days changed since the last `take_dirty`.
    dirty: BTreeSet<Day>,
    /// The day last added to `dirty` (most events fall on the same day as the one before).
    last_dirty: Option<Day>,
    /// The day of the last line applied.
    stream_day: Option<Day>,
    /// Changed on every change: caches of report rows key on it. Values come from one counter
    /// for the whole process, so a value names one state of one aggregator's content (a tally
    /// swapped for another, or a clone changed apart from its original, never reuses a value).
    generation: u64,
    /// Whether `generation` was read since it was last renewed.
    observed: Observed,
    /// The identities known to be in the `used` (`denied`) set of the day the lines are on: a
    /// repeated line of the day skips the bitmap. Invariant: a marked identity is in that day's
    /// set; anything that changes `days` other than by adding must call
    /// [`Aggregator::touch`], which clears the marks.
    used_marks: Marks,
    denied_marks: Marks,
}

/// A bit per identity, for one day (see `Aggregator::used_marks`): 12.5 kB for 100k users, so
/// that it stays in the processor's cache, where a roaring insert would search a container.
#[derive(Clone, Debug, Default)]
struct Marks {
    day: Option<Day>,
    bits: Vec<u64>,
}

impl Marks {
    /// Whether `ident` is not known to be in day `d`'s set; marks it as known if `d` is the
    /// day of the marks (other days are not remembered).
    #[inline]
    fn first(&mut self, ident: u32, d: Day) -> bool {
        if self.day != Some(d) {
            return true;
        }
        let (word, bit) = (ident as usize / 64, 1u64 << (ident % 64));
        if word >= self.bits.len() {
            self.bits.resize((word + 1).next_power_of_two(), 0);
        }
        let first = self.bits[word] & bit == 0;
        self.bits[word] |= bit;
        first
    }

    /// Forgets every mark and marks for day `d` from now on.
    fn start(&mut self, d: Option<Day>) {
        self.day = d;
        self.bits.fill(0);
    }
}

/// A flag that clones as "observed" on both sides: a clone and its original that change apart
/// both take new generations.
#[derive(Debug, Default)]
struct Observed(AtomicBool);

impl Clone for Observed {
    fn clone(&self) -> Self {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
        Observed(AtomicBool::new(true))
    }
}

/// The source of [`Aggregator`] generations (0 is left for a default, empty aggregator).
static GENERATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_generation() -> u64 {
    GENERATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Appends the spans of host activity of `[from, to]` (instants, both included) to each day.
fn for_each_day_span(from: Instant, to: Instant, mut f: impl FnMut(Day, u32, u32)) {
    let (d0, d1) = (day_of(from), day_of(to));
    for d in d0..=d1 {
        let start = if d == d0 {
            (from - instant(d, 0)) as u32
        } else {
            0
        };
        let end = if d == d1 {
            (to - instant(d, 0)) as u32
        } else {
            DAY_SECS - 1
        };
        f(d, start, end);
    }
}

impl Aggregator {
    pub fn new(opts: Options) -> Self {
        Aggregator {
            opts,
            generation: next_generation(),
            ..Default::default()
        }
    }

    pub fn generation(&self) -> u64 {
        // A change after this read must take a new value.
        self.observed
            .0
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.generation
    }

    /// Takes a new generation if the current one was handed out (a plain load on the hot path,
    /// instead of a shared counter bump per line).
    #[inline]
    fn changed(&mut self) {
        if *self.observed.0.get_mut() {
            self.generation = next_generation();
            *self.observed.0.get_mut() = false;
        }
    }

    /// Marks a change made other than through [`Aggregator::apply`] (a writer that fills `days`
    /// or `servers` itself, such as a store restoring a checkpoint).
    pub fn touch(&mut self) {
        self.generation = next_generation();
        *self.observed.0.get_mut() = false;
        self.used_marks.start(self.stream_day);
        self.denied_marks.start(self.stream_day);
    }

    /// Adds `ident` to day `d`'s `used` set.
    #[inline]
    fn use_ident(&mut self, d: Day, ident: u32) {
        if self.used_marks.first(ident, d) {
            self.with_day(d, |day| day.add_used(ident));
        }
    }

    /// Adds `ident` to day `d`'s `denied` set.
    #[inline]
    fn deny_ident(&mut self, d: Day, ident: u32) {
        if self.denied_marks.first(ident, d) {
            self.with_day(d, |day| day.add_denied(ident));
        }
    }

    /// Runs `f` on day `d`'s aggregate (made if missing) and marks the day dirty.
    #[inline]
    fn with_day<R>(&mut self, d: Day, f: impl FnOnce(&mut DayAgg) -> R) -> R {
        if self.last_dirty != Some(d) {
            self.dirty.insert(d);
            self.last_dirty = Some(d);
        }
        // Lines are almost always on the latest day: reached down the map's right edge, without
        // the key comparisons of a search.
        if let Some(mut last) = self.days.last_entry() {
            if *last.key() == d {
                return f(last.get_mut());
            }
        }
        f(self.days.entry(d).or_default())
    }

    /// Days changed since the last call (for a store that writes only what changed).
    pub fn take_dirty(&mut self) -> BTreeSet<Day> {
        self.last_dirty = None;
        std::mem::take(&mut self.dirty)
    }

    /// Marks a day as changed again (a store whose write failed keeps it for the next one).
    pub fn mark_dirty(&mut self, d: Day) {
        self.dirty.insert(d);
    }

    pub fn server_mut(&mut self, server: usize) -> &mut ServerState {
        if self.servers.len() <= server {
            self.servers.resize_with(server + 1, ServerState::default);
        }
        &mut self.servers[server]
    }

    /// Starts loading what [`Aggregator::apply`] will look up first for `event` (the open
    /// session of its key), so that the lookups of a batch of lines wait for memory together.
    #[inline]
    pub fn prefetch(&self, server: usize, event: &Event) {
        if let (
            Some(st),
            Event::Usage {
                kind: Kind::Out | Kind::In,
                daemon,
                feature,
                user,
                host,
                ..
            },
        ) = (self.servers.get(server), event)
        {
            st.open.prefetch((*daemon, *feature, *user, *host));
        }
    }

    /// Takes one dated line of `server` at instant `at`: `None` for a line that only moves time.
    pub fn apply(&mut self, server: usize, at: Instant, event: Option<Event>) {
        self.changed();
        let st = self.server_mut(server);
        st.latest = Some(st.latest.map_or(at, |l| l.max(at)));
        let day = day_of(at);
        if self.stream_day != Some(day) {
            // The lines moved to another day: compact the one they left, so that a long run
            // keeps no slack but the current day's.
            if let Some(prev) = self.stream_day.and_then(|p| self.days.get_mut(&p)) {
                prev.compact();
            }
            self.stream_day = Some(day);
            self.used_marks.start(Some(day));
            self.denied_marks.start(Some(day));
        }
        let Some(event) = event else { return };
        match event {
            Event::Usage {
                kind,
                daemon,
                feature,
                user,
                host,
                ident,
            } => {
                let key = (daemon, feature, user, host);
                match kind {
                    Kind::Out => {
                        self.use_ident(day, ident);
                        self.servers[server].open.push(key, Open { at, ident });
                    }
                    Kind::In => {
                        self.use_ident(day, ident);
                        if let Some(first) = self.servers[server].open.pop_oldest(key) {
                            self.close(first, host, at);
                        }
                    }
                    Kind::Upgrade => {
                        self.use_ident(day, ident);
                    }
                    Kind::Denied => {
                        self.deny_ident(day, ident);
                    }
                    Kind::Unsupported => {
                        if self.opts.count_unsupported_as_denial {
                            self.deny_ident(day, ident);
                        }
                    }
                }
            }
            Event::Reset { daemon } => {
                let mut closed: Vec<(Open, u32)> = self.servers[server]
                    .open
                    .drain_where(|key| daemon.is_none_or(|d| key.0 == d))
                    .into_iter()
                    .map(|(key, o)| (o, key.3))
                    .collect();
                // Close in a fixed order, so that results never depend on table order.
                closed.sort_by_key(|(o, h)| (o.at, *h, o.ident));
                for (o, host) in closed {
                    self.close(o, host, at);
                }
            }
        }
    }

    /// Ends a session at `at` (or at its opening instant, if the clock stepped back).
    fn close(&mut self, o: Open, host: u32, at: Instant) {
        let end = at.max(o.at);
        let current = self.stream_day;
        for_each_day_span(o.at, end, |d, s, e| {
            self.use_ident(d, o.ident);
            if host != NO_HOST {
                self.with_day(d, |day| {
                    day.add_span(pack_span(host, s, e), current != Some(d))
                });
            }
        });
    }

    /// Caches every day's peak (after a batch of events; the report is right without it, only
    /// slower).
    pub fn settle(&mut self) {
        for d in self.days.values_mut() {
            d.settle();
        }
    }

    /// The sessions still open, as they stand now: each lasts to the latest instant of its server.
    /// Their first and last days are returned per day (the identities they add to `used` and the
    /// spans they add); the whole days between, which a session covers from 0:00:00 to 23:59:59,
    /// as ranges `(first, last, identity, host)`, so that a session open for years costs one
    /// range, not a value per day.
    pub fn open_overlay(&self) -> OpenOverlay {
        let mut overlay = OpenOverlay::default();
        for st in &self.servers {
            let Some(latest) = st.latest else { continue };
            for (key, o) in st.open.iter() {
                let end = latest.max(o.at);
                let (d0, d1) = (day_of(o.at), day_of(end));
                let mut edge = |from: Instant, to: Instant| {
                    for_each_day_span(from, to, |d, s, e| {
                        let entry = overlay.edges.entry(d).or_default();
                        entry.0.insert(o.ident);
                        if key.3 != NO_HOST {
                            entry.1.push(pack_span(key.3, s, e));
                        }
                    })
                };
                if d1 - d0 <= 1 {
                    edge(o.at, end);
                } else {
                    edge(o.at, instant(d0, DAY_SECS - 1));
                    edge(instant(d1, 0), end);
                    overlay.full.push((d0 + 1, d1 - 1, o.ident, key.3));
                }
            }
        }
        overlay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_lines_of_a_day_are_counted_once_and_touch_forgets_the_marks() {
        let mut a = Aggregator::new(Options::default());
        let ev = |kind, ident| {
            Some(Event::Usage {
                kind,
                daemon: 0,
                feature: 1,
                user: 2,
                host: NO_HOST,
                ident,
            })
        };
        let day = 19_000;
        a.apply(0, instant(day, 10), ev(Kind::Denied, 7));
        a.apply(0, instant(day, 11), ev(Kind::Denied, 7));
        a.apply(0, instant(day, 12), ev(Kind::Upgrade, 7));
        a.apply(0, instant(day + 1, 0), ev(Kind::Denied, 7));
        // Back to the first day (a second file of the server): still counted once there.
        a.apply(0, instant(day, 13), ev(Kind::Denied, 8));
        assert_eq!(a.days[&day].denied().iter().collect::<Vec<_>>(), vec![7, 8]);
        assert_eq!(a.days[&day].used().iter().collect::<Vec<_>>(), vec![7]);
        assert_eq!(a.days[&(day + 1)].denied().len(), 1);
        // A store replaces the days (a restore) and says so: the marks must not hide identity 7.
        a.days.clear();
        a.touch();
        a.apply(0, instant(day, 20), ev(Kind::Denied, 7));
        assert_eq!(a.days[&day].denied().iter().collect::<Vec<_>>(), vec![7]);
    }

    #[test]
    fn pair_cache_never_answers_for_another_pair() {
        // More pairs than slots: slots are overwritten, and a lookup must then miss, not return
        // the ids of the pair that took the slot. Pairs that differ only in where user ends and
        // host begins ("ab"@"c" and "a"@"bc") must not be confused either.
        let mut c = PairCache::default();
        let n = 3 * PAIR_SLOTS as u32;
        let key = |i: u32| {
            PairKey::new(
                format!("u{i}").as_bytes(),
                format!("h{}", i % 1000).as_bytes(),
            )
            .unwrap()
        };
        for i in 0..n {
            let k = key(i);
            c.insert(k.hash(), &k, (i, i, i));
        }
        let mut hits = 0;
        for i in 0..n {
            let k = key(i);
            assert_eq!(
                (k.user(), k.host()),
                (
                    format!("u{i}").as_bytes(),
                    format!("h{}", i % 1000).as_bytes()
                )
            );
            if let Some(ids) = c.get(k.hash(), &k) {
                assert_eq!(ids, (i, i, i));
                hits += 1;
            }
        }
        assert!(hits > 0 && hits <= PAIR_SLOTS, "{hits}");
        // The hash spreads names that differ in one character anywhere over the slots as a
        // random one would: 2^16 keys take about 131072 * (1 - e^-0.5) = 51.6k slots.
        let slots: std::collections::HashSet<usize> = (0..1u32 << 16)
            .map(|i| {
                let (a, b) = (i % 256, i / 256);
                let user = format!("user.{:03}.name{}", a, "x".repeat(3));
                let host = format!("DESKTOP-{b:03}XY");
                PairCache::index(
                    PairKey::new(user.as_bytes(), host.as_bytes())
                        .unwrap()
                        .hash(),
                )
            })
            .collect();
        assert!(slots.len() > 50_000, "{}", slots.len());
        let ab_c = PairKey::new(b"ab", b"c").unwrap();
        let a_bc = PairKey::new(b"a", b"bc").unwrap();
        c.insert(ab_c.hash(), &ab_c, (1, 1, 1));
        assert_eq!(c.get(ab_c.hash(), &ab_c), Some((1, 1, 1)));
        assert_ne!(ab_c, a_bc);
        // Even looked up in the slot of the other.
        assert_eq!(c.get(ab_c.hash(), &a_bc), None);
        // Too long to cache, or an empty user: no key.
        assert!(PairKey::new(&[b'x'; PAIR_BYTES], b"h").is_none());
        assert!(PairKey::new(b"", b"h").is_none());
        assert!(PairKey::new(&[b'x'; PAIR_BYTES - 1], b"h").is_some());
    }

    /// Spans of (host, first second, length), cut at the end of the day.
    fn spans_of(raw: &[(u32, u32, u32)]) -> Vec<u64> {
        raw.iter()
            .map(|&(h, s, len)| pack_span(h, s, (s + len).min(DAY_SECS - 1)))
            .collect()
    }

    proptest::proptest! {
        /// The peak against counting distinct hosts second by second, on few spans (a
        /// comparison sort) and on many (the counting sort), spans crossing one another.
        #[test]
        fn peak_is_the_most_hosts_in_one_second(
            raw in proptest::collection::vec((0u32..8, 0u32..86_400, 0u32..3_000), 0..700)
        ) {
            let spans = spans_of(&raw);
            let mut active = vec![0u8; DAY_SECS as usize];
            for &(h, s, len) in &raw {
                for t in s..=(s + len).min(DAY_SECS - 1) {
                    active[t as usize] |= 1 << h;
                }
            }
            let want = active.iter().map(|m| m.count_ones()).max().unwrap_or(0);
            proptest::prop_assert_eq!(peak_hosts(&spans), want);
            let mut day = DayAgg::default();
            for &sp in &spans {
                day.add_span(sp, false);
            }
            day.settle();
            proptest::prop_assert_eq!(day.peak(), want);
            // Settled halfway (the rest comes as ends of sessions that crossed midnight): the
            // compacted half is merged with the rest, not sorted again, to the same result.
            let mut day = DayAgg::default();
            let (first, rest) = spans.split_at(spans.len() / 2);
            for &sp in first {
                day.add_span(sp, false);
            }
            day.settle();
            for &sp in rest {
                day.add_span(sp, true);
            }
            proptest::prop_assert_eq!(day.peak(), want);
            day.settle();
            proptest::prop_assert_eq!(day.peak(), want);
            let mut all = spans.clone();
            compact_spans(&mut all);
            proptest::prop_assert_eq!(day.spans(), &all[..]);
        }
    }

    #[test]
    fn identities_held_back_are_read_and_settled_alike() {
        // More than one flush's worth, in a scrambled order with repeats: what the accessors
        // read before `settle` (held-back identities included) is what they read after.
        let mut day = DayAgg::default();
        let idents: Vec<u32> = (0..3 * PENDING as u32 + 7)
            .map(|i| (i * 7919) % 10_007)
            .collect();
        for &i in &idents {
            day.add_used(i);
            day.add_denied(i / 2);
        }
        let want_used: RoaringBitmap = idents.iter().copied().collect();
        let want_denied: RoaringBitmap = idents.iter().map(|i| i / 2).collect();
        assert!(!day.pending_used.is_empty(), "some are held back");
        assert_eq!(*day.used(), want_used);
        assert_eq!(*day.denied(), want_denied);
        day.settle();
        assert!(day.pending_used.is_empty() && day.pending_denied.is_empty());
        assert!(matches!(day.used(), Cow::Borrowed(_)));
        assert_eq!(*day.used(), want_used);
        assert_eq!(*day.denied(), want_denied);
    }

    proptest::proptest! {
        /// The radix sort orders by host and first second, and compaction after it merges
        /// each host's intervals as a plain interval merge does.
        #[test]
        fn radix_sorted_spans_compact_alike(
            raw in proptest::collection::vec((0u32..200_000, 0u32..86_400, 0u32..2_000), 0..3_000)
        ) {
            let spans = spans_of(&raw);
            let mut radix = spans.clone();
            sort_spans(&mut radix);
            let key = |x: &u64| x >> 17;
            proptest::prop_assert!(radix.windows(2).all(|w| key(&w[0]) <= key(&w[1])));
            // Reference: per host, intervals sorted by start, merged when they overlap or touch.
            let mut by_host: BTreeMap<u32, Vec<(u32, u32)>> = BTreeMap::new();
            for &sp in &spans {
                let (h, st, e) = unpack_span(sp);
                by_host.entry(h).or_default().push((st, e));
            }
            let mut want = Vec::new();
            for (h, mut iv) in by_host {
                iv.sort_unstable();
                let mut cur: Option<(u32, u32)> = None;
                for (st, e) in iv {
                    cur = match cur {
                        Some((cs, ce)) if st <= ce + 1 => Some((cs, ce.max(e))),
                        Some((cs, ce)) => {
                            want.push(pack_span(h, cs, ce));
                            Some((st, e))
                        }
                        None => Some((st, e)),
                    };
                }
                want.extend(cur.map(|(cs, ce)| pack_span(h, cs, ce)));
            }
            let mut got = spans.clone();
            compact_spans(&mut got);
            proptest::prop_assert_eq!(got, want);
        }
    }

    /// A day of many sessions is compacted while it grows (so its memory stays bounded), and
    /// ends up with the spans and peak that compacting all its spans at once gives.
    #[test]
    fn a_busy_day_compacts_as_it_grows_and_settles_alike() {
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            (rng % n) as u32
        };
        let mut day = DayAgg::default();
        let mut all = Vec::new();
        let mut most_held = 0;
        for _ in 0..5 * SPANS_UNCOMPACTED {
            let (h, start) = (next(300), next(82_000));
            let span = pack_span(h, start, start + next(4_000));
            all.push(span);
            day.add_span(span, false);
            most_held = most_held.max(day.spans().len());
        }
        // 300 hosts' spans merge: compactions along the way kept the day far below one span
        // per session.
        assert!(day.compacted > 0);
        assert!(
            most_held < all.len() / 2,
            "held {most_held} of {}",
            all.len()
        );
        let peak = peak_hosts(&all);
        compact_spans(&mut all);
        day.settle();
        assert_eq!(day.spans(), &all[..]);
        assert_eq!(day.peak(), peak);
    }

    #[test]
    fn spans_pack_and_merge_per_host() {
        let mut v = vec![
            pack_span(2, 10, 20),
            pack_span(1, 5, 9),
            pack_span(2, 21, 30),
            pack_span(1, 11, 12),
        ];
        compact_spans(&mut v);
        // Host 1: [5,9] and [11,12] do not touch (10 is free); host 2: [10,20]+[21,30] touch.
        assert_eq!(
            v,
            vec![
                pack_span(1, 5, 9),
                pack_span(1, 11, 12),
                pack_span(2, 10, 30)
            ]
        );
    }

    #[test]
    fn peak_counts_hosts_not_sessions_and_includes_both_ends() {
        // Host 1 twice over [0,100] is one host; host 2 ends at 50, host 3 starts at 50: both
        // active in second 50, so 3 hosts.
        let v = [
            pack_span(1, 0, 100),
            pack_span(1, 0, 100),
            pack_span(2, 0, 50),
            pack_span(3, 50, 60),
        ];
        assert_eq!(peak_hosts(&v), 3);
        // Host 3 starting one second after host 2 ends: 2.
        let v = [
            pack_span(1, 0, 100),
            pack_span(2, 0, 50),
            pack_span(3, 51, 60),
        ];
        assert_eq!(peak_hosts(&v), 2);
        assert_eq!(peak_hosts(&[]), 0);
    }
}
