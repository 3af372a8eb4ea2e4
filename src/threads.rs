//! Threads: whether a computation runs on the calling thread alone or shares it with a pool
//! of helper threads, decided once per call ([`run`]) and passed down as an [`Execution`];
//! the pools (one per worker count, made on first use and kept); and the one helper that
//! splits work between the threads ([`halves`]).
//!
//! A call of fewer than [`CALLER_SHARES_BELOW`] elements with `workers` threads is the
//! calling thread and a pool of `workers - 1` helpers. The calling thread computes the first
//! share of the work itself, the helpers the rest, so the caller never sleeps while others
//! compute (a sleeping thread costs a wake-up of tens of microseconds on a virtual machine),
//! and each thread takes the same share of an array call after call, which stays in that
//! core's cache. After such a call the helpers stay awake for [`KEEP_AWAKE`] (waiting, not
//! computing), so that the next call finds them running. Larger calls, for which a wake-up is
//! nothing, run on a pool of `workers` threads that share the work as rayon balances it
//! while the caller waits: fixed shares measured no faster there (within the noise of a
//! shared machine), and balancing adapts to a thread that the machine slows down.
//!
//! The default worker count is `NDGRADIENT_NUM_THREADS` if set, else the number of CPUs the
//! process may use. A process made by `fork()` inherits none of its parent's pool threads, so
//! there every computation runs on the calling thread. Nothing here uses rayon's global pool:
//! parallel work only runs on a pool of [`pool`] (`rayon::join` in a helper thread runs on its
//! own pool).

use crate::error::GradientError;
use crate::fp_status::{self, FpFlags};
use rayon::{ThreadPool, ThreadPoolBuilder};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

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
/// handing work to another thread costs more than it saves.
pub const PARALLEL_THRESHOLD: usize = 1 << 18;

/// How long helper threads wait for the next call after a parallel call, and the calling
/// thread for its helpers' share before it sleeps: long enough to span the Python between
/// two calls of a loop, short against the calls that are split (2**18 elements and up take
/// 50 microseconds or more).
pub const KEEP_AWAKE: Duration = Duration::from_micros(100);

/// Inputs of fewer elements than this (and at least [`PARALLEL_THRESHOLD`]) are shared by
/// the calling thread and `workers - 1` helpers; larger ones run on a pool of `workers`.
/// Measured on a 2-core Zen 3 VM, 1-D float64 out= into reused arrays, medians, the time of
/// fixed shares over a pool of 2 in the same run: 2**18 0.47-0.55x, 1e6 0.51-0.83x; 1e7 and
/// the 4096² and 256³ rows 0.87-1.20x, as noisy as two runs of one build.
pub const CALLER_SHARES_BELOW: usize = 1 << 22;

/// Where a computation runs, decided once by [`run`].
#[derive(Clone, Copy, Debug)]
pub enum Execution {
    /// On the calling thread only.
    Serial,
    /// Shared between the calling thread and the helper threads of a pool.
    Parallel(&'static ThreadPool),
}

impl Execution {
    /// Whether work may be split between threads.
    pub fn is_parallel(self) -> bool {
        matches!(self, Execution::Parallel(_))
    }

    /// `(first(..), rest(..))`, the two perhaps at once. On the calling thread of a parallel
    /// computation, `first` runs here serially while the pool runs `rest`; on one of the
    /// pool's threads they are a `rayon::join`, both parallel; serially, one after the other.
    pub fn join<A, B, RA, RB>(self, first: A, rest: B) -> (RA, RB)
    where
        A: FnOnce(Execution) -> RA + Send,
        B: FnOnce(Execution) -> RB + Send,
        RA: Send,
        RB: Send,
    {
        let Execution::Parallel(pool) = self else {
            return (first(self), rest(self));
        };
        if self.on_helper() {
            return rayon::join(|| first(self), || rest(self));
        }
        let theirs = Mutex::new(None);
        let done = AtomicBool::new(false);
        let mine = pool.in_place_scope(|scope| {
            scope.spawn(|_| {
                *theirs.lock().unwrap_or_else(|p| p.into_inner()) = Some(rest(self));
                done.store(true, Ordering::Release);
            });
            let mine = first(Execution::Serial);
            // Wait awake a little: the helpers' share is as large as this thread's, and
            // leaving the scope before it is done puts this thread to sleep.
            let start = Instant::now();
            while !done.load(Ordering::Acquire) && start.elapsed() < KEEP_AWAKE {
                spin_a_while();
            }
            mine
        });
        let theirs = theirs.into_inner().unwrap_or_else(|p| p.into_inner());
        (mine, theirs.expect("the scope ran the helpers' share"))
    }

