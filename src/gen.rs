//! Deterministic generator of realistic synthetic FlexLM / FlexNet debug logs.
//!
//! Used by the benchmarks (a 1 GiB log) and by property / model-based tests. Only `std` is used;
//! randomness comes from a seeded SplitMix64, so a given [`GenConfig`] always yields the same bytes.
//!
//! What the output looks like (see `spec/realtime-users-count.md` sections 1-3):
//! * an lmgrd banner (`Server's System Date and Time: ...`, `FlexNet Licensing (...) started on
//!   flexlm01 (IBM PC) (M/D/YYYY)`), `Started MLM (pid N)` and the vendor daemon start-up lines;
//! * `TIMESTAMP M/D/YYYY` lines from lmgrd every 6 h and from the vendor daemon every 6 h 5 min
//!   (they drift, as in real logs); times are ` H:MM:SS` and midnight passes unmarked;
//! * `OUT:` / `IN:` pairs (sessions of seconds to days, crossing midnight, several features at
//!   once, duplicated checkouts, the same user on a second host, HPC bursts on many nodes),
//!   `(N licenses)`, `[checkout data]`, `IN: ... (INACTIVE)`, `DENIED:` (real reasons, sometimes in
//!   bursts of identical lines), `UNSUPPORTED:`, `QUEUED:` / `DEQUEUED:`, `UPGRADE:`;
//! * with `messy = true` also: user names with single spaces and non-ASCII letters, names truncated
//!   to 20 bytes (possibly cutting a UTF-8 character in half), `$` and dots in names, CRLF line ends
//!   on some lines, binary junk, blank lines, envelope-less lines, enveloped continuation lines,
//!   malformed usage lines (unclosed quote, empty user), `OBF_STRT:` markers, SLOG blocks (with
//!   `Time:` anchors and non-anchor `ms at` lines), `lmreread` (`Server started on ...`, not a
//!   reset), vendor daemon restarts (`EXITING DUE TO SIGNAL 15` / `Lost connection to lmgrd` then
//!   `(lmgrd) REStarted MLM (pid N)`) that drop open sessions without IN lines, lmgrd shutdowns
//!   with `IN: ... (SHUTDOWN)` lines and a new banner later, lines a second or two out of order,
//!   a few zero-padded hours (`08:42:25`), an occasional line longer than 64 KiB, and the EU
//!   daylight-saving clock changes (the autumn change makes times step back one hour).
//!
//! All date anchors written are correct, and some line is written at least every ~6 hours
//! (except during a short server outage), so the dating rules of the spec recover the true
//! date of every line.
//!
//! Size: with `target_bytes > 0` generation stops before the line that would exceed the target,
//! so the total is at most `target_bytes` (and short of it by less than one line). With
//! `target_bytes > 0` the number of events per day is scaled so that the log spans `days` days,
//! or, if `days == 0`, about `730 * sqrt(target_bytes / 1 GiB)` days (1 GiB ≈ 2 years, clamped to
//! 1..=1095 days); the log simply continues past that span if bytes remain. With
//! `target_bytes == 0`, exactly the `days` days starting at `start` are generated, with about
//! `min(20 + users, 50000)` activities on an average day. The fixed overhead of a day (TIMESTAMP
//! lines; with `messy`, SLOG blocks every 4 hours, about 25 KB/day) is written whatever the
//! budget, so a very small `target_bytes` spread over many `days` ends before that span.
//!
//! Name `gen` is a reserved keyword from Rust edition 2024 on (`r#gen` there); this crate is 2021.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};

/// Configuration of the generator. Build with `GenConfig { seed: 7, ..Default::default() }`.
#[derive(Clone, Debug)]
pub struct GenConfig {
    /// PRNG seed; same config => same bytes.
    pub seed: u64,
    /// Number of distinct user names to draw from (at least 1).
    pub users: u32,
    /// Number of distinct host names to draw from (at least 1).
    pub hosts: u32,
    /// First day of the log (year, month, day), server-local.
    pub start: (i32, u32, u32),
    /// With `target_bytes == 0`: the number of days generated. With `target_bytes > 0`: the span
    /// the bytes are spread over (0 = automatic, about 2 years for 1 GiB).
    pub days: u32,
    /// Stop at this many bytes (0 = no byte target: generate exactly `days` days).
    pub target_bytes: u64,
    /// Vendor daemon name (the `(MLM)` of the envelope).
    pub daemon: String,
    /// Number of distinct features (at least 1).
    pub features: u32,
    /// Add the oddities of real logs (see module docs).
    pub messy: bool,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            seed: 1,
            users: 50,
            hosts: 40,
            start: (2023, 3, 1),
            days: 5,
            target_bytes: 0,
            daemon: "MLM".to_string(),
            features: 4,
            messy: true,
        }
    }
}

/// Convenience: the whole log as bytes.
pub fn generate(cfg: GenConfig) -> Vec<u8> {
    let mut g = Generator::new(cfg);
    let mut out = Vec::new();
    while g.next_chunk(&mut out) {}
    out
}

// ---------------------------------------------------------------------------------------------
// PRNG

#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut r = Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B);
        r.next();
        r
    }
    #[inline]
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in 0..n (n > 0).
    #[inline]
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }
    /// Uniform in lo..=hi.
    #[inline]
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    #[inline]
    fn f(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    #[inline]
    fn chance(&mut self, p: f64) -> bool {
        self.f() < p
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    /// Log-uniform in [lo, hi].
    fn log_uniform(&mut self, lo: f64, hi: f64) -> i64 {
        (lo.ln() + self.f() * (hi.ln() - lo.ln())).exp() as i64
    }
    /// Exponential with the given mean.
    fn exp(&mut self, mean: f64) -> f64 {
        -(1.0 - self.f()).ln() * mean
    }
}

fn mix(a: u64, b: u64) -> u64 {
    let mut r = Rng(a.rotate_left(17) ^ b.wrapping_mul(0xA24B_AED4_963E_E407));
    r.next()
}

fn fnv64(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h ^= x as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

// ---------------------------------------------------------------------------------------------
// Calendar

fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y as i64 - 1 } else { y as i64 };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    ((y + (m <= 2) as i64) as i32, m as u32, d as u32)
}

/// 0 = Sunday.
fn weekday(days: i64) -> usize {
    (days + 4).rem_euclid(7) as usize
}

const WDAY: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MON: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

// ---------------------------------------------------------------------------------------------
// Formatting helpers (no allocation)

#[inline]
fn push_u(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

#[inline]
fn push_2d(out: &mut Vec<u8>, n: u32) {
    out.push(b'0' + (n / 10) as u8);
    out.push(b'0' + (n % 10) as u8);
}

fn push_0n(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let start = buf.len().saturating_sub(width).min(i);
    out.extend_from_slice(&buf[start..]);
}

// ---------------------------------------------------------------------------------------------
// Name material

const FIRST: &[&str] = &[
    "José",
    "Juan",
    "María",
    "Jesús",
    "Ángel",
    "Íñigo",
    "Begoña",
    "Inés",
    "Álvaro",
    "Raúl",
    "Lucía",
    "Andrés",
    "Sofía",
    "Martín",
    "Óscar",
    "Nuria",
    "Pablo",
    "Carmen",
    "Javier",
    "Marta",
    "Felicia",
    "Cristian",
    "Elena",
    "Sergio",
    "Laura",
    "Diego",
    "Irene",
    "Víctor",
    "Mónica",
    "Iván",
    "Zoë",
    "Björn",
    "Søren",
    "Łukasz",
    "François",
    "Jürgen",
    "Chloé",
    "Håkon",
    "Dmitri",
    "Mª Cruz",
    "Wei",
    "Hiroshi",
    "Luis",
    "Miguel",
    "Antonio",
    "Francisco",
    "Manuel",
    "David",
    "Daniel",
    "Carlos",
    "Rafael",
    "Alejandro",
    "Fernando",
    "Pedro",
    "Ana",
    "Isabel",
    "Pilar",
    "Rosa",
    "Teresa",
    "Cristina",
    "Patricia",
    "Beatriz",
    "Rocío",
    "Noelia",
    "Ramón",
    "Joaquín",
    "Adrián",
    "Rubén",
    "Héctor",
    "Aitor",
];

const SURNAME: &[&str] = &[
    "García",
    "Fernández",
    "González",
    "Rodríguez",
    "López",
    "Martínez",
    "Sánchez",
    "Pérez",
    "Gómez",
    "Martín",
    "Jiménez",
    "Ruiz",
    "Hernández",
    "Díaz",
    "Moreno",
    "Muñoz",
    "Álvarez",
    "Romero",
    "Alonso",
    "Gutiérrez",
    "Navarro",
    "Torres",
    "Domínguez",
    "Vázquez",
    "Ramos",
    "Gil",
    "Ramírez",
    "Serrano",
    "Blanco",
    "Molina",
    "Morales",
    "Suárez",
    "Ortega",
    "Delgado",
    "Castro",
    "Ortiz",
    "Rubio",
    "Marín",
    "Sanz",
    "Núñez",
    "Iglesias",
    "Medina",
    "Garrido",
    "Cortés",
    "Castillo",
    "Santos",
    "Lozano",
    "Guerrero",
    "Cano",
    "Prieto",
    "Méndez",
    "Cruz",
    "Calvo",
    "Gallego",
    "Vidal",
    "León",
    "Márquez",
    "Herrera",
    "Peña",
    "Flores",
    "Cabrera",
    "Campos",
    "Vega",
    "Fuentes",
    "Carrasco",
    "Diez",
    "Caballero",
    "Reyes",
    "Nieto",
    "Aguilar",
    "Pascual",
    "Santana",
    "Herrero",
    "Lorenzo",
    "Hidalgo",
    "Montero",
    "Ibáñez",
    "Giménez",
    "Ferrer",
    "Durán",
    "Santiago",
    "Benítez",
    "Mora",
    "Vicente",
    "Vargas",
    "Arias",
    "Carmona",
    "Crespo",
    "Román",
    "Pastor",
    "Soto",
    "Sáez",
    "Velasco",
    "Moya",
    "Soler",
    "Parra",
    "Esteban",
    "Bravo",
    "Gallardo",
    "Rojas",
    "Galera",
    "Garrigues",
    "Müller",
    "Schröder",
    "Øvergård",
    "Kowalski",
    "Nguyen",
    "Smith",
    "Johnson",
    "Grañal",
    "Piñeiro",
    "Zúñiga",
];

const GENERIC_ACCOUNTS: &[&str] = &[
    "alu-escuela",
    "alumno",
    "practicas",
    "general",
    "usuario",
    "topografia",
    "lab-user",
    "becario",
    "invitado",
    "docente",
    "Alumno",
    "General",
    "Usuario",
    "User",
    "estudiante",
    "aula",
];

const UPPER_CODES: &[&str] = &[
    "UPM", "USER", "ETSII", "ALU", "LAB", "ADMIN", "TFG", "SATCOM", "PFC",
];

const LAB_PREFIX: &[&str] = &[
    "LIBRE-",
    "B",
    "DIB",
    "Practicas-A-",
    "AULA3-PC",
    "LAB-",
    "CC",
    "A2-",
    "INF-",
    "ccsup",
];

const DEPTS: &[&str] = &["mech", "ee", "cs", "phys", "chem", "civil", "aero", "math"];

const MLM_FEATURES: &[&str] = &[
    "MATLAB",
    "SIMULINK",
    "Statistics_Toolbox",
    "Signal_Toolbox",
    "Optimization_Toolbox",
    "MATLAB_Distrib_Comp_Engine*",
    "Image_Toolbox",
    "Control_Toolbox",
    "Curve_Fitting_Toolbox",
    "Symbolic_Toolbox",
    "Distrib_Computing_Toolbox",
    "MAP_Toolbox",
    "Neural_Network_Toolbox",
    "Simscape",
    "Stateflow",
    "Fixed_Point_Toolbox",
    "Signal_Blocks",
    "Filter_Design_HDL_Coder",
    "SimDriveline",
    "Power_System_Blocks",
    "Communication_Toolbox",
    "Wavelet_Toolbox",
    "PDE_Toolbox",
    "Robust_Toolbox",
    "Financial_Toolbox",
    "Econometrics_Toolbox",
    "Aerospace_Toolbox",
    "MATLAB_Coder",
    "Compiler",
    "RTW_Embedded_Coder",
];

const GENERIC_FEATURES: &[&str] = &[
    "base",
    "pathway_base",
    "flow_base",
    "hpc_pack*",
    "solver",
    "pre_post",
    "meshing",
    "viewer",
    "cfd_base",
    "struct_base",
    "acfd",
    "hfsshpc*",
    "a_spaceclaim_dirmod",
    "aa_r",
    "aa_mcad",
    "64300ACD_F",
    "87545ACD_2022_0F",
];

const BOGUS_FEATURES: &[&str] = &[
    "MATLAB_Online_Server",
    "Simulink_Real_Time",
    "87537INVPROSA_2022_0F",
    "Parallel_Server",
    "pathway_base_old",
];

const DENY_REASONS: &[(&str, u32)] = &[
    ("Licensed number of users already reached. (-4,342)", 40),
    (
        "Licensed number of users already reached. (-4,342:10054 \"Connection reset by peer\")",
        10,
    ),
    (
        "Licensed number of users already reached. (-4,342:10054 )",
        5,
    ),
    ("User/host on EXCLUDE list for feature. (-38,349)", 15),
    ("All licenses are reserved for others. (-101,147)", 8),
    (
        "License server system does not support this feature. (-18,327)",
        10,
    ),
    ("Feature has expired. (-10,32)", 6),
    ("Invalid host. (-9,57)", 6),
];

const PLEASE_NOTE: &[&str] = &[
    "-----------------------------------------------",
    "  Please Note:",
    "",
    "  This log is intended for debug purposes only.",
    "  In order to capture accurate license",
    "  usage data into an organized repository,",
    "  please enable report logging. Use Flexera's",
    "  software license administration  solution,",
    "  FlexNet Manager, to  readily gain visibility",
    "  into license usage data and to create",
    "  insightful reports on critical information like",
    "  license availability and usage. FlexNet Manager",
    "  can be fully automated to run these reports on",
    "  schedule and can be used to track license",
    "  servers and usage across a heterogeneous",
    "  network of servers including Windows NT, Linux",
    "  and UNIX.",
    "",
    "-----------------------------------------------",
    "",
    "",
];

fn fold_char(c: char) -> Option<&'static str> {
    Some(match c {
        'á' | 'à' | 'ä' | 'â' | 'å' | 'Á' | 'À' | 'Ä' | 'Å' => "a",
        'é' | 'è' | 'ë' | 'ê' | 'É' => "e",
        'í' | 'ì' | 'ï' | 'Í' => "i",
        'ó' | 'ò' | 'ö' | 'ô' | 'ø' | 'Ó' | 'Ö' | 'Ø' => "o",
        'ú' | 'ù' | 'ü' | 'Ú' | 'Ü' => "u",
        'ñ' | 'Ñ' => "n",
        'ç' => "c",
        'ł' | 'Ł' => "l",
        'ª' => "a",
        _ => return None,
    })
}

