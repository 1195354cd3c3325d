//! Hash-field expiration (HEXPIRE family, HTTL family, HPERSIST, HGETEX, HSETEX, HGETDEL)
//! through the `redis` crate: replies and errors as Redis 8.0 gives them, lazy and active
//! expiry, keyspace events, DUMP/RESTORE and DEBUG DIGEST-VALUE, an RDB restart; then, in a
//! small cluster, field TTLs through a full sync, expiry replicated as HDEL, a manual
//! failover, and a slot move with MIGRATE.

use cluster_tests::cluster::{query_string, TestCluster};
use cluster_tests::repl_stream;
use cluster_tests::{q, server_error, wait_for, Node};
use redis::{Connection, Value};
use std::time::Duration;

fn ints(c: &mut Connection, args: &[&str]) -> Vec<i64> {
    q(c, args)
}

#[test]
fn field_ttl_commands_reply_like_redis_8() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: i64 = q(&mut c, &["HSET", "h", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(
        ints(&mut c, &["HEXPIRE", "h", "100", "FIELDS", "2", "a", "nope"]),
        [1, -2]
    );
    assert_eq!(
        ints(&mut c, &["HTTL", "h", "FIELDS", "3", "a", "b", "nope"]),
        [100, -1, -2]
    );
    let pttl = ints(&mut c, &["HPTTL", "h", "FIELDS", "1", "a"])[0];
    assert!((99_000..=100_000).contains(&pttl), "{pttl}");
    let at = ints(&mut c, &["HPEXPIRETIME", "h", "FIELDS", "1", "a"])[0];
    let at_s = ints(&mut c, &["HEXPIRETIME", "h", "FIELDS", "1", "a"])[0];
    assert_eq!(at_s, (at + 999) / 1000);
    let enc: String = q(&mut c, &["OBJECT", "ENCODING", "h"]);
    assert_eq!(enc, "listpackex");
    // NX / XX / GT / LT: a field without a TTL never expires, so GT fails and LT holds.
    assert_eq!(
        ints(
            &mut c,
            &["HEXPIRE", "h", "200", "NX", "FIELDS", "2", "a", "b"]
        ),
        [0, 1]
    );
    assert_eq!(
        ints(
            &mut c,
            &["HEXPIRE", "h", "300", "XX", "FIELDS", "2", "a", "c"]
        ),
        [1, 0]
    );
    assert_eq!(
        ints(
            &mut c,
            &["HEXPIRE", "h", "50", "GT", "FIELDS", "2", "a", "c"]
        ),
        [0, 0]
    );
    assert_eq!(
        ints(
            &mut c,
            &["HEXPIRE", "h", "50", "LT", "FIELDS", "2", "a", "c"]
        ),
        [1, 1]
    );
    let at = ints(&mut c, &["HPEXPIRETIME", "h", "FIELDS", "1", "a"])[0];
    assert_eq!(
        ints(
            &mut c,
            &[
                "HPEXPIREAT",
                "h",
                &(at + 5000).to_string(),
                "FIELDS",
                "1",
                "a"
            ]
        ),
        [1]
    );
    assert_eq!(
        ints(&mut c, &["HPERSIST", "h", "FIELDS", "3", "a", "nope", "a"]),
        [1, -2, -1]
    );
    // A time in the past deletes (2); the last field gone deletes the key.
    assert_eq!(
        ints(&mut c, &["HEXPIREAT", "h", "1", "FIELDS", "1", "a"]),
        [2]
    );
    assert_eq!(
        ints(&mut c, &["HPEXPIRE", "h", "0", "FIELDS", "2", "b", "c"]),
        [2, 2]
    );
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "h"]), 0);
    assert_eq!(ints(&mut c, &["HTTL", "h", "FIELDS", "1", "a"]), [-2]);
    assert_eq!(ints(&mut c, &["HPERSIST", "h", "FIELDS", "1", "a"]), [-2]);

    // HSETEX (Redis 8.0's flags: FNX / FXX, one expiry option), HGETEX, HGETDEL.
    assert_eq!(
        q::<i64>(
            &mut c,
            &["HSETEX", "s", "EX", "100", "FIELDS", "2", "x", "1", "y", "2"]
        ),
        1
    );
    assert_eq!(
        ints(&mut c, &["HTTL", "s", "FIELDS", "2", "x", "y"]),
        [100, 100]
    );
    assert_eq!(
        q::<i64>(
            &mut c,
            &["HSETEX", "s", "FNX", "FIELDS", "2", "y", "9", "z", "9"]
        ),
        0
    );
    assert_eq!(
        q::<i64>(
            &mut c,
            &["HSETEX", "s", "FXX", "KEEPTTL", "FIELDS", "1", "y", "5"]
        ),
        1
    );
    assert_eq!(ints(&mut c, &["HTTL", "s", "FIELDS", "1", "y"]), [100]);
    assert_eq!(
        q::<i64>(&mut c, &["HSETEX", "s", "FXX", "FIELDS", "1", "nope", "5"]),
        0
    );
    // HSET over a field drops its TTL; HINCRBY keeps it.
    assert_eq!(q::<i64>(&mut c, &["HINCRBY", "s", "x", "2"]), 3);
    assert_eq!(ints(&mut c, &["HTTL", "s", "FIELDS", "1", "x"]), [100]);
    let _: i64 = q(&mut c, &["HSET", "s", "x", "7"]);
    assert_eq!(ints(&mut c, &["HTTL", "s", "FIELDS", "1", "x"]), [-1]);
    let v: Vec<Option<String>> = q(
        &mut c,
        &["HGETEX", "s", "PX", "50000", "FIELDS", "2", "x", "nope"],
    );
    assert_eq!(v, [Some("7".into()), None]);
    assert!(ints(&mut c, &["HPTTL", "s", "FIELDS", "1", "x"])[0] > 49_000);
    let v: Vec<Option<String>> = q(&mut c, &["HGETEX", "s", "PERSIST", "FIELDS", "1", "x"]);
    assert_eq!(v, [Some("7".into())]);
    assert_eq!(ints(&mut c, &["HTTL", "s", "FIELDS", "1", "x"]), [-1]);
    let v: Vec<Option<String>> = q(&mut c, &["HGETEX", "s", "EXAT", "1", "FIELDS", "1", "x"]);
    assert_eq!(v, [Some("7".into())]);
    assert_eq!(q::<Option<String>>(&mut c, &["HGET", "s", "x"]), None);
    let v: Vec<Option<String>> = q(&mut c, &["HGETDEL", "s", "FIELDS", "2", "y", "nope"]);
    assert_eq!(v, [Some("5".into()), None]);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "s"]), 0);
    let v: Vec<Option<String>> = q(&mut c, &["HGETEX", "s", "FIELDS", "1", "y"]);
    assert_eq!(v, [None]);

    // Errors, worded as Redis 8.0 words them.
    let _: () = q(&mut c, &["SET", "str", "1"]);
    for (args, want) in [
        (
            &["HTTL", "str", "FIELDS", "1", "a"][..],
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        ),
        (
            &["HEXPIRE", "h", "10", "FIELDS", "0", "a"],
            "ERR Parameter `numFields` should be greater than 0",
        ),
        (
            &["HEXPIRE", "h", "10", "FIELDS", "2", "a"],
            "ERR The `numfields` parameter must match the number of arguments",
        ),
        (
            &["HEXPIRE", "h", "10", "FOO", "1", "a"],
            "ERR Mandatory argument FIELDS is missing or not at the right position",
        ),
        (
            &["HEXPIRE", "h", "-1", "FIELDS", "1", "a"],
            "ERR invalid expire time, must be >= 0",
        ),
        (
            &["HEXPIRE", "h", "x", "FIELDS", "1", "a"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["HEXPIRE", "h", "70368744177", "FIELDS", "1", "a"],
            "ERR invalid expire time in 'hexpire' command",
        ),
        (
            &["HTTL", "h", "FIELDS", "x", "a"],
            "ERR Number of fields must be a positive integer",
        ),
        (
            &["HPERSIST", "h", "FIELDS", "0", "a"],
            "ERR Number of fields must be a positive integer",
        ),
        (
            &["HGETDEL", "h", "FIELDS", "3", "a"],
            "ERR The `numfields` parameter must match the number of arguments",
        ),
        (
            &["HSETEX", "h", "EX", "1", "PX", "1", "FIELDS", "1", "a", "b"],
            "ERR Only one of EX, PX, EXAT, PXAT or KEEPTTL arguments can be specified",
        ),
        (
            &["HSETEX", "h", "FNX", "FXX", "FIELDS", "1", "a", "b"],
            "ERR Only one of FXX or FNX arguments can be specified",
        ),
        (
            &["HSETEX", "h", "FIELDS", "2", "a", "b"],
            "ERR wrong number of arguments for 'hsetex' command",
        ),
        (
            &["HSETEX", "h", "FIELDS", "0", "a", "b"],
            "ERR invalid number of fields",
        ),
        (
            &["HSETEX", "h", "NX", "FIELDS", "1", "a", "b"],
            "ERR unknown argument: NX",
        ),
    ] {
        assert_eq!(server_error(&mut c, args), want, "{args:?}");
    }
}

