//! The live engine: a model-based test of following files through every way a log changes, and
//! a crash test with real SIGKILLs.
//!
//! **What the model test compares against.** Every file that was ever at a followed path is a
//! *generation*: its contents are the bytes written to it (an unfinished last line included).
//! A rename keeps the generation (the file moved); a copytruncate ends it (its copy, or its
//! bytes read before the truncation, hold it all) and starts a new one at the path; a
//! truncate-and-rewrite, a deletion followed by a new file, or another file moved over the path
//! end it too. The expected report is `lmtally report` with each server's generations given as
//! that server's files, in the order they were created. The generator's clock only moves forward
//! across generations of one server, so the contract's stream merge reads them one after the
//! other, which is what the daemon does.
//!
//! The engine is driven in-process, one look-and-read round at a time, so that the model knows
//! what it could see. Bytes that no daemon can read are not produced: a change that destroys
//! bytes (a truncation into an unfollowed copy, a rewrite) is made only after a round has read
//! the file, a deletion only after a round has opened it, and a simulated kill -9 (the engine is
//! dropped without its last commit and reopened from the store) happens after a commit whenever a
//! file left every followed path since the last one (the daemon cannot re-read a deleted file
//! after a crash). Rename rotations, copytruncate into a followed name, and appends also happen
//! while the engine is down.

use lmtally::config::Config;
use lmtally::core::report::Snapshot;
use lmtally::core::Model;
use lmtally::engine::Engine;
use lmtally::export::json_body;
use lmtally::state::AppState;
use lmtally_parsers::date::{from_ymd, parse_iso_day, to_ymd, Day};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// A small deterministic generator (splitmix64): no dependency on a random crate's API.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

const USERS: &[&str] = &[
    "alu-escuela",
    "José Juan Galera",
    "caixz",
    "USER07",
    "user07",
    "kumara",
    "xis",
    "indkach",
    "luismiguel.ibanez$",
    "ana",
];
const HOSTS: &[&str] = &[
    "LIBRE-04",
    "nyx7005",
    "Plasmon",
    "CC39",
    "NCI-01987186",
    "machine_05",
    "",
];
const FEATURES: &[&str] = &["MATLAB", "SIMULINK", "hfsshpc"];

/// Writes realistic debug-log text for one server, its clock moving forward only.
struct LogGen {
    /// Seconds since the first day.
    clock: i64,
    first_day: Day,
    open: Vec<(usize, usize, usize)>,
    gen_no: u32,
    server: usize,
}

impl LogGen {
    fn day(&self) -> Day {
        self.first_day + (self.clock / 86_400) as Day
    }
    fn hms(&self) -> String {
        let t = self.clock % 86_400;
        format!("{:2}:{:02}:{:02}", t / 3600, (t / 60) % 60, t % 60)
    }
    fn mdy(&self) -> String {
        let (y, m, d) = to_ymd(self.day());
        format!("{m}/{d}/{y}")
    }

    /// The first lines of a new file: a line that no other file has, and a date anchor.
    fn start(&mut self) -> Vec<u8> {
        self.gen_no += 1;
        self.clock += 1;
        format!(
            "{} (lmgrd) lmtally model: server {} file {}\n{} (lmgrd) TIMESTAMP {}\n",
            self.hms(),
            self.server,
            self.gen_no,
            self.hms(),
            self.mdy()
        )
        .into_bytes()
    }

    fn line(&mut self, rng: &mut Rng) -> String {
        self.clock += rng.below(1500) as i64;
        let t = self.hms();
        let r = rng.below(100);
        let daemon = "MLM";
        if r < 5 {
            return format!("{t} (lmgrd) TIMESTAMP {}", self.mdy());
        }
        if r < 35 {
            let k = (
                rng.below(USERS.len() as u64) as usize,
                rng.below(HOSTS.len() as u64) as usize,
                rng.below(FEATURES.len() as u64) as usize,
            );
            self.open.push(k);
            return format!(
                "{t} ({daemon}) OUT: \"{}\" {}@{}  ",
                FEATURES[k.2], USERS[k.0], HOSTS[k.1]
            );
        }
        if r < 60 && !self.open.is_empty() {
            let i = rng.below(self.open.len() as u64) as usize;
            let k = self.open.swap_remove(i);
            return format!(
                "{t} ({daemon}) IN: \"{}\" {}@{}  ",
                FEATURES[k.2], USERS[k.0], HOSTS[k.1]
            );
        }
        if r < 70 {
            let (u, h) = (
                USERS[rng.below(USERS.len() as u64) as usize],
                HOSTS[rng.below(HOSTS.len() as u64) as usize],
            );
            return format!("{t} ({daemon}) DENIED: \"MATLAB\" {u}@{h}  (Licensed number of users already reached. (-4,342))");
        }
        if r < 75 {
            let (u, h) = (
                USERS[rng.below(USERS.len() as u64) as usize],
                HOSTS[rng.below(HOSTS.len() as u64) as usize],
            );
            return format!("{t} ({daemon}) UPGRADE: \"MATLAB\" {u}@{h}");
        }
        if r < 77 {
            self.open.clear();
            return format!("{t} ({daemon}) EXITING DUE TO SIGNAL 15");
        }
        if r < 80 {
            return "  continuation text, no envelope".to_string();
        }
        format!("{t} ({daemon}) Server started on host for:\tMATLAB")
    }
}

