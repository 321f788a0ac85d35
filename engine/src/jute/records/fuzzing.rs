//! Properties the fuzz targets in `engine/fuzz/` check, kept in the crate so that plain
//! `cargo test` exercises them too (cargo-fuzz needs a nightly toolchain).
//!
//! Each function takes arbitrary bytes, must never panic on them, and panics only when the
//! codec breaks one of its own promises: whatever decodes must re-encode into a frame that
//! decodes to the same value. A panic here is therefore a codec bug, never bad input.

use super::{
    decode_request, decode_request_frame, encode_connect_request, encode_request, ConnectRequest,
    RequestHeader,
};
use crate::jute::{Decode, Reader};

/// Decodes `data` as a request frame body (header then request). On success, re-encodes the
/// request and checks that it decodes back to the same header and request, and that the
/// re-encoding is no longer than the input (normalisation only ever drops bytes).
pub fn check_client_request(data: &[u8]) {
    // The server reads requests as Java does (`Reader::like_java`); that reading must not
    // panic either. It need not round-trip: U+FFFD re-encodes longer than the byte it
    // replaced.
    let mut lenient = Reader::new(data).like_java();
    if let Ok(header) = RequestHeader::decode(&mut lenient) {
        let _ = decode_request(&header, &mut lenient);
    }
    let Ok((header, request)) = decode_request_frame(data) else {
        return;
    };
    let frame = encode_request(header.xid, &request);
    let body = &frame[4..];
    assert!(
        body.len() <= data.len(),
        "re-encoding grew from {} to {} bytes",
        data.len(),
        body.len()
    );
    match decode_request_frame(body) {
        Ok((h, r)) => {
            assert_eq!(
                h,
                RequestHeader {
                    xid: header.xid,
                    op: request.op_code().code()
                }
            );
            assert_eq!(r, request, "request changed through a re-encode");
        }
        Err(e) => panic!("re-encoded {request:?} does not decode: {e}"),
    }
}

/// Decodes `data` as a ConnectRequest; on success checks that the re-encoding decodes back
/// to the same request, with the optional `readOnly` present exactly when it was before.
pub fn check_connect_request(data: &[u8]) {
    let Ok(request) = ConnectRequest::from_bytes(data) else {
        return;
    };
    let frame = encode_connect_request(&request);
    match ConnectRequest::from_bytes(&frame[4..]) {
        Ok(back) => assert_eq!(back, request, "connect request changed through a re-encode"),
        Err(e) => panic!("re-encoded {request:?} does not decode: {e}"),
    }
}
