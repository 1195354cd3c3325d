//! Numbered databases in cluster mode (`cluster-databases`, Valkey 9's option): SELECT, MOVE,
//! COPY ... DB and the per-database commands in a 3x2 cluster; replication and DEBUG DIGEST
//! over every database; a failover; stock `redis-cli --cluster reshard` (database 0 only)
//! stopped by CLUSTER SETSLOT NODE without losing the other databases' keys, which
//! `slotcache-cli cluster fix` then hands over; a `slotcache-cli` rebalance moving every
//! database. With the default (1), Redis Cluster's refusals stay as they were.
//!
//! Clients talk to each key's owner directly: the `redis` crate's cluster client has no
//! notion of a selected database.

use cluster_tests::cluster::{parse_nodes, query_string, TestCluster};
use cluster_tests::{cli_bin, q, server_error, wait_for, Node};
use std::process::Command;
use std::time::Duration;

/// Databases the cluster serves in the main test.
const DBS: usize = 8;
/// The databases the main test writes in.
const USED: [usize; 3] = [0, 3, 7];
/// Slots with keys: both ends of each primary's range (so the slot `rebalance` moves, the
/// top of a range, is among them) and one inside.
const SLOTS: [u16; 7] = [0, 100, 5460, 5461, 10921, 10922, 16383];

/// CRC16/XMODEM, the cluster's key hash.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// A hash tag `{...}` whose keys all land in `slot`.
fn tag_for(slot: u16) -> String {
    (0u32..)
        .map(|i| format!("t{i}"))
        .find(|t| crc16(t.as_bytes()) % 16384 == slot)
        .expect("every slot has a tag")
}

/// The key the test keeps in `slot` and database `db`, and its value.
fn key(tag: &str, db: usize) -> (String, String) {
    (format!("{{{tag}}}:k"), format!("v{db}"))
}

/// A connection to `node` with database `db` selected.
fn conn_db(node: &Node, db: usize) -> redis::Connection {
    let mut c = node.client();
    let _: () = q(&mut c, &["SELECT", &db.to_string()]);
    c
}

/// The index of the node with id `id`.
fn index_of(ids: &[String], id: &str) -> usize {
    ids.iter()
        .position(|i| i == id)
        .unwrap_or_else(|| panic!("unknown node {id}"))
}

/// The index of the primary owning `slot`, as node `from` sees it.
fn owner(c: &TestCluster, ids: &[String], from: usize, slot: u16) -> usize {
    let id = c.owner_of(from, slot).expect("slot has an owner");
    index_of(ids, &id)
}

fn digest(node: &Node) -> String {
    query_string(node, &["DEBUG", "DIGEST"]).expect("DEBUG DIGEST")
}

/// Waits until every replica's DEBUG DIGEST (all databases) equals its primary's.
fn assert_replicas_match(c: &TestCluster, ids: &[String], from: usize) {
    let text = query_string(&c.nodes[from], &["CLUSTER", "NODES"]).unwrap();
    let pairs: Vec<(usize, usize)> = text
        .lines()
        .filter(|l| l.contains("slave") && !l.contains("fail"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let replica = ids.iter().position(|i| i == f[0])?;
            let primary = ids.iter().position(|i| i == f[3])?;
            Some((replica, primary))
        })
        .collect();
    assert!(!pairs.is_empty(), "no replicas in {text}");
    for (r, p) in pairs {
        let same = wait_for(Duration::from_secs(20), || {
            let d = digest(&c.nodes[p]);
            (d == digest(&c.nodes[r])).then_some(d)
        });
        let d = same.unwrap_or_else(|| {
            panic!(
                "replica {r} never matched primary {p}: {} vs {}",
                digest(&c.nodes[r]),
                digest(&c.nodes[p])
            )
        });
        assert_ne!(d, "0".repeat(40), "the digest covers data");
    }
}

/// Every key the test wrote reads back from its slot's owner, in its database.
fn assert_all_keys(c: &TestCluster, ids: &[String], from: usize, tags: &[(u16, String)]) {
    for (slot, tag) in tags {
        let o = owner(c, ids, from, *slot);
        for db in USED {
            let (k, v) = key(tag, db);
            let got: Option<String> = q(&mut conn_db(&c.nodes[o], db), &["GET", &k]);
            assert_eq!(
                got.as_deref(),
                Some(v.as_str()),
                "{k} in db {db} on its owner {o}"
            );
        }
    }
}

