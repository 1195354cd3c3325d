//! FAILOVER on a standalone primary (Redis 6.2+), through the `redis` crate: a primary with
//! two replicas hands over to a named replica or to any caught-up one without losing an
//! acknowledged write; writes issued meanwhile are held and then answered READONLY; the old
//! primary follows the new one and the other replica keeps receiving writes through it;
//! TIMEOUT aborts when the target lags, FORCE goes on anyway, ABORT undoes it; and every
//! error Redis 7.0.15 answers, with its words.

use cluster_tests::{info_field, pick_port, q, server_error, wait_for, Node};
use redis::Connection;
use std::time::Duration;

fn field(n: &Node, f: &str) -> String {
    let info: String = q(&mut n.client(), &["INFO", "replication"]);
    info_field(&info, f).unwrap_or_default()
}

fn stats(n: &Node, f: &str) -> i64 {
    let info: String = q(&mut n.client(), &["INFO", "stats"]);
    info_field(&info, f)
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

fn digest(n: &Node) -> String {
    q(&mut n.client(), &["DEBUG", "DIGEST"])
}

fn replicate(replica: &Node, primary: &Node) {
    let port = primary.port.to_string();
    let r: String = q(&mut replica.client(), &["REPLICAOF", "127.0.0.1", &port]);
    assert_eq!(r, "OK");
}

/// Waits until `replica` follows `primary` with its link up and the same offset.
fn wait_in_sync(primary: &Node, replica: &Node) {
    let ok = wait_for(Duration::from_secs(20), || {
        let up = field(replica, "master_link_status") == "up"
            && field(replica, "master_port") == primary.port.to_string();
        let p = field(primary, "master_repl_offset");
        (up && !p.is_empty() && p == field(replica, "master_repl_offset")).then_some(())
    });
    assert!(
        ok.is_some(),
        "{} did not catch up with {}:\n{}\n{}",
        replica.port,
        primary.port,
        q::<String>(&mut primary.client(), &["INFO", "replication"]),
        q::<String>(&mut replica.client(), &["INFO", "replication"]),
    );
}

/// Waits for `master_failover_state` to read `state`.
fn wait_state(n: &Node, state: &str) {
    let ok = wait_for(Duration::from_secs(20), || {
        (field(n, "master_failover_state") == state).then_some(())
    });
    assert!(
        ok.is_some(),
        "master_failover_state never became {state}:\n{}",
        q::<String>(&mut n.client(), &["INFO", "replication"])
    );
}

/// A primary with two replicas in sync, holding `keys` keys written before any failover.
fn trio(keys: u64) -> (Node, Node, Node) {
    let p = Node::start(&[]);
    let r1 = Node::start(&[]);
    let r2 = Node::start(&[]);
    replicate(&r1, &p);
    replicate(&r2, &p);
    let mut c = p.client();
    for i in 0..keys {
        let _: () = q(&mut c, &["SET", &format!("k{i}"), &format!("v{i}")]);
    }
    wait_in_sync(&p, &r1);
    wait_in_sync(&p, &r2);
    (p, r1, r2)
}

fn failover(c: &mut Connection, args: &[&str]) -> String {
    let mut all = vec!["FAILOVER"];
    all.extend_from_slice(args);
    q(c, &all)
}

fn role(n: &Node) -> String {
    field(n, "role")
}

#[test]
fn failover_to_a_named_replica_keeps_every_write_and_chains_the_other_replica() {
    let (p, r1, r2) = trio(200);
    let psyncs = stats(&r1, "sync_partial_ok");
    let fulls = stats(&r1, "sync_full");
    let port = r1.port.to_string();
    assert_eq!(failover(&mut p.client(), &["TO", "127.0.0.1", &port]), "OK");
    wait_state(&p, "no-failover");
    let ok = wait_for(Duration::from_secs(20), || {
        (role(&p) == "slave" && role(&r1) == "master").then_some(())
    });
    assert!(ok.is_some(), "roles did not switch");
    assert_eq!(field(&p, "master_port"), port);
    // The old primary continued from the new one without a full sync.
    wait_in_sync(&r1, &p);
    assert_eq!(stats(&r1, "sync_partial_ok") - psyncs, 1);
    assert_eq!(stats(&r1, "sync_full") - fulls, 0);
    // The other replica keeps its link to the old primary, now a replica itself.
    assert_eq!(role(&r2), "slave");
    assert_eq!(field(&r2, "master_port"), p.port.to_string());
    wait_in_sync(&p, &r2);
    for n in [&p, &r1, &r2] {
        let size: i64 = q(&mut n.client(), &["DBSIZE"]);
        assert_eq!(size, 200, "node {}", n.port);
    }
    // The old primary refuses writes; the new one's reach both replicas.
    assert_eq!(
        server_error(&mut p.client(), &["SET", "x", "1"]),
        "READONLY You can't write against a read only replica."
    );
    let _: () = q(&mut r1.client(), &["SET", "after", "failover"]);
    wait_in_sync(&r1, &p);
    wait_in_sync(&p, &r2);
    let v: String = q(&mut r2.client(), &["GET", "after"]);
    assert_eq!(v, "failover");
    assert_eq!(digest(&p), digest(&r1));
    assert_eq!(digest(&r1), digest(&r2));
    assert_eq!(field(&r1, "master_failover_state"), "no-failover");
}

#[test]
fn no_acknowledged_write_is_lost_under_a_write_load() {
    let (p, r1, r2) = trio(0);
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let mut c = p.client();
            std::thread::spawn(move || {
                // Writes until the first refusal; returns how many were acknowledged.
                let mut acked = 0u64;
                for i in 0..1_000_000u64 {
                    let r: redis::RedisResult<()> = redis::cmd("SET")
                        .arg(format!("w{w}:{i}"))
                        .arg(i)
                        .query(&mut c);
                    match r {
                        Ok(()) => acked = i + 1,
                        Err(e) => {
                            assert_eq!(e.code(), Some("READONLY"), "{e}");
                            break;
                        }
                    }
                }
                acked
            })
        })
        .collect();
    let started = wait_for(Duration::from_secs(10), || {
        let n: i64 = q(&mut p.client(), &["DBSIZE"]);
        (n > 300).then_some(())
    });
    assert!(started.is_some());
    let port = r1.port.to_string();
    assert_eq!(failover(&mut p.client(), &["TO", "127.0.0.1", &port]), "OK");
    wait_state(&p, "no-failover");
    let acked: Vec<u64> = writers.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(role(&r1), "master");
    let mut c = r1.client();
    for (w, n) in acked.iter().enumerate() {
        assert!(*n > 0);
        // The last acknowledged write of each writer is on the new primary (and so are all
        // before it: each writer's writes are applied in order).
        let last: String = q(&mut c, &["GET", &format!("w{w}:{}", n - 1)]);
        assert_eq!(last, (n - 1).to_string());
    }
    let total: i64 = q(&mut c, &["DBSIZE"]);
    assert_eq!(total as u64, acked.iter().sum::<u64>());
    wait_in_sync(&r1, &p);
    wait_in_sync(&p, &r2);
    assert_eq!(digest(&p), digest(&r1));
    assert_eq!(digest(&r1), digest(&r2));
}

