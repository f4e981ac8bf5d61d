//! The pure core: no files, sockets or clocks. Bytes → lines → events → day aggregates → rows.

pub mod agg;
pub mod ingest;
pub mod merge;
pub mod names;
pub mod open;
pub mod report;

pub use agg::{Aggregator, Event, Kind, Names, Options, UserIdentity};
pub use ingest::{FileIngest, FileStats};
pub use report::{Model, Row};

/// Asks the processor to start loading the cache line of `r` (a hint; nothing on other
/// processors than x86-64).
#[inline(always)]
pub fn prefetch<T>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching never faults, and `r` is a valid reference anyway.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((r as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}
