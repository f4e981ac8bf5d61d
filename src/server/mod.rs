//! The HTTP edge of `lmtally serve` (contract, section 5): the report endpoint, `/api/v1/status`,
//! `/healthz` and `/metrics`, on warp and hyper.
//!
//! Requests are routed by hand in [`route`] rather than with warp's path filters, so that the
//! order of the checks is the contract's: a token is checked before anything else on `/api/`
//! paths (401), then the path (404), the method (405), then the parameters (400). Every error
//! body is the JSON envelope of [`export::error_body`], hyper's own early answers included (see
//! [`io`]).
//!
//! The server only reads [`AppState`], taking its locks afresh for each request: the reader
//! (engine) may change the tally at any time. Rows are cached per tally generation ([`cache`]).
//! Every answer is counted, with its time, for `/metrics` ([`requests`]).

pub mod auth;
pub mod cache;
pub mod io;
pub mod requests;

use crate::core::report::Snapshot;
use crate::export;
use crate::query::{merge, parse_urlencoded, percent_decode, Query, QueryError, MAX_PARAMS_BYTES};
use crate::state::AppState;
use auth::Tokens;
use cache::{Entry, RowsCache, RowsKey};
use lmtally_parsers::date::{day_of, format_day, time_of, Day};
use serde::Serialize;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tracing::{debug, error, info, warn};
use warp::http::header::{
    HeaderName, HeaderValue, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_DISPOSITION,
    CONTENT_LENGTH, CONTENT_TYPE,
};
use warp::http::{HeaderMap, Method, StatusCode};
use warp::hyper::body::Bytes;
use warp::{Buf, Filter, Stream};

/// The report endpoint, up to its return type.
pub const REPORT_PREFIX: &str = "/api/v1/report/users/realtime-count/";
pub const STATUS_PATH: &str = "/api/v1/status";
pub const HEALTH_PATH: &str = "/healthz";
pub const METRICS_PATH: &str = "/metrics";
/// The `Server` header of `/healthz` answers.
pub const SERVER_HEADER: &str = concat!("lmtally/", env!("CARGO_PKG_VERSION"));
/// The token header (HTTP header names are case-insensitive).
pub const TOKEN_HEADER: &str = "x-auth-token";

/// A body over the 64 KiB limit is still read (and dropped) up to this size, so that the client
/// gets the 400 rather than a reset connection; past it the connection is closed.
const DRAIN_LIMIT: usize = 1 << 20;

pub type Response = warp::reply::Response;

/// What a request handler needs: the shared state, the tokens, the rows cache, the request
/// counters.
pub struct Ctx {
    pub state: Arc<AppState>,
    /// Replaced as a whole when SIGHUP reloads them.
    tokens: std::sync::RwLock<Arc<Tokens>>,
    cache: RowsCache,
    /// Held while rows are computed (see [`Ctx::rows`]).
    computing: std::sync::Mutex<()>,
    pub requests: requests::RequestStats,
    /// When the process started (for `/metrics`).
    started: std::time::SystemTime,
}

impl Ctx {
    pub fn new(state: Arc<AppState>, tokens: Tokens) -> Self {
        Ctx {
            state,
            tokens: std::sync::RwLock::new(Arc::new(tokens)),
            cache: RowsCache::default(),
            computing: std::sync::Mutex::new(()),
            requests: requests::RequestStats::default(),
            started: std::time::SystemTime::now(),
        }
    }

