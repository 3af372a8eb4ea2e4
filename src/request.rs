//! The core's entry point: requested derivatives in, outputs filled.
//!
//! A [`Request`] says what one derivative is (its axis, the spacing as the caller has it, the
//! stencil options); [`gradient`] makes every stencil first (so that a bad request leaves
//! every output unwritten), then runs the walk over the whole array, or over parts of it
//! with the caller's checkpoint between them, on the threads [`threads::run`] decides.

use crate::dtypes::{Dtypes, Weight};
use crate::element::{Real, RealView};
use crate::error::GradientError;
use crate::fp_status::{self, FpFlags};
use crate::stencil::{EdgeOrder, Edges, Stencil, Steps};
use crate::tails;
use crate::threads::{self, Execution};
use crate::walk::{self, Output};
use ndarray::{ArrayView1, ArrayViewD, ArrayViewMutD};
use std::ops::Range;

/// A scalar spacing, with every derived value as NumPy computes it in the spacing's type and
/// already rounded to the compute type (so exact in `f64`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UniformSpacing {
    /// `2. * dx`.
    pub twice_dx: f64,
    /// `dx`.
    pub dx: f64,
    /// The second-order edge weights `(-1.5/dx, 2./dx, -0.5/dx)` and `(0.5/dx, -2./dx,
    /// 1.5/dx)`, needed for `edge_order=2` only.
    pub second_order_edges: Option<[[f64; 3]; 2]>,
    /// The floating-point errors computing these raised (NumPy's expressions, or the
    /// rounding to the compute type): reported with the computation's own.
    pub raised: FpFlags,
}

impl UniformSpacing {
    /// NumPy's spacing values for a Python number `dx` (already a float, as Python converts
    /// an int): `2. * dx`, `dx` and, for second-order edges, `-1.5 / dx` etc., computed in
    /// float64 as Python computes them, then rounded to `R`, the real type of the compute
    /// dtype. A Python number is weak (NEP 50), so that is the data's own dtype; NumPy rounds
    /// a Python int through float64 too. Python raises ZeroDivisionError for the edge weights
    /// of a zero `dx`; callers must not ask for them.
    pub fn of_python_number<R: Real>(dx: f64, edge_order: EdgeOrder) -> UniformSpacing {
        // Python's float arithmetic reports no floating-point error (`2. * 1e308` is inf,
        // silently), NumPy's rounding of the weak scalar to `R` does: the values are computed
        // first, then rounded inside `observe`. `black_box` pins each step to its side of the
        // flag reads (register arithmetic could otherwise be moved across them, or folded).
        let twice_dx = std::hint::black_box(2.0 * dx);
        let edges = match edge_order {
            EdgeOrder::First => None,
            EdgeOrder::Second => {
                let weights = |w: [f64; 3]| w.map(|w| w / dx);
                Some(std::hint::black_box([
                    weights([-1.5, 2.0, -0.5]),
                    weights([0.5, -2.0, 1.5]),
                ]))
            }
        };
        let round =
            |value: f64| std::hint::black_box(R::from_f64(std::hint::black_box(value)).to_f64());
        let (mut spacing, raised) = fp_status::observe(|| UniformSpacing {
            twice_dx: round(twice_dx),
            dx: round(dx),
            second_order_edges: edges.map(|sides| sides.map(|side| side.map(round))),
            raised: FpFlags::NONE,
        });
        spacing.raised = raised;
        spacing
    }
}

/// NumPy's `normalize_axis_tuple` for axes given as integers: each counted back from the end
/// if negative; None where NumPy raises (an axis out of range, or one given twice).
pub fn normalized_axes(axes: &[i64], ndim: usize) -> Option<Vec<usize>> {
    let ndim_signed = i64::try_from(ndim).ok()?;
    let mut normalized = Vec::with_capacity(axes.len());
    for &axis in axes {
        let axis = if axis < 0 { axis + ndim_signed } else { axis };
        if !(0..ndim_signed).contains(&axis) {
            return None;
        }
        let axis = axis as usize;
        if normalized.contains(&axis) {
            return None;
        }
        normalized.push(axis);
    }
    Some(normalized)
}

/// A coordinate array in the type NumPy computes its steps in.
pub type Coordinates<'x> = RealView<'x>;

/// The spacing along one axis.
#[derive(Clone, Copy, Debug)]
pub enum Spacing<'x> {
    /// A scalar sample distance.
    Uniform(UniformSpacing),
    /// One coordinate per point.
    Coordinates(Coordinates<'x>),
}

