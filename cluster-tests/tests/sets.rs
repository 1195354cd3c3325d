//! Set commands through the `redis` crate (RESP2 and RESP3): options, errors, WRONGTYPE,
//! encoding conversions at the thresholds, huge counts, empty results.

use cluster_tests::Node;
use redis::{Connection, FromRedisValue, Value};
use std::collections::HashSet;

fn q<T: FromRedisValue>(c: &mut Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// The full error text (`CODE detail`) a command answers.
fn err(c: &mut Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query::<Value>(c) {
        Ok(v) => panic!("{args:?} succeeded: {v:?}"),
        Err(e) => format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or("")),
    }
}

fn members(c: &mut Connection, key: &str) -> Vec<String> {
    let mut v: Vec<String> = q(c, &["SMEMBERS", key]);
    v.sort();
    v
}

/// Runs SSCAN to completion with COUNT `count`; returns the members and the number of calls.
fn sscan_all(c: &mut Connection, key: &str, count: usize) -> (Vec<String>, usize) {
    let mut cursor = "0".to_string();
    let mut all = Vec::new();
    let mut calls = 0;
    loop {
        let (next, items): (String, Vec<String>) =
            q(c, &["SSCAN", key, &cursor, "COUNT", &count.to_string()]);
        calls += 1;
        all.extend(items);
        if next == "0" {
            return (all, calls);
        }
        cursor = next;
    }
}

const WT: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

#[test]
fn sadd_srem_scard_membership_and_deletion_when_empty() {
    let node = Node::start(&[]);
    let mut c = node.client();
    assert_eq!(q::<i64>(&mut c, &["SADD", "s", "1", "2", "3", "2"]), 3);
    assert_eq!(q::<i64>(&mut c, &["SADD", "s", "2", "a"]), 1);
    assert_eq!(q::<i64>(&mut c, &["SCARD", "s"]), 4);
    assert_eq!(q::<i64>(&mut c, &["SCARD", "nokey"]), 0);
    assert_eq!(q::<i64>(&mut c, &["SISMEMBER", "s", "2"]), 1);
    assert_eq!(q::<i64>(&mut c, &["SISMEMBER", "s", "02"]), 0);
    assert_eq!(q::<i64>(&mut c, &["SISMEMBER", "nokey", "2"]), 0);
    assert_eq!(
        q::<Vec<i64>>(&mut c, &["SMISMEMBER", "s", "2", "9", "a"]),
        [1, 0, 1]
    );
    assert_eq!(
        q::<Vec<i64>>(&mut c, &["SMISMEMBER", "nokey", "a", "b"]),
        [0, 0]
    );
    assert_eq!(members(&mut c, "s"), ["1", "2", "3", "a"]);
    assert!(members(&mut c, "nokey").is_empty());
    assert_eq!(q::<i64>(&mut c, &["SREM", "s", "1", "zz", "1"]), 1);
    assert_eq!(q::<i64>(&mut c, &["SREM", "nokey", "a"]), 0);
    assert_eq!(q::<i64>(&mut c, &["SREM", "s", "2", "3", "a"]), 3);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "s"]), 0);
    assert_eq!(
        err(&mut c, &["SADD", "s"]),
        "ERR wrong number of arguments for 'sadd' command"
    );
    assert_eq!(
        err(&mut c, &["SMISMEMBER", "s"]),
        "ERR wrong number of arguments for 'smismember' command"
    );
    // Integer-looking members keep their exact bytes.
    q::<i64>(
        &mut c,
        &[
            "SADD",
            "n",
            "-0",
            "007",
            "-9223372036854775808",
            "9223372036854775808",
        ],
    );
    assert_eq!(
        members(&mut c, "n"),
        ["-0", "-9223372036854775808", "007", "9223372036854775808"]
    );
    assert_eq!(q::<String>(&mut c, &["TYPE", "n"]), "set");
}

