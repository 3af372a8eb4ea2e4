//! Every way the core can refuse a request, in one enum. The binding maps each variant to the
//! exception NumPy raises for the same mistake, in one exhaustive `match`.

use std::fmt;

/// Why the core refused a request. The Python shim checks NumPy's rules first, so most of
/// these guard the core's own contract; the extension checks (accuracy, period) are the
/// core's alone.
#[derive(Clone, Debug, PartialEq)]
pub enum GradientError {
    /// The axis index is not below the number of dimensions.
    AxisOutOfRange { axis: usize, ndim: usize },
    /// The axis has fewer points than the edge order needs.
    AxisTooShort { length: usize, needed: usize },
    /// An output's shape differs from the input's.
    ShapeMismatch,
    /// A stencil was made for an axis of another length.
    StencilMismatch { stencil: usize, length: usize },
    /// A coordinate array's length differs from its axis's.
    CoordinatesMismatch { coordinates: usize, length: usize },
    /// Fewer than two coordinates along an axis.
    TooFewCoordinates,
    /// Coordinates of a wider type than the compute type (NumPy would have promoted).
    CoordinatesTooWide,
    /// Second-order edges asked for a scalar spacing given without their weights.
    MissingEdgeWeights,
    /// An accuracy other than 2, 4, 6 or 8.
    BadAccuracy { accuracy: usize },
    /// The axis has fewer points than a stencil of this accuracy spans.
    AxisTooShortForStencil { length: usize, accuracy: usize },
    /// A period that does not reach past the coordinates in their direction.
    BadPeriod { period: f64, extent: f64 },
    /// A periodic coordinate axis without its period, or a period for another axis.
    MissingPeriod,
    /// An edge order other than 1 or 2.
    BadEdgeOrder { edge_order: u64 },
    /// Input or output element types the core has no kernel for.
    UnsupportedDtype { what: String },
    /// The outputs and the requests do not pair up.
    CountMismatch { outputs: usize, requests: usize },
    /// The thread pool could not be built.
    ThreadPool { reason: String },
    /// The caller's checkpoint asked to stop between two parts (a pending signal).
    Interrupted,
}

impl fmt::Display for GradientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GradientError::AxisOutOfRange { axis, ndim } => {
                write!(
                    f,
                    "axis {axis} is out of bounds for array of dimension {ndim}"
                )
            }
            GradientError::AxisTooShort { .. } => f.write_str(
                "Shape of array too small to calculate a numerical gradient, \
                 at least (edge_order + 1) elements are required.",
            ),
            GradientError::ShapeMismatch => f.write_str("output shape does not match the input"),
            GradientError::StencilMismatch { stencil, length } => write!(
                f,
                "a stencil for {stencil} points cannot differentiate an axis of {length}"
            ),
            GradientError::CoordinatesMismatch {
                coordinates,
                length,
            } => write!(
                f,
                "when 1d, distances must match the length of the corresponding dimension \
                 ({coordinates} coordinates for an axis of {length})"
            ),
            GradientError::TooFewCoordinates => {
                f.write_str("index 0 is out of bounds for axis 0 with size 0")
            }
            GradientError::CoordinatesTooWide => {
                f.write_str("coordinates are wider than the compute type")
            }
            GradientError::MissingEdgeWeights => {
                f.write_str("edge_order=2 needs the scalar spacing's second-order edge weights")
            }
            GradientError::BadAccuracy { accuracy } => {
                write!(f, "accuracy must be 2, 4, 6 or 8, got {accuracy}")
            }
            GradientError::AxisTooShortForStencil { length, accuracy } => write!(
                f,
                "an axis of length {length} is too short for accuracy={accuracy}: \
                 the stencil needs at least {} points",
                accuracy + 1
            ),
            GradientError::BadPeriod { period, extent } => write!(
                f,
                "period {period} must exceed the coordinates' extent x[-1] - x[0] = {extent} \
                 in magnitude and have its sign"
            ),
            GradientError::MissingPeriod => f.write_str(
                "a periodic axis with coordinates needs its period=, and only such an axis \
                 takes one",
            ),
            GradientError::BadEdgeOrder { edge_order } => {
                write!(f, "edge_order must be 1 or 2, got {edge_order}")
            }
            GradientError::UnsupportedDtype { what } => write!(f, "no native kernel for {what}"),
            GradientError::CountMismatch { outputs, requests } => write!(
                f,
                "one output per requested derivative: {outputs} outputs for {requests} requests"
            ),
            GradientError::ThreadPool { reason } => {
                write!(f, "could not start the thread pool: {reason}")
            }
            GradientError::Interrupted => f.write_str("interrupted between two parts"),
        }
    }
}

impl std::error::Error for GradientError {}
