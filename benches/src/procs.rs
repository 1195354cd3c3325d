//! Server processes for the comparisons: started on a free loopback port, optionally pinned
//! to a core, and always killed — on drop, on error, and (through PR_SET_PDEATHSIG) even when
//! `compare` itself is killed — so a benchmark run never leaves a server behind.

use anyhow::{anyhow, bail, Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Which server a process is; decides the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Slotcache,
    Redis,
    /// Valkey, the peer built from `../shared/peers/` (started with the same options as
    /// redis-server).
    Valkey,
}

impl Flavor {
    pub fn label(self) -> &'static str {
        match self {
            Flavor::Slotcache => "slotcache",
            Flavor::Redis => "redis",
            Flavor::Valkey => "valkey",
        }
    }
}

/// A running server. Dropping it kills the process and removes its directory.
pub struct ServerProc {
    pub flavor: Flavor,
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

/// Cores to pin server and benchmark client to, when pinning is possible: separate cores
/// keep the client from stealing the server's CPU and make runs comparable.
#[derive(Clone, Copy, Debug)]
pub struct Pinning {
    pub server_core: usize,
    pub client_core: usize,
}

/// Pinning is used when `taskset` exists and the machine has at least two cores.
pub fn detect_pinning() -> Option<Pinning> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let has_taskset = Command::new("taskset")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    (cores >= 2 && has_taskset).then_some(Pinning {
        server_core: 0,
        client_core: 1,
    })
}

