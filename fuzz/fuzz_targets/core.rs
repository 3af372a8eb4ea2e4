//! Coverage-guided fuzz target for the pure numerical core (no PyO3).
//!
//! Each input is decoded into an array of 1 to 4 dimensions (small shapes, zero-size ones
//! included, now and then one long axis so that the fused one-pass walk is taken), a memory
//! layout (axis permutation, reversed axes, a step-2 slice), values with NaN, ±inf, ±0,
//! subnormals and huge numbers, and a list of requested derivatives: per axis a scalar spacing
//! or a coordinate array (any values, any strides, sometimes of the wrong length), or an
//! extended stencil (uniform or from coordinates, periodic or not, any accuracy). Invalid
//! requests are made on purpose (out-of-range axes, short axes, wrong output shapes).
//!
//! Checked, without any panic anywhere:
//! * every stencil constructor fails exactly when its arguments are invalid, with the
//!   documented error;
//! * `walk::gradient` returns exactly the error of the first invalid output, or Ok;
//! * when Ok, every output equals `reference::gradient_axis` (each element from its formula),
//!   and every NumPy-stencil output also equals a naive reference written here from
//!   `numpy.gradient`'s formulas, bit for bit (any two NaNs count as equal);
//! * computing the array in two parts with `walk::gradient_part` gives the whole result.
//!
//! Findings can be skipped, to fuzz past them, with `NDGRADIENT_FUZZ_SKIP_KNOWN=all` (or a
//! comma-separated list of their names: see `EMPTY_PART`, and tests/FUZZING.md); none is open,
//! and by default nothing is skipped.

#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use ndarray::{
    Array1, ArrayBase, ArrayD, ArrayView1, ArrayViewD, Axis, Dimension, IxDyn, RawData, Slice,
};
use ndgradient::stencil::{Formula, Weights};
use ndgradient::threads::{self, Execution, PARALLEL_THRESHOLD};
use ndgradient::walk::{self, Output};
use ndgradient::{reference, EdgeOrder, GradientError, Promotion, Stencil};
use std::sync::OnceLock;

/// Elements of the largest buffer (before slicing) the target allocates.
const MAX_ELEMENTS: usize = 4096;

/// What unwritten output elements hold: a value no formula here produces by chance.
const SENTINEL: f64 = -7.346_519_823_e-77;

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});

/// The known findings to skip (see `EMPTY_PART`), from `NDGRADIENT_FUZZ_SKIP_KNOWN`: a
/// comma-separated list of their names, or `all`. Unset: nothing is skipped.
fn skip_known(name: &str) -> bool {
    static SKIP: OnceLock<Vec<String>> = OnceLock::new();
    let skip = SKIP.get_or_init(|| {
        std::env::var("NDGRADIENT_FUZZ_SKIP_KNOWN")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    });
    skip.iter().any(|s| s == name || s == "all")
}

// ----------------------------------------------------------------------------------------
// Decoding
// ----------------------------------------------------------------------------------------

/// A float from the input, special values (NaN with payloads, ±inf, ±0, subnormals, the
/// extremes) being as likely as ordinary ones.
fn value(u: &mut Unstructured<'_>) -> Result<f64> {
    Ok(match u.int_in_range(0u8..=23)? {
        0 => 0.0,
        1 => -0.0,
        2 => f64::NAN,
        3 => f64::from_bits(0xfff8_0000_0000_0001), // negative NaN with a payload
        4 => f64::from_bits(0x7ff0_0000_0000_0001), // signalling NaN
        5 => f64::INFINITY,
        6 => f64::NEG_INFINITY,
        7 => 5e-324,
        8 => -f64::MIN_POSITIVE / 3.0,
        9 => f64::MAX,
        10 => -1e300,
        11 => 1e-300,
        12 => f64::EPSILON,
        13 | 14 => f64::from_bits(u.arbitrary()?),
        15..=19 => f64::from(u.arbitrary::<i8>()?) / 4.0,
        _ => f64::from(u.arbitrary::<i16>()?) * 0.1,
    })
}

