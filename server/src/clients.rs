//! Connected clients: the per-connection state a handler mutates ([`Conn`]) and the shared
//! handle other connections read for CLIENT LIST / KILL ([`ClientHandle`]).

use parking_lot::Mutex;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;

/// CLIENT REPLY modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Suppress the reply of the next command only.
    Skip,
    /// Set by `CLIENT REPLY SKIP` while that command itself runs.
    SkipNext,
}

/// What other connections can see of a client, and how they can end it.
pub struct ClientHandle {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub created: Instant,
    pub name: Mutex<String>,
    pub lib_name: Mutex<String>,
    pub lib_ver: Mutex<String>,
    /// The spec of the last command this client ran (its address; 0: none yet), for
    /// CLIENT LIST's `cmd=` (`client|list`, as Redis names it).
    pub last_spec: AtomicUsize,
    /// Bytes read from the client and not yet parsed into commands (CLIENT LIST `qbuf=`).
    pub qbuf_pending: AtomicUsize,
    pub db: AtomicUsize,
    pub resp: AtomicUsize,
    /// Milliseconds since `created` of the last command.
    pub last_interaction_ms: AtomicU64,
    /// Room of the query buffer (used or not), as last reported.
    pub query_buf: AtomicUsize,
    /// Bytes in the query buffer not yet parsed (CLIENT LIST `qbuf`).
    pub query_len: AtomicUsize,
    pub out_buf: AtomicUsize,
    pub no_evict: AtomicBool,
    pub killed: AtomicBool,
    pub kill: Notify,
    pub flags: Mutex<String>,
    /// Parked in a blocking command (CLIENT LIST shows flag `b`).
    pub blocked: AtomicBool,
}

impl ClientHandle {
    pub fn new(id: u64, addr: SocketAddr, laddr: SocketAddr) -> Self {
        ClientHandle {
            id,
            addr,
            laddr,
            created: Instant::now(),
            name: Mutex::new(String::new()),
            lib_name: Mutex::new(String::new()),
            lib_ver: Mutex::new(String::new()),
            last_spec: AtomicUsize::new(0),
            qbuf_pending: AtomicUsize::new(0),
            db: AtomicUsize::new(0),
            resp: AtomicUsize::new(2),
            last_interaction_ms: AtomicU64::new(0),
            query_buf: AtomicUsize::new(0),
            query_len: AtomicUsize::new(0),
            out_buf: AtomicUsize::new(0),
            no_evict: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            kill: Notify::new(),
            flags: Mutex::new("N".into()),
            blocked: AtomicBool::new(false),
        }
    }

    /// Asks the connection to close after its current batch.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.kill.notify_one();
    }

    pub fn idle_secs(&self) -> u64 {
        let now = self.created.elapsed().as_millis() as u64;
        now.saturating_sub(self.last_interaction_ms.load(Ordering::Relaxed)) / 1000
    }

    /// The `flags=` field: the connection's role flags plus `b` while it is blocked (`N`,
    /// "no flag", only when there is none).
    fn flags_text(&self) -> String {
        let base = self.flags.lock();
        if !self.blocked.load(Ordering::Relaxed) {
            return base.clone();
        }
        let mut f: String = base.chars().filter(|c| *c != 'N').collect();
        f.push('b');
        f
    }

    /// One line of CLIENT LIST / CLIENT INFO, in Redis's field order. `current`: the
    /// command being run, when this is the line of the client running it (its bytes are
    /// still in the query buffer, as in Redis).
    pub fn info_line(&self, current: Option<&[bytes::Bytes]>) -> String {
        let multi = -1;
        let qbuf = self.qbuf_pending.load(Ordering::Relaxed) + current.map_or(0, encoded_len);
        let cmd = crate::commands::table::full_name_of(self.last_spec.load(Ordering::Relaxed))
            .unwrap_or_else(|| "NULL".to_string());
        format!(
            "id={} addr={} laddr={} fd=0 name={} age={} idle={} flags={} db={} sub=0 psub=0 ssub=0 multi={} qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem={} tot-mem={} events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.name.lock(),
            self.created.elapsed().as_secs(),
            self.idle_secs(),
            self.flags_text(),
            self.db.load(Ordering::Relaxed),
            multi,
            qbuf,
            self.query_buf.load(Ordering::Relaxed).saturating_sub(qbuf),
            self.out_buf.load(Ordering::Relaxed),
            self.query_buf.load(Ordering::Relaxed) + self.out_buf.load(Ordering::Relaxed) + 16384,
            cmd,
            self.resp.load(Ordering::Relaxed),
            self.lib_name.lock(),
            self.lib_ver.lock(),
        )
    }
}

