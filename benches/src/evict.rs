//! `evict`: slotcache-server's eviction against redis-server's, on this machine.
//!
//! 1. memory: resident memory for N string keys of 16-byte values (the same load as
//!    `compare memory`);
//! 2. hitrate: a cache-aside client (GET, SET on miss) on a Zipf(0.99) key stream under
//!    `maxmemory`, for allkeys-lru and allkeys-lfu, against an exact LRU cache simulated
//!    here with as many keys as the server held (the best an LRU could do with that room);
//! 3. throughput: redis-benchmark SET on random keys into a full cache (every write
//!    evicts), slotcache / Redis ratio.
//!
//! `cargo run --release -p slotcache-benches --bin evict -- all`

#[allow(dead_code)] // shared with `compare`, which reads every field
mod memory;
#[allow(dead_code)]
mod procs;
#[allow(dead_code)]
mod throughput;

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use procs::{Flavor, ServerProc};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Parser)]
#[command(about = "Eviction: memory, hit rate and SET throughput, slotcache vs redis-server")]
struct Cli {
    #[arg(value_enum, default_value = "all")]
    what: What,
    /// Keys for the memory comparison.
    #[arg(long, default_value_t = 1_000_000)]
    keys: u64,
    /// Distinct keys in the Zipf workload.
    #[arg(long, default_value_t = 1_000_000)]
    universe: u64,
    /// Requests in the Zipf workload (the first fifth warms the cache and is not scored).
    #[arg(long, default_value_t = 2_000_000)]
    requests: u64,
    /// Value size for the hit-rate and throughput runs.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// maxmemory for the hit-rate and throughput runs.
    #[arg(long, default_value = "32mb")]
    maxmemory: String,
    /// SET requests for the throughput run.
    #[arg(long, default_value_t = 1_000_000)]
    set_requests: u64,
    #[arg(long, default_value_t = 50)]
    clients: u32,
    #[arg(long, default_value_t = 16)]
    pipeline: u32,
    #[arg(long)]
    server_bin: Option<PathBuf>,
    #[arg(long, default_value = "redis-server")]
    redis_server: PathBuf,
    #[arg(long, default_value = "redis-benchmark")]
    redis_benchmark: PathBuf,
    /// Do not pin server and benchmark to separate cores in the throughput run (as
    /// `compare throughput --no-pin`).
    #[arg(long)]
    no_pin: bool,
    /// Rounds of the throughput run; each round runs both servers, fresh, one after the
    /// other, and the ratio quoted is the median of the rounds' ratios (shared machines
    /// drift by 20% within a minute; a ratio taken within one round is steadier).
    #[arg(long, default_value_t = 5)]
    rounds: u32,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum What {
    Memory,
    Hitrate,
    Throughput,
    All,
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("evict: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let bin = cli
        .server_bin
        .clone()
        .unwrap_or_else(procs::default_server_bin);
    let servers = [
        (Flavor::Slotcache, bin),
        (Flavor::Redis, cli.redis_server.clone()),
    ];
    if matches!(cli.what, What::Memory | What::All) {
        memory_section(&cli, &servers)?;
    }
    if matches!(cli.what, What::Hitrate | What::All) {
        hitrate_section(&cli, &servers)?;
    }
    if matches!(cli.what, What::Throughput | What::All) {
        throughput_section(&cli, &servers)?;
    }
    Ok(())
}

fn memory_section(cli: &Cli, servers: &[(Flavor, PathBuf)]) -> Result<()> {
    let o = memory::Opts {
        keys: cli.keys,
        data: memory::DataKind::Strings,
        value_size: 16,
        batch: 10_000,
        server_core: None,
    };
    println!(
        "\n## Memory: {} keys, 16-byte values\n\n| server | RSS empty | RSS loaded | used_memory | bytes/key (RSS) |\n|---|---|---|---|---|",
        cli.keys
    );
    for (flavor, bin) in servers {
        let m = memory::measure(*flavor, bin, &o)?;
        println!(
            "| {} | {} | {} | {} | {:.1} |",
            flavor.label(),
            m.rss_empty,
            m.rss_loaded,
            m.used_memory.map_or("-".into(), |u| u.to_string()),
            m.rss_per_key()
        );
    }
    Ok(())
}

/// Zipf(s) over `0..n` by inverse CDF (exact, precomputed once).
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: u64, s: f64) -> Zipf {
        let mut cdf = Vec::with_capacity(n as usize);
        let mut acc = 0.0;
        for k in 1..=n {
            acc += 1.0 / (k as f64).powf(s);
            cdf.push(acc);
        }
        for c in &mut cdf {
            *c /= acc;
        }
        Zipf { cdf }
    }