#[test]
fn smembers_and_set_algebra_reply_resp3_sets() {
    let node = Node::start(&[]);
    let mut c3 = node.client_resp3();
    q::<i64>(&mut c3, &["SADD", "s", "x"]);
    let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
    assert_eq!(
        q::<Value>(&mut c3, &["SMEMBERS", "s"]),
        Value::Set(vec![bulk("x")])
    );
    assert_eq!(
        q::<Value>(&mut c3, &["SMEMBERS", "nokey"]),
        Value::Set(vec![])
    );
    assert_eq!(
        q::<Value>(&mut c3, &["SINTER", "s", "s"]),
        Value::Set(vec![bulk("x")])
    );
    assert_eq!(
        q::<Value>(&mut c3, &["SINTER", "s", "nokey"]),
        Value::Set(vec![])
    );
    assert_eq!(
        q::<Value>(&mut c3, &["SUNION", "s", "nokey"]),
        Value::Set(vec![bulk("x")])
    );
    assert_eq!(
        q::<Value>(&mut c3, &["SDIFF", "s", "s"]),
        Value::Set(vec![])
    );
    assert_eq!(
        q::<Value>(&mut c3, &["SRANDMEMBER", "s", "3"]),
        Value::Array(vec![bulk("x")])
    );
    assert_eq!(
        q::<Value>(&mut c3, &["SPOP", "nokey", "3"]),
        Value::Set(vec![])
    );
    assert_eq!(
        q::<Value>(&mut c3, &["SPOP", "s", "3"]),
        Value::Set(vec![bulk("x")])
    );
    let mut c2 = node.client();
    q::<i64>(&mut c2, &["SADD", "s", "y"]);
    assert_eq!(
        q::<Value>(&mut c2, &["SMEMBERS", "s"]),
        Value::Array(vec![bulk("y")])
    );
}

