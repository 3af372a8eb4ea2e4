//! The private extension module `ndgradient._core`. It translates and does not think: it
//! reads the arguments, borrows the arrays, releases the GIL around [`request::gradient`] and
//! maps the core's errors to NumPy's exception types, in one `match`. Argument rules and
//! NumPy's promotion live in the Python shim, which allocates the outputs.

use crate::common_call;
use crate::dtypes::Promotion;
use crate::element::{Cast, Field, Half};
use crate::error::GradientError;
use crate::fp_status::FpFlags;
use crate::memory;
use crate::request::{self, Coordinates, Request, Spacing, StencilOptions, UniformSpacing};
use crate::stencil::EdgeOrder;
use crate::tails;
use crate::threads;
use half::f16;
use num_complex::{Complex32, Complex64};
use numpy::ndarray::Array1;
use numpy::prelude::*;
use numpy::{Element, PyArray1, PyArrayDyn, PyReadonlyArray1, PyUntypedArray};
use pyo3::exceptions::{PyIndexError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

/// The exception NumPy raises for the same mistake. `interrupt` is what the checkpoint
/// caught, for [`GradientError::Interrupted`].
fn exception(py: Python<'_>, err: GradientError, interrupt: Option<PyErr>) -> PyErr {
    let message = err.to_string();
    match err {
        GradientError::AxisOutOfRange { axis, ndim } => py
            .import("numpy.exceptions")
            .and_then(|m| m.getattr("AxisError"))
            .and_then(|cls| cls.call1((axis, ndim)))
            .map_or_else(|e| e, PyErr::from_value),
        GradientError::TooFewCoordinates => PyIndexError::new_err(message),
        GradientError::CoordinatesTooWide | GradientError::UnsupportedDtype { .. } => {
            PyTypeError::new_err(message)
        }
        GradientError::ThreadPool { .. } => PyRuntimeError::new_err(message),
        GradientError::Interrupted => interrupt.unwrap_or_else(|| PyRuntimeError::new_err(message)),
        GradientError::AxisTooShort { .. }
        | GradientError::ShapeMismatch
        | GradientError::StencilMismatch { .. }
        | GradientError::CoordinatesMismatch { .. }
        | GradientError::MissingEdgeWeights
        | GradientError::BadAccuracy { .. }
        | GradientError::AxisTooShortForStencil { .. }
        | GradientError::BadPeriod { .. }
        | GradientError::MissingPeriod
        | GradientError::BadEdgeOrder { .. }
        | GradientError::CountMismatch { .. } => PyValueError::new_err(message),
    }
}

/// NumPy's (kind, itemsize) of an array's dtype: one look at the dtype instead of trying each
/// typed extraction in turn (a failed one costs a Python error).
pub(crate) fn kind(array: &Bound<'_, PyUntypedArray>) -> (u8, usize) {
    let descr = array.dtype();
    (descr.kind(), descr.itemsize())
}

pub(crate) fn unsupported(what: String) -> PyErr {
    GradientError::UnsupportedDtype { what }.into()
}

/// Calls `run::<input, data, compute>(args)` for the input's dtype and the compute dtype code:
/// every combination NumPy's promotion can give, and nothing else.
macro_rules! dispatch {
    ($f:expr, $compute:expr, $run:ident ( $($arg:expr),* )) => {
        match (kind($f), $compute) {
            ((b'f', 8), "d") => $run::<f64, f64, f64>($($arg),*),
            ((b'f', 4), "f") => $run::<f32, f32, f32>($($arg),*),
            ((b'f', 4), "d") => $run::<f32, f32, f64>($($arg),*),
            ((b'f', 2), "e") => $run::<f16, f16, f16>($($arg),*),
            ((b'f', 2), "f") => $run::<f16, f16, f32>($($arg),*),
            ((b'f', 2), "d") => $run::<f16, f16, f64>($($arg),*),
            ((b'c', 16), "D") => $run::<Complex64, Complex64, Complex64>($($arg),*),
            ((b'c', 8), "F") => $run::<Complex32, Complex32, Complex32>($($arg),*),
            ((b'c', 8), "D") => $run::<Complex32, Complex32, Complex64>($($arg),*),
            ((b'i', 8), "d") => $run::<i64, f64, f64>($($arg),*),
            ((b'i', 4), "d") => $run::<i32, f64, f64>($($arg),*),
            ((b'i', 2), "d") => $run::<i16, f64, f64>($($arg),*),
            ((b'i', 1), "d") => $run::<i8, f64, f64>($($arg),*),
            ((b'u', 8), "d") => $run::<u64, f64, f64>($($arg),*),
            ((b'u', 4), "d") => $run::<u32, f64, f64>($($arg),*),
            ((b'u', 2), "d") => $run::<u16, f64, f64>($($arg),*),
            ((b'u', 1), "d") => $run::<u8, f64, f64>($($arg),*),
            (_, compute) => Err(unsupported(format!(
                "dtype {} with compute dtype {compute:?}",
                $f.dtype()
            ))),
        }
    };
}
pub(crate) use dispatch;

/// A coordinate array as the core reads it: borrowed in its float type, float16 copied as the
/// core's [`Half`], or integers converted to float64 as NumPy converts them.
enum HeldCoordinates<'py> {
    F64(PyReadonlyArray1<'py, f64>),
    F32(PyReadonlyArray1<'py, f32>),
    F16(Array1<Half>),
    Converted(Array1<f64>),
}

/// `(2. * dx, dx, second-order edge weights or None, floating-point errors raised)`.
pub(crate) type UniformTuple = (f64, f64, Option<([f64; 3], [f64; 3])>, u8);

/// The core's spacing for the shim's tuple.
pub(crate) fn uniform_spacing((twice_dx, dx, edges, raised): UniformTuple) -> UniformSpacing {
    UniformSpacing {
        twice_dx,
        dx,
        second_order_edges: edges.map(|(first, last)| [first, last]),
        raised: FpFlags::from_bits(raised),
    }
}

/// One request's spacing as the shim hands it over: a tuple `(2. * dx, dx, edges, raised)`
/// with `edges` the second-order edge weights or None and `raised` the floating-point errors
/// (NumPy's bits) computing them raised, or a 1-D coordinate array.
enum HeldSpacing<'py> {
    Uniform(UniformSpacing),
    Coordinates(HeldCoordinates<'py>),
}

impl<'py> HeldSpacing<'py> {
    fn extract(spacing: &Bound<'py, PyAny>) -> PyResult<HeldSpacing<'py>> {
        if spacing.is_instance_of::<PyTuple>() {
            return Ok(HeldSpacing::Uniform(uniform_spacing(spacing.extract()?)));
        }
        let x = spacing.cast::<PyUntypedArray>()?;
        fn ints<I: Element + Cast<f64>>(
            x: &Bound<'_, PyUntypedArray>,
        ) -> PyResult<HeldCoordinates<'static>> {
            let x = x.cast::<PyArray1<I>>()?.try_readonly()?;
            Ok(HeldCoordinates::Converted(x.as_array().mapv(Cast::cast)))
        }
        let held = match kind(x) {
            (b'f', 8) => HeldCoordinates::F64(x.cast::<PyArray1<f64>>()?.try_readonly()?),
            (b'f', 4) => HeldCoordinates::F32(x.cast::<PyArray1<f32>>()?.try_readonly()?),
            (b'f', 2) => {
                let x = x.cast::<PyArray1<f16>>()?.try_readonly()?;
                HeldCoordinates::F16(x.as_array().mapv(Half))
            }
            (b'i', 8) => ints::<i64>(x)?,
            (b'i', 4) => ints::<i32>(x)?,
            (b'i', 2) => ints::<i16>(x)?,
            (b'i', 1) => ints::<i8>(x)?,
            (b'u', 8) => ints::<u64>(x)?,
            (b'u', 4) => ints::<u32>(x)?,
            (b'u', 2) => ints::<u16>(x)?,
            (b'u', 1) => ints::<u8>(x)?,
            _ => return Err(unsupported(format!("coordinates of dtype {}", x.dtype()))),
        };
        Ok(HeldSpacing::Coordinates(held))
    }

    fn view(&self) -> Spacing<'_> {
        match self {
            HeldSpacing::Uniform(uniform) => Spacing::Uniform(*uniform),
            HeldSpacing::Coordinates(x) => Spacing::Coordinates(match x {
                HeldCoordinates::F64(x) => Coordinates::F64(x.as_array()),
                HeldCoordinates::F32(x) => Coordinates::F32(x.as_array()),
                HeldCoordinates::F16(x) => Coordinates::F16(x.view()),
                HeldCoordinates::Converted(x) => Coordinates::F64(x.view()),
            }),
        }
    }
}

impl From<GradientError> for PyErr {
    /// For errors raised while attached, before any signal could be caught.
    fn from(err: GradientError) -> PyErr {
        Python::attach(|py| exception(py, err, None))
    }
}

/// One requested derivative as the shim hands it over:
/// `(axis, spacing, accuracy, periodic, period, uneven)`.
type PyRequest<'py> = (usize, Bound<'py, PyAny>, usize, bool, Option<f64>, bool);

