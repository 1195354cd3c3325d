//! The cluster a chaos run works on, and the faults it can inject into each node.
//!
//! Two kinds: [`Backend::Lab`], the partition tests' six nodes in network namespaces
//! (needs root: every fault, partitions of any shape as iptables DROP rules inside the
//! namespaces, tc netem inside a namespace where the kernel has it), and
//! [`Backend::Procs`], nodes on loopback known by their pids (a cluster this run started
//! with `cluster start`, or one it attached to): kill -9 and restart from the process's own
//! command line, SIGSTOP/SIGCONT, and — as root with iptables — a node cut off by DROP rules
//! on its client and bus ports on loopback.
//!
//! Either way nodes `0..shards` are the primaries when the run starts and each other node
//! replicates one of them; [`Backend::shard_of`] says which.

use anyhow::{anyhow, bail, Context, Result};
use cluster_tests::partition_lab::{connect, Lab};
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub enum Backend {
    Lab(Box<Lab>),
    Procs(Procs),
}

/// Loopback nodes by pid.
pub struct Procs {
    nodes: Vec<ProcNode>,
    shard_of: Vec<usize>,
    /// Whether iptables rules on loopback work here (root, iptables installed).
    firewall: bool,
}

struct ProcNode {
    host: String,
    port: u16,
    pid: Option<i32>,
    /// A process this run spawned (a restart), reaped when killed.
    child: Option<Child>,
    cmdline: Vec<OsString>,
    cwd: PathBuf,
    log: Option<PathBuf>,
}

/// One node of CLUSTER NODES: id, host, port, whether it is a primary, its primary's id,
/// its first slot.
struct Listed {
    id: String,
    host: String,
    port: u16,
    primary: Option<String>,
    first_slot: Option<u32>,
}

fn list_nodes(text: &str) -> Vec<Listed> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 8 {
                return None;
            }
            let hp = f[1].split('@').next()?.split(',').next()?;
            let (host, port) = hp.rsplit_once(':')?;
            let first_slot = f[8..]
                .iter()
                .find_map(|r| r.split('-').next()?.parse::<u32>().ok());
            Some(Listed {
                id: f[0].to_string(),
                host: host.to_string(),
                port: port.parse().ok()?,
                primary: (f[3] != "-").then(|| f[3].to_string()),
                first_slot,
            })
        })
        .collect()
}

fn query(addr: &str, args: &[&str]) -> Result<String> {
    let mut con =
        connect(addr, Duration::from_secs(2)).ok_or_else(|| anyhow!("cannot reach {addr}"))?;
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query::<String>(&mut con)
        .with_context(|| format!("{} on {addr}", args.join(" ")))
}

