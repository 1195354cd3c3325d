//! A harness for end-to-end tests: start real `slotcache-server` processes on loopback,
//! talk to them with stock clients (the `redis` crate, `redis-cli`, raw sockets), and always
//! clean up.
//!
//! The server binary comes from `SLOTCACHE_SERVER_BIN` (the test command builds the release
//! binary once and passes its path); without it, the workspace's `target/release` then
//! `target/debug` binary is used. Ports are drawn from 12000..21000 (below 22767, so
//! port + 10000 is a valid bus port), or from `SLOTCACHE_TEST_PORTS` (`lo-hi`), and retried
//! when taken. Node directories live on tmpfs
//! (`/dev/shm`) when it exists. Without `SLOTCACHE_SERVER_BIN`, the newer of the release and
//! debug builds is used.

pub mod certs;
pub mod checker;
pub mod cluster;
pub mod netns;
pub mod partition_lab;
pub mod partition_shapes;
pub mod reference;
pub mod repl_stream;
pub mod shapes;
pub mod stream_reshard;
pub mod typed_data;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the server binary is.
/// The CLI binary: `SLOTCACHE_CLI_BIN`, else the newer of target/release and target/debug
/// (as [`server_bin`] finds the server).
pub fn cli_bin() -> PathBuf {
    if let Ok(p) = std::env::var("SLOTCACHE_CLI_BIN") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    ["release", "debug"]
        .iter()
        .map(|profile| root.join("target").join(profile).join("slotcache-cli"))
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .max()
        .map(|(_, p)| p)
        .unwrap_or_else(|| {
            panic!("slotcache-cli not built: run `cargo build -p slotcache-cli` or set SLOTCACHE_CLI_BIN")
        })
}

pub fn server_bin() -> PathBuf {
    if let Ok(p) = std::env::var("SLOTCACHE_SERVER_BIN") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // The most recently built of the release and debug binaries.
    let newest = ["release", "debug"]
        .iter()
        .map(|profile| root.join("target").join(profile).join("slotcache-server"))
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .max();
    if let Some((_, p)) = newest {
        return p;
    }
    panic!("slotcache-server not built: run `cargo build --release -p slotcache-server` or set SLOTCACHE_SERVER_BIN");
}

fn scratch_root() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// A port range `lo-hi` from `SLOTCACHE_TEST_PORTS`, for engineers who share a machine and
/// each own a range; both ends must leave room for the bus port (port + 10000).
pub fn port_range() -> (u16, u16) {
    std::env::var("SLOTCACHE_TEST_PORTS")
        .ok()
        .and_then(|v| {
            let (lo, hi) = v.split_once('-')?;
            let (lo, hi): (u16, u16) = (lo.trim().parse().ok()?, hi.trim().parse().ok()?);
            (lo <= hi && hi <= 55535).then_some((lo, hi))
        })
        .unwrap_or((12000, 20999))
}

/// A port that nothing listens on now (nor on port + 10000), for servers other than
/// slotcache that a test starts itself (redis-server as a reference).
pub fn free_port() -> Option<u16> {
    (0..50).map(|_| pick_port()).find(|&p| {
        std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()
            && std::net::TcpListener::bind(("127.0.0.1", p + 10000)).is_ok()
    })
}

/// A free port for a node's Prometheus endpoint (`--metrics-port`): from
/// `SLOTCACHE_METRICS_PORTS` (`lo-hi`) when set, else from the test range, skipping `taken`
/// (ports already handed out and not yet bound).
pub fn metrics_port(taken: &[u16]) -> Option<u16> {
    let (lo, hi) = std::env::var("SLOTCACHE_METRICS_PORTS")
        .ok()
        .and_then(|v| {
            let (lo, hi) = v.split_once('-')?;
            let (lo, hi): (u16, u16) = (lo.trim().parse().ok()?, hi.trim().parse().ok()?);
            (lo <= hi).then_some((lo, hi))
        })
        .unwrap_or_else(port_range);
    let start = lo + (pick_port() % (hi - lo + 1));
    (0..=hi - lo)
        .map(|i| lo + (start - lo + i) % (hi - lo + 1))
        .find(|p| !taken.contains(p) && std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
}

/// A port to try for a test server: random in the range above. The bus port is 10000 above.
pub fn pick_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    let (lo, hi) = port_range();
    lo + (h.finish() % (u64::from(hi - lo) + 1)) as u16
}

