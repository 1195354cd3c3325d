//! `stream-reshard-bench`: a stream of a million entries (5 small fields each) moved by
//! stock `redis-cli --cluster reshard --cluster-slots 1` from one primary of a 3-primary
//! slotcache cluster to another while a producer keeps appending to it through a cluster
//! client and a probe reads and writes other keys (about a thousand requests a second).
//! Reports the producer's longest stall, the other keys' p99 and worst latency, and whether
//! every acknowledged append reached the new owner. The scenario is
//! `cluster_tests::stream_reshard`, which `tests/streams.rs` runs with 100k entries.
//!
//! `SLOTCACHE_SERVER_BIN=$PWD/target/release/slotcache-server SLOTCACHE_TEST_PORTS=lo-hi
//!  target/release/stream-reshard-bench --entries 1000000 --runs 3`

use anyhow::{bail, Result};
use clap::Parser;
use std::time::Duration;

#[derive(Parser)]
#[command(
    about = "A 1M-entry stream moved by redis-cli --cluster reshard while a producer appends"
)]
struct Cli {
    /// Entries in the stream before the move.
    #[arg(long, default_value_t = 1_000_000)]
    entries: u64,
    /// Runs, each on a fresh cluster.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// The producer's allowed longest stall, ms (the bound).
    #[arg(long, default_value_t = 1000)]
    max_stall_ms: u64,
    /// The other keys' allowed p99, ms (the bound).
    #[arg(long, default_value_t = 10)]
    max_p99_ms: u64,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let mut failed = false;
    for run in 1..=cli.runs {
        let r = cluster_tests::stream_reshard::run(cli.entries);
        let ok = r.reshard_error.is_none()
            && r.final_len == r.entries + r.appended
            && r.producer_max_stall < Duration::from_millis(cli.max_stall_ms)
            && r.other_p99 < Duration::from_millis(cli.max_p99_ms);
        failed |= !ok;
        println!(
            "run {run}: {} entries, reshard {:.0} ms, producer: {} appends, longest stall {:.0} ms; \
             other keys: {} requests, p99 {:.2} ms, max {:.1} ms; final length {} (expected {}) {}",
            r.entries,
            r.reshard.as_secs_f64() * 1e3,
            r.appended,
            r.producer_max_stall.as_secs_f64() * 1e3,
            r.other_requests,
            r.other_p99.as_secs_f64() * 1e3,
            r.other_max.as_secs_f64() * 1e3,
            r.final_len,
            r.entries + r.appended,
            if ok { "ok" } else { "FAILED" },
        );
        if let Some(e) = r.reshard_error {
            println!("redis-cli failed:\n{e}");
        }
    }
    if failed {
        bail!("a run missed a bound");
    }
    Ok(())
}