/// ndgradient's options for one axis's stencil.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StencilOptions {
    /// The order of accuracy: 2 (NumPy's), 4, 6 or 8.
    pub accuracy: usize,
    /// Whether the axis wraps around.
    pub periodic: bool,
    /// The period of a periodic coordinate axis.
    pub period: Option<f64>,
    /// Coordinates that are a slice of a longer array NumPy found uneven (a Dask block's):
    /// NumPy's non-uniform formulas even where the slice's own steps are equal.
    pub uneven: bool,
}

impl Default for StencilOptions {
    fn default() -> Self {
        StencilOptions {
            accuracy: 2,
            periodic: false,
            period: None,
            uneven: false,
        }
    }
}

impl StencilOptions {
    /// Whether these options ask for NumPy's own stencil (accuracy 2, not periodic): the one
    /// place this rule is written.
    pub fn is_numpys(&self) -> bool {
        self.accuracy == 2 && !self.periodic
    }
}

/// One requested derivative.
#[derive(Debug)]
pub struct Request<'x, 'o, A> {
    /// The axis to differentiate along.
    pub axis: usize,
    /// The spacing along it.
    pub spacing: Spacing<'x>,
    /// The stencil's options.
    pub options: StencilOptions,
    /// Where the derivative goes: the input's shape, any strides.
    pub out: ArrayViewMutD<'o, A>,
}

/// Inputs at least twice this size are computed in parts of about this many elements, with a
/// checkpoint between parts (tens of milliseconds each).
pub const PART_ELEMENTS: usize = 1 << 23;

/// Writes each requested derivative of `f` into its output, on `workers` threads.
///
/// Large inputs are computed in parts along the outermost axis; after each part
/// `checkpoint()` is called on the calling thread, and returning false stops the computation
/// with [`GradientError::Interrupted`] (the outputs are then incomplete).
///
/// Returns the floating-point errors (NumPy's four) the arithmetic raised, on every thread
/// that took part: the caller reports them as NumPy would.
pub fn gradient<N: Dtypes>(
    f: ArrayViewD<'_, N::Stored>,
    requests: Vec<Request<'_, '_, N::Data>>,
    edge_order: EdgeOrder,
    workers: usize,
    checkpoint: &mut dyn FnMut() -> bool,
) -> Result<FpFlags, GradientError> {
    let (raised, on_this_thread) =
        fp_status::observe(|| gradient_observed::<N>(f, requests, edge_order, workers, checkpoint));
    Ok(raised? | on_this_thread)
}

/// [`gradient`], returning the errors raised on the other threads.
fn gradient_observed<N: Dtypes>(
    f: ArrayViewD<'_, N::Stored>,
    requests: Vec<Request<'_, '_, N::Data>>,
    edge_order: EdgeOrder,
    workers: usize,
    checkpoint: &mut dyn FnMut() -> bool,
) -> Result<FpFlags, GradientError> {
    let elements = f.len();
    let mut outs = Vec::with_capacity(requests.len());
    let mut specs = Vec::with_capacity(requests.len());
    for request in requests {
        if request.axis >= f.ndim() {
            return Err(GradientError::AxisOutOfRange {
                axis: request.axis,
                ndim: f.ndim(),
            });
        }
        let length = f.len_of(ndarray::Axis(request.axis));
        specs.push((request.axis, length, request.spacing, request.options));
        outs.push(request.out);
    }
    let one_dimensional = f.ndim() == 1;
    let spacing_raised = specs
        .iter()
        .fold(FpFlags::NONE, |raised, spec| match spec.2 {
            Spacing::Uniform(uniform) => raised | uniform.raised,
            Spacing::Coordinates(_) => raised,
        });
    let (stencils, mut raised) = threads::run(workers, elements, |execution| {
        specs
            .iter()
            .map(|&(_, length, spacing, options)| {
                let stencil =
                    stencil::<Weight<N>>(spacing, options, length, edge_order, execution)?;
                // NumPy reads a 1-D array's edge points as scalars, and does their arithmetic
                // in its scalar math, whose NaN rule differs from its loops'.
                Ok(if one_dimensional && options.is_numpys() {
                    stencil.with_scalar_edges()
                } else {
                    stencil
                })
            })
            .collect::<Result<Vec<_>, GradientError>>()
    })?;
    let stencils = stencils?;
    raised |= spacing_raised;
    for part in parts(walk::outermost_length(&f), elements) {
        let outputs = outs
            .iter_mut()
            .zip(&specs)
            .zip(&stencils)
            .map(|((out, &(axis, ..)), stencil)| Output {
                axis,
                stencil,
                out: out.view_mut(),
            })
            .collect();
        let (walked, on_installing_thread) = threads::run(workers, elements, |execution| {
            walk::gradient_part::<N>(f.view(), outputs, part, execution)
        })?;
        raised |= walked? | on_installing_thread;
        if !checkpoint() {
            return Err(GradientError::Interrupted);
        }
    }
    for ((out, &(axis, ..)), stencil) in outs.iter_mut().zip(&specs).zip(&stencils) {
        tails::fix_numpy_tails::<N>(&f, out, axis, stencil);
    }
    Ok(raised)
}

