//! Cluster mode: slot ownership, the cluster bus, and what command handlers see of them.
//!
//! - [`slots`] slot sets; [`node`] what we know of one member; [`message`] the versioned bus
//!   protocol; [`state`] the synchronous state machine (membership, epochs, failure
//!   detection); [`nodes_conf`] durable state; [`bus`] the network side, on its own thread and
//!   runtime so a saturated client workload cannot starve heartbeats; [`view`] the immutable
//!   snapshot command handlers route with; [`redirect`] the routing decision; [`links`] the
//!   bus connections held, for CLUSTER LINKS; [`announce`] the address, ports and hostname a
//!   node announces and which of them clients are sent to; [`events`] what the cluster did,
//!   counted and published for operators.

pub mod announce;
pub mod bus;
pub mod bus_auth;
pub mod events;
pub mod handle;
pub mod handoff;
pub mod links;
pub mod message;
pub mod node;
pub mod nodes_conf;
pub mod redirect;
pub mod slots;
pub mod startup;
pub mod state;
pub mod view;

pub use handle::Cluster;