    /// The calling thread's share of `units` units of work about to be split, if this
    /// thread is the caller of a parallel computation (`None` elsewhere, where work splits
    /// in halves): one part in as many as there are threads, at least one unit.
    fn callers_share(self, units: usize) -> Option<usize> {
        match self {
            Execution::Parallel(pool) if !self.on_helper() => {
                Some((units / (pool.current_num_threads() + 1)).max(1))
            }
            _ => None,
        }
    }

    /// Whether this thread is one of a parallel computation's pool threads (not its caller).
    fn on_helper(self) -> bool {
        match self {
            Execution::Parallel(pool) => pool.current_thread_index().is_some(),
            Execution::Serial => false,
        }
    }
}

/// A few hundred cycles of waiting, telling the processor this is a wait.
fn spin_a_while() {
    for _ in 0..32 {
        std::hint::spin_loop();
    }
}

/// The pool of `threads` threads, built on first use and kept for the life of the process:
/// the helpers of calls with one worker more, and the whole of large calls with as many.
pub fn pool(threads: usize) -> Result<&'static ThreadPool, GradientError> {
    static POOLS: OnceLock<Mutex<HashMap<usize, &'static ThreadPool>>> = OnceLock::new();
    let mut pools = POOLS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(&pool) = pools.get(&threads) {
        return Ok(pool);
    }
    let pool = ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("ndgradient-{i}"))
        .build()
        .map_err(|e| GradientError::ThreadPool {
            reason: e.to_string(),
        })?;
    let pool: &'static ThreadPool = Box::leak(Box::new(pool));
    pools.insert(threads, pool);
    Ok(pool)
}

/// Parallel computations in progress, in every thread: helpers kept awake stop waiting as
/// soon as one starts, so that its work finds them free.
static PARALLEL_CALLS: AtomicUsize = AtomicUsize::new(0);

