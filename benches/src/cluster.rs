//! Clusters and replica sets built from `ServerProc`s, the same way for both servers as far
//! as each allows: slotcache by hand (ADDSLOTSRANGE, MEET, REPLICATE), Redis with
//! `redis-cli --cluster create`. Every node is a `ServerProc`, so dropping a `Cluster` kills
//! all of them, whatever state the benchmark left them in (stopped, half-failed-over).

use crate::procs::{Flavor, ServerProc};
use anyhow::{anyhow, bail, Context, Result};
use redis::{FromRedisValue, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A hash tag that maps to slot 0 (CRC16("06S") mod 16384 == 0).
pub const SLOT0_TAG: &str = "{06S}";

/// A connection with short connect and I/O timeouts, so a dead or stopped node costs at most
/// `limit` per call.
pub fn connect(port: u16, limit: Duration) -> Result<redis::Connection> {
    let c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let con = c.get_connection_with_timeout(limit)?;
    con.set_read_timeout(Some(limit))?;
    con.set_write_timeout(Some(limit))?;
    Ok(con)
}

/// One command on a fresh connection (5 s timeouts): for setup and polling, where the cost of
/// connecting does not matter.
pub fn query<T: FromRedisValue>(port: u16, args: &[&str]) -> Result<T> {
    query_within(port, args, Duration::from_secs(5))
}

/// One command on a fresh connection with the given timeouts.
pub fn query_within<T: FromRedisValue>(port: u16, args: &[&str], limit: Duration) -> Result<T> {
    let mut con = connect(port, limit)?;
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(&mut con)
        .with_context(|| format!("{} on port {port}", args.join(" ")))
}

/// Polls `check` every 20 ms until it says true or `limit` passes; the error names `what`
/// and the last failure seen, which is what a report of a hang needs.
pub fn wait_until(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> Result<bool>,
) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let last = match check() {
            Ok(true) => return Ok(()),
            Ok(false) => String::from("condition false"),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= deadline {
            bail!("timed out after {limit:?} waiting for {what} (last: {last})");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub use slotcache_proto::nodes::{parse_nodes, NodeLine};

/// ROLE, reduced to what the benchmarks need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The primary's replication offset and its replicas' (port, acked offset).
    Primary {
        offset: i64,
        replicas: Vec<(u16, i64)>,
    },
    /// The replica's link state ("connected" once synced) and its offset.
    Replica { state: String, offset: i64 },
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

fn as_int(v: &Value) -> Option<i64> {
    as_text(v)?.parse().ok()
}

pub fn role(port: u16) -> Result<Role> {
    let v: Value = query(port, &["ROLE"])?;
    let Value::Array(items) = &v else {
        bail!("ROLE on {port}: not an array: {v:?}")
    };
    let kind = items.first().and_then(as_text).unwrap_or_default();
    let bad = || anyhow!("ROLE on {port}: unexpected reply {v:?}");
    match kind.as_str() {
        "master" => {
            let offset = items.get(1).and_then(as_int).ok_or_else(bad)?;
            let mut replicas = Vec::new();
            if let Some(Value::Array(rs)) = items.get(2) {
                for r in rs {
                    if let Value::Array(f) = r {
                        let port = f.get(1).and_then(as_int).unwrap_or(0) as u16;
                        let off = f.get(2).and_then(as_int).unwrap_or(0);
                        replicas.push((port, off));
                    }
                }
            }
            Ok(Role::Primary { offset, replicas })
        }
        "slave" => Ok(Role::Replica {
            state: items.get(3).and_then(as_text).ok_or_else(bad)?,
            offset: items.get(4).and_then(as_int).ok_or_else(bad)?,
        }),
        _ => Err(bad()),
    }
}

/// Whether the node at `port` is a replica whose link to its primary is up and synced.
pub fn replica_synced(port: u16) -> Result<bool> {
    Ok(matches!(role(port)?, Role::Replica { state, .. } if state == "connected"))
}

/// The binaries a cluster is built with.
#[derive(Clone, Debug)]
pub struct Tools {
    pub slotcache: PathBuf,
    pub redis_server: PathBuf,
    pub redis_cli: PathBuf,
}

impl Tools {
    /// From the common command-line options: no `--server-bin` means this workspace's build.
    pub fn new(server_bin: Option<&PathBuf>, redis_server: &Path, redis_cli: &Path) -> Tools {
        Tools {
            slotcache: server_bin
                .cloned()
                .unwrap_or_else(crate::procs::default_server_bin),
            redis_server: redis_server.to_path_buf(),
            redis_cli: redis_cli.to_path_buf(),
        }
    }

    pub fn server(&self, flavor: Flavor) -> &Path {
        match flavor {
            Flavor::Slotcache => &self.slotcache,
            // The peer's binary is given as --redis-server (valkey-server takes the same
            // options).
            Flavor::Redis | Flavor::Valkey => &self.redis_server,
        }
    }
}

/// A running cluster: `nodes[..primaries]` were made primaries, the rest replicas of
/// `nodes[i % primaries]`. Failovers change roles later; `topology` reads them afresh.
pub struct Cluster {
    pub flavor: Flavor,
    pub nodes: Vec<ServerProc>,
    pub primaries: usize,
}

/// How a cluster is started.
#[derive(Clone, Debug)]
pub struct Spec {
    pub flavor: Flavor,
    pub primaries: usize,
    pub replicas_per_primary: usize,
    /// cluster-node-timeout in ms; None: the server's default.
    pub node_timeout_ms: Option<u64>,
    /// How long forming may take before the run fails.
    pub form_limit: Duration,
}

impl Cluster {
    pub fn start(spec: &Spec, tools: &Tools) -> Result<Cluster> {
        let n = spec.primaries * (1 + spec.replicas_per_primary);
        let mut extra: Vec<String> = vec!["--cluster-enabled".into(), "yes".into()];
        match spec.flavor {
            Flavor::Slotcache => extra.extend(["--enable-debug-command".into(), "yes".into()]),
            Flavor::Redis | Flavor::Valkey => extra.extend([
                "--cluster-config-file".into(),
                "nodes-{port}.conf".into(),
                "--enable-debug-command".into(),
                "yes".into(),
            ]),
        }
        if let Some(t) = spec.node_timeout_ms {
            extra.extend(["--cluster-node-timeout".into(), t.to_string()]);
        }
        let mut nodes = Vec::with_capacity(n);
        for _ in 0..n {
            nodes.push(ServerProc::start_with(
                spec.flavor,
                tools.server(spec.flavor),
                None,
                &extra,
            )?);
        }
        let c = Cluster {
            flavor: spec.flavor,
            nodes,
            primaries: spec.primaries,
        };
        match spec.flavor {
            Flavor::Slotcache => c.form_by_hand(spec.form_limit)?,
            Flavor::Redis | Flavor::Valkey => c.form_with_redis_cli(spec, tools)?,
        }
        c.wait_ready(spec.form_limit)
            .with_context(|| format!("{} cluster did not become ready", c.flavor.label()))?;
        Ok(c)
    }

    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    /// Even split of the 16384 slots, MEET the first node from the others, then REPLICATE
    /// once each replica knows its primary: the steps `redis-cli --cluster create` takes.
    fn form_by_hand(&self, limit: Duration) -> Result<()> {
        let p = self.primaries;
        for (i, node) in self.nodes[..p].iter().enumerate() {
            let first = i * 16384 / p;
            let last = (i + 1) * 16384 / p - 1;
            let (a, b) = (first.to_string(), last.to_string());
            let _: Value = query(node.port, &["CLUSTER", "ADDSLOTSRANGE", &a, &b])?;
        }
        let first = self.nodes[0].port.to_string();
        for node in &self.nodes[1..] {
            let _: Value = query(node.port, &["CLUSTER", "MEET", "127.0.0.1", &first])?;
        }
        for (j, node) in self.nodes[p..].iter().enumerate() {
            let primary = &self.nodes[j % p];
            let pid: String = query(primary.port, &["CLUSTER", "MYID"])?;
            wait_until(limit, "a replica to learn its primary", || {
                let t: String = query(node.port, &["CLUSTER", "NODES"])?;
                Ok(parse_nodes(&t)?.iter().any(|l| l.id == pid))
            })?;
            let _: Value = query(node.port, &["CLUSTER", "REPLICATE", &pid])?;
        }
        Ok(())
    }

    fn form_with_redis_cli(&self, spec: &Spec, tools: &Tools) -> Result<()> {
        let mut cmd = Command::new("timeout");
        cmd.args(["-s", "KILL", &spec.form_limit.as_secs().max(1).to_string()])
            .arg(&tools.redis_cli)
            .arg("--cluster")
            .arg("create");
        for port in self.ports() {
            cmd.arg(format!("127.0.0.1:{port}"));
        }
        cmd.args(["--cluster-replicas", &spec.replicas_per_primary.to_string()])
            .arg("--cluster-yes")
            .stdin(Stdio::null());
        let out = cmd.output().context("running redis-cli --cluster create")?;
        if !out.status.success() {
            bail!(
                "redis-cli --cluster create failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Every node says `cluster_state:ok`, knows all nodes with none failing or in
    /// handshake, and every replica's link is synced.
    pub fn wait_ready(&self, limit: Duration) -> Result<()> {
        let n = self.nodes.len();
        for node in &self.nodes {
            wait_until(limit, &format!("node {} to be ready", node.port), || {
                let info: String = query(node.port, &["CLUSTER", "INFO"])?;
                if !info.contains("cluster_state:ok") {
                    return Ok(false);
                }
                let t: String = query(node.port, &["CLUSTER", "NODES"])?;
                let lines = parse_nodes(&t)?;
                let bad = lines
                    .iter()
                    .any(|l| l.has_flag("fail") || l.has_flag("fail?") || l.has_flag("handshake"));
                if lines.len() != n || bad {
                    return Ok(false);
                }
                let me = lines.iter().find(|l| l.has_flag("myself"));
                match me {
                    Some(m) if m.has_flag("slave") => replica_synced(node.port),
                    Some(_) => Ok(true),
                    None => Ok(false),
                }
            })?;
        }
        Ok(())
    }

    /// The cluster as `nodes[at]` sees it now.
    pub fn topology(&self, at: usize) -> Result<Vec<NodeLine>> {
        let t: String = query(self.nodes[at].port, &["CLUSTER", "NODES"])?;
        Ok(parse_nodes(&t)?)
    }

    /// Index into `nodes` of the node with this port.
    pub fn index_of(&self, port: u16) -> Option<usize> {
        self.nodes.iter().position(|n| n.port == port)
    }

    /// Log lines of any node that contain one of `needles` (e.g. "panicked", "error saving"),
    /// prefixed with the node's port: misbehaviour a run survived is still a finding.
    pub fn log_lines_matching(&self, needles: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        for n in &self.nodes {
            for l in n.log_tail(100_000).lines() {
                if needles.iter().any(|k| l.contains(k)) {
                    out.push(format!("port {}: {l}", n.port));
                }
            }
        }
        out
    }

    /// The last lines of every node's log, for a report of a failure.
    pub fn logs(&self, lines: usize) -> String {
        let mut s = String::new();
        for n in &self.nodes {
            s.push_str(&format!(
                "--- {} node port {} ---\n{}\n",
                n.flavor.label(),
                n.port,
                n.log_tail(lines)
            ));
        }
        s
    }
}

/// Starts `timeout -s KILL <secs> redis-benchmark ...` and returns its output; a failure is
/// an error with redis-benchmark's stderr.
pub fn redis_benchmark(bin: &Path, timeout_s: u64, args: &[String]) -> Result<(String, String)> {
    let out = Command::new("timeout")
        .args(["-s", "KILL", &timeout_s.to_string()])
        .arg(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", bin.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        bail!(
            "redis-benchmark {} failed ({}; 124/137 = timed out after {timeout_s}s): {}{}",
            args.join(" "),
            out.status,
            stdout.trim(),
            stderr.trim()
        );
    }
    Ok((stdout, stderr))
}

/// Ends the whole run past the deadline; the servers die with it (PR_SET_PDEATHSIG) and
/// child tools run under `timeout`.
pub fn arm_deadline(name: &'static str, secs: u64) {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(secs));
        eprintln!("{name}: deadline of {secs}s reached, stopping");
        std::process::exit(124);
    });
}

/// Fails early, with a hint, when a tool is missing.
pub fn check_tool(bin: &Path, hint: &str) -> Result<()> {
    let ok = Command::new("timeout")
        .arg("10")
        .arg(bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        bail!("{} not runnable ({hint})", bin.display());
    }
    Ok(())
}

/// Percentile by nearest rank (p in 0..=100) of unsorted samples.
pub fn percentile(v: &[f64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    Some(s[rank.clamp(1, s.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_nodes_lines_parse_with_slots_and_replicas() {
        let t = "aaa 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460 7000 [5->-bbb]\n\
                 bbb 127.0.0.1:7004@17004 slave aaa 0 17 1 connected\n";
        let l = parse_nodes(t).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].port, 7001);
        assert_eq!(l[0].slot_ranges(), vec![(0, 5460), (7000, 7000)]);
        assert!(l[0].owns(0) && l[0].owns(7000) && !l[0].owns(6000));
        assert!(l[0].has_flag("myself") && l[0].has_flag("master"));
        assert_eq!(l[1].primary.as_deref(), Some("aaa"));
        assert!(l[1].slots.is_empty());
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&[3.0], 99.0), Some(3.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
