//! `nemesis`: random partitions of random shapes and lengths against a 3x2 cluster in network
//! namespaces (issue #19), for a fixed time, under a counter-writing load; then the checks.
//!
//! - Load: one writer per shard (`SET` its own key + the shard's counter, then `WAIT 1`,
//!   following MOVED; see `cluster_tests::partition_lab::Writers`), one reader per shard
//!   reading the counter from the current primary, one prober per shard writing to every
//!   node in turn without following redirects (whoever acknowledges is acting as primary).
//! - Shapes, each round: a node cut off from the other nodes (clients still reach it), a
//!   node cut off from everyone, a 3|3 split, a 2|4 split, a bridge (two halves that both
//!   reach one node), each for 1-30 s, then healed until the cluster settles.
//! - Checks: WAIT-confirmed writes lost (read back at the end); reads of a counter below a
//!   value read before (backwards) and below the last confirmed value at the read's start
//!   (lost); two nodes acknowledging writes for one shard at overlapping times; elections
//!   per round, and every spurious one: an election for a shard whose primary stayed
//!   reachable from a majority of primaries throughout the round.
//!
//! Needs root (ip netns, iptables) and the release server:
//! `SLOTCACHE_SERVER_BIN=target/release/slotcache-server cargo run --release -p
//! slotcache-benches --bin nemesis -- --seconds 600 --seed 1`

use clap::Parser;
use cluster_tests::cluster::{parse_nodes, query_string};
use cluster_tests::partition_lab::{connect, counter_key, find_owner, Lab, Writers};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Random partitions under a counter-writing load, with a checker (issue #19)")]
struct Cli {
    /// How long to keep partitioning, in seconds.
    #[arg(long, default_value_t = 600)]
    seconds: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// cluster-node-timeout, ms (slotcache's default).
    #[arg(long, default_value_t = 700)]
    node_timeout_ms: u64,
    /// Longest partition, seconds.
    #[arg(long, default_value_t = 30)]
    max_partition_secs: u64,
}

/// A small deterministic generator, so one seed replays one sequence of shapes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn shuffled(&mut self) -> Vec<usize> {
        let mut v: Vec<usize> = (0..6).collect();
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
        v
    }
}

/// One round's partition: the pairs whose packets are dropped, and the nodes cut off from
/// clients too (isolated with `NetLab::isolate`).
struct Shape {
    name: String,
    pairs: Vec<(usize, usize)>,
    isolated: Vec<usize>,
}

impl Shape {
    fn pick(rng: &mut Rng) -> Shape {
        let order = rng.shuffled();
        let (name, a, b, bridge): (&str, Vec<usize>, Vec<usize>, Option<usize>) = match rng.below(5)
        {
            0 => (
                "node cut off from nodes",
                vec![order[0]],
                order[1..].to_vec(),
                None,
            ),
            1 => ("node cut off from everyone", vec![order[0]], vec![], None),
            2 => ("3|3 split", order[..3].to_vec(), order[3..].to_vec(), None),
            3 => ("2|4 split", order[..2].to_vec(), order[2..].to_vec(), None),
            _ => (
                "bridge",
                order[1..3].to_vec(),
                order[3..].to_vec(),
                Some(order[0]),
            ),
        };
        let mut pairs = Vec::new();
        for &i in &a {
            for &j in &b {
                pairs.push((i, j));
            }
        }
        let isolated = if b.is_empty() { a.clone() } else { vec![] };
        let desc = match bridge {
            Some(x) => format!("{name} {a:?} | {b:?} via {x}"),
            None if b.is_empty() => format!("{name} {a:?}"),
            None => format!("{name} {a:?} | {b:?}"),
        };
        Shape {
            name: desc,
            pairs,
            isolated,
        }
    }

    fn can_reach(&self, i: usize, j: usize) -> bool {
        if i == j {
            return true;
        }
        if self.isolated.contains(&i) || self.isolated.contains(&j) {
            return false;
        }
        !self
            .pairs
            .iter()
            .any(|&(a, b)| (a == i && b == j) || (a == j && b == i))
    }
}

/// Per shard, what the reader saw.
#[derive(Default)]
struct ReadStats {
    reads: u64,
    backwards: u64,
    below_confirmed: u64,
}

/// One acknowledged probe: which node, when sent and answered (since the start).
#[derive(Clone, Copy)]
struct Ack {
    node: usize,
    ok: bool,
    sent: Duration,
    got: Duration,
}

