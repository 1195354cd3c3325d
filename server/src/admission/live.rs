//! The running node as admission sees it: cluster routing over the published view, the
//! keyspace's memory and keys in flight, replication role, pauses.

use super::{Call, Node, Role};
use crate::cluster::redirect::{self, Query, Redirect};
use crate::commands::table::{facts, flags};
use crate::config::Settings;
use crate::dataset::Keyspace;
use crate::session::Conn;
use crate::state::Shared;
use bytes::Bytes;
use std::sync::atomic::Ordering;

/// The node a connection's command is admitted against, under the keyspace lock.
pub struct Live<'a> {
    pub shared: &'a Shared,
    pub ks: &'a mut Keyspace,
    pub settings: &'a Settings,
}

impl Node for Live<'_> {
    fn route(
        &mut self,
        call: &Call,
        conn: &Conn,
        queued: Option<&[Vec<Bytes>]>,
    ) -> Option<Redirect> {
        let cluster = self.shared.cluster.get()?;
        match queued {
            Some(cmds) => route_transaction(cluster, self.ks, conn, cmds),
            None => route(cluster, self.ks, call, conn),
        }
    }

    fn out_of_memory(&mut self) -> bool {
        crate::eviction::still_over(self.shared, self.ks, self.settings)
    }

    fn role(&self) -> Role {
        match &self.ks.repl.role {
            crate::replication::feed::Role::Replica(up) => Role::Replica {
                link_up: up.link_up.load(Ordering::Relaxed),
            },
            crate::replication::feed::Role::Primary => Role::Primary,
        }
    }

    fn good_replicas(&self, settings: &Settings) -> usize {
        let lag_ms = settings.min_replicas_max_lag * 1000;
        let now = slotcache_util::clock::mono_ms();
        self.ks
            .repl
            .replicas()
            .filter(|r| r.online.load(Ordering::Relaxed))
            .filter(|r| now.saturating_sub(r.last_ack_ms.load(Ordering::Relaxed)) <= lag_ms)
            .count()
    }

    fn paused(&self, writes: bool) -> bool {
        self.shared.pause.holds(writes)
    }

    fn disk_error(&self) -> bool {
        self.shared.persistence.refuses_writes(self.settings)
    }

    fn keys_moving(&self, call: &Call, conn: &Conn) -> Option<u64> {
        if self.ks.in_flight.is_empty() {
            return None;
        }
        let touches = |c: &Call| {
            let write = c.spec.has(flags::WRITE);
            c.key_args().any(|k| {
                self.ks
                    .in_flight
                    .get(conn.db, k)
                    .is_some_and(|taken| write || taken)
            })
        };
        let moving = if call.spec.is(facts::EXEC) {
            conn.multi.as_ref().is_some_and(|m| {
                m.queued
                    .iter()
                    .any(|q| super::spec_of(q).is_some_and(|s| touches(&Call::new(s, q))))
            })
        } else {
            touches(call)
        };
        moving.then(|| self.shared.moves_done.load(Ordering::SeqCst))
    }
}

