//! HyperLogLog through stock clients: PFADD/PFCOUNT/PFMERGE, accuracy, the string
//! representation, and the errors for non-sketch and damaged values.

use cluster_tests::Node;
use redis::{Connection, FromRedisValue, Value};

fn cmd(args: &[&str]) -> redis::Cmd {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c
}

fn q<T: FromRedisValue>(c: &mut Connection, args: &[&str]) -> T {
    cmd(args)
        .query(c)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

fn err(c: &mut Connection, args: &[&str]) -> String {
    match cmd(args).query::<Value>(c) {
        Ok(v) => panic!("{args:?} succeeded with {v:?}"),
        Err(e) => format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or("")),
    }
}

fn pfadd_many(c: &mut Connection, key: &str, prefix: &str, range: std::ops::Range<usize>) {
    let items: Vec<usize> = range.collect();
    for chunk in items.chunks(5000) {
        let mut cmd = redis::cmd("PFADD");
        cmd.arg(key);
        for i in chunk {
            cmd.arg(format!("{prefix}{i}"));
        }
        cmd.query::<i64>(c).unwrap();
    }
}

#[test]
fn pfadd_reports_changes_and_pfcount_counts() {
    let node = Node::start(&[]);
    let c = &mut node.client();
    assert_eq!(q::<i64>(c, &["PFADD", "h", "a", "b", "c"]), 1);
    assert_eq!(q::<i64>(c, &["PFADD", "h", "a", "b"]), 0);
    assert_eq!(q::<i64>(c, &["PFCOUNT", "h"]), 3);
    assert_eq!(q::<i64>(c, &["PFADD", "h", "d"]), 1);
    assert_eq!(q::<i64>(c, &["PFCOUNT", "h"]), 4);
    // PFADD without elements creates an empty sketch once.
    assert_eq!(q::<i64>(c, &["PFADD", "e"]), 1);
    assert_eq!(q::<i64>(c, &["PFADD", "e"]), 0);
    assert_eq!(q::<i64>(c, &["PFCOUNT", "e"]), 0);
    assert_eq!(q::<i64>(c, &["PFCOUNT", "nokey"]), 0);
    // The sketch is a string value with Redis's header.
    let raw: Vec<u8> = q(c, &["GET", "h"]);
    assert_eq!(&raw[..4], b"HYLL");
    assert_eq!(
        err(c, &["PFADD"]),
        "ERR wrong number of arguments for 'pfadd' command"
    );
}

#[test]
fn large_cardinalities_are_within_two_percent() {
    let node = Node::start(&[]);
    let c = &mut node.client();
    pfadd_many(c, "big", "e", 0..100_000);
    let n: i64 = q(c, &["PFCOUNT", "big"]);
    assert!((n - 100_000).abs() < 2_000, "estimate {n}");
    // Dense now: 16 header bytes and 12288 register bytes.
    let raw: Vec<u8> = q(c, &["GET", "big"]);
    assert_eq!(raw.len(), 16 + 12288);
    // Repeated elements do not move the estimate.
    pfadd_many(c, "big", "e", 0..10_000);
    assert_eq!(q::<i64>(c, &["PFCOUNT", "big"]), n);
}

#[test]
fn pfcount_of_several_keys_is_the_union_and_changes_nothing() {
    let node = Node::start(&[]);
    let c = &mut node.client();
    pfadd_many(c, "a", "x", 0..3000);
    pfadd_many(c, "b", "x", 2000..5000);
    let before_a: Vec<u8> = q(c, &["GET", "a"]);
    let u: i64 = q(c, &["PFCOUNT", "a", "b", "nokey"]);
    assert!((u - 5000).abs() < 150, "union {u}");
    let after_a: Vec<u8> = q(c, &["GET", "a"]);
    assert_eq!(before_a, after_a);
    assert_eq!(q::<String>(c, &["PFMERGE", "m", "a", "b"]), "OK");
    assert_eq!(q::<i64>(c, &["PFCOUNT", "m"]), u);
    // The destination is part of the union too.
    assert_eq!(q::<String>(c, &["PFMERGE", "a", "b"]), "OK");
    assert_eq!(q::<i64>(c, &["PFCOUNT", "a"]), u);
    assert_eq!(q::<String>(c, &["PFMERGE", "empty"]), "OK");
    assert_eq!(q::<i64>(c, &["PFCOUNT", "empty"]), 0);
    assert_eq!(q::<String>(c, &["PFMERGE", "m2", "nokey"]), "OK");
    assert_eq!(q::<i64>(c, &["PFCOUNT", "m2"]), 0);
}

