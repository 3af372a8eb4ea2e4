//! Stencils beyond `numpy.gradient`: higher accuracy (orders 2, 4, 6, 8) and periodic axes.
//!
//! The output at point `i` is a weighted sum of the input at a window of `p + 1` consecutive
//! points (wrapping around on a periodic axis): the central window `i - p/2 ..= i + p/2` in
//! the interior, and one-sided windows `i ..= i + p` or `i - p ..= i` for the first and last
//! `p/2` points of a non-periodic axis (the convention findiff uses). Weights for uniform
//! spacing are the exact rational central and one-sided coefficients divided by `dx`; for
//! coordinate arrays they are computed once per axis by Fornberg's algorithm.
//!
//! Accuracy 2 on a periodic axis keeps NumPy's own interior arithmetic, so its results are
//! bit-identical to `numpy.gradient`'s interior everywhere and only the two wrapped edge
//! points are new: `(f[i+1] - f[i-1]) / (2 dx)` for a uniform spacing, and NumPy's
//! `a f[i-1] + b f[i] + c f[i+1]` with its coefficient formulas for coordinates.

use crate::element::{Cast, Field, Real};
use crate::kernel::{check_fits, difference_quotient, memory_order, GradientError};
use ndarray::{
    ArrayView, ArrayView1, ArrayViewD, ArrayViewMut, ArrayViewMut1, ArrayViewMutD, Axis, IxDyn,
    RemoveAxis, Slice, Zip,
};
use rayon::prelude::*;

/// The accuracies offered: the order of the truncation error.
pub const ACCURACIES: [usize; 4] = [2, 4, 6, 8];

/// Central first-derivative coefficients over offsets `-p/2 ..= p/2`, and their denominator.
fn central_coefficients(accuracy: usize) -> (&'static [i32], i32) {
    match accuracy {
        2 => (&[-1, 0, 1], 2),
        4 => (&[1, -8, 0, 8, -1], 12),
        6 => (&[-1, 9, -45, 0, 45, -9, 1], 60),
        8 => (&[3, -32, 168, -672, 0, 672, -168, 32, -3], 840),
        _ => unreachable!("accuracy is checked on construction"),
    }
}

/// One-sided (forward) first-derivative coefficients over offsets `0 ..= p`; the backward
/// ones are these reversed and negated.
fn forward_coefficients(accuracy: usize) -> (&'static [i32], i32) {
    match accuracy {
        2 => (&[-3, 4, -1], 2),
        4 => (&[-25, 48, -36, 16, -3], 12),
        6 => (&[-147, 360, -450, 400, -225, 72, -10], 60),
        8 => (
            &[-2283, 6720, -11760, 15680, -14700, 9408, -3920, 960, -105],
            840,
        ),
        _ => unreachable!("accuracy is checked on construction"),
    }
}

/// How a window's values are combined.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rule<R> {
    /// NumPy's `(f[i+1] - f[i-1]) / (2 dx)`: the difference in the data type, the division
    /// in the compute type. Windows are the two outer points only.
    Difference { twice_dx: R },
    /// NumPy's `a f0 + b f1 + c f2` for coordinates: weights promoted to the compute type
    /// (complex multiply for complex data), summed left to right.
    NumpyWeights,
    /// `w0 f0 + w1 f1 + ...` left to right, each real weight scaling each part.
    Scaled,
}

/// The window and weights of one output point.
#[derive(Debug, Clone, Copy)]
pub struct Row<'s, R> {
    /// Offset of the window's first point from the output point.
    pub first: isize,
    /// One weight per window point.
    pub weights: &'s [R],
    /// The window point left out: the middle of a uniform central window, whose coefficient
    /// is exactly zero (as NumPy's `(f[i+1] - f[i-1]) / 2dx` leaves `f[i]` out).
    pub skip: Option<usize>,
}

/// Weights for one axis, for every output point.
#[derive(Debug, Clone)]
pub struct WideStencil<R> {
    len: usize,
    accuracy: usize,
    periodic: bool,
    rule: Rule<R>,
    /// Uniform spacing: the central row, then `p/2` forward rows, then `p/2` backward rows
    /// (each of `p + 1` weights). Coordinates: one row per point.
    weights: Vec<R>,
    per_point: bool,
}

