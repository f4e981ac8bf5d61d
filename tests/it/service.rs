//! Running as a service (issue 5): the systemd notifications of `lmtally serve` (READY=1 read
//! from a socket the test binds as NOTIFY_SOCKET, STATUS=, WATCHDOG=1, RELOADING=1, STOPPING=1),
//! SIGHUP reloads, `GET /metrics` parsed as Prometheus text, `check-config` on the example
//! configuration, the unit checked by `systemd-analyze`, and `systemd/install.sh`.
//!
//! Every server is the real binary on an ephemeral loopback port.

use crate::common::signal;
use prometheus_parse::{LineInfo, Scrape, Value};
use reqwest::blocking::Client;
use serde_json::Value as Json;
use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "svc-token-1";
const BIN: &str = env!("CARGO_BIN_EXE_lmtally");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A log of `days` days from 2023-03-01: on day i, users u0..u{i%3} check out and back in.
fn log_days(days: usize) -> String {
    let mut s = String::from(
        "0:00:00 (lmgrd) FLEXnet Licensing (v11.16.2.0 build 1) started on srv01 (linux) (3/1/2023)\n",
    );
    for i in 0..days {
        s.push_str(&format!(" 0:00:01 (lmgrd) TIMESTAMP 3/{}/2023\n", i + 1));
        for j in 0..=(i % 3) {
            s.push_str(&format!(
                " 9:0{j}:00 (MLM) OUT: \"MATLAB\" u{j}@host{j}  \n"
            ));
        }
        for j in 0..=(i % 3) {
            s.push_str(&format!("17:0{j}:00 (MLM) IN: \"MATLAB\" u{j}@host{j}  \n"));
        }
    }
    s
}

