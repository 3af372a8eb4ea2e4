//! Stencils beyond `numpy.gradient`: higher accuracy (orders 2, 4, 6, 8) and periodic axes,
//! as [`Stencil`] constructors.
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

use crate::element::Real;
use crate::error::GradientError;
use crate::stencil::{
    converted_alone, equal_steps, interior_weights_of_steps, Formula, Piece, Stencil, Table, Term,
    Weights,
};
use crate::threads::Execution;
use ndarray::ArrayView1;
use std::ops::Range;
use std::sync::Arc;

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

/// Offsets `first ..= first + accuracy` of a window.
fn window(first: isize, accuracy: usize) -> Vec<isize> {
    (0..=accuracy as isize).map(|k| first + k).collect()
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

/// The points of the first and last `accuracy / 2` of an axis (its edges), and the rest.
fn regions(len: usize, accuracy: usize) -> (Range<usize>, Range<usize>, Range<usize>) {
    let half = accuracy / 2;
    (0..half, half..len - half, len - half..len)
}

impl<'x, R: Real> Stencil<'x, R> {
    /// The extended stencil for a uniform spacing. `dx` and `twice_dx` are NumPy's values in
    /// `R` (`twice_dx` is only used by accuracy 2, NumPy's central difference).
    pub fn extended_uniform(
        len: usize,
        accuracy: usize,
        periodic: bool,
        dx: R,
        twice_dx: R,
    ) -> Result<Self, GradientError> {
        check_accuracy(accuracy, len)?;
        let half = accuracy / 2;
        let dx = dx.to_f64();
        let scaled = |c: i32, den: i32| R::from_f64(f64::from(c) / (f64::from(den) * dx));
        // The central window without its middle, whose coefficient is exactly zero (as
        // NumPy's `(f[i+1] - f[i-1]) / 2dx` leaves `f[i]` out).
        let (central, den) = central_coefficients(accuracy);
        let central_offsets: Vec<isize> = window(-(half as isize), accuracy)
            .into_iter()
            .filter(|&o| o != 0)
            .collect();
        let central = if accuracy == 2 {
            Formula::Quotient { divisor: twice_dx }
        } else {
            Formula::Sum {
                term: Term::Scaled,
                weights: Weights::Same(
                    central
                        .iter()
                        .enumerate()
                        .filter(|&(k, _)| k != half)
                        .map(|(_, &c)| scaled(c, den))
                        .collect(),
                ),
            }
        };
        let (forward, fden) = forward_coefficients(accuracy);
        // An edge point's one-sided window: the exact table, or Fornberg's weights where a
        // short axis moves the window (see `row_first`).
        let edge = |i: usize, anchored: isize, table: Vec<R>| {
            let first = row_first(i, len, accuracy, false);
            let weights = if first == anchored {
                table
            } else {
                let nodes: Vec<f64> = (0..=accuracy)
                    .map(|k| (first + k as isize) as f64)
                    .collect();
                let w = fornberg_first_derivative(&nodes);
                w.into_iter().map(|w| R::from_f64(w / dx)).collect()
            };
            Piece {
                points: i..i + 1,
                offsets: window(first, accuracy),
                wrap: false,
                formula: Formula::Sum {
                    term: Term::Scaled,
                    weights: Weights::Same(weights),
                },
            }
        };
        let forward_table = || forward.iter().map(|&c| scaled(c, fden)).collect();
        let backward_table = || forward.iter().rev().map(|&c| scaled(-c, fden)).collect();
        let (start, interior, end) = regions(len, accuracy);
        let central_piece = |points: Range<usize>, wrap: bool| Piece {
            points,
            offsets: central_offsets.clone(),
            wrap,
            formula: central.clone(),
        };
        let mut pieces = Vec::with_capacity(accuracy + 1);
        if periodic {
            pieces.push(central_piece(start, true));
        } else {
            pieces.extend(start.map(|i| edge(i, 0, forward_table())));
        }
        pieces.push(central_piece(interior, false));
        if periodic {
            pieces.push(central_piece(end, true));
        } else {
            let last = -(accuracy as isize);
            pieces.extend(end.map(|i| edge(i, last, backward_table())));
        }
        Ok(Stencil::from_pieces(len, pieces))
    }

    /// The extended stencil for coordinates `x` (of NumPy type `X`; integers given as `f64`).
    /// A periodic axis needs its `period`, greater in magnitude than `x[-1] - x[0]` and of the
    /// same sign; the wrap step is `period - (x[-1] - x[0])`. Coordinates whose steps are all
    /// equal (the wrap step included) get the uniform stencil of that step, as NumPy treats
    /// such coordinates as a scalar spacing.
    pub fn extended_coordinates<X: Real>(
        x: ArrayView1<'_, X>,
        accuracy: usize,
        period: Option<f64>,
        execution: Execution,
    ) -> Result<Self, GradientError> {
        let len = x.len();
        // Converted by a call: inline, the compiler converts the bits of an absent period
        // too, before testing for it (raising their errors), as floating-point arithmetic
        // has no side effects to it.
        let period_x = period.map(converted_alone::<X>);
        if len >= 2 && equal_steps(x.view(), execution) {
            let step = x[1] - x[0];
            let wraps_evenly = period_x.map_or(true, |p| p - (x[len - 1] - x[0]) == step);
            if wraps_evenly {
                let twice = X::from_f64(2.0) * step;
                return Stencil::extended_uniform(
                    len,
                    accuracy,
                    period.is_some(),
                    step.convert(),
                    twice.convert(),
                );
            }
        }
        let table = table_from_coordinates(x, accuracy, period_x)?;
        let periodic = period.is_some();
        let half = accuracy / 2;
        let term = if accuracy == 2 {
            Term::Promoted
        } else {
            Term::Scaled
        };
        let table = Arc::new(table);
        let per_point = |points: Range<usize>, wrap: bool| Piece {
            points,
            offsets: window(-(half as isize), accuracy),
            wrap,
            formula: Formula::Sum {
                term,
                weights: Weights::Table(table.clone()),
            },
        };
        let edge = |i: usize| {
            let weights = table.weights[i * table.width..(i + 1) * table.width].to_vec();
            Piece {
                points: i..i + 1,
                offsets: window(row_first(i, len, accuracy, false), accuracy),
                wrap: false,
                formula: Formula::Sum {
                    term,
                    weights: Weights::Same(weights),
                },
            }
        };
        let (start, interior, end) = regions(len, accuracy);
        let mut pieces = Vec::with_capacity(accuracy + 1);
        if periodic {
            pieces.push(per_point(start, true));
        } else {
            pieces.extend(start.map(edge));
        }
        pieces.push(per_point(interior, false));
        if periodic {
            pieces.push(per_point(end, true));
        } else {
            pieces.extend(end.map(edge));
        }
        Ok(Stencil::from_pieces(len, pieces))
    }
}

/// The weights of every point of a coordinate axis, computed once.
fn table_from_coordinates<X: Real, R: Real>(
    x: ArrayView1<'_, X>,
    accuracy: usize,
    period: Option<X>,
) -> Result<Table<R>, GradientError> {
    let len = x.len();
    check_accuracy(accuracy, len)?;
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
    let width = accuracy + 1;
    let mut weights = Vec::with_capacity(len * width);
    if accuracy == 2 {
        // NumPy's interior formulas in the coordinate type, with the wrapped steps.
        // Without a period, accuracy 2 is NumPy's own stencil, not an extended one.
        let wrap = wrap.ok_or(GradientError::MissingPeriod)?;
        // Point `i` has step `i` behind and `i + 1` ahead; the first and last, the wrap.
        let steps: Vec<X> = std::iter::once(wrap)
            .chain(x.windows(2).into_iter().map(|pair| pair[1] - pair[0]))
            .chain(std::iter::once(wrap))
            .collect();
        let mut w = vec![vec![X::default(); len]; 3];
        let [a, b, c] = &mut w[..] else {
            unreachable!("three taps")
        };
        interior_weights_of_steps(&steps, a, b, c);
        for i in 0..len {
            weights.extend(w.iter().map(|tap| tap[i].convert::<R>()));
        }
    } else {
        let periodic = period.is_some();
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
        let mut nodes = vec![0.0; width];
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
    Ok(Table { width, weights })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtypes::Promotion;
    use crate::reference;
    use ndarray::{Array1, ArrayD, IxDyn};

    fn derivative(f: &[f64], stencil: &Stencil<'_, f64>) -> Vec<f64> {
        let input = ArrayD::from_shape_vec(IxDyn(&[f.len()]), f.to_vec()).unwrap();
        let mut out = ArrayD::zeros(IxDyn(&[f.len()]));
        reference::gradient_axis::<Promotion<f64, f64, f64>>(
            input.view(),
            out.view_mut(),
            0,
            stencil,
        );
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
            let stencil =
                Stencil::<f64>::extended_coordinates(coords.view(), p, None, Execution::Serial)
                    .unwrap();
            let f: Vec<f64> = x.iter().map(|&t| poly(t)).collect();
            for (got, &t) in derivative(&f, &stencil).iter().zip(&x) {
                assert!(
                    (got - dpoly(t)).abs() < 1e-6 * dpoly(t).abs().max(1.0),
                    "{p}"
                );
            }
            let uniform = Stencil::<f64>::extended_uniform(n, p, false, 0.5, 1.0).unwrap();
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
        let stencil = Stencil::<f64>::extended_uniform(5, 2, true, 1.0, 2.0).unwrap();
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
            let stencil = Stencil::<f64>::extended_uniform(n, p, true, dx, 2.0 * dx).unwrap();
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
        assert!(Stencil::<f64>::extended_uniform(4, 4, false, 1.0, 2.0).is_err());
        assert!(Stencil::<f64>::extended_uniform(9, 8, true, 1.0, 2.0).is_ok());
        assert!(Stencil::<f64>::extended_uniform(9, 3, true, 1.0, 2.0).is_err());
        let x = Array1::from(vec![0.0, 1.0, 2.5, 3.0]);
        let with = |period| {
            Stencil::<f64>::extended_coordinates(x.view(), 2, Some(period), Execution::Serial)
        };
        assert!(with(3.0).is_err());
        assert!(with(-4.0).is_err());
        assert!(with(4.0).is_ok());
    }

    #[test]
    fn evenly_wrapping_coordinates_are_uniform() {
        let x = Array1::from(vec![0.0, 0.5, 1.0, 1.5, 2.0]);
        let s = Stencil::<f64>::extended_coordinates(x.view(), 2, Some(2.5), Execution::Serial)
            .unwrap();
        assert!(s
            .pieces()
            .iter()
            .all(|p| matches!(p.formula, Formula::Quotient { divisor } if divisor == 1.0)));
        let s = Stencil::<f64>::extended_coordinates(x.view(), 2, Some(3.0), Execution::Serial)
            .unwrap();
        assert!(matches!(s.piece_at(2).formula, Formula::Sum { .. }));
    }
}
