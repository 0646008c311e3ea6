//! Criterion benchmark of the subscription trie with 100,000 filters: lookups of mixed
//! topics (chat rooms, metrics, sensors, devices, shared jobs, catch-alls).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mqttwire::topic::{SubscriptionTrie, TopicFilter};

fn filters() -> Vec<String> {
    let mut filters = Vec::with_capacity(100_000);
    filters.extend((0..40_000).map(|i| format!("chat/rooms/{i}/#")));
    filters.extend((0..30_000).map(|i| format!("metrics/host{i}/+/cpu")));
    filters.extend((0..10_000).map(|i| format!("sensors/+/{i}/temp")));
    filters.extend((0..10_000).map(|i| format!("devices/{i}/+/+/status")));
    filters.extend((0..9_990).map(|i| format!("$share/g{}/jobs/{i}/+", i % 10)));
    filters.extend(
        [
            "#",
            "+/+/cpu",
            "chat/#",
            "+/rooms/+/#",
            "metrics/+/+/+",
            "$SYS/#",
            "+/+/+/temp",
        ]
        .into_iter()
        .chain(["devices/#", "sensors/#", "jobs/+/+"])
        .map(String::from),
    );
    filters
}

fn topics() -> Vec<String> {
    (0..10_000u32)
        .map(|k| {
            let n = k.wrapping_mul(7919) % 50_000;
            match k % 6 {
                0 => format!("chat/rooms/{n}/messages"),
                1 => format!("metrics/host{n}/eth0/cpu"),
                2 => format!("sensors/kitchen/{n}/temp"),
                3 => format!("devices/{n}/a/b/status"),
                4 => format!("jobs/{n}/run"),
                _ => format!("nomatch/{n}/x/y/z"),
            }
        })
        .collect()
}

fn trie(c: &mut Criterion) {
    let filters = filters();
    let mut group = c.benchmark_group("trie/100k-filters");
    group.sample_size(10);
    group.bench_function("build", |b| {
        b.iter(|| {
            let mut trie = SubscriptionTrie::new();
            for (i, f) in filters.iter().enumerate() {
                trie.insert(&TopicFilter::new(f.as_str()).expect("valid"), i as u32);
            }
            trie
        })
    });
    let mut trie = SubscriptionTrie::new();
    for (i, f) in filters.iter().enumerate() {
        trie.insert(&TopicFilter::new(f.as_str()).expect("valid"), i as u32);
    }
    let topics = topics();
    group.sample_size(30);
    group.throughput(Throughput::Elements(topics.len() as u64));
    group.bench_function("lookup", |b| {
        b.iter(|| {
            let mut matched = 0usize;
            for topic in &topics {
                trie.for_each_match(black_box(topic), |_, _| matched += 1);
            }
            matched
        })
    });
    group.finish();
}

criterion_group!(benches, trie);
criterion_main!(benches);
