//! Every conversion threshold of the compact encodings (issue 42), crossed in both
//! directions where Redis 7.0.15 crosses it, through a stock client: OBJECT ENCODING after
//! each step must say what redis-server 7.0.15 says. Each step runs on slotcache and, when it
//! is installed, on redis-server beside it (the encodings are compared), and the expected
//! name is written down too, so the test still pins the answers without redis-server.
//!
//! Redis 7.0's rules, which these steps walk: hashes and sorted sets are listpacks up to
//! `*-max-listpack-entries` elements of at most `*-max-listpack-value` bytes and never go
//! back once converted, except that a sorted set written whole by a store command
//! (ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE, ZRANGESTORE) takes the encoding its result needs;
//! sets are intsets while every member is an integer and there are at most
//! `set-max-intset-entries`, and a set built by a store command starts again from an intset;
//! lists are always quicklists.

use cluster_tests::reference::RedisServer;
use cluster_tests::{q, Node};
use redis::Connection;

/// The limits the steps below cross: small, so each crossing is a few elements.
const LIMITS: [(&str, &str); 5] = [
    ("hash-max-listpack-entries", "4"),
    ("hash-max-listpack-value", "8"),
    ("zset-max-listpack-entries", "4"),
    ("zset-max-listpack-value", "8"),
    ("set-max-intset-entries", "4"),
];

/// A command, then the key whose encoding is checked and the expected name.
type Step = (&'static [&'static str], &'static str, &'static str);

const STEPS: &[Step] = &[
    // Hashes: entries.
    (
        &["HSET", "h", "a", "1", "b", "2", "c", "3", "d", "4"],
        "h",
        "listpack",
    ),
    (&["HSET", "h", "e", "5"], "h", "hashtable"),
    (&["HDEL", "h", "a", "b", "c", "d"], "h", "hashtable"),
    // Hashes: value and field length, at the limit and one past it.
    (&["HSET", "hv", "f", "12345678"], "hv", "listpack"),
    (&["HSET", "hv", "f", "123456789"], "hv", "hashtable"),
    (&["HSET", "hf", "12345678", "v"], "hf", "listpack"),
    (&["HSET", "hf", "123456789", "v"], "hf", "hashtable"),
    (&["HSETNX", "hn", "123456789", "v"], "hn", "hashtable"),
    (&["HINCRBY", "hi", "f", "1"], "hi", "listpack"),
    (&["HINCRBYFLOAT", "hi", "g", "1.5"], "hi", "listpack"),
    // One HSET of five fields converts at once.
    (
        &[
            "HSET", "h5", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5",
        ],
        "h5",
        "hashtable",
    ),
    // Sorted sets: entries, and no way back by removal.
    (
        &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"],
        "z",
        "listpack",
    ),
    (&["ZADD", "z", "5", "e"], "z", "skiplist"),
    (&["ZREM", "z", "a", "b", "c"], "z", "skiplist"),
    (&["ZPOPMIN", "z"], "z", "skiplist"),
    // Sorted sets: member length.
    (&["ZADD", "zm", "1", "12345678"], "zm", "listpack"),
    (&["ZADD", "zm", "1", "123456789"], "zm", "skiplist"),
    (&["ZINCRBY", "zi", "1", "123456789"], "zi", "skiplist"),
    // Store commands write the encoding the result needs, both ways.
    (
        &[
            "ZADD", "big", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e",
        ],
        "big",
        "skiplist",
    ),
    (&["ZRANGESTORE", "zr", "big", "0", "1"], "zr", "listpack"),
    (&["ZRANGESTORE", "zr", "big", "0", "-1"], "zr", "skiplist"),
    (&["ZUNIONSTORE", "zu", "1", "big"], "zu", "skiplist"),
    (&["ZREM", "big", "a", "b", "c"], "big", "skiplist"),
    (&["ZUNIONSTORE", "zu", "1", "big"], "zu", "listpack"),
    (&["ZINTERSTORE", "zx", "2", "big", "zu"], "zx", "listpack"),
    (&["ZDIFFSTORE", "zd", "1", "big"], "zd", "listpack"),
    (&["ZADD", "zl", "1", "123456789"], "zl", "skiplist"),
    (&["ZUNIONSTORE", "zu2", "1", "zl"], "zu2", "skiplist"),
    // Sets: intset entries, a non-integer member, and no way back.
    (&["SADD", "s", "1", "2", "3", "4"], "s", "intset"),
    (&["SADD", "s", "5"], "s", "hashtable"),
    (&["SREM", "s", "1", "2", "3", "4"], "s", "hashtable"),
    (&["SADD", "si", "1", "x"], "si", "hashtable"),
    (&["SADD", "sb", "9223372036854775807"], "sb", "intset"),
    (&["SADD", "sb", "9223372036854775808"], "sb", "hashtable"),
    // A stored set starts again as an intset when its members allow.
    (&["SADD", "t1", "1", "2", "3", "a"], "t1", "hashtable"),
    (&["SADD", "t2", "1", "2", "b"], "t2", "hashtable"),
    (&["SINTERSTORE", "st", "t1", "t2"], "st", "intset"),
    (&["SUNIONSTORE", "su", "t1", "t2"], "su", "hashtable"),
    (&["SDIFFSTORE", "sd", "t1", "t2"], "sd", "hashtable"),
    (&["SMOVE", "t1", "sm", "3"], "sm", "intset"),
    // Lists are quicklists at every size in 7.0.
    (&["RPUSH", "l", "a"], "l", "quicklist"),
];

fn encoding(c: &mut Connection, key: &str) -> String {
    q(c, &["OBJECT", "ENCODING", key])
}

#[test]
fn every_threshold_converts_as_redis_7_0_reports_it() {
    let node = Node::start(&[]);
    let redis = RedisServer::start(&[]);
    let mut ours = node.client();
    let mut theirs = redis.as_ref().map(|r| r.client());
    for (name, value) in LIMITS {
        q::<()>(&mut ours, &["CONFIG", "SET", name, value]);
        if let Some(t) = theirs.as_mut() {
            q::<()>(t, &["CONFIG", "SET", name, value]);
        }
    }
    for (cmd, key, want) in STEPS {
        let run = |c: &mut Connection| -> redis::Value {
            let mut r = redis::cmd(cmd[0]);
            for a in &cmd[1..] {
                r.arg(*a);
            }
            r.query(c).unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
        };
        let got = run(&mut ours);
        let enc = encoding(&mut ours, key);
        if let Some(t) = theirs.as_mut() {
            assert_eq!(got, run(t), "{cmd:?}: reply");
            assert_eq!(
                enc,
                encoding(t, key),
                "{cmd:?}: encoding of {key} beside redis-server"
            );
        }
        assert_eq!(enc, *want, "{cmd:?}: encoding of {key}");
    }
}
