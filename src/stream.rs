//! How a contiguous run of results reaches memory: by ordinary stores, or by streaming
//! (non-temporal) stores that write whole cache lines without first reading them.
//!
//! An ordinary store to a line not in cache reads the line from memory first (a "read for
//! ownership"), so an output larger than the cache costs its size twice in memory traffic,
//! and evicts the input the next rows need. A streaming store sends full lines straight to
//! memory. It pays only for outputs that would not stay in cache anyway: the walk streams an
//! output larger than [`MIN_STREAMED_BYTES`] and stores smaller ones as usual.
//!
//! In a streamed run, the results are computed a cache line at a time into a line-sized
//! buffer (by the same code as ordinary runs, so the bits are the same), which is copied out
//! at once with four 16-byte streaming stores (SSE2: every x86-64 processor has them, no
//! detection is needed); the elements before the first line boundary and after the last
//! are stored as usual. Measured on a Zen 3 machine, 2 threads differencing 4096 rows of
//! 4096 float64: ordinary stores 22.2 ms, line by line 15.9 ms, and a 256-element buffer
//! streamed in one go 19.8 ms (medians of 40, interleaved). Elsewhere than x86-64, and where
//! an output is not aligned to its elements, [`fill`] stores as usual.
//!
//! Streaming stores are weakly ordered: other threads may see them late unless the thread
//! that made them runs a store fence (`sfence`) first. [`fill`] owns the output for the whole
//! run and fences before it returns, so no other code can see the run half-written: the one
//! fence per run is cheap against a run worth streaming ([`MIN_STREAMED_RUN_BYTES`]).
//!
//! The intrinsics take raw pointers, so they are `unsafe` by the language's rule however
//! they are used: this module's `unsafe` code is the copy of one line and a fence (the core's
//! other is in [`crate::fp_status`] and [`crate::wide`]).
#![allow(unsafe_code)]

use std::ops::Range;

/// Outputs of fewer bytes than this are stored as usual: they may stay in the caches (the
/// largest last-level caches of the machines this runs on are 32 to 512 MiB, but most of a
/// cache is the input's and other data's) and be read from there by what comes next.
pub const MIN_STREAMED_BYTES: usize = 32 << 20;

/// Runs of fewer bytes than this are stored as usual even in a streamed output: the fence
/// that ends a streamed run waits for its last lines to reach memory. (Streaming the 2 KiB
/// rows of a 256³ call too, 1 KiB up, measured 10% slower than leaving them cached.)
pub const MIN_STREAMED_RUN_BYTES: usize = 16 << 10;

/// Elements computed at a time where stores are ordinary.
pub const BLOCK: usize = 256;

/// How an output's values are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// Ordinary stores.
    Cached,
    /// Streaming stores, for runs of at least [`MIN_STREAMED_RUN_BYTES`].
    Streamed,
}

impl Store {
    /// How an output of `bytes` bytes is stored: streamed from [`MIN_STREAMED_BYTES`] up.
    pub fn for_output(bytes: usize) -> Store {
        if bytes >= MIN_STREAMED_BYTES && cfg!(target_arch = "x86_64") {
            Store::Streamed
        } else {
            Store::Cached
        }
    }
}

/// Fills `out` a block of at most [`BLOCK`] elements at a time: `compute(range, block)`
/// writes the values of `out[range]` into `block` (of `range.len()` elements). Where `store`
/// streams and the run is long enough, each whole cache line of `out` is a block of its own,
/// computed into a line buffer and streamed out; otherwise the blocks are `out`'s own
/// elements. Always inlined, so that a caller compiled for wider vectors (`crate::wide`)
/// compiles these loops for them too.
#[inline(always)]
pub fn fill<T: Copy + Default>(
    out: &mut [T],
    store: Store,
    mut compute: impl FnMut(Range<usize>, &mut [T]),
) {
    /// `out[range]` a block at a time, by ordinary stores.
    #[inline(always)]
    fn blocks<T>(
        out: &mut [T],
        range: Range<usize>,
        compute: &mut impl FnMut(Range<usize>, &mut [T]),
    ) {
        for start in range.clone().step_by(BLOCK) {
            let stop = (start + BLOCK).min(range.end);
            compute(start..stop, &mut out[start..stop]);
        }
    }
    let streams = store == Store::Streamed
        && std::mem::size_of_val(out) >= MIN_STREAMED_RUN_BYTES
        && streaming::possible(out);
    if !streams {
        return blocks(out, 0..out.len(), &mut compute);
    }
    // Up to the first cache line, as usual; then line by line, each line computed into a
    // line-sized buffer and streamed at once (measured: a larger buffer streamed in one go
    // gains nothing over ordinary stores); the rest as usual.
    let per_line = streaming::LINE / std::mem::size_of::<T>();
    let head = streaming::aligned_from(out).min(out.len());
    let lines = (out.len() - head) / per_line;
    blocks(out, 0..head, &mut compute);
    let mut line = [T::default(); streaming::LINE];
    let line = &mut line[..per_line];
    for first in (head..head + lines * per_line).step_by(per_line) {
        compute(first..first + per_line, line);
        streaming::store_line(&mut out[first..first + per_line], line);
    }
    let tail = head + lines * per_line;
    blocks(out, tail..out.len(), &mut compute);
    streaming::fence();
}

