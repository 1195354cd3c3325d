//! `slotcache-cli chaos` end to end (issue #31): CI-sized chaos runs of the built CLI, each
//! checked through the report it writes and through headless Chromium's view of its page.
//!
//! - Six nodes in network namespaces (root, iproute2, iptables, as `partition_heal.rs`):
//!   two minutes and at least five faults of every kind; no WAIT-confirmed write lost, no
//!   read below a confirmed value, no overlapping primaries, no false failover (reads
//!   going backwards are reported: asynchronous replication's expected loss); the page loads in Chromium with no console errors and one marker per fault.
//! - Six nodes on loopback ports of the test range, the cluster the CLI starts with
//!   `cluster start` and then drives by pid (kill -9 + restart from the process's own
//!   command line, SIGSTOP): the same promises over a shorter run.

use cluster_tests::{cli_bin, server_bin, wait_for};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Runs `slotcache-cli chaos` under `timeout`; returns (success, stdout + stderr).
fn chaos(args: &[&str], limit_s: u64) -> (bool, String) {
    let server = server_bin();
    let out = Command::new("timeout")
        .arg(limit_s.to_string())
        .arg(cli_bin())
        .arg("chaos")
        .arg("--server-bin")
        .arg(&server)
        .args(args)
        .output()
        .expect("run slotcache-cli chaos");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn report(out: &Path) -> Value {
    let text = std::fs::read_to_string(out.join("report.json")).expect("report.json written");
    serde_json::from_str(&text).expect("report.json is JSON")
}

/// The promises every run must keep, asserted on its report. Reads that went backwards
/// and plain writes lost are counted, not promised: asynchronous replication loses the
/// writes a dying primary had not sent to its replica yet, and a read may have seen one.
fn assert_promises_kept(r: &Value, printed: &str) {
    let inv = &r["invariants"];
    for key in [
        "lost_wait_confirmed",
        "reads_below_confirmed",
        "overlapping_primaries",
        "false_failovers",
    ] {
        assert_eq!(inv[key], 0, "{key} in {inv}\n{printed}");
    }
    assert_eq!(r["passed"], true, "{printed}");
    assert!(r.get("broken").is_none(), "run cut short: {}", r["broken"]);
    for s in r["shards"].as_array().expect("shards") {
        assert!(
            s["wait_confirmed"].as_u64() > Some(100),
            "few confirmed writes: {s}"
        );
        assert!(s["reads"].as_u64() > Some(100), "few reads: {s}");
        let a = s["availability"].as_f64().expect("availability");
        assert!(a > 0.5 && a <= 1.0, "availability {a}");
    }
}

/// Headless Chromium's view of the page: its DOM (one marker per fault) and its console.
fn assert_page_renders(out: &Path, faults: usize) {
    let page = std::fs::canonicalize(out.join("report.html")).expect("report.html written");
    let run = |extra: &[&str]| {
        let o = Command::new("timeout")
            .args(["120", "chromium"])
            .args(cluster_tests::HEADLESS_CHROMIUM_FLAGS)
            .args(extra)
            .arg(format!("file://{}", page.display()))
            .output()
            .expect("chromium is required (Debian's chromium package)");
        assert!(o.status.success(), "chromium: {o:?}");
        (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (dom, log) = run(&["--dump-dom"]);
    assert_eq!(
        dom.matches(r#"class="fault-marker""#).count(),
        faults,
        "one marker per fault"
    );
    assert!(dom.contains(r#"id="timeline""#));
    let console: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    // The CLI keeps a screenshot of the page for a person.
    let shot = std::fs::metadata(out.join("report.png")).expect("report.png kept");
    assert!(shot.len() > 10_000, "screenshot of {} bytes", shot.len());
}

#[test]
fn two_minutes_of_every_fault_in_namespaces_keep_every_promise() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let o = out.to_str().expect("utf-8 path");
    let (ok, printed) = chaos(
        &[
            "--seconds",
            "120",
            "--seed",
            "7",
            "--node-timeout",
            "700",
            "--out",
            o,
        ],
        400,
    );
    assert!(ok, "chaos run failed:\n{printed}");
    let r = report(&out);
    assert_promises_kept(&r, &printed);
    let faults = r["faults"].as_array().expect("faults");
    assert!(faults.len() >= 5, "{} faults:\n{printed}", faults.len());
    for kind in ["kill", "pause", "partition", "slow"] {
        assert!(
            faults.iter().any(|f| f["kind"] == kind),
            "no {kind} fault:\n{printed}"
        );
    }
    // A killed primary is always replaced, and the report times it.
    for f in faults.iter().filter(|f| {
        f["kind"] == "kill" && f["description"].as_str().unwrap_or("").contains("primary")
    }) {
        assert!(f["detection_ms"].as_u64().is_some(), "undetected: {f}");
        assert!(f["failover_ms"].as_u64().is_some(), "no failover: {f}");
        assert!(f["mttr_ms"].as_u64() > Some(0), "{f}");
    }
    assert_page_renders(&out, faults.len());
    for i in 0..6 {
        let log = std::fs::read_to_string(out.join(format!("nodes/node{i}.log")))
            .expect("node logs kept");
        assert!(!log.is_empty());
    }
}

/// The first of six consecutive free ports (and bus ports) in the test range.
fn free_ports() -> u16 {
    let (lo, hi) = cluster_tests::port_range();
    (0..200)
        .map(|_| cluster_tests::pick_port().clamp(lo, hi.saturating_sub(6)))
        .find(|&base| {
            (0..6).all(|i| {
                std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok()
                    && std::net::TcpListener::bind(("127.0.0.1", base + i + 10000)).is_ok()
            })
        })
        .expect("six free ports")
}

/// Kills whatever still listens on the run's ports (a run cut short by `timeout` leaves
/// its nodes, which live in their own sessions).
struct Reaper(u16);

impl Drop for Reaper {
    fn drop(&mut self) {
        for port in self.0..self.0 + 6 {
            let Ok(c) = redis::Client::open(format!("redis://127.0.0.1:{port}/")) else {
                continue;
            };
            let Ok(mut con) = c.get_connection_with_timeout(Duration::from_millis(300)) else {
                continue;
            };
            let _ = con.set_read_timeout(Some(Duration::from_secs(1)));
            let info: String = redis::cmd("INFO")
                .arg("server")
                .query(&mut con)
                .unwrap_or_default();
            let pid = info
                .lines()
                .find_map(|l| l.strip_prefix("process_id:"))
                .and_then(|p| p.trim().parse::<i32>().ok());
            if let Some(pid) = pid {
                // SAFETY: kill(2) on the pid the node on our own port reported.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

#[test]
fn a_loopback_cluster_driven_by_pid_keeps_every_promise() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let base = free_ports();
    let _reaper = Reaper(base);
    let (ok, printed) = chaos(
        &[
            "--loopback",
            "--base-port",
            &base.to_string(),
            "--seconds",
            "40",
            "--faults",
            "kill,pause,partition",
            "--node-timeout",
            "700",
            "--out",
            out.to_str().expect("utf-8 path"),
        ],
        240,
    );
    assert!(ok, "chaos run failed:\n{printed}");
    let r = report(&out);
    assert_promises_kept(&r, &printed);
    let faults = r["faults"].as_array().expect("faults");
    assert!(faults.len() >= 3, "{} faults:\n{printed}", faults.len());
    assert!(faults.iter().any(|f| f["kind"] == "kill"), "{printed}");
    // The run stops the cluster it started.
    let gone = wait_for(Duration::from_secs(10), || {
        (0..6)
            .all(|i| std::net::TcpStream::connect(("127.0.0.1", base + i)).is_err())
            .then_some(())
    });
    assert!(gone.is_some(), "nodes still running after the run");
}
