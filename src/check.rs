//! `lmtally check-config`: everything [`Config::parse`] checks, and what can only be checked on
//! this machine: each log pattern's directory exists and can be read (and so can the files it
//! matches now), the `listen` address can be bound (the port is free), `tokens_file` can be read
//! and holds valid tokens, `data_dir` is (or can be made) a writable directory.
//!
//! Every problem is collected, each as a [`ConfigError`] naming the key and its line, so one run
//! shows them all. Notes (a log file that does not exist yet, a token to be generated) are not
//! problems.

use crate::config::{Config, ConfigError, ServerConfig, ServerLines};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};

/// What a check found: problems (the configuration is not usable) and notes.
#[derive(Debug, Default)]
pub struct Report {
    pub problems: Vec<ConfigError>,
    pub notes: Vec<ConfigError>,
    /// The configuration, when the file is TOML (values in error left at their defaults).
    pub config: Option<Config>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks the configuration file at `path`.
pub fn check_file(path: &Path) -> Report {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            return Report {
                problems: vec![problem(path, 0, "", format!("cannot read: {e}"))],
                ..Report::default()
            }
        }
    };
    let (config, mut problems) = Config::parse_partial(&text, path);
    let mut notes = Vec::new();
    if let Some(c) = &config {
        let failed = |key: &str| problems.iter().any(|e: &ConfigError| e.key == key);
        let mut more = Vec::new();
        if !failed("listen") {
            let (p, n) = check_listen(c);
            more.extend(p);
            notes.extend(n);
        }
        if !failed("tokens_file") {
            more.extend(check_tokens_file(c));
        }
        if !failed("data_dir") {
            let (p, n) = check_data_dir(c);
            more.extend(p);
            notes.extend(n);
        }
        for (server, lines) in c.servers.iter().zip(&c.lines.servers) {
            let (p, n) = check_logs(c, server, lines);
            more.extend(p);
            notes.extend(n);
        }
        problems.extend(more);
        problems.sort_by_key(|e| (e.line == 0, e.line));
    }
    Report {
        problems,
        notes,
        config,
    }
}

fn problem(path: &Path, line: usize, key: &str, msg: String) -> ConfigError {
    ConfigError {
        path: path.to_path_buf(),
        line,
        key: key.to_string(),
        msg,
    }
}

/// The `listen` address can be bound now. In use by an lmtally (the service being checked
/// before a restart) is a note, not a problem.
fn check_listen(c: &Config) -> (Option<ConfigError>, Option<ConfigError>) {
    let line = c.lines.of("listen");
    let addr = c.listen;
    let what = if line == 0 {
        format!("{addr} (the default)")
    } else {
        addr.to_string()
    };
    let Err(e) = std::net::TcpListener::bind(addr) else {
        return (None, None);
    };
    if e.kind() == ErrorKind::AddrInUse && answers_as_lmtally(addr) {
        let msg = format!(
            "{what}: in use by an lmtally running now (free again when it stops, as in a restart)"
        );
        return (None, Some(problem(&c.path, line, "listen", msg)));
    }
    let msg = bind_message(&what, addr, &e);
    (Some(problem(&c.path, line, "listen", msg)), None)
}

/// Whether an lmtally answers `/healthz` at `addr` (its `Server` header says so), within 1 s.
pub fn answers_as_lmtally(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let mut target = addr;
    if target.ip().is_unspecified() {
        target.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let timeout = std::time::Duration::from_secs(1);
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&target, timeout) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = Vec::new();
    let _ = s.take(4096).read_to_end(&mut buf);
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let head = head.split("\r\n\r\n").next().unwrap_or("");
    head.starts_with("http/1.1 200") && head.lines().any(|l| l.starts_with("server: lmtally/"))
}

fn bind_message(what: &str, addr: SocketAddr, e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::AddrInUse => format!("{what}: the port is in use by another program"),
        ErrorKind::AddrNotAvailable => {
            format!("{what}: {} is not an address of this machine", addr.ip())
        }
        ErrorKind::PermissionDenied => format!(
            "{what}: not allowed to listen there ({e}; ports below 1024 need a privilege the \
             service does not have)"
        ),
        _ => format!("{what}: cannot listen: {e}"),
    }
}

