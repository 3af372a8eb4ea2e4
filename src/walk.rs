//! The one traversal of memory: every requested derivative in one pass.
//!
//! The axes are put in the input's memory order (outermost first). The pass walks the
//! hyperplanes of the outermost axis: at hyperplane `p` it writes the outermost axis's
//! derivatives from the hyperplanes its stencil reads around `p`, then recurses into
//! hyperplane `p` for the inner axes, down to rows. An input row is therefore fetched from
//! memory once and reused from cache by every output that needs it, and each output is
//! written once. The rows of a plane, and hyperplanes too small to be worth a descent, are
//! taken a chunk at a time instead (a chunk stays in cache), every axis over the whole chunk.
//!
//! Work is split between threads along the outermost axis, or along a long row
//! ([`threads::halves`]), each thread writing, and so first-touching, its own part of every
//! output. A call can also be made for a part of the outermost axis only ([`gradient_part`]),
//! so that a caller can do something between parts (answer a signal). The arithmetic is the
//! stencil's ([`crate::evaluate`]), the same whatever the split.

use crate::dtypes::{Dtypes, Weight};
use crate::error::GradientError;
use crate::evaluate;
use crate::fp_status::FpFlags;
use crate::stencil::Stencil;
use crate::stream::Store;
use crate::threads::{self, Divisible, Execution};
use ndarray::{
    ArrayView, ArrayViewD, ArrayViewMut, ArrayViewMutD, Axis, Dimension, Ix1, Ix2, IxDyn,
    RemoveAxis, Slice,
};
use std::ops::Range;

/// One requested derivative: the axis it is taken along, its stencil, and its output.
#[derive(Debug)]
pub struct Output<'a, 'x, N: Dtypes> {
    /// The axis of the input this output differentiates.
    pub axis: usize,
    /// The stencil along that axis (it may borrow coordinates for `'x`).
    pub stencil: &'a Stencil<'x, Weight<N>>,
    /// Where the derivative goes; the input's shape, any strides.
    pub out: ArrayViewMutD<'a, N::Data>,
}

/// Elements below which a piece of work is not split further between threads.
const MIN_SPLIT_ELEMENTS: usize = 1 << 14;

/// Hyperplanes of fewer elements than this are not descended into, but computed a chunk of
/// hyperplanes at a time: a descent costs more than such a plane's arithmetic.
const MIN_PLANE_ELEMENTS: usize = 32;

/// Elements per chunk of small hyperplanes: a chunk stays in cache while every axis reads it.
const CHUNK_ELEMENTS: usize = 1 << 12;

/// Writes each requested derivative of `f` into its output, in one pass.
pub fn gradient<N: Dtypes>(
    f: ArrayViewD<'_, N::Stored>,
    outputs: Vec<Output<'_, '_, N>>,
    execution: Execution,
) -> Result<FpFlags, GradientError> {
    gradient_part(f, outputs, 0..usize::MAX, execution)
}

/// The length of the axis [`gradient_part`] computes parts of: the outermost in memory.
pub fn outermost_length<S>(f: &ArrayViewD<'_, S>) -> usize {
    memory_order(f)
        .slice()
        .first()
        .map_or(0, |&axis| f.len_of(Axis(axis)))
}

/// [`gradient`] for the hyperplanes `part` of the outermost axis in memory only (see
/// [`outermost_length`]), every value being that of the whole call.
pub fn gradient_part<N: Dtypes>(
    f: ArrayViewD<'_, N::Stored>,
    outputs: Vec<Output<'_, '_, N>>,
    part: Range<usize>,
    execution: Execution,
) -> Result<FpFlags, GradientError> {
    for output in &outputs {
        check(&f, output)?;
    }
    if f.is_empty() || outputs.is_empty() {
        return Ok(FpFlags::NONE);
    }
    let order = memory_order(&f);
    let n = f.len_of(Axis(order[0]));
    let part = part.start.min(n)..part.end.min(n);
    if part.is_empty() {
        return Ok(FpFlags::NONE);
    }
    let position = |axis: usize| {
        order
            .slice()
            .iter()
            .position(|&o| o == axis)
            .expect("an axis")
    };
    let jobs = outputs
        .into_iter()
        .map(|o| Job {
            axis: position(o.axis),
            stencil: o.stencil,
            store: Store::for_output(o.out.len() * std::mem::size_of::<N::Data>()),
            out: o.out.permuted_axes(order.clone()),
        })
        .collect();
    Ok(start::<N>(f.permuted_axes(order), jobs, part, execution))
}

