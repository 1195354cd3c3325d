//! String commands through stock clients: options, reply types, error wording, TTL rules and
//! size limits, compared against what Redis 7.2 answers.

use cluster_tests::Node;
use redis::{Connection, FromRedisValue, Value};
use std::thread::sleep;
use std::time::Duration;

fn cmd(args: &[&str]) -> redis::Cmd {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c
}

/// Runs a command that must succeed.
fn q<T: FromRedisValue>(c: &mut Connection, args: &[&str]) -> T {
    cmd(args)
        .query(c)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

/// Runs a command that must fail; returns the error line as the server sent it.
fn err(c: &mut Connection, args: &[&str]) -> String {
    match cmd(args).query::<Value>(c) {
        Ok(v) => panic!("{args:?} should fail, got {v:?}"),
        Err(e) => format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or("")),
    }
}

const NOT_INT: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";

#[test]
fn set_options_conditions_and_get() {
    let node = Node::start(&[]);
    let mut c = node.client();
    assert_eq!(q::<Option<String>>(&mut c, &["SET", "k", "v", "XX"]), None);
    assert_eq!(
        q::<Option<String>>(&mut c, &["SET", "k", "v1", "NX"]),
        Some("OK".into())
    );
    assert_eq!(q::<Option<String>>(&mut c, &["SET", "k", "v2", "NX"]), None);
    assert_eq!(
        q::<Option<String>>(&mut c, &["SET", "k", "v3", "NX", "GET"]),
        Some("v1".into())
    );
    assert_eq!(
        q::<Option<String>>(&mut c, &["SET", "k", "v4", "XX", "GET"]),
        Some("v1".into())
    );
    assert_eq!(
        q::<Option<String>>(&mut c, &["SET", "new", "x", "GET"]),
        None
    );
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "v4");
    // An expiry unit may repeat (last wins) but not mix with another unit or KEEPTTL.
    assert_eq!(
        q::<String>(&mut c, &["SET", "k", "v", "EX", "10", "EX", "20"]),
        "OK"
    );
    assert_eq!(
        q::<String>(&mut c, &["SET", "k", "v", "KEEPTTL", "KEEPTTL"]),
        "OK"
    );
    for bad in [
        &["SET", "k", "v", "NX", "XX"][..],
        &["SET", "k", "v", "EX", "10", "PX", "10"],
        &["SET", "k", "v", "EX", "10", "KEEPTTL"],
        &["SET", "k", "v", "KEEPTTL", "PXAT", "10"],
        &["SET", "k", "v", "EX"],
        &["SET", "k", "v", "PERSIST"],
        &["SET", "k", "v", "EX", "abc", "FOO"],
    ] {
        assert_eq!(err(&mut c, bad), SYNTAX, "{bad:?}");
    }
    assert_eq!(err(&mut c, &["SET", "k", "v", "EX", "abc"]), NOT_INT);
    assert_eq!(
        err(&mut c, &["SET", "k", "v", "EX", "0"]),
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(
        err(&mut c, &["SET", "k", "v", "PX", "-5"]),
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(
        err(&mut c, &["SET", "k", "v", "EX", "9223372036854775807"]),
        "ERR invalid expire time in 'set' command"
    );
    // An absolute instant in the past stores a key that is already gone.
    assert_eq!(q::<String>(&mut c, &["SET", "k", "v", "EXAT", "1"]), "OK");
    assert_eq!(q::<Option<String>>(&mut c, &["GET", "k"]), None);
}

#[test]
fn setnx_setex_psetex() {
    let node = Node::start(&[]);
    let mut c = node.client();
    assert_eq!(q::<i64>(&mut c, &["SETNX", "k", "a"]), 1);
    assert_eq!(q::<i64>(&mut c, &["SETNX", "k", "b"]), 0);
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "a");
    assert_eq!(q::<String>(&mut c, &["SETEX", "k", "100", "b"]), "OK");
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "b");
    assert_eq!(
        err(&mut c, &["SETEX", "k", "0", "v"]),
        "ERR invalid expire time in 'setex' command"
    );
    assert_eq!(
        err(&mut c, &["SETEX", "k", "-1", "v"]),
        "ERR invalid expire time in 'setex' command"
    );
    assert_eq!(err(&mut c, &["SETEX", "k", "x", "v"]), NOT_INT);
    assert_eq!(
        err(&mut c, &["PSETEX", "k", "0", "v"]),
        "ERR invalid expire time in 'psetex' command"
    );
    assert_eq!(
        err(&mut c, &["SETEX", "k", "10"]),
        "ERR wrong number of arguments for 'setex' command"
    );
    assert_eq!(q::<String>(&mut c, &["PSETEX", "short", "150", "v"]), "OK");
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "short"]), 1);
    sleep(Duration::from_millis(400));
    assert_eq!(q::<Option<String>>(&mut c, &["GET", "short"]), None);
    // SETEX on an existing key replaces value and TTL.
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "b");
}