/// `tokens_file` can be read and every token in it is valid.
fn check_tokens_file(c: &Config) -> Option<ConfigError> {
    let path = c.tokens_file.as_ref()?;
    let line = c.lines.of("tokens_file");
    let msg = match std::fs::read_to_string(path) {
        Err(e) => format!("{}: cannot read: {e}", path.display()),
        Ok(text) => match crate::server::auth::parse_tokens_file(&text, path) {
            Ok(tokens) if tokens.is_empty() && c.tokens.is_empty() => {
                // Legal (the generated token is then used), but surely not what was meant.
                format!("{}: holds no token", path.display())
            }
            Ok(_) => return None,
            Err(msg) => msg,
        },
    };
    Some(problem(&c.path, line, "tokens_file", msg))
}

/// `data_dir` is a writable directory, or can be created; and where the token will come from.
fn check_data_dir(c: &Config) -> (Vec<ConfigError>, Vec<ConfigError>) {
    let line = c.lines.of("data_dir");
    let dir = &c.data_dir;
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => problems.push(problem(
            &c.path,
            line,
            "data_dir",
            format!("{} is not a directory", dir.display()),
        )),
        Ok(_) => {
            if let Err(e) = rustix::fs::access(dir, rustix::fs::Access::WRITE_OK) {
                problems.push(problem(
                    &c.path,
                    line,
                    "data_dir",
                    format!("{}: cannot write there: {e}", dir.display()),
                ));
            }
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            // Created on the first start (by systemd's StateDirectory=, or by lmtally).
            let parent = dir.ancestors().skip(1).find(|a| a.exists());
            match parent {
                Some(p) if rustix::fs::access(p, rustix::fs::Access::WRITE_OK).is_err() => problems
                    .push(problem(
                        &c.path,
                        line,
                        "data_dir",
                        format!(
                            "{} does not exist, and cannot be created in {}",
                            dir.display(),
                            p.display()
                        ),
                    )),
                _ => notes.push(problem(
                    &c.path,
                    line,
                    "data_dir",
                    format!(
                        "{} does not exist yet: created on the first start",
                        dir.display()
                    ),
                )),
            }
        }
        Err(e) => problems.push(problem(
            &c.path,
            line,
            "data_dir",
            format!("{}: {e}", dir.display()),
        )),
    }
    if problems.is_empty() && c.tokens.is_empty() && c.tokens_file.is_none() {
        let token = dir.join("token");
        let msg = if token.exists() {
            format!(
                "no token configured: the API token is the one in {}",
                token.display()
            )
        } else {
            format!(
                "no token configured: the first start writes a random one to {}",
                token.display()
            )
        };
        notes.push(problem(&c.path, 0, "tokens", msg));
    }
    (problems, notes)
}

/// The directory a log pattern's files are in: the parent of a plain path, or the directories
/// before the first component with a glob character.
pub fn log_dir(pattern: &str) -> PathBuf {
    let path = Path::new(pattern);
    let is_glob = |c: &Component<'_>| c.as_os_str().to_string_lossy().contains(['*', '?', '[']);
    let mut dir = PathBuf::new();
    let components: Vec<Component<'_>> = path.components().collect();
    let literal = components.iter().take_while(|c| !is_glob(c)).count();
    let upto = if literal == components.len() {
        // A plain path: its parent.
        literal.saturating_sub(1)
    } else {
        literal
    };
    for c in &components[..upto] {
        dir.push(c.as_os_str());
    }
    if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    }
}

