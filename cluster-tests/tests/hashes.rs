//! Hash commands through the `redis` crate (RESP2 and RESP3): options, errors, WRONGTYPE,
//! encoding conversions at the thresholds, huge counts, empty results.

use cluster_tests::Node;
use redis::{Connection, FromRedisValue, Value};
use std::collections::{HashMap, HashSet};

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

/// Runs HSCAN to completion with COUNT `count`; returns the fields and the number of calls.
fn hscan_all(c: &mut Connection, key: &str, count: usize) -> (Vec<String>, usize) {
    let mut cursor = "0".to_string();
    let mut fields = Vec::new();
    let mut calls = 0;
    loop {
        let (next, items): (String, Vec<String>) =
            q(c, &["HSCAN", key, &cursor, "COUNT", &count.to_string()]);
        calls += 1;
        fields.extend(items.chunks(2).map(|p| p[0].clone()));
        if next == "0" {
            return (fields, calls);
        }
        cursor = next;
    }
}

#[test]
fn hset_hget_hmget_hmset_and_counts_of_new_fields() {
    let node = Node::start(&[]);
    let mut c = node.client();
    assert_eq!(q::<i64>(&mut c, &["HSET", "h", "a", "1", "b", "2"]), 2);
    assert_eq!(q::<i64>(&mut c, &["HSET", "h", "a", "10", "c", "3"]), 1);
    assert_eq!(q::<String>(&mut c, &["HMSET", "h", "d", "4"]), "OK");
    assert_eq!(
        q::<Option<String>>(&mut c, &["HGET", "h", "a"]),
        Some("10".into())
    );
    assert_eq!(q::<Option<String>>(&mut c, &["HGET", "h", "zz"]), None);
    assert_eq!(q::<Option<String>>(&mut c, &["HGET", "nokey", "a"]), None);
    let got: Vec<Option<String>> = q(&mut c, &["HMGET", "h", "a", "zz", "d"]);
    assert_eq!(got, vec![Some("10".into()), None, Some("4".into())]);
    let got: Vec<Option<String>> = q(&mut c, &["HMGET", "nokey", "a", "b"]);
    assert_eq!(got, vec![None, None]);
    assert_eq!(
        err(&mut c, &["HSET", "h", "a"]),
        "ERR wrong number of arguments for 'hset' command"
    );
    assert_eq!(
        err(&mut c, &["HSET", "h", "a", "1", "b"]),
        "ERR wrong number of arguments for 'hset' command"
    );
    assert_eq!(
        err(&mut c, &["HMSET", "h", "a", "1", "b"]),
        "ERR wrong number of arguments for 'hmset' command"
    );
    assert_eq!(q::<i64>(&mut c, &["HSETNX", "h", "a", "99"]), 0);
    assert_eq!(q::<i64>(&mut c, &["HSETNX", "h", "e", "5"]), 1);
    assert_eq!(q::<i64>(&mut c, &["HSETNX", "new", "f", "v"]), 1);
    assert_eq!(
        q::<Option<String>>(&mut c, &["HGET", "h", "a"]),
        Some("10".into())
    );
    assert_eq!(q::<String>(&mut c, &["TYPE", "h"]), "hash");
    let empty_field: i64 = q(&mut c, &["HSET", "h", "", ""]);
    assert_eq!(empty_field, 1);
    assert_eq!(
        q::<Option<String>>(&mut c, &["HGET", "h", ""]),
        Some(String::new())
    );
}

#[test]
fn hdel_counts_removed_fields_and_deletes_the_emptied_key() {
    let node = Node::start(&[]);
    let mut c = node.client();
    q::<i64>(&mut c, &["HSET", "h", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(q::<i64>(&mut c, &["HDEL", "h", "a", "zz", "a"]), 1);
    assert_eq!(q::<i64>(&mut c, &["HDEL", "nokey", "a"]), 0);
    assert_eq!(q::<i64>(&mut c, &["HLEN", "h"]), 2);
    assert_eq!(q::<i64>(&mut c, &["HDEL", "h", "b", "c"]), 2);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "h"]), 0);
    assert_eq!(q::<String>(&mut c, &["TYPE", "h"]), "none");
}

