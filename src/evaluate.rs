//! The arithmetic of a stencil over a run of points, for views of any dimension and strides.
//!
//! A run of points along an axis reads, for each tap, the input shifted by the tap's offset:
//! a view of the run's shape. Every formula is then an element-by-element combination of
//! those views (with `Zip`), or a sum of them computed a block at a time where there are many
//! taps or the weights change from point to point. Whatever the walk hands over (a whole row,
//! a single hyperplane, a chunk of short rows), every element is computed by the same
//! operations in the same order, so the result does not depend on how the work was cut.

use crate::dtypes::{Dtypes, Weight};
use crate::element::{exact_reciprocal, Cast, Field, Half, Loops, Real, RealView};
use crate::stencil::{
    interior_fractions, interior_weights, interior_weights_of_steps, Formula, Stencil, Term,
    Weights, MAX_TAPS,
};
use crate::stream::{self, Store};
use crate::wide;
use ndarray::{
    ArrayView, ArrayView1, ArrayViewMut, ArrayViewMut1, Axis, Dimension, Ix1, Slice, Zip,
};
use std::ops::Range;

/// Points whose weights, or partial sums, are computed together: a streamed block.
const BLOCK: usize = stream::BLOCK;

/// Writes the derivative at `points` along `axis` into `out`, whose index 0 along `axis` is
/// point `out_first`. `f` spans the whole axis, and along the other axes what `out` spans.
/// Contiguous runs of `out` are stored as `store` says.
pub(crate) fn points<N: Dtypes, D: Dimension>(
    f: &ArrayView<'_, N::Stored, D>,
    out: &mut ArrayViewMut<'_, N::Data, D>,
    out_first: usize,
    axis: Axis,
    stencil: &Stencil<'_, Weight<N>>,
    points: Range<usize>,
    store: Store,
) {
    let len = stencil.len();
    for piece in stencil.pieces() {
        let (a, b) = (
            piece.points.start.max(points.start),
            piece.points.end.min(points.end),
        );
        if a >= b {
            continue;
        }
        let at = |start: usize, count: usize| Slice::from(start..start + count);
        if piece.wrap {
            // Wrapped taps are not a shifted run: one point at a time.
            for i in a..b {
                let out_i = out.slice_axis_mut(axis, at(i - out_first, 1));
                let source = |k: usize| f.slice_axis(axis, at(piece.source(i, k, len), 1));
                apply::<N, D>(out_i, &source, &piece.formula, i, axis, store);
            }
        } else {
            let out_run = out.slice_axis_mut(axis, at(a - out_first, b - a));
            let source = |k: usize| f.slice_axis(axis, at(piece.source(a, k, len), b - a));
            apply::<N, D>(out_run, &source, &piece.formula, a, axis, store);
        }
    }
}

/// The views of one run: tap `k`'s input, shaped like the run's output.
type Source<'s, 'f, S, D> = &'s dyn Fn(usize) -> ArrayView<'f, S, D>;

/// Writes `formula` over a run whose first point is `first`.
fn apply<N: Dtypes, D: Dimension>(
    out: ArrayViewMut<'_, N::Data, D>,
    source: Source<'_, '_, N::Stored, D>,
    formula: &Formula<'_, Weight<N>>,
    first: usize,
    axis: Axis,
    store: Store,
) {
    match formula {
        Formula::Quotient { divisor } => quotient::<N, D>(out, source, *divisor, store),
        // Sums are stored as usual whatever `store` says: streamed a line at a time, their
        // loops were measured slower than ordinary stores (accuracy=4 on 2048² 20.5 against
        // 26 ms, coordinates 1e7 17 against 35 ms), and streamed from a larger buffer they
        // gain nothing (`stream`).
        Formula::Sum { term, weights } => match term {
            Term::Promoted => sum::<N, D, Promote>(out, source, weights, first, axis),
            Term::PromotedScalar => sum::<N, D, PromoteScalar>(out, source, weights, first, axis),
            Term::Scaled => sum::<N, D, Scale>(out, source, weights, first, axis),
        },
    }
}

