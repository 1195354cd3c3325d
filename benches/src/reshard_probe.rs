//! The latency probe of `reshard-bench`: one client doing GET/SET of random loaded keys
//! through the cluster while slots move, the way a cluster client would — its own slot map,
//! `MOVED` updates the map and retries, `ASK` retries once on the named node after `ASKING`,
//! `TRYAGAIN` retries after 1 ms — timing every request from first send to final answer.

use crate::cluster;
use redis::{ErrorKind, RedisError, Value};
use slotcache_proto::slot::{key_slot, SLOTS};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Redirections (MOVED, ASK, TRYAGAIN) one request may follow before it counts as an error.
const MAX_HOPS: usize = 16;

/// One request: when it started (since the probe's `t0`) and how long it took.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub at: Duration,
    pub took: Duration,
    pub ok: bool,
}

/// Everything the probe saw.
#[derive(Default, Debug)]
pub struct Record {
    pub samples: Vec<Sample>,
    pub moved: u64,
    pub ask: u64,
    pub tryagain: u64,
    /// GETs that answered nil or another value than the one loaded.
    pub wrong: u64,
    /// Failed requests by error text (ports removed), with when the first one happened.
    pub errors: BTreeMap<String, (u64, Duration)>,
}

/// How the probe runs.
#[derive(Clone, Debug)]
pub struct Settings {
    pub keys: u64,
    pub value_size: usize,
    /// Pause between requests; zero: back to back.
    pub interval: Duration,
    pub io_timeout: Duration,
}

/// The value `key:<i>` is loaded with: the index, zero-padded to `size` bytes (at least 1).
pub fn value_of(i: u64, size: usize) -> String {
    format!("{i:0>width$}", width = size.max(1))
}

struct Probe {
    map: Vec<u16>,
    conns: HashMap<u16, redis::Connection>,
    set: Settings,
    rec: Record,
    t0: Instant,
    rng: u64,
}

/// Starts the probe on its own thread with `map` (slot -> port) as the starting slot map;
/// it runs until `stop` is set and returns what it recorded, times relative to `t0`.
pub fn spawn(
    map: Vec<u16>,
    set: Settings,
    t0: Instant,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Record> {
    std::thread::spawn(move || {
        let mut p = Probe {
            map,
            conns: HashMap::new(),
            rng: 0x9E37_79B9_7F4A_7C15 ^ u64::from(std::process::id()),
            set,
            rec: Record::default(),
            t0,
        };
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let i = p.next_random() % p.set.keys.max(1);
            let started = Instant::now();
            let ok = p.request(i, n % 2 == 1);
            p.rec.samples.push(Sample {
                at: started - p.t0,
                took: started.elapsed(),
                ok,
            });
            n += 1;
            if let Some(rest) = p.set.interval.checked_sub(started.elapsed()) {
                std::thread::sleep(rest);
            }
        }
        p.rec
    })
}

/// Port in a `host:port` redirect address.
fn port_of(addr: &str) -> Option<u16> {
    addr.rsplit(':').next()?.parse().ok()
}

/// An error's text without addresses, so the same failure on different nodes counts once.
fn error_key(e: &RedisError) -> String {
    let s = e.to_string();
    s.split(" 127.0.0.1")
        .next()
        .unwrap_or(&s)
        .trim()
        .to_string()
}

