//! Announced addresses and hostnames (`cluster-announce-ip/port/bus-port/hostname`,
//! `cluster-preferred-endpoint-type`), side by side with redis-server 7.0: the same setup on
//! both, the same commands, and the replies compared once node ids, real bus ports and
//! times are replaced by placeholders.

use cluster_tests::reference::RedisServer;
use cluster_tests::{wait_for, Node};
use slotcache_proto::reply::{self, Reply};
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One side of the comparison: nodes on loopback by client port, kept alive by `_keep`.
struct Side {
    ports: Vec<u16>,
    ids: Vec<String>,
    bus_ports: Vec<u16>,
    _keep: Vec<Box<dyn std::any::Any>>,
}

/// Sends commands on one connection and reads one reply to each (wire types kept).
fn call(port: u16, cmds: &[&[&str]]) -> Vec<Reply> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    for c in cmds {
        s.write_all(&slotcache_proto::command::to_vec(c))
            .expect("write");
    }
    let mut r = BufReader::new(s);
    cmds.iter()
        .map(|_| reply::read(&mut r).expect("a reply"))
        .collect()
}

fn text(r: &Reply) -> String {
    match r {
        Reply::Bulk(b) | Reply::Verbatim(_, b) => String::from_utf8_lossy(b).into_owned(),
        Reply::Simple(s) | Reply::Error(s) => s.clone(),
        other => other.render(),
    }
}

fn one(port: u16, args: &[&str]) -> String {
    text(&call(port, &[args])[0])
}

impl Side {
    /// Replaces what differs between the two sides by nature (ids, real bus ports, the
    /// ping/pong times and epochs of CLUSTER NODES) with placeholders.
    fn normalize(&self, s: &str) -> String {
        let mut s = s.to_string();
        for (i, id) in self.ids.iter().enumerate() {
            s = s.replace(id, &format!("<id{i}>"));
        }
        for (i, p) in self.bus_ports.iter().enumerate() {
            s = s.replace(&format!("@{p}"), &format!("@<bus{i}>"));
        }
        s
    }

    /// CLUSTER NODES as node 0 sees it, by line in id order, without the times, epochs and
    /// link state (Redis drops a link when the node's address changes; when it is back
    /// up is a matter of timing).
    fn nodes(&self) -> String {
        let raw = one(self.ports[0], &["CLUSTER", "NODES"]);
        let mut lines: Vec<String> = self
            .normalize(&raw)
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                let mut keep = f[..4].to_vec();
                keep.extend_from_slice(&f[8..]);
                keep.join(" ")
            })
            .collect();
        lines.sort();
        lines.join("\n")
    }

    /// What node 0 replies to the commands that name endpoints, normalized: CLUSTER SLOTS
    /// (RESP2 and RESP3), CLUSTER SHARDS (shards sorted: Redis lists them in dict order),
    /// and the redirect for a key that node 1 owns.
    fn transcript(&self) -> Vec<String> {
        let key_of_node1 = "b"; // slot 3300 (see `form`)
        let r = call(
            self.ports[0],
            &[
                &["CLUSTER", "SLOTS"],
                &["SET", key_of_node1, "v"],
                &["HELLO", "3"],
                &["CLUSTER", "SLOTS"],
                &["CLUSTER", "SHARDS"],
            ],
        );
        let mut shards: Vec<String> = r[4]
            .items()
            .unwrap_or(&[])
            .iter()
            .map(|s| self.normalize(&s.render()))
            .collect();
        shards.sort();
        vec![
            format!("SLOTS resp2 {}", self.normalize(&r[0].render())),
            format!("SET -> {}", self.normalize(&r[1].render())),
            format!("SLOTS resp3 {}", self.normalize(&r[3].render())),
            format!("SHARDS {}", shards.join(" | ")),
            format!("NODES\n{}", self.nodes()),
        ]
    }

    fn config_set(&self, node: usize, name: &str, value: &str) {
        assert_eq!(one(self.ports[node], &["CONFIG", "SET", name, value]), "OK");
    }

    /// Waits until node 0's CLUSTER NODES satisfies `f`.
    fn wait_nodes(&self, what: &str, f: impl Fn(&str) -> bool) {
        let seen = wait_for(Duration::from_secs(15), || {
            f(&one(self.ports[0], &["CLUSTER", "NODES"])).then_some(())
        });
        assert!(
            seen.is_some(),
            "{what}: {}",
            one(self.ports[0], &["CLUSTER", "NODES"])
        );
    }
}

