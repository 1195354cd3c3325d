//! List commands through the `redis` crate: options, indexes, errors, reply types.

use cluster_tests::{raw_exchange, Node};
use redis::{Connection, Value};

fn q<T: redis::FromRedisValue>(c: &mut Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn err(c: &mut Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query::<Value>(c) {
        Ok(v) => panic!("{args:?} should fail, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

fn raw(node: &Node, cmd: &[u8]) -> Vec<u8> {
    let mut s = node.raw();
    s.set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .ok();
    raw_exchange(&mut s, cmd, 4096)
}

#[test]
fn push_range_index_and_negative_indexes() {
    let node = Node::start(&[]);
    let mut c = node.client();
    assert_eq!(q::<i64>(&mut c, &["RPUSH", "l", "b", "c"]), 2);
    assert_eq!(q::<i64>(&mut c, &["LPUSH", "l", "a", "z"]), 4);
    let all: Vec<String> = q(&mut c, &["LRANGE", "l", "0", "-1"]);
    assert_eq!(all, ["z", "a", "b", "c"]);
    let mid: Vec<String> = q(&mut c, &["LRANGE", "l", "-3", "-2"]);
    assert_eq!(mid, ["a", "b"]);
    let none: Vec<String> = q(&mut c, &["LRANGE", "l", "5", "10"]);
    assert!(none.is_empty());
    let clamp: Vec<String> = q(&mut c, &["LRANGE", "l", "-100", "100"]);
    assert_eq!(clamp.len(), 4);
    assert_eq!(q::<String>(&mut c, &["LINDEX", "l", "-1"]), "c");
    assert_eq!(q::<Option<String>>(&mut c, &["LINDEX", "l", "4"]), None);
    assert_eq!(q::<Option<String>>(&mut c, &["LINDEX", "l", "-5"]), None);
    assert_eq!(q::<i64>(&mut c, &["LLEN", "l"]), 4);
    assert_eq!(q::<i64>(&mut c, &["LLEN", "nokey"]), 0);
    assert_eq!(q::<i64>(&mut c, &["LPUSHX", "nokey", "x"]), 0);
    assert_eq!(q::<i64>(&mut c, &["RPUSHX", "l", "d", "e"]), 6);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "nokey"]), 0);
    assert!(err(&mut c, &["LRANGE", "l", "a", "1"]).contains("not an integer"));
}

#[test]
fn pop_with_count_replies_as_redis() {
    let node = Node::start(&[]);
    let mut c = node.client();
    q::<i64>(&mut c, &["RPUSH", "l", "a", "b", "c", "d"]);
    assert_eq!(q::<String>(&mut c, &["LPOP", "l"]), "a");
    assert_eq!(q::<String>(&mut c, &["RPOP", "l"]), "d");
    assert_eq!(
        q::<Vec<String>>(&mut c, &["LPOP", "l", "0"]),
        Vec::<String>::new()
    );
    assert_eq!(
        q::<Vec<String>>(&mut c, &["RPOP", "l", "1000000000000"]),
        ["c", "b"]
    );
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "l"]), 0, "empty list deleted");
    // Missing key: null bulk without count, null array with count.
    assert_eq!(raw(&node, b"LPOP nokey\r\n"), b"$-1\r\n");
    assert_eq!(raw(&node, b"LPOP nokey 2\r\n"), b"*-1\r\n");
    assert_eq!(raw(&node, b"LPOP nokey 0\r\n"), b"*-1\r\n");
    let mut s = node.raw();
    s.set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .ok();
    raw_exchange(&mut s, b"HELLO 3\r\n", 4096);
    assert_eq!(raw_exchange(&mut s, b"LPOP nokey 2\r\n", 4096), b"_\r\n");
    assert_eq!(raw_exchange(&mut s, b"RPOP nokey\r\n", 4096), b"_\r\n");
    assert_eq!(
        raw(&node, b"LPOP l -1\r\n"),
        b"-ERR value is out of range, must be positive\r\n"
    );
    assert_eq!(
        raw(&node, b"LPOP l x\r\n"),
        b"-ERR value is out of range, must be positive\r\n"
    );
    assert_eq!(
        raw(&node, b"LPOP l 1 2\r\n"),
        b"-ERR wrong number of arguments for 'lpop' command\r\n"
    );
}

