//! `cluster start / stop / status`: a whole local cluster with one command each; and
//! `add-node / rebalance / remove-node / fix` for changing a running cluster (in `manage`
//! and `fix`).
//!
//! `start` launches N nodes on consecutive ports (each with its own directory under one base
//! directory), splits the 16384 slots evenly over the primaries, introduces everyone with
//! CLUSTER MEET, attaches replicas with CLUSTER REPLICATE, and waits until every node reports
//! `cluster_state:ok`. The list of ports is recorded in the base directory so `stop` and
//! `status` find the cluster again.

use crate::conn::Target;
use crate::slotmove::MoveOpts;
use crate::topology::parse_hostport;
use crate::{fix, manage, server};
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Subcommand, Debug)]
pub enum ClusterCmd {
    /// Starts a local cluster and waits until it is healthy.
    Start {
        /// Number of nodes.
        #[arg(long, default_value_t = 6)]
        nodes: u16,
        /// Replicas per primary.
        #[arg(long, default_value_t = 1)]
        replicas: u16,
        /// First port (nodes use consecutive ports).
        #[arg(long, default_value_t = 7000)]
        port: u16,
        /// Base directory (default: <tmp>/slotcache-cluster-<port>).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The slotcache-server binary (default: next to slotcache-cli, else built).
        #[arg(long)]
        server_bin: Option<PathBuf>,
        /// Seconds to wait for the cluster to become healthy.
        #[arg(long, default_value_t = 60)]
        wait: u64,
        /// Extra slotcache-server options for every node, after `--`.
        #[arg(last = true)]
        extra: Vec<String>,
    },
    /// Stops every node of a cluster started with `cluster start`.
    Stop {
        #[arg(long, default_value_t = 7000)]
        port: u16,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Follows the events of every node live (failovers, role changes, FAIL/recovered,
    /// lost leases, slot migrations), one JSON line per event after the publishing node.
    Events {
        /// Any node of the cluster (host:port; default: -h/-p).
        seed: Option<String>,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<u64>,
        /// Stop after this many seconds.
        #[arg(long = "for", value_name = "SECS")]
        for_secs: Option<u64>,
    },
    /// Shows slots, roles and health.
    Status {
        #[arg(long, default_value_t = 7000)]
        port: u16,
    },
    /// Adds an empty node to a running cluster: as a replica, or as a primary that then
    /// gets its share of the slots.
    AddNode {
        /// The new, empty node (host:port).
        new: String,
        /// Any node of the cluster (host:port).
        #[arg(long = "to", value_name = "EXISTING")]
        existing: String,
        /// Make the new node a replica of this primary (id, or a unique start of it).
        #[arg(long, value_name = "ID")]
        replica_of: Option<String>,
        /// Join as an empty primary without moving slots to it.
        #[arg(long)]
        no_rebalance: bool,
        #[command(flatten)]
        moves: MoveArgs,
    },
    /// Spreads the 16384 slots evenly over all primaries (empty ones included).
    Rebalance {
        /// Any node of the cluster (host:port; default: -h/-p).
        seed: Option<String>,
        #[command(flatten)]
        moves: MoveArgs,
    },
    /// Moves a node's slots to the other primaries, re-points its replicas, makes every
    /// node forget it and resets it.
    RemoveNode {
        /// The node's id (or a unique start of it).
        id: String,
        /// Any node of the cluster (host:port; default: -h/-p).
        #[arg(long)]
        seed: Option<String>,
        #[command(flatten)]
        moves: MoveArgs,
    },
    /// Closes slots left open (migrating/importing) by an interrupted move.
    Fix {
        /// Any node of the cluster (host:port; default: -h/-p).
        seed: Option<String>,
        #[command(flatten)]
        moves: MoveArgs,
    },
}

/// How slots are moved (add-node, rebalance, remove-node, fix).
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct MoveArgs {
    /// Keys per MIGRATE.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pipeline: u64,
    /// MIGRATE timeout in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 60000)]
    timeout: u64,
    /// Slot moves running at once (each between a different pair of nodes).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    workers: u64,
    /// Seconds to wait for the cluster to agree on its layout (each time it waits).
    #[arg(long, default_value_t = 60)]
    wait: u64,
}

impl MoveArgs {
    fn settings(&self) -> manage::Settings {
        manage::Settings {
            moves: MoveOpts {
                pipeline: self.pipeline as usize,
                timeout_ms: self.timeout,
            },
            workers: self.workers as usize,
            wait: Duration::from_secs(self.wait),
        }
    }
}

/// `host:port` if given, else the global -h/-p target.
fn seed_or(t: &Target, seed: Option<String>) -> Result<Target> {
    match seed {
        Some(s) => parse_hostport(&s, &t.pass),
        None => Ok(t.clone()),
    }
}

const PORTS_FILE: &str = "cluster.ports";

fn base_dir(port: u16, dir: Option<PathBuf>) -> PathBuf {
    dir.unwrap_or_else(|| std::env::temp_dir().join(format!("slotcache-cluster-{port}")))
}

fn target(host: &str, port: u16, pass: &Option<String>) -> Target {
    Target {
        host: host.to_string(),
        port,
        pass: pass.clone(),
    }
}

fn query(t: &Target, args: &[&str]) -> Result<String> {
    let mut con = t.connect()?;
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query::<String>(&mut con)
        .with_context(|| format!("{} on {}", args.join(" "), t.addr()))
}

pub fn run(t: &Target, cmd: ClusterCmd) -> Result<()> {
    match cmd {
        ClusterCmd::Start {
            nodes,
            replicas,
            port,
            dir,
            server_bin,
            wait,
            extra,
        } => start(
            t,
            nodes,
            replicas,
            port,
            &base_dir(port, dir),
            server_bin,
            wait,
            &extra,
        ),
        ClusterCmd::Stop { port, dir } => stop(t, &base_dir(port, dir), port),
        ClusterCmd::Events {
            seed,
            count,
            for_secs,
        } => crate::events::follow(&seed_or(t, seed)?, count, for_secs),
        ClusterCmd::Status { port } => status(&target(&t.host, port, &t.pass)),
        ClusterCmd::AddNode {
            new,
            existing,
            replica_of,
            no_rebalance,
            moves,
        } => manage::add_node(
            &parse_hostport(&new, &t.pass)?,
            &parse_hostport(&existing, &t.pass)?,
            replica_of.as_deref(),
            !no_rebalance,
            &moves.settings(),
        ),
        ClusterCmd::Rebalance { seed, moves } => {
            manage::rebalance(&seed_or(t, seed)?, &moves.settings())
        }
        ClusterCmd::RemoveNode { id, seed, moves } => {
            manage::remove_node(&seed_or(t, seed)?, &id, &moves.settings())
        }
        ClusterCmd::Fix { seed, moves } => {
            let s = moves.settings();
            fix::fix(&seed_or(t, seed)?, &s.moves, s.wait)
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn start(
    t: &Target,
    nodes: u16,
    replicas: u16,
    port: u16,
    base: &Path,
    bin: Option<PathBuf>,
    wait: u64,
    extra: &[String],
) -> Result<()> {
    let primaries = nodes / (replicas + 1);
    if primaries == 0 || nodes == 0 {
        bail!("{nodes} nodes cannot hold {replicas} replica(s) per primary");
    }
    if port.checked_add(nodes + 10000).is_none() {
        bail!(
            "ports {port}..{} leave no room for bus ports (+10000)",
            port + nodes
        );
    }
    let bin = Some(server::find_server_bin(bin)?);
    std::fs::create_dir_all(base).with_context(|| format!("creating {}", base.display()))?;
    let targets: Vec<Target> = (0..nodes)
        .map(|i| target(&t.host, port + i, &t.pass))
        .collect();
    let mut opts = vec!["--cluster-enabled".to_string(), "yes".to_string()];
    opts.extend(extra.iter().cloned());
    let ports: Vec<String> = targets.iter().map(|t| t.port.to_string()).collect();
    std::fs::write(base.join(PORTS_FILE), ports.join("\n") + "\n")?;
    for nt in &targets {
        let dir = base.join(nt.port.to_string());
        server::spawn_node(nt, &dir, bin.clone(), 15, &opts)
            .with_context(|| format!("starting the node on port {}", nt.port))?;
        println!("started node on port {}", nt.port);
    }
    let ids: Vec<String> = targets
        .iter()
        .map(|nt| query(nt, &["CLUSTER", "MYID"]))
        .collect::<Result<_>>()?;
    for (i, nt) in targets[..primaries as usize].iter().enumerate() {
        let first = 16384 * i as u32 / primaries as u32;
        let last = 16384 * (i as u32 + 1) / primaries as u32 - 1;
        query(
            nt,
            &[
                "CLUSTER",
                "ADDSLOTSRANGE",
                &first.to_string(),
                &last.to_string(),
            ],
        )?;
        let _ = query(nt, &["CLUSTER", "SET-CONFIG-EPOCH", &(i + 1).to_string()]);
    }
    for nt in &targets[1..] {
        query(nt, &["CLUSTER", "MEET", &t.host, &port.to_string()])?;
    }
    let deadline = Instant::now() + Duration::from_secs(wait);
    for (i, nt) in targets[primaries as usize..].iter().enumerate() {
        let primary = &ids[i % primaries as usize];
        loop {
            match query(nt, &["CLUSTER", "REPLICATE", primary]) {
                Ok(_) => break,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(e) => return Err(e),
            }
        }
    }
    loop {
        let replicas = (nodes - primaries) as usize;
        let healthy = targets.iter().all(|nt| {
            let info_ok = query(nt, &["CLUSTER", "INFO"]).is_ok_and(|i| {
                i.contains("cluster_state:ok")
                    && i.contains(&format!("cluster_known_nodes:{nodes}\r"))
            });
            // Every node must also see every replica as one (roles travel by gossip).
            info_ok
                && query(nt, &["CLUSTER", "NODES"])
                    .is_ok_and(|n| n.lines().filter(|l| l.contains("slave")).count() == replicas)
        });
        if healthy {
            break;
        }
        if Instant::now() >= deadline {
            bail!(
                "the cluster did not become healthy within {wait}s (see the logs under {})",
                base.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "cluster ready: {primaries} primaries, {} replicas, ports {port}..{}",
        nodes - primaries,
        port + nodes - 1
    );
    // The stop hint names the directory whenever it is not the default one, and as an
    // absolute path, so it works as printed from wherever it is pasted.
    let base = std::fs::canonicalize(base).unwrap_or_else(|_| base.to_path_buf());
    let default = std::fs::canonicalize(base_dir(port, None)).ok();
    let dir_flag = if default.as_deref() == Some(base.as_path()) {
        String::new()
    } else {
        format!(" --dir {}", shell_word(&base.display().to_string()))
    };
    println!("  directory: {}", base.display());
    println!("connect:     redis-cli -c -p {port}");
    println!("status:      slotcache-cli cluster status --port {port}");
    println!("events:      slotcache-cli -p {port} cluster events");
    println!("stop:        slotcache-cli cluster stop --port {port}{dir_flag}");
    Ok(())
}

/// `s` as one shell word: unchanged when it has nothing a shell would split or expand,
/// else single-quoted.
fn shell_word(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+,:=@%".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn stop(t: &Target, base: &Path, port: u16) -> Result<()> {
    let ports = std::fs::read_to_string(base.join(PORTS_FILE)).with_context(|| {
        format!(
            "no cluster recorded in {} (was it started with cluster start --port {port}?)",
            base.display()
        )
    })?;
    let mut failed = Vec::new();
    for p in ports.lines().filter_map(|l| l.trim().parse::<u16>().ok()) {
        let nt = target(&t.host, p, &t.pass);
        if !nt.answers_ping() {
            continue;
        }
        if let Err(e) = server::stop(&nt, &base.join(p.to_string()), 15) {
            failed.push(format!("{p}: {e:#}"));
        }
    }
    if !failed.is_empty() {
        bail!("some nodes did not stop:\n{}", failed.join("\n"));
    }
    let _ = std::fs::remove_file(base.join(PORTS_FILE));
    println!("cluster on port {port} stopped");
    Ok(())
}

fn status(seed: &Target) -> Result<()> {
    let info = query(seed, &["CLUSTER", "INFO"])?;
    let nodes = query(seed, &["CLUSTER", "NODES"])?;
    let field = |f: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{f}:")))
            .unwrap_or("?")
            .trim()
            .to_string()
    };
    println!(
        "cluster_state: {}   slots assigned: {}   known nodes: {}   epoch: {}",
        field("cluster_state"),
        field("cluster_slots_assigned"),
        field("cluster_known_nodes"),
        field("cluster_current_epoch")
    );
    let mut rows: Vec<Vec<String>> = nodes
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(String::from).collect())
        .filter(|f: &Vec<String>| f.len() >= 8)
        .collect();
    rows.sort_by(|a, b| a[1].cmp(&b[1]));
    println!(
        "{:<22} {:<9} {:<8} {:<11} slots",
        "address", "role", "health", "id"
    );
    for f in rows {
        let role = if f[2].contains("master") {
            "primary"
        } else {
            "replica"
        };
        let health = if f[2].contains("fail?") {
            "pfail"
        } else if f[2].contains("fail") {
            "FAIL"
        } else if f[7] == "connected" {
            "ok"
        } else {
            "no-link"
        };
        let addr = f[1].split('@').next().unwrap_or("");
        let detail = if role == "primary" {
            f[8..].join(" ")
        } else {
            format!("replica of {}", &f[3][..f[3].len().min(8)])
        };
        println!(
            "{addr:<22} {role:<9} {health:<8} {:<11} {detail}",
            &f[0][..8.min(f[0].len())]
        );
    }
    Ok(())
}