fn check_accuracy(accuracy: usize, len: usize) -> Result<(), GradientError> {
    if !ACCURACIES.contains(&accuracy) {
        return Err(GradientError::BadAccuracy { accuracy });
    }
    if len < accuracy + 1 {
        return Err(GradientError::AxisTooShortForStencil {
            length: len,
            accuracy,
        });
    }
    Ok(())
}

impl<R: Real> WideStencil<R> {
    /// The stencil for a uniform spacing. `dx` and `twice_dx` are NumPy's values in `R`
    /// (`twice_dx` is only used by accuracy 2, which must be periodic: the non-periodic
    /// accuracy-2 stencil is NumPy's own, computed by [`crate::fused`]).
    pub fn uniform(
        len: usize,
        accuracy: usize,
        periodic: bool,
        dx: R,
        twice_dx: R,
    ) -> Result<Self, GradientError> {
        check_accuracy(accuracy, len)?;
        if accuracy == 2 && !periodic {
            return Err(GradientError::NotExtended);
        }
        let dx = dx.to_f64();
        let scaled = |c: i32, den: i32| R::from_f64(f64::from(c) / (f64::from(den) * dx));
        let (central, den) = central_coefficients(accuracy);
        let mut weights: Vec<R> = central.iter().map(|&c| scaled(c, den)).collect();
        let (forward, fden) = forward_coefficients(accuracy);
        let half = accuracy / 2;
        // Edge rows: the exact one-sided table, or Fornberg's weights where a short axis
        // moves the window (see `row_first`).
        let mut edge = |i: usize, anchored: isize, table: &mut dyn Iterator<Item = R>| {
            let first = row_first(i, len, accuracy, false);
            if first == anchored {
                weights.extend(table);
            } else {
                let nodes: Vec<f64> = (0..=accuracy)
                    .map(|k| (first + k as isize) as f64)
                    .collect();
                let w = fornberg_first_derivative(&nodes);
                weights.extend(w.into_iter().map(|w| R::from_f64(w / dx)));
            }
        };
        for i in 0..half {
            edge(i, 0, &mut forward.iter().map(|&c| scaled(c, fden)));
        }
        for k in 0..half {
            let last = -(accuracy as isize);
            edge(
                len - 1 - k,
                last,
                &mut forward.iter().rev().map(|&c| scaled(-c, fden)),
            );
        }
        let rule = if accuracy == 2 {
            Rule::Difference { twice_dx }
        } else {
            Rule::Scaled
        };
        Ok(WideStencil {
            len,
            accuracy,
            periodic,
            rule,
            weights,
            per_point: false,
        })
    }