#[test]
fn lset_linsert_lrem_ltrim() {
    let node = Node::start(&[]);
    let mut c = node.client();
    q::<i64>(&mut c, &["RPUSH", "l", "a", "b", "a", "c", "a"]);
    assert_eq!(raw(&node, b"LSET nokey 0 x\r\n"), b"-ERR no such key\r\n");
    assert_eq!(
        raw(&node, b"LSET l 5 x\r\n"),
        b"-ERR index out of range\r\n"
    );
    assert_eq!(
        raw(&node, b"LSET l -6 x\r\n"),
        b"-ERR index out of range\r\n"
    );
    let _: () = q(&mut c, &["LSET", "l", "-1", "z"]);
    assert_eq!(q::<i64>(&mut c, &["LINSERT", "l", "BEFORE", "b", "B"]), 6);
    assert_eq!(q::<i64>(&mut c, &["LINSERT", "l", "after", "z", "Z"]), 7);
    assert_eq!(
        q::<i64>(&mut c, &["LINSERT", "l", "AFTER", "nope", "x"]),
        -1
    );
    assert_eq!(
        q::<i64>(&mut c, &["LINSERT", "nokey", "AFTER", "a", "x"]),
        0
    );
    assert!(err(&mut c, &["LINSERT", "l", "MIDDLE", "a", "x"]).contains("syntax error"));
    let all: Vec<String> = q(&mut c, &["LRANGE", "l", "0", "-1"]);
    assert_eq!(all, ["a", "B", "b", "a", "c", "z", "Z"]);
    assert_eq!(q::<i64>(&mut c, &["LREM", "l", "-1", "a"]), 1);
    assert_eq!(q::<i64>(&mut c, &["LREM", "l", "0", "a"]), 1);
    assert_eq!(q::<i64>(&mut c, &["LREM", "l", "0", "nope"]), 0);
    let _: () = q(&mut c, &["LTRIM", "l", "1", "-2"]);
    let all: Vec<String> = q(&mut c, &["LRANGE", "l", "0", "-1"]);
    assert_eq!(all, ["b", "c", "z"]);
    let _: () = q(&mut c, &["LTRIM", "l", "5", "1"]);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "l"]), 0);
    let _: () = q(&mut c, &["LTRIM", "nokey", "0", "1"]);
}

