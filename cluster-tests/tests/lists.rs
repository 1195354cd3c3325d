//! List commands through the redis crate: ends, ranges, negative indexes, errors, encodings.

use cluster_tests::Node;

fn e(c: &mut redis::Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query::<redis::Value>(c).unwrap_err().to_string()
}

#[test]
fn push_pop_range_and_index() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let n: i64 = redis::cmd("RPUSH")
        .arg("l")
        .arg("a")
        .arg("b")
        .arg("c")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 3);
    let n: i64 = redis::cmd("LPUSH").arg("l").arg("z").query(&mut c).unwrap();
    assert_eq!(n, 4);
    let all: Vec<String> = redis::cmd("LRANGE")
        .arg("l")
        .arg(0)
        .arg(-1)
        .query(&mut c)
        .unwrap();
    assert_eq!(all, vec!["z", "a", "b", "c"]);
    let tail: Vec<String> = redis::cmd("LRANGE")
        .arg("l")
        .arg(-2)
        .arg(100)
        .query(&mut c)
        .unwrap();
    assert_eq!(tail, vec!["b", "c"]);
    let none: Vec<String> = redis::cmd("LRANGE")
        .arg("l")
        .arg(5)
        .arg(10)
        .query(&mut c)
        .unwrap();
    assert!(none.is_empty());
    let v: Option<String> = redis::cmd("LINDEX").arg("l").arg(-1).query(&mut c).unwrap();
    assert_eq!(v.as_deref(), Some("c"));
    let v: Option<String> = redis::cmd("LINDEX").arg("l").arg(99).query(&mut c).unwrap();
    assert_eq!(v, None);
    let popped: Vec<String> = redis::cmd("RPOP").arg("l").arg(2).query(&mut c).unwrap();
    assert_eq!(popped, vec!["c", "b"]);
    let v: String = redis::cmd("LPOP").arg("l").query(&mut c).unwrap();
    assert_eq!(v, "z");
    let x: i64 = redis::cmd("LPUSHX")
        .arg("missing")
        .arg("v")
        .query(&mut c)
        .unwrap();
    assert_eq!(x, 0);
    let nil: Option<Vec<String>> = redis::cmd("LPOP")
        .arg("missing")
        .arg(3)
        .query(&mut c)
        .unwrap();
    assert_eq!(nil, None);
    // The last pop deletes the key.
    let _: String = redis::cmd("LPOP").arg("l").query(&mut c).unwrap();
    let exists: i64 = redis::cmd("EXISTS").arg("l").query(&mut c).unwrap();
    assert_eq!(exists, 0);
    assert!(e(&mut c, &["LPOP", "l", "-1"]).contains("must be positive"));
}

#[test]
fn set_insert_remove_trim_and_pos() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: i64 = redis::cmd("RPUSH")
        .arg("l")
        .arg("a")
        .arg("b")
        .arg("a")
        .arg("c")
        .arg("a")
        .query(&mut c)
        .unwrap();
    let _: () = redis::cmd("LSET")
        .arg("l")
        .arg(-1)
        .arg("A")
        .query(&mut c)
        .unwrap();
    assert!(e(&mut c, &["LSET", "l", "10", "x"]).contains("index out of range"));
    assert!(e(&mut c, &["LSET", "nokey", "0", "x"]).contains("no such key"));
    let n: i64 = redis::cmd("LINSERT")
        .arg("l")
        .arg("BEFORE")
        .arg("c")
        .arg("bc")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 6);
    let n: i64 = redis::cmd("LINSERT")
        .arg("l")
        .arg("AFTER")
        .arg("zz")
        .arg("x")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, -1);
    let pos: Vec<i64> = redis::cmd("LPOS")
        .arg("l")
        .arg("a")
        .arg("COUNT")
        .arg(0)
        .query(&mut c)
        .unwrap();
    assert_eq!(pos, vec![0, 2]);
    let p: Option<i64> = redis::cmd("LPOS")
        .arg("l")
        .arg("a")
        .arg("RANK")
        .arg(-1)
        .query(&mut c)
        .unwrap();
    assert_eq!(p, Some(2));
    assert!(e(&mut c, &["LPOS", "l", "a", "RANK", "0"]).contains("RANK can't be zero"));
    let removed: i64 = redis::cmd("LREM")
        .arg("l")
        .arg(0)
        .arg("a")
        .query(&mut c)
        .unwrap();
    assert_eq!(removed, 2);
    let _: () = redis::cmd("LTRIM")
        .arg("l")
        .arg(1)
        .arg(-1)
        .query(&mut c)
        .unwrap();
    let all: Vec<String> = redis::cmd("LRANGE")
        .arg("l")
        .arg(0)
        .arg(-1)
        .query(&mut c)
        .unwrap();
    assert_eq!(all, vec!["bc", "c", "A"]);
    let _: () = redis::cmd("LTRIM")
        .arg("l")
        .arg(5)
        .arg(10)
        .query(&mut c)
        .unwrap();
    let n: i64 = redis::cmd("EXISTS").arg("l").query(&mut c).unwrap();
    assert_eq!(n, 0, "trimming everything deletes the key");
}