#[test]
fn writes_are_held_while_waiting_for_sync_then_answered_readonly() {
    let (p, r1, _r2) = trio(10);
    // The target stops, so the primary waits for it with a write it has not acknowledged.
    r1.pause();
    let _: () = q(&mut p.client(), &["SET", "unacked", "1"]);
    let port = r1.port.to_string();
    let mut admin = p.client();
    assert_eq!(
        failover(&mut admin, &["TO", "127.0.0.1", &port, "TIMEOUT", "60000"]),
        "OK"
    );
    assert_eq!(field(&p, "master_failover_state"), "waiting-for-sync");
    // Reads go on; a write waits.
    let v: String = q(&mut p.client(), &["GET", "unacked"]);
    assert_eq!(v, "1");
    let mut writer = p.client();
    let held = std::thread::spawn(move || {
        let r: redis::RedisResult<()> = redis::cmd("SET").arg("during").arg("1").query(&mut writer);
        r.map_err(|e| format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or("")))
    });
    let counted = wait_for(Duration::from_secs(5), || {
        let info: String = q(&mut admin, &["INFO", "clients"]);
        (info_field(&info, "blocked_clients").as_deref() == Some("1")).then_some(())
    });
    r1.resume();
    assert!(
        counted.is_some(),
        "the held write is not counted as blocked"
    );
    wait_state(&p, "no-failover");
    let answer = held.join().unwrap();
    assert_eq!(
        answer,
        Err("READONLY You can't write against a read only replica.".to_string())
    );
    assert_eq!(role(&r1), "master");
    assert_eq!(role(&p), "slave");
    // The write made before the FAILOVER reached the new primary.
    let v: String = q(&mut r1.client(), &["GET", "unacked"]);
    assert_eq!(v, "1");
    let none: Option<String> = q(&mut r1.client(), &["GET", "during"]);
    assert_eq!(none, None);
}

