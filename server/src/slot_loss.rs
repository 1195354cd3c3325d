//! Deleting the keys of slots another primary took from this one while it stays a primary
//! (Redis's "dirty slots"): after a partition or a manual SETSLOT elsewhere, the cluster's
//! newer config hands a slot to another node, and the keys this node still holds for it are
//! unreachable (clients get MOVED) but not gone. Kept, they would come back stale if the slot
//! ever returned here, and clients caching them (CLIENT TRACKING) would never hear that the
//! new owner changed them: deleting them sends the invalidations, and replicated DELs keep
//! the replicas equal.

use crate::state::Shared;
use bytes::Bytes;
use tracing::info;

/// Keys deleted per hold of the keyspace lock: clients are served between batches.
const BATCH: usize = 1000;

/// Deletes every key of `slots` that this node does not own (again) by the time it gets to
/// the slot.
pub fn drop_lost_slots(shared: &Shared, slots: &[u16]) {
    let mut total = 0usize;
    for &slot in slots {
        // Each round deletes up to BATCH keys or stops; the bound covers keys written into
        // the slot meanwhile by a replication stream that still carries them.
        let start = {
            let ks = shared.keyspace.lock();
            ks.dbs.iter().map(|d| d.slot_len(slot)).sum::<usize>()
        };
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

fn owns(shared: &Shared, slot: u16) -> bool {
    shared.cluster.get().is_some_and(|c| {
        let s = c.state.lock();
        s.owners()
            .get(slot as usize)
            .and_then(|o| o.as_deref())
            .is_some_and(|o| o == s.myself())
    })
}
