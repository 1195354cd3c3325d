//! The cluster state machine: membership, slot ownership, epochs and failure detection.
//!
//! It is synchronous and takes `now` (monotonic milliseconds) as an argument, so the rules
//! below are unit-tested without sockets or sleeps. The bus feeds it messages and ticks and
//! carries out the [`Action`]s it returns; command handlers call its methods for CLUSTER
//! subcommands.
//!
//! Rules (as Redis Cluster):
//! - Every message carries the sender's view of itself (id, address, role, claimed slots,
//!   configEpoch, currentEpoch) and gossip about a few other nodes; a node introduced to one
//!   member with MEET learns the rest from gossip and handshakes with them.
//! - A slot claimed by a primary is adopted when nobody owns it or its owner's configEpoch is
//!   lower; a claim with a lower configEpoch than the owner's gets an UPDATE back. Two
//!   primaries with the same configEpoch resolve the collision: the one with the smaller id
//!   takes a new epoch.
//! - A node not heard from for the node timeout is PFAIL; when a majority of slot-owning
//!   primaries report it (reports valid for 2x the timeout), it becomes FAIL and the FAIL is
//!   broadcast. FAIL clears when it answers again (for a primary with slots, once no one has
//!   taken its slots for 2x the timeout).

use super::message::{self, nflags, Gossip, Header, Kind, Message};
use super::node::{Health, Node, Role};
use super::slots::SlotSet;
use crate::keyspace::slot::SLOTS;
use rand::seq::SliceRandom;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use tracing::{info, warn};

/// How long CLUSTER FORGET keeps a node from being re-added by gossip.
pub const FORGET_BAN_MS: u64 = 60_000;

/// Where a message came from.
#[derive(Clone, Debug)]
pub enum Source {
    /// Our outbound link to the node currently known under this id.
    Outbound(String),
    /// An inbound connection: the peer's address and our local address on it.
    Inbound { peer: IpAddr, local: IpAddr },
}

/// What the bus must do after a state change.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send on our outbound link to this node id.
    Send(String, Message),
    /// Reply on the connection the message arrived on.
    Reply(Message),
    /// Deliver a PUBLISH from another node to local subscribers.
    Deliver { channel: Vec<u8>, message: Vec<u8> },
}

/// Counters for CLUSTER INFO's `cluster_stats_messages_*`.
#[derive(Default, Debug, Clone)]
pub struct MsgStats {
    pub sent: BTreeMap<&'static str, u64>,
    pub received: BTreeMap<&'static str, u64>,
}

fn kind_name(k: &Kind) -> &'static str {
    match k {
        Kind::Ping => "ping",
        Kind::Pong => "pong",
        Kind::Meet => "meet",
        Kind::Fail { .. } => "fail",
        Kind::Update { .. } => "update",
        Kind::Publish { .. } => "publish",
    }
}

pub struct ClusterState {
    pub myself: String,
    pub nodes: BTreeMap<String, Node>,
    /// Slot -> owning primary's id.
    pub owners: Vec<Option<String>>,
    pub current_epoch: u64,
    pub last_vote_epoch: u64,
    pub node_timeout: u64,
    pub require_full_coverage: bool,
    /// Whether the address was given by `cluster-announce-ip` (then MEETs don't change it).
    pub announced_ip: bool,
    pub ok: bool,
    /// Forgotten node id -> monotonic ms until which gossip may not re-add it.
    pub banned: HashMap<String, u64>,
    /// Durable state changed: nodes.conf must be written.
    pub needs_save: bool,
    pub stats: MsgStats,
}

impl ClusterState {
    pub fn new(myself: String, ip: String, port: u16, cport: u16, node_timeout: u64, now: u64) -> Self {
        let mut nodes = BTreeMap::new();
        let announced = !ip.is_empty();
        nodes.insert(myself.clone(), Node::new(myself.clone(), ip, port, cport, now));
        ClusterState {
            myself,
            nodes,
            owners: vec![None; SLOTS],
            current_epoch: 0,
            last_vote_epoch: 0,
            node_timeout,
            require_full_coverage: true,
            announced_ip: announced,
            ok: false,
            banned: HashMap::new(),
            needs_save: true,
            stats: MsgStats::default(),
        }
    }

