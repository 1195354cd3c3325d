//! Redis itself as a reference: a redis-server 7.0 process on a free port of the test range,
//! started with the options slotcache nodes get, for tests that compare replies side by side
//! (the reply-shape check; a differential fuzzer could use it too).

use crate::{free_port, wait_for};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A redis-server process, killed (and its directory removed) on drop.
pub struct RedisServer {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts redis-server (cluster-enabled, with a 1 s node timeout, if `cluster`) with the
    /// options [`crate::Node`] gives slotcache, so configuration replies can be compared.
    /// `None` when no redis-server is installed.
    ///
    /// # Errors
    /// A redis-server that is not 7.0.x, or that does not start and answer PING.
    pub fn start(cluster: bool) -> Result<Option<RedisServer>, String> {
        let version = match Command::new("redis-server").arg("--version").output() {
            Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
            Err(_) => return Ok(None),
        };
        if !version.contains("v=7.0.") {
            return Err(format!("the reference is Redis 7.0.x, found: {version}"));
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = free_port().ok_or("no free port for redis-server")?;
        let log = dir.path().join("redis.log");
        let mut cmd = Command::new("redis-server");
        if cluster {
            cmd.args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"])
                .args([
                    "--cluster-config-file",
                    &dir.path().join("nodes.conf").display().to_string(),
                ]);
        }
        let child = cmd
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--dir", &dir.path().display().to_string()])
            .args(["--enable-debug-command", "local"])
            .args([
                "--logfile",
                &log.display().to_string(),
                "--loglevel",
                "verbose",
            ])
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
            let s = TcpStream::connect(("127.0.0.1", port)).ok()?;
            s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
            (&s).write_all(b"PING\r\n").ok()?;
            let mut line = String::new();
            BufReader::new(s).read_line(&mut line).ok()?;
            line.starts_with("+PONG").then_some(())
        });
        if ready.is_none() {
            return Err(format!("redis-server on {port} did not answer PING"));
        }
        Ok(Some(reference))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RedisServer {
    /// `127.0.0.1:port`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}
