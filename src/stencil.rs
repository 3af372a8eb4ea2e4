//! What a derivative along one axis is made of, for every point of the axis: which input
//! points (taps) it reads, with which weights, and by which formula. The walk
//! ([`crate::walk`]) and the evaluators ([`crate::evaluate`]) know nothing else about a
//! stencil, so NumPy's stencil (here) and the extended ones ([`crate::extended`]) are two
//! constructors of the same [`Stencil`].
//!
//! An axis is cut into [`Piece`]s: runs of consecutive points that share a formula and tap
//! offsets. NumPy's stencil has three (first point, interior, last point); an extended one a
//! few more (one per edge point whose window is one-sided, or the wrapped points of a periodic
//! axis).
//!
//! NumPy evaluates every coefficient in the spacing's own type (a coordinate array's dtype, or
//! the type of the scalar spacing) and only then promotes it to the compute type. The
//! constructors do the same: the arithmetic runs in `X`, the result is converted to `R`.

use crate::element::{Loops, Real, RealView};
use crate::error::GradientError;
use crate::threads::Execution;
use ndarray::ArrayView1;
use rayon::prelude::*;
use std::ops::Range;
use std::sync::Arc;

/// The most taps a point's formula reads (accuracy 8: nine points).
pub const MAX_TAPS: usize = 9;

/// Accuracy of NumPy's one-sided differences at the two ends of an axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdgeOrder {
    /// `(f[1] - f[0]) / dx`.
    First,
    /// Three-point one-sided second-order differences.
    Second,
}

impl EdgeOrder {
    /// The fewest points an axis needs for this edge order (`edge_order + 1`).
    pub fn min_points(self) -> usize {
        match self {
            EdgeOrder::First => 2,
            EdgeOrder::Second => 3,
        }
    }
}

/// NumPy's edge weights of one axis, for the edge order they were made for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Edges<R> {
    /// First-order: the divisors `dx` at the start and at the end of the axis.
    First { divisors: [R; 2] },
    /// Second-order: the weights of `f[0], f[1], f[2]` and of `f[-3], f[-2], f[-1]`.
    Second { first: [R; 3], last: [R; 3] },
}

/// How one tap's value is multiplied by its real weight in a [`Formula::Sum`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Term {
    /// NumPy's `a * f[...]`: the weight promoted to the compute type first (for complex
    /// data, NumPy's complex multiply with a zero imaginary part).
    Promoted,
    /// [`Term::Promoted`] in NumPy's scalar math, with its NaN rule for the products and the
    /// sum: the second-order edge points of a 1-D array, where each `f[0]` is a NumPy scalar.
    PromotedScalar,
    /// Each part of the value times the weight (ndgradient's extended stencils).
    Scaled,
}

impl Term {
    /// Where NumPy computes this term's products and the sum of the terms.
    pub fn loops(self) -> Loops {
        match self {
            Term::Promoted | Term::Scaled => Loops::Arrays,
            Term::PromotedScalar => Loops::Scalars,
        }
    }
}

/// The formula of a piece's points.
#[derive(Clone, Debug)]
pub enum Formula<'x, R> {
    /// `(f[tap 1] - f[tap 0]) / divisor`: NumPy's central and first-order differences, the
    /// difference in the data type and the division in the compute type.
    Quotient { divisor: R },
    /// `w0 f[tap 0] + w1 f[tap 1] + ...`, summed left to right in the compute type.
    Sum { term: Term, weights: Weights<'x, R> },
}

/// The weights of a [`Formula::Sum`].
#[derive(Clone, Debug)]
pub enum Weights<'x, R> {
    /// The same for every point of the piece: one per tap.
    Same(Vec<R>),
    /// NumPy's non-uniform interior weights of three taps, computed from the coordinates (in
    /// their own type) where they are used: no array of weights the size of the axis is held,
    /// and the three divisions per point are spread over the threads.
    NonUniform(RealView<'x>),
    /// Weights computed once, their own for every point (extended coordinate stencils).
    Table(Arc<Table<R>>),
}

