//! The latency monitor (LATENCY LATEST / HISTORY / RESET / GRAPH / DOCTOR): for each event
//! class ("command", "fast-command", "expire-cycle", ...), the latest 160 per-second samples
//! of operations that took at least `latency-monitor-threshold` ms, and the all-time high.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;

/// Samples kept per event (Redis's LATENCY_TS_LEN).
pub const HISTORY_LEN: usize = 160;
const GRAPH_COLS: usize = 80;
const GRAPH_ROWS: usize = 4;

#[derive(Default)]
pub struct Series {
    /// (unix seconds, ms), oldest first; one per second at most (the worst of that second).
    pub samples: VecDeque<(u64, u64)>,
    pub max: u64,
}

#[derive(Default)]
pub struct LatencyMonitor {
    events: BTreeMap<String, Series>,
}

impl LatencyMonitor {
    /// Records `ms` for `event` at `now_secs`.
    pub fn add(&mut self, event: &str, ms: u64, now_secs: u64) {
        let s = self.events.entry(event.to_string()).or_default();
        s.max = s.max.max(ms);
        match s.samples.back_mut() {
            Some(last) if last.0 == now_secs => last.1 = last.1.max(ms),
            _ => {
                s.samples.push_back((now_secs, ms));
                if s.samples.len() > HISTORY_LEN {
                    s.samples.pop_front();
                }
            }
        }
    }

    pub fn events(&self) -> impl Iterator<Item = (&String, &Series)> {
        self.events.iter()
    }

    pub fn series(&self, event: &[u8]) -> Option<&Series> {
        std::str::from_utf8(event)
            .ok()
            .and_then(|e| self.events.get(e))
    }

    /// Forgets the named events (all of them when `names` is empty); returns how many were
    /// forgotten.
    pub fn reset(&mut self, names: &[&[u8]]) -> usize {
        if names.is_empty() {
            let n = self.events.len();
            self.events.clear();
            return n;
        }
        names
            .iter()
            .filter(|n| {
                std::str::from_utf8(n)
                    .ok()
                    .and_then(|e| self.events.remove(e))
                    .is_some()
            })
            .count()
    }

    /// LATENCY GRAPH: a sparkline of the event's samples, labelled with their age.
    pub fn graph(&self, event: &str, series: &Series, now_secs: u64) -> String {
        let values: Vec<u64> = series.samples.iter().map(|s| s.1).collect();
        let min = values.iter().copied().min().unwrap_or(0);
        let max = values.iter().copied().max().unwrap_or(0);
        let labels: Vec<String> = series
            .samples
            .iter()
            .map(|(t, _)| age_label(now_secs.saturating_sub(*t)))
            .collect();
        let mut g = format!(
            "{event} - high {max} ms, low {min} ms (all time high {} ms)\n",
            series.max
        );
        g.push_str(&"-".repeat(GRAPH_COLS));
        g.push('\n');
        let mut start = 0;
        while start < values.len() {
            let end = (start + GRAPH_COLS).min(values.len());
            if start != 0 {
                g.push('\n');
            }
            sparkline(&mut g, &values, &labels, min, max, start, end);
            start = end;
        }
        g
    }

