//! Cluster mode: the network side of the cluster and what command handlers see of it.
//!
//! The state machine itself (membership, epochs, failure detection, elections, slot
//! ownership, the bus protocol, nodes.conf, the routing view) is the
//! `slotcache-cluster-state` crate, re-exported here under its module names so handlers
//! write `cluster::view`, `cluster::redirect`, ... as before. What stays in the server is what
//! needs sockets, threads or the server's shared state: [`bus`] the network side, on its own
//! thread and runtime so a saturated client workload cannot starve heartbeats; [`bus_auth`]
//! the bus's shared-secret handshake; [`links`] the bus connections held, for CLUSTER LINKS;
//! [`handle`] the lock command handlers take and the atomics they read without it;
//! [`handoff`] handing the primary role to a replica at shutdown; [`startup`] joining it
//! all up.

pub mod bus;
pub mod bus_auth;
pub mod handle;
pub mod handoff;
pub mod links;
pub mod startup;

pub use slotcache_cluster_state::{
    announce, events, message, node, nodes_conf, redirect, slots, state, view,
};

pub use handle::Cluster;
