//! The container image's contract, tested without a container runtime: its entrypoint
//! (deploy/docker/entrypoint.sh) run as a non-root user with configuration in the
//! environment execs the server (so the runtime's SIGTERM reaches it), which serves with
//! that configuration, passes the image's health check (deploy/docker/healthcheck.sh, and
//! its `cluster` readiness form), and exits cleanly within docker's 10 s grace period.

use cluster_tests::{pick_port, server_bin, wait_for};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The user the image runs as is uid 999; here any non-root user will do.
const NOBODY: u32 = 65534;

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/docker")
}

/// A directory the non-root user can read (and, for `writable`, write).
fn open_dir(writable: bool) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let mode = if writable { 0o777 } else { 0o755 };
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(mode)).unwrap();
    d
}

/// Runs `program args` as the non-root user (when we are root) with exactly `env`.
fn as_user(program: &Path, args: &[&str], env: &[(String, String)]) -> Command {
    let root = unsafe { libc::geteuid() } == 0;
    let mut c = if root {
        let mut c = Command::new("setpriv");
        c.args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
        ])
        .arg(program);
        c
    } else {
        Command::new(program)
    };
    c.args(args).env_clear().envs(env.iter().cloned());
    c
}

fn status_field(pid: u32, field: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
        .unwrap_or_default()
}

#[test]
fn the_entrypoint_runs_the_server_unprivileged_from_the_environment_and_stops_on_sigterm() {
    if Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("SKIPPED: setpriv (util-linux) is not installed");
        return;
    }
    // The binary and the scripts where the non-root user can run them, as in the image.
    let bin = open_dir(false);
    for (from, to) in [
        (server_bin(), "slotcache-server"),
        (deploy_dir().join("entrypoint.sh"), "slotcache-entrypoint"),
        (deploy_dir().join("healthcheck.sh"), "slotcache-healthcheck"),
    ] {
        let dest = bin.path().join(to);
        std::fs::copy(&from, &dest).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let data = open_dir(true);
    let port = (0..50)
        .map(|_| pick_port())
        .find(|p| {
            std::net::TcpListener::bind(("0.0.0.0", *p)).is_ok()
                && std::net::TcpListener::bind(("0.0.0.0", *p + 10000)).is_ok()
        })
        .expect("a free port");
    let env: Vec<(String, String)> = [
        (
            "PATH",
            format!("{}:/usr/bin:/bin", bin.path().display()).as_str(),
        ),
        ("SLOTCACHE_PORT", &port.to_string()),
        ("SLOTCACHE_BUS_PORT", &(port + 10000).to_string()),
        ("SLOTCACHE_NODE_TIMEOUT", "1000"),
        ("SLOTCACHE_ANNOUNCE_HOSTNAME", "slotcache-0.slotcache.test"),
        ("SLOTCACHE_PREFERRED_ENDPOINT", "hostname"),
        ("SLOTCACHE_MAXMEMORY", "64mb"),
        ("SLOTCACHE_PASSWORD", "s3cret"),
        ("SLOTCACHE_DIR", &data.path().display().to_string()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();

    // A command instead of options runs that command (`docker run IMAGE slotcache-cli`).
    let out = as_user(
        &bin.path().join("slotcache-entrypoint"),
        &["echo", "hi"],
        &env,
    )
    .output()
    .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");

    let child = as_user(&bin.path().join("slotcache-entrypoint"), &[], &env)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut p = Proc(child);
    let pid = p.0.id();
    let health = |args: &[&str]| {
        as_user(&bin.path().join("slotcache-healthcheck"), args, &env)
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success())
    };
    assert!(
        wait_for(Duration::from_secs(15), || health(&[]).then_some(())).is_some(),
        "the health check never passed"
    );
    // exec all the way down: the process the runtime signals is the server, unprivileged.
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert!(exe.ends_with("slotcache-server"), "{exe:?}");
    if unsafe { libc::geteuid() } == 0 {
        assert_eq!(status_field(pid, "Uid"), NOBODY.to_string());
    }
    assert!(
        data.path().join("nodes.conf").exists(),
        "nodes.conf in /data"
    );

    // Configuration from the environment.
    let client = redis::Client::open(format!("redis://:s3cret@127.0.0.1:{port}/")).unwrap();
    let mut c = client
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap();
    let get = |c: &mut redis::Connection, name: &str| -> String {
        let v: Vec<String> = redis::cmd("CONFIG").arg("GET").arg(name).query(c).unwrap();
        v.get(1).cloned().unwrap_or_default()
    };
    assert_eq!(get(&mut c, "maxmemory"), "67108864");
    assert_eq!(get(&mut c, "maxmemory-policy"), "allkeys-lru");
    assert_eq!(get(&mut c, "protected-mode"), "no");
    assert_eq!(get(&mut c, "cluster-node-timeout"), "1000");
    assert_eq!(
        get(&mut c, "cluster-announce-hostname"),
        "slotcache-0.slotcache.test"
    );
    assert_eq!(get(&mut c, "cluster-preferred-endpoint-type"), "hostname");
    let unauth = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(5))
        .unwrap();
    let mut unauth = unauth;
    assert!(redis::cmd("GET")
        .arg("k")
        .query::<Option<String>>(&mut unauth)
        .is_err());

    // Readiness: only once this node sees a working cluster.
    assert!(!health(&["cluster"]), "ready before the cluster is ok");
    let _: () = redis::cmd("CLUSTER")
        .arg("ADDSLOTSRANGE")
        .arg(0)
        .arg(16383)
        .query(&mut c)
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || health(&["cluster"])
            .then_some(()))
        .is_some(),
        "readiness never passed with every slot served"
    );

    // docker stop: SIGTERM, then SIGKILL after 10 s.
    let t = Instant::now();
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let status = wait_for(Duration::from_secs(10), || p.0.try_wait().ok().flatten());
    assert!(
        status.is_some_and(|s| s.success()),
        "no clean exit within the grace period: {status:?} after {:?}",
        t.elapsed()
    );
}

