#![no_main]
//! See `slotcache_server::fuzzing::dump_payload`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| slotcache_server::fuzzing::dump_payload(data));
