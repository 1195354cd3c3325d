//! A 3x2 cluster in network namespaces, the partitions it is put through, and what is checked
//! after each heal (issue #19). Shared by `tests/partition_heal.rs` and the nemesis run in
//! `benches/`.
//!
//! - [`Lab`]: six nodes, each in its own namespace: primaries 0..3 (slots split evenly) and
//!   node 3 + i replicating primary i. Partitions are iptables DROP rules, so packets vanish
//!   silently and established connections resume after the heal with whatever was queued.
//! - [`Watch`]: samples CLUSTER NODES on the nodes that stayed with the majority and records
//!   every flag that should not be there.
//! - [`Writers`]: one writer per shard that sends `SET` + `WAIT 1` to the shard's current
//!   primary (following MOVED), and remembers every write a replica confirmed; after the
//!   heal, [`WriterLog::lost`] reads them all back.

use crate::cluster::{query_string, TestCluster};
use crate::netns::NetLab;
use crate::{wait_for, Node};
use slotcache_proto::nodes::{parse_nodes, NodeLine};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often [`Watch`] samples.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(50);
/// Replicas each confirmed write must reach.
const WAIT_REPLICAS: i64 = 1;
/// How long one WAIT may wait, in milliseconds.
const WAIT_MS: u64 = 200;
/// The pause between one writer's writes: a steady load of a few hundred writes a second per
/// shard, not a saturating one (on 2 cores a saturating writer starves the nodes' bus
/// threads, which is a different test).
const WRITE_EVERY: Duration = Duration::from_millis(4);

pub struct Lab {
    // Field order matters: the nodes are killed before the namespaces are removed.
    pub c: TestCluster,
    pub ids: Vec<String>,
    pub net: NetLab,
}

impl Lab {
    /// Starts and forms the cluster with `cluster-node-timeout` = `node_timeout_ms`.
    pub fn start(node_timeout_ms: u64) -> Lab {
        Self::start_with(node_timeout_ms, &|_| Vec::new())
    }