/// ASCII-folded, lower-cased, letters only ("Mª Cruz" -> "macruz").
fn ascii_login(s: &str) -> String {
    let mut r = String::with_capacity(s.len());
    for c in s.chars() {
        if let Some(f) = fold_char(c) {
            r.push_str(f);
        } else if c.is_ascii_alphabetic() {
            r.push(c.to_ascii_lowercase());
        }
    }
    r
}

fn push_letters(r: &mut Rng, s: &mut Vec<u8>, n: usize, upper: bool) {
    for _ in 0..n {
        let base = if upper { b'A' } else { b'a' };
        s.push(base + r.below(26) as u8);
    }
}

fn push_alnum_upper(r: &mut Rng, s: &mut Vec<u8>, n: usize) {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for _ in 0..n {
        s.push(A[r.below(A.len() as u64) as usize]);
    }
}

/// One candidate user name for (seed, idx, attempt) into `s`. Returns false if unusable.
fn make_user(seed: u64, idx: u32, attempt: u32, messy: bool, s: &mut Vec<u8>) -> bool {
    s.clear();
    let mut r = Rng::new(mix(mix(seed ^ 0x05E5, idx as u64), attempt as u64));
    const W_MESSY: [u32; 8] = [20, 16, 8, 16, 12, 6, 10, 12];
    const W_CLEAN: [u32; 8] = [24, 20, 10, 0, 16, 0, 14, 16];
    let w = if messy { &W_MESSY } else { &W_CLEAN };
    let total: u32 = w.iter().sum();
    let mut x = r.below(total as u64) as u32;
    let mut style = 0;
    while x >= w[style] {
        x -= w[style];
        style += 1;
    }
    let first = *r.pick(FIRST);
    let sur = *r.pick(SURNAME);
    let sur2 = *r.pick(SURNAME);
    match style {
        0 => {
            // lopezrmo
            s.extend_from_slice(ascii_login(sur).as_bytes());
            let n = 1 + r.below(3) as usize;
            push_letters(&mut r, s, n, false);
            if attempt > 0 {
                push_u(s, r.below(100));
            }
        }
        1 => {
            // s422722
            s.push(*r.pick(b"strumpx"));
            push_0n(s, r.below(1_000_000), 6);
        }
        2 => {
            // javier, Javier, cristian12
            let mut f = ascii_login(first);
            if r.chance(0.3) {
                f[..1].make_ascii_uppercase();
            }
            s.extend_from_slice(f.as_bytes());
            if attempt > 0 {
                push_u(s, r.below(1000));
            }
        }
        3 => {
            // José Juan Galera, María José Fernández Muñoz (truncated to 20 bytes later)
            s.extend_from_slice(first.as_bytes());
            if r.chance(0.3) {
                s.push(b' ');
                s.extend_from_slice(r.pick(FIRST).as_bytes());
            }
            s.push(b' ');
            s.extend_from_slice(sur.as_bytes());
            if r.chance(0.5) {
                s.push(b' ');
                s.extend_from_slice(sur2.as_bytes());
            }
        }
        4 => {
            // jaime.garrigues.calvo (-> jaime.garrigues.calv), luismiguel.ibanez$
            s.extend_from_slice(ascii_login(first).as_bytes());
            if r.chance(0.2) {
                let extra_first = *r.pick(FIRST);
                s.extend_from_slice(ascii_login(extra_first).as_bytes());
            }
            s.push(b'.');
            s.extend_from_slice(ascii_login(sur).as_bytes());
            if r.chance(0.5) {
                s.push(b'.');
                s.extend_from_slice(ascii_login(sur2).as_bytes());
            }
            if attempt > 0 {
                push_u(s, r.below(100));
            }
            if messy && r.chance(0.1) {
                if s.len() >= 20 {
                    s.truncate(19);
                }
                s.push(b'$');
            }
        }
        5 => {
            // grañalfj, muñozjl: accented lower-case login
            s.extend_from_slice(sur.to_lowercase().as_bytes());
            let n = 1 + r.below(3) as usize;
            push_letters(&mut r, s, n, false);
            if attempt > 0 {
                push_u(s, r.below(100));
            }
        }
        6 => {
            // UPM, USER07, ETSII0042
            s.extend_from_slice(r.pick(UPPER_CODES).as_bytes());
            if attempt > 0 || r.chance(0.9) {
                let w = 2 + r.below(4) as usize;
                push_0n(s, r.below(10u64.pow(w as u32)), w);
            }
        }
        _ => {
            // alu-escuela, alumno23, practicas-07
            s.extend_from_slice(r.pick(GENERIC_ACCOUNTS).as_bytes());
            if attempt > 0 || r.chance(0.85) {
                if r.chance(0.5) {
                    s.push(b'-');
                }
                push_0n(s, r.below(1000), 2);
            }
        }
    }
    if s.len() > 20 {
        if messy {
            s.truncate(20); // FlexLM truncates user names to 20 bytes, UTF-8 or not
        } else {
            return false;
        }
    }
    !s.is_empty()
}

fn make_host(seed: u64, idx: u32, attempt: u32, messy: bool, s: &mut Vec<u8>) -> bool {
    s.clear();
    let mut r = Rng::new(mix(mix(seed ^ 0x4057, idx as u64), attempt as u64));
    const W: [u32; 7] = [25, 20, 12, 20, 10, 8, 5];
    let mut x = r.below(W.iter().sum::<u32>() as u64) as u32;
    let mut style = 0;
    while x >= W[style] {
        x -= W[style];
        style += 1;
    }
    match style {
        0 => {
            s.extend_from_slice(b"DESKTOP-");
            push_alnum_upper(&mut r, s, 7);
        }
        1 => {
            s.extend_from_slice(r.pick(LAB_PREFIX).as_bytes());
            let n = r.below(if attempt > 1 { 1000 } else { 60 });
            push_0n(s, n, 2);
        }
        2 => match r.below(3) {
            0 => {
                s.push(b'r');
                push_u(s, 1 + r.below(9));
                s.push(b'n');
                push_u(s, 1 + r.below(199));
                s.extend_from_slice(b".hpc.lan");
            }
            1 => {
                s.extend_from_slice(b"nyx");
                push_u(s, 1000 + r.below(9000));
                s.extend_from_slice(b".arc-ts.umich.edu");
            }
            _ => {
                s.extend_from_slice(b"node");
                push_0n(s, r.below(1000), 3);
                s.extend_from_slice(b".cluster.local");
            }
        },
        3 => match r.below(4) {
            0 => {
                s.extend_from_slice(b"upm");
                push_0n(s, r.below(100_000), 5);
            }
            1 => {
                s.extend_from_slice(b"etsidi");
                push_0n(s, r.below(100_000), 5);
            }
            2 => {
                s.extend_from_slice(b"COMPUTER");
                push_0n(s, r.below(1000), 2);
            }
            _ => {
                s.extend_from_slice(b"PC");
                push_0n(s, r.below(10_000), 4);
            }
        },
        4 => {
            let first = *r.pick(FIRST);
            let name: String = if messy && r.chance(0.5) {
                first.replace(' ', "")
            } else {
                let mut a = ascii_login(first);
                if r.chance(0.5) {
                    a[..1].make_ascii_uppercase();
                }
                a
            };
            match r.below(3) {
                0 => {
                    s.extend_from_slice(name.as_bytes());
                    s.extend_from_slice(b"-PC");
                }
                1 => {
                    s.extend_from_slice(b"MacBook-Pro-de-");
                    s.extend_from_slice(name.as_bytes());
                }
                _ => {
                    s.extend_from_slice(name.as_bytes());
                    s.extend_from_slice(b"s-MBP");
                }
            }
            if attempt > 0 {
                s.push(b'-');
                push_u(s, r.below(100));
            }
        }
        5 => {
            s.extend_from_slice(b"ws");
            push_0n(s, r.below(10_000), 4);
            s.push(b'.');
            s.extend_from_slice(r.pick(DEPTS).as_bytes());
            s.extend_from_slice(b".uni.edu");
        }
        _ => {
            s.extend_from_slice(b"LAPTOP-");
            push_alnum_upper(&mut r, s, 8);
        }
    }
    true
}

