//! DEBUG through the `redis` crate: the `enable-debug-command` gate, DIGEST / DIGEST-VALUE
//! (including two nodes loaded with the same data through DUMP/RESTORE agreeing), OBJECT,
//! SLEEP blocking the server, POPULATE, HELP and errors.

use cluster_tests::{q, Node};
use redis::{Connection, RedisResult, Value};
use std::time::{Duration, Instant};

fn err(c: &mut Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    let r: RedisResult<Value> = cmd.query(c);
    let e = r.expect_err(&format!("{args:?} should fail"));
    match (e.code(), e.detail()) {
        (Some(code), Some(d)) => format!("{code} {d}"),
        _ => e.to_string(),
    }
}

const NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

fn digest(c: &mut Connection) -> String {
    q(c, &["DEBUG", "DIGEST"])
}

#[test]
fn debug_is_refused_when_disabled_and_allowed_when_enabled() {
    let off = Node::start(&["--enable-debug-command", "no"]);
    let mut c = off.client();
    assert_eq!(err(&mut c, &["DEBUG", "DIGEST"]), NOT_ALLOWED);
    assert_eq!(err(&mut c, &["DEBUG", "SLEEP", "0"]), NOT_ALLOWED);
    let on = Node::start(&["--enable-debug-command", "yes"]);
    let mut c = on.client();
    assert_eq!(digest(&mut c), "0".repeat(40));
}

/// An address of this machine that is not loopback, if it has one.
fn non_loopback_ip() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("10.255.255.255:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[test]
fn local_mode_allows_loopback_and_refuses_other_addresses() {
    let node = Node::start(&["--bind", "0.0.0.0"]);
    let mut c = node.client();
    let _: () = q(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
    let Some(ip) = non_loopback_ip() else {
        eprintln!("no non-loopback address on this machine; remote half not exercised");
        return;
    };
    let client = redis::Client::open(format!("redis://{ip}:{}/", node.port)).unwrap();
    let Ok(mut remote) = client.get_connection_with_timeout(Duration::from_secs(5)) else {
        eprintln!("cannot reach {ip}; remote half not exercised");
        return;
    };
    assert_eq!(err(&mut remote, &["DEBUG", "DIGEST"]), NOT_ALLOWED);
    let pong: String = q(&mut remote, &["PING"]);
    assert_eq!(pong, "PONG");
}

#[test]
fn digest_tracks_dataset_content() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let empty = digest(&mut c);
    assert_eq!(empty, "0".repeat(40));
    let _: () = q(&mut c, &["SET", "a", "1"]);
    let one = digest(&mut c);
    assert_eq!(one.len(), 40);
    assert!(one.chars().all(|ch| ch.is_ascii_hexdigit()));
    assert_ne!(one, empty);
    let _: () = q(&mut c, &["SET", "a", "2"]);
    let changed = digest(&mut c);
    assert_ne!(changed, one);
    let _: () = q(&mut c, &["SET", "a", "1"]);
    assert_eq!(digest(&mut c), one, "same content, same digest");
    let _: i64 = q(&mut c, &["EXPIRE", "a", "100"]);
    assert_ne!(digest(&mut c), one, "a TTL is part of the content");
    let _: i64 = q(&mut c, &["PERSIST", "a"]);
    assert_eq!(digest(&mut c), one);
    let _: i64 = q(&mut c, &["MOVE", "a", "1"]);
    assert_ne!(digest(&mut c), one, "the database is part of the content");
    let _: () = q(&mut c, &["SELECT", "1"]);
    let _: i64 = q(&mut c, &["DEL", "a"]);
    assert_eq!(digest(&mut c), empty);
    assert_eq!(
        err(&mut c, &["DEBUG", "DIGEST", "x"]),
        "ERR unknown subcommand or wrong number of arguments for 'DIGEST'. Try DEBUG HELP."
    );
}

#[test]
fn digest_value_per_key() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "a", "same"]);
    let _: () = q(&mut c, &["SET", "b", "same"]);
    let _: () = q(&mut c, &["SET", "c", "other"]);
    let d: Vec<String> = q(&mut c, &["DEBUG", "DIGEST-VALUE", "a", "b", "c", "missing"]);
    assert_eq!(d.len(), 4);
    assert_eq!(d[0], d[1], "digest of the value, not of the name");
    assert_ne!(d[0], d[2]);
    assert_eq!(d[3], "0".repeat(40));
    assert!(d.iter().all(|x| x.len() == 40));
    let none: Vec<String> = q(&mut c, &["DEBUG", "DIGEST-VALUE"]);
    assert!(none.is_empty());
}

