//! Computed report rows, kept until the tally changes.
//!
//! Rows depend on the tally (named by its generation), the model and the resolved range; every
//! other parameter (filter, order, page, columns, format) is applied to them per request. The
//! JSON body of the plain report (no filter, default order, whole range) is kept with its rows,
//! so the default request costs a lookup.

use crate::core::report::RangeError;
use crate::core::{Model, Row};
use lmtally_parsers::date::Day;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use warp::hyper::body::Bytes;

/// The parameters rows are computed from (besides the tally).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowsKey {
    pub model: Model,
    pub sd: Option<Day>,
    pub ed: Day,
}

impl std::hash::Hash for RowsKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let model: u16 = match self.model {
            Model::M2019 => 2019,
            Model::M2013 => 2013,
        };
        (model, self.sd, self.ed).hash(h);
    }
}

/// Rows for one key (or why the range cannot be reported), and the plain JSON body once made.
#[derive(Debug)]
pub struct Entry {
    pub rows: Result<Vec<Row>, RangeError>,
    pub plain_json: OnceLock<Bytes>,
}

impl Entry {
    pub fn new(rows: Result<Vec<Row>, RangeError>) -> Self {
        Entry {
            rows,
            plain_json: OnceLock::new(),
        }
    }
}

/// At most this many keys are kept for one generation (then the cache starts again).
const MAX_ENTRIES: usize = 64;

#[derive(Default)]
struct Inner {
    generation: u64,
    entries: HashMap<RowsKey, Arc<Entry>>,
}

#[derive(Default)]
pub struct RowsCache {
    inner: Mutex<Inner>,
}

impl RowsCache {
    /// The entry for `key` computed at `generation`, if kept.
    pub fn get(&self, generation: u64, key: &RowsKey) -> Option<Arc<Entry>> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.generation != generation {
            return None;
        }
        inner.entries.get(key).cloned()
    }

    /// Keeps an entry computed at `generation`. Generations only grow over time (see
    /// `Aggregator::generation`): a newer one replaces everything, an older one is not kept.
    pub fn put(&self, generation: u64, key: RowsKey, entry: Arc<Entry>) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if generation != inner.generation {
            if generation < inner.generation {
                return;
            }
            inner.generation = generation;
            inner.entries.clear();
        }
        if inner.entries.len() >= MAX_ENTRIES {
            inner.entries.clear();
        }
        inner.entries.insert(key, entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ed: Day) -> RowsKey {
        RowsKey {
            model: Model::M2019,
            sd: None,
            ed,
        }
    }

    #[test]
    fn keeps_only_the_newest_generation() {
        let c = RowsCache::default();
        c.put(5, key(1), Arc::new(Entry::new(Ok(vec![]))));
        assert!(c.get(5, &key(1)).is_some());
        assert!(c.get(5, &key(2)).is_none());
        assert!(c.get(6, &key(1)).is_none());
        // An older computation finishing late is not kept.
        c.put(4, key(2), Arc::new(Entry::new(Ok(vec![]))));
        assert!(c.get(4, &key(2)).is_none());
        assert!(c.get(5, &key(1)).is_some());
        c.put(7, key(3), Arc::new(Entry::new(Err(RangeError::TooLong))));
        assert!(c.get(5, &key(1)).is_none());
        assert!(c.get(7, &key(3)).unwrap().rows.is_err());
    }

    #[test]
    fn bounded() {
        let c = RowsCache::default();
        for ed in 0..(MAX_ENTRIES as Day + 10) {
            c.put(1, key(ed), Arc::new(Entry::new(Ok(vec![]))));
        }
        assert!(c.inner.lock().unwrap().entries.len() <= MAX_ENTRIES);
    }
}