/// Key `b` hashes to slot 3300: node 1 owns 0-8191 and node 0 the rest, so node 0
/// redirects it.
fn form(side: &mut Side) {
    let (p0, p1) = (side.ports[0], side.ports[1]);
    assert_eq!(one(p1, &["CLUSTER", "ADDSLOTSRANGE", "0", "8191"]), "OK");
    assert_eq!(
        one(p0, &["CLUSTER", "ADDSLOTSRANGE", "8192", "16383"]),
        "OK"
    );
    for (i, p) in [p0, p1].iter().enumerate() {
        let e = (i + 1).to_string();
        assert_eq!(one(*p, &["CLUSTER", "SET-CONFIG-EPOCH", &e]), "OK");
    }
    let bus0 = side.bus_ports[0].to_string();
    assert_eq!(
        one(
            p1,
            &["CLUSTER", "MEET", "127.0.0.1", &p0.to_string(), &bus0]
        ),
        "OK"
    );
    side.ids = vec![one(p0, &["CLUSTER", "MYID"]), one(p1, &["CLUSTER", "MYID"])];
    let ok = wait_for(Duration::from_secs(15), || {
        [p0, p1]
            .iter()
            .all(|p| one(*p, &["CLUSTER", "INFO"]).contains("cluster_state:ok"))
            .then_some(())
    });
    assert!(ok.is_some(), "{}", one(p0, &["CLUSTER", "NODES"]));
}

/// Two nodes per side, each with `opts(i)`, formed into a cluster.
fn pair(opts: &dyn Fn(usize) -> Vec<String>) -> Option<(Side, Side)> {
    if !RedisServer::installed() {
        eprintln!("SKIPPED: redis-server is not installed; no side-by-side comparison");
        return None;
    }
    let mut ours = Side {
        ports: Vec::new(),
        ids: Vec::new(),
        bus_ports: Vec::new(),
        _keep: Vec::new(),
    };
    let mut theirs = Side {
        ports: Vec::new(),
        ids: Vec::new(),
        bus_ports: Vec::new(),
        _keep: Vec::new(),
    };
    for i in 0..2 {
        let o = opts(i);
        let o: Vec<&str> = o.iter().map(String::as_str).collect();
        let mut args = vec!["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"];
        args.extend_from_slice(&o);
        let n = Node::start(&args);
        ours.ports.push(n.port);
        ours.bus_ports.push(n.port + 10000);
        ours._keep.push(Box::new(n));
        let r = RedisServer::launch(true, &o)
            .expect("redis-server 7.0")
            .expect("installed");
        theirs.ports.push(r.port);
        theirs.bus_ports.push(r.port + 10000);
        theirs._keep.push(Box::new(r));
    }
    form(&mut ours);
    form(&mut theirs);
    Some((ours, theirs))
}

fn hostnames(i: usize) -> Vec<String> {
    vec![
        "--cluster-announce-hostname".into(),
        format!("node{i}.test"),
        "--cluster-preferred-endpoint-type".into(),
        "hostname".into(),
        // A client port other than the one bound (a mapped port): the same on both sides,
        // so the replies compare without placeholders.
        "--cluster-announce-port".into(),
        (19990 + i).to_string(),
    ]
}

