//! The native path for the common call of `ndgradient.gradient`: a plain `numpy.ndarray` of a
//! native dtype, C- or Fortran-contiguous, with no spacing, one Python number or one NumPy
//! boolean, integer or float16/32/64 scalar, `axis` None, an int or a tuple of ints,
//! `edge_order` 1 or 2, and no extension argument but `workers=` and `out=` arrays that need
//! no cast or copy ([`given_arrays`]). Its argument checks, the output allocation and the
//! kernel run here, in one call from Python. A NumPy scalar's spacing values and compute
//! dtype are NumPy's promotion, and the worker count is the shim's rule, so they come from the
//! shim's rules (`_rules.numpy_scalar_plan`, which remembers them, and `resolve_workers`).
//!
//! It never raises for a bad argument: whatever it cannot decide with certainty (other types,
//! any argument NumPy would refuse, other layouts) gives None, and the Python shim then takes
//! the call from the start, with NumPy's exceptions in NumPy's order.

use crate::binding::{
    computed, dispatch, edge_order_of, kind, uniform_spacing, unsupported, UniformTuple,
};
use crate::dtypes::{Promotion, Weight};
use crate::element::{Cast, Field, Half, Real};
use crate::error::GradientError;
use crate::fp_status::FpFlags;
use crate::memory;
use crate::request::{self, normalized_axes, Request, Spacing, StencilOptions, UniformSpacing};
use crate::stencil::EdgeOrder;
use crate::threads;
use half::f16;
use num_complex::{Complex32, Complex64};
use numpy::prelude::*;
use numpy::{Element, PyArrayDyn, PyUntypedArray};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};
use pyo3::PyTypeInfo;

/// A common call, read and checked: what is left to choose is the dtype's kernel.
struct CommonCall<'py> {
    /// The differentiated axes, normalized.
    axes: Vec<usize>,
    spacing: CallSpacing,
    edge_order: EdgeOrder,
    /// Whether the outputs are Fortran-ordered (`np.empty_like` keeps the input's order).
    fortran: bool,
    /// The arrays `out=` gives, if any.
    out: Option<GivenOut<'py>>,
    /// The worker threads `workers=` asks for, resolved by the shim's rule, if given.
    workers: Option<usize>,
}

/// `out=` as the native path takes it: one plain array for one axis, a tuple or list of plain
/// arrays, one per axis, or one plain array stacking them along a first axis of their number
/// (their dtype, shape, layout and memory are checked with the data's types, in
/// [`given_arrays`]).
struct GivenOut<'py> {
    /// What the call returns: `out` itself if it is an array, else the arrays.
    object: Bound<'py, PyAny>,
    arrays: Vec<Bound<'py, PyAny>>,
}