#[test]
fn moves_mpop_wrongtype_and_encodings() {
    let node = Node::start(&["--list-max-listpack-size", "4"]);
    let mut c = node.client();
    let _: i64 = redis::cmd("RPUSH")
        .arg("src")
        .arg("1")
        .arg("2")
        .query(&mut c)
        .unwrap();
    let v: String = redis::cmd("LMOVE")
        .arg("src")
        .arg("dst")
        .arg("RIGHT")
        .arg("LEFT")
        .query(&mut c)
        .unwrap();
    assert_eq!(v, "2");
    let v: String = redis::cmd("RPOPLPUSH")
        .arg("src")
        .arg("dst")
        .query(&mut c)
        .unwrap();
    assert_eq!(v, "1");
    let dst: Vec<String> = redis::cmd("LRANGE")
        .arg("dst")
        .arg(0)
        .arg(-1)
        .query(&mut c)
        .unwrap();
    assert_eq!(dst, vec!["1", "2"]);
    let r: (String, Vec<String>) = redis::cmd("LMPOP")
        .arg(2)
        .arg("nothing")
        .arg("dst")
        .arg("LEFT")
        .arg("COUNT")
        .arg(10)
        .query(&mut c)
        .unwrap();
    assert_eq!(
        r,
        ("dst".to_string(), vec!["1".to_string(), "2".to_string()])
    );
    let none: Option<(String, Vec<String>)> = redis::cmd("LMPOP")
        .arg(1)
        .arg("nothing")
        .arg("LEFT")
        .query(&mut c)
        .unwrap();
    assert_eq!(none, None);
    assert!(e(&mut c, &["LMPOP", "0", "x", "LEFT"]).contains("numkeys should be greater than 0"));
    let _: () = redis::cmd("SET").arg("s").arg("v").query(&mut c).unwrap();
    assert!(
        e(&mut c, &["LPUSH", "s", "x"]).starts_with("WRONGTYPE")
            || e(&mut c, &["LPUSH", "s", "x"]).contains("WRONGTYPE")
    );
    assert!(e(&mut c, &["LRANGE", "s", "0", "1"]).contains("WRONGTYPE"));
    for i in 0..4 {
        let _: i64 = redis::cmd("RPUSH").arg("big").arg(i).query(&mut c).unwrap();
    }
    let enc: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg("big")
        .query(&mut c)
        .unwrap();
    // Redis 7.0 reports every list as a quicklist, small or not.
    assert_eq!(enc, "quicklist");
    let _: i64 = redis::cmd("RPUSH").arg("big").arg(4).query(&mut c).unwrap();
    let enc: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg("big")
        .query(&mut c)
        .unwrap();
    assert_eq!(enc, "quicklist");
    // DUMP/RESTORE keeps a list intact.
    let dump: Vec<u8> = redis::cmd("DUMP").arg("big").query(&mut c).unwrap();
    let _: () = redis::cmd("RESTORE")
        .arg("copy")
        .arg(0)
        .arg(dump)
        .query(&mut c)
        .unwrap();
    let copy: Vec<i64> = redis::cmd("LRANGE")
        .arg("copy")
        .arg(0)
        .arg(-1)
        .query(&mut c)
        .unwrap();
    assert_eq!(copy, vec![0, 1, 2, 3, 4]);
}

/// Redis 7.0's quicklist tuning knobs are accepted and checked: list-compress-depth (CONFIG)
/// and DEBUG QUICKLIST-PACKED-THRESHOLD; lists behave the same whatever they are set to.
#[test]
fn quicklist_tuning_is_accepted_and_changes_no_reply() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("list-compress-depth")
        .arg(2)
        .query(&mut c)
        .unwrap();
    let got: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("list-compress-depth")
        .query(&mut c)
        .unwrap();
    assert_eq!(got, ["list-compress-depth", "2"]);
    assert!(
        e(&mut c, &["CONFIG", "SET", "list-compress-depth", "-1"]).contains("list-compress-depth")
    );
    let ok: String = redis::cmd("DEBUG")
        .arg("QUICKLIST-PACKED-THRESHOLD")
        .arg("1b")
        .query(&mut c)
        .unwrap();
    assert_eq!(ok, "OK");
    assert!(e(&mut c, &["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "5gb"])
        .contains("argument must be a memory value"));
    let big = "x".repeat(500);
    for v in ["a", big.as_str(), "b"] {
        let _: i64 = redis::cmd("RPUSH").arg("l").arg(v).query(&mut c).unwrap();
    }
    let _: () = redis::cmd("LSET")
        .arg("l")
        .arg(0)
        .arg(&big)
        .query(&mut c)
        .unwrap();
    let all: Vec<String> = redis::cmd("LRANGE")
        .arg("l")
        .arg(0)
        .arg(-1)
        .query(&mut c)
        .unwrap();
    assert_eq!(all, [big.as_str(), big.as_str(), "b"]);
    let enc: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg("l")
        .query(&mut c)
        .unwrap();
    assert_eq!(enc, "quicklist");
}
