//! Healing a partition must not fail over healthy primaries (issue #19).
//!
//! A 3x2 cluster at the default node timeout, each node in its own network namespace. One
//! node is cut off with iptables DROP rules inside its namespace — packets vanish silently,
//! so established bus connections stay open and resume after the heal with whatever their
//! senders queued meanwhile — and then healed. Throughout and for [`WATCH_AFTER_HEAL`]
//! after, the nodes that stayed connected are sampled every 50 ms: none may mark another
//! reachable node `fail?` or `fail`. At the end: exactly the expected elections (counted
//! from the nodes' logs), one primary per slot range, and `cluster_state:ok` everywhere.
//!
//! Shapes: an isolated primary (exactly one election, its replica's), an isolated replica
//! (none), a primary whose link flaps every 500 ms for 10 s (none: each cut is shorter
//! than the node timeout).
//!
//! The partition length of the isolated-primary shape comes from
//! `SLOTCACHE_HEAL_PARTITION_SECS` (default 45: before the fix, 45 s partitions failed
//! healthy primaries over after the heal in most runs while 3-25 s ones did not).

use cluster_tests::cluster::{parse_nodes, query_string, TestCluster};
use cluster_tests::netns::NetLab;
use cluster_tests::{wait_for, Node};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// The default `cluster-node-timeout`, given explicitly (the issue was seen at the default).
const NODE_TIMEOUT: &str = "700";
/// How long the connected nodes are watched after the heal.
const WATCH_AFTER_HEAL: Duration = Duration::from_secs(10);
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

