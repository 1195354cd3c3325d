//! Bitmap commands through stock clients: bit order, ranges in bytes and bits, BITOP,
//! BITFIELD's types, offsets and overflow modes, and the limits on offsets.

use cluster_tests::Node;
use redis::{Connection, FromRedisValue, Value};
use std::thread::sleep;
use std::time::Duration;

fn cmd(args: &[&[u8]]) -> redis::Cmd {
    let mut c = redis::cmd(std::str::from_utf8(args[0]).unwrap());
    for a in &args[1..] {
        c.arg(*a);
    }
    c
}

fn b(args: &[&str]) -> Vec<Vec<u8>> {
    args.iter().map(|s| s.as_bytes().to_vec()).collect()
}

/// Runs a command that must succeed.
fn q<T: FromRedisValue>(c: &mut Connection, args: &[&str]) -> T {
    let v = b(args);
    let refs: Vec<&[u8]> = v.iter().map(Vec::as_slice).collect();
    cmd(&refs)
        .query(c)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

/// Runs a command that must fail; returns the error line as the server sent it.
fn err(c: &mut Connection, args: &[&str]) -> String {
    let v = b(args);
    let refs: Vec<&[u8]> = v.iter().map(Vec::as_slice).collect();
    match cmd(&refs).query::<Value>(c) {
        Ok(v) => panic!("{args:?} should fail, got {v:?}"),
        Err(e) => format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or("")),
    }
}

fn set_bytes(c: &mut Connection, key: &str, val: &[u8]) {
    let _: () = redis::cmd("SET").arg(key).arg(val).query(c).unwrap();
}

fn get_bytes(c: &mut Connection, key: &str) -> Vec<u8> {
    redis::cmd("GET").arg(key).query(c).unwrap()
}

const NOT_INT: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";
const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";

#[test]
fn setbit_getbit_use_msb_first_order_and_grow_with_zeros() {
    let node = Node::start(&[]);
    let mut c = node.client();
    assert_eq!(q::<i64>(&mut c, &["SETBIT", "k", "7", "1"]), 0);
    assert_eq!(get_bytes(&mut c, "k"), vec![0x01]);
    assert_eq!(q::<i64>(&mut c, &["SETBIT", "k", "0", "1"]), 0);
    assert_eq!(q::<i64>(&mut c, &["SETBIT", "k", "0", "1"]), 1);
    assert_eq!(get_bytes(&mut c, "k"), vec![0x81]);
    assert_eq!(q::<i64>(&mut c, &["SETBIT", "k", "17", "1"]), 0);
    assert_eq!(get_bytes(&mut c, "k"), vec![0x81, 0x00, 0x40]);
    assert_eq!(q::<i64>(&mut c, &["SETBIT", "k", "7", "0"]), 1);
    assert_eq!(q::<i64>(&mut c, &["GETBIT", "k", "0"]), 1);
    assert_eq!(q::<i64>(&mut c, &["GETBIT", "k", "7"]), 0);
    assert_eq!(q::<i64>(&mut c, &["GETBIT", "k", "17"]), 1);
    assert_eq!(q::<i64>(&mut c, &["GETBIT", "k", "1000000"]), 0);
    assert_eq!(q::<i64>(&mut c, &["GETBIT", "nokey", "5"]), 0);
    // Clearing a bit of a missing key still creates it, zero-filled.
    assert_eq!(q::<i64>(&mut c, &["SETBIT", "z", "20", "0"]), 0);
    assert_eq!(get_bytes(&mut c, "z"), vec![0, 0, 0]);
    set_bytes(&mut c, "s", b"`");
    assert_eq!(q::<i64>(&mut c, &["GETBIT", "s", "1"]), 1);
    assert_eq!(q::<i64>(&mut c, &["GETBIT", "s", "2"]), 1);
    assert_eq!(q::<i64>(&mut c, &["GETBIT", "s", "3"]), 0);
}

