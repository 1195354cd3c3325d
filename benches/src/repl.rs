//! `repl-bench`: replication side by side, slotcache and Redis (standalone primaries, no
//! cluster): (a) full sync time of a populated primary to an empty replica, (b) the primary's
//! write throughput with 0, 1 and 2 replicas attached, (c) replication lag under load, and
//! (`from-redis`, not part of `all`) the full sync of a redis-server primary into a
//! slotcache replica against one into a redis-server (and a Valkey) replica: the first step
//! of moving a live Redis to slotcache.
//!
//! `cargo run --release -p slotcache-benches --bin repl-bench -- all`

#[allow(dead_code)]
mod cluster;
#[allow(dead_code)]
mod procs;
#[allow(dead_code)]
mod throughput;

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use cluster::{query, wait_until, Role};
use procs::{Flavor, ServerProc};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    about = "Replication: full sync time, throughput with replicas, lag (slotcache vs Redis)"
)]
struct Cli {
    /// What to measure.
    #[arg(value_enum, default_value = "all")]
    what: What,
    /// Rounds per server (medians; lag samples are pooled).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Keys for the full sync (DEBUG POPULATE on the primary).
    #[arg(long, default_value_t = 1_000_000)]
    keys: u64,
    /// Requests per redis-benchmark run for the throughput part (-n).
    #[arg(long, default_value_t = 1_000_000)]
    requests: u64,
    /// Parallel clients (-c) of the load.
    #[arg(long, default_value_t = 50)]
    clients: u32,
    /// Pipeline depth (-P) of the load.
    #[arg(long, default_value_t = 16)]
    pipeline: u32,
    /// How long to sample lag per server and round, seconds.
    #[arg(long, default_value_t = 10)]
    lag_seconds: u64,
    /// Interval between lag markers, ms.
    #[arg(long, default_value_t = 10)]
    lag_interval_ms: u64,
    /// Limit for one full sync, seconds.
    #[arg(long, default_value_t = 300)]
    sync_timeout: u64,
    /// The slotcache-server binary (default: this workspace's target/release).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Extra arguments for every slotcache server (e.g. `--slotcache-arg=--io-threads
    /// --slotcache-arg=1`), to compare configurations.
    #[arg(long, allow_hyphen_values = true)]
    slotcache_arg: Vec<String>,
    #[arg(long, default_value = "redis-server")]
    redis_server: PathBuf,
    #[arg(long, default_value = "redis-benchmark")]
    redis_benchmark: PathBuf,
    /// valkey-server for the third column of `from-redis` (default: the one
    /// `shared/peers/build.sh` builds).
    #[arg(long)]
    valkey: Option<PathBuf>,
    /// `from-redis` without the Valkey column.
    #[arg(long)]
    no_valkey: bool,
    /// Limit for one redis-benchmark run, seconds.
    #[arg(long, default_value_t = 300)]
    bench_timeout: u64,
    /// Limit for the whole run, seconds; past it every process is killed.
    #[arg(long, default_value_t = 3600)]
    deadline: u64,
}

