//! Hostile cluster bus peers: hand-made frames sent over a raw socket to a node's bus port
//! (client port + 10000). None of them may take the node over, corrupt its config, fill its
//! node table, stall it or reach its subscribers; frames that break the rules drop the link
//! and the node keeps serving.

use cluster_tests::cluster::{parse_nodes, query_string};
use cluster_tests::{wait_for, Node};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// The subset of the server's bus messages (`server/src/cluster/message.rs`) these tests
/// send. Fields are named and enum variants travel by name, so a mirror of the shapes
/// encodes exactly what a real node would send.
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
    pub struct Gossip {
        pub id: String,
        pub ip: String,
        pub port: u16,
        pub cport: u16,
        pub flags: u16,
        pub pong_age_ms: u64,
    }

    #[derive(Serialize, Clone)]
    pub enum Kind {
        Ping,
        Pong,
        Meet,
        Publish { channel: Vec<u8>, message: Vec<u8> },
    }

    #[derive(Serialize, Clone)]
    pub struct Message {
        pub version: u16,
        pub kind: Kind,
        pub sender: Header,
        pub gossip: Vec<Gossip>,
    }

    pub const PRIMARY: u16 = 1;

    /// One frame: 4-byte big-endian length, then the MessagePack body.
    pub fn frame(m: &Message) -> Vec<u8> {
        let body = rmp_serde::to_vec_named(m).expect("encode");
        let mut out = (body.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&body);
        out
    }
}

use wire::{Gossip, Header, Kind, Message};

/// A made-up node id (40 lowercase hex digits).
fn fake_id(n: u64) -> String {
    format!("{n:040x}")
}

/// A port nothing listens on: the handshake a MEET starts then simply fails.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn header(id: &str, cport: u16) -> Header {
    Header {
        id: id.to_string(),
        ip: "127.0.0.1".into(),
        port: cport.saturating_sub(10000).max(1),
        cport,
        flags: wire::PRIMARY,
        ..Default::default()
    }
}

fn msg(kind: Kind, sender: Header) -> Message {
    Message {
        version: 1,
        kind,
        sender,
        gossip: Vec::new(),
    }
}

/// A single cluster-enabled node owning every slot with configEpoch 1, once it is ok.
fn lone_primary() -> Node {
    let node = Node::start(&["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"]);
    let r = query_string(&node, &["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]);
    assert_eq!(r.as_deref(), Ok("OK"));
    let r = query_string(&node, &["CLUSTER", "SET-CONFIG-EPOCH", "1"]);
    assert_eq!(r.as_deref(), Ok("OK"));
    let ok = wait_for(Duration::from_secs(10), || {
        let info = query_string(&node, &["CLUSTER", "INFO"]).ok()?;
        info.contains("cluster_state:ok").then_some(())
    });
    assert!(ok.is_some(), "single node never became ok: {}", node.log());
    node
}

fn bus(node: &Node) -> TcpStream {
    let s = TcpStream::connect((node.host.as_str(), node.port + 10000)).expect("connect bus");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s
}

/// Reads one frame's body (the node's reply): proof that what was sent before it on this
/// connection has been processed.
fn read_frame(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let mut body = vec![0; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut body)?;
    Ok(body)
}

/// Whether the node closed the connection within `within` without sending anything.
fn dropped_within(s: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 1024];
    while Instant::now() < deadline {
        s.set_read_timeout(Some(Duration::from_millis(50))).ok();
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => return false,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return true,
        }
    }
    false
}

fn nodes_text(node: &Node) -> String {
    query_string(node, &["CLUSTER", "NODES"]).unwrap_or_else(|e| panic!("CLUSTER NODES: {e}"))
}

/// CLUSTER NODES without handshake nodes, as (id, flags, slots).
fn members(node: &Node) -> Vec<(String, String, Vec<u16>)> {
    parse_nodes(&nodes_text(node))
        .into_iter()
        .filter(|n| !n.has_flag("handshake"))
        .map(|n| (n.id, n.flags.join(","), n.slots))
        .collect()
}

fn handshake_count(node: &Node) -> usize {
    nodes_text(node)
        .lines()
        .filter(|l| l.contains("handshake"))
        .count()
}

