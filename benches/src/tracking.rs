//! `tracking-bench`: what client-side caching costs the server, slotcache against
//! redis-server, on this machine.
//!
//! For each server (pinned to one core) and each mode, `--clients` connections (1,000 by
//! default) send GETs on spread keys, one outstanding request each, while one more connection
//! SETs spread keys at a fixed pace (`--writes-per-sec`), so invalidations flow:
//! - `none`: plain RESP2 connections;
//! - `tracking`: every connection says `HELLO 3` and `CLIENT TRACKING on` first, so each GET
//!   records the key for that client and each SET sends invalidation pushes to the readers
//!   of its key. The push messages are read and counted like replies.
//!
//! The score is GETs per second and GETs per second of server CPU (the load generator shares
//! the machine, so the second is the fairer figure when the client is the bottleneck), and the
//! ratio of slotcache to redis-server and to Valkey in each mode. Modes and servers are interleaved over `--rounds`.
//!
//! `cargo run --release -p slotcache-benches --bin tracking-bench -- --clients 1000`

#[allow(dead_code)]
mod procs;

use anyhow::{bail, Context, Result};
use clap::Parser;
use procs::{Flavor, ServerProc};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Parser)]
#[command(
    about = "GET throughput with tracking clients against none, slotcache vs redis-server and Valkey"
)]
struct Cli {
    /// Reading connections.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Distinct keys (preloaded; GETs and SETs pick uniformly among them).
    #[arg(long, default_value_t = 100_000)]
    keys: u64,
    /// Paced SETs per second from the writer connection.
    #[arg(long, default_value_t = 2000)]
    writes_per_sec: u64,
    /// Seconds measured per run (after a 2 s warm-up).
    #[arg(long, default_value_t = 8)]
    seconds: u64,
    /// Interleaved rounds of (server, mode).
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    #[arg(long, default_value_os_t = procs::default_server_bin())]
    slotcache: PathBuf,
    #[arg(long, default_value = "redis-server")]
    redis: PathBuf,
    /// Valkey's server (default: the one `../shared/peers/build.sh` builds).
    #[arg(long)]
    valkey: Option<PathBuf>,
    /// Leave Valkey out.
    #[arg(long)]
    no_valkey: bool,
    /// More slotcache-server arguments, e.g. `--slotcache-arg=--idle-spin-us --slotcache-arg=0`
    /// (spinning before sleeping counts as server CPU when the load generator is the
    /// bottleneck).
    #[arg(long = "slotcache-arg", allow_hyphen_values = true)]
    slotcache_args: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    None,
    Tracking,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::None => "none",
            Mode::Tracking => "tracking",
        }
    }
}

