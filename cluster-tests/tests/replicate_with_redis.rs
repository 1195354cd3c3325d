//! Replication between slotcache and redis-server 7.0 in both directions (standalone nodes):
//! slotcache as a replica of redis-server (full sync from its RDB, disk-based and diskless,
//! then its command stream under a write load, partial resync after a killed link, WAIT
//! counting slotcache, FAILOVER handing over to slotcache) and redis-server as a replica of
//! slotcache (an RDB full sync, the stream, partial resync, FAILOVER back). DEBUG DIGEST is
//! compared at every step: the two servers compute it the same way (`digest_redis.rs`).
//! Skips, saying so, where redis-server is not installed.

use cluster_tests::reference::RedisServer;
use cluster_tests::typed_data::{every_type, load};
use cluster_tests::{info_field, q, wait_for, Node};
use redis::Connection;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Options for a redis-server primary that starts a diskless transfer at once (7.0 waits
/// 5 s for more replicas by default).
const DISKLESS_NOW: &[&str] = &["--repl-diskless-sync-delay", "0"];

fn connect(port: u16) -> Connection {
    let c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(5)))
        .unwrap_or_else(|e| panic!("connect to {port}: {e}"));
    c.set_read_timeout(Some(Duration::from_secs(10))).ok();
    c
}

fn info(c: &mut Connection, section: &str) -> String {
    q(c, &["INFO", section])
}

fn field(c: &mut Connection, section: &str, name: &str) -> String {
    info_field(&info(c, section), name).unwrap_or_default()
}

/// Waits (bounded) until the replica on `c` has its link up.
fn wait_link_up(c: &mut Connection, what: &str) {
    let up = wait_for(Duration::from_secs(15), || {
        (field(c, "replication", "master_link_status") == "up").then_some(())
    });
    assert!(
        up.is_some(),
        "{what}: link never came up: {}",
        info(c, "replication")
    );
}

/// Waits (bounded) until both datasets give the same DEBUG DIGEST; returns it.
fn same_digest(a: &mut Connection, b: &mut Connection, step: &str) -> String {
    let mut last = (String::new(), String::new());
    let same = wait_for(Duration::from_secs(10), || {
        let da: String = q(a, &["DEBUG", "DIGEST"]);
        let db: String = q(b, &["DEBUG", "DIGEST"]);
        last = (da.clone(), db.clone());
        (da == db).then_some(da)
    });
    same.unwrap_or_else(|| panic!("{step}: digests differ: {} vs {}", last.0, last.1))
}

