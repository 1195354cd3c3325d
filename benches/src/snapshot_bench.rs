//! `snapshot-bench`: snapshots side by side with redis-server on the same mixed keys: SAVE
//! time, load time (DEBUG RELOAD NOSAVE: empty, then load the file), file size; then, under a
//! write load, the writers' p99 latency without and during a BGSAVE (slotcache's
//! copy-before-write thread against Redis's fork) and the peak memory (PSS of the server and
//! any child it forked, so pages a fork shares are counted once).
//!
//! `cargo run --release -p slotcache-benches --bin snapshot-bench -- --keys 1000000`

#[allow(dead_code)]
mod procs;

use anyhow::{bail, Result};
use clap::Parser;
use procs::{Flavor, ServerProc};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "SAVE / load / BGSAVE of slotcache-server and redis-server, side by side")]
struct Opts {
    /// Keys loaded (60% strings, 10% each of 5-element hashes, lists, sets, sorted sets).
    #[arg(long, default_value_t = 1_000_000)]
    keys: u64,
    /// Writer connections during the latency phases.
    #[arg(long, default_value_t = 4)]
    writers: usize,
    /// Seconds of the baseline latency phase.
    #[arg(long, default_value_t = 3)]
    baseline_secs: u64,
    /// Rounds, each on fresh servers, the order alternating; figures are medians, and the
    /// ratio's range over the rounds is shown (a shared machine's noise shows there).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Port for redis-server; slotcache takes the next one.
    #[arg(long, default_value_t = 20960)]
    port: u16,
    #[arg(long)]
    server_bin: Option<PathBuf>,
    #[arg(long, default_value = "redis-server")]
    redis_server: PathBuf,
}

struct Figures {
    save_s: f64,
    load_s: f64,
    file_bytes: u64,
    bgsave_s: f64,
    p99_idle_us: f64,
    p99_bgsave_us: f64,
    peak_pss: u64,
    base_pss: u64,
}

fn fill(c: &mut redis::Connection, keys: u64) -> Result<()> {
    let value = "v".repeat(40);
    let mut p = redis::pipe();
    for i in 0..keys {
        match i % 10 {
            0..=5 => {
                p.cmd("SET").arg(format!("s:{i}")).arg(&value).ignore();
            }
            6 => {
                p.cmd("HSET").arg(format!("h:{i}"));
                for f in 0..5 {
                    p.arg(format!("field{f}")).arg(format!("value{i}"));
                }
                p.ignore();
            }
            7 => {
                p.cmd("RPUSH").arg(format!("l:{i}"));
                for f in 0..5 {
                    p.arg(format!("item{f}-{i}"));
                }
                p.ignore();
            }
            8 => {
                p.cmd("SADD").arg(format!("t:{i}"));
                for f in 0..5 {
                    p.arg(format!("member{f}"));
                }
                p.ignore();
            }
            _ => {
                p.cmd("ZADD").arg(format!("z:{i}"));
                for f in 0..5 {
                    p.arg(f).arg(format!("m{f}"));
                }
                p.ignore();
            }
        }
        if i % 1000 == 999 {
            p.query::<()>(c)?;
            p = redis::pipe();
        }
    }
    p.query::<()>(c)?;
    Ok(())
}

/// PSS in bytes of `pid` and its children (a forked BGSAVE child).
fn pss_tree(pid: u32) -> u64 {
    let pss = |p: &str| -> u64 {
        std::fs::read_to_string(format!("/proc/{p}/smaps_rollup"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Pss:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            })
            .unwrap_or(0)
            * 1024
    };
    let mut total = pss(&pid.to_string());
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(ch) = std::fs::read_to_string(t.path().join("children")) {
                for c in ch.split_whitespace() {
                    total += pss(c);
                }
            }
        }
    }
    total
}

fn p99(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[(v.len() * 99 / 100).min(v.len() - 1)]
}

fn info(c: &mut redis::Connection, field: &str) -> String {
    let text: String = redis::cmd("INFO")
        .arg("persistence")
        .query(c)
        .unwrap_or_default();
    procs::info_field(&text, field).unwrap_or_default()
}

