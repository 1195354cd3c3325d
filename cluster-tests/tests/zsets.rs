//! Sorted sets through stock clients: every ZSET command's options and errors, ranges with
//! exclusive and infinite bounds, RESP3 reply shapes, encoding conversion and large sets.

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

/// The full error line the server sent (code and message).
fn err(c: &mut Connection, args: &[&str]) -> String {
    match cmd(args).query::<Value>(c) {
        Ok(v) => panic!("{args:?} succeeded with {v:?}"),
        Err(e) => format!("{} {}", e.code().unwrap_or("?"), e.detail().unwrap_or("")),
    }
}

fn strs(c: &mut Connection, args: &[&str]) -> Vec<String> {
    q(c, args)
}

fn sv(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Whether `key` is gone (SET NX succeeds only on a missing key).
fn key_gone(c: &mut Connection, key: &str) -> bool {
    let r: Option<String> = q(c, &["SET", key, "probe", "NX"]);
    r.is_some()
}

#[test]
fn zadd_options_and_their_errors() {
    let node = Node::start(&[]);
    let c = &mut node.client();
    assert_eq!(q::<i64>(c, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]), 3);
    assert_eq!(q::<i64>(c, &["ZADD", "z", "1", "a"]), 0);
    assert_eq!(q::<i64>(c, &["ZADD", "z", "CH", "5", "a", "1", "d"]), 2);
    assert_eq!(q::<i64>(c, &["ZADD", "z", "NX", "9", "a", "4", "e"]), 1);
    assert_eq!(q::<f64>(c, &["ZSCORE", "z", "a"]), 5.0);
    assert_eq!(
        q::<i64>(c, &["ZADD", "z", "XX", "CH", "6", "a", "7", "nosuch"]),
        1
    );
    assert_eq!(q::<Option<f64>>(c, &["ZSCORE", "z", "nosuch"]), None);
    // GT/LT only move scores in one direction; new members are still added.
    assert_eq!(
        q::<i64>(c, &["ZADD", "z", "GT", "CH", "1", "a", "10", "b", "8", "f"]),
        2
    );
    assert_eq!(q::<f64>(c, &["ZSCORE", "z", "a"]), 6.0);
    assert_eq!(q::<f64>(c, &["ZSCORE", "z", "b"]), 10.0);
    assert_eq!(
        q::<i64>(c, &["ZADD", "z", "LT", "CH", "1", "a", "20", "b"]),
        1
    );
    assert_eq!(q::<f64>(c, &["ZSCORE", "z", "a"]), 1.0);
    assert_eq!(
        q::<i64>(c, &["ZADD", "z", "XX", "GT", "CH", "0", "a", "2", "a"]),
        1
    );
    // INCR replies the new score, or nil when a condition blocked it.
    assert_eq!(q::<f64>(c, &["ZADD", "z", "INCR", "1.5", "a"]), 3.5);
    assert_eq!(
        q::<Option<f64>>(c, &["ZADD", "z", "INCR", "GT", "-1", "a"]),
        None
    );
    assert_eq!(
        q::<Option<f64>>(c, &["ZADD", "z", "NX", "INCR", "1", "a"]),
        None
    );
    assert_eq!(
        q::<Option<f64>>(c, &["ZADD", "z", "XX", "INCR", "1", "zz"]),
        None
    );
    assert_eq!(q::<i64>(c, &["ZADD", "missing", "XX", "1", "a"]), 0);
    assert!(key_gone(c, "missing"));

    assert_eq!(
        err(c, &["ZADD", "z", "NX", "XX", "1", "a"]),
        "ERR XX and NX options at the same time are not compatible"
    );
    for opts in [["GT", "LT"], ["GT", "NX"], ["NX", "LT"]] {
        assert_eq!(
            err(c, &["ZADD", "z", opts[0], opts[1], "1", "a"]),
            "ERR GT, LT, and/or NX options at the same time are not compatible"
        );
    }
    assert_eq!(
        err(c, &["ZADD", "z", "INCR", "1", "a", "2", "b"]),
        "ERR INCR option supports a single increment-element pair"
    );
    assert_eq!(
        err(c, &["ZADD", "z", "1"]),
        "ERR wrong number of arguments for 'zadd' command"
    );
    assert_eq!(err(c, &["ZADD", "z", "1", "a", "2"]), "ERR syntax error");
    assert_eq!(err(c, &["ZADD", "z", "CH", "NX"]), "ERR syntax error");
    assert_eq!(
        err(c, &["ZADD", "z", "x", "a"]),
        "ERR value is not a valid float"
    );
    assert_eq!(
        err(c, &["ZADD", "z", "nan", "a"]),
        "ERR value is not a valid float"
    );
    assert_eq!(
        err(c, &["ZADD", "z"]),
        "ERR wrong number of arguments for 'zadd' command"
    );
    // A bad score anywhere leaves the set untouched.
    assert_eq!(
        err(c, &["ZADD", "z", "1", "new1", "bad", "new2"]),
        "ERR value is not a valid float"
    );
    assert_eq!(q::<Option<f64>>(c, &["ZSCORE", "z", "new1"]), None);
    // Overflowing literals are refused as Redis's strtod check refuses them; -0 is stored as 0.
    assert_eq!(
        err(c, &["ZADD", "z", "1e400", "a"]),
        "ERR value is not a valid float"
    );
    assert_eq!(
        err(c, &["ZADD", "z", "1e-400", "a"]),
        "ERR value is not a valid float"
    );
    assert_eq!(
        err(c, &["ZINCRBY", "z", "-1e400", "a"]),
        "ERR value is not a valid float"
    );
    q::<i64>(c, &["ZADD", "negzero", "-0", "m"]);
    assert_eq!(q::<String>(c, &["ZSCORE", "negzero", "m"]), "0");
    // inf + -inf is NaN.
    assert_eq!(q::<i64>(c, &["ZADD", "inf", "inf", "a"]), 1);
    assert_eq!(
        err(c, &["ZADD", "inf", "INCR", "-inf", "a"]),
        "ERR resulting score is not a number (NaN)"
    );
    assert_eq!(
        err(c, &["ZINCRBY", "inf", "-inf", "a"]),
        "ERR resulting score is not a number (NaN)"
    );
    assert_eq!(q::<String>(c, &["ZSCORE", "inf", "a"]), "inf");
}