/// Writes a configuration in `dir` (loopback, ephemeral port, data in dir/data).
fn write_config(dir: &Path, extra: &str, servers: &[(&str, &[&Path])]) -> PathBuf {
    let mut text = format!(
        "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\ntimezone = \"UTC\"\n{extra}\n",
        dir.join("data").display()
    );
    for (name, logs) in servers {
        let logs: Vec<String> = logs
            .iter()
            .map(|p| format!("\"{}\"", p.display()))
            .collect();
        text.push_str(&format!(
            "[[server]]\nname = \"{name}\"\nlogs = [{}]\n",
            logs.join(", ")
        ));
    }
    let path = dir.join("lmtally.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `lmtally serve` started by a test, its standard error collected.
struct Daemon {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
    /// When the process was spawned.
    spawned: Instant,
}

impl Daemon {
    fn start(config: &Path, env: &[(&str, &str)]) -> Daemon {
        let mut cmd = crate::common::serve_command(config);
        cmd.env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .env_remove("JOURNAL_STREAM");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let spawned = Instant::now();
        let serve = crate::common::start_serve(cmd);
        Daemon {
            child: serve.child,
            addr: serve.addr,
            log: serve.log,
            spawned,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits for `pred` on the log (standard error), 20 s at most.
    fn wait_log(&self, what: &str, pred: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !pred(&self.log()) {
            assert!(Instant::now() < deadline, "{what}: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then the exit status.
    fn stop(mut self) -> (Option<i32>, String) {
        if self.child.try_wait().unwrap().is_none() {
            signal(self.child.id(), "TERM");
        }
        let status = self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let log = self.log();
        (status.code(), log)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The datagrams sent to a NOTIFY_SOCKET.
struct NotifySocket {
    sock: UnixDatagram,
    got: Vec<(Instant, String)>,
}

impl NotifySocket {
    fn bind(path: &Path) -> NotifySocket {
        NotifySocket::of(UnixDatagram::bind(path).unwrap())
    }

    fn of(sock: UnixDatagram) -> NotifySocket {
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        NotifySocket {
            sock,
            got: Vec::new(),
        }
    }

    /// Reads datagrams until one satisfies `pred` (returned, with when it arrived) or `timeout`.
    fn until(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Option<(Instant, String)> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(n) = self.sock.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).to_string();
                let at = Instant::now();
                self.got.push((at, msg.clone()));
                if pred(&msg) {
                    return Some((at, msg));
                }
            }
        }
        None
    }

    /// The messages that arrive during `d`.
    fn during(&mut self, d: Duration) -> Vec<String> {
        let from = self.got.len();
        let _ = self.until(d, |_| false);
        self.got[from..].iter().map(|(_, m)| m.clone()).collect()
    }
}

fn has_line(msg: &str, line: &str) -> bool {
    msg.lines().any(|l| l == line)
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

#[test]
fn ready_status_watchdog_reload_and_stop_notifications() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("lmgrd.log");
    std::fs::write(&log, log_days(5)).unwrap();
    let config = write_config(
        dir.path(),
        &format!("tokens = [\"{TOKEN}\"]"),
        &[("flexlm01", &[&log])],
    );
    let sock_path = dir.path().join("notify.sock");
    let mut sock = NotifySocket::bind(&sock_path);
    let d = Daemon::start(
        &config,
        &[
            ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "200000"),
        ],
    );
    let (at, ready) = sock
        .until(Duration::from_secs(10), |m| has_line(m, "READY=1"))
        .expect("READY=1");
    let took = at.duration_since(d.spawned);
    println!(
        "start-up to READY=1 (debug build, spawn included): {:.1} ms",
        took.as_secs_f64() * 1e3
    );
    // Generous: the real figure (README) is measured on a release build.
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(
        ready.lines().any(|l| l.starts_with("STATUS=")),
        "READY=1 comes with a STATUS=: {ready:?}"
    );
    // The listener is bound when READY=1 is sent.
    let r = client().get(d.url("/healthz")).send().unwrap();
    assert_eq!(r.text().unwrap(), "ok");

    // STATUS= follows the progress to "caught up".
    sock.until(Duration::from_secs(20), |m| {
        m.lines()
            .any(|l| l.starts_with("STATUS=caught up: 1 log file(s) of 1 license server(s)"))
    })
    .unwrap_or_else(|| panic!("no caught-up STATUS=: {:?}", sock.got));

    // WATCHDOG=1 at half of WATCHDOG_USEC (100 ms).
    let pings = sock
        .during(Duration::from_millis(1000))
        .iter()
        .filter(|m| has_line(m, "WATCHDOG=1"))
        .count();
    assert!(pings >= 3, "{pings} watchdog pings in 1 s");
    assert!(d.log().contains("systemd watchdog: a ping every 100 ms"));

    // SIGHUP: RELOADING=1 (with MONOTONIC_USEC), then READY=1 again.
    signal(d.child.id(), "HUP");
    let (_, reloading) = sock
        .until(Duration::from_secs(10), |m| has_line(m, "RELOADING=1"))
        .expect("RELOADING=1");
    assert!(reloading.lines().any(|l| l
        .strip_prefix("MONOTONIC_USEC=")
        .is_some_and(|v| v.parse::<u64>().is_ok())));
    sock.until(Duration::from_secs(10), |m| has_line(m, "READY=1"))
        .expect("READY=1 after the reload");

    // SIGTERM: STOPPING=1, exit 0 (the process is not reaped before stop(): its id stays its own).
    signal(d.child.id(), "TERM");
    sock.until(Duration::from_secs(10), |m| has_line(m, "STOPPING=1"))
        .expect("STOPPING=1");
    let (code, log) = d.stop();
    assert_eq!(code, Some(0), "{log}");
}

#[test]
fn abstract_notify_socket_and_a_watchdog_meant_for_another_process() {
    use std::os::linux::net::SocketAddrExt;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("lmgrd.log");
    std::fs::write(&log, log_days(2)).unwrap();
    let config = write_config(dir.path(), "", &[("flexlm01", &[&log])]);
    let name = format!(
        "lmtally-it-{}-{}",
        std::process::id(),
        dir.path().file_name().unwrap().to_string_lossy()
    );
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let mut sock = NotifySocket::of(UnixDatagram::bind_addr(&addr).unwrap());
    let d = Daemon::start(
        &config,
        &[
            ("NOTIFY_SOCKET", &format!("@{name}")),
            ("WATCHDOG_USEC", "100000"),
            // Not this process: no pings.
            ("WATCHDOG_PID", "1"),
        ],
    );
    sock.until(Duration::from_secs(10), |m| has_line(m, "READY=1"))
        .expect("READY=1 on an abstract socket");
    let msgs = sock.during(Duration::from_millis(600));
    assert!(!msgs.iter().any(|m| has_line(m, "WATCHDOG=1")), "{msgs:?}");
    let (code, _) = d.stop();
    assert_eq!(code, Some(0));
}

#[test]
fn without_notify_socket_nothing_is_sent_and_it_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("lmgrd.log");
    std::fs::write(&log, log_days(1)).unwrap();
    let config = write_config(dir.path(), "", &[("flexlm01", &[&log])]);
    let d = Daemon::start(&config, &[("WATCHDOG_USEC", "100000")]);
    let r = client().get(d.url("/healthz")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (code, log) = d.stop();
    assert_eq!(code, Some(0));
    assert!(!log.contains("watchdog"), "{log}");
}

fn status(d: &Daemon, token: &str) -> (u16, Json) {
    let r = client()
        .get(d.url("/api/v1/status"))
        .header("X-Auth-token", token)
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap())
}

/// Polls `f` (every 50 ms, 20 s at most) until it gives Some.
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sighup_reloads_tokens_and_servers_without_losing_state() {
    let dir = tempfile::tempdir().unwrap();
    let log1 = dir.path().join("one.log");
    let log2 = dir.path().join("two.log");
    std::fs::write(&log1, log_days(3)).unwrap();
    std::fs::write(&log2, log_days(6)).unwrap();
    let config = write_config(
        dir.path(),
        "tokens = [\"old-token\"]",
        &[("flexlm01", &[&log1])],
    );
    let d = Daemon::start(&config, &[]);
    eventually("caught up", || {
        let (_, s) = status(&d, "old-token");
        (s["caught_up"] == true).then_some(())
    });
    let report = |token: &str| {
        client()
            .get(d.url("/api/v1/report/users/realtime-count/json?sd=2023-03-01&ed=2023-03-06"))
            .header("X-Auth-token", token)
            .send()
            .unwrap()
    };
    let before: Json = report("old-token").json().unwrap();
    assert_eq!(before["data"][2]["ucdy"], 3);
    assert_eq!(before["data"][4]["ucdy"], 0);

    // A bad file changes nothing.
    std::fs::write(
        &config,
        "bogus = 1\n".to_string() + &std::fs::read_to_string(&config).unwrap(),
    )
    .unwrap();
    signal(d.child.id(), "HUP");
    d.wait_log("the reload refused", |l| {
        l.contains("`bogus`: unknown key") && l.contains("nothing reloaded")
    });
    assert_eq!(report("old-token").status().as_u16(), 200);

    // New tokens, a second server, a change that needs a restart.
    write_config(
        dir.path(),
        "tokens = [\"new-token\"]\nfold_case = true",
        &[("flexlm01", &[&log1]), ("flexlm02", &[&log2])],
    );
    signal(d.child.id(), "HUP");
    eventually("the new token", || {
        (report("new-token").status().as_u16() == 200).then_some(())
    });
    assert_eq!(report("old-token").status().as_u16(), 401);
    let s = eventually("both servers read", || {
        let (_, s) = status(&d, "new-token");
        (s["caught_up"] == true && s["files"].as_array().unwrap().len() == 2).then_some(s)
    });
    assert_eq!(s["files"][1]["server"], "flexlm02");
    let after: Json = report("new-token").json().unwrap();
    // Day 5 (index 4) now has flexlm02's 2 users; days 1-3 are as they were.
    assert_eq!(after["data"][4]["ucdy"], 2);
    for i in 0..3 {
        assert_eq!(after["data"][i], before["data"][i]);
    }
    let (code, log) = d.stop();
    assert_eq!(code, Some(0));
    assert!(
        log.contains("fold_case changed: not applied until lmtally is restarted"),
        "{log}"
    );
    assert!(!log.contains("new-token") && !log.contains("old-token"));
}

/// Parses a /metrics body with a Prometheus text-format parser, after checking that every line
/// is a comment or a sample it understands.
fn parse_metrics(text: &str) -> Scrape {
    for line in text.lines() {
        assert!(
            !matches!(LineInfo::parse(line), LineInfo::Ignored | LineInfo::Empty),
            "not Prometheus text format: {line:?}"
        );
    }
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap()
}

/// The value of the sample `name` whose labels include `labels`.
fn value(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    s.samples
        .iter()
        .find(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match &x.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(h) => h.iter().map(|b| b.count).fold(0.0, f64::max),
            Value::Summary(_) => f64::NAN,
        })
}

fn scrape(d: &Daemon, auth: Option<(&str, &str)>) -> (u16, String) {
    let mut req = client().get(d.url("/metrics"));
    if let Some((h, v)) = auth {
        req = req.header(h, v);
    }
    let r = req.send().unwrap();
    let status = r.status().as_u16();
    if status == 200 {
        assert_eq!(
            r.headers()["content-type"],
            "text/plain; version=0.0.4; charset=utf-8"
        );
    }
    (status, r.text().unwrap())
}

#[test]
fn metrics_counters_move_when_lines_are_appended() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("lmgrd.log");
    let first = log_days(4);
    std::fs::write(&log, &first).unwrap();
    let config = write_config(
        dir.path(),
        &format!("tokens = [\"{TOKEN}\"]"),
        &[("flexlm01", &[&log])],
    );
    let d = Daemon::start(&config, &[]);
    let path = log.display().to_string();
    let file = [("server", "flexlm01"), ("path", path.as_str())];

    // A token is needed, in X-Auth-token or as a Bearer token.
    let (code, body) = scrape(&d, None);
    assert_eq!(code, 401);
    assert_eq!(serde_json::from_str::<Json>(&body).unwrap()["code"], 401);
    assert_eq!(scrape(&d, Some(("X-Auth-token", "wrong"))).0, 401);
    assert_eq!(
        scrape(&d, Some(("Authorization", &format!("Bearer {TOKEN}")))).0,
        200
    );

    let first_lines = first.lines().count() as f64;
    let m = eventually("the first reading", || {
        let (_, text) = scrape(&d, Some(("X-Auth-token", TOKEN)));
        let m = parse_metrics(&text);
        (value(&m, "lmtally_caught_up", &[]) == Some(1.0)).then_some(m)
    });
    assert_eq!(
        value(&m, "lmtally_log_lines_total", &file),
        Some(first_lines)
    );
    let kind = |k| [file[0], file[1], ("kind", k)];
    // Days 0..4: 1+2+3+1 checkouts.
    assert_eq!(
        value(&m, "lmtally_log_usage_lines_total", &kind("out")),
        Some(7.0)
    );
    assert_eq!(
        value(&m, "lmtally_log_usage_lines_total", &kind("in")),
        Some(7.0)
    );
    assert_eq!(
        value(&m, "lmtally_log_skipped_lines_total", &file),
        Some(0.0)
    );
    assert_eq!(
        value(&m, "lmtally_log_malformed_lines_total", &file),
        Some(0.0)
    );
    assert_eq!(value(&m, "lmtally_log_bytes_behind", &file), Some(0.0));
    assert_eq!(
        value(&m, "lmtally_log_bytes_read", &file),
        Some(first.len() as f64)
    );
    // The last line is from 2023-03-04 17:00 UTC: long ago.
    let age = value(
        &m,
        "lmtally_server_seconds_since_last_event",
        &[("server", "flexlm01")],
    )
    .unwrap();
    assert!(age > 365.0 * 86400.0, "{age}");
    assert_eq!(
        value(
            &m,
            "lmtally_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );

    // Appended: an OUT, an IN, a line without an envelope, a usage line without a user.
    let appended = " 0:00:01 (lmgrd) TIMESTAMP 3/5/2023\n\
                    10:00:00 (MLM) OUT: \"MATLAB\" late@hostl  \n\
                    11:00:00 (MLM) IN: \"MATLAB\" late@hostl  \n\
                    garbage without an envelope\n\
                    12:00:00 (MLM) OUT: \"MATLAB\" @hostx  \n";
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(appended.as_bytes()).unwrap();
    }
    // The live follower picks the appended lines up by itself (no reload).
    let m = eventually("the counters to move", || {
        let (_, text) = scrape(&d, Some(("X-Auth-token", TOKEN)));
        let m = parse_metrics(&text);
        (value(&m, "lmtally_log_lines_total", &file) == Some(first_lines + 5.0)
            && value(&m, "lmtally_caught_up", &[]) == Some(1.0))
        .then_some(m)
    });
    assert_eq!(
        value(&m, "lmtally_log_usage_lines_total", &kind("out")),
        Some(9.0)
    );
    assert_eq!(
        value(&m, "lmtally_log_usage_lines_total", &kind("in")),
        Some(8.0)
    );
    assert_eq!(
        value(&m, "lmtally_log_skipped_lines_total", &file),
        Some(1.0)
    );
    assert_eq!(
        value(&m, "lmtally_log_malformed_lines_total", &file),
        Some(1.0)
    );
    assert_eq!(value(&m, "lmtally_log_bytes_behind", &file), Some(0.0));
    assert_eq!(
        value(&m, "lmtally_log_bytes_read", &file),
        Some((first.len() + appended.len()) as f64)
    );

    // Requests are counted by handler, return type and status, with their latency.
    let req = |rt: &str, status: &str| {
        let (_, text) = scrape(&d, Some(("X-Auth-token", TOKEN)));
        let m = parse_metrics(&text);
        let labels = [
            ("handler", "report"),
            ("return_type", rt),
            ("status", status),
        ];
        (
            value(&m, "lmtally_http_requests_total", &labels).unwrap_or(0.0),
            value(&m, "lmtally_http_request_duration_seconds_count", &labels).unwrap_or(0.0),
        )
    };
    let (json_before, _) = req("json", "200");
    let (csv_before, _) = req("csv", "401");
    for _ in 0..3 {
        let r = client()
            .get(d.url("/api/v1/report/users/realtime-count/json"))
            .header("X-Auth-token", TOKEN)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    let r = client()
        .get(d.url("/api/v1/report/users/realtime-count/csv"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let (json_after, json_count) = req("json", "200");
    assert_eq!(json_after, json_before + 3.0);
    assert_eq!(json_count, json_after);
    assert_eq!(req("csv", "401").0, csv_before + 1.0);
    // The histogram's buckets are cumulative and end with +Inf = count.
    let (_, text) = scrape(&d, Some(("X-Auth-token", TOKEN)));
    let m = parse_metrics(&text);
    let h = m
        .samples
        .iter()
        .find(|x| {
            x.metric == "lmtally_http_request_duration_seconds"
                && x.labels.get("return_type") == Some("json")
                && x.labels.get("status") == Some("200")
        })
        .expect("the latency histogram");
    let Value::Histogram(buckets) = &h.value else {
        panic!("not a histogram: {h:?}");
    };
    assert!(buckets.windows(2).all(|w| w[0].count <= w[1].count));
    assert_eq!(buckets.last().unwrap().less_than, f64::INFINITY);
    assert_eq!(buckets.last().unwrap().count, json_after);
    let (code, _) = d.stop();
    assert_eq!(code, Some(0));
}

#[test]
fn metrics_public_needs_no_token() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("lmgrd.log");
    std::fs::write(&log, log_days(1)).unwrap();
    let config = write_config(
        dir.path(),
        &format!("tokens = [\"{TOKEN}\"]\nmetrics_public = true"),
        &[("flexlm01", &[&log])],
    );
    let d = Daemon::start(&config, &[]);
    let (code, text) = scrape(&d, None);
    assert_eq!(code, 200);
    let m = parse_metrics(&text);
    assert!(value(&m, "lmtally_caught_up", &[]).is_some());
    // The API itself still wants the token.
    assert_eq!(status_code(&d, "/api/v1/status"), 401);
    let r = client().post(d.url("/metrics")).send().unwrap();
    assert_eq!(r.status().as_u16(), 405);
}

fn status_code(d: &Daemon, path: &str) -> u16 {
    client().get(d.url(path)).send().unwrap().status().as_u16()
}

/// The example configuration, with its log directory and data_dir moved into `dir`.
fn example_config(dir: &Path) -> PathBuf {
    let logs = dir.join("flexlm");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("lmgrd.log"), log_days(1)).unwrap();
    let text = std::fs::read_to_string(repo().join("systemd/config.toml"))
        .unwrap()
        .replace("/var/log/flexlm", &logs.display().to_string())
        .replace("/var/lib/lmtally", &dir.join("data").display().to_string())
        .replace("127.0.0.1:8080", "127.0.0.1:0");
    let path = dir.join("lmtally.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn check_config(path: &Path) -> (Option<i32>, String, String) {
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn check_config_on_the_example_and_on_a_bad_file() {
    // The example as shipped is valid (its paths are this machine's business).
    assert!(lmtally::config::Config::load(&repo().join("systemd/config.toml")).is_ok());
    let dir = tempfile::tempdir().unwrap();
    let good = example_config(dir.path());
    let (code, out, err) = check_config(&good);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains(": ok (1 license server(s), 1 log file(s) now"),
        "{out}"
    );

    // Every problem in one run, each with its line and key.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let text = std::fs::read_to_string(&good).unwrap();
    let bad_text = text
        .replace("127.0.0.1:0", &busy.local_addr().unwrap().to_string())
        .replace("licensing_model = 2019", "licensing_model = 2020")
        .replace(
            &format!("{}/flexlm/lmgrd.log\"", dir.path().display()),
            "/nonexistent-lmtally-dir/lmgrd.log\"",
        )
        .replace(
            "metrics_public = false",
            "metrics_public = false\nbogus = 1",
        );
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, &bad_text).unwrap();
    let line_of = |needle: &str| {
        1 + bad_text
            .lines()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} not in the file"))
    };
    let (code, out, err) = check_config(&bad);
    assert_eq!(code, Some(2), "{out}{err}");
    let b = bad.display();
    for want in [
        format!("{b}:{}: `listen`: ", line_of("listen =")),
        format!("{b}:{}: `licensing_model`: must be 2019 or 2013", line_of("licensing_model =")),
        format!("{b}:{}: `bogus`: unknown key", line_of("bogus")),
        format!(
            "{b}:{}: `server.logs`: server 'flexlm01': /nonexistent-lmtally-dir/lmgrd.log: the directory /nonexistent-lmtally-dir does not exist",
            line_of("/nonexistent-lmtally-dir")
        ),
    ] {
        assert!(err.lines().any(|l| l.starts_with(&want)), "missing {want:?} in\n{err}");
    }
    assert!(err.contains("the port is in use"), "{err}");
    assert!(err.contains("4 problem(s)"), "{err}");
    // The port of a running lmtally (checking before a restart) is a note, not a problem.
    let d = Daemon::start(&good, &[]);
    let running = dir.path().join("running.toml");
    std::fs::write(&running, text.replace("127.0.0.1:0", &d.addr.to_string())).unwrap();
    let (code, out, err) = check_config(&running);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        err.contains("`listen`: note: ") && err.contains("in use by an lmtally running now"),
        "{err}"
    );
    drop(d);

    // The same file is refused by serve (exit 2, every problem named).
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`bogus`: unknown key"));
}

/// `systemd-analyze`, or None (with a note) when it is missing outside CI. Under CI (CI=true)
/// a missing systemd-analyze fails the test: .ci/run installs it.
fn systemd_analyze() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("systemd-analyze"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !ci,
            "systemd-analyze is missing under CI: .ci/run should have installed Debian's systemd"
        );
        eprintln!("note: systemd-analyze not found: the systemd unit checks are skipped");
    }
    found
}