    /// The tokens accepted now.
    pub fn tokens(&self) -> Arc<Tokens> {
        self.tokens
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Accepts `tokens` from now on (and no other); requests in progress are not affected.
    pub fn set_tokens(&self, tokens: Tokens) {
        *self.tokens.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(tokens);
    }

    /// Now, as a server-local instant in the configured time zone (default: the system's).
    pub fn now_local(&self) -> lmtally_parsers::date::Instant {
        crate::config::local_now(self.state.config.timezone)
    }

    /// Today in the configured time zone (default: the system's); the default `ed`.
    pub fn today(&self) -> Day {
        lmtally_parsers::date::day_of(self.now_local())
    }

    /// The cached plain JSON body for `key`, if the tally is free to look at and the body is
    /// made for its current generation. Never waits.
    fn cached_plain_json(&self, key: &RowsKey) -> Option<Bytes> {
        let generation = self.state.tally.try_read().ok()?.agg.generation();
        self.cache.get(generation, key)?.plain_json.get().cloned()
    }

    /// Rows for `key` as the tally stands now, computed once per tally generation. One
    /// computation at a time: requests that miss the cache together (right after a change) wait
    /// for the first one's rows instead of all computing the same thing.
    fn rows(&self, key: RowsKey) -> Result<Arc<Entry>, String> {
        let unavailable = |_| "the report data is unavailable: its reader failed".to_string();
        {
            let tally = self.state.tally.read().map_err(unavailable)?;
            if let Some(e) = self.cache.get(tally.agg.generation(), &key) {
                return Ok(e);
            }
        }
        let _computing = self.computing.lock().unwrap_or_else(|p| p.into_inner());
        let tally = self.state.tally.read().map_err(unavailable)?;
        let generation = tally.agg.generation();
        if let Some(e) = self.cache.get(generation, &key) {
            return Ok(e);
        }
        let rows = Snapshot::new(&tally.agg).rows(key.model, key.sd, Some(key.ed), key.ed);
        drop(tally);
        let entry = Arc::new(Entry::new(rows));
        self.cache.put(generation, key, entry.clone());
        Ok(entry)
    }
}

/// The report's formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReturnType {
    Json,
    Csv,
    Xlsx,
}

impl ReturnType {
    /// Case-insensitive.
    pub fn parse(s: &str) -> Option<ReturnType> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Some(ReturnType::Json),
            "csv" => Some(ReturnType::Csv),
            "xlsx" => Some(ReturnType::Xlsx),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ReturnType::Json => "application/json",
            ReturnType::Csv => "text/csv; charset=utf-8",
            ReturnType::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    pub fn disposition(self) -> Option<&'static str> {
        match self {
            ReturnType::Json => None,
            ReturnType::Csv => Some("attachment; filename=\"realtime-users-count.csv\""),
            ReturnType::Xlsx => Some("attachment; filename=\"realtime-users-count.xlsx\""),
        }
    }
}

fn response(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response {
    let body: Bytes = body.into();
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// An error with the JSON envelope, `code` = the status.
pub fn error(status: StatusCode, msg: &str) -> Response {
    response(
        status,
        "application/json",
        export::error_body(status.as_u16(), msg),
    )
}

fn bad_request(e: &QueryError) -> Response {
    error(StatusCode::BAD_REQUEST, &e.to_string())
}

fn method_not_allowed(method: &Method, path: &str, allow: &'static str) -> Response {
    let mut r = error(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!(
            "method {method} is not allowed on {}; use {allow}",
            cut(path)
        ),
    );
    r.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    r
}

/// A path or value cut for a message.
fn cut(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let c: String = s.chars().take(MAX).collect();
        format!("{c}…")
    }
}

/// The peer of a request (put on each request by the accept loop).
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The one warp filter: it hands every request's parts to [`route`].
pub fn routes(
    ctx: Arc<Ctx>,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone + Send + Sync + 'static {
    let query = warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify();
    warp::any()
        .and(warp::method())
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<Peer>())
        .and(warp::body::stream())
        .then(
            move |method: Method,
                  path: warp::path::FullPath,
                  query: Option<String>,
                  headers: HeaderMap,
                  peer: Option<Peer>,
                  body| {
                let ctx = ctx.clone();
                async move {
                    let started = std::time::Instant::now();
                    let resp = route(
                        &ctx,
                        &method,
                        path.as_str(),
                        query.as_deref(),
                        &headers,
                        peer,
                        body,
                    )
                    .await;
                    let status = resp.status().as_u16();
                    ctx.requests
                        .record(path.as_str(), status, started.elapsed());
                    debug!(%method, path = %cut(path.as_str()), status, "request");
                    resp
                }
            },
        )
}