impl<'py> GivenOut<'py> {
    /// `out=` for `count` outputs of an `ndim`-dimensional input; None for anything else.
    fn read(object: Bound<'py, PyAny>, count: usize, ndim: usize) -> Option<GivenOut<'py>> {
        let array_type = PyUntypedArray::type_object(object.py());
        let arrays: Vec<_> = if object.get_type().is(&array_type) {
            let array = object.cast::<PyUntypedArray>().ok()?;
            if array.ndim() == ndim + 1 {
                // Stacked: the outputs are its views `out[i]` (the shim's reading).
                if count == 0 || array.shape()[0] != count {
                    return None;
                }
                (0..count)
                    .map(|i| object.get_item(i))
                    .collect::<PyResult<_>>()
                    .ok()?
            } else if count == 1 {
                vec![object.clone()]
            } else {
                return None;
            }
        } else if let Ok(tuple) = object.cast_exact::<PyTuple>() {
            tuple.iter().collect()
        } else if let Ok(list) = object.cast_exact::<PyList>() {
            list.iter().collect()
        } else {
            return None;
        };
        let plain = arrays.iter().all(|a| a.get_type().is(&array_type));
        (plain && arrays.len() == count).then_some(GivenOut { object, arrays })
    }
}

/// The spacing of a common call.
#[derive(Clone, Copy)]
enum CallSpacing {
    /// A Python number (or none: 1.0), as Python converts it to a float; weak under NEP 50,
    /// so computed in the data's dtype.
    PythonNumber(f64),
    /// A NumPy scalar: the compute dtype's code and the spacing values, by NumPy's rules.
    NumPyScalar(&'static str, UniformSpacing),
}

/// Whether `value` is a Python int (not a subclass, not a bool) equal to `expected`.
fn is_int(value: &Bound<'_, PyAny>, expected: i64) -> bool {
    value.is_exact_instance_of::<PyInt>() && value.extract::<i64>().ok() == Some(expected)
}

/// A Python int, float or bool spacing (exact types, weak under NEP 50) as Python's `2. * dx`
/// converts it; None for anything else, or an int beyond float64 (Python's OverflowError).
fn python_number(dx: &Bound<'_, PyAny>) -> Option<f64> {
    let number = dx.is_exact_instance_of::<PyFloat>()
        || dx.is_exact_instance_of::<PyInt>()
        || dx.is_exact_instance_of::<PyBool>();
    number.then(|| dx.extract::<f64>().ok()).flatten()
}

/// The axes `axis` names (None, an int or a tuple of ints), normalized; None where NumPy
/// raises or the object is of another type.
fn axes_of(axis: &Bound<'_, PyAny>, ndim: usize) -> Option<Vec<usize>> {
    if axis.is_none() {
        return Some((0..ndim).collect());
    }
    let int = |a: &Bound<'_, PyAny>| {
        a.is_exact_instance_of::<PyInt>()
            .then(|| a.extract::<i64>().ok())
            .flatten()
    };
    if let Ok(axes) = axis.cast_exact::<PyTuple>() {
        let axes = axes.iter().map(|a| int(&a)).collect::<Option<Vec<_>>>()?;
        return normalized_axes(&axes, ndim);
    }
    normalized_axes(&[int(axis)?], ndim)
}

/// The keyword arguments of `gradient` and their defaults, which the common call keeps
/// but for `axis`, `edge_order`, `workers` and `out`.
struct Keywords<'py> {
    axis: Option<Bound<'py, PyAny>>,
    edge_order: Option<Bound<'py, PyAny>>,
    out: Option<Bound<'py, PyAny>>,
    workers: Option<Bound<'py, PyAny>>,
    defaults_kept: bool,
}

