//! [`Cluster`]: the state machine behind its lock, the published routing view, and the
//! clocks and persistence around them. Shared by the bus thread and command handlers.
//!
//! Lock order: a command handler may take this state lock while holding the keyspace lock;
//! the bus never takes the keyspace lock while holding the state lock.

use super::nodes_conf;
use super::state::ClusterState;
use super::view::View;
use parking_lot::{Mutex, RwLock};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub struct Cluster {
    pub state: Mutex<ClusterState>,
    view: RwLock<Arc<View>>,
    saver: Mutex<mpsc::Sender<(String, Option<mpsc::Sender<()>>)>>,
    pub path: PathBuf,
    epoch: Instant,
    wall_at_epoch: u64,
    pub allow_reads_when_down: std::sync::atomic::AtomicBool,
    /// `cluster-allow-pubsubshard-when-down`, read by routing.
    pub allow_pubsubshard_when_down: std::sync::atomic::AtomicBool,
    /// The node's replication offset (shared with the replication feed).
    pub repl_offset: Arc<std::sync::atomic::AtomicU64>,
    /// Published each tick: when a majority was last heard from (the write lease), and until
    /// when writes are paused for a manual failover (monotonic ms; 0 = not paused).
    pub majority_at: std::sync::atomic::AtomicU64,
    pub paused_until: std::sync::atomic::AtomicU64,
    pub node_timeout: std::sync::atomic::AtomicU64,
    /// Actions decided outside the bus thread (CLUSTER FAILOVER, PUBLISH), carried out by
    /// the bus as soon as it wakes (see `outbox_ready`).
    outbox: Mutex<Vec<super::state::Action>>,
    /// Wakes the bus thread when the outbox fills, so a PUBLISH reaches the other nodes at
    /// once rather than at the next tick (up to 100 ms later).
    pub outbox_ready: tokio::sync::Notify,
    /// Published: restarted empty and waiting for a replica to take over (refuse PSYNC).
    pub rejoining: std::sync::atomic::AtomicBool,
    /// The bus connections open now (CLUSTER LINKS).
    pub links: super::links::LinkTable,
    /// Bus bytes by message type, counted where frames are encoded and decoded (the state
    /// machine counts messages but never sees frames).
    pub traffic: Traffic,
    /// The bus secret in force and the connections it refused (see `bus_auth.rs`).
    pub auth: super::bus_auth::BusAuth,
}

/// Bytes of bus frames sent and received, by message type (`ping`, `fail`...).
#[derive(Default)]
pub struct Traffic {
    bytes: Mutex<BTreeMap<(&'static str, bool), u64>>,
}

impl Traffic {
    pub fn sent(&self, kind: &super::message::Kind, n: usize) {
        *self
            .bytes
            .lock()
            .entry((super::state::kind_name(kind), true))
            .or_default() += n as u64;
    }

    pub fn received(&self, kind: &super::message::Kind, n: usize) {
        *self
            .bytes
            .lock()
            .entry((super::state::kind_name(kind), false))
            .or_default() += n as u64;
    }

    /// `(type, sent, bytes)` for every type seen.
    pub fn snapshot(&self) -> Vec<(&'static str, bool, u64)> {
        self.bytes
            .lock()
            .iter()
            .map(|(&(k, out), &n)| (k, out, n))
            .collect()
    }
}

impl Cluster {
    pub fn new(
        state: ClusterState,
        path: PathBuf,
        repl_offset: Arc<std::sync::atomic::AtomicU64>,
    ) -> Arc<Self> {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let view = Arc::new(View::build(&state));
        let saver = nodes_conf::spawn_saver(path.clone());
        Arc::new(Cluster {
            state: Mutex::new(state),
            view: RwLock::new(view),
            saver: Mutex::new(saver),
            path,
            epoch: Instant::now(),
            wall_at_epoch: wall,
            allow_reads_when_down: std::sync::atomic::AtomicBool::new(false),
            allow_pubsubshard_when_down: std::sync::atomic::AtomicBool::new(true),
            repl_offset,
            majority_at: std::sync::atomic::AtomicU64::new(0),
            paused_until: std::sync::atomic::AtomicU64::new(0),
            node_timeout: std::sync::atomic::AtomicU64::new(15000),
            outbox: Mutex::new(Vec::new()),
            outbox_ready: tokio::sync::Notify::new(),
            rejoining: std::sync::atomic::AtomicBool::new(false),
            links: super::links::LinkTable::default(),
            traffic: Traffic::default(),
            auth: Default::default(),
        })
    }

