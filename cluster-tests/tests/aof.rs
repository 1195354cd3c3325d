//! Append-only file persistence (Redis 7.0's multi-part AOF): a node with `appendonly yes`
//! comes back from SIGKILL with every type, streams with their groups and TTLs; BGREWRITEAOF
//! swaps in a new BASE and INCR; `CONFIG SET appendonly yes` turns AOF on with a rewrite;
//! DEBUG LOADAOF reloads; `appendfsync always` loses no acknowledged write; a truncated tail
//! loads per `aof-load-truncated`, and garbage stops the node with Redis's message; Debian's
//! redis-server 7.0.15 loads slotcache's AOF directory and slotcache loads redis-server's.
//! Comparisons with redis-server skip, saying so, where it is not installed.

use cluster_tests::reference::RedisServer;
use cluster_tests::typed_data::{every_type, load};
use cluster_tests::{info_field, q, server_error, wait_for, Node};
use redis::Connection;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn digest(c: &mut Connection) -> String {
    q(c, &["DEBUG", "DIGEST"])
}

fn persistence(c: &mut Connection, field: &str) -> String {
    let info: String = q(c, &["INFO", "persistence"]);
    info_field(&info, field).unwrap_or_default()
}

/// Waits until `aof_rewrites` reaches `n` and no rewrite runs.
fn wait_rewrites(c: &mut Connection, n: u64) {
    let done = wait_for(Duration::from_secs(30), || {
        let rewrites: u64 = persistence(c, "aof_rewrites").parse().ok()?;
        (rewrites >= n && persistence(c, "aof_rewrite_in_progress") == "0").then_some(())
    });
    assert!(done.is_some(), "AOF rewrite {n} did not finish within 30 s");
}

fn aof_dir(node: &Node) -> PathBuf {
    node.dir.path().join("appendonlydir")
}

fn manifest(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("appendonly.aof.manifest")).unwrap_or_default()
}

/// The INCR file the manifest lists last.
fn last_incr(dir: &Path) -> PathBuf {
    let m = manifest(dir);
    let name = m
        .lines()
        .rfind(|l| l.ends_with("type i"))
        .and_then(|l| l.split_whitespace().nth(1))
        .expect("an INCR file in the manifest")
        .to_string();
    dir.join(name)
}

/// Every type in every encoding in two databases, a stream with a consumer group and a
/// pending entry, keys with TTLs, a MULTI/EXEC, and a function library.
fn fill(c: &mut Connection) {
    for db in ["0", "3"] {
        let (cmds, _) = every_type(&format!("db{db}:"));
        let _: () = q(c, &["SELECT", db]);
        load(c, &cmds);
    }
    let _: () = q(c, &["SELECT", "0"]);
    let _: () = q(c, &["SET", "ttl", "v", "EX", "10000"]);
    let _: () = q(c, &["SET", "pttl", "v"]);
    let _: i64 = q(c, &["PEXPIRE", "pttl", "50000000"]);
    let _: String = q(c, &["XADD", "st", "1-1", "f", "v"]);
    let _: String = q(c, &["XADD", "st", "2-1", "g", "w"]);
    let _: () = q(c, &["XGROUP", "CREATE", "st", "grp", "0"]);
    let _: redis::Value = q(
        c,
        &[
            "XREADGROUP",
            "GROUP",
            "grp",
            "alice",
            "COUNT",
            "1",
            "STREAMS",
            "st",
            ">",
        ],
    );
    let _: redis::Value = redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg("tx")
        .cmd("LPUSH")
        .arg("txl")
        .arg("a")
        .query(c)
        .expect("MULTI/EXEC");
    let _: String = q(
        c,
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=aoflib\nredis.register_function('aoff', function() return 7 end)",
        ],
    );
}