#[test]
fn mset_mget_msetnx() {
    let node = Node::start(&[]);
    let mut c = node.client();
    assert_eq!(
        q::<String>(&mut c, &["MSET", "a", "1", "b", "2", "c", "3"]),
        "OK"
    );
    let got: Vec<Option<String>> = q(&mut c, &["MGET", "a", "b", "nokey", "c"]);
    assert_eq!(
        got,
        vec![Some("1".into()), Some("2".into()), None, Some("3".into())]
    );
    assert_eq!(
        err(&mut c, &["MSET", "a", "1", "b"]),
        "ERR wrong number of arguments for 'mset' command"
    );
    assert_eq!(
        err(&mut c, &["MSETNX", "a", "1", "b"]),
        "ERR wrong number of arguments for 'msetnx' command"
    );
    assert_eq!(
        err(&mut c, &["MGET"]),
        "ERR wrong number of arguments for 'mget' command"
    );
    // MSETNX is all or nothing.
    assert_eq!(q::<i64>(&mut c, &["MSETNX", "x", "9", "a", "9"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "x"]), 0);
    assert_eq!(q::<i64>(&mut c, &["MSETNX", "x", "9", "y", "8"]), 1);
    let got: Vec<String> = q(&mut c, &["MGET", "x", "y", "a"]);
    assert_eq!(got, vec!["9", "8", "1"]);
    // The last occurrence of a repeated key wins.
    assert_eq!(q::<String>(&mut c, &["MSET", "d", "1", "d", "2"]), "OK");
    assert_eq!(q::<String>(&mut c, &["GET", "d"]), "2");
}

#[test]
fn getset_and_getdel() {
    let node = Node::start(&[]);
    let mut c = node.client();
    assert_eq!(q::<Option<String>>(&mut c, &["GETSET", "k", "a"]), None);
    assert_eq!(
        q::<Option<String>>(&mut c, &["GETSET", "k", "b"]),
        Some("a".into())
    );
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "b");
    assert_eq!(
        q::<Option<String>>(&mut c, &["GETDEL", "k"]),
        Some("b".into())
    );
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "k"]), 0);
    assert_eq!(q::<Option<String>>(&mut c, &["GETDEL", "k"]), None);
    assert_eq!(
        err(&mut c, &["GETDEL", "k", "x"]),
        "ERR wrong number of arguments for 'getdel' command"
    );
}