#[test]
fn bit_offsets_and_values_are_validated() {
    let node = Node::start(&["--proto-max-bulk-len", "1mb"]);
    let mut c = node.client();
    let bad_bit = "ERR bit is not an integer or out of range";
    for v in ["2", "-1", "a", "1.0", ""] {
        assert_eq!(err(&mut c, &["SETBIT", "k", "0", v]), bad_bit, "{v:?}");
    }
    for off in ["-1", "abc", "1.5", "#1", "9223372036854775807", "8388608"] {
        assert_eq!(
            err(&mut c, &["SETBIT", "k", off, "1"]),
            BAD_OFFSET,
            "{off:?}"
        );
        assert_eq!(err(&mut c, &["GETBIT", "k", off]), BAD_OFFSET, "{off:?}");
    }
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "k"]), 0);
    // The last bit below the limit is fine (a 1 MB string).
    assert_eq!(q::<i64>(&mut c, &["SETBIT", "k", "8388607", "1"]), 0);
    assert_eq!(q::<i64>(&mut c, &["STRLEN", "k"]), 1 << 20);
    assert_eq!(q::<i64>(&mut c, &["BITCOUNT", "k"]), 1);
}

#[test]
fn setbit_keeps_the_ttl() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "k", "a", "PX", "250"]);
    assert_eq!(q::<i64>(&mut c, &["SETBIT", "k", "100", "1"]), 0);
    let _: Value = q(&mut c, &["BITFIELD", "k", "SET", "u8", "0", "1"]);
    sleep(Duration::from_millis(500));
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "k"]), 0);
}

#[test]
fn bitcount_in_bytes_and_bits() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "k", "foobar"]);
    let cases: &[(&[&str], i64)] = &[
        (&[], 26),
        (&["0", "0"], 4),
        (&["1", "1"], 6),
        (&["1", "1", "BYTE"], 6),
        (&["5", "30", "BIT"], 17),
        (&["5", "30", "bit"], 17),
        (&["0", "-1", "BIT"], 26),
        (&["-3", "-1", "BIT"], 1),
        (&["-1", "-3"], 0),
        (&["-100", "-50"], 4),
        (&["0", "100"], 26),
        (&["9223372036854775807", "-9223372036854775808"], 0),
        (&["-9223372036854775808", "9223372036854775807", "BIT"], 26),
    ];
    for (range, want) in cases {
        let mut args = vec!["BITCOUNT", "k"];
        args.extend_from_slice(range);
        assert_eq!(q::<i64>(&mut c, &args), *want, "{range:?}");
    }
    assert_eq!(err(&mut c, &["BITCOUNT", "k", "0"]), SYNTAX);
    assert_eq!(err(&mut c, &["BITCOUNT", "k", "0", "1", "FOO"]), SYNTAX);
    assert_eq!(
        err(&mut c, &["BITCOUNT", "k", "0", "1", "BIT", "x"]),
        SYNTAX
    );
    assert_eq!(err(&mut c, &["BITCOUNT", "k", "a", "1"]), NOT_INT);
    assert_eq!(err(&mut c, &["BITCOUNT", "k", "0", "b"]), NOT_INT);
    // Redis 7.2 answers 0 for a missing key before it looks at the arguments.
    assert_eq!(q::<i64>(&mut c, &["BITCOUNT", "nokey"]), 0);
    assert_eq!(q::<i64>(&mut c, &["BITCOUNT", "nokey", "0"]), 0);
    assert_eq!(q::<i64>(&mut c, &["BITCOUNT", "nokey", "a", "b"]), 0);
    let _: () = q(&mut c, &["SET", "empty", ""]);
    assert_eq!(
        q::<i64>(&mut c, &["BITCOUNT", "empty", "0", "-1", "BIT"]),
        0
    );
}

