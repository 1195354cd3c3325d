//! `cluster-compare`: `redis-benchmark --cluster` against a 3-primary slotcache cluster and a
//! 3-primary Redis cluster on this machine, one cluster at a time, several rounds, medians —
//! so "the cluster is as fast as Redis's" is one reproducible command.
//!
//! `cargo run --release -p slotcache-benches --bin cluster-compare -- --rounds 3`

#[allow(dead_code)]
mod cluster;
#[allow(dead_code)]
mod procs;
#[allow(dead_code)]
mod throughput;

use anyhow::{bail, Result};
use clap::Parser;
use cluster::{Cluster, Spec, Tools};
use procs::Flavor;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    about = "redis-benchmark --cluster against a slotcache cluster and a Redis cluster (one at a time)"
)]
struct Cli {
    /// Rounds per cluster (the median is reported); each round starts fresh clusters.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Primaries per cluster (no replicas).
    #[arg(long, default_value_t = 3)]
    primaries: usize,
    /// Requests per test (-n).
    #[arg(long, default_value_t = 1_000_000)]
    requests: u64,
    /// Parallel clients (-c).
    #[arg(long, default_value_t = 50)]
    clients: u32,
    /// Pipeline depth (-P).
    #[arg(long, default_value_t = 16)]
    pipeline: u32,
    /// redis-benchmark client threads (--threads); 1 = its default single thread, which on
    /// a small machine is often the bottleneck rather than the servers.
    #[arg(long, default_value_t = 1)]
    threads: u32,
    /// redis-benchmark tests (-t).
    #[arg(long, default_value = "set,get")]
    tests: String,
    /// The slotcache-server binary (default: this workspace's target/release).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    #[arg(long, default_value = "redis-server")]
    redis_server: PathBuf,
    #[arg(long, default_value = "redis-benchmark")]
    redis_benchmark: PathBuf,
    #[arg(long, default_value = "redis-cli")]
    redis_cli: PathBuf,
    /// Limit for one redis-benchmark run, seconds.
    #[arg(long, default_value_t = 300)]
    bench_timeout: u64,
    /// Limit for the whole run, seconds; past it every process is killed.
    #[arg(long, default_value_t = 1800)]
    deadline: u64,
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cluster-compare: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// What one flavor produced over all rounds: rps samples per test and the distinct warnings
/// redis-benchmark printed (e.g. a CONFIG GET the server refused).
#[derive(Default)]
struct Samples {
    rps: Vec<(String, f64)>,
    warnings: BTreeSet<String>,
}

fn one_round(cli: &Cli, tools: &Tools, flavor: Flavor, acc: &mut Samples) -> Result<()> {
    let spec = Spec {
        flavor,
        primaries: cli.primaries,
        replicas_per_primary: 0,
        node_timeout_ms: None,
        form_limit: Duration::from_secs(60),
    };
    let mut c = Cluster::start(&spec, tools)?;
    let args: Vec<String> = [
        "--cluster",
        "-h",
        "127.0.0.1",
        "-p",
        &c.nodes[0].port.to_string(),
        "-t",
        &cli.tests,
        "-P",
        &cli.pipeline.to_string(),
        "-c",
        &cli.clients.to_string(),
        "-n",
        &cli.requests.to_string(),
        "--csv",
        "-q",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut args = args;
    if cli.threads > 1 {
        args.extend(["--threads".to_string(), cli.threads.to_string()]);
    }
    let res = cluster::redis_benchmark(&cli.redis_benchmark, cli.bench_timeout, &args);
    for n in &mut c.nodes {
        n.check_alive()?;
    }
    let (out, err) = res?;
    let got = throughput::parse_csv(&out);
    if got.is_empty() {
        bail!(
            "redis-benchmark printed no results against {}: {out}{err}",
            flavor.label()
        );
    }
    for l in err.lines().chain(out.lines()) {
        if l.contains("WARN") || l.contains("ERR") {
            // Ports differ between rounds; keep the message, not the address.
            let msg = l.split(" 127.0.0.1").next().unwrap_or(l).trim().to_string();
            acc.warnings.insert(msg);
        }
    }
    acc.rps.extend(got);
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    cluster::arm_deadline("cluster-compare", cli.deadline);
    if cli.rounds == 0 || cli.primaries == 0 || cli.requests == 0 {
        bail!("--rounds, --primaries and --requests must be positive");
    }
    let tools = Tools::new(cli.server_bin.as_ref(), &cli.redis_server, &cli.redis_cli);
    cluster::check_tool(
        &tools.slotcache,
        "cargo build --release -p slotcache-server",
    )?;
    cluster::check_tool(&tools.redis_server, "install Debian's redis-server")?;
    cluster::check_tool(&cli.redis_benchmark, "install Debian's redis-tools")?;
    cluster::check_tool(&cli.redis_cli, "install Debian's redis-tools")?;
    let mut slot = Samples::default();
    let mut redis = Samples::default();
    for round in 0..cli.rounds {
        let order = if round.is_multiple_of(2) {
            [Flavor::Slotcache, Flavor::Redis]
        } else {
            [Flavor::Redis, Flavor::Slotcache]
        };
        for flavor in order {
            eprintln!(
                "round {}/{}: {} cluster, {} primaries",
                round + 1,
                cli.rounds,
                flavor.label(),
                cli.primaries
            );
            let acc = match flavor {
                Flavor::Slotcache => &mut slot,
                Flavor::Redis | Flavor::Valkey => &mut redis,
            };
            one_round(&cli, &tools, flavor, acc)?;
        }
    }
    print_table(&cli, &slot, &redis);
    Ok(())
}

fn print_table(cli: &Cli, slot: &Samples, redis: &Samples) {
    println!(
        "\nCluster throughput: redis-benchmark --cluster -t {} -P {} -c {} -n {} --threads {}, \
         {} primaries, no replicas, median of {} rounds (requests/s)",
        cli.tests, cli.pipeline, cli.clients, cli.requests, cli.threads, cli.primaries, cli.rounds
    );
    println!(
        "{:<8} {:>14} {:>14} {:>16}",
        "test", "slotcache rps", "redis rps", "slotcache/redis"
    );
    for t in cli.tests.split(',') {
        let pick = |s: &Samples| -> Vec<f64> {
            s.rps
                .iter()
                .filter(|(n, _)| n == t)
                .map(|&(_, v)| v)
                .collect()
        };
        let a = throughput::median(&pick(slot));
        let b = throughput::median(&pick(redis));
        let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
        let ratio = match (a, b) {
            (Some(a), Some(b)) => format!("{:.2}", a / b),
            _ => "-".into(),
        };
        println!("{:<8} {:>14} {:>14} {:>16}", t, f(a), f(b), ratio);
        println!(
            "  samples slotcache {:?} redis {:?}",
            pick(slot),
            pick(redis)
        );
    }
    for (label, s) in [("slotcache", slot), ("redis", redis)] {
        for w in &s.warnings {
            println!("redis-benchmark warning against {label}: {w}");
        }
    }
}