fn partition_secs() -> u64 {
    std::env::var("SLOTCACHE_HEAL_PARTITION_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(45)
}

/// Six nodes in namespaces: primaries 0..3 (slots split evenly, config epochs 1..3),
/// node 3 + i replicates primary i.
struct Lab {
    // Field order matters: the nodes are killed before the namespaces are removed.
    c: TestCluster,
    ids: Vec<String>,
    net: NetLab,
}

impl Lab {
    fn start() -> Lab {
        let net = NetLab::new(6)
            .unwrap_or_else(|e| panic!("network namespaces are required for this test: {e}"));
        let args = [
            "--cluster-enabled",
            "yes",
            "--cluster-node-timeout",
            NODE_TIMEOUT,
        ];
        let nodes: Vec<Node> = (0..6)
            .map(|i| {
                Node::start_in(&net.prefix(i), &net.ip(i), 7000, &args)
                    .unwrap_or_else(|e| panic!("start node {i} in its namespace: {e}"))
            })
            .collect();
        let c = TestCluster { nodes };
        c.form_with_replicas(3);
        assert!(c.wait_ok(Duration::from_secs(20)), "cluster not ok");
        let ids = c.ids();
        let ready = wait_for(Duration::from_secs(20), || {
            c.nodes
                .iter()
                .all(|n| {
                    let text = query_string(n, &["CLUSTER", "NODES"]).unwrap_or_default();
                    text.lines().filter(|l| l.contains("slave")).count() == 3
                })
                .then_some(())
        });
        assert!(ready.is_some(), "replicas not seen by every node");
        Lab { c, ids, net }
    }

    /// Elections won, per node index, from the nodes' logs.
    fn elections(&self) -> Vec<(usize, String)> {
        let mut won = Vec::new();
        for (i, n) in self.c.nodes.iter().enumerate() {
            for line in n.log().lines() {
                // Every promotion (election, takeover) logs this.
                if line.contains("I am now the primary of") {
                    won.push((i, line.to_string()));
                }
            }
        }
        won
    }

    /// The cluster-state lines of every node's log, for a failure message.
    fn story(&self) -> String {
        let keys = [
            "possibly failing",
            "as failing",
            "marked FAIL",
            "clear FAIL",
            "election",
            "changed role",
            "Configuration change",
            "following it",
            "Cluster state changed",
        ];
        let mut out = String::new();
        for (i, n) in self.c.nodes.iter().enumerate() {
            let lines: Vec<String> = n
                .log()
                .lines()
                .filter(|l| keys.iter().any(|k| l.contains(k)))
                .map(String::from)
                .collect();
            out.push_str(&format!(
                "--- node {i} ({}) {} lines, last 60:\n",
                &self.ids[i][..8],
                lines.len()
            ));
            for l in lines.iter().skip(lines.len().saturating_sub(60)) {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    /// Waits until every node is ok, knows all six nodes and agrees on one primary per
    /// slot range; returns the primaries (id -> slot ranges) as node 0 finally sees them.
    fn settle(&self) -> Result<Vec<(String, Vec<String>)>, String> {
        let mut last = String::new();
        let agreed = wait_for(Duration::from_secs(30), || {
            let mut views = Vec::new();
            for n in &self.c.nodes {
                let info = query_string(n, &["CLUSTER", "INFO"]).ok()?;
                if !info.contains("cluster_state:ok") || !info.contains("cluster_known_nodes:6\r") {
                    last = format!("{}: {}", n.host, info.lines().next().unwrap_or(""));
                    return None;
                }
                let text = query_string(n, &["CLUSTER", "NODES"]).ok()?;
                let mut primaries: Vec<(String, Vec<String>)> = parse_nodes(&text)
                    .into_iter()
                    .filter(|(_, _, flags, slots)| flags.contains("master") && !slots.is_empty())
                    .map(|(id, _, _, slots)| (id, slots))
                    .collect();
                primaries.sort();
                if text.contains("fail") {
                    last = format!("{} still flags a node: {text}", n.host);
                    return None;
                }
                views.push(primaries);
            }
            if views.windows(2).all(|w| w[0] == w[1]) && views[0].len() == 3 {
                Some(views.swap_remove(0))
            } else {
                last = format!("views differ: {views:?}");
                None
            }
        });
        agreed.ok_or(last)
    }
}

/// Samples CLUSTER NODES on the watched nodes and records every flag on a node that is not
/// cut off.
struct Watch<'a> {
    lab: &'a Lab,
    watched: Vec<usize>,
    cut: BTreeSet<usize>,
    conns: Vec<Option<redis::Connection>>,
    samples: usize,
    bad: Vec<String>,
}

impl<'a> Watch<'a> {
    fn new(lab: &'a Lab, cut: &[usize]) -> Watch<'a> {
        let watched: Vec<usize> = (0..6).filter(|i| !cut.contains(i)).collect();
        Watch {
            lab,
            conns: watched.iter().map(|_| None).collect(),
            watched,
            cut: cut.iter().copied().collect(),
            samples: 0,
            bad: Vec::new(),
        }
    }

    fn connect(n: &Node) -> Option<redis::Connection> {
        let c = redis::Client::open(n.url()).ok()?;
        let con = c
            .get_connection_with_timeout(Duration::from_millis(500))
            .ok()?;
        con.set_read_timeout(Some(Duration::from_millis(500)))
            .ok()?;
        Some(con)
    }

    fn sample(&mut self, phase: &str, started: Instant) {
        for (k, &i) in self.watched.iter().enumerate() {
            let node = &self.lab.c.nodes[i];
            if self.conns[k].is_none() {
                self.conns[k] = Self::connect(node);
            }
            let Some(con) = self.conns[k].as_mut() else {
                continue;
            };
            let text: String = match redis::cmd("CLUSTER").arg("NODES").query(con) {
                Ok(t) => t,
                Err(_) => {
                    self.conns[k] = None;
                    continue;
                }
            };
            self.samples += 1;
            for (id, _, flags, _) in parse_nodes(&text) {
                let Some(j) = self.lab.ids.iter().position(|x| *x == id) else {
                    continue;
                };
                if self.cut.contains(&j) || !flags.contains("fail") {
                    continue;
                }
                if self.bad.len() < 20 {
                    self.bad.push(format!(
                        "{phase} +{:?}: node {i} flags node {j} ({}) as {flags}",
                        started.elapsed(),
                        &id[..8]
                    ));
                }
            }
        }
    }

    /// Samples every [`SAMPLE_EVERY`] for `d`.
    fn run_for(&mut self, d: Duration, phase: &str, started: Instant) {
        let until = Instant::now() + d;
        while Instant::now() < until {
            let t = Instant::now();
            self.sample(phase, started);
            std::thread::sleep(SAMPLE_EVERY.saturating_sub(t.elapsed()));
        }
    }
}

/// Cuts `cut` off for `secs`, heals, and checks the outcome. `elected` is the node expected
/// to win the one election (None: no election).
fn partition_and_heal(lab: &Lab, cut: &[usize], secs: u64, elected: Option<usize>) {
    let mut watch = Watch::new(lab, cut);
    let started = Instant::now();
    for &i in cut {
        lab.net.isolate(i).unwrap();
    }
    eprintln!("isolated {cut:?} for {secs} s");
    watch.run_for(Duration::from_secs(secs), "partition", started);
    for &i in cut {
        lab.net.rejoin(i).unwrap();
    }
    eprintln!("healed");
    watch.run_for(WATCH_AFTER_HEAL, "after heal", started);
    check_outcome(lab, &watch, elected);
}

fn check_outcome(lab: &Lab, watch: &Watch, elected: Option<usize>) {
    let settled = lab.settle();
    let elections = lab.elections();
    let story = lab.story();
    eprintln!(
        "{} samples; elections: {elections:?}; flags on reachable nodes: {:?}",
        watch.samples, watch.bad
    );
    assert!(watch.samples > 100, "too few samples: {}", watch.samples);
    assert!(
        watch.bad.is_empty(),
        "reachable nodes were marked failing: {:#?}\n{story}",
        watch.bad
    );
    let winners: Vec<usize> = elections.iter().map(|(i, _)| *i).collect();
    let expected: Vec<usize> = elected.into_iter().collect();
    assert_eq!(
        winners, expected,
        "elections won (node indexes) differ from the expected ones: {elections:#?}\n{story}"
    );
    let primaries = settled.unwrap_or_else(|why| panic!("did not settle: {why}\n{story}"));
    let want: BTreeSet<String> = (0..3)
        .map(|p| match elected {
            Some(e) if e % 3 == p => lab.ids[e].clone(),
            _ => lab.ids[p].clone(),
        })
        .collect();
    let got: BTreeSet<String> = primaries.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(got, want, "unexpected primaries {primaries:?}\n{story}");
}

#[test]
fn a_healed_partition_fails_over_only_the_isolated_primary() {
    let lab = Lab::start();
    // Node 0 owns slots 0-5460; node 3 is its replica and must be the only one elected.
    partition_and_heal(&lab, &[0], partition_secs(), Some(3));
}

#[test]
fn an_isolated_replica_heals_without_an_election() {
    let lab = Lab::start();
    // Node 4 replicates node 1. Long enough for its links to fill and be reset.
    partition_and_heal(&lab, &[4], 20, None);
}

#[test]
fn a_flapping_link_fails_nothing_over() {
    let lab = Lab::start();
    let mut watch = Watch::new(&lab, &[0]);
    let started = Instant::now();
    let half = Duration::from_millis(500);
    for _ in 0..10 {
        lab.net.isolate(0).unwrap();
        watch.run_for(half, "cut", started);
        lab.net.rejoin(0).unwrap();
        watch.run_for(half, "restored", started);
    }
    eprintln!("stopped flapping");
    watch.run_for(WATCH_AFTER_HEAL, "after heal", started);
    check_outcome(&lab, &watch, None);
}
