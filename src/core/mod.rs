//! The pure core: no files, sockets or clocks. Bytes → lines → events → day aggregates → rows.

pub mod agg;
pub mod ingest;
pub mod merge;
pub mod names;
pub mod report;

pub use agg::{Aggregator, Event, Kind, Names, Options, UserIdentity};
pub use ingest::{FileIngest, FileStats};
pub use report::{Model, Row};
