//! The Rust half of the side-by-side codec benchmark against npm mqtt-packet
//! (`bench/codec/run.mjs` runs both). It follows `bench/codec/WORKLOAD.md` exactly and
//! prints one JSON document in the same schema as `bench/codec/mqtt-packet.mjs`.
//!
//! `cargo run --release -p mqttwire --example codec_bench -- [--runs K] [--quick] [--payload N]`
//! (`--payload` measures one payload size only, for profiling).

use std::time::Instant;

#[path = "../benches/workload/mod.rs"]
mod workload;
use workload::{Case, PAYLOADS};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(10)
        .max(5);
    let only: Option<usize> = args
        .iter()
        .position(|a| a == "--payload")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok());
    let payloads: Vec<usize> = PAYLOADS
        .into_iter()
        .filter(|p| only.is_none_or(|o| o == *p))
        .collect();
    let (target, min_packets) = if quick {
        (256 << 10, 100)
    } else {
        (4 << 20, 1000)
    };
    let mut results = Vec::new();
    for qos in [0u8, 1] {
        for &payload in &payloads {
            let case = Case::new(qos, payload, target, min_packets);
            let expect = (case.packets, case.packets * payload);
            assert_eq!(case.decode_whole(), expect, "whole-buffer decode check");
            assert_eq!(case.decode_chunked(), expect, "chunked decode check");
            assert_eq!(case.encode_each(), case.stream.len(), "encode check");
            let ops: [(&str, &str, &dyn Fn() -> bool); 3] = [
                ("decode", "whole", &|| case.decode_whole() == expect),
                ("decode", "chunked", &|| case.decode_chunked() == expect),
                ("encode", "whole", &|| {
                    case.encode_each() == case.stream.len()
                }),
            ];
            for (op, mode, run) in ops {
                let mut rates = Vec::new();
                for i in 0..=runs {
                    let start = Instant::now();
                    let ok = run();
                    let secs = start.elapsed().as_secs_f64();
                    assert!(ok, "{op}/{mode} produced wrong counts");
                    if i > 0 {
                        rates.push(case.packets as f64 / secs);
                    }
                }
                let mut sorted = rates.clone();
                sorted.sort_by(f64::total_cmp);
                let n = sorted.len();
                let median = if n % 2 == 1 {
                    sorted[n / 2]
                } else {
                    (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
                };
                results.push(format!(
                    concat!(
                        "{{\"op\":\"{}\",\"qos\":{},\"payload\":{},\"mode\":\"{}\",",
                        "\"packets_per_sec\":{:.0},\"mb_per_sec\":{:.2},\"runs\":[{}],",
                        "\"median\":{:.0},\"min\":{:.0},\"max\":{:.0},\"packets\":{},\"wire_size\":{}}}"
                    ),
                    op,
                    qos,
                    payload,
                    mode,
                    median,
                    median * case.wire_size as f64 / 1e6,
                    rates.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(","),
                    median,
                    sorted[0],
                    sorted[n - 1],
                    case.packets,
                    case.wire_size
                ));
            }
        }
    }
    // Floors, for both QoS and every payload: what any codec must do at least.
    // copy-chunks, under a decoder that hands out contiguous payloads from chunked input:
    // copying every chunk once into per-packet buffers, and nothing else. alloc-copy, under
    // an encoder that returns each packet as one buffer (as mqtt-packet's generate() does):
    // a fresh buffer per packet and a copy of its wire bytes into it, and nothing else.
    let mut floors = Vec::new();
    for qos in [0u8, 1] {
        for &payload in &payloads {
            let case = Case::new(qos, payload, target, min_packets);
            let floor_ops: [(&str, Floor); 2] =
                [("copy-chunks", copy_chunks), ("alloc-copy", alloc_copy)];
            for (op, floor) in floor_ops {
                let mut rates = Vec::new();
                for i in 0..=runs {
                    let start = Instant::now();
                    let copied = floor(&case);
                    let secs = start.elapsed().as_secs_f64();
                    assert_eq!(copied, case.stream.len());
                    if i > 0 {
                        rates.push(case.packets as f64 / secs);
                    }
                }
                rates.sort_by(f64::total_cmp);
                floors.push(format!(
                    concat!(
                        "{{\"op\":\"{}\",\"qos\":{},\"payload\":{},\"packets_per_sec\":{:.0},",
                        "\"gb_per_sec\":{:.2}}}"
                    ),
                    op,
                    qos,
                    payload,
                    rates[rates.len() / 2],
                    rates[rates.len() / 2] * case.wire_size as f64 / 1e9
                ));
            }
        }
    }
    println!(
        "{{\"tool\":\"mqttwire\",\"version\":\"{}\",\"quick\":{},\"results\":[{}],\"floors\":[{}]}}",
        env!("CARGO_PKG_VERSION"),
        quick,
        results.join(","),
        floors.join(",")
    );
}

/// Copies the chunks into one exactly sized buffer per packet, as any decoder returning
/// contiguous payloads must; returns the bytes copied.
/// A floor measurement: the bytes it copied.
type Floor = fn(&Case) -> usize;

/// One packet's wire bytes copied into a fresh buffer, once per packet of the case (from
/// the same source each time, as an encoder copies the same payload each time).
fn alloc_copy(case: &Case) -> usize {
    let mut total = 0;
    let packet = &case.stream[..case.wire_size];
    for _ in 0..case.packets {
        let mut out = bytes::BytesMut::with_capacity(case.wire_size);
        out.extend_from_slice(packet);
        total += out.len();
        std::hint::black_box(&out);
    }
    total
}

fn copy_chunks(case: &Case) -> usize {
    let mut total = 0;
    let mut current: Vec<u8> = Vec::with_capacity(case.wire_size);
    for chunk in &case.chunks {
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            let n = rest.len().min(case.wire_size - current.len());
            current.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if current.len() == case.wire_size {
                total += current.len();
                std::hint::black_box(&current);
                current = Vec::with_capacity(case.wire_size);
            }
        }
    }
    total
}