/// Builds `n` distinct names (distinct after lossy UTF-8 decoding) into an arena.
fn build_names(
    n: u32,
    seed: u64,
    messy: bool,
    make: fn(u64, u32, u32, bool, &mut Vec<u8>) -> bool,
    fallback: &str,
) -> (Vec<u8>, Vec<u32>) {
    let mut arena = Vec::with_capacity(n as usize * 12);
    let mut offs = Vec::with_capacity(n as usize + 1);
    offs.push(0u32);
    let mut seen: HashSet<u64> = HashSet::with_capacity(n as usize * 2);
    let mut s = Vec::with_capacity(64);
    for idx in 0..n {
        let mut ok = false;
        for attempt in 0..8 {
            if make(seed, idx, attempt, messy, &mut s) {
                let key = fnv64(String::from_utf8_lossy(&s).as_bytes());
                if seen.insert(key) {
                    ok = true;
                    break;
                }
            }
        }
        if !ok {
            // Guaranteed-unique form no style produces.
            s.clear();
            s.extend_from_slice(fallback.as_bytes());
            push_u(&mut s, idx as u64);
            seen.insert(fnv64(&s));
        }
        arena.extend_from_slice(&s);
        offs.push(arena.len() as u32);
    }
    (arena, offs)
}

// ---------------------------------------------------------------------------------------------
// Scheduled events

const K_OUT: u8 = 0; // deferred OUT; schedules its IN at `close`
const K_IN: u8 = 1;
const K_UPGRADE: u8 = 2; // lic -> close as new count
const K_DEQ: u8 = 3; // DEQUEUED; with F_GET also a checkout (close = duration end)
const K_DENY: u8 = 4; // repeated DENIED line; lic = reason index
const K_LAUNCH: u8 = 5; // a later retry that succeeds

const F_INACTIVE: u8 = 1;
const F_CKDATA: u8 = 2;
const F_OBF: u8 = 4;
const F_GET: u8 = 8;
const F_UNQ: u8 = 16;

#[derive(Clone, Copy)]
struct Ev {
    t: i64,
    seq: u64,
    close: i64,
    user: u32,
    host: u32,
    feat: u16,
    lic: u16,
    kind: u8,
    flags: u8,
}

impl PartialEq for Ev {
    fn eq(&self, o: &Self) -> bool {
        self.t == o.t && self.seq == o.seq
    }
}
impl Eq for Ev {}
impl PartialOrd for Ev {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Ev {
    // Reversed: BinaryHeap is a max-heap, we want the earliest (t, seq) on top.
    fn cmp(&self, o: &Self) -> Ordering {
        o.t.cmp(&self.t).then(o.seq.cmp(&self.seq))
    }
}

// Periodic / rare events
const P_TS_L: usize = 0; // lmgrd TIMESTAMP
const P_TS_V: usize = 1; // vendor TIMESTAMP
const P_SLOG: usize = 2; // vendor SLOG statistics block
const P_VRESTART: usize = 3; // vendor daemon dies
const P_SHUTDOWN: usize = 4; // lmgrd shutdown
const P_REREAD: usize = 5; // lmreread
const P_LONG: usize = 6; // a line over 64 KiB
const P_UP: usize = 7; // end of an outage
const NP: usize = 8;

const NEVER: i64 = i64::MAX;
const CHUNK: usize = 256 * 1024;
const HOUR_W: [f64; 24] = [
    0.15, 0.10, 0.08, 0.07, 0.07, 0.10, 0.30, 0.80, 2.00, 3.00, 3.20, 3.00, 2.60, 1.80, 2.00, 2.60,
    2.70, 2.30, 1.60, 1.00, 0.80, 0.60, 0.40, 0.25,
];
const WDAY_F: [f64; 7] = [0.25, 1.0, 1.05, 1.05, 1.0, 0.9, 0.35];
const MONTH_F: [f64; 12] = [
    0.9, 1.0, 1.05, 1.0, 1.05, 1.0, 0.8, 0.4, 0.95, 1.05, 1.05, 0.7,
];
const MEAN_F: f64 = 0.73;
const SERVER: &[u8] = b"flexlm01";

/// Streaming generator; see the module docs.
pub struct Generator {
    cfg: GenConfig,
    rng: Rng,
    daemon: Vec<u8>,
    users: u32,
    hosts: u32,
    user_arena: Vec<u8>,
    user_offs: Vec<u32>,
    host_arena: Vec<u8>,
    host_offs: Vec<u32>,
    feat_arena: Vec<u8>,
    feat_offs: Vec<u32>,
    feat_pack: Vec<bool>,
    nfeat: u32, // real features; bogus ones follow
    host_mul: u64,
    host_mul2: u64,
    host_off: u64,
    host_off2: u64,
    hour_cdf: [f64; 24],

    heap: BinaryHeap<Ev>,
    seq: u64,
    per: [i64; NP],
    up_is_lmgrd: bool,
    down_until: i64,
    arrivals: Vec<i64>,
    arr_idx: usize,
    day_k: i64, // index (from day0) of the day `arrivals` belongs to
    day0: i64,
    end_day: i64, // local day number at which generation stops (target_bytes == 0)
    span_days: f64,
    daily_budget: f64,
    base_rate: f64,
    arrivals_done: u64,
    written: u64,
    now: i64,
    started: bool,
    finished: bool,
    pending_crlf: bool,
    vendor_pid: u64,
    lmgrd_pid: u64,
    vd_restarts: u32,
    recent: [(i64, u32, u32); 10],
    recent_i: usize,
    peak_conn: u64,

    // caches
    dst_lo: i64,
    dst_hi: i64,
    dst_start: i64,
    dst_end: i64,
    day_cache: i64,
    date_cache: (i32, u32, u32),
}

impl Generator {
    pub fn new(cfg: GenConfig) -> Self {
        let users = cfg.users.max(1);
        let hosts = cfg.hosts.max(1);
        let nfeat = cfg.features.clamp(1, 60_000);
        let mut rng = Rng::new(cfg.seed);
        let (user_arena, user_offs) = build_names(users, cfg.seed, cfg.messy, make_user, "usr_");
        let (host_arena, host_offs) = build_names(hosts, cfg.seed, cfg.messy, make_host, "host-");

        let list = if cfg.daemon == "MLM" {
            MLM_FEATURES
        } else {
            GENERIC_FEATURES
        };
        let mut feat_arena = Vec::new();
        let mut feat_offs = vec![0u32];
        let mut feat_pack = Vec::new();
        for i in 0..nfeat as usize {
            if i < list.len() {
                let f = list[i];
                let pack = f.ends_with('*');
                feat_arena.extend_from_slice(f.trim_end_matches('*').as_bytes());
                feat_pack.push(pack);
            } else {
                feat_arena.extend_from_slice(b"Feature_");
                push_0n(&mut feat_arena, i as u64, 3);
                feat_pack.push(i % 9 == 8);
            }
            feat_offs.push(feat_arena.len() as u32);
        }
        for b in BOGUS_FEATURES {
            feat_arena.extend_from_slice(b.as_bytes());
            feat_offs.push(feat_arena.len() as u32);
            feat_pack.push(false);
        }

        let coprime = |mut m: u64, n: u64| {
            fn gcd(a: u64, b: u64) -> u64 {
                if b == 0 {
                    a
                } else {
                    gcd(b, a % b)
                }
            }
            m %= n.max(1);
            if m == 0 {
                m = 1;
            }
            while gcd(m, n) != 1 {
                m += 1;
            }
            m
        };
        let h = hosts as u64;
        let host_mul = coprime(2_654_435_761 + rng.below(1000), h);
        let host_mul2 = coprime(40_503 + rng.below(1000), h);
        let host_off = rng.below(h);
        let host_off2 = rng.below(h);

        let mut hour_cdf = [0.0; 24];
        let mut acc = 0.0;
        for (i, w) in HOUR_W.iter().enumerate() {
            acc += w;
            hour_cdf[i] = acc;
        }

        let day0 = days_from_civil(cfg.start.0, cfg.start.1, cfg.start.2);
        let span_days = if cfg.target_bytes > 0 {
            if cfg.days > 0 {
                cfg.days as f64
            } else {
                (730.0 * (cfg.target_bytes as f64 / (1u64 << 30) as f64).sqrt())
                    .round()
                    .clamp(1.0, 1095.0)
            }
        } else {
            cfg.days as f64
        };
        let daily_budget = if cfg.target_bytes > 0 {
            cfg.target_bytes as f64 / span_days
        } else {
            0.0
        };
        let base_rate = (20.0 + users as f64).min(50_000.0);
        let end_day = if cfg.target_bytes > 0 {
            i64::MAX
        } else {
            day0 + cfg.days as i64
        };

        let now = day0 * 86_400 + rng.range(7 * 3600, 10 * 3600);
        let daemon = if cfg.daemon.is_empty() {
            b"MLM".to_vec()
        } else {
            cfg.daemon.clone().into_bytes()
        };
        let vendor_pid = 1000 + rng.below(8000);
        let lmgrd_pid = 1000 + rng.below(8000);

        let mut g = Generator {
            cfg,
            rng,
            daemon,
            users,
            hosts,
            user_arena,
            user_offs,
            host_arena,
            host_offs,
            feat_arena,
            feat_offs,
            feat_pack,
            nfeat,
            host_mul,
            host_mul2,
            host_off,
            host_off2,
            hour_cdf,
            heap: BinaryHeap::new(),
            seq: 0,
            per: [NEVER; NP],
            up_is_lmgrd: false,
            down_until: i64::MIN,
            arrivals: Vec::new(),
            arr_idx: 0,
            day_k: -1,
            day0,
            end_day,
            span_days,
            daily_budget,
            base_rate,
            arrivals_done: 0,
            written: 0,
            now,
            started: false,
            finished: false,
            pending_crlf: false,
            vendor_pid,
            lmgrd_pid,
            vd_restarts: 0,
            recent: [(now, 0, 0); 10],
            recent_i: 0,
            peak_conn: 20,
            dst_lo: 1,
            dst_hi: 0,
            dst_start: 0,
            dst_end: 0,
            day_cache: i64::MIN,
            date_cache: (0, 0, 0),
        };
        if g.cfg.messy {
            // The first of each rare event comes within its mean interval, so that even a short
            // log (a few days) has them; later ones are exponentially spaced.
            let t = g.now;
            g.per[P_VRESTART] = t + g.first_interval(0.4, 2.0, 75.0);
            g.per[P_SHUTDOWN] = t + g.first_interval(0.8, 3.0, 150.0);
            g.per[P_REREAD] = t + g.first_interval(0.3, 1.5, 40.0);
            g.per[P_LONG] = t + g.first_interval(0.5, 3.0, 60.0);
        }
        g
    }

    /// Appends the next chunk of log text (whole lines, each ending in '\n') to `out`; returns
    /// false when finished (target_bytes reached, or all days generated when target_bytes == 0).
    ///
    /// Precisely: returns true if it appended anything, false once there is nothing more (so both
    /// `while g.next_chunk(&mut buf) { flush(&buf); buf.clear(); }` and
    /// `loop { let more = g.next_chunk(&mut buf); flush(&buf); buf.clear(); if !more { break } }`
    /// see every byte). A chunk is about 256 KiB.
    pub fn next_chunk(&mut self, out: &mut Vec<u8>) -> bool {
        if self.finished {
            return false;
        }
        let start_len = out.len();
        if !self.started && self.cfg.target_bytes == 0 && self.cfg.days == 0 {
            self.finished = true; // zero days: nothing at all
            return false;
        }
        if !self.started {
            self.started = true;
            let t = self.now;
            self.banner(out, t);
        }
        while !self.finished && out.len() - start_len < CHUNK {
            self.step(out);
        }
        out.len() > start_len
    }

    // ---------------------------------------------------------------- accessors

