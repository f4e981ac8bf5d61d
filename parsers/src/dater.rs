//! The per-file dater (contract, section 2.4).
//!
//! Event lines carry only a time of day. A [`Dater`] gives every enveloped line of one file its
//! date: forward from the current date D and its high-water mark T, and, for the lines before the
//! first anchor of the file, backward from that anchor. Those early lines are held (with a payload
//! chosen by the caller) until the anchor comes; a file without any anchor keeps them forever and
//! they count nothing.

use crate::date::Day;
use serde::{Deserialize, Serialize};

/// Three hours: a step back larger than this is a midnight pass.
pub const BACK_STEP: u32 = 3 * 3600;
/// Twenty-one hours: a step forward larger than this is a line written just before a midnight
/// that an earlier line already passed.
pub const FORWARD_STEP: u32 = 21 * 3600;

/// The current date of a file and the latest time of day seen on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub day: Day,
    pub high: u32,
}

/// Dates the lines of one file, in the order they were written. `P` is what the caller wants back
/// with each dated line (the event, or nothing for a line that only takes part in dating).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Dater<P> {
    cursor: Option<Cursor>,
    pending: Vec<(u32, P)>,
}

impl<P> Default for Dater<P> {
    fn default() -> Self {
        Dater {
            cursor: None,
            pending: Vec::new(),
        }
    }
}

impl<P> Dater<P> {
    pub fn new() -> Self {
        Self::default()
    }

    /// The current date and high-water mark, once the file has had an anchor.
    pub fn cursor(&self) -> Option<Cursor> {
        self.cursor
    }

    /// Lines held while waiting for the file's first anchor.
    pub fn pending(&self) -> &[(u32, P)] {
        &self.pending
    }

    /// Takes one enveloped line: its time of day, the date it anchors to (if it is an anchor) and
    /// the payload. Calls `emit(day, time, payload)` for every line that gets its date, in file
    /// order: nothing while the file has no anchor yet; at its first anchor, all the held lines
    /// and then the anchor line.
    pub fn push(
        &mut self,
        time: u32,
        anchor: Option<Day>,
        payload: P,
        emit: &mut impl FnMut(Day, u32, P),
    ) {
        match (anchor, self.cursor) {
            (Some(day), cursor) => {
                if cursor.is_none() {
                    self.release_pending(day, time, emit);
                }
                self.cursor = Some(Cursor { day, high: time });
                emit(day, time, payload);
            }
            (None, Some(mut c)) => {
                let day = if time + BACK_STEP < c.high {
                    // Midnight passed.
                    c.day += 1;
                    c.high = time;
                    c.day
                } else if time > c.high + FORWARD_STEP {
                    // Written just before a midnight that an earlier line already passed.
                    c.day - 1
                } else {
                    c.high = c.high.max(time);
                    c.day
                };
                self.cursor = Some(c);
                emit(day, time, payload);
            }
            (None, None) => self.pending.push((time, payload)),
        }
    }

