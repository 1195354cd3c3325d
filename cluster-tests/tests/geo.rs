//! Geo commands through stock clients: GEOADD's options, GEODIST/GEOHASH/GEOPOS, every
//! GEOSEARCH and GEORADIUS form with their options and errors, STORE/STOREDIST, geo keys as
//! sorted sets (TYPE, DUMP/RESTORE), what replicas receive, keyspace events, key finding
//! for cluster routing, and a side-by-side run against redis-server 7.0.15 on 10,000 random
//! points and 1,000 random queries of each shape, compared reply for reply.

use cluster_tests::reference::RedisServer;
use cluster_tests::repl_stream::{attach, next_cmd};
use cluster_tests::{own_all_slots, q, server_error, Node};
use redis::{Connection, Value};
use std::time::Duration;

fn strs(c: &mut Connection, args: &[&str]) -> Vec<String> {
    q(c, args)
}

fn sv(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn sicily(c: &mut Connection, key: &str) {
    let n: i64 = q(
        c,
        &[
            "GEOADD",
            key,
            "13.361389",
            "38.115556",
            "Palermo",
            "15.087269",
            "37.502669",
            "Catania",
        ],
    );
    assert_eq!(n, 2);
}

#[test]
fn geoadd_options_and_stored_scores() {
    let node = Node::start(&[]);
    let c = &mut node.client();
    sicily(c, "k");
    // The scores are Redis's 52-bit geohashes.
    assert_eq!(
        strs(c, &["ZRANGE", "k", "0", "-1", "WITHSCORES"]),
        sv(&["Palermo", "3479099956230698", "Catania", "3479447370796909"])
    );
    assert_eq!(q::<i64>(c, &["GEOADD", "k", "NX", "1", "1", "Palermo"]), 0);
    assert_eq!(
        q::<String>(c, &["ZSCORE", "k", "Palermo"]),
        "3479099956230698"
    );
    assert_eq!(
        q::<i64>(
            c,
            &["GEOADD", "k", "XX", "CH", "13.5", "38.1", "Palermo", "1", "1", "x"]
        ),
        1
    );
    assert_eq!(q::<i64>(c, &["ZCARD", "k"]), 2);
    assert_eq!(
        q::<i64>(c, &["GEOADD", "k", "CH", "13.5", "38.1", "Palermo"]),
        0
    );
    assert_eq!(q::<i64>(c, &["GEOADD", "k", "2", "2", "y"]), 1);
    assert_eq!(
        server_error(c, &["GEOADD", "k", "NX", "XX", "1", "1", "a"]),
        "ERR syntax error"
    );
    assert_eq!(
        server_error(c, &["GEOADD", "k", "1", "1", "a", "2"]),
        "ERR syntax error"
    );
    assert_eq!(
        server_error(c, &["GEOADD", "k", "1", "1"]),
        "ERR wrong number of arguments for 'geoadd' command"
    );
    assert_eq!(
        server_error(c, &["GEOADD", "k", "200", "100", "a"]),
        "ERR invalid longitude,latitude pair 200.000000,100.000000"
    );
    assert_eq!(
        server_error(c, &["GEOADD", "k", "1", "85.06", "a"]),
        "ERR invalid longitude,latitude pair 1.000000,85.060000"
    );
    assert_eq!(
        server_error(c, &["GEOADD", "k", "x", "1", "a"]),
        "ERR value is not a valid float"
    );
    // A bad element anywhere adds nothing.
    assert_eq!(
        server_error(c, &["GEOADD", "k", "3", "3", "z", "181", "0", "w"]),
        "ERR invalid longitude,latitude pair 181.000000,0.000000"
    );
    assert_eq!(q::<i64>(c, &["ZCARD", "k"]), 3);
    q::<()>(c, &["SET", "s", "v"]);
    assert_eq!(
        server_error(c, &["GEOADD", "s", "1", "1", "a"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

#[test]
fn geodist_geohash_geopos() {
    let node = Node::start(&[]);
    let c = &mut node.client();
    sicily(c, "k");
    assert_eq!(
        q::<String>(c, &["GEODIST", "k", "Palermo", "Catania"]),
        "166274.1516"
    );
    assert_eq!(
        q::<String>(c, &["GEODIST", "k", "Palermo", "Catania", "km"]),
        "166.2742"
    );
    assert_eq!(
        q::<String>(c, &["GEODIST", "k", "Palermo", "Catania", "MI"]),
        "103.3182"
    );
    assert_eq!(
        q::<String>(c, &["GEODIST", "k", "Palermo", "Catania", "ft"]),
        "545518.8700"
    );
    assert_eq!(
        q::<Option<String>>(c, &["GEODIST", "k", "Palermo", "x"]),
        None
    );
    assert_eq!(
        q::<Option<String>>(c, &["GEODIST", "nokey", "a", "b"]),
        None
    );
    assert_eq!(
        server_error(c, &["GEODIST", "k", "Palermo", "Catania", "yd"]),
        "ERR unsupported unit provided. please use M, KM, FT, MI"
    );
    assert_eq!(
        server_error(c, &["GEODIST", "k", "Palermo", "Catania", "km", "x"]),
        "ERR syntax error"
    );
    assert_eq!(
        q::<Vec<Option<String>>>(c, &["GEOHASH", "k", "Palermo", "x", "Catania"]),
        vec![
            Some("sqc8b49rny0".to_string()),
            None,
            Some("sqdtr74hyu0".to_string())
        ]
    );
    assert_eq!(
        q::<Vec<Option<String>>>(c, &["GEOHASH", "nokey", "a", "b"]),
        vec![None, None]
    );
    let pos: Value = q(c, &["GEOPOS", "k", "Palermo", "x"]);
    assert_eq!(
        pos,
        Value::Array(vec![
            Value::Array(vec![
                Value::BulkString(b"13.36138933897018433".to_vec()),
                Value::BulkString(b"38.11555639549629859".to_vec()),
            ]),
            Value::Nil,
        ])
    );
    // RESP3: coordinates are doubles, a missing member a null.
    let c3 = &mut node.client_resp3();
    let pos: Value = q(c3, &["GEOPOS", "k", "Palermo", "x"]);
    assert_eq!(
        pos,
        Value::Array(vec![
            Value::Array(vec![
                Value::Double(13.361389338970184),
                Value::Double(38.1155563954963),
            ]),
            Value::Nil,
        ])
    );
    // Scores no GEOADD wrote decode as Redis decodes them (clamped to the bounds).
    q::<i64>(c, &["ZADD", "k", "0", "zero", "-1", "neg"]);
    assert_eq!(strs(c, &["GEOHASH", "k", "zero"]), sv(&["00bh0hbj200"]));
    let neg: Vec<Vec<String>> = q(c, &["GEOPOS", "k", "neg"]);
    assert_eq!(neg, vec![sv(&["180", "85.0511287799999991"])]);
}

#[test]
fn searches_with_their_options() {
    let node = Node::start(&[]);
    let c = &mut node.client();
    sicily(c, "k");
    q::<i64>(
        c,
        &[
            "GEOADD",
            "k",
            "12.758489",
            "38.788135",
            "edge1",
            "17.241510",
            "38.788135",
            "edge2",
        ],
    );
    assert_eq!(
        strs(
            c,
            &[
                "GEOSEARCH",
                "k",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "200",
                "km",
                "ASC"
            ]
        ),
        sv(&["Catania", "Palermo"])
    );
    assert_eq!(
        strs(
            c,
            &[
                "GEOSEARCH",
                "k",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "200",
                "km",
                "DESC"
            ]
        ),
        sv(&["Palermo", "Catania"])
    );
    assert_eq!(
        strs(
            c,
            &[
                "GEOSEARCH",
                "k",
                "FROMLONLAT",
                "15",
                "37",
                "BYBOX",
                "400",
                "400",
                "km",
                "ASC"
            ]
        ),
        sv(&["Catania", "Palermo", "edge2", "edge1"])
    );
    assert_eq!(
        strs(
            c,
            &[
                "GEOSEARCH",
                "k",
                "FROMMEMBER",
                "Palermo",
                "BYRADIUS",
                "100",
                "km"
            ]
        ),
        sv(&["Palermo", "edge1"])
    );
    assert_eq!(
        strs(
            c,
            &[
                "GEOSEARCH",
                "k",
                "FROMLONLAT",
                "15",
                "37",
                "BYBOX",
                "400",
                "400",
                "km",
                "COUNT",
                "2"
            ]
        ),
        sv(&["Catania", "Palermo"])
    );
    let any: Vec<String> = q(
        c,
        &[
            "GEOSEARCH",
            "k",
            "FROMLONLAT",
            "15",
            "37",
            "BYBOX",
            "400",
            "400",
            "km",
            "COUNT",
            "1",
            "ANY",
        ],
    );
    assert_eq!(any.len(), 1);
    let full: Value = q(
        c,
        &[
            "GEOSEARCH",
            "k",
            "FROMLONLAT",
            "15",
            "37",
            "BYRADIUS",
            "200",
            "km",
            "ASC",
            "WITHCOORD",
            "WITHDIST",
            "WITHHASH",
        ],
    );
    let b = |s: &str| Value::BulkString(s.as_bytes().to_vec());
    assert_eq!(
        full,
        Value::Array(vec![
            Value::Array(vec![
                b("Catania"),
                b("56.4413"),
                Value::Int(3479447370796909),
                Value::Array(vec![b("15.08726745843887329"), b("37.50266842333162032")]),
            ]),
            Value::Array(vec![
                b("Palermo"),
                b("190.4424"),
                Value::Int(3479099956230698),
                Value::Array(vec![b("13.36138933897018433"), b("38.11555639549629859")]),
            ]),
        ])
    );
    // The legacy forms.
    assert_eq!(
        strs(c, &["GEORADIUS", "k", "15", "37", "200", "km", "ASC"]),
        sv(&["Catania", "Palermo"])
    );
    assert_eq!(
        strs(
            c,
            &[
                "GEORADIUS_RO",
                "k",
                "15",
                "37",
                "200",
                "km",
                "DESC",
                "COUNT",
                "1"
            ]
        ),
        sv(&["Palermo"])
    );
    assert_eq!(
        strs(
            c,
            &["GEORADIUSBYMEMBER", "k", "Palermo", "200", "km", "ASC"]
        ),
        sv(&["Palermo", "edge1", "Catania"])
    );
    let with: Vec<(String, String)> = q(
        c,
        &[
            "GEORADIUSBYMEMBER_RO",
            "k",
            "Palermo",
            "200",
            "km",
            "ASC",
            "WITHDIST",
        ],
    );
    assert_eq!(
        with,
        vec![
            ("Palermo".to_string(), "0.0000".to_string()),
            ("edge1".to_string(), "91.4007".to_string()),
            ("Catania".to_string(), "166.2742".to_string()),
        ]
    );
    // Missing keys answer empty.
    assert_eq!(
        strs(
            c,
            &["GEOSEARCH", "no", "FROMMEMBER", "x", "BYRADIUS", "1", "m"]
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        strs(c, &["GEORADIUSBYMEMBER", "no", "x", "1", "m"]),
        Vec::<String>::new()
    );
}

#[test]
fn search_errors_as_redis_words_them() {
    let node = Node::start(&[]);
    let c = &mut node.client();
    sicily(c, "k");
    let cases: &[(&[&str], &str)] = &[
        (&["GEOSEARCH", "k", "BYRADIUS", "1", "km", "ASC"], "ERR wrong number of arguments for 'geosearch' command"),
        (&["GEOSEARCH", "k", "FROMLONLAT", "15", "37", "BYRADIUS", "1", "km", "COUNT", "0"], "ERR COUNT must be > 0"),
        (&["GEOSEARCH", "k", "FROMLONLAT", "15", "37", "BYRADIUS", "1", "km", "COUNT", "x"], "ERR value is not an integer or out of range"),
        (&["GEOSEARCH", "k", "FROMLONLAT", "15", "37", "BYRADIUS", "1", "km", "ANY"], "ERR the ANY argument requires COUNT argument"),
        (&["GEOSEARCH", "k", "FROMLONLAT", "15", "37", "FROMMEMBER", "Palermo", "BYRADIUS", "1", "km"], "ERR syntax error"),
        (&["GEOSEARCH", "k", "BYRADIUS", "1", "km", "BYBOX", "1", "1", "km"], "ERR syntax error"),
        (&["GEOSEARCH", "k", "BYRADIUS", "1", "km", "ASC", "WITHDIST"], "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for GEOSEARCH"),
        (&["GEOSEARCH", "k", "FROMLONLAT", "15", "37", "ASC", "WITHDIST"], "ERR exactly one of BYRADIUS and BYBOX can be specified for GEOSEARCH"),
        (&["GEOSEARCH", "k", "FROMMEMBER", "nope", "BYRADIUS", "1", "km"], "ERR could not decode requested zset member"),
        (&["GEOSEARCH", "k", "FROMLONLAT", "15", "37", "BYRADIUS", "-1", "km"], "ERR radius cannot be negative"),
        (&["GEOSEARCH", "k", "FROMLONLAT", "15", "37", "BYRADIUS", "x", "km"], "ERR need numeric radius"),
        (&["GEOSEARCH", "k", "FROMLONLAT", "15", "37", "BYRADIUS", "1", "yd"], "ERR unsupported unit provided. please use M, KM, FT, MI"),
        (&["GEOSEARCH", "k", "FROMLONLAT", "15", "37", "BYBOX", "x", "1", "km"], "ERR need numeric width"),
        (&["GEOSEARCH", "k", "FROMLONLAT", "15", "37", "BYBOX", "1", "x", "km"], "ERR need numeric height"),
        (&["GEOSEARCH", "k", "FROMLONLAT", "15", "37", "BYBOX", "1", "-1", "km"], "ERR height or width cannot be negative"),
        (&["GEOSEARCH", "k", "FROMLONLAT", "181", "37", "BYBOX", "1", "1", "km"], "ERR invalid longitude,latitude pair 181.000000,37.000000"),
        (&["GEOSEARCH", "k", "FROMLONLAT", "15", "37", "BYRADIUS", "1", "km", "STORE", "d"], "ERR syntax error"),
        (&["GEOSEARCHSTORE", "d", "k", "FROMLONLAT", "15", "37", "BYRADIUS", "1", "km", "WITHDIST"], "ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options"),
        (&["GEORADIUS", "k", "15", "37", "1", "km", "STORE", "d", "WITHHASH"], "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options"),
        (&["GEORADIUS_RO", "k", "15", "37", "1", "km", "STORE", "d"], "ERR syntax error"),
        (&["GEORADIUS", "k", "15", "37", "1", "km", "FROMMEMBER", "Palermo"], "ERR syntax error"),
        (&["GEORADIUSBYMEMBER", "k", "nope", "1", "km"], "ERR could not decode requested zset member"),
        (&["GEORADIUS", "k", "15", "-86", "1", "km"], "ERR invalid longitude,latitude pair 15.000000,-86.000000"),
    ];
    for (args, want) in cases {
        assert_eq!(server_error(c, args), *want, "{args:?}");
    }
    q::<()>(c, &["SET", "s", "v"]);
    assert_eq!(
        server_error(
            c,
            &[
                "GEOSEARCH",
                "s",
                "FROMLONLAT",
                "1",
                "1",
                "BYRADIUS",
                "1",
                "m"
            ]
        ),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

#[test]
fn store_forms_write_sorted_sets() {
    let node = Node::start(&[]);
    let c = &mut node.client();
    sicily(c, "k");
    assert_eq!(
        q::<i64>(
            c,
            &[
                "GEOSEARCHSTORE",
                "d",
                "k",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "200",
                "km"
            ]
        ),
        2
    );
    assert_eq!(
        strs(c, &["ZRANGE", "d", "0", "-1", "WITHSCORES"]),
        sv(&["Palermo", "3479099956230698", "Catania", "3479447370796909"])
    );
    assert_eq!(
        q::<i64>(
            c,
            &[
                "GEOSEARCHSTORE",
                "d",
                "k",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "200",
                "km",
                "STOREDIST",
                "COUNT",
                "1"
            ]
        ),
        1
    );
    assert_eq!(
        strs(c, &["ZRANGE", "d", "0", "-1", "WITHSCORES"]),
        sv(&["Catania", "56.441257870158204"])
    );
    assert_eq!(
        q::<i64>(
            c,
            &["GEORADIUS", "k", "15", "37", "200", "km", "STOREDIST", "d2"]
        ),
        2
    );
    assert_eq!(
        strs(c, &["ZRANGE", "d2", "0", "-1", "WITHSCORES"]),
        sv(&[
            "Catania",
            "56.441257870158204",
            "Palermo",
            "190.44242984775784"
        ])
    );
    assert_eq!(
        q::<i64>(
            c,
            &[
                "GEORADIUSBYMEMBER",
                "k",
                "Palermo",
                "10",
                "km",
                "STORE",
                "d3"
            ]
        ),
        1
    );
    assert_eq!(strs(c, &["ZRANGE", "d3", "0", "-1"]), sv(&["Palermo"]));
    // An empty result, or a missing source, deletes the destination.
    assert_eq!(
        q::<i64>(
            c,
            &[
                "GEOSEARCHSTORE",
                "d",
                "k",
                "FROMLONLAT",
                "0",
                "0",
                "BYRADIUS",
                "1",
                "km"
            ]
        ),
        0
    );
    assert_eq!(q::<i64>(c, &["EXISTS", "d"]), 0);
    assert_eq!(
        q::<i64>(
            c,
            &["GEORADIUS", "nokey", "15", "37", "200", "km", "STORE", "d2"]
        ),
        0
    );
    assert_eq!(q::<i64>(c, &["EXISTS", "d2"]), 0);
    // Geo keys are sorted sets for every other command, DUMP/RESTORE included.
    assert_eq!(q::<String>(c, &["TYPE", "k"]), "zset");
    let dump: Vec<u8> = redis::cmd("DUMP").arg("k").query(c).unwrap();
    let _: () = redis::cmd("RESTORE")
        .arg("k2")
        .arg(0)
        .arg(dump)
        .query(c)
        .unwrap();
    assert_eq!(
        q::<String>(c, &["GEODIST", "k2", "Palermo", "Catania"]),
        "166274.1516"
    );
}

#[test]
fn replicas_receive_zadd_and_the_store_commands() {
    let node = Node::start(&[]);
    let c = &mut node.client();
    let mut repl = attach(&node);
    sicily(c, "k");
    // Nothing changed: nothing sent.
    q::<i64>(
        c,
        &["GEOADD", "k", "NX", "13.361389", "38.115556", "Palermo"],
    );
    q::<i64>(
        c,
        &[
            "GEOSEARCHSTORE",
            "d",
            "k",
            "FROMLONLAT",
            "15",
            "37",
            "BYRADIUS",
            "200",
            "km",
        ],
    );
    q::<i64>(
        c,
        &["GEORADIUS", "k", "15", "37", "200", "km", "STOREDIST", "d2"],
    );
    q::<Vec<String>>(c, &["GEORADIUS", "k", "15", "37", "200", "km"]);
    q::<()>(c, &["SET", "end", "1"]);
    assert_eq!(next_cmd(&mut repl), ["select", "0"]);
    assert_eq!(
        next_cmd(&mut repl),
        [
            "zadd",
            "k",
            "3479099956230698",
            "Palermo",
            "3479447370796909",
            "Catania"
        ]
    );
    assert_eq!(
        next_cmd(&mut repl),
        [
            "geosearchstore",
            "d",
            "k",
            "FROMLONLAT",
            "15",
            "37",
            "BYRADIUS",
            "200",
            "km"
        ]
    );
    assert_eq!(
        next_cmd(&mut repl),
        ["georadius", "k", "15", "37", "200", "km", "STOREDIST", "d2"]
    );
    assert_eq!(next_cmd(&mut repl), ["set", "end", "1"]);
}

#[test]
fn keyspace_events_as_redis() {
    let node = Node::start(&[]);
    let c = &mut node.client();
    q::<()>(c, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let mut sub = node.client();
    sub.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut ps = sub.as_pubsub();
    ps.psubscribe("__keyevent@0__:*").unwrap();
    sicily(c, "k");
    q::<i64>(
        c,
        &[
            "GEOSEARCHSTORE",
            "d",
            "k",
            "FROMLONLAT",
            "15",
            "37",
            "BYRADIUS",
            "200",
            "km",
        ],
    );
    q::<i64>(
        c,
        &["GEORADIUS", "k", "15", "37", "200", "km", "STORE", "d2"],
    );
    q::<i64>(
        c,
        &[
            "GEOSEARCHSTORE",
            "d",
            "k",
            "FROMLONLAT",
            "0",
            "0",
            "BYRADIUS",
            "1",
            "km",
        ],
    );
    let mut got = Vec::new();
    for _ in 0..4 {
        let m = ps.get_message().expect("an event");
        let key: String = m.get_payload().unwrap();
        got.push(format!("{} {key}", m.get_channel_name()));
    }
    assert_eq!(
        got,
        sv(&[
            "__keyevent@0__:zadd k",
            "__keyevent@0__:geosearchstore d",
            "__keyevent@0__:georadiusstore d2",
            "__keyevent@0__:del d",
        ])
    );
}

#[test]
fn store_keys_are_found_for_routing() {
    let node = Node::start(&["--cluster-enabled", "yes"]);
    let c = &mut node.client();
    own_all_slots(c);
    assert_eq!(
        strs(
            c,
            &[
                "COMMAND",
                "GETKEYS",
                "GEORADIUS",
                "src",
                "1",
                "1",
                "1",
                "km",
                "STORE",
                "a",
                "STOREDIST",
                "b"
            ]
        ),
        sv(&["src", "a", "b"])
    );
    assert_eq!(
        strs(
            c,
            &[
                "COMMAND",
                "GETKEYS",
                "GEORADIUSBYMEMBER",
                "src",
                "m",
                "1",
                "km",
                "STORE",
                "dst"
            ]
        ),
        sv(&["src", "dst"])
    );
    assert_eq!(
        strs(
            c,
            &[
                "COMMAND",
                "GETKEYS",
                "GEOSEARCHSTORE",
                "dst",
                "src",
                "FROMMEMBER",
                "m",
                "BYRADIUS",
                "1",
                "km"
            ]
        ),
        sv(&["dst", "src"])
    );
    sicily(c, "{t}k");
    assert_eq!(
        server_error(
            c,
            &[
                "GEORADIUS",
                "{t}k",
                "15",
                "37",
                "200",
                "km",
                "STORE",
                "other"
            ]
        ),
        "CROSSSLOT Keys in request don't hash to the same slot"
    );
    assert_eq!(
        server_error(
            c,
            &[
                "GEOSEARCHSTORE",
                "other",
                "{t}k",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "200",
                "km"
            ]
        ),
        "CROSSSLOT Keys in request don't hash to the same slot"
    );
    assert_eq!(
        q::<i64>(
            c,
            &[
                "GEORADIUS",
                "{t}k",
                "15",
                "37",
                "200",
                "km",
                "STORE",
                "{t}d"
            ]
        ),
        2
    );
}

/// xorshift64*: a seeded generator, so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Runs the same commands on both servers (pipelined) and compares the replies one by one.
fn compare(ours: &mut Connection, theirs: &mut Connection, cmds: &[Vec<String>]) {
    for chunk in cmds.chunks(200) {
        let mut p = redis::pipe();
        for c in chunk {
            let mut cmd = redis::cmd(&c[0]);
            for a in &c[1..] {
                cmd.arg(a.as_str());
            }
            p.add_command(cmd);
        }
        let a: Vec<Value> = p.query(ours).expect("slotcache pipeline");
        let b: Vec<Value> = p.query(theirs).expect("redis-server pipeline");
        for (i, c) in chunk.iter().enumerate() {
            assert_eq!(a[i], b[i], "{c:?} differs from redis-server");
        }
    }
}

#[test]
fn same_replies_as_redis_on_random_points_and_queries() {
    let Some(reference) = RedisServer::start(&[]) else {
        return;
    };
    let node = Node::start(&[]);
    let ours = &mut node.client();
    let theirs = &mut reference.client();
    let mut rng = Rng(0x5EED_0000_6E00_u64);
    let lon = |r: &mut Rng| format!("{:.6}", r.range(-180.0, 180.0));
    let lat = |r: &mut Rng| format!("{:.6}", r.range(-85.05112878, 85.05112878));
    let mut cmds = Vec::new();
    for chunk in 0..100 {
        let mut c = vec!["GEOADD".to_string(), "pts".to_string()];
        for i in 0..100 {
            c.push(lon(&mut rng));
            c.push(lat(&mut rng));
            c.push(format!("m{}", chunk * 100 + i));
        }
        cmds.push(c);
    }
    compare(ours, theirs, &cmds);
    let member = |r: &mut Rng| format!("m{}", r.below(10_000));
    let units = ["m", "km", "mi", "ft"];
    let mut cmds = Vec::new();
    for _ in 0..1000 {
        cmds.push(vec![
            "GEODIST".into(),
            "pts".into(),
            member(&mut rng),
            member(&mut rng),
            units[rng.below(4) as usize].into(),
        ]);
    }
    for chunk in 0..100 {
        let mut h = vec!["GEOHASH".to_string(), "pts".to_string()];
        let mut p = vec!["GEOPOS".to_string(), "pts".to_string()];
        for i in 0..100 {
            h.push(format!("m{}", chunk * 100 + i));
            p.push(format!("m{}", chunk * 100 + i));
        }
        cmds.push(h);
        cmds.push(p);
    }
    compare(ours, theirs, &cmds);
    // 1,000 queries of each shape, with random options.
    let mut cmds = Vec::new();
    for shape in 0..6 {
        for _ in 0..1000 {
            // Log-uniform sizes from 1 km to 2,000 km.
            let size = (rng.range(0.0, (2000.0f64).ln())).exp();
            let (unit, factor) = match rng.below(3) {
                0 => ("km", 1.0),
                1 => ("m", 1000.0),
                _ => ("mi", 1.0 / 1.60934),
            };
            let dist = |f: f64| format!("{:.3}", f * factor);
            let mut c: Vec<String> = match shape {
                0..=3 => {
                    let mut c = vec!["GEOSEARCH".into(), "pts".into()];
                    if shape % 2 == 0 {
                        c.extend(["FROMLONLAT".into(), lon(&mut rng), lat(&mut rng)]);
                    } else {
                        c.extend(["FROMMEMBER".into(), member(&mut rng)]);
                    }
                    if shape < 2 {
                        c.extend(["BYRADIUS".into(), dist(size), unit.into()]);
                    } else {
                        let h = size * rng.range(0.2, 2.0);
                        c.extend(["BYBOX".into(), dist(size), dist(h), unit.into()]);
                    }
                    c
                }
                4 => vec![
                    "GEORADIUS".into(),
                    "pts".into(),
                    lon(&mut rng),
                    lat(&mut rng),
                    dist(size),
                    unit.into(),
                ],
                _ => vec![
                    "GEORADIUSBYMEMBER_RO".into(),
                    "pts".into(),
                    member(&mut rng),
                    dist(size),
                    unit.into(),
                ],
            };
            for opt in ["WITHDIST", "WITHCOORD", "WITHHASH"] {
                if rng.below(2) == 0 {
                    c.push(opt.into());
                }
            }
            match rng.below(3) {
                0 => c.push("ASC".into()),
                1 => c.push("DESC".into()),
                _ => {}
            }
            if rng.below(3) == 0 {
                c.extend(["COUNT".into(), (1 + rng.below(20)).to_string()]);
            }
            cmds.push(c);
        }
    }
    compare(ours, theirs, &cmds);
    // Stored results are the same sets.
    let mut cmds = Vec::new();
    for i in 0..200 {
        let size = rng.range(1.0, 1500.0);
        let mut c = vec![
            "GEOSEARCHSTORE".to_string(),
            format!("dst{i}"),
            "pts".into(),
            "FROMLONLAT".into(),
            lon(&mut rng),
            lat(&mut rng),
            "BYRADIUS".into(),
            format!("{size:.3}"),
            "km".into(),
        ];
        if i % 2 == 0 {
            c.push("STOREDIST".into());
        }
        cmds.push(c);
        cmds.push(vec![
            "ZRANGE".into(),
            format!("dst{i}"),
            "0".into(),
            "-1".into(),
            "WITHSCORES".into(),
        ]);
    }
    compare(ours, theirs, &cmds);
    // Equal distances (members at the same spot) come out in Redis's order: its partial
    // quicksort under COUNT, a stable sort without.
    let mut cmds = Vec::new();
    for spot in 0..20 {
        let mut c = vec!["GEOADD".to_string(), "dups".to_string()];
        for i in 0..60 {
            c.extend([
                format!("{}", 10 + spot % 4),
                format!("{}", 10 + spot / 4),
                format!("d{spot}_{i}"),
            ]);
        }
        cmds.push(c);
    }
    for _ in 0..300 {
        let order = if rng.below(2) == 0 { "ASC" } else { "DESC" };
        let mut c = vec![
            "GEOSEARCH".to_string(),
            "dups".into(),
            "FROMLONLAT".into(),
            format!("{:.3}", rng.range(9.0, 14.0)),
            format!("{:.3}", rng.range(9.0, 15.0)),
            "BYRADIUS".into(),
            format!("{:.1}", rng.range(50.0, 600.0)),
            "km".into(),
            order.into(),
        ];
        if rng.below(4) != 0 {
            c.extend(["COUNT".into(), (1 + rng.below(400)).to_string()]);
        }
        cmds.push(c);
    }
    compare(ours, theirs, &cmds);
    // RESP3 shapes.
    let ours3 = &mut node.client_resp3();
    let theirs3 = &mut reference.client_resp3();
    let cmds: Vec<Vec<String>> = (0..100)
        .map(|_| {
            vec![
                "GEOSEARCH".into(),
                "pts".into(),
                "FROMMEMBER".into(),
                member(&mut rng),
                "BYRADIUS".into(),
                "800".into(),
                "km".into(),
                "WITHCOORD".into(),
                "WITHDIST".into(),
                "WITHHASH".into(),
                "ASC".into(),
            ]
        })
        .collect();
    compare(ours3, theirs3, &cmds);
}