/// Coordinates of `m` points: arbitrary values, progressions (uniform or not after rounding),
/// monotone ones in either direction, or a uniform grid with one point moved.
fn coordinates(u: &mut Unstructured<'_>, m: usize) -> Result<Vec<f64>> {
    let mut x = Vec::with_capacity(m);
    match u.int_in_range(0u8..=5)? {
        0 => {
            for _ in 0..m {
                x.push(value(u)?);
            }
        }
        1 => {
            let (start, step) = (value(u)?, value(u)?);
            x.extend((0..m).map(|k| start + step * k as f64));
        }
        2 | 3 => {
            let sign = if u.arbitrary()? { 1.0 } else { -1.0 };
            let mut at = f64::from(u.arbitrary::<i8>()?);
            for _ in 0..m {
                x.push(at);
                at += sign * f64::from(u.arbitrary::<u8>()?) / 8.0;
            }
        }
        4 => {
            let step = f64::from(u.int_in_range(1u8..=4)?) * 0.25;
            x.extend((0..m).map(|k| k as f64 * step));
            if m > 0 {
                let at = u.choose_index(m)?;
                x[at] = value(u)?;
            }
        }
        _ => {
            let step = value(u)?;
            x.extend((0..m).map(|k| k as f64 * step));
        }
    }
    Ok(x)
}

/// A 1-D array stored contiguously, with stride 2, or reversed (stride -1).
struct Coordinates {
    storage: Array1<f64>,
    layout: u8,
}

impl Coordinates {
    fn new(x: Vec<f64>, layout: u8) -> Coordinates {
        let storage = match layout {
            1 => Array1::from_iter(x.iter().flat_map(|&v| [v, SENTINEL])),
            2 => Array1::from_iter(x.iter().rev().copied()),
            _ => Array1::from(x),
        };
        Coordinates { storage, layout }
    }

    fn view(&self) -> ArrayView1<'_, f64> {
        match self.layout {
            1 => self.storage.slice_axis(Axis(0), Slice::new(0, None, 2)),
            2 => {
                let mut v = self.storage.view();
                v.invert_axis(Axis(0));
                v
            }
            _ => self.storage.view(),
        }
    }
}

/// How a logical array is laid out in memory: its axes permuted, some reversed, and
/// optionally one axis taken with step ±2 from a buffer twice (plus one) as long.
#[derive(Debug, Clone)]
struct Layout {
    /// Buffer axis `i` holds logical axis `perm[i]`.
    perm: Vec<usize>,
    invert: Vec<bool>,
    /// (axis, start offset 0 or 1, negative step)
    slice: Option<(usize, usize, bool)>,
}

impl Layout {
    fn arbitrary(u: &mut Unstructured<'_>, ndim: usize) -> Result<Layout> {
        let mut perm: Vec<usize> = (0..ndim).collect();
        for i in (1..ndim).rev() {
            let j = u.int_in_range(0..=i)?;
            perm.swap(i, j);
        }
        let mut invert = Vec::with_capacity(ndim);
        for _ in 0..ndim {
            invert.push(u.ratio(1u8, 3)?);
        }
        let slice = if ndim > 0 && u.ratio(1u8, 4)? {
            Some((
                u.choose_index(ndim)?,
                usize::from(u.arbitrary::<bool>()?),
                u.arbitrary()?,
            ))
        } else {
            None
        };
        Ok(Layout {
            perm,
            invert,
            slice,
        })
    }

    /// The buffer's shape (standard order) for a view of logical `shape`.
    fn buffer_shape(&self, shape: &[usize]) -> Vec<usize> {
        let mut logical = shape.to_vec();
        if let Some((ax, offset, _)) = self.slice {
            logical[ax] = 2 * shape[ax] + offset;
        }
        self.perm.iter().map(|&p| logical[p]).collect()
    }

    /// The logical view of a buffer of `buffer_shape`.
    fn apply<S: RawData>(&self, buffer: ArrayBase<S, IxDyn>) -> ArrayBase<S, IxDyn> {
        let mut inverse = vec![0; self.perm.len()];
        for (i, &p) in self.perm.iter().enumerate() {
            inverse[p] = i;
        }
        let mut v = buffer.permuted_axes(inverse);
        for (ax, &flip) in self.invert.iter().enumerate() {
            if flip {
                v.invert_axis(Axis(ax));
            }
        }
        if let Some((ax, offset, negative)) = self.slice {
            let step = if negative { -2 } else { 2 };
            v.slice_axis_inplace(Axis(ax), Slice::new(offset as isize, None, step));
        }
        v
    }
}