/// A running server process. Killed (SIGKILL) and its directory removed on drop.
pub struct Node {
    pub port: u16,
    /// The address the node listens on (127.0.0.1, or its network namespace's address).
    pub host: String,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    args: Vec<String>,
    /// A command the server runs under (`ip netns exec <ns>`), if any.
    prefix: Vec<String>,
    /// The config file written by [`Node::start_with_config`] (and its directory).
    config: Option<(tempfile::TempDir, PathBuf)>,
}

impl Node {
    /// INFO's `blocked_clients` (0 when unreadable).
    pub fn blocked_clients(&self) -> usize {
        let info: String = q(&mut self.client(), &["INFO", "clients"]);
        info_field(&info, "blocked_clients")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Waits (5 s at most) until exactly `n` clients are blocked; fails the test otherwise.
    pub fn wait_blocked_clients(&self, n: usize) {
        assert!(
            wait_for(Duration::from_secs(5), || (self.blocked_clients() == n)
                .then_some(()))
            .is_some(),
            "expected {n} blocked clients"
        );
    }

    /// Starts a node with the given extra options (`["--maxmemory", "10mb"]`); a first
    /// element that is not an option is a config file path.
    pub fn start(extra: &[&str]) -> Node {
        Self::try_start(extra).unwrap_or_else(|e| panic!("could not start slotcache-server: {e}"))
    }

    /// Starts a node from a config file with this text (passed first, as
    /// `redis-server /path/to.conf`), plus options.
    pub fn start_with_config(text: &str, extra: &[&str]) -> Node {
        let dir = tempfile::Builder::new()
            .prefix("slotcache-conf-")
            .tempdir_in(scratch_root())
            .expect("config dir");
        let path = dir.path().join("slotcache.conf");
        std::fs::write(&path, text).expect("write config");
        let mut args = vec![path.to_str().expect("utf-8 path")];
        args.extend_from_slice(extra);
        let mut node = Self::start(&args);
        node.config = Some((dir, path));
        node
    }

    /// The config file a node started with `start_with_config` reads and rewrites.
    pub fn config_path(&self) -> PathBuf {
        self.config
            .as_ref()
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| self.dir.path().join("slotcache.conf"))
    }