    pub fn me(&self) -> &Node {
        &self.nodes[&self.myself]
    }

    fn me_mut(&mut self) -> &mut Node {
        let id = self.myself.clone();
        self.nodes.get_mut(&id).expect("myself is always known")
    }

    /// Interval between PINGs to each peer: a tenth of the node timeout, 20ms..1s, so a
    /// node is pinged about ten times before it can be suspected.
    pub fn ping_interval(&self) -> u64 {
        (self.node_timeout / 10).clamp(20, 1000)
    }

    /// Number of primaries that own at least one slot (the electorate).
    pub fn size(&self) -> usize {
        self.nodes
            .values()
            .filter(|n| n.is_primary() && !n.slots.is_empty())
            .count()
    }

    fn quorum(&self) -> usize {
        self.size() / 2 + 1
    }

    /// The header describing myself.
    pub fn header(&self) -> Header {
        let me = self.me();
        let (slots, config_epoch) = match &me.role {
            Role::Primary => (me.slots.ranges(), me.config_epoch),
            Role::Replica { primary } => match self.nodes.get(primary) {
                Some(p) => (p.slots.ranges(), p.config_epoch),
                None => (Vec::new(), 0),
            },
        };
        let mut flags = if me.is_primary() { nflags::PRIMARY } else { nflags::REPLICA };
        if me.nofailover {
            flags |= nflags::NOFAILOVER;
        }
        Header {
            id: me.id.clone(),
            ip: if self.announced_ip { me.ip.clone() } else { String::new() },
            port: me.port,
            cport: me.cport,
            flags,
            primary: me.primary_id().map(String::from),
            config_epoch,
            current_epoch: self.current_epoch,
            slots,
            repl_offset: me.repl_offset,
        }
    }

    fn gossip_for(&self, exclude: &str) -> Vec<Gossip> {
        let mut candidates: Vec<&Node> = self
            .nodes
            .values()
            .filter(|n| n.id != self.myself && n.id != exclude && !n.handshake && !n.ip.is_empty())
            .collect();
        let wanted = (self.nodes.len() / 10).max(3);
        candidates.shuffle(&mut rand::thread_rng());
        // Suspected nodes always travel, so failure reports spread quickly.
        candidates.sort_by_key(|n| n.health == Health::Ok);
        candidates
            .into_iter()
            .take(wanted)
            .map(|n| Gossip {
                id: n.id.clone(),
                ip: n.ip.clone(),
                port: n.port,
                cport: n.cport,
                flags: node_flags(n),
                pong_age_ms: 0,
            })
            .collect()
    }

    /// Builds a message from myself, counting it as sent.
    pub fn build(&mut self, kind: Kind, to: &str) -> Message {
        *self.stats.sent.entry(kind_name(&kind)).or_default() += 1;
        let gossip = match kind {
            Kind::Ping | Kind::Pong | Kind::Meet => self.gossip_for(to),
            _ => Vec::new(),
        };
        Message {
            version: message::VERSION,
            kind,
            sender: self.header(),
            gossip,
        }
    }

    /// Messages to every known, confirmed node.
    fn broadcast(&mut self, kind: Kind) -> Vec<Action> {
        let ids: Vec<String> = self
            .nodes
            .values()
            .filter(|n| n.id != self.myself && !n.handshake)
            .map(|n| n.id.clone())
            .collect();
        ids.into_iter()
            .map(|id| {
                let m = self.build(kind.clone(), &id);
                Action::Send(id, m)
            })
            .collect()
    }

    /// Sends a PUBLISH to every node.
    pub fn publish(&mut self, channel: Vec<u8>, message: Vec<u8>) -> Vec<Action> {
        self.broadcast(Kind::Publish { channel, message })
    }

    // ----- slots -------------------------------------------------------------------------

    pub fn assign(&mut self, slot: u16, id: &str) {
        if let Some(old) = self.owners[slot as usize].take() {
            if let Some(n) = self.nodes.get_mut(&old) {
                n.slots.remove(slot);
            }
        }
        if let Some(n) = self.nodes.get_mut(id) {
            n.slots.insert(slot);
            self.owners[slot as usize] = Some(id.to_string());
        }
        self.needs_save = true;
    }

