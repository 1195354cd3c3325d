//! Replication end to end: full sync under writes, partial resync after a dropped link, full
//! resync after the backlog was outrun, WAIT, read-only replicas, masterauth.

use cluster_tests::{info_field, wait_for, Node};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn info(n: &Node, section: &str) -> String {
    redis::cmd("INFO")
        .arg(section)
        .query(&mut n.client())
        .unwrap()
}

fn field(n: &Node, section: &str, f: &str) -> String {
    info_field(&info(n, section), f).unwrap_or_default()
}

fn digest(n: &Node) -> String {
    redis::cmd("DEBUG")
        .arg("DIGEST")
        .query(&mut n.client())
        .unwrap()
}

fn replicate(replica: &Node, primary: &Node) {
    let r: String = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(primary.port)
        .query(&mut replica.client())
        .unwrap();
    assert_eq!(r, "OK");
}

/// Waits until the replica's link is up and its offset equals the primary's.
fn wait_in_sync(primary: &Node, replica: &Node, timeout: Duration) {
    let ok = wait_for(timeout, || {
        let link = field(replica, "replication", "master_link_status");
        let p = field(primary, "replication", "master_repl_offset");
        let r = field(replica, "replication", "master_repl_offset");
        (link == "up" && !p.is_empty() && p == r).then_some(())
    });
    assert!(
        ok.is_some(),
        "replica did not catch up:\n{}\n{}",
        info(primary, "replication"),
        info(replica, "replication")
    );
}

/// SETs `{prefix}{i}` to `value(i)` for every i below `n`.
fn set_many(c: &mut redis::Connection, prefix: &str, n: u64, value: impl Fn(u64) -> String) {
    for i in 0..n {
        let _: () = redis::cmd("SET")
            .arg(format!("{prefix}{i}"))
            .arg(value(i))
            .query(c)
            .unwrap();
    }
}

/// `CLIENT KILL TYPE replica` on a primary: how many replica links were cut.
fn cut_replica_links(c: &mut redis::Connection) -> i64 {
    redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("replica")
        .query(c)
        .unwrap()
}

/// `DEBUG POPULATE n key 16`: n keys for a full sync to copy.
fn populate(n: &Node, keys: u64) {
    let _: String = redis::cmd("DEBUG")
        .arg("POPULATE")
        .arg(keys)
        .arg("key")
        .arg(16)
        .query(&mut n.client())
        .unwrap();
}

fn writer(node: &Node, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    let mut c = node.client();
    std::thread::spawn(move || {
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) && n < 2_000_000 {
            let _: () = redis::cmd("SET")
                .arg(format!("w:{}", n % 5000))
                .arg(n)
                .query(&mut c)
                .unwrap();
            n += 1;
        }
        n
    })
}

#[test]
fn replica_attaching_under_writes_ends_with_identical_data() {
    let primary = Node::start(&[]);
    let replica = Node::start(&[]);
    populate(&primary, 1_000_000);
    let stop = Arc::new(AtomicBool::new(false));
    let w = writer(&primary, stop.clone());
    std::thread::sleep(Duration::from_millis(50));
    replicate(&replica, &primary);
    let up = wait_for(Duration::from_secs(30), || {
        (field(&replica, "replication", "master_link_status") == "up").then_some(())
    });
    assert!(up.is_some(), "link never came up: {}", replica.log());
    stop.store(true, Ordering::Relaxed);
    let writes = w.join().unwrap();
    assert!(writes > 0);
    wait_in_sync(&primary, &replica, Duration::from_secs(20));
    assert_eq!(digest(&primary), digest(&replica));
    let n: i64 = redis::cmd("DBSIZE").query(&mut replica.client()).unwrap();
    assert!(n >= 1_000_000);
    assert_eq!(field(&primary, "stats", "sync_full"), "1");
}

