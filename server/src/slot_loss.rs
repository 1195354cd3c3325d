//! Deleting the keys of slots another primary took from this one while it stays a primary
//! (Redis's "dirty slots"): after a partition or a manual SETSLOT elsewhere, the cluster's
//! newer config hands a slot to another node, and the keys this node still holds for it are
//! unreachable (clients get MOVED) but not gone. Kept, they would come back stale if the slot
//! ever returned here, and clients caching them (CLIENT TRACKING) would never hear that the
//! new owner changed them: deleting them sends the invalidations, and replicated DELs keep
//! the replicas equal.
//!
//! One exception (`cluster-databases`): a slot taken by the node this one was migrating it to,
//! while databases other than 0 still hold keys of it here, is a move that a tool moving
//! database 0 only (redis-cli --cluster) finished. Those keys are current, not stale: they
//! are kept and the slot stays marked migrating until they are handed over.

use crate::state::Shared;
use bytes::Bytes;
use tracing::{info, warn};

/// Keys deleted per hold of the keyspace lock: clients are served between batches.
const BATCH: usize = 1000;

/// Deletes every key of `slots` that this node does not own (again) by the time it gets to
/// the slot.
pub fn drop_lost_slots(shared: &Shared, slots: &[u16]) {
    let mut total = 0usize;
    for &slot in slots {
        // Each round deletes up to BATCH keys or stops; the bound covers keys written into
        // the slot meanwhile by a replication stream that still carries them.
        let (start, beyond_db0) = {
            let ks = shared.keyspace.lock();
            let beyond = (1..ks.dbs.len()).find(|&d| ks.dbs[d].slot_len(slot) > 0);
            (
                ks.dbs.iter().map(|d| d.slot_len(slot)).sum::<usize>(),
                beyond,
            )
        };
        if let Some(owner) = hold_for_handover(shared, slot, beyond_db0.is_some()) {
            warn!(
                slot,
                new_owner = %owner,
                "Slot {slot} went to {owner} while database {} still holds keys of it here (the move covered database 0 only): keys kept, slot marked migrating; `slotcache-cli cluster fix` hands them over",
                beyond_db0.unwrap_or_default()
            );
            continue;
        }
        for _ in 0..=(start / BATCH + 1) {
            if owns(shared, slot) {
                break;
            }
            let mut ks = shared.keyspace.lock();
            let mut deleted = 0;
            for db in 0..ks.dbs.len() {
                let keys: Vec<Bytes> = ks.dbs[db]
                    .slot_keys(slot, BATCH)
                    .into_iter()
                    .map(Bytes::from)
                    .collect();
                deleted += keys.len();
                crate::migration::delete_moved(&mut ks, db, &keys, &mut []);
            }
            total += deleted;
            if deleted == 0 {
                break;
            }
        }
    }
    if total > 0 {
        info!(
            keys = total,
            slots = slots.len(),
            "Deleted {total} keys of {} slots now owned by another node",
            slots.len()
        );
    }
}

/// See [`crate::cluster::state::ClusterState::hold_for_handover`]; publishes the marked
/// slot at once, so MIGRATE of its keys is served.
fn hold_for_handover(shared: &Shared, slot: u16, keys_beyond_db0: bool) -> Option<String> {
    let c = shared.cluster.get()?;
    let mut s = c.state.lock();
    let owner = s.hold_for_handover(slot, keys_beyond_db0)?;
    c.publish(&mut s);
    Some(owner)
}

fn owns(shared: &Shared, slot: u16) -> bool {
    shared.cluster.get().is_some_and(|c| {
        let s = c.state.lock();
        s.owners()
            .get(slot as usize)
            .and_then(|o| o.as_deref())
            .is_some_and(|o| o == s.myself())
    })
}
