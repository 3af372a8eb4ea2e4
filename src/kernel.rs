//! The gradient along one axis, written like NumPy's formulas: the interior and the two edges
//! are views along the axis, combined element by element with `Zip`.

use crate::element::{Cast, Field};
use crate::stencil::{AxisStencil, EdgeOrder, Interior};
use ndarray::{ArrayView1, ArrayViewD, ArrayViewMutD, Axis, IxDyn, Slice, Zip};
use std::fmt;

/// Why the core refused a request. The Python shim checks arguments first, so these only
/// guard the core's own contract.
#[derive(Clone, Debug, PartialEq)]
pub enum GradientError {
    /// The axis index is not below the number of dimensions.
    AxisOutOfRange { axis: usize, ndim: usize },
    /// The axis has fewer points than the edge order needs.
    AxisTooShort { length: usize, needed: usize },
    /// The output's shape differs from the input's.
    ShapeMismatch,
    /// A coordinate stencil's weight count does not fit the axis.
    StencilMismatch,
    /// Fewer than two coordinates along an axis.
    TooFewCoordinates,
    /// Coordinates of a wider type than the compute type (NumPy would have promoted).
    CoordinatesTooWide,
    /// An accuracy other than 2, 4, 6 or 8.
    BadAccuracy { accuracy: usize },
    /// The axis has fewer points than a stencil of this accuracy spans.
    AxisTooShortForStencil { length: usize, accuracy: usize },
    /// A period that does not reach past the coordinates in their direction.
    BadPeriod { period: f64, extent: f64 },
    /// Accuracy 2 without a periodic axis is NumPy's stencil, not an extended one.
    NotExtended,
    /// A periodic coordinate axis without its period (or a period for a non-periodic one).
    MissingPeriod,
}

impl fmt::Display for GradientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GradientError::AxisOutOfRange { axis, ndim } => {
                write!(
                    f,
                    "axis {axis} is out of bounds for array of dimension {ndim}"
                )
            }
            GradientError::AxisTooShort { .. } => f.write_str(
                "Shape of array too small to calculate a numerical gradient, \
                 at least (edge_order + 1) elements are required.",
            ),
            GradientError::ShapeMismatch => f.write_str("output shape does not match the input"),
            GradientError::StencilMismatch => {
                f.write_str("coordinate weights do not match the axis length")
            }
            GradientError::TooFewCoordinates => f.write_str("coordinates need at least two points"),
            GradientError::CoordinatesTooWide => {
                f.write_str("coordinates are wider than the compute type")
            }
            GradientError::BadAccuracy { accuracy } => {
                write!(f, "accuracy must be 2, 4, 6 or 8, got {accuracy}")
            }
            GradientError::AxisTooShortForStencil { length, accuracy } => write!(
                f,
                "an axis of length {length} is too short for accuracy={accuracy}: \
                 the stencil needs at least {} points",
                accuracy + 1
            ),
            GradientError::BadPeriod { period, extent } => write!(
                f,
                "period {period} must exceed the coordinates' extent x[-1] - x[0] = {extent} \
                 in magnitude and have its sign"
            ),
            GradientError::MissingPeriod => {
                f.write_str("a periodic axis with coordinates needs period=")
            }
            GradientError::NotExtended => {
                f.write_str("accuracy 2 without periodic is numpy.gradient's own stencil")
            }
        }
    }
}

impl std::error::Error for GradientError {}

/// Inputs smaller than this many elements are computed on the calling thread: below it,
/// waking the pool (tens of microseconds) costs more than it saves.
pub const PARALLEL_THRESHOLD: usize = 1 << 18;

/// Runs `zip.for_each`, or its parallel form when `parallel`.
macro_rules! zip_apply {
    ($parallel:expr, $zip:expr, $body:expr) => {
        if $parallel {
            $zip.par_for_each($body)
        } else {
            $zip.for_each($body)
        }
    };
}

