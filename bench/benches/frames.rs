//! Micro-benchmarks of the peer wire codec (replication::wire): encoding and decoding a
//! Proposal of 1, 16 and 128 entries of 100-byte payloads, and a Vote. Decoding is measured
//! twice: the in-place view (crc, verifier, kind checks) and the conversion to a `Message`,
//! which copies each payload once into its `Arc<[u8]>`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ringkeeper_replication::wire::{view_frame, Encoder, OutFrame, FRAME_BYTES_LIMIT};
use ringkeeper_replication::{Entry, Message, Vote, VoterState};
use std::hint::black_box;
use std::sync::Arc;

fn proposal(n: usize) -> Message {
    Message::Proposal {
        epoch: 7,
        entries: (0..n)
            .map(|i| Entry {
                zxid: (7 << 32) + i as i64 + 1,
                payload: Arc::from(vec![i as u8; 100]),
            })
            .collect(),
    }
}

fn bench_message(c: &mut Criterion, name: &str, m: &Message) {
    let mut group = c.benchmark_group(format!("frames/{name}"));
    let mut encoder = Encoder::new();
    let mut out = Vec::new();
    encoder
        .encode_into(&OutFrame::Message(m), FRAME_BYTES_LIMIT, &mut out)
        .expect("encodes");
    let frame = out.clone();
    group.throughput(Throughput::Bytes(frame.len() as u64));
    group.bench_function("encode", |b| {
        b.iter(|| {
            out.clear();
            encoder
                .encode_into(
                    &OutFrame::Message(black_box(m)),
                    FRAME_BYTES_LIMIT,
                    &mut out,
                )
                .expect("encodes");
            black_box(out.len())
        })
    });
    group.bench_function("decode_view", |b| {
        b.iter(|| {
            let view = view_frame(black_box(&frame), FRAME_BYTES_LIMIT).expect("decodes");
            black_box(view.kind())
        })
    });
    group.bench_function("decode_message", |b| {
        b.iter(|| {
            let view = view_frame(black_box(&frame), FRAME_BYTES_LIMIT).expect("decodes");
            black_box(view.to_message())
        })
    });
    group.finish();
}

fn frames(c: &mut Criterion) {
    for n in [1, 16, 128] {
        bench_message(c, &format!("proposal_{n}x100B"), &proposal(n));
    }
    let vote = Message::Vote {
        round: 12,
        vote: Vote {
            epoch: 7,
            zxid: (7 << 32) + 1000,
            leader: 3,
        },
        state: VoterState::Looking,
    };
    bench_message(c, "vote", &vote);
}

criterion_group!(benches, frames);
criterion_main!(benches);