/// Checks that `output` fits `f`.
fn check<N: Dtypes>(
    f: &ArrayViewD<'_, N::Stored>,
    output: &Output<'_, '_, N>,
) -> Result<(), GradientError> {
    if output.axis >= f.ndim() {
        return Err(GradientError::AxisOutOfRange {
            axis: output.axis,
            ndim: f.ndim(),
        });
    }
    if f.shape() != output.out.shape() {
        return Err(GradientError::ShapeMismatch);
    }
    let length = f.len_of(Axis(output.axis));
    if output.stencil.len() != length {
        return Err(GradientError::StencilMismatch {
            stencil: output.stencil.len(),
            length,
        });
    }
    Ok(())
}

/// The axes of `f` in memory order: largest stride first; ties and length-1 axes keep their
/// order. Walking a view permuted to this order follows the input's layout.
pub(crate) fn memory_order<S>(f: &ArrayViewD<'_, S>) -> IxDyn {
    // An `IxDyn`, not a `Vec`: up to four axes it needs no allocation, nor do its copies.
    let mut order = IxDyn::zeros(f.ndim());
    for (i, axis) in order.slice_mut().iter_mut().enumerate() {
        *axis = i;
    }
    order.slice_mut().sort_by_key(|&ax| {
        std::cmp::Reverse(if f.len_of(Axis(ax)) > 1 {
            f.strides()[ax].unsigned_abs()
        } else {
            usize::MAX
        })
    });
    order
}

/// An output during the walk: `axis` and `out` are relative to the current (sub)view;
/// `store` is decided by the whole output's size.
struct Job<'a, 'x, N: Dtypes, D: Dimension> {
    axis: usize,
    stencil: &'a Stencil<'x, Weight<N>>,
    store: Store,
    out: ArrayViewMut<'a, N::Data, D>,
}

/// The jobs of one stretch of hyperplanes; every output holds just that stretch.
struct Jobs<'a, 'x, N: Dtypes, D: Dimension>(Vec<Job<'a, 'x, N, D>>);

impl<N: Dtypes, D: Dimension> Divisible for Jobs<'_, '_, N, D> {
    fn units(&self) -> usize {
        self.0.first().map_or(0, |job| job.out.len_of(Axis(0)))
    }

    fn divide(self, mid: usize) -> (Self, Self) {
        let (mut left, mut right) = (Vec::with_capacity(self.0.len()), Vec::new());
        for job in self.0 {
            let (a, b) = job.out.split_at(Axis(0), mid);
            left.push(Job {
                axis: job.axis,
                stencil: job.stencil,
                store: job.store,
                out: a,
            });
            right.push(Job {
                axis: job.axis,
                stencil: job.stencil,
                store: job.store,
                out: b,
            });
        }
        (Jobs(left), Jobs(right))
    }
}

/// How the walk goes one level down, into a hyperplane of a `Self`-dimensional view: a
/// dynamic-dimensional hyperplane is walked again, as a fixed 1-D or 2-D view once it has
/// that many dimensions (fixed dimensions make per-row views cheap).
trait Descend: RemoveAxis {
    fn descend<N: Dtypes>(
        plane: ArrayView<'_, N::Stored, Self::Smaller>,
        jobs: Jobs<'_, '_, N, Self::Smaller>,
        execution: Execution,
    ) -> FpFlags;
}

impl Descend for Ix1 {
    fn descend<N: Dtypes>(
        _: ArrayView<'_, N::Stored, Self::Smaller>,
        _: Jobs<'_, '_, N, Self::Smaller>,
        _: Execution,
    ) -> FpFlags {
        unreachable!("a row's hyperplanes are single elements, never descended into");
    }
}

impl Descend for Ix2 {
    fn descend<N: Dtypes>(
        row: ArrayView<'_, N::Stored, Ix1>,
        jobs: Jobs<'_, '_, N, Ix1>,
        execution: Execution,
    ) -> FpFlags {
        walk::<N, Ix1>(&row, jobs, 0, execution)
    }
}