/// The spacing of one NumPy-stencil axis.
enum Spacing {
    Scalar(f64),
    Coordinates(Coordinates),
}

/// One requested derivative, as decoded.
enum Request {
    Numpy {
        spacing: Spacing,
    },
    WideUniform {
        len: usize,
        accuracy: usize,
        periodic: bool,
        dx: f64,
    },
    WideCoordinates {
        x: Coordinates,
        accuracy: usize,
        period: Option<f64>,
    },
}

struct Job {
    axis: usize,
    request: Request,
    /// The output's logical shape (the input's, or a wrong one on purpose) and layout.
    out_shape: Vec<usize>,
    out_layout: Layout,
}

/// A length near `n`: usually `n`, sometimes off by one or two.
fn length_near(u: &mut Unstructured<'_>, n: usize) -> Result<usize> {
    Ok(if u.ratio(1u8, 10)? {
        let delta = u.int_in_range(-2i64..=2)?;
        (n as i64 + delta).max(0) as usize
    } else {
        n
    })
}

fn accuracy(u: &mut Unstructured<'_>) -> Result<usize> {
    Ok(match u.int_in_range(0u8..=19)? {
        0 => 0,
        1 => 3,
        2 => 10,
        3..=7 => 2,
        8..=11 => 4,
        12..=15 => 6,
        _ => 8,
    })
}

fn request(u: &mut Unstructured<'_>, n: usize) -> Result<Request> {
    Ok(match u.int_in_range(0u8..=9)? {
        0..=2 => Request::Numpy {
            spacing: Spacing::Scalar(value(u)?),
        },
        3..=6 => {
            let m = length_near(u, n)?;
            let x = coordinates(u, m)?;
            Request::Numpy {
                spacing: Spacing::Coordinates(Coordinates::new(x, u.int_in_range(0..=2)?)),
            }
        }
        7 => Request::WideUniform {
            len: length_near(u, n)?,
            accuracy: accuracy(u)?,
            periodic: u.arbitrary()?,
            dx: value(u)?,
        },
        _ => {
            let m = length_near(u, n)?;
            let x = coordinates(u, m)?;
            let accuracy = accuracy(u)?;
            let period = match u.int_in_range(0u8..=5)? {
                0 | 1 => None,
                // Reaching just past the coordinates, in their direction.
                2 | 3 if m > 0 => {
                    let extent = x[m - 1] - x[0];
                    let extra = f64::from(u.int_in_range(1u8..=16)?) * 0.25;
                    Some(extent + extra.copysign(extent))
                }
                _ => Some(value(u)?),
            };
            Request::WideCoordinates {
                x: Coordinates::new(x, u.int_in_range(0..=2)?),
                accuracy,
                period,
            }
        }
    })
}

// ----------------------------------------------------------------------------------------
// The naive reference: numpy.gradient's formulas, one lane at a time
// ----------------------------------------------------------------------------------------

/// NumPy's reading of a spacing: a scalar, or coordinate steps (reduced to their first step
/// when all steps equal it, as `(diffx == diffx[0]).all()` does).
enum Steps {
    Uniform(f64),
    Varying(Vec<f64>),
}

fn numpy_steps(spacing: &Spacing) -> Steps {
    match spacing {
        Spacing::Scalar(dx) => Steps::Uniform(*dx),
        Spacing::Coordinates(x) => {
            let x = x.view();
            let d: Vec<f64> = (0..x.len() - 1).map(|i| x[i + 1] - x[i]).collect();
            if d.iter().all(|&v| v == d[0]) {
                Steps::Uniform(d[0])
            } else {
                Steps::Varying(d)
            }
        }
    }
}