#[test]
fn bitpos_finds_set_and_clear_bits() {
    let node = Node::start(&[]);
    let mut c = node.client();
    set_bytes(&mut c, "k", &[0xff, 0xf0, 0x00]);
    let cases: &[(&[&str], i64)] = &[
        (&["0"], 12),
        (&["1"], 0),
        (&["1", "0"], 0),
        (&["0", "0"], 12),
        (&["0", "0", "-1"], 12),
        (&["1", "2"], -1),
        (&["0", "2", "-1"], 16),
        (&["1", "1", "1"], 8),
        (&["1", "7", "15", "BIT"], 7),
        (&["0", "7", "15", "BIT"], 12),
        (&["0", "0", "11", "BIT"], -1),
        (&["0", "0", "12", "bit"], 12),
        (&["1", "12", "100", "BIT"], -1),
        (&["1", "-100", "-50"], 0),
        (&["1", "-1", "-3"], -1),
    ];
    for (a, want) in cases {
        let mut args = vec!["BITPOS", "k"];
        args.extend_from_slice(a);
        assert_eq!(q::<i64>(&mut c, &args), *want, "{a:?}");
    }
    // All ones: a clear bit is found just past the end unless an end was given.
    set_bytes(&mut c, "ones", &[0xff, 0xff, 0xff]);
    assert_eq!(q::<i64>(&mut c, &["BITPOS", "ones", "0"]), 24);
    assert_eq!(q::<i64>(&mut c, &["BITPOS", "ones", "0", "1"]), 24);
    assert_eq!(q::<i64>(&mut c, &["BITPOS", "ones", "0", "0", "-1"]), -1);
    assert_eq!(
        q::<i64>(&mut c, &["BITPOS", "ones", "0", "0", "-1", "BIT"]),
        -1
    );
    set_bytes(&mut c, "zeros", &[0, 0, 0]);
    assert_eq!(q::<i64>(&mut c, &["BITPOS", "zeros", "1"]), -1);
    assert_eq!(
        q::<i64>(&mut c, &["BITPOS", "zeros", "0", "3", "10", "BIT"]),
        3
    );
    // Missing key: an endless run of zeros; the range is not even parsed.
    assert_eq!(q::<i64>(&mut c, &["BITPOS", "nokey", "1"]), -1);
    assert_eq!(q::<i64>(&mut c, &["BITPOS", "nokey", "0"]), 0);
    assert_eq!(
        q::<i64>(&mut c, &["BITPOS", "nokey", "0", "0", "1", "hello"]),
        0
    );
    // Empty string: nothing to find.
    let _: () = q(&mut c, &["SET", "empty", ""]);
    assert_eq!(q::<i64>(&mut c, &["BITPOS", "empty", "0"]), -1);
    let must01 = "ERR The bit argument must be 1 or 0.";
    assert_eq!(err(&mut c, &["BITPOS", "k", "2"]), must01);
    assert_eq!(err(&mut c, &["BITPOS", "nokey", "-1"]), must01);
    assert_eq!(err(&mut c, &["BITPOS", "k", "a"]), NOT_INT);
    assert_eq!(err(&mut c, &["BITPOS", "k", "1", "a"]), NOT_INT);
    assert_eq!(err(&mut c, &["BITPOS", "k", "1", "0", "b"]), NOT_INT);
    assert_eq!(err(&mut c, &["BITPOS", "k", "1", "0", "1", "FOO"]), SYNTAX);
    assert_eq!(
        err(&mut c, &["BITPOS", "k", "1", "0", "1", "BIT", "x"]),
        SYNTAX
    );
}