    /// The stencil for coordinates `x` (of NumPy type `X`; integers given as `f64`). A
    /// periodic axis needs its `period`, greater in magnitude than `x[-1] - x[0]` and of the
    /// same sign; the wrap step is `period - (x[-1] - x[0])`.
    pub fn from_coordinates<X: Real + Cast<R>>(
        x: ArrayView1<'_, X>,
        accuracy: usize,
        period: Option<X>,
    ) -> Result<Self, GradientError> {
        let len = x.len();
        check_accuracy(accuracy, len)?;
        let periodic = period.is_some();
        if accuracy == 2 && !periodic {
            return Err(GradientError::NotExtended);
        }
        let wrap = match period {
            Some(period) => {
                let extent = x[len - 1] - x[0];
                let step = period - extent;
                let (p, e, s) = (period.to_f64(), extent.to_f64(), step.to_f64());
                // The period must reach past the coordinates, in their direction.
                if !(p * e > 0.0 && p * s > 0.0) {
                    return Err(GradientError::BadPeriod {
                        period: p,
                        extent: e,
                    });
                }
                Some(step)
            }
            None => None,
        };
        let mut weights = Vec::with_capacity(len * (accuracy + 1));
        if accuracy == 2 {
            // NumPy's interior formulas in the coordinate type, with the wrapped steps.
            let step = |i: usize| -> X {
                if i + 1 < len {
                    x[i + 1] - x[i]
                } else {
                    wrap.expect("periodic")
                }
            };
            for i in 0..len {
                let behind = step(if i == 0 { len - 1 } else { i - 1 });
                let ahead = step(i);
                let w = crate::stencil::interior_weights(behind, ahead);
                weights.extend(w.iter().map(|&v| v.cast()));
            }
        } else {
            let period = period.map(Real::to_f64);
            let position = |index: isize| -> f64 {
                let n = len as isize;
                let laps = index.div_euclid(n);
                let at = x[index.rem_euclid(n) as usize].to_f64();
                match period {
                    Some(p) => at + p * laps as f64,
                    None => at,
                }
            };
            let mut nodes = vec![0.0; accuracy + 1];
            for i in 0..len {
                let first = row_first(i, len, accuracy, periodic);
                let centre = position(i as isize);
                for (k, node) in nodes.iter_mut().enumerate() {
                    // Relative positions keep the weights accurate far from the origin.
                    *node = position(i as isize + first + k as isize) - centre;
                }
                weights.extend(
                    fornberg_first_derivative(&nodes)
                        .into_iter()
                        .map(R::from_f64),
                );
            }
        }
        Ok(WideStencil {
            len,
            accuracy,
            periodic,
            rule: if accuracy == 2 {
                Rule::NumpyWeights
            } else {
                Rule::Scaled
            },
            weights,
            per_point: true,
        })
    }

    /// The axis length this stencil was made for.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the axis is empty (never: construction needs `accuracy + 1` points).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The window of output point `i`.
    pub fn row(&self, i: usize) -> Row<'_, R> {
        let width = self.accuracy + 1;
        let first = row_first(i, self.len, self.accuracy, self.periodic);
        let slot = if self.per_point {
            i
        } else {
            let half = self.accuracy / 2;
            if self.periodic || (i >= half && i < self.len - half) {
                0
            } else if i < half {
                1 + i
            } else {
                1 + half + (self.len - 1 - i)
            }
        };
        Row {
            first,
            weights: &self.weights[slot * width..(slot + 1) * width],
            skip: (!self.per_point && slot == 0).then_some(self.accuracy / 2),
        }
    }

    /// The input index of window point `k` of output point `i` (wrapped when periodic).
    #[inline]
    fn source(&self, i: usize, first: isize, k: usize) -> usize {
        let index = i as isize + first + k as isize;
        if self.periodic {
            index.rem_euclid(self.len as isize) as usize
        } else {
            index as usize
        }
    }

    /// Combines the window values `value(k)` of output point `i` into the derivative.
    #[inline]
    fn combine<S, A, T>(&self, i: usize, value: impl Fn(usize) -> S) -> A
    where
        S: Cast<A>,
        A: Field + Cast<T>,
        T: Field<Real = R> + Cast<A>,
    {
        let row = self.row(i);
        if let Rule::Difference { twice_dx } = self.rule {
            let src = |k| value(self.source(i, row.first, k));
            return difference_quotient::<S, A, T>(src(0), src(2), twice_dx);
        }
        let values = (0..row.weights.len()).map(|k| value(self.source(i, row.first, k)));
        self.weighted::<S, A, T>(&row, values)
    }

    /// One term `w * v` of a window's sum: `v` read as NumPy reads it (converted to the data
    /// type, then the compute type), times `w` by the rule's multiplication.
    #[inline(always)]
    fn term<S, A, T>(&self, v: S, w: R) -> T
    where
        S: Cast<A>,
        A: Field + Cast<T>,
        T: Field<Real = R>,
    {
        let v: A = v.cast();
        let v: T = v.cast();
        if self.rule == Rule::NumpyWeights {
            v.mul_real(w)
        } else {
            v.scale(w)
        }
    }

    /// `sum(w_k * v_k)` over the window, left to right, without the row's skipped point.
    #[inline]
    fn weighted<S, A, T>(&self, row: &Row<'_, R>, values: impl Iterator<Item = S>) -> A
    where
        S: Cast<A>,
        A: Field + Cast<T>,
        T: Field<Real = R> + Cast<A>,
    {
        let mut terms = row
            .weights
            .iter()
            .zip(values)
            .enumerate()
            .filter(|&(k, _)| Some(k) != row.skip)
            .map(|(_, (&w, v))| self.term::<S, A, T>(v, w));
        // Windows have at least three points, so one is left after the skip.
        let first = terms.next().expect("a window has a point");
        terms.fold(first, |sum, term| sum.add(term)).cast()
    }
}