#[test]
fn dropped_link_resyncs_partially_and_outrun_backlog_resyncs_fully() {
    let primary = Node::start(&["--repl-backlog-size", "1mb"]);
    let replica = Node::start(&[]);
    replicate(&replica, &primary);
    let mut c = primary.client();
    set_many(&mut c, "k", 1000, |i| i.to_string());
    wait_in_sync(&primary, &replica, Duration::from_secs(10));
    let full_before = field(&primary, "stats", "sync_full");
    // Cut the link while writes go on: the replica continues from the backlog.
    assert_eq!(cut_replica_links(&mut c), 1);
    set_many(&mut c, "k", 1000, |i| (i * 2).to_string());
    wait_in_sync(&primary, &replica, Duration::from_secs(10));
    assert_eq!(field(&primary, "stats", "sync_partial_ok"), "1");
    assert_eq!(field(&primary, "stats", "sync_full"), full_before);
    assert_eq!(digest(&primary), digest(&replica));

    // Pause the replica, cut its link, write more than the backlog holds: full resync.
    replica.pause();
    cut_replica_links(&mut c);
    set_many(&mut c, "big", 3000, |_| "x".repeat(1000));
    replica.resume();
    wait_in_sync(&primary, &replica, Duration::from_secs(20));
    assert_eq!(
        field(&primary, "stats", "sync_full"),
        (full_before.parse::<u64>().unwrap() + 1).to_string()
    );
    assert_eq!(digest(&primary), digest(&replica));
}

#[test]
fn wait_counts_acknowledging_replicas() {
    let primary = Node::start(&[]);
    let mut c = primary.client();
    let _: () = redis::cmd("SET").arg("a").arg(1).query(&mut c).unwrap();
    let t = Instant::now();
    let n: i64 = redis::cmd("WAIT").arg(1).arg(300).query(&mut c).unwrap();
    assert_eq!(n, 0);
    assert!(
        t.elapsed() >= Duration::from_millis(290),
        "WAIT returned early"
    );
    let replica = Node::start(&[]);
    replicate(&replica, &primary);
    wait_in_sync(&primary, &replica, Duration::from_secs(10));
    let _: () = redis::cmd("SET").arg("a").arg(2).query(&mut c).unwrap();
    let t = Instant::now();
    let n: i64 = redis::cmd("WAIT").arg(1).arg(5000).query(&mut c).unwrap();
    assert_eq!(n, 1);
    assert!(
        t.elapsed() < Duration::from_millis(200),
        "WAIT took {:?}",
        t.elapsed()
    );
    let v: String = redis::cmd("GET")
        .arg("a")
        .query(&mut replica.client())
        .unwrap();
    assert_eq!(v, "2");
}

#[test]
fn replicas_refuse_writes_and_a_protected_primary_replicates_with_masterauth() {
    let primary = Node::start(&["--requirepass", "s3cret"]);
    let replica = Node::start(&["--masterauth", "s3cret"]);
    replicate(&replica, &primary);
    let mut pc = redis::Client::open(format!("redis://:s3cret@127.0.0.1:{}/", primary.port))
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut pc).unwrap();
    let ok = wait_for(Duration::from_secs(10), || {
        redis::cmd("GET")
            .arg("k")
            .query::<Option<String>>(&mut replica.client())
            .ok()
            .flatten()
    });
    assert_eq!(ok.as_deref(), Some("v"));
    let err = redis::cmd("SET")
        .arg("k")
        .arg("x")
        .query::<()>(&mut replica.client())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("You can't write against a read only replica"),
        "{err}"
    );
    let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut replica.client()).unwrap();
    assert_eq!(role[0], redis::Value::BulkString(b"slave".to_vec()));
    // Promotion keeps the data and accepts writes.
    let _: String = redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .query(&mut replica.client())
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("y")
        .query(&mut replica.client())
        .unwrap();
}

