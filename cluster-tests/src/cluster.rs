//! Test clusters: N nodes started with `cluster-enabled yes` and an explicit node timeout,
//! formed with stock `redis-cli --cluster create` or by hand, polled through CLUSTER INFO /
//! CLUSTER NODES with deadlines (never bare sleeps).

use crate::{run_tool, wait_for, Node};
pub use slotcache_proto::nodes::NodeLine;
use std::time::Duration;

/// The node timeout tests run with (explicit, as the test rules require).
pub const NODE_TIMEOUT_MS: u64 = 1000;

pub struct TestCluster {
    pub nodes: Vec<Node>,
}

/// Runs a command on a node through the `redis` crate and returns it as a string.
pub fn query_string(node: &Node, args: &[&str]) -> redis::RedisResult<String> {
    let mut c = node.client();
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(&mut c)
}

impl TestCluster {
    /// Starts `n` empty cluster-enabled nodes.
    pub fn start(n: usize, extra: &[&str]) -> TestCluster {
        let timeout = NODE_TIMEOUT_MS.to_string();
        let mut args = vec![
            "--cluster-enabled",
            "yes",
            "--cluster-node-timeout",
            timeout.as_str(),
        ];
        args.extend_from_slice(extra);
        TestCluster {
            nodes: (0..n).map(|_| Node::start(&args)).collect(),
        }
    }

