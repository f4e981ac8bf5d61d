//! The parameters of the report endpoint (contract, section 5): from the raw query string and
//! form body to a validated [`Query`], and its application to report rows. Pure: no HTTP types.
//!
//! Choices where the contract is silent (also in the README):
//! - Parameter names are case-sensitive; names this endpoint does not know are ignored (scripts
//!   and grids send extras such as `_dc`, `page` or `start`).
//! - A name given twice in the same source (`sd=..&sd=..`) is an error; a name given in both the
//!   query string and the body takes the body's value.
//! - A parameter given with an empty value is an error (`rn=` as the contract says, and every
//!   other name alike): leave a parameter out to get its default.
//! - `filter`: an unknown property, type, operator or comparison is an error; so is a condition
//!   without a value, and a value of the wrong kind (a number is needed on `uct`, `ucdy`, `ucde`,
//!   `ucch`; a number or numeric string is accepted). On `ucd`, a value shaped like `YYYY-MM-DD`
//!   must be a date that exists; `lt`/`gt` on `ucd` need such a date.
//! - `order` and `orderBy`/`orderDirection` together: `order` wins. `orderDirection` alone sorts
//!   by `ucd`.
//! - `fieldsVisibility` and `fieldVisibility` together: `fieldsVisibility` wins. Hiding every
//!   column is an error. The server drops both before it validates a JSON request (JSON ignores
//!   them, as the contract says).

use crate::core::{Model, Row};
use crate::export::Col;
use lmtally_parsers::date::{format_day, parse_iso_day, Day};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use std::cmp::Ordering;
use std::fmt;

/// The most bytes a query string or a form body may have (64 KiB).
pub const MAX_PARAMS_BYTES: usize = 64 * 1024;

/// The report name when `rn` is not given.
pub const DEFAULT_REPORT_NAME: &str = "Realtime Users Count";

/// A bad parameter: `param` names it (or the part of the request at fault).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryError {
    pub param: String,
    pub msg: String,
}

impl QueryError {
    pub fn new(param: &str, msg: impl Into<String>) -> Self {
        QueryError {
            param: param.to_string(),
            msg: msg.into(),
        }
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.param, self.msg)
    }
}

impl std::error::Error for QueryError {}

/// Parameters as (name, value) pairs, each name at most once.
pub type Params = Vec<(String, String)>;

/// Shows a value in a message: quoted, and cut when long.
fn quote(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        format!("'{s}'")
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("'{cut}…'")
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decoding with `+` as a space. A `%` not followed by two hex digits is kept as it is;
/// bytes that are not UTF-8 become U+FFFD.
pub fn percent_decode(s: &[u8], plus_is_space: bool) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' if i + 2 < s.len() => match (hex(s[i + 1]), hex(s[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Reads `application/x-www-form-urlencoded` text (a query string or a form body). `source`
/// ("query string", "body") is only used in messages. Empty pieces (`a=1&&b=2`) are skipped; a
/// piece without `=` is a name with an empty value.
pub fn parse_urlencoded(text: &[u8], source: &str) -> Result<Params, QueryError> {
    if text.len() > MAX_PARAMS_BYTES {
        return Err(QueryError::new(
            source,
            format!(
                "{} bytes, over the limit of 64 KiB ({MAX_PARAMS_BYTES} bytes)",
                text.len()
            ),
        ));
    }
    let mut out: Params = Vec::new();
    for piece in text.split(|&b| b == b'&') {
        if piece.is_empty() {
            continue;
        }
        let (name, value) = match piece.iter().position(|&b| b == b'=') {
            Some(i) => (&piece[..i], &piece[i + 1..]),
            None => (piece, &piece[piece.len()..]),
        };
        let name = percent_decode(name, true);
        let value = percent_decode(value, true);
        if out.iter().any(|(n, _)| *n == name) {
            return Err(QueryError::new(
                &name,
                format!("given more than once in the {source}"),
            ));
        }
        out.push((name, value));
    }
    Ok(out)
}

/// The query string's parameters, then the body's: a name given in both takes the body's value.
pub fn merge(query: Params, body: Params) -> Params {
    let mut out: Params = query
        .into_iter()
        .filter(|(n, _)| !body.iter().any(|(b, _)| b == n))
        .collect();
    out.extend(body);
    out
}

/// The comparison of a filter condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Lt,
    Gt,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        match s.to_ascii_lowercase().as_str() {
            "eq" => Some(Op::Eq),
            "lt" => Some(Op::Lt),
            "gt" => Some(Op::Gt),
            _ => None,
        }
    }

    fn holds(self, o: Ordering) -> bool {
        match self {
            Op::Eq => o == Ordering::Equal,
            Op::Lt => o == Ordering::Less,
            Op::Gt => o == Ordering::Greater,
        }
    }
}