#[test]
fn lpos_rank_count_maxlen_and_errors() {
    let node = Node::start(&[]);
    let mut c = node.client();
    q::<i64>(
        &mut c,
        &["RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c"],
    );
    assert_eq!(q::<i64>(&mut c, &["LPOS", "l", "c"]), 2);
    assert_eq!(q::<i64>(&mut c, &["LPOS", "l", "c", "RANK", "2"]), 6);
    assert_eq!(q::<i64>(&mut c, &["LPOS", "l", "c", "RANK", "-1"]), 7);
    assert_eq!(
        q::<Vec<i64>>(&mut c, &["LPOS", "l", "c", "COUNT", "0"]),
        [2, 6, 7]
    );
    assert_eq!(
        q::<Vec<i64>>(&mut c, &["LPOS", "l", "c", "RANK", "-2", "COUNT", "2"]),
        [6, 2]
    );
    assert_eq!(
        q::<Vec<i64>>(&mut c, &["LPOS", "l", "c", "COUNT", "0", "MAXLEN", "3"]),
        [2]
    );
    assert_eq!(q::<Option<i64>>(&mut c, &["LPOS", "l", "x"]), None);
    assert_eq!(
        q::<Vec<i64>>(&mut c, &["LPOS", "l", "x", "COUNT", "5"]),
        Vec::<i64>::new()
    );
    assert_eq!(q::<Option<i64>>(&mut c, &["LPOS", "nokey", "x"]), None);
    assert_eq!(
        raw(&node, b"LPOS l c RANK 0\r\n"),
        b"-ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list\r\n".to_vec()
    );
    assert_eq!(
        raw(&node, b"LPOS l c COUNT -1\r\n"),
        b"-ERR COUNT can't be negative\r\n"
    );
    assert_eq!(
        raw(&node, b"LPOS l c MAXLEN -1\r\n"),
        b"-ERR MAXLEN can't be negative\r\n"
    );
    assert_eq!(raw(&node, b"LPOS l c FOO 1\r\n"), b"-ERR syntax error\r\n");
    assert_eq!(raw(&node, b"LPOS l c FOO x\r\n"), b"-ERR syntax error\r\n");
    assert_eq!(
        raw(&node, b"LPOS l c COUNT x\r\n"),
        b"-ERR COUNT can't be negative\r\n"
    );
    assert_eq!(
        raw(&node, b"LPOS l c RANK x\r\n"),
        b"-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(raw(&node, b"LPOS l c RANK\r\n"), b"-ERR syntax error\r\n");
}

#[test]
fn lmove_rpoplpush_and_lmpop() {
    let node = Node::start(&[]);
    let mut c = node.client();
    q::<i64>(&mut c, &["RPUSH", "src", "a", "b", "c"]);
    assert_eq!(
        q::<String>(&mut c, &["LMOVE", "src", "dst", "LEFT", "RIGHT"]),
        "a"
    );
    assert_eq!(q::<String>(&mut c, &["RPOPLPUSH", "src", "dst"]), "c");
    assert_eq!(
        q::<Vec<String>>(&mut c, &["LRANGE", "dst", "0", "-1"]),
        ["c", "a"]
    );
    // Rotation on one key.
    assert_eq!(
        q::<String>(&mut c, &["LMOVE", "dst", "dst", "LEFT", "RIGHT"]),
        "c"
    );
    assert_eq!(
        q::<Vec<String>>(&mut c, &["LRANGE", "dst", "0", "-1"]),
        ["a", "c"]
    );
    assert_eq!(
        q::<Option<String>>(&mut c, &["LMOVE", "nokey", "dst", "LEFT", "LEFT"]),
        None
    );
    assert!(err(&mut c, &["LMOVE", "src", "dst", "UP", "LEFT"]).contains("syntax error"));

    q::<i64>(&mut c, &["RPUSH", "m", "1", "2", "3"]);
    let v: (String, Vec<String>) = q(&mut c, &["LMPOP", "2", "nokey", "m", "RIGHT", "COUNT", "2"]);
    assert_eq!(v, ("m".to_string(), vec!["3".to_string(), "2".to_string()]));
    let v: (String, Vec<String>) = q(&mut c, &["LMPOP", "1", "m", "LEFT"]);
    assert_eq!(v.1, ["1"]);
    assert_eq!(raw(&node, b"LMPOP 1 nokey LEFT\r\n"), b"*-1\r\n");
    assert_eq!(
        raw(&node, b"LMPOP 0 m LEFT\r\n"),
        b"-ERR numkeys should be greater than 0\r\n"
    );
    assert_eq!(raw(&node, b"LMPOP 5 m LEFT\r\n"), b"-ERR syntax error\r\n");
    assert_eq!(
        raw(&node, b"LMPOP x m LEFT\r\n"),
        b"-ERR numkeys should be greater than 0\r\n"
    );
    assert_eq!(
        raw(&node, b"LMPOP 1 m LEFT COUNT x\r\n"),
        b"-ERR count should be greater than 0\r\n"
    );
    assert_eq!(
        raw(&node, b"LMPOP 1 m LEFT COUNT 0\r\n"),
        b"-ERR count should be greater than 0\r\n"
    );
    assert_eq!(
        raw(&node, b"LMPOP 1 m LEFT COUNT 1 COUNT 1\r\n"),
        b"-ERR syntax error\r\n"
    );
    assert_eq!(
        raw(&node, b"LMPOP 1 m MIDDLE\r\n"),
        b"-ERR syntax error\r\n"
    );
}

#[test]
fn wrongtype_everywhere() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "s", "v"]);
    q::<i64>(&mut c, &["RPUSH", "l", "a"]);
    for args in [
        &["LPUSH", "s", "x"][..],
        &["RPUSHX", "s", "x"],
        &["LPOP", "s"],
        &["RPOP", "s", "2"],
        &["LLEN", "s"],
        &["LRANGE", "s", "0", "-1"],
        &["LINDEX", "s", "0"],
        &["LSET", "s", "0", "x"],
        &["LINSERT", "s", "BEFORE", "a", "x"],
        &["LREM", "s", "0", "x"],
        &["LTRIM", "s", "0", "1"],
        &["LPOS", "s", "x"],
        &["LMOVE", "s", "l", "LEFT", "LEFT"],
        &["LMOVE", "l", "s", "LEFT", "LEFT"],
        &["LMPOP", "1", "s", "LEFT"],
        &["BLPOP", "s", "0.01"],
    ] {
        assert!(err(&mut c, args).starts_with("WRONGTYPE"), "{args:?}");
    }
    // A failed LMOVE to a wrong-type destination leaves the source untouched.
    assert_eq!(q::<i64>(&mut c, &["LLEN", "l"]), 1);
    assert!(err(&mut c, &["GET", "l"]).starts_with("WRONGTYPE"));
}

