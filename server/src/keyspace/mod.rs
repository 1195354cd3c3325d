//! The containers that hold data: numbered databases of per-slot tables, the entries and
//! value types in them, and the pure functions over them (digests, DUMP's encoding, access
//! clocks, geohashes, HyperLogLogs).
//!
//! This layer knows nothing of replication, clients, configuration or the cluster (Valkey's
//! `kvstore.c` is the model): what wraps the databases with the replication feed, WATCH,
//! blocked clients, eviction and the lock is the `dataset` module above. Keeping it so lets the
//! dataset be split into shards that each own some slots' tables, and lets these
//! containers be tested alone.
//!
//! Module map: [`small`] compact byte strings, [`entry`] a key's record, [`slot`] key to slot,
//! [`db`] one database, [`digest`] DEBUG DIGEST as Redis computes it, [`clock`] access clocks,
//! [`field_expire`] hash-field expiry, [`serialize`] the DUMP/RESTORE value encoding,
//! [`cow`] copy-on-write snapshots of a database.

pub mod clock;
pub mod cow;
pub mod db;
pub mod digest;
pub mod entry;
pub mod field_expire;
pub mod geohash;
pub mod hll;
pub mod serialize;
/// Hash slots live in the shared wire crate: the CLI, the benchmarks and the tests compute
/// them too, and must agree with the server byte for byte.
pub use slotcache_proto::slot;
pub mod small;
pub mod types;

pub use db::{Db, KeyHasher, Ttl};
pub use entry::{Entry, Value};
pub use small::SmallBytes;
