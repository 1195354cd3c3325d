//! The cluster state machine: membership, slot ownership, epochs and failure detection.
//!
//! [`ClusterState`] and the two entry points the bus drives, [`ClusterState::handle`] (a
//! frame) and [`ClusterState::tick`] (time passing), live here; the rules are split by
//! concern into [`membership`] (handshakes, gossip, addresses, epochs), [`failure`] (failure
//! detection, the write lease, elections, manual failover, replica migration) and
//! [`ownership`] (slot claims and migration). Fields are private: the server reads the
//! state through methods and changes it only through calls that return [`Action`]s.
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

mod failure;
mod membership;
mod ownership;

use super::announce::{Announce, Endpoint};
use super::events::Kind as EventKind;
use super::message::{self, nflags, Gossip, Header, Kind, Message};
use super::node::{Health, Node, Role};
use super::slots::SlotSet;
use rand::seq::SliceRandom;
use slotcache_proto::slot::SLOTS;
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
    pub(crate) myself: String,
    pub(crate) nodes: BTreeMap<String, Node>,
    /// Slot -> owning primary's id.
    pub(crate) owners: Vec<Option<String>>,
    pub(crate) current_epoch: u64,
    pub(crate) last_vote_epoch: u64,
    pub(crate) node_timeout: u64,
    pub(crate) require_full_coverage: bool,
    /// What this node announces (`cluster-announce-*`); an announced ip is never replaced
    /// by the address peers see.
    pub(crate) announce: Announce,
    /// The client and bus ports this process bound: announced unless `announce` names
    /// others.
    pub(crate) listen: (u16, u16),
    /// `cluster-preferred-endpoint-type`: which of a node's names this node gives clients.
    pub(crate) endpoint: Endpoint,
    pub(crate) ok: bool,
    /// Forgotten node id -> monotonic ms until which gossip may not re-add it.
    pub(crate) banned: HashMap<String, u64>,
    /// Durable state changed: nodes.conf must be written.
    pub(crate) needs_save: bool,
    pub(crate) stats: MsgStats,
    /// Events counted and queued for the events channel (see [`super::events`]).
    pub(crate) events: super::events::Journal,
    /// Whether this node, as a slot-owning primary, held its write lease at the last tick
    /// (a lost lease is an event once, not at every tick).
    pub(crate) lease_held: bool,
    pub(crate) election: Option<Election>,
    /// Primary id -> monotonic ms we last voted for one of its replicas.
    pub(crate) voted_for: HashMap<String, u64>,
    /// No election before this instant (after a failed one).
    pub(crate) next_election_after: u64,
    /// Replica side of a manual failover.
    pub(crate) manual: Option<ManualFailover>,
    /// Primary side: writes are paused until this monotonic instant (manual failover).
    pub(crate) paused_until: u64,
    pub(crate) replica_no_failover: bool,
    /// Monotonic ms of the latest moment a majority of slot-owning primaries (myself
    /// included) was heard from; the write lease runs from it.
    pub(crate) majority_at: u64,
    /// A node to start replicating from, decided while processing a message.
    pub(crate) follow: Option<String>,
    /// Slots taken from us while we stay a primary, whose keys are to be deleted.
    pub(crate) lost: Vec<u16>,
    /// Restarted without data (or from a snapshot) while nodes.conf says we own slots and
    /// have replicas: serve nothing and ask a replica to take over, until this monotonic
    /// deadline.
    pub(crate) rejoin_until: Option<u64>,
    /// Restarted from a snapshot taken at this replication offset: only a replica past it
    /// (holding writes the snapshot missed) is asked to take over. `None`: any replica.
    pub(crate) rejoin_above: Option<u64>,
    pub(crate) last_takeover_ask: u64,
    /// `cluster-migration-barrier`: replicas a primary keeps before giving one away.
    pub(crate) migration_barrier: usize,
    /// `cluster-replica-validity-factor` (0: always stand for election).
    pub(crate) validity_factor: u64,
    /// `repl-ping-replica-period` in ms (part of the validity window).
    pub(crate) repl_ping_period_ms: u64,
    /// Since when (monotonic ms) some primary has had no working replica.
    pub(crate) orphan_since: Option<u64>,
    /// Slots of mine being moved out: slot -> target node id (CLUSTER SETSLOT MIGRATING).
    pub(crate) migrating: BTreeMap<u16, String>,
    /// Slots being moved in: slot -> source node id (CLUSTER SETSLOT IMPORTING).
    pub(crate) importing: BTreeMap<u16, String>,
    /// Slots taken from me by the node I was migrating them to, until the keys they leave
    /// are dealt with (see [`ClusterState::hold_for_handover`]): slot -> that node.
    handover: BTreeMap<u16, String>,
    /// Slots still bound to a primary that no longer claims them (see the module doc): any
    /// claim takes them, whatever its configEpoch, and no UPDATE defends them.
    pub(crate) not_claimed: SlotSet,
    /// This process's incarnation (random, never 0) and the frames built so far: every
    /// header carries both so receivers can tell stale frames (see the module doc).
    pub(crate) boot: u64,
    pub(crate) seq: u64,
    /// When `tick` last ran, and until when it suspects nobody after a late tick.
    pub(crate) last_tick: u64,
    pub(crate) pfail_hold_until: u64,
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