/// One condition of `filter`, validated.
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    /// A numeric column compared with a number.
    Num { col: Col, op: Op, value: f64 },
    /// `ucd` compared with a date.
    Date { op: Op, day: Day },
    /// `ucd` containing a text (lower-cased), case-insensitively.
    Contains { needle: String },
}

impl Cond {
    pub fn matches(&self, r: &Row) -> bool {
        match self {
            Cond::Num { col, op, value } => {
                let n = col.number(r).unwrap_or(0) as f64;
                n.partial_cmp(value).is_some_and(|o| op.holds(o))
            }
            Cond::Date { op, day } => op.holds(r.date.cmp(day)),
            Cond::Contains { needle } => {
                format_day(r.date).to_lowercase().contains(needle.as_str())
            }
        }
    }
}

/// A sort key of `order`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SortKey {
    pub col: Col,
    pub desc: bool,
}

/// The validated parameters of one request.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub sd: Option<Day>,
    pub ed: Option<Day>,
    /// `None`: the configured model.
    pub model: Option<Model>,
    pub filter: Vec<Cond>,
    /// Empty: the default order, `ucd` ascending.
    pub order: Vec<SortKey>,
    pub offset: usize,
    pub limit: Option<usize>,
    /// The CSV/XLSX columns, in order.
    pub cols: Vec<Col>,
    /// The report name (XLSX title and sheet).
    pub rn: String,
}

impl Default for Query {
    fn default() -> Self {
        Query {
            sd: None,
            ed: None,
            model: None,
            filter: Vec::new(),
            order: Vec::new(),
            offset: 0,
            limit: None,
            cols: Col::ALL.to_vec(),
            rn: DEFAULT_REPORT_NAME.to_string(),
        }
    }
}

/// Parameters known to the endpoint, in the order they are checked.
pub const KNOWN: &[&str] = &[
    "sd",
    "ed",
    "model",
    "filter",
    "order",
    "orderBy",
    "orderDirection",
    "offset",
    "limit",
    "fieldsVisibility",
    "fieldVisibility",
    "rn",
];

fn get<'a>(params: &'a [(String, String)], name: &str) -> Result<Option<&'a str>, QueryError> {
    match params.iter().find(|(n, _)| n == name) {
        None => Ok(None),
        Some((_, v)) if v.is_empty() => Err(QueryError::new(
            name,
            "empty; give a value or leave the parameter out",
        )),
        Some((_, v)) => Ok(Some(v.as_str())),
    }
}

fn parse_day(name: &str, v: &str) -> Result<Day, QueryError> {
    parse_iso_day(v).ok_or_else(|| {
        if is_date_shaped(v) {
            QueryError::new(name, format!("{} is not a date that exists", quote(v)))
        } else {
            QueryError::new(name, format!("{} is not a date YYYY-MM-DD", quote(v)))
        }
    })
}

/// `NNNN-NN-NN`.
fn is_date_shaped(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
}

/// A whole number ≥ 0; too large to hold saturates (an offset past any end).
fn parse_count(name: &str, v: &str) -> Result<usize, QueryError> {
    if !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(QueryError::new(
            name,
            format!("{} is not a whole number, 0 or more", quote(v)),
        ));
    }
    Ok(v.parse::<usize>().unwrap_or(usize::MAX))
}

fn parse_json(name: &str, v: &str) -> Result<serde_json::Value, QueryError> {
    serde_json::from_str(v).map_err(|e| QueryError::new(name, format!("not valid JSON ({e})")))
}

fn col_of(
    name: &str,
    what: &str,
    v: Option<&serde_json::Value>,
    i: usize,
) -> Result<Col, QueryError> {
    match v {
        None => Err(QueryError::new(
            name,
            format!("condition {i} has no {what}"),
        )),
        Some(serde_json::Value::String(s)) => Col::from_key(s).ok_or_else(|| {
            QueryError::new(
                name,
                format!(
                    "condition {i}: unknown {what} {}; use ucd, uct, ucdy, ucde or ucch",
                    quote(s)
                ),
            )
        }),
        Some(other) => Err(QueryError::new(
            name,
            format!("condition {i}: the {what} must be a string, not {other}"),
        )),
    }
}

fn op_of(
    name: &str,
    what: &str,
    v: Option<&serde_json::Value>,
    i: usize,
) -> Result<Op, QueryError> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(Op::Eq),
        Some(serde_json::Value::String(s)) => Op::parse(s).ok_or_else(|| {
            QueryError::new(
                name,
                format!(
                    "condition {i}: unknown {what} {}; use eq, lt or gt",
                    quote(s)
                ),
            )
        }),
        Some(other) => Err(QueryError::new(
            name,
            format!("condition {i}: the {what} must be a string, not {other}"),
        )),
    }
}

