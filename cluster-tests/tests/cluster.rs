//! Cluster mode end to end: forming clusters with stock tools, routing, redirects byte for
//! byte, restarts from nodes.conf, and membership spreading by gossip.

use cluster_tests::cluster::{parse_nodes, query_string, TestCluster, NODE_TIMEOUT_MS};
use cluster_tests::{raw_exchange, run_tool, wait_for, Node};
use std::time::Duration;

/// `n` nodes formed by `redis-cli --cluster create --cluster-replicas replicas`, once the
/// cluster reports ok.
fn created_by_redis_cli(n: usize, replicas: usize) -> TestCluster {
    let c = TestCluster::start(n, &[]);
    let (ok, out) = c.create_with_redis_cli(replicas);
    assert!(ok, "create failed: {out}");
    ok_within(&c);
    c
}

fn ok_within(c: &TestCluster) {
    assert!(
        c.wait_ok(Duration::from_secs(15)),
        "cluster did not become ok: {}",
        c.nodes
            .iter()
            .map(|n| n.log())
            .collect::<Vec<_>>()
            .join("\n----\n")
    );
}

#[test]
fn redis_cli_cluster_create_then_check_is_clean() {
    let c = TestCluster::start(3, &[]);
    let (ok, out) = c.create_with_redis_cli(0);
    assert!(ok, "create failed: {out}");
    assert!(out.contains("[OK] All 16384 slots covered."), "{out}");
    ok_within(&c);
    let (ok, out) = run_tool("redis-cli", &["--cluster", "check", &c.addrs()[1]], None);
    assert!(ok, "check failed: {out}");
    assert!(
        out.contains("[OK] All nodes agree about slots configuration."),
        "{out}"
    );
    assert!(out.contains("[OK] All 16384 slots covered."), "{out}");
    let (ok, out) = run_tool("redis-cli", &["--cluster", "info", &c.addrs()[0]], None);
    assert!(ok && out.contains("3 masters"), "{out}");
}

#[test]
fn cluster_formed_by_hand_agrees_everywhere() {
    let c = TestCluster::start(3, &[]);
    c.form_by_hand();
    ok_within(&c);
    let views: Vec<Vec<(String, Vec<u16>)>> = c
        .nodes
        .iter()
        .map(|n| {
            let mut v: Vec<(String, Vec<u16>)> =
                parse_nodes(&query_string(n, &["CLUSTER", "NODES"]).unwrap())
                    .into_iter()
                    .map(|n| (n.id, n.slots))
                    .collect();
            v.sort();
            v
        })
        .collect();
    assert_eq!(views[0], views[1]);
    assert_eq!(views[1], views[2]);
    let myself_lines = query_string(&c.nodes[0], &["CLUSTER", "NODES"]).unwrap();
    assert_eq!(
        myself_lines
            .lines()
            .filter(|l| l.contains("myself,master"))
            .count(),
        1
    );
}

#[test]
fn keys_written_by_a_cluster_client_are_read_back_by_redis_cli_from_another_node() {
    let c = TestCluster::start(3, &[]);
    c.form_by_hand();
    ok_within(&c);
    let mut conn = c.cluster_client();
    for i in 0..10_000 {
        let _: () = redis::cmd("SET")
            .arg(format!("key:{i}"))
            .arg(format!("value:{i}"))
            .query(&mut conn)
            .unwrap();
    }
    let total: i64 = c
        .nodes
        .iter()
        .map(|n| redis::cmd("DBSIZE").query::<i64>(&mut n.client()).unwrap())
        .sum();
    assert_eq!(total, 10_000);
    for i in (0..10_000).step_by(997) {
        let (ok, out) = c.nodes[2].cli(&["-c", "GET", &format!("key:{i}")]);
        assert!(ok);
        assert_eq!(out.trim(), format!("value:{i}"));
    }
}

#[test]
fn redirect_errors_match_redis_byte_for_byte() {
    let c = TestCluster::start(3, &[]);
    c.form_by_hand();
    ok_within(&c);
    // "foo" hashes to slot 12182, served by the third node.
    let mut s = c.nodes[0].raw();
    let got = raw_exchange(&mut s, b"GET foo\r\n", 10);
    assert_eq!(
        String::from_utf8_lossy(&got),
        format!("-MOVED 12182 127.0.0.1:{}\r\n", c.nodes[2].port)
    );
    let got = raw_exchange(&mut s, b"DEL foo bar\r\n", 10);
    assert_eq!(
        got,
        b"-CROSSSLOT Keys in request don't hash to the same slot\r\n"
    );
    // Same slot through a hash tag: served (or redirected together).
    let got = raw_exchange(&mut s, b"DEL {foo}a {foo}b\r\n", 10);
    assert!(
        got.starts_with(b"-MOVED 12182 "),
        "{}",
        String::from_utf8_lossy(&got)
    );
    // An unserved slot.
    let mut n0 = c.nodes[0].client();
    let _: () = redis::cmd("CLUSTER")
        .arg("DELSLOTS")
        .arg(0)
        .query(&mut n0)
        .unwrap();
    // "{06S}" hashes to slot 0.
    let got = raw_exchange(&mut s, b"GET {06S}x\r\n", 10);
    assert_eq!(got, b"-CLUSTERDOWN Hash slot not served\r\n");
    // With a slot uncovered in its own view, the node reports the cluster down (the other
    // nodes keep it bound to this one: see cluster_admin.rs).
    let down = wait_for(Duration::from_secs(5), || {
        let got = raw_exchange(&mut s, b"GET {user}1\r\n", 10);
        (got == b"-CLUSTERDOWN The cluster is down\r\n").then_some(())
    });
    assert!(down.is_some());
    // Keyless commands still run.
    let got = raw_exchange(&mut s, b"PING\r\n", 7);
    assert_eq!(got, b"+PONG\r\n");
}