fn main() {
    let cli = Cli::parse();
    let lab = Lab::start(cli.node_timeout_ms);
    let t0 = Instant::now();
    let writers = Writers::start(&lab);
    let stop = Arc::new(AtomicBool::new(false));
    let addrs: Vec<String> = (0..6).map(|i| lab.addr(i)).collect();

    let mut readers = Vec::new();
    let mut probers = Vec::new();
    for (shard, (tag, slot)) in writers.shards.iter().enumerate() {
        let (tag, slot) = (tag.clone(), *slot);
        let stats = Arc::new(Mutex::new(ReadStats::default()));
        let confirmed = writers.last_confirmed[shard].clone();
        {
            let (stop, addrs, stats, tag) =
                (stop.clone(), addrs.clone(), stats.clone(), tag.clone());
            readers.push((
                stats.clone(),
                std::thread::spawn(move || {
                    read_loop(&addrs, &tag, slot, &confirmed, &stats, &stop)
                }),
            ));
        }
        let acks = Arc::new(Mutex::new(Vec::<Ack>::new()));
        {
            let (stop, addrs, acks) = (stop.clone(), addrs.clone(), acks.clone());
            probers.push((
                acks.clone(),
                std::thread::spawn(move || probe_loop(&addrs, &tag, t0, &acks, &stop)),
            ));
        }
    }

    let mut rng = Rng(cli.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let until = t0 + Duration::from_secs(cli.seconds);
    let mut rounds = 0;
    let mut elections_total = 0;
    let mut spurious = Vec::new();
    // Every election line seen so far (the logs are read whole each round, node by node).
    let mut seen: BTreeSet<(String, usize, String)> = lab.timed_elections().into_iter().collect();
    while Instant::now() < until {
        rounds += 1;
        let shape = Shape::pick(&mut rng);
        let secs = 1 + rng.below(cli.max_partition_secs);
        let primaries = current_primaries(&lab);
        // A shard's primary that a majority of primaries (itself included) can reach
        // throughout must keep its shard.
        let protected: BTreeSet<String> = primaries
            .iter()
            .filter(|&&p| primaries.iter().filter(|&&q| shape.can_reach(q, p)).count() >= 2)
            .map(|&p| lab.ids[p].clone())
            .collect();
        println!(
            "round {rounds} +{:.0?}: {} for {secs} s; primaries {primaries:?}",
            t0.elapsed(),
            shape.name
        );
        for &i in &shape.isolated {
            lab.net.isolate(i).expect("isolate");
        }
        for &(i, j) in &shape.pairs {
            lab.net.block(i, j).expect("block");
        }
        std::thread::sleep(Duration::from_secs(secs));
        for &(i, j) in &shape.pairs {
            lab.net.unblock(i, j).expect("unblock");
        }
        for &i in &shape.isolated {
            lab.net.rejoin(i).expect("rejoin");
        }
        if let Err(why) = lab.settle(Duration::from_secs(60)) {
            println!("  did not settle within 60 s: {why}");
        }
        let fresh: Vec<(String, usize, String)> = lab
            .timed_elections()
            .into_iter()
            .filter(|e| !seen.contains(e))
            .collect();
        for (_, winner, old) in &fresh {
            elections_total += 1;
            let bad = protected.contains(old);
            println!(
                "  election: node {winner} replaced {}{}",
                &old[..8.min(old.len())],
                if bad { "  <-- SPURIOUS" } else { "" }
            );
            if bad {
                spurious.push(format!("round {rounds} ({}): node {winner}", shape.name));
            }
        }
        seen.extend(fresh);
    }

    stop.store(true, Ordering::Relaxed);
    let logs = writers.stop();
    let _ = lab.settle(Duration::from_secs(60));
    let mut lost_total = 0;
    let mut confirmed_total = 0;
    for log in &logs {
        let lost = log.lost(&lab).unwrap_or_else(|e| {
            println!("shard {}: cannot read back: {e}", log.shard);
            vec![]
        });
        confirmed_total += log.confirmed.len();
        lost_total += lost.len();
        println!(
            "shard {}: {} writes, {} acknowledged, {} confirmed by WAIT 1, {} lost{}",
            log.shard,
            log.attempts,
            log.acked,
            log.confirmed.len(),
            lost.len(),
            if lost.is_empty() {
                String::new()
            } else {
                format!(" (first {:?})", &lost[..lost.len().min(5)])
            }
        );
    }
    let (mut reads, mut backwards, mut below) = (0, 0, 0);
    for (stats, t) in readers {
        let _ = t.join();
        let s = stats.lock().expect("stats");
        reads += s.reads;
        backwards += s.backwards;
        below += s.below_confirmed;
    }
    let mut overlaps = 0;
    let mut probes = 0;
    for (shard, (acks, t)) in probers.into_iter().enumerate() {
        let _ = t.join();
        let acks = acks.lock().expect("acks");
        probes += acks.len();
        let o = overlapping_tenures(&acks);
        for (a, b, at) in &o {
            println!("shard {shard}: nodes {a} and {b} both acknowledged writes around +{at:.1?}");
        }
        overlaps += o.len();
    }
    println!("---");
    println!(
        "{rounds} rounds in {:.0?} (seed {}): {elections_total} elections, {} spurious",
        t0.elapsed(),
        cli.seed,
        spurious.len()
    );
    for s in &spurious {
        println!("  spurious: {s}");
    }
    println!("WAIT-confirmed writes: {confirmed_total}, lost: {lost_total}");
    println!("counter reads: {reads}, backwards: {backwards}, below a confirmed value: {below}");
    println!("probes: {probes}, overlapping primaries: {overlaps}");
    let failed = !spurious.is_empty() || lost_total > 0 || below > 0 || overlaps > 0;
    // process::exit skips destructors: stop the nodes and remove the namespaces first.
    drop(lab);
    std::process::exit(i32::from(failed));
}

/// Node indexes of the slot-owning primaries, as the first answering node sees them.
fn current_primaries(lab: &Lab) -> Vec<usize> {
    for n in &lab.c.nodes {
        if let Ok(text) = query_string(n, &["CLUSTER", "NODES"]) {
            return parse_nodes(&text)
                .into_iter()
                .filter(|(_, _, flags, slots)| flags.contains("master") && !slots.is_empty())
                .filter_map(|(id, _, _, _)| lab.ids.iter().position(|x| *x == id))
                .collect();
        }
    }
    vec![]
}

fn read_loop(
    addrs: &[String],
    tag: &str,
    slot: u16,
    confirmed: &AtomicU64,
    stats: &Mutex<ReadStats>,
    stop: &AtomicBool,
) {
    let key = counter_key(tag);
    let mut owner = find_owner(addrs, slot);
    let mut con = None;
    let mut last = 0u64;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(10));
        if con.is_none() {
            con = owner
                .as_deref()
                .and_then(|a| connect(a, Duration::from_millis(300)));
            if con.is_none() {
                owner = find_owner(addrs, slot);
                continue;
            }
        }
        let Some(c) = con.as_mut() else { continue };
        let floor = confirmed.load(Ordering::Relaxed);
        match redis::cmd("GET").arg(&key).query::<Option<u64>>(c) {
            Ok(v) => {
                let v = v.unwrap_or(0);
                let mut s = stats.lock().expect("stats");
                s.reads += 1;
                if v < last {
                    s.backwards += 1;
                }
                if v < floor {
                    s.below_confirmed += 1;
                }
                last = last.max(v);
            }
            Err(e) => {
                con = None;
                owner = match e.redirect_node() {
                    Some((addr, _)) if e.kind() == redis::ErrorKind::Moved => Some(addr.into()),
                    _ => find_owner(addrs, slot),
                };
            }
        }
    }
}

