//! `failover-bench`: how long a client cannot write to slot 0 when the primary owning it dies
//! (kill -9) or hangs (SIGSTOP: no connection reset, the kernel still accepts connections),
//! in a 3-primary, 1-replica-each cluster — for slotcache at its defaults and for Redis at
//! chosen cluster-node-timeouts. During kill -9 runs it also counts writes that `WAIT 1`
//! confirmed before the kill and that are gone afterwards (must be 0).
//!
//! `cargo run --release -p slotcache-benches --bin failover-bench -- --runs 5`

#[allow(dead_code)]
mod cluster;
#[allow(dead_code)]
mod procs;
#[allow(dead_code)]
mod throughput;

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use cluster::{Cluster, Spec, Tools, SLOT0_TAG};
use procs::Flavor;
use redis::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    about = "Client-visible failover time: kill -9 / SIGSTOP of slot 0's primary in a 3x2 cluster"
)]
struct Cli {
    /// Runs per configuration and fault (the median is reported); each run is a fresh cluster.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Configurations: `slotcache` (its default cluster-node-timeout), `slotcache:MS`,
    /// `redis:MS` (cluster-node-timeout MS).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "slotcache,redis:15000,redis:1000"
    )]
    configs: Vec<String>,
    /// Faults: `kill` (SIGKILL) and/or `stop` (SIGSTOP).
    #[arg(long, value_delimiter = ',', default_value = "kill,stop")]
    faults: Vec<String>,
    /// Pause between the client's attempts, ms.
    #[arg(long, default_value_t = 10)]
    retry_ms: u64,
    /// Connect timeout of each attempt's fresh connection, ms.
    #[arg(long, default_value_t = 100)]
    connect_timeout_ms: u64,
    /// Read/write timeout of each attempt, ms.
    #[arg(long, default_value_t = 100)]
    io_timeout_ms: u64,
    /// The timeout of the `WAIT 1 <ms>` that confirms each background write before a kill.
    #[arg(long, default_value_t = 100)]
    wait_ms: u64,
    /// How long the confirmed-writes writer runs before the fault, ms.
    #[arg(long, default_value_t = 500)]
    write_before_ms: u64,
    /// Give up on one run this long after the fault, seconds (counted as a failure).
    #[arg(long, default_value_t = 60)]
    run_cap: u64,
    /// The slotcache-server binary (default: this workspace's target/release).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    #[arg(long, default_value = "redis-server")]
    redis_server: PathBuf,
    #[arg(long, default_value = "redis-cli")]
    redis_cli: PathBuf,
    /// Limit for the whole run, seconds; past it every process is killed.
    #[arg(long, default_value_t = 1800)]
    deadline: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    Kill,
    Stop,
}

impl Fault {
    fn parse(s: &str) -> Result<Fault> {
        match s {
            "kill" => Ok(Fault::Kill),
            "stop" => Ok(Fault::Stop),
            _ => bail!("unknown fault '{s}' (kill, stop)"),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Fault::Kill => "kill -9",
            Fault::Stop => "SIGSTOP",
        }
    }

    fn signal(self) -> libc::c_int {
        match self {
            Fault::Kill => libc::SIGKILL,
            Fault::Stop => libc::SIGSTOP,
        }
    }
}

#[derive(Clone, Debug)]
struct Config {
    flavor: Flavor,
    node_timeout_ms: Option<u64>,
}

impl Config {
    fn parse(s: &str) -> Result<Config> {
        let (name, ms) = match s.split_once(':') {
            Some((n, m)) => (
                n,
                Some(m.parse().with_context(|| format!("timeout in '{s}'"))?),
            ),
            None => (s, None),
        };
        let flavor = match name {
            "slotcache" => Flavor::Slotcache,
            "redis" => Flavor::Redis,
            _ => bail!("unknown config '{s}' (slotcache, slotcache:MS, redis:MS)"),
        };
        if flavor == Flavor::Redis && ms.is_none() {
            bail!("'redis' needs a node timeout: redis:MS");
        }
        Ok(Config {
            flavor,
            node_timeout_ms: ms,
        })
    }

    fn label(&self) -> String {
        match self.node_timeout_ms {
            Some(ms) => format!("{} node-timeout {ms}", self.flavor.label()),
            None => format!("{} (default node-timeout)", self.flavor.label()),
        }
    }
}

/// Log lines worth reporting even when the failover itself worked.
const SUSPICIOUS: &[&str] = &["panicked", "error saving", "ERROR"];

