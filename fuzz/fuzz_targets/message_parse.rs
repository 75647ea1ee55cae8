//! Arbitrary bytes as a wire message and as content of every type (see
//! `alephd_message::fuzzing::message_parse`, which `cargo test` also runs on random input).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    alephd_message::fuzzing::message_parse(data);
});