/// CLUSTER SLOTS as (start, end, owner id). Not the address: a node that was not told its
/// own IP learns it from the first MEET it gets (as Redis does), which is no takeover.
fn cluster_slots(node: &Node) -> Vec<(i64, i64, String)> {
    let mut c = node.client();
    let v: Vec<Vec<redis::Value>> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query(&mut c)
        .expect("CLUSTER SLOTS");
    v.into_iter()
        .map(|range| {
            let int = |v: &redis::Value| redis::from_redis_value::<i64>(v).expect("slot");
            let owner: Vec<redis::Value> = redis::from_redis_value(&range[2]).expect("node");
            let id: String = redis::from_redis_value(&owner[2]).expect("id");
            (int(&range[0]), int(&range[1]), id)
        })
        .collect()
}

fn info_field(node: &Node, field: &str) -> String {
    let info = query_string(node, &["CLUSTER", "INFO"]).expect("CLUSTER INFO");
    cluster_tests::info_field(&info, field).unwrap_or_default()
}

/// The report: one MEET whose sender claims every slot with a higher configEpoch turned the
/// primary into its replica. Now it only starts a handshake (which fails: nothing listens).
#[test]
fn an_unsolicited_meet_claiming_every_slot_changes_nothing() {
    let node = lone_primary();
    let myid = query_string(&node, &["CLUSTER", "MYID"]).unwrap();
    let slots_before = cluster_slots(&node);
    let members_before = members(&node);
    assert_eq!(members_before.len(), 1);

    let attacker = fake_id(0xa77ac);
    let mut h = header(&attacker, closed_port());
    h.slots = vec![(0, 16383)];
    h.config_epoch = 1000;
    h.current_epoch = 1000;
    let mut s = bus(&node);
    s.write_all(&wire::frame(&msg(Kind::Meet, h))).unwrap();
    read_frame(&mut s).expect("the node answers a MEET with a PONG");

    assert_eq!(cluster_slots(&node), slots_before);
    assert_eq!(members(&node), members_before);
    assert!(!nodes_text(&node).contains(&attacker));
    assert_eq!(info_field(&node, "cluster_state"), "ok");
    assert_eq!(info_field(&node, "cluster_current_epoch"), "1");
    let role = query_string(&node, &["ROLE"]).ok();
    let mut c = node.client();
    let got: redis::RedisResult<Option<String>> = redis::cmd("GET").arg("somekey").query(&mut c);
    assert!(
        matches!(got, Ok(None)),
        "GET redirected or failed: {got:?} (role {role:?})"
    );
    let myself = &members(&node)[0];
    assert_eq!(myself.0, myid);
    assert_eq!(myself.1, "myself,master");
    // The handshake it started fails and is dropped within the node timeout.
    let gone = wait_for(Duration::from_secs(10), || {
        (parse_nodes(&nodes_text(&node)).len() == 1).then_some(())
    });
    assert!(gone.is_some(), "{}", nodes_text(&node));
}

