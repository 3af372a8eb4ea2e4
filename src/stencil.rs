//! Finite-difference weights along one axis, computed as `numpy.gradient` computes them.
//!
//! NumPy evaluates every coefficient in the spacing's own type (a coordinate array's dtype, or
//! the type of the scalar spacing) and only then promotes it to the compute type. The
//! constructors here do the same: the arithmetic runs in `X`, the result is widened to `R`.

use crate::element::{Cast, Real};
use ndarray::ArrayView1;
use rayon::prelude::*;
use std::fmt;
use std::sync::Arc;

/// Accuracy of the one-sided differences at the two ends of an axis.
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

/// Weights for one axis, already in the real part `R` of the compute type. A non-uniform axis
/// borrows its coordinates for `'x`.
#[derive(Clone, Debug)]
pub struct AxisStencil<'x, R> {
    /// How interior points are differenced.
    pub interior: Interior<'x, R>,
    /// Divisors of the first-order edges: `dx` at the start and at the end of the axis.
    pub edge_divisors: [R; 2],
    /// Second-order weights for `f[0], f[1], f[2]`.
    pub first_edge: [R; 3],
    /// Second-order weights for `f[-3], f[-2], f[-1]`.
    pub last_edge: [R; 3],
}

/// The interior stencil.
#[derive(Clone, Debug)]
pub enum Interior<'x, R> {
    /// `(f[i+1] - f[i-1]) / divisor`, with `divisor = 2 * dx`.
    Uniform {
        /// `2 * dx`, as NumPy computes it in the spacing's type.
        divisor: R,
    },
    /// `a[i] * f[i-1] + b[i] * f[i] + c[i] * f[i+1]` for `i` in `1..n-1`, one weight triple
    /// per interior point, computed on demand.
    Weighted(Arc<dyn InteriorWeights<R> + 'x>),
}

impl<R: PartialEq + Copy + Default> PartialEq for AxisStencil<'_, R> {
    fn eq(&self, other: &Self) -> bool {
        self.interior == other.interior
            && self.edge_divisors == other.edge_divisors
            && self.first_edge == other.first_edge
            && self.last_edge == other.last_edge
    }
}

impl<R: PartialEq + Copy + Default> PartialEq for Interior<'_, R> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Interior::Uniform { divisor: a }, Interior::Uniform { divisor: b }) => a == b,
            (Interior::Weighted(a), Interior::Weighted(b)) => a.to_vec() == b.to_vec(),
            _ => false,
        }
    }
}

/// The interior weights of a non-uniform axis.
///
/// They are computed on demand, a block at a time, from the coordinate steps kept in their own
/// type: the kernels never hold an array of weights the size of the axis, and the three
/// divisions per point are spread over the threads that use them.
pub trait InteriorWeights<R>: Send + Sync + fmt::Debug {
    /// The number of interior points (the axis length minus two).
    fn len(&self) -> usize;

    /// Whether there are no interior points.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the weights `(a, b, c)` of interior points `first..first + a.len()` into the three
    /// slices (of equal length), where interior point `k` is the axis point `k + 1`.
    fn fill(&self, first: usize, a: &mut [R], b: &mut [R], c: &mut [R]);

    /// All the weights, for tests and for the simple per-axis kernel.
    fn to_vec(&self) -> Vec<[R; 3]>
    where
        R: Copy + Default,
    {
        let n = self.len();
        let (mut a, mut b, mut c) = (
            vec![R::default(); n],
            vec![R::default(); n],
            vec![R::default(); n],
        );
        self.fill(0, &mut a, &mut b, &mut c);
        (0..n).map(|i| [a[i], b[i], c[i]]).collect()
    }
}

/// Coordinates `x` (of NumPy type `X`) whose steps `dx[i] = x[i+1] - x[i]` are taken in `X`
/// as the weights are needed.
#[derive(Debug)]
struct Coordinates<'x, X>(ArrayView1<'x, X>);

impl<X: Real + Cast<R>, R: Real> InteriorWeights<R> for Coordinates<'_, X> {
    fn len(&self) -> usize {
        self.0.len().saturating_sub(2)
    }

    fn fill(&self, first: usize, a: &mut [R], b: &mut [R], c: &mut [R]) {
        let len = a.len();
        let (b, c) = (&mut b[..len], &mut c[..len]);
        let mut put = |k: usize, x0: X, x1: X, x2: X| {
            let [wa, wb, wc] = interior_weights(x1 - x0, x2 - x1);
            a[k] = wa.cast();
            b[k] = wb.cast();
            c[k] = wc.cast();
        };
        match self.0.as_slice() {
            // Contiguous coordinates: a plain indexed loop, which the compiler vectorises.
            Some(x) => {
                let x = &x[first..first + len + 2];
                for k in 0..len {
                    put(k, x[k], x[k + 1], x[k + 2]);
                }
            }
            None => {
                for k in 0..len {
                    let i = first + k;
                    put(k, self.0[i], self.0[i + 1], self.0[i + 2]);
                }
            }
        }
    }
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

