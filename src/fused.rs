//! All requested axes in one pass over memory.
//!
//! The axes are put in the input's memory order (outermost first). The pass walks the
//! hyperplanes of the outermost axis: at hyperplane `p` it writes the outermost axis's output
//! from hyperplanes `p - 1` and `p + 1`, then recurses into hyperplane `p` for the inner axes.
//! An input row is therefore fetched from memory once and reused from cache by every output
//! that needs it, and each output is written once. Work is split between threads along the
//! outermost axis (or along a long row), each thread writing, and so first-touching, its own
//! part of every output.
//!
//! Every element is computed by the same per-element functions as [`crate::kernel`], so the
//! result is bit-identical to [`crate::kernel::gradient_axis`] whatever the split.

use crate::element::{Cast, Field};
use crate::kernel::{difference_quotient, weighted_sum, GradientError};
use crate::stencil::{AxisStencil, EdgeOrder, Interior};
use crate::wide::{self, WideStencil};
use std::ops::Range;

use ndarray::{
    ArrayView, ArrayView1, ArrayViewD, ArrayViewMut, ArrayViewMut1, ArrayViewMutD, Axis, Dimension,
    Ix1, Ix2, IxDyn, RemoveAxis, Slice, Zip,
};

/// The weights of one requested derivative: NumPy's stencil, or an extended one (periodic or
/// of higher accuracy).
#[derive(Debug)]
pub enum Stencil<'a, R> {
    /// NumPy's: central differences with `edge_order` edges.
    Numpy(&'a AxisStencil<'a, R>),
    /// See [`crate::wide`].
    Wide(&'a WideStencil<R>),
}

impl<R> Clone for Stencil<'_, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for Stencil<'_, R> {}

impl<'a, R> From<&'a AxisStencil<'a, R>> for Stencil<'a, R> {
    fn from(stencil: &'a AxisStencil<'a, R>) -> Self {
        Stencil::Numpy(stencil)
    }
}

impl<'a, R> From<&'a WideStencil<R>> for Stencil<'a, R> {
    fn from(stencil: &'a WideStencil<R>) -> Self {
        Stencil::Wide(stencil)
    }
}

/// One requested derivative: the axis it is taken along, its weights, and its output.
#[derive(Debug)]
pub struct AxisOutput<'a, A, R> {
    /// The axis of the input this output differentiates.
    pub axis: usize,
    /// The weights along that axis.
    pub stencil: Stencil<'a, R>,
    /// Where the derivative goes; the input's shape, any strides.
    pub out: ArrayViewMutD<'a, A>,
}

/// Interior points whose weights are computed together in a row of a non-uniform axis.
const WEIGHT_BLOCK: usize = 256;

/// Elements below which a piece of work is not split further between threads.
const MIN_SPLIT_ELEMENTS: usize = 1 << 14;

/// Rows shorter than this are not worth the fused walk's per-row bookkeeping; such arrays are
/// computed one axis at a time by [`crate::kernel::gradient_axis`].
const MIN_ROW_LENGTH: usize = 32;

/// Writes the derivative along each requested axis of `f` into its output, in one pass.
///
/// `parallel` allows splitting the work over the current rayon pool.
pub fn gradient<S, A, T>(
    f: ArrayViewD<'_, S>,
    outputs: Vec<AxisOutput<'_, A, T::Real>>,
    edge_order: EdgeOrder,
    parallel: bool,
) -> Result<(), GradientError>
where
    S: Cast<A> + Send + Sync,
    A: Field + Cast<T>,
    T: Field + Cast<A>,
{
    gradient_part::<S, A, T>(f, outputs, edge_order, parallel, None)
}

/// The length of the axis along which [`gradient_part`] can compute `f` in parts (its
/// outermost axis in memory order), or None when `f` is computed whole.
pub fn part_axis_length<S>(f: &ArrayViewD<'_, S>) -> Option<usize> {
    let order = crate::kernel::memory_order(f);
    let inner_length = f.len_of(Axis(*order.last()?));
    if f.is_empty() || (f.ndim() > 1 && inner_length < MIN_ROW_LENGTH) {
        return None;
    }
    Some(f.len_of(Axis(order[0])))
}