    fn user(&self, u: u32) -> &[u8] {
        &self.user_arena
            [self.user_offs[u as usize] as usize..self.user_offs[u as usize + 1] as usize]
    }
    fn host(&self, h: u32) -> &[u8] {
        &self.host_arena
            [self.host_offs[h as usize] as usize..self.host_offs[h as usize + 1] as usize]
    }
    fn feat(&self, f: u16) -> &[u8] {
        &self.feat_arena
            [self.feat_offs[f as usize] as usize..self.feat_offs[f as usize + 1] as usize]
    }

    /// A feature as usage lines write it: quoted, or bare with `unquoted`.
    fn push_feat(&self, out: &mut Vec<u8>, f: u16, unquoted: bool) {
        if unquoted {
            out.extend_from_slice(self.feat(f));
        } else {
            out.push(b'"');
            out.extend_from_slice(self.feat(f));
            out.push(b'"');
        }
    }

    fn rare_interval(&mut self, frac: f64, lo_days: f64, hi_days: f64) -> i64 {
        let mean = (self.span_days.max(1.0) * frac).clamp(lo_days, hi_days) * 86_400.0;
        (self.rng.exp(mean) as i64).max(3600)
    }

    fn first_interval(&mut self, frac: f64, lo_days: f64, hi_days: f64) -> i64 {
        let mean = (self.span_days.max(1.0) * frac).clamp(lo_days, hi_days) * 86_400.0;
        ((0.1 + 0.9 * self.rng.f()) * mean) as i64
    }

    /// Schedules an event of `kind` at `t` that carries no license count or closing time: a
    /// retry (`K_LAUNCH`, the same user launching the same feature again) or a DEQUEUED line.
    fn schedule(&mut self, t: i64, kind: u8, flags: u8, user: u32, host: u32, feat: u16) {
        self.push_ev(Ev {
            t,
            seq: 0,
            close: 0,
            user,
            host,
            feat,
            lic: 0,
            kind,
            flags,
        });
    }

    fn push_ev(&mut self, mut e: Ev) {
        self.seq += 1;
        e.seq = self.seq;
        self.heap.push(e);
    }

    fn pick_user(&mut self) -> u32 {
        let n = self.users as f64;
        if self.rng.chance(0.5) {
            self.rng.below(self.users as u64) as u32
        } else {
            let x = self.rng.f();
            ((x * x * x * n) as u32).min(self.users - 1)
        }
    }

    fn home_host(&self, u: u32) -> u32 {
        ((u as u64 * self.host_mul + self.host_off) % self.hosts as u64) as u32
    }

    fn pick_host(&mut self, u: u32) -> u32 {
        let r = self.rng.f();
        if r < 0.86 {
            self.home_host(u)
        } else if r < 0.93 {
            ((u as u64 * self.host_mul2 + self.host_off2) % self.hosts as u64) as u32
        } else {
            self.rng.below(self.hosts as u64) as u32
        }
    }

    fn pick_main_feat(&mut self) -> u16 {
        if self.nfeat == 1 || self.rng.chance(0.65) {
            0
        } else {
            let x = self.rng.f();
            ((x * x * self.nfeat as f64) as u32).min(self.nfeat - 1) as u16
        }
    }

    fn pick_extra_feat(&mut self) -> u16 {
        if self.nfeat == 1 {
            return 0;
        }
        let x = self.rng.f();
        (1 + ((x * x * (self.nfeat - 1) as f64) as u32).min(self.nfeat - 2)) as u16
    }

    // ---------------------------------------------------------------- time

    fn dst_off(&mut self, t: i64) -> i64 {
        if !self.cfg.messy {
            return 0;
        }
        if t < self.dst_lo || t >= self.dst_hi {
            let (y, _, _) = civil_from_days(t.div_euclid(86_400));
            self.dst_lo = days_from_civil(y, 1, 1) * 86_400;
            self.dst_hi = days_from_civil(y + 1, 1, 1) * 86_400;
            let mar = days_from_civil(y, 3, 31);
            let oct = days_from_civil(y, 10, 31);
            // EU rule: 01:00 UTC = 02:00 standard local time, both changes.
            self.dst_start = (mar - weekday(mar) as i64) * 86_400 + 2 * 3600;
            self.dst_end = (oct - weekday(oct) as i64) * 86_400 + 2 * 3600;
        }
        if t >= self.dst_start && t < self.dst_end {
            3600
        } else {
            0
        }
    }

    fn local(&mut self, t: i64) -> i64 {
        t + self.dst_off(t)
    }

    fn date_of_local(&mut self, l: i64) -> (i32, u32, u32) {
        let d = l.div_euclid(86_400);
        if d != self.day_cache {
            self.day_cache = d;
            self.date_cache = civil_from_days(d);
        }
        self.date_cache
    }

    fn zone(&mut self, t: i64) -> &'static str {
        if !self.cfg.messy {
            "Romance Standard Time"
        } else if self.dst_off(t) != 0 {
            "Hora de verano romance"
        } else {
            "Hora estándar romance"
        }
    }

    /// "Thu Jun 09 2022 18:25:35 Hora de verano romance"
    fn push_long_date(&mut self, out: &mut Vec<u8>, t: i64) {
        let l = self.local(t);
        let day = l.div_euclid(86_400);
        let (y, m, d) = civil_from_days(day);
        let sod = l.rem_euclid(86_400) as u32;
        out.extend_from_slice(WDAY[weekday(day)].as_bytes());
        out.push(b' ');
        out.extend_from_slice(MON[m as usize - 1].as_bytes());
        out.push(b' ');
        push_2d(out, d);
        out.push(b' ');
        push_u(out, y as u64);
        out.push(b' ');
        push_2d(out, sod / 3600);
        out.push(b':');
        push_2d(out, sod / 60 % 60);
        out.push(b':');
        push_2d(out, sod % 60);
        out.push(b' ');
        let z = self.zone(t);
        out.extend_from_slice(z.as_bytes());
    }

    /// "6/9/2022"
    fn push_mdy(&mut self, out: &mut Vec<u8>, t: i64) {
        let l = self.local(t);
        let (y, m, d) = self.date_of_local(l);
        push_u(out, m as u64);
        out.push(b'/');
        push_u(out, d as u64);
        out.push(b'/');
        push_u(out, y as u64);
    }

    // ---------------------------------------------------------------- lines

    /// Starts a line: "<time> (<who>) ". `jitter`: may be written a second or two early.
    fn env(&mut self, out: &mut Vec<u8>, t: i64, lmgrd: bool, jitter: bool) -> usize {
        let start = out.len();
        let mut t = t;
        let mut zero = false;
        self.pending_crlf = false;
        if self.cfg.messy {
            let r = self.rng.next();
            if jitter && (r & 0x3FF) < 3 {
                t -= 1 + ((r >> 40) & 1) as i64;
            }
            zero = (r >> 10) & 0xFF == 0;
            self.pending_crlf = (r >> 18) & 0x7F == 0;
        }
        let l = self.local(t);
        let sod = l.rem_euclid(86_400) as u32;
        let h = sod / 3600;
        if h < 10 {
            out.push(if zero { b'0' } else { b' ' });
            out.push(b'0' + h as u8);
        } else {
            push_2d(out, h);
        }
        out.push(b':');
        push_2d(out, sod / 60 % 60);
        out.push(b':');
        push_2d(out, sod % 60);
        out.extend_from_slice(b" (");
        if lmgrd {
            out.extend_from_slice(b"lmgrd");
        } else {
            out.extend_from_slice(&self.daemon);
        }
        out.extend_from_slice(b") ");
        start
    }

    /// Ends a line started at `start`; enforces the byte target.
    fn fin(&mut self, out: &mut Vec<u8>, start: usize) {
        if self.pending_crlf {
            out.push(b'\r');
            self.pending_crlf = false;
        }
        out.push(b'\n');
        let len = (out.len() - start) as u64;
        if self.finished {
            out.truncate(start);
            return;
        }
        if self.cfg.target_bytes > 0 && self.written + len > self.cfg.target_bytes {
            out.truncate(start);
            self.finished = true;
            return;
        }
        self.written += len;
    }

    fn line(&mut self, out: &mut Vec<u8>, t: i64, lmgrd: bool, msg: &[u8]) {
        let s = self.env(out, t, lmgrd, false);
        out.extend_from_slice(msg);
        self.fin(out, s);
    }

    fn raw_line(&mut self, out: &mut Vec<u8>, msg: &[u8]) {
        let s = out.len();
        out.extend_from_slice(msg);
        self.fin(out, s);
    }

    fn push_user(&self, out: &mut Vec<u8>, u: u32, obf: bool) {
        if obf {
            out.extend_from_slice(b"OBF_STRT: ");
            out.extend_from_slice(self.user(u));
            out.extend_from_slice(b" :END_OBF");
        } else {
            out.extend_from_slice(self.user(u));
        }
    }

    /// `KW: "feature" user@host<tail>`
    #[allow(clippy::too_many_arguments)]
    fn usage(
        &mut self,
        out: &mut Vec<u8>,
        t: i64,
        kw: &[u8],
        feat: u16,
        user: u32,
        host: u32,
        flags: u8,
        lic: u16,
        tail: &[u8],
    ) {
        let s = self.env(out, t, false, true);
        out.extend_from_slice(kw);
        out.push(b' ');
        self.push_feat(out, feat, flags & F_UNQ != 0);
        out.push(b' ');
        self.push_user(out, user, flags & F_OBF != 0);
        out.push(b'@');
        out.extend_from_slice(self.host(host));
        if flags & F_CKDATA != 0 {
            out.extend_from_slice(b" [");
            out.extend_from_slice(self.feat(feat));
            out.extend_from_slice(b":NA_Parallel]");
        }
        if lic > 0 {
            out.extend_from_slice(if flags & F_CKDATA != 0 { b" (" } else { b"  (" });
            push_u(out, lic as u64);
            out.extend_from_slice(b" licenses) ");
        } else {
            out.extend_from_slice(tail);
        }
        self.fin(out, s);
    }

    #[allow(clippy::too_many_arguments)]
    fn emit_out(
        &mut self,
        out: &mut Vec<u8>,
        t: i64,
        feat: u16,
        user: u32,
        host: u32,
        lic: u16,
        flags: u8,
    ) {
        self.usage(
            out,
            t,
            b"OUT:",
            feat,
            user,
            host,
            flags & (F_CKDATA | F_OBF),
            lic,
            b"  ",
        );
        self.recent[self.recent_i] = (t, user, host);
        self.recent_i = (self.recent_i + 1) % self.recent.len();
    }

