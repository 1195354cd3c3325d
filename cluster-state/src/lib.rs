//! The cluster as one node knows it, and the rules by which that knowledge changes.
//!
//! This crate is the cluster state machine and what it reads and writes, with no network,
//! no threads and no keyspace: [`state::ClusterState`] takes a message or a tick together
//! with `now` and returns [`state::Action`]s for the server to carry out (send a frame,
//! start replicating, drop the keys of a lost slot). Its own crate makes the compiler hold
//! that line: nothing here can reach the keyspace, the bus sockets or a command handler,
//! and the tests drive whole clusters of state machines in memory (see `state::tests`).
//!
//! - [`slots`]: slot sets; [`node`]: what we know of one member;
//! - [`message`]: the versioned bus protocol (frames, headers, gossip);
//! - [`state`]: the state machine, split by concern (membership and gossip, failure
//!   detection and elections, slot ownership and migration);
//! - [`view`]: the immutable snapshot command handlers route with, and CLUSTER NODES lines;
//!   [`redirect`]: the routing decision (MOVED, ASK, TRYAGAIN, CLUSTERDOWN) as a value;
//! - [`nodes_conf`]: the durable state (nodes.conf), read and written;
//! - [`announce`]: the address, ports and hostname a node announces;
//! - [`events`]: what the cluster did, counted and published for operators.
//!
//! The server's `cluster` module holds the other half: the bus (sockets, TLS, its own
//! thread and runtime), the shared handle command handlers lock, and startup.

pub mod announce;
pub mod events;
pub mod message;
pub mod node;
pub mod nodes_conf;
pub mod redirect;
pub mod slots;
pub mod state;
pub mod view;