impl<R: Real> Weights<'_, R> {
    /// The number of taps.
    pub fn taps(&self) -> usize {
        match self {
            Weights::Same(w) => w.len(),
            Weights::NonUniform(_) => 3,
            Weights::Table(table) => table.width,
        }
    }

    /// Writes the weights of axis points `first..first + len` tap by tap: tap `k` of point
    /// `first + j` goes to `out[k * len + j]`. `out` holds `taps() * len` values.
    pub fn fill(&self, first: usize, len: usize, out: &mut [R]) {
        match self {
            Weights::Same(w) => {
                for (k, &wk) in w.iter().enumerate() {
                    out[k * len..(k + 1) * len].fill(wk);
                }
            }
            Weights::NonUniform(RealView::F64(x)) => fill_non_uniform(x.view(), first, len, out),
            Weights::NonUniform(RealView::F32(x)) => fill_non_uniform(x.view(), first, len, out),
            Weights::NonUniform(RealView::F16(x)) => fill_non_uniform(x.view(), first, len, out),
            Weights::Table(table) => {
                for j in 0..len {
                    let row = &table.weights[(first + j) * table.width..][..table.width];
                    for (k, &w) in row.iter().enumerate() {
                        out[k * len + j] = w;
                    }
                }
            }
        }
    }
}

/// Weights of an axis, `width` per point.
#[derive(Debug)]
pub struct Table<R> {
    pub(crate) width: usize,
    /// Point by point: the weights of point `i` are `weights[i * width..(i + 1) * width]`.
    pub(crate) weights: Vec<R>,
}

/// A run of consecutive points of an axis that share a formula and tap offsets.
#[derive(Clone, Debug)]
pub struct Piece<'x, R> {
    /// The points.
    pub points: Range<usize>,
    /// Where each tap is, relative to the point.
    pub offsets: Vec<isize>,
    /// Whether tap positions wrap around the axis (the edges of a periodic axis); otherwise
    /// every tap of every point lies on the axis.
    pub wrap: bool,
    /// How the taps combine.
    pub formula: Formula<'x, R>,
}

impl<R> Piece<'_, R> {
    /// The input index of tap `k` of point `i` on an axis of `len` points.
    #[inline]
    pub fn source(&self, i: usize, k: usize, len: usize) -> usize {
        let index = i as isize + self.offsets[k];
        if self.wrap {
            index.rem_euclid(len as isize) as usize
        } else {
            index as usize
        }
    }
}

/// The derivative's formula for every point of an axis of [`Stencil::len`] points: pieces in
/// order, covering the axis. A stencil from coordinates borrows them for `'x`.
#[derive(Clone, Debug)]
pub struct Stencil<'x, R> {
    len: usize,
    pieces: Vec<Piece<'x, R>>,
}

impl<'x, R: Real> Stencil<'x, R> {
    /// A stencil from its pieces, in order; empty pieces are dropped.
    pub(crate) fn from_pieces(len: usize, pieces: Vec<Piece<'x, R>>) -> Self {
        let pieces: Vec<_> = pieces
            .into_iter()
            .filter(|p| !p.points.is_empty())
            .collect();
        debug_assert!(
            pieces.first().map_or(len == 0, |p| p.points.start == 0)
                && pieces
                    .windows(2)
                    .all(|w| w[0].points.end == w[1].points.start)
                && pieces.last().map_or(true, |p| p.points.end == len),
            "pieces cover the axis in order"
        );
        Stencil { len, pieces }
    }

    /// The number of points of the axis.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the axis has no points.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The pieces, in the order of their points.
    pub fn pieces(&self) -> &[Piece<'x, R>] {
        &self.pieces
    }

    /// This stencil with NumPy's products and sums at its edge points computed as NumPy's
    /// scalar math does them ([`Term::PromotedScalar`]): for a 1-D array, whose edge values
    /// NumPy computes from the NumPy scalars `f[0]`, `f[1]`, ...
    pub fn with_scalar_edges(mut self) -> Self {
        let last = self.pieces.len().saturating_sub(1);
        for (k, piece) in self.pieces.iter_mut().enumerate() {
            let is_edge = piece.points.len() == 1 && (k == 0 || k == last);
            if let (true, Formula::Sum { term, .. }) = (is_edge, &mut piece.formula) {
                if *term == Term::Promoted {
                    *term = Term::PromotedScalar;
                }
            }
        }
        self
    }

