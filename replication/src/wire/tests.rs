//! Round trips of every frame kind from a seeded generator, and every way a frame can be bad.

use super::*;
use crate::config::Membership;

/// xorshift64*: the crate's tests never use an unseeded random source.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Mostly edge values (0, 1, max), which default-omission in flatbuffers treats specially.
    fn u64(&mut self) -> u64 {
        match self.below(4) {
            0 => 0,
            1 => u64::MAX,
            2 => self.below(16),
            _ => self.next(),
        }
    }
    fn u32(&mut self) -> u32 {
        self.u64() as u32
    }
    fn i64(&mut self) -> i64 {
        match self.below(5) {
            0 => -1,
            1 => i64::MIN,
            _ => self.u64() as i64,
        }
    }
    fn bytes(&mut self, max: u64) -> Vec<u8> {
        let n = self.below(max + 1) as usize;
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn entries(&mut self) -> Vec<Entry> {
        let n = self.below(6);
        (0..n)
            .map(|_| Entry {
                zxid: self.i64(),
                payload: Arc::from(self.bytes(300)),
            })
            .collect()
    }
}

/// One random message of kind `k` (0..12, every `Message` variant).
fn message(rng: &mut Rng, k: u64) -> Message {
    match k {
        0 => Message::Vote {
            round: rng.u64(),
            vote: Vote {
                epoch: rng.u32(),
                zxid: rng.i64(),
                leader: rng.u64(),
            },
            state: [
                VoterState::Looking,
                VoterState::Following,
                VoterState::Leading,
                VoterState::Observing,
            ][rng.below(4) as usize],
        },
        1 => Message::FollowerInfo {
            attempt: rng.u64(),
            accepted_epoch: rng.u32(),
            // Some(0) must survive: an optional scalar is not the same as its default.
            accepted_leader: match rng.below(3) {
                0 => None,
                1 => Some(0),
                _ => Some(rng.u64()),
            },
            last_zxid: rng.i64(),
        },
        2 => Message::NewEpoch {
            epoch: rng.u32(),
            attempt: rng.u64(),
        },
        3 => Message::AckEpoch {
            epoch: rng.u32(),
            attempt: rng.u64(),
            current_epoch: rng.u32(),
            last_zxid: rng.i64(),
        },
        4 => {
            let data = rng.bytes(5000);
            let offset = rng.below(1 << 40);
            Message::SnapshotChunk {
                epoch: rng.u32(),
                attempt: rng.u64(),
                zxid: rng.i64(),
                offset,
                total: offset + data.len() as u64 + rng.below(3),
                data: Arc::from(data),
            }
        }
        12 => Message::SnapshotAck {
            epoch: rng.u32(),
            attempt: rng.u64(),
            zxid: rng.i64(),
            received: rng.u64(),
        },
        5 => Message::Sync {
            epoch: rng.u32(),
            attempt: rng.u64(),
            mode: [SyncMode::Diff, SyncMode::Trunc, SyncMode::Snap][rng.below(3) as usize],
            prev: rng.i64(),
            entries: rng.entries(),
            committed: rng.i64(),
            config: if rng.below(2) == 0 {
                None
            } else {
                Some(SyncConfig {
                    active: Membership {
                        version: rng.i64(),
                        voters: (0..rng.below(6)).map(|_| rng.u64()).collect(),
                        observers: (0..rng.below(3)).map(|_| rng.u64()).collect(),
                    },
                    observer: rng.below(2) == 1,
                })
            },
        },
        6 => Message::UpToDate {
            epoch: rng.u32(),
            committed: rng.i64(),
        },
        7 => Message::Proposal {
            epoch: rng.u32(),
            entries: rng.entries(),
        },
        8 => Message::Ack {
            epoch: rng.u32(),
            zxid: rng.i64(),
        },
        9 => Message::Commit {
            epoch: rng.u32(),
            zxid: rng.i64(),
        },
        10 => Message::Ping {
            epoch: rng.u32(),
            committed: rng.i64(),
            last_zxid: rng.i64(),
        },
        _ => Message::Resync { epoch: rng.u32() },
    }
}

