//! Report bodies: the JSON envelope, CSV and XLSX (contract, section 5).

use crate::core::Row;
use lmtally_parsers::date::{format_day, to_ymd, Day};
use std::fmt::Write as _;

/// A report column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Col {
    Ucd,
    Uct,
    Ucdy,
    Ucde,
    Ucch,
}

impl Col {
    /// The default order.
    pub const ALL: [Col; 5] = [Col::Ucd, Col::Uct, Col::Ucdy, Col::Ucde, Col::Ucch];

    pub fn key(self) -> &'static str {
        match self {
            Col::Ucd => "ucd",
            Col::Uct => "uct",
            Col::Ucdy => "ucdy",
            Col::Ucde => "ucde",
            Col::Ucch => "ucch",
        }
    }

    /// The CSV/XLSX header.
    pub fn full_name(self) -> &'static str {
        match self {
            Col::Ucd => "Date",
            Col::Uct => "Total Users",
            Col::Ucdy => "Daily Users",
            Col::Ucde => "Denial Users",
            Col::Ucch => "Concurrent Hosts",
        }
    }

    pub fn from_key(k: &str) -> Option<Col> {
        Col::ALL.into_iter().find(|c| c.key() == k)
    }

    /// A numeric column's value (`None` for the date).
    pub fn number(self, r: &Row) -> Option<u64> {
        match self {
            Col::Ucd => None,
            Col::Uct => Some(r.uct),
            Col::Ucdy => Some(r.ucdy),
            Col::Ucde => Some(r.ucde),
            Col::Ucch => Some(r.ucch),
        }
    }
}

/// Escapes a string for a JSON string literal.
fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `{"success":true,"msg":"","code":null,"totalCount":N,"data":[...]}` with a newline.
pub fn json_body(rows: &[Row], total_count: usize) -> String {
    let mut out = String::with_capacity(64 + rows.len() * 72);
    let _ = write!(
        out,
        "{{\"success\":true,\"msg\":\"\",\"code\":null,\"totalCount\":{total_count},\"data\":["
    );
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"ucd\":\"{}\",\"uct\":{},\"ucdy\":{},\"ucde\":{},\"ucch\":{}}}",
            format_day(r.date),
            r.uct,
            r.ucdy,
            r.ucde,
            r.ucch
        );
    }
    out.push_str("]}\n");
    out
}

/// The error envelope: `{"success":false,"msg":...,"code":status,"totalCount":0,"data":[]}`.
pub fn error_body(status: u16, msg: &str) -> String {
    let mut out = String::from("{\"success\":false,\"msg\":");
    json_str(&mut out, msg);
    let _ = writeln!(out, ",\"code\":{status},\"totalCount\":0,\"data\":[]}}");
    out
}

/// CSV (RFC 4180, CRLF), a header row of full names, then the rows in `cols` order.
pub fn csv_body(rows: &[Row], cols: &[Col]) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::with_capacity(64 + rows.len() * 40));
    // Writing to a Vec cannot fail.
    let _ = w.write_record(cols.iter().map(|c| c.full_name()));
    for r in rows {
        let _ = w.write_record(cols.iter().map(|c| match c.number(r) {
            Some(n) => n.to_string(),
            None => format_day(r.date),
        }));
    }
    w.into_inner().unwrap_or_default()
}

/// The sheet name for a report name: cut to Excel's 31 characters, `[]:*?/\` replaced by `_`
/// (and a leading or trailing apostrophe, which Excel also refuses). Excel counts UTF-16 code
/// units: a character outside the Basic Multilingual Plane (an emoji) counts two, and is never
/// cut in half.
pub fn sheet_name(rn: &str) -> String {
    let mut units = 0;
    let mut name: Vec<char> = rn
        .chars()
        .map(|c| if "[]:*?/\\".contains(c) { '_' } else { c })
        .take_while(|c| {
            units += c.len_utf16();
            units <= 31
        })
        .collect();
    if name.first() == Some(&'\'') {
        name[0] = '_';
    }
    if name.last() == Some(&'\'') {
        let n = name.len() - 1;
        name[n] = '_';
    }
    name.into_iter().collect()
}

/// Excel's first date, 1900-01-01, in days since 1970-01-01.
pub const EXCEL_FIRST_DAY: Day = -25_567;

/// Why `rows` cannot go into an XLSX file, if they cannot: a day before Excel's first date.
pub fn xlsx_refuses(rows: &[Row]) -> Option<String> {
    let first = rows.iter().map(|r| r.date).min()?;
    (first < EXCEL_FIRST_DAY).then(|| {
        format!(
            "xlsx: Excel cannot show the day {} (its dates start on 1900-01-01); \
             ask for days from 1900-01-01 on, or for csv or json",
            format_day(first)
        )
    })
}

