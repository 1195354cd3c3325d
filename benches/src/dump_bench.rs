//! DUMP and RESTORE throughput on the same mixed keys in slotcache and redis-server (issue
//! #23's measure): both serialise values as Redis's RDB payloads now, so the work compared
//! is the same. Each round loads the keys, DUMPs every one (pipelined), flushes, and
//! RESTOREs the payloads it got; rounds alternate between the servers. The client is one
//! thread and can be the limit on a small machine, so each server's CPU time per key is
//! reported beside the wall-clock rate: on a noisy 2-core machine that is the steadier figure.

use crate::procs::{cpu_seconds, Flavor, ServerProc};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::time::Instant;

pub struct Opts {
    pub keys: u64,
    pub rounds: usize,
    pub batch: usize,
    pub server_core: Option<usize>,
}

/// One server's figures from one round.
#[derive(Clone, Copy, Default)]
pub struct Round {
    pub dump_keys_per_s: f64,
    pub restore_keys_per_s: f64,
    pub dump_cpu_us_per_key: f64,
    pub restore_cpu_us_per_key: f64,
    pub payload_bytes: u64,
}

/// The value of key `i`: strings (integer, short, long and compressible), small and large
/// lists, integer and string sets, hashes and sorted sets, small and large, so every RDB
/// encoding Redis 7.0 writes is in the mix.
fn load_cmd(i: u64) -> redis::Cmd {
    let key = format!("k:{i}");
    let mut c;
    match i % 10 {
        0 => {
            c = redis::cmd("SET");
            c.arg(&key).arg(i);
        }
        1 => {
            c = redis::cmd("SET");
            c.arg(&key)
                .arg(format!("value-{i}-{}", "x".repeat((i % 40) as usize)));
        }
        2 => {
            c = redis::cmd("SET");
            c.arg(&key).arg("abcdefgh".repeat(16));
        }
        3 => {
            c = redis::cmd("RPUSH");
            c.arg(&key);
            for j in 0..8 {
                c.arg(format!("e{j}"));
            }
        }
        4 => {
            c = redis::cmd("RPUSH");
            c.arg(&key);
            for j in 0..200 {
                c.arg(format!("element-{j}"));
            }
        }
        5 => {
            c = redis::cmd("SADD");
            c.arg(&key);
            for j in 0..16 {
                c.arg(j * 7 + i % 5);
            }
        }
        6 => {
            c = redis::cmd("SADD");
            c.arg(&key);
            for j in 0..150 {
                c.arg(format!("m{j}"));
            }
        }
        7 => {
            c = redis::cmd("HSET");
            c.arg(&key);
            for j in 0..10 {
                c.arg(format!("f{j}")).arg(format!("v{j}"));
            }
        }
        8 => {
            c = redis::cmd("ZADD");
            c.arg(&key);
            for j in 0..10 {
                c.arg(j as f64 * 1.5).arg(format!("z{j}"));
            }
        }
        _ => {
            c = redis::cmd("ZADD");
            c.arg(&key);
            for j in 0..200 {
                c.arg(j as f64 / 3.0).arg(format!("member-{j}"));
            }
        }
    }
    c
}

fn load(con: &mut redis::Connection, o: &Opts) -> Result<()> {
    let mut i = 0;
    while i < o.keys {
        let mut p = redis::pipe();
        for j in i..(i + o.batch as u64).min(o.keys) {
            p.add_command(load_cmd(j)).ignore();
        }
        p.query::<()>(con).context("loading keys")?;
        i += o.batch as u64;
    }
    Ok(())
}

