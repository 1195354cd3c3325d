//! Cluster administration as Redis 7.0 does it: CLUSTER DELSLOTS / DELSLOTSRANGE change only
//! the receiving node's view, a slot given up goes to the next node that claims it, and
//! CLUSTER LINKS lists each peer's link in both directions.

use cluster_tests::cluster::{parse_nodes, query_string, TestCluster};
use cluster_tests::{q, run_tool, server_error, wait_for, Node};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Three primaries with configEpochs 1, 2 and 3 (as `redis-cli --cluster create` sets
/// them), once every node reports ok.
fn three_primaries() -> TestCluster {
    let c = TestCluster::start(3, &[]);
    c.form_with_replicas(3);
    assert!(c.wait_ok(Duration::from_secs(15)), "cluster did not form");
    c
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn cluster_state(n: &Node) -> String {
    let info = query_string(n, &["CLUSTER", "INFO"]).unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix("cluster_state:"))
        .unwrap_or("")
        .trim()
        .to_string()
}

/// `node`'s CLUSTER NODES line about the node with id `id`: (flags, pong-recv, slots).
fn line_about(node: &Node, id: &str) -> Option<(String, u64, Vec<String>)> {
    let text = query_string(node, &["CLUSTER", "NODES"]).ok()?;
    let line = text.lines().find(|l| l.starts_with(id))?;
    let f: Vec<&str> = line.split_whitespace().collect();
    Some((
        f[2].to_string(),
        f[5].parse().unwrap_or(0),
        f[8..].iter().map(|s| s.to_string()).collect(),
    ))
}

/// Waits until `node` has heard from the node `id` at or after `after` (wall ms): its
/// CLUSTER NODES `pong-recv` says so. Then `node` has applied heartbeats sent after then.
fn heard_from_after(node: &Node, id: &str, after: u64) -> bool {
    wait_for(Duration::from_secs(10), || {
        line_about(node, id)
            .filter(|(_, pong, _)| *pong >= after)
            .map(|_| ())
    })
    .is_some()
}

/// Who owns `slot` in `node`'s view (CLUSTER NODES), if anyone.
fn owner_of(node: &Node, slot: u16) -> Option<String> {
    let text = query_string(node, &["CLUSTER", "NODES"]).ok()?;
    parse_nodes(&text)
        .into_iter()
        .find(|n| n.owns(slot))
        .map(|n| n.id)
}

#[test]
fn delslots_on_the_owner_unbinds_the_slot_only_in_its_own_view() {
    let c = three_primaries();
    let ids = c.ids();
    let mut n0 = c.nodes[0].client();
    // "{06S}" hashes to slot 0, served by the first node.
    let _: () = q(&mut n0, &["SET", "{06S}x", "1"]);
    let _: () = q(&mut n0, &["CLUSTER", "DELSLOTS", "0"]);
    let since = wall_ms();
    // The node that gave the slot up stops serving it and reports the cluster down.
    assert_eq!(cluster_state(&c.nodes[0]), "fail");
    assert_eq!(
        server_error(&mut n0, &["GET", "{06S}x"]),
        "CLUSTERDOWN Hash slot not served"
    );
    assert_eq!(
        server_error(&mut n0, &["GET", "{user}1"]),
        "CLUSTERDOWN The cluster is down"
    );
    let (_, _, slots) = line_about(&c.nodes[0], &ids[0]).unwrap();
    assert_eq!(slots, vec!["1-5460".to_string()]);
    let count: i64 = q(&mut n0, &["CLUSTER", "COUNTKEYSINSLOT", "0"]);
    assert_eq!(count, 1, "DELSLOTS keeps the keys");
    // The others keep the first node as the owner after its later heartbeats (which no
    // longer claim slot 0) and stay ok.
    for n in &c.nodes[1..] {
        assert!(heard_from_after(n, &ids[0], since + 2000), "no heartbeat");
        assert_eq!(owner_of(n, 0).as_deref(), Some(ids[0].as_str()));
        assert_eq!(cluster_state(n), "ok");
        let mut cl = n.client();
        assert_eq!(
            server_error(&mut cl, &["GET", "{06S}x"]),
            format!("MOVED 0 127.0.0.1:{}", c.nodes[0].port)
        );
    }
    // Given back on the same node (what `redis-cli --cluster fix` does), all is as before.
    let _: () = q(&mut n0, &["CLUSTER", "ADDSLOTS", "0"]);
    assert!(c.wait_ok(Duration::from_secs(10)));
    let v: String = q(&mut n0, &["GET", "{06S}x"]);
    assert_eq!(v, "1");
}

#[test]
fn delslotsrange_leaves_the_other_nodes_ok_and_fix_style_transactions_work() {
    let c = three_primaries();
    let ids = c.ids();
    let mut n1 = c.nodes[1].client();
    let _: () = q(&mut n1, &["CLUSTER", "DELSLOTSRANGE", "5462", "5470"]);
    let since = wall_ms();
    assert_eq!(cluster_state(&c.nodes[1]), "fail");
    for i in [0, 2] {
        let n = &c.nodes[i];
        assert!(heard_from_after(n, &ids[1], since + 2000), "no heartbeat");
        assert_eq!(cluster_state(n), "ok", "node {i}");
        assert_eq!(owner_of(n, 5465).as_deref(), Some(ids[1].as_str()));
    }
    let _: () = q(&mut n1, &["CLUSTER", "ADDSLOTSRANGE", "5462", "5470"]);
    assert!(c.wait_ok(Duration::from_secs(10)));
    // `redis-cli --cluster fix` re-binds a slot to a node in one transaction.
    let r: Vec<redis::Value> = redis::pipe()
        .atomic()
        .cmd("CLUSTER")
        .arg("DELSLOTS")
        .arg(5462)
        .cmd("CLUSTER")
        .arg("ADDSLOTS")
        .arg(5462)
        .cmd("CLUSTER")
        .arg("BUMPEPOCH")
        .query(&mut n1)
        .expect("transaction");
    assert_eq!(r[..2], [redis::Value::Okay, redis::Value::Okay]);
    let since = wall_ms();
    for (i, n) in c.nodes.iter().enumerate() {
        if i != 1 {
            assert!(heard_from_after(n, &ids[1], since + 1500), "no heartbeat");
        }
        assert_eq!(cluster_state(n), "ok", "node {i}");
        assert_eq!(owner_of(n, 5462).as_deref(), Some(ids[1].as_str()));
    }
}

#[test]
fn redis_cli_cluster_fix_gives_an_uncovered_slot_back_to_the_node_holding_its_keys() {
    let c = three_primaries();
    let mut n0 = c.nodes[0].client();
    let _: () = q(&mut n0, &["SET", "{06S}x", "kept"]);
    let _: () = q(&mut n0, &["CLUSTER", "DELSLOTS", "0"]);
    let seed = c.addrs()[1].clone();
    let (ok, out) = run_tool("redis-cli", &["--cluster", "check", &seed], None);
    assert!(!ok, "check should report the uncovered slot: {out}");
    assert!(out.contains("Not all 16384 slots are covered"), "{out}");
    let (_, out) = run_tool("redis-cli", &["--cluster", "fix", &seed], Some(b"yes\n"));
    assert!(out.contains("Covering slot 0 with"), "{out}");
    assert!(c.wait_ok(Duration::from_secs(10)));
    let (ok, out) = run_tool("redis-cli", &["--cluster", "check", &seed], None);
    assert!(ok, "check after fix: {out}");
    assert!(out.contains("[OK] All 16384 slots covered."), "{out}");
    let v: String = q(&mut n0, &["GET", "{06S}x"]);
    assert_eq!(v, "kept");
}

#[test]
fn a_slot_given_up_goes_to_the_next_claimant_even_with_a_lower_config_epoch() {
    let c = three_primaries();
    let ids = c.ids();
    // The third node (configEpoch 3) gives up slot 16383; the first (configEpoch 1) takes
    // it with SETSLOT NODE. A slot its owner stopped claiming goes to whoever claims it.
    let _: () = q(&mut c.nodes[2].client(), &["CLUSTER", "DELSLOTS", "16383"]);
    let taken: String = q(
        &mut c.nodes[0].client(),
        &["CLUSTER", "SETSLOT", "16383", "NODE", &ids[0]],
    );
    assert_eq!(taken, "OK");
    let agreed = wait_for(Duration::from_secs(10), || {
        c.nodes
            .iter()
            .all(|n| owner_of(n, 16383).as_deref() == Some(ids[0].as_str()))
            .then_some(())
    });
    assert!(
        agreed.is_some(),
        "slot 16383 did not move to the first node"
    );
    assert!(c.wait_ok(Duration::from_secs(10)));
    // A slot its owner still claims is not taken by a lower configEpoch: the first node's
    // claim on 16382 loses to the third node's, everywhere, the first node's view included.
    let mut n0 = c.nodes[0].client();
    let _: () = q(&mut n0, &["CLUSTER", "DELSLOTS", "16382"]);
    let _: () = q(&mut n0, &["CLUSTER", "ADDSLOTS", "16382"]);
    let since = wall_ms();
    let back = wait_for(Duration::from_secs(10), || {
        (owner_of(&c.nodes[0], 16382).as_deref() == Some(ids[2].as_str())).then_some(())
    });
    assert!(
        back.is_some(),
        "the first node kept a slot of a newer config"
    );
    assert!(heard_from_after(&c.nodes[1], &ids[0], since + 1000));
    assert_eq!(
        owner_of(&c.nodes[1], 16382).as_deref(),
        Some(ids[2].as_str())
    );
    assert!(c.wait_ok(Duration::from_secs(10)));
}

/// CLUSTER LINKS as (direction, node) pairs plus each entry's fields in order.
fn links(n: &Node) -> Vec<Vec<(String, redis::Value)>> {
    let v: redis::Value = q(&mut n.client(), &["CLUSTER", "LINKS"]);
    let redis::Value::Array(entries) = v else {
        panic!("CLUSTER LINKS is not an array: {v:?}");
    };
    entries
        .into_iter()
        .map(|e| {
            let redis::Value::Array(kv) = e else {
                panic!("a link is not a flat array in RESP2: {e:?}");
            };
            kv.chunks(2)
                .map(|p| {
                    let k: String = redis::from_redis_value(&p[0]).unwrap();
                    (k, p[1].clone())
                })
                .collect()
        })
        .collect()
}

fn text(v: &redis::Value) -> String {
    redis::from_redis_value(v).unwrap()
}

#[test]
fn cluster_links_lists_the_link_to_and_from_every_peer() {
    let started = wall_ms();
    let c = three_primaries();
    let ids = c.ids();
    // Inbound links are tied to their node by the first frame from a known member.
    let got = wait_for(Duration::from_secs(10), || {
        let l = links(&c.nodes[0]);
        (l.len() == 4).then_some(l)
    })
    .unwrap_or_else(|| panic!("links: {:?}", links(&c.nodes[0])));
    let mut seen: Vec<(String, String)> = Vec::new();
    for entry in &got {
        let keys: Vec<&str> = entry.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "direction",
                "node",
                "create-time",
                "events",
                "send-buffer-allocated",
                "send-buffer-used"
            ]
        );
        let created: i64 = redis::from_redis_value(&entry[2].1).unwrap();
        assert!(created as u64 >= started && created as u64 <= wall_ms() + 1000);
        assert!(["r", "rw"].contains(&text(&entry[3].1).as_str()));
        let _: i64 = redis::from_redis_value(&entry[4].1).unwrap();
        let _: i64 = redis::from_redis_value(&entry[5].1).unwrap();
        seen.push((text(&entry[1].1), text(&entry[0].1)));
    }
    // Per peer, `to` then `from`.
    for pair in seen.chunks(2) {
        assert_eq!(pair[0].0, pair[1].0);
        assert_eq!((pair[0].1.as_str(), pair[1].1.as_str()), ("to", "from"));
    }
    let mut peers: Vec<String> = seen.iter().map(|(n, _)| n.clone()).collect();
    peers.dedup();
    peers.sort();
    let mut want = ids[1..].to_vec();
    want.sort();
    assert_eq!(peers, want);
    // A peer that goes away takes both its links with it.
    let mut c = c;
    c.nodes[2].kill();
    let gone = wait_for(Duration::from_secs(10), || {
        let l = links(&c.nodes[0]);
        let from_dead = l
            .iter()
            .any(|e| text(&e[0].1) == "from" && text(&e[1].1) == ids[2]);
        (!from_dead).then_some(())
    });
    assert!(
        gone.is_some(),
        "the dead peer's inbound link is still listed"
    );
}
