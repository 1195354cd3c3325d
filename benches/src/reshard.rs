//! `reshard-bench`: how fast keys move when a fourth, empty primary joins a loaded 3-primary
//! cluster and `redis-cli --cluster rebalance --cluster-use-empty-masters` gives it its share,
//! and what a client sees meanwhile (latency of GET/SET of random keys, redirections,
//! errors) — for slotcache and redis-server in one run, one after the other. With
//! `--tool slotcache-cli` the slotcache cluster is also rebalanced by slotcache-cli's own
//! parallel mover, as an extra line.
//!
//! `target/release/reshard-bench --keys 1000000 --tool slotcache-cli`

#[allow(dead_code)]
mod cluster;
#[allow(dead_code)]
mod procs;
mod reshard_probe;

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use cluster::{Cluster, Tools};
use procs::{Flavor, ServerProc};
use reshard_probe::Window;
use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    about = "Rebalance onto a 4th empty primary of a loaded 3-primary cluster: keys/s and client latency, slotcache vs redis"
)]
struct Cli {
    /// Keys loaded before the new node joins (`key:0` .. `key:N-1`).
    #[arg(long, default_value_t = 1_000_000)]
    keys: u64,
    /// Bytes per value.
    #[arg(long, default_value_t = 16)]
    value_size: usize,
    /// Servers to measure, in this order.
    #[arg(long, value_delimiter = ',', default_value = "slotcache,redis")]
    servers: Vec<String>,
    /// Extra rebalance tools: `slotcache-cli` adds a run of `slotcache-cli cluster rebalance`
    /// against a fresh slotcache cluster (redis-cli always runs against every server).
    #[arg(long, value_delimiter = ',')]
    tool: Vec<String>,
    /// Keys per MIGRATE for both tools (`--cluster-pipeline` / `--pipeline`); default: each
    /// tool's own default (redis-cli 10, slotcache-cli 100).
    #[arg(long)]
    move_pipeline: Option<u64>,
    /// cluster-node-timeout of every node, ms.
    #[arg(long, default_value_t = 5000)]
    node_timeout: u64,
    /// Extra arguments for every slotcache node (e.g. `--slotcache-arg=--io-threads
    /// --slotcache-arg=1`), to compare configurations.
    #[arg(long, allow_hyphen_values = true)]
    slotcache_arg: Vec<String>,
    /// Pause between the probe's requests, microseconds (0: back to back).
    #[arg(long, default_value_t = 1000)]
    probe_interval_us: u64,
    /// How long the probe runs before the rebalance starts (its idle baseline), ms.
    #[arg(long, default_value_t = 2000)]
    baseline_ms: u64,
    /// The probe's read/write timeout, ms (a request that takes longer is an error).
    #[arg(long, default_value_t = 5000)]
    probe_timeout_ms: u64,
    /// Limit for one rebalance, seconds.
    #[arg(long, default_value_t = 900)]
    rebalance_timeout: u64,
    /// The slotcache-server binary (default: this workspace's target/release).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// The slotcache-cli binary (default: this workspace's target/release).
    #[arg(long)]
    cli_bin: Option<PathBuf>,
    #[arg(long, default_value = "/usr/bin/redis-server")]
    redis_server: PathBuf,
    #[arg(long, default_value = "redis-cli")]
    redis_cli: PathBuf,
    /// Where node directories go (tmpfs by default).
    #[arg(long, default_value = "/dev/shm")]
    scratch: PathBuf,
    /// Limit for the whole run, seconds; past it every process is killed.
    #[arg(long, default_value_t = 3600)]
    deadline: u64,
}

/// The program that moves the slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tool {
    RedisCli,
    SlotcacheCli,
}

impl Tool {
    fn label(self) -> &'static str {
        match self {
            Tool::RedisCli => "redis-cli",
            Tool::SlotcacheCli => "slotcache-cli",
        }
    }
}

/// One rebalance's outcome.
struct Outcome {
    flavor: Flavor,
    tool: Tool,
    load_secs: f64,
    /// None: the tool failed (its output and the logs were printed).
    wall_secs: Option<f64>,
    keys_moved: u64,
    slots_moved: usize,
    /// Loaded keys minus the keys all primaries hold afterwards (must be 0).
    lost: i64,
    baseline: Window,
    during: Window,
    /// CPU seconds all nodes together used during the rebalance: on a shared box, one
    /// node's extra work is every node's (and the probe's) scheduling delay.
    node_cpu: f64,
    moved: u64,
    ask: u64,
    tryagain: u64,
    wrong: u64,
    errors: Vec<(String, u64)>,
}