#[test]
fn fields_expire_lazily_and_actively_with_events_dump_and_reload() {
    let mut node = Node::start(&["--enable-debug-command", "yes"]);
    let mut c = node.client();
    let _: () = q(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let mut sub = node.client();
    let mut ps = sub.as_pubsub();
    ps.psubscribe("__keyevent@0__:h*").unwrap();
    ps.psubscribe("__keyevent@0__:del").unwrap();
    ps.set_read_timeout(Some(Duration::from_secs(5))).unwrap();

    // Lazy: a read of an expired field finds nothing (and the field is gone).
    let _: i64 = q(&mut c, &["HSET", "lazy", "a", "1", "b", "2"]);
    let _: Vec<i64> = q(&mut c, &["HPEXPIRE", "lazy", "1", "FIELDS", "1", "a"]);
    let _: () = q(&mut c, &["DEBUG", "SLEEP", "0.01"]);
    assert_eq!(q::<Option<String>>(&mut c, &["HGET", "lazy", "a"]), None);
    assert_eq!(q::<i64>(&mut c, &["HLEN", "lazy"]), 1);
    // Active: a hashtable with 200 fields of which 150 expire, nobody reading it.
    let _: () = q(
        &mut c,
        &["CONFIG", "SET", "hash-max-listpack-entries", "64"],
    );
    let mut cmd = redis::cmd("HSET");
    cmd.arg("act");
    for i in 0..200 {
        cmd.arg(format!("f{i}")).arg("v");
    }
    let _: i64 = cmd.query(&mut c).unwrap();
    let mut cmd = redis::cmd("HPEXPIRE");
    cmd.arg("act").arg(50).arg("FIELDS").arg(150);
    for i in 0..150 {
        cmd.arg(format!("f{i}"));
    }
    let _: Vec<i64> = cmd.query(&mut c).unwrap();
    // A hash whose every field expires goes away like an empty hash.
    let _: i64 = q(
        &mut c,
        &["HSETEX", "gone", "PX", "50", "FIELDS", "1", "only", "v"],
    );
    let reclaimed = wait_for(Duration::from_secs(5), || {
        let info: String = q(&mut c, &["INFO", "stats"]);
        let n: u64 = cluster_tests::info_field(&info, "expired_subkeys")?
            .parse()
            .ok()?;
        (n >= 152).then_some(n)
    });
    assert!(reclaimed.is_some(), "active field expiry did not run");
    let enc: String = q(&mut c, &["OBJECT", "ENCODING", "act"]);
    assert_eq!(enc, "hashtable");
    let mut events = Vec::new();
    while let Ok(m) = ps.get_message() {
        let key: String = m.get_payload().unwrap();
        events.push(format!(
            "{}:{key}",
            m.get_channel_name().rsplit(':').next().unwrap()
        ));
        if events.contains(&"del:gone".to_string()) && events.contains(&"hexpired:act".to_string())
        {
            break;
        }
    }
    for want in [
        "hset:lazy",
        "hexpire:lazy",
        "hexpired:lazy",
        "hexpired:act",
        "hexpired:gone",
        "del:gone",
    ] {
        assert!(
            events.iter().any(|e| e == want),
            "{want} missing from {events:?}"
        );
    }
    drop(ps);
    assert_eq!(q::<i64>(&mut c, &["HLEN", "act"]), 50);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "gone"]), 0);

    // DUMP/RESTORE keep field TTLs (RDB type 24 for a hashtable, 25 for a listpack).
    let _: Vec<i64> = q(&mut c, &["HEXPIRE", "act", "1000", "FIELDS", "1", "f199"]);
    let _: Vec<i64> = q(&mut c, &["HEXPIRE", "lazy", "1000", "FIELDS", "1", "b"]);
    for (key, rdb_type) in [("act", 24u8), ("lazy", 25)] {
        let payload: Vec<u8> = q(&mut c, &["DUMP", key]);
        assert_eq!(payload[0], rdb_type);
        let copy = format!("{key}-copy");
        let _: () = redis::cmd("RESTORE")
            .arg(&copy)
            .arg(0)
            .arg(&payload)
            .query(&mut c)
            .unwrap();
        let ttl = ints(
            &mut c,
            &[
                "HTTL",
                &copy,
                "FIELDS",
                "1",
                if key == "act" { "f199" } else { "b" },
            ],
        );
        assert!(ttl[0] > 990, "{ttl:?}");
        let d: Vec<String> = q(&mut c, &["DEBUG", "DIGEST-VALUE", key, &copy]);
        assert_eq!(d[0], d[1]);
    }
    // The digest covers field TTLs.
    let before: Vec<String> = q(&mut c, &["DEBUG", "DIGEST-VALUE", "lazy"]);
    let _: Vec<i64> = q(&mut c, &["HEXPIRE", "lazy", "2000", "FIELDS", "1", "b"]);
    let after: Vec<String> = q(&mut c, &["DEBUG", "DIGEST-VALUE", "lazy"]);
    assert_ne!(before, after);

    // An RDB file keeps them across a restart.
    let _: () = q(&mut c, &["SAVE"]);
    drop(c);
    node.restart().expect("restart");
    let mut c = node.client();
    assert!(ints(&mut c, &["HTTL", "act", "FIELDS", "1", "f199"])[0] > 990);
    assert!(ints(&mut c, &["HTTL", "lazy", "FIELDS", "1", "b"])[0] > 1990);
    let enc: String = q(&mut c, &["OBJECT", "ENCODING", "lazy"]);
    assert_eq!(enc, "listpackex");
}