/// `numpy.gradient` of the 1-D `f` (at least `edge_order + 1` points), formula by formula.
#[allow(clippy::many_single_char_names)]
fn reference_lane(f: &[f64], steps: &Steps, second_order_edges: bool) -> Vec<f64> {
    let n = f.len();
    let mut out = vec![SENTINEL; n];
    match steps {
        Steps::Uniform(dx) => {
            for i in 1..n - 1 {
                out[i] = (f[i + 1] - f[i - 1]) / (2. * dx);
            }
        }
        Steps::Varying(d) => {
            for i in 1..n - 1 {
                let (dx1, dx2) = (d[i - 1], d[i]);
                let a = -(dx2) / (dx1 * (dx1 + dx2));
                let b = (dx2 - dx1) / (dx1 * dx2);
                let c = dx1 / (dx2 * (dx1 + dx2));
                out[i] = a * f[i - 1] + b * f[i] + c * f[i + 1];
            }
        }
    }
    if !second_order_edges {
        let (dx_0, dx_n) = match steps {
            Steps::Uniform(dx) => (*dx, *dx),
            Steps::Varying(d) => (d[0], d[d.len() - 1]),
        };
        out[0] = (f[1] - f[0]) / dx_0;
        out[n - 1] = (f[n - 1] - f[n - 2]) / dx_n;
    } else {
        let (a, b, c) = match steps {
            Steps::Uniform(dx) => (-1.5 / dx, 2. / dx, -0.5 / dx),
            Steps::Varying(d) => {
                let (dx1, dx2) = (d[0], d[1]);
                (
                    -(2. * dx1 + dx2) / (dx1 * (dx1 + dx2)),
                    (dx1 + dx2) / (dx1 * dx2),
                    -dx1 / (dx2 * (dx1 + dx2)),
                )
            }
        };
        out[0] = a * f[0] + b * f[1] + c * f[2];
        let (a, b, c) = match steps {
            Steps::Uniform(dx) => (0.5 / dx, -2. / dx, 1.5 / dx),
            Steps::Varying(d) => {
                let (dx1, dx2) = (d[d.len() - 2], d[d.len() - 1]);
                (
                    (dx2) / (dx1 * (dx1 + dx2)),
                    -(dx2 + dx1) / (dx1 * dx2),
                    (2. * dx2 + dx1) / (dx2 * (dx1 + dx2)),
                )
            }
        };
        out[n - 1] = a * f[n - 3] + b * f[n - 2] + c * f[n - 1];
    }
    out
}

fn reference(f: &ArrayD<f64>, axis: usize, steps: &Steps, second: bool) -> ArrayD<f64> {
    let mut out = ArrayD::from_elem(f.raw_dim(), SENTINEL);
    for (lane, mut o) in f
        .lanes(Axis(axis))
        .into_iter()
        .zip(out.lanes_mut(Axis(axis)))
    {
        let lane: Vec<f64> = lane.iter().copied().collect();
        for (o, v) in o.iter_mut().zip(reference_lane(&lane, steps, second)) {
            *o = v;
        }
    }
    out
}

// ----------------------------------------------------------------------------------------
// Comparison
// ----------------------------------------------------------------------------------------

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

#[track_caller]
fn assert_same(what: &str, ours: &ArrayViewD<'_, f64>, expected: &ArrayViewD<'_, f64>) {
    assert_eq!(ours.shape(), expected.shape(), "{what}: shape");
    for ((index, &a), &b) in ours.indexed_iter().zip(expected.iter()) {
        assert!(
            same(a, b),
            "{what}: at {:?}: got {a:e} (0x{:016x}), expected {b:e} (0x{:016x})",
            index.slice(),
            a.to_bits(),
            b.to_bits()
        );
    }
}

// ----------------------------------------------------------------------------------------
// The target
// ----------------------------------------------------------------------------------------

/// A request's stencil, or None where it could not be built (the expected error was
/// checked; the job is dropped).
type Built<'x> = Option<Stencil<'x, f64>>;

/// `empty-part`: `gradient_part` of a 1-D array with an empty part at its start or end
/// (`0..0`, `n..n`) once panicked (`out[0]` of an empty output); fixed: an empty part writes
/// nothing. Kept as a name for NDGRADIENT_FUZZ_SKIP_KNOWN.
const EMPTY_PART: &str = "empty-part";

