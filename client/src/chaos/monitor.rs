//! What the cluster said it did during a chaos run: the events every node publishes on
//! `__slotcache__:events` (nodes marked FAIL, failovers, role changes), collected from a
//! subscription on each node that reconnects while the node is down, and timed on the
//! run's clock. The checker takes detection and failover times from these.

use crate::events::CHANNEL;
use cluster_tests::partition_lab::connect;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One published event.
#[derive(Debug, Clone)]
pub struct Event {
    /// Milliseconds since the run started (from the event's own wall-clock stamp).
    pub at_ms: u64,
    /// `node_fail`, `failover`, `role_change`, ...
    pub kind: String,
    /// The node the event is about.
    pub node: String,
    /// The primary whose slots it concerns (for a failover: the replaced primary).
    pub shard: String,
}

pub struct Monitor {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    events: Arc<Mutex<Vec<Event>>>,
}

/// Unix milliseconds now.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Monitor {
    /// Subscribes on every node; `t0_unix_ms` is the run's start on the wall clock.
    pub fn start(addrs: &[String], t0_unix_ms: u64) -> Monitor {
        let stop = Arc::new(AtomicBool::new(false));
        let events = Arc::new(Mutex::new(Vec::new()));
        let threads = addrs
            .iter()
            .map(|addr| {
                let (addr, stop, events) = (addr.clone(), stop.clone(), events.clone());
                std::thread::spawn(move || follow(&addr, t0_unix_ms, &events, &stop))
            })
            .collect();
        Monitor {
            stop,
            threads,
            events,
        }
    }

    /// The events so far, in the order they happened.
    pub fn events(&self) -> Vec<Event> {
        let mut v = self.events.lock().map(|e| e.clone()).unwrap_or_default();
        v.sort_by_key(|e| e.at_ms);
        v
    }

    /// Whether a failover away from primary `old` was published at or after `since_ms`.
    pub fn failed_over(&self, old: &str, since_ms: u64) -> bool {
        self.events()
            .iter()
            .any(|e| e.kind == "failover" && e.shard == old && e.at_ms >= since_ms)
    }

    pub fn stop(self) -> Vec<Event> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        let mut v = self.events.lock().map(|e| e.clone()).unwrap_or_default();
        v.sort_by_key(|e| e.at_ms);
        v
    }
}

fn follow(addr: &str, t0: u64, events: &Mutex<Vec<Event>>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let Some(mut con) = connect(addr, Duration::from_millis(300)) else {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        // Short reads so the thread notices `stop`; a timeout is not an error here.
        let _ = con.set_read_timeout(Some(Duration::from_millis(300)));
        let mut ps = con.as_pubsub();
        if ps.subscribe(CHANNEL).is_err() {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        while !stop.load(Ordering::Relaxed) {
            match ps.get_message() {
                Ok(msg) => {
                    let payload: String = msg.get_payload().unwrap_or_default();
                    if let Some(e) = parse(&payload, t0) {
                        if let Ok(mut v) = events.lock() {
                            v.push(e);
                        }
                    }
                }
                Err(e) if e.is_timeout() => {}
                Err(_) => break,
            }
        }
    }
}

fn parse(payload: &str, t0: u64) -> Option<Event> {
    let v: serde_json::Value = serde_json::from_str(payload).ok()?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
    let at = v.get("at_ms").and_then(|x| x.as_u64())?;
    Some(Event {
        at_ms: at.saturating_sub(t0),
        kind: s("event"),
        node: s("node"),
        shard: s("shard"),
    })
}