    pub fn addrs(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("{}:{}", n.host, n.port))
            .collect()
    }

    /// `redis-cli --cluster create <addrs> --cluster-replicas R --cluster-yes`.
    pub fn create_with_redis_cli(&self, replicas: usize) -> (bool, String) {
        let addrs = self.addrs();
        let r = replicas.to_string();
        let mut args: Vec<&str> = vec!["--cluster", "create"];
        args.extend(addrs.iter().map(|s| s.as_str()));
        args.extend(["--cluster-replicas", r.as_str(), "--cluster-yes"]);
        run_tool("redis-cli", &args, None)
    }

    /// Forms the cluster by hand: ADDSLOTSRANGE an even split, then MEET the first node.
    pub fn form_by_hand(&self) {
        let n = self.nodes.len() as u32;
        for (i, node) in self.nodes.iter().enumerate() {
            let start = 16384 * i as u32 / n;
            let end = 16384 * (i as u32 + 1) / n - 1;
            let r = query_string(
                node,
                &[
                    "CLUSTER",
                    "ADDSLOTSRANGE",
                    &start.to_string(),
                    &end.to_string(),
                ],
            );
            assert_eq!(r.as_deref(), Ok("OK"));
        }
        let first = self.nodes[0].port.to_string();
        for node in &self.nodes[1..] {
            let r = query_string(node, &["CLUSTER", "MEET", &self.nodes[0].host, &first]);
            assert_eq!(r.as_deref(), Ok("OK"));
        }
    }

    /// Forms a cluster of `primaries` primaries (an even slot split) whose remaining nodes
    /// replicate them round robin, by hand (MEET, ADDSLOTSRANGE, CLUSTER REPLICATE).
    pub fn form_with_replicas(&self, primaries: usize) {
        let n = primaries as u32;
        for (i, node) in self.nodes[..primaries].iter().enumerate() {
            let start = 16384 * i as u32 / n;
            let end = 16384 * (i as u32 + 1) / n - 1;
            let r = query_string(
                node,
                &[
                    "CLUSTER",
                    "ADDSLOTSRANGE",
                    &start.to_string(),
                    &end.to_string(),
                ],
            );
            assert_eq!(r.as_deref(), Ok("OK"));
        }
        // Distinct config epochs before the nodes meet, as redis-cli --cluster create sets
        // them: otherwise the primaries all start at 0 and bump the current epoch while
        // resolving the collision, which tests that watch epochs would take for a failover.
        for (i, node) in self.nodes[..primaries].iter().enumerate() {
            let epoch = (i + 1).to_string();
            let r = query_string(node, &["CLUSTER", "SET-CONFIG-EPOCH", &epoch]);
            assert_eq!(r.as_deref(), Ok("OK"));
        }
        let first = self.nodes[0].port.to_string();
        for node in &self.nodes[1..] {
            let r = query_string(node, &["CLUSTER", "MEET", &self.nodes[0].host, &first]);
            assert_eq!(r.as_deref(), Ok("OK"));
        }
        let ids: Vec<String> = self.nodes[..primaries]
            .iter()
            .map(|p| query_string(p, &["CLUSTER", "MYID"]).unwrap())
            .collect();
        for (i, node) in self.nodes[primaries..].iter().enumerate() {
            let target = &ids[i % primaries];
            let done = wait_for(Duration::from_secs(10), || {
                query_string(node, &["CLUSTER", "REPLICATE", target]).ok()
            });
            assert_eq!(done.as_deref(), Some("OK"));
        }
    }

    /// The id of every node, in order.
    pub fn ids(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| query_string(n, &["CLUSTER", "MYID"]).unwrap())
            .collect()
    }

    /// Waits until every node reports `cluster_state:ok` and knows every node.
    pub fn wait_ok(&self, timeout: Duration) -> bool {
        let n = self.nodes.len();
        wait_for(timeout, || {
            self.nodes
                .iter()
                .all(|node| {
                    let info = query_string(node, &["CLUSTER", "INFO"]).unwrap_or_default();
                    info.contains("cluster_state:ok")
                        && info.contains(&format!("cluster_known_nodes:{n}\r"))
                })
                .then_some(())
        })
        .is_some()
    }

    /// Six nodes formed as three primaries with a replica each, returned once the cluster is
    /// ok and every replica shows in CLUSTER NODES; with the nodes' ids in order.
    pub fn start_3x2(extra: &[&str]) -> (TestCluster, Vec<String>) {
        let c = TestCluster::start(6, extra);
        c.form_with_replicas(3);
        assert!(c.wait_ok(Duration::from_secs(20)), "cluster not ok");
        let ids = c.ids();
        let ready = wait_for(Duration::from_secs(20), || {
            let text = query_string(&c.nodes[0], &["CLUSTER", "NODES"]).ok()?;
            (text.lines().filter(|l| l.contains("slave")).count() == 3).then_some(())
        });
        assert!(ready.is_some(), "replicas did not show up");
        (c, ids)
    }

    /// The id of the primary that owns `slot`, as node `from` sees it.
    pub fn owner_of(&self, from: usize, slot: u16) -> Option<String> {
        let text = query_string(&self.nodes[from], &["CLUSTER", "NODES"]).ok()?;
        slotcache_proto::nodes::parse_nodes(&text)
            .ok()?
            .into_iter()
            .find(|n| n.owns(slot) && n.is_primary())
            .map(|n| n.id)
    }

    /// Whether every node in `alive` reports `cluster_state:ok` and they agree on slot 0's
    /// owner.
    pub fn ok_and_agreed(&self, alive: &[usize]) -> bool {
        let views: Vec<Option<String>> = alive.iter().map(|&i| self.owner_of(i, 0)).collect();
        alive.iter().all(|&i| {
            query_string(&self.nodes[i], &["CLUSTER", "INFO"])
                .unwrap_or_default()
                .contains("cluster_state:ok")
        }) && views.windows(2).all(|w| w[0] == w[1])
    }

    /// Kills node `victim` with SIGKILL and waits (bounded by `within`) until another node
    /// owns slot 0 and the survivors agree: the index of the promoted node, None if no
    /// failover happened in time. For a victim that owns slot 0.
    pub fn kill_and_wait_failover(
        &mut self,
        ids: &[String],
        victim: usize,
        within: Duration,
    ) -> Option<usize> {
        self.nodes[victim].kill();
        let alive: Vec<usize> = (0..self.nodes.len()).filter(|&i| i != victim).collect();
        let promoted = wait_for(within, || {
            let o = self.owner_of(alive[0], 0)?;
            (o != ids[victim] && self.ok_and_agreed(&alive)).then_some(o)
        })?;
        ids.iter().position(|id| *id == promoted)
    }

    /// A cluster client of the `redis` crate seeded with every node.
    pub fn cluster_client(&self) -> redis::cluster::ClusterConnection {
        let urls: Vec<String> = self.nodes.iter().map(|n| n.url()).collect();
        let client = redis::cluster::ClusterClientBuilder::new(urls)
            .connection_timeout(Duration::from_secs(5))
            .response_timeout(Duration::from_secs(10))
            .build()
            .expect("cluster client");
        client.get_connection().expect("cluster connection")
    }
}

/// CLUSTER NODES as records (the shared parser of `slotcache-proto`). A line it refuses
/// fails the test: a server must never print one.
pub fn parse_nodes(text: &str) -> Vec<NodeLine> {
    slotcache_proto::nodes::parse_nodes(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}
