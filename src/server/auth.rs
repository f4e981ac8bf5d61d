//! API tokens: where they come from (`tokens`, `tokens_file`, or a generated `data_dir/token`)
//! and their constant-time check.

use crate::config::Config;
use std::io::Write;
use std::path::{Path, PathBuf};
use subtle::{Choice, ConstantTimeEq};

/// The accepted tokens.
#[derive(Clone)]
pub struct Tokens {
    tokens: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the tokens themselves.
        write!(f, "Tokens({} configured)", self.tokens.len())
    }
}

impl Tokens {
    pub fn new<S: AsRef<str>>(tokens: &[S]) -> Self {
        Tokens {
            tokens: tokens
                .iter()
                .map(|t| t.as_ref().as_bytes().to_vec())
                .collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Whether `given` is one of the tokens. Every token is compared, each in constant time, so
    /// the time taken does not tell which bytes (or which token) matched.
    pub fn accepts(&self, given: &[u8]) -> bool {
        let mut ok = Choice::from(0);
        for t in &self.tokens {
            ok |= t.as_slice().ct_eq(given);
        }
        ok.into()
    }
}

/// Where the tokens came from, for the start-up log (paths only, never a token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `tokens` and/or `tokens_file`.
    Configured,
    /// No token configured: the one in this file, written by an earlier start.
    Existing(PathBuf),
    /// No token configured: a new random token, just written to this file (mode 0600).
    Generated(PathBuf),
}

/// One token a line; blank lines and lines starting with `#` are skipped.
pub fn parse_tokens_file(text: &str, path: &Path) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "{}:{}: a token must not contain blanks",
                path.display(),
                i + 1
            ));
        }
        out.push(t.to_string());
    }
    Ok(out)
}

/// A new random token: 32 bytes from the operating system, as 64 hex digits.
pub fn random_token() -> Result<String, String> {
    use rand::TryRng;
    let mut bytes = [0u8; 32];
    rand::rngs::SysRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| format!("cannot get random bytes for a token: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The tokens of a configuration: `tokens` plus the lines of `tokens_file`. With none, the token
/// in `data_dir/token`, created (mode 0600, random) on the first start.
pub fn load(config: &Config) -> Result<(Tokens, Origin), String> {
    let mut tokens = config.tokens.clone();
    if let Some(path) = &config.tokens_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("tokens_file {}: {e}", path.display()))?;
        tokens.extend(parse_tokens_file(&text, path)?);
    }
    if !tokens.is_empty() {
        return Ok((Tokens::new(&tokens), Origin::Configured));
    }
    let path = config.data_dir.join("token");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let t = text.trim();
            if !t.is_empty() && !t.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Ok((Tokens::new(&[t]), Origin::Existing(path)));
            }
            // Empty or damaged: replaced below.
            std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", path.display())),
    }
    let token = random_token()?;
    write_private(&path, &token).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((Tokens::new(&[token]), Origin::Generated(path)))
}

/// Writes `token` and a newline to a new file readable by its owner only.
fn write_private(path: &Path, token: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(token.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str, dir: &Path) -> Config {
        let text = format!(
            "data_dir = \"{}\"\n{extra}\n[[server]]\nname = \"a\"\nlogs = [\"/x\"]\n",
            dir.display()
        );
        Config::parse(&text, Path::new("t.toml")).unwrap()
    }

    #[test]
    fn accepts_only_configured_tokens() {
        let t = Tokens::new(&["alpha", "beta-2"]);
        assert!(t.accepts(b"alpha"));
        assert!(t.accepts(b"beta-2"));
        assert!(!t.accepts(b"alph"));
        assert!(!t.accepts(b"alphaa"));
        assert!(!t.accepts(b"ALPHA"));
        assert!(!t.accepts(b""));
        assert!(!Tokens::new::<&str>(&[]).accepts(b""));
        assert_eq!(format!("{t:?}"), "Tokens(2 configured)");
    }

    #[test]
    fn tokens_file_lines_and_comments() {
        let got = parse_tokens_file("# admins\n\n  tok1  \ntok2\n#tok3\n", Path::new("f")).unwrap();
        assert_eq!(got, vec!["tok1", "tok2"]);
        let e = parse_tokens_file("ok\ntwo words\n", Path::new("f")).unwrap_err();
        assert_eq!(e, "f:2: a token must not contain blanks");
    }

    #[test]
    fn configured_tokens_and_file_are_merged() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("tokens");
        std::fs::write(&f, "# x\nfromfile\n").unwrap();
        let c = config(
            &format!("tokens = [\"inline\"]\ntokens_file = \"{}\"", f.display()),
            dir.path(),
        );
        let (t, origin) = load(&c).unwrap();
        assert_eq!(origin, Origin::Configured);
        assert!(t.accepts(b"inline") && t.accepts(b"fromfile"));
        assert!(!dir.path().join("token").exists());
        let missing = config(
            &format!("tokens_file = \"{}\"", dir.path().join("nope").display()),
            dir.path(),
        );
        assert!(load(&missing).unwrap_err().starts_with("tokens_file "));
    }

    #[test]
    fn generated_once_with_mode_0600_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let c = config("", &data);
        let (t1, o1) = load(&c).unwrap();
        let path = data.join("token");
        assert_eq!(o1, Origin::Generated(path.clone()));
        let token = std::fs::read_to_string(&path).unwrap();
        let token = token.trim();
        assert_eq!(token.len(), 64);
        assert!(t1.accepts(token.as_bytes()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let (t2, o2) = load(&c).unwrap();
        assert_eq!(o2, Origin::Existing(path.clone()));
        assert!(t2.accepts(token.as_bytes()));
        assert_ne!(random_token().unwrap(), random_token().unwrap());
    }
}
