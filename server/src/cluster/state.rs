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
//! - A slot claimed by a primary is adopted when nobody owns it, its owner's configEpoch is
//!   lower, or its owner stopped claiming it; a claim with a lower configEpoch than the
//!   owner's gets an UPDATE back. Two primaries with the same configEpoch resolve the
//!   collision: the one with the smaller id takes a new epoch.
//! - A primary that stops claiming a slot (CLUSTER DELSLOTS, SETSLOT NODE to another node)
//!   does not unbind it anywhere but on itself: the others keep it bound, marked as not
//!   claimed, until some node claims it (as Redis 7.0.13+ `owner_not_claiming_slot`). Only
//!   the node that gave the slot up stops serving it, so the rest of the cluster stays `ok`,
//!   and tools that take a slot away from a node and give it back (`redis-cli --cluster
//!   fix`: DELSLOTS then ADDSLOTS on one node) never turn the cluster down.
//! - A node not heard from for the node timeout is PFAIL; when a majority of slot-owning
//!   primaries report it (reports valid for 2x the timeout), it becomes FAIL and the FAIL is
//!   broadcast. FAIL clears when it answers again (for a primary with slots, once no one has
//!   taken its slots for 2x the timeout).
//! - Trust comes from the handshake, not from what a frame says (as Redis). A MEET from an
//!   unknown node only adds a handshake node at its address; we dial it, and its PONG on our
//!   own link gives the node its id. Until a node is known and out of handshake, nothing it
//!   sends (slot and epoch claims, gossip, failure reports, FAIL, UPDATE, PUBLISH, votes and
//!   vote requests, manual failover and takeover requests) is acted upon — not even from the
//!   PONG that completes the handshake — so one unsolicited frame changes nothing.
//! - Frames are ordered per sender, not per connection: each carries the sender's incarnation
//!   and a sequence number, and one older than a frame already applied from that sender is
//!   stale. A stale frame proves the sender reachable and its requests (votes, PUBLISH,
//!   UPDATE, which carry their own epochs) still count, but its view of the cluster (its
//!   role, slots, epochs, gossip and failure reports) changes nothing. Without this, frames
//!   queued during a partition and delivered at the heal replayed a view 45 s old over the
//!   current one (issue #19).
//! - Failure reports count only from a primary in good standing: not suspected by us, and
//!   reachable for a node timeout since we last suspected it, because a node that rejoins
//!   gossips the suspicions its isolation produced (Redis counts reports from primaries).
//! - PFAIL needs a ping unanswered for the node timeout *and* no data from the node for
//!   that long (as Redis's `min(ping delay, data delay)`); a tick that comes late (our own
//!   thread was stalled, the replies are still unread) suspects nobody until the replies
//!   had an interval to be read. A link with a ping pending and no data for twice the
//!   timeout is reset, so frames queued behind a dead connection are dropped rather than
//!   delivered in a burst when the network heals.
//! - Addresses follow the nodes. A node's frames carry its address only when announced
//!   (`cluster-announce-ip`); otherwise receivers take the connection's source, so a node
//!   that restarts elsewhere with its nodes.conf is found at its new address from its first
//!   PING (its replicas then replicate from there), and it relearns its own address from
//!   the next PING it receives (see `forget_moved_address`).
//! - Handshakes started by the network are bounded: gossip starts at most
//!   [`MAX_HANDSHAKES_PER_FRAME`] per frame and none while [`MAX_GOSSIP_HANDSHAKES`] are in
//!   progress; a MEET from an unknown node starts one, unless [`MAX_MEET_HANDSHAKES`] are.

use super::announce::{Announce, Endpoint};
use super::events::Kind as EventKind;
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
/// Most handshakes one frame may start. A real sender gossips about nodes we mostly know
/// already (a node joining learns the rest over a few heartbeats), so this only slows
/// discovery in a large cluster slightly, while one frame naming hundreds of made-up nodes
/// can no longer fill the node table.
pub const MAX_HANDSHAKES_PER_FRAME: usize = 4;
/// Gossip starts no handshake while this many are in progress. Handshakes complete in a
/// round trip or expire after the node timeout, so gossip in a real cluster stays below it;
/// discovery by gossip only waits a little when many nodes join at once.
pub const MAX_GOSSIP_HANDSHAKES: usize = 32;
/// MEETs from unknown nodes start no handshake while this many are in progress. Higher than
/// the gossip limit because a MEET is not repeated: when a cluster is created, every other
/// node MEETs the first one at once, and a MEET skipped here would leave its sender unknown
/// to the first node. Redis Cluster is specified up to 1000 nodes. CLUSTER MEET (an
/// administrator's request) is not limited.
pub const MAX_MEET_HANDSHAKES: usize = 1000;

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
    /// Deliver a PUBLISH (or, with `shard`, an SPUBLISH) from another node to local
    /// subscribers.
    Deliver {
        channel: Vec<u8>,
        message: Vec<u8>,
        shard: bool,
    },
    /// Write nodes.conf before carrying out the actions that follow (a vote).
    SaveNow,
    /// Replicate from this address, or (`None`) become a primary of our own data.
    Follow(Option<(String, u16)>),
    /// Close our outbound link to this node, discarding what is queued on it, and dial
    /// again: it delivers nothing (see `tick`).
    ResetLink(String),
    /// Delete the keys of these slots, which a node with a newer config took from us while we
    /// stay a primary of others (Redis's dirty slots in `clusterUpdateSlotsConfigWith`): kept,
    /// they would come back stale if the slot ever returned, and a client caching them would
    /// never hear that the new owner changed them.
    DropSlots(Vec<u16>),
}

/// A replica's election in progress.
#[derive(Debug, Clone)]
pub struct Election {
    /// When to ask for votes (after the rank-based delay).
    pub start_at: u64,
    /// The epoch we asked in (0: not asked yet).
    pub epoch: u64,
    pub votes: std::collections::HashSet<String>,
    pub deadline: u64,
    /// Manual failover: voters need not see the primary as FAIL.
    pub force: bool,
}

/// A manual failover in progress.
#[derive(Debug, Clone, Copy)]
pub struct ManualFailover {
    pub deadline: u64,
    /// Replica side: the primary's final offset, from its first ping after it paused (`None`
    /// until then; 0 is an offset like any other, a primary that never took a write).
    pub primary_offset: Option<u64>,
}

/// Counters for CLUSTER INFO's `cluster_stats_messages_*`.
#[derive(Default, Debug, Clone)]
pub struct MsgStats {
    pub sent: BTreeMap<&'static str, u64>,
    pub received: BTreeMap<&'static str, u64>,
}

/// A message type's name, as CLUSTER INFO and the metrics exporter show it.
pub fn kind_name(k: &Kind) -> &'static str {
    match k {
        Kind::Ping => "ping",
        Kind::Pong => "pong",
        Kind::Meet => "meet",
        Kind::Fail { .. } => "fail",
        Kind::Update { .. } => "update",
        Kind::Publish { shard: false, .. } => "publish",
        Kind::Publish { shard: true, .. } => "publishshard",
        Kind::AuthRequest { .. } => "auth-req",
        Kind::AuthAck { .. } => "auth-ack",
        Kind::MfStart => "mfstart",
        Kind::TakeOver => "takeover",
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
    /// What this node announces (`cluster-announce-*`); an announced ip is never replaced
    /// by the address peers see.
    announce: Announce,
    /// The client and bus ports this process bound: announced unless `announce` names
    /// others.
    listen: (u16, u16),
    /// `cluster-preferred-endpoint-type`: which of a node's names this node gives clients.
    pub endpoint: Endpoint,
    pub ok: bool,
    /// Forgotten node id -> monotonic ms until which gossip may not re-add it.
    pub banned: HashMap<String, u64>,
    /// Durable state changed: nodes.conf must be written.
    pub needs_save: bool,
    pub stats: MsgStats,
    /// Events counted and queued for the events channel (see [`super::events`]).
    pub events: super::events::Journal,
    /// Whether this node, as a slot-owning primary, held its write lease at the last tick
    /// (a lost lease is an event once, not at every tick).
    lease_held: bool,
    pub election: Option<Election>,
    /// Primary id -> monotonic ms we last voted for one of its replicas.
    pub voted_for: HashMap<String, u64>,
    /// No election before this instant (after a failed one).
    pub next_election_after: u64,
    /// Replica side of a manual failover.
    pub manual: Option<ManualFailover>,
    /// Primary side: writes are paused until this monotonic instant (manual failover).
    pub paused_until: u64,
    pub replica_no_failover: bool,
    /// Monotonic ms of the latest moment a majority of slot-owning primaries (myself
    /// included) was heard from; the write lease runs from it.
    pub majority_at: u64,
    /// A node to start replicating from, decided while processing a message.
    follow: Option<String>,
    /// Slots taken from us while we stay a primary, whose keys are to be deleted.
    lost: Vec<u16>,
    /// Restarted without data (or from a snapshot) while nodes.conf says we own slots and
    /// have replicas: serve nothing and ask a replica to take over, until this monotonic
    /// deadline.
    pub rejoin_until: Option<u64>,
    /// Restarted from a snapshot taken at this replication offset: only a replica past it
    /// (holding writes the snapshot missed) is asked to take over. `None`: any replica.
    pub rejoin_above: Option<u64>,
    last_takeover_ask: u64,
    /// `cluster-migration-barrier`: replicas a primary keeps before giving one away.
    pub migration_barrier: usize,
    /// `cluster-replica-validity-factor` (0: always stand for election).
    pub validity_factor: u64,
    /// `repl-ping-replica-period` in ms (part of the validity window).
    pub repl_ping_period_ms: u64,
    /// Since when (monotonic ms) some primary has had no working replica.
    orphan_since: Option<u64>,
    /// Slots of mine being moved out: slot -> target node id (CLUSTER SETSLOT MIGRATING).
    pub migrating: BTreeMap<u16, String>,
    /// Slots being moved in: slot -> source node id (CLUSTER SETSLOT IMPORTING).
    pub importing: BTreeMap<u16, String>,
    /// Slots taken from me by the node I was migrating them to, until the keys they leave
    /// are dealt with (see [`ClusterState::hold_for_handover`]): slot -> that node.
    handover: BTreeMap<u16, String>,
    /// Slots still bound to a primary that no longer claims them (see the module doc): any
    /// claim takes them, whatever its configEpoch, and no UPDATE defends them.
    not_claimed: SlotSet,
    /// This process's incarnation (random, never 0) and the frames built so far: every
    /// header carries both so receivers can tell stale frames (see the module doc).
    boot: u64,
    seq: u64,
    /// When `tick` last ran, and until when it suspects nobody after a late tick.
    last_tick: u64,
    pfail_hold_until: u64,
}

/// What this node still holds of a slot: what CLUSTER SETSLOT NODE must not strand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotKeys {
    /// Keys in database 0 (Redis's check).
    pub db0: usize,
    /// The first other database holding keys of the slot (`cluster-databases`).
    pub other_db: Option<usize>,
}

impl SlotKeys {
    pub fn is_empty(&self) -> bool {
        self.db0 == 0 && self.other_db.is_none()
    }
}

/// What CLUSTER SETSLOT asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetSlot {
    Migrating,
    Importing,
    Stable,
    Node,
}

impl ClusterState {
    pub fn new(
        myself: String,
        ip: String,
        port: u16,
        cport: u16,
        node_timeout: u64,
        now: u64,
    ) -> Self {
        let mut nodes = BTreeMap::new();
        nodes.insert(
            myself.clone(),
            Node::new(myself.clone(), ip, port, cport, now),
        );
        ClusterState {
            myself,
            nodes,
            owners: vec![None; SLOTS],
            current_epoch: 0,
            last_vote_epoch: 0,
            node_timeout,
            require_full_coverage: true,
            announce: Announce::default(),
            listen: (port, cport),
            endpoint: Endpoint::Ip,
            ok: false,
            banned: HashMap::new(),
            needs_save: true,
            stats: MsgStats::default(),
            events: Default::default(),
            lease_held: true,
            election: None,
            voted_for: HashMap::new(),
            next_election_after: 0,
            manual: None,
            paused_until: 0,
            replica_no_failover: false,
            majority_at: now,
            follow: None,
            lost: Vec::new(),
            rejoin_until: None,
            rejoin_above: None,
            last_takeover_ask: 0,
            migration_barrier: 1,
            validity_factor: 10,
            repl_ping_period_ms: 10_000,
            orphan_since: None,
            migrating: BTreeMap::new(),
            handover: BTreeMap::new(),
            importing: BTreeMap::new(),
            not_claimed: SlotSet::default(),
            boot: rand::random::<u64>().max(1),
            seq: 0,
            last_tick: 0,
            pfail_hold_until: 0,
        }
    }

