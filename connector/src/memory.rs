//! Process memory: the resident size (for /metrics and start-up logs), giving freed memory back to the
//! system after start-up, and allocator settings for a long-running service.
//!
//! With the `mimalloc` feature the whole process (OpenUSD included) allocates through mimalloc. Its
//! defaults favour speed over footprint: transparent huge pages make every touched 4 KiB page cost up
//! to 2 MiB of resident memory, and freed pages are kept for a while. A twin holding 100,000 signals
//! runs for months, so [`tune_allocator`] asks for small pages and prompt purging.

/// Resident memory of this process (Linux `/proc/self/status`), 0 where unknown.
pub fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

#[cfg(feature = "mimalloc")]
mod mi {
    pub use libmimalloc_sys::{mi_collect, mi_option_set, mi_option_t};
    // mimalloc v3 option numbers, counted in the bundled mimalloc.h's `mi_option_e` (libmimalloc-sys
    // 0.1.49 builds v3; its Rust constants follow v2's numbering).
    pub const ARENA_EAGER_COMMIT: mi_option_t = 4;
    pub const PURGE_DELAY: mi_option_t = 15;
    pub const ALLOW_THP: mi_option_t = 43;
}

/// Settings for a long-running process: no transparent huge pages, arenas committed on demand, freed
/// pages purged at once. Call first thing in `main`.
pub fn tune_allocator() {
    #[cfg(target_os = "linux")]
    {
        extern "C" {
            fn prctl(option: std::os::raw::c_int, ...) -> std::os::raw::c_int;
        }
        const PR_SET_THP_DISABLE: std::os::raw::c_int = 41;
        // SAFETY: PR_SET_THP_DISABLE only changes this process's huge-page policy.
        unsafe {
            prctl(
                PR_SET_THP_DISABLE,
                1 as std::os::raw::c_ulong,
                0 as std::os::raw::c_ulong,
                0 as std::os::raw::c_ulong,
                0 as std::os::raw::c_ulong,
            );
        }
    }
    #[cfg(feature = "mimalloc")]
    // SAFETY: setting mimalloc options is allowed at any time; they apply to later allocations.
    unsafe {
        mi::mi_option_set(mi::ALLOW_THP, 0);
        mi::mi_option_set(mi::ARENA_EAGER_COMMIT, 0);
        mi::mi_option_set(mi::PURGE_DELAY, 0);
    }
}

/// Gives memory freed after start-up (browse results, interning, the first tick's burst) back to the
/// system, so the resident size reflects what the running twin holds.
pub fn release_freed_memory() {
    #[cfg(feature = "mimalloc")]
    // SAFETY: mimalloc returns the free pages of its heaps; nothing in use is touched.
    unsafe {
        mi::mi_collect(true);
    }
    #[cfg(all(target_os = "linux", target_env = "gnu", not(feature = "mimalloc")))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> std::os::raw::c_int;
        }
        // SAFETY: glibc's malloc_trim only releases free heap pages.
        unsafe {
            malloc_trim(0);
        }
    }
}
