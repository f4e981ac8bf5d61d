//! Report rows: the five columns of the Realtime Users Count, per day (contract, section 4).

use super::agg::{peak_hosts, Aggregator, NO_HOST};
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

/// One day's sets, with the edges of still-open sessions added.
struct DayView<'a> {
    used: Cow<'a, RoaringBitmap>,
    denied: Cow<'a, RoaringBitmap>,
    /// Host spans (with those of open sessions that start or reach this day).
    spans: Cow<'a, [u64]>,
    peak: u32,
}

/// Whole days `from..=to` covered by the same open sessions: their identities and hosts.
struct Run {
    from: Day,
    to: Day,
    idents: RoaringBitmap,
    /// Sorted, without [`NO_HOST`].
    hosts: Vec<u32>,
}

/// The per-day sets of the whole history, as they stand now (open sessions included).
pub struct Snapshot<'a> {
    days: BTreeMap<Day, DayView<'a>>,
    /// Disjoint, in day order.
    runs: Vec<Run>,
}

/// Cuts the whole days covered by open sessions into runs over which the covering sessions do
/// not change.
fn runs_of(full: &[(Day, Day, u32, u32)]) -> Vec<Run> {
    let mut bounds: Vec<Day> = full.iter().flat_map(|&(a, b, _, _)| [a, b + 1]).collect();
    bounds.sort_unstable();
    bounds.dedup();
    let mut runs = Vec::new();
    for w in bounds.windows(2) {
        let (from, to) = (w[0], w[1] - 1);
        let mut idents = RoaringBitmap::new();
        let mut hosts = Vec::new();
        for &(a, b, ident, host) in full {
            if a <= from && to <= b {
                idents.insert(ident);
                if host != NO_HOST {
                    hosts.push(host);
                }
            }
        }
        if idents.is_empty() {
            continue;
        }
        hosts.sort_unstable();
        hosts.dedup();
        runs.push(Run {
            from,
            to,
            idents,
            hosts,
        });
    }
    runs
}

impl<'a> Snapshot<'a> {
    pub fn new(agg: &'a Aggregator) -> Self {
        let overlay = agg.open_overlay();
        let mut edges = overlay.edges;
        let mut days = BTreeMap::new();
        for (&d, day) in &agg.days {
            let view = match edges.remove(&d) {
                Some((extra_used, extra_spans)) => {
                    let mut spans = day.spans().to_vec();
                    spans.extend_from_slice(&extra_spans);
                    DayView {
                        used: Cow::Owned(&*day.used() | &extra_used),
                        denied: day.denied(),
                        peak: peak_hosts(&spans),
                        spans: Cow::Owned(spans),
                    }
                }
                None => DayView {
                    used: day.used(),
                    denied: day.denied(),
                    spans: Cow::Borrowed(day.spans()),
                    peak: day.peak(),
                },
            };
            days.insert(d, view);
        }
        for (d, (used, spans)) in edges {
            days.insert(
                d,
                DayView {
                    used: Cow::Owned(used),
                    denied: Cow::Owned(RoaringBitmap::new()),
                    peak: peak_hosts(&spans),
                    spans: Cow::Owned(spans),
                },
            );
        }
        days.retain(|_, v| !(v.used.is_empty() && v.denied.is_empty()));
        Snapshot {
            days,
            runs: runs_of(&overlay.full),
        }
    }

    /// The earliest day with any usage or denial.
    pub fn first_day(&self) -> Option<Day> {
        let day = self.days.keys().next().copied();
        let run = self.runs.first().map(|r| r.from);
        match (day, run) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The run covering day `d`.
    fn run_at(&self, d: Day) -> Option<&Run> {
        let i = self.runs.partition_point(|r| r.to < d);
        self.runs.get(i).filter(|r| r.from <= d)
    }

    /// `used`, `denied` and the peak of day `d`, open sessions included (`used` borrowed when it
    /// can be).
    fn day(&self, d: Day) -> (Cow<'_, RoaringBitmap>, Option<&RoaringBitmap>, u64) {
        let view = self.days.get(&d);
        let run = self.run_at(d);
        match (view, run) {
            (None, None) => (Cow::Owned(RoaringBitmap::new()), None, 0),
            (Some(v), None) => (
                Cow::Borrowed(v.used.as_ref()),
                Some(v.denied.as_ref()),
                v.peak as u64,
            ),
            (None, Some(r)) => (Cow::Borrowed(&r.idents), None, r.hosts.len() as u64),
            (Some(v), Some(r)) => {
                // Run hosts are active all day: they add one each to every second; the day's
                // other hosts count as their spans say.
                let others: Vec<u64> = v
                    .spans
                    .iter()
                    .copied()
                    .filter(|&sp| r.hosts.binary_search(&((sp >> 34) as u32)).is_err())
                    .collect();
                let peak = r.hosts.len() as u64 + peak_hosts(&others) as u64;
                (
                    Cow::Owned(v.used.as_ref() | &r.idents),
                    Some(v.denied.as_ref()),
                    peak,
                )
            }
        }
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
                // Everything up to the day before `sd` first, then day by day.
                let mut history = RoaringBitmap::new();
                for (_, v) in self.days.range(..sd) {
                    history |= v.used.as_ref();
                    history |= v.denied.as_ref();
                }
                for r in self.runs.iter().take_while(|r| r.from < sd) {
                    history |= &r.idents;
                }
                let mut last_run: Option<*const Run> = None;
                for d in sd..=ed {
                    let (used, denied, ucch) = self.day(d);
                    // Inside a long run without data, `used` is the run's set day after day:
                    // adding it once is enough.
                    let run = self.run_at(d).map(|r| r as *const Run);
                    let repeat = run.is_some() && run == last_run && !self.days.contains_key(&d);
                    last_run = run;
                    if !repeat {
                        history |= used.as_ref();
                    }
                    let (ucdy, ucde) = match denied {
                        Some(denied) => {
                            history |= denied;
                            (used.union_len(denied), denied.len())
                        }
                        None => (used.len(), 0),
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
                    let from = d.saturating_sub(13);
                    let mut window = RoaringBitmap::new();
                    for (_, v) in self.days.range(from..=d) {
                        window |= v.used.as_ref();
                    }
                    let first = self.runs.partition_point(|r| r.to < from);
                    for r in self.runs[first..].iter().take_while(|r| r.from <= d) {
                        window |= &r.idents;
                    }
                    let (used, denied, ucch) = self.day(d);
                    rows.push(Row {
                        date: d,
                        uct: window.len(),
                        ucdy: used.len(),
                        ucde: denied.map_or(0, |x| x.len()),
                        ucch,
                    });
                }
            }
        }
        Ok(rows)
    }
}