    fn emit_in(&mut self, out: &mut Vec<u8>, e: &Ev) {
        let tail: &[u8] = if e.flags & F_INACTIVE != 0 {
            b"  (INACTIVE)"
        } else {
            b"  "
        };
        self.usage(
            out,
            e.t,
            b"IN:",
            e.feat,
            e.user,
            e.host,
            e.flags & (F_CKDATA | F_OBF),
            e.lic,
            tail,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn emit_denied(
        &mut self,
        out: &mut Vec<u8>,
        t: i64,
        feat: u16,
        user: u32,
        host: u32,
        reason: u16,
        flags: u8,
    ) {
        let s = self.env(out, t, false, true);
        out.extend_from_slice(b"DENIED: ");
        self.push_feat(out, feat, flags & F_UNQ != 0);
        out.push(b' ');
        out.extend_from_slice(self.user(user));
        out.push(b'@');
        out.extend_from_slice(self.host(host));
        if flags & F_UNQ != 0 {
            out.extend_from_slice(b"  [");
            out.extend_from_slice(&self.daemon);
            out.extend_from_slice(b"] (");
        } else {
            out.extend_from_slice(b"  (");
        }
        out.extend_from_slice(DENY_REASONS[reason as usize].0.as_bytes());
        out.push(b')');
        self.fin(out, s);
    }

    // ---------------------------------------------------------------- main loop

    fn plan_next_day(&mut self) {
        loop {
            self.day_k += 1;
            self.arrivals.clear();
            self.arr_idx = 0;
            let day = self.day0 + self.day_k;
            if day > self.end_day || self.day_k > 1_000_000 {
                return;
            }
            let (_, m, _) = civil_from_days(day);
            let f = WDAY_F[weekday(day)] * MONTH_F[m as usize - 1] * (0.85 + 0.3 * self.rng.f());
            let mean = if self.cfg.target_bytes > 0 {
                let bpa = if self.arrivals_done >= 1000 {
                    (self.written as f64 / self.arrivals_done as f64).max(40.0)
                } else {
                    220.0
                };
                self.daily_budget / bpa * f / MEAN_F
            } else {
                self.base_rate * f / MEAN_F
            };
            let mut n = mean as u64;
            if self.rng.f() < mean - n as f64 {
                n += 1;
            }
            let total = self.hour_cdf[23];
            for _ in 0..n {
                let x = self.rng.f() * total;
                let mut h = 0;
                while h < 23 && self.hour_cdf[h] <= x {
                    h += 1;
                }
                let t = day * 86_400 + h as i64 * 3600 + self.rng.below(3600) as i64;
                if t > self.now {
                    self.arrivals.push(t);
                }
            }
            self.arrivals.sort_unstable();
            if !self.arrivals.is_empty() {
                return;
            }
        }
    }

    fn step(&mut self, out: &mut Vec<u8>) {
        if self.arr_idx >= self.arrivals.len() {
            self.plan_next_day();
        }
        let ta = self.arrivals.get(self.arr_idx).copied().unwrap_or(NEVER);
        let th = self.heap.peek().map(|e| e.t).unwrap_or(NEVER);
        let mut pi = 0;
        for i in 1..NP {
            if self.per[i] < self.per[pi] {
                pi = i;
            }
        }
        let tp = self.per[pi];
        let t = ta.min(th).min(tp);
        if t == NEVER {
            self.finished = true;
            return;
        }
        if self.cfg.target_bytes == 0 {
            let l = self.local(t);
            if l.div_euclid(86_400) >= self.end_day {
                self.finished = true;
                return;
            }
        }
        if self.now < t {
            self.now = t;
        }
        if th == t {
            let e = self.heap.pop().unwrap();
            self.scheduled(out, e);
        } else if tp == t {
            self.periodic(out, pi, t);
        } else {
            self.arr_idx += 1;
            self.arrivals_done += 1;
            if t >= self.down_until {
                self.arrival(out, t);
            }
        }
    }

    fn scheduled(&mut self, out: &mut Vec<u8>, e: Ev) {
        match e.kind {
            K_OUT => {
                self.emit_out(out, e.t, e.feat, e.user, e.host, e.lic, e.flags);
                self.push_ev(Ev {
                    t: e.close,
                    kind: K_IN,
                    ..e
                });
            }
            K_IN => self.emit_in(out, &e),
            K_UPGRADE => {
                let s = self.env(out, e.t, false, true);
                out.extend_from_slice(b"UPGRADE: \"");
                out.extend_from_slice(self.feat(e.feat));
                out.extend_from_slice(b"\" ");
                out.extend_from_slice(self.user(e.user));
                out.push(b'@');
                out.extend_from_slice(self.host(e.host));
                out.extend_from_slice(b"  (");
                push_u(out, e.lic as u64);
                out.extend_from_slice(b"->");
                push_u(out, e.close as u64);
                out.extend_from_slice(b" licenses)");
                self.fin(out, s);
            }
            K_DEQ => {
                self.usage(out, e.t, b"DEQUEUED:", e.feat, e.user, e.host, 0, 0, b"  ");
                if e.flags & F_GET != 0 {
                    self.launch(out, e.t, e.user, e.host, e.feat, false);
                }
            }
            K_DENY => self.emit_denied(out, e.t, e.feat, e.user, e.host, e.lic, e.flags),
            K_LAUNCH => self.launch(out, e.t, e.user, e.host, e.feat, true),
            _ => unreachable!(),
        }
    }

    fn duration(&mut self) -> i64 {
        let r = self.rng.f();
        if r < 0.12 {
            self.rng.range(2, 300)
        } else if r < 0.75 {
            self.rng.log_uniform(300.0, 14_400.0)
        } else if r < 0.95 {
            self.rng.log_uniform(14_400.0, 43_200.0)
        } else {
            self.rng.log_uniform(43_200.0, 259_200.0)
        }
    }

    fn pack_lic(&mut self, feat: u16) -> u16 {
        if self.feat_pack[feat as usize] {
            *self.rng.pick(&[2u16, 4, 4, 8, 8, 16, 16, 30, 32, 64, 128])
        } else if self.rng.chance(0.004) {
            2
        } else {
            0
        }
    }

    /// One application launch: main feature (+ duplicates, + extra features), and their INs.
    fn launch(&mut self, out: &mut Vec<u8>, t: i64, user: u32, host: u32, feat: u16, extras: bool) {
        let dur = self.duration().max(1);
        let lic = self.pack_lic(feat);
        let mut flags = 0u8;
        if self.rng.chance(0.03) {
            flags |= F_CKDATA;
        }
        if self.cfg.messy && self.rng.chance(0.003) {
            let name = self.user(user);
            if name
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
            {
                flags |= F_OBF;
            }
        }
        let inactive = if self.rng.chance(0.05) { F_INACTIVE } else { 0 };
        self.emit_out(out, t, feat, user, host, lic, flags);
        let base = Ev {
            t: t + dur,
            seq: 0,
            close: 0,
            user,
            host,
            feat,
            lic,
            kind: K_IN,
            flags: flags | inactive,
        };
        self.push_ev(base);
        if self.rng.chance(0.03) {
            // the same checkout twice (two MATLAB windows); each gets its IN
            self.emit_out(out, t, feat, user, host, lic, flags);
            let extra = self.rng.range(0, 120);
            self.push_ev(Ev {
                t: t + dur + extra,
                ..base
            });
        }
        if lic > 0 && self.rng.chance(0.1) && dur > 4 {
            let at = t + 1 + self.rng.below((dur - 2) as u64) as i64;
            self.push_ev(Ev {
                t: at,
                kind: K_UPGRADE,
                close: lic as i64 * 2,
                flags: 0,
                ..base
            });
        }
        if extras && self.nfeat > 1 && self.rng.chance(0.35) {
            let mut k = 1;
            while k < 6 && self.rng.chance(0.45) {
                k += 1;
            }
            let mut taken = [feat; 7];
            for i in 0..k {
                let f = self.pick_extra_feat();
                if taken[..=i].contains(&f) {
                    continue; // each feature at most once per launch
                }
                taken[i + 1] = f;
                let delta = if self.rng.chance(0.3) {
                    0
                } else {
                    self.rng.range(1, 300.min(dur))
                };
                let close = if self.rng.chance(0.7) || dur - delta < 2 {
                    t + dur
                } else {
                    t + delta + self.rng.range(1, dur - delta)
                };
                let close = close.max(t + delta + 1);
                let lic = self.pack_lic(f);
                let ev = Ev {
                    t: t + delta,
                    seq: 0,
                    close,
                    user,
                    host,
                    feat: f,
                    lic,
                    kind: K_OUT,
                    flags,
                };
                if delta == 0 {
                    self.scheduled(out, ev);
                } else {
                    self.push_ev(ev);
                }
            }
        }
    }

    fn arrival(&mut self, out: &mut Vec<u8>, t: i64) {
        let r = self.rng.f();
        let user = self.pick_user();
        let host = self.pick_host(user);
        let noise = if self.cfg.messy { 0.015 } else { 0.0 };
        if r < 0.05 {
            self.denial(out, t, user, host);
        } else if r < 0.07 {
            self.unsupported(out, t, user, host);
        } else if r < 0.08 {
            // QUEUED, later DEQUEUED (usually followed by the checkout)
            let feat = self.pick_main_feat();
            self.usage(
                out,
                t,
                b"QUEUED:",
                feat,
                user,
                host,
                0,
                0,
                b"  (Licensed number of users already reached. (-4,342))",
            );
            let wait = self.rng.log_uniform(5.0, 1800.0);
            let flags = if self.rng.chance(0.7) { F_GET } else { 0 };
            self.schedule(t + wait, K_DEQ, flags, user, host, feat);
        } else if r < 0.085 {
            self.hpc_burst(out, t, user);
        } else if r < 0.085 + noise {
            self.noise(out, t);
        } else {
            let feat = self.pick_main_feat();
            self.launch(out, t, user, host, feat, true);
        }
    }

    fn denial(&mut self, out: &mut Vec<u8>, t: i64, user: u32, host: u32) {
        let feat = self.pick_main_feat();
        let total: u32 = DENY_REASONS.iter().map(|x| x.1).sum();
        let mut x = self.rng.below(total as u64) as u32;
        let mut reason = 0;
        while x >= DENY_REASONS[reason].1 {
            x -= DENY_REASONS[reason].1;
            reason += 1;
        }
        let flags = if self.cfg.messy && self.rng.chance(0.05) {
            F_UNQ
        } else {
            0
        };
        self.emit_denied(out, t, feat, user, host, reason as u16, flags);
        // bursts of identical lines (client retries)
        let r = self.rng.f();
        let n = if r < 0.7 {
            0
        } else if r < 0.95 {
            self.rng.range(1, 4)
        } else {
            self.rng.range(5, 29)
        };
        let mut tt = t;
        for _ in 0..n {
            if self.rng.chance(0.5) {
                tt += self.rng.range(1, 3);
            }
            if tt == t {
                self.emit_denied(out, t, feat, user, host, reason as u16, flags);
            } else {
                let ev = Ev {
                    t: tt,
                    seq: 0,
                    close: 0,
                    user,
                    host,
                    feat,
                    lic: reason as u16,
                    kind: K_DENY,
                    flags,
                };
                self.push_ev(ev);
            }
        }
        if self.rng.chance(0.3) {
            let later = tt + self.rng.log_uniform(2.0, 3600.0);
            self.schedule(later, K_LAUNCH, 0, user, host, feat);
        }
    }

    fn unsupported(&mut self, out: &mut Vec<u8>, t: i64, user: u32, host: u32) {
        let real = self.rng.chance(0.5);
        let feat = if real {
            self.pick_main_feat()
        } else {
            (self.nfeat + self.rng.below(BOGUS_FEATURES.len() as u64) as u32) as u16
        };
        let kind = self.rng.below(3);
        let sig = mix(self.cfg.seed, feat as u64);
        let s = self.env(out, t, false, true);
        out.extend_from_slice(b"UNSUPPORTED: \"");
        out.extend_from_slice(self.feat(feat));
        out.extend_from_slice(b"\" (");
        const HEX: &[u8] = b"0123456789ABCDEF";
        match kind {
            0 => {
                for i in 0..20 {
                    out.push(HEX[((sig.rotate_left(i * 7) ^ (i as u64 * 0x9E37)) & 15) as usize]);
                }
                out.push(b')');
            }
            1 => out.extend_from_slice(b"PORT_AT_HOST_PLUS   )"),
            _ => {
                for i in 0..16 {
                    out.push(HEX[((sig >> (i * 4)) & 15) as usize]);
                    if i % 4 == 3 {
                        out.push(b' ');
                    }
                }
                out.push(b')');
            }
        }
        out.push(b' ');
        out.extend_from_slice(self.user(user));
        out.push(b'@');
        out.extend_from_slice(self.host(host));
        if kind == 1 {
            out.extend_from_slice(
                b"  (License server system does not support this feature. (-18,327))",
            );
        } else {
            out.extend_from_slice(b"  (No such feature exists. (-5,346))");
        }
        self.fin(out, s);
        if real && self.rng.chance(0.5) {
            let later = t + self.rng.range(1, 5);
            self.schedule(later, K_LAUNCH, 0, user, host, feat);
        }
    }

    /// One user starting a job on many nodes (same user from many hosts at once).
    fn hpc_burst(&mut self, out: &mut Vec<u8>, t: i64, user: u32) {
        let nodes = self.rng.range(4, 32) as u32;
        let base = self.rng.below(self.hosts as u64) as u32;
        let dur = self.rng.log_uniform(600.0, 86_400.0);
        let with_extra = self.nfeat > 1 && self.rng.chance(0.6);
        let extra = if with_extra {
            self.pick_extra_feat()
        } else {
            0
        };
        let mut tt = t;
        for j in 0..nodes.min(self.hosts) {
            let host = (base + j) % self.hosts;
            if j > 0 {
                tt += self.rng.range(0, 2);
            }
            let close = t + dur + self.rng.range(0, 30);
            let ev = Ev {
                t: tt,
                seq: 0,
                close,
                user,
                host,
                feat: 0,
                lic: 0,
                kind: K_OUT,
                flags: 0,
            };
            if tt == t {
                self.scheduled(out, ev);
            } else {
                self.push_ev(ev);
            }
            if with_extra {
                let ev2 = Ev {
                    t: tt + self.rng.range(0, 15),
                    feat: extra,
                    ..ev
                };
                self.push_ev(ev2);
            }
        }
    }

    fn noise(&mut self, out: &mut Vec<u8>, t: i64) {
        let r = self.rng.below(100);
        if r < 30 {
            // binary junk
            let n = self.rng.range(8, 120) as usize;
            let s = out.len();
            out.push(*self.rng.pick(&[0u8, 0xFF, 0xFE, 0x1B, b'#', b'~', 0xC3]));
            for _ in 1..n {
                let mut b = self.rng.next() as u8;
                if b == b'\n' {
                    b = 0;
                }
                out.push(b);
            }
            self.pending_crlf = false;
            self.fin(out, s);
        } else if r < 50 {
            const BLANKS: [&[u8]; 5] = [b"", b"\r", b"   ", b"\t", b""];
            let b = BLANKS[self.rng.below(BLANKS.len() as u64) as usize];
            self.raw_line(out, b);
        } else if r < 65 {
            // Checkin failed + enveloped continuation line
            let u = self.pick_user();
            let h = self.home_host(u);
            let f = self.pick_main_feat();
            let s = self.env(out, t, false, false);
            out.extend_from_slice(b"Checkin failed feature \"");
            out.extend_from_slice(self.feat(f));
            out.extend_from_slice(b"\": ");
            out.extend_from_slice(self.user(u));
            out.push(b' ');
            out.extend_from_slice(self.host(h));
            out.push(b' ');
            out.extend_from_slice(self.host(h));
            self.fin(out, s);
            let cont: &[u8] = if self.rng.chance(0.5) {
                b"\t\"\""
            } else {
                b"\t\" (0,353:10054 \"\")\""
            };
            self.line(out, t, false, cont);
        } else if r < 75 {
            const ODD: [&[u8]; 5] = [
                b"Shut down FlexNet MLM license server system on machine flexlm01",
                b" ansyslmd  ansoftd  ",
                b"\tSIMULINK\tStatistics_Toolbox ",
                b"-----------------------------------------------",
                b"Please Note: (continued)",
            ];
            let m = ODD[self.rng.below(ODD.len() as u64) as usize];
            self.raw_line(out, m);
        } else if r < 85 {
            // malformed usage lines: count nothing, but are dated
            let u = self.pick_user();
            let h = self.home_host(u);
            let s = self.env(out, t, false, false);
            match self.rng.below(3) {
                0 => out.extend_from_slice(b"OUT: \"MATL"),
                1 => {
                    out.extend_from_slice(b"OUT: \"");
                    out.extend_from_slice(self.feat(0));
                    out.extend_from_slice(b"\" @");
                    out.extend_from_slice(self.host(h));
                    out.extend_from_slice(b"  ");
                }
                _ => {
                    out.extend_from_slice(b"UNSUPPORTED: \"");
                    out.extend_from_slice(self.feat(0));
                    out.extend_from_slice(b"\" (PORT_AT_HOST_PLUS ");
                    out.extend_from_slice(self.user(u));
                    out.push(b'@');
                    out.extend_from_slice(self.host(h));
                }
            }
            self.fin(out, s);
        } else {
            let (lm, m): (bool, &[u8]) = *self.rng.pick(&[
                (
                    true,
                    &b"Detecting other license server manager (lmgrd) processes..."[..],
                ),
                (false, b"SERVER-OUT: Failed to send the message(71) <END>"),
                (false, b"TCP_NODELAY NOT enabled"),
                (false, b"Listener Thread: running"),
                (false, b"SLOG: TS update poll interval is 600 seconds."),
            ]);
            self.line(out, t, lm, m);
        }
    }

    // ---------------------------------------------------------------- periodic events

    fn periodic(&mut self, out: &mut Vec<u8>, which: usize, t: i64) {
        match which {
            P_TS_L | P_TS_V => {
                let lm = which == P_TS_L;
                let s = self.env(out, t, lm, false);
                out.extend_from_slice(b"TIMESTAMP ");
                self.push_mdy(out, t);
                self.fin(out, s);
                self.per[which] = t + if lm {
                    6 * 3600
                } else {
                    6 * 3600 + 300 + self.rng.range(0, 5)
                };
            }
            P_SLOG => {
                self.slog_block(out, t);
                self.per[P_SLOG] = t + 4 * 3600;
            }
            P_VRESTART => {
                self.vendor_exit(out, t);
                self.per[P_VRESTART] = t + self.rare_interval(0.4, 2.0, 75.0);
            }
            P_SHUTDOWN => {
                self.lmgrd_shutdown(out, t);
                self.per[P_SHUTDOWN] = t + self.rare_interval(0.8, 3.0, 150.0);
            }
            P_REREAD => {
                if t >= self.down_until {
                    self.reread(out, t);
                }
                self.per[P_REREAD] = t + self.rare_interval(0.3, 1.5, 40.0);
            }
            P_LONG => {
                // a line of more than 65,536 bytes: skipped by the reader. Left out when it would
                // not fit in the byte target (it would end the log well short of the target).
                self.per[P_LONG] = t + self.rare_interval(0.5, 3.0, 60.0);
                let tb = self.cfg.target_bytes;
                if tb > 0 && self.written + 70_200 > tb {
                    return;
                }
                let u = self.pick_user();
                let h = self.home_host(u);
                let s = self.env(out, t, false, false);
                out.extend_from_slice(b"OUT: \"");
                out.extend_from_slice(self.feat(0));
                out.extend_from_slice(b"\" ");
                let n = self.rng.range(65_600, 70_000) as usize;
                for i in 0..n {
                    out.push(b'a' + (i % 26) as u8);
                }
                out.push(b'@');
                out.extend_from_slice(self.host(h));
                self.fin(out, s);
            }
            P_UP => {
                self.per[P_UP] = NEVER;
                if self.up_is_lmgrd {
                    self.banner(out, t);
                } else {
                    self.vendor_pid = 1000 + self.rng.below(8000);
                    self.vd_restarts += 1;
                    let s = self.env(out, t, true, false);
                    out.extend_from_slice(b"REStarted ");
                    out.extend_from_slice(&self.daemon.clone());
                    out.extend_from_slice(b" (pid ");
                    push_u(out, self.vendor_pid);
                    out.push(b')');
                    self.fin(out, s);
                    self.vendor_start(out, t);
                }
            }
            _ => unreachable!(),
        }
    }

    fn banner(&mut self, out: &mut Vec<u8>, t: i64) {
        self.lmgrd_pid = 1000 + self.rng.below(8000);
        self.vendor_pid = 1000 + self.rng.below(8000);
        self.vd_restarts = 0;
        for l in PLEASE_NOTE {
            self.line(out, t, true, l.as_bytes());
        }
        let s = self.env(out, t, true, false);
        out.extend_from_slice(b"Server's System Date and Time: ");
        self.push_long_date(out, t);
        self.fin(out, s);
        let s = self.env(out, t, true, false);
        out.extend_from_slice(b"pid ");
        push_u(out, self.lmgrd_pid);
        self.fin(out, s);
        let messy = self.cfg.messy;
        if messy {
            self.line(out, t, true, b"SLOG: Summary LOG statistics is enabled.");
        }
        let t1 = t + self.rng.range(0, 3);
        self.line(out, t1, true, b"Done rereading");
        let s = self.env(out, t1, true, false);
        out.extend_from_slice(b"FlexNet Licensing (v11.18.1.0 build 279785 x64_n6) started on ");
        out.extend_from_slice(SERVER);
        out.extend_from_slice(b" (IBM PC) (");
        self.push_mdy(out, t1);
        out.push(b')');
        self.fin(out, s);
        self.line(
            out,
            t1,
            true,
            b"Copyright (c) 1988-2021 Flexera. All Rights Reserved.",
        );
        self.line(
            out,
            t1,
            true,
            b"World Wide Web:  http://www.flexerasoftware.com",
        );
        self.line(
            out,
            t1,
            true,
            b"License file(s): C:\\FlexLM\\license matlab 2022A.lic",
        );
        self.line(out, t1, true, b"lmgrd tcp-port 27000");
        if messy {
            let slog: &[u8] = b"(@lmgrd-SLOG@) ";
            self.line(
                out,
                t1,
                true,
                b"(@lmgrd-SLOG@) ===============================================",
            );
            self.line(out, t1, true, b"(@lmgrd-SLOG@) === LMGRD ===");
            let s = self.env(out, t1, true, false);
            out.extend_from_slice(slog);
            out.extend_from_slice(b"Start-Date: ");
            self.push_long_date(out, t1);
            self.fin(out, s);
            let s = self.env(out, t1, true, false);
            out.extend_from_slice(b"(@lmgrd-SLOG@) PID: ");
            push_u(out, self.lmgrd_pid);
            self.fin(out, s);
            for l in [
                &b"(@lmgrd-SLOG@) LMGRD Version: v11.18.1.0 build 279785 x64_n6 ( build 279785 (ipv6))"[..],
                b"(@lmgrd-SLOG@) ",
                b"(@lmgrd-SLOG@) === Network Info ===",
                b"(@lmgrd-SLOG@) Listening port: 27000",
                b"(@lmgrd-SLOG@) ",
                b"(@lmgrd-SLOG@) === Startup Info ===",
                b"(@lmgrd-SLOG@) Is LS run as a service: Yes",
                b"(@lmgrd-SLOG@) Server Configuration: Single Server",
                b"(@lmgrd-SLOG@) Command-line options used at LS startup: -c C:\\FlexLM\\license matlab 2022A.lic -l C:\\FlexLM\\matlab.log -z -s ",
                b"(@lmgrd-SLOG@) License file(s) used:  C:\\FlexLM\\license matlab 2022A.lic",
                b"(@lmgrd-SLOG@) ===============================================",
                b"SLOG: FNPLS-INTERNAL-VL1-40000",
            ] {
                self.line(out, t1, true, l);
            }
        }
        self.line(out, t1, true, b"Starting vendor daemons ... ");
        self.line(out, t1, true, b"Starting vendor daemon at port 1684");
        self.line(
            out,
            t1,
            true,
            b"Using vendor daemon port 1684 specified in license file",
        );
        let s = self.env(out, t1, true, false);
        out.extend_from_slice(b"Started ");
        out.extend_from_slice(&self.daemon.clone());
        out.extend_from_slice(b" (pid ");
        push_u(out, self.vendor_pid);
        out.push(b')');
        self.fin(out, s);
        self.vendor_start(out, t1);
        self.per[P_TS_L] = t1 + 6 * 3600;
    }

    fn server_started(&mut self, out: &mut Vec<u8>, t: i64) {
        // "Server started on flexlm01 for:\tMATLAB\t\t" then enveloped continuation lines
        let n = (self.nfeat as usize).min(60);
        let s = self.env(out, t, false, false);
        out.extend_from_slice(b"Server started on ");
        out.extend_from_slice(SERVER);
        out.extend_from_slice(b" for:\t");
        out.extend_from_slice(self.feat(0));
        out.extend_from_slice(b"\t\t");
        self.fin(out, s);
        let mut i = 1;
        while i < n {
            let s = self.env(out, t, false, false);
            for j in i..(i + 3).min(n) {
                out.extend_from_slice(self.feat(j as u16));
                out.push(if self.feat(j as u16).len() < 15 {
                    b'\t'
                } else {
                    b' '
                });
            }
            self.fin(out, s);
            i += 3;
        }
    }

    fn vendor_start(&mut self, out: &mut Vec<u8>, t: i64) {
        let messy = self.cfg.messy;
        self.line(
            out,
            t,
            false,
            b"FlexNet Licensing version v11.18.1.0 build 279785 x64_n6",
        );
        if messy {
            self.line(out, t, false, b"SLOG: Summary LOG statistics is enabled.");
            self.line(out, t, false, b"SLOG: FNPLS-INTERNAL-CKPT1");
            self.line(out, t, false, b"SLOG: VM Status: 5");
        }
        self.server_started(out, t);
        self.line(out, t, false, b"EXTERNAL FILTERS are OFF");
        let s = self.env(out, t, true, false);
        out.extend_from_slice(&self.daemon.clone());
        out.extend_from_slice(b" using TCP-port 1684");
        self.fin(out, s);
        self.line(
            out,
            t,
            false,
            b"License verification completed successfully.",
        );
        if messy {
            self.line(
                out,
                t,
                false,
                b"SLOG: Statistics Log Frequency is 240 minute(s).",
            );
            let pre = self.slog_prefix();
            let lines: [&[u8]; 3] = [
                b"===============================================",
                b"=== Vendor Daemon ===",
                b"",
            ];
            for l in lines {
                self.slog_line(out, t, &pre, l);
            }
            let s = self.env(out, t, false, false);
            out.extend_from_slice(&pre);
            out.extend_from_slice(b"Vendor daemon: ");
            out.extend_from_slice(&self.daemon.clone());
            self.fin(out, s);
            let s = self.env(out, t, false, false);
            out.extend_from_slice(&pre);
            out.extend_from_slice(b"Start-Date: ");
            self.push_long_date(out, t);
            self.fin(out, s);
            let s = self.env(out, t, false, false);
            out.extend_from_slice(&pre);
            out.extend_from_slice(b"PID: ");
            push_u(out, self.vendor_pid);
            self.fin(out, s);
            let s = self.env(out, t, false, false);
            out.extend_from_slice(&pre);
            out.extend_from_slice(b"Number of VD restarts since LS startup: ");
            push_u(out, self.vd_restarts as u64);
            self.fin(out, s);
            let lines: [&[u8]; 4] = [
                b"",
                b"=== Host Info ===",
                b"Host used in license file: flexlm01",
                b"===============================================",
            ];
            for l in lines {
                self.slog_line(out, t, &pre, l);
            }
        }
        self.line(out, t, false, b"TCP_NODELAY NOT enabled");
        self.line(out, t, false, b"Listener Thread: running");
        self.per[P_TS_V] = t + 6 * 3600 + 300;
        if messy {
            self.per[P_SLOG] = t + 8 * 3600;
        }
    }

    fn slog_prefix(&self) -> Vec<u8> {
        let mut p = b"(@".to_vec();
        p.extend_from_slice(&self.daemon);
        p.extend_from_slice(b"-SLOG@) ");
        p
    }

    fn slog_line(&mut self, out: &mut Vec<u8>, t: i64, pre: &[u8], l: &[u8]) {
        let s = self.env(out, t, false, false);
        out.extend_from_slice(pre);
        out.extend_from_slice(l);
        self.fin(out, s);
    }

    fn slog_time(&mut self, out: &mut Vec<u8>, t: i64, pre: &[u8]) {
        let s = self.env(out, t, false, false);
        out.extend_from_slice(pre);
        out.extend_from_slice(b"Time: ");
        self.push_long_date(out, t);
        self.fin(out, s);
    }

    fn slog_block(&mut self, out: &mut Vec<u8>, t: i64) {
        let pre = self.slog_prefix();
        self.slog_line(
            out,
            t,
            &pre,
            b"===============================================",
        );
        self.slog_line(
            out,
            t,
            &pre,
            b"=== Last 10 Client Requests Processing Time (in ms) ===",
        );
        self.slog_time(out, t, &pre);
        let hdr: &[u8] = b"Request processing time, when, #concurrent clients, (private bytes (in KB)), client info (user, node, FD)";
        self.slog_line(out, t, &pre, hdr);
        let conc = 20 + self.heap.len() as u64;
        if conc > self.peak_conn {
            self.peak_conn = conc;
        }
        for i in 0..10 {
            let (rt, u, h) = self.recent[(self.recent_i + 9 - i) % 10];
            let s = self.env(out, t, false, false);
            out.extend_from_slice(&pre);
            push_0n(out, if self.rng.chance(0.8) { 0 } else { 16 }, 8);
            out.extend_from_slice(b" ms at ");
            self.push_long_date(out, rt.min(t));
            out.extend_from_slice(b",#");
            push_u(out, conc);
            out.extend_from_slice(b",(");
            push_u(out, 5000 + self.rng.below(5000));
            out.extend_from_slice(b"K),(");
            out.extend_from_slice(self.user(u));
            out.push(b',');
            out.extend_from_slice(self.host(h));
            out.push(b',');
            push_u(out, 800 + 4 * self.rng.below(300));
            out.push(b')');
            self.fin(out, s);
        }
        self.slog_line(out, t, &pre, b"");
        self.slog_line(
            out,
            t,
            &pre,
            b"=== Top 10 Peak In-house Operations time (in ms) ===",
        );
        self.slog_line(
            out,
            t,
            &pre,
            b"NOTE: Peak times greater than 4 seconds get recorded.",
        );
        self.slog_time(out, t, &pre);
        self.slog_line(
            out,
            t,
            &pre,
            b"In-house operation time, when, #concurrent clients",
        );
        self.slog_line(out, t, &pre, b"");
        self.slog_line(out, t, &pre, b"=== Active Connections Info ===");
        let s = self.env(out, t, false, false);
        out.extend_from_slice(&pre);
        out.extend_from_slice(b"Peak active connections #");
        push_u(out, self.peak_conn);
        out.extend_from_slice(b" attempted at ");
        let past = t - self.rng.range(60, 3 * 3600);
        self.push_long_date(out, past);
        self.fin(out, s);
        self.slog_line(
            out,
            t,
            &pre,
            b"===============================================",
        );
    }

    fn vendor_exit(&mut self, out: &mut Vec<u8>, t: i64) {
        if t < self.down_until || self.per[P_UP] != NEVER {
            return; // already down
        }
        let daemon = self.daemon.clone();
        if self.rng.chance(0.6) {
            self.line(out, t, false, b"EXITING DUE TO SIGNAL 15");
        } else {
            self.line(
                out,
                t,
                false,
                b"Lost connection to lmgrd, heartbeat timeout expired, exiting.",
            );
            let s = self.env(out, t + 1, true, false);
            out.extend_from_slice(&daemon);
            out.extend_from_slice(
                b" exited with status 44 (Exited because of a lost connection to lmgrd)",
            );
            self.fin(out, s);
        }
        // open sessions are dropped without IN lines
        self.heap.clear();
        let back = t + self.rng.range(5, 300);
        self.down_until = back;
        self.up_is_lmgrd = false;
        self.per[P_UP] = back;
        self.per[P_TS_V] = NEVER;
        self.per[P_SLOG] = NEVER;
    }

    fn lmgrd_shutdown(&mut self, out: &mut Vec<u8>, t: i64) {
        if t < self.down_until || self.per[P_UP] != NEVER {
            return;
        }
        let daemon = self.daemon.clone();
        self.line(
            out,
            t,
            true,
            b"SHUTDOWN request from admin at node flexlm01",
        );
        self.line(
            out,
            t,
            true,
            b"lmgrd will now shut down all the vendor daemons",
        );
        let s = self.env(out, t, true, false);
        out.extend_from_slice(b"Shutting down ");
        out.extend_from_slice(&daemon);
        out.extend_from_slice(b" pid=");
        push_u(out, self.vendor_pid);
        out.extend_from_slice(b" because of signal 15");
        self.fin(out, s);
        self.line(out, t, false, b"Shutdown requested.");
        self.line(out, t, true, b"daemon shutdown requested - shutting down");
        self.raw_line(
            out,
            b"Shut down FlexNet MLM license server system on machine flexlm01",
        );
        let open: Vec<Ev> = self.heap.drain().filter(|e| e.kind == K_IN).collect();
        let exit_at = open.len() / 3;
        for (i, e) in open.iter().enumerate() {
            if i == exit_at {
                self.line(out, t, true, b"EXITING DUE TO SIGNAL 15");
            }
            self.usage(
                out,
                t,
                b"IN:",
                e.feat,
                e.user,
                e.host,
                e.flags & (F_CKDATA | F_OBF),
                e.lic,
                b"  (SHUTDOWN)",
            );
        }
        if open.len() <= exit_at {
            self.line(out, t, true, b"EXITING DUE TO SIGNAL 15");
        }
        if self.rng.chance(0.5) {
            self.raw_line(out, b"");
        }
        let back = t + self.rng.log_uniform(60.0, 7200.0);
        self.down_until = back;
        self.up_is_lmgrd = true;
        self.per[P_UP] = back;
        self.per[P_TS_L] = NEVER;
        self.per[P_TS_V] = NEVER;
        self.per[P_SLOG] = NEVER;
    }

    fn reread(&mut self, out: &mut Vec<u8>, t: i64) {
        self.line(
            out,
            t,
            true,
            b"Rereading license file... Requested from admin@flexlm01",
        );
        self.line(out, t, false, b"Rereading license file...");
        self.server_started(out, t);
        self.line(out, t, false, b"EXTERNAL FILTERS are OFF");
        if self.cfg.messy {
            let pre = self.slog_prefix();
            self.slog_line(out, t, &pre, b"=== Reread Info ===");
            let s = self.env(out, t, false, false);
            out.extend_from_slice(&pre);
            out.extend_from_slice(b"Reread time: ");
            self.push_long_date(out, t);
            self.fin(out, s);
            self.slog_line(out, t, &pre, b"Reread mechanism: Manual");
        }
        self.line(out, t, true, b"Done rereading");
    }
}

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn cfg(seed: u64) -> GenConfig {
        GenConfig {
            seed,
            ..Default::default()
        }
    }

    /// user field of a usage line, as the spec splits it (simplified: quoted feature only)
    fn user_of(line: &str) -> Option<String> {
        let rest = line.split_once(") ")?.1.trim_start();
        let rest = rest
            .strip_prefix("OUT: ")
            .or_else(|| rest.strip_prefix("IN: "))
            .or_else(|| rest.strip_prefix("DENIED: "))?;
        let rest = rest.strip_prefix('"')?;
        let rest = rest.split_once('"')?.1.trim_start();
        let mut end = rest.len();
        for pat in ["  ", " [", " (", " ^^^"] {
            if let Some(i) = rest.find(pat) {
                end = end.min(i);
            }
        }
        let field = &rest[..end];
        let (u, _h) = field.rsplit_once('@')?;
        Some(u.to_string())
    }

    #[test]
    fn deterministic_for_a_seed() {
        let a = generate(cfg(42));
        let b = generate(cfg(42));
        let c = generate(cfg(43));
        assert!(!a.is_empty());
        assert_eq!(a, b);
        assert_ne!(a, c);
        // and the same with a byte target, across chunk boundaries
        let big = GenConfig {
            seed: 9,
            target_bytes: 3 << 20,
            users: 500,
            hosts: 400,
            ..Default::default()
        };
        assert_eq!(generate(big.clone()), generate(big));
    }

    #[test]
    fn chunks_are_whole_lines() {
        for messy in [true, false] {
            let mut g = Generator::new(GenConfig {
                target_bytes: 2 << 20,
                messy,
                ..Default::default()
            });
            let mut n = 0;
            loop {
                let mut buf = Vec::new();
                let more = g.next_chunk(&mut buf);
                if !more {
                    assert!(buf.is_empty());
                    break;
                }
                assert!(!buf.is_empty());
                assert_eq!(*buf.last().unwrap(), b'\n');
                n += 1;
            }
            assert!(n >= 4, "expected several chunks, got {n}");
            assert!(!g.next_chunk(&mut Vec::new()));
        }
    }

    #[test]
    fn target_bytes_respected() {
        for &target in &[1u64, 500, 10_000, 1_000_000, 3_000_001] {
            let out = generate(GenConfig {
                target_bytes: target,
                ..Default::default()
            });
            assert!(out.len() as u64 <= target, "{} > {}", out.len(), target);
            if target >= 10_000 {
                // short of the target by less than one line
                assert!(
                    out.len() as u64 + 400 >= target,
                    "{} much less than {}",
                    out.len(),
                    target
                );
            }
            if !out.is_empty() {
                assert_eq!(*out.last().unwrap(), b'\n');
            }
        }
        let out = generate(GenConfig {
            target_bytes: 2_000_000,
            messy: false,
            ..Default::default()
        });
        assert!(out.len() <= 2_000_000 && out.len() > 2_000_000 - 400);
    }

    #[test]
    fn exact_days_without_target() {
        let out = generate(GenConfig {
            messy: false,
            days: 3,
            ..Default::default()
        });
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("TIMESTAMP 3/1/2023"));
        assert!(text.contains("TIMESTAMP 3/3/2023"));
        assert!(!text.contains("3/4/2023"));
        assert!(text.contains("started on flexlm01 (IBM PC) (3/1/2023)"));
    }

