//! Snapshots (#28): SAVE, BGSAVE and loading, in Redis's RDB format. The files pass
//! `redis-check-rdb`, move both ways between slotcache and redis-server 7.0 with equal
//! DEBUG DIGESTs, a BGSAVE taken while clients run cross-slot MULTI/EXECs holds each
//! transaction entirely or not at all, nodes and whole clusters restart with their data.
//! Comparisons with redis-server skip, saying so, where it is not installed.

use cluster_tests::cluster::TestCluster;
use cluster_tests::reference::RedisServer;
use cluster_tests::typed_data::{every_type, load};
use cluster_tests::{info_field, q, run_tool, server_error, wait_for, Node};
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

/// Waits until no background save runs; returns its status (`ok` / `err`).
fn wait_bgsave(c: &mut Connection) -> String {
    let done = wait_for(Duration::from_secs(60), || {
        (persistence(c, "rdb_bgsave_in_progress") == "0").then_some(())
    });
    assert!(done.is_some(), "BGSAVE did not finish within 60 s");
    persistence(c, "rdb_last_bgsave_status")
}

fn dir_of(c: &mut Connection) -> PathBuf {
    let v: Vec<String> = q(c, &["CONFIG", "GET", "dir"]);
    PathBuf::from(&v[1])
}

/// Every type in every encoding in three databases, and a function library.
fn fill(c: &mut Connection) {
    for db in ["0", "3", "15"] {
        let (cmds, _) = every_type(&format!("db{db}:"));
        let _: () = q(c, &["SELECT", db]);
        load(c, &cmds);
    }
    let _: () = q(c, &["SELECT", "0"]);
    let _: () = q(c, &["SET", "ttl", "v", "EX", "10000"]);
    let _: String = q(
        c,
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=snaplib\nredis.register_function('snapf', function() return 7 end)",
        ],
    );
}

fn check_rdb(path: &Path) {
    let (ok, out) = run_tool("redis-check-rdb", &[path.to_str().unwrap()], None);
    assert!(ok, "redis-check-rdb refused {}: {out}", path.display());
    assert!(out.contains("RDB looks OK"), "{out}");
}

#[test]
fn save_writes_a_file_redis_check_rdb_accepts_and_redis_server_loads_equally() {
    let node = Node::start(&[]);
    let mut c = node.client();
    fill(&mut c);
    let before: i64 = q(&mut c, &["LASTSAVE"]);
    let _: () = q(&mut c, &["SAVE"]);
    let after: i64 = q(&mut c, &["LASTSAVE"]);
    assert!(after >= before);
    assert_eq!(persistence(&mut c, "rdb_changes_since_last_save"), "0");
    let file = node.dir.path().join("dump.rdb");
    check_rdb(&file);
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let mut r = redis.client();
    std::fs::copy(&file, dir_of(&mut r).join("dump.rdb")).expect("copy into redis's dir");
    let _: () = q(&mut r, &["DEBUG", "RELOAD", "NOSAVE"]);
    assert_eq!(digest(&mut r), digest(&mut c));
    let f: i64 = q(&mut r, &["FCALL", "snapf", "0"]);
    assert_eq!(f, 7, "the function library went through the file");
}

#[test]
fn a_redis_server_dump_loads_into_slotcache_equally() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let mut r = redis.client();
    fill(&mut r);
    let _: () = q(&mut r, &["SAVE"]);
    let node = Node::start(&[]);
    let mut c = node.client();
    std::fs::copy(
        dir_of(&mut r).join("dump.rdb"),
        node.dir.path().join("dump.rdb"),
    )
    .expect("copy redis's dump");
    let _: () = q(&mut c, &["DEBUG", "RELOAD", "NOSAVE"]);
    assert_eq!(digest(&mut c), digest(&mut r));
    let f: i64 = q(&mut c, &["FCALL", "snapf", "0"]);
    assert_eq!(f, 7);
    // And it is what a restart loads too.
    let mut node = node;
    node.restart().expect("restart");
    let mut c = node.client();
    assert_eq!(digest(&mut c), digest(&mut r));
}