    /// The piece that holds point `i`.
    pub fn piece_at(&self, i: usize) -> &Piece<'x, R> {
        let k = self.pieces.partition_point(|p| p.points.end <= i);
        &self.pieces[k]
    }

    /// NumPy's stencil for a scalar spacing on an axis of `len` points: `twice_dx` and the
    /// edge weights as NumPy computes them (`2. * dx`, `-1.5 / dx`, ...), already in `R`.
    pub fn numpy_uniform(len: usize, twice_dx: R, edges: Edges<R>) -> Result<Self, GradientError> {
        let interior = Formula::Quotient { divisor: twice_dx };
        numpy_pieces(len, interior, edges)
    }

    /// NumPy's stencil for a scalar spacing held in NumPy type `X`: NumPy's `2. * dx`,
    /// `-1.5 / dx`, `2. / dx`, ... evaluated in `X`.
    pub fn numpy_scalar<X: Real>(
        len: usize,
        dx: X,
        edge_order: EdgeOrder,
    ) -> Result<Self, GradientError> {
        let k = X::from_f64;
        let over_dx = |numerator: f64| (k(numerator) / dx).convert();
        let edges = match edge_order {
            EdgeOrder::First => Edges::First {
                divisors: [dx.convert(); 2],
            },
            EdgeOrder::Second => Edges::Second {
                first: [over_dx(-1.5), over_dx(2.0), over_dx(-0.5)],
                last: [over_dx(0.5), over_dx(-2.0), over_dx(1.5)],
            },
        };
        Stencil::numpy_uniform(len, (k(2.0) * dx).convert(), edges)
    }

    /// NumPy's stencil for coordinates `x` (of NumPy type `X`, no wider than `R`; integers
    /// given as `f64`, as NumPy converts them), one per point of the axis.
    ///
    /// As NumPy does, the steps `dx = diff(x)` are taken in `X`; when they are all equal the
    /// axis is treated as uniform with spacing `dx[0]` ([`Steps::Checked`], checked on the
    /// pool when `execution` is parallel), otherwise the weights are NumPy's non-uniform
    /// formulas, computed as the walk needs them.
    pub fn numpy_coordinates<X: Real>(
        x: ArrayView1<'x, X>,
        edge_order: EdgeOrder,
        steps: Steps,
        execution: Execution,
    ) -> Result<Self, GradientError> {
        if std::mem::size_of::<X>() > std::mem::size_of::<R>() {
            return Err(GradientError::CoordinatesTooWide);
        }
        if x.len() < 2 {
            return Err(GradientError::TooFewCoordinates);
        }
        if steps == Steps::Checked && equal_steps(x.view(), execution) {
            return Stencil::numpy_scalar(x.len(), x[1] - x[0], edge_order);
        }
        let len = x.len();
        if len < edge_order.min_points() {
            return Err(too_short(len, edge_order));
        }
        let dx = |i: usize| x[i + 1] - x[i];
        let n = len - 1; // the number of steps
        let two = X::from_f64(2.0);
        let edges = match edge_order {
            EdgeOrder::First => Edges::First {
                divisors: [dx(0).convert(), dx(n - 1).convert()],
            },
            EdgeOrder::Second => {
                let (dx1, dx2) = (dx(0), dx(1));
                let first = [
                    alone(-(two * dx1 + dx2), dx1 * (dx1 + dx2)),
                    alone(dx1 + dx2, dx1 * dx2),
                    alone(-dx1, dx2 * (dx1 + dx2)),
                ];
                let (dx1, dx2) = (dx(n - 2), dx(n - 1));
                let last = [
                    alone(dx2, dx1 * (dx1 + dx2)),
                    alone(-(dx2 + dx1), dx1 * dx2),
                    alone(two * dx2 + dx1, dx2 * (dx1 + dx2)),
                ];
                Edges::Second {
                    first: first.map(Real::convert),
                    last: last.map(Real::convert),
                }
            }
        };
        let interior = Formula::Sum {
            term: Term::Promoted,
            weights: Weights::NonUniform(X::view(x)),
        };
        numpy_pieces(len, interior, edges)
    }
}

fn too_short(length: usize, edge_order: EdgeOrder) -> GradientError {
    GradientError::AxisTooShort {
        length,
        needed: edge_order.min_points(),
    }
}

