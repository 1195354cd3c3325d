//! Cluster mode: slot ownership, the cluster bus, and what command handlers see of them.
//!
//! - [`slots`] slot sets; [`node`] what we know of one member; [`message`] the versioned bus
//!   protocol; [`state`] the synchronous state machine (membership, epochs, failure
//!   detection); [`nodes_conf`] durable state; [`bus`] the network side, on its own thread and
//!   runtime so a saturated client workload cannot starve heartbeats; [`view`] the immutable
//!   snapshot command handlers route with; [`redirect`] the routing decision.

pub mod message;
pub mod node;
pub mod slots;
pub mod state;
pub mod nodes_conf;
pub mod redirect;
pub mod view;
pub mod bus;
pub mod handle;
pub mod startup;

pub use handle::Cluster;
