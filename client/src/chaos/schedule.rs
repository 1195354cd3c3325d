//! The fault schedule of a chaos run: which fault comes next, where, for how long, and when
//! the cluster is ready for it.
//!
//! A fault is injected only once every shard has a primary and a replica that is in sync
//! with it (INFO replication on both sides): only then can a write a replica confirmed be
//! promised to survive the next fault. Kinds:
//! - `kill`: kill -9, then a restart from the same directory (its nodes.conf: it rejoins).
//!   A killed primary stays down until its replica has taken over (or 30 s), since a
//!   primary restarted empty before that would replicate its emptiness.
//! - `pause`: SIGSTOP, then SIGCONT: half the time for less than half the node timeout
//!   (nobody may fail it over), half the time for more than twice it.
//! - `partition`: one of the nemesis's shapes (namespaces), or a node cut off (loopback).
//! - `slow`: tc netem delay inside the node's namespace where the kernel has netem, else
//!   bursts of SIGSTOP each shorter than a third of the node timeout.

use super::monitor::Monitor;
use super::nodes::Backend;
use anyhow::{bail, Result};
use cluster_tests::partition_lab::connect;
use cluster_tests::partition_shapes::{Rng, Shape};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Kill,
    Pause,
    Partition,
    Slow,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Kill, Kind::Pause, Kind::Partition, Kind::Slow];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Kill => "kill",
            Kind::Pause => "pause",
            Kind::Partition => "partition",
            Kind::Slow => "slow",
        }
    }

    pub fn parse_list(s: &str) -> Result<Vec<Kind>> {
        let mut out = Vec::new();
        for w in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match Kind::ALL.iter().find(|k| k.name() == w) {
                Some(k) if !out.contains(k) => out.push(*k),
                Some(_) => {}
                None => bail!("unknown fault kind {w:?} (kill, pause, partition, slow)"),
            }
        }
        if out.is_empty() {
            bail!("no fault kinds given");
        }
        Ok(out)
    }
}

/// One injected fault, on the run's clock (milliseconds since the start).
#[derive(Debug, Clone)]
pub struct Fault {
    pub kind: Kind,
    pub desc: String,
    /// The nodes faulted (for a partition: every node on a cut side).
    pub nodes: Vec<usize>,
    /// The shards one of those nodes belongs to.
    pub shards: Vec<usize>,
    /// Each shard's primary (node index) when the fault began.
    pub primaries: Vec<usize>,
    /// Primaries (node indexes) this fault may rightly have replaced: killed, paused
    /// longer than the node timeout, or cut off from a majority of primaries.
    pub may_fail_over: Vec<usize>,
    pub start_ms: u64,
    /// When the fault was lifted (restart, SIGCONT, heal).
    pub end_ms: u64,
    /// When the cluster was whole again (every shard with a synced replica).
    pub ready_ms: Option<u64>,
}

pub struct Schedule {
    kinds: Vec<Kind>,
    rng: Rng,
    node_timeout_ms: u64,
    max_partition_ms: u64,
    next: usize,
}

impl Schedule {
    pub fn new(kinds: Vec<Kind>, seed: u64, node_timeout_ms: u64, max_partition_s: u64) -> Self {
        Schedule {
            kinds,
            rng: Rng::seeded(seed),
            node_timeout_ms,
            max_partition_ms: max_partition_s.max(1) * 1000,
            next: 0,
        }
    }

    /// A pause between faults, 1-3 s, so each fault starts from a steady state.
    pub fn gap(&mut self) -> Duration {
        Duration::from_millis(1000 + self.rng.below(2000))
    }

