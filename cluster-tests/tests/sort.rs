//! SORT and SORT_RO over TCP: numeric and ALPHA order, DESC, LIMIT, BY weights (keys and
//! hash fields, constant BY = no sorting), GET patterns, STORE, errors, and the cluster-mode
//! refusals of BY/GET patterns.

use cluster_tests::{own_all_slots, server_error, Node};
use redis::{Connection, FromRedisValue};

fn q<T: FromRedisValue>(c: &mut Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn numeric_alpha_desc_and_limit() {
    let node = Node::start(&[]);
    let mut c = node.client();
    q::<i64>(&mut c, &["RPUSH", "l", "3", "10", "1", "2.5", "-4"]);
    let v: Vec<String> = q(&mut c, &["SORT", "l"]);
    assert_eq!(v, strs(&["-4", "1", "2.5", "3", "10"]));
    let v: Vec<String> = q(&mut c, &["SORT", "l", "DESC"]);
    assert_eq!(v, strs(&["10", "3", "2.5", "1", "-4"]));
    let v: Vec<String> = q(&mut c, &["SORT", "l", "ALPHA"]);
    assert_eq!(v, strs(&["-4", "1", "10", "2.5", "3"]));
    let v: Vec<String> = q(&mut c, &["SORT", "l", "LIMIT", "1", "2"]);
    assert_eq!(v, strs(&["1", "2.5"]));
    // LIMIT is clamped to the collection; a start past the end gives nothing.
    let v: Vec<String> = q(&mut c, &["SORT", "l", "LIMIT", "-10", "2"]);
    assert_eq!(v, strs(&["-4", "1"]));
    let v: Vec<String> = q(&mut c, &["SORT", "l", "LIMIT", "3", "-1"]);
    assert_eq!(v, strs(&["3", "10"]));
    let v: Vec<String> = q(&mut c, &["SORT", "l", "LIMIT", "99", "5"]);
    assert!(v.is_empty());
    // Sets and sorted sets sort too; a missing key is an empty list.
    q::<i64>(&mut c, &["SADD", "s", "b", "a", "c"]);
    let v: Vec<String> = q(&mut c, &["SORT", "s", "ALPHA", "DESC"]);
    assert_eq!(v, strs(&["c", "b", "a"]));
    q::<i64>(&mut c, &["ZADD", "z", "1", "9", "2", "7", "3", "8"]);
    let v: Vec<String> = q(&mut c, &["SORT", "z"]);
    assert_eq!(v, strs(&["7", "8", "9"]));
    let v: Vec<String> = q(&mut c, &["SORT", "missing"]);
    assert!(v.is_empty());
    let v: Vec<String> = q(&mut c, &["SORT_RO", "l", "LIMIT", "0", "1", "DESC"]);
    assert_eq!(v, strs(&["10"]));
}

#[test]
fn by_and_get_patterns() {
    let node = Node::start(&[]);
    let mut c = node.client();
    q::<i64>(&mut c, &["RPUSH", "ids", "1", "2", "3"]);
    for (id, w, name) in [("1", "30", "one"), ("2", "10", "two"), ("3", "20", "three")] {
        q::<()>(&mut c, &["SET", &format!("w_{id}"), w]);
        q::<i64>(&mut c, &["HSET", &format!("o_{id}"), "w", w, "name", name]);
    }
    let v: Vec<String> = q(&mut c, &["SORT", "ids", "BY", "w_*"]);
    assert_eq!(v, strs(&["2", "3", "1"]));
    let v: Vec<String> = q(&mut c, &["SORT", "ids", "BY", "o_*->w", "DESC"]);
    assert_eq!(v, strs(&["1", "3", "2"]));
    // GET # is the element; a missing value is a null.
    let v: Vec<Option<String>> = q(
        &mut c,
        &[
            "SORT",
            "ids",
            "BY",
            "w_*",
            "GET",
            "#",
            "GET",
            "o_*->name",
            "GET",
            "nope_*",
        ],
    );
    assert_eq!(
        v,
        vec![
            Some("2".into()),
            Some("two".into()),
            None,
            Some("3".into()),
            Some("three".into()),
            None,
            Some("1".into()),
            Some("one".into()),
            None,
        ]
    );
    // A constant BY does not sort: the list's own order, reversed by DESC, LIMIT applied.
    q::<i64>(&mut c, &["RPUSH", "raw", "c", "a", "b"]);
    let v: Vec<String> = q(&mut c, &["SORT", "raw", "BY", "nosort"]);
    assert_eq!(v, strs(&["c", "a", "b"]));
    let v: Vec<String> = q(
        &mut c,
        &["SORT", "raw", "BY", "nosort", "DESC", "LIMIT", "0", "2"],
    );
    assert_eq!(v, strs(&["b", "a"]));
    // Missing weights weigh 0.
    let v: Vec<String> = q(&mut c, &["SORT", "raw", "BY", "none_*", "ALPHA"]);
    assert_eq!(v.len(), 3);
}

#[test]
fn store_replaces_deletes_and_wakes_a_waiter() {
    let node = Node::start(&[]);
    let mut c = node.client();
    q::<i64>(&mut c, &["RPUSH", "src", "b", "c", "a"]);
    q::<()>(&mut c, &["SET", "dst", "was a string"]);
    q::<i64>(&mut c, &["EXPIRE", "dst", "100"]);
    let n: i64 = q(&mut c, &["SORT", "src", "ALPHA", "STORE", "dst"]);
    assert_eq!(n, 3);
    let v: Vec<String> = q(&mut c, &["LRANGE", "dst", "0", "-1"]);
    assert_eq!(v, strs(&["a", "b", "c"]));
    assert_eq!(
        q::<i64>(&mut c, &["TTL", "dst"]),
        -1,
        "STORE replaces the TTL too"
    );
    assert_eq!(
        q::<String>(&mut c, &["OBJECT", "ENCODING", "dst"]),
        "quicklist"
    );
    // An empty result deletes the destination.
    let n: i64 = q(&mut c, &["SORT", "missing", "STORE", "dst"]);
    assert_eq!(n, 0);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "dst"]), 0);
    // A set stored with BY nosort is sorted ALPHA, so that replicas store the same list.
    q::<i64>(&mut c, &["SADD", "set", "z", "x", "y"]);
    q::<i64>(&mut c, &["SORT", "set", "BY", "nosort", "STORE", "fromset"]);
    let v: Vec<String> = q(&mut c, &["LRANGE", "fromset", "0", "-1"]);
    assert_eq!(v, strs(&["x", "y", "z"]));
    // A client blocked on the destination gets the first element.
    let mut waiter = node.client();
    let h = std::thread::spawn(move || {
        let r: (String, String) = redis::cmd("BLPOP")
            .arg("target")
            .arg(10)
            .query(&mut waiter)
            .unwrap();
        r
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    q::<i64>(&mut c, &["SORT", "src", "ALPHA", "STORE", "target"]);
    assert_eq!(h.join().unwrap(), ("target".to_string(), "a".to_string()));
    // The destination is a key SORT writes (cluster routing and COMMAND GETKEYS agree).
    let keys: Vec<String> = q(
        &mut c,
        &[
            "COMMAND", "GETKEYS", "SORT", "abc", "STORE", "bad", "STORE", "def",
        ],
    );
    assert_eq!(keys, strs(&["abc", "def"]));
    // COMMAND INFO reports the sorted key (1 1 1) and movable keys, as Redis does.
    let info: Vec<Vec<redis::Value>> = q(&mut c, &["COMMAND", "INFO", "SORT"]);
    let head: (String, i64) = (
        redis::from_redis_value(&info[0][0]).unwrap(),
        redis::from_redis_value(&info[0][1]).unwrap(),
    );
    assert_eq!(head, ("sort".to_string(), -2));
    let flags: Vec<String> = redis::from_redis_value(&info[0][2]).unwrap();
    assert!(flags.iter().any(|f| f == "movablekeys"), "{flags:?}");
    let range: Vec<i64> = info[0][3..6]
        .iter()
        .map(|v| redis::from_redis_value(v).unwrap())
        .collect();
    assert_eq!(range, [1, 1, 1]);
}

#[test]
fn errors() {
    let node = Node::start(&[]);
    let mut c = node.client();
    q::<()>(&mut c, &["SET", "str", "x"]);
    assert!(server_error(&mut c, &["SORT", "str"]).starts_with("WRONGTYPE"));
    q::<i64>(&mut c, &["RPUSH", "l", "1", "x"]);
    assert_eq!(
        server_error(&mut c, &["SORT", "l"]),
        "ERR One or more scores can't be converted into double"
    );
    assert_eq!(
        server_error(&mut c, &["SORT", "l", "FOO"]),
        "ERR syntax error"
    );
    assert_eq!(
        server_error(&mut c, &["SORT", "l", "LIMIT", "a", "1"]),
        "ERR value is not an integer or out of range"
    );
    // Extreme LIMITs are clamped to the collection, never sized from.
    for (start, count) in [
        ("9223372036854775807", "9223372036854775807"),
        ("-9223372036854775808", "9223372036854775807"),
        ("0", "-9223372036854775808"),
    ] {
        let v: Vec<String> = q(
            &mut c,
            &["SORT", "l", "BY", "nosort", "LIMIT", start, count],
        );
        assert!(v.len() <= 2, "{start} {count}: {v:?}");
    }
    // SORT_RO has no STORE.
    assert_eq!(
        server_error(&mut c, &["SORT_RO", "l", "STORE", "d"]),
        "ERR syntax error"
    );
}

#[test]
fn cluster_mode_refuses_by_and_get_patterns() {
    let node = Node::start(&["--cluster-enabled", "yes"]);
    let mut c = node.client();
    own_all_slots(&mut c);
    q::<i64>(&mut c, &["RPUSH", "{t}l", "2", "1"]);
    assert_eq!(
        server_error(&mut c, &["SORT", "{t}l", "BY", "{t}w_*"]),
        "ERR BY option of SORT denied in Cluster mode."
    );
    assert_eq!(
        server_error(&mut c, &["SORT", "{t}l", "GET", "#"]),
        "ERR GET option of SORT denied in Cluster mode."
    );
    // A constant BY reads no other key: allowed.
    let v: Vec<String> = q(&mut c, &["SORT", "{t}l", "BY", "nosort"]);
    assert_eq!(v, strs(&["2", "1"]));
    let v: Vec<String> = q(&mut c, &["SORT", "{t}l", "LIMIT", "0", "2"]);
    assert_eq!(v, strs(&["1", "2"]));
}
