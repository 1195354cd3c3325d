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
use cluster_tests::checker::{overlapping_tenures, probe_loop, read_loop, Ack, ReadStats};
use cluster_tests::cluster::query_string;
use cluster_tests::partition_lab::{Lab, Writers};
use cluster_tests::partition_shapes::{Rng, Shape};
use slotcache_proto::nodes::parse_nodes;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
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
                    read_loop(&addrs, &tag, slot, &confirmed, &stats, &stop, t0)
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

    let mut rng = Rng::seeded(cli.seed);
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
                .unwrap_or_default()
                .into_iter()
                .filter(|n| n.is_primary() && !n.slots.is_empty())
                .filter_map(|n| lab.ids.iter().position(|x| *x == n.id))
                .collect();
        }
    }
    vec![]
}