#[test]
fn non_sketches_and_damaged_sketches_are_refused() {
    let node = Node::start(&[]);
    let c = &mut node.client();
    q::<()>(c, &["SET", "s", "hello world"]);
    let not_hll = "WRONGTYPE Key is not a valid HyperLogLog string value.";
    assert_eq!(err(c, &["PFADD", "s", "a"]), not_hll);
    assert_eq!(err(c, &["PFCOUNT", "s"]), not_hll);
    assert_eq!(err(c, &["PFCOUNT", "nokey", "s"]), not_hll);
    assert_eq!(err(c, &["PFMERGE", "d", "s"]), not_hll);
    assert_eq!(err(c, &["PFMERGE", "s"]), not_hll);
    q::<i64>(c, &["ZADD", "z", "1", "a"]);
    let wt = "WRONGTYPE Operation against a key holding the wrong kind of value";
    assert_eq!(err(c, &["PFADD", "z", "a"]), wt);
    assert_eq!(err(c, &["PFCOUNT", "z"]), wt);
    // A sparse body whose runs do not cover exactly 16384 registers.
    let mut bad = b"HYLL\x01".to_vec();
    bad.extend_from_slice(&[0; 10]);
    bad.push(0x80);
    bad.push(0x00);
    redis::cmd("SET")
        .arg("bad")
        .arg(&bad)
        .query::<()>(c)
        .unwrap();
    let corrupt = "INVALIDOBJ Corrupted HLL object detected";
    assert_eq!(err(c, &["PFCOUNT", "bad"]), corrupt);
    assert_eq!(err(c, &["PFADD", "bad", "x"]), corrupt);
    assert_eq!(err(c, &["PFCOUNT", "bad", "nokey"]), corrupt);
    assert_eq!(err(c, &["PFMERGE", "d", "bad"]), corrupt);
    // A dense header with the wrong length is not a sketch at all.
    let mut short = b"HYLL\x00".to_vec();
    short.extend_from_slice(&[0; 20]);
    redis::cmd("SET")
        .arg("short")
        .arg(&short)
        .query::<()>(c)
        .unwrap();
    assert_eq!(err(c, &["PFCOUNT", "short"]), not_hll);
}

#[test]
fn sketches_copy_through_get_and_set() {
    let node = Node::start(&[]);
    let c = &mut node.client();
    pfadd_many(c, "h", "v", 0..50);
    let raw: Vec<u8> = q(c, &["GET", "h"]);
    redis::cmd("SET")
        .arg("copy")
        .arg(&raw)
        .query::<()>(c)
        .unwrap();
    assert_eq!(
        q::<i64>(c, &["PFCOUNT", "copy"]),
        q::<i64>(c, &["PFCOUNT", "h"])
    );
    assert_eq!(q::<i64>(c, &["PFADD", "copy", "v1"]), 0);
    let mut r3 = node.client_resp3();
    assert_eq!(q::<Value>(&mut r3, &["PFCOUNT", "copy"]), Value::Int(50));
}

#[test]
fn pfdebug_and_pfselftest() {
    let node = Node::start(&[]);
    let c = &mut node.client();
    assert_eq!(q::<String>(c, &["PFSELFTEST"]), "OK");
    q::<i64>(c, &["PFADD", "h", "a", "b", "c"]);
    assert_eq!(q::<String>(c, &["PFDEBUG", "ENCODING", "h"]), "sparse");
    let decoded: String = q(c, &["PFDEBUG", "DECODE", "h"]);
    assert!(
        decoded.contains("v:") && decoded.contains("Z:"),
        "{decoded}"
    );
    let regs: Vec<i64> = q(c, &["PFDEBUG", "GETREG", "h"]);
    assert_eq!(regs.len(), 16384);
    assert_eq!(regs.iter().filter(|&&r| r > 0).count(), 3);
    assert_eq!(q::<String>(c, &["PFDEBUG", "ENCODING", "h"]), "dense");
    assert_eq!(q::<i64>(c, &["PFDEBUG", "TODENSE", "h"]), 0);
    assert_eq!(q::<i64>(c, &["PFCOUNT", "h"]), 3);
    assert_eq!(
        err(c, &["PFDEBUG", "DECODE", "h"]),
        "ERR HLL encoding is not sparse"
    );
    assert_eq!(
        err(c, &["PFDEBUG", "FOO", "h"]),
        "ERR Unknown PFDEBUG subcommand 'FOO'"
    );
    assert_eq!(
        err(c, &["PFDEBUG", "ENCODING", "nokey"]),
        "ERR The specified key does not exist"
    );
    q::<i64>(c, &["PFADD", "s", "x"]);
    assert_eq!(q::<i64>(c, &["PFDEBUG", "TODENSE", "s"]), 1);
    assert_eq!(q::<i64>(c, &["PFCOUNT", "s"]), 1);
}

