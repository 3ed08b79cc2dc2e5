//! COMBINEDAPACHELOG to compact JSON through the public `Chain`, one core.
//!
//! `cargo bench -p firetail-process --bench logtojson`; the throughput line reports
//! lines per second (elements/s).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use firetail_process::{Chain, Outcome};

fn lines(n: usize) -> Vec<Vec<u8>> {
    const AGENTS: [&str; 3] = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
        "curl/7.64.1",
        "Mozilla/4.08 [en] (Win98; I ;Nav)",
    ];
    const PATHS: [&str; 3] = [
        "/index.html",
        "/download/file.tar.gz?q=kinesis&page=2",
        "/api/v1/items/12345",
    ];
    (0..n)
        .map(|i| {
            format!(
                "10.{}.{}.{} - {} [{:02}/Oct/2025:{:02}:{:02}:{:02} +0100] \"GET {} HTTP/1.1\" {} {} \"{}\" \"{}\"\n",
                i % 256,
                (i / 7) % 256,
                (i / 13) % 256,
                if i % 3 == 0 { "frank" } else { "-" },
                1 + i % 28,
                i % 24,
                i % 60,
                (i * 7) % 60,
                PATHS[i % 3],
                [200, 304, 404, 500][i % 4],
                (i * 37) % 100_000,
                if i % 2 == 0 { "-" } else { "http://www.example.com/start.html" },
                AGENTS[i % 3],
            )
            .into_bytes()
        })
        .collect()
}

fn combined_to_compact_json(c: &mut Criterion) {
    let options =
        serde_json::json!([{"optionName": "LOGTOJSON", "logFormat": "COMBINEDAPACHELOG"}]);
    let chain = match Chain::from_options(&options) {
        Ok(chain) => chain,
        Err(e) => panic!("bench options rejected: {e}"),
    };
    let input = lines(10_000);
    let mut out = Vec::with_capacity(4096);
    let mut group = c.benchmark_group("logtojson");
    group.throughput(Throughput::Elements(input.len() as u64));
    group.bench_function("combined_compact_10k_lines", |b| {
        b.iter(|| {
            let mut converted = 0usize;
            for line in &input {
                if chain.process(line, &mut out) == Outcome::Converted {
                    converted += out.len();
                }
            }
            converted
        })
    });
    group.finish();
}

criterion_group!(benches, combined_to_compact_json);
criterion_main!(benches);