/// One condition, in either style.
fn parse_cond(v: &serde_json::Value, i: usize) -> Result<Cond, QueryError> {
    const P: &str = "filter";
    let obj = v
        .as_object()
        .ok_or_else(|| QueryError::new(P, format!("condition {i} is not a JSON object")))?;
    let (col, op) = if obj.contains_key("property") {
        (
            col_of(P, "property", obj.get("property"), i)?,
            op_of(P, "operator", obj.get("operator"), i)?,
        )
    } else if obj.contains_key("field") {
        let col = col_of(P, "field", obj.get("field"), i)?;
        let op = op_of(P, "comparison", obj.get("comparison"), i)?;
        match obj.get("type") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::String(t)) => {
                let numeric_col = col != Col::Ucd;
                match t.as_str() {
                    "numeric" if numeric_col => {}
                    "string" | "date" if !numeric_col => {}
                    "numeric" | "string" | "date" => {
                        return Err(QueryError::new(
                            P,
                            format!(
                                "condition {i}: type {} does not apply to the field {}",
                                quote(t),
                                col.key()
                            ),
                        ))
                    }
                    _ => {
                        return Err(QueryError::new(
                            P,
                            format!(
                                "condition {i}: unknown type {}; use numeric, string or date",
                                quote(t)
                            ),
                        ))
                    }
                }
            }
            Some(other) => {
                return Err(QueryError::new(
                    P,
                    format!("condition {i}: the type must be a string, not {other}"),
                ))
            }
        }
        (col, op)
    } else {
        return Err(QueryError::new(
            P,
            format!("condition {i} has neither a property nor a field"),
        ));
    };
    let value = match obj.get("value") {
        None | Some(serde_json::Value::Null) => {
            return Err(QueryError::new(P, format!("condition {i} has no value")))
        }
        Some(v) => v,
    };
    if col == Col::Ucd {
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            other => {
                return Err(QueryError::new(
                    P,
                    format!("condition {i}: the value for ucd must be a string, not {other}"),
                ));
            }
        };
        if is_date_shaped(&text) {
            let day = parse_iso_day(&text).ok_or_else(|| {
                QueryError::new(
                    P,
                    format!("condition {i}: {} is not a date that exists", quote(&text)),
                )
            })?;
            return Ok(Cond::Date { op, day });
        }
        if op != Op::Eq {
            return Err(QueryError::new(
                P,
                format!(
                    "condition {i}: lt and gt on ucd need a date YYYY-MM-DD, not {}",
                    quote(&text)
                ),
            ));
        }
        return Ok(Cond::Contains {
            needle: text.to_lowercase(),
        });
    }
    let number = match value {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    };
    match number {
        Some(value) => Ok(Cond::Num { col, op, value }),
        None => Err(QueryError::new(
            P,
            format!(
                "condition {i}: the value for {} must be a number, not {value}",
                col.key()
            ),
        )),
    }
}

fn parse_filter(v: &str) -> Result<Vec<Cond>, QueryError> {
    let json = parse_json("filter", v)?;
    let arr = json
        .as_array()
        .ok_or_else(|| QueryError::new("filter", "not a JSON array"))?;
    arr.iter()
        .enumerate()
        .map(|(i, c)| parse_cond(c, i + 1))
        .collect()
}

fn parse_direction(name: &str, v: &str) -> Result<bool, QueryError> {
    match v.to_ascii_uppercase().as_str() {
        "ASC" => Ok(false),
        "DESC" => Ok(true),
        _ => Err(QueryError::new(
            name,
            format!("{} is not ASC or DESC", quote(v)),
        )),
    }
}

fn parse_order(v: &str) -> Result<Vec<SortKey>, QueryError> {
    const P: &str = "order";
    let json = parse_json(P, v)?;
    let arr = json
        .as_array()
        .ok_or_else(|| QueryError::new(P, "not a JSON array"))?;
    let mut keys = Vec::with_capacity(arr.len());
    for (i, item) in arr.iter().enumerate() {
        let i = i + 1;
        let obj = item
            .as_object()
            .ok_or_else(|| QueryError::new(P, format!("item {i} is not a JSON object")))?;
        let col = match obj.get("property") {
            None => return Err(QueryError::new(P, format!("item {i} has no property"))),
            Some(serde_json::Value::String(s)) => Col::from_key(s).ok_or_else(|| {
                QueryError::new(
                    P,
                    format!(
                        "item {i}: unknown property {}; use ucd, uct, ucdy, ucde or ucch",
                        quote(s)
                    ),
                )
            })?,
            Some(other) => {
                return Err(QueryError::new(
                    P,
                    format!("item {i}: the property must be a string, not {other}"),
                ))
            }
        };
        let desc = match obj.get("direction") {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::String(s)) => parse_direction(P, s).map_err(|_| {
                QueryError::new(
                    P,
                    format!("item {i}: direction {} is not ASC or DESC", quote(s)),
                )
            })?,
            Some(other) => {
                return Err(QueryError::new(
                    P,
                    format!("item {i}: the direction must be a string, not {other}"),
                ))
            }
        };
        keys.push(SortKey { col, desc });
    }
    Ok(keys)
}