/// Coordinate arrays at least this long are checked for uniformity on the thread pool.
const PARALLEL_COORDINATES: usize = 1 << 16;

impl<'x, R: Real> AxisStencil<'x, R> {
    /// The stencil for a scalar spacing `dx`, with every derived value given exactly as NumPy
    /// computes it (`2. * dx`, `-1.5 / dx`, ...) and already converted to `R`.
    pub fn uniform(
        twice_dx: R,
        dx: R,
        first_edge: [R; 3],
        last_edge: [R; 3],
    ) -> AxisStencil<'x, R> {
        AxisStencil {
            interior: Interior::Uniform { divisor: twice_dx },
            edge_divisors: [dx, dx],
            first_edge,
            last_edge,
        }
    }

    /// The stencil for a scalar spacing held in NumPy type `X`: NumPy's `2. * dx`,
    /// `-1.5 / dx`, `2. / dx`, ... evaluated in `X`.
    pub fn from_scalar<X: Real + Cast<R>>(dx: X) -> AxisStencil<'x, R> {
        let k = X::from_f64;
        let over_dx = |numerator: f64| (k(numerator) / dx).cast();
        AxisStencil::uniform(
            (k(2.0) * dx).cast(),
            dx.cast(),
            [over_dx(-1.5), over_dx(2.0), over_dx(-0.5)],
            [over_dx(0.5), over_dx(-2.0), over_dx(1.5)],
        )
    }

    /// [`AxisStencil::from_coordinates`] (or [`AxisStencil::uneven`] for [`Steps::Uneven`]),
    /// refusing what it cannot represent: fewer than two coordinates, or coordinates wider
    /// than `R` (NumPy would have computed in their type).
    pub fn try_from_coordinates<X: Real + Cast<R>>(
        x: ArrayView1<'x, X>,
        steps: Steps,
    ) -> Result<AxisStencil<'x, R>, crate::GradientError> {
        if std::mem::size_of::<X>() > std::mem::size_of::<R>() {
            return Err(crate::GradientError::CoordinatesTooWide);
        }
        if x.len() < 2 {
            return Err(crate::GradientError::TooFewCoordinates);
        }
        Ok(match steps {
            Steps::Checked => AxisStencil::from_coordinates(x),
            Steps::Uneven => AxisStencil::uneven(x),
        })
    }

    /// The stencil for coordinates `x` along an axis of `x.len()` points.
    ///
    /// As NumPy does, the differences `dx = diff(x)` are taken in `X`; when they are all equal
    /// (`dx == dx[0]`) the axis is treated as uniform with spacing `dx[0]`, otherwise the
    /// weights are NumPy's non-uniform formulas. Integer coordinates must be given as `f64`,
    /// the type NumPy converts them to. Needs at least two coordinates.
    pub fn from_coordinates<X: Real + Cast<R>>(x: ArrayView1<'x, X>) -> AxisStencil<'x, R> {
        assert!(x.len() >= 2, "coordinates need at least two points");
        let parallel = x.len() >= PARALLEL_COORDINATES && crate::threads::pool_usable();
        let first = x[1] - x[0];
        let step_is_first = |pair: &[X]| pair[1] - pair[0] == first;
        let uniform = match x.as_slice() {
            Some(xs) if parallel => xs.par_windows(2).all(step_is_first),
            Some(xs) => xs.windows(2).all(step_is_first),
            None => x.windows(2).into_iter().all(|p| p[1] - p[0] == first),
        };
        if uniform {
            AxisStencil::from_scalar(first)
        } else {
            AxisStencil::uneven(x)
        }
    }

    /// NumPy's non-uniform formulas for coordinates `x`, whatever their steps: for a slice of
    /// a longer coordinate array that NumPy found uneven (a Dask block with its halo), whose
    /// own steps may happen to be equal. Needs at least two coordinates.
    pub fn uneven<X: Real + Cast<R>>(x: ArrayView1<'x, X>) -> AxisStencil<'x, R> {
        assert!(x.len() >= 2, "coordinates need at least two points");
        let dx = |i: usize| x[i + 1] - x[i];
        let n = x.len() - 1; // the number of steps
        let two = X::from_f64(2.0);
        let first_edge = {
            let (dx1, dx2) = (dx(0), dx(1.min(n - 1)));
            [
                -(two * dx1 + dx2) / (dx1 * (dx1 + dx2)),
                (dx1 + dx2) / (dx1 * dx2),
                -dx1 / (dx2 * (dx1 + dx2)),
            ]
        };
        let last_edge = {
            let (dx1, dx2) = (dx(n.saturating_sub(2)), dx(n - 1));
            [
                dx2 / (dx1 * (dx1 + dx2)),
                -(dx2 + dx1) / (dx1 * dx2),
                (two * dx2 + dx1) / (dx2 * (dx1 + dx2)),
            ]
        };
        AxisStencil {
            edge_divisors: [dx(0).cast(), dx(n - 1).cast()],
            first_edge: first_edge.map(Cast::cast),
            last_edge: last_edge.map(Cast::cast),
            interior: Interior::Weighted(Arc::new(Coordinates(x))),
        }
    }
}

/// NumPy's second-order weights for a point with spacing `dx1` behind and `dx2` ahead.
pub(crate) fn interior_weights<X: Real>(dx1: X, dx2: X) -> [X; 3] {
    [
        -(dx2) / (dx1 * (dx1 + dx2)),
        (dx2 - dx1) / (dx1 * dx2),
        dx1 / (dx2 * (dx1 + dx2)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;
    use ndarray::array;

    #[test]
    fn equal_steps_reduce_to_scalar_spacing() {
        let x = array![1.0, 3.0, 5.0, 7.0];
        let s = AxisStencil::<f64>::from_coordinates(x.view());
        assert_eq!(s, AxisStencil::from_scalar(2.0));
        assert_eq!(s.interior, Interior::Uniform { divisor: 4.0 });
        assert_eq!(s.first_edge, [-0.75, 1.0, -0.25]);
    }

    #[test]
    fn unequal_steps_give_numpy_weights() {
        let x = array![0.0, 1.0, 3.0];
        let s = AxisStencil::<f64>::from_coordinates(x.view());
        // dx1 = 1, dx2 = 2: a = -2/3, b = 1/2, c = 1/6.
        match &s.interior {
            Interior::Weighted(w) => assert_eq!(w.to_vec(), vec![[-2.0 / 3.0, 0.5, 1.0 / 6.0]]),
            other => panic!("expected weights, got {other:?}"),
        }
        assert_eq!(s.edge_divisors, [1.0, 2.0]);
        assert_eq!(s.first_edge, [-(2.0 + 2.0) / 3.0, 1.5, -1.0 / 6.0]);
        assert_eq!(s.last_edge, [2.0 / 3.0, -1.5, 5.0 / 6.0]);
    }

    #[test]
    fn weights_are_computed_in_the_coordinate_type() {
        // f32 coordinates: weights rounded in f32 at every step, then widened exactly.
        let x = array![0.0_f32, 0.1, 0.3];
        let s = AxisStencil::<f64>::from_coordinates(x.view());
        let (dx1, dx2) = (0.1_f32 - 0.0, 0.3_f32 - 0.1);
        let a = -dx2 / (dx1 * (dx1 + dx2));
        match s.interior {
            Interior::Weighted(w) => assert_eq!(w.to_vec()[0][0], f64::from(a)),
            other => panic!("expected weights, got {other:?}"),
        }
    }

    #[test]
    fn uneven_slices_keep_the_weighted_formulas() {
        // A slice of uneven coordinates whose own steps are equal: Checked reduces it to a
        // scalar spacing, Uneven keeps NumPy's weights (equal in value, other bits possible).
        let x = array![0.0, 0.5, 1.0, 1.5];
        let checked = AxisStencil::<f64>::try_from_coordinates(x.view(), Steps::Checked);
        assert_eq!(
            checked.unwrap().interior,
            Interior::Uniform { divisor: 1.0 }
        );
        let uneven = AxisStencil::<f64>::try_from_coordinates(x.view(), Steps::Uneven).unwrap();
        match uneven.interior {
            Interior::Weighted(w) => assert_eq!(w.to_vec()[0], interior_weights(0.5, 0.5)),
            other => panic!("expected weights, got {other:?}"),
        }
        assert_eq!(uneven.edge_divisors, [0.5, 0.5]);
        let one = array![0.0];
        assert!(AxisStencil::<f64>::try_from_coordinates(one.view(), Steps::Uneven).is_err());
    }

    #[test]
    fn f16_scalar_spacing_doubles_in_f16() {
        // 2 * 40000 overflows float16 to inf, as NumPy's `2. * np.float16(40000)` does.
        let s = AxisStencil::<f64>::from_scalar(f16::from_f64(40000.0));
        assert_eq!(
            s.interior,
            Interior::Uniform {
                divisor: f64::INFINITY
            }
        );
    }

    #[test]
    fn nan_step_is_not_uniform() {
        let x = array![0.0, f64::NAN, 2.0];
        let s = AxisStencil::<f64>::from_coordinates(x.view());
        assert!(matches!(s.interior, Interior::Weighted(_)));
    }
}
