//! ndgradient: a bit-exact, parallel `numpy.gradient`.
//!
//! The crate is a pure numerical core ([`element`], [`stencil`], [`kernel`]) over ndarray views
//! of any strides, plus, behind the `python` feature, the thin PyO3 binding that Python sees as
//! `ndgradient._core`. The core has no PyO3 types and no `unsafe` code (forbidden crate-wide in
//! `Cargo.toml`).

pub mod element;
pub mod fused;
pub mod kernel;
pub mod stencil;
pub mod threads;
pub mod wide;

#[cfg(feature = "python")]
mod python;

pub use kernel::{gradient_axis, GradientError};
pub use stencil::{AxisStencil, EdgeOrder, Interior, Steps};
