//! The active expiry cycle: reclaims keys whose TTL passed but that nobody reads.
//!
//! Runs `hz` times a second. Each run takes the keyspace lock for a bounded number of entries
//! per step and stops once it has spent its time budget (25% of the interval at most, like
//! Redis's slow cycle), so it never stalls clients for long. Slots are visited round robin,
//! so every expired key is reached within a bounded number of cycles. Hash fields with TTLs
//! are reclaimed in the same steps (see [`crate::keyspace::field_expire`]).

use crate::state::Shared;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Entries examined under one lock acquisition.
const STEP: usize = 256;

/// Hashes with field TTLs visited under one lock acquisition (each sweeps at most
/// [`crate::keyspace::field_expire`]'s per-visit number of pairs).
const FIELD_STEP: usize = 16;

pub async fn run(shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        let hz = shared.settings().hz.clamp(1, 500);
        let interval = Duration::from_millis(1000 / hz);
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
        shared.sample_ops();
        if shared
            .cron_paused
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            continue;
        }
        tracking_tick(&shared);
        // A running script holds the keyspace: this worker thread must not wait for it
        // (other clients are answered BUSY meanwhile), and Redis does not expire keys during
        // a script either.
        if shared.script_busy.over(0) {
            continue;
        }
        // Replicas never expire keys themselves: they apply their primary's DELs.
        if !shared
            .active_expire
            .load(std::sync::atomic::Ordering::Relaxed)
            || shared.keyspace.lock().repl.is_replica()
            || shared.pause.writes_paused()
        {
            continue;
        }
        let budget = interval / 4;
        let start = Instant::now();
        let ndb = shared.keyspace.lock().dbs.len();
        'dbs: for i in 0..ndb {
            loop {
                let now = crate::util::now_ms();
                let mut ks = shared.keyspace.lock();
                let Some(db) = ks.dbs.get_mut(i) else {
                    break 'dbs;
                };
                let (examined, expired) = db.expire_step(now, STEP);
                // Hash fields too: a bounded number of hashes with field TTLs per step.
                let (fexamined, fexpired) =
                    crate::keyspace::field_expire::step(db, now, FIELD_STEP);
                let (examined, expired) = (examined + fexamined, expired + fexpired);
                if expired > 0 {
                    let settings = shared.settings();
                    crate::dispatch::drain_expired(&mut ks, now, Some((&shared, &settings)));
                }
                drop(ks);
                // Stop on this database once few of the examined keys were expired (as
                // Redis does at 10%), or when the time budget is spent.
                if examined == 0 || expired * 10 < examined || start.elapsed() > budget {
                    break;
                }
            }
            if start.elapsed() > budget {
                break;
            }
        }
        // LATENCY: a cycle that took long (large keys freed, many keys expired) is an
        // "expire-cycle" event, as in Redis.
        let ms = start.elapsed().as_millis() as u64;
        if ms > 0 {
            shared.telemetry.latency_event("expire-cycle", ms);
        }
    }
}

/// Client tracking's periodic work (Redis does it before each event-loop sleep): keys over
/// `tracking-table-max-keys` are invalidated (after CONFIG SET lowered it, too), and BCAST
/// keys collected outside commands (expiry) are sent.
fn tracking_tick(shared: &Shared) {
    let settings = shared.settings();
    let mut ks = shared.keyspace.lock();
    if !ks.tracking.active() {
        return;
    }
    ks.tracking.max_keys = settings.tracking_table_max_keys;
    ks.tracking.limits = settings.pubsub_obuf;
    ks.tracking.limit();
    ks.tracking.broadcast();
}
