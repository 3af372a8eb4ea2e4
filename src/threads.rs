//! Thread pools: one per worker count, made on first use and kept.
//!
//! The default worker count is `NDGRADIENT_NUM_THREADS` if set, else the number of CPUs the
//! process may use. A process made by `fork()` inherits none of its parent's pool threads, so
//! there every computation runs on the calling thread.

use rayon::{ThreadPool, ThreadPoolBuilder};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The environment variable that sets the default number of worker threads.
pub const NUM_THREADS_VAR: &str = "NDGRADIENT_NUM_THREADS";

/// The number of CPUs this process may run on, read once (the query parses cgroup files).
pub fn available_cpus() -> usize {
    static CPUS: OnceLock<usize> = OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The default worker count: `NDGRADIENT_NUM_THREADS` (a positive integer) if set, otherwise
/// [`available_cpus`]. Read once.
pub fn default_workers() -> usize {
    static DEFAULT: OnceLock<usize> = OnceLock::new();
    *DEFAULT.get_or_init(|| {
        std::env::var(NUM_THREADS_VAR)
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(available_cpus)
    })
}

/// Whether this process may use thread pools: false in a child made by `fork()`, whose pools
/// have no threads (only the forking thread survives), so waiting on them would hang.
pub fn pool_usable() -> bool {
    static FIRST_PID: OnceLock<u32> = OnceLock::new();
    *FIRST_PID.get_or_init(std::process::id) == std::process::id()
}

/// The pool of `workers` threads, built on first use.
pub fn pool(workers: usize) -> Result<Arc<ThreadPool>, String> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<ThreadPool>>>> = OnceLock::new();
    let mut pools = POOLS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(pool) = pools.get(&workers) {
        return Ok(Arc::clone(pool));
    }
    let pool = ThreadPoolBuilder::new()
        .num_threads(workers)
        .thread_name(|i| format!("ndgradient-{i}"))
        .build()
        .map_err(|e| e.to_string())?;
    let pool = Arc::new(pool);
    pools.insert(workers, Arc::clone(&pool));
    Ok(pool)
}

/// Runs `work(parallel)` with `workers` threads: on the calling thread (`parallel == false`)
/// when one worker is asked for, the input is small, or the process is a forked child;
/// otherwise inside the pool of that size.
pub fn run<R: Send>(
    workers: usize,
    elements: usize,
    work: impl FnOnce(bool) -> R + Send,
) -> Result<R, String> {
    if workers <= 1 || elements < crate::kernel::PARALLEL_THRESHOLD || !pool_usable() {
        return Ok(work(false));
    }
    Ok(pool(workers)?.install(|| work(true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_are_reused_and_sized() {
        let a = pool(3).unwrap();
        let b = pool(3).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.current_num_threads(), 3);
    }

    #[test]
    fn small_work_stays_on_the_calling_thread() {
        let caller = std::thread::current().id();
        let (parallel, id) = run(2, 10, |p| (p, std::thread::current().id())).unwrap();
        assert!(!parallel);
        assert_eq!(id, caller);
        let (parallel, name) = run(2, 1 << 20, |p| {
            (p, std::thread::current().name().map(str::to_owned))
        })
        .unwrap();
        assert!(parallel);
        assert!(name.unwrap().starts_with("ndgradient-"));
    }
}
