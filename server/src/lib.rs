//! slotcache-server: a Redis-protocol cache server.
//!
//! Modules, from the wire inwards:
//! - [`server`] listeners and per-connection tasks; [`shutdown`] signals; [`supervise`]
//!   readiness and stopping notices to systemd or upstart;
//!   [`client_memory`] per-client buffer limits and client eviction; [`query_buffer`]
//!   the size rules of a connection's read buffer.
//! - [`protocol`] request parsing and reply encoding (knows nothing of commands).
//! - [`admission`] whether a command runs, queues, waits or is refused (Redis's order);
//!   [`dispatch`] execution of one command and the bookkeeping after it.
//! - [`commands`] the command table and one file per command family.
//! - [`dataset`] the databases with the replication feed, watches, blocked clients and
//!   eviction state behind the keyspace lock; [`keyspace`] the containers inside it (databases
//!   of per-slot tables, entries, value types), which know nothing above them; [`rdb`] Redis's value format
//!   (DUMP/RESTORE payloads and whole RDB files); [`persistence`] SAVE, BGSAVE and loading
//!   the snapshot at start; [`aof`] the append-only file (Redis 7.0's multi-part AOF).
//! - [`flow`] what a connection does after a command (the value commands hand back).
//! - [`config`] redis.conf parsing and the CONFIG registry; [`clients`] connected clients;
//!   [`session`] one connection's session; [`state`] what all of these share; [`util`] number formats; [`glob`] patterns.
//! - [`notify`] keyspace notifications, [`keyspace_events`] the flags that select them and the
//!   events each command sends.
//! - [`telemetry`] command statistics, slow log, latency monitor, MONITOR; [`pause`]
//!   CLIENT PAUSE; [`metrics`] the Prometheus endpoint over the same numbers.
//! - [`idle_spin`] the serving threads' short spin before sleeping while busy.
//! - [`jemalloc`] the allocator's statistics, report and purge (MEMORY).
//! - [`scripting`] the Lua VM, script cache and sandbox behind EVAL.

pub mod acl;
pub mod admission;
pub mod aof;
pub mod client_memory;
pub mod clients;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod dataset;
pub mod dispatch;
pub mod eviction;
pub mod flow;
#[doc(hidden)]
pub mod fuzzing;
pub mod glob;
pub mod idle_spin;
pub mod jemalloc;
pub mod keyspace;
pub mod keyspace_events;
pub mod logging;
pub mod metrics;
pub mod migration;
pub mod notify;
pub mod panics;
pub mod pause;
pub mod persistence;
pub mod pqsort;
pub mod protocol;
pub mod pubsub;
pub mod query_buffer;
pub mod rdb;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod session;
pub mod shutdown;
pub mod slot_loss;
pub mod state;
pub mod supervise;
pub mod telemetry;
pub mod tls;
pub mod tracking;
pub mod util;