#[test]
fn srandmember_counts_and_errors() {
    let node = Node::start(&[]);
    let mut c = node.client();
    assert_eq!(q::<Option<String>>(&mut c, &["SRANDMEMBER", "nokey"]), None);
    assert!(q::<Vec<String>>(&mut c, &["SRANDMEMBER", "nokey", "5"]).is_empty());
    assert!(q::<Vec<String>>(&mut c, &["SRANDMEMBER", "nokey", "-5"]).is_empty());
    for (key, ms) in [("ints", ["1", "2", "3"]), ("strs", ["a", "b", "c"])] {
        q::<i64>(&mut c, &["SADD", key, ms[0], ms[1], ms[2]]);
        let one: String = q(&mut c, &["SRANDMEMBER", key]);
        assert!(ms.contains(&one.as_str()));
        let two: Vec<String> = q(&mut c, &["SRANDMEMBER", key, "2"]);
        assert_eq!(two.len(), 2);
        assert_ne!(two[0], two[1]);
        assert!(q::<Vec<String>>(&mut c, &["SRANDMEMBER", key, "0"]).is_empty());
        let all: HashSet<String> = q(&mut c, &["SRANDMEMBER", key, "9223372036854775807"]);
        assert_eq!(all.len(), 3);
        let rep: Vec<String> = q(&mut c, &["SRANDMEMBER", key, "-50"]);
        assert_eq!(rep.len(), 50);
        assert!(rep.iter().all(|m| ms.contains(&m.as_str())));
        assert_eq!(
            q::<i64>(&mut c, &["SCARD", key]),
            3,
            "SRANDMEMBER does not remove"
        );
    }
    for i in 0..1000 {
        q::<i64>(&mut c, &["SADD", "big", &format!("m{i}")]);
    }
    let got: Vec<String> = q(&mut c, &["SRANDMEMBER", "big", "600"]);
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), 600);
    let range = "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
    assert_eq!(
        err(&mut c, &["SRANDMEMBER", "ints", "-9223372036854775808"]),
        range
    );
    assert_eq!(
        err(&mut c, &["SRANDMEMBER", "ints", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(&mut c, &["SRANDMEMBER", "ints", "1", "2"]),
        "ERR syntax error"
    );
    // A reply of a billion elements is refused rather than built.
    assert_eq!(
        err(&mut c, &["SRANDMEMBER", "ints", "-1000000000"]),
        "ERR value is out of range"
    );
}

#[test]
fn spop_removes_members_and_deletes_the_emptied_key() {
    let node = Node::start(&[]);
    let mut c = node.client();
    assert_eq!(q::<Option<String>>(&mut c, &["SPOP", "nokey"]), None);
    assert!(q::<Vec<String>>(&mut c, &["SPOP", "nokey", "3"]).is_empty());
    q::<i64>(&mut c, &["SADD", "s", "1", "2", "3", "4", "5"]);
    let one: String = q(&mut c, &["SPOP", "s"]);
    assert_eq!(q::<i64>(&mut c, &["SISMEMBER", "s", &one]), 0);
    assert!(q::<Vec<String>>(&mut c, &["SPOP", "s", "0"]).is_empty());
    let two: Vec<String> = q(&mut c, &["SPOP", "s", "2"]);
    assert_eq!(two.iter().collect::<HashSet<_>>().len(), 2);
    assert_eq!(q::<i64>(&mut c, &["SCARD", "s"]), 2);
    let rest: Vec<String> = q(&mut c, &["SPOP", "s", "9223372036854775807"]);
    assert_eq!(rest.len(), 2);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "s"]), 0);
    let mut popped = HashSet::new();
    popped.insert(one);
    popped.extend(two);
    popped.extend(rest);
    assert_eq!(popped.len(), 5);
    for i in 0..300 {
        q::<i64>(&mut c, &["SADD", "big", &format!("m{i}")]);
    }
    let got: Vec<String> = q(&mut c, &["SPOP", "big", "120"]);
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), 120);
    assert_eq!(q::<i64>(&mut c, &["SCARD", "big"]), 180);
    let left: Vec<String> = q(&mut c, &["SMEMBERS", "big"]);
    assert!(left.iter().all(|m| !got.contains(m)));
    let positive = "ERR value is out of range, must be positive";
    assert_eq!(err(&mut c, &["SPOP", "big", "-1"]), positive);
    assert_eq!(err(&mut c, &["SPOP", "big", "x"]), positive);
    assert_eq!(err(&mut c, &["SPOP", "big", "1", "2"]), "ERR syntax error");
}

#[test]
fn smove_between_sets() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = redis::cmd("SET").arg("str").arg("v").query(&mut c).unwrap();
    q::<i64>(&mut c, &["SADD", "a", "x", "y"]);
    assert_eq!(q::<i64>(&mut c, &["SMOVE", "a", "b", "x"]), 1);
    assert_eq!(members(&mut c, "b"), ["x"]);
    assert_eq!(q::<i64>(&mut c, &["SMOVE", "a", "b", "x"]), 0);
    assert_eq!(q::<i64>(&mut c, &["SMOVE", "nokey", "b", "x"]), 0);
    assert_eq!(q::<i64>(&mut c, &["SMOVE", "a", "a", "y"]), 1);
    assert_eq!(q::<i64>(&mut c, &["SMOVE", "a", "a", "zz"]), 0);
    assert_eq!(err(&mut c, &["SMOVE", "a", "str", "y"]), WT);
    assert_eq!(err(&mut c, &["SMOVE", "str", "a", "y"]), WT);
    assert_eq!(members(&mut c, "a"), ["y"]);
    q::<i64>(&mut c, &["SADD", "b", "y"]);
    assert_eq!(q::<i64>(&mut c, &["SMOVE", "a", "b", "y"]), 1);
    assert_eq!(
        q::<i64>(&mut c, &["EXISTS", "a"]),
        0,
        "emptied source is deleted"
    );
    assert_eq!(members(&mut c, "b"), ["x", "y"]);
}

