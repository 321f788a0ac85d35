//! Feeds arbitrary bytes to the peer frame decoder (replication::wire) as a stream, in pieces
//! whose sizes come from the input, and to `decode_frame` whole. Nothing may panic; every
//! frame that verifies must read in full, and a decoded protocol message (snapshot chunks
//! and their acknowledgements included) must survive a re-encode unchanged. Random bytes almost never
//! carry a valid crc, so the input is also decoded with its length and crc words rewritten
//! to match, which takes it to the flatbuffers verifier and the field checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringkeeper_replication::wire::{decode_frame, encode, FrameDecoder, InFrame, OutFrame};

fn check_frame(frame: InFrame) {
    if let InFrame::Message(m) = frame {
        let bytes = encode(&OutFrame::Message(&m)).expect("re-encode");
        assert_eq!(
            decode_frame(&bytes).expect("re-decode"),
            InFrame::Message(m)
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = decode_frame(data);
    if data.len() >= 8 {
        let mut fixed = data.to_vec();
        let n = (fixed.len() - 4) as u32;
        fixed[0..4].copy_from_slice(&n.to_be_bytes());
        let crc = crc32c::crc32c(&fixed[8..]);
        fixed[4..8].copy_from_slice(&crc.to_be_bytes());
        if let Ok(frame) = decode_frame(&fixed) {
            check_frame(frame);
        }
    }

    let Some((&split, body)) = data.split_first() else {
        return;
    };
    let piece = 1 + split as usize;
    let mut decoder = FrameDecoder::new(64 * 1024);
    for chunk in body.chunks(piece) {
        decoder.feed(chunk);
        loop {
            match decoder.next_frame() {
                Ok(Some(view)) => check_frame(view.to_owned()),
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
