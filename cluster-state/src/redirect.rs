//! The routing decision for one command in cluster mode, as a value; rendering it as an
//! error reply is a separate step ([`Redirect::message`]).

use super::view::{View, NO_OWNER};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    /// The slot is served elsewhere.
    Moved(u16, String),
    /// The slot is moving out and this key is already at the target: ask there, once.
    Ask(u16, String),
    /// A multi-key command whose keys are split between source and target mid-move.
    TryAgain,
    /// Keys of one command hash to different slots.
    CrossSlot,
    /// The slot has no owner.
    Unbound,
    /// The cluster is down.
    Down,
    /// The cluster is down and this is a write (reads are allowed when down).
    DownReadOnly,
}

impl Redirect {
    /// The error reply, worded as Redis Cluster words it.
    pub fn message(&self) -> String {
        match self {
            Redirect::Moved(slot, addr) => format!("MOVED {slot} {addr}"),
            Redirect::Ask(slot, addr) => format!("ASK {slot} {addr}"),
            Redirect::TryAgain => "TRYAGAIN Multiple keys request during rehashing of slot".into(),
            Redirect::CrossSlot => "CROSSSLOT Keys in request don't hash to the same slot".into(),
            Redirect::Unbound => "CLUSTERDOWN Hash slot not served".into(),
            Redirect::Down => "CLUSTERDOWN The cluster is down".into(),
            Redirect::DownReadOnly => {
                "CLUSTERDOWN The cluster is down and only accepts read commands".into()
            }
        }
    }
}

/// What routing needs to know about the command besides its slots.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query {
    pub is_write: bool,
    pub allow_reads_when_down: bool,
    /// A READONLY connection reading, or sharded pub/sub: a replica may serve it.
    pub replica_read: bool,
    /// The client sent ASKING (or the command implies it, like RESTORE-ASKING).
    pub asking: bool,
    /// MIGRATE is always served by the node holding the keys, even mid-move.
    pub is_migrate: bool,
    /// The command names more than one distinct key.
    pub multi_key: bool,
    /// Sharded pub/sub (SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH), routed by its channels.
    pub pubsub_shard: bool,
    /// `cluster-allow-pubsubshard-when-down`: sharded pub/sub is served while the cluster
    /// is down.
    pub allow_pubsubshard_when_down: bool,
}

