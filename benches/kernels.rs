//! Criterion benches of the Rust kernels alone (no Python): `cargo bench --no-default-features`.
//!
//! Each case writes into preallocated outputs, so page faults of fresh memory are not counted;
//! the Python harness (`benches/compare.py`) measures whole calls against NumPy.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndarray::{Array1, ArrayD, IxDyn};
use ndgradient::threads::{self, PARALLEL_THRESHOLD};
use ndgradient::walk::{gradient, Output};
use ndgradient::{EdgeOrder, Promotion, Stencil, Steps};
use std::hint::black_box;

fn field(shape: &[usize]) -> ArrayD<f64> {
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    ArrayD::from_shape_fn(IxDyn(shape), |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 10_000) as f64 / 100.0
    })
}

fn run(f: &ArrayD<f64>, outs: &mut [ArrayD<f64>], stencils: &[Stencil<'_, f64>], workers: usize) {
    let outputs = outs
        .iter_mut()
        .zip(stencils)
        .enumerate()
        .map(|(axis, (out, stencil))| Output {
            axis,
            stencil,
            out: out.view_mut(),
        })
        .collect();
    let elements = f.len().max(PARALLEL_THRESHOLD);
    threads::run(workers, elements, |execution| {
        gradient::<Promotion<f64, f64, f64>>(black_box(f.view()), outputs, execution)
    })
    .unwrap()
    .0
    .unwrap();
}

fn kernels(c: &mut Criterion) {
    let mut group = c.benchmark_group("gradient");
    group.sample_size(20);
    for shape in [vec![10_000_000], vec![4096, 4096], vec![256, 256, 256]] {
        let f = field(&shape);
        let mut outs = vec![ArrayD::zeros(f.raw_dim()); shape.len()];
        let stencils: Vec<_> = shape
            .iter()
            .map(|&n| Stencil::<f64>::numpy_scalar(n, 1.0, EdgeOrder::First).unwrap())
            .collect();
        let bytes = (f.len() * 8 * (1 + shape.len())) as u64;
        group.throughput(Throughput::Bytes(bytes));
        for workers in [1, 2] {
            let id = BenchmarkId::new(format!("{shape:?} all axes"), format!("{workers} threads"));
            group.bench_function(id, |b| b.iter(|| run(&f, &mut outs, &stencils, workers)));
        }
    }
    let n = 10_000_000;
    let f = field(&[n]);
    let x = Array1::from_iter((0..n).map(|i| i as f64 + (i % 7) as f64 * 0.1));
    let serial = threads::Execution::Serial;
    let coordinates =
        vec![
            Stencil::numpy_coordinates(x.view(), EdgeOrder::First, Steps::Checked, serial).unwrap(),
        ];
    let mut outs = vec![ArrayD::zeros(f.raw_dim())];
    group.throughput(Throughput::Bytes((n * 8 * 3) as u64));
    group.bench_function("coordinates 1e7, 2 threads", |b| {
        b.iter(|| run(&f, &mut outs, &coordinates, 2))
    });
    group.finish();
}

criterion_group!(benches, kernels);
criterion_main!(benches);