/// A client writing to a primary in a loop, in several databases, with the commands whose
/// replicated form differs from what was sent (SET EX, EXPIRE, INCRBYFLOAT, SPOP, EVAL,
/// MULTI/EXEC). Stopped (and joined) on drop, so a failing test leaves no thread behind.
struct Writer {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    fn start(port: u16) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let (s, d) = (stop.clone(), done.clone());
        let thread = std::thread::spawn(move || {
            let mut c = connect(port);
            // Bounded even if nobody stops it.
            for i in 0..200_000u64 {
                if s.load(Ordering::Relaxed) {
                    break;
                }
                let n = i.to_string();
                let k = format!("w:{}", i % 300);
                let db = ["0", "0", "2"][(i % 3) as usize];
                let mut p = redis::pipe();
                p.cmd("SELECT").arg(db).ignore();
                p.cmd("SET").arg(&k).arg(&n).arg("EX").arg(10_000).ignore();
                p.cmd("INCRBYFLOAT").arg("w:float").arg("1.5").ignore();
                p.cmd("HSET")
                    .arg(format!("w:h{}", i % 20))
                    .arg(format!("f{}", i % 7))
                    .arg(&n)
                    .ignore();
                p.cmd("ZADD")
                    .arg("w:z")
                    .arg(i % 97)
                    .arg(format!("m{}", i % 50))
                    .ignore();
                p.cmd("SADD")
                    .arg("w:s")
                    .arg(format!("m{}", i % 40))
                    .ignore();
                if i % 5 == 0 {
                    p.cmd("SPOP").arg("w:s").ignore();
                    p.cmd("PEXPIRE")
                        .arg(format!("w:h{}", i % 20))
                        .arg(5_000_000)
                        .ignore();
                }
                if i % 7 == 0 {
                    p.cmd("EVAL")
                        .arg("redis.call('RPUSH', KEYS[1], ARGV[1]); return redis.call('LTRIM', KEYS[1], -50, -1)")
                        .arg(1)
                        .arg("w:l")
                        .arg(&n)
                        .ignore();
                    p.atomic();
                }
                if i % 11 == 0 {
                    p.cmd("DEL").arg(format!("w:{}", (i + 7) % 300)).ignore();
                }
                if p.query::<()>(&mut c).is_err() {
                    // A failover turns the primary read-only: the writer is done.
                    break;
                }
                d.fetch_add(1, Ordering::Relaxed);
            }
        });
        Writer {
            stop,
            done,
            thread: Some(thread),
        }
    }

    /// Waits (bounded) until at least `n` more batches were written.
    fn wait_progress(&self, n: u64) {
        let from = self.done.load(Ordering::Relaxed);
        let moved = wait_for(Duration::from_secs(10), || {
            (self.done.load(Ordering::Relaxed) >= from + n).then_some(())
        });
        assert!(moved.is_some(), "the writer made no progress");
    }

    fn stop(mut self) -> u64 {
        self.halt();
        self.done.load(Ordering::Relaxed)
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Every type in each encoding, in three databases, plus some volume.
fn seed(c: &mut Connection) {
    for db in ["0", "3", "15"] {
        let _: () = q(c, &["SELECT", db]);
        load(c, &every_type(&format!("db{db}:")).0);
    }
    let _: () = q(c, &["SELECT", "0"]);
    let _: () = q(c, &["DEBUG", "POPULATE", "20000", "pop", "32"]);
}

fn replicaof(c: &mut Connection, port: u16) {
    let _: () = q(c, &["REPLICAOF", "127.0.0.1", &port.to_string()]);
}

fn stat(c: &mut Connection, name: &str) -> u64 {
    field(c, "stats", name).parse().unwrap_or(0)
}

/// slotcache follows a redis-server primary whose transfer is `framing`'s: loads the RDB,
/// applies the stream under writes, is counted by WAIT, and after its link is killed
/// continues partially. Returns the primary and the replica.
fn follow_redis_under_load(extra: &[&str]) -> Option<(RedisServer, Node)> {
    let redis = RedisServer::start(extra)?;
    let mut primary = redis.client();
    seed(&mut primary);
    let node = Node::start(&[]);
    let mut replica = node.client();
    let writer = Writer::start(redis.port);
    writer.wait_progress(50);
    replicaof(&mut replica, redis.port);
    wait_link_up(&mut replica, "slotcache replica of redis-server");
    writer.wait_progress(200);
    writer.stop();
    // WAIT on the Redis primary counts slotcache's acknowledgement.
    let acked: i64 = q(&mut primary, &["WAIT", "1", "5000"]);
    assert_eq!(acked, 1, "WAIT on redis-server must count slotcache");
    same_digest(&mut primary, &mut replica, "after the full sync");
    assert_eq!(stat(&mut primary, "sync_full"), 1);
    let offset = field(&mut primary, "replication", "master_repl_offset");
    let ours = wait_for(Duration::from_secs(5), || {
        let o = field(&mut replica, "replication", "master_repl_offset");
        (o == offset).then_some(o)
    });
    assert!(
        ours.is_some(),
        "slotcache's offset must reach redis-server's {offset}"
    );

    // A killed link, writes meanwhile: the replica continues from its offset.
    resumes_partially_after_a_killed_link(&mut primary, &mut replica, redis.port);
    Some((redis, node))
}

#[test]
fn slotcache_replicates_redis_diskless_and_fails_over_to_slotcache() {
    let Some((redis, node)) = follow_redis_under_load(DISKLESS_NOW) else {
        return;
    };
    let mut primary = redis.client();
    let mut replica = node.client();
    // FAILOVER on redis-server hands over to slotcache with writes going on: redis-server
    // holds them, waits for slotcache's offset, then asks it to take over (PSYNC ...
    // FAILOVER) and follows it.
    let writer = Writer::start(redis.port);
    writer.wait_progress(50);
    let _: () = q(
        &mut primary,
        &[
            "FAILOVER",
            "TO",
            "127.0.0.1",
            &node.port.to_string(),
            "TIMEOUT",
            "5000",
        ],
    );
    let switched = wait_for(Duration::from_secs(10), || {
        let r = info(&mut primary, "replication");
        (info_field(&r, "role").as_deref() == Some("slave")
            && info_field(&r, "master_link_status").as_deref() == Some("up")
            && info_field(&r, "master_failover_state").as_deref() == Some("no-failover"))
        .then_some(())
    });
    assert!(switched.is_some(), "{}", info(&mut primary, "replication"));
    writer.stop();
    assert_eq!(field(&mut replica, "replication", "role"), "master");
    // redis-server continued from slotcache partially: no full sync was served.
    assert_eq!(stat(&mut replica, "sync_full"), 0);
    same_digest(&mut primary, &mut replica, "after FAILOVER");
    // slotcache takes writes and redis-server follows them.
    let writer = Writer::start(node.port);
    writer.wait_progress(100);
    writer.stop();
    let acked: i64 = q(&mut replica, &["WAIT", "1", "5000"]);
    assert_eq!(acked, 1);
    same_digest(
        &mut primary,
        &mut replica,
        "writes on slotcache after FAILOVER",
    );
}

#[test]
fn slotcache_replicates_redis_disk_based_then_replicaof_no_one() {
    let Some((redis, node)) = follow_redis_under_load(&["--repl-diskless-sync", "no"]) else {
        return;
    };
    let mut primary = redis.client();
    let mut replica = node.client();
    let digest = same_digest(&mut primary, &mut replica, "before the switch");
    // The other switch: stop writing to redis-server, promote slotcache.
    let _: () = q(&mut replica, &["REPLICAOF", "NO", "ONE"]);
    assert_eq!(field(&mut replica, "replication", "role"), "master");
    let now: String = q(&mut replica, &["DEBUG", "DIGEST"]);
    assert_eq!(now, digest, "promotion keeps the dataset");
    let _: () = q(&mut replica, &["SET", "after:promotion", "1"]);
}

#[test]
fn redis_replicates_slotcache_and_takes_over_by_failover() {
    if !RedisServer::installed() {
        eprintln!("SKIPPED: redis-server is not installed");
        return;
    }
    let node = Node::start(&[]);
    let mut primary = node.client();
    seed(&mut primary);
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let mut replica = redis.client();
    let writer = Writer::start(node.port);
    writer.wait_progress(50);
    replicaof(&mut replica, node.port);
    wait_link_up(&mut replica, "redis-server replica of slotcache");
    writer.wait_progress(200);
    writer.stop();
    let acked: i64 = q(&mut primary, &["WAIT", "1", "5000"]);
    assert_eq!(acked, 1, "WAIT on slotcache must count redis-server");
    same_digest(&mut primary, &mut replica, "after the RDB full sync");
    assert_eq!(stat(&mut primary, "sync_full"), 1);
    assert_eq!(
        field(&mut replica, "replication", "master_repl_offset"),
        field(&mut primary, "replication", "master_repl_offset")
    );

    // A killed link: redis-server continues partially from slotcache's backlog.
    resumes_partially_after_a_killed_link(&mut primary, &mut replica, node.port);

    // slotcache's FAILOVER hands over to redis-server, which then serves slotcache.
    let _: () = q(
        &mut primary,
        &[
            "FAILOVER",
            "TO",
            "127.0.0.1",
            &redis.port.to_string(),
            "TIMEOUT",
            "5000",
        ],
    );
    let switched = wait_for(Duration::from_secs(10), || {
        let r = info(&mut primary, "replication");
        (info_field(&r, "role").as_deref() == Some("slave")
            && info_field(&r, "master_link_status").as_deref() == Some("up"))
        .then_some(())
    });
    assert!(switched.is_some(), "{}", info(&mut primary, "replication"));
    assert_eq!(field(&mut replica, "replication", "role"), "master");
    let _: () = q(&mut replica, &["SET", "written:on:redis", "1"]);
    let acked: i64 = q(&mut replica, &["WAIT", "1", "5000"]);
    assert_eq!(acked, 1);
    same_digest(&mut primary, &mut replica, "after FAILOVER to redis-server");
}

#[test]
fn slotcache_replica_of_redis_serves_a_redis_replica_of_its_own() {
    // A chain redis-server -> slotcache -> redis-server: slotcache passes the stream on
    // and serves its replica an RDB made from what it loaded.
    let Some(top) = RedisServer::start(DISKLESS_NOW) else {
        return;
    };
    let mut a = top.client();
    seed(&mut a);
    let node = Node::start(&[]);
    let mut b = node.client();
    replicaof(&mut b, top.port);
    wait_link_up(&mut b, "slotcache replica of redis-server");
    let Some(bottom) = RedisServer::start(&[]) else {
        return;
    };
    let mut c = bottom.client();
    let writer = Writer::start(top.port);
    writer.wait_progress(50);
    replicaof(&mut c, node.port);
    wait_link_up(&mut c, "redis-server replica of the slotcache replica");
    writer.wait_progress(100);
    writer.stop();
    let acked: i64 = q(&mut a, &["WAIT", "1", "5000"]);
    assert_eq!(acked, 1);
    let top_digest = same_digest(&mut a, &mut b, "middle of the chain");
    let bottom_digest = same_digest(&mut b, &mut c, "end of the chain");
    assert_eq!(top_digest, bottom_digest);
}

/// A fake Redis primary on a port of the test range: answers the handshake, then sends
/// `transfer` after `+FULLRESYNC` and keeps the link open until the replica hangs up (or
/// 10 s pass). Returns the port and how many PSYNCs it saw.
fn fake_primary(transfer: Vec<u8>) -> (u16, Arc<AtomicU64>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let (listener, port) = (0..50)
        .find_map(|_| {
            let p = cluster_tests::free_port()?;
            Some((std::net::TcpListener::bind(("127.0.0.1", p)).ok()?, p))
        })
        .expect("a free port for the fake primary");
    listener.set_nonblocking(true).ok();
    let psyncs = Arc::new(AtomicU64::new(0));
    let seen = psyncs.clone();
    std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            let Ok((s, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            s.set_nonblocking(false).ok();
            s.set_read_timeout(Some(Duration::from_secs(2))).ok();
            let mut w = s.try_clone().expect("clone");
            let mut r = BufReader::new(s);
            // Each request is a RESP array; answer by its first argument.
            let mut line = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 || !line.starts_with('*') {
                    break;
                }
                let argc: usize = line[1..].trim().parse().unwrap_or(0);
                let mut args = Vec::new();
                for _ in 0..argc.min(16) {
                    line.clear();
                    let _ = r.read_line(&mut line);
                    let n: usize = line[1..].trim().parse().unwrap_or(0).min(1024);
                    let mut b = vec![0u8; n + 2];
                    if r.read_exact(&mut b).is_err() {
                        break;
                    }
                    args.push(String::from_utf8_lossy(&b[..n]).to_uppercase());
                }
                match args.first().map(String::as_str) {
                    Some("PING") => w.write_all(b"+PONG\r\n").ok(),
                    Some("PSYNC") => {
                        seen.fetch_add(1, Ordering::Relaxed);
                        let head = format!("+FULLRESYNC {} 0\r\n", "a".repeat(40));
                        let _ = w.write_all(head.as_bytes());
                        let _ = w.write_all(&transfer);
                        // Wait for the replica to give up on what it was sent.
                        let mut sink = [0u8; 1024];
                        while matches!(r.read(&mut sink), Ok(n) if n > 0) {}
                        break;
                    }
                    _ => w.write_all(b"+OK\r\n").ok(),
                };
            }
        }
    });
    (port, psyncs)
}