/// The parts of an outermost axis of `n` hyperplanes for an input of `elements`: about
/// [`PART_ELEMENTS`] each when the input is at least twice that, else one. An iterator, not a
/// list: a small call's allocations are a good part of its time.
fn parts(n: usize, elements: usize) -> impl Iterator<Item = Range<usize>> {
    let count = if elements < 2 * PART_ELEMENTS || n == 0 {
        1
    } else {
        (elements / PART_ELEMENTS).clamp(1, n)
    };
    // In u128: k * n cannot overflow whatever the sizes.
    let bound = move |k: usize| (k as u128 * n as u128 / count as u128) as usize;
    (0..count).map(move |k| bound(k)..bound(k + 1))
}

/// The stencil of one axis of `length` points.
fn stencil<'x, R: Real>(
    spacing: Spacing<'x>,
    options: StencilOptions,
    length: usize,
    edge_order: EdgeOrder,
    execution: Execution,
) -> Result<Stencil<'x, R>, GradientError> {
    match spacing {
        Spacing::Uniform(uniform) => uniform_stencil(uniform, options, length, edge_order),
        Spacing::Coordinates(Coordinates::F64(x)) => {
            coordinate_stencil(x, options, length, edge_order, execution)
        }
        Spacing::Coordinates(Coordinates::F32(x)) => {
            coordinate_stencil(x, options, length, edge_order, execution)
        }
        Spacing::Coordinates(Coordinates::F16(x)) => {
            coordinate_stencil(x, options, length, edge_order, execution)
        }
    }
}

fn uniform_stencil<'x, R: Real>(
    spacing: UniformSpacing,
    options: StencilOptions,
    length: usize,
    edge_order: EdgeOrder,
) -> Result<Stencil<'x, R>, GradientError> {
    let twice_dx = R::from_f64(spacing.twice_dx);
    let dx = R::from_f64(spacing.dx);
    if !options.is_numpys() {
        return Stencil::extended_uniform(length, options.accuracy, options.periodic, dx, twice_dx);
    }
    let edges = match edge_order {
        EdgeOrder::First => Edges::First { divisors: [dx; 2] },
        EdgeOrder::Second => {
            let [first, last] = spacing
                .second_order_edges
                .ok_or(GradientError::MissingEdgeWeights)?;
            Edges::Second {
                first: first.map(R::from_f64),
                last: last.map(R::from_f64),
            }
        }
    };
    Stencil::numpy_uniform(length, twice_dx, edges)
}

