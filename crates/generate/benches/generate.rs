//! Generator throughput: the pure line model, and a whole `--rate max` run into a file.
//! Run: `CARGO_TARGET_DIR=/work/targets/generate cargo bench -p firetail-generate`

use std::sync::atomic::AtomicBool;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use firetail_generate::{run_config, GeneratorConfig, LineGenerator, Rate, Realism};

fn line_generator(c: &mut Criterion) {
    let mut group = c.benchmark_group("line_generator");
    const BATCH: u64 = 10_000;
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("write_line_combined", |b| {
        let mut g = LineGenerator::new(1, &Realism::default());
        let mut out = Vec::with_capacity(4 << 20);
        let mut t = 1_795_611_912_000i64;
        b.iter(|| {
            out.clear();
            for _ in 0..BATCH {
                t += 1;
                g.write_line_ms(t, &mut out);
            }
            out.len()
        });
    });
    group.finish();
}

fn run_to_file(c: &mut Criterion) {
    let mut group = c.benchmark_group("run");
    const LINES: u64 = 200_000;
    group.throughput(Throughput::Elements(LINES));
    group.sample_size(10);
    let dir = std::env::temp_dir().join("firetail-generate-bench");
    std::fs::create_dir_all(&dir).ok();
    let path = dir.join("bench.log");
    group.bench_function("max_rate_to_file", |b| {
        b.iter(|| {
            std::fs::remove_file(&path).ok();
            let mut cfg = GeneratorConfig::new(&path, Rate::Max);
            cfg.count = Some(LINES);
            cfg.start_time_ms = Some(1_795_611_912_000);
            run_config(&cfg, &AtomicBool::new(false))
                .map(|s| s.lines)
                .unwrap_or(0)
        });
    });
    group.finish();
    std::fs::remove_dir_all(&dir).ok();
}

criterion_group!(benches, line_generator, run_to_file);
criterion_main!(benches);