    pub fn try_start(extra: &[&str]) -> Result<Node, String> {
        let mut last = String::new();
        for _ in 0..20 {
            let port = pick_port();
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_err()
                || std::net::TcpListener::bind(("127.0.0.1", port + 10000)).is_err()
            {
                continue;
            }
            let dir = tempfile::Builder::new()
                .prefix("slotcache-test-")
                .tempdir_in(scratch_root())
                .map_err(|e| e.to_string())?;
            // A leading non-option argument is a config file, which redis-server style
            // command lines take first.
            let (conf, extra) = match extra.split_first() {
                Some((first, rest)) if !first.starts_with("--") => (Some(first.to_string()), rest),
                _ => (None, extra),
            };
            let mut args: Vec<String> = conf.into_iter().collect();
            args.extend::<Vec<String>>(vec![
                "--port".into(),
                port.to_string(),
                "--bind".into(),
                "127.0.0.1".into(),
                "--dir".into(),
                dir.path().display().to_string(),
                "--enable-debug-command".into(),
                "local".into(),
                "--logfile".into(),
                dir.path().join("server.log").display().to_string(),
                "--loglevel".into(),
                "verbose".into(),
            ]);
            args.extend(extra.iter().map(|s| s.to_string()));
            let mut node = Node {
                port,
                host: "127.0.0.1".into(),
                dir,
                child: None,
                args,
                prefix: Vec::new(),
                config: None,
            };
            match node.spawn() {
                Ok(()) => return Ok(node),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Starts a node inside a network namespace (see [`netns`]), listening on `host:port`.
    pub fn start_in(
        prefix: &[String],
        host: &str,
        port: u16,
        extra: &[&str],
    ) -> Result<Node, String> {
        let dir = tempfile::Builder::new()
            .prefix("slotcache-test-")
            .tempdir_in(scratch_root())
            .map_err(|e| e.to_string())?;
        let mut args: Vec<String> = vec![
            "--port".into(),
            port.to_string(),
            "--bind".into(),
            host.to_string(),
            "--bind-source-addr".into(),
            host.to_string(),
            "--dir".into(),
            dir.path().display().to_string(),
            "--enable-debug-command".into(),
            "yes".into(),
            "--logfile".into(),
            dir.path().join("server.log").display().to_string(),
            "--loglevel".into(),
            "verbose".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut node = Node {
            port,
            host: host.to_string(),
            dir,
            child: None,
            args,
            prefix: prefix.to_vec(),
            config: None,
        };
        node.spawn()?;
        Ok(node)
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut cmd = match self.prefix.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(server_bin());
                c
            }
            None => Command::new(server_bin()),
        };
        let child = cmd
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", server_bin().display()))?;
        self.child = Some(child);
        self.wait_ready()
    }

    /// Waits until the node answers PING (or exits).
    pub fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    let mut err = String::new();
                    if let Some(mut e) = c.stderr.take() {
                        let _ = e.read_to_string(&mut err);
                    }
                    return Err(format!("server exited with {status}: {err} {}", self.log()));
                }
            }
            if let Ok(mut s) = TcpStream::connect((self.host.as_str(), self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                if s.write_all(b"PING\r\n").is_ok() {
                    let mut line = String::new();
                    if BufReader::new(s).read_line(&mut line).is_ok()
                        && (line.starts_with("+PONG") || line.starts_with("-NOAUTH"))
                    {
                        return Ok(());
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err("server did not answer PING within 10s".into())
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Stops the process with SIGSTOP and returns once every thread is stopped.
    ///
    /// `kill` only queues the signal: the group stop happens when one of the server's threads
    /// next runs, and on a loaded 2-core machine another thread can still answer a request in
    /// between. Tests that expect a paused node to say nothing wait for `/proc` to agree.
    pub fn pause(&self) {
        let pid = self.pid().expect("node is running");
        unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
        let stopped = wait_for(Duration::from_secs(5), || {
            let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
            let mut all = true;
            for task in tasks.flatten() {
                let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
                // The state follows the parenthesised command name.
                let state = stat
                    .rsplit_once(") ")
                    .and_then(|(_, rest)| rest.chars().next());
                all &= matches!(state, Some('T') | Some('t') | None);
            }
            all.then_some(())
        });
        assert!(stopped.is_some(), "node {} did not stop", self.port);
    }

    /// Lets a node stopped by [`Node::pause`] run again.
    pub fn resume(&self) {
        if let Some(pid) = self.pid() {
            unsafe { libc::kill(pid as i32, libc::SIGCONT) };
        }
    }

    pub fn url(&self) -> String {
        format!("redis://{}:{}/", self.host, self.port)
    }

    /// A RESP2 connection through the `redis` crate.
    pub fn client(&self) -> redis::Connection {
        let c = redis::Client::open(self.url()).expect("valid url");
        let con = c
            .get_connection_with_timeout(Duration::from_secs(5))
            .expect("connect");
        con.set_read_timeout(Some(Duration::from_secs(10))).ok();
        con
    }

    /// A RESP3 connection through the `redis` crate.
    pub fn client_resp3(&self) -> redis::Connection {
        let c = redis::Client::open(format!("{}?protocol=resp3", self.url())).expect("valid url");
        let con = c
            .get_connection_with_timeout(Duration::from_secs(5))
            .expect("connect");
        con.set_read_timeout(Some(Duration::from_secs(10))).ok();
        con
    }

    /// A raw socket, for inline commands and malformed input.
    pub fn raw(&self) -> TcpStream {
        let s = TcpStream::connect((self.host.as_str(), self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).ok();
        s
    }

    /// Runs `redis-cli -p <port> args...` under a timeout; returns (exit ok, stdout).
    pub fn cli(&self, args: &[&str]) -> (bool, String) {
        let port = self.port.to_string();
        let mut full = vec!["-h", self.host.as_str(), "-p", port.as_str()];
        full.extend_from_slice(args);
        run_tool("redis-cli", &full, None)
    }

    /// Sends SIGTERM and waits for the exit status (graceful shutdown).
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(s)) = c.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = c.kill();
        c.wait().ok()
    }

    /// Kills the process (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the process again with the same options and directory (after `kill` or
    /// `terminate`).
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill();
        self.spawn()
    }

    /// Starts the process again with the same options and directory (its nodes.conf), but
    /// listening on and dialing from `host`: a node that comes back at a new address, as a
    /// rescheduled pod does. Only for nodes started with [`Node::start_in`] (which name
    /// both addresses).
    pub fn restart_at(&mut self, host: &str) -> Result<(), String> {
        self.kill();
        for flag in ["--bind", "--bind-source-addr"] {
            let at = self
                .args
                .iter()
                .position(|a| a == flag)
                .ok_or_else(|| format!("node was not started with {flag}"))?;
            self.args[at + 1] = host.to_string();
        }
        self.host = host.to_string();
        self.spawn()
    }

    /// Waits for the process to exit on its own (after SHUTDOWN), up to `secs`.
    pub fn wait_exit(&mut self, secs: u64) -> Option<std::process::ExitStatus> {
        let c = self.child.as_mut()?;
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if let Ok(Some(s)) = c.try_wait() {
                self.child = None;
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Resident memory of the process in bytes (from /proc).
    pub fn rss(&self) -> Option<u64> {
        rss_of(self.pid()?)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Resident set size of a process, from /proc/<pid>/status.
pub fn rss_of(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Runs an external tool under `timeout 60`, optionally feeding stdin; returns (success, stdout).
pub fn run_tool(tool: &str, args: &[&str], stdin: Option<&[u8]>) -> (bool, String) {
    let mut cmd = Command::new("timeout");
    cmd.arg("60").arg(tool).args(args);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {tool} (is redis-tools installed?): {e}"));
    if let (Some(data), Some(mut si)) = (stdin, child.stdin.take()) {
        let _ = si.write_all(data);
    }
    let out = child.wait_with_output().expect("wait for tool");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Stops a tool started under `timeout` and waits for it. SIGKILL would end only `timeout`
/// and leave the tool running (a killed reshard would go on moving slots); `timeout` passes
/// SIGTERM on to the tool. SIGKILL follows if they have not both exited within 5 s.
pub fn stop_tool(child: &mut Child) {
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let stopped = wait_for(Duration::from_secs(5), || child.try_wait().ok().flatten());
    if stopped.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Sends raw bytes and reads until `expect_bytes` bytes arrived or the peer closed / timed out.
pub fn raw_exchange(s: &mut TcpStream, send: &[u8], expect_bytes: usize) -> Vec<u8> {
    s.write_all(send).expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.len() < expect_bytes && Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    got
}

/// Polls `f` until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads one field of an INFO reply (`used_memory`).
pub fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
}

/// Sends a command that must fail and returns the server's error as Redis prints it
/// (`ERR value is out of range`, `WRONGTYPE ...`).
pub fn server_error(c: &mut redis::Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    let r: redis::RedisResult<redis::Value> = cmd.query(c);
    let e = r.expect_err(&format!("{args:?} should fail"));
    match (e.code(), e.detail()) {
        (Some(code), Some(d)) => format!("{code} {d}"),
        (Some(code), None) => code.to_string(),
        _ => e.to_string(),
    }
}

/// Makes a lone cluster-mode node own every slot, so commands reach their own checks
/// rather than a redirect.
pub fn own_all_slots(c: &mut redis::Connection) {
    let _: () = redis::cmd("CLUSTER")
        .arg("ADDSLOTSRANGE")
        .arg(0)
        .arg(16383)
        .query(c)
        .expect("CLUSTER ADDSLOTSRANGE 0 16383");
}

/// Reads until the peer closes the connection or `within` passes; returns what arrived and
/// whether it closed (a reset counts as closed).
pub fn read_to_close(s: &mut TcpStream, within: Duration) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    s.set_read_timeout(Some(Duration::from_millis(200))).ok();
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                ) =>
            {
                return (got, true)
            }
            Err(_) => {}
        }
    }
    (got, false)
}

/// Asserts that the node still answers PING on a new connection.
pub fn still_serves(node: &Node) {
    let mut c = node.client();
    let pong: String = redis::cmd("PING").query(&mut c).expect("PING");
    assert_eq!(pong, "PONG");
}

/// Runs a command through the `redis` crate and converts its reply; panics (failing the
/// test) with the command in the message when it errors.
pub fn q<T: redis::FromRedisValue>(c: &mut redis::Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(c)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

/// How headless Chromium is run on a report page, by `slotcache-cli chaos` and by the test
/// that checks its page: no GPU or sandbox (a container, root), no first-run work, console
/// messages on stderr (the page must log no error), and a few seconds of virtual time for the
/// page to settle before the DOM or screenshot is taken.
pub const HEADLESS_CHROMIUM_FLAGS: [&str; 8] = [
    "--headless",
    "--disable-gpu",
    "--no-sandbox",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=3000",
];