/// What one run measured.
#[derive(Default, Clone, Copy)]
struct Score {
    gets_per_sec: f64,
    gets_per_cpu_sec: f64,
    pushes: u64,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if cli.clients == 0 || cli.clients > 20_000 || cli.keys == 0 || cli.seconds == 0 {
        bail!("--clients must be 1..=20000, --keys and --seconds at least 1");
    }
    raise_nofile(cli.clients as u64 * 2 + 256);
    let pin = procs::detect_pinning();
    let mut servers = vec![
        (Flavor::Slotcache, cli.slotcache.clone()),
        (Flavor::Redis, cli.redis.clone()),
    ];
    if !cli.no_valkey {
        match cli
            .valkey
            .clone()
            .map(Ok)
            .unwrap_or_else(procs::build_valkey)
        {
            Ok(v) => servers.push((Flavor::Valkey, v)),
            Err(e) => eprintln!("warning: Valkey left out: {e:#}"),
        }
    }
    let mut results: Vec<(Flavor, Mode, Score)> = Vec::new();
    for round in 0..cli.rounds {
        for mode in [Mode::None, Mode::Tracking] {
            for (flavor, bin) in &servers {
                let flavor = *flavor;
                let extra = if flavor == Flavor::Slotcache {
                    cli.slotcache_args.clone()
                } else {
                    Vec::new()
                };
                let mut server =
                    ServerProc::start_with(flavor, bin, pin.map(|p| p.server_core), &extra)?;
                preload(&server, cli.keys)?;
                let score = run_load(&cli, &server, mode, pin.map(|p| p.client_core))?;
                server.check_alive()?;
                eprintln!(
                    "round {round} {:9} {:8}: {:>9.0} GET/s  {:>9.0} GET/server-cpu-s  {} pushes",
                    flavor.label(),
                    mode.label(),
                    score.gets_per_sec,
                    score.gets_per_cpu_sec,
                    score.pushes
                );
                results.push((flavor, mode, score));
            }
        }
    }
    println!(
        "\nGET with {} clients ({} keys, {} SET/s), median of {} rounds:",
        cli.clients, cli.keys, cli.writes_per_sec, cli.rounds
    );
    println!(
        "{:9} {:>10} {:>12} {:>12} {:>14} {:>12}",
        "mode", "server", "GET/s", "GET/cpu-s", "ours/it GET/s", "ours/it cpu"
    );
    for mode in [Mode::None, Mode::Tracking] {
        let med = |f: Flavor, pick: fn(&Score) -> f64| {
            let mut v: Vec<f64> = results
                .iter()
                .filter(|(fl, m, _)| *fl == f && *m == mode)
                .map(|(_, _, s)| pick(s))
                .collect();
            v.sort_by(|a, b| a.total_cmp(b));
            v.get(v.len() / 2).copied().unwrap_or(0.0)
        };
        let ours = (
            med(Flavor::Slotcache, |s| s.gets_per_sec),
            med(Flavor::Slotcache, |s| s.gets_per_cpu_sec),
        );
        for (flavor, _) in &servers {
            let (r, c) = (
                med(*flavor, |s| s.gets_per_sec),
                med(*flavor, |s| s.gets_per_cpu_sec),
            );
            println!(
                "{:9} {:>10} {:>12.0} {:>12.0} {:>14.2} {:>12.2}",
                mode.label(),
                flavor.label(),
                r,
                c,
                ours.0 / r.max(1.0),
                ours.1 / c.max(1.0)
            );
        }
    }
    Ok(())
}