/// The size of a command as a RESP multibulk request.
fn encoded_len(args: &[bytes::Bytes]) -> usize {
    let digits = |n: usize| n.to_string().len();
    3 + digits(args.len())
        + args
            .iter()
            .map(|a| 1 + digits(a.len()) + 2 + a.len() + 2)
            .sum::<usize>()
}

/// The connection's own state, owned by its task and lent to handlers.
pub struct Conn {
    pub id: u64,
    pub db: usize,
    pub resp3: bool,
    pub authenticated: bool,
    pub reply: ReplyMode,
    /// Close once the current reply is written (QUIT, CLIENT KILL of oneself).
    pub close_after_reply: bool,
    /// Begin a server shutdown after this batch (SHUTDOWN).
    pub shutdown_requested: bool,
    /// READONLY was sent: reads of a replica's slots are served here (cluster mode).
    pub readonly: bool,
    /// ASKING was sent: the next command may touch an importing slot.
    pub asking: bool,
    pub subs: Subscriptions,
    /// This connection's pub/sub queue, created on its first subscription.
    pub subscriber: Option<Arc<crate::pubsub::Subscriber>>,
    /// The receiving end of that queue; the connection task takes it.
    pub push_rx: Option<tokio::sync::mpsc::UnboundedReceiver<bytes::Bytes>>,
    pub multi: Option<Multi>,
    /// Inside EXEC: blocking commands answer at once instead of blocking.
    pub in_exec: bool,
    /// Set by a blocking command that found nothing: the connection parks on these keys.
    pub block: Option<BlockRequest>,
    pub watched: Vec<Watched>,
    /// CLIENT NO-TOUCH: reads do not refresh LRU/LFU clocks.
    pub no_touch: bool,
    /// The port a replica said it listens on (REPLCONF listening-port).
    pub repl_listening_port: u16,
    /// Replication offset after this client's last write (WAIT waits for it).
    pub woff: u64,
    /// A WAIT in progress: the connection replies once enough replicas acknowledged.
    pub wait: Option<Wait>,
    /// A MIGRATE whose keys are serialized: the connection sends them after this batch.
    pub migrate: Option<crate::migration::Job>,
    /// The next command writes a key that a MIGRATE is moving: run it once that is done.
    pub wait_in_flight: bool,
    /// The last command is held back by CLIENT PAUSE: run it again once the pause ends.
    pub paused: bool,
    /// The last command needs the cluster state lock, which was busy: run it again once the
    /// lock is free (see `commands::cluster`).
    pub retry_cluster: bool,
    /// `Shared::moves_done` when that wait was decided.
    pub moves_seen: u64,
    /// Set by PSYNC: the connection becomes a replica link after this batch.
    pub replica_link: Option<Arc<crate::replication::feed::ReplicaLink>>,
    pub handle: Arc<ClientHandle>,
}

/// A connection's pub/sub subscriptions (mirrored in the shared registry).
#[derive(Default, Debug)]
pub struct Subscriptions {
    channels: std::collections::BTreeSet<Vec<u8>>,
    patterns: std::collections::BTreeSet<Vec<u8>>,
    shard: std::collections::BTreeSet<Vec<u8>>,
}

impl Subscriptions {
    fn set(&mut self, kind: crate::pubsub::Kind) -> &mut std::collections::BTreeSet<Vec<u8>> {
        match kind {
            crate::pubsub::Kind::Channel => &mut self.channels,
            crate::pubsub::Kind::Pattern => &mut self.patterns,
            crate::pubsub::Kind::Shard => &mut self.shard,
        }
    }