/// [`gradient`] for the hyperplanes `part` of the axis [`part_axis_length`] measures only
/// (everything when `part` is None): a caller can compute an array in parts, and do something
/// else between them (answer a signal), with every part's values those of the whole call.
/// Arrays computed whole are written by the part that starts at 0.
pub fn gradient_part<S, A, T>(
    f: ArrayViewD<'_, S>,
    outputs: Vec<AxisOutput<'_, A, T::Real>>,
    edge_order: EdgeOrder,
    parallel: bool,
    part: Option<Range<usize>>,
) -> Result<(), GradientError>
where
    S: Cast<A> + Send + Sync,
    A: Field + Cast<T>,
    T: Field + Cast<A>,
{
    for output in &outputs {
        match output.stencil {
            Stencil::Numpy(stencil) => {
                crate::kernel::check(&f, &output.out, output.axis, stencil, edge_order)?
            }
            Stencil::Wide(stencil) => {
                crate::kernel::check_fits(&f, &output.out, output.axis)?;
                if stencil.len() != f.len_of(Axis(output.axis)) {
                    return Err(GradientError::StencilMismatch);
                }
            }
        }
    }
    if f.is_empty() || outputs.is_empty() || part.as_ref().is_some_and(|p| p.is_empty()) {
        return Ok(());
    }
    let order = crate::kernel::memory_order(&f);
    let inner_length = f.len_of(Axis(*order.last().expect("ndim >= 1")));
    if f.ndim() > 1 && inner_length < MIN_ROW_LENGTH {
        if part.is_some_and(|part| part.start > 0) {
            return Ok(());
        }
        for output in outputs {
            match output.stencil {
                Stencil::Numpy(stencil) => crate::kernel::gradient_axis_with::<S, A, T>(
                    f.view(),
                    output.out,
                    output.axis,
                    stencil,
                    edge_order,
                    parallel,
                )?,
                Stencil::Wide(stencil) => wide::gradient_axis_wide::<S, A, T>(
                    f.view(),
                    output.out,
                    output.axis,
                    stencil,
                    parallel,
                )?,
            }
        }
        return Ok(());
    }
    let position = |axis: usize| order.iter().position(|&o| o == axis).expect("an axis");
    let f = f.permuted_axes(order.clone());
    let jobs: Vec<Job<'_, A, T::Real, IxDyn>> = outputs
        .into_iter()
        .map(|o| Job {
            axis: position(o.axis),
            stencil: o.stencil,
            out: o.out.permuted_axes(order.clone()),
        })
        .collect();
    let n = f.len_of(Axis(0));
    let part = part.map_or(0..n, |p| p.start.min(n)..p.end.min(n));
    if part.is_empty() {
        return Ok(());
    }
    start::<S, A, T>(f, jobs, part, edge_order, parallel);
    Ok(())
}

/// An output during the walk: `axis` and `out` are relative to the current (sub)view.
struct Job<'a, A, R, D: Dimension> {
    axis: usize,
    stencil: Stencil<'a, R>,
    out: ArrayViewMut<'a, A, D>,
}

/// How the walk goes one level down, into a hyperplane of a `Self`-dimensional view: rows of
/// a 2-D view are 1-D kernels; a dynamic-dimensional hyperplane is walked again, as a fixed
/// 2-D view once it has two dimensions (fixed dimensions make per-row views cheap).
trait Descend: RemoveAxis {
    fn descend<S, A, T>(
        plane: ArrayView<'_, S, Self::Smaller>,
        jobs: Vec<Job<'_, A, T::Real, Self::Smaller>>,
        edge_order: EdgeOrder,
        parallel: bool,
    ) where
        S: Cast<A> + Send + Sync,
        A: Field + Cast<T>,
        T: Field + Cast<A>;
}

impl Descend for Ix2 {
    fn descend<S, A, T>(
        row: ArrayView1<'_, S>,
        jobs: Vec<Job<'_, A, T::Real, Ix1>>,
        edge_order: EdgeOrder,
        parallel: bool,
    ) where
        S: Cast<A> + Send + Sync,
        A: Field + Cast<T>,
        T: Field + Cast<A>,
    {
        for job in jobs {
            row_part::<S, A, T>(row.view(), job.out, 0, job.stencil, edge_order, parallel);
        }
    }
}

