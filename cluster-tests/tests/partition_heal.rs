//! Healing a partition must not fail over healthy primaries (issue #19).
//!
//! A 3x2 cluster at slotcache's default node timeout, each node in its own network namespace
//! ([`Lab`]). Nodes are cut off with iptables DROP rules — packets vanish silently, so
//! established bus connections stay open and resume after the heal with whatever their
//! senders queued meanwhile — and then healed. Throughout and for [`WATCH_AFTER_HEAL`] after,
//! the nodes on the majority side are sampled every 50 ms ([`Watch`]): none may mark a
//! reachable node `fail?` or `fail`. One writer per shard writes with `WAIT 1` the whole time
//! ([`Writers`]). At the end: exactly the expected elections (counted from the nodes' logs),
//! one primary per slot range, `cluster_state:ok` everywhere, and every write a replica
//! confirmed still readable.
//!
//! Shapes, each with its expected outcome:
//! - an isolated primary for 2 s, 10 s and 45 s: one election, its replica's;
//! - an isolated replica: none;
//! - a flapping link, a primary cut and restored every 500 ms for 10 s: none (each cut is
//!   shorter than the node timeout);
//! - a bridge, two halves that both reach one primary: none (every primary stays reachable
//!   from a majority of primaries);
//! - a 3|3 split with two primaries on one side: one election, for the shard whose primary is
//!   on the minority side, won by its replica on the majority side.
//!
//! The 45 s length comes from `SLOTCACHE_HEAL_PARTITION_SECS` (default 45: before the fix,
//! 45 s partitions failed healthy primaries over after the heal in most runs while 3-25 s
//! ones did not).

use cluster_tests::partition_lab::{Lab, Watch, Writers};
use std::time::{Duration, Instant};

/// slotcache's default `cluster-node-timeout`, given explicitly.
const NODE_TIMEOUT_MS: u64 = 700;
/// How long the connected nodes are watched after the heal.
const WATCH_AFTER_HEAL: Duration = Duration::from_secs(10);

fn long_partition_secs() -> u64 {
    std::env::var("SLOTCACHE_HEAL_PARTITION_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(45)
}

/// Cuts the `cut` nodes off from everyone for `secs`, heals, and checks the outcome.
/// `elected` is the node expected to win the one election (None: no election).
fn isolate_and_heal(lab: &Lab, cut: &[usize], secs: u64, elected: Option<usize>) {
    let writers = Writers::start(lab);
    let mut watch = Watch::new(lab, cut, &[]);
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
    check_outcome(lab, &watch, writers, elected);
}

/// Drops packets between groups `a` and `b` for `secs` (everything else, the test process
/// included, still reaches everyone), heals, and checks the outcome. `minority`: the nodes
/// on the side without a majority of primaries (not watched).
fn split_and_heal(
    lab: &Lab,
    a: &[usize],
    b: &[usize],
    minority: &[usize],
    secs: u64,
    elected: Option<usize>,
) {
    let writers = Writers::start(lab);
    let started = Instant::now();
    let pairs = lab.split(a, b);
    let mut watch = Watch::new(lab, minority, &pairs);
    eprintln!("split {a:?} | {b:?} for {secs} s");
    watch.run_for(Duration::from_secs(secs), "partition", started);
    lab.unsplit(&pairs);
    eprintln!("healed");
    watch.run_for(WATCH_AFTER_HEAL, "after heal", started);
    check_outcome(lab, &watch, writers, elected);
}

fn check_outcome(lab: &Lab, watch: &Watch, writers: Writers, elected: Option<usize>) {
    let settled = lab.settle(Duration::from_secs(30));
    let logs = writers.stop();
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
    let want: std::collections::BTreeSet<String> = (0..3)
        .map(|p| match elected {
            Some(e) if e % 3 == p => lab.ids[e].clone(),
            _ => lab.ids[p].clone(),
        })
        .collect();
    let got: std::collections::BTreeSet<String> =
        primaries.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(got, want, "unexpected primaries {primaries:?}\n{story}");
    for log in &logs {
        let lost = log
            .lost(lab)
            .unwrap_or_else(|e| panic!("reading shard {}'s writes back: {e}", log.shard));
        eprintln!(
            "shard {}: {} writes tried, {} acknowledged, {} confirmed by WAIT 1, {} lost",
            log.shard,
            log.attempts,
            log.acked,
            log.confirmed.len(),
            lost.len()
        );
        assert!(
            log.confirmed.len() > 10,
            "shard {}: too few confirmed writes to mean anything: {log:?}",
            log.shard
        );
        assert!(
            lost.is_empty(),
            "shard {}: {} WAIT-confirmed writes lost, first {:?}\n{story}",
            log.shard,
            lost.len(),
            &lost[..lost.len().min(10)]
        );
    }
}

#[test]
fn a_primary_isolated_for_2s_is_failed_over_once() {
    let lab = Lab::start(NODE_TIMEOUT_MS);
    // Node 0 owns slots 0-5460; node 3 is its replica and must be the only one elected.
    isolate_and_heal(&lab, &[0], 2, Some(3));
}

#[test]
fn a_primary_isolated_for_10s_is_failed_over_once() {
    let lab = Lab::start(NODE_TIMEOUT_MS);
    isolate_and_heal(&lab, &[0], 10, Some(3));
}

#[test]
fn a_healed_partition_fails_over_only_the_isolated_primary() {
    let lab = Lab::start(NODE_TIMEOUT_MS);
    isolate_and_heal(&lab, &[0], long_partition_secs(), Some(3));
}

#[test]
fn an_isolated_replica_heals_without_an_election() {
    let lab = Lab::start(NODE_TIMEOUT_MS);
    // Node 4 replicates node 1. Long enough for its links to fill and be reset.
    isolate_and_heal(&lab, &[4], 20, None);
}

#[test]
fn a_flapping_link_fails_nothing_over() {
    let lab = Lab::start(NODE_TIMEOUT_MS);
    let writers = Writers::start(&lab);
    let mut watch = Watch::new(&lab, &[0], &[]);
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
    check_outcome(&lab, &watch, writers, None);
}

#[test]
fn a_bridge_node_keeps_both_halves_together() {
    let lab = Lab::start(NODE_TIMEOUT_MS);
    // Primary 0 reaches everyone; {primary 1, its replica 4} and {primary 2, replicas 3 and
    // 5} do not reach each other. Every primary stays reachable from two of three primaries.
    split_and_heal(&lab, &[1, 4], &[2, 3, 5], &[], 10, None);
}

#[test]
fn a_three_three_split_fails_over_only_the_minority_primary() {
    let lab = Lab::start(NODE_TIMEOUT_MS);
    // {primaries 0 and 1, replica 5 of primary 2} | {primary 2, replicas 3 and 4}: the
    // majority side elects node 5 for primary 2's slots; the minority side elects nobody.
    split_and_heal(&lab, &[0, 1, 5], &[2, 3, 4], &[2, 3, 4], 10, Some(5));
}
