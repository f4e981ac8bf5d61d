//! The report API over real HTTP (contract, section 5): a server on an ephemeral loopback port,
//! a real client, every parameter, error and format.
//!
//! Most tests read a generated log whose numbers are known by construction (see [`gen_log`]);
//! the expected rows are computed here from that construction, not by the core.

use lmtally::config::Config;
use lmtally::engine;
use lmtally::server::auth::Tokens;
use lmtally::server::{Ctx, Server};
use lmtally::state::AppState;
use reqwest::blocking::{Client, Response};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "tok-3f9a1c";
const PREFIX: &str = "/api/v1/report/users/realtime-count/";

/// Day `i` (0-based) of the generated log, from 2023-03-01: users u0..u{i%4} each check out on
/// their own host (all sessions overlap), and `zed` is denied on days where i % 3 == 0.
fn gen_log(days: usize) -> String {
    let mut s = String::from("0:00:00 (lmgrd) FLEXnet Licensing (v11.16.2.0 build 1) started on srv01 (linux) (3/1/2023)\n");
    for i in 0..days {
        let (m, d) = if i < 31 { (3, i + 1) } else { (4, i - 30) };
        s.push_str(&format!(" 0:00:01 (lmgrd) TIMESTAMP {m}/{d}/2023\n"));
        for j in 0..=(i % 4) {
            s.push_str(&format!(
                " 9:0{j}:00 (MLM) OUT: \"MATLAB\" u{j}@host{j}  \n"
            ));
        }
        if i % 3 == 0 {
            s.push_str("10:00:00 (MLM) DENIED: \"MATLAB\" zed@hostz  (Licensed number of users already reached. (-4,342))\n");
        }
        for j in 0..=(i % 4) {
            s.push_str(&format!("17:0{j}:00 (MLM) IN: \"MATLAB\" u{j}@host{j}  \n"));
        }
    }
    s
}

/// The expected rows of `gen_log(days)` for days `0..n` (n may exceed `days`: empty days).
fn expected(days: usize, n: usize, model2013: bool) -> Vec<Value> {
    let mut out = Vec::new();
    let start = lmtally_parsers::date::from_ymd(2023, 3, 1).unwrap();
    let mut max_users = 0;
    for i in 0..n {
        let has = i < days;
        let users = if has { i % 4 + 1 } else { 0 };
        let deny = has && i % 3 == 0;
        max_users = max_users.max(users);
        let uct = if model2013 {
            // Distinct users over the 14 days up to this one.
            (i.saturating_sub(13)..=i)
                .filter(|&x| x < days)
                .map(|x| x % 4 + 1)
                .max()
                .unwrap_or(0)
        } else {
            max_users + 1 // zed, denied on day 0
        };
        let ucdy = if model2013 {
            users
        } else {
            users + deny as usize
        };
        out.push(serde_json::json!({
            "ucd": lmtally_parsers::date::format_day(start + i as i32),
            "uct": uct, "ucdy": ucdy, "ucde": deny as usize, "ucch": users,
        }));
    }
    out
}

/// A server on an ephemeral port over logs in a temporary directory.
struct Api {
    addr: SocketAddr,
    state: Arc<AppState>,
    dir: tempfile::TempDir,
    client: Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
    rt: Option<tokio::runtime::Runtime>,
}

/// Writes `servers` (name, [(file name, text)]) and a configuration for them.
fn write_config(dir: &Path, servers: &[(&str, Vec<(&str, String)>)], extra: &str) -> PathBuf {
    let mut text = format!(
        "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\ntimezone = \"UTC\"\n{extra}\n",
        dir.join("data").display()
    );
    for (name, files) in servers {
        let mut paths = Vec::new();
        for (file, content) in files {
            let p = dir.join(file);
            std::fs::write(&p, content).unwrap();
            paths.push(format!("\"{}\"", p.display()));
        }
        text.push_str(&format!(
            "[[server]]\nname = \"{name}\"\nlogs = [{}]\n",
            paths.join(", ")
        ));
    }
    let path = dir.join("lmtally.toml");
    std::fs::write(&path, text).unwrap();
    path
}

impl Api {
    /// Starts the server, then (if `load`) reads the logs, as `lmtally serve` does.
    fn start_with(servers: &[(&str, Vec<(&str, String)>)], extra: &str, load: bool) -> Api {
        let dir = tempfile::tempdir().unwrap();
        let config_path = write_config(dir.path(), servers, extra);
        Api::start_config(dir, &config_path, load)
    }

    /// Starts the server on a configuration file (kept in `dir`), then (if `load`) reads the logs.
    fn start_config(dir: tempfile::TempDir, config_path: &Path, load: bool) -> Api {
        let config = Config::load(config_path).unwrap();
        let state = Arc::new(AppState::new(config));
        let ctx = Arc::new(Ctx::new(
            state.clone(),
            Tokens::new(&[TOKEN, "second-token"]),
        ));
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = rt
            .block_on(Server::bind("127.0.0.1:0".parse().unwrap(), ctx))
            .unwrap();
        let addr = server.local_addr();
        assert!(addr.ip().is_loopback());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let done = rt.spawn(server.run(async {
            let _ = rx.await;
        }));
        if load {
            engine::load_once(&state).unwrap();
        }
        Api {
            addr,
            state,
            dir,
            client: Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            stop: Some(tx),
            done: Some(done),
            rt: Some(rt),
        }
    }

