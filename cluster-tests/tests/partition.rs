//! A real partition: nodes in their own network namespaces; one primary is cut off with a
//! client on its side. The isolated primary stops acknowledging writes within its lease, the
//! majority fails it over, and after the heal there is one primary per slot with agreeing data.

use cluster_tests::cluster::{parse_nodes, query_string, TestCluster, NODE_TIMEOUT_MS};
use cluster_tests::netns::NetLab;
use cluster_tests::{run_tool, wait_for, Node};
use std::time::{Duration, Instant};

fn owner_of_slot0(node: &Node) -> Option<String> {
    let text = query_string(node, &["CLUSTER", "NODES"]).ok()?;
    parse_nodes(&text)
        .into_iter()
        .find(|n| n.owns(0) && n.is_primary())
        .map(|n| n.id)
}

#[test]
fn an_isolated_primary_stops_acknowledging_within_its_lease_and_is_replaced() {
    let lab = NetLab::new(6)
        .unwrap_or_else(|e| panic!("network namespaces are required for this test: {e}"));
    let timeout = NODE_TIMEOUT_MS.to_string();
    let args = [
        "--cluster-enabled",
        "yes",
        "--cluster-node-timeout",
        timeout.as_str(),
    ];
    let nodes: Vec<Node> = (0..6)
        .map(|i| {
            Node::start_in(&lab.prefix(i), &lab.ip(i), 7000, &args)
                .expect("start node in namespace")
        })
        .collect();
    let c = TestCluster { nodes };
    c.form_with_replicas(3);
    assert!(c.wait_ok(Duration::from_secs(20)), "cluster not ok");
    let ids = c.ids();
    let victim = (0..3)
        .find(|&i| owner_of_slot0(&c.nodes[1]) == Some(ids[i].clone()))
        .unwrap();
    let ready = wait_for(Duration::from_secs(20), || {
        let text = query_string(&c.nodes[victim], &["CLUSTER", "NODES"]).ok()?;
        (text.lines().filter(|l| l.contains("slave")).count() == 3).then_some(())
    });
    assert!(ready.is_some());

    // A client inside the victim's namespace keeps writing through the partition.
    let ns = lab.ns(victim);
    let host = lab.ip(victim);
    lab.cut(victim).unwrap();
    let cut_at = Instant::now();
    let mut last_ack = None;
    let mut i = 0;
    while cut_at.elapsed() < Duration::from_millis(3 * NODE_TIMEOUT_MS) {
        i += 1;
        let (ok, out) = run_tool(
            "ip",
            &[
                "netns",
                "exec",
                &ns,
                "redis-cli",
                "-h",
                &host,
                "-p",
                "7000",
                "SET",
                "{06S}minority",
                &i.to_string(),
            ],
            None,
        );
        if ok && out.trim() == "OK" {
            last_ack = Some(cut_at.elapsed());
        }
    }
    let window = last_ack.unwrap_or_default();
    eprintln!("isolated primary acknowledged writes for {window:?} after the cut");
    assert!(
        window <= Duration::from_millis(NODE_TIMEOUT_MS),
        "minority window {window:?}"
    );

    // The majority side elected a replacement.
    let majority: Vec<usize> = (0..6).filter(|&i| i != victim).collect();
    let replaced = wait_for(Duration::from_secs(15), || {
        let o = owner_of_slot0(&c.nodes[majority[0]])?;
        (o != ids[victim]).then_some(o)
    });
    let new_primary = replaced.expect("no failover on the majority side");

    // Heal: one primary per slot, the old one follows the new one with the same data.
    lab.heal(victim).unwrap();
    let settled = wait_for(Duration::from_secs(20), || {
        let views: Vec<Option<String>> = c.nodes.iter().map(owner_of_slot0).collect();
        views
            .iter()
            .all(|v| v.as_deref() == Some(new_primary.as_str()))
            .then_some(())
    });
    assert!(settled.is_some(), "views did not converge after the heal");
    let np = ids.iter().position(|id| *id == new_primary).unwrap();
    let same = wait_for(Duration::from_secs(20), || {
        let a: String = redis::cmd("DEBUG")
            .arg("DIGEST")
            .query(&mut c.nodes[np].client())
            .ok()?;
        let b: String = redis::cmd("DEBUG")
            .arg("DIGEST")
            .query(&mut c.nodes[victim].client())
            .ok()?;
        (a == b).then_some(())
    });
    assert!(
        same.is_some(),
        "the old primary's data does not match the new primary's"
    );
}