/// Writes the gradient of `f` along `axis` into `out`.
///
/// `S` is the stored element type, `A` the type NumPy differences in (and the output type),
/// `T` the type NumPy divides or weighs in. `out` may have any strides; every element of it
/// is written.
pub fn gradient_axis<S, A, T>(
    f: ArrayViewD<'_, S>,
    out: ArrayViewMutD<'_, A>,
    axis: usize,
    stencil: &AxisStencil<T::Real>,
    edge_order: EdgeOrder,
) -> Result<(), GradientError>
where
    S: Cast<A> + Send + Sync,
    A: Field + Cast<T>,
    T: Field + Cast<A>,
{
    let parallel = f.len() >= PARALLEL_THRESHOLD && crate::threads::pool_usable();
    gradient_axis_with::<S, A, T>(f, out, axis, stencil, edge_order, parallel)
}

/// Checks that `axis` is an axis of `f` and that `out` has `f`'s shape.
pub(crate) fn check_fits<S, A>(
    f: &ArrayViewD<'_, S>,
    out: &ArrayViewMutD<'_, A>,
    axis: usize,
) -> Result<(), GradientError> {
    if axis >= f.ndim() {
        return Err(GradientError::AxisOutOfRange {
            axis,
            ndim: f.ndim(),
        });
    }
    if f.shape() != out.shape() {
        return Err(GradientError::ShapeMismatch);
    }
    Ok(())
}

/// The axes of `f` in memory order: largest stride first; ties and length-1 axes keep their
/// order. Walking a view permuted to this order follows the input's layout.
pub(crate) fn memory_order<S>(f: &ArrayViewD<'_, S>) -> Vec<usize> {
    let mut order: Vec<usize> = (0..f.ndim()).collect();
    order.sort_by_key(|&ax| {
        std::cmp::Reverse(if f.len_of(Axis(ax)) > 1 {
            f.strides()[ax].unsigned_abs()
        } else {
            usize::MAX
        })
    });
    order
}

/// Checks that `out` and `stencil` fit `f` along `axis` for `edge_order`.
pub(crate) fn check<S, A, R>(
    f: &ArrayViewD<'_, S>,
    out: &ArrayViewMutD<'_, A>,
    axis: usize,
    stencil: &AxisStencil<R>,
    edge_order: EdgeOrder,
) -> Result<(), GradientError> {
    check_fits(f, out, axis)?;
    let n = f.len_of(Axis(axis));
    if n < edge_order.min_points() {
        return Err(GradientError::AxisTooShort {
            length: n,
            needed: edge_order.min_points(),
        });
    }
    if let Interior::Weighted(weights) = &stencil.interior {
        if weights.len() != n - 2 {
            return Err(GradientError::StencilMismatch);
        }
    }
    Ok(())
}

