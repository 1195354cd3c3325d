//! State shared by every connection and background task of one server.

use crate::clients::Registry;
use crate::config::{Config, Settings};
use crate::dataset::Keyspace;
use parking_lot::{Mutex, RwLock};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// Server-wide counters that INFO reports.
#[derive(Default)]
pub struct Stats {
    pub connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub commands_processed: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    pub evicted_keys: AtomicU64,
    /// Keys MIGRATE moved away (the target confirmed them): the metrics exporter's count of
    /// keys moved by slot migrations. Not reset by CONFIG RESETSTAT (INFO does not show it).
    pub keys_migrated: AtomicU64,
}

impl Stats {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub fn reset(&self) {
        for c in [
            &self.connections_received,
            &self.rejected_connections,
            &self.commands_processed,
            &self.net_input_bytes,
            &self.net_output_bytes,
            &self.evicted_keys,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

pub struct Shared {
    pub keyspace: crate::dataset::KeyspaceLock,
    pub config: RwLock<Config>,
    settings: RwLock<Arc<Settings>>,
    settings_version: AtomicU64,
    pub clients: Arc<Registry>,
    pub stats: Stats,
    /// Set to true to stop the server; every task watches it.
    pub shutdown: watch::Sender<bool>,
    pub started: Instant,
    pub started_unix: u64,
    /// The 40-hex-digit run id INFO reports.
    pub run_id: String,
    pub active_expire: AtomicBool,
    /// DEBUG SET-DISABLE-DENY-SCRIPTS: scripts may call commands flagged `noscript` (Redis
    /// keeps this switch for its test suite, which reaches DEBUG PROTOCOL through a script).
    pub script_deny_disabled: AtomicBool,
    /// DEBUG PAUSE-CRON: the periodic work (active expiry, tracking housekeeping) is held.
    pub cron_paused: AtomicBool,
    /// The TCP port actually bound (differs from the config when it says 0).
    pub bound_port: AtomicU64,
    pub last_save_unix: AtomicU64,
    /// Snapshots: the running background save and the figures INFO persistence shows.
    pub persistence: crate::persistence::Persistence,
    /// The append-only file: its writer, manifest, rewrites and INFO figures.
    pub aof: crate::aof::Aof,
    /// Cluster mode's state, set at startup when `cluster-enabled yes`.
    pub cluster: std::sync::OnceLock<Arc<crate::cluster::Cluster>>,
    /// Woken whenever a replica acknowledges an offset or a replica link changes (WAIT).
    pub repl_acks: tokio::sync::Notify,
    /// Woken when a MIGRATE finishes with its keys (writers to them were waiting).
    pub keys_moved: tokio::sync::Notify,
    /// Counts finished MIGRATEs: a writer that saw this value before waiting knows it missed
    /// no wake-up.
    pub moves_done: AtomicU64,
    /// Cached connections to MIGRATE targets.
    pub migrate_links: crate::migration::Links,
    /// The replication offset, readable without the keyspace lock (cluster headers, INFO).
    pub repl_offset: Arc<AtomicU64>,
    me: std::sync::Weak<Shared>,
    pub pubsub: crate::pubsub::PubSub,
    /// ACL users and the ACL log.
    pub acl: crate::acl::Registry,
    /// Client connections accepted and not yet closed (maxclients is checked against it at
    /// accept time, before the connection's task registers itself).
    pub connections: std::sync::atomic::AtomicUsize,
    /// Clients waiting in a blocking command (INFO blocked_clients).
    pub blocked_clients: AtomicU64,
    pub memory_peak: AtomicU64,
    pub memory_startup: AtomicU64,
    /// Command statistics, error counts, slow log, latency events, MONITOR streams.
    pub telemetry: crate::telemetry::Telemetry,
    /// CLIENT PAUSE.
    pub pause: crate::pause::Pause,
    /// The Lua VM and script cache (EVAL). Taken after the keyspace lock, never before.
    pub scripts: Mutex<crate::scripting::Engine>,
    /// The running script as other clients see it without the keyspace lock (BUSY, KILL).
    pub script_busy: Arc<crate::scripting::busy::Busy>,
    /// The script engine's figures, readable while a script runs (INFO memory).
    pub script_stats: Arc<crate::scripting::engine::Stats>,
    /// (unix ms, commands processed) samples, one per housekeeping tick, for
    /// instantaneous_ops_per_sec.
    ops_samples: Mutex<std::collections::VecDeque<(u64, u64)>>,
    /// The TLS contexts new connections use (none while TLS is off); CONFIG SET swaps them.
    pub tls: Arc<crate::tls::Tls>,
}

impl Shared {
    pub fn new(config: Config) -> Arc<Self> {
        let settings = Arc::new(config.settings());
        let (tx, _) = watch::channel(false);
        let mut keyspace = Keyspace::new(settings.keyspace_dbs());
        let clients = Arc::new(Registry::default());
        keyspace.tracking.set_registry(clients.clone());
        keyspace.tracking.max_keys = settings.tracking_table_max_keys;
        keyspace.tracking.limits = settings.pubsub_obuf;
        let repl_offset = keyspace.repl.published.clone();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let telemetry = crate::telemetry::Telemetry::default();
        telemetry.apply_settings(&settings);
        let acl = crate::acl::Registry::new();
        acl.apply_settings(&settings);
        acl.set_default_password(settings.requirepass.as_deref());
        let script_busy = Arc::new(crate::scripting::busy::Busy::default());
        let scripts = crate::scripting::Engine::new(settings.lua_memory_limit, script_busy.clone());
        let script_stats = scripts.stats.clone();
        Arc::new_cyclic(|me| Shared {
            keyspace: crate::dataset::KeyspaceLock::new(keyspace),
            settings: RwLock::new(settings),
            settings_version: AtomicU64::new(0),
            config: RwLock::new(config),
            clients,
            stats: Stats::default(),
            shutdown: tx,
            started: Instant::now(),
            started_unix: now,
            run_id: slotcache_util::ids::random_hex_id(),
            active_expire: AtomicBool::new(true),
            script_deny_disabled: AtomicBool::new(false),
            cron_paused: AtomicBool::new(false),
            bound_port: AtomicU64::new(0),
            last_save_unix: AtomicU64::new(now),
            persistence: Default::default(),
            aof: Default::default(),
            cluster: std::sync::OnceLock::new(),
            repl_acks: tokio::sync::Notify::new(),
            keys_moved: tokio::sync::Notify::new(),
            moves_done: AtomicU64::new(0),
            migrate_links: Default::default(),
            repl_offset,
            me: me.clone(),
            pubsub: Default::default(),
            acl,
            connections: std::sync::atomic::AtomicUsize::new(0),
            blocked_clients: AtomicU64::new(0),
            memory_peak: AtomicU64::new(0),
            memory_startup: AtomicU64::new(0),
            telemetry,
            pause: Default::default(),
            scripts: Mutex::new(scripts),
            script_busy,
            script_stats,
            ops_samples: Mutex::new(std::collections::VecDeque::new()),
            tls: Arc::new(crate::tls::Tls::default()),
        })
    }

    /// The current typed settings (cheap: an `Arc` clone).
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.read().clone()
    }

    /// Bumped whenever the settings change, so connections can cache them and re-read only
    /// when this moves.
    pub fn settings_version(&self) -> u64 {
        self.settings_version.load(Ordering::Acquire)
    }

    /// Rebuilds the typed settings after the configuration changed.
    pub fn refresh_settings(&self) {
        let s = Arc::new(self.config.read().settings());
        if let Some(c) = self.cluster.get() {
            c.apply_settings(&s);
        }
        crate::idle_spin::set_budget_us(s.idle_spin_us);
        self.telemetry.apply_settings(&s);
        self.acl.apply_settings(&s);
        *self.settings.write() = s;
        self.settings_version.fetch_add(1, Ordering::Release);
    }

    /// Records a sample of the command counter (called by the housekeeping tick).
    pub fn sample_ops(&self) {
        let now = crate::util::now_ms();
        let n = self.stats.commands_processed.load(Ordering::Relaxed);
        let mut q = self.ops_samples.lock();
        q.push_back((now, n));
        while q.len() > 16 {
            q.pop_front();
        }
    }

    /// Commands per second over the last samples (about 1.6 s at hz 10).
    pub fn ops_per_sec(&self) -> u64 {
        let q = self.ops_samples.lock();
        match (q.front(), q.back()) {
            (Some(a), Some(b)) if b.0 > a.0 => (b.1 - a.1) * 1000 / (b.0 - a.0),
            _ => 0,
        }
    }

    /// An owning handle to this server's state, for handlers that start background tasks.
    pub fn arc(&self) -> Option<Arc<Shared>> {
        self.me.upgrade()
    }

    pub fn request_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }
}