/// Sends a message the way the transport does and decodes it back through a stream decoder
/// fed in random pieces.
fn round_trip_message(rng: &mut Rng, m: &Message) -> Message {
    let mut enc = Encoder::new();
    let mut wire = Vec::new();
    enc.encode_into(&OutFrame::Message(m), 1 << 20, &mut wire)
        .unwrap();
    let mut dec = FrameDecoder::new(1 << 20);
    let mut got = Vec::new();
    let mut at = 0;
    while at < wire.len() {
        let n = (1 + rng.below(700) as usize).min(wire.len() - at);
        dec.feed(&wire[at..at + n]);
        at += n;
        while let Some(view) = dec.next_frame().unwrap() {
            got.push(view.to_message().expect("a protocol message"));
        }
    }
    assert_eq!(dec.buffered(), 0);
    assert_eq!(got.len(), 1, "{m:?}");
    got.pop().unwrap()
}

#[test]
fn every_message_kind_round_trips() {
    for seed in 1..=400u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        for k in 0..13 {
            let m = message(&mut rng, k);
            assert_eq!(round_trip_message(&mut rng, &m), m, "seed {seed}");
            // decode_frame of a single frame agrees with the stream path.
            let bytes = encode(&OutFrame::Message(&m)).unwrap();
            assert_eq!(decode_frame(&bytes).unwrap(), InFrame::Message(m));
        }
    }
}

#[test]
fn hello_app_and_chunk_round_trip() {
    let hello = Hello::new(7, PROTOCOL_VERSION);
    let bytes = encode(&OutFrame::Hello(&hello)).unwrap();
    assert_eq!(decode_frame(&bytes).unwrap(), InFrame::Hello(hello));
    assert_eq!(view_frame(&bytes, 1024).unwrap().kind(), FrameKind::Hello);

    for data in [&b""[..], b"x", &[0u8; 4096][..]] {
        let bytes = encode(&OutFrame::App(data)).unwrap();
        let view = view_frame(&bytes, 1 << 20).unwrap();
        assert_eq!(view.app_data(), Some(data));
        assert_eq!(view.to_message(), None);
        assert_eq!(decode_frame(&bytes).unwrap(), InFrame::App(data.to_vec()));
    }

    let chunk = Message::SnapshotChunk {
        epoch: 3,
        attempt: 9,
        zxid: 77,
        offset: 5,
        total: 12,
        data: Arc::from(&b"abcdefg"[..]),
    };
    let bytes = encode(&OutFrame::Message(&chunk)).unwrap();
    let view = view_frame(&bytes, 1 << 20).unwrap();
    assert_eq!(view.kind(), FrameKind::SnapshotChunk);
    let FrameView::SnapshotChunk(c) = view else {
        panic!("{view:?}");
    };
    // `last` is set on the chunk that reaches the total (informative only).
    assert!(c.last());
    assert_eq!(decode_frame(&bytes).unwrap(), InFrame::Message(chunk));
}

#[test]
fn entries_are_read_in_place() {
    let m = Message::Proposal {
        epoch: 1,
        entries: vec![
            Entry {
                zxid: 10,
                payload: Arc::from(&b"first"[..]),
            },
            Entry {
                zxid: 11,
                payload: Arc::from(&b"second"[..]),
            },
        ],
    };
    let bytes = encode(&OutFrame::Message(&m)).unwrap();
    let view = view_frame(&bytes, 1 << 20).unwrap();
    let entries = view.entries().unwrap();
    assert_eq!(entries.len(), 2);
    let range = bytes.as_ptr_range();
    for ((zxid, payload), want) in entries.iter().zip([(10, &b"first"[..]), (11, b"second")]) {
        assert_eq!((zxid, payload), want);
        // The payload slice points into the frame: no copy was made to read it.
        assert!(range.contains(&payload.as_ptr()));
    }
}