impl Probe {
    /// xorshift64*: enough randomness to pick keys, without a dependency.
    fn next_random(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn fail(&mut self, what: String) -> bool {
        let at = self.t0.elapsed();
        self.rec.errors.entry(what).or_insert((0, at)).0 += 1;
        false
    }

    /// GET (or SET, to the same value) of `key:<i>`, following redirections; true when the
    /// request got its answer (a GET with a wrong value is recorded as `wrong`, still true).
    fn request(&mut self, i: u64, set: bool) -> bool {
        let key = format!("key:{i}");
        let value = value_of(i, self.set.value_size);
        let slot = usize::from(key_slot(key.as_bytes()));
        let mut port = self.map[slot];
        let mut asking = false;
        for _ in 0..MAX_HOPS {
            let res = self.send(port, &key, set.then_some(value.as_str()), asking);
            match res {
                Ok(v) => {
                    if !set && v != Value::BulkString(value.clone().into_bytes()) {
                        self.rec.wrong += 1;
                    }
                    return true;
                }
                Err(e) => match e.kind() {
                    ErrorKind::Moved => {
                        self.rec.moved += 1;
                        match e.redirect_node().and_then(|(a, _)| port_of(a)) {
                            Some(p) => {
                                self.map[slot] = p;
                                port = p;
                                asking = false;
                            }
                            None => return self.fail(format!("unparsable MOVED: {e}")),
                        }
                    }
                    ErrorKind::Ask => {
                        self.rec.ask += 1;
                        match e.redirect_node().and_then(|(a, _)| port_of(a)) {
                            Some(p) => {
                                port = p;
                                asking = true;
                            }
                            None => return self.fail(format!("unparsable ASK: {e}")),
                        }
                    }
                    ErrorKind::TryAgain => {
                        self.rec.tryagain += 1;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    _ => {
                        if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() {
                            self.conns.remove(&port);
                        }
                        return self.fail(error_key(&e));
                    }
                },
            }
        }
        self.fail(format!("more than {MAX_HOPS} redirections"))
    }

    fn send(
        &mut self,
        port: u16,
        key: &str,
        value: Option<&str>,
        asking: bool,
    ) -> redis::RedisResult<Value> {
        if let std::collections::hash_map::Entry::Vacant(slot) = self.conns.entry(port) {
            let con = cluster::connect(port, self.set.io_timeout).map_err(|e| {
                RedisError::from((
                    ErrorKind::IoError,
                    "connect failed",
                    format!("port {port}: {e:#}"),
                ))
            })?;
            slot.insert(con);
        }
        let Some(con) = self.conns.get_mut(&port) else {
            return Err(RedisError::from((ErrorKind::IoError, "no connection")));
        };
        let mut pipe = redis::pipe();
        if asking {
            pipe.cmd("ASKING").ignore();
        }
        match value {
            Some(v) => pipe.cmd("SET").arg(key).arg(v),
            None => pipe.cmd("GET").arg(key),
        };
        let mut out: Vec<Value> = pipe.query(con)?;
        out.pop()
            .ok_or_else(|| RedisError::from((ErrorKind::ResponseError, "empty pipeline reply")))
    }
}

/// Summary of the samples that started in `[from, to)`.
#[derive(Debug, Clone, Default)]
pub struct Window {
    pub requests: usize,
    pub failed: usize,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

pub fn window(samples: &[Sample], from: Duration, to: Duration) -> Window {
    let inside: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at >= from && s.at < to)
        .collect();
    let ms: Vec<f64> = inside
        .iter()
        .map(|s| s.took.as_secs_f64() * 1000.0)
        .collect();
    Window {
        requests: inside.len(),
        failed: inside.iter().filter(|s| !s.ok).count(),
        p50_ms: cluster::percentile(&ms, 50.0),
        p99_ms: cluster::percentile(&ms, 99.0),
        max_ms: ms.iter().copied().reduce(f64::max),
    }
}

/// The slot map (slot -> port of its primary) as the node at `port` sees it.
pub fn slot_map(port: u16) -> anyhow::Result<Vec<u16>> {
    let text: String = cluster::query(port, &["CLUSTER", "NODES"])?;
    let mut map = vec![0u16; SLOTS];
    for line in cluster::parse_nodes(&text)? {
        for &s in &line.slots {
            if let Some(m) = map.get_mut(usize::from(s)) {
                *m = line.port;
            }
        }
    }
    if let Some(s) = map.iter().position(|&p| p == 0) {
        anyhow::bail!("slot {s} has no owner in CLUSTER NODES of port {port}");
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_padded_indices() {
        assert_eq!(value_of(42, 16), "0000000000000042");
        assert_eq!(value_of(42, 0), "42");
    }

    #[test]
    fn windows_take_samples_by_start_time() {
        let s = |at_ms, took_ms, ok| Sample {
            at: Duration::from_millis(at_ms),
            took: Duration::from_millis(took_ms),
            ok,
        };
        let v = vec![
            s(0, 1, true),
            s(10, 5, false),
            s(20, 3, true),
            s(30, 9, true),
        ];
        let w = window(&v, Duration::from_millis(10), Duration::from_millis(30));
        assert_eq!((w.requests, w.failed), (2, 1));
        assert_eq!(w.max_ms, Some(5.0));
        assert_eq!(w.p50_ms, Some(3.0));
    }
}