    #[test]
    fn distinct_users_approach_config() {
        let users = 2000;
        let out = generate(GenConfig {
            users,
            hosts: 1500,
            target_bytes: 6 << 20,
            seed: 5,
            ..Default::default()
        });
        let text = String::from_utf8_lossy(&out);
        let mut seen = HashSet::new();
        for l in text.lines() {
            let l = l.trim_end_matches('\r').trim_end_matches([' ', '\t']);
            if let Some(u) = user_of(l).filter(|u| !u.is_empty() && u.len() <= 40) {
                // (skips the deliberately malformed empty-user line and the > 64 KiB line)
                let u = u
                    .strip_prefix("OBF_STRT: ")
                    .and_then(|x| x.strip_suffix(" :END_OBF"))
                    .map(str::to_string)
                    .unwrap_or(u);
                seen.insert(u);
            }
        }
        assert!(
            seen.len() as u32 >= users * 95 / 100,
            "only {} distinct users of {}",
            seen.len(),
            users
        );
        assert!(
            seen.len() as u32 <= users,
            "{} distinct users > {}",
            seen.len(),
            users
        );
    }

    #[test]
    fn names_distinct_and_well_formed() {
        let g = Generator::new(GenConfig {
            users: 20_000,
            hosts: 20_000,
            ..Default::default()
        });
        let mut us = HashSet::new();
        for u in 0..g.users {
            let n = g.user(u);
            assert!(!n.is_empty() && n.len() <= 20);
            assert!(!n.contains(&b'@') && !n.contains(&b'\n') && !n.contains(&b'\t'));
            assert!(!n.windows(2).any(|w| w == b"  " || w == b" (" || w == b" ["));
            assert!(us.insert(String::from_utf8_lossy(n).into_owned()));
        }
        let mut hs = HashSet::new();
        for h in 0..g.hosts {
            let n = g.host(h);
            assert!(!n.contains(&b' ') && !n.contains(&b'@'));
            assert!(hs.insert(String::from_utf8_lossy(n).into_owned()));
        }
        // messy names include spaces, non-ASCII, and a cut UTF-8 character somewhere
        let all: Vec<&[u8]> = (0..g.users).map(|u| g.user(u)).collect();
        assert!(all.iter().any(|n| n.contains(&b' ')));
        assert!(all
            .iter()
            .any(|n| std::str::from_utf8(n).is_ok_and(|s| !s.is_ascii())));
        assert!(all.iter().any(|n| std::str::from_utf8(n).is_err()));
    }