/// Checks a constructor's result against the error expected for its arguments.
fn expect<'x>(
    built: Result<Stencil<'x, f64>, GradientError>,
    expected: Option<GradientError>,
) -> Built<'x> {
    match (built, expected) {
        (Ok(stencil), None) => Some(stencil),
        // NaN in the period or extent: compare the variant only.
        (Err(GradientError::BadPeriod { .. }), Some(GradientError::BadPeriod { .. })) => None,
        (Err(e), Some(expected)) => {
            assert_eq!(e, expected);
            None
        }
        (built, expected) => panic!("built {built:?}, expected error {expected:?}"),
    }
}

/// Whether every step of `x` equals the first (NumPy's test; a NaN step never does).
fn equal_steps(x: &ArrayView1<'_, f64>) -> bool {
    x.len() >= 2 && (1..x.len()).all(|i| x[i] - x[i - 1] == x[1] - x[0])
}

/// The stencil of one request on an axis of `n` points.
fn build(request: &Request, n: usize, edge_order: EdgeOrder) -> Built<'_> {
    let too_short = (n < edge_order.min_points()).then_some(GradientError::AxisTooShort {
        length: n,
        needed: edge_order.min_points(),
    });
    match request {
        Request::Numpy {
            spacing: Spacing::Scalar(dx),
        } => expect(Stencil::numpy_scalar(n, *dx, edge_order), too_short),
        Request::Numpy {
            spacing: Spacing::Coordinates(x),
        } => {
            let view = x.view();
            let m = view.len();
            let expected = if m < 2 {
                Some(GradientError::TooFewCoordinates)
            } else {
                (m < edge_order.min_points()).then_some(GradientError::AxisTooShort {
                    length: m,
                    needed: edge_order.min_points(),
                })
            };
            let serial = Execution::Serial;
            let checked = ndgradient::Steps::Checked;
            let stencil = expect(
                Stencil::numpy_coordinates(view, edge_order, checked, serial),
                expected,
            )?;
            // Per-point weights exactly when NumPy keeps the coordinates' steps.
            let varying = matches!(numpy_steps(&request_spacing(request)), Steps::Varying(_));
            let per_point = stencil.pieces().iter().any(|p| {
                matches!(
                    p.formula,
                    Formula::Sum {
                        weights: Weights::NonUniform(_),
                        ..
                    }
                )
            });
            if m >= 3 {
                assert_eq!(
                    per_point, varying,
                    "uniform coordinates detected as NumPy does"
                );
            }
            Some(stencil)
        }
        Request::WideUniform {
            len,
            accuracy,
            periodic,
            dx,
        } => expect(
            Stencil::extended_uniform(*len, *accuracy, *periodic, *dx, 2. * dx),
            wide_error(*len, *accuracy),
        ),
        Request::WideCoordinates {
            x,
            accuracy,
            period,
        } => {
            let view = x.view();
            let len = view.len();
            let mut expected = wide_error(len, *accuracy);
            let uniform = equal_steps(&view)
                && period.map_or(true, |p| p - (view[len - 1] - view[0]) == view[1] - view[0]);
            if expected.is_none() && !uniform {
                if let Some(p) = *period {
                    let e = view[len - 1] - view[0];
                    let s = p - e;
                    if !(p * e > 0.0 && p * s > 0.0) {
                        expected = Some(GradientError::BadPeriod {
                            period: p,
                            extent: e,
                        });
                    }
                } else if *accuracy == 2 {
                    expected = Some(GradientError::MissingPeriod);
                }
            }
            let serial = Execution::Serial;
            expect(
                Stencil::extended_coordinates(view, *accuracy, *period, serial),
                expected,
            )
        }
    }
}

/// A borrowed copy of a NumPy request's spacing (the coordinates are re-read, not copied).
fn request_spacing(request: &Request) -> Spacing {
    match request {
        Request::Numpy {
            spacing: Spacing::Scalar(dx),
        } => Spacing::Scalar(*dx),
        Request::Numpy {
            spacing: Spacing::Coordinates(x),
        } => Spacing::Coordinates(Coordinates::new(x.view().to_vec(), 0)),
        _ => unreachable!("NumPy requests only"),
    }
}

