//! `GET /metrics`: the Prometheus text format (version 0.0.4) of a [`Sample`] of the daemon.
//!
//! Pure: the server takes the sample (the state's counters, the files' sizes now, its request
//! counters) and this module only writes it out. Every metric is prefixed `lmtally_`.
//!
//! - per log file (labels `server`, `path`): `lmtally_log_lines_total` (complete lines read),
//!   `lmtally_log_usage_lines_total` (+ `kind`: out, in, denied, unsupported, queued, dequeued,
//!   upgrade), `lmtally_log_skipped_lines_total`, `lmtally_log_malformed_lines_total`,
//!   `lmtally_log_undated_lines`, `lmtally_log_bytes_read`, `lmtally_log_size_bytes` and
//!   `lmtally_log_bytes_behind` (size now − bytes read);
//! - per license server (label `server`): `lmtally_server_seconds_since_last_event`: now, in the
//!   configured `timezone`, minus the timestamp of the newest dated line of the server's logs
//!   (the log's own clock, so it survives restarts and shows a license server that went quiet;
//!   negative when the log's clock is ahead);
//! - per kind of request (labels `handler`: report, status, healthz, metrics, other;
//!   `return_type`: json, csv, xlsx, invalid for the report, none otherwise; `status`):
//!   `lmtally_http_requests_total` and the histogram `lmtally_http_request_duration_seconds`;
//! - `lmtally_caught_up`, `lmtally_start_time_seconds`, `lmtally_build_info`.

use lmtally_parsers::UsageKind;
use std::fmt::Write;

/// Upper bounds (seconds) of the request latency histogram's buckets (`+Inf` follows).
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// One log file's counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileSample {
    pub server: String,
    pub path: String,
    pub lines: u64,
    /// By kind, in the order of [`UsageKind::ALL`].
    pub usage: [u64; 7],
    pub skipped: u64,
    pub malformed: u64,
    pub undated: u64,
    pub bytes_read: u64,
    /// The file's size now.
    pub size: u64,
}

/// One license server.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerSample {
    pub name: String,
    /// None until a dated line has been read.
    pub seconds_since_last_event: Option<i64>,
}

/// The requests of one (handler, return type, status).
#[derive(Clone, Debug, PartialEq)]
pub struct RequestSeries {
    pub handler: &'static str,
    pub return_type: &'static str,
    pub status: u16,
    pub count: u64,
    pub sum_seconds: f64,
    /// Requests per bucket of [`LATENCY_BUCKETS`] (not cumulative); the last entry counts those
    /// above the largest bound.
    pub buckets: [u64; LATENCY_BUCKETS.len() + 1],
}

impl RequestSeries {
    pub fn new(handler: &'static str, return_type: &'static str, status: u16) -> Self {
        RequestSeries {
            handler,
            return_type,
            status,
            count: 0,
            sum_seconds: 0.0,
            buckets: [0; LATENCY_BUCKETS.len() + 1],
        }
    }

    /// Counts one request that took `seconds`.
    pub fn observe(&mut self, seconds: f64) {
        self.count += 1;
        self.sum_seconds += seconds;
        let i = LATENCY_BUCKETS
            .iter()
            .position(|&b| seconds <= b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[i] += 1;
    }
}

/// What `/metrics` shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    pub version: String,
    pub caught_up: bool,
    /// Seconds since the Unix epoch when the process started.
    pub start_time_seconds: f64,
    pub files: Vec<FileSample>,
    pub servers: Vec<ServerSample>,
    pub requests: Vec<RequestSeries>,
}

/// A label value with `\`, `"` and line ends escaped.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    /// A family with one sample per file.
    fn per_file(
        &mut self,
        files: &[FileSample],
        name: &str,
        kind: &str,
        help: &str,
        value: impl Fn(&FileSample) -> u64,
    ) {
        self.family(name, kind, help);
        for f in files {
            self.sample(name, &[("server", &f.server), ("path", &f.path)], value(f));
        }
    }
}

