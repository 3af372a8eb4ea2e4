//! ndgradient: a bit-exact, parallel `numpy.gradient`.
//!
//! The crate is a pure numerical core over ndarray views of any strides, in layers:
//!
//! * [`element`]: NumPy's per-element arithmetic in each type; [`dtypes`]: the stored, data
//!   and compute types of one computation, bundled;
//! * [`stencil`]: what a derivative along an axis is made of (pieces of points, taps,
//!   weights, formulas) and NumPy's stencil; [`extended`]: the periodic and higher-accuracy
//!   stencils, as other constructors of the same type;
//! * [`evaluate`]: a stencil's arithmetic over a run of points; [`stream`]: how its results
//!   reach memory (streaming stores for large outputs); [`walk`]: the one traversal of
//!   memory that computes every requested axis in one pass; [`wide`]: loops compiled again
//!   for wider vectors, used where the processor has them;
//! * [`fp_status`]: the floating-point errors the arithmetic raised, read from the processor;
//! * [`threads`]: where work runs, decided once per call; [`request`]: the entry point
//!   (requests to stencils, parts with a checkpoint between them); [`error`]: every refusal;
//! * [`reference`](mod@reference): the per-element form the walk is tested against;
//! * [`tails`]: NumPy's remainder loops, where its NaN rule changes;
//! * [`pool`]: the bookkeeping of the output pool (idle blocks by length, within a cap).
//!
//! Behind the `python` feature, the thin PyO3 binding that Python sees as `ndgradient._core`
//! only extracts arguments, releases the GIL, calls [`request::gradient`] and maps errors, and
//! its `memory` module is the NumPy memory handler that serves outputs from the pool. The core
//! has no PyO3 types, and `unsafe_code` is denied crate-wide in `Cargo.toml`: it is allowed in
//! `memory`, the FFI with NumPy's allocator, in [`fp_status`], the two instructions that
//! read and write the floating-point status register, in [`stream`], the streaming-store
//! copy of a cache line and its fence, and in [`wide`], the call of code compiled for AVX2
//! after the check that the processor has it.

pub mod dtypes;
pub mod element;
pub mod error;
pub mod evaluate;
pub mod extended;
pub mod fp_status;
pub mod pool;
pub mod reference;
pub mod request;
pub mod stencil;
pub mod stream;
pub mod tails;
pub mod threads;
pub mod walk;
pub mod wide;

#[cfg(feature = "python")]
mod binding;
#[cfg(feature = "python")]
mod common_call;
#[cfg(feature = "python")]
mod memory;

pub use dtypes::{Dtypes, Promotion, Weight};
pub use error::GradientError;
pub use request::{gradient, Coordinates, Request, Spacing, StencilOptions, UniformSpacing};
pub use stencil::{EdgeOrder, Stencil, Steps};