#[test]
fn nodes_restarted_from_nodes_conf_keep_id_and_slots() {
    let mut c = TestCluster::start(3, &[]);
    c.form_by_hand();
    ok_within(&c);
    let before: Vec<String> = c
        .nodes
        .iter()
        .map(|n| query_string(n, &["CLUSTER", "MYID"]).unwrap())
        .collect();
    let slots_before = query_string(&c.nodes[1], &["CLUSTER", "NODES"]).unwrap();
    for n in c.nodes.iter_mut() {
        n.terminate();
    }
    for n in c.nodes.iter_mut() {
        n.restart().expect("restart");
    }
    ok_within(&c);
    let after: Vec<String> = c
        .nodes
        .iter()
        .map(|n| query_string(n, &["CLUSTER", "MYID"]).unwrap())
        .collect();
    assert_eq!(before, after);
    let slots_after = query_string(&c.nodes[1], &["CLUSTER", "NODES"]).unwrap();
    let norm = |t: &str| {
        let mut v: Vec<(String, Vec<u16>)> = parse_nodes(t)
            .into_iter()
            .map(|n| (n.id, n.slots))
            .collect();
        v.sort();
        v
    };
    assert_eq!(norm(&slots_before), norm(&slots_after));
}

#[test]
fn corrupted_nodes_conf_stops_the_node_with_a_clear_error() {
    let mut n = Node::start(&["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"]);
    n.terminate();
    let conf = n.dir.path().join("nodes.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, &text[..text.len() / 3]).unwrap();
    let err = n.restart().expect_err("must refuse a corrupted nodes.conf");
    assert!(err.contains("corrupted cluster config file"), "{err}");
}

#[test]
fn a_node_that_meets_one_member_is_known_to_all_within_two_timeouts() {
    let c = TestCluster::start(3, &[]);
    c.form_by_hand();
    ok_within(&c);
    let newcomer = Node::start(&[
        "--cluster-enabled",
        "yes",
        "--cluster-node-timeout",
        &NODE_TIMEOUT_MS.to_string(),
    ]);
    let id = query_string(&newcomer, &["CLUSTER", "MYID"]).unwrap();
    let r = query_string(
        &newcomer,
        &["CLUSTER", "MEET", "127.0.0.1", &c.nodes[0].port.to_string()],
    );
    assert_eq!(r.as_deref(), Ok("OK"));
    let everyone = wait_for(Duration::from_millis(2 * NODE_TIMEOUT_MS + 500), || {
        c.nodes
            .iter()
            .all(|n| {
                query_string(n, &["CLUSTER", "NODES"])
                    .unwrap_or_default()
                    .contains(&id)
            })
            .then_some(())
    });
    assert!(everyone.is_some(), "not every node learned {id} in time");
    let info = query_string(&newcomer, &["CLUSTER", "INFO"]).unwrap();
    assert!(info.contains("cluster_known_nodes:4"), "{info}");
}

#[test]
fn cluster_commands_validate_their_arguments() {
    let n = Node::start(&["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"]);
    let mut c = n.client();
    let e = |r: redis::RedisResult<String>| r.unwrap_err().to_string();
    assert!(e(redis::cmd("CLUSTER")
        .arg("ADDSLOTS")
        .arg(16384)
        .query(&mut c))
    .contains("Invalid or out of range slot"));
    let _: String = redis::cmd("CLUSTER")
        .arg("ADDSLOTS")
        .arg(5)
        .query(&mut c)
        .unwrap();
    assert!(
        e(redis::cmd("CLUSTER").arg("ADDSLOTS").arg(5).query(&mut c))
            .contains("Slot 5 is already busy")
    );
    assert!(
        e(redis::cmd("CLUSTER").arg("DELSLOTS").arg(6).query(&mut c))
            .contains("Slot 6 is already unassigned")
    );
    assert!(e(redis::cmd("CLUSTER")
        .arg("MEET")
        .arg("nonsense")
        .arg(1)
        .query(&mut c))
    .contains("Invalid node address"));
    assert!(e(redis::cmd("CLUSTER")
        .arg("FORGET")
        .arg("x".repeat(40))
        .query(&mut c))
    .contains("Unknown node"));
    assert!(e(redis::cmd("SELECT").arg(1).query(&mut c))
        .contains("SELECT is not allowed in cluster mode"));
    let slot: i64 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg("foo")
        .query(&mut c)
        .unwrap();
    assert_eq!(slot, 12182);
    let bumped: String = redis::cmd("CLUSTER")
        .arg("BUMPEPOCH")
        .query(&mut c)
        .unwrap();
    assert!(bumped.starts_with("BUMPED"), "{bumped}");
    let _: String = redis::cmd("CONFIG")
        .arg("SET")
        .arg("cluster-node-timeout")
        .arg("2000")
        .query(&mut c)
        .unwrap_or_default();
}

#[test]
fn standalone_node_refuses_cluster_commands() {
    let n = Node::start(&[]);
    let mut c = n.client();
    let r: redis::RedisResult<String> = redis::cmd("CLUSTER").arg("INFO").query(&mut c);
    assert!(r
        .unwrap_err()
        .to_string()
        .contains("cluster support disabled"));
}

#[test]
fn redis_cli_add_node_cluster_slave_attaches_a_synced_replica() {
    let c = created_by_redis_cli(3, 0);
    let mut cc = c.cluster_client();
    for i in 0..300 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut cc)
            .unwrap();
    }
    let timeout = NODE_TIMEOUT_MS.to_string();
    let new = Node::start(&[
        "--cluster-enabled",
        "yes",
        "--cluster-node-timeout",
        &timeout,
    ]);
    let new_addr = format!("{}:{}", new.host, new.port);
    let (ok, out) = run_tool(
        "redis-cli",
        &[
            "--cluster",
            "add-node",
            &new_addr,
            &c.addrs()[0],
            "--cluster-slave",
        ],
        None,
    );
    assert!(ok, "add-node --cluster-slave: {out}");
    // redis-cli picks a primary for it; the new node must become that primary's replica,
    // with a live link and the primary's keys.
    let primary = wait_for(Duration::from_secs(20), || {
        let text = query_string(&new, &["CLUSTER", "NODES"]).ok()?;
        let line = text.lines().find(|l| l.contains("myself"))?;
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.get(2)?.contains("slave") && f.get(3)? != &"-").then(|| f[3].to_string())
    })
    .expect("the new node never became a replica");
    let info = query_string(&new, &["INFO", "replication"]).unwrap();
    let primary_node = c
        .nodes
        .iter()
        .find(|n| query_string(n, &["CLUSTER", "MYID"]).ok().as_deref() == Some(primary.as_str()))
        .expect("the replica's primary is one of the cluster's nodes");
    let synced = wait_for(Duration::from_secs(20), || {
        let info = query_string(&new, &["INFO", "replication"]).ok()?;
        let up = cluster_tests::info_field(&info, "master_link_status")? == "up";
        let a: i64 = redis::cmd("DBSIZE")
            .query(&mut primary_node.client())
            .ok()?;
        let b: i64 = redis::cmd("DBSIZE").query(&mut new.client()).ok()?;
        (up && a == b && a > 0).then_some(())
    });
    assert!(
        synced.is_some(),
        "replica never synced: {info}\n{}",
        new.log()
    );
    // A replica serves reads once the connection says READONLY, and redirects writes.
    let key: String = redis::cmd("RANDOMKEY")
        .query(&mut primary_node.client())
        .unwrap();
    let expected: String = redis::cmd("GET")
        .arg(&key)
        .query(&mut primary_node.client())
        .unwrap();
    let mut r = new.client();
    let _: () = redis::cmd("READONLY").query(&mut r).unwrap();
    let v: Option<String> = redis::cmd("GET").arg(&key).query(&mut r).unwrap();
    assert_eq!(
        v.as_deref(),
        Some(expected.as_str()),
        "replica's copy of {key}"
    );
    let w: redis::RedisResult<()> = redis::cmd("SET").arg(&key).arg(1).query(&mut r);
    let e = w.expect_err("a write to a replica is refused");
    let to = e.redirect_node().map(|(addr, _)| addr.to_string());
    assert_eq!(
        to,
        Some(format!("{}:{}", primary_node.host, primary_node.port)),
        "a write on the replica is redirected to its primary: {e}"
    );
}

#[test]
fn redis_cli_cluster_create_with_replicas_builds_three_shards_of_two() {
    let c = created_by_redis_cli(6, 1);
    let settled = wait_for(Duration::from_secs(20), || {
        let text = query_string(&c.nodes[0], &["CLUSTER", "NODES"]).ok()?;
        (text.lines().filter(|l| l.contains("slave")).count() == 3).then_some(())
    });
    assert!(settled.is_some());
    let (ok, out) = run_tool("redis-cli", &["--cluster", "check", &c.addrs()[0]], None);
    assert!(ok && out.contains("[OK] All 16384 slots covered."), "{out}");
    assert!(
        out.contains("3 master(s)") || out.contains("1 slave"),
        "{out}"
    );
    let slots: Vec<redis::Value> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query(&mut c.nodes[0].client())
        .unwrap();
    assert_eq!(slots.len(), 3);
    for s in slots {
        let redis::Value::Array(parts) = s else {
            panic!("bad CLUSTER SLOTS entry")
        };
        assert_eq!(
            parts.len(),
            4,
            "each range lists its primary and its replica"
        );
    }
}
