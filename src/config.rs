//! The daemon's configuration file (TOML). Every problem is collected, each naming its key and
//! the line it is on, so that `check-config` can report them all in one run.

use crate::batch::ServerSpec;
use crate::core::{Model, Options, UserIdentity};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use toml::de::{DeTable, DeValue};

/// A license server of the configuration: a name and log paths or glob patterns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    pub name: String,
    pub logs: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub licensing_model: Model,
    pub user_identity: UserIdentity,
    pub fold_case: bool,
    pub count_unsupported_as_denial: bool,
    /// `None`: the system's zone.
    pub timezone: Option<chrono_tz::Tz>,
    pub tokens: Vec<String>,
    pub tokens_file: Option<PathBuf>,
    /// Poll instead of waiting for file events (network file systems).
    pub poll_interval_ms: Option<u64>,
    /// Serve `/metrics` without a token.
    pub metrics_public: bool,
    pub servers: Vec<ServerConfig>,
    /// Where the keys that were given are in the file (for checks made after parsing).
    pub lines: KeyLines,
}

/// The lines (1-based) of the keys of a configuration file, for messages about values that
/// parsed but turn out to be unusable (`check-config`: an unreadable log directory, a port in
/// use). A key that was not given has no line (0).
#[derive(Clone, Debug, Default)]
pub struct KeyLines {
    top: Vec<(String, usize)>,
    /// One per entry of [`Config::servers`], in the same order.
    pub servers: Vec<ServerLines>,
}

/// Where a `[[server]]` is: its table header and each of its `logs` patterns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerLines {
    pub table: usize,
    pub logs: Vec<usize>,
}

impl KeyLines {
    /// The line of a top-level key, 0 when it was not given.
    pub fn of(&self, key: &str) -> usize {
        self.top
            .iter()
            .find(|(k, _)| k == key)
            .map_or(0, |&(_, l)| l)
    }
}

/// One problem in a configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub path: PathBuf,
    /// 1-based; 0 when the problem is not on one line (a missing key, an unreadable file).
    pub line: usize,
    pub key: String,
    pub msg: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.key.is_empty()) {
            (0, true) => write!(f, "{}: {}", self.path.display(), self.msg),
            (0, false) => write!(f, "{}: `{}`: {}", self.path.display(), self.key, self.msg),
            (l, true) => write!(f, "{}:{l}: {}", self.path.display(), self.msg),
            (l, false) => write!(
                f,
                "{}:{l}: `{}`: {}",
                self.path.display(),
                self.key,
                self.msg
            ),
        }
    }
}

