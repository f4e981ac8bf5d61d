//! The daemon's store: one sled tree under `data_dir`, written one atomic batch at a time.
//!
//! Keys (one tree, so that one `sled::Batch` covers them all and is recovered whole or not at
//! all after a crash):
//!
//! | key | value |
//! |---|---|
//! | `m:version` | the layout version, `2` (`1` is read and marked `2`) |
//! | `m:options` | JSON of the counting options the aggregates were computed with |
//! | `m:next_file` | the next file id (u64, big-endian) |
//! | `n:` table byte (0 words, 1 hosts) + id (u32 BE) | the name, UTF-8 |
//! | `m:idents` | JSON of the identity table (identities are ids of names: user, or user and host) |
//! | `d:` day (i32 with its sign bit flipped, BE) | one day of all servers: `used` and `denied` in the portable roaring format, and the host spans behind `ucch` |
//! | `s:` server name | JSON of the server's sessions and latest instant |
//! | `f:` file id (u64 BE) | JSON [`Checkpoint`]: path, inode, head, read position, the reader's state (dater, unfinished line), lines read but waiting in the stream merge |
//!
//! A commit writes the days changed since the last one, the names interned since, every server
//! and every file checkpoint that changed, in one batch, then flushes. The checkpoints therefore
//! always describe exactly the bytes whose lines are in the aggregates or in their queues.

use crate::core::agg::{DayAgg, ServerState};
use crate::core::merge::{Queued, Tally};
use crate::core::{FileIngest, Options};
use crate::follow::Head;
use lmtally_parsers::date::{format_day, Day};
use roaring::RoaringBitmap;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

/// Layout 2 added the lines waiting in the merge to the file checkpoints (`queued`). A store
/// of layout 1 (no lines wait) is read as it is and marked 2, so that an older lmtally, which
/// would drop waiting lines, refuses it instead.
const VERSION: &[u8] = b"2";
const VERSIONS_READ: [&[u8]; 2] = [b"1", b"2"];
const DAY_FORMAT: u8 = 1;

/// Where a followed file stands, as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    pub id: u64,
    /// When the file's contents began, in file-id time: files of a server are read in this
    /// order (a copy of a file keeps its original's).
    pub born: u64,
    /// The name of the server the file belongs to.
    pub server: String,
    /// The path the file was last seen at (`None` once it left every followed path).
    pub path: Option<PathBuf>,
    pub dev: u64,
    pub ino: u64,
    pub head: Head,
    /// Bytes fed to the reader (its unfinished last line included: it is in `ingest`).
    pub offset: u64,
    pub ingest: FileIngest,
    /// Lines read and dated but not yet applied: they wait in the stream merge of the server's
    /// files for a line of another file that is not read yet (empty in stores of earlier
    /// versions, which had no merge).
    #[serde(default)]
    pub queued: VecDeque<Queued>,
}

/// What a store holds, ready for the engine.
pub struct Loaded {
    pub tally: Tally,
    /// Server names by index: the configuration's first, in order, then servers only the store
    /// knows (their history and sessions stay in the report).
    pub servers: Vec<String>,
    pub files: Vec<Checkpoint>,
    pub next_file: u64,
}

pub struct Store {
    db: sled::Db,
    dir: PathBuf,
    /// How many names of each table are in the store.
    names_saved: [usize; 3],
}

fn day_key(d: Day) -> [u8; 6] {
    let b = ((d as u32) ^ 0x8000_0000).to_be_bytes();
    [b'd', b':', b[0], b[1], b[2], b[3]]
}