impl Descend for IxDyn {
    fn descend<S, A, T>(
        plane: ArrayViewD<'_, S>,
        jobs: Vec<Job<'_, A, T::Real, IxDyn>>,
        edge_order: EdgeOrder,
        parallel: bool,
    ) where
        S: Cast<A> + Send + Sync,
        A: Field + Cast<T>,
        T: Field + Cast<A>,
    {
        let n = plane.len_of(Axis(0));
        start::<S, A, T>(plane, jobs, 0..n, edge_order, parallel);
    }
}

/// Walks hyperplanes `part` of axis 0 of a whole view of any dimension, as fixed-dimensional
/// views where it can.
fn start<S, A, T>(
    f: ArrayViewD<'_, S>,
    jobs: Vec<Job<'_, A, T::Real, IxDyn>>,
    part: Range<usize>,
    edge_order: EdgeOrder,
    parallel: bool,
) where
    S: Cast<A> + Send + Sync,
    A: Field + Cast<T>,
    T: Field + Cast<A>,
{
    fn dimension<'a, A, R, D: Dimension>(job: Job<'a, A, R, IxDyn>) -> Job<'a, A, R, D> {
        Job {
            axis: job.axis,
            stencil: job.stencil,
            out: job
                .out
                .into_dimensionality()
                .expect("outputs have the input's shape"),
        }
    }
    // Each job's output cut to the part, as `walk` wants it.
    let (lo, hi) = (part.start, part.end);
    let jobs: Vec<_> = jobs
        .into_iter()
        .map(|job| Job {
            axis: job.axis,
            stencil: job.stencil,
            out: job.out.slice_axis_move(Axis(0), Slice::from(lo..hi)),
        })
        .collect();
    match f.ndim() {
        1 => {
            let row = f.into_dimensionality::<Ix1>().expect("1-D");
            for job in jobs {
                let job = dimension::<A, T::Real, Ix1>(job);
                row_part::<S, A, T>(row.view(), job.out, lo, job.stencil, edge_order, parallel);
            }
        }
        2 => {
            let f = f.into_dimensionality::<Ix2>().expect("2-D");
            let jobs = jobs.into_iter().map(dimension::<A, T::Real, Ix2>).collect();
            walk::<S, A, T, Ix2>(&f, jobs, lo, hi, edge_order, parallel);
        }
        _ => walk::<S, A, T, IxDyn>(&f, jobs, lo, hi, edge_order, parallel),
    }
}

/// Computes hyperplanes `lo..hi` of axis 0 of every job's output. `f` is the whole current
/// view (neighbours outside `lo..hi` are read); each job's `out` holds just `lo..hi`.
fn walk<S, A, T, D: Descend>(
    f: &ArrayView<'_, S, D>,
    jobs: Vec<Job<'_, A, T::Real, D>>,
    lo: usize,
    hi: usize,
    edge_order: EdgeOrder,
    parallel: bool,
) where
    S: Cast<A> + Send + Sync,
    A: Field + Cast<T>,
    T: Field + Cast<A>,
{
    let plane_size = f.len() / f.len_of(Axis(0)).max(1);
    if parallel && hi - lo >= 2 && (hi - lo) * plane_size >= 2 * MIN_SPLIT_ELEMENTS {
        let mid = lo + (hi - lo) / 2;
        let (mut left, mut right) = (
            Vec::with_capacity(jobs.len()),
            Vec::with_capacity(jobs.len()),
        );
        for job in jobs {
            let (a, b) = job.out.split_at(Axis(0), mid - lo);
            left.push(Job {
                axis: job.axis,
                stencil: job.stencil,
                out: a,
            });
            right.push(Job {
                axis: job.axis,
                stencil: job.stencil,
                out: b,
            });
        }
        rayon::join(
            || walk::<S, A, T, D>(f, left, lo, mid, edge_order, parallel),
            || walk::<S, A, T, D>(f, right, mid, hi, edge_order, parallel),
        );
        return;
    }
    // A single hyperplane left here: let the level below split it instead.
    let inner_parallel = parallel && hi - lo == 1;
    let mut jobs = jobs;
    let n = f.len_of(Axis(0));
    for p in lo..hi {
        let mut inner = Vec::with_capacity(jobs.len());
        for job in jobs.iter_mut() {
            let out = job.out.index_axis_mut(Axis(0), p - lo);
            if job.axis == 0 {
                match job.stencil {
                    Stencil::Numpy(stencil) => {
                        hyperplane::<S, A, T, D>(f, out, p, n, stencil, edge_order)
                    }
                    Stencil::Wide(stencil) => wide::hyperplane::<S, A, T, D>(f, out, 0, p, stencil),
                }
            } else {
                inner.push(Job {
                    axis: job.axis - 1,
                    stencil: job.stencil,
                    out,
                });
            }
        }
        if !inner.is_empty() {
            D::descend::<S, A, T>(f.index_axis(Axis(0), p), inner, edge_order, inner_parallel);
        }
    }
}

