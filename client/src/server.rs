//! `server start` / `server stop`: one local node in the background, with its own directory
//! (log, pid file) so it can be found and stopped again later.

use crate::conn::Target;
use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Subcommand, Debug)]
pub enum ServerCmd {
    /// Starts slotcache-server in the background and waits until it answers PING.
    Start {
        /// Directory for the node's log and pid file (default: <tmp>/slotcache-<port>).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The slotcache-server binary (default: next to slotcache-cli, else built).
        #[arg(long)]
        server_bin: Option<PathBuf>,
        /// Seconds to wait for the node to answer PING.
        #[arg(long, default_value_t = 15)]
        wait: u64,
        /// Extra slotcache-server options, after `--` (e.g. `-- --maxmemory 100mb`).
        #[arg(last = true)]
        extra: Vec<String>,
    },
    /// Stops a node: SHUTDOWN, or SIGTERM to the pid `server start` recorded.
    Stop {
        /// The directory given to `server start`, if not the default.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Seconds to wait for the node to go away.
        #[arg(long, default_value_t = 15)]
        wait: u64,
    },
}

pub fn run(t: &Target, cmd: ServerCmd) -> Result<()> {
    match cmd {
        ServerCmd::Start {
            dir,
            server_bin,
            wait,
            extra,
        } => start(t, &node_dir(t, dir), server_bin, wait, &extra),
        ServerCmd::Stop { dir, wait } => stop(t, &node_dir(t, dir), wait),
    }
}

fn node_dir(t: &Target, dir: Option<PathBuf>) -> PathBuf {
    dir.unwrap_or_else(|| std::env::temp_dir().join(format!("slotcache-{}", t.port)))
}

const PID_FILE: &str = "slotcache-server.pid";
const LOG_FILE: &str = "server.log";
const STDERR_FILE: &str = "server.stderr";

/// The workspace root when this binary was built inside one (target/<profile>/slotcache-cli).
fn workspace_root(exe: &Path) -> Option<PathBuf> {
    let root = exe.parent()?.parent()?.parent()?;
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).ok()?;
    (manifest.contains("[workspace]") && root.join("server/Cargo.toml").exists())
        .then(|| root.to_path_buf())
}

/// Finds slotcache-server: given, next to this executable, or built from the workspace.
pub fn find_server_bin(given: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = given {
        if !p.exists() {
            bail!("{} does not exist", p.display());
        }
        return Ok(p);
    }
    let exe = std::env::current_exe().context("locating slotcache-cli itself")?;
    let sibling = exe.with_file_name("slotcache-server");
    if sibling.exists() {
        return Ok(sibling);
    }
    let root = workspace_root(&exe).ok_or_else(|| {
        anyhow!(
            "slotcache-server not found next to {} (pass --server-bin)",
            exe.display()
        )
    })?;
    eprintln!("building slotcache-server (cargo build --release -p slotcache-server) ...");
    let status = Command::new("cargo")
        .args(["build", "--release", "-p", "slotcache-server"])
        .current_dir(&root)
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("cargo build --release -p slotcache-server failed ({status})");
    }
    Ok(root.join("target/release/slotcache-server"))
}

fn start(t: &Target, dir: &Path, bin: Option<PathBuf>, wait: u64, extra: &[String]) -> Result<()> {
    let (pid, dir, log) = spawn_node(t, dir, bin, wait, extra)?;
    println!("slotcache-server is running: pid {pid}, port {}", t.port);
    println!("  directory: {}", dir.display());
    println!("  log:       {}", log.display());
    println!("connect:     redis-cli -p {}", t.port);
    println!(
        "stop:        slotcache-cli server stop -p {}{}",
        t.port,
        dir_flag(t, &dir)
    );
    Ok(())
}