#[test]
fn a_primary_sending_a_bad_rdb_neither_crashes_nor_fills_the_replica() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let _: () = q(&mut c, &["SET", "before", "1"]);
    let mut bad_file = b"REDIS0010".to_vec();
    // A string key whose length claims far more than follows, then garbage.
    bad_file.extend_from_slice(&[0x00, 0x01, b'k', 0x80, 0x7f, 0xff, 0xff, 0xff]);
    bad_file.extend_from_slice(&[0xAB; 64]);
    let transfers = [
        // Disk-based framing, then a file that is not what it claims.
        [
            format!("${}\r\n", bad_file.len()).into_bytes(),
            bad_file.clone(),
        ]
        .concat(),
        // A length of a terabyte: nothing is sized by it.
        b"$1099511627776\r\nREDIS0010\xfe\x00".to_vec(),
        // Diskless framing with a mark that is not 40 bytes.
        b"$EOF:short\r\n".to_vec(),
        // Not a transfer at all.
        b"+what\r\n".to_vec(),
    ];
    for transfer in transfers {
        let (port, psyncs) = fake_primary(transfer);
        replicaof(&mut c, port);
        let tried = wait_for(Duration::from_secs(10), || {
            (psyncs.load(Ordering::Relaxed) >= 2).then_some(())
        });
        assert!(
            tried.is_some(),
            "the replica must retry after a bad transfer"
        );
        assert_ne!(field(&mut c, "replication", "master_link_status"), "up");
        let _: () = q(&mut c, &["REPLICAOF", "NO", "ONE"]);
        let pong: String = q(&mut c, &["PING"]);
        assert_eq!(pong, "PONG");
        // The full sync emptied the dataset before the file turned out bad, and nothing of
        // the bad file was kept.
        let n: i64 = q(&mut c, &["DBSIZE"]);
        assert_eq!(n, 0);
    }
}

