//! `cluster events`: follows what a cluster does, live. Every node publishes its own
//! events (failovers, role changes, nodes marked FAIL or recovered, lost leases, slot
//! migrations) on the `__slotcache__:events` channel as JSON, so this subscribes on every
//! node the seed knows and prints each message, prefixed with the node that published it.
//! Nodes that go away are reconnected to each second; nodes that join are picked up when
//! the seed's view is refreshed.

use crate::conn::Target;
use crate::topology::Topology;
use anyhow::Result;
use std::collections::HashSet;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The channel the server publishes on (see the server's `cluster::events`).
pub const CHANNEL: &str = "__slotcache__:events";

/// Follows the events of every node reachable from `seed`. Stops after `count` events
/// when given, or after `for_secs` seconds when given; otherwise runs until interrupted.
pub fn follow(seed: &Target, count: Option<u64>, for_secs: Option<u64>) -> Result<()> {
    let topo = Topology::load(seed)?;
    let seen = Arc::new(AtomicU64::new(0));
    let mut followed: HashSet<String> = HashSet::new();
    let deadline = for_secs.map(|s| Instant::now() + Duration::from_secs(s));
    let spawn_for = |t: Target, followed: &mut HashSet<String>| {
        if followed.insert(t.addr()) {
            let seen = seen.clone();
            std::thread::spawn(move || subscribe_loop(t, seen));
        }
    };
    for n in &topo.nodes {
        spawn_for(topo.target(n), &mut followed);
    }
    eprintln!(
        "following {CHANNEL} on {} node(s); Ctrl-C to stop",
        followed.len()
    );
    let mut refreshed = Instant::now();
    loop {
        if count.is_some_and(|c| seen.load(Ordering::Relaxed) >= c) {
            return Ok(());
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(());
        }
        if refreshed.elapsed() >= Duration::from_secs(5) {
            refreshed = Instant::now();
            if let Ok(t) = Topology::load(seed) {
                for n in &t.nodes {
                    spawn_for(t.target(n), &mut followed);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Subscribes on one node and prints its events; reconnects while the process runs.
fn subscribe_loop(t: Target, seen: Arc<AtomicU64>) {
    loop {
        if let Ok(mut con) = t.connect_with_timeout(Duration::from_secs(3600)) {
            let mut ps = con.as_pubsub();
            if ps.subscribe(CHANNEL).is_ok() {
                while let Ok(msg) = ps.get_message() {
                    let payload: String = msg.get_payload().unwrap_or_default();
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{} {payload}", t.addr());
                    let _ = out.flush();
                    seen.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}