impl<'py> Keywords<'py> {
    /// None for a keyword `gradient` does not take (or `f` given by name): the
    /// implementation then raises Python's TypeError, or binds it.
    fn read(kwargs: Option<&Bound<'py, PyDict>>) -> Option<Keywords<'py>> {
        let mut keywords = Keywords {
            axis: None,
            edge_order: None,
            out: None,
            workers: None,
            defaults_kept: true,
        };
        for (name, value) in kwargs.into_iter().flatten() {
            let name = name.cast_exact::<PyString>().ok()?;
            let kept = match name.to_str().ok()? {
                "axis" => {
                    keywords.axis = Some(value);
                    true
                }
                "edge_order" => {
                    keywords.edge_order = Some(value);
                    true
                }
                "out" => {
                    if !value.is_none() {
                        keywords.out = Some(value);
                    }
                    true
                }
                "workers" => {
                    if !value.is_none() {
                        keywords.workers = Some(value);
                    }
                    true
                }
                "period" => value.is_none(),
                "periodic" => value.is(PyBool::new(value.py(), false)),
                "accuracy" => is_int(&value, 2),
                _ => return None,
            };
            keywords.defaults_kept &= kept;
        }
        Some(keywords)
    }
}

/// Reads `gradient(*args, **kwargs)`; None unless it is a common call that NumPy computes
/// without raising.
fn read<'py>(
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> Option<(Bound<'py, PyUntypedArray>, CommonCall<'py>)> {
    let keywords = Keywords::read(kwargs)?;
    let f = args.get_borrowed_item(0).ok()?;
    let py = f.py();
    if !keywords.defaults_kept || !f.get_type().is(PyUntypedArray::type_object(py)) {
        return None;
    }
    let f = f.cast::<PyUntypedArray>().ok()?.to_owned();
    let fortran = if f.is_c_contiguous() {
        false
    } else if f.is_fortran_contiguous() {
        true
    } else {
        return None;
    };
    let edge_order = match keywords.edge_order {
        None => EdgeOrder::First,
        Some(value) if value.is_exact_instance_of::<PyInt>() => {
            edge_order_of(value.extract::<u64>().ok()?).ok()?
        }
        Some(_) => return None,
    };
    let spacing = match args.len() {
        1 => CallSpacing::PythonNumber(1.0),
        2 => {
            let dx = args.get_borrowed_item(1).ok()?.to_owned();
            match python_number(&dx) {
                Some(dx) => CallSpacing::PythonNumber(dx),
                None => numpy_scalar(&dx, &f, edge_order)?,
            }
        }
        _ => return None,
    };
    let shape = f.shape();
    let axes = match keywords.axis {
        None => (0..shape.len()).collect(),
        Some(axis) => axes_of(&axis, shape.len())?,
    };
    if axes.iter().any(|&a| shape[a] < edge_order.min_points()) {
        return None; // NumPy's ValueError for a too short axis
    }
    if edge_order == EdgeOrder::Second && matches!(spacing, CallSpacing::PythonNumber(0.0)) {
        return None; // Python's ZeroDivisionError in NumPy's `-1.5 / dx`
    }
    let out = match keywords.out {
        None => None,
        Some(object) => Some(GivenOut::read(object, axes.len(), shape.len())?),
    };
    let workers = match keywords.workers {
        None => None,
        Some(workers) => Some(resolved_workers(&workers)?),
    };
    let call = CommonCall {
        axes,
        spacing,
        edge_order,
        fortran,
        out,
        workers,
    };
    Some((f, call))
}

/// A `workers=` value (not None) as the shim's rule (`_rules.resolve_workers`) resolves it;
/// None where that rule raises (the shim then raises it in its order) or returns nothing.
fn resolved_workers(workers: &Bound<'_, PyAny>) -> Option<usize> {
    static RESOLVE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let resolve = RESOLVE
        .import(workers.py(), "ndgradient._rules", "resolve_workers")
        .ok()?;
    resolve.call1((workers,)).ok()?.extract::<usize>().ok()
}

/// The code of the dtype NumPy differences `f` in (float64 for integers, otherwise `f`'s
/// own), if the core computes it.
fn data_code(f: &Bound<'_, PyUntypedArray>) -> Option<&'static str> {
    match kind(f) {
        (b'f', 8) | (b'i' | b'u', 1 | 2 | 4 | 8) => Some("d"),
        (b'f', 4) => Some("f"),
        (b'f', 2) => Some("e"),
        (b'c', 16) => Some("D"),
        (b'c', 8) => Some("F"),
        _ => None,
    }
}

/// A NumPy scalar spacing `dx` of `f`, as the shim's rules plan it; None for anything else
/// (or a Python error: the shim then raises it).
fn numpy_scalar<'py>(
    dx: &Bound<'py, PyAny>,
    f: &Bound<'py, PyUntypedArray>,
    edge_order: EdgeOrder,
) -> Option<CallSpacing> {
    let py = dx.py();
    static GENERIC: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    static PLAN: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let generic = GENERIC.import(py, "numpy", "generic").ok()?;
    if !dx.is_instance(generic).ok()? {
        return None;
    }
    let plan = PLAN
        .import(py, "ndgradient._rules", "numpy_scalar_plan")
        .ok()?;
    let order = edge_order.min_points() - 1;
    let plan = plan.call1((dx, data_code(f)?, order)).ok()?;
    let (code, spacing): (String, UniformTuple) = plan.extract().ok()?;
    let code = ["d", "f", "e", "D", "F"].into_iter().find(|&c| c == code)?;
    Some(CallSpacing::NumPyScalar(code, uniform_spacing(spacing)))
}

/// The common call's result for stored type `S`, data type `A` and compute type `T`; None if
/// `f`'s dtype is not `S`'s exactly (byte order included).
fn compute<'py, S, A, T>(
    f: &Bound<'py, PyUntypedArray>,
    call: CommonCall<'py>,
) -> PyResult<Option<Bound<'py, PyAny>>>
where
    S: Element + Cast<A> + Send + Sync + 'static,
    A: Element + Field + Cast<T>,
    T: Field + Cast<A>,
{
    let Ok(f) = f.cast::<PyArrayDyn<S>>() else {
        return Ok(None);
    };
    let Ok(input) = f.try_readonly() else {
        return Ok(None);
    };
    let py = f.py();
    let outs = match &call.out {
        None => outputs::<A>(py, input.shape(), call.fortran, call.axes.len())?,
        Some(given) => match given_arrays(f, given) {
            Some(arrays) => arrays,
            None => return Ok(None),
        },
    };
    if input.len() > 0 {
        let spacing = Spacing::Uniform(match call.spacing {
            CallSpacing::PythonNumber(dx) => {
                UniformSpacing::of_python_number::<Weight<Promotion<S, A, T>>>(dx, call.edge_order)
            }
            CallSpacing::NumPyScalar(_, spacing) => spacing,
        });
        // A given array that is read-only (or borrowed elsewhere) is the shim's to refuse.
        let Ok(mut borrows) = outs
            .iter()
            .map(|out| out.try_readwrite())
            .collect::<Result<Vec<_>, _>>()
        else {
            return Ok(None);
        };
        let requests = call
            .axes
            .iter()
            .zip(borrows.iter_mut())
            .map(|(&axis, out)| Request {
                axis,
                spacing,
                options: StencilOptions::default(),
                out: out.as_array_mut(),
            })
            .collect();
        let view = input.as_array();
        let workers = call.workers.unwrap_or_else(threads::default_workers);
        let raised = computed(py, view.len(), |checkpoint| {
            request::gradient::<Promotion<S, A, T>>(
                view,
                requests,
                call.edge_order,
                workers,
                checkpoint,
            )
        })?;
        if raised != FpFlags::NONE && acted_on(py, raised)? {
            // NumPy would warn, raise or call a handler, as `np.geterr()` says: the shim
            // takes the call, and reports as NumPy does.
            return Ok(None);
        }
    }
    if let Some(given) = call.out {
        if given.object.is_instance_of::<PyUntypedArray>() {
            return Ok(Some(given.object));
        }
    }
    let result = match <[_; 1]>::try_from(outs) {
        Ok([out]) => out.into_any(),
        Err(outs) => PyTuple::new(py, outs)?.into_any(),
    };
    Ok(Some(result))
}