impl Outcome {
    fn keys_per_sec(&self) -> Option<f64> {
        self.wall_secs
            .filter(|&w| w > 0.0)
            .map(|w| self.keys_moved as f64 / w)
    }
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reshard-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The release slotcache-cli of this workspace.
fn default_cli_bin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/slotcache-cli")
}

/// The first of `n` consecutive ports in 20000..22760 that are free, bus ports (+10000)
/// included: below 22767 so every bus port is valid and outside the ephemeral range.
fn free_ports(n: u16, salt: u16) -> Result<u16> {
    let seed = (std::process::id() as u16).wrapping_add(salt.wrapping_mul(131));
    for attempt in 0..500u16 {
        let base = 20000 + seed.wrapping_mul(7).wrapping_add(attempt.wrapping_mul(37)) % 2700;
        let ok = (0..n).all(|i| {
            std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok()
                && std::net::TcpListener::bind(("127.0.0.1", base + i + 10000)).is_ok()
        });
        if ok {
            return Ok(base);
        }
    }
    bail!("no {n} consecutive free ports (with bus ports) in 20000..22760")
}

/// Runs `timeout -s KILL <secs> <program> <args>`, returning whether it succeeded, its
/// output (stdout then stderr) and the wall time. `timeout` gets SIGTERM if this process
/// dies, which it passes on to the program.
fn run_tool(program: &Path, args: &[String], secs: u64) -> Result<(bool, String, f64)> {
    let mut cmd = Command::new("timeout");
    cmd.args(["-s", "KILL", &secs.to_string()])
        .arg(program)
        .args(args)
        .stdin(Stdio::null());
    // SAFETY: prctl is async-signal-safe; it only asks for SIGTERM when this process dies.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let t = Instant::now();
    let out = cmd
        .output()
        .with_context(|| format!("running {}", program.display()))?;
    let secs_taken = t.elapsed().as_secs_f64();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text, secs_taken))
}

fn node_args(flavor: Flavor, node_timeout: u64) -> Vec<String> {
    let mut v: Vec<String> = vec!["--cluster-enabled".into(), "yes".into()];
    if flavor == Flavor::Redis {
        v.extend(["--cluster-config-file".into(), "nodes-{port}.conf".into()]);
    }
    v.extend(["--cluster-node-timeout".into(), node_timeout.to_string()]);
    v
}