/// The report: a `primary` field holding a newline put a fake line into CLUSTER NODES and
/// nodes.conf, and the next start refused the corrupted file. Ids and addresses with
/// newlines or spaces were as bad. Each such frame now drops its link, unanswered.
#[test]
fn fields_with_newlines_or_spaces_drop_the_link_and_never_reach_nodes_conf() {
    let mut node = lone_primary();
    let myid = query_string(&node, &["CLUSTER", "MYID"]).unwrap();
    let forged_line = format!(
        "{} 10.0.0.1:1@2 master - 0 0 9 connected 0-16383",
        fake_id(0xf00d)
    );
    let mut bad_primary = header(&fake_id(0xbad1), closed_port());
    bad_primary.primary = Some(format!("{}\n{forged_line}", fake_id(0xbad2)));
    bad_primary.flags = 2;
    let mut bad_id = header(&fake_id(0), closed_port());
    bad_id.id = format!("{} {}", "a".repeat(20), "b".repeat(19));
    let mut bad_ip = header(&fake_id(0xbad3), closed_port());
    bad_ip.ip = format!("127.0.0.1\n{forged_line}");
    for (what, h) in [("primary", bad_primary), ("id", bad_id), ("ip", bad_ip)] {
        let mut s = bus(&node);
        s.write_all(&wire::frame(&msg(Kind::Meet, h))).unwrap();
        assert!(
            dropped_within(&mut s, Duration::from_secs(5)),
            "a {what} with a newline or space was answered instead of dropping the link"
        );
        let text = nodes_text(&node);
        assert_eq!(text.lines().count(), 1, "after a bad {what}: {text}");
    }
    assert_eq!(info_field(&node, "cluster_state"), "ok");

    // What is on disk loads again, as the same node with the same slots.
    node.terminate();
    let conf = std::fs::read_to_string(node.dir.path().join("nodes.conf")).unwrap();
    let lines: Vec<&str> = conf.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 2, "myself and vars only: {conf}");
    assert!(
        lines[0].starts_with(&myid) && lines[1].starts_with("vars"),
        "{conf}"
    );
    node.restart().expect("restart from nodes.conf");
    let ok = wait_for(Duration::from_secs(10), || {
        (info_field(&node, "cluster_state") == "ok").then_some(())
    });
    assert!(ok.is_some(), "{}", node.log());
    assert_eq!(query_string(&node, &["CLUSTER", "MYID"]).unwrap(), myid);
}

fn gossip_about(n: u64) -> Vec<Gossip> {
    (0..n)
        .map(|i| Gossip {
            id: fake_id(0x5eed_0000 + i),
            ip: "127.0.0.1".into(),
            port: 30000 + i as u16,
            cport: 40000 + i as u16,
            flags: wire::PRIMARY,
            pong_age_ms: 0,
        })
        .collect()
}

/// The report: 300 gossip entries in one frame created 300 handshake nodes. An unknown
/// node's gossip is not taken at all now; only the sender itself is handshaken.
#[test]
fn gossip_in_an_unsolicited_meet_starts_no_handshakes() {
    let node = lone_primary();
    let mut m = msg(Kind::Meet, header(&fake_id(0x90551), closed_port()));
    m.gossip = gossip_about(300);
    let mut s = bus(&node);
    s.write_all(&wire::frame(&m)).unwrap();
    read_frame(&mut s).expect("PONG");
    let n = handshake_count(&node);
    assert!(n <= 1, "{n} handshake nodes: {}", nodes_text(&node));
    assert_eq!(members(&node).len(), 1);
}

/// A fake member: answers every frame on the node's link to it with a PONG from `id`, so
/// the node's handshake with it completes. Runs until the node closes the link.
fn fake_member(id: String) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let cport = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = l.accept() else { return };
        s.set_read_timeout(None).ok();
        let pong = wire::frame(&msg(Kind::Pong, header(&id, cport)));
        while read_frame(&mut s).is_ok() {
            if s.write_all(&pong).is_err() {
                return;
            }
        }
    });
    cport
}

/// Even a member (handshake completed) may start only a few handshakes per frame, however
/// many unknown nodes its gossip names.
#[test]
fn a_members_gossip_starts_a_bounded_number_of_handshakes() {
    let node = lone_primary();
    let member = fake_id(0x3e3be7);
    let cport = fake_member(member.clone());
    let mut s = bus(&node);
    s.write_all(&wire::frame(&msg(Kind::Meet, header(&member, cport))))
        .unwrap();
    read_frame(&mut s).expect("PONG");
    let joined = wait_for(Duration::from_secs(10), || {
        members(&node)
            .iter()
            .any(|(id, _, _)| *id == member)
            .then_some(())
    });
    assert!(
        joined.is_some(),
        "handshake never completed: {}",
        nodes_text(&node)
    );
    assert_eq!(handshake_count(&node), 0);

    let mut m = msg(Kind::Ping, header(&member, cport));
    m.gossip = gossip_about(300);
    s.write_all(&wire::frame(&m)).unwrap();
    read_frame(&mut s).expect("PONG");
    let n = handshake_count(&node);
    assert!(
        (1..=8).contains(&n),
        "{n} handshake nodes from one frame: {}",
        nodes_text(&node)
    );
    assert_eq!(info_field(&node, "cluster_state"), "ok");
}