fn wide_error(len: usize, accuracy: usize) -> Option<GradientError> {
    if ![2, 4, 6, 8].contains(&accuracy) {
        Some(GradientError::BadAccuracy { accuracy })
    } else if len < accuracy + 1 {
        Some(GradientError::AxisTooShortForStencil {
            length: len,
            accuracy,
        })
    } else {
        None
    }
}

/// The error the walk must give for one output, or None when it is valid.
fn output_error(
    f_shape: &[usize],
    axis: usize,
    out_shape: &[usize],
    stencil: &Stencil<'_, f64>,
) -> Option<GradientError> {
    let ndim = f_shape.len();
    if axis >= ndim {
        return Some(GradientError::AxisOutOfRange { axis, ndim });
    }
    if f_shape != out_shape {
        return Some(GradientError::ShapeMismatch);
    }
    let length = f_shape[axis];
    (stencil.len() != length).then_some(GradientError::StencilMismatch {
        stencil: stencil.len(),
        length,
    })
}

/// Data stored as f64, or as i16 (NumPy converts integers to float64 as it reads them).
trait Data: Copy + Send + Sync + ndgradient::element::Cast<f64> + 'static {
    fn decode(u: &mut Unstructured<'_>) -> Result<Self>;
    fn to_f64(self) -> f64;
}

impl Data for f64 {
    fn decode(u: &mut Unstructured<'_>) -> Result<f64> {
        value(u)
    }
    fn to_f64(self) -> f64 {
        self
    }
}

