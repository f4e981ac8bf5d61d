//! Criterion benchmarks of the pipeline stages on a generated log held in memory (one core):
//! framing alone, framing + parsing, and the whole ingest into the aggregates.
//!
//!   cargo bench --bench pipeline

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lmtally::core::merge::{MemSource, Tally};
use lmtally::core::{FileIngest, Options};
use lmtally::gen::{generate, GenConfig};
use lmtally_parsers::{parse_line, Framed, Framer};
use std::hint::black_box;

fn log() -> Vec<u8> {
    generate(GenConfig {
        seed: 1,
        users: 100_000,
        hosts: 100_000,
        days: 0,
        target_bytes: 64 << 20,
        ..GenConfig::default()
    })
}

fn stages(c: &mut Criterion) {
    let data = log();
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    g.bench_function("frame", |b| {
        b.iter(|| {
            let mut n = 0u64;
            let mut f = Framer::new();
            for chunk in data.chunks(1 << 20) {
                f.feed(chunk, &mut |l| {
                    if let Framed::Line(l) = l {
                        n += l.len() as u64;
                    }
                });
            }
            black_box(n)
        })
    });
    g.bench_function("frame+parse", |b| {
        b.iter(|| {
            let mut n = 0u64;
            let mut f = Framer::new();
            for chunk in data.chunks(1 << 20) {
                f.feed(chunk, &mut |l| {
                    if let Framed::Line(l) = l {
                        if let Some(line) = parse_line(l) {
                            n += line.time as u64;
                        }
                    }
                });
            }
            black_box(n)
        })
    });
    g.bench_function("ingest", |b| {
        b.iter(|| {
            let mut t = Tally::new(Options::default());
            let mut src = [MemSource::new(data.chunks(1 << 20).collect())];
            let mut files = [FileIngest::new()];
            t.ingest_server(0, &mut src, &mut files).unwrap();
            black_box(t.agg.days.len())
        })
    });
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