    #[test]
    fn has_expected_line_kinds() {
        let out = generate(GenConfig {
            users: 300,
            hosts: 300,
            days: 30,
            features: 12,
            ..Default::default()
        });
        let text = String::from_utf8_lossy(&out);
        for needle in [
            "Server's System Date and Time: ",
            "FlexNet Licensing (v11.18.1.0 build 279785 x64_n6) started on flexlm01 (IBM PC) (3/1/2023)",
            "(lmgrd) TIMESTAMP 3/",
            "(MLM) TIMESTAMP 3/",
            "(MLM) OUT: \"",
            "(MLM) IN: \"",
            "(MLM) DENIED: ",
            "(MLM) UNSUPPORTED: ",
            "(MLM) QUEUED: ",
            "(MLM) DEQUEUED: ",
            " licenses)",
            "(INACTIVE)",
            ":NA_Parallel]",
            "(@MLM-SLOG@) Time: ",
            "EXITING DUE TO SIGNAL 15",
            "(lmgrd) REStarted MLM (pid ",
            "\r\n",
            "\n\n",
        ] {
            assert!(text.contains(needle), "missing {needle:?}");
        }
        // times are " H:MM:SS" for one-digit hours
        assert!(text
            .lines()
            .any(|l| l.starts_with(' ') && l.as_bytes().get(2) == Some(&b':')));
    }

