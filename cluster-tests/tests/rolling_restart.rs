//! A rolling restart the way a Kubernetes StatefulSet does one, with pods that come back at
//! new IP addresses: a 3x2 cluster, each node in its own network namespace ([`Lab`]), and
//! nodes stopped one at a time in reverse ordinal order with SIGTERM (a primary hands its
//! slots to its replica first), moved to another address, and started again with their
//! nodes.conf, while one writer per shard writes with `WAIT 1` ([`Writers`]) and follows
//! redirects to wherever the slots are now.
//!
//! Checked after every step: the node kept its id, every node sees it at its new address
//! with the hostname it announces,
//! the cluster is `ok` everywhere, every replica's link to its primary is up, and every
//! shard's writers confirmed new writes. At the end: no write a replica confirmed is lost,
//! CLUSTER SLOTS names only the new addresses, and a node that gives clients hostnames
//! redirects to the same names as before.

use cluster_tests::cluster::{parse_nodes, query_string};
use cluster_tests::partition_lab::{cluster_slots, connect, Lab, Writers};
use cluster_tests::{info_field, wait_for};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Explicit, as the test rules require; long enough that a restart is not a failure.
const NODE_TIMEOUT_MS: u64 = 2000;

/// Every replica's link to its primary is up (it has synced since its last restart).
fn replicas_synced(lab: &Lab) -> bool {
    lab.c.nodes.iter().all(|n| {
        let info = query_string(n, &["INFO", "replication"]).unwrap_or_default();
        match info_field(&info, "role").as_deref() {
            Some("master") => true,
            Some("slave") => info_field(&info, "master_link_status").as_deref() == Some("up"),
            _ => false,
        }
    })
}

fn wait_step(lab: &Lab, writers: &Writers, i: usize, before: &[u64], step: &str) {
    let (id, addr, hostname) = (&lab.ids[i], lab.addr(i), format!("node{i}.test"));
    let want = format!("{addr}@{},{}", 17000, hostname);
    let seen = wait_for(Duration::from_secs(60), || {
        lab.c
            .nodes
            .iter()
            .all(|n| {
                let text = query_string(n, &["CLUSTER", "NODES"]).unwrap_or_default();
                parse_nodes(&text).iter().any(|n| {
                    n.id == *id && format!("{}@{},{}", n.addr(), n.cport, n.hostname) == want
                })
            })
            .then_some(())
    });
    assert!(seen.is_some(), "{step}: not every node sees {id} at {want}");
    if let Err(e) = lab.settle(Duration::from_secs(60)) {
        panic!("{step}: the cluster did not settle: {e}");
    }
    assert!(
        wait_for(Duration::from_secs(60), || replicas_synced(lab)
            .then_some(()))
        .is_some(),
        "{step}: a replica did not resync"
    );
    let progressed = wait_for(Duration::from_secs(30), || {
        writers
            .last_confirmed
            .iter()
            .zip(before)
            .all(|(now, b)| now.load(Ordering::Relaxed) > *b)
            .then_some(())
    });
    assert!(
        progressed.is_some(),
        "{step}: some shard's writes are no longer confirmed"
    );
}

#[test]
fn a_rolling_restart_at_new_addresses_loses_no_confirmed_write() {
    // Each node announces a name, as a pod announces its DNS name; clients here are given
    // addresses (nothing resolves the names), and the names must survive the moves.
    let mut lab = Lab::start_with(NODE_TIMEOUT_MS, &|i| {
        vec![
            "--cluster-announce-hostname".into(),
            format!("node{i}.test"),
        ]
    });
    assert!(
        wait_for(Duration::from_secs(30), || replicas_synced(&lab)
            .then_some(()))
        .is_some(),
        "replicas did not sync"
    );
    let writers = Writers::start(&lab);
    let started = wait_for(Duration::from_secs(30), || {
        writers
            .last_confirmed
            .iter()
            .all(|c| c.load(Ordering::Relaxed) > 0)
            .then_some(())
    });
    assert!(started.is_some(), "writes are not being confirmed");

    // A StatefulSet updates pods from the highest ordinal down: the replicas first.
    for i in (0..6).rev() {
        let step = format!("node {i}");
        let before: Vec<u64> = writers
            .last_confirmed
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let to = lab.net.other_ip(i);
        let status = lab.c.nodes[i].terminate();
        assert!(
            status.is_some_and(|s| s.success()),
            "{step}: no clean exit on SIGTERM: {status:?}"
        );
        lab.net.readdress(i, &to).unwrap();
        lab.c.nodes[i]
            .restart_at(&to)
            .unwrap_or_else(|e| panic!("{step}: restart at {to}: {e}"));
        writers.reseed((0..6).map(|j| lab.addr(j)).collect());
        assert_eq!(
            query_string(&lab.c.nodes[i], &["CLUSTER", "MYID"]).unwrap(),
            lab.ids[i],
            "{step}: the node id changed"
        );
        wait_step(&lab, &writers, i, &before, &step);
        eprintln!("{step}: back at {to}");
    }

    let logs = writers.stop();
    for log in &logs {
        assert!(
            !log.confirmed.is_empty(),
            "shard {}: no confirmed write",
            log.shard
        );
        let lost = log.lost(&lab).unwrap();
        assert!(
            lost.is_empty(),
            "shard {}: {} of {} confirmed writes lost: {:?}",
            log.shard,
            lost.len(),
            log.confirmed.len(),
            &lost[..lost.len().min(20)]
        );
        eprintln!(
            "shard {}: {} attempts, {} acknowledged, {} confirmed, none lost",
            log.shard,
            log.attempts,
            log.acked,
            log.confirmed.len()
        );
    }
    // Clients are given only the new addresses.
    let new: Vec<String> = (0..6).map(|i| lab.addr(i)).collect();
    let mut con = connect(&new[0], Duration::from_secs(2)).unwrap();
    for (a, b, owner) in cluster_slots(&mut con).unwrap() {
        assert!(new.contains(&owner), "slots {a}-{b} at {owner}");
    }
    // A node that gives clients names sends them to the same names as before the moves,
    // with the new addresses beside them.
    let mut c0 = connect(&new[0], Duration::from_secs(2)).unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("cluster-preferred-endpoint-type")
        .arg("hostname")
        .query(&mut c0)
        .unwrap();
    for log in &logs {
        let owner = lab.owner_of(log.slot, 1).unwrap();
        let key = format!("w{{{}}}:1", log.tag);
        let r: redis::RedisResult<Option<String>> = redis::cmd("GET").arg(&key).query(&mut c0);
        if owner != 0 {
            let e = r.expect_err("a redirect");
            let (to, _) = e.redirect_node().expect("MOVED");
            assert_eq!(to, format!("node{owner}.test:7000"));
        }
    }
    let v: redis::Value = redis::cmd("CLUSTER").arg("SLOTS").query(&mut c0).unwrap();
    let text = format!("{v:?}");
    for (i, addr) in new.iter().enumerate() {
        let ip = addr.rsplit_once(':').unwrap().0;
        assert!(text.contains(&format!("node{i}.test")), "{text}");
        assert!(text.contains(ip), "{ip} in {text}");
    }
    lab.c.nodes.iter_mut().for_each(|n| n.kill());
}