/// Copies every key of every database from `src` to `dst` through SCAN, DUMP, PTTL and
/// RESTORE, in reverse SCAN order so the two nodes insert keys in different orders.
fn copy_dataset(src: &mut Connection, dst: &mut Connection, dbs: usize) {
    for db in 0..dbs {
        let _: () = q(src, &["SELECT", &db.to_string()]);
        let _: () = q(dst, &["SELECT", &db.to_string()]);
        let mut keys = Vec::new();
        let mut cursor = "0".to_string();
        loop {
            let (next, batch): (String, Vec<String>) = q(src, &["SCAN", &cursor, "COUNT", "100"]);
            keys.extend(batch);
            cursor = next;
            if cursor == "0" {
                break;
            }
        }
        keys.reverse();
        for k in keys {
            let payload: Vec<u8> = redis::cmd("DUMP").arg(&k).query(src).unwrap();
            let pttl: i64 = q(src, &["PTTL", &k]);
            let ttl = if pttl > 0 { pttl } else { 0 };
            let _: () = redis::cmd("RESTORE")
                .arg(&k)
                .arg(ttl)
                .arg(payload)
                .query(dst)
                .unwrap();
        }
    }
}

#[test]
fn digest_agrees_between_nodes_loaded_through_dump_restore() {
    let a = Node::start(&[]);
    let b = Node::start(&[]);
    let mut ca = a.client();
    let mut cb = b.client();
    let _: () = q(&mut ca, &["DEBUG", "POPULATE", "3000", "key", "20"]);
    for i in 0..200 {
        let _: () = q(
            &mut ca,
            &["SET", &format!("vol:{i}"), &format!("{i}"), "EX", "1000"],
        );
    }
    let _: () = q(&mut ca, &["SELECT", "5"]);
    let _: () = q(&mut ca, &["DEBUG", "POPULATE", "500", "five"]);
    let _: () = q(&mut ca, &["SET", "bin", "\u{0}\u{1}\u{ff}"]);
    copy_dataset(&mut ca, &mut cb, 16);
    let da = digest(&mut ca);
    assert_ne!(da, "0".repeat(40));
    assert_eq!(da, digest(&mut cb));
    // One differing value anywhere makes them differ.
    let _: () = q(&mut cb, &["SELECT", "5"]);
    let _: () = q(&mut cb, &["SET", "five:7", "changed"]);
    assert_ne!(da, digest(&mut cb));
}

#[test]
fn debug_object_describes_a_key() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "k", "hello"]);
    let line: String = q(&mut c, &["DEBUG", "OBJECT", "k"]);
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!(fields.len(), 7, "{line}");
    assert!(
        fields[0] == "Value" && fields[1].starts_with("at:0x"),
        "{line}"
    );
    assert_eq!(fields[2], "refcount:1");
    assert_eq!(fields[3], "encoding:embstr");
    let len: usize = fields[4]
        .strip_prefix("serializedlength:")
        .unwrap()
        .parse()
        .unwrap();
    assert!((5..20).contains(&len), "{line}");
    assert!(
        fields[5]
            .strip_prefix("lru:")
            .unwrap()
            .parse::<u64>()
            .is_ok(),
        "{line}"
    );
    let idle: u64 = fields[6]
        .strip_prefix("lru_seconds_idle:")
        .unwrap()
        .parse()
        .unwrap();
    assert!(idle <= 2, "{line}");
    let _: () = q(&mut c, &["SET", "n", "42"]);
    let line: String = q(&mut c, &["DEBUG", "OBJECT", "n"]);
    assert!(line.contains(" encoding:int "), "{line}");
    assert_eq!(
        err(&mut c, &["DEBUG", "OBJECT", "missing"]),
        "ERR no such key"
    );
}

