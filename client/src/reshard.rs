//! Carrying out a slot plan: moves of different (source, destination) pairs run in parallel
//! on a bounded pool of threads, the slots of one pair one after another; a progress line
//! on stderr and a summary at the end.
//!
//! The first failed slot stops every worker after its current slot, so at most one open
//! slot per worker is left behind; the error says to run `cluster fix`.

use crate::plan::Move;
use crate::slotmove::{move_slot, Conns, MoveOpts, Peer};
use anyhow::{bail, Result};
use std::collections::{HashMap, VecDeque};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a reshard did.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub slots: u64,
    pub keys: u64,
    pub secs: f64,
}

impl Summary {
    pub fn print(&self) {
        println!(
            "moved {} slot(s) and {} key(s) in {:.1}s ({:.0} keys/s)",
            self.slots,
            self.keys,
            self.secs,
            self.keys as f64 / self.secs.max(1e-3)
        );
    }
}

/// Counters the workers bump and the progress line reads.
struct Progress {
    start: Instant,
    slots_total: u64,
    /// Estimated up front with COUNTKEYSINSLOT; None when that failed.
    keys_total: Option<u64>,
    slots: AtomicU64,
    keys: AtomicU64,
}

impl Progress {
    fn line(&self) -> String {
        let slots = self.slots.load(Ordering::Relaxed);
        let keys = self.keys.load(Ordering::Relaxed);
        let secs = self.start.elapsed().as_secs_f64();
        // Each slot costs a few round trips besides its keys, so count it as one unit too.
        let (done, total) = match self.keys_total {
            Some(k) => (keys + slots, k.max(keys) + self.slots_total),
            None => (slots, self.slots_total),
        };
        let eta = if done == 0 || secs < 0.5 {
            "?".to_string()
        } else {
            let left = secs * (total.saturating_sub(done)) as f64 / done as f64;
            format_secs(left)
        };
        format!(
            "slots {slots}/{}  keys {keys}{}  {:.0} keys/s  ETA {eta}",
            self.slots_total,
            self.keys_total
                .map(|k| format!("/~{k}"))
                .unwrap_or_default(),
            keys as f64 / secs.max(1e-3),
        )
    }
}

fn format_secs(s: f64) -> String {
    let s = s.round() as u64;
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// Keys in the slots about to move, for the ETA; pipelined so it costs a round trip or so
/// per source.
fn estimate_keys(peers: &HashMap<String, Peer>, moves: &[Move]) -> Option<u64> {
    let mut total = 0;
    for m in moves {
        let mut con = peers.get(&m.src)?.target.connect().ok()?;
        for chunk in m.slots.chunks(1000) {
            let mut p = redis::pipe();
            for s in chunk {
                p.cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(*s);
            }
            let counts: Vec<u64> = p.query(&mut con).ok()?;
            total += counts.iter().sum::<u64>();
        }
    }
    Some(total)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Carries out `moves`. `peers` holds every node the moves name; `primaries` are all the
/// primaries, told about each new owner.
pub fn execute(
    peers: &HashMap<String, Peer>,
    primaries: &[Peer],
    moves: Vec<Move>,
    opts: MoveOpts,
    workers: usize,
) -> Result<Summary> {
    for m in &moves {
        for id in [&m.src, &m.dst] {
            if !peers.contains_key(id) {
                bail!("internal error: node {id} of the plan is unknown");
            }
        }
    }
    let progress = Progress {
        start: Instant::now(),
        slots_total: moves.iter().map(|m| m.slots.len() as u64).sum(),
        keys_total: estimate_keys(peers, &moves),
        slots: AtomicU64::new(0),
        keys: AtomicU64::new(0),
    };
    let threads = workers.clamp(1, moves.len().max(1));
    let queue = Mutex::new(VecDeque::from(moves));
    let failed = AtomicBool::new(false);
    let finished = AtomicBool::new(false);
    let errors: Mutex<Vec<String>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut conns = Conns::new(&opts);
                    while !failed.load(Ordering::Relaxed) {
                        let Some(m) = lock(&queue).pop_front() else {
                            break;
                        };
                        if let Err(e) =
                            move_pair(&mut conns, peers, primaries, &m, &opts, &progress, &failed)
                        {
                            lock(&errors).push(format!("{e:#}"));
                            failed.store(true, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        s.spawn(|| show_progress(&progress, &finished));
        for h in handles {
            if h.join().is_err() {
                lock(&errors).push("a worker thread panicked".to_string());
            }
        }
        finished.store(true, Ordering::Relaxed);
    });
    let summary = Summary {
        slots: progress.slots.load(Ordering::Relaxed),
        keys: progress.keys.load(Ordering::Relaxed),
        secs: progress.start.elapsed().as_secs_f64(),
    };
    let errors = errors.into_inner().unwrap_or_else(|p| p.into_inner());
    if !errors.is_empty() {
        summary.print();
        bail!(
            "slot move failed:\n  {}\nthe slot(s) named above may be left open: run `slotcache-cli cluster fix`",
            errors.join("\n  ")
        );
    }
    Ok(summary)
}

fn move_pair(
    conns: &mut Conns,
    peers: &HashMap<String, Peer>,
    primaries: &[Peer],
    m: &Move,
    opts: &MoveOpts,
    progress: &Progress,
    failed: &AtomicBool,
) -> Result<()> {
    let (Some(src), Some(dst)) = (peers.get(&m.src), peers.get(&m.dst)) else {
        bail!("internal error: unknown node in the plan");
    };
    let others: Vec<Peer> = primaries
        .iter()
        .filter(|p| p.id != src.id && p.id != dst.id)
        .cloned()
        .collect();
    let on_keys = |n: u64| {
        progress.keys.fetch_add(n, Ordering::Relaxed);
    };
    for &slot in &m.slots {
        if failed.load(Ordering::Relaxed) {
            break;
        }
        move_slot(conns, src, dst, &others, slot, opts, &on_keys).map_err(|e| {
            e.context(format!(
                "slot {slot} from {} to {}",
                src.target.addr(),
                dst.target.addr()
            ))
        })?;
        progress.slots.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Rewrites one stderr line 4 times a second on a terminal; elsewhere prints a line every
/// 5 seconds so logs stay short.
fn show_progress(progress: &Progress, finished: &AtomicBool) {
    let tty = std::io::stderr().is_terminal();
    let every = if tty {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(5)
    };
    let mut last = Instant::now();
    while !finished.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        if last.elapsed() < every {
            continue;
        }
        last = Instant::now();
        let mut err = std::io::stderr().lock();
        let _ = if tty {
            write!(err, "\r{}\x1b[K", progress.line())
        } else {
            writeln!(err, "{}", progress.line())
        };
        let _ = err.flush();
    }
    let mut err = std::io::stderr().lock();
    let _ = if tty {
        writeln!(err, "\r{}\x1b[K", progress.line())
    } else {
        writeln!(err, "{}", progress.line())
    };
}
