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

/// Huge pages are 2 MiB on x86-64 and most aarch64 kernels.
const HUGE_PAGE: usize = 2 << 20;

/// `n` copies of `fill`, in memory the kernel is asked to back with huge pages when it is large
/// (Linux transparent huge pages, `madvise` mode included): a table read at random, such as the
/// name tables with 100k users, then costs no TLB miss per lookup. The vector's contents and
/// behaviour are those of `vec![fill; n]`; the advice only changes how the kernel maps it.
pub fn huge_vec<T: Clone>(n: usize, fill: T) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(n);
    advise_huge(v.as_ptr().cast(), n * std::mem::size_of::<T>());
    v.resize(n, fill);
    v
}

/// Advises huge pages for the 2 MiB-aligned part of `[ptr, ptr + len)`, before it is touched.
fn advise_huge(ptr: *const u8, len: usize) {
    #[cfg(target_os = "linux")]
    {
        let start = (ptr as usize).next_multiple_of(HUGE_PAGE);
        let end = (ptr as usize + len) / HUGE_PAGE * HUGE_PAGE;
        if end > start {
            // SAFETY: the range lies inside one live allocation of ours; MADV_HUGEPAGE changes
            // only how the kernel backs it, never its contents. A refusal (THP off, an old
            // kernel) is harmless and ignored.
            let _ = unsafe {
                rustix::mm::madvise(
                    start as *mut std::ffi::c_void,
                    end - start,
                    rustix::mm::Advice::LinuxHugepage,
                )
            };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (ptr, len, HUGE_PAGE);
}

#[cfg(test)]
mod tests {
    /// The advice never changes contents: small, page-straddling and multi-huge-page sizes read
    /// back as `vec![fill; n]` (5 MiB of u64 covers at least one whole aligned 2 MiB page).
    #[test]
    fn huge_vec_is_vec_of_fill() {
        for n in [0usize, 1, 4095, 600_000, 5 << 17] {
            let v = super::huge_vec(n, 0xA5A5_5A5A_u64);
            assert_eq!(v.len(), n);
            assert!(v.iter().all(|&x| x == 0xA5A5_5A5A));
        }
        let v = super::huge_vec(1 << 18, (1u32, u16::MAX));
        assert_eq!(v, vec![(1u32, u16::MAX); 1 << 18]);
    }
}