/// Routes one request. Never fails: every outcome is a response.
pub async fn route<B, D>(
    ctx: &Arc<Ctx>,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    peer: Option<Peer>,
    body: B,
) -> Response
where
    B: Stream<Item = Result<D, warp::Error>> + Send,
    D: Buf + Send,
{
    let get_like = *method == Method::GET || *method == Method::HEAD;
    if path == HEALTH_PATH {
        return if get_like {
            let mut r = response(StatusCode::OK, "text/plain; charset=utf-8", "ok");
            // Tells `check-config` that the port it finds in use is an lmtally's.
            r.headers_mut().insert(
                warp::http::header::SERVER,
                HeaderValue::from_static(SERVER_HEADER),
            );
            r
        } else {
            method_not_allowed(method, path, "GET, HEAD")
        };
    }
    if path == METRICS_PATH {
        return if !get_like {
            method_not_allowed(method, path, "GET, HEAD")
        } else if ctx.state.config.metrics_public || metrics_token_ok(ctx, headers, peer) {
            metrics(ctx).await
        } else {
            error(
                StatusCode::UNAUTHORIZED,
                "/metrics needs a token: X-Auth-token or Authorization: Bearer (or metrics_public = true)",
            )
        };
    }
    if !path.starts_with("/api/") {
        return error(
            StatusCode::NOT_FOUND,
            &format!("no such path: {}", cut(path)),
        );
    }
    let peer = peer.map_or_else(|| "-".to_string(), |p| p.to_string());
    match headers.get(TOKEN_HEADER) {
        None => {
            warn!(%peer, path = %cut(path), "401: no X-Auth-token header");
            return error(StatusCode::UNAUTHORIZED, "missing X-Auth-token header");
        }
        Some(v) if !ctx.tokens().accepts(v.as_bytes()) => {
            warn!(%peer, path = %cut(path), "401: wrong token in X-Auth-token (not logged)");
            return error(
                StatusCode::UNAUTHORIZED,
                "unknown token in the X-Auth-token header",
            );
        }
        Some(_) => {}
    }
    if path == STATUS_PATH {
        return if get_like {
            status(ctx).await
        } else {
            method_not_allowed(method, path, "GET, HEAD")
        };
    }
    if let Some(rt) = path.strip_prefix(REPORT_PREFIX) {
        if !rt.contains('/') {
            return if get_like || *method == Method::POST {
                report(ctx, method, rt, query, headers, body).await
            } else {
                method_not_allowed(method, path, "GET, HEAD, POST")
            };
        }
    }
    error(
        StatusCode::NOT_FOUND,
        &format!("no such path: {}", cut(path)),
    )
}

/// Reads a request body: `Ok` with its bytes when it has at most 64 KiB, else the 400.
async fn read_body<B, D>(body: B, headers: &HeaderMap) -> Result<Vec<u8>, Box<Response>>
where
    B: Stream<Item = Result<D, warp::Error>> + Send,
    D: Buf + Send,
{
    let too_large = |n: Option<usize>| {
        let msg = match n {
            Some(n) => {
                format!("body: {n} bytes, over the limit of 64 KiB ({MAX_PARAMS_BYTES} bytes)")
            }
            None => format!("body: over the limit of 64 KiB ({MAX_PARAMS_BYTES} bytes)"),
        };
        let mut r = error(StatusCode::BAD_REQUEST, &msg);
        r.headers_mut().insert(
            HeaderName::from_static("connection"),
            HeaderValue::from_static("close"),
        );
        Box::new(r)
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_LIMIT as u64) {
        return Err(too_large(declared.map(|n| n as usize)));
    }
    let mut body = std::pin::pin!(body);
    let mut out = Vec::new();
    let mut total = 0usize;
    while let Some(chunk) = std::future::poll_fn(|cx| body.as_mut().poll_next(cx)).await {
        let mut chunk = chunk.map_err(|e| {
            Box::new(error(
                StatusCode::BAD_REQUEST,
                &format!("body: cannot be read ({e})"),
            ))
        })?;
        total += chunk.remaining();
        if total > DRAIN_LIMIT {
            return Err(too_large(None));
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            if total <= MAX_PARAMS_BYTES {
                out.extend_from_slice(part);
            }
            let n = part.len();
            chunk.advance(n);
        }
    }
    if total > MAX_PARAMS_BYTES {
        return Err(too_large(Some(total)));
    }
    Ok(out)
}

/// `application/x-www-form-urlencoded` (any parameters such as a charset), or no Content-Type.
fn is_form(headers: &HeaderMap) -> Result<(), Box<Response>> {
    let Some(v) = headers.get(CONTENT_TYPE) else {
        return Ok(());
    };
    let media = v
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media == "application/x-www-form-urlencoded" {
        Ok(())
    } else {
        Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            &format!(
                "Content-Type: {} is not application/x-www-form-urlencoded",
                cut(&String::from_utf8_lossy(v.as_bytes()))
            ),
        )))
    }
}