impl Descend for IxDyn {
    fn descend<N: Dtypes>(
        plane: ArrayViewD<'_, N::Stored>,
        jobs: Jobs<'_, '_, N, IxDyn>,
        execution: Execution,
    ) -> FpFlags {
        let n = plane.len_of(Axis(0));
        start::<N>(plane, jobs.0, 0..n, execution)
    }
}

/// Walks hyperplanes `part` of axis 0 of a whole view of any dimension, as a fixed 1-D or
/// 2-D view where it can; each job's output is cut to the part first.
fn start<N: Dtypes>(
    f: ArrayViewD<'_, N::Stored>,
    jobs: Vec<Job<'_, '_, N, IxDyn>>,
    part: Range<usize>,
    execution: Execution,
) -> FpFlags {
    fn fixed<'a, 'x, N: Dtypes, D: Dimension>(
        jobs: Vec<Job<'a, 'x, N, IxDyn>>,
    ) -> Jobs<'a, 'x, N, D> {
        Jobs(
            jobs.into_iter()
                .map(|job| Job {
                    axis: job.axis,
                    stencil: job.stencil,
                    store: job.store,
                    out: job.out.into_dimensionality().expect("the input's shape"),
                })
                .collect(),
        )
    }
    let first = part.start;
    let jobs: Vec<_> = jobs
        .into_iter()
        .map(|job| Job {
            axis: job.axis,
            stencil: job.stencil,
            store: job.store,
            out: job.out.slice_axis_move(Axis(0), Slice::from(part.clone())),
        })
        .collect();
    match f.ndim() {
        1 => {
            let f = f.into_dimensionality::<Ix1>().expect("1-D");
            walk::<N, Ix1>(&f, fixed(jobs), first, execution)
        }
        2 => {
            let f = f.into_dimensionality::<Ix2>().expect("2-D");
            walk::<N, Ix2>(&f, fixed(jobs), first, execution)
        }
        _ => walk::<N, IxDyn>(&f, Jobs(jobs), first, execution),
    }
}

/// Computes the hyperplanes of axis 0 that the jobs hold, the first being `first`. `f` is the
/// whole current view (the stencils read hyperplanes outside the jobs' stretch).
fn walk<N: Dtypes, D: Descend>(
    f: &ArrayView<'_, N::Stored, D>,
    jobs: Jobs<'_, '_, N, D>,
    first: usize,
    execution: Execution,
) -> FpFlags {
    let plane = f.len() / f.len_of(Axis(0)).max(1);
    threads::halves(
        jobs,
        first,
        plane,
        MIN_SPLIT_ELEMENTS,
        execution,
        &|jobs, first, execution| {
            // A single hyperplane left here: let the level below split it instead.
            let inner = if jobs.units() == 1 {
                execution
            } else {
                Execution::Serial
            };
            // A plane's rows a chunk at a time rather than one descent each: a descent per
            // row cost a fifth of a 256³ call in slicing and calls. Not where the level below
            // would split a single long row between threads.
            let rows = f.ndim() == 2 && !inner.is_parallel();
            if f.ndim() == 1 || plane < MIN_PLANE_ELEMENTS || rows {
                chunks::<N, D>(f, jobs, first, plane);
                FpFlags::NONE
            } else {
                descend::<N, D>(f, jobs, first, inner)
            }
        },
    )
}

/// The jobs' hyperplanes one at a time: the outermost axis's derivatives from the
/// hyperplanes around each, then the inner axes inside it.
fn descend<N: Dtypes, D: Descend>(
    f: &ArrayView<'_, N::Stored, D>,
    mut jobs: Jobs<'_, '_, N, D>,
    first: usize,
    execution: Execution,
) -> FpFlags {
    let mut handed_on = FpFlags::NONE;
    for p in first..first + jobs.units() {
        let mut inner = Vec::with_capacity(jobs.0.len());
        for job in jobs.0.iter_mut() {
            if job.axis == 0 {
                let mut out = job
                    .out
                    .slice_axis_mut(Axis(0), Slice::from(p - first..p - first + 1));
                evaluate::points::<N, D>(f, &mut out, p, Axis(0), job.stencil, p..p + 1, job.store);
            } else {
                inner.push(Job {
                    axis: job.axis - 1,
                    stencil: job.stencil,
                    store: job.store,
                    out: job.out.index_axis_mut(Axis(0), p - first),
                });
            }
        }
        if !inner.is_empty() {
            handed_on |= D::descend::<N>(f.index_axis(Axis(0), p), Jobs(inner), execution);
        }
    }
    handed_on
}

