//! HyperLogLog accuracy side by side: the same distinct elements PFADDed into both servers,
//! PFCOUNT's relative error per cardinality (mean, RMS, worst over independent trials), and
//! whether the two servers built byte-identical sketches. Redis quotes a standard error of
//! 0.81% (1.04 / sqrt(16384)); the RMS column is the figure to hold against it, and equal
//! sketches show the estimate is Redis's own rather than merely as good.

use crate::procs::ServerProc;
use anyhow::{bail, Context, Result};

/// Which cardinalities, how many trials each, and how elements travel.
pub struct Opts {
    pub cardinalities: Vec<u64>,
    pub trials: u64,
    /// Elements per PFADD.
    pub batch: u64,
    /// PFADDs per round trip.
    pub pipeline: u64,
}

/// Errors one server's estimates made at one cardinality.
#[derive(Debug, Clone, Default)]
pub struct Errors {
    /// Relative error (estimate / truth - 1) per trial.
    pub rel: Vec<f64>,
    /// The same for PFMERGE of trial pairs (disjoint elements: truth is twice the cardinality).
    pub merged_rel: Vec<f64>,
}

impl Errors {
    pub fn mean_abs(&self) -> f64 {
        mean(self.rel.iter().map(|e| e.abs()))
    }
    pub fn rms(&self) -> f64 {
        mean(self.rel.iter().map(|e| e * e)).sqrt()
    }
    pub fn worst(&self) -> f64 {
        self.rel.iter().fold(0.0, |m, e| m.max(e.abs()))
    }
    pub fn merged_rms(&self) -> f64 {
        mean(self.merged_rel.iter().map(|e| e * e)).sqrt()
    }
}

fn mean(it: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = it.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

/// One cardinality's results for both servers.
#[derive(Debug, Clone)]
pub struct Row {
    pub cardinality: u64,
    pub slotcache: Errors,
    pub redis: Errors,
    /// Trials whose sketch bytes (GET after PFCOUNT) were equal on both servers.
    pub identical: u64,
    pub trials: u64,
}

fn key(card: u64, trial: u64) -> String {
    format!("hll:{card}:{trial}")
}

/// Adds elements `t<trial>:<i>` for i in 0..card: distinct within and across trials, so
/// trials are independent samples and a merge of two trials has exactly 2 * card elements.
fn load(con: &mut redis::Connection, o: &Opts, card: u64, trial: u64) -> Result<()> {
    let k = key(card, trial);
    let mut next = 0u64;
    while next < card {
        let mut pipe = redis::pipe();
        for _ in 0..o.pipeline {
            if next >= card {
                break;
            }
            let end = (next + o.batch).min(card);
            let c = pipe.cmd("PFADD").arg(&k);
            for i in next..end {
                c.arg(format!("t{trial}:{i}"));
            }
            c.ignore();
            next = end;
        }
        pipe.query::<()>(con)
            .with_context(|| format!("PFADD into {k}"))?;
    }
    Ok(())
}

fn rel(estimate: u64, truth: u64) -> f64 {
    estimate as f64 / truth as f64 - 1.0
}

/// Loads every trial of every cardinality into both servers and compares.
pub fn run(o: &Opts, slot: &ServerProc, redis: &ServerProc) -> Result<Vec<Row>> {
    if o.trials == 0 || o.batch == 0 || o.pipeline == 0 || o.cardinalities.contains(&0) {
        bail!("--trials, the batch sizes and every cardinality must be positive");
    }
    let mut sc = slot.client()?;
    let mut rc = redis.client()?;
    let mut rows = Vec::new();
    for &card in &o.cardinalities {
        eprintln!("hll: {} trials of {card} distinct elements", o.trials);
        let mut row = Row {
            cardinality: card,
            slotcache: Errors::default(),
            redis: Errors::default(),
            identical: 0,
            trials: o.trials,
        };
        for trial in 0..o.trials {
            let k = key(card, trial);
            let mut sketches = Vec::new();
            for (con, errs) in [(&mut sc, &mut row.slotcache), (&mut rc, &mut row.redis)] {
                load(con, o, card, trial)?;
                let n: u64 = redis::cmd("PFCOUNT").arg(&k).query(con)?;
                errs.rel.push(rel(n, card));
                let bytes: Vec<u8> = redis::cmd("GET").arg(&k).query(con)?;
                sketches.push(bytes);
            }
            if sketches[0] == sketches[1] {
                row.identical += 1;
            }
        }
        for pair in 0..o.trials / 2 {
            let dst = format!("hll:{card}:merged:{pair}");
            for (con, errs) in [(&mut sc, &mut row.slotcache), (&mut rc, &mut row.redis)] {
                redis::cmd("PFMERGE")
                    .arg(&dst)
                    .arg(key(card, 2 * pair))
                    .arg(key(card, 2 * pair + 1))
                    .query::<()>(con)?;
                let n: u64 = redis::cmd("PFCOUNT").arg(&dst).query(con)?;
                errs.merged_rel.push(rel(n, 2 * card));
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

fn pct(x: f64) -> String {
    format!("{:.3}%", 100.0 * x)
}

/// The accuracy table, one line per cardinality and server.
pub fn table(rows: &[Row]) -> String {
    let mut s = format!(
        "{:>11} {:<10} {:>9} {:>9} {:>9} {:>12} {:>10}\n",
        "cardinality", "server", "mean |e|", "rms e", "worst", "merged rms", "same bytes"
    );
    for r in rows {
        for (label, e) in [("slotcache", &r.slotcache), ("redis", &r.redis)] {
            let merged = if e.merged_rel.is_empty() {
                "-".to_string()
            } else {
                pct(e.merged_rms())
            };
            s += &format!(
                "{:>11} {:<10} {:>9} {:>9} {:>9} {:>12} {:>10}\n",
                r.cardinality,
                label,
                pct(e.mean_abs()),
                pct(e.rms()),
                pct(e.worst()),
                merged,
                format!("{}/{}", r.identical, r.trials),
            );
        }
    }
    let all = |f: fn(&Row) -> &Errors| {
        let v: Vec<f64> = rows.iter().flat_map(|r| f(r).rel.iter().copied()).collect();
        mean(v.iter().map(|e| e * e)).sqrt()
    };
    s += &format!(
        "RMS relative error over all trials: slotcache {}, redis {} (Redis's stated standard error 0.81%)\n",
        pct(all(|r| &r.slotcache)),
        pct(all(|r| &r.redis))
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_summaries() {
        let e = Errors {
            rel: vec![0.01, -0.02, 0.0, 0.01],
            merged_rel: vec![],
        };
        assert!((e.mean_abs() - 0.01).abs() < 1e-12);
        assert!((e.rms() - (0.0006f64 / 4.0).sqrt()).abs() < 1e-12);
        assert!((e.worst() - 0.02).abs() < 1e-12);
        assert_eq!(e.merged_rms(), 0.0);
        assert!((rel(1010, 1000) - 0.01).abs() < 1e-12);
    }
}
