//! Replication: every write's effect goes, in the one order the keyspace lock gives, into a
//! stream with a single offset; replicas receive a snapshot and then that stream.
//!
//! - [`feed`] the primary side of the stream: offset, replication ids, backlog, attached
//!   replicas (held inside the keyspace, so appending happens under the same lock as the
//!   write and the order is exact).
//! - [`snapshot`] the versioned, checksummed snapshot stream format; [`sync`] producing it
//!   slot by slot without pausing the primary.
//! - [`backlog`] the ring buffer that makes partial resyncs possible.
//! - [`primary`] serving a replica's connection; [`replica`] the replica's link to its
//!   primary; [`effects`] encoding commands for the stream.
//! - [`rdb_load`] a full sync from a Redis primary (its RDB file, parsed as it arrives);
//!   [`rdb_sync`] a full sync for a Redis replica (an RDB file made at a point in time).
//! - [`failover`] a standalone primary's coordinated switch with one of its replicas
//!   (`FAILOVER`).

pub mod backlog;
pub mod effects;
pub mod failover;
pub mod feed;
pub mod primary;
pub mod rdb_load;
pub mod rdb_sync;
pub mod replica;
pub mod snapshot;
pub mod sync;

pub use feed::Feed;

/// The `REPLCONF capa` a slotcache replica announces: it takes a full sync in slotcache's
/// own snapshot format. A replica without it (redis-server) is sent an RDB file.
pub const SLOTCACHE_CAPA: &[u8] = b"slotcache";

use crate::state::Shared;
use feed::{Role, Upstream};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Follows a new primary (stopping any previous link), or becomes a primary (`None`),
/// logging why once.
pub fn follow(shared: &Shared, feed: &mut Feed, target: Option<(String, u16)>, why: &str) {
    if let Role::Replica(up) = &feed.role {
        up.stopped.store(true, Ordering::Relaxed);
        up.stop.notify_waiters();
    }
    // WAIT callers parked on this node return now: their replicas are changing.
    shared.repl_acks.notify_waiters();
    match target {
        None => {
            if feed.is_replica() {
                feed.promote();
                tracing::info!("MASTER MODE enabled ({why})");
                // As Redis's replicationUnsetMaster: our own replicas learn the new
                // replication id by reconnecting (and continue partially).
                feed.disconnect_replicas("this node became a primary");
            }
        }
        Some((host, port)) => {
            let up = Arc::new(Upstream::new(host.clone(), port));
            feed.role = Role::Replica(up.clone());
            tracing::info!("REPLICAOF {host}:{port} enabled ({why})");
            if let Some(shared) = shared.arc() {
                tokio::spawn(replica::run(shared, up));
            }
        }
    }
}
