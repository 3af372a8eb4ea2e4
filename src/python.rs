//! The private extension module `ndgradient._core`: dtype dispatch, borrows, GIL release and
//! error mapping around the pure core. Argument rules and NumPy's promotion live in the Python
//! shim, which calls [`gradient_into`] with outputs it has allocated.

use crate::element::{Cast, Field, Real};
use crate::fused::{self, AxisOutput};
use crate::kernel::GradientError;
use crate::stencil::{AxisStencil, EdgeOrder, Steps};
use crate::threads;
use crate::wide::WideStencil;
use half::f16;
use num_complex::{Complex32, Complex64};
use numpy::ndarray::{Array1, ArrayView1, ArrayViewD, ArrayViewMutD};
use numpy::prelude::*;
use numpy::{Element, PyArray1, PyArrayDyn, PyReadonlyArray1, PyUntypedArray};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use std::ops::Range;

impl From<GradientError> for PyErr {
    fn from(err: GradientError) -> PyErr {
        PyValueError::new_err(err.to_string())
    }
}

/// The element types the core reads, identified by NumPy's (kind, itemsize): one look at the
/// dtype instead of trying each typed extraction in turn (a failed one costs a Python error).
#[derive(Clone, Copy, Debug)]
enum Dtype {
    F64,
    F32,
    F16,
    C128,
    C64,
    I64,
    I32,
    I16,
    I8,
    U64,
    U32,
    U16,
    U8,
}

impl Dtype {
    fn of(array: &Bound<'_, PyUntypedArray>) -> PyResult<Dtype> {
        let descr = array.dtype();
        Ok(match (descr.kind(), descr.itemsize()) {
            (b'f', 8) => Dtype::F64,
            (b'f', 4) => Dtype::F32,
            (b'f', 2) => Dtype::F16,
            (b'c', 16) => Dtype::C128,
            (b'c', 8) => Dtype::C64,
            (b'i', 8) => Dtype::I64,
            (b'i', 4) => Dtype::I32,
            (b'i', 2) => Dtype::I16,
            (b'i', 1) => Dtype::I8,
            (b'u', 8) => Dtype::U64,
            (b'u', 4) => Dtype::U32,
            (b'u', 2) => Dtype::U16,
            (b'u', 1) => Dtype::U8,
            _ => {
                return Err(PyTypeError::new_err(format!(
                    "no native kernel for dtype {descr}"
                )))
            }
        })
    }
}

/// Calls `$run::<input, data, compute>(args)` for the input's dtype and the compute dtype code:
/// every combination NumPy's promotion can give, and nothing else.
macro_rules! dispatch {
    ($f:expr, $compute:expr, $run:ident ( $($arg:expr),* )) => {
        match (Dtype::of($f)?, $compute) {
            (Dtype::F64, "d") => $run::<f64, f64, f64>($($arg),*),
            (Dtype::F32, "f") => $run::<f32, f32, f32>($($arg),*),
            (Dtype::F32, "d") => $run::<f32, f32, f64>($($arg),*),
            (Dtype::F16, "e") => $run::<f16, f16, f16>($($arg),*),
            (Dtype::F16, "f") => $run::<f16, f16, f32>($($arg),*),
            (Dtype::F16, "d") => $run::<f16, f16, f64>($($arg),*),
            (Dtype::C128, "D") => $run::<Complex64, Complex64, Complex64>($($arg),*),
            (Dtype::C64, "F") => $run::<Complex32, Complex32, Complex32>($($arg),*),
            (Dtype::C64, "D") => $run::<Complex32, Complex32, Complex64>($($arg),*),
            (Dtype::I64, "d") => $run::<i64, f64, f64>($($arg),*),
            (Dtype::I32, "d") => $run::<i32, f64, f64>($($arg),*),
            (Dtype::I16, "d") => $run::<i16, f64, f64>($($arg),*),
            (Dtype::I8, "d") => $run::<i8, f64, f64>($($arg),*),
            (Dtype::U64, "d") => $run::<u64, f64, f64>($($arg),*),
            (Dtype::U32, "d") => $run::<u32, f64, f64>($($arg),*),
            (Dtype::U16, "d") => $run::<u16, f64, f64>($($arg),*),
            (Dtype::U8, "d") => $run::<u8, f64, f64>($($arg),*),
            (_, compute) => Err(PyTypeError::new_err(format!(
                "no native kernel for this input dtype with compute dtype {compute:?}"
            ))),
        }
    };
}