/// NumPy's three pieces: the first point, the interior with `interior`, the last point.
fn numpy_pieces<'x, R: Real>(
    len: usize,
    interior: Formula<'x, R>,
    edges: Edges<R>,
) -> Result<Stencil<'x, R>, GradientError> {
    let piece = |points: Range<usize>, offsets: &[isize], formula| Piece {
        points,
        offsets: offsets.to_vec(),
        wrap: false,
        formula,
    };
    let same = |weights: [R; 3]| Formula::Sum {
        term: Term::Promoted,
        weights: Weights::Same(weights.to_vec()),
    };
    let (first, last) = match edges {
        Edges::First { divisors: [d0, d1] } => {
            if len < 2 {
                return Err(too_short(len, EdgeOrder::First));
            }
            (
                piece(0..1, &[0, 1], Formula::Quotient { divisor: d0 }),
                piece(len - 1..len, &[-1, 0], Formula::Quotient { divisor: d1 }),
            )
        }
        Edges::Second { first, last } => {
            if len < 3 {
                return Err(too_short(len, EdgeOrder::Second));
            }
            (
                piece(0..1, &[0, 1, 2], same(first)),
                piece(len - 1..len, &[-2, -1, 0], same(last)),
            )
        }
    };
    let offsets: &[isize] = match interior {
        Formula::Quotient { .. } => &[-1, 1],
        Formula::Sum { .. } => &[-1, 0, 1],
    };
    let interior = piece(1..len - 1, offsets, interior);
    Ok(Stencil::from_pieces(len, vec![first, interior, last]))
}

/// How the uniformity of a coordinate array is decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Steps {
    /// From the coordinates themselves, as NumPy decides it (`diff(x) == diff(x)[0]`).
    Checked,
    /// Decided already: the coordinates are a slice of a longer array whose steps are not all
    /// equal, so NumPy's non-uniform formulas apply even where the slice's own steps are.
    Uneven,
}

/// Coordinate arrays at least this long are checked for uniformity on the pool, if any.
const PARALLEL_COORDINATES: usize = 1 << 16;

/// Whether every step of `x` equals the first, as NumPy compares them (in `X`; a NaN step is
/// never equal).
pub(crate) fn equal_steps<X: Real>(x: ArrayView1<'_, X>, execution: Execution) -> bool {
    let first = x[1] - x[0];
    let step_is_first = |pair: &[X]| pair[1] - pair[0] == first;
    match x.as_slice() {
        Some(xs) if execution.is_parallel() && xs.len() >= PARALLEL_COORDINATES => {
            // Two stretches sharing their middle point, one per side of the split.
            let middle = xs.len() / 2;
            let all_equal = |xs: &[X], e: Execution| match e {
                Execution::Parallel(_) => xs.par_windows(2).all(step_is_first),
                Execution::Serial => xs.windows(2).all(step_is_first),
            };
            let (head, tail) = execution.join(
                |e| all_equal(&xs[..=middle], e),
                |e| all_equal(&xs[middle..], e),
            );
            let equal = head && tail;
            if equal && !first.to_f64().is_finite() {
                // Infinite equal steps overflowed somewhere: the differences once more on this
                // thread, for the floating-point errors NumPy's `diff` reports (finite equal
                // steps raise none: a subtraction with a tiny result is exact).
                xs.windows(2).for_each(|pair| {
                    std::hint::black_box(pair[1] - pair[0]);
                });
            }
            equal
        }
        Some(xs) => xs.windows(2).all(step_is_first),
        None => x.windows(2).into_iter().all(|p| p[1] - p[0] == first),
    }
}

/// NumPy's second-order weights for a point with spacing `dx1` behind and `dx2` ahead, as
/// numerator and denominator, each in NumPy's order of operations.
#[inline(always)]
pub(crate) fn interior_fractions<X: Real>(dx1: X, dx2: X) -> [(X, X); 3] {
    [
        (-(dx2), dx1 * (dx1 + dx2)),
        (dx2 - dx1, dx1 * dx2),
        (dx1, dx2 * (dx1 + dx2)),
    ]
}

/// [`interior_fractions`]' weights for one point alone ([`interior_weights_of_steps`]
/// computes those of many).
pub(crate) fn interior_weights<X: Real>(dx1: X, dx2: X) -> [X; 3] {
    interior_fractions(dx1, dx2).map(|(numerator, denominator)| alone(numerator, denominator))
}

/// `numerator / denominator`, as a call of its own: for quotients computed a few at a time,
/// which the compiler would otherwise pack into one vector division whose unused lanes
/// divide padding (`0 / 0` raises *invalid*, `x / 0` *divide by zero*: errors no quotient
/// of the call raised, which [`crate::fp_status`] would report).
#[inline(never)]
pub(crate) fn alone<X: Real>(numerator: X, denominator: X) -> X {
    numerator / denominator
}

/// `X::from_f64(value)`, as a call of its own: for a value only some paths have (an
/// `Option`'s), which the compiler would otherwise convert before the test that decides
/// whether it exists, converting undefined bits.
#[inline(never)]
pub(crate) fn converted_alone<X: Real>(value: f64) -> X {
    X::from_f64(value)
}