/// One run's outcome.
struct Outcome {
    /// Fault to first successful SET; None: not within the cap.
    took: Option<Duration>,
    attempts: u32,
    /// Writes WAIT confirmed before the kill, and how many of them are missing afterwards.
    confirmed: usize,
    missing: usize,
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("failover-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The node a cluster client would send slot 0 to, per CLUSTER SLOTS of the node at `port`.
fn slot0_owner(port: u16, limit: Duration) -> Result<u16> {
    let v: Value = cluster::query_within(port, &["CLUSTER", "SLOTS"], limit)?;
    let Value::Array(ranges) = v else {
        bail!("CLUSTER SLOTS: not an array")
    };
    for r in ranges {
        let Value::Array(f) = r else { continue };
        let (Some(Value::Int(0)), Some(Value::Array(primary))) = (f.first(), f.get(2)) else {
            continue;
        };
        if let Some(Value::Int(p)) = primary.get(1) {
            return Ok(*p as u16);
        }
    }
    bail!("CLUSTER SLOTS on {port} has no owner for slot 0")
}

/// What one attempt's SET got.
#[derive(Debug, PartialEq, Eq)]
enum Try {
    Ok,
    Moved(u16),
    Failed,
}

/// One SET over a fresh raw connection: the `redis` crate's connection setup reads a reply
/// without a timeout, which hangs on a stopped node, so the attempt speaks RESP itself.
fn try_set(port: u16, cli: &Cli, key: &str) -> Try {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) =
        TcpStream::connect_timeout(&addr, Duration::from_millis(cli.connect_timeout_ms))
    else {
        return Try::Failed;
    };
    let io = Some(Duration::from_millis(cli.io_timeout_ms));
    if s.set_read_timeout(io).is_err() || s.set_write_timeout(io).is_err() {
        return Try::Failed;
    }
    let req = format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$1\r\nx\r\n", key.len());
    if s.write_all(req.as_bytes()).is_err() {
        return Try::Failed;
    }
    let mut line = String::new();
    if BufReader::new(s).read_line(&mut line).is_err() {
        return Try::Failed;
    }
    parse_set_reply(&line)
}

/// `+OK` or `-MOVED <slot> <host>:<port>`; anything else (CLUSTERDOWN, TRYAGAIN, ...) failed.
fn parse_set_reply(line: &str) -> Try {
    if line.starts_with("+OK") {
        return Try::Ok;
    }
    if let Some(rest) = line.strip_prefix("-MOVED ") {
        let port = rest.trim().rsplit(':').next().and_then(|p| p.parse().ok());
        if let Some(p) = port {
            return Try::Moved(p);
        }
    }
    Try::Failed
}

/// A cluster client writing to slot 0 until it succeeds: fresh connection per attempt, a
/// MOVED is followed at once, any other failure refreshes the slot map from the next node
/// (round robin) and waits `retry_ms`. Returns the time from `t0`, the attempts made and the
/// node that took the write.
fn first_write(
    cli: &Cli,
    ports: &[u16],
    mut owner: u16,
    t0: Instant,
) -> Option<(Duration, u32, u16)> {
    let cap = Duration::from_secs(cli.run_cap);
    let key = format!("{SLOT0_TAG}probe");
    let limit = Duration::from_millis(cli.io_timeout_ms.max(cli.connect_timeout_ms));
    let mut next = 0usize;
    let mut attempts = 0u32;
    while t0.elapsed() < cap {
        attempts += 1;
        match try_set(owner, cli, &key) {
            Try::Ok => return Some((t0.elapsed(), attempts, owner)),
            Try::Moved(p) => {
                owner = p;
                continue;
            }
            Try::Failed => {}
        }
        let ask = ports[next % ports.len()];
        next += 1;
        if let Ok(p) = slot0_owner(ask, limit) {
            owner = p;
        }
        std::thread::sleep(Duration::from_millis(cli.retry_ms));
    }
    None
}

/// Writes `{06S}w:N` to the primary, each followed by `WAIT 1 wait_ms`, until stopped or the
/// primary stops answering; returns the N whose WAIT reported a replica.
fn confirmed_writer(port: u16, wait_ms: u64, stop: Arc<AtomicBool>) -> Arc<Mutex<Vec<u64>>> {
    let confirmed = Arc::new(Mutex::new(Vec::new()));
    let out = Arc::clone(&confirmed);
    std::thread::spawn(move || {
        let Ok(mut con) = cluster::connect(port, Duration::from_secs(2)) else {
            return;
        };
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let key = format!("{SLOT0_TAG}w:{n}");
            let r: redis::RedisResult<((), i64)> = redis::pipe()
                .cmd("SET")
                .arg(&key)
                .arg(n)
                .cmd("WAIT")
                .arg(1)
                .arg(wait_ms)
                .query(&mut con);
            match r {
                Ok(((), acks)) if acks >= 1 => {
                    if let Ok(mut v) = out.lock() {
                        v.push(n);
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
            n += 1;
        }
    });
    confirmed
}

/// How many of the confirmed writes the node at `port` no longer has (or has wrong).
fn count_missing(port: u16, confirmed: &[u64]) -> Result<usize> {
    let mut con = cluster::connect(port, Duration::from_secs(5))?;
    let mut missing = 0;
    for chunk in confirmed.chunks(1000) {
        let keys: Vec<String> = chunk.iter().map(|n| format!("{SLOT0_TAG}w:{n}")).collect();
        let vals: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query(&mut con)?;
        missing += chunk
            .iter()
            .zip(vals)
            .filter(|(n, v)| v.as_deref() != Some(n.to_string().as_str()))
            .count();
    }
    Ok(missing)
}

fn one_run(cli: &Cli, tools: &Tools, cfg: &Config, fault: Fault) -> Result<Outcome> {
    let spec = Spec {
        flavor: cfg.flavor,
        primaries: 3,
        replicas_per_primary: 1,
        node_timeout_ms: cfg.node_timeout_ms,
        form_limit: Duration::from_secs(60),
    };
    let c = Cluster::start(&spec, tools)?;
    let owner = slot0_owner(c.nodes[0].port, Duration::from_secs(5))?;
    let victim = c
        .index_of(owner)
        .ok_or_else(|| anyhow!("slot 0 owner {owner} is not one of ours"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let confirmed =
        (fault == Fault::Kill).then(|| confirmed_writer(owner, cli.wait_ms, Arc::clone(&stop)));
    std::thread::sleep(Duration::from_millis(cli.write_before_ms));
    let t0 = Instant::now();
    c.nodes[victim].signal(fault.signal())?;
    let ports: Vec<u16> = c.ports().into_iter().filter(|&p| p != owner).collect();
    let res = first_write(cli, &ports, owner, t0);
    stop.store(true, Ordering::Relaxed);
    for l in c.log_lines_matching(SUSPICIOUS) {
        eprintln!(
            "suspicious log line ({}, {}): {l}",
            cfg.label(),
            fault.label()
        );
    }
    let Some((took, attempts, new_owner)) = res else {
        eprintln!(
            "FAILOVER DID NOT COMPLETE within {}s ({}, {}); node logs:\n{}",
            cli.run_cap,
            cfg.label(),
            fault.label(),
            c.logs(40)
        );
        return Ok(Outcome {
            took: None,
            attempts: 0,
            confirmed: 0,
            missing: 0,
        });
    };
    let (mut n_conf, mut missing) = (0, 0);
    if let Some(conf) = confirmed {
        // The writer stops at its first error, which the kill caused; take what it confirmed.
        let v = conf.lock().map(|v| v.clone()).unwrap_or_default();
        n_conf = v.len();
        missing = count_missing(new_owner, &v)?;
        if missing > 0 {
            eprintln!(
                "LOST {missing} of {n_conf} WAIT-confirmed writes ({}); node logs:\n{}",
                cfg.label(),
                c.logs(40)
            );
        }
    }
    Ok(Outcome {
        took: Some(took),
        attempts,
        confirmed: n_conf,
        missing,
    })
}

struct Row {
    config: String,
    fault: Fault,
    outcomes: Vec<Outcome>,
}

fn run(cli: Cli) -> Result<()> {
    cluster::arm_deadline("failover-bench", cli.deadline);
    if cli.runs == 0 {
        bail!("--runs must be positive");
    }
    let configs: Vec<Config> = cli
        .configs
        .iter()
        .map(|s| Config::parse(s))
        .collect::<Result<_>>()?;
    let faults: Vec<Fault> = cli
        .faults
        .iter()
        .map(|s| Fault::parse(s))
        .collect::<Result<_>>()?;
    let tools = Tools::new(cli.server_bin.as_ref(), &cli.redis_server, &cli.redis_cli);
    cluster::check_tool(
        &tools.slotcache,
        "cargo build --release -p slotcache-server",
    )?;
    cluster::check_tool(&tools.redis_server, "install Debian's redis-server")?;
    cluster::check_tool(&tools.redis_cli, "install Debian's redis-tools")?;
    let mut rows = Vec::new();
    for cfg in &configs {
        for &fault in &faults {
            let mut outcomes = Vec::new();
            for i in 0..cli.runs {
                eprint!(
                    "{} {} run {}/{}: ",
                    cfg.label(),
                    fault.label(),
                    i + 1,
                    cli.runs
                );
                let o = one_run(&cli, &tools, cfg, fault)?;
                match o.took {
                    Some(t) if fault == Fault::Kill => eprintln!(
                        "{} ms ({} attempts; {} WAIT-confirmed writes, {} missing)",
                        t.as_millis(),
                        o.attempts,
                        o.confirmed,
                        o.missing
                    ),
                    Some(t) => eprintln!("{} ms ({} attempts)", t.as_millis(), o.attempts),
                    None => eprintln!("no successful write within {}s", cli.run_cap),
                }
                outcomes.push(o);
            }
            rows.push(Row {
                config: cfg.label(),
                fault,
                outcomes,
            });
        }
    }
    print_table(&cli, &rows);
    Ok(())
}

fn print_table(cli: &Cli, rows: &[Row]) {
    println!(
        "\nFailover as a client sees it: fault of slot 0's primary (3 primaries x 1 replica) to \
         the first successful SET {SLOT0_TAG}probe.\nClient: fresh connection per attempt, \
         connect timeout {} ms, read/write timeout {} ms, {} ms between attempts, MOVED \
         followed, slot map refreshed (CLUSTER SLOTS, round robin over the other nodes) after \
         each failure. Cap {} s per run.",
        cli.connect_timeout_ms, cli.io_timeout_ms, cli.retry_ms, cli.run_cap
    );
    println!(
        "{:<36} {:<8} {:>5} {:>9} {:>8} {:>8} {:>10} {:>8}  samples (ms)",
        "config", "fault", "ok", "median ms", "min ms", "max ms", "confirmed", "missing"
    );
    for r in rows {
        let ms: Vec<f64> = r
            .outcomes
            .iter()
            .filter_map(|o| o.took)
            .map(|t| t.as_secs_f64() * 1000.0)
            .collect();
        let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
        let min = ms.iter().copied().reduce(f64::min);
        let max = ms.iter().copied().reduce(f64::max);
        let (conf, miss) = if r.fault == Fault::Kill {
            (
                r.outcomes
                    .iter()
                    .map(|o| o.confirmed)
                    .sum::<usize>()
                    .to_string(),
                r.outcomes
                    .iter()
                    .map(|o| o.missing)
                    .sum::<usize>()
                    .to_string(),
            )
        } else {
            ("-".into(), "-".into())
        };
        let samples: Vec<String> = r
            .outcomes
            .iter()
            .map(|o| o.took.map_or("cap".into(), |t| t.as_millis().to_string()))
            .collect();
        println!(
            "{:<36} {:<8} {:>5} {:>9} {:>8} {:>8} {:>10} {:>8}  {}",
            r.config,
            r.fault.label(),
            format!("{}/{}", ms.len(), r.outcomes.len()),
            f(throughput::median(&ms)),
            f(min),
            f(max),
            conf,
            miss,
            samples.join(" ")
        );
    }
    println!(
        "confirmed: writes acknowledged by WAIT 1 {} ms before the kill (all kill runs \
         together); missing: of those, absent or wrong on the new primary (must be 0).",
        cli.wait_ms
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replies_are_classified() {
        assert_eq!(parse_set_reply("+OK\r\n"), Try::Ok);
        assert_eq!(
            parse_set_reply("-MOVED 0 127.0.0.1:7004\r\n"),
            Try::Moved(7004)
        );
        assert_eq!(
            parse_set_reply("-CLUSTERDOWN The cluster is down\r\n"),
            Try::Failed
        );
        assert_eq!(parse_set_reply(""), Try::Failed);
    }

    #[test]
    fn configs_and_faults_parse() {
        assert!(Config::parse("redis").is_err());
        assert_eq!(
            Config::parse("redis:1000").unwrap().node_timeout_ms,
            Some(1000)
        );
        assert_eq!(Config::parse("slotcache").unwrap().node_timeout_ms, None);
        assert!(Fault::parse("term").is_err());
    }
}