#[test]
fn redis_cli_rdb_takes_a_file_redis_server_loads() {
    // `redis-cli --rdb` asks with SYNC, as the oldest replicas did: the answer is an RDB
    // file, which redis-server then starts from with the same digest.
    if !RedisServer::installed() {
        eprintln!("SKIPPED: redis-server is not installed");
        return;
    }
    let node = Node::start(&[]);
    let mut c = node.client();
    seed(&mut c);
    let digest: String = q(&mut c, &["DEBUG", "DIGEST"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("from-slotcache.rdb");
    let (ok, out) = cluster_tests::run_tool(
        "redis-cli",
        &[
            "-p",
            &node.port.to_string(),
            "--rdb",
            file.to_str().expect("utf-8 path"),
        ],
        None,
    );
    assert!(ok, "redis-cli --rdb failed: {out}");
    let dir_arg = dir.path().to_str().expect("utf-8 path");
    let Some(redis) = RedisServer::start(&["--dir", dir_arg, "--dbfilename", "from-slotcache.rdb"])
    else {
        return;
    };
    let theirs: String = q(&mut redis.client(), &["DEBUG", "DIGEST"]);
    assert_eq!(theirs, digest);
}

#[test]
fn slotcache_waits_through_a_redis_bgsave_already_running() {
    // A disk-based primary busy with a BGSAVE makes a new replica wait for the next one,
    // sending a newline every second before its +FULLRESYNC.
    let Some(redis) = RedisServer::start(&["--repl-diskless-sync", "no"]) else {
        return;
    };
    let mut primary = redis.client();
    seed(&mut primary);
    // About two seconds of BGSAVE (the child keeps the delay it forked with).
    let _: () = q(
        &mut primary,
        &["CONFIG", "SET", "rdb-key-save-delay", "100"],
    );
    let _: String = q(&mut primary, &["BGSAVE"]);
    let _: () = q(&mut primary, &["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    let node = Node::start(&[]);
    let mut replica = node.client();
    replicaof(&mut replica, redis.port);
    let waiting = wait_for(Duration::from_secs(5), || {
        let r = info(&mut primary, "replication");
        r.contains("state=wait_bgsave").then_some(())
    });
    assert!(waiting.is_some(), "{}", info(&mut primary, "replication"));
    wait_link_up(&mut replica, "after the primary's BGSAVE");
    same_digest(&mut primary, &mut replica, "after waiting for the BGSAVE");
}

#[test]
fn a_redis_replica_waits_for_a_running_bgsave_and_info_says_so() {
    // slotcache writes one background snapshot at a time: a redis-server replica arriving
    // during a BGSAVE waits for it to end (INFO: state=wait_bgsave, newlines keep its link
    // alive), then gets a snapshot of its own.
    if !RedisServer::installed() {
        eprintln!("SKIPPED: redis-server is not installed");
        return;
    }
    let node = Node::start(&[]);
    let mut primary = node.client();
    // Enough keys that the BGSAVE outlasts the replica's handshake by far.
    let _: () = q(&mut primary, &["DEBUG", "POPULATE", "1000000", "big", "16"]);
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let mut replica = redis.client();
    let _: String = q(&mut primary, &["BGSAVE"]);
    assert_eq!(
        field(&mut primary, "persistence", "rdb_bgsave_in_progress"),
        "1"
    );
    replicaof(&mut replica, node.port);
    let waiting = wait_for(Duration::from_secs(5), || {
        let r = info(&mut primary, "replication");
        (r.contains("state=wait_bgsave")
            && info_field(&r, "connected_slaves").as_deref() == Some("1"))
        .then_some(())
    });
    assert!(waiting.is_some(), "{}", info(&mut primary, "replication"));
    wait_link_up(&mut replica, "after slotcache's BGSAVE");
    let online = wait_for(Duration::from_secs(5), || {
        info(&mut primary, "replication")
            .contains("state=online")
            .then_some(())
    });
    assert!(online.is_some(), "{}", info(&mut primary, "replication"));
    same_digest(&mut primary, &mut replica, "after waiting for the BGSAVE");
}

/// Kills the replica's link while a writer runs against `write_port`: the replica must come
/// back by a partial resync (the primary's only full sync stays the first), catch up (WAIT 1),
/// and hold the primary's data.
fn resumes_partially_after_a_killed_link(
    primary: &mut Connection,
    replica: &mut Connection,
    write_port: u16,
) {
    let writer = Writer::start(write_port);
    writer.wait_progress(50);
    let killed: i64 = q(primary, &["CLIENT", "KILL", "TYPE", "replica"]);
    assert_eq!(killed, 1);
    writer.wait_progress(100);
    let resumed = wait_for(Duration::from_secs(10), || {
        (stat(primary, "sync_partial_ok") == 1).then_some(())
    });
    assert!(
        resumed.is_some(),
        "no partial resync: {}",
        info(primary, "stats")
    );
    wait_link_up(replica, "after the killed link");
    writer.wait_progress(100);
    writer.stop();
    let acked: i64 = q(primary, &["WAIT", "1", "5000"]);
    assert_eq!(acked, 1);
    same_digest(primary, replica, "after the partial resync");
    assert_eq!(stat(primary, "sync_full"), 1, "the resync must not be full");
}