#[test]
fn debug_reload_and_restart_keep_the_data_and_compression_and_checksum_switch_off() {
    let mut node = Node::start(&[]);
    let mut c = node.client();
    fill(&mut c);
    let want = digest(&mut c);
    let _: () = q(&mut c, &["DEBUG", "RELOAD"]);
    assert_eq!(digest(&mut c), want);
    // Uncompressed and without a checksum: still a file Redis's checker accepts.
    let _: () = q(
        &mut c,
        &["CONFIG", "SET", "rdbcompression", "no", "rdbchecksum", "no"],
    );
    let _: () = q(&mut c, &["SAVE"]);
    check_rdb(&node.dir.path().join("dump.rdb"));
    node.restart().expect("restart");
    let mut c = node.client();
    assert_eq!(digest(&mut c), want);
    assert_ne!(persistence(&mut c, "rdb_last_load_keys_loaded"), "0");
    // DEBUG RELOAD's options as Redis takes them.
    assert_eq!(
        server_error(&mut c, &["DEBUG", "RELOAD", "BOGUS"]),
        "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options."
    );
    assert!(
        server_error(&mut c, &["DEBUG", "RELOAD", "NOSAVE", "NOFLUSH"])
            .contains("Error trying to load the RDB dump")
    );
    let _: () = q(&mut c, &["DEBUG", "RELOAD", "NOSAVE", "NOFLUSH", "MERGE"]);
    assert_eq!(digest(&mut c), want);
    // The flush in DEBUG RELOAD touches watched keys, as Redis's emptyData does: a WATCHed
    // key's EXEC aborts even though the key comes back with the same value.
    let mut w = node.client();
    let _: () = q(&mut w, &["WATCH", "ttl"]);
    let _: () = q(&mut c, &["DEBUG", "RELOAD"]);
    let _: () = q(&mut w, &["MULTI"]);
    let _: () = q(&mut w, &["GET", "ttl"]);
    let aborted: Option<Vec<String>> = q(&mut w, &["EXEC"]);
    assert_eq!(aborted, None);
    assert_eq!(digest(&mut c), want);
}

#[test]
fn save_points_and_sigterm_save_and_shutdown_nosave_does_not() {
    let mut node = Node::start(&["--save", "3600 1"]);
    let mut c = node.client();
    let v: Vec<String> = q(&mut c, &["CONFIG", "GET", "save"]);
    assert_eq!(v[1], "3600 1");
    let _: () = q(&mut c, &["SET", "k", "1"]);
    node.terminate();
    node.restart().expect("restart");
    let mut c = node.client();
    let got: Option<String> = q(&mut c, &["GET", "k"]);
    assert_eq!(
        got.as_deref(),
        Some("1"),
        "SIGTERM saved the final snapshot"
    );
    let _: () = q(&mut c, &["SET", "k", "2"]);
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut c);
    node.wait_exit(10);
    node.restart().expect("restart");
    let mut c = node.client();
    let got: Option<String> = q(&mut c, &["GET", "k"]);
    assert_eq!(got.as_deref(), Some("1"), "SHUTDOWN NOSAVE wrote nothing");
    // A save point met saves in the background by itself.
    let _: () = q(&mut c, &["CONFIG", "SET", "save", "1 1"]);
    let _: () = q(&mut c, &["SET", "k", "3"]);
    let saved = wait_for(Duration::from_secs(10), || {
        (persistence(&mut c, "rdb_changes_since_last_save") == "0").then_some(())
    });
    assert!(saved.is_some(), "the save point triggered a BGSAVE");
    assert_eq!(
        server_error(&mut c, &["CONFIG", "SET", "save", "1"]),
        "ERR CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters"
    );
}

#[test]
fn failed_background_saves_refuse_writes_with_misconf() {
    let node = Node::start(&[]);
    let mut c = node.client();
    let home = dir_of(&mut c);
    let gone = tempfile::tempdir().expect("tempdir");
    let gone_path = gone.path().display().to_string();
    let _: () = q(
        &mut c,
        &["CONFIG", "SET", "dir", &gone_path, "save", "3600 1"],
    );
    drop(gone);
    let _: () = q(&mut c, &["SET", "k", "v"]);
    let _: String = q(&mut c, &["BGSAVE"]);
    assert_eq!(wait_bgsave(&mut c), "err");
    let misconf = server_error(&mut c, &["SET", "k", "v2"]);
    assert!(
        misconf.starts_with("MISCONF Redis is configured to save RDB snapshots"),
        "{misconf}"
    );
    assert!(server_error(&mut c, &["PING"]).starts_with("MISCONF"));
    let got: String = q(&mut c, &["GET", "k"]);
    assert_eq!(got, "v", "reads are served");
    let _: () = q(
        &mut c,
        &["CONFIG", "SET", "stop-writes-on-bgsave-error", "no"],
    );
    let _: () = q(&mut c, &["SET", "k", "v3"]);
    let _: () = q(
        &mut c,
        &["CONFIG", "SET", "stop-writes-on-bgsave-error", "yes"],
    );
    let home = home.display().to_string();
    let _: () = q(&mut c, &["CONFIG", "SET", "dir", &home]);
    let _: String = q(&mut c, &["BGSAVE"]);
    assert_eq!(wait_bgsave(&mut c), "ok");
    let _: () = q(&mut c, &["SET", "k", "v4"]);
    assert_eq!(server_error(&mut c, &["BGSAVE", "NOW"]), "ERR syntax error");
}