#[test]
fn debug_sleep_blocks_other_clients() {
    let node = Node::start(&[]);
    let mut sleeper = node.client();
    let mut other = node.client();
    let _: () = q(&mut other, &["SET", "k", "v"]);
    let t = std::thread::spawn(move || {
        let start = Instant::now();
        let _: () = q(&mut sleeper, &["DEBUG", "SLEEP", "1.0"]);
        start.elapsed()
    });
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    let v: String = q(&mut other, &["GET", "k"]);
    let waited = start.elapsed();
    assert_eq!(v, "v");
    let slept = t.join().unwrap();
    assert!(slept >= Duration::from_millis(980), "slept {slept:?}");
    assert!(
        waited >= Duration::from_millis(250),
        "GET did not wait: {waited:?}"
    );
    let _: () = q(&mut other, &["DEBUG", "SLEEP", "0"]);
    let _: () = q(&mut other, &["DEBUG", "SLEEP", "not-a-number"]);
}

#[test]
fn debug_populate_creates_keys_and_validates_arguments() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "key:3", "mine"]);
    let _: () = q(&mut c, &["DEBUG", "POPULATE", "10"]);
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 10);
    assert_eq!(q::<String>(&mut c, &["GET", "key:0"]), "value:0");
    assert_eq!(
        q::<String>(&mut c, &["GET", "key:3"]),
        "mine",
        "existing keys are kept"
    );
    let _: () = q(&mut c, &["DEBUG", "POPULATE", "5", "p"]);
    assert_eq!(q::<String>(&mut c, &["GET", "p:4"]), "value:4");
    let _: () = q(&mut c, &["DEBUG", "POPULATE", "2", "big", "12"]);
    let v: Vec<u8> = redis::cmd("GET").arg("big:1").query(&mut c).unwrap();
    assert_eq!(v, b"value:1\0\0\0\0\0");
    let _: () = q(&mut c, &["DEBUG", "POPULATE", "1", "cut", "3"]);
    assert_eq!(q::<String>(&mut c, &["GET", "cut:0"]), "val");
    let _: () = q(&mut c, &["DEBUG", "POPULATE", "0"]);
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 18);
    assert_eq!(
        err(&mut c, &["DEBUG", "POPULATE", "-1"]),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(
        err(&mut c, &["DEBUG", "POPULATE", "x"]),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(
        err(&mut c, &["DEBUG", "POPULATE", "1", "p", "-5"]),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(
        err(
            &mut c,
            &["DEBUG", "POPULATE", "9223372036854775807", "p", "1000"]
        ),
        "ERR OOM in dictTryExpand"
    );
    assert_eq!(
        err(&mut c, &["DEBUG", "POPULATE", "1", "p", "536870913"]),
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    );
    assert_eq!(
        err(&mut c, &["DEBUG", "POPULATE", "1", "a", "1", "extra"]),
        "ERR unknown subcommand or wrong number of arguments for 'POPULATE'. Try DEBUG HELP."
    );
}

#[test]
fn debug_help_and_unknown_subcommands() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let help: Vec<String> = q(&mut c, &["DEBUG", "HELP"]);
    assert!(help[0].starts_with("DEBUG <subcommand>"), "{help:?}");
    for sub in [
        "DIGEST",
        "OBJECT <key>",
        "SLEEP <seconds>",
        "SET-ACTIVE-EXPIRE <0|1>",
    ] {
        assert!(
            help.iter().any(|l| l.starts_with(sub)),
            "{sub} missing from {help:?}"
        );
    }
    assert_eq!(
        err(&mut c, &["DEBUG", "NOPE"]),
        "ERR unknown subcommand or wrong number of arguments for 'NOPE'. Try DEBUG HELP."
    );
    assert_eq!(
        err(&mut c, &["DEBUG"]),
        "ERR wrong number of arguments for 'debug' command"
    );
    let _: () = q(&mut c, &["DEBUG", "LOG", "hello from the test"]);
    assert!(node.log().contains("hello from the test"));
}

/// Sends `cmd` on a fresh raw connection (after `HELLO 3` when `resp3`) and returns exactly
/// the reply bytes that follow.
fn raw_reply(node: &Node, resp3: bool, cmd: &str, want: usize) -> String {
    let mut s = node.raw();
    if resp3 {
        // HELLO's map ends with the modules array (empty): `*0\r\n`.
        let hello = cluster_tests::raw_exchange(&mut s, b"HELLO 3\r\n", 1);
        let mut seen = hello;
        while !seen.ends_with(b"*0\r\n") {
            seen.extend(cluster_tests::raw_exchange(&mut s, b"", 1));
        }
    }
    let got = cluster_tests::raw_exchange(&mut s, format!("{cmd}\r\n").as_bytes(), want);
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn debug_protocol_replies_every_resp_type_as_redis_does() {
    let node = Node::start(&[]);
    let cases: &[(&str, &str, &str)] = &[
        ("string", "$11\r\nHello World\r\n", "$11\r\nHello World\r\n"),
        ("integer", ":12345\r\n", ":12345\r\n"),
        ("double", ",3.141\r\n", "$5\r\n3.141\r\n"),
        (
            "bignum",
            "(1234567999999999999999999999999999999\r\n",
            "$37\r\n1234567999999999999999999999999999999\r\n",
        ),
        ("null", "_\r\n", "$-1\r\n"),
        ("array", "*3\r\n:0\r\n:1\r\n:2\r\n", "*3\r\n:0\r\n:1\r\n:2\r\n"),
        ("set", "~3\r\n:0\r\n:1\r\n:2\r\n", "*3\r\n:0\r\n:1\r\n:2\r\n"),
        (
            "map",
            "%3\r\n:0\r\n#f\r\n:1\r\n#t\r\n:2\r\n#f\r\n",
            "*6\r\n:0\r\n:0\r\n:1\r\n:1\r\n:2\r\n:0\r\n",
        ),
        (
            "attrib",
            "|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n$39\r\nSome real reply following the attribute\r\n",
            "$39\r\nSome real reply following the attribute\r\n",
        ),
        (
            "push",
            ">2\r\n$16\r\nserver-cpu-usage\r\n:42\r\n$40\r\nSome real reply following the push reply\r\n",
            "-ERR RESP2 is not supported by this command\r\n",
        ),
        (
            "verbatim",
            "=29\r\ntxt:This is a verbatim\nstring\r\n",
            "$25\r\nThis is a verbatim\nstring\r\n",
        ),
        ("true", "#t\r\n", ":1\r\n"),
        ("false", "#f\r\n", ":0\r\n"),
    ];
    for (kind, resp3, resp2) in cases {
        let cmd = format!("DEBUG PROTOCOL {kind}");
        assert_eq!(
            raw_reply(&node, true, &cmd, resp3.len()),
            *resp3,
            "{kind} RESP3"
        );
        assert_eq!(
            raw_reply(&node, false, &cmd, resp2.len()),
            *resp2,
            "{kind} RESP2"
        );
    }
    let mut c = node.client();
    assert!(err(&mut c, &["DEBUG", "PROTOCOL", "nope"])
        .starts_with("ERR Wrong protocol type name. Please use one of the following:"));
    // The redis crate reads past the attribute to the real reply.
    let mut c3 = node.client_resp3();
    let v: String = q(&mut c3, &["DEBUG", "PROTOCOL", "attrib"]);
    assert_eq!(v, "Some real reply following the attribute");
}
