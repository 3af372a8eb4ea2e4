//! The bookkeeping of ndgradient's output pool: which idle blocks are kept, by length, within
//! a cap in bytes. Blocks are plain addresses here; the binding's `memory` module maps and
//! unmaps them and is the only code that reads or writes through them.
//!
//! The pool takes no lock. Each slot is claimed with a compare-and-swap and never waited on:
//! a thread that finds a slot busy moves on. A child made by `fork()` while another thread
//! was inside the pool therefore never hangs: it sees that slot busy forever and only loses
//! the use of one block. Every operation is bounded by the number of slots.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

/// How many idle blocks the pool can keep at most (a call's outputs are one block per
/// differentiated axis, so a few calls' worth).
pub const SLOTS: usize = 16;

/// The slot states. A slot is `BUSY` only while one thread writes or reads its fields.
const EMPTY: u8 = 0;
const BUSY: u8 = 1;
const FULL: u8 = 2;

/// The pool's cap, from the environment variable's text: `Automatic` if unset or not a number
/// of bytes, `Fixed(0)` turns the pool off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cap {
    /// At most the large outputs of the latest pooled call are kept idle.
    Automatic,
    /// At most this many bytes are kept idle.
    Fixed(usize),
}

impl Cap {
    /// Reads the cap from the environment variable's value (`None` when unset). Leading and
    /// trailing spaces are ignored; anything but a non-negative integer means `Automatic`, as
    /// an unreadable `NDGRADIENT_NUM_THREADS` means the default worker count.
    pub fn parse(value: Option<&str>) -> Cap {
        match value.map(|v| v.trim().parse::<usize>()) {
            Some(Ok(bytes)) => Cap::Fixed(bytes),
            _ => Cap::Automatic,
        }
    }

    /// Whether blocks are pooled at all.
    pub fn enabled(self) -> bool {
        self != Cap::Fixed(0)
    }
}

#[derive(Debug)]
struct Slot {
    state: AtomicU8,
    addr: AtomicUsize,
    len: AtomicUsize,
}

impl Slot {
    const fn new() -> Slot {
        Slot {
            state: AtomicU8::new(EMPTY),
            addr: AtomicUsize::new(0),
            len: AtomicUsize::new(0),
        }
    }

    /// Claims the slot if it is in state `from`.
    fn claim(&self, from: u8) -> bool {
        self.state
            .compare_exchange(from, BUSY, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }
}

/// Idle blocks by length, within a cap on their total bytes.
#[derive(Debug)]
pub struct Pool {
    slots: [Slot; SLOTS],
    /// Bytes of the blocks kept (reserved before a block enters its slot).
    pooled: AtomicUsize,
    /// The most bytes kept idle.
    cap: AtomicUsize,
}

impl Pool {
    /// An empty pool that keeps at most `cap` bytes.
    pub const fn new(cap: usize) -> Pool {
        Pool {
            slots: [const { Slot::new() }; SLOTS],
            pooled: AtomicUsize::new(0),
            cap: AtomicUsize::new(cap),
        }
    }

    /// The bytes of the blocks kept idle.
    pub fn pooled_bytes(&self) -> usize {
        self.pooled.load(Ordering::Relaxed)
    }

    /// The number of blocks kept idle.
    pub fn blocks(&self) -> usize {
        let full = |s: &&Slot| s.state.load(Ordering::Relaxed) == FULL;
        self.slots.iter().filter(full).count()
    }

    /// The most bytes kept idle.
    pub fn cap(&self) -> usize {
        self.cap.load(Ordering::Relaxed)
    }

    /// Sets the most bytes kept idle; blocks already kept beyond it stay until [`Pool::trim`].
    pub fn set_cap(&self, cap: usize) {
        self.cap.store(cap, Ordering::Relaxed);
    }

    /// Takes an idle block of exactly `len` bytes, if one is kept.
    pub fn take(&self, len: usize) -> Option<usize> {
        for slot in &self.slots {
            if slot.state.load(Ordering::Relaxed) != FULL || slot.len.load(Ordering::Relaxed) != len
            {
                continue;
            }
            if !slot.claim(FULL) {
                continue;
            }
            // Another thread may have emptied and refilled the slot between the look and the
            // claim: the length is read again under the claim.
            if slot.len.load(Ordering::Relaxed) != len {
                slot.state.store(FULL, Ordering::Release);
                continue;
            }
            let addr = slot.addr.load(Ordering::Relaxed);
            slot.state.store(EMPTY, Ordering::Release);
            self.pooled.fetch_sub(len, Ordering::Relaxed);
            return Some(addr);
        }
        None
    }

    /// Keeps the block at `addr` of `len` bytes if it fits under the cap and a slot is free.
    /// Otherwise the block is handed back (`Some(addr)`) for the caller to release.
    pub fn put(&self, addr: usize, len: usize) -> Option<usize> {
        let cap = self.cap();
        let fits = |pooled: usize| pooled.checked_add(len).filter(|&total| total <= cap);
        if self
            .pooled
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, fits)
            .is_err()
        {
            return Some(addr);
        }
        for slot in &self.slots {
            if slot.claim(EMPTY) {
                slot.addr.store(addr, Ordering::Relaxed);
                slot.len.store(len, Ordering::Relaxed);
                slot.state.store(FULL, Ordering::Release);
                return None;
            }
        }
        self.pooled.fetch_sub(len, Ordering::Relaxed);
        Some(addr)
    }

