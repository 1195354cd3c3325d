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

pub mod backlog;
pub mod effects;
pub mod feed;
pub mod primary;
pub mod replica;
pub mod snapshot;
pub mod sync;

pub use feed::Feed;