/// What the server reads and sets directly. Everything else changes only through the
/// methods that take a frame, a tick or an administrator's request and return [`Action`]s.
impl ClusterState {
    pub fn myself(&self) -> &str {
        &self.myself
    }
    /// Every node known, handshakes included, by id.
    pub fn nodes(&self) -> &BTreeMap<String, Node> {
        &self.nodes
    }
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.get(id)
    }
    /// Slot -> the id of its primary (as this node believes).
    pub fn owners(&self) -> &[Option<String>] {
        &self.owners
    }
    pub fn current_epoch(&self) -> u64 {
        self.current_epoch
    }
    /// `cluster_state:ok`, as of the last [`ClusterState::update_state`].
    pub fn is_ok(&self) -> bool {
        self.ok
    }
    pub fn node_timeout(&self) -> u64 {
        self.node_timeout
    }
    pub fn endpoint(&self) -> Endpoint {
        self.endpoint
    }
    pub fn stats(&self) -> &MsgStats {
        &self.stats
    }
    /// Monotonic ms when a majority of slot-owning primaries was last heard from.
    pub fn majority_at(&self) -> u64 {
        self.majority_at
    }
    /// Monotonic ms until which writes are paused for a manual failover (0: none).
    pub fn paused_until(&self) -> u64 {
        self.paused_until
    }
    /// Whether the node is rejoining without its data (serving nothing, see `rejoin_tick`).
    pub fn rejoining(&self) -> bool {
        self.rejoin_until.is_some()
    }
    /// The event journal: its counters, for metrics.
    pub fn events(&self) -> &super::events::Journal {
        &self.events
    }
    /// The event journal the bus drains and publishes.
    pub fn events_mut(&mut self) -> &mut super::events::Journal {
        &mut self.events
    }
    /// Whether durable state changed since nodes.conf was last written.
    pub fn needs_save(&self) -> bool {
        self.needs_save
    }
    /// [`ClusterState::needs_save`], clearing it: the caller writes nodes.conf now.
    pub fn take_needs_save(&mut self) -> bool {
        std::mem::take(&mut self.needs_save)
    }
    /// Something the server changed (an address, an announced port) must reach nodes.conf.
    pub fn mark_needs_save(&mut self) {
        self.needs_save = true;
    }
    /// Pauses writes until `until` (monotonic ms): a primary handing over at shutdown.
    pub fn pause_writes_until(&mut self, until: u64) {
        self.paused_until = until;
    }

    // The configuration parameters, set at start and by CONFIG SET.
    pub fn set_node_timeout(&mut self, ms: u64) {
        self.node_timeout = ms;
    }
    pub fn set_require_full_coverage(&mut self, on: bool) {
        self.require_full_coverage = on;
    }
    pub fn set_replica_no_failover(&mut self, on: bool) {
        self.replica_no_failover = on;
    }
    pub fn set_validity_factor(&mut self, factor: u64) {
        self.validity_factor = factor;
    }
    pub fn set_migration_barrier(&mut self, replicas: usize) {
        self.migration_barrier = replicas;
    }
    pub fn set_repl_ping_period_ms(&mut self, ms: u64) {
        self.repl_ping_period_ms = ms;
    }
    pub fn set_endpoint(&mut self, endpoint: Endpoint) {
        self.endpoint = endpoint;
    }
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
mod tests;