    pub fn unassign(&mut self, slot: u16) {
        if let Some(old) = self.owners[slot as usize].take() {
            if let Some(n) = self.nodes.get_mut(&old) {
                n.slots.remove(slot);
            }
            self.needs_save = true;
        }
    }

    /// Applies a primary's slot claims under the configEpoch rule. Returns an UPDATE to send
    /// back when the sender claims slots owned by a node with a newer config.
    fn apply_claims(&mut self, sender: &str, epoch: u64, claimed: &SlotSet) -> Option<Kind> {
        let mut stale_owner: Option<(String, u64)> = None;
        for slot in claimed.iter() {
            match self.owners[slot as usize].clone() {
                Some(o) if o == sender => {}
                Some(o) => {
                    let oe = self.nodes.get(&o).map_or(0, |n| n.config_epoch);
                    if oe < epoch {
                        if o == self.myself {
                            warn!(slot, new_owner = %sender, "slot taken over by a node with a newer configEpoch");
                        }
                        self.assign(slot, sender);
                    } else if oe > epoch {
                        stale_owner = Some((o, oe));
                    }
                }
                None => self.assign(slot, sender),
            }
        }
        // Slots the sender no longer claims (given away with DELSLOTS or moved): its own
        // statement is authoritative for its slots.
        let owned: Vec<u16> = self
            .nodes
            .get(sender)
            .map(|n| n.slots.iter().filter(|s| !claimed.contains(*s)).collect())
            .unwrap_or_default();
        let sender_epoch = self.nodes.get(sender).map_or(0, |n| n.config_epoch);
        if epoch >= sender_epoch {
            for s in owned {
                self.unassign(s);
            }
        }
        stale_owner.and_then(|(o, oe)| {
            self.nodes.get(&o).map(|n| Kind::Update {
                node: o.clone(),
                config_epoch: oe,
                slots: n.slots.ranges(),
            })
        })
    }

    // ----- incoming messages ---------------------------------------------------------------

    /// Processes one message. Returns what the bus must send.
    pub fn handle(&mut self, msg: Message, src: Source, now: u64) -> Vec<Action> {
        *self.stats.received.entry(kind_name(&msg.kind)).or_default() += 1;
        let mut actions = Vec::new();
        let h = &msg.sender;
        if h.id == self.myself || h.id.len() != 40 {
            return actions;
        }
        let peer_ip = match &src {
            Source::Inbound { peer, .. } => Some(peer.to_string()),
            Source::Outbound(id) => self.nodes.get(id).map(|n| n.ip.clone()),
        };
        let sender_ip = if h.ip.is_empty() { peer_ip.unwrap_or_default() } else { h.ip.clone() };

        // A PONG on our link to a handshake node tells us its real id.
        if let (Kind::Pong, Source::Outbound(link_id)) = (&msg.kind, &src) {
            if self.nodes.get(link_id).is_some_and(|n| n.handshake) {
                let mut n = self.nodes.remove(link_id).expect("checked above");
                if !self.nodes.contains_key(&h.id) {
                    info!(node = %h.id, addr = %format!("{}:{}", sender_ip, h.port), "handshake completed");
                    n.id = h.id.clone();
                    n.handshake = false;
                    self.nodes.insert(h.id.clone(), n);
                    self.needs_save = true;
                }
            }
        }

        if matches!(msg.kind, Kind::Meet) {
            if let Source::Inbound { local, .. } = &src {
                if !self.announced_ip {
                    let ip = local.to_string();
                    if self.me().ip != ip {
                        self.me_mut().ip = ip;
                        self.needs_save = true;
                    }
                }
            }
            if !self.nodes.contains_key(&h.id) && !self.is_banned(&h.id, now) {
                info!(node = %h.id, addr = %format!("{}:{}", sender_ip, h.port), "met by a new node");
                let n = Node::new(h.id.clone(), sender_ip.clone(), h.port, h.cport, now);
                self.nodes.insert(h.id.clone(), n);
                self.needs_save = true;
            }
        }

        let known = self.nodes.get(&h.id).is_some_and(|n| !n.handshake);
        if known {
            if h.current_epoch > self.current_epoch {
                self.current_epoch = h.current_epoch;
                self.needs_save = true;
            }
            self.update_sender(h, &sender_ip, &msg.kind, now);
            if let Some(update) = self.update_slots_from(h) {
                let m = self.build(update, &h.id);
                actions.push(Action::Reply(m));
            }
            self.epoch_collision(h);
            self.process_gossip(&msg.gossip, &h.id, now);
        }

        match msg.kind {
            Kind::Ping | Kind::Meet => {
                let m = self.build(Kind::Pong, &h.id);
                actions.push(Action::Reply(m));
            }
            Kind::Pong => {}
            Kind::Fail { node } if known => {
                if node != self.myself {
                    if let Some(n) = self.nodes.get_mut(&node) {
                        if n.health != Health::Fail {
                            info!(node = %node, reporter = %h.id, "node marked FAIL by another node");
                            n.health = Health::Fail;
                            n.fail_time = now;
                            self.needs_save = true;
                        }
                    }
                }
            }
            Kind::Update {
                node,
                config_epoch,
                slots,
            } if known => {
                if let Some(n) = self.nodes.get_mut(&node) {
                    if n.config_epoch < config_epoch {
                        n.config_epoch = config_epoch;
                        let claimed = SlotSet::from_ranges(&slots);
                        self.apply_claims(&node, config_epoch, &claimed);
                    }
                }
            }
            Kind::Publish { channel, message } if known => {
                actions.push(Action::Deliver { channel, message });
            }
            _ => {}
        }
        self.update_state(now);
        actions
    }