/// Waits until `node` reports `role:<role>` in INFO replication.
fn wait_role(node: &Node, role: &str) -> bool {
    wait_for(Duration::from_secs(15), || {
        let info = query_string(node, &["INFO", "replication"]).ok()?;
        info.contains(&format!("role:{role}\r")).then_some(())
    })
    .is_some()
}

/// The digest of `key` on `node` (a replica is asked after READONLY).
fn digest(node: &Node, key: &str) -> String {
    let mut c = node.client();
    let _: Value = redis::cmd("READONLY").query(&mut c).unwrap();
    let d: Vec<String> = q(&mut c, &["DEBUG", "DIGEST-VALUE", key]);
    d[0].clone()
}

#[test]
fn field_ttls_survive_full_sync_failover_and_a_slot_move() {
    let c = TestCluster::start(3, &["--enable-debug-command", "yes"]);
    let (p, r, t) = (&c.nodes[0], &c.nodes[1], &c.nodes[2]);
    assert_eq!(
        query_string(p, &["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]).as_deref(),
        Ok("OK")
    );
    let mut pc = p.client();
    // Before the replica attaches: this reaches it through the full sync.
    let _: i64 = q(
        &mut pc,
        &["HSETEX", "{t}synced", "EX", "1000", "FIELDS", "1", "f", "v"],
    );
    let _: i64 = q(&mut pc, &["HSET", "{t}synced", "plain", "v"]);
    for n in [r, t] {
        let port = p.port.to_string();
        assert_eq!(
            query_string(n, &["CLUSTER", "MEET", &p.host, &port]).as_deref(),
            Ok("OK")
        );
    }
    assert!(c.wait_ok(Duration::from_secs(20)), "cluster not ok");
    let pid: String = q(&mut pc, &["CLUSTER", "MYID"]);
    let done = wait_for(Duration::from_secs(10), || {
        query_string(r, &["CLUSTER", "REPLICATE", &pid]).ok()
    });
    assert_eq!(done.as_deref(), Some("OK"));
    let synced = wait_for(Duration::from_secs(15), || {
        (digest(r, "{t}synced") == digest(p, "{t}synced")).then_some(())
    });
    assert!(synced.is_some(), "full sync lost field TTLs");

    // A field expiring on the primary reaches the replica as HDEL.
    let mut stream = repl_stream::attach(p);
    let _: i64 = q(
        &mut pc,
        &["HSET", "{t}h", "short", "v", "long", "v", "plain", "v"],
    );
    let _: Vec<i64> = q(
        &mut pc,
        &["HPEXPIRE", "{t}h", "100", "FIELDS", "1", "short"],
    );
    let _: Vec<i64> = q(&mut pc, &["HEXPIRE", "{t}h", "1000", "FIELDS", "1", "long"]);
    let mut seen = Vec::new();
    for _ in 0..20 {
        let cmd = repl_stream::next_cmd(&mut stream);
        let hdel = cmd == ["hdel", "{t}h", "short"];
        seen.push(cmd);
        if hdel {
            break;
        }
    }
    assert!(seen.iter().any(|c| c[0] == "hpexpireat"), "{seen:?}");
    assert_eq!(
        seen.last().map(|c| c.join(" ")),
        Some("hdel {t}h short".into()),
        "{seen:?}"
    );
    let same = wait_for(Duration::from_secs(10), || {
        (digest(r, "{t}h") == digest(p, "{t}h")).then_some(())
    });
    assert!(same.is_some(), "replica did not apply the HDEL");

    // Manual failover: the promoted replica has the TTLs and expires fields itself.
    assert_eq!(
        query_string(r, &["CLUSTER", "FAILOVER"]).as_deref(),
        Ok("OK")
    );
    assert!(wait_role(r, "master"), "failover did not happen");
    let mut rc = r.client();
    let ttl = ints(
        &mut rc,
        &["HTTL", "{t}h", "FIELDS", "3", "short", "long", "plain"],
    );
    assert!(ttl[0] == -2 && ttl[1] > 900 && ttl[2] == -1, "{ttl:?}");
    assert!(ints(&mut rc, &["HTTL", "{t}synced", "FIELDS", "1", "f"])[0] > 900);
    let set = ints(&mut rc, &["HPEXPIRE", "{t}h", "50", "FIELDS", "1", "plain"]);
    assert_eq!(set, [1]);
    let expired = wait_for(Duration::from_secs(5), || {
        let all: Vec<String> = q(&mut rc, &["HKEYS", "{t}h"]);
        (all == ["long"]).then_some(())
    });
    assert!(
        expired.is_some(),
        "the new primary did not expire the field"
    );

    // A slot move (as redis-cli reshard does it) keeps the TTLs.
    let slot: u16 = q(&mut rc, &["CLUSTER", "KEYSLOT", "{t}"]);
    let (s, rid, tid) = (
        slot.to_string(),
        query_string(r, &["CLUSTER", "MYID"]).unwrap(),
        query_string(t, &["CLUSTER", "MYID"]).unwrap(),
    );
    assert_eq!(
        query_string(t, &["CLUSTER", "SETSLOT", &s, "IMPORTING", &rid]).as_deref(),
        Ok("OK")
    );
    assert_eq!(
        query_string(r, &["CLUSTER", "SETSLOT", &s, "MIGRATING", &tid]).as_deref(),
        Ok("OK")
    );
    let moved: String = redis::cmd("MIGRATE")
        .arg(&t.host)
        .arg(t.port)
        .arg("")
        .arg(0)
        .arg(5000)
        .arg("KEYS")
        .arg("{t}h")
        .arg("{t}synced")
        .query(&mut rc)
        .unwrap();
    assert_eq!(moved, "OK");
    for n in [t, r] {
        assert_eq!(
            query_string(n, &["CLUSTER", "SETSLOT", &s, "NODE", &tid]).as_deref(),
            Ok("OK")
        );
    }
    let mut tc = t.client();
    assert!(ints(&mut tc, &["HTTL", "{t}h", "FIELDS", "1", "long"])[0] > 900);
    assert!(ints(&mut tc, &["HTTL", "{t}synced", "FIELDS", "1", "f"])[0] > 900);
    assert_eq!(
        q::<Option<String>>(&mut tc, &["HGET", "{t}synced", "plain"]).as_deref(),
        Some("v")
    );
}