/// [`interior_weights`] of consecutive points from their steps: point `j` has `steps[j]`
/// behind and `steps[j + 1]` ahead, and its weights go to `a[j]`, `b[j]` and `c[j]`
/// (`steps` is one longer than them).
///
/// Loops of `X` arithmetic alone, one quotient each, so that vector code has every lane in
/// use: computed in a loop of wider arithmetic (`f32` weights of `f64` data), they would be
/// half-filled vectors whose padding lanes divide `0 / 0`, and three quotients of one point
/// packed together leave a lane of four unused.
#[inline(always)]
pub(crate) fn interior_weights_of_steps<X: Real>(
    steps: &[X],
    a: &mut [X],
    b: &mut [X],
    c: &mut [X],
) {
    let n = a.len();
    let (b, c) = (&mut b[..n], &mut c[..n]);
    let (behind, ahead) = (&steps[..n], &steps[1..n + 1]);
    for (k, weights) in [a, b, c].into_iter().enumerate() {
        for ((w, &dx1), &dx2) in weights.iter_mut().zip(behind).zip(ahead) {
            let (numerator, denominator) = interior_fractions(dx1, dx2)[k];
            *w = numerator / denominator;
        }
    }
}

/// Points whose weights [`fill_non_uniform`] computes together.
const WEIGHTS_CHUNK: usize = 64;

