//! A connection's session: what a client set up by talking to the server (database,
//! protocol, authentication, MULTI, WATCH, subscriptions, CLIENT REPLY) and handlers read
//! and change. What happens to the connection next is not session state: see
//! [`crate::flow::Next`].

use crate::clients::ClientHandle;
use std::sync::atomic::Ordering;
use std::sync::Arc;

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

/// The connection's session, owned by its task and lent to handlers.
pub struct Conn {
    pub id: u64,
    pub db: usize,
    pub resp3: bool,
    pub authenticated: bool,
    /// The ACL user whose permissions the connection's commands are checked against.
    pub user: Arc<crate::acl::User>,
    pub reply: ReplyMode,
    /// READONLY was sent: reads of a replica's slots are served here (cluster mode).
    pub readonly: bool,
    /// ASKING was sent: the next command may touch an importing slot.
    pub asking: bool,
    pub subs: Subscriptions,
    /// This connection's pub/sub queue, created on its first subscription.
    pub subscriber: Option<Arc<crate::pubsub::Subscriber>>,
    pub multi: Option<Multi>,
    /// Inside EXEC: blocking commands answer at once instead of blocking.
    pub in_exec: bool,
    /// A script's own client (Redis's `CLIENT_SCRIPT`): the few commands that answer a
    /// script differently (SORT of a set, XREAD BLOCK) check it.
    pub in_script: bool,
    pub watched: Vec<Watched>,
    /// CLIENT NO-TOUCH: reads do not refresh LRU/LFU clocks.
    pub no_touch: bool,
    /// The port a replica said it listens on (REPLCONF listening-port).
    pub repl_listening_port: u16,
    /// The replica announced `REPLCONF capa slotcache`: its full sync is slotcache's own
    /// snapshot; without it (redis-server) an RDB file.
    pub repl_capa_slotcache: bool,
    /// Replication offset after this client's last write (WAIT waits for it).
    pub woff: u64,
    /// CLIENT TRACKING is on: the tracking table has an entry to drop when it closes.
    pub tracking: bool,
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

impl Conn {
    pub fn new(handle: Arc<ClientHandle>, authenticated: bool) -> Self {
        Conn {
            id: handle.id,
            db: 0,
            resp3: false,
            authenticated,
            user: crate::acl::internal_user(),
            reply: ReplyMode::On,
            readonly: false,
            asking: false,
            subs: Subscriptions::default(),
            subscriber: None,
            multi: None,
            in_exec: false,
            in_script: false,
            watched: Vec::new(),
            no_touch: false,
            repl_listening_port: 0,
            repl_capa_slotcache: false,
            woff: 0,
            tracking: false,
            handle,
        }
    }

    /// Logs the connection in as `user`.
    pub fn login(&mut self, user: Arc<crate::acl::User>) {
        *self.handle.user.lock() = user.name_str();
        self.user = user;
        self.authenticated = true;
    }

    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.handle.db.store(db, Ordering::Relaxed);
    }
}