#[test]
fn expiry_on_the_primary_reaches_the_replica_as_a_delete() {
    let primary = Node::start(&[]);
    let replica = Node::start(&[]);
    replicate(&replica, &primary);
    let mut c = primary.client();
    let _: () = redis::cmd("SET")
        .arg("t")
        .arg("v")
        .arg("PX")
        .arg(100)
        .query(&mut c)
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("keep")
        .arg("v")
        .query(&mut c)
        .unwrap();
    wait_in_sync(&primary, &replica, Duration::from_secs(10));
    let gone = wait_for(Duration::from_secs(5), || {
        let n: i64 = redis::cmd("DBSIZE").query(&mut replica.client()).unwrap();
        (n == 1).then_some(())
    });
    assert!(gone.is_some(), "the replica kept an expired key");
    // Reads on a replica never return a logically expired key, even before the DEL arrives.
    let _: () = redis::cmd("DEBUG")
        .arg("SET-ACTIVE-EXPIRE")
        .arg(0)
        .query(&mut c)
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("t2")
        .arg("v")
        .arg("PX")
        .arg(50)
        .query(&mut c)
        .unwrap();
    wait_in_sync(&primary, &replica, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(80));
    let v: Option<String> = redis::cmd("GET")
        .arg("t2")
        .query(&mut replica.client())
        .unwrap();
    assert_eq!(v, None);
}

/// `replicaof <host> <port>` (or its old name `slaveof`) on the command line starts a
/// replica, as it does for redis-server.
#[test]
fn replicaof_option_starts_a_replica() {
    let primary = Node::start(&[]);
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query(&mut primary.client())
        .unwrap();
    let port = primary.port.to_string();
    let replica = Node::start(&["--replicaof", &primary.host, &port]);
    let old_name = Node::start(&["--slaveof", &primary.host, &port]);
    for r in [&replica, &old_name] {
        let ok = wait_for(Duration::from_secs(10), || {
            (field(r, "replication", "master_link_status") == "up").then_some(())
        });
        assert!(ok.is_some(), "replica linked");
        let v: Option<String> = redis::cmd("GET").arg("k").query(&mut r.client()).unwrap();
        assert_eq!(v.as_deref(), Some("v"));
    }
}

/// After `+CONTINUE` the primary does not repeat its SELECT: a replica resumes in the
/// database its stream had selected at its offset.
#[test]
fn partial_resync_continues_in_the_streams_database() {
    let primary = Node::start(&[]);
    let replica = Node::start(&[]);
    replicate(&replica, &primary);
    wait_in_sync(&primary, &replica, Duration::from_secs(20));
    let mut c = primary.client();
    let _: () = redis::cmd("SELECT").arg(3).query(&mut c).unwrap();
    set_many(&mut c, "a", 100, |i| i.to_string());
    wait_in_sync(&primary, &replica, Duration::from_secs(10));
    let full_before = field(&primary, "stats", "sync_full");
    assert_eq!(cut_replica_links(&mut c), 1);
    set_many(&mut c, "b", 100, |i| i.to_string());
    wait_in_sync(&primary, &replica, Duration::from_secs(20));
    assert_eq!(field(&primary, "stats", "sync_partial_ok"), "1");
    assert_eq!(field(&primary, "stats", "sync_full"), full_before);
    assert_eq!(digest(&primary), digest(&replica));
    let mut r = replica.client();
    let _: () = redis::cmd("SELECT").arg(3).query(&mut r).unwrap();
    let v: Option<i64> = redis::cmd("GET").arg("b99").query(&mut r).unwrap();
    assert_eq!(v, Some(99));
}