#[test]
fn getex_sets_and_clears_expiry() {
    let node = Node::start(&[]);
    let mut c = node.client();
    assert_eq!(q::<Option<String>>(&mut c, &["GETEX", "nokey"]), None);
    // On a missing key, only syntax is checked; the number is not.
    assert_eq!(
        q::<Option<String>>(&mut c, &["GETEX", "nokey", "EX", "abc"]),
        None
    );
    assert_eq!(err(&mut c, &["GETEX", "nokey", "EX", "10", "FOO"]), SYNTAX);
    q::<()>(&mut c, &["SET", "k", "v"]);
    assert_eq!(q::<String>(&mut c, &["GETEX", "k"]), "v");
    for bad in [
        &["GETEX", "k", "EX"][..],
        &["GETEX", "k", "KEEPTTL"],
        &["GETEX", "k", "NX"],
        &["GETEX", "k", "GET"],
        &["GETEX", "k", "EX", "10", "PX", "10"],
        &["GETEX", "k", "EX", "10", "PERSIST"],
        &["GETEX", "k", "PERSIST", "EXAT", "10"],
    ] {
        assert_eq!(err(&mut c, bad), SYNTAX, "{bad:?}");
    }
    assert_eq!(
        err(&mut c, &["GETEX", "k", "EX", "0"]),
        "ERR invalid expire time in 'getex' command"
    );
    assert_eq!(err(&mut c, &["GETEX", "k", "PX", "abc"]), NOT_INT);
    assert_eq!(
        q::<String>(&mut c, &["GETEX", "k", "PERSIST", "PERSIST"]),
        "v"
    );
    // PX sets a TTL that really expires the key.
    assert_eq!(q::<String>(&mut c, &["GETEX", "k", "PX", "200"]), "v");
    sleep(Duration::from_millis(450));
    assert_eq!(q::<Option<String>>(&mut c, &["GET", "k"]), None);
    // PERSIST removes it again.
    q::<()>(&mut c, &["SET", "k", "v", "PX", "200"]);
    assert_eq!(q::<String>(&mut c, &["GETEX", "k", "PERSIST"]), "v");
    sleep(Duration::from_millis(450));
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "v");
    // An absolute instant in the past deletes the key after replying with its value.
    assert_eq!(q::<String>(&mut c, &["GETEX", "k", "EXAT", "1"]), "v");
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "k"]), 0);
    q::<()>(&mut c, &["SET", "k", "v"]);
    assert_eq!(
        q::<String>(&mut c, &["GETEX", "k", "PXAT", "99999999999999"]),
        "v"
    );
    assert_eq!(
        q::<String>(&mut c, &["GETEX", "k", "EX", "5", "EX", "100"]),
        "v"
    );
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "v");
}

#[test]
fn append_and_strlen() {
    let node = Node::start(&[]);
    let mut c = node.client();
    assert_eq!(q::<i64>(&mut c, &["STRLEN", "k"]), 0);
    assert_eq!(q::<i64>(&mut c, &["APPEND", "k", "hello"]), 5);
    assert_eq!(q::<i64>(&mut c, &["APPEND", "k", " world"]), 11);
    assert_eq!(q::<i64>(&mut c, &["APPEND", "k", ""]), 11);
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "hello world");
    assert_eq!(q::<i64>(&mut c, &["STRLEN", "k"]), 11);
    // Growing past the inline size and appending many times keeps every byte.
    let mut expect = String::from("hello world");
    for i in 0..200 {
        let piece = format!("-{i}");
        expect.push_str(&piece);
        assert_eq!(
            q::<i64>(&mut c, &["APPEND", "k", &piece]),
            expect.len() as i64
        );
    }
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), expect);
    q::<()>(&mut c, &["SET", "n", "12345"]);
    assert_eq!(q::<i64>(&mut c, &["STRLEN", "n"]), 5);
    assert_eq!(q::<i64>(&mut c, &["APPEND", "n", "6"]), 6);
    assert_eq!(q::<i64>(&mut c, &["INCR", "n"]), 123457);
}

