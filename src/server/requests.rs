//! Request counters for `/metrics`: how many requests each handler answered, by return type and
//! status, and how long they took (a histogram, see [`crate::metrics`]).

use super::{HEALTH_PATH, METRICS_PATH, REPORT_PREFIX, STATUS_PATH};
use crate::metrics::RequestSeries;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// The `handler` and `return_type` labels of a request path (a fixed, small set of values, so
/// that no path a client makes up becomes a series of its own).
pub fn classify(path: &str) -> (&'static str, &'static str) {
    if let Some(rt) = path.strip_prefix(REPORT_PREFIX) {
        if !rt.contains('/') {
            let rt = crate::query::percent_decode(rt.as_bytes(), false);
            let rt = match super::ReturnType::parse(&rt) {
                Some(super::ReturnType::Json) => "json",
                Some(super::ReturnType::Csv) => "csv",
                Some(super::ReturnType::Xlsx) => "xlsx",
                None => "invalid",
            };
            return ("report", rt);
        }
    }
    let handler = match path {
        STATUS_PATH => "status",
        HEALTH_PATH => "healthz",
        METRICS_PATH => "metrics",
        _ => "other",
    };
    (handler, "none")
}

/// The counters, one series per (handler, return type, status).
#[derive(Default)]
pub struct RequestStats {
    series: Mutex<BTreeMap<(&'static str, &'static str, u16), RequestSeries>>,
}

impl RequestStats {
    /// Counts one answered request.
    pub fn record(&self, path: &str, status: u16, took: Duration) {
        let (handler, return_type) = classify(path);
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        series
            .entry((handler, return_type, status))
            .or_insert_with(|| RequestSeries::new(handler, return_type, status))
            .observe(took.as_secs_f64());
    }

    /// Every series, in label order.
    pub fn snapshot(&self) -> Vec<RequestSeries> {
        let series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        series.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_a_few_labels() {
        let p = REPORT_PREFIX;
        assert_eq!(classify(&format!("{p}json")), ("report", "json"));
        assert_eq!(classify(&format!("{p}XLSX")), ("report", "xlsx"));
        assert_eq!(classify(&format!("{p}c%73v")), ("report", "csv"));
        assert_eq!(classify(&format!("{p}pdf")), ("report", "invalid"));
        assert_eq!(classify(&format!("{p}json/x")), ("other", "none"));
        assert_eq!(classify("/api/v1/status"), ("status", "none"));
        assert_eq!(classify("/healthz"), ("healthz", "none"));
        assert_eq!(classify("/metrics"), ("metrics", "none"));
        assert_eq!(classify("/anything/else"), ("other", "none"));
    }

    #[test]
    fn series_by_labels() {
        let s = RequestStats::default();
        let json = format!("{REPORT_PREFIX}json");
        s.record(&json, 200, Duration::from_millis(1));
        s.record(&json, 200, Duration::from_millis(30));
        s.record(&json, 401, Duration::from_micros(50));
        s.record("/healthz", 200, Duration::from_micros(50));
        let snap = s.snapshot();
        let keys: Vec<(&str, &str, u16, u64)> = snap
            .iter()
            .map(|r| (r.handler, r.return_type, r.status, r.count))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("healthz", "none", 200, 1),
                ("report", "json", 200, 2),
                ("report", "json", 401, 1)
            ]
        );
        assert!((snap[1].sum_seconds - 0.031).abs() < 1e-9);
    }
}