/// A replica of a replica full-syncs while the top primary keeps writing: writes that reach
/// the middle node during that sync reach the new replica too.
#[test]
fn a_replica_of_a_replica_full_syncs_under_writes() {
    let primary = Node::start(&[]);
    let middle = Node::start(&[]);
    let leaf = Node::start(&[]);
    populate(&primary, 200_000);
    replicate(&middle, &primary);
    wait_in_sync(&primary, &middle, Duration::from_secs(30));
    let stop = Arc::new(AtomicBool::new(false));
    let w = writer(&primary, stop.clone());
    replicate(&leaf, &middle);
    let up = wait_for(Duration::from_secs(30), || {
        (field(&leaf, "replication", "master_link_status") == "up").then_some(())
    });
    assert!(up.is_some(), "link never came up: {}", leaf.log());
    stop.store(true, Ordering::Relaxed);
    assert!(w.join().unwrap() > 0);
    wait_in_sync(&primary, &middle, Duration::from_secs(20));
    wait_in_sync(&middle, &leaf, Duration::from_secs(20));
    let d = digest(&primary);
    assert_eq!(d, digest(&middle));
    assert_eq!(d, digest(&leaf));
}

/// A replica that takes a new history from a new primary disconnects its own replicas, which
/// sync again and end with the new data (not the old data plus a stream that no longer fits).
#[test]
fn a_replica_switching_primaries_resyncs_its_own_replicas() {
    let first = Node::start(&[]);
    let second = Node::start(&[]);
    let middle = Node::start(&[]);
    let leaf = Node::start(&[]);
    populate(&first, 1000);
    set_many(&mut second.client(), "other:", 500, |i| i.to_string());
    replicate(&middle, &first);
    wait_in_sync(&first, &middle, Duration::from_secs(20));
    replicate(&leaf, &middle);
    wait_in_sync(&middle, &leaf, Duration::from_secs(20));
    assert_eq!(digest(&leaf), digest(&first));
    let full_before = field(&middle, "stats", "sync_full");
    replicate(&middle, &second);
    wait_in_sync(&second, &middle, Duration::from_secs(20));
    let resynced = wait_for(Duration::from_secs(20), || {
        (field(&middle, "stats", "sync_full") != full_before).then_some(())
    });
    assert!(
        resynced.is_some(),
        "the leaf never resynced: {}",
        leaf.log()
    );
    wait_in_sync(&middle, &leaf, Duration::from_secs(20));
    let d = digest(&second);
    assert_eq!(digest(&middle), d);
    assert_eq!(digest(&leaf), d);
}

/// A replica promoted with REPLICAOF NO ONE disconnects its own replicas, as Redis's
/// replicationUnsetMaster does: they reconnect, continue partially (no full sync) and report
/// the promoted node's new replication id, and its new writes reach them.
#[test]
fn a_promoted_replica_hands_its_new_id_to_its_replicas() {
    let primary = Node::start(&[]);
    let middle = Node::start(&[]);
    let leaf = Node::start(&[]);
    populate(&primary, 1000);
    replicate(&middle, &primary);
    wait_in_sync(&primary, &middle, Duration::from_secs(20));
    replicate(&leaf, &middle);
    wait_in_sync(&middle, &leaf, Duration::from_secs(20));
    let old_id = field(&middle, "replication", "master_replid");
    let full_before = field(&middle, "stats", "sync_full");
    let partial_before = field(&middle, "stats", "sync_partial_ok");
    let r: String = redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .query(&mut middle.client())
        .unwrap();
    assert_eq!(r, "OK");
    let new_id = field(&middle, "replication", "master_replid");
    assert_ne!(new_id, old_id, "promotion keeps the old replication id");
    let learned = wait_for(Duration::from_secs(20), || {
        (field(&leaf, "replication", "master_replid") == new_id
            && field(&leaf, "replication", "master_link_status") == "up")
            .then_some(())
    });
    assert!(
        learned.is_some(),
        "the leaf never learned the new id:\n{}\n{}",
        info(&leaf, "replication"),
        leaf.log()
    );
    assert_eq!(field(&middle, "stats", "sync_full"), full_before);
    assert_ne!(field(&middle, "stats", "sync_partial_ok"), partial_before);
    set_many(&mut middle.client(), "after:", 100, |i| i.to_string());
    wait_in_sync(&middle, &leaf, Duration::from_secs(20));
    assert_eq!(digest(&leaf), digest(&middle));
}
