//! Civil dates as day numbers (days since 1970-01-01), without a date library.
//!
//! The core keys everything by `Day`, so date arithmetic (the dater's "D + 1") is integer arithmetic.

/// Days since 1970-01-01 (negative before).
pub type Day = i32;

/// Seconds since 1970-01-01T00:00:00 of the server's local clock (no time zone is applied).
pub type Instant = i64;

/// Seconds in a day.
pub const DAY_SECS: u32 = 86_400;

/// The instant of `time` (seconds of day) on `day`.
#[inline]
pub fn instant(day: Day, time: u32) -> Instant {
    day as i64 * DAY_SECS as i64 + time as i64
}

/// The day an instant falls on.
#[inline]
pub fn day_of(at: Instant) -> Day {
    at.div_euclid(DAY_SECS as i64) as Day
}

/// The second of its day an instant falls on.
#[inline]
pub fn time_of(at: Instant) -> u32 {
    at.rem_euclid(DAY_SECS as i64) as u32
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days in month `m` (1-12) of year `y`.
pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// The day number of a civil date, or `None` when the date does not exist (2023-02-30, month 13).
/// Years are limited to 1..=9999, the range every export format can show.
pub fn from_ymd(y: i64, m: u32, d: u32) -> Option<Day> {
    if !(1..=9999).contains(&y) || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) as Day)
}

/// The civil date `(year, month, day)` of a day number.
pub fn to_ymd(day: Day) -> (i64, u32, u32) {
    let z = day as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYY-MM-DD`.
pub fn format_day(day: Day) -> String {
    let (y, m, d) = to_ymd(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Parses a strict `YYYY-MM-DD` (the report's date parameters); `None` for any other text or a
/// date that does not exist.
pub fn parse_iso_day(s: &str) -> Option<Day> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = &b[r];
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(part.iter().fold(0u32, |a, c| a * 10 + (c - b'0') as u32))
    };
    from_ymd(num(0..4)? as i64, num(5..7)?, num(8..10)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_known_values() {
        assert_eq!(from_ymd(1970, 1, 1), Some(0));
        assert_eq!(from_ymd(2000, 3, 1), Some(11_017));
        assert_eq!(from_ymd(2022, 6, 9), Some(19_152));
        for day in -800_000..800_000 {
            if day % 7 != 0 {
                continue;
            }
            let (y, m, d) = to_ymd(day);
            if (1..=9999).contains(&y) {
                assert_eq!(from_ymd(y, m, d), Some(day));
            }
        }
    }

    #[test]
    fn rejects_dates_that_do_not_exist() {
        assert_eq!(from_ymd(2023, 2, 29), None);
        assert!(from_ymd(2024, 2, 29).is_some());
        assert_eq!(from_ymd(1900, 2, 29), None);
        assert!(from_ymd(2000, 2, 29).is_some());
        assert_eq!(from_ymd(2023, 2, 30), None);
        assert_eq!(from_ymd(2023, 13, 1), None);
        assert_eq!(from_ymd(2023, 4, 31), None);
        assert_eq!(from_ymd(2023, 0, 1), None);
        assert_eq!(parse_iso_day("2023-02-30"), None);
        assert_eq!(parse_iso_day("2023-2-03"), None);
        assert_eq!(parse_iso_day("2023-03-14"), from_ymd(2023, 3, 14));
        assert_eq!(format_day(from_ymd(2023, 3, 14).unwrap()), "2023-03-14");
    }

    #[test]
    fn instants_split_back() {
        let at = instant(-3, 100);
        assert_eq!(day_of(at), -3);
        assert_eq!(time_of(at), 100);
    }
}
