//! Giving freed memory back to the system. A snapshot of thousands of topics decodes tens of MB
//! of DescribeConfigs answers (every config of every topic) that are dropped moments later;
//! glibc's allocator keeps such freed pages, one arena per thread that ever allocated, so the
//! resident size would stay at the high-water mark of the busiest moment. Two arenas, and a
//! trim after each snapshot, keep it close to what the operator actually holds.

/// Caps glibc's malloc arenas. Call first thing in `main`, before threads start.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Returns free heap pages to the system (cheap next to a snapshot: run once per resync).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory the allocator holds free.
    unsafe {
        libc::malloc_trim(0);
    }
}
