//! DUMP and RESTORE through the `redis` crate: round trips (binary values, TTLs, ABSTTL,
//! REPLACE, IDLETIME, FREQ), corrupted and truncated payloads, and option errors; MIGRATE's
//! errors for a target that cannot be reached.

use cluster_tests::{q, Node};
use redis::{Connection, RedisResult, Value};

fn describe(e: redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(d)) => format!("{code} {d}"),
        (Some(code), None) => code.to_string(),
        _ => e.to_string(),
    }
}

fn err(c: &mut Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    let r: RedisResult<Value> = cmd.query(c);
    describe(r.expect_err(&format!("{args:?} should fail")))
}

fn dump(c: &mut Connection, key: &str) -> Vec<u8> {
    redis::cmd("DUMP").arg(key).query(c).expect("DUMP")
}

/// RESTORE key ttl payload [opts...]; the reply or the error text.
fn restore(
    c: &mut Connection,
    key: &str,
    ttl: &str,
    payload: &[u8],
    opts: &[&str],
) -> Result<String, String> {
    let mut cmd = redis::cmd("RESTORE");
    cmd.arg(key).arg(ttl).arg(payload);
    for o in opts {
        cmd.arg(*o);
    }
    cmd.query::<String>(c).map_err(describe)
}

#[test]
fn dump_restore_round_trips_binary_values() {
    let node = Node::start(&[]);
    let mut c = node.client();
    assert_eq!(q::<Option<Vec<u8>>>(&mut c, &["DUMP", "nope"]), None);
    let values: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"12345".to_vec(),
        b"short".to_vec(),
        (0..=255u8).collect(),
        vec![b'z'; 100_000],
    ];
    for (i, v) in values.iter().enumerate() {
        let k = format!("k{i}");
        let _: () = redis::cmd("SET").arg(&k).arg(v).query(&mut c).unwrap();
        let p = dump(&mut c, &k);
        assert_eq!(
            restore(&mut c, &format!("copy{i}"), "0", &p, &[]),
            Ok("OK".into())
        );
        let got: Vec<u8> = redis::cmd("GET")
            .arg(format!("copy{i}"))
            .query(&mut c)
            .unwrap();
        assert_eq!(&got, v);
        assert_eq!(q::<i64>(&mut c, &["TTL", &format!("copy{i}")]), -1);
        assert_eq!(
            dump(&mut c, &format!("copy{i}")),
            p,
            "DUMP is deterministic"
        );
    }
}

#[test]
fn restore_to_another_node() {
    let a = Node::start(&[]);
    let b = Node::start(&[]);
    let mut ca = a.client();
    let mut cb = b.client();
    let _: () = q(&mut ca, &["SET", "k", "hello"]);
    let p = dump(&mut ca, "k");
    assert_eq!(restore(&mut cb, "k", "0", &p, &[]), Ok("OK".into()));
    assert_eq!(q::<String>(&mut cb, &["GET", "k"]), "hello");
}

#[test]
fn restore_ttl_absttl_and_past_instants() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "src", "v"]);
    let p = dump(&mut c, "src");
    assert_eq!(restore(&mut c, "t", "5000", &p, &[]), Ok("OK".into()));
    let pttl: i64 = q(&mut c, &["PTTL", "t"]);
    assert!((4000..=5000).contains(&pttl), "pttl {pttl}");
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        + 100_000;
    assert_eq!(
        restore(&mut c, "abs", &at.to_string(), &p, &["ABSTTL"]),
        Ok("OK".into())
    );
    assert_eq!(q::<i64>(&mut c, &["PEXPIRETIME", "abs"]), at);
    // An absolute instant in the past: OK, and no key.
    assert_eq!(
        restore(&mut c, "past", "1000", &p, &["absttl"]),
        Ok("OK".into())
    );
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "past"]), 0);
    // ...which with REPLACE removes the existing key.
    let _: () = q(&mut c, &["SET", "past", "old"]);
    assert_eq!(
        restore(&mut c, "past", "1000", &p, &["REPLACE", "ABSTTL"]),
        Ok("OK".into())
    );
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "past"]), 0);
    assert_eq!(
        restore(&mut c, "x", "-1", &p, &[]),
        Err("ERR Invalid TTL value, must be >= 0".into())
    );
    assert_eq!(
        restore(&mut c, "x", "abc", &p, &[]),
        Err("ERR value is not an integer or out of range".into())
    );
}

#[test]
fn restore_refuses_existing_key_unless_replace() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "a", "new"]);
    let p = dump(&mut c, "a");
    let _: () = q(&mut c, &["SET", "b", "old", "EX", "100"]);
    assert_eq!(
        restore(&mut c, "b", "0", &p, &[]),
        Err("BUSYKEY Target key name already exists.".into())
    );
    assert_eq!(q::<String>(&mut c, &["GET", "b"]), "old");
    assert_eq!(restore(&mut c, "b", "0", &p, &["REPLACE"]), Ok("OK".into()));
    assert_eq!(q::<String>(&mut c, &["GET", "b"]), "new");
    assert_eq!(
        q::<i64>(&mut c, &["TTL", "b"]),
        -1,
        "REPLACE drops the old TTL"
    );
}