    /// LATENCY DOCTOR: a human-readable analysis of the recorded events.
    pub fn doctor(&self) -> String {
        if self.events.is_empty() {
            return "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n".to_string();
        }
        let mut r = String::from(
            "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n",
        );
        let mut commands = false;
        let mut expires = false;
        let mut evictions = false;
        for (i, (name, s)) in self.events.iter().enumerate() {
            let n = s.samples.len() as f64;
            let avg = s.samples.iter().map(|x| x.1 as f64).sum::<f64>() / n.max(1.0);
            let mad = s
                .samples
                .iter()
                .map(|x| (x.1 as f64 - avg).abs())
                .sum::<f64>()
                / n.max(1.0);
            let period = match (s.samples.front(), s.samples.back()) {
                (Some(a), Some(b)) if s.samples.len() > 1 => {
                    (b.0 - a.0) as f64 / (s.samples.len() - 1) as f64
                }
                _ => 1.0,
            };
            let _ = writeln!(
                r,
                "{}. {name}: {} latency spikes (average {:.0}ms, mean deviation {:.0}ms, period {period:.2} sec). Worst all time event {}ms.",
                i + 1,
                s.samples.len(),
                avg,
                mad,
                s.max
            );
            commands |= name == "command" || name == "fast-command";
            expires |= name.starts_with("expire");
            evictions |= name.starts_with("eviction");
        }
        r.push_str("\nI have a few advices for you:\n\n");
        if commands {
            r.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
        }
        if commands || expires || evictions {
            r.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
        }
        if evictions {
            r.push_str("- Evictions take longer when much memory must be freed at once: consider a lower maxmemory-eviction-tenacity, or more headroom between the dataset and maxmemory.\n");
        }
        r
    }
}

fn age_label(elapsed: u64) -> String {
    match elapsed {
        e if e < 60 => format!("{e}s"),
        e if e < 3600 => format!("{}m", e / 60),
        e if e < 86400 => format!("{}h", e / 3600),
        e => format!("{}d", e / 86400),
    }
}

/// Redis's sparkline renderer (sparkline.c, filled style): `GRAPH_ROWS` rows of `_o#|`,
/// a blank line, then each column's label written downwards.
fn sparkline(
    out: &mut String,
    values: &[u64],
    labels: &[String],
    min: u64,
    max: u64,
    start: usize,
    end: usize,
) {
    const FILL: &[u8] = b"_o#";
    let steps = (FILL.len() * GRAPH_ROWS) as i64;
    let relmax = if max == min { 1.0 } else { (max - min) as f64 };
    let len = end - start;
    let mut row = 0;
    loop {
        let mut chars = vec![b' '; len];
        let mut more = false;
        for j in 0..len {
            let v = values[start + j];
            if row < GRAPH_ROWS {
                let step = (((v - min) as f64 * steps as f64) / relmax) as i64;
                let step = step.clamp(0, steps - 1);
                let charidx = step - ((GRAPH_ROWS - row - 1) * FILL.len()) as i64;
                more = true;
                if (0..FILL.len() as i64).contains(&charidx) {
                    chars[j] = FILL[charidx as usize];
                } else if charidx >= FILL.len() as i64 {
                    chars[j] = b'|';
                }
            } else {
                if row - GRAPH_ROWS < 1 {
                    more = true;
                    break;
                }
                let label = labels[start + j].as_bytes();
                let at = row - GRAPH_ROWS - 1;
                if label.len() > at {
                    more = true;
                    chars[j] = label[at];
                }
            }
        }
        if !more {
            break;
        }
        row += 1;
        out.push_str(&String::from_utf8_lossy(&chars));
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_per_second_keep_the_worst() {
        let mut m = LatencyMonitor::default();
        m.add("command", 20, 100);
        m.add("command", 30, 100);
        m.add("command", 10, 101);
        let s = m.series(b"command").unwrap();
        assert_eq!(
            s.samples.iter().copied().collect::<Vec<_>>(),
            vec![(100, 30), (101, 10)]
        );
        assert_eq!(s.max, 30);
        for t in 0..500 {
            m.add("x", 1, 1000 + t);
        }
        assert_eq!(m.series(b"x").unwrap().samples.len(), HISTORY_LEN);
        assert_eq!(m.reset(&[b"nope"]), 0);
        assert_eq!(m.reset(&[]), 2);
    }

    #[test]
    fn graph_has_redis_shape() {
        let mut m = LatencyMonitor::default();
        m.add("command", 30, 100);
        let s = m.series(b"command").unwrap();
        let g = m.graph("command", s, 100);
        assert_eq!(
            g,
            format!(
                "command - high 30 ms, low 30 ms (all time high 30 ms)\n{}\n \n \n \n_\n \n0\ns\n",
                "-".repeat(80)
            )
        );
    }
}