/// Borrows everything, releases the GIL, and runs the core for one promotion.
fn run<'py, S, A, T>(
    f: &Bound<'py, PyUntypedArray>,
    outs: &[Bound<'py, PyAny>],
    requests: &[PyRequest<'py>],
    edge_order: EdgeOrder,
    workers: usize,
) -> PyResult<u8>
where
    S: Element + Cast<A> + Send + Sync + 'static,
    A: Element + Field + Cast<T>,
    T: Field + Cast<A>,
{
    let spacings = requests
        .iter()
        .map(|r| HeldSpacing::extract(&r.1))
        .collect::<PyResult<Vec<_>>>()?;
    let f = f.cast::<PyArrayDyn<S>>()?.try_readonly()?;
    let mut borrows = Vec::with_capacity(outs.len());
    for out in outs {
        borrows.push(out.cast::<PyArrayDyn<A>>()?.try_readwrite()?);
    }
    let input = f.as_array();
    let requests: Vec<Request<'_, '_, A>> = requests
        .iter()
        .zip(&spacings)
        .zip(borrows.iter_mut())
        .map(
            |((&(axis, _, accuracy, periodic, period, uneven), spacing), out)| Request {
                axis,
                spacing: spacing.view(),
                options: StencilOptions {
                    accuracy,
                    periodic,
                    period,
                    uneven,
                },
                out: out.as_array_mut(),
            },
        )
        .collect();
    let raised = computed(f.py(), input.len(), |checkpoint| {
        request::gradient::<Promotion<S, A, T>>(input, requests, edge_order, workers, checkpoint)
    })?;
    Ok(raised.bits())
}

/// Inputs of fewer elements than this are computed without releasing the GIL: they take a
/// few microseconds at most, and releasing and taking back the GIL (twice, with the
/// checkpoint) is a good part of a small call's time, more if another thread takes it.
const ATTACHED_ELEMENTS: usize = 1 << 12;

/// Runs `compute` on an input of `elements`, giving it the checkpoint the core calls between
/// parts, and maps its error to NumPy's exception: the one place the GIL is released (for
/// inputs of [`ATTACHED_ELEMENTS`] or more).
pub(crate) fn computed<F>(py: Python<'_>, elements: usize, compute: F) -> PyResult<FpFlags>
where
    F: FnOnce(&mut dyn FnMut() -> bool) -> Result<FpFlags, GradientError> + Send,
{
    let mut interrupt = None;
    let mut look = |py: Python<'_>| match py.check_signals() {
        Ok(()) => true,
        Err(caught) => {
            interrupt = Some(caught);
            false
        }
    };
    let done = if elements < ATTACHED_ELEMENTS {
        compute(&mut || look(py))
    } else {
        // Between parts: take the GIL back for a moment and look for a pending signal.
        py.detach(|| compute(&mut || Python::attach(&mut look)))
    };
    done.map_err(|err| exception(py, err, interrupt))
}

/// The edge order `edge_order` stands for: 1 or 2.
pub(crate) fn edge_order_of(edge_order: u64) -> Result<EdgeOrder, GradientError> {
    match edge_order {
        1 => Ok(EdgeOrder::First),
        2 => Ok(EdgeOrder::Second),
        _ => Err(GradientError::BadEdgeOrder { edge_order }),
    }
}

/// Writes the gradient of `f` for each request into the matching array of `outs`.
///
/// `compute` is the dtype character code NumPy promotes to for every request ("e", "f",
/// "d", "F" or "D"); `edge_order` is 1 or 2. Outputs must have `f`'s shape and the dtype NumPy
/// returns (float64 for integer input), in native byte order. Returns the floating-point
/// errors the arithmetic raised, as NumPy's bits (1 divide, 2 overflow, 4 underflow, 8
/// invalid): the shim reports them as NumPy would.
#[pyfunction]
#[pyo3(signature = (f, outs, requests, compute, edge_order, workers=None))]
fn gradient_into<'py>(
    f: &Bound<'py, PyUntypedArray>,
    outs: Vec<Bound<'py, PyAny>>,
    requests: Vec<PyRequest<'py>>,
    compute: &str,
    edge_order: u64,
    workers: Option<usize>,
) -> PyResult<u8> {
    let workers = workers.unwrap_or_else(threads::default_workers);
    let edge_order = edge_order_of(edge_order)?;
    if outs.len() != requests.len() {
        let (outputs, requests) = (outs.len(), requests.len());
        return Err(GradientError::CountMismatch { outputs, requests }.into());
    }
    let (o, r) = (&outs[..], &requests[..]);
    dispatch!(f, compute, run(f, o, r, edge_order, workers))
}