fn one_round(flavor: Flavor, bin: &Path, o: &Opts) -> Result<Round> {
    let server = ServerProc::start(flavor, bin, o.server_core)?;
    let mut con = server.client()?;
    load(&mut con, o)?;
    let pid = server.pid();
    let cpu = || cpu_seconds(pid).unwrap_or(0.0);

    let mut payloads: Vec<Vec<u8>> = Vec::with_capacity(o.keys as usize);
    let (t0, c0) = (Instant::now(), cpu());
    let mut i = 0;
    while i < o.keys {
        let mut p = redis::pipe();
        for j in i..(i + o.batch as u64).min(o.keys) {
            p.cmd("DUMP").arg(format!("k:{j}"));
        }
        let got: Vec<Vec<u8>> = p.query(&mut con).context("DUMP")?;
        payloads.extend(got);
        i += o.batch as u64;
    }
    let (dump_s, dump_cpu) = (t0.elapsed().as_secs_f64(), cpu() - c0);
    if payloads.iter().any(|p| p.is_empty()) {
        bail!("{}: a DUMP returned nothing", flavor.label());
    }
    let payload_bytes = payloads.iter().map(|p| p.len() as u64).sum();

    redis::cmd("FLUSHALL").query::<()>(&mut con)?;
    let (t0, c0) = (Instant::now(), cpu());
    for (n, chunk) in payloads.chunks(o.batch).enumerate() {
        let mut p = redis::pipe();
        for (j, payload) in chunk.iter().enumerate() {
            let key = format!("k:{}", n * o.batch + j);
            p.cmd("RESTORE").arg(key).arg(0).arg(payload).ignore();
        }
        p.query::<()>(&mut con).context("RESTORE")?;
    }
    let (restore_s, restore_cpu) = (t0.elapsed().as_secs_f64(), cpu() - c0);
    let restored: u64 = redis::cmd("DBSIZE").query(&mut con)?;
    if restored != o.keys {
        bail!(
            "{}: {restored} keys after RESTORE, not {}",
            flavor.label(),
            o.keys
        );
    }
    let n = o.keys as f64;
    Ok(Round {
        dump_keys_per_s: n / dump_s,
        restore_keys_per_s: n / restore_s,
        dump_cpu_us_per_key: dump_cpu * 1e6 / n,
        restore_cpu_us_per_key: restore_cpu * 1e6 / n,
        payload_bytes,
    })
}

/// A figure's name, how to read it from a round, and whether higher is better.
type Row = (&'static str, fn(&Round) -> f64, bool);

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs the rounds, alternating servers, and prints medians and slotcache / redis ratios.
pub fn run(o: &Opts, slotcache: &Path, redis: &Path) -> Result<()> {
    let mut s = Vec::new();
    let mut r = Vec::new();
    for round in 0..o.rounds {
        eprintln!("dump: round {} of {}", round + 1, o.rounds);
        s.push(one_round(Flavor::Slotcache, slotcache, o)?);
        r.push(one_round(Flavor::Redis, redis, o)?);
    }
    let m = |v: &[Round], f: fn(&Round) -> f64| median(v.iter().map(f).collect());
    println!(
        "\nDUMP / RESTORE of {} mixed keys (median of {} rounds, pipelines of {})",
        o.keys, o.rounds, o.batch
    );
    println!("| figure | slotcache | redis | ratio (higher is better for slotcache) |");
    println!("|---|---|---|---|");
    let rows: [Row; 4] = [
        ("DUMP keys/s", |x| x.dump_keys_per_s, true),
        ("RESTORE keys/s", |x| x.restore_keys_per_s, true),
        ("DUMP server CPU µs/key", |x| x.dump_cpu_us_per_key, false),
        (
            "RESTORE server CPU µs/key",
            |x| x.restore_cpu_us_per_key,
            false,
        ),
    ];
    for (name, f, higher_better) in rows {
        let (a, b) = (m(&s, f), m(&r, f));
        let ratio = if higher_better { a / b } else { b / a };
        println!("| {name} | {a:.2} | {b:.2} | {ratio:.2} |");
    }
    println!(
        "| payload bytes | {} | {} | |",
        s[0].payload_bytes, r[0].payload_bytes
    );
    Ok(())
}
