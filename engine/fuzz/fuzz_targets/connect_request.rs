//! Feeds arbitrary bytes to the ConnectRequest decoder (the handshake frame, which has no
//! request header), including the optional trailing readOnly byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringkeeper_engine::jute::records::fuzzing::check_connect_request;

fuzz_target!(|data: &[u8]| {
    check_connect_request(data);
});