#[test]
fn failover_without_a_target_picks_a_caught_up_replica() {
    let (p, r1, r2) = trio(50);
    // Only the first replica can catch up.
    r2.pause();
    let _: () = q(&mut p.client(), &["SET", "last", "1"]);
    assert_eq!(failover(&mut p.client(), &[]), "OK");
    wait_state(&p, "no-failover");
    assert_eq!(role(&p), "slave");
    assert_eq!(field(&p, "master_port"), r1.port.to_string());
    assert_eq!(role(&r1), "master");
    r2.resume();
    wait_in_sync(&r1, &p);
    wait_in_sync(&p, &r2);
    let v: String = q(&mut r2.client(), &["GET", "last"]);
    assert_eq!(v, "1");
    assert_eq!(digest(&r1), digest(&r2));
}

#[test]
fn timeout_aborts_when_the_target_never_catches_up() {
    let (p, r1, r2) = trio(20);
    r1.pause();
    let _: () = q(&mut p.client(), &["SET", "case", "1"]);
    let port = r1.port.to_string();
    assert_eq!(
        failover(
            &mut p.client(),
            &["TO", "127.0.0.1", &port, "TIMEOUT", "500"]
        ),
        "OK"
    );
    wait_state(&p, "no-failover");
    r1.resume();
    assert_eq!(role(&p), "master");
    // Writable again, and both replicas still follow it.
    let _: () = q(&mut p.client(), &["SET", "case", "2"]);
    wait_in_sync(&p, &r1);
    wait_in_sync(&p, &r2);
    assert_eq!(role(&r1), "slave");
    assert!(p.log().contains("Replica never caught up before timeout"));
    assert_eq!(digest(&p), digest(&r1));
}

#[test]
fn force_fails_over_after_the_timeout_even_if_the_target_lags() {
    let (p, r1, r2) = trio(20);
    r1.pause();
    let _: () = q(&mut p.client(), &["SET", "case", "force"]);
    let port = r1.port.to_string();
    assert_eq!(
        failover(
            &mut p.client(),
            &["TO", "127.0.0.1", &port, "TIMEOUT", "100", "FORCE"]
        ),
        "OK"
    );
    wait_state(&p, "failover-in-progress");
    // Never two primaries: the old one already follows the target.
    assert_eq!(role(&p), "slave");
    assert_eq!(role(&r2), "slave");
    r1.resume();
    wait_state(&p, "no-failover");
    assert_eq!(role(&r1), "master");
    assert_eq!(role(&p), "slave");
    assert_eq!(field(&p, "master_port"), port);
    wait_in_sync(&r1, &p);
    wait_in_sync(&p, &r2);
    assert!(p.log().contains("time out exceeded, failing over."));
    // Whatever the target had is what everyone has.
    assert_eq!(digest(&p), digest(&r1));
    assert_eq!(digest(&r1), digest(&r2));
    let size: i64 = q(&mut r1.client(), &["DBSIZE"]);
    assert!(size >= 20, "{size}");
}

