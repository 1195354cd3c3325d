//! Sharded pub/sub across a shard, as Redis 7.0 serves it: a replica takes SSUBSCRIBE for
//! its primary's slots (no READONLY, no MOVED), and every SPUBLISH in the shard, on the
//! primary or on a replica, reaches the subscribers on all of the shard's nodes; and, by
//! default (`cluster-allow-pubsubshard-when-down yes`), it keeps working while the cluster is
//! down.

use cluster_tests::cluster::{parse_nodes, query_string, TestCluster};
use cluster_tests::{q, server_error, wait_for, Node};
use std::time::Duration;

/// "{06S}" hashes to slot 0, served by the first primary.
const CHANNEL: &str = "{06S}news";

/// Three primaries and a replica of the first, once every node reports ok and the first
/// primary lists the replica as its own (SPUBLISH goes to the nodes it knows in its shard).
fn shard_with_replica() -> (TestCluster, Vec<String>) {
    let c = TestCluster::start(4, &[]);
    c.form_with_replicas(3);
    assert!(c.wait_ok(Duration::from_secs(15)), "cluster did not form");
    let ids = c.ids();
    let known = wait_for(Duration::from_secs(10), || {
        let text = query_string(&c.nodes[0], &["CLUSTER", "NODES"]).ok()?;
        parse_nodes(&text)
            .iter()
            .any(|n| n.id == ids[3] && n.is_replica())
            .then_some(())
    });
    assert!(known.is_some(), "the primary never saw its replica");
    (c, ids)
}

/// A connection subscribed with SSUBSCRIBE (RESP2), reading with a deadline.
fn ssubscribe(node: &Node, channel: &str) -> redis::Connection {
    let mut c = node.client();
    let confirm: Vec<redis::Value> = q(&mut c, &["SSUBSCRIBE", channel]);
    assert_eq!(
        confirm,
        vec![
            redis::Value::BulkString(b"ssubscribe".to_vec()),
            redis::Value::BulkString(channel.as_bytes().to_vec()),
            redis::Value::Int(1),
        ]
    );
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c
}

/// The next `smessage` on a subscribed connection: (channel, payload).
fn next_smessage(c: &mut redis::Connection) -> (String, String) {
    let v = c.recv_response().expect("an smessage within the deadline");
    let parts: Vec<String> = redis::from_redis_value(&v).unwrap();
    assert_eq!(parts.len(), 3, "{parts:?}");
    assert_eq!(parts[0], "smessage");
    (parts[1].clone(), parts[2].clone())
}

#[test]
fn a_replica_serves_ssubscribe_and_hears_every_spublish_of_its_shard() {
    let (c, _ids) = shard_with_replica();
    // On the replica, without READONLY: subscribed, not redirected.
    let mut on_replica = ssubscribe(&c.nodes[3], CHANNEL);
    let mut on_primary = ssubscribe(&c.nodes[0], CHANNEL);
    // Published on the primary: its own subscriber is counted, the replica's hears it.
    let n: i64 = q(
        &mut c.nodes[0].client(),
        &["SPUBLISH", CHANNEL, "from-primary"],
    );
    assert_eq!(
        n, 1,
        "the reply counts this node's receivers, as Redis's does"
    );
    let want = (CHANNEL.to_string(), "from-primary".to_string());
    assert_eq!(next_smessage(&mut on_replica), want);
    assert_eq!(next_smessage(&mut on_primary), want);
    // Published on the replica (also served there): the primary's subscriber hears it.
    let n: i64 = q(
        &mut c.nodes[3].client(),
        &["SPUBLISH", CHANNEL, "from-replica"],
    );
    assert_eq!(n, 1);
    let want = (CHANNEL.to_string(), "from-replica".to_string());
    assert_eq!(next_smessage(&mut on_replica), want);
    assert_eq!(next_smessage(&mut on_primary), want);
}

#[test]
fn sharded_commands_for_another_shard_are_still_redirected() {
    let (c, _ids) = shard_with_replica();
    // "foo" hashes to slot 12182, served by the third primary.
    let moved = format!("MOVED 12182 127.0.0.1:{}", c.nodes[2].port);
    let mut r = c.nodes[3].client();
    assert_eq!(server_error(&mut r, &["SSUBSCRIBE", "foo"]), moved);
    assert_eq!(server_error(&mut r, &["SPUBLISH", "foo", "x"]), moved);
    // A primary of another shard redirects the replica's shard to its owner.
    let moved = format!("MOVED 0 127.0.0.1:{}", c.nodes[0].port);
    let mut other = c.nodes[1].client();
    assert_eq!(server_error(&mut other, &["SPUBLISH", CHANNEL, "x"]), moved);
}

#[test]
fn sharded_pubsub_keeps_working_while_the_cluster_is_down_unless_configured_not_to() {
    let (c, _ids) = shard_with_replica();
    let mut primary = c.nodes[0].client();
    // The primary gives up another of its slots: in its own view the cluster is down.
    let _: () = q(&mut primary, &["CLUSTER", "DELSLOTS", "100"]);
    let info: String = q(&mut primary, &["CLUSTER", "INFO"]);
    assert!(info.contains("cluster_state:fail"), "{info}");
    assert_eq!(
        server_error(&mut primary, &["GET", "{06S}k"]),
        "CLUSTERDOWN The cluster is down"
    );
    // cluster-allow-pubsubshard-when-down defaults to yes, as in Redis 7.0.
    let v: Vec<String> = q(
        &mut primary,
        &["CONFIG", "GET", "cluster-allow-pubsubshard-when-down"],
    );
    assert_eq!(v, ["cluster-allow-pubsubshard-when-down", "yes"]);
    let mut on_primary = ssubscribe(&c.nodes[0], CHANNEL);
    let n: i64 = q(&mut primary, &["SPUBLISH", CHANNEL, "while-down"]);
    assert_eq!(n, 1);
    assert_eq!(
        next_smessage(&mut on_primary),
        (CHANNEL.to_string(), "while-down".to_string())
    );
    let _: () = q(
        &mut primary,
        &["CONFIG", "SET", "cluster-allow-pubsubshard-when-down", "no"],
    );
    assert_eq!(
        server_error(&mut primary, &["SPUBLISH", CHANNEL, "x"]),
        "CLUSTERDOWN The cluster is down"
    );
    assert_eq!(
        server_error(&mut primary, &["SSUBSCRIBE", "{06S}other"]),
        "CLUSTERDOWN The cluster is down"
    );
    // Giving the slot back brings the cluster, and sharded pub/sub, back.
    let _: () = q(&mut primary, &["CLUSTER", "ADDSLOTS", "100"]);
    assert!(c.wait_ok(Duration::from_secs(10)));
    let n: i64 = q(&mut primary, &["SPUBLISH", CHANNEL, "back"]);
    assert_eq!(n, 1);
}