/// INCR rewrites an existing counter in place: the TTL stays, an edited ("raw") string
/// becomes an "int" again as in Redis, a refused increment changes nothing (not even the
/// dirty counter), and an accepted one counts as one change.
#[test]
fn counters_updated_in_place_keep_ttl_and_encoding_rules() {
    let node = Node::start(&[]);
    let mut c = node.client();
    q::<()>(&mut c, &["SET", "c", "10", "EX", "1000"]);
    assert_eq!(q::<i64>(&mut c, &["INCR", "c"]), 11);
    let ttl: i64 = q(&mut c, &["TTL", "c"]);
    assert!((990..=1000).contains(&ttl), "TTL after INCR: {ttl}");
    assert_eq!(q::<i64>(&mut c, &["APPEND", "r", "4"]), 1);
    assert_eq!(q::<i64>(&mut c, &["APPEND", "r", "2"]), 2);
    assert_eq!(q::<String>(&mut c, &["OBJECT", "ENCODING", "r"]), "raw");
    assert_eq!(q::<i64>(&mut c, &["INCRBY", "r", "-50"]), -8);
    assert_eq!(q::<String>(&mut c, &["OBJECT", "ENCODING", "r"]), "int");
    let dirty = |c: &mut redis::Connection| -> u64 {
        let info: String = q(c, &["INFO", "persistence"]);
        cluster_tests::info_field(&info, "rdb_changes_since_last_save")
            .and_then(|v| v.parse().ok())
            .expect("rdb_changes_since_last_save")
    };
    q::<()>(&mut c, &["SET", "max", "9223372036854775807"]);
    let before = dirty(&mut c);
    assert_eq!(
        err(&mut c, &["INCR", "max"]),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(dirty(&mut c), before);
    assert_eq!(q::<String>(&mut c, &["GET", "max"]), "9223372036854775807");
    assert_eq!(q::<i64>(&mut c, &["DECR", "max"]), 9223372036854775806);
    assert_eq!(dirty(&mut c), before + 1);
}

#[test]
fn integer_counters_and_their_errors() {
    let node = Node::start(&[]);
    let mut c = node.client();
    assert_eq!(q::<i64>(&mut c, &["INCR", "n"]), 1);
    assert_eq!(q::<i64>(&mut c, &["INCRBY", "n", "10"]), 11);
    assert_eq!(q::<i64>(&mut c, &["DECR", "n"]), 10);
    assert_eq!(q::<i64>(&mut c, &["DECRBY", "n", "20"]), -10);
    assert_eq!(q::<i64>(&mut c, &["INCRBY", "n", "-5"]), -15);
    assert_eq!(q::<i64>(&mut c, &["DECRBY", "fresh", "3"]), -3);
    assert_eq!(q::<String>(&mut c, &["GET", "n"]), "-15");
    q::<()>(&mut c, &["SET", "max", "9223372036854775807"]);
    assert_eq!(
        err(&mut c, &["INCR", "max"]),
        "ERR increment or decrement would overflow"
    );
    q::<()>(&mut c, &["SET", "min", "-9223372036854775808"]);
    assert_eq!(
        err(&mut c, &["DECR", "min"]),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(
        err(&mut c, &["DECRBY", "n", "-9223372036854775808"]),
        "ERR decrement would overflow"
    );
    assert_eq!(q::<String>(&mut c, &["GET", "max"]), "9223372036854775807");
    for bad in [
        "abc",
        " 1",
        "1 ",
        "01",
        "+1",
        "1.5",
        "9223372036854775808",
        "",
    ] {
        q::<()>(&mut c, &["SET", "s", bad]);
        assert_eq!(err(&mut c, &["INCR", "s"]), NOT_INT, "value {bad:?}");
        assert_eq!(
            err(&mut c, &["INCRBY", "n", bad]),
            NOT_INT,
            "increment {bad:?}"
        );
        assert_eq!(
            err(&mut c, &["DECRBY", "n", bad]),
            NOT_INT,
            "decrement {bad:?}"
        );
    }
    assert_eq!(q::<String>(&mut c, &["GET", "n"]), "-15");
    assert_eq!(
        err(&mut c, &["INCR", "n", "1"]),
        "ERR wrong number of arguments for 'incr' command"
    );
}

#[test]
fn incrbyfloat_formats_and_refuses_non_finite() {
    let node = Node::start(&[]);
    let mut c = node.client();
    assert_eq!(q::<String>(&mut c, &["INCRBYFLOAT", "f", "10.5"]), "10.5");
    assert_eq!(q::<String>(&mut c, &["INCRBYFLOAT", "f", "0.1"]), "10.6");
    assert_eq!(q::<String>(&mut c, &["INCRBYFLOAT", "f", "-10.6"]), "0");
    assert_eq!(q::<String>(&mut c, &["INCRBYFLOAT", "f", "5.0e3"]), "5000");
    assert_eq!(q::<String>(&mut c, &["GET", "f"]), "5000");
    assert_eq!(q::<String>(&mut c, &["INCRBYFLOAT", "f", "-2.5"]), "4997.5");
    q::<()>(&mut c, &["SET", "big", "17179869184"]);
    assert_eq!(
        q::<String>(&mut c, &["INCRBYFLOAT", "big", "1.5"]),
        "17179869185.5"
    );
    // The stored text is still an integer when the result is whole.
    q::<()>(&mut c, &["SET", "i", "1"]);
    assert_eq!(q::<String>(&mut c, &["INCRBYFLOAT", "i", "2"]), "3");
    assert_eq!(q::<i64>(&mut c, &["INCR", "i"]), 4);
    let nonfinite = "ERR increment would produce NaN or Infinity";
    assert_eq!(err(&mut c, &["INCRBYFLOAT", "f", "inf"]), nonfinite);
    assert_eq!(err(&mut c, &["INCRBYFLOAT", "f", "-inf"]), nonfinite);
    // Redis computes in x87 long double: beyond f64's range, and rounded to 17 decimals.
    q::<()>(&mut c, &["SET", "huge", "1e4932"]);
    assert_eq!(err(&mut c, &["INCRBYFLOAT", "huge", "1e4932"]), nonfinite);
    q::<()>(&mut c, &["SET", "big", "1.7e308"]);
    let v: String = q(&mut c, &["INCRBYFLOAT", "big", "1.7e308"]);
    assert!(v.starts_with("34000000000000000000627355605039519"), "{v}");
    q::<()>(&mut c, &["SET", "x", "0.1"]);
    assert_eq!(q::<String>(&mut c, &["INCRBYFLOAT", "x", "0.2"]), "0.3");
    assert_eq!(q::<String>(&mut c, &["INCRBYFLOAT", "x", "-1.2"]), "-0.9");
    assert_eq!(q::<String>(&mut c, &["INCRBYFLOAT", "x", "0x1p-1"]), "-0.4");
    assert_eq!(q::<String>(&mut c, &["INCRBYFLOAT", "x", "1e-20"]), "-0.4");
    let not_float = "ERR value is not a valid float";
    for bad in ["abc", "nan", " 1", "1 ", ""] {
        assert_eq!(
            err(&mut c, &["INCRBYFLOAT", "f", bad]),
            not_float,
            "{bad:?}"
        );
    }
    q::<()>(&mut c, &["SET", "s", "1.5x"]);
    assert_eq!(err(&mut c, &["INCRBYFLOAT", "s", "1"]), not_float);
    assert_eq!(q::<String>(&mut c, &["GET", "f"]), "4997.5");
}

#[test]
fn getrange_and_substr_resolve_ranges_like_redis() {
    let node = Node::start(&[]);
    let mut c = node.client();
    q::<()>(&mut c, &["SET", "k", "Hello World"]);
    let cases: &[(&str, &str, &str)] = &[
        ("0", "4", "Hello"),
        ("-5", "-1", "World"),
        ("0", "-1", "Hello World"),
        ("-1", "-5", ""),
        ("5", "3", ""),
        ("100", "200", ""),
        ("-100", "-50", "H"),
        ("-100", "100", "Hello World"),
        ("0", "-100", "H"),
        ("-9223372036854775808", "9223372036854775807", "Hello World"),
    ];
    for (s, e, want) in cases {
        assert_eq!(
            q::<String>(&mut c, &["GETRANGE", "k", s, e]),
            *want,
            "{s} {e}"
        );
        assert_eq!(
            q::<String>(&mut c, &["SUBSTR", "k", s, e]),
            *want,
            "{s} {e}"
        );
    }
    // Missing keys and empty strings give an empty bulk, not null.
    let v: Value = q(&mut c, &["GETRANGE", "nokey", "0", "-1"]);
    assert_eq!(v, Value::BulkString(vec![]));
    q::<()>(&mut c, &["SET", "empty", ""]);
    assert_eq!(q::<String>(&mut c, &["GETRANGE", "empty", "0", "0"]), "");
    assert_eq!(err(&mut c, &["GETRANGE", "k", "a", "1"]), NOT_INT);
    assert_eq!(err(&mut c, &["GETRANGE", "nokey", "0", "b"]), NOT_INT);
    assert_eq!(
        err(&mut c, &["GETRANGE", "k", "0"]),
        "ERR wrong number of arguments for 'getrange' command"
    );
}

#[test]
fn setrange_pads_overwrites_and_checks_limits() {
    let node = Node::start(&["--proto-max-bulk-len", "1mb"]);
    let mut c = node.client();
    assert_eq!(q::<i64>(&mut c, &["SETRANGE", "k", "5", "hello"]), 10);
    let v: Vec<u8> = q(&mut c, &["GET", "k"]);
    assert_eq!(v, b"\0\0\0\0\0hello");
    assert_eq!(q::<i64>(&mut c, &["SETRANGE", "k", "0", "ab"]), 10);
    assert_eq!(q::<i64>(&mut c, &["SETRANGE", "k", "8", "XYZW"]), 12);
    let v: Vec<u8> = q(&mut c, &["GET", "k"]);
    assert_eq!(v, b"ab\0\0\0helXYZW");
    // An empty value changes nothing and does not create the key.
    assert_eq!(q::<i64>(&mut c, &["SETRANGE", "k", "100", ""]), 12);
    assert_eq!(q::<i64>(&mut c, &["SETRANGE", "none", "0", ""]), 0);
    assert_eq!(q::<i64>(&mut c, &["SETRANGE", "none", "5000000", ""]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "none"]), 0);
    assert_eq!(
        err(&mut c, &["SETRANGE", "k", "-1", "x"]),
        "ERR offset is out of range"
    );
    assert_eq!(err(&mut c, &["SETRANGE", "k", "x", "x"]), NOT_INT);
    let too_big = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
    assert_eq!(err(&mut c, &["SETRANGE", "k", "1048576", "x"]), too_big);
    assert_eq!(err(&mut c, &["SETRANGE", "new", "1048575", "xy"]), too_big);
    assert_eq!(
        err(&mut c, &["SETRANGE", "new", "9223372036854775807", "x"]),
        too_big
    );
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "new"]), 0);
    // The largest allowed string still works.
    assert_eq!(
        q::<i64>(&mut c, &["SETRANGE", "new", "1048575", "x"]),
        1048576
    );
    assert_eq!(q::<i64>(&mut c, &["STRLEN", "new"]), 1048576);
    // APPEND obeys the same limit.
    assert_eq!(err(&mut c, &["APPEND", "new", "y"]), too_big);
    assert_eq!(q::<i64>(&mut c, &["STRLEN", "new"]), 1048576);
}