/// Offset of the first window point of output point `i`: centred in the interior, anchored at
/// `i` near a non-periodic edge (forward from it, or backward to it), moved inwards just far
/// enough to stay on the axis when the axis is shorter than `1.5 p`.
fn row_first(i: usize, len: usize, accuracy: usize, periodic: bool) -> isize {
    let half = accuracy / 2;
    let (i, len, p) = (i as isize, len as isize, accuracy as isize);
    if periodic || (i >= half as isize && i < len - half as isize) {
        -(half as isize)
    } else if i < half as isize {
        (len - 1 - p - i).min(0)
    } else {
        (-p).max(-i)
    }
}

/// Fornberg's weights for the first derivative at 0 from values at `nodes` (distinct).
pub fn fornberg_first_derivative(nodes: &[f64]) -> Vec<f64> {
    let n = nodes.len();
    // c[j][d]: weight of node j for derivative d (0 or 1), updated as nodes are added.
    let mut c = vec![[0.0_f64; 2]; n];
    c[0][0] = 1.0;
    let mut c1 = 1.0;
    let mut c4 = nodes[0];
    for i in 1..n {
        let mn = i.min(1);
        let mut c2 = 1.0;
        let c5 = c4;
        c4 = nodes[i];
        for j in 0..i {
            let c3 = nodes[i] - nodes[j];
            c2 *= c3;
            if j == i - 1 {
                for k in (1..=mn).rev() {
                    c[i][k] = c1 * (k as f64 * c[i - 1][k - 1] - c5 * c[i - 1][k]) / c2;
                }
                c[i][0] = -c1 * c5 * c[i - 1][0] / c2;
            }
            for k in (1..=mn).rev() {
                c[j][k] = (c4 * c[j][k] - k as f64 * c[j][k - 1]) / c3;
            }
            c[j][0] = c4 * c[j][0] / c3;
        }
        c1 = c2;
    }
    c.into_iter().map(|w| w[1]).collect()
}

/// Output points per parallel chunk of a single long lane.
const LANE_CHUNK: usize = 1 << 15;

/// Output hyperplane elements combined per block (their partial sums stay in cache).
const PLANE_BLOCK: usize = 512;

/// Writes the derivative of `f` along `axis` with `stencil` into `out`.
///
/// `parallel` allows splitting the work over the current rayon pool. Every element is
/// computed by the same arithmetic whatever the split.
pub fn gradient_axis_wide<S, A, T>(
    f: ArrayViewD<'_, S>,
    out: ArrayViewMutD<'_, A>,
    axis: usize,
    stencil: &WideStencil<T::Real>,
    parallel: bool,
) -> Result<(), GradientError>
where
    S: Cast<A> + Send + Sync,
    A: Field + Cast<T>,
    T: Field + Cast<A>,
{
    check_fits(&f, &out, axis)?;
    if stencil.len() != f.len_of(Axis(axis)) {
        return Err(GradientError::StencilMismatch);
    }
    if f.is_empty() {
        return Ok(());
    }
    let order = memory_order(&f);
    let position = order.iter().position(|&o| o == axis).expect("an axis");
    let f = f.permuted_axes(order.clone());
    let mut out = out.permuted_axes(order);
    let inner = f.ndim() - 1;
    if position == inner {
        let lanes = f.len() / f.len_of(Axis(inner));
        if parallel && lanes >= 64 {
            Zip::from(f.lanes(Axis(inner)))
                .and(out.lanes_mut(Axis(inner)))
                .par_for_each(|f, out| lane::<S, A, T>(f, out, 0, stencil));
        } else {
            for (f, mut out) in f
                .lanes(Axis(inner))
                .into_iter()
                .zip(out.lanes_mut(Axis(inner)))
            {
                if parallel && out.len() > LANE_CHUNK {
                    out.axis_chunks_iter_mut(Axis(0), LANE_CHUNK)
                        .into_par_iter()
                        .enumerate()
                        .for_each(|(c, chunk)| {
                            lane::<S, A, T>(f.view(), chunk, c * LANE_CHUNK, stencil)
                        });
                } else {
                    lane::<S, A, T>(f.view(), out.view_mut(), 0, stencil);
                }
            }
        }
        return Ok(());
    }
    let plane = |(i, out_plane): (usize, ArrayViewMutD<'_, A>)| {
        hyperplane::<S, A, T, IxDyn>(&f, out_plane, position, i, stencil)
    };
    if parallel {
        out.axis_iter_mut(Axis(position))
            .into_par_iter()
            .enumerate()
            .for_each(plane);
    } else {
        out.axis_iter_mut(Axis(position))
            .enumerate()
            .for_each(plane);
    }
    Ok(())
}