/// One followed license server in the model.
struct ServerModel {
    dir: PathBuf,
    live: PathBuf,
    /// Every generation's bytes, in the order they were created.
    gens: Vec<Vec<u8>>,
    /// The generation at the live path (`None`: no file there).
    cur: Option<usize>,
    /// Followed rotated files: (path, generation).
    rotated: Vec<(PathBuf, usize)>,
    /// Generations a round has opened.
    seen: Vec<bool>,
    /// Generated text not yet written (the rest of a cut line).
    pending: Vec<u8>,
    logs: LogGen,
    names: u32,
}

impl ServerModel {
    fn fresh_name(&mut self, prefix: &str) -> PathBuf {
        self.names += 1;
        self.dir.join(format!("{prefix}{}", self.names))
    }

    fn new_gen(&mut self, content: Vec<u8>) -> usize {
        self.gens.push(content);
        self.seen.push(false);
        self.gens.len() - 1
    }

    fn append(&mut self, rng: &mut Rng) {
        let g = match self.cur {
            Some(g) => g,
            None => {
                let head = self.logs.start();
                fs::write(&self.live, &head).unwrap();
                let g = self.new_gen(head);
                self.cur = Some(g);
                g
            }
        };
        let n = 1 + rng.below(12);
        for _ in 0..n {
            let l = self.logs.line(rng);
            self.pending.extend_from_slice(l.as_bytes());
            self.pending
                .extend_from_slice(if rng.chance(0.1) { b"\r\n" } else { b"\n" });
        }
        // Cut anywhere: whole lines most of the time, mid-line (even mid-character) sometimes.
        let take = if rng.chance(0.6) {
            self.pending.len()
        } else {
            rng.below(self.pending.len() as u64 + 1) as usize
        };
        let bytes: Vec<u8> = self.pending.drain(..take).collect();
        OpenOptions::new()
            .append(true)
            .open(&self.live)
            .unwrap()
            .write_all(&bytes)
            .unwrap();
        self.gens[g].extend_from_slice(&bytes);
    }

    /// The writer moves to a new file: what it had not written yet is dropped.
    fn writer_moves_on(&mut self) {
        self.pending.clear();
        self.cur = None;
    }
}

struct World {
    root: PathBuf,
    config: PathBuf,
    servers: Vec<ServerModel>,
    engine: Option<Engine>,
    /// The store of a stopped engine (see [`Engine::into_store`]).
    store: Option<lmtally::store::Store>,
    /// A file left every followed path since the last commit.
    left_since_commit: bool,
    log: Vec<String>,
}

impl World {
    fn new(root: &Path, poll: bool) -> World {
        let mut servers = Vec::new();
        let mut toml = format!("data_dir = \"{}\"\n", root.join("data").display());
        if poll {
            toml.push_str("poll_interval_ms = 50\n");
        }
        for s in 0..2 {
            let dir = root.join(format!("s{s}"));
            fs::create_dir_all(&dir).unwrap();
            toml.push_str(&format!(
                "[[server]]\nname = \"srv{s}\"\nlogs = [\"{}/lmgrd.log*\"]\n",
                dir.display()
            ));
            servers.push(ServerModel {
                live: dir.join("lmgrd.log"),
                dir,
                gens: Vec::new(),
                cur: None,
                rotated: Vec::new(),
                seen: Vec::new(),
                pending: Vec::new(),
                logs: LogGen {
                    clock: 8 * 3600,
                    first_day: from_ymd(2023, 3, 1).unwrap(),
                    open: Vec::new(),
                    gen_no: 0,
                    server: s,
                },
                names: 0,
            });
        }
        let config = root.join("lmtally.toml");
        fs::write(&config, toml).unwrap();
        World {
            root: root.to_path_buf(),
            config,
            servers,
            engine: None,
            store: None,
            left_since_commit: false,
            log: Vec::new(),
        }
    }

    fn start(&mut self) {
        if self.engine.is_none() {
            let config = Config::load(&self.config).unwrap_or_else(|e| panic!("{e:?}"));
            let state = Arc::new(AppState::new(config));
            // A new engine holds no file open until its first look.
            for s in &mut self.servers {
                s.seen.iter_mut().for_each(|x| *x = false);
            }
            self.engine = Some(match self.store.take() {
                Some(store) => Engine::with_store(state, store).unwrap(),
                None => Engine::open(state, false).unwrap(),
            });
        }
    }

    fn engine(&mut self) -> &mut Engine {
        self.start();
        self.engine.as_mut().unwrap()
    }

    /// One look-and-read round (the engine reads everything there is).
    fn tick(&mut self) {
        let r = self.engine().round(None).unwrap();
        assert!(r.caught_up);
        for s in &mut self.servers {
            for g in s.cur.iter().chain(s.rotated.iter().map(|(_, g)| g)) {
                s.seen[*g] = true;
            }
        }
    }

    fn commit(&mut self) {
        self.engine().commit().unwrap();
        self.left_since_commit = false;
    }