/// `(f[i + 1] - f[i - 1]) / divisor` (or a one-sided difference) over a run.
fn quotient<N: Dtypes, D: Dimension>(
    mut out: ArrayViewMut<'_, N::Data, D>,
    source: Source<'_, '_, N::Stored, D>,
    divisor: Weight<N>,
    store: Store,
) {
    let (lo, hi) = (source(0), source(1));
    if let (Some(o), Some(lo), Some(hi)) = (out.as_slice_mut(), lo.as_slice(), hi.as_slice()) {
        return contiguous_quotient::<N>(o, lo, hi, divisor, store, true);
    }
    let zip = Zip::from(out).and(&lo).and(&hi);
    match exact_reciprocal_of::<N>(divisor) {
        Some(r) => zip.for_each(|o, &lo, &hi| *o = N::reciprocal_quotient(lo, hi, r)),
        None => zip.for_each(|o, &lo, &hi| *o = N::quotient(lo, hi, divisor)),
    }
}

/// The reciprocal by which [`Dtypes::reciprocal_quotient`] gives the bits of a division by
/// `divisor`, if there is one. Division is the slowest step of a quotient (a few cycles per
/// element, vectorised or not); by a power of two (the default spacing's 2.0 and 1.0) real
/// types get the same bits from a multiplication by the exact reciprocal.
fn exact_reciprocal_of<N: Dtypes>(divisor: Weight<N>) -> Option<Weight<N>> {
    exact_reciprocal(divisor).filter(|_| <N::Compute as Field>::DIVIDES_AS_RECIPROCAL_MULTIPLIES)
}

/// [`quotient`] of contiguous runs: `out[i] = (hi[i] - lo[i]) / divisor`, stored as `store`
/// says, compiled for AVX2 where `wide` and the processor has it. Where the data is in
/// cache these loops wait on their instructions, which AVX2's vectors halve (figures in
/// `wide`). Each element is one subtraction and one multiplication or division, so no
/// vector lane is ever spare (see `wide`).
fn contiguous_quotient<N: Dtypes>(
    out: &mut [N::Data],
    lo: &[N::Stored],
    hi: &[N::Stored],
    divisor: Weight<N>,
    store: Store,
    wide: bool,
) {
    let reciprocal = exact_reciprocal_of::<N>(divisor);
    wide::run(
        wide,
        #[inline(always)]
        || match reciprocal {
            Some(r) => stream::fill(out, store, |range, block| {
                let pairs = lo[range.clone()].iter().zip(&hi[range]);
                for (b, (&lo, &hi)) in block.iter_mut().zip(pairs) {
                    *b = N::reciprocal_quotient(lo, hi, r);
                }
            }),
            None => stream::fill(out, store, |range, block| {
                let pairs = lo[range.clone()].iter().zip(&hi[range]);
                for (b, (&lo, &hi)) in block.iter_mut().zip(pairs) {
                    *b = N::quotient(lo, hi, divisor);
                }
            }),
        },
    );
}

/// One [`Term`]'s multiplication and sum, as a type, so that the loops below are compiled
/// once per term with nothing to decide per element.
pub(crate) trait Multiply {
    /// Where NumPy computes the sum of the terms.
    const LOOPS: Loops;
    /// `weight * value`.
    fn apply<F: Field>(value: F, weight: F::Real) -> F;
    /// `sum + term`.
    #[inline(always)]
    fn add<F: Field>(sum: F, term: F) -> F {
        sum.add(term, Self::LOOPS)
    }
    /// [`apply`](Multiply::apply) without its NaN rule: the same bits wherever the result
    /// is not NaN (see [`Field::add_unordered`]).
    fn apply_unordered<F: Field>(value: F, weight: F::Real) -> F;
}