#[test]
fn bitop_and_or_xor_not() {
    let node = Node::start(&[]);
    let mut c = node.client();
    set_bytes(&mut c, "a", &[0xff, 0x0f, 0xaa]);
    set_bytes(&mut c, "b", &[0xf0]);
    assert_eq!(q::<i64>(&mut c, &["BITOP", "AND", "dst", "a", "b"]), 3);
    assert_eq!(get_bytes(&mut c, "dst"), vec![0xf0, 0x00, 0x00]);
    assert_eq!(q::<i64>(&mut c, &["BITOP", "or", "dst", "a", "b"]), 3);
    assert_eq!(get_bytes(&mut c, "dst"), vec![0xff, 0x0f, 0xaa]);
    assert_eq!(q::<i64>(&mut c, &["BITOP", "XOR", "dst", "a", "b"]), 3);
    assert_eq!(get_bytes(&mut c, "dst"), vec![0x0f, 0x0f, 0xaa]);
    assert_eq!(q::<i64>(&mut c, &["BITOP", "NOT", "dst", "a"]), 3);
    assert_eq!(get_bytes(&mut c, "dst"), vec![0x00, 0xf0, 0x55]);
    assert_eq!(q::<i64>(&mut c, &["BITOP", "AND", "dst", "a"]), 3);
    assert_eq!(get_bytes(&mut c, "dst"), vec![0xff, 0x0f, 0xaa]);
    // A missing source is an empty (all-zero) string.
    assert_eq!(q::<i64>(&mut c, &["BITOP", "AND", "dst", "a", "nokey"]), 3);
    assert_eq!(get_bytes(&mut c, "dst"), vec![0, 0, 0]);
    // An empty result deletes the destination.
    assert_eq!(
        q::<i64>(&mut c, &["BITOP", "OR", "dst", "nokey", "nokey2"]),
        0
    );
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "dst"]), 0);
    // The destination loses its TTL.
    let _: () = q(&mut c, &["SET", "dst", "x", "PX", "250"]);
    assert_eq!(q::<i64>(&mut c, &["BITOP", "OR", "dst", "b"]), 1);
    sleep(Duration::from_millis(500));
    assert_eq!(get_bytes(&mut c, "dst"), vec![0xf0]);
    assert_eq!(
        err(&mut c, &["BITOP", "NOT", "dst", "a", "b"]),
        "ERR BITOP NOT must be called with a single source key."
    );
    assert_eq!(err(&mut c, &["BITOP", "FOO", "dst", "a"]), SYNTAX);
    assert_eq!(err(&mut c, &["BITOP", "DIFF", "dst", "a", "b"]), SYNTAX);
    assert_eq!(
        err(&mut c, &["BITOP", "AND", "dst"]),
        "ERR wrong number of arguments for 'bitop' command"
    );
}

fn ints(v: Value) -> Vec<Option<i64>> {
    let Value::Array(items) = v else {
        panic!("not an array: {v:?}")
    };
    items
        .into_iter()
        .map(|i| match i {
            Value::Int(n) => Some(n),
            Value::Nil => None,
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

fn bf(c: &mut Connection, args: &[&str]) -> Vec<Option<i64>> {
    ints(q(c, args))
}

#[test]
fn bitfield_get_set_incrby_with_types_and_offsets() {
    let node = Node::start(&[]);
    let mut c = node.client();
    assert_eq!(bf(&mut c, &["BITFIELD", "k"]), vec![]);
    assert_eq!(bf(&mut c, &["BITFIELD", "k", "OVERFLOW", "SAT"]), vec![]);
    assert_eq!(
        bf(&mut c, &["BITFIELD", "k", "GET", "u8", "0"]),
        vec![Some(0)]
    );
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "k"]), 0);
    assert_eq!(
        bf(&mut c, &["BITFIELD", "k", "SET", "u8", "0", "255"]),
        vec![Some(0)]
    );
    assert_eq!(
        bf(
            &mut c,
            &[
                "BITFIELD", "k", "GET", "u8", "0", "GET", "i8", "0", "GET", "u4", "4", "GET", "i4",
                "4"
            ]
        ),
        vec![Some(255), Some(-1), Some(15), Some(-1)]
    );
    // `#N` addresses the N-th field of the type's width.
    assert_eq!(
        bf(
            &mut c,
            &[
                "BITFIELD", "k", "SET", "u8", "#1", "3", "SET", "u8", "#2", "4", "INCRBY", "u8",
                "#1", "3"
            ]
        ),
        vec![Some(0), Some(0), Some(6)]
    );
    assert_eq!(get_bytes(&mut c, "k"), vec![255, 6, 4]);
    // Unaligned fields span bytes.
    assert_eq!(
        bf(
            &mut c,
            &[
                "BITFIELD", "k", "SET", "u3", "5", "2", "GET", "u3", "5", "SET", "i5", "100", "-3",
                "GET", "i5", "100", "GET", "u16", "98"
            ]
        ),
        vec![Some(7), Some(2), Some(0), Some(-3), Some(14848)]
    );
    assert_eq!(q::<i64>(&mut c, &["STRLEN", "k"]), 14);
    assert_eq!(
        bf(
            &mut c,
            &[
                "BITFIELD", "k", "SET", "i64", "0", "-1", "GET", "u63", "0", "GET", "i64", "0",
                "GET", "u63", "1"
            ]
        ),
        vec![
            Some(-430_652_316_320_792_576),
            Some(i64::MAX),
            Some(-1),
            Some(i64::MAX)
        ]
    );
    // BITFIELD_RO reads, and refuses writes.
    assert_eq!(
        bf(
            &mut c,
            &["BITFIELD_RO", "k", "GET", "i8", "0", "GET", "u8", "100000"]
        ),
        vec![Some(-1), Some(0)]
    );
    assert_eq!(
        bf(&mut c, &["BITFIELD_RO", "nokey", "GET", "u8", "0"]),
        vec![Some(0)]
    );
    assert_eq!(bf(&mut c, &["BITFIELD_RO", "k"]), vec![]);
    let ro = "ERR BITFIELD_RO only supports the GET subcommand";
    assert_eq!(
        err(&mut c, &["BITFIELD_RO", "k", "SET", "u8", "0", "1"]),
        ro
    );
    assert_eq!(
        err(
            &mut c,
            &[
                "BITFIELD_RO",
                "k",
                "GET",
                "u8",
                "0",
                "INCRBY",
                "u8",
                "0",
                "1"
            ]
        ),
        ro
    );
}