    fn update_sender(&mut self, h: &Header, ip: &str, kind: &Kind, now: u64) {
        let Some(n) = self.nodes.get_mut(&h.id) else { return };
        if matches!(kind, Kind::Pong) {
            n.pong_received = now;
            n.ping_sent = 0;
        }
        if (!ip.is_empty() && n.ip != ip) || n.port != h.port || n.cport != h.cport {
            if !ip.is_empty() {
                n.ip = ip.to_string();
            }
            n.port = h.port;
            n.cport = h.cport;
            self.needs_save = true;
        }
        n.repl_offset = h.repl_offset;
        n.nofailover = h.flags & nflags::NOFAILOVER != 0;
        let role = match &h.primary {
            Some(p) => Role::Replica { primary: p.clone() },
            None => Role::Primary,
        };
        if n.role != role {
            info!(node = %h.id, ?role, "node changed role");
            n.role = role;
            self.needs_save = true;
        }
        if matches!(kind, Kind::Pong | Kind::Ping | Kind::Meet) {
            match n.health {
                Health::PFail => {
                    n.health = Health::Ok;
                }
                Health::Fail => {
                    let undo = !n.is_primary()
                        || n.slots.is_empty()
                        || now.saturating_sub(n.fail_time) > 2 * self.node_timeout;
                    if undo {
                        info!(node = %h.id, "clear FAIL state: the node is reachable again");
                        n.health = Health::Ok;
                        self.needs_save = true;
                    }
                }
                Health::Ok => {}
            }
        }
    }

    fn update_slots_from(&mut self, h: &Header) -> Option<Kind> {
        if h.primary.is_some() {
            return None;
        }
        let claimed = SlotSet::from_ranges(&h.slots);
        let update = self.apply_claims(&h.id, h.config_epoch, &claimed);
        if let Some(n) = self.nodes.get_mut(&h.id) {
            if h.config_epoch > n.config_epoch {
                n.config_epoch = h.config_epoch;
                self.needs_save = true;
            }
        }
        update
    }

    fn epoch_collision(&mut self, h: &Header) {
        let me = self.me();
        if h.primary.is_some() || !me.is_primary() || h.config_epoch != me.config_epoch {
            return;
        }
        // The node with the smaller id takes a new epoch.
        if h.id.as_str() <= self.myself.as_str() {
            return;
        }
        self.current_epoch += 1;
        let e = self.current_epoch;
        self.me_mut().config_epoch = e;
        self.needs_save = true;
        info!(epoch = e, "configEpoch collision with {} resolved: took a new configEpoch", h.id);
    }