#[test]
fn abort_in_waiting_for_sync_resumes_writes() {
    let (p, r1, r2) = trio(5);
    r1.pause();
    let _: () = q(&mut p.client(), &["SET", "case", "abort"]);
    let port = r1.port.to_string();
    let mut c = p.client();
    assert_eq!(
        failover(&mut c, &["TO", "127.0.0.1", &port, "TIMEOUT", "60000"]),
        "OK"
    );
    assert_eq!(field(&p, "master_failover_state"), "waiting-for-sync");
    // One failover at a time, and no REPLICAOF meanwhile.
    assert_eq!(
        server_error(&mut c, &["FAILOVER"]),
        "ERR FAILOVER already in progress."
    );
    assert_eq!(
        server_error(&mut c, &["REPLICAOF", "NO", "ONE"]),
        "ERR REPLICAOF not allowed while failing over."
    );
    let v: String = q(&mut c, &["GET", "case"]);
    assert_eq!(v, "abort");
    // CLIENT UNPAUSE lifts only CLIENT PAUSE: a write stays held until the ABORT.
    let _: () = q(&mut c, &["CLIENT", "UNPAUSE"]);
    let mut writer = p.client();
    let held =
        std::thread::spawn(move || -> String { q(&mut writer, &["SET", "case", "written"]) });
    let counted = wait_for(Duration::from_secs(5), || {
        let info: String = q(&mut c, &["INFO", "clients"]);
        (info_field(&info, "blocked_clients").as_deref() == Some("1")).then_some(())
    });
    assert!(counted.is_some(), "the write was not held");
    assert_eq!(failover(&mut c, &["ABORT"]), "OK");
    assert_eq!(held.join().unwrap(), "OK");
    assert_eq!(field(&p, "master_failover_state"), "no-failover");
    r1.resume();
    wait_in_sync(&p, &r1);
    wait_in_sync(&p, &r2);
    assert_eq!(role(&p), "master");
    assert_eq!(
        server_error(&mut c, &["FAILOVER", "ABORT"]),
        "ERR No failover in progress."
    );
}

#[test]
fn abort_in_failover_in_progress_makes_it_a_primary_again() {
    let (p, r1, r2) = trio(5);
    r1.pause();
    let port = r1.port.to_string();
    let mut c = p.client();
    assert_eq!(
        failover(
            &mut c,
            &["TO", "127.0.0.1", &port, "TIMEOUT", "100", "FORCE"]
        ),
        "OK"
    );
    wait_state(&p, "failover-in-progress");
    assert_eq!(role(&p), "slave");
    assert_eq!(failover(&mut c, &["ABORT"]), "OK");
    assert_eq!(field(&p, "master_failover_state"), "no-failover");
    assert_eq!(role(&p), "master");
    let _: () = q(&mut c, &["SET", "case", "after-abort"]);
    r1.resume();
    // Both replicas come back to it (partially: its old id is its second one now).
    wait_in_sync(&p, &r1);
    wait_in_sync(&p, &r2);
    assert_eq!(role(&r1), "slave");
    let v: String = q(&mut r1.client(), &["GET", "case"]);
    assert_eq!(v, "after-abort");
    assert!(p.log().contains("Failover manually aborted"));
}