/// Decides where a command with keys in `slots` must go. `None`: serve it here. The checks
/// run in Redis's order: unbound first slot, cross-slot, cluster down, slot moves, then
/// ownership. `presence` counts (existing, missing) keys here; it is only called for a slot
/// that is moving, where the answer depends on which side holds the keys.
pub fn route(
    view: &View,
    slots: impl IntoIterator<Item = u16>,
    q: Query,
    presence: &mut dyn FnMut() -> (usize, usize),
) -> Option<Redirect> {
    let mut first: Option<u16> = None;
    for s in slots {
        match first {
            None => {
                if view.owners[s as usize] == NO_OWNER && !view.importing.contains(&s) {
                    return Some(Redirect::Unbound);
                }
                first = Some(s);
            }
            Some(f) if f != s => return Some(Redirect::CrossSlot),
            Some(_) => {}
        }
    }
    let slot = first?;
    if !view.ok {
        if q.pubsub_shard {
            if !q.allow_pubsubshard_when_down {
                return Some(Redirect::Down);
            }
        } else if !q.allow_reads_when_down {
            return Some(Redirect::Down);
        } else if q.is_write {
            return Some(Redirect::DownReadOnly);
        }
    }
    let owner = view.owners[slot as usize];
    let migrating_to = if owner == view.me && owner != NO_OWNER {
        view.migrating.get(&slot)
    } else {
        None
    };
    let importing = owner != view.me && view.importing.contains(&slot);
    // A slot taken while other databases still held keys of it here, kept marked for the
    // handover (see crate::slot_loss).
    let handing_over = owner != view.me && view.migrating.contains_key(&slot);
    // MIGRATE works on whatever this node holds of an open slot, on either side (that is
    // how `redis-cli --cluster fix` moves stray keys back to the owner).
    if (migrating_to.is_some() || importing || handing_over) && q.is_migrate {
        return None;
    }
    if let Some(addr) = migrating_to {
        let (existing, missing) = presence();
        if missing == 0 {
            return None;
        }
        return Some(if existing > 0 {
            Redirect::TryAgain
        } else {
            Redirect::Ask(slot, addr.clone())
        });
    }
    if importing && q.asking {
        let (_, missing) = presence();
        if q.multi_key && missing > 0 {
            return Some(Redirect::TryAgain);
        }
        return None;
    }
    // A replica serves reads of its primary's slots to READONLY connections.
    if q.replica_read && owner != NO_OWNER && owner == view.my_primary {
        return None;
    }
    if owner != view.me {
        if owner == NO_OWNER {
            return Some(Redirect::Unbound);
        }
        let addr = view.addrs.get(owner as usize).cloned().unwrap_or_default();
        return Some(Redirect::Moved(slot, addr));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(is_write: bool, allow_reads_when_down: bool) -> Query {
        Query {
            is_write,
            allow_reads_when_down,
            ..Query::default()
        }
    }

    fn none() -> impl FnMut() -> (usize, usize) {
        || (0, 0)
    }

    #[test]
    fn routes_in_redis_order() {
        let mut v = View::empty();
        v.addrs = vec!["127.0.0.1:7000".into(), "127.0.0.1:7001".into()];
        v.me = 0;
        v.ok = true;
        v.owners[1] = 0;
        v.owners[2] = 1;
        assert_eq!(route(&v, [1, 1], q(true, false), &mut none()), None);
        assert_eq!(
            route(&v, [2], q(false, false), &mut none()),
            Some(Redirect::Moved(2, "127.0.0.1:7001".into()))
        );
        assert_eq!(
            route(&v, [1, 2], q(false, false), &mut none()),
            Some(Redirect::CrossSlot)
        );
        assert_eq!(
            route(&v, [3, 1], q(false, false), &mut none()),
            Some(Redirect::Unbound)
        );
        v.ok = false;
        assert_eq!(
            route(&v, [1], q(false, false), &mut none()),
            Some(Redirect::Down)
        );
        assert_eq!(route(&v, [1], q(false, true), &mut none()), None);
        assert_eq!(
            route(&v, [1], q(true, true), &mut none()),
            Some(Redirect::DownReadOnly)
        );
        assert_eq!(route(&v, [], q(true, false), &mut none()), None);
    }

    #[test]
    fn a_moving_slot_asks_for_missing_keys_and_refuses_split_multi_key_commands() {
        let mut v = View::empty();
        v.addrs = vec!["127.0.0.1:7000".into(), "127.0.0.1:7001".into()];
        v.ok = true;
        v.owners[5] = 0;
        // Source side.
        v.me = 0;
        v.migrating.insert(5, "127.0.0.1:7001".into());
        let mut present = || (1, 0);
        assert_eq!(route(&v, [5], q(true, false), &mut present), None);
        let mut gone = || (0, 1);
        assert_eq!(
            route(&v, [5], q(true, false), &mut gone),
            Some(Redirect::Ask(5, "127.0.0.1:7001".into()))
        );
        let mut split = || (1, 1);
        let multi = Query {
            multi_key: true,
            ..q(false, false)
        };
        assert_eq!(
            route(&v, [5, 5], multi, &mut split),
            Some(Redirect::TryAgain)
        );
        let migrate = Query {
            is_migrate: true,
            ..q(true, false)
        };
        assert_eq!(route(&v, [5], migrate, &mut gone), None);
        // A slot already taken by its new owner, still marked for handing over the keys
        // other databases hold here: MIGRATE is served, anything else goes to the owner.
        v.owners[5] = 1;
        assert_eq!(route(&v, [5], migrate, &mut present), None);
        assert_eq!(
            route(&v, [5], q(false, false), &mut present),
            Some(Redirect::Moved(5, "127.0.0.1:7001".into()))
        );
        v.owners[5] = 0;
        // Target side: only after ASKING.
        v.me = 1;
        v.migrating.clear();
        v.importing.insert(5);
        assert_eq!(
            route(&v, [5], q(true, false), &mut gone),
            Some(Redirect::Moved(5, "127.0.0.1:7000".into()))
        );
        let asking = Query {
            asking: true,
            ..q(true, false)
        };
        assert_eq!(route(&v, [5], asking, &mut gone), None);
        let asking_multi = Query {
            multi_key: true,
            ..asking
        };
        assert_eq!(
            route(&v, [5, 5], asking_multi, &mut split),
            Some(Redirect::TryAgain)
        );
        assert_eq!(route(&v, [5, 5], asking_multi, &mut present), None);
    }

    #[test]
    fn sharded_pubsub_is_served_by_replicas_and_while_the_cluster_is_down() {
        let mut v = View::empty();
        v.addrs = vec!["127.0.0.1:7000".into(), "127.0.0.1:7001".into()];
        v.me = 1;
        v.my_primary = 0;
        v.ok = true;
        v.owners[1] = 0;
        let shard = Query {
            pubsub_shard: true,
            replica_read: true,
            allow_pubsubshard_when_down: true,
            ..q(false, false)
        };
        assert_eq!(route(&v, [1], shard, &mut none()), None);
        v.ok = false;
        assert_eq!(route(&v, [1], shard, &mut none()), None);
        let refused = Query {
            allow_pubsubshard_when_down: false,
            ..shard
        };
        assert_eq!(route(&v, [1], refused, &mut none()), Some(Redirect::Down));
        // An unbound slot is refused first, whatever the setting.
        assert_eq!(route(&v, [2], shard, &mut none()), Some(Redirect::Unbound));
    }
}