fn file_key(id: u64) -> Vec<u8> {
    let mut k = b"f:".to_vec();
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn server_key(name: &str) -> Vec<u8> {
    let mut k = b"s:".to_vec();
    k.extend_from_slice(name.as_bytes());
    k
}

fn name_key(table: u8, id: u32) -> [u8; 7] {
    let b = id.to_be_bytes();
    [b'n', b':', table, b[0], b[1], b[2], b[3]]
}

/// One day's value: format byte, `used` and `denied` (each: u32 LE length + portable roaring),
/// then the spans as u64 LE.
pub fn encode_day(day: &DayAgg) -> Vec<u8> {
    let (used, denied) = (day.used(), day.denied());
    let mut v = Vec::with_capacity(
        16 + used.serialized_size() + denied.serialized_size() + 8 * day.spans().len(),
    );
    v.push(DAY_FORMAT);
    for bm in [&*used, &*denied] {
        v.extend_from_slice(&(bm.serialized_size() as u32).to_le_bytes());
        bm.serialize_into(&mut v)
            .expect("writing to a Vec cannot fail");
    }
    for s in day.spans() {
        v.extend_from_slice(&s.to_le_bytes());
    }
    v
}

pub fn decode_day(v: &[u8]) -> Result<DayAgg, String> {
    let (&format, mut rest) = v.split_first().ok_or("empty value")?;
    if format != DAY_FORMAT {
        return Err(format!("unknown day format {format}"));
    }
    let mut bitmap = || -> Result<RoaringBitmap, String> {
        if rest.len() < 4 {
            return Err("cut short".into());
        }
        let n = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        if rest.len() < 4 + n {
            return Err("cut short".into());
        }
        let bm = RoaringBitmap::deserialize_from(&rest[4..4 + n])
            .map_err(|e| format!("bad bitmap: {e}"))?;
        rest = &rest[4 + n..];
        Ok(bm)
    };
    let used = bitmap()?;
    let denied = bitmap()?;
    if rest.len() % 8 != 0 {
        return Err("spans cut short".into());
    }
    let spans = rest
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    Ok(DayAgg::from_parts(used, denied, spans))
}

fn describe_key(k: &[u8]) -> String {
    match k {
        [b'd', b':', a, b, c, d] => format!(
            "d:{}",
            format_day((u32::from_be_bytes([*a, *b, *c, *d]) ^ 0x8000_0000) as i32)
        ),
        [b'f', b':', rest @ ..] if rest.len() == 8 => format!(
            "f:{}",
            u64::from_be_bytes(rest.try_into().expect("8 bytes"))
        ),
        [b'n', b':', t, rest @ ..] if rest.len() == 4 => format!(
            "n:{t}:{}",
            u32::from_be_bytes(rest.try_into().expect("4 bytes"))
        ),
        _ => String::from_utf8_lossy(k).into_owned(),
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Store, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("data_dir {}: {e}", dir.display()))?;
        let config = sled::Config::new()
            .path(dir.join("store"))
            .flush_every_ms(None)
            .cache_capacity(64 << 20);
        // The lock of a store just closed (by this process, or one that is exiting) can take a
        // moment to be released: wait up to two seconds for it.
        let mut tries = 0;
        let db = loop {
            match config.open() {
                Ok(db) => break db,
                Err(sled::Error::Io(e))
                    if e.kind() == std::io::ErrorKind::WouldBlock && tries < 40 =>
                {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => {
                    return Err(format!(
                    "cannot open the store in {}: {e} (is another lmtally using this data_dir?)",
                    dir.display()
                ))
                }
            }
        };
        Ok(Store {
            db,
            dir: dir.to_path_buf(),
            names_saved: [0; 3],
        })
    }

    fn corrupt(&self, key: &[u8], why: impl std::fmt::Display) -> String {
        format!(
            "the store in {} has a corrupt entry {}: {why} (run `lmtally rebuild --config FILE` to read the logs again)",
            self.dir.display(),
            describe_key(key)
        )
    }

    fn io(&self, e: sled::Error) -> String {
        format!("the store in {}: {e}", self.dir.display())
    }

    /// Drops everything and starts an empty store for `opts` (`lmtally rebuild`).
    pub fn reset(&mut self, opts: Options) -> Result<(), String> {
        self.db.clear().map_err(|e| self.io(e))?;
        self.names_saved = [0; 3];
        self.write_meta(opts)?;
        self.db.flush().map_err(|e| self.io(e))?;
        Ok(())
    }

    fn write_meta(&self, opts: Options) -> Result<(), String> {
        let mut b = sled::Batch::default();
        b.insert(b"m:version".as_slice(), VERSION);
        b.insert(
            b"m:options".as_slice(),
            serde_json::to_vec(&opts).map_err(|e| e.to_string())?,
        );
        self.db.apply_batch(b).map_err(|e| self.io(e))
    }

    /// Reads the whole store. `servers` are the configuration's server names, in order.
    pub fn load(&mut self, opts: Options, servers: &[String]) -> Result<Loaded, String> {
        let mut tally = Tally::new(opts);
        let mut names: Vec<String> = servers.to_vec();
        let Some(version) = self.db.get(b"m:version").map_err(|e| self.io(e))? else {
            // A new store.
            self.write_meta(opts)?;
            return Ok(Loaded {
                tally,
                servers: names,
                files: Vec::new(),
                next_file: 0,
            });
        };
        if !VERSIONS_READ.contains(&&*version) {
            return Err(self.corrupt(
                b"m:version",
                format!(
                    "layout {} is not {}",
                    String::from_utf8_lossy(&version),
                    String::from_utf8_lossy(VERSION)
                ),
            ));
        }
        if &*version != VERSION {
            self.db
                .insert(b"m:version", VERSION)
                .map_err(|e| self.io(e))?;
        }
        let stored: Options = match self.db.get(b"m:options").map_err(|e| self.io(e))? {
            Some(v) => serde_json::from_slice(&v).map_err(|e| self.corrupt(b"m:options", e))?,
            None => return Err(self.corrupt(b"m:options", "missing")),
        };
        if stored != opts {
            return Err(format!(
                "the store in {} was computed with other counting options ({}) than the configuration's ({}); \
                 run `lmtally rebuild --config FILE` to read the logs again with the new ones",
                self.dir.display(),
                describe_opts(&stored),
                describe_opts(&opts)
            ));
        }
        let next_file = match self.db.get(b"m:next_file").map_err(|e| self.io(e))? {
            Some(v) => u64::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| self.corrupt(b"m:next_file", "not 8 bytes"))?,
            ),
            None => 0,
        };
        // Names, in id order per table.
        for item in self.db.scan_prefix(b"n:") {
            let (k, v) = item.map_err(|e| self.io(e))?;
            let (table, id) = match &k[..] {
                [_, _, t @ 0..=2, a, b, c, d] => {
                    (*t as usize, u32::from_be_bytes([*a, *b, *c, *d]))
                }
                _ => return Err(self.corrupt(&k, "not a name key")),
            };
            let name = std::str::from_utf8(&v).map_err(|e| self.corrupt(&k, e))?;
            let t = match table {
                0 => &mut tally.names.words,
                1 => &mut tally.names.hosts,
                _ => return Err(self.corrupt(&k, "not a name table")),
            };
            if t.len() as u32 != id || t.intern(name) != id {
                return Err(self.corrupt(&k, "names are not dense or not distinct"));
            }
        }
        if let Some(v) = self.db.get(b"m:idents").map_err(|e| self.io(e))? {
            tally.names.idents =
                serde_json::from_slice(&v).map_err(|e| self.corrupt(b"m:idents", e))?;
        }
        self.names_saved = [
            tally.names.words.len(),
            tally.names.hosts.len(),
            tally.names.idents.len(),
        ];
        for item in self.db.scan_prefix(b"d:") {
            let (k, v) = item.map_err(|e| self.io(e))?;
            let day = match &k[..] {
                [_, _, a, b, c, d] => (u32::from_be_bytes([*a, *b, *c, *d]) ^ 0x8000_0000) as i32,
                _ => return Err(self.corrupt(&k, "not a day key")),
            };
            let agg = decode_day(&v).map_err(|e| self.corrupt(&k, e))?;
            tally.agg.days.insert(day, agg);
        }
        let mut states = Vec::new();
        for item in self.db.scan_prefix(b"s:") {
            let (k, v) = item.map_err(|e| self.io(e))?;
            let name = std::str::from_utf8(&k[2..])
                .map_err(|e| self.corrupt(&k, e))?
                .to_string();
            let st: ServerState = serde_json::from_slice(&v).map_err(|e| self.corrupt(&k, e))?;
            states.push((name, st));
        }
        for (name, st) in states {
            let i = match names.iter().position(|n| *n == name) {
                Some(i) => i,
                None => {
                    names.push(name);
                    names.len() - 1
                }
            };
            *tally.agg.server_mut(i) = st;
        }
        // Caches keyed on the generation must not take the loaded tally for an older one.
        tally.agg.touch();
        let mut files = Vec::new();
        for item in self.db.scan_prefix(b"f:") {
            let (k, v) = item.map_err(|e| self.io(e))?;
            let mut cp: Checkpoint = serde_json::from_slice(&v).map_err(|e| self.corrupt(&k, e))?;
            if cp.ingest.consumed() > cp.offset || cp.head.len() as u64 > cp.offset {
                return Err(self.corrupt(&k, "read position behind what was read"));
            }
            if !names.contains(&cp.server) {
                names.push(std::mem::take(&mut cp.server));
                cp.server = names.last().cloned().unwrap_or_default();
            }
            files.push(cp);
        }
        Ok(Loaded {
            tally,
            servers: names,
            files,
            next_file,
        })
    }

    /// Writes, in one atomic batch, the days changed since the last commit, the names interned
    /// since, every server's sessions, the given file checkpoints and the removal of `removed`
    /// files; then flushes to disk.
    pub fn commit(
        &mut self,
        tally: &mut Tally,
        servers: &[String],
        files: &[&Checkpoint],
        removed: &[u64],
        next_file: u64,
    ) -> Result<(), String> {
        let mut b = sled::Batch::default();
        let dirty = tally.agg.take_dirty();
        for d in &dirty {
            if let Some(day) = tally.agg.days.get_mut(d) {
                day.settle();
                b.insert(day_key(*d).as_slice(), encode_day(day));
            }
        }
        let tables = [&tally.names.words, &tally.names.hosts];
        let mut saved = self.names_saved;
        for (t, table) in tables.iter().enumerate() {
            for id in saved[t]..table.len() {
                b.insert(
                    name_key(t as u8, id as u32).as_slice(),
                    table.name(id as u32).as_bytes(),
                );
            }
            saved[t] = table.len();
        }
        if tally.names.idents.len() != saved[2] {
            b.insert(
                b"m:idents".as_slice(),
                serde_json::to_vec(&tally.names.idents).map_err(|e| e.to_string())?,
            );
            saved[2] = tally.names.idents.len();
        }
        for (i, st) in tally.agg.servers.iter().enumerate() {
            if let Some(name) = servers.get(i) {
                b.insert(
                    server_key(name),
                    serde_json::to_vec(st).map_err(|e| e.to_string())?,
                );
            }
        }
        for cp in files {
            b.insert(
                file_key(cp.id),
                serde_json::to_vec(cp).map_err(|e| e.to_string())?,
            );
        }
        for id in removed {
            b.remove(file_key(*id));
        }
        b.insert(
            b"m:next_file".as_slice(),
            next_file.to_be_bytes().as_slice(),
        );
        let result = self
            .db
            .apply_batch(b)
            .and_then(|_| self.db.flush().map(|_| ()));
        if let Err(e) = result {
            // Keep the days to write: the next commit tries again.
            for d in dirty {
                tally.agg.mark_dirty(d);
            }
            return Err(self.io(e));
        }
        self.names_saved = saved;
        Ok(())
    }
}