/// Counter keys in as many slots (no hash tags), and two keys a transaction moves a value
/// between.
const COUNTERS: usize = 8;

/// During a BGSAVE, clients run MULTI/EXECs that each add one to every counter and move a
/// marker between two keys; the file holds every transaction wholly or not at all: equal
/// counters, exactly one marker, and a count between the ones seen before and after.
#[test]
fn bgsave_is_point_in_time_for_cross_slot_transactions() {
    let node = Node::start(&[]);
    let mut c = node.client();
    // Enough data that the background save takes a while (the counters are spread among it).
    let _: () = q(&mut c, &["DEBUG", "POPULATE", "300000", "fill", "64"]);
    let _: () = q(&mut c, &["SET", "marker:a", "x"]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for _ in 0..2 {
        let stop = stop.clone();
        let mut w = node.client();
        writers.push(std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut p = redis::pipe();
                p.atomic();
                for i in 0..COUNTERS {
                    p.cmd("INCR").arg(format!("counter:{i}"));
                }
                // The marker moves between two slots: it must be in exactly one of them.
                p.cmd("EVAL")
                    .arg("if redis.call('exists', KEYS[1]) == 1 then redis.call('rename', KEYS[1], KEYS[2]) else redis.call('rename', KEYS[2], KEYS[1]) end")
                    .arg(2)
                    .arg("marker:a")
                    .arg("marker:b");
                let _: Vec<redis::Value> = p.query(&mut w).expect("transaction");
                n += 1;
            }
            n
        }));
    }
    // Transactions are running before the snapshot begins.
    let running = wait_for(Duration::from_secs(10), || {
        let v: Option<i64> = q(&mut c, &["GET", "counter:0"]);
        (v.unwrap_or(0) > 50).then_some(())
    });
    assert!(running.is_some());
    let at_start: i64 = q(&mut c, &["GET", "counter:0"]);
    let _: String = q(&mut c, &["BGSAVE"]);
    // A second one is refused, SCHEDULE or not (as Redis's while an RDB save runs).
    for args in [&["BGSAVE"][..], &["BGSAVE", "SCHEDULE"]] {
        assert_eq!(
            server_error(&mut c, args),
            "ERR Background save already in progress"
        );
    }
    assert_eq!(wait_bgsave(&mut c), "ok");
    let at_end: i64 = q(&mut c, &["GET", "counter:0"]);
    // Writers were handed over to the snapshot while it ran.
    let copied: u64 = persistence(&mut c, "rdb_last_cow_size")
        .parse()
        .unwrap_or(0);
    let file = node.dir.path().join("dump.rdb");
    let kept = std::env::temp_dir().join(format!("snap-pit-{}.rdb", node.port));
    std::fs::copy(&file, &kept).expect("keep the first snapshot");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let total: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(
        at_end > at_start,
        "transactions ran during the BGSAVE ({at_start} -> {at_end}, {total} in all)"
    );
    assert!(copied > 0, "writers handed entries to the snapshot");
    // Inside EXEC a BGSAVE is scheduled, as Redis's, and runs after the transaction.
    let saves: u64 = persistence(&mut c, "rdb_saves").parse().unwrap_or(0);
    let replies: Vec<String> = redis::pipe().atomic().cmd("BGSAVE").query(&mut c).unwrap();
    assert_eq!(replies, ["Background saving scheduled"]);
    let ran = wait_for(Duration::from_secs(60), || {
        let now: u64 = persistence(&mut c, "rdb_saves").parse().unwrap_or(0);
        (now > saves).then_some(())
    });
    assert!(ran.is_some(), "the scheduled BGSAVE ran");
    assert_eq!(wait_bgsave(&mut c), "ok");
    check_rdb(&kept);
    // Load the first snapshot into a fresh node and check the invariants.
    let other = Node::start(&[]);
    std::fs::copy(&kept, other.dir.path().join("dump.rdb")).expect("copy");
    let _ = std::fs::remove_file(&kept);
    let mut o = other.client();
    let _: () = q(&mut o, &["DEBUG", "RELOAD", "NOSAVE"]);
    let counts: Vec<i64> = (0..COUNTERS)
        .map(|i| q(&mut o, &["GET", &format!("counter:{i}")]))
        .collect();
    assert!(
        counts.iter().all(|&n| n == counts[0]),
        "every transaction wholly or not at all: {counts:?}"
    );
    assert!(
        counts[0] >= at_start && counts[0] <= at_end,
        "the image is of a moment during the BGSAVE: {at_start} <= {} <= {at_end}",
        counts[0]
    );
    let markers: i64 = q(&mut o, &["EXISTS", "marker:a", "marker:b"]);
    assert_eq!(markers, 1, "the marker is in exactly one key");
    let size: i64 = q(&mut o, &["DBSIZE"]);
    assert_eq!(size, 300_000 + COUNTERS as i64 + 1);
}