/// The image's preStop hook (deploy/docker/prestop.sh) on a primary with a replica: the
/// replica takes the slots over by CLUSTER FAILOVER before the hook returns, with the data.
#[test]
fn the_prestop_hook_hands_a_primarys_slots_to_its_replica() {
    use cluster_tests::cluster::{query_string, TestCluster};
    let tc = TestCluster::start(4, &[]);
    tc.form_with_replicas(3);
    assert!(tc.wait_ok(Duration::from_secs(20)));
    // Replica 3 has synced (it is listed in its primary's INFO replication as online).
    assert!(wait_for(Duration::from_secs(20), || {
        let info = query_string(&tc.nodes[0], &["INFO", "replication"]).ok()?;
        info.contains("state=online").then_some(())
    })
    .is_some());
    let mut cc = tc.cluster_client();
    for i in 0..50 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut cc)
            .unwrap();
    }
    let port = tc.nodes[0].port.to_string();
    let out = Command::new("timeout")
        .arg("60")
        .arg(deploy_dir().join("prestop.sh"))
        .env("SLOTCACHE_PORT", &port)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("handed off"),
        "{said}"
    );
    let role = |n: usize| {
        let info = query_string(&tc.nodes[n], &["INFO", "replication"]).unwrap();
        cluster_tests::info_field(&info, "role").unwrap()
    };
    assert_eq!(role(0), "slave");
    assert_eq!(role(3), "master");
    let mut cc = tc.cluster_client();
    for i in 0..50 {
        let v: i64 = redis::cmd("GET")
            .arg(format!("k{i}"))
            .query(&mut cc)
            .unwrap();
        assert_eq!(v, i);
    }
    // On a node that is not a primary the hook does nothing.
    let out = Command::new("timeout")
        .arg("60")
        .arg(deploy_dir().join("prestop.sh"))
        .env("SLOTCACHE_PORT", &port)
        .output()
        .unwrap();
    assert!(out.status.success() && out.stdout.is_empty());
}

/// The Kubernetes manifests and the image agree: every program a probe or hook runs is
/// installed by the Dockerfile, and every SLOTCACHE_* variable the StatefulSet sets is one
/// the image's scripts read.
#[test]
fn the_manifests_use_only_what_the_image_provides() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    let sts = read("kubernetes/statefulset.yaml");
    let dockerfile = read("docker/Dockerfile");
    let scripts =
        read("docker/entrypoint.sh") + &read("docker/healthcheck.sh") + &read("docker/prestop.sh");
    let words = |text: &str, prefix: &str| -> Vec<String> {
        text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .filter(|w| w.starts_with(prefix) && w.len() > prefix.len())
            .map(String::from)
            .collect()
    };
    let programs = words(&sts, "slotcache-");
    assert!(programs.iter().any(|p| p == "slotcache-healthcheck"));
    assert!(programs.iter().any(|p| p == "slotcache-prestop"));
    for p in programs
        .iter()
        .filter(|p| *p != "slotcache-client" && *p != "slotcache-create-cluster")
    {
        assert!(
            dockerfile.contains(&format!("/usr/local/bin/{p}")),
            "{p} is not installed by the Dockerfile"
        );
    }
    let vars = words(&sts, "SLOTCACHE_");
    assert!(vars.len() >= 5, "{vars:?}");
    for v in vars {
        assert!(
            scripts.contains(&format!("{v}:")) || scripts.contains(&format!("${v}")),
            "{v} is read by no script"
        );
    }
}