    /// Rank for a uniform draw in [0, 1).
    fn rank(&self, u: f64) -> u64 {
        self.cdf.partition_point(|&c| c < u) as u64
    }
}

/// A deterministic key stream, the same for every server and the simulation. Ranks are
/// scattered over key names so popularity does not follow name order.
fn workload(cli: &Cli) -> Vec<u64> {
    let z = Zipf::new(cli.universe, 0.99);
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..cli.requests)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64;
            z.rank(u).wrapping_mul(0x9E37_79B9) % cli.universe
        })
        .collect()
}

/// Exact LRU with room for `cap` keys; hit rate over the scored part of `stream`.
fn exact_lru(stream: &[u64], cap: usize, warm: usize) -> f64 {
    // Recency by a logical clock: map key -> last use, ordered index last use -> key.
    let mut last: HashMap<u64, u64> = HashMap::with_capacity(cap + 1);
    let mut order: BTreeMap<u64, u64> = BTreeMap::new();
    let (mut hits, mut scored) = (0u64, 0u64);
    for (t, &k) in stream.iter().enumerate() {
        let t = t as u64;
        let hit = match last.insert(k, t) {
            Some(prev) => {
                order.remove(&prev);
                true
            }
            None => false,
        };
        order.insert(t, k);
        if last.len() > cap {
            if let Some((_, victim)) = order.pop_first() {
                last.remove(&victim);
            }
        }
        if t as usize >= warm {
            scored += 1;
            hits += hit as u64;
        }
    }
    hits as f64 / scored.max(1) as f64
}

/// Cache-aside against a server: pipelined GETs, then SETs for the misses.
fn server_hitrate(
    server: &ServerProc,
    stream: &[u64],
    value: &[u8],
    warm: usize,
) -> Result<(f64, u64)> {
    let mut con = server.client()?;
    let (mut hits, mut scored) = (0u64, 0u64);
    for (chunk_no, chunk) in stream.chunks(100).enumerate() {
        let mut p = redis::pipe();
        for k in chunk {
            p.cmd("GET").arg(format!("key:{k}"));
        }
        let got: Vec<Option<Vec<u8>>> = p.query(&mut con)?;
        let mut sets = redis::pipe();
        let mut misses = 0;
        for (i, (k, v)) in chunk.iter().zip(&got).enumerate() {
            let pos = chunk_no * 100 + i;
            if pos >= warm {
                scored += 1;
                hits += v.is_some() as u64;
            }
            if v.is_none() {
                sets.cmd("SET").arg(format!("key:{k}")).arg(value).ignore();
                misses += 1;
            }
        }
        if misses > 0 {
            sets.query::<()>(&mut con)
                .with_context(|| format!("{}: SET on miss", server.flavor.label()))?;
        }
    }
    let dbsize: u64 = redis::cmd("DBSIZE").query(&mut con)?;
    Ok((hits as f64 / scored.max(1) as f64, dbsize))
}

fn hitrate_section(cli: &Cli, servers: &[(Flavor, PathBuf)]) -> Result<()> {
    let stream = workload(cli);
    let warm = stream.len() / 5;
    let value = vec![b'x'; cli.value_size];
    println!(
        "\n## Hit rate: Zipf(0.99), {} keys, {} requests ({} scored), {}-byte values, maxmemory {}\n\n| server | policy | keys held | hit rate | exact LRU, same key count |\n|---|---|---|---|---|",
        cli.universe,
        stream.len(),
        stream.len() - warm,
        cli.value_size,
        cli.maxmemory
    );
    for policy in ["allkeys-lru", "allkeys-lfu"] {
        for (flavor, bin) in servers {
            let server = start_capped(*flavor, bin, None, &cli.maxmemory, policy)?;
            let (rate, held) = server_hitrate(&server, &stream, &value, warm)?;
            let exact = exact_lru(&stream, held.max(1) as usize, warm);
            println!(
                "| {} | {policy} | {held} | {:.4} | {:.4} |",
                flavor.label(),
                rate,
                exact
            );
        }
    }
    Ok(())
}