#[test]
fn sigkill_restart_recovers_everything_and_bgrewriteaof_swaps_base_and_incr() {
    let mut node = Node::start(&["--appendonly", "yes"]);
    let dir = aof_dir(&node);
    assert_eq!(
        manifest(&dir),
        "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n",
        "a fresh AOF gets a BASE at once, as Redis 7.0 creates one"
    );
    let mut c = node.client();
    assert_eq!(persistence(&mut c, "aof_enabled"), "1");
    fill(&mut c);
    let want = digest(&mut c);
    // SIGKILL: everything acknowledged was written (everysec syncs later, but the bytes are
    // in the file before the reply).
    node.restart().expect("restart after SIGKILL");
    let mut c = node.client();
    assert_eq!(digest(&mut c), want);
    let ttl: i64 = q(&mut c, &["TTL", "ttl"]);
    assert!(ttl > 9000 && ttl <= 10000, "TTL kept: {ttl}");
    let pending: Vec<redis::Value> = q(&mut c, &["XPENDING", "st", "grp", "-", "+", "10"]);
    assert_eq!(pending.len(), 1, "the consumer group's pending entry");
    let f: i64 = q(&mut c, &["FCALL", "aoff", "0"]);
    assert_eq!(f, 7);

    let started: String = q(&mut c, &["BGREWRITEAOF"]);
    assert_eq!(started, "Background append only file rewriting started");
    wait_rewrites(&mut c, 1);
    assert_eq!(persistence(&mut c, "aof_last_bgrewrite_status"), "ok");
    let _: () = q(&mut c, &["SET", "after-rewrite", "1"]);
    assert_eq!(
        manifest(&dir),
        "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
    );
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("aof dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "appendonly.aof.2.base.rdb",
            "appendonly.aof.2.incr.aof",
            "appendonly.aof.manifest"
        ],
        "the replaced files are removed"
    );
    let want = digest(&mut c);
    node.restart().expect("restart after the rewrite");
    let mut c = node.client();
    assert_eq!(digest(&mut c), want);

    // A BGSAVE running holds the rewrite back (scheduled), and the reverse is refused.
    let _: () = q(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "10000"]);
    let _: String = q(&mut c, &["BGSAVE"]);
    let r: String = q(&mut c, &["BGREWRITEAOF"]);
    assert_eq!(r, "Background append only file rewriting scheduled");
    assert_eq!(persistence(&mut c, "aof_rewrite_scheduled"), "1");
    let _: () = q(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    // (The counters started again with the restart.)
    wait_rewrites(&mut c, 1);
    let _: () = q(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "10000"]);
    let _: String = q(&mut c, &["BGREWRITEAOF"]);
    assert_eq!(
        server_error(&mut c, &["BGREWRITEAOF"]),
        "ERR Background append only file rewriting already in progress"
    );
    assert_eq!(
        server_error(&mut c, &["BGSAVE"]),
        "ERR An AOF log rewriting in progress: can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible."
    );
    let s: String = q(&mut c, &["BGSAVE", "SCHEDULE"]);
    assert_eq!(s, "Background saving scheduled");
    let _: () = q(&mut c, &["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    wait_rewrites(&mut c, 2);
}

#[test]
fn config_set_appendonly_at_runtime_then_debug_loadaof_in_both_base_formats() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let dir = aof_dir(&node);
    fill(&mut c);
    assert_eq!(persistence(&mut c, "aof_enabled"), "0");
    let _: () = q(&mut c, &["CONFIG", "SET", "appendonly", "yes"]);
    assert_eq!(persistence(&mut c, "aof_enabled"), "1");
    wait_rewrites(&mut c, 1);
    // Growth past auto-aof-rewrite-percentage (and above the minimum size) rewrites on its own.
    let _: () = q(
        &mut c,
        &[
            "CONFIG",
            "SET",
            "auto-aof-rewrite-min-size",
            "1kb",
            "auto-aof-rewrite-percentage",
            "100",
        ],
    );
    let value = "v".repeat(100);
    let mut p = redis::pipe();
    for i in 0..500 {
        p.cmd("SET").arg(format!("auto:{i}")).arg(&value).ignore();
    }
    p.query::<()>(&mut c).expect("pipeline");
    wait_rewrites(&mut c, 2);
    let _: () = q(
        &mut c,
        &["CONFIG", "SET", "auto-aof-rewrite-percentage", "0"],
    );
    let _: () = q(&mut c, &["SET", "while-on", "1"]);
    let _: i64 = q(&mut c, &["DEL", "db0:str:int"]);
    let want = digest(&mut c);
    let _: () = q(&mut c, &["DEBUG", "LOADAOF"]);
    assert_eq!(digest(&mut c), want);
    let f: i64 = q(&mut c, &["FCALL", "aoff", "0"]);
    assert_eq!(f, 7, "the library came back from the BASE");

    // A BASE of commands (aof-use-rdb-preamble no) loads equally.
    let _: () = q(&mut c, &["CONFIG", "SET", "aof-use-rdb-preamble", "no"]);
    let _: String = q(&mut c, &["BGREWRITEAOF"]);
    wait_rewrites(&mut c, 3);
    assert!(
        manifest(&dir).starts_with("file appendonly.aof.3.base.aof seq 3 type b\n"),
        "{}",
        manifest(&dir)
    );
    let _: () = q(&mut c, &["SET", "after", "2"]);
    let want = digest(&mut c);
    let _: () = q(&mut c, &["DEBUG", "LOADAOF"]);
    assert_eq!(digest(&mut c), want);

    let _: () = q(&mut c, &["CONFIG", "SET", "appendonly", "no"]);
    assert_eq!(persistence(&mut c, "aof_enabled"), "0");
    let size = std::fs::metadata(last_incr(&dir)).expect("incr").len();
    let _: () = q(&mut c, &["SET", "not-appended", "1"]);
    assert_eq!(
        std::fs::metadata(last_incr(&dir)).expect("incr").len(),
        size,
        "nothing is appended once AOF is off"
    );
}

