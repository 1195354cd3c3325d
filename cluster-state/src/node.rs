//! What one node knows about a cluster member.

use super::slots::SlotSet;
use std::collections::HashMap;

/// A node is a primary or replicates one; never both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Primary,
    Replica { primary: String },
}

/// Failure state as seen by this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Ok,
    /// This node has not heard from it within the node timeout (`fail?`).
    PFail,
    /// A majority of primaries agreed it failed (`fail`).
    Fail,
}

#[derive(Clone, Debug)]
pub struct Node {
    pub id: String,
    pub ip: String,
    pub port: u16,
    pub cport: u16,
    /// `cluster-announce-hostname` as the node announces it (empty: none). Only the node
    /// itself says what it is: gossip about others never carries it (as Redis 7.0's ping
    /// extension).
    pub hostname: String,
    pub role: Role,
    pub health: Health,
    /// Met but not yet confirmed: `id` is a temporary random id until its first PONG.
    pub handshake: bool,
    pub nofailover: bool,
    pub config_epoch: u64,
    pub slots: SlotSet,
    /// Monotonic ms when the oldest unanswered PING was sent (0: none outstanding).
    pub ping_sent: u64,
    /// Monotonic ms of the last PING we sent (pacing).
    pub last_ping: u64,
    /// Monotonic ms of the last PONG (or of creation, so a new node is not instantly PFAIL).
    pub pong_received: u64,
    /// Whether our outbound bus link to it is connected.
    pub link_up: bool,
    /// Reporter id -> monotonic ms of its latest PFAIL/FAIL report about this node.
    pub fail_reports: HashMap<String, u64>,
    pub fail_time: u64,
    pub repl_offset: u64,
    pub created: u64,
    /// Newest `(boot, seq)` applied from this node; older frames are stale (see `state.rs`).
    pub last_frame: (u64, u64),
    /// The incarnation before `last_frame.0`: its frames are stale too.
    pub prev_boot: u64,
    /// Monotonic ms when it last turned `Ok` after we suspected it (0: never suspected).
    /// Its failure reports count only a node timeout after that: a node that rejoins
    /// still gossips the suspicions its own isolation produced.
    pub ok_since: u64,
    /// Monotonic ms when our outbound link to it last came up.
    pub link_since: u64,
}

impl Node {
    pub fn new(id: String, ip: String, port: u16, cport: u16, now: u64) -> Self {
        Node {
            id,
            ip,
            port,
            cport,
            hostname: String::new(),
            role: Role::Primary,
            health: Health::Ok,
            handshake: false,
            nofailover: false,
            config_epoch: 0,
            slots: SlotSet::default(),
            ping_sent: 0,
            last_ping: 0,
            pong_received: now,
            link_up: false,
            fail_reports: HashMap::new(),
            fail_time: 0,
            repl_offset: 0,
            created: now,
            last_frame: (0, 0),
            prev_boot: 0,
            ok_since: 0,
            link_since: 0,
        }
    }

    pub fn is_primary(&self) -> bool {
        self.role == Role::Primary
    }

    pub fn primary_id(&self) -> Option<&str> {
        match &self.role {
            Role::Primary => None,
            Role::Replica { primary } => Some(primary),
        }
    }

    /// `ip:port@cport[,hostname]`, as CLUSTER NODES and nodes.conf print the address
    /// (Redis 7.0 appends the hostname only when the node announces one).
    pub fn addr_field(&self) -> String {
        if self.hostname.is_empty() {
            format!("{}:{}@{}", self.ip, self.port, self.cport)
        } else {
            format!("{}:{}@{},{}", self.ip, self.port, self.cport, self.hostname)
        }
    }

    /// Comma-separated flags in Redis's order (`myself,master`, `slave,fail`, ...).
    pub fn flags_field(&self, myself: bool) -> String {
        let mut f = Vec::new();
        if myself {
            f.push("myself");
        }
        f.push(if self.is_primary() { "master" } else { "slave" });
        match self.health {
            Health::PFail => f.push("fail?"),
            Health::Fail => f.push("fail"),
            Health::Ok => {}
        }
        if self.handshake {
            f.push("handshake");
        }
        if self.ip.is_empty() && !myself {
            f.push("noaddr");
        }
        if self.nofailover {
            f.push("nofailover");
        }
        f.join(",")
    }
}
