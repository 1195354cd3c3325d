//! A big stream moved by stock `redis-cli --cluster reshard` while a producer keeps appending
//! to it and another client reads and writes other keys: how long the producer stalled, what
//! the other keys' latency was, and whether every acknowledged append arrived. Shared by the
//! cluster test (`tests/streams.rs`, 100k entries) and `benches`' `stream-reshard` (1M).

use crate::cluster::TestCluster;
use crate::{q, run_tool, wait_for};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The stream's key: `{06S}` hashes to slot 0, the first slot the first primary owns, which
/// `redis-cli --cluster reshard --cluster-slots 1` moves first.
pub const KEY: &str = "{06S}stream";

/// What one run measured.
#[derive(Debug)]
pub struct Report {
    /// Entries in the stream before the move.
    pub entries: u64,
    /// How long `redis-cli --cluster reshard` took.
    pub reshard: Duration,
    /// The longest wait between two acknowledged appends, from a second before the reshard
    /// to a second after it.
    pub producer_max_stall: Duration,
    /// Appends acknowledged during the run.
    pub appended: u64,
    /// Requests to other keys from a second before the reshard to a second after it, and
    /// their 99th percentile and worst latency.
    pub other_requests: usize,
    pub other_p99: Duration,
    pub other_max: Duration,
    /// The stream's length on its new owner after the run, and that owner's index.
    pub final_len: u64,
    pub final_owner: usize,
    /// redis-cli's output when it failed.
    pub reshard_error: Option<String>,
}

/// Fills [`KEY`] on the cluster's first primary with `entries` entries of 5 small fields.
fn load(c: &TestCluster, entries: u64) {
    let mut conn = c.nodes[0].client();
    let mut i = 0u64;
    while i < entries {
        let mut pipe = redis::pipe();
        let end = (i + 10_000).min(entries);
        for n in i..end {
            pipe.cmd("XADD")
                .arg(KEY)
                .arg("*")
                .arg("a")
                .arg(n)
                .arg("b")
                .arg("bb")
                .arg("c")
                .arg(n * 7 % 1000)
                .arg("d")
                .arg("dddd")
                .arg("e")
                .arg("x")
                .ignore();
        }
        let _: () = pipe.query(&mut conn).expect("load the stream");
        i = end;
    }
}

/// Appends to [`KEY`] through a cluster client until `stop`: (acknowledged appends, longest
/// gap between two acknowledgements once `measuring` is set).
fn produce(c: &TestCluster, stop: Arc<AtomicBool>, measuring: Arc<AtomicBool>) -> (u64, Duration) {
    let mut conn = c.cluster_client();
    let mut acked = 0u64;
    let mut worst = Duration::ZERO;
    let mut last = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let r: redis::RedisResult<String> = redis::cmd("XADD")
            .arg(KEY)
            .arg("*")
            .arg("p")
            .arg(acked)
            .query(&mut conn);
        match r {
            Ok(_) => {
                acked += 1;
                if measuring.load(Ordering::Relaxed) {
                    worst = worst.max(last.elapsed());
                }
                last = Instant::now();
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    (acked, worst)
}

/// GETs and SETs keys of every node through a cluster client until `stop`; the latencies
/// of those made while `measuring`.
fn probe(c: &TestCluster, stop: Arc<AtomicBool>, measuring: Arc<AtomicBool>) -> Vec<Duration> {
    let mut conn = c.cluster_client();
    let mut lat = Vec::new();
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let key = format!("probe:{}", i % 1000);
        let t = Instant::now();
        let ok = if i.is_multiple_of(2) {
            redis::cmd("SET")
                .arg(&key)
                .arg(i)
                .query::<()>(&mut conn)
                .is_ok()
        } else {
            redis::cmd("GET")
                .arg(&key)
                .query::<Option<String>>(&mut conn)
                .is_ok()
        };
        if ok && measuring.load(Ordering::Relaxed) {
            lat.push(t.elapsed());
        }
        // About a thousand requests a second: a client, not a saturating benchmark.
        std::thread::sleep(Duration::from_micros(500));
    }
    lat
}

/// Starts three primaries, loads `entries` into [`KEY`] and moves its slot to the second
/// primary with `redis-cli --cluster reshard` while the producer and the probe run.
pub fn run(entries: u64) -> Report {
    let c = TestCluster::start(3, &[]);
    c.form_with_replicas(3);
    assert!(c.wait_ok(Duration::from_secs(20)), "cluster not ok");
    let ids = c.ids();
    load(&c, entries);
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let (report_parts, reshard, error) = std::thread::scope(|scope| {
        let producer = {
            let (stop, measuring) = (stop.clone(), measuring.clone());
            let c = &c;
            scope.spawn(move || produce(c, stop, measuring))
        };
        let prober = {
            let (stop, measuring) = (stop.clone(), measuring.clone());
            let c = &c;
            scope.spawn(move || probe(c, stop, measuring))
        };
        // Both clients are connected and running before the move starts.
        let mut seed = c.nodes[0].client();
        let started = wait_for(Duration::from_secs(10), || {
            let n: u64 = q(&mut seed, &["XLEN", KEY]);
            (n > entries).then_some(())
        });
        // The other keys are measured for a second before and after the move too, so that
        // their p99 rests on a few thousand requests, not on the few the move overlaps.
        measuring.store(true, Ordering::Relaxed);
        std::thread::sleep(Duration::from_secs(1));
        let seed_addr = format!("{}:{}", c.nodes[0].host, c.nodes[0].port);
        let t = Instant::now();
        let (ok, out) = if started.is_some() {
            run_tool(
                "redis-cli",
                &[
                    "--cluster",
                    "reshard",
                    &seed_addr,
                    "--cluster-from",
                    &ids[0],
                    "--cluster-to",
                    &ids[1],
                    "--cluster-slots",
                    "1",
                    "--cluster-yes",
                ],
                None,
            )
        } else {
            (false, "the producer never appended".into())
        };
        let took = t.elapsed();
        // The producer goes on on the new owner.
        std::thread::sleep(Duration::from_secs(1));
        measuring.store(false, Ordering::Relaxed);
        stop.store(true, Ordering::Relaxed);
        let produced = producer.join().expect("producer");
        let latencies = prober.join().expect("probe");
        ((produced, latencies), took, (!ok).then_some(out))
    });
    let ((appended, stall), mut lat) = report_parts;
    lat.sort();
    let p99 = lat
        .get((lat.len() * 99 / 100).min(lat.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default();
    let final_owner = ids
        .iter()
        .position(|id| Some(id.clone()) == c.owner_of(0, 0))
        .unwrap_or(0);
    let final_len: u64 = q(&mut c.nodes[final_owner].client(), &["XLEN", KEY]);
    Report {
        entries,
        reshard,
        producer_max_stall: stall,
        appended,
        other_requests: lat.len(),
        other_p99: p99,
        other_max: lat.last().copied().unwrap_or_default(),
        final_len,
        final_owner,
        reshard_error: error,
    }
}