    fn process_gossip(&mut self, gossip: &[Gossip], sender: &str, now: u64) {
        let sender_is_primary = self.nodes.get(sender).is_some_and(|n| n.is_primary());
        for g in gossip {
            if g.id == self.myself || g.id.len() != 40 {
                continue;
            }
            if let Some(n) = self.nodes.get_mut(&g.id) {
                if sender_is_primary {
                    if g.flags & (nflags::PFAIL | nflags::FAIL) != 0 {
                        n.fail_reports.insert(sender.to_string(), now);
                    } else {
                        n.fail_reports.remove(sender);
                    }
                }
                continue;
            }
            if self.is_banned(&g.id, now) || g.ip.is_empty() || g.flags & nflags::FAIL != 0 {
                continue;
            }
            let pending = self
                .nodes
                .values()
                .any(|n| n.handshake && n.ip == g.ip && n.port == g.port);
            if !pending {
                self.start_handshake(g.ip.clone(), g.port, g.cport, now);
            }
        }
    }

    fn is_banned(&self, id: &str, now: u64) -> bool {
        self.banned.get(id).is_some_and(|&until| until > now)
    }

    fn start_handshake(&mut self, ip: String, port: u16, cport: u16, now: u64) {
        let tmp = crate::state::random_hex_id();
        let mut n = Node::new(tmp.clone(), ip, port, cport, now);
        n.handshake = true;
        self.nodes.insert(tmp, n);
    }

    // ----- periodic work -----------------------------------------------------------------

    /// Periodic work: pings, failure detection, handshake expiry. Returns messages to send.
    pub fn tick(&mut self, now: u64) -> Vec<Action> {
        let mut actions = Vec::new();
        self.banned.retain(|_, until| *until > now);
        let handshake_timeout = self.node_timeout.max(1000);
        self.nodes
            .retain(|_, n| !(n.handshake && now.saturating_sub(n.created) > handshake_timeout));

        let interval = self.ping_interval();
        let ids: Vec<String> = self.nodes.keys().filter(|id| **id != self.myself).cloned().collect();
        for id in &ids {
            let (due, handshake) = {
                let n = &self.nodes[id];
                (n.link_up && now.saturating_sub(n.last_ping) >= interval, n.handshake)
            };
            if due {
                let kind = if handshake { Kind::Meet } else { Kind::Ping };
                let m = self.build(kind, id);
                if let Some(n) = self.nodes.get_mut(id) {
                    n.last_ping = now;
                    if n.ping_sent == 0 {
                        n.ping_sent = now;
                    }
                }
                actions.push(Action::Send(id.clone(), m));
            }
        }

        // PFAIL: not heard from within the node timeout.
        for id in &ids {
            let Some(n) = self.nodes.get_mut(id) else { continue };
            if n.handshake || n.health != Health::Ok {
                continue;
            }
            if n.ping_sent != 0 && now.saturating_sub(n.ping_sent) > self.node_timeout
                || now.saturating_sub(n.pong_received) > self.node_timeout + interval
            {
                info!(node = %id, "*** NODE {} possibly failing", id);
                n.health = Health::PFail;
            }
        }

        // FAIL: a majority of slot-owning primaries agree.
        let validity = 2 * self.node_timeout;
        let quorum = self.quorum();
        let i_am_voter = self.me().is_primary() && !self.me().slots.is_empty();
        let mut newly_failed = Vec::new();
        for id in &ids {
            let Some(n) = self.nodes.get_mut(id) else { continue };
            n.fail_reports.retain(|_, t| now.saturating_sub(*t) <= validity);
            if n.health != Health::PFail {
                continue;
            }
            let reports = n.fail_reports.len() + usize::from(i_am_voter);
            if reports >= quorum {
                warn!(node = %id, reports, quorum, "Marking node {} as failing (quorum reached)", id);
                n.health = Health::Fail;
                n.fail_time = now;
                newly_failed.push(id.clone());
            }
        }
        for id in newly_failed {
            self.needs_save = true;
            actions.extend(self.broadcast(Kind::Fail { node: id }));
        }
        self.update_state(now);
        actions
    }