/// Hyperplane `p` of the derivative along axis 0, from the input's hyperplanes around `p`.
fn hyperplane<S, A, T, D: RemoveAxis>(
    f: &ArrayView<'_, S, D>,
    out: ArrayViewMut<'_, A, D::Smaller>,
    p: usize,
    n: usize,
    stencil: &AxisStencil<T::Real>,
    edge_order: EdgeOrder,
) where
    S: Cast<A> + Send + Sync,
    A: Field + Cast<T>,
    T: Field + Cast<A>,
{
    let at = |i: usize| f.index_axis(Axis(0), i);
    let load = |v: S| -> T { Cast::<A>::cast(v).cast() };
    let three = |out: ArrayViewMut<'_, A, D::Smaller>, first: usize, w: [T::Real; 3]| {
        Zip::from(out)
            .and(at(first))
            .and(at(first + 1))
            .and(at(first + 2))
            .for_each(|o, &f0, &f1, &f2| *o = weighted_sum(load(f0), load(f1), load(f2), w));
    };
    let two = |out: ArrayViewMut<'_, A, D::Smaller>, lo: usize, hi: usize, divisor: T::Real| {
        Zip::from(out)
            .and(at(lo))
            .and(at(hi))
            .for_each(|o, &a, &b| *o = difference_quotient::<S, A, T>(a, b, divisor));
    };
    match (p, edge_order) {
        (0, EdgeOrder::First) => two(out, 0, 1, stencil.edge_divisors[0]),
        (0, EdgeOrder::Second) => three(out, 0, stencil.first_edge),
        (p, EdgeOrder::First) if p == n - 1 => two(out, n - 2, n - 1, stencil.edge_divisors[1]),
        (p, EdgeOrder::Second) if p == n - 1 => three(out, n - 3, stencil.last_edge),
        (p, _) => match &stencil.interior {
            Interior::Uniform { divisor } => two(out, p - 1, p + 1, *divisor),
            Interior::Weighted(weights) => {
                let [mut a, mut b, mut c] = [[T::Real::default()]; 3];
                weights.fill(p - 1, &mut a, &mut b, &mut c);
                three(out, p - 1, [a[0], b[0], c[0]])
            }
        },
    }
}

/// Elements `lo..lo + out.len()` of the derivative of the 1-D `row`, split between threads
/// when `parallel`.
fn row_part<S, A, T>(
    row: ArrayView1<'_, S>,
    out: ArrayViewMut1<'_, A>,
    lo: usize,
    stencil: Stencil<'_, T::Real>,
    edge_order: EdgeOrder,
    parallel: bool,
) where
    S: Cast<A> + Send + Sync,
    A: Field + Cast<T>,
    T: Field + Cast<A>,
{
    match stencil {
        Stencil::Numpy(stencil) => {
            row_range::<S, A, T>(row, out, lo, stencil, edge_order, parallel)
        }
        Stencil::Wide(stencil) => wide::lane_range::<S, A, T>(row, out, lo, stencil, parallel),
    }
}