/// The arrays of `out=` as outputs of data type `A` for the input `f`, if the shim would
/// take them as they are: `A`'s dtype exactly (native byte order), `f`'s shape, C- or
/// Fortran-contiguous (so no element overlaps another), aligned, and sharing no memory with
/// `f` or each other. None for anything else: the shim then decides (casts, copies, errors).
fn given_arrays<'py, S: Element, A: Element>(
    f: &Bound<'py, PyArrayDyn<S>>,
    given: &GivenOut<'py>,
) -> Option<Vec<Bound<'py, PyArrayDyn<A>>>> {
    let bytes = |start: usize, len: usize| start..start + len;
    let mut taken = vec![bytes(f.data() as usize, f.len() * std::mem::size_of::<S>())];
    let mut arrays = Vec::with_capacity(given.arrays.len());
    for array in &given.arrays {
        let array = array.cast::<PyArrayDyn<A>>().ok()?;
        let start = array.data() as usize;
        let contiguous = array.is_c_contiguous() || array.is_fortran_contiguous();
        let aligned = start % std::mem::align_of::<A>() == 0;
        if array.shape() != f.shape() || !contiguous || !aligned {
            return None;
        }
        let span = bytes(start, array.len() * std::mem::size_of::<A>());
        let overlaps = |other: &std::ops::Range<usize>| {
            !other.is_empty() && other.start < span.end && span.start < other.end
        };
        if !span.is_empty() && taken.iter().any(overlaps) {
            return None;
        }
        taken.push(span);
        arrays.push(array.clone());
    }
    Some(arrays)
}