/// The report endpoint.
async fn report<B, D>(
    ctx: &Arc<Ctx>,
    method: &Method,
    rt: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: B,
) -> Response
where
    B: Stream<Item = Result<D, warp::Error>> + Send,
    D: Buf + Send,
{
    let query = query.unwrap_or("");
    if query.len() > MAX_PARAMS_BYTES {
        return error(
            StatusCode::BAD_REQUEST,
            &format!(
                "query string: {} bytes, over the limit of 64 KiB ({MAX_PARAMS_BYTES} bytes)",
                query.len()
            ),
        );
    }
    let body_params = if *method == Method::POST {
        let bytes = match read_body(body, headers).await {
            Ok(b) => b,
            Err(r) => return *r,
        };
        if bytes.is_empty() {
            Vec::new()
        } else {
            if let Err(r) = is_form(headers) {
                return *r;
            }
            match parse_urlencoded(&bytes, "body") {
                Ok(p) => p,
                Err(e) => return bad_request(&e),
            }
        }
    } else {
        Vec::new()
    };
    let rt_text = percent_decode(rt.as_bytes(), false);
    let Some(rt) = ReturnType::parse(&rt_text) else {
        let msg = if rt_text.is_empty() {
            "returnType: missing; use json, csv or xlsx".to_string()
        } else {
            format!("returnType: '{}' is not json, csv or xlsx", cut(&rt_text))
        };
        return error(StatusCode::BAD_REQUEST, &msg);
    };
    let query_params = match parse_urlencoded(query.as_bytes(), "query string") {
        Ok(p) => p,
        Err(e) => return bad_request(&e),
    };
    let mut params = merge(query_params, body_params);
    if rt == ReturnType::Json {
        // The contract: fieldsVisibility "applies to CSV and XLSX, ignored for JSON".
        params.retain(|(name, _)| name != "fieldsVisibility" && name != "fieldVisibility");
    }
    let q = match Query::from_params(&params) {
        Ok(q) => q,
        Err(e) => return bad_request(&e),
    };
    let key = RowsKey {
        model: q.model.unwrap_or(ctx.state.config.licensing_model),
        sd: q.sd,
        ed: q.ed.unwrap_or_else(|| ctx.today()),
    };
    if rt == ReturnType::Json && q.is_plain() {
        if let Some(body) = ctx.cached_plain_json(&key) {
            return report_response(rt, body);
        }
    }
    let ctx = ctx.clone();
    match tokio::task::spawn_blocking(move || build(&ctx, rt, &q, key)).await {
        Ok(r) => r,
        Err(e) => {
            error!("the report failed: {e}");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error while making the report",
            )
        }
    }
}