    /// Recomputes `cluster_state`: every slot served by a non-failed primary (when full
    /// coverage is required) and a majority of slot-owning primaries reachable from here.
    pub fn update_state(&mut self, _now: u64) {
        let mut ok = true;
        if self.require_full_coverage {
            for o in &self.owners {
                match o.as_ref().and_then(|id| self.nodes.get(id)) {
                    Some(n) if n.health != Health::Fail => {}
                    _ => {
                        ok = false;
                        break;
                    }
                }
            }
        }
        let size = self.size();
        if ok && size > 0 {
            let reachable = self
                .nodes
                .values()
                .filter(|n| n.is_primary() && !n.slots.is_empty())
                .filter(|n| n.id == self.myself || n.health == Health::Ok)
                .count();
            if reachable < size / 2 + 1 {
                ok = false;
            }
        }
        if size == 0 {
            ok = false;
        }
        if ok != self.ok {
            info!("Cluster state changed: {}", if ok { "ok" } else { "fail" });
            self.ok = ok;
        }
    }

    // ----- administration (CLUSTER subcommands) ----------------------------------------------

    /// CLUSTER MEET: starts a handshake with a node at this address.
    pub fn meet(&mut self, ip: IpAddr, port: u16, cport: u16, now: u64) {
        let ip = ip.to_string();
        let known = self
            .nodes
            .values()
            .any(|n| n.ip == ip && n.port == port && n.id != self.myself);
        if !known {
            self.start_handshake(ip, port, cport, now);
        }
    }

    /// CLUSTER ADDSLOTS: all-or-nothing.
    pub fn add_slots(&mut self, slots: &[u16]) -> Result<(), String> {
        let mut seen = SlotSet::default();
        for &s in slots {
            if self.owners[s as usize].is_some() {
                return Err(format!("ERR Slot {s} is already busy"));
            }
            if seen.contains(s) {
                return Err(format!("ERR Slot {s} specified multiple times"));
            }
            seen.insert(s);
        }
        let me = self.myself.clone();
        for &s in slots {
            self.assign(s, &me);
        }
        Ok(())
    }

    /// CLUSTER DELSLOTS: all-or-nothing.
    pub fn del_slots(&mut self, slots: &[u16]) -> Result<(), String> {
        let mut seen = SlotSet::default();
        for &s in slots {
            if self.owners[s as usize].is_none() {
                return Err(format!("ERR Slot {s} is already unassigned"));
            }
            if seen.contains(s) {
                return Err(format!("ERR Slot {s} specified multiple times"));
            }
            seen.insert(s);
        }
        for &s in slots {
            self.unassign(s);
        }
        Ok(())
    }

    /// CLUSTER FORGET.
    pub fn forget(&mut self, id: &str, now: u64) -> Result<(), String> {
        if id == self.myself {
            return Err("ERR I tried hard but I can't forget myself...".into());
        }
        if !self.nodes.contains_key(id) {
            return Err(format!("ERR Unknown node {id}"));
        }
        if self.me().primary_id() == Some(id) {
            return Err("ERR Can't forget my master!".into());
        }
        let slots: Vec<u16> = self.nodes[id].slots.iter().collect();
        for s in slots {
            self.unassign(s);
        }
        self.nodes.remove(id);
        self.banned.insert(id.to_string(), now + FORGET_BAN_MS);
        self.needs_save = true;
        Ok(())
    }

    /// CLUSTER RESET: forget every other node and all slots; HARD also takes a new id and
    /// zeroes the epochs.
    pub fn reset(&mut self, hard: bool, now: u64) {
        for s in 0..SLOTS as u16 {
            self.unassign(s);
        }
        let me = self.myself.clone();
        self.nodes.retain(|id, _| *id == me);
        let mut n = self.nodes.remove(&me).expect("myself is always known");
        n.role = Role::Primary;
        n.slots = SlotSet::default();
        if hard {
            n.id = crate::state::random_hex_id();
            n.config_epoch = 0;
            self.current_epoch = 0;
            self.last_vote_epoch = 0;
        }
        n.created = now;
        self.myself = n.id.clone();
        self.nodes.insert(n.id.clone(), n);
        self.banned.clear();
        self.needs_save = true;
        self.update_state(now);
    }

