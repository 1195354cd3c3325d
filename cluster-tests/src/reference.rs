//! A reference `redis-server` (7.0.15 on the test machines) next to slotcache, for tests
//! that compare replies or move data between the two. Tests skip, saying so, where it is not
//! installed.

use crate::pick_port;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running redis-server, stopped on drop.
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

    /// Starts redis-server (under `timeout`, so it cannot outlive a crashed test run) on a
    /// free port from the test range with DEBUG enabled, no persistence and `extra` options;
    /// `None` (after printing why) when it is not installed.
    pub fn start(extra: &[&str]) -> Option<RedisServer> {
        if !Self::installed() {
            eprintln!("SKIPPED: redis-server is not installed; no side-by-side comparison");
            return None;
        }
        for _ in 0..20 {
            let port = pick_port();
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_err()
                || std::net::TcpListener::bind(("127.0.0.1", port + 10000)).is_err()
            {
                continue;
            }
            let dir = tempfile::Builder::new()
                .prefix("redis-ref-")
                .tempdir()
                .expect("redis-server dir");
            let child = Command::new("timeout")
                .args(["900", "redis-server", "--port", &port.to_string()])
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .args(["--enable-debug-command", "yes", "--dir"])
                .arg(dir.path())
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn redis-server");
            let mut r = RedisServer {
                port,
                child,
                _dir: dir,
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(mut c) = r.try_client() {
                    if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                        return Some(r);
                    }
                }
                if let Ok(Some(_)) = r.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            drop(r);
        }
        panic!("redis-server is installed but did not start");
    }

    fn try_client(&self) -> redis::RedisResult<redis::Connection> {
        let url = format!("redis://127.0.0.1:{}/", self.port);
        let c = redis::Client::open(url)?.get_connection_with_timeout(Duration::from_secs(5))?;
        c.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(c)
    }

    pub fn client(&self) -> redis::Connection {
        self.try_client().expect("connect to redis-server")
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
