//! The cluster tests, one module per area, in one test binary: each of the areas was its
//! own binary, and linking 67 debug binaries against tokio, rustls and the `redis` crate cost
//! CI minutes that nothing else did. Run one area with a filter:
//! `cargo test -p cluster-tests --test suite -- basics:: --test-threads=1`.

mod acl;
mod announce;
mod aof;
mod basics;
mod bitmaps;
mod blocking;
mod blocking_more;
mod bus_hostile;
mod bus_secret;
mod chaos;
mod cli;
mod client_pause;
mod cluster;
mod cluster_admin;
mod cluster_databases;
mod command_keyspecs;
mod compact;
mod config;
mod container;
mod debug;
mod digest_redis;
mod dump;
mod dump_redis;
mod encodings;
mod eviction;
mod expiry;
mod failover;
mod functions;
mod geo;
mod hash_field_ttl;
mod hashes;
mod hostile_inputs;
mod hyperloglog;
mod import_redis;
mod introspection;
mod keys;
mod lists;
mod lists_more;
mod memory;
mod metrics;
mod moving_address;
mod partition;
mod partition_heal;
mod pipelined_keys;
mod propagation;
mod protocol;
mod protocol_more;
mod pubsub;
mod query_buffer;
mod readme;
mod replicate_with_redis;
mod replication;
mod reply_shapes;
mod resharding;
mod rolling_restart;
mod scripting;
mod sets;
mod sharded_pubsub;
mod snapshots;
mod sort;
mod standalone_failover;
mod streams;
mod strings;
mod supervised;
mod tls;
mod tracking;
mod transactions;
mod zsets;

/// With `autotests = false`, a file added to tests/ and not named above would never build or
/// run: this fails until it is.
#[test]
fn every_file_in_tests_is_an_area_of_this_binary() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let listed = include_str!("main.rs");
    let mut missing = Vec::new();
    for f in std::fs::read_dir(&dir).expect("tests/ is readable") {
        let name = f.expect("a directory entry").file_name();
        let name = name.to_string_lossy();
        if let Some(area) = name.strip_suffix(".rs") {
            if area != "main" && !listed.contains(&format!("\nmod {area};\n")) {
                missing.push(area.to_string());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "add `mod NAME;` to tests/main.rs for: {missing:?}"
    );
}
