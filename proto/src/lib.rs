//! What every part of slotcache must say on the wire the same way.
//!
//! The server, `slotcache-cli`, the benchmarks and the end-to-end tests all compute a key's
//! hash slot, write RESP commands, read replies and parse `CLUSTER NODES`. Each used to carry
//! its own copy, and copies drift: a parser that skips the open-slot entries in one place
//! and errors on them in another. This crate is the one copy. It sits at the bottom of the
//! workspace: it depends on no other slotcache crate, and nothing in it knows about the
//! keyspace, the cluster state or the network (everything here is a pure function or reads
//! from a caller's buffer).
//!
//! - [`slot`]: CRC16 hash slots with Redis Cluster's hash-tag rule.
//! - [`command`]: RESP encoding of a command (an array of bulk strings).
//! - [`reply`]: a RESP2/RESP3 reply reader that keeps every wire type apart.
//! - [`nodes`]: one record per `CLUSTER NODES` line.
//!
//! The server's request parser (incremental, with limits for hostile clients) and its
//! reply writer stay in the server: they are its hot path and are shaped by its buffers.

pub mod command;
pub mod nodes;
pub mod reply;
pub mod slot;
