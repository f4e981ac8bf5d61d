//! Logs on standard error with `tracing`; the level comes from `RUST_LOG` (default `info`).
//!
//! Under systemd, when standard error is the journal (`JOURNAL_STREAM` names it), each line is
//! written the way journald reads it: a `<N>` syslog priority prefix (`<3>` error, `<4>` warning,
//! `<6>` info, `<7>` debug and trace) and no timestamp or colour, which the journal adds itself.
//! Elsewhere lines have a timestamp and the level, with colours on a terminal.

use std::fmt;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// The syslog priority journald gives a line with this level.
pub fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// One line an event: `<priority>message field=value …`.
pub struct Journald;

impl<S, N> FormatEvent<S, N> for Journald
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", priority(event.metadata().level()))?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Whether standard error is the journal: `JOURNAL_STREAM` is `DEVICE:INODE` of it.
pub fn stderr_is_journal() -> bool {
    use std::os::fd::AsFd;
    let Some(v) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    let Ok(meta) = std::fs::File::from(fd).metadata() else {
        return false;
    };
    names(&v.to_string_lossy(), &meta)
}

/// Whether a `JOURNAL_STREAM` value (`DEVICE:INODE`, decimal) names the file of `meta`.
pub fn names(journal_stream: &str, meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some((dev, ino)) = journal_stream.trim().split_once(':') else {
        return false;
    };
    dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino())
}

/// `<3>` (error priority) when standard error is the journal, else nothing: for the lines written
/// before or without the logger (a configuration refused by `serve`).
pub fn error_prefix() -> &'static str {
    if stderr_is_journal() {
        "<3>"
    } else {
        ""
    }
}

/// Installs the logger (once; later calls do nothing).
pub fn init() {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if stderr_is_journal() {
        builder.with_ansi(false).event_format(Journald).try_init()
    } else {
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn journald_lines_carry_the_priority_and_no_timestamp() {
        let buf = Buf::default();
        let out = buf.clone();
        let sub = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new("debug"))
            .with_ansi(false)
            .event_format(Journald)
            .with_writer(move || out.clone())
            .finish();
        tracing::subscriber::with_default(sub, || {
            tracing::error!("cannot listen on {}", "127.0.0.1:1");
            tracing::warn!(peer = "127.0.0.1:5", "401");
            tracing::info!("listening");
            tracing::debug!("request");
            tracing::trace!("hidden");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "<3>cannot listen on 127.0.0.1:1\n<4>401 peer=\"127.0.0.1:5\"\n<6>listening\n<7>request\n"
        );
    }

    #[test]
    fn journal_stream_must_name_the_file() {
        use std::os::unix::fs::MetadataExt;
        let f = tempfile::tempfile().unwrap();
        let m = f.metadata().unwrap();
        assert!(names(&format!("{}:{}", m.dev(), m.ino()), &m));
        assert!(!names(&format!("{}:{}", m.dev(), m.ino() + 1), &m));
        assert!(!names(&format!("{}:{}", m.dev() + 1, m.ino()), &m));
        assert!(!names("", &m));
        assert!(!names("12", &m));
        assert!(!names("a:b", &m));
    }
}
