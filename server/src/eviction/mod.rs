//! Staying inside `maxmemory`: the access clocks reads keep, and the eviction that runs
//! before a command that may grow the dataset.
//!
//! Memory is counted as Redis counts it: everything jemalloc has handed out (dataset,
//! client buffers, the replication backlog) minus what replica links hold in their output
//! buffers, which would otherwise feed back into evictions (evicting creates DELs for the
//! replicas, which grow their buffers, which asks for more evictions).
//!
//! Admission (`crate::admission`) asks [`still_over`] after cluster redirects and before
//! the replication checks, as Redis does. Over the limit, it evicts keys chosen by
//! `maxmemory-policy` until the dataset is back under the limit or the time budget set by
//! `maxmemory-eviction-tenacity` runs out (the next command continues). Only when nothing can be evicted (or the policy is
//! `noeviction`) are commands flagged DENYOOM refused; reads and deletes always run.
//! Replicas never evict on their own: their primary's DELs keep them in step.
//!
//! [`pool`] holds the candidates of the sampled policies; [`lfu`] the LFU counter math.

pub mod alloc;
pub mod lfu;
pub mod pool;

use crate::commands::CommandSpec;
use crate::config::Settings;
use crate::dataset::Keyspace;
use crate::keyspace::{clock, Entry};
use crate::state::Shared;
use pool::Pool;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Redis's exact refusal.
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Defined beside the access clocks it drives; chosen here, per command.
pub use crate::keyspace::clock::Touch;

impl Touch {
    /// The mode for a command under `settings`; `no_touch` is the client's NO-TOUCH flag,
    /// which TOUCH itself ignores (as in Redis).
    pub fn for_command(settings: &Settings, no_touch: bool, spec: &CommandSpec) -> Touch {
        if no_touch && !spec.is(crate::commands::table::facts::TOUCHES_ALWAYS) {
            return Touch::Off;
        }
        if settings.eviction_policy.is_lfu() {
            Touch::Lfu {
                log_factor: settings.lfu_log_factor,
                decay: settings.lfu_decay_time,
            }
        } else {
            Touch::Lru
        }
    }

    /// The word after a read.
    #[inline]
    pub fn on_read(self, access: u32, now_ms: u64) -> u32 {
        match self {
            Touch::Lru => clock::lru_now(now_ms),
            Touch::Lfu { log_factor, decay } => lfu::touched(access, now_ms, log_factor, decay),
            Touch::Off => access,
        }
    }

    /// The word of a key being created.
    #[inline]
    pub fn on_create(self, now_ms: u64) -> u32 {
        match self {
            Touch::Lfu { .. } => lfu::fresh(now_ms),
            _ => clock::lru_now(now_ms),
        }
    }

    /// The word of a key whose value a write replaces: an LFU key keeps its history and
    /// counts the write as an access (Redis looks the key up for writing first).
    #[inline]
    pub fn on_overwrite(self, access: u32, now_ms: u64) -> u32 {
        match self {
            Touch::Lfu { .. } | Touch::Off => self.on_read(access, now_ms),
            Touch::Lru => clock::lru_now(now_ms),
        }
    }
}

pub use crate::config::EvictionPolicy as Policy;

/// A candidate's score under `policy`: higher is evicted sooner.
fn score(policy: Policy, e: &Entry, now_ms: u64, decay: u64) -> u64 {
    match policy {
        Policy::AllKeysLfu | Policy::VolatileLfu => {
            255 - lfu::decayed(e.access, now_ms, decay) as u64
        }
        Policy::VolatileTtl => u64::MAX - e.expire_at(),
        _ => clock::idle_seconds(e.access, now_ms),
    }
}

/// Eviction state that lives with the keyspace (under its lock).
#[derive(Default)]
pub struct State {
    pool: Pool,
    /// Round-robin database cursor of the random policies.
    next_db: usize,
    /// Since when used memory has stayed over the limit (INFO
    /// current_eviction_exceeded_time), and the finished such periods in ms.
    over_since: Option<Instant>,
    over_total_ms: u64,
}

impl State {
    /// (total, current) milliseconds spent over `maxmemory` (INFO stats).
    pub fn exceeded_ms(&self) -> (u64, u64) {
        let current = self
            .over_since
            .map_or(0, |t| t.elapsed().as_millis() as u64);
        (self.over_total_ms + current, current)
    }

    fn note_over(&mut self, over: bool) {
        match (over, self.over_since) {
            (true, None) => self.over_since = Some(Instant::now()),
            (false, Some(t)) => {
                self.over_total_ms += t.elapsed().as_millis() as u64;
                self.over_since = None;
            }
            _ => {}
        }
    }
}

