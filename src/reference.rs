//! The reference the walk is tested against: every output element computed on its own from
//! its stencil's formula, by plain indexing, with no views, blocks, chunks or threads.
//!
//! Not used by any production path; the unit tests and the fuzz target compare the walk with
//! it, bit for bit, over shapes, layouts, splits and parts.

use crate::dtypes::{Dtypes, Weight};
use crate::element::{Cast, Field};
use crate::stencil::{Formula, Stencil, Weights, MAX_TAPS};
use ndarray::{ArrayViewD, ArrayViewMutD, Axis};

/// Writes the derivative of `f` along `axis` with `stencil` into `out` (`f`'s shape; the
/// stencil made for that axis's length), one element at a time.
pub fn gradient_axis<N: Dtypes>(
    f: ArrayViewD<'_, N::Stored>,
    mut out: ArrayViewMutD<'_, N::Data>,
    axis: usize,
    stencil: &Stencil<'_, Weight<N>>,
) {
    assert_eq!(f.shape(), out.shape(), "the output has the input's shape");
    assert_eq!(
        f.len_of(Axis(axis)),
        stencil.len(),
        "the stencil fits the axis"
    );
    let len = stencil.len();
    for (index, o) in out.indexed_iter_mut() {
        let i = index[axis];
        let piece = stencil.piece_at(i);
        let value = |k: usize| {
            let mut at = index.clone();
            at[axis] = piece.source(i, k, len);
            f[at]
        };
        *o = match &piece.formula {
            Formula::Quotient { divisor } => N::quotient(value(0), value(1), *divisor),
            Formula::Sum { term, weights } => {
                let mut w = [Weight::<N>::default(); MAX_TAPS];
                let taps = piece.offsets.len();
                match weights {
                    Weights::Same(same) => w[..taps].copy_from_slice(same),
                    other => other.fill(i, 1, &mut w[..taps]),
                }
                let piece_term = *term;
                let term = |k: usize| piece_term.apply(N::load(value(k)), w[k]);
                (1..taps)
                    .fold(term(0), |sum, k| sum.add(term(k), piece_term.loops()))
                    .cast()
            }
        };
    }
}
