//! Failure detection, elections and failover: failure reports and the write lease, a
//! replica's election (rank, delay, votes), manual failover and takeover, a primary's
//! replicas and replica migration, rejoining after a restart without data, and which
//! primary this node follows.

use super::*;

impl ClusterState {
    /// Switches to replicating `primary` and cancels any failover in progress.
    pub(super) fn become_replica_of(&mut self, primary: &str) {
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
    pub(super) fn follow_actions(&mut self) -> Vec<Action> {
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
    pub(super) fn follow_action(&mut self) -> Option<Action> {
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

    pub(super) fn rejoin_tick(&mut self, now: u64) -> Vec<Action> {
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
    pub(super) fn migration_tick(&mut self, now: u64) -> Vec<Action> {
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
    pub(super) fn my_primary(&self) -> Option<&Node> {
        self.me().primary_id().and_then(|p| self.nodes.get(p))
    }

    /// How many siblings (other replicas of my primary) are ahead of me: my place in line.
    pub(super) fn rank(&self) -> usize {
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
    pub(super) fn election_delay(&self, rank: usize) -> u64 {
        use rand::Rng;
        let base = (self.node_timeout / 20).max(10);
        base + rand::thread_rng().gen_range(0..=base)
            + rank as u64 * (self.node_timeout / 5).max(20)
    }

    /// Replica side of failover, run every tick.
    pub(super) fn failover_tick(&mut self, now: u64) -> Vec<Action> {
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

    pub(super) fn broadcast_to_primaries(&mut self, kind: Kind) -> Vec<Action> {
        self.send_to_each(kind, Node::is_primary)
    }

    /// Becomes the primary of `old_primary`'s slots with `epoch` as configEpoch.
    pub(super) fn promote(&mut self, old_primary: &str, epoch: u64, why: &str) -> Vec<Action> {
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
    pub(super) fn consider_vote(
        &mut self,
        h: &Header,
        epoch: u64,
        force: bool,
        now: u64,
    ) -> Vec<Action> {
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

    pub(super) fn update_majority(&mut self, now: u64) {
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

    /// Whether `id`'s failure reports count: a primary in good standing — not suspected by
    /// us, and not within a node timeout of our last suspicion (a node that just rejoined
    /// still gossips the suspicions its own isolation produced).
    pub(super) fn good_reporter(&self, id: &str, now: u64) -> bool {
        self.nodes.get(id).is_some_and(|n| {
            n.is_primary()
                && !n.handshake
                && n.health == Health::Ok
                && (n.ok_since == 0 || now.saturating_sub(n.ok_since) >= self.node_timeout)
        })
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
}