fn start_capped(
    flavor: Flavor,
    bin: &Path,
    core: Option<usize>,
    maxmemory: &str,
    policy: &str,
) -> Result<ServerProc> {
    let extra = [
        "--maxmemory".to_string(),
        maxmemory.to_string(),
        "--maxmemory-policy".to_string(),
        policy.to_string(),
    ];
    ServerProc::start_with(flavor, bin, core, &extra)
}

fn benchmark_set(cli: &Cli, port: u16, requests: u64, core: Option<usize>) -> Result<f64> {
    let mut cmd = Command::new("timeout");
    cmd.args(["-s", "KILL", "600"]);
    if let Some(c) = core {
        cmd.args(["taskset", "-c", &c.to_string()]);
    }
    let out = cmd
        .arg(&cli.redis_benchmark)
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", "set"])
        .args(["-r", "100000000", "-d", &cli.value_size.to_string()])
        .args(["-n", &requests.to_string(), "-c", &cli.clients.to_string()])
        .args(["-P", &cli.pipeline.to_string(), "--csv", "-q"])
        .stdin(Stdio::null())
        .output()
        .context("running redis-benchmark")?;
    if !out.status.success() {
        bail!(
            "redis-benchmark failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    throughput::parse_csv(&text)
        .into_iter()
        .find(|(t, _)| t == "set")
        .map(|(_, rps)| rps)
        .with_context(|| format!("no SET row in: {text}"))
}

fn info_u64(server: &ServerProc, section: &str, field: &str) -> u64 {
    let Ok(mut con) = server.client() else {
        return 0;
    };
    redis::cmd("INFO")
        .arg(section)
        .query::<String>(&mut con)
        .ok()
        .and_then(|i| procs::info_field(&i, field).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn throughput_section(cli: &Cli, servers: &[(Flavor, PathBuf)]) -> Result<()> {
    // Pinned like `compare throughput`: server and load generator on separate cores, so
    // both servers get the same one core and neither competes with redis-benchmark.
    let pinning = if cli.no_pin {
        None
    } else {
        procs::detect_pinning()
    };
    println!(
        "\n## SET under constant eviction: allkeys-lru, maxmemory {}, {}-byte values, random keys of 1e8, {} clients, -P {}, pinning {:?}\n\n| round | server | SET/s | evicted during run | used_memory after |\n|---|---|---|---|---|",
        cli.maxmemory, cli.value_size, cli.clients, cli.pipeline, pinning
    );
    let server_core = pinning.map(|p| p.server_core);
    let client_core = pinning.map(|p| p.client_core);
    let mut ratios = Vec::new();
    for round in 1..=cli.rounds.max(1) {
        let mut rates = Vec::new();
        for (flavor, bin) in servers {
            let server = start_capped(*flavor, bin, server_core, &cli.maxmemory, "allkeys-lru")?;
            // Fill past the limit first, so the measured run evicts on every write.
            benchmark_set(cli, server.port, cli.set_requests / 2, client_core)?;
            let before = info_u64(&server, "stats", "evicted_keys");
            if before == 0 {
                bail!(
                    "{}: the fill did not reach maxmemory; raise --set-requests",
                    flavor.label()
                );
            }
            let rps = benchmark_set(cli, server.port, cli.set_requests, client_core)?;
            let evicted = info_u64(&server, "stats", "evicted_keys") - before;
            let used = info_u64(&server, "memory", "used_memory");
            println!(
                "| {round} | {} | {rps:.0} | {evicted} | {used} |",
                flavor.label()
            );
            rates.push(rps);
        }
        if let [s, r] = rates[..] {
            ratios.push(s / r);
        }
    }
    if let Some(m) = throughput::median(&ratios) {
        let shown: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        println!(
            "\nslotcache / redis SET throughput under eviction: {m:.2} (median of rounds: {})",
            shown.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_favours_low_ranks() {
        let z = Zipf::new(1000, 0.99);
        assert_eq!(z.rank(0.0), 0);
        assert!(z.rank(0.1) < 3);
        assert_eq!(z.rank(0.999_999), 999);
    }

    #[test]
    fn exact_lru_counts_hits_after_warmup() {
        // a b a c b with room for 2: a, b miss; a hits; c evicts b; b misses.
        let s = [1, 2, 1, 3, 2];
        assert_eq!(exact_lru(&s, 2, 0), 1.0 / 5.0);
        assert_eq!(exact_lru(&s, 3, 2), 2.0 / 3.0);
    }
}