#[test]
fn sinter_sunion_sdiff_and_their_store_variants() {
    let node = Node::start(&[]);
    let mut c = node.client();
    q::<i64>(&mut c, &["SADD", "s1", "a", "b", "c", "d", "1"]);
    q::<i64>(&mut c, &["SADD", "s2", "c", "d", "e", "1"]);
    q::<i64>(&mut c, &["SADD", "s3", "d", "e", "f"]);
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(sorted(q(&mut c, &["SINTER", "s1", "s2"])), ["1", "c", "d"]);
    assert_eq!(sorted(q(&mut c, &["SINTER", "s1", "s2", "s3"])), ["d"]);
    assert_eq!(
        sorted(q(&mut c, &["SINTER", "s1"])),
        ["1", "a", "b", "c", "d"]
    );
    assert!(q::<Vec<String>>(&mut c, &["SINTER", "s1", "nokey"]).is_empty());
    assert_eq!(
        sorted(q(&mut c, &["SUNION", "s1", "s3", "nokey"])),
        ["1", "a", "b", "c", "d", "e", "f"]
    );
    assert!(q::<Vec<String>>(&mut c, &["SUNION", "nokey"]).is_empty());
    assert_eq!(sorted(q(&mut c, &["SDIFF", "s1", "s2", "s3"])), ["a", "b"]);
    assert_eq!(
        sorted(q(&mut c, &["SDIFF", "s1", "nokey"])),
        ["1", "a", "b", "c", "d"]
    );
    assert!(q::<Vec<String>>(&mut c, &["SDIFF", "nokey", "s1"]).is_empty());

    assert_eq!(q::<i64>(&mut c, &["SINTERSTORE", "d", "s1", "s2"]), 3);
    assert_eq!(members(&mut c, "d"), ["1", "c", "d"]);
    assert_eq!(q::<i64>(&mut c, &["SUNIONSTORE", "d", "s2", "s3"]), 5);
    assert_eq!(members(&mut c, "d"), ["1", "c", "d", "e", "f"]);
    assert_eq!(q::<i64>(&mut c, &["SDIFFSTORE", "d", "s1", "s2"]), 2);
    assert_eq!(members(&mut c, "d"), ["a", "b"]);
    assert_eq!(
        q::<i64>(&mut c, &["SUNIONSTORE", "s1", "s1", "s3"]),
        7,
        "destination may be a source"
    );
    // Empty results delete the destination, whatever it held.
    assert_eq!(q::<i64>(&mut c, &["SINTERSTORE", "d", "s2", "nokey"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "d"]), 0);
    let _: () = redis::cmd("SET")
        .arg("d")
        .arg("v")
        .arg("EX")
        .arg("100")
        .query(&mut c)
        .unwrap();
    assert_eq!(q::<i64>(&mut c, &["SDIFFSTORE", "d", "s2", "s2"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "d"]), 0);
    // A non-empty result replaces a key of another type and drops its TTL.
    let _: () = redis::cmd("SET")
        .arg("d")
        .arg("v")
        .arg("EX")
        .arg("100")
        .query(&mut c)
        .unwrap();
    assert_eq!(q::<i64>(&mut c, &["SUNIONSTORE", "d", "s3"]), 3);
    assert_eq!(q::<String>(&mut c, &["TYPE", "d"]), "set");
    assert_eq!(q::<i64>(&mut c, &["SUNIONSTORE", "d", "nokey"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "d"]), 0);

    let _: () = redis::cmd("SET").arg("str").arg("v").query(&mut c).unwrap();
    for cmd in [
        vec!["SINTER", "s1", "str"],
        vec!["SINTER", "nokey", "str"],
        vec!["SUNION", "s1", "str"],
        vec!["SDIFF", "s1", "str"],
        vec!["SDIFF", "nokey", "str"],
        vec!["SINTERSTORE", "d", "s1", "str"],
        vec!["SUNIONSTORE", "d", "str"],
        vec!["SDIFFSTORE", "d", "s1", "str"],
    ] {
        assert_eq!(err(&mut c, &cmd), WT, "{cmd:?}");
    }
    assert_eq!(
        q::<String>(&mut c, &["SUNIONSTORE", "str", "s3"]).as_str(),
        "3"
    );
    assert_eq!(
        err(&mut c, &["SINTERSTORE", "d"]),
        "ERR wrong number of arguments for 'sinterstore' command"
    );
}