/// [`Term::Promoted`].
pub(crate) struct Promote;
/// [`Term::PromotedScalar`].
pub(crate) struct PromoteScalar;
/// [`Term::Scaled`].
pub(crate) struct Scale;

impl Multiply for Promote {
    const LOOPS: Loops = Loops::Arrays;
    #[inline(always)]
    fn apply<F: Field>(value: F, weight: F::Real) -> F {
        value.mul_real(weight, Loops::Arrays)
    }
    #[inline(always)]
    fn apply_unordered<F: Field>(value: F, weight: F::Real) -> F {
        value.mul_real_unordered(weight)
    }
}

impl Multiply for PromoteScalar {
    const LOOPS: Loops = Loops::Scalars;
    #[inline(always)]
    fn apply<F: Field>(value: F, weight: F::Real) -> F {
        value.mul_real(weight, Loops::Scalars)
    }
    #[inline(always)]
    fn apply_unordered<F: Field>(value: F, weight: F::Real) -> F {
        value.mul_real_unordered(weight)
    }
}

impl Multiply for Scale {
    const LOOPS: Loops = Loops::Arrays;
    #[inline(always)]
    fn apply<F: Field>(value: F, weight: F::Real) -> F {
        value.scale(weight)
    }
    #[inline(always)]
    fn apply_unordered<F: Field>(value: F, weight: F::Real) -> F {
        value.scale_by_number(weight)
    }
}

/// `w0 * v0 + w1 * v1 + ...` over a run, with the run's weights.
fn sum<N: Dtypes, D: Dimension, M: Multiply>(
    mut out: ArrayViewMut<'_, N::Data, D>,
    source: Source<'_, '_, N::Stored, D>,
    weights: &Weights<'_, Weight<N>>,
    first: usize,
    axis: Axis,
) {
    if let Weights::Same(w) = weights {
        return same::<N, D, M>(out, source, w);
    }
    let taps = weights.taps();
    if out.ndim() == 1 {
        let out = out.into_dimensionality::<Ix1>().expect("1-D");
        let taps: Vec<ArrayView1<'_, N::Stored>> = (0..taps)
            .map(|k| source(k).into_dimensionality::<Ix1>().expect("1-D"))
            .collect();
        return lane::<N, M>(out, &taps, weights, first);
    }
    // Hyperplanes of an outer axis: one set of weights per hyperplane.
    let mut point = [Weight::<N>::default(); MAX_TAPS];
    for j in 0..out.len_of(axis) {
        weights.fill(first + j, 1, &mut point[..taps]);
        let one = Slice::from(j..j + 1);
        let plane = |k: usize| source(k).slice_axis_move(axis, one);
        same::<N, D, M>(out.slice_axis_mut(axis, one), &plane, &point[..taps]);
    }
}

/// `sums[j] = w[0] * taps[0][range][j] + w[1] * taps[1][range][j] + ...`, in NumPy's order
/// of operations; with its NaN rule if `ORDERED`, otherwise with the NaN the compiled code
/// gives (the same bits wherever a sum is not NaN).
#[inline(always)]
fn weighted_sums<N: Dtypes, M: Multiply, const ORDERED: bool>(
    sums: &mut Vec<N::Compute>,
    taps: &[&[N::Stored]],
    w: &[Weight<N>],
    range: Range<usize>,
) {
    let term = |v: N::Stored, w: Weight<N>| {
        if ORDERED {
            M::apply(N::load(v), w)
        } else {
            M::apply_unordered(N::load(v), w)
        }
    };
    let add = |sum: N::Compute, term: N::Compute| {
        if ORDERED {
            M::add(sum, term)
        } else {
            sum.add_unordered(term)
        }
    };
    sums.clear();
    sums.extend(taps[0][range.clone()].iter().map(|&v| term(v, w[0])));
    for (tap, &wk) in taps.iter().zip(w).skip(1) {
        for (s, &v) in sums.iter_mut().zip(&tap[range.clone()]) {
            *s = add(*s, term(v, wk));
        }
    }
}