fn describe_opts(o: &Options) -> String {
    format!(
        "user_identity = \"{}\", fold_case = {}, count_unsupported_as_denial = {}",
        match o.user_identity {
            crate::core::UserIdentity::User => "user",
            crate::core::UserIdentity::UserAtHost => "user@host",
        },
        o.fold_case,
        o.count_unsupported_as_denial
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::agg::pack_span;

    #[test]
    fn day_round_trip_and_corruption() {
        let mut used = RoaringBitmap::new();
        used.insert(3);
        used.insert(70000);
        let mut denied = RoaringBitmap::new();
        denied.insert(9);
        let day = DayAgg::from_parts(
            used.clone(),
            denied.clone(),
            vec![pack_span(1, 10, 20), pack_span(2, 0, 15)],
        );
        let v = encode_day(&day);
        let back = decode_day(&v).unwrap();
        assert_eq!(*back.used(), used);
        assert_eq!(*back.denied(), denied);
        assert_eq!(back.spans(), day.spans());
        assert_eq!(back.peak(), 2);
        assert!(decode_day(&v[..v.len() - 3]).is_err());
        assert!(decode_day(&v[..5]).is_err());
        assert!(decode_day(&[]).is_err());
        assert!(decode_day(&[9]).is_err());
    }

    #[test]
    fn day_keys_sort_like_days() {
        assert!(day_key(-5) < day_key(-1));
        assert!(day_key(-1) < day_key(0));
        assert!(day_key(0) < day_key(19000));
        assert_eq!(describe_key(&day_key(0)), "d:1970-01-01");
    }
}

#[cfg(test)]
mod roundtrip {
    use super::*;
    use crate::core::report::{Model, Snapshot};

    const A: &str = "10:00:00 (lmgrd) TIMESTAMP 3/1/2023\n10:00:01 (MLM) OUT: \"MATLAB\" ana@h1\n10:00:02 (MLM) DENIED: \"MATLAB\" bob@h2  (x)\n";
    const B: &str = "10:00:03 (MLM) OUT: \"MATLAB\" José@h3\n10:00:03 (MLM) OUT: \"MATLAB\" dan@h3\n10:00:04 (MLM) IN: \"MATLAB\" ana@h1\n10:00:05 (MLM) DENIED: \"MATLAB\" carl@h1  (x)\n10:00:06 (MLM) OUT: \"SIMULINK\" bob@h2\n";

    #[test]
    fn a_store_of_layout_1_is_read_and_marked_2_and_an_unknown_layout_refused() {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options::default();
        let servers = vec!["s".to_string()];
        let mut store = Store::open(dir.path()).unwrap();
        store.load(opts, &servers).unwrap();
        store.db.insert(b"m:version", b"1").unwrap();
        store.load(opts, &servers).unwrap();
        assert_eq!(&*store.db.get(b"m:version").unwrap().unwrap(), b"2");
        store.db.insert(b"m:version", b"3").unwrap();
        let err = store.load(opts, &servers).err().unwrap();
        assert!(err.contains("layout 3 is not 2"), "{err}");
    }

    #[test]
    fn a_store_reloaded_mid_stream_counts_like_one_run() {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options::default();
        let servers = vec!["s".to_string()];
        let mut whole = Tally::new(opts);
        let mut fi = FileIngest::new();
        whole.feed(0, &mut fi, A.as_bytes());
        whole.feed(0, &mut fi, B.as_bytes());

        let mut store = Store::open(dir.path()).unwrap();
        let mut t = store.load(opts, &servers).unwrap().tally;
        let mut fi = FileIngest::new();
        t.feed(0, &mut fi, A.as_bytes());
        let cp = Checkpoint {
            id: 0,
            born: 0,
            server: "s".into(),
            path: None,
            dev: 0,
            ino: 0,
            head: Head::default(),
            offset: A.len() as u64,
            ingest: fi,
            queued: VecDeque::new(),
        };
        store.commit(&mut t, &servers, &[&cp], &[], 1).unwrap();
        let loaded = store.load(opts, &servers).unwrap();
        let mut t2 = loaded.tally;
        assert_eq!(t2.names.idents.len(), t.names.idents.len());
        let mut fi2 = loaded.files[0].ingest.clone();
        t2.feed(0, &mut fi2, B.as_bytes());
        let rows = |t: &Tally| {
            Snapshot::new(&t.agg)
                .rows(Model::M2019, None, None, 19417)
                .unwrap()
        };
        assert_eq!(rows(&t2), rows(&whole));
        assert_eq!(t2.names.idents.len(), whole.names.idents.len());
    }
}
