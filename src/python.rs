//! The private extension module `ndgradient._core`: dtype dispatch, borrows, GIL release and
//! error mapping around the pure core. Argument rules and NumPy's promotion live in the Python
//! shim, which calls [`gradient_into`] with outputs it has allocated.

use crate::element::{Cast, Field, Real};
use crate::kernel::{gradient_axis, GradientError};
use crate::stencil::{AxisStencil, EdgeOrder};
use half::f16;
use num_complex::{Complex32, Complex64};
use numpy::ndarray::Array1;
use numpy::prelude::*;
use numpy::{Element, PyArrayDyn, PyReadonlyArray1, PyReadonlyArrayDyn};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

impl From<GradientError> for PyErr {
    fn from(err: GradientError) -> PyErr {
        PyValueError::new_err(err.to_string())
    }
}

/// The input array, in every dtype the core computes natively.
#[derive(FromPyObject)]
enum InputArray<'py> {
    F64(PyReadonlyArrayDyn<'py, f64>),
    F32(PyReadonlyArrayDyn<'py, f32>),
    F16(PyReadonlyArrayDyn<'py, f16>),
    C128(PyReadonlyArrayDyn<'py, Complex64>),
    C64(PyReadonlyArrayDyn<'py, Complex32>),
    I64(PyReadonlyArrayDyn<'py, i64>),
    I32(PyReadonlyArrayDyn<'py, i32>),
    I16(PyReadonlyArrayDyn<'py, i16>),
    I8(PyReadonlyArrayDyn<'py, i8>),
    U64(PyReadonlyArrayDyn<'py, u64>),
    U32(PyReadonlyArrayDyn<'py, u32>),
    U16(PyReadonlyArrayDyn<'py, u16>),
    U8(PyReadonlyArrayDyn<'py, u8>),
}

/// Coordinates along one axis. Integer coordinates are converted to float64, as NumPy does.
#[derive(FromPyObject)]
enum CoordinateArray<'py> {
    F64(PyReadonlyArray1<'py, f64>),
    F32(PyReadonlyArray1<'py, f32>),
    F16(PyReadonlyArray1<'py, f16>),
    I64(PyReadonlyArray1<'py, i64>),
    I32(PyReadonlyArray1<'py, i32>),
    I16(PyReadonlyArray1<'py, i16>),
    I8(PyReadonlyArray1<'py, i8>),
    U64(PyReadonlyArray1<'py, u64>),
    U32(PyReadonlyArray1<'py, u32>),
    U16(PyReadonlyArray1<'py, u16>),
    U8(PyReadonlyArray1<'py, u8>),
}

/// The spacing of one axis as the shim hands it over.
#[derive(FromPyObject)]
enum SpacingArg<'py> {
    /// A coordinate array: uniformity and weights are decided here, in its own type.
    Coordinates(CoordinateArray<'py>),
    /// A scalar spacing: `(2. * dx, dx, (-1.5/dx, 2./dx, -0.5/dx), (0.5/dx, -2./dx, 1.5/dx))`,
    /// each computed by NumPy and already rounded to the compute type (so exact in `f64`).
    Uniform(f64, f64, (f64, f64, f64), (f64, f64, f64)),
}

impl SpacingArg<'_> {
    fn stencil<R: Real>(&self) -> PyResult<AxisStencil<R>>
    where
        f64: Cast<R>,
        f32: Cast<R>,
        f16: Cast<R>,
    {
        fn weights<R: Real>((a, b, c): (f64, f64, f64)) -> [R; 3] {
            [a, b, c].map(R::from_f64)
        }
        match self {
            SpacingArg::Uniform(twice_dx, dx, first, last) => Ok(AxisStencil::uniform(
                R::from_f64(*twice_dx),
                R::from_f64(*dx),
                weights(*first),
                weights(*last),
            )),
            SpacingArg::Coordinates(coordinates) => coordinates.stencil(),
        }
    }
}

impl CoordinateArray<'_> {
    fn stencil<R: Real>(&self) -> PyResult<AxisStencil<R>>
    where
        f64: Cast<R>,
        f32: Cast<R>,
        f16: Cast<R>,
    {
        fn from_ints<R: Real, I: Element + Cast<f64>>(x: &PyReadonlyArray1<'_, I>) -> AxisStencil<R>
        where
            f64: Cast<R>,
        {
            let x: Array1<f64> = x.as_array().mapv(Cast::cast);
            AxisStencil::from_coordinates(x.view())
        }
        let width = |bytes: usize| {
            if bytes > std::mem::size_of::<R>() {
                Err(PyTypeError::new_err(
                    "coordinates are wider than the compute type",
                ))
            } else {
                Ok(())
            }
        };
        let check_len = |len: usize| {
            if len < 2 {
                Err(PyValueError::new_err(
                    "coordinates need at least two points",
                ))
            } else {
                Ok(())
            }
        };
        match self {
            CoordinateArray::F64(x) => {
                width(8)?;
                check_len(x.len())?;
                Ok(AxisStencil::from_coordinates(x.as_array()))
            }
            CoordinateArray::F32(x) => {
                width(4)?;
                check_len(x.len())?;
                Ok(AxisStencil::from_coordinates(x.as_array()))
            }
            CoordinateArray::F16(x) => {
                check_len(x.len())?;
                Ok(AxisStencil::from_coordinates(x.as_array()))
            }
            other => {
                width(8)?;
                check_len(other.len())?;
                Ok(match other {
                    CoordinateArray::I64(x) => from_ints(x),
                    CoordinateArray::I32(x) => from_ints(x),
                    CoordinateArray::I16(x) => from_ints(x),
                    CoordinateArray::I8(x) => from_ints(x),
                    CoordinateArray::U64(x) => from_ints(x),
                    CoordinateArray::U32(x) => from_ints(x),
                    CoordinateArray::U16(x) => from_ints(x),
                    CoordinateArray::U8(x) => from_ints(x),
                    _ => unreachable!("float coordinates are handled above"),
                })
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            CoordinateArray::F64(x) => x.len(),
            CoordinateArray::F32(x) => x.len(),
            CoordinateArray::F16(x) => x.len(),
            CoordinateArray::I64(x) => x.len(),
            CoordinateArray::I32(x) => x.len(),
            CoordinateArray::I16(x) => x.len(),
            CoordinateArray::I8(x) => x.len(),
            CoordinateArray::U64(x) => x.len(),
            CoordinateArray::U32(x) => x.len(),
            CoordinateArray::U16(x) => x.len(),
            CoordinateArray::U8(x) => x.len(),
        }
    }
}

/// Computes every requested axis of `f` into its output: the one generic path behind every
/// dtype combination.
fn run<'py, S, A, T>(
    f: &PyReadonlyArrayDyn<'py, S>,
    outs: &[Bound<'py, PyAny>],
    axes: &[usize],
    spacings: &[SpacingArg<'py>],
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
        .map(SpacingArg::stencil::<T::Real>)
        .collect::<PyResult<Vec<_>>>()?;
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
    f: InputArray<'py>,
    outs: Vec<Bound<'py, PyAny>>,
    axes: Vec<usize>,
    spacings: Vec<SpacingArg<'py>>,
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
        ($($input:ident => $data:ty : [$($code:literal => $compute:ty),*]),* $(,)?) => {
            match (&f, compute) {
                $($( (InputArray::$input(x), $code) => run::<_, $data, $compute>(x, o, a, s, edge_order), )*)*
                _ => Err(PyTypeError::new_err(format!(
                    "no native kernel for this input dtype with compute dtype {compute:?}"
                ))),
            }
        };
    }
    dispatch!(
        F64 => f64: ["d" => f64],
        F32 => f32: ["f" => f32, "d" => f64],
        F16 => f16: ["e" => f16, "f" => f32, "d" => f64],
        C128 => Complex64: ["D" => Complex64],
        C64 => Complex32: ["F" => Complex32, "D" => Complex64],
        I64 => f64: ["d" => f64],
        I32 => f64: ["d" => f64],
        I16 => f64: ["d" => f64],
        I8 => f64: ["d" => f64],
        U64 => f64: ["d" => f64],
        U32 => f64: ["d" => f64],
        U16 => f64: ["d" => f64],
        U8 => f64: ["d" => f64],
    )
}

/// The native module. It holds no global state that needs the GIL.
#[pymodule(gil_used = false)]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(gradient_into, m)?)?;
    Ok(())
}
