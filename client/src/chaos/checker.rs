//! The verdict of a chaos run, from what the clients saw (the load), what the cluster said
//! (its events) and what was done to it (the schedule):
//! - acknowledged writes lost, separately for WAIT-confirmed and plain ones;
//! - counter reads going backwards, and below a value a replica had confirmed; each also
//!   told apart when the value read is that of a write whose outcome the writer never
//!   learned (it timed out or lost its connection): such a write may take effect late,
//!   after writes sent since, which is legal (Jepsen's indeterminate operations) and not
//!   a lost write;
//! - two primaries acknowledging writes for one shard at overlapping times;
//! - false failovers: a primary replaced that the fault at the time left reachable;
//! - per fault: detection time (first node_fail about a faulted node), failover time (first
//!   failover away from a touched shard's primary) and repair time (the longest time the
//!   shard's writer went without an acknowledgement during the fault and its recovery);
//! - per shard: availability as clients saw it (the share of 100 ms windows with an
//!   acknowledged write), MTTR p50/p95/max and A = MTBF / (MTBF + MTTR), MTBF being the
//!   run's length over the faults that touched the shard.

use super::load::Seen;
use super::monitor::Event;
use super::schedule::{Fault, Kind};
use cluster_tests::checker::{overlapping_tenures, Anomaly};

/// The availability window.
pub const WINDOW_MS: u64 = 100;

#[derive(Debug, Clone)]
pub struct FaultResult {
    pub fault: Fault,
    pub detection_ms: Option<u64>,
    pub failover_ms: Option<u64>,
    /// Per touched shard: its repair time.
    pub repair_ms: Vec<(usize, u64)>,
    /// Reads (any shard) that went backwards between this fault's start and the next's.
    pub backwards: usize,
}

impl FaultResult {
    /// The fault's time to repair: its worst shard's.
    pub fn mttr_ms(&self) -> u64 {
        self.repair_ms.iter().map(|r| r.1).max().unwrap_or(0)
    }
}

#[derive(Debug, Clone)]
pub struct ShardResult {
    pub writes: u64,
    pub acked: u64,
    pub confirmed: u64,
    pub unconfirmed: u64,
    pub lost_confirmed: Vec<u64>,
    pub lost_plain: u64,
    pub reads: u64,
    pub backwards: u64,
    /// Of those, reads of a write with an unknown outcome that took effect late.
    pub backwards_late: u64,
    /// Reads below a confirmed value not explained by a late write: a violation.
    pub below_confirmed: u64,
    /// Reads below a confirmed value of a write with an unknown outcome that took effect
    /// late (every confirmed write is read back separately at the end).
    pub below_late: u64,
    pub probes: usize,
    pub overlaps: Vec<(usize, usize, u64)>,
    /// When reads went backwards, ms since the start.
    pub backwards_at: Vec<u64>,
    /// Per availability window: whether a write was acknowledged in it.
    pub windows: Vec<bool>,
    pub faults: usize,
    pub mttr_ms: Vec<u64>,
}

impl ShardResult {
    pub fn availability(&self) -> f64 {
        let up = self.windows.iter().filter(|w| **w).count();
        up as f64 / self.windows.len().max(1) as f64
    }

    /// Mean time between failures: the run's length over the faults that touched it.
    pub fn mtbf_ms(&self, run_ms: u64) -> Option<f64> {
        (self.faults > 0).then(|| run_ms as f64 / self.faults as f64)
    }

    pub fn mttr_mean_ms(&self) -> f64 {
        self.mttr_ms.iter().sum::<u64>() as f64 / self.mttr_ms.len().max(1) as f64
    }

    /// A = MTBF / (MTBF + MTTR).
    pub fn a(&self, run_ms: u64) -> Option<f64> {
        let mtbf = self.mtbf_ms(run_ms)?;
        Some(mtbf / (mtbf + self.mttr_mean_ms()))
    }
}

