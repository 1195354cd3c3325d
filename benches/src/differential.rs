//! `differential`: the same random command sequence against slotcache-server and
//! redis-server side by side, reply by reply, over raw RESP2 (error texts included).
//!
//! `cargo run --release -p slotcache-benches --bin differential -- --seed 1 --commands 1000000`
//!
//! Replies are normalised only where Redis leaves them unspecified (set and hash order; a
//! TTL read a second apart). A difference is printed with its command and the commands
//! before it; the rest of its batch is not compared (it ran on states that already differ),
//! both keyspaces are flushed so the run goes on from equal states, and the run
//! exits non-zero when any difference is not listed in `differential-allowed.txt` beside
//! this crate: one `COMMAND: why` per line, or `COMMAND TOKEN: why` to allow only the
//! differences where either reply contains TOKEN (an error code, say).

mod diffgen;
#[allow(dead_code)] // helpers for the other benchmarks
mod procs;

use anyhow::{Context, Result};
use clap::Parser;
use diffgen::{Cmd, Norm, Rng};
use procs::{Flavor, ServerProc};
use slotcache_proto::reply::{self, Reply};
use std::collections::BTreeMap;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Compare replies of slotcache-server and redis-server on random commands")]
struct Cli {
    /// Seed of the command sequence (the same seed gives the same commands).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Commands to run.
    #[arg(long, default_value_t = 100_000)]
    commands: u64,
    /// Commands per pipelined round trip.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Differences printed in full (all are counted).
    #[arg(long, default_value_t = 20)]
    show: usize,
    #[arg(long)]
    server_bin: Option<PathBuf>,
    #[arg(long, default_value = "redis-server")]
    redis_server: PathBuf,
}

struct Conn {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Conn {
    fn open(port: u16) -> Result<Conn> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        s.set_nodelay(true)?;
        Ok(Conn {
            w: s.try_clone()?,
            r: BufReader::new(s),
        })
    }

    fn send(&mut self, cmds: &[Cmd]) -> Result<Vec<Reply>> {
        let mut buf = Vec::new();
        for c in cmds {
            slotcache_proto::command::encode(&c.args, &mut buf);
        }
        self.w.write_all(&buf)?;
        cmds.iter().map(|_| self.read()).collect()
    }

    fn read(&mut self) -> Result<Reply> {
        reply::read(&mut self.r).map_err(|e| anyhow::anyhow!("reading a reply: {e:?}"))
    }
}

/// The reply as compared: unordered collections sorted, clocks within a unit.
fn normalise(r: &Reply, norm: Norm) -> Reply {
    match (norm, r) {
        (Norm::Unordered, Reply::Array(v)) => {
            let mut v = v.clone();
            v.sort();
            Reply::Array(v)
        }
        (Norm::UnorderedPairs, Reply::Array(v)) => {
            let mut pairs: Vec<Vec<Reply>> = v.chunks(2).map(|c| c.to_vec()).collect();
            pairs.sort();
            Reply::Array(pairs.concat())
        }
        (Norm::Clock, Reply::Integer(n)) if *n > 0 => Reply::Integer(n / 2 * 2),
        _ => r.clone(),
    }
}

fn same(a: &Reply, b: &Reply, norm: Norm) -> bool {
    if norm == Norm::Clock {
        if let (Reply::Integer(x), Reply::Integer(y)) = (a, b) {
            return (x - y).abs() <= 1 && (*x > 0) == (*y > 0);
        }
    }
    normalise(a, norm) == normalise(b, norm)
}

fn allowed() -> BTreeMap<String, String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("differential-allowed.txt");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(c, why)| (c.trim().to_ascii_uppercase(), why.trim().to_string()))
        .collect()
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("differential: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<bool> {
    let bin = cli.server_bin.unwrap_or_else(procs::default_server_bin);
    let ours = ServerProc::start(Flavor::Slotcache, &bin, None)?;
    let redis = ServerProc::start(Flavor::Redis, &cli.redis_server, None)?;
    let (mut a, mut b) = (Conn::open(ours.port)?, Conn::open(redis.port)?);
    let allowed = allowed();
    let mut rng = Rng::new(cli.seed);
    let (mut ran, mut diffs, mut allowed_diffs) = (0u64, 0u64, 0u64);
    let mut by_cmd: BTreeMap<String, u64> = BTreeMap::new();
    let started = Instant::now();
    while ran < cli.commands {
        let mut batch = Vec::new();
        while batch.len() < cli.batch {
            diffgen::next(&mut rng, &mut batch);
        }
        let ra = a.send(&batch).context("slotcache")?;
        let rb = b.send(&batch).context("redis-server")?;
        ran += batch.len() as u64;
        let mut diverged = false;
        for (i, c) in batch.iter().enumerate() {
            if same(&ra[i], &rb[i], c.norm) {
                continue;
            }
            let name = c.args[0].to_ascii_uppercase();
            let texts = [ra[i].render(), rb[i].render()];
            let listed = allowed.keys().find(|k| match k.split_once(' ') {
                None => **k == name,
                Some((cmd, token)) => cmd == name && texts.iter().any(|t| t.contains(token)),
            });
            let name = listed.cloned().unwrap_or(name);
            *by_cmd.entry(name.clone()).or_default() += 1;
            if listed.is_some() {
                allowed_diffs += 1;
            } else {
                diffs += 1;
                if diffs <= cli.show as u64 {
                    println!("difference #{diffs} (seed {}, command {}):", cli.seed, ran);
                    for p in &batch[i.saturating_sub(4)..i] {
                        println!("    before: {}", p.args.join(" "));
                    }
                    println!("    command:   {}", c.args.join(" "));
                    println!("    slotcache: {}", ra[i].render());
                    println!("    redis:     {}", rb[i].render());
                }
            }
            // Later replies of this batch come from states that already differ.
            diverged = true;
            break;
        }
        if diverged {
            // Go on from equal states.
            let flush = [Cmd {
                args: vec!["FLUSHALL".into()],
                norm: Norm::Exact,
            }];
            a.send(&flush)?;
            b.send(&flush)?;
        }
    }
    println!(
        "differential: seed {} — {ran} commands in {:.1}s: {diffs} differences, {allowed_diffs} listed as intended",
        cli.seed,
        started.elapsed().as_secs_f64()
    );
    for (c, n) in &by_cmd {
        let note = allowed
            .get(c)
            .map(|w| format!(" (intended: {w})"))
            .unwrap_or_default();
        println!("    {c}: {n}{note}");
    }
    Ok(diffs == 0)
}