/// Bytes that count against `maxmemory`.
pub fn used_memory(ks: &Keyspace) -> u64 {
    total_used().saturating_sub(not_counted(ks))
}

/// Everything allocated (INFO used_memory): the counting allocator's figure, or jemalloc's
/// statistics where that allocator is not installed.
pub fn total_used() -> u64 {
    alloc::allocated().unwrap_or_else(|| crate::jemalloc::stats().allocated)
}

/// Replica output buffers: not part of the dataset (the backlog is, and is counted).
/// INFO memory reports it as mem_not_counted_for_evict.
pub fn not_counted(ks: &Keyspace) -> u64 {
    ks.repl
        .replicas()
        .map(|r| r.queued.load(Ordering::Relaxed) as u64)
        .sum()
}

/// What one eviction run achieved.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Under the limit (or nothing to enforce).
    Ok,
    /// Still over, out of time; keys remain to evict, so commands are allowed.
    Running,
    /// Over the limit with nothing evictable.
    Fail,
}

/// Before a command that may grow the dataset (and before queuing inside MULTI): evicts
/// what the policy allows; whether memory is still over `maxmemory` (the command is then
/// refused with [`OOM`]: see `crate::admission`).
pub fn still_over(shared: &Shared, ks: &mut Keyspace, settings: &Settings) -> bool {
    let started = std::time::Instant::now();
    let outcome = perform(shared, ks, settings, crate::util::now_ms());
    // LATENCY: a long eviction run is an "eviction-cycle" event, as in Redis.
    let ms = started.elapsed().as_millis() as u64;
    shared.telemetry.latency_event("eviction-cycle", ms);
    outcome == Outcome::Fail
}

/// Redis's `evictionTimeLimitUs`: tenacity 10 allows 500µs per run, each point above 10
/// 15% more, 100 no limit.
pub fn time_limit(tenacity: u64) -> Option<Duration> {
    match tenacity {
        0..=10 => Some(Duration::from_micros(50 * tenacity)),
        11..=99 => Some(Duration::from_micros(
            (500.0 * 1.15f64.powi(tenacity as i32 - 10)) as u64,
        )),
        _ => None,
    }
}

/// Evicts keys until used memory is under `maxmemory`, time runs out, or nothing is left
/// to evict (Redis's `performEvictions`).
pub fn perform(shared: &Shared, ks: &mut Keyspace, settings: &Settings, now: u64) -> Outcome {
    if ks.repl.is_replica() {
        return Outcome::Ok;
    }
    let used = used_memory(ks);
    if used <= settings.maxmemory {
        ks.evict.note_over(false);
        return Outcome::Ok;
    }
    ks.evict.note_over(true);
    let policy = settings.eviction_policy;
    if policy == Policy::NoEviction {
        return Outcome::Fail;
    }
    let to_free = used - settings.maxmemory;
    // The clock is read from the first check on (16 evictions in), not before: most runs
    // evict one key, and a clock read is a noticeable part of that.
    let mut started: Option<Instant> = None;
    let limit = time_limit(settings.maxmemory_eviction_tenacity);
    let mut freed = 0u64;
    let mut evicted: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut count = 0u64;
    let mut outcome = Outcome::Ok;
    while freed < to_free {
        let Some((db, key)) = pick(ks, policy, settings, now) else {
            outcome = Outcome::Fail;
            break;
        };
        let Some(entry) = ks.dbs[db].remove(&key, now) else {
            // It had expired: reclaimed (and logged) as an expiry; memory still went.
            continue;
        };
        freed += entry.memory() as u64;
        drop(entry);
        ks.watches.touch(db, &key);
        if ks.tracking.active() {
            ks.tracking.invalidate(&key, 0);
        }
        evicted.push((db, key));
        count += 1;
        if count.is_multiple_of(16) {
            if used_memory(ks) <= settings.maxmemory {
                ks.evict.note_over(false);
                break;
            }
            let started = *started.get_or_insert_with(Instant::now);
            if limit.is_some_and(|l| started.elapsed() > l) {
                outcome = Outcome::Running;
                break;
            }
        }
    }
    crate::state::Stats::add(&shared.stats.evicted_keys, count);
    if !settings.notify_keyspace_events.is_empty() {
        let flags = settings.notify_flags;
        for (db, key) in &evicted {
            crate::notify::publish(shared, flags, 'e', "evicted", *db, key);
        }
    }
    propagate(ks, evicted, now);
    if outcome == Outcome::Ok || used_memory(ks) <= settings.maxmemory {
        // Freed enough by the estimate, or what little was left to evict was enough.
        ks.evict.note_over(false);
        return Outcome::Ok;
    }
    outcome
}

