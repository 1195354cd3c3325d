//! A node that comes back at a new IP address with its nodes.conf — a rescheduled pod with
//! its volume — keeps its id, slots and role, and the others learn the new address from its
//! own heartbeats (on loopback: 127.0.0.2 then 127.0.0.3, both local on Linux).

use cluster_tests::cluster::{parse_nodes, query_string, TestCluster, NODE_TIMEOUT_MS};
use cluster_tests::{pick_port, wait_for, Node};
use std::net::TcpListener;
use std::time::Duration;

/// A port free on every address in `hosts` (and its bus port, 10000 above).
fn port_free_on(hosts: &[&str]) -> u16 {
    (0..100)
        .map(|_| pick_port())
        .find(|&p| {
            hosts.iter().all(|h| {
                TcpListener::bind((*h, p)).is_ok() && TcpListener::bind((*h, p + 10000)).is_ok()
            })
        })
        .expect("a free port")
}

fn cluster_args() -> Vec<String> {
    [
        "--cluster-enabled",
        "yes",
        "--cluster-node-timeout",
        &NODE_TIMEOUT_MS.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A key whose slot (as `node` computes it) passes `f`.
fn key_where(node: &Node, f: impl Fn(u16) -> bool) -> String {
    let mut c = node.client();
    (0..10_000)
        .map(|i| format!("k{i}"))
        .find(|k| {
            let slot: u16 = redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(k)
                .query(&mut c)
                .expect("CLUSTER KEYSLOT");
            f(slot)
        })
        .expect("a key in the wanted slots")
}

/// `(ip:port@cport, flags)` of `id` in `node`'s CLUSTER NODES.
fn seen_as(node: &Node, id: &str) -> Option<(String, String)> {
    let text = query_string(node, &["CLUSTER", "NODES"]).ok()?;
    parse_nodes(&text)
        .into_iter()
        .find(|n| n.id == id)
        .map(|n| (format!("{}@{}", n.addr(), n.cport), n.flags.join(",")))
}

/// Waits until every node in `nodes` sees `id` at `host:port` and reports `cluster_state:ok`.
fn wait_seen_everywhere(nodes: &[&Node], id: &str, host: &str, port: u16) {
    let want = format!("{host}:{port}@{}", port + 10000);
    let ok = wait_for(Duration::from_secs(20), || {
        nodes
            .iter()
            .all(|n| {
                let info = query_string(n, &["CLUSTER", "INFO"]).unwrap_or_default();
                seen_as(n, id).is_some_and(|(addr, flags)| addr == want && !flags.contains("fail"))
                    && info.contains("cluster_state:ok")
            })
            .then_some(())
    });
    let views: Vec<String> = nodes
        .iter()
        .map(|n| query_string(n, &["CLUSTER", "NODES"]).unwrap_or_default())
        .collect();
    assert!(ok.is_some(), "not everyone sees {id} at {want}: {views:#?}");
}

#[test]
fn a_node_restarted_at_a_new_address_keeps_its_identity_and_peers_follow_it() {
    let args = cluster_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // Primaries A and C on 127.0.0.1, primary B on 127.0.0.2, and R on 127.0.0.2
    // replicating A; B and then R come back on 127.0.0.3.
    let on_2_and_3 = || port_free_on(&["127.0.0.2", "127.0.0.3"]);
    let a = Node::start(&args);
    let b = Node::start_in(&[], "127.0.0.2", on_2_and_3(), &args).expect("start B");
    let c = Node::start(&args);
    let r = Node::start_in(&[], "127.0.0.2", on_2_and_3(), &args).expect("start R");
    let mut tc = TestCluster {
        nodes: vec![a, b, c, r],
    };
    tc.form_with_replicas(3);
    assert!(tc.wait_ok(Duration::from_secs(20)), "cluster did not form");
    let ids = tc.ids();
    let (id_b, id_r) = (ids[1].clone(), ids[3].clone());
    let slots_b = parse_nodes(&query_string(&tc.nodes[1], &["CLUSTER", "NODES"]).unwrap())
        .into_iter()
        .find(|n| n.id == id_b)
        .map(|n| n.slots)
        .expect("B's own line");

    // B moves.
    let port_b = tc.nodes[1].port;
    tc.nodes[1].restart_at("127.0.0.3").expect("restart B");
    let others = [&tc.nodes[0], &tc.nodes[2], &tc.nodes[3]];
    wait_seen_everywhere(&others, &id_b, "127.0.0.3", port_b);
    let b = &tc.nodes[1];
    assert_eq!(query_string(b, &["CLUSTER", "MYID"]).unwrap(), id_b);
    // B knows its own new address too (its old one is not among the addresses it binds).
    let own = wait_for(Duration::from_secs(10), || {
        let text = query_string(b, &["CLUSTER", "NODES"]).ok()?;
        parse_nodes(&text)
            .into_iter()
            .find(|n| n.id == id_b && n.is_myself())
            .filter(|n| n.host == "127.0.0.3")
    });
    let own = own.expect("B learns its new address");
    assert_eq!(own.flags.join(","), "myself,master");
    assert_eq!(own.slots, slots_b, "B keeps its slots");
    // Clients are sent to the new address.
    let in_b = |slot: u16| slots_b.binary_search(&slot).is_ok();
    let key = key_where(&tc.nodes[0], in_b);
    let err = cluster_tests::server_error(&mut tc.nodes[0].client(), &["SET", &key, "v"]);
    assert!(err.ends_with(&format!(" 127.0.0.3:{port_b}")), "{err}");
    let mut cc = tc.cluster_client();
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg("v")
        .query(&mut cc)
        .expect("SET via B");

    // R, a replica, moves: still a replica of A, seen at its new address.
    let port_r = tc.nodes[3].port;
    tc.nodes[3].restart_at("127.0.0.3").expect("restart R");
    let others = [&tc.nodes[0], &tc.nodes[1], &tc.nodes[2]];
    wait_seen_everywhere(&others, &id_r, "127.0.0.3", port_r);
    let (_, flags) = seen_as(&tc.nodes[0], &id_r).unwrap();
    assert_eq!(flags, "slave");
    let text = query_string(&tc.nodes[0], &["CLUSTER", "NODES"]).unwrap();
    let line = text.lines().find(|l| l.starts_with(&id_r)).unwrap();
    assert_eq!(line.split(' ').nth(3), Some(ids[0].as_str()), "{line}");
    // And it replicates again: a write on A reaches it.
    let mut ca = tc.nodes[0].client();
    // form_with_replicas gives A (the first of three) slots 0-5460.
    let key_a = key_where(&tc.nodes[0], |slot| slot <= 5460);
    let _: () = redis::cmd("SET")
        .arg(&key_a)
        .arg("after-move")
        .query(&mut ca)
        .unwrap();
    let replicated = wait_for(Duration::from_secs(10), || {
        let mut cr = tc.nodes[3].client();
        let _: () = redis::cmd("READONLY").query(&mut cr).ok()?;
        let v: Option<String> = redis::cmd("GET").arg(&key_a).query(&mut cr).ok()?;
        (v.as_deref() == Some("after-move")).then_some(())
    });
    assert!(replicated.is_some(), "R replicates A from its new address");
    assert!(tc.wait_ok(Duration::from_secs(20)));
}
