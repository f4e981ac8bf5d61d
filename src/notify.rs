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
