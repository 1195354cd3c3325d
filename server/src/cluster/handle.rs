//! [`Cluster`]: the state machine behind its lock, the published routing view, and the
//! clocks and persistence around them. Shared by the bus thread and command handlers.
//!
//! Lock order: a command handler may take this state lock while holding the keyspace lock;
//! the bus never takes the keyspace lock while holding the state lock.

use super::nodes_conf;
use super::state::ClusterState;
use super::view::View;
use parking_lot::{Mutex, RwLock};
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
}

impl Cluster {
    pub fn new(state: ClusterState, path: PathBuf) -> Arc<Self> {
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
        })
    }

    /// Applies runtime-tunable options (CONFIG SET cluster-node-timeout etc.).
    pub fn apply_settings(&self, s: &crate::config::Settings) {
        let mut st = self.state.lock();
        st.node_timeout = s.cluster_node_timeout;
        st.require_full_coverage = s.cluster_require_full_coverage;
        let now = self.now();
        st.update_state(now);
        self.allow_reads_when_down
            .store(s.cluster_allow_reads_when_down, std::sync::atomic::Ordering::Relaxed);
        self.publish(&mut st);
    }

    /// Monotonic milliseconds since the node started (the state machine's clock).
    pub fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    /// Converts a monotonic instant into Unix milliseconds (for CLUSTER NODES only).
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
        *self.view.write() = Arc::new(View::build(s));
        if s.needs_save {
            s.needs_save = false;
            let _ = self.saver.lock().send((nodes_conf::render(s), None));
        }
    }

    /// Writes the state now and waits until it is on disk (CLUSTER SAVECONFIG, votes).
    pub fn save_now(&self, s: &mut ClusterState) -> Result<(), String> {
        s.needs_save = false;
        crate::config::write_atomically(&self.path, nodes_conf::render(s).as_bytes())
            .map_err(|e| format!("ERR error saving the cluster node config: {e}"))
    }
}