#[test]
fn sintercard_numkeys_and_limit() {
    let node = Node::start(&[]);
    let mut c = node.client();
    q::<i64>(&mut c, &["SADD", "s1", "a", "b", "c", "d"]);
    q::<i64>(&mut c, &["SADD", "s2", "b", "c", "d", "e"]);
    assert_eq!(q::<i64>(&mut c, &["SINTERCARD", "2", "s1", "s2"]), 3);
    assert_eq!(q::<i64>(&mut c, &["SINTERCARD", "1", "s1"]), 4);
    assert_eq!(
        q::<i64>(&mut c, &["SINTERCARD", "2", "s1", "s2", "LIMIT", "2"]),
        2
    );
    assert_eq!(
        q::<i64>(&mut c, &["SINTERCARD", "2", "s1", "s2", "LIMIT", "0"]),
        3
    );
    assert_eq!(
        q::<i64>(&mut c, &["SINTERCARD", "2", "s1", "s2", "LIMIT", "100"]),
        3
    );
    assert_eq!(q::<i64>(&mut c, &["SINTERCARD", "2", "s1", "nokey"]), 0);
    let numkeys = "ERR numkeys should be greater than 0";
    assert_eq!(err(&mut c, &["SINTERCARD", "0", "s1"]), numkeys);
    assert_eq!(err(&mut c, &["SINTERCARD", "x", "s1"]), numkeys);
    assert_eq!(err(&mut c, &["SINTERCARD", "-1", "s1"]), numkeys);
    assert_eq!(
        err(&mut c, &["SINTERCARD", "3", "s1", "s2"]),
        "ERR Number of keys can't be greater than number of args"
    );
    assert_eq!(
        err(&mut c, &["SINTERCARD", "2", "s1", "s2", "LIMIT", "-1"]),
        "ERR LIMIT can't be negative"
    );
    assert_eq!(
        err(&mut c, &["SINTERCARD", "2", "s1", "s2", "LIMIT", "x"]),
        "ERR LIMIT can't be negative"
    );
    assert_eq!(
        err(&mut c, &["SINTERCARD", "2", "s1", "s2", "LIMIT"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut c, &["SINTERCARD", "1", "s1", "s2"]),
        "ERR syntax error"
    );
    let _: () = redis::cmd("SET").arg("str").arg("v").query(&mut c).unwrap();
    assert_eq!(err(&mut c, &["SINTERCARD", "2", "s1", "str"]), WT);
}

#[test]
fn sscan_options_and_stable_cursor_on_big_sets() {
    let node = Node::start(&[]);
    let mut c = node.client();
    // A compact (intset) set answers whole whatever the COUNT.
    q::<i64>(&mut c, &["SADD", "small", "11", "12", "21"]);
    let (cur, items): (String, Vec<String>) = q(&mut c, &["SSCAN", "small", "0", "COUNT", "1"]);
    assert_eq!((cur.as_str(), items.len()), ("0", 3));
    let (_, mut items): (String, Vec<String>) = q(&mut c, &["SSCAN", "small", "0", "MATCH", "1*"]);
    items.sort();
    assert_eq!(items, ["11", "12"]);
    let (cur, items): (String, Vec<String>) = q(&mut c, &["SSCAN", "nokey", "0"]);
    assert_eq!((cur.as_str(), items.len()), ("0", 0));
    assert_eq!(err(&mut c, &["SSCAN", "small", "x"]), "ERR invalid cursor");
    assert_eq!(
        err(&mut c, &["SSCAN", "small", "0", "COUNT", "0"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut c, &["SSCAN", "small", "0", "NOVALUES"]),
        "ERR syntax error"
    );
    for i in 0..1000 {
        q::<i64>(&mut c, &["SADD", "big", &format!("m{i}")]);
    }
    let (all, calls) = sscan_all(&mut c, "big", 20);
    assert!(calls > 20);
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 1000);
    let mut cursor = "0".to_string();
    let mut seen = HashSet::new();
    let mut round = 0;
    loop {
        let (next, items): (String, Vec<String>) =
            q(&mut c, &["SSCAN", "big", &cursor, "COUNT", "13"]);
        seen.extend(items);
        // Remove members and add new ones between steps.
        q::<i64>(&mut c, &["SREM", "big", &format!("m{}", round * 2 + 1)]);
        q::<i64>(&mut c, &["SADD", "big", &format!("new{round}")]);
        round += 1;
        if next == "0" {
            break;
        }
        cursor = next;
    }
    for i in (0..1000).step_by(2) {
        assert!(seen.contains(&format!("m{i}")), "m{i} missed");
    }
    let (cur, items): (String, Vec<String>) = q(
        &mut c,
        &["SSCAN", "big", "0", "COUNT", "9223372036854775807"],
    );
    assert_eq!(cur, "0");
    assert_eq!(items.len(), q::<usize>(&mut c, &["SCARD", "big"]));
}

#[test]
fn set_encodings_convert_at_the_thresholds() {
    let node = Node::start(&[
        "--set-max-intset-entries",
        "4",
        "--set-max-listpack-entries",
        "3",
    ]);
    let mut c = node.client();
    // Observable through SSCAN: compact encodings answer whole (cursor 0) whatever the COUNT.
    q::<i64>(&mut c, &["SADD", "ints", "4", "3", "2", "1"]);
    let (all, calls) = sscan_all(&mut c, "ints", 1);
    assert_eq!(
        (all, calls),
        (vec!["1".to_string(), "2".into(), "3".into(), "4".into()], 1),
        "intset is sorted"
    );
    q::<i64>(&mut c, &["SADD", "ints", "5"]);
    assert_eq!(
        sscan_all(&mut c, "ints", 1).1,
        5,
        "intset past 4 entries is a hashtable"
    );
    q::<i64>(&mut c, &["SREM", "ints", "1", "2", "3"]);
    assert_eq!(sscan_all(&mut c, "ints", 1).1, 2, "never converts back");

    q::<i64>(&mut c, &["SADD", "mixed", "1", "a"]);
    assert_eq!(sscan_all(&mut c, "mixed", 1).1, 1);
    q::<i64>(&mut c, &["SADD", "mixed", "b"]);
    assert_eq!(sscan_all(&mut c, "mixed", 1).1, 1);
    q::<i64>(&mut c, &["SADD", "mixed", "c"]);
    assert_eq!(
        sscan_all(&mut c, "mixed", 1).1,
        4,
        "listpack past 3 entries is a hashtable"
    );

    let long = "x".repeat(65);
    q::<i64>(&mut c, &["SADD", "longm", "a"]);
    q::<i64>(&mut c, &["SADD", "longm", &long]);
    assert_eq!(
        sscan_all(&mut c, "longm", 1).1,
        2,
        "a 65-byte member forces a hashtable"
    );
    q::<i64>(&mut c, &["SADD", "edge", &"y".repeat(64)]);
    assert_eq!(sscan_all(&mut c, "edge", 1).1, 1);
    q::<i64>(&mut c, &["SADD", "many", "a", "b", "c", "d"]);
    assert_eq!(
        sscan_all(&mut c, "many", 1).1,
        4,
        "4 members at once start as a hashtable"
    );
    assert_eq!(members(&mut c, "many"), ["a", "b", "c", "d"]);
    q::<i64>(&mut c, &["SADD", "i5", "1", "2", "3", "4", "5"]);
    assert_eq!(sscan_all(&mut c, "i5", 1).1, 5);
    assert_eq!(q::<i64>(&mut c, &["SINTERSTORE", "st", "i5", "i5"]), 5);
    assert_eq!(sscan_all(&mut c, "st", 1).1, 5);
    assert_eq!(q::<i64>(&mut c, &["SINTERSTORE", "st", "ints", "ints"]), 2);
    assert_eq!(
        sscan_all(&mut c, "st", 1).1,
        1,
        "stored results start compact"
    );
}

#[test]
fn set_commands_answer_wrongtype_on_other_types() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = redis::cmd("SET").arg("str").arg("v").query(&mut c).unwrap();
    q::<i64>(&mut c, &["SADD", "s", "a"]);
    for cmd in [
        vec!["SADD", "str", "a"],
        vec!["SREM", "str", "a"],
        vec!["SCARD", "str"],
        vec!["SISMEMBER", "str", "a"],
        vec!["SMISMEMBER", "str", "a"],
        vec!["SMEMBERS", "str"],
        vec!["SRANDMEMBER", "str"],
        vec!["SRANDMEMBER", "str", "3"],
        vec!["SPOP", "str"],
        vec!["SPOP", "str", "3"],
        vec!["SSCAN", "str", "0"],
        vec!["HGET", "s", "a"],
        vec!["GET", "s"],
    ] {
        assert_eq!(err(&mut c, &cmd), WT, "{cmd:?}");
    }
}

