//! Connected clients as the server sees them all: each one's shared [`ClientHandle`] (what
//! CLIENT LIST shows and CLIENT KILL ends) and the [`Registry`] of them. A connection's own
//! session is [`crate::session`].

use parking_lot::Mutex;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;

/// What other connections can see of a client, and how they can end it.
pub struct ClientHandle {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub created: Instant,
    pub name: Mutex<String>,
    /// The ACL user the client is logged in as (CLIENT LIST `user=`, CLIENT KILL USER).
    pub user: Mutex<String>,
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
    /// Where messages for this client go outside its replies (pub/sub, invalidations):
    /// set once it subscribes, enables tracking or speaks RESP3.
    pub push: Mutex<Option<Arc<crate::pubsub::Subscriber>>>,
    /// CLIENT LIST's `redir=`: the client its tracking redirects to (-1: not tracking).
    pub tracking_redir: std::sync::atomic::AtomicI64,
}

impl ClientHandle {
    pub fn new(id: u64, addr: SocketAddr, laddr: SocketAddr) -> Self {
        ClientHandle {
            id,
            addr,
            laddr,
            created: Instant::now(),
            name: Mutex::new(String::new()),
            user: Mutex::new("default".into()),
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
            push: Mutex::new(None),
            tracking_redir: std::sync::atomic::AtomicI64::new(-1),
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
    /// still in the query buffer, as in Redis). `name_of` names the last command from
    /// [`ClientHandle::last_spec`] (the command table lives above this module).
    pub fn info_line(
        &self,
        current: Option<&[bytes::Bytes]>,
        name_of: impl Fn(usize) -> Option<String>,
    ) -> String {
        let multi = -1;
        let qbuf = self.qbuf_pending.load(Ordering::Relaxed) + current.map_or(0, encoded_len);
        let cmd =
            name_of(self.last_spec.load(Ordering::Relaxed)).unwrap_or_else(|| "NULL".to_string());
        format!(
            "id={} addr={} laddr={} fd=0 name={} age={} idle={} flags={} db={} sub=0 psub=0 ssub=0 multi={} qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem={} tot-mem={} events=r cmd={} user={} redir={} resp={} lib-name={} lib-ver={}",
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
            self.user.lock(),
            self.tracking_redir.load(Ordering::Relaxed),
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

    pub fn get(&self, id: u64) -> Option<Arc<ClientHandle>> {
        self.clients.lock().get(&id).cloned()
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