/// The keys of the top level and of a `[[server]]`.
pub const KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "licensing_model",
    "user_identity",
    "fold_case",
    "count_unsupported_as_denial",
    "timezone",
    "tokens",
    "tokens_file",
    "poll_interval_ms",
    "metrics_public",
    "server",
];
pub const SERVER_KEYS: &[&str] = &["name", "logs"];

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, Vec<ConfigError>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![ConfigError {
                path: path.to_path_buf(),
                line: 0,
                key: String::new(),
                msg: format!("cannot read: {e}"),
            }]
        })?;
        Config::parse(&text, path)
    }

    /// The counting options of the report.
    pub fn options(&self) -> Options {
        Options {
            user_identity: self.user_identity,
            fold_case: self.fold_case,
            count_unsupported_as_denial: self.count_unsupported_as_denial,
        }
    }

    /// The keys whose change a SIGHUP does not apply (a restart does): all but `tokens`,
    /// `tokens_file` and the `[[server]]` list. Those of `new` that differ from `self`.
    pub fn restart_only_changes(&self, new: &Config) -> Vec<&'static str> {
        let mut v = Vec::new();
        let mut check = |key: &'static str, same: bool| {
            if !same {
                v.push(key);
            }
        };
        check("listen", self.listen == new.listen);
        check("data_dir", self.data_dir == new.data_dir);
        check(
            "licensing_model",
            self.licensing_model == new.licensing_model,
        );
        check("user_identity", self.user_identity == new.user_identity);
        check("fold_case", self.fold_case == new.fold_case);
        check(
            "count_unsupported_as_denial",
            self.count_unsupported_as_denial == new.count_unsupported_as_denial,
        );
        check("timezone", self.timezone == new.timezone);
        check(
            "poll_interval_ms",
            self.poll_interval_ms == new.poll_interval_ms,
        );
        check("metrics_public", self.metrics_public == new.metrics_public);
        v
    }

    /// The servers with their patterns expanded to the files that exist now: a plain path is
    /// kept as it is (it may appear later), a glob gives its matches in name order. A file
    /// matched twice keeps its first place.
    pub fn resolve_logs(&self) -> Vec<ServerSpec> {
        resolve_servers(&self.servers)
    }

    /// Parses and checks configuration text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, Vec<ConfigError>> {
        match Config::parse_partial(text, path) {
            (Some(c), errors) if errors.is_empty() => Ok(c),
            (_, errors) => Err(errors),
        }
    }

    /// Parses configuration text, keeping what is valid: every problem, and (unless the text is
    /// not TOML at all) the configuration with defaults in place of the values in error and
    /// without the `[[server]]` entries in error. `check-config` checks the valid values further.
    pub fn parse_partial(text: &str, path: &Path) -> (Option<Config>, Vec<ConfigError>) {
        let mut p = Checker {
            text,
            path,
            errors: Vec::new(),
        };
        let table = match DeTable::parse(text) {
            Ok(t) => t,
            Err(e) => {
                let line = e.span().map_or(0, |s| p.line_of(s.start));
                let msg = e.message().to_string();
                p.error(line, "", &format!("not valid TOML: {msg}"));
                return (None, p.errors);
            }
        };
        let c = p.config(&table, path);
        let mut errors = p.errors;
        // In file order; problems that are not on a line last.
        errors.sort_by_key(|e| (e.line == 0, e.line));
        (Some(c), errors)
    }
}

/// The servers with their patterns expanded to the files that exist now (see
/// [`Config::resolve_logs`]).
pub fn resolve_servers(servers: &[ServerConfig]) -> Vec<ServerSpec> {
    let mut seen = std::collections::HashSet::new();
    servers
        .iter()
        .map(|s| {
            let mut files = Vec::new();
            for pattern in &s.logs {
                for f in expand(pattern) {
                    if seen.insert(f.clone()) {
                        files.push(f);
                    }
                }
            }
            ServerSpec {
                name: s.name.clone(),
                files,
            }
        })
        .collect()
}