/// Writes to every node in turn, never following redirects: a node that acknowledges is
/// acting as the shard's primary at that moment.
fn probe_loop(addrs: &[String], tag: &str, t0: Instant, acks: &Mutex<Vec<Ack>>, stop: &AtomicBool) {
    let mut cons: Vec<Option<redis::Connection>> = addrs.iter().map(|_| None).collect();
    let key = format!("probe{{{tag}}}");
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        for (i, addr) in addrs.iter().enumerate() {
            if cons[i].is_none() {
                cons[i] = connect(addr, Duration::from_millis(200));
            }
            let Some(c) = cons[i].as_mut() else { continue };
            n += 1;
            let sent = t0.elapsed();
            let r = redis::cmd("SET").arg(&key).arg(n).query::<String>(c);
            let got = t0.elapsed();
            let ok = r.is_ok();
            if let Err(e) = &r {
                if e.is_io_error() || e.is_timeout() {
                    cons[i] = None;
                    continue;
                }
            }
            acks.lock().expect("acks").push(Ack {
                node: i,
                ok,
                sent,
                got,
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A tenure is a node's run of consecutive acknowledged probes (ended by a refusal); it
/// spans from its first acknowledgement to the sending of its last. Two tenures of
/// different nodes that intersect mean two primaries acknowledged writes for the shard at
/// overlapping times.
fn overlapping_tenures(acks: &[Ack]) -> Vec<(usize, usize, Duration)> {
    let mut tenures: Vec<(usize, Duration, Duration)> = Vec::new();
    for node in 0..6 {
        let mut open: Option<(Duration, Duration)> = None;
        for a in acks.iter().filter(|a| a.node == node) {
            match (a.ok, open) {
                (true, None) => open = Some((a.got, a.sent)),
                (true, Some((from, _))) => open = Some((from, a.sent)),
                (false, Some((from, to))) => {
                    tenures.push((node, from, to));
                    open = None;
                }
                (false, None) => {}
            }
        }
        if let Some((from, to)) = open {
            tenures.push((node, from, to));
        }
    }
    let mut out = Vec::new();
    for (k, &(a, af, at)) in tenures.iter().enumerate() {
        for &(b, bf, bt) in &tenures[k + 1..] {
            if a != b && af < bt && bf < at {
                out.push((a, b, af.max(bf)));
            }
        }
    }
    out
}