/// The jobs' hyperplanes a chunk at a time, every axis over the whole chunk: for rows (whose
/// hyperplanes are single elements) and for hyperplanes too small to descend into.
fn chunks<N: Dtypes, D: Dimension>(
    f: &ArrayView<'_, N::Stored, D>,
    mut jobs: Jobs<'_, '_, N, D>,
    first: usize,
    plane: usize,
) {
    let units = jobs.units();
    let chunk = if f.ndim() == 1 {
        units
    } else {
        (CHUNK_ELEMENTS / plane.max(1)).max(1)
    };
    for start in (first..first + units).step_by(chunk.max(1)) {
        let end = (start + chunk).min(first + units);
        let block = f.slice_axis(Axis(0), Slice::from(start..end));
        for job in jobs.0.iter_mut() {
            let mut out = job
                .out
                .slice_axis_mut(Axis(0), Slice::from(start - first..end - first));
            if job.axis == 0 {
                let range = start..end;
                evaluate::points::<N, D>(
                    f,
                    &mut out,
                    start,
                    Axis(0),
                    job.stencil,
                    range,
                    job.store,
                );
            } else {
                let axis = Axis(job.axis);
                let all = 0..f.len_of(axis);
                evaluate::points::<N, D>(&block, &mut out, 0, axis, job.stencil, all, job.store);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtypes::Promotion;
    use crate::reference;
    use crate::stencil::{EdgeOrder, Steps};
    use ndarray::{Array1, ArrayD, IxDyn};

    type F64 = Promotion<f64, f64, f64>;

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

    /// Increasing coordinates for an axis of `n` points.
    fn coordinates(rng: &mut Rng, n: usize) -> Array1<f64> {
        Array1::from_iter((0..n).scan(0.0, |acc, _| {
            *acc += 0.1 + (rng.next() % 1000) as f64 / 300.0;
            Some(*acc)
        }))
    }

    /// A stencil of any kind for an axis of `n` points, or None where the axis is too short
    /// for the kind drawn. Coordinates are kept in `keep` (the stencil borrows them).
    fn any_stencil<'x>(
        rng: &mut Rng,
        n: usize,
        x: &'x Array1<f64>,
        edge_order: EdgeOrder,
    ) -> Option<Stencil<'x, f64>> {
        let accuracy = [2, 4, 6, 8][rng.below(4)];
        let periodic = rng.below(3) == 0;
        let dx = 0.25 + rng.below(8) as f64;
        match rng.below(4) {
            0 => Stencil::numpy_scalar(n, dx, edge_order).ok(),
            1 => {
                Stencil::numpy_coordinates(x.view(), edge_order, Steps::Checked, Execution::Serial)
                    .ok()
            }
            2 if accuracy > 2 || periodic => {
                Stencil::extended_uniform(n, accuracy, periodic, dx, 2.0 * dx).ok()
            }
            3 if accuracy > 2 || periodic => {
                let period = periodic.then(|| x[n - 1] - x[0] + 0.4);
                Stencil::extended_coordinates(x.view(), accuracy, period, Execution::Serial).ok()
            }
            _ => Stencil::numpy_scalar(n, dx, edge_order).ok(),
        }
    }

    /// The walk against the reference for a random layout of `shape` and random requests.
    fn compare(rng: &mut Rng, shape: &[usize], threads: usize, parts: bool) {
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
        let xs: Vec<Array1<f64>> = (0..ndim)
            .map(|ax| coordinates(rng, f.len_of(Axis(ax))))
            .collect();
        let mut axes = Vec::new();
        let mut stencils = Vec::new();
        for (ax, x) in xs.iter().enumerate() {
            if rng.below(4) == 0 {
                continue;
            }
            if let Some(stencil) = any_stencil(rng, f.len_of(Axis(ax)), x, edge_order) {
                axes.push(ax);
                stencils.push(stencil);
            }
        }
        let mut outs: Vec<ArrayD<f64>> = axes
            .iter()
            .map(|_| ArrayD::from_elem(f.raw_dim(), -7.0))
            .collect();
        let n = outermost_length(&f);
        let cuts = if parts && n > 2 {
            vec![0..n / 3, n / 3..n / 3 + 1, n / 3 + 1..n]
        } else {
            std::iter::once(0..n).collect()
        };
        for part in cuts {
            let outputs = axes
                .iter()
                .zip(&stencils)
                .zip(outs.iter_mut())
                .map(|((&axis, stencil), out)| Output {
                    axis,
                    stencil,
                    out: out.view_mut(),
                })
                .collect();
            let done = threads::run(threads, threads::PARALLEL_THRESHOLD, |execution| {
                gradient_part::<F64>(f.view(), outputs, part, execution)
            });
            done.unwrap().0.unwrap();
        }
        for ((&axis, stencil), walked) in axes.iter().zip(&stencils).zip(&outs) {
            let mut expected = ArrayD::zeros(f.raw_dim());
            reference::gradient_axis::<F64>(f.view(), expected.view_mut(), axis, stencil);
            let same = expected
                .iter()
                .zip(walked.iter())
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(
                same,
                "shape {shape:?} axis {axis} threads {threads} parts {parts}"
            );
        }
    }

    #[test]
    fn the_walk_matches_the_reference_on_small_shapes() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut compared = 0;
        for _ in 0..1500 {
            let ndim = 1 + rng.below(4);
            let shape: Vec<usize> = (0..ndim)
                .map(|_| match rng.below(4) {
                    0 => 1 + rng.below(3),
                    1 => 3 + rng.below(8),
                    _ => 30 + rng.below(45),
                })
                .collect();
            if shape.iter().product::<usize>() > 40_000 {
                continue;
            }
            let threads = 1 + rng.below(2);
            let parts = rng.below(2) == 0;
            compare(&mut rng, &shape, threads, parts);
            compared += 1;
        }
        assert!(compared >= 600, "only {compared} shapes compared");
    }

    #[test]
    fn the_walk_matches_when_split_between_threads() {
        let mut rng = Rng(12345);
        for shape in [
            vec![100_003],
            vec![3, 40_001],
            vec![40_001, 3],
            vec![257, 129],
            vec![2, 2, 20_000],
            vec![70, 9, 65],
            vec![9000, 2, 3],
        ] {
            for _ in 0..3 {
                compare(&mut rng, &shape, 2, false);
                compare(&mut rng, &shape, 3, true);
            }
        }
    }

    #[test]
    fn empty_parts_write_nothing() {
        // Found by the fuzz target: an empty part of a 1-D array once wrote out of bounds.
        let f = Array1::from(vec![1.0, 4.0, 9.0, 16.0, 25.0]).into_dyn();
        let stencil = Stencil::numpy_scalar(5, 1.0, EdgeOrder::First).unwrap();
        for part in [0..0, 5..5, 7..9] {
            let mut out = ArrayD::from_elem(f.raw_dim(), 7.0);
            let outputs = vec![Output {
                axis: 0,
                stencil: &stencil,
                out: out.view_mut(),
            }];
            gradient_part::<F64>(f.view(), outputs, part, Execution::Serial).unwrap();
            assert!(out.iter().all(|&v| v == 7.0));
        }
    }

    #[test]
    fn zero_size_no_outputs_and_misfits() {
        let f = ArrayD::<f64>::zeros(IxDyn(&[0, 5]));
        let s = Stencil::numpy_scalar(5, 1.0, EdgeOrder::First).unwrap();
        let mut out = f.clone();
        let outputs = vec![Output {
            axis: 1,
            stencil: &s,
            out: out.view_mut(),
        }];
        gradient::<F64>(f.view(), outputs, Execution::Serial).unwrap();
        gradient::<F64>(f.view(), vec![], Execution::Serial).unwrap();
        let outputs = vec![Output {
            axis: 0,
            stencil: &s,
            out: out.view_mut(),
        }];
        assert_eq!(
            gradient::<F64>(f.view(), outputs, Execution::Serial).unwrap_err(),
            GradientError::StencilMismatch {
                stencil: 5,
                length: 0
            }
        );
        let mut wrong = ArrayD::<f64>::zeros(IxDyn(&[5]));
        let outputs = vec![Output {
            axis: 1,
            stencil: &s,
            out: wrong.view_mut(),
        }];
        assert_eq!(
            gradient::<F64>(f.view(), outputs, Execution::Serial).unwrap_err(),
            GradientError::ShapeMismatch
        );
    }
}