#[test]
fn zincrby_zrem_zcard_zscore_zmscore() {
    let node = Node::start(&[]);
    let c = &mut node.client();
    assert_eq!(q::<String>(c, &["ZINCRBY", "z", "2.5", "a"]), "2.5");
    assert_eq!(q::<String>(c, &["ZINCRBY", "z", "-1", "a"]), "1.5");
    assert_eq!(
        err(c, &["ZINCRBY", "z", "abc", "a"]),
        "ERR value is not a valid float"
    );
    q::<i64>(c, &["ZADD", "z", "1.1", "b", "1e100", "c", "-0.5", "d"]);
    assert_eq!(q::<f64>(c, &["ZSCORE", "z", "b"]), 1.1);
    assert_eq!(q::<String>(c, &["ZSCORE", "z", "c"]), "1e+100");
    assert_eq!(q::<i64>(c, &["ZCARD", "z"]), 4);
    assert_eq!(q::<i64>(c, &["ZCARD", "nokey"]), 0);
    let ms: Vec<Option<String>> = q(c, &["ZMSCORE", "z", "a", "nosuch", "d"]);
    assert_eq!(ms, vec![Some("1.5".into()), None, Some("-0.5".into())]);
    let ms: Vec<Option<String>> = q(c, &["ZMSCORE", "nokey", "a", "b"]);
    assert_eq!(ms, vec![None, None]);
    assert_eq!(q::<Option<String>>(c, &["ZSCORE", "nokey", "a"]), None);
    assert_eq!(q::<i64>(c, &["ZREM", "z", "a", "nosuch", "b"]), 2);
    assert_eq!(q::<i64>(c, &["ZREM", "z", "nosuch"]), 0);
    assert_eq!(q::<i64>(c, &["ZREM", "nokey", "a"]), 0);
    assert_eq!(q::<i64>(c, &["ZREM", "z", "c", "d"]), 2);
    assert!(key_gone(c, "z"), "an emptied sorted set is deleted");
}

