#![no_main]
//! See `slotcache_server::fuzzing::aof_files`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| slotcache_server::fuzzing::aof_files(data));
