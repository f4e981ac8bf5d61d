//! The systemd notification protocol (`sd_notify(3)`), written out: datagrams such as `READY=1`,
//! `STATUS=…` or `WATCHDOG=1` sent to the socket named by `NOTIFY_SOCKET` (a path, or an
//! abstract socket when it starts with `@`). Without `NOTIFY_SOCKET` (not started by systemd, or
//! not `Type=notify`) there is nothing to tell and nothing is sent.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// A connection to the service manager's notification socket.
#[derive(Debug)]
pub struct Notifier {
    sock: UnixDatagram,
    addr: SocketAddr,
}

impl Notifier {
    /// The notifier `NOTIFY_SOCKET` asks for: `Ok(None)` without it, `Err` when it names a socket
    /// this process cannot use.
    pub fn from_env() -> io::Result<Option<Notifier>> {
        match std::env::var_os("NOTIFY_SOCKET") {
            None => Ok(None),
            Some(v) if v.is_empty() => Ok(None),
            Some(v) => Notifier::new(&v.to_string_lossy()).map(Some),
        }
    }

    /// A notifier for the socket `name` (a path, or `@name` for an abstract socket).
    pub fn new(name: &str) -> io::Result<Notifier> {
        let addr = socket_addr(name)?;
        let sock = UnixDatagram::unbound()?;
        Ok(Notifier { sock, addr })
    }

    /// Sends one notification (`KEY=VALUE` lines). Never blocks: the socket is a datagram one
    /// and the service manager reads it at once.
    pub fn notify(&self, state: &str) -> io::Result<()> {
        let n = self.sock.send_to_addr(state.as_bytes(), &self.addr)?;
        if n != state.len() {
            return Err(io::Error::other("the notification was cut short"));
        }
        Ok(())
    }
}

/// The service manager, if there is one to tell: notifications are sent when `NOTIFY_SOCKET`
/// named a usable socket, and are dropped otherwise. A failed send is logged, never fatal.
#[derive(Debug, Default)]
pub struct Manager(Option<Notifier>);

impl Manager {
    /// From `NOTIFY_SOCKET` (a socket that cannot be used is logged and ignored).
    pub fn from_env() -> Manager {
        match Notifier::from_env() {
            Ok(n) => Manager(n),
            Err(e) => {
                tracing::warn!(
                    "NOTIFY_SOCKET: {e}: systemd will not be told when lmtally is ready"
                );
                Manager(None)
            }
        }
    }

    pub fn is_active(&self) -> bool {
        self.0.is_some()
    }

    pub fn notify(&self, state: &str) {
        if let Some(n) = &self.0 {
            if let Err(e) = n.notify(state) {
                tracing::warn!(
                    "cannot notify systemd ({}): {e}",
                    state.lines().next().unwrap_or("")
                );
            }
        }
    }
}

/// `1.5 MiB`, `320 B`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The catch-up progress for `STATUS=`. `files`: (bytes read, size now) of each file being
/// followed, empty while the reader has not reported any; `listed`: (count, total size) of the
/// files the configuration names now; `servers`: how many license servers are configured.
pub fn progress_text(
    caught_up: bool,
    files: &[(u64, u64)],
    listed: (usize, u64),
    servers: usize,
) -> String {
    if caught_up {
        let read: u64 = files.iter().map(|f| f.0).sum();
        return format!(
            "caught up: {} log file(s) of {servers} license server(s), {} read",
            files.len(),
            human_bytes(read)
        );
    }
    if files.is_empty() {
        return format!(
            "catching up: reading {} log file(s), {}",
            listed.0,
            human_bytes(listed.1)
        );
    }
    let done = files.iter().filter(|f| f.0 >= f.1).count();
    let behind: u64 = files.iter().map(|f| f.1.saturating_sub(f.0)).sum();
    format!(
        "catching up: {done}/{} files, {} behind",
        files.len(),
        human_bytes(behind)
    )
}