#[test]
fn bitfield_overflow_modes() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _ = bf(
        &mut c,
        &[
            "BITFIELD", "k", "SET", "u8", "0", "250", "SET", "i8", "8", "120",
        ],
    );
    let cases: &[(&[&str], Option<i64>)] = &[
        (&["INCRBY", "u8", "0", "10"], Some(4)),
        (&["OVERFLOW", "SAT", "INCRBY", "u8", "0", "300"], Some(255)),
        (&["OVERFLOW", "FAIL", "INCRBY", "u8", "0", "1"], None),
        (
            &["OVERFLOW", "WRAP", "INCRBY", "u8", "0", "-300"],
            Some(211),
        ),
        (&["OVERFLOW", "SAT", "INCRBY", "u8", "0", "-300"], Some(0)),
        (&["INCRBY", "i8", "8", "10"], Some(-126)),
        (&["OVERFLOW", "SAT", "INCRBY", "i8", "8", "-10"], Some(-128)),
        (&["OVERFLOW", "SAT", "INCRBY", "i8", "8", "1000"], Some(127)),
        (&["OVERFLOW", "FAIL", "INCRBY", "i8", "8", "1"], None),
        // SET reports the old value; the stored value is wrapped or saturated.
        (&["SET", "u8", "0", "-1"], Some(0)),
        (&["GET", "u8", "0"], Some(255)),
        (&["OVERFLOW", "SAT", "SET", "u8", "0", "-1"], Some(255)),
        (&["OVERFLOW", "FAIL", "SET", "u8", "0", "256"], None),
        (
            &["OVERFLOW", "SAT", "SET", "i8", "8", "9223372036854775807"],
            Some(127),
        ),
        (&["GET", "i8", "8"], Some(127)),
        (&["SET", "i64", "16", "9223372036854775807"], Some(0)),
        (&["INCRBY", "i64", "16", "1"], Some(i64::MIN)),
        (
            &["OVERFLOW", "SAT", "INCRBY", "i64", "16", "-1"],
            Some(i64::MIN),
        ),
        (&["OVERFLOW", "FAIL", "INCRBY", "i64", "16", "-1"], None),
        (
            &[
                "OVERFLOW",
                "SAT",
                "INCRBY",
                "u63",
                "16",
                "9223372036854775807",
            ],
            Some(i64::MAX),
        ),
        (&["INCRBY", "u63", "16", "1"], Some(0)),
    ];
    for (ops, want) in cases {
        let mut args = vec!["BITFIELD", "k"];
        args.extend_from_slice(ops);
        assert_eq!(bf(&mut c, &args), vec![*want], "{ops:?}");
    }
    // The overflow mode applies to the operations after it, in one command.
    assert_eq!(
        bf(
            &mut c,
            &[
                "BITFIELD", "k", "SET", "u8", "0", "255", "INCRBY", "u8", "0", "1", "OVERFLOW",
                "FAIL", "INCRBY", "u8", "0", "-1", "INCRBY", "u8", "0", "-1"
            ]
        ),
        vec![Some(255), Some(0), None, None]
    );
    // A refused write on a missing key still creates it (zero-filled), as Redis does.
    assert_eq!(
        bf(
            &mut c,
            &["BITFIELD", "new", "OVERFLOW", "FAIL", "INCRBY", "u8", "8", "300"]
        ),
        vec![None]
    );
    assert_eq!(get_bytes(&mut c, "new"), vec![0, 0]);
}

