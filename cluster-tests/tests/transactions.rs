//! MULTI/EXEC/WATCH through the redis crate: atomicity against concurrent clients, WATCH
//! races, expiry, EXECABORT on queuing errors, runtime errors inside EXEC.

use cluster_tests::cluster::TestCluster;
use cluster_tests::reference::RedisServer;
use cluster_tests::{raw_exchange, Node};
use std::time::Duration;

#[test]
fn concurrent_transactions_are_atomic() {
    let node = Node::start(&[]);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let mut c = node.client();
            std::thread::spawn(move || {
                for _ in 0..250 {
                    let (a, b): (i64, i64) = redis::pipe()
                        .atomic()
                        .cmd("INCR")
                        .arg("a")
                        .cmd("INCR")
                        .arg("b")
                        .query(&mut c)
                        .unwrap();
                    assert_eq!(a, b, "another client's INCR ran inside a transaction");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut c = node.client();
    let (a, b): (i64, i64) = redis::cmd("MGET").arg("a").arg("b").query(&mut c).unwrap();
    assert_eq!((a, b), (1000, 1000));
}

#[test]
fn watch_aborts_exec_when_another_client_writes_the_key() {
    let node = Node::start(&[]);
    let mut a = node.client();
    let mut b = node.client();
    let _: () = redis::cmd("SET").arg("k").arg(1).query(&mut a).unwrap();
    let _: () = redis::cmd("WATCH").arg("k").query(&mut a).unwrap();
    let _: () = redis::cmd("SET").arg("k").arg(2).query(&mut b).unwrap();
    let r: Option<(String,)> = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("k")
        .arg(3)
        .query(&mut a)
        .unwrap();
    assert_eq!(r, None, "EXEC must fail after a watched key changed");
    let v: i64 = redis::cmd("GET").arg("k").query(&mut a).unwrap();
    assert_eq!(v, 2);
    // Untouched watched key: EXEC goes through.
    let _: () = redis::cmd("WATCH").arg("k").query(&mut a).unwrap();
    let r: Option<(String,)> = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("k")
        .arg(4)
        .query(&mut a)
        .unwrap();
    assert!(r.is_some());
}

#[test]
fn a_watched_key_that_expires_aborts_exec() {
    let node = Node::start(&[]);
    let mut a = node.client();
    let _: () = redis::cmd("SET")
        .arg("t")
        .arg(1)
        .arg("PX")
        .arg(50)
        .query(&mut a)
        .unwrap();
    let _: () = redis::cmd("WATCH").arg("t").query(&mut a).unwrap();
    std::thread::sleep(Duration::from_millis(120));
    let r: Option<(String,)> = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("x")
        .arg(1)
        .query(&mut a)
        .unwrap();
    assert_eq!(r, None);
}

#[test]
fn queuing_errors_abort_and_runtime_errors_do_not() {
    let node = Node::start(&[]);
    let mut s = node.raw();
    let got = raw_exchange(&mut s, b"MULTI\r\nSET a 1\r\nNOSUCH x\r\nEXEC\r\n", 200);
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("+OK\r\n+QUEUED\r\n-ERR unknown command 'NOSUCH'"),
        "{text}"
    );
    assert!(
        text.ends_with("-EXECABORT Transaction discarded because of previous errors.\r\n"),
        "{text}"
    );
    let got = raw_exchange(&mut s, b"GET a\r\n", 5);
    assert_eq!(got, b"$-1\r\n", "an aborted transaction ran nothing");
    let got = raw_exchange(
        &mut s,
        b"MULTI\r\nSET s str\r\nINCR s\r\nSET b 2\r\nEXEC\r\n",
        200,
    );
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.ends_with("*3\r\n+OK\r\n-ERR value is not an integer or out of range\r\n+OK\r\n"),
        "{text}"
    );
    let got = raw_exchange(&mut s, b"EXEC\r\n", 10);
    assert_eq!(got, b"-ERR EXEC without MULTI\r\n");
    let got = raw_exchange(&mut s, b"MULTI\r\nMULTI\r\n", 100);
    assert!(String::from_utf8_lossy(&got).ends_with("-ERR MULTI calls can not be nested\r\n"));
    let got = raw_exchange(&mut s, b"WATCH x\r\n", 100);
    assert_eq!(got, b"-ERR WATCH inside MULTI is not allowed\r\n");
    let got = raw_exchange(&mut s, b"DISCARD\r\n", 5);
    assert_eq!(got, b"+OK\r\n");
}

/// Redis refuses EXEC itself (wrong arity) by aborting the transaction, inside MULTI or not:
/// EXECABORT with the reason, and the queued commands never run.
#[test]
fn a_refused_exec_aborts_the_transaction() {
    let node = Node::start(&[]);
    let mut s = node.raw();
    let abort = "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n";
    let got = raw_exchange(&mut s, b"EXEC x\r\n", abort.len());
    assert_eq!(String::from_utf8_lossy(&got), abort);
    let got = raw_exchange(&mut s, b"MULTI\r\nSET a 1\r\nEXEC x\r\n", 14 + abort.len());
    let text = String::from_utf8_lossy(&got);
    assert!(text.ends_with(abort), "{text}");
    // The transaction is gone: no MULTI to EXEC, nothing ran.
    let got = raw_exchange(&mut s, b"EXEC\r\n", 10);
    assert_eq!(got, b"-ERR EXEC without MULTI\r\n");
    let got = raw_exchange(&mut s, b"GET a\r\n", 5);
    assert_eq!(got, b"$-1\r\n");
}

#[test]
fn transactions_across_slots_are_refused_in_cluster_mode() {
    let c = TestCluster::start(3, &[]);
    c.form_by_hand();
    assert!(c.wait_ok(Duration::from_secs(15)));
    // {06S} is slot 0, served by the first node; "a" and "b" hash elsewhere.
    let mut s = c.nodes[0].raw();
    let got = raw_exchange(
        &mut s,
        b"MULTI\r\nSET {06S}a 1\r\nSET {06S}b 2\r\nEXEC\r\n",
        200,
    );
    assert!(
        String::from_utf8_lossy(&got).ends_with("*2\r\n+OK\r\n+OK\r\n"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    let got = raw_exchange(&mut s, b"MULTI\r\nSET {06S}a 1\r\nGET foo\r\nEXEC\r\n", 200);
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("-MOVED 12182"), "{text}");
    assert!(
        text.ends_with("-EXECABORT Transaction discarded because of previous errors.\r\n"),
        "{text}"
    );
}

#[test]
fn commands_flagged_no_multi_are_refused_and_doom_the_transaction() {
    let node = Node::start(&[]);
    let mut s = node.raw();
    let got = raw_exchange(&mut s, b"MULTI\r\nSET foo bar\r\nSHUTDOWN\r\nEXEC\r\n", 200);
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.contains("-ERR Command not allowed inside a transaction\r\n"),
        "{text}"
    );
    assert!(text.ends_with("-EXECABORT Transaction discarded because of previous errors.\r\n"));
    // The node is still up and ran nothing of the transaction.
    let got = raw_exchange(&mut s, b"GET foo\r\n", 5);
    assert_eq!(got, b"$-1\r\n");
}

#[test]
fn exec_checks_the_whole_transaction_against_replication_state() {
    let node = Node::start(&[]);
    let mut a = node.client();
    let mut b = node.client();
    let _: () = redis::cmd("SET").arg("xx").arg(1).query(&mut a).unwrap();
    let _: () = redis::cmd("MULTI").query(&mut a).unwrap();
    let _: () = redis::cmd("INCR").arg("xx").query(&mut a).unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("min-replicas-to-write")
        .arg(2)
        .query(&mut b)
        .unwrap();
    let e = cluster_tests::server_error(&mut a, &["EXEC"]);
    assert!(
        e.starts_with("EXECABORT") && e.contains("NOREPLICAS"),
        "{e}"
    );
    // The client left MULTI, and the INCR never ran.
    let v: i64 = redis::cmd("GET").arg("xx").query(&mut a).unwrap();
    assert_eq!(v, 1);
}

#[test]
fn flushes_touch_only_the_watched_keys_they_change() {
    let node = Node::start(&[]);
    let mut a = node.client();
    let mut b = node.client();
    // A missing watched key is not changed by FLUSHALL: EXEC runs.
    let _: () = redis::cmd("WATCH").arg("x").query(&mut a).unwrap();
    let _: () = redis::cmd("FLUSHALL").query(&mut b).unwrap();
    let r: Option<(String,)> = redis::pipe().atomic().cmd("PING").query(&mut a).unwrap();
    assert_eq!(r, Some(("PONG".to_string(),)));
    // An existing one is: EXEC fails.
    let _: () = redis::cmd("SET").arg("x").arg(1).query(&mut b).unwrap();
    let _: () = redis::cmd("WATCH").arg("x").query(&mut a).unwrap();
    let _: () = redis::cmd("FLUSHDB").query(&mut b).unwrap();
    let r: Option<(String,)> = redis::pipe().atomic().cmd("PING").query(&mut a).unwrap();
    assert_eq!(r, None);
}

/// Sends `send` to a fresh connection to slotcache and to redis-server and returns both
/// answers (read until `expect_bytes` or a pause).
fn both(node: &Node, redis: &RedisServer, send: &[u8], expect_bytes: usize) -> (String, String) {
    let mut ours = node.raw();
    let mut theirs =
        std::net::TcpStream::connect(("127.0.0.1", redis.port)).expect("connect to redis");
    theirs.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let a = raw_exchange(&mut ours, send, expect_bytes);
    let b = raw_exchange(&mut theirs, send, expect_bytes);
    (
        String::from_utf8_lossy(&a).into_owned(),
        String::from_utf8_lossy(&b).into_owned(),
    )
}

#[test]
fn a_replica_refuses_a_write_when_it_is_queued_as_redis_does() {
    // Replicas of a port where nothing listens: read-only, their links down.
    let node = Node::start(&["--replicaof", "127.0.0.1", "1"]);
    let Some(redis) = RedisServer::start(&["--replicaof", "127.0.0.1", "1"]) else {
        return;
    };
    let send = b"MULTI\r\nSET k v\r\nGET k\r\nEXEC\r\n";
    let want = "+OK\r\n-READONLY You can't write against a read only replica.\r\n+QUEUED\r\n-EXECABORT Transaction discarded because of previous errors.\r\n";
    let (ours, theirs) = both(&node, &redis, send, want.len());
    assert_eq!(theirs, want, "redis-server answered otherwise");
    assert_eq!(ours, want);
}

#[test]
fn nothing_inside_exec_blocks_or_waits_as_in_redis() {
    let node = Node::start(&[]);
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    // WAIT answers the count as it stands and BLPOP its timeout reply, inside the
    // transaction's reply.
    let send = b"MULTI\r\nSET k v\r\nWAIT 1 0\r\nBLPOP nolist 0\r\nBLMOVE a b LEFT LEFT 0\r\nEXEC\r\nGET k\r\n";
    let want = "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*4\r\n+OK\r\n:0\r\n*-1\r\n$-1\r\n$1\r\nv\r\n";
    let (ours, theirs) = both(&node, &redis, send, want.len());
    assert_eq!(theirs, want, "redis-server answered otherwise");
    assert_eq!(ours, want);
}

#[test]
fn a_client_that_kills_itself_inside_exec_gets_the_reply_then_is_closed() {
    let node = Node::start(&[]);
    let mut s = node.raw();
    let id = String::from_utf8(raw_exchange(&mut s, b"CLIENT ID\r\n", 4)).unwrap();
    let id = id.trim_start_matches(':').trim();
    let send = format!("MULTI\r\nCLIENT KILL ID {id} SKIPME no\r\nEXEC\r\nPING\r\n");
    let want = "+OK\r\n+QUEUED\r\n*1\r\n:1\r\n";
    let got = raw_exchange(&mut s, send.as_bytes(), want.len() + 7);
    // The PING after it is never answered: the connection closed after EXEC's reply.
    assert_eq!(String::from_utf8_lossy(&got), want);
    let mut rest = [0u8; 16];
    use std::io::Read;
    assert_eq!(
        s.read(&mut rest).unwrap_or(0),
        0,
        "the connection stays open"
    );
}

#[test]
fn migrate_inside_exec_is_refused_and_the_connection_goes_on() {
    let node = Node::start(&[]);
    let mut s = node.raw();
    let got = raw_exchange(
        &mut s,
        b"MULTI\r\nSET k v\r\nMIGRATE 127.0.0.1 1 k 0 100\r\nEXEC\r\nGET k\r\n",
        200,
    );
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.ends_with("*2\r\n+OK\r\n-ERR MIGRATE is not supported inside MULTI/EXEC: send it outside the transaction\r\n$1\r\nv\r\n"),
        "{text}"
    );
}