#[test]
fn corrupted_byte_fails_the_crc() {
    let m = Message::Ack { epoch: 4, zxid: 99 };
    let bytes = encode(&OutFrame::Message(&m)).unwrap();
    for i in FRAME_HEADER_BYTES..bytes.len() {
        for bit in 0..8 {
            let mut bad = bytes.clone();
            bad[i] ^= 1 << bit;
            assert!(
                matches!(decode_frame(&bad), Err(WireError::Checksum { .. })),
                "byte {i} bit {bit}"
            );
        }
    }
    let mut bad = bytes.clone();
    bad[5] ^= 0x10;
    assert!(matches!(
        decode_frame(&bad),
        Err(WireError::Checksum { .. })
    ));
}

#[test]
fn truncated_frames_wait_or_fail() {
    let m = Message::Ping {
        epoch: 1,
        committed: 2,
        last_zxid: 3,
    };
    let bytes = encode(&OutFrame::Message(&m)).unwrap();
    for cut in 0..bytes.len() {
        assert!(
            matches!(
                decode_frame(&bytes[..cut]),
                Err(WireError::Truncated { .. })
            ),
            "cut at {cut}"
        );
        // A stream decoder holding a prefix just waits for more.
        let mut dec = FrameDecoder::new(1 << 20);
        dec.feed(&bytes[..cut]);
        assert!(dec.next_frame().unwrap().is_none());
    }
    let mut long = bytes.clone();
    long.push(0);
    assert_eq!(
        decode_frame(&long),
        Err(WireError::TrailingBytes { extra: 1 })
    );
}

#[test]
fn oversized_length_is_refused_before_buffering() {
    let mut dec = FrameDecoder::new(1000);
    dec.feed(&1001u32.to_be_bytes());
    assert_eq!(
        dec.next_frame(),
        Err(WireError::FrameTooLong {
            len: 1005,
            max: 1000
        })
    );
    let mut dec = FrameDecoder::new(1000);
    dec.feed(&u32::MAX.to_be_bytes());
    assert!(matches!(
        dec.next_frame(),
        Err(WireError::FrameTooLong { .. })
    ));
    let mut dec = FrameDecoder::new(1000);
    dec.feed(&3u32.to_be_bytes());
    assert_eq!(dec.next_frame(), Err(WireError::FrameTooShort { len: 3 }));

    // The encoder refuses to build a frame the receiver would refuse.
    let big = Message::Proposal {
        epoch: 1,
        entries: vec![Entry {
            zxid: 1,
            payload: Arc::from(vec![0u8; 2000]),
        }],
    };
    let mut out = Vec::new();
    assert!(matches!(
        Encoder::new().encode_into(&OutFrame::Message(&big), 1000, &mut out),
        Err(WireError::FrameTooLong { .. })
    ));
    assert!(out.is_empty());
}

/// Wraps an arbitrary body in a frame with a correct length and crc, so that the checks after
/// the crc are reached.
fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&crc32c::crc32c(body).to_be_bytes());
    out.extend_from_slice(body);
    out
}

#[test]
fn garbage_is_a_typed_error() {
    let mut rng = Rng(0x5eed);
    for _ in 0..20_000 {
        let mut body = rng.bytes(200);
        if body.len() >= 8 && rng.below(2) == 0 {
            body[4..8].copy_from_slice(FILE_IDENTIFIER.as_bytes());
        }
        // Must not panic; most are verifier errors, short ones FrameTooShort.
        let _ = decode_frame(&framed(&body));
    }
    let mut body = vec![0u8; 16];
    body[4..8].copy_from_slice(b"XXXX");
    assert!(matches!(
        decode_frame(&framed(&body)),
        Err(WireError::BadIdentifier { .. })
    ));
    body[4..8].copy_from_slice(FILE_IDENTIFIER.as_bytes());
    assert!(matches!(
        decode_frame(&framed(&body)),
        Err(WireError::Verify(_))
    ));
}