#[test]
fn bitfield_argument_errors() {
    let node = Node::start(&["--proto-max-bulk-len", "1mb"]);
    let mut c = node.client();
    let bad_type =
        "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
    for t in [
        "u64", "i65", "u0", "i0", "I8", "U8", "x8", "u", "u-1", "u 8",
    ] {
        assert_eq!(
            err(&mut c, &["BITFIELD", "k", "GET", t, "0"]),
            bad_type,
            "{t:?}"
        );
    }
    for off in [
        "-1",
        "#-1",
        "abc",
        "8388608",
        "#1048576",
        "#9223372036854775807",
    ] {
        assert_eq!(
            err(&mut c, &["BITFIELD", "k", "GET", "u8", off]),
            BAD_OFFSET,
            "{off:?}"
        );
    }
    // `#` is only meaningful in BITFIELD.
    assert_eq!(err(&mut c, &["GETBIT", "k", "#1"]), BAD_OFFSET);
    assert_eq!(
        err(&mut c, &["BITFIELD", "k", "SET", "u8", "0", "abc"]),
        NOT_INT
    );
    assert_eq!(
        err(&mut c, &["BITFIELD", "k", "INCRBY", "u8", "0", "1.5"]),
        NOT_INT
    );
    assert_eq!(
        err(&mut c, &["BITFIELD", "k", "OVERFLOW", "FOO"]),
        "ERR Invalid OVERFLOW type specified"
    );
    for bad in [
        &["BITFIELD", "k", "OVERFLOW"][..],
        &["BITFIELD", "k", "GET", "u8"],
        &["BITFIELD", "k", "SET", "u8", "0"],
        &["BITFIELD", "k", "INCRBY", "u8", "0"],
        &["BITFIELD", "k", "FOO"],
        &["BITFIELD", "k", "GET", "u8", "0", "FOO"],
    ] {
        assert_eq!(err(&mut c, bad), SYNTAX, "{bad:?}");
    }
    // Nothing was written by any failed command (errors come before any write).
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "k"]), 0);
    // The highest allowed field still works: a 1 MB string.
    assert_eq!(
        bf(&mut c, &["BITFIELD", "k", "SET", "u8", "#1048575", "7"]),
        vec![Some(0)]
    );
    assert_eq!(q::<i64>(&mut c, &["STRLEN", "k"]), 1 << 20);
}

#[test]
fn bitfield_null_reply_through_redis_cli() {
    let node = Node::start(&[]);
    let (_, out) = node.cli(&[
        "--no-raw", "BITFIELD", "k", "SET", "u8", "0", "200", "OVERFLOW", "FAIL", "INCRBY", "u8",
        "0", "100",
    ]);
    assert_eq!(out, "1) (integer) 0\n2) (nil)\n");
    let (_, out) = node.cli(&[
        "-3", "--no-raw", "BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "100",
    ]);
    assert_eq!(out, "1) (nil)\n");
    let (_, out) = node.cli(&["BITCOUNT", "k", "0", "-1", "BIT"]);
    assert_eq!(out, "3\n");
}
