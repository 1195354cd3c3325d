//! Pub/sub through stock clients: RESP2 subscribed mode, RESP3 pushes, patterns, sharded
//! channels, introspection, slow subscribers, and PUBLISH across a cluster.

use cluster_tests::cluster::TestCluster;
use cluster_tests::{raw_exchange, wait_for, Node};
use std::io::Read;
use std::time::Duration;

#[test]
fn subscribers_receive_messages_and_patterns_in_resp2() {
    let node = Node::start(&[]);
    let mut sub = node.client();
    let mut ps = sub.as_pubsub();
    ps.subscribe("news").unwrap();
    ps.psubscribe("n*").unwrap();
    ps.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut pubc = node.client();
    let receivers: i64 = redis::cmd("PUBLISH")
        .arg("news")
        .arg("hello")
        .query(&mut pubc)
        .unwrap();
    assert_eq!(receivers, 2, "one channel and one pattern subscriber");
    let m1 = ps.get_message().unwrap();
    let m2 = ps.get_message().unwrap();
    let mut got = vec![
        (
            m1.get_channel_name().to_string(),
            m1.get_payload::<String>().unwrap(),
            m1.from_pattern(),
        ),
        (
            m2.get_channel_name().to_string(),
            m2.get_payload::<String>().unwrap(),
            m2.from_pattern(),
        ),
    ];
    got.sort();
    assert_eq!(
        got,
        vec![
            ("news".into(), "hello".into(), false),
            ("news".into(), "hello".into(), true)
        ]
    );
    let n: Vec<redis::Value> = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg("news")
        .arg("other")
        .query(&mut pubc)
        .unwrap();
    assert_eq!(n.len(), 4);
    let numpat: i64 = redis::cmd("PUBSUB").arg("NUMPAT").query(&mut pubc).unwrap();
    assert_eq!(numpat, 1);
    let chans: Vec<String> = redis::cmd("PUBSUB")
        .arg("CHANNELS")
        .query(&mut pubc)
        .unwrap();
    assert_eq!(chans, vec!["news"]);
}

#[test]
fn subscribed_resp2_connections_only_take_pubsub_commands() {
    let node = Node::start(&[]);
    let mut s = node.raw();
    let got = raw_exchange(&mut s, b"SUBSCRIBE a\r\nGET x\r\nPING\r\n", 10_000);
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"), "{text}");
    assert!(text.ends_with("*2\r\n$4\r\npong\r\n$0\r\n\r\n"), "{text}");
    // A subcommand is named as the command table names it, as Redis does.
    let got = raw_exchange(&mut s, b"PUBSUB CHANNELS\r\n", 40);
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("-ERR Can't execute 'pubsub|channels': only (P|S)SUBSCRIBE"),
        "{text}"
    );
    let got = raw_exchange(&mut s, b"UNSUBSCRIBE\r\n", 30);
    assert_eq!(got, b"*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n");
    let got = raw_exchange(&mut s, b"GET x\r\n", 5);
    assert_eq!(got, b"$-1\r\n");
}