/// Whether `np.geterr()` acts on any of the errors `raised` (the shim's rule, asked only
/// when one was raised).
fn acted_on(py: Python<'_>, raised: FpFlags) -> PyResult<bool> {
    static ACTED_ON: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let acted_on = ACTED_ON.import(py, "ndgradient._fperrors", "acted_on")?;
    acted_on.call1((raised.bits(),))?.is_truthy()
}

/// `count` outputs of `shape`, C- or Fortran-ordered as `np.empty_like` makes them: large
/// ones by `numpy.empty` under the output pool's memory handler (so that a loop reuses their
/// pages, and no pooled block is zeroed first), small ones zeroed by rust-numpy.
fn outputs<'py, A: Element>(
    py: Python<'py>,
    shape: &[usize],
    fortran: bool,
    count: usize,
) -> PyResult<Vec<Bound<'py, PyArrayDyn<A>>>> {
    let bytes = shape.iter().product::<usize>() * std::mem::size_of::<A>();
    if bytes < memory::LARGE_BYTES {
        return Ok((0..count)
            .map(|_| PyArrayDyn::<A>::zeros(py, shape, fortran))
            .collect());
    }
    static EMPTY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let empty = EMPTY.import(py, "numpy", "empty")?;
    let dtype = A::get_dtype(py);
    let order = if fortran { "F" } else { "C" };
    memory::with_output_pool(py, || {
        (0..count)
            .map(|_| {
                let out = empty.call1((shape.to_vec(), &dtype, order))?;
                Ok(out.cast_into::<PyArrayDyn<A>>()?)
            })
            .collect()
    })
}

/// `ndgradient.gradient(*args, **kwargs)`: the common call (see the module documentation)
/// computed here, any other call handed to `implementation`, the Python shim.
#[pyfunction]
#[pyo3(signature = (implementation, /, *args, **kwargs))]
fn gradient<'py>(
    implementation: &Bound<'py, PyAny>,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    match common_gradient(args, kwargs)? {
        Some(result) => Ok(result),
        None => implementation.call(args, kwargs),
    }
}

/// The common call's result, or None for any other call.
fn common_gradient<'py>(
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let Some((f, call)) = read(args, kwargs) else {
        return Ok(None);
    };
    // A Python number computes in the data's dtype, a NumPy scalar as NumPy promotes it.
    let code = match call.spacing {
        CallSpacing::PythonNumber(_) => data_code(&f),
        CallSpacing::NumPyScalar(code, _) => Some(code),
    };
    let Some(code) = code else {
        return Ok(None);
    };
    dispatch!(&f, code, compute(&f, call))
}

/// `(2. * dx, dx, second-order edge weights or None, errors raised)` for a Python-number
/// spacing `dx` (converted to float as Python converts it), each rounded to the compute dtype
/// `code`: the request's spacing `gradient_into` takes. `dx` must not be zero for
/// `edge_order` 2.
#[pyfunction]
fn python_number_spacing(dx: f64, code: &str, edge_order: u64) -> PyResult<UniformTuple> {
    fn tuple<R: Real>(dx: f64, edge_order: EdgeOrder) -> UniformTuple {
        let spacing = UniformSpacing::of_python_number::<R>(dx, edge_order);
        let edges = spacing
            .second_order_edges
            .map(|[first, last]| (first, last));
        (spacing.twice_dx, spacing.dx, edges, spacing.raised.bits())
    }
    let edge_order = edge_order_of(edge_order)?;
    match code {
        "d" | "D" => Ok(tuple::<f64>(dx, edge_order)),
        "f" | "F" => Ok(tuple::<f32>(dx, edge_order)),
        "e" => Ok(tuple::<Half>(dx, edge_order)),
        _ => Err(GradientError::UnsupportedDtype {
            what: format!("compute dtype {code:?}"),
        }
        .into()),
    }
}

/// Adds this module's functions to `ndgradient._core`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(gradient, m)?)?;
    m.add_function(wrap_pyfunction!(python_number_spacing, m)?)?;
    Ok(())
}