    /// As [`Lab::start`], node `i` also getting the options `extra(i)`.
    pub fn start_with(node_timeout_ms: u64, extra: &dyn Fn(usize) -> Vec<String>) -> Lab {
        let net = NetLab::new(6)
            .unwrap_or_else(|e| panic!("network namespaces are required for this test: {e}"));
        let timeout = node_timeout_ms.to_string();
        let nodes: Vec<Node> = (0..6)
            .map(|i| {
                let mut args = vec![
                    "--cluster-enabled".to_string(),
                    "yes".into(),
                    "--cluster-node-timeout".into(),
                    timeout.clone(),
                ];
                args.extend(extra(i));
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
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

    /// `host:port` of node `i`.
    pub fn addr(&self, i: usize) -> String {
        format!("{}:{}", self.c.nodes[i].host, self.c.nodes[i].port)
    }

    /// Elections won so far: (winner's index, the id of the primary it replaced), from the
    /// nodes' logs (every promotion logs "I am now the primary of <id>'s slots"), in the
    /// order they happened (the log lines start with a timestamp).
    pub fn elections(&self) -> Vec<(usize, String)> {
        self.timed_elections()
            .into_iter()
            .map(|(_, i, old)| (i, old))
            .collect()
    }

    /// [`Lab::elections`] with each one's log timestamp first.
    pub fn timed_elections(&self) -> Vec<(String, usize, String)> {
        let mut won = Vec::new();
        for (i, n) in self.c.nodes.iter().enumerate() {
            for line in n.log().lines() {
                if let Some(rest) = line.split("I am now the primary of ").nth(1) {
                    let old = rest.split('\'').next().unwrap_or("").to_string();
                    let at = line.split_whitespace().next().unwrap_or("").to_string();
                    won.push((at, i, old));
                }
            }
        }
        won.sort();
        won
    }

    /// Drops every packet between the two groups (both directions).
    pub fn split(&self, a: &[usize], b: &[usize]) -> Vec<(usize, usize)> {
        let mut pairs = Vec::new();
        for &i in a {
            for &j in b {
                self.net.block(i, j).unwrap();
                pairs.push((i, j));
            }
        }
        pairs
    }

    pub fn unsplit(&self, pairs: &[(usize, usize)]) {
        for &(i, j) in pairs {
            self.net.unblock(i, j).unwrap();
        }
    }

    /// The cluster-state lines of every node's log, for a failure message.
    pub fn story(&self) -> String {
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
            "resetting the bus link",
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
    pub fn settle(&self, within: Duration) -> Result<Vec<(String, Vec<u16>)>, String> {
        let mut last = String::new();
        let agreed = wait_for(within, || {
            let mut views = Vec::new();
            for n in &self.c.nodes {
                let info = query_string(n, &["CLUSTER", "INFO"]).ok()?;
                if !info.contains("cluster_state:ok") || !info.contains("cluster_known_nodes:6\r") {
                    last = format!("{}: {}", n.host, info.lines().next().unwrap_or(""));
                    return None;
                }
                let text = query_string(n, &["CLUSTER", "NODES"]).ok()?;
                let mut primaries: Vec<(String, Vec<u16>)> = parse_nodes(&text)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|n| n.is_primary() && !n.slots.is_empty())
                    .map(|n| (n.id, n.slots))
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

    /// The index of the node that owns `slot` now, as node `ask` sees it.
    pub fn owner_of(&self, slot: u16, ask: usize) -> Option<usize> {
        let mut con = connect(&self.addr(ask), Duration::from_millis(500))?;
        let slots: Vec<(u16, u16, String)> = cluster_slots(&mut con)?;
        let (_, _, addr) = slots.iter().find(|(a, b, _)| *a <= slot && slot <= *b)?;
        (0..6).find(|&i| self.addr(i) == *addr)
    }
}

/// Samples CLUSTER NODES on the nodes that are not `cut` off and records every flag that
/// should not be there: any flag on a node that is not cut off, except `fail?` across a pair
/// of nodes whose packets are dropped on purpose (they cannot reach each other; only a
/// majority of primaries may turn that into `fail`, and in the shapes tested none has one).
pub struct Watch<'a> {
    lab: &'a Lab,
    watched: Vec<usize>,
    cut: BTreeSet<usize>,
    blocked: BTreeSet<(usize, usize)>,
    conns: Vec<Option<redis::Connection>>,
    pub samples: usize,
    pub bad: Vec<String>,
}

impl<'a> Watch<'a> {
    pub fn new(lab: &'a Lab, cut: &[usize], blocked: &[(usize, usize)]) -> Watch<'a> {
        let watched: Vec<usize> = (0..6).filter(|i| !cut.contains(i)).collect();
        let mut pairs = BTreeSet::new();
        for &(i, j) in blocked {
            pairs.insert((i, j));
            pairs.insert((j, i));
        }
        Watch {
            lab,
            conns: watched.iter().map(|_| None).collect(),
            watched,
            cut: cut.iter().copied().collect(),
            blocked: pairs,
            samples: 0,
            bad: Vec::new(),
        }
    }

    fn sample(&mut self, phase: &str, started: Instant) {
        for (k, &i) in self.watched.iter().enumerate() {
            if self.conns[k].is_none() {
                self.conns[k] = connect(&self.lab.addr(i), Duration::from_millis(500));
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
            for n in parse_nodes(&text).unwrap_or_default() {
                let Some(j) = self.lab.ids.iter().position(|x| *x == n.id) else {
                    continue;
                };
                if self.cut.contains(&j) || !(n.has_flag("fail") || n.has_flag("fail?")) {
                    continue;
                }
                let pfail_only = !n.has_flag("fail");
                if pfail_only && self.blocked.contains(&(i, j)) {
                    continue;
                }
                if self.bad.len() < 20 {
                    self.bad.push(format!(
                        "{phase} +{:?}: node {i} flags node {j} ({}) as {}",
                        started.elapsed(),
                        n.short_id(),
                        n.flags.join(",")
                    ));
                }
            }
        }
    }

    /// Samples every [`SAMPLE_EVERY`] for `d`.
    pub fn run_for(&mut self, d: Duration, phase: &str, started: Instant) {
        let until = Instant::now() + d;
        while Instant::now() < until {
            let t = Instant::now();
            self.sample(phase, started);
            std::thread::sleep(SAMPLE_EVERY.saturating_sub(t.elapsed()));
        }
    }
}

pub fn connect(addr: &str, timeout: Duration) -> Option<redis::Connection> {
    let c = redis::Client::open(format!("redis://{addr}/")).ok()?;
    let con = c.get_connection_with_timeout(timeout).ok()?;
    con.set_read_timeout(Some(Duration::from_millis(WAIT_MS + 500)))
        .ok()?;
    con.set_write_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    Some(con)
}

/// CLUSTER SLOTS as (first, last, "host:port" of the primary).
pub fn cluster_slots(con: &mut redis::Connection) -> Option<Vec<(u16, u16, String)>> {
    let v: redis::Value = redis::cmd("CLUSTER").arg("SLOTS").query(con).ok()?;
    let redis::Value::Array(ranges) = v else {
        return None;
    };
    let mut out = Vec::new();
    for r in ranges {
        let redis::Value::Array(parts) = r else {
            continue;
        };
        let (Some(redis::Value::Int(a)), Some(redis::Value::Int(b)), Some(redis::Value::Array(p))) =
            (parts.first(), parts.get(1), parts.get(2))
        else {
            continue;
        };
        let host = match p.first() {
            Some(redis::Value::BulkString(h)) => String::from_utf8_lossy(h).into_owned(),
            _ => continue,
        };
        let port = match p.get(1) {
            Some(redis::Value::Int(port)) => *port,
            _ => continue,
        };
        out.push((*a as u16, *b as u16, format!("{host}:{port}")));
    }
    Some(out)
}

/// How writers write: which writes wait for a replica, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct WriterOpts {
    /// Every `wait_every`-th write is followed by `WAIT 1`; the others are plain writes
    /// (1: every write waits).
    pub wait_every: u64,
    /// How long one WAIT may wait, in milliseconds.
    pub wait_ms: u64,
    /// What [`WriterLog::ok_ms`] counts from.
    pub t0: Instant,
}

impl Default for WriterOpts {
    fn default() -> Self {
        WriterOpts {
            wait_every: 1,
            wait_ms: WAIT_MS,
            t0: Instant::now(),
        }
    }
}

/// What one shard's writer did.
#[derive(Debug, Default)]
pub struct WriterLog {
    pub shard: usize,
    /// The hash tag every key of this shard carries (one slot).
    pub tag: String,
    pub slot: u16,
    pub attempts: u64,
    /// Writes a primary acknowledged.
    pub acked: u64,
    /// Sequence numbers of the writes at least one replica confirmed (`WAIT 1`).
    pub confirmed: Vec<u64>,
    /// Sequence numbers of the writes a primary acknowledged but no replica confirmed
    /// (plain writes, and waited ones whose WAIT timed out).
    pub unconfirmed: Vec<u64>,
    /// When each acknowledged write was acknowledged, in milliseconds since
    /// [`WriterOpts::t0`]: what clients saw of availability.
    pub ok_ms: Vec<u32>,
    /// Sequence numbers of the writes whose outcome is unknown: the connection failed or
    /// timed out before the reply. Such a write may still take effect later (its bytes
    /// may sit in a socket buffer, or be retransmitted after a partition heals), after
    /// writes sent since.
    pub indeterminate: Vec<u64>,
}

impl WriterLog {
    fn key(&self, n: u64) -> String {
        format!("w{{{}}}:{n}", self.tag)
    }

    /// Confirmed writes that the shard's primary no longer has (read back after the heal).
    pub fn lost(&self, lab: &Lab) -> Result<Vec<u64>, String> {
        let owner = lab
            .owner_of(self.slot, 0)
            .ok_or_else(|| format!("no owner for slot {}", self.slot))?;
        self.missing_at(&lab.addr(owner), &self.confirmed)
    }

    /// Which of the writes `seqs` the node at `owner` (the shard's primary) does not have.
    pub fn missing_at(&self, owner: &str, seqs: &[u64]) -> Result<Vec<u64>, String> {
        let mut con = connect(owner, Duration::from_secs(2))
            .ok_or_else(|| format!("cannot reach {owner}"))?;
        let mut lost = Vec::new();
        for chunk in seqs.chunks(500) {
            let keys: Vec<String> = chunk.iter().map(|&n| self.key(n)).collect();
            let vals: Vec<Option<String>> = redis::cmd("MGET")
                .arg(&keys)
                .query(&mut con)
                .map_err(|e| format!("MGET on node {owner}: {e}"))?;
            for (&n, v) in chunk.iter().zip(vals) {
                if v.as_deref() != Some(n.to_string().as_str()) {
                    lost.push(n);
                }
            }
        }
        Ok(lost)
    }
}

/// One writer thread per shard, from [`Writers::start`] until [`Writers::stop`]. Besides its
/// own key per write, each write sets the shard's counter key ([`counter_key`]) to the same
/// sequence number, so a reader can tell when a read goes backwards.
pub struct Writers {
    stop: Arc<AtomicBool>,
    /// Where writers look for a slot's owner when they lost it (see [`Writers::reseed`]).
    seeds: Arc<std::sync::Mutex<Vec<String>>>,
    threads: Vec<JoinHandle<WriterLog>>,
    /// Per shard: (hash tag, slot).
    pub shards: Vec<(String, u16)>,
    /// Per shard: the highest sequence number a replica confirmed so far.
    pub last_confirmed: Vec<Arc<AtomicU64>>,
}

/// The key each shard's writer sets to its latest sequence number.
pub fn counter_key(tag: &str) -> String {
    format!("ctr{{{tag}}}")
}

impl Writers {
    pub fn start(lab: &Lab) -> Writers {
        let addrs: Vec<String> = (0..6).map(|i| lab.addr(i)).collect();
        Self::start_at(&addrs, 3, WriterOpts::default())
    }

    /// One writer for each of the first `count` nodes of `addrs`, which must be the
    /// primaries, each writing to a slot that node owns now.
    pub fn start_at(addrs: &[String], count: usize, opts: WriterOpts) -> Writers {
        let stop = Arc::new(AtomicBool::new(false));
        let addrs = addrs.to_vec();
        let seeds = Arc::new(std::sync::Mutex::new(addrs.clone()));
        let mut con = connect(&addrs[0], Duration::from_secs(2)).expect("reach node 0");
        let slots = cluster_slots(&mut con).expect("CLUSTER SLOTS");
        let mut threads = Vec::new();
        let mut shards = Vec::new();
        let mut last_confirmed = Vec::new();
        for (shard, own) in addrs.iter().enumerate().take(count) {
            // A hash tag whose slot primary `shard` owns.
            let mine: Vec<(u16, u16)> = slots
                .iter()
                .filter(|(_, _, a)| a == own)
                .map(|(a, b, _)| (*a, *b))
                .collect();
            let (tag, slot) = (0..10_000)
                .find_map(|k| {
                    let tag = format!("s{shard}t{k}");
                    let slot: u16 = redis::cmd("CLUSTER")
                        .arg("KEYSLOT")
                        .arg(&tag)
                        .query(&mut con)
                        .ok()?;
                    mine.iter()
                        .any(|(a, b)| *a <= slot && slot <= *b)
                        .then_some((tag, slot))
                })
                .expect("a hash tag for each shard");
            shards.push((tag.clone(), slot));
            let confirmed = Arc::new(AtomicU64::new(0));
            last_confirmed.push(confirmed.clone());
            let log = WriterLog {
                shard,
                tag,
                slot,
                ..Default::default()
            };
            let stop = stop.clone();
            let seeds = seeds.clone();
            let owner = own.clone();
            threads.push(std::thread::spawn(move || {
                write_loop(log, owner, seeds, stop, confirmed, opts)
            }));
        }
        Writers {
            stop,
            seeds,
            threads,
            shards,
            last_confirmed,
        }
    }

    /// Replaces the addresses writers ask for a slot's owner: nodes that moved (a rolling
    /// restart at new addresses) are no longer at the ones they started with.
    pub fn reseed(&self, addrs: Vec<String>) {
        if let Ok(mut s) = self.seeds.lock() {
            *s = addrs;
        }
    }

    pub fn stop(self) -> Vec<WriterLog> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads
            .into_iter()
            .map(|t| t.join().expect("writer thread"))
            .collect()
    }
}

fn write_loop(
    mut log: WriterLog,
    mut owner: String,
    seeds: Arc<std::sync::Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    last_confirmed: Arc<AtomicU64>,
    opts: WriterOpts,
) -> WriterLog {
    let counter = counter_key(&log.tag);
    let mut con: Option<redis::Connection> = None;
    let mut n = 0u64;
    let addrs = || seeds.lock().map(|s| s.clone()).unwrap_or_default();
    while !stop.load(Ordering::Relaxed) {
        if con.is_none() {
            con = connect(&owner, Duration::from_millis(300));
            if con.is_none() {
                owner = find_owner(&addrs(), log.slot).unwrap_or(owner);
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        }
        let Some(c) = con.as_mut() else { continue };
        n += 1;
        log.attempts += 1;
        let waits = n.is_multiple_of(opts.wait_every.max(1));
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(log.key(n))
            .arg(n)
            .cmd("SET")
            .arg(&counter)
            .arg(n);
        if waits {
            pipe.cmd("WAIT").arg(WAIT_REPLICAS).arg(opts.wait_ms);
        }
        let r: redis::RedisResult<Vec<redis::Value>> = pipe.query(c);
        match r {
            Ok(replies) => {
                log.acked += 1;
                let at = opts.t0.elapsed().as_millis();
                log.ok_ms.push(u32::try_from(at).unwrap_or(u32::MAX));
                let replicas = match replies.get(2) {
                    Some(redis::Value::Int(r)) => *r,
                    _ => 0,
                };
                if waits && replicas >= WAIT_REPLICAS {
                    log.confirmed.push(n);
                    last_confirmed.store(n, Ordering::Relaxed);
                } else {
                    log.unconfirmed.push(n);
                }
                std::thread::sleep(WRITE_EVERY);
            }
            Err(e) => {
                if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() {
                    log.indeterminate.push(n);
                }
                con = None;
                owner = match e.redirect_node() {
                    Some((addr, _)) if e.kind() == redis::ErrorKind::Moved => addr.to_string(),
                    _ => find_owner(&addrs(), log.slot).unwrap_or(owner),
                };
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    log
}

/// The primary of `slot`. Every node is asked at once, so a paused or cut-off node costs
/// one short timeout rather than one per node in turn (which used to add most of a second to
/// each measured recovery); among the primaries the answers name for the slot, the one with
/// the highest config epoch is the newest claim and wins, as a node itself settles two
/// claims. A stale view (the old primary in a minority) therefore loses to any node that
/// has seen the failover.
pub fn find_owner(addrs: &[String], slot: u16) -> Option<String> {
    let views: Vec<Vec<NodeLine>> = std::thread::scope(|s| {
        let asks: Vec<_> = addrs
            .iter()
            .map(|a| s.spawn(move || nodes_view(a)))
            .collect();
        asks.into_iter()
            .filter_map(|h| h.join().ok().flatten())
            .collect()
    });
    views
        .iter()
        .flatten()
        .filter(|n| n.is_primary() && n.owns(slot) && !n.host.is_empty() && !n.has_flag("fail"))
        .max_by_key(|n| n.config_epoch)
        .map(NodeLine::addr)
}

/// CLUSTER NODES of the node at `addr`, or `None` when it does not answer within 300 ms.
fn nodes_view(addr: &str) -> Option<Vec<NodeLine>> {
    let mut con = connect(addr, Duration::from_millis(200))?;
    con.set_read_timeout(Some(Duration::from_millis(300)))
        .ok()?;
    let text: String = redis::cmd("CLUSTER").arg("NODES").query(&mut con).ok()?;
    parse_nodes(&text).ok()
}