#[test]
fn hlen_hstrlen_hexists_hkeys_hvals_hgetall() {
    let node = Node::start(&[]);
    let mut c = node.client();
    q::<i64>(&mut c, &["HSET", "h", "a", "hello", "b", ""]);
    assert_eq!(q::<i64>(&mut c, &["HLEN", "h"]), 2);
    assert_eq!(q::<i64>(&mut c, &["HLEN", "nokey"]), 0);
    assert_eq!(q::<i64>(&mut c, &["HSTRLEN", "h", "a"]), 5);
    assert_eq!(q::<i64>(&mut c, &["HSTRLEN", "h", "b"]), 0);
    assert_eq!(q::<i64>(&mut c, &["HSTRLEN", "h", "zz"]), 0);
    assert_eq!(q::<i64>(&mut c, &["HSTRLEN", "nokey", "a"]), 0);
    assert_eq!(q::<i64>(&mut c, &["HEXISTS", "h", "b"]), 1);
    assert_eq!(q::<i64>(&mut c, &["HEXISTS", "h", "zz"]), 0);
    assert_eq!(q::<i64>(&mut c, &["HEXISTS", "nokey", "a"]), 0);
    let mut keys: Vec<String> = q(&mut c, &["HKEYS", "h"]);
    keys.sort();
    assert_eq!(keys, ["a", "b"]);
    let mut vals: Vec<String> = q(&mut c, &["HVALS", "h"]);
    vals.sort();
    assert_eq!(vals, ["", "hello"]);
    let all: HashMap<String, String> = q(&mut c, &["HGETALL", "h"]);
    assert_eq!(all.len(), 2);
    assert_eq!(all["a"], "hello");
    assert!(q::<Vec<String>>(&mut c, &["HKEYS", "nokey"]).is_empty());
    assert!(q::<Vec<String>>(&mut c, &["HVALS", "nokey"]).is_empty());
    assert_eq!(
        q::<Value>(&mut c, &["HGETALL", "nokey"]),
        Value::Array(vec![])
    );
    assert_eq!(
        err(&mut c, &["HLEN"]),
        "ERR wrong number of arguments for 'hlen' command"
    );
}

#[test]
fn hgetall_is_a_map_in_resp3_and_a_flat_array_in_resp2() {
    let node = Node::start(&[]);
    let mut c3 = node.client_resp3();
    q::<i64>(&mut c3, &["HSET", "h", "f", "v"]);
    let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
    assert_eq!(
        q::<Value>(&mut c3, &["HGETALL", "h"]),
        Value::Map(vec![(bulk("f"), bulk("v"))])
    );
    assert_eq!(
        q::<Value>(&mut c3, &["HGETALL", "nokey"]),
        Value::Map(vec![])
    );
    let mut c2 = node.client();
    assert_eq!(
        q::<Value>(&mut c2, &["HGETALL", "h"]),
        Value::Array(vec![bulk("f"), bulk("v")])
    );
}