/// Where a command's keys (or sharded pub/sub's channels) live decides whether it runs here.
fn route(
    cluster: &crate::cluster::Cluster,
    ks: &Keyspace,
    call: &Call,
    conn: &Conn,
) -> Option<Redirect> {
    let spec = call.spec;
    let args = call.args;
    let mut positions = call.keys();
    let channel_positions;
    let channels = positions.is_empty();
    if channels {
        // Sharded pub/sub routes by its channels.
        channel_positions = spec.channel_positions(args);
        positions = &channel_positions;
    }
    if positions.is_empty() {
        return None;
    }
    let keys: Vec<&[u8]> = positions
        .iter()
        .filter_map(|&i| args.get(i))
        .map(|k| k.as_ref())
        .collect();
    let view = cluster.view();
    let write = spec.has(flags::WRITE);
    let mut q = query(
        cluster,
        conn,
        write,
        spec.has(flags::ASKING),
        spec.is(facts::MOVES_KEYS),
        &keys,
    );
    // A replica serves sharded pub/sub for its primary's slots without READONLY (as
    // Redis 7.0): SPUBLISH reaches it over the bus (see `ClusterState::publish_shard`).
    q.replica_read |= channels && !write;
    q.pubsub_shard = channels;
    let mut served_by_me = false;
    let slots = keys.iter().map(|k| {
        let s = crate::keyspace::slot::key_slot(k);
        served_by_me |= view.owners[s as usize] == view.me;
        s
    });
    let mut presence = || {
        if channels {
            return (keys.len(), 0);
        }
        key_presence(ks, conn.db, &keys)
    };
    if let Some(r) = redirect::route(&view, slots, q, &mut presence) {
        return Some(r);
    }
    // Fencing: a primary that lost touch with the majority stops serving its slots before
    // a replacement can exist (sharded pub/sub, which stores nothing, follows its own
    // when-down setting).
    let allowed_down = if q.pubsub_shard {
        q.allow_pubsubshard_when_down
    } else {
        !write && q.allow_reads_when_down
    };
    if served_by_me && !cluster.lease_ok() && !allowed_down {
        return Some(Redirect::Down);
    }
    None
}

/// Where a whole transaction must go: one slot, served here (EXEC, as Redis routes it by
/// the commands it queued).
fn route_transaction(
    cluster: &crate::cluster::Cluster,
    ks: &Keyspace,
    conn: &Conn,
    cmds: &[Vec<Bytes>],
) -> Option<Redirect> {
    let mut keys: Vec<&[u8]> = Vec::new();
    let mut write = false;
    for args in cmds {
        let Some(spec) = super::spec_of(args) else {
            continue;
        };
        write |= spec.has(flags::WRITE);
        keys.extend(Call::new(spec, args).key_args().map(|k| k.as_ref()));
    }
    if keys.is_empty() {
        return None;
    }
    let view = cluster.view();
    let q = query(cluster, conn, write, false, false, &keys);
    let slots = keys.iter().map(|k| crate::keyspace::slot::key_slot(k));
    redirect::route(&view, slots, q, &mut || key_presence(ks, conn.db, &keys))
}

/// What routing needs to know about a command (or a transaction) besides its slots.
fn query(
    cluster: &crate::cluster::Cluster,
    conn: &Conn,
    write: bool,
    implies_asking: bool,
    is_migrate: bool,
    keys: &[&[u8]],
) -> Query {
    Query {
        is_write: write,
        allow_reads_when_down: cluster.allow_reads_when_down.load(Ordering::Relaxed),
        replica_read: conn.readonly && !write,
        asking: conn.asking || implies_asking,
        is_migrate,
        multi_key: keys.iter().any(|k| *k != keys[0]),
        pubsub_shard: false,
        allow_pubsubshard_when_down: cluster.allow_pubsubshard_when_down.load(Ordering::Relaxed),
    }
}

/// How many of `keys` this node holds (live) in the client's database `db`, and how many it
/// does not: what decides, for a slot that is moving, which side serves them.
fn key_presence(ks: &Keyspace, db_index: usize, keys: &[&[u8]]) -> (usize, usize) {
    let now = crate::util::now_ms();
    let db_index = db_index.min(ks.dbs.len() - 1);
    let db = &ks.dbs[db_index];
    // A big key MIGRATE took out of the table to serialize is still here until the target
    // confirms it: a command on it waits for the move (`keys_moving`) rather than being
    // sent to the importing node with ASK, where a write would create a second copy (and
    // the move then fail with BUSYKEY).
    let existing = keys
        .iter()
        .filter(|k| db.peek_ref(k, now).is_some() || ks.in_flight.get(db_index, k).is_some())
        .count();
    (existing, keys.len() - existing)
}