    /// CLUSTER SET-CONFIG-EPOCH (only on a fresh node, as Redis).
    pub fn set_config_epoch(&mut self, epoch: u64) -> Result<(), String> {
        if self.nodes.len() > 1 {
            return Err("ERR The user can assign a config epoch only when the node does not know any other node.".into());
        }
        if self.me().config_epoch != 0 {
            return Err("ERR Node config epoch is already non-zero".into());
        }
        self.me_mut().config_epoch = epoch;
        if self.current_epoch < epoch {
            self.current_epoch = epoch;
        }
        self.needs_save = true;
        Ok(())
    }

    /// CLUSTER BUMPEPOCH: `BUMPED n` when myself did not hold the largest configEpoch.
    pub fn bump_epoch(&mut self) -> (bool, u64) {
        let max = self.nodes.values().map(|n| n.config_epoch).max().unwrap_or(0);
        let me = self.me().config_epoch;
        if me == 0 || me != max || self.nodes.values().filter(|n| n.config_epoch == max).count() > 1 {
            self.current_epoch += 1;
            let e = self.current_epoch;
            self.me_mut().config_epoch = e;
            self.needs_save = true;
            (true, e)
        } else {
            (false, me)
        }
    }

    pub fn count_failure_reports(&self, id: &str) -> Option<usize> {
        self.nodes.get(id).map(|n| n.fail_reports.len())
    }

    /// Marks our outbound link to a node up or down (the bus calls this).
    pub fn set_link(&mut self, id: &str, up: bool) {
        if let Some(n) = self.nodes.get_mut(id) {
            n.link_up = up;
        }
    }
}