/// [`gradient_axis`], with the choice of splitting over the rayon pool made by the caller.
pub(crate) fn gradient_axis_with<S, A, T>(
    f: ArrayViewD<'_, S>,
    mut out: ArrayViewMutD<'_, A>,
    axis: usize,
    stencil: &AxisStencil<T::Real>,
    edge_order: EdgeOrder,
    parallel: bool,
) -> Result<(), GradientError>
where
    S: Cast<A> + Send + Sync,
    A: Field + Cast<T>,
    T: Field + Cast<A>,
{
    check(&f, &out, axis, stencil, edge_order)?;
    let n = f.len_of(Axis(axis));
    let ax = Axis(axis);
    let load = |v: S| -> T { Cast::<A>::cast(v).cast() };

    // Interior: out[1:-1] from f[:-2], f[1:-1], f[2:].
    {
        let behind = f.slice_axis(ax, Slice::from(..n - 2));
        let ahead = f.slice_axis(ax, Slice::from(2..));
        let out_mid = out.slice_axis_mut(ax, Slice::from(1..n - 1));
        match &stencil.interior {
            Interior::Uniform { divisor } => {
                let divisor = *divisor;
                let zip = Zip::from(out_mid).and(&behind).and(&ahead);
                zip_apply!(parallel, zip, |o: &mut A, &lo: &S, &hi: &S| {
                    *o = difference_quotient::<S, A, T>(lo, hi, divisor);
                });
            }
            Interior::Weighted(weights) => {
                let centre = f.slice_axis(ax, Slice::from(1..n - 1));
                let all = weights.to_vec();
                let weights = along_axis(ArrayView1::from(all.as_slice()), ax, f.ndim());
                let weights = weights
                    .broadcast(out_mid.raw_dim())
                    .expect("weights broadcast along the axis");
                let zip = Zip::from(out_mid)
                    .and(&behind)
                    .and(&centre)
                    .and(&ahead)
                    .and(&weights);
                zip_apply!(
                    parallel,
                    zip,
                    |o: &mut A, &f0: &S, &f1: &S, &f2: &S, w: &[T::Real; 3]| {
                        *o = weighted_sum(load(f0), load(f1), load(f2), *w);
                    }
                );
            }
        }
    }

    // Edges: out[0] and out[-1], each a hyperplane of the output.
    let at = |i: usize| f.index_axis(ax, i);
    match edge_order {
        EdgeOrder::First => {
            for (index, (lo, hi), divisor) in [
                (0, (0, 1), stencil.edge_divisors[0]),
                (n - 1, (n - 2, n - 1), stencil.edge_divisors[1]),
            ] {
                let zip = Zip::from(out.index_axis_mut(ax, index))
                    .and(at(lo))
                    .and(at(hi));
                zip_apply!(parallel, zip, |o: &mut A, &lo: &S, &hi: &S| {
                    *o = difference_quotient::<S, A, T>(lo, hi, divisor);
                });
            }
        }
        EdgeOrder::Second => {
            for (index, first, w) in [
                (0, 0, stencil.first_edge),
                (n - 1, n - 3, stencil.last_edge),
            ] {
                let zip = Zip::from(out.index_axis_mut(ax, index))
                    .and(at(first))
                    .and(at(first + 1))
                    .and(at(first + 2));
                zip_apply!(parallel, zip, |o: &mut A, &f0: &S, &f1: &S, &f2: &S| {
                    *o = weighted_sum(load(f0), load(f1), load(f2), w);
                });
            }
        }
    }
    Ok(())
}

/// A 1-D array laid out along `axis` of an `ndim`-dimensional array (length 1 elsewhere), so
/// that it broadcasts like NumPy's `a.reshape(shape)` in `numpy.gradient`.
fn along_axis<'a, W>(v: ArrayView1<'a, W>, axis: Axis, ndim: usize) -> ArrayViewD<'a, W> {
    let mut shape = vec![1; ndim];
    shape[axis.index()] = v.len();
    v.into_shape_with_order(IxDyn(&shape))
        .expect("a 1-D view reshapes to a single non-trivial axis")
}

/// NumPy's `(f[2:] - f[:-2]) / (2. * dx)` and `(f[1] - f[0]) / dx`: the difference in `A`,
/// the division in `T`.
#[inline(always)]
pub(crate) fn difference_quotient<S, A, T>(lo: S, hi: S, divisor: T::Real) -> A
where
    S: Cast<A>,
    A: Field + Cast<T>,
    T: Field + Cast<A>,
{
    let hi: A = hi.cast();
    let difference: T = hi.sub(lo.cast()).cast();
    difference.div_real(divisor).cast()
}