/// A JSON object's members in the order written (serde_json's map would sort them).
struct Members(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Members, A::Error> {
                let mut v = Vec::new();
                while let Some(entry) = m.next_entry::<String, serde_json::Value>()? {
                    v.push(entry);
                }
                Ok(Members(v))
            }
        }
        d.deserialize_map(V)
    }
}

/// `fieldsVisibility`: shown keys first in the given order, then the default columns the object
/// does not mention, in the default order; hidden keys are left out.
fn parse_visibility(name: &str, v: &str) -> Result<Vec<Col>, QueryError> {
    let json = parse_json(name, v)?;
    if !json.is_object() {
        return Err(QueryError::new(name, "not a JSON object"));
    }
    let Members(members) = serde_json::from_str(v)
        .map_err(|e| QueryError::new(name, format!("not valid JSON ({e})")))?;
    let mut shown = Vec::new();
    let mut mentioned = Vec::new();
    for (key, val) in &members {
        let col = Col::from_key(key).ok_or_else(|| {
            QueryError::new(
                name,
                format!(
                    "unknown key {}; use ucd, uct, ucdy, ucde or ucch",
                    quote(key)
                ),
            )
        })?;
        if mentioned.contains(&col) {
            return Err(QueryError::new(
                name,
                format!("the key {} is given more than once", quote(key)),
            ));
        }
        mentioned.push(col);
        let show = match val {
            serde_json::Value::String(s) if s == "1" => true,
            serde_json::Value::String(s) if s == "0" => false,
            serde_json::Value::Number(n) if n.as_u64() == Some(1) => true,
            serde_json::Value::Number(n) if n.as_u64() == Some(0) => false,
            serde_json::Value::Bool(b) => *b,
            other => {
                return Err(QueryError::new(
                    name,
                    format!(
                        "the value of {} must be \"1\" or \"0\", not {other}",
                        quote(key)
                    ),
                ));
            }
        };
        if show {
            shown.push(col);
        }
    }
    let mut cols = shown;
    cols.extend(Col::ALL.into_iter().filter(|c| !mentioned.contains(c)));
    if cols.is_empty() {
        return Err(QueryError::new(name, "hides every column"));
    }
    Ok(cols)
}