/// The report: 500 KB of 100k slot ranges kept the bus busy for seconds. Now the frame is
/// refused as soon as it has arrived, the link drops, and the node answers at once.
#[test]
fn a_frame_with_100k_slot_ranges_is_refused_in_milliseconds() {
    let node = lone_primary();
    let slots_before = cluster_slots(&node);
    let mut h = header(&fake_id(0x510757), closed_port());
    h.slots = vec![(0, 16383); 100_000];
    h.config_epoch = 1000;
    let frame = wire::frame(&msg(Kind::Meet, h));
    assert!(frame.len() > 400_000, "{}", frame.len());
    let mut s = bus(&node);
    s.write_all(&frame).unwrap();
    let sent = Instant::now();
    assert!(
        dropped_within(&mut s, Duration::from_secs(5)),
        "the frame was answered instead of refused"
    );
    let refused_after = sent.elapsed();
    assert!(
        refused_after < Duration::from_millis(1000),
        "refused after {refused_after:?}"
    );
    let t = Instant::now();
    assert_eq!(info_field(&node, "cluster_state"), "ok");
    let mut c = node.client();
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "CLUSTER INFO + PING took {:?}",
        t.elapsed()
    );
    assert_eq!(cluster_slots(&node), slots_before);
    assert_eq!(members(&node).len(), 1);
}

/// The report: a Publish frame from an unknown peer reached subscribers. The control message
/// published afterwards through PUBLISH proves the subscriber was listening, and that a
/// forged message, had it been delivered, would have come first.
#[test]
fn a_publish_from_an_unknown_sender_reaches_no_subscriber() {
    let node = lone_primary();
    let mut sub = node.client();
    let mut ps = sub.as_pubsub();
    ps.subscribe("news").unwrap();
    ps.set_read_timeout(Some(Duration::from_secs(5))).unwrap();

    let stranger = header(&fake_id(0x5713a9), closed_port());
    let mut s = bus(&node);
    s.write_all(&wire::frame(&msg(Kind::Meet, stranger.clone())))
        .unwrap();
    read_frame(&mut s).expect("PONG to the MEET");
    let publish = Kind::Publish {
        channel: b"news".to_vec(),
        message: b"forged".to_vec(),
    };
    s.write_all(&wire::frame(&msg(publish, stranger.clone())))
        .unwrap();
    // Frames on one connection are handled in order: the PONG to this PING means the
    // Publish has been handled (and any delivery queued) before the control message.
    s.write_all(&wire::frame(&msg(Kind::Ping, stranger)))
        .unwrap();
    read_frame(&mut s).expect("PONG to the PING");

    let mut pubc = node.client();
    let receivers: i64 = redis::cmd("PUBLISH")
        .arg("news")
        .arg("control")
        .query(&mut pubc)
        .unwrap();
    assert_eq!(receivers, 1);
    let first: String = ps.get_message().unwrap().get_payload().unwrap();
    assert_eq!(
        first, "control",
        "a forged bus PUBLISH reached the subscriber"
    );
}

#[test]
fn a_crowd_of_inbound_bus_connections_is_capped_and_the_node_keeps_serving() {
    let node = lone_primary();
    // Past 1024 open inbound connections, new ones are closed at once (each could buffer a
    // 4 MB frame); the node and its cluster state are unaffected.
    let crowd: Vec<TcpStream> = (0..1024).map(|_| bus(&node)).collect();
    let mut extra = bus(&node);
    assert!(
        dropped_within(&mut extra, Duration::from_secs(5)),
        "connection 1025 was kept"
    );
    assert_eq!(info_field(&node, "cluster_state"), "ok");
    let r = query_string(&node, &["PING"]);
    assert_eq!(r.as_deref(), Ok("PONG"));
    drop(crowd);
    // Once the crowd leaves, a new connection is served: an unsolicited MEET gets its PONG.
    let ok = wait_for(Duration::from_secs(10), || {
        let mut s = bus(&node);
        (!dropped_within(&mut s, Duration::from_millis(200))).then_some(())
    });
    assert!(ok.is_some(), "the cap did not free its places");
}