/// NumPy's `a * f0 + b * f1 + c * f2`, evaluated left to right in `T`.
#[inline(always)]
pub(crate) fn weighted_sum<T, A>(f0: T, f1: T, f2: T, w: [T::Real; 3]) -> A
where
    T: Field + Cast<A>,
{
    f0.mul_real(w[0])
        .add(f1.mul_real(w[1]))
        .add(f2.mul_real(w[2]))
        .cast()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array, ArrayD};

    fn grad(f: ArrayD<f64>, axis: usize, stencil: AxisStencil<f64>, e: EdgeOrder) -> ArrayD<f64> {
        let mut out = ArrayD::zeros(f.raw_dim());
        gradient_axis::<f64, f64, f64>(f.view(), out.view_mut(), axis, &stencil, e).unwrap();
        out
    }

    #[test]
    fn seed_cube_example() {
        // f(x) = x^3 at x = 1, 2, 3: [7, 13, 19].
        let f = array![1.0, 8.0, 27.0].into_dyn();
        let g = grad(f, 0, AxisStencil::from_scalar(1.0), EdgeOrder::First);
        assert_eq!(g, array![7.0, 13.0, 19.0].into_dyn());
    }

    #[test]
    fn seed_cube_with_coordinates() {
        let f = array![1.0, 8.0, 27.0].into_dyn();
        let x = array![1.0, 2.0, 3.0];
        let g = grad(
            f,
            0,
            AxisStencil::from_coordinates(x.view()),
            EdgeOrder::First,
        );
        assert_eq!(g, array![7.0, 13.0, 19.0].into_dyn());
    }

    #[test]
    fn second_order_edges_are_exact_for_quadratics() {
        let f = array![0.0, 1.0, 4.0, 9.0, 16.0].into_dyn();
        let g = grad(f, 0, AxisStencil::from_scalar(1.0), EdgeOrder::Second);
        assert_eq!(g, array![0.0, 2.0, 4.0, 6.0, 8.0].into_dyn());
    }

    #[test]
    fn both_axes_of_a_plane() {
        // f = 3*i + j: gradient 3 along axis 0 and 1 along axis 1 (the seed's 2-D field).
        let f = Array::from_shape_fn((3, 4), |(i, j)| (3 * i + j) as f64).into_dyn();
        let s = AxisStencil::from_scalar(1.0);
        assert!(grad(f.clone(), 0, s.clone(), EdgeOrder::First)
            .iter()
            .all(|&v| v == 3.0));
        assert!(grad(f, 1, s, EdgeOrder::Second).iter().all(|&v| v == 1.0));
    }

    #[test]
    fn integers_are_differenced_in_f64() {
        // In i8 arithmetic 127 - (-128) would wrap; NumPy converts to f64 first.
        let f = array![-128_i8, 0, 127].into_dyn();
        let mut out = ArrayD::<f64>::zeros(f.raw_dim());
        let s = AxisStencil::from_scalar(1.0);
        gradient_axis::<i8, f64, f64>(f.view(), out.view_mut(), 0, &s, EdgeOrder::First).unwrap();
        assert_eq!(out, array![128.0, 127.5, 127.0].into_dyn());
    }

    #[test]
    fn strided_and_reversed_views() {
        let base = Array::from_shape_fn((6, 8), |(i, j)| ((i * i) as f64) * 0.5 + (j as f64));
        let view = base
            .view()
            .slice_axis_move(Axis(0), Slice::new(0, None, -2))
            .slice_axis_move(Axis(1), Slice::new(1, None, 3))
            .into_dyn();
        let s = AxisStencil::from_scalar(1.0);
        for axis in 0..2 {
            let mut out = ArrayD::<f64>::zeros(view.raw_dim());
            gradient_axis::<f64, f64, f64>(view.view(), out.view_mut(), axis, &s, EdgeOrder::First)
                .unwrap();
            assert_eq!(
                out,
                grad(view.to_owned(), axis, s.clone(), EdgeOrder::First)
            );
        }
    }

    #[test]
    fn parallel_matches_the_formula_everywhere() {
        let n = PARALLEL_THRESHOLD * 2 + 7;
        let f = Array::from_shape_fn(n, |i| ((i as f64) * 0.37).sin()).into_dyn();
        let s = AxisStencil::from_scalar(0.1);
        let g = grad(f.clone(), 0, s, EdgeOrder::Second);
        for i in 1..n - 1 {
            assert_eq!(g[i], (f[i + 1] - f[i - 1]) / 0.2, "at {i}");
        }
        assert_eq!(
            g[0],
            -1.5 / 0.1 * f[0] + 2.0 / 0.1 * f[1] + -0.5 / 0.1 * f[2]
        );
        let m = n - 1;
        assert_eq!(
            g[m],
            0.5 / 0.1 * f[m - 2] + -2.0 / 0.1 * f[m - 1] + 1.5 / 0.1 * f[m]
        );
    }

    #[test]
    fn too_short_axis_is_an_error() {
        let f = ArrayD::<f64>::zeros(IxDyn(&[2, 3]));
        let mut out = f.clone();
        let s = AxisStencil::from_scalar(1.0);
        let r = gradient_axis::<f64, f64, f64>(f.view(), out.view_mut(), 0, &s, EdgeOrder::Second);
        assert_eq!(
            r,
            Err(GradientError::AxisTooShort {
                length: 2,
                needed: 3
            })
        );
    }
}
