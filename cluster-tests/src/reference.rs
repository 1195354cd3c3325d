//! A reference redis-server 7.0.15 next to slotcache, for side-by-side comparisons of
//! replies. Tests skip (saying so) only where redis-server is not installed.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A reference redis-server, killed on drop.
pub struct Reference {
    pub port: u16,
    child: Child,
}

impl Reference {
    /// Starts `redis-server` (under `timeout`, so it cannot outlive a crashed test run) on a
    /// free port from the test range, or `None` when it is not installed.
    pub fn start() -> Option<Reference> {
        if Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .map(|s| !s.success())
            .unwrap_or(true)
        {
            eprintln!("SKIPPED: redis-server is not installed; no side-by-side comparison");
            return None;
        }
        for _ in 0..20 {
            let port = crate::pick_port();
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
                continue;
            }
            let child = Command::new("timeout")
                .args(["600", "redis-server", "--port", &port.to_string()])
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn redis-server");
            let mut r = Reference { port, child };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(mut c) = r.try_client(false) {
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

    /// A connection, RESP3 when asked.
    pub fn try_client(&self, resp3: bool) -> redis::RedisResult<redis::Connection> {
        let proto = if resp3 { "?protocol=resp3" } else { "" };
        let url = format!("redis://127.0.0.1:{}/{proto}", self.port);
        let c = redis::Client::open(url)?.get_connection_with_timeout(Duration::from_secs(5))?;
        c.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(c)
    }

    pub fn client(&self, resp3: bool) -> redis::Connection {
        self.try_client(resp3).expect("connect to redis-server")
    }
}

impl Drop for Reference {
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