#[test]
fn hincrby_and_hincrbyfloat_with_their_errors() {
    let node = Node::start(&[]);
    let mut c = node.client();
    assert_eq!(q::<i64>(&mut c, &["HINCRBY", "h", "n", "5"]), 5);
    assert_eq!(q::<i64>(&mut c, &["HINCRBY", "h", "n", "-7"]), -2);
    assert_eq!(
        err(&mut c, &["HINCRBY", "h", "n", "x"]),
        "ERR value is not an integer or out of range"
    );
    q::<i64>(
        &mut c,
        &[
            "HSET",
            "h",
            "s",
            "abc",
            "m",
            "9223372036854775807",
            "sp",
            " 1",
        ],
    );
    assert_eq!(
        err(&mut c, &["HINCRBY", "h", "s", "1"]),
        "ERR hash value is not an integer"
    );
    assert_eq!(
        err(&mut c, &["HINCRBY", "h", "sp", "1"]),
        "ERR hash value is not an integer"
    );
    assert_eq!(
        err(&mut c, &["HINCRBY", "h", "m", "1"]),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(
        q::<String>(&mut c, &["HINCRBYFLOAT", "h", "f", "10.5"]),
        "10.5"
    );
    assert_eq!(
        q::<String>(&mut c, &["HINCRBYFLOAT", "h", "f", "0.1"]),
        "10.6"
    );
    assert_eq!(
        q::<String>(&mut c, &["HINCRBYFLOAT", "h", "f", "-0.6"]),
        "10"
    );
    assert_eq!(
        q::<String>(&mut c, &["HINCRBYFLOAT", "h", "e", "5.0e3"]),
        "5000"
    );
    assert_eq!(q::<String>(&mut c, &["HGET", "h", "e"]), "5000");
    assert_eq!(
        q::<String>(&mut c, &["HINCRBYFLOAT", "h", "n", "1.5"]),
        "-0.5"
    );
    assert_eq!(
        err(&mut c, &["HINCRBYFLOAT", "h", "s", "1"]),
        "ERR hash value is not a float"
    );
    assert_eq!(
        err(&mut c, &["HINCRBYFLOAT", "h", "f", "x"]),
        "ERR value is not a valid float"
    );
    assert_eq!(
        err(&mut c, &["HINCRBYFLOAT", "h", "f", "inf"]),
        "ERR value is NaN or Infinity"
    );
    // Long-double range, as Redis: past f64's but not past long double's.
    q::<i64>(&mut c, &["HSET", "h", "big", "1.18e4932"]);
    assert_eq!(
        err(&mut c, &["HINCRBYFLOAT", "h", "big", "1.18e4932"]),
        "ERR increment would produce NaN or Infinity"
    );
    assert_eq!(q::<String>(&mut c, &["HGET", "h", "big"]), "1.18e4932");
}

#[test]
fn hrandfield_counts_withvalues_and_resp3_shapes() {
    let node = Node::start(&[]);
    let mut c = node.client();
    assert_eq!(q::<Option<String>>(&mut c, &["HRANDFIELD", "nokey"]), None);
    assert!(q::<Vec<String>>(&mut c, &["HRANDFIELD", "nokey", "3"]).is_empty());
    assert!(q::<Vec<String>>(&mut c, &["HRANDFIELD", "nokey", "-3", "WITHVALUES"]).is_empty());
    q::<i64>(&mut c, &["HSET", "h", "a", "1", "b", "2", "c", "3"]);
    let one: String = q(&mut c, &["HRANDFIELD", "h"]);
    assert!(["a", "b", "c"].contains(&one.as_str()));
    assert!(q::<Vec<String>>(&mut c, &["HRANDFIELD", "h", "0"]).is_empty());
    let two: Vec<String> = q(&mut c, &["HRANDFIELD", "h", "2"]);
    assert_eq!(two.len(), 2);
    assert_ne!(two[0], two[1]);
    let all: HashSet<String> = q(&mut c, &["HRANDFIELD", "h", "9223372036854775807"]);
    assert_eq!(all.len(), 3);
    let rep: Vec<String> = q(&mut c, &["HRANDFIELD", "h", "-20"]);
    assert_eq!(rep.len(), 20);
    assert!(rep.iter().all(|f| ["a", "b", "c"].contains(&f.as_str())));
    let flat: Vec<String> = q(&mut c, &["HRANDFIELD", "h", "-4", "withvalues"]);
    assert_eq!(flat.len(), 8);
    for p in flat.chunks(2) {
        assert_eq!(
            p[1],
            ((p[0].as_bytes()[0] - b'a' + b'1') as char).to_string()
        );
    }
    let range = "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
    assert_eq!(
        err(&mut c, &["HRANDFIELD", "h", "-9223372036854775808"]),
        range
    );
    assert_eq!(
        err(
            &mut c,
            &["HRANDFIELD", "h", "-9223372036854770000", "WITHVALUES"]
        ),
        "ERR value is out of range"
    );
    assert_eq!(
        err(&mut c, &["HRANDFIELD", "h", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(&mut c, &["HRANDFIELD", "h", "1", "WITHVALUE"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut c, &["HRANDFIELD", "h", "1", "WITHVALUES", "x"]),
        "ERR syntax error"
    );
    // A reply of a billion elements is refused rather than built.
    assert_eq!(
        err(&mut c, &["HRANDFIELD", "h", "-1000000000"]),
        "ERR value is out of range"
    );
    let mut c3 = node.client_resp3();
    match q::<Value>(&mut c3, &["HRANDFIELD", "h", "-3", "WITHVALUES"]) {
        Value::Array(items) => {
            assert_eq!(items.len(), 3);
            assert!(items
                .iter()
                .all(|p| matches!(p, Value::Array(kv) if kv.len() == 2)));
        }
        v => panic!("unexpected {v:?}"),
    }
    match q::<Value>(&mut c3, &["HRANDFIELD", "h", "5", "WITHVALUES"]) {
        Value::Array(items) => assert_eq!(items.len(), 3),
        v => panic!("unexpected {v:?}"),
    }
}

#[test]
fn hrandfield_on_a_hashtable_samples_distinct_fields() {
    let node = Node::start(&[]);
    let mut c = node.client();
    for i in 0..300 {
        q::<i64>(&mut c, &["HSET", "big", &format!("f{i}"), &i.to_string()]);
    }
    let got: Vec<String> = q(&mut c, &["HRANDFIELD", "big", "100", "WITHVALUES"]);
    assert_eq!(got.len(), 200);
    let fields: HashSet<&String> = got.iter().step_by(2).collect();
    assert_eq!(fields.len(), 100);
    for p in got.chunks(2) {
        assert_eq!(format!("f{}", p[1]), p[0]);
    }
    let rep: Vec<String> = q(&mut c, &["HRANDFIELD", "big", "-1000"]);
    assert_eq!(rep.len(), 1000);
}

#[test]
fn hscan_small_hash_returns_everything_at_once_with_options() {
    let node = Node::start(&[]);
    let mut c = node.client();
    q::<i64>(&mut c, &["HSET", "h", "a1", "1", "a2", "2", "b1", "3"]);
    let (cur, items): (String, Vec<String>) = q(&mut c, &["HSCAN", "h", "0", "COUNT", "1"]);
    assert_eq!(cur, "0");
    assert_eq!(items.len(), 6);
    let (_, items): (String, Vec<String>) = q(&mut c, &["HSCAN", "h", "0", "MATCH", "a*"]);
    let mut fields: Vec<&String> = items.iter().step_by(2).collect();
    fields.sort();
    assert_eq!(fields, ["a1", "a2"]);
    let (_, items): (String, Vec<String>) =
        q(&mut c, &["HSCAN", "h", "0", "MATCH", "b*", "NOVALUES"]);
    assert_eq!(items, ["b1"]);
    let (cur, items): (String, Vec<String>) = q(&mut c, &["HSCAN", "nokey", "0"]);
    assert_eq!((cur.as_str(), items.len()), ("0", 0));
    assert_eq!(err(&mut c, &["HSCAN", "h", "x"]), "ERR invalid cursor");
    assert_eq!(err(&mut c, &["HSCAN", "h", " 1"]), "ERR invalid cursor");
    assert_eq!(
        err(&mut c, &["HSCAN", "h", "18446744073709551616"]),
        "ERR invalid cursor"
    );
    // strtoul semantics, as Redis: a negative cursor wraps around and is accepted.
    let (cur, items): (String, Vec<String>) = q(&mut c, &["HSCAN", "h", "-1"]);
    assert_eq!((cur.as_str(), items.len()), ("0", 6));
    assert_eq!(
        err(&mut c, &["HSCAN", "h", "0", "COUNT", "0"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut c, &["HSCAN", "h", "0", "COUNT", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(&mut c, &["HSCAN", "h", "0", "MATCH"]),
        "ERR syntax error"
    );
    assert_eq!(err(&mut c, &["HSCAN", "h", "0", "FOO"]), "ERR syntax error");
}

#[test]
fn hscan_big_hash_cursor_survives_deletes_and_huge_count() {
    let node = Node::start(&[]);
    let mut c = node.client();
    // Past hash-max-listpack-entries (512), so a hashtable.
    for i in 0..600 {
        q::<i64>(&mut c, &["HSET", "big", &format!("f{i}"), "v"]);
    }
    let (fields, calls) = hscan_all(&mut c, "big", 10);
    assert!(
        calls > 10,
        "a hashtable is scanned in steps ({calls} calls)"
    );
    assert_eq!(fields.iter().collect::<HashSet<_>>().len(), 600);
    // Delete fields between steps: every field present throughout is still returned.
    let mut cursor = "0".to_string();
    let mut seen = HashSet::new();
    let mut round = 0;
    loop {
        let (next, items): (String, Vec<String>) =
            q(&mut c, &["HSCAN", "big", &cursor, "COUNT", "7"]);
        items.chunks(2).for_each(|p| {
            seen.insert(p[0].clone());
        });
        q::<i64>(&mut c, &["HDEL", "big", &format!("f{}", round * 2 + 1)]);
        round += 1;
        if next == "0" {
            break;
        }
        cursor = next;
    }
    for i in (0..600).step_by(2) {
        assert!(seen.contains(&format!("f{i}")), "f{i} missed");
    }
    let (cur, items): (String, Vec<String>) = q(
        &mut c,
        &["HSCAN", "big", "0", "COUNT", "9223372036854775807"],
    );
    assert_eq!(cur, "0");
    assert_eq!(items.len(), 2 * q::<usize>(&mut c, &["HLEN", "big"]));
    let (_, items): (String, Vec<String>) =
        q(&mut c, &["HSCAN", "big", "99999999999", "COUNT", "5"]);
    assert_eq!(items.len(), 10);
}

#[test]
fn hash_converts_to_hashtable_at_the_thresholds() {
    let node = Node::start(&[
        "--hash-max-listpack-entries",
        "4",
        "--hash-max-listpack-value",
        "8",
    ]);
    let mut c = node.client();
    // Observable through HSCAN: a listpack answers whole (cursor 0) whatever the COUNT.
    q::<i64>(
        &mut c,
        &["HSET", "h", "a", "1", "b", "2", "c", "3", "d", "4"],
    );
    assert_eq!(hscan_all(&mut c, "h", 1).1, 1);
    q::<i64>(&mut c, &["HSET", "h", "e", "5"]);
    let (fields, calls) = hscan_all(&mut c, "h", 1);
    assert_eq!((fields.len(), calls), (5, 5));
    q::<i64>(&mut c, &["HDEL", "h", "a", "b", "c"]);
    assert_eq!(hscan_all(&mut c, "h", 1).1, 2, "never converts back");

    q::<i64>(&mut c, &["HSET", "v", "a", "12345678"]);
    assert_eq!(hscan_all(&mut c, "v", 1).1, 1);
    q::<i64>(&mut c, &["HSET", "v", "b", "123456789"]);
    assert_eq!(hscan_all(&mut c, "v", 1).1, 2);
    q::<i64>(&mut c, &["HSET", "f", "123456789", "x"]);
    q::<i64>(&mut c, &["HSET", "f", "y", "x"]);
    assert_eq!(hscan_all(&mut c, "f", 1).1, 2);
    q::<String>(
        &mut c,
        &[
            "HMSET", "m", "a", "1", "b", "2", "c", "3", "d", "4", "a", "5",
        ],
    );
    assert_eq!(q::<i64>(&mut c, &["HLEN", "m"]), 4);
    assert_eq!(
        hscan_all(&mut c, "m", 1).1,
        4,
        "5 pairs in one HSET convert up front"
    );
    q::<String>(&mut c, &["HINCRBYFLOAT", "i", "x", "1.125"]);
    q::<i64>(&mut c, &["HINCRBY", "i", "y", "1"]);
    assert_eq!(q::<String>(&mut c, &["HGET", "i", "x"]), "1.125");
}

#[test]
fn hash_commands_answer_wrongtype_on_other_types() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = redis::cmd("SET").arg("s").arg("v").query(&mut c).unwrap();
    q::<i64>(&mut c, &["HSET", "h", "a", "1"]);
    let wt = "WRONGTYPE Operation against a key holding the wrong kind of value";
    for cmd in [
        vec!["HSET", "s", "a", "1"],
        vec!["HMSET", "s", "a", "1"],
        vec!["HSETNX", "s", "a", "1"],
        vec!["HGET", "s", "a"],
        vec!["HMGET", "s", "a"],
        vec!["HDEL", "s", "a"],
        vec!["HLEN", "s"],
        vec!["HSTRLEN", "s", "a"],
        vec!["HEXISTS", "s", "a"],
        vec!["HKEYS", "s"],
        vec!["HVALS", "s"],
        vec!["HGETALL", "s"],
        vec!["HINCRBY", "s", "a", "1"],
        vec!["HINCRBYFLOAT", "s", "a", "1"],
        vec!["HRANDFIELD", "s"],
        vec!["HRANDFIELD", "s", "2"],
        vec!["HSCAN", "s", "0"],
        vec!["GET", "h"],
    ] {
        assert_eq!(err(&mut c, &cmd), wt, "{cmd:?}");
    }
    assert_eq!(q::<String>(&mut c, &["GET", "s"]), "v");
}

#[test]
fn thresholds_default_as_in_redis_and_answer_to_their_ziplist_names() {
    // Old config files and tools still use the *-ziplist-* names; Redis 7 takes both.
    let node = Node::start(&["--zset-max-ziplist-entries", "2"]);
    let mut c = node.client();
    let got: Vec<String> = q(&mut c, &["CONFIG", "GET", "zset-max-listpack-entries"]);
    assert_eq!(got, ["zset-max-listpack-entries", "2"]);
    let got: Vec<String> = q(&mut c, &["CONFIG", "GET", "zset-max-ziplist-entries"]);
    assert_eq!(got, ["zset-max-ziplist-entries", "2"]);
    q::<i64>(&mut c, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    assert_eq!(
        q::<String>(&mut c, &["OBJECT", "ENCODING", "z"]),
        "skiplist"
    );

    // Redis's built-in default for hashes is 512 entries.
    let got: Vec<String> = q(&mut c, &["CONFIG", "GET", "hash-max-listpack-entries"]);
    assert_eq!(got, ["hash-max-listpack-entries", "512"]);
    let mut hset = vec!["HSET".to_string(), "h".to_string()];
    for i in 0..512 {
        hset.push(format!("f{i}"));
        hset.push("v".to_string());
    }
    let args: Vec<&str> = hset.iter().map(String::as_str).collect();
    q::<i64>(&mut c, &args);
    assert_eq!(
        q::<String>(&mut c, &["OBJECT", "ENCODING", "h"]),
        "listpack"
    );
    q::<i64>(&mut c, &["HSET", "h", "one-more", "v"]);
    assert_eq!(
        q::<String>(&mut c, &["OBJECT", "ENCODING", "h"]),
        "hashtable"
    );

    q::<()>(&mut c, &["CONFIG", "SET", "hash-max-ziplist-entries", "1"]);
    q::<i64>(&mut c, &["HSET", "h2", "a", "1", "b", "2"]);
    assert_eq!(
        q::<String>(&mut c, &["OBJECT", "ENCODING", "h2"]),
        "hashtable"
    );
}