/// Output points `first .. first + out.len()` of one lane, split between threads when
/// `parallel` and long enough.
pub(crate) fn lane_range<S, A, T>(
    f: ArrayView1<'_, S>,
    out: ArrayViewMut1<'_, A>,
    first: usize,
    stencil: &WideStencil<T::Real>,
    parallel: bool,
) where
    S: Cast<A> + Send + Sync,
    A: Field + Cast<T>,
    T: Field + Cast<A>,
{
    if parallel && out.len() >= 2 * LANE_CHUNK {
        let mid = out.len() / 2;
        let (left, right) = out.split_at(Axis(0), mid);
        rayon::join(
            || lane_range::<S, A, T>(f, left, first, stencil, parallel),
            || lane_range::<S, A, T>(f, right, first + mid, stencil, parallel),
        );
        return;
    }
    lane::<S, A, T>(f, out, first, stencil);
}

/// Output points `first ..` of one lane, `out` holding as many as it has room for.
fn lane<S, A, T>(
    f: ArrayView1<'_, S>,
    mut out: ArrayViewMut1<'_, A>,
    first: usize,
    stencil: &WideStencil<T::Real>,
) where
    S: Cast<A>,
    A: Field + Cast<T>,
    T: Field + Cast<A>,
{
    let half = stencil.accuracy / 2;
    match f.as_slice() {
        Some(values) => {
            let end = first + out.len();
            // Points whose window lies inside the lane: computed in blocks of shifted slices.
            let lo = half.max(first).min(end);
            let hi = stencil.len.saturating_sub(half).min(end).max(lo);
            for (k, o) in out.iter_mut().enumerate() {
                let i = first + k;
                if i < lo || i >= hi {
                    *o = stencil.combine::<S, A, T>(i, |j| values[j]);
                }
            }
            let mut inner = out.slice_axis_mut(Axis(0), Slice::from(lo - first..hi - first));
            match inner.as_slice_mut() {
                Some(outputs) => interior::<S, A, T>(values, outputs, lo, stencil),
                None => {
                    for (k, o) in inner.iter_mut().enumerate() {
                        *o = stencil.combine::<S, A, T>(lo + k, |j| values[j]);
                    }
                }
            }
        }
        None => {
            for (k, o) in out.iter_mut().enumerate() {
                *o = stencil.combine::<S, A, T>(first + k, |j| f[j]);
            }
        }
    }
}