/// The `p`-th percentile (nearest rank) of `v`.
pub fn percentile(v: &[u64], p: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    let mut s = v.to_vec();
    s.sort_unstable();
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

/// A false failover: when, which primary was replaced, and by whom.
#[derive(Debug, Clone)]
pub struct FalseFailover {
    pub at_ms: u64,
    pub old: String,
    pub winner: String,
    pub during: Option<usize>,
}

pub struct Verdict {
    pub run_ms: u64,
    pub faults: Vec<FaultResult>,
    pub shards: Vec<ShardResult>,
    pub failovers: Vec<Event>,
    pub false_failovers: Vec<FalseFailover>,
}

impl Verdict {
    pub fn lost_confirmed(&self) -> usize {
        self.shards.iter().map(|s| s.lost_confirmed.len()).sum()
    }
    pub fn backwards(&self) -> u64 {
        self.shards.iter().map(|s| s.backwards).sum()
    }
    pub fn below_confirmed(&self) -> u64 {
        self.shards.iter().map(|s| s.below_confirmed).sum()
    }
    pub fn backwards_late(&self) -> u64 {
        self.shards.iter().map(|s| s.backwards_late).sum()
    }
    pub fn below_late(&self) -> u64 {
        self.shards.iter().map(|s| s.below_late).sum()
    }
    pub fn overlaps(&self) -> usize {
        self.shards.iter().map(|s| s.overlaps.len()).sum()
    }
    /// Whether every promise held: no confirmed write lost, no read below a confirmed
    /// value, no overlapping primaries, no false failover.
    pub fn passed(&self) -> bool {
        self.lost_confirmed() == 0
            && self.below_confirmed() == 0
            && self.overlaps() == 0
            && self.false_failovers.is_empty()
    }

    /// MTTR values (per fault) of one kind.
    pub fn mttr_of(&self, kind: Kind) -> Vec<u64> {
        self.faults
            .iter()
            .filter(|f| f.fault.kind == kind)
            .map(FaultResult::mttr_ms)
            .collect()
    }

    /// The per-fault-type table both reports show (kinds with no fault are left out).
    pub fn by_kind(&self) -> Vec<KindRow> {
        Kind::ALL
            .into_iter()
            .filter_map(|kind| {
                let m = self.mttr_of(kind);
                if m.is_empty() {
                    return None;
                }
                let of: Vec<_> = self
                    .faults
                    .iter()
                    .filter(|f| f.fault.kind == kind)
                    .collect();
                let fo: Vec<u64> = of.iter().filter_map(|f| f.failover_ms).collect();
                Some(KindRow {
                    kind,
                    count: m.len(),
                    mttr_p50: percentile(&m, 50.0),
                    mttr_p95: percentile(&m, 95.0),
                    mttr_max: m.iter().copied().max().unwrap_or(0),
                    detected: of.iter().filter(|f| f.detection_ms.is_some()).count(),
                    failed_over: fo.len(),
                    failover_p50: (!fo.is_empty()).then(|| percentile(&fo, 50.0)),
                })
            })
            .collect()
    }
}

/// One fault type's figures: MTTR percentiles (ms), how many faults were detected and
/// failed over, and the median failover time.
pub struct KindRow {
    pub kind: Kind,
    pub count: usize,
    pub mttr_p50: u64,
    pub mttr_p95: u64,
    pub mttr_max: u64,
    pub detected: usize,
    pub failed_over: usize,
    pub failover_p50: Option<u64>,
}

/// The longest stretch in [from, to] without an acknowledged write, in ms: the time from
/// the last acknowledgement before a gap to the first after it, for gaps that overlap the
/// span and exceed one window.
fn longest_gap(ok_ms: &[u32], from: u64, to: u64) -> u64 {
    let i = ok_ms.partition_point(|&t| u64::from(t) < from);
    let mut prev = if i > 0 { u64::from(ok_ms[i - 1]) } else { from };
    let mut worst = 0;
    for &t in &ok_ms[i..] {
        let t = u64::from(t);
        if t - prev.min(t) > WINDOW_MS {
            worst = worst.max(t - prev);
        }
        prev = t;
        if t > to {
            break;
        }
    }
    if prev < to && to - prev > WINDOW_MS {
        worst = worst.max(to - prev);
    }
    worst
}

/// `lost`: per shard, (WAIT-confirmed writes missing, plain writes missing) read back at
/// the end; `ids`: node ids by index.
pub fn judge(
    seen: &Seen,
    lost: &[(Vec<u64>, u64)],
    faults: &[Fault],
    events: &[Event],
    ids: &[String],
    run_ms: u64,
) -> Verdict {
    let windows_n = run_ms.div_ceil(WINDOW_MS) as usize;
    let mut fault_results = Vec::new();
    for (k, f) in faults.iter().enumerate() {
        let until = faults.get(k + 1).map_or(run_ms, |n| n.start_ms);
        let in_span = |e: &&Event| e.at_ms >= f.start_ms && e.at_ms < until;
        let targets: Vec<&str> = f.nodes.iter().map(|&i| ids[i].as_str()).collect();
        let detection_ms = events
            .iter()
            .filter(in_span)
            .find(|e| e.kind == "node_fail" && targets.contains(&e.node.as_str()))
            .map(|e| e.at_ms - f.start_ms);
        let olds: Vec<&str> = f
            .shards
            .iter()
            .map(|&s| ids[f.primaries[s]].as_str())
            .collect();
        let failover_ms = events
            .iter()
            .filter(in_span)
            .find(|e| e.kind == "failover" && olds.contains(&e.shard.as_str()))
            .map(|e| e.at_ms - f.start_ms);
        let end = f.ready_ms.unwrap_or(until).max(f.end_ms).min(until);
        let repair_ms = f
            .shards
            .iter()
            .filter_map(|&s| {
                let log = seen.writes.get(s)?;
                Some((s, longest_gap(&log.ok_ms, f.start_ms, end)))
            })
            .collect();
        let backwards = seen
            .reads
            .iter()
            .flat_map(|r| r.backwards_at.iter())
            .filter(|t| (f.start_ms..until).contains(&(t.at.as_millis() as u64)))
            .count();
        fault_results.push(FaultResult {
            fault: f.clone(),
            detection_ms,
            failover_ms,
            repair_ms,
            backwards,
        });
    }
    let failovers: Vec<Event> = events
        .iter()
        .filter(|e| e.kind == "failover")
        .cloned()
        .collect();
    let mut false_failovers = Vec::new();
    for e in &failovers {
        let during = faults.iter().rposition(|f| f.start_ms <= e.at_ms);
        let allowed =
            during.is_some_and(|k| faults[k].may_fail_over.iter().any(|&p| ids[p] == e.shard));
        if !allowed {
            false_failovers.push(FalseFailover {
                at_ms: e.at_ms,
                old: e.shard.clone(),
                winner: e.node.clone(),
                during,
            });
        }
    }
    let mut shards = Vec::new();
    for (s, log) in seen.writes.iter().enumerate() {
        let mut windows = vec![false; windows_n];
        for &t in &log.ok_ms {
            if let Some(w) = windows.get_mut((u64::from(t) / WINDOW_MS) as usize) {
                *w = true;
            }
        }
        let reads = seen.reads.get(s).cloned().unwrap_or_default();
        let probes = seen.probes.get(s).map(Vec::as_slice).unwrap_or(&[]);
        let mttr_ms: Vec<u64> = fault_results
            .iter()
            .filter_map(|r| r.repair_ms.iter().find(|x| x.0 == s).map(|x| x.1))
            .collect();
        let (lost_confirmed, lost_plain) = lost.get(s).cloned().unwrap_or_default();
        let unknown: std::collections::HashSet<u64> = log.indeterminate.iter().copied().collect();
        let late = |a: &[Anomaly]| a.iter().filter(|x| unknown.contains(&x.read)).count() as u64;
        let backwards_late = late(&reads.backwards_at);
        let below_late = late(&reads.below_at);
        shards.push(ShardResult {
            writes: log.attempts,
            acked: log.acked,
            confirmed: log.confirmed.len() as u64,
            unconfirmed: log.unconfirmed.len() as u64,
            lost_confirmed,
            lost_plain,
            reads: reads.reads,
            backwards: reads.backwards,
            backwards_late,
            below_confirmed: reads.below_confirmed - below_late,
            below_late,
            probes: probes.len(),
            overlaps: overlapping_tenures(probes)
                .into_iter()
                .map(|(a, b, at)| (a, b, at.as_millis() as u64))
                .collect(),
            backwards_at: reads
                .backwards_at
                .iter()
                .map(|t| t.at.as_millis() as u64)
                .collect(),
            windows,
            faults: mttr_ms.len(),
            mttr_ms,
        });
    }
    Verdict {
        run_ms,
        faults: fault_results,
        shards,
        failovers,
        false_failovers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cluster_tests::partition_lab::WriterLog;

    fn fault(kind: Kind, node: usize, may: Vec<usize>, start_ms: u64, end_ms: u64) -> Fault {
        Fault {
            kind,
            desc: String::new(),
            nodes: vec![node],
            shards: vec![node % 2],
            primaries: vec![0, 1],
            may_fail_over: may,
            start_ms,
            end_ms,
            ready_ms: Some(end_ms + 500),
        }
    }

    fn event(kind: &str, at_ms: u64, node: &str, shard: &str) -> Event {
        Event {
            at_ms,
            kind: kind.into(),
            node: node.into(),
            shard: shard.into(),
        }
    }

    /// Two shards (primaries "p0", "p1", replicas "r0", "r1") over 10 s; shard 0's writer
    /// is silent from 1.0 s to 2.2 s, when its primary was killed at 1.05 s.
    #[test]
    fn faults_are_timed_and_a_failover_no_fault_allowed_is_false() {
        let ids: Vec<String> = ["p0", "p1", "r0", "r1"].map(String::from).into();
        let writes = (0..2)
            .map(|s| WriterLog {
                shard: s,
                ok_ms: (0..10_000u32)
                    .step_by(10)
                    .filter(|t| s == 1 || !(1000..2200).contains(t))
                    .collect(),
                ..Default::default()
            })
            .collect();
        let seen = Seen {
            writes,
            reads: vec![Default::default(); 2],
            probes: vec![vec![], vec![]],
        };
        let faults = [
            fault(Kind::Kill, 0, vec![0], 1050, 3000),
            fault(Kind::Pause, 1, vec![], 5000, 5200),
        ];
        let events = [
            event("node_fail", 1900, "p0", "p0"),
            event("failover", 2100, "r0", "p0"),
            // Shard 1's primary was paused for 200 ms: nobody may replace it.
            event("failover", 6000, "r1", "p1"),
        ];
        let v = judge(
            &seen,
            &[(vec![], 0), (vec![], 0)],
            &faults,
            &events,
            &ids,
            10_000,
        );
        assert_eq!(v.faults[0].detection_ms, Some(850));
        assert_eq!(v.faults[0].failover_ms, Some(1050));
        assert_eq!(v.faults[0].mttr_ms(), 1210);
        assert_eq!(v.faults[1].mttr_ms(), 0);
        assert_eq!(v.false_failovers.len(), 1);
        assert_eq!(v.false_failovers[0].old, "p1");
        assert!(!v.passed());
        // 12 of shard 0's 100 windows had no write; shard 1 was always available.
        assert!((v.shards[0].availability() - 0.88).abs() < 1e-9);
        assert_eq!(v.shards[1].availability(), 1.0);
        assert_eq!(v.shards[0].faults, 1);
        let a = v.shards[0].a(10_000).expect("A");
        assert!((a - 10_000.0 / (10_000.0 + 1210.0)).abs() < 1e-9);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v = [5, 1, 4, 2, 3];
        assert_eq!(percentile(&v, 50.0), 3);
        assert_eq!(percentile(&v, 95.0), 5);
        assert_eq!(percentile(&[], 50.0), 0);
    }

    #[test]
    fn the_longest_gap_counts_from_the_last_write_before_the_fault() {
        let ok = [0, 10, 20, 30, 1030, 1040, 1050];
        // Fault at 25 ms, over at 2000: the writer was silent from 30 to 1030.
        assert_eq!(longest_gap(&ok, 25, 2000), 1000);
        // Gaps within one window do not count.
        assert_eq!(longest_gap(&ok[..4], 0, 35), 0);
        // Still silent when the span ends.
        assert_eq!(longest_gap(&ok[..4], 25, 500), 470);
    }
}