/// Redis 7.0's set encodings (the default here): intset while every member is an integer
/// that fits 64 bits and there are at most set-max-intset-entries, hashtable otherwise.
#[test]
fn sets_are_intset_or_hashtable_by_default() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let enc = |c: &mut Connection, k: &str| q::<String>(c, &["OBJECT", "ENCODING", k]);
    q::<i64>(&mut c, &["SADD", "ints", "1", "2", "3"]);
    assert_eq!(enc(&mut c, "ints"), "intset");
    q::<i64>(&mut c, &["SADD", "ints", "a"]);
    assert_eq!(enc(&mut c, "ints"), "hashtable");
    q::<i64>(&mut c, &["SADD", "big", "1", "2"]);
    q::<i64>(&mut c, &["SADD", "big", "17179869184000000000000"]);
    assert_eq!(enc(&mut c, "big"), "hashtable", "past 64 bits");
    q::<i64>(&mut c, &["SADD", "words", "foo"]);
    assert_eq!(enc(&mut c, "words"), "hashtable");
    q::<()>(&mut c, &["CONFIG", "SET", "set-max-intset-entries", "2"]);
    q::<i64>(&mut c, &["SADD", "few", "1", "2"]);
    assert_eq!(enc(&mut c, "few"), "intset");
    q::<i64>(&mut c, &["SADD", "few", "3"]);
    assert_eq!(enc(&mut c, "few"), "hashtable");
}