/// Found by the differential check: PFADD edits a sketch in place in Redis, so the header's
/// three unused bytes keep what a SETRANGE wrote there.
#[test]
fn pfadd_keeps_the_unused_header_bytes() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: i64 = q(&mut c, &["PFADD", "h", "a"]);
    let _: i64 = q(&mut c, &["SETRANGE", "h", "5", "x y"]);
    let n: i64 = q(&mut c, &["PFCOUNT", "h"]);
    assert_eq!(n, 1);
    let _: i64 = q(&mut c, &["PFADD", "h", "b", "c"]);
    let v: Vec<u8> = q(&mut c, &["GETRANGE", "h", "0", "15"]);
    // The cached count (1) stays, marked stale, as Redis leaves it.
    assert_eq!(&v[..], b"HYLL\x01x y\x01\0\0\0\0\0\0\x80");
}

#[test]
fn hll_sparse_max_bytes_decides_when_a_sketch_turns_dense() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let v: Vec<String> = q(&mut c, &["CONFIG", "GET", "hll-sparse-max-bytes"]);
    assert_eq!(
        v,
        vec!["hll-sparse-max-bytes".to_string(), "3000".to_string()]
    );
    let enc = |c: &mut Connection, k: &str| -> String { q(c, &["PFDEBUG", "ENCODING", k]) };

    // A few hundred elements fit 3000 bytes of sparse opcodes.
    pfadd_many(&mut c, "a", "x", 0..300);
    assert_eq!(enc(&mut c, "a"), "sparse");

    // With a tiny limit the same elements need the dense encoding.
    let _: () = q(&mut c, &["CONFIG", "SET", "hll-sparse-max-bytes", "100"]);
    pfadd_many(&mut c, "b", "x", 0..300);
    assert_eq!(enc(&mut c, "b"), "dense");

    // Memory units are accepted, as for Redis's other byte sizes.
    let _: () = q(&mut c, &["CONFIG", "SET", "hll-sparse-max-bytes", "1kb"]);
    let v: Vec<String> = q(&mut c, &["CONFIG", "GET", "hll-sparse-max-bytes"]);
    assert_eq!(v[1], "1024");
    assert!(err(&mut c, &["CONFIG", "SET", "hll-sparse-max-bytes", "-1"]).starts_with("ERR"));
}

/// A PFCOUNT that refreshes the sketch's cached cardinality changes its bytes: it reaches
/// replicas, so both copies stay byte for byte equal (as Redis propagates it).
#[test]
fn pfcount_refreshing_the_cache_reaches_replicas() {
    let primary = Node::start(&[]);
    let replica = Node::start(&[]);
    let mut p = primary.client();
    let mut r = replica.client();
    let _: String = q(
        &mut r,
        &["REPLICAOF", "127.0.0.1", &primary.port.to_string()],
    );
    pfadd_many(&mut p, "hll", "e", 0..500);
    let card: i64 = q(&mut p, &["PFCOUNT", "hll"]);
    assert!((490..=510).contains(&card), "{card}");
    let sketch: Vec<u8> = q(&mut p, &["GET", "hll"]);
    let same = cluster_tests::wait_for(std::time::Duration::from_secs(20), || {
        let theirs: Option<Vec<u8>> = cmd(&["GET", "hll"]).query(&mut r).ok();
        (theirs.as_deref() == Some(&sketch[..])).then_some(())
    });
    assert!(
        same.is_some(),
        "the replica's sketch differs from the primary's"
    );
}