    fn step(&mut self, rng: &mut Rng) {
        let si = rng.below(2) as usize;
        let up = self.engine.is_some();
        let r = rng.below(100);
        let op;
        if r < 40 {
            op = "append";
            self.servers[si].append(rng);
        } else if r < 58 {
            op = "tick";
            if up {
                self.tick();
                if rng.chance(0.4) {
                    self.commit();
                }
            } else {
                self.start();
            }
        } else if r < 64 {
            op = "rename-rotate";
            let s = &mut self.servers[si];
            if let Some(g) = s.cur {
                let to = s.fresh_name("lmgrd.log.");
                fs::rename(&s.live, &to).unwrap();
                s.rotated.push((to, g));
                s.writer_moves_on();
                if rng.chance(0.5) {
                    // The writer creates its new file at once (else at its next append).
                    s.append(rng);
                }
            }
        } else if r < 69 {
            op = "copytruncate (followed copy)";
            let s = &mut self.servers[si];
            if let Some(g) = s.cur {
                let to = s.fresh_name("lmgrd.log.");
                fs::copy(&s.live, &to).unwrap();
                OpenOptions::new()
                    .write(true)
                    .open(&s.live)
                    .unwrap()
                    .set_len(0)
                    .unwrap();
                s.rotated.push((to, g));
                s.pending.clear();
                let head = s.logs.start();
                OpenOptions::new()
                    .write(true)
                    .open(&s.live)
                    .unwrap()
                    .write_all(&head)
                    .unwrap();
                let ng = s.new_gen(head);
                s.cur = Some(ng);
            }
        } else if r < 73 {
            op = "copytruncate (unfollowed copy)";
            if self.servers[si].cur.is_some() {
                self.tick();
                let s = &mut self.servers[si];
                let to = s.fresh_name("backup-");
                fs::copy(&s.live, &to).unwrap();
                OpenOptions::new()
                    .write(true)
                    .open(&s.live)
                    .unwrap()
                    .set_len(0)
                    .unwrap();
                s.pending.clear();
                let head = s.logs.start();
                OpenOptions::new()
                    .write(true)
                    .open(&s.live)
                    .unwrap()
                    .write_all(&head)
                    .unwrap();
                let ng = s.new_gen(head);
                s.cur = Some(ng);
                self.left_since_commit = true;
            }
        } else if r < 77 {
            op = "truncate and rewrite past the old size";
            if self.servers[si].cur.is_some() {
                self.tick();
                let s = &mut self.servers[si];
                let old = fs::metadata(&s.live).unwrap().len() as usize;
                s.pending.clear();
                let mut content = s.logs.start();
                while content.len() <= old {
                    let l = s.logs.line(rng);
                    content.extend_from_slice(l.as_bytes());
                    content.push(b'\n');
                }
                let mut f = OpenOptions::new().write(true).open(&s.live).unwrap();
                f.set_len(0).unwrap();
                f.write_all(&content).unwrap();
                let ng = s.new_gen(content);
                s.cur = Some(ng);
                self.left_since_commit = true;
            }
        } else if r < 81 {
            op = "delete";
            let s = &self.servers[si];
            // The live file, or the oldest rotated one.
            let target = if rng.chance(0.5) || s.rotated.is_empty() {
                s.cur.map(|g| (s.live.clone(), g, true))
            } else {
                Some((s.rotated[0].0.clone(), s.rotated[0].1, false))
            };
            if let Some((path, g, live)) = target {
                if !up || !self.servers[si].seen[g] {
                    self.tick();
                }
                fs::remove_file(&path).unwrap();
                let s = &mut self.servers[si];
                if live {
                    s.writer_moves_on();
                } else {
                    s.rotated.remove(0);
                }
                self.left_since_commit = true;
            }
        } else if r < 85 {
            op = "another file moved over the path";
            if let Some(g) = self.servers[si].cur {
                if !up || !self.servers[si].seen[g] {
                    self.tick();
                }
                let s = &mut self.servers[si];
                s.pending.clear();
                let mut content = s.logs.start();
                for _ in 0..rng.below(5) {
                    let l = s.logs.line(rng);
                    content.extend_from_slice(l.as_bytes());
                    content.push(b'\n');
                }
                let tmp = s.fresh_name("incoming-");
                fs::write(&tmp, &content).unwrap();
                fs::rename(&tmp, &s.live).unwrap();
                let ng = s.new_gen(content);
                s.cur = Some(ng);
                self.left_since_commit = true;
            }
        } else if r < 91 {
            op = "restart";
            if let Some(e) = self.engine.take() {
                // A graceful stop reads what is there, then commits.
                self.store = Some(e.shutdown().unwrap());
                self.left_since_commit = false;
            }
            self.start();
        } else {
            op = "kill -9";
            if up {
                if self.left_since_commit {
                    // A file this engine read has left every path: a crash now would lose what
                    // was read of it and not committed (nothing can read it again).
                    self.tick();
                    self.commit();
                }
                // Dropped without its last commit: the store has what was committed.
                self.store = self.engine.take().map(Engine::into_store);
            }
        }
        let cur: Vec<String> = self
            .servers
            .iter()
            .map(|s| format!("{:?}/{}", s.cur, s.gens.len()))
            .collect();
        self.log.push(format!(
            "{op} (server {si}, engine {}, live gens {cur:?})",
            if self.engine.is_some() { "up" } else { "down" }
        ));
        if std::env::var("LIVE_DEBUG").is_ok() {
            eprintln!("STEP {}", self.log.last().unwrap());
        }
    }

    /// The engine's report body, after a round that reads everything.
    fn engine_body(&mut self, model: Model, ed: Day) -> String {
        self.tick();
        let e = self.engine.as_ref().unwrap();
        body_of(&e.state().tally.read().unwrap().agg, model, ed)
    }