/// A node's flags as gossip carries them.
pub fn node_flags(n: &Node) -> u16 {
    let mut f = if n.is_primary() { nflags::PRIMARY } else { nflags::REPLICA };
    match n.health {
        Health::PFail => f |= nflags::PFAIL,
        Health::Fail => f |= nflags::FAIL,
        Health::Ok => {}
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn id(c: char) -> String {
        c.to_string().repeat(40)
    }

    fn node(c: char, port: u16) -> ClusterState {
        let mut s = ClusterState::new(id(c), String::new(), port, port + 10000, 1000, 0);
        s.myself = id(c);
        s
    }

    fn lo() -> IpAddr {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    }

    /// Delivers messages between in-memory nodes until quiet; `cut` drops links.
    fn pump(nodes: &mut [ClusterState], now: u64, cut: &[usize]) {
        let mut queue: Vec<(usize, Option<usize>, Action)> = Vec::new();
        for (i, n) in nodes.iter_mut().enumerate() {
            for id in n.nodes.keys().cloned().collect::<Vec<_>>() {
                n.set_link(&id, true);
            }
            for a in n.tick(now) {
                queue.push((i, None, a));
            }
        }
        let mut steps = 0;
        while let Some((from, reply_to, action)) = queue.pop() {
            steps += 1;
            assert!(steps < 100_000);
            let (to, msg, src_out) = match action {
                Action::Send(target, m) => {
                    let Some(port) = nodes[from].nodes.get(&target).map(|t| t.port) else {
                        continue;
                    };
                    let Some(to) = nodes.iter().position(|n| n.me().port == port) else {
                        continue;
                    };
                    (to, m, false)
                }
                Action::Reply(m) => match reply_to {
                    Some(to) => (to, m, true),
                    None => continue,
                },
                Action::Deliver { .. } => continue,
            };
            if cut.contains(&from) || cut.contains(&to) {
                continue;
            }
            let src = if src_out {
                // A reply arrives on the receiver's outbound link to `from`.
                let link = nodes[to]
                    .nodes
                    .values()
                    .find(|n| n.port == nodes[from].me().port)
                    .map(|n| n.id.clone())
                    .unwrap_or_default();
                Source::Outbound(link)
            } else {
                Source::Inbound { peer: lo(), local: lo() }
            };
            for a in nodes[to].handle(msg, src, now) {
                queue.push((to, Some(from), a));
            }
        }
    }

    fn three_primaries() -> Vec<ClusterState> {
        let mut ns = vec![node('a', 7000), node('b', 7001), node('c', 7002)];
        let ranges = [(0u16, 5460u16), (5461, 10922), (10923, 16383)];
        for (i, n) in ns.iter_mut().enumerate() {
            let slots: Vec<u16> = (ranges[i].0..=ranges[i].1).collect();
            n.add_slots(&slots).unwrap();
            n.set_config_epoch(i as u64 + 1).unwrap();
        }
        ns[1].meet(lo(), 7000, 17000, 0);
        ns[2].meet(lo(), 7000, 17000, 0);
        let mut now = 0;
        for _ in 0..20 {
            now += 100;
            pump(&mut ns, now, &[]);
        }
        ns
    }

    #[test]
    fn meet_and_gossip_form_a_full_mesh_with_agreed_slots() {
        let ns = three_primaries();
        for n in &ns {
            assert_eq!(n.nodes.len(), 3, "{} knows {:?}", n.myself, n.nodes.keys());
            assert!(n.nodes.values().all(|x| !x.handshake));
            assert!(n.owners.iter().all(|o| o.is_some()));
            assert!(n.ok);
            assert_eq!(n.owners[0].as_deref(), Some(id('a').as_str()));
            assert_eq!(n.owners[16383].as_deref(), Some(id('c').as_str()));
        }
    }

    #[test]
    fn silent_node_becomes_pfail_then_fail_with_majority() {
        let mut ns = three_primaries();
        let mut now = 2000;
        for _ in 0..30 {
            now += 100;
            pump(&mut ns, now, &[2]);
        }
        for n in &ns[..2] {
            assert_eq!(n.nodes[&id('c')].health, Health::Fail, "seen from {}", n.myself);
            assert!(!n.ok, "slots of a failed primary are uncovered");
        }
        // It comes back: FAIL clears once it answers (after 2x timeout with no takeover).
        for _ in 0..40 {
            now += 100;
            pump(&mut ns, now, &[]);
        }
        for n in &ns {
            assert!(n.nodes.values().all(|x| x.health == Health::Ok));
            assert!(n.ok);
        }
    }

    #[test]
    fn higher_config_epoch_wins_a_slot_and_equal_epochs_are_resolved() {
        let mut ns = three_primaries();
        // b claims slot 0 (owned by a at epoch 1) with a higher epoch: everyone adopts it.
        ns[1].nodes.get_mut(&id('b')).unwrap().config_epoch = 10;
        ns[1].current_epoch = 10;
        ns[1].assign(0, &id('b'));
        let mut now = 3000;
        for _ in 0..5 {
            now += 100;
            pump(&mut ns, now, &[]);
        }
        for n in &ns {
            assert_eq!(n.owners[0].as_deref(), Some(id('b').as_str()));
        }
        // a and c collide on the same epoch: the smaller id (a) moves to a new one.
        ns[2].nodes.get_mut(&id('c')).unwrap().config_epoch = 1;
        for _ in 0..5 {
            now += 100;
            pump(&mut ns, now, &[]);
        }
        let epochs: Vec<u64> = ns.iter().map(|n| n.me().config_epoch).collect();
        let mut uniq = epochs.clone();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq.len(), 3, "epochs {epochs:?}");
    }

    #[test]
    fn forget_bans_and_admin_errors() {
        let mut ns = three_primaries();
        assert!(ns[0].forget(&id('a'), 0).is_err());
        assert!(ns[0].forget(&id('z'), 0).unwrap_err().contains("Unknown node"));
        ns[0].forget(&id('c'), 5000).unwrap();
        assert!(!ns[0].nodes.contains_key(&id('c')));
        assert!(ns[0].add_slots(&[1]).unwrap_err().contains("busy"));
        assert!(ns[0].set_config_epoch(5).is_err());
    }
}