#[derive(ValueEnum, Clone, Copy, PartialEq, Eq)]
enum What {
    Sync,
    Throughput,
    Lag,
    All,
    /// Full sync from a redis-server primary: slotcache vs redis-server (vs Valkey) replicas.
    FromRedis,
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("repl-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Starts one server for replication: DEBUG allowed (POPULATE, DIGEST); Redis with diskless
/// sync and no delay, so neither server pays for a disk round trip or waits for more
/// replicas.
fn start(cli: &Cli, flavor: Flavor) -> Result<ServerProc> {
    start_bin(cli, flavor, None)
}

/// `start`, with the binary of a Redis-like flavor given (Valkey's).
fn start_bin(cli: &Cli, flavor: Flavor, bin: Option<&Path>) -> Result<ServerProc> {
    let mut extra: Vec<String> = vec!["--enable-debug-command".into(), "yes".into()];
    let bin = match flavor {
        Flavor::Slotcache => {
            extra.extend(cli.slotcache_arg.iter().cloned());
            cli.server_bin
                .clone()
                .unwrap_or_else(procs::default_server_bin)
        }
        Flavor::Redis | Flavor::Valkey => {
            extra.extend(
                [
                    "--repl-diskless-sync",
                    "yes",
                    "--repl-diskless-sync-delay",
                    "0",
                ]
                .map(String::from),
            );
            bin.map_or_else(|| cli.redis_server.clone(), Path::to_path_buf)
        }
    };
    ServerProc::start_with(flavor, &bin, None, &extra)
}

fn replicaof(replica: &ServerProc, primary: Option<&ServerProc>) -> Result<()> {
    let _: redis::Value = match primary {
        Some(p) => query(
            replica.port,
            &["REPLICAOF", "127.0.0.1", &p.port.to_string()],
        )?,
        None => query(replica.port, &["REPLICAOF", "NO", "ONE"])?,
    };
    Ok(())
}

/// A long query (POPULATE, DIGEST of a big data set) with a generous timeout.
fn slow_query<T: redis::FromRedisValue>(port: u16, args: &[&str]) -> Result<T> {
    cluster::query_within(port, args, Duration::from_secs(120))
}

/// (a) Seconds from REPLICAOF to the replica holding the same data (DBSIZE, then DEBUG
/// DIGEST equal) with its link up.
fn full_sync(cli: &Cli, flavor: Flavor) -> Result<f64> {
    let primary = start(cli, flavor)?;
    let replica = start(cli, flavor)?;
    let keys = cli.keys.to_string();
    let _: redis::Value = slow_query(primary.port, &["DEBUG", "POPULATE", &keys])?;
    let n: u64 = query(primary.port, &["DBSIZE"])?;
    if n != cli.keys {
        bail!("{}: DEBUG POPULATE {keys} left DBSIZE {n}", flavor.label());
    }
    let digest: String = slow_query(primary.port, &["DEBUG", "DIGEST"])?;
    timed_sync(cli, &primary, &replica, n, &digest, flavor.label())
}

/// (from-redis) Seconds from REPLICAOF to a replica of `flavor` holding the same data as a
/// populated redis-server primary (DBSIZE, then DEBUG DIGEST equal; the two servers compute
/// it alike) with its link up. The primary sends its RDB diskless with no delay, as it does
/// by default to a replica announcing `capa eof` (all three do).
fn sync_from_redis(cli: &Cli, flavor: Flavor, valkey: Option<&Path>) -> Result<f64> {
    let primary = start(cli, Flavor::Redis)?;
    let replica = start_bin(cli, flavor, valkey)?;
    let keys = cli.keys.to_string();
    let _: redis::Value = slow_query(primary.port, &["DEBUG", "POPULATE", &keys])?;
    let n: u64 = query(primary.port, &["DBSIZE"])?;
    let digest: String = slow_query(primary.port, &["DEBUG", "DIGEST"])?;
    let label = format!("{} replica of redis", flavor.label());
    timed_sync(cli, &primary, &replica, n, &digest, &label)
}

/// Seconds from REPLICAOF to `replica` holding `n` keys with `digest` (the primary's) and
/// its link up; on a timeout, the error carries both servers' log tails.
fn timed_sync(
    cli: &Cli,
    primary: &ServerProc,
    replica: &ServerProc,
    n: u64,
    digest: &str,
    label: &str,
) -> Result<f64> {
    let t0 = Instant::now();
    replicaof(replica, Some(primary))?;
    let limit = Duration::from_secs(cli.sync_timeout);
    let res = wait_until(limit, "the replica to hold the primary's data", || {
        let m: u64 = query(replica.port, &["DBSIZE"])?;
        if m != n || !cluster::replica_synced(replica.port)? {
            return Ok(false);
        }
        let d: String = slow_query(replica.port, &["DEBUG", "DIGEST"])?;
        Ok(d == digest)
    });
    let took = t0.elapsed().as_secs_f64();
    if let Err(e) = res {
        bail!(
            "{label}: full sync of {n} keys did not finish: {e:#}\nprimary log:\n{}\nreplica log:\n{}",
            primary.log_tail(30),
            replica.log_tail(30)
        );
    }
    Ok(took)
}

/// (from-redis) Rounds of [`sync_from_redis`] for each replica kind, alternating the order;
/// prints the medians and slotcache's ratio to each.
fn from_redis(cli: &Cli) -> Result<()> {
    let valkey = if cli.no_valkey {
        None
    } else {
        match cli.valkey.clone().map_or_else(procs::build_valkey, Ok) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("no Valkey column: {e:#}");
                None
            }
        }
    };
    let mut kinds = vec![Flavor::Slotcache, Flavor::Redis];
    if valkey.is_some() {
        kinds.push(Flavor::Valkey);
    }
    let mut secs: Vec<Vec<f64>> = vec![Vec::new(); kinds.len()];
    for round in 0..cli.rounds {
        let mut turn: Vec<usize> = (0..kinds.len()).collect();
        turn.rotate_left(round % kinds.len());
        for i in turn {
            let f = kinds[i];
            eprintln!(
                "from-redis round {}/{}: {} replica",
                round + 1,
                cli.rounds,
                f.label()
            );
            let s = sync_from_redis(cli, f, valkey.as_deref())?;
            eprintln!("  {s:.3} s");
            secs[i].push(s);
        }
    }
    let med: Vec<Option<f64>> = secs.iter().map(|v| throughput::median(v)).collect();
    println!(
        "\n(from-redis) Full sync of {} keys (DEBUG POPULATE) from a redis-server primary \
         (diskless, delay 0) to an empty replica: REPLICAOF until DBSIZE and DEBUG DIGEST \
         match and ROLE says connected; median of {} (seconds)",
        cli.keys, cli.rounds
    );
    for (i, f) in kinds.iter().enumerate() {
        let ratio = if i == 0 {
            String::new()
        } else {
            let r = med[0].zip(med[i]).map(|(a, b)| a / b);
            format!("slotcache/{} {}", f.label(), fmt(r, 2))
        };
        println!(
            "{:<10} replica {:>8}  {:<22} (samples {:?})",
            f.label(),
            fmt(med[i], 3),
            ratio,
            secs[i]
        );
    }
    Ok(())
}

