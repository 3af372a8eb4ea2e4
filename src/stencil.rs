//! Finite-difference weights along one axis, computed as `numpy.gradient` computes them.
//!
//! NumPy evaluates every coefficient in the spacing's own type (a coordinate array's dtype, or
//! the type of the scalar spacing) and only then promotes it to the compute type. The
//! constructors here do the same: the arithmetic runs in `X`, the result is widened to `R`.

use crate::element::{Cast, Real};
use ndarray::ArrayView1;

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

/// Weights for one axis, already in the real part `R` of the compute type.
#[derive(Clone, Debug, PartialEq)]
pub struct AxisStencil<R> {
    /// How interior points are differenced.
    pub interior: Interior<R>,
    /// Divisors of the first-order edges: `dx` at the start and at the end of the axis.
    pub edge_divisors: [R; 2],
    /// Second-order weights for `f[0], f[1], f[2]`.
    pub first_edge: [R; 3],
    /// Second-order weights for `f[-3], f[-2], f[-1]`.
    pub last_edge: [R; 3],
}

/// The interior stencil.
#[derive(Clone, Debug, PartialEq)]
pub enum Interior<R> {
    /// `(f[i+1] - f[i-1]) / divisor`, with `divisor = 2 * dx`.
    Uniform {
        /// `2 * dx`, as NumPy computes it in the spacing's type.
        divisor: R,
    },
    /// `a[i] * f[i-1] + b[i] * f[i] + c[i] * f[i+1]` for `i` in `1..n-1`, one weight triple
    /// per interior point.
    Weighted(Vec<[R; 3]>),
}

impl<R: Real> AxisStencil<R> {
    /// The stencil for a scalar spacing `dx`, with every derived value given exactly as NumPy
    /// computes it (`2. * dx`, `-1.5 / dx`, ...) and already converted to `R`.
    pub fn uniform(twice_dx: R, dx: R, first_edge: [R; 3], last_edge: [R; 3]) -> AxisStencil<R> {
        AxisStencil {
            interior: Interior::Uniform { divisor: twice_dx },
            edge_divisors: [dx, dx],
            first_edge,
            last_edge,
        }
    }

    /// The stencil for a scalar spacing held in NumPy type `X`: NumPy's `2. * dx`,
    /// `-1.5 / dx`, `2. / dx`, ... evaluated in `X`.
    pub fn from_scalar<X: Real + Cast<R>>(dx: X) -> AxisStencil<R> {
        let k = X::from_f64;
        let over_dx = |numerator: f64| (k(numerator) / dx).cast();
        AxisStencil::uniform(
            (k(2.0) * dx).cast(),
            dx.cast(),
            [over_dx(-1.5), over_dx(2.0), over_dx(-0.5)],
            [over_dx(0.5), over_dx(-2.0), over_dx(1.5)],
        )
    }

    /// The stencil for coordinates `x` along an axis of `x.len()` points.
    ///
    /// As NumPy does, the differences `dx = diff(x)` are taken in `X`; when they are all equal
    /// (`dx == dx[0]`) the axis is treated as uniform with spacing `dx[0]`, otherwise the
    /// weights are NumPy's non-uniform formulas. Integer coordinates must be given as `f64`,
    /// the type NumPy converts them to. Needs at least two coordinates.
    pub fn from_coordinates<X: Real + Cast<R>>(x: ArrayView1<'_, X>) -> AxisStencil<R> {
        assert!(x.len() >= 2, "coordinates need at least two points");
        let dx: Vec<X> = x
            .windows(2)
            .into_iter()
            .map(|pair| pair[1] - pair[0])
            .collect();
        let first = dx[0];
        if dx.iter().all(|&d| d == first) {
            return AxisStencil::from_scalar(first);
        }
        let interior = dx
            .windows(2)
            .map(|pair| interior_weights(pair[0], pair[1]).map(Cast::cast))
            .collect();
        let n = dx.len();
        let two = X::from_f64(2.0);
        let first_edge = {
            let (dx1, dx2) = (dx[0], dx[1.min(n - 1)]);
            [
                -(two * dx1 + dx2) / (dx1 * (dx1 + dx2)),
                (dx1 + dx2) / (dx1 * dx2),
                -dx1 / (dx2 * (dx1 + dx2)),
            ]
        };
        let last_edge = {
            let (dx1, dx2) = (dx[n.saturating_sub(2)], dx[n - 1]);
            [
                dx2 / (dx1 * (dx1 + dx2)),
                -(dx2 + dx1) / (dx1 * dx2),
                (two * dx2 + dx1) / (dx2 * (dx1 + dx2)),
            ]
        };
        AxisStencil {
            interior: Interior::Weighted(interior),
            edge_divisors: [dx[0].cast(), dx[n - 1].cast()],
            first_edge: first_edge.map(Cast::cast),
            last_edge: last_edge.map(Cast::cast),
        }
    }
}

/// NumPy's second-order weights for a point with spacing `dx1` behind and `dx2` ahead.
fn interior_weights<X: Real>(dx1: X, dx2: X) -> [X; 3] {
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
        let s = AxisStencil::<f64>::from_coordinates(array![1.0, 3.0, 5.0, 7.0].view());
        assert_eq!(s, AxisStencil::from_scalar(2.0));
        assert_eq!(s.interior, Interior::Uniform { divisor: 4.0 });
        assert_eq!(s.first_edge, [-0.75, 1.0, -0.25]);
    }

    #[test]
    fn unequal_steps_give_numpy_weights() {
        let s = AxisStencil::<f64>::from_coordinates(array![0.0, 1.0, 3.0].view());
        // dx1 = 1, dx2 = 2: a = -2/3, b = 1/2, c = 1/6.
        assert_eq!(
            s.interior,
            Interior::Weighted(vec![[-2.0 / 3.0, 0.5, 1.0 / 6.0]])
        );
        assert_eq!(s.edge_divisors, [1.0, 2.0]);
        assert_eq!(s.first_edge, [-(2.0 + 2.0) / 3.0, 1.5, -1.0 / 6.0]);
        assert_eq!(s.last_edge, [2.0 / 3.0, -1.5, 5.0 / 6.0]);
    }

    #[test]
    fn weights_are_computed_in_the_coordinate_type() {
        // f32 coordinates: weights rounded in f32 at every step, then widened exactly.
        let s = AxisStencil::<f64>::from_coordinates(array![0.0_f32, 0.1, 0.3].view());
        let (dx1, dx2) = (0.1_f32 - 0.0, 0.3_f32 - 0.1);
        let a = -dx2 / (dx1 * (dx1 + dx2));
        match s.interior {
            Interior::Weighted(w) => assert_eq!(w[0][0], f64::from(a)),
            other => panic!("expected weights, got {other:?}"),
        }
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
        let s = AxisStencil::<f64>::from_coordinates(array![0.0, f64::NAN, 2.0].view());
        assert!(matches!(s.interior, Interior::Weighted(_)));
    }
}
