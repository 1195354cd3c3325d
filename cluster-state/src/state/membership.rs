//! Membership and gossip: who is in the cluster, at which address, and what each frame
//! teaches. Handshakes (MEET, gossip), frame ordering per sender (stale frames), addresses
//! that follow the nodes, epochs and their collisions, FORGET and RESET, and building the
//! frames this node sends (headers, gossip sections, PUBLISH).

use super::*;

impl ClusterState {
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

    pub(super) fn gossip_for(&self, exclude: &str) -> Vec<Gossip> {
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
    pub(super) fn broadcast(&mut self, kind: Kind) -> Vec<Action> {
        self.send_to_each(kind, |_| true)
    }

    /// Messages to every known, confirmed node other than myself that `to` accepts.
    pub(super) fn send_to_each(&mut self, kind: Kind, to: impl Fn(&Node) -> bool) -> Vec<Action> {
        let ids: Vec<String> = self
            .nodes
            .values()
            .filter(|n| n.id != self.myself && !n.handshake && to(n))
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

    /// Whether a frame from a known sender is older than one already applied from it (see
    /// the module doc); records it as the newest otherwise.
    pub(super) fn frame_is_stale(&mut self, h: &Header) -> bool {
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
    pub(super) fn update_sender(
        &mut self,
        h: &Header,
        ip: &str,
        kind: &Kind,
        now: u64,
        stale: bool,
    ) {
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

    pub(super) fn epoch_collision(&mut self, h: &Header) {
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

    pub(super) fn process_gossip(&mut self, gossip: &[Gossip], sender: &str, now: u64) {
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
    pub(super) fn handshake_from_network(
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

    pub(super) fn is_banned(&self, id: &str, now: u64) -> bool {
        self.banned.get(id).is_some_and(|&until| until > now)
    }

    pub(super) fn start_handshake(&mut self, ip: String, port: u16, cport: u16, now: u64) {
        let tmp = slotcache_util::ids::random_hex_id();
        let mut n = Node::new(tmp.clone(), ip, port, cport, now);
        n.handshake = true;
        self.nodes.insert(tmp, n);
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
            n.id = slotcache_util::ids::random_hex_id();
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