/// The Prometheus text format of `s`.
pub fn render(s: &Sample) -> String {
    let mut o = Out(String::new());
    o.family(
        "lmtally_build_info",
        "gauge",
        "The version of lmtally that is running.",
    );
    o.sample("lmtally_build_info", &[("version", &s.version)], 1);
    o.family(
        "lmtally_start_time_seconds",
        "gauge",
        "When the process started, in seconds since the Unix epoch.",
    );
    o.sample("lmtally_start_time_seconds", &[], s.start_time_seconds);
    o.family(
        "lmtally_caught_up",
        "gauge",
        "1 when every log has been read to its end and all of it is in the report, else 0.",
    );
    o.sample("lmtally_caught_up", &[], u8::from(s.caught_up));

    let files = &s.files;
    o.per_file(
        files,
        "lmtally_log_lines_total",
        "counter",
        "Complete lines read from the log file.",
        |f| f.lines,
    );
    let name = "lmtally_log_usage_lines_total";
    o.family(
        name,
        "counter",
        "Usage lines read from the log file, by kind (malformed ones included).",
    );
    for f in files {
        for k in UsageKind::ALL {
            o.sample(
                name,
                &[("server", &f.server), ("path", &f.path), ("kind", k.name())],
                f.usage[k as usize],
            );
        }
    }
    o.per_file(
        files,
        "lmtally_log_skipped_lines_total",
        "counter",
        "Lines skipped: without the envelope of a license server line, or too long.",
        |f| f.skipped,
    );
    o.per_file(
        files,
        "lmtally_log_malformed_lines_total",
        "counter",
        "Usage lines that could not be used: no user, an unclosed quote or group.",
        |f| f.malformed,
    );
    o.per_file(
        files,
        "lmtally_log_undated_lines",
        "gauge",
        "Lines waiting for the file's first date anchor.",
        |f| f.undated,
    );
    o.per_file(
        files,
        "lmtally_log_bytes_read",
        "gauge",
        "Bytes of the log file read, up to the end of its last complete line.",
        |f| f.bytes_read,
    );
    o.per_file(
        files,
        "lmtally_log_size_bytes",
        "gauge",
        "The log file's size now.",
        |f| f.size,
    );
    o.per_file(
        files,
        "lmtally_log_bytes_behind",
        "gauge",
        "Bytes of the log file not read yet: its size now minus the bytes read.",
        |f| f.size.saturating_sub(f.bytes_read),
    );

    let name = "lmtally_server_seconds_since_last_event";
    o.family(
        name,
        "gauge",
        "Seconds from the newest dated line of the license server's logs (its own timestamp, \
         server-local) to now in the configured timezone.",
    );
    for srv in &s.servers {
        if let Some(secs) = srv.seconds_since_last_event {
            o.sample(name, &[("server", &srv.name)], secs);
        }
    }

    let name = "lmtally_http_requests_total";
    o.family(
        name,
        "counter",
        "HTTP requests answered, by handler, return type and status.",
    );
    for r in &s.requests {
        let status = r.status.to_string();
        let labels = [
            ("handler", r.handler),
            ("return_type", r.return_type),
            ("status", status.as_str()),
        ];
        o.sample(name, &labels, r.count);
    }
    let name = "lmtally_http_request_duration_seconds";
    o.family(
        name,
        "histogram",
        "Time from a request's arrival to its response, by handler, return type and status.",
    );
    for r in &s.requests {
        let status = r.status.to_string();
        let mut cumulative = 0;
        for (i, n) in r.buckets.iter().enumerate() {
            cumulative += n;
            let le = LATENCY_BUCKETS
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
            let labels = [
                ("handler", r.handler),
                ("return_type", r.return_type),
                ("status", status.as_str()),
                ("le", le.as_str()),
            ];
            o.sample(&format!("{name}_bucket"), &labels, cumulative);
        }
        let labels = [
            ("handler", r.handler),
            ("return_type", r.return_type),
            ("status", status.as_str()),
        ];
        o.sample(&format!("{name}_sum"), &labels, r.sum_seconds);
        o.sample(&format!("{name}_count"), &labels, r.count);
    }
    o.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Sample {
        let mut req = RequestSeries::new("report", "json", 200);
        req.observe(0.0004);
        req.observe(0.003);
        req.observe(20.0);
        Sample {
            version: "0.1.0".into(),
            caught_up: true,
            start_time_seconds: 1700000000.5,
            files: vec![FileSample {
                server: "flex\"01".into(),
                path: "/var/log/a\\b.log".into(),
                lines: 10,
                usage: [3, 2, 1, 0, 0, 0, 0],
                skipped: 4,
                malformed: 1,
                undated: 0,
                bytes_read: 900,
                size: 1000,
            }],
            servers: vec![
                ServerSample {
                    name: "flex\"01".into(),
                    seconds_since_last_event: Some(42),
                },
                ServerSample {
                    name: "quiet".into(),
                    seconds_since_last_event: None,
                },
            ],
            requests: vec![req],
        }
    }

    #[test]
    fn renders_the_text_format() {
        let text = render(&sample());
        for line in [
            "lmtally_build_info{version=\"0.1.0\"} 1",
            "lmtally_start_time_seconds 1700000000.5",
            "lmtally_caught_up 1",
            "# TYPE lmtally_log_lines_total counter",
            "lmtally_log_lines_total{server=\"flex\\\"01\",path=\"/var/log/a\\\\b.log\"} 10",
            "lmtally_log_usage_lines_total{server=\"flex\\\"01\",path=\"/var/log/a\\\\b.log\",kind=\"out\"} 3",
            "lmtally_log_usage_lines_total{server=\"flex\\\"01\",path=\"/var/log/a\\\\b.log\",kind=\"in\"} 2",
            "lmtally_log_skipped_lines_total{server=\"flex\\\"01\",path=\"/var/log/a\\\\b.log\"} 4",
            "lmtally_log_malformed_lines_total{server=\"flex\\\"01\",path=\"/var/log/a\\\\b.log\"} 1",
            "lmtally_log_bytes_behind{server=\"flex\\\"01\",path=\"/var/log/a\\\\b.log\"} 100",
            "lmtally_server_seconds_since_last_event{server=\"flex\\\"01\"} 42",
            "lmtally_http_requests_total{handler=\"report\",return_type=\"json\",status=\"200\"} 3",
            "lmtally_http_request_duration_seconds_bucket{handler=\"report\",return_type=\"json\",status=\"200\",le=\"0.0005\"} 1",
            "lmtally_http_request_duration_seconds_bucket{handler=\"report\",return_type=\"json\",status=\"200\",le=\"0.0025\"} 1",
            "lmtally_http_request_duration_seconds_bucket{handler=\"report\",return_type=\"json\",status=\"200\",le=\"0.005\"} 2",
            "lmtally_http_request_duration_seconds_bucket{handler=\"report\",return_type=\"json\",status=\"200\",le=\"10\"} 2",
            "lmtally_http_request_duration_seconds_bucket{handler=\"report\",return_type=\"json\",status=\"200\",le=\"+Inf\"} 3",
            "lmtally_http_request_duration_seconds_count{handler=\"report\",return_type=\"json\",status=\"200\"} 3",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
        // A server without a dated line has no sample.
        assert!(!text.contains("quiet"));
        // Every family is announced once, before its samples.
        let mut seen = std::collections::HashSet::new();
        for l in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            assert!(seen.insert(l.split(' ').nth(2).unwrap().to_string()));
        }
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn bytes_behind_never_negative() {
        let mut s = sample();
        s.files[0].size = 10; // truncated since it was read
        assert!(render(&s)
            .lines()
            .any(|l| l.starts_with("lmtally_log_bytes_behind{") && l.ends_with(" 0")));
    }

    #[test]
    fn observe_fills_one_bucket() {
        let mut r = RequestSeries::new("status", "none", 401);
        r.observe(0.001);
        r.observe(0.0010001);
        assert_eq!(r.buckets[1], 1);
        assert_eq!(r.buckets[2], 1);
        assert_eq!(r.count, 2);
    }
}
