//! Generic key commands through the `redis` crate: DEL/UNLINK/EXISTS/TYPE/TOUCH, RENAME(NX),
//! COPY, KEYS, SCAN, RANDOMKEY, MOVE, SWAPDB, OBJECT, DBSIZE — options and error replies.

use cluster_tests::{q, Node};
use redis::{Connection, RedisResult, Value};
use std::collections::HashSet;

/// The full error text of a command that must fail ("ERR ..." / "BUSYKEY ...").
fn err(c: &mut Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    let r: RedisResult<Value> = cmd.query(c);
    let e = r.expect_err(&format!("{args:?} should fail"));
    match (e.code(), e.detail()) {
        (Some(code), Some(d)) => format!("{code} {d}"),
        (Some(code), None) => code.to_string(),
        _ => e.to_string(),
    }
}

#[test]
fn del_unlink_exists_type_touch_count_keys() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "a", "1"]);
    let _: () = q(&mut c, &["SET", "b", "2"]);
    let _: () = q(&mut c, &["SET", "c", "3"]);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "a", "a", "nope", "b"]), 3);
    assert_eq!(q::<String>(&mut c, &["TYPE", "a"]), "string");
    assert_eq!(q::<String>(&mut c, &["TYPE", "nope"]), "none");
    assert_eq!(q::<i64>(&mut c, &["TOUCH", "a", "b", "nope"]), 2);
    assert_eq!(q::<i64>(&mut c, &["DEL", "a", "nope"]), 1);
    assert_eq!(q::<i64>(&mut c, &["UNLINK", "b", "c", "b"]), 2);
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 0);
    assert_eq!(
        err(&mut c, &["UNLINK"]),
        "ERR wrong number of arguments for 'unlink' command"
    );
    assert_eq!(
        err(&mut c, &["DBSIZE", "x"]),
        "ERR wrong number of arguments for 'dbsize' command"
    );
}

#[test]
fn rename_moves_value_and_ttl_and_handles_same_key() {
    let node = Node::start(&[]);
    let mut c = node.client();
    assert_eq!(err(&mut c, &["RENAME", "nope", "x"]), "ERR no such key");
    assert_eq!(err(&mut c, &["RENAMENX", "nope", "x"]), "ERR no such key");
    assert_eq!(err(&mut c, &["RENAME", "nope", "nope"]), "ERR no such key");
    let _: () = q(&mut c, &["SET", "src", "v", "EX", "1000"]);
    let _: () = q(&mut c, &["SET", "dst", "old"]);
    let _: () = q(&mut c, &["RENAME", "src", "dst"]);
    assert_eq!(q::<Option<String>>(&mut c, &["GET", "src"]), None);
    assert_eq!(q::<String>(&mut c, &["GET", "dst"]), "v");
    let ttl: i64 = q(&mut c, &["TTL", "dst"]);
    assert!((990..=1000).contains(&ttl), "ttl {ttl}");
    // Same key: OK for RENAME, 0 for RENAMENX; the key and its TTL stay.
    let _: () = q(&mut c, &["RENAME", "dst", "dst"]);
    assert_eq!(q::<i64>(&mut c, &["RENAMENX", "dst", "dst"]), 0);
    assert_eq!(q::<String>(&mut c, &["GET", "dst"]), "v");
    assert!(q::<i64>(&mut c, &["TTL", "dst"]) > 0);
    // RENAMENX refuses an existing target, takes a free one.
    let _: () = q(&mut c, &["SET", "other", "o"]);
    assert_eq!(q::<i64>(&mut c, &["RENAMENX", "dst", "other"]), 0);
    assert_eq!(q::<String>(&mut c, &["GET", "other"]), "o");
    assert_eq!(q::<i64>(&mut c, &["RENAMENX", "dst", "fresh"]), 1);
    assert_eq!(q::<String>(&mut c, &["GET", "fresh"]), "v");
    assert!(q::<i64>(&mut c, &["PTTL", "fresh"]) > 0);
    // A persistent key renamed over a volatile one stays persistent.
    let _: () = q(&mut c, &["RENAME", "other", "fresh"]);
    assert_eq!(q::<i64>(&mut c, &["TTL", "fresh"]), -1);
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 1);
    assert_eq!(
        err(&mut c, &["RENAME", "a"]),
        "ERR wrong number of arguments for 'rename' command"
    );
}

