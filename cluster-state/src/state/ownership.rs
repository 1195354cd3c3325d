//! Slot ownership and migration: claims and their configEpochs (adopt, defend with UPDATE,
//! drop what a newer config took), ADDSLOTS/DELSLOTS, and SETSLOT's migrating, importing,
//! stable and node transitions.

use super::*;

impl ClusterState {
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
    pub(super) fn apply_claims(
        &mut self,
        sender: &str,
        epoch: u64,
        claimed: &SlotSet,
    ) -> Option<Kind> {
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

    pub(super) fn update_slots_from(&mut self, h: &Header) -> Option<Kind> {
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
}
