//! Operational telemetry, kept in one place so INFO, the SLOWLOG / LATENCY / MONITOR
//! commands and a metrics exporter all read the same numbers: per-command counters and
//! latency histograms ([`commands`]), error replies by code ([`errors`]), the slow log
//! ([`slowlog`]), latency events ([`latency`]) and MONITOR streams ([`monitor`]).
//!
//! The dispatcher reports each executed or refused command here, once (see
//! `dispatch::run_admitted`); nothing else in the command path keeps statistics.

pub mod commands;
pub mod errors;
pub mod histogram;
pub mod latency;
pub mod monitor;
pub mod redact;
pub mod slowlog;

use crate::clients::ClientHandle;
use crate::commands::{flags, CommandSpec};
use crate::config::Settings;
use bytes::Bytes;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};

/// The settings telemetry obeys, copied here whenever the configuration changes
/// ([`Telemetry::apply_settings`]), so a CONFIG SET takes effect for the very command that
/// made it (`config set slowlog-log-slower-than -1` is not itself logged).
pub struct Knobs {
    pub slowlog_log_slower_than: AtomicI64,
    pub slowlog_max_len: AtomicUsize,
    pub latency_monitor_threshold: AtomicU64,
    pub latency_tracking: AtomicBool,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            slowlog_log_slower_than: AtomicI64::new(10_000),
            slowlog_max_len: AtomicUsize::new(128),
            latency_monitor_threshold: AtomicU64::new(0),
            latency_tracking: AtomicBool::new(true),
        }
    }
}

#[derive(Default)]
pub struct Telemetry {
    pub knobs: Knobs,
    pub commands: commands::CommandStats,
    pub errors: errors::ErrorStats,
    pub slowlog: Mutex<slowlog::SlowLog>,
    pub latency: Mutex<latency::LatencyMonitor>,
    pub monitors: monitor::Monitors,
}

/// What the dispatcher knows of one command that ran.
pub struct Executed<'a> {
    pub spec: &'static CommandSpec,
    pub args: &'a [Bytes],
    /// How long the handler ran.
    pub ns: u64,
    /// The error message it replied with (without the `-`), if any.
    pub error: Option<&'a [u8]>,
    /// The error was counted in the error statistics already (see
    /// `Ctx::error_counted`): only the command's failed calls count it.
    pub error_counted: bool,
    pub db: usize,
    pub client: &'a ClientHandle,
}

/// Wall-clock seconds.
pub fn unix_secs() -> u64 {
    crate::util::now_ms() / 1000
}

impl Telemetry {
    /// Takes the telemetry settings from a new configuration.
    pub fn apply_settings(&self, s: &Settings) {
        let k = &self.knobs;
        k.slowlog_log_slower_than
            .store(s.slowlog_log_slower_than, Ordering::Relaxed);
        k.slowlog_max_len
            .store(s.slowlog_max_len, Ordering::Relaxed);
        k.latency_monitor_threshold
            .store(s.latency_monitor_threshold, Ordering::Relaxed);
        k.latency_tracking
            .store(s.latency_tracking, Ordering::Relaxed);
    }

    /// Accounts for a command that ran: its counters and histogram, its error, the slow
    /// log, the latency monitor and MONITOR clients.
    pub fn executed(&self, settings: &Settings, e: Executed) {
        let k = &self.knobs;
        self.commands.record_call(
            e.spec,
            e.ns,
            e.error.is_some(),
            k.latency_tracking.load(Ordering::Relaxed),
        );
        if let Some(msg) = e.error.filter(|_| !e.error_counted) {
            self.errors.record(msg);
        }
        let us = e.ns / 1000;
        let threshold = k.slowlog_log_slower_than.load(Ordering::Relaxed);
        if threshold >= 0 && us >= threshold as u64 && !e.spec.has(flags::SKIP_SLOWLOG) {
            let args = redact::redacted(e.spec, e.args);
            let args = slowlog::trim_args(args.as_deref().unwrap_or(e.args));
            let entry = slowlog::Entry {
                id: 0,
                unix_secs: unix_secs(),
                duration_us: us,
                args,
                addr: e.client.addr.to_string(),
                name: e.client.name.lock().clone(),
            };
            let max_len = k.slowlog_max_len.load(Ordering::Relaxed);
            self.slowlog.lock().push(entry, max_len);
        }
        let ms = us / 1000;
        let latency_threshold = k.latency_monitor_threshold.load(Ordering::Relaxed);
        if latency_threshold > 0 && ms >= latency_threshold {
            let event = if e.spec.has(flags::FAST) {
                "fast-command"
            } else {
                "command"
            };
            self.latency.lock().add(event, ms, unix_secs());
        }
        if !self.monitors.is_empty() && !e.spec.has(flags::ADMIN) {
            let args = redact::redacted(e.spec, e.args);
            self.monitors.feed(
                e.db,
                &e.client.addr.to_string(),
                args.as_deref().unwrap_or(e.args),
                &monitor_limits(settings),
            );
        }
    }

    /// Accounts for a command refused before it ran (arity, auth, redirects, OOM...):
    /// `spec` when the command itself was known.
    pub fn rejected(&self, spec: Option<&CommandSpec>, msg: &[u8]) {
        if let Some(s) = spec {
            self.commands.record_rejected(s);
        }
        self.errors.record(msg);
    }

    /// An error reply outside any command's accounting (inside a refused transaction...).
    pub fn error_reply(&self, msg: &[u8]) {
        self.errors.record(msg);
    }

    /// Records an operation that took `ms` for a latency event (expire-cycle, ...).
    pub fn latency_event(&self, event: &str, ms: u64) {
        let threshold = self.knobs.latency_monitor_threshold.load(Ordering::Relaxed);
        if threshold > 0 && ms >= threshold {
            self.latency.lock().add(event, ms, unix_secs());
        }
    }

    /// CONFIG RESETSTAT: counters, histograms and error counts start again.
    pub fn reset_stats(&self) {
        self.commands.reset();
        self.errors.reset();
    }
}

/// The limits a MONITOR stream lives under: the normal class's, as in Redis; where that
/// class is unlimited (the default), the replica class's hard limit, so that a monitor
/// that stops reading is cut instead of holding every command in memory.
pub fn monitor_limits(settings: &Settings) -> crate::pubsub::Limits {
    let l = settings.normal_obuf;
    if l.hard == 0 && l.soft == 0 {
        crate::pubsub::Limits {
            hard: settings.replica_obuf_hard.max(1 << 20),
            soft: 0,
            soft_secs: 0,
        }
    } else {
        l
    }
}