    pub fn me(&self) -> &Node {
        &self.nodes[&self.myself]
    }

    fn me_mut(&mut self) -> &mut Node {
        let id = self.myself.clone();
        self.nodes.get_mut(&id).expect("myself is always known")
    }

    /// Records the client and bus ports this process bound (at start, before
    /// [`ClusterState::set_announce`]).
    pub fn set_listen(&mut self, port: u16, cport: u16) {
        self.listen = (port, cport);
    }

    /// Applies the `cluster-announce-*` settings to myself (at start and on CONFIG SET);
    /// peers learn the change from our next header. Clearing an announced ip leaves our
    /// address unknown until a peer's PING tells us (Redis's autodetection).
    pub fn set_announce(&mut self, announce: Announce) {
        let listen = self.listen;
        let was_announced = !self.announce.ip.is_empty();
        let me = self.me_mut();
        let before = (me.ip.clone(), me.port, me.cport, me.hostname.clone());
        if !announce.ip.is_empty() {
            me.ip = announce.ip.clone();
        } else if was_announced {
            me.ip.clear();
        }
        me.port = if announce.port != 0 {
            announce.port
        } else {
            listen.0
        };
        me.cport = if announce.bus_port != 0 {
            announce.bus_port
        } else {
            listen.1
        };
        me.hostname = announce.hostname.clone();
        let after = (me.ip.clone(), me.port, me.cport, me.hostname.clone());
        self.announce = announce;
        if before != after {
            info!("announcing myself as {}", self.me().addr_field());
            self.needs_save = true;
        }
    }