#[test]
fn writes_keep_or_clear_ttl_as_redis_does() {
    let node = Node::start(&[]);
    let mut c = node.client();
    // Commands that edit a value keep its TTL: the key still expires.
    let keepers: &[&[&str]] = &[
        &["APPEND", "k", "x"],
        &["INCR", "k"],
        &["DECRBY", "k", "2"],
        &["INCRBYFLOAT", "k", "1.5"],
        &["SETRANGE", "k", "0", "7"],
        &["SET", "k", "9", "KEEPTTL"],
    ];
    for cmd_args in keepers {
        q::<()>(&mut c, &["SET", "k", "1", "PX", "250"]);
        let _: Value = q(&mut c, cmd_args);
        assert_eq!(q::<i64>(&mut c, &["EXISTS", "k"]), 1, "{cmd_args:?}");
        sleep(Duration::from_millis(500));
        assert_eq!(
            q::<i64>(&mut c, &["EXISTS", "k"]),
            0,
            "{cmd_args:?} dropped the TTL"
        );
    }
    // Commands that replace a value clear it.
    let clearers: &[&[&str]] = &[
        &["SET", "k", "2"],
        &["GETSET", "k", "2"],
        &["MSET", "k", "2"],
        &["SET", "k", "2", "XX", "GET"],
    ];
    for cmd_args in clearers {
        q::<()>(&mut c, &["SET", "k", "1", "PX", "250"]);
        let _: Value = q(&mut c, cmd_args);
        sleep(Duration::from_millis(500));
        assert_eq!(
            q::<i64>(&mut c, &["EXISTS", "k"]),
            1,
            "{cmd_args:?} kept the TTL"
        );
    }
}

