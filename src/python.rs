//! The private extension module `ndgradient._core`: dtype dispatch, borrows, GIL release and
//! error mapping around the pure core. Argument rules and NumPy's promotion live in the Python
//! shim, which calls [`gradient_into`] with outputs it has allocated.

use crate::element::{Cast, Field, Real};
use crate::kernel::{gradient_axis, GradientError};
use crate::stencil::{AxisStencil, EdgeOrder};
use half::f16;
use num_complex::{Complex32, Complex64};
use numpy::ndarray::ArrayView1;
use numpy::prelude::*;
use numpy::{Element, PyArray1, PyArrayDyn, PyUntypedArray};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

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

/// The stencil of one axis from the shim's spacing argument: either a tuple
/// `(2. * dx, dx, (-1.5/dx, 2./dx, -0.5/dx), (0.5/dx, -2./dx, 1.5/dx))` computed by NumPy and
/// already rounded to the compute type (so exact in `f64`), or a 1-D coordinate array whose
/// uniformity and weights are decided here, in its own type.
fn axis_stencil<R: Real>(spacing: &Bound<'_, PyAny>) -> PyResult<AxisStencil<R>>
where
    f64: Cast<R>,
    f32: Cast<R>,
    f16: Cast<R>,
{
    if spacing.is_instance_of::<PyTuple>() {
        let (twice_dx, dx, first, last): (f64, f64, [f64; 3], [f64; 3]) = spacing.extract()?;
        return Ok(AxisStencil::uniform(
            R::from_f64(twice_dx),
            R::from_f64(dx),
            first.map(R::from_f64),
            last.map(R::from_f64),
        ));
    }
    let x = spacing.cast::<PyUntypedArray>()?;
    match Dtype::of(x)? {
        Dtype::F64 => float_coordinates::<f64, R>(x),
        Dtype::F32 => float_coordinates::<f32, R>(x),
        Dtype::F16 => float_coordinates::<f16, R>(x),
        Dtype::I64 => integer_coordinates::<i64, R>(x),
        Dtype::I32 => integer_coordinates::<i32, R>(x),
        Dtype::I16 => integer_coordinates::<i16, R>(x),
        Dtype::I8 => integer_coordinates::<i8, R>(x),
        Dtype::U64 => integer_coordinates::<u64, R>(x),
        Dtype::U32 => integer_coordinates::<u32, R>(x),
        Dtype::U16 => integer_coordinates::<u16, R>(x),
        Dtype::U8 => integer_coordinates::<u8, R>(x),
        Dtype::C128 | Dtype::C64 => Err(PyTypeError::new_err("complex coordinates")),
    }
}

fn float_coordinates<X, R>(x: &Bound<'_, PyUntypedArray>) -> PyResult<AxisStencil<R>>
where
    X: Real + Element + Cast<R>,
    R: Real,
{
    if std::mem::size_of::<X>() > std::mem::size_of::<R>() {
        return Err(PyTypeError::new_err(
            "coordinates are wider than the compute type",
        ));
    }
    let x = x.cast::<PyArray1<X>>()?.try_readonly()?;
    check_coordinate_count(x.len())?;
    Ok(AxisStencil::from_coordinates(x.as_array()))
}

fn integer_coordinates<I, R>(x: &Bound<'_, PyUntypedArray>) -> PyResult<AxisStencil<R>>
where
    I: Element + Cast<f64>,
    R: Real,
    f64: Cast<R>,
{
    // NumPy converts integer coordinates to float64 before differencing.
    let x = x.cast::<PyArray1<I>>()?.try_readonly()?;
    check_coordinate_count(x.len())?;
    float_coordinates_of(x.as_array().mapv(Cast::cast).view())
}

fn float_coordinates_of<R: Real>(x: ArrayView1<'_, f64>) -> PyResult<AxisStencil<R>>
where
    f64: Cast<R>,
{
    if std::mem::size_of::<R>() < 8 {
        return Err(PyTypeError::new_err(
            "coordinates are wider than the compute type",
        ));
    }
    Ok(AxisStencil::from_coordinates(x))
}

fn check_coordinate_count(len: usize) -> PyResult<()> {
    if len < 2 {
        return Err(PyValueError::new_err(
            "coordinates need at least two points",
        ));
    }
    Ok(())
}

/// Computes every requested axis of `f` into its output: the one generic path behind every
/// dtype combination.
fn run<'py, S, A, T>(
    f: &Bound<'py, PyUntypedArray>,
    outs: &[Bound<'py, PyAny>],
    axes: &[usize],
    spacings: &[Bound<'py, PyAny>],
    edge_order: EdgeOrder,
) -> PyResult<()>
where
    S: Element + Cast<A> + Send + Sync,
    A: Element + Field + Cast<T>,
    T: Field + Cast<A>,
    f64: Cast<T::Real>,
    f32: Cast<T::Real>,
    f16: Cast<T::Real>,
{
    if outs.len() != axes.len() || spacings.len() != axes.len() {
        return Err(PyValueError::new_err(
            "outs, axes and spacings must have one entry per axis",
        ));
    }
    let stencils = spacings
        .iter()
        .map(axis_stencil::<T::Real>)
        .collect::<PyResult<Vec<_>>>()?;
    let f = f.cast::<PyArrayDyn<S>>()?.try_readonly()?;
    let mut borrows = Vec::with_capacity(outs.len());
    for out in outs {
        borrows.push(out.cast::<PyArrayDyn<A>>()?.try_readwrite()?);
    }
    let input = f.as_array();
    let mut views: Vec<_> = borrows.iter_mut().map(|b| b.as_array_mut()).collect();
    // The borrows above keep the arrays alive and unaliased while the GIL is released.
    f.py().detach(move || {
        views
            .iter_mut()
            .zip(axes)
            .zip(&stencils)
            .try_for_each(|((out, &axis), stencil)| {
                gradient_axis::<S, A, T>(input.view(), out.view_mut(), axis, stencil, edge_order)
            })
    })?;
    Ok(())
}

/// Writes the gradient of `f` along each of `axes` into the matching array of `outs`.
///
/// `compute` is the dtype character code NumPy promotes to for every listed axis ("e", "f",
/// "d", "F" or "D"); `edge_order` is 1 or 2. Outputs must have `f`'s shape and the dtype NumPy
/// returns (float64 for integer input), in native byte order.
#[pyfunction]
#[pyo3(signature = (f, outs, axes, spacings, compute, edge_order))]
fn gradient_into<'py>(
    f: &Bound<'py, PyUntypedArray>,
    outs: Vec<Bound<'py, PyAny>>,
    axes: Vec<usize>,
    spacings: Vec<Bound<'py, PyAny>>,
    compute: &str,
    edge_order: u8,
) -> PyResult<()> {
    let edge_order = match edge_order {
        1 => EdgeOrder::First,
        2 => EdgeOrder::Second,
        _ => return Err(PyValueError::new_err("edge_order must be 1 or 2")),
    };
    let (o, a, s) = (&outs[..], &axes[..], &spacings[..]);
    macro_rules! dispatch {
        ($($input:ident ($input_ty:ty) => $data:ty : [$($code:literal => $compute:ty),*]),* $(,)?) => {
            match (Dtype::of(f)?, compute) {
                $($( (Dtype::$input, $code) => run::<$input_ty, $data, $compute>(f, o, a, s, edge_order), )*)*
                _ => Err(PyTypeError::new_err(format!(
                    "no native kernel for this input dtype with compute dtype {compute:?}"
                ))),
            }
        };
    }
    dispatch!(
        F64(f64) => f64: ["d" => f64],
        F32(f32) => f32: ["f" => f32, "d" => f64],
        F16(f16) => f16: ["e" => f16, "f" => f32, "d" => f64],
        C128(Complex64) => Complex64: ["D" => Complex64],
        C64(Complex32) => Complex32: ["F" => Complex32, "D" => Complex64],
        I64(i64) => f64: ["d" => f64],
        I32(i32) => f64: ["d" => f64],
        I16(i16) => f64: ["d" => f64],
        I8(i8) => f64: ["d" => f64],
        U64(u64) => f64: ["d" => f64],
        U32(u32) => f64: ["d" => f64],
        U16(u16) => f64: ["d" => f64],
        U8(u8) => f64: ["d" => f64],
    )
}

/// The native module. It holds no global state that needs the GIL.
#[pymodule(gil_used = false)]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(gradient_into, m)?)?;
    Ok(())
}
