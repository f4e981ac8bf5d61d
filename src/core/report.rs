//! Report rows: the five columns of the Realtime Users Count, per day (contract, section 4).

use super::agg::{peak_hosts, Aggregator};
use lmtally_parsers::date::{from_ymd, to_ymd, Day};
use roaring::RoaringBitmap;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// The licensing model, which decides `uct` and `ucdy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Model {
    #[default]
    M2019,
    M2013,
}

impl Model {
    pub fn parse(s: &str) -> Option<Model> {
        match s {
            "2019" => Some(Model::M2019),
            "2013" => Some(Model::M2013),
            _ => None,
        }
    }
}

/// One row of the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    /// `ucd`
    pub date: Day,
    /// `uct`: Total Users
    pub uct: u64,
    /// `ucdy`: Daily Users
    pub ucdy: u64,
    /// `ucde`: Denial Users
    pub ucde: u64,
    /// `ucch`: Concurrent Hosts
    pub ucch: u64,
}

/// Why a range of days cannot be reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeError {
    /// `sd` after `ed` (`sd` given, or the earliest day with data).
    SdAfterEd { sd: Day, ed: Day, sd_given: bool },
    /// More than 100 years from `sd` to `ed`.
    TooLong,
}

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use lmtally_parsers::date::format_day;
        match self {
            RangeError::SdAfterEd {
                sd,
                ed,
                sd_given: true,
            } => {
                write!(
                    f,
                    "sd ({}) is after ed ({})",
                    format_day(*sd),
                    format_day(*ed)
                )
            }
            RangeError::SdAfterEd {
                sd,
                ed,
                sd_given: false,
            } => write!(
                f,
                "the first day with data ({}, the default sd) is after ed ({})",
                format_day(*sd),
                format_day(*ed)
            ),
            RangeError::TooLong => write!(f, "the range sd..ed is longer than 100 years"),
        }
    }
}

/// The day 100 years after `d` (29 February moves to 28 February when needed).
fn hundred_years_after(d: Day) -> Day {
    let (y, m, dd) = to_ymd(d);
    from_ymd(y + 100, m, dd)
        .or_else(|| from_ymd(y + 100, m, dd - 1))
        .unwrap_or(Day::MAX)
}

/// One day's sets, with the still-open sessions added.
struct DayView<'a> {
    used: Cow<'a, RoaringBitmap>,
    denied: Cow<'a, RoaringBitmap>,
    peak: u32,
}

/// The per-day sets of the whole history, as they stand now (open sessions included).
pub struct Snapshot<'a> {
    days: BTreeMap<Day, DayView<'a>>,
}

impl<'a> Snapshot<'a> {
    pub fn new(agg: &'a Aggregator) -> Self {
        let mut overlay = agg.open_overlay();
        let mut days = BTreeMap::new();
        for (&d, day) in &agg.days {
            let (used, peak) = match overlay.remove(&d) {
                Some((extra_used, extra_spans)) => {
                    let mut spans = day.spans.clone();
                    spans.extend_from_slice(&extra_spans);
                    (Cow::Owned(&day.used | &extra_used), peak_hosts(&spans))
                }
                None => (Cow::Borrowed(&day.used), day.peak()),
            };
            days.insert(
                d,
                DayView {
                    used,
                    denied: Cow::Borrowed(&day.denied),
                    peak,
                },
            );
        }
        for (d, (used, spans)) in overlay {
            let peak = peak_hosts(&spans);
            days.insert(
                d,
                DayView {
                    used: Cow::Owned(used),
                    denied: Cow::Owned(RoaringBitmap::new()),
                    peak,
                },
            );
        }
        days.retain(|_, v| !(v.used.is_empty() && v.denied.is_empty()));
        Snapshot { days }
    }

    /// The earliest day with any usage or denial.
    pub fn first_day(&self) -> Option<Day> {
        self.days.keys().next().copied()
    }

    /// Rows for `sd..=ed`. Defaults: `sd` the first day with data, `ed` = `today`. No data and no
    /// `sd`: no rows.
    pub fn rows(
        &self,
        model: Model,
        sd: Option<Day>,
        ed: Option<Day>,
        today: Day,
    ) -> Result<Vec<Row>, RangeError> {
        let ed = ed.unwrap_or(today);
        let (sd, sd_given) = match sd {
            Some(sd) => (sd, true),
            None => match self.first_day() {
                Some(d) => (d, false),
                None => return Ok(Vec::new()),
            },
        };
        if sd > ed {
            return Err(RangeError::SdAfterEd { sd, ed, sd_given });
        }
        if ed > hundred_years_after(sd) {
            return Err(RangeError::TooLong);
        }
        let mut rows = Vec::with_capacity((ed - sd + 1) as usize);
        match model {
            Model::M2019 => {
                let mut history = RoaringBitmap::new();
                let mut it = self.days.range(..=ed).peekable();
                for d in sd..=ed {
                    while let Some((&x, v)) = it.peek() {
                        if x > d {
                            break;
                        }
                        history |= v.used.as_ref();
                        history |= v.denied.as_ref();
                        it.next();
                    }
                    let (ucdy, ucde, ucch) = match self.days.get(&d) {
                        Some(v) => (v.used.union_len(&v.denied), v.denied.len(), v.peak as u64),
                        None => (0, 0, 0),
                    };
                    rows.push(Row {
                        date: d,
                        uct: history.len(),
                        ucdy,
                        ucde,
                        ucch,
                    });
                }
            }
            Model::M2013 => {
                for d in sd..=ed {
                    let mut window = RoaringBitmap::new();
                    for (_, v) in self.days.range(d.saturating_sub(13)..=d) {
                        window |= v.used.as_ref();
                    }
                    let (ucdy, ucde, ucch) = match self.days.get(&d) {
                        Some(v) => (v.used.len(), v.denied.len(), v.peak as u64),
                        None => (0, 0, 0),
                    };
                    rows.push(Row {
                        date: d,
                        uct: window.len(),
                        ucdy,
                        ucde,
                        ucch,
                    });
                }
            }
        }
        Ok(rows)
    }
}