fn coordinate_stencil<'x, X: Real, R: Real>(
    x: ArrayView1<'x, X>,
    options: StencilOptions,
    length: usize,
    edge_order: EdgeOrder,
    execution: Execution,
) -> Result<Stencil<'x, R>, GradientError> {
    if std::mem::size_of::<X>() > std::mem::size_of::<R>() {
        return Err(GradientError::CoordinatesTooWide);
    }
    if x.len() != length {
        return Err(GradientError::CoordinatesMismatch {
            coordinates: x.len(),
            length,
        });
    }
    if options.is_numpys() {
        let steps = if options.uneven {
            Steps::Uneven
        } else {
            Steps::Checked
        };
        return Stencil::numpy_coordinates(x, edge_order, steps, execution);
    }
    if options.periodic != options.period.is_some() {
        return Err(GradientError::MissingPeriod);
    }
    Stencil::extended_coordinates(x, options.accuracy, options.period, execution)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtypes::Promotion;
    use crate::element::Half;
    use ndarray::{array, ArrayD, IxDyn};

    type F64 = Promotion<f64, f64, f64>;

    fn uniform(dx: f64) -> Spacing<'static> {
        Spacing::Uniform(UniformSpacing {
            raised: FpFlags::NONE,
            twice_dx: 2.0 * dx,
            dx,
            second_order_edges: Some([
                [-1.5 / dx, 2.0 / dx, -0.5 / dx],
                [0.5 / dx, -2.0 / dx, 1.5 / dx],
            ]),
        })
    }

    fn run(
        f: &ArrayD<f64>,
        axis: usize,
        spacing: Spacing<'_>,
        options: StencilOptions,
        edge_order: EdgeOrder,
    ) -> Result<ArrayD<f64>, GradientError> {
        let mut out = ArrayD::from_elem(f.raw_dim(), -7.0);
        let request = Request {
            axis,
            spacing,
            options,
            out: out.view_mut(),
        };
        gradient::<F64>(f.view(), vec![request], edge_order, 2, &mut || true)?;
        Ok(out)
    }

    #[test]
    fn seed_cube_example() {
        // f(x) = x^3 at x = 1, 2, 3: [7, 13, 19], with a spacing or with coordinates.
        let f = array![1.0, 8.0, 27.0].into_dyn();
        let expected = array![7.0, 13.0, 19.0].into_dyn();
        let got = run(
            &f,
            0,
            uniform(1.0),
            StencilOptions::default(),
            EdgeOrder::First,
        );
        assert_eq!(got.unwrap(), expected);
        let x = array![1.0, 2.0, 3.0];
        let coordinates = Spacing::Coordinates(Coordinates::F64(x.view()));
        let got = run(
            &f,
            0,
            coordinates,
            StencilOptions::default(),
            EdgeOrder::First,
        );
        assert_eq!(got.unwrap(), expected);
    }

    #[test]
    fn second_order_edges_are_exact_for_quadratics() {
        let f = array![0.0, 1.0, 4.0, 9.0, 16.0].into_dyn();
        let got = run(
            &f,
            0,
            uniform(1.0),
            StencilOptions::default(),
            EdgeOrder::Second,
        );
        assert_eq!(got.unwrap(), array![0.0, 2.0, 4.0, 6.0, 8.0].into_dyn());
    }

    #[test]
    fn integers_are_differenced_in_f64() {
        // In i8 arithmetic 127 - (-128) would wrap; NumPy converts to f64 first.
        let f = array![-128_i8, 0, 127].into_dyn();
        let mut out = ArrayD::<f64>::zeros(f.raw_dim());
        let request = Request {
            axis: 0,
            spacing: uniform(1.0),
            options: StencilOptions::default(),
            out: out.view_mut(),
        };
        gradient::<Promotion<i8, f64, f64>>(
            f.view(),
            vec![request],
            EdgeOrder::First,
            1,
            &mut || true,
        )
        .unwrap();
        assert_eq!(out, array![128.0, 127.5, 127.0].into_dyn());
    }

    #[test]
    fn refusals_write_nothing() {
        let f = ArrayD::<f64>::zeros(IxDyn(&[2, 3]));
        let short = run(
            &f,
            0,
            uniform(1.0),
            StencilOptions::default(),
            EdgeOrder::Second,
        );
        assert_eq!(
            short.unwrap_err(),
            GradientError::AxisTooShort {
                length: 2,
                needed: 3
            }
        );
        assert_eq!(
            run(
                &f,
                2,
                uniform(1.0),
                StencilOptions::default(),
                EdgeOrder::First
            )
            .unwrap_err(),
            GradientError::AxisOutOfRange { axis: 2, ndim: 2 }
        );
        let x = array![0.0, 1.0];
        let coordinates = Spacing::Coordinates(Coordinates::F64(x.view()));
        assert_eq!(
            run(
                &f,
                1,
                coordinates,
                StencilOptions::default(),
                EdgeOrder::First
            )
            .unwrap_err(),
            GradientError::CoordinatesMismatch {
                coordinates: 2,
                length: 3
            }
        );
        let accuracy = StencilOptions {
            accuracy: 5,
            ..StencilOptions::default()
        };
        assert_eq!(
            run(&f, 1, uniform(1.0), accuracy, EdgeOrder::First).unwrap_err(),
            GradientError::BadAccuracy { accuracy: 5 }
        );
        let periodic = StencilOptions {
            periodic: true,
            ..StencilOptions::default()
        };
        let x = array![0.0, 1.0, 3.0];
        let coordinates = Spacing::Coordinates(Coordinates::F64(x.view()));
        assert_eq!(
            run(&f, 1, coordinates, periodic, EdgeOrder::First).unwrap_err(),
            GradientError::MissingPeriod
        );
        let without_edges = Spacing::Uniform(UniformSpacing {
            raised: FpFlags::NONE,
            twice_dx: 2.0,
            dx: 1.0,
            second_order_edges: None,
        });
        let f = ArrayD::<f64>::zeros(IxDyn(&[3]));
        assert_eq!(
            run(
                &f,
                0,
                without_edges,
                StencilOptions::default(),
                EdgeOrder::Second
            )
            .unwrap_err(),
            GradientError::MissingEdgeWeights
        );
    }

    #[test]
    fn python_number_spacings_round_numpys_float64_values_once() {
        let s = UniformSpacing::of_python_number::<f64>(0.1, EdgeOrder::Second);
        assert_eq!((s.twice_dx, s.dx), (2.0 * 0.1, 0.1));
        let [first, last] = s.second_order_edges.unwrap();
        assert_eq!(first, [-1.5 / 0.1, 2.0 / 0.1, -0.5 / 0.1]);
        assert_eq!(last, [0.5 / 0.1, -2.0 / 0.1, 1.5 / 0.1]);
        // float32: `-1.5 / 0.1` in float64, then rounded (not 1.5f32 / 0.1f32).
        let s = UniformSpacing::of_python_number::<f32>(0.1, EdgeOrder::Second);
        assert_eq!(s.dx, f64::from(0.1_f32));
        assert_eq!(
            s.second_order_edges.unwrap()[0][0],
            f64::from((-1.5 / 0.1) as f32)
        );
        let s = UniformSpacing::of_python_number::<Half>(1e5, EdgeOrder::First);
        assert_eq!((s.twice_dx, s.dx), (f64::INFINITY, f64::INFINITY));
        assert_eq!(s.second_order_edges, None);
    }

    #[test]
    fn python_number_spacings_raise_only_numpys_rounding_errors() {
        // Python computes `2. * 1e308` (inf) and `-1.5 / 1e-320` silently; NumPy's cast of
        // the weak scalar to float32 overflows.
        for edge_order in [EdgeOrder::First, EdgeOrder::Second] {
            let s = UniformSpacing::of_python_number::<f64>(1e308, edge_order);
            assert_eq!((s.twice_dx, s.raised), (f64::INFINITY, FpFlags::NONE));
            let s = UniformSpacing::of_python_number::<f64>(1e-320, edge_order);
            assert_eq!(s.raised, FpFlags::NONE);
            let s = UniformSpacing::of_python_number::<f32>(1e308, edge_order);
            assert_eq!(
                s.raised.bits() & FpFlags::OVERFLOW.bits(),
                FpFlags::OVERFLOW.bits()
            );
        }
    }

    #[test]
    fn axes_are_normalized_as_numpy_does_or_refused() {
        assert_eq!(normalized_axes(&[-1, 0], 3), Some(vec![2, 0]));
        assert_eq!(normalized_axes(&[], 0), Some(vec![]));
        assert_eq!(normalized_axes(&[3], 3), None);
        assert_eq!(normalized_axes(&[-4], 3), None);
        assert_eq!(normalized_axes(&[1, -2], 3), None); // the same axis twice
        assert_eq!(normalized_axes(&[0], 0), None);
        assert_eq!(normalized_axes(&[i64::MIN], 2), None);
    }

    #[test]
    fn parts_cover_the_axis_and_the_checkpoint_stops_between_them() {
        let parts = |n, elements| parts(n, elements).collect::<Vec<_>>();
        assert_eq!(parts(10, 100), vec![0..10]);
        let big = 5 * PART_ELEMENTS;
        let cut = parts(7, big);
        assert_eq!(cut.len(), 5);
        assert!(cut.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!((cut[0].start, cut[4].end), (0, 7));
        assert_eq!(parts(3, big).len(), 3);
        assert_eq!(parts(0, big), vec![0..0]);

        let f = ArrayD::<f64>::zeros(IxDyn(&[4]));
        let mut out = f.clone();
        let request = Request {
            axis: 0,
            spacing: uniform(1.0),
            options: StencilOptions::default(),
            out: out.view_mut(),
        };
        let stopped = gradient::<F64>(f.view(), vec![request], EdgeOrder::First, 1, &mut || false);
        assert_eq!(stopped.unwrap_err(), GradientError::Interrupted);
    }
}