/// Registers NumPy's remainder-loop rule for compute type `code` ('d', 'f', 'D' or 'F'):
/// `counts[n]`, the trailing elements of an `n`-element add NumPy computes in its scalar
/// loop, repeating with `period`. False (and no rule) if the counts do not repeat.
#[pyfunction]
fn register_numpy_tails(code: &str, counts: Vec<usize>, period: usize) -> PyResult<bool> {
    let key = match code {
        "d" => 0,
        "f" => 1,
        "D" => 2,
        "F" => 3,
        _ => {
            return Err(PyValueError::new_err(format!(
                "no remainder rule for {code:?}"
            )))
        }
    };
    let rule = tails::TailRule::new(counts, period);
    let registered = rule.is_some();
    tails::register(key, rule);
    Ok(registered)
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

/// Calls `allocate(*args)` with ndgradient's output pool as NumPy's memory handler (for this
/// call only, on this thread) and returns its result: the shim allocates outputs through it.
#[pyfunction]
#[pyo3(signature = (allocate, *args))]
fn with_output_pool<'py>(
    allocate: &Bound<'py, PyAny>,
    args: &Bound<'py, PyTuple>,
) -> PyResult<Bound<'py, PyAny>> {
    memory::with_output_pool(allocate.py(), || allocate.call1(args))
}

