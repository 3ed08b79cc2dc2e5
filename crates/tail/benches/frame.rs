//! Framer throughput on 200-byte access-log-like lines (one core, no I/O).
//!
//! `cargo bench -p firetail-tail --bench frame`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use firetail_tail::frame::{Frame, Framer, FramingConfig};

fn lines(total: usize) -> Vec<u8> {
    let mut data = Vec::with_capacity(total + 256);
    let mut i = 0u64;
    while data.len() < total {
        let prefix = format!(
            "10.0.{}.{} - - [25/Nov/2026:10:00:00 +0000] \"GET /item/{i} HTTP/1.1\" 200 {} ",
            i % 256,
            i % 200,
            i * 7 % 90_000
        );
        data.extend_from_slice(prefix.as_bytes());
        data.resize(data.len() + (199 - prefix.len()), b'a');
        data.push(b'\n');
        i += 1;
    }
    data
}

fn bench_single_line(c: &mut Criterion) {
    let data = lines(16 << 20);
    let rules = FramingConfig::firehose().compile().unwrap();
    let mut group = c.benchmark_group("frame");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("single_line_200B", |b| {
        let mut out: Vec<Frame> = Vec::with_capacity(100_000);
        b.iter(|| {
            let mut framer = Framer::new(rules.clone(), 0);
            let mut records = 0usize;
            // The tailer's read size: records come out per read, like in production.
            for chunk in data.chunks(256 * 1024) {
                framer.push(chunk, &mut out);
                records += out.len();
                out.clear();
            }
            black_box(records)
        });
    });
    group.finish();
}

criterion_group!(benches, bench_single_line);
criterion_main!(benches);