impl Checker<'_> {
    /// The configuration of a parsed TOML table; problems go to `self.errors`.
    fn config(&mut self, table: &toml::Spanned<DeTable<'_>>, path: &Path) -> Config {
        let p = self;
        let mut c = Config {
            path: path.to_path_buf(),
            listen: "127.0.0.1:8080".parse().expect("a valid address"),
            data_dir: PathBuf::from("/var/lib/lmtally"),
            licensing_model: Model::M2019,
            user_identity: UserIdentity::User,
            fold_case: false,
            count_unsupported_as_denial: false,
            timezone: None,
            tokens: Vec::new(),
            tokens_file: None,
            poll_interval_ms: None,
            metrics_public: false,
            servers: Vec::new(),
            lines: KeyLines::default(),
        };
        let mut saw_servers = false;
        for (k, v) in table.get_ref() {
            let key = k.get_ref().as_ref();
            let line = p.line_of(k.span().start);
            let val = v.get_ref();
            c.lines.top.push((key.to_string(), line));
            match key {
                "listen" => {
                    if let Some(s) = p.string(line, key, val) {
                        match s.parse::<SocketAddr>() {
                            Ok(a) => c.listen = a,
                            Err(_) => p.error(
                                line,
                                key,
                                &format!("'{s}' is not an address:port such as 127.0.0.1:8080"),
                            ),
                        }
                    }
                }
                "data_dir" => {
                    if let Some(s) = p.string(line, key, val) {
                        if s.is_empty() {
                            p.error(line, key, "must not be empty");
                        } else {
                            c.data_dir = PathBuf::from(s);
                        }
                    }
                }
                "licensing_model" => {
                    let m = match val {
                        DeValue::Integer(i) => Model::parse(i.as_str()),
                        DeValue::String(s) => Model::parse(s),
                        _ => None,
                    };
                    match m {
                        Some(m) => c.licensing_model = m,
                        None => p.error(line, key, "must be 2019 or 2013"),
                    }
                }
                "user_identity" => {
                    if let Some(s) = p.string(line, key, val) {
                        match s {
                            "user" => c.user_identity = UserIdentity::User,
                            "user@host" => c.user_identity = UserIdentity::UserAtHost,
                            _ => p.error(
                                line,
                                key,
                                &format!("'{s}' is not \"user\" or \"user@host\""),
                            ),
                        }
                    }
                }
                "fold_case" => c.fold_case = p.boolean(line, key, val).unwrap_or(false),
                "count_unsupported_as_denial" => {
                    c.count_unsupported_as_denial = p.boolean(line, key, val).unwrap_or(false)
                }
                "metrics_public" => c.metrics_public = p.boolean(line, key, val).unwrap_or(false),
                "timezone" => {
                    if let Some(s) = p.string(line, key, val) {
                        match s.parse::<chrono_tz::Tz>() {
                            Ok(tz) => c.timezone = Some(tz),
                            Err(_) => p.error(
                                line,
                                key,
                                &format!(
                                    "'{s}' is not an IANA time zone name such as Europe/Madrid"
                                ),
                            ),
                        }
                    }
                }
                "tokens" => {
                    if let Some(items) = p.strings(line, key, val) {
                        if items
                            .iter()
                            .any(|t| t.trim().is_empty() || t.chars().any(char::is_whitespace))
                        {
                            p.error(line, key, "a token must not be empty or contain blanks");
                        } else {
                            c.tokens = items;
                        }
                    }
                }
                "tokens_file" => {
                    if let Some(s) = p.string(line, key, val) {
                        c.tokens_file = Some(PathBuf::from(s));
                    }
                }
                "poll_interval_ms" => match val {
                    DeValue::Integer(i) => {
                        match u64::from_str_radix(&i.as_str().replace('_', ""), i.radix()) {
                            Ok(n) if (10..=3_600_000).contains(&n) => c.poll_interval_ms = Some(n),
                            _ => p.error(
                                line,
                                key,
                                "must be a whole number of milliseconds from 10 to 3600000",
                            ),
                        }
                    }
                    _ => p.error(
                        line,
                        key,
                        "must be a whole number of milliseconds from 10 to 3600000",
                    ),
                },
                "server" => {
                    saw_servers = true;
                    let DeValue::Array(arr) = val else {
                        p.error(line, key, "must be an array of tables: write [[server]]");
                        continue;
                    };
                    for item in arr.iter() {
                        let iline = p.line_of(item.span().start);
                        let DeValue::Table(t) = item.get_ref() else {
                            p.error(iline, key, "must be an array of tables: write [[server]]");
                            continue;
                        };
                        if let Some((s, lines)) = p.server(iline, t) {
                            if c.servers.iter().any(|o| o.name == s.name) {
                                p.error(
                                    iline,
                                    "server.name",
                                    &format!("'{}' is used by another [[server]]", s.name),
                                );
                            } else {
                                c.servers.push(s);
                                c.lines.servers.push(lines);
                            }
                        }
                    }
                }
                _ => p.error(line, key, "unknown key"),
            }
        }
        if !saw_servers {
            p.error(
                0,
                "server",
                "no [[server]]: name at least one license server and its logs",
            );
        }
        c
    }
}

/// Now, as a server-local instant: the wall clock in `tz`, or in the system's zone.
pub fn local_now(tz: Option<chrono_tz::Tz>) -> lmtally_parsers::date::Instant {
    let naive = match tz {
        Some(tz) => chrono::Utc::now().with_timezone(&tz).naive_local(),
        None => chrono::Local::now().naive_local(),
    };
    naive.and_utc().timestamp()
}