#[test]
fn hostnames_and_endpoint_types_reply_as_redis_7_0_does() {
    let Some((ours, theirs)) = pair(&hostnames) else {
        return;
    };
    let both = |what: &str, f: &dyn Fn(&Side)| {
        f(&ours);
        f(&theirs);
        let (a, b) = (ours.transcript(), theirs.transcript());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x, y, "{what}: slotcache (left) vs redis-server (right)");
        }
    };
    both("hostnames learned", &|s| {
        s.wait_nodes("node 1's hostname", |t| t.contains(",node1.test "))
    });
    let t = ours.transcript();
    assert!(t[1].contains("MOVED 3300 node1.test:19991"), "{t:?}");
    assert!(
        t[4].contains("127.0.0.1:19990@<bus0>,node0.test myself,master"),
        "{t:?}"
    );
    both("unknown-endpoint", &|s| {
        s.config_set(0, "cluster-preferred-endpoint-type", "unknown-endpoint")
    });
    assert!(ours.transcript()[1].contains("MOVED 3300 :19991"));
    both("ip", &|s| {
        s.config_set(0, "cluster-preferred-endpoint-type", "ip")
    });
    assert!(ours.transcript()[1].contains("MOVED 3300 127.0.0.1:19991"));
    both("node 1 drops its hostname, hostnames preferred", &|s| {
        s.config_set(1, "cluster-announce-hostname", "");
        s.config_set(0, "cluster-preferred-endpoint-type", "hostname");
        s.wait_nodes("node 1 without hostname", |t| !t.contains("node1.test"));
    });
    assert!(ours.transcript()[1].contains("MOVED 3300 ?:19991"));
    both("node 1 announces another port and hostname", &|s| {
        s.config_set(1, "cluster-announce-port", "18881");
        s.config_set(1, "cluster-announce-hostname", "renamed.test");
        s.wait_nodes("node 1 renamed", |t| t.contains(":18881@"));
        s.wait_nodes("node 1 renamed", |t| t.contains(",renamed.test "));
    });
    assert!(ours.transcript()[1].contains("MOVED 3300 renamed.test:18881"));
}

#[test]
fn announced_ip_and_ports_show_as_redis_shows_them() {
    if !RedisServer::installed() {
        eprintln!("SKIPPED: redis-server is not installed; no side-by-side comparison");
        return;
    }
    let opts = [
        "--cluster-announce-ip",
        "10.1.2.3",
        "--cluster-announce-port",
        "19999",
        "--cluster-announce-bus-port",
        "29999",
    ];
    let mut args = vec!["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"];
    args.extend_from_slice(&opts);
    let n = Node::start(&args);
    let r = RedisServer::launch(true, &opts).unwrap().unwrap();
    let show = |port: u16| {
        assert_eq!(one(port, &["CLUSTER", "ADDSLOTSRANGE", "0", "16383"]), "OK");
        let id = one(port, &["CLUSTER", "MYID"]);
        let replies = call(
            port,
            &[
                &["CLUSTER", "NODES"],
                &["CLUSTER", "SLOTS"],
                &["HELLO", "3"],
                &["CLUSTER", "SHARDS"],
            ],
        );
        let nodes = text(&replies[0]);
        let f: Vec<&str> = nodes.split(' ').collect();
        let mut config: Vec<String> = call(port, &[&["CONFIG", "GET", "cluster-announce-*"]])[0]
            .items()
            .unwrap()
            .chunks(2)
            .map(|kv| format!("{}={}", text(&kv[0]), text(&kv[1])))
            .collect();
        config.sort();
        vec![
            format!("{} {}", f[1], f[2]),
            replies[1].render().replace(&id, "<id>"),
            replies[3].render().replace(&id, "<id>"),
            config.join(" "),
        ]
    };
    let (a, b) = (show(n.port), show(r.port));
    assert_eq!(a[0], "10.1.2.3:19999@29999 myself,master");
    assert!(
        a[1].starts_with(r#"[[:0, :16383, ["10.1.2.3", :19999, "<id>""#),
        "{}",
        a[1]
    );
    assert_eq!(a, b, "slotcache (left) vs redis-server (right)");
    // nodes.conf keeps the announced address, as CLUSTER NODES shows it.
    let conf = std::fs::read_to_string(n.dir.path().join("nodes.conf")).unwrap();
    assert!(
        conf.contains(" 10.1.2.3:19999@29999 myself,master "),
        "{conf}"
    );
}

#[test]
fn bad_announce_values_are_refused_with_redis_errors() {
    let n = Node::start(&["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"]);
    let mut c = n.client();
    for (name, value, why) in [
        (
            "cluster-announce-hostname",
            "a_b",
            "Hostnames may only contain alphanumeric characters, hyphens or dots",
        ),
        (
            "cluster-announce-hostname",
            "a,b",
            "Hostnames may only contain alphanumeric characters, hyphens or dots",
        ),
        (
            "cluster-announce-hostname",
            &"a".repeat(300),
            "Hostnames must be less than 256 characters",
        ),
        (
            "cluster-preferred-endpoint-type",
            "foo",
            "argument(s) must be one of the following: ip, hostname, unknown-endpoint",
        ),
        (
            "cluster-announce-port",
            "70000",
            "argument must be between 0 and 65535 inclusive",
        ),
        (
            "cluster-announce-bus-port",
            "-1",
            "argument must be between 0 and 65535 inclusive",
        ),
    ] {
        let e = cluster_tests::server_error(&mut c, &["CONFIG", "SET", name, value]);
        assert_eq!(
            e,
            format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}")
        );
    }
    // Bad at start too: the server refuses to run rather than announce garbage.
    let err = Node::try_start(&[
        "--cluster-enabled",
        "yes",
        "--cluster-announce-hostname",
        "bad name",
    ])
    .err()
    .expect("a bad hostname stops the start");
    assert!(err.contains("Hostnames may only contain"), "{err}");
    cluster_tests::still_serves(&n);
}