#[test]
fn target_side_psync_failover_checks() {
    let (p, r1, _r2) = trio(1);
    // Sent to a primary, or to a replica with another replication id, it is refused.
    let replid = field(&p, "master_replid");
    assert_eq!(
        server_error(&mut p.client(), &["PSYNC", &replid, "1", "FAILOVER"]),
        "ERR PSYNC FAILOVER can't be sent to a master."
    );
    assert_eq!(
        server_error(
            &mut r1.client(),
            &[
                "PSYNC",
                "0123456789012345678901234567890123456789",
                "1",
                "FAILOVER"
            ]
        ),
        "ERR PSYNC FAILOVER replid must match my replid."
    );
    assert_eq!(role(&r1), "slave");
}

#[test]
fn errors_are_redis_errors() {
    let p = Node::start(&[]);
    let mut c = p.client();
    assert_eq!(
        server_error(&mut c, &["FAILOVER"]),
        "ERR FAILOVER requires connected replicas."
    );
    assert_eq!(
        server_error(&mut c, &["FAILOVER", "ABORT"]),
        "ERR No failover in progress."
    );
    let r = Node::start(&[]);
    replicate(&r, &p);
    wait_in_sync(&p, &r);
    let port = r.port.to_string();
    let cases: &[(&[&str], &str)] = &[
        (&["FAILOVER", "TO"], "ERR syntax error"),
        (&["FAILOVER", "BOGUS"], "ERR syntax error"),
        (
            &["FAILOVER", "TIMEOUT", "10", "TIMEOUT", "20"],
            "ERR syntax error",
        ),
        (&["FAILOVER", "FORCE", "FORCE"], "ERR syntax error"),
        (&["FAILOVER", "ABORT", "TIMEOUT", "10"], "ERR syntax error"),
        (
            &["FAILOVER", "TIMEOUT", "0"],
            "ERR FAILOVER timeout must be greater than 0",
        ),
        (
            &["FAILOVER", "TIMEOUT", "-5"],
            "ERR FAILOVER timeout must be greater than 0",
        ),
        (
            &["FAILOVER", "TIMEOUT", "soon"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["FAILOVER", "TO", "127.0.0.1", "port"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["FAILOVER", "TO", "127.0.0.1", "1"],
            "ERR FAILOVER target HOST and PORT is not a replica.",
        ),
        (
            &["FAILOVER", "TO", "invalidhost", &port],
            "ERR FAILOVER target HOST and PORT is not a replica.",
        ),
        (
            &["FAILOVER", "TO", "127.0.0.1", &port, "FORCE"],
            "ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
        ),
        (
            &["FAILOVER", "FORCE", "TIMEOUT", "100"],
            "ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
        ),
    ];
    for (args, want) in cases {
        assert_eq!(&server_error(&mut c, args), want, "{args:?}");
    }
    assert_eq!(field(&p, "master_failover_state"), "no-failover");
    assert_eq!(
        server_error(&mut r.client(), &["FAILOVER"]),
        "ERR FAILOVER is not valid when server is a replica."
    );
    // Every refused FAILOVER left writes running.
    let _: () = q(&mut c, &["SET", "still", "writable"]);
}

#[test]
fn refused_in_cluster_mode_and_described_as_redis_does() {
    let n = Node::start(&["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"]);
    let mut c = n.client();
    for args in [&["FAILOVER"][..], &["FAILOVER", "ABORT"]] {
        assert_eq!(
            server_error(&mut c, args),
            "ERR FAILOVER not allowed in cluster mode. Use CLUSTER FAILOVER command instead."
        );
    }
    let info: redis::Value = q(&mut c, &["COMMAND", "INFO", "failover"]);
    let redis::Value::Array(outer) = info else {
        panic!("{info:?}")
    };
    let redis::Value::Array(entry) = &outer[0] else {
        panic!("{outer:?}")
    };
    assert_eq!(entry[1], redis::Value::Int(-1));
    let flags: Vec<String> = redis::from_redis_value(&entry[2]).unwrap();
    assert_eq!(flags, ["admin", "noscript", "stale"]);
    for (i, want) in [(3, 0), (4, 0), (5, 0)] {
        assert_eq!(entry[i], redis::Value::Int(want));
    }
}

/// Reads one RESP array of bulk strings (a command) from a raw connection.
fn read_command(r: &mut impl std::io::BufRead) -> Vec<String> {
    let mut line = String::new();
    r.read_line(&mut line).expect("command header");
    let n: usize = line
        .trim_start_matches('*')
        .trim()
        .parse()
        .expect("array length");
    (0..n)
        .map(|_| {
            let mut len = String::new();
            r.read_line(&mut len).expect("bulk header");
            let mut arg = String::new();
            r.read_line(&mut arg).expect("bulk");
            arg.trim_end().to_string()
        })
        .collect()
}

#[test]
fn failover_aborts_when_the_target_rejects_psync() {
    use std::io::{BufRead, BufReader, Write};
    let p = Node::start(&[]);
    let _: () = q(&mut p.client(), &["SET", "k", "v"]);
    // The test plays a replica: it attaches to the primary, acknowledges its whole stream,
    // and then, as the failover target, refuses the primary's PSYNC.
    let listener = (0..50)
        .find_map(|_| std::net::TcpListener::bind(("127.0.0.1", pick_port())).ok())
        .expect("a free port in the test range");
    let fake_port = listener.local_addr().unwrap().port().to_string();
    let mut link = std::net::TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    link.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut lr = BufReader::new(link.try_clone().unwrap());
    let mut line = String::new();
    link.write_all(&slotcache_proto::command::to_vec(&[
        "REPLCONF",
        "listening-port",
        &fake_port,
    ]))
    .unwrap();
    lr.read_line(&mut line).unwrap();
    assert_eq!(line, "+OK\r\n");
    link.write_all(&slotcache_proto::command::to_vec(&["PSYNC", "?", "-1"]))
        .unwrap();
    line.clear();
    lr.read_line(&mut line).unwrap();
    assert!(line.starts_with("+FULLRESYNC "), "{line}");
    let online = wait_for(Duration::from_secs(10), || {
        field(&p, "slave0").contains("state=online").then_some(())
    });
    assert!(online.is_some());
    let replid = field(&p, "master_replid");
    let offset = field(&p, "master_repl_offset");
    link.write_all(&slotcache_proto::command::to_vec(&[
        "REPLCONF", "ACK", &offset,
    ]))
    .unwrap();
    assert_eq!(
        failover(&mut p.client(), &["TO", "127.0.0.1", &fake_port]),
        "OK"
    );
    let (target, _) = listener.accept().unwrap();
    target.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut tw = target.try_clone().unwrap();
    let mut tr = BufReader::new(target);
    loop {
        let cmd = read_command(&mut tr);
        match cmd[0].to_ascii_uppercase().as_str() {
            "PING" => tw.write_all(b"+PONG\r\n").unwrap(),
            "REPLCONF" => tw.write_all(b"+OK\r\n").unwrap(),
            "PSYNC" => {
                // The primary asks its target to take over from where it stands.
                let next = (offset.parse::<u64>().unwrap() + 1).to_string();
                assert_eq!(cmd, ["PSYNC", replid.as_str(), next.as_str(), "FAILOVER"]);
                assert_eq!(field(&p, "master_failover_state"), "failover-in-progress");
                tw.write_all(b"-ERR refused\r\n").unwrap();
                break;
            }
            other => panic!("unexpected {other}"),
        }
    }
    wait_state(&p, "no-failover");
    assert_eq!(role(&p), "master");
    assert!(p.log().contains("Failover target rejected psync request"));
    let _: () = q(&mut p.client(), &["SET", "k", "again"]);
    // Its replication id changed, so its replicas were disconnected to learn it.
    assert_ne!(field(&p, "master_replid"), replid);
    assert_eq!(field(&p, "master_replid2"), replid);
}