/// Waits until `primary` lists exactly `attached.len()` replicas and each of them is synced.
fn wait_attached(primary: &ServerProc, attached: &[&ServerProc]) -> Result<()> {
    wait_until(Duration::from_secs(60), "replicas to attach", || {
        let Role::Primary { replicas, .. } = cluster::role(primary.port)? else {
            bail!("port {} is not a primary", primary.port)
        };
        if replicas.len() != attached.len() {
            return Ok(false);
        }
        for r in attached {
            if !cluster::replica_synced(r.port)? {
                return Ok(false);
            }
        }
        Ok(true)
    })
}

fn bench_args(cli: &Cli, port: u16, requests: u64) -> Vec<String> {
    [
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-t",
        "set",
        "-P",
        &cli.pipeline.to_string(),
        "-c",
        &cli.clients.to_string(),
        "-n",
        &requests.to_string(),
        "--csv",
        "-q",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// One run of (b): requests/s, and the primary's CPU microseconds per request.
#[derive(Clone, Copy, Default)]
struct Run {
    rps: f64,
    cpu_us: f64,
}

/// (b) SET rps on the primary with 0, 1 and 2 replicas attached (one set of servers, the
/// replicas attached and detached with REPLICAOF), and what each request cost the primary
/// in CPU: on a machine whose cores are shared by the primary, its replicas and the load,
/// requests/s falls with every replica's own CPU too; CPU per request is the primary's cost
/// alone, what its throughput is limited by once it has a core to itself.
fn throughput_with_replicas(cli: &Cli, flavor: Flavor) -> Result<[Run; 3]> {
    let mut primary = start(cli, flavor)?;
    let r1 = start(cli, flavor)?;
    let r2 = start(cli, flavor)?;
    let mut out = [Run::default(); 3];
    for (k, slot) in out.iter_mut().enumerate() {
        let attached: Vec<&ServerProc> = [&r1, &r2].into_iter().take(k).collect();
        for (i, r) in [&r1, &r2].into_iter().enumerate() {
            replicaof(r, (i < k).then_some(&primary))?;
        }
        wait_attached(&primary, &attached)?;
        let args = bench_args(cli, primary.port, cli.requests);
        let cpu_before = procs::cpu_seconds(primary.pid());
        let res = cluster::redis_benchmark(&cli.redis_benchmark, cli.bench_timeout, &args);
        let cpu_after = procs::cpu_seconds(primary.pid());
        primary.check_alive()?;
        let (o, _) = res?;
        let rps = throughput::parse_csv(&o)
            .into_iter()
            .find(|(t, _)| t == "set")
            .map(|(_, v)| v)
            .with_context(|| format!("no SET result in redis-benchmark output: {o}"))?;
        // NaN (shown as "-") when /proc could not be read or the run was too short for
        // its 10 ms ticks to count anything.
        let cpu_us = match cpu_before.zip(cpu_after) {
            Some((a, b)) if b > a => (b - a) * 1e6 / cli.requests as f64,
            _ => f64::NAN,
        };
        *slot = Run { rps, cpu_us };
    }
    Ok(out)
}

/// A background load that is killed when dropped.
struct Load(Child);

impl Drop for Load {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_load(cli: &Cli, bin: &Path, port: u16) -> Result<Load> {
    let secs = cli.lag_seconds + 30;
    let child = Command::new("timeout")
        .args(["-s", "KILL", &secs.to_string()])
        .arg(bin)
        .args(bench_args(cli, port, 1_000_000_000))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting redis-benchmark load")?;
    Ok(Load(child))
}

/// Lag samples in ms: (write sent -> visible on the replica, write acked -> visible).
#[derive(Default)]
struct Lag {
    from_write: Vec<f64>,
    from_ack: Vec<f64>,
    not_seen: usize,
}

/// (c) Under redis-benchmark load on the primary, every `lag_interval_ms` a marker SET on
/// the primary, then GET on the replica in a loop until it is there.
fn lag(cli: &Cli, flavor: Flavor, acc: &mut Lag) -> Result<()> {
    let mut primary = start(cli, flavor)?;
    let replica = start(cli, flavor)?;
    replicaof(&replica, Some(&primary))?;
    wait_attached(&primary, &[&replica])?;
    let mut load = start_load(cli, &cli.redis_benchmark, primary.port)?;
    std::thread::sleep(Duration::from_millis(500));
    let mut pc = cluster::connect(primary.port, Duration::from_secs(5))?;
    let mut rc = cluster::connect(replica.port, Duration::from_secs(5))?;
    let end = Instant::now() + Duration::from_secs(cli.lag_seconds);
    let interval = Duration::from_millis(cli.lag_interval_ms);
    let mut i = 0u64;
    while Instant::now() < end {
        let tick = Instant::now();
        let key = format!("lagmarker:{i}");
        i += 1;
        let t_w = Instant::now();
        let () = redis::cmd("SET").arg(&key).arg(i).query(&mut pc)?;
        let t_ack = Instant::now();
        let seen = loop {
            let v: Option<u64> = redis::cmd("GET").arg(&key).query(&mut rc)?;
            if v.is_some() {
                break true;
            }
            if t_ack.elapsed() > Duration::from_secs(5) {
                break false;
            }
        };
        let t_v = Instant::now();
        if seen {
            acc.from_write.push((t_v - t_w).as_secs_f64() * 1000.0);
            acc.from_ack.push((t_v - t_ack).as_secs_f64() * 1000.0);
        } else {
            acc.not_seen += 1;
        }
        if let Some(rest) = interval.checked_sub(tick.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    if load.0.try_wait()?.is_some() {
        eprintln!("warning: the redis-benchmark load ended before the lag sampling did");
    }
    primary.check_alive()?;
    drop(load);
    Ok(())
}

fn order(round: usize) -> [Flavor; 2] {
    if round.is_multiple_of(2) {
        [Flavor::Slotcache, Flavor::Redis]
    } else {
        [Flavor::Redis, Flavor::Slotcache]
    }
}

fn idx(f: Flavor) -> usize {
    match f {
        Flavor::Slotcache => 0,
        Flavor::Redis | Flavor::Valkey => 1,
    }
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

fn run(cli: Cli) -> Result<()> {
    cluster::arm_deadline("repl-bench", cli.deadline);
    if cli.rounds == 0 || cli.keys == 0 || cli.requests == 0 || cli.lag_interval_ms == 0 {
        bail!("--rounds, --keys, --requests and --lag-interval-ms must be positive");
    }
    let slot_bin = cli
        .server_bin
        .clone()
        .unwrap_or_else(procs::default_server_bin);
    cluster::check_tool(&slot_bin, "cargo build --release -p slotcache-server")?;
    cluster::check_tool(&cli.redis_server, "install Debian's redis-server")?;
    cluster::check_tool(&cli.redis_benchmark, "install Debian's redis-tools")?;
    if cli.what == What::FromRedis {
        return from_redis(&cli);
    }
    let all = cli.what == What::All;
    if all || cli.what == What::Sync {
        let mut secs: [Vec<f64>; 2] = [vec![], vec![]];
        for round in 0..cli.rounds {
            for f in order(round) {
                eprintln!("sync round {}/{}: {}", round + 1, cli.rounds, f.label());
                let s = full_sync(&cli, f)?;
                eprintln!("  {s:.3} s");
                secs[idx(f)].push(s);
            }
        }
        let (a, b) = (throughput::median(&secs[0]), throughput::median(&secs[1]));
        println!(
            "\n(a) Full sync of {} keys (DEBUG POPULATE) to an empty replica: REPLICAOF until \
             DBSIZE and DEBUG DIGEST match and ROLE says connected; median of {} (seconds)",
            cli.keys, cli.rounds
        );
        println!("slotcache {}  redis {}  slotcache/redis {}  (samples slotcache {:?} redis {:?}; redis: diskless sync, delay 0)",
            fmt(a, 3), fmt(b, 3), fmt(a.zip(b).map(|(a, b)| a / b), 2), secs[0], secs[1]);
    }
    if all || cli.what == What::Throughput {
        let mut runs: [[Vec<Run>; 3]; 2] = Default::default();
        for round in 0..cli.rounds {
            for f in order(round) {
                eprintln!(
                    "throughput round {}/{}: {}",
                    round + 1,
                    cli.rounds,
                    f.label()
                );
                let r = throughput_with_replicas(&cli, f)?;
                eprintln!(
                    "  0/1/2 replicas: {:.0} {:.0} {:.0} requests/s; primary CPU {:.3} {:.3} {:.3} us/request",
                    r[0].rps, r[1].rps, r[2].rps, r[0].cpu_us, r[1].cpu_us, r[2].cpu_us
                );
                for k in 0..3 {
                    runs[idx(f)][k].push(r[k]);
                }
            }
        }
        println!(
            "\n(b) Primary throughput, redis-benchmark -t set -P {} -c {} -n {}, median of {} \
             (requests/s, and the median of each round's ratio to its own 0-replica run)",
            cli.pipeline, cli.clients, cli.requests, cli.rounds
        );
        println!(
            "{:<10} {:>14} {:>14} {:>14}",
            "server", "0 replicas", "1 replica", "2 replicas"
        );
        let table = |what: fn(&Run) -> f64, digits: usize, invert: bool| {
            for f in [Flavor::Slotcache, Flavor::Redis] {
                let rounds = &runs[idx(f)];
                let m: Vec<Option<f64>> = (0..3)
                    .map(|k| {
                        let v: Vec<f64> = rounds[k]
                            .iter()
                            .map(what)
                            .filter(|v| v.is_finite())
                            .collect();
                        throughput::median(&v)
                    })
                    .collect();
                // Each round's three runs are back to back on the same servers, so a round's
                // ratio shares its noise; the median of those ratios is steadier than the
                // ratio of the medians.
                let cell = |k: usize| {
                    let per_round: Vec<f64> = rounds[k]
                        .iter()
                        .zip(&rounds[0])
                        .map(|(x, z)| {
                            if invert {
                                what(z) / what(x)
                            } else {
                                what(x) / what(z)
                            }
                        })
                        .filter(|v| v.is_finite())
                        .collect();
                    let ratio = throughput::median(&per_round);
                    format!("{} ({})", fmt(m[k], digits), fmt(ratio, 2))
                };
                println!(
                    "{:<10} {:>14} {:>14} {:>14}",
                    f.label(),
                    cell(0),
                    cell(1),
                    cell(2)
                );
            }
        };
        table(|r| r.rps, 0, false);
        println!(
            "\nPrimary CPU per request (microseconds, and the 0-replica cost divided by this one: \
             the throughput ratio the primary can reach when it has a core of its own)"
        );
        println!(
            "{:<10} {:>14} {:>14} {:>14}",
            "server", "0 replicas", "1 replica", "2 replicas"
        );
        table(|r| r.cpu_us, 3, true);
    }
    if all || cli.what == What::Lag {
        let mut lags = [Lag::default(), Lag::default()];
        for round in 0..cli.rounds {
            for f in order(round) {
                eprintln!("lag round {}/{}: {}", round + 1, cli.rounds, f.label());
                lag(&cli, f, &mut lags[idx(f)])?;
            }
        }
        println!(
            "\n(c) Replication lag under redis-benchmark -t set -P {} -c {} on the primary: a \
             marker SET every {} ms, GET on the replica until visible; {} s x {} rounds (ms)",
            cli.pipeline, cli.clients, cli.lag_interval_ms, cli.lag_seconds, cli.rounds
        );
        println!(
            "{:<10} {:>8} {:>12} {:>12} {:>12} {:>12} {:>10}",
            "server", "samples", "write p50", "write p99", "ack p50", "ack p99", "not seen"
        );
        for f in [Flavor::Slotcache, Flavor::Redis] {
            let l = &lags[idx(f)];
            println!(
                "{:<10} {:>8} {:>12} {:>12} {:>12} {:>12} {:>10}",
                f.label(),
                l.from_write.len(),
                fmt(cluster::percentile(&l.from_write, 50.0), 3),
                fmt(cluster::percentile(&l.from_write, 99.0), 3),
                fmt(cluster::percentile(&l.from_ack, 50.0), 3),
                fmt(cluster::percentile(&l.from_ack, 99.0), 3),
                l.not_seen
            );
        }
        println!("write: from sending the marker SET to the primary until GET on the replica returns it; ack: from the primary's OK until then; not seen: markers not visible within 5 s");
    }
    Ok(())
}