/// A command that runs `program` pinned to `core` (through taskset, which execs, so the pid
/// is the program's own) or unpinned.
pub fn pinned(program: &Path, core: Option<usize>) -> Command {
    match core {
        Some(c) => {
            let mut cmd = Command::new("taskset");
            cmd.arg("-c").arg(c.to_string()).arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

/// Finds a port on loopback that nobody listens on right now.
/// A free loopback port: from `SLOTCACHE_TEST_PORTS` (`lo-hi`) when set, so engineers who
/// share a machine stay inside their own ranges (as the cluster tests do), else any.
fn free_port() -> Result<u16> {
    if let Some((lo, hi)) = std::env::var("SLOTCACHE_TEST_PORTS")
        .ok()
        .and_then(|r| {
            let (a, b) = r.split_once('-')?;
            Some((a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?))
        })
        .filter(|(lo, hi)| lo <= hi)
    {
        // Start at a varying place so that successive servers do not race for one port.
        let span = u32::from(hi - lo) + 1;
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
            % span;
        for i in 0..span {
            let port = lo + ((start + i) % span) as u16;
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return Ok(port);
            }
        }
        bail!("no free port in SLOTCACHE_TEST_PORTS={lo}-{hi}");
    }
    let l = std::net::TcpListener::bind(("127.0.0.1", 0)).context("binding a probe socket")?;
    Ok(l.local_addr()?.port())
}

/// The release slotcache-server of this workspace, unless one is named.
pub fn default_server_bin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/slotcache-server")
}

impl ServerProc {
    /// Starts a server with persistence off and waits until it answers PING.
    pub fn start(flavor: Flavor, bin: &Path, core: Option<usize>) -> Result<ServerProc> {
        Self::start_with(flavor, bin, core, &[])
    }

    /// Like `start`, with more command-line arguments after the common ones; `{port}` in an
    /// argument becomes the chosen port (Redis's per-node `cluster-config-file`).
    pub fn start_with(
        flavor: Flavor,
        bin: &Path,
        core: Option<usize>,
        extra: &[String],
    ) -> Result<ServerProc> {
        check_bin(bin)?;
        let mut last = anyhow!("no attempt");
        for _ in 0..5 {
            match Self::try_start(flavor, bin, core, extra) {
                Ok(p) => return Ok(p),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Starts a server on a port the caller chose, with its directory under `parent`
    /// (e.g. tmpfs): for clusters, whose bus port is port + 10000 and must stay valid and
    /// outside the ephemeral range. One attempt: a taken port is the caller's to replace.
    pub fn start_on(
        flavor: Flavor,
        bin: &Path,
        port: u16,
        parent: &Path,
        extra: &[String],
    ) -> Result<ServerProc> {
        check_bin(bin)?;
        Self::try_start_on(flavor, bin, None, extra, port, Some(parent))
    }

    fn try_start(
        flavor: Flavor,
        bin: &Path,
        core: Option<usize>,
        extra: &[String],
    ) -> Result<ServerProc> {
        Self::try_start_on(flavor, bin, core, extra, free_port()?, None)
    }

    fn try_start_on(
        flavor: Flavor,
        bin: &Path,
        core: Option<usize>,
        extra: &[String],
        port: u16,
        parent: Option<&Path>,
    ) -> Result<ServerProc> {
        let prefix = format!("compare-{}-", flavor.label());
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix);
        let dir = match parent {
            Some(p) => builder.tempdir_in(p)?,
            None => builder.tempdir()?,
        };
        let log = dir.path().join("server.log");
        let mut cmd = pinned(bin, core);
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .arg("--logfile")
            .arg(&log)
            .args(extra.iter().map(|a| a.replace("{port}", &port.to_string())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill the child when
        // this process dies, so a killed `compare` never leaves a server running.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut p = ServerProc {
            flavor,
            port,
            child,
            dir,
        };
        p.wait_ready(Duration::from_secs(15))?;
        Ok(p)
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited with {status} before answering PING; log:\n{}",
                    self.flavor.label(),
                    std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
                );
            }
            if ping(self.port) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!(
            "{} did not answer PING within {limit:?}",
            self.flavor.label()
        )
    }

    /// Fails, with the end of the server's log, when the server has exited: a crash under
    /// load is a finding, not something to average over.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let log =
                std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            bail!(
                "{} exited ({status}) during the run; log tail:\n{}",
                self.flavor.label(),
                lines[lines.len().saturating_sub(30)..].join("\n")
            );
        }
        Ok(())
    }

    /// Sends a signal (SIGKILL, SIGSTOP, SIGCONT) to the server: the faults of the failover
    /// benchmark. Drop still kills it, stopped or not.
    pub fn signal(&self, sig: libc::c_int) -> Result<()> {
        // SAFETY: kill(2) on our own child's pid; the child is not reaped before Drop, so
        // the pid cannot have been reused.
        if unsafe { libc::kill(self.pid() as libc::pid_t, sig) } != 0 {
            bail!(
                "kill({}, {sig}): {}",
                self.pid(),
                std::io::Error::last_os_error()
            );
        }
        Ok(())
    }

    /// The last `n` lines of the server's log, for reports of misbehaviour.
    pub fn log_tail(&self, n: usize) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident set size now, in bytes.
    pub fn rss(&self) -> Result<u64> {
        rss_of(self.pid()).ok_or_else(|| anyhow!("cannot read RSS of pid {}", self.pid()))
    }

    /// A connection through the `redis` crate with timeouts, so a stuck server fails the run
    /// instead of hanging it.
    pub fn client(&self) -> Result<redis::Connection> {
        let c = redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))?;
        let con = c.get_connection_with_timeout(Duration::from_secs(5))?;
        con.set_read_timeout(Some(Duration::from_secs(60)))?;
        con.set_write_timeout(Some(Duration::from_secs(60)))?;
        Ok(con)
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).is_ok() && line.starts_with("+PONG")
}

/// User + system CPU seconds a process has used, from /proc/<pid>/stat (fields 14 and 15,
/// counted after the parenthesised command name, which may contain spaces).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime 15.
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Some((utime + stime) / if hz > 0 { hz as f64 } else { 100.0 })
}

/// Resident set size of a process, from /proc/<pid>/status.
pub fn rss_of(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// One field of an INFO reply, if the server has it.
pub fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
}

/// A binary given as a path (not a bare name looked up in PATH) must exist.
fn check_bin(bin: &Path) -> Result<()> {
    if !bin.exists() && bin.components().count() > 1 {
        bail!(
            "{} not found (build it: cargo build --release -p slotcache-server)",
            bin.display()
        );
    }
    Ok(())
}

/// Runs `../shared/peers/build.sh` (beside the workspace), which builds Valkey once (about 3
/// minutes) and prints the binary's path.
pub fn build_valkey() -> Result<PathBuf> {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/peers/build.sh");
    if !script.exists() {
        bail!("{} not found", script.display());
    }
    let out = Command::new("timeout")
        .arg("900")
        .arg(&script)
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let path = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.ends_with("valkey-server"))
        .map(|l| PathBuf::from(l.trim()))
        .context("build.sh printed no valkey-server path")?;
    Ok(path)
}