    /// The generated log of `days` days on one server.
    fn start(days: usize) -> Api {
        Api::start_with(&[("flexlm01", vec![("gen.log", gen_log(days))])], "", true)
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn get(&self, rt: &str, params: &[(&str, &str)]) -> Response {
        self.client
            .get(self.url(&format!("{PREFIX}{rt}?{}", encode(params))))
            .header("X-Auth-token", TOKEN)
            .send()
            .unwrap()
    }

    /// A JSON report's (status, body).
    fn json(&self, params: &[(&str, &str)]) -> (u16, Value) {
        let r = self.get("json", params);
        let status = r.status().as_u16();
        (status, r.json().unwrap())
    }

    fn data(&self, params: &[(&str, &str)]) -> Vec<Value> {
        let (status, body) = self.json(params);
        assert_eq!(status, 200, "{body}");
        body["data"].as_array().unwrap().clone()
    }

    /// Asserts a 400 whose message starts with `msg_start`.
    fn bad(&self, rt: &str, params: &[(&str, &str)], msg_start: &str) {
        let r = self.get(rt, params);
        assert_eq!(r.status().as_u16(), 400);
        assert_eq!(r.headers()["content-type"], "application/json");
        let body: Value = r.json().unwrap();
        assert_envelope(&body, 400);
        let msg = body["msg"].as_str().unwrap();
        assert!(
            msg.starts_with(msg_start),
            "{params:?}: got {msg:?}, want {msg_start:?}..."
        );
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let (Some(rt), Some(done)) = (self.rt.take(), self.done.take()) {
            let _ = rt.block_on(done);
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

/// `application/x-www-form-urlencoded` text of `params`.
fn encode(params: &[(&str, &str)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    params
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn assert_envelope(body: &Value, code: u16) {
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["data"], serde_json::json!([]), "{body}");
    assert!(!body["msg"].as_str().unwrap().is_empty());
}

/// Sends raw bytes, returns (status, head, body) of the answer.
fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

fn raw_get(addr: SocketAddr, path: &str, header_line: &str) -> (u16, String) {
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{header_line}Connection: close\r\n\r\n");
    let (status, _, body) = raw(addr, req.as_bytes());
    (status, body)
}

#[test]
fn plain_json_is_the_contracts_rows_in_the_envelope() {
    let api = Api::start(20);
    let r = api.get("json", &[("ed", "2023-03-20")]);
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let text = r.text().unwrap();
    assert!(text.starts_with("{\"success\":true,\"msg\":\"\",\"code\":null,\"totalCount\":20,\"data\":[{\"ucd\":\"2023-03-01\","), "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["data"], Value::Array(expected(20, 20, false)));
    // The 2013 model: per request, and from the configuration.
    assert_eq!(
        api.data(&[("ed", "2023-03-20"), ("model", "2013")]),
        expected(20, 20, true)
    );
    let api13 = Api::start_with(
        &[("s", vec![("gen.log", gen_log(20))])],
        "licensing_model = 2013",
        true,
    );
    assert_eq!(api13.data(&[("ed", "2023-03-20")]), expected(20, 20, true));
    assert_eq!(
        api13.data(&[("ed", "2023-03-20"), ("model", "2019")]),
        expected(20, 20, false)
    );
    // A second time (served from the cache) it is the same.
    assert_eq!(
        api.get("json", &[("ed", "2023-03-20")]).text().unwrap(),
        text
    );
}

#[test]
fn sd_and_ed_and_their_defaults() {
    let api = Api::start(20);
    let all = expected(20, 40, false);
    assert_eq!(
        api.data(&[("sd", "2023-03-05"), ("ed", "2023-03-09")]),
        all[4..9].to_vec()
    );
    // Days after the data are zeros, with uct as defined.
    assert_eq!(
        api.data(&[("sd", "2023-03-18"), ("ed", "2023-04-09")]),
        all[17..40].to_vec()
    );
    // Days before the data.
    let before = api.data(&[("sd", "2023-02-27"), ("ed", "2023-03-01")]);
    assert_eq!(before.len(), 3);
    assert_eq!(
        before[0],
        serde_json::json!({"ucd":"2023-02-27","uct":0,"ucdy":0,"ucde":0,"ucch":0})
    );
    assert_eq!(before[2], all[0]);
    // No ed: up to today in the configured zone (UTC here).
    let today = || {
        chrono::Utc::now()
            .date_naive()
            .format("%Y-%m-%d")
            .to_string()
    };
    let t0 = today();
    let rows = api.data(&[("sd", "2023-03-19")]);
    let t1 = today();
    let last = rows.last().unwrap()["ucd"].as_str().unwrap().to_string();
    assert!(last == t0 || last == t1, "{last}");
    assert_eq!(rows[0], all[18]);
    // Errors.
    api.bad(
        "json",
        &[("sd", "2023-03-10"), ("ed", "2023-03-09")],
        "sd (2023-03-10) is after ed (2023-03-09)",
    );
    api.bad(
        "json",
        &[("ed", "2023-02-01")],
        "the first day with data (2023-03-01, the default sd) is after ed",
    );
    api.bad(
        "json",
        &[("sd", "1900-01-01"), ("ed", "2023-03-09")],
        "the range sd..ed is longer than 100 years",
    );
    api.bad(
        "json",
        &[("sd", "1923-03-09")],
        "the range sd..ed is longer than 100 years",
    );
    api.bad(
        "json",
        &[("sd", "2023-02-30")],
        "sd: '2023-02-30' is not a date that exists",
    );
    api.bad(
        "json",
        &[("ed", "2023-13-01")],
        "ed: '2023-13-01' is not a date that exists",
    );
    api.bad(
        "csv",
        &[("ed", "20230301")],
        "ed: '20230301' is not a date YYYY-MM-DD",
    );
    api.bad("xlsx", &[("sd", "")], "sd: empty");
    api.bad(
        "json",
        &[("model", "2016")],
        "model: '2016' is not 2013 or 2019",
    );
    // Exactly 100 years is allowed (rows of empty days).
    assert_eq!(
        api.data(&[("sd", "1923-03-20"), ("ed", "2023-03-20")])
            .len(),
        36525 + 1
    );
}

#[test]
fn no_data_gives_no_rows() {
    let api = Api::start_with(&[("s", vec![("empty.log", String::new())])], "", true);
    let (status, body) = api.json(&[]);
    assert_eq!(status, 200);
    assert_eq!(body["totalCount"], 0);
    assert_eq!(body["data"], serde_json::json!([]));
    assert_eq!(
        api.data(&[("sd", "2023-03-01"), ("ed", "2023-03-02")])
            .len(),
        2
    );
}

#[test]
fn filters_in_both_styles() {
    let api = Api::start(20);
    let all = expected(20, 20, false);
    let ed = ("ed", "2023-03-20");
    let pick = |pred: &dyn Fn(&Value) -> bool| -> Vec<Value> {
        all.iter().filter(|r| pred(r)).cloned().collect()
    };
    let check = |filter: &str, want: Vec<Value>| {
        let (status, body) = api.json(&[ed, ("filter", filter)]);
        assert_eq!(status, 200, "{filter}: {body}");
        assert_eq!(body["totalCount"], want.len(), "{filter}");
        assert_eq!(body["data"], Value::Array(want), "{filter}");
    };
    check(
        r#"[{"property":"ucdy","operator":"gt","value":3}]"#,
        pick(&|r| r["ucdy"].as_u64().unwrap() > 3),
    );
    check(
        r#"[{"property":"ucch","value":2}]"#,
        pick(&|r| r["ucch"] == 2),
    );
    check(
        r#"[{"property":"ucde","operator":"lt","value":"1"}]"#,
        pick(&|r| r["ucde"] == 0),
    );
    check(
        r#"[{"type":"numeric","comparison":"gt","field":"ucdy","value":2},{"type":"numeric","comparison":"lt","field":"ucch","value":4}]"#,
        pick(&|r| r["ucdy"].as_u64().unwrap() > 2 && r["ucch"].as_u64().unwrap() < 4),
    );
    // ucd: a date compares dates; anything else is a case-insensitive substring.
    check(
        r#"[{"property":"ucd","operator":"lt","value":"2023-03-04"}]"#,
        all[..3].to_vec(),
    );
    check(
        r#"[{"property":"ucd","operator":"gt","value":"2023-03-17"}]"#,
        all[17..].to_vec(),
    );
    check(
        r#"[{"property":"ucd","value":"2023-03-07"}]"#,
        all[6..7].to_vec(),
    );
    check(
        r#"[{"type":"string","field":"ucd","value":"03-1"}]"#,
        all[9..19].to_vec(),
    );
    check(
        r#"[{"type":"string","field":"ucd","value":"2023-03"}]"#,
        all.clone(),
    );
    check(r#"[{"property":"ucd","value":"2022"}]"#, vec![]);
    check("[]", all.clone());
    // Errors name the parameter.
    api.bad("json", &[("filter", "{oops")], "filter: not valid JSON");
    api.bad(
        "json",
        &[("filter", r#"{"property":"ucdy","value":1}"#)],
        "filter: not a JSON array",
    );
    api.bad(
        "csv",
        &[("filter", r#"[{"property":"users","value":1}]"#)],
        "filter: condition 1: unknown property 'users'",
    );
    api.bad(
        "json",
        &[(
            "filter",
            r#"[{"property":"ucdy","operator":"like","value":1}]"#,
        )],
        "filter: condition 1: unknown operator 'like'",
    );
    api.bad(
        "json",
        &[("filter", r#"[{"property":"ucd","value":"2023-02-30"}]"#)],
        "filter: condition 1: '2023-02-30' is not a date that exists",
    );
    api.bad(
        "json",
        &[("filter", r#"[{"property":"ucdy","value":"x"}]"#)],
        "filter: condition 1: the value for ucdy must be a number",
    );
}

#[test]
fn order_offset_and_limit() {
    let api = Api::start(20);
    let all = expected(20, 20, false);
    let ed = ("ed", "2023-03-20");
    // Stable: rows equal on the key stay in ucd order.
    let mut want = all.clone();
    want.sort_by_key(|r| std::cmp::Reverse(r["ucdy"].as_u64().unwrap()));
    assert_eq!(
        api.data(&[ed, ("order", r#"[{"property":"ucdy","direction":"DESC"}]"#)]),
        want
    );
    assert_eq!(
        api.data(&[ed, ("orderBy", "ucdy"), ("orderDirection", "desc")]),
        want
    );
    // Several keys, applied in order.
    let mut want2 = all.clone();
    want2.sort_by(|a, b| {
        let k = |r: &Value| {
            (
                r["ucch"].as_u64().unwrap(),
                std::cmp::Reverse(r["ucd"].as_str().unwrap().to_string()),
            )
        };
        k(a).cmp(&k(b))
    });
    assert_eq!(
        api.data(&[
            ed,
            (
                "order",
                r#"[{"property":"ucch","direction":"ASC"},{"property":"ucd","direction":"DESC"}]"#
            )
        ]),
        want2
    );
    let mut rev = all.clone();
    rev.reverse();
    assert_eq!(api.data(&[ed, ("orderDirection", "DESC")]), rev);
    // offset/limit after filtering and sorting; totalCount before them.
    let (_, body) = api.json(&[
        ed,
        ("orderBy", "ucdy"),
        ("orderDirection", "DESC"),
        ("offset", "2"),
        ("limit", "3"),
    ]);
    assert_eq!(body["totalCount"], 20);
    assert_eq!(body["data"], Value::Array(want[2..5].to_vec()));
    let f = r#"[{"property":"ucde","value":1}]"#;
    let (_, body) = api.json(&[ed, ("filter", f), ("offset", "1"), ("limit", "2")]);
    assert_eq!(body["totalCount"], 7);
    assert_eq!(body["data"], serde_json::json!([all[3], all[6]]));
    let (_, body) = api.json(&[ed, ("offset", "25")]);
    assert_eq!(
        (body["totalCount"].clone(), body["data"].clone()),
        (serde_json::json!(20), serde_json::json!([]))
    );
    api.bad(
        "json",
        &[ed, ("limit", "0")],
        "limit: must be greater than 0",
    );
    api.bad(
        "json",
        &[ed, ("limit", "-3")],
        "limit: '-3' is not a whole number greater than 0",
    );
    api.bad(
        "json",
        &[ed, ("offset", "-1")],
        "offset: '-1' is not a whole number, 0 or more",
    );
    api.bad("json", &[ed, ("offset", "x")], "offset:");
    api.bad(
        "json",
        &[ed, ("order", r#"[{"property":"ucdy","direction":"UP"}]"#)],
        "order: item 1: direction 'UP'",
    );
    api.bad("json", &[ed, ("order", "ucdy")], "order: not valid JSON");
    api.bad(
        "json",
        &[ed, ("orderBy", "users")],
        "orderBy: unknown column 'users'",
    );
    api.bad(
        "json",
        &[ed, ("orderDirection", "sideways")],
        "orderDirection: 'sideways' is not ASC or DESC",
    );
}

#[test]
fn csv_export() {
    let api = Api::start(20);
    let all = expected(20, 20, false);
    let r = api.get("csv", &[("ed", "2023-03-20")]);
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"realtime-users-count.csv\""
    );
    let text = r.text().unwrap();
    assert_eq!(text.matches("\r\n").count(), 21);
    assert_eq!(text.matches('\n').count(), 21, "every line ends in CRLF");
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        rd.headers().unwrap(),
        vec![
            "Date",
            "Total Users",
            "Daily Users",
            "Denial Users",
            "Concurrent Hosts"
        ]
    );
    let recs: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(recs.len(), 20);
    for (rec, want) in recs.iter().zip(&all) {
        let keys = ["ucd", "uct", "ucdy", "ucde", "ucch"];
        for (i, k) in keys.iter().enumerate() {
            let w = match &want[k] {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            assert_eq!(rec[i], w);
        }
    }
    // fieldsVisibility: shown keys first in the given order, then the other default columns.
    let fv = r#"{"ucch":"1","ucd":"1","uct":"0"}"#;
    let text = api
        .get(
            "csv",
            &[
                ("ed", "2023-03-20"),
                ("fieldsVisibility", fv),
                ("limit", "2"),
                ("orderDirection", "DESC"),
            ],
        )
        .text()
        .unwrap();
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        rd.headers().unwrap(),
        vec!["Concurrent Hosts", "Date", "Daily Users", "Denial Users"]
    );
    let recs: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(recs.len(), 2);
    assert_eq!(&recs[0][1], "2023-03-20");
    assert_eq!(recs[0][0], all[19]["ucch"].to_string());
    // The older name works too; a filter applies to CSV as well.
    let text = api
        .get(
            "CSV",
            &[
                ("ed", "2023-03-20"),
                ("fieldVisibility", r#"{"ucde":"1","ucd":"1"}"#),
                ("filter", r#"[{"property":"ucde","value":1}]"#),
            ],
        )
        .text()
        .unwrap();
    assert!(
        text.starts_with(
            "Denial Users,Date,Total Users,Daily Users,Concurrent Hosts\r\n1,2023-03-01,"
        ),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1 + 7);
    api.bad(
        "csv",
        &[("fieldsVisibility", r#"{"ucd":"1","users":"0"}"#)],
        "fieldsVisibility: unknown key 'users'",
    );
    api.bad(
        "csv",
        &[("fieldsVisibility", "[\"ucd\"]")],
        "fieldsVisibility: not a JSON object",
    );
    api.bad(
        "csv",
        &[("fieldVisibility", r#"{"ucd":"maybe"}"#)],
        "fieldVisibility: the value of 'ucd' must be",
    );
    // JSON ignores fieldsVisibility, even one that CSV refuses (contract: "applies to CSV and
    // XLSX, ignored for JSON").
    let plain = api.get("json", &[("ed", "2023-03-20")]).text().unwrap();
    for (name, value) in [
        ("fieldsVisibility", r#"{"ucd":"1","users":"0"}"#),
        ("fieldVisibility", r#"{"ucd":"0"}"#),
    ] {
        let r = api.get("json", &[("ed", "2023-03-20"), (name, value)]);
        assert_eq!(r.status().as_u16(), 200, "{name}");
        assert_eq!(r.text().unwrap(), plain, "{name}");
    }
}

/// Days since 1899-12-30 (Excel's serial dates) to YYYY-MM-DD.
fn excel_date(serial: f64) -> String {
    let base = chrono::NaiveDate::from_ymd_opt(1899, 12, 30).unwrap();
    (base + chrono::Duration::days(serial as i64))
        .format("%Y-%m-%d")
        .to_string()
}

#[test]
fn xlsx_export() {
    use calamine::{Data, Reader, Xlsx};
    let api = Api::start(20);
    let all = expected(20, 20, false);
    let r = api.get(
        "xlsx",
        &[
            ("ed", "2023-03-20"),
            (
                "rn",
                "Campus licences: 2023/03 [MATLAB] and more words here",
            ),
        ],
    );
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"realtime-users-count.xlsx\""
    );
    let bytes = r.bytes().unwrap();
    let mut wb: Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    // The sheet name: cut to 31 characters, []:*?/\ replaced.
    assert_eq!(
        wb.sheet_names(),
        vec!["Campus licences_ 2023_03 _MATLA".to_string()]
    );
    let range = wb
        .worksheet_range("Campus licences_ 2023_03 _MATLA")
        .unwrap();
    assert_eq!(range.height(), 21);
    let header: Vec<String> = (0..5)
        .map(|c| range.get((0, c)).unwrap().to_string())
        .collect();
    assert_eq!(
        header,
        [
            "Date",
            "Total Users",
            "Daily Users",
            "Denial Users",
            "Concurrent Hosts"
        ]
    );
    for (i, want) in all.iter().enumerate() {
        match range.get((i + 1, 0)).unwrap() {
            Data::DateTime(dt) => {
                assert!(dt.is_datetime());
                assert_eq!(excel_date(dt.as_f64()), want["ucd"].as_str().unwrap());
            }
            other => panic!("row {i}: the date is not an Excel date: {other:?}"),
        }
        for (c, k) in ["uct", "ucdy", "ucde", "ucch"].iter().enumerate() {
            match range.get((i + 1, c + 1)).unwrap() {
                Data::Float(f) => assert_eq!(*f, want[k].as_u64().unwrap() as f64),
                Data::Int(n) => assert_eq!(*n as u64, want[k].as_u64().unwrap()),
                other => panic!("row {i} {k}: not a number: {other:?}"),
            }
        }
    }
    // Default name, columns chosen, returnType in any case.
    let bytes = api
        .get(
            "XlSx",
            &[
                ("ed", "2023-03-20"),
                (
                    "fieldsVisibility",
                    r#"{"ucdy":"1","ucd":"0","uct":"0","ucch":"0"}"#,
                ),
            ],
        )
        .bytes()
        .unwrap();
    let mut wb: Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    assert_eq!(wb.sheet_names(), vec!["Realtime Users Count".to_string()]);
    let range = wb.worksheet_range("Realtime Users Count").unwrap();
    assert_eq!(range.width(), 2);
    assert_eq!(range.get((0, 0)).unwrap().to_string(), "Daily Users");
    assert_eq!(range.get((0, 1)).unwrap().to_string(), "Denial Users");
    api.bad("xlsx", &[("rn", "")], "rn: empty");
    api.bad(
        "xlsx",
        &[(
            "fieldsVisibility",
            r#"{"ucd":"0","uct":"0","ucdy":"0","ucde":"0","ucch":"0"}"#,
        )],
        "fieldsVisibility: hides every column",
    );
    // Excel's 31 characters are UTF-16 units: 16 emoji are cut to 15 (not the default name).
    let bytes = api
        .get(
            "xlsx",
            &[("ed", "2023-03-20"), ("rn", &"\u{1F600}".repeat(16))],
        )
        .bytes()
        .unwrap();
    let wb: Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    assert_eq!(wb.sheet_names(), vec!["\u{1F600}".repeat(15)]);
    // Days Excel cannot show are a bad parameter for XLSX (400), not an internal fault; CSV
    // shows them.
    api.bad(
        "xlsx",
        &[("sd", "1899-12-30"), ("ed", "1900-01-02")],
        "xlsx: Excel cannot show the day 1899-12-30",
    );
    let r = api.get("csv", &[("sd", "1899-12-30"), ("ed", "1900-01-02")]);
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().unwrap().lines().count(), 1 + 4);
    let r = api.get("xlsx", &[("sd", "1900-01-01"), ("ed", "1900-01-02")]);
    assert_eq!(r.status().as_u16(), 200);
}

#[test]
fn post_form_body_is_merged_and_wins() {
    let api = Api::start(20);
    let all = expected(20, 20, false);
    let post = |query: &str, form: &[(&str, &str)]| {
        api.client
            .post(api.url(&format!("{PREFIX}json{query}")))
            .header("X-Auth-token", TOKEN)
            .form(form)
            .send()
            .unwrap()
    };
    let r = post(
        "?sd=2023-03-02&ed=2023-03-03&limit=1",
        &[
            ("ed", "2023-03-06"),
            (
                "filter",
                r#"[{"property":"ucch","operator":"gt","value":1}]"#,
            ),
        ],
    );
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().unwrap();
    // sd from the query, ed from the body (the body wins), limit from the query.
    assert_eq!(body["totalCount"], 4);
    assert_eq!(body["data"], serde_json::json!([all[1]]));
    // A POST without a body is like a GET.
    let r = api
        .client
        .post(api.url(&format!("{PREFIX}json?ed=2023-03-20")))
        .header("X-Auth-token", TOKEN)
        .send()
        .unwrap();
    assert_eq!(r.json::<Value>().unwrap()["totalCount"], 20);
    // Errors in the body name the parameter; a body that is not a form is refused.
    let r = post("", &[("limit", "0")]);
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(
        r.json::<Value>().unwrap()["msg"],
        "limit: must be greater than 0"
    );
    let r = api
        .client
        .post(api.url(&format!("{PREFIX}json")))
        .header("X-Auth-token", TOKEN)
        .header("Content-Type", "application/json")
        .body("{\"sd\":\"2023-03-01\"}")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.json::<Value>().unwrap()["msg"]
        .as_str()
        .unwrap()
        .starts_with("Content-Type: application/json is not application/x-www-form-urlencoded"));
    let r = post("", &[("sd", "2023-03-01"), ("sd", "2023-03-02")]);
    assert_eq!(
        r.json::<Value>().unwrap()["msg"],
        "sd: given more than once in the body"
    );
}

#[test]
fn tokens_are_required_on_api_paths_in_any_header_case() {
    let api = Api::start(3);
    let report = format!("{PREFIX}json?ed=2023-03-03");
    for path in [
        report.as_str(),
        "/api/v1/status",
        "/api/v1/nothing-here",
        "/api/x",
    ] {
        let r = api.client.get(api.url(path)).send().unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path}");
        let body: Value = r.json().unwrap();
        assert_envelope(&body, 401);
        assert_eq!(body["msg"], "missing X-Auth-token header");
        let r = api
            .client
            .get(api.url(path))
            .header("X-Auth-token", "tok-3f9a1d")
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path}");
        assert_envelope(&r.json().unwrap(), 401);
    }
    // Wrong methods and bad parameters are still 401 without a token: the token comes first.
    let r = api
        .client
        .delete(api.url(&format!("{PREFIX}pdf?limit=0")))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // The header name in any case (sent byte for byte, not through a client that lower-cases).
    for name in [
        "X-Auth-token",
        "x-auth-token",
        "X-AUTH-TOKEN",
        "x-AuTh-ToKeN",
    ] {
        let (status, body) = raw_get(api.addr, &report, &format!("{name}: {TOKEN}\r\n"));
        assert_eq!(status, 200, "{name}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["totalCount"], 3);
    }
    // Every configured token works; a prefix or an extension of one does not.
    let (status, _) = raw_get(api.addr, &report, "X-Auth-Token: second-token\r\n");
    assert_eq!(status, 200);
    for wrong in ["second-toke", "second-token2", "", "TOK-3F9A1C"] {
        let (status, body) = raw_get(api.addr, &report, &format!("X-Auth-Token: {wrong}\r\n"));
        assert_eq!(status, 401, "{wrong:?}: {body}");
    }
    // /healthz needs no token.
    let r = api.client.get(api.url("/healthz")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().unwrap(), "ok");
}

#[test]
fn paths_methods_and_return_types() {
    let api = Api::start(3);
    let with_token = |m: reqwest::Method, path: &str| {
        api.client
            .request(m, api.url(path))
            .header("X-Auth-token", TOKEN)
            .send()
            .unwrap()
    };
    let check = |r: Response, code: u16| {
        assert_eq!(r.status().as_u16(), code);
        assert_eq!(r.headers()["content-type"], "application/json");
        let body: Value = r.json().unwrap();
        assert_envelope(&body, code);
        body["msg"].as_str().unwrap().to_string()
    };
    use reqwest::Method;
    assert_eq!(
        check(with_token(Method::GET, "/api/v1/nope"), 404),
        "no such path: /api/v1/nope"
    );
    check(with_token(Method::GET, "/"), 404);
    check(
        with_token(Method::GET, "/api/v1/report/users/realtime-count"),
        404,
    );
    check(with_token(Method::GET, &format!("{PREFIX}json/extra")), 404);
    check(with_token(Method::GET, "/api/v1/status/"), 404);
    for m in [Method::PUT, Method::DELETE, Method::PATCH, Method::OPTIONS] {
        let r = with_token(m.clone(), &format!("{PREFIX}json"));
        assert_eq!(r.headers()["allow"], "GET, HEAD, POST");
        assert!(check(r, 405).starts_with(&format!("method {m} is not allowed")));
    }
    check(with_token(Method::POST, "/api/v1/status"), 405);
    check(api.client.post(api.url("/healthz")).send().unwrap(), 405);
    // returnType: case-insensitive; anything else is a 400 naming it.
    for rt in ["json", "JSON", "Json"] {
        assert_eq!(
            with_token(Method::GET, &format!("{PREFIX}{rt}?ed=2023-03-03"))
                .status()
                .as_u16(),
            200
        );
    }
    assert_eq!(
        check(with_token(Method::GET, &format!("{PREFIX}pdf")), 400),
        "returnType: 'pdf' is not json, csv or xlsx"
    );
    assert_eq!(
        check(with_token(Method::GET, PREFIX), 400),
        "returnType: missing; use json, csv or xlsx"
    );
    // HEAD answers like GET, without a body.
    let r = with_token(Method::HEAD, &format!("{PREFIX}csv?ed=2023-03-03"));
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    // Unknown parameter names are ignored.
    let r = with_token(
        Method::GET,
        &format!("{PREFIX}json?ed=2023-03-03&_dc=1700000000&page=1&start=0"),
    );
    assert_eq!(r.json::<Value>().unwrap()["totalCount"], 3);
}

#[test]
fn oversized_query_and_body_and_broken_requests_are_400_envelopes() {
    let api = Api::start(3);
    let report = |q: &str| {
        api.client
            .get(api.url(&format!("{PREFIX}json?{q}")))
            .header("X-Auth-token", TOKEN)
            .send()
            .unwrap()
    };
    // Just under 64 KiB: accepted (an unknown parameter, ignored).
    let q = format!("ed=2023-03-03&x={}", "a".repeat(60_000));
    assert_eq!(report(&q).status().as_u16(), 200);
    for n in [66_000, 100_000, 600_000] {
        let q = format!("x={}", "a".repeat(n));
        let (status, head, body) = raw(
            api.addr,
            format!("GET {PREFIX}json?{q} HTTP/1.1\r\nHost: x\r\nX-Auth-token: {TOKEN}\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        assert_eq!(status, 400, "{n}: {head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{head}"
        );
        let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{n}: {e}: {body:?}"));
        assert_envelope(&v, 400);
        let msg = v["msg"].as_str().unwrap();
        assert!(
            msg.contains("query string") || msg.contains("64 KiB"),
            "{msg}"
        );
    }
    // A body over 64 KiB.
    let big = format!("ed=2023-03-03&x={}", "a".repeat(70_000));
    let r = api
        .client
        .post(api.url(&format!("{PREFIX}json")))
        .header("X-Auth-token", TOKEN)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let v: Value = r.json().unwrap();
    assert!(
        v["msg"]
            .as_str()
            .unwrap()
            .starts_with("body: 70016 bytes, over the limit of 64 KiB"),
        "{v}"
    );
    // Not HTTP at all.
    let (status, _, body) = raw(api.addr, b"HELLO THERE\r\n\r\n");
    assert_eq!(status, 400);
    assert_envelope(&serde_json::from_str(&body).unwrap(), 400);
    // The server still answers.
    assert_eq!(report("ed=2023-03-03").status().as_u16(), 200);
}

#[test]
fn status_shows_files_and_caught_up() {
    let text = gen_log(5) + "garbage line\n17:30:00 (MLM) OUT: \"MATLAB\" \n";
    let api = Api::start_with(
        &[
            ("flexlm01", vec![("a.log", text)]),
            (
                "flexlm02",
                vec![("b.log", "9:00:00 (MLM) OUT: \"X\" undated@h\n".to_string())],
            ),
        ],
        "",
        false,
    );
    let status = || -> Value {
        let r = api
            .client
            .get(api.url("/api/v1/status"))
            .header("x-auth-token", TOKEN)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.headers()["content-type"], "application/json");
        r.json().unwrap()
    };
    let before = status();
    assert_eq!(before["caught_up"], false);
    assert_eq!(before["files"], serde_json::json!([]));
    engine::load_once(&api.state).unwrap();
    let after = status();
    assert_eq!(after["caught_up"], true);
    let files = after["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    let a = &files[0];
    assert_eq!(a["server"], "flexlm01");
    assert_eq!(
        a["path"],
        api.dir.path().join("a.log").display().to_string()
    );
    let size = std::fs::metadata(api.dir.path().join("a.log"))
        .unwrap()
        .len();
    assert_eq!(
        (a["bytes_read"].as_u64(), a["size"].as_u64()),
        (Some(size), Some(size))
    );
    // gen_log(5): 1+2+3+4+1 = 11 checkouts (plus the malformed one), 11 checkins, 2 denials.
    assert_eq!(a["lines_by_kind"]["out"], 12);
    assert_eq!(a["lines_by_kind"]["in"], 11);
    assert_eq!(a["lines_by_kind"]["denied"], 2);
    assert_eq!(a["skipped"], 1);
    assert_eq!(a["malformed"], 1);
    assert_eq!(a["undated"], 0);
    assert_eq!(a["latest"], "2023-03-05T17:30:00");
    let b = &files[1];
    assert_eq!(b["server"], "flexlm02");
    assert_eq!(b["undated"], 1);
    assert_eq!(b["latest"], Value::Null);
    assert_eq!(b["lines"], 1);
}

#[test]
fn reports_follow_changes_of_the_state() {
    use lmtally::core::FileIngest;
    let api = Api::start(3);
    let first = api.data(&[("ed", "2023-03-05")]);
    assert_eq!(first, expected(3, 5, false));
    // The reader adds a day (as the live follower will): the next report shows it.
    {
        let mut tally = api.state.tally.write().unwrap();
        let mut file = FileIngest::new();
        tally.feed(0, &mut file, b"0:00:01 (lmgrd) TIMESTAMP 3/5/2023\n9:00:00 (MLM) OUT: \"MATLAB\" newbie@hostn\n9:30:00 (MLM) IN: \"MATLAB\" newbie@hostn\n");
    }
    let second = api.data(&[("ed", "2023-03-05")]);
    assert_eq!(
        second[4],
        serde_json::json!({"ucd":"2023-03-05","uct":5,"ucdy":1,"ucde":0,"ucch":1})
    );
    assert_eq!(second[..4], first[..4]);
    // The tally swapped for another one (a reload) is seen too.
    *api.state.tally.write().unwrap() =
        lmtally::core::merge::Tally::new(api.state.config.options());
    assert_eq!(api.json(&[("ed", "2023-03-05")]).1["totalCount"], 0);
    api.state.caught_up.store(true, Ordering::SeqCst);
}

#[test]
fn concurrent_requests_while_the_state_grows() {
    use lmtally::core::FileIngest;
    let api = Api::start(3);
    let uct_at_end = |api: &Api| -> u64 {
        let rows = api.data(&[("ed", "2023-03-31")]);
        assert_eq!(rows.len(), 31);
        rows[30]["uct"].as_u64().unwrap()
    };
    assert_eq!(uct_at_end(&api), 4);
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut file = FileIngest::new();
            for d in 4..24 {
                let chunk = format!(
                    " 0:00:01 (lmgrd) TIMESTAMP 3/{d}/2023\n 9:00:00 (MLM) OUT: \"MATLAB\" w{d}@h{d}\n17:00:00 (MLM) IN: \"MATLAB\" w{d}@h{d}\n"
                );
                api.state.tally.write().unwrap().feed(0, &mut file, chunk.as_bytes());
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let readers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    // Each answer reads the state afresh: what a client sees never goes back.
                    let mut last = 0;
                    for _ in 0..40 {
                        let u = uct_at_end(&api);
                        assert!(u >= last, "uct went back from {last} to {u}");
                        last = u;
                    }
                })
            })
            .collect();
        writer.join().unwrap();
        for r in readers {
            r.join().unwrap();
        }
    });
    // Everything written is visible: 4 users of the first days and 20 new ones.
    assert_eq!(uct_at_end(&api), 24);
}

#[test]
fn internal_faults_are_500_envelopes() {
    let api = Api::start(3);
    // A reader that panics while holding the tally's lock poisons it.
    let state = api.state.clone();
    let _ = std::thread::spawn(move || {
        let _guard = state.tally.write().unwrap();
        panic!("a reader fault, on purpose");
    })
    .join();
    let r = api.get("json", &[("ed", "2023-03-03")]);
    assert_eq!(r.status().as_u16(), 500);
    let body: Value = r.json().unwrap();
    assert_envelope(&body, 500);
    // The rest of the server still works.
    assert_eq!(
        api.client
            .get(api.url("/healthz"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        200
    );
}

/// Runs `lmtally report` with `args`; returns its standard output.
fn cli_report(args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lmtally"))
        .arg("report")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `lmtally report`'s argument errors: a one-line message naming the culprit, exit status 2; a
/// glob in `--server` reads the files it matches, in name order, like the configuration's `logs`.
#[test]
fn report_cli_globs_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Two files of one server: b.log holds the OUT on 3/4 and an anchor the next morning, a.log
    // nothing but its anchor, c.txt the IN an hour after the OUT; the glob *.log takes a.log and
    // b.log, not c.txt.
    std::fs::write(d.join("a.log"), "0:00:00 (lmgrd) TIMESTAMP 3/4/2023\n").unwrap();
    std::fs::write(
        d.join("b.log"),
        "0:00:00 (lmgrd) TIMESTAMP 3/4/2023\n11:00:00 (MLM) OUT: \"F\" u1@h1\n9:00:00 (lmgrd) TIMESTAMP 3/5/2023\n",
    )
    .unwrap();
    std::fs::write(
        d.join("c.txt"),
        "0:00:00 (lmgrd) TIMESTAMP 3/4/2023\n12:00:00 (MLM) IN: \"F\" u1@h1\n",
    )
    .unwrap();
    let glob = format!("s={}", d.join("*.log").display());
    let listed = format!(
        "s={},{}",
        d.join("a.log").display(),
        d.join("b.log").display()
    );
    let by_glob = cli_report(&["--server", &glob, "--today", "2023-03-05"]);
    assert_eq!(
        by_glob,
        cli_report(&["--server", &listed, "--today", "2023-03-05"])
    );
    // Without c.txt the OUT is never closed and lasts to the server's latest instant, 3/5
    // 9:00: one daily user and one host on 3/5 (with c.txt, none).
    let v: Value = serde_json::from_slice(&by_glob).unwrap();
    assert_eq!(v["totalCount"], 2, "{v}");
    assert_eq!(v["data"][1]["ucdy"], 1, "{v}");
    assert_eq!(v["data"][1]["ucch"], 1, "{v}");
    let all = format!("{listed},{}", d.join("c.txt").display());
    let v: Value =
        serde_json::from_slice(&cli_report(&["--server", &all, "--today", "2023-03-05"])).unwrap();
    assert_eq!(v["data"][1]["ucdy"], 0, "{v}");

    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_lmtally"))
            .arg("report")
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), err)
    };
    let none = format!("s={}", d.join("*.nothing").display());
    let missing = format!("s={}", d.join("missing.log").display());
    let twice = format!(
        "s={},{}",
        d.join("a.log").display(),
        d.join("*.log").display()
    );
    for (args, names) in [
        (vec!["--server", &none], "*.nothing' matches no file"),
        (vec!["--server", &missing], "missing.log"),
        (vec!["--server", &twice], "a.log: listed more than once"),
        (vec!["--server", "=x"], "the server name is empty"),
        (vec!["--server", &glob, "--ed", "2023-02-30"], "2023-02-30"),
        (vec!["--server", &glob, "--model", "2020"], "2020"),
    ] {
        let (code, err) = run(&args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(names), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn endpoint_json_equals_lmtally_report_byte_for_byte() {
    // Two servers, one with two files; user names in two cases; an UNSUPPORTED line.
    let a1 = gen_log(10);
    let a2 = "0:00:00 (lmgrd) TIMESTAMP 3/4/2023\n11:00:00 (MLM) OUT: \"SIMULINK\" U0@Host0\n\
              11:30:00 (MLM) UNSUPPORTED: \"pathway\" (PORT_AT_HOST_PLUS   ) u9@host9  (License server system does not support this feature. (-18,327))\n\
              12:00:00 (MLM) IN: \"SIMULINK\" U0@Host0\n"
        .to_string();
    let b = "0:00:00 (lmgrd) TIMESTAMP 3/9/2023\n23:00:00 (adskflex) OUT: \"ACD\" night@owl\n"
        .to_string();
    let servers = [
        ("s1", vec![("a1.log", a1), ("a2.log", a2)]),
        ("s2", vec![("b.log", b)]),
    ];
    for (extra, flags) in [
        ("", vec![]),
        ("licensing_model = 2013", vec!["--model", "2013"]),
        (
            "fold_case = true\nuser_identity = \"user@host\"\ncount_unsupported_as_denial = true",
            vec![
                "--fold-case",
                "--user-identity",
                "user@host",
                "--count-unsupported",
            ],
        ),
    ] {
        let api = Api::start_with(&servers, extra, true);
        let dir = api.dir.path();
        let s1 = format!(
            "s1={},{}",
            dir.join("a1.log").display(),
            dir.join("a2.log").display()
        );
        let s2 = format!("s2={}", dir.join("b.log").display());
        for range in [
            vec![("ed", "2023-03-14")],
            vec![("sd", "2023-03-03"), ("ed", "2023-03-10")],
        ] {
            let mut args = vec!["--server", &s1, "--server", &s2];
            args.extend(flags.iter().copied());
            for (k, v) in &range {
                args.push(if *k == "sd" { "--sd" } else { "--ed" });
                args.push(*v);
            }
            let cli = cli_report(&args);
            let http = api.get("json", &range).bytes().unwrap();
            assert_eq!(
                String::from_utf8_lossy(&http),
                String::from_utf8_lossy(&cli),
                "{extra} {range:?}"
            );
        }
    }
}

#[test]
fn real_log_endpoint_equals_lmtally_report() {
    let log = crate::common::real_log("joseantoniovilar__Stats_Logs_FlexLM__matlab.log");
    if !log.exists() {
        panic!("the shared real sample {} is missing", log.display());
    }
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n[[server]]\nname = \"matlab\"\nlogs = [\"{}\"]\n",
        dir.path().display(),
        log.display()
    );
    let path = dir.path().join("c.toml");
    std::fs::write(&path, config).unwrap();
    let api = Api::start_config(dir, &path, true);
    let http = api.get("json", &[("ed", "2022-07-31")]).bytes().unwrap();
    let cli = cli_report(&[
        "--server",
        &format!("matlab={}", log.display()),
        "--ed",
        "2022-07-31",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&http),
        String::from_utf8_lossy(&cli)
    );
    let v: Value = serde_json::from_slice(&http).unwrap();
    assert!(v["totalCount"].as_u64().unwrap() > 20);
    assert!(v["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["ucdy"].as_u64().unwrap() > 10));
}

/// `lmtally serve` itself: configuration errors, the generated token, status, SIGTERM.
#[test]
fn serve_binary_end_to_end() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    // A configuration error names the key and exits 2.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "listen = \"127.0.0.1:0\"\nbogus = 1\n[[server]]\nname = \"a\"\nlogs = [\"/x\"]\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lmtally"))
        .args(["serve", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`bogus`: unknown key"));

    let config = write_config(
        dir.path(),
        &[("flexlm01", vec![("gen.log", gen_log(12))])],
        "",
    );
    let crate::common::Serve {
        mut child,
        addr,
        log,
        reader,
        ..
    } = crate::common::spawn_serve(&config);
    let deadline = Instant::now() + Duration::from_secs(30);
    assert!(addr.ip().is_loopback());
    let token_path = dir.path().join("data").join("token");
    let token = std::fs::read_to_string(&token_path)
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(token.len(), 64);
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&token_path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let client = Client::new();
    // Scripts wait on caught_up.
    let body: Value = loop {
        let v: Value = client
            .get(format!("http://{addr}/api/v1/status"))
            .header("X-Auth-token", &token)
            .send()
            .unwrap()
            .json()
            .unwrap();
        if v["caught_up"] == true {
            break v;
        }
        assert!(Instant::now() < deadline, "never caught up: {v}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(body["files"][0]["server"], "flexlm01");
    let r = client
        .get(format!("http://{addr}{PREFIX}json?ed=2023-03-12"))
        .header("X-Auth-token", &token)
        .send()
        .unwrap();
    assert_eq!(
        r.json::<Value>().unwrap()["data"],
        Value::Array(expected(12, 12, false))
    );
    let r = client
        .get(format!("http://{addr}/api/v1/status"))
        .header("X-Auth-token", "wrong")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // SIGTERM: a clean stop.
    crate::common::signal(child.id(), "TERM");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    reader.join().unwrap();
    let log = log.lock().unwrap().clone();
    assert!(log.contains(&token_path.display().to_string()), "{log}");
    assert!(!log.contains(&token), "the token must never be logged");
    assert!(log.contains("401"), "{log}");

    // A second start reuses the token.
    let mut child = Command::new(env!("CARGO_BIN_EXE_lmtally"))
        .args(["serve", "--config"])
        .arg(&config)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("a start-up log").unwrap();
        if line.contains("listening on") {
            break;
        }
    }
    crate::common::signal(child.id(), "TERM");
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert_eq!(std::fs::read_to_string(&token_path).unwrap().trim(), token);
}