/// One parallel computation from its start to its end, which keeps `pool`'s helpers awake
/// for [`KEEP_AWAKE`] (at most one fewer than the CPUs, leaving one to the caller).
struct ParallelCall(&'static ThreadPool);

impl ParallelCall {
    fn start(pool: &'static ThreadPool) -> ParallelCall {
        PARALLEL_CALLS.fetch_add(1, Ordering::AcqRel);
        ParallelCall(pool)
    }
}

impl Drop for ParallelCall {
    fn drop(&mut self) {
        if PARALLEL_CALLS.fetch_sub(1, Ordering::AcqRel) > 1 {
            return; // another call is running: its helpers are busy, and it keeps them awake
        }
        let awake = self
            .0
            .current_num_threads()
            .min(available_cpus().saturating_sub(1));
        for _ in 0..awake {
            self.0.spawn(|| {
                let start = Instant::now();
                while PARALLEL_CALLS.load(Ordering::Acquire) == 0 && start.elapsed() < KEEP_AWAKE {
                    spin_a_while();
                }
            });
        }
    }
}

/// Runs `work` with `workers` threads: on the calling thread alone ([`Execution::Serial`])
/// when one worker is asked for, the input has fewer than [`PARALLEL_THRESHOLD`] elements, or
/// the process is a forked child; below [`CALLER_SHARES_BELOW`] elements on the calling
/// thread with the pool of `workers - 1` helpers; otherwise inside the pool of `workers`
/// threads. Returns `work`'s result and the floating-point errors raised on the thread that
/// ran it (work it hands to other threads reports its own, as [`halves`] does).
pub fn run<R: Send>(
    workers: usize,
    elements: usize,
    work: impl FnOnce(Execution) -> R + Send,
) -> Result<(R, FpFlags), GradientError> {
    if workers <= 1 || elements < PARALLEL_THRESHOLD || !pool_usable() {
        return Ok(fp_status::observe(|| work(Execution::Serial)));
    }
    if elements >= CALLER_SHARES_BELOW {
        let pool = pool(workers)?;
        return Ok(pool.install(|| fp_status::observe(|| work(Execution::Parallel(pool)))));
    }
    let helpers = pool(workers - 1)?;
    let _call = ParallelCall::start(helpers);
    Ok(fp_status::observe(|| work(Execution::Parallel(helpers))))
}

/// Work that can be cut in two at a position along its length (outputs split along an axis).
pub trait Divisible: Sized + Send {
    /// How many units (hyperplanes, points) the work spans.
    fn units(&self) -> usize;
    /// The first `mid` units and the rest.
    fn divide(self, mid: usize) -> (Self, Self);
}

/// Runs `leaf(work, first, execution)` on pieces of `work`, cut in two and run on both
/// sides of an [`Execution::join`] while `execution` is parallel and a piece has more than
/// `2 * grain` units of `unit_size` elements each; `first` is the piece's first unit within
/// the whole, `execution` the piece's own (serial for the calling thread's share). The
/// calling thread of a parallel computation cuts off its share ([`Execution::join`]), the
/// helpers cut theirs in halves. Where `execution` is parallel, returns the floating-point
/// errors the leaves raised on other threads than the caller; a leaf run on the calling
/// thread leaves its own in that thread's flags, for the [`fp_status::observe`] around the
/// thread's work to read (as do all leaves where `execution` is serial). A leaf returns those
/// of work it handed on to other threads itself.
pub fn halves<W: Divisible>(
    work: W,
    first: usize,
    unit_size: usize,
    grain: usize,
    execution: Execution,
    leaf: &(impl Fn(W, usize, Execution) -> FpFlags + Sync),
) -> FpFlags {
    let units = work.units();
    if execution.is_parallel() && units >= 2 && units * unit_size >= 2 * grain {
        let mid = execution.callers_share(units).unwrap_or(units / 2);
        let (left, right) = work.divide(mid);
        let (a, b) = execution.join(
            |e| halves(left, first, unit_size, grain, e, leaf),
            |e| halves(right, first + mid, unit_size, grain, e, leaf),
        );
        return a | b;
    }
    if !execution.on_helper() {
        // On the calling thread, or serial work within a helper's leaf: whoever observes the
        // thread ([`run`], or that leaf) reads its flags. No register access per leaf (a
        // serial walk calls this once per row, and each access costs tens of cycles).
        return leaf(work, first, execution);
    }
    let (handed_on, own) = fp_status::observe(|| leaf(work, first, execution));
    handed_on | own
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_are_reused_and_sized() {
        let a = pool(3).unwrap();
        let b = pool(3).unwrap();
        assert!(std::ptr::eq(a, b));
        assert_eq!(a.current_num_threads(), 3);
    }

    #[test]
    fn work_starts_on_the_calling_thread_and_splits_only_in_parallel() {
        let caller = std::thread::current().id();
        let large = CALLER_SHARES_BELOW;
        for (workers, elements) in [
            (2, 10),
            (1, 1 << 20),
            (2, 1 << 20),
            (3, 1 << 20),
            (2, large),
        ] {
            let ((parallel, id), _) = run(workers, elements, |e| {
                (e.is_parallel(), std::thread::current().id())
            })
            .unwrap();
            assert_eq!(id == caller, workers == 1 || elements < large);
            assert_eq!(parallel, workers > 1 && elements >= PARALLEL_THRESHOLD);
        }
        // A large call runs inside the pool of all its workers.
        let (name, _) = run(2, large, |_| {
            std::thread::current().name().map(str::to_owned)
        })
        .unwrap();
        assert!(name.unwrap().starts_with("ndgradient-"));
        // Split: the caller's share here, serially; the rest on the helpers.
        let ((here, there), _) = run(2, 1 << 20, |e| {
            e.join(
                |e| (e.is_parallel(), std::thread::current().id()),
                |e| {
                    (
                        e.is_parallel(),
                        std::thread::current().name().map(str::to_owned),
                    )
                },
            )
        })
        .unwrap();
        assert_eq!(here, (false, caller));
        assert!(there.0 && there.1.unwrap().starts_with("ndgradient-"));
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
        // Two calling threads share a pool of 2 helpers: a helper waiting in one call's
        // `join` runs the other call's queued work. Only one call's leaves raise an error;
        // the other must not see it, however the work was interleaved.
        let leaf = |raises: bool| {
            move |w: Units, _: usize, _: Execution| {
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
            let (flags, own) = run(3, 1 << 20, |execution| {
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
        let caller = std::thread::current().id();
        let record = |w: Units, first: usize, e: Execution| {
            assert_eq!(w.0.start, first);
            let here = std::thread::current().id() == caller;
            leaves.lock().unwrap().push((w.0, here, e.is_parallel()));
            FpFlags::NONE
        };
        halves(Units(0..1000), 0, 1, 100, Execution::Serial, &record);
        assert_eq!(*leaves.lock().unwrap(), vec![(0..1000, true, false)]);
        for helpers in [1, 2, 3] {
            leaves.lock().unwrap().clear();
            let parallel = Execution::Parallel(pool(helpers).unwrap());
            halves(Units(0..1000), 0, 1, 100, parallel, &record);
            let mut got = std::mem::take(&mut *leaves.lock().unwrap());
            got.sort_by_key(|r| r.0.start);
            // The caller's share first, whole and serial; the helpers' in pieces.
            let share = 1000 / (helpers + 1);
            assert_eq!(got[0], (0..share, true, false), "{helpers} helpers");
            assert!(got[1..].iter().all(|r| r.0.len() < 200 && !r.1 && r.2));
            assert!(got.windows(2).all(|w| w[0].0.end == w[1].0.start));
            assert_eq!(got.last().unwrap().0.end, 1000);
        }
    }
}