/// A 3x2 cluster stopped whole (SIGTERM with save points: each node writes its snapshot)
/// and started again comes back with every key.
#[test]
fn a_whole_cluster_restarts_with_its_data() {
    let mut cluster = TestCluster::start(6, &["--save", "3600 1"]);
    cluster.form_with_replicas(3);
    assert!(cluster.wait_ok(Duration::from_secs(30)), "cluster formed");
    let mut cc = cluster.cluster_client();
    for i in 0..300 {
        let _: () = redis::cmd("SET")
            .arg(format!("key:{i}"))
            .arg(i)
            .query(&mut cc)
            .expect("SET");
    }
    // Replicas have everything before the stop (WAIT on each primary's own keys).
    for node in &cluster.nodes[..3] {
        let mut c = node.client();
        let acked: i64 = q(&mut c, &["WAIT", "1", "5000"]);
        assert_eq!(acked, 1, "the replica acknowledged before the stop");
    }
    drop(cc);
    for node in cluster.nodes.iter_mut() {
        node.terminate();
    }
    for node in cluster.nodes.iter_mut() {
        node.restart().expect("restart");
    }
    assert!(
        cluster.wait_ok(Duration::from_secs(60)),
        "cluster came back"
    );
    let mut cc = cluster.cluster_client();
    for i in 0..300 {
        let got: Option<i64> = redis::cmd("GET")
            .arg(format!("key:{i}"))
            .query(&mut cc)
            .expect("GET");
        assert_eq!(got, Some(i), "key:{i} after the restart");
    }
}

/// A primary killed and restarted from a snapshot older than what its replica holds does not
/// serve (or feed its replica) the older data: a replica past the snapshot's offset takes
/// over, and the write the snapshot missed survives.
#[test]
fn a_primary_restarted_from_an_older_snapshot_never_wipes_its_shard() {
    let mut cluster = TestCluster::start(6, &[]);
    cluster.form_with_replicas(3);
    assert!(cluster.wait_ok(Duration::from_secs(30)), "cluster formed");
    // Slot 3300 ({b}) belongs to the first primary; the fourth node replicates it.
    let mut p = cluster.nodes[0].client();
    let _: () = q(&mut p, &["SET", "{b}old", "1"]);
    let _: () = q(&mut p, &["SAVE"]);
    let _: () = q(&mut p, &["SET", "{b}new", "2"]);
    let acked: i64 = q(&mut p, &["WAIT", "1", "5000"]);
    assert_eq!(acked, 1, "the replica has the write the snapshot missed");
    drop(p);
    cluster.nodes[0].kill();
    cluster.nodes[0].restart().expect("restart");
    let survived = wait_for(Duration::from_secs(30), || {
        let mut c = cluster.nodes[3].client();
        let role: Vec<redis::Value> = q(&mut c, &["ROLE"]);
        let primary = matches!(role.first(), Some(redis::Value::BulkString(r)) if r == b"master");
        let v: Option<String> = redis::cmd("GET").arg("{b}new").query(&mut c).ok()?;
        (primary && v.as_deref() == Some("2")).then_some(())
    });
    assert!(
        survived.is_some(),
        "the replica took over with the newer data; restarted node's log:\n{}",
        cluster.nodes[0].log()
    );
    assert!(cluster.wait_ok(Duration::from_secs(30)));
    // The old primary follows it and holds the newer data too.
    let synced = wait_for(Duration::from_secs(30), || {
        let mut c = cluster.nodes[0].client();
        let _: () = q(&mut c, &["READONLY"]);
        let v: Option<String> = redis::cmd("GET").arg("{b}new").query(&mut c).ok()?;
        (v.as_deref() == Some("2")).then_some(())
    });
    assert!(
        synced.is_some(),
        "the restarted node resynced from the new primary"
    );
}
