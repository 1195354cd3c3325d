//! slotcache-cli end to end: the built binary starts a node in the background, talks to it
//! and stops it, as a newcomer would use it.

use cluster_tests::cli_bin;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// A free port below 22767 (so port + 10000 is a valid bus port) whose bus port is free too.
fn free_port() -> u16 {
    free_ports(1)
}

/// The first of `n` consecutive free ports (and their bus ports) in the test port range
/// (`SLOTCACHE_TEST_PORTS`, else 12000..21000).
fn free_ports(n: u16) -> u16 {
    let seed = std::process::id() as u16;
    let (lo, hi) = cluster_tests::port_range();
    let span = (hi - lo).saturating_sub(n).max(1);
    for attempt in 0..500u16 {
        let base = lo + (seed.wrapping_mul(7).wrapping_add(attempt.wrapping_mul(37))) % span;
        let ok = (0..n).all(|i| {
            std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok()
                && std::net::TcpListener::bind(("127.0.0.1", base + i + 10000)).is_ok()
        });
        if ok {
            return base;
        }
    }
    panic!("no free ports");
}

/// Runs the CLI under `timeout`; returns (success, stdout, stderr).
fn cli(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("timeout")
        .arg("60")
        .arg(cli_bin())
        .args(args)
        .output()
        .expect("run slotcache-cli");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the hint line of `printed` that starts with `label` through `sh -c`, exactly as
/// printed but for `slotcache-cli`, which becomes the binary under test.
fn run_hint(printed: &str, label: &str) -> (bool, String, String) {
    let line = printed
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label} hint in {printed}"))
        .trim();
    let cmd = line
        .strip_prefix("slotcache-cli ")
        .unwrap_or_else(|| panic!("hint {line:?} does not run slotcache-cli"));
    let out = Command::new("timeout")
        .arg("60")
        .arg("sh")
        .arg("-c")
        .arg(format!("\"$0\" {cmd}"))
        .arg(cli_bin())
        .output()
        .expect("run the hint");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Kills the node the CLI started (pid from its pid file) if the test ends before stopping it.
struct PidGuard(PathBuf);

impl Drop for PidGuard {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.0.join("slotcache-server.pid"))
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        if let Some(pid) = pid {
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

#[test]
fn cli_starts_pings_and_stops_a_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _guard = PidGuard(dir.path().to_path_buf());
    let port = free_port().to_string();
    let server = cluster_tests::server_bin().display().to_string();
    let dir_s = dir.path().display().to_string();

    let (ok, out, err) = cli(&[
        "-p",
        &port,
        "server",
        "start",
        "--dir",
        &dir_s,
        "--server-bin",
        &server,
        "--",
        "--bind",
        "127.0.0.1",
    ]);
    assert!(ok, "server start failed: {out}{err}");
    assert!(out.contains(&format!("redis-cli -p {port}")), "{out}");
    assert!(dir.path().join("server.log").exists());

    let (ok, out, err) = cli(&["-p", &port, "ping"]);
    assert!(ok, "ping failed: {err}");
    assert_eq!(out.trim(), "PONG");

    // The node is a real server: a stock client can use it.
    let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    let v: String = redis::cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "v");
    drop(c);

    // A second start on the same port is refused, and leaves the first node alone.
    let (ok, _, err) = cli(&[
        "-p",
        &port,
        "server",
        "start",
        "--dir",
        &dir_s,
        "--server-bin",
        &server,
    ]);
    assert!(!ok);
    assert!(err.contains("already answers"), "{err}");

    let (ok, out, err) = cli(&["-p", &port, "server", "stop", "--dir", &dir_s]);
    assert!(ok, "server stop failed: {out}{err}");
    let (ok, _, _) = cli(&["-p", &port, "ping"]);
    assert!(!ok, "node still answers after stop");
    assert!(!dir.path().join("slotcache-server.pid").exists());
}

#[test]
fn cli_reports_a_server_that_cannot_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _guard = PidGuard(dir.path().to_path_buf());
    let port = free_port().to_string();
    let server = cluster_tests::server_bin().display().to_string();
    let (ok, _, err) = cli(&[
        "-p",
        &port,
        "server",
        "start",
        "--dir",
        &dir.path().display().to_string(),
        "--server-bin",
        &server,
        "--",
        "--no-such-option",
        "1",
    ]);
    assert!(!ok);
    assert!(err.contains("no-such-option"), "{err}");
    let (ok, _, _) = cli(&["-p", &port, "ping"]);
    assert!(!ok);
}

#[test]
fn cli_ping_fails_cleanly_when_nothing_listens() {
    let port = free_port().to_string();
    let (ok, _, err) = cli(&["-p", &port, "ping"]);
    assert!(!ok);
    assert!(err.contains("cannot connect"), "{err}");
}

/// Stops a CLI-started cluster if the test ends early.
struct ClusterGuard(PathBuf);

impl Drop for ClusterGuard {
    fn drop(&mut self) {
        if let Ok(entries) = std::fs::read_dir(&self.0) {
            for e in entries.flatten() {
                let _ = PidGuard(e.path());
            }
        }
    }
}

#[test]
fn cluster_start_status_stop_runs_a_healthy_local_cluster() {
    let port = free_ports(6);
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("cl");
    let _guard = ClusterGuard(base.clone());
    let p = port.to_string();
    let b = base.display().to_string();
    let server = std::env::var("SLOTCACHE_SERVER_BIN")
        .unwrap_or_else(|_| cluster_tests::server_bin().display().to_string());
    let (ok, out, err) = cli(&[
        "cluster",
        "start",
        "--port",
        &p,
        "--dir",
        &b,
        "--server-bin",
        &server,
        "--",
        "--cluster-node-timeout",
        "1000",
    ]);
    assert!(ok, "cluster start failed: {out}{err}");
    assert!(out.contains(&format!("redis-cli -c -p {port}")), "{out}");
    let start_out = out;
    let (ok, out, err) = cli(&["cluster", "status", "--port", &p]);
    assert!(ok, "{err}");
    assert!(out.contains("cluster_state: ok"), "{out}");
    let role = |r: &str| {
        out.lines()
            .filter(|l| l.split_whitespace().nth(1) == Some(r))
            .count()
    };
    assert_eq!(role("primary"), 3, "{out}");
    assert_eq!(role("replica"), 3, "{out}");
    let (ok, got) =
        cluster_tests::run_tool("redis-cli", &["-c", "-p", &p, "SET", "foo", "bar"], None);
    assert!(ok && got.trim() == "OK", "{got}");
    // The stop hint `cluster start` printed works as printed (it names the directory).
    let (ok, out, err) = run_hint(&start_out, "stop:");
    assert!(ok, "the printed stop hint failed: {out}{err}");
    let (ok, _, _) = cli(&["-p", &p, "ping"]);
    assert!(!ok, "a node still answers after cluster stop");
}