impl Data for i16 {
    fn decode(u: &mut Unstructured<'_>) -> Result<i16> {
        Ok(match u.int_in_range(0u8..=3)? {
            0 => i16::MIN,
            1 => i16::MAX,
            _ => i16::from(u.arbitrary::<i8>()?),
        })
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    if u.ratio(1u8, 8)? {
        run_typed::<i16>(u)
    } else {
        run_typed::<f64>(u)
    }
}

fn run_typed<S: Data>(u: &mut Unstructured<'_>) -> Result<()> {
    // Shape and layout.
    let ndim = u.int_in_range(1usize..=4)?;
    let mut shape = Vec::with_capacity(ndim);
    for _ in 0..ndim {
        shape.push(match u.int_in_range(0u8..=15)? {
            0..=11 => u.int_in_range(0usize..=9)?,
            12..=14 => u.int_in_range(10usize..=40)?,
            _ => u.int_in_range(41usize..=80)?,
        });
    }
    let layout = Layout::arbitrary(u, ndim)?;
    let buffer_shape = layout.buffer_shape(&shape);
    let elements: usize = buffer_shape.iter().product();
    if elements > MAX_ELEMENTS {
        return Ok(());
    }
    let mut values = Vec::with_capacity(elements);
    for _ in 0..elements {
        values.push(S::decode(u)?);
    }
    let buffer = ArrayD::from_shape_vec(IxDyn(&buffer_shape), values).expect("buffer shape");
    let f = layout.apply(buffer.view());
    assert_eq!(f.shape(), &shape[..], "layout keeps the logical shape");
    let edge_order = if u.arbitrary()? {
        EdgeOrder::Second
    } else {
        EdgeOrder::First
    };
    let parallel = u.arbitrary()?;

    // The requested derivatives: a subset of the axes in any order, now and then a repeated
    // axis, an axis out of range, or an output of the wrong shape.
    let mut axes: Vec<usize> = (0..ndim)
        .filter(|_| u.ratio(2u8, 3).unwrap_or(false))
        .collect();
    for i in (1..axes.len()).rev() {
        let j = u.int_in_range(0..=i)?;
        axes.swap(i, j);
    }
    if !axes.is_empty() && u.ratio(1u8, 16)? {
        let again = axes[u.choose_index(axes.len())?];
        axes.push(again);
    }
    if u.ratio(1u8, 32)? {
        axes.push(ndim + u.int_in_range(0usize..=2)?);
    }
    let mut jobs = Vec::with_capacity(axes.len());
    for &axis in &axes {
        let n = shape.get(axis).copied().unwrap_or(3);
        let request = request(u, n)?;
        let mut out_shape = shape.clone();
        if u.ratio(1u8, 32)? {
            let ax = u.choose_index(ndim)?;
            out_shape[ax] += 1;
        }
        jobs.push(Job {
            axis,
            request,
            out_shape,
            out_layout: Layout::arbitrary(u, ndim)?,
        });
    }

    // Stencils (an invalid construction is checked to fail as documented, and dropped).
    let built: Vec<Built<'_>> = jobs
        .iter()
        .map(|job| {
            let n = shape.get(job.axis).copied().unwrap_or(3);
            build(&job.request, n, edge_order)
        })
        .collect();
    let kept: Vec<usize> = (0..jobs.len()).filter(|&i| built[i].is_some()).collect();
    let stencil = |i: usize| built[i].as_ref().expect("kept");
    let expected_error = kept
        .iter()
        .find_map(|&i| output_error(&shape, jobs[i].axis, &jobs[i].out_shape, stencil(i)));
    let workers = if parallel { 2 } else { 1 };
    type F64<S> = Promotion<S, f64, f64>;

    // The walk, writing outputs of their own layouts.
    let mut buffers: Vec<ArrayD<f64>> = kept
        .iter()
        .map(|&i| {
            let job = &jobs[i];
            ArrayD::from_elem(
                IxDyn(&job.out_layout.buffer_shape(&job.out_shape)),
                SENTINEL,
            )
        })
        .collect();
    let outputs: Vec<Output<'_, '_, F64<S>>> = kept
        .iter()
        .zip(buffers.iter_mut())
        .map(|(&i, buffer)| Output {
            axis: jobs[i].axis,
            stencil: stencil(i),
            out: jobs[i].out_layout.apply(buffer.view_mut()),
        })
        .collect();
    let (result, _) = threads::run(workers, PARALLEL_THRESHOLD, |execution| {
        walk::gradient::<F64<S>>(f.view(), outputs, execution)
    })
    .expect("a pool");
    match (&result, &expected_error) {
        (Ok(_), None) => {}
        (Err(e), Some(expected)) => {
            assert_eq!(e, expected, "walk error");
            return Ok(());
        }
        _ => panic!("walk gave {result:?}, expected error {expected_error:?}"),
    }

    // Every output against the per-element reference, and NumPy's against the naive one.
    let f64_data: ArrayD<f64> = f.map(|&v| v.to_f64());
    let second = edge_order == EdgeOrder::Second;
    let walked: Vec<ArrayViewD<'_, f64>> = kept
        .iter()
        .zip(&buffers)
        .map(|(&i, buffer)| jobs[i].out_layout.apply(buffer.view()))
        .collect();
    for (k, &i) in kept.iter().enumerate() {
        let axis = jobs[i].axis;
        let mut single = ArrayD::from_elem(f.raw_dim(), SENTINEL);
        reference::gradient_axis::<F64<S>>(f.view(), single.view_mut(), axis, stencil(i));
        assert_same("walk vs reference", &walked[k], &single.view());
        if let Request::Numpy { .. } = jobs[i].request {
            let steps = numpy_steps(&request_spacing(&jobs[i].request));
            let expected = reference(&f64_data, axis, &steps, second);
            assert_same(
                "reference vs NumPy's formulas",
                &single.view(),
                &expected.view(),
            );
        }
    }

    // The same call in two parts along the outermost axis.
    let n = walk::outermost_length(&f);
    let split = u.int_in_range(0..=n)?;
    let mut parts: Vec<ArrayD<f64>> = kept
        .iter()
        .map(|_| ArrayD::from_elem(f.raw_dim(), SENTINEL))
        .collect();
    for range in [0..split, split..n] {
        if range.is_empty() && ndim == 1 && skip_known(EMPTY_PART) {
            continue;
        }
        let outputs = kept
            .iter()
            .zip(parts.iter_mut())
            .map(|(&i, part)| Output {
                axis: jobs[i].axis,
                stencil: stencil(i),
                out: part.view_mut(),
            })
            .collect();
        threads::run(workers, PARALLEL_THRESHOLD, |execution| {
            walk::gradient_part::<F64<S>>(f.view(), outputs, range, execution)
        })
        .expect("a pool")
        .0
        .expect("valid parts");
    }
    for (part, walked) in parts.iter().zip(&walked) {
        assert_same("gradient_part vs gradient", &part.view(), walked);
    }
    Ok(())
}