    /// `lmtally report` over every generation, as separate files of their server, in order.
    fn oracle_body(&self, model: &str, ed: &str) -> String {
        let dir = self.root.join("oracle");
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lmtally"));
        cmd.args(["report", "--model", model, "--ed", ed, "--today", ed]);
        for (si, s) in self.servers.iter().enumerate() {
            let mut files = Vec::new();
            for (gi, content) in s.gens.iter().enumerate() {
                let p = dir.join(format!("s{si}-g{gi:04}.log"));
                fs::write(&p, content).unwrap();
                files.push(p.display().to_string());
            }
            if !files.is_empty() {
                cmd.arg("--server")
                    .arg(format!("srv{si}={}", files.join(",")));
            }
        }
        if self.servers.iter().all(|s| s.gens.is_empty()) {
            return json_body(&[], 0);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "lmtally report failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Every generation fed one after the other, per server (what the daemon should compute).
    fn sequential_body(&self, model: Model, ed: Day) -> String {
        let config = Config::load(&self.config).unwrap();
        let mut t = lmtally::core::merge::Tally::new(config.options());
        for (si, s) in self.servers.iter().enumerate() {
            for g in &s.gens {
                let mut fi = lmtally::core::FileIngest::new();
                t.feed(si, &mut fi, g);
            }
        }
        body_of(&t.agg, model, ed)
    }

    fn check(&mut self, seed: u64, step: usize) {
        let ed = "2031-12-31";
        let edd = parse_iso_day(ed).unwrap();
        for (m, name) in [(Model::M2019, "2019"), (Model::M2013, "2013")] {
            let got = self.engine_body(m, edd);
            let want = self.oracle_body(name, ed);
            if std::env::var("LIVE_DEBUG").is_ok() {
                let config = Config::load(&self.config).unwrap();
                let mut t = lmtally::core::merge::Tally::new(config.options());
                for (si, s) in self.servers.iter().enumerate() {
                    for g in &s.gens {
                        let mut fi = lmtally::core::FileIngest::new();
                        t.feed(si, &mut fi, g);
                    }
                }
                let e = self.engine.as_ref().unwrap();
                let dt = e.state().tally.read().unwrap();
                for si in 0..2 {
                    let a = &t.agg.servers[si];
                    let b = &dt.agg.servers[si];
                    eprintln!(
                        "server {si}: latest seq {:?} daemon {:?}; open seq {} daemon {}",
                        a.latest,
                        b.latest,
                        a.open.len(),
                        b.open.len()
                    );
                    let show =
                        |t: &lmtally::core::merge::Tally, st: &lmtally::core::agg::ServerState| {
                            let mut v: Vec<String> = st
                                .open
                                .iter()
                                .map(|(k, o)| {
                                    format!(
                                        "{} {} {} {}",
                                        o.at,
                                        t.names.words.name(k.1),
                                        t.names.words.name(k.2),
                                        if k.3 == u32::MAX {
                                            "-"
                                        } else {
                                            t.names.hosts.name(k.3)
                                        }
                                    )
                                })
                                .collect();
                            v.sort();
                            v
                        };
                    eprintln!(
                        "  seq open {:?}\n  daemon open {:?}",
                        show(&t, a),
                        show(&dt, b)
                    );
                }
                eprintln!(
                    "NAMES seq {}\nNAMES daemon {}",
                    serde_json::to_string(&t.names).unwrap(),
                    serde_json::to_string(&dt.names).unwrap()
                );
                for (d, day) in &t.agg.days {
                    let o = dt.agg.days.get(d);
                    let same = o.is_some_and(|o| {
                        o.used() == day.used()
                            && o.denied() == day.denied()
                            && o.peak() == day.peak()
                    });
                    if !same {
                        eprintln!(
                            "day {d}: seq used {:?} denied {:?} peak {} | daemon {:?}",
                            day.used(),
                            day.denied(),
                            day.peak(),
                            o.map(|o| (o.used(), o.denied(), o.peak()))
                        );
                    }
                }
                drop(dt);
                if let Ok(needle) = std::env::var("LIVE_FIND") {
                    for (si, s) in self.servers.iter().enumerate() {
                        for (gi, g) in s.gens.iter().enumerate() {
                            if let Some(pos) = String::from_utf8_lossy(g).find(&needle) {
                                eprintln!(
                                    "FOUND {needle:?} in server {si} gen {gi} at byte {pos} of {}",
                                    g.len()
                                );
                            }
                        }
                    }
                }
                let seq = self.sequential_body(m, edd);
                eprintln!(
                    "sequential == report: {}, sequential == daemon: {}",
                    seq == want,
                    seq == got
                );
            }
            if got != want {
                let tail: Vec<&String> = self.log.iter().rev().take(40).collect();
                let split = |b: &str| b.split("},{").map(str::to_string).collect::<Vec<_>>();
                let (g, w) = (split(&got), split(&want));
                let diffs: Vec<String> = g
                    .iter()
                    .zip(&w)
                    .filter(|(a, b)| a != b)
                    .take(8)
                    .map(|(a, b)| format!("daemon {a}\nreport {b}"))
                    .collect();
                for d in self.engine.as_ref().unwrap().describe_files() {
                    eprintln!("{d}");
                }
                for (si, s) in self.servers.iter().enumerate() {
                    let mut ls: Vec<String> = fs::read_dir(&s.dir)
                        .unwrap()
                        .map(|e| {
                            let e = e.unwrap();
                            format!(
                                "{}={}",
                                e.file_name().to_string_lossy(),
                                e.metadata().unwrap().len()
                            )
                        })
                        .collect();
                    ls.sort();
                    eprintln!("server {si} dir: {ls:?}\nrotated {:?}", s.rotated);
                    for (gi, g) in s.gens.iter().enumerate() {
                        let at = if s.cur == Some(gi) {
                            "live".to_string()
                        } else {
                            s.rotated
                                .iter()
                                .find(|r| r.1 == gi)
                                .map_or("gone".to_string(), |r| r.0.display().to_string())
                        };
                        eprintln!("server {si} gen {gi}: {} bytes, at {at}", g.len());
                    }
                }
                panic!(
                    "seed {seed}, step {step}, model {name}: the daemon's report differs from lmtally report over the same bytes \
                     ({} rows against {})\nlast operations (newest first): {tail:#?}\nfirst differing rows:\n{}",
                    g.len(),
                    w.len(),
                    diffs.join("\n")
                );
            }
        }
    }
}

fn run_model(seed: u64, steps: usize, poll: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = Rng(seed);
    let mut m = World::new(tmp.path(), poll);
    m.start();
    for step in 0..steps {
        m.step(&mut rng);
        let every: usize = std::env::var("LIVE_CHECK_EVERY")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(75);
        if step % every == every - 1 {
            m.check(seed, step);
        }
    }
    m.check(seed, steps);
    // Everything read is in the store: a fresh engine over the same store answers the same.
    m.commit();
    m.store = m.engine.take().map(Engine::into_store);
    m.check(seed, steps + 1);
    let gens: usize = m.servers.iter().map(|s| s.gens.len()).sum();
    assert!(
        gens >= 4,
        "the sequence made too few files ({gens}) to test anything"
    );
}

#[test]
fn model_follows_appends_rotations_truncations_restarts_and_kills() {
    if let (Ok(seed), Ok(steps)) = (std::env::var("LIVE_SEED"), std::env::var("LIVE_STEPS")) {
        // Reproduce one sequence (diagnostics).
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_target(false)
            .with_max_level(tracing::Level::DEBUG)
            .try_init();
        run_model(seed.parse().unwrap(), steps.parse().unwrap(), false);
        return;
    }
    for seed in [1, 2, 3] {
        run_model(seed, 300, false);
    }
}

/// Lines of one server written into three files at the same time (lmgrd's log and two vendor
/// daemons' own logs on one clock: a session opened in one file is closed or reset in another),
/// cut into `rounds` pieces at instants where the clock moves on. Returns the files' names (in
/// configuration order) and, per round, what each file gets.
fn concurrent_files(seed: u64, rounds: usize) -> ([&'static str; 3], Vec<[Vec<u8>; 3]>) {
    let names = ["lmgrd.log", "mlm.log", "adsk.log"];
    let mut rng = Rng(seed);
    let first = from_ymd(2023, 3, 1).unwrap();
    let mut clock: u64 = 8 * 3600;
    let mut open: Vec<(&str, &str, &str, &str)> = Vec::new();
    let mut pieces: Vec<[Vec<u8>; 3]> = vec![Default::default()];
    for file in &mut pieces[0] {
        file.extend_from_slice(b"8:00:00 (lmgrd) TIMESTAMP 3/1/2023\n");
    }
    let lines = 60 * rounds;
    for i in 0..lines {
        // Several lines at one instant now and then (ties go to the file listed first).
        let step = if rng.chance(0.2) {
            0
        } else {
            1 + rng.below(3600)
        };
        clock += step;
        if i > 0 && i % 60 == 0 && step > 0 {
            pieces.push(Default::default());
        }
        let t = clock % 86_400;
        let time = format!("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60);
        let f = rng.below(3) as usize;
        let r = rng.below(100);
        let line = if r < 40 || (r < 80 && open.is_empty()) {
            let daemon = ["MLM", "adskflex"][rng.below(2) as usize];
            let feature = FEATURES[rng.below(FEATURES.len() as u64) as usize];
            let user = USERS[rng.below(USERS.len() as u64) as usize];
            let host = HOSTS[rng.below(HOSTS.len() as u64 - 1) as usize];
            open.push((daemon, feature, user, host));
            format!("{time} ({daemon}) OUT: \"{feature}\" {user}@{host}")
        } else if r < 80 {
            let (daemon, feature, user, host) =
                open.swap_remove(rng.below(open.len() as u64) as usize);
            format!("{time} ({daemon}) IN: \"{feature}\" {user}@{host}")
        } else if r < 88 {
            let user = USERS[rng.below(USERS.len() as u64) as usize];
            format!("{time} (MLM) DENIED: \"MATLAB\" {user}@Plasmon  (Licensed number of users already reached. (-4,342))")
        } else if r < 94 {
            let daemon = ["MLM", "adskflex", "lmgrd"][rng.below(3) as usize];
            format!("{time} ({daemon}) EXITING DUE TO SIGNAL 15")
        } else {
            let (y, m, d) = to_ymd(first + (clock / 86_400) as i32);
            format!("{time} (lmgrd) TIMESTAMP {m}/{d}/{y}")
        };
        let piece = pieces.last_mut().unwrap();
        piece[f].extend_from_slice(line.as_bytes());
        piece[f].push(b'\n');
    }
    (names, pieces)
}

/// The report of files read whole by the core: the contract's stream merge (`merged`), or each
/// file after the other (what the daemon did before it merged).
fn core_body(files: &[Vec<u8>], merged: bool) -> String {
    use lmtally::core::merge::{MemSource, Tally};
    let mut t = Tally::new(lmtally::core::Options::default());
    let mut ingests: Vec<lmtally::core::FileIngest> =
        files.iter().map(|_| Default::default()).collect();
    if merged {
        let mut sources: Vec<MemSource<'_>> =
            files.iter().map(|f| MemSource::new(vec![f])).collect();
        t.ingest_server(0, &mut sources, &mut ingests).unwrap();
    } else {
        for (f, fi) in files.iter().zip(&mut ingests) {
            t.feed(0, fi, f);
        }
    }
    body_of(&t.agg, Model::M2019, from_ymd(2023, 3, 31).unwrap())
}

fn engine_rows(e: &Engine) -> String {
    let t = e.state().tally.read().unwrap();
    body_of(&t.agg, Model::M2019, from_ymd(2023, 3, 31).unwrap())
}

/// The JSON report body of aggregates, from their first day to `ed` (also "today").
fn body_of(agg: &lmtally::core::Aggregator, model: Model, ed: Day) -> String {
    let rows = Snapshot::new(agg).rows(model, None, Some(ed), ed).unwrap();
    json_body(&rows, rows.len())
}

/// The files of one server written at the same time are merged as the contract's stream merge
/// merges them (section 3), whether the daemon finds them whole at its start, reads them as they
/// grow, or is stopped (without its last commit) between rounds that each read one file: lines
/// read and not yet applied wait in the store. Expected: the core's merge of the whole files,
/// which `lmtally report` runs; the files are such that reading them one after the other
/// (what the daemon did before) gives another report.
#[test]
fn files_written_together_are_merged_as_the_contract_says() {
    let mut order_mattered = 0;
    for seed in 1..=4 {
        let (names, pieces) = concurrent_files(seed, 6);
        let whole: Vec<Vec<u8>> = (0..3)
            .map(|f| pieces.iter().flat_map(|p| p[f].clone()).collect())
            .collect();
        let want = core_body(&whole, true);
        if want != core_body(&whole, false) {
            order_mattered += 1;
        }
        for how in ["whole", "growing", "one file a round, restarts"] {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path();
            let paths: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).collect();
            let logs: Vec<String> = paths
                .iter()
                .map(|p| format!("\"{}\"", p.display()))
                .collect();
            let config = dir.join("lmtally.toml");
            fs::write(
                &config,
                format!(
                    "data_dir = \"{}\"\n[[server]]\nname = \"s\"\nlogs = [{}]\n",
                    dir.join("data").display(),
                    logs.join(", ")
                ),
            )
            .unwrap();
            let open = |store: Option<lmtally::store::Store>| {
                let state = Arc::new(AppState::new(Config::load(&config).unwrap()));
                match store {
                    Some(store) => Engine::with_store(state, store).unwrap(),
                    None => Engine::open(state, false).unwrap(),
                }
            };
            let mut engine = open(None);
            match how {
                "whole" => {
                    for (p, w) in paths.iter().zip(&whole) {
                        fs::write(p, w).unwrap();
                    }
                    assert!(engine.round(None).unwrap().caught_up);
                }
                "growing" => {
                    for piece in &pieces {
                        for (p, bytes) in paths.iter().zip(piece) {
                            OpenOptions::new()
                                .create(true)
                                .append(true)
                                .open(p)
                                .unwrap()
                                .write_all(bytes)
                                .unwrap();
                        }
                        assert!(engine.round(None).unwrap().caught_up);
                    }
                }
                _ => {
                    for (p, w) in paths.iter().zip(&whole) {
                        fs::write(p, w).unwrap();
                    }
                    let mut stopped = 0;
                    // A deadline already past: each round reads one chunk (a whole file here).
                    while !engine
                        .round(Some(std::time::Instant::now()))
                        .unwrap()
                        .caught_up
                    {
                        stopped += 1;
                        assert!(stopped < 10, "no progress: {:?}", engine.describe_files());
                        let waiting = engine
                            .describe_files()
                            .iter()
                            .any(|d| !d.contains("queued 0 "));
                        assert!(waiting, "{:?}", engine.describe_files());
                        engine.commit().unwrap();
                        engine = open(Some(engine.into_store()));
                    }
                    // Stopped with lines waiting at least twice (after the first file, after
                    // the second).
                    assert!(stopped >= 2, "{:?}", engine.describe_files());
                }
            }
            assert_eq!(engine_rows(&engine), want, "seed {seed}, {how}");
            engine.commit().unwrap();
            let engine = open(Some(engine.into_store()));
            assert_eq!(engine_rows(&engine), want, "seed {seed}, {how}, reloaded");
        }
    }
    assert!(
        order_mattered >= 2,
        "the files hardly test the order ({order_mattered} of 4)"
    );
}

/// A running `lmtally serve`.
struct Daemon {
    child: std::process::Child,
    addr: std::net::SocketAddr,
}

const TOKEN: &str = "live-test-token";

fn spawn_serve(config: &Path) -> Daemon {
    let serve = crate::common::spawn_serve(config);
    Daemon {
        child: serve.child,
        addr: serve.addr,
    }
}

impl Daemon {
    fn get(&self, path: &str) -> serde_json::Value {
        reqwest::blocking::Client::new()
            .get(format!("http://{}{path}", self.addr))
            .header("X-Auth-token", TOKEN)
            .send()
            .unwrap()
            .json()
            .unwrap()
    }

    fn wait_caught_up(&self) -> serde_json::Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let v = self.get("/api/v1/status");
            if v["caught_up"] == true {
                return v;
            }
            assert!(std::time::Instant::now() < deadline, "never caught up: {v}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    fn sigkill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn sigterm(mut self) -> std::process::ExitStatus {
        crate::common::signal(self.child.id(), "TERM");
        self.child.wait().unwrap()
    }
}

/// The crash test: `lmtally serve` is killed with SIGKILL at random moments while it backfills
/// a generated log of a few MB, at least 20 times before it has caught up, and restarted each
/// time; its report then equals `lmtally report` over the same log (an uninterrupted run).
#[test]
fn sigkill_during_backfill_loses_and_double_counts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("flexlm.log");
    fs::write(
        &log,
        lmtally::gen::generate(lmtally::gen::GenConfig {
            seed: 20,
            users: 300,
            hosts: 120,
            days: 90,
            target_bytes: 8 << 20,
            ..Default::default()
        }),
    )
    .unwrap();
    let size = fs::metadata(&log).unwrap().len();
    let data = dir.path().join("data");
    let config = dir.path().join("lmtally.toml");
    fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\ntimezone = \"UTC\"\ntokens = [\"{TOKEN}\"]\n[[server]]\nname = \"flexlm\"\nlogs = [\"{}\"]\n",
            data.display(),
            log.display()
        ),
    )
    .unwrap();
    let ed = "2024-12-31";
    let out = Command::new(env!("CARGO_BIN_EXE_lmtally"))
        .args(["report", "--ed", ed, "--today", ed, "--server"])
        .arg(format!("flexlm={}", log.display()))
        .output()
        .unwrap();
    assert!(out.status.success());
    let expected: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(expected["totalCount"].as_u64().unwrap() > 80);