/// The address of a `NOTIFY_SOCKET` value.
fn socket_addr(name: &str) -> io::Result<SocketAddr> {
    if let Some(abstract_name) = name.strip_prefix('@') {
        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt;
            return SocketAddr::from_abstract_name(abstract_name.as_bytes());
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = abstract_name;
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "abstract sockets exist only on Linux",
            ));
        }
    }
    if !name.starts_with('/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("NOTIFY_SOCKET={name}: not a socket path or @name"),
        ));
    }
    SocketAddr::from_pathname(name)
}

/// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, when it is set for this process
/// (`WATCHDOG_PID` absent or equal to `pid`).
pub fn watchdog_interval(
    usec: Option<&str>,
    watchdog_pid: Option<&str>,
    pid: u32,
) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|&u| u > 0)?;
    if let Some(p) = watchdog_pid {
        if p.trim().parse::<u32>().ok()? != pid {
            return None;
        }
    }
    Some(Duration::from_micros(usec / 2))
}

/// [`watchdog_interval`] from this process's environment.
pub fn watchdog_from_env() -> Option<Duration> {
    let usec = std::env::var("WATCHDOG_USEC").ok();
    let pid = std::env::var("WATCHDOG_PID").ok();
    watchdog_interval(usec.as_deref(), pid.as_deref(), std::process::id())
}

/// `RELOADING=1` with the `MONOTONIC_USEC=` systemd wants beside it (CLOCK_MONOTONIC, µs).
pub fn reloading_message() -> String {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let usec = t.tv_sec as u64 * 1_000_000 + t.tv_nsec as u64 / 1_000;
    format!("RELOADING=1\nMONOTONIC_USEC={usec}")
}

/// A `STATUS=` text cannot span lines: anything after a line end is dropped.
pub fn status_message(text: &str) -> String {
    format!("STATUS={}", text.lines().next().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_half_of_usec_for_this_pid_only() {
        assert_eq!(
            watchdog_interval(Some("30000000"), None, 7),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            watchdog_interval(Some("30000000"), Some("7"), 7),
            Some(Duration::from_secs(15))
        );
        assert_eq!(watchdog_interval(Some("30000000"), Some("8"), 7), None);
        assert_eq!(watchdog_interval(Some("0"), None, 7), None);
        assert_eq!(watchdog_interval(Some("x"), None, 7), None);
        assert_eq!(watchdog_interval(None, Some("7"), 7), None);
    }

    #[test]
    fn sends_to_a_path_socket_and_an_abstract_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::new(path.to_str().unwrap()).unwrap();
        n.notify("READY=1\nSTATUS=up").unwrap();
        let mut buf = [0u8; 256];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=up");

        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt;
            let name = format!("lmtally-test-{}", std::process::id());
            let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
            let server = UnixDatagram::bind_addr(&addr).unwrap();
            let n = Notifier::new(&format!("@{name}")).unwrap();
            n.notify("WATCHDOG=1").unwrap();
            let len = server.recv(&mut buf).unwrap();
            assert_eq!(&buf[..len], b"WATCHDOG=1");
        }
        assert!(Notifier::new("relative/path").is_err());
    }

    #[test]
    fn progress() {
        assert_eq!(human_bytes(320), "320 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(120 << 20), "120.0 MiB");
        assert_eq!(
            progress_text(false, &[], (5, 3 << 20), 2),
            "catching up: reading 5 log file(s), 3.0 MiB"
        );
        assert_eq!(
            progress_text(false, &[(10, 10), (0, 2 << 20), (5, 10)], (3, 0), 2),
            "catching up: 1/3 files, 2.0 MiB behind"
        );
        assert_eq!(
            progress_text(true, &[(1024, 1024), (1024, 2000)], (2, 0), 1),
            "caught up: 2 log file(s) of 1 license server(s), 2.0 KiB read"
        );
    }

    #[test]
    fn messages() {
        assert_eq!(status_message("caught up\nmore"), "STATUS=caught up");
        let r = reloading_message();
        let usec: u64 = r
            .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
            .unwrap()
            .parse()
            .unwrap();
        assert!(usec > 0);
    }
}