    /// Takes any idle block, `(addr, len)`, if one is kept.
    pub fn take_any(&self) -> Option<(usize, usize)> {
        for slot in &self.slots {
            if slot.state.load(Ordering::Relaxed) == FULL && slot.claim(FULL) {
                let (addr, len) = (
                    slot.addr.load(Ordering::Relaxed),
                    slot.len.load(Ordering::Relaxed),
                );
                slot.state.store(EMPTY, Ordering::Release);
                self.pooled.fetch_sub(len, Ordering::Relaxed);
                return Some((addr, len));
            }
        }
        None
    }

    /// Hands idle blocks to `release` until at most `bytes` stay kept; returns the bytes
    /// released. Blocks another thread is moving at that moment stay.
    pub fn trim(&self, bytes: usize, mut release: impl FnMut(usize, usize)) -> usize {
        let mut released = 0;
        while self.pooled_bytes() > bytes {
            match self.take_any() {
                Some((addr, len)) => {
                    release(addr, len);
                    released += len;
                }
                None => break,
            }
        }
        released
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_from_the_environment() {
        assert_eq!(Cap::parse(None), Cap::Automatic);
        assert_eq!(Cap::parse(Some("0")), Cap::Fixed(0));
        assert_eq!(Cap::parse(Some(" 1048576 ")), Cap::Fixed(1 << 20));
        assert_eq!(Cap::parse(Some("lots")), Cap::Automatic);
        assert_eq!(Cap::parse(Some("-1")), Cap::Automatic);
        assert!(!Cap::Fixed(0).enabled());
        assert!(Cap::Fixed(1).enabled() && Cap::Automatic.enabled());
    }

    #[test]
    fn a_kept_block_is_taken_by_its_length_only() {
        let pool = Pool::new(100);
        assert_eq!(pool.put(0x1000, 40), None);
        assert_eq!((pool.pooled_bytes(), pool.blocks()), (40, 1));
        assert_eq!(pool.take(41), None);
        assert_eq!(pool.take(40), Some(0x1000));
        assert_eq!(pool.take(40), None);
        assert_eq!((pool.pooled_bytes(), pool.blocks()), (0, 0));
    }

    #[test]
    fn blocks_beyond_the_cap_are_handed_back() {
        let pool = Pool::new(100);
        assert_eq!(pool.put(0x1000, 60), None);
        assert_eq!(pool.put(0x2000, 60), Some(0x2000));
        assert_eq!(pool.put(0x3000, 40), None);
        assert_eq!(pool.pooled_bytes(), 100);
        assert_eq!(pool.put(0x4000, usize::MAX), Some(0x4000)); // no overflow
        let off = Pool::new(0);
        assert_eq!(off.put(0x1000, 1), Some(0x1000));
    }

    #[test]
    fn blocks_beyond_the_slots_are_handed_back() {
        let pool = Pool::new(usize::MAX);
        for i in 0..SLOTS {
            assert_eq!(pool.put(0x1000 * (i + 1), 8), None);
        }
        assert_eq!(pool.put(0xdead000, 8), Some(0xdead000));
        assert_eq!((pool.pooled_bytes(), pool.blocks()), (8 * SLOTS, SLOTS));
    }

    #[test]
    fn trimming_releases_down_to_the_bytes_asked() {
        let pool = Pool::new(1000);
        for (addr, len) in [(0x1000, 100), (0x2000, 200), (0x3000, 300)] {
            assert_eq!(pool.put(addr, len), None);
        }
        let mut released = Vec::new();
        let bytes = pool.trim(250, |addr, len| released.push((addr, len)));
        assert!(pool.pooled_bytes() <= 250);
        assert_eq!(bytes, 600 - pool.pooled_bytes());
        assert_eq!(released.iter().map(|r| r.1).sum::<usize>(), bytes);
        let rest = pool.pooled_bytes();
        assert_eq!(pool.trim(0, |_, _| {}), rest);
        assert_eq!((pool.pooled_bytes(), pool.blocks()), (0, 0));
    }

    #[test]
    fn a_busy_slot_is_skipped_never_waited_on() {
        // What a child made by fork() sees if another thread was inside the pool.
        let pool = Pool::new(1000);
        assert_eq!(pool.put(0x1000, 10), None);
        pool.slots[0].state.store(BUSY, Ordering::Relaxed);
        assert_eq!(pool.take(10), None);
        assert_eq!(pool.take_any(), None);
        assert_eq!(pool.trim(0, |_, _| {}), 0);
        assert_eq!(pool.put(0x2000, 10), None); // the next slot
        assert_eq!(pool.take(10), Some(0x2000));
    }

    #[test]
    fn threads_never_lose_or_share_a_block() {
        let pool = Pool::new(usize::MAX);
        let taken = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for t in 0..4 {
                let (pool, taken) = (&pool, &taken);
                s.spawn(move || {
                    for i in 0..10_000usize {
                        let addr = (t * 1_000_000 + i + 1) * 64;
                        let len = 64 * (1 + i % 3);
                        let mut held = pool.take(len).unwrap_or(addr);
                        if let Some(back) = pool.put(held, len) {
                            held = back;
                            assert_eq!(held % 64, 0);
                        }
                        taken.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        assert_eq!(taken.load(Ordering::Relaxed), 40_000);
        let mut kept = Vec::new();
        while let Some(block) = pool.take_any() {
            kept.push(block);
        }
        let count = kept.len();
        kept.sort_unstable();
        kept.dedup();
        assert_eq!(kept.len(), count, "a block was kept twice");
        assert_eq!(pool.pooled_bytes(), 0);
    }
}