/// Starts `n` cluster nodes on consecutive free ports (new ports when a start fails).
fn start_nodes(cli: &Cli, tools: &Tools, flavor: Flavor, n: u16) -> Result<Vec<ServerProc>> {
    let mut extra = node_args(flavor, cli.node_timeout);
    if flavor == Flavor::Slotcache {
        extra.extend(cli.slotcache_arg.iter().cloned());
    }
    let mut last = anyhow!("no attempt");
    for salt in 0..5u16 {
        let base = free_ports(n, salt)?;
        let started: Result<Vec<ServerProc>> = (0..n)
            .map(|i| {
                ServerProc::start_on(flavor, tools.server(flavor), base + i, &cli.scratch, &extra)
            })
            .collect();
        match started {
            Ok(v) => return Ok(v),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Loads `key:0..keys` with pipelined SETs, each key sent to its slot's owner.
fn load(map: &[u16], keys: u64, value_size: usize) -> Result<()> {
    const BATCH: u64 = 50_000;
    let mut conns: HashMap<u16, redis::Connection> = HashMap::new();
    let mut start = 0u64;
    while start < keys {
        let end = (start + BATCH).min(keys);
        let mut by_port: HashMap<u16, redis::Pipeline> = HashMap::new();
        for i in start..end {
            let key = format!("key:{i}");
            let port = map[usize::from(slotcache_proto::slot::key_slot(key.as_bytes()))];
            by_port
                .entry(port)
                .or_default()
                .cmd("SET")
                .arg(key)
                .arg(reshard_probe::value_of(i, value_size))
                .ignore();
        }
        for (port, pipe) in by_port {
            let con = match conns.entry(port) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(cluster::connect(port, Duration::from_secs(60))?)
                }
            };
            pipe.query::<()>(con)
                .with_context(|| format!("loading keys {start}..{end} into port {port}"))?;
        }
        start = end;
    }
    Ok(())
}

fn dbsize(port: u16) -> Result<u64> {
    cluster::query(port, &["DBSIZE"])
}

/// The rebalance command line of `tool` with the seed node `seed`.
fn rebalance_cmd(cli: &Cli, tool: Tool, seed: u16) -> (PathBuf, Vec<String>) {
    match tool {
        Tool::RedisCli => {
            let mut a = vec![
                "--cluster".to_string(),
                "rebalance".into(),
                format!("127.0.0.1:{seed}"),
                "--cluster-use-empty-masters".into(),
            ];
            if let Some(p) = cli.move_pipeline {
                a.extend(["--cluster-pipeline".into(), p.to_string()]);
            }
            (cli.redis_cli.clone(), a)
        }
        Tool::SlotcacheCli => {
            let mut a = vec![
                "-p".to_string(),
                seed.to_string(),
                "cluster".into(),
                "rebalance".into(),
            ];
            if let Some(p) = cli.move_pipeline {
                a.extend(["--pipeline".into(), p.to_string()]);
            }
            (cli.cli_bin.clone().unwrap_or_else(default_cli_bin), a)
        }
    }
}

/// Log lines worth showing when a rebalance fails or a run survives misbehaviour.
const SUSPICIOUS: &[&str] = &[
    "panicked", "ERROR", "WARN", "MIGRATE", "migrat", "import", "SETSLOT", "error",
];

fn one_run(cli: &Cli, tools: &Tools, flavor: Flavor, tool: Tool) -> Result<Outcome> {
    let label = format!("{} / {}", flavor.label(), tool.label());
    let form = Duration::from_secs(60);
    let mut nodes = start_nodes(cli, tools, flavor, 4)?;
    let new_node = nodes.pop().ok_or_else(|| anyhow!("no fourth node"))?;
    let mut c = Cluster {
        flavor,
        nodes,
        primaries: 3,
    };
    let mut create: Vec<String> = vec!["--cluster".into(), "create".into()];
    create.extend(c.ports().iter().map(|p| format!("127.0.0.1:{p}")));
    create.push("--cluster-yes".into());
    let (ok, out, _) = run_tool(&tools.redis_cli, &create, 60)?;
    if !ok {
        bail!(
            "{label}: redis-cli --cluster create failed:\n{out}\nlogs:\n{}",
            c.logs(30)
        );
    }
    c.wait_ready(form)
        .with_context(|| format!("{label}: cluster did not become ready"))?;
    let seed = c.nodes[0].port;

    eprintln!("{label}: loading {} keys", cli.keys);
    let map = reshard_probe::slot_map(seed)?;
    let t = Instant::now();
    load(&map, cli.keys, cli.value_size)?;
    let load_secs = t.elapsed().as_secs_f64();
    let mut total = 0;
    for p in c.ports() {
        total += dbsize(p)?;
    }
    if total != cli.keys {
        bail!(
            "{label}: loaded {} keys but the primaries hold {total}",
            cli.keys
        );
    }
    eprintln!("{label}: loaded in {load_secs:.1} s; adding an empty primary");

    let new_port = new_node.port;
    let add = [
        "--cluster".to_string(),
        "add-node".into(),
        format!("127.0.0.1:{new_port}"),
        format!("127.0.0.1:{seed}"),
    ];
    let (ok, out, _) = run_tool(&tools.redis_cli, &add, 60)?;
    c.nodes.push(new_node);
    if !ok {
        bail!(
            "{label}: redis-cli --cluster add-node failed:\n{out}\nlogs:\n{}",
            c.logs(30)
        );
    }
    c.wait_ready(form)
        .with_context(|| format!("{label}: not every node knows the new node"))?;

    let settings = reshard_probe::Settings {
        keys: cli.keys,
        value_size: cli.value_size,
        interval: Duration::from_micros(cli.probe_interval_us),
        io_timeout: Duration::from_millis(cli.probe_timeout_ms),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let probe = reshard_probe::spawn(
        reshard_probe::slot_map(seed)?,
        settings,
        t0,
        Arc::clone(&stop),
    );
    std::thread::sleep(Duration::from_millis(cli.baseline_ms));
    let (program, args) = rebalance_cmd(cli, tool, seed);
    eprintln!("{label}: {} {}", program.display(), args.join(" "));
    let cpu_before = nodes_cpu(&c.nodes);
    let from = t0.elapsed();
    let res = run_tool(&program, &args, cli.rebalance_timeout);
    let to = t0.elapsed();
    let node_cpu = nodes_cpu(&c.nodes) - cpu_before;
    stop.store(true, Ordering::Relaxed);
    let rec = probe
        .join()
        .map_err(|_| anyhow!("{label}: the probe thread panicked"))?;
    let (ok, out, wall) = res?;
    for n in &mut c.nodes {
        n.check_alive()?;
    }
    let wall_secs = if ok {
        Some(wall)
    } else {
        eprintln!(
            "REBALANCE FAILED ({label}, {wall:.1} s): {} {}\n--- output ---\n{out}\n\
             --- relevant log lines ---\n{}\n--- log tails ---\n{}",
            program.display(),
            args.join(" "),
            c.log_lines_matching(SUSPICIOUS).join("\n"),
            c.logs(40)
        );
        None
    };
    if ok {
        if let Err(e) = c.wait_ready(form) {
            eprintln!("{label}: cluster not settled after the rebalance: {e:#}");
        }
    }
    let keys_moved = dbsize(new_port)?;
    let topo: String = cluster::query(new_port, &["CLUSTER", "NODES"])?;
    let slots_moved = cluster::parse_nodes(&topo)?
        .iter()
        .find(|l| l.has_flag("myself"))
        .map(|l| l.slots.len())
        .unwrap_or(0);
    let mut after = 0;
    for p in c.ports() {
        after += dbsize(p)?;
    }
    let lost = cli.keys as i64 - after as i64;
    if lost != 0 {
        eprintln!("{label}: {lost} keys missing after the rebalance (DBSIZE sum {after})");
    }
    Ok(Outcome {
        flavor,
        tool,
        load_secs,
        wall_secs,
        keys_moved,
        slots_moved,
        lost,
        baseline: reshard_probe::window(&rec.samples, Duration::ZERO, from),
        during: reshard_probe::window(&rec.samples, from, to),
        node_cpu,
        moved: rec.moved,
        ask: rec.ask,
        tryagain: rec.tryagain,
        wrong: rec.wrong,
        errors: rec.errors.into_iter().map(|(k, (n, _))| (k, n)).collect(),
    })
}

/// User + system CPU seconds the nodes have used so far (0 for a node whose /proc entry
/// cannot be read).
fn nodes_cpu(nodes: &[ServerProc]) -> f64 {
    nodes
        .iter()
        .map(|n| procs::cpu_seconds(n.pid()).unwrap_or(0.0))
        .sum()
}

fn run(cli: Cli) -> Result<()> {
    cluster::arm_deadline("reshard-bench", cli.deadline);
    if cli.keys == 0 {
        bail!("--keys must be positive");
    }
    let servers: Vec<Flavor> = cli
        .servers
        .iter()
        .map(|s| match s.as_str() {
            "slotcache" => Ok(Flavor::Slotcache),
            "redis" => Ok(Flavor::Redis),
            _ => Err(anyhow!("unknown server '{s}' (slotcache, redis)")),
        })
        .collect::<Result<_>>()?;
    let mut runs: Vec<(Flavor, Tool)> = servers.iter().map(|&f| (f, Tool::RedisCli)).collect();
    for t in &cli.tool {
        match t.as_str() {
            "redis-cli" => {}
            "slotcache-cli" => runs.push((Flavor::Slotcache, Tool::SlotcacheCli)),
            _ => bail!("unknown tool '{t}' (redis-cli, slotcache-cli)"),
        }
    }
    let tools = Tools::new(cli.server_bin.as_ref(), &cli.redis_server, &cli.redis_cli);
    if servers.contains(&Flavor::Slotcache) {
        cluster::check_tool(
            &tools.slotcache,
            "cargo build --release -p slotcache-server",
        )?;
    }
    if servers.contains(&Flavor::Redis) {
        cluster::check_tool(&tools.redis_server, "install Debian's redis-server")?;
    }
    cluster::check_tool(&tools.redis_cli, "install Debian's redis-tools")?;
    if runs.iter().any(|&(_, t)| t == Tool::SlotcacheCli) {
        let bin = cli.cli_bin.clone().unwrap_or_else(default_cli_bin);
        cluster::check_tool(&bin, "cargo build --release -p slotcache-cli")?;
    }
    if !cli.scratch.is_dir() {
        bail!("--scratch {} is not a directory", cli.scratch.display());
    }
    let mut outcomes = Vec::new();
    for (flavor, tool) in runs {
        outcomes.push(one_run(&cli, &tools, flavor, tool)?);
    }
    print_table(&cli, &outcomes);
    Ok(())
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.2}"))
}

fn print_table(cli: &Cli, rows: &[Outcome]) {
    println!(
        "\nResharding: 3 primaries loaded with {} keys ({}-byte values), a 4th empty primary \
         added, then rebalance (redis-cli: --cluster rebalance --cluster-use-empty-masters). \
         cluster-node-timeout {} ms. Probe: one client, GET/SET of random loaded keys every \
         {} us, following MOVED/ASK; latencies of requests started during the rebalance \
         (idle: the {} ms before it).",
        cli.keys, cli.value_size, cli.node_timeout, cli.probe_interval_us, cli.baseline_ms
    );
    println!(
        "{:<10} {:<13} {:>7} {:>10} {:>6} {:>8} {:>10} {:>8} {:>8} {:>9} {:>9} {:>8} {:>14} {:>6} {:>5} {:>10}",
        "server", "tool", "load s", "keys moved", "slots", "wall s", "keys/s", "p50 ms",
        "p99 ms", "max ms", "idle p99", "requests", "moved/ask/try", "errors", "lost", "node cpu s"
    );
    for r in rows {
        println!(
            "{:<10} {:<13} {:>7.1} {:>10} {:>6} {:>8} {:>10} {:>8} {:>8} {:>9} {:>9} {:>8} {:>14} {:>6} {:>5} {:>10.2}",
            r.flavor.label(),
            r.tool.label(),
            r.load_secs,
            r.keys_moved,
            r.slots_moved,
            r.wall_secs.map_or("FAILED".into(), |w| format!("{w:.2}")),
            r.keys_per_sec().map_or("-".into(), |v| format!("{v:.0}")),
            ms(r.during.p50_ms),
            ms(r.during.p99_ms),
            ms(r.during.max_ms),
            ms(r.baseline.p99_ms),
            r.during.requests,
            format!("{}/{}/{}", r.moved, r.ask, r.tryagain),
            r.during.failed,
            r.lost,
            r.node_cpu
        );
    }
    let pick = |f: Flavor| {
        rows.iter()
            .find(|r| r.flavor == f && r.tool == Tool::RedisCli)
    };
    if let (Some(a), Some(b)) = (pick(Flavor::Slotcache), pick(Flavor::Redis)) {
        println!(
            "\n{:<26} {:>12} {:>12} {:>16}",
            "redis-cli rebalance", "slotcache", "redis", "slotcache/redis"
        );
        let line = |name: &str, x: Option<f64>, y: Option<f64>, digits: usize| {
            let f = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.digits$}"));
            let ratio = match (x, y) {
                (Some(x), Some(y)) if y > 0.0 => format!("{:.2}", x / y),
                _ => "-".into(),
            };
            println!("{:<26} {:>12} {:>12} {:>16}", name, f(x), f(y), ratio);
        };
        line("keys/s", a.keys_per_sec(), b.keys_per_sec(), 0);
        line("probe p99 ms", a.during.p99_ms, b.during.p99_ms, 2);
        line("probe max ms", a.during.max_ms, b.during.max_ms, 2);
        println!("(keys/s above 1: slotcache moves faster; p99/max below 1: slotcache's clients wait less)");
    }
    for r in rows {
        if r.wrong > 0 {
            println!(
                "{} / {}: {} GETs returned a wrong value or nil",
                r.flavor.label(),
                r.tool.label(),
                r.wrong
            );
        }
        for (e, n) in &r.errors {
            println!(
                "{} / {}: probe error x{n}: {e}",
                r.flavor.label(),
                r.tool.label()
            );
        }
    }
}