fn parse_rn(v: &str) -> Result<String, QueryError> {
    if v.trim().is_empty() {
        return Err(QueryError::new(
            "rn",
            "empty; give a report name or leave rn out",
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(QueryError::new("rn", "contains control characters"));
    }
    Ok(v.to_string())
}

impl Query {
    /// Validates merged parameters. Unknown names are ignored; the first bad parameter (in the
    /// order of [`KNOWN`]) is the error.
    pub fn from_params(params: &[(String, String)]) -> Result<Query, QueryError> {
        let mut q = Query::default();
        if let Some(v) = get(params, "sd")? {
            q.sd = Some(parse_day("sd", v)?);
        }
        if let Some(v) = get(params, "ed")? {
            q.ed = Some(parse_day("ed", v)?);
        }
        if let Some(v) = get(params, "model")? {
            q.model = Some(Model::parse(v).ok_or_else(|| {
                QueryError::new("model", format!("{} is not 2013 or 2019", quote(v)))
            })?);
        }
        if let Some(v) = get(params, "filter")? {
            q.filter = parse_filter(v)?;
        }
        let order = get(params, "order")?.map(parse_order).transpose()?;
        let order_by = get(params, "orderBy")?
            .map(|v| {
                Col::from_key(v).ok_or_else(|| {
                    QueryError::new(
                        "orderBy",
                        format!(
                            "unknown column {}; use ucd, uct, ucdy, ucde or ucch",
                            quote(v)
                        ),
                    )
                })
            })
            .transpose()?;
        let order_dir = get(params, "orderDirection")?
            .map(|v| parse_direction("orderDirection", v))
            .transpose()?;
        q.order = match (order, order_by, order_dir) {
            (Some(keys), _, _) => keys,
            (None, None, None) => Vec::new(),
            (None, by, dir) => vec![SortKey {
                col: by.unwrap_or(Col::Ucd),
                desc: dir.unwrap_or(false),
            }],
        };
        if let Some(v) = get(params, "offset")? {
            q.offset = parse_count("offset", v)?;
        }
        if let Some(v) = get(params, "limit")? {
            let n = parse_count("limit", v).map_err(|_| {
                QueryError::new(
                    "limit",
                    format!("{} is not a whole number greater than 0", quote(v)),
                )
            })?;
            if n == 0 {
                return Err(QueryError::new("limit", "must be greater than 0"));
            }
            q.limit = Some(n);
        }
        let fv = get(params, "fieldsVisibility")?.map(|v| ("fieldsVisibility", v));
        let fv = match fv {
            Some(x) => Some(x),
            None => get(params, "fieldVisibility")?.map(|v| ("fieldVisibility", v)),
        };
        if let Some((name, v)) = fv {
            q.cols = parse_visibility(name, v)?;
        }
        if let Some(v) = get(params, "rn")? {
            q.rn = parse_rn(v)?;
        }
        Ok(q)
    }

    /// No filter, the default order, no offset or limit: the rows go out as computed.
    pub fn is_plain(&self) -> bool {
        self.filter.is_empty() && self.order.is_empty() && self.offset == 0 && self.limit.is_none()
    }

    /// Filters, sorts (stable), then cuts `offset`/`limit`. Returns the page and the number of
    /// rows after filtering (`totalCount`). `rows` are in `ucd` order, as the core makes them.
    pub fn apply(&self, rows: &[Row]) -> (Vec<Row>, usize) {
        let mut out: Vec<Row> = rows
            .iter()
            .filter(|r| self.filter.iter().all(|c| c.matches(r)))
            .copied()
            .collect();
        let total = out.len();
        if !self.order.is_empty() {
            out.sort_by(|a, b| {
                for k in &self.order {
                    let o = match k.col {
                        Col::Ucd => a.date.cmp(&b.date),
                        c => c.number(a).cmp(&c.number(b)),
                    };
                    let o = if k.desc { o.reverse() } else { o };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                Ordering::Equal
            });
        }
        let start = self.offset.min(out.len());
        let end = match self.limit {
            Some(l) => start.saturating_add(l).min(out.len()),
            None => out.len(),
        };
        out.truncate(end);
        out.drain(..start);
        (out, total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lmtally_parsers::date::from_ymd;

    fn p(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn q(pairs: &[(&str, &str)]) -> Result<Query, QueryError> {
        Query::from_params(&p(pairs))
    }

    fn err(pairs: &[(&str, &str)]) -> QueryError {
        q(pairs).expect_err("should be rejected")
    }

    fn d(s: &str) -> Day {
        parse_iso_day(s).unwrap()
    }

    /// Rows from 2023-03-01, one a day: ucdy = the given values, uct = 10 * index, ucde = i % 2,
    /// ucch = 7.
    fn rows(ucdy: &[u64]) -> Vec<Row> {
        let start = from_ymd(2023, 3, 1).unwrap();
        ucdy.iter()
            .enumerate()
            .map(|(i, &n)| Row {
                date: start + i as i32,
                uct: 10 * i as u64,
                ucdy: n,
                ucde: i as u64 % 2,
                ucch: 7,
            })
            .collect()
    }

    fn dates(rows: &[Row]) -> Vec<String> {
        rows.iter()
            .map(|r| format_day(r.date)[8..].to_string())
            .collect()
    }

    #[test]
    fn urlencoded_decoding() {
        let got = parse_urlencoded(
            b"sd=2023-03-01&rn=My+Report%21&&flag&filter=%5B%5D&bad=%zz%4",
            "query string",
        )
        .unwrap();
        assert_eq!(
            got,
            p(&[
                ("sd", "2023-03-01"),
                ("rn", "My Report!"),
                ("flag", ""),
                ("filter", "[]"),
                ("bad", "%zz%4")
            ])
        );
        assert_eq!(percent_decode(b"%C3%A9t%C3", false), "ét\u{FFFD}");
        assert_eq!(percent_decode(b"a+b%2B", false), "a+b+");
        let e = parse_urlencoded(b"sd=1&sd=2", "query string").unwrap_err();
        assert_eq!(
            e.to_string(),
            "sd: given more than once in the query string"
        );
        let big = vec![b'a'; MAX_PARAMS_BYTES + 1];
        assert_eq!(parse_urlencoded(&big, "body").unwrap_err().param, "body");
        assert!(parse_urlencoded(&big[..MAX_PARAMS_BYTES], "body").is_ok());
    }

    #[test]
    fn body_wins_over_query_string() {
        let m = merge(
            p(&[("sd", "a"), ("ed", "b")]),
            p(&[("sd", "c"), ("rn", "x")]),
        );
        assert_eq!(m, p(&[("ed", "b"), ("sd", "c"), ("rn", "x")]));
    }

    #[test]
    fn defaults_and_unknown_names() {
        let got = q(&[("_dc", "123"), ("page", "2"), ("SD", "junk")]).unwrap();
        assert_eq!(got, Query::default());
        assert!(got.is_plain());
        assert_eq!(got.cols, Col::ALL.to_vec());
        assert_eq!(got.rn, "Realtime Users Count");
    }

    #[test]
    fn dates_and_model() {
        let got = q(&[
            ("sd", "2023-03-01"),
            ("ed", "2023-03-31"),
            ("model", "2013"),
        ])
        .unwrap();
        assert_eq!(
            (got.sd, got.ed, got.model),
            (
                Some(d("2023-03-01")),
                Some(d("2023-03-31")),
                Some(Model::M2013)
            )
        );
        assert_eq!(
            err(&[("sd", "2023-02-30")]).to_string(),
            "sd: '2023-02-30' is not a date that exists"
        );
        assert_eq!(
            err(&[("ed", "14/03/2023")]).to_string(),
            "ed: '14/03/2023' is not a date YYYY-MM-DD"
        );
        assert_eq!(err(&[("ed", "2023-3-14")]).param, "ed");
        assert_eq!(
            err(&[("model", "2020")]).to_string(),
            "model: '2020' is not 2013 or 2019"
        );
        assert_eq!(err(&[("sd", "")]).param, "sd");
    }

    #[test]
    fn filters_new_style() {
        let r = rows(&[1, 5, 9, 5, 2]);
        let f = |json: &str| q(&[("filter", json)]).unwrap().apply(&r);
        assert_eq!(
            dates(&f(r#"[{"property":"ucdy","operator":"gt","value":4}]"#).0),
            ["02", "03", "04"]
        );
        assert_eq!(
            dates(&f(r#"[{"property":"ucdy","value":5}]"#).0),
            ["02", "04"]
        );
        assert_eq!(
            dates(&f(r#"[{"property":"ucdy","operator":"LT","value":"5"}]"#).0),
            ["01", "05"]
        );
        // All conditions must hold.
        let (page, total) =
            f(r#"[{"property":"ucdy","operator":"gt","value":1},{"property":"ucde","value":1}]"#);
        assert_eq!(
            (dates(&page), total),
            (vec!["02".to_string(), "04".to_string()], 2)
        );
        // ucd: a date compares dates, anything else is a case-insensitive substring.
        assert_eq!(
            dates(&f(r#"[{"property":"ucd","operator":"gt","value":"2023-03-03"}]"#).0),
            ["04", "05"]
        );
        assert_eq!(
            dates(&f(r#"[{"property":"ucd","operator":"lt","value":"2023-03-02"}]"#).0),
            ["01"]
        );
        assert_eq!(
            dates(&f(r#"[{"property":"ucd","value":"2023-03-02"}]"#).0),
            ["02"]
        );
        assert_eq!(
            dates(&f(r#"[{"property":"ucd","value":"-03-0"}]"#).0).len(),
            5
        );
        assert_eq!(
            dates(&f(r#"[{"property":"ucd","value":"03-04"}]"#).0),
            ["04"]
        );
        assert_eq!(
            dates(&f(r#"[{"property":"ucd","value":"2022"}]"#).0).len(),
            0
        );
        assert_eq!(dates(&f(r#"[{"property":"ucd","value":2023}]"#).0).len(), 5);
        assert_eq!(f("[]").1, 5);
        // Numbers that are not whole compare as numbers.
        assert_eq!(
            dates(&f(r#"[{"property":"ucdy","operator":"lt","value":1.5}]"#).0),
            ["01"]
        );
        assert_eq!(dates(&f(r#"[{"property":"ucdy","value":1.5}]"#).0).len(), 0);
    }

    #[test]
    fn filters_old_style() {
        let r = rows(&[1, 5, 9, 5, 2]);
        let f = |json: &str| q(&[("filter", json)]).unwrap().apply(&r);
        assert_eq!(
            dates(&f(r#"[{"type":"numeric","comparison":"gt","field":"ucdy","value":5}]"#).0),
            ["03"]
        );
        assert_eq!(
            dates(&f(r#"[{"type":"numeric","field":"uct","value":20}]"#).0),
            ["03"]
        );
        assert_eq!(
            dates(&f(r#"[{"type":"string","field":"ucd","value":"2023-03"}]"#).0).len(),
            5
        );
        assert_eq!(
            dates(
                &f(r#"[{"type":"date","comparison":"lt","field":"ucd","value":"2023-03-03"}]"#).0
            ),
            ["01", "02"]
        );
        // Both styles in one filter.
        let both = r#"[{"type":"numeric","comparison":"lt","field":"ucdy","value":9},{"property":"ucd","operator":"gt","value":"2023-03-01"}]"#;
        assert_eq!(dates(&f(both).0), ["02", "04", "05"]);
    }

    #[test]
    fn bad_filters_name_the_parameter() {
        let cases = [
            ("{", "filter: not valid JSON"),
            (
                r#"{"property":"ucdy","value":1}"#,
                "filter: not a JSON array",
            ),
            ("[1]", "filter: condition 1 is not a JSON object"),
            (
                r#"[{"property":"users","value":1}]"#,
                "filter: condition 1: unknown property 'users'",
            ),
            (
                r#"[{"property":"ucdy","operator":"ge","value":1}]"#,
                "filter: condition 1: unknown operator 'ge'",
            ),
            (
                r#"[{"property":"ucdy"}]"#,
                "filter: condition 1 has no value",
            ),
            (
                r#"[{"property":"ucdy","value":"many"}]"#,
                "filter: condition 1: the value for ucdy must be a number",
            ),
            (
                r#"[{"property":"ucdy","value":true}]"#,
                "filter: condition 1: the value for ucdy must be a number",
            ),
            (
                r#"[{"property":"ucd","value":"2023-02-30"}]"#,
                "filter: condition 1: '2023-02-30' is not a date that exists",
            ),
            (
                r#"[{"property":"ucd","operator":"gt","value":"2023-03"}]"#,
                "filter: condition 1: lt and gt on ucd need a date",
            ),
            (
                r#"[{"property":"ucd","value":["a"]}]"#,
                "filter: condition 1: the value for ucd must be a string",
            ),
            (
                r#"[{"value":1}]"#,
                "filter: condition 1 has neither a property nor a field",
            ),
            (
                r#"[{"type":"list","field":"ucd","value":"a"}]"#,
                "filter: condition 1: unknown type 'list'",
            ),
            (
                r#"[{"type":"numeric","field":"ucd","value":1}]"#,
                "filter: condition 1: type 'numeric' does not apply to the field ucd",
            ),
            (
                r#"[{"type":"string","field":"ucdy","value":"1"}]"#,
                "filter: condition 1: type 'string' does not apply",
            ),
            (
                r#"[{"type":"numeric","comparison":"ne","field":"ucdy","value":1}]"#,
                "filter: condition 1: unknown comparison 'ne'",
            ),
            (
                r#"[{"property":"ucdy","value":1},{"property":"x","value":1}]"#,
                "filter: condition 2: unknown property 'x'",
            ),
        ];
        for (json, want) in cases {
            let e = err(&[("filter", json)]).to_string();
            assert!(e.starts_with(want), "{json}: got {e:?}, want {want:?}");
        }
    }

    #[test]
    fn order_is_stable_and_applied_in_order() {
        let r = rows(&[1, 5, 9, 5, 2]);
        let o = |pairs: &[(&str, &str)]| dates(&q(pairs).unwrap().apply(&r).0);
        // Equal ucdy (02 and 04) stay in ucd order, descending too.
        assert_eq!(
            o(&[("order", r#"[{"property":"ucdy","direction":"DESC"}]"#)]),
            ["03", "02", "04", "05", "01"]
        );
        assert_eq!(
            o(&[("order", r#"[{"property":"ucdy"}]"#)]),
            ["01", "05", "02", "04", "03"]
        );
        // Second key breaks ties.
        assert_eq!(
            o(&[(
                "order",
                r#"[{"property":"ucdy","direction":"desc"},{"property":"ucd","direction":"DESC"}]"#
            )]),
            ["03", "04", "02", "05", "01"]
        );
        // ucch is 7 everywhere: ucd order kept.
        assert_eq!(
            o(&[("order", r#"[{"property":"ucch","direction":"DESC"}]"#)]),
            ["01", "02", "03", "04", "05"]
        );
        assert_eq!(o(&[("order", "[]")]), ["01", "02", "03", "04", "05"]);
        // The older form.
        assert_eq!(
            o(&[("orderBy", "ucdy"), ("orderDirection", "DESC")]),
            ["03", "02", "04", "05", "01"]
        );
        assert_eq!(o(&[("orderBy", "uct")]), ["01", "02", "03", "04", "05"]);
        assert_eq!(
            o(&[("orderDirection", "DESC")]),
            ["05", "04", "03", "02", "01"]
        );
        // `order` wins over the older form.
        assert_eq!(
            o(&[
                ("order", r#"[{"property":"ucd","direction":"DESC"}]"#),
                ("orderBy", "ucdy")
            ]),
            ["05", "04", "03", "02", "01"]
        );
    }

    #[test]
    fn bad_orders() {
        assert!(err(&[("order", "{}")])
            .to_string()
            .starts_with("order: not a JSON array"));
        assert!(err(&[("order", "[")])
            .to_string()
            .starts_with("order: not valid JSON"));
        assert!(err(&[("order", r#"[{"property":"nope"}]"#)])
            .to_string()
            .starts_with("order: item 1: unknown property 'nope'"));
        assert!(
            err(&[("order", r#"[{"property":"ucd","direction":"UP"}]"#)])
                .to_string()
                .starts_with("order: item 1: direction 'UP'")
        );
        assert!(err(&[("order", r#"[{"direction":"ASC"}]"#)])
            .to_string()
            .starts_with("order: item 1 has no property"));
        assert_eq!(err(&[("orderBy", "date")]).param, "orderBy");
        assert_eq!(
            err(&[("orderDirection", "down")]).to_string(),
            "orderDirection: 'down' is not ASC or DESC"
        );
    }

    #[test]
    fn offset_and_limit_after_filter_and_sort() {
        let r = rows(&[1, 5, 9, 5, 2]);
        let a = |pairs: &[(&str, &str)]| {
            let (page, total) = q(pairs).unwrap().apply(&r);
            (dates(&page), total)
        };
        assert_eq!(
            a(&[("offset", "1"), ("limit", "2")]),
            (vec!["02".into(), "03".into()], 5)
        );
        assert_eq!(
            a(&[("offset", "4"), ("limit", "10")]),
            (vec!["05".into()], 5)
        );
        assert_eq!(a(&[("offset", "5")]), (vec![], 5));
        assert_eq!(a(&[("offset", "99999999999999999999999")]), (vec![], 5));
        assert_eq!(a(&[("limit", "99999999999999999999999")]).0.len(), 5);
        assert_eq!(
            a(&[
                (
                    "filter",
                    r#"[{"property":"ucdy","operator":"gt","value":1}]"#
                ),
                ("orderBy", "ucdy"),
                ("orderDirection", "DESC"),
                ("limit", "2")
            ]),
            (vec!["03".into(), "02".into()], 4)
        );
        assert!(!q(&[("limit", "3")]).unwrap().is_plain());
        assert_eq!(
            err(&[("limit", "0")]).to_string(),
            "limit: must be greater than 0"
        );
        assert_eq!(err(&[("limit", "-1")]).param, "limit");
        assert_eq!(
            err(&[("offset", "-1")]).to_string(),
            "offset: '-1' is not a whole number, 0 or more"
        );
        assert_eq!(err(&[("offset", "1.5")]).param, "offset");
        assert_eq!(err(&[("offset", "")]).param, "offset");
    }

    #[test]
    fn fields_visibility() {
        use Col::*;
        let c = |json: &str| q(&[("fieldsVisibility", json)]).map(|q| q.cols);
        assert_eq!(
            c(r#"{"ucd":"1","ucch":"0"}"#).unwrap(),
            vec![Ucd, Uct, Ucdy, Ucde]
        );
        // Shown keys first, in the given order, then the unmentioned ones in default order.
        assert_eq!(
            c(r#"{"ucch":"1","ucdy":"1","uct":"0"}"#).unwrap(),
            vec![Ucch, Ucdy, Ucd, Ucde]
        );
        assert_eq!(
            c(r#"{"ucde":1,"ucd":true,"uct":false}"#).unwrap(),
            vec![Ucde, Ucd, Ucdy, Ucch]
        );
        assert_eq!(c("{}").unwrap(), Col::ALL.to_vec());
        let got = Query::from_params(&p(&[("fieldVisibility", r#"{"uct":"1"}"#)]))
            .unwrap()
            .cols;
        assert_eq!(got, vec![Uct, Ucd, Ucdy, Ucde, Ucch]);
        let both = Query::from_params(&p(&[
            ("fieldVisibility", r#"{"uct":"1"}"#),
            ("fieldsVisibility", r#"{"ucch":"1"}"#),
        ]))
        .unwrap();
        assert_eq!(both.cols[0], Ucch);
        let hide_all = r#"{"ucd":"0","uct":"0","ucdy":"0","ucde":"0","ucch":"0"}"#;
        assert_eq!(
            c(hide_all).unwrap_err().to_string(),
            "fieldsVisibility: hides every column"
        );
        assert_eq!(
            c("[1]").unwrap_err().to_string(),
            "fieldsVisibility: not a JSON object"
        );
        assert!(c("{")
            .unwrap_err()
            .to_string()
            .starts_with("fieldsVisibility: not valid JSON"));
        assert!(c(r#"{"users":"1"}"#)
            .unwrap_err()
            .to_string()
            .starts_with("fieldsVisibility: unknown key 'users'"));
        assert!(c(r#"{"ucd":"yes"}"#)
            .unwrap_err()
            .to_string()
            .starts_with("fieldsVisibility: the value of 'ucd' must be"));
        assert!(c(r#"{"ucd":"1","ucd":"0"}"#)
            .unwrap_err()
            .to_string()
            .contains("more than once"));
        let e = Query::from_params(&p(&[("fieldVisibility", "x")])).unwrap_err();
        assert_eq!(e.param, "fieldVisibility");
    }

    #[test]
    fn report_name() {
        assert_eq!(q(&[("rn", "Licenses 2023")]).unwrap().rn, "Licenses 2023");
        assert_eq!(err(&[("rn", "")]).param, "rn");
        assert_eq!(err(&[("rn", "   ")]).param, "rn");
        assert_eq!(
            err(&[("rn", "a\u{1}b")]).to_string(),
            "rn: contains control characters"
        );
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let long = "x".repeat(5000);
        let e = err(&[("sd", &long)]).to_string();
        assert!(e.len() < 120, "{e}");
    }
}