#[cfg(target_arch = "x86_64")]
mod streaming {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_sfence, _mm_stream_si128};
    use std::mem::{align_of, size_of};

    /// A cache line, the unit streamed at once.
    pub const LINE: usize = 64;

    /// Whether `out` can be reached by aligned line stores from some element on: its
    /// elements are a whole fraction of a line and aligned to their size.
    pub fn possible<T>(out: &[T]) -> bool {
        let size = size_of::<T>();
        size > 0
            && LINE % size == 0
            && (out.as_ptr() as usize) % size == 0
            && align_of::<T>() <= LINE
    }

    /// The index of `out`'s first element at a line boundary (`out` is [`possible`]).
    pub fn aligned_from<T>(out: &[T]) -> usize {
        let address = out.as_ptr() as usize;
        (address.next_multiple_of(LINE) - address) / size_of::<T>()
    }

    /// `out.copy_from_slice(values)` by streaming stores, for a line-aligned `out` of one
    /// line.
    #[inline(always)]
    pub fn store_line<T: Copy>(out: &mut [T], values: &[T]) {
        assert!(size_of_val(out) == LINE && size_of_val(values) == LINE);
        assert_eq!(out.as_ptr() as usize % LINE, 0);
        let destination = out.as_mut_ptr().cast::<__m128i>();
        let source = values.as_ptr().cast::<__m128i>();
        for part in 0..LINE / 16 {
            // SAFETY: `destination` and `source` point to one 64-byte line each (asserted),
            // which the borrows keep alive and unaliased, so both `add(part)` for `part < 4`
            // stay inside; `destination` is 64-byte aligned (asserted), more than
            // `_mm_stream_si128` requires, and `_mm_loadu_si128` takes any alignment. The
            // bytes are copies of `T`s (`Copy`), so the line holds valid `T`s. SSE2, the
            // only feature used, is part of x86-64. No safe API issues this store.
            unsafe {
                _mm_stream_si128(destination.add(part), _mm_loadu_si128(source.add(part)));
            }
        }
    }

    /// Orders this thread's streaming stores before its later stores, so that a thread that
    /// synchronises with it afterwards sees them.
    pub fn fence() {
        // SAFETY: `sfence` only orders stores; it reads and writes no memory. SSE, the only
        // feature used, is part of x86-64. std offers it only as this unsafe intrinsic.
        unsafe { _mm_sfence() }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod streaming {
    //! No streaming stores: [`Store::for_output`](super::Store::for_output) never streams.
    pub const LINE: usize = 64;
    pub fn possible<T>(_: &[T]) -> bool {
        false
    }
    pub fn aligned_from<T>(_: &[T]) -> usize {
        0
    }
    pub fn store_line<T: Copy>(out: &mut [T], values: &[T]) {
        out.copy_from_slice(values);
    }
    pub fn fence() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_complex::Complex;

    /// `fill` of `out[offset..]` with `value(i)` at `i`, checked against it and for the
    /// elements around it left alone.
    fn check<T: Copy + Default + PartialEq + std::fmt::Debug>(
        len: usize,
        offset: usize,
        store: Store,
        value: impl Fn(usize) -> T,
        sentinel: T,
    ) {
        let mut memory = vec![sentinel; len + offset + 3];
        let mut calls = Vec::new();
        fill(&mut memory[offset..offset + len], store, |range, block| {
            assert_eq!(range.len(), block.len());
            assert!(!block.is_empty() && block.len() <= BLOCK);
            for (b, i) in block.iter_mut().zip(range.clone()) {
                *b = value(i);
            }
            calls.push(range);
        });
        assert!(calls.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!(calls.first().map_or(0, |r| r.start), 0);
        assert_eq!(calls.last().map_or(0, |r| r.end), len);
        for (i, &m) in memory.iter().enumerate() {
            let expected = if (offset..offset + len).contains(&i) {
                value(i - offset)
            } else {
                sentinel
            };
            assert_eq!(m, expected, "len {len} offset {offset} at {i}");
        }
    }

    #[test]
    fn every_length_and_alignment_is_filled_exactly() {
        let lengths = [0, 1, 2, 3, 255, 256, 257, 2047, 2048, 2049, 5000, 20_011];
        for &len in &lengths {
            for offset in 0..9 {
                for store in [Store::Cached, Store::Streamed] {
                    check(len, offset, store, |i| i as f64 * 0.5 - 3.0, -7.0);
                    check(len, offset, store, |i| i as f32 + 0.25, -7.0);
                    check(
                        len,
                        offset,
                        store,
                        |i| half::f16::from_f32(i as f32),
                        half::f16::from_f32(-7.0),
                    );
                    check(
                        len,
                        offset,
                        store,
                        |i| Complex::new(i as f64, -(i as f64)),
                        Complex::new(-7.0, -7.0),
                    );
                    check(len, offset, store, |i| [i as u8; 3], [9; 3]);
                }
            }
        }
    }

    #[test]
    fn only_large_outputs_stream() {
        assert_eq!(Store::for_output(MIN_STREAMED_BYTES - 1), Store::Cached);
        let large = Store::for_output(MIN_STREAMED_BYTES);
        assert_eq!(large == Store::Streamed, cfg!(target_arch = "x86_64"));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn streaming_starts_at_the_first_aligned_element() {
        let memory = [0.0f64; 16];
        for offset in 0..8 {
            let run = &memory[offset..];
            assert!(streaming::possible(run));
            let first = streaming::aligned_from(run);
            assert!(first < 8);
            assert_eq!((run[first..].as_ptr() as usize) % 64, 0);
        }
        // Three-byte elements: no 16-byte store holds them whole.
        assert!(!streaming::possible(&[[0u8; 3]; 8]));
    }
}