/// Points `lo .. lo + out.len()` of a contiguous lane, all with windows inside it: the same
/// arithmetic as [`WideStencil::combine`], term by term over blocks of points.
fn interior<S, A, T>(values: &[S], out: &mut [A], lo: usize, stencil: &WideStencil<T::Real>)
where
    S: Cast<A>,
    A: Field + Cast<T>,
    T: Field + Cast<A>,
{
    let half = stencil.accuracy / 2;
    if let Rule::Difference { twice_dx } = stencil.rule {
        for (k, o) in out.iter_mut().enumerate() {
            let i = lo + k;
            *o = difference_quotient::<S, A, T>(values[i - 1], values[i + 1], twice_dx);
        }
        return;
    }
    let width = stencil.accuracy + 1;
    let term = |v: S, w: T::Real| stencil.term::<S, A, T>(v, w);
    // Window points that take part: all but a uniform central row's middle.
    let central_row = stencil.row(half.min(stencil.len - 1));
    let central = central_row.weights;
    let taps: Vec<usize> = (0..width)
        .filter(|&k| stencil.per_point || Some(k) != central_row.skip)
        .collect();
    let mut sums: Vec<T> = Vec::with_capacity(PLANE_BLOCK);
    for start in (0..out.len()).step_by(PLANE_BLOCK) {
        let end = (start + PLANE_BLOCK).min(out.len());
        let (from, to) = (lo + start, lo + end);
        sums.clear();
        for (n, &k) in taps.iter().enumerate() {
            let shifted = &values[from - half + k..to - half + k];
            if stencil.per_point {
                let weight = |i: usize| stencil.weights[i * width + k];
                if n == 0 {
                    sums.extend(
                        shifted
                            .iter()
                            .zip(from..to)
                            .map(|(&v, i)| term(v, weight(i))),
                    );
                } else {
                    for ((s, &v), i) in sums.iter_mut().zip(shifted).zip(from..to) {
                        *s = s.add(term(v, weight(i)));
                    }
                }
            } else {
                let w = central[k];
                if n == 0 {
                    sums.extend(shifted.iter().map(|&v| term(v, w)));
                } else {
                    for (s, &v) in sums.iter_mut().zip(shifted) {
                        *s = s.add(term(v, w));
                    }
                }
            }
        }
        for (o, s) in out[start..end].iter_mut().zip(&sums) {
            *o = s.cast();
        }
    }
}

