//! What command handlers see of the cluster: an immutable routing snapshot ([`View`]),
//! republished by the bus whenever ownership or health may have changed, plus the text
//! renderings of CLUSTER NODES / nodes.conf.

use super::node::{Health, Node};
use super::slots::format_ranges;
use super::state::ClusterState;
use slotcache_proto::slot::SLOTS;

/// Index meaning "no owner" in [`View::owners`].
pub const NO_OWNER: u16 = u16::MAX;

/// A routing snapshot: slot -> owner, owner addresses, and whether the cluster is up.
#[derive(Clone, Debug)]
pub struct View {
    pub myself: String,
    /// Owner of each slot, as an index into `addrs`, or [`NO_OWNER`].
    pub owners: Vec<u16>,
    /// `endpoint:port` of each owner referenced by `owners`, the endpoint as
    /// `cluster-preferred-endpoint-type` picks it (what MOVED names).
    pub addrs: Vec<String>,
    /// Index of myself in `addrs` (or `NO_OWNER` when I own nothing).
    pub me: u16,
    /// Index of my primary in `addrs` when I am a replica (else `NO_OWNER`).
    pub my_primary: u16,
    pub ok: bool,
    /// My slots being moved out: slot -> the target's `endpoint:port` (for -ASK).
    pub migrating: std::collections::HashMap<u16, String>,
    /// Slots being moved in: served here to clients that sent ASKING.
    pub importing: std::collections::HashSet<u16>,
}

impl View {
    pub fn empty() -> Self {
        View {
            myself: String::new(),
            owners: vec![NO_OWNER; SLOTS],
            addrs: Vec::new(),
            me: NO_OWNER,
            my_primary: NO_OWNER,
            ok: false,
            migrating: Default::default(),
            importing: Default::default(),
        }
    }

    pub fn build(s: &ClusterState) -> Self {
        // Node by node over the slot bitmaps (the owners table mirrors them): this runs after
        // every configuration change, so no per-slot look-ups by node id.
        let mut addrs: Vec<String> = Vec::new();
        let mut owners = vec![NO_OWNER; SLOTS];
        let mut me = NO_OWNER;
        let mut my_primary = NO_OWNER;
        let primary_id = s.me().primary_id();
        for n in s
            .nodes
            .values()
            .filter(|n| n.is_primary() && !n.slots.is_empty())
        {
            let i = addrs.len() as u16;
            addrs.push(format!("{}:{}", s.endpoint.text(n), n.port));
            if n.id == s.myself {
                me = i;
            }
            if Some(n.id.as_str()) == primary_id {
                my_primary = i;
            }
            for (a, b) in n.slots.ranges() {
                owners[a as usize..=b as usize].fill(i);
            }
        }
        let migrating = s
            .migrating
            .iter()
            .filter_map(|(slot, id)| {
                let n = s.nodes.get(id)?;
                Some((*slot, format!("{}:{}", s.endpoint.text(n), n.port)))
            })
            .collect();
        View {
            myself: s.myself.clone(),
            owners,
            addrs,
            me,
            my_primary,
            ok: s.ok,
            migrating,
            importing: s.importing.keys().copied().collect(),
        }
    }
}

/// One CLUSTER NODES line (without the newline).
pub fn node_line(s: &ClusterState, n: &Node, wall: &dyn Fn(u64) -> u64) -> String {
    let me = n.id == s.myself;
    let primary = n.primary_id().unwrap_or("-");
    let config_epoch = match n.primary_id().and_then(|p| s.nodes.get(p)) {
        Some(p) => p.config_epoch,
        None => n.config_epoch,
    };
    let (ping, pong) = if me {
        (0, 0)
    } else {
        (
            if n.ping_sent == 0 {
                0
            } else {
                wall(n.ping_sent)
            },
            wall(n.pong_received),
        )
    };
    let link = if me || n.link_up {
        "connected"
    } else {
        "disconnected"
    };
    let mut line = format!(
        "{} {} {} {} {} {} {} {}",
        n.id,
        n.addr_field(),
        n.flags_field(me),
        primary,
        ping,
        pong,
        config_epoch,
        link
    );
    if n.is_primary() && !n.slots.is_empty() {
        line.push(' ');
        line.push_str(&format_ranges(&n.slots.ranges()));
    }
    // Open slots, on the myself line only: what redis-cli --cluster check/fix look for.
    if me {
        for (slot, id) in &s.migrating {
            line.push_str(&format!(" [{slot}->-{id}]"));
        }
        for (slot, id) in &s.importing {
            line.push_str(&format!(" [{slot}-<-{id}]"));
        }
    }
    line
}

/// CLUSTER NODES: myself first, then the others (handshake nodes included, as Redis).
pub fn nodes_text(s: &ClusterState, wall: &dyn Fn(u64) -> u64) -> String {
    let mut out = String::new();
    out.push_str(&node_line(s, s.me(), wall));
    out.push('\n');
    for n in s.nodes.values().filter(|n| n.id != s.myself) {
        out.push_str(&node_line(s, n, wall));
        out.push('\n');
    }
    out
}

/// `health` as CLUSTER SHARDS reports it.
pub fn health_word(n: &Node) -> &'static str {
    match n.health {
        Health::Fail | Health::PFail => "fail",
        Health::Ok => "online",
    }
}
