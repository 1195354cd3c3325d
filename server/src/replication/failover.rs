//! A standalone primary's coordinated failover (`FAILOVER`), as Redis 6.2+ runs it.
//!
//! The primary holds its clients' writes, waits until the chosen replica (or, without a
//! target, any replica) has acknowledged its whole stream, then turns itself into that
//! replica's replica, sending `PSYNC <replid> <offset> FAILOVER`. The target, seeing its own
//! primary's replication id with that flag, promotes itself and answers `+CONTINUE`; once
//! the old primary has that answer the pause ends, and the writes it held are answered
//! `-READONLY`. Nothing acknowledged is lost: the stream stood still while the target
//! caught up. Other replicas keep their link to the old primary (now a chained replica).
//!
//! The state lives in the [`Feed`] (under the keyspace lock, like the rest of the
//! replication state); [`drive`] re-checks it whenever a replica acknowledges and on a
//! short tick, as Redis's `updateFailoverStatus` does from its event loop.

use super::feed::{Feed, ReplicaLink};
use crate::state::Shared;
use slotcache_util::clock::mono_ms;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tracing::info;

/// `master_failover_state` in INFO replication.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum State {
    #[default]
    None,
    /// Writes are held; waiting for the target's acknowledgement of the whole stream.
    WaitForSync,
    /// This node follows the target and waits for its answer to `PSYNC ... FAILOVER`.
    InProgress,
}

impl State {
    /// The state as INFO replication names it (Redis's `getFailoverStateString`).
    pub fn name(self) -> &'static str {
        match self {
            State::None => "no-failover",
            State::WaitForSync => "waiting-for-sync",
            State::InProgress => "failover-in-progress",
        }
    }
}

/// One failover's parameters and progress.
#[derive(Default)]
pub struct Failover {
    pub state: State,
    /// The replica taking over: given with `TO`, or the first one found caught up.
    pub target: Option<(String, u16)>,
    /// Monotonic ms after which a waiting failover aborts, or goes on with `force`.
    pub end_ms: Option<u64>,
    pub force: bool,
    /// Counts failovers started, so a driver task of an earlier one stops.
    pub generation: u64,
}

/// The replica attached with this address (its IP and `REPLCONF listening-port`), as Redis's
/// `findReplica`.
pub fn find_replica<'a>(feed: &'a Feed, host: &str, port: i64) -> Option<&'a Arc<ReplicaLink>> {
    feed.replicas().find(|r| {
        r.ip.eq_ignore_ascii_case(host) && r.listening_port.load(Ordering::Relaxed) as i64 == port
    })
}

/// Starts a failover the FAILOVER command validated: holds writes and starts the driver.
pub fn start(
    shared: &Shared,
    feed: &mut Feed,
    target: Option<(String, u16)>,
    timeout_ms: Option<u64>,
    force: bool,
) {
    match &target {
        Some((h, p)) => info!("FAILOVER requested to {h}:{p}."),
        None => info!("FAILOVER requested to any replica."),
    }
    let generation = feed.failover.generation + 1;
    feed.failover = Failover {
        state: State::WaitForSync,
        target,
        end_ms: timeout_ms.map(|t| mono_ms().saturating_add(t)),
        force,
        generation,
    };
    shared.pause.pause_for_failover();
    if let Some(shared) = shared.arc() {
        tokio::spawn(drive(shared, generation));
    }
}

/// Ends the failover (it completed, or was aborted): the held writes run again.
pub fn clear(shared: &Shared, feed: &mut Feed) {
    let generation = feed.failover.generation;
    feed.failover = Failover {
        generation,
        ..Failover::default()
    };
    shared.pause.end_failover();
}

/// Aborts the failover, as Redis's `abortFailover`: a node already following the target
/// becomes a primary again; its replicas are disconnected so that they learn its new
/// replication id (they resynchronise partially).
pub fn abort(shared: &Shared, feed: &mut Feed, why: &str) {
    if feed.failover.state == State::None {
        return;
    }
    match &feed.failover.target {
        Some((h, p)) => info!("FAILOVER to {h}:{p} aborted: {why}"),
        None => info!("FAILOVER to any replica aborted: {why}"),
    }
    if feed.failover.state == State::InProgress {
        super::follow(shared, feed, None, "failover aborted");
        feed.disconnect_replicas("its primary's replication id changed");
    }
    clear(shared, feed);
}

/// What [`update`] left to wait for.
enum Next {
    /// Still waiting for a replica's acknowledgement.
    Wait,
    /// The wait is over (the node follows the target, or the failover was aborted).
    Done,
}

/// Checks a waiting failover, as Redis's `updateFailoverStatus`: on timeout aborts it (or
/// with FORCE goes on anyway); once the target acknowledged the whole stream, follows it.
fn update(shared: &Shared, ks: &mut crate::dataset::Keyspace, generation: u64) -> Next {
    let feed = &mut ks.repl;
    if feed.failover.state != State::WaitForSync || feed.failover.generation != generation {
        return Next::Done;
    }
    if feed.failover.end_ms.is_some_and(|end| end <= mono_ms()) {
        if !feed.failover.force {
            abort(shared, feed, "Replica never caught up before timeout");
            return Next::Done;
        }
        if let Some((h, p)) = feed.failover.target.clone() {
            info!("FAILOVER to {h}:{p} time out exceeded, failing over.");
            feed.failover.state = State::InProgress;
            follow_target(shared, ks, h, p);
            return Next::Done;
        }
    }
    let offset = feed.offset;
    let caught_up = |r: &Arc<ReplicaLink>| {
        r.online.load(Ordering::Relaxed) && r.ack_offset.load(Ordering::Relaxed) == offset
    };
    let ready = match &feed.failover.target {
        Some((h, p)) => find_replica(feed, h, *p as i64).is_some_and(caught_up),
        None => {
            let found = feed.replicas().find(|r| caught_up(r)).map(|r| {
                let port = r.listening_port.load(Ordering::Relaxed) as u16;
                (r.ip.clone(), port)
            });
            let ready = found.is_some();
            feed.failover.target = found;
            ready
        }
    };
    if !ready {
        return Next::Wait;
    }
    let Some((h, p)) = feed.failover.target.clone() else {
        return Next::Wait;
    };
    info!("Failover target {h}:{p} is synced, failing over.");
    feed.failover.state = State::InProgress;
    follow_target(shared, ks, h, p);
    Next::Done
}

/// Turns this node into a replica of the failover target (as REPLICAOF would, keeping its
/// own replicas, which then follow through it).
fn follow_target(shared: &Shared, ks: &mut crate::dataset::Keyspace, host: String, port: u16) {
    ks.blocked.unblock_all(crate::cluster::startup::UNBLOCKED);
    ks.tracking.invalidate_all();
    super::follow(shared, &mut ks.repl, Some((host, port)), "failover");
}

/// Re-checks a waiting failover after every replica acknowledgement and every 100 ms, until
/// it no longer waits.
pub async fn drive(shared: Arc<Shared>, generation: u64) {
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        let acked = shared.repl_acks.notified();
        tokio::pin!(acked);
        acked.as_mut().enable();
        let next = {
            let mut ks = shared.keyspace.lock();
            update(&shared, &mut ks, generation)
        };
        if let Next::Done = next {
            return;
        }
        tokio::select! {
            _ = acked => {}
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = shutdown.changed() => return,
        }
    }
}