/// The keys `node` holds of `slot` in every database.
fn keys_in_slot_everywhere(node: &Node, slot: u16) -> i64 {
    (0..DBS)
        .map(|db| {
            q::<i64>(
                &mut conn_db(node, db),
                &["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()],
            )
        })
        .sum()
}

/// Runs a tool under `timeout 60`; (success, stdout and stderr).
fn tool(bin: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("timeout")
        .arg("60")
        .arg(bin)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn default_cluster_mode_keeps_redis_cluster_refusals() {
    let node = Node::start(&["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"]);
    let mut c = node.client();
    cluster_tests::own_all_slots(&mut c);
    let v: Vec<String> = q(&mut c, &["CONFIG", "GET", "cluster-databases"]);
    assert_eq!(v, ["cluster-databases", "1"]);
    let _: () = q(&mut c, &["SELECT", "0"]);
    let _: () = q(&mut c, &["SET", "{a}x", "1"]);
    for (args, err) in [
        (
            &["SELECT", "1"][..],
            "ERR SELECT is not allowed in cluster mode",
        ),
        (
            &["MOVE", "{a}x", "1"],
            "ERR MOVE is not allowed in cluster mode",
        ),
        (
            &["COPY", "{a}x", "{a}y", "DB", "1"],
            "ERR Copying to another database is not allowed in cluster mode",
        ),
        (
            &["SWAPDB", "0", "1"],
            "ERR SWAPDB is not allowed in cluster mode",
        ),
    ] {
        assert_eq!(server_error(&mut c, args), err, "{args:?}");
    }
    // The option cannot be changed at run time (as Valkey's).
    assert!(
        server_error(&mut c, &["CONFIG", "SET", "cluster-databases", "4"])
            .contains("can't set immutable config")
    );
}

#[test]
fn slot_commands_see_every_database() {
    let mut node = Node::start(&[
        "--cluster-enabled",
        "yes",
        "--cluster-node-timeout",
        "1000",
        "--cluster-databases",
        "4",
    ]);
    let mut c = node.client();
    cluster_tests::own_all_slots(&mut c);
    let mut d2 = conn_db(&node, 2);
    let _: () = q(&mut d2, &["SET", "{x}a", "1"]);
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 0, "database 0 is empty");
    // Emptiness checks cover every database (as Valkey's).
    assert_eq!(
        server_error(&mut c, &["CLUSTER", "FLUSHSLOTS"]),
        "ERR DB must be empty to perform CLUSTER FLUSHSLOTS."
    );
    assert_eq!(
        server_error(&mut c, &["CLUSTER", "RESET"]),
        "ERR CLUSTER RESET can't be called with master nodes containing keys"
    );
    // INFO keyspace lists the database; slotcache-cli will not add such a node as empty.
    let info: String = q(&mut c, &["INFO", "keyspace"]);
    assert!(info.contains("db2:keys=1,"), "{info}");
    let addr = format!("{}:{}", node.host, node.port);
    let cli = cli_bin();
    let (ok, out) = tool(
        cli.to_str().unwrap(),
        &["cluster", "add-node", &addr, "--to", &addr],
    );
    assert!(!ok && out.contains("holds 1 key(s)"), "{out}");
    // The snapshot keeps every database across a restart.
    let _: () = q(&mut c, &["SAVE"]);
    node.restart().expect("restart");
    let mut d2 = conn_db(&node, 2);
    assert_eq!(q::<String>(&mut d2, &["GET", "{x}a"]), "1");
    let _: () = q(&mut d2, &["FLUSHDB"]);
    let _: () = q(&mut node.client(), &["CLUSTER", "FLUSHSLOTS"]);
}

#[test]
fn numbered_databases_in_a_3x2_cluster() {
    let dbs = DBS.to_string();
    let (mut c, ids) = TestCluster::start_3x2(&["--cluster-databases", &dbs]);
    let tags: Vec<(u16, String)> = SLOTS.iter().map(|&s| (s, tag_for(s))).collect();

    // SELECT reaches databases 0..7; beyond is out of range; SWAPDB stays refused.
    let mut n0 = c.nodes[0].client();
    let _: () = q(&mut n0, &["SELECT", "7"]);
    assert_eq!(
        server_error(&mut n0, &["SELECT", &dbs]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        server_error(&mut n0, &["SWAPDB", "1", "2"]),
        "ERR SWAPDB is not allowed in cluster mode"
    );

    // The same key in three databases of every slot, written on its owner; a node that
    // does not own the slot redirects in any database.
    for (slot, tag) in &tags {
        let o = owner(&c, &ids, 0, *slot);
        for db in USED {
            let (k, v) = key(tag, db);
            let _: () = q(&mut conn_db(&c.nodes[o], db), &["SET", &k, &v]);
        }
        let other = (o + 1) % 3;
        let (k, _) = key(tag, 3);
        let e = server_error(&mut conn_db(&c.nodes[other], 3), &["GET", &k]);
        assert!(e.starts_with(&format!("MOVED {slot} ")), "{e}");
    }
    assert_all_keys(&c, &ids, 1, &tags);

    // Per-database commands on the owner of slot 100 (node 0).
    let tag = &tags[1].1;
    let mut d3 = conn_db(&c.nodes[0], 3);
    let s100 = "100";
    assert_eq!(q::<i64>(&mut d3, &["CLUSTER", "COUNTKEYSINSLOT", s100]), 1);
    let in_slot: Vec<String> = q(&mut d3, &["CLUSTER", "GETKEYSINSLOT", s100, "10"]);
    assert_eq!(in_slot, [key(tag, 3).0]);
    let moved_key = format!("{{{tag}}}:mv");
    let _: () = q(&mut d3, &["SET", &moved_key, "m"]);
    assert_eq!(q::<i64>(&mut d3, &["MOVE", &moved_key, "5"]), 1);
    assert_eq!(q::<i64>(&mut d3, &["EXISTS", &moved_key]), 0);
    let copied = format!("{{{tag}}}:cp");
    let (k3, v3) = key(tag, 3);
    assert_eq!(q::<i64>(&mut d3, &["COPY", &k3, &copied, "DB", "6"]), 1);
    let mut d5 = conn_db(&c.nodes[0], 5);
    assert_eq!(q::<i64>(&mut d5, &["CLUSTER", "COUNTKEYSINSLOT", s100]), 1);
    assert_eq!(q::<String>(&mut d5, &["GET", &moved_key]), "m");
    assert_eq!(q::<i64>(&mut d5, &["DBSIZE"]), 1);
    let mut d6 = conn_db(&c.nodes[0], 6);
    assert_eq!(q::<String>(&mut d6, &["GET", &copied]), v3);
    let keys: Vec<String> = q(&mut d3, &["KEYS", &format!("{{{tag}}}*")]);
    assert_eq!(keys, std::slice::from_ref(&k3));
    let (_, scanned): (String, Vec<String>) =
        q(&mut d6, &["SCAN", "0", "MATCH", "*:cp", "COUNT", "1000"]);
    assert_eq!(scanned, std::slice::from_ref(&copied));
    let _: () = q(&mut d6, &["FLUSHDB"]);
    assert_eq!(q::<i64>(&mut d6, &["DBSIZE"]), 0);
    assert_eq!(
        q::<i64>(&mut d5, &["DBSIZE"]),
        1,
        "FLUSHDB empties one database"
    );

    // A migrating slot serves the keys the client's database holds and sends the others
    // to the importing node with ASK.
    let s100 = s100.to_string();
    let _: () = q(
        &mut c.nodes[1].client(),
        &["CLUSTER", "SETSLOT", &s100, "IMPORTING", &ids[0]],
    );
    let _: () = q(
        &mut c.nodes[0].client(),
        &["CLUSTER", "SETSLOT", &s100, "MIGRATING", &ids[1]],
    );
    assert_eq!(q::<String>(&mut d3, &["GET", &k3]), v3);
    assert_eq!(q::<String>(&mut d5, &["GET", &moved_key]), "m");
    let ask = server_error(&mut d6, &["GET", &copied]);
    assert!(ask.starts_with("ASK 100 "), "{ask}");
    let ask = server_error(&mut d3, &["GET", &moved_key]);
    assert!(ask.starts_with("ASK 100 "), "{ask}");
    for n in [0, 1] {
        let _: () = q(
            &mut c.nodes[n].client(),
            &["CLUSTER", "SETSLOT", &s100, "STABLE"],
        );
    }

    // Replicas hold every database (READONLY reads in db 7) and digest alike.
    let mut r = conn_db(&c.nodes[3], 7);
    let _: () = q(&mut r, &["READONLY"]);
    let (k7, v7) = key(&tags[0].1, 7);
    let seen = wait_for(Duration::from_secs(10), || {
        q::<Option<String>>(&mut r, &["GET", &k7]).filter(|v| *v == v7)
    });
    assert!(seen.is_some(), "the replica has {k7} in db 7");
    assert_replicas_match(&c, &ids, 1);

    // A replica restarted empty gets every database back with a full sync.
    c.nodes[4].restart().expect("restart node 4");
    let synced = wait_for(Duration::from_secs(20), || {
        (digest(&c.nodes[4]) == digest(&c.nodes[1])).then_some(())
    });
    assert!(synced.is_some(), "node 4 resynced every database");
    let (k7, v7) = key(&tags[3].1, 7);
    let mut r4 = conn_db(&c.nodes[4], 7);
    let _: () = q(&mut r4, &["READONLY"]);
    assert_eq!(q::<String>(&mut r4, &["GET", &k7]), v7);

    // Failover: node 3 takes over node 0's slots with every database.
    let _: () = q(&mut c.nodes[3].client(), &["CLUSTER", "FAILOVER"]);
    let promoted = wait_for(Duration::from_secs(20), || {
        (c.owner_of(1, 0).as_deref() == Some(ids[3].as_str())
            && query_string(&c.nodes[3], &["INFO", "replication"])
                .unwrap_or_default()
                .contains("role:master"))
        .then_some(())
    });
    assert!(promoted.is_some(), "node 3 took over slot 0");
    assert_all_keys(&c, &ids, 1, &tags);
    let _: () = q(&mut conn_db(&c.nodes[3], 3), &["SET", &k3, &v3]);
    assert_replicas_match(&c, &ids, 1);

    // Stock redis-cli moves database 0 only: it moves slot 0's db-0 key, tells the target
    // (which takes the slot), then the source refuses SETSLOT NODE naming database 3.
    // redis-cli refuses to start while nodes disagree on who owns what ("Nodes don't agree
    // about configuration"): wait until every view of the failover is the same.
    let agreed = wait_for(Duration::from_secs(20), || {
        let views: Vec<Vec<(String, Vec<u16>)>> = c
            .nodes
            .iter()
            .map(|n| {
                let mut v: Vec<(String, Vec<u16>)> =
                    parse_nodes(&query_string(n, &["CLUSTER", "NODES"]).unwrap_or_default())
                        .into_iter()
                        .filter(|l| l.is_primary() && !l.slots.is_empty())
                        .map(|l| (l.id, l.slots))
                        .collect();
                v.sort();
                v
            })
            .collect();
        views.windows(2).all(|w| w[0] == w[1]).then_some(())
    });
    assert!(
        agreed.is_some(),
        "the nodes agree on the slots after the failover"
    );
    let seed = c.addrs()[1].clone();
    assert_eq!(keys_in_slot_everywhere(&c.nodes[3], 0), 3);
    let (ok, out) = tool(
        "redis-cli",
        &[
            "--cluster",
            "reshard",
            &seed,
            "--cluster-from",
            &ids[3],
            "--cluster-to",
            &ids[1],
            "--cluster-slots",
            "1",
            "--cluster-yes",
        ],
    );
    assert!(
        !ok,
        "redis-cli reshard must not finish: {out}\n{}",
        c.nodes[3].log()
    );
    assert!(
        out.contains("still hold keys for this hash slot in database 3"),
        "{out}"
    );
    // The target owns slot 0; the source keeps its keys of databases 3 and 7, marked for the
    // handover, instead of deleting them as a lost slot's.
    let marker = format!("[0->-{}]", ids[1]);
    let held = wait_for(Duration::from_secs(10), || {
        let mine = query_string(&c.nodes[3], &["CLUSTER", "NODES"]).ok()?;
        (c.owner_of(3, 0).as_deref() == Some(ids[1].as_str())
            && mine
                .lines()
                .any(|l| l.contains("myself") && l.contains(&marker)))
        .then_some(())
    });
    assert!(
        held.is_some(),
        "slot 0 went to node 1 and node 3 holds it open: {}",
        c.nodes[3]
            .log()
            .lines()
            .filter(|l| l.contains("slot") || l.contains("Slot") || l.contains("keys"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(
        keys_in_slot_everywhere(&c.nodes[3], 0),
        2,
        "db 3 and db 7 kept"
    );
    assert_eq!(keys_in_slot_everywhere(&c.nodes[1], 0), 1, "db 0 moved");

    // slotcache-cli fix hands the rest over (every database) and closes the slot.
    let cli = cli_bin();
    let cli = cli.to_str().unwrap();
    let (ok, out) = tool(cli, &["cluster", "fix", &seed, "--wait", "20"]);
    assert!(ok, "fix: {out}");
    assert_eq!(keys_in_slot_everywhere(&c.nodes[3], 0), 0);
    assert_eq!(keys_in_slot_everywhere(&c.nodes[1], 0), 3);
    let mine = query_string(&c.nodes[3], &["CLUSTER", "NODES"]).unwrap();
    assert!(!mine.contains("->-"), "slot closed: {mine}");
    assert_all_keys(&c, &ids, 1, &tags);

    // slotcache-cli rebalance gives node 3 back one slot (the top of a fuller primary's
    // range, where keys wait in three databases), moving every database.
    let (ok, out) = tool(cli, &["cluster", "rebalance", &seed, "--wait", "20"]);
    assert!(ok, "rebalance: {out}");
    let back = wait_for(Duration::from_secs(10), || {
        [10921u16, 16383]
            .into_iter()
            .find(|&s| c.owner_of(1, s).as_deref() == Some(ids[3].as_str()))
    })
    .expect("a top slot moved to node 3");
    let owners = parse_nodes(&query_string(&c.nodes[1], &["CLUSTER", "NODES"]).unwrap());
    assert!(owners.iter().any(|n| n.id == ids[3]));
    assert_eq!(keys_in_slot_everywhere(&c.nodes[3], back), 3);
    assert_all_keys(&c, &ids, 1, &tags);
    assert_replicas_match(&c, &ids, 1);
}