#[test]
fn copy_respects_replace_db_and_keeps_ttl() {
    let node = Node::start(&[]);
    let mut c = node.client();
    assert_eq!(q::<i64>(&mut c, &["COPY", "nope", "x"]), 0);
    let _: () = q(&mut c, &["SET", "s", "val", "EX", "500"]);
    assert_eq!(q::<i64>(&mut c, &["COPY", "s", "d"]), 1);
    assert_eq!(q::<String>(&mut c, &["GET", "d"]), "val");
    assert!(q::<i64>(&mut c, &["TTL", "d"]) > 400);
    let _: () = q(&mut c, &["SET", "d", "other"]);
    assert_eq!(q::<i64>(&mut c, &["COPY", "s", "d"]), 0);
    assert_eq!(q::<String>(&mut c, &["GET", "d"]), "other");
    assert_eq!(q::<i64>(&mut c, &["COPY", "s", "d", "REPLACE"]), 1);
    assert_eq!(q::<String>(&mut c, &["GET", "d"]), "val");
    // The copy is independent of the source.
    let _: () = q(&mut c, &["SET", "s", "changed"]);
    assert_eq!(q::<String>(&mut c, &["GET", "d"]), "val");
    // Another database, including the same name there.
    assert_eq!(q::<i64>(&mut c, &["COPY", "s", "s", "DB", "3"]), 1);
    assert_eq!(q::<i64>(&mut c, &["COPY", "s", "s", "db", "3"]), 0);
    assert_eq!(
        q::<i64>(&mut c, &["COPY", "s", "s", "db", "3", "replace"]),
        1
    );
    let _: () = q(&mut c, &["SELECT", "3"]);
    assert_eq!(q::<String>(&mut c, &["GET", "s"]), "changed");
    let _: () = q(&mut c, &["SELECT", "0"]);
    assert_eq!(
        err(&mut c, &["COPY", "s", "s"]),
        "ERR source and destination objects are the same"
    );
    assert_eq!(
        err(&mut c, &["COPY", "s", "x", "DB", "16"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        err(&mut c, &["COPY", "s", "x", "DB", "-1"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        err(&mut c, &["COPY", "s", "x", "DB", "abc"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(&mut c, &["COPY", "s", "x", "DB", "2147483648"]),
        "ERR value is out of range, value must between -2147483648 and 2147483647"
    );
    assert_eq!(err(&mut c, &["COPY", "s", "x", "DB"]), "ERR syntax error");
    assert_eq!(err(&mut c, &["COPY", "s", "x", "FOO"]), "ERR syntax error");
}

#[test]
fn keys_matches_glob_patterns() {
    let node = Node::start(&[]);
    let mut c = node.client();
    for k in [
        "foo", "foobar", "fo", "bar", "f[x]", "hello", "hallo", "hxllo",
    ] {
        let _: () = q(&mut c, &["SET", k, "v"]);
    }
    let set = |v: Vec<String>| v.into_iter().collect::<HashSet<_>>();
    let want = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<HashSet<_>>();
    assert_eq!(set(q(&mut c, &["KEYS", "*"])).len(), 8);
    assert_eq!(set(q(&mut c, &["KEYS", "foo*"])), want(&["foo", "foobar"]));
    assert_eq!(
        set(q(&mut c, &["KEYS", "h?llo"])),
        want(&["hello", "hallo", "hxllo"])
    );
    assert_eq!(
        set(q(&mut c, &["KEYS", "h[ae]llo"])),
        want(&["hello", "hallo"])
    );
    assert_eq!(
        set(q(&mut c, &["KEYS", "h[^e]llo"])),
        want(&["hallo", "hxllo"])
    );
    assert_eq!(set(q(&mut c, &["KEYS", "f\\[x\\]"])), want(&["f[x]"]));
    assert!(q::<Vec<String>>(&mut c, &["KEYS", "zzz*"]).is_empty());
    // Expired keys are not listed.
    let _: () = q(&mut c, &["SET", "gone", "v", "PX", "1"]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(q::<Vec<String>>(&mut c, &["KEYS", "gone"]).is_empty());
}

/// Runs a full SCAN iteration with extra options; returns every key seen.
fn scan_all(c: &mut Connection, opts: &[&str]) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut all = Vec::new();
    for _ in 0..1_000_000 {
        let mut args = vec!["SCAN", cursor.as_str()];
        args.extend_from_slice(opts);
        let (next, keys): (String, Vec<String>) = q(c, &args);
        all.extend(keys);
        cursor = next;
        if cursor == "0" {
            return all;
        }
    }
    panic!("SCAN did not terminate");
}

#[test]
fn scan_options_and_errors() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["DEBUG", "POPULATE", "1000", "key"]);
    let _: () = q(&mut c, &["DEBUG", "POPULATE", "100", "other"]);
    let seen: HashSet<String> = scan_all(&mut c, &[]).into_iter().collect();
    assert_eq!(seen.len(), 1100);
    let seen: HashSet<String> = scan_all(&mut c, &["COUNT", "7"]).into_iter().collect();
    assert_eq!(seen.len(), 1100);
    let seen: HashSet<String> = scan_all(&mut c, &["MATCH", "other:*", "COUNT", "1000"])
        .into_iter()
        .collect();
    assert_eq!(seen.len(), 100);
    assert!(seen.iter().all(|k| k.starts_with("other:")));
    assert_eq!(scan_all(&mut c, &["TYPE", "string"]).len(), 1100);
    assert_eq!(
        scan_all(&mut c, &["type", "STRING", "match", "key:1?"]).len(),
        10
    );
    assert!(scan_all(&mut c, &["TYPE", "list"]).is_empty());
    assert!(scan_all(&mut c, &["TYPE", "nosuchtype"]).is_empty());
    // A large COUNT returns everything in one call.
    let (next, keys): (String, Vec<String>) = q(&mut c, &["SCAN", "0", "COUNT", "100000"]);
    assert_eq!((next.as_str(), keys.len()), ("0", 1100));
    // Cursors are read as C's strtoul: any unsigned 64-bit value, an optional sign (-1 wraps
    // to the largest), nothing else.
    for ok in ["18446744073709551615", "-1", "+0", ""] {
        let (_, _): (String, Vec<String>) = q(&mut c, &["SCAN", ok]);
    }
    for bad in ["18446744073709551616", "abc", "1.5", " 1", "-", "7x"] {
        assert_eq!(err(&mut c, &["SCAN", bad]), "ERR invalid cursor", "{bad:?}");
    }
    assert_eq!(
        err(&mut c, &["SCAN", "0", "COUNT", "0"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut c, &["SCAN", "0", "COUNT", "-1"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut c, &["SCAN", "0", "COUNT", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(err(&mut c, &["SCAN", "0", "MATCH"]), "ERR syntax error");
    assert_eq!(
        err(&mut c, &["SCAN", "0", "FOO", "bar"]),
        "ERR syntax error"
    );
}

#[test]
fn scan_returns_every_stable_key_under_concurrent_writes() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["DEBUG", "POPULATE", "20000", "stable"]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let mut w = node.client();
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // Inserts force table growth; deleting older churn keys lets slots shrink.
                let _: () = q(&mut w, &["SET", &format!("churn:{i}"), "x"]);
                if let Some(old) = i.checked_sub(100) {
                    let _: i64 = q(&mut w, &["DEL", &format!("churn:{old}")]);
                }
                i += 1;
            }
            i
        })
    };
    let seen: HashSet<String> = scan_all(&mut c, &["COUNT", "50"]).into_iter().collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let writes = writer.join().expect("writer");
    assert!(writes > 0);
    for i in 0..20000 {
        assert!(
            seen.contains(&format!("stable:{i}")),
            "SCAN missed stable:{i}"
        );
    }
}

#[test]
fn randomkey_returns_existing_keys_or_nil() {
    let node = Node::start(&[]);
    let mut c = node.client();
    assert_eq!(q::<Option<String>>(&mut c, &["RANDOMKEY"]), None);
    for k in ["a", "b", "c"] {
        let _: () = q(&mut c, &["SET", k, "v"]);
    }
    let mut seen = HashSet::new();
    for _ in 0..200 {
        let k: String = q(&mut c, &["RANDOMKEY"]);
        assert!(["a", "b", "c"].contains(&k.as_str()), "{k}");
        seen.insert(k);
    }
    assert_eq!(seen.len(), 3, "all keys should come up eventually");
    assert_eq!(
        err(&mut c, &["RANDOMKEY", "x"]),
        "ERR wrong number of arguments for 'randomkey' command"
    );
}

#[test]
fn move_between_databases() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "k", "v", "EX", "100"]);
    assert_eq!(q::<i64>(&mut c, &["MOVE", "k", "1"]), 1);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "k"]), 0);
    assert_eq!(q::<i64>(&mut c, &["MOVE", "k", "1"]), 0);
    let _: () = q(&mut c, &["SELECT", "1"]);
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "v");
    assert!(
        q::<i64>(&mut c, &["TTL", "k"]) > 90,
        "TTL moves with the key"
    );
    // Target holds the name already: nothing moves.
    let _: () = q(&mut c, &["SELECT", "0"]);
    let _: () = q(&mut c, &["SET", "k", "zero"]);
    assert_eq!(q::<i64>(&mut c, &["MOVE", "k", "1"]), 0);
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "zero");
    assert_eq!(
        err(&mut c, &["MOVE", "k", "0"]),
        "ERR source and destination objects are the same"
    );
    assert_eq!(
        err(&mut c, &["MOVE", "k", "16"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        err(&mut c, &["MOVE", "k", "-1"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        err(&mut c, &["MOVE", "k", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(&mut c, &["MOVE", "k", "-2147483649"]),
        "ERR value is out of range, value must between -2147483648 and 2147483647"
    );
}

#[test]
fn swapdb_swaps_whole_databases() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let mut other = node.client();
    let _: () = q(&mut c, &["SET", "in0", "a"]);
    let _: () = q(&mut other, &["SELECT", "1"]);
    let _: () = q(&mut other, &["SET", "in1", "b", "EX", "100"]);
    let _: () = q(&mut c, &["SWAPDB", "0", "1"]);
    // Connections keep their index and see the other data.
    assert_eq!(q::<String>(&mut c, &["GET", "in1"]), "b");
    assert!(q::<i64>(&mut c, &["TTL", "in1"]) > 0);
    assert_eq!(q::<Option<String>>(&mut c, &["GET", "in0"]), None);
    assert_eq!(q::<String>(&mut other, &["GET", "in0"]), "a");
    let _: () = q(&mut c, &["SWAPDB", "1", "1"]);
    assert_eq!(q::<String>(&mut other, &["GET", "in0"]), "a");
    assert_eq!(
        err(&mut c, &["SWAPDB", "0", "16"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        err(&mut c, &["SWAPDB", "x", "1"]),
        "ERR invalid first DB index"
    );
    assert_eq!(
        err(&mut c, &["SWAPDB", "0", "y"]),
        "ERR invalid second DB index"
    );
    assert_eq!(
        err(&mut c, &["SWAPDB", "0"]),
        "ERR wrong number of arguments for 'swapdb' command"
    );
}

#[test]
fn swapdb_move_and_copy_are_refused_in_cluster_mode() {
    let node = Node::start(&["--cluster-enabled", "yes"]);
    let mut c = node.client();
    // Own every slot, so the commands reach their own checks rather than a redirect.
    cluster_tests::own_all_slots(&mut c);
    assert_eq!(
        err(&mut c, &["SWAPDB", "0", "1"]),
        "ERR SWAPDB is not allowed in cluster mode"
    );
    assert_eq!(
        err(&mut c, &["MOVE", "k", "1"]),
        "ERR MOVE is not allowed in cluster mode"
    );
    assert_eq!(
        err(&mut c, &["COPY", "{t}a", "{t}b", "DB", "1"]),
        "ERR Copying to another database is not allowed in cluster mode"
    );
}

#[test]
fn object_subcommands_and_errors() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "int", "12345"]);
    let _: () = q(&mut c, &["SET", "small", "hello"]);
    let _: () = q(&mut c, &["SET", "big", &"x".repeat(100)]);
    assert_eq!(q::<String>(&mut c, &["OBJECT", "ENCODING", "int"]), "int");
    assert_eq!(
        q::<String>(&mut c, &["OBJECT", "encoding", "small"]),
        "embstr"
    );
    assert_eq!(q::<String>(&mut c, &["OBJECT", "ENCODING", "big"]), "raw");
    assert_eq!(
        q::<Option<String>>(&mut c, &["OBJECT", "ENCODING", "nope"]),
        None
    );
    assert_eq!(q::<i64>(&mut c, &["OBJECT", "REFCOUNT", "small"]), 1);
    assert_eq!(
        q::<Option<i64>>(&mut c, &["OBJECT", "REFCOUNT", "nope"]),
        None
    );
    let _: () = q(&mut c, &["SET", "shared", "7"]);
    assert_eq!(
        q::<i64>(&mut c, &["OBJECT", "REFCOUNT", "shared"]),
        2147483647
    );
    let idle: i64 = q(&mut c, &["OBJECT", "IDLETIME", "small"]);
    assert!((0..=2).contains(&idle), "idle {idle}");
    assert_eq!(
        err(&mut c, &["OBJECT", "FREQ", "small"]),
        "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
    );
    // The key is looked up before the policy is checked.
    assert_eq!(q::<Option<i64>>(&mut c, &["OBJECT", "FREQ", "nope"]), None);
    let help: Vec<String> = q(&mut c, &["OBJECT", "HELP"]);
    assert!(help[0].starts_with("OBJECT <subcommand>"));
    assert_eq!(
        help.last().map(String::as_str),
        Some("    Prints this help.")
    );
    assert!(help.iter().any(|l| l.starts_with("IDLETIME")));
    assert_eq!(
        err(&mut c, &["OBJECT", "FOO", "k"]),
        "ERR unknown subcommand 'FOO'. Try OBJECT HELP."
    );
    assert_eq!(
        err(&mut c, &["OBJECT", "ENCODING"]),
        "ERR wrong number of arguments for 'object|encoding' command"
    );
}

#[test]
fn object_freq_and_idletime_follow_the_policy() {
    let node = Node::start(&["--maxmemory-policy", "allkeys-lfu"]);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "k", "v"]);
    let f: i64 = q(&mut c, &["OBJECT", "FREQ", "k"]);
    assert!((0..=255).contains(&f));
    assert_eq!(q::<Option<i64>>(&mut c, &["OBJECT", "FREQ", "nope"]), None);
    assert_eq!(
        q::<Option<i64>>(&mut c, &["OBJECT", "IDLETIME", "nope"]),
        None
    );
    assert_eq!(
        err(&mut c, &["OBJECT", "IDLETIME", "k"]),
        "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
    );
}

#[test]
fn redis_cli_scan_mode_lists_matching_keys() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["DEBUG", "POPULATE", "300", "user"]);
    let _: () = q(&mut c, &["DEBUG", "POPULATE", "50", "session"]);
    let (ok, out) = node.cli(&["--scan", "--pattern", "session:*"]);
    assert!(ok, "redis-cli failed: {out}");
    let keys: HashSet<&str> = out.lines().collect();
    assert_eq!(keys.len(), 50, "{out}");
    assert!(keys.iter().all(|k| k.starts_with("session:")));
    let (ok, out) = node.cli(&["--scan"]);
    assert!(ok);
    assert_eq!(out.lines().collect::<HashSet<_>>().len(), 350);
    let (ok, out) = node.cli(&["DBSIZE"]);
    assert!(ok);
    assert_eq!(out.trim(), "350");
}

#[test]
fn scan_and_object_over_resp3() {
    let node = Node::start(&[]);
    let mut c = node.client_resp3();
    let _: () = q(&mut c, &["SET", "k", "v"]);
    let (cursor, keys): (String, Vec<String>) = q(&mut c, &["SCAN", "0"]);
    assert_eq!((cursor.as_str(), keys), ("0", vec!["k".to_string()]));
    assert_eq!(
        q::<Option<String>>(&mut c, &["OBJECT", "ENCODING", "nope"]),
        None
    );
    assert_eq!(
        q::<Option<String>>(&mut c, &["RANDOMKEY"]),
        Some("k".into())
    );
}