#[test]
fn mutated_valid_frames_never_panic() {
    let mut rng = Rng(42);
    for k in 0..12 {
        let m = message(&mut rng, k);
        let valid = encode(&OutFrame::Message(&m)).unwrap();
        let body = &valid[FRAME_HEADER_BYTES..];
        for _ in 0..3000 {
            let mut b = body.to_vec();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(b.len() as u64) as usize;
                b[i] = rng.next() as u8;
            }
            if let Ok(v) = view_frame(&framed(&b), 1 << 20) {
                // Whatever verifies can be read in full without panicking.
                let _ = v.to_owned();
            }
        }
    }
}

/// Builds a Frame whose body has the given discriminant and field values, bypassing the
/// encoder's typed API.
fn frame_with(
    kind: u8,
    build: impl FnOnce(&mut FlatBufferBuilder<'static>) -> WIPOffset<flatbuffers::UnionWIPOffset>,
) -> Vec<u8> {
    let mut fbb = FlatBufferBuilder::new();
    let body = build(&mut fbb);
    let root = fb::create_frame(&mut fbb, kind, body);
    fbb.finish(root, Some(FILE_IDENTIFIER));
    framed(fbb.finished_data())
}

#[test]
fn unknown_kind_and_enum_values_are_refused() {
    let bytes = frame_with(99, |fbb| fb::create_resync(fbb, 1).as_union_value());
    assert_eq!(decode_frame(&bytes), Err(WireError::UnknownKind(99)));
    let bytes = frame_with(fb::body::VOTE, |fbb| {
        fb::create_vote(fbb, 1, 1, 1, 1, 4).as_union_value()
    });
    assert_eq!(
        decode_frame(&bytes),
        Err(WireError::InvalidField {
            field: "Vote.state",
            value: 4
        })
    );
    let bytes = frame_with(fb::body::SYNC, |fbb| {
        fb::create_sync(fbb, 1, 1, 200, 0, 0, None, None).as_union_value()
    });
    assert_eq!(
        decode_frame(&bytes),
        Err(WireError::InvalidField {
            field: "Sync.mode",
            value: 200
        })
    );
    // Sync.members must decode exactly: here one voter announced and none given.
    let bytes = frame_with(fb::body::SYNC, |fbb| {
        let members = fbb.create_vector(&[0u8, 0, 0, 0, 0, 0, 0, 0, 9, 0, 1, 0, 0][..]);
        fb::create_sync(fbb, 1, 1, 0, 0, 0, Some(members), None).as_union_value()
    });
    assert_eq!(
        decode_frame(&bytes),
        Err(WireError::InvalidField {
            field: "Sync.members",
            value: 13
        })
    );
    // A Sync without its entries vector is an empty Sync (absent vector = empty).
    let bytes = frame_with(fb::body::SYNC, |fbb| {
        fb::create_sync(fbb, 1, 2, 1, 3, 4, None, None).as_union_value()
    });
    assert_eq!(
        decode_frame(&bytes).unwrap(),
        InFrame::Message(Message::Sync {
            epoch: 1,
            attempt: 2,
            mode: SyncMode::Trunc,
            prev: 3,
            entries: vec![],
            committed: 4,
            config: None,
        })
    );
}

#[test]
fn decoder_handles_many_frames_per_read() {
    let mut enc = Encoder::new();
    let mut wire = Vec::new();
    let msgs: Vec<Message> = (0..50)
        .map(|i| Message::Commit { epoch: 1, zxid: i })
        .collect();
    for m in &msgs {
        enc.encode_into(&OutFrame::Message(m), 4096, &mut wire)
            .unwrap();
    }
    let mut dec = FrameDecoder::new(4096);
    let room = dec.spare(wire.len());
    room[..wire.len()].copy_from_slice(&wire);
    dec.filled(wire.len());
    let mut got = Vec::new();
    while let Some(v) = dec.next_frame().unwrap() {
        got.push(v.to_message().unwrap());
    }
    assert_eq!(got, msgs);
}

/// The two snapshot-transfer frames, byte for byte as docs/peer-protocol.md lays them out
/// ("Snapshot transfer frames, golden bytes"). A change here is a wire format change.
#[test]
fn snapshot_transfer_frames_golden_bytes() {
    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }
    let ack = Message::SnapshotAck {
        epoch: 3,
        attempt: 0x1_0000_0002,
        zxid: 0x3_0000_0007,
        received: 0x10_0000,
    };
    let ack_bytes = hex("00 00 00 54 7c af 82 6a \
        14 00 00 00 52 4b 50 31 00 00 00 00 08 00 0c 00 07 00 08 00 \
        08 00 00 00 00 00 00 0f 10 00 00 00 \
        0c 00 24 00 20 00 14 00 0c 00 04 00 \
        0c 00 00 00 00 00 10 00 00 00 00 00 07 00 00 00 03 00 00 00 \
        02 00 00 00 01 00 00 00 00 00 00 00 03 00 00 00");
    let chunk = Message::SnapshotChunk {
        epoch: 3,
        attempt: 0x1_0000_0002,
        zxid: 0x3_0000_0007,
        offset: 0x10_0000,
        total: 0x10_0003,
        data: Arc::from(&b"abc"[..]),
    };
    let chunk_bytes = hex("00 00 00 74 d5 4d 45 5b \
        14 00 00 00 52 4b 50 31 00 00 00 00 08 00 0e 00 07 00 08 00 \
        08 00 00 00 00 00 00 06 18 00 00 00 00 00 \
        12 00 34 00 30 00 24 00 1c 00 14 00 0c 00 04 00 0b 00 \
        12 00 00 00 30 00 00 00 00 00 00 01 03 00 10 00 00 00 00 00 \
        00 00 10 00 00 00 00 00 07 00 00 00 03 00 00 00 \
        02 00 00 00 01 00 00 00 00 00 00 00 03 00 00 00 \
        03 00 00 00 61 62 63 00");
    for (m, bytes) in [(ack, ack_bytes), (chunk, chunk_bytes)] {
        assert_eq!(encode(&OutFrame::Message(&m)).unwrap(), bytes, "{m:?}");
        assert_eq!(decode_frame(&bytes).unwrap(), InFrame::Message(m));
    }
}