/// `out[k] = a[k] * f[k] + b[k] * f[k + 1] + c[k] * f[k + 2]`, NumPy's weighted sum.
fn weighted_block<S, A, T>(
    f: ArrayView1<'_, S>,
    mut out: ArrayViewMut1<'_, A>,
    a: &[T::Real],
    b: &[T::Real],
    c: &[T::Real],
) where
    S: Cast<A> + Send + Sync,
    A: Field + Cast<T>,
    T: Field + Cast<A>,
{
    let load = |v: S| -> T { Cast::<A>::cast(v).cast() };
    let len = out.len();
    if let (Some(out), Some(f)) = (out.as_slice_mut(), f.as_slice()) {
        // Contiguous rows, the common case: an indexed loop the compiler vectorises.
        let (out, f, a, b, c) = (
            &mut out[..len],
            &f[..len + 2],
            &a[..len],
            &b[..len],
            &c[..len],
        );
        for k in 0..len {
            out[k] = weighted_sum(
                load(f[k]),
                load(f[k + 1]),
                load(f[k + 2]),
                [a[k], b[k], c[k]],
            );
        }
    } else {
        for k in 0..len {
            out[k] = weighted_sum(
                load(f[k]),
                load(f[k + 1]),
                load(f[k + 2]),
                [a[k], b[k], c[k]],
            );
        }
    }
}

