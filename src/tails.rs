//! NumPy's remainder loops, where its NaN rule changes.
//!
//! NumPy adds two contiguous temporaries (the terms `a * f[...]` of its weighted sums) with a
//! SIMD loop over whole vectors and a scalar loop over the last elements; the scalar loop
//! returns the right operand's NaN where the SIMD loop returns the left one's (see
//! [`NanOrder`]). How many trailing elements take the scalar loop depends on the running
//! CPU's vector width, the dtype, and the temporary's length, so the Python side measures it
//! once from NumPy itself ([`TailRule`]) and registers it here. After the walk,
//! [`fix_numpy_tails`] recomputes those few elements of each temporary (fewer than one vector
//! each) with the right operand's NaN.

use crate::dtypes::{Dtypes, Weight};
use crate::element::{Cast, Field, NanOrder};
use crate::stencil::{Formula, Piece, Stencil, Term, Weights, MAX_TAPS};
use ndarray::{ArrayViewD, ArrayViewMutD, IxDyn};
use std::sync::RwLock;

/// How many trailing elements of a temporary of `n` elements NumPy's add computes in its
/// scalar loop: `counts[n]` up to `counts.len()`, and beyond, the count of the length that
/// many whole `period`s shorter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TailRule {
    counts: Vec<usize>,
    period: usize,
}

impl TailRule {
    /// A rule from measured counts (`counts[n]` for each length `n` measured, from 0) and the
    /// period they repeat with; None if the measurements do not repeat with it, or cover
    /// less than two periods.
    pub fn new(counts: Vec<usize>, period: usize) -> Option<TailRule> {
        let n = counts.len();
        if period == 0 || n < 2 * period + 1 {
            return None;
        }
        let repeats = (n - period..n).all(|k| counts[k] == counts[k - period]);
        let suffixes = counts.iter().enumerate().all(|(len, &c)| c <= len);
        (repeats && suffixes).then_some(TailRule { counts, period })
    }

    /// The number of trailing elements of a temporary of `n` elements.
    pub fn trailing(&self, n: usize) -> usize {
        let known = self.counts.len();
        if n < known {
            return self.counts[n];
        }
        let back = (n - (known - self.period)) / self.period + 1;
        let reduced = n - back * self.period;
        self.counts[reduced].min(n)
    }
}

/// The registered rules, by compute type: `f64`, `f32`, `Complex<f64>`, `Complex<f32>`.
static RULES: RwLock<[Option<TailRule>; 4]> = RwLock::new([None, None, None, None]);

/// Registers NumPy's rule for a compute type ([`Field::TAILS`]).
pub fn register(key: usize, rule: Option<TailRule>) {
    let mut rules = RULES
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(slot) = rules.get_mut(key) {
        *slot = rule;
    }
}

fn rule_for(key: usize) -> Option<TailRule> {
    let rules = RULES
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    rules.get(key).cloned().flatten()
}

/// The axes of `f` in the order NumPy lays out a temporary made from it (its `K` order):
/// by decreasing stride, ties in axis order.
fn k_order(f: &ArrayViewD<'_, impl Sized>) -> Vec<usize> {
    let mut axes: Vec<usize> = (0..f.ndim()).collect();
    axes.sort_by_key(|&a| std::cmp::Reverse(f.strides()[a].unsigned_abs()));
    axes
}

/// Recomputes, in `out`, the elements of `f`'s derivative along `axis` that NumPy's add
/// computes in its scalar remainder loop, with the right operand's NaN. Only the pieces of
/// NumPy's weighted sums over arrays ([`Term::Promoted`]) are concerned.
pub fn fix_numpy_tails<N: Dtypes>(
    f: &ArrayViewD<'_, N::Stored>,
    out: &mut ArrayViewMutD<'_, N::Data>,
    axis: usize,
    stencil: &Stencil<'_, Weight<N>>,
) {
    let Some(key) = <N::Compute as Field>::TAILS else {
        return;
    };
    let Some(rule) = rule_for(key) else {
        return;
    };
    let order = k_order(f);
    for piece in stencil.pieces() {
        let Formula::Sum {
            term: Term::Promoted,
            weights,
        } = &piece.formula
        else {
            continue;
        };
        // NumPy's temporary: the input's shape with the piece's points along the axis.
        let mut shape = f.shape().to_vec();
        shape[axis] = piece.points.len();
        let n: usize = shape.iter().product();
        let tail = rule.trailing(n);
        for position in n - tail..n {
            let mut index = unravel(position, &shape, &order);
            index[axis] += piece.points.start;
            let value = point::<N>(f, &index, axis, piece, stencil.len(), weights);
            out[IxDyn(&index)] = value;
        }
    }
}

/// The multi-index of element `position` of an array of `shape` laid out in axis `order`
/// (outermost first).
fn unravel(mut position: usize, shape: &[usize], order: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for &a in order.iter().rev() {
        index[a] = position % shape[a];
        position /= shape[a];
    }
    index
}

/// One point's weighted sum, the terms added with the right operand's NaN.
fn point<N: Dtypes>(
    f: &ArrayViewD<'_, N::Stored>,
    index: &[usize],
    axis: usize,
    piece: &Piece<'_, Weight<N>>,
    len: usize,
    weights: &Weights<'_, Weight<N>>,
) -> N::Data {
    let i = index[axis];
    let taps = piece.offsets.len();
    let mut w = [Weight::<N>::default(); MAX_TAPS];
    weights.fill(i, 1, &mut w[..taps]);
    let term = |k: usize| {
        let mut at = index.to_vec();
        at[axis] = piece.source(i, k, len);
        Term::Promoted.apply(N::load(f[IxDyn(&at)]), w[k])
    };
    (1..taps)
        .fold(term(0), |sum, k| sum.add_ordered(term(k), NanOrder::Right))
        .cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_extend_by_their_period() {
        // float64 on AVX-512: none up to one vector, then the remainder after whole vectors.
        let counts: Vec<usize> = (0..=40).map(|n| if n <= 8 { 0 } else { n % 8 }).collect();
        let rule = TailRule::new(counts, 8).unwrap();
        assert_eq!(rule.trailing(3), 0);
        assert_eq!(rule.trailing(9), 1);
        assert_eq!(rule.trailing(1_000_003), 3);
        assert_eq!(rule.trailing(1 << 40), 0);
        assert!(TailRule::new(vec![0, 1, 0, 1, 1], 2).is_none());
        assert!(TailRule::new(vec![0, 2, 0], 1).is_none());
    }

    #[test]
    fn unravel_follows_the_layout() {
        assert_eq!(unravel(5, &[2, 3], &[0, 1]), vec![1, 2]);
        assert_eq!(unravel(5, &[2, 3], &[1, 0]), vec![1, 2]);
        assert_eq!(unravel(1, &[2, 3], &[1, 0]), vec![1, 0]);
    }
}