#[test]
fn restore_rejects_corrupted_and_truncated_payloads() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "k", "some value worth protecting"]);
    let p = dump(&mut c, "k");
    const WRONG: &str = "ERR DUMP payload version or checksum are wrong";
    for i in 0..p.len() {
        let mut bad = p.clone();
        bad[i] ^= 0x20;
        assert_eq!(
            restore(&mut c, "x", "0", &bad, &[]),
            Err(WRONG.into()),
            "flip at {i}"
        );
    }
    for cut in [0, 1, 5, p.len() - 1] {
        assert_eq!(
            restore(&mut c, "x", "0", &p[..cut], &[]),
            Err(WRONG.into()),
            "cut {cut}"
        );
    }
    let mut longer = p.clone();
    longer.push(0);
    assert_eq!(restore(&mut c, "x", "0", &longer, &[]), Err(WRONG.into()));
    assert_eq!(
        restore(&mut c, "x", "0", b"garbage garbage garbage", &[]),
        Err(WRONG.into())
    );
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "x"]), 0);
    // The server is fine afterwards.
    assert_eq!(restore(&mut c, "x", "0", &p, &[]), Ok("OK".into()));
}

#[test]
fn restore_option_errors() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "k", "v"]);
    let p = dump(&mut c, "k");
    let cases: &[(&[&str], &str)] = &[
        (
            &["IDLETIME", "-1"],
            "ERR Invalid IDLETIME value, must be >= 0",
        ),
        (
            &["IDLETIME", "x"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["FREQ", "256"],
            "ERR Invalid FREQ value, must be >= 0 and <= 255",
        ),
        (
            &["FREQ", "-1"],
            "ERR Invalid FREQ value, must be >= 0 and <= 255",
        ),
        (&["IDLETIME", "10", "FREQ", "5"], "ERR syntax error"),
        (&["FREQ", "5", "IDLETIME", "10"], "ERR syntax error"),
        (&["IDLETIME"], "ERR syntax error"),
        (&["BOGUS"], "ERR syntax error"),
    ];
    for (opts, want) in cases {
        assert_eq!(
            restore(&mut c, "n", "0", &p, opts),
            Err(want.to_string()),
            "{opts:?}"
        );
    }
    assert_eq!(
        err(&mut c, &["RESTORE", "n", "0"]),
        "ERR wrong number of arguments for 'restore' command"
    );
    assert_eq!(
        err(&mut c, &["DUMP"]),
        "ERR wrong number of arguments for 'dump' command"
    );
}

#[test]
fn restore_idletime_sets_the_access_clock() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "k", "v"]);
    let p = dump(&mut c, "k");
    assert_eq!(
        restore(&mut c, "old", "0", &p, &["IDLETIME", "1000"]),
        Ok("OK".into())
    );
    let idle: i64 = q(&mut c, &["OBJECT", "IDLETIME", "old"]);
    assert!((1000..=1002).contains(&idle), "idle {idle}");
    // FREQ is accepted and ignored without an LFU policy.
    assert_eq!(
        restore(&mut c, "f", "0", &p, &["FREQ", "100"]),
        Ok("OK".into())
    );
}

#[test]
fn restore_freq_sets_the_lfu_counter() {
    let node = Node::start(&["--maxmemory-policy", "allkeys-lfu"]);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "k", "v"]);
    let p = dump(&mut c, "k");
    assert_eq!(
        restore(&mut c, "f", "0", &p, &["FREQ", "100"]),
        Ok("OK".into())
    );
    assert_eq!(q::<i64>(&mut c, &["OBJECT", "FREQ", "f"]), 100);
}

/// Redis's blocking connect fails only when the address does not resolve, so a refused
/// connection is reported as a failed write; clients match on these texts.
#[test]
fn migrate_to_a_closed_port_fails_as_a_write_error() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "k", "v"]);
    // A port nothing listens on, from the test port range.
    let port = cluster_tests::free_port().expect("a free port");
    let e = describe(
        redis::cmd("MIGRATE")
            .arg("127.0.0.1")
            .arg(port)
            .arg("k")
            .arg(0)
            .arg(1000)
            .query::<Value>(&mut c)
            .expect_err("MIGRATE to a closed port fails"),
    );
    assert_eq!(e, "IOERR error or timeout writing to target instance");
    let v: String = q(&mut c, &["GET", "k"]);
    assert_eq!(v, "v", "the key stays at the source");
}
