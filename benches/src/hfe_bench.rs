//! `hfe-bench`: what hash-field expiration (issue 36) costs on slotcache.
//!
//! Memory: one hash of `--fields` fields, and `--fields / 10` hashes of 10 fields, loaded
//! with HSET (no TTL) and with HSETEX ... EX (every field with a TTL): bytes per field from
//! INFO `used_memory`, and the difference a TTL makes (Valkey 9 states 16-29 bytes).
//! Throughput: redis-benchmark sending HSET/HGET against HSETEX/HGETEX on random keys (each
//! side its own keys, so one side never undoes the other's TTLs), alternated A/B over
//! `--rounds` (no Redis 7.0 baseline exists: it lacks the commands).
//!
//! Run: `cargo run --release -p slotcache-benches --bin hfe-bench` (redis-benchmark on PATH;
//! ports from `SLOTCACHE_TEST_PORTS` when set).

#[allow(dead_code)]
mod procs;

use anyhow::{bail, Context, Result};
use clap::Parser;
use procs::{Flavor, ServerProc};
use std::path::PathBuf;
use std::process::Command;

#[derive(Parser)]
struct Cli {
    /// Fields loaded in each memory case.
    #[arg(long, default_value_t = 1_000_000)]
    fields: u64,
    /// Requests per redis-benchmark run.
    #[arg(long, default_value_t = 200_000)]
    requests: u64,
    /// A/B rounds of the throughput comparison.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// redis-benchmark pipeline depth.
    #[arg(long, default_value_t = 16)]
    pipeline: u32,
    #[arg(long)]
    server_bin: Option<PathBuf>,
}

/// How the fields of a memory case are laid out.
#[derive(Clone, Copy)]
enum Shape {
    OneHash,
    SmallHashes,
}

fn used_memory(con: &mut redis::Connection) -> Result<u64> {
    let info: String = redis::cmd("INFO").arg("memory").query(con)?;
    procs::info_field(&info, "used_memory")
        .and_then(|v| v.parse().ok())
        .context("no used_memory in INFO")
}

/// Loads `fields` fields shaped as `shape`, with a TTL on each when `ttl`; the bytes per
/// field the load added and the hash's OBJECT ENCODING.
fn load(server: &ServerProc, fields: u64, shape: Shape, ttl: bool) -> Result<(f64, String)> {
    let mut con = server.client()?;
    let _: () = redis::cmd("FLUSHALL").query(&mut con)?;
    let before = used_memory(&mut con)?;
    let (per_cmd, key_of): (u64, Box<dyn Fn(u64) -> String>) = match shape {
        Shape::OneHash => (1000, Box::new(|_| "big".to_string())),
        Shape::SmallHashes => (10, Box::new(|i| format!("h:{}", i / 10))),
    };
    let mut next = 0;
    while next < fields {
        let mut pipe = redis::pipe();
        for _ in 0..50 {
            if next >= fields {
                break;
            }
            let n = per_cmd.min(fields - next);
            let c = if ttl {
                let c = pipe.cmd("HSETEX").arg(key_of(next));
                c.arg("EX").arg(100_000).arg("FIELDS").arg(n);
                c
            } else {
                pipe.cmd("HSET").arg(key_of(next))
            };
            for i in next..next + n {
                c.arg(format!("field-{i}")).arg(format!("value-{i}"));
            }
            c.ignore();
            next += n;
        }
        pipe.query::<()>(&mut con)?;
    }
    let after = used_memory(&mut con)?;
    let enc: String = redis::cmd("OBJECT")
        .arg("ENCODING")
        .arg(key_of(0))
        .query(&mut con)?;
    Ok((after.saturating_sub(before) as f64 / fields as f64, enc))
}

/// Requests per second of one redis-benchmark run of `cmd`.
fn bench(port: u16, cli: &Cli, cmd: &[&str]) -> Result<f64> {
    let out = Command::new("redis-benchmark")
        .args(["-p", &port.to_string(), "-q", "-r", "100000", "-c", "50"])
        .args([
            "-n",
            &cli.requests.to_string(),
            "-P",
            &cli.pipeline.to_string(),
        ])
        .args(cmd)
        .output()
        .context("running redis-benchmark")?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "HSET key:__rand_int__ f v: 123456.79 requests per second, p50=..."
    let rps = text
        .rsplit('\r')
        .find_map(|l| {
            let (_, rest) = l.split_once(": ")?;
            rest.split_whitespace().next()?.parse::<f64>().ok()
        })
        .with_context(|| format!("no rate in redis-benchmark output: {text}"))?;
    Ok(rps)
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let bin = cli
        .server_bin
        .clone()
        .unwrap_or_else(procs::default_server_bin);
    let server = ServerProc::start(Flavor::Slotcache, &bin, None)?;
    println!(
        "memory per field (INFO used_memory), {} fields:",
        cli.fields
    );
    println!(
        "{:<32} {:>12} {:>12} {:>10}",
        "case", "no TTL", "with TTL", "TTL costs"
    );
    for (label, shape) in [
        ("one hash", Shape::OneHash),
        ("hashes of 10 fields", Shape::SmallHashes),
    ] {
        let (plain, enc_plain) = load(&server, cli.fields, shape, false)?;
        let (ttl, enc_ttl) = load(&server, cli.fields, shape, true)?;
        println!(
            "{:<32} {:>12.1} {:>12.1} {:>10.1}   ({enc_plain} -> {enc_ttl})",
            label,
            plain,
            ttl,
            ttl - plain
        );
    }
    let mut con = server.client()?;
    let _: () = redis::cmd("FLUSHALL").query(&mut con)?;
    let cases: [(&str, Vec<&str>, Vec<&str>); 2] = [
        (
            "set one field",
            vec!["HSET", "key:__rand_int__", "f", "v"],
            vec![
                "HSETEX",
                "key:__rand_int__",
                "EX",
                "1000",
                "FIELDS",
                "1",
                "f",
                "v",
            ],
        ),
        (
            "get one field",
            vec!["HGET", "key:__rand_int__", "f"],
            vec![
                "HGETEX",
                "key:__rand_int__",
                "EX",
                "1000",
                "FIELDS",
                "1",
                "f",
            ],
        ),
    ];
    println!(
        "\nthroughput (requests/s, redis-benchmark -P {} -c 50 -r 100000, best of {} A/B rounds):",
        cli.pipeline, cli.rounds
    );
    for (label, a, b) in cases {
        let (mut best_a, mut best_b) = (0f64, 0f64);
        for _ in 0..cli.rounds {
            best_a = best_a.max(bench(server.port, &cli, &a)?);
            best_b = best_b.max(bench(server.port, &cli, &b)?);
        }
        if best_a == 0.0 {
            bail!("no throughput measured");
        }
        println!(
            "{label:<16} {:<8} {best_a:>12.0}   {:<8} {best_b:>12.0}   ratio {:.2}",
            a[0],
            b[0],
            best_b / best_a
        );
    }
    Ok(())
}
