//! Redis itself as a reference: a redis-server 7.0 process (7.0.15 on the test machines) on a
//! free port of the test range, for tests that compare replies side by side (the reply-shape
//! check, COMMAND INFO/DOCS) or move data between the two (DUMP/RESTORE, MIGRATE, import).

use crate::{free_port, wait_for};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running redis-server, stopped on drop (its directory removed).
pub struct RedisServer {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Whether `redis-server` can be run here.
    pub fn installed() -> bool {
        Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// Starts redis-server (cluster-enabled with a 1 s node timeout if `cluster`) with DEBUG
    /// enabled, no persistence and `extra` options, under `timeout` so that it cannot outlive
    /// a crashed test run. `Ok(None)` when no redis-server is installed.
    ///
    /// # Errors
    /// A redis-server that is not 7.0.x, or that does not start and answer PING.
    pub fn launch(cluster: bool, extra: &[&str]) -> Result<Option<RedisServer>, String> {
        let version = match Command::new("redis-server").arg("--version").output() {
            Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
            Err(_) => return Ok(None),
        };
        if !version.contains("v=7.0.") {
            return Err(format!("the reference is Redis 7.0.x, found: {version}"));
        }
        let dir = tempfile::Builder::new()
            .prefix("redis-ref-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let port = free_port().ok_or("no free port for redis-server")?;
        let mut cmd = Command::new("timeout");
        cmd.args(["900", "redis-server", "--port", &port.to_string()]);
        if cluster {
            cmd.args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"])
                .arg("--cluster-config-file")
                .arg(dir.path().join("nodes.conf"));
        }
        let child = cmd
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--enable-debug-command", "local", "--dir"])
            .arg(dir.path())
            .arg("--logfile")
            .arg(dir.path().join("redis.log"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn redis-server: {e}"))?;
        let reference = RedisServer {
            port,
            child,
            _dir: dir,
        };
        let ready = wait_for(Duration::from_secs(10), || {
            let mut c = reference.try_client(false).ok()?;
            redis::cmd("PING")
                .query::<String>(&mut c)
                .ok()
                .filter(|p| p == "PONG")
        });
        if ready.is_none() {
            return Err(format!("redis-server on {port} did not answer PING"));
        }
        Ok(Some(reference))
    }

    /// A standalone redis-server with `extra` options, or `None` (after saying so) where
    /// none is installed: for tests that skip without one.
    pub fn start(extra: &[&str]) -> Option<RedisServer> {
        match Self::launch(false, extra) {
            Ok(Some(r)) => Some(r),
            Ok(None) => {
                eprintln!("SKIPPED: redis-server is not installed; no side-by-side comparison");
                None
            }
            Err(e) => panic!("{e}"),
        }
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn try_client(&self, resp3: bool) -> redis::RedisResult<redis::Connection> {
        let proto = if resp3 { "?protocol=resp3" } else { "" };
        let url = format!("redis://127.0.0.1:{}/{proto}", self.port);
        let c = redis::Client::open(url)?.get_connection_with_timeout(Duration::from_secs(5))?;
        c.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(c)
    }

    pub fn client(&self) -> redis::Connection {
        self.try_client(false).expect("connect to redis-server")
    }

    pub fn client_resp3(&self) -> redis::Connection {
        self.try_client(true).expect("connect to redis-server")
    }
}

impl Drop for RedisServer {
    /// SIGTERM to `timeout`, which passes it on to redis-server and exits with it (a SIGKILL
    /// would leave redis-server running without its `timeout`).
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