    #[test]
    fn clean_mode_is_clean() {
        let out = generate(GenConfig {
            messy: false,
            users: 300,
            days: 10,
            ..Default::default()
        });
        let text = String::from_utf8(out).expect("clean output is UTF-8");
        assert!(!text.contains('\r'));
        assert!(!text.contains("SLOG"));
        for l in text.lines() {
            assert!(
                l.len() > 9 && l.as_bytes()[2] == b':' && l.as_bytes()[5] == b':',
                "{l:?}"
            );
        }
    }

    #[test]
    fn auto_span_for_byte_target() {
        // 16 MiB -> about 730 * sqrt(1/64) ≈ 91 days
        let g = Generator::new(GenConfig {
            target_bytes: 16 << 20,
            days: 0,
            ..Default::default()
        });
        assert!((g.span_days - 91.0).abs() < 1.5);
    }

    /// The dating rules of spec 2.4 (forward only), checked against every anchor: each anchor's
    /// date must be the date the rules infer for that line, so no line is mis-dated.
    #[test]
    fn anchors_agree_with_inferred_dates() {
        let out = generate(GenConfig {
            seed: 11,
            users: 500,
            hosts: 400,
            start: (2023, 3, 20),
            days: 230, // both clock changes
            target_bytes: 12 << 20,
            ..Default::default()
        });
        let text = String::from_utf8_lossy(&out);
        let mdy = |s: &str| -> Option<i64> {
            let mut it = s.split('/');
            let m: u32 = it.next()?.parse().ok()?;
            let d: u32 = it.next()?.parse().ok()?;
            let y: i32 = it.next()?.parse().ok()?;
            Some(days_from_civil(y, m, d))
        };
        let long = |s: &str| -> Option<i64> {
            // "Www Mmm DD YYYY HH:MM:SS zone"
            let p: Vec<&str> = s.split(' ').collect();
            let mon = *p.get(1)?;
            let m = MON.iter().position(|x| *x == mon)? as u32 + 1;
            Some(days_from_civil(
                p.get(3)?.parse().ok()?,
                m,
                p.get(2)?.parse().ok()?,
            ))
        };
        let (mut date, mut hw) = (None::<i64>, 0i64);
        let (mut anchors, mut checked) = (0, 0);
        for l in text.lines() {
            if l.len() > 65_536 {
                continue;
            }
            let l = l.trim_end_matches('\r').trim_end_matches([' ', '\t']);
            let b = l.trim_start_matches([' ', '\t']).as_bytes();
            let colon = match b.iter().position(|&c| c == b':') {
                Some(i @ 1..=2) => i,
                _ => continue,
            };
            if b.len() < colon + 8 || &b[colon + 6..colon + 8] != b" (" {
                continue;
            }
            let num = |x: &[u8]| std::str::from_utf8(x).ok()?.parse::<i64>().ok();
            let (Some(h), Some(m), Some(sec)) = (
                num(&b[..colon]),
                num(&b[colon + 1..colon + 3]),
                num(&b[colon + 4..colon + 6]),
            ) else {
                continue;
            };
            let t = h * 3600 + m * 60 + sec;
            let rest = std::str::from_utf8(&b[colon + 7..]).unwrap();
            let Some((_, msg)) = rest.split_once(") ") else {
                continue;
            };
            let anchor = if let Some(d) = msg.strip_prefix("TIMESTAMP ") {
                mdy(d.trim())
            } else if msg.starts_with("FlexNet Licensing (") && msg.contains(" started on ") {
                mdy(msg.rsplit_once('(').unwrap().1.trim_end_matches(')'))
            } else if let Some(d) = msg.strip_prefix("Server's System Date and Time: ") {
                long(d)
            } else if msg.starts_with("(@") && msg.contains("-SLOG@) ") {
                let m2 = msg.split_once("-SLOG@) ").unwrap().1;
                ["Start-Date: ", "Time: ", "Reread time: "]
                    .iter()
                    .find_map(|p| m2.strip_prefix(p))
                    .and_then(long)
            } else {
                None
            };
            let inferred = date.map(|d| {
                if t < hw - 3 * 3600 {
                    (d + 1, t, true)
                } else if t > hw + 21 * 3600 {
                    (d - 1, hw, false)
                } else {
                    (d, hw.max(t), true)
                }
            });
            if let Some(a) = anchor {
                anchors += 1;
                if let Some((d, _, _)) = inferred {
                    assert_eq!(d, a, "anchor line {l:?} disagrees with the inferred date");
                    checked += 1;
                }
                date = Some(a);
                hw = t;
            } else if let Some((d, nt, moves)) = inferred {
                if moves {
                    date = Some(d);
                    hw = nt;
                }
            }
        }
        assert!(
            checked > 1000 && anchors == checked + 1,
            "{anchors} anchors, {checked} checked"
        );
    }

    #[test]
    fn calendar_roundtrip() {
        for d in -1000..100_000 {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
        assert_eq!(
            days_from_civil(2022, 6, 9) % 7,
            days_from_civil(2022, 6, 2) % 7
        );
        assert_eq!(WDAY[weekday(days_from_civil(2022, 6, 9))], "Thu");
    }
}