fn report_response(rt: ReturnType, body: impl Into<Bytes>) -> Response {
    let mut r = response(StatusCode::OK, rt.content_type(), body);
    if let Some(d) = rt.disposition() {
        r.headers_mut()
            .insert(CONTENT_DISPOSITION, HeaderValue::from_static(d));
    }
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Makes a report body (blocking work: takes the tally's lock, may compute rows).
fn build(ctx: &Ctx, rt: ReturnType, q: &Query, key: RowsKey) -> Response {
    let entry = match ctx.rows(key) {
        Ok(e) => e,
        Err(msg) => {
            error!("{msg}");
            return error(StatusCode::INTERNAL_SERVER_ERROR, &msg);
        }
    };
    let rows = match &entry.rows {
        Ok(rows) => rows,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    match rt {
        ReturnType::Json if q.is_plain() => {
            let body = entry
                .plain_json
                .get_or_init(|| Bytes::from(export::json_body(rows, rows.len())))
                .clone();
            report_response(rt, body)
        }
        ReturnType::Json => {
            let (page, total) = q.apply(rows);
            report_response(rt, export::json_body(&page, total))
        }
        ReturnType::Csv => {
            let (page, _) = q.apply(rows);
            report_response(rt, export::csv_body(&page, &q.cols))
        }
        ReturnType::Xlsx => {
            let (page, _) = q.apply(rows);
            if let Some(msg) = export::xlsx_refuses(&page) {
                return error(StatusCode::BAD_REQUEST, &msg);
            }
            match export::xlsx_body(&page, &q.cols, &q.rn) {
                Ok(body) => report_response(rt, body),
                Err(e) => {
                    error!("the XLSX report failed: {e}");
                    error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        &format!("cannot make the XLSX file: {e}"),
                    )
                }
            }
        }
    }
}

/// The body of `/api/v1/status`.
#[derive(Serialize, Debug)]
pub struct StatusBody {
    pub success: bool,
    /// Every file read to its end, and all of it visible in the report.
    pub caught_up: bool,
    pub files: Vec<FileJson>,
}

#[derive(Serialize, Debug)]
pub struct FileJson {
    pub server: String,
    pub path: String,
    pub bytes_read: u64,
    pub size: u64,
    /// Complete lines read.
    pub lines: u64,
    /// Usage lines by kind (out, in, denied, unsupported, queued, dequeued, upgrade).
    pub lines_by_kind: serde_json::Map<String, serde_json::Value>,
    pub skipped: u64,
    pub malformed: u64,
    /// Lines waiting for the file's first date anchor.
    pub undated: u64,
    pub anchors: u64,
    pub resets: u64,
    /// The latest instant seen, `YYYY-MM-DDTHH:MM:SS` (server-local), or null.
    pub latest: Option<String>,
    /// The read position in the daemon's last checkpoint (what a restart resumes from).
    pub checkpoint_offset: u64,
    /// The fingerprint of the file's first bytes (`hash:length`), or null.
    pub fingerprint: Option<String>,
    /// Bytes of the file not yet counted: `size - bytes_read` (an unfinished last line included).
    pub lag_bytes: u64,
}

/// `YYYY-MM-DDTHH:MM:SS`.
pub fn format_instant(at: lmtally_parsers::date::Instant) -> String {
    let t = time_of(at);
    format!(
        "{}T{:02}:{:02}:{:02}",
        format_day(day_of(at)),
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

fn status_body(state: &AppState) -> Result<StatusBody, String> {
    let caught_up = state.caught_up.load(Ordering::SeqCst);
    let files = state
        .files
        .read()
        .map_err(|_| "the reading state is unavailable: its reader failed".to_string())?;
    let files = files
        .iter()
        .map(|f| FileJson {
            server: f.server.clone(),
            path: f.path.display().to_string(),
            bytes_read: f.bytes_read,
            size: f.size,
            lines: f.stats.lines,
            lines_by_kind: lmtally_parsers::UsageKind::ALL
                .into_iter()
                .map(|k| {
                    (
                        k.name().to_string(),
                        serde_json::Value::from(f.stats.kind(k)),
                    )
                })
                .collect(),
            skipped: f.stats.skipped,
            malformed: f.stats.malformed,
            undated: f.undated,
            anchors: f.stats.anchors,
            resets: f.stats.resets,
            latest: f.latest.map(format_instant),
            checkpoint_offset: f.checkpoint_offset,
            fingerprint: f.fingerprint.clone(),
            lag_bytes: f.size.saturating_sub(f.bytes_read),
        })
        .collect();
    Ok(StatusBody {
        success: true,
        caught_up,
        files,
    })
}

async fn status(ctx: &Arc<Ctx>) -> Response {
    let ctx = ctx.clone();
    let body = tokio::task::spawn_blocking(move || {
        status_body(&ctx.state).and_then(|b| serde_json::to_string(&b).map_err(|e| e.to_string()))
    });
    match body.await {
        Ok(Ok(mut json)) => {
            json.push('\n');
            let mut r = response(StatusCode::OK, "application/json", json);
            r.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Ok(Err(msg)) => error(StatusCode::INTERNAL_SERVER_ERROR, &msg),
        Err(e) => {
            error!("the status failed: {e}");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error while making the status",
            )
        }
    }
}

/// Whether a `/metrics` request carries a known token, in `X-Auth-token` or as
/// `Authorization: Bearer TOKEN` (what Prometheus sends with `authorization: credentials`).
fn metrics_token_ok(ctx: &Ctx, headers: &HeaderMap, peer: Option<Peer>) -> bool {
    let tokens = ctx.tokens();
    let given = headers.get(TOKEN_HEADER).map(|v| v.as_bytes()).or_else(|| {
        let v = headers.get(AUTHORIZATION)?.as_bytes();
        let scheme = v.get(..7)?;
        scheme
            .eq_ignore_ascii_case(b"bearer ")
            .then(|| v[7..].trim_ascii())
    });
    let ok = given.is_some_and(|t| tokens.accepts(t));
    if !ok {
        let peer = peer.map_or_else(|| "-".to_string(), |p| p.to_string());
        warn!(%peer, path = METRICS_PATH, "401: no known token (not logged)");
    }
    ok
}

/// A sample of the daemon for `/metrics` (blocking: takes the state's locks, looks at the
/// files' sizes).
pub fn metrics_sample(ctx: &Ctx) -> Result<crate::metrics::Sample, String> {
    use crate::metrics::{FileSample, Sample, ServerSample};
    let caught_up = ctx.state.caught_up.load(Ordering::SeqCst);
    let files: Vec<crate::state::FileStatus> = ctx
        .state
        .files
        .read()
        .map_err(|_| "the reading state is unavailable: its reader failed".to_string())?
        .clone();
    let now = ctx.now_local();
    let servers = ctx
        .state
        .servers()
        .into_iter()
        .map(|s| {
            let latest = files
                .iter()
                .filter(|f| f.server == s.name)
                .filter_map(|f| f.latest)
                .max();
            ServerSample {
                seconds_since_last_event: latest.map(|at| now - at),
                name: s.name,
            }
        })
        .collect();
    let files = files
        .into_iter()
        .map(|f| FileSample {
            // The size now: what the reader saw last may be old.
            size: std::fs::metadata(&f.path).map_or(f.size, |m| m.len()),
            server: f.server,
            path: f.path.display().to_string(),
            lines: f.stats.lines,
            usage: f.stats.usage,
            skipped: f.stats.skipped,
            malformed: f.stats.malformed,
            undated: f.undated,
            bytes_read: f.bytes_read,
        })
        .collect();
    Ok(Sample {
        version: env!("CARGO_PKG_VERSION").to_string(),
        caught_up,
        start_time_seconds: ctx
            .started
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        files,
        servers,
        requests: ctx.requests.snapshot(),
    })
}

async fn metrics(ctx: &Arc<Ctx>) -> Response {
    let ctx = ctx.clone();
    let body = tokio::task::spawn_blocking(move || {
        metrics_sample(&ctx).map(|s| crate::metrics::render(&s))
    });
    match body.await {
        Ok(Ok(text)) => {
            let mut r = response(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                text,
            );
            r.headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Ok(Err(msg)) => error(StatusCode::INTERNAL_SERVER_ERROR, &msg),
        Err(e) => {
            error!("the metrics failed: {e}");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error while making the metrics",
            )
        }
    }
}

/// A bound server, not yet accepting.
pub struct Server {
    listener: TcpListener,
    ctx: Arc<Ctx>,
}

impl Server {
    /// Binds `addr` (port 0: any free port; see [`Server::local_addr`]).
    pub async fn bind(addr: SocketAddr, ctx: Arc<Ctx>) -> std::io::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Server { listener, ctx })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes, then stops accepting and waits (10 s at most) for the
    /// requests in progress.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        use hyper_util::rt::{TokioExecutor, TokioIo};
        let filter = routes(self.ctx.clone());
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: wait a little, go on.
                        warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let svc = warp::service(filter.clone());
            let hyper_svc = warp::hyper::service::service_fn(
                move |mut req: warp::http::Request<warp::hyper::body::Incoming>| {
                    req.extensions_mut().insert(Peer(peer));
                    let mut svc = svc.clone();
                    tower_service::Service::call(&mut svc, req)
                },
            );
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                let io = TokioIo::new(io::ErrorEnvelopeIo::new(stream));
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let conn = builder.serve_connection_with_upgrades(io, hyper_svc);
                if let Err(e) = watcher.watch(conn).await {
                    debug!(%peer, "connection ended: {e}");
                }
            });
        }
        drop(self.listener);
        info!("stopping: waiting for requests in progress");
        if tokio::time::timeout(Duration::from_secs(10), graceful.shutdown())
            .await
            .is_err()
        {
            warn!("requests still in progress after 10 s: stopping anyway");
        }
    }
}