/// A Hello names where its dialler listens; one without the field (an older server's) reads
/// as naming nothing, and so does a malformed field.
#[test]
fn hello_addresses_round_trip_and_are_optional() {
    let hello = Hello {
        quorum: vec!["10.0.0.4:2888".into(), "[::1]:2888".into()],
        election: vec!["10.0.0.4:3888".into()],
        ..Hello::new(4, PROTOCOL_VERSION)
    };
    let bytes = encode(&OutFrame::Hello(&hello)).unwrap();
    assert_eq!(decode_frame(&bytes).unwrap(), InFrame::Hello(hello.clone()));
    let old = encode(&OutFrame::Hello(&Hello::new(4, PROTOCOL_VERSION))).unwrap();
    assert!(old.len() < bytes.len(), "no addresses, no field");
    assert_eq!(
        view_frame(&old, 1024).unwrap().hello(),
        Some(Hello::new(4, PROTOCOL_VERSION))
    );
    // One list empty: the field is left out rather than sent half.
    let half = Hello {
        quorum: vec!["a:1".into()],
        ..Hello::new(4, PROTOCOL_VERSION)
    };
    assert_eq!(encode(&OutFrame::Hello(&half)).unwrap(), old);
    // Malformed text reads as no addresses, never as an error.
    for bad in [
        "a:1",
        "a:1|",
        "|b:2",
        "a:1|b:2|c:3",
        "a 1|b:2",
        "a:1,,x|b:2",
    ] {
        let (q, e) = Hello::parse_addresses(bad.as_bytes());
        assert!(q.is_empty() && e.is_empty(), "{bad}");
    }
    let many = ["h:1"; HELLO_ADDRESSES_MAX + 1].join(",");
    let (q, _) = Hello::parse_addresses(format!("{many}|h:2").as_bytes());
    assert!(q.is_empty());
    let (q, e) = Hello::parse_addresses(&[0xff, b'|', b'a']);
    assert!(q.is_empty() && e.is_empty());
}