/// Elements `lo..lo + out.len()` of the derivative of the 1-D `row`, split between threads
/// when `parallel` and long enough.
fn row_range<S, A, T>(
    row: ArrayView1<'_, S>,
    mut out: ArrayViewMut1<'_, A>,
    lo: usize,
    stencil: &AxisStencil<T::Real>,
    edge_order: EdgeOrder,
    parallel: bool,
) where
    S: Cast<A> + Send + Sync,
    A: Field + Cast<T>,
    T: Field + Cast<A>,
{
    let len = out.len();
    if parallel && len >= 2 * MIN_SPLIT_ELEMENTS {
        let mid = len / 2;
        let (left, right) = out.split_at(Axis(0), mid);
        rayon::join(
            || row_range::<S, A, T>(row, left, lo, stencil, edge_order, parallel),
            || row_range::<S, A, T>(row, right, lo + mid, stencil, edge_order, parallel),
        );
        return;
    }
    let n = row.len();
    let hi = lo + len;
    let load = |v: S| -> T { Cast::<A>::cast(v).cast() };
    // The interior points of this range: 1..n-1 intersected with lo..hi.
    let (start, end) = (lo.max(1), hi.min(n - 1));
    if start < end {
        let out_mid = out.slice_axis_mut(Axis(0), Slice::from(start - lo..end - lo));
        let behind = row.slice_axis(Axis(0), Slice::from(start - 1..end - 1));
        let ahead = row.slice_axis(Axis(0), Slice::from(start + 1..end + 1));
        match &stencil.interior {
            Interior::Uniform { divisor } => {
                let divisor = *divisor;
                Zip::from(out_mid)
                    .and(behind)
                    .and(ahead)
                    .for_each(|o, &a, &b| *o = difference_quotient::<S, A, T>(a, b, divisor));
            }
            Interior::Weighted(weights) => {
                // Weights a block at a time: computed where they are used, never stored whole.
                let zero = T::Real::default();
                let (mut a, mut b, mut c) = (
                    [zero; WEIGHT_BLOCK],
                    [zero; WEIGHT_BLOCK],
                    [zero; WEIGHT_BLOCK],
                );
                let mut i = start;
                while i < end {
                    let len = (end - i).min(WEIGHT_BLOCK);
                    let (a, b, c) = (&mut a[..len], &mut b[..len], &mut c[..len]);
                    weights.fill(i - 1, a, b, c);
                    let out = out.slice_axis_mut(Axis(0), Slice::from(i - lo..i - lo + len));
                    let f = row.slice_axis(Axis(0), Slice::from(i - 1..i + len + 1));
                    weighted_block::<S, A, T>(f, out, a, b, c);
                    i += len;
                }
            }
        }
    }
    let edge = |i: usize| -> A {
        let three = |first: usize, w: [T::Real; 3]| {
            weighted_sum(
                load(row[first]),
                load(row[first + 1]),
                load(row[first + 2]),
                w,
            )
        };
        match (i == 0, edge_order) {
            (true, EdgeOrder::First) => {
                difference_quotient::<S, A, T>(row[0], row[1], stencil.edge_divisors[0])
            }
            (true, EdgeOrder::Second) => three(0, stencil.first_edge),
            (false, EdgeOrder::First) => {
                difference_quotient::<S, A, T>(row[n - 2], row[n - 1], stencil.edge_divisors[1])
            }
            (false, EdgeOrder::Second) => three(n - 3, stencil.last_edge),
        }
    };
    if lo == 0 {
        out[0] = edge(0);
    }
    if hi == n {
        out[len - 1] = edge(n - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::gradient_axis_with;
    use crate::wide::WideStencil;
    use ndarray::{Array1, ArrayD, IxDyn};

    /// A small deterministic generator (xorshift), enough to vary shapes and values.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn value(&mut self) -> f64 {
            (self.next() % 20_001) as f64 / 100.0 - 100.0
        }
    }

    /// Coordinates for an axis of `n` points: `None` for a scalar spacing.
    fn coordinates(rng: &mut Rng, n: usize) -> Option<Array1<f64>> {
        (rng.below(2) == 0).then(|| {
            Array1::from_iter((0..n).scan(0.0, |acc, _| {
                *acc += 0.1 + (rng.next() % 1000) as f64 / 300.0;
                Some(*acc)
            }))
        })
    }

    fn compare(rng: &mut Rng, shape: &[usize], parallel: bool) {
        let ndim = shape.len();
        let data = ArrayD::from_shape_fn(IxDyn(shape), |_| rng.value());
        // A layout: a random axis permutation, some axes reversed.
        let mut perm: Vec<usize> = (0..ndim).collect();
        for i in (1..ndim).rev() {
            perm.swap(i, rng.below(i + 1));
        }
        let mut f = data.view().permuted_axes(perm);
        for ax in 0..ndim {
            if rng.below(3) == 0 {
                f.invert_axis(Axis(ax));
            }
        }
        let edge_order = if rng.below(2) == 0 {
            EdgeOrder::First
        } else {
            EdgeOrder::Second
        };
        let axes: Vec<usize> = (0..ndim)
            .filter(|&ax| f.len_of(Axis(ax)) >= edge_order.min_points() && rng.below(3) != 0)
            .collect();
        let xs: Vec<_> = axes
            .iter()
            .map(|&ax| coordinates(rng, f.len_of(Axis(ax))))
            .collect();
        let stencils: Vec<_> = xs
            .iter()
            .map(|x| match x {
                Some(x) => AxisStencil::from_coordinates(x.view()),
                None => AxisStencil::from_scalar(0.25 + rng.below(8) as f64),
            })
            .collect();
        let mut fused_outs: Vec<ArrayD<f64>> =
            axes.iter().map(|_| ArrayD::zeros(f.raw_dim())).collect();
        let outputs = axes
            .iter()
            .zip(&stencils)
            .zip(fused_outs.iter_mut())
            .map(|((&axis, stencil), out)| AxisOutput {
                axis,
                stencil: stencil.into(),
                out: out.view_mut(),
            })
            .collect();
        gradient::<f64, f64, f64>(f.view(), outputs, edge_order, parallel).unwrap();
        for ((&axis, stencil), fused) in axes.iter().zip(&stencils).zip(&fused_outs) {
            let mut simple = ArrayD::zeros(f.raw_dim());
            gradient_axis_with::<f64, f64, f64>(
                f.view(),
                simple.view_mut(),
                axis,
                stencil,
                edge_order,
                false,
            )
            .unwrap();
            let same = simple
                .iter()
                .zip(fused.iter())
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(
                same,
                "shape {shape:?} axis {axis} {edge_order:?} parallel {parallel}"
            );
        }
    }

    #[test]
    fn fused_matches_the_per_axis_kernel_on_small_shapes() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut compared = 0;
        for _ in 0..1500 {
            let ndim = 1 + rng.below(4);
            let shape: Vec<usize> = (0..ndim)
                .map(|_| match rng.below(4) {
                    0 => 1 + rng.below(3),
                    1 => 3 + rng.below(5),
                    _ => 30 + rng.below(45),
                })
                .collect();
            if shape.iter().product::<usize>() > 40_000 {
                continue;
            }
            let parallel = rng.below(2) == 0;
            compare(&mut rng, &shape, parallel);
            compared += 1;
        }
        assert!(compared >= 600, "only {compared} shapes compared");
    }

    #[test]
    fn fused_matches_when_split_between_threads() {
        let mut rng = Rng(12345);
        for shape in [
            vec![100_003],
            vec![3, 40_001],
            vec![40_001, 3],
            vec![257, 129],
            vec![2, 2, 20_000],
            vec![70, 9, 65],
        ] {
            for _ in 0..3 {
                compare(&mut rng, &shape, true);
            }
        }
    }

    /// Fused outputs mixing NumPy's and extended stencils against the per-axis kernels.
    fn compare_extended(rng: &mut Rng, shape: &[usize], parallel: bool) {
        let ndim = shape.len();
        let data = ArrayD::from_shape_fn(IxDyn(shape), |_| rng.value());
        let mut perm: Vec<usize> = (0..ndim).collect();
        for i in (1..ndim).rev() {
            perm.swap(i, rng.below(i + 1));
        }
        let mut f = data.view().permuted_axes(perm);
        if rng.below(2) == 0 {
            f.invert_axis(Axis(rng.below(ndim)));
        }
        let accuracy = [2, 4, 6, 8][rng.below(4)];
        let axes: Vec<usize> = (0..ndim)
            .filter(|&ax| f.len_of(Axis(ax)) > accuracy && rng.below(4) != 0)
            .collect();
        enum Either {
            Numpy(AxisStencil<'static, f64>),
            Wide(WideStencil<f64>),
        }
        let coords: Vec<Array1<f64>> = axes
            .iter()
            .map(|&ax| {
                coordinates(rng, f.len_of(Axis(ax))).unwrap_or_else(|| {
                    Array1::from_iter((0..f.len_of(Axis(ax))).map(|i| i as f64 * 0.5))
                })
            })
            .collect();
        let stencils: Vec<Either> = axes
            .iter()
            .zip(&coords)
            .map(|(&ax, x)| {
                let periodic = rng.below(2) == 0;
                if accuracy == 2 && !periodic {
                    return Either::Numpy(AxisStencil::from_scalar(0.75));
                }
                let n = f.len_of(Axis(ax));
                Either::Wide(if rng.below(2) == 0 {
                    WideStencil::uniform(n, accuracy, periodic, 0.75, 1.5).unwrap()
                } else {
                    let period = periodic.then(|| x[n - 1] - x[0] + 0.4);
                    WideStencil::from_coordinates(x.view(), accuracy, period).unwrap()
                })
            })
            .collect();
        let mut fused_outs: Vec<ArrayD<f64>> =
            axes.iter().map(|_| ArrayD::zeros(f.raw_dim())).collect();
        let outputs = axes
            .iter()
            .zip(&stencils)
            .zip(fused_outs.iter_mut())
            .map(|((&axis, stencil), out)| AxisOutput {
                axis,
                stencil: match stencil {
                    Either::Numpy(s) => s.into(),
                    Either::Wide(s) => s.into(),
                },
                out: out.view_mut(),
            })
            .collect();
        gradient::<f64, f64, f64>(f.view(), outputs, EdgeOrder::First, parallel).unwrap();
        for ((&axis, stencil), fused) in axes.iter().zip(&stencils).zip(&fused_outs) {
            let mut single = ArrayD::zeros(f.raw_dim());
            match stencil {
                Either::Numpy(s) => gradient_axis_with::<f64, f64, f64>(
                    f.view(),
                    single.view_mut(),
                    axis,
                    s,
                    EdgeOrder::First,
                    false,
                ),
                Either::Wide(s) => crate::wide::gradient_axis_wide::<f64, f64, f64>(
                    f.view(),
                    single.view_mut(),
                    axis,
                    s,
                    false,
                ),
            }
            .unwrap();
            let same = single
                .iter()
                .zip(fused.iter())
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "shape {shape:?} axis {axis} accuracy {accuracy}");
        }
    }

    #[test]
    fn fused_extended_stencils_match_the_per_axis_kernel() {
        let mut rng = Rng(0x5EED);
        for _ in 0..400 {
            let ndim = 1 + rng.below(4);
            let shape: Vec<usize> = (0..ndim).map(|_| 1 + rng.below(12)).collect();
            compare_extended(&mut rng, &shape, false);
        }
        for shape in [
            vec![100_003],
            vec![3, 40_001],
            vec![257, 129],
            vec![70, 9, 65],
        ] {
            compare_extended(&mut rng, &shape, true);
        }
    }

    #[test]
    fn parts_give_the_whole() {
        let mut rng = Rng(77);
        for shape in [
            vec![1000],
            vec![40, 50],
            vec![6, 7, 40],
            vec![50, 3],
            vec![3, 40],
        ] {
            let f = ArrayD::from_shape_fn(IxDyn(&shape), |_| rng.value());
            let f = f.view().reversed_axes();
            let xs: Vec<_> = (0..f.ndim())
                .map(|ax| coordinates(&mut rng, f.len_of(Axis(ax))))
                .collect();
            let stencils: Vec<_> = xs
                .iter()
                .map(|x| match x {
                    Some(x) if x.len() >= 3 => AxisStencil::from_coordinates(x.view()),
                    _ => AxisStencil::from_scalar(0.5),
                })
                .collect();
            let run = |parts: &[std::ops::Range<usize>]| {
                let mut outs: Vec<ArrayD<f64>> = stencils
                    .iter()
                    .map(|_| ArrayD::zeros(f.raw_dim()))
                    .collect();
                for part in parts {
                    let outputs = outs
                        .iter_mut()
                        .zip(&stencils)
                        .enumerate()
                        .map(|(axis, (out, stencil))| AxisOutput {
                            axis,
                            stencil: stencil.into(),
                            out: out.view_mut(),
                        })
                        .collect();
                    gradient_part::<f64, f64, f64>(
                        f.view(),
                        outputs,
                        EdgeOrder::Second,
                        true,
                        Some(part.clone()),
                    )
                    .unwrap_or_else(|e| panic!("{shape:?} {part:?} {e}"));
                }
                outs
            };
            let n = part_axis_length(&f).unwrap_or(1);
            let whole = run(std::slice::from_ref(&(0..n)));
            let cut = [0..n / 3, n / 3..n / 3 + 1, n / 3 + 1..n];
            for (a, b) in whole.iter().zip(&run(&cut)) {
                assert!(
                    a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{shape:?}"
                );
            }
        }
    }

    #[test]
    fn empty_parts_write_nothing() {
        // Found by the fuzz target: an empty part of a 1-D array once wrote out of bounds.
        let f = Array1::from(vec![1.0, 4.0, 9.0, 16.0, 25.0]).into_dyn();
        let stencil = AxisStencil::from_scalar(1.0);
        for part in [0..0, 5..5, 7..9] {
            let mut out = ArrayD::from_elem(f.raw_dim(), 7.0);
            let outputs = vec![AxisOutput {
                axis: 0,
                stencil: (&stencil).into(),
                out: out.view_mut(),
            }];
            gradient_part::<f64, f64, f64>(f.view(), outputs, EdgeOrder::First, false, Some(part))
                .unwrap();
            assert!(out.iter().all(|&v| v == 7.0));
        }
    }

    #[test]
    fn zero_size_and_no_outputs_are_fine() {
        let f = ArrayD::<f64>::zeros(IxDyn(&[0, 5]));
        let s = AxisStencil::from_scalar(1.0);
        let mut out = f.clone();
        let outputs = vec![AxisOutput {
            axis: 1,
            stencil: (&s).into(),
            out: out.view_mut(),
        }];
        gradient::<f64, f64, f64>(f.view(), outputs, EdgeOrder::First, true).unwrap();
        gradient::<f64, f64, f64>(f.view(), vec![], EdgeOrder::First, true).unwrap();
    }
}