/// XLSX: one sheet named after the report, header row of full names, dates as Excel dates,
/// numbers as numbers.
pub fn xlsx_body(rows: &[Row], cols: &[Col], report_name: &str) -> Result<Vec<u8>, String> {
    use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook};
    if let Some(msg) = xlsx_refuses(rows) {
        return Err(msg);
    }
    let mut wb = Workbook::new();
    wb.set_properties(&DocProperties::new().set_title(report_name));
    let bold = Format::new().set_bold();
    let date_fmt = Format::new().set_num_format("yyyy-mm-dd");
    let ws = wb.add_worksheet();
    let name = sheet_name(report_name);
    if ws.set_name(&name).is_err() {
        // Names Excel reserves ("History") or that are blank: keep the report usable.
        ws.set_name("Realtime Users Count")
            .map_err(|e| e.to_string())?;
    }
    let err = |e: rust_xlsxwriter::XlsxError| e.to_string();
    for (c, col) in cols.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, col.full_name(), &bold)
            .map_err(err)?;
        ws.set_column_width(c as u16, if *col == Col::Ucd { 12 } else { 17 })
            .map_err(err)?;
    }
    for (i, r) in rows.iter().enumerate() {
        let row = i as u32 + 1;
        for (c, col) in cols.iter().enumerate() {
            match col.number(r) {
                Some(n) => {
                    ws.write_number(row, c as u16, n as f64).map_err(err)?;
                }
                None => {
                    let (y, m, d) = to_ymd(r.date);
                    let dt = ExcelDateTime::from_ymd(y as u16, m as u8, d as u8).map_err(err)?;
                    ws.write_datetime_with_format(row, c as u16, &dt, &date_fmt)
                        .map_err(err)?;
                }
            }
        }
    }
    wb.save_to_buffer().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(date: i32, n: u64) -> Row {
        Row {
            date,
            uct: n,
            ucdy: n + 1,
            ucde: n + 2,
            ucch: n + 3,
        }
    }

    #[test]
    fn json_envelope_shape() {
        let d = lmtally_parsers::date::from_ymd(2023, 3, 14).unwrap();
        assert_eq!(
            json_body(&[row(d, 1)], 7),
            "{\"success\":true,\"msg\":\"\",\"code\":null,\"totalCount\":7,\"data\":[{\"ucd\":\"2023-03-14\",\"uct\":1,\"ucdy\":2,\"ucde\":3,\"ucch\":4}]}\n"
        );
        assert_eq!(
            error_body(400, "bad \"sd\""),
            "{\"success\":false,\"msg\":\"bad \\\"sd\\\"\",\"code\":400,\"totalCount\":0,\"data\":[]}\n"
        );
    }

    #[test]
    fn csv_has_crlf_and_full_names() {
        let d = lmtally_parsers::date::from_ymd(2023, 3, 14).unwrap();
        let body = String::from_utf8(csv_body(&[row(d, 1)], &[Col::Ucch, Col::Ucd])).unwrap();
        assert_eq!(body, "Concurrent Hosts,Date\r\n4,2023-03-14\r\n");
    }

    #[test]
    fn days_before_1900_cannot_go_into_xlsx() {
        let first = lmtally_parsers::date::from_ymd(1900, 1, 1).unwrap();
        assert_eq!(first, EXCEL_FIRST_DAY);
        let ok = [row(first, 1), row(first + 400, 2)];
        assert_eq!(xlsx_refuses(&ok), None);
        assert!(xlsx_body(&ok, &Col::ALL, "r").is_ok());
        let early = [row(first + 3, 1), row(first - 1, 2)];
        let msg = xlsx_refuses(&early).unwrap();
        assert!(msg.contains("1899-12-31"), "{msg}");
        assert_eq!(xlsx_body(&early, &Col::ALL, "r").unwrap_err(), msg);
        assert_eq!(xlsx_refuses(&[]), None);
    }

    #[test]
    fn sheet_names_are_cut_and_cleaned() {
        assert_eq!(sheet_name("a/b:c"), "a_b_c");
        assert_eq!(sheet_name(&"x".repeat(40)).len(), 31);
        assert_eq!(sheet_name("'q'"), "_q_");
        // Excel's 31 are UTF-16 units: 15 emoji (30 units) and one more letter fit, a 16th
        // emoji does not.
        let emoji = "\u{1F600}".repeat(20);
        assert_eq!(sheet_name(&emoji).chars().count(), 15);
        assert_eq!(
            sheet_name(&format!("{}ab", "\u{1F600}".repeat(15)))
                .chars()
                .count(),
            16
        );
        assert_eq!(sheet_name(&"é".repeat(40)).chars().count(), 31);
        for rn in [emoji.as_str(), "a/b", "Ünïcödé report name that is long"] {
            let mut wb = rust_xlsxwriter::Workbook::new();
            assert!(wb.add_worksheet().set_name(sheet_name(rn)).is_ok(), "{rn}");
        }
    }
}