    /// Injects the next fault (kinds in turn, targets at random; two of three single-node
    /// faults hit a primary) and lifts it; returns it.
    pub fn inject(
        &mut self,
        b: &mut Backend,
        mon: &Monitor,
        ids: &[String],
        primaries: &[usize],
        t0: Instant,
    ) -> Result<Fault> {
        let mut kind = self.kinds[self.next % self.kinds.len()];
        self.next += 1;
        if kind == Kind::Partition && !b.can_partition() {
            kind = Kind::Pause;
        }
        let target = if self.rng.below(3) < 2 {
            primaries[self.rng.below(primaries.len() as u64) as usize]
        } else {
            self.rng.below(b.len() as u64) as usize
        };
        let is_primary = primaries.contains(&target);
        let timeout = self.node_timeout_ms;
        let now = |t0: Instant| t0.elapsed().as_millis() as u64;
        let start_ms = now(t0);
        let (desc, nodes, may) = match kind {
            Kind::Kill => {
                b.kill(target)?;
                let role = if is_primary { "primary" } else { "replica" };
                let down_since = Instant::now();
                if is_primary {
                    let deadline = Instant::now() + Duration::from_secs(30);
                    while !mon.failed_over(&ids[target], start_ms) && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
                std::thread::sleep(Duration::from_millis(500 + self.rng.below(2500)));
                b.restart(target)?;
                let desc = format!(
                    "kill -9 {role} {target}, restarted after {:.1} s",
                    down_since.elapsed().as_secs_f64()
                );
                (
                    desc,
                    vec![target],
                    if is_primary { vec![target] } else { vec![] },
                )
            }
            Kind::Pause => {
                let long = self.rng.below(2) == 1;
                let ms = if long {
                    2 * timeout + self.rng.below(3000)
                } else {
                    100 + self.rng.below((timeout / 2).saturating_sub(100).max(1))
                };
                b.pause(target)?;
                std::thread::sleep(Duration::from_millis(ms));
                b.resume(target)?;
                let role = if is_primary { "primary" } else { "replica" };
                let may = if long && is_primary {
                    vec![target]
                } else {
                    vec![]
                };
                (
                    format!("SIGSTOP {role} {target} for {ms} ms"),
                    vec![target],
                    may,
                )
            }
            Kind::Partition => {
                let ms = 1000 + self.rng.below(self.max_partition_ms);
                let shape = if b.pairwise_partitions() {
                    Shape::pick(&mut self.rng)
                } else {
                    Shape {
                        name: format!("node cut off from everyone [{target}]"),
                        pairs: vec![],
                        isolated: vec![target],
                    }
                };
                for &i in &shape.isolated {
                    b.isolate(i)?;
                }
                for &(i, j) in &shape.pairs {
                    b.block(i, j)?;
                }
                std::thread::sleep(Duration::from_millis(ms));
                for &(i, j) in &shape.pairs {
                    b.unblock(i, j)?;
                }
                for &i in &shape.isolated {
                    b.rejoin(i)?;
                }
                // A primary that a majority of primaries (itself included) cannot reach
                // may be replaced; any other must keep its shard.
                let may: Vec<usize> = primaries
                    .iter()
                    .copied()
                    .filter(|&p| {
                        primaries.iter().filter(|&&q| shape.can_reach(q, p)).count()
                            <= primaries.len() / 2
                    })
                    .collect();
                let nodes = minority_side(&shape, b.len(), primaries);
                (format!("{} for {ms} ms", shape.name), nodes, may)
            }
            Kind::Slow => {
                let ms = 3000 + self.rng.below(5000);
                let delay = 50 + self.rng.below(150);
                let desc = if b.netem(target, Some(delay)).is_ok() {
                    std::thread::sleep(Duration::from_millis(ms));
                    b.netem(target, None)?;
                    format!("node {target} slowed by tc netem delay {delay} ms for {ms} ms")
                } else {
                    // No netem: a node that keeps stalling, each stall too short to count
                    // as a failure.
                    let stall = (timeout / 3).max(50);
                    let until = Instant::now() + Duration::from_millis(ms);
                    let mut bursts = 0;
                    while Instant::now() < until {
                        b.pause(target)?;
                        std::thread::sleep(Duration::from_millis(stall));
                        b.resume(target)?;
                        std::thread::sleep(Duration::from_millis(stall));
                        bursts += 1;
                    }
                    format!(
                        "node {target} slowed by {bursts} SIGSTOP bursts of {stall} ms over {ms} ms (no tc netem here)"
                    )
                };
                (desc, vec![target], vec![])
            }
        };
        let mut shards: Vec<usize> = nodes.iter().map(|&i| b.shard_of(i)).collect();
        shards.sort_unstable();
        shards.dedup();
        Ok(Fault {
            kind,
            desc,
            nodes,
            shards,
            primaries: primaries.to_vec(),
            may_fail_over: may,
            start_ms,
            end_ms: now(t0),
            ready_ms: None,
        })
    }
}

/// The nodes a partition separates from the side with the most primaries (all of them
/// when no side has more); for an isolated node, that node.
fn minority_side(shape: &Shape, n: usize, primaries: &[usize]) -> Vec<usize> {
    if !shape.isolated.is_empty() {
        return shape.isolated.clone();
    }
    // The node that reaches the most primaries stands for the majority side.
    let anchor = (0..n)
        .max_by_key(|&i| primaries.iter().filter(|&&p| shape.can_reach(i, p)).count())
        .unwrap_or(0);
    let cut: Vec<usize> = (0..n).filter(|&i| !shape.can_reach(anchor, i)).collect();
    if cut.is_empty() {
        shape.touched()
    } else {
        cut
    }
}

/// Waits (up to `within`) until every node answers, reports `cluster_state:ok` and flags
/// nobody as failing, and every shard has exactly one primary and a replica in sync with
/// it. Returns each shard's primary (node index).
pub fn ready(b: &Backend, ids: &[String], within: Duration) -> Result<Vec<usize>> {
    let deadline = Instant::now() + within;
    loop {
        let why = match check_ready(b, ids) {
            Ok(p) => return Ok(p),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            bail!("the cluster was not whole within {within:?}: {why:#}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn check_ready(b: &Backend, ids: &[String]) -> Result<Vec<usize>> {
    let q = |i: usize, args: &[&str]| -> Result<String> {
        let addr = b.addr(i);
        let mut c = connect(&addr, Duration::from_millis(500))
            .ok_or_else(|| anyhow::anyhow!("{addr} does not answer"))?;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        Ok(cmd.query::<String>(&mut c)?)
    };
    let mut primaries = vec![None; b.shards()];
    for i in 0..b.len() {
        let info = q(i, &["CLUSTER", "INFO"])?;
        if !info.contains("cluster_state:ok") {
            bail!("node {i}: cluster_state is not ok");
        }
        let nodes = q(i, &["CLUSTER", "NODES"])?;
        if nodes.contains("fail") {
            bail!("node {i} still flags a node as failing");
        }
        for line in nodes.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 8 || !f[2].contains("myself") {
                continue;
            }
            let is_primary = f[2].contains("master") && f.len() > 8;
            if is_primary {
                let s = b.shard_of(i);
                if primaries[s].replace(i).is_some() {
                    bail!("shard {s} has two primaries");
                }
            }
        }
    }
    let primaries: Vec<usize> = primaries
        .into_iter()
        .enumerate()
        .map(|(s, p)| p.ok_or_else(|| anyhow::anyhow!("shard {s} has no primary")))
        .collect::<Result<_>>()?;
    for (s, &p) in primaries.iter().enumerate() {
        let repl = q(p, &["INFO", "replication"])?;
        let online = repl
            .lines()
            .filter(|l| l.starts_with("slave") && l.contains("state=online"))
            .count();
        let synced = (0..b.len())
            .filter(|&i| i != p && b.shard_of(i) == s)
            .any(|i| {
                let addr = b.addr(p);
                let (host, port) = addr.rsplit_once(':').unwrap_or((&addr, ""));
                q(i, &["INFO", "replication"]).is_ok_and(|r| {
                    r.contains("master_link_status:up")
                        && !r.contains("master_sync_in_progress:1")
                        && r.contains(&format!("master_host:{host}\r"))
                        && r.contains(&format!("master_port:{port}\r"))
                })
            });
        if online == 0 || !synced {
            bail!(
                "shard {s} (primary node {p}, {}) has no replica in sync",
                &ids[p][..8.min(ids[p].len())]
            );
        }
    }
    Ok(primaries)
}