    /// Applies runtime-tunable options (CONFIG SET cluster-node-timeout etc.).
    pub fn apply_settings(&self, s: &crate::config::Settings) {
        self.auth.set(&s.cluster_secret, &s.cluster_secret_previous);
        let mut st = self.state.lock();
        st.set_node_timeout(s.cluster_node_timeout);
        st.set_require_full_coverage(s.cluster_require_full_coverage);
        st.set_replica_no_failover(s.cluster_replica_no_failover);
        st.set_validity_factor(s.cluster_replica_validity_factor);
        st.set_migration_barrier(s.cluster_migration_barrier);
        st.set_repl_ping_period_ms(s.repl_ping_period_secs * 1000);
        st.set_announce(super::announce::Announce {
            ip: s.cluster_announce_ip.clone(),
            port: s.cluster_announce_port,
            bus_port: s.cluster_announce_bus_port,
            hostname: s.cluster_announce_hostname.clone(),
        });
        st.set_endpoint(s.cluster_preferred_endpoint);
        let now = self.now();
        st.update_state(now);
        self.allow_reads_when_down.store(
            s.cluster_allow_reads_when_down,
            std::sync::atomic::Ordering::Relaxed,
        );
        self.allow_pubsubshard_when_down.store(
            s.cluster_allow_pubsubshard_when_down,
            std::sync::atomic::Ordering::Relaxed,
        );
        self.publish(&mut st);
    }

    /// Queues actions for the bus thread and wakes it.
    pub fn enqueue(&self, actions: Vec<super::state::Action>) {
        if actions.is_empty() {
            return;
        }
        self.outbox.lock().extend(actions);
        self.outbox_ready.notify_one();
    }

    /// Takes the queued actions (the bus calls this when woken and each tick).
    pub fn take_outbox(&self) -> Vec<super::state::Action> {
        std::mem::take(&mut *self.outbox.lock())
    }

    /// Whether this node, as a slot-owning primary, may still serve: it heard from a
    /// majority of primaries within its lease (half the node timeout — shorter than the
    /// node timeout after which the majority can start replacing it).
    pub fn lease_ok(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let lease = self.node_timeout.load(Relaxed) / 2;
        self.now().saturating_sub(self.majority_at.load(Relaxed)) <= lease
    }

    /// Whether writes are paused for a manual failover.
    pub fn writes_paused(&self) -> bool {
        let until = self.paused_until.load(std::sync::atomic::Ordering::Relaxed);
        until != 0 && self.now() < until
    }

    /// Monotonic milliseconds since the node started (the state machine's clock).
    pub fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// Converts a monotonic instant into Unix milliseconds (for CLUSTER NODES and LINKS).
    pub fn wall(&self, mono: u64) -> u64 {
        self.wall_at_epoch + mono
    }

    /// The current routing snapshot.
    pub fn view(&self) -> Arc<View> {
        self.view.read().clone()
    }

    /// Republishes the routing view and queues a save when durable state changed. Call with
    /// the state lock held (pass the guard's target).
    pub fn publish(&self, s: &mut ClusterState) {
        use std::sync::atomic::Ordering::Relaxed;
        self.rejoining.store(s.rejoining(), Relaxed);
        self.majority_at.store(s.majority_at(), Relaxed);
        self.paused_until.store(s.paused_until(), Relaxed);
        self.node_timeout.store(s.node_timeout(), Relaxed);
        *self.view.write() = Arc::new(View::build(s));
        if s.take_needs_save() {
            let _ = self.saver.lock().send((nodes_conf::render(s), None));
        }
    }

    /// Records an event this node saw outside the state machine (a replica's full resync),
    /// about itself and its shard; the bus publishes it with the next tick.
    pub fn record_event(&self, kind: super::events::Kind, extra: serde_json::Value) {
        let mut s = self.state.lock();
        let me = s.me();
        let (id, epoch) = (me.id.clone(), me.config_epoch);
        let shard = me.primary_id().unwrap_or(&id).to_string();
        s.events_mut().record(kind, &id, &shard, epoch, extra);
    }

    /// The events the state machine queued, as deliveries to this node's subscribers of
    /// the events channel. Call with the state lock held.
    pub fn drain_events(&self, s: &mut ClusterState) -> Vec<super::state::Action> {
        let me = s.myself().to_string();
        s.events_mut()
            .take(&me, self.wall(self.now()))
            .into_iter()
            .map(|message| super::state::Action::Deliver {
                channel: super::events::CHANNEL.as_bytes().to_vec(),
                message,
                shard: false,
            })
            .collect()
    }

    /// Writes the state now and waits until it is on disk (CLUSTER SAVECONFIG, votes).
    pub fn save_now(&self, s: &mut ClusterState) -> Result<(), String> {
        s.take_needs_save();
        slotcache_util::fs::write_atomically(&self.path, nodes_conf::render(s).as_bytes())
            .map_err(|e| format!("ERR error saving the cluster node config: {e}"))
    }
}
