//! Criterion benchmarks of the codec: encode and decode of PUBLISH QoS 0 and 1 to
//! `chat/room/42` with 16 B to 64 KiB payloads, whole buffer and in random 1-1400 byte
//! chunks. Throughput is reported in packets/s (elements) and bytes/s.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

mod workload;
use workload::{Case, PAYLOADS};

fn codec(c: &mut Criterion) {
    for qos in [0u8, 1] {
        for payload in PAYLOADS {
            // Smaller streams than the side-by-side run keep criterion's sampling short.
            let case = Case::new(qos, payload, 1 << 20, 100);
            let name = format!("qos{qos}/{payload}B");
            let bytes = case.stream.len() as u64;
            let mut group = c.benchmark_group(format!("decode/{name}"));
            group.sample_size(20);
            for elements in [true, false] {
                group.throughput(if elements {
                    Throughput::Elements(case.packets as u64)
                } else {
                    Throughput::Bytes(bytes)
                });
                let unit = if elements { "packets" } else { "bytes" };
                group.bench_function(format!("whole/{unit}"), |b| b.iter(|| case.decode_whole()));
                group.bench_function(format!("chunked/{unit}"), |b| {
                    b.iter(|| case.decode_chunked())
                });
            }
            group.finish();
            let mut group = c.benchmark_group(format!("encode/{name}"));
            group.sample_size(20);
            group.throughput(Throughput::Elements(case.packets as u64));
            group.bench_function("packets", |b| b.iter(|| case.encode_each()));
            group.throughput(Throughput::Bytes(bytes));
            group.bench_function("bytes", |b| b.iter(|| case.encode_each()));
            group.finish();
        }
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);
