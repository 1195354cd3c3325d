//! The checks of a run under faults, as Jepsen's checkers make them (issue #19's nemesis,
//! shared with `slotcache-cli chaos`): a reader per shard that notices reads going
//! backwards, and a prober per shard that notices two nodes acknowledging writes for one
//! shard at overlapping times. The writers and their lost-write check are
//! [`crate::partition_lab::Writers`].

use crate::partition_lab::{connect, counter_key, find_owner};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Read anomalies kept with their times, at most.
const KEEP_TIMES: usize = 1000;

/// Per shard, what the reader saw.
#[derive(Default, Clone, Debug)]
pub struct ReadStats {
    pub reads: u64,
    /// Reads of a counter below a value read before.
    pub backwards: u64,
    /// Reads of a counter below the last value a replica had confirmed (`WAIT 1`) when the
    /// read was sent: a confirmed write that is gone.
    pub below_confirmed: u64,
    /// The reads that went backwards (the first [`KEEP_TIMES`]).
    pub backwards_at: Vec<Anomaly>,
    /// The reads that went below a confirmed value (the first [`KEEP_TIMES`]).
    pub below_at: Vec<Anomaly>,
}

/// One anomalous read: when (since `t0`), the value read, and the value it should not have
/// been below (the highest read before, or the confirmed one).
#[derive(Clone, Copy, Debug)]
pub struct Anomaly {
    pub at: Duration,
    pub read: u64,
    pub floor: u64,
}

/// One answered probe: which node, whether it acknowledged, when sent and answered (since
/// the start).
#[derive(Clone, Copy, Debug)]
pub struct Ack {
    pub node: usize,
    pub ok: bool,
    pub sent: Duration,
    pub got: Duration,
}

/// Reads the shard's counter from its current primary every 10 ms until `stop`, following
/// MOVED, and counts reads that go backwards or below the confirmed value (timed from
/// `t0`).
pub fn read_loop(
    addrs: &[String],
    tag: &str,
    slot: u16,
    confirmed: &AtomicU64,
    stats: &Mutex<ReadStats>,
    stop: &AtomicBool,
    t0: Instant,
) {
    let key = counter_key(tag);
    let mut owner = find_owner(addrs, slot);
    let mut con = None;
    let mut last = 0u64;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(10));
        if con.is_none() {
            con = owner
                .as_deref()
                .and_then(|a| connect(a, Duration::from_millis(300)));
            if con.is_none() {
                owner = find_owner(addrs, slot);
                continue;
            }
        }
        let Some(c) = con.as_mut() else { continue };
        let floor = confirmed.load(Ordering::Relaxed);
        match redis::cmd("GET").arg(&key).query::<Option<u64>>(c) {
            Ok(v) => {
                let v = v.unwrap_or(0);
                let Ok(mut s) = stats.lock() else { return };
                s.reads += 1;
                if v < last {
                    s.backwards += 1;
                    if s.backwards_at.len() < KEEP_TIMES {
                        let at = t0.elapsed();
                        s.backwards_at.push(Anomaly {
                            at,
                            read: v,
                            floor: last,
                        });
                    }
                }
                if v < floor {
                    s.below_confirmed += 1;
                    if s.below_at.len() < KEEP_TIMES {
                        let at = t0.elapsed();
                        s.below_at.push(Anomaly { at, read: v, floor });
                    }
                }
                last = last.max(v);
            }
            Err(e) => {
                con = None;
                owner = match e.redirect_node() {
                    Some((addr, _)) if e.kind() == redis::ErrorKind::Moved => Some(addr.into()),
                    _ => find_owner(addrs, slot),
                };
            }
        }
    }
}

/// Writes to every node in turn, never following redirects: a node that acknowledges is
/// acting as the shard's primary at that moment.
pub fn probe_loop(
    addrs: &[String],
    tag: &str,
    t0: Instant,
    acks: &Mutex<Vec<Ack>>,
    stop: &AtomicBool,
) {
    let mut cons: Vec<Option<redis::Connection>> = addrs.iter().map(|_| None).collect();
    let key = format!("probe{{{tag}}}");
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        for (i, addr) in addrs.iter().enumerate() {
            if cons[i].is_none() {
                cons[i] = connect(addr, Duration::from_millis(200));
            }
            let Some(c) = cons[i].as_mut() else { continue };
            n += 1;
            let sent = t0.elapsed();
            let r = redis::cmd("SET").arg(&key).arg(n).query::<String>(c);
            let got = t0.elapsed();
            let ok = r.is_ok();
            if let Err(e) = &r {
                if e.is_io_error() || e.is_timeout() {
                    cons[i] = None;
                    continue;
                }
            }
            if let Ok(mut a) = acks.lock() {
                a.push(Ack {
                    node: i,
                    ok,
                    sent,
                    got,
                });
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A tenure is a node's run of consecutive acknowledged probes (ended by a refusal); it
/// spans from its first acknowledgement to the sending of its last. Two tenures of
/// different nodes that intersect mean two primaries acknowledged writes for the shard at
/// overlapping times. Returns (node, node, when the overlap began).
pub fn overlapping_tenures(acks: &[Ack]) -> Vec<(usize, usize, Duration)> {
    let nodes = acks.iter().map(|a| a.node + 1).max().unwrap_or(0);
    let mut tenures: Vec<(usize, Duration, Duration)> = Vec::new();
    for node in 0..nodes {
        let mut open: Option<(Duration, Duration)> = None;
        for a in acks.iter().filter(|a| a.node == node) {
            match (a.ok, open) {
                (true, None) => open = Some((a.got, a.sent)),
                (true, Some((from, _))) => open = Some((from, a.sent)),
                (false, Some((from, to))) => {
                    tenures.push((node, from, to));
                    open = None;
                }
                (false, None) => {}
            }
        }
        if let Some((from, to)) = open {
            tenures.push((node, from, to));
        }
    }
    let mut out = Vec::new();
    for (k, &(a, af, at)) in tenures.iter().enumerate() {
        for &(b, bf, bt) in &tenures[k + 1..] {
            if a != b && af < bt && bf < at {
                out.push((a, b, af.max(bf)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(node: usize, ok: bool, ms: u64) -> Ack {
        Ack {
            node,
            ok,
            sent: Duration::from_millis(ms),
            got: Duration::from_millis(ms + 1),
        }
    }

    #[test]
    fn a_handover_is_no_overlap_but_two_acknowledging_nodes_are() {
        let handover = [ack(0, true, 0), ack(0, false, 10), ack(1, true, 20)];
        assert!(overlapping_tenures(&handover).is_empty());
        let both = [
            ack(0, true, 0),
            ack(1, true, 5),
            ack(0, true, 10),
            ack(1, true, 15),
        ];
        assert_eq!(overlapping_tenures(&both).len(), 1);
    }
}