/// Returns the output pool's idle blocks to the operating system; the bytes returned.
#[pyfunction]
fn release_memory() -> usize {
    memory::release()
}

/// The output pool's figures: `enabled`, `cap_bytes`, `pooled_bytes`, `blocks`.
#[pyfunction]
fn pool_stats(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let (enabled, cap, pooled, blocks) = memory::stats();
    let stats = PyDict::new(py);
    stats.set_item("enabled", enabled)?;
    stats.set_item("cap_bytes", cap)?;
    stats.set_item("pooled_bytes", pooled)?;
    stats.set_item("blocks", blocks)?;
    Ok(stats)
}

/// The native module. It holds no global state that needs the GIL.
#[pymodule(gil_used = false)]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(gradient_into, m)?)?;
    m.add_function(wrap_pyfunction!(register_numpy_tails, m)?)?;
    m.add_function(wrap_pyfunction!(default_workers, m)?)?;
    m.add_function(wrap_pyfunction!(available_cpus, m)?)?;
    m.add_function(wrap_pyfunction!(build_info, m)?)?;
    m.add_function(wrap_pyfunction!(with_output_pool, m)?)?;
    m.add_function(wrap_pyfunction!(release_memory, m)?)?;
    m.add_function(wrap_pyfunction!(pool_stats, m)?)?;
    memory::prepare(m.py())?;
    m.add("POOL_MIN_BYTES", memory::LARGE_BYTES)?;
    m.add("POOL_HANDLER_NAME", memory::HANDLER_NAME)?;
    common_call::register(m)?;
    Ok(())
}