/// A log pattern: a glob (`*`, `?`, `[`) gives its matches in name order; anything else is a path.
pub fn expand(pattern: &str) -> Vec<PathBuf> {
    if !pattern.contains(['*', '?', '[']) {
        return vec![PathBuf::from(pattern)];
    }
    let mut v: Vec<PathBuf> = match glob::glob(pattern) {
        Ok(paths) => paths
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

struct Checker<'a> {
    text: &'a str,
    path: &'a Path,
    errors: Vec<ConfigError>,
}

impl Checker<'_> {
    fn line_of(&self, offset: usize) -> usize {
        1 + self.text.as_bytes()[..offset.min(self.text.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
    }

    fn error(&mut self, line: usize, key: &str, msg: &str) {
        self.errors.push(ConfigError {
            path: self.path.to_path_buf(),
            line,
            key: key.to_string(),
            msg: msg.to_string(),
        });
    }

    fn string<'v>(&mut self, line: usize, key: &str, v: &'v DeValue<'_>) -> Option<&'v str> {
        match v {
            DeValue::String(s) => Some(s.as_ref()),
            other => {
                self.error(
                    line,
                    key,
                    &format!("must be a string, not {}", other.type_str()),
                );
                None
            }
        }
    }

    fn boolean(&mut self, line: usize, key: &str, v: &DeValue<'_>) -> Option<bool> {
        match v {
            DeValue::Boolean(b) => Some(*b),
            other => {
                self.error(
                    line,
                    key,
                    &format!("must be true or false, not {}", other.type_str()),
                );
                None
            }
        }
    }

    fn strings(&mut self, line: usize, key: &str, v: &DeValue<'_>) -> Option<Vec<String>> {
        let DeValue::Array(a) = v else {
            self.error(line, key, "must be an array of strings");
            return None;
        };
        let mut out = Vec::new();
        for item in a.iter() {
            match item.get_ref() {
                DeValue::String(s) => out.push(s.to_string()),
                _ => {
                    let l = self.line_of(item.span().start);
                    self.error(l, key, "must be an array of strings");
                    return None;
                }
            }
        }
        Some(out)
    }

    fn server(&mut self, line: usize, t: &DeTable<'_>) -> Option<(ServerConfig, ServerLines)> {
        let mut name = None;
        let mut logs = None;
        let mut lines = ServerLines {
            table: line,
            logs: Vec::new(),
        };
        let mut ok = true;
        for (k, v) in t {
            let key = k.get_ref().as_ref();
            let kline = self.line_of(k.span().start);
            let full = format!("server.{key}");
            match key {
                "name" => match self.string(kline, &full, v.get_ref()) {
                    Some("") => {
                        self.error(kline, &full, "must not be empty");
                        ok = false;
                    }
                    Some(s) => name = Some(s.to_string()),
                    None => ok = false,
                },
                "logs" => match self.strings(kline, &full, v.get_ref()) {
                    Some(l) if l.is_empty() || l.iter().any(String::is_empty) => {
                        self.error(
                            kline,
                            &full,
                            "must list at least one path or glob, none empty",
                        );
                        ok = false;
                    }
                    Some(l) => {
                        lines.logs = match v.get_ref() {
                            DeValue::Array(a) => a
                                .iter()
                                .map(|item| self.line_of(item.span().start))
                                .collect(),
                            _ => Vec::new(),
                        };
                        logs = Some(l)
                    }
                    None => ok = false,
                },
                _ => {
                    self.error(kline, &full, "unknown key");
                    ok = false;
                }
            }
        }
        if name.is_none() && ok {
            self.error(line, "server.name", "missing");
        }
        if logs.is_none() && ok {
            self.error(line, "server.logs", "missing");
        }
        let server = ServerConfig {
            name: name?,
            logs: logs?,
        };
        ok.then_some((server, lines))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Config, Vec<ConfigError>> {
        Config::parse(s, Path::new("test.toml"))
    }

    #[test]
    fn full_example_parses() {
        let c = parse(
            r#"
listen = "127.0.0.1:9090"
data_dir = "/tmp/x"
licensing_model = 2013
user_identity = "user@host"
fold_case = true
count_unsupported_as_denial = true
timezone = "Europe/Madrid"
tokens = ["abc"]
tokens_file = "/etc/lmtally/tokens"
poll_interval_ms = 500
metrics_public = true
[[server]]
name = "flexlm01"
logs = ["/var/log/flexlm/lmgrd.log", "/var/log/flexlm/*.dl"]
"#,
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9090);
        assert_eq!(c.licensing_model, Model::M2013);
        assert_eq!(c.user_identity, UserIdentity::UserAtHost);
        assert!(c.fold_case && c.count_unsupported_as_denial && c.metrics_public);
        assert_eq!(c.timezone, Some(chrono_tz::Europe::Madrid));
        assert_eq!(c.poll_interval_ms, Some(500));
        assert_eq!(c.servers[0].logs.len(), 2);
    }

    #[test]
    fn defaults_are_loopback_and_2019() {
        let c = parse("[[server]]\nname = \"a\"\nlogs = [\"/x\"]\n").unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.licensing_model, Model::M2019);
        assert_eq!(c.timezone, None);
    }

    #[test]
    fn every_problem_reported_with_key_and_line() {
        let errs = parse(
            "listen = \"nowhere\"\nbogus = 1\nlicensing_model = 2020\ntimezone = \"Mars/Base\"\n[[server]]\nname = \"a\"\nlogs = []\nextra = 2\n",
        )
        .unwrap_err();
        let got: Vec<(usize, &str)> = errs.iter().map(|e| (e.line, e.key.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (1, "listen"),
                (2, "bogus"),
                (3, "licensing_model"),
                (4, "timezone"),
                (7, "server.logs"),
                (8, "server.extra")
            ]
        );
        assert!(errs[1]
            .to_string()
            .starts_with("test.toml:2: `bogus`: unknown key"));
    }

    #[test]
    fn lines_of_keys_and_log_patterns() {
        let c = parse(
            "# comment\nlisten = \"127.0.0.1:1\"\n\n[[server]]\nname = \"a\"\nlogs = [\n  \"/x\",\n  \"/y/*.log\",\n]\n[[server]]\nname = \"b\"\nlogs = [\"/z\"]\n",
        )
        .unwrap();
        assert_eq!(c.lines.of("listen"), 2);
        assert_eq!(c.lines.of("tokens_file"), 0);
        assert_eq!(
            c.lines.servers,
            vec![
                ServerLines {
                    table: 4,
                    logs: vec![7, 8]
                },
                ServerLines {
                    table: 10,
                    logs: vec![12]
                }
            ]
        );
    }

    #[test]
    fn partial_parse_keeps_the_valid_values() {
        let (c, errs) = Config::parse_partial(
            "listen = \"127.0.0.1:9\"\ndata_dir = 5\n[[server]]\nname = \"a\"\nlogs = [\"/x\"]\n[[server]]\nname = \"b\"\nlogs = 3\n",
            Path::new("t.toml"),
        );
        let c = c.unwrap();
        assert_eq!(c.listen.port(), 9);
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/lmtally"));
        assert_eq!(c.servers.len(), 1);
        assert_eq!(c.lines.servers.len(), 1);
        let keys: Vec<&str> = errs.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, vec!["data_dir", "server.logs"]);
        let (none, errs) = Config::parse_partial("a = = 1\n", Path::new("t.toml"));
        assert!(none.is_none() && errs.len() == 1);
    }

    #[test]
    fn changes_that_need_a_restart() {
        let a = parse("tokens = [\"x\"]\n[[server]]\nname = \"a\"\nlogs = [\"/x\"]\n").unwrap();
        let b = parse(
            "tokens = [\"y\"]\nfold_case = true\nlisten = \"127.0.0.1:9\"\n[[server]]\nname = \"b\"\nlogs = [\"/y\"]\n",
        )
        .unwrap();
        assert_eq!(a.restart_only_changes(&a), Vec::<&str>::new());
        assert_eq!(a.restart_only_changes(&b), vec!["listen", "fold_case"]);
    }

    #[test]
    fn no_server_is_an_error() {
        let errs = parse("listen = \"127.0.0.1:1\"\n").unwrap_err();
        assert_eq!(errs[0].key, "server");
    }

    #[test]
    fn bad_toml_names_the_line() {
        let errs = parse("a = 1\nb = = 2\n").unwrap_err();
        assert_eq!(errs[0].line, 2);
    }
}