#[test]
fn zrange_by_rank_score_and_lex() {
    let node = Node::start(&[]);
    let c = &mut node.client();
    q::<i64>(
        c,
        &[
            "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e",
        ],
    );
    assert_eq!(
        strs(c, &["ZRANGE", "z", "0", "-1"]),
        sv(&["a", "b", "c", "d", "e"])
    );
    assert_eq!(strs(c, &["ZRANGE", "z", "-2", "-1"]), sv(&["d", "e"]));
    assert_eq!(
        strs(c, &["ZRANGE", "z", "1", "2", "WITHSCORES"]),
        sv(&["b", "2", "c", "3"])
    );
    assert_eq!(strs(c, &["ZRANGE", "z", "0", "1", "REV"]), sv(&["e", "d"]));
    assert_eq!(strs(c, &["ZRANGE", "z", "-100", "100"]).len(), 5);
    assert!(strs(c, &["ZRANGE", "z", "5", "10"]).is_empty());
    assert!(strs(c, &["ZRANGE", "z", "3", "1"]).is_empty());
    assert!(strs(c, &["ZRANGE", "nokey", "0", "-1"]).is_empty());
    // Extreme indexes, offsets and counts are clamped, never allocated.
    let big = "9223372036854775807";
    let small = "-9223372036854775808";
    assert_eq!(strs(c, &["ZRANGE", "z", small, big]).len(), 5);
    assert!(strs(
        c,
        &["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", big, big]
    )
    .is_empty());
    assert_eq!(
        strs(
            c,
            &["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "4", big]
        ),
        sv(&["e"])
    );
    assert_eq!(
        strs(
            c,
            &["ZRANGE", "z", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "4", big]
        ),
        sv(&["a"])
    );
    assert_eq!(
        strs(c, &["ZREVRANGE", "z", "0", "1", "WITHSCORES"]),
        sv(&["e", "5", "d", "4"])
    );
    // Scores: "(" excludes, -inf/+inf are open ends, LIMIT offset count, REV swaps the bounds.
    assert_eq!(
        strs(c, &["ZRANGE", "z", "(1", "3", "BYSCORE"]),
        sv(&["b", "c"])
    );
    assert_eq!(strs(c, &["ZRANGE", "z", "(1", "(3", "BYSCORE"]), sv(&["b"]));
    assert_eq!(
        strs(
            c,
            &["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "1", "2"]
        ),
        sv(&["b", "c"])
    );
    assert_eq!(
        strs(
            c,
            &["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "3", "-1"]
        ),
        sv(&["d", "e"])
    );
    assert!(strs(
        c,
        &["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "-1", "5"]
    )
    .is_empty());
    assert!(strs(
        c,
        &["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "0", "0"]
    )
    .is_empty());
    assert_eq!(
        strs(
            c,
            &["ZRANGE", "z", "+inf", "(4", "BYSCORE", "REV", "WITHSCORES"]
        ),
        sv(&["e", "5"])
    );
    assert_eq!(
        strs(
            c,
            &["ZRANGE", "z", "4", "2", "BYSCORE", "REV", "LIMIT", "1", "5"]
        ),
        sv(&["c", "b"])
    );
    assert_eq!(
        strs(c, &["ZRANGEBYSCORE", "z", "2", "(4", "WITHSCORES"]),
        sv(&["b", "2", "c", "3"])
    );
    assert_eq!(
        strs(
            c,
            &["ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "4", "10"]
        ),
        sv(&["e"])
    );
    assert_eq!(
        strs(
            c,
            &["ZREVRANGEBYSCORE", "z", "+inf", "-inf", "LIMIT", "0", "2"]
        ),
        sv(&["e", "d"])
    );
    assert_eq!(
        strs(c, &["ZREVRANGEBYSCORE", "z", "(5", "(1"]),
        sv(&["d", "c", "b"])
    );
    assert!(strs(c, &["ZRANGEBYSCORE", "z", "5", "1"]).is_empty());
    assert_eq!(q::<i64>(c, &["ZCOUNT", "z", "(1", "+inf"]), 4);
    assert_eq!(q::<i64>(c, &["ZCOUNT", "z", "-inf", "(1"]), 0);
    assert_eq!(q::<i64>(c, &["ZCOUNT", "nokey", "-inf", "+inf"]), 0);
    // Lex ranges.
    q::<i64>(
        c,
        &[
            "ZADD", "l", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e",
        ],
    );
    assert_eq!(strs(c, &["ZRANGEBYLEX", "l", "-", "+"]).len(), 5);
    assert_eq!(strs(c, &["ZRANGEBYLEX", "l", "[b", "(d"]), sv(&["b", "c"]));
    assert_eq!(
        strs(c, &["ZRANGEBYLEX", "l", "(b", "+", "LIMIT", "1", "2"]),
        sv(&["d", "e"])
    );
    assert_eq!(
        strs(c, &["ZREVRANGEBYLEX", "l", "+", "[c"]),
        sv(&["e", "d", "c"])
    );
    assert_eq!(
        strs(
            c,
            &["ZRANGE", "l", "[d", "-", "BYLEX", "REV", "LIMIT", "0", "2"]
        ),
        sv(&["d", "c"])
    );
    assert!(strs(c, &["ZRANGEBYLEX", "l", "+", "-"]).is_empty());
    assert_eq!(q::<i64>(c, &["ZLEXCOUNT", "l", "(a", "[c"]), 2);
    assert_eq!(q::<i64>(c, &["ZLEXCOUNT", "l", "-", "+"]), 5);
    assert_eq!(q::<i64>(c, &["ZLEXCOUNT", "nokey", "-", "+"]), 0);
}

#[test]
fn zrange_errors_are_worded_as_redis() {
    let node = Node::start(&[]);
    let c = &mut node.client();
    q::<i64>(c, &["ZADD", "z", "1", "a"]);
    let limit =
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX";
    assert_eq!(
        err(c, &["ZRANGE", "z", "0", "-1", "LIMIT", "0", "1"]),
        limit
    );
    assert_eq!(
        err(c, &["ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"]),
        "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
    );
    assert_eq!(
        err(c, &["ZRANGEBYLEX", "z", "-", "+", "WITHSCORES"]),
        "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
    );
    assert_eq!(
        err(c, &["ZRANGE", "z", "a", "1"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(c, &["ZRANGE", "z", "x", "1", "BYSCORE"]),
        "ERR min or max is not a float"
    );
    assert_eq!(
        err(c, &["ZRANGE", "z", "(x", "1", "BYSCORE"]),
        "ERR min or max is not a float"
    );
    assert_eq!(
        err(c, &["ZRANGEBYSCORE", "z", "1", "nan"]),
        "ERR min or max is not a float"
    );
    assert_eq!(
        err(c, &["ZCOUNT", "z", "1", "x"]),
        "ERR min or max is not a float"
    );
    assert_eq!(
        err(c, &["ZRANGE", "z", "a", "+", "BYLEX"]),
        "ERR min or max not valid string range item"
    );
    assert_eq!(
        err(c, &["ZRANGEBYLEX", "z", "-", "+x"]),
        "ERR min or max not valid string range item"
    );
    assert_eq!(
        err(c, &["ZLEXCOUNT", "z", "", "+"]),
        "ERR min or max not valid string range item"
    );
    assert_eq!(
        err(c, &["ZRANGE", "z", "0", "1", "FOO"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(c, &["ZRANGE", "z", "0", "1", "BYSCORE", "BYLEX"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(c, &["ZRANGE", "z", "0", "1", "REV", "REV"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(c, &["ZRANGEBYSCORE", "z", "0", "1", "REV"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(c, &["ZREVRANGE", "z", "0", "1", "BYSCORE"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(c, &["ZRANGEBYSCORE", "z", "0", "1", "LIMIT", "x", "1"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(c, &["ZRANGE", "z", "0"]),
        "ERR wrong number of arguments for 'zrange' command"
    );
}

#[test]
fn zrank_and_zrevrank_with_and_without_score() {
    let node = Node::start(&[]);
    let c = &mut node.client();
    q::<i64>(c, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    assert_eq!(q::<i64>(c, &["ZRANK", "z", "a"]), 0);
    assert_eq!(q::<i64>(c, &["ZREVRANK", "z", "a"]), 2);
    assert_eq!(q::<Option<i64>>(c, &["ZRANK", "z", "nosuch"]), None);
    assert_eq!(q::<Option<i64>>(c, &["ZRANK", "nokey", "a"]), None);
    assert_eq!(
        q::<(i64, String)>(c, &["ZRANK", "z", "b", "WITHSCORE"]),
        (1, "2".into())
    );
    assert_eq!(
        q::<(i64, String)>(c, &["ZREVRANK", "z", "c", "withscore"]),
        (0, "3".into())
    );
    assert_eq!(
        q::<Value>(c, &["ZRANK", "z", "nosuch", "WITHSCORE"]),
        Value::Nil
    );
    assert_eq!(err(c, &["ZRANK", "z", "a", "FOO"]), "ERR syntax error");
    assert_eq!(
        err(c, &["ZRANK", "z", "a", "WITHSCORE", "x"]),
        "ERR syntax error"
    );
}

#[test]
fn zrangestore_and_zremrange_family() {
    let node = Node::start(&[]);
    let c = &mut node.client();
    q::<i64>(
        c,
        &[
            "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e",
        ],
    );
    assert_eq!(q::<i64>(c, &["ZRANGESTORE", "dst", "z", "1", "2"]), 2);
    assert_eq!(
        strs(c, &["ZRANGE", "dst", "0", "-1", "WITHSCORES"]),
        sv(&["b", "2", "c", "3"])
    );
    assert_eq!(
        q::<i64>(
            c,
            &[
                "ZRANGESTORE",
                "dst",
                "z",
                "(3",
                "+inf",
                "BYSCORE",
                "LIMIT",
                "0",
                "1"
            ]
        ),
        1
    );
    assert_eq!(strs(c, &["ZRANGE", "dst", "0", "-1"]), sv(&["d"]));
    assert_eq!(
        q::<i64>(c, &["ZRANGESTORE", "dst", "z", "+", "[d", "BYLEX", "REV"]),
        2
    );
    assert_eq!(strs(c, &["ZRANGE", "dst", "0", "-1"]), sv(&["d", "e"]));
    assert_eq!(
        q::<i64>(c, &["ZRANGESTORE", "dst", "z", "0", "1", "REV"]),
        2
    );
    assert_eq!(strs(c, &["ZRANGE", "dst", "0", "-1"]), sv(&["d", "e"]));
    // An empty result deletes the destination, whatever it held.
    assert_eq!(q::<i64>(c, &["ZRANGESTORE", "dst", "nokey", "0", "-1"]), 0);
    assert!(key_gone(c, "dst"));
    assert_eq!(
        err(c, &["ZRANGESTORE", "dst", "z", "0", "-1", "WITHSCORES"]),
        "ERR syntax error"
    );

    assert_eq!(q::<i64>(c, &["ZREMRANGEBYRANK", "z", "0", "0"]), 1);
    assert_eq!(q::<i64>(c, &["ZREMRANGEBYRANK", "z", "-1", "-1"]), 1);
    assert_eq!(strs(c, &["ZRANGE", "z", "0", "-1"]), sv(&["b", "c", "d"]));
    assert_eq!(q::<i64>(c, &["ZREMRANGEBYSCORE", "z", "(2", "3"]), 1);
    assert_eq!(q::<i64>(c, &["ZREMRANGEBYSCORE", "z", "10", "20"]), 0);
    assert_eq!(
        err(c, &["ZREMRANGEBYSCORE", "z", "x", "1"]),
        "ERR min or max is not a float"
    );
    assert_eq!(
        err(c, &["ZREMRANGEBYRANK", "z", "x", "1"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(q::<i64>(c, &["ZREMRANGEBYRANK", "nokey", "0", "-1"]), 0);
    q::<i64>(c, &["ZADD", "l", "0", "a", "0", "b", "0", "c"]);
    assert_eq!(q::<i64>(c, &["ZREMRANGEBYLEX", "l", "(a", "+"]), 2);
    assert_eq!(
        err(c, &["ZREMRANGEBYLEX", "l", "a", "+"]),
        "ERR min or max not valid string range item"
    );
    assert_eq!(q::<i64>(c, &["ZREMRANGEBYLEX", "l", "-", "+"]), 1);
    assert!(key_gone(c, "l"));
    assert_eq!(q::<i64>(c, &["ZREMRANGEBYSCORE", "z", "-inf", "+inf"]), 2);
    assert!(key_gone(c, "z"));
}

#[test]
fn pops_and_zmpop() {
    let node = Node::start(&[]);
    let c = &mut node.client();
    q::<i64>(c, &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]);
    assert_eq!(strs(c, &["ZPOPMIN", "z"]), sv(&["a", "1"]));
    assert_eq!(strs(c, &["ZPOPMAX", "z"]), sv(&["d", "4"]));
    assert!(strs(c, &["ZPOPMIN", "z", "0"]).is_empty());
    assert_eq!(strs(c, &["ZPOPMAX", "z", "10"]), sv(&["c", "3", "b", "2"]));
    assert!(key_gone(c, "z"));
    assert!(strs(c, &["ZPOPMIN", "nokey"]).is_empty());
    assert_eq!(
        err(c, &["ZPOPMIN", "z", "-1"]),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(
        err(c, &["ZPOPMIN", "z", "x"]),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(err(c, &["ZPOPMIN", "z", "1", "2"]), "ERR syntax error");

    q::<i64>(c, &["ZADD", "m", "1", "a", "2", "b", "3", "c"]);
    let r: (String, Vec<(String, String)>) = q(c, &["ZMPOP", "2", "nokey", "m", "MIN"]);
    assert_eq!(r, ("m".into(), vec![("a".into(), "1".into())]));
    let r: (String, Vec<(String, String)>) = q(c, &["ZMPOP", "1", "m", "MAX", "COUNT", "10"]);
    assert_eq!(
        r.1,
        vec![("c".into(), "3".into()), ("b".into(), "2".into())]
    );
    assert_eq!(
        q::<Value>(c, &["ZMPOP", "2", "m", "nokey", "MIN"]),
        Value::Nil
    );
    assert_eq!(
        err(c, &["ZMPOP", "0", "m", "MIN"]),
        "ERR numkeys should be greater than 0"
    );
    assert_eq!(
        err(c, &["ZMPOP", "x", "m", "MIN"]),
        "ERR numkeys should be greater than 0"
    );
    assert_eq!(err(c, &["ZMPOP", "5", "m", "MIN"]), "ERR syntax error");
    assert_eq!(err(c, &["ZMPOP", "1", "m", "FOO"]), "ERR syntax error");
    assert_eq!(
        err(c, &["ZMPOP", "1", "m", "MIN", "COUNT", "0"]),
        "ERR count should be greater than 0"
    );
    assert_eq!(
        err(c, &["ZMPOP", "1", "m", "MIN", "COUNT", "1", "COUNT", "1"]),
        "ERR syntax error"
    );
    // A huge count is bounded by the set, not allocated up front.
    q::<i64>(c, &["ZADD", "m", "1", "a"]);
    let r: (String, Vec<(String, String)>) = q(
        c,
        &["ZMPOP", "1", "m", "MIN", "COUNT", "9223372036854775807"],
    );
    assert_eq!(r.1.len(), 1);
    assert_eq!(
        strs(c, &["ZPOPMIN", "nokey", "9223372036854775807"]).len(),
        0
    );
}

#[test]
fn zrandmember_counts_and_scores() {
    let node = Node::start(&[]);
    let c = &mut node.client();
    q::<i64>(c, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    let one: String = q(c, &["ZRANDMEMBER", "z"]);
    assert!(["a", "b", "c"].contains(&one.as_str()));
    assert_eq!(q::<Option<String>>(c, &["ZRANDMEMBER", "nokey"]), None);
    assert!(strs(c, &["ZRANDMEMBER", "nokey", "5"]).is_empty());
    assert!(strs(c, &["ZRANDMEMBER", "z", "0"]).is_empty());
    let mut all = strs(c, &["ZRANDMEMBER", "z", "100"]);
    all.sort();
    assert_eq!(all, sv(&["a", "b", "c"]));
    let two = strs(c, &["ZRANDMEMBER", "z", "2"]);
    assert_eq!(two.len(), 2);
    assert_ne!(two[0], two[1]);
    let rep = strs(c, &["ZRANDMEMBER", "z", "-10"]);
    assert_eq!(rep.len(), 10);
    let ws = strs(c, &["ZRANDMEMBER", "z", "-4", "WITHSCORES"]);
    assert_eq!(ws.len(), 8);
    for p in ws.chunks(2) {
        let expect = match p[0].as_str() {
            "a" => "1",
            "b" => "2",
            _ => "3",
        };
        assert_eq!(p[1], expect);
    }
    assert_eq!(
        err(c, &["ZRANDMEMBER", "z", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(c, &["ZRANDMEMBER", "z", "1", "FOO"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(
            c,
            &["ZRANDMEMBER", "z", "-9223372036854775807", "WITHSCORES"]
        ),
        "ERR value is out of range"
    );
    // Distinct sampling over a big set draws without repeats.
    let mut args = vec!["ZADD".to_string(), "big".into()];
    for i in 0..1000 {
        args.push(i.to_string());
        args.push(format!("m{i}"));
    }
    let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    q::<i64>(c, &a);
    for n in ["10", "500", "999"] {
        let mut got = strs(c, &["ZRANDMEMBER", "big", n]);
        got.sort();
        got.dedup();
        assert_eq!(got.len().to_string(), n);
    }
}

#[test]
fn union_inter_diff_with_weights_and_aggregates() {
    let node = Node::start(&[]);
    let c = &mut node.client();
    q::<i64>(c, &["ZADD", "u1", "1", "a", "2", "b", "3", "c"]);
    q::<i64>(c, &["ZADD", "u2", "10", "b", "20", "c", "30", "d"]);
    assert_eq!(
        strs(c, &["ZUNION", "2", "u1", "u2", "WITHSCORES"]),
        sv(&["a", "1", "b", "12", "c", "23", "d", "30"])
    );
    assert_eq!(
        strs(
            c,
            &[
                "ZUNION",
                "2",
                "u1",
                "u2",
                "WEIGHTS",
                "2",
                "0.5",
                "AGGREGATE",
                "MAX",
                "WITHSCORES"
            ]
        ),
        sv(&["a", "2", "b", "5", "c", "10", "d", "15"])
    );
    assert_eq!(
        strs(
            c,
            &["ZINTER", "2", "u1", "u2", "AGGREGATE", "MIN", "WITHSCORES"]
        ),
        sv(&["b", "2", "c", "3"])
    );
    assert_eq!(
        strs(c, &["ZINTER", "2", "u1", "nokey"]),
        Vec::<String>::new()
    );
    assert_eq!(
        strs(c, &["ZDIFF", "2", "u1", "u2", "WITHSCORES"]),
        sv(&["a", "1"])
    );
    assert_eq!(
        strs(c, &["ZDIFF", "2", "nokey", "u1"]),
        Vec::<String>::new()
    );
    assert_eq!(
        strs(c, &["ZUNION", "2", "u1", "nokey"]),
        sv(&["a", "b", "c"])
    );
    assert_eq!(
        q::<i64>(
            c,
            &["ZUNIONSTORE", "dst", "2", "u1", "u2", "WEIGHTS", "1", "-1"]
        ),
        4
    );
    assert_eq!(
        strs(c, &["ZRANGE", "dst", "0", "-1", "WITHSCORES"]),
        sv(&["d", "-30", "c", "-17", "b", "-8", "a", "1"])
    );
    assert_eq!(q::<i64>(c, &["ZINTERSTORE", "dst", "2", "u1", "u2"]), 2);
    assert_eq!(
        strs(c, &["ZRANGE", "dst", "0", "-1", "WITHSCORES"]),
        sv(&["b", "12", "c", "23"])
    );
    assert_eq!(q::<i64>(c, &["ZDIFFSTORE", "dst", "2", "u2", "u1"]), 1);
    assert_eq!(strs(c, &["ZRANGE", "dst", "0", "-1"]), sv(&["d"]));
    assert_eq!(q::<i64>(c, &["ZINTERSTORE", "dst", "2", "u1", "nokey"]), 0);
    assert!(key_gone(c, "dst"));
    // inf - inf sums to 0, and 0 * inf weighs 0.
    q::<i64>(c, &["ZADD", "i1", "inf", "a"]);
    q::<i64>(c, &["ZADD", "i2", "-inf", "a"]);
    assert_eq!(
        strs(c, &["ZUNION", "2", "i1", "i2", "WITHSCORES"]),
        sv(&["a", "0"])
    );
    assert_eq!(
        strs(c, &["ZUNION", "1", "i1", "WEIGHTS", "0", "WITHSCORES"]),
        sv(&["a", "0"])
    );
    assert_eq!(q::<i64>(c, &["ZINTERCARD", "2", "u1", "u2"]), 2);
    assert_eq!(
        q::<i64>(c, &["ZINTERCARD", "2", "u1", "u2", "LIMIT", "1"]),
        1
    );
    assert_eq!(q::<i64>(c, &["ZINTERCARD", "2", "u1", "nokey"]), 0);

    assert_eq!(
        err(c, &["ZUNION", "0", "u1"]),
        "ERR at least 1 input key is needed for 'zunion' command"
    );
    assert_eq!(
        err(c, &["ZUNIONSTORE", "d", "0", "u1"]),
        "ERR at least 1 input key is needed for 'zunionstore' command"
    );
    assert_eq!(
        err(c, &["ZINTERCARD", "0", "u1"]),
        "ERR at least 1 input key is needed for 'zintercard' command"
    );
    assert_eq!(err(c, &["ZUNION", "3", "u1", "u2"]), "ERR syntax error");
    assert_eq!(
        err(c, &["ZUNION", "x", "u1"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(c, &["ZUNION", "2", "u1", "u2", "WEIGHTS", "1", "x"]),
        "ERR weight value is not a float"
    );
    assert_eq!(
        err(c, &["ZUNION", "2", "u1", "u2", "WEIGHTS", "1"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(c, &["ZUNION", "2", "u1", "u2", "AGGREGATE", "AVG"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(c, &["ZDIFF", "2", "u1", "u2", "WEIGHTS", "1", "1"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(c, &["ZUNIONSTORE", "d", "2", "u1", "u2", "WITHSCORES"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(c, &["ZINTERCARD", "1", "u1", "LIMIT", "-1"]),
        "ERR LIMIT can't be negative"
    );
    assert_eq!(
        err(c, &["ZINTERCARD", "1", "u1", "WITHSCORES"]),
        "ERR syntax error"
    );
}

#[test]
fn plain_sets_take_part_with_score_one() {
    // Redis lets ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD read plain sets, each
    // member scoring 1; intset-encoded members count by their decimal text.
    let node = Node::start(&[]);
    let c = &mut node.client();
    q::<i64>(c, &["SADD", "ints", "1", "2", "-5"]);
    q::<i64>(c, &["SADD", "words", "a", "b", "2"]);
    q::<i64>(c, &["ZADD", "z", "1", "a", "5", "b", "0.5", "2", "7", "q"]);
    assert_eq!(
        strs(c, &["ZINTER", "2", "words", "z", "WITHSCORES"]),
        sv(&["2", "1.5", "a", "2", "b", "6"])
    );
    assert_eq!(
        q::<i64>(
            c,
            &[
                "ZUNIONSTORE",
                "u",
                "3",
                "z",
                "words",
                "ints",
                "WEIGHTS",
                "1",
                "2",
                "3"
            ]
        ),
        6
    );
    assert_eq!(
        strs(c, &["ZRANGE", "u", "0", "-1", "WITHSCORES"]),
        sv(&["-5", "3", "1", "3", "a", "3", "2", "5.5", "b", "7", "q", "7"])
    );
    assert_eq!(
        strs(
            c,
            &[
                "ZINTER",
                "2",
                "ints",
                "words",
                "AGGREGATE",
                "MAX",
                "WITHSCORES"
            ]
        ),
        sv(&["2", "1"])
    );
    assert_eq!(
        strs(c, &["ZDIFF", "2", "z", "ints", "WITHSCORES"]),
        sv(&["a", "1", "b", "5", "q", "7"])
    );
    assert_eq!(q::<i64>(c, &["ZDIFFSTORE", "d", "2", "ints", "words"]), 2);
    assert_eq!(
        strs(c, &["ZRANGE", "d", "0", "-1", "WITHSCORES"]),
        sv(&["-5", "1", "1", "1"])
    );
    assert_eq!(q::<String>(c, &["TYPE", "d"]), "zset");
    assert_eq!(q::<i64>(c, &["ZINTERCARD", "3", "words", "z", "ints"]), 1);
    assert_eq!(
        q::<i64>(c, &["ZINTERCARD", "2", "words", "z", "LIMIT", "2"]),
        2
    );
    // Sources are read, never changed.
    assert_eq!(q::<String>(c, &["TYPE", "words"]), "set");
    assert_eq!(q::<i64>(c, &["SCARD", "ints"]), 3);
}

#[test]
fn zscan_small_and_large() {
    let node = Node::start(&[]);
    let c = &mut node.client();
    q::<i64>(c, &["ZADD", "z", "1", "a", "2.5", "b", "3", "c"]);
    let (cur, items): (String, Vec<String>) = q(c, &["ZSCAN", "z", "0"]);
    assert_eq!(cur, "0");
    assert_eq!(items, sv(&["a", "1", "b", "2.5", "c", "3"]));
    let (_, items): (String, Vec<String>) = q(c, &["ZSCAN", "z", "0", "MATCH", "b*"]);
    assert_eq!(items, sv(&["b", "2.5"]));
    let (cur, items): (String, Vec<String>) = q(c, &["ZSCAN", "nokey", "0"]);
    assert_eq!((cur.as_str(), items.len()), ("0", 0));
    assert_eq!(err(c, &["ZSCAN", "z", "x"]), "ERR invalid cursor");
    assert_eq!(
        err(c, &["ZSCAN", "z", "0", "COUNT", "0"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(c, &["ZSCAN", "z", "0", "COUNT", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(err(c, &["ZSCAN", "z", "0", "FOO", "x"]), "ERR syntax error");
    // A large set is scanned in steps and every member comes back exactly once.
    let mut args = vec!["ZADD".to_string(), "big".into()];
    for i in 0..2000 {
        args.push(i.to_string());
        args.push(format!("m{i}"));
    }
    let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    q::<i64>(c, &a);
    let mut seen = std::collections::HashMap::new();
    let mut cursor = "0".to_string();
    let mut calls = 0;
    loop {
        let (next, items): (String, Vec<String>) = q(c, &["ZSCAN", "big", &cursor, "COUNT", "100"]);
        calls += 1;
        for p in items.chunks(2) {
            *seen.entry(p[0].clone()).or_insert(0) += 1;
            assert_eq!(format!("m{}", p[1]), p[0]);
        }
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert!(calls > 5, "scanned in {calls} calls");
    assert_eq!(seen.len(), 2000);
    assert!(seen.values().all(|&n| n == 1));
}

#[test]
fn wrongtype_everywhere() {
    let node = Node::start(&[]);
    let c = &mut node.client();
    q::<()>(c, &["SET", "s", "x"]);
    q::<i64>(c, &["ZADD", "z", "1", "a"]);
    let wt = "WRONGTYPE Operation against a key holding the wrong kind of value";
    let cases: &[&[&str]] = &[
        &["ZADD", "s", "1", "a"],
        &["ZINCRBY", "s", "1", "a"],
        &["ZREM", "s", "a"],
        &["ZCARD", "s"],
        &["ZCOUNT", "s", "0", "1"],
        &["ZLEXCOUNT", "s", "-", "+"],
        &["ZSCORE", "s", "a"],
        &["ZMSCORE", "s", "a"],
        &["ZRANK", "s", "a"],
        &["ZREVRANK", "s", "a"],
        &["ZRANGE", "s", "0", "-1"],
        &["ZRANGEBYSCORE", "s", "0", "1"],
        &["ZREVRANGEBYSCORE", "s", "1", "0"],
        &["ZRANGEBYLEX", "s", "-", "+"],
        &["ZREVRANGEBYLEX", "s", "+", "-"],
        &["ZREVRANGE", "s", "0", "-1"],
        &["ZRANGESTORE", "d", "s", "0", "-1"],
        &["ZREMRANGEBYRANK", "s", "0", "1"],
        &["ZREMRANGEBYSCORE", "s", "0", "1"],
        &["ZREMRANGEBYLEX", "s", "-", "+"],
        &["ZPOPMIN", "s"],
        &["ZPOPMAX", "s"],
        &["ZMPOP", "1", "s", "MIN"],
        &["ZRANDMEMBER", "s"],
        &["ZUNION", "2", "z", "s"],
        &["ZINTER", "2", "z", "s"],
        &["ZDIFF", "2", "z", "s"],
        &["ZUNIONSTORE", "d", "2", "z", "s"],
        &["ZINTERSTORE", "d", "2", "z", "s"],
        &["ZDIFFSTORE", "d", "2", "z", "s"],
        &["ZINTERCARD", "2", "z", "s"],
        &["ZSCAN", "s", "0"],
    ];
    for args in cases {
        assert_eq!(err(c, args), wt, "{args:?}");
    }
    assert_eq!(err(c, &["GET", "z"]), wt);
    // A store command overwrites a destination of any type.
    assert_eq!(q::<i64>(c, &["ZUNIONSTORE", "s", "1", "z"]), 1);
    assert_eq!(strs(c, &["ZRANGE", "s", "0", "-1"]), sv(&["a"]));
}

/// RESP3 replies: scores are doubles and WITHSCORES pairs are nested, as in Redis 7.
#[test]
fn resp3_reply_shapes() {
    let node = Node::start(&[]);
    let c = &mut node.client_resp3();
    q::<i64>(c, &["ZADD", "z", "1", "a", "2.5", "b", "3", "c"]);
    let pair = |m: &str, s: f64| {
        Value::Array(vec![
            Value::BulkString(m.as_bytes().to_vec()),
            Value::Double(s),
        ])
    };
    assert_eq!(q::<Value>(c, &["ZSCORE", "z", "b"]), Value::Double(2.5));
    assert_eq!(q::<Value>(c, &["ZSCORE", "z", "x"]), Value::Nil);
    assert_eq!(
        q::<Value>(c, &["ZINCRBY", "z", "1", "a"]),
        Value::Double(2.0)
    );
    assert_eq!(
        q::<Value>(c, &["ZMSCORE", "z", "a", "x"]),
        Value::Array(vec![Value::Double(2.0), Value::Nil])
    );
    assert_eq!(
        q::<Value>(c, &["ZRANGE", "z", "0", "1", "WITHSCORES"]),
        Value::Array(vec![pair("a", 2.0), pair("b", 2.5)])
    );
    assert_eq!(
        q::<Value>(c, &["ZRANGEBYSCORE", "z", "(2", "+inf", "WITHSCORES"]),
        Value::Array(vec![pair("b", 2.5), pair("c", 3.0)])
    );
    assert_eq!(
        q::<Value>(c, &["ZRANK", "z", "c", "WITHSCORE"]),
        Value::Array(vec![Value::Int(2), Value::Double(3.0)])
    );
    assert_eq!(q::<Value>(c, &["ZRANK", "z", "x", "WITHSCORE"]), Value::Nil);
    // ZPOPMIN without a count is flat; with a count it nests.
    assert_eq!(
        q::<Value>(c, &["ZPOPMIN", "z"]),
        Value::Array(vec![Value::BulkString(b"a".to_vec()), Value::Double(2.0)])
    );
    assert_eq!(
        q::<Value>(c, &["ZPOPMAX", "z", "1"]),
        Value::Array(vec![pair("c", 3.0)])
    );
    assert_eq!(
        q::<Value>(c, &["ZMPOP", "1", "z", "MIN"]),
        Value::Array(vec![
            Value::BulkString(b"z".to_vec()),
            Value::Array(vec![pair("b", 2.5)])
        ])
    );
    assert_eq!(q::<Value>(c, &["ZMPOP", "1", "z", "MIN"]), Value::Nil);
    q::<i64>(c, &["ZADD", "u", "1", "x"]);
    assert_eq!(
        q::<Value>(c, &["ZUNION", "1", "u", "WITHSCORES"]),
        Value::Array(vec![pair("x", 1.0)])
    );
    assert_eq!(
        q::<Value>(c, &["ZRANDMEMBER", "u", "-2", "WITHSCORES"]),
        Value::Array(vec![pair("x", 1.0), pair("x", 1.0)])
    );
    assert_eq!(
        q::<Value>(c, &["ZADD", "u", "INCR", "inf", "x"]),
        Value::Double(f64::INFINITY)
    );
    assert_eq!(
        q::<Value>(c, &["ZADD", "u", "NX", "INCR", "1", "x"]),
        Value::Nil
    );
}

/// Small sets (listpack) and large ones (skiplist) answer identically, across the
/// conversion and after it (the conversion never goes back).
#[test]
fn encoding_conversion_keeps_contents() {
    let node = Node::start(&[
        "--zset-max-listpack-entries",
        "4",
        "--zset-max-listpack-value",
        "8",
    ]);
    let c = &mut node.client();
    for (i, m) in ["e", "d", "c", "b", "a", "f"].iter().enumerate() {
        q::<i64>(c, &["ZADD", "z", &(i % 3).to_string(), m]);
    }
    assert_eq!(
        strs(c, &["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
        sv(&["b", "0", "e", "0", "a", "1", "d", "1", "c", "2", "f", "2"])
    );
    assert_eq!(q::<i64>(c, &["ZRANK", "z", "d"]), 3);
    assert_eq!(q::<i64>(c, &["ZREM", "z", "a", "b", "c"]), 3);
    assert_eq!(strs(c, &["ZRANGE", "z", "0", "-1"]), sv(&["e", "d", "f"]));
    q::<i64>(
        c,
        &["ZADD", "long", "1", "short", "2", "a-much-longer-member"],
    );
    assert_eq!(
        strs(c, &["ZRANGE", "long", "0", "-1"]),
        sv(&["short", "a-much-longer-member"])
    );
    assert_eq!(q::<i64>(c, &["ZLEXCOUNT", "long", "-", "+"]), 2);
}

/// A 10k-member set: ranks, ranges, counts and removals agree with a model.
#[test]
fn large_set_ranks_and_ranges() {
    let node = Node::start(&[]);
    let c = &mut node.client();
    let n = 10_000usize;
    // Scores repeat (i / 3) so ties are ordered by member.
    let member = |i: usize| format!("m{:05}", (i * 7919) % n);
    let score = |i: usize| ((i * 7919) % n / 3) as f64;
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut c2 = redis::cmd("ZADD");
        c2.arg("big");
        for &i in chunk {
            c2.arg(score(i)).arg(member(i));
        }
        c2.query::<i64>(c).unwrap();
    }
    assert_eq!(q::<i64>(c, &["ZCARD", "big"]), n as i64);
    // In this construction the sorted order is m00000, m00001, ... .
    let all = strs(c, &["ZRANGE", "big", "0", "-1"]);
    let want: Vec<String> = (0..n).map(|i| format!("m{i:05}")).collect();
    assert_eq!(all, want);
    for r in [0usize, 1, 2, 3, 4999, 5000, 9998, 9999] {
        assert_eq!(q::<i64>(c, &["ZRANK", "big", &want[r]]), r as i64);
        assert_eq!(
            q::<i64>(c, &["ZREVRANK", "big", &want[r]]),
            (n - 1 - r) as i64
        );
        assert_eq!(
            strs(c, &["ZRANGE", "big", &r.to_string(), &r.to_string()]),
            vec![want[r].clone()]
        );
    }
    assert_eq!(
        strs(c, &["ZRANGE", "big", "-3", "-1"]),
        want[n - 3..].to_vec()
    );
    assert_eq!(
        strs(c, &["ZRANGE", "big", "0", "2", "REV"]),
        vec![want[9999].clone(), want[9998].clone(), want[9997].clone()]
    );
    // Score 1000 holds members 3000..3002.
    assert_eq!(
        strs(c, &["ZRANGEBYSCORE", "big", "1000", "1000"]),
        want[3000..3003].to_vec()
    );
    assert_eq!(
        strs(c, &["ZRANGEBYSCORE", "big", "(999", "(1001"]),
        want[3000..3003].to_vec()
    );
    assert_eq!(q::<i64>(c, &["ZCOUNT", "big", "(100", "200"]), 300);
    assert_eq!(q::<i64>(c, &["ZCOUNT", "big", "-inf", "+inf"]), n as i64);
    assert_eq!(
        strs(
            c,
            &["ZRANGEBYSCORE", "big", "-inf", "+inf", "LIMIT", "5000", "3"]
        ),
        want[5000..5003].to_vec()
    );
    assert_eq!(
        strs(
            c,
            &[
                "ZREVRANGEBYSCORE",
                "big",
                "+inf",
                "-inf",
                "LIMIT",
                "10",
                "2"
            ]
        ),
        vec![want[9989].clone(), want[9988].clone()]
    );
    assert_eq!(q::<i64>(c, &["ZREMRANGEBYRANK", "big", "100", "199"]), 100);
    assert_eq!(q::<i64>(c, &["ZRANK", "big", &want[200]]), 100);
    assert_eq!(
        q::<i64>(c, &["ZREMRANGEBYSCORE", "big", "(3000", "+inf"]),
        n as i64 - 9003
    );
    assert_eq!(q::<i64>(c, &["ZCARD", "big"]), 9003 - 100);
    assert_eq!(
        strs(c, &["ZRANGE", "big", "-1", "-1"]),
        vec![want[9002].clone()]
    );
    let popped = strs(c, &["ZPOPMIN", "big", "3"]);
    assert_eq!(popped, sv(&["m00000", "0", "m00001", "0", "m00002", "0"]));
}

/// At Redis's default thresholds (128 members, 64-byte members) OBJECT ENCODING says
/// "listpack" up to the limit and "skiplist" past it, either limit; DUMP/RESTORE and
/// DEBUG DIGEST-VALUE see the same contents in both encodings.
#[test]
fn default_thresholds_dump_and_digest() {
    let node = Node::start(&["--enable-debug-command", "yes"]);
    let c = &mut node.client();
    let mut add = redis::cmd("ZADD");
    add.arg("z");
    for i in 0..128 {
        // Ties (i % 5) are ordered by member; scores mix short integers and fractions.
        let score = if i % 2 == 0 {
            (i % 5) as f64
        } else {
            i as f64 / 4.0
        };
        add.arg(score).arg(format!("member-{i:03}"));
    }
    assert_eq!(add.query::<i64>(c).unwrap(), 128);
    let enc = |c: &mut Connection, k: &str| -> String { q(c, &["OBJECT", "ENCODING", k]) };
    assert_eq!(enc(c, "z"), "listpack");
    let small_range = strs(c, &["ZRANGE", "z", "0", "-1", "WITHSCORES"]);
    let small_digest: Vec<String> = q(c, &["DEBUG", "DIGEST-VALUE", "z"]);
    // Moving a member inside a full listpack keeps it one.
    assert_eq!(
        q::<String>(c, &["ZINCRBY", "z", "100", "member-000"]),
        "100"
    );
    assert_eq!(q::<i64>(c, &["ZRANK", "z", "member-000"]), 127);
    assert_eq!(enc(c, "z"), "listpack");
    assert_eq!(q::<String>(c, &["ZINCRBY", "z", "-100", "member-000"]), "0");
    assert_eq!(
        strs(c, &["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
        small_range
    );
    // The same contents as a skiplist (built there directly) digest the same.
    q::<()>(c, &["CONFIG", "SET", "zset-max-listpack-entries", "0"]);
    q::<i64>(c, &["ZUNIONSTORE", "copy", "1", "z"]);
    assert_eq!(enc(c, "copy"), "skiplist");
    assert_eq!(
        q::<Vec<String>>(c, &["DEBUG", "DIGEST-VALUE", "copy"]),
        small_digest
    );
    q::<()>(c, &["CONFIG", "SET", "zset-max-listpack-entries", "128"]);
    // DUMP/RESTORE round trips the listpack.
    let dump: Vec<u8> = q(c, &["DUMP", "z"]);
    redis::cmd("RESTORE")
        .arg("back")
        .arg(0)
        .arg(&dump)
        .query::<()>(c)
        .unwrap();
    assert_eq!(enc(c, "back"), "listpack");
    assert_eq!(
        strs(c, &["ZRANGE", "back", "0", "-1", "WITHSCORES"]),
        small_range
    );
    // The 129th member converts.
    assert_eq!(q::<i64>(c, &["ZADD", "z", "0.5", "one-more"]), 1);
    assert_eq!(enc(c, "z"), "skiplist");
    assert_eq!(q::<i64>(c, &["ZCARD", "z"]), 129);
    assert_eq!(q::<i64>(c, &["ZREM", "z", "one-more"]), 1);
    assert_eq!(enc(c, "z"), "skiplist");
    assert_eq!(
        q::<Vec<String>>(c, &["DEBUG", "DIGEST-VALUE", "z"]),
        small_digest
    );
    // Member length: 64 bytes stay, 65 convert.
    let m64 = "x".repeat(64);
    let m65 = "y".repeat(65);
    q::<i64>(c, &["ZADD", "v", "1", &m64]);
    assert_eq!(enc(c, "v"), "listpack");
    q::<i64>(c, &["ZADD", "v", "2", &m65]);
    assert_eq!(enc(c, "v"), "skiplist");
    assert_eq!(strs(c, &["ZRANGE", "v", "0", "-1"]), vec![m64, m65]);
}

/// Found by the differential check: lex ranges over members of mixed scores answer as Redis
/// walks a small sorted set (empty unless the last member reaches min and the first stays
/// within max; from the first member at or above min while members stay within max).
#[test]
fn lex_ranges_over_mixed_scores_answer_as_redis() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: i64 = q(&mut c, &["ZADD", "z", "1", "a", "2", "9223372036854775807"]);
    let v: Vec<String> = q(&mut c, &["ZRANGEBYLEX", "z", "[a", "[b"]);
    assert!(v.is_empty(), "{v:?}");
    let n: i64 = q(&mut c, &["ZLEXCOUNT", "z", "[a", "[b"]);
    assert_eq!(n, 0);
    let _: i64 = q(&mut c, &["ZADD", "y", "1", "b", "2", "a", "3", "c"]);
    // Every reply below is redis-server 7.0.15's.
    let v: Vec<String> = q(&mut c, &["ZRANGEBYLEX", "y", "[b", "+"]);
    assert_eq!(v, vec!["b", "a", "c"]);
    let v: Vec<String> = q(&mut c, &["ZRANGEBYLEX", "y", "-", "[b"]);
    assert_eq!(
        v,
        vec!["b", "a"],
        "the walk stops at the first member past max"
    );
    let v: Vec<String> = q(&mut c, &["ZRANGEBYLEX", "y", "[a", "[b"]);
    assert_eq!(v, vec!["b", "a"]);
    let n: i64 = q(&mut c, &["ZLEXCOUNT", "y", "[a", "[c"]);
    assert_eq!(n, 3);
}