    /// Adds a subscription; true when it is new.
    pub fn subscribe(&mut self, kind: crate::pubsub::Kind, name: &[u8]) -> bool {
        self.set(kind).insert(name.to_vec())
    }

    pub fn unsubscribe(&mut self, kind: crate::pubsub::Kind, name: &[u8]) -> bool {
        self.set(kind).remove(name)
    }

    pub fn names(&mut self, kind: crate::pubsub::Kind) -> Vec<Vec<u8>> {
        self.set(kind).iter().cloned().collect()
    }

    /// The count Redis reports after (un)subscribing: channels and patterns together, or
    /// shard channels alone.
    pub fn count(&self, kind: crate::pubsub::Kind) -> usize {
        match kind {
            crate::pubsub::Kind::Shard => self.shard.len(),
            _ => self.channels.len() + self.patterns.len(),
        }
    }

    pub fn total(&self) -> usize {
        self.channels.len() + self.patterns.len() + self.shard.len()
    }
}

/// MULTI state: queued commands, and whether queuing hit an error (EXECABORT).
#[derive(Default, Debug)]
pub struct Multi {
    pub queued: Vec<Vec<bytes::Bytes>>,
    pub failed: bool,
}

/// One WATCHed key: where it is, its modification version and whether it existed then.
#[derive(Clone, Debug)]
pub struct Watched {
    pub db: usize,
    pub key: Vec<u8>,
    pub version: u64,
    pub existed: bool,
}

/// What a blocking command waits for: any of `keys` to become ready, until `deadline`
/// (`None`: forever).
#[derive(Clone, Debug)]
pub struct BlockRequest {
    pub keys: Vec<Vec<u8>>,
    pub deadline: Option<tokio::time::Instant>,
}

/// WAIT numreplicas timeout, parked until acknowledgements arrive or time runs out.
#[derive(Clone, Copy, Debug)]
pub struct Wait {
    pub offset: u64,
    pub replicas: usize,
    /// `None`: wait forever (timeout 0).
    pub deadline: Option<tokio::time::Instant>,
}

impl Conn {
    pub fn new(handle: Arc<ClientHandle>, authenticated: bool) -> Self {
        Conn {
            id: handle.id,
            db: 0,
            resp3: false,
            authenticated,
            reply: ReplyMode::On,
            close_after_reply: false,
            shutdown_requested: false,
            readonly: false,
            asking: false,
            subs: Subscriptions::default(),
            subscriber: None,
            push_rx: None,
            multi: None,
            in_exec: false,
            block: None,
            watched: Vec::new(),
            no_touch: false,
            repl_listening_port: 0,
            woff: 0,
            wait: None,
            migrate: None,
            wait_in_flight: false,
            retry_cluster: false,
            paused: false,
            moves_seen: 0,
            replica_link: None,
            handle,
        }
    }

    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.handle.db.store(db, Ordering::Relaxed);
    }
}

/// All connected clients.
#[derive(Default)]
pub struct Registry {
    pub clients: Mutex<std::collections::BTreeMap<u64, Arc<ClientHandle>>>,
    next_id: AtomicU64,
    /// Bytes held by every client's query and output buffers together, as each connection
    /// last reported them ([`crate::client_memory::Usage`]); `maxmemory-clients` reads it.
    pub memory: AtomicUsize,
    /// Clients closed by `maxmemory-clients` (INFO evicted_clients).
    pub evicted: AtomicU64,
}

impl Registry {
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn add(&self, h: Arc<ClientHandle>) {
        self.clients.lock().insert(h.id, h);
    }

    pub fn remove(&self, id: u64) {
        self.clients.lock().remove(&id);
    }

    pub fn len(&self) -> usize {
        self.clients.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn snapshot(&self) -> Vec<Arc<ClientHandle>> {
        self.clients.lock().values().cloned().collect()
    }
}