/// Starts one node in the background (its own session, directory, log and pid file) and
/// waits until it answers PING. Returns its pid, directory and log path.
pub fn spawn_node(
    t: &Target,
    dir: &Path,
    bin: Option<PathBuf>,
    wait: u64,
    extra: &[String],
) -> Result<(u32, PathBuf, PathBuf)> {
    if t.answers_ping() {
        bail!(
            "something already answers on {}; pick another --port",
            t.addr()
        );
    }
    let bin = find_server_bin(bin)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = std::fs::canonicalize(dir)?;
    let log = dir.join(LOG_FILE);
    let stderr = std::fs::File::create(dir.join(STDERR_FILE))?;
    let mut cmd = Command::new(&bin);
    cmd.arg("--port")
        .arg(t.port.to_string())
        .arg("--dir")
        .arg(&dir)
        .arg("--logfile")
        .arg(&log)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    // SAFETY: setsid is async-signal-safe; a new session keeps the node alive when the
    // terminal that started it closes or gets Ctrl-C.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    std::fs::write(dir.join(PID_FILE), format!("{}\n", child.id()))?;
    let deadline = Instant::now() + Duration::from_secs(wait);
    loop {
        if let Some(status) = child.try_wait()? {
            let _ = std::fs::remove_file(dir.join(PID_FILE));
            bail!(
                "slotcache-server exited ({status}):\n{}{}",
                std::fs::read_to_string(dir.join(STDERR_FILE)).unwrap_or_default(),
                tail(&log)
            );
        }
        if t.answers_ping() {
            break;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_file(dir.join(PID_FILE));
            bail!(
                "slotcache-server did not answer PING within {wait}s; log:\n{}",
                tail(&log)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((child.id(), dir, log))
}

/// `--dir D` when D is not the default for the port, so the printed stop command works.
fn dir_flag(t: &Target, dir: &Path) -> String {
    let default = std::fs::canonicalize(node_dir(t, None)).ok();
    if default.as_deref() == Some(dir) {
        String::new()
    } else {
        format!(" --dir {}", dir.display())
    }
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// The pid `server start` recorded, if that process is still a slotcache-server.
fn recorded_pid(dir: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(dir.join(PID_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    // comm is cut at 15 characters: "slotcache-serve".
    comm.trim().starts_with("slotcache-serv").then_some(pid)
}

/// Stops one node (SHUTDOWN, or SIGTERM to its recorded pid) and waits until it is gone.
pub fn stop(t: &Target, dir: &Path, wait: u64) -> Result<()> {
    let pid = recorded_pid(dir);
    if !t.answers_ping() {
        let _ = std::fs::remove_file(dir.join(PID_FILE));
        bail!("no node answers on {}", t.addr());
    }
    let refused = shutdown(t).err();
    if let Some(why) = &refused {
        let pid = pid.ok_or_else(|| {
            anyhow!(
                "SHUTDOWN refused ({why:#}) and no pid recorded in {}",
                dir.display()
            )
        })?;
        eprintln!("SHUTDOWN refused ({why:#}); sending SIGTERM to pid {pid}");
        // SAFETY: plain kill(2) on a pid checked above to be a slotcache-server.
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            bail!("kill {pid}: {}", std::io::Error::last_os_error());
        }
    }
    let deadline = Instant::now() + Duration::from_secs(wait);
    while t.answers_ping() || pid.is_some_and(alive) {
        if Instant::now() >= deadline {
            bail!("node on {} still running after {wait}s", t.addr());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_file(dir.join(PID_FILE));
    println!("stopped the node on {}", t.addr());
    Ok(())
}

/// Sends SHUTDOWN. The node closes the connection instead of answering, so an I/O error is
/// success; an error reply is a refusal.
fn shutdown(t: &Target) -> Result<()> {
    let mut con = t.connect()?;
    match redis::cmd("SHUTDOWN").query::<redis::Value>(&mut con) {
        Ok(redis::Value::Okay) | Ok(redis::Value::Nil) => Ok(()),
        Ok(other) => bail!("unexpected reply {other:?}"),
        Err(e) if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() => {
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

fn alive(pid: i32) -> bool {
    // A zombie (state Z) has exited; only its parent has not reaped it yet.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_root_is_found_only_from_a_target_profile_dir_of_this_workspace() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let root = std::fs::canonicalize(root).unwrap();
        let exe = root.join("target/release/slotcache-cli");
        assert_eq!(workspace_root(&exe), Some(root));
        assert_eq!(
            workspace_root(Path::new("/usr/local/bin/slotcache-cli")),
            None
        );
    }

    #[test]
    fn a_given_server_bin_must_exist() {
        let err = find_server_bin(Some(PathBuf::from("/nonexistent/slotcache-server")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn default_dir_is_per_port() {
        let t = Target {
            host: "127.0.0.1".into(),
            port: 7001,
            pass: None,
        };
        assert!(node_dir(&t, None).ends_with("slotcache-7001"));
        assert_eq!(node_dir(&t, Some("/x".into())), PathBuf::from("/x"));
    }
}
