//! Loops compiled for wider vectors where the processor has them.
//!
//! The crate is compiled for x86-64's baseline, whose vectors (SSE2) hold two `f64`. Loops
//! over data larger than the caches wait on memory and gain nothing from wider ones, but the
//! coordinate weights divide three times per point, and a division's cost is per
//! instruction: AVX's instructions divide four `f64` (eight `f32`) at once. Measured on a
//! Zen 4 machine, one thread, NumPy's coordinate stencil in C over 65536 points in cache:
//! 1.98 ns a point for SSE2, 1.00 with AVX2, 0.94 with AVX-512. The uniform stencil's
//! differences gain where their data is in cache (Zen 3, one thread, `out=`: 1-D 1e5 0.70x
//! the time, 512² both axes 0.90x, int64 512² 0.87x; 2048² and larger unchanged).
//!
//! [`run`] and [`pieces`] compile their closure a second time for AVX2 and call that copy
//! where the processor has AVX2 (checked once by the standard library, then a load). The
//! results are the same bits: a wider instruction computes each lane by the same IEEE
//! operation, and nothing is contracted into a fused multiply-add (Rust never contracts, and
//! FMA is not enabled). Only code inlined into the closure is compiled twice: a call it makes
//! to a function not inlined runs that function's baseline code.
//!
//! The same bits, but not always the same flags, in code for single points: given AVX's
//! lane inserts, LLVM packs the three divisions of one point into a vector whose spare lane
//! holds zero, and 0/0 there raises "invalid" for data that has no error (seen for `f32`
//! coordinates; SSE2 code can do the same). [`pieces`] therefore splits a run into pieces of
//! a constant [`PIECE`] points, which the loops divide into whole vectors with no remainder
//! for single points, and hands the last points (fewer than a piece) to the caller, which
//! computes them without packed divisions.
//!
//! Calling a function compiled for features the caller lacks is `unsafe` by the language's
//! rule, whatever the function does, so this module allows `unsafe` for that one call, after
//! the check that makes it sound.
#![allow(unsafe_code)]

use std::ops::Range;

/// The points of one piece: a multiple of every vector width times the unrolling LLVM
/// chooses (at most 8 `f32` lanes times 4).
pub const PIECE: usize = 64;

/// `work(range)` over ranges that cover `0..len` in order: ranges of exactly [`PIECE`]
/// points, compiled for AVX2 where `wide` and the processor has it, then the rest (fewer
/// than a piece, possibly none) by the baseline's code.
#[inline(always)]
pub fn pieces(wide: bool, len: usize, mut work: impl FnMut(Range<usize>)) {
    let whole = len / PIECE * PIECE;
    run(
        wide && whole > 0,
        #[inline(always)]
        || in_pieces(whole, &mut work),
    );
    if whole < len {
        work(whole..len);
    }
}

/// `work()`, compiled for AVX2 where `wide` and the processor has it, by the baseline's
/// code otherwise. `work` must not compute single points by packed divisions (see the
/// module's notes): [`pieces`] is the way for loops that do.
#[inline(always)]
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
pub fn run<R>(wide: bool, work: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if wide && has_avx2() {
        // SAFETY: `avx2` is compiled for AVX2 and needs nothing else; the processor has AVX2
        // (and the operating system saves its registers), as `has_avx2` just checked.
        // Callers pass closures marked `#[inline(always)]`, so that `work`'s loops are
        // compiled into `avx2`, not called from it.
        return unsafe { avx2(work) };
    }
    work()
}

/// `work(range)` over the whole pieces of `0..whole`.
#[inline(always)]
fn in_pieces(whole: usize, work: &mut impl FnMut(Range<usize>)) {
    for start in (0..whole).step_by(PIECE) {
        work(start..start + PIECE);
    }
}

/// Whether the processor (and the operating system) support AVX2.
#[inline(always)]
pub fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx2");
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

/// `work()`, with `work`'s inlined code compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn avx2<R>(work: impl FnOnce() -> R) -> R {
    work()
}