    /// At start from nodes.conf: an address we did not announce and that `still_ours` says
    /// is no longer ours (the node came back elsewhere, as a rescheduled pod does) is
    /// forgotten, so the first PING from a peer tells us the new one. Peers learn it from
    /// the source of our own frames, which never carry an unannounced address.
    pub fn forget_moved_address(&mut self, still_ours: impl Fn(&str) -> bool) {
        if !self.announce.ip.is_empty() || self.me().ip.is_empty() {
            return;
        }
        if !still_ours(&self.me().ip) {
            info!(
                old = %self.me().ip,
                "my address in nodes.conf is not mine any more: learning the new one from peers"
            );
            self.me_mut().ip.clear();
            self.needs_save = true;
        }
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
        let mut flags = if me.is_primary() {
            nflags::PRIMARY
        } else {
            nflags::REPLICA
        };
        if me.nofailover {
            flags |= nflags::NOFAILOVER;
        }
        if self.paused_until > 0 {
            flags |= nflags::PAUSED;
        }
        Header {
            id: me.id.clone(),
            ip: if self.announce.ip.is_empty() {
                String::new()
            } else {
                me.ip.clone()
            },
            port: me.port,
            cport: me.cport,
            hostname: me.hostname.clone(),
            flags,
            primary: me.primary_id().map(String::from),
            config_epoch,
            current_epoch: self.current_epoch,
            slots,
            repl_offset: me.repl_offset,
            boot: self.boot,
            seq: self.seq,
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
        self.seq += 1;
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
        self.broadcast(Kind::Publish {
            channel,
            message,
            shard: false,
        })
    }

    /// SPUBLISH: the message goes to the other nodes serving this node's slots — its
    /// primary (or itself) and that primary's replicas — and to nobody else, as Redis's
    /// `clusterPropagatePublish` does for sharded messages. That is how subscribers on a
    /// primary's replicas hear what is published on the primary, and the reverse.
    pub fn publish_shard(&mut self, channel: Vec<u8>, message: Vec<u8>) -> Vec<Action> {
        let primary = match self.me().primary_id() {
            Some(p) => p.to_string(),
            None => self.myself.clone(),
        };
        let targets: Vec<String> = self
            .nodes
            .values()
            .filter(|n| n.id != self.myself && !n.handshake)
            .filter(|n| n.id == primary || n.primary_id() == Some(primary.as_str()))
            .map(|n| n.id.clone())
            .collect();
        let kind = Kind::Publish {
            channel,
            message,
            shard: true,
        };
        targets
            .into_iter()
            .map(|id| {
                let m = self.build(kind.clone(), &id);
                Action::Send(id, m)
            })
            .collect()
    }

    // ----- slots -------------------------------------------------------------------------

    pub fn assign(&mut self, slot: u16, id: &str) {
        self.not_claimed.remove(slot);
        // A slot that leaves me is no longer mine to migrate; one that arrives is imported.
        if id != self.myself {
            if self.owners[slot as usize].as_deref() == Some(self.myself.as_str()) {
                self.migrating.remove(&slot);
            }
        } else {
            self.importing.remove(&slot);
        }
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
        self.not_claimed.remove(slot);
        if let Some(old) = self.owners[slot as usize].take() {
            if old == self.myself {
                self.migrating.remove(&slot);
            }
            if let Some(n) = self.nodes.get_mut(&old) {
                n.slots.remove(slot);
            }
            self.needs_save = true;
        }
    }

    /// Applies a primary's slot claims under the configEpoch rule (Redis's
    /// `clusterUpdateSlotsConfigWith`). Returns an UPDATE to send back when the sender claims
    /// slots owned by a node with a newer config.
    fn apply_claims(&mut self, sender: &str, epoch: u64, claimed: &SlotSet) -> Option<Kind> {
        // The usual heartbeat: the sender claims exactly what we already have it owning, and
        // none of it is marked as not claimed (slots marked for other nodes, which may stay
        // marked for long after a DELSLOTS, do not make every heartbeat walk the slots).
        if self.nodes.get(sender).is_some_and(|n| {
            n.slots == *claimed
                && (self.not_claimed.is_empty() || !n.slots.intersects(&self.not_claimed))
        }) {
            return None;
        }
        let mut stale_owner: Option<(String, u64)> = None;
        let my_primary = self.me().primary_id().map(String::from);
        let mut taken_from_me = 0;
        let mut taken_from_primary = 0;
        let any_importing = !self.importing.is_empty();
        for slot in claimed.iter() {
            let not_claimed = self.not_claimed.contains(slot);
            match self.owners[slot as usize].as_deref() {
                Some(o) if o == sender => {
                    if not_claimed {
                        self.not_claimed.remove(slot);
                    }
                }
                // A slot being imported changes hands only by CLUSTER SETSLOT NODE (as
                // Redis): the source keeps claiming it until the move is finished.
                _ if any_importing && self.importing.contains_key(&slot) => {}
                Some(o) => {
                    let o = o.to_string();
                    let oe = self.nodes.get(&o).map_or(0, |n| n.config_epoch);
                    if not_claimed || oe < epoch {
                        if o == self.myself {
                            taken_from_me += 1;
                            self.lost.push(slot);
                            if self.migrating.get(&slot).is_some_and(|m| m == sender) {
                                self.handover.insert(slot, sender.to_string());
                            }
                        }
                        if Some(&o) == my_primary.as_ref() {
                            taken_from_primary += 1;
                        }
                        self.assign(slot, sender);
                    } else if oe > epoch {
                        stale_owner = Some((o, oe));
                    }
                }
                None => self.assign(slot, sender),
            }
        }
        // Slots the sender no longer claims (given away with DELSLOTS or SETSLOT NODE) stay
        // bound to it, marked: unbinding them here would take them away from the whole
        // cluster for what one node did to its own view (see the module doc).
        let sender_epoch = self.nodes.get(sender).map_or(0, |n| n.config_epoch);
        if epoch >= sender_epoch {
            if let Some(n) = self.nodes.get(sender) {
                for s in n.slots.iter().filter(|s| !claimed.contains(*s)) {
                    self.not_claimed.insert(s);
                }
            }
        }
        if taken_from_me > 0 && self.me().slots.is_empty() && self.me().is_primary() {
            warn!(
                new_primary = %sender,
                "Configuration change detected: my slots were taken over by {sender} with a newer configEpoch; reconfiguring myself as its replica"
            );
            self.become_replica_of(sender);
        }
        if !self.lost.is_empty() && self.me().is_primary() {
            warn!(
                new_owner = %sender,
                slots = self.lost.len(),
                "{} of my slots were taken by {sender} with a newer configEpoch: deleting their keys",
                self.lost.len()
            );
        }
        if let Some(p) = my_primary {
            let emptied = self.nodes.get(&p).is_some_and(|n| n.slots.is_empty());
            if taken_from_primary > 0 && emptied && sender != self.myself {
                info!(new_primary = %sender, "my primary's slots moved to {sender}: following it");
                self.become_replica_of(sender);
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

    /// Switches to replicating `primary` and cancels any failover in progress.
    fn become_replica_of(&mut self, primary: &str) {
        // A replica drops its data with the full resync: nothing is left to hand over.
        self.handover.clear();
        self.rejoin_until = None;
        self.rejoin_above = None;
        self.set_primary(Some(primary.to_string()));
        self.election = None;
        self.manual = None;
        self.paused_until = 0;
        self.follow = Some(primary.to_string());
    }

    /// Turns a decision to follow a node, or slots lost while staying a primary, into
    /// actions for the bus.
    fn follow_actions(&mut self) -> Vec<Action> {
        let mut v = Vec::new();
        let lost = std::mem::take(&mut self.lost);
        // A node that became a replica drops everything with its full resync instead.
        if !lost.is_empty() && self.me().is_primary() {
            v.push(Action::DropSlots(lost));
        }
        v.extend(self.follow_action());
        v
    }

    /// Turns a decision to follow a node into an action for the bus.
    fn follow_action(&mut self) -> Option<Action> {
        let id = self.follow.take()?;
        let n = self.nodes.get(&id)?;
        Some(Action::Follow(Some((n.ip.clone(), n.port))))
    }

    // ----- failover ------------------------------------------------------------------------

    /// My replicas that look alive, best (highest offset) first.
    pub fn live_replicas(&self) -> Vec<&Node> {
        let mut v: Vec<&Node> = self
            .nodes
            .values()
            .filter(|n| {
                n.primary_id() == Some(self.myself.as_str())
                    && n.health == Health::Ok
                    && !n.handshake
            })
            .collect();
        v.sort_by_key(|n| std::cmp::Reverse(n.repl_offset));
        v
    }

    /// Called at startup: a primary that restarted empty must not serve (or feed its empty
    /// dataset to) replicas that still hold its shard's data. One that restarted from a
    /// snapshot taken at offset `snapshot_offset` may be behind its replicas too: it waits
    /// the same way for a replica past that offset, and serves its snapshot if none shows.
    pub fn start_rejoin_if_needed(
        &mut self,
        dataset_empty: bool,
        snapshot_offset: Option<u64>,
        now: u64,
    ) {
        let me = self.me();
        let has_replicas = self
            .nodes
            .values()
            .any(|n| n.primary_id() == Some(self.myself.as_str()));
        if !me.is_primary() || me.slots.is_empty() || !has_replicas {
            return;
        }
        if dataset_empty {
            warn!("I restarted without data but own slots and have replicas: not serving my slots until a replica takes over");
            self.rejoin_until = Some(now + 3 * self.node_timeout);
        } else if let Some(offset) = snapshot_offset {
            warn!("I restarted from a snapshot (offset {offset}) and have replicas: not serving my slots until a replica with newer data takes over, or none shows");
            self.rejoin_until = Some(now + 3 * self.node_timeout);
            self.rejoin_above = Some(offset);
        }
    }

    fn rejoin_tick(&mut self, now: u64) -> Vec<Action> {
        let Some(until) = self.rejoin_until else {
            return Vec::new();
        };
        if !self.me().is_primary() || self.me().slots.is_empty() {
            self.rejoin_until = None;
            self.rejoin_above = None;
            return Vec::new();
        }
        if now > until {
            match self.rejoin_above.take() {
                Some(_) => {
                    warn!("No replica with newer data took over my slots: serving my snapshot")
                }
                None => warn!("No replica took over my slots: serving them (empty)"),
            }
            self.rejoin_until = None;
            return Vec::new();
        }
        if now.saturating_sub(self.last_takeover_ask) < self.ping_interval() * 3 {
            return Vec::new();
        }
        let above = self.rejoin_above;
        let Some(best) = self
            .live_replicas()
            .into_iter()
            .find(|n| n.pong_received > n.created && above.is_none_or(|p| n.repl_offset > p))
            .map(|n| n.id.clone())
        else {
            return Vec::new();
        };
        self.last_takeover_ask = now;
        info!(replica = %best, "asking replica {best} to take over my slots");
        let m = self.build(Kind::TakeOver, &best);
        vec![Action::Send(best, m)]
    }

    /// Replica migration: when a primary with slots has no working replica, one replica of a
    /// primary that has more than `cluster-migration-barrier` of them moves over (the one
    /// with the smallest id, so exactly one moves), after the orphan has been orphaned for
    /// twice the node timeout.
    fn migration_tick(&mut self, now: u64) -> Vec<Action> {
        let working = |s: &Self, p: &str| {
            s.nodes
                .values()
                .filter(|n| n.primary_id() == Some(p) && n.health == Health::Ok && !n.handshake)
                .count()
        };
        let orphan = self
            .nodes
            .values()
            .filter(|n| n.is_primary() && !n.slots.is_empty() && n.health == Health::Ok)
            .find(|n| working(self, &n.id) == 0)
            .map(|n| n.id.clone());
        let Some(orphan) = orphan else {
            self.orphan_since = None;
            return Vec::new();
        };
        let since = *self.orphan_since.get_or_insert(now);
        if now.saturating_sub(since) < 2 * self.node_timeout {
            return Vec::new();
        }
        let Some(my_primary) = self.me().primary_id().map(String::from) else {
            return Vec::new();
        };
        if my_primary == orphan || working(self, &my_primary) <= self.migration_barrier {
            return Vec::new();
        }
        let smallest = self
            .nodes
            .values()
            .filter(|n| n.primary_id() == Some(my_primary.as_str()) && n.health == Health::Ok)
            .map(|n| n.id.as_str())
            .min();
        if smallest != Some(self.myself.as_str()) {
            return Vec::new();
        }
        info!(orphan = %orphan, "Migrating to orphaned master {orphan}");
        self.orphan_since = None;
        self.become_replica_of(&orphan);
        self.follow_action().into_iter().collect()
    }

    /// Graceful shutdown of a primary: asks `replica` to take the slots over now.
    pub fn hand_over_to(&mut self, replica: &str) -> Vec<Action> {
        let m = self.build(Kind::TakeOver, replica);
        vec![Action::Send(replica.to_string(), m)]
    }

    /// My primary, if I am a replica whose primary is known.
    fn my_primary(&self) -> Option<&Node> {
        self.me().primary_id().and_then(|p| self.nodes.get(p))
    }

    /// How many siblings (other replicas of my primary) are ahead of me: my place in line.
    fn rank(&self) -> usize {
        let Some(p) = self.me().primary_id() else {
            return 0;
        };
        let mine = self.me().repl_offset;
        self.nodes
            .values()
            .filter(|n| n.id != self.myself && n.primary_id() == Some(p) && n.health == Health::Ok)
            .filter(|n| n.repl_offset > mine || (n.repl_offset == mine && n.id < self.myself))
            .count()
    }

    /// Election timing, scaled to the node timeout (Redis: 500 ms + random 500 ms + rank s;
    /// ours is proportionally shorter so a failover completes in about a second).
    fn election_delay(&self, rank: usize) -> u64 {
        use rand::Rng;
        let base = (self.node_timeout / 20).max(10);
        base + rand::thread_rng().gen_range(0..=base)
            + rank as u64 * (self.node_timeout / 5).max(20)
    }

    /// Replica side of failover, run every tick.
    fn failover_tick(&mut self, now: u64) -> Vec<Action> {
        let mut actions = Vec::new();
        let Some(p) = self.my_primary() else {
            self.election = None;
            return actions;
        };
        let primary_failed = p.health == Health::Fail && !p.slots.is_empty();
        let primary_id = p.id.clone();
        // Manual failover: once the paused primary's offset is reached, run a forced election.
        if let Some(mf) = self.manual {
            if now > mf.deadline {
                warn!("Manual failover timed out.");
                self.manual = None;
                self.election = None;
            } else if self.election.is_none()
                && mf
                    .primary_offset
                    .is_some_and(|target| self.me().repl_offset >= target)
            {
                info!("All master replication stream processed, manual failover can start.");
                self.election = Some(Election {
                    start_at: now,
                    epoch: 0,
                    votes: Default::default(),
                    deadline: 0,
                    force: true,
                });
            }
        }
        if self.election.is_none() {
            if !primary_failed || self.replica_no_failover || now < self.next_election_after {
                return actions;
            }
            // Data too old to stand (as Redis: ping period + timeout x validity factor).
            let age = now.saturating_sub(self.my_primary().map_or(now, |p| p.pong_received));
            let max_age = self.repl_ping_period_ms + self.validity_factor * self.node_timeout;
            if self.validity_factor > 0 && age > max_age {
                if now.saturating_sub(self.next_election_after) > max_age {
                    warn!("My data is too old to stand for election ({age} ms since I heard from my primary)");
                    self.next_election_after = now + self.node_timeout;
                }
                return actions;
            }
            let rank = self.rank();
            let delay = self.election_delay(rank);
            info!(
                rank,
                delay_ms = delay,
                "Start of election delayed for {delay} milliseconds (rank #{rank}, offset {}).",
                self.me().repl_offset
            );
            self.election = Some(Election {
                start_at: now + delay,
                epoch: 0,
                votes: Default::default(),
                deadline: 0,
                force: false,
            });
            return actions;
        }
        let quorum = self.quorum();
        let Some(e) = self.election.as_mut() else {
            return actions;
        };
        if e.epoch == 0 {
            if now < e.start_at {
                return actions;
            }
            self.current_epoch += 1;
            let epoch = self.current_epoch;
            let force = e.force;
            e.epoch = epoch;
            e.deadline = now + (2 * self.node_timeout).max(500);
            info!(epoch, "Starting a failover election for epoch {epoch}.");
            let me = self.myself.clone();
            self.events.record(
                EventKind::ElectionStarted,
                &me,
                &primary_id,
                epoch,
                serde_json::json!({ "manual": force }),
            );
            self.needs_save = true;
            actions.push(Action::SaveNow);
            actions.extend(self.broadcast_to_primaries(Kind::AuthRequest { epoch, force }));
            return actions;
        }
        if e.votes.len() >= quorum {
            let epoch = e.epoch;
            let manual = e.force;
            let election_ms = now.saturating_sub(e.start_at);
            let since_fail_ms = self
                .nodes
                .get(&primary_id)
                .filter(|p| p.health == Health::Fail)
                .map(|p| now.saturating_sub(p.fail_time));
            let me = self.myself.clone();
            self.events.record(
                EventKind::Failover,
                &me,
                &primary_id,
                epoch,
                serde_json::json!({
                    "manual": manual,
                    "old_primary": primary_id,
                    "election_ms": election_ms,
                    "since_primary_fail_ms": since_fail_ms,
                }),
            );
            self.election = None;
            self.manual = None;
            actions.extend(self.promote(&primary_id, epoch, "Failover election won"));
            return actions;
        }
        if now > e.deadline {
            warn!(
                "Failover election for epoch {} timed out ({} of {quorum} votes).",
                e.epoch,
                e.votes.len()
            );
            self.election = None;
            self.next_election_after = now + self.node_timeout;
        }
        actions
    }

    fn broadcast_to_primaries(&mut self, kind: Kind) -> Vec<Action> {
        let ids: Vec<String> = self
            .nodes
            .values()
            .filter(|n| n.id != self.myself && n.is_primary() && !n.handshake)
            .map(|n| n.id.clone())
            .collect();
        ids.into_iter()
            .map(|id| {
                let m = self.build(kind.clone(), &id);
                Action::Send(id, m)
            })
            .collect()
    }

    /// Becomes the primary of `old_primary`'s slots with `epoch` as configEpoch.
    fn promote(&mut self, old_primary: &str, epoch: u64, why: &str) -> Vec<Action> {
        let slots: Vec<u16> = self
            .nodes
            .get(old_primary)
            .map(|n| n.slots.iter().collect())
            .unwrap_or_default();
        self.set_primary(None);
        self.me_mut().config_epoch = epoch;
        if self.current_epoch < epoch {
            self.current_epoch = epoch;
        }
        let me = self.myself.clone();
        for slot in slots {
            self.assign(slot, &me);
        }
        self.needs_save = true;
        warn!(epoch, "{why}: I am now the primary of {old_primary}'s slots. configEpoch set to {epoch} after successful failover");
        let mut actions = vec![Action::SaveNow, Action::Follow(None)];
        actions.extend(self.broadcast(Kind::Pong));
        actions
    }

    /// CLUSTER FAILOVER on a replica.
    pub fn manual_failover(&mut self, mode: &str, now: u64) -> Result<Vec<Action>, String> {
        let Some(p) = self.my_primary() else {
            return Err("ERR You should send CLUSTER FAILOVER to a replica".into());
        };
        let primary_id = p.id.clone();
        let primary_failed = p.health == Health::Fail;
        match mode {
            "takeover" => {
                self.current_epoch += 1;
                let epoch = self.current_epoch;
                info!("Taking over the master (user request).");
                Ok(self.promote(&primary_id, epoch, "Manual failover (TAKEOVER)"))
            }
            "force" => {
                info!("Forced failover user request accepted.");
                self.election = Some(Election {
                    start_at: now,
                    epoch: 0,
                    votes: Default::default(),
                    deadline: 0,
                    force: true,
                });
                Ok(Vec::new())
            }
            _ => {
                if primary_failed {
                    return Err(
                        "ERR Master is down or failed, please use CLUSTER FAILOVER FORCE".into(),
                    );
                }
                info!("Manual failover user request accepted.");
                self.manual = Some(ManualFailover {
                    deadline: now + 5000,
                    primary_offset: None,
                });
                let m = self.build(Kind::MfStart, &primary_id);
                Ok(vec![Action::Send(primary_id, m)])
            }
        }
    }

    /// A vote request from a replica: grant it only under Redis's rules, with the vote on
    /// disk before it is sent.
    fn consider_vote(&mut self, h: &Header, epoch: u64, force: bool, now: u64) -> Vec<Action> {
        let me = self.me();
        if !me.is_primary() || me.slots.is_empty() {
            return Vec::new();
        }
        let refuse = |why: &str| {
            info!(candidate = %h.id, epoch, "Failover auth denied to {}: {why}", h.id);
            Vec::new()
        };
        if epoch < self.current_epoch {
            return refuse("its epoch is older than mine");
        }
        if self.last_vote_epoch >= epoch {
            return refuse("already voted for this epoch");
        }
        let Some(p) = h.primary.clone() else {
            return refuse("it is not a replica");
        };
        let Some(primary) = self.nodes.get(&p) else {
            return refuse("its primary is unknown to me");
        };
        if !force && primary.health != Health::Fail {
            return refuse("its primary is not failed");
        }
        if let Some(&t) = self.voted_for.get(&p) {
            if now.saturating_sub(t) < 2 * self.node_timeout {
                return refuse("voted for a replica of the same primary recently");
            }
        }
        for slot in SlotSet::from_ranges(&h.slots).iter() {
            if let Some(o) = &self.owners[slot as usize] {
                if self
                    .nodes
                    .get(o)
                    .is_some_and(|n| n.config_epoch > h.config_epoch)
                {
                    return refuse("its slot configuration is stale");
                }
            }
        }
        let ahead = self.nodes.values().any(|n| {
            n.id != h.id
                && n.primary_id() == Some(p.as_str())
                && n.health == Health::Ok
                && n.repl_offset > h.repl_offset
        });
        if ahead {
            return refuse("a sibling replica has a higher replication offset");
        }
        self.last_vote_epoch = epoch;
        self.voted_for.insert(p, now);
        self.needs_save = true;
        info!(candidate = %h.id, epoch, "Failover auth granted to {} for epoch {epoch}", h.id);
        let m = self.build(Kind::AuthAck { epoch }, &h.id);
        vec![Action::SaveNow, Action::Reply(m)]
    }

    /// Whether a primary still holds its write lease: a majority of slot-owning primaries
    /// (myself included) was heard from within `lease_ms`. Always true for other roles.
    pub fn lease_valid(&self, now: u64, lease_ms: u64) -> bool {
        now.saturating_sub(self.majority_at) <= lease_ms
    }

    fn update_majority(&mut self, now: u64) {
        let me = self.me();
        if !me.is_primary() || me.slots.is_empty() {
            self.majority_at = now;
            self.lease_held = true;
            return;
        }
        let mut heard: Vec<u64> = self
            .nodes
            .values()
            .filter(|n| n.id != self.myself && n.is_primary() && !n.slots.is_empty())
            .map(|n| n.pong_received)
            .collect();
        heard.push(now);
        heard.sort_unstable_by(|a, b| b.cmp(a));
        let q = self.quorum();
        self.majority_at = heard.get(q - 1).copied().unwrap_or(0);
        let held = self.lease_valid(now, self.node_timeout / 2);
        if self.lease_held && !held {
            warn!(
                "Write lease lost: no majority of primaries heard from for {} ms",
                now.saturating_sub(self.majority_at)
            );
            let (me, epoch) = (self.myself.clone(), self.me().config_epoch);
            self.events.record(
                EventKind::LeaseLost,
                &me,
                &me,
                epoch,
                serde_json::json!({ "since_majority_ms": now.saturating_sub(self.majority_at) }),
            );
        }
        self.lease_held = held;
    }

    // ----- incoming messages ---------------------------------------------------------------

    /// Processes one message. Returns what the bus must send.
    pub fn handle(&mut self, msg: Message, src: Source, now: u64) -> Vec<Action> {
        *self.stats.received.entry(kind_name(&msg.kind)).or_default() += 1;
        let mut actions = Vec::new();
        let h = &msg.sender;
        // The bus validated the frame (`message::validate`); the id check stays so that no
        // caller can slip a malformed id into the node table.
        if h.id == self.myself || !message::valid_id(&h.id) {
            return actions;
        }
        let peer_ip = match &src {
            Source::Inbound { peer, .. } => Some(peer.to_string()),
            Source::Outbound(id) => self.nodes.get(id).map(|n| n.ip.clone()),
        };
        let sender_ip = if h.ip.is_empty() {
            peer_ip.unwrap_or_default()
        } else {
            h.ip.clone()
        };

        // A PONG on our link to a handshake node tells us its real id.
        let mut just_met = false;
        if let (Kind::Pong, Source::Outbound(link_id)) = (&msg.kind, &src) {
            if self.nodes.get(link_id).is_some_and(|n| n.handshake) {
                if let Some(mut n) = self.nodes.remove(link_id) {
                    if !self.nodes.contains_key(&h.id) {
                        info!(node = %h.id, addr = %format!("{}:{}", sender_ip, h.port), "handshake completed");
                        n.id = h.id.clone();
                        n.handshake = false;
                        self.nodes.insert(h.id.clone(), n);
                        self.needs_save = true;
                        just_met = true;
                    }
                }
            }
        }

        // Our own address, unless announced, is the one peers reach us at: learned from a
        // MEET, or from any PING while we do not know it (as Redis). Redis keeps a stale
        // address after a restart elsewhere; we forget it first (`forget_moved_address`).
        let learn_ip = matches!(msg.kind, Kind::Meet)
            || (matches!(msg.kind, Kind::Ping) && self.me().ip.is_empty());
        if learn_ip {
            if let Source::Inbound { local, .. } = &src {
                if self.announce.ip.is_empty() {
                    let ip = local.to_string();
                    if self.me().ip != ip {
                        self.me_mut().ip = ip;
                        self.needs_save = true;
                    }
                }
            }
        }
        if matches!(msg.kind, Kind::Meet) {
            // An unknown node that MEETs us becomes a handshake node at its address, as in
            // Redis: we dial it back and learn its id from its PONG on our link. Taking it
            // in as a member here would let one frame claim our slots.
            if !self.nodes.contains_key(&h.id) && !self.is_banned(&h.id, now) {
                let mut budget = 1;
                let limit = MAX_MEET_HANDSHAKES;
                if self.handshake_from_network(&sender_ip, h.port, h.cport, now, &mut budget, limit)
                {
                    info!(node = %h.id, addr = %format!("{}:{}", sender_ip, h.port), "met by a new node: handshake started");
                }
            }
        }

        // `known`: a member out of handshake; its liveness and address count. `trusted`: also
        // known before this frame, so its claims count (Redis, too, takes none from the PONG
        // that completes a handshake).
        let known = self.nodes.get(&h.id).is_some_and(|n| !n.handshake);
        let trusted = known && !just_met;
        // `fresh`: also not older than a frame already applied from this sender, so its
        // view of the cluster may change ours.
        let stale = known && self.frame_is_stale(h);
        let fresh = trusted && !stale;
        if known {
            self.update_sender(h, &sender_ip, &msg.kind, now, stale);
        }
        if fresh {
            if h.current_epoch > self.current_epoch {
                self.current_epoch = h.current_epoch;
                self.needs_save = true;
            }
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
            Kind::Fail { node } if trusted && node != self.myself => {
                if let Some(n) = self.nodes.get_mut(&node) {
                    // A stale FAIL may be about a node that has recovered since; it counts
                    // only when we suspect that node ourselves.
                    let applies = fresh || n.health == Health::PFail;
                    if n.health != Health::Fail && applies {
                        info!(node = %node, reporter = %h.id, "node marked FAIL by another node");
                        n.health = Health::Fail;
                        n.fail_time = now;
                        let since_pong_ms = now.saturating_sub(n.pong_received);
                        let (shard, epoch) =
                            (n.primary_id().unwrap_or(&node).to_string(), n.config_epoch);
                        self.events.record(
                            EventKind::NodeFail,
                            &node,
                            &shard,
                            epoch,
                            serde_json::json!({ "reporter_of_fail": h.id, "since_pong_ms": since_pong_ms }),
                        );
                        self.needs_save = true;
                    }
                }
            }
            Kind::Update {
                node,
                config_epoch,
                slots,
            } if trusted && node != self.myself => {
                if let Some(n) = self.nodes.get_mut(&node) {
                    if n.config_epoch < config_epoch {
                        n.config_epoch = config_epoch;
                        let claimed = SlotSet::from_ranges(&slots);
                        self.apply_claims(&node, config_epoch, &claimed);
                    }
                }
            }
            Kind::Publish {
                channel,
                message,
                shard,
            } if trusted => {
                actions.push(Action::Deliver {
                    channel,
                    message,
                    shard,
                });
            }
            Kind::AuthRequest { epoch, force } if trusted => {
                actions.extend(self.consider_vote(h, epoch, force, now));
            }
            Kind::AuthAck { epoch } if trusted => {
                let voter_ok = self
                    .nodes
                    .get(&h.id)
                    .is_some_and(|n| n.is_primary() && !n.slots.is_empty());
                if let Some(e) = self.election.as_mut() {
                    if e.epoch == epoch && voter_ok {
                        e.votes.insert(h.id.clone());
                    }
                }
                actions.extend(self.failover_tick(now));
            }
            Kind::MfStart if trusted => {
                let is_my_replica = self.nodes.get(&h.id).and_then(|n| n.primary_id())
                    == Some(self.myself.as_str());
                if is_my_replica && self.me().is_primary() {
                    info!(replica = %h.id, "Manual failover requested by replica {}.", h.id);
                    self.paused_until = now + 5000;
                }
            }
            Kind::TakeOver if trusted => {
                let from_my_primary = self.me().primary_id() == Some(h.id.as_str());
                if from_my_primary {
                    self.current_epoch += 1;
                    let epoch = self.current_epoch;
                    let primary = h.id.clone();
                    actions.extend(self.promote(
                        &primary,
                        epoch,
                        "Takeover requested by my primary",
                    ));
                }
            }
            _ => {}
        }
        // Replica side of a manual failover: note the paused primary's final offset.
        let from_paused_primary =
            fresh && self.me().primary_id() == Some(h.id.as_str()) && h.flags & nflags::PAUSED != 0;
        if let Some(mf) = self.manual.as_mut() {
            if from_paused_primary {
                mf.primary_offset = Some(h.repl_offset);
            }
        }
        actions.extend(self.follow_actions());
        self.update_state(now);
        actions
    }

    /// Whether a frame from a known sender is older than one already applied from it (see
    /// the module doc); records it as the newest otherwise.
    fn frame_is_stale(&mut self, h: &Header) -> bool {
        let Some(n) = self.nodes.get_mut(&h.id) else {
            return false;
        };
        if h.boot == 0 {
            return false;
        }
        let (boot, seq) = n.last_frame;
        if h.boot == boot {
            if h.seq < seq {
                return true;
            }
            n.last_frame.1 = h.seq;
            return false;
        }
        if h.boot == n.prev_boot {
            return true;
        }
        // A new incarnation (the sender restarted): start over from its frames.
        n.prev_boot = boot;
        n.last_frame = (h.boot, h.seq);
        false
    }

    /// Applies what a frame says about its sender. A stale frame only proves it reachable.
    fn update_sender(&mut self, h: &Header, ip: &str, kind: &Kind, now: u64, stale: bool) {
        let Some(n) = self.nodes.get_mut(&h.id) else {
            return;
        };
        // Any message proves the node alive (symmetric with the write lease, which counts
        // any message from the majority), as Redis's `data_received`.
        n.pong_received = now;
        if stale {
            return;
        }
        if matches!(kind, Kind::Pong) {
            n.ping_sent = 0;
        }
        let mut moved = false;
        if (!ip.is_empty() && n.ip != ip) || n.port != h.port || n.cport != h.cport {
            if !ip.is_empty() {
                n.ip = ip.to_string();
            }
            n.port = h.port;
            n.cport = h.cport;
            info!(node = %h.id, addr = %format!("{}:{}@{}", n.ip, n.port, n.cport), "node address updated from its own frame");
            self.needs_save = true;
            moved = true;
        }
        // Redis 7.0 clears the hostname of a node whose ping carries none.
        if n.hostname != h.hostname {
            n.hostname = h.hostname.clone();
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
                    n.ok_since = now;
                }
                Health::Fail => {
                    let undo = !n.is_primary()
                        || n.slots.is_empty()
                        || now.saturating_sub(n.fail_time) > 2 * self.node_timeout;
                    if undo {
                        info!(node = %h.id, "clear FAIL state: the node is reachable again");
                        n.health = Health::Ok;
                        n.ok_since = now;
                        let failed_ms = now.saturating_sub(n.fail_time);
                        let (shard, epoch) =
                            (n.primary_id().unwrap_or(&h.id).to_string(), n.config_epoch);
                        self.events.record(
                            EventKind::NodeRecovered,
                            &h.id,
                            &shard,
                            epoch,
                            serde_json::json!({ "failed_ms": failed_ms }),
                        );
                        self.needs_save = true;
                    }
                }
                Health::Ok => {}
            }
        }
        // Our primary came back at a new address: replicate from there (Redis's
        // `nodeUpdateAddressIfNeeded`).
        if moved && self.me().primary_id() == Some(h.id.as_str()) {
            self.follow = Some(h.id.clone());
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
        info!(
            epoch = e,
            "configEpoch collision with {} resolved: took a new configEpoch", h.id
        );
    }

    /// Whether `id`'s failure reports count: a primary in good standing — not suspected by
    /// us, and not within a node timeout of our last suspicion (a node that just rejoined
    /// still gossips the suspicions its own isolation produced).
    fn good_reporter(&self, id: &str, now: u64) -> bool {
        self.nodes.get(id).is_some_and(|n| {
            n.is_primary()
                && !n.handshake
                && n.health == Health::Ok
                && (n.ok_since == 0 || now.saturating_sub(n.ok_since) >= self.node_timeout)
        })
    }

    fn process_gossip(&mut self, gossip: &[Gossip], sender: &str, now: u64) {
        let sender_is_primary = self.nodes.get(sender).is_some_and(|n| n.is_primary());
        let may_report = self.good_reporter(sender, now);
        let mut budget = MAX_HANDSHAKES_PER_FRAME;
        for g in gossip {
            if g.id == self.myself || !message::valid_id(&g.id) {
                continue;
            }
            if let Some(n) = self.nodes.get_mut(&g.id) {
                if g.flags & (nflags::PFAIL | nflags::FAIL) == 0 {
                    n.fail_reports.remove(sender);
                } else if may_report {
                    n.fail_reports.insert(sender.to_string(), now);
                } else if sender_is_primary && !n.fail_reports.contains_key(sender) {
                    tracing::debug!(node = %g.id, reporter = %sender, "failure report ignored: the reporter is not in good standing");
                }
                continue;
            }
            if self.is_banned(&g.id, now) || g.ip.is_empty() || g.flags & nflags::FAIL != 0 {
                continue;
            }
            let limit = MAX_GOSSIP_HANDSHAKES;
            self.handshake_from_network(&g.ip, g.port, g.cport, now, &mut budget, limit);
        }
    }

    /// Starts a handshake that a frame asked for (gossip, or a MEET from an unknown node)
    /// unless one is already under way with that address, the frame's `budget` is spent, or
    /// `limit` handshakes are in progress. Returns whether one was started.
    fn handshake_from_network(
        &mut self,
        ip: &str,
        port: u16,
        cport: u16,
        now: u64,
        budget: &mut usize,
        limit: usize,
    ) -> bool {
        if *budget == 0 || ip.is_empty() {
            return false;
        }
        let mut in_progress = 0;
        for n in self.nodes.values().filter(|n| n.handshake) {
            if n.ip == ip && n.port == port {
                return false;
            }
            in_progress += 1;
        }
        if in_progress >= limit {
            return false;
        }
        *budget -= 1;
        self.start_handshake(ip.to_string(), port, cport, now);
        true
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
        let interval = self.ping_interval();
        // A late tick means this thread was busy or stopped: the peers' replies may be
        // waiting unread, so suspect nobody until they had an interval to be read.
        let gap = now.saturating_sub(self.last_tick);
        if self.last_tick != 0 && gap > 2 * interval {
            info!(
                gap_ms = gap,
                "cluster tick came {gap} ms after the previous one: no node is suspected for {interval} ms"
            );
            self.pfail_hold_until = now + interval;
        }
        self.last_tick = now;
        self.banned.retain(|_, until| *until > now);
        let handshake_timeout = self.node_timeout.max(1000);
        self.nodes
            .retain(|_, n| !(n.handshake && now.saturating_sub(n.created) > handshake_timeout));

        let ids: Vec<String> = self
            .nodes
            .keys()
            .filter(|id| **id != self.myself)
            .cloned()
            .collect();
        for id in &ids {
            let (due, handshake) = {
                let n = &self.nodes[id];
                (
                    n.link_up && now.saturating_sub(n.last_ping) >= interval,
                    n.handshake,
                )
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

        // A link with a ping pending and nothing received for half the node timeout is dead
        // without knowing it (packets dropped silently) or stalled behind TCP's exponential
        // retransmission backoff: a 500 ms outage can keep an established connection silent
        // for well over a second after the network is back. Reset it, as Redis does at half
        // the timeout: what is queued on it is dropped instead of delivered in a burst of
        // stale frames when the network heals, and the bus dials again every ping interval
        // with a connect timeout of one interval (never waiting on a SYN retransmission), so
        // a fresh connection carries a ping about an interval after the heal.
        let dead_after = self.node_timeout / 2;
        for id in &ids {
            let Some(n) = self.nodes.get_mut(id) else {
                continue;
            };
            if n.link_up
                && n.ping_sent != 0
                && now.saturating_sub(n.link_since) > dead_after
                && now.saturating_sub(n.ping_sent) > dead_after
                && now.saturating_sub(n.pong_received) > dead_after
            {
                info!(node = %id, "resetting the bus link to {id}: a ping pending and no data for {dead_after} ms");
                n.link_up = false;
                actions.push(Action::ResetLink(id.clone()));
            }
        }

        // PFAIL: a ping unanswered for the node timeout and no data for as long (or no data
        // at all for a while, when no link comes up to carry a ping).
        for id in &ids {
            if now < self.pfail_hold_until {
                break;
            }
            let Some(n) = self.nodes.get_mut(id) else {
                continue;
            };
            if n.handshake || n.health != Health::Ok {
                continue;
            }
            let data_age = now.saturating_sub(n.pong_received);
            let ping_age = if n.ping_sent == 0 {
                0
            } else {
                now.saturating_sub(n.ping_sent)
            };
            if data_age > self.node_timeout
                && (ping_age > self.node_timeout || data_age > self.node_timeout + interval)
            {
                info!(node = %id, ping_age_ms = ping_age, data_age_ms = data_age, "*** NODE {} possibly failing", id);
                n.health = Health::PFail;
            }
        }

        // FAIL: a majority of slot-owning primaries agree.
        let validity = 2 * self.node_timeout;
        let quorum = self.quorum();
        let i_am_voter = self.me().is_primary() && !self.me().slots.is_empty();
        let reporters: std::collections::HashSet<String> = ids
            .iter()
            .filter(|id| self.good_reporter(id, now))
            .cloned()
            .collect();
        let mut newly_failed = Vec::new();
        for id in &ids {
            let Some(n) = self.nodes.get_mut(id) else {
                continue;
            };
            n.fail_reports
                .retain(|_, t| now.saturating_sub(*t) <= validity);
            if n.health != Health::PFail {
                continue;
            }
            // Reports count while their reporter is in good standing.
            let reports = n
                .fail_reports
                .keys()
                .filter(|r| reporters.contains(*r))
                .count()
                + usize::from(i_am_voter);
            if reports >= quorum {
                warn!(node = %id, reports, quorum, "Marking node {} as failing (quorum reached)", id);
                n.health = Health::Fail;
                n.fail_time = now;
                let since_pong_ms = now.saturating_sub(n.pong_received);
                let (shard, epoch) = (n.primary_id().unwrap_or(id).to_string(), n.config_epoch);
                self.events.record(
                    EventKind::NodeFail,
                    id,
                    &shard,
                    epoch,
                    serde_json::json!({ "reports": reports, "quorum": quorum, "since_pong_ms": since_pong_ms }),
                );
                newly_failed.push(id.clone());
            }
        }
        for id in newly_failed {
            self.needs_save = true;
            actions.extend(self.broadcast(Kind::Fail { node: id }));
        }
        if self.paused_until != 0 && now > self.paused_until {
            info!("Manual failover timed out: resuming writes.");
            self.paused_until = 0;
        }
        actions.extend(self.failover_tick(now));
        actions.extend(self.rejoin_tick(now));
        if self.election.is_none() && self.manual.is_none() {
            actions.extend(self.migration_tick(now));
        }
        actions.extend(self.follow_actions());
        self.update_majority(now);
        self.update_state(now);
        actions
    }

    /// Recomputes `cluster_state`: every slot served by a non-failed primary (when full
    /// coverage is required) and a majority of slot-owning primaries reachable from here.
    pub fn update_state(&mut self, _now: u64) {
        let mut ok = true;
        if self.require_full_coverage {
            // Per node, not per slot: this runs after every change (thousands per reshard).
            // The nodes' bitmaps mirror `owners`; their union is 256 words per node.
            let mut all = SlotSet::default();
            for n in self.nodes.values() {
                all.union_with(&n.slots);
            }
            let covered = all.is_full();
            let failed_owner = self
                .nodes
                .values()
                .any(|n| n.health == Health::Fail && !n.slots.is_empty());
            ok = covered && !failed_owner;
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
        if size == 0 || self.rejoin_until.is_some() {
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

    /// CLUSTER SETSLOT, with Redis's checks and error strings. `keys` is what this node
    /// still holds of the slot (NODE refuses to give away a slot that has keys in any
    /// database).
    /// Returns whether the cluster should hear about it at once (a new owner took a new
    /// configEpoch).
    pub fn set_slot(
        &mut self,
        slot: u16,
        what: SetSlot,
        node: Option<&str>,
        keys: SlotKeys,
    ) -> Result<bool, String> {
        if !self.me().is_primary() {
            return Err("ERR Please use SETSLOT only with masters.".into());
        }
        let known = |s: &Self, id: &str| -> Result<(), String> {
            match s.nodes.get(id) {
                None => Err(format!("ERR I don't know about node {id}")),
                Some(n) if !n.is_primary() => Err("ERR Target node is not a master".into()),
                Some(_) => Ok(()),
            }
        };
        let mine = self.owners[slot as usize].as_deref() == Some(self.myself.as_str());
        match what {
            SetSlot::Migrating => {
                let id = node.unwrap_or_default();
                if !mine {
                    return Err(format!("ERR I'm not the owner of hash slot {slot}"));
                }
                known(self, id)?;
                if id == self.myself {
                    return Err("ERR Target is myself: can't migrate a slot to myself".into());
                }
                info!(slot, target = %id, "slot {slot} migrating to {id}");
                let (me, epoch) = (self.myself.clone(), self.current_epoch);
                self.events.record(
                    EventKind::MigrationStarted,
                    &me,
                    &me,
                    epoch,
                    serde_json::json!({ "slot": slot, "direction": "migrating", "peer": id }),
                );
                self.migrating.insert(slot, id.to_string());
            }
            SetSlot::Importing => {
                let id = node.unwrap_or_default();
                if mine {
                    return Err(format!("ERR I'm already the owner of hash slot {slot}"));
                }
                known(self, id)?;
                if id == self.myself {
                    return Err("ERR Source is myself: can't import a slot from myself".into());
                }
                info!(slot, source = %id, "slot {slot} importing from {id}");
                let (me, epoch) = (self.myself.clone(), self.current_epoch);
                self.events.record(
                    EventKind::MigrationStarted,
                    &me,
                    id,
                    epoch,
                    serde_json::json!({ "slot": slot, "direction": "importing", "peer": id }),
                );
                self.importing.insert(slot, id.to_string());
            }
            SetSlot::Stable => {
                self.migrating.remove(&slot);
                self.importing.remove(&slot);
            }
            SetSlot::Node => {
                let id = node.unwrap_or_default();
                if !self.nodes.contains_key(id) {
                    return Err(format!("ERR Unknown node {id}"));
                }
                known(self, id)?;
                if mine && id != self.myself && keys.db0 > 0 {
                    return Err(format!("ERR Can't assign hashslot {slot} to a different node while I still hold keys for this hash slot."));
                }
                // Another database's keys (`cluster-databases`): a tool that moves database
                // 0 only (redis-cli --cluster) stops here. Refused even once the slot is no
                // longer mine (its new owner may have told me first): the keys are still
                // here to be handed over (see crate::slot_loss).
                if let Some(db) = keys.other_db.filter(|_| id != self.myself) {
                    return Err(format!("ERR Can't assign hashslot {slot} to a different node while I still hold keys for this hash slot in database {db} (redis-cli --cluster moves database 0 only; slotcache-cli moves every database)"));
                }
                if id != self.myself && keys.is_empty() && self.migrating.remove(&slot).is_some() {
                    let (me, epoch) = (self.myself.clone(), self.current_epoch);
                    self.events.record(
                        EventKind::MigrationFinished,
                        &me,
                        id,
                        epoch,
                        serde_json::json!({ "slot": slot, "direction": "migrated", "peer": id }),
                    );
                }
                let mut announce = false;
                if id == self.myself && self.importing.remove(&slot).is_some() {
                    // The new owner must win everywhere: take a configEpoch above every
                    // other node's without an election (as Redis does here).
                    let (bumped, epoch) = self.bump_epoch();
                    let me = self.myself.clone();
                    self.events.record(
                        EventKind::MigrationFinished,
                        &me,
                        &me,
                        epoch,
                        serde_json::json!({ "slot": slot, "direction": "imported" }),
                    );
                    if bumped {
                        info!(
                            slot,
                            epoch, "configEpoch set to {epoch} after importing slot {slot}"
                        );
                    }
                    announce = true;
                }
                self.assign(slot, id);
                self.needs_save = true;
                return Ok(announce);
            }
        }
        self.needs_save = true;
        Ok(false)
    }

    /// For a slot taken from me (see [`Action::DropSlots`]): whether its keys are kept for
    /// handing over instead of deleted. That is when the node I was migrating the slot to
    /// took it (the move was finished) while other databases than 0 still hold keys of it
    /// here (`keys_beyond_db0`): a tool that moves database 0 only finished the move. The
    /// slot stays marked migrating to its new owner, so it shows as open (`[slot->-id]`),
    /// MIGRATE is served for its keys and `slotcache-cli cluster fix` hands them over.
    /// Returns that owner. Any other lost slot (a newer config after a partition) has stale
    /// keys, which are deleted as before.
    pub fn hold_for_handover(&mut self, slot: u16, keys_beyond_db0: bool) -> Option<String> {
        let to = self.handover.remove(&slot)?;
        if !keys_beyond_db0 || self.owners[slot as usize].as_deref() != Some(to.as_str()) {
            return None;
        }
        self.migrating.insert(slot, to.clone());
        self.needs_save = true;
        Some(to)
    }

    /// PONGs to every node: how a configuration change is spread without waiting a tick.
    pub fn announce(&mut self) -> Vec<Action> {
        self.broadcast(Kind::Pong)
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
        self.handover.clear();
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
        self.migrating.clear();
        self.importing.clear();
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
        let max = self
            .nodes
            .values()
            .map(|n| n.config_epoch)
            .max()
            .unwrap_or(0);
        let me = self.me().config_epoch;
        if me == 0
            || me != max
            || self
                .nodes
                .values()
                .filter(|n| n.config_epoch == max)
                .count()
                > 1
        {
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

    /// Makes myself a replica of `primary`, or a primary (`None`).
    pub fn set_primary(&mut self, primary: Option<String>) {
        let role = match primary {
            Some(p) => Role::Replica { primary: p },
            None => Role::Primary,
        };
        let me = self.me_mut();
        if me.role != role {
            info!(?role, "my role changed");
            let (id, epoch) = (me.id.clone(), me.config_epoch);
            let (name, shard) = match &role {
                Role::Primary => ("primary", id.clone()),
                Role::Replica { primary } => ("replica", primary.clone()),
            };
            me.role = role;
            self.needs_save = true;
            self.events.record(
                EventKind::RoleChange,
                &id,
                &shard,
                epoch,
                serde_json::json!({ "role": name }),
            );
        }
    }

    /// Publishes my replication offset in the headers I send (failover ranking reads it).
    pub fn set_my_offset(&mut self, offset: u64) {
        self.me_mut().repl_offset = offset;
    }

    /// Marks our outbound link to a node up or down (the bus calls this).
    pub fn set_link(&mut self, id: &str, up: bool, now: u64) {
        if let Some(n) = self.nodes.get_mut(id) {
            if up && !n.link_up {
                n.link_since = now;
            }
            n.link_up = up;
        }
    }
}

/// A node's flags as gossip carries them.
pub fn node_flags(n: &Node) -> u16 {
    let mut f = if n.is_primary() {
        nflags::PRIMARY
    } else {
        nflags::REPLICA
    };
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
                n.set_link(&id, true, now);
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
                Action::Deliver { .. }
                | Action::SaveNow
                | Action::Follow(_)
                | Action::DropSlots(_)
                | Action::ResetLink(_) => continue,
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
                Source::Inbound {
                    peer: lo(),
                    local: lo(),
                }
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
            assert_eq!(
                n.nodes[&id('c')].health,
                Health::Fail,
                "seen from {}",
                n.myself
            );
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
    fn delslots_on_the_owner_changes_only_its_own_view_until_someone_claims_the_slot() {
        let mut ns = three_primaries();
        let (a, b, c) = (id('a'), id('b'), id('c'));
        ns[0].del_slots(&[0]).unwrap();
        let mut now = 3000;
        for _ in 0..30 {
            now += 100;
            pump(&mut ns, now, &[]);
        }
        assert_eq!(ns[0].owners[0], None);
        assert!(!ns[0].ok, "the node that gave the slot up is not covered");
        for n in &ns[1..] {
            assert_eq!(n.owners[0].as_deref(), Some(a.as_str()), "{}", n.myself);
            assert!(n.ok, "{} stays ok", n.myself);
        }
        // Given back on the same node: everything as before.
        ns[0].add_slots(&[0]).unwrap();
        for _ in 0..5 {
            now += 100;
            pump(&mut ns, now, &[]);
        }
        assert!(ns[0].ok);
        // A slot still bound to its owner elsewhere but no longer claimed goes to whoever
        // claims it, even with a lower configEpoch (b's is 2, c's 3).
        ns[0].del_slots(&[1]).unwrap();
        ns[2].del_slots(&[16383]).unwrap();
        for _ in 0..5 {
            now += 100;
            pump(&mut ns, now, &[]);
        }
        for n in &ns[..2] {
            assert_eq!(n.owners[16383].as_deref(), Some(c.as_str()));
        }
        // In b's view they are a's and c's: an operator frees them there first.
        ns[1].del_slots(&[1, 16383]).unwrap();
        ns[1].add_slots(&[1, 16383]).unwrap();
        for _ in 0..5 {
            now += 100;
            pump(&mut ns, now, &[]);
        }
        for n in &ns {
            assert_eq!(n.owners[1].as_deref(), Some(b.as_str()), "{}", n.myself);
            assert_eq!(n.owners[16383].as_deref(), Some(b.as_str()), "{}", n.myself);
            assert!(n.ok, "{}", n.myself);
        }
        // A claim on a slot its owner still claims loses to the higher configEpoch.
        ns[0].unassign(10923);
        ns[0].assign(10923, &a);
        for _ in 0..5 {
            now += 100;
            pump(&mut ns, now, &[]);
        }
        for n in &ns {
            assert_eq!(n.owners[10923].as_deref(), Some(c.as_str()), "{}", n.myself);
        }
    }

    fn with_replica() -> Vec<ClusterState> {
        let mut ns = three_primaries();
        let mut d = node('d', 7003);
        d.meet(lo(), 7000, 17000, 3000);
        ns.push(d);
        let mut now = 3000;
        for _ in 0..10 {
            now += 100;
            pump(&mut ns, now, &[]);
        }
        ns[3].set_primary(Some(id('a')));
        for _ in 0..5 {
            now += 100;
            pump(&mut ns, now, &[]);
        }
        ns
    }

    #[test]
    fn spublish_goes_to_the_other_nodes_of_the_shard_only() {
        let mut ns = with_replica();
        let targets = |n: &mut ClusterState| -> Vec<String> {
            n.publish_shard(b"ch".to_vec(), b"m".to_vec())
                .into_iter()
                .map(|a| match a {
                    Action::Send(id, m) => {
                        assert!(matches!(m.kind, Kind::Publish { shard: true, .. }));
                        id
                    }
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        assert_eq!(targets(&mut ns[0]), vec![id('d')], "primary -> its replica");
        assert_eq!(targets(&mut ns[3]), vec![id('a')], "replica -> its primary");
        assert!(targets(&mut ns[1]).is_empty(), "a shard of one");
        assert_eq!(ns[0].stats.sent.get("publishshard"), Some(&1));
    }

    #[test]
    fn replica_of_a_failed_primary_wins_the_election_and_the_old_primary_follows_it() {
        let mut ns = with_replica();
        assert!(ns[0].nodes[&id('d')].primary_id() == Some(id('a').as_str()));
        let mut now = 5000;
        let mut promoted_at = None;
        for step in 0..60 {
            now += 100;
            pump(&mut ns, now, &[0]);
            if ns[3].me().is_primary() && promoted_at.is_none() {
                promoted_at = Some(step);
            }
        }
        assert!(promoted_at.is_some(), "replica never promoted");
        for n in &ns[1..] {
            assert_eq!(
                n.owners[0].as_deref(),
                Some(id('d').as_str()),
                "view of {}",
                n.myself
            );
            assert!(n.ok, "cluster ok in view of {}", n.myself);
        }
        let epoch = ns[3].me().config_epoch;
        assert!(epoch > 3, "new configEpoch {epoch}");
        // One vote per epoch: the voters recorded it.
        assert!(ns[1].last_vote_epoch == epoch || ns[2].last_vote_epoch == epoch);
        // The old primary returns and becomes a replica of the new one.
        for _ in 0..40 {
            now += 100;
            pump(&mut ns, now, &[]);
        }
        assert_eq!(ns[0].me().primary_id(), Some(id('d').as_str()));
        assert!(ns[0].me().slots.is_empty());
        for n in &ns {
            assert_eq!(n.owners[0].as_deref(), Some(id('d').as_str()));
        }
    }

    #[test]
    fn a_primary_votes_once_per_epoch_and_not_for_a_replica_behind_a_sibling() {
        let mut ns = with_replica();
        let mut e = node('e', 7004);
        e.meet(lo(), 7000, 17000, 6000);
        ns.push(e);
        // Not about replica migration: b and c are orphans, a gets two replicas, and d
        // would otherwise move to b.
        for n in ns.iter_mut() {
            n.migration_barrier = 10;
        }
        let mut now = 6000;
        for _ in 0..10 {
            now += 100;
            pump(&mut ns, now, &[]);
        }
        ns[4].set_primary(Some(id('a')));
        ns[3].set_my_offset(100);
        ns[4].set_my_offset(50);
        for _ in 0..3 {
            now += 100;
            pump(&mut ns, now, &[]);
        }
        // b sees a as failed and gets a request from e (behind d): refused.
        ns[1].nodes.get_mut(&id('a')).unwrap().health = Health::Fail;
        let mut hdr_e = ns[4].header();
        hdr_e.current_epoch = 50;

        assert!(ns[1].consider_vote(&hdr_e, 50, false, now).is_empty());
        // d (ahead) gets the vote; a second request in the same epoch does not.
        let hdr_d = ns[3].header();
        let granted = ns[1].consider_vote(&hdr_d, 50, false, now);
        assert!(
            granted.contains(&Action::SaveNow),
            "vote must be saved before it is sent"
        );
        assert!(ns[1].consider_vote(&hdr_d, 50, false, now).is_empty());
    }

    #[test]
    fn a_primary_cut_off_from_the_majority_loses_its_lease_within_half_the_timeout() {
        let mut ns = three_primaries();
        let mut now = 2000;
        pump(&mut ns, now, &[]);
        assert!(ns[0].lease_valid(now, 500));
        for _ in 0..6 {
            now += 100;
            pump(&mut ns, now, &[0]);
        }
        assert!(
            !ns[0].lease_valid(now, 500),
            "isolated primary kept its lease"
        );
        assert!(ns[1].lease_valid(now, 500));
    }

    #[test]
    fn forget_bans_and_admin_errors() {
        let mut ns = three_primaries();
        assert!(ns[0].forget(&id('a'), 0).is_err());
        assert!(ns[0]
            .forget(&id('z'), 0)
            .unwrap_err()
            .contains("Unknown node"));
        ns[0].forget(&id('c'), 5000).unwrap();
        assert!(!ns[0].nodes.contains_key(&id('c')));
        assert!(ns[0].add_slots(&[1]).unwrap_err().contains("busy"));
        assert!(ns[0].set_config_epoch(5).is_err());
    }

    #[test]
    fn setslot_moves_a_slot_and_the_new_owner_wins_everywhere() {
        let mut ns = three_primaries();
        let (a, b) = (id('a'), id('b'));
        // Errors as Redis words them.
        assert!(ns[1]
            .set_slot(1, SetSlot::Migrating, Some(&a), SlotKeys::default())
            .unwrap_err()
            .contains("not the owner"));
        assert!(ns[0]
            .set_slot(1, SetSlot::Importing, Some(&b), SlotKeys::default())
            .unwrap_err()
            .contains("already the owner"));
        assert!(ns[0]
            .set_slot(1, SetSlot::Migrating, Some(&id('z')), SlotKeys::default())
            .unwrap_err()
            .contains("don't know"));
        ns[1]
            .set_slot(1, SetSlot::Importing, Some(&a), SlotKeys::default())
            .unwrap();
        ns[0]
            .set_slot(1, SetSlot::Migrating, Some(&b), SlotKeys::default())
            .unwrap();
        assert!(ns[0]
            .set_slot(
                1,
                SetSlot::Node,
                Some(&b),
                SlotKeys {
                    db0: 3,
                    other_db: None
                }
            )
            .unwrap_err()
            .ends_with("still hold keys for this hash slot."));
        // Keys left in another database (cluster-databases) are named, and the slot stays.
        let e = ns[0]
            .set_slot(
                1,
                SetSlot::Node,
                Some(&b),
                SlotKeys {
                    db0: 0,
                    other_db: Some(3),
                },
            )
            .unwrap_err();
        assert!(
            e.contains("still hold keys for this hash slot in database 3"),
            "{e}"
        );
        assert!(ns[0].migrating.contains_key(&1));
        // The target takes a configEpoch above everyone's and claims the slot.
        assert!(ns[1]
            .set_slot(1, SetSlot::Node, Some(&b), SlotKeys::default())
            .unwrap());
        assert!(ns[1].importing.is_empty());
        assert_eq!(ns[1].me().config_epoch, 4);
        ns[0]
            .set_slot(1, SetSlot::Node, Some(&b), SlotKeys::default())
            .unwrap();
        assert!(ns[0].migrating.is_empty());
        let mut now = 10_000;
        for _ in 0..10 {
            now += 100;
            pump(&mut ns, now, &[]);
        }
        for n in &ns {
            assert_eq!(n.owners[1].as_deref(), Some(b.as_str()));
            assert_eq!(n.owners[0].as_deref(), Some(a.as_str()));
        }
        // STABLE clears an open slot.
        ns[2]
            .set_slot(2, SetSlot::Importing, Some(&a), SlotKeys::default())
            .unwrap();
        ns[2]
            .set_slot(2, SetSlot::Stable, None, SlotKeys::default())
            .unwrap();
        assert!(ns[2].importing.is_empty());
    }

    #[test]
    fn a_slot_its_migration_target_took_is_held_for_handover_only_with_keys_beyond_db0() {
        let mut ns = three_primaries();
        let (a, b) = (id('a'), id('b'));
        for slot in [1, 2] {
            ns[1]
                .set_slot(slot, SetSlot::Importing, Some(&a), SlotKeys::default())
                .unwrap();
            ns[0]
                .set_slot(slot, SetSlot::Migrating, Some(&b), SlotKeys::default())
                .unwrap();
            // The target is told first (as redis-cli does) and the source hears it by gossip.
            ns[1]
                .set_slot(slot, SetSlot::Node, Some(&b), SlotKeys::default())
                .unwrap();
        }
        let mut now = 10_000;
        for _ in 0..10 {
            now += 100;
            pump(&mut ns, now, &[]);
        }
        assert_eq!(ns[0].owners[1].as_deref(), Some(b.as_str()));
        assert!(
            ns[0].migrating.is_empty(),
            "the markers went with the slots"
        );
        // Keys left in database 3 of slot 1: held, marked migrating to its owner.
        assert_eq!(ns[0].hold_for_handover(1, true), Some(b.clone()));
        assert_eq!(ns[0].migrating.get(&1), Some(&b));
        // Slot 2 has nothing beyond database 0: deleted as any lost slot's keys.
        assert_eq!(ns[0].hold_for_handover(2, false), None);
        assert!(!ns[0].migrating.contains_key(&2));
        // A slot that was not being migrated is never held.
        assert_eq!(ns[0].hold_for_handover(3, true), None);
        assert_eq!(
            ns[0].hold_for_handover(1, true),
            None,
            "asked once per loss"
        );
    }

    fn inbound() -> Source {
        Source::Inbound {
            peer: lo(),
            local: lo(),
        }
    }

    /// A frame from `sender` (a primary at 127.0.0.1:port) claiming `slots` at `epoch`.
    fn frame(kind: Kind, sender: &str, port: u16, slots: Vec<(u16, u16)>, epoch: u64) -> Message {
        Message {
            version: message::VERSION,
            kind,
            sender: Header {
                id: sender.to_string(),
                ip: "127.0.0.1".into(),
                port,
                cport: port + 10000,
                flags: nflags::PRIMARY,
                config_epoch: epoch,
                current_epoch: epoch,
                slots,
                ..Default::default()
            },
            gossip: Vec::new(),
        }
    }

    fn lone_primary() -> ClusterState {
        let mut a = node('a', 7000);
        a.add_slots(&(0..SLOTS as u16).collect::<Vec<_>>()).unwrap();
        a.set_config_epoch(1).unwrap();
        a.update_state(0);
        assert!(a.ok);
        a
    }

    fn handshakes(s: &ClusterState) -> usize {
        s.nodes.values().filter(|n| n.handshake).count()
    }

    #[test]
    fn an_unsolicited_meet_claiming_every_slot_only_starts_a_handshake() {
        let mut a = lone_primary();
        let f = id('f');
        let m = frame(Kind::Meet, &f, 7009, vec![(0, 16383)], 1000);
        let actions = a.handle(m, inbound(), 100);
        assert!(
            matches!(
                actions.as_slice(),
                [Action::Reply(Message {
                    kind: Kind::Pong,
                    ..
                })]
            ),
            "{actions:?}"
        );
        assert!(!a.nodes.contains_key(&f));
        assert!(a
            .owners
            .iter()
            .all(|o| o.as_deref() == Some(id('a').as_str())));
        assert!(a.me().is_primary());
        assert_eq!((a.current_epoch, a.me().config_epoch), (1, 1));
        assert!(a.ok);
        // The handshake node is at the sender's address, under a temporary id.
        let hs: Vec<&Node> = a.nodes.values().filter(|n| n.handshake).collect();
        assert_eq!(hs.len(), 1);
        assert_eq!(
            (hs[0].ip.as_str(), hs[0].port, hs[0].cport),
            ("127.0.0.1", 7009, 17009)
        );
        // The same MEET again does not start a second one.
        a.handle(frame(Kind::Meet, &f, 7009, vec![], 0), inbound(), 150);
        assert_eq!(handshakes(&a), 1);
    }

    #[test]
    fn claims_count_only_from_the_frame_after_the_handshake() {
        let mut a = lone_primary();
        let f = id('f');
        a.meet(lo(), 7009, 17009, 0);
        let tmp = a.nodes.values().find(|n| n.handshake).unwrap().id.clone();
        // Its PONG on our link names it, but its claims wait for the next frame.
        let pong = frame(Kind::Pong, &f, 7009, vec![(0, 16383)], 1000);
        a.handle(pong.clone(), Source::Outbound(tmp), 100);
        assert!(a.nodes.get(&f).is_some_and(|n| !n.handshake));
        assert!(a
            .owners
            .iter()
            .all(|o| o.as_deref() == Some(id('a').as_str())));
        assert_eq!(a.current_epoch, 1);
        // Once known, a higher configEpoch wins the slots as usual.
        a.handle(pong, inbound(), 200);
        assert!(a.owners.iter().all(|o| o.as_deref() == Some(f.as_str())));
        assert_eq!(a.me().primary_id(), Some(f.as_str()));
    }

    #[test]
    fn frames_from_unknown_or_handshake_senders_change_nothing() {
        let mut ns = three_primaries();
        let (b, c) = (id('b'), id('c'));
        // A handshake node's temporary id is no better than an unknown one.
        ns[0].meet(lo(), 7009, 17009, 3000);
        let tmp = ns[0]
            .nodes
            .values()
            .find(|n| n.handshake)
            .unwrap()
            .id
            .clone();
        let before = ns[0].owners.clone();
        let (cur, vote) = (ns[0].current_epoch, ns[0].last_vote_epoch);
        ns[0].nodes.get_mut(&c).unwrap().health = Health::Fail;
        for sender in [id('f'), tmp] {
            // The MEET first: taking its sender in would let the rest through.
            let kinds = [
                Kind::Meet,
                Kind::Fail { node: b.clone() },
                Kind::Update {
                    node: b.clone(),
                    config_epoch: 1000,
                    slots: vec![(0, 16383)],
                },
                Kind::Publish {
                    channel: b"ch".to_vec(),
                    message: b"forged".to_vec(),
                    shard: false,
                },
                Kind::AuthRequest {
                    epoch: 1000,
                    force: true,
                },
                Kind::AuthAck { epoch: 1000 },
                Kind::MfStart,
                Kind::TakeOver,
                Kind::Ping,
                Kind::Pong,
            ];
            for kind in kinds {
                let mut m = frame(kind.clone(), &sender, 7009, vec![(0, 16383)], 1000);
                m.sender.primary = Some(c.clone());
                m.sender.flags = nflags::REPLICA;
                m.gossip = vec![Gossip {
                    id: b.clone(),
                    ip: "127.0.0.1".into(),
                    port: 7001,
                    cport: 17001,
                    flags: nflags::FAIL,
                    pong_age_ms: 0,
                }];
                let actions = ns[0].handle(m, inbound(), 3100);
                assert!(
                    actions.iter().all(|a| matches!(
                        a,
                        Action::Reply(Message {
                            kind: Kind::Pong,
                            ..
                        })
                    )),
                    "{kind:?}: {actions:?}"
                );
            }
        }
        let a = &ns[0];
        assert_eq!(a.owners, before);
        assert_eq!((a.current_epoch, a.last_vote_epoch), (cur, vote));
        assert_eq!(a.nodes[&b].health, Health::Ok);
        assert!(a.nodes[&b].fail_reports.is_empty());
        assert_eq!(a.paused_until, 0);
        assert!(a.me().is_primary());
        assert_eq!(a.nodes.len(), 4, "only the handshake node was added");
    }

    #[test]
    fn an_update_about_myself_is_ignored() {
        let mut ns = three_primaries();
        let m = frame(
            Kind::Update {
                node: id('a'),
                config_epoch: 1000,
                slots: vec![],
            },
            &id('b'),
            7001,
            vec![(5461, 10922)],
            2,
        );
        ns[0].handle(m, inbound(), 3000);
        assert_eq!(ns[0].me().config_epoch, 1);
        assert_eq!(ns[0].me().slots.len(), 5461);
    }

    fn gossip_about(n: usize, first_port: u16) -> Vec<Gossip> {
        (0..n)
            .map(|i| Gossip {
                id: format!("{:040x}", 0xbeef_0000 + i),
                ip: "127.0.0.1".into(),
                port: first_port + i as u16,
                cport: first_port + 10000 + i as u16,
                flags: nflags::PRIMARY,
                pong_age_ms: 0,
            })
            .collect()
    }

    #[test]
    fn gossip_starts_a_bounded_number_of_handshakes() {
        let mut ns = three_primaries();
        // An unknown node's MEET: its gossip is not taken; only it is handshaken.
        let mut meet = frame(Kind::Meet, &id('f'), 7009, vec![], 0);
        meet.gossip = gossip_about(300, 8000);
        ns[0].handle(meet, inbound(), 3000);
        assert_eq!(handshakes(&ns[0]), 1);
        // A member's gossip: a few per frame, and a cap on those in progress.
        let mut ping = ns[1].build(Kind::Ping, &id('a'));
        ping.gossip = gossip_about(300, 9000);
        ns[0].handle(ping.clone(), inbound(), 3000);
        assert_eq!(handshakes(&ns[0]), 1 + MAX_HANDSHAKES_PER_FRAME);
        for _ in 0..100 {
            ns[0].handle(ping.clone(), inbound(), 3000);
        }
        assert_eq!(handshakes(&ns[0]), MAX_GOSSIP_HANDSHAKES);
        // CLUSTER MEET is an administrator's request: not capped.
        ns[0].meet(lo(), 7500, 17500, 3000);
        assert_eq!(handshakes(&ns[0]), MAX_GOSSIP_HANDSHAKES + 1);
        // They expire, and the cluster is as it was.
        ns[0].tick(3000 + 2 * 1000 + 1);
        assert_eq!(handshakes(&ns[0]), 0);
        assert_eq!(ns[0].nodes.len(), 3);
    }

    /// MEETs are not repeated, so they may start more handshakes than gossip (a cluster being
    /// created MEETs its first node from every other at once), but not without bound.
    #[test]
    fn meets_from_unknown_nodes_start_a_bounded_number_of_handshakes() {
        let mut a = lone_primary();
        for i in 0..MAX_MEET_HANDSHAKES as u64 + 10 {
            let mut m = frame(
                Kind::Meet,
                &format!("{:040x}", 0xfeed_0000 + i),
                1,
                vec![],
                0,
            );
            m.sender.ip = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
            a.handle(m, inbound(), 100);
        }
        assert_eq!(handshakes(&a), MAX_MEET_HANDSHAKES);
        // Gossip from a member waits for them.
        let b = node('b', 7001);
        a.nodes.insert(
            id('b'),
            Node::new(id('b'), "127.0.0.1".into(), 7001, 17001, 100),
        );
        let mut ping = b.header();
        ping.ip = "127.0.0.1".into();
        let ping = Message {
            version: message::VERSION,
            kind: Kind::Ping,
            sender: ping,
            gossip: gossip_about(10, 9000),
        };
        a.handle(ping, inbound(), 100);
        assert_eq!(a.nodes.len(), 2 + MAX_MEET_HANDSHAKES);
        assert_eq!(handshakes(&a), MAX_MEET_HANDSHAKES);
    }

    // ----- issue #19: healing a partition ---------------------------------------------------

    /// Frames `a` (cut off) builds for `b` while the partition lasts: its view then.
    fn frames_from_the_minority(
        ns: &mut [ClusterState],
        now: &mut u64,
        steps: usize,
    ) -> Vec<Message> {
        let mut queued = Vec::new();
        for _ in 0..steps {
            *now += 100;
            pump(ns, *now, &[0]);
            queued.push(ns[0].build(Kind::Ping, &id('b')));
        }
        queued
    }

    #[test]
    fn frames_queued_during_a_partition_change_nothing_when_newer_ones_were_applied() {
        let mut ns = with_replica();
        let mut now = 5000;
        // a is cut off for 6 s: d replaces it; a's queued frames say it is the primary
        // and suspect everyone else.
        let queued = frames_from_the_minority(&mut ns, &mut now, 60);
        assert!(ns[3].me().is_primary(), "d was not promoted");
        let last = queued.last().unwrap();
        assert!(last.sender.primary.is_none());
        assert!(last
            .gossip
            .iter()
            .any(|g| g.flags & (nflags::PFAIL | nflags::FAIL) != 0));
        // The heal: a follows d, and its fresh frames reach b.
        for _ in 0..40 {
            now += 100;
            pump(&mut ns, now, &[]);
        }
        assert_eq!(ns[0].me().primary_id(), Some(id('d').as_str()));
        // Then the queue of the link that stopped delivering arrives, all at once.
        for m in queued {
            ns[1].handle(m, inbound(), now);
        }
        let b = &ns[1];
        assert_eq!(
            b.nodes[&id('a')].primary_id(),
            Some(id('d').as_str()),
            "a stale frame changed a's role"
        );
        assert_eq!(b.owners[0].as_deref(), Some(id('d').as_str()));
        for x in ['c', 'd'] {
            assert!(
                b.nodes[&id(x)].fail_reports.is_empty(),
                "a stale frame reported {x}"
            );
        }
        // Nothing fails over.
        for _ in 0..30 {
            now += 100;
            pump(&mut ns, now, &[]);
        }
        for n in &ns {
            assert!(
                n.nodes.values().all(|x| x.health == Health::Ok),
                "{}",
                n.myself
            );
            assert_eq!(n.owners[0].as_deref(), Some(id('d').as_str()));
            assert_eq!(n.owners[6000].as_deref(), Some(id('b').as_str()));
            assert_eq!(n.owners[16000].as_deref(), Some(id('c').as_str()));
        }
    }

    #[test]
    fn a_new_incarnation_is_not_stale_and_its_old_frames_are() {
        let mut ns = three_primaries();
        let now = 3000;
        let mut m = ns[0].build(Kind::Ping, &id('b'));
        m.sender.seq = 100;
        ns[1].handle(m.clone(), inbound(), now);
        // a restarts (new boot, seq from 1) and now replicates c: applied.
        let mut restarted = m.clone();
        restarted.sender.boot = m.sender.boot.wrapping_add(1).max(1);
        restarted.sender.seq = 1;
        restarted.sender.primary = Some(id('c'));
        restarted.sender.flags = nflags::REPLICA;
        ns[1].handle(restarted, inbound(), now);
        assert_eq!(ns[1].nodes[&id('a')].primary_id(), Some(id('c').as_str()));
        // A frame of the old incarnation arriving late changes nothing.
        m.sender.seq = 101;
        ns[1].handle(m, inbound(), now);
        assert_eq!(ns[1].nodes[&id('a')].primary_id(), Some(id('c').as_str()));
    }

    #[test]
    fn a_primary_pinging_from_a_new_address_is_followed_there_by_its_replica() {
        let mut ns = with_replica();
        let now = 5000;
        let mut m = ns[0].build(Kind::Ping, &id('d'));
        m.sender.boot = m.sender.boot.wrapping_add(1).max(1);
        m.sender.seq = 1;
        let moved = Source::Inbound {
            peer: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)),
            local: lo(),
        };
        let actions = ns[3].handle(m.clone(), moved.clone(), now);
        assert_eq!(ns[3].nodes[&id('a')].ip, "127.0.0.3");
        assert!(ns[3].needs_save);
        assert!(
            actions.contains(&Action::Follow(Some(("127.0.0.3".into(), 7000)))),
            "{actions:?}"
        );
        // A primary that is not ours moving changes whom nobody follows.
        m.sender.seq = 2;
        let actions = ns[1].handle(m, moved, now);
        assert_eq!(ns[1].nodes[&id('a')].ip, "127.0.0.3");
        assert!(!actions.iter().any(|a| matches!(a, Action::Follow(_))));
    }

    #[test]
    fn an_address_that_is_no_longer_ours_is_relearned_from_the_next_ping() {
        let mut ns = three_primaries();
        ns[1].me_mut().ip = "127.0.0.2".into();
        ns[1].forget_moved_address(|ip| ip == "127.0.0.2");
        assert_eq!(ns[1].me().ip, "127.0.0.2", "still ours: kept");
        ns[1].forget_moved_address(|_| false);
        assert_eq!(ns[1].me().ip, "");
        let m = ns[0].build(Kind::Ping, &id('b'));
        let here = Source::Inbound {
            peer: lo(),
            local: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)),
        };
        ns[1].handle(m.clone(), here, 4000);
        assert_eq!(ns[1].me().ip, "127.0.0.3");
        // Once known, a PING on another local address does not change it (only a MEET).
        let other = Source::Inbound {
            peer: lo(),
            local: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 4)),
        };
        ns[1].handle(m, other, 4100);
        assert_eq!(ns[1].me().ip, "127.0.0.3");
        // An announced address is never forgotten nor replaced.
        ns[2].set_announce(Announce {
            ip: "10.1.2.3".into(),
            ..Announce::default()
        });
        ns[2].forget_moved_address(|_| false);
        assert_eq!(ns[2].me().ip, "10.1.2.3");
    }

    #[test]
    fn announced_ports_and_hostname_travel_in_the_header_and_clear_when_dropped() {
        let mut ns = three_primaries();
        ns[0].set_announce(Announce {
            port: 19999,
            bus_port: 29999,
            hostname: "node-a.test".into(),
            ..Announce::default()
        });
        assert_eq!(ns[0].me().addr_field(), "127.0.0.1:19999@29999,node-a.test");
        let h = ns[0].header();
        assert_eq!((h.ip.as_str(), h.port, h.cport), ("", 19999, 29999));
        assert_eq!(h.hostname, "node-a.test");
        let m = ns[0].build(Kind::Ping, &id('b'));
        ns[1].handle(m, inbound(), 4000);
        let a = &ns[1].nodes[&id('a')];
        assert_eq!(a.addr_field(), "127.0.0.1:19999@29999,node-a.test");
        // Back to the bound ports, no hostname.
        ns[0].set_announce(Announce::default());
        assert_eq!(ns[0].me().addr_field(), "127.0.0.1:7000@17000");
        let m = ns[0].build(Kind::Ping, &id('b'));
        ns[1].handle(m, inbound(), 4100);
        assert_eq!(ns[1].nodes[&id('a')].addr_field(), "127.0.0.1:7000@17000");
    }

    #[test]
    fn failure_reports_from_a_node_that_just_rejoined_do_not_count() {
        let mut ns = three_primaries();
        let mut now = 2000;
        // c is cut off long enough to be FAIL and to clear it when it answers.
        for _ in 0..40 {
            now += 100;
            pump(&mut ns, now, &[2]);
        }
        assert_eq!(ns[0].nodes[&id('c')].health, Health::Fail);
        // c's first frame after the heal still suspects a and b: it has not heard from
        // them yet. a, meanwhile, suspects b itself (say its thread was stalled).
        let m = ns[2].build(Kind::Ping, &id('a'));
        assert!(m
            .gossip
            .iter()
            .any(|g| g.id == id('b') && g.flags & nflags::PFAIL != 0));
        ns[0].nodes.get_mut(&id('b')).unwrap().health = Health::PFail;
        now += 10;
        ns[0].handle(m, inbound(), now);
        assert_eq!(ns[0].nodes[&id('c')].health, Health::Ok);
        ns[0].tick(now);
        assert_ne!(
            ns[0].nodes[&id('b')].health,
            Health::Fail,
            "a report from a node that just rejoined counted"
        );
    }

    #[test]
    fn a_late_tick_suspects_nobody_until_the_replies_are_read() {
        let mut ns = three_primaries();
        let now = 2000;
        pump(&mut ns, now, &[]);
        // a's thread stalls for 1.5 s: the peers' replies wait unread.
        let late = now + 1500;
        ns[0].tick(late);
        assert!(
            ns[0].nodes.values().all(|n| n.health == Health::Ok),
            "a late tick suspected its peers"
        );
        // The silence is real (nothing arrives): suspected after one more interval.
        let after_hold = late + ns[0].ping_interval() + 1;
        ns[0].tick(after_hold);
        for x in ['b', 'c'] {
            assert_eq!(ns[0].nodes[&id(x)].health, Health::PFail);
        }
    }

    #[test]
    fn an_unanswered_ping_alone_does_not_suspect_a_node_that_sends_data() {
        let mut ns = three_primaries();
        let now = 2000;
        pump(&mut ns, now, &[]);
        let b = ns[0].nodes.get_mut(&id('b')).unwrap();
        b.ping_sent = now - 1500;
        b.pong_received = now + 90;
        ns[0].tick(now + 100);
        assert_eq!(ns[0].nodes[&id('b')].health, Health::Ok);
    }

    #[test]
    fn a_link_that_delivers_nothing_is_reset_once() {
        let mut ns = three_primaries();
        let mut now = 2000;
        pump(&mut ns, now, &[]);
        let mut resets = Vec::new();
        for _ in 0..60 {
            now += 50;
            for a in ns[0].tick(now) {
                if let Action::ResetLink(id) = a {
                    resets.push((now, id));
                }
            }
        }
        let ids: Vec<&str> = resets.iter().map(|(_, i)| i.as_str()).collect();
        assert_eq!(ids.len(), 2, "{resets:?}");
        assert!(ids.contains(&id('b').as_str()) && ids.contains(&id('c').as_str()));
        // After half the node timeout, not much later.
        assert!(
            resets
                .iter()
                .all(|(t, _)| *t > 2000 + 500 && *t <= 2000 + 800),
            "{resets:?}"
        );
    }
}