/// The unit, naming the binary under test (verify checks that ExecStart= exists).
fn unit_for_test(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("systemd/lmtally.service"))
        .unwrap()
        .replace("/usr/local/bin/lmtally", BIN);
    let path = dir.join("lmtally.service");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn systemd_unit_verifies_and_is_rated_safe() {
    let Some(analyze) = systemd_analyze() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_for_test(dir.path());
    let out = Command::new(&analyze)
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("lmtally.service"))
        .collect();
    assert!(
        out.status.success() && lines.is_empty(),
        "systemd-analyze verify: {}\n{err}",
        out.status
    );

    let out = Command::new(&analyze)
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let overall = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no overall exposure level:\n{text}"));
    let score: f64 = overall
        .rsplit(':')
        .next()
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no number in {overall:?}"));
    println!(
        "systemd-analyze security --offline=true: {}",
        overall.trim()
    );
    assert!(score <= 2.0, "{overall}\n{text}");
    // The hardening the issue names is there.
    let unit_text = std::fs::read_to_string(&unit).unwrap();
    for key in [
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "DynamicUser=yes",
        "StateDirectory=lmtally",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=\n",
        "RestrictAddressFamilies=",
        "SystemCallFilter=@system-service",
    ] {
        assert!(unit_text.contains(key), "{key}");
    }
}

