//! Request parsing speed: a `PutRecordBatch` body of 500 × 200-byte records, parsed, validated
//! and base64-decoded into a reused buffer. Throughput is in decoded payload bytes.
//!
//! Run: `cargo bench -p firetail-local-firehose --bench parse`
#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use firetail_local_firehose::batch::decode_put_record_batch;

fn batch_body(records: usize, size: usize) -> Vec<u8> {
    let data = base64::engine::general_purpose::STANDARD.encode(vec![b'x'; size]);
    let mut body = String::from(r#"{"DeliveryStreamName":"bench","Records":["#);
    for i in 0..records {
        if i > 0 {
            body.push(',');
        }
        body.push_str(r#"{"Data":""#);
        body.push_str(&data);
        body.push_str(r#""}"#);
    }
    body.push_str("]}");
    body.into_bytes()
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("put_record_batch");
    for (records, size) in [(500, 200), (500, 8000)] {
        let body = batch_body(records, size);
        let mut scratch = Vec::new();
        group.throughput(Throughput::Bytes((records * size) as u64));
        group.bench_function(format!("{records}x{size}B"), |b| {
            b.iter(|| {
                let put = decode_put_record_batch(black_box(&body), &mut scratch).unwrap();
                black_box(put.records.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
