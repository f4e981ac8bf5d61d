//! Generates a synthetic FlexLM debug log with `lmtally::gen`.
//!
//! ```text
//! cargo run --release --example genlog -- --bytes 1G --users 100000 --seed 1 --out /tmp/big.log
//! ```
//! Options (all optional):
//!   --bytes SIZE     stop at SIZE bytes (suffixes K, M, G, T = powers of 1024; KB/MB/GB/KiB/...
//!                    accepted too). Without it, exactly --days days are generated.
//!   --days N         with --bytes: the span the bytes are spread over (default: automatic,
//!                    about 2 years for 1 GiB); without --bytes: the number of days (default 5)
//!   --users N        distinct user names (default 50)
//!   --hosts N        distinct host names (default: = users)
//!   --seed N         PRNG seed (default 1)
//!   --start Y-M-D    first day (default 2023-03-01)
//!   --features N     distinct features (default 4)
//!   --daemon NAME    vendor daemon name (default MLM)
//!   --clean          no messy lines (messy is the default)
//!   --out PATH       output file (default: standard output)

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use lmtally::gen::{GenConfig, Generator};

const USAGE: &str = "usage: genlog [--bytes SIZE] [--days N] [--users N] [--hosts N] [--seed N] \
[--start YYYY-MM-DD] [--features N] [--daemon NAME] [--clean] [--out PATH]";

fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(format!(
            "--bytes: '{s}' is not a size (e.g. 1G, 500M, 123456)"
        ));
    }
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        u => {
            return Err(format!(
                "--bytes: unknown unit '{u}' in '{s}' (use K, M, G or T)"
            ))
        }
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("--bytes: '{num}' is not a number"))?;
    let bytes = v * mult as f64;
    if bytes.is_nan() || bytes < 1.0 || bytes > u64::MAX as f64 / 2.0 {
        return Err(format!("--bytes: '{s}' is out of range"));
    }
    Ok(bytes as u64)
}

fn parse_num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{flag}: '{v}' is not a valid non-negative integer"))
}

fn parse_date(v: &str) -> Result<(i32, u32, u32), String> {
    let parts: Vec<&str> = v.split('-').collect();
    let err = || format!("--start: '{v}' is not a date YYYY-MM-DD");
    if parts.len() != 3 {
        return Err(err());
    }
    let y: i32 = parts[0].parse().map_err(|_| err())?;
    let m: u32 = parts[1].parse().map_err(|_| err())?;
    let d: u32 = parts[2].parse().map_err(|_| err())?;
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let dim = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&m) || d == 0 || d > dim[m as usize - 1] || !(1900..=9999).contains(&y) {
        return Err(err());
    }
    Ok((y, m, d))
}

struct Args {
    cfg: GenConfig,
    out: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut cfg = GenConfig::default();
    let mut out = None;
    let mut bytes = None;
    let mut days = None;
    let mut hosts = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        // accept --flag=value too
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it
                    .next()
                    .ok_or_else(|| format!("{name} needs a value\n{USAGE}")),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--bytes" => bytes = Some(parse_size(&value("--bytes")?)?),
            "--days" => days = Some(parse_num::<u32>("--days", &value("--days")?)?),
            "--users" => cfg.users = parse_num("--users", &value("--users")?)?,
            "--hosts" => hosts = Some(parse_num::<u32>("--hosts", &value("--hosts")?)?),
            "--seed" => cfg.seed = parse_num("--seed", &value("--seed")?)?,
            "--features" => cfg.features = parse_num("--features", &value("--features")?)?,
            "--daemon" => {
                let d = value("--daemon")?;
                if d.is_empty() || d.contains(|c: char| c.is_whitespace() || c == ')' || c == '(') {
                    return Err(format!(
                        "--daemon: '{d}' must be non-empty, without blanks or parentheses"
                    ));
                }
                cfg.daemon = d;
            }
            "--start" => cfg.start = parse_date(&value("--start")?)?,
            "--clean" => {
                if inline.is_some() {
                    return Err("--clean takes no value".into());
                }
                cfg.messy = false
            }
            "--out" | "-o" => out = Some(value("--out")?),
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    if cfg.users == 0 {
        return Err("--users must be at least 1".into());
    }
    if cfg.features == 0 {
        return Err("--features must be at least 1".into());
    }
    cfg.hosts = hosts.unwrap_or(cfg.users);
    if cfg.hosts == 0 {
        return Err("--hosts must be at least 1".into());
    }
    match bytes {
        Some(b) => {
            cfg.target_bytes = b;
            cfg.days = days.unwrap_or(0);
        }
        None => {
            cfg.target_bytes = 0;
            cfg.days = days.unwrap_or(cfg.days);
            if cfg.days == 0 {
                return Err("--days must be at least 1 when --bytes is not given".into());
            }
        }
    }
    Ok(Args { cfg, out })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("genlog: {e}");
            return ExitCode::from(2);
        }
    };
    let mut sink: Box<dyn Write> = match &args.out {
        Some(p) if p != "-" => match std::fs::File::create(p) {
            Ok(f) => Box::new(f),
            Err(e) => {
                eprintln!("genlog: cannot create '{p}': {e}");
                return ExitCode::from(1);
            }
        },
        _ => Box::new(std::io::stdout().lock()),
    };
    let started = Instant::now();
    let mut g = Generator::new(args.cfg.clone());
    let setup = started.elapsed();
    let mut buf = Vec::with_capacity(1 << 20);
    let mut total: u64 = 0;
    loop {
        let more = g.next_chunk(&mut buf);
        if let Err(e) = sink.write_all(&buf) {
            eprintln!("genlog: write failed: {e}");
            return ExitCode::from(1);
        }
        total += buf.len() as u64;
        buf.clear();
        if !more {
            break;
        }
    }
    if let Err(e) = sink.flush() {
        eprintln!("genlog: write failed: {e}");
        return ExitCode::from(1);
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "genlog: wrote {total} bytes in {secs:.2} s ({:.0} MB/s; name tables {:.2} s), users {}, hosts {}, seed {}",
        total as f64 / 1e6 / secs.max(1e-9),
        setup.as_secs_f64(),
        args.cfg.users,
        args.cfg.hosts,
        args.cfg.seed
    );
    ExitCode::SUCCESS
}
