//! Feeds arbitrary bytes to the request decoder as the body of a frame (the bytes after the
//! 4-byte length): a RequestHeader, then the body its opcode selects. Whatever decodes must
//! survive a re-encode unchanged; see `ringkeeper_engine::jute::records::fuzzing`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringkeeper_engine::jute::records::fuzzing::check_client_request;

fuzz_target!(|data: &[u8]| {
    check_client_request(data);
});