/// The spacing of one axis as the shim hands it over: either a tuple
/// `(2. * dx, dx, (-1.5/dx, 2./dx, -0.5/dx), (0.5/dx, -2./dx, 1.5/dx))` computed by NumPy and
/// already rounded to the compute type (so exact in `f64`), or a 1-D coordinate array whose
/// uniformity and weights the core decides, in its own type, once the GIL is released.
enum Spacing<'py> {
    Uniform(f64, f64, [f64; 3], [f64; 3]),
    F64(PyReadonlyArray1<'py, f64>),
    F32(PyReadonlyArray1<'py, f32>),
    F16(PyReadonlyArray1<'py, f16>),
    /// Integer coordinates, converted to float64 as NumPy converts them.
    Converted(Array1<f64>),
}

/// A [`Spacing`] as plain views, which may cross into the detached computation.
enum SpacingView<'a> {
    Uniform(f64, f64, [f64; 3], [f64; 3]),
    F64(ArrayView1<'a, f64>),
    F32(ArrayView1<'a, f32>),
    F16(ArrayView1<'a, f16>),
}

impl<'py> Spacing<'py> {
    fn extract(spacing: &Bound<'py, PyAny>) -> PyResult<Spacing<'py>> {
        if spacing.is_instance_of::<PyTuple>() {
            let (twice_dx, dx, edges): (f64, f64, Option<([f64; 3], [f64; 3])>) =
                spacing.extract()?;
            let (first, last) = edges.unwrap_or_default();
            return Ok(Spacing::Uniform(twice_dx, dx, first, last));
        }
        let x = spacing.cast::<PyUntypedArray>()?;
        fn ints<I: Element + Cast<f64>>(
            x: &Bound<'_, PyUntypedArray>,
        ) -> PyResult<Spacing<'static>> {
            let x = x.cast::<PyArray1<I>>()?.try_readonly()?;
            Ok(Spacing::Converted(x.as_array().mapv(Cast::cast)))
        }
        Ok(match Dtype::of(x)? {
            Dtype::F64 => Spacing::F64(x.cast::<PyArray1<f64>>()?.try_readonly()?),
            Dtype::F32 => Spacing::F32(x.cast::<PyArray1<f32>>()?.try_readonly()?),
            Dtype::F16 => Spacing::F16(x.cast::<PyArray1<f16>>()?.try_readonly()?),
            Dtype::I64 => ints::<i64>(x)?,
            Dtype::I32 => ints::<i32>(x)?,
            Dtype::I16 => ints::<i16>(x)?,
            Dtype::I8 => ints::<i8>(x)?,
            Dtype::U64 => ints::<u64>(x)?,
            Dtype::U32 => ints::<u32>(x)?,
            Dtype::U16 => ints::<u16>(x)?,
            Dtype::U8 => ints::<u8>(x)?,
            Dtype::C128 | Dtype::C64 => return Err(PyTypeError::new_err("complex coordinates")),
        })
    }

    fn view(&self) -> SpacingView<'_> {
        match self {
            Spacing::Uniform(a, b, c, d) => SpacingView::Uniform(*a, *b, *c, *d),
            Spacing::F64(x) => SpacingView::F64(x.as_array()),
            Spacing::F32(x) => SpacingView::F32(x.as_array()),
            Spacing::F16(x) => SpacingView::F16(x.as_array()),
            Spacing::Converted(x) => SpacingView::F64(x.view()),
        }
    }
}

impl SpacingView<'_> {
    fn stencil<R: Real>(&self, steps: Steps) -> Result<AxisStencil<'_, R>, GradientError>
    where
        f64: Cast<R>,
        f32: Cast<R>,
        f16: Cast<R>,
    {
        match self {
            SpacingView::Uniform(twice_dx, dx, first, last) => Ok(AxisStencil::uniform(
                R::from_f64(*twice_dx),
                R::from_f64(*dx),
                first.map(R::from_f64),
                last.map(R::from_f64),
            )),
            SpacingView::F64(x) => AxisStencil::try_from_coordinates(x.view(), steps),
            SpacingView::F32(x) => AxisStencil::try_from_coordinates(x.view(), steps),
            SpacingView::F16(x) => AxisStencil::try_from_coordinates(x.view(), steps),
        }
    }
}

impl SpacingView<'_> {
    /// The extended stencil of an axis of `length` points (a coordinate axis is periodic when
    /// it has a `period`).
    fn wide_stencil<R: Real>(
        &self,
        length: usize,
        accuracy: usize,
        periodic: bool,
        period: Option<f64>,
    ) -> Result<WideStencil<R>, GradientError>
    where
        f64: Cast<R>,
        f32: Cast<R>,
        f16: Cast<R>,
    {
        match self {
            SpacingView::Uniform(twice_dx, dx, _, _) => WideStencil::uniform(
                length,
                accuracy,
                periodic,
                R::from_f64(*dx),
                R::from_f64(*twice_dx),
            ),
            _ if periodic != period.is_some() => Err(GradientError::MissingPeriod),
            SpacingView::F64(x) => coordinate_stencil(x.view(), accuracy, period),
            SpacingView::F32(x) => coordinate_stencil(x.view(), accuracy, period),
            SpacingView::F16(x) => coordinate_stencil(x.view(), accuracy, period),
        }
    }
}

/// Coordinates whose steps are all equal (the wrap step included, on a periodic axis) get the
/// uniform stencil of that step, as NumPy treats such coordinates as a scalar spacing.
fn coordinate_stencil<X: Real + Cast<R>, R: Real>(
    x: ArrayView1<'_, X>,
    accuracy: usize,
    period: Option<f64>,
) -> Result<WideStencil<R>, GradientError> {
    let len = x.len();
    if len >= 2 {
        let step = x[1] - x[0];
        let even = x.windows(2).into_iter().all(|w| w[1] - w[0] == step);
        let wraps_evenly = period.map_or(true, |p| X::from_f64(p) - (x[len - 1] - x[0]) == step);
        if even && wraps_evenly {
            let twice = X::from_f64(2.0) * step;
            return WideStencil::uniform(
                len,
                accuracy,
                period.is_some(),
                step.cast(),
                twice.cast(),
            );
        }
    }
    WideStencil::from_coordinates(x, accuracy, period.map(X::from_f64))
}

/// Borrows `f`, its outputs and the spacings, releases the GIL and runs `work` on their views.
/// `work` gets a checkpoint to call between parts of a long computation: it takes the GIL back
/// for a moment and returns the exception of a pending signal (Ctrl-C's KeyboardInterrupt).
/// The borrows keep the arrays alive and unaliased meanwhile.
fn with_views<'py, S, A>(
    f: &Bound<'py, PyUntypedArray>,
    outs: &[Bound<'py, PyAny>],
    spacings: &[Bound<'py, PyAny>],
    work: impl FnOnce(
            ArrayViewD<'_, S>,
            Vec<ArrayViewMutD<'_, A>>,
            &[SpacingView<'_>],
            &dyn Fn() -> PyResult<()>,
        ) -> PyResult<()>
        + Send,
) -> PyResult<()>
where
    S: Element + Send + Sync,
    A: Element + Send,
{
    if outs.len() != spacings.len() {
        return Err(PyValueError::new_err(
            "outs, axes and spacings must have one entry per axis",
        ));
    }
    let spacings = spacings
        .iter()
        .map(Spacing::extract)
        .collect::<PyResult<Vec<_>>>()?;
    let spacing_views: Vec<SpacingView<'_>> = spacings.iter().map(Spacing::view).collect();
    let f = f.cast::<PyArrayDyn<S>>()?.try_readonly()?;
    let mut borrows = Vec::with_capacity(outs.len());
    for out in outs {
        borrows.push(out.cast::<PyArrayDyn<A>>()?.try_readwrite()?);
    }
    let input = f.as_array();
    let outs: Vec<_> = borrows.iter_mut().map(|b| b.as_array_mut()).collect();
    f.py().detach(move || {
        let checkpoint = || Python::attach(|py| py.check_signals());
        work(input, outs, &spacing_views, &checkpoint)
    })
}

/// Inputs at least twice this size are computed in parts of about this many elements, with a
/// signal check between parts (tens of milliseconds each).
const PART_ELEMENTS: usize = 1 << 23;

/// ndgradient's extended stencils: `accuracy` for every axis, and which axes are periodic
/// (with the period of a periodic coordinate axis). Axes of accuracy 2 that are not periodic
/// keep NumPy's stencil; `uneven` marks the coordinate axes whose uniformity was decided
/// over a longer array (Dask blocks).
struct Extended {
    accuracy: usize,
    periodic: Vec<bool>,
    periods: Vec<Option<f64>>,
    uneven: Vec<bool>,
}

impl Extended {
    fn applies(&self, k: usize) -> bool {
        self.accuracy != 2 || self.periodic[k]
    }
}

/// The stencil built for one axis.
enum Built<'x, R> {
    Numpy(AxisStencil<'x, R>),
    Wide(WideStencil<R>),
}

impl<R> Built<'_, R> {
    fn stencil(&self) -> fused::Stencil<'_, R> {
        match self {
            Built::Numpy(stencil) => stencil.into(),
            Built::Wide(stencil) => stencil.into(),
        }
    }
}

/// Every requested axis, in one fused pass.
fn run<'py, S, A, T>(
    f: &Bound<'py, PyUntypedArray>,
    outs: &[Bound<'py, PyAny>],
    axes: &[usize],
    spacings: &[Bound<'py, PyAny>],
    edge_order: EdgeOrder,
    extended: &Extended,
    workers: usize,
) -> PyResult<()>
where
    S: Element + Cast<A> + Send + Sync,
    A: Element + Field + Cast<T>,
    T: Field + Cast<A>,
    f64: Cast<T::Real>,
    f32: Cast<T::Real>,
    f16: Cast<T::Real>,
{
    let n = axes.len();
    let lengths = [
        outs.len(),
        extended.periodic.len(),
        extended.periods.len(),
        extended.uneven.len(),
    ];
    if lengths.iter().any(|&len| len != n) {
        return Err(PyValueError::new_err(
            "outs, axes, spacings, periodic, periods and uneven need one entry per axis",
        ));
    }
    with_views::<S, A>(
        f,
        outs,
        spacings,
        |input, mut outs, spacings, checkpoint| {
            let elements = input.len();
            let pool_error = |message: String| PyRuntimeError::new_err(message);
            // Every stencil first, so that a bad one leaves every output unwritten.
            let built = threads::run(workers, elements, |_| {
                axes.iter()
                    .zip(spacings)
                    .enumerate()
                    .map(|(k, (&axis, spacing))| {
                        if extended.applies(k) {
                            let length = input.shape().get(axis).copied().unwrap_or(0);
                            let (periodic, period) = (extended.periodic[k], extended.periods[k]);
                            spacing
                                .wide_stencil::<T::Real>(
                                    length,
                                    extended.accuracy,
                                    periodic,
                                    period,
                                )
                                .map(Built::Wide)
                        } else {
                            let steps = if extended.uneven[k] {
                                Steps::Uneven
                            } else {
                                Steps::Checked
                            };
                            spacing.stencil::<T::Real>(steps).map(Built::Numpy)
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(pool_error)??;
            let parts: Vec<Option<Range<usize>>> = match fused::part_axis_length(&input) {
                Some(n) if elements >= 2 * PART_ELEMENTS => {
                    let count = (elements / PART_ELEMENTS).clamp(1, n);
                    // In u128: k * n cannot overflow whatever the sizes.
                    let bound = |k: usize| (k as u128 * n as u128 / count as u128) as usize;
                    (0..count).map(|k| Some(bound(k)..bound(k + 1))).collect()
                }
                _ => vec![None],
            };
            for part in parts {
                let outputs = outs
                    .iter_mut()
                    .zip(axes)
                    .zip(&built)
                    .map(|((out, &axis), built)| AxisOutput {
                        axis,
                        stencil: built.stencil(),
                        out: out.view_mut(),
                    })
                    .collect();
                threads::run(workers, elements, |parallel| {
                    fused::gradient_part::<S, A, T>(
                        input.view(),
                        outputs,
                        edge_order,
                        parallel,
                        part,
                    )
                })
                .map_err(pool_error)??;
                checkpoint()?;
            }
            Ok(())
        },
    )
}

/// One requested derivative as the shim hands it over:
/// `(axis, spacing, accuracy, periodic, period, uneven)`.
type Request<'py> = (usize, Bound<'py, PyAny>, usize, bool, Option<f64>, bool);

/// Writes the gradient of `f` for each request into the matching array of `outs`.
///
/// `compute` is the dtype character code NumPy promotes to for every request ("e", "f",
/// "d", "F" or "D"); `edge_order` is 1 or 2. Outputs must have `f`'s shape and the dtype NumPy
/// returns (float64 for integer input), in native byte order.
#[pyfunction]
#[pyo3(signature = (f, outs, requests, compute, edge_order, workers=None))]
fn gradient_into<'py>(
    f: &Bound<'py, PyUntypedArray>,
    outs: Vec<Bound<'py, PyAny>>,
    requests: Vec<Request<'py>>,
    compute: &str,
    edge_order: u8,
    workers: Option<usize>,
) -> PyResult<()> {
    let workers = workers.unwrap_or_else(threads::default_workers);
    let edge_order = match edge_order {
        1 => EdgeOrder::First,
        2 => EdgeOrder::Second,
        _ => return Err(PyValueError::new_err("edge_order must be 1 or 2")),
    };
    let axes: Vec<usize> = requests.iter().map(|r| r.0).collect();
    let spacings: Vec<Bound<'py, PyAny>> = requests.iter().map(|r| r.1.clone()).collect();
    let extended = Extended {
        accuracy: requests.iter().map(|r| r.2).max().unwrap_or(2),
        periodic: requests.iter().map(|r| r.3).collect(),
        periods: requests.iter().map(|r| r.4).collect(),
        uneven: requests.iter().map(|r| r.5).collect(),
    };
    let (o, a, s, e) = (&outs[..], &axes[..], &spacings[..], &extended);
    dispatch!(f, compute, run(f, o, a, s, edge_order, e, workers))
}

/// The default number of worker threads (`NDGRADIENT_NUM_THREADS`, else the CPU count).
#[pyfunction]
fn default_workers() -> usize {
    threads::default_workers()
}

/// The number of CPUs this process may run on.
#[pyfunction]
fn available_cpus() -> usize {
    threads::available_cpus()
}

/// How this module was built: `profile` ("release" or "debug") and `target` (arch-os).
#[pyfunction]
fn build_info(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let info = PyDict::new(py);
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    info.set_item("profile", profile)?;
    let target = format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS);
    info.set_item("target", target)?;
    Ok(info)
}

/// The native module. It holds no global state that needs the GIL.
#[pymodule(gil_used = false)]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(gradient_into, m)?)?;
    m.add_function(wrap_pyfunction!(default_workers, m)?)?;
    m.add_function(wrap_pyfunction!(available_cpus, m)?)?;
    m.add_function(wrap_pyfunction!(build_info, m)?)?;
    Ok(())
}