/// A run whose points share their weights `w`, one per tap.
fn same<N: Dtypes, D: Dimension, M: Multiply>(
    mut out: ArrayViewMut<'_, N::Data, D>,
    source: Source<'_, '_, N::Stored, D>,
    w: &[Weight<N>],
) {
    let taps: Vec<_> = (0..w.len()).map(source).collect();
    let mut sums: Vec<N::Compute> = Vec::with_capacity(BLOCK);
    let slices: Option<Vec<&[N::Stored]>> = taps.iter().map(|t| t.as_slice()).collect();
    if let (Some(slices), Some(outputs)) = (slices, out.as_slice_mut()) {
        // Contiguous runs (rows, and the hyperplanes of a C or Fortran array): a block is
        // computed without NumPy's NaN selects, and again with them only if it made a NaN.
        stream::fill(outputs, Store::Cached, |range, block| {
            weighted_sums::<N, M, false>(&mut sums, &slices, w, range.clone());
            if sums.iter().any(|s| s.is_nan()) {
                weighted_sums::<N, M, true>(&mut sums, &slices, w, range);
            }
            for (o, s) in block.iter_mut().zip(&sums) {
                *o = s.cast();
            }
        });
        return;
    }
    let term = |v: N::Stored, w: Weight<N>| M::apply(N::load(v), w);
    if let [w0, w1, w2] = *w {
        Zip::from(out)
            .and(&taps[0])
            .and(&taps[1])
            .and(&taps[2])
            .for_each(|o, &a, &b, &c| {
                *o = M::add(M::add(term(a, w0), term(b, w1)), term(c, w2)).cast();
            });
        return;
    }
    // Any other layout: the views in their common logical order, a block at a time.
    let mut values: Vec<_> = taps.iter().map(|t| t.iter()).collect();
    let mut outputs = out.iter_mut();
    loop {
        sums.clear();
        sums.extend(values[0].by_ref().take(BLOCK).map(|&v| term(v, w[0])));
        if sums.is_empty() {
            break;
        }
        for (tap, &wk) in values.iter_mut().zip(w).skip(1) {
            for (s, &v) in sums.iter_mut().zip(tap.by_ref()) {
                *s = M::add(*s, term(v, wk));
            }
        }
        // The block first: zip must not pull an output it has no sum for.
        for (s, o) in sums.iter().zip(outputs.by_ref()) {
            *o = s.cast();
        }
    }
}

