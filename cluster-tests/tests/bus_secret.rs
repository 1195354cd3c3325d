//! The bus secret (`cluster-secret`, issue #27): only nodes holding it speak on the bus. A
//! raw socket sending a valid-looking MEET that claims every slot (as in bus_hostile.rs),
//! a forged hello, a node with another secret: all refused, counted, and nothing changes.
//! Rotating the secret under a write load keeps every link up (no PFAIL, no failover).

use cluster_tests::cluster::{parse_nodes, query_string, TestCluster, NODE_TIMEOUT_MS};
use cluster_tests::{info_field, q, wait_for, Node};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The bus messages a forger sends (the shapes of `server/src/cluster/message.rs`).
mod wire {
    use serde::Serialize;

    #[derive(Serialize, Clone, Default)]
    pub struct Header {
        pub id: String,
        pub ip: String,
        pub port: u16,
        pub cport: u16,
        pub flags: u16,
        pub primary: Option<String>,
        pub config_epoch: u64,
        pub current_epoch: u64,
        pub slots: Vec<(u16, u16)>,
        pub repl_offset: u64,
    }

    #[derive(Serialize, Clone)]
    pub enum Kind {
        Ping,
        Meet,
    }

    #[derive(Serialize, Clone)]
    pub struct Message {
        pub version: u16,
        pub kind: Kind,
        pub sender: Header,
        pub gossip: Vec<()>,
    }

    pub fn frame(m: &Message) -> Vec<u8> {
        let body = rmp_serde::to_vec_named(m).expect("encode");
        let mut out = (body.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&body);
        out
    }

    /// A frame claiming every slot at a high epoch from a made-up node.
    pub fn takeover(kind: Kind) -> Vec<u8> {
        frame(&Message {
            version: 1,
            kind,
            sender: Header {
                id: format!("{:040x}", 0xa77ac_u64),
                ip: "127.0.0.1".into(),
                port: 1,
                cport: 10001,
                flags: 1,
                config_epoch: 1000,
                current_epoch: 1000,
                slots: vec![(0, 16383)],
                ..Default::default()
            },
            gossip: Vec::new(),
        })
    }
}

const SECRET: &str = "correct horse battery staple";

fn timeout() -> String {
    NODE_TIMEOUT_MS.to_string()
}

