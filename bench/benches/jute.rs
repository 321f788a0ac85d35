//! Micro-benchmarks of the client-protocol codec on the shapes that dominate real traffic:
//! a getData request, a getData reply carrying 100 bytes, a create request, and a 10-op
//! multi. Each is measured both ways, since the server decodes requests and encodes replies
//! while the load generator does the opposite.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ringkeeper_engine::jute::records::{
    decode_request_frame, decode_response, encode_reply, encode_request, CreateRequest,
    DeleteRequest, GetDataRequest, GetDataResponse, MultiOp, ReplyHeader, Request, Response,
    SetDataRequest,
};
use ringkeeper_engine::jute::{Decode, Reader};
use ringkeeper_engine::{Acl, ErrorCode, OpCode, Stat};
use std::hint::black_box;

fn stat() -> Stat {
    Stat {
        czxid: 0x1_0000_0010,
        mzxid: 0x1_0000_0020,
        ctime: 1_700_000_000_000,
        mtime: 1_700_000_000_500,
        version: 3,
        cversion: 0,
        aversion: 0,
        ephemeral_owner: 0,
        data_length: 100,
        num_children: 0,
        pzxid: 0x1_0000_0010,
    }
}

fn get_data() -> Request {
    Request::GetData(GetDataRequest {
        path: "/app/config/service-a/endpoint".into(),
        watch: true,
    })
}

fn create() -> Request {
    Request::Create(CreateRequest {
        path: "/app/locks/lock-".into(),
        data: Some(vec![0x5a; 64]),
        acl: Acl::open_unsafe(),
        flags: 3,
    })
}

fn multi() -> Request {
    let ops = (0..10)
        .map(|i| match i % 3 {
            0 => MultiOp::Create(CreateRequest {
                path: format!("/app/queue/item-{i}"),
                data: Some(vec![1; 32]),
                acl: Acl::open_unsafe(),
                flags: 0,
            }),
            1 => MultiOp::SetData(SetDataRequest {
                path: format!("/app/state/{i}"),
                data: Some(vec![2; 32]),
                version: -1,
            }),
            _ => MultiOp::Delete(DeleteRequest {
                path: format!("/app/old/{i}"),
                version: -1,
            }),
        })
        .collect();
    Request::Multi(ops)
}

fn bench_requests(c: &mut Criterion) {
    let mut group = c.benchmark_group("jute/request");
    for (name, req) in [
        ("get_data", get_data()),
        ("create", create()),
        ("multi_10", multi()),
    ] {
        let frame = encode_request(42, &req);
        group.throughput(Throughput::Bytes(frame.len() as u64));
        group.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| encode_request(black_box(42), black_box(&req)))
        });
        group.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| decode_request_frame(black_box(&frame[4..])).map(|(_, r)| r))
        });
    }
    group.finish();
}

fn bench_replies(c: &mut Criterion) {
    let mut group = c.benchmark_group("jute/reply");
    let body = Response::GetData(GetDataResponse {
        data: Some(vec![0xab; 100]),
        stat: stat(),
    });
    let frame = encode_reply(42, 0x1_0000_0020, ErrorCode::Ok, &body);
    group.throughput(Throughput::Bytes(frame.len() as u64));
    group.bench_function("encode/get_data_100b", |b| {
        b.iter(|| {
            encode_reply(
                black_box(42),
                black_box(0x1_0000_0020),
                ErrorCode::Ok,
                &body,
            )
        })
    });
    group.bench_function("decode/get_data_100b", |b| {
        b.iter(|| {
            let mut r = Reader::new(black_box(&frame[4..]));
            let header = ReplyHeader::decode(&mut r)?;
            decode_response(OpCode::GetData, &mut r).map(|resp| (header, resp))
        })
    });
    group.finish();
}

criterion_group!(benches, bench_requests, bench_replies);
criterion_main!(benches);