impl Procs {
    /// Attaches to the cluster `seed` belongs to: every node must run on this machine (its
    /// pid comes from INFO server and its command line from /proc), each primary must own
    /// slots and have at least one replica.
    pub fn attach(seed: &str) -> Result<Procs> {
        let listed = list_nodes(&query(seed, &["CLUSTER", "NODES"])?);
        let mut primaries: Vec<&Listed> = listed
            .iter()
            .filter(|n| n.primary.is_none() && n.first_slot.is_some())
            .collect();
        primaries.sort_by_key(|n| n.first_slot);
        if primaries.is_empty() {
            bail!("{seed} knows no primary that owns slots");
        }
        let mut order: Vec<(&Listed, usize)> = primaries.iter().copied().zip(0..).collect();
        for (k, p) in primaries.iter().enumerate() {
            let reps: Vec<&Listed> = listed
                .iter()
                .filter(|n| n.primary.as_deref() == Some(p.id.as_str()))
                .collect();
            if reps.is_empty() {
                bail!(
                    "primary {}:{} has no replica: a chaos run needs one per shard",
                    p.host,
                    p.port
                );
            }
            order.extend(reps.into_iter().map(|r| (r, k)));
        }
        let mut nodes = Vec::new();
        let mut shard_of = Vec::new();
        for (n, shard) in order {
            let addr = format!("{}:{}", n.host, n.port);
            let info = query(&addr, &["INFO", "server"])?;
            let pid: i32 = info
                .lines()
                .find_map(|l| l.strip_prefix("process_id:"))
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| anyhow!("no process_id in INFO server of {addr}"))?;
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).with_context(|| {
                format!("{addr} (pid {pid}) must run on this machine to be killed and restarted")
            })?;
            let cmdline: Vec<OsString> = raw
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| OsString::from(String::from_utf8_lossy(a).into_owned()))
                .collect();
            let cwd = std::fs::read_link(format!("/proc/{pid}/cwd"))
                .with_context(|| format!("the working directory of pid {pid}"))?;
            let log = cmdline
                .iter()
                .position(|a| a == "--logfile")
                .and_then(|i| cmdline.get(i + 1))
                .map(|l| cwd.join(l));
            nodes.push(ProcNode {
                host: n.host.clone(),
                port: n.port,
                pid: Some(pid),
                child: None,
                cmdline,
                cwd,
                log,
            });
            shard_of.push(shard);
        }
        let firewall = Command::new("timeout")
            .args(["10", "iptables", "-w", "5", "-S", "INPUT"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        Ok(Procs {
            nodes,
            shard_of,
            firewall,
        })
    }

    /// Loopback DROP rules for node `i`'s client and bus ports (`-I` adds, `-D` removes).
    fn firewall(&self, i: usize, op: &str) -> Result<()> {
        let n = &self.nodes[i];
        for port in [n.port, n.port.saturating_add(10000)] {
            for dir in ["--dport", "--sport"] {
                let out = Command::new("timeout")
                    .args([
                        "30", "iptables", "-w", "20", op, "INPUT", "-i", "lo", "-p", "tcp",
                    ])
                    .args([dir, &port.to_string(), "-j", "DROP"])
                    .output()
                    .context("running iptables")?;
                if !out.status.success() && op == "-I" {
                    bail!("iptables: {}", String::from_utf8_lossy(&out.stderr).trim());
                }
            }
        }
        Ok(())
    }

    fn signal(&self, i: usize, sig: i32) -> Result<()> {
        let pid = self.nodes[i]
            .pid
            .ok_or_else(|| anyhow!("node {i} is not running"))?;
        // SAFETY: kill(2) on the pid this node reported for itself (INFO server) or that
        // this run spawned.
        if unsafe { libc::kill(pid, sig) } != 0 {
            bail!("kill {pid}: {}", std::io::Error::last_os_error());
        }
        Ok(())
    }

    fn kill(&mut self, i: usize) -> Result<()> {
        self.signal(i, libc::SIGKILL)?;
        let n = &mut self.nodes[i];
        if let Some(mut c) = n.child.take() {
            let _ = c.wait();
        } else if let Some(pid) = n.pid {
            // A child of this process (`cluster start` spawned it) stays a zombie until
            // reaped; for any other process this fails harmlessly.
            // SAFETY: waitpid on a pid that was just killed.
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        }
        n.pid = None;
        Ok(())
    }

    fn restart(&mut self, i: usize) -> Result<()> {
        let n = &mut self.nodes[i];
        let (prog, args) = n
            .cmdline
            .split_first()
            .ok_or_else(|| anyhow!("node {i} has no command line"))?;
        let mut cmd = Command::new(prog);
        cmd.args(args)
            .current_dir(&n.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: setsid is async-signal-safe; the node outlives this run in its own
        // session, as `cluster start` starts it.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("restarting node {i}"))?;
        n.pid = Some(child.id() as i32);
        n.child = Some(child);
        let addr = format!("{}:{}", n.host, n.port);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(mut c) = connect(&addr, Duration::from_millis(300)) {
                if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("node {i} ({addr}) did not answer PING within 15 s of its restart")
    }

    /// Stops every node (the cluster this run started itself).
    pub fn kill_all(&mut self) {
        for i in 0..self.nodes.len() {
            let _ = self.kill(i);
        }
    }
}

impl Backend {
    pub fn len(&self) -> usize {
        match self {
            Backend::Lab(lab) => lab.c.nodes.len(),
            Backend::Procs(p) => p.nodes.len(),
        }
    }

    /// How many shards (primaries when the run started).
    pub fn shards(&self) -> usize {
        match self {
            Backend::Lab(_) => 3,
            Backend::Procs(p) => p.shard_of.iter().max().map_or(0, |m| m + 1),
        }
    }

    pub fn shard_of(&self, i: usize) -> usize {
        match self {
            Backend::Lab(_) => i % 3,
            Backend::Procs(p) => p.shard_of[i],
        }
    }

    pub fn addr(&self, i: usize) -> String {
        match self {
            Backend::Lab(lab) => lab.addr(i),
            Backend::Procs(p) => format!("{}:{}", p.nodes[i].host, p.nodes[i].port),
        }
    }

    pub fn addrs(&self) -> Vec<String> {
        (0..self.len()).map(|i| self.addr(i)).collect()
    }

    /// Whether partitions between chosen pairs of nodes are possible (namespaces), not
    /// only a node cut off from everyone.
    pub fn pairwise_partitions(&self) -> bool {
        matches!(self, Backend::Lab(_))
    }

    /// Whether a node can be cut off at all.
    pub fn can_partition(&self) -> bool {
        match self {
            Backend::Lab(_) => true,
            Backend::Procs(p) => p.firewall,
        }
    }

    /// What a partition is made of here, for the report.
    pub fn partition_method(&self) -> &'static str {
        match self {
            Backend::Lab(_) => "iptables DROP rules inside each node's network namespace",
            Backend::Procs(p) if p.firewall => {
                "iptables DROP rules on loopback for the node's client and bus ports \
                 (nothing reaches them; the node's own outgoing bus connections still do)"
            }
            Backend::Procs(_) => "none (needs root and iptables)",
        }
    }

    pub fn kill(&mut self, i: usize) -> Result<()> {
        match self {
            Backend::Lab(lab) => {
                lab.c.nodes[i].kill();
                Ok(())
            }
            Backend::Procs(p) => p.kill(i),
        }
    }

    pub fn restart(&mut self, i: usize) -> Result<()> {
        match self {
            Backend::Lab(lab) => lab.c.nodes[i].restart().map_err(|e| anyhow!(e)),
            Backend::Procs(p) => p.restart(i),
        }
    }

    pub fn pause(&mut self, i: usize) -> Result<()> {
        match self {
            Backend::Lab(lab) => {
                let pid = lab.c.nodes[i]
                    .pid()
                    .ok_or_else(|| anyhow!("node {i} is not running"))?;
                // SAFETY: kill(2) on the pid of a node this run started.
                unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
                Ok(())
            }
            Backend::Procs(p) => p.signal(i, libc::SIGSTOP),
        }
    }

    pub fn resume(&mut self, i: usize) -> Result<()> {
        match self {
            Backend::Lab(lab) => {
                lab.c.nodes[i].resume();
                Ok(())
            }
            Backend::Procs(p) => p.signal(i, libc::SIGCONT),
        }
    }

    /// Cuts node `i` off from everyone (other nodes and clients).
    pub fn isolate(&mut self, i: usize) -> Result<()> {
        match self {
            Backend::Lab(lab) => lab.net.isolate(i).map_err(|e| anyhow!(e)),
            Backend::Procs(p) => p.firewall(i, "-I"),
        }
    }

    pub fn rejoin(&mut self, i: usize) -> Result<()> {
        match self {
            Backend::Lab(lab) => lab.net.rejoin(i).map_err(|e| anyhow!(e)),
            Backend::Procs(p) => p.firewall(i, "-D"),
        }
    }

    /// Drops every packet between nodes `i` and `j` (namespaces only).
    pub fn block(&mut self, i: usize, j: usize) -> Result<()> {
        match self {
            Backend::Lab(lab) => lab.net.block(i, j).map_err(|e| anyhow!(e)),
            Backend::Procs(_) => bail!("pairwise partitions need the namespace cluster"),
        }
    }

    pub fn unblock(&mut self, i: usize, j: usize) -> Result<()> {
        match self {
            Backend::Lab(lab) => lab.net.unblock(i, j).map_err(|e| anyhow!(e)),
            Backend::Procs(_) => Ok(()),
        }
    }

    /// Delays every packet node `i` sends by `delay_ms` with tc netem inside its namespace
    /// (`None` removes it). Fails where there is no namespace or the kernel has no netem.
    pub fn netem(&mut self, i: usize, delay_ms: Option<u64>) -> Result<()> {
        let Backend::Lab(lab) = self else {
            bail!("tc netem needs the namespace cluster");
        };
        let (ns, dev) = (lab.net.ns(i), lab.net.dev(i));
        let mut args: Vec<String> = vec!["30".into(), "ip".into(), "netns".into(), "exec".into()];
        args.extend([ns, "tc".into(), "qdisc".into()]);
        match delay_ms {
            Some(ms) => args.extend([
                "add".into(),
                "dev".into(),
                dev,
                "root".into(),
                "netem".into(),
                "delay".into(),
                format!("{ms}ms"),
            ]),
            None => args.extend(["del".into(), "dev".into(), dev, "root".into()]),
        }
        let out = Command::new("timeout").args(&args).output()?;
        if !out.status.success() {
            bail!("tc: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(())
    }

    /// Each node's log, for the run's output directory.
    pub fn logs(&self) -> Vec<String> {
        match self {
            Backend::Lab(lab) => lab.c.nodes.iter().map(|n| n.log()).collect(),
            Backend::Procs(p) => p
                .nodes
                .iter()
                .map(|n| {
                    n.log
                        .as_ref()
                        .and_then(|l| std::fs::read_to_string(l).ok())
                        .unwrap_or_default()
                })
                .collect(),
        }
    }
}