fn rejected(node: &Node) -> u64 {
    let info: String = q(&mut node.client(), &["INFO", "cluster"]);
    info_field(&info, "cluster_bus_auth_rejected")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn cluster_info(node: &Node, field: &str) -> String {
    let info = query_string(node, &["CLUSTER", "INFO"]).expect("CLUSTER INFO");
    info_field(&info, field).unwrap_or_default()
}

/// Whether the node closed the connection within `within` without answering.
fn dropped_unanswered(s: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 1024];
    while Instant::now() < deadline {
        s.set_read_timeout(Some(Duration::from_millis(50))).ok();
        match s.read(&mut buf) {
            Ok(0) => return true,
            // The node's own hello is all it may send.
            Ok(n) if n <= 38 && buf.starts_with(b"SCBA") => {}
            Ok(_) => return false,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn a_peer_without_the_secret_changes_nothing() {
    let t = timeout();
    let node = Node::start(&[
        "--cluster-enabled",
        "yes",
        "--cluster-node-timeout",
        &t,
        "--cluster-secret",
        SECRET,
    ]);
    let r = query_string(&node, &["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]);
    assert_eq!(r.as_deref(), Ok("OK"));
    let r = query_string(&node, &["CLUSTER", "SET-CONFIG-EPOCH", "1"]);
    assert_eq!(r.as_deref(), Ok("OK"));
    let ok = wait_for(Duration::from_secs(10), || {
        (cluster_info(&node, "cluster_state") == "ok").then_some(())
    });
    assert!(ok.is_some());
    let nodes_before = query_string(&node, &["CLUSTER", "NODES"]).unwrap();
    let bus = || {
        let s = TcpStream::connect(("127.0.0.1", node.port + 10000)).expect("bus");
        s.set_read_timeout(Some(Duration::from_secs(5))).ok();
        s
    };

    // A MEET claiming every slot, then a slot-claiming PING, as a node without the secret
    // sends them.
    let mut s = bus();
    s.write_all(&wire::takeover(wire::Kind::Meet)).unwrap();
    assert!(dropped_unanswered(&mut s, Duration::from_secs(5)));
    let mut s = bus();
    s.write_all(&wire::takeover(wire::Kind::Ping)).unwrap();
    assert!(dropped_unanswered(&mut s, Duration::from_secs(5)));
    // A well-formed hello (any nonce, a made-up secret id) and a MEET with a made-up tag.
    let mut s = bus();
    let mut hello = b"SCBA\x01".to_vec();
    hello.extend_from_slice(&[7u8; 16]);
    hello.push(1);
    hello.extend_from_slice(&[9u8; 8]);
    s.write_all(&hello).unwrap();
    let mut framed = wire::takeover(wire::Kind::Meet);
    framed.extend_from_slice(&[0u8; 32]);
    let _ = s.write_all(&framed);
    assert!(dropped_unanswered(&mut s, Duration::from_secs(5)));

    let counted = wait_for(Duration::from_secs(5), || {
        (rejected(&node) >= 3).then_some(())
    });
    assert!(counted.is_some(), "refusals counted: {}", rejected(&node));
    assert_eq!(
        query_string(&node, &["CLUSTER", "NODES"]).unwrap(),
        nodes_before
    );
    assert_eq!(cluster_info(&node, "cluster_current_epoch"), "1");
    assert_eq!(cluster_info(&node, "cluster_known_nodes"), "1");
    // Logged once per peer address, not per connection.
    let lines = node
        .log()
        .lines()
        .filter(|l| l.contains("refused connection") && l.contains("logged once"))
        .count();
    assert_eq!(lines, 1, "{}", node.log());
}

#[test]
fn members_share_the_secret_and_a_node_with_another_cannot_join() {
    let t = timeout();
    let args = [
        "--cluster-enabled",
        "yes",
        "--cluster-node-timeout",
        &t,
        "--cluster-secret",
        SECRET,
    ];
    let cluster = TestCluster {
        nodes: (0..3).map(|_| Node::start(&args)).collect(),
    };
    cluster.form_by_hand();
    assert!(
        cluster.wait_ok(Duration::from_secs(20)),
        "{}",
        cluster.nodes[0].log()
    );
    let mut c = cluster.cluster_client();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();

    let outsider = Node::start(&[
        "--cluster-enabled",
        "yes",
        "--cluster-node-timeout",
        &t,
        "--cluster-secret",
        "a guess",
    ]);
    let before = rejected(&cluster.nodes[0]);
    let member_port = cluster.nodes[0].port.to_string();
    let r = query_string(&outsider, &["CLUSTER", "MEET", "127.0.0.1", &member_port]);
    assert_eq!(r.as_deref(), Ok("OK"));
    let refused = wait_for(Duration::from_secs(10), || {
        (rejected(&cluster.nodes[0]) > before).then_some(())
    });
    assert!(refused.is_some(), "{}", cluster.nodes[0].log());
    // And a member told to meet the outsider: the outsider's frames are refused too.
    let outsider_port = outsider.port.to_string();
    let r = query_string(
        &cluster.nodes[1],
        &["CLUSTER", "MEET", "127.0.0.1", &outsider_port],
    );
    assert_eq!(r.as_deref(), Ok("OK"));
    let refused = wait_for(Duration::from_secs(10), || {
        (rejected(&cluster.nodes[1]) > 0).then_some(())
    });
    assert!(refused.is_some());
    let outsider_id = query_string(&outsider, &["CLUSTER", "MYID"]).unwrap();
    for n in &cluster.nodes {
        let members: Vec<String> = parse_nodes(&query_string(n, &["CLUSTER", "NODES"]).unwrap())
            .into_iter()
            .filter(|n| !n.has_flag("handshake"))
            .map(|n| n.id)
            .collect();
        assert!(
            !members.contains(&outsider_id),
            "the outsider became a member"
        );
        assert_eq!(members.len(), 3);
    }
    assert_ne!(cluster_info(&outsider, "cluster_known_nodes"), "4");
    assert!(cluster.wait_ok(Duration::from_secs(5)));
}

#[test]
fn rotating_the_secret_under_writes_keeps_every_link_up() {
    let t = timeout();
    let args = [
        "--cluster-enabled",
        "yes",
        "--cluster-node-timeout",
        &t,
        "--cluster-secret",
        "old secret",
    ];
    let cluster = TestCluster {
        nodes: (0..3).map(|_| Node::start(&args)).collect(),
    };
    cluster.form_by_hand();
    assert!(cluster.wait_ok(Duration::from_secs(20)));
    // Who owns which slots, as each node sees it: a failover would change it. (Not the
    // epochs: right after forming, config-epoch collisions are still being resolved and
    // bump them.)
    let owners = |n: &Node| -> Vec<(String, Vec<u16>)> {
        let text = query_string(n, &["CLUSTER", "NODES"]).unwrap_or_default();
        let mut v: Vec<(String, Vec<u16>)> = parse_nodes(&text)
            .into_iter()
            .map(|n| {
                let flags: Vec<&str> = n.flags.iter().map(String::as_str).collect();
                let flags = flags.join(",").replace("myself,", "");
                (format!("{} {flags}", n.id), n.slots)
            })
            .collect();
        v.sort();
        v
    };
    let owners_before: Vec<_> = cluster.nodes.iter().map(owners).collect();

    let stop = Arc::new(AtomicBool::new(false));
    let (writes, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let writer = {
        let urls: Vec<String> = cluster.nodes.iter().map(|n| n.url()).collect();
        let (stop, writes, errors) = (stop.clone(), writes.clone(), errors.clone());
        std::thread::spawn(move || {
            let client = redis::cluster::ClusterClientBuilder::new(urls)
                .connection_timeout(Duration::from_secs(5))
                .response_timeout(Duration::from_secs(5))
                .build()
                .expect("cluster client");
            let mut c = client.get_connection().expect("cluster connection");
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) && i < 10_000_000 {
                let r: redis::RedisResult<()> =
                    redis::cmd("SET").arg(format!("k{i}")).arg(i).query(&mut c);
                match r {
                    Ok(()) => writes.fetch_add(1, Ordering::Relaxed),
                    Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                };
                i += 1;
            }
        })
    };
    // Every node's view, watched throughout for a failing flag.
    let saw_failure = Arc::new(AtomicBool::new(false));
    let watcher = {
        let ports: Vec<u16> = cluster.nodes.iter().map(|n| n.port).collect();
        let (stop, saw) = (stop.clone(), saw_failure.clone());
        std::thread::spawn(move || {
            let clients: Vec<redis::Client> = ports
                .iter()
                .map(|p| redis::Client::open(format!("redis://127.0.0.1:{p}/")).unwrap())
                .collect();
            let mut rounds = 0;
            while !stop.load(Ordering::Relaxed) && rounds < 100_000 {
                for c in &clients {
                    if let Ok(mut conn) = c.get_connection() {
                        let text: String = redis::cmd("CLUSTER")
                            .arg("NODES")
                            .query(&mut conn)
                            .unwrap_or_default();
                        if text.contains("fail") {
                            saw.store(true, Ordering::Relaxed);
                        }
                    }
                }
                rounds += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let wait_writes = |n: u64| {
        let target = writes.load(Ordering::Relaxed) + n;
        wait_for(Duration::from_secs(10), || {
            (writes.load(Ordering::Relaxed) >= target).then_some(())
        })
        .is_some()
    };
    assert!(wait_writes(200));
    // Each step is held for two node timeouts under the write load: a link that did not come
    // back after the secrets changed would get its peer flagged PFAIL within that time.
    let hold = || {
        let until = Instant::now() + Duration::from_millis(2 * NODE_TIMEOUT_MS);
        while Instant::now() < until {
            assert!(wait_writes(50), "writes stalled during the rotation");
        }
    };
    // Step 1, node by node: send with the new secret, still accept the old one.
    for node in &cluster.nodes {
        let r: String = q(
            &mut node.client(),
            &[
                "CONFIG",
                "SET",
                "cluster-secret",
                "new secret",
                "cluster-secret-previous",
                "old secret",
            ],
        );
        assert_eq!(r, "OK");
        hold();
        assert!(cluster.wait_ok(Duration::from_secs(5)));
    }
    // Step 2, node by node: the window closes.
    for node in &cluster.nodes {
        let r: String = q(
            &mut node.client(),
            &["CONFIG", "SET", "cluster-secret-previous", ""],
        );
        assert_eq!(r, "OK");
        hold();
        assert!(cluster.wait_ok(Duration::from_secs(5)));
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    watcher.join().unwrap();
    assert_eq!(
        errors.load(Ordering::Relaxed),
        0,
        "writes failed during the rotation"
    );
    assert!(
        !saw_failure.load(Ordering::Relaxed),
        "a node was flagged failing during the rotation"
    );
    for n in &cluster.nodes {
        assert_eq!(
            rejected(n),
            0,
            "a frame was refused during the rotation: {}",
            n.log()
        );
    }
    let owners_after: Vec<_> = cluster.nodes.iter().map(owners).collect();
    assert_eq!(owners_after, owners_before, "no failover, no slot moved");
    // The old secret alone no longer speaks on the bus.
    let stale = Node::start(&[
        "--cluster-enabled",
        "yes",
        "--cluster-node-timeout",
        &t,
        "--cluster-secret",
        "old secret",
    ]);
    let p = cluster.nodes[0].port.to_string();
    let r = query_string(&stale, &["CLUSTER", "MEET", "127.0.0.1", &p]);
    assert_eq!(r.as_deref(), Ok("OK"));
    let refused = wait_for(Duration::from_secs(10), || {
        (rejected(&cluster.nodes[0]) > 0).then_some(())
    });
    assert!(refused.is_some());
}