/// Each pattern's directory exists and can be read; the files it matches now can be read.
fn check_logs(
    c: &Config,
    server: &ServerConfig,
    lines: &ServerLines,
) -> (Vec<ConfigError>, Vec<ConfigError>) {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    for (i, pattern) in server.logs.iter().enumerate() {
        let line = lines.logs.get(i).copied().unwrap_or(lines.table);
        let push = |v: &mut Vec<ConfigError>, msg: String| {
            v.push(problem(
                &c.path,
                line,
                "server.logs",
                format!("server '{}': {msg}", server.name),
            ))
        };
        let dir = log_dir(pattern);
        match std::fs::read_dir(&dir) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {
                push(
                    &mut problems,
                    format!("{pattern}: the directory {} does not exist", dir.display()),
                );
                continue;
            }
            Err(e) => {
                push(
                    &mut problems,
                    format!(
                        "{pattern}: the directory {} cannot be read: {e}",
                        dir.display()
                    ),
                );
                continue;
            }
        }
        let is_glob = pattern.contains(['*', '?', '[']);
        if is_glob && glob::Pattern::new(pattern).is_err() {
            push(
                &mut problems,
                format!("{pattern}: not a valid glob pattern"),
            );
            continue;
        }
        let files = crate::config::expand(pattern);
        let mut present = 0;
        for f in &files {
            match std::fs::File::open(f) {
                Ok(_) => present += 1,
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => push(
                    &mut problems,
                    format!("{}: cannot be read: {e}", f.display()),
                ),
            }
        }
        if present == 0 && !problems.iter().any(|p| p.line == line) {
            let msg = if is_glob {
                format!("{pattern}: matches no file yet")
            } else {
                format!("{pattern}: does not exist yet")
            };
            push(&mut notes, msg);
        }
    }
    (problems, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_dir_of_paths_and_globs() {
        assert_eq!(
            log_dir("/var/log/flexlm/lmgrd.log"),
            PathBuf::from("/var/log/flexlm")
        );
        assert_eq!(
            log_dir("/var/log/flexlm/vendor-*.log"),
            PathBuf::from("/var/log/flexlm")
        );
        assert_eq!(log_dir("/var/log/*/x.log"), PathBuf::from("/var/log"));
        assert_eq!(log_dir("/srv/[ab]/x.log"), PathBuf::from("/srv"));
        assert_eq!(log_dir("lmgrd.log"), PathBuf::from("."));
        assert_eq!(log_dir("logs/*.log"), PathBuf::from("logs"));
        assert_eq!(log_dir("/x.log"), PathBuf::from("/"));
    }

    #[test]
    fn every_problem_with_key_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        std::fs::write(logs.join("lmgrd.log"), "x\n").unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::write(&tokens, "ok\nbad token\n").unwrap();
        let cfg = dir.path().join("c.toml");
        std::fs::write(
            &cfg,
            format!(
                "listen = \"{}\"\ndata_dir = \"{}\"\nbogus = 1\ntokens_file = \"{}\"\n\
                 [[server]]\nname = \"a\"\nlogs = [\n  \"{}/lmgrd.log\",\n  \"{}/none/*.log\",\n]\n",
                busy.local_addr().unwrap(),
                dir.path().join("data").display(),
                tokens.display(),
                logs.display(),
                dir.path().display(),
            ),
        )
        .unwrap();
        let r = check_file(&cfg);
        assert!(!r.ok());
        let got: Vec<(usize, &str)> = r
            .problems
            .iter()
            .map(|e| (e.line, e.key.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, "listen"),
                (3, "bogus"),
                (4, "tokens_file"),
                (9, "server.logs")
            ],
            "{:#?}",
            r.problems
        );
        assert!(r.problems[0].msg.contains("in use"), "{}", r.problems[0]);
        assert!(r.problems[2]
            .msg
            .ends_with(":2: a token must not contain blanks"));
        assert!(r.problems[3].msg.contains("does not exist"));
        // data_dir does not exist yet: a note, not a problem.
        assert!(r.notes.iter().any(|n| n.key == "data_dir"));
    }

    #[test]
    fn a_port_held_by_lmtally_is_a_note() {
        use std::io::{Read, Write};
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = held.local_addr().unwrap();
        let answer = |server: &'static str| {
            let (mut s, _) = held.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nserver: {server}\r\ncontent-length: 2\r\n\r\nok"
            );
        };
        std::thread::scope(|t| {
            t.spawn(|| answer("lmtally/0.1.0"));
            assert!(answers_as_lmtally(addr));
        });
        std::thread::scope(|t| {
            t.spawn(|| answer("nginx"));
            assert!(!answers_as_lmtally(addr));
        });
        // A listener that never answers is not an lmtally.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(!answers_as_lmtally(silent.local_addr().unwrap()));
    }

    #[test]
    fn a_good_file_is_ok() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.log"), "x\n").unwrap();
        let cfg = dir.path().join("c.toml");
        std::fs::write(
            &cfg,
            format!(
                "listen = \"127.0.0.1:0\"\ndata_dir = \"{0}\"\n[[server]]\nname = \"a\"\n\
                 logs = [\"{0}/*.log\", \"{0}/later.log\"]\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let r = check_file(&cfg);
        assert!(r.ok(), "{:#?}", r.problems);
        // later.log does not exist yet; the token will be generated.
        let keys: Vec<&str> = r.notes.iter().map(|n| n.key.as_str()).collect();
        assert_eq!(keys, vec!["tokens", "server.logs"], "{:#?}", r.notes);
        assert!(r.notes[1].msg.contains("later.log: does not exist yet"));
        let missing = check_file(&dir.path().join("nope.toml"));
        assert_eq!(missing.problems.len(), 1);
        assert!(missing.problems[0].msg.starts_with("cannot read"));
    }
}