/// Output hyperplane `i` along an outer `axis`, from whole input hyperplanes, block by block:
/// the same arithmetic as [`WideStencil::combine`], element by element.
pub(crate) fn hyperplane<S, A, T, D: RemoveAxis>(
    f: &ArrayView<'_, S, D>,
    out: ArrayViewMut<'_, A, D::Smaller>,
    axis: usize,
    i: usize,
    stencil: &WideStencil<T::Real>,
) where
    S: Cast<A>,
    A: Field + Cast<T>,
    T: Field + Cast<A>,
{
    let row = stencil.row(i);
    let planes: Vec<ArrayView<'_, S, D::Smaller>> = (0..row.weights.len())
        .map(|k| f.index_axis(Axis(axis), stencil.source(i, row.first, k)))
        .collect();
    if let Rule::Difference { twice_dx } = stencil.rule {
        Zip::from(out)
            .and(&planes[0])
            .and(&planes[2])
            .for_each(|o, &lo, &hi| *o = difference_quotient::<S, A, T>(lo, hi, twice_dx));
        return;
    }
    let taps: Vec<(usize, T::Real)> = row
        .weights
        .iter()
        .copied()
        .enumerate()
        .filter(|&(k, _)| Some(k) != row.skip)
        .collect();
    let term = |v: S, w: T::Real| stencil.term::<S, A, T>(v, w);
    let mut sums: Vec<T> = Vec::with_capacity(PLANE_BLOCK);
    let slices: Option<Vec<&[S]>> = taps.iter().map(|&(k, _)| planes[k].as_slice()).collect();
    let mut out = out;
    if let (Some(slices), Some(outputs)) = (slices, out.as_slice_mut()) {
        // Contiguous planes (the usual C or Fortran array): plain slice loops.
        for start in (0..outputs.len()).step_by(PLANE_BLOCK) {
            let end = (start + PLANE_BLOCK).min(outputs.len());
            sums.clear();
            let w0 = taps[0].1;
            sums.extend(slices[0][start..end].iter().map(|&v| term(v, w0)));
            for (source, &(_, w)) in slices.iter().zip(&taps).skip(1) {
                for (s, &v) in sums.iter_mut().zip(&source[start..end]) {
                    *s = s.add(term(v, w));
                }
            }
            for (o, s) in outputs[start..end].iter_mut().zip(&sums) {
                *o = s.cast();
            }
        }
        return;
    }
    let mut sources: Vec<_> = taps.iter().map(|&(k, _)| planes[k].iter()).collect();
    let mut outputs = out.into_iter();
    loop {
        sums.clear();
        let w0 = taps[0].1;
        sums.extend(sources[0].by_ref().take(PLANE_BLOCK).map(|&v| term(v, w0)));
        if sums.is_empty() {
            break;
        }
        for (source, &(_, w)) in sources.iter_mut().zip(&taps).skip(1) {
            for (s, &v) in sums.iter_mut().zip(source.by_ref()) {
                *s = s.add(term(v, w));
            }
        }
        // The block first: zip must not pull an output it has no sum for.
        for (s, o) in sums.iter().zip(outputs.by_ref()) {
            *o = s.cast();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, ArrayD, IxDyn, ShapeBuilder};

    fn derivative(f: &[f64], stencil: &WideStencil<f64>) -> Vec<f64> {
        let input = ArrayD::from_shape_vec(IxDyn(&[f.len()]), f.to_vec()).unwrap();
        let mut out = ArrayD::zeros(IxDyn(&[f.len()]));
        gradient_axis_wide::<f64, f64, f64>(input.view(), out.view_mut(), 0, stencil, false)
            .unwrap();
        out.into_iter().collect()
    }

    #[test]
    fn tables_are_fornbergs_weights() {
        for p in ACCURACIES {
            let half = (p / 2) as f64;
            let nodes: Vec<f64> = (0..=p).map(|k| k as f64 - half).collect();
            let (c, den) = central_coefficients(p);
            for (w, &c) in fornberg_first_derivative(&nodes).iter().zip(c) {
                assert!(
                    (w - f64::from(c) / f64::from(den)).abs() < 1e-12,
                    "central {p}"
                );
            }
            let nodes: Vec<f64> = (0..=p).map(|k| k as f64).collect();
            let (c, den) = forward_coefficients(p);
            for (w, &c) in fornberg_first_derivative(&nodes).iter().zip(c) {
                assert!(
                    (w - f64::from(c) / f64::from(den)).abs() < 1e-9,
                    "forward {p}"
                );
            }
        }
    }

    #[test]
    fn polynomials_up_to_the_order_are_exact() {
        for (p, n) in [4, 6, 8]
            .iter()
            .flat_map(|&p| [(p, p + 1), (p, p + 3), (p, 17)])
        {
            let x: Vec<f64> = (0..n)
                .map(|i| i as f64 * 0.5 + 0.1 * ((i * 7 % 5) as f64))
                .collect();
            let poly = |t: f64| {
                (0..=p)
                    .map(|d| t.powi(d as i32) / (d + 1) as f64)
                    .sum::<f64>()
            };
            let dpoly = |t: f64| {
                (1..=p)
                    .map(|d| d as f64 * t.powi(d as i32 - 1) / (d + 1) as f64)
                    .sum::<f64>()
            };
            let coords = Array1::from(x.clone());
            let stencil = WideStencil::<f64>::from_coordinates(coords.view(), p, None).unwrap();
            let f: Vec<f64> = x.iter().map(|&t| poly(t)).collect();
            for (got, &t) in derivative(&f, &stencil).iter().zip(&x) {
                assert!(
                    (got - dpoly(t)).abs() < 1e-6 * dpoly(t).abs().max(1.0),
                    "{p}"
                );
            }
            let uniform = WideStencil::<f64>::uniform(n, p, false, 0.5, 1.0).unwrap();
            let grid: Vec<f64> = (0..n).map(|i| i as f64 * 0.5).collect();
            let f: Vec<f64> = grid.iter().map(|&t| poly(t)).collect();
            for (got, &t) in derivative(&f, &uniform).iter().zip(&grid) {
                assert!(
                    (got - dpoly(t)).abs() < 1e-6 * dpoly(t).abs().max(1.0),
                    "{p}"
                );
            }
        }
    }

    #[test]
    fn periodic_uniform_accuracy_two_is_numpys_interior_everywhere() {
        let f = [1.0, 4.0, 9.0, 16.0, 25.0];
        let stencil = WideStencil::<f64>::uniform(5, 2, true, 1.0, 2.0).unwrap();
        assert_eq!(
            derivative(&f, &stencil),
            [(4.0 - 25.0) / 2.0, 4.0, 6.0, 8.0, (1.0 - 16.0) / 2.0]
        );
    }

    #[test]
    fn periodic_trigonometric_is_accurate() {
        let n = 64;
        let period = 2.0 * std::f64::consts::PI;
        let dx = period / n as f64;
        let f: Vec<f64> = (0..n).map(|i| (i as f64 * dx).sin()).collect();
        let mut errors = vec![];
        for p in ACCURACIES {
            let stencil = WideStencil::<f64>::uniform(n, p, true, dx, 2.0 * dx).unwrap();
            let error = derivative(&f, &stencil)
                .iter()
                .enumerate()
                .map(|(i, d)| (d - (i as f64 * dx).cos()).abs())
                .fold(0.0, f64::max);
            errors.push(error);
        }
        assert!(errors.windows(2).all(|e| e[1] < e[0] / 10.0), "{errors:?}");
    }

    #[test]
    fn too_short_axes_and_bad_periods_are_errors() {
        assert!(WideStencil::<f64>::uniform(4, 4, false, 1.0, 2.0).is_err());
        assert!(WideStencil::<f64>::uniform(9, 8, true, 1.0, 2.0).is_ok());
        assert!(WideStencil::<f64>::uniform(9, 3, true, 1.0, 2.0).is_err());
        let x = Array1::from(vec![0.0, 1.0, 2.5, 3.0]);
        assert!(WideStencil::<f64>::from_coordinates(x.view(), 2, Some(3.0)).is_err());
        assert!(WideStencil::<f64>::from_coordinates(x.view(), 2, Some(-4.0)).is_err());
        assert!(WideStencil::<f64>::from_coordinates(x.view(), 2, Some(4.0)).is_ok());
    }

    #[test]
    fn lanes_planes_and_splits_agree() {
        let shape = [7, 40_000 / 7 + 3];
        let data = ArrayD::from_shape_fn(IxDyn(&shape), |ix| {
            ((ix[0] * 31 + ix[1] * 17) % 101) as f64 * 0.37
        });
        for axis in 0..2 {
            let n = shape[axis];
            let x = Array1::from_iter((0..n).map(|i| i as f64 + 0.3 * ((i * 13 % 7) as f64)));
            for stencil in [
                WideStencil::<f64>::from_coordinates(x.view(), 6, Some(n as f64 * 2.0)).unwrap(),
                WideStencil::<f64>::uniform(n, 4, false, 0.7, 1.4).unwrap(),
            ] {
                let mut serial = ArrayD::zeros(IxDyn(&shape));
                let mut split = ArrayD::zeros(IxDyn(&shape));
                let mut fortran = ArrayD::zeros(IxDyn(&shape).f());
                gradient_axis_wide::<f64, f64, f64>(
                    data.view(),
                    serial.view_mut(),
                    axis,
                    &stencil,
                    false,
                )
                .unwrap();
                gradient_axis_wide::<f64, f64, f64>(
                    data.view(),
                    split.view_mut(),
                    axis,
                    &stencil,
                    true,
                )
                .unwrap();
                let transposed = data.t().as_standard_layout().into_owned();
                gradient_axis_wide::<f64, f64, f64>(
                    transposed.t(),
                    fortran.view_mut(),
                    axis,
                    &stencil,
                    true,
                )
                .unwrap();
                let bits = |a: &ArrayD<f64>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert!(bits(&serial) == bits(&split), "split, axis {axis}");
                assert!(bits(&serial) == bits(&fortran), "fortran, axis {axis}");
            }
        }
    }
}