fn measure(s: &ServerProc, o: &Opts) -> Result<Figures> {
    let mut c = s.client()?;
    let t = Instant::now();
    fill(&mut c, o.keys)?;
    eprintln!(
        "{}: loaded {} keys in {:.1} s",
        s.flavor.label(),
        o.keys,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    redis::cmd("SAVE").query::<()>(&mut c)?;
    let save_s = t.elapsed().as_secs_f64();
    let dir: Vec<String> = redis::cmd("CONFIG").arg("GET").arg("dir").query(&mut c)?;
    let file_bytes = std::fs::metadata(PathBuf::from(&dir[1]).join("dump.rdb"))?.len();
    let t = Instant::now();
    redis::cmd("DEBUG")
        .arg("RELOAD")
        .arg("NOSAVE")
        .query::<()>(&mut c)?;
    let load_s = t.elapsed().as_secs_f64();
    let size: u64 = redis::cmd("DBSIZE").query(&mut c)?;
    if size != o.keys {
        bail!("{}: {size} keys after the reload", s.flavor.label());
    }
    // Writers: SET on existing string keys, one at a time, each latency with its time.
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for w in 0..o.writers {
        let stop = stop.clone();
        let mut wc = s.client()?;
        let keys = o.keys;
        handles.push(std::thread::spawn(move || {
            let mut lat = Vec::new();
            let mut x = 0x9e3779b97f4a7c15u64 ^ w as u64;
            while !stop.load(Ordering::Relaxed) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let k = (x % keys) / 10 * 10; // a string key (i % 10 == 0)
                let t = Instant::now();
                if redis::cmd("SET")
                    .arg(format!("s:{k}"))
                    .arg("w".repeat(40))
                    .query::<()>(&mut wc)
                    .is_err()
                {
                    break;
                }
                lat.push((t, t.elapsed().as_secs_f64() * 1e6));
            }
            lat
        }));
    }
    let idle_from = Instant::now();
    let mut base_pss = 0;
    while idle_from.elapsed() < Duration::from_secs(o.baseline_secs) {
        base_pss = base_pss.max(pss_tree(s.pid()));
        std::thread::sleep(Duration::from_millis(10));
    }
    let idle_to = Instant::now();
    let bg_from = Instant::now();
    let _: String = redis::cmd("BGSAVE").query(&mut c)?;
    let mut peak_pss = 0;
    loop {
        peak_pss = peak_pss.max(pss_tree(s.pid()));
        if info(&mut c, "rdb_bgsave_in_progress") == "0" {
            break;
        }
        if bg_from.elapsed() > Duration::from_secs(600) {
            bail!("BGSAVE did not end within 600 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let bg_to = Instant::now();
    let bgsave_s = (bg_to - bg_from).as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let all: Vec<(Instant, f64)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap_or_default())
        .collect();
    if info(&mut c, "rdb_last_bgsave_status") != "ok" {
        bail!("{}: BGSAVE failed", s.flavor.label());
    }
    let within = |a: Instant, b: Instant| -> Vec<f64> {
        all.iter()
            .filter(|(t, _)| *t >= a && *t <= b)
            .map(|(_, l)| *l)
            .collect()
    };
    Ok(Figures {
        save_s,
        load_s,
        file_bytes,
        bgsave_s,
        p99_idle_us: p99(within(idle_from, idle_to)),
        p99_bgsave_us: p99(within(bg_from, bg_to)),
        peak_pss,
        base_pss,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn main() -> Result<()> {
    let o = Opts::parse();
    let bin = o
        .server_bin
        .clone()
        .unwrap_or_else(procs::default_server_bin);
    let parent = std::env::temp_dir();
    let extra = vec!["--enable-debug-command".to_string(), "yes".to_string()];
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..o.rounds.max(1) {
        let run = |flavor: Flavor| -> Result<Figures> {
            let (bin, port) = match flavor {
                Flavor::Redis => (&o.redis_server, o.port),
                _ => (&bin, o.port + 1),
            };
            let p = ServerProc::start_on(flavor, bin, port, &parent, &extra)?;
            measure(&p, &o)
        };
        if round % 2 == 0 {
            theirs.push(run(Flavor::Redis)?);
            ours.push(run(Flavor::Slotcache)?);
        } else {
            ours.push(run(Flavor::Slotcache)?);
            theirs.push(run(Flavor::Redis)?);
        }
    }
    println!(
        "\nSnapshots of {} mixed keys, {} writers, {} rounds: medians (ratio: slotcache / redis, \
         lower is better; range: the ratio per round)",
        o.keys,
        o.writers,
        ours.len()
    );
    println!("| figure | slotcache | redis | ratio | range |");
    println!("|---|---|---|---|---|");
    let row = |name: &str, f: &dyn Fn(&Figures) -> f64| {
        let (a, b) = (
            median(ours.iter().map(f).collect()),
            median(theirs.iter().map(f).collect()),
        );
        let per: Vec<f64> = ours.iter().zip(&theirs).map(|(x, y)| f(x) / f(y)).collect();
        let lo = per.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = per.iter().copied().fold(0.0, f64::max);
        println!(
            "| {name} | {a:.3} | {b:.3} | {:.2} | {lo:.2}-{hi:.2} |",
            a / b
        );
    };
    row("SAVE s", &|f| f.save_s);
    row("load s (DEBUG RELOAD NOSAVE)", &|f| f.load_s);
    row("file MB", &|f| f.file_bytes as f64 / 1e6);
    row("BGSAVE s", &|f| f.bgsave_s);
    row("writers' p99 µs, no save", &|f| f.p99_idle_us);
    row("writers' p99 µs, during BGSAVE", &|f| f.p99_bgsave_us);
    row("p99 during BGSAVE / p99 without", &|f| {
        f.p99_bgsave_us / f.p99_idle_us
    });
    row("PSS MB before BGSAVE", &|f| f.base_pss as f64 / 1e6);
    row("peak PSS MB during BGSAVE", &|f| f.peak_pss as f64 / 1e6);
    Ok(())
}
