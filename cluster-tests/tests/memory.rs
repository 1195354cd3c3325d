//! MEMORY through the `redis` crate: USAGE (growth with the value, SAMPLES, missing keys,
//! argument errors, no access-clock update), STATS's fields, DOCTOR, MALLOC-STATS, PURGE,
//! HELP, key routing in cluster mode.

use cluster_tests::{own_all_slots, q, server_error, Node};
use redis::{Connection, Value};

fn usage(c: &mut Connection, args: &[&str]) -> Option<i64> {
    let mut full = vec!["MEMORY", "USAGE"];
    full.extend_from_slice(args);
    q(c, &full)
}

#[test]
fn usage_grows_with_the_value_and_answers_null_for_missing_keys() {
    let node = Node::start(&[]);
    let mut c = node.client();
    assert_eq!(usage(&mut c, &["nokey"]), None);

    let _: () = q(&mut c, &["SET", "small", "x"]);
    let big = "v".repeat(10_000);
    let _: () = q(&mut c, &["SET", "big", &big]);
    let small = usage(&mut c, &["small"]).unwrap();
    let large = usage(&mut c, &["big"]).unwrap();
    assert!(small > 0);
    assert!(large >= small + 10_000, "{small} {large}");

    // A hash in each encoding: the table one holds more and costs more.
    let _: () = q(&mut c, &["HSET", "h", "f", "v"]);
    let lp = usage(&mut c, &["h"]).unwrap();
    for i in 0..1000 {
        let _: () = q(&mut c, &["HSET", "h", &format!("field:{i:040}"), "v"]);
    }
    let table: String = q(&mut c, &["OBJECT", "ENCODING", "h"]);
    assert_eq!(table, "hashtable");
    let all = usage(&mut c, &["h", "SAMPLES", "0"]).unwrap();
    let sampled = usage(&mut c, &["h"]).unwrap();
    assert!(all > lp + 1000 * 40, "{lp} {all}");
    // Every field looks alike: five samples extrapolate to about the same figure.
    let diff = (all - sampled).abs();
    assert!(diff * 10 < all, "{all} {sampled}");
}

#[test]
fn usage_checks_its_arguments_like_redis() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "k", "v"]);
    let e = |c: &mut Connection, a: &[&str]| {
        let mut full = vec!["MEMORY", "USAGE"];
        full.extend_from_slice(a);
        server_error(c, &full)
    };
    assert_eq!(
        e(&mut c, &["k", "SAMPLES", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(e(&mut c, &["k", "SAMPLES", "-1"]), "ERR syntax error");
    assert_eq!(e(&mut c, &["k", "SAMPLES"]), "ERR syntax error");
    assert_eq!(e(&mut c, &["k", "FOO", "1"]), "ERR syntax error");
    assert!(server_error(&mut c, &["MEMORY", "USAGE"]).contains("wrong number of arguments"));
    assert_eq!(
        server_error(&mut c, &["MEMORY", "NOPE"]),
        "ERR unknown subcommand 'NOPE'. Try MEMORY HELP."
    );
    assert_eq!(
        usage(&mut c, &["k", "samples", "3"]).map(|n| n > 0),
        Some(true)
    );
}

#[test]
fn usage_does_not_count_as_an_access() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "k", "v"]);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let _ = usage(&mut c, &["k"]);
    let idle: i64 = q(&mut c, &["OBJECT", "IDLETIME", "k"]);
    assert!(idle >= 2, "{idle}");
    let info: String = q(&mut c, &["INFO", "stats"]);
    assert_eq!(
        cluster_tests::info_field(&info, "keyspace_hits").as_deref(),
        Some("0")
    );
}

#[test]
fn stats_reports_redis_fields_and_per_database_tables() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "a", "1"]);
    let _: () = q(&mut c, &["SELECT", "3"]);
    let _: () = q(&mut c, &["SET", "b", "1"]);
    let v: Value = q(&mut c, &["MEMORY", "STATS"]);
    let Value::Array(items) = v else {
        panic!("{v:?}")
    };
    let names: Vec<String> = items
        .chunks(2)
        .map(|p| match &p[0] {
            Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            o => panic!("{o:?}"),
        })
        .collect();
    for want in [
        "peak.allocated",
        "total.allocated",
        "startup.allocated",
        "replication.backlog",
        "clients.normal",
        "db.0",
        "db.3",
        "overhead.total",
        "keys.count",
        "keys.bytes-per-key",
        "dataset.bytes",
        "dataset.percentage",
        "allocator.allocated",
        "allocator.resident",
        "fragmentation",
        "fragmentation.bytes",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    assert!(!names.iter().any(|n| n == "db.1"), "{names:?}");
    let keys = names.iter().position(|n| n == "keys.count").unwrap();
    assert_eq!(items[keys * 2 + 1], Value::Int(2));
    let total = names.iter().position(|n| n == "total.allocated").unwrap();
    assert!(matches!(items[total * 2 + 1], Value::Int(n) if n > 0));
    // Each database's entry has Redis 7.0's three tables.
    let db0 = names.iter().position(|n| n == "db.0").unwrap();
    let Value::Array(table) = &items[db0 * 2 + 1] else {
        panic!("{:?}", items[db0 * 2 + 1])
    };
    let fields: Vec<String> = table
        .chunks(2)
        .filter_map(|p| match &p[0] {
            Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(
        fields,
        [
            "overhead.hashtable.main",
            "overhead.hashtable.expires",
            "overhead.hashtable.slot-to-keys"
        ]
    );
}

#[test]
fn doctor_malloc_stats_purge_and_help() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let doctor: String = q(&mut c, &["MEMORY", "DOCTOR"]);
    assert!(doctor.starts_with("Hi Sam"), "{doctor}");
    let stats: String = q(&mut c, &["MEMORY", "MALLOC-STATS"]);
    assert!(
        stats.contains("jemalloc statistics"),
        "{}",
        &stats[..200.min(stats.len())]
    );
    let _: () = q(&mut c, &["MEMORY", "PURGE"]);
    let help: Vec<String> = q(&mut c, &["MEMORY", "HELP"]);
    assert!(help[0].starts_with("MEMORY <subcommand>"));
    assert!(help
        .iter()
        .any(|l| l.starts_with("USAGE <key> [SAMPLES <count>]")));

    // RESP3: DOCTOR is a verbatim string.
    let mut c3 = node.client_resp3();
    let v: Value = q(&mut c3, &["MEMORY", "DOCTOR"]);
    assert!(matches!(v, Value::VerbatimString { .. }), "{v:?}");
}

#[test]
fn usage_routes_by_its_key_in_cluster_mode() {
    let node = Node::start(&["--cluster-enabled", "yes"]);
    let mut c = node.client();
    own_all_slots(&mut c);
    let _: () = q(&mut c, &["SET", "k", "v"]);
    assert!(usage(&mut c, &["k"]).is_some());
    let keys: Vec<String> = q(&mut c, &["COMMAND", "GETKEYS", "MEMORY", "USAGE", "k"]);
    assert_eq!(keys, vec!["k".to_string()]);
}