    /// Dates the held lines backward from the first anchor (the mirror rule) and emits them in
    /// file order.
    fn release_pending(
        &mut self,
        anchor_day: Day,
        anchor_time: u32,
        emit: &mut impl FnMut(Day, u32, P),
    ) {
        if self.pending.is_empty() {
            return;
        }
        let mut days = Vec::with_capacity(self.pending.len());
        let (mut day, mut low) = (anchor_day, anchor_time);
        for &(t, _) in self.pending.iter().rev() {
            if t > low + BACK_STEP {
                day -= 1;
                low = t;
                days.push(day);
            } else if t + FORWARD_STEP < low {
                days.push(day + 1);
            } else {
                low = low.min(t);
                days.push(day);
            }
        }
        for ((t, p), day) in self.pending.drain(..).zip(days.into_iter().rev()) {
            emit(day, t, p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hms(h: u32, m: u32, s: u32) -> u32 {
        h * 3600 + m * 60 + s
    }

    /// Runs lines (time, anchor) through a dater; returns (day, time, index) of emitted lines.
    fn run(lines: &[(u32, Option<Day>)]) -> Vec<(Day, u32, usize)> {
        let mut d = Dater::new();
        let mut out = Vec::new();
        for (i, &(t, a)) in lines.iter().enumerate() {
            d.push(t, a, i, &mut |day, t, p| out.push((day, t, p)));
        }
        out
    }

    #[test]
    fn forward_midnight_pass() {
        // 23:59:50 on day 100, then 0:00:05: 5 s < 23:59:50 - 3 h, so day 101.
        let out = run(&[
            (hms(23, 0, 0), Some(100)),
            (hms(23, 59, 50), None),
            (hms(0, 0, 5), None),
        ]);
        assert_eq!(
            out.iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![100, 100, 101]
        );
    }

    #[test]
    fn forward_small_step_back_stays_and_keeps_high_water() {
        // 10:00 anchor, 9:59 (1 min back: same day, T stays 10:00), then 7:01 (2h59 back from the
        // high-water mark 10:00: same day), then 6:59 (3h01 back: next day).
        let out = run(&[
            (hms(10, 0, 0), Some(100)),
            (hms(9, 59, 0), None),
            (hms(7, 1, 0), None),
            (hms(6, 59, 0), None),
        ]);
        assert_eq!(
            out.iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![100, 100, 100, 101]
        );
    }

    #[test]
    fn exactly_three_hours_back_is_not_a_midnight() {
        let out = run(&[(hms(10, 0, 0), Some(100)), (hms(7, 0, 0), None)]);
        assert_eq!(out[1].0, 100);
    }

    #[test]
    fn forward_late_writer_before_midnight() {
        // Day 100 23:59:50 -> 0:00:05 passes midnight (day 101, T = 0:00:05); a writer's 23:59:58
        // is 23:59:53 after T (> 21 h): dated day 100, D and T unchanged, so 0:00:07 is day 101.
        let out = run(&[
            (hms(23, 59, 50), Some(100)),
            (hms(0, 0, 5), None),
            (hms(23, 59, 58), None),
            (hms(0, 0, 7), None),
        ]);
        assert_eq!(
            out.iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![100, 101, 100, 101]
        );
    }

    #[test]
    fn anchor_resets_date_and_high_water() {
        // An anchor may move the date anywhere, even backwards, and sets T to its own time.
        let out = run(&[
            (hms(12, 0, 0), Some(100)),
            (hms(8, 0, 0), Some(50)),
            (hms(9, 0, 0), None),
        ]);
        assert_eq!(
            out.iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![100, 50, 50]
        );
    }

    #[test]
    fn backward_dating_before_first_anchor() {
        // Held: 22:00, 23:30, 1:00, 2:00; anchor 3:00 on day 100. Walking back from L = 3:00:
        // 2:00 (not > L + 3h) -> 100, L = 2:00; 1:00 -> 100, L = 1:00; 23:30 > 1:00 + 3h -> 99,
        // L = 23:30; 22:00 -> 99.
        let out = run(&[
            (hms(22, 0, 0), None),
            (hms(23, 30, 0), None),
            (hms(1, 0, 0), None),
            (hms(2, 0, 0), None),
            (hms(3, 0, 0), Some(100)),
        ]);
        assert_eq!(
            out.iter().map(|x| (x.0, x.2)).collect::<Vec<_>>(),
            vec![(99, 0), (99, 1), (100, 2), (100, 3), (100, 4)]
        );
    }

    #[test]
    fn backward_mirror_of_late_writer() {
        // Held: 23:59:58, 0:00:03, 23:59:59 then anchor 0:00:10 on day 100. Walking back from L =
        // 0:00:10: 23:59:59 > L + 3h -> day 99, L = 23:59:59; 0:00:03 < L - 21h -> day 100 (D + 1),
        // unchanged; 23:59:58 -> day 99, L = 23:59:58.
        let out = run(&[
            (hms(23, 59, 58), None),
            (hms(0, 0, 3), None),
            (hms(23, 59, 59), None),
            (hms(0, 0, 10), Some(100)),
        ]);
        assert_eq!(
            out.iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![99, 100, 99, 100]
        );
    }

    #[test]
    fn no_anchor_no_dates() {
        let mut d = Dater::new();
        let mut n = 0;
        for t in [1, 2, 3] {
            d.push(t, None, (), &mut |_, _, _| n += 1);
        }
        assert_eq!(n, 0);
        assert_eq!(d.pending().len(), 3);
    }
}