#[test]
fn resp3_subscribers_get_push_messages_and_may_run_commands() {
    let node = Node::start(&[]);
    let mut s = node.raw();
    let _ = raw_exchange(&mut s, b"HELLO 3\r\n", 10);
    std::thread::sleep(Duration::from_millis(100));
    let mut junk = [0u8; 4096];
    s.set_read_timeout(Some(Duration::from_millis(200))).ok();
    let _ = s.read(&mut junk);
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let got = raw_exchange(&mut s, b"SUBSCRIBE ch\r\n", 26);
    assert_eq!(got, b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
    let got = raw_exchange(&mut s, b"GET nothing\r\n", 3);
    assert_eq!(got, b"_\r\n", "RESP3 subscribers can run normal commands");
    let _: i64 = redis::cmd("PUBLISH")
        .arg("ch")
        .arg("m")
        .query(&mut node.client())
        .unwrap();
    let got = raw_exchange(&mut s, b"", 30);
    assert_eq!(got, b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nm\r\n");
}

#[test]
fn sharded_channels_are_separate_from_plain_ones() {
    let node = Node::start(&[]);
    let mut s = node.raw();
    let got = raw_exchange(&mut s, b"SSUBSCRIBE orders\r\n", 33);
    assert_eq!(got, b"*3\r\n$10\r\nssubscribe\r\n$6\r\norders\r\n:1\r\n");
    let mut c = node.client();
    let plain: i64 = redis::cmd("PUBLISH")
        .arg("orders")
        .arg("x")
        .query(&mut c)
        .unwrap();
    assert_eq!(plain, 0);
    let sharded: i64 = redis::cmd("SPUBLISH")
        .arg("orders")
        .arg("y")
        .query(&mut c)
        .unwrap();
    assert_eq!(sharded, 1);
    let got = raw_exchange(&mut s, b"", 34);
    assert_eq!(got, b"*3\r\n$8\r\nsmessage\r\n$6\r\norders\r\n$1\r\ny\r\n");
    let chans: Vec<String> = redis::cmd("PUBSUB")
        .arg("SHARDCHANNELS")
        .query(&mut c)
        .unwrap();
    assert_eq!(chans, vec!["orders"]);
}

#[test]
fn a_slow_subscriber_is_disconnected_at_its_output_limit_and_others_are_unaffected() {
    let node = Node::start(&["--client-output-buffer-limit", "pubsub 256kb 128kb 1"]);
    // A subscriber that never reads.
    let mut slow = node.raw();
    let _ = raw_exchange(&mut slow, b"SUBSCRIBE flood\r\n", 30);
    let mut fast = node.client();
    let payload = "x".repeat(64 * 1024);
    let cut = wait_for(Duration::from_secs(20), || {
        for _ in 0..50 {
            let _: i64 = redis::cmd("PUBLISH")
                .arg("flood")
                .arg(&payload)
                .query(&mut fast)
                .unwrap();
        }
        let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut fast).unwrap();
        (!list.contains("flags=P")).then_some(())
    });
    assert!(cut.is_some(), "the slow subscriber was never disconnected");
    let pong: String = redis::cmd("PING").query(&mut fast).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn publish_on_one_cluster_node_reaches_a_subscriber_on_another() {
    let c = TestCluster::start(3, &[]);
    c.form_by_hand();
    assert!(c.wait_ok(Duration::from_secs(15)));
    let mut sub = c.nodes[2].client();
    let mut ps = sub.as_pubsub();
    ps.subscribe("events").unwrap();
    ps.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _: i64 = redis::cmd("PUBLISH")
        .arg("events")
        .arg("from-node-0")
        .query(&mut c.nodes[0].client())
        .unwrap();
    let m = ps.get_message().expect("message from another node");
    assert_eq!(m.get_channel_name(), "events");
    assert_eq!(m.get_payload::<String>().unwrap(), "from-node-0");
}

#[test]
fn keyspace_notifications_follow_notify_keyspace_events() {
    let node = Node::start(&["--notify-keyspace-events", "KEA"]);
    let mut sub = node.client();
    let mut ps = sub.as_pubsub();
    ps.psubscribe("__key*__:*").unwrap();
    ps.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut c = node.client();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    let _: i64 = redis::cmd("INCR").arg("n").query(&mut c).unwrap();
    let _: () = redis::cmd("SET")
        .arg("t")
        .arg("v")
        .arg("PX")
        .arg(20)
        .query(&mut c)
        .unwrap();
    let mut seen = Vec::new();
    let found = wait_for(Duration::from_secs(5), || {
        if let Ok(m) = ps.get_message() {
            let payload: String = m.get_payload().unwrap_or_default();
            seen.push(format!("{} {}", m.get_channel_name(), payload));
        }
        let _: Option<String> = redis::cmd("GET").arg("t").query(&mut c).ok().flatten();
        (seen.iter().any(|s| s == "__keyevent@0__:expired t")).then_some(())
    });
    assert!(
        seen.contains(&"__keyspace@0__:k set".to_string()),
        "{seen:?}"
    );
    assert!(
        seen.contains(&"__keyevent@0__:set k".to_string()),
        "{seen:?}"
    );
    assert!(
        seen.contains(&"__keyevent@0__:incrby n".to_string()),
        "{seen:?}"
    );
    assert!(found.is_some(), "no expired event: {seen:?}");
}

/// The events Redis 7 sends (checked against redis-server 7.0.15), in its order: a
/// collection emptied also sends `del`, moves send per-side events, MPOP sends the pop it did
/// on the key it popped, and STORE commands notify only their destination.
#[test]
fn keyspace_events_match_redis_for_moves_pops_stores_and_emptied_keys() {
    let node = Node::start(&["--notify-keyspace-events", "KEA"]);
    let mut sub = node.client();
    let mut ps = sub.as_pubsub();
    ps.psubscribe("__keyevent@0__:*").unwrap();
    ps.subscribe("end").unwrap();
    ps.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut c = node.client();
    let script: &[&[&str]] = &[
        &["SET", "k", "v", "EX", "100"],
        &["HSET", "h", "a", "1"],
        &["HDEL", "h", "a"],
        &["RPUSH", "l", "x"],
        &["LMOVE", "l", "l2", "LEFT", "RIGHT"],
        &["RPOPLPUSH", "l2", "l3"],
        &["LMPOP", "2", "nokey", "l3", "LEFT"],
        &["SADD", "s", "a"],
        &["SMOVE", "s", "s2", "a"],
        &["SINTERSTORE", "d", "s2", "nokey"],
        &["ZADD", "z", "1", "a"],
        &["ZUNIONSTORE", "zu", "1", "z"],
        &["ZMPOP", "1", "z", "MIN"],
        &["PFADD", "p", "a"],
        &["PFMERGE", "p2", "p"],
        &["RPUSH", "bl", "x"],
        &["BLPOP", "nokey", "bl", "0"],
        &["PUBLISH", "end", "x"],
    ];
    let seen = run_and_collect(&mut c, &mut ps, script, "__keyevent@0__:");
    let expected = [
        "set k",
        "expire k",
        "hset h",
        "hdel h",
        "del h",
        "rpush l",
        "rpush l2",
        "lpop l",
        "del l",
        "lpush l3",
        "rpop l2",
        "del l2",
        "lpop l3",
        "del l3",
        "sadd s",
        "srem s",
        "del s",
        "sadd s2",
        "zadd z",
        "zunionstore zu",
        "zpopmin z",
        "del z",
        "pfadd p",
        "pfadd p2",
        "rpush bl",
        "lpop bl",
        "del bl",
    ];
    assert_eq!(seen, expected);
}

#[test]
fn pubsub_confirmations_and_messages_pass_client_reply_off() {
    let node = Node::start(&[]);
    let mut s = node.raw();
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    // CLIENT REPLY OFF silences replies, not what pub/sub pushes.
    let got = raw_exchange(
        &mut s,
        b"CLIENT REPLY OFF\r\nSUBSCRIBE ch\r\n",
        b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n".len(),
    );
    assert_eq!(got, b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
    let n: i64 = redis::cmd("PUBLISH")
        .arg("ch")
        .arg("m")
        .query(&mut node.client())
        .unwrap();
    assert_eq!(n, 1);
    let want = b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nm\r\n";
    assert_eq!(raw_exchange(&mut s, b"", want.len()), want);
    let want = b"*3\r\n$11\r\nunsubscribe\r\n$2\r\nch\r\n:0\r\n";
    assert_eq!(
        raw_exchange(&mut s, b"UNSUBSCRIBE ch\r\n", want.len()),
        want
    );
}

#[test]
fn evictions_are_notified_and_the_event_flags_read_back_canonical() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let set = |c: &mut redis::Connection, k: &str, v: &str| {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg(k)
            .arg(v)
            .query(c)
            .unwrap();
    };
    let get = |c: &mut redis::Connection| -> Vec<String> {
        redis::cmd("CONFIG")
            .arg("GET")
            .arg("notify-keyspace-events")
            .query(c)
            .unwrap()
    };
    set(&mut c, "notify-keyspace-events", "KA");
    assert_eq!(get(&mut c)[1], "AK");
    set(&mut c, "notify-keyspace-events", "Ee");
    set(&mut c, "maxmemory-policy", "allkeys-lru");
    let mut s = node.raw();
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let sub = b"*3\r\n$10\r\npsubscribe\r\n$1\r\n*\r\n:1\r\n";
    assert_eq!(raw_exchange(&mut s, b"PSUBSCRIBE *\r\n", sub.len()), sub);
    let _: () = redis::cmd("SET")
        .arg("foo")
        .arg("bar")
        .query(&mut c)
        .unwrap();
    // Lowering maxmemory evicts at once, without waiting for a write.
    set(&mut c, "maxmemory", "1");
    let want = b"*4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$22\r\n__keyevent@0__:evicted\r\n$3\r\nfoo\r\n";
    assert_eq!(raw_exchange(&mut s, b"", want.len()), want);
    set(&mut c, "maxmemory", "0");
}

/// INFO stats counts the channels, patterns and shard channels that have subscribers, as
/// Redis does (they are gone again once their last subscriber leaves).
#[test]
fn info_stats_counts_active_channels_patterns_and_shard_channels() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let count = |c: &mut redis::Connection, field: &str| -> String {
        let info: String = redis::cmd("INFO").arg("stats").query(c).unwrap();
        cluster_tests::info_field(&info, field).unwrap_or_default()
    };
    assert_eq!(count(&mut c, "pubsub_channels"), "0");
    let mut s = node.raw();
    let got = raw_exchange(
        &mut s,
        b"SUBSCRIBE a b\r\nPSUBSCRIBE p*\r\nSSUBSCRIBE s\r\n",
        125,
    );
    assert!(String::from_utf8_lossy(&got).contains("ssubscribe"));
    assert_eq!(count(&mut c, "pubsub_channels"), "2");
    assert_eq!(count(&mut c, "pubsub_patterns"), "1");
    assert_eq!(count(&mut c, "pubsubshard_channels"), "1");
    drop(s);
    let gone = wait_for(Duration::from_secs(5), || {
        (count(&mut c, "pubsub_channels") == "0").then_some(())
    });
    assert!(gone.is_some(), "channels outlive their subscriber");
    assert_eq!(count(&mut c, "pubsubshard_channels"), "0");
}

/// More of Redis 7.0.15's event choices: DEL names only the keys it deleted, MOVE notifies
/// both databases, BITOP sets its destination, BITFIELD is a setbit, GETEX and EXPIRE say
/// what they did to the expiry (an expiry in the past deletes), ZADD INCR is a zincr, and a
/// COPY ... REPLACE destination is new again.
#[test]
fn keyspace_events_match_redis_for_deletes_moves_bit_ops_and_expiries() {
    let node = Node::start(&["--notify-keyspace-events", "KEAn"]);
    let mut sub = node.client();
    let mut ps = sub.as_pubsub();
    ps.psubscribe("__keyevent@*__:*").unwrap();
    ps.subscribe("end").unwrap();
    ps.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut c = node.client();
    let script: &[&[&str]] = &[
        &["SET", "a", "1"],
        &["DEL", "a", "nokey"],
        &["SET", "m", "1"],
        &["MOVE", "m", "1"],
        &["SET", "b", "x"],
        &["BITOP", "NOT", "dst", "b"],
        &["BITFIELD", "b", "SET", "u8", "0", "1"],
        &["GETEX", "b", "EX", "100"],
        &["GETEX", "b", "PERSIST"],
        &["GETEX", "b"],
        &["EXPIRE", "b", "-1"],
        &["ZADD", "z", "INCR", "1", "a"],
        &["SET", "c", "1"],
        &["COPY", "c", "dst", "REPLACE"],
        &["PUBLISH", "end", "x"],
    ];
    let seen = run_and_collect(&mut c, &mut ps, script, "__keyevent@");
    let expected = [
        "0__:new a",
        "0__:set a",
        "0__:del a",
        "0__:new m",
        "0__:set m",
        "1__:new m",
        "0__:move_from m",
        "1__:move_to m",
        "0__:new b",
        "0__:set b",
        "0__:new dst",
        "0__:set dst",
        "0__:setbit b",
        "0__:expire b",
        "0__:persist b",
        "0__:del b",
        "0__:new z",
        "0__:zincr z",
        "0__:new c",
        "0__:set c",
        "0__:new dst",
        "0__:copy_to dst",
    ];
    assert_eq!(seen, expected);
}

/// Runs `script` (which ends with `PUBLISH end x`) on `c`, then returns the keyspace events
/// `ps` received before `end`, as `<channel without prefix> <key>`.
fn run_and_collect(
    c: &mut redis::Connection,
    ps: &mut redis::PubSub,
    script: &[&[&str]],
    prefix: &str,
) -> Vec<String> {
    for args in script {
        let _: redis::Value = cluster_tests::q(c, args);
    }
    let mut seen = Vec::new();
    for _ in 0..100 {
        let m = ps.get_message().expect("event");
        if m.get_channel_name() == "end" {
            break;
        }
        let key: String = m.get_payload().unwrap();
        let event = m.get_channel_name().trim_start_matches(prefix);
        seen.push(format!("{event} {key}"));
    }
    seen
}