/// NumPy's non-uniform interior weights of axis points `first..first + len` from coordinates
/// of NumPy type `X`, tap by tap into `out` (see [`Weights::fill`]).
pub(crate) fn fill_non_uniform<X: Real, R: Real>(
    x: ArrayView1<'_, X>,
    first: usize,
    len: usize,
    out: &mut [R],
) {
    let (a, rest) = out[..3 * len].split_at_mut(len);
    let (b, c) = rest.split_at_mut(len);
    if len == 1 {
        let [wa, wb, wc] = interior_weights(x[first] - x[first - 1], x[first + 1] - x[first]);
        (a[0], b[0], c[0]) = (wa.convert(), wb.convert(), wc.convert());
        return;
    }
    // In `X` a chunk at a time, then converted (see `interior_weights_of_steps`).
    let mut steps = [X::default(); WEIGHTS_CHUNK + 1];
    let mut weights = [[X::default(); WEIGHTS_CHUNK]; 3];
    for start in (0..len).step_by(WEIGHTS_CHUNK) {
        let m = (len - start).min(WEIGHTS_CHUNK);
        let i = first + start; // the chunk's first point
        let steps = &mut steps[..m + 1];
        match x.as_slice() {
            Some(x) => {
                let x = &x[i - 1..i + m + 1];
                for (s, pair) in steps.iter_mut().zip(x.windows(2)) {
                    *s = pair[1] - pair[0];
                }
            }
            None => {
                for (k, s) in steps.iter_mut().enumerate() {
                    *s = x[i + k] - x[i + k - 1];
                }
            }
        }
        let [wa, wb, wc] = &mut weights;
        interior_weights_of_steps(steps, &mut wa[..m], &mut wb[..m], &mut wc[..m]);
        for (out, w) in [&mut *a, &mut *b, &mut *c].into_iter().zip(&weights) {
            for (o, &w) in out[start..start + m].iter_mut().zip(w) {
                *o = w.convert();
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::element::Half;
    use ndarray::array;

    /// The weights of point `i`, tap by tap (a quotient's divisor alone).
    pub(crate) fn weights_at<R: Real>(stencil: &Stencil<'_, R>, i: usize) -> Vec<R> {
        match &stencil.piece_at(i).formula {
            Formula::Quotient { divisor } => vec![*divisor],
            Formula::Sum { weights, .. } => {
                let mut out = vec![R::default(); weights.taps()];
                weights.fill(i, 1, &mut out);
                out
            }
        }
    }

    fn coordinates(x: &ndarray::Array1<f64>, edges: EdgeOrder) -> Stencil<'_, f64> {
        Stencil::numpy_coordinates(x.view(), edges, Steps::Checked, Execution::Serial).unwrap()
    }

    #[test]
    fn equal_steps_reduce_to_a_scalar_spacing() {
        let x = array![1.0, 3.0, 5.0, 7.0];
        let s = coordinates(&x, EdgeOrder::Second);
        assert!(matches!(
            s.piece_at(1).formula,
            Formula::Quotient { divisor } if divisor == 4.0
        ));
        assert_eq!(weights_at(&s, 0), [-0.75, 1.0, -0.25]);
        assert_eq!(s.piece_at(0).offsets, [0, 1, 2]);
        assert_eq!(s.piece_at(3).offsets, [-2, -1, 0]);
    }

    #[test]
    fn unequal_steps_give_numpy_weights() {
        let x = array![0.0, 1.0, 3.0];
        let first = coordinates(&x, EdgeOrder::First);
        // dx1 = 1, dx2 = 2: a = -2/3, b = 1/2, c = 1/6.
        assert_eq!(weights_at(&first, 1), [-2.0 / 3.0, 0.5, 1.0 / 6.0]);
        assert_eq!(weights_at(&first, 0), [1.0]);
        assert_eq!(weights_at(&first, 2), [2.0]);
        let second = coordinates(&x, EdgeOrder::Second);
        assert_eq!(
            weights_at(&second, 0),
            [-(2.0 + 2.0) / 3.0, 1.5, -1.0 / 6.0]
        );
        assert_eq!(weights_at(&second, 2), [2.0 / 3.0, -1.5, 5.0 / 6.0]);
    }

    #[test]
    fn weights_are_computed_in_the_coordinate_type() {
        // f32 coordinates: weights rounded in f32 at every step, then widened exactly.
        let x = array![0.0_f32, 0.1, 0.3];
        let s = Stencil::<f64>::numpy_coordinates(
            x.view(),
            EdgeOrder::First,
            Steps::Checked,
            Execution::Serial,
        )
        .unwrap();
        let (dx1, dx2) = (0.1_f32 - 0.0, 0.3_f32 - 0.1);
        let a = -dx2 / (dx1 * (dx1 + dx2));
        assert_eq!(weights_at(&s, 1)[0], f64::from(a));
    }

    #[test]
    fn uneven_slices_keep_the_weighted_formulas() {
        // A slice of uneven coordinates whose own steps are equal: Checked reduces it to a
        // scalar spacing, Uneven keeps NumPy's weights (equal in value, other bits possible).
        let x = array![0.0, 0.5, 1.0, 1.5];
        let uneven = Stencil::<f64>::numpy_coordinates(
            x.view(),
            EdgeOrder::First,
            Steps::Uneven,
            Execution::Serial,
        )
        .unwrap();
        assert_eq!(weights_at(&uneven, 1), interior_weights(0.5, 0.5));
        assert_eq!(weights_at(&uneven, 0), [0.5]);
        let one = array![0.0];
        let refused = Stencil::<f64>::numpy_coordinates(
            one.view(),
            EdgeOrder::First,
            Steps::Uneven,
            Execution::Serial,
        );
        assert_eq!(refused.unwrap_err(), GradientError::TooFewCoordinates);
    }

    #[test]
    fn f16_scalar_spacing_doubles_in_f16() {
        // 2 * 40000 overflows float16 to inf, as NumPy's `2. * np.float16(40000)` does.
        let s = Stencil::<f64>::numpy_scalar(3, Half::from_f64(40000.0), EdgeOrder::First).unwrap();
        assert_eq!(weights_at(&s, 1), [f64::INFINITY]);
    }

    #[test]
    fn nan_step_is_not_uniform() {
        let x = array![0.0, f64::NAN, 2.0];
        let s = coordinates(&x, EdgeOrder::First);
        assert!(matches!(s.piece_at(1).formula, Formula::Sum { .. }));
    }

    #[test]
    fn short_axes_and_wide_coordinates_are_refused() {
        let s = Stencil::<f64>::numpy_scalar(2, 1.0, EdgeOrder::Second);
        assert_eq!(
            s.unwrap_err(),
            GradientError::AxisTooShort {
                length: 2,
                needed: 3
            }
        );
        let x = array![0.0_f64, 1.0, 3.0];
        let narrow = Stencil::<f32>::numpy_coordinates(
            x.view(),
            EdgeOrder::First,
            Steps::Checked,
            Execution::Serial,
        );
        assert_eq!(narrow.unwrap_err(), GradientError::CoordinatesTooWide);
    }

    #[test]
    fn pieces_cover_the_axis() {
        let s = Stencil::<f64>::numpy_scalar(2, 1.0, EdgeOrder::First).unwrap();
        let points: Vec<_> = s.pieces().iter().map(|p| p.points.clone()).collect();
        assert_eq!(points, [0..1, 1..2]);
        assert_eq!(s.piece_at(1).offsets, [-1, 0]);
    }
}