#[test]
fn resp3_replies() {
    let node = Node::start(&[]);
    let mut s = node.raw();
    s.set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .ok();
    raw_exchange(&mut s, b"HELLO 3\r\n", 4096);
    raw_exchange(&mut s, b"RPUSH l a b\r\n", 100);
    assert_eq!(
        raw_exchange(&mut s, b"LPOP l 5\r\n", 100),
        b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    );
    assert_eq!(raw_exchange(&mut s, b"LMPOP 1 l LEFT\r\n", 100), b"_\r\n");
    assert_eq!(raw_exchange(&mut s, b"BLPOP l 0.01\r\n", 100), b"_\r\n");
    assert_eq!(raw_exchange(&mut s, b"LINDEX l 0\r\n", 100), b"_\r\n");
}

#[test]
fn big_lists_and_many_elements() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let items: Vec<String> = (0..5000).map(|i| format!("item-{i}")).collect();
    let mut cmd = redis::cmd("RPUSH");
    cmd.arg("big").arg(&items);
    let n: i64 = cmd.query(&mut c).unwrap();
    assert_eq!(n, 5000);
    assert_eq!(q::<String>(&mut c, &["LINDEX", "big", "2500"]), "item-2500");
    assert_eq!(q::<String>(&mut c, &["LINDEX", "big", "-1"]), "item-4999");
    let r: Vec<String> = q(&mut c, &["LRANGE", "big", "4998", "9999999999"]);
    assert_eq!(r, ["item-4998", "item-4999"]);
    let popped: Vec<String> = q(&mut c, &["LPOP", "big", "9223372036854775807"]);
    assert_eq!(popped.len(), 5000);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "big"]), 0);
}

/// Found by the differential check: a missing source answers nil before the destination's
/// type is looked at, as in Redis.
#[test]
fn lmove_from_a_missing_source_is_nil_whatever_the_destination_holds() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "dst", "string"]);
    let v: Option<String> = q(&mut c, &["LMOVE", "nosrc", "dst", "LEFT", "RIGHT"]);
    assert_eq!(v, None);
    let v: Option<String> = q(&mut c, &["RPOPLPUSH", "nosrc", "dst"]);
    assert_eq!(v, None);
    let _: () = q(&mut c, &["RPUSH", "src", "a"]);
    assert!(err(&mut c, &["LMOVE", "src", "dst", "LEFT", "RIGHT"]).starts_with("WRONGTYPE"));
    let len: i64 = q(&mut c, &["LLEN", "src"]);
    assert_eq!(len, 1, "nothing taken from the source");
}