/// Evicted keys reach replicas as DELs, in eviction order, before the command that caused
/// them.
fn propagate(ks: &mut Keyspace, evicted: Vec<(usize, Vec<u8>)>, now: u64) {
    crate::dispatch::drain_expired(ks, now, None);
    if !ks.repl.recording() {
        return;
    }
    // The stream selects each key's database as it changes.
    for (db, key) in evicted {
        ks.repl.emit_del(&ks.dbs, db, key, now);
    }
}

/// The next victim under `policy`, or `None` when no key qualifies.
fn pick(
    ks: &mut Keyspace,
    policy: Policy,
    settings: &Settings,
    now: u64,
) -> Option<(usize, Vec<u8>)> {
    if policy.random() {
        return pick_random(ks, policy.volatile_only());
    }
    pick_pooled(ks, policy, settings, now)
}

/// Random policies: one random key per database, databases taken round robin.
fn pick_random(ks: &mut Keyspace, volatile: bool) -> Option<(usize, Vec<u8>)> {
    let n = ks.dbs.len();
    let mut rng = rand::thread_rng();
    for i in 0..n {
        let db = (ks.evict.next_db + i) % n;
        let mut found = None;
        ks.dbs[db].sample(&mut rng, 1, volatile, |e| found = Some(e.key().to_vec()));
        if let Some(k) = found {
            ks.evict.next_db = (db + 1) % n;
            return Some((db, k));
        }
    }
    None
}

/// LRU, LFU and TTL policies: sample every database into the pool, then take the best
/// pooled candidate that still exists (Redis's `evictionPoolPopulate` loop).
fn pick_pooled(
    ks: &mut Keyspace,
    policy: Policy,
    settings: &Settings,
    now: u64,
) -> Option<(usize, Vec<u8>)> {
    let samples = settings.maxmemory_samples.max(1);
    let volatile = policy.volatile_only();
    let decay = settings.lfu_decay_time;
    let mut rng = rand::thread_rng();
    // Bounded: sampling that keeps finding nothing (it should not) ends in "nothing
    // evictable" rather than a hang under the keyspace lock.
    for _ in 0..64 {
        let mut total = 0;
        let Keyspace { dbs, evict, .. } = ks;
        for (i, db) in dbs.iter_mut().enumerate() {
            let keys = if volatile {
                db.volatile_len()
            } else {
                db.len()
            };
            if keys == 0 {
                continue;
            }
            total += keys;
            db.sample(&mut rng, samples, volatile, |e| {
                evict.pool.offer(score(policy, e, now, decay), i, e.key())
            });
        }
        if total == 0 {
            evict.pool.clear();
            return None;
        }
        while let Some(c) = evict.pool.pop_best() {
            if !volatile {
                // A stale candidate is found out by the removal itself (one look-up less).
                return Some((c.db, c.key));
            }
            let alive = dbs
                .get(c.db)
                // Time 0: an expired key still counts; removing it frees its memory too.
                .and_then(|d| d.peek_ref(&c.key, 0))
                .is_some_and(|e| !volatile || e.expire_at() != 0);
            if alive {
                return Some((c.db, c.key));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenacity_maps_to_redis_time_limits() {
        assert_eq!(time_limit(0), Some(Duration::ZERO));
        assert_eq!(time_limit(10), Some(Duration::from_micros(500)));
        assert_eq!(time_limit(11), Some(Duration::from_micros(575)));
        assert_eq!(time_limit(100), None);
    }

    #[test]
    fn scores_order_victims_as_redis_does() {
        let now = 1_000_000_000;
        let mut old = Entry::new(
            b"old",
            crate::keyspace::Value::Str(crate::keyspace::SmallBytes::new(b"")),
        );
        let mut new = old.to_boxed();
        old.access = clock::lru_now(now - 100_000);
        new.access = clock::lru_now(now);
        let lru = Policy::AllKeysLru;
        assert!(score(lru, &old, now, 1) > score(lru, &new, now, 1));
        old.access = (lfu::minutes(now) << 16) | 3;
        new.access = (lfu::minutes(now) << 16) | 40;
        let lfu = Policy::AllKeysLfu;
        assert!(score(lfu, &old, now, 1) > score(lfu, &new, now, 1));
        let old = old.with_expire_at(now + 10);
        let new = new.with_expire_at(now + 10_000);
        let ttl = Policy::VolatileTtl;
        assert!(score(ttl, &old, now, 1) > score(ttl, &new, now, 1));
    }

    #[test]
    fn policies_parse_and_classify() {
        assert_eq!(Policy::parse("volatile-ttl"), Policy::VolatileTtl);
        assert!(Policy::parse("volatile-lfu").is_lfu());
        assert!(Policy::parse("volatile-random").volatile_only());
        assert!(!Policy::parse("allkeys-random").volatile_only());
        assert_eq!(Policy::parse("noeviction"), Policy::NoEviction);
    }
}