    let mut rng = Rng(0x5eed);
    let mut mid_backfill = 0;
    let mut kills = 0;
    let mut last_offset = 0u64;
    // Kills of a daemon that had committed part of the log (its next life resumes there).
    let mut resumed = 0;
    while mid_backfill < 20 {
        assert!(
            kills < 400,
            "only {mid_backfill} of {kills} kills came before the backfill ended"
        );
        let d = spawn_serve(&config);
        // A random moment: right away, or after up to 0.7 s of reading (commits come every
        // second or every 2 MiB read, so some lives end before their first commit, some after).
        std::thread::sleep(std::time::Duration::from_millis(rng.below(700)));
        let status = d.get("/api/v1/status");
        std::thread::sleep(std::time::Duration::from_millis(rng.below(20)));
        d.sigkill();
        kills += 1;
        // (Before the store is loaded the status lists no file: the position is not known yet.)
        let offset = status["files"][0]["checkpoint_offset"]
            .as_u64()
            .unwrap_or(last_offset);
        // A restart resumes from its checkpoint: checkpoints never go back.
        assert!(
            offset >= last_offset,
            "checkpoint went back from {last_offset} to {offset}"
        );
        last_offset = offset;
        if status["caught_up"] != true {
            mid_backfill += 1;
            if offset > 0 && offset < size {
                resumed += 1;
            }
        } else {
            // Caught up before the kill: start the backfill again from nothing.
            let d = spawn_serve(&config);
            let st = d.wait_caught_up();
            assert_eq!(st["files"][0]["bytes_read"].as_u64(), Some(size));
            assert_eq!(
                d.get(&format!("/api/v1/report/users/realtime-count/json?ed={ed}")),
                expected
            );
            d.sigkill();
            fs::remove_dir_all(&data).unwrap();
            last_offset = 0;
        }
    }
    eprintln!(
        "{kills} kills, {mid_backfill} before the backfill ended, {resumed} after a partial commit"
    );
    assert!(
        resumed >= 3,
        "only {resumed} kills came after a partial commit"
    );
    let d = spawn_serve(&config);
    let st = d.wait_caught_up();
    assert_eq!(st["files"][0]["bytes_read"].as_u64(), Some(size), "{st}");
    assert_eq!(st["files"][0]["lag_bytes"].as_u64(), Some(0), "{st}");
    assert_eq!(
        d.get(&format!("/api/v1/report/users/realtime-count/json?ed={ed}")),
        expected
    );
    // A graceful stop commits everything: the next start resumes at the end of the log, without
    // reading it again.
    assert!(d.sigterm().success());
    let d = spawn_serve(&config);
    let started = std::time::Instant::now();
    let st = loop {
        // The store is loaded once the files are listed (from their checkpoints).
        let st = d.get("/api/v1/status");
        if st["files"].as_array().is_some_and(|f| !f.is_empty()) {
            break st;
        }
        assert!(started.elapsed().as_secs() < 30, "{st}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert_eq!(
        st["files"][0]["checkpoint_offset"].as_u64(),
        Some(size),
        "{st}"
    );
    assert_eq!(st["files"][0]["bytes_read"].as_u64(), Some(size), "{st}");
    assert_eq!(
        d.get(&format!("/api/v1/report/users/realtime-count/json?ed={ed}")),
        expected
    );
    d.sigkill();
}

/// Waits until `lmtally serve` has read `path` to `size` bytes (as its status shows).
fn wait_read(d: &Daemon, path: &Path, size: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let st = d.get("/api/v1/status");
        let done = st["files"].as_array().is_some_and(|fs| {
            fs.iter().any(|f| {
                f["path"] == path.display().to_string() && f["bytes_read"].as_u64() == Some(size)
            })
        });
        if done {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} never read to {size}: {st}",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// `lmtally serve` itself follows a log as it is written, rotated by rename, copytruncated into
/// a followed name, and truncated and rewritten, with file events or by polling only; its report
/// then equals `lmtally report` over the files it saw.
fn serve_follows(poll: bool) {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("lmgrd.log");
    let mut toml = format!(
        "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\ntimezone = \"UTC\"\ntokens = [\"{TOKEN}\"]\n",
        dir.path().join("data").display()
    );
    if poll {
        toml.push_str("poll_interval_ms = 30\n");
    }
    toml.push_str(&format!(
        "[[server]]\nname = \"srv0\"\nlogs = [\"{}/lmgrd.log*\"]\n",
        dir.path().display()
    ));
    let config = dir.path().join("lmtally.toml");
    fs::write(&config, toml).unwrap();
    let mut rng = Rng(if poll { 7 } else { 8 });
    let mut logs = LogGen {
        clock: 8 * 3600,
        first_day: from_ymd(2023, 3, 1).unwrap(),
        open: Vec::new(),
        gen_no: 0,
        server: 0,
    };
    let mut gens: Vec<Vec<u8>> = vec![logs.start()];
    fs::write(&live, &gens[0]).unwrap();
    let d = spawn_serve(&config);
    let append = |gens: &mut Vec<Vec<u8>>, rng: &mut Rng, logs: &mut LogGen, n: usize| {
        for _ in 0..n {
            let mut bytes = logs.line(rng).into_bytes();
            bytes.push(b'\n');
            // A line written in two pieces: the first waits for its end.
            let cut = rng.below(bytes.len() as u64) as usize;
            let mut f = OpenOptions::new().append(true).open(&live).unwrap();
            f.write_all(&bytes[..cut]).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(rng.below(3)));
            f.write_all(&bytes[cut..]).unwrap();
            gens.last_mut().unwrap().extend_from_slice(&bytes);
        }
    };
    let size = |gens: &Vec<Vec<u8>>| gens.last().unwrap().len() as u64;
    append(&mut gens, &mut rng, &mut logs, 40);
    // Rename-and-create rotation, the new file written at once.
    fs::rename(&live, dir.path().join("lmgrd.log.1")).unwrap();
    gens.push(logs.start());
    fs::write(&live, gens.last().unwrap()).unwrap();
    append(&mut gens, &mut rng, &mut logs, 40);
    // Copytruncate into a followed name.
    wait_read(&d, &live, size(&gens));
    fs::copy(&live, dir.path().join("lmgrd.log.2")).unwrap();
    gens.push(logs.start());
    let mut f = OpenOptions::new().write(true).open(&live).unwrap();
    f.set_len(0).unwrap();
    f.write_all(gens.last().unwrap()).unwrap();
    drop(f);
    append(&mut gens, &mut rng, &mut logs, 40);
    // Truncated and rewritten past the old size (read first: the old bytes are gone after).
    wait_read(&d, &live, size(&gens));
    let old = size(&gens) as usize;
    let mut content = logs.start();
    while content.len() <= old {
        content.extend_from_slice(logs.line(&mut rng).as_bytes());
        content.push(b'\n');
    }
    gens.push(content);
    fs::write(&live, gens.last().unwrap()).unwrap();
    append(&mut gens, &mut rng, &mut logs, 20);

    // Expected: lmtally report over the generations, as separate files in order.
    let mut files = Vec::new();
    for (i, g) in gens.iter().enumerate() {
        let p = dir.path().join(format!("expected-{i}.txt"));
        fs::write(&p, g).unwrap();
        files.push(p.display().to_string());
    }
    let ed = "2024-12-31";
    let out = Command::new(env!("CARGO_BIN_EXE_lmtally"))
        .args(["report", "--ed", ed, "--today", ed, "--server"])
        .arg(format!("srv0={}", files.join(",")))
        .output()
        .unwrap();
    assert!(out.status.success());
    let expected: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let got = d.get(&format!("/api/v1/report/users/realtime-count/json?ed={ed}"));
        if got == expected {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon's report stays different:\n{got}\nexpected\n{expected}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(d.sigterm().success());
}

#[test]
fn serve_follows_a_log_with_file_events() {
    serve_follows(false);
}

#[test]
fn serve_follows_a_log_by_polling_only() {
    serve_follows(true);
}

/// A store made with other counting options is refused with a message that says to rebuild;
/// `lmtally rebuild` reads the logs again with the new options, and the daemon then answers like
/// `lmtally report` with them.
#[test]
fn rebuild_after_changing_the_counting_options() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("lmgrd.log");
    fs::write(
        &log,
        "8:00:00 (lmgrd) TIMESTAMP 3/1/2023\n8:00:01 (MLM) OUT: \"MATLAB\" Ana@h1\n8:00:02 (MLM) OUT: \"MATLAB\" ana@h2\n\
         8:00:03 (MLM) DENIED: \"MATLAB\" ANA@h3  (x)\n9:00:00 (MLM) IN: \"MATLAB\" Ana@h1\n",
    )
    .unwrap();
    let config = dir.path().join("lmtally.toml");
    let write = |fold: bool| {
        fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\ntimezone = \"UTC\"\ntokens = [\"{TOKEN}\"]\nfold_case = {fold}\n\
                 [[server]]\nname = \"s\"\nlogs = [\"{}\"]\n",
                dir.path().join("data").display(),
                log.display()
            ),
        )
        .unwrap()
    };
    let ed = "2023-03-02";
    let report = |fold: bool| -> serde_json::Value {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lmtally"));
        cmd.args(["report", "--ed", ed, "--today", ed, "--server"])
            .arg(format!("s={}", log.display()));
        if fold {
            cmd.arg("--fold-case");
        }
        serde_json::from_slice(&cmd.output().unwrap().stdout).unwrap()
    };
    let path = format!("/api/v1/report/users/realtime-count/json?ed={ed}");
    write(false);
    let d = spawn_serve(&config);
    d.wait_caught_up();
    assert_eq!(d.get(&path), report(false));
    assert!(d.sigterm().success());

    write(true);
    let out = Command::new(env!("CARGO_BIN_EXE_lmtally"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("other counting options") && err.contains("lmtally rebuild"),
        "{err}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_lmtally"))
        .args(["rebuild", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = spawn_serve(&config);
    d.wait_caught_up();
    let folded = report(true);
    assert_ne!(folded, report(false));
    assert_eq!(d.get(&path), folded);
    assert!(d.sigterm().success());
}