/// SMOVE of a member the destination already holds changes only the source: a WATCH on the
/// destination survives it.
#[test]
fn smove_into_a_set_holding_the_member_leaves_its_watchers_alone() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let mut other = node.client();
    q::<i64>(&mut c, &["SADD", "src", "a", "b"]);
    q::<i64>(&mut c, &["SADD", "dst", "a"]);
    q::<()>(&mut c, &["WATCH", "dst"]);
    assert_eq!(q::<i64>(&mut other, &["SMOVE", "src", "dst", "a"]), 1);
    let r: Option<(i64,)> = redis::pipe()
        .atomic()
        .cmd("SADD")
        .arg("dst")
        .arg("c")
        .query(&mut c)
        .unwrap();
    assert_eq!(r, Some((1,)), "the transaction ran");
    assert_eq!(q::<i64>(&mut c, &["SCARD", "dst"]), 2);
    assert_eq!(q::<i64>(&mut c, &["SCARD", "src"]), 1);
    // A member new to the destination does touch it.
    q::<()>(&mut c, &["WATCH", "dst"]);
    assert_eq!(q::<i64>(&mut other, &["SMOVE", "src", "dst", "b"]), 1);
    let r: Option<(i64,)> = redis::pipe()
        .atomic()
        .cmd("SADD")
        .arg("dst")
        .arg("d")
        .query(&mut c)
        .unwrap();
    assert_eq!(r, None, "the transaction was aborted");
}