#[test]
fn lcs_string_len_and_indexes() {
    let node = Node::start(&[]);
    let mut c = node.client();
    q::<()>(&mut c, &["MSET", "a", "ohmytext", "b", "mynewtext"]);
    assert_eq!(q::<String>(&mut c, &["LCS", "a", "b"]), "mytext");
    assert_eq!(q::<i64>(&mut c, &["LCS", "a", "b", "LEN"]), 6);
    assert_eq!(q::<String>(&mut c, &["LCS", "a", "nokey"]), "");
    assert_eq!(q::<i64>(&mut c, &["LCS", "nokey", "nokey2", "len"]), 0);
    // RESP2: the IDX map is a flat array.
    let v: Value = q(&mut c, &["LCS", "a", "b", "IDX"]);
    let ints = |v: &[i64]| Value::Array(v.iter().map(|&n| Value::Int(n)).collect());
    let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
    assert_eq!(
        v,
        Value::Array(vec![
            bulk("matches"),
            Value::Array(vec![
                Value::Array(vec![ints(&[4, 7]), ints(&[5, 8])]),
                Value::Array(vec![ints(&[2, 3]), ints(&[0, 1])]),
            ]),
            bulk("len"),
            Value::Int(6),
        ])
    );
    let v: Value = q(
        &mut c,
        &["LCS", "a", "b", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"],
    );
    assert_eq!(
        v,
        Value::Array(vec![
            bulk("matches"),
            Value::Array(vec![Value::Array(vec![
                ints(&[4, 7]),
                ints(&[5, 8]),
                Value::Int(4)
            ])]),
            bulk("len"),
            Value::Int(6),
        ])
    );
    // A negative MINMATCHLEN means no minimum.
    let v: Value = q(&mut c, &["LCS", "a", "b", "IDX", "MINMATCHLEN", "-3"]);
    let Value::Array(items) = v else { panic!() };
    assert!(matches!(&items[1], Value::Array(m) if m.len() == 2));
    assert_eq!(
        err(&mut c, &["LCS", "a", "b", "LEN", "IDX"]),
        "ERR If you want both the length and indexes, please just use IDX."
    );
    assert_eq!(err(&mut c, &["LCS", "a", "b", "FOO"]), SYNTAX);
    assert_eq!(err(&mut c, &["LCS", "a", "b", "MINMATCHLEN"]), SYNTAX);
    assert_eq!(err(&mut c, &["LCS", "a", "b", "MINMATCHLEN", "x"]), NOT_INT);
    assert_eq!(
        err(&mut c, &["LCS", "a"]),
        "ERR wrong number of arguments for 'lcs' command"
    );
}

#[test]
fn lcs_refuses_tables_beyond_proto_max_bulk_len() {
    let node = Node::start(&["--proto-max-bulk-len", "1mb"]);
    let mut c = node.client();
    let x = "a".repeat(600);
    q::<()>(&mut c, &["MSET", "x", &x, "y", &x]);
    assert_eq!(
        err(&mut c, &["LCS", "x", "y"]),
        "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
    );
    let small = "a".repeat(300);
    q::<()>(&mut c, &["SET", "y", &small]);
    assert_eq!(q::<i64>(&mut c, &["LCS", "x", "y", "LEN"]), 300);
}

#[test]
fn lcs_idx_is_a_map_under_resp3_in_redis_cli() {
    let node = Node::start(&[]);
    let mut c = node.client();
    q::<()>(&mut c, &["MSET", "a", "ohmytext", "b", "mynewtext"]);
    let (ok, out) = node.cli(&["-3", "--no-raw", "LCS", "a", "b", "IDX", "WITHMATCHLEN"]);
    assert!(ok, "{out}");
    let want = "1# \"matches\" => \n   1) 1) 1) (integer) 4\n         2) (integer) 7\n      2) 1) (integer) 5\n         2) (integer) 8\n      3) (integer) 4\n   2) 1) 1) (integer) 2\n         2) (integer) 3\n      2) 1) (integer) 0\n         2) (integer) 1\n      3) (integer) 2\n2# \"len\" => (integer) 6\n";
    assert_eq!(out, want);
    // Raw output prints a map's key and value on one line, an array's elements on their own.
    let (_, out) = node.cli(&["-3", "LCS", "a", "b", "IDX"]);
    assert_eq!(out, "matches 4\n7\n5\n8\n2\n3\n0\n1\nlen 6\n");
    let (_, out) = node.cli(&["LCS", "a", "b", "IDX"]);
    assert_eq!(out, "matches\n4\n7\n5\n8\n2\n3\n0\n1\nlen\n6\n");
    // The RESP3 connection of the redis crate sees a real map.
    let mut c3 = node.client_resp3();
    let v: Value = q(&mut c3, &["LCS", "a", "b", "IDX"]);
    assert!(matches!(v, Value::Map(ref m) if m.len() == 2), "{v:?}");
}

#[test]
fn string_commands_through_redis_cli() {
    let node = Node::start(&[]);
    let (_, out) = node.cli(&["MSET", "a", "1", "b", "2"]);
    assert_eq!(out, "OK\n");
    let (_, out) = node.cli(&["MGET", "a", "nokey", "b"]);
    assert_eq!(out, "1\n\n2\n");
    let (_, out) = node.cli(&["INCRBYFLOAT", "a", "0.5"]);
    assert_eq!(out, "1.5\n");
    let (_, out) = node.cli(&["INCR", "a"]);
    // redis-cli prints an error reply followed by an empty line.
    assert_eq!(out, "ERR value is not an integer or out of range\n\n");
}

#[test]
fn strings_edited_in_place_are_raw_encoded() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let enc = |c: &mut Connection| q::<String>(c, &["OBJECT", "ENCODING", "k"]);
    let _: () = q(&mut c, &["SET", "k", "1234"]);
    assert_eq!(enc(&mut c), "int");
    // Nothing written: the value keeps its encoding.
    assert_eq!(q::<i64>(&mut c, &["SETRANGE", "k", "0", ""]), 4);
    assert_eq!(enc(&mut c), "int");
    assert_eq!(q::<i64>(&mut c, &["SETRANGE", "k", "0", "2"]), 4);
    assert_eq!(enc(&mut c), "raw");
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "2234");
    // A new value set over it is encoded from scratch; INCR makes an integer again.
    let _: () = q(&mut c, &["SET", "k", "12"]);
    assert_eq!(q::<i64>(&mut c, &["APPEND", "k", "3"]), 3);
    assert_eq!(enc(&mut c), "raw");
    assert_eq!(q::<i64>(&mut c, &["INCR", "k"]), 124);
    assert_eq!(enc(&mut c), "int");
}
