//! Threads: whether a computation runs on the calling thread or on a pool, decided once per
//! call ([`run`]) and passed down as an [`Execution`]; the pools (one per worker count, made
//! on first use and kept); and the one helper that splits work in halves between them.
//!
//! The default worker count is `NDGRADIENT_NUM_THREADS` if set, else the number of CPUs the
//! process may use. A process made by `fork()` inherits none of its parent's pool threads, so
//! there every computation runs on the calling thread. Nothing here uses rayon's global pool:
//! parallel work only happens inside [`run`]'s `install`.

use crate::error::GradientError;
use crate::fp_status::{self, FpFlags};
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

/// Inputs smaller than this many elements are computed on the calling thread: below it,
/// waking the pool (tens of microseconds) costs more than it saves.
pub const PARALLEL_THRESHOLD: usize = 1 << 18;

/// Where a computation runs, decided once by [`run`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Execution {
    /// On the calling thread only.
    Serial,
    /// Split between the threads of the pool the work was installed in.
    Parallel,
}

impl Execution {
    /// Whether work may be split between threads.
    pub fn is_parallel(self) -> bool {
        self == Execution::Parallel
    }
}

/// The pool of `workers` threads, built on first use.
pub fn pool(workers: usize) -> Result<Arc<ThreadPool>, GradientError> {
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
        .map_err(|e| GradientError::ThreadPool {
            reason: e.to_string(),
        })?;
    let pool = Arc::new(pool);
    pools.insert(workers, Arc::clone(&pool));
    Ok(pool)
}

/// Runs `work` with `workers` threads: on the calling thread ([`Execution::Serial`]) when one
/// worker is asked for, the input has fewer than [`PARALLEL_THRESHOLD`] elements, or the
/// process is a forked child; otherwise inside the pool of that size. Returns `work`'s result
/// and the floating-point errors raised on the thread that ran it (work it hands to other
/// threads reports its own, as [`halves`] does).
pub fn run<R: Send>(
    workers: usize,
    elements: usize,
    work: impl FnOnce(Execution) -> R + Send,
) -> Result<(R, FpFlags), GradientError> {
    let observed = |execution| fp_status::observe(|| work(execution));
    if workers <= 1 || elements < PARALLEL_THRESHOLD || !pool_usable() {
        return Ok(observed(Execution::Serial));
    }
    Ok(pool(workers)?.install(|| observed(Execution::Parallel)))
}

/// Work that can be cut in two at a position along its length (outputs split along an axis).
pub trait Divisible: Sized + Send {
    /// How many units (hyperplanes, points) the work spans.
    fn units(&self) -> usize;
    /// The first `mid` units and the rest.
    fn divide(self, mid: usize) -> (Self, Self);
}

/// Runs `leaf(work, first)` on pieces of `work`, cut in halves and run on both sides of a
/// `rayon::join` while `execution` is parallel and a piece has more than `2 * grain` units of
/// `unit_size` elements each; `first` is the piece's first unit within the whole. Where
/// `execution` is parallel, returns the floating-point errors the leaves raised, on whichever
/// threads they ran; where it is serial, the leaf's own errors stay in the calling thread's
/// flags, for the [`fp_status::observe`] around that thread's work to read. (A leaf returns
/// those of work it handed on to other threads itself.)
pub fn halves<W: Divisible>(
    work: W,
    first: usize,
    unit_size: usize,
    grain: usize,
    execution: Execution,
    leaf: &(impl Fn(W, usize) -> FpFlags + Sync),
) -> FpFlags {
    let units = work.units();
    if execution.is_parallel() && units >= 2 && units * unit_size >= 2 * grain {
        let mid = units / 2;
        let (left, right) = work.divide(mid);
        let (a, b) = rayon::join(
            || halves(left, first, unit_size, grain, execution, leaf),
            || halves(right, first + mid, unit_size, grain, execution, leaf),
        );
        return a | b;
    }
    if !execution.is_parallel() {
        // On the calling thread, whose flags whoever observes that thread (`run`, or the
        // parallel leaf this work is part of) reads: no register access per leaf (a serial
        // walk calls this once per row, and each access costs tens of cycles).
        return leaf(work, first);
    }
    let (handed_on, own) = fp_status::observe(|| leaf(work, first));
    handed_on | own
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
        let ((execution, id), _) = run(2, 10, |e| (e, std::thread::current().id())).unwrap();
        assert_eq!(execution, Execution::Serial);
        assert_eq!(id, caller);
        let ((execution, id), _) = run(1, 1 << 20, |e| (e, std::thread::current().id())).unwrap();
        assert_eq!(execution, Execution::Serial);
        assert_eq!(id, caller);
        let ((execution, name), _) = run(2, 1 << 20, |e| {
            (e, std::thread::current().name().map(str::to_owned))
        })
        .unwrap();
        assert_eq!(execution, Execution::Parallel);
        assert!(name.unwrap().starts_with("ndgradient-"));
    }

    /// A range of units that records where each leaf starts.
    struct Units(std::ops::Range<usize>);
    impl Divisible for Units {
        fn units(&self) -> usize {
            self.0.len()
        }
        fn divide(self, mid: usize) -> (Self, Self) {
            let cut = self.0.start + mid;
            (Units(self.0.start..cut), Units(cut..self.0.end))
        }
    }

    #[test]
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    fn concurrent_calls_on_one_pool_get_only_their_own_errors() {
        // Two threads share a pool of 2: a worker waiting in one call's `join` runs the other
        // call's queued work. Only one call's leaves raise an error; the other must not see
        // it, however the work was interleaved.
        let leaf = |raises: bool| {
            move |w: Units, _: usize| {
                let mut acc = 1.0_f64;
                for i in w.0 {
                    acc = std::hint::black_box(acc * 1.000_001 + i as f64);
                }
                if raises {
                    std::hint::black_box(std::hint::black_box(1.0_f64) / std::hint::black_box(0.0));
                }
                std::hint::black_box(acc);
                FpFlags::NONE
            }
        };
        let call = |raises: bool| {
            let leaf = leaf(raises);
            let (flags, own) = run(2, 1 << 20, |execution| {
                halves(Units(0..4000), 0, 1, 50, execution, &leaf)
            })
            .unwrap();
            flags | own
        };
        std::thread::scope(|scope| {
            let raising = scope.spawn(|| {
                for _ in 0..300 {
                    assert_eq!(call(true), FpFlags::DIVIDE);
                }
            });
            for _ in 0..300 {
                assert_eq!(call(false), FpFlags::NONE);
            }
            raising.join().unwrap();
        });
    }

    #[test]
    fn halves_cover_the_work_once_and_only_split_in_parallel() {
        let leaves = Mutex::new(Vec::new());
        let record = |w: Units, first: usize| {
            assert_eq!(w.0.start, first);
            leaves.lock().unwrap().push(w.0);
            FpFlags::NONE
        };
        halves(Units(0..1000), 0, 1, 100, Execution::Serial, &record);
        assert_eq!(*leaves.lock().unwrap(), vec![0..1000]);
        leaves.lock().unwrap().clear();
        pool(2)
            .unwrap()
            .install(|| halves(Units(0..1000), 0, 1, 100, Execution::Parallel, &record));
        let mut got = leaves.into_inner().unwrap();
        got.sort_by_key(|r| r.start);
        assert!(got.len() > 1 && got.iter().all(|r| r.len() < 200));
        assert!(got.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!((got[0].start, got.last().unwrap().end), (0, 1000));
    }
}