/// 1,000 connections need as many descriptors, in this process and in the server (which
/// inherits the limit).
fn raise_nofile(want: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// `key:0 .. key:N-1`, 16-byte values, in pipelined batches.
fn preload(server: &ServerProc, keys: u64) -> Result<()> {
    let mut con = server.client()?;
    let mut start = 0;
    while start < keys {
        let end = (start + 1000).min(keys);
        let mut p = redis::pipe();
        for k in start..end {
            p.cmd("SET")
                .arg(format!("key:{k}"))
                .arg("vvvvvvvvvvvvvvvv")
                .ignore();
        }
        p.query::<()>(&mut con).context("preloading keys")?;
        start = end;
    }
    Ok(())
}

fn run_load(cli: &Cli, server: &ServerProc, mode: Mode, core: Option<usize>) -> Result<Score> {
    if let Some(c) = core {
        // SAFETY: sched_setaffinity on this thread with a set we built; failure only means
        // the load generator is not pinned.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(c, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(load(cli, server, mode))
}

async fn load(cli: &Cli, server: &ServerProc, mode: Mode) -> Result<Score> {
    let port = server.port;
    let gets = Arc::new(AtomicU64::new(0));
    let pushes = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut conns = Vec::with_capacity(cli.clients);
    for _ in 0..cli.clients {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
        s.set_nodelay(true)?;
        if mode == Mode::Tracking {
            s.write_all(b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n*3\r\n$6\r\nCLIENT\r\n$8\r\nTRACKING\r\n$2\r\non\r\n")
                .await?;
            let mut r = Reader::default();
            r.frames(&mut s, 2).await.context("HELLO 3 + TRACKING")?;
            if !r.last_ok {
                bail!("CLIENT TRACKING on was refused");
            }
        }
        conns.push(s);
    }
    let mut tasks = Vec::new();
    for (i, mut s) in conns.into_iter().enumerate() {
        let (gets, pushes, stop, keys) = (gets.clone(), pushes.clone(), stop.clone(), cli.keys);
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1));
            let mut r = Reader::default();
            let mut req = Vec::with_capacity(64);
            while !stop.load(Ordering::Relaxed) {
                let key = format!("key:{}", rng.below(keys));
                req.clear();
                req.extend_from_slice(format!("*2\r\n$3\r\nGET\r\n${}\r\n", key.len()).as_bytes());
                req.extend_from_slice(key.as_bytes());
                req.extend_from_slice(b"\r\n");
                s.write_all(&req).await?;
                r.frames(&mut s, 1).await?;
                gets.fetch_add(1, Ordering::Relaxed);
                pushes.fetch_add(std::mem::take(&mut r.pushes), Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    let writer = {
        let (stop, keys, rate) = (stop.clone(), cli.keys, cli.writes_per_sec.max(1));
        let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
        s.set_nodelay(true)?;
        tokio::spawn(async move {
            let mut rng = Rng(42);
            let mut r = Reader::default();
            // Batches every 10 ms keep the pace without a timer per write.
            let per_tick = (rate / 100).max(1);
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let mut req = Vec::new();
                for _ in 0..per_tick {
                    let key = format!("key:{}", rng.below(keys));
                    req.extend_from_slice(
                        format!(
                            "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$16\r\nwwwwwwwwwwwwwwww\r\n",
                            key.len()
                        )
                        .as_bytes(),
                    );
                }
                s.write_all(&req).await?;
                r.frames(&mut s, per_tick as usize).await?;
            }
            anyhow::Ok(())
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (g0, p0, c0, t0) = (
        gets.load(Ordering::Relaxed),
        pushes.load(Ordering::Relaxed),
        procs::cpu_seconds(server.pid()).unwrap_or(0.0),
        Instant::now(),
    );
    tokio::time::sleep(Duration::from_secs(cli.seconds)).await;
    let (g1, p1, c1, el) = (
        gets.load(Ordering::Relaxed),
        pushes.load(Ordering::Relaxed),
        procs::cpu_seconds(server.pid()).unwrap_or(0.0),
        t0.elapsed().as_secs_f64(),
    );
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(10), t)
            .await
            .context("a reader did not stop")???;
    }
    tokio::time::timeout(Duration::from_secs(10), writer)
        .await
        .context("the writer did not stop")???;
    let g = (g1 - g0) as f64;
    Ok(Score {
        gets_per_sec: g / el,
        gets_per_cpu_sec: g / (c1 - c0).max(0.01),
        pushes: p1 - p0,
    })
}

/// A small xorshift generator: the load must not depend on a crate's RNG speed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Reads whole RESP2/RESP3 frames off a connection: replies are counted toward what the
/// caller waits for, push frames (`>`) are counted apart and skipped.
#[derive(Default)]
struct Reader {
    buf: Vec<u8>,
    pushes: u64,
    last_ok: bool,
}

impl Reader {
    async fn frames(&mut self, s: &mut TcpStream, mut want: usize) -> Result<()> {
        loop {
            while let Some((len, push)) = frame_len(&self.buf, 0)? {
                if push {
                    self.pushes += 1;
                } else {
                    self.last_ok = self.buf.first() != Some(&b'-');
                    want -= 1;
                }
                self.buf.drain(..len);
                if want == 0 {
                    return Ok(());
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = tokio::time::timeout(Duration::from_secs(30), s.read(&mut chunk))
                .await
                .context("no reply in 30 s")??;
            if n == 0 {
                bail!("server closed the connection");
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// The length of the complete frame at `at`, and whether it is a push; `None` when more
/// bytes are needed.
fn frame_len(b: &[u8], at: usize) -> Result<Option<(usize, bool)>> {
    let Some(&kind) = b.get(at) else {
        return Ok(None);
    };
    let Some(nl) = b[at..].windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let line_end = at + nl + 2;
    let num = || -> Result<i64> {
        std::str::from_utf8(&b[at + 1..at + nl])?
            .parse::<i64>()
            .context("bad length")
    };
    match kind {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Ok(Some((line_end - at, false))),
        b'$' | b'=' | b'!' => {
            let n = num()?;
            if n < 0 {
                return Ok(Some((line_end - at, false)));
            }
            let end = line_end + n as usize + 2;
            Ok((b.len() >= end).then_some((end - at, false)))
        }
        b'*' | b'>' | b'~' | b'%' | b'|' => {
            let n = num()?;
            let items = if kind == b'%' || kind == b'|' {
                n * 2
            } else {
                n
            };
            let mut pos = line_end;
            for _ in 0..items.max(0) {
                match frame_len(b, pos)? {
                    Some((len, _)) => pos += len,
                    None => return Ok(None),
                }
            }
            Ok(Some((pos - at, kind == b'>')))
        }
        other => bail!("unexpected RESP type byte {other:#x}"),
    }
}