#[test]
fn appendfsync_always_keeps_every_acknowledged_write_across_sigkill() {
    let mut node = Node::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let mut c = node.client();
            std::thread::spawn(move || {
                for batch in 0..10 {
                    let mut p = redis::pipe();
                    for i in 0..50 {
                        p.cmd("SET")
                            .arg(format!("k:{w}:{batch}:{i}"))
                            .arg(i)
                            .ignore();
                    }
                    p.query::<()>(&mut c).expect("pipeline");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    let mut c = node.client();
    assert_eq!(persistence(&mut c, "aof_last_write_status"), "ok");
    node.restart().expect("restart after SIGKILL");
    let mut c = node.client();
    let n: i64 = q(&mut c, &["DBSIZE"]);
    assert_eq!(n, 4 * 10 * 50);
}

#[test]
fn truncated_tail_loads_per_aof_load_truncated_and_garbage_stops_the_node() {
    let mut node = Node::start(&["--appendonly", "yes"]);
    let dir = aof_dir(&node);
    let mut c = node.client();
    for i in 0..20 {
        let _: () = q(&mut c, &["SET", &format!("k{i}"), "v"]);
    }
    drop(c);
    node.kill();
    let incr = last_incr(&dir);
    let whole = std::fs::metadata(&incr).expect("incr").len();
    let append = |bytes: &[u8]| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&incr)
            .expect("open incr");
        f.write_all(bytes).expect("append");
    };
    // A write cut short by a crash: loaded up to the last whole command, file cut back.
    append(b"*3\r\n$3\r\nSET\r\n$2\r\nkx\r\n$5\r\nva");
    node.restart().expect("loads a truncated tail by default");
    let mut c = node.client();
    let n: i64 = q(&mut c, &["DBSIZE"]);
    assert_eq!(n, 20);
    assert!(node
        .log()
        .contains("loaded anyway because aof-load-truncated is enabled"));
    assert_eq!(
        std::fs::metadata(&incr).expect("incr").len(),
        whole,
        "cut back"
    );
    drop(c);
    node.kill();

    // The same with aof-load-truncated no: the node refuses to start.
    append(b"*1\r\n$4\r\nPI");
    let dir_arg = node.dir.path().display().to_string();
    let refused = Node::try_start(&[
        "--appendonly",
        "yes",
        "--aof-load-truncated",
        "no",
        "--dir",
        &dir_arg,
    ])
    .err()
    .expect("a truncated AOF with aof-load-truncated no stops the node");
    assert!(
        refused.contains("Unexpected end of file reading the append only file"),
        "{refused}"
    );

    // Garbage in the middle is a format error, whatever aof-load-truncated says.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&incr)
        .and_then(|f| f.set_len(whole))
        .expect("cut");
    append(b"garbage\r\n*1\r\n$4\r\nPING\r\n");
    let refused = Node::try_start(&["--appendonly", "yes", "--dir", &dir_arg])
        .err()
        .expect("garbage stops the node");
    assert!(
        refused.contains("Bad file format reading the append only file"),
        "{refused}"
    );

    // A bad manifest too, with Redis's message.
    std::fs::write(dir.join("appendonly.aof.manifest"), "file x seq 1 type z\n").expect("write");
    let refused = Node::try_start(&["--appendonly", "yes", "--dir", &dir_arg])
        .err()
        .expect("a bad manifest stops the node");
    assert!(refused.contains("Unknown AOF file type"), "{refused}");
}

#[test]
fn redis_server_loads_slotcache_aof_and_slotcache_loads_redis_server_aof() {
    if !RedisServer::installed() {
        eprintln!("SKIPPED: redis-server is not installed; no side-by-side comparison");
        return;
    }
    let mut node = Node::start(&["--appendonly", "yes"]);
    let mut c = node.client();
    fill(&mut c);
    let _: String = q(&mut c, &["BGREWRITEAOF"]);
    wait_rewrites(&mut c, 1);
    let _: () = q(&mut c, &["SET", "in-incr", "1"]);
    let _: () = q(&mut c, &["SET", "ttl-in-incr", "1", "EX", "5000"]);
    let want = digest(&mut c);
    drop(c);
    node.terminate();
    let dir = node.dir.path().display().to_string();
    let redis = RedisServer::start(&["--appendonly", "yes", "--dir", &dir])
        .expect("redis-server is installed");
    let mut r = redis.client();
    assert_eq!(digest(&mut r), want, "redis-server loaded slotcache's AOF");
    let f: i64 = q(&mut r, &["FCALL", "aoff", "0"]);
    assert_eq!(f, 7);
    // redis-server appends and rewrites in the same directory; slotcache loads that.
    let _: () = q(&mut r, &["SET", "from-redis", "1"]);
    let _: String = q(&mut r, &["BGREWRITEAOF"]);
    wait_rewrites(&mut r, 1);
    let _: i64 = q(&mut r, &["INCR", "db0:str:int"]);
    let _: i64 = q(&mut r, &["HSET", "h-from-redis", "f", "v"]);
    let want = digest(&mut r);
    drop(r);
    drop(redis);
    node.restart()
        .expect("slotcache starts on redis-server's AOF");
    let mut c = node.client();
    assert_eq!(digest(&mut c), want, "slotcache loaded redis-server's AOF");
}

#[test]
fn a_replica_keeps_its_own_aof_of_what_it_applies() {
    let primary = Node::start(&[]);
    let mut p = primary.client();
    let _: () = q(&mut p, &["SET", "before-sync", "1"]);
    let port = primary.port.to_string();
    let replica = Node::start(&["--appendonly", "yes", "--replicaof", "127.0.0.1", &port]);
    let mut r = replica.client();
    // The full sync replaced the dataset: AOF started again with a rewrite of it.
    wait_rewrites(&mut r, 1);
    let _: () = q(&mut p, &["SET", "after-sync", "2", "EX", "5000"]);
    let _: redis::Value = redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg("tx")
        .cmd("RPUSH")
        .arg("txl")
        .arg("a")
        .query(&mut p)
        .expect("MULTI/EXEC");
    let _: String = q(&mut p, &["XADD", "st", "*", "f", "v"]);
    let acked: i64 = q(&mut p, &["WAIT", "1", "5000"]);
    assert_eq!(acked, 1);
    let want = digest(&mut p);
    assert_eq!(digest(&mut r), want);
    let _: () = q(&mut r, &["DEBUG", "LOADAOF"]);
    assert_eq!(
        digest(&mut r),
        want,
        "the replica's AOF holds what it applied"
    );
    let incr = std::fs::read(last_incr(&aof_dir(&replica))).expect("replica incr");
    let text = String::from_utf8_lossy(&incr);
    assert!(text.contains("MULTI") && text.contains("EXEC"), "{text}");
    assert!(
        !text.contains("PING") && !text.contains("REPLCONF"),
        "{text}"
    );
}

#[test]
fn an_old_style_single_file_aof_is_loaded_and_becomes_the_base() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("appendonly.aof"),
        "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$3\r\nold\r\n$1\r\n1\r\n\
         *3\r\n$5\r\nRPUSH\r\n$1\r\nl\r\n$1\r\na\r\n",
    )
    .expect("write a Redis 6 style AOF");
    let dir_arg = dir.path().display().to_string();
    let node = Node::start(&["--appendonly", "yes", "--dir", &dir_arg]);
    let mut c = node.client();
    let v: String = q(&mut c, &["GET", "old"]);
    assert_eq!(v, "1");
    let n: i64 = q(&mut c, &["LLEN", "l"]);
    assert_eq!(n, 1);
    let aof = dir.path().join("appendonlydir");
    assert_eq!(
        manifest(&aof),
        "file appendonly.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    );
    assert!(
        !dir.path().join("appendonly.aof").exists(),
        "moved into the directory"
    );
}