/// A run of a row whose weights change from point to point: NumPy's coordinate weights
/// computed in the loop that uses them where the row is contiguous, otherwise weights and
/// sums a block at a time (never an array of weights the size of the axis).
fn lane<N: Dtypes, M: Multiply>(
    mut out: ArrayViewMut1<'_, N::Data>,
    taps: &[ArrayView1<'_, N::Stored>],
    weights: &Weights<'_, Weight<N>>,
    first: usize,
) {
    let slices: Option<Vec<&[N::Stored]>> = taps.iter().map(|t| t.as_slice()).collect();
    let wide = wide::has_avx2();
    if let (Weights::NonUniform(x), Some(f), Some(o)) = (weights, &slices, out.as_slice_mut()) {
        let done = match x {
            RealView::F64(x) => non_uniform::<N, M, f64>(o, f, x.as_slice(), first, wide),
            RealView::F32(x) => non_uniform::<N, M, f32>(o, f, x.as_slice(), first, wide),
            RealView::F16(x) => non_uniform::<N, M, Half>(o, f, x.as_slice(), first, wide),
        };
        if done {
            return;
        }
    }
    let term = |v: N::Stored, w: Weight<N>| M::apply(N::load(v), w);
    let len = out.len();
    let count = taps.len();
    let mut w = vec![Weight::<N>::default(); count * BLOCK.min(len)];
    let mut sums: Vec<N::Compute> = Vec::with_capacity(BLOCK);
    for start in (0..len).step_by(BLOCK) {
        let n = (len - start).min(BLOCK);
        let w = &mut w[..count * n];
        weights.fill(first + start, n, w);
        let weight = |k: usize| &w[k * n..(k + 1) * n];
        sums.clear();
        sums.extend((0..n).map(|j| term(taps[0][start + j], weight(0)[j])));
        for (k, tap) in taps.iter().enumerate().skip(1) {
            let wk = weight(k);
            for (j, s) in sums.iter_mut().enumerate() {
                *s = M::add(*s, term(tap[start + j], wk[j]));
            }
        }
        for (j, s) in sums.iter().enumerate() {
            out[start + j] = s.cast();
        }
    }
}

/// NumPy's `a * f[i-1] + b * f[i] + c * f[i+1]` over contiguous points `first..` of a row,
/// with `a, b, c` computed from the coordinates `x` (of NumPy type `X`), in [`wide::pieces`]
/// compiled for wider vectors if `wide`. False, and nothing written, when the coordinates
/// are not contiguous.
fn non_uniform<N: Dtypes, M: Multiply, X: Real>(
    out: &mut [N::Data],
    f: &[&[N::Stored]],
    x: Option<&[X]>,
    first: usize,
    wide: bool,
) -> bool {
    let Some(x) = x else {
        return false;
    };
    let n = out.len();
    let (f0, f1, f2) = (&f[0][..n], &f[1][..n], &f[2][..n]);
    let x = &x[first - 1..first + n + 1];
    if std::mem::size_of::<X>() == std::mem::size_of::<Weight<N>>() {
        // Weights of the sums' own width: computed in the loop that uses them, so that the
        // divisions overlap the rest and no weight is stored (measured: 40 against 24 ms for
        // coordinates 1e7 computed apart). Whole pieces only: the last points' quotients are
        // computed one call each (`interior_weights`), never packed (see `wide`).
        stream::fill(out, Store::Cached, |range, block| {
            wide::pieces(
                wide,
                block.len(),
                #[inline(always)]
                |piece| {
                    let points = range.start + piece.start..range.start + piece.end;
                    let x = &x[points.start..points.end + 2];
                    let steps = |j: usize| (x[j + 1] - x[j], x[j + 2] - x[j + 1]);
                    let f = [&f0[points.clone()], &f1[points.clone()], &f2[points]];
                    let block = &mut block[piece];
                    if block.len() == wide::PIECE {
                        weighted_block::<N, M, X>(block, f, |j| {
                            let (dx1, dx2) = steps(j);
                            interior_fractions(dx1, dx2).map(|(n, d)| n / d)
                        });
                    } else {
                        weighted_block::<N, M, X>(block, f, |j| {
                            let (dx1, dx2) = steps(j);
                            interior_weights(dx1, dx2)
                        });
                    }
                },
            );
        });
        return true;
    }
    // Narrower weights (`f32` coordinates of `f64` data): a piece's weights in `X` first, by
    // loops of their own (`interior_weights_of_steps`), which fill every vector lane.
    let mut steps = [X::default(); wide::PIECE + 1];
    let mut weights = [[X::default(); wide::PIECE]; 3];
    stream::fill(out, Store::Cached, |range, block| {
        wide::pieces(
            wide,
            block.len(),
            #[inline(always)]
            |piece| {
                let m = piece.len();
                let points = range.start + piece.start..range.start + piece.end;
                let steps = &mut steps[..m + 1];
                for (s, pair) in steps
                    .iter_mut()
                    .zip(x[points.start..points.end + 2].windows(2))
                {
                    *s = pair[1] - pair[0];
                }
                let [a, b, c] = &mut weights;
                let (a, b, c) = (&mut a[..m], &mut b[..m], &mut c[..m]);
                interior_weights_of_steps(steps, a, b, c);
                let (a, b, c) = (&*a, &*b, &*c);
                let f = [&f0[points.clone()], &f1[points.clone()], &f2[points]];
                weighted_block::<N, M, X>(&mut block[piece], f, |j| [a[j], b[j], c[j]]);
            },
        );
    });
    true
}

/// `block[j] = a * f[0][j] + b * f[1][j] + c * f[2][j]`, where `weights(j)` gives `[a, b, c]`
/// in NumPy type `X`. NumPy's NaN order costs a select per operation: the block is computed
/// without it, and again with it only if it made a NaN (then some operand was one). Same bits
/// either way.
#[inline(always)]
fn weighted_block<N: Dtypes, M: Multiply, X: Real>(
    block: &mut [N::Data],
    f: [&[N::Stored]; 3],
    weights: impl Fn(usize) -> [X; 3],
) {
    let term = |v: N::Stored, w: X| M::apply(N::load(v), w.convert::<Weight<N>>());
    let unordered = |v: N::Stored, w: X| M::apply_unordered(N::load(v), w.convert::<Weight<N>>());
    let [f0, f1, f2] = f;
    let (f0, f1, f2) = (&f0[..block.len()], &f1[..block.len()], &f2[..block.len()]);
    let mut made_nan = false;
    for (j, o) in block.iter_mut().enumerate() {
        let [a, b, c] = weights(j);
        let sum = unordered(f0[j], a)
            .add_unordered(unordered(f1[j], b))
            .add_unordered(unordered(f2[j], c));
        made_nan |= sum.is_nan();
        *o = sum.cast();
    }
    if made_nan {
        for (j, o) in block.iter_mut().enumerate() {
            let [a, b, c] = weights(j);
            *o = M::add(M::add(term(f0[j], a), term(f1[j], b)), term(f2[j], c)).cast();
        }
    }
}

/// [`Term::apply`]'s multiplications, shared with the types above.
impl Term {
    /// `weight * value` by this term's multiplication.
    #[inline(always)]
    pub fn apply<F: Field>(self, value: F, weight: F::Real) -> F {
        match self {
            Term::Promoted => Promote::apply(value, weight),
            Term::PromotedScalar => PromoteScalar::apply(value, weight),
            Term::Scaled => Scale::apply(value, weight),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtypes::Promotion;
    use crate::fp_status::{self, FpFlags};

    /// Values of every kind (NaN, infinities, signed zeros, huge and tiny), drawn by a
    /// xorshift generator: index `i` of a sequence seeded with `seed`.
    fn values(seed: u64, n: usize) -> Vec<f64> {
        let specials = [
            f64::NAN,
            f64::INFINITY,
            -f64::INFINITY,
            0.0,
            -0.0,
            1e300,
            1e-310,
        ];
        let mut state = seed;
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                match state % 64 {
                    k @ 0..=6 => specials[k as usize],
                    _ => (state >> 11) as f64 / (1u64 << 40) as f64 - 4096.0,
                }
            })
            .collect()
    }

    /// Coordinates that mostly increase, with repeated points and steps of every size.
    fn coordinates(seed: u64, n: usize) -> Vec<f64> {
        let steps = values(seed, n);
        let mut x = 0.0;
        steps
            .iter()
            .map(|s| {
                x += if s.is_finite() { s.abs() / 1000.0 } else { 0.0 };
                x
            })
            .collect()
    }

    /// `non_uniform` over the interior of `f` computed by the baseline and by wide vectors,
    /// with the floating-point errors each raised.
    fn both<N: Dtypes, X: Real>(f: &[N::Stored], x: &[X]) -> [(Vec<N::Data>, FpFlags); 2]
    where
        N::Data: Copy,
    {
        let n = f.len() - 2;
        let taps = [&f[..n], &f[1..n + 1], &f[2..]];
        [false, true].map(|wide| {
            let mut out = vec![N::Data::default(); n];
            let (done, flags) = fp_status::observe(|| {
                non_uniform::<N, Promote, X>(&mut out, &taps, Some(x), 1, wide)
            });
            assert!(done);
            (out, flags)
        })
    }

    /// Asserts that both copies computed the same bits and raised the same errors.
    fn assert_same<T: Copy, B: PartialEq + std::fmt::Debug>(
        [(base, base_flags), (wide, wide_flags)]: [(Vec<T>, FpFlags); 2],
        bits: impl Fn(T) -> B,
        case: &str,
    ) {
        let bits = |v: Vec<T>| v.into_iter().map(&bits).collect::<Vec<_>>();
        assert_eq!(bits(base), bits(wide), "{case}");
        assert_eq!(base_flags.bits(), wide_flags.bits(), "{case}");
    }

    /// Every length from one point to two blocks and more, so that whole pieces, whole
    /// blocks and every remainder run, on data of every kind.
    #[test]
    fn wide_vectors_compute_the_same_bits_and_errors() {
        if !wide::has_avx2() {
            eprintln!("no AVX2 here: both copies are the baseline's");
        }
        for n in (3..2 * BLOCK + wide::PIECE + 5).chain([7 * BLOCK + 37]) {
            let seed = n as u64;
            let (f, x) = (values(seed, n), coordinates(seed + 100, n));
            let f32s: Vec<f32> = f.iter().map(|&v| v as f32).collect();
            let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let x16: Vec<Half> = x.iter().map(|&v| Half::from_f64(v)).collect();
            let ints: Vec<i64> = f.iter().map(|&v| v as i64).collect();
            let case = |what: &str| format!("{what}, {n} points");
            let f64_bits = |v: f64| v.to_bits();
            let f32_bits = |v: f32| v.to_bits();
            let both64 = both::<Promotion<f64, f64, f64>, f64>;
            assert_same(both64(&f, &x), f64_bits, &case("f64"));
            let both32 = both::<Promotion<f32, f32, f32>, f32>;
            assert_same(both32(&f32s, &x32), f32_bits, &case("f32"));
            // Narrower coordinates of f64 data: the weights' own loops.
            let both64_32 = both::<Promotion<f64, f64, f64>, f32>;
            assert_same(both64_32(&f, &x32), f64_bits, &case("f64, f32 coordinates"));
            let both64_16 = both::<Promotion<f64, f64, f64>, Half>;
            assert_same(both64_16(&f, &x16), f64_bits, &case("f64, f16 coordinates"));
            // Integers, converted on load.
            let both_i64 = both::<Promotion<i64, f64, f64>, f64>;
            assert_same(both_i64(&ints, &x), f64_bits, &case("i64"));
        }
    }

    /// Ordinary data raises no error in either copy, so that the test above compares more
    /// than two equally spurious sets (as LLVM's packing of single points once made).
    #[test]
    fn ordinary_data_raises_no_error_in_either_copy() {
        for n in 3..2 * BLOCK + wide::PIECE + 5 {
            let f: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin() * 10.0).collect();
            let x: Vec<f64> = (0..n)
                .map(|i| i as f64 + (i as f64 * 0.1).sin() * 0.4)
                .collect();
            let f32s: Vec<f32> = f.iter().map(|&v| v as f32).collect();
            let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            for (_, flags) in both::<Promotion<f64, f64, f64>, f64>(&f, &x) {
                assert_eq!(flags.bits(), 0, "f64, {n} points");
            }
            for (_, flags) in both::<Promotion<f32, f32, f32>, f32>(&f32s, &x32) {
                assert_eq!(flags.bits(), 0, "f32, {n} points");
            }
            for (_, flags) in both::<Promotion<f64, f64, f64>, f32>(&f, &x32) {
                assert_eq!(flags.bits(), 0, "f64, f32 coordinates, {n} points");
            }
        }
    }

    /// `contiguous_quotient` by the baseline and by wide vectors, with the errors each
    /// raised: `(f[i + 2] - f[i]) / divisor` over the interior of `f`.
    fn both_quotients<N: Dtypes>(
        f: &[N::Stored],
        divisor: Weight<N>,
        store: Store,
    ) -> [(Vec<N::Data>, FpFlags); 2]
    where
        N::Data: Copy,
    {
        let n = f.len() - 2;
        [false, true].map(|wide| {
            let mut out = vec![N::Data::default(); n];
            let ((), flags) = fp_status::observe(|| {
                contiguous_quotient::<N>(&mut out, &f[..n], &f[2..], divisor, store, wide)
            });
            (out, flags)
        })
    }

    /// The uniform stencil's quotients: every remainder of a vector and of a block, runs
    /// long enough to be streamed, divisors with an exact reciprocal (multiplied) and
    /// without one (divided, zero included), for every kind of element.
    #[test]
    fn wide_quotients_are_the_same_bits_and_errors() {
        use half::f16;
        use num_complex::Complex;
        let lengths = (3..2 * BLOCK + 40).chain([4099, 8195]);
        for (n, store) in lengths.flat_map(|n| [(n, Store::Cached), (n, Store::Streamed)]) {
            let f = values(n as u64 + 7, n);
            let f32s: Vec<f32> = f.iter().map(|&v| v as f32).collect();
            let f16s: Vec<f16> = f.iter().map(|&v| f16::from_f64(v)).collect();
            let ints: Vec<i64> = f.iter().map(|&v| v as i64).collect();
            let complex: Vec<Complex<f64>> = f
                .iter()
                .zip(f.iter().rev())
                .map(|(&re, &im)| Complex::new(re, im))
                .collect();
            let complex32: Vec<Complex<f32>> = complex
                .iter()
                .map(|c| Complex::new(c.re as f32, c.im as f32))
                .collect();
            for divisor in [2.0, 0.5, 0.3, 3.0, 0.0, -1e-300] {
                let case = format!("{n} points, divisor {divisor}, {store:?}");
                let f64_bits = |v: f64| v.to_bits();
                let f32_bits = |v: f32| v.to_bits();
                let c64_bits = |v: Complex<f64>| (v.re.to_bits(), v.im.to_bits());
                let c32_bits = |v: Complex<f32>| (v.re.to_bits(), v.im.to_bits());
                let q64 = both_quotients::<Promotion<f64, f64, f64>>(&f, divisor, store);
                assert_same(q64, f64_bits, &format!("f64, {case}"));
                let q32 = both_quotients::<Promotion<f32, f32, f32>>(&f32s, divisor as f32, store);
                assert_same(q32, f32_bits, &format!("f32, {case}"));
                let q32_64 = both_quotients::<Promotion<f32, f32, f64>>(&f32s, divisor, store);
                assert_same(q32_64, f32_bits, &format!("f32 by f64, {case}"));
                let q16 = both_quotients::<Promotion<f16, f16, f32>>(&f16s, divisor as f32, store);
                assert_same(q16, |v: f16| v.to_bits(), &format!("f16 by f32, {case}"));
                let q16_16 = both_quotients::<Promotion<f16, f16, f16>>(
                    &f16s,
                    Half(f16::from_f64(divisor)),
                    store,
                );
                assert_same(q16_16, |v: f16| v.to_bits(), &format!("f16, {case}"));
                let qi = both_quotients::<Promotion<i64, f64, f64>>(&ints, divisor, store);
                assert_same(qi, f64_bits, &format!("i64, {case}"));
                let qc = both_quotients::<Promotion<Complex<f64>, Complex<f64>, Complex<f64>>>(
                    &complex, divisor, store,
                );
                assert_same(qc, c64_bits, &format!("complex128, {case}"));
                let qc32 = both_quotients::<Promotion<Complex<f32>, Complex<f32>, Complex<f32>>>(
                    &complex32,
                    divisor as f32,
                    store,
                );
                assert_same(qc32, c32_bits, &format!("complex64, {case}"));
            }
        }
    }
}