/// Stock tools on a cluster that gives clients hostnames: `redis-cli --cluster create` and
/// `check`, `redis-cli -c` and the `redis` crate's cluster client following MOVED to
/// `localhost:port` (a hostname that resolves here).
#[test]
fn stock_tools_work_when_hostnames_are_the_endpoints() {
    let nodes: Vec<Node> = (0..3)
        .map(|_| {
            Node::start(&[
                "--cluster-enabled",
                "yes",
                "--cluster-node-timeout",
                "1000",
                "--cluster-announce-hostname",
                "localhost",
                "--cluster-preferred-endpoint-type",
                "hostname",
            ])
        })
        .collect();
    let tc = cluster_tests::cluster::TestCluster { nodes };
    let (ok, out) = tc.create_with_redis_cli(0);
    assert!(ok, "{out}");
    assert!(tc.wait_ok(Duration::from_secs(20)), "cluster did not form");
    let first = tc.addrs()[0].clone();
    let (ok, out) = cluster_tests::run_tool("redis-cli", &["--cluster", "check", &first], None);
    assert!(ok && out.contains("[OK] All 16384 slots covered."), "{out}");
    // Some of these keys live on other nodes: the client is sent to localhost:port.
    let mut cc = tc.cluster_client();
    for i in 0..30 {
        let k = format!("key{i}");
        let _: () = redis::cmd("SET")
            .arg(&k)
            .arg(i)
            .query(&mut cc)
            .expect("SET");
    }
    let mut moved = 0;
    for i in 0..30 {
        let k = format!("key{i}");
        let p = tc.nodes[0].port.to_string();
        let (_, direct) = cluster_tests::run_tool("redis-cli", &["-p", &p, "GET", &k], None);
        moved += usize::from(direct.starts_with("MOVED") && direct.contains(" localhost:"));
        let (ok, out) = cluster_tests::run_tool("redis-cli", &["-c", "-p", &p, "GET", &k], None);
        assert!(ok && out.trim() == i.to_string(), "{k}: {out}");
    }
    assert!(moved > 0, "no key was redirected");
}