#[test]
fn install_script_places_binary_unit_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let run = || {
        Command::new("sh")
            .arg(repo().join("systemd/install.sh"))
            .arg(BIN)
            .env("DESTDIR", &root)
            .env("BINDIR", "/opt/lmtally/bin")
            .output()
            .unwrap()
    };
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = root.join("opt/lmtally/bin/lmtally");
    let unit = root.join("etc/systemd/system/lmtally.service");
    let conf = root.join("etc/lmtally/lmtally.toml");
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&bin).unwrap().permissions().mode() & 0o777,
            0o755
        );
    }
    assert!(std::fs::read_to_string(&unit).unwrap().contains(
        "\nExecStart=/opt/lmtally/bin/lmtally serve --config /etc/lmtally/lmtally.toml\n"
    ));
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        std::fs::read_to_string(repo().join("systemd/config.toml")).unwrap()
    );
    // An upgrade keeps the configuration in place.
    std::fs::write(&conf, "# edited\n").unwrap();
    let out = run();
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), "# edited\n");
    assert!(root.join("etc/lmtally/lmtally.toml.example").exists());
    let version = Command::new(&bin).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("lmtally "));
}

#[test]
fn journald_lines_when_stderr_is_the_journal() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("lmgrd.log");
    std::fs::write(&log, log_days(1)).unwrap();
    let run = |config: &Path| {
        // Standard error is a file, and JOURNAL_STREAM names it, as systemd does for the journal.
        let err_path = dir.path().join("stderr");
        let err = std::fs::File::create(&err_path).unwrap();
        let m = err.metadata().unwrap();
        let child = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
            .env("JOURNAL_STREAM", format!("{}:{}", m.dev(), m.ino()))
            .env_remove("NOTIFY_SOCKET")
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap();
        (child, err_path)
    };
    let config = write_config(dir.path(), "", &[("flexlm01", &[&log])]);
    let (mut child, err_path) = run(&config);
    let text = eventually("caught up in the log", || {
        let t = std::fs::read_to_string(&err_path).unwrap();
        t.contains("caught up").then_some(t)
    });
    signal(child.id(), "TERM");
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(
        text.lines()
            .any(|l| l.starts_with("<6>listening on http://127.0.0.1:")),
        "{text}"
    );
    // No timestamps, no colours: journald adds its own.
    for line in text.lines() {
        let rest = line
            .strip_prefix("<6>")
            .or_else(|| line.strip_prefix("<4>"))
            .or_else(|| line.strip_prefix("<3>"))
            .unwrap_or_else(|| panic!("no priority: {line:?}"));
        assert!(
            !rest.starts_with("20") && !rest.contains('\u{1b}'),
            "{line:?}"
        );
    }
    // A refused configuration: error priority.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "bogus = 1\n").unwrap();
    let (mut child, err_path) = run(&bad);
    assert_eq!(child.wait().unwrap().code(), Some(2));
    let text = std::fs::read_to_string(&err_path).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("<3>lmtally: ") && l.contains("`bogus`: unknown key")),
        "{text}"
    );
}

#[test]
fn status_tells_a_failed_reading_and_a_reload_retries_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("not-yet.log");
    let config = write_config(dir.path(), "", &[("flexlm01", &[&log])]);
    let sock_path = dir.path().join("notify.sock");
    let mut sock = NotifySocket::bind(&sock_path);
    let d = Daemon::start(&config, &[("NOTIFY_SOCKET", sock_path.to_str().unwrap())]);
    sock.until(Duration::from_secs(10), |m| has_line(m, "READY=1"))
        .expect("READY=1");
    let (_, msg) = sock
        .until(Duration::from_secs(10), |m| {
            m.starts_with("STATUS=reading the logs failed: ")
        })
        .unwrap_or_else(|| panic!("no failure STATUS=: {:?}", sock.got));
    assert!(msg.contains("not-yet.log"), "{msg}");
    std::fs::write(&log, log_days(2)).unwrap();
    signal(d.child.id(), "HUP");
    sock.until(Duration::from_secs(10), |m| {
        m.starts_with("STATUS=caught up: 1 log file(s)")
    })
    .unwrap_or_else(|| panic!("no caught-up STATUS= after the reload: {:?}", sock.got));
    let (code, _) = d.stop();
    assert_eq!(code, Some(0));
}
